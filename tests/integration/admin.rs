//! The admin console (`dbname=pgscope` on the proxy's port), read with real psql and
//! tokio-postgres while ordinary traffic goes through the proxy alongside.

use std::process::Output;
use std::time::{Duration, Instant};

use pgscope::config::Secret;
use pgscope::detect::FindingKind;
use tokio_postgres::SimpleQueryMessage;
use tokio_postgres::error::SqlState;

use crate::support::*;

const PASSWORD: &str = "adm1n";

async fn console_env() -> Env {
    Env::start_with(|config| config.admin_password = Some(Secret(PASSWORD.into()))).await
}

fn console_dsn(env: &Env, password: &str) -> String {
    format!(
        "host=127.0.0.1 port={} user=admin dbname=pgscope password={password}",
        env.sidecar.proxy_addr.port()
    )
}

/// Runs psql against the console, one `-c` per command, unaligned with `|` between fields.
async fn psql(env: &Env, password: &str, commands: &[&str]) -> Output {
    let dsn = console_dsn(env, password);
    let mut args = vec!["-X", "-A", "-F", "|", "-v", "VERBOSITY=verbose", "-d", &dsn];
    for command in commands {
        args.extend(["-c", command]);
    }
    env.pg_tool("psql", &args, None).await
}

/// psql's stdout for commands that must all succeed.
async fn show(env: &Env, commands: &[&str]) -> String {
    success(psql(env, PASSWORD, commands).await)
}

/// The unaligned output line that contains every one of `needles`.
fn line_with<'a>(out: &'a str, needles: &[&str]) -> &'a str {
    out.lines()
        .find(|line| needles.iter().all(|n| line.contains(n)))
        .unwrap_or_else(|| panic!("no line with {needles:?} in:\n{out}"))
}

/// Field `i` of an unaligned line.
fn field(line: &str, i: usize) -> &str {
    line.split('|').nth(i).unwrap_or_else(|| panic!("no field {i} in {line:?}"))
}

/// Waits until the detectors hold findings of both kinds.
async fn wait_for_findings(env: &Env, kinds: &[FindingKind]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let have: Vec<FindingKind> = {
            let detectors = env.sidecar.detectors.lock().expect("detectors lock");
            detectors.findings().list(None, 1000).iter().map(|f| f.kind).collect()
        };
        if kinds.iter().all(|k| have.contains(k)) {
            return;
        }
        assert!(Instant::now() < deadline, "findings {kinds:?} never appeared; have {have:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn console_shows_what_the_proxy_learned() {
    let env = console_env().await;
    let dsn = format!("{} application_name=admin-test", env.proxy_dsn("postgres", "postgres"));
    let app = connect(&dsn).await;
    app.batch_execute("CREATE TABLE admin_items (id int PRIMARY KEY, name text)").await.unwrap();
    for id in 0..5 {
        app.query("SELECT id, name FROM admin_items WHERE id = $1", &[&id]).await.unwrap();
    }
    app.simple_query("SELECT * FROM admin_items").await.unwrap();
    app.simple_query("SELECT pg_sleep(0.6)").await.unwrap();
    env.wait_for_calls(8).await;
    wait_for_findings(&env, &[FindingKind::Slow, FindingKind::Lint]).await;

    let out = show(&env, &["SHOW PATTERNS"]).await;
    assert!(
        out.starts_with("id|calls|total_ms|mean_ms|p95_ms|p99_ms|rows|errors|pattern\n"),
        "{out}"
    );
    let by_id = line_with(&out, &["FROM admin_items WHERE id"]);
    assert_eq!(field(by_id, 1), "5", "{by_id}");
    let sleep = line_with(&out, &["pg_sleep"]);
    let total_ms: f64 = field(sleep, 2).parse().unwrap();
    assert!(total_ms >= 600.0 && field(sleep, 2).split('.').nth(1).unwrap().len() == 3, "{sleep}");

    let out = show(&env, &["SHOW CLIENTS"]).await;
    assert!(out.starts_with("conn_id|peer|user|database|application_name|connected_at\n"), "{out}");
    let client = line_with(&out, &["|postgres|postgres|admin-test|"]);
    assert!(field(client, 1).starts_with("127.0.0.1:"), "{client}");

    let out = show(&env, &["show findings;"]).await;
    assert!(out.starts_with("at|kind|severity|pattern_id|count|duration_ms|route|"), "{out}");
    let slow = line_with(&out, &["|slow|warning|", "pg_sleep"]);
    assert_eq!(field(slow, 6), "admin-test", "route from application_name: {slow}");
    line_with(&out, &["|lint|", "|select-star|", "admin_items"]);

    let out = show(&env, &["SHOW ROUTES"]).await;
    assert!(
        out.starts_with("route|statements|total_ms|mean_ms|errors|distinct_patterns|"),
        "{out}"
    );
    let route = line_with(&out, &["admin-test|"]);
    assert!(field(route, 1).parse::<u64>().unwrap() >= 8, "{route}");

    let out = show(&env, &["SHOW STATS"]).await;
    let stat =
        |name: &str| -> u64 { field(line_with(&out, &[&format!("{name}|")]), 1).parse().unwrap() };
    assert!(stat("clients_total") >= 1 && stat("bytes_from_clients") > 0, "{out}");
    assert!(stat("events_sent") >= 8 && stat("patterns_tracked") >= 4, "{out}");
    assert!(stat("findings_slow") >= 1 && stat("findings_lint") >= 1, "{out}");
    assert_eq!(stat("events_dropped"), 0, "{out}");

    let out = show(&env, &["SHOW RULES", "SHOW HELP", "SHOW VERSION"]).await;
    line_with(&out, &["select-star|", "|"]);
    for command in
        ["PATTERNS", "FINDINGS", "ROUTES", "CLIENTS", "STATS", "RULES", "VERSION", "HELP"]
    {
        line_with(&out, &[&format!("SHOW {command}|")]);
    }
    line_with(&out, &[&format!("pgscope {}", env!("CARGO_PKG_VERSION"))]);

    // The proxy still relays for the open session and for new ones.
    let row = app.query_one("SELECT count(*) FROM admin_items", &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 0);
    let other = env.client().await;
    assert_eq!(other.query_one("SELECT 41 + 1", &[]).await.unwrap().get::<_, i32>(0), 42);
}

#[tokio::test]
async fn console_errors_leave_the_session_usable() {
    let env = console_env().await;
    let out = psql(&env, PASSWORD, &["SHOW NOPE", "SHOW VERSION"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("42601") && stderr.contains("SHOW PATTERNS"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("pgscope "), "{out:?}");

    let script = "SET application_name = 'x';\nBEGIN;\nshow version;\nCOMMIT;\n  ;\n";
    let dsn = console_dsn(&env, PASSWORD);
    let out = env.pg_tool("psql", &["-X", "-A", "-t", "-d", &dsn, "-f", "-"], Some(script)).await;
    let out = success(out);
    let version = format!("pgscope {}", env!("CARGO_PKG_VERSION"));
    assert_eq!(out.lines().collect::<Vec<_>>(), ["SET", "BEGIN", version.as_str(), "COMMIT"]);

    // tokio-postgres: `query` uses the extended protocol and is refused; the session goes on.
    let client = connect(&console_dsn(&env, PASSWORD)).await;
    let err = client.query("SHOW VERSION", &[]).await.unwrap_err();
    let db = err.as_db_error().unwrap_or_else(|| panic!("not a server error: {err}"));
    assert_eq!(db.code(), &SqlState::FEATURE_NOT_SUPPORTED);
    assert!(db.message().contains("simple query protocol only"), "{}", db.message());
    let rows = client.simple_query("SHOW STATS").await.unwrap();
    assert!(rows.len() > 10, "{} messages", rows.len());
    let rows = client.simple_query("  show version ; ").await.unwrap();
    let row = rows.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    });
    let row = row.unwrap_or_else(|| panic!("expected a row: {rows:?}"));
    assert_eq!(row.get("version"), Some(version.as_str()));
    for empty in ["", " ; ;"] {
        let rows = client.simple_query(empty).await.unwrap();
        assert!(!rows.iter().any(|m| matches!(m, SimpleQueryMessage::Row(_))), "{empty:?}");
    }
}

#[tokio::test]
async fn console_refuses_a_wrong_password() {
    let env = console_env().await;
    let out = psql(&env, "wrong", &["SHOW VERSION"]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("password authentication failed for user \"admin\""), "{stderr}");

    let err = try_connect(&console_dsn(&env, "wrong")).await.expect_err("login refused");
    assert_eq!(err.as_db_error().map(|e| e.code()), Some(&SqlState::INVALID_PASSWORD), "{err}");
    // And the right password still works afterwards.
    show(&env, &["SHOW VERSION"]).await;
}

#[tokio::test]
async fn console_is_disabled_without_a_password() {
    let env = Env::start().await;
    let err = try_connect(&console_dsn(&env, PASSWORD)).await.expect_err("console disabled");
    let code = err.as_db_error().map(|e| e.code());
    assert_eq!(code, Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION), "{err}");
    let out = psql(&env, PASSWORD, &["SHOW VERSION"]).await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("admin console is disabled"), "{out:?}");
    // The proxy itself is unaffected.
    let client = env.client().await;
    assert_eq!(client.query_one("SELECT 1", &[]).await.unwrap().get::<_, i32>(0), 1);
}
