//! Prometheus metrics: a collector that reads the statistics store and the data-path counters
//! at scrape time, registered in a `prometheus` registry with the process collector.
//!
//! Per-pattern series carry one label, the pattern id; only the top K patterns by total time
//! get their own series and the rest are summed under `pattern="other"`, so cardinality stays
//! bounded however many patterns the app has. A pattern that climbs into the top K moves its
//! counts out of `other`, which Prometheus sees as a counter reset of `other`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};
use prometheus::{Encoder, Registry, TextEncoder};

use crate::event::EventCounters;
use crate::proxy::ProxyCounters;
use crate::stats::{METRIC_BOUNDS_US, SeriesCounts, StatsStore};

/// Extra families from other subsystems (findings), built at scrape time.
pub type ExtraFamilies = Arc<dyn Fn() -> Vec<MetricFamily> + Send + Sync>;

/// Everything `/metrics` reads.
#[derive(Clone)]
pub struct MetricSources {
    pub stats: Arc<Mutex<StatsStore>>,
    pub proxy: Arc<ProxyCounters>,
    pub events: Arc<EventCounters>,
    /// Patterns that get their own series.
    pub top_k: usize,
    pub extra: Option<ExtraFamilies>,
}

/// The registry behind `/metrics`.
pub struct Metrics {
    registry: Registry,
}

impl Metrics {
    pub fn new(sources: MetricSources) -> Metrics {
        let registry = Registry::new();
        let collector = PgscopeCollector { sources, descs: Vec::new() };
        registry.register(Box::new(collector)).expect("one pgscope collector per registry");
        let process = prometheus::process_collector::ProcessCollector::for_self();
        registry.register(Box::new(process)).expect("one process collector per registry");
        Metrics { registry }
    }

    /// The Prometheus text exposition of every family.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let families = self.registry.gather();
        if TextEncoder::new().encode(&families, &mut out).is_err() {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

struct PgscopeCollector {
    sources: MetricSources,
    descs: Vec<Desc>,
}

impl Collector for PgscopeCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let snapshot = {
            let store = self.sources.stats.lock().unwrap_or_else(PoisonError::into_inner);
            store.metrics_snapshot(self.sources.top_k)
        };
        let mut families = pattern_families(&snapshot.series);
        families.push(counter(
            "pgscope_query_errors_total",
            "Statements that ended in an ErrorResponse, by SQLSTATE class.",
            labelled("sqlstate_class", &snapshot.errors_by_class),
        ));
        families.push(gauge("pgscope_patterns", "Patterns tracked now.", snapshot.patterns as f64));
        families.push(counter_value(
            "pgscope_patterns_evicted_total",
            "Patterns evicted to stay within analysis.max_patterns.",
            snapshot.evictions as f64,
        ));
        families.extend(self.data_path_families());
        if let Some(extra) = &self.sources.extra {
            families.extend(extra());
        }
        families
    }
}

impl PgscopeCollector {
    fn data_path_families(&self) -> Vec<MetricFamily> {
        let p = &self.sources.proxy;
        let e = &self.sources.events;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        let by = |label: &str, pairs: [(&str, &AtomicU64); 2]| {
            pairs.iter().map(|(v, a)| (vec![(label.to_string(), v.to_string())], load(a))).collect()
        };
        let single: [(&str, &str, &AtomicU64); 12] = [
            ("pgscope_client_connections_total", "Client connections accepted.", &p.clients_total),
            (
                "pgscope_client_connections_refused_total",
                "Client connections refused at proxy.max_client_connections.",
                &p.clients_refused,
            ),
            (
                "pgscope_protocol_errors_total",
                "Connections ended for a malformed message or startup packet.",
                &p.protocol_errors,
            ),
            (
                "pgscope_upstream_connect_errors_total",
                "Failed connections to the upstream.",
                &p.upstream_connect_errors,
            ),
            (
                "pgscope_sessions_untracked_total",
                "Sessions whose pending-reply bound was hit; still forwarded, no longer analysed.",
                &p.sessions_untracked,
            ),
            ("pgscope_events_total", "Statement events handed to the analysis path.", &e.sent),
            (
                "pgscope_events_dropped_total",
                "Statement events dropped because the analysis queue was full.",
                &e.dropped,
            ),
            (
                "pgscope_events_analyzed_total",
                "Statement events the analysis path has finished with (events_total minus this is the queue).",
                &e.analyzed,
            ),
            (
                "pgscope_events_returned_overflow_total",
                "Analysed statement events their relay thread had no room to take back (up to 16384 wait per relay thread), so the analysis thread freed them; nothing is lost.",
                &e.returns_overflowed,
            ),
            (
                "pgscope_fingerprint_memo_evictions_total",
                "Patterns dropped from the fingerprint memo to keep it within analysis.memo_capacity (they are normalized again when seen).",
                &e.memo_evictions,
            ),
            (
                "pgscope_fingerprint_exact_memo_evictions_total",
                "Statement texts dropped from the exact-text memo in front of the fingerprint memo, to keep it within analysis.memo_capacity (they are found again through the fingerprint memo).",
                &e.exact_memo_evictions,
            ),
            (
                "pgscope_fingerprint_template_memo_evictions_total",
                "Statement texts dropped from the template memo in front of the fingerprint memo (at most 2048 texts), for texts with literals (they are found again through the fingerprint memo).",
                &e.template_memo_evictions,
            ),
        ];
        let mut families: Vec<MetricFamily> =
            single.iter().map(|(name, help, a)| counter_value(name, help, load(a))).collect();
        families.push(gauge(
            "pgscope_client_connections",
            "Client connections open now.",
            load(&p.clients_current),
        ));
        families.push(counter(
            "pgscope_received_bytes_total",
            "Bytes read and forwarded, by the side that sent them.",
            by("from", [("client", &p.bytes_from_clients), ("server", &p.bytes_from_server)]),
        ));
        families.push(counter(
            "pgscope_cancel_requests_total",
            "CancelRequests sent upstream: forwarded from a client, or for a client that left mid-query.",
            by("reason", [("client", &p.cancels_forwarded), ("disconnect", &p.cancels_on_disconnect)]),
        ));
        families
    }
}

/// `pgscope_queries_total`, `pgscope_pattern_errors_total` and
/// `pgscope_query_duration_seconds`, one series per top pattern plus `other`.
fn pattern_families(series: &[SeriesCounts]) -> Vec<MetricFamily> {
    let label = |s: &SeriesCounts| vec![("pattern".to_string(), s.label.clone())];
    let calls = series.iter().map(|s| (label(s), s.calls as f64)).collect();
    let errors = series.iter().map(|s| (label(s), s.errors as f64)).collect();
    let mut histogram = family(
        "pgscope_query_duration_seconds",
        "Statement execution time seen on the wire, by pattern.",
        MetricType::HISTOGRAM,
    );
    for s in series {
        let mut h = proto::Histogram::default();
        h.set_sample_count(s.calls);
        h.set_sample_sum(s.sum_us as f64 / 1e6);
        let buckets = METRIC_BOUNDS_US
            .iter()
            .zip(&s.buckets)
            .map(|(bound_us, count)| {
                let mut b = proto::Bucket::default();
                b.set_upper_bound(*bound_us as f64 / 1e6);
                b.set_cumulative_count(*count);
                b
            })
            .collect();
        h.set_bucket(buckets);
        let mut m = proto::Metric::from_label(label_pairs(&label(s)));
        m.set_histogram(h);
        histogram.mut_metric().push(m);
    }
    vec![
        counter("pgscope_queries_total", "Statements executed, by pattern.", calls),
        counter("pgscope_pattern_errors_total", "Statements that failed, by pattern.", errors),
        histogram,
    ]
}

type Sample = (Vec<(String, String)>, f64);

fn labelled(label: &str, values: &BTreeMap<String, u64>) -> Vec<Sample> {
    values.iter().map(|(k, v)| (vec![(label.to_string(), k.clone())], *v as f64)).collect()
}

fn family(name: &str, help: &str, kind: MetricType) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.to_string());
    f.set_help(help.to_string());
    f.set_field_type(kind);
    f
}

/// A counter family with one sample per label set.
pub fn counter(name: &str, help: &str, samples: Vec<Sample>) -> MetricFamily {
    let mut f = family(name, help, MetricType::COUNTER);
    for (labels, value) in samples {
        let mut c = proto::Counter::default();
        c.set_value(value);
        let mut m = proto::Metric::from_label(label_pairs(&labels));
        m.set_counter(c);
        f.mut_metric().push(m);
    }
    f
}

/// A counter family with a single unlabelled sample.
pub fn counter_value(name: &str, help: &str, value: f64) -> MetricFamily {
    counter(name, help, vec![(vec![], value)])
}

/// A gauge family with a single unlabelled sample.
pub fn gauge(name: &str, help: &str, value: f64) -> MetricFamily {
    let mut f = family(name, help, MetricType::GAUGE);
    let mut g = proto::Gauge::default();
    g.set_value(value);
    let mut m = proto::Metric::default();
    m.set_gauge(g);
    f.mut_metric().push(m);
    f
}

fn label_pairs(labels: &[(String, String)]) -> Vec<proto::LabelPair> {
    labels
        .iter()
        .map(|(k, v)| {
            let mut l = proto::LabelPair::default();
            l.set_name(k.clone());
            l.set_value(v.clone());
            l
        })
        .collect()
}

/// Findings and detector-state families, read from the detectors at scrape time.
pub fn detector_families(detectors: Arc<Mutex<crate::detect::Detectors>>) -> ExtraFamilies {
    use crate::detect::FindingKind;
    Arc::new(move || {
        let d = detectors.lock().unwrap_or_else(PoisonError::into_inner);
        let store = d.findings();
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        let mut by_kind = Vec::new();
        let mut slow = Vec::new();
        let mut n_plus_one = 0.0;
        for (kind, severity, n) in store.counts() {
            let labels = vec![pair("kind", kind.as_str()), pair("severity", severity.as_str())];
            by_kind.push((labels, n as f64));
            match kind {
                FindingKind::Slow => {
                    slow.push((vec![pair("severity", severity.as_str())], n as f64))
                }
                FindingKind::NPlusOne => n_plus_one += n as f64,
                _ => {}
            }
        }
        let evictions = d
            .evictions()
            .into_iter()
            .map(|(name, n)| (vec![pair("detector", name)], n as f64))
            .collect();
        vec![
            counter("pgscope_findings_total", "Findings reported, by kind and severity.", by_kind),
            counter("pgscope_slow_queries_total", "Slow-query findings, by severity.", slow),
            counter_value("pgscope_n_plus_one_total", "N+1 bursts found.", n_plus_one),
            counter_value(
                "pgscope_findings_dropped_total",
                "Findings pushed out of the bounded per-kind rings.",
                store.dropped() as f64,
            ),
            counter(
                "pgscope_detector_evictions_total",
                "Entries of bounded detector state evicted (connections, patterns).",
                evictions,
            ),
            counter_value(
                "pgscope_routes_overflow_total",
                "Statements counted under route \"other\" because routes.max_routes was reached.",
                d.routes().overflow() as f64,
            ),
        ]
    })
}
