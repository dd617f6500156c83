//! The analysis path's cost per statement, without sockets: pgbench's TPC-B and select-only
//! statements (as `-M prepared` and as `-M simple` send them) from 16 connections go through
//! [`pgscope::analysis::observe`] with the default settings, and the mean time per event is
//! printed. Run with `cargo bench --bench analysis`.
//!
//! The data path does not pay this cost (the analysis thread does), but on a machine with few
//! cores it is CPU the application's database does not get; see docs/benchmarks.md.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use pgscope::analysis::observe;
use pgscope::detect::{DetectConfig, Detectors};
use pgscope::event::{Outcome, SessionInfo, StatementEvent, TxState};
use pgscope::fingerprint::{Fingerprinter, memo_key};
use pgscope::stats::StatsStore;

const CONNECTIONS: u64 = 16;
const TRANSACTIONS: u64 = 200_000;

/// A small deterministic generator (xorshift), so runs compare.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

/// One select-only transaction (pgbench -S): one statement, in autocommit.
fn select_only(rng: &mut Rng, prepared: bool) -> Vec<(String, bool, u64)> {
    let aid = rng.next(1_000_000) + 1;
    if prepared {
        let sql = "SELECT abalance FROM pgbench_accounts WHERE aid = $1;";
        vec![(sql.to_string(), true, rng.next(u64::MAX))]
    } else {
        vec![(format!("SELECT abalance FROM pgbench_accounts WHERE aid = {aid};"), false, 0)]
    }
}

/// One TPC-B transaction's statements, as the client sends them.
fn transaction(rng: &mut Rng, prepared: bool) -> Vec<(String, bool, u64)> {
    let (aid, tid, bid, delta) = (
        rng.next(1_000_000) + 1,
        rng.next(100) + 1,
        rng.next(10) + 1,
        rng.next(10_000) as i64 - 5000,
    );
    let params = rng.next(u64::MAX);
    if prepared {
        [
            "BEGIN;",
            "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;",
            "SELECT abalance FROM pgbench_accounts WHERE aid = $1;",
            "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2;",
            "UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2;",
            "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);",
            "END;",
        ]
        .iter()
        .enumerate()
        .map(|(i, s)| (s.to_string(), true, params.wrapping_add(i as u64)))
        .collect()
    } else {
        vec![
            ("BEGIN;".to_string(), false, 0),
            (
                format!(
                    "UPDATE pgbench_accounts SET abalance = abalance + {delta} WHERE aid = {aid};"
                ),
                false,
                0,
            ),
            (format!("SELECT abalance FROM pgbench_accounts WHERE aid = {aid};"), false, 0),
            (
                format!(
                    "UPDATE pgbench_tellers SET tbalance = tbalance + {delta} WHERE tid = {tid};"
                ),
                false,
                0,
            ),
            (
                format!(
                    "UPDATE pgbench_branches SET bbalance = bbalance + {delta} WHERE bid = {bid};"
                ),
                false,
                0,
            ),
            (
                format!(
                    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ({tid}, {bid}, {aid}, {delta}, CURRENT_TIMESTAMP);"
                ),
                false,
                0,
            ),
            ("END;".to_string(), false, 0),
        ]
    }
}

/// Mean time of [`memo_key`] alone (the canonical scan) over the workload's statement texts.
fn memo_key_only(workload: Workload, prepared: bool) -> Duration {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut texts = Vec::new();
    for _ in 0..TRANSACTIONS {
        let statements = match workload {
            Workload::TpcB => transaction(&mut rng, prepared),
            Workload::SelectOnly => select_only(&mut rng, prepared),
        };
        texts.extend(statements.into_iter().map(|(sql, _, _)| sql));
    }
    let start = Instant::now();
    for sql in &texts {
        black_box(memo_key(black_box(sql)));
    }
    start.elapsed() / texts.len() as u32
}

fn run(workload: Workload, prepared: bool) -> (Duration, u64) {
    let session = Arc::new(SessionInfo {
        database: "postgres".into(),
        user: "postgres".into(),
        application_name: "pgbench".into(),
    });
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Built before timing: the relay thread builds events, the analysis thread consumes them.
    let mut events = Vec::new();
    for tx in 0..TRANSACTIONS {
        let conn_id = tx % CONNECTIONS;
        let statements = match workload {
            Workload::TpcB => transaction(&mut rng, prepared),
            Workload::SelectOnly => select_only(&mut rng, prepared),
        };
        let in_block = matches!(workload, Workload::TpcB);
        for (sql, extended, params_hash) in statements {
            events.push(StatementEvent {
                conn_id,
                session: session.clone(),
                sql: Bytes::from(sql),
                stmt_index: 0,
                extended,
                params_hash,
                duration_us: 50 + rng.next(200),
                outcome: Outcome::Done { rows: Some(1) },
                tx: if in_block { TxState::InBlock } else { TxState::Idle },
                finished_at: SystemTime::now(),
            });
        }
    }
    let mut fingerprinter = Fingerprinter::new(20_000);
    let mut store = StatsStore::new(5000);
    let mut detectors = Detectors::new(&DetectConfig::default()).expect("default rules are valid");
    let start = Instant::now();
    let now = Instant::now();
    for (i, event) in events.iter().enumerate() {
        observe(
            black_box(event),
            &mut fingerprinter,
            &mut store,
            &mut detectors,
            now + Duration::from_micros(i as u64 * 40),
        );
    }
    (start.elapsed(), events.len() as u64)
}

#[derive(Clone, Copy)]
enum Workload {
    TpcB,
    SelectOnly,
}

fn main() {
    // `cargo bench --bench analysis -- prepared` (or `simple`, `tpcb`, `select-only`) runs
    // the cases whose name holds every word given.
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    for (workload, label) in [(Workload::TpcB, "tpcb"), (Workload::SelectOnly, "select-only")] {
        for prepared in [true, false] {
            let name = format!("{label} {}", if prepared { "prepared" } else { "simple" });
            if !only.iter().all(|o| name.split(' ').any(|w| w == o)) {
                continue;
            }
            // One warm-up run, then the timed one.
            run(workload, prepared);
            let (took, n) = run(workload, prepared);
            println!(
                "analysis, {:<20}: {:>7.0} ns/statement, {:>5.2} us/transaction ({} statements)",
                name,
                took.as_nanos() as f64 / n as f64,
                took.as_micros() as f64 / TRANSACTIONS as f64,
                n,
            );
            memo_key_only(workload, prepared);
            println!(
                "  memo_key alone (the canonical scan) on the same texts: {:>4} ns/statement",
                memo_key_only(workload, prepared).as_nanos()
            );
        }
    }
}
