use std::collections::BTreeMap;

use super::*;
use crate::detect::config::{SlowConfig, Thresholds};
use crate::detect::slow::{SlowDetector, mentions_word};
use crate::detect::{FindingKind, Severity};

const BY_ID: &str = "SELECT * FROM orders WHERE id = $1";

fn harness(config: SlowConfig) -> Harness<SlowDetector> {
    Harness::new(SlowDetector::new(&config).expect("valid config"))
}

fn severity_of(h: &mut Harness<SlowDetector>, stmt: &Stmt) -> Option<Severity> {
    let found = h.run(1, stmt);
    assert!(found.len() <= 1, "{found:#?}");
    found.first().map(|f| f.severity)
}

#[test]
fn warn_and_critical_thresholds() {
    let mut h = harness(SlowConfig::default());
    let cases = [
        (499_999, None),
        (500_000, Some(Severity::Warning)),
        (1_999_999, Some(Severity::Warning)),
        (2_000_000, Some(Severity::Critical)),
        (60_000_000, Some(Severity::Critical)),
    ];
    for (us, expected) in cases {
        assert_eq!(severity_of(&mut h, &bound(BY_ID, 1, 0).us(us)), expected, "{us} us");
    }
}

#[test]
fn slow_finding_carries_pattern_duration_and_route() {
    let mut h = harness(SlowConfig::default());
    let found = h.run(9, &bound(BY_ID, 1, 750).route("orders#show"));
    let f = only(&found);
    assert_eq!((f.kind, f.count, f.duration_ms), (FindingKind::Slow, 1, 750.0));
    assert_eq!((f.pattern.as_str(), f.conn_id), (BY_ID, 9));
    assert_eq!((f.route.as_deref(), f.application_name.as_str()), (Some("orders#show"), "web"));
    assert_eq!(f.at, "2026-11-22T04:40:00.750Z");
    assert!(f.suggestion.contains("EXPLAIN"), "{}", f.suggestion);
    assert_eq!((f.parent_pattern.as_deref(), f.rule_id.as_deref()), (None, None));
}

#[test]
fn errors_and_suspended_executions_count_too() {
    let mut h = harness(SlowConfig::default());
    let canceled =
        Stmt { outcome: Outcome::Error { sqlstate: *b"57014" }, ..bound(BY_ID, 1, 3000) };
    assert_eq!(severity_of(&mut h, &canceled), Some(Severity::Critical));
    let suspended = Stmt { outcome: Outcome::Suspended { rows: 100 }, ..bound(BY_ID, 1, 600) };
    assert_eq!(severity_of(&mut h, &suspended), Some(Severity::Warning));
}

fn with_overrides() -> SlowConfig {
    let orders = Thresholds { warn_ms: Some(100), critical_ms: Some(300) };
    let items = Thresholds { warn_ms: Some(50), critical_ms: None };
    let own = Thresholds { warn_ms: Some(1000), critical_ms: None };
    SlowConfig {
        per_table: BTreeMap::from([("Orders".into(), orders), ("line_items".into(), items)]),
        per_pattern: BTreeMap::from([(pattern("SELECT count(*) FROM orders").id.to_string(), own)]),
        ..SlowConfig::default()
    }
}

#[test]
fn per_table_override() {
    let mut h = harness(with_overrides());
    let cases = [
        ("SELECT * FROM orders WHERE id = $1", 150, Some(Severity::Warning)),
        ("SELECT * FROM public.orders WHERE id = $1", 350, Some(Severity::Critical)),
        (
            "SELECT * FROM \"orders\" o JOIN customers c ON c.id = o.customer_id",
            150,
            Some(Severity::Warning),
        ),
        ("SELECT * FROM orders_archive WHERE id = $1", 150, None),
        ("SELECT * FROM my_orders WHERE id = $1", 150, None),
        ("SELECT * FROM customers WHERE id = $1", 150, None),
        // Several tables: the lowest value of each threshold wins.
        ("SELECT * FROM orders JOIN line_items USING (order_id)", 60, Some(Severity::Warning)),
        ("SELECT * FROM orders JOIN line_items USING (order_id)", 300, Some(Severity::Critical)),
        ("SELECT * FROM line_items WHERE order_id = $1", 600, Some(Severity::Warning)),
        // The pattern's own override wins; critical is raised to at least warn.
        ("SELECT count(*) FROM orders", 900, None),
        ("SELECT count(*) FROM orders", 1000, Some(Severity::Critical)),
    ];
    for (sql, ms, expected) in cases {
        assert_eq!(severity_of(&mut h, &bound(sql, 1, ms)), expected, "{sql} {ms} ms");
    }
}

#[test]
fn word_boundary_matching() {
    let cases = [
        ("select * from orders", "orders", true),
        ("select * from public.orders o", "orders", true),
        ("select * from public.orders o", "public.orders", true),
        ("select * from \"orders\"", "orders", true),
        ("select * from orders_2024", "orders", false),
        ("select * from xorders", "orders", false),
        ("select $orders", "orders", false),
        ("select * from orders2 join orders on true", "orders", true),
        ("select * from ünorders", "orders", false),
        ("", "orders", false),
        ("select 1", "", false),
    ];
    for (text, word, expected) in cases {
        assert_eq!(mentions_word(text, word), expected, "{word} in {text}");
    }
}

#[test]
fn chronic_after_100_calls_with_mean_25ms_once() {
    let mut h = harness(SlowConfig::default());
    let stmt = bound(BY_ID, 1, 25);
    h.repeat(1, &stmt, 99, |i| i);
    assert!(h.out.is_empty(), "99 calls are not a window yet");
    let found = h.run(1, &stmt);
    let f = only(&found);
    assert_eq!(
        (f.kind, f.severity, f.count, f.duration_ms),
        (FindingKind::Slow, Severity::Warning, 100, 2500.0)
    );
    assert!(f.suggestion.contains("mean 25.0 ms over the last 100 calls"), "{}", f.suggestion);
    h.repeat(1, &stmt, 300, |i| i);
    assert_eq!(h.out.len(), 1, "reported once while it stays slow");
    // Recovery re-arms: a window with a low mean, then a slow one again.
    h.repeat(1, &bound(BY_ID, 1, 5), 100, |i| i);
    h.repeat(1, &stmt, 100, |i| i);
    assert_eq!(h.out.len(), 2);
}

#[test]
fn fast_patterns_are_not_chronic() {
    let mut h = harness(SlowConfig::default());
    h.repeat(1, &bound(BY_ID, 1, 19), 1000, |i| i);
    assert!(h.out.is_empty());
}

#[test]
fn chronic_settings_and_pattern_bound() {
    let config = SlowConfig { chronic_mean_ms: 2, chronic_min_calls: 3, ..SlowConfig::default() };
    let mut h = Harness::new(SlowDetector::with_capacity(&config, 2).expect("valid"));
    for text in ["SELECT 1", "SELECT 2", "SELECT 3"] {
        h.repeat(1, &bound(text, 1, 2), 3, |i| i);
    }
    assert_eq!(h.out.len(), 3);
    assert_eq!(h.detector.evictions(), 1);
}

#[test]
fn sample_is_redacted_by_default() {
    let raw = "SELECT * FROM users WHERE email = 'alice@example.com' AND pin = 4711";
    let text = "SELECT * FROM users WHERE email = $1 AND pin = $2";
    let mut h = harness(SlowConfig::default());
    let found = h.run(1, &simple(text, raw, 800));
    let f = only(&found);
    assert_eq!(f.sample.as_deref(), Some(text));
    let json = serde_json::to_string(f).expect("serializes");
    assert!(!json.contains("alice") && !json.contains("4711"), "{json}");

    let keep = SlowConfig { keep_parameter_values: true, ..SlowConfig::default() };
    let mut h = harness(keep);
    let found = h.run(1, &simple(text, raw, 800));
    assert_eq!(only(&found).sample.as_deref(), Some(raw));
}

#[test]
fn invalid_pattern_ids_are_rejected() {
    let config = SlowConfig {
        per_pattern: BTreeMap::from([("orders".into(), Thresholds::default())]),
        ..SlowConfig::default()
    };
    assert!(SlowDetector::new(&config).is_err());
}
