//! The sessions open now, for the admin console's `SHOW CLIENTS`. Bounded by the proxy's
//! connection limit: an entry exists only while its session runs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use crate::event::SessionInfo;

/// One open client session.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub conn_id: u64,
    pub peer: SocketAddr,
    pub session: SessionInfo,
    pub connected_at: SystemTime,
}

/// Open sessions by connection id.
#[derive(Debug, Default)]
pub struct ClientRegistry {
    clients: Mutex<HashMap<u64, ClientInfo>>,
}

impl ClientRegistry {
    pub fn insert(&self, info: ClientInfo) {
        self.lock().insert(info.conn_id, info);
    }

    pub fn remove(&self, conn_id: u64) {
        self.lock().remove(&conn_id);
    }

    /// A copy of every open session, oldest connection first.
    pub fn list(&self) -> Vec<ClientInfo> {
        let mut all: Vec<ClientInfo> = self.lock().values().cloned().collect();
        all.sort_by_key(|c| c.conn_id);
        all
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, ClientInfo>> {
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
