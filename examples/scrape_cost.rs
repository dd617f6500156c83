//! Measures what one `/metrics` scrape costs with many live patterns.
//! Run: `cargo run --release --example scrape_cost [patterns]` (default 10000).

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use pgscope::detect::{DetectConfig, Detectors};
use pgscope::event::{EventCounters, Outcome};
use pgscope::metrics::{MetricSources, Metrics, detector_families};
use pgscope::proxy::ProxyCounters;
use pgscope::stats::{Observation, StatsStore};

fn main() {
    let patterns: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let mut store = StatsStore::new(patterns);
    let at = SystemTime::now();
    for id in 0..patterns as u64 {
        let text = format!("SELECT * FROM t{id} WHERE id = $1");
        for call in 0..20u64 {
            let outcome = Outcome::Done { rows: Some(1) };
            let obs = Observation {
                pattern_id: id,
                pattern_text: &text,
                parsed: true,
                duration_us: 50 + call * 37 + id % 1000,
                outcome,
                at,
            };
            store.record(&obs);
        }
    }
    let detectors =
        Arc::new(Mutex::new(Detectors::new(&DetectConfig::default()).expect("defaults are valid")));
    let stats = Arc::new(Mutex::new(store));
    let metrics = Metrics::new(MetricSources {
        stats: stats.clone(),
        proxy: Arc::new(ProxyCounters::default()),
        events: Arc::new(EventCounters::default()),
        top_k: 100,
        extra: Some(detector_families(detectors)),
    });
    let mut best = f64::MAX;
    let mut bytes = 0;
    for _ in 0..20 {
        let start = Instant::now();
        bytes = metrics.render().len();
        best = best.min(start.elapsed().as_secs_f64() * 1000.0);
    }
    println!("{patterns} patterns: one scrape renders {bytes} bytes in {best:.2} ms (best of 20)");
    // The part that holds the statistics lock (and so can delay the analysis thread): the
    // per-pattern snapshot.
    let mut held = f64::MAX;
    for _ in 0..20 {
        let start = Instant::now();
        let snapshot = stats.lock().expect("stats lock").metrics_snapshot(100);
        held = held.min(start.elapsed().as_secs_f64() * 1000.0);
        drop(snapshot);
    }
    println!("of which {held:.2} ms hold the statistics lock (best of 20)");
}
