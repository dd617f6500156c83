//! Startup edge cases, bad input and faults: each fault ends one connection with a clear error
//! and touches nothing else.

use std::time::Duration;

use crate::support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A client speaking raw bytes.
struct Raw(TcpStream);

impl Raw {
    async fn connect(env: &Env) -> Raw {
        Raw(TcpStream::connect(env.sidecar.proxy_addr).await.unwrap())
    }

    fn startup_packet(user: &str) -> Vec<u8> {
        Raw::startup_packet_v(3, 0, &[("user", user), ("database", "postgres")])
    }

    /// A StartupMessage asking for protocol `major.minor` with these parameters.
    fn startup_packet_v(major: u16, minor: u16, params: &[(&str, &str)]) -> Vec<u8> {
        let mut body = ((u32::from(major) << 16) | u32::from(minor)).to_be_bytes().to_vec();
        for s in params.iter().flat_map(|(k, v)| [*k, *v]).chain([""]) {
            body.extend_from_slice(s.as_bytes());
            body.push(0);
        }
        let mut p = (body.len() as u32 + 4).to_be_bytes().to_vec();
        p.extend(body);
        p
    }

    /// Logs in as the trusted superuser and reads up to ReadyForQuery.
    async fn login(env: &Env) -> Raw {
        Raw::login_at(env.sidecar.proxy_addr).await
    }

    async fn login_at(addr: std::net::SocketAddr) -> Raw {
        let mut raw = Raw(TcpStream::connect(addr).await.unwrap());
        raw.0.write_all(&Raw::startup_packet("postgres")).await.unwrap();
        raw.read_until(b'Z').await;
        raw
    }

    async fn message(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut head = [0u8; 5];
        tokio::time::timeout(Duration::from_secs(10), self.0.read_exact(&mut head))
            .await
            .ok()?
            .ok()?;
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut body = vec![0u8; len - 4];
        self.0.read_exact(&mut body).await.ok()?;
        Some((head[0], body))
    }

    async fn read_until(&mut self, tag: u8) -> Vec<(u8, Vec<u8>)> {
        let mut seen = Vec::new();
        while let Some(m) = self.message().await {
            let done = m.0 == tag;
            seen.push(m);
            if done {
                return seen;
            }
        }
        panic!("connection ended before {:?}: {seen:?}", tag as char)
    }

    /// Expects an ErrorResponse with this SQLSTATE, then the end of the connection.
    async fn expect_fatal(&mut self, sqlstate: &str) -> String {
        let (tag, body) = self.message().await.expect("an ErrorResponse");
        assert_eq!(tag, b'E');
        let text = String::from_utf8_lossy(&body).into_owned();
        assert!(text.contains(&format!("C{sqlstate}\0")), "{text:?}");
        assert!(self.message().await.is_none(), "connection closed after the error");
        text
    }
}

fn query(sql: &str) -> Vec<u8> {
    let mut m = vec![b'Q'];
    m.extend_from_slice(&(sql.len() as u32 + 5).to_be_bytes());
    m.extend_from_slice(sql.as_bytes());
    m.push(0);
    m
}

#[tokio::test]
async fn bad_lengths_end_only_that_connection() {
    let env = Env::start_with(|c| c.max_message_bytes = 64 * 1024).await;
    let bystander = env.client().await;

    let mut short = Raw::login(&env).await;
    short.0.write_all(&[b'Q', 0, 0, 0, 2]).await.unwrap();
    let text = short.expect_fatal("08P01").await;
    assert!(text.contains("invalid length 2"), "{text}");

    // A header declaring 100 MB: refused from the header alone, nothing buffered.
    let mut long = Raw::login(&env).await;
    long.0.write_all(&[b'Q', 0x06, 0, 0, 0]).await.unwrap();
    let text = long.expect_fatal("08P01").await;
    assert!(text.contains("above the limit of 65536 bytes"), "{text}");

    bystander.batch_execute("SELECT 1").await.expect("other sessions are untouched");
    assert_eq!(
        env.sidecar.proxy_counters.protocol_errors.load(std::sync::atomic::Ordering::Relaxed),
        2
    );
}

#[tokio::test]
async fn garbage_startup_gets_a_clear_error() {
    let env = Env::start().await;
    let mut raw = Raw::connect(&env).await;
    raw.0.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let text = raw.expect_fatal("08P01").await;
    assert!(text.contains("invalid startup packet"), "{text}");
}

#[tokio::test]
async fn ssl_and_gss_requests_are_declined_then_startup_proceeds() {
    let env = Env::start().await;
    let mut raw = Raw::connect(&env).await;
    for code in [80_877_103u32, 80_877_104] {
        let mut req = 8u32.to_be_bytes().to_vec();
        req.extend(code.to_be_bytes());
        raw.0.write_all(&req).await.unwrap();
        let mut answer = [0u8; 1];
        raw.0.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"N");
    }
    raw.0.write_all(&Raw::startup_packet("postgres")).await.unwrap();
    let msgs = raw.read_until(b'Z').await;
    assert!(msgs.iter().any(|(t, _)| *t == b'K'), "BackendKeyData passed through");
    raw.0.write_all(&query("SELECT 1")).await.unwrap();
    let reply = raw.read_until(b'Z').await;
    assert!(reply.iter().any(|(t, b)| *t == b'C' && b.starts_with(b"SELECT 1")));
}

/// Some drivers ask for TLS before a CancelRequest too; declined, the cancel still reaches the
/// backend that runs the query.
#[tokio::test]
async fn cancel_request_after_an_ssl_request_cancels_the_query() {
    let env = Env::start().await;
    let mut sleeper = Raw::connect(&env).await;
    sleeper.0.write_all(&Raw::startup_packet("postgres")).await.unwrap();
    let login = sleeper.read_until(b'Z').await;
    let key = login.iter().find(|(t, _)| *t == b'K').expect("BackendKeyData").1.clone();
    sleeper.0.write_all(&query("SELECT pg_sleep(60) AS to_cancel")).await.unwrap();
    let direct = env.direct().await;
    let running = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%AS to_cancel' AND state = 'active' AND pid <> pg_backend_pid()";
    wait_until(&direct, running, 1).await;

    let mut canceller = Raw::connect(&env).await;
    let mut ssl = 8u32.to_be_bytes().to_vec();
    ssl.extend(80_877_103u32.to_be_bytes());
    canceller.0.write_all(&ssl).await.unwrap();
    let mut answer = [0u8; 1];
    canceller.0.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"N");
    let mut cancel = (8 + key.len() as u32).to_be_bytes().to_vec();
    cancel.extend(80_877_102u32.to_be_bytes());
    cancel.extend(&key);
    canceller.0.write_all(&cancel).await.unwrap();
    assert!(canceller.message().await.is_none(), "the cancel connection is closed, no reply");

    let reply = sleeper.read_until(b'Z').await;
    let error = reply.iter().find(|(t, _)| *t == b'E').expect("the query was cancelled");
    let text = String::from_utf8_lossy(&error.1);
    assert!(text.contains("C57014\0"), "{text}");
}

/// A client asking for protocol 3.2 and an unknown `_pq_` option: PostgreSQL 15 answers with
/// NegotiateProtocolVersion (3.0, the option refused), and pgscope relays it and then tracks
/// the session as usual.
#[tokio::test]
async fn protocol_3_2_is_negotiated_by_the_server_through_the_proxy() {
    let env = Env::start().await;
    let mut raw = Raw::connect(&env).await;
    let params = [("user", "postgres"), ("database", "postgres"), ("_pq_.pgscope_probe", "1")];
    raw.0.write_all(&Raw::startup_packet_v(3, 2, &params)).await.unwrap();
    let msgs = raw.read_until(b'Z').await;
    let (tag, body) = &msgs[0];
    assert_eq!(*tag, b'v', "NegotiateProtocolVersion first: {msgs:?}");
    // The newest version the server speaks: PostgreSQL sends it whole (3.0), not the minor.
    let mut want = (3u32 << 16).to_be_bytes().to_vec();
    want.extend(1u32.to_be_bytes()); // one option it did not recognise
    want.extend(b"_pq_.pgscope_probe\0");
    assert_eq!(body, &want);
    assert!(msgs.iter().any(|(t, b)| *t == b'R' && b == &[0, 0, 0, 0]), "AuthenticationOk");
    assert!(msgs.iter().any(|(t, _)| *t == b'K'), "BackendKeyData passed through");

    raw.0.write_all(&query("SELECT 42 AS negotiated")).await.unwrap();
    let reply = raw.read_until(b'Z').await;
    assert!(reply.iter().any(|(t, b)| *t == b'C' && b.starts_with(b"SELECT 1")));
    env.wait_for_calls(1).await;
    assert_eq!(env.pattern("negotiated").calls, 1);
}

#[tokio::test]
async fn unreachable_upstream_names_the_address() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let sidecar =
        pgscope::sidecar::Sidecar::start(pgscope::config::Config::for_upstream(addr.to_string()))
            .await
            .unwrap();
    let dsn = format!("host=127.0.0.1 port={} user=app dbname=app", sidecar.proxy_addr.port());
    let err = try_connect(&dsn).await.expect_err("no upstream");
    let db = err.as_db_error().expect("an ErrorResponse, not a silent close");
    assert_eq!(db.code().code(), "08006");
    assert!(db.message().contains(&addr.to_string()), "{}", db.message());
    sidecar.shutdown().await.unwrap();
}

#[tokio::test]
async fn client_disconnect_mid_query_cancels_the_backend() {
    let env = Env::start().await;
    let mut raw = Raw::login(&env).await;
    raw.0.write_all(&query("SELECT pg_sleep(60) AS abandoned")).await.unwrap();
    let direct = env.direct().await;
    let running = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%AS abandoned' AND state = 'active' AND pid <> pg_backend_pid()";
    wait_until(&direct, running, 1).await;
    drop(raw);
    wait_until(&direct, running, 0).await;
    assert_eq!(
        env.sidecar.proxy_counters.cancels_on_disconnect.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

async fn wait_until(db: &tokio_postgres::Client, sql: &str, want: i64) {
    for _ in 0..100 {
        let n: i64 = db.query_one(sql, &[]).await.unwrap().get(0);
        if n == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{sql} never returned {want}");
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn slow_reader_makes_the_proxy_stop_reading_from_the_server() {
    let env = Env::start().await;
    // A process of its own, so that the memory measured is the proxy's alone (the tests
    // running beside this one share the test process).
    let proxy = ProxyProcess::start(&env, &[]).await;
    let mut raw = Raw::login_at(proxy.listen).await;
    let before = rss_kib(proxy.pid());
    // About 200 MB of result rows that the client does not read for a while.
    raw.0
        .write_all(&query("SELECT repeat('x', 1000) FROM generate_series(1, 200000)"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let grown_mib = rss_kib(proxy.pid()).saturating_sub(before) / 1024;
    assert!(grown_mib < 32, "proxy buffered {grown_mib} MiB for a client that reads nothing");
    // Now read it all: nothing was lost.
    let msgs = raw.read_until(b'Z').await;
    let rows = msgs.iter().filter(|(t, _)| *t == b'D').count();
    assert_eq!(rows, 200_000);
}

#[tokio::test]
async fn connections_beyond_the_limit_are_refused_with_53300() {
    let env = Env::start_with(|c| c.max_client_connections = 2).await;
    let _a = env.client().await;
    let _b = env.client().await;
    let err = try_connect(&env.proxy_dsn("postgres", "postgres")).await.expect_err("refused");
    assert_eq!(err.as_db_error().map(|e| e.code().code()), Some("53300"), "{err}");
}

/// On shutdown pgscope stops accepting at once, lets a running query finish, and is done as
/// soon as its last client leaves (well inside the grace period).
#[tokio::test]
async fn shutdown_refuses_new_clients_and_lets_running_queries_finish() {
    let env = Env::start_with(|c| c.shutdown_grace = Duration::from_secs(30)).await;
    let client = env.client().await;
    let direct = env.direct().await;
    let Env { pg: _pg, sidecar } = env;
    let addr = sidecar.proxy_addr;
    let running = tokio::spawn(async move {
        let rows = client.query("SELECT pg_sleep(1.5) AS draining", &[]).await;
        (rows.map(|r| r.len()), client)
    });
    let active = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%AS draining' AND state = 'active' AND pid <> pg_backend_pid()";
    wait_until(&direct, active, 1).await;

    let started = std::time::Instant::now();
    let stopping = tokio::spawn(sidecar.shutdown());
    let deadline = started + Duration::from_secs(5);
    while TcpStream::connect(addr).await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "still accepting after shutdown");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let (rows, client) = running.await.unwrap();
    assert_eq!(rows.expect("the running query finished"), 1);
    assert!(!stopping.is_finished(), "waits while a client is connected");
    drop(client);
    stopping.await.unwrap().expect("clean shutdown");
    assert!(started.elapsed() < Duration::from_secs(10), "done when the last client left");
}
