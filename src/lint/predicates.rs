//! Rules on conditions: single expressions anywhere (`= NULL`, NOT IN subquery, LIKE patterns,
//! long IN lists) and the shape of WHERE / JOIN ON trees (functions on columns, OR across
//! columns).

use std::collections::BTreeSet;

use sqlparser::ast::{BinaryOperator, Expr, JoinConstraint, JoinOperator, Select, UnaryOperator};

use super::catalogue::Rule;
use super::collect::Hit;
use super::config::Thresholds;
use super::syntax::{
    base_name, column_name, first_column, function_args, is_comparison, is_null_literal, split_on,
    string_literal, strip_nested,
};

/// Rules that judge one expression wherever it appears.
pub(crate) fn check_expr(expr: &Expr, thresholds: Thresholds, hits: &mut Vec<Hit>) {
    match expr {
        Expr::BinaryOp { left, op: op @ (BinaryOperator::Eq | BinaryOperator::NotEq), right } => {
            check_equals_null(left, op, right, hits);
        }
        Expr::InSubquery { expr, negated: true, .. } => {
            let message = format!(
                "{} NOT IN (SELECT ...) matches nothing if the subquery yields a NULL",
                subject(expr)
            );
            hits.push(Hit::new(Rule::NotInSubquery, message));
        }
        Expr::Like { negated, any: false, expr, pattern, .. } => {
            check_like(expr, pattern, like_keyword("LIKE", *negated), hits)
        }
        Expr::ILike { negated, any: false, expr, pattern, .. } => {
            check_like(expr, pattern, like_keyword("ILIKE", *negated), hits)
        }
        Expr::InList { expr, list, .. } if list.len() > thresholds.max_in_list => {
            let message = format!(
                "IN list of {} items on {} (more than {})",
                list.len(),
                subject(expr),
                thresholds.max_in_list
            );
            hits.push(Hit::new(Rule::LargeInList, message));
        }
        _ => {}
    }
}

/// `` `users.email` `` for a column, "an expression on `email`" or "an expression" otherwise
/// (the expression itself is not quoted: it may hold literal values).
fn subject(expr: &Expr) -> String {
    match (column_name(expr), first_column(expr)) {
        (Some(column), _) => format!("`{column}`"),
        (None, Some(column)) => format!("an expression on `{column}`"),
        (None, None) => "an expression".to_string(),
    }
}

fn check_equals_null(left: &Expr, op: &BinaryOperator, right: &Expr, hits: &mut Vec<Hit>) {
    let other = match (is_null_literal(left), is_null_literal(right)) {
        (true, _) => right,
        (_, true) => left,
        _ => return,
    };
    let message = format!(
        "{} {op} NULL is never true; use IS {}NULL",
        subject(other),
        if *op == BinaryOperator::Eq { "" } else { "NOT " }
    );
    hits.push(Hit::new(Rule::EqualsNull, message));
}

fn like_keyword(keyword: &str, negated: bool) -> String {
    if negated { format!("NOT {keyword}") } else { keyword.to_string() }
}

fn check_like(expr: &Expr, pattern: &Expr, keyword: String, hits: &mut Vec<Hit>) {
    if pattern_prefix(pattern).is_some_and(|p| p.starts_with(['%', '_'])) {
        let message =
            format!("{} {keyword} with a leading wildcard cannot use a btree index", subject(expr));
        hits.push(Hit::new(Rule::LeadingWildcardLike, message));
    }
    if string_literal(pattern).is_some_and(|p| !p.contains(['%', '_'])) {
        let message = format!(
            "{} {keyword} with a pattern without wildcards is an equality test",
            subject(expr)
        );
        hits.push(Hit::new(Rule::LikeWithoutWildcard, message));
    }
}

/// The literal a LIKE pattern starts with: the pattern itself, or the first piece of
/// `'%' || $1` / `concat('%', $1)`.
fn pattern_prefix(pattern: &Expr) -> Option<&str> {
    let mut expr = strip_nested(pattern);
    loop {
        expr = match expr {
            Expr::BinaryOp { left, op: BinaryOperator::StringConcat, .. } => strip_nested(left),
            Expr::Function(f) if base_name(&f.name) == "concat" => {
                strip_nested(function_args(f).first()?)
            }
            other => return string_literal(other),
        };
    }
}

/// Condition-tree rules for a SELECT's WHERE and JOIN ON clauses.
pub(crate) fn check_select(select: &Select, hits: &mut Vec<Hit>) {
    if let Some(condition) = &select.selection {
        check_condition(condition, "WHERE", hits);
    }
    let joins = select.from.iter().flat_map(|item| &item.joins);
    for condition in joins.filter_map(|join| join_condition(&join.join_operator)) {
        check_function_on_column(condition, "JOIN ON", hits);
    }
}

/// Condition-tree rules for a WHERE clause (of a SELECT, UPDATE or DELETE).
pub(crate) fn check_condition(condition: &Expr, clause: &str, hits: &mut Vec<Hit>) {
    check_function_on_column(condition, clause, hits);
    check_or_across_columns(condition, clause, hits);
}

fn join_condition(operator: &JoinOperator) -> Option<&Expr> {
    use JoinOperator as J;
    let constraint = match operator {
        J::Join(c)
        | J::Inner(c)
        | J::Left(c)
        | J::LeftOuter(c)
        | J::Right(c)
        | J::RightOuter(c) => c,
        J::FullOuter(c) | J::CrossJoin(c) | J::Semi(c) | J::LeftSemi(c) | J::RightSemi(c) => c,
        J::Anti(c) | J::LeftAnti(c) | J::RightAnti(c) | J::StraightJoin(c) => c,
        J::AsOf { constraint, .. } => constraint,
        _ => return None,
    };
    match constraint {
        JoinConstraint::On(expr) => Some(expr),
        _ => None,
    }
}

/// The predicates of a condition tree: its AND / OR / NOT structure taken apart, without
/// recursion (machine-generated conditions can be thousands of terms deep).
fn leaves(condition: &Expr) -> Vec<&Expr> {
    let mut stack = vec![condition];
    let mut leaves = Vec::new();
    while let Some(expr) = stack.pop() {
        match strip_nested(expr) {
            Expr::BinaryOp { left, op: BinaryOperator::And | BinaryOperator::Or, right } => {
                stack.push(right);
                stack.push(left);
            }
            Expr::UnaryOp { op: UnaryOperator::Not, expr } => stack.push(expr),
            leaf => leaves.push(leaf),
        }
    }
    leaves
}

fn check_function_on_column(condition: &Expr, clause: &str, hits: &mut Vec<Hit>) {
    for leaf in leaves(condition) {
        for operand in compared_operands(leaf) {
            if let Some((wrapper, column)) = wrapped_column(operand) {
                let message = format!(
                    "{wrapper} applied to column `{column}` in {clause}: a plain index on `{column}` cannot be used"
                );
                hits.push(Hit::new(Rule::FunctionOnColumn, message));
            }
        }
    }
}

/// The operands of a predicate that an index on a column would have to match.
fn compared_operands(predicate: &Expr) -> Vec<&Expr> {
    match predicate {
        Expr::BinaryOp { left, op, right } if is_comparison(op) => vec![left, right],
        Expr::Like { expr, .. }
        | Expr::ILike { expr, .. }
        | Expr::SimilarTo { expr, .. }
        | Expr::InList { expr, .. }
        | Expr::Between { expr, .. }
        | Expr::AnyOp { left: expr, .. }
        | Expr::AllOp { left: expr, .. } => vec![expr],
        _ => Vec::new(),
    }
}

/// `("lower()", "email")` when `expr` wraps a column in a function call or cast.
fn wrapped_column(expr: &Expr) -> Option<(String, String)> {
    let (wrapper, inner): (String, &Expr) = match strip_nested(expr) {
        Expr::Function(f) => {
            return Some((format!("`{}()`", base_name(&f.name)), first_column(f)?));
        }
        Expr::Cast { expr, data_type, .. } => (format!("a cast to {data_type}"), expr),
        Expr::Extract { expr, .. } => ("`extract()`".to_string(), expr),
        Expr::AtTimeZone { timestamp, .. } => ("AT TIME ZONE".to_string(), timestamp),
        Expr::Substring { expr, .. } => ("`substring()`".to_string(), expr),
        Expr::Trim { expr, .. } => ("`trim()`".to_string(), expr),
        Expr::Ceil { expr, .. } => ("`ceil()`".to_string(), expr),
        Expr::Floor { expr, .. } => ("`floor()`".to_string(), expr),
        _ => return None,
    };
    Some((wrapper, first_column(inner)?))
}

/// `or-across-columns`: an OR whose branches each test one column, on two or more columns.
fn check_or_across_columns(condition: &Expr, clause: &str, hits: &mut Vec<Hit>) {
    let mut stack = vec![condition];
    while let Some(expr) = stack.pop() {
        match strip_nested(expr) {
            Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
                stack.push(right);
                stack.push(left);
            }
            Expr::UnaryOp { op: UnaryOperator::Not, expr } => stack.push(expr),
            or @ Expr::BinaryOp { op: BinaryOperator::Or, .. } => {
                if let Some(columns) = or_columns(or) {
                    let list =
                        columns.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ");
                    let message =
                        format!("OR across columns {list} in {clause}: no single index serves it");
                    hits.push(Hit::new(Rule::OrAcrossColumns, message));
                }
            }
            _ => {}
        }
    }
}

/// The distinct columns tested by the branches of an OR, when every branch tests exactly one
/// column against column-free values and there are at least two such columns.
fn or_columns(or: &Expr) -> Option<Vec<String>> {
    let mut columns: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    for branch in split_on(or, &BinaryOperator::Or) {
        let column = tested_column(branch)?;
        if seen.insert(column.clone()) {
            columns.push(column);
        }
    }
    (columns.len() >= 2).then_some(columns)
}

/// The column a simple predicate tests (`col = $1`, `col IN (...)`, `col IS NULL`, ...).
fn tested_column(predicate: &Expr) -> Option<String> {
    let (subject, values): (&Expr, Vec<&Expr>) = match predicate {
        Expr::BinaryOp { left, op, right } if is_comparison(op) => match column_name(left) {
            Some(_) => (left, vec![right]),
            None => (right, vec![left]),
        },
        Expr::InList { expr, list, .. } => (expr, list.iter().collect()),
        Expr::Like { expr, pattern, .. } | Expr::ILike { expr, pattern, .. } => {
            (expr, vec![pattern])
        }
        Expr::Between { expr, low, high, .. } => (expr, vec![low, high]),
        Expr::AnyOp { left, right, .. } => (left, vec![right]),
        Expr::IsNull(expr) | Expr::IsNotNull(expr) => (expr, Vec::new()),
        _ => return None,
    };
    let column = column_name(subject)?;
    values.iter().all(|v| first_column(*v).is_none()).then_some(column)
}
