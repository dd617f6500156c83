//! Index candidates from statistics, for when hypopg is not installed in the database: the
//! most selective uncovered equality column by `pg_stats.n_distinct`, then an uncovered range
//! or sort column. They are marked unverified: nothing asked the planner.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio_postgres::Client;

use super::coverage::Assessed;
use super::suggest::{
    Found, SuggestionSection, candidate_columns, finish, helped, is_equality, skipped,
};
use super::{SectionError, describe};

/// Statistics-based candidates: an equality column qualifies when one value selects at most
/// this fraction of the table.
const MAX_SELECTIVITY: f64 = 0.05;

/// What to run to verify candidates, depending on whether the server has hypopg at all.
pub async fn missing_hypopg(client: &Client) -> String {
    let sql = "SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg'";
    let available = matches!(client.query_opt(sql, &[]).await, Ok(Some(_)));
    let how = if available {
        "hypopg is available on this server but not installed in this database: run CREATE \
         EXTENSION hypopg (it only adds functions; hypothetical indexes live in one session)"
    } else {
        "hypopg is not available on this server: install its package (e.g. \
         postgresql-16-hypopg for your major version), then run CREATE EXTENSION hypopg"
    };
    format!(
        "candidates below are UNVERIFIED, estimated from pg_stats; {how} to verify them with the planner"
    )
}

/// Statistics-based candidates, when hypopg is not installed.
pub async fn unverified(client: &Client, needs: &[&Assessed], section: &mut SuggestionSection) {
    let mut found = Found::new();
    let mut reasons: BTreeMap<(String, Vec<String>), String> = BTreeMap::new();
    for a in needs {
        match stats_candidate(client, a).await {
            Ok(Ok((columns, reason))) => {
                let key = (a.row.table.clone(), columns);
                reasons.entry(key.clone()).or_insert(reason);
                let entry = found.entry(key).or_insert_with(|| (Arc::clone(&a.table), Vec::new()));
                entry.1.push((helped(a, None, None), 0));
            }
            Ok(Err(reason)) => section.skipped.push(skipped(a, reason)),
            Err(e) => section
                .skipped
                .push(skipped(a, format!("could not read pg_stats: {}", describe(&e)))),
        }
    }
    let mut rows = finish(client, found, false).await;
    for row in &mut rows {
        let key = (row.table.clone(), row.columns.clone());
        row.reason = reasons.remove(&key).unwrap_or_default();
    }
    section.rows = rows;
}

/// The most selective uncovered equality column, then an uncovered range or sort column.
async fn stats_candidate(
    client: &Client,
    a: &Assessed,
) -> Result<Result<(Vec<String>, String), String>, SectionError> {
    let sql = "SELECT attname::text, n_distinct::float8 FROM pg_stats \
               WHERE schemaname = $1 AND tablename = $2";
    let stats = client.query(sql, &[&a.table.schema, &a.table.name]).await?;
    let distinct = |column: &str| -> Option<f64> {
        let row =
            stats.iter().find(|r| r.try_get::<_, String>(0).ok().as_deref() == Some(column))?;
        let n: f64 = row.try_get(1).ok()?;
        Some(if n < 0.0 { -n * a.table.rows } else { n })
    };
    let uncovered = candidate_columns(&a.row.predicates);
    let usage = |c: &str| a.row.predicates.iter().find(|p| p.column == c).map(|p| &p.usage);
    let mut best: Option<(String, f64)> = None;
    for c in uncovered.iter().filter(|c| usage(c).is_some_and(is_equality)) {
        if let Some(d) = distinct(c).filter(|d| *d >= 1.0)
            && 1.0 / d <= MAX_SELECTIVITY
            && best.as_ref().is_none_or(|b| d > b.1)
        {
            best = Some((c.clone(), d));
        }
    }
    let tail = uncovered.iter().find(|c| usage(c).is_some_and(|u| !is_equality(u)));
    let mut reason = Vec::new();
    let mut columns = Vec::new();
    if let Some((c, d)) = &best {
        columns.push(c.clone());
        reason.push(format!(
            "{c}: about {d:.0} distinct values, ~{:.0} rows per value",
            a.table.rows / d
        ));
    }
    if let Some(t) = tail {
        columns.push(t.clone());
        reason.push(format!("{t}: range or ORDER BY … LIMIT"));
    }
    if columns.is_empty() {
        let why = if stats.is_empty() {
            "no pg_stats rows for the table (run ANALYZE, or this role cannot read its columns)"
        } else {
            "no uncovered column is selective enough by pg_stats"
        };
        return Ok(Err(why.into()));
    }
    Ok(Ok((columns, format!("unverified: {}", reason.join("; ")))))
}
