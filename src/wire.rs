//! The PostgreSQL wire format, pure: bytes in, values out. No sockets, no tokio, no logging.
//!
//! "Need more bytes" is `Ok(None)` or a [`Progress`] that forwards nothing, never an error.
//! The [`Splitter`] finds frame boundaries in a byte stream so that the caller can forward the
//! same bytes it read; the decoders below read only the fields the tracker needs.

use std::fmt;

/// PostgreSQL's own limit for a startup packet (`MAX_STARTUP_PACKET_LENGTH`).
pub const MAX_STARTUP_LEN: usize = 10_000;
/// PostgreSQL's own limit for a large message (`PQ_LARGE_MESSAGE_LIMIT`).
pub const PG_MAX_MESSAGE_LEN: u32 = 0x3fff_ffff;

const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;

/// A framing error: the peer sent something that is not the PostgreSQL protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("invalid length {len} for message type {tag}")]
    BadLength { tag: Tag, len: u32 },
    #[error("message type {tag} declares {len} bytes, above the limit of {max} bytes")]
    TooLong { tag: Tag, len: u32, max: u32 },
    #[error("invalid startup packet length {0}")]
    BadStartupLength(u32),
    #[error("malformed startup packet: {0}")]
    MalformedStartup(&'static str),
    #[error("unsupported frontend protocol {major}.{minor}")]
    UnsupportedProtocol { major: u16, minor: u16 },
}

/// A message type byte, printed as a character when it is printable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag(pub u8);

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_ascii_graphic() {
            write!(f, "'{}'", self.0 as char)
        } else {
            write!(f, "0x{:02x}", self.0)
        }
    }
}

/// The first packet of a connection, before any typed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupPacket<'a> {
    SslRequest,
    GssEncRequest,
    /// The whole CancelRequest packet, to be forwarded as is.
    CancelRequest(&'a [u8]),
    /// A StartupMessage: protocol version and its parameters.
    Startup {
        major: u16,
        minor: u16,
        params: Vec<(&'a str, &'a str)>,
    },
}

/// The total length of the startup packet at the front of `buf`, once its length word is in.
pub fn startup_packet_len(buf: &[u8]) -> Result<Option<usize>, FrameError> {
    let Some(word) = buf.get(..4) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
    if !(8..=MAX_STARTUP_LEN as u32).contains(&len) {
        return Err(FrameError::BadStartupLength(len));
    }
    Ok(Some(len as usize))
}

/// Decodes one complete startup packet (length word included).
pub fn parse_startup(packet: &[u8]) -> Result<StartupPacket<'_>, FrameError> {
    let code = packet
        .get(4..8)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .ok_or(FrameError::MalformedStartup("shorter than 8 bytes"))?;
    match code {
        SSL_REQUEST => Ok(StartupPacket::SslRequest),
        GSSENC_REQUEST => Ok(StartupPacket::GssEncRequest),
        CANCEL_REQUEST => Ok(StartupPacket::CancelRequest(packet)),
        _ => parse_startup_message(code, &packet[8..]),
    }
}

fn parse_startup_message(code: u32, body: &[u8]) -> Result<StartupPacket<'_>, FrameError> {
    let (major, minor) = ((code >> 16) as u16, (code & 0xffff) as u16);
    if major != 3 {
        return Err(FrameError::UnsupportedProtocol { major, minor });
    }
    let mut params = Vec::new();
    let mut rest = body;
    loop {
        let (name, after) = cstr(rest).ok_or(FrameError::MalformedStartup("unterminated name"))?;
        if name.is_empty() {
            break;
        }
        let (value, after) =
            cstr(after).ok_or(FrameError::MalformedStartup("unterminated value"))?;
        let name = std::str::from_utf8(name)
            .map_err(|_| FrameError::MalformedStartup("parameter name is not UTF-8"))?;
        let value = std::str::from_utf8(value)
            .map_err(|_| FrameError::MalformedStartup("parameter value is not UTF-8"))?;
        params.push((name, value));
        rest = after;
    }
    Ok(StartupPacket::Startup { major, minor, params })
}

/// Splits a null-terminated string off the front of `buf`.
pub fn cstr(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let nul = buf.iter().position(|&b| b == 0)?;
    Some((&buf[..nul], &buf[nul + 1..]))
}

/// How far one scan of a buffer got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes at the front of the buffer that may be forwarded now (whole frames, or the
    /// already-inspected head of a frame that streams through).
    pub forward: usize,
    /// After dropping `forward` bytes, the buffer must hold at least this many bytes before
    /// the next scan can make progress.
    pub need: usize,
}

/// Finds frame boundaries in one direction of a session.
///
/// A frame is `type byte + u32 length (including itself) + body`. The caller says, per type,
/// how many body bytes it needs to see (`peek`): 0 for the type alone, `usize::MAX` for the
/// whole body. A frame whose needed part is in the buffer is handed to `on_frame`; the rest of
/// its body, if not yet read, streams through without being buffered.
#[derive(Debug, Clone)]
pub struct Splitter {
    /// Bytes of a frame already handed over that still have to pass through.
    streaming: usize,
    max_len: u32,
}

impl Splitter {
    /// A splitter that rejects frames declaring more than `max_len` bytes.
    pub fn new(max_len: u32) -> Self {
        Splitter { streaming: 0, max_len }
    }

    /// True when the previous scan ended inside a frame's streamed body.
    pub fn mid_frame(&self) -> bool {
        self.streaming > 0
    }

    /// Scans `buf`, calling `on_frame(tag, body_head, body_len)` for each frame, in order.
    pub fn scan(
        &mut self,
        buf: &[u8],
        peek: impl Fn(u8) -> usize,
        mut on_frame: impl FnMut(u8, &[u8], usize),
    ) -> Result<Progress, FrameError> {
        let mut pos = self.streaming.min(buf.len());
        self.streaming -= pos;
        if self.streaming > 0 {
            return Ok(Progress { forward: pos, need: 0 });
        }
        loop {
            let rest = &buf[pos..];
            let Some(header) = rest.get(..5) else {
                return Ok(Progress { forward: pos, need: 5 });
            };
            let tag = header[0];
            let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
            self.check_len(tag, len)?;
            let body_len = len as usize - 4;
            let want = peek(tag).min(body_len);
            let Some(head) = rest.get(5..5 + want) else {
                return Ok(Progress { forward: pos, need: 5 + want });
            };
            on_frame(tag, head, body_len);
            let total = 1 + len as usize;
            if rest.len() >= total {
                pos += total;
            } else {
                self.streaming = total - rest.len();
                return Ok(Progress { forward: buf.len(), need: 0 });
            }
        }
    }

    fn check_len(&self, tag: u8, len: u32) -> Result<(), FrameError> {
        if len < 4 {
            return Err(FrameError::BadLength { tag: Tag(tag), len });
        }
        if len > self.max_len {
            return Err(FrameError::TooLong { tag: Tag(tag), len, max: self.max_len });
        }
        Ok(())
    }
}

/// Encodes an ErrorResponse frame.
pub fn error_response(severity: &str, sqlstate: &str, message: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(32 + message.len());
    for (field, value) in [(b'S', severity), (b'V', severity), (b'C', sqlstate), (b'M', message)] {
        body.push(field);
        body.extend(value.bytes().filter(|&b| b != 0));
        body.push(0);
    }
    body.push(0);
    let mut frame = Vec::with_capacity(5 + body.len());
    frame.push(b'E');
    frame.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// Encodes a CancelRequest packet from the body of a BackendKeyData message.
pub fn cancel_request(backend_key: &[u8]) -> Vec<u8> {
    let mut packet = Vec::with_capacity(8 + backend_key.len());
    packet.extend_from_slice(&(8 + backend_key.len() as u32).to_be_bytes());
    packet.extend_from_slice(&CANCEL_REQUEST.to_be_bytes());
    packet.extend_from_slice(backend_key);
    packet
}

/// The SQLSTATE field of an ErrorResponse body, if present and well-formed.
pub fn error_sqlstate(body: &[u8]) -> Option<[u8; 5]> {
    let mut rest = body;
    while let Some((&field, after)) = rest.split_first() {
        if field == 0 {
            return None;
        }
        let (value, after) = cstr(after)?;
        if field == b'C' {
            return value.try_into().ok();
        }
        rest = after;
    }
    None
}

/// The row count at the end of a CommandComplete tag (`SELECT 5`, `INSERT 0 1`, `COPY 3`).
pub fn command_rows(body: &[u8]) -> Option<u64> {
    let (tag, _) = cstr(body)?;
    let last = tag.rsplit(|&b| b == b' ').next()?;
    if last.is_empty() || !last.iter().all(u8::is_ascii_digit) || last.len() == tag.len() {
        return None;
    }
    std::str::from_utf8(last).ok()?.parse().ok()
}

/// Parse: (statement name, query text).
pub fn parse_message(body: &[u8]) -> Option<(&[u8], &[u8])> {
    let (name, rest) = cstr(body)?;
    let (query, _) = cstr(rest)?;
    Some((name, query))
}

/// Bind: (portal name, statement name, the rest: formats and parameter values), read from
/// the head of the body.
pub fn bind_parts(head: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let (portal, rest) = cstr(head)?;
    let (statement, rest) = cstr(rest)?;
    Some((portal, statement, rest))
}

/// Execute: the portal name.
pub fn execute_portal(body: &[u8]) -> Option<&[u8]> {
    cstr(body).map(|(portal, _)| portal)
}

/// Close: (b'S' statement or b'P' portal, name).
pub fn close_target(body: &[u8]) -> Option<(u8, &[u8])> {
    let (&kind, rest) = body.split_first()?;
    cstr(rest).map(|(name, _)| (kind, name))
}

/// ParameterStatus: (name, value).
pub fn parameter_status(body: &[u8]) -> Option<(&[u8], &[u8])> {
    let (name, rest) = cstr(body)?;
    let (value, _) = cstr(rest)?;
    Some((name, value))
}

/// Query: the query text (without its terminator).
pub fn query_text(body: &[u8]) -> Option<&[u8]> {
    cstr(body).map(|(text, _)| text)
}

#[cfg(test)]
mod tests;
