//! What each `SHOW` answers: a [`Table`] of text cells copied out of the shared state.
//!
//! Locks are held only while copying (`top`, `list`, `counts`); formatting happens after.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::AdminState;
use super::commands::Topic;
use crate::detect::{Finding, FindingKind, RouteSummary};
use crate::proxy::ClientInfo;
use crate::stats::{PatternSummary, SortKey, format_utc_millis};

/// Rows of `SHOW PATTERNS`.
pub const PATTERN_ROWS: usize = 50;
/// Rows of `SHOW FINDINGS`.
pub const FINDING_ROWS: usize = 100;

/// How a column's values are typed on the wire (all are sent as text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `text`.
    Text,
    /// `int8`: decimal digits.
    Int,
    /// `numeric`: milliseconds with three decimals.
    Ms,
    /// `bool`: `t` or `f`.
    Bool,
}

/// A result column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The column name psql prints as the header.
    pub name: &'static str,
    /// Its wire type.
    pub kind: Kind,
}

const fn col(name: &'static str, kind: Kind) -> Column {
    Column { name, kind }
}

/// A result set: columns and rows of text cells (`None` is SQL NULL).
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The result columns.
    pub columns: &'static [Column],
    /// One cell per column in each row.
    pub rows: Vec<Vec<Option<String>>>,
}

const HELP: &[Column] = &[col("command", Kind::Text), col("description", Kind::Text)];
const PATTERNS: &[Column] = &[
    col("id", Kind::Text),
    col("calls", Kind::Int),
    col("total_ms", Kind::Ms),
    col("mean_ms", Kind::Ms),
    col("p95_ms", Kind::Ms),
    col("p99_ms", Kind::Ms),
    col("rows", Kind::Int),
    col("errors", Kind::Int),
    col("pattern", Kind::Text),
];
const FINDINGS: &[Column] = &[
    col("at", Kind::Text),
    col("kind", Kind::Text),
    col("severity", Kind::Text),
    col("pattern_id", Kind::Text),
    col("count", Kind::Int),
    col("duration_ms", Kind::Ms),
    col("route", Kind::Text),
    col("application_name", Kind::Text),
    col("rule_id", Kind::Text),
    col("pattern", Kind::Text),
    col("suggestion", Kind::Text),
    col("message", Kind::Text),
];
const ROUTES: &[Column] = &[
    col("route", Kind::Text),
    col("statements", Kind::Int),
    col("total_ms", Kind::Ms),
    col("mean_ms", Kind::Ms),
    col("errors", Kind::Int),
    col("distinct_patterns", Kind::Int),
    col("patterns_capped", Kind::Bool),
    col("n_plus_one", Kind::Int),
];
const CLIENTS: &[Column] = &[
    col("conn_id", Kind::Int),
    col("peer", Kind::Text),
    col("user", Kind::Text),
    col("database", Kind::Text),
    col("application_name", Kind::Text),
    col("connected_at", Kind::Text),
];
const STATS: &[Column] = &[col("name", Kind::Text), col("value", Kind::Int)];
const RULES: &[Column] = &[
    col("id", Kind::Text),
    col("severity", Kind::Text),
    col("description", Kind::Text),
    col("fix", Kind::Text),
];
const VERSION: &[Column] = &[col("version", Kind::Text)];

/// The answer to `SHOW <topic>`.
pub fn render(topic: Topic, state: &AdminState) -> Table {
    match topic {
        Topic::Help => help(),
        Topic::Patterns => patterns(&copy_patterns(state)),
        Topic::Findings => findings(&copy_findings(state)),
        Topic::Routes => routes(&copy_routes(state)),
        Topic::Clients => clients(&state.clients.list()),
        Topic::Stats => stats(state),
        Topic::Rules => rules(),
        Topic::Version => version(),
    }
}

// Each copy_* returns with the lock released, so formatting happens unlocked (inline in a
// match arm, the guard would live until the arm's end).

fn copy_patterns(state: &AdminState) -> Vec<PatternSummary> {
    lock(&state.stats).top(SortKey::Total, PATTERN_ROWS)
}

fn copy_findings(state: &AdminState) -> Vec<Finding> {
    lock(&state.detectors).findings().list(None, FINDING_ROWS)
}

fn copy_routes(state: &AdminState) -> Vec<RouteSummary> {
    lock(&state.detectors).routes().list()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn text(s: impl Into<String>) -> Option<String> {
    Some(s.into())
}

fn int(n: u64) -> Option<String> {
    Some(n.to_string())
}

fn ms(v: f64) -> Option<String> {
    Some(format!("{v:.3}"))
}

fn help() -> Table {
    let rows = Topic::ALL
        .iter()
        .map(|t| vec![text(format!("SHOW {}", t.name())), text(t.description())])
        .collect();
    Table { columns: HELP, rows }
}

fn patterns(rows: &[PatternSummary]) -> Table {
    let row = |p: &PatternSummary| {
        vec![
            text(&p.id),
            int(p.calls),
            ms(p.total_ms),
            ms(p.mean_ms),
            ms(p.p95_ms),
            ms(p.p99_ms),
            int(p.rows),
            int(p.errors),
            text(&p.pattern),
        ]
    };
    Table { columns: PATTERNS, rows: rows.iter().map(row).collect() }
}

pub(super) fn findings(rows: &[Finding]) -> Table {
    let row = |f: &Finding| {
        vec![
            text(&f.at),
            text(f.kind.as_str()),
            text(f.severity.as_str()),
            text(&f.pattern_id),
            int(f.count),
            ms(f.duration_ms),
            f.route.clone(),
            text(&f.application_name),
            f.rule_id.clone(),
            text(&f.pattern),
            text(&f.suggestion),
            f.message.clone(),
        ]
    };
    Table { columns: FINDINGS, rows: rows.iter().map(row).collect() }
}

fn routes(rows: &[RouteSummary]) -> Table {
    let row = |r: &RouteSummary| {
        vec![
            text(&r.route),
            int(r.statements),
            ms(r.total_ms),
            ms(r.mean_ms),
            int(r.errors),
            int(r.distinct_patterns),
            text(if r.patterns_capped { "t" } else { "f" }),
            int(r.n_plus_one),
        ]
    };
    Table { columns: ROUTES, rows: rows.iter().map(row).collect() }
}

fn clients(rows: &[ClientInfo]) -> Table {
    let row = |c: &ClientInfo| {
        vec![
            int(c.conn_id),
            text(c.peer.to_string()),
            text(&*c.session.user),
            text(&*c.session.database),
            text(&*c.session.application_name),
            text(format_utc_millis(c.connected_at)),
        ]
    };
    Table { columns: CLIENTS, rows: rows.iter().map(row).collect() }
}

fn stats(state: &AdminState) -> Table {
    let rows =
        counters(state).into_iter().map(|(name, value)| vec![text(name), int(value)]).collect();
    Table { columns: STATS, rows }
}

/// Every `SHOW STATS` row, as (name, value).
fn counters(state: &AdminState) -> Vec<(String, u64)> {
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let p = &state.proxy;
    let mut rows: Vec<(String, u64)> = [
        ("uptime_s", state.started.elapsed().as_secs()),
        ("clients_current", load(&p.clients_current)),
        ("clients_total", load(&p.clients_total)),
        ("clients_refused", load(&p.clients_refused)),
        ("bytes_from_clients", load(&p.bytes_from_clients)),
        ("bytes_from_server", load(&p.bytes_from_server)),
        ("protocol_errors", load(&p.protocol_errors)),
        ("upstream_connect_errors", load(&p.upstream_connect_errors)),
        ("cancels_forwarded", load(&p.cancels_forwarded)),
        ("cancels_on_disconnect", load(&p.cancels_on_disconnect)),
        ("sessions_untracked", load(&p.sessions_untracked)),
        ("events_sent", load(&state.events.sent)),
        ("events_dropped", load(&state.events.dropped)),
        ("events_analyzed", load(&state.events.analyzed)),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect();
    {
        let stats = lock(&state.stats);
        rows.push(("patterns_tracked".into(), stats.len() as u64));
        rows.push(("patterns_evicted".into(), stats.evictions()));
    }
    rows.extend(detector_counters(state));
    rows
}

/// Findings per kind (ever reported), findings dropped, and route counts.
fn detector_counters(state: &AdminState) -> Vec<(String, u64)> {
    let detectors = lock(&state.detectors);
    let store = detectors.findings();
    let mut rows: Vec<(String, u64)> = FindingKind::ALL
        .iter()
        .map(|&kind| {
            let total = store.counts().filter(|(k, _, _)| *k == kind).map(|(_, _, n)| n).sum();
            (format!("findings_{}", kind.as_str()), total)
        })
        .collect();
    rows.push(("findings_dropped".into(), store.dropped()));
    rows.push(("routes_tracked".into(), detectors.routes().len() as u64));
    rows.push(("routes_overflow".into(), detectors.routes().overflow()));
    rows
}

fn rules() -> Table {
    let rows = crate::lint::rules()
        .iter()
        .map(|r| {
            vec![text(r.id), text(r.default_severity.to_string()), text(r.description), text(r.fix)]
        })
        .collect();
    Table { columns: RULES, rows }
}

fn version() -> Table {
    Table { columns: VERSION, rows: vec![vec![text(version_string())]] }
}

/// `pgscope <version>`.
pub fn version_string() -> String {
    format!("pgscope {}", env!("CARGO_PKG_VERSION"))
}
