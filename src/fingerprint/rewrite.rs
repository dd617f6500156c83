//! The sqlparser path: parse with the PostgreSQL dialect, replace literals through a
//! `VisitorMut`, collapse constant lists, print.
//!
//! The output is *marked* text: every replaced literal prints as [`LITERAL_MARKER`], and the
//! placeholder pass numbers them afterwards in textual order.

use std::ops::ControlFlow;
use std::panic::{self, AssertUnwindSafe};

use sqlparser::ast::{
    Expr, Query, SetExpr, UnaryOperator, Value, ValueWithSpan, VisitMut, VisitorMut,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use super::scan::{Kind, Lexer};

/// How a replaced literal prints before numbering. `$0` is no valid PostgreSQL parameter, so
/// an input `$0` is simply treated as one more literal.
pub(crate) const LITERAL_MARKER: &str = "$0";

/// The deepest AST [`parse_and_mark`] accepts, as estimated by [`too_deep`]. sqlparser
/// visits, prints and drops its AST recursively; 20 000-deep chains overflow a 2 MiB stack
/// in a debug build, 5 000 do not.
const MAX_DEPTH_ESTIMATE: usize = 1_500;

/// Parses `sql` and returns its statements, rewritten and joined by `"; "`, or `None` when
/// sqlparser rejects it or when its AST could be too deep to walk safely.
///
/// sqlparser is a large third-party parser fed arbitrary client text; a panic inside it must
/// not take the analysis thread down, so it is caught and treated as a parse failure.
pub(crate) fn parse_and_mark(sql: &str) -> Option<String> {
    if too_deep(sql) {
        return None;
    }
    panic::catch_unwind(AssertUnwindSafe(|| {
        let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).ok()?;
        let _ = statements.visit(&mut Literalizer);
        let printed: Vec<String> = statements.iter().map(ToString::to_string).collect();
        Some(printed.join("; "))
    }))
    .ok()
    .flatten()
}

/// Whether the AST of `sql` could be deeper than [`MAX_DEPTH_ESTIMATE`].
///
/// sqlparser bounds its own recursion, but builds operator chains (`a OR b OR …`, `x::t::t`,
/// `UNION …`, `x[1][2]…`) in loops, as ASTs as deep as the chain is long. The estimate is the
/// number of operators, chaining keywords and brackets on the path from the top level to
/// each token, a comma starting a new item of its list: an upper bound on that depth.
fn too_deep(sql: &str) -> bool {
    let mut levels = vec![0usize];
    let mut depth = 0usize;
    for tok in Lexer::new(sql) {
        let counts = match (tok.kind, tok.first()) {
            (Kind::Punct, b'(' | b'[') => {
                levels.push(0);
                true
            }
            (Kind::Punct, b')' | b']') if levels.len() > 1 => {
                depth = depth.saturating_sub(levels.pop().unwrap_or(0));
                false
            }
            (Kind::Punct, b',' | b';') => {
                let level = levels.last_mut().map(std::mem::take).unwrap_or(0);
                depth = depth.saturating_sub(level);
                false
            }
            (Kind::Op, _) => true,
            (Kind::Word, _) => CHAIN_WORDS.iter().any(|w| tok.is_word(w)),
            _ => false,
        };
        if counts {
            let len = levels.len();
            // An opening bracket counts in the level it was opened from.
            let at = if tok.kind == Kind::Punct { len - 2 } else { len - 1 };
            if let Some(level) = levels.get_mut(at) {
                *level += 1;
            }
            depth += 1;
        }
        if depth > MAX_DEPTH_ESTIMATE {
            return true;
        }
    }
    false
}

/// Keywords that chain expressions or queries without brackets.
const CHAIN_WORDS: &[&str] = &[
    "and",
    "or",
    "not",
    "is",
    "isnull",
    "notnull",
    "like",
    "ilike",
    "similar",
    "between",
    "in",
    "at",
    "collate",
    "overlaps",
    "escape",
    "union",
    "intersect",
    "except",
    "operator",
];

/// Replaces literals by the marker and collapses what varies only in length.
struct Literalizer;

impl VisitorMut for Literalizer {
    type Break = ();

    fn post_visit_value(&mut self, value: &mut ValueWithSpan) -> ControlFlow<()> {
        if is_literal(&value.value) {
            value.value = marker();
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::UnaryOp { op, expr: inner }
                if matches!(op, UnaryOperator::Minus | UnaryOperator::Plus) && is_marker(inner) =>
            {
                *expr = Expr::value(marker());
            }
            Expr::InList { list, .. } if list.iter().all(is_constant) => list.truncate(1),
            Expr::Array(array) if array.elem.iter().all(is_constant) => array.elem.truncate(1),
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let SetExpr::Values(values) = query.body.as_mut() {
            values.rows.truncate(1);
        }
        ControlFlow::Continue(())
    }
}

fn marker() -> Value {
    Value::Placeholder(LITERAL_MARKER.to_string())
}

/// Literals are every value except booleans, NULL and parameters, which say something about
/// the statement's shape (pg_stat_statements keeps them too).
fn is_literal(value: &Value) -> bool {
    !matches!(value, Value::Boolean(_) | Value::Null | Value::Placeholder(_))
}

fn is_marker(expr: &Expr) -> bool {
    matches!(expr, Expr::Value(v) if matches!(&v.value, Value::Placeholder(p) if p == LITERAL_MARKER))
}

/// A constant: a value (literal, parameter, boolean, NULL), possibly signed, cast, typed,
/// parenthesized, or a row or array of constants. Lists of these collapse to their first.
fn is_constant(expr: &Expr) -> bool {
    match expr {
        Expr::Value(_) | Expr::TypedString(_) => true,
        Expr::Cast { expr, .. } | Expr::Nested(expr) => is_constant(expr),
        Expr::UnaryOp { op, expr } => {
            matches!(op, UnaryOperator::Minus | UnaryOperator::Plus) && is_constant(expr)
        }
        Expr::Tuple(items) => items.iter().all(is_constant),
        Expr::Array(array) => array.elem.iter().all(is_constant),
        _ => false,
    }
}
