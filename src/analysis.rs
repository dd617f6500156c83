//! The analysis thread: drains statement events, turns each into a pattern, records its
//! statistics and shows it to the detectors.
//!
//! It runs on its own thread (see `sidecar`), off the threads that relay bytes; those hand
//! over batches of events and never wait.
//! The thread never waits on the queue itself: it wakes on a short timer and drains what
//! arrived since. A receiver parked in `recv` would have every send wake it, and that
//! cross-thread wake-up cost more per statement than the analysis (see docs/benchmarks.md);
//! with the timer, a send is a queue push and nothing else.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::time::MissedTickBehavior;

use crate::detect::{Detectors, ExplainRequest};
use crate::event::{Batch, EventCounters, EventReceiver, StatementEvent};
use crate::fingerprint::{Fingerprinter, split_statements};
use crate::stats::{Observation, StatsStore};

/// How often the queue is drained. Bounds how late a statement shows up in the API.
/// Each wake-up starts on cold caches, and that start cost more than the statements it
/// drained: at 10 ms the thread spent 5 µs per TPC-B transaction, at 50 ms 2 µs
/// (docs/benchmarks.md). The queue's default bound (`analysis.event_queue`, 65 536 events)
/// holds 50 ms of 1.3 million statements a second.
const DRAIN: Duration = Duration::from_millis(50);
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
        drain.tick().await;
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
        let now = Instant::now();
        let mut store = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        let mut detectors = self.detectors.lock().unwrap_or_else(PoisonError::into_inner);
        let n = batch.events.len() as u64;
        for event in &batch.events {
            observe(event, &mut self.fingerprinter, &mut store, &mut detectors, now);
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

/// Records one event and shows it to the detectors.
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
    let pattern = fingerprinter.fingerprint(statement);
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
