//! The analysis task: drains statement events, turns each into a pattern, records its
//! statistics and shows it to the detectors.
//!
//! It runs on its own task, off the connection tasks; the data path only ever `try_send`s.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use crate::detect::{Detectors, ExplainRequest};
use crate::event::StatementEvent;
use crate::fingerprint::{Fingerprinter, split_statements};
use crate::stats::{Observation, StatsStore};

/// Events handled per lock of the shared state.
const BATCH: usize = 256;
/// How often time-based detector state (idle bursts) is flushed.
const TICK: Duration = Duration::from_millis(100);

/// What the analysis task owns or shares with the HTTP surface.
pub struct Analysis {
    pub fingerprinter: Fingerprinter,
    pub stats: Arc<Mutex<StatsStore>>,
    pub detectors: Arc<Mutex<Detectors>>,
    /// Where slow patterns go to be explained (`[analysis] url` set).
    pub explain: Option<mpsc::Sender<ExplainRequest>>,
}

/// Runs until every [`crate::event::EventSender`] is gone.
pub async fn run(mut events: mpsc::Receiver<StatementEvent>, mut analysis: Analysis) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            n = events.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    return;
                }
                analysis.observe_batch(&mut batch);
            }
            _ = ticker.tick() => analysis.tick(),
        }
    }
}

impl Analysis {
    fn observe_batch(&mut self, batch: &mut Vec<StatementEvent>) {
        let now = Instant::now();
        let mut store = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        let mut detectors = self.detectors.lock().unwrap_or_else(PoisonError::into_inner);
        for event in batch.drain(..) {
            observe(&event, &mut self.fingerprinter, &mut store, &mut detectors, now);
        }
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
    let text = String::from_utf8_lossy(&event.sql);
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
