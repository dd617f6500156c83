//! The HTTP surface end to end: JSON API and Prometheus metrics after real traffic.

use crate::support::*;

#[tokio::test]
async fn api_patterns_reflects_traffic() {
    let env = Env::start().await;
    let db = env.client().await;
    for i in 0..5 {
        db.query("SELECT $1::int + 1", &[&i]).await.unwrap();
    }
    env.wait_for_calls(5).await;
    let http = env.sidecar.http_addr.expect("http enabled");
    let (status, body) = http_get(http, "/api/patterns?sort=calls&limit=5").await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let top = &json["patterns"][0];
    assert_eq!(top["calls"], 5, "{body}");
    assert_eq!(top["id"].as_str().map(str::len), Some(16));
    let (status, body) = http_get(http, "/api/patterns?sort=nope").await;
    assert_eq!((status, body.contains("sort must be one of")), (400, true));
    let (status, body) = http_get(http, "/healthz").await;
    assert_eq!((status, body.contains("\"ok\"")), (200, true));
}

#[tokio::test]
async fn metrics_pass_promtool_and_count_the_traffic() {
    let env = Env::start().await;
    let db = env.client().await;
    for _ in 0..3 {
        db.batch_execute("SELECT 1").await.unwrap();
    }
    let _ = db.batch_execute("SELECT * FROM missing_table").await;
    env.wait_for_calls(4).await;
    let http = env.sidecar.http_addr.expect("http enabled");
    let (status, text) = http_get(http, "/metrics").await;
    assert_eq!(status, 200);
    for needle in [
        "pgscope_queries_total{pattern=\"",
        "pgscope_query_duration_seconds_bucket{pattern=\"",
        "pgscope_query_errors_total{sqlstate_class=\"42\"} 1",
        "pgscope_client_connections 1",
        "pgscope_events_dropped_total 0",
        "pgscope_events_returned_overflow_total 0",
        "pgscope_patterns_evicted_total 0",
        "pgscope_fingerprint_memo_evictions_total 0",
        "pgscope_fingerprint_exact_memo_evictions_total 0",
        "pgscope_fingerprint_template_memo_evictions_total 0",
        "process_cpu_seconds_total",
    ] {
        assert!(text.contains(needle), "missing {needle}:\n{text}");
    }
    let total: f64 = text
        .lines()
        .filter(|l| l.starts_with("pgscope_queries_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(total, 4.0);
    promtool_check(&text).await;
}

#[tokio::test]
async fn a_full_fingerprint_memo_counts_its_evictions() {
    // Room for 2 patterns: generations of 1, so every new pattern retires the older one.
    let env = Env::start_with(|c| c.memo_capacity = 2).await;
    let db = env.client().await;
    // Texts without literals, each twice in a row: a text enters the exact memo on its
    // second call. Texts with literals go through the template memo instead.
    for i in 0..5 {
        for _ in 0..2 {
            db.batch_execute(&format!("SELECT current_user AS column_{i}")).await.unwrap();
        }
        db.batch_execute(&format!("SELECT 1 AS column_{i}")).await.unwrap();
    }
    env.wait_for_calls(15).await;
    let http = env.sidecar.http_addr.expect("http enabled");
    let (_, text) = http_get(http, "/metrics").await;
    let evicted = metric_value(&text, "pgscope_fingerprint_memo_evictions_total");
    assert_eq!(evicted, 8.0, "10 patterns through a memo of 2 drop 8");
    let exact = metric_value(&text, "pgscope_fingerprint_exact_memo_evictions_total");
    assert_eq!(exact, 3.0, "5 texts through an exact memo of 2 drop 3");
    let templates = metric_value(&text, "pgscope_fingerprint_template_memo_evictions_total");
    assert_eq!(templates, 3.0, "5 texts through a template memo of 2 drop 3");
    // Evicted from the memo is not lost: every statement still has its pattern and calls.
    assert_eq!(env.patterns().len(), 10);
}

/// The value of an unlabelled metric in a Prometheus text exposition.
fn metric_value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no {name}:\n{text}"))
}

async fn promtool_check(text: &str) {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "promtool not runnable ({e}): install the Debian package `prometheus` (see .ci/run)"
            )
        });
    child.stdin.take().unwrap().write_all(text.as_bytes()).await.unwrap();
    let out = child.wait_with_output().await.unwrap();
    let report =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && report.trim().is_empty(), "promtool check metrics:\n{report}");
}
