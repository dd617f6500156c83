//! One pattern's running statistics.

use std::collections::BTreeMap;
use std::time::SystemTime;

use hdrhistogram::Histogram;

use super::rfc3339::format_utc_millis;
use super::{METRIC_BOUNDS_US, Observation, PatternSummary};
use crate::event::Outcome;

/// Highest duration the histogram resolves: one hour, in microseconds. Longer ones clamp.
const HIST_MAX_US: u64 = 3_600_000_000;
/// Significant digits kept by the histogram: percentiles are within 1% of the true value.
const HIST_SIGFIG: u8 = 2;

/// Running statistics for one pattern. Durations are in microseconds.
#[derive(Debug)]
pub(super) struct Entry {
    text: Box<str>,
    parsed: bool,
    pub(super) calls: u64,
    pub(super) total_us: u64,
    min_us: u64,
    max_us: u64,
    /// Welford's running mean and sum of squared deviations.
    mean_us: f64,
    m2: f64,
    hist: Histogram<u32>,
    /// Executions per `/metrics` bucket: `le_counts[i]` counts durations in
    /// (`METRIC_BOUNDS_US[i-1]`, `METRIC_BOUNDS_US[i]`]; past the last bound only `calls` counts
    /// them. Kept on record so that a scrape sums 15 numbers per pattern instead of walking
    /// its histogram.
    le_counts: [u64; METRIC_BOUNDS_US.len()],
    rows: u64,
    errors: u64,
    /// SQLSTATE class (first two bytes) → count; at most 36² classes exist, usually a handful.
    error_classes: Vec<([u8; 2], u64)>,
    first_seen: SystemTime,
    last_seen: SystemTime,
}

impl Entry {
    /// An empty entry for a pattern seen for the first time; this copies its text.
    pub(super) fn new(obs: &Observation<'_>) -> Self {
        Entry {
            text: obs.pattern_text.into(),
            parsed: obs.parsed,
            calls: 0,
            total_us: 0,
            min_us: u64::MAX,
            max_us: 0,
            mean_us: 0.0,
            m2: 0.0,
            hist: Histogram::new_with_bounds(1, HIST_MAX_US, HIST_SIGFIG)
                .expect("constant histogram bounds are valid"),
            le_counts: [0; METRIC_BOUNDS_US.len()],
            rows: 0,
            errors: 0,
            error_classes: Vec::new(),
            first_seen: obs.at,
            last_seen: obs.at,
        }
    }

    /// Adds one execution. Errors are calls too: their duration is recorded like any other.
    pub(super) fn record(&mut self, obs: &Observation<'_>) {
        self.record_duration(obs.duration_us);
        self.record_outcome(obs.outcome);
        self.first_seen = self.first_seen.min(obs.at);
        self.last_seen = self.last_seen.max(obs.at);
    }

    fn record_duration(&mut self, us: u64) {
        self.calls += 1;
        self.total_us = self.total_us.saturating_add(us);
        self.min_us = self.min_us.min(us);
        self.max_us = self.max_us.max(us);
        let x = us as f64;
        let delta = x - self.mean_us;
        self.mean_us += delta / self.calls as f64;
        self.m2 += delta * (x - self.mean_us);
        self.hist.saturating_record(us);
        if let Some(slot) = self.le_counts.get_mut(METRIC_BOUNDS_US.partition_point(|b| *b < us)) {
            *slot += 1;
        }
    }

    fn record_outcome(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Done { rows } => self.rows = self.rows.saturating_add(rows.unwrap_or(0)),
            Outcome::Suspended { rows } => self.rows = self.rows.saturating_add(rows),
            Outcome::Error { sqlstate } => self.record_error([sqlstate[0], sqlstate[1]]),
        }
    }

    fn record_error(&mut self, class: [u8; 2]) {
        self.errors += 1;
        match self.error_classes.iter_mut().find(|(c, _)| *c == class) {
            Some((_, n)) => *n += 1,
            None => self.error_classes.push((class, 1)),
        }
    }

    /// Mean duration in microseconds (0 before the first call).
    pub(super) fn mean_us(&self) -> f64 {
        self.mean_us
    }

    /// The slowest single execution in microseconds.
    pub(super) fn max_us(&self) -> u64 {
        self.max_us
    }

    /// The 99th percentile in microseconds, within histogram precision.
    pub(super) fn p99_us(&self) -> u64 {
        self.percentile_us(0.99)
    }

    /// A percentile in microseconds, capped at the exact maximum so that bucket rounding
    /// never reports more than was observed.
    fn percentile_us(&self, quantile: f64) -> u64 {
        self.hist.value_at_quantile(quantile).min(self.max_us)
    }

    /// A serializable snapshot of this entry.
    pub(super) fn summary(&self, id: u64) -> PatternSummary {
        PatternSummary {
            id: format!("{id:016x}"),
            pattern: self.text.to_string(),
            parsed: self.parsed,
            calls: self.calls,
            total_ms: ms(self.total_us as f64),
            min_ms: ms(if self.calls == 0 { 0.0 } else { self.min_us as f64 }),
            max_ms: ms(self.max_us as f64),
            mean_ms: ms(self.mean_us),
            stddev_ms: ms(self.stddev_us()),
            p50_ms: ms(self.percentile_us(0.50) as f64),
            p95_ms: ms(self.percentile_us(0.95) as f64),
            p99_ms: ms(self.p99_us() as f64),
            rows: self.rows,
            errors: self.errors,
            errors_by_class: self.errors_by_class(),
            first_seen: format_utc_millis(self.first_seen),
            last_seen: format_utc_millis(self.last_seen),
        }
    }

    /// Population standard deviation, as pg_stat_statements reports it.
    fn stddev_us(&self) -> f64 {
        if self.calls == 0 {
            return 0.0;
        }
        (self.m2 / self.calls as f64).max(0.0).sqrt()
    }

    fn errors_by_class(&self) -> BTreeMap<String, u64> {
        let class_name = |c: &[u8; 2]| String::from_utf8_lossy(c).into_owned();
        self.error_classes.iter().map(|(c, n)| (class_name(c), *n)).collect()
    }

    /// Adds this entry's calls, time, errors and per-bucket counts (one per
    /// [`METRIC_BOUNDS_US`] bound, not yet cumulative) to `series`.
    pub(super) fn add_to(&self, series: &mut super::SeriesCounts) {
        series.calls += self.calls;
        series.sum_us += self.total_us;
        series.errors += self.errors;
        for (sum, n) in series.buckets.iter_mut().zip(self.le_counts) {
            *sum += n;
        }
    }

    /// Heap bytes owned by this entry (text, histogram counts, error classes).
    #[cfg(test)]
    pub(super) fn heap_bytes(&self) -> usize {
        self.text.len()
            + self.hist.distinct_values() * std::mem::size_of::<u32>()
            + self.error_classes.capacity() * std::mem::size_of::<([u8; 2], u64)>()
    }
}

fn ms(us: f64) -> f64 {
    us / 1000.0
}
