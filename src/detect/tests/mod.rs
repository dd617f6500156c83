//! Shared helpers for the detector tests: synthetic events with explicit instants.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use xxhash_rust::xxh3::xxh3_64;

use super::sqlcomment::parse_tags;
use super::{Detector, Finding, Observed, trace_of};
use crate::event::{Outcome, SessionInfo, StatementEvent, TxState};
use crate::fingerprint::classify::classify;
use crate::fingerprint::{Pattern, PatternId};

mod detectors;
mod nplusone;
mod routes;
mod slow;
mod store;

/// A pattern with an id derived from its text (the real normalizer is not used here).
pub(super) fn pattern(text: &str) -> Arc<Pattern> {
    Arc::new(Pattern {
        id: PatternId(xxh3_64(text.as_bytes())),
        text: text.to_string(),
        parsed: true,
        class: classify(text),
    })
}

/// One statement to feed: what the tracker and the fingerprinter would have produced.
#[derive(Debug, Clone)]
pub(super) struct Stmt {
    pub pattern: Arc<Pattern>,
    pub sql: String,
    pub extended: bool,
    pub params_hash: u64,
    pub duration_us: u64,
    pub tx: TxState,
    pub outcome: Outcome,
    pub route: Option<String>,
}

/// A simple-protocol statement: its literals are in `sql`.
pub(super) fn simple(pattern_text: &str, sql: &str, ms: u64) -> Stmt {
    Stmt {
        pattern: pattern(pattern_text),
        sql: sql.to_string(),
        extended: false,
        params_hash: 0,
        duration_us: ms * 1000,
        tx: TxState::Idle,
        outcome: Outcome::Done { rows: Some(1) },
        route: None,
    }
}

/// An extended-protocol statement whose SQL is the pattern and whose Bind values hash to
/// `params`.
pub(super) fn bound(pattern_text: &str, params: u64, ms: u64) -> Stmt {
    Stmt { extended: true, params_hash: params, ..simple(pattern_text, pattern_text, ms) }
}

/// A transaction-control or utility statement taking 0.1 ms.
pub(super) fn control(text: &str) -> Stmt {
    Stmt { duration_us: 100, ..simple(text, text, 0) }
}

impl Stmt {
    pub fn tx(self, tx: TxState) -> Stmt {
        Stmt { tx, ..self }
    }

    pub fn route(self, route: &str) -> Stmt {
        Stmt { route: Some(route.to_string()), ..self }
    }

    pub fn us(self, duration_us: u64) -> Stmt {
        Stmt { duration_us, ..self }
    }
}

/// Drives one detector with a virtual clock: each statement advances it by its duration.
pub(super) struct Harness<D> {
    pub detector: D,
    pub now: Instant,
    wall: SystemTime,
    session: Arc<SessionInfo>,
    pub out: Vec<Finding>,
}

impl<D: Detector> Harness<D> {
    pub fn new(detector: D) -> Self {
        Harness {
            detector,
            now: Instant::now(),
            wall: UNIX_EPOCH + Duration::from_secs(1_795_322_400),
            session: Arc::new(SessionInfo {
                database: "shop".into(),
                user: "app".into(),
                application_name: "web".into(),
            }),
            out: Vec::new(),
        }
    }

    /// Runs `stmt` on connection `conn`; returns the findings it produced.
    pub fn run(&mut self, conn: u64, stmt: &Stmt) -> Vec<Finding> {
        self.advance_us(stmt.duration_us);
        let event = self.event(conn, stmt);
        let obs = Observed {
            event: &event,
            statement: &stmt.sql,
            pattern: &stmt.pattern,
            route: stmt.route.as_deref(),
            trace: trace_of(&parse_tags(&stmt.sql)),
        };
        let before = self.out.len();
        self.detector.observe(&obs, self.now, &mut self.out);
        self.out[before..].to_vec()
    }

    /// Runs `stmt` `times` times on `conn`, with `params(i)` as the i-th params hash.
    pub fn repeat(&mut self, conn: u64, stmt: &Stmt, times: u64, params: impl Fn(u64) -> u64) {
        for i in 0..times {
            self.run(conn, &Stmt { params_hash: params(i), ..stmt.clone() });
        }
    }

    /// Lets `ms` pass without ticking.
    pub fn pause(&mut self, ms: u64) {
        self.advance_us(ms * 1000);
    }

    /// Ticks at the current time; returns the findings it produced.
    pub fn tick(&mut self) -> Vec<Finding> {
        let before = self.out.len();
        self.detector.tick(self.now, &mut self.out);
        self.out[before..].to_vec()
    }

    pub fn event(&self, conn: u64, stmt: &Stmt) -> StatementEvent {
        StatementEvent {
            conn_id: conn,
            session: self.session.clone(),
            sql: Bytes::from(stmt.sql.clone()),
            stmt_index: 0,
            extended: stmt.extended,
            params_hash: stmt.params_hash,
            duration_us: stmt.duration_us,
            outcome: stmt.outcome,
            tx: stmt.tx,
            finished_at: self.wall,
        }
    }

    fn advance_us(&mut self, us: u64) {
        self.now += Duration::from_micros(us);
        self.wall += Duration::from_micros(us);
    }
}

/// The single finding in `findings`.
pub(super) fn only(findings: &[Finding]) -> &Finding {
    assert_eq!(findings.len(), 1, "expected one finding, got {findings:#?}");
    &findings[0]
}
