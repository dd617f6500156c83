use std::time::{Duration, UNIX_EPOCH};

use crate::detect::{Finding, FindingKind, FindingStore, Severity, Source};
use crate::event::SessionInfo;
use crate::fingerprint::PatternId;

fn finding(kind: FindingKind, severity: Severity, n: u64) -> Finding {
    let session = SessionInfo::default();
    let src = Source {
        conn_id: n,
        session: &session,
        route: None,
        at: UNIX_EPOCH + Duration::from_millis(n),
    };
    Finding::new(kind, severity, (PatternId(n), "SELECT $1"), &src)
}

#[test]
fn ring_bound_counts_what_falls_off() {
    let mut store = FindingStore::new(3);
    for n in 0..5 {
        store.push(finding(FindingKind::Slow, Severity::Warning, n));
    }
    store.push(finding(FindingKind::NPlusOne, Severity::Critical, 5));
    assert_eq!(store.len(), 4);
    assert_eq!((store.dropped(), store.dropped_of(FindingKind::Slow)), (2, 2));
    assert_eq!(store.dropped_of(FindingKind::NPlusOne), 0);
    let slow: Vec<u64> =
        store.list(Some(FindingKind::Slow), 10).iter().map(|f| f.conn_id).collect();
    assert_eq!(slow, [4, 3, 2], "newest first");
    assert_eq!(store.count(FindingKind::Slow, Severity::Warning), 5, "counts are monotonic");
}

#[test]
fn list_all_kinds_newest_first_with_limit() {
    let mut store = FindingStore::default();
    store.push(finding(FindingKind::Slow, Severity::Warning, 1));
    store.push(finding(FindingKind::Duplicate, Severity::Info, 2));
    store.push(finding(FindingKind::Slow, Severity::Critical, 3));
    store.push(finding(FindingKind::Lint, Severity::Info, 4));
    let all: Vec<u64> = store.list(None, 3).iter().map(|f| f.conn_id).collect();
    assert_eq!(all, [4, 3, 2]);
    assert!(store.list(Some(FindingKind::NPlusOne), 10).is_empty());
    assert!(store.list(None, 0).is_empty());
}

#[test]
fn counts_by_kind_and_severity() {
    let mut store = FindingStore::new(1);
    store.push(finding(FindingKind::Slow, Severity::Warning, 1));
    store.push(finding(FindingKind::Slow, Severity::Critical, 2));
    store.push(finding(FindingKind::Slow, Severity::Critical, 3));
    let nonzero: Vec<(FindingKind, Severity, u64)> = store.counts().filter(|c| c.2 > 0).collect();
    assert_eq!(
        nonzero,
        [(FindingKind::Slow, Severity::Warning, 1), (FindingKind::Slow, Severity::Critical, 2)]
    );
    assert_eq!(store.counts().count(), 12);
}

#[test]
fn kinds_and_severities_serialize_as_the_api_names() {
    for kind in FindingKind::ALL {
        let json = serde_json::to_string(&kind).expect("serializes");
        assert_eq!(json, format!("\"{}\"", kind.as_str()));
        assert_eq!(FindingKind::from_name(kind.as_str()), Some(kind));
    }
    assert_eq!(FindingKind::NPlusOne.as_str(), "n_plus_one");
    assert_eq!(FindingKind::from_name("N+1"), None);
    for severity in Severity::ALL {
        let json = serde_json::to_string(&severity).expect("serializes");
        assert_eq!(json, format!("\"{}\"", severity.as_str()));
    }
}

#[test]
fn finding_json_shape() {
    let json = serde_json::to_value(finding(FindingKind::NPlusOne, Severity::Critical, 1500))
        .expect("serializes");
    assert_eq!(json["kind"], "n_plus_one");
    assert_eq!(json["severity"], "critical");
    assert_eq!(json["pattern_id"], "00000000000005dc");
    assert_eq!(json["at"], "1970-01-01T00:00:01.500Z");
    assert!(json["parent_pattern"].is_null() && json["rule_id"].is_null());
}
