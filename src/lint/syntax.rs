//! Small read-only questions about sqlparser AST nodes, shared by the rules.
//!
//! Names come back unquoted (`auth_user.id`, not `"auth_user"."id"`) so that messages read
//! well; literal values are never returned for use in messages (they may be parameters).

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Ident,
    ObjectName, Query, Select, TableFactor, Value, Visit, Visitor,
};

/// Peels any number of parentheses: `((x))` → `x`.
pub(super) fn strip_nested(mut expr: &Expr) -> &Expr {
    while let Expr::Nested(inner) = expr {
        expr = inner;
    }
    expr
}

/// The dotted, unquoted name of a plain column reference (`email`, `users.email`).
pub(super) fn column_name(expr: &Expr) -> Option<String> {
    match strip_nested(expr) {
        Expr::Identifier(ident) => Some(ident.value.clone()),
        Expr::CompoundIdentifier(parts) => Some(dotted(parts)),
        _ => None,
    }
}

/// The relation qualifier of a column reference: `u` in `u.id`, `users` in `public.users.id`.
/// `None` for an unqualified column.
pub(super) fn column_qualifier(expr: &Expr) -> Option<String> {
    match expr {
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
            Some(parts[parts.len() - 2].value.to_lowercase())
        }
        _ => None,
    }
}

/// The dotted, unquoted form of an object name (`public.users`).
pub(super) fn object_name(name: &ObjectName) -> String {
    let parts: Vec<&str> =
        name.0.iter().filter_map(|p| p.as_ident()).map(|i| i.value.as_str()).collect();
    parts.join(".")
}

/// The last part of an object name, lower-cased (`random` for `pg_catalog.random`).
pub(super) fn base_name(name: &ObjectName) -> String {
    name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.to_lowercase()).unwrap_or_default()
}

fn dotted(parts: &[Ident]) -> String {
    parts.iter().map(|i| i.value.as_str()).collect::<Vec<_>>().join(".")
}

/// The text of a string literal of any quoting style (`'x'`, `E'x'`, `$$x$$`).
pub(super) fn string_literal(expr: &Expr) -> Option<&str> {
    let Expr::Value(value) = strip_nested(expr) else { return None };
    match &value.value {
        Value::SingleQuotedString(s)
        | Value::EscapedStringLiteral(s)
        | Value::UnicodeStringLiteral(s)
        | Value::NationalStringLiteral(s) => Some(s),
        Value::DollarQuotedString(d) => Some(&d.value),
        _ => None,
    }
}

/// The value of a non-negative numeric literal, if it is one (`50000`, `1e5`).
pub(super) fn number_literal(expr: &Expr) -> Option<f64> {
    let Expr::Value(value) = strip_nested(expr) else { return None };
    match &value.value {
        Value::Number(text, _) => text.parse::<f64>().ok(),
        _ => None,
    }
}

/// Whether the expression is the `NULL` literal.
pub(super) fn is_null_literal(expr: &Expr) -> bool {
    matches!(strip_nested(expr), Expr::Value(v) if v.value == Value::Null)
}

/// Whether `op` compares its operands (`=`, `<>`, `<`, `<=`, `>`, `>=`).
pub(super) fn is_comparison(op: &BinaryOperator) -> bool {
    use BinaryOperator::{Eq, Gt, GtEq, Lt, LtEq, NotEq};
    matches!(op, Eq | NotEq | Lt | LtEq | Gt | GtEq)
}

/// The expression arguments of a function call (named or positional), in order.
pub(super) fn function_args(function: &Function) -> Vec<&Expr> {
    let FunctionArguments::List(list) = &function.args else { return Vec::new() };
    list.args
        .iter()
        .filter_map(|arg| match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e))
            | FunctionArg::Named { arg: FunctionArgExpr::Expr(e), .. }
            | FunctionArg::ExprNamed { arg: FunctionArgExpr::Expr(e), .. } => Some(e),
            _ => None,
        })
        .collect()
}

/// Splits a condition on `op` (`AND` or `OR`) through parentheses, without recursion, so
/// that a machine-generated chain of thousands of terms cannot exhaust the stack.
pub(super) fn split_on<'a>(expr: &'a Expr, op: &BinaryOperator) -> Vec<&'a Expr> {
    let mut stack = vec![expr];
    let mut terms = Vec::new();
    while let Some(e) = stack.pop() {
        match strip_nested(e) {
            Expr::BinaryOp { left, op: o, right } if o == op => {
                stack.push(right);
                stack.push(left);
            }
            other => terms.push(other),
        }
    }
    terms
}

/// Calls `f` on every expression of `node` that belongs to the current query level, that is
/// without descending into subqueries (which the linter visits on their own).
pub(super) fn visit_shallow<N: Visit>(node: &N, f: impl FnMut(&Expr) -> ControlFlow<()>) {
    let mut visitor = Shallow { depth: 0, f };
    let _ = node.visit(&mut visitor);
}

struct Shallow<F> {
    depth: usize,
    f: F,
}

impl<F: FnMut(&Expr) -> ControlFlow<()>> Visitor for Shallow<F> {
    type Break = ();

    fn pre_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if self.depth == 0 { (self.f)(expr) } else { ControlFlow::Continue(()) }
    }
}

/// The first column referenced by `expr` at its own query level, if any.
pub(super) fn first_column<N: Visit>(node: &N) -> Option<String> {
    let mut found = None;
    visit_shallow(node, |e| match column_name(e) {
        Some(name) => {
            found = Some(name);
            ControlFlow::Break(())
        }
        None => ControlFlow::Continue(()),
    });
    found
}

/// The plain tables a `FROM` clause reads (joins included), as unquoted names.
pub(super) fn from_tables(select: &Select) -> Vec<String> {
    let mut tables = Vec::new();
    for item in &select.from {
        let factors = std::iter::once(&item.relation).chain(item.joins.iter().map(|j| &j.relation));
        for factor in factors {
            if let TableFactor::Table { name, args: None, .. } = factor {
                tables.push(object_name(name));
            }
        }
    }
    tables
}

/// `` `a`, `b` `` for messages; `fallback` when the list is empty.
pub(super) fn quoted_list(names: &[String], fallback: &str) -> String {
    if names.is_empty() {
        return fallback.to_string();
    }
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}
