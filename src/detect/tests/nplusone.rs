use super::*;
use crate::detect::config::NPlusOneConfig;
use crate::detect::nplusone::NPlusOneDetector;
use crate::detect::{FindingKind, Severity};

const AUTHORS: &str = "SELECT id, name FROM authors ORDER BY name LIMIT $1";
const BOOKS: &str = "SELECT id, title FROM books WHERE author_id = $1";
const PUBLISHERS: &str = "SELECT id, name FROM publishers WHERE id = $1";

fn harness() -> Harness<NPlusOneDetector> {
    Harness::new(NPlusOneDetector::new(&NPlusOneConfig::default()))
}

/// `authors` once, then `books` `n` times with distinct parameters, `ms` each, on `conn`.
fn authors_then_books(h: &mut Harness<NPlusOneDetector>, conn: u64, n: u64, ms: u64) {
    h.run(conn, &bound(AUTHORS, 1, 3));
    h.repeat(conn, &bound(BOOKS, 0, ms), n, |i| i + 100);
}

#[test]
fn fifty_books_after_authors_is_a_critical_n_plus_one() {
    let mut h = harness();
    authors_then_books(&mut h, 1, 50, 2);
    assert!(h.out.is_empty(), "nothing until the burst ends");
    let found = h.run(1, &bound(PUBLISHERS, 1, 1));
    let f = only(&found);
    assert_eq!((f.kind, f.severity), (FindingKind::NPlusOne, Severity::Critical));
    assert_eq!(f.count, 50);
    assert_eq!(f.duration_ms, 100.0);
    assert_eq!(f.pattern, BOOKS);
    assert_eq!(f.pattern_id, pattern(BOOKS).id.to_string());
    assert_eq!(f.parent_pattern.as_deref(), Some(AUTHORS));
    assert_eq!(f.parent_pattern_id, Some(pattern(AUTHORS).id.to_string()));
    assert_eq!((f.conn_id, f.database.as_str(), f.application_name.as_str()), (1, "shop", "web"));
    assert_eq!(f.sample.as_deref(), Some(BOOKS));
    assert!(f.suggestion.contains("select_related"), "{}", f.suggestion);
}

#[test]
fn ten_books_is_a_warning_ended_by_another_pattern() {
    let mut h = harness();
    authors_then_books(&mut h, 1, 10, 6);
    let found = h.run(1, &bound(PUBLISHERS, 1, 1));
    let f = only(&found);
    assert_eq!(
        (f.kind, f.severity, f.count, f.duration_ms),
        (FindingKind::NPlusOne, Severity::Warning, 10, 60.0)
    );
}

#[test]
fn commit_ends_the_burst() {
    let mut h = harness();
    h.run(1, &control("BEGIN"));
    h.run(1, &bound(AUTHORS, 1, 3).tx(TxState::InBlock));
    h.repeat(1, &bound(BOOKS, 0, 6).tx(TxState::InBlock), 10, |i| i);
    let found = h.run(1, &control("COMMIT").tx(TxState::InBlock));
    assert_eq!(only(&found).count, 10);
    // The next statement starts afresh: no parent, so a run of it is no N+1.
    h.repeat(1, &bound(BOOKS, 0, 6), 10, |i| i);
    assert!(h.tick_after(1000).is_empty());
}

#[test]
fn status_back_to_idle_ends_the_burst_without_a_commit_statement() {
    let mut h = harness();
    h.run(1, &bound(AUTHORS, 1, 3).tx(TxState::InBlock));
    h.repeat(1, &bound(BOOKS, 0, 6).tx(TxState::InBlock), 10, |i| i);
    // The block ended out of sight (e.g. a COMMIT inside a function); the next event says idle.
    let found = h.run(1, &bound(BOOKS, 99, 6));
    let f = only(&found);
    assert_eq!((f.count, f.parent_pattern.as_deref()), (10, Some(AUTHORS)));
}

#[test]
fn idle_gap_ends_the_burst_at_tick() {
    let mut h = harness();
    authors_then_books(&mut h, 1, 10, 6);
    h.pause(999);
    assert!(h.tick().is_empty(), "999 ms is not yet a gap");
    assert_eq!(h.detector.connections(), 1);
    h.pause(1);
    assert_eq!(only(&h.tick()).count, 10);
    assert_eq!(h.detector.connections(), 0, "idle state is dropped");
    assert!(h.tick().is_empty());
}

#[test]
fn idle_gap_ends_the_burst_at_the_next_statement() {
    let mut h = harness();
    authors_then_books(&mut h, 1, 6, 10);
    h.pause(1500);
    let found = h.run(1, &bound(BOOKS, 1, 10));
    assert_eq!(only(&found).count, 6);
    h.repeat(1, &bound(BOOKS, 0, 10), 5, |i| i + 2);
    // After the gap the run has no parent statement: not an N+1 (Sentry's rule).
    assert!(h.tick_after(1000).is_empty());
}

#[test]
fn long_statements_are_not_idle_time() {
    let mut h = harness();
    authors_then_books(&mut h, 1, 5, 1200);
    let f = h.tick_after(1000);
    let f = only(&f);
    assert_eq!((f.count, f.severity), (5, Severity::Critical));
}

#[test]
fn same_parameters_make_a_duplicate_not_an_n_plus_one() {
    let mut h = harness();
    h.run(1, &bound(AUTHORS, 1, 3));
    h.repeat(1, &bound(BOOKS, 0, 6), 10, |_| 42);
    let found = h.run(1, &bound(PUBLISHERS, 1, 1));
    let f = only(&found);
    assert_eq!((f.kind, f.severity, f.count), (FindingKind::Duplicate, Severity::Warning, 10));
    assert!(f.suggestion.contains("cache the result"), "{}", f.suggestion);
}

#[test]
fn fast_duplicates_are_info() {
    let mut h = harness();
    let sql = "SELECT * FROM settings WHERE key = 'theme'";
    h.repeat(1, &simple("SELECT * FROM settings WHERE key = $1", sql, 1), 5, |_| 0);
    let f = h.tick_after(1000);
    assert_eq!((only(&f).kind, only(&f).severity), (FindingKind::Duplicate, Severity::Info));
}

#[test]
fn simple_protocol_literals_are_the_parameters() {
    let mut h = harness();
    let p = "SELECT * FROM books WHERE author_id = $1";
    h.run(7, &simple(AUTHORS, AUTHORS, 1));
    for i in 0..8 {
        h.run(7, &simple(p, &format!("SELECT * FROM books WHERE author_id = {i}"), 10));
    }
    let f = h.tick_after(1000);
    assert_eq!((only(&f).kind, only(&f).count), (FindingKind::NPlusOne, 8));
}

#[test]
fn one_differing_execution_is_enough() {
    let mut h = harness();
    h.run(1, &bound(AUTHORS, 1, 1));
    h.repeat(1, &bound(BOOKS, 0, 10), 6, |i| if i < 5 { 1 } else { 2 });
    let f = h.tick_after(1000);
    assert_eq!(only(&f).kind, FindingKind::NPlusOne);
}

#[test]
fn pgbench_like_transactions_find_nothing() {
    let mut h = harness();
    let script = [
        "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
        "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
        "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2",
        "UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2",
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, now())",
    ];
    for i in 0..200 {
        h.run(1, &control("BEGIN"));
        for sql in script {
            h.run(1, &bound(sql, i, 20).tx(TxState::InBlock));
        }
        h.run(1, &control("END").tx(TxState::InBlock));
    }
    h.pause(1000);
    h.tick();
    assert!(h.out.is_empty(), "{:#?}", h.out);
}

#[test]
fn few_repetitions_find_nothing() {
    let mut h = harness();
    authors_then_books(&mut h, 1, 3, 30);
    assert!(h.tick_after(1000).is_empty());
}

#[test]
fn fast_bursts_find_nothing() {
    let mut h = harness();
    authors_then_books(&mut h, 1, 10, 2);
    h.run(1, &bound(PUBLISHERS, 1, 1));
    assert!(h.tick_after(1000).is_empty(), "10 x 2 ms is below 50 ms");
    assert!(h.out.is_empty());
}

#[test]
fn alternating_patterns_find_nothing() {
    let mut h = harness();
    for i in 0..50 {
        h.run(1, &bound(BOOKS, i, 10));
        h.run(1, &bound(PUBLISHERS, i, 10));
    }
    assert!(h.tick_after(1000).is_empty());
    assert!(h.out.is_empty());
}

#[test]
fn interleaved_connections_do_not_mix() {
    let mut h = harness();
    let users = "SELECT * FROM users WHERE id = $1";
    h.run(1, &bound(AUTHORS, 1, 3));
    h.run(2, &bound(PUBLISHERS, 1, 3));
    for i in 0..12 {
        h.run(1, &bound(BOOKS, i, 5));
        h.run(2, &bound(users, i, 5));
    }
    let mut found = h.tick_after(1000);
    found.sort_by_key(|f| f.conn_id);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_eq!((found[0].conn_id, found[0].count, found[0].pattern.as_str()), (1, 12, BOOKS));
    assert_eq!(found[0].parent_pattern.as_deref(), Some(AUTHORS));
    assert_eq!((found[1].conn_id, found[1].count, found[1].pattern.as_str()), (2, 12, users));
    assert_eq!(found[1].parent_pattern.as_deref(), Some(PUBLISHERS));
}

#[test]
fn savepoints_and_begin_do_not_break_a_burst() {
    let mut h = harness();
    let insert = "INSERT INTO books (title, author_id) VALUES ($1, $2) RETURNING id";
    h.run(1, &bound(AUTHORS, 1, 3));
    h.run(1, &control("BEGIN"));
    for i in 0..10 {
        h.run(1, &control("SAVEPOINT active_record_1").tx(TxState::InBlock));
        h.run(1, &bound(insert, i, 8).tx(TxState::InBlock));
        h.run(1, &control("RELEASE SAVEPOINT active_record_1").tx(TxState::InBlock));
    }
    let found = h.run(1, &control("COMMIT").tx(TxState::InBlock));
    let f = only(&found);
    assert_eq!((f.count, f.parent_pattern.as_deref()), (10, Some(AUTHORS)));
    assert!(f.suggestion.contains("bulk"), "writes get write advice: {}", f.suggestion);
}

#[test]
fn a_new_request_ends_the_burst() {
    let mut h = harness();
    h.run(1, &bound(AUTHORS, 1, 1).route("/books"));
    h.repeat(1, &bound(BOOKS, 0, 10).route("/books"), 5, |i| i);
    let found = h.run(1, &bound(BOOKS, 1, 10).route("/authors"));
    assert_eq!(only(&found).route.as_deref(), Some("/books"));
    let trace = |t: &str| format!("{BOOKS} /*traceparent='00-{t}-00f067aa0ba902b7-01'*/");
    let traced = |t: &str, i: u64| Stmt { sql: trace(t), ..bound(BOOKS, i, 10) };
    let mut h = harness();
    let parent = format!(
        "{AUTHORS} /*traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/"
    );
    h.run(1, &Stmt { sql: parent, ..bound(AUTHORS, 1, 1) });
    for i in 0..5 {
        h.run(1, &traced("4bf92f3577b34da6a3ce929d0e0e4736", i));
    }
    let found = h.run(1, &traced("0af7651916cd43dd8448eb211c80319c", 9));
    assert_eq!(only(&found).count, 5);
}

#[test]
fn evicted_connections_are_judged_and_counted() {
    let config = NPlusOneConfig { max_connections: 2, ..NPlusOneConfig::default() };
    let mut h = Harness::new(NPlusOneDetector::new(&config));
    authors_then_books(&mut h, 1, 10, 6);
    h.run(2, &bound(AUTHORS, 1, 1));
    let found = h.run(3, &bound(AUTHORS, 1, 1));
    assert_eq!((only(&found).conn_id, only(&found).count), (1, 10));
    assert_eq!((h.detector.evictions(), h.detector.connections()), (1, 2));
}

#[test]
fn thresholds_are_configurable() {
    let config = NPlusOneConfig {
        min_repeats: 3,
        min_total_ms: 10,
        critical_count: 4,
        ..NPlusOneConfig::default()
    };
    let mut h = Harness::new(NPlusOneDetector::new(&config));
    h.run(1, &bound(AUTHORS, 1, 1));
    h.repeat(1, &bound(BOOKS, 0, 5), 3, |i| i);
    assert_eq!(only(&h.tick_after(1000)).severity, Severity::Warning);
    h.run(1, &bound(AUTHORS, 1, 1));
    h.repeat(1, &bound(BOOKS, 0, 5), 4, |i| i);
    assert_eq!(only(&h.tick_after(1000)).severity, Severity::Critical);
}

impl Harness<NPlusOneDetector> {
    /// Lets `ms` pass, then ticks.
    fn tick_after(&mut self, ms: u64) -> Vec<Finding> {
        self.pause(ms);
        self.tick()
    }
}

#[test]
fn a_run_without_a_parent_is_not_n_plus_one() {
    // pgbench -S: one lookup per transaction, thousands in a row, nothing before them.
    let mut h = harness();
    h.repeat(1, &bound(BOOKS, 0, 2), 200, |i| i);
    assert!(h.tick_after(1000).is_empty());
}
