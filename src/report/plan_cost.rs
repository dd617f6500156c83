//! The planner's cost of a normalized pattern, planned generically (its `$n` have no values):
//! `EXPLAIN (GENERIC_PLAN)` on PostgreSQL 16 and later; on older servers the approach of
//! [`crate::explain`]: `PREPARE` under `plan_cache_mode = force_generic_plan`, then
//! `EXPLAIN EXECUTE` with NULL parameters. A fresh `PREPARE` each time, so hypothetical
//! indexes created in between are seen. Runs in a rolled-back transaction with a timeout.

use tokio_postgres::{Client, SimpleQueryMessage};

use super::SectionError;
use crate::explain::{explainable, highest_placeholder};

/// The prepared statement's name on the analysis connection.
const STATEMENT: &str = "pgscope_report_cost";

/// How generic plans are obtained on this server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanMode {
    /// `EXPLAIN (GENERIC_PLAN, …)`: PostgreSQL 16 and later.
    GenericPlanOption,
    /// `PREPARE` + `force_generic_plan` + `EXPLAIN EXECUTE`: PostgreSQL 12 to 15.
    PrepareForceGeneric,
}

impl PlanMode {
    /// Picks the mode from `server_version_num`; `None` before PostgreSQL 12, which has no
    /// `plan_cache_mode`.
    pub fn for_version(version_num: i32) -> Option<PlanMode> {
        match version_num {
            160_000.. => Some(PlanMode::GenericPlanOption),
            120_000.. => Some(PlanMode::PrepareForceGeneric),
            _ => None,
        }
    }

    /// Asks the server for its version.
    pub async fn detect(client: &Client) -> Result<Option<PlanMode>, SectionError> {
        let row =
            client.query_one("SELECT current_setting('server_version_num')::int4", &[]).await?;
        Ok(PlanMode::for_version(row.try_get(0)?))
    }
}

/// Why a pattern has no cost.
#[derive(Debug, thiserror::Error)]
pub enum CostError {
    /// Not a statement with a plan.
    #[error("not a statement with a plan")]
    NotExplainable,
    /// The server refused (permission, parameter types, timeout…).
    #[error(transparent)]
    Section(#[from] SectionError),
    /// EXPLAIN's JSON had no `Total Cost`.
    #[error("EXPLAIN output without a total cost")]
    NoCost,
}

impl From<tokio_postgres::Error> for CostError {
    fn from(e: tokio_postgres::Error) -> Self {
        CostError::Section(SectionError::Postgres(e))
    }
}

/// The total cost of the top plan node of `sql`'s generic plan.
pub async fn generic_cost(client: &Client, mode: PlanMode, sql: &str) -> Result<f64, CostError> {
    if !explainable(sql) {
        return Err(CostError::NotExplainable);
    }
    let sql = &typed_placeholders(sql);
    client
        .batch_execute(
            "BEGIN; SET LOCAL statement_timeout = '5s'; \
             SET LOCAL plan_cache_mode = force_generic_plan",
        )
        .await?;
    let result = explain_json(client, mode, sql).await;
    let prepared = mode == PlanMode::PrepareForceGeneric && highest_placeholder(sql) > 0;
    // PREPARE is not transactional: the statement outlives the rollback.
    let cleanup =
        if prepared { format!("ROLLBACK; DEALLOCATE {STATEMENT}") } else { "ROLLBACK".into() };
    if client.batch_execute(&cleanup).await.is_err() {
        client.batch_execute("ROLLBACK").await?;
    }
    total_cost(&result?)
}

async fn explain_json(client: &Client, mode: PlanMode, sql: &str) -> Result<String, CostError> {
    let params = highest_placeholder(sql);
    let statement = match mode {
        _ if params == 0 => format!("EXPLAIN (FORMAT JSON) {sql}"),
        PlanMode::GenericPlanOption => format!("EXPLAIN (GENERIC_PLAN, FORMAT JSON) {sql}"),
        PlanMode::PrepareForceGeneric => {
            client.batch_execute(&format!("PREPARE {STATEMENT} AS {sql}")).await?;
            let nulls = vec!["NULL"; params].join(", ");
            format!("EXPLAIN (FORMAT JSON) EXECUTE {STATEMENT}({nulls})")
        }
    };
    let rows = client.simple_query(&statement).await?;
    Ok(rows
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0),
            _ => None,
        })
        .collect())
}

/// Typed literals become typed placeholders in a pattern (`INTERVAL '1 day'` →
/// `INTERVAL $1`), which PostgreSQL does not parse; as casts (`$1::INTERVAL`) they plan alike.
fn typed_placeholders(sql: &str) -> String {
    const TYPES: [&str; 5] = ["INTERVAL", "TIMESTAMPTZ", "TIMESTAMP", "DATE", "TIME"];
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    'scan: while !rest.is_empty() {
        for t in TYPES {
            let boundary = out.chars().last().is_none_or(|c| !c.is_alphanumeric() && c != '_');
            if boundary && rest.starts_with(t) && rest[t.len()..].starts_with(" $") {
                let after = &rest[t.len() + 1..];
                let digits = after[1..].chars().take_while(char::is_ascii_digit).count();
                if digits > 0 {
                    out.push_str(&after[..=digits]);
                    out.push_str("::");
                    out.push_str(t);
                    rest = &after[digits + 1..];
                    continue 'scan;
                }
            }
        }
        let c = rest.chars().next().expect("rest is not empty");
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// `Total Cost` of the top node of `EXPLAIN (FORMAT JSON)` output.
fn total_cost(json: &str) -> Result<f64, CostError> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(|_| CostError::NoCost)?;
    value[0]["Plan"]["Total Cost"].as_f64().ok_or(CostError::NoCost)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_by_version_and_cost_parsing() {
        assert_eq!(PlanMode::for_version(150_018), Some(PlanMode::PrepareForceGeneric));
        assert_eq!(PlanMode::for_version(160_000), Some(PlanMode::GenericPlanOption));
        assert_eq!(PlanMode::for_version(110_022), None);
        let json = r#"[{"Plan": {"Node Type": "Seq Scan", "Total Cost": 431.5}}]"#;
        assert_eq!(total_cost(json).ok(), Some(431.5));
        assert!(total_cost("[]").is_err());
    }

    #[test]
    fn typed_literal_placeholders_become_casts() {
        assert_eq!(
            typed_placeholders("SELECT 1 FROM t WHERE at > now() - INTERVAL $1 AND d = DATE $2"),
            "SELECT 1 FROM t WHERE at > now() - $1::INTERVAL AND d = $2::DATE"
        );
        assert_eq!(typed_placeholders("SELECT MYDATE $1, DATE x"), "SELECT MYDATE $1, DATE x");
        assert_eq!(typed_placeholders("SELECT 'é' || TIME $10"), "SELECT 'é' || $10::TIME");
    }
}
