//! N+1 and duplicate bursts, after Sentry's N+1 rule, per connection.
//!
//! A *burst* is a run of consecutive executions of one pattern on one connection. It ends at:
//! - a statement of another pattern (which starts the next burst; the ended burst's pattern
//!   becomes that burst's *parent*);
//! - the end of a transaction block: a COMMIT / END / ROLLBACK / ABORT / PREPARE TRANSACTION
//!   statement, or the server's transaction status going back to idle;
//! - an idle gap of `idle_gap_ms` on the connection (checked at the next statement, minus that
//!   statement's own duration, and by [`Detector::tick`]);
//! - a change of request: a different route, or a different sqlcommenter trace id.
//!
//! The last three are request boundaries: the next burst has no parent.
//!
//! When a burst ends it is judged:
//! - **N+1** when it has at least `min_repeats` executions, not all with the same parameters
//!   (one differing execution is enough; equal parameters may repeat inside), and takes at
//!   least `min_total_ms` in total. Critical from `critical_count` executions or
//!   `critical_total_ms`, else Warning.
//! - **Duplicate** when all its executions had the very same parameters and there are at
//!   least `duplicate_min_repeats` of them. Warning from `min_total_ms`, else Info.
//!
//! "Parameters" are the Bind values (extended protocol) together with the statement text
//! without its edge comments, which for the simple protocol carries the literals.
//!
//! Transaction control and utility statements (BEGIN, SAVEPOINT, RELEASE, ROLLBACK TO, SET,
//! SHOW, …) are transparent: they neither start, continue nor break a burst, and are never a
//! parent. So Rails' `SAVEPOINT; INSERT; RELEASE SAVEPOINT` per `save` inside a transaction
//! still forms one burst of INSERTs. BEGIN does not break a burst either (a transaction that
//! opens mid-loop is still the loop); its COMMIT does. A loop of `save` in autocommit mode
//! (BEGIN; INSERT; COMMIT each) is therefore not reported: each COMMIT ends the burst.
//!
//! Autocommit statements form bursts like any others (Django's and most ORMs' default).
//! There is no connection-closed event: state of a connection idle for `idle_gap_ms` is
//! dropped by `tick`, and at most `max_connections` connections are tracked (the least
//! recently active is judged and dropped beyond, and counted as an eviction).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::burst::{Burst, BurstRules, Execution};
use super::config::NPlusOneConfig;
use super::finding::Finding;
use super::lru::LruMap;
use super::{Detector, Observed};
use crate::event::{SessionInfo, TxState};
use crate::fingerprint::StatementClass;

/// Reports N+1 and duplicate bursts.
#[derive(Debug)]
pub struct NPlusOneDetector {
    rules: BurstRules,
    idle_gap: Duration,
    conns: LruMap<u64, ConnState>,
}

/// What the detector remembers about one connection.
#[derive(Debug)]
struct ConnState {
    conn_id: u64,
    /// The session as its latest event reported it (replaced only when the tracker replaced
    /// it, so most events cost a pointer comparison, not a reference count).
    session: Arc<SessionInfo>,
    last_active: Instant,
    /// The transaction status the previous event carried.
    last_tx: TxState,
    /// Inside an explicit transaction block, as far as statements and status tell.
    in_block: bool,
    burst: Option<Burst>,
}

impl NPlusOneDetector {
    /// A detector for `config`.
    pub fn new(config: &NPlusOneConfig) -> Self {
        NPlusOneDetector {
            rules: BurstRules::new(config),
            idle_gap: Duration::from_millis(config.idle_gap_ms),
            conns: LruMap::new(config.max_connections),
        }
    }

    /// Connections tracked now.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }
}

impl Detector for NPlusOneDetector {
    fn observe(&mut self, obs: &Observed<'_>, now: Instant, out: &mut Vec<Finding>) {
        let (state, evicted) =
            self.conns.touch_or_insert_with(obs.event.conn_id, || ConnState::new(obs, now));
        if let Some((_, mut old)) = evicted {
            old.end_request(&self.rules, out);
        }
        let busy = Duration::from_micros(obs.event.duration_us);
        if now.saturating_duration_since(state.last_active).saturating_sub(busy) >= self.idle_gap {
            state.end_request(&self.rules, out);
        }
        state.last_active = now;
        state.observe(obs, &self.rules, out);
    }

    fn tick(&mut self, now: Instant, out: &mut Vec<Finding>) {
        let gap = self.idle_gap;
        while let Some((_, mut state)) =
            self.conns.pop_oldest_if(|s| now.saturating_duration_since(s.last_active) >= gap)
        {
            state.end_request(&self.rules, out);
        }
    }

    fn name(&self) -> &'static str {
        "n_plus_one"
    }

    fn evictions(&self) -> u64 {
        self.conns.evictions()
    }
}

impl ConnState {
    fn new(obs: &Observed<'_>, now: Instant) -> Self {
        ConnState {
            conn_id: obs.event.conn_id,
            session: obs.event.session.clone(),
            last_active: now,
            last_tx: TxState::Idle,
            in_block: false,
            burst: None,
        }
    }

    fn observe(&mut self, obs: &Observed<'_>, rules: &BurstRules, out: &mut Vec<Finding>) {
        if !Arc::ptr_eq(&self.session, &obs.event.session) {
            self.session = obs.event.session.clone();
        }
        self.follow_tx_status(obs.event.tx, rules, out);
        match obs.pattern.class {
            StatementClass::Begin => self.in_block = true,
            StatementClass::End => {
                self.in_block = false;
                self.end_request(rules, out);
            }
            StatementClass::Utility => {}
            StatementClass::Ordinary => self.statement(obs, rules, out),
        }
    }

    /// Ends the block when the server's status went from in-block back to idle since the
    /// previous event, unless a COMMIT-like statement already did.
    fn follow_tx_status(&mut self, tx: TxState, rules: &BurstRules, out: &mut Vec<Finding>) {
        let was_idle = self.last_tx == TxState::Idle;
        self.last_tx = tx;
        match (was_idle, tx == TxState::Idle) {
            (true, false) => self.in_block = true,
            (false, true) if self.in_block => {
                self.in_block = false;
                self.end_request(rules, out);
            }
            _ => {}
        }
    }

    /// An ordinary statement: continues the burst, or ends it and starts the next.
    fn statement(&mut self, obs: &Observed<'_>, rules: &BurstRules, out: &mut Vec<Finding>) {
        let exec = Execution::of(obs);
        let same_request = self.burst.as_ref().is_some_and(|b| b.same_request(&exec, obs.route));
        if same_request
            && let Some(burst) = self.burst.as_mut().filter(|b| b.pattern.id == obs.pattern.id)
        {
            burst.add(&exec);
            return;
        }
        let parent = match self.burst.take() {
            Some(previous) => {
                out.extend(previous.judge(rules, self.conn_id, &self.session));
                same_request.then_some(previous.pattern)
            }
            None => None,
        };
        self.burst = Some(Burst::start(obs, &exec, parent));
    }

    /// A request boundary: judges the burst and forgets it, so the next one has no parent.
    fn end_request(&mut self, rules: &BurstRules, out: &mut Vec<Finding>) {
        if let Some(burst) = self.burst.take() {
            out.extend(burst.judge(rules, self.conn_id, &self.session));
        }
    }
}
