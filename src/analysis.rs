//! The analysis task: drains statement events, turns each into a pattern and records it.
//!
//! It runs on its own task, off the connection tasks; the data path only ever `try_send`s.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

use crate::event::StatementEvent;
use crate::fingerprint::{Fingerprinter, split_statements};
use crate::stats::{Observation, StatsStore};

/// Events handled per lock of the statistics store.
const BATCH: usize = 256;

/// Runs until every [`crate::event::EventSender`] is gone.
pub async fn run(
    mut events: mpsc::Receiver<StatementEvent>,
    mut fingerprinter: Fingerprinter,
    stats: Arc<Mutex<StatsStore>>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while events.recv_many(&mut batch, BATCH).await > 0 {
        let mut store = stats.lock().unwrap_or_else(PoisonError::into_inner);
        for event in batch.drain(..) {
            observe(&event, &mut fingerprinter, &mut store);
        }
    }
}

/// Records one event.
pub fn observe(event: &StatementEvent, fingerprinter: &mut Fingerprinter, store: &mut StatsStore) {
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
}

/// The `index`th statement of a simple-Query string (the whole text when it has only one).
fn statement_of(text: &str, index: u32) -> &str {
    let trimmed = text.trim_end_matches(|c: char| c == ';' || c.is_whitespace());
    if index == 0 && !trimmed.contains(';') {
        return text;
    }
    split_statements(text).get(index as usize).copied().unwrap_or(text)
}
