//! `pgscope demo`: a throwaway PostgreSQL, pgscope in front of it, a small app workload
//! through pgscope (an N+1 over a foreign key with no index, a lookup on an unindexed
//! column), and what pgscope learned, printed as the text `pgscope report`. Everything it
//! starts is stopped again, also on Ctrl-C.

use std::time::Duration;

use tokio_postgres::{Client, NoTls};

use crate::config::Config;
use crate::report::{self, Format, ReportOptions};
use crate::scratch_pg::{ScratchPg, ScratchPgError, ScratchPgOptions};
use crate::sidecar::Sidecar;

/// Why the demo stopped early.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("starting the throwaway PostgreSQL: {0}")]
    Postgres(#[from] ScratchPgError),
    #[error("starting pgscope: {0}")]
    Sidecar(std::io::Error),
    #[error("sample workload: {0}")]
    Workload(#[from] tokio_postgres::Error),
    #[error("interrupted")]
    Interrupted,
}

const AUTHORS: i32 = 50;
const BOOKS_PER_AUTHOR: i32 = 400;

/// Runs the demo end to end.
pub async fn run() -> Result<(), DemoError> {
    println!("Starting a throwaway PostgreSQL from the local install...");
    let pg = ScratchPg::start(ScratchPgOptions::default()).await?;
    println!("  PostgreSQL listening on {} (data in a temp dir, removed at exit)", pg.addr());
    let result = tokio::select! {
        r = with_postgres(&pg) => r,
        _ = tokio::signal::ctrl_c() => Err(DemoError::Interrupted),
    };
    println!("Stopping PostgreSQL and cleaning up.");
    pg.stop().await?;
    result
}

async fn with_postgres(pg: &ScratchPg) -> Result<(), DemoError> {
    let sidecar = Sidecar::start(Config::for_upstream(pg.addr().to_string()))
        .await
        .map_err(DemoError::Sidecar)?;
    println!("  pgscope proxy on {}", sidecar.proxy_addr);
    if let Some(http) = sidecar.http_addr {
        println!("  pgscope HTTP API on http://{http}/api/patterns");
    }
    let analysis_url = pg.conn_str(pg.superuser(), "postgres");
    prepare_database(&analysis_url).await?;
    let dsn = format!(
        "host=127.0.0.1 port={} user={} dbname=postgres",
        sidecar.proxy_addr.port(),
        pg.superuser()
    );
    let workload = workload(&dsn).await;
    // Past the N+1 detector's idle gap, so the last burst is judged.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let report = match (&workload, sidecar.http_addr) {
        (Ok(()), Some(http)) => {
            println!("Building the report (pgscope report --proxy http://{http} --analysis-url …)");
            let opts = ReportOptions {
                analysis_url: Some(analysis_url),
                proxies: vec![format!("http://{http}")],
                top: 10,
                ..ReportOptions::default()
            };
            Some(report::build(&opts).await)
        }
        _ => None,
    };
    let _ = sidecar.shutdown().await;
    workload?;
    if let Some(report) = report {
        println!("\n{}", report::render(&report, Format::Text));
    }
    println!(
        "While `pgscope proxy` runs, the same data is served by GET /api/patterns, /api/findings,\n\
         /api/routes and /metrics, and by the admin console (psql … dbname=pgscope)."
    );
    Ok(())
}

/// pg_stat_statements, and hypopg when the server has it: this database is a throwaway, so
/// installing the extension is safe, and the index suggestions get verified with the planner.
async fn prepare_database(url: &str) -> Result<(), DemoError> {
    let (db, conn) = tokio_postgres::connect(url, NoTls).await?;
    let conn = tokio::spawn(conn);
    db.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").await?;
    let hypopg = "SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg'";
    if db.query_opt(hypopg, &[]).await?.is_some() {
        db.batch_execute("CREATE EXTENSION IF NOT EXISTS hypopg").await?;
        println!("  hypopg is installed: index suggestions are verified with the planner");
    } else {
        println!("  hypopg is not installed: index suggestions are estimates from pg_stats");
    }
    drop(db);
    let _ = conn.await;
    Ok(())
}

/// A small bookshop app: setup, an author page that loads books one author at a time (an
/// N+1), a lookup on an unindexed column, and a query that fails.
async fn workload(dsn: &str) -> Result<(), DemoError> {
    println!("Running a sample app workload through pgscope...");
    let (db, conn) = tokio_postgres::connect(dsn, NoTls).await?;
    let conn = tokio::spawn(conn);
    setup(&db).await?;
    for _ in 0..3 {
        author_page(&db).await?;
    }
    // A separate request a moment later: a few lookups on a column with no index.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let by_title = db.prepare("SELECT id, author_id FROM books WHERE title = $1").await?;
    for i in 0..4 {
        db.query(&by_title, &[&format!("Book {i}-7")]).await?;
    }
    let _ = db.simple_query("SELECT * FROM book").await; // a typo the app makes now and then
    drop(db);
    let _ = conn.await;
    Ok(())
}

async fn setup(db: &Client) -> Result<(), DemoError> {
    db.batch_execute(
        "DROP TABLE IF EXISTS books, authors;
         CREATE TABLE authors (id serial PRIMARY KEY, name text NOT NULL);
         CREATE TABLE books (id serial PRIMARY KEY, author_id int NOT NULL REFERENCES authors, title text NOT NULL, price numeric(8,2));",
    )
    .await?;
    let add_author = db.prepare("INSERT INTO authors (name) VALUES ($1) RETURNING id").await?;
    for a in 0..AUTHORS {
        let id: i32 = db.query_one(&add_author, &[&format!("Author {a}")]).await?.get(0);
        let values: Vec<String> = (0..BOOKS_PER_AUTHOR)
            .map(|b| format!("({id}, 'Book {a}-{b}', {}.99)", 5 + b % 30))
            .collect();
        let sql =
            format!("INSERT INTO books (author_id, title, price) VALUES {}", values.join(", "));
        db.batch_execute(&sql).await?;
    }
    db.batch_execute("ANALYZE authors; ANALYZE books").await?;
    Ok(())
}

/// The N+1: one query for the authors, then one query per author for their books.
async fn author_page(db: &Client) -> Result<(), DemoError> {
    let authors = db.query("SELECT id, name FROM authors ORDER BY name", &[]).await?;
    let books = db.prepare("SELECT id, title, price FROM books WHERE author_id = $1").await?;
    for author in &authors {
        let id: i32 = author.get(0);
        db.query(&books, &[&id]).await?;
    }
    Ok(())
}
