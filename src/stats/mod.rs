//! Bounded per-pattern statistics: calls, timing (min/max/mean/stddev and percentiles), rows,
//! errors by SQLSTATE class, first and last seen.
//!
//! Fed by the analysis path one [`Observation`] at a time; read by the HTTP API through
//! [`StatsStore::top`], which copies out a snapshot.

mod entry;
mod rfc3339;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::fasthash::FastMap;

use entry::Entry;

pub use rfc3339::format_utc_millis;

/// Upper bounds (`le`) of the `/metrics` duration histogram buckets, in microseconds:
/// 0.5 ms to 30 s.
pub const METRIC_BOUNDS_US: [u64; 15] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000, 30_000_000,
];

/// Default bound on tracked patterns, like `pg_stat_statements.max`.
pub const DEFAULT_MAX_PATTERNS: usize = 5000;

/// Share of the bound evicted in one batch when the store is full (1/20 = 5%).
const EVICT_DIVISOR: usize = 20;

/// What the analysis path hands to the store for one statement (pattern already computed).
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// Pattern id, printed as 16 lowercase hex digits.
    pub pattern_id: u64,
    /// Normalized text, no literal values. Copied only when the pattern is new.
    pub pattern_text: &'a str,
    /// False if the pattern came from the fallback tokenizer rather than the SQL parser.
    pub parsed: bool,
    /// Execution time in microseconds.
    pub duration_us: u64,
    /// How the statement ended; errors are calls too, their duration is recorded.
    pub outcome: crate::event::Outcome,
    /// When the statement finished.
    pub at: SystemTime,
}

/// Bounded map from pattern id to running statistics.
///
/// Errors count as calls: unlike pg_stat_statements (which skips failed statements), an
/// errored statement is a call whose duration is still recorded, and it is also counted in
/// `errors` and `errors_by_class`.
///
/// Memory: about 13.6 KB per pattern plus its text. Almost all of it is the latency
/// histogram (3,328 `u32` counters for 1 µs .. 1 h at 2 significant digits = 13,312 bytes);
/// the fixed fields (with the 15 `/metrics` bucket counters) and key take 368 bytes, plus the
/// map's slot overhead. The default bound of 5000 patterns is therefore ~70 MB at most.
#[derive(Debug)]
pub struct StatsStore {
    entries: FastMap<u64, Entry>,
    max_patterns: usize,
    evictions: u64,
    /// Errors by SQLSTATE class since start, kept across evictions and resets (monotonic).
    errors_by_class: BTreeMap<[u8; 2], u64>,
}

/// One metrics series: a pattern among the top K by total time, or all others summed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeriesCounts {
    /// The pattern id (16 hex digits) or `other`.
    pub label: String,
    pub calls: u64,
    pub sum_us: u64,
    pub errors: u64,
    /// Executions at or below each bound of the request, cumulative.
    pub buckets: Vec<u64>,
}

/// What `/metrics` needs from the store, copied out under the lock.
#[derive(Debug, Clone, Default)]
pub struct MetricsSnapshot {
    pub series: Vec<SeriesCounts>,
    pub errors_by_class: BTreeMap<String, u64>,
    pub patterns: usize,
    pub evictions: u64,
}

/// Sort order for [`StatsStore::top`]; always descending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortKey {
    /// Total execution time.
    Total,
    /// Number of calls.
    Calls,
    /// Mean execution time.
    Mean,
    /// 99th percentile execution time.
    P99,
    /// Slowest single execution.
    Max,
}

impl SortKey {
    /// Every key, in the order the API documents them.
    pub const ALL: [SortKey; 5] =
        [SortKey::Total, SortKey::Calls, SortKey::Mean, SortKey::P99, SortKey::Max];

    /// The lowercase name used in the API (`total`, `calls`, `mean`, `p99`, `max`).
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Total => "total",
            SortKey::Calls => "calls",
            SortKey::Mean => "mean",
            SortKey::P99 => "p99",
            SortKey::Max => "max",
        }
    }

    /// The key with this exact lowercase name, if any.
    pub fn from_name(name: &str) -> Option<SortKey> {
        SortKey::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// One pattern's statistics as the API shows them. Times are milliseconds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PatternSummary {
    /// Pattern id, 16 lowercase hex digits.
    pub id: String,
    /// Normalized statement text.
    pub pattern: String,
    /// False if the pattern came from the fallback tokenizer.
    pub parsed: bool,
    /// Executions, errored ones included.
    pub calls: u64,
    pub total_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    /// Population standard deviation, as pg_stat_statements reports it.
    pub stddev_ms: f64,
    /// Percentiles from a histogram with 2 significant digits, capped at `max_ms`.
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// Rows returned or affected, summed over completed and suspended executions.
    pub rows: u64,
    /// Executions that ended in an ErrorResponse.
    pub errors: u64,
    /// Errors by SQLSTATE class (its first two characters, e.g. `"23"`).
    pub errors_by_class: BTreeMap<String, u64>,
    /// RFC 3339 UTC with milliseconds, e.g. `2026-11-22T04:40:00.123Z`.
    pub first_seen: String,
    pub last_seen: String,
}

impl Default for StatsStore {
    fn default() -> Self {
        StatsStore::new(DEFAULT_MAX_PATTERNS)
    }
}

impl StatsStore {
    /// An empty store tracking at most `max_patterns` patterns (at least one).
    pub fn new(max_patterns: usize) -> Self {
        StatsStore {
            entries: FastMap::default(),
            max_patterns: max_patterns.max(1),
            evictions: 0,
            errors_by_class: BTreeMap::new(),
        }
    }

    /// Adds one execution. O(1) amortized; allocates only for a new pattern (or the first
    /// error of a new SQLSTATE class for a pattern).
    pub fn record(&mut self, obs: &Observation<'_>) {
        if let crate::event::Outcome::Error { sqlstate } = obs.outcome {
            *self.errors_by_class.entry([sqlstate[0], sqlstate[1]]).or_default() += 1;
        }
        if let Some(entry) = self.entries.get_mut(&obs.pattern_id) {
            entry.record(obs);
            return;
        }
        if self.entries.len() >= self.max_patterns {
            self.evict_batch();
        }
        let mut entry = Entry::new(obs);
        entry.record(obs);
        self.entries.insert(obs.pattern_id, entry);
    }

    /// Number of patterns tracked now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no pattern is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Patterns evicted to stay within the bound since the store was created.
    /// Not cleared by [`StatsStore::reset`], so it can back a monotonic counter.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Snapshot rows sorted by key (descending), at most `limit`.
    /// Ties go to more calls, then to the lower id, so the order is deterministic.
    pub fn top(&self, sort: SortKey, limit: usize) -> Vec<PatternSummary> {
        let mut ranked: Vec<(f64, u64, u64, &Entry)> =
            self.entries.iter().map(|(id, e)| (sort_value(e, sort), e.calls, *id, e)).collect();
        let order = |a: &(f64, u64, u64, &Entry), b: &(f64, u64, u64, &Entry)| {
            b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2))
        };
        if limit < ranked.len() {
            if limit == 0 {
                return Vec::new();
            }
            ranked.select_nth_unstable_by(limit - 1, order);
            ranked.truncate(limit);
        }
        ranked.sort_unstable_by(order);
        ranked.iter().map(|(_, _, id, e)| e.summary(*id)).collect()
    }

    /// Per-pattern series for the `top_k` patterns by total time and one `other` series for
    /// the rest, with cumulative counts at each of [`METRIC_BOUNDS_US`].
    pub fn metrics_snapshot(&self, top_k: usize) -> MetricsSnapshot {
        let mut ranked: Vec<(&u64, &Entry)> = self.entries.iter().collect();
        ranked.sort_unstable_by(|a, b| b.1.total_us.cmp(&a.1.total_us).then(a.0.cmp(b.0)));
        let empty = |label: String| SeriesCounts {
            label,
            buckets: vec![0; METRIC_BOUNDS_US.len()],
            ..SeriesCounts::default()
        };
        let mut series = Vec::with_capacity(top_k.min(ranked.len()) + 1);
        let mut other = empty("other".into());
        for (i, (id, entry)) in ranked.into_iter().enumerate() {
            if i < top_k {
                let mut one = empty(format!("{id:016x}"));
                entry.add_to(&mut one);
                series.push(one);
            } else {
                entry.add_to(&mut other);
            }
        }
        for s in series.iter_mut().chain(std::iter::once(&mut other)) {
            for i in 1..s.buckets.len() {
                s.buckets[i] += s.buckets[i - 1];
            }
        }
        series.push(other);
        let class = |c: &[u8; 2]| String::from_utf8_lossy(c).into_owned();
        MetricsSnapshot {
            series,
            errors_by_class: self.errors_by_class.iter().map(|(c, n)| (class(c), *n)).collect(),
            patterns: self.entries.len(),
            evictions: self.evictions,
        }
    }

    /// Forgets every pattern. The eviction count is kept (see [`StatsStore::evictions`]).
    pub fn reset(&mut self) {
        self.entries.clear();
    }

    /// Drops the least valuable ~5% of patterns (lowest total time, then fewest calls) in
    /// one batch, so a full store pays for eviction once per `max/20` new patterns.
    fn evict_batch(&mut self) {
        let count = (self.max_patterns / EVICT_DIVISOR).max(1);
        let mut candidates: Vec<(u64, u64, u64)> =
            self.entries.iter().map(|(id, e)| (e.total_us, e.calls, *id)).collect();
        if count < candidates.len() {
            candidates.select_nth_unstable(count - 1);
            candidates.truncate(count);
        }
        for (_, _, id) in candidates {
            self.entries.remove(&id);
            self.evictions += 1;
        }
    }
}

/// The value `top` ranks by, as a float so one comparison serves every key.
fn sort_value(entry: &Entry, sort: SortKey) -> f64 {
    match sort {
        SortKey::Total => entry.total_us as f64,
        SortKey::Calls => entry.calls as f64,
        SortKey::Mean => entry.mean_us(),
        SortKey::P99 => entry.p99_us() as f64,
        SortKey::Max => entry.max_us() as f64,
    }
}
