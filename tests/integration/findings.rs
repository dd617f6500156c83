//! Live findings from real traffic: N+1 bursts, duplicates, slow queries, routes, lint.

use std::time::Duration;

use crate::support::*;
use tokio_postgres::Client;

async fn bookshop(db: &Client, authors: i32) {
    db.batch_execute(
        "CREATE TABLE authors (id int PRIMARY KEY, name text);
         CREATE TABLE books (id serial PRIMARY KEY, author_id int, title text);",
    )
    .await
    .unwrap();
    db.batch_execute(&format!(
        "INSERT INTO authors (id, name) SELECT g, 'author ' || g FROM generate_series(1, {authors}) g;
         INSERT INTO books (author_id, title) SELECT g % {authors} + 1, 'book ' || g FROM generate_series(1, 100000) g;"
    ))
    .await
    .unwrap();
}

/// The classic ORM loop: one query for the authors, then one query per author.
async fn n_plus_one_page(db: &Client) {
    let authors = db.query("SELECT id, name FROM authors ORDER BY id", &[]).await.unwrap();
    let books = db.prepare("SELECT id, title FROM books WHERE author_id = $1").await.unwrap();
    for a in &authors {
        let id: i32 = a.get(0);
        db.query(&books, &[&id]).await.unwrap();
    }
}

#[tokio::test]
async fn n_plus_one_is_found_with_count_and_parent() {
    let env = Env::start().await;
    let db = connect(&format!(
        "{} application_name=authors-page",
        env.proxy_dsn("postgres", "postgres")
    ))
    .await;
    bookshop(&db, 50).await;
    n_plus_one_page(&db).await;
    let found = env.wait_for_findings("n_plus_one", 1).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    let f = &found[0];
    assert_eq!(f["count"], 50, "{f:#}");
    assert!(f["pattern"].as_str().unwrap().contains("FROM books WHERE author_id = $1"), "{f:#}");
    assert!(f["parent_pattern"].as_str().unwrap().contains("FROM authors"), "{f:#}");
    assert_eq!(f["route"], "authors-page");
    assert!(f["duration_ms"].as_f64().unwrap() >= 50.0, "{f:#}");
    assert!(f["suggestion"].as_str().unwrap().contains("JOIN"), "{f:#}");
    assert!(env.findings("duplicate").await.is_empty());
}

#[tokio::test]
async fn same_parameters_repeated_is_a_duplicate_not_n_plus_one() {
    let env = Env::start().await;
    let db = env.client().await;
    bookshop(&db, 5).await;
    db.query("SELECT id FROM authors ORDER BY id", &[]).await.unwrap();
    let books = db.prepare("SELECT id, title FROM books WHERE author_id = $1").await.unwrap();
    for _ in 0..30 {
        db.query(&books, &[&3i32]).await.unwrap();
    }
    let found = env.wait_for_findings("duplicate", 1).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["count"], 30);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(env.findings("n_plus_one").await.is_empty());
}

#[tokio::test]
async fn few_repetitions_and_pgbench_traffic_are_not_n_plus_one() {
    let env = Env::start().await;
    let db = env.client().await;
    bookshop(&db, 3).await;
    // A batch job touching three authors: below the repeat threshold.
    n_plus_one_page(&db).await;
    let dsn = env.proxy_dsn("postgres", "postgres");
    success(env.pg_tool("pgbench", &["-i", "-s", "1", "-q", &dsn], None).await);
    for args in [
        vec!["-n", "-c", "4", "-j", "2", "-t", "200"],
        vec!["-n", "-S", "-c", "4", "-j", "2", "-t", "200"],
    ] {
        let mut args: Vec<&str> = args;
        args.push(&dsn);
        success(env.pg_tool("pgbench", &args, None).await);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(env.findings("n_plus_one").await, Vec::<serde_json::Value>::new());
}

#[tokio::test]
async fn slow_queries_at_both_tiers() {
    let env = Env::start().await;
    let db = env.client().await;
    db.batch_execute("SELECT pg_sleep(0.6)").await.unwrap();
    db.batch_execute("SELECT pg_sleep(2.1)").await.unwrap();
    db.batch_execute("SELECT pg_sleep(0.01)").await.unwrap();
    let found = env.wait_for_findings("slow", 2).await;
    let mut tiers: Vec<(String, f64)> = found
        .iter()
        .map(|f| (f["severity"].as_str().unwrap().to_string(), f["duration_ms"].as_f64().unwrap()))
        .collect();
    tiers.sort_by(|a, b| a.1.total_cmp(&b.1));
    assert_eq!(tiers.len(), 2, "{found:#?}");
    assert_eq!(tiers[0].0, "warning");
    assert!(tiers[0].1 >= 600.0 && tiers[0].1 < 2000.0, "{tiers:?}");
    assert_eq!(tiers[1].0, "critical");
    assert!(tiers[1].1 >= 2100.0, "{tiers:?}");
    // The sample is the pattern: no literal values by default.
    assert!(
        found.iter().all(|f| !f["sample"].as_str().unwrap_or("").contains("0.6")),
        "{found:#?}"
    );
}

#[tokio::test]
async fn sqlcommenter_tags_attribute_routes() {
    let env = Env::start().await;
    let db = env.client().await;
    bookshop(&db, 10).await;
    let tag = "/*action='show',controller='books',framework='django%3A4.2',route='%2Fbooks%2F%3Cint%3Aid%3E',traceparent='00-5bd66ef5095369c7b0d1f8f4bd33716a-c532cb4098ac3dd2-01'*/";
    for id in 1..=4 {
        db.batch_execute(&format!("SELECT title FROM books WHERE id = {id} {tag}")).await.unwrap();
    }
    db.batch_execute("SELECT count(*) FROM books /*controller:reports,action:index*/")
        .await
        .unwrap();
    env.wait_for_calls(6).await;
    let patterns = env.patterns();
    assert_eq!(
        patterns.iter().filter(|p| p.pattern.contains("SELECT title FROM books")).count(),
        1,
        "comments never split a pattern: {:#?}",
        texts(&patterns)
    );
    let (status, body) = http_get(env.sidecar.http_addr.unwrap(), "/api/routes").await;
    assert_eq!(status, 200);
    let routes: serde_json::Value = serde_json::from_str(&body).unwrap();
    let find = |name: &str| {
        routes["routes"].as_array().unwrap().iter().find(|r| r["route"] == name).cloned()
    };
    assert_eq!(find("/books/<int:id>").map(|r| r["statements"].clone()), Some(4.into()), "{body}");
    assert!(find("reports#index").is_some(), "{body}");
    assert!(!body.contains("5bd66ef5"), "trace ids are not routes: {body}");
}

#[tokio::test]
async fn lint_findings_for_new_patterns() {
    let env = Env::start().await;
    let db = env.client().await;
    bookshop(&db, 5).await;
    for _ in 0..3 {
        db.query("SELECT * FROM books WHERE title LIKE '%rust%'", &[]).await.unwrap();
    }
    db.query("SELECT id FROM books WHERE author_id = 1 ORDER BY id LIMIT 10", &[]).await.unwrap();
    let found = env.wait_for_findings("lint", 2).await;
    let mut rules: Vec<&str> = found.iter().filter_map(|f| f["rule_id"].as_str()).collect();
    rules.sort();
    assert_eq!(rules, ["leading-wildcard-like", "select-star"], "{found:#?}");
    assert!(found.iter().all(|f| !f.to_string().contains("rust")), "no literal values: {found:#?}");
}

#[tokio::test]
async fn slow_findings_get_an_explain_plan_from_the_analysis_connection() {
    let env = Env::start_with_pg(|config, pg| {
        config.explain = Some(pgscope::explain::ExplainConfig {
            url: pg.conn_str("postgres", "postgres"),
            analyze: false,
        });
    })
    .await;
    let db = env.client().await;
    bookshop(&db, 5).await;
    db.query("SELECT count(*) FROM books b1, pg_sleep(0.6) WHERE b1.author_id = 3", &[])
        .await
        .unwrap();
    let mut plan = String::new();
    for _ in 0..100 {
        let found = env.wait_for_findings("slow", 1).await;
        plan = found[0]["plan"].as_str().unwrap_or("").to_string();
        if !plan.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(plan.contains("Seq Scan on books"), "{plan}");
    assert!(plan.contains("Filter: (author_id = "), "{plan}");
}
