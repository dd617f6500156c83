use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::time::timeout;

use super::*;
use crate::event::Outcome;
use crate::stats::Observation;

const LIMIT: Duration = Duration::from_secs(10);

/// A store with `n` patterns; pattern `i` has `i + 1` calls of 1 ms each.
fn state_with(n: u64) -> HttpState {
    let mut store = StatsStore::new(5000);
    for id in 0..n {
        for _ in 0..=id {
            store.record(&Observation {
                pattern_id: id,
                pattern_text: "SELECT $1",
                parsed: true,
                duration_us: 1000,
                outcome: Outcome::Done { rows: Some(2) },
                at: SystemTime::now(),
            });
        }
    }
    let detectors = crate::detect::Detectors::new(&crate::detect::DetectConfig::default())
        .expect("default config is valid");
    HttpState {
        stats: Arc::new(Mutex::new(store)),
        started: Instant::now(),
        metrics: None,
        detectors: Arc::new(Mutex::new(detectors)),
    }
}

/// Serves `state` on a fresh port, sends one raw HTTP/1.1 request, shuts the server down.
async fn request(state: HttpState, method: &str, path: &str) -> (u16, Value) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, state, async {
        let _ = stopped.await;
    }));
    let response = timeout(LIMIT, raw_request(addr, method, path)).await.expect("in time");
    let _ = stop.send(());
    timeout(LIMIT, server).await.expect("shuts down").expect("joins").expect("serves");
    response
}

async fn raw_request(addr: std::net::SocketAddr, method: &str, path: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("write request");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.expect("read response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("head and body");
    assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{head}");
    let status = head[9..12].parse().expect("status code");
    (status, serde_json::from_str(body).expect("JSON body"))
}

async fn get(path: &str) -> (u16, Value) {
    request(state_with(3), "GET", path).await
}

fn ids(body: &Value) -> Vec<String> {
    let rows = body["patterns"].as_array().expect("patterns array");
    rows.iter().map(|p| p["id"].as_str().expect("id").to_string()).collect()
}

#[tokio::test]
async fn healthz_reports_ok_and_uptime() {
    let (status, body) = get("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"status": "ok", "uptime_s": 0}));
}

#[tokio::test]
async fn patterns_defaults_and_shape() {
    let (status, body) = get("/api/patterns").await;
    assert_eq!(status, 200);
    assert_eq!((&body["sort"], &body["limit"]), (&json!("total"), &json!(20)));
    assert_eq!((&body["patterns_tracked"], &body["patterns_evicted"]), (&json!(3), &json!(0)));
    let top = &body["patterns"][0];
    assert_eq!(top["id"], "0000000000000002");
    assert_eq!((&top["pattern"], &top["parsed"]), (&json!("SELECT $1"), &json!(true)));
    assert_eq!(
        (&top["calls"], &top["total_ms"], &top["rows"]),
        (&json!(3), &json!(3.0), &json!(6))
    );
    assert_eq!((&top["errors"], &top["errors_by_class"]), (&json!(0), &json!({})));
    let keys: Vec<&str> = top.as_object().expect("object").keys().map(String::as_str).collect();
    let expected = [
        "calls",
        "errors",
        "errors_by_class",
        "first_seen",
        "id",
        "last_seen",
        "max_ms",
        "mean_ms",
        "min_ms",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "parsed",
        "pattern",
        "rows",
        "stddev_ms",
        "total_ms",
    ];
    assert_eq!(keys, expected);
}

#[tokio::test]
async fn patterns_sort_and_limit() {
    let (status, body) = get("/api/patterns?sort=calls&limit=2").await;
    assert_eq!(status, 200);
    assert_eq!((&body["sort"], &body["limit"]), (&json!("calls"), &json!(2)));
    assert_eq!(ids(&body), ["0000000000000002", "0000000000000001"]);
}

#[tokio::test]
async fn patterns_limit_clamps() {
    let (_, body) = get("/api/patterns?limit=5000").await;
    assert_eq!(body["limit"], 1000);
    assert_eq!(ids(&body).len(), 3);
    let (_, body) = get("/api/patterns?limit=99999999999999999999999").await;
    assert_eq!(body["limit"], 1000);
    let (_, body) = get("/api/patterns?limit=0").await;
    assert_eq!((&body["limit"], ids(&body).len()), (&json!(0), 0));
}

#[tokio::test]
async fn bad_sort_is_400_json() {
    for path in ["/api/patterns?sort=slowest", "/api/patterns?sort=", "/api/patterns?sort=TOTAL"] {
        let (status, body) = get(path).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(body, json!({"error": "sort must be one of total, calls, mean, p99, max"}));
    }
}

#[tokio::test]
async fn bad_limit_is_400_json() {
    for path in ["/api/patterns?limit=ten", "/api/patterns?limit=-1", "/api/patterns?limit=1.5"] {
        let (status, body) = get(path).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(body, json!({"error": BAD_LIMIT}));
    }
}

#[tokio::test]
async fn malformed_query_string_is_400_json() {
    let (status, body) = get("/api/patterns?sort=calls&sort=total").await;
    assert_eq!(status, 400);
    let message = body["error"].as_str().expect("error message");
    assert!(message.starts_with("invalid query string: "), "{message}");
}

#[tokio::test]
async fn unknown_path_is_404_json() {
    let (status, body) = get("/nope").await;
    assert_eq!(status, 404);
    assert_eq!(body, json!({"error": "not found"}));
}

#[tokio::test]
async fn wrong_method_is_405_json() {
    let (status, body) = request(state_with(0), "POST", "/healthz").await;
    assert_eq!(status, 405);
    assert_eq!(body, json!({"error": "method not allowed"}));
}

#[test]
fn parse_limit_table() {
    let cases = [("0", Some(0)), ("20", Some(20)), ("1000", Some(1000)), ("1001", Some(1000))];
    for (text, expected) in cases {
        assert_eq!(parse_limit(text), expected, "{text}");
    }
    for text in ["", "+1", "-1", " 1", "1e3", "0x10"] {
        assert_eq!(parse_limit(text), None, "{text}");
    }
}
