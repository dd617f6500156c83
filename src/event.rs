//! Statement events: what the data path tells the analysis path, one per executed statement.
//!
//! The data path builds an event from the frames it already holds and hands it over with
//! [`EventSender::send`], which never waits: a full queue drops the event and counts it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use bytes::Bytes;
use tokio::sync::mpsc;

/// Who a connection is, as its StartupMessage and ParameterStatus said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionInfo {
    pub database: Arc<str>,
    pub user: Arc<str>,
    pub application_name: Arc<str>,
}

/// How a statement ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// CommandComplete (or EmptyQueryResponse with `rows: None`).
    Done { rows: Option<u64> },
    /// PortalSuspended: an Execute with a row limit returned `rows` rows and stopped early.
    Suspended { rows: u64 },
    /// ErrorResponse with this SQLSTATE (five ASCII characters).
    Error { sqlstate: [u8; 5] },
}

/// Transaction state from the ReadyForQuery that follows a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TxState {
    #[default]
    Idle,
    InBlock,
    Failed,
}

/// One executed statement.
#[derive(Debug, Clone)]
pub struct StatementEvent {
    pub conn_id: u64,
    pub session: Arc<SessionInfo>,
    /// The text the client sent: a simple Query string (maybe several statements) or the
    /// text a prepared statement was parsed from. Raw bytes; may hold literal values, so it
    /// never leaves the analysis path as is.
    pub sql: Bytes,
    /// For a multi-statement simple query, which statement of `sql` (0-based) this is.
    pub stmt_index: u32,
    /// True when the statement came through the extended protocol (Parse/Bind/Execute).
    pub extended: bool,
    /// A hash of the Bind parameter values (extended protocol; 0 for simple queries, whose
    /// values are literals inside `sql`). Equal hashes mean "same parameters"; the values
    /// themselves are never kept.
    pub params_hash: u64,
    /// Execution time in microseconds: from forwarding the request (or the previous reply of
    /// the same pipeline) to the completion message.
    pub duration_us: u64,
    pub outcome: Outcome,
    /// Transaction state when the statement finished, as last reported by the server.
    pub tx: TxState,
    pub finished_at: SystemTime,
}

/// Counters the data path updates without locks.
#[derive(Debug, Default)]
pub struct EventCounters {
    pub sent: AtomicU64,
    pub dropped: AtomicU64,
    /// Events the analysis thread has finished with (so `sent - analyzed` are still queued).
    pub analyzed: AtomicU64,
}

/// The data path's end of the event queue. Cloned into every session.
#[derive(Debug, Clone)]
pub struct EventSender {
    tx: mpsc::Sender<StatementEvent>,
    counters: Arc<EventCounters>,
}

/// Creates the bounded event queue.
pub fn channel(
    capacity: usize,
) -> (EventSender, mpsc::Receiver<StatementEvent>, Arc<EventCounters>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let counters = Arc::new(EventCounters::default());
    (EventSender { tx, counters: counters.clone() }, rx, counters)
}

impl EventSender {
    /// Hands the event to the analysis path, or drops and counts it if the queue is full.
    pub fn send(&self, event: StatementEvent) {
        match self.tx.try_send(event) {
            Ok(()) => self.counters.sent.fetch_add(1, Ordering::Relaxed),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed)
            }
            // Analysis is off (`[analysis] enabled = false`) or stopped: nothing to count.
            Err(mpsc::error::TrySendError::Closed(_)) => 0,
        };
    }
}
