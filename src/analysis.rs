//! The analysis thread: drains statement events, turns each into a pattern, records its
//! statistics and shows it to the detectors.
//!
//! It runs on its own thread (see `sidecar`), off the threads that relay bytes; those hand
//! over batches of events and never wait.
//! The thread does not wait on each send: it wakes on a timer and drains what arrived since,
//! or earlier when the queue fills past half its bound. A receiver parked in `recv` would have
//! every send wake it, and that cross-thread wake-up cost more per statement than the
//! analysis (see docs/benchmarks.md); with the timer, a send is a queue push and nothing else.
//! Detectors see each statement at the time it finished, not the time it was drained.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::time::MissedTickBehavior;

use crate::detect::{Detectors, ExplainRequest};
use crate::event::{Batch, EventCounters, EventReceiver, StatementEvent};
use crate::fingerprint::{Fingerprinter, split_statements};
use crate::stats::{Observation, StatsStore};

/// How often the queue is drained (unless it fills past half its bound first). Bounds how late
/// a statement shows up in the API. Each wake-up starts on cold caches, so fewer and larger
/// drains cost less per statement: with TPC-B `-M simple` at 16 clients the thread spent
/// 3.2–3.3 µs per transaction at 50 ms and 2.6–2.7 at 200 ms (docs/benchmarks.md).
const DRAIN: Duration = Duration::from_millis(200);
/// How often time-based detector state (idle bursts) is flushed.
const TICK: Duration = Duration::from_millis(100);

/// What the analysis thread owns or shares with the HTTP surface.
pub struct Analysis {
    pub fingerprinter: Fingerprinter,
    pub stats: Arc<Mutex<StatsStore>>,
    pub detectors: Arc<Mutex<Detectors>>,
    /// Where slow patterns go to be explained (`[analysis] url` set).
    pub explain: Option<mpsc::Sender<ExplainRequest>>,
    /// Shared with the data path; `analyzed` is advanced here.
    pub counters: Arc<EventCounters>,
}

/// Runs until every [`crate::event::EventSender`] is gone and the queue is empty.
pub async fn run(mut events: EventReceiver, mut analysis: Analysis) {
    let mut drain = tokio::time::interval(DRAIN);
    drain.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_tick = Instant::now();
    loop {
        tokio::select! {
            _ = drain.tick() => {}
            () = events.half_full() => {}
        }
        loop {
            match events.try_recv() {
                Ok(batch) => analysis.observe_batch(batch),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        if last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            analysis.tick();
        }
    }
}

impl Analysis {
    /// Handles one batch from a relay thread under one lock of the shared state, then hands
    /// it back to that thread.
    fn observe_batch(&mut self, batch: Batch) {
        let clock = (Instant::now(), SystemTime::now());
        let mut store = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        let mut detectors = self.detectors.lock().unwrap_or_else(PoisonError::into_inner);
        let n = batch.events.len() as u64;
        for event in &batch.events {
            let at = instant_of(event.finished_at, clock);
            observe(event, &mut self.fingerprinter, &mut store, &mut detectors, at);
        }
        let overflowed = batch.give_back() as u64;
        if overflowed > 0 {
            self.counters.returns_overflowed.fetch_add(overflowed, Ordering::Relaxed);
        }
        // Published before `analyzed`, so whoever sees the events analysed sees this too.
        let fp = &self.fingerprinter;
        let (canonical, exact, templates) =
            (fp.evictions(), fp.exact_evictions(), fp.template_evictions());
        self.counters.memo_evictions.store(canonical, Ordering::Relaxed);
        self.counters.exact_memo_evictions.store(exact, Ordering::Relaxed);
        self.counters.template_memo_evictions.store(templates, Ordering::Relaxed);
        self.counters.analyzed.fetch_add(n, Ordering::Release);
        for request in detectors.take_explain_requests() {
            if let Some(explain) = &self.explain {
                // A full queue drops the request; the pattern simply gets no plan.
                let _ = explain.try_send(request);
            }
        }
    }

    fn tick(&mut self) {
        self.detectors.lock().unwrap_or_else(PoisonError::into_inner).tick(Instant::now());
    }
}

/// The monotonic time of a wall-clock time at or before `clock`, a pair of readings of both
/// clocks taken together; `clock`'s instant if `wall` is after it (a clock step).
fn instant_of(wall: SystemTime, (now, now_wall): (Instant, SystemTime)) -> Instant {
    let ago = now_wall.duration_since(wall).unwrap_or(Duration::ZERO);
    now.checked_sub(ago).unwrap_or(now)
}

/// Records one event and shows it to the detectors, as of `now`: when it finished.
pub fn observe(
    event: &StatementEvent,
    fingerprinter: &mut Fingerprinter,
    store: &mut StatsStore,
    detectors: &mut Detectors,
    now: Instant,
) {
    // Valid UTF-8 (nearly always) is checked by the fast path; only invalid text is copied.
    let text = match std::str::from_utf8(&event.sql) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(&event.sql),
    };
    let statement = statement_of(&text, event.stmt_index);
    let pattern = if event.extended {
        fingerprinter.fingerprint(statement)
    } else {
        fingerprinter.fingerprint_query(statement)
    };
    store.record(&Observation {
        pattern_id: pattern.id.0,
        pattern_text: &pattern.text,
        parsed: pattern.parsed,
        duration_us: event.duration_us,
        outcome: event.outcome,
        at: event.finished_at,
    });
    detectors.observe_event(event, statement, &pattern, now);
}

/// The `index`th statement of a simple-Query string (the whole text when it has only one).
fn statement_of(text: &str, index: u32) -> &str {
    let trimmed = text.trim_end_matches(|c: char| c == ';' || c.is_whitespace());
    if index == 0 && !trimmed.contains(';') {
        return text;
    }
    split_statements(text).get(index as usize).copied().unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{DetectConfig, FindingKind};
    use crate::event::{Outcome, SessionInfo, TxState, channel};
    use bytes::Bytes;

    /// Statements of one connection that finished `gaps_ms` apart, analysed in one batch.
    fn n_plus_one_findings(gaps_ms: &[u64]) -> usize {
        let detectors = Detectors::new(&DetectConfig::default()).expect("default rules");
        let (sender, mut receiver, counters) = channel(1000);
        let mut analysis = Analysis {
            fingerprinter: Fingerprinter::new(100),
            stats: Arc::new(Mutex::new(StatsStore::new(100))),
            detectors: Arc::new(Mutex::new(detectors)),
            explain: None,
            counters,
        };
        let session = Arc::new(SessionInfo::default());
        let mut at = SystemTime::now() - Duration::from_secs(60);
        let mut events = Vec::new();
        let mut push = |sql: String, at: SystemTime| {
            events.push(StatementEvent {
                conn_id: 1,
                session: session.clone(),
                sql: Bytes::from(sql),
                stmt_index: 0,
                extended: false,
                params_hash: 0,
                duration_us: 20_000,
                outcome: Outcome::Done { rows: Some(1) },
                tx: TxState::Idle,
                finished_at: at,
            });
        };
        push("SELECT id FROM authors".into(), at);
        for (i, gap) in gaps_ms.iter().enumerate() {
            at += Duration::from_millis(*gap);
            push(format!("SELECT * FROM books WHERE author_id = {i}"), at);
        }
        push("SELECT 1".into(), at + Duration::from_millis(20));
        sender.send_batch(&mut events, None);
        analysis.observe_batch(receiver.try_recv().expect("sent"));
        let detectors = analysis.detectors.lock().expect("not poisoned");
        let findings = detectors.findings().list(None, 100);
        findings.iter().filter(|f| f.kind == FindingKind::NPlusOne).count()
    }

    #[test]
    fn detectors_see_when_statements_finished_not_when_they_were_drained() {
        assert_eq!(n_plus_one_findings(&[20; 6]), 1, "six executions 20 ms apart");
        // 2 s between the third and the fourth (the idle gap is 1 s) splits them into 3 + 3,
        // each below the repeat threshold, though all six are analysed in one batch.
        assert_eq!(n_plus_one_findings(&[20, 20, 20, 2000, 20, 20]), 0);
    }

    #[test]
    fn a_wall_time_maps_to_the_instant_as_long_before_now() {
        let clock = (Instant::now(), SystemTime::now());
        let earlier = clock.1 - Duration::from_millis(1500);
        assert_eq!(instant_of(earlier, clock), clock.0 - Duration::from_millis(1500));
        assert_eq!(instant_of(clock.1, clock), clock.0);
        // A wall time after the reading (the clock stepped back): no later than now.
        assert_eq!(instant_of(clock.1 + Duration::from_secs(3), clock), clock.0);
    }
}
