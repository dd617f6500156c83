//! The client side of connection setup, as a straight line: read a startup packet; answer
//! SSLRequest and GSSENCRequest with `N` and read the next one; hand back a CancelRequest or a
//! StartupMessage. Authentication is not here: it is relayed by the session, byte for byte.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::Config;
use crate::event::SessionInfo;
use crate::wire::{self, FrameError, StartupPacket};

/// Why a client's connection setup failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("client closed the connection during startup")]
    Closed,
    #[error("reading the startup packet: {0}")]
    Io(#[from] std::io::Error),
    #[error("invalid startup packet: {0}")]
    Frame(#[from] FrameError),
    #[error("no startup packet within {0} seconds")]
    Timeout(u64),
    #[error("too many SSL/GSSAPI negotiation requests")]
    TooManyNegotiations,
}

impl HandshakeError {
    /// The ErrorResponse the client gets for this failure.
    pub fn to_error_response(&self) -> Vec<u8> {
        wire::error_response("FATAL", "08P01", &format!("pgscope: {self}"))
    }
}

/// What the client asked for.
#[derive(Debug)]
pub enum Accepted {
    /// A CancelRequest packet, to forward to the upstream unchanged.
    Cancel(Bytes),
    Startup(Startup),
    /// A StartupMessage for the admin console's database, left unread on the socket.
    Admin,
}

/// The database name that reaches the admin console instead of the upstream (PgBouncer's
/// convention).
pub const ADMIN_DATABASE: &str = "pgscope";

/// A StartupMessage, ready to be relayed.
#[derive(Debug)]
pub struct Startup {
    /// The packet exactly as the client sent it.
    pub packet: Bytes,
    pub info: SessionInfo,
    /// Bytes the client sent after the packet without waiting for an answer.
    pub leftover: BytesMut,
}

/// Reads the client's startup, answering TLS and GSSAPI encryption requests with `N`.
pub async fn accept(client: &mut TcpStream, config: &Config) -> Result<Accepted, HandshakeError> {
    let secs = config.startup_timeout.as_secs();
    tokio::time::timeout(config.startup_timeout, negotiate(client))
        .await
        .map_err(|_| HandshakeError::Timeout(secs))?
}

async fn negotiate(client: &mut TcpStream) -> Result<Accepted, HandshakeError> {
    // SSLRequest, then GSSENCRequest (or the reverse), then the real packet.
    for _ in 0..3 {
        let packet = peek_packet(client).await?;
        match wire::parse_startup(&packet)? {
            StartupPacket::SslRequest | StartupPacket::GssEncRequest => {
                consume(client, packet.len()).await?;
                client.write_all(b"N").await?;
            }
            StartupPacket::CancelRequest(_) => {
                consume(client, packet.len()).await?;
                return Ok(Accepted::Cancel(Bytes::from(packet)));
            }
            StartupPacket::Startup { params, .. } => {
                let info = session_info(&params);
                if &*info.database == ADMIN_DATABASE {
                    return Ok(Accepted::Admin);
                }
                consume(client, packet.len()).await?;
                let packet = Bytes::from(packet);
                return Ok(Accepted::Startup(Startup { packet, info, leftover: BytesMut::new() }));
            }
        }
    }
    Err(HandshakeError::TooManyNegotiations)
}

/// Waits until one whole startup packet is in the socket's receive buffer and copies it out
/// without consuming it, so that the admin console's server can still read it.
async fn peek_packet(client: &mut TcpStream) -> Result<Vec<u8>, HandshakeError> {
    let mut buf = vec![0u8; 512];
    loop {
        let n = client.peek(&mut buf).await?;
        if n == 0 {
            return Err(HandshakeError::Closed);
        }
        if let Some(len) = wire::startup_packet_len(&buf[..n])? {
            if n >= len {
                buf.truncate(len);
                return Ok(buf);
            }
            buf.resize(buf.len().max(len), 0);
        }
        // peek returns at once while the rest of the packet is still in flight.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn consume(client: &mut TcpStream, len: usize) -> Result<(), HandshakeError> {
    let mut sink = vec![0u8; len];
    client.read_exact(&mut sink).await?;
    Ok(())
}

/// Database, user and application_name from the StartupMessage (database defaults to user).
fn session_info(params: &[(&str, &str)]) -> SessionInfo {
    let get = |key: &str| params.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let user = get("user").unwrap_or_default();
    SessionInfo {
        database: get("database").unwrap_or(user).into(),
        user: user.into(),
        application_name: get("application_name").unwrap_or_default().into(),
    }
}
