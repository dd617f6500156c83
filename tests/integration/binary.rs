//! The `pgscope proxy` binary itself: its runtime (one relay thread, or several), flags,
//! the HTTP API, and a clean exit on SIGTERM.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::*;

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("local addr").port()
}

async fn proxy_binary_relays_and_stops(worker_threads: &str) {
    let env = Env::start().await;
    let (listen, http) = (free_port(), free_port());
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_pgscope"))
        .args(["proxy", "--upstream", &env.pg.addr().to_string()])
        .args(["--listen", &format!("127.0.0.1:{listen}")])
        .args(["--http", &format!("127.0.0.1:{http}")])
        .args(["--worker-threads", worker_threads])
        .env("PGSCOPE_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("pgscope proxy starts");
    let dsn = format!("host=127.0.0.1 port={listen} user=postgres dbname=postgres");
    let deadline = Instant::now() + Duration::from_secs(20);
    let db = loop {
        match try_connect(&dsn).await {
            Ok(db) => break db,
            Err(e) if Instant::now() > deadline => panic!("pgscope proxy never accepted: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    for i in 0..20i32 {
        let row = db.query_one("SELECT $1::int * 2", &[&i]).await.unwrap();
        assert_eq!(row.get::<_, i32>(0), 2 * i);
    }
    drop(db);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], http));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = http_get(addr, "/api/patterns?sort=calls&limit=5").await;
        assert_eq!(status, 200, "{body}");
        if body.contains("\"calls\":20") || Instant::now() > deadline {
            assert!(body.contains("SELECT $1::INT * $2"), "{body}");
            assert!(body.contains("\"calls\":20"), "analysis thread recorded the calls: {body}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = Pid::from_raw(child.id().expect("running") as i32);
    kill(pid, Signal::SIGTERM).expect("SIGTERM");
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn proxy_binary_on_one_relay_thread() {
    proxy_binary_relays_and_stops("1").await;
}

#[tokio::test]
async fn proxy_binary_on_several_relay_threads() {
    proxy_binary_relays_and_stops("2").await;
}
