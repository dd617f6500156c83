//! Statement events: what the data path tells the analysis path, one per executed statement.
//!
//! The data path builds an event from the frames it already holds and hands it over with
//! [`EventSender::send`], which never waits: a full queue drops the event and counts it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;

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
    /// Events the trackers produced. A relay thread collects them into a batch before it
    /// sends them, so `collected - sent - dropped` are still waiting in a relay thread.
    pub collected: AtomicU64,
    pub sent: AtomicU64,
    pub dropped: AtomicU64,
    /// Events the analysis thread has finished with (so `sent - analyzed` are still queued).
    pub analyzed: AtomicU64,
    /// Patterns the fingerprint memo dropped to stay within its capacity, as the analysis
    /// thread last published it.
    pub memo_evictions: AtomicU64,
    /// Texts the exact-text memo in front of it dropped, published the same way.
    pub exact_memo_evictions: AtomicU64,
    /// Texts the template memo in front of it dropped, published the same way.
    pub template_memo_evictions: AtomicU64,
    /// Analysed events their relay thread had no room to take back (see [`Returns`]); the
    /// analysis thread freed them itself. Nothing is lost.
    pub returns_overflowed: AtomicU64,
}

/// The data path's end of the event queue. Cloned into every relay thread.
///
/// Events cross in batches: a relay thread collects the events of many statements and hands
/// them over in one message, so the two threads touch shared memory once per batch, not once
/// per statement. The bound is still counted in events: `sent - analyzed` are queued.
#[derive(Debug, Clone)]
pub struct EventSender {
    tx: mpsc::UnboundedSender<Batch>,
    counters: Arc<EventCounters>,
    capacity: u64,
    /// Wakes the analysis thread early when the queue fills past half its bound.
    wake: Arc<Notify>,
}

/// The analysis path's end of the event queue.
#[derive(Debug)]
pub struct EventReceiver {
    rx: mpsc::UnboundedReceiver<Batch>,
    wake: Arc<Notify>,
}

impl EventReceiver {
    /// The next batch, if one is queued. Never waits.
    pub fn try_recv(&mut self) -> Result<Batch, TryRecvError> {
        self.rx.try_recv()
    }

    /// Resolves when the queue filled past half its bound (see [`EventSender::send_batch`]),
    /// or at once if it did so since the last call.
    pub async fn half_full(&self) {
        self.wake.notified().await;
    }
}

/// Events returned to the relay thread that sent them, at most this many at a time; past it
/// the analysis thread drops them itself. A drain every 200 ms gives back 80 000 statements a
/// second of one relay thread at once.
const MAX_RETURNED: usize = 16_384;

/// One relay thread's batches that the analysis path has finished with, on their way back.
///
/// The relay thread drops their events itself: their texts were allocated there and their
/// reference counts were last touched there, so dropping them there keeps those cache lines
/// and the allocator's free lists on the relay's core, and the batch's buffer is reused.
#[derive(Debug, Default)]
pub struct Returns {
    batches: Mutex<Vec<Vec<StatementEvent>>>,
}

impl Returns {
    /// Takes one returned batch back (its events still in it), if there is one.
    pub fn take(&self) -> Option<Vec<StatementEvent>> {
        self.batches.lock().unwrap_or_else(PoisonError::into_inner).pop()
    }

    /// Queues `batch` for its relay thread; false (and the batch dropped here) when that
    /// would hold more than [`MAX_RETURNED`] events.
    fn give(&self, batch: Vec<StatementEvent>) -> bool {
        let mut batches = self.batches.lock().unwrap_or_else(PoisonError::into_inner);
        let held: usize = batches.iter().map(Vec::len).sum();
        if held + batch.len() <= MAX_RETURNED {
            batches.push(batch);
            return true;
        }
        drop(batches);
        drop(batch); // the relay is behind: dropped here instead
        false
    }
}

/// Events of one relay thread, in the order its sessions produced them.
#[derive(Debug)]
pub struct Batch {
    pub events: Vec<StatementEvent>,
    back: Option<Arc<Returns>>,
}

impl Batch {
    /// Hands the batch, events and all, back to the relay thread that sent it (see
    /// [`Returns`]). Dropping a batch instead is correct too, only dearer. Returns how many
    /// events could not go back and were dropped here (the relay had too many waiting).
    pub fn give_back(mut self) -> usize {
        let n = self.events.len();
        match self.back.take() {
            Some(back) if !back.give(std::mem::take(&mut self.events)) => n,
            _ => 0,
        }
    }
}

/// Creates the event queue, bounded at `capacity` events.
pub fn channel(capacity: usize) -> (EventSender, EventReceiver, Arc<EventCounters>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let counters = Arc::new(EventCounters::default());
    let capacity = capacity.max(1) as u64;
    let wake = Arc::new(Notify::new());
    let sender = EventSender { tx, counters: counters.clone(), capacity, wake: wake.clone() };
    (sender, EventReceiver { rx, wake }, counters)
}

impl EventSender {
    /// Hands the batch to the analysis path (leaving `batch` empty), or drops and counts it
    /// if the queue cannot take all of it. Never waits. With `back`, the analysis path returns
    /// the batch there when it is done with it. The batch that fills the queue past half its
    /// bound also wakes the analysis thread, which otherwise drains it on a timer: that is
    /// one wake-up per half a queue, not one per batch.
    pub fn send_batch(&self, batch: &mut Vec<StatementEvent>, back: Option<&Arc<Returns>>) {
        let n = batch.len() as u64;
        if n == 0 {
            return;
        }
        let c = &self.counters;
        let queued =
            c.sent.load(Ordering::Relaxed).saturating_sub(c.analyzed.load(Ordering::Relaxed));
        if queued + n > self.capacity {
            c.dropped.fetch_add(n, Ordering::Relaxed);
            batch.clear();
            return;
        }
        // Counted before the send, so the analysis side never sees more analyzed than sent.
        c.sent.fetch_add(n, Ordering::Relaxed);
        let batch = Batch { events: std::mem::take(batch), back: back.cloned() };
        if self.tx.send(batch).is_err() {
            // Analysis is off (`[analysis] enabled = false`) or stopped: nothing to count.
            c.sent.fetch_sub(n, Ordering::Relaxed);
            return;
        }
        let half = self.capacity / 2;
        if queued < half && queued + n >= half {
            self.wake.notify_one();
        }
    }

    /// Counts events a relay thread collected for its next batch.
    pub fn collected(&self, n: usize) {
        self.counters.collected.fetch_add(n as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> StatementEvent {
        StatementEvent {
            conn_id: 1,
            session: Arc::new(SessionInfo::default()),
            sql: Bytes::from_static(b"SELECT 1"),
            stmt_index: 0,
            extended: false,
            params_hash: 0,
            duration_us: 10,
            outcome: Outcome::Done { rows: Some(1) },
            tx: TxState::Idle,
            finished_at: SystemTime::now(),
        }
    }

    #[test]
    fn batches_cross_whole_and_the_bound_counts_events() {
        let (sender, mut receiver, counters) = channel(5);
        let mut batch = vec![event(), event(), event()];
        sender.collected(3);
        sender.send_batch(&mut batch, None);
        assert!(batch.is_empty(), "a sent batch is taken");
        // 3 queued: 3 more would pass the bound of 5, so the whole batch is dropped.
        let mut batch = vec![event(), event(), event()];
        sender.send_batch(&mut batch, None);
        assert!(batch.is_empty(), "a dropped batch is cleared");
        sender.collected(1);
        sender.send_batch(&mut vec![event()], None);
        assert_eq!(counters.sent.load(Ordering::Relaxed), 4);
        assert_eq!(counters.dropped.load(Ordering::Relaxed), 3);
        assert_eq!(counters.collected.load(Ordering::Relaxed), 4);
        assert_eq!(receiver.try_recv().map(|b| b.events.len()).ok(), Some(3));
        assert_eq!(receiver.try_recv().map(|b| b.events.len()).ok(), Some(1));
        // Once analysed, the room is back.
        counters.analyzed.fetch_add(4, Ordering::Relaxed);
        sender.send_batch(&mut vec![event(); 5], None);
        assert_eq!(counters.dropped.load(Ordering::Relaxed), 3);
        assert_eq!(receiver.try_recv().map(|b| b.events.len()).ok(), Some(5));
    }

    #[test]
    fn the_batch_that_fills_half_the_queue_wakes_the_analysis() {
        use futures_util::FutureExt;
        let (sender, receiver, counters) = channel(10);
        sender.send_batch(&mut vec![event(); 4], None);
        assert!(receiver.half_full().now_or_never().is_none(), "4 of 10 queued");
        sender.send_batch(&mut vec![event(); 2], None);
        assert!(receiver.half_full().now_or_never().is_some(), "6 of 10 queued");
        sender.send_batch(&mut vec![event(); 2], None);
        assert!(receiver.half_full().now_or_never().is_none(), "woken once per crossing");
        // Drained, then filled past half again.
        counters.analyzed.fetch_add(8, Ordering::Relaxed);
        sender.send_batch(&mut vec![event(); 5], None);
        assert!(receiver.half_full().now_or_never().is_some(), "5 of 10 queued again");
    }

    #[test]
    fn batches_go_back_to_their_relay_with_their_events_up_to_a_bound() {
        let (sender, mut receiver, _) = channel(1 << 20);
        let back = Arc::new(Returns::default());
        sender.send_batch(&mut vec![event(), event()], Some(&back));
        assert_eq!(receiver.try_recv().expect("sent").give_back(), 0);
        let returned = back.take().expect("given back");
        assert_eq!(returned.len(), 2, "the events come back to be dropped by the relay");
        assert!(back.take().is_none());
        // Past MAX_RETURNED held events, the analysis side drops them itself.
        let mut overflowed = 0;
        for _ in 0..MAX_RETURNED / 64 + 3 {
            sender.send_batch(&mut vec![event(); 64], Some(&back));
            overflowed += receiver.try_recv().expect("sent").give_back();
        }
        assert_eq!(overflowed, 3 * 64, "three batches past the bound were dropped here");
        let mut held = 0;
        while let Some(batch) = back.take() {
            held += batch.len();
        }
        assert_eq!(held, MAX_RETURNED);
        // A batch sent without a way back is simply dropped.
        sender.send_batch(&mut vec![event()], None);
        receiver.try_recv().expect("sent").give_back();
        assert!(back.take().is_none());
    }

    #[test]
    fn a_closed_queue_counts_nothing() {
        let (sender, receiver, counters) = channel(5);
        drop(receiver);
        sender.send_batch(&mut vec![event(), event()], None);
        assert_eq!(counters.sent.load(Ordering::Relaxed), 0);
        assert_eq!(counters.dropped.load(Ordering::Relaxed), 0);
    }
}
