//! The admin console: `psql "host=… port=<proxy port> dbname=pgscope user=… password=…"`
//! reaches this instead of the upstream server (PgBouncer's convention) and can ask
//! `SHOW PATTERNS`, `SHOW FINDINGS`, `SHOW ROUTES`, `SHOW CLIENTS`, `SHOW STATS`,
//! `SHOW RULES`, `SHOW VERSION` and `SHOW HELP`.
//!
//! - [`commands`]: statement text → [`commands::Command`] (pure).
//! - [`views`]: each `SHOW` as a [`views::Table`] copied out of the shared state (pure apart
//!   from taking the locks briefly).
//! - `handlers`: the `pgwire` server side: cleartext password startup, the simple query
//!   handler, and an extended query handler that refuses with a clear error.
//!
//! The proxy's handshake has already declined any SSLRequest and left the StartupMessage
//! unread, so `pgwire` takes the socket from the startup on.

pub mod commands;
mod handlers;
pub mod views;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::net::TcpStream;
use tracing::{debug, info};

use crate::config::Secret;
use crate::detect::Detectors;
use crate::event::EventCounters;
use crate::proxy::{AdminConsole, ClientRegistry, ProxyCounters};
use crate::stats::StatsStore;

pub use commands::UnknownCommand;

/// Everything the console reads; shared with the proxy and the analysis thread.
pub struct AdminState {
    /// Per-pattern statistics.
    pub stats: Arc<Mutex<StatsStore>>,
    /// Findings and route statistics.
    pub detectors: Arc<Mutex<Detectors>>,
    /// Client sessions open now.
    pub clients: Arc<ClientRegistry>,
    /// Data-path counters.
    pub proxy: Arc<ProxyCounters>,
    /// Event queue counters.
    pub events: Arc<EventCounters>,
    /// When the sidecar started, for `uptime_s`.
    pub started: Instant,
}

/// Why the console refused a statement or a login.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// Not one of the console's commands (SQLSTATE 42601).
    #[error(transparent)]
    UnknownCommand(#[from] UnknownCommand),
    /// Parse/Bind/Execute (SQLSTATE 0A000).
    #[error("the pgscope admin console supports the simple query protocol only")]
    ExtendedProtocol,
    /// Wrong password (SQLSTATE 28P01, FATAL).
    #[error("password authentication failed for user \"{user}\"")]
    BadPassword { user: String },
}

impl ConsoleError {
    /// The SQLSTATE the client sees.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            ConsoleError::UnknownCommand(_) => "42601",
            ConsoleError::ExtendedProtocol => "0A000",
            ConsoleError::BadPassword { .. } => "28P01",
        }
    }

    /// True when the error ends the session.
    pub fn is_fatal(&self) -> bool {
        matches!(self, ConsoleError::BadPassword { .. })
    }
}

/// The console: serves one client socket at a time per call, many concurrently.
pub struct Admin {
    handlers: Arc<handlers::ConsoleHandlers>,
}

impl Admin {
    /// A console over `state`, admitting any user name with `password`.
    pub fn new(state: AdminState, password: Secret) -> Admin {
        Admin { handlers: Arc::new(handlers::ConsoleHandlers::new(Arc::new(state), password)) }
    }
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl AdminConsole for Admin {
    async fn serve(&self, socket: TcpStream) {
        match pgwire::tokio::process_socket(socket, None, self.handlers.clone()).await {
            Ok(()) => debug!("admin console session ended"),
            Err(e) => info!(error = %e, "admin console session ended with an error"),
        }
    }
}
