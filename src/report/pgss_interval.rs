//! `pgscope report --interval`: two snapshots of pg_stat_statements an interval apart, and per
//! entry (userid, dbid, queryid, toplevel) what ran between them.
//!
//! A statistics reset between the snapshots is detected three ways: the extension's
//! `pg_stat_statements_info.stats_reset` moved (extension 1.9+, a full reset), an entry's
//! `stats_since` moved (1.11+, that entry was reset or evicted and re-created), or an entry's
//! counters went backwards. A full reset makes every row the second snapshot's absolute
//! values (all counted since the reset, so within the interval); an entry reset on its own
//! falls back the same way, alone. The note says which.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::SectionError;
use super::pgss::{CURRENT_DB, Found, PgssRow, Version, select_list, to_row};

/// What identifies one pg_stat_statements entry. PostgreSQL keeps top-level and nested
/// executions of a statement apart (`toplevel`, 1.8+), so the flag is part of the key.
/// Hidden rows (no privilege) have no queryid; those of one user are summed under one key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Key {
    pub userid: i64,
    pub dbid: i64,
    pub queryid: Option<i64>,
    pub toplevel: bool,
}

/// One entry as a snapshot saw it.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub key: Key,
    /// When the entry's statistics started (extension 1.11+).
    pub since: Option<String>,
    pub row: PgssRow,
}

/// All entries of the current database at one moment.
#[derive(Debug, Clone, Default)]
pub(super) struct Snapshot {
    /// `pg_stat_statements_info.stats_reset` (extension 1.9+).
    pub stats_reset: Option<String>,
    pub entries: Vec<Entry>,
}

/// Takes a snapshot, waits `interval`, takes another, and returns the top `limit` differences
/// by total time. `version` is the parsed extension version and its text.
pub(super) async fn read(
    client: &Client,
    (version, text): (Version, String),
    interval: Duration,
    limit: usize,
) -> Result<Found, SectionError> {
    let before = snapshot(client, version, false).await?;
    let started = Instant::now();
    tokio::time::sleep(interval).await;
    let after = snapshot(client, version, true).await?;
    let seconds = started.elapsed().as_secs_f64();
    let delta = diff(&before, &after, limit);
    let note = match &delta.reset {
        Some(reset) => format!("{reset}; {}", interval_note(seconds)),
        None => interval_note(seconds),
    };
    Ok(Found {
        version: text,
        rows: delta.rows,
        note: Some(note),
        interval_s: Some(seconds),
        reset: delta.reset.is_some(),
    })
}

fn interval_note(seconds: f64) -> String {
    format!(
        "counts are what ran during the {seconds:.1} s between two snapshots (--interval); the \
         proxy columns are the sidecars' totals"
    )
}

/// Reads every entry of the current database; query texts only when `texts` is set (the first
/// snapshot does not need them).
async fn snapshot(
    client: &Client,
    version: Version,
    texts: bool,
) -> Result<Snapshot, SectionError> {
    let stats_reset = if version >= Version(1, 9) {
        let sql = "SELECT stats_reset::text FROM pg_stat_statements_info";
        client.query_one(sql, &[]).await?.try_get(0)?
    } else {
        None
    };
    let since = if version >= Version(1, 11) { "stats_since::text" } else { "NULL::text" };
    let from = if texts { "pg_stat_statements" } else { "pg_stat_statements(false)" };
    let sql = format!(
        "SELECT userid::int8 AS userid, dbid::int8 AS dbid, {since} AS since, {} FROM {from} WHERE {CURRENT_DB}",
        select_list(version).join(", ")
    );
    let mut entries = Vec::new();
    for row in client.query(&sql, &[]).await? {
        let key = Key {
            userid: row.try_get("userid")?,
            dbid: row.try_get("dbid")?,
            queryid: row.try_get("queryid")?,
            toplevel: row.try_get("toplevel")?,
        };
        entries.push(Entry { key, since: row.try_get("since")?, row: to_row(&row)? });
    }
    Ok(Snapshot { stats_reset, entries })
}

/// The difference between two snapshots.
#[derive(Debug)]
pub(super) struct Delta {
    /// Entries that ran in between, top `limit` by total time.
    pub rows: Vec<PgssRow>,
    /// What reset was detected, for the note.
    pub reset: Option<String>,
}

/// What ran between `before` and `after`, falling back to `after`'s absolute values where a
/// reset happened in between.
pub(super) fn diff(before: &Snapshot, after: &Snapshot, limit: usize) -> Delta {
    let full_reset = after.stats_reset.is_some() && before.stats_reset != after.stats_reset;
    let reset_times = (before.stats_reset.as_deref(), after.stats_reset.as_deref());
    let before = summed(&before.entries);
    let mut entries_reset = 0;
    let mut rows: Vec<PgssRow> = Vec::new();
    for (key, (since, row)) in summed(&after.entries) {
        let old = before.get(&key).filter(|_| !full_reset);
        let row = match old {
            None => row,
            Some((old_since, _)) if *old_since != since => {
                entries_reset += 1;
                row
            }
            Some((_, old)) => minus(&row, old).unwrap_or_else(|| {
                entries_reset += 1;
                row
            }),
        };
        if row.calls > 0 {
            rows.push(row);
        }
    }
    rows.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
    rows.truncate(limit);
    let reset = if full_reset {
        let (from, to) = (reset_times.0.unwrap_or("never"), reset_times.1.unwrap_or_default());
        Some(format!(
            "pg_stat_statements was reset during the interval (stats_reset {from} -> {to}): \
             counts are the second snapshot's, since the reset"
        ))
    } else {
        (entries_reset > 0).then(|| {
            format!(
                "{entries_reset} entries were reset during the interval (counters went backwards \
                 or stats_since moved): their counts are the second snapshot's, since the reset"
            )
        })
    };
    Delta { rows, reset }
}

/// Entries by key; entries that share a key (hidden rows of one user) are summed.
fn summed(entries: &[Entry]) -> HashMap<Key, (Option<String>, PgssRow)> {
    let mut by_key: HashMap<Key, (Option<String>, PgssRow)> = HashMap::new();
    for e in entries {
        by_key
            .entry(e.key.clone())
            .and_modify(|(_, sum)| *sum = combine(sum, &e.row, 1))
            .or_insert_with(|| (e.since.clone(), e.row.clone()));
    }
    by_key
}

/// `after - before`, or `None` when a counter went backwards (the entry was reset).
fn minus(after: &PgssRow, before: &PgssRow) -> Option<PgssRow> {
    let d = combine(after, before, -1);
    let counts = [d.calls, d.rows, d.shared_blks_hit, d.shared_blks_read, d.temp_blks_read];
    let backwards = counts.iter().chain([&d.temp_blks_written]).any(|&c| c < 0)
        || d.parallel_workers_launched.is_some_and(|p| p < 0)
        || d.total_ms < -1e-6
        || d.blk_read_time_ms < -1e-6;
    (!backwards).then_some(d)
}

/// `a + sign * b` for every counter; text, ids and the sidecars' columns are `a`'s, the mean is
/// recomputed.
fn combine(a: &PgssRow, b: &PgssRow, sign: i64) -> PgssRow {
    let f = sign as f64;
    let calls = a.calls + sign * b.calls;
    let total_ms = a.total_ms + f * b.total_ms;
    PgssRow {
        calls,
        total_ms,
        mean_ms: if calls > 0 { total_ms / calls as f64 } else { 0.0 },
        rows: a.rows + sign * b.rows,
        shared_blks_hit: a.shared_blks_hit + sign * b.shared_blks_hit,
        shared_blks_read: a.shared_blks_read + sign * b.shared_blks_read,
        temp_blks_read: a.temp_blks_read + sign * b.temp_blks_read,
        temp_blks_written: a.temp_blks_written + sign * b.temp_blks_written,
        blk_read_time_ms: a.blk_read_time_ms + f * b.blk_read_time_ms,
        parallel_workers_launched: a
            .parallel_workers_launched
            .zip(b.parallel_workers_launched)
            .map(|(x, y)| x + sign * y)
            .or(a.parallel_workers_launched),
        ..a.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(queryid: i64, calls: i64, total_ms: f64, since: Option<&str>) -> Entry {
        let row = PgssRow::sample(queryid, &format!("SELECT {queryid}"), calls, total_ms);
        let key = Key { userid: 10, dbid: 5, queryid: Some(queryid), toplevel: true };
        Entry { key, since: since.map(str::to_string), row }
    }

    fn snap(stats_reset: Option<&str>, entries: Vec<Entry>) -> Snapshot {
        Snapshot { stats_reset: stats_reset.map(str::to_string), entries }
    }

    fn calls(delta: &Delta) -> Vec<(Option<i64>, i64)> {
        delta.rows.iter().map(|r| (r.queryid, r.calls)).collect()
    }

    #[test]
    fn counts_only_what_ran_in_between() {
        let before = snap(Some("t0"), vec![entry(1, 10, 100.0, None), entry(2, 5, 5.0, None)]);
        let after = snap(
            Some("t0"),
            vec![entry(1, 14, 180.0, None), entry(2, 5, 5.0, None), entry(3, 2, 1.0, None)],
        );
        let delta = diff(&before, &after, 10);
        assert_eq!(calls(&delta), [(Some(1), 4), (Some(3), 2)], "idle entry 2 is left out");
        let first = &delta.rows[0];
        assert_eq!((first.total_ms, first.mean_ms, first.rows), (80.0, 20.0, 4));
        assert_eq!(first.shared_blks_hit, 40);
        assert!(delta.reset.is_none());
        assert_eq!(diff(&before, &after, 1).rows.len(), 1, "top by total time");
    }

    #[test]
    fn a_full_reset_falls_back_to_absolute_values() {
        let before = snap(Some("t0"), vec![entry(1, 10, 100.0, None)]);
        let after = snap(Some("t1"), vec![entry(1, 12, 30.0, None)]);
        let delta = diff(&before, &after, 10);
        assert_eq!(calls(&delta), [(Some(1), 12)]);
        let note = delta.reset.expect("reset said");
        assert!(note.contains("stats_reset t0 -> t1"), "{note}");
    }

    #[test]
    fn an_entry_reset_alone_is_found_by_its_counters_or_stats_since() {
        let before = snap(None, vec![entry(1, 10, 100.0, None), entry(2, 3, 3.0, Some("s0"))]);
        let after = snap(None, vec![entry(1, 2, 4.0, None), entry(2, 9, 9.0, Some("s1"))]);
        let delta = diff(&before, &after, 10);
        assert_eq!(calls(&delta), [(Some(2), 9), (Some(1), 2)]);
        let note = delta.reset.expect("reset said");
        assert!(note.starts_with("2 entries were reset"), "{note}");
    }

    #[test]
    fn hidden_rows_of_one_user_are_summed() {
        let hidden = |calls| {
            let mut e = entry(0, calls, calls as f64, None);
            e.key.queryid = None;
            e
        };
        let before = snap(None, vec![hidden(3), hidden(4)]);
        let after = snap(None, vec![hidden(5), hidden(4)]);
        let delta = diff(&before, &after, 10);
        assert_eq!(delta.rows.iter().map(|r| r.calls).collect::<Vec<_>>(), [2]);
        assert!(delta.reset.is_none());
    }
}
