//! The relay thread's own work per transaction, without sockets: the frames of pgbench's
//! TPC-B transaction (`-M prepared`: Bind/Execute/Sync per statement; `-M simple`: one Query
//! per statement; and the server's replies) go through the frame splitter and the tracker
//! the way `proxy::relay` feeds them, events included. Run with `cargo bench --bench tracker`.

use std::hint::black_box;
use std::time::Instant;

use pgscope::event::SessionInfo;
use pgscope::tracker::{Tracker, TrackerLimits};
use pgscope::wire::Splitter;

const TRANSACTIONS: u64 = 1_000_000;

fn frame(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    out.extend_from_slice(body);
}

fn cstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

/// Parse of one statement (sent once per connection by `-M prepared`).
fn parse(name: &str, sql: &str) -> Vec<u8> {
    let mut body = Vec::new();
    cstr(&mut body, name);
    cstr(&mut body, sql);
    body.extend_from_slice(&0u16.to_be_bytes());
    let mut out = Vec::new();
    frame(&mut out, b'P', &body);
    frame(&mut out, b'S', &[]);
    out
}

/// Bind (text parameters), Execute and Sync of one statement: one client read.
fn execute(name: &str, params: &[&str]) -> Vec<u8> {
    let mut bind = Vec::new();
    cstr(&mut bind, "");
    cstr(&mut bind, name);
    bind.extend_from_slice(&0u16.to_be_bytes());
    bind.extend_from_slice(&(params.len() as u16).to_be_bytes());
    for p in params {
        bind.extend_from_slice(&(p.len() as u32).to_be_bytes());
        bind.extend_from_slice(p.as_bytes());
    }
    bind.extend_from_slice(&0u16.to_be_bytes());
    let mut out = Vec::new();
    frame(&mut out, b'B', &bind);
    let mut exec = Vec::new();
    cstr(&mut exec, "");
    exec.extend_from_slice(&0u32.to_be_bytes());
    frame(&mut out, b'E', &exec);
    frame(&mut out, b'S', &[]);
    out
}

/// The server's reply to one statement: `head` (BindComplete for `-M prepared`, the
/// RowDescription of a simple-protocol SELECT), a DataRow for SELECT, CommandComplete and
/// ReadyForQuery.
fn reply(head: &[u8], tag: &str, row: bool, status: u8) -> Vec<u8> {
    let mut out = head.to_vec();
    if row {
        let mut data = Vec::new();
        data.extend_from_slice(&1u16.to_be_bytes());
        data.extend_from_slice(&4u32.to_be_bytes());
        data.extend_from_slice(b"1234");
        frame(&mut out, b'D', &data);
    }
    let mut complete = Vec::new();
    cstr(&mut complete, tag);
    frame(&mut out, b'C', &complete);
    frame(&mut out, b'Z', &[status]);
    out
}

/// A simple Query: the statement's text with its parameters written in, as `-M simple`
/// sends it.
fn query(sql: &str, params: &[&str]) -> Vec<u8> {
    let mut text = sql.to_string();
    for (i, p) in params.iter().enumerate().rev() {
        text = text.replace(&format!("${}", i + 1), p);
    }
    let mut body = Vec::new();
    cstr(&mut body, &text);
    let mut out = Vec::new();
    frame(&mut out, b'Q', &body);
    out
}

/// BindComplete, which heads each `-M prepared` reply.
fn bind_complete() -> Vec<u8> {
    let mut out = Vec::new();
    frame(&mut out, b'2', &[]);
    out
}

/// The RowDescription of `SELECT abalance …`: one int4 column.
fn row_description() -> Vec<u8> {
    let mut desc = Vec::new();
    desc.extend_from_slice(&1u16.to_be_bytes());
    cstr(&mut desc, "abalance");
    desc.extend_from_slice(&[0; 6]);
    desc.extend_from_slice(&23u32.to_be_bytes());
    desc.extend_from_slice(&4i16.to_be_bytes());
    desc.extend_from_slice(&(-1i32).to_be_bytes());
    desc.extend_from_slice(&0u16.to_be_bytes());
    let mut out = Vec::new();
    frame(&mut out, b'T', &desc);
    out
}

/// What the relay does with one read: scan it, then collect the events.
fn scan(
    splitter: &mut Splitter,
    tracker: &mut Tracker,
    bytes: &[u8],
    client: bool,
    outbox: &mut Vec<pgscope::event::StatementEvent>,
) {
    let now = Instant::now();
    let progress = tracker.emit_into(outbox, |tracker| {
        if client {
            splitter
                .scan(bytes, Tracker::client_peek, |tag, body, _| tracker.on_client(tag, body, now))
        } else {
            splitter
                .scan(bytes, Tracker::server_peek, |tag, body, _| tracker.on_server(tag, body, now))
        }
    });
    black_box(progress.expect("well-formed frames"));
}

fn main() {
    let statements = [
        ("P0_1", "BEGIN;", vec![], "BEGIN", false),
        (
            "P0_2",
            "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;",
            vec!["-4213", "734211"],
            "UPDATE 1",
            false,
        ),
        (
            "P0_3",
            "SELECT abalance FROM pgbench_accounts WHERE aid = $1;",
            vec!["734211"],
            "SELECT 1",
            true,
        ),
        (
            "P0_4",
            "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2;",
            vec!["-4213", "57"],
            "UPDATE 1",
            false,
        ),
        (
            "P0_5",
            "UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2;",
            vec!["-4213", "6"],
            "UPDATE 1",
            false,
        ),
        (
            "P0_6",
            "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);",
            vec!["57", "6", "734211", "-4213"],
            "INSERT 0 1",
            false,
        ),
        ("P0_7", "END;", vec![], "COMMIT", false),
    ];
    let session = SessionInfo {
        database: "postgres".into(),
        user: "postgres".into(),
        application_name: "pgbench".into(),
    };
    // -M prepared: each statement parsed once, then Bind/Execute/Sync per execution.
    let setup: Vec<(Vec<u8>, Vec<u8>)> = statements
        .iter()
        .map(|(name, sql, ..)| {
            let mut done = Vec::new();
            frame(&mut done, b'1', &[]);
            frame(&mut done, b'Z', b"I");
            (parse(name, sql), done)
        })
        .collect();
    let rounds: Vec<(Vec<u8>, Vec<u8>)> = statements
        .iter()
        .enumerate()
        .map(|(i, (name, _, params, tag, row))| {
            let status = if i == statements.len() - 1 { b'I' } else { b'T' };
            (execute(name, params), reply(&bind_complete(), tag, *row, status))
        })
        .collect();
    measure("TPC-B prepared", &session, &setup, &rounds);
    // -M simple: one Query per statement, its parameters written into the text.
    let rounds: Vec<(Vec<u8>, Vec<u8>)> = statements
        .iter()
        .enumerate()
        .map(|(i, (_, sql, params, tag, row))| {
            let status = if i == statements.len() - 1 { b'I' } else { b'T' };
            let head = if *row { row_description() } else { Vec::new() };
            (query(sql, params), reply(&head, tag, *row, status))
        })
        .collect();
    measure("TPC-B simple  ", &session, &[], &rounds);
}

/// Runs `setup` once, then `rounds` (one client read and one server read per statement)
/// `TRANSACTIONS` times, and prints the time per transaction.
fn measure(
    label: &str,
    session: &SessionInfo,
    setup: &[(Vec<u8>, Vec<u8>)],
    rounds: &[(Vec<u8>, Vec<u8>)],
) {
    let mut tracker = Tracker::new(1, session.clone(), TrackerLimits::default(), Instant::now());
    let (mut up, mut down) = (Splitter::new(1 << 30), Splitter::new(1 << 30));
    let mut outbox = Vec::new();
    for (client, server) in setup {
        scan(&mut up, &mut tracker, client, true, &mut outbox);
        scan(&mut down, &mut tracker, server, false, &mut outbox);
    }
    outbox.clear();
    let start = Instant::now();
    let mut events = 0;
    for _ in 0..TRANSACTIONS {
        for (client, server) in rounds {
            scan(&mut up, &mut tracker, client, true, &mut outbox);
            scan(&mut down, &mut tracker, server, false, &mut outbox);
        }
        // The relay hands a batch over every 64 events.
        if outbox.len() >= 64 {
            events += outbox.len();
            outbox.clear();
        }
    }
    let took = start.elapsed();
    events += outbox.len();
    println!(
        "relay scan + tracker, {label}: {:>6.0} ns/transaction ({} events)",
        took.as_nanos() as f64 / TRANSACTIONS as f64,
        events,
    );
}
