//! The client side of connection setup, as a straight line: read a startup packet; answer
//! SSLRequest and GSSENCRequest with `N` and read the next one; hand back a CancelRequest or a
//! StartupMessage. Authentication is not here: it is relayed by the session, byte for byte.

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
    #[error("client sent data after its SSL/GSSAPI request before the answer")]
    DataAfterNegotiation,
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
}

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
    let mut buf = BytesMut::with_capacity(512);
    // SSLRequest, then GSSENCRequest (or the reverse), then the real packet.
    for _ in 0..3 {
        let packet = read_packet(client, &mut buf).await?;
        match wire::parse_startup(&packet)? {
            StartupPacket::SslRequest | StartupPacket::GssEncRequest => {
                if !buf.is_empty() {
                    return Err(HandshakeError::DataAfterNegotiation);
                }
                client.write_all(b"N").await?;
            }
            StartupPacket::CancelRequest(_) => return Ok(Accepted::Cancel(packet)),
            StartupPacket::Startup { params, .. } => {
                let info = session_info(&params);
                return Ok(Accepted::Startup(Startup { packet, info, leftover: buf }));
            }
        }
    }
    Err(HandshakeError::TooManyNegotiations)
}

/// Reads one length-prefixed startup packet, leaving anything after it in `buf`.
async fn read_packet(client: &mut TcpStream, buf: &mut BytesMut) -> Result<Bytes, HandshakeError> {
    loop {
        if let Some(len) = wire::startup_packet_len(buf)? {
            if buf.len() >= len {
                return Ok(buf.split_to(len).freeze());
            }
            buf.reserve(len - buf.len());
        }
        if client.read_buf(buf).await? == 0 {
            return Err(HandshakeError::Closed);
        }
    }
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
