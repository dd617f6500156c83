//! What a pattern asks of its tables' indexes, read from the sqlparser AST (PostgreSQL
//! dialect): per table in FROM (aliases kept), the columns it filters, joins or sorts on.
//!
//! Pure: no catalog. Unqualified columns stay unqualified here; [`super::coverage`] resolves
//! them against `pg_attribute` of the tables in FROM. Only the top-level statement is read
//! (SELECT, UPDATE, DELETE); subqueries, CTE bodies, `OR` branches and `JOIN … USING` are left
//! out — their columns get no coverage verdict and no suggestion.

use std::ops::ControlFlow;

use serde::Serialize;
use sqlparser::ast::{
    BinaryOperator, Expr, FromTable, JoinConstraint, JoinOperator, LimitClause, ObjectName,
    OrderByKind, OrderBySort, Query, SetExpr, Statement, TableFactor, TableWithJoins, Value,
    visit_expressions,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

/// A table named in FROM (or the target of UPDATE/DELETE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    /// Schema, when the pattern names one.
    pub schema: Option<String>,
    /// Table name (folded to lower case unless quoted).
    pub name: String,
    /// The alias, when one is given.
    pub alias: Option<String>,
}

impl TableRef {
    /// The name columns are qualified with: the alias, or else the table name.
    pub fn qualifier(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }
}

/// A column as written: optional qualifier (table or alias) and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnRef {
    /// Table name or alias before the dot.
    pub qualifier: Option<String>,
    /// Column name.
    pub name: String,
}

/// How a predicate uses a column, as far as a B-tree cares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum Usage {
    /// `col = value`, `col IN (…)`, `col = ANY(…)`, `col IS NULL`.
    Equality,
    /// `a.col = b.col`: an equality the other table supplies (inner side of a nested loop).
    Join,
    /// `<`, `<=`, `>`, `>=`, `BETWEEN`.
    Range,
    /// `LIKE 'abc%'`: a range on the prefix (needs a `*_pattern_ops` class or C collation).
    LikePrefix,
    /// `LIKE '%abc'`, `ILIKE`, or `LIKE $1` (prefix unknown): no B-tree helps.
    LikeUnanchored,
    /// A function or cast around the column: only an expression index on exactly this helps.
    Expression(String),
    /// `ORDER BY col [DESC]` with `LIMIT`: an index in that order ends the scan early.
    OrderByLimit {
        /// True for `DESC`.
        desc: bool,
    },
}

/// One column used by one predicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    /// The column.
    pub column: ColumnRef,
    /// How it is used.
    pub usage: Usage,
}

/// What one statement asks of indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Predicates {
    /// Tables in FROM (and UPDATE/DELETE targets), in order.
    pub tables: Vec<TableRef>,
    /// Column uses, in the order they appear.
    pub uses: Vec<Use>,
}

/// Reads a pattern; `None` when sqlparser rejects it or it is not one SELECT, UPDATE or
/// DELETE (nothing an index serves).
pub fn extract(sql: &str) -> Option<Predicates> {
    // The normalizer refuses ASTs too deep to walk safely; so does this module.
    if !crate::fingerprint::normalize(sql).parsed {
        return None;
    }
    let statements =
        std::panic::catch_unwind(|| Parser::parse_sql(&PostgreSqlDialect {}, sql)).ok()?.ok()?;
    let [statement] = statements.as_slice() else { return None };
    let mut out = Predicates::default();
    match statement {
        Statement::Query(query) => query_predicates(query, &mut out)?,
        Statement::Update(update) => {
            add_from(std::slice::from_ref(&update.table), &mut out);
            if let Some(selection) = &update.selection {
                conjuncts(selection, &mut out);
            }
        }
        Statement::Delete(delete) => {
            let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &delete.from;
            add_from(from, &mut out);
            if let Some(selection) = &delete.selection {
                conjuncts(selection, &mut out);
            }
        }
        _ => return None,
    }
    Some(out)
}

fn query_predicates(query: &Query, out: &mut Predicates) -> Option<()> {
    let SetExpr::Select(select) = query.body.as_ref() else { return None };
    add_from(&select.from, out);
    if let Some(selection) = &select.selection {
        conjuncts(selection, out);
    }
    let limited =
        matches!(&query.limit_clause, Some(LimitClause::LimitOffset { limit: Some(_), .. }))
            || query.fetch.is_some();
    if let (true, Some(order_by)) = (limited, &query.order_by)
        && let OrderByKind::Expressions(exprs) = &order_by.kind
    {
        for e in exprs {
            let desc = matches!(e.options.sort, Some(OrderBySort::Desc));
            if let Some(column) = column(&e.expr) {
                out.uses.push(Use { column, usage: Usage::OrderByLimit { desc } });
            }
        }
    }
    Some(())
}

fn add_from(from: &[TableWithJoins], out: &mut Predicates) {
    for twj in from {
        add_table(&twj.relation, out);
        for join in &twj.joins {
            add_table(&join.relation, out);
            if let Some(JoinConstraint::On(on)) = constraint(&join.join_operator) {
                conjuncts(on, out);
            }
        }
    }
}

fn constraint(op: &JoinOperator) -> Option<&JoinConstraint> {
    match op {
        JoinOperator::Join(c)
        | JoinOperator::Inner(c)
        | JoinOperator::Left(c)
        | JoinOperator::LeftOuter(c)
        | JoinOperator::Right(c)
        | JoinOperator::RightOuter(c)
        | JoinOperator::FullOuter(c) => Some(c),
        _ => None,
    }
}

fn add_table(factor: &TableFactor, out: &mut Predicates) {
    if let TableFactor::Table { name, alias, args: None, .. } = factor {
        let mut parts = idents(name);
        let Some(table) = parts.pop() else { return };
        let alias = alias.as_ref().map(|a| fold(&a.name));
        out.tables.push(TableRef { schema: parts.pop(), name: table, alias });
    }
}

fn idents(name: &ObjectName) -> Vec<String> {
    name.0.iter().filter_map(|p| p.as_ident().map(fold)).collect()
}

/// PostgreSQL folds unquoted identifiers to lower case.
fn fold(ident: &sqlparser::ast::Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// Splits on `AND` and records what each conjunct asks for.
fn conjuncts(expr: &Expr, out: &mut Predicates) {
    match expr {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            conjuncts(left, out);
            conjuncts(right, out);
        }
        Expr::Nested(inner) => conjuncts(inner, out),
        _ => conjunct(expr, out),
    }
}

fn conjunct(expr: &Expr, out: &mut Predicates) {
    match expr {
        Expr::BinaryOp { left, op, right } => comparison(left, op, right, out),
        Expr::Between { expr, negated: false, low, high } if constant(low) && constant(high) => {
            push(expr, Usage::Range, out)
        }
        Expr::InList { expr, list, negated: false } if list.iter().all(constant) => {
            push(expr, Usage::Equality, out)
        }
        Expr::AnyOp { left, compare_op: BinaryOperator::Eq, right, .. } if constant(right) => {
            push(left, Usage::Equality, out)
        }
        Expr::IsNull(inner) => push(inner, Usage::Equality, out),
        Expr::Like { negated: false, expr, pattern, .. } => {
            let usage = if anchored(pattern) { Usage::LikePrefix } else { Usage::LikeUnanchored };
            push(expr, usage, out)
        }
        Expr::ILike { negated: false, expr, .. } => push(expr, Usage::LikeUnanchored, out),
        _ => {}
    }
}

fn comparison(left: &Expr, op: &BinaryOperator, right: &Expr, out: &mut Predicates) {
    let usage = match op {
        BinaryOperator::Eq => Usage::Equality,
        BinaryOperator::Lt | BinaryOperator::LtEq | BinaryOperator::Gt | BinaryOperator::GtEq => {
            Usage::Range
        }
        _ => return,
    };
    match (column(left), column(right)) {
        (Some(l), Some(r)) if usage == Usage::Equality => {
            out.uses.push(Use { column: l, usage: Usage::Join });
            out.uses.push(Use { column: r, usage: Usage::Join });
        }
        _ if constant(right) => push(left, usage, out),
        _ if constant(left) => push(right, usage, out),
        _ => {}
    }
}

/// Records `expr` as a use of its column: directly, or as an expression around one column.
fn push(expr: &Expr, usage: Usage, out: &mut Predicates) {
    if let Some(column) = column(expr) {
        out.uses.push(Use { column, usage });
        return;
    }
    let columns = columns_in(expr);
    if let [only] = columns.as_slice() {
        let text = expr.to_string();
        out.uses.push(Use { column: only.clone(), usage: Usage::Expression(text) });
    }
}

/// The column when `expr` is a bare (possibly parenthesized) column reference.
fn column(expr: &Expr) -> Option<ColumnRef> {
    match expr {
        Expr::Identifier(ident) => Some(ColumnRef { qualifier: None, name: fold(ident) }),
        Expr::CompoundIdentifier(parts) => {
            let (name, rest) = parts.split_last()?;
            let qualifier = rest.last().map(fold);
            Some(ColumnRef { qualifier, name: fold(name) })
        }
        Expr::Nested(inner) => column(inner),
        _ => None,
    }
}

fn columns_in(expr: &Expr) -> Vec<ColumnRef> {
    let mut found = Vec::new();
    let _ = visit_expressions(expr, |e| {
        if let Some(c) = column(e).filter(|_| !matches!(e, Expr::Nested(_))) {
            found.push(c);
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

/// True when `expr` mentions no column and no subquery: a value the planner gets as a
/// parameter or constant.
fn constant(expr: &Expr) -> bool {
    let found = visit_expressions(expr, |e| match e {
        Expr::Identifier(_)
        | Expr::CompoundIdentifier(_)
        | Expr::Subquery(_)
        | Expr::Exists { .. }
        | Expr::InSubquery { .. } => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    });
    found.is_continue()
}

/// A LIKE pattern known to start with a fixed prefix: a string literal not starting with a
/// wildcard. A placeholder's prefix is unknown (and a generic plan cannot use it).
fn anchored(pattern: &Expr) -> bool {
    match pattern {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => {
                !s.is_empty() && !s.starts_with(['%', '_'])
            }
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uses(sql: &str) -> Vec<(Option<String>, String, Usage)> {
        extract(sql)
            .expect("parses")
            .uses
            .into_iter()
            .map(|u| (u.column.qualifier, u.column.name, u.usage))
            .collect()
    }

    fn bare(name: &str, usage: Usage) -> (Option<String>, String, Usage) {
        (None, name.to_string(), usage)
    }

    #[test]
    fn equality_range_and_in() {
        let got = uses(
            "SELECT id FROM t WHERE a = $1 AND $2 < b AND c IN ($3) AND d BETWEEN $4 AND $5 \
             AND e IS NULL AND f = ANY($6) AND (g >= $7 OR h = $8)",
        );
        assert_eq!(
            got,
            [
                bare("a", Usage::Equality),
                bare("b", Usage::Range),
                bare("c", Usage::Equality),
                bare("d", Usage::Range),
                bare("e", Usage::Equality),
                bare("f", Usage::Equality),
            ]
        );
    }

    #[test]
    fn joins_aliases_and_qualifiers() {
        let p = extract(
            "SELECT b.title FROM books AS b JOIN public.Authors a ON a.id = b.author_id \
             WHERE a.name = $1",
        )
        .expect("parses");
        assert_eq!(
            p.tables[0],
            TableRef { schema: None, name: "books".into(), alias: Some("b".into()) }
        );
        assert_eq!(p.tables[1].schema.as_deref(), Some("public"));
        assert_eq!((p.tables[1].name.as_str(), p.tables[1].qualifier()), ("authors", "a"));
        let got: Vec<_> = p
            .uses
            .iter()
            .map(|u| (u.column.qualifier.as_deref(), u.column.name.as_str(), &u.usage))
            .collect();
        assert_eq!(
            got,
            [
                (Some("a"), "id", &Usage::Join),
                (Some("b"), "author_id", &Usage::Join),
                (Some("a"), "name", &Usage::Equality),
            ]
        );
    }

    #[test]
    fn like_functions_and_casts() {
        let got = uses(
            "SELECT 1 FROM t WHERE a LIKE 'ab%' AND b LIKE '%ab' AND c LIKE $1 AND d ILIKE $2 \
             AND lower(e) = $3 AND f::date = $4",
        );
        assert_eq!(got[0], bare("a", Usage::LikePrefix));
        assert_eq!(got[1], bare("b", Usage::LikeUnanchored));
        assert_eq!(got[2], bare("c", Usage::LikeUnanchored));
        assert_eq!(got[3], bare("d", Usage::LikeUnanchored));
        assert_eq!(got[4], bare("e", Usage::Expression("lower(e)".into())));
        assert_eq!(got[5].1, "f");
        assert!(matches!(got[5].2, Usage::Expression(_)));
    }

    #[test]
    fn order_by_counts_only_with_limit() {
        let got = uses("SELECT id FROM t ORDER BY placed_at DESC LIMIT $1");
        assert_eq!(got, [bare("placed_at", Usage::OrderByLimit { desc: true })]);
        assert!(uses("SELECT id FROM t ORDER BY placed_at").is_empty());
    }

    #[test]
    fn updates_deletes_and_the_rest() {
        assert_eq!(uses("UPDATE t SET a = $1 WHERE id = $2"), [bare("id", Usage::Equality)]);
        assert_eq!(uses("DELETE FROM t WHERE b < $1"), [bare("b", Usage::Range)]);
        assert!(extract("INSERT INTO t VALUES ($1)").is_none());
        assert!(extract("BEGIN").is_none());
        assert!(extract("SELECT 1; SELECT 2").is_none());
        assert!(extract("not sql at all").is_none());
        assert!(uses("SELECT * FROM t WHERE a = b + $1").is_empty());
    }
}
