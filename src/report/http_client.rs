//! A tiny HTTP/1.1 GET client for reading a sidecar's JSON API: plain `http://` only, one
//! request per connection, `Content-Length`, chunked or read-to-close bodies.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response body accepted (the API returns at most 1000 rows per call).
const MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// Time allowed for connecting, and again for the whole exchange.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a GET against a sidecar failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The base URL is not `http://host:port[/prefix]`.
    #[error("bad URL {0:?}: expected http://HOST:PORT")]
    BadUrl(String),
    /// Connecting, sending or receiving failed.
    #[error("cannot reach {addr}: {source}")]
    Io {
        /// The `host:port` dialled.
        addr: String,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// No answer in time.
    #[error("no answer from {0} within {TIMEOUT:?}")]
    Timeout(String),
    /// The server answered with something other than 200.
    #[error("HTTP {status} from {url}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The full URL requested.
        url: String,
        /// The start of the body.
        body: String,
    },
    /// The response is not well-formed HTTP/1.1.
    #[error("malformed HTTP response: {0}")]
    Malformed(&'static str),
}

/// A parsed `http://host:port/prefix` base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// `host:port` to dial and to send as `Host`.
    pub authority: String,
    /// Path prefix without a trailing slash (often empty).
    pub prefix: String,
}

impl BaseUrl {
    /// Parses `http://host[:port][/prefix]`; the port defaults to 80.
    pub fn parse(url: &str) -> Result<BaseUrl, HttpError> {
        let bad = || HttpError::BadUrl(url.to_string());
        let rest = url.trim().strip_prefix("http://").ok_or_else(bad)?;
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(bad());
        }
        let has_port = authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok());
        let authority = if has_port { authority.to_string() } else { format!("{authority}:80") };
        Ok(BaseUrl { authority, prefix: prefix.to_string() })
    }
}

/// `GET {base}{path}` and returns the body of a 200 answer.
pub async fn get(base: &BaseUrl, path: &str) -> Result<String, HttpError> {
    let addr = base.authority.clone();
    let exchange = async {
        let mut stream = TcpStream::connect(&addr).await.map_err(|e| io(&addr, e))?;
        let request = format!(
            "GET {}{path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
            base.prefix
        );
        stream.write_all(request.as_bytes()).await.map_err(|e| io(&addr, e))?;
        let mut raw = Vec::new();
        let mut limited = stream.take(MAX_RESPONSE_BYTES);
        limited.read_to_end(&mut raw).await.map_err(|e| io(&addr, e))?;
        Ok(raw)
    };
    let raw = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| HttpError::Timeout(addr.clone()))??;
    let response = parse_response(&raw)?;
    if response.status != 200 {
        let body = String::from_utf8_lossy(&response.body).chars().take(200).collect();
        let url = format!("http://{addr}{}{path}", base.prefix);
        return Err(HttpError::Status { status: response.status, url, body });
    }
    Ok(String::from_utf8_lossy(&response.body).into_owned())
}

fn io(addr: &str, source: std::io::Error) -> HttpError {
    HttpError::Io { addr: addr.to_string(), source }
}

/// A response split into status and decoded body.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body with any chunked framing removed.
    pub body: Vec<u8>,
}

/// Splits a complete HTTP/1.1 response (read until the server closed) into status and body.
pub fn parse_response(raw: &[u8]) -> Result<Response, HttpError> {
    let end = find(raw, b"\r\n\r\n").ok_or(HttpError::Malformed("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| HttpError::Malformed("headers"))?;
    let rest = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(HttpError::Malformed("status line"))?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name == "transfer-encoding" && value.to_ascii_lowercase().contains("chunked") {
            chunked = true;
        } else if name == "content-length" {
            length = Some(value.parse::<usize>().map_err(|_| HttpError::Malformed("length"))?);
        }
    }
    let body = match (chunked, length) {
        (true, _) => unchunk(rest)?,
        (false, Some(n)) if rest.len() >= n => rest[..n].to_vec(),
        (false, Some(_)) => return Err(HttpError::Malformed("body shorter than Content-Length")),
        (false, None) => rest.to_vec(),
    };
    Ok(Response { status, body })
}

/// Removes chunked transfer framing; trailers are ignored.
fn unchunk(mut rest: &[u8]) -> Result<Vec<u8>, HttpError> {
    let mut out = Vec::new();
    loop {
        let eol = find(rest, b"\r\n").ok_or(HttpError::Malformed("chunk size line"))?;
        let size_text = std::str::from_utf8(&rest[..eol]).map_err(|_| bad_chunk())?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad_chunk())?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if rest.len() < size + 2 {
            return Err(HttpError::Malformed("truncated chunk"));
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

fn bad_chunk() -> HttpError {
    HttpError::Malformed("chunk size")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_base_urls() {
        let url = BaseUrl::parse("http://127.0.0.1:9930/").unwrap();
        assert_eq!(url, BaseUrl { authority: "127.0.0.1:9930".into(), prefix: String::new() });
        let url = BaseUrl::parse("http://scope.local/pg").unwrap();
        assert_eq!(url.authority, "scope.local:80");
        assert_eq!(url.prefix, "/pg");
        assert!(BaseUrl::parse("https://x:1").is_err());
        assert!(BaseUrl::parse("http://").is_err());
    }

    #[test]
    fn reads_content_length_bodies() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}extra";
        let r = parse_response(raw).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
    }

    #[test]
    fn reads_chunked_bodies() {
        let raw = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\n{\"a\r\n4;x=1\r\n\":1}\r\n0\r\n\r\n";
        let r = parse_response(raw).unwrap();
        assert_eq!(r.body, b"{\"a\":1}");
        let truncated = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nab";
        assert!(parse_response(truncated).is_err());
    }

    #[test]
    fn reads_to_close_without_length() {
        let r = parse_response(b"HTTP/1.1 404 Not Found\r\n\r\nnope").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, &b"nope"[..]));
        assert!(parse_response(b"garbage").is_err());
    }
}
