//! GET requests against a sidecar's JSON API, through hyper's client (`hyper-util`'s legacy
//! pooled client, HTTP/1.1 over plain `http://`): a connect timeout, a timeout for the whole
//! exchange, and a bound on the body size.

use std::error::Error as _;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::{Request, Uri, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Largest response body accepted (the API returns at most 1000 rows per call).
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Time allowed for connecting, and again for the whole exchange.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a GET against a sidecar failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The base URL is not `http://host:port[/prefix]`.
    #[error("bad URL {0:?}: expected http://HOST:PORT")]
    BadUrl(String),
    /// Connecting or sending the request failed.
    #[error("cannot reach {url}: {}", causes(source))]
    Unreachable {
        /// The full URL requested.
        url: String,
        /// The client's error; its causes say what went wrong on the socket.
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    /// No answer in time.
    #[error("no answer from {0} within {TIMEOUT:?}")]
    Timeout(String),
    /// The body could not be read, or is larger than the bound.
    #[error("cannot read the answer from {url}: {reason}")]
    Body {
        /// The full URL requested.
        url: String,
        /// What went wrong.
        reason: String,
    },
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
}

/// A parsed `http://host:port/prefix` base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// `host:port` to dial.
    pub authority: String,
    /// Path prefix without a trailing slash (often empty).
    pub prefix: String,
}

impl BaseUrl {
    /// Parses `http://host[:port][/prefix]`; the port defaults to 80.
    pub fn parse(url: &str) -> Result<BaseUrl, HttpError> {
        let bad = || HttpError::BadUrl(url.to_string());
        let uri: Uri = url.trim().parse().map_err(|_| bad())?;
        let authority = uri.authority().filter(|_| uri.scheme_str() == Some("http"));
        let authority = authority.filter(|a| !a.host().is_empty()).ok_or_else(bad)?;
        Ok(BaseUrl {
            authority: format!("{}:{}", authority.host(), authority.port_u16().unwrap_or(80)),
            prefix: uri.path().trim_end_matches('/').to_string(),
        })
    }

    /// The full URL of `path` (which starts with `/`) under this base.
    pub fn join(&self, path: &str) -> String {
        format!("http://{}{}{path}", self.authority, self.prefix)
    }
}

/// An answer of any status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The body, decoded as UTF-8 (lossily).
    pub body: String,
}

/// `GET {base}{path}` and returns the body of a 200 answer.
pub async fn get(base: &BaseUrl, path: &str) -> Result<String, HttpError> {
    let url = base.join(path);
    let response = http_get(&url).await?;
    if response.status != 200 {
        let body = response.body.chars().take(200).collect();
        return Err(HttpError::Status { status: response.status, url, body });
    }
    Ok(response.body)
}

/// `GET url` (an `http://` URL) and returns the answer whatever its status.
pub async fn http_get(url: &str) -> Result<HttpResponse, HttpError> {
    let uri: Uri = url.parse().map_err(|_| HttpError::BadUrl(url.to_string()))?;
    let request = Request::get(uri)
        .header(header::ACCEPT, "application/json")
        .body(Empty::<Bytes>::new())
        .map_err(|_| HttpError::BadUrl(url.to_string()))?;
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(TIMEOUT));
    let client = Client::builder(TokioExecutor::new()).build(connector);
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|source| HttpError::Unreachable { url: url.to_string(), source })?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| HttpError::Body { url: url.to_string(), reason: e.to_string() })?
            .to_bytes();
        Ok(HttpResponse { status, body: String::from_utf8_lossy(&body).into_owned() })
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| HttpError::Timeout(url.to_string()))?
}

/// The causes below a client error, innermost last ("tcp connect error: Connection refused").
fn causes(err: &hyper_util::client::legacy::Error) -> String {
    let mut parts = Vec::new();
    let mut cause = err.source();
    while let Some(c) = cause {
        parts.push(c.to_string());
        cause = c.source();
    }
    if parts.is_empty() { err.to_string() } else { parts.join(": ") }
}

/// Serves `router` on a free loopback port for a test; returns its base URL.
#[cfg(test)]
pub(super) async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
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
        assert_eq!(url.join("/api/patterns"), "http://scope.local:80/pg/api/patterns");
        assert!(BaseUrl::parse("https://x:1").is_err());
        assert!(BaseUrl::parse("http://").is_err());
        assert!(BaseUrl::parse("127.0.0.1:9930").is_err());
    }

    #[tokio::test]
    async fn says_which_sidecar_is_unreachable_and_why() {
        // Bind then drop: the port is free, so the connection is refused.
        let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let base = BaseUrl::parse(&format!("http://{addr}")).unwrap();
        let err = get(&base, "/api/patterns").await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, HttpError::Unreachable { .. }), "{err:?}");
        assert!(text.contains(&addr.to_string()) && text.contains("refused"), "{text}");
    }

    #[tokio::test]
    async fn a_status_other_than_200_is_an_error_with_the_url() {
        let router = axum::Router::new().route("/api/ok", axum::routing::get(|| async { "{}" }));
        let base = BaseUrl::parse(&serve(router).await).unwrap();
        assert_eq!(get(&base, "/api/ok").await.unwrap(), "{}");
        let err = get(&base, "/api/missing").await.unwrap_err();
        let HttpError::Status { status, url, .. } = &err else { panic!("{err:?}") };
        assert_eq!((*status, url.as_str()), (404, base.join("/api/missing").as_str()));
        assert!(err.to_string().starts_with("HTTP 404 from http://127.0.0.1:"), "{err}");
    }
}
