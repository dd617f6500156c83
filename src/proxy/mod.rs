//! The proxy: accepts clients (bounded), runs each through the handshake on the tokio runtime,
//! then hands its two sockets to a relay thread (`relay`: `mio` event loops), and drains on
//! shutdown.
//!
//! One upstream connection per client. Nothing here knows about patterns or findings: the
//! relay threads hand statement events to the [`EventSender`] in batches and move on.

mod clients;
mod handshake;
mod relay;
mod session;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::event::EventSender;
use crate::wire;
use relay::RelayPool;

pub use clients::{ClientInfo, ClientRegistry};
pub use handshake::{ADMIN_DATABASE, HandshakeError};
pub use session::SessionError;

/// Counters the data path keeps for metrics, updated with relaxed atomics.
#[derive(Debug, Default)]
pub struct ProxyCounters {
    pub clients_current: AtomicU64,
    pub clients_total: AtomicU64,
    pub clients_refused: AtomicU64,
    pub bytes_from_clients: AtomicU64,
    pub bytes_from_server: AtomicU64,
    pub protocol_errors: AtomicU64,
    pub upstream_connect_errors: AtomicU64,
    pub cancels_forwarded: AtomicU64,
    pub cancels_on_disconnect: AtomicU64,
    pub sessions_untracked: AtomicU64,
}

/// Serves a client that asked for the admin console's database. The proxy only routes the
/// socket there; the console itself lives elsewhere ([`crate::admin`]).
#[async_trait::async_trait]
pub trait AdminConsole: Send + Sync {
    /// Takes over the socket, whose StartupMessage is still unread.
    async fn serve(&self, socket: TcpStream);
}

/// What every session shares.
pub struct ProxyContext {
    pub config: Arc<Config>,
    pub counters: Arc<ProxyCounters>,
    pub clients: Arc<ClientRegistry>,
    pub admin: Option<Arc<dyn AdminConsole>>,
    relays: RelayPool,
    next_conn_id: AtomicU64,
}

impl ProxyContext {
    /// Starts the relay threads (`config.relay_threads`) too.
    pub fn new(config: Arc<Config>, events: EventSender) -> std::io::Result<Self> {
        let counters = Arc::new(ProxyCounters::default());
        let relays = RelayPool::start(config.relay_threads(), &events, &counters)?;
        Ok(ProxyContext {
            config,
            counters,
            clients: Arc::new(ClientRegistry::default()),
            admin: None,
            relays,
            next_conn_id: AtomicU64::new(1),
        })
    }
}

impl std::fmt::Debug for ProxyContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyContext").field("upstream", &self.config.upstream).finish()
    }
}

/// Accepts clients until `shutdown` turns true, then gives open sessions
/// `config.shutdown_grace` to finish.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<ProxyContext>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let limit = ctx.config.max_client_connections;
    let slots = Arc::new(Semaphore::new(limit));
    info!(listen = %listener.local_addr()?, upstream = %ctx.config.upstream, "proxy listening");
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => admit(socket, peer, &ctx, &slots),
                Err(e) => warn!(error = %e, "accept failed"),
            },
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(ctx.config.shutdown_grace, slots.acquire_many(limit as u32));
    if drained.await.is_err() {
        info!("shutdown grace period over; closing remaining sessions");
    }
    let relays = ctx.clone();
    let _ = tokio::task::spawn_blocking(move || relays.relays.stop()).await;
    Ok(())
}

/// Starts a session for the client, or refuses it when every slot is taken.
fn admit(socket: TcpStream, peer: SocketAddr, ctx: &Arc<ProxyContext>, slots: &Arc<Semaphore>) {
    let conn_id = ctx.next_conn_id.fetch_add(1, Ordering::Relaxed);
    let ctx = ctx.clone();
    let Ok(permit) = slots.clone().try_acquire_owned() else {
        ctx.counters.clients_refused.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(refuse(socket));
        return;
    };
    // No tracing span around the session: entering one on every poll cost ~0.3 µs per
    // transaction (docs/benchmarks.md). The few session log lines carry conn_id themselves.
    tokio::spawn(async move {
        ctx.counters.clients_total.fetch_add(1, Ordering::Relaxed);
        ctx.counters.clients_current.fetch_add(1, Ordering::Relaxed);
        handle_client(socket, peer, conn_id, &ctx).await;
        ctx.counters.clients_current.fetch_sub(1, Ordering::Relaxed);
        drop(permit);
    });
}

async fn serve_admin(mut client: TcpStream, ctx: &ProxyContext) {
    match &ctx.admin {
        Some(admin) => admin.serve(client).await,
        None => {
            let msg = "pgscope: the admin console is disabled; set admin.password (PGSCOPE_ADMIN_PASSWORD) to enable it";
            let _ = client.write_all(&wire::error_response("FATAL", "28000", msg)).await;
        }
    }
}

async fn refuse(mut socket: TcpStream) {
    let msg = "sorry, too many clients already (pgscope proxy.max_client_connections)";
    let _ = socket.write_all(&wire::error_response("FATAL", "53300", msg)).await;
}

/// One client, from its first byte to its last. Errors are logged here, once.
async fn handle_client(mut client: TcpStream, peer: SocketAddr, conn_id: u64, ctx: &ProxyContext) {
    let _ = client.set_nodelay(true);
    let accepted = match handshake::accept(&mut client, &ctx.config).await {
        Ok(accepted) => accepted,
        Err(e) => {
            ctx.counters.protocol_errors.fetch_add(1, Ordering::Relaxed);
            debug!(conn_id, %peer, error = %e, "handshake failed");
            let _ = client.write_all(&e.to_error_response()).await;
            return;
        }
    };
    let result = match accepted {
        handshake::Accepted::Cancel(packet) => {
            ctx.counters.cancels_forwarded.fetch_add(1, Ordering::Relaxed);
            session::forward_cancel(&ctx.config, &packet).await
        }
        handshake::Accepted::Startup(startup) => {
            ctx.clients.insert(ClientInfo {
                conn_id,
                peer,
                session: startup.info.clone(),
                connected_at: std::time::SystemTime::now(),
            });
            let result = session::run(client, startup, conn_id, ctx).await;
            ctx.clients.remove(conn_id);
            result
        }
        handshake::Accepted::Admin => {
            serve_admin(client, ctx).await;
            Ok(())
        }
    };
    match result {
        Ok(()) => debug!(conn_id, %peer, "session ended"),
        Err(e) => info!(conn_id, %peer, error = %e, "session ended with an error"),
    }
}
