//! Index coverage: for each observed pattern and each table it filters, joins or sorts on,
//! which predicate columns an existing index serves, and which one.
//!
//! B-tree rules, as the planner applies them: an index serves equality on its leading keys,
//! then one range (`<`, `BETWEEN`, anchored `LIKE` with a `*_pattern_ops` class or a C
//! collation) on the next key; `ORDER BY … LIMIT` is served when the sort columns follow the
//! equality keys in the index, all in one direction; a function or cast on a column needs an
//! expression index on that expression. Partial and non-B-tree indexes are not counted.

use std::sync::Arc;

use serde::Serialize;
use tokio_postgres::Client;

use super::catalog::{Catalog, Index, Table};
use super::predicates::{self, ColumnRef, Predicates, Usage};
use super::{SectionError, describe};

/// A pattern as the index sections see it: from the sidecars, or from pg_stat_statements
/// when no sidecar saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observed {
    /// pgscope's pattern id.
    pub pattern_id: String,
    /// Normalized text with `$n` placeholders.
    pub pattern: String,
    /// Executions.
    pub calls: u64,
    /// Total time, milliseconds.
    pub total_ms: f64,
    /// `"sidecar"` or `"pg_stat_statements"`.
    pub source: &'static str,
}

/// One predicate column and the index serving it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredicateCoverage {
    /// Column name.
    pub column: String,
    /// How the pattern uses it.
    pub usage: Usage,
    /// The index serving it, if any.
    pub covered_by: Option<String>,
    /// Why no index can serve it as written, when that is the case.
    pub note: Option<String>,
}

/// One pattern on one table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageRow {
    /// pgscope's pattern id.
    pub pattern_id: String,
    /// Normalized text.
    pub pattern: String,
    /// Executions.
    pub calls: u64,
    /// Total time, milliseconds.
    pub total_ms: f64,
    /// Where the pattern was observed.
    pub source: &'static str,
    /// `schema.table`.
    pub table: String,
    /// The planner's row estimate for the table.
    pub table_rows: f64,
    /// True when every predicate column is served by an index.
    pub covered: bool,
    /// The predicate columns.
    pub predicates: Vec<PredicateCoverage>,
}

/// The index coverage section.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CoverageSection {
    /// True when the catalog was read.
    pub available: bool,
    /// What could not be done and why.
    pub note: Option<String>,
    /// Uncovered rows first, then by total time.
    pub rows: Vec<CoverageRow>,
}

impl CoverageSection {
    /// A section that could not be produced, saying why.
    pub fn unavailable(note: impl Into<String>) -> CoverageSection {
        CoverageSection { note: Some(note.into()), ..CoverageSection::default() }
    }
}

/// A coverage row with its resolved table, for the suggestions.
#[derive(Debug, Clone)]
pub struct Assessed {
    /// The row as reported.
    pub row: CoverageRow,
    /// The table it is about.
    pub table: Arc<Table>,
}

/// Assesses every observed pattern against the catalog.
pub async fn assess_all(
    client: &Client,
    observed: &[Observed],
    catalog: &mut Catalog,
) -> (CoverageSection, Vec<Assessed>) {
    match read(client, observed, catalog).await {
        Ok((mut assessed, note)) => {
            assessed.sort_by(|a, b| {
                a.row.covered.cmp(&b.row.covered).then(b.row.total_ms.total_cmp(&a.row.total_ms))
            });
            let rows = assessed.iter().map(|a| a.row.clone()).collect();
            (CoverageSection { available: true, note, rows }, assessed)
        }
        Err(e) => {
            let note = format!("could not read the catalog: {}", describe(&e));
            (CoverageSection::unavailable(note), Vec::new())
        }
    }
}

async fn read(
    client: &Client,
    observed: &[Observed],
    catalog: &mut Catalog,
) -> Result<(Vec<Assessed>, Option<String>), SectionError> {
    let c_collation = super::catalog::c_collation(client).await;
    let mut out = Vec::new();
    let (mut unparsed, mut no_table) = (Vec::new(), Vec::new());
    for o in observed {
        let Some(preds) = predicates::extract(&o.pattern) else {
            if looks_indexable(&o.pattern) {
                unparsed.push(o.pattern.as_str());
            }
            continue;
        };
        let mut tables = Vec::new();
        for t in &preds.tables {
            tables.push(catalog.table(client, t).await?);
        }
        if tables.iter().all(Option::is_none) {
            if !preds.uses.is_empty() {
                no_table.push(o.pattern.as_str());
            }
            continue;
        }
        for (i, table) in tables.iter().enumerate() {
            let Some(table) = table else { continue };
            let uses = uses_of(&preds, &tables, i);
            if uses.is_empty() {
                continue;
            }
            let predicates = assess(table, &uses, c_collation);
            let covered = predicates.iter().all(|p| p.covered_by.is_some());
            let row = CoverageRow {
                pattern_id: o.pattern_id.clone(),
                pattern: o.pattern.clone(),
                calls: o.calls,
                total_ms: o.total_ms,
                source: o.source,
                table: format!("{}.{}", table.schema, table.name),
                table_rows: table.rows,
                covered,
                predicates,
            };
            out.push(Assessed { row, table: Arc::clone(table) });
        }
    }
    Ok((out, skipped_note(&unparsed, &no_table)))
}

fn looks_indexable(sql: &str) -> bool {
    let first = sql.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
    ["select", "update", "delete", "with"].contains(&first.as_str())
}

fn skipped_note(unparsed: &[&str], no_table: &[&str]) -> Option<String> {
    let example = |list: &[&str]| -> String {
        let first: String = list.first().map_or("", |s| s).chars().take(60).collect();
        format!("e.g. \"{first}\"")
    };
    let mut parts = Vec::new();
    if !unparsed.is_empty() {
        parts.push(format!(
            "{} pattern(s) not analysed: not one SELECT/UPDATE/DELETE the SQL parser reads \
             ({})",
            unparsed.len(),
            example(unparsed)
        ));
    }
    if !no_table.is_empty() {
        parts.push(format!(
            "{} pattern(s) name no user table visible on the analysis connection's \
             search_path, only views, catalogs or CTEs ({})",
            no_table.len(),
            example(no_table)
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The uses of table `i` of `preds`: qualified by its alias or name, or unqualified and a
/// column of this table only.
fn uses_of(preds: &Predicates, tables: &[Option<Arc<Table>>], i: usize) -> Vec<(String, Usage)> {
    let owner = |c: &ColumnRef| -> Option<usize> {
        match &c.qualifier {
            Some(q) => preds.tables.iter().position(|t| t.qualifier() == q),
            None => {
                let mut having = tables
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| t.as_ref().is_some_and(|t| t.columns.contains(&c.name)));
                match (having.next(), having.next()) {
                    (Some((j, _)), None) => Some(j),
                    _ => None,
                }
            }
        }
    };
    let mut uses: Vec<(String, Usage)> = Vec::new();
    for u in &preds.uses {
        let entry = (u.column.name.clone(), u.usage.clone());
        if owner(&u.column) == Some(i) && !uses.contains(&entry) {
            uses.push(entry);
        }
    }
    uses
}

/// Applies the B-tree rules: which index serves each use.
pub fn assess(
    table: &Table,
    uses: &[(String, Usage)],
    c_collation: bool,
) -> Vec<PredicateCoverage> {
    let mut best: Vec<Option<(usize, &str)>> = vec![None; uses.len()];
    for index in table.indexes.iter().filter(|i| i.method == "btree" && !i.partial) {
        let served = served_by(index, uses, c_collation);
        let score = served.iter().filter(|s| **s).count();
        for (slot, served) in best.iter_mut().zip(&served) {
            if *served && slot.is_none_or(|(s, _)| score > s) {
                *slot = Some((score, index.name.as_str()));
            }
        }
    }
    uses.iter()
        .zip(best)
        .map(|((column, usage), best)| PredicateCoverage {
            column: column.clone(),
            usage: usage.clone(),
            covered_by: best.map(|(_, name)| name.to_string()),
            note: best.is_none().then(|| why_not(usage, c_collation)).flatten(),
        })
        .collect()
}

/// Which uses one B-tree index serves.
fn served_by(index: &Index, uses: &[(String, Usage)], c_collation: bool) -> Vec<bool> {
    let mut served = vec![false; uses.len()];
    // Equality on the leading keys…
    let mut next_key = 0;
    for key in &index.keys {
        let hits = matching(uses, |c, u| {
            matches!(u, Usage::Equality | Usage::Join) && c == key
                || matches!(u, Usage::Expression(e) if same_expr(e, key))
        });
        if hits.is_empty() {
            break;
        }
        hits.into_iter().for_each(|h| served[h] = true);
        next_key += 1;
    }
    // …then one range on the next key…
    if let Some(key) = index.keys.get(next_key) {
        let pattern_ops = index.opclasses.get(next_key).is_some_and(|o| o.ends_with("pattern_ops"));
        let prefix_ok = pattern_ops || c_collation;
        let ranges = matching(uses, |c, u| {
            c == key && (*u == Usage::Range || (*u == Usage::LikePrefix && prefix_ok))
        });
        ranges.into_iter().for_each(|h| served[h] = true);
    }
    // …and ORDER BY … LIMIT when the sort keys follow the equality keys, in one direction.
    let sorts = matching(uses, |_, u| matches!(u, Usage::OrderByLimit { .. }));
    let one_direction = sorts.windows(2).all(|w| uses[w[0]].1 == uses[w[1]].1);
    let in_order = sorts
        .iter()
        .enumerate()
        .all(|(n, s)| index.keys.get(next_key + n).is_some_and(|k| *k == uses[*s].0));
    if !sorts.is_empty() && one_direction && in_order {
        sorts.into_iter().for_each(|s| served[s] = true);
    }
    served
}

fn matching(uses: &[(String, Usage)], f: impl Fn(&str, &Usage) -> bool) -> Vec<usize> {
    uses.iter().enumerate().filter(|(_, (c, u))| f(c, u)).map(|(i, _)| i).collect()
}

/// Expression texts compared loosely: case, spaces, quotes and parentheses ignored.
fn same_expr(a: &str, b: &str) -> bool {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace() && !matches!(c, '"' | '(' | ')'))
            .flat_map(char::to_lowercase)
            .collect()
    };
    norm(a) == norm(b)
}

fn why_not(usage: &Usage, c_collation: bool) -> Option<String> {
    match usage {
        Usage::LikeUnanchored => Some(
            "no B-tree serves LIKE without a known fixed prefix (a parameter or a leading \
             wildcard); a pg_trgm GIN index can"
                .into(),
        ),
        Usage::Expression(e) => Some(format!("needs an expression index on ({e})")),
        Usage::LikePrefix if !c_collation => {
            Some("anchored LIKE needs an index with text_pattern_ops (collation is not C)".into())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(name: &str, keys: &[&str]) -> Index {
        Index {
            name: name.into(),
            method: "btree".into(),
            partial: false,
            keys: keys.iter().map(|k| k.to_string()).collect(),
            opclasses: keys.iter().map(|_| "int4_ops".to_string()).collect(),
        }
    }

    fn table(indexes: Vec<Index>) -> Table {
        Table {
            oid: 1,
            schema: "public".into(),
            name: "t".into(),
            rows: 1e5,
            columns: vec!["a".into(), "b".into(), "c".into()],
            indexes,
        }
    }

    fn covered_by(t: &Table, uses: &[(&str, Usage)]) -> Vec<Option<String>> {
        let uses: Vec<(String, Usage)> =
            uses.iter().map(|(c, u)| (c.to_string(), u.clone())).collect();
        assess(t, &uses, false).into_iter().map(|p| p.covered_by).collect()
    }

    #[test]
    fn equality_on_leading_keys_then_one_range() {
        let t = table(vec![index("t_a_b_c", &["a", "b", "c"])]);
        let some = |s: &str| Some(s.to_string());
        let got =
            covered_by(&t, &[("a", Usage::Equality), ("b", Usage::Range), ("c", Usage::Equality)]);
        assert_eq!(got, [some("t_a_b_c"), some("t_a_b_c"), None], "range ends the prefix");
        let got = covered_by(&t, &[("b", Usage::Equality)]);
        assert_eq!(got, [None], "not the leading key");
        let got =
            covered_by(&t, &[("a", Usage::Join), ("b", Usage::Equality), ("c", Usage::Range)]);
        assert!(got.iter().all(Option::is_some));
    }

    #[test]
    fn order_by_limit_after_equality_keys() {
        let t = table(vec![index("t_a_b", &["a", "b"]), index("t_c", &["c"])]);
        let desc = Usage::OrderByLimit { desc: true };
        let got = covered_by(&t, &[("a", Usage::Equality), ("b", desc.clone())]);
        assert!(got.iter().all(Option::is_some), "{got:?}");
        assert_eq!(covered_by(&t, &[("b", desc.clone())]), [None]);
        assert_eq!(covered_by(&t, &[("c", desc)]), [Some("t_c".to_string())]);
    }

    #[test]
    fn expressions_and_like() {
        let mut lower = index("t_lower_a", &["lower(a)"]);
        lower.opclasses = vec!["text_ops".into()];
        let mut pattern = index("t_b_pattern", &["b"]);
        pattern.opclasses = vec!["text_pattern_ops".into()];
        let t = table(vec![lower, pattern, index("t_c", &["c"])]);
        let got = covered_by(
            &t,
            &[
                ("a", Usage::Expression("LOWER(a)".into())),
                ("a", Usage::Equality),
                ("b", Usage::LikePrefix),
                ("c", Usage::LikePrefix),
                ("c", Usage::LikeUnanchored),
            ],
        );
        assert_eq!(got[0].as_deref(), Some("t_lower_a"));
        assert_eq!(got[1], None, "an expression index does not serve the bare column");
        assert_eq!(got[2].as_deref(), Some("t_b_pattern"));
        assert_eq!(got[3], None, "text_ops under a non-C collation");
        assert_eq!(got[4], None);
    }
}
