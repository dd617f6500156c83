//! pg_stat_statements, read according to the installed extension version, each row joined to
//! the sidecars' pattern by running pgscope's normalizer over its query text.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;
use tokio_postgres::Client;

use super::proxies::MergedPattern;
use super::{SectionError, describe, pgss_interval as interval};

/// The query text pg_stat_statements shows for other roles' statements without
/// `pg_read_all_stats`.
pub(super) const HIDDEN_TEXT: &str = "<insufficient privilege>";

/// An extension version, `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32);

impl Version {
    /// Parses `1.10`; anything else is `None`.
    pub fn parse(text: &str) -> Option<Version> {
        let (major, minor) = text.trim().split_once('.')?;
        Some(Version(major.parse().ok()?, minor.parse().ok()?))
    }
}

/// The columns to read for one extension version, as `expression AS name` SQL.
pub fn select_list(v: Version) -> Vec<String> {
    let (total, mean, max) = if v >= Version(1, 8) {
        ("total_exec_time", "mean_exec_time", "max_exec_time")
    } else {
        ("total_time", "mean_time", "max_time")
    };
    // 1.11 (PostgreSQL 17) split blk_read_time into shared_ and local_ variants.
    let read_time = if v >= Version(1, 11) { "shared_blk_read_time" } else { "blk_read_time" };
    // 1.9 (PostgreSQL 14) tells statements run inside functions and triggers from top-level ones.
    let toplevel = if v >= Version(1, 9) { "toplevel" } else { "true" };
    let mut cols = vec![
        "queryid::int8 AS queryid".to_string(),
        format!("{toplevel} AS toplevel"),
        "query::text AS query".to_string(),
        "calls::int8 AS calls".to_string(),
        format!("{total}::float8 AS total_ms"),
        format!("{mean}::float8 AS mean_ms"),
        format!("{max}::float8 AS max_ms"),
        "rows::int8 AS rows".to_string(),
        "shared_blks_hit::int8 AS shared_blks_hit".to_string(),
        "shared_blks_read::int8 AS shared_blks_read".to_string(),
        "temp_blks_read::int8 AS temp_blks_read".to_string(),
        "temp_blks_written::int8 AS temp_blks_written".to_string(),
        format!("{read_time}::float8 AS blk_read_time_ms"),
    ];
    // 1.12 (PostgreSQL 18) counts parallel workers.
    if v >= Version(1, 12) {
        cols.push("parallel_workers_launched::int8 AS parallel_workers_launched".to_string());
    }
    cols
}

/// One pg_stat_statements row beside what the sidecars measured for the same pattern.
#[derive(Debug, Clone, Serialize)]
pub struct PgssRow {
    /// PostgreSQL's query id (absent for hidden rows).
    pub queryid: Option<i64>,
    /// The query text as PostgreSQL normalized it.
    pub query: String,
    /// pgscope's pattern id for that text.
    pub pattern_id: String,
    /// Server-side executions.
    pub calls: i64,
    /// Server-side execution time, milliseconds.
    pub total_ms: f64,
    /// Server-side mean, milliseconds.
    pub mean_ms: f64,
    /// Slowest server-side execution since the entry was created or reset, milliseconds. With
    /// `--interval` too: a maximum cannot be differenced, so it is the second snapshot's.
    pub max_ms: f64,
    /// False for a statement run inside a function, trigger or extension script (only
    /// PostgreSQL 14 and later tell; before, every row is taken as top-level).
    pub toplevel: bool,
    /// Rows returned or affected.
    pub rows: i64,
    /// Shared buffer hits.
    pub shared_blks_hit: i64,
    /// Shared blocks read from disk or OS cache.
    pub shared_blks_read: i64,
    /// Temporary blocks read.
    pub temp_blks_read: i64,
    /// Temporary blocks written.
    pub temp_blks_written: i64,
    /// Time reading shared blocks (needs `track_io_timing`), milliseconds.
    pub blk_read_time_ms: f64,
    /// Parallel workers launched (extension 1.12 and later).
    pub parallel_workers_launched: Option<i64>,
    /// Executions the sidecars saw for this pattern, if they saw it.
    pub proxy_calls: Option<u64>,
    /// Mean time the sidecars measured (includes network time), milliseconds.
    pub proxy_mean_ms: Option<f64>,
}

#[cfg(test)]
impl PgssRow {
    /// A top-level row for tests: `calls` executions taking `total_ms`, one row each, ten
    /// buffer hits each, the maximum equal to the total; no pattern id, not joined.
    pub(super) fn sample(queryid: i64, query: &str, calls: i64, total_ms: f64) -> PgssRow {
        PgssRow {
            queryid: Some(queryid),
            query: query.to_string(),
            pattern_id: String::new(),
            calls,
            total_ms,
            mean_ms: total_ms / calls as f64,
            max_ms: total_ms,
            toplevel: true,
            rows: calls,
            shared_blks_hit: 10 * calls,
            shared_blks_read: 0,
            temp_blks_read: 0,
            temp_blks_written: 0,
            blk_read_time_ms: 0.0,
            parallel_workers_launched: None,
            proxy_calls: None,
            proxy_mean_ms: None,
        }
    }
}

/// The pg_stat_statements section: rows or the reason there are none.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PgssSection {
    /// True when the view was read.
    pub available: bool,
    /// What could not be done and why, or a caveat about the rows.
    pub note: Option<String>,
    /// The installed extension version.
    pub version: Option<String>,
    /// With `--interval`: the seconds measured between the two snapshots, and the rows are what
    /// ran between them. `None`: the rows are the totals since the last reset.
    pub interval_s: Option<f64>,
    /// With `--interval`: true when a statistics reset between the two snapshots was detected
    /// (the affected rows then show the second snapshot's absolute values).
    pub reset_during_interval: bool,
    /// Top rows by server-side total time.
    pub rows: Vec<PgssRow>,
}

impl PgssSection {
    /// A section that could not be read, saying why.
    pub fn unavailable(note: impl Into<String>) -> PgssSection {
        PgssSection { note: Some(note.into()), ..PgssSection::default() }
    }
}

/// Reads the top `limit` statements of the current database and joins them to `patterns`:
/// their totals, or with an `interval` what ran between two snapshots that far apart.
pub async fn read(
    client: &Client,
    patterns: &[MergedPattern],
    limit: usize,
    interval: Option<Duration>,
) -> PgssSection {
    match read_rows(client, limit, interval).await {
        Ok(Read::Missing(note)) => PgssSection::unavailable(note),
        Ok(Read::Rows(mut found)) => {
            join(&mut found.rows, patterns);
            let notes = [found.note, hidden_note(&found.rows)];
            let notes: Vec<String> = notes.into_iter().flatten().collect();
            PgssSection {
                available: true,
                note: (!notes.is_empty()).then(|| notes.join("; ")),
                version: Some(found.version),
                interval_s: found.interval_s,
                reset_during_interval: found.reset,
                rows: found.rows,
            }
        }
        Err(e) => PgssSection::unavailable(failure_note(&e)),
    }
}

enum Read {
    Missing(String),
    Rows(Found),
}

/// The rows read, and what the reader has to say about them.
pub(super) struct Found {
    /// The extension version as installed.
    pub version: String,
    /// Top rows by total time.
    pub rows: Vec<PgssRow>,
    /// A caveat about the rows.
    pub note: Option<String>,
    /// Seconds between the snapshots, with `--interval`.
    pub interval_s: Option<f64>,
    /// A reset between the snapshots was detected.
    pub reset: bool,
}

async fn read_rows(
    client: &Client,
    limit: usize,
    interval: Option<Duration>,
) -> Result<Read, SectionError> {
    let sql = "SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements'";
    let Some(row) = client.query_opt(sql, &[]).await? else {
        return Ok(Read::Missing(missing_note(client).await?));
    };
    let text: String = row.try_get(0)?;
    let version = Version::parse(&text).ok_or(SectionError::Unsupported(text.clone()))?;
    if let Some(interval) = interval {
        return Ok(Read::Rows(interval::read(client, (version, text), interval, limit).await?));
    }
    let sql = format!(
        "SELECT {} FROM pg_stat_statements WHERE {CURRENT_DB} ORDER BY 4 DESC LIMIT $1",
        select_list(version).join(", ")
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client.query(&sql, &[&limit]).await?;
    let rows = rows.iter().map(to_row).collect::<Result<Vec<_>, _>>()?;
    Ok(Read::Rows(Found { version: text, rows, note: None, interval_s: None, reset: false }))
}

async fn missing_note(client: &Client) -> Result<String, SectionError> {
    let sql = "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_stat_statements'";
    let available = client.query_opt(sql, &[]).await?.is_some();
    Ok(if available {
        "pg_stat_statements is not installed in this database: run CREATE EXTENSION \
         pg_stat_statements (it must also be in shared_preload_libraries)"
            .to_string()
    } else {
        "pg_stat_statements is not available on this server: install the contrib package, add \
         it to shared_preload_libraries and run CREATE EXTENSION pg_stat_statements"
            .to_string()
    })
}

/// The SQL condition that keeps the current database's rows.
pub(super) const CURRENT_DB: &str =
    "dbid = (SELECT oid FROM pg_database WHERE datname = current_database())";

/// One row of [`select_list`]'s columns, with pgscope's pattern id for its text.
pub(super) fn to_row(row: &tokio_postgres::Row) -> Result<PgssRow, tokio_postgres::Error> {
    let query: Option<String> = row.try_get("query")?;
    let query = query.unwrap_or_default();
    let pattern_id = crate::fingerprint::normalize(&query).id.to_string();
    Ok(PgssRow {
        queryid: row.try_get("queryid")?,
        pattern_id,
        query,
        calls: row.try_get("calls")?,
        total_ms: row.try_get("total_ms")?,
        mean_ms: row.try_get("mean_ms")?,
        max_ms: row.try_get("max_ms")?,
        toplevel: row.try_get("toplevel")?,
        rows: row.try_get("rows")?,
        shared_blks_hit: row.try_get("shared_blks_hit")?,
        shared_blks_read: row.try_get("shared_blks_read")?,
        temp_blks_read: row.try_get("temp_blks_read")?,
        temp_blks_written: row.try_get("temp_blks_written")?,
        blk_read_time_ms: row.try_get("blk_read_time_ms")?,
        parallel_workers_launched: row.try_get("parallel_workers_launched").ok().flatten(),
        proxy_calls: None,
        proxy_mean_ms: None,
    })
}

/// Fills in the sidecars' calls and mean for rows whose pattern they saw.
pub fn join(rows: &mut [PgssRow], patterns: &[MergedPattern]) {
    let by_id: HashMap<&str, &MergedPattern> =
        patterns.iter().map(|p| (p.id.as_str(), p)).collect();
    for row in rows.iter_mut().filter(|r| r.query != HIDDEN_TEXT) {
        if let Some(p) = by_id.get(row.pattern_id.as_str()) {
            row.proxy_calls = Some(p.calls);
            row.proxy_mean_ms = Some(p.mean_ms);
        }
    }
}

fn hidden_note(rows: &[PgssRow]) -> Option<String> {
    let hidden = rows.iter().filter(|r| r.query == HIDDEN_TEXT).count();
    (hidden > 0).then(|| {
        format!(
            "{hidden} of {} rows show {HIDDEN_TEXT}: this role may not read other roles' query \
             texts; GRANT pg_read_all_stats TO it to see them and join them to the patterns",
            rows.len()
        )
    })
}

fn failure_note(e: &SectionError) -> String {
    if let SectionError::Postgres(pg) = e
        && let Some(db) = pg.as_db_error()
    {
        if db.code().code() == "55000" {
            return format!(
                "pg_stat_statements is installed but not loaded: add it to \
                 shared_preload_libraries and restart PostgreSQL ({})",
                db.message()
            );
        }
        if db.code().code() == "42501" {
            return format!("permission denied reading pg_stat_statements: {}", db.message());
        }
    }
    format!("could not read pg_stat_statements: {}", describe(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(Version::parse("1.10"), Some(Version(1, 10)));
        assert!(Version(1, 10) > Version(1, 9));
        assert_eq!(Version::parse("ten"), None);
    }

    #[test]
    fn picks_columns_by_version() {
        let old = select_list(Version(1, 7)).join(", ");
        assert!(old.contains(", total_time::") && old.contains(", blk_read_time::"));
        assert!(old.contains(", max_time::"));
        let v10 = select_list(Version(1, 10)).join(", ");
        assert!(v10.contains("total_exec_time") && v10.contains(", blk_read_time::"));
        assert!(v10.contains(", max_exec_time::") && v10.contains("toplevel AS toplevel"));
        assert!(old.contains("true AS toplevel"));
        assert!(!v10.contains("parallel_workers"));
        let v11 = select_list(Version(1, 11)).join(", ");
        assert!(v11.contains("shared_blk_read_time") && !v11.contains(", blk_read_time::"));
        let v12 = select_list(Version(1, 12)).join(", ");
        assert!(v12.contains("parallel_workers_launched"));
    }
}
