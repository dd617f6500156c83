//! Replays of frame sequences recorded from real tokio-postgres ↔ PostgreSQL 15 traffic by
//! `cargo run --example record_frames` (fixtures in `src/tracker/fixtures/`).

use std::time::Instant;

use super::*;

/// Feeds a recorded conversation; returns (statement text, outcome) per event.
fn replay(recording: &str) -> (Tracker, Vec<(String, Outcome)>) {
    let now = Instant::now();
    let mut t = Tracker::new(7, SessionInfo::default(), TrackerLimits::default(), now);
    for line in recording.lines().filter(|l| !l.is_empty()) {
        let mut parts = line.splitn(3, ' ');
        let (side, tag, body) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
        let tag = tag.and_then(|t| t.bytes().next()).expect("tag");
        let body = unhex(body);
        match side {
            Some("C") => t.on_client(tag, &body[..body.len().min(Tracker::client_peek(tag))], now),
            _ => t.on_server(tag, &body[..body.len().min(Tracker::server_peek(tag))], now),
        }
    }
    let events = t
        .drain_events()
        .map(|e| (String::from_utf8_lossy(&e.sql).into_owned(), e.outcome))
        .collect();
    (t, events)
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex")).collect()
}

fn done(rows: Option<u64>) -> Outcome {
    Outcome::Done { rows }
}

#[test]
fn pipelined_prepared_inserts() {
    let (t, ev) = replay(include_str!("fixtures/pipelined_prepared.frames"));
    let inserts: Vec<_> = ev.iter().filter(|e| e.0.starts_with("INSERT")).collect();
    assert_eq!(inserts.len(), 5);
    assert!(inserts.iter().all(|e| e.1 == done(Some(1)) || e.1 == done(Some(0))));
    assert!(!t.in_flight());
    assert!(t.backend_key().is_some());
}

#[test]
fn portal_fetched_two_rows_at_a_time() {
    let (_, ev) = replay(include_str!("fixtures/portal_row_limit.frames"));
    let fetches: Vec<Outcome> =
        ev.iter().filter(|e| e.0.contains("generate_series")).map(|e| e.1).collect();
    assert_eq!(
        fetches,
        vec![
            Outcome::Suspended { rows: 2 },
            Outcome::Suspended { rows: 2 },
            done(Some(1)),
            done(Some(0)), // tokio-postgres fetches until a fetch comes back empty
        ]
    );
}

#[test]
fn copy_in_then_copy_out() {
    let (t, ev) = replay(include_str!("fixtures/copy_both_ways.frames"));
    let copies: Vec<_> = ev.iter().filter(|e| e.0.starts_with("COPY")).cloned().collect();
    assert_eq!(
        copies,
        vec![
            ("COPY c FROM STDIN".to_string(), done(Some(3))),
            ("COPY c TO STDOUT".to_string(), done(Some(3)))
        ]
    );
    assert!(!t.in_flight());
}

#[test]
fn error_in_a_pipeline_then_success() {
    let (_, ev) = replay(include_str!("fixtures/pipeline_error.frames"));
    let outcomes: Vec<Outcome> = ev.iter().filter(|e| e.0.contains("10 /")).map(|e| e.1).collect();
    assert_eq!(outcomes, vec![Outcome::Error { sqlstate: *b"22012" }, done(Some(1))]);
}

#[test]
fn multi_statement_query_with_an_error() {
    let (t, ev) = replay(include_str!("fixtures/simple_multi.frames"));
    let indexes: Vec<Outcome> = ev.iter().map(|e| e.1).collect();
    assert_eq!(indexes, vec![done(Some(1)), done(Some(1)), Outcome::Error { sqlstate: *b"42703" }]);
    assert!(!t.in_flight());
}
