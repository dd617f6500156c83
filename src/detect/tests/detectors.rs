use std::time::Duration;

use super::*;
use crate::detect::config::DetectConfig;
use crate::detect::{Detectors, FindingKind, Severity};

const AUTHORS: &str = "SELECT * FROM authors";
const BOOKS: &str = "SELECT * FROM books WHERE author_id = $1";

/// Feeds `Detectors` through `observe_event`, the way the analysis thread will.
fn feed(d: &mut Detectors, h: &mut Harness<NoDetector>, stmt: &Stmt) {
    h.pause(stmt.duration_us / 1000);
    let event = h.event(1, stmt);
    d.observe_event(&event, &stmt.sql, &stmt.pattern, h.now);
}

/// The defaults without the lint rules, so only the detectors under test report.
fn without_lint() -> DetectConfig {
    let mut config = DetectConfig::default();
    config.lint.enabled = false;
    config
}

/// A detector that sees nothing: the harness is only used for its clock and events.
struct NoDetector;

impl Detector for NoDetector {
    fn observe(&mut self, _: &Observed<'_>, _: Instant, _: &mut Vec<Finding>) {}
    fn name(&self) -> &'static str {
        "none"
    }
}

#[test]
fn n_plus_one_end_to_end_with_route() {
    let mut d = Detectors::new(&without_lint()).expect("default config is valid");
    let mut h = Harness::new(NoDetector);
    let tag = "/*controller='authors',action='index',framework='django'*/";
    feed(&mut d, &mut h, &simple(AUTHORS, &format!("{AUTHORS} {tag}"), 5));
    for i in 0..20 {
        let sql = format!("SELECT * FROM books WHERE author_id = {i} {tag}");
        feed(&mut d, &mut h, &simple(BOOKS, &sql, 4));
    }
    assert!(d.findings().is_empty());
    d.tick(h.now + Duration::from_millis(999));
    assert!(d.findings().is_empty());
    d.tick(h.now + Duration::from_millis(1000));
    let found = d.findings().list(Some(FindingKind::NPlusOne), 10);
    let f = only(&found);
    assert_eq!((f.count, f.duration_ms, f.route.as_deref()), (20, 80.0, Some("authors#index")));
    assert_eq!(f.parent_pattern.as_deref(), Some(AUTHORS));
    let json = serde_json::to_string(f).expect("serializes");
    assert!(!json.contains("author_id = 7"), "no literal values: {json}");

    let routes = d.routes().list();
    assert_eq!(routes.len(), 1);
    assert_eq!((routes[0].route.as_str(), routes[0].statements), ("authors#index", 21));
    assert_eq!((routes[0].distinct_patterns, routes[0].n_plus_one), (2, 1));
    assert_eq!(d.findings().count(FindingKind::NPlusOne, Severity::Warning), 1);
}

#[test]
fn slow_findings_reach_the_store_and_routes_fall_back_to_application_name() {
    let mut d = Detectors::new(&without_lint()).expect("valid");
    let mut h = Harness::new(NoDetector);
    feed(&mut d, &mut h, &bound(BOOKS, 1, 2500));
    let found = d.findings().list(None, 10);
    assert_eq!((only(&found).kind, only(&found).severity), (FindingKind::Slow, Severity::Critical));
    assert_eq!(only(&found).route.as_deref(), Some("web"));
    assert_eq!(d.evictions(), [("slow", 0), ("n_plus_one", 0)]);
}

#[test]
fn disabled_n_plus_one_and_extra_detectors() {
    let mut config = without_lint();
    config.n_plus_one.enabled = false;
    let mut d = Detectors::new(&config).expect("valid");
    d.add(Box::new(NoDetector));
    assert_eq!(d.evictions(), [("slow", 0), ("none", 0)]);
    let mut h = Harness::new(NoDetector);
    for i in 0..20 {
        feed(&mut d, &mut h, &bound(BOOKS, i, 10));
    }
    d.tick(h.now + Duration::from_secs(5));
    assert!(d.findings().is_empty());
    assert!(format!("{d:?}").contains("none"));
}

#[test]
fn invalid_config_is_refused() {
    let mut config = DetectConfig::default();
    config.slow.critical_ms = 10;
    assert!(Detectors::new(&config).is_err());
}

#[test]
fn lint_rules_run_once_per_new_pattern() {
    let mut d = Detectors::new(&DetectConfig::default()).expect("valid");
    let mut h = Harness::new(NoDetector);
    for _ in 0..3 {
        feed(&mut d, &mut h, &simple(AUTHORS, AUTHORS, 1));
    }
    feed(&mut d, &mut h, &simple("DELETE FROM books", "DELETE FROM books", 1));
    let lint = d.findings().list(Some(FindingKind::Lint), 10);
    let rules: Vec<_> = lint.iter().filter_map(|f| f.rule_id.as_deref()).collect();
    assert_eq!(rules, ["delete-without-where", "select-star"], "newest first, once each");
    assert_eq!(lint[0].severity, Severity::Critical);
    assert!(lint[0].message.as_deref().is_some_and(|m| m.contains("books")));
}
