//! The `postgres` child process: spawning it, waiting until it accepts connections, and
//! stopping it by PID.

use std::path::PathBuf;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;
use tracing::debug;

use super::cluster::Cluster;
use super::{ScratchPgError, io_context};

/// How long the server may take to accept its first connection.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often readiness is probed.
const READY_POLL: Duration = Duration::from_millis(50);
/// How long one readiness probe may take before it counts as "not yet".
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a fast shutdown (SIGINT) may take before the server is killed.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a stopping server is checked for exit.
const EXIT_POLL: Duration = Duration::from_millis(10);
/// How many lines of the server log go into startup errors.
const LOG_TAIL_LINES: usize = 20;

/// Why one start attempt failed.
#[derive(Debug)]
pub(super) enum StartFailure {
    /// Someone else bound the port first; worth retrying with another.
    PortTaken { log_tail: String },
    /// Anything else.
    Failed(ScratchPgError),
}

impl From<ScratchPgError> for StartFailure {
    fn from(err: ScratchPgError) -> Self {
        StartFailure::Failed(err)
    }
}

/// Our own `postgres` child. Dropping it stops the server, blocking the current thread for up
/// to [`SHUTDOWN_TIMEOUT`] (plus a kill).
#[derive(Debug)]
pub(super) struct ServerProcess {
    /// `None` once the child has been reaped.
    child: Option<Child>,
    pid: u32,
    log_path: PathBuf,
}

impl ServerProcess {
    /// Starts `postgres` for the (configured) cluster.
    pub(super) fn spawn(cluster: &Cluster<'_>) -> Result<ServerProcess, ScratchPgError> {
        let child =
            cluster.server_command()?.spawn().map_err(io_context("could not start postgres"))?;
        Ok(ServerProcess { pid: child.id(), child: Some(child), log_path: cluster.log_path() })
    }

    /// The server's PID (the postmaster).
    pub(super) fn pid(&self) -> u32 {
        self.pid
    }

    /// Polls until a connection as `conn_str` succeeds, the server exits, or
    /// [`READY_TIMEOUT`] passes. On failure the server has exited or is stopped when `self`
    /// is dropped.
    pub(super) async fn wait_ready(&mut self, conn_str: &str) -> Result<(), StartFailure> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last_error = None;
        loop {
            if let Some(status) = self.try_reap()? {
                return Err(self.exited_during_startup(status));
            }
            match tokio::time::timeout(PROBE_TIMEOUT, probe(conn_str)).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(err)) if server_answered(&err) => return Ok(()),
                Ok(Err(err)) => last_error = Some(err),
                Err(_elapsed) => {}
            }
            if Instant::now() >= deadline {
                return Err(StartFailure::Failed(ScratchPgError::NotReady {
                    waited: READY_TIMEOUT,
                    log_tail: self.log_tail(),
                    last_error,
                }));
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// Fast shutdown: SIGINT, SIGKILL after [`SHUTDOWN_TIMEOUT`]; returns once it has exited.
    /// The waiting runs on tokio's blocking pool, so the runtime's workers stay free.
    pub(super) async fn stop(mut self) -> Result<(), ScratchPgError> {
        if self.child.is_none() {
            return Ok(());
        }
        let pid = self.pid;
        tokio::task::spawn_blocking(move || self.stop_blocking()).await.map_err(|e| {
            ScratchPgError::Io {
                context: format!("could not wait for postgres (pid {pid}) to stop"),
                source: std::io::Error::other(e),
            }
        })?
    }

    /// Fast shutdown, blocking the current thread: used by [`ServerProcess::stop`] and `Drop`.
    fn stop_blocking(&mut self) -> Result<(), ScratchPgError> {
        if self.child.is_none() {
            return Ok(());
        }
        self.signal(Signal::SIGINT)?;
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        while Instant::now() < deadline {
            if self.try_reap()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(EXIT_POLL);
        }
        self.kill_and_reap()
    }

    fn kill_and_reap(&mut self) -> Result<(), ScratchPgError> {
        debug!(pid = self.pid, "postgres did not stop in time; killing it");
        self.signal(Signal::SIGKILL)?;
        if let Some(mut child) = self.child.take() {
            child
                .wait()
                .map_err(io_context(format!("could not wait for postgres (pid {})", self.pid)))?;
        }
        Ok(())
    }

    /// Signals our child. Safe by PID: until we reap it, the PID cannot be reused.
    fn signal(&self, signal: Signal) -> Result<(), ScratchPgError> {
        if self.child.is_none() {
            return Ok(());
        }
        let pid = Pid::from_raw(i32::try_from(self.pid).expect("PIDs fit in pid_t"));
        match kill(pid, signal) {
            // Already exited but not reaped yet: nothing left to signal.
            Ok(()) | Err(nix::Error::ESRCH) => Ok(()),
            Err(source) => Err(ScratchPgError::Signal { pid: self.pid, source }),
        }
    }

    /// Reaps the child if it has exited.
    fn try_reap(&mut self) -> Result<Option<ExitStatus>, ScratchPgError> {
        let Some(child) = self.child.as_mut() else {
            return Ok(None);
        };
        let status = child
            .try_wait()
            .map_err(io_context(format!("could not check on postgres (pid {})", self.pid)))?;
        if let Some(status) = status {
            debug!(pid = self.pid, %status, "postgres exited");
            self.child = None;
        }
        Ok(status)
    }

    fn exited_during_startup(&self, status: ExitStatus) -> StartFailure {
        let log_tail = self.log_tail();
        // With `--no-locale` the messages are in English.
        if log_tail.contains("Address already in use")
            || log_tail.contains("could not create any TCP/IP sockets")
        {
            return StartFailure::PortTaken { log_tail };
        }
        StartFailure::Failed(ScratchPgError::ServerExited { status, log_tail })
    }

    /// The last [`LOG_TAIL_LINES`] lines of the server log, or why they are missing.
    fn log_tail(&self) -> String {
        match std::fs::read_to_string(&self.log_path) {
            Ok(log) => {
                let lines: Vec<&str> = log.lines().collect();
                lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
            }
            Err(err) => format!("(could not read {}: {err})", self.log_path.display()),
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Err(err) = self.stop_blocking() {
            debug!(pid = self.pid, error = %err, "could not stop postgres on drop");
        }
    }
}

/// One readiness probe: a full connection (startup and authentication) as the given user.
/// The dummy password is ignored under `trust`; when `hba_lines` demand a password for the
/// user, it draws an authentication error, which [`server_answered`] counts as ready.
async fn probe(conn_str: &str) -> Result<(), tokio_postgres::Error> {
    let conn_str = format!("{conn_str} password=pgscope-readiness-probe");
    let (client, connection) = tokio_postgres::connect(&conn_str, NoTls).await?;
    // Dropping the client makes the connection send Terminate and finish.
    drop(client);
    connection.await
}

/// Whether a failed probe still shows a server accepting connections: it answered with an
/// error other than "the database system is starting up" (e.g. a rejected password).
fn server_answered(err: &tokio_postgres::Error) -> bool {
    err.code().is_some_and(|code| *code != SqlState::CANNOT_CONNECT_NOW)
}
