//! Tracker tests: frame sequences as real clients and servers send them.

use super::*;
use std::time::Duration;

/// One step of a conversation: a client or server frame, after `ms` milliseconds.
enum Step {
    C(u8, Vec<u8>),
    S(u8, Vec<u8>),
    Wait(u64),
}
use Step::*;

fn cstrs(parts: &[&str]) -> Vec<u8> {
    let mut v = Vec::new();
    for p in parts {
        v.extend_from_slice(p.as_bytes());
        v.push(0);
    }
    v
}
fn query(sql: &str) -> Step {
    C(b'Q', cstrs(&[sql]))
}
fn parse(name: &str, sql: &str) -> Step {
    let mut b = cstrs(&[name, sql]);
    b.extend_from_slice(&[0, 0]);
    C(b'P', b)
}
fn bind(portal: &str, stmt: &str) -> Step {
    let mut b = cstrs(&[portal, stmt]);
    b.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    C(b'B', b)
}
fn execute(portal: &str, max_rows: u32) -> Step {
    let mut b = cstrs(&[portal]);
    b.extend_from_slice(&max_rows.to_be_bytes());
    C(b'E', b)
}
fn sync() -> Step {
    C(b'S', vec![])
}
fn done(tag: &str) -> Step {
    S(b'C', cstrs(&[tag]))
}
fn ready(state: u8) -> Step {
    S(b'Z', vec![state])
}
fn error(code: &str) -> Step {
    S(b'E', cstrs(&["SERROR", "VERROR", &format!("C{code}"), "Mboom", ""]))
}
fn row() -> Step {
    S(b'D', vec![0, 1, 0, 0, 0, 1, b'1'])
}

/// Feeds the steps and returns (sql of that statement, index, outcome, duration ms) per event.
fn run(steps: Vec<Step>) -> (Tracker, Vec<(String, u32, Outcome, u64)>) {
    let start = Instant::now();
    let mut now = start;
    let mut t = Tracker::new(1, SessionInfo::default(), TrackerLimits::default(), now);
    for step in steps {
        match step {
            C(tag, body) => t.on_client(tag, &body, now),
            S(tag, body) => t.on_server(tag, &body, now),
            Wait(ms) => now += Duration::from_millis(ms),
        }
    }
    let events = t
        .drain_events()
        .map(|e| {
            let sql = String::from_utf8_lossy(&e.sql).into_owned();
            (sql, e.stmt_index, e.outcome, e.duration_us / 1000)
        })
        .collect();
    (t, events)
}

fn ok(rows: Option<u64>) -> Outcome {
    Outcome::Done { rows }
}

#[test]
fn simple_query_with_rows() {
    let (t, ev) = run(vec![
        query("SELECT 1"),
        Wait(3),
        S(b'T', vec![]),
        row(),
        done("SELECT 1"),
        ready(b'I'),
    ]);
    assert_eq!(ev, vec![("SELECT 1".into(), 0, ok(Some(1)), 3)]);
    assert!(!t.in_flight());
}

#[test]
fn multi_statement_simple_query_times_each_statement() {
    let sql = "BEGIN; UPDATE t SET x = 1; COMMIT";
    let (_, ev) = run(vec![
        query(sql),
        Wait(1),
        done("BEGIN"),
        Wait(5),
        done("UPDATE 3"),
        Wait(2),
        done("COMMIT"),
        ready(b'I'),
    ]);
    let got: Vec<_> = ev.iter().map(|e| (e.1, e.2, e.3)).collect();
    assert_eq!(got, vec![(0, ok(None), 1), (1, ok(Some(3)), 5), (2, ok(None), 2)]);
}

#[test]
fn error_in_simple_query_skips_the_rest() {
    let (t, ev) = run(vec![
        query("SELECT 1; SELECT nope; SELECT 3"),
        done("SELECT 1"),
        error("42703"),
        ready(b'I'),
    ]);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[1].1, 1);
    assert_eq!(ev[1].2, Outcome::Error { sqlstate: *b"42703" });
    assert!(!t.in_flight());
}

#[test]
fn empty_query_is_no_statement() {
    let (_, ev) = run(vec![query(""), S(b'I', vec![]), ready(b'I')]);
    assert!(ev.is_empty());
}

#[test]
fn pipelined_extended_queries_time_from_the_previous_reply() {
    // pgbench -M extended: Parse/Bind/Describe/Execute for two statements, one Sync.
    let (_, ev) = run(vec![
        parse("", "SELECT $1"),
        bind("", ""),
        C(b'D', vec![b'P', 0]),
        execute("", 0),
        parse("", "UPDATE t SET x = $1"),
        bind("", ""),
        C(b'D', vec![b'P', 0]),
        execute("", 0),
        sync(),
        Wait(1),
        S(b'1', vec![]),
        S(b'2', vec![]),
        S(b'T', vec![]),
        Wait(2),
        row(),
        done("SELECT 1"),
        S(b'1', vec![]),
        S(b'2', vec![]),
        S(b'n', vec![]),
        Wait(7),
        done("UPDATE 1"),
        ready(b'I'),
    ]);
    assert_eq!(
        ev,
        vec![
            ("SELECT $1".into(), 0, ok(Some(1)), 3),
            ("UPDATE t SET x = $1".into(), 0, ok(Some(1)), 7)
        ]
    );
}

#[test]
fn named_statements_are_remembered_across_syncs() {
    // pgbench -M prepared: Parse once, then Bind/Execute by name.
    let (_, ev) = run(vec![
        parse("P0_1", "SELECT abalance FROM a WHERE aid = $1"),
        sync(),
        S(b'1', vec![]),
        ready(b'I'),
        bind("", "P0_1"),
        execute("", 0),
        sync(),
        S(b'2', vec![]),
        done("SELECT 1"),
        ready(b'I'),
        bind("", "P0_1"),
        execute("", 0),
        sync(),
        S(b'2', vec![]),
        done("SELECT 0"),
        ready(b'I'),
    ]);
    assert_eq!(ev.len(), 2);
    assert!(ev.iter().all(|e| e.0 == "SELECT abalance FROM a WHERE aid = $1"));
}

#[test]
fn closed_statement_is_forgotten() {
    let (_, ev) = run(vec![
        parse("s", "SELECT 1"),
        C(b'C', cstrs(&["Ss"])),
        bind("", "s"),
        execute("", 0),
        sync(),
        S(b'1', vec![]),
        S(b'3', vec![]),
        error("26000"),
        ready(b'I'),
    ]);
    // Bind of a closed statement fails; no text is known for it, so no event.
    assert!(ev.is_empty());
}

#[test]
fn error_skips_to_sync_and_later_pipeline_continues() {
    let (t, ev) = run(vec![
        parse("", "SELECT 1/0"),
        bind("", ""),
        execute("", 0),
        parse("", "SELECT 2"),
        bind("", ""),
        execute("", 0),
        sync(),
        parse("", "SELECT 3"),
        bind("", ""),
        execute("", 0),
        sync(),
        S(b'1', vec![]),
        S(b'2', vec![]),
        error("22012"),
        ready(b'I'),
        S(b'1', vec![]),
        S(b'2', vec![]),
        done("SELECT 1"),
        ready(b'I'),
    ]);
    assert_eq!(
        ev.iter().map(|e| (e.0.as_str(), e.2)).collect::<Vec<_>>(),
        vec![("SELECT 1/0", Outcome::Error { sqlstate: *b"22012" }), ("SELECT 3", ok(Some(1)))]
    );
    assert!(!t.in_flight());
}

#[test]
fn parse_error_counts_the_statement() {
    let (_, ev) = run(vec![
        parse("", "SELEC 1"),
        bind("", ""),
        execute("", 0),
        sync(),
        error("42601"),
        ready(b'I'),
    ]);
    assert_eq!(ev, vec![("SELEC 1".into(), 0, Outcome::Error { sqlstate: *b"42601" }, 0)]);
}

#[test]
fn portal_suspended_counts_rows_of_each_fetch() {
    let (_, ev) = run(vec![
        parse("", "SELECT * FROM generate_series(1,5)"),
        bind("c1", ""),
        execute("c1", 2),
        C(b'H', vec![]),
        S(b'1', vec![]),
        S(b'2', vec![]),
        row(),
        row(),
        S(b's', vec![]),
        execute("c1", 0),
        sync(),
        row(),
        row(),
        row(),
        done("SELECT 3"),
        ready(b'T'),
    ]);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].2, Outcome::Suspended { rows: 2 });
    assert_eq!(ev[1].2, ok(Some(3)));
}

#[test]
fn copy_from_stdin_in_simple_query() {
    let (_, ev) = run(vec![
        query("COPY t FROM STDIN"),
        S(b'G', vec![0, 0, 0]),
        C(b'd', b"1\n2\n".to_vec()),
        C(b'c', vec![]),
        done("COPY 2"),
        ready(b'I'),
    ]);
    assert_eq!(ev, vec![("COPY t FROM STDIN".into(), 0, ok(Some(2)), 0)]);
}

#[test]
fn async_messages_do_not_disturb_the_queue() {
    let (t, ev) = run(vec![
        query("SELECT 1"),
        S(b'N', vec![]),
        S(b'A', vec![]),
        S(b'S', cstrs(&["application_name", "worker"])),
        done("SELECT 1"),
        ready(b'I'),
    ]);
    assert_eq!(ev.len(), 1);
    assert_eq!(&*t.session().application_name, "worker");
}

#[test]
fn in_flight_while_waiting_and_backend_key_kept() {
    let start = Instant::now();
    let mut t = Tracker::new(1, SessionInfo::default(), TrackerLimits::default(), start);
    t.on_server(b'K', &[0, 0, 0, 42, 1, 2, 3, 4], start);
    t.on_client(b'Q', &cstrs(&["SELECT pg_sleep(10)"]), start);
    assert!(t.in_flight());
    assert_eq!(t.backend_key(), Some(&[0, 0, 0, 42, 1, 2, 3, 4][..]));
}

#[test]
fn pending_bound_stops_following_not_forwarding() {
    let now = Instant::now();
    let limits = TrackerLimits { max_prepared: 10, max_pending: 4 };
    let mut t = Tracker::new(1, SessionInfo::default(), limits, now);
    for _ in 0..5 {
        t.on_client(b'S', &[], now);
    }
    assert!(t.is_lost());
    t.on_server(b'Z', b"I", now);
    assert_eq!(t.drain_events().count(), 0);
}

#[test]
fn malformed_bodies_never_panic() {
    let now = Instant::now();
    let mut t = Tracker::new(1, SessionInfo::default(), TrackerLimits::default(), now);
    for tag in 0..=255u8 {
        for body in [&b""[..], b"\0", b"x", b"\0\0\0\0\0\0\0\0\0", b"SELECT"] {
            t.on_client(tag, body, now);
            t.on_server(tag, body, now);
        }
    }
}

fn copy_frames(pipelined: bool) -> Vec<Step> {
    // tokio-postgres: Bind/Execute/Sync, then (after CopyInResponse) CopyData, CopyDone, Sync.
    let mut steps = vec![parse("s0", "COPY t FROM STDIN"), sync(), S(b'1', vec![]), ready(b'I')];
    steps.extend([bind("", "s0"), execute("", 0), sync()]);
    let client_data = [C(b'd', b"1\n".to_vec()), C(b'c', vec![]), sync()];
    if pipelined {
        steps.extend(client_data);
        steps.extend([S(b'2', vec![]), S(b'G', vec![0, 0, 0])]);
    } else {
        steps.extend([S(b'2', vec![]), S(b'G', vec![0, 0, 0])]);
        steps.extend(client_data);
    }
    steps.extend([done("COPY 1"), ready(b'I')]);
    // The next request must still line up.
    steps.extend([query("SELECT 1"), done("SELECT 1"), ready(b'I')]);
    steps
}

#[test]
fn sync_during_extended_copy_in_owes_no_reply() {
    for pipelined in [false, true] {
        let (t, ev) = run(copy_frames(pipelined));
        let got: Vec<_> = ev.iter().map(|e| (e.0.as_str(), e.2)).collect();
        assert_eq!(
            got,
            vec![("COPY t FROM STDIN", ok(Some(1))), ("SELECT 1", ok(Some(1)))],
            "pipelined: {pipelined}"
        );
        assert!(!t.in_flight());
    }
}

#[test]
fn parameter_values_are_hashed_not_kept() {
    let bind_with = |value: &[u8]| {
        let mut b = cstrs(&["", "s"]);
        b.extend_from_slice(&[0, 0, 0, 1]);
        b.extend_from_slice(&(value.len() as u32).to_be_bytes());
        b.extend_from_slice(value);
        b.extend_from_slice(&[0, 0]);
        C(b'B', b)
    };
    let mut steps = vec![
        parse("s", "SELECT * FROM books WHERE author_id = $1"),
        sync(),
        S(b'1', vec![]),
        ready(b'I'),
    ];
    for value in [&b"7"[..], b"8", b"7"] {
        steps.extend([
            bind_with(value),
            execute("", 0),
            sync(),
            S(b'2', vec![]),
            done("SELECT 1"),
            ready(b'I'),
        ]);
    }
    let start = Instant::now();
    let mut t = Tracker::new(1, SessionInfo::default(), TrackerLimits::default(), start);
    for step in steps {
        match step {
            C(tag, body) => t.on_client(tag, &body, start),
            S(tag, body) => t.on_server(tag, &body, start),
            Wait(_) => {}
        }
    }
    let hashes: Vec<u64> = t.drain_events().map(|e| e.params_hash).collect();
    assert_eq!(hashes.len(), 3);
    assert_ne!(hashes[0], hashes[1]);
    assert_eq!(hashes[0], hashes[2]);
}

#[test]
fn wall_clock_times_follow_the_monotonic_clock_and_are_reread() {
    let start = Instant::now();
    let wall = SystemTime::now();
    let mut t = Tracker::new(1, SessionInfo::default(), TrackerLimits::default(), start);
    let at = |t: &mut Tracker, ms: u64| {
        let now = start + Duration::from_millis(ms);
        t.on_client(b'Q', &cstrs(&["SELECT 1"]), now);
        t.on_server(b'C', &cstrs(&["SELECT 1"]), now);
        t.on_server(b'Z', b"I", now);
        t.drain_events().map(|e| e.finished_at).next().expect("one event")
    };
    let first = at(&mut t, 10);
    let second = at(&mut t, 500);
    assert_eq!(second.duration_since(first).ok(), Some(Duration::from_millis(490)));
    let near = |ts: SystemTime| ts.duration_since(wall).is_ok_and(|d| d < Duration::from_secs(5));
    assert!(near(first) && near(second), "within the test's run of the wall clock");
    // Past the refresh interval the anchor is read again (here the test's instants run ahead
    // of the real clock, so the re-read time is simply the wall clock now).
    let later = at(&mut t, 1500);
    assert_eq!(t.wall.0, start + Duration::from_millis(1500));
    assert!(near(later));
}

#[test]
fn emit_into_appends_events_in_order_and_keeps_none() {
    let now = Instant::now();
    let mut t = Tracker::new(1, SessionInfo::default(), TrackerLimits::default(), now);
    let feed = |t: &mut Tracker, sql: &str| {
        t.on_client(b'Q', &cstrs(&[sql]), now);
        t.on_server(b'C', &cstrs(&["SELECT 1"]), now);
        t.on_server(b'Z', b"I", now);
    };
    // An event left over from before is kept, ahead of the new ones.
    feed(&mut t, "SELECT 'left over'");
    let mut out = Vec::new();
    t.emit_into(&mut out, |t| feed(t, "SELECT 'first'"));
    t.emit_into(&mut out, |t| feed(t, "SELECT 'second'"));
    let texts: Vec<&[u8]> = out.iter().map(|e| &e.sql[..]).collect();
    assert_eq!(
        texts,
        [&b"SELECT 'left over'"[..], &b"SELECT 'first'"[..], &b"SELECT 'second'"[..]]
    );
    assert_eq!(t.drain_events().count(), 0, "the tracker keeps nothing back");
}

#[test]
fn query_texts_share_a_chunk_and_long_ones_get_their_own() {
    let now = Instant::now();
    let mut t = Tracker::new(1, SessionInfo::default(), TrackerLimits::default(), now);
    let long = format!("SELECT '{}'", "x".repeat(TEXT_IN_CHUNK_MAX));
    let mut texts: Vec<String> = (0..60).map(|i| format!("SELECT {i}, 'text {i}'")).collect();
    texts.insert(30, long);
    for sql in &texts {
        for step in [query(sql), done("SELECT 1"), ready(b'I')] {
            match step {
                C(tag, body) => t.on_client(tag, &body, now),
                S(tag, body) => t.on_server(tag, &body, now),
                Wait(_) => {}
            }
        }
    }
    let events: Vec<_> = t.drain_events().collect();
    let got: Vec<&[u8]> = events.iter().map(|e| &e.sql[..]).collect();
    let want: Vec<&[u8]> = texts.iter().map(|s| s.as_bytes()).collect();
    assert_eq!(got, want, "every text intact, in order");
    // Consecutive short texts lie side by side until a chunk is full.
    let adjacent = events
        .windows(2)
        .filter(|w| w[0].sql.as_ptr().wrapping_add(w[0].sql.len()) == w[1].sql.as_ptr())
        .count();
    let chunks = texts.iter().map(String::len).sum::<usize>() / TEXT_CHUNK + 2;
    assert!(adjacent >= texts.len() - 1 - chunks, "{adjacent} of {} adjacent", texts.len());
    let long = &events[30].sql;
    assert!(
        events.iter().all(|e| e.sql.as_ptr() != long.as_ptr().wrapping_add(long.len())),
        "the long text is not in a chunk"
    );
}
