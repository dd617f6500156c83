//! pgscope: a PostgreSQL wire-protocol sidecar that forwards every byte and learns, on the
//! side, what the application does to its database.
//!
//! # Module map
//!
//! Data path (per connection, latency-critical, never waits on analysis):
//! - [`wire`]: pure framing of the PostgreSQL protocol (no I/O): frame splitting, startup
//!   packets, ErrorResponse encoding. The fuzz target.
//! - [`tracker`]: a pure state machine fed the frames of both directions; it knows which
//!   statement each reply belongs to and produces one [`event::StatementEvent`] per statement.
//! - [`proxy`]: the listener (bounded connections, graceful shutdown), the handshake (a straight
//!   line: SSL/GSS negotiation, CancelRequest, StartupMessage) and the session relay loop.
//! - [`event`]: the bounded, non-blocking queue from the data path to the analysis path.
//!
//! Analysis path (one task, off the hot path):
//! - [`fingerprint`]: statement → pattern (sqlparser normalization, token fallback, memo).
//! - [`detect`]: live detectors (slow queries, N+1, duplicates), findings, route attribution.
//! - [`lint`]: the lint rule catalogue, checked once per new pattern (pure, over the AST).
//! - [`stats`]: bounded per-pattern statistics (calls, times, percentiles, rows, errors).
//! - [`explain`]: EXPLAIN of slow patterns on pgscope's own analysis connection.
//! - [`analysis`]: the task that drains events into patterns and statistics.
//!
//! Surfaces:
//! - [`admin`]: the admin console (`psql … dbname=pgscope`): `SHOW PATTERNS`, `SHOW FINDINGS`, …
//! - [`http`]: `/healthz`, `/metrics` and the JSON API.
//! - [`metrics`]: the Prometheus collector over the statistics and data-path counters.
//! - [`config`]: settings from defaults, `pgscope.toml`, `PGSCOPE_*` and flags.
//! - [`scratch_pg`]: a throwaway PostgreSQL from the local install (demo and tests).
//! - [`sidecar`]: the proxy, analysis and HTTP tasks started and stopped together.
//! - [`demo`]: `pgscope demo`.
//! - [`report`]: `pgscope report` (report path): sidecars' patterns and findings merged with
//!   pg_stat_statements and the index catalog, index coverage of every pattern, index
//!   suggestions verified with hypopg; rendered as text, markdown or JSON.
#![forbid(unsafe_code)]

pub mod admin;
pub mod analysis;
pub mod config;
pub mod demo;
pub mod detect;
pub mod event;
pub mod explain;
pub mod fasthash;
pub mod fingerprint;
pub mod http;
pub mod lint;
pub mod metrics;
pub mod proxy;
pub mod report;
pub mod scratch_pg;
pub mod sidecar;
pub mod stats;
pub mod tracker;
pub mod wire;
