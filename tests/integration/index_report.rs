//! Index coverage and index suggestions of `pgscope report`, against a schema with planted
//! problems and a workload that runs through pgscope: the report must suggest exactly the
//! planted missing indexes (verified with hypopg), skip the tiny table and the indexed column,
//! name the unused and duplicate indexes, and the suggested indexes must make the workload
//! faster when applied. Also: without hypopg, and for a role that may not read the tables.

use std::time::{Duration, Instant, UNIX_EPOCH};

use pgscope::detect::Severity;
use pgscope::report::{self, Format, Report, ReportOptions, Suggestion};
use tokio_postgres::Client;

use crate::support::Env;

/// The planted problems:
/// - `books.author_id`: a foreign key with no index, read once per author (an N+1);
/// - `orders`: `customer_id = $1 AND placed_at` in a range: needs (customer_id, placed_at);
/// - `reviews`: `ORDER BY created_at DESC LIMIT $1`: needs (created_at);
/// - `countries`: 200 rows, filtered on an unindexed column: too small for a suggestion;
/// - `customers.email`: already indexed by `customers_email_idx`;
/// - `books_price_idx`: never used; `orders_status_idx` is a prefix of
///   `orders_status_placed_idx` (a duplicate), and no query filters on `status` either.
const FIXTURE: &str = "
    CREATE TABLE authors (id int PRIMARY KEY, name text NOT NULL);
    INSERT INTO authors SELECT g, 'Author ' || g FROM generate_series(1, 2000) g;
    CREATE TABLE books (id int PRIMARY KEY, author_id int NOT NULL REFERENCES authors,
                        title text NOT NULL, price numeric(8,2) NOT NULL);
    INSERT INTO books SELECT g, 1 + (g * 7) % 2000, 'Book ' || g, 5 + g % 40
      FROM generate_series(1, 60000) g;
    CREATE INDEX books_price_idx ON books (price);
    CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL, name text NOT NULL);
    INSERT INTO customers SELECT g, 'user' || g || '@example.com', 'Customer ' || g
      FROM generate_series(1, 20000) g;
    CREATE INDEX customers_email_idx ON customers (email);
    CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, status int NOT NULL,
                         placed_at timestamptz NOT NULL, note text);
    INSERT INTO orders SELECT g, 1 + g % 50, g % 4,
        timestamptz '2024-01-01 00:00:00+00' + ((g::int8 * 7919) % 60000) * interval '1 minute',
        'order note ' || g
      FROM generate_series(1, 60000) g;
    CREATE INDEX orders_status_idx ON orders (status);
    CREATE INDEX orders_status_placed_idx ON orders (status, placed_at);
    CREATE TABLE reviews (id int PRIMARY KEY, book_id int NOT NULL, rating int NOT NULL,
                          created_at timestamptz NOT NULL, body text);
    INSERT INTO reviews SELECT g, 1 + g % 60000, 1 + g % 5,
        timestamptz '2024-01-01 00:00:00+00' + ((g::int8 * 104729) % 40000) * interval '1 minute',
        'review ' || g
      FROM generate_series(1, 40000) g;
    CREATE TABLE countries (id int PRIMARY KEY, code text NOT NULL, name text NOT NULL);
    INSERT INTO countries SELECT g, 'C' || g, 'Country ' || g FROM generate_series(1, 200) g;
    ANALYZE;";

const AUTHORS: &str = "SELECT id, name FROM authors WHERE id BETWEEN $1 AND $2";
const BOOKS_BY_AUTHOR: &str = "SELECT id, title, price FROM books WHERE author_id = $1";
const ORDERS_IN_WINDOW: &str = "SELECT id, status FROM orders \
                                WHERE customer_id = $1 AND placed_at >= $2 AND placed_at < $3";
const LATEST_REVIEWS: &str = "SELECT id, rating FROM reviews ORDER BY created_at DESC LIMIT $1";
const CUSTOMER_BY_EMAIL: &str = "SELECT id, name FROM customers WHERE email = $1";
const COUNTRY_BY_CODE: &str = "SELECT name FROM countries WHERE code = $1";

/// The patterns the planted indexes must speed up.
const SLOW: [&str; 3] = [BOOKS_BY_AUTHOR, ORDERS_IN_WINDOW, LATEST_REVIEWS];

/// The indexes the report must suggest, exactly.
const EXPECTED: [(&str, &[&str], &str); 3] = [
    (
        "public.books",
        &["author_id"],
        "CREATE INDEX CONCURRENTLY books_author_id_idx ON public.books (author_id);",
    ),
    (
        "public.orders",
        &["customer_id", "placed_at"],
        "CREATE INDEX CONCURRENTLY orders_customer_id_placed_at_idx \
         ON public.orders (customer_id, placed_at);",
    ),
    (
        "public.reviews",
        &["created_at"],
        "CREATE INDEX CONCURRENTLY reviews_created_at_idx ON public.reviews (created_at);",
    ),
];

/// The app: author pages with an N+1, order history windows, the latest reviews, customer
/// lookups by email, country lookups.
async fn workload(db: &Client) {
    let authors = db.prepare(AUTHORS).await.unwrap();
    let books = db.prepare(BOOKS_BY_AUTHOR).await.unwrap();
    for page in 0..5 {
        for author in db.query(&authors, &[&(page * 40 + 1), &(page * 40 + 40)]).await.unwrap() {
            let id: i32 = author.get(0);
            db.query(&books, &[&id]).await.unwrap();
        }
    }
    let orders = db.prepare(ORDERS_IN_WINDOW).await.unwrap();
    let start = UNIX_EPOCH + Duration::from_secs(1_704_067_200); // 2024-01-01
    for i in 0..100i32 {
        let from = start + Duration::from_secs(u64::try_from(i).unwrap() * 3600 * 7);
        db.query(&orders, &[&(1 + i % 50), &from, &(from + Duration::from_secs(86_400))])
            .await
            .unwrap();
    }
    let reviews = db.prepare(LATEST_REVIEWS).await.unwrap();
    for _ in 0..50 {
        db.query(&reviews, &[&20i64]).await.unwrap();
    }
    let customer = db.prepare(CUSTOMER_BY_EMAIL).await.unwrap();
    for i in 0..100 {
        db.query(&customer, &[&format!("user{}@example.com", i * 37 + 1)]).await.unwrap();
    }
    let country = db.prepare(COUNTRY_BY_CODE).await.unwrap();
    for i in 0..50 {
        db.query(&country, &[&format!("C{}", i * 3 + 1)]).await.unwrap();
    }
}

/// Starts PostgreSQL and pgscope, loads the fixture (with hypopg when asked), runs the
/// workload through pgscope and waits until pgscope and the statistics views have it.
async fn planted(hypopg: bool) -> (Env, Client) {
    let env = Env::start().await;
    let direct = env.direct().await;
    direct.batch_execute("CREATE EXTENSION pg_stat_statements").await.unwrap();
    if hypopg {
        direct.batch_execute("CREATE EXTENSION hypopg").await.unwrap();
    }
    direct.batch_execute(FIXTURE).await.unwrap();
    workload(&env.client().await).await;
    for (needle, calls) in [(COUNTRY_BY_CODE, 50), (BOOKS_BY_AUTHOR, 200)] {
        wait_for_calls(&env, needle, calls).await;
    }
    wait_for_index_scans(&direct, "customers_email_idx").await;
    direct.batch_execute("ANALYZE").await.unwrap();
    (env, direct)
}

async fn wait_for_calls(env: &Env, needle: &str, calls: u64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while env.patterns().iter().find(|p| p.pattern == needle).map_or(0, |p| p.calls) < calls {
        assert!(Instant::now() < deadline, "{needle}: fewer than {calls} calls recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_for_index_scans(direct: &Client, index: &str) {
    let sql = "SELECT coalesce(sum(idx_scan), 0)::int8 FROM pg_stat_user_indexes \
               WHERE indexrelname = $1";
    let deadline = Instant::now() + Duration::from_secs(15);
    while direct.query_one(sql, &[&index]).await.unwrap().get::<_, i64>(0) == 0 {
        if Instant::now() > deadline {
            let all = direct
                .query("SELECT indexrelname::text, idx_scan FROM pg_stat_user_indexes", &[])
                .await
                .unwrap();
            let all: Vec<(String, i64)> = all.iter().map(|r| (r.get(0), r.get(1))).collect();
            panic!("{index} never scanned: {all:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn options(env: &Env, user: &str) -> ReportOptions {
    ReportOptions {
        analysis_url: Some(env.pg.conn_str(user, "postgres")),
        proxies: vec![format!("http://{}", env.sidecar.http_addr.expect("http enabled"))],
        top: 100,
        ..ReportOptions::default()
    }
}

fn keys(rows: &[Suggestion]) -> Vec<(String, Vec<String>)> {
    let mut keys: Vec<_> = rows.iter().map(|s| (s.table.clone(), s.columns.clone())).collect();
    keys.sort();
    keys
}

fn expected_keys() -> Vec<(String, Vec<String>)> {
    EXPECTED
        .iter()
        .map(|(t, c, _)| (t.to_string(), c.iter().map(|c| c.to_string()).collect()))
        .collect()
}

#[tokio::test]
async fn report_suggests_exactly_the_planted_indexes_and_they_help() {
    let (env, direct) = planted(true).await;
    let report = report::build(&options(&env, "postgres")).await;
    check_suggestions(&report);
    check_coverage(&report);
    check_index_problems(&report);
    check_rendering(&report);
    assert!(report.fails(Severity::Warning), "verified suggestions count as warnings");

    let before: Vec<(u64, f64)> = SLOW.iter().map(|p| totals(&env, p)).collect();
    for s in &report.sections.index_suggestions.rows {
        direct.batch_execute(&s.create).await.unwrap_or_else(|e| panic!("{}: {e}", s.create));
    }
    direct.batch_execute("ANALYZE").await.unwrap();
    workload(&env.client().await).await;
    wait_for_calls(&env, COUNTRY_BY_CODE, 100).await;
    wait_for_calls(&env, BOOKS_BY_AUTHOR, 400).await;
    println!("mean time per pattern measured by pgscope, before → after the suggested indexes:");
    for (pattern, (calls, total_ms)) in SLOW.iter().zip(before) {
        let (all_calls, all_ms) = totals(&env, pattern);
        let mean_before = total_ms / calls as f64;
        let mean_after = (all_ms - total_ms) / (all_calls - calls) as f64;
        println!("  {mean_before:9.3} ms → {mean_after:7.3} ms  ({calls} calls each)  {pattern}");
        assert!(mean_after < mean_before, "{pattern}: {mean_before} → {mean_after}");
    }

    let after = report::build(&options(&env, "postgres")).await;
    let left = &after.sections.index_suggestions;
    assert!(left.available && left.rows.is_empty(), "nothing left to suggest: {left:#?}");
    let uncovered: Vec<_> =
        after.sections.index_coverage.rows.iter().filter(|r| !r.covered).collect();
    assert!(
        uncovered.iter().all(|r| r.table == "public.countries"),
        "only the tiny table stays uncovered: {uncovered:#?}"
    );
}

/// (calls, total ms) pgscope recorded for a pattern.
fn totals(env: &Env, pattern: &str) -> (u64, f64) {
    let p = env.pattern(pattern);
    assert_eq!(p.pattern, pattern);
    (p.calls, p.total_ms)
}

fn check_suggestions(report: &Report) {
    let section = &report.sections.index_suggestions;
    assert!(section.available && section.verified, "{section:#?}");
    assert!(section.hypopg.is_some() && section.note.is_none(), "{section:#?}");
    assert_eq!(keys(&section.rows), expected_keys(), "{section:#?}");
    for (table, _, create) in EXPECTED {
        let s = section.rows.iter().find(|s| s.table == table).expect("suggested");
        assert_eq!(s.create, create);
        assert!(s.verified && s.size_bytes.is_some_and(|b| b > 0), "{s:#?}");
        assert!(s.table_rows >= 40_000.0 && s.table_writes.is_some() && s.writes_per_sec.is_some());
        assert!(s.existing_indexes >= 1, "{s:#?}");
        for p in &s.patterns {
            let (before, after) = (p.cost_before.unwrap(), p.cost_after.unwrap());
            assert!(after <= 0.5 * before, "{p:#?}");
            assert!(p.calls > 0 && p.total_ms > 0.0);
        }
    }
    let helps = |table: &str| -> Vec<&str> {
        let s = section.rows.iter().find(|s| s.table == table).expect("suggested");
        s.patterns.iter().map(|p| p.pattern.as_str()).collect()
    };
    assert_eq!(helps("public.books"), [BOOKS_BY_AUTHOR]);
    assert_eq!(helps("public.orders"), [ORDERS_IN_WINDOW]);
    assert_eq!(helps("public.reviews"), [LATEST_REVIEWS]);
    let tiny = section.skipped.iter().find(|k| k.table == "public.countries").expect("skipped");
    assert!(tiny.reason.contains("--min-rows 500"), "{tiny:#?}");
}

fn check_coverage(report: &Report) {
    let coverage = &report.sections.index_coverage;
    assert!(coverage.available, "{coverage:#?}");
    let row =
        |pattern: &str, table: &str| {
            coverage.rows.iter().find(|r| r.pattern == pattern && r.table == table).unwrap_or_else(
                || panic!("no coverage row for {pattern} on {table}: {coverage:#?}"),
            )
        };
    let email = row(CUSTOMER_BY_EMAIL, "public.customers");
    assert!(email.covered, "{email:#?}");
    assert_eq!(email.predicates[0].covered_by.as_deref(), Some("customers_email_idx"));
    let authors = row(AUTHORS, "public.authors");
    assert_eq!(authors.predicates[0].covered_by.as_deref(), Some("authors_pkey"));
    for (pattern, table) in [
        (BOOKS_BY_AUTHOR, "public.books"),
        (ORDERS_IN_WINDOW, "public.orders"),
        (LATEST_REVIEWS, "public.reviews"),
        (COUNTRY_BY_CODE, "public.countries"),
    ] {
        let r = row(pattern, table);
        assert!(!r.covered && r.source == "sidecar" && r.calls >= 50, "{r:#?}");
    }
    let orders = row(ORDERS_IN_WINDOW, "public.orders");
    let columns: Vec<&str> = orders.predicates.iter().map(|p| p.column.as_str()).collect();
    assert_eq!(columns, ["customer_id", "placed_at"]);
}

fn check_index_problems(report: &Report) {
    let mut unused: Vec<&str> =
        report.sections.unused_indexes.rows.iter().map(|i| i.index.as_str()).collect();
    unused.sort();
    assert_eq!(unused, ["books_price_idx", "orders_status_idx", "orders_status_placed_idx"]);
    let dup: Vec<(&str, &str)> = report
        .sections
        .duplicate_indexes
        .rows
        .iter()
        .map(|i| (i.index.as_str(), i.covered_by.as_str()))
        .collect();
    assert_eq!(dup, [("orders_status_idx", "orders_status_placed_idx")]);
}

fn check_rendering(report: &Report) {
    let text = report::render(report, Format::Text);
    println!("{text}");
    let widest = text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(widest <= 100, "text fits 100 columns (widest {widest})");
    assert!(text.contains("Index suggestions (verified with hypopg"), "{text}");
    assert!(text.contains("Index coverage"), "{text}");
    let md = report::render(report, Format::Markdown);
    assert!(md.contains("## Index coverage") && md.contains("## Index suggestions"), "{md}");
    assert!(md.contains(EXPECTED[0].2), "{md}");
    let json: serde_json::Value =
        serde_json::from_str(&report::render(report, Format::Json)).expect("JSON");
    let rows = &json["sections"]["index_suggestions"]["rows"];
    assert_eq!(rows.as_array().map(Vec::len), Some(3));
    assert!(rows[0]["patterns"][0]["cost_before"].is_number(), "{rows}");
    let usage = &json["sections"]["index_coverage"]["rows"][0]["predicates"][0]["usage"]["kind"];
    assert!(usage.is_string(), "{json}");
}

#[tokio::test]
async fn without_hypopg_candidates_are_unverified_and_say_what_to_run() {
    let (env, _direct) = planted(false).await;
    let report = report::build(&options(&env, "postgres")).await;
    let section = &report.sections.index_suggestions;
    assert!(section.available && !section.verified && section.hypopg.is_none(), "{section:#?}");
    let note = section.note.as_deref().unwrap_or_default();
    assert!(note.contains("UNVERIFIED") && note.contains("CREATE EXTENSION hypopg"), "{note}");
    assert!(section.rows.iter().all(|s| !s.verified && s.size_bytes.is_none()), "{section:#?}");
    assert!(section.rows.iter().all(|s| s.reason.starts_with("unverified")), "{section:#?}");
    assert_eq!(keys(&section.rows), expected_keys(), "{section:#?}");
    let text = report::render(&report, Format::Text);
    assert!(text.contains("Index suggestions (UNVERIFIED)"), "{text}");
    assert!(report.sections.index_coverage.available);
}

#[tokio::test]
async fn a_role_that_may_not_read_the_tables_gets_notes_not_failures() {
    let (env, direct) = planted(true).await;
    direct.batch_execute("CREATE ROLE outsider LOGIN").await.unwrap();
    let report = report::build(&options(&env, "outsider")).await;
    let coverage = &report.sections.index_coverage;
    assert!(coverage.available, "the catalog is readable by any role: {coverage:#?}");
    let section = &report.sections.index_suggestions;
    assert!(section.available && section.rows.is_empty(), "{section:#?}");
    let note = section.note.as_deref().unwrap_or_default();
    assert!(note.contains("permission denied"), "{note}");
    let books = section.skipped.iter().find(|k| k.table == "public.books").expect("skipped");
    assert!(
        books.reason.contains("permission denied") && books.reason.contains("GRANT SELECT ON"),
        "{books:#?}"
    );
    assert!(report::render(&report, Format::Text).contains("permission denied"));
}

/// The binary: flags reach the library, JSON on stdout, exit status 3 with `--fail-on`.
#[tokio::test]
async fn the_binary_reports_json_and_fails_on_verified_suggestions() {
    let (env, _direct) = planted(true).await;
    let opts = options(&env, "postgres");
    let analysis = opts.analysis_url.expect("set");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_pgscope"))
        .args(["report", "--format", "json", "--fail-on", "warning", "--min-rows", "100"])
        .args(["--analysis-url", &analysis, "--proxy", &opts.proxies[0]])
        .env("PGSCOPE_LOG", "error")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), out).await.expect("in time").unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let section = &json["sections"]["index_suggestions"];
    assert_eq!(section["verified"], true, "{section}");
    assert_eq!(section["rows"].as_array().map(Vec::len), Some(3), "{section}");
    let skipped = section["skipped"].as_array().cloned().unwrap_or_default();
    let tiny = skipped.iter().find(|k| k["table"] == "public.countries").expect("skipped");
    let reason = tiny["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("no candidate halves the planner's cost"), "--min-rows 100: {reason}");
}
