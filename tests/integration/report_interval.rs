//! `pgscope report --interval`: pg_stat_statements as the difference of two snapshots, with a
//! workload run while the report waits between them, and a reset in between detected.

use std::time::{Duration, Instant};

use pgscope::report::{self, Format, PgssSection, ReportOptions};
use tokio_postgres::Client;

use crate::support::Env;

const INTERVAL: Duration = Duration::from_secs(2);
/// Matches the first snapshot's query (the report's session does not show in
/// pg_stat_statements, but it does in pg_stat_activity).
const FIRST_SNAPSHOT: &str = "%FROM pg_stat_statements(false)%";

// Different tables, so different query ids (column aliases do not change a query id).
const BEFORE_ONLY: &str = "SELECT count(*) FROM before_only WHERE id = $1";
const BOTH: &str = "SELECT count(*) FROM before_and_during WHERE id = $1";
const DURING_ONLY: &str = "SELECT count(*) FROM during_only WHERE id = $1";

/// A database with pg_stat_statements, and a client straight to it for the workload.
async fn setup() -> (Env, Client) {
    let env = Env::start().await;
    let db = env.direct().await;
    db.batch_execute(
        "CREATE EXTENSION pg_stat_statements;
         CREATE TABLE before_only (id int);
         CREATE TABLE before_and_during (id int);
         CREATE TABLE during_only (id int);",
    )
    .await
    .unwrap();
    (env, db)
}

async fn run(db: &Client, sql: &str, times: i32) {
    let statement = db.prepare(sql).await.unwrap();
    for i in 0..times {
        db.query(&statement, &[&i]).await.unwrap();
    }
}

/// Builds the report with `--interval`, running `workload` once the first snapshot is read
/// (the report's session is idle after its query); the workload is over well before the second.
async fn report_during(env: &Env, workload: impl Future<Output = ()>) -> PgssSection {
    let opts = ReportOptions {
        analysis_url: Some(env.pg.conn_str("postgres", "postgres")),
        interval: Some(INTERVAL),
        ..ReportOptions::default()
    };
    let watcher = env.direct().await;
    let delayed = async {
        let deadline = Instant::now() + Duration::from_secs(30);
        let sql = "SELECT count(*) FROM pg_stat_activity \
                   WHERE state = 'idle' AND query LIKE $1 AND pid <> pg_backend_pid()";
        while watcher.query_one(sql, &[&FIRST_SNAPSHOT]).await.unwrap().get::<_, i64>(0) == 0 {
            assert!(Instant::now() < deadline, "the report took no first snapshot in 30 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        workload.await;
    };
    let (report, ()) = tokio::join!(report::build(&opts), delayed);
    let json = report::render(&report, Format::Json);
    let json: serde_json::Value = serde_json::from_str(&json).expect("JSON parses");
    let section = &json["sections"]["pg_stat_statements"];
    assert!(section["interval_s"].as_f64().is_some_and(|s| s >= 2.0), "{section}");
    report.sections.pg_stat_statements
}

fn calls(section: &PgssSection, marker: &str) -> Option<i64> {
    section.rows.iter().find(|r| r.query.contains(marker)).map(|r| r.calls)
}

#[tokio::test]
async fn interval_counts_only_what_ran_between_the_snapshots() {
    let (env, db) = setup().await;
    run(&db, BEFORE_ONLY, 5).await;
    run(&db, BOTH, 5).await;
    let section = report_during(&env, async {
        run(&db, BOTH, 3).await;
        run(&db, DURING_ONLY, 4).await;
    })
    .await;
    assert!(section.available && !section.reset_during_interval, "{section:#?}");
    assert_eq!(calls(&section, "before_and_during"), Some(3), "{section:#?}");
    assert_eq!(calls(&section, "during_only"), Some(4), "{section:#?}");
    assert_eq!(calls(&section, "before_only"), None, "did not run in between: {section:#?}");
    let note = section.note.as_deref().unwrap_or_default();
    assert!(note.contains("between two snapshots"), "{note}");
}

#[tokio::test]
async fn interval_detects_a_reset_and_says_so() {
    let (env, db) = setup().await;
    run(&db, BOTH, 10).await;
    let section = report_during(&env, async {
        db.batch_execute("SELECT pg_stat_statements_reset()").await.unwrap();
        run(&db, BOTH, 3).await;
    })
    .await;
    assert!(section.available && section.reset_during_interval, "{section:#?}");
    let note = section.note.as_deref().unwrap_or_default();
    assert!(note.contains("reset during the interval"), "{note}");
    assert_eq!(calls(&section, "before_and_during"), Some(3), "since the reset: {section:#?}");
}
