//! A session after the client's startup packet: connect upstream, forward the packet, then
//! relay frames both ways unchanged while the tracker follows them.
//!
//! Each direction is a [`Pump`] that owns its buffer: read, split into frames, show the
//! tracker what it asks for, write the same bytes on. The two pumps run concurrently so that
//! neither direction's backpressure can stall the other; a pump that cannot write stops
//! reading, so a slow client slows its server instead of growing a buffer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::debug;

use super::ProxyContext;
use super::handshake::Startup;
use crate::config::Config;
use crate::event::EventSender;
use crate::tracker::{Tracker, TrackerLimits};
use crate::wire::{self, FrameError, PG_MAX_MESSAGE_LEN, Splitter};

/// Read size, and the spare room kept in a pump's buffer.
const READ_CHUNK: usize = 16 * 1024;

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
    let tracker = Mutex::new(Tracker::new(conn_id, startup.info, limits, Instant::now()));
    let end = relay(&mut client, &mut server, startup.leftover, &tracker, ctx).await;
    let tracker = tracker.into_inner().unwrap_or_else(PoisonError::into_inner);
    finish(end, &mut client, &tracker, ctx).await
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
enum End {
    Client(Result<(), SessionError>),
    Server(Result<(), SessionError>),
}

async fn relay(
    client: &mut TcpStream,
    server: &mut TcpStream,
    leftover: BytesMut,
    tracker: &Mutex<Tracker>,
    ctx: &ProxyContext,
) -> End {
    let (mut client_rx, mut client_tx) = client.split();
    let (mut server_rx, mut server_tx) = server.split();
    let mut upstream = Pump::new(leftover, ctx.config.max_message_bytes, Side::Client, ctx);
    let mut downstream = Pump::new(BytesMut::new(), PG_MAX_MESSAGE_LEN, Side::Server, ctx);
    tokio::select! {
        r = upstream.run(&mut client_rx, &mut server_tx, tracker) => End::Client(r),
        r = downstream.run(&mut server_rx, &mut client_tx, tracker) => End::Server(r),
    }
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
    if let Err(SessionError::ClientProtocol(_) | SessionError::ServerProtocol(_)) = &result {
        ctx.counters.protocol_errors.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = &result {
            let msg = format!("pgscope: {e}");
            let _ = client.write_all(&wire::error_response("FATAL", "08P01", &msg)).await;
        }
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

/// One direction of a session.
struct Pump<'a> {
    buf: BytesMut,
    splitter: Splitter,
    side: Side,
    events: &'a EventSender,
    bytes: &'a AtomicU64,
}

impl<'a> Pump<'a> {
    fn new(seed: BytesMut, max_len: u32, side: Side, ctx: &'a ProxyContext) -> Self {
        let mut buf = seed;
        buf.reserve(READ_CHUNK);
        let bytes = match side {
            Side::Client => &ctx.counters.bytes_from_clients,
            Side::Server => &ctx.counters.bytes_from_server,
        };
        Pump { buf, splitter: Splitter::new(max_len), side, events: &ctx.events, bytes }
    }

    /// Forwards until the source closes (`Ok`) or something fails.
    async fn run<R, W>(
        &mut self,
        src: &mut R,
        dst: &mut W,
        tracker: &Mutex<Tracker>,
    ) -> Result<(), SessionError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        loop {
            let progress = self.scan(tracker).map_err(|e| self.protocol_error(e))?;
            if progress.forward > 0 {
                dst.write_all(&self.buf[..progress.forward])
                    .await
                    .map_err(|e| self.write_error(e))?;
                self.buf.advance(progress.forward);
                self.bytes.fetch_add(progress.forward as u64, Ordering::Relaxed);
            }
            self.make_room(progress.need);
            if src.read_buf(&mut self.buf).await.map_err(|e| self.read_error(e))? == 0 {
                return Ok(());
            }
        }
    }

    /// Shows the tracker the frames in the buffer and sends the events it produced.
    fn scan(&mut self, tracker: &Mutex<Tracker>) -> Result<wire::Progress, FrameError> {
        let now = Instant::now();
        let mut t = tracker.lock().unwrap_or_else(PoisonError::into_inner);
        let progress = match self.side {
            Side::Client => self
                .splitter
                .scan(&self.buf, Tracker::client_peek, |tag, body, _| t.on_client(tag, body, now)),
            Side::Server => self
                .splitter
                .scan(&self.buf, Tracker::server_peek, |tag, body, _| t.on_server(tag, body, now)),
        };
        for event in t.drain_events() {
            self.events.send(event);
        }
        progress
    }

    /// Keeps the buffer able to take the next read, and the bytes a frame head still needs.
    fn make_room(&mut self, need: usize) {
        let want = need.saturating_sub(self.buf.len()).max(READ_CHUNK);
        if self.buf.capacity() - self.buf.len() < want / 2 {
            self.buf.reserve(want);
        }
    }

    fn protocol_error(&self, e: FrameError) -> SessionError {
        match self.side {
            Side::Client => SessionError::ClientProtocol(e),
            Side::Server => SessionError::ServerProtocol(e),
        }
    }

    fn read_error(&self, e: std::io::Error) -> SessionError {
        match self.side {
            Side::Client => SessionError::ClientIo(e),
            Side::Server => SessionError::ServerIo(e),
        }
    }

    fn write_error(&self, e: std::io::Error) -> SessionError {
        match self.side {
            Side::Client => SessionError::ServerIo(e),
            Side::Server => SessionError::ClientIo(e),
        }
    }
}
