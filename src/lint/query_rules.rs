//! Rules on the shape of a query: its projection, ORDER BY / LIMIT / OFFSET, set operations,
//! HAVING, and subqueries in the SELECT list.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, LimitClause, OrderByKind, Query, Select, SelectItem, SelectItemQualifiedWildcardKind,
    SetExpr, SetOperator, SetQuantifier, TableFactor, Visit, Visitor,
};

use super::catalogue::Rule;
use super::collect::{Context, Hit};
use super::config::Thresholds;
use super::syntax::{
    base_name, column_qualifier, first_column, from_tables, number_literal, object_name,
    quoted_list, strip_nested, visit_shallow,
};

/// Query-level rules: LIMIT/OFFSET/ORDER BY and UNION.
pub(crate) fn check_query(
    query: &Query,
    context: Context,
    thresholds: Thresholds,
    hits: &mut Vec<Hit>,
) {
    let limit = row_limit(query);
    let tables = body_tables(query);
    let limited = matches!(limit, RowLimit::Rows(l) if !l.is_some_and(is_zero));
    if limited && query.order_by.is_none() && !context.in_exists && !constant_rows(query) {
        let message =
            format!("LIMIT/FETCH without ORDER BY on {tables}: which rows come back is arbitrary");
        hits.push(Hit::new(Rule::LimitWithoutOrder, message));
    }
    if let Some(offset) = offset(query) {
        check_offset(offset, matches!(limit, RowLimit::Rows(_)), &tables, thresholds, hits);
    }
    if orders_by_random(query) {
        let message = format!("ORDER BY random() on {tables} sorts every row to pick a few");
        hits.push(Hit::new(Rule::OrderByRandom, message));
    }
    check_unions(&query.body, hits);
}

/// A query's row limit: `LIMIT n` or `FETCH FIRST [n] ROWS` (no quantity means one row).
enum RowLimit<'a> {
    /// No LIMIT, or `LIMIT ALL`.
    Unlimited,
    /// A limit, with its expression when written.
    Rows(Option<&'a Expr>),
}

fn row_limit(query: &Query) -> RowLimit<'_> {
    match &query.limit_clause {
        Some(LimitClause::LimitOffset { limit: Some(limit), .. })
        | Some(LimitClause::OffsetCommaLimit { limit, .. }) => RowLimit::Rows(Some(limit)),
        _ => match &query.fetch {
            Some(fetch) => RowLimit::Rows(fetch.quantity.as_ref()),
            None => RowLimit::Unlimited,
        },
    }
}

fn offset(query: &Query) -> Option<&Expr> {
    match &query.limit_clause {
        Some(LimitClause::LimitOffset { offset, .. }) => offset.as_ref().map(|o| &o.value),
        Some(LimitClause::OffsetCommaLimit { offset, .. }) => Some(offset),
        None => None,
    }
}

/// Whether every row the query returns is the same, because it selects only literals and
/// placeholders (`SELECT 1 AS one FROM t WHERE ... LIMIT 1`, an existence test).
fn constant_rows(query: &Query) -> bool {
    let SetExpr::Select(select) = query.body.as_ref() else { return false };
    select.projection.iter().all(|item| match item {
        SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => {
            matches!(strip_nested(expr), Expr::Value(_))
        }
        _ => false,
    })
}

fn is_zero(limit: &Expr) -> bool {
    number_literal(limit) == Some(0.0)
}

fn check_offset(
    offset: &Expr,
    has_limit: bool,
    tables: &str,
    thresholds: Thresholds,
    hits: &mut Vec<Hit>,
) {
    if number_literal(offset).is_some_and(|n| n >= thresholds.large_offset as f64) {
        let message = format!(
            "OFFSET of {} rows or more on {}: every page reads and discards the rows before it",
            thresholds.large_offset, tables
        );
        hits.push(Hit::new(Rule::LargeOffset, message));
    }
    if !has_limit {
        let message = format!("OFFSET without LIMIT on {} returns every remaining row", tables);
        hits.push(Hit::new(Rule::OffsetWithoutLimit, message));
    }
}

fn orders_by_random(query: &Query) -> bool {
    let Some(OrderByKind::Expressions(exprs)) = query.order_by.as_ref().map(|o| &o.kind) else {
        return false;
    };
    exprs.iter().any(|e| match strip_nested(&e.expr) {
        Expr::Function(f) => matches!(base_name(&f.name).as_str(), "random" | "rand"),
        _ => false,
    })
}

/// Walks the UNION/INTERSECT/EXCEPT tree of one query level (nested queries get their own turn).
fn check_unions(body: &SetExpr, hits: &mut Vec<Hit>) {
    let mut stack = vec![body];
    while let Some(node) = stack.pop() {
        if let SetExpr::SetOperation { left, op, set_quantifier, right } = node {
            if *op == SetOperator::Union && *set_quantifier == SetQuantifier::None {
                let message = format!(
                    "UNION between {} and {} de-duplicates the combined result",
                    set_tables(left),
                    set_tables(right)
                );
                hits.push(Hit::new(Rule::UnionInsteadOfUnionAll, message));
            }
            stack.push(right);
            stack.push(left);
        }
    }
}

fn set_tables(side: &SetExpr) -> String {
    match side {
        SetExpr::Select(select) => quoted_list(&from_tables(select), "a SELECT"),
        _ => "a subquery".to_string(),
    }
}

/// The tables of a query's own SELECT, for messages.
fn body_tables(query: &Query) -> String {
    match query.body.as_ref() {
        SetExpr::Select(select) => quoted_list(&from_tables(select), "a subquery"),
        _ => "a set operation".to_string(),
    }
}

/// SELECT-level rules: projection wildcards, HAVING, correlated subqueries in the SELECT list.
pub(crate) fn check_select(select: &Select, context: Context, hits: &mut Vec<Hit>) {
    if !context.in_exists {
        check_star(select, hits);
    }
    check_having(select, hits);
    check_correlated(select, hits);
}

fn check_star(select: &Select, hits: &mut Vec<Hit>) {
    for item in &select.projection {
        let message = match item {
            SelectItem::Wildcard(_) => {
                format!("SELECT * from {}", quoted_list(&from_tables(select), "a subquery"))
            }
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(name), _) => {
                format!("SELECT `{}`.* reads every column of the table", object_name(name))
            }
            _ => continue,
        };
        hits.push(Hit::new(Rule::SelectStar, message));
    }
}

fn check_having(select: &Select, hits: &mut Vec<Hit>) {
    let Some(having) = &select.having else { return };
    let mut aggregate_or_subquery = false;
    visit_shallow(having, |e| {
        let found = matches!(
            e,
            Expr::Function(_) | Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. }
        );
        aggregate_or_subquery |= found;
        if found { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    });
    if !aggregate_or_subquery {
        let column =
            first_column(having).map_or_else(|| "a condition".to_string(), |c| format!("`{c}`"));
        let message = format!("HAVING on {column} uses no aggregate; it belongs in WHERE");
        hits.push(Hit::new(Rule::HavingWithoutAggregate, message));
    }
}

fn check_correlated(select: &Select, hits: &mut Vec<Hit>) {
    let outer = from_names(select);
    if outer.is_empty() {
        return;
    }
    for item in &select.projection {
        let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = item else {
            continue;
        };
        visit_shallow(expr, |e| {
            if let Expr::Subquery(query) = e
                && let Some(name) = outer_reference(query, &outer)
            {
                let message = format!(
                    "subquery in the SELECT list references `{name}` of the outer query and runs once per row"
                );
                hits.push(Hit::new(Rule::CorrelatedSubqueryInSelect, message));
            }
            ControlFlow::Continue(())
        });
    }
}

/// The names (aliases and table names) a SELECT's FROM clause brings into scope, lower-cased.
fn from_names(select: &Select) -> Vec<String> {
    let mut names = RelationNames::default();
    let _ = select.from.visit(&mut names);
    names.0
}

/// An outer-query name that `query` uses to qualify a column but does not define itself.
fn outer_reference(query: &Query, outer: &[String]) -> Option<String> {
    let mut inner = RelationNames::default();
    let _ = query.visit(&mut inner);
    let mut found = None;
    let _ = sqlparser::ast::visit_expressions(query, |e| match column_qualifier(e) {
        Some(q) if outer.contains(&q) && !inner.0.contains(&q) => {
            found = Some(q);
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    });
    found
}

/// Collects the aliases and table names of every table factor met.
#[derive(Default)]
struct RelationNames(Vec<String>);

impl Visitor for RelationNames {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        self.0.extend(super::joins::factor_names(factor));
        ControlFlow::Continue(())
    }
}
