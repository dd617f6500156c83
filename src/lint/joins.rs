//! `implicit-cross-join`: tables listed with commas in FROM that no WHERE condition links.
//!
//! Each comma-separated FROM item (a table with its explicit JOINs) is a node; every WHERE
//! conjunct that qualifies columns of two items links them. Only plain tables must end up
//! linked: table functions, `unnest(...)` and derived tables are commonly one-row or LATERAL
//! and are left out. A conjunct comparing columns with an unqualified one cannot be
//! attributed, so the rule stays silent rather than guess.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, Select, TableFactor, TableWithJoins, visit_expressions,
};

use super::catalogue::Rule;
use super::collect::Hit;
use super::syntax::{base_name, column_name, column_qualifier, split_on};

/// Raises `implicit-cross-join` when the plain tables of a comma-separated FROM are not all
/// linked by the WHERE clause.
pub(crate) fn check(select: &Select, hits: &mut Vec<Hit>) {
    let items: Vec<FromItem> = select.from.iter().map(FromItem::new).collect();
    if items.iter().filter(|item| item.plain).count() < 2 {
        return;
    }
    let mut links = Links::new(items.len());
    if let Some(condition) = &select.selection {
        for conjunct in split_on(condition, &BinaryOperator::And) {
            match linked_items(conjunct, &items) {
                Some(linked) => links.join_all(&linked),
                None => return,
            }
        }
    }
    if let Some(message) = unlinked_message(&items, &mut links) {
        hits.push(Hit::new(Rule::ImplicitCrossJoin, message));
    }
}

/// One comma-separated entry of FROM.
struct FromItem {
    /// The names its tables can be referred by (aliases and table names), lower-cased.
    names: Vec<String>,
    /// How a message refers to it.
    label: String,
    /// Whether it starts with a plain table (not a function, subquery or `unnest`).
    plain: bool,
}

impl FromItem {
    fn new(item: &TableWithJoins) -> FromItem {
        let mut names = factor_names(&item.relation);
        for join in &item.joins {
            names.extend(factor_names(&join.relation));
        }
        let plain = matches!(item.relation, TableFactor::Table { args: None, .. });
        let label = match &item.relation {
            TableFactor::Table { name, .. } => super::syntax::object_name(name),
            _ => "a subquery".to_string(),
        };
        FromItem { names, label, plain }
    }
}

/// The names a table factor can be referred by: its alias and, for a table, its name.
pub(crate) fn factor_names(factor: &TableFactor) -> Vec<String> {
    let mut names = Vec::new();
    match factor {
        TableFactor::Table { name, .. } => names.push(base_name(name)),
        TableFactor::NestedJoin { table_with_joins, .. } => {
            names.extend(FromItem::new(table_with_joins).names);
        }
        _ => {}
    }
    let alias = match factor {
        TableFactor::Table { alias, .. }
        | TableFactor::Derived { alias, .. }
        | TableFactor::Function { alias, .. }
        | TableFactor::UNNEST { alias, .. }
        | TableFactor::TableFunction { alias, .. }
        | TableFactor::NestedJoin { alias, .. } => alias.as_ref(),
        _ => None,
    };
    names.extend(alias.map(|a| a.name.value.to_lowercase()));
    names
}

/// The FROM items a conjunct refers to; `None` when it compares columns that cannot be
/// attributed (an unqualified column next to another column).
fn linked_items(conjunct: &Expr, items: &[FromItem]) -> Option<Vec<usize>> {
    let mut linked = Vec::new();
    let mut columns = 0;
    let mut unqualified = false;
    let _ = visit_expressions(conjunct, |e| {
        if column_name(e).is_some() && !matches!(e, Expr::Nested(_)) {
            columns += 1;
            match column_qualifier(e) {
                Some(q) => linked.extend(items.iter().position(|item| item.names.contains(&q))),
                None => unqualified = true,
            }
        }
        ControlFlow::<()>::Continue(())
    });
    if unqualified && columns > 1 { None } else { Some(linked) }
}

/// A message naming the plain tables not linked to the first one, if any.
fn unlinked_message(items: &[FromItem], links: &mut Links) -> Option<String> {
    let plain: Vec<usize> = (0..items.len()).filter(|&i| items[i].plain).collect();
    let &first = plain.first()?;
    let apart: Vec<String> = plain
        .iter()
        .filter(|&&i| links.root(i) != links.root(first))
        .map(|&i| format!("`{}`", items[i].label))
        .collect();
    if apart.is_empty() {
        return None;
    }
    Some(format!(
        "`{}` and {} are listed in FROM with no condition joining them (Cartesian product)",
        items[first].label,
        apart.join(", ")
    ))
}

/// Union-find over FROM items.
struct Links(Vec<usize>);

impl Links {
    fn new(n: usize) -> Links {
        Links((0..n).collect())
    }

    fn root(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }

    fn join_all(&mut self, items: &[usize]) {
        for pair in items.windows(2) {
            let (a, b) = (self.root(pair[0]), self.root(pair[1]));
            self.0[a] = b;
        }
    }
}
