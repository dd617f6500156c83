//! `pgscope report` as a library call: two sidecars in front of one PostgreSQL, the catalog and
//! pg_stat_statements, and every way a section can be unavailable.

use std::time::{Duration, Instant};

use pgscope::config::Config;
use pgscope::detect::{FindingKind, Severity};
use pgscope::report::{self, Format, Report, ReportOptions};
use pgscope::scratch_pg::{ScratchPg, ScratchPgOptions};
use pgscope::sidecar::Sidecar;
use pgscope::stats::SortKey;
use tokio_postgres::Client;

use crate::support::{Env, connect};

/// `items_a` is a prefix of `items_a_b` (duplicate) and the planner prefers `items_a_b` for both
/// queries, so `items_a` and `items_c` are never scanned (unused); the primary key and the
/// unique index on `code` are never scanned either but must not be reported.
const FIXTURE: &str = "
    CREATE TABLE items (id int PRIMARY KEY, a int NOT NULL, b int NOT NULL, c int NOT NULL,
                        code text UNIQUE);
    INSERT INTO items SELECT g, g % 100, g % 7, g, 'c' || g FROM generate_series(1, 5000) g;
    CREATE INDEX items_a ON items (a);
    CREATE INDEX items_a_b ON items (a, b);
    CREATE INDEX items_c ON items (c);
    ANALYZE items;";

const BY_A: &str = "SELECT id FROM items WHERE a = $1";
const BY_A_B: &str = "SELECT id FROM items WHERE a = $1 AND b = $2";
const ONE_SLOW_RUN: &str = "SELECT pg_sleep(0.05)";
const DIRECT_ONLY: &str = "SELECT count(*) FROM items WHERE c > $1";

async fn traffic(db: &Client, repeats: i32) {
    db.batch_execute("SET enable_seqscan = off").await.unwrap();
    let by_a = db.prepare(BY_A).await.unwrap();
    let by_a_b = db.prepare(BY_A_B).await.unwrap();
    for i in 0..repeats {
        db.query(&by_a, &[&i]).await.unwrap();
        db.query(&by_a_b, &[&i, &(i % 7)]).await.unwrap();
    }
    db.query("SELECT * FROM items WHERE code = 'c1'", &[]).await.unwrap();
}

/// Waits until a sidecar has recorded `calls` executions of the pattern whose text is `text`.
async fn wait_for_pattern(sidecar: &Sidecar, text: &str, calls: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let top = sidecar.stats.lock().unwrap().top(SortKey::Calls, 1000);
        let seen = top.iter().find(|p| p.pattern.contains(text)).map_or(0, |p| p.calls);
        if seen >= calls || Instant::now() > deadline {
            assert!(seen >= calls, "{text}: {seen} of {calls} calls recorded");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the statistics views show scans of the covering index.
async fn wait_for_index_scans(direct: &Client) {
    let sql = "SELECT count(*) FROM pg_stat_user_indexes \
               WHERE indexrelname = 'items_a_b' AND idx_scan > 0";
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let used: i64 = direct.query_one(sql, &[]).await.unwrap().get(0);
        if used == 1 || Instant::now() > deadline {
            assert_eq!(used, 1, "items_a_b scanned");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn http_url(sidecar: &Sidecar) -> String {
    format!("http://{}", sidecar.http_addr.expect("http enabled"))
}

#[tokio::test]
async fn report_merges_sidecars_and_reads_the_database() {
    let env = Env::start().await;
    let direct = env.direct().await;
    direct.batch_execute("CREATE EXTENSION pg_stat_statements").await.unwrap();
    direct.batch_execute(FIXTURE).await.unwrap();
    let second = Sidecar::start(Config::for_upstream(env.pg.addr().to_string())).await.unwrap();
    {
        let one = env.client().await;
        let dsn = format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            second.proxy_addr.port()
        );
        let two = connect(&dsn).await;
        traffic(&one, 20).await;
        traffic(&two, 10).await;
        two.batch_execute(ONE_SLOW_RUN).await.unwrap();
    }
    // A client that bypasses pgscope: only pg_stat_statements sees it.
    for c in [10, 20, 30] {
        direct.query(DIRECT_ONLY, &[&c]).await.unwrap();
    }
    wait_for_pattern(&env.sidecar, BY_A_B, 20).await;
    wait_for_pattern(&second, BY_A_B, 10).await;
    wait_for_pattern(&second, "pg_sleep", 1).await;
    wait_for_index_scans(&direct).await;

    let opts = ReportOptions {
        analysis_url: Some(env.pg.conn_str("postgres", "postgres")),
        proxies: vec![http_url(&env.sidecar), http_url(&second)],
        top: 100,
        ..ReportOptions::default()
    };
    let report = report::build(&opts).await;
    check_top_patterns(&report);
    check_pg_stat_statements(&report);
    check_indexes(&report);
    check_findings(&report);
    check_renderings(&report);
    assert!(report.fails(Severity::Warning), "indexes count as warnings");
    second.shutdown().await.unwrap();
}

fn check_top_patterns(report: &Report) {
    let top = &report.sections.top_patterns;
    assert!(top.available && top.note.is_none(), "{top:#?}");
    assert!(top.sources.iter().all(|s| s.ok), "{:#?}", top.sources);
    let merged = top.by_total.iter().find(|p| p.pattern.contains(BY_A_B)).expect("merged");
    assert_eq!((merged.calls, merged.sidecars), (30, 2), "{merged:#?}");
    assert!((merged.mean_ms - merged.total_ms / 30.0).abs() < 1e-9);
    assert_eq!(top.by_calls.first().map(|p| p.calls), Some(30));
    assert_eq!(top.by_mean.len(), top.by_total.len());
    // Slowest single run: the one pg_sleep, ahead of patterns with far more total time.
    let slowest = &top.by_max[0];
    assert!(slowest.pattern.contains("pg_sleep") && slowest.calls == 1, "{slowest:#?}");
    assert!(slowest.max_ms >= 50.0 && slowest.source == "sidecars", "{slowest:#?}");
    // Statements only pg_stat_statements saw are merged in, marked as such.
    let direct = top.by_calls.iter().find(|p| p.pattern == DIRECT_ONLY).expect("pgss-only");
    assert_eq!((direct.calls, direct.sidecars, direct.source), (3, 0, "pg_stat_statements"));
    assert!(direct.max_ms > 0.0 && direct.max_ms <= direct.total_ms, "{direct:#?}");
    assert!(!top.by_total.iter().any(|p| p.source != "sidecars" && p.pattern == BY_A_B));
}

fn check_pg_stat_statements(report: &Report) {
    let pgss = &report.sections.pg_stat_statements;
    assert!(pgss.available, "{pgss:#?}");
    assert!(pgss.version.is_some());
    let row = pgss.rows.iter().find(|r| r.query == BY_A_B).expect("pg_stat_statements row");
    assert_eq!(row.calls, 30);
    assert_eq!(row.proxy_calls, Some(30), "joined to the sidecars' pattern: {row:#?}");
    assert!(row.proxy_mean_ms.is_some());
    assert!(row.shared_blks_hit + row.shared_blks_read > 0, "{row:#?}");
}

fn check_indexes(report: &Report) {
    let unused = &report.sections.unused_indexes;
    assert!(unused.available, "{unused:#?}");
    let mut names: Vec<&str> = unused.rows.iter().map(|i| i.index.as_str()).collect();
    names.sort();
    assert_eq!(names, ["items_a", "items_c"], "{unused:#?}");
    let items_c = unused.rows.iter().find(|i| i.index == "items_c").expect("items_c");
    assert_eq!(items_c.drop, "DROP INDEX CONCURRENTLY public.items_c;");
    assert!(items_c.size_bytes > 0 && !items_c.size.is_empty() && items_c.scans == 0);

    let dup = &report.sections.duplicate_indexes;
    assert!(dup.available, "{dup:#?}");
    let pairs: Vec<(&str, &str)> =
        dup.rows.iter().map(|i| (i.index.as_str(), i.covered_by.as_str())).collect();
    assert_eq!(pairs, [("items_a", "items_a_b")], "{dup:#?}");
    assert_eq!(dup.rows[0].drop, "DROP INDEX CONCURRENTLY public.items_a;");
}

fn check_findings(report: &Report) {
    let findings = &report.sections.findings;
    assert!(findings.available, "{findings:#?}");
    let star = findings
        .rows
        .iter()
        .find(|f| f.kind == FindingKind::Lint && f.rule_id.as_deref() == Some("select-star"))
        .expect("select-star lint finding");
    assert_eq!(star.findings, 2, "one per sidecar, grouped: {star:#?}");
    assert!(!star.suggestion.is_empty());
}

fn check_renderings(report: &Report) {
    let json: serde_json::Value =
        serde_json::from_str(&report::render(report, Format::Json)).expect("JSON parses");
    assert_eq!(json["version"], 1);
    let sections = &json["sections"];
    for key in [
        "top_patterns",
        "pg_stat_statements",
        "unused_indexes",
        "duplicate_indexes",
        "findings",
        "index_suggestions",
    ] {
        assert!(sections[key]["available"].is_boolean(), "{key}: {sections}");
    }
    assert_eq!(sections["pg_stat_statements"]["available"], true);
    assert!(sections["pg_stat_statements"]["rows"].is_array());

    let md = report::render(report, Format::Markdown);
    for heading in [
        "## Top patterns",
        "## pg_stat_statements",
        "## Unused indexes",
        "## Duplicate indexes",
        "## Findings",
        "## Index suggestions",
    ] {
        assert!(md.contains(heading), "{heading} missing:\n{md}");
    }
    assert!(md.contains("| DROP INDEX CONCURRENTLY public.items_c; |"), "{md}");

    let text = report::render(report, Format::Text);
    assert!(text.contains("DROP INDEX CONCURRENTLY public.items_a;"), "{text}");
    let widest = text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(widest <= 100, "text fits 100 columns (widest {widest}):\n{text}");
}

#[tokio::test]
async fn report_without_the_extension_says_so() {
    let env = Env::start().await;
    let opts = ReportOptions {
        analysis_url: Some(env.pg.conn_str("postgres", "postgres")),
        ..ReportOptions::default()
    };
    let report = report::build(&opts).await;
    let pgss = &report.sections.pg_stat_statements;
    assert!(!pgss.available);
    let note = pgss.note.as_deref().unwrap_or_default();
    assert!(note.contains("CREATE EXTENSION pg_stat_statements"), "{note}");
    assert!(report.sections.unused_indexes.available, "the other sections go on");
    // Text notes are word-wrapped to 100 columns.
    let flat = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat(&report::render(&report, Format::Text)).contains(&flat(note)));
}

#[tokio::test]
async fn report_says_when_the_extension_is_not_preloaded() {
    let opts = ScratchPgOptions { preload: Vec::new(), ..ScratchPgOptions::default() };
    let pg = ScratchPg::start(opts).await.expect("PostgreSQL starts");
    let url = pg.conn_str("postgres", "postgres");
    connect(&url).await.batch_execute("CREATE EXTENSION pg_stat_statements").await.unwrap();
    let report =
        report::build(&ReportOptions { analysis_url: Some(url), ..ReportOptions::default() }).await;
    let pgss = &report.sections.pg_stat_statements;
    assert!(!pgss.available);
    let note = pgss.note.as_deref().unwrap_or_default();
    assert!(note.contains("not loaded") && note.contains("shared_preload_libraries"), "{note}");
    assert!(report.sections.duplicate_indexes.available, "the other sections go on");
    pg.stop().await.unwrap();
}

#[tokio::test]
async fn report_names_hidden_query_texts() {
    let env = Env::start().await;
    let direct = env.direct().await;
    direct
        .batch_execute(
            "CREATE EXTENSION pg_stat_statements;
             CREATE TABLE secret (id int); SELECT count(*) FROM secret;
             CREATE ROLE reader LOGIN;",
        )
        .await
        .unwrap();
    let opts = ReportOptions {
        analysis_url: Some(env.pg.conn_str("reader", "postgres")),
        ..ReportOptions::default()
    };
    let report = report::build(&opts).await;
    let pgss = &report.sections.pg_stat_statements;
    assert!(pgss.available, "{pgss:#?}");
    assert!(pgss.rows.iter().any(|r| r.query == "<insufficient privilege>"), "{pgss:#?}");
    let note = pgss.note.as_deref().unwrap_or_default();
    assert!(
        note.contains("<insufficient privilege>") && note.contains("pg_read_all_stats"),
        "{note}"
    );
}

#[tokio::test]
async fn report_without_database_or_reachable_sidecar_still_renders() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let opts =
        ReportOptions { proxies: vec![format!("http://{addr}")], ..ReportOptions::default() };
    let report = report::build(&opts).await;
    let top = &report.sections.top_patterns;
    assert!(!top.available && !top.sources[0].ok);
    let note = top.note.as_deref().unwrap_or_default();
    assert!(note.contains("unreachable") && note.contains(&addr.to_string()), "{note}");
    assert_eq!(report.sections.findings.note.as_deref(), Some(note));
    for note in [
        &report.sections.pg_stat_statements.note,
        &report.sections.unused_indexes.note,
        &report.sections.duplicate_indexes.note,
    ] {
        assert!(note.as_deref().unwrap_or_default().contains("--analysis-url"), "{note:?}");
    }
    assert!(!report.fails(Severity::Warning));
    let md = report::render(&report, Format::Markdown);
    assert!(md.contains("## Unused indexes") && md.contains("--analysis-url"), "{md}");
}
