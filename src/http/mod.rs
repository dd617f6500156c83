//! The HTTP surface: `/healthz`, `/metrics` and the JSON API (`/api/patterns`).
//!
//! Handlers hold the stats mutex only to copy out a snapshot, never across an `.await`.
//! Every error, including an unknown path, is JSON `{"error": "..."}`.

#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::stats::{PatternSummary, SortKey, StatsStore};

/// Rows returned by `/api/patterns` when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 20;
/// Largest `limit` honoured by `/api/patterns`; larger values are clamped to it.
pub const MAX_LIMIT: usize = 1000;

const BAD_SORT: &str = "sort must be one of total, calls, mean, p99, max";
const BAD_KIND: &str = "kind must be one of slow, n_plus_one, duplicate, lint";
const BAD_LIMIT: &str = "limit must be a non-negative integer (at most 1000 rows are returned)";

/// Everything the HTTP handlers read. Cloned into axum state.
#[derive(Clone)]
pub struct HttpState {
    /// Per-pattern statistics, shared with the analysis thread.
    pub stats: Arc<Mutex<StatsStore>>,
    /// When the process started, for `uptime_s`.
    pub started: Instant,
    /// Findings and routes, shared with the analysis thread.
    pub detectors: Arc<Mutex<crate::detect::Detectors>>,
    /// The registry behind `/metrics` (absent: `/metrics` is 404).
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
}

/// Serves until `shutdown` resolves, then finishes in-flight requests and returns.
/// The caller binds `listener`, so port 0 works in tests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: HttpState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}

/// The routes, with JSON 404 and 405 fallbacks.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/patterns", get(patterns))
        .route("/metrics", get(metrics))
        .route("/api/findings", get(findings))
        .route("/api/routes", get(routes))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// `GET /metrics`: the Prometheus text format.
async fn metrics(State(state): State<HttpState>) -> Response {
    let Some(metrics) = state.metrics else { return not_found().await.into_response() };
    let body = tokio::task::spawn_blocking(move || metrics.render()).await.unwrap_or_default();
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
        .into_response()
}

/// `/api/findings` query parameters as received.
#[derive(Deserialize)]
struct FindingsParams {
    kind: Option<String>,
    limit: Option<String>,
}

/// Body of `GET /api/findings`.
#[derive(Serialize)]
struct FindingsBody {
    kind: Option<&'static str>,
    limit: usize,
    dropped: u64,
    findings: Vec<crate::detect::Finding>,
}

/// `GET /api/findings?kind=slow|n_plus_one|duplicate|lint&limit=N`, newest first.
async fn findings(
    State(state): State<HttpState>,
    params: Result<Query<FindingsParams>, QueryRejection>,
) -> Result<Json<FindingsBody>, ApiError> {
    let Query(params) =
        params.map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))?;
    let kind = match params.kind.as_deref() {
        None => None,
        Some(name) => Some(
            crate::detect::FindingKind::from_name(name)
                .ok_or_else(|| ApiError::bad_request(BAD_KIND))?,
        ),
    };
    let limit = match params.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(text) => parse_limit(text).ok_or_else(|| ApiError::bad_request(BAD_LIMIT))?,
    };
    let d = state.detectors.lock().unwrap_or_else(PoisonError::into_inner);
    let store = d.findings();
    let dropped = kind.map_or(store.dropped(), |k| store.dropped_of(k));
    Ok(Json(FindingsBody {
        kind: kind.map(|k| k.as_str()),
        limit,
        dropped,
        findings: store.list(kind, limit),
    }))
}

/// Body of `GET /api/routes`.
#[derive(Serialize)]
struct RoutesBody {
    overflow: u64,
    routes: Vec<crate::detect::RouteSummary>,
}

/// `GET /api/routes`: statements, time, errors and N+1 findings per endpoint.
async fn routes(State(state): State<HttpState>) -> Json<RoutesBody> {
    let d = state.detectors.lock().unwrap_or_else(PoisonError::into_inner);
    Json(RoutesBody { overflow: d.routes().overflow(), routes: d.routes().list() })
}

/// Body of `GET /healthz`.
#[derive(Serialize)]
struct Health {
    status: &'static str,
    uptime_s: u64,
}

async fn healthz(State(state): State<HttpState>) -> Json<Health> {
    let uptime_s = state.started.elapsed().as_secs();
    Json(Health { status: "ok", uptime_s })
}

/// `/api/patterns` query parameters as received; validated by [`PatternsQuery::parse`].
#[derive(Deserialize)]
struct RawParams {
    sort: Option<String>,
    limit: Option<String>,
}

/// `/api/patterns` query parameters once validated.
#[derive(Debug, PartialEq, Eq)]
struct PatternsQuery {
    sort: SortKey,
    limit: usize,
}

impl PatternsQuery {
    fn parse(raw: RawParams) -> Result<Self, ApiError> {
        let sort = match raw.sort.as_deref() {
            None => SortKey::Total,
            Some(name) => {
                SortKey::from_name(name).ok_or_else(|| ApiError::bad_request(BAD_SORT))?
            }
        };
        let limit = match raw.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(text) => parse_limit(text).ok_or_else(|| ApiError::bad_request(BAD_LIMIT))?,
        };
        Ok(PatternsQuery { sort, limit })
    }
}

/// Decimal digits only; values above [`MAX_LIMIT`] (even past `u64`) clamp to it.
fn parse_limit(text: &str) -> Option<usize> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value = text.parse::<usize>().unwrap_or(MAX_LIMIT);
    Some(value.min(MAX_LIMIT))
}

/// Body of `GET /api/patterns`.
#[derive(Serialize)]
struct PatternsResponse {
    sort: &'static str,
    limit: usize,
    patterns_tracked: usize,
    patterns_evicted: u64,
    patterns: Vec<PatternSummary>,
}

async fn patterns(
    State(state): State<HttpState>,
    params: Result<Query<RawParams>, QueryRejection>,
) -> Result<Json<PatternsResponse>, ApiError> {
    let Query(raw) = params.map_err(|e| ApiError::bad_request(query_error(&e)))?;
    let query = PatternsQuery::parse(raw)?;
    Ok(Json(snapshot(&state.stats, &query)))
}

/// Copies the requested rows out under the lock; a poisoned lock still holds usable stats.
fn snapshot(stats: &Mutex<StatsStore>, query: &PatternsQuery) -> PatternsResponse {
    let store = stats.lock().unwrap_or_else(PoisonError::into_inner);
    PatternsResponse {
        sort: query.sort.as_str(),
        limit: query.limit,
        patterns_tracked: store.len(),
        patterns_evicted: store.evictions(),
        patterns: store.top(query.sort, query.limit),
    }
}

fn query_error(rejection: &QueryRejection) -> String {
    format!("invalid query string: {}", rejection.body_text())
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not found")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}

/// An error answered as JSON `{"error": message}` with `status`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into() }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

/// Body of every error response.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody { error: &self.message })).into_response()
    }
}
