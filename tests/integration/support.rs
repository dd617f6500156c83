//! The shared harness: a throwaway PostgreSQL with password users and pgscope in front of it.

use std::process::Output;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use pgscope::config::Config;
use pgscope::scratch_pg::{ScratchPg, ScratchPgOptions};
use pgscope::sidecar::Sidecar;
use pgscope::stats::{PatternSummary, SortKey};
use tokio_postgres::{Client, NoTls};

/// Users with passwords, one per authentication method pgscope must relay.
pub const SCRAM_USER: (&str, &str) = ("scram_user", "scram-pw");
pub const MD5_USER: (&str, &str) = ("md5_user", "md5-pw");
pub const PLAIN_USER: (&str, &str) = ("plain_user", "plain-pw");

pub struct Env {
    pub pg: ScratchPg,
    pub sidecar: Sidecar,
}

impl Env {
    /// Starts PostgreSQL (pg_stat_statements preloaded, one user per auth method) and pgscope.
    pub async fn start() -> Env {
        Env::start_with(|_| {}).await
    }

    /// As [`Env::start`], with a chance to change pgscope's settings.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Env {
        Env::start_with_pg(|config, _| tweak(config)).await
    }

    /// As [`Env::start_with`], for settings that need the server (its address).
    pub async fn start_with_pg(tweak: impl FnOnce(&mut Config, &ScratchPg)) -> Env {
        let opts = ScratchPgOptions {
            hba_lines: vec![
                format!("host all {} 127.0.0.1/32 scram-sha-256", SCRAM_USER.0),
                format!("host all {} 127.0.0.1/32 md5", MD5_USER.0),
                format!("host all {} 127.0.0.1/32 password", PLAIN_USER.0),
            ],
            settings: vec![("shared_buffers".into(), "16MB".into())],
            ..ScratchPgOptions::default()
        };
        let pg =
            ScratchPg::start(opts).await.unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
        create_users(&pg).await;
        let mut config = Config::for_upstream(pg.addr().to_string());
        tweak(&mut config, &pg);
        let sidecar = Sidecar::start(config).await.expect("pgscope starts");
        Env { pg, sidecar }
    }

    /// libpq connection string through pgscope.
    pub fn proxy_dsn(&self, user: &str, db: &str) -> String {
        format!("host=127.0.0.1 port={} user={user} dbname={db}", self.sidecar.proxy_addr.port())
    }

    /// A tokio-postgres client through pgscope as the superuser.
    pub async fn client(&self) -> Client {
        connect(&self.proxy_dsn("postgres", "postgres")).await
    }

    /// A tokio-postgres client straight to PostgreSQL, for checks that must not pass pgscope.
    pub async fn direct(&self) -> Client {
        connect(&self.pg.conn_str("postgres", "postgres")).await
    }

    /// Waits until the analysis path has recorded at least `calls` statements in all and has
    /// no event left in its queue.
    pub async fn wait_for_calls(&self, calls: u64) -> Vec<PatternSummary> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let patterns = self.patterns();
            let seen: u64 = patterns.iter().map(|p| p.calls).sum();
            if (seen >= calls && self.settled()) || Instant::now() > deadline {
                return patterns;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// True when every event the trackers produced has been analysed (or dropped).
    pub fn settled(&self) -> bool {
        let c = &self.sidecar.event_counters;
        let done = c.analyzed.load(Ordering::Acquire) + c.dropped.load(Ordering::Relaxed);
        done >= c.collected.load(Ordering::Relaxed)
    }

    /// Waits (up to 10 s) until the analysis path has caught up with the data path.
    pub async fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.settled() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub fn patterns(&self) -> Vec<PatternSummary> {
        self.sidecar.stats.lock().expect("stats lock").top(SortKey::Calls, 1000)
    }

    /// The recorded pattern whose text contains `needle` (panics with the list otherwise).
    pub fn pattern(&self, needle: &str) -> PatternSummary {
        let all = self.patterns();
        all.iter()
            .find(|p| p.pattern.contains(needle))
            .cloned()
            .unwrap_or_else(|| panic!("no pattern contains {needle:?}; have {:#?}", texts(&all)))
    }

    /// Runs a binary of the PostgreSQL install (psql, pgbench) with PG* variables cleared.
    pub async fn pg_tool(&self, tool: &str, args: &[&str], stdin: Option<&str>) -> Output {
        run_tool(&self.pg.bin_dir().join(tool), args, stdin).await
    }
}

pub fn texts(patterns: &[PatternSummary]) -> Vec<(String, u64)> {
    patterns.iter().map(|p| (p.pattern.clone(), p.calls)).collect()
}

pub async fn connect(dsn: &str) -> Client {
    try_connect(dsn).await.unwrap_or_else(|e| panic!("connect {dsn}: {e}"))
}

pub async fn try_connect(dsn: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(dsn, NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

async fn create_users(pg: &ScratchPg) {
    let admin = connect(&pg.conn_str("postgres", "postgres")).await;
    let sql = format!(
        "SET password_encryption = 'scram-sha-256';
         CREATE ROLE {s} LOGIN SUPERUSER PASSWORD '{sp}';
         CREATE ROLE {p} LOGIN SUPERUSER PASSWORD '{pp}';
         SET password_encryption = 'md5';
         CREATE ROLE {m} LOGIN SUPERUSER PASSWORD '{mp}';",
        s = SCRAM_USER.0,
        sp = SCRAM_USER.1,
        p = PLAIN_USER.0,
        pp = PLAIN_USER.1,
        m = MD5_USER.0,
        mp = MD5_USER.1,
    );
    admin.batch_execute(&sql).await.expect("create users");
}

async fn run_tool(path: &std::path::Path, args: &[&str], stdin: Option<&str>) -> Output {
    use std::process::Stdio;
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new(path);
    cmd.args(args)
        .env_remove("PGHOST")
        .env_remove("PGPORT")
        .env_remove("PGUSER")
        .env_remove("PGDATABASE")
        .env_remove("PGPASSWORD")
        .env("PGCONNECT_TIMEOUT", "10")
        .kill_on_drop(true)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    let mut input = child.stdin.take().expect("piped stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.expect("write stdin");
    }
    drop(input);
    let limit = std::time::Duration::from_secs(300);
    tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{} did not finish within {limit:?}", path.display()))
        .expect("tool output")
}

/// Asserts a tool succeeded, showing its output otherwise; returns stdout.
pub fn success(out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `GET path` against pgscope's HTTP server with the report's client: (status code, body).
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let response = pgscope::report::http_get(&format!("http://{addr}{path}")).await;
    let response = response.unwrap_or_else(|e| panic!("GET {path}: {e}"));
    (response.status, response.body)
}

impl Env {
    /// `GET /api/findings?kind=…` through pgscope's HTTP API.
    pub async fn findings(&self, kind: &str) -> Vec<serde_json::Value> {
        let http = self.sidecar.http_addr.expect("http enabled");
        let (status, body) = http_get(http, &format!("/api/findings?kind={kind}&limit=1000")).await;
        assert_eq!(status, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).expect("findings JSON");
        json["findings"].as_array().cloned().unwrap_or_default()
    }

    /// Polls `/api/findings?kind=…` until at least `n` findings are there (or 10 s pass).
    pub async fn wait_for_findings(&self, kind: &str, n: usize) -> Vec<serde_json::Value> {
        for _ in 0..200 {
            let found = self.findings(kind).await;
            if found.len() >= n {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.findings(kind).await
    }
}

/// The `pgscope proxy` binary as a child process in front of an [`Env`]'s server, for what
/// needs a process of its own (signals, its memory). Killed by PID when dropped.
pub struct ProxyProcess {
    pub child: tokio::process::Child,
    pub listen: std::net::SocketAddr,
    pub http: std::net::SocketAddr,
}

impl ProxyProcess {
    /// Starts it on free loopback ports with `args` added, and waits until it accepts clients.
    pub async fn start(env: &Env, args: &[&str]) -> ProxyProcess {
        let (listen, http) = (free_addr(), free_addr());
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_pgscope"))
            .args(["proxy", "--upstream", &env.pg.addr().to_string()])
            .args(["--listen", &listen.to_string(), "--http", &http.to_string()])
            .args(args)
            .env("PGSCOPE_LOG", "warn")
            .kill_on_drop(true)
            .spawn()
            .expect("pgscope proxy starts");
        let proxy = ProxyProcess { child, listen, http };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match try_connect(&proxy.dsn()).await {
                Ok(_) => return proxy,
                Err(e) if Instant::now() > deadline => panic!("pgscope proxy never accepted: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// libpq connection string through it, as the trusted superuser.
    pub fn dsn(&self) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname=postgres", self.listen.port())
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("still running")
    }
}

/// A loopback address whose port was free a moment ago.
fn free_addr() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("local addr")
}
