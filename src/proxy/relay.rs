//! The relay threads: each runs one `mio` event loop over the sessions handed to it, and
//! forwards their bytes both ways while the tracker follows them.
//!
//! The handshake, the upstream connect and the end of a session (error replies, cancelling an
//! abandoned query) stay on the tokio runtime; only the steady state lives here. That state is
//! a loop of `read`, frame scan, `write` per readable socket, the same syscalls PgBouncer
//! makes, without a task, waker or scheduler between them (docs/benchmarks.md measures the
//! difference).
//!
//! Each direction of a session keeps one buffer. It reads from its source only when everything
//! it approved has been written to its destination, so a slow reader stops its peer from being
//! read instead of growing a buffer.

use std::io::{ErrorKind, Read, Write};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use tokio::sync::oneshot;
use tracing::warn;

use super::ProxyCounters;
use super::session::{End, SessionError};
use crate::event::{EventSender, Returns, StatementEvent};
use crate::tracker::Tracker;
use crate::wire::{FrameError, Splitter};

/// Read size, and the spare room kept in a direction's buffer.
const READ_CHUNK: usize = 16 * 1024;
/// Reads one direction may do per turn. A session streaming a large COPY could otherwise keep
/// the loop to itself; past this it waits for the next turn, after the other sessions.
const READS_PER_TURN: usize = 16;
/// An idle buffer that grew past this (a large message went through) is given back.
const KEEP_CAPACITY: usize = 256 * 1024;
const WAKER: Token = Token(usize::MAX);
/// Events collected before they are handed to the analysis thread in one batch...
const BATCH_EVENTS: usize = 64;
/// ...or after this long, whichever comes first. Bounds how late a statement reaches analysis.
const BATCH_AGE: Duration = Duration::from_millis(5);

/// A session ready to relay: both sockets connected, the startup packet already forwarded.
pub struct NewSession {
    pub client: std::net::TcpStream,
    pub server: std::net::TcpStream,
    /// Bytes the client sent after its startup packet.
    pub leftover: Vec<u8>,
    pub tracker: Tracker,
    /// Largest message accepted from the client.
    pub max_client_message: u32,
    /// Largest message accepted from the server.
    pub max_server_message: u32,
    pub done: oneshot::Sender<Finished>,
}

/// A session the relay is done with, handed back for its ending.
pub struct Finished {
    pub end: End,
    pub tracker: Tracker,
    pub client: std::net::TcpStream,
    pub server: std::net::TcpStream,
}

enum Command {
    Start(Box<NewSession>),
    Stop,
}

/// The relay threads of one proxy. Sessions are spread over them in turn.
pub struct RelayPool {
    threads: Vec<RelayThread>,
    next: AtomicUsize,
}

struct RelayThread {
    commands: mpsc::Sender<Command>,
    waker: Arc<Waker>,
    join: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl RelayPool {
    /// Starts `threads` relay threads (at least one).
    pub fn start(
        threads: usize,
        events: &EventSender,
        counters: &Arc<ProxyCounters>,
    ) -> std::io::Result<RelayPool> {
        let mut started = Vec::with_capacity(threads.max(1));
        for i in 0..threads.max(1) {
            let poll = Poll::new()?;
            let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
            let (commands, inbox) = mpsc::channel();
            let mut relay = Relay::new(poll, inbox, events.clone(), counters.clone());
            let join = std::thread::Builder::new()
                .name(format!("pgscope-relay-{i}"))
                .spawn(move || relay.run())?;
            started.push(RelayThread { commands, waker, join: Mutex::new(Some(join)) });
        }
        Ok(RelayPool { threads: started, next: AtomicUsize::new(0) })
    }

    /// Hands a session to the next relay thread. Its `done` is dropped unanswered when the
    /// relay threads have stopped.
    pub fn relay(&self, session: NewSession) {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.threads.len();
        let thread = &self.threads[i];
        if thread.commands.send(Command::Start(Box::new(session))).is_ok() {
            let _ = thread.waker.wake();
        }
    }

    /// Closes every session still relayed and ends the threads.
    pub fn stop(&self) {
        self.tell_stop();
        for thread in &self.threads {
            let join = thread.join.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(join) = join {
                let _ = join.join();
            }
        }
    }

    /// Asks every relay thread to stop, without waiting for it.
    fn tell_stop(&self) {
        for thread in &self.threads {
            if thread.commands.send(Command::Stop).is_ok() {
                let _ = thread.waker.wake();
            }
        }
    }
}

impl Drop for RelayPool {
    fn drop(&mut self) {
        self.tell_stop();
    }
}

impl std::fmt::Debug for RelayPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayPool").field("threads", &self.threads.len()).finish()
    }
}

/// One relay thread's state.
struct Relay {
    poll: Poll,
    inbox: mpsc::Receiver<Command>,
    events: EventSender,
    counters: Arc<ProxyCounters>,
    sessions: Vec<Option<Session>>,
    free: Vec<usize>,
    /// Events not yet handed over, and when the first of them was collected.
    outbox: Vec<StatementEvent>,
    outbox_since: Option<Instant>,
    /// The clock as this turn last read it: by its latest scan, or by `maybe_flush` when no
    /// scan ran. The batch's age and the poll timeout are judged by it, so the batch costs no
    /// clock read of its own in a turn that scanned.
    clock: Option<Instant>,
    /// Sessions that used up their turn with bytes still to move; driven again next turn.
    busy: Vec<usize>,
    /// Batches the analysis thread has finished with, coming back to be dropped and reused.
    returns: Arc<Returns>,
}

impl Relay {
    fn new(
        poll: Poll,
        inbox: mpsc::Receiver<Command>,
        events: EventSender,
        counters: Arc<ProxyCounters>,
    ) -> Self {
        Relay {
            poll,
            inbox,
            events,
            counters,
            sessions: Vec::new(),
            free: Vec::new(),
            outbox: Vec::with_capacity(BATCH_EVENTS),
            outbox_since: None,
            clock: None,
            busy: Vec::new(),
            returns: Arc::new(Returns::default()),
        }
    }

    fn run(&mut self) {
        let mut ready = Events::with_capacity(256);
        loop {
            let timeout = if !self.busy.is_empty() {
                Some(Duration::ZERO)
            } else if self.outbox.is_empty() {
                None
            } else {
                // `maybe_flush` read the clock this turn. Events collected after it
                // (`take_commands` drives the sessions it opens) start their batch's age now.
                let now = self.clock.unwrap_or_else(Instant::now);
                let since = *self.outbox_since.get_or_insert(now);
                Some(BATCH_AGE.saturating_sub(now.saturating_duration_since(since)))
            };
            self.clock = None;
            let busy = std::mem::take(&mut self.busy);
            if let Err(e) = self.poll.poll(&mut ready, timeout) {
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                warn!(error = %e, "relay event loop failed; closing its sessions");
                self.flush();
                return;
            }
            for event in ready.iter() {
                if event.token() == WAKER {
                    continue;
                }
                let slot = event.token().0 / 2;
                let Some(Some(session)) = self.sessions.get_mut(slot) else {
                    continue;
                };
                let conn = if event.token().0 % 2 == 0 {
                    &mut session.client
                } else {
                    &mut session.server
                };
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    conn.readable = true;
                }
                if event.is_writable() || event.is_write_closed() || event.is_error() {
                    conn.writable = true;
                }
                self.drive(slot);
            }
            for slot in busy {
                if let Some(Some(session)) = self.sessions.get_mut(slot) {
                    session.queued = false;
                    self.drive(slot);
                }
            }
            self.maybe_flush();
            if !self.take_commands() {
                self.flush();
                return;
            }
        }
    }

    /// Moves the session's bytes as far as its sockets allow, then closes it if it ended, or
    /// queues it for another turn if it stopped with bytes still to move.
    fn drive(&mut self, slot: usize) {
        let Some(Some(session)) = self.sessions.get_mut(slot) else {
            return;
        };
        let mut ctx = Shared {
            events: &self.events,
            outbox: &mut self.outbox,
            counters: &self.counters,
            clock: &mut self.clock,
        };
        match session.drive(&mut ctx) {
            Some(end) => self.close(slot, end),
            None => self.requeue(slot),
        }
    }

    /// Queues the session for another turn if it stopped with bytes still to move.
    fn requeue(&mut self, slot: usize) {
        if let Some(Some(session)) = self.sessions.get_mut(slot)
            && !session.queued
            && session.has_work()
        {
            session.queued = true;
            self.busy.push(slot);
        }
    }

    /// Hands the collected events over when there are enough of them or the oldest has
    /// waited long enough.
    fn maybe_flush(&mut self) {
        if self.outbox.is_empty() {
            return;
        }
        let now = *self.clock.get_or_insert_with(Instant::now);
        match self.outbox_since {
            Some(since)
                if self.outbox.len() < BATCH_EVENTS
                    && now.saturating_duration_since(since) < BATCH_AGE => {}
            None if self.outbox.len() < BATCH_EVENTS => self.outbox_since = Some(now),
            _ => self.flush(),
        }
    }

    fn flush(&mut self) {
        self.events.send_batch(&mut self.outbox, Some(&self.returns));
        self.outbox_since = None;
        // A batch the analysis thread is done with becomes the next outbox; its events are
        // dropped here (see `Returns`). Two per flush keep up with one sent per flush, and
        // bound the work a flush adds to this turn.
        for _ in 0..2 {
            let Some(mut batch) = self.returns.take() else { break };
            batch.clear();
            if self.outbox.capacity() == 0 {
                self.outbox = batch;
            }
        }
        self.outbox.reserve(BATCH_EVENTS);
    }

    /// Starts new sessions; false when told to stop.
    fn take_commands(&mut self) -> bool {
        loop {
            match self.inbox.try_recv() {
                Ok(Command::Start(new)) => self.open(*new),
                Ok(Command::Stop) | Err(mpsc::TryRecvError::Disconnected) => return false,
                Err(mpsc::TryRecvError::Empty) => return true,
            }
        }
    }

    fn open(&mut self, new: NewSession) {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.sessions.push(None);
            self.sessions.len() - 1
        });
        let mut session = Session {
            client: Conn::new(TcpStream::from_std(new.client)),
            server: Conn::new(TcpStream::from_std(new.server)),
            up: Direction::new(&new.leftover, new.max_client_message, Side::Client),
            down: Direction::new(&[], new.max_server_message, Side::Server),
            tracker: new.tracker,
            done: Some(new.done),
            queued: false,
        };
        let registered = register(self.poll.registry(), &mut session, slot);
        self.sessions[slot] = Some(session);
        if let Err(e) = registered {
            self.close(slot, End::Client(Err(SessionError::ClientIo(e))));
            return;
        }
        // Bytes the client sent with its startup packet are scanned and forwarded now; the
        // sockets' first readiness events follow.
        self.drive(slot);
    }

    fn close(&mut self, slot: usize, end: End) {
        let Some(mut session) = self.sessions.get_mut(slot).and_then(Option::take) else {
            return;
        };
        self.free.push(slot);
        let registry = self.poll.registry();
        let _ = registry.deregister(&mut session.client.sock);
        let _ = registry.deregister(&mut session.server.sock);
        if let Some(done) = session.done.take() {
            let _ = done.send(Finished {
                end,
                tracker: session.tracker,
                client: session.client.sock.into(),
                server: session.server.sock.into(),
            });
        }
    }
}

fn register(registry: &Registry, session: &mut Session, slot: usize) -> std::io::Result<()> {
    let both = Interest::READABLE | Interest::WRITABLE;
    registry.register(&mut session.client.sock, Token(slot * 2), both)?;
    registry.register(&mut session.server.sock, Token(slot * 2 + 1), both)
}

/// What every session of a relay thread shares.
struct Shared<'a> {
    events: &'a EventSender,
    outbox: &'a mut Vec<StatementEvent>,
    counters: &'a ProxyCounters,
    /// The relay's reading of the clock this turn (see `Relay::clock`).
    clock: &'a mut Option<Instant>,
}

/// One socket and what its last readiness events said. Both start true: a fresh socket may
/// already hold data, and trying costs one `EAGAIN` at most.
struct Conn {
    sock: TcpStream,
    readable: bool,
    writable: bool,
}

impl Conn {
    fn new(sock: TcpStream) -> Self {
        Conn { sock, readable: true, writable: true }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

struct Session {
    client: Conn,
    server: Conn,
    /// Client to server.
    up: Direction,
    /// Server to client.
    down: Direction,
    tracker: Tracker,
    done: Option<oneshot::Sender<Finished>>,
    /// In the relay's list of sessions to drive again next turn.
    queued: bool,
}

impl Session {
    /// True when a direction stopped at its read budget with bytes still to move, rather than
    /// on a socket that would block.
    fn has_work(&self) -> bool {
        self.up.has_work(&self.client, &self.server)
            || self.down.has_work(&self.server, &self.client)
    }

    /// Moves bytes both ways as far as the sockets allow; `Some` when the session is over.
    /// A panic (a bug in pgscope) ends this session only, as a task's panic would: the other
    /// sessions of the thread go on.
    fn drive(&mut self, ctx: &mut Shared<'_>) -> Option<End> {
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.drive_unguarded(ctx))) {
            Ok(end) => end,
            Err(_) => Some(End::Client(Err(SessionError::Internal))),
        }
    }

    fn drive_unguarded(&mut self, ctx: &mut Shared<'_>) -> Option<End> {
        match self.up.pump(&mut self.client, &mut self.server, &mut self.tracker, ctx) {
            Ok(Flow::Open) => {}
            Ok(Flow::Closed) => return Some(End::Client(Ok(()))),
            Err(e) => return Some(End::Client(Err(e))),
        }
        match self.down.pump(&mut self.server, &mut self.client, &mut self.tracker, ctx) {
            Ok(Flow::Open) => None,
            Ok(Flow::Closed) => Some(End::Server(Ok(()))),
            Err(e) => Some(End::Server(Err(e))),
        }
    }
}

enum Flow {
    Open,
    /// The source closed its end.
    Closed,
}

/// One direction of a session: the bytes read from its source and not yet written on.
struct Direction {
    /// `buf[start..end]` holds the bytes; the first `approved` of them are whole frames (or a
    /// streaming frame's body) the tracker has seen, waiting to be written.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    approved: usize,
    /// Bytes the next scan needs in the buffer (a frame head the tracker reads whole).
    need: usize,
    splitter: Splitter,
    side: Side,
    scanned_seed: bool,
}

impl Direction {
    fn new(seed: &[u8], max_len: u32, side: Side) -> Self {
        let mut buf = vec![0; READ_CHUNK.max(seed.len() + READ_CHUNK)];
        buf[..seed.len()].copy_from_slice(seed);
        Direction {
            buf,
            start: 0,
            end: seed.len(),
            approved: 0,
            need: 0,
            splitter: Splitter::new(max_len),
            side,
            scanned_seed: seed.is_empty(),
        }
    }

    fn has_work(&self, src: &Conn, dst: &Conn) -> bool {
        if self.approved > 0 { dst.writable } else { src.readable }
    }

    /// Writes what is approved, then reads and scans, until a socket would block or the
    /// turn's reads are used up.
    fn pump(
        &mut self,
        src: &mut Conn,
        dst: &mut Conn,
        tracker: &mut Tracker,
        ctx: &mut Shared<'_>,
    ) -> Result<Flow, SessionError> {
        if !self.scanned_seed {
            self.scanned_seed = true;
            self.scan(tracker, ctx)?;
        }
        let mut reads = 0;
        loop {
            if self.approved > 0 {
                if !dst.writable {
                    return Ok(Flow::Open);
                }
                match dst.sock.write(&self.buf[self.start..self.start + self.approved]) {
                    Ok(0) => return Err(self.write_error(ErrorKind::WriteZero.into())),
                    Ok(n) => {
                        self.start += n;
                        self.approved -= n;
                        self.bytes(ctx).fetch_add(n as u64, Ordering::Relaxed);
                        continue;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        dst.writable = false;
                        return Ok(Flow::Open);
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(self.write_error(e)),
                }
            }
            if !src.readable || reads == READS_PER_TURN {
                return Ok(Flow::Open);
            }
            reads += 1;
            let spare = self.make_room();
            match src.sock.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(Flow::Closed),
                Ok(n) => {
                    self.end += n;
                    // A short read emptied the socket; epoll reports the next arrival.
                    if n < spare {
                        src.readable = false;
                    }
                    self.scan(tracker, ctx)?;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    src.readable = false;
                    return Ok(Flow::Open);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.read_error(e)),
            }
        }
    }

    /// Shows the tracker the unscanned frames and sends the events it produced.
    fn scan(&mut self, tracker: &mut Tracker, ctx: &mut Shared<'_>) -> Result<(), SessionError> {
        let now = Instant::now();
        *ctx.clock = Some(now);
        let bytes = &self.buf[self.start..self.end];
        let (splitter, side) = (&mut self.splitter, self.side);
        let before = ctx.outbox.len();
        let progress = tracker.emit_into(ctx.outbox, |tracker| match side {
            Side::Client => splitter.scan(bytes, Tracker::client_peek, |tag, body, _| {
                tracker.on_client(tag, body, now)
            }),
            Side::Server => splitter.scan(bytes, Tracker::server_peek, |tag, body, _| {
                tracker.on_server(tag, body, now)
            }),
        });
        if ctx.outbox.len() > before {
            ctx.events.collected(ctx.outbox.len() - before);
        }
        let progress = progress.map_err(|e| self.protocol_error(e))?;
        self.approved = progress.forward;
        self.need = progress.need;
        Ok(())
    }

    /// Makes the buffer able to take the next read and the frame head the scan waits for;
    /// returns the room after `end`.
    fn make_room(&mut self) -> usize {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.buf.len() > KEEP_CAPACITY && self.need <= READ_CHUNK {
                self.buf = vec![0; READ_CHUNK];
            }
        }
        let held = self.end - self.start;
        let want = self.need.saturating_sub(held).max(READ_CHUNK);
        if self.buf.len() - self.end < want / 2 {
            self.buf.copy_within(self.start..self.end, 0);
            self.start = 0;
            self.end = held;
            if self.buf.len() - self.end < want / 2 {
                self.buf.resize(held + want, 0);
            }
        }
        self.buf.len() - self.end
    }

    fn bytes<'a>(&self, ctx: &Shared<'a>) -> &'a AtomicU64 {
        match self.side {
            Side::Client => &ctx.counters.bytes_from_clients,
            Side::Server => &ctx.counters.bytes_from_server,
        }
    }

    fn protocol_error(&self, e: FrameError) -> SessionError {
        match self.side {
            Side::Client => SessionError::ClientProtocol(e),
            Side::Server => SessionError::ServerProtocol(e),
        }
    }

    fn read_error(&self, e: std::io::Error) -> SessionError {
        match self.side {
            Side::Client => SessionError::ClientIo(e),
            Side::Server => SessionError::ServerIo(e),
        }
    }

    fn write_error(&self, e: std::io::Error) -> SessionError {
        match self.side {
            Side::Client => SessionError::ServerIo(e),
            Side::Server => SessionError::ClientIo(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventReceiver, SessionInfo, channel};
    use crate::tracker::TrackerLimits;

    /// What a relay thread shares between its sessions, for driving one by hand.
    struct Turns {
        events: EventSender,
        _queue: EventReceiver,
        counters: ProxyCounters,
        outbox: Vec<StatementEvent>,
        clock: Option<Instant>,
    }

    impl Turns {
        fn new() -> Self {
            let (events, queue, _) = channel(16);
            Turns {
                events,
                _queue: queue,
                counters: ProxyCounters::default(),
                outbox: Vec::new(),
                clock: None,
            }
        }

        fn drive(&mut self, session: &mut Session) -> Option<End> {
            let mut ctx = Shared {
                events: &self.events,
                outbox: &mut self.outbox,
                counters: &self.counters,
                clock: &mut self.clock,
            };
            session.drive(&mut ctx)
        }

        /// Bytes forwarded from clients so far.
        fn moved(&self) -> u64 {
            self.counters.bytes_from_clients.load(Ordering::Relaxed)
        }
    }

    fn socket_pair() -> (std::net::TcpStream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let near =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (far, _) = listener.accept().expect("accept");
        near.set_nonblocking(true).expect("nonblocking");
        far.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        (near, far)
    }

    fn session() -> (Session, std::net::TcpStream, std::net::TcpStream) {
        let (client, app) = socket_pair();
        let (server, db) = socket_pair();
        let tracker =
            Tracker::new(1, SessionInfo::default(), TrackerLimits::default(), Instant::now());
        let session = Session {
            client: Conn::new(TcpStream::from_std(client)),
            server: Conn::new(TcpStream::from_std(server)),
            up: Direction::new(b"", 1 << 20, Side::Client),
            down: Direction::new(b"", 1 << 20, Side::Server),
            tracker,
            done: None,
            queued: false,
        };
        (session, app, db)
    }

    #[test]
    fn frames_cross_unchanged_and_the_tracker_sees_them() {
        let (mut session, mut app, mut db) = session();
        let mut turns = Turns::new();
        let query = b"Q\0\0\0\x0eSELECT 1;\0";
        app.write_all(query).expect("app writes");
        std::thread::sleep(Duration::from_millis(50));
        assert!(turns.drive(&mut session).is_none());
        let mut got = [0u8; 15];
        db.read_exact(&mut got).expect("the server side gets the query");
        assert_eq!(&got, query);
        let answer = b"C\0\0\0\x0dSELECT 1\0Z\0\0\0\x05I";
        db.write_all(answer).expect("db answers");
        std::thread::sleep(Duration::from_millis(50));
        session.server.readable = true;
        assert!(turns.drive(&mut session).is_none());
        let mut reply = [0u8; 20];
        app.read_exact(&mut reply).expect("the client gets the reply");
        assert_eq!(&reply, answer);
        assert_eq!(turns.outbox.len(), 1, "one statement, one event");
        assert_eq!(turns.moved(), 15);
    }

    #[test]
    fn a_large_stream_crosses_whole_and_unchanged_over_many_turns() {
        let (mut session, mut app, mut db) = session();
        let mut turns = Turns::new();
        // 128 CopyData frames of 16 KiB: 2 MiB over many turns. (Whether a turn stops at its
        // read budget here depends on how much the kernel has queued; this checks that the
        // bytes cross unchanged whatever the turns, and that no turn moves more than its share.)
        let mut frame = vec![b'd'];
        frame.extend_from_slice(&(16 * 1024 + 4u32).to_be_bytes());
        frame.resize(5 + 16 * 1024, 7);
        let sent: Vec<u8> = frame.repeat(128);
        let total = sent.len();
        let writer = std::thread::spawn(move || app.write_all(&sent).map(|()| app));
        let reader = std::thread::spawn(move || {
            let mut got = vec![0u8; total];
            db.read_exact(&mut got).map(|()| got)
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut moved = 0;
        while moved < total as u64 {
            assert!(Instant::now() < deadline, "only {moved} of {total} bytes crossed");
            // As epoll would say after a wait: both sockets may be ready again.
            session.client.readable = true;
            session.server.writable = true;
            assert!(turns.drive(&mut session).is_none());
            let now = turns.moved();
            assert!(
                now - moved <= (READS_PER_TURN * READ_CHUNK) as u64,
                "one turn moved {}",
                now - moved
            );
            moved = now;
            std::thread::sleep(Duration::from_millis(1));
        }
        let got = reader.join().expect("reader").expect("db reads everything");
        assert!(got == frame.repeat(128), "the bytes arrive unchanged and in order");
        writer.join().expect("writer").expect("app writes everything");
    }

    #[test]
    fn a_turn_stops_at_its_read_budget_and_the_session_is_queued() {
        use nix::sys::socket::{setsockopt, sockopt};
        let (mut session, mut app, db) = session();
        // Room in the kernel for more than one turn's reads on the way in and out (the kernel
        // caps these at net.core.[rw]mem_max and doubles them; Debian's default cap is 208 KiB).
        let big = 1 << 20;
        setsockopt(&session.client.sock, sockopt::RcvBuf, &big).expect("client SO_RCVBUF");
        setsockopt(&session.server.sock, sockopt::SndBuf, &big).expect("server SO_SNDBUF");
        setsockopt(&db, sockopt::RcvBuf, &big).expect("db SO_RCVBUF");
        let budget = READS_PER_TURN * READ_CHUNK;
        let mut frame = vec![b'd'];
        frame.extend_from_slice(&(1024 + 4u32).to_be_bytes());
        frame.resize(5 + 1024, 7);
        let sent = frame.repeat(budget / frame.len() + 64); // a little more than one turn
        app.write_all(&sent).expect("app writes");
        std::thread::sleep(Duration::from_millis(100));
        let mut turns = Turns::new();
        assert!(turns.drive(&mut session).is_none());
        assert_eq!(turns.moved(), budget as u64);
        assert!(session.has_work(), "bytes are left, so the session wants another turn");
        assert!(turns.drive(&mut session).is_none());
        assert_eq!(turns.moved(), sent.len() as u64);
        assert!(!session.has_work(), "all moved: the session waits for epoll again");
    }

    #[test]
    fn flushed_batches_come_back_to_be_dropped_and_reused() {
        use crate::event::{Outcome, TxState};
        let event = || StatementEvent {
            conn_id: 1,
            session: Arc::new(SessionInfo::default()),
            sql: bytes::Bytes::from_static(b"SELECT 1"),
            stmt_index: 0,
            extended: false,
            params_hash: 0,
            duration_us: 1,
            outcome: Outcome::Done { rows: Some(1) },
            tx: TxState::Idle,
            finished_at: std::time::SystemTime::now(),
        };
        let (events, mut queue, _) = channel(1 << 16);
        let (_commands, inbox) = mpsc::channel();
        let poll = Poll::new().expect("epoll");
        let mut relay = Relay::new(poll, inbox, events, Arc::new(ProxyCounters::default()));
        relay.outbox.push(event());
        relay.flush();
        let batch = queue.try_recv().expect("the batch was sent");
        let buffer = batch.events.as_ptr();
        batch.give_back();
        relay.outbox.push(event());
        relay.flush();
        assert!(relay.returns.take().is_none(), "the flush took the returned batch");
        assert_eq!(relay.outbox.as_ptr(), buffer, "and made its buffer the next outbox");
        assert!(relay.outbox.is_empty(), "after dropping its events");
        assert_eq!(queue.try_recv().map(|b| b.events.len()).ok(), Some(1));
    }

    #[test]
    fn a_panic_ends_only_its_own_session() {
        let (mut session, _app, _db) = session();
        let mut turns = Turns::new();
        // An impossible state (more approved bytes than the buffer holds) makes the relay
        // step panic on a slice bound, as a bug would.
        session.up.approved = 1 << 40;
        let end = turns.drive(&mut session);
        assert!(matches!(end, Some(End::Client(Err(SessionError::Internal)))));
        // The thread (this test) goes on, and another session still relays.
        let (mut other, mut app, mut db) = self::session();
        app.write_all(b"S\0\0\0\x04").expect("app writes a Sync");
        std::thread::sleep(Duration::from_millis(50));
        assert!(turns.drive(&mut other).is_none());
        let mut got = [0u8; 5];
        db.read_exact(&mut got).expect("the other session's server gets it");
        assert_eq!(&got, b"S\0\0\0\x04");
    }
}
