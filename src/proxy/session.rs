//! A session after the client's startup packet: connect upstream, forward the packet, hand
//! both sockets to a relay thread ([`super::relay`]), and when the relay is over, tell the
//! client about a protocol error and cancel a query it abandoned.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tracing::debug;

use super::ProxyContext;
use super::handshake::Startup;
use super::relay::NewSession;
use crate::config::Config;
use crate::tracker::{Tracker, TrackerLimits};
use crate::wire::{self, FrameError, PG_MAX_MESSAGE_LEN};

/// Why a session ended abnormally.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot connect to upstream {upstream}: {source}")]
    Connect { upstream: String, source: std::io::Error },
    #[error("upstream {upstream} did not accept a connection within {secs} s")]
    ConnectTimeout { upstream: String, secs: u64 },
    #[error("invalid message from client: {0}")]
    ClientProtocol(FrameError),
    #[error("invalid message from server: {0}")]
    ServerProtocol(FrameError),
    #[error("client connection: {0}")]
    ClientIo(std::io::Error),
    #[error("server connection: {0}")]
    ServerIo(std::io::Error),
    /// A bug in pgscope (a panic while relaying); only this session is closed.
    #[error("internal error in pgscope's relay; the session was closed")]
    Internal,
}

/// Relays one client's session until either side closes.
pub async fn run(
    mut client: TcpStream,
    startup: Startup,
    conn_id: u64,
    ctx: &ProxyContext,
) -> Result<(), SessionError> {
    let config = &ctx.config;
    let mut server = match connect_upstream(config).await {
        Ok(server) => server,
        Err(e) => {
            ctx.counters.upstream_connect_errors.fetch_add(1, Ordering::Relaxed);
            let msg = format!("pgscope: {e}");
            let _ = client.write_all(&wire::error_response("FATAL", "08006", &msg)).await;
            return Err(e);
        }
    };
    server.write_all(&startup.packet).await.map_err(SessionError::ServerIo)?;
    let limits = TrackerLimits {
        max_prepared: config.max_prepared_per_connection,
        ..TrackerLimits::default()
    };
    let (done, finished) = oneshot::channel();
    ctx.relays.relay(NewSession {
        client: client.into_std().map_err(SessionError::ClientIo)?,
        server: server.into_std().map_err(SessionError::ServerIo)?,
        leftover: startup.leftover.to_vec(),
        tracker: Tracker::new(conn_id, startup.info, limits, Instant::now()),
        max_client_message: config.max_message_bytes,
        max_server_message: PG_MAX_MESSAGE_LEN,
        done,
    });
    // No answer: the relay threads stopped (shutdown) and closed the session.
    let Ok(finished) = finished.await else {
        return Ok(());
    };
    let mut client = TcpStream::from_std(finished.client).map_err(SessionError::ClientIo)?;
    let _server = finished.server; // open until the abandoned query is cancelled
    finish(finished.end, &mut client, &finished.tracker, ctx).await
}

async fn connect_upstream(config: &Config) -> Result<TcpStream, SessionError> {
    let upstream = config.upstream.clone();
    let secs = config.connect_timeout.as_secs();
    match tokio::time::timeout(config.connect_timeout, TcpStream::connect(&upstream)).await {
        Ok(Ok(server)) => {
            let _ = server.set_nodelay(true);
            Ok(server)
        }
        Ok(Err(source)) => Err(SessionError::Connect { upstream, source }),
        Err(_) => Err(SessionError::ConnectTimeout { upstream, secs }),
    }
}

/// Which side ended the relay, and how.
pub enum End {
    Client(Result<(), SessionError>),
    Server(Result<(), SessionError>),
}

/// After the relay: tell the client about a protocol error, and make sure a query the client
/// abandoned does not keep running on the server.
async fn finish(
    end: End,
    client: &mut TcpStream,
    tracker: &Tracker,
    ctx: &ProxyContext,
) -> Result<(), SessionError> {
    if tracker.is_lost() {
        ctx.counters.sessions_untracked.fetch_add(1, Ordering::Relaxed);
    }
    let result = match end {
        End::Client(r) => {
            if tracker.in_flight() {
                cancel_abandoned(tracker, ctx).await;
            }
            r
        }
        End::Server(r) => r,
    };
    let sqlstate = match &result {
        Err(SessionError::ClientProtocol(_) | SessionError::ServerProtocol(_)) => {
            ctx.counters.protocol_errors.fetch_add(1, Ordering::Relaxed);
            Some("08P01")
        }
        Err(SessionError::Internal) => Some("XX000"),
        _ => None,
    };
    if let (Some(sqlstate), Err(e)) = (sqlstate, &result) {
        let msg = format!("pgscope: {e}");
        let _ = client.write_all(&wire::error_response("FATAL", sqlstate, &msg)).await;
    }
    result
}

async fn cancel_abandoned(tracker: &Tracker, ctx: &ProxyContext) {
    let Some(key) = tracker.backend_key() else {
        return;
    };
    ctx.counters.cancels_on_disconnect.fetch_add(1, Ordering::Relaxed);
    let conn_id = tracker.conn_id();
    debug!(conn_id, "client left with a query running; cancelling it");
    if let Err(e) = forward_cancel(&ctx.config, &wire::cancel_request(key)).await {
        debug!(conn_id, error = %e, "cancel of abandoned query failed");
    }
}

/// Sends a CancelRequest packet to the upstream and waits (briefly) for it to hang up.
pub async fn forward_cancel(config: &Config, packet: &[u8]) -> Result<(), SessionError> {
    let mut server = connect_upstream(config).await?;
    server.write_all(packet).await.map_err(SessionError::ServerIo)?;
    let mut sink = [0u8; 16];
    let _ = tokio::time::timeout(Duration::from_secs(5), server.read(&mut sink)).await;
    Ok(())
}
