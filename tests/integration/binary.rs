//! The `pgscope proxy` binary itself: its runtime (one relay thread, or several), flags,
//! the HTTP API, and a clean exit on SIGTERM.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::*;

async fn proxy_binary_relays_and_stops(worker_threads: &str) {
    let env = Env::start().await;
    let mut proxy = ProxyProcess::start(&env, &["--worker-threads", worker_threads]).await;
    let db = connect(&proxy.dsn()).await;
    for i in 0..20i32 {
        let row = db.query_one("SELECT $1::int * 2", &[&i]).await.unwrap();
        assert_eq!(row.get::<_, i32>(0), 2 * i);
    }
    drop(db);
    let addr = proxy.http;
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
    let pid = Pid::from_raw(proxy.pid() as i32);
    kill(pid, Signal::SIGTERM).expect("SIGTERM");
    let status = tokio::time::timeout(Duration::from_secs(20), proxy.child.wait())
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
