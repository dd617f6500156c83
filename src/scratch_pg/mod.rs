//! A throwaway PostgreSQL server from the local install, for `pgscope demo` and the tests.
//!
//! [`ScratchPg::start`] runs `initdb` into a fresh temp dir, starts the `postgres` binary
//! directly as our own child on a free loopback port (as the `postgres` OS user when run as
//! root) and waits until it accepts connections. Stopping or dropping it signals only that
//! child, by PID, and then removes the temp dir.

mod bin_dir;
mod cluster;
mod process;
#[cfg(test)]
mod tests;

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tracing::debug;

pub use bin_dir::find_bin_dir;
use cluster::{Cluster, RunAs};
use process::{ServerProcess, StartFailure};

/// Environment variable naming the directory that holds `initdb` and `postgres`.
pub const BIN_DIR_ENV: &str = "PGSCOPE_PG_BIN";

/// The superuser `initdb` creates; every role and database starts from it.
const SUPERUSER: &str = "postgres";

/// How many fresh ports to try when another process wins the race for the picked one.
const PORT_ATTEMPTS: u32 = 5;

/// How the throwaway server is configured beyond the fast, trusting defaults.
#[derive(Debug, Clone)]
pub struct ScratchPgOptions {
    /// Extra pg_hba.conf lines placed BEFORE the default `trust` lines (e.g.
    /// "host all scram_user 127.0.0.1/32 scram-sha-256").
    pub hba_lines: Vec<String>,
    /// Extra postgresql.conf settings (name, value), e.g. ("password_encryption","md5").
    /// Values are written single-quoted, so any value PostgreSQL accepts works.
    pub settings: Vec<(String, String)>,
    /// shared_preload_libraries; default ["pg_stat_statements"].
    pub preload: Vec<String>,
}

impl Default for ScratchPgOptions {
    fn default() -> Self {
        Self {
            hba_lines: Vec::new(),
            settings: Vec::new(),
            preload: vec!["pg_stat_statements".to_owned()],
        }
    }
}

/// Why a throwaway server could not be found, started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ScratchPgError {
    /// No directory with `initdb` and `postgres` was found.
    #[error(
        "PostgreSQL server binaries (initdb, postgres) not found: {reason}. Install them with \
         `apt-get install postgresql` (Debian/Ubuntu), or set {BIN_DIR_ENV} to the directory \
         that holds them"
    )]
    BinariesNotFound {
        /// What was looked at.
        reason: String,
    },
    /// Running as root, but there is no `postgres` OS user to run the server as.
    #[error(
        "running as root, but the `postgres` OS user does not exist (PostgreSQL refuses to run \
         as root); create it, e.g. with `apt-get install postgresql`, or run as another user"
    )]
    NoPostgresUser,
    /// Looking up the `postgres` OS user failed.
    #[error("could not look up the `postgres` OS user")]
    UserLookup(#[source] nix::Error),
    /// A file or process operation failed; `context` says which.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `initdb` exited unsuccessfully.
    #[error("initdb failed ({status}):\n{output}")]
    Initdb {
        /// Its exit status.
        status: ExitStatus,
        /// Its stdout and stderr.
        output: String,
    },
    /// The server exited before it accepted connections.
    #[error("PostgreSQL exited during startup ({status}); server log tail:\n{log_tail}")]
    ServerExited {
        /// Its exit status.
        status: ExitStatus,
        /// The last lines of the server log.
        log_tail: String,
    },
    /// The server did not accept connections in time (it has been killed).
    #[error(
        "PostgreSQL did not accept connections within {}s; server log tail:\n{log_tail}",
        waited.as_secs()
    )]
    NotReady {
        /// How long we waited.
        waited: Duration,
        /// The last lines of the server log.
        log_tail: String,
        /// The last connection error, if any attempt got that far.
        #[source]
        last_error: Option<tokio_postgres::Error>,
    },
    /// Every picked port was taken by someone else before the server could bind it.
    #[error("no free loopback port after {attempts} attempts; server log tail:\n{log_tail}")]
    NoFreePort {
        /// How many ports were tried.
        attempts: u32,
        /// The last lines of the server log of the last attempt.
        log_tail: String,
    },
    /// Signalling the server process failed.
    #[error("could not signal PostgreSQL (pid {pid})")]
    Signal {
        /// The server's PID.
        pid: u32,
        /// The underlying error.
        #[source]
        source: nix::Error,
    },
}

/// Returns a `map_err` adapter that wraps an I/O error with what was being done.
fn io_context(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ScratchPgError {
    let context = context.into();
    move |source| ScratchPgError::Io { context, source }
}

/// A running throwaway PostgreSQL server in its own temp dir.
///
/// Dropping it stops the server like [`ScratchPg::stop`] but blocks the current thread while
/// doing so: usually well under a second, at most ~10 s before the server is killed.
#[derive(Debug)]
pub struct ScratchPg {
    // Field order matters: the server stops (on drop) before its temp dir is removed.
    server: ServerProcess,
    dir: TempDir,
    bin_dir: PathBuf,
    port: u16,
}

impl ScratchPg {
    /// Creates a cluster in a new temp dir, starts it on a free loopback port and waits
    /// (up to 30 s) until it accepts connections.
    pub async fn start(opts: ScratchPgOptions) -> Result<ScratchPg, ScratchPgError> {
        let started = Instant::now();
        let bin_dir = find_bin_dir()?;
        let run_as = RunAs::for_current_user()?;
        let dir = tempfile::Builder::new()
            .prefix("pgscope-pg-")
            .tempdir()
            .map_err(io_context("could not create a temp dir for PostgreSQL"))?;
        debug!(bin_dir = %bin_dir.display(), dir = %dir.path().display(), ?run_as, "initdb");
        let cluster = Cluster::init(dir.path(), &bin_dir, run_as, &opts.hba_lines).await?;
        let (server, port) = start_on_free_port(&cluster, &opts).await?;
        debug!(port, pid = server.pid(), elapsed = ?started.elapsed(), "scratch PostgreSQL ready");
        Ok(ScratchPg { server, dir, bin_dir, port })
    }

    /// The loopback TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's address, `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The directory of the server binaries, to find `psql` or `pgbench` of the same install.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The superuser role, `postgres`.
    pub fn superuser(&self) -> &str {
        SUPERUSER
    }

    /// The server log (stdout and stderr of `postgres`), for showing when something fails.
    pub fn log_path(&self) -> PathBuf {
        Cluster::log_path_in(self.dir.path())
    }

    /// libpq-style connection string for tokio_postgres / psql:
    /// "host=127.0.0.1 port=N user=U dbname=D"
    pub fn conn_str(&self, user: &str, dbname: &str) -> String {
        conn_str(self.port, user, dbname)
    }

    /// Stops the server gracefully (SIGINT, SIGKILL after 10 s), waits for it to exit and
    /// removes the temp dir.
    pub async fn stop(self) -> Result<(), ScratchPgError> {
        let ScratchPg { server, dir, .. } = self;
        server.stop().await?;
        let path = dir.path().display().to_string();
        dir.close().map_err(io_context(format!("could not remove {path}")))
    }
}

fn conn_str(port: u16, user: &str, dbname: &str) -> String {
    format!("host=127.0.0.1 port={port} user={user} dbname={dbname}")
}

/// Starts the server on a freshly picked port, retrying when another process takes the port
/// between our probe and the server's bind.
async fn start_on_free_port(
    cluster: &Cluster<'_>,
    opts: &ScratchPgOptions,
) -> Result<(ServerProcess, u16), ScratchPgError> {
    let mut log_tail = String::new();
    for attempt in 1..=PORT_ATTEMPTS {
        let port = pick_free_port()?;
        cluster.configure(&server_settings(opts, port, cluster.root()))?;
        let mut server = ServerProcess::spawn(cluster)?;
        debug!(attempt, port, pid = server.pid(), "started postgres");
        match server.wait_ready(&conn_str(port, SUPERUSER, "postgres")).await {
            Ok(()) => return Ok((server, port)),
            Err(StartFailure::PortTaken { log_tail: tail }) => {
                debug!(attempt, port, "port taken before postgres could bind it; retrying");
                log_tail = tail;
            }
            Err(StartFailure::Failed(err)) => return Err(err),
        }
    }
    Err(ScratchPgError::NoFreePort { attempts: PORT_ATTEMPTS, log_tail })
}

/// Asks the kernel for a free loopback port. Someone may take it before the server binds it;
/// [`start_on_free_port`] retries then.
fn pick_free_port() -> Result<u16, ScratchPgError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(io_context("could not bind 127.0.0.1:0 to find a free port"))?;
    let addr = listener.local_addr().map_err(io_context("could not read the probed port"))?;
    Ok(addr.port())
}

/// postgresql.conf settings for a fast, private, loopback-only server; `opts.settings` last,
/// so they win.
fn server_settings(opts: &ScratchPgOptions, port: u16, socket_dir: &Path) -> Vec<(String, String)> {
    let fixed = [
        ("listen_addresses", "127.0.0.1".to_owned()),
        ("port", port.to_string()),
        ("unix_socket_directories", socket_dir.display().to_string()),
        ("shared_preload_libraries", opts.preload.join(",")),
        ("fsync", "off".to_owned()),
        ("synchronous_commit", "off".to_owned()),
        ("full_page_writes", "off".to_owned()),
        ("max_connections", "100".to_owned()),
        ("pg_stat_statements.track", "all".to_owned()),
    ];
    fixed
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .chain(opts.settings.iter().cloned())
        .collect()
}
