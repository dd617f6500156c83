//! `pgscope report`: what the sidecars observed (top patterns, findings) merged with what the
//! database itself knows (pg_stat_statements, unused and duplicate indexes), and the two
//! sections that join them: index coverage of every observed pattern, and index suggestions
//! verified with the planner (hypopg).
//!
//! [`build`] never fails as a whole: each section that cannot be produced says why in its
//! `note` (no analysis URL, extension missing, permission denied, sidecar unreachable) and the
//! other sections go on. [`render`] turns a [`Report`] into text, markdown or JSON.
//!
//! The JSON shape (`version` 1):
//!
//! ```text
//! {"version":1,"sections":{
//!   "top_patterns":{"available":bool,"note":str|null,
//!     "sources":[{"url":str,"ok":bool,"patterns":n,"findings":n,"error":str|null}],
//!     "by_total":[Pattern],"by_calls":[Pattern],"by_mean":[Pattern],"by_max":[Pattern]},
//!   "pg_stat_statements":{"available":bool,"note":str|null,"version":str|null,
//!     "interval_s":number|null,"reset_during_interval":bool,"rows":[PgssRow]},
//!   "unused_indexes":{"available":bool,"note":str|null,"rows":[UnusedIndex]},
//!   "duplicate_indexes":{"available":bool,"note":str|null,"rows":[DuplicateIndex]},
//!   "findings":{"available":bool,"note":str|null,"rows":[FindingGroup]},
//!   "index_coverage":{"available":bool,"note":str|null,"rows":[CoverageRow]},
//!   "index_suggestions":{"available":bool,"verified":bool,"hypopg":str|null,"note":str|null,
//!     "rows":[Suggestion],"skipped":[Skipped]}}}
//!
//! CoverageRow {"pattern_id","pattern","calls","total_ms","source":"sidecar"|"pg_stat_statements",
//!   "table":"schema.table","table_rows":float,"covered":bool,
//!   "predicates":[{"column":str,"usage":Usage,"covered_by":str|null,"note":str|null}]}
//! Usage {"kind":"equality"|"join"|"range"|"like_prefix"|"like_unanchored"}
//!   | {"kind":"expression","detail":"lower(email)"}
//!   | {"kind":"order_by_limit","detail":{"desc":bool}}
//! Suggestion {"table","columns":[str],"create":"CREATE INDEX CONCURRENTLY …;","verified":bool,
//!   "reason":str,"patterns":[{"pattern_id","pattern","calls","total_ms",
//!   "cost_before":float|null,"cost_after":float|null}],"size_bytes":int|null,"size":str|null,
//!   "table_rows":float,"table_writes":int|null,"writes_per_sec":float|null,
//!   "existing_indexes":int}
//! Skipped {"pattern_id","table","reason"}
//! ```
//!
//! `interval_s` is null without `--interval`: the rows are pg_stat_statements' totals since its
//! last reset. With `--interval 60s` it is the time measured between two snapshots and each
//! row's counters (`calls`, `total_ms`, `mean_ms`, `rows`, `shared_blks_*`, `temp_blks_*`,
//! `blk_read_time_ms`, `parallel_workers_launched`) are what ran in between, per (userid, dbid,
//! queryid, toplevel); rows that did not run are left out. `reset_during_interval` is true when
//! a statistics reset in between was detected (`pg_stat_statements_info.stats_reset` moved, an
//! entry's `stats_since` moved, or a counter went backwards): the rows it touched show the
//! second snapshot's absolute values, and the note says so. `proxy_calls` and `proxy_mean_ms`
//! stay the sidecars' totals.
//!
//! Field names of the other row types are those of [`MergedPattern`], [`PgssRow`],
//! [`UnusedIndex`], [`DuplicateIndex`] and [`FindingGroup`]. New fields may be added within a
//! version; a field is never renamed or removed without bumping `version`.

mod candidates;
mod catalog;
mod coverage;
mod http_client;
mod indexes;
mod pgss;
mod pgss_interval;
mod plan_cost;
mod predicates;
mod proxies;
mod render;
mod suggest;

use std::time::Duration;

use serde::Serialize;
use tokio_postgres::{Client, NoTls};

pub use coverage::{CoverageRow, CoverageSection, Observed, PredicateCoverage};
pub use http_client::{HttpError, HttpResponse, http_get};
pub use indexes::{DuplicateIndex, IndexSection, UnusedIndex};
pub use pgss::{PgssRow, PgssSection};
pub use predicates::Usage;
pub use proxies::{FindingGroup, MergedPattern, SidecarError};
pub use render::{Format, render};
pub use suggest::{HelpedPattern, Skipped, Suggestion, SuggestionSection};

use crate::detect::Severity;

/// Version of the JSON shape; bumped on incompatible changes.
pub const JSON_VERSION: u32 = 1;

/// The exit status of `pgscope report --fail-on …` when a problem reaches that severity.
pub const EXIT_FAIL_ON: u8 = 3;

/// Time allowed to connect to the analysis database.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What to report on, validated by the CLI.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// libpq connection string or URL of an ordinary connection to the database.
    pub analysis_url: Option<String>,
    /// Base URLs of running sidecars (`http://127.0.0.1:9930`).
    pub proxies: Vec<String>,
    /// Rows per table.
    pub top: usize,
    /// An index scanned at most this many times counts as unused.
    pub unused_scans: i64,
    /// pg_stat_statements as the difference of two snapshots this far apart, instead of the
    /// totals since the last reset.
    pub interval: Option<Duration>,
    /// Tables with fewer rows (planner estimate) get no index suggestion.
    pub min_rows: f64,
}

/// Default of [`ReportOptions::min_rows`] (`--min-rows`).
pub const DEFAULT_MIN_ROWS: f64 = 500.0;

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            analysis_url: None,
            proxies: Vec::new(),
            top: 20,
            unused_scans: 0,
            interval: None,
            min_rows: DEFAULT_MIN_ROWS,
        }
    }
}

/// Why one section could not be produced; it becomes the section's note.
#[derive(Debug, thiserror::Error)]
pub enum SectionError {
    /// A query or the connection failed.
    #[error("{}", describe_pg(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// The analysis connection did not come up in time.
    #[error("connecting timed out after {CONNECT_TIMEOUT:?}")]
    ConnectTimeout,
    /// The extension reports a version this code cannot read.
    #[error("unsupported extension version {0:?}")]
    Unsupported(String),
}

/// A PostgreSQL error with its message and SQLSTATE, or its cause chain.
fn describe_pg(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// One line describing a section error.
fn describe(e: &SectionError) -> String {
    e.to_string()
}

/// One sidecar and whether it answered.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    /// The base URL given with `--proxy`.
    pub url: String,
    /// True when both API calls succeeded.
    pub ok: bool,
    /// Patterns it returned.
    pub patterns: usize,
    /// Findings it returned.
    pub findings: usize,
    /// Why it could not be read.
    pub error: Option<String>,
}

/// Top patterns over every sidecar, plus the statements in pg_stat_statements that no sidecar
/// saw (`source` says which).
#[derive(Debug, Clone, Default, Serialize)]
pub struct TopPatterns {
    /// True when at least one sidecar answered or pg_stat_statements had statements to add.
    pub available: bool,
    /// What could not be done and why.
    pub note: Option<String>,
    /// Each `--proxy` and what it returned.
    pub sources: Vec<Source>,
    /// Top N by total time.
    pub by_total: Vec<MergedPattern>,
    /// Top N by calls.
    pub by_calls: Vec<MergedPattern>,
    /// Top N by mean time.
    pub by_mean: Vec<MergedPattern>,
    /// Top N by slowest single run.
    pub by_max: Vec<MergedPattern>,
}

/// Findings over every sidecar, grouped.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Findings {
    /// True when at least one sidecar answered.
    pub available: bool,
    /// What could not be done and why.
    pub note: Option<String>,
    /// Grouped findings, by kind, most urgent first.
    pub rows: Vec<FindingGroup>,
}

/// Every section of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Sections {
    /// From the sidecars.
    pub top_patterns: TopPatterns,
    /// From the database.
    pub pg_stat_statements: PgssSection,
    /// From the database.
    pub unused_indexes: IndexSection<UnusedIndex>,
    /// From the database.
    pub duplicate_indexes: IndexSection<DuplicateIndex>,
    /// From the sidecars.
    pub findings: Findings,
    /// Observed patterns against the catalog's indexes.
    pub index_coverage: CoverageSection,
    /// Indexes to create, verified with hypopg when it is installed.
    pub index_suggestions: SuggestionSection,
}

/// The whole report, serialized as the documented JSON shape.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// [`JSON_VERSION`].
    pub version: u32,
    /// The sections.
    pub sections: Sections,
}

impl Report {
    /// True when a finding or an index problem is at or above `threshold` (unused and
    /// duplicate indexes and verified index suggestions count as warnings; unverified
    /// suggestions as info) — `--fail-on` exits with [`EXIT_FAIL_ON`] then.
    pub fn fails(&self, threshold: Severity) -> bool {
        let s = &self.sections;
        let indexes = !s.unused_indexes.rows.is_empty()
            || !s.duplicate_indexes.rows.is_empty()
            || s.index_suggestions.rows.iter().any(|r| r.verified);
        (indexes && Severity::Warning >= threshold)
            || s.findings.rows.iter().any(|f| f.severity >= threshold)
    }
}

/// Builds the report: reads every sidecar, then the database; never fails as a whole.
pub async fn build(opts: &ReportOptions) -> Report {
    let (mut top_patterns, findings, merged) = from_sidecars(&opts.proxies).await;
    let db = from_database(opts, &merged).await;
    rank(&mut top_patterns, merged, &db.pgss, opts.top);
    Report {
        version: JSON_VERSION,
        sections: Sections {
            top_patterns,
            pg_stat_statements: db.pgss,
            unused_indexes: db.unused,
            duplicate_indexes: db.duplicates,
            findings,
            index_coverage: db.coverage,
            index_suggestions: db.suggestions,
        },
    }
}

async fn from_sidecars(proxies: &[String]) -> (TopPatterns, Findings, Vec<MergedPattern>) {
    if proxies.is_empty() {
        let note = "no --proxy given: nothing observed by a sidecar to report".to_string();
        let top = TopPatterns { note: Some(note.clone()), ..TopPatterns::default() };
        return (top, Findings { note: Some(note), ..Findings::default() }, Vec::new());
    }
    let mut sources = Vec::new();
    let mut data = Vec::new();
    for url in proxies {
        let result = proxies::fetch(url).await;
        sources.push(source(url, &result));
        data.extend(result.ok());
    }
    let merged = proxies::merge_patterns(data.iter().map(|d| d.patterns.as_slice()));
    let groups = proxies::group_findings(data.iter().map(|d| d.findings.as_slice()));
    let note = sources_note(&sources);
    let available = !data.is_empty();
    let top_patterns =
        TopPatterns { available, note: note.clone(), sources, ..TopPatterns::default() };
    (top_patterns, Findings { available, note, rows: groups }, merged)
}

/// Fills the top lists from the sidecars' patterns plus the top-level pg_stat_statements rows
/// no sidecar saw (statements from clients that do not go through pgscope; statements run
/// inside functions and triggers are left out, as a sidecar never sees those).
fn rank(top: &mut TopPatterns, mut patterns: Vec<MergedPattern>, pgss: &PgssSection, n: usize) {
    let sidecar_ids: std::collections::HashSet<String> =
        patterns.iter().map(|p| p.id.clone()).collect();
    let mut unseen: Vec<MergedPattern> = Vec::new();
    let rows = pgss.rows.iter().filter(|r| {
        r.toplevel
            && r.queryid.is_some()
            && r.query != pgss::HIDDEN_TEXT
            && !sidecar_ids.contains(&r.pattern_id)
    });
    for row in rows {
        let at = match unseen.iter().position(|p| p.id == row.pattern_id) {
            Some(at) => at,
            None => {
                unseen.push(MergedPattern::new(&row.pattern_id, &row.query, "pg_stat_statements"));
                unseen.len() - 1
            }
        };
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        unseen[at].add(count(row.calls), row.total_ms, row.max_ms, count(row.rows), 0);
    }
    if !unseen.is_empty() {
        top.available = true;
        if top.sources.is_empty() {
            top.note = Some(
                "no --proxy given: the statements listed are pg_stat_statements' own, with \
                 server-side times"
                    .to_string(),
            );
        }
    }
    patterns.extend(unseen);
    top.by_total = proxies::top_by(&patterns, n, |p| p.total_ms);
    top.by_calls = proxies::top_by(&patterns, n, |p| p.calls as f64);
    top.by_mean = proxies::top_by(&patterns, n, |p| p.mean_ms);
    top.by_max = proxies::top_by(&patterns, n, |p| p.max_ms);
}

fn source(url: &str, result: &Result<proxies::SidecarData, SidecarError>) -> Source {
    let url = url.to_string();
    match result {
        Ok(d) => Source {
            url,
            ok: true,
            patterns: d.patterns.len(),
            findings: d.findings.len(),
            error: None,
        },
        Err(e) => Source { url, ok: false, patterns: 0, findings: 0, error: Some(e.to_string()) },
    }
}

/// Names every sidecar that could not be read, and why.
fn sources_note(sources: &[Source]) -> Option<String> {
    let failed: Vec<String> = sources
        .iter()
        .filter_map(|s| s.error.as_ref().map(|e| format!("sidecar {} unreachable: {e}", s.url)))
        .collect();
    (!failed.is_empty()).then(|| failed.join("; "))
}

/// The sections read from the database.
struct FromDatabase {
    pgss: PgssSection,
    unused: IndexSection<UnusedIndex>,
    duplicates: IndexSection<DuplicateIndex>,
    coverage: CoverageSection,
    suggestions: SuggestionSection,
}

async fn from_database(opts: &ReportOptions, merged: &[MergedPattern]) -> FromDatabase {
    let client = match &opts.analysis_url {
        None => Err("no --analysis-url (or PGSCOPE_ANALYSIS_URL) given".to_string()),
        Some(url) => {
            connect(url).await.map_err(|e| format!("cannot connect to the analysis database: {e}"))
        }
    };
    let client = match client {
        Ok(client) => client,
        Err(note) => {
            return FromDatabase {
                pgss: PgssSection::unavailable(note.clone()),
                unused: IndexSection::unavailable(note.clone()),
                duplicates: IndexSection::unavailable(note.clone()),
                coverage: CoverageSection::unavailable(note.clone()),
                suggestions: SuggestionSection::unavailable(note),
            };
        }
    };
    let pgss = pgss::read(&client, merged, opts.top, opts.interval).await;
    let unused = indexes::unused(&client, opts.unused_scans).await;
    let duplicates = indexes::duplicates(&client).await;
    let observed = observed(merged, &pgss);
    let mut catalog = catalog::Catalog::default();
    let (coverage, assessed) = coverage::assess_all(&client, &observed, &mut catalog).await;
    let suggestions = if coverage.available {
        let opts = suggest::SuggestOptions { min_rows: opts.min_rows };
        suggest::suggest(&client, &assessed, opts).await
    } else {
        SuggestionSection::unavailable("no index coverage, so nothing to suggest from")
    };
    FromDatabase { pgss, unused, duplicates, coverage, suggestions }
}

/// Every pattern the sidecars saw, then pg_stat_statements rows no sidecar saw.
fn observed(merged: &[MergedPattern], pgss: &PgssSection) -> Vec<Observed> {
    let mut out: Vec<Observed> = merged
        .iter()
        .map(|p| Observed {
            pattern_id: p.id.clone(),
            pattern: p.pattern.clone(),
            calls: p.calls,
            total_ms: p.total_ms,
            source: "sidecar",
        })
        .collect();
    for row in pgss.rows.iter().filter(|r| r.proxy_calls.is_none() && r.queryid.is_some()) {
        if row.query == pgss::HIDDEN_TEXT || out.iter().any(|o| o.pattern_id == row.pattern_id) {
            continue;
        }
        out.push(Observed {
            pattern_id: row.pattern_id.clone(),
            pattern: row.query.clone(),
            calls: u64::try_from(row.calls).unwrap_or(0),
            total_ms: row.total_ms,
            source: "pg_stat_statements",
        });
    }
    out
}

/// An ordinary client connection; the connection task ends when the client is dropped.
async fn connect(url: &str) -> Result<Client, SectionError> {
    let connecting = tokio_postgres::connect(url, NoTls);
    let (client, connection) = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| SectionError::ConnectTimeout)??;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "analysis connection ended");
        }
    });
    // Keep the report's own queries out of pg_stat_statements where allowed (superusers);
    // elsewhere they show up like any client's, which is harmless.
    if let Err(e) = client.batch_execute("SET pg_stat_statements.track = 'none'").await {
        tracing::debug!(error = %e, "report queries will appear in pg_stat_statements");
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::FindingKind;

    fn finding(severity: Severity) -> FindingGroup {
        FindingGroup {
            kind: FindingKind::Slow,
            severity,
            pattern_id: "p".into(),
            pattern: "SELECT 1".into(),
            rule_id: None,
            route: None,
            findings: 1,
            count: 1,
            duration_ms: 1.0,
            suggestion: String::new(),
        }
    }

    fn report_with(findings: Vec<FindingGroup>, unused: Vec<UnusedIndex>) -> Report {
        let none = || IndexSection::unavailable("none");
        Report {
            version: JSON_VERSION,
            sections: Sections {
                top_patterns: TopPatterns::default(),
                pg_stat_statements: PgssSection::default(),
                unused_indexes: IndexSection { available: true, note: None, rows: unused },
                duplicate_indexes: none(),
                findings: Findings { available: true, note: None, rows: findings },
                index_coverage: CoverageSection::default(),
                index_suggestions: SuggestionSection::default(),
            },
        }
    }

    #[test]
    fn fail_on_compares_severities() {
        let info = report_with(vec![finding(Severity::Info)], Vec::new());
        assert!(!info.fails(Severity::Warning));
        let critical = report_with(vec![finding(Severity::Critical)], Vec::new());
        assert!(critical.fails(Severity::Warning) && critical.fails(Severity::Critical));
    }

    #[test]
    fn index_problems_count_as_warnings() {
        let unused = UnusedIndex {
            schema: "public".into(),
            table: "t".into(),
            index: "t_a".into(),
            scans: 0,
            size_bytes: 8192,
            size: "8192 bytes".into(),
            definition: String::new(),
            drop: "DROP INDEX CONCURRENTLY public.t_a;".into(),
        };
        let report = report_with(Vec::new(), vec![unused]);
        assert!(report.fails(Severity::Warning));
        assert!(!report.fails(Severity::Critical));
    }

    fn pgss_row(pattern_id: &str, query: &str, calls: i64, max_ms: f64) -> PgssRow {
        let mut row = PgssRow::sample(calls, query, calls, 2.0 * calls as f64);
        row.pattern_id = pattern_id.into();
        row.max_ms = max_ms;
        row
    }

    #[test]
    fn top_lists_add_top_level_statements_only_pg_stat_statements_saw() {
        let seen = MergedPattern {
            id: "a".into(),
            pattern: "SELECT a".into(),
            calls: 10,
            total_ms: 5.0,
            mean_ms: 0.5,
            max_ms: 1.0,
            rows: 10,
            errors: 0,
            sidecars: 1,
            source: "sidecars",
        };
        let mut nested = pgss_row("n", "SELECT n", 500, 3.0);
        nested.toplevel = false;
        let mut hidden = pgss_row("h", pgss::HIDDEN_TEXT, 600, 4.0);
        hidden.queryid = None;
        let rows = vec![
            pgss_row("a", "SELECT a", 10, 9.0), // the sidecars' own: not counted twice
            pgss_row("b", "SELECT b", 3, 7.0),
            pgss_row("b", "SELECT b", 4, 8.0), // same pattern, another role
            nested,
            hidden,
        ];
        let pgss = PgssSection { available: true, rows, ..PgssSection::default() };
        let mut top = TopPatterns::default();
        rank(&mut top, vec![seen], &pgss, 10);
        assert!(top.available);
        assert!(top.note.as_deref().unwrap_or_default().contains("no --proxy"));
        let ids: Vec<&str> = top.by_calls.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        let b = &top.by_calls[1];
        assert_eq!((b.calls, b.total_ms, b.max_ms, b.sidecars), (7, 14.0, 8.0, 0));
        assert_eq!((b.mean_ms, b.source), (2.0, "pg_stat_statements"));
        assert_eq!(top.by_max[0].id, "b");
        assert_eq!(top.by_total[0].id, "b");
        assert_eq!(top.by_mean[0].id, "b");
    }
}
