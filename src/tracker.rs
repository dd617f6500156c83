//! The statement tracker: a pure state machine fed the frames of both directions of one
//! session, in the order they were forwarded. It keeps a queue of the replies the server still
//! owes (with skip-to-Sync after an error) and turns each completion into a
//! [`StatementEvent`]. No I/O; the caller passes the time.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use xxhash_rust::xxh3::xxh3_64;

use crate::event::{Outcome, SessionInfo, StatementEvent, TxState};
use crate::fasthash::FastMap;
use crate::wire;

/// Bounds on what one session's tracker may hold.
#[derive(Debug, Clone, Copy)]
pub struct TrackerLimits {
    /// Named prepared statements and portals remembered per connection.
    pub max_prepared: usize,
    /// Requests awaiting a reply; past this the tracker stops following the session.
    pub max_pending: usize,
}

impl Default for TrackerLimits {
    fn default() -> Self {
        TrackerLimits { max_prepared: 10_000, max_pending: 100_000 }
    }
}

/// A request whose reply the server still owes.
#[derive(Debug)]
enum Pending {
    Parse {
        sql: Bytes,
        sent: Instant,
    },
    Bind {
        sql: Option<Bytes>,
        sent: Instant,
    },
    Describe,
    Close,
    Execute {
        portal: Portal,
        sent: Instant,
    },
    Sync,
    Query {
        sql: Bytes,
        sent: Instant,
        index: u32,
    },
    FunctionCall,
    /// The client ended a COPY FROM STDIN (CopyDone/CopyFail) before the server's
    /// CopyInResponse was seen; no reply is owed for it.
    CopyEnd,
}

/// Body bytes of a Bind the tracker reads: the names, then parameter values for the
/// parameter hash (values beyond this many bytes do not change the hash).
const BIND_PEEK: usize = 4096;

/// A bound portal: the text of its statement and a hash of its parameter values.
#[derive(Debug, Clone, Default)]
struct Portal {
    sql: Option<Bytes>,
    params_hash: u64,
}

/// Prepared statements or portals by name. The unnamed one, which most drivers use for
/// every statement or portal, has a field of its own: no hashing for it, and no comparison
/// against an empty key (on some CPUs `memcmp` of an empty slice at a dangling address takes
/// a slow path; it was a third of this tracker's time in `benches/tracker.rs`).
#[derive(Debug)]
struct Names<V> {
    unnamed: Option<V>,
    /// Named ones: short, and per connection.
    named: FastMap<Bytes, V>,
}

impl<V> Default for Names<V> {
    fn default() -> Self {
        Names { unnamed: None, named: FastMap::default() }
    }
}

impl<V> Names<V> {
    fn get(&self, name: &[u8]) -> Option<&V> {
        if name.is_empty() { self.unnamed.as_ref() } else { self.named.get(name) }
    }

    /// Stores `value` under `name`; a new named entry only while fewer than `max_named`
    /// are held (the unnamed one always).
    fn insert(&mut self, name: &[u8], value: V, max_named: usize) {
        if name.is_empty() {
            self.unnamed = Some(value);
        } else if let Some(slot) = self.named.get_mut(name) {
            *slot = value;
        } else if self.named.len() < max_named {
            self.named.insert(Bytes::copy_from_slice(name), value);
        }
    }

    fn remove(&mut self, name: &[u8]) {
        if name.is_empty() {
            self.unnamed = None;
        } else {
            self.named.remove(name);
        }
    }
}

/// Follows one session. See the module documentation.
#[derive(Debug)]
pub struct Tracker {
    conn_id: u64,
    session: Arc<SessionInfo>,
    limits: TrackerLimits,
    statements: Names<Bytes>,
    portals: Names<Portal>,
    pending: VecDeque<Pending>,
    /// When the last reply of the pipeline completed; a queued request starts no earlier.
    last_reply: Instant,
    /// DataRows since the last completion, for PortalSuspended.
    rows: u64,
    tx: TxState,
    backend_key: Option<Bytes>,
    /// Between CopyInResponse and the client's CopyDone/CopyFail: the server ignores Sync and
    /// Flush in this mode, so they owe no reply.
    copy_in: bool,
    /// Set when a bound was hit: the session is still forwarded but no longer followed.
    lost: bool,
    events: Vec<StatementEvent>,
    /// Where Query texts are copied: one allocation holds many (see [`Tracker::copy_text`]).
    texts: BytesMut,
    /// A monotonic instant and the wall-clock time it was read at, refreshed every
    /// [`WALL_REFRESH`]: events get their wall-clock time from it without a clock read each.
    wall: (Instant, SystemTime),
}

/// Bytes of Query text one allocation of the text arena holds.
const TEXT_CHUNK: usize = 2048;
/// Longer Query texts get an allocation of their own.
const TEXT_IN_CHUNK_MAX: usize = 512;

/// How old the wall-clock anchor may get before it is read again.
const WALL_REFRESH: std::time::Duration = std::time::Duration::from_secs(1);

impl Tracker {
    pub fn new(conn_id: u64, session: SessionInfo, limits: TrackerLimits, now: Instant) -> Self {
        Tracker {
            conn_id,
            session: Arc::new(session),
            limits,
            statements: Names::default(),
            portals: Names::default(),
            pending: VecDeque::new(),
            last_reply: now,
            rows: 0,
            tx: TxState::Idle,
            backend_key: None,
            copy_in: false,
            lost: false,
            events: Vec::new(),
            texts: BytesMut::new(),
            wall: (now, SystemTime::now()),
        }
    }

    /// How many body bytes of a client message the tracker needs to see.
    pub fn client_peek(tag: u8) -> usize {
        match tag {
            b'Q' | b'P' => usize::MAX,
            b'B' => BIND_PEEK,
            b'E' | b'C' => 1024,
            _ => 0,
        }
    }

    /// How many body bytes of a server message the tracker needs to see.
    pub fn server_peek(tag: u8) -> usize {
        match tag {
            b'E' => 16 * 1024,
            b'C' | b'S' | b'K' | b'Z' => 1024,
            _ => 0,
        }
    }

    /// The session as last reported (application_name follows ParameterStatus).
    pub fn session(&self) -> &Arc<SessionInfo> {
        &self.session
    }

    /// BackendKeyData's body, to cancel this session's running query.
    pub fn backend_key(&self) -> Option<&[u8]> {
        self.backend_key.as_deref()
    }

    /// True while a statement has been sent and its completion not yet seen.
    pub fn in_flight(&self) -> bool {
        self.pending.iter().any(|p| {
            matches!(p, Pending::Execute { .. } | Pending::Query { .. } | Pending::FunctionCall)
        })
    }

    /// The proxy's id of this client connection.
    pub fn conn_id(&self) -> u64 {
        self.conn_id
    }

    /// True when a bound was hit and the session is no longer followed.
    pub fn is_lost(&self) -> bool {
        self.lost
    }

    /// Takes the events produced since the last call.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, StatementEvent> {
        self.events.drain(..)
    }

    /// Runs `feed` with this tracker's events appended straight to `out` rather than kept
    /// for [`Tracker::drain_events`]: the relay collects every session's events in one batch
    /// and saves a copy of each.
    pub fn emit_into<R>(
        &mut self,
        out: &mut Vec<StatementEvent>,
        feed: impl FnOnce(&mut Self) -> R,
    ) -> R {
        out.append(&mut self.events);
        std::mem::swap(&mut self.events, out);
        let result = feed(self);
        std::mem::swap(&mut self.events, out);
        result
    }

    /// A Query's text, copied for its event. Short texts share a chunk of [`TEXT_CHUNK`]
    /// bytes, each a reference-counted slice of it, so a simple-protocol session makes one
    /// allocation per ~25 statements instead of one each, and their texts lie side by side for
    /// the analysis thread. A chunk is freed when the last event holding a text in it is
    /// dropped; a session keeps at most one chunk it is still filling.
    fn copy_text(&mut self, sql: &[u8]) -> Bytes {
        if sql.len() > TEXT_IN_CHUNK_MAX {
            return Bytes::copy_from_slice(sql);
        }
        if self.texts.capacity() < sql.len() {
            self.texts = BytesMut::with_capacity(TEXT_CHUNK);
        }
        self.texts.extend_from_slice(sql);
        self.texts.split().freeze()
    }

    /// Feeds one client message (its type and the head of its body the tracker asked for).
    pub fn on_client(&mut self, tag: u8, body: &[u8], now: Instant) {
        if self.lost {
            return;
        }
        let pending = match tag {
            b'Q' => wire::query_text(body).map(|sql| Pending::Query {
                sql: self.copy_text(sql),
                sent: now,
                index: 0,
            }),
            b'P' => self.on_parse(body, now),
            b'B' => Some(self.on_bind(body, now)),
            b'E' => Some(self.on_execute(body, now)),
            b'C' => {
                self.on_close(body);
                Some(Pending::Close)
            }
            b'D' => Some(Pending::Describe),
            b'S' if self.copy_in => None,
            b'S' => Some(Pending::Sync),
            b'c' | b'f' if self.copy_in => {
                self.copy_in = false;
                None
            }
            b'c' | b'f' => Some(Pending::CopyEnd),
            b'F' => Some(Pending::FunctionCall),
            _ => None,
        };
        if let Some(p) = pending {
            self.push(p);
        }
    }

    /// Feeds one server message.
    pub fn on_server(&mut self, tag: u8, body: &[u8], now: Instant) {
        match tag {
            b'D' => self.rows += 1,
            b'S' => self.on_parameter_status(body),
            b'K' => self.backend_key = Some(Bytes::copy_from_slice(body)),
            _ if self.lost => {}
            b'C' => self.complete(Some(Outcome::Done { rows: wire::command_rows(body) }), now),
            b'I' => self.complete(None, now),
            b's' => self.complete(Some(Outcome::Suspended { rows: self.rows }), now),
            b'E' => self.on_error(body, now),
            b'Z' => self.on_ready(body, now),
            b'G' => self.on_copy_in(),
            b'1' | b'2' | b'3' | b'n' => self.pop_reply(),
            b'T' if matches!(self.pending.front(), Some(Pending::Describe)) => self.pop_reply(),
            _ => {}
        }
    }

    /// CopyInResponse: Syncs the client sent since the COPY's Execute, up to its CopyDone,
    /// are ignored by the server; without a CopyDone yet, later ones will be too.
    fn on_copy_in(&mut self) {
        self.drop_markers();
        let end = self.pending.iter().position(|p| matches!(p, Pending::CopyEnd));
        let mut i = 0;
        self.pending.retain(|p| {
            let during_copy = i > 0 && end.is_none_or(|e| i <= e);
            i += 1;
            !(during_copy && matches!(p, Pending::Sync | Pending::CopyEnd))
        });
        self.copy_in = end.is_none();
    }

    /// Drops CopyEnd markers at the front: they owe no reply.
    fn drop_markers(&mut self) {
        while matches!(self.pending.front(), Some(Pending::CopyEnd)) {
            self.pending.pop_front();
        }
    }

    fn push(&mut self, p: Pending) {
        if self.pending.len() >= self.limits.max_pending {
            self.lost = true;
            self.pending.clear();
            return;
        }
        self.pending.push_back(p);
    }

    fn on_parse(&mut self, body: &[u8], now: Instant) -> Option<Pending> {
        let (name, sql) = wire::parse_message(body)?;
        let sql = Bytes::copy_from_slice(sql);
        self.statements.insert(name, sql.clone(), self.limits.max_prepared);
        Some(Pending::Parse { sql, sent: now })
    }

    fn on_bind(&mut self, head: &[u8], now: Instant) -> Pending {
        let Some((name, statement, params)) = wire::bind_parts(head) else {
            return Pending::Bind { sql: None, sent: now };
        };
        let sql = self.statements.get(statement).cloned();
        let portal = Portal { sql: sql.clone(), params_hash: xxh3_64(params) };
        self.portals.insert(name, portal, self.limits.max_prepared);
        Pending::Bind { sql, sent: now }
    }

    fn on_execute(&mut self, body: &[u8], now: Instant) -> Pending {
        let portal = wire::execute_portal(body).and_then(|p| self.portals.get(p).cloned());
        Pending::Execute { portal: portal.unwrap_or_default(), sent: now }
    }

    fn on_close(&mut self, body: &[u8]) {
        match wire::close_target(body) {
            Some((b'S', name)) => {
                self.statements.remove(name);
            }
            Some((b'P', name)) => {
                self.portals.remove(name);
            }
            _ => {}
        }
    }

    fn on_parameter_status(&mut self, body: &[u8]) {
        let Some((b"application_name", value)) = wire::parameter_status(body) else {
            return;
        };
        let value = String::from_utf8_lossy(value);
        if *self.session.application_name != *value {
            let mut info = (*self.session).clone();
            info.application_name = value.into();
            self.session = Arc::new(info);
        }
    }

    /// A completion (CommandComplete, PortalSuspended, or EmptyQueryResponse with no
    /// outcome: an empty query is no statement) for the statement at the front of the queue.
    fn complete(&mut self, outcome: Option<Outcome>, now: Instant) {
        self.copy_in = false;
        self.drop_markers();
        let stmt = match self.pending.front_mut() {
            Some(Pending::Execute { .. }) => match self.pending.pop_front() {
                Some(Pending::Execute { portal, sent }) => {
                    Some(Stmt::extended(portal.sql, sent, portal.params_hash))
                }
                _ => None,
            },
            Some(Pending::Query { sql, sent, index }) => {
                *index += 1;
                Some(Stmt::simple(sql.clone(), *index - 1, *sent))
            }
            _ => None,
        };
        if let (Some(stmt), Some(outcome)) = (stmt, outcome) {
            self.emit(stmt, outcome, now);
        }
        self.mark_reply(now);
    }

    /// An ErrorResponse: the failing request's statement is counted, and in the extended
    /// protocol the server skips everything up to the next Sync.
    fn on_error(&mut self, body: &[u8], now: Instant) {
        let sqlstate = wire::error_sqlstate(body).unwrap_or(*b"XX000");
        let outcome = Outcome::Error { sqlstate };
        self.copy_in = false;
        self.drop_markers();
        match self.pending.front_mut() {
            Some(Pending::Query { sql, sent, index }) => {
                *index += 1;
                let stmt = Stmt::simple(sql.clone(), *index - 1, *sent);
                self.emit(stmt, outcome, now);
            }
            Some(Pending::FunctionCall) | Some(Pending::Sync) | None => {}
            Some(_) => {
                if let Some(stmt) = self.pending.pop_front().and_then(failed_statement) {
                    self.emit(stmt, outcome, now);
                }
                self.skip_to_sync();
            }
        }
        self.mark_reply(now);
    }

    fn skip_to_sync(&mut self) {
        while let Some(p) = self.pending.front() {
            if matches!(p, Pending::Sync) {
                break;
            }
            self.pending.pop_front();
        }
    }

    /// ReadyForQuery ends a Sync, a simple Query or a FunctionCall.
    fn on_ready(&mut self, body: &[u8], now: Instant) {
        self.tx = match body.first() {
            Some(b'T') => TxState::InBlock,
            Some(b'E') => TxState::Failed,
            _ => TxState::Idle,
        };
        while let Some(p) = self.pending.pop_front() {
            if matches!(p, Pending::Sync | Pending::Query { .. } | Pending::FunctionCall) {
                break;
            }
        }
        self.mark_reply(now);
    }

    /// ParseComplete, BindComplete, CloseComplete, NoData or a Describe's RowDescription.
    /// These do not restart the pipeline clock: the server queues them before executing and
    /// they reach the wire together with the statement's own reply.
    fn pop_reply(&mut self) {
        self.drop_markers();
        if matches!(
            self.pending.front(),
            Some(Pending::Parse { .. } | Pending::Bind { .. } | Pending::Describe | Pending::Close)
        ) {
            self.pending.pop_front();
        }
    }

    fn mark_reply(&mut self, now: Instant) {
        self.last_reply = now;
        self.rows = 0;
    }

    /// The wall-clock time of `now`, from the anchor (read again once it is old).
    fn wall_time(&mut self, now: Instant) -> SystemTime {
        let since = now.saturating_duration_since(self.wall.0);
        if since >= WALL_REFRESH {
            self.wall = (now, SystemTime::now());
            return self.wall.1;
        }
        self.wall.1 + since
    }

    fn emit(&mut self, stmt: Stmt, outcome: Outcome, now: Instant) {
        let Some(sql) = stmt.sql else { return };
        let start = stmt.sent.max(self.last_reply);
        let finished_at = self.wall_time(now);
        self.events.push(StatementEvent {
            conn_id: self.conn_id,
            session: self.session.clone(),
            sql,
            stmt_index: stmt.index,
            extended: stmt.extended,
            params_hash: stmt.params_hash,
            duration_us: now.saturating_duration_since(start).as_micros() as u64,
            outcome,
            tx: self.tx,
            finished_at,
        });
    }
}

/// A statement about to become an event.
struct Stmt {
    sql: Option<Bytes>,
    index: u32,
    sent: Instant,
    extended: bool,
    params_hash: u64,
}

impl Stmt {
    fn simple(sql: Bytes, index: u32, sent: Instant) -> Self {
        Stmt { sql: Some(sql), index, sent, extended: false, params_hash: 0 }
    }

    fn extended(sql: Option<Bytes>, sent: Instant, params_hash: u64) -> Self {
        Stmt { sql, index: 0, sent, extended: true, params_hash }
    }
}

/// The statement of a Parse, Bind or Execute that failed.
fn failed_statement(p: Pending) -> Option<Stmt> {
    match p {
        Pending::Parse { sql, sent } => Some(Stmt::extended(Some(sql), sent, 0)),
        Pending::Bind { sql, sent } => Some(Stmt::extended(sql, sent, 0)),
        Pending::Execute { portal, sent } => {
            Some(Stmt::extended(portal.sql, sent, portal.params_hash))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod replay_tests;
