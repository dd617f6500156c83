//! EXPLAIN for slow patterns, on pgscope's own analysis connection (`[analysis] url`).
//!
//! The first slow sample of each pattern is explained once. A normalized pattern has `$n`
//! placeholders instead of values, so it is explained as a generic plan: `PREPARE` under
//! `plan_cache_mode = force_generic_plan` and `EXPLAIN EXECUTE` with NULL parameters (works on
//! PostgreSQL 12 and later). With `slow.keep_parameter_values` the raw statement is explained
//! as is. Everything runs in a transaction that is rolled back, with a statement timeout, so
//! even `EXPLAIN ANALYZE` (opt-in) of a write leaves nothing behind.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};
use tracing::debug;

use crate::detect::{Detectors, ExplainRequest};

/// Requests waiting for the analysis connection; more are dropped (a pattern is only asked
/// for once, so this is about bursts of new slow patterns).
pub const QUEUE: usize = 64;

/// Settings of the explainer.
#[derive(Debug, Clone)]
pub struct ExplainConfig {
    /// libpq connection string or URL of the analysis connection.
    pub url: String,
    /// Run `EXPLAIN ANALYZE` (executes the statement, then rolls back).
    pub analyze: bool,
}

/// Runs until the request channel closes, attaching each plan to the pattern's findings.
pub async fn run(
    config: ExplainConfig,
    mut requests: mpsc::Receiver<ExplainRequest>,
    detectors: Arc<Mutex<Detectors>>,
) {
    let mut client: Option<Client> = None;
    while let Some(request) = requests.recv().await {
        let plan = match explain(&config, &mut client, &request.sql).await {
            Ok(plan) => plan,
            Err(e) => {
                client = None;
                format!("EXPLAIN failed: {e}")
            }
        };
        debug!(pattern_id = %request.pattern_id, "plan attached");
        let mut d = detectors.lock().unwrap_or_else(PoisonError::into_inner);
        d.attach_plan(&request.pattern_id, &plan);
    }
}

async fn explain(
    config: &ExplainConfig,
    client: &mut Option<Client>,
    sql: &str,
) -> Result<String, tokio_postgres::Error> {
    if !explainable(sql) {
        return Ok("not explained: only SELECT, INSERT, UPDATE, DELETE, MERGE and WITH statements have plans".into());
    }
    if client.is_none() {
        let (c, connection) = tokio_postgres::connect(&config.url, NoTls).await?;
        tokio::spawn(connection);
        *client = Some(c);
    }
    let db = client.as_ref().expect("connected just above");
    db.batch_execute(
        "BEGIN; SET LOCAL statement_timeout = '5s'; SET LOCAL plan_cache_mode = force_generic_plan",
    )
    .await?;
    let result = plan_text(db, sql, config.analyze).await;
    db.batch_execute("ROLLBACK").await?;
    result
}

async fn plan_text(db: &Client, sql: &str, analyze: bool) -> Result<String, tokio_postgres::Error> {
    let options = if analyze { "(ANALYZE, FORMAT TEXT)" } else { "(FORMAT TEXT)" };
    let params = highest_placeholder(sql);
    let statement = if params == 0 {
        format!("EXPLAIN {options} {sql}")
    } else {
        db.batch_execute(&format!("PREPARE pgscope_explain AS {sql}")).await?;
        let nulls = vec!["NULL"; params].join(", ");
        format!("EXPLAIN {options} EXECUTE pgscope_explain({nulls})")
    };
    let rows = db.simple_query(&statement).await?;
    let lines: Vec<&str> = rows
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0),
            _ => None,
        })
        .collect();
    Ok(lines.join("\n"))
}

/// True for statements that have a plan (also used by `pgscope report`).
pub(crate) fn explainable(sql: &str) -> bool {
    let first = sql.trim_start().split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("");
    ["select", "insert", "update", "delete", "merge", "with", "values", "table"]
        .iter()
        .any(|k| first.eq_ignore_ascii_case(k))
}

/// The highest `$n` in the text (0 when it has none).
pub(crate) fn highest_placeholder(sql: &str) -> usize {
    let bytes = sql.as_bytes();
    let mut highest = 0;
    for (i, _) in sql.match_indices('$') {
        let digits: String =
            bytes[i + 1..].iter().take_while(|b| b.is_ascii_digit()).map(|b| *b as char).collect();
        highest = highest.max(digits.parse().unwrap_or(0));
    }
    highest
}

/// Starts the explainer when an analysis URL is configured; returns the request sender.
pub fn spawn(
    config: Option<ExplainConfig>,
    detectors: Arc<Mutex<Detectors>>,
) -> Option<mpsc::Sender<ExplainRequest>> {
    let config = config?;
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(run(config, rx, detectors));
    Some(tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_explainable_statements() {
        assert_eq!(highest_placeholder("SELECT $1, $12 FROM t WHERE a = $3"), 12);
        assert_eq!(highest_placeholder("SELECT 1"), 0);
        assert_eq!(highest_placeholder("SELECT '$' || $"), 0);
        assert!(explainable("  select pg_sleep($1)"));
        assert!(explainable("WITH x AS (SELECT 1) SELECT * FROM x"));
        assert!(!explainable("CREATE INDEX ON t (a)"));
        assert!(!explainable("BEGIN"));
    }
}
