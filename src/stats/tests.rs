use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::event::Outcome;

const DONE: Outcome = Outcome::Done { rows: Some(1) };

fn obs(id: u64, duration_us: u64, outcome: Outcome) -> Observation<'static> {
    Observation {
        pattern_id: id,
        pattern_text: "SELECT * FROM t WHERE id = $1",
        parsed: true,
        duration_us,
        outcome,
        at: UNIX_EPOCH + Duration::from_secs(1_795_322_400),
    }
}

fn only(store: &StatsStore) -> PatternSummary {
    let mut rows = store.top(SortKey::Total, 10);
    assert_eq!(rows.len(), 1);
    rows.remove(0)
}

fn close(actual: f64, expected: f64, tolerance: f64) -> bool {
    (actual - expected).abs() <= tolerance
}

#[test]
fn mean_stddev_min_max_total() {
    let mut store = StatsStore::new(10);
    for us in [2000, 4000, 4000, 4000, 5000, 5000, 7000, 9000] {
        store.record(&obs(7, us, DONE));
    }
    let s = only(&store);
    assert_eq!(s.id, "0000000000000007");
    assert_eq!(s.calls, 8);
    assert_eq!(s.total_ms, 40.0);
    assert_eq!((s.min_ms, s.max_ms), (2.0, 9.0));
    assert!(close(s.mean_ms, 5.0, 1e-9));
    assert!(close(s.stddev_ms, 2.0, 1e-9), "population stddev: {}", s.stddev_ms);
}

#[test]
fn single_call_has_zero_stddev_and_exact_percentiles() {
    let mut store = StatsStore::new(10);
    store.record(&obs(1, 1234, DONE));
    let s = only(&store);
    assert_eq!(s.stddev_ms, 0.0);
    assert_eq!((s.p50_ms, s.p95_ms, s.p99_ms), (1.234, 1.234, 1.234));
}

#[test]
fn percentiles_within_histogram_precision() {
    let mut store = StatsStore::new(10);
    for us in 1..=10_000 {
        store.record(&obs(1, us, DONE));
    }
    let s = only(&store);
    // Two significant digits: each value is within 1% of the exact percentile.
    assert!(close(s.p50_ms, 5.0, 0.05), "p50 {}", s.p50_ms);
    assert!(close(s.p95_ms, 9.5, 0.095), "p95 {}", s.p95_ms);
    assert!(close(s.p99_ms, 9.9, 0.099), "p99 {}", s.p99_ms);
}

#[test]
fn durations_beyond_an_hour_clamp_in_histogram_only() {
    let mut store = StatsStore::new(10);
    store.record(&obs(1, 7_200_000_000, DONE));
    let s = only(&store);
    assert_eq!(s.max_ms, 7_200_000.0);
    assert!(close(s.p99_ms, 3_600_000.0, 36_000.0), "p99 {}", s.p99_ms);
}

#[test]
fn rows_sum_done_and_suspended() {
    let mut store = StatsStore::new(10);
    store.record(&obs(1, 10, Outcome::Done { rows: Some(5) }));
    store.record(&obs(1, 10, Outcome::Done { rows: None }));
    store.record(&obs(1, 10, Outcome::Suspended { rows: 100 }));
    store.record(&obs(1, 10, Outcome::Error { sqlstate: *b"57014" }));
    let s = only(&store);
    assert_eq!(s.rows, 105);
    assert_eq!(s.calls, 4);
}

#[test]
fn errors_are_calls_counted_by_class() {
    let mut store = StatsStore::new(10);
    for state in [b"23505", b"23503", b"42P01", b"23505"] {
        store.record(&obs(1, 1000, Outcome::Error { sqlstate: *state }));
    }
    store.record(&obs(1, 1000, DONE));
    let s = only(&store);
    assert_eq!((s.calls, s.errors), (5, 4));
    assert_eq!(s.total_ms, 5.0);
    let expected = BTreeMap::from([("23".to_string(), 3), ("42".to_string(), 1)]);
    assert_eq!(s.errors_by_class, expected);
}

#[test]
fn first_and_last_seen_track_extremes() {
    let mut store = StatsStore::new(10);
    let mut late = obs(1, 10, DONE);
    late.at += Duration::from_millis(2500);
    store.record(&late);
    store.record(&obs(1, 10, DONE));
    let s = only(&store);
    assert_eq!(s.first_seen, "2026-11-22T04:40:00.000Z");
    assert_eq!(s.last_seen, "2026-11-22T04:40:02.500Z");
}

#[test]
fn text_and_parsed_come_from_first_sighting() {
    let mut store = StatsStore::new(10);
    let mut first = obs(1, 10, DONE);
    first.parsed = false;
    store.record(&first);
    store.record(&Observation { pattern_text: "other", parsed: true, ..first });
    let s = only(&store);
    assert_eq!(s.pattern, "SELECT * FROM t WHERE id = $1");
    assert!(!s.parsed);
}

/// Fills a store of 100 with patterns 0..100 whose total time grows with the id.
fn full_store() -> StatsStore {
    let mut store = StatsStore::new(100);
    for id in 0..100 {
        store.record(&obs(id, 1000 + id, DONE));
    }
    store
}

#[test]
fn eviction_drops_least_total_time_in_one_batch() {
    let mut store = full_store();
    assert_eq!((store.len(), store.evictions()), (100, 0));
    store.record(&obs(1000, 1, DONE));
    assert_eq!((store.len(), store.evictions()), (96, 5));
    let ids: Vec<String> = store.top(SortKey::Total, 1000).into_iter().map(|s| s.id).collect();
    for evicted in 0..5u64 {
        assert!(!ids.contains(&format!("{evicted:016x}")));
    }
    assert!(ids.contains(&format!("{:016x}", 5)));
    assert!(ids.contains(&format!("{:016x}", 1000)), "the newcomer is kept");
}

#[test]
fn eviction_ties_break_on_fewest_calls() {
    let mut store = StatsStore::new(2);
    store.record(&obs(1, 100, DONE));
    store.record(&obs(2, 50, DONE));
    store.record(&obs(2, 50, DONE));
    store.record(&obs(3, 1, DONE));
    let ids: Vec<String> = store.top(SortKey::Calls, 10).into_iter().map(|s| s.id).collect();
    assert_eq!(ids, [format!("{:016x}", 2), format!("{:016x}", 3)]);
    assert_eq!(store.evictions(), 1);
}

#[test]
fn hits_on_a_full_store_do_not_evict() {
    let mut store = full_store();
    store.record(&obs(0, 1, DONE));
    assert_eq!((store.len(), store.evictions()), (100, 0));
}

fn ids(rows: &[PatternSummary]) -> Vec<u64> {
    rows.iter().map(|s| u64::from_str_radix(&s.id, 16).expect("hex id")).collect()
}

/// Pattern 1: many fast calls. 2: one slow call. 3: a few calls with one slow outlier.
fn mixed_store() -> StatsStore {
    let mut store = StatsStore::new(10);
    for _ in 0..100 {
        store.record(&obs(1, 100, DONE));
    }
    store.record(&obs(2, 50_000, DONE));
    for us in [10, 10, 10, 30_000] {
        store.record(&obs(3, us, DONE));
    }
    store
}

#[test]
fn sort_orders_are_descending_per_key() {
    let store = mixed_store();
    assert_eq!(ids(&store.top(SortKey::Total, 10)), [2, 3, 1]);
    assert_eq!(ids(&store.top(SortKey::Calls, 10)), [1, 3, 2]);
    assert_eq!(ids(&store.top(SortKey::Mean, 10)), [2, 3, 1]);
    assert_eq!(ids(&store.top(SortKey::P99, 10)), [2, 3, 1]);
    assert_eq!(ids(&store.top(SortKey::Max, 10)), [2, 3, 1]);
}

/// Pattern 1: a steady 10 ms, 100 times. Pattern 2: 100 runs of 1 ms, except the first
/// `spikes`, which take `spike_us`.
fn steady_and_spiky(spikes: usize, spike_us: u64) -> StatsStore {
    let mut store = StatsStore::new(10);
    for _ in 0..100 {
        store.record(&obs(1, 10_000, DONE));
    }
    for i in 0..100 {
        store.record(&obs(2, if i < spikes { spike_us } else { 1000 }, DONE));
    }
    store
}

#[test]
fn slowest_single_run_ranks_apart_from_mean() {
    // One 80 ms run: pattern 2's mean is 1.79 ms.
    let store = steady_and_spiky(1, 80_000);
    assert_eq!(ids(&store.top(SortKey::Mean, 10)), [1, 2]);
    assert_eq!(ids(&store.top(SortKey::Max, 10)), [2, 1]);
}

#[test]
fn p99_and_mean_can_disagree() {
    // 2% at 200 ms: pattern 2's mean is 4.98 ms.
    let store = steady_and_spiky(2, 200_000);
    assert_eq!(ids(&store.top(SortKey::Mean, 10)), [1, 2]);
    assert_eq!(ids(&store.top(SortKey::P99, 10)), [2, 1]);
}

#[test]
fn limit_truncates_and_zero_is_empty() {
    let store = mixed_store();
    assert_eq!(ids(&store.top(SortKey::Calls, 2)), [1, 3]);
    assert!(store.top(SortKey::Calls, 0).is_empty());
    assert_eq!(store.top(SortKey::Calls, usize::MAX).len(), 3);
}

#[test]
fn ties_are_deterministic() {
    let mut store = StatsStore::new(10);
    for id in [9, 3, 5] {
        store.record(&obs(id, 100, DONE));
    }
    assert_eq!(ids(&store.top(SortKey::Total, 10)), [3, 5, 9]);
}

#[test]
fn reset_clears_patterns_but_keeps_evictions() {
    let mut store = full_store();
    store.record(&obs(1000, 1, DONE));
    store.reset();
    assert!(store.is_empty());
    assert_eq!(store.evictions(), 5);
}

#[test]
fn sort_key_names_round_trip() {
    for key in SortKey::ALL {
        assert_eq!(SortKey::from_name(key.as_str()), Some(key));
    }
    assert_eq!(SortKey::from_name("Total"), None);
    let key: SortKey = serde_json::from_str("\"p99\"").expect("valid key");
    assert_eq!(key, SortKey::P99);
}

#[test]
fn memory_per_pattern_matches_doc_comment() {
    let entry = Entry::new(&obs(1, 1, DONE));
    let histogram = entry.heap_bytes() - "SELECT * FROM t WHERE id = $1".len();
    assert_eq!(histogram, 13_312, "update the StatsStore doc comment");
    let fixed = std::mem::size_of::<Entry>() + std::mem::size_of::<u64>();
    assert!(fixed <= 368, "fixed part {fixed} bytes: update the doc comment");
}

#[test]
fn metrics_snapshot_keeps_top_k_and_sums_the_rest() {
    let mut store = StatsStore::new(100);
    let at = std::time::SystemTime::now();
    let obs = |id: u64, us: u64, outcome| Observation {
        pattern_id: id,
        pattern_text: "x",
        parsed: true,
        duration_us: us,
        outcome,
        at,
    };
    let ok = crate::event::Outcome::Done { rows: Some(1) };
    for _ in 0..3 {
        store.record(&obs(1, 10_000, ok)); // 30 ms in all: the top pattern
    }
    store.record(&obs(2, 500, ok)); // exactly on the first bound: `le` counts it
    store.record(&obs(3, 2_000, crate::event::Outcome::Error { sqlstate: *b"23505" }));
    store.record(&obs(3, 40_000_000, ok)); // past the last bound: only in calls (+Inf)
    let snap = store.metrics_snapshot(1);
    assert_eq!(snap.series.len(), 2);
    let top = &snap.series[0];
    assert_eq!((top.label.as_str(), top.calls, top.sum_us), ("0000000000000003", 2, 40_002_000));
    // Bounds: 0.5, 1, 2.5, 5, 10 ms, ...
    assert_eq!(top.buckets[..5], [0, 0, 1, 1, 1]);
    assert_eq!(top.buckets[14], 1);
    let other = &snap.series[1];
    assert_eq!((other.label.as_str(), other.calls, other.errors), ("other", 4, 0));
    assert_eq!(other.buckets[..5], [1, 1, 1, 1, 4]);
    assert_eq!(other.buckets[14], 4);
    assert_eq!(snap.errors_by_class.get("23"), Some(&1));
    assert_eq!(snap.patterns, 3);
}
