//! Index suggestions, verified with the planner through hypopg's hypothetical indexes.
//!
//! For each pattern and table whose predicates no index serves (see [`super::coverage`]), on
//! tables of at least `--min-rows` rows: single uncovered columns, then ordered pairs, are
//! created as hypothetical indexes (`hypopg_create_index`, `hypopg_reset`) on the analysis
//! connection, and the pattern's generic plan is costed with each. A single column is
//! suggested when it lowers the cost by at least half; a pair only when it also costs at most
//! half of the best single column. The same index found for several patterns is one
//! suggestion; an index whose columns are a prefix of another suggested one is folded into it
//! when the wider index still halves the cost of its patterns.
//!
//! Without hypopg in the database, candidates come from `pg_stats` (most selective equality
//! column, then a range or sort column) and are marked unverified.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use tokio_postgres::Client;

use super::candidates;
use super::catalog::{Table, quote_ident};
use super::coverage::{Assessed, PredicateCoverage};
use super::plan_cost::{CostError, PlanMode, generic_cost};
use super::predicates::Usage;
use super::{SectionError, describe};

/// A suggestion needs the cost to drop to this fraction or less.
const REQUIRED_RATIO: f64 = 0.5;

/// Uncovered pattern-table pairs verified with the planner, most total time first; each
/// costs a handful of EXPLAINs.
const MAX_PLANNED: usize = 200;

/// Settings of the suggestions section.
#[derive(Debug, Clone, Copy)]
pub struct SuggestOptions {
    /// Tables with fewer rows (planner estimate) get no suggestion.
    pub min_rows: f64,
}

/// A pattern a suggestion helps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HelpedPattern {
    /// pgscope's pattern id.
    pub pattern_id: String,
    /// Normalized text.
    pub pattern: String,
    /// Executions.
    pub calls: u64,
    /// Total time, milliseconds.
    pub total_ms: f64,
    /// Planner cost of the generic plan today (verified suggestions only).
    pub cost_before: Option<f64>,
    /// Planner cost with the hypothetical index (verified suggestions only).
    pub cost_after: Option<f64>,
}

/// One index to create.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    /// `schema.table`.
    pub table: String,
    /// Key columns, in order.
    pub columns: Vec<String>,
    /// The exact statement to run.
    pub create: String,
    /// True when hypopg and the planner confirmed it; false for statistics-based candidates.
    pub verified: bool,
    /// Why it is suggested, in words.
    pub reason: String,
    /// The patterns it helps, most total time first.
    pub patterns: Vec<HelpedPattern>,
    /// Estimated size (`hypopg_relation_size`), bytes.
    pub size_bytes: Option<i64>,
    /// Estimated size for people.
    pub size: Option<String>,
    /// The planner's row estimate for the table.
    pub table_rows: f64,
    /// Rows inserted, updated and deleted since the statistics reset (each costs an index
    /// update more).
    pub table_writes: Option<i64>,
    /// Those writes per second since the statistics reset.
    pub writes_per_sec: Option<f64>,
    /// Indexes the table has today.
    pub existing_indexes: usize,
}

/// A pattern and table with uncovered predicates and no suggestion, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    /// pgscope's pattern id.
    pub pattern_id: String,
    /// `schema.table`.
    pub table: String,
    /// Why nothing is suggested.
    pub reason: String,
}

/// The index suggestions section.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SuggestionSection {
    /// True when candidates were looked for (verified or not).
    pub available: bool,
    /// True when hypopg verified them with the planner.
    pub verified: bool,
    /// hypopg's version, when installed in the database.
    pub hypopg: Option<String>,
    /// What could not be done and why.
    pub note: Option<String>,
    /// The suggestions, most total time helped first.
    pub rows: Vec<Suggestion>,
    /// Uncovered patterns that got no suggestion, and why.
    pub skipped: Vec<Skipped>,
}

impl SuggestionSection {
    /// A section that could not be produced, saying why.
    pub fn unavailable(note: impl Into<String>) -> SuggestionSection {
        SuggestionSection { note: Some(note.into()), ..SuggestionSection::default() }
    }
}

/// Builds the suggestions for the uncovered rows of the coverage section.
pub async fn suggest(
    client: &Client,
    assessed: &[Assessed],
    opts: SuggestOptions,
) -> SuggestionSection {
    let mut section = SuggestionSection { available: true, ..SuggestionSection::default() };
    let mut needs = Vec::new();
    for a in assessed.iter().filter(|a| !a.row.covered) {
        if candidate_columns(&a.row.predicates).is_empty() {
            continue;
        }
        if a.table.rows < opts.min_rows {
            let reason = format!(
                "table has about {:.0} rows, fewer than --min-rows {:.0}: a scan is cheap",
                a.table.rows, opts.min_rows
            );
            section.skipped.push(skipped(a, reason));
            continue;
        }
        needs.push(a);
    }
    match hypopg_version(client).await {
        Err(e) => {
            SuggestionSection::unavailable(format!("could not look for hypopg: {}", describe(&e)))
        }
        Ok(Some(version)) => match PlanMode::detect(client).await {
            Ok(Some(mode)) => {
                section.verified = true;
                section.hypopg = Some(version);
                verified(client, mode, &needs, &mut section).await;
                section
            }
            Ok(None) => {
                section.note = Some(
                    "candidates below are UNVERIFIED, estimated from pg_stats: before \
                     PostgreSQL 12 there is no plan_cache_mode, so the generic plan of a \
                     pattern cannot be costed"
                        .into(),
                );
                candidates::unverified(client, &needs, &mut section).await;
                section
            }
            Err(e) => SuggestionSection::unavailable(format!(
                "could not read the server version: {}",
                describe(&e)
            )),
        },
        Ok(None) => {
            section.note = Some(candidates::missing_hypopg(client).await);
            candidates::unverified(client, &needs, &mut section).await;
            section
        }
    }
}

pub(super) fn skipped(a: &Assessed, reason: String) -> Skipped {
    Skipped { pattern_id: a.row.pattern_id.clone(), table: a.row.table.clone(), reason }
}

/// Uncovered columns a B-tree could serve, in the order the pattern uses them.
pub(super) fn candidate_columns(preds: &[PredicateCoverage]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in preds.iter().filter(|p| p.covered_by.is_none() && p.note.is_none()) {
        if indexable(&p.usage) && !out.contains(&p.column) {
            out.push(p.column.clone());
        }
    }
    out
}

fn indexable(u: &Usage) -> bool {
    matches!(
        u,
        Usage::Equality
            | Usage::Join
            | Usage::Range
            | Usage::LikePrefix
            | Usage::OrderByLimit { .. }
    )
}

pub(super) fn is_equality(u: &Usage) -> bool {
    matches!(u, Usage::Equality | Usage::Join)
}

/// Ordered pairs worth a try: an equality column first (covered or not), then any other
/// B-tree-servable column, at least one of the two uncovered.
fn candidate_pairs(preds: &[PredicateCoverage]) -> Vec<[String; 2]> {
    let uncovered = candidate_columns(preds);
    let mut pairs = Vec::new();
    for first in preds.iter().filter(|p| is_equality(&p.usage)) {
        for second in preds.iter().filter(|p| indexable(&p.usage) && p.column != first.column) {
            let pair = [first.column.clone(), second.column.clone()];
            let new = uncovered.contains(&pair[0]) || uncovered.contains(&pair[1]);
            if new && !pairs.contains(&pair) {
                pairs.push(pair);
            }
        }
    }
    pairs
}

async fn hypopg_version(client: &Client) -> Result<Option<String>, SectionError> {
    let sql = "SELECT extversion::text FROM pg_extension WHERE extname = 'hypopg'";
    Ok(client.query_opt(sql, &[]).await?.map(|r| r.try_get(0)).transpose()?)
}

/// One candidate's outcome for one pattern.
#[derive(Debug, Clone)]
struct Trial {
    columns: Vec<String>,
    cost: f64,
    size: i64,
}

/// A suggestion being assembled: key (schema.table, columns).
pub(super) type Found = BTreeMap<(String, Vec<String>), (Arc<Table>, Vec<(HelpedPattern, i64)>)>;

async fn verified(
    client: &Client,
    mode: PlanMode,
    needs: &[&Assessed],
    section: &mut SuggestionSection,
) {
    let mut found = Found::new();
    let mut denied = 0;
    let (needs, later) = needs.split_at(needs.len().min(MAX_PLANNED));
    for a in later {
        let reason = format!(
            "not planned: only the {MAX_PLANNED} uncovered patterns with the most total time \
             are verified per report"
        );
        section.skipped.push(skipped(a, reason));
    }
    for a in needs {
        match best_index(client, mode, a).await {
            Ok(Ok((before, trial))) => {
                let helped = helped(a, Some(before), Some(trial.cost));
                let key = (a.row.table.clone(), trial.columns);
                let entry = found.entry(key).or_insert_with(|| (Arc::clone(&a.table), Vec::new()));
                entry.1.push((helped, trial.size));
            }
            Ok(Err(reason)) => section.skipped.push(skipped(a, reason)),
            Err(e) => {
                denied += usize::from(is_permission(&e));
                section.skipped.push(skipped(a, cost_failure(a, &e)));
            }
        }
    }
    let _ = client.batch_execute("SELECT hypopg_reset()").await;
    fold_prefixes(client, mode, &mut found).await;
    let _ = client.batch_execute("SELECT hypopg_reset()").await;
    if denied > 0 {
        section.note = Some(format!(
            "{denied} pattern(s) could not be planned: permission denied (EXPLAIN needs SELECT \
             on the tables); see the skipped list"
        ));
    }
    section.rows = finish(client, found, true).await;
}

/// Costs the pattern as it is, then with each candidate; `Ok(Err(reason))` when none halves
/// the cost.
async fn best_index(
    client: &Client,
    mode: PlanMode,
    a: &Assessed,
) -> Result<Result<(f64, Trial), String>, CostError> {
    let sql = &a.row.pattern;
    let before = generic_cost(client, mode, sql).await?;
    let mut best_single: Option<Trial> = None;
    for column in candidate_columns(&a.row.predicates) {
        let trial = try_index(client, mode, &a.table, &[column], sql).await?;
        if best_single.as_ref().is_none_or(|b| trial.cost < b.cost) {
            best_single = Some(trial);
        }
    }
    let mut best_pair: Option<Trial> = None;
    for pair in candidate_pairs(&a.row.predicates) {
        let trial = try_index(client, mode, &a.table, &pair, sql).await?;
        if best_pair.as_ref().is_none_or(|b| trial.cost < b.cost) {
            best_pair = Some(trial);
        }
    }
    let single_cost = best_single.as_ref().map_or(before, |s| s.cost.min(before));
    if let Some(pair) = best_pair.filter(|p| p.cost <= REQUIRED_RATIO * single_cost) {
        return Ok(Ok((before, pair)));
    }
    match best_single {
        Some(single) if single.cost <= REQUIRED_RATIO * before => Ok(Ok((before, single))),
        Some(single) => Ok(Err(format!(
            "no candidate halves the planner's cost: best was ({}) at {:.1} against {before:.1}",
            single.columns.join(", "),
            single.cost
        ))),
        None => Ok(Err("no candidate columns".into())),
    }
}

/// Creates one hypothetical index, costs `sql` with it, and removes it again.
async fn try_index(
    client: &Client,
    mode: PlanMode,
    table: &Table,
    columns: &[String],
    sql: &str,
) -> Result<Trial, CostError> {
    client.batch_execute("SELECT hypopg_reset()").await?;
    let ddl = format!("CREATE INDEX ON {} ({})", table.qualified(), key_list(columns));
    let row = client
        .query_one(
            "SELECT hypopg_relation_size(indexrelid)::int8 FROM hypopg_create_index($1)",
            &[&ddl],
        )
        .await?;
    let size: i64 = row.try_get(0)?;
    let cost = generic_cost(client, mode, sql).await;
    client.batch_execute("SELECT hypopg_reset()").await?;
    Ok(Trial { columns: columns.to_vec(), cost: cost?, size })
}

fn key_list(columns: &[String]) -> String {
    columns.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ")
}

/// Folds a suggestion into a wider one on the same table whose columns start with its own,
/// when the wider index still halves the cost of each of its patterns.
async fn fold_prefixes(client: &Client, mode: PlanMode, found: &mut Found) {
    let keys: Vec<(String, Vec<String>)> = found.keys().cloned().collect();
    for narrow in &keys {
        let wider = keys
            .iter()
            .find(|w| w.0 == narrow.0 && w.1.len() > narrow.1.len() && w.1.starts_with(&narrow.1));
        let (Some(wider), Some((table, helped))) = (wider, found.get(narrow)) else { continue };
        let mut moved = Vec::new();
        for (h, _) in helped {
            let before = h.cost_before.unwrap_or(f64::MAX);
            match try_index(client, mode, table, &wider.1, &h.pattern).await {
                Ok(t) if t.cost <= REQUIRED_RATIO * before => {
                    moved.push((HelpedPattern { cost_after: Some(t.cost), ..h.clone() }, t.size))
                }
                _ => break,
            }
        }
        if moved.len() == helped.len()
            && let Some(entry) = found.get_mut(wider)
        {
            entry.1.extend(moved);
            found.remove(narrow);
        }
    }
}

pub(super) fn helped(a: &Assessed, before: Option<f64>, after: Option<f64>) -> HelpedPattern {
    HelpedPattern {
        pattern_id: a.row.pattern_id.clone(),
        pattern: a.row.pattern.clone(),
        calls: a.row.calls,
        total_ms: a.row.total_ms,
        cost_before: before,
        cost_after: after,
    }
}

fn is_permission(e: &CostError) -> bool {
    matches!(e, CostError::Section(SectionError::Postgres(pg))
        if pg.as_db_error().is_some_and(|db| db.code().code() == "42501"))
}

fn cost_failure(a: &Assessed, e: &CostError) -> String {
    if is_permission(e) {
        return format!(
            "permission denied planning the pattern ({e}): GRANT SELECT ON {} (and EXECUTE \
             on hypopg's functions, if revoked) TO this role",
            a.row.table
        );
    }
    match e {
        CostError::Section(s) => format!("could not plan the pattern: {}", describe(s)),
        other => format!("could not plan the pattern: {other}"),
    }
}

/// Turns the collected candidates into suggestions with their statement and table figures.
pub(super) async fn finish(client: &Client, found: Found, verified: bool) -> Vec<Suggestion> {
    let mut rows = Vec::new();
    for ((table_name, columns), (table, mut helped)) in found {
        helped.sort_by(|a, b| b.0.total_ms.total_cmp(&a.0.total_ms));
        helped.dedup_by(|a, b| a.0.pattern_id == b.0.pattern_id);
        let size_bytes = verified.then(|| helped.iter().map(|h| h.1).max().unwrap_or(0));
        let (table_writes, writes_per_sec) = writes(client, &table).await;
        let reason = if verified { verified_reason(&helped) } else { String::new() };
        rows.push(Suggestion {
            table: table_name,
            create: create_statement(&table, &columns),
            columns,
            verified,
            reason,
            size: size_bytes.map(pretty_size),
            size_bytes,
            table_rows: table.rows,
            table_writes,
            writes_per_sec,
            existing_indexes: table.indexes.len(),
            patterns: helped.into_iter().map(|h| h.0).collect(),
        });
    }
    rows.sort_by(|a, b| total(b).total_cmp(&total(a)));
    rows
}

fn total(s: &Suggestion) -> f64 {
    s.patterns.iter().map(|p| p.total_ms).sum()
}

fn verified_reason(helped: &[(HelpedPattern, i64)]) -> String {
    let drops: Vec<String> = helped
        .iter()
        .filter_map(|(h, _)| Some(format!("{:.1} → {:.1}", h.cost_before?, h.cost_after?)))
        .collect();
    format!("planner cost {}", drops.join(", "))
}

/// `CREATE INDEX CONCURRENTLY name ON schema.table (cols);` with PostgreSQL's default-style
/// name (`table_col_col_idx`, cut to 63 bytes).
pub fn create_statement(table: &Table, columns: &[String]) -> String {
    let mut name = format!("{}_{}_idx", table.name, columns.join("_"));
    while name.len() > 63 {
        name.remove(table.name.len().min(name.len() - 5));
    }
    format!(
        "CREATE INDEX CONCURRENTLY {} ON {} ({});",
        quote_ident(&name),
        table.qualified(),
        key_list(columns)
    )
}

fn pretty_size(bytes: i64) -> String {
    let units = ["bytes", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 10240.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.0} {}", units[unit])
}

/// Writes to the table since the statistics reset, and per second.
async fn writes(client: &Client, table: &Table) -> (Option<i64>, Option<f64>) {
    let sql = "SELECT (n_tup_ins + n_tup_upd + n_tup_del)::int8,
                      extract(epoch FROM now() - coalesce(
                          (SELECT stats_reset FROM pg_stat_database
                           WHERE datname = current_database()),
                          pg_postmaster_start_time()))::float8
               FROM pg_stat_user_tables WHERE relid = $1";
    let Ok(Some(row)) = client.query_opt(sql, &[&table.oid]).await else { return (None, None) };
    let writes: Option<i64> = row.try_get(0).ok();
    let seconds: Option<f64> = row.try_get(1).ok();
    let rate = match (writes, seconds) {
        (Some(w), Some(s)) if s > 0.0 => Some(w as f64 / s),
        _ => None,
    };
    (writes, rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pred(column: &str, usage: Usage, covered_by: Option<&str>) -> PredicateCoverage {
        PredicateCoverage {
            column: column.into(),
            usage,
            covered_by: covered_by.map(String::from),
            note: None,
        }
    }

    #[test]
    fn candidates_are_uncovered_columns_and_equality_first_pairs() {
        let preds = [
            pred("customer_id", Usage::Equality, Some("orders_customer_id_idx")),
            pred("placed_at", Usage::Range, None),
            pred("status", Usage::Equality, None),
            pred("note", Usage::LikeUnanchored, None),
        ];
        assert_eq!(candidate_columns(&preds), ["placed_at", "status"]);
        let pairs = candidate_pairs(&preds);
        let pair = |a: &str, b: &str| [a.to_string(), b.to_string()];
        assert_eq!(
            pairs,
            [
                pair("customer_id", "placed_at"),
                pair("customer_id", "status"),
                pair("status", "customer_id"),
                pair("status", "placed_at"),
            ],
            "a range column never leads; a LIKE without prefix is never a key"
        );
    }

    #[test]
    fn create_statements_name_and_quote() {
        let table = Table {
            oid: 1,
            schema: "public".into(),
            name: "Orders".into(),
            rows: 1e5,
            columns: Vec::new(),
            indexes: Vec::new(),
        };
        let cols = ["customer_id".to_string(), "placed_at".to_string()];
        assert_eq!(
            create_statement(&table, &cols),
            "CREATE INDEX CONCURRENTLY \"Orders_customer_id_placed_at_idx\" \
             ON public.\"Orders\" (customer_id, placed_at);"
        );
        let long = ["c".repeat(80)];
        let statement = create_statement(&table, &long);
        let name = statement.split_whitespace().nth(3).expect("a name");
        assert!(name.trim_matches('"').len() <= 63, "{name}");
        assert_eq!(pretty_size(8192), "8192 bytes");
        assert_eq!(pretty_size(1_564_672), "1528 kB");
    }
}
