//! Rules on data-changing statements: UPDATE / DELETE without WHERE, INSERT without columns,
//! and the condition-tree rules for the WHERE of an UPDATE or DELETE.

use sqlparser::ast::{Delete, FromTable, Insert, Statement, TableObject, Update};

use super::catalogue::Rule;
use super::collect::Hit;
use super::predicates;
use super::syntax::{object_name, quoted_list};

/// Runs the statement-level rules on `statement` (other statements are ignored).
pub(crate) fn check(statement: &Statement, hits: &mut Vec<Hit>) {
    match statement {
        Statement::Update(update) => check_update(update, hits),
        Statement::Delete(delete) => check_delete(delete, hits),
        Statement::Insert(insert) => check_insert(insert, hits),
        _ => {}
    }
}

fn check_update(update: &Update, hits: &mut Vec<Hit>) {
    match &update.selection {
        Some(condition) => predicates::check_condition(condition, "WHERE", hits),
        None => {
            let table = match &update.table.relation {
                sqlparser::ast::TableFactor::Table { name, .. } => {
                    format!("`{}`", object_name(name))
                }
                _ => "the table".to_string(),
            };
            let message = format!("UPDATE of {table} without WHERE changes every row");
            hits.push(Hit::new(Rule::UpdateWithoutWhere, message));
        }
    }
}

fn check_delete(delete: &Delete, hits: &mut Vec<Hit>) {
    match &delete.selection {
        Some(condition) => predicates::check_condition(condition, "WHERE", hits),
        None => {
            let message =
                format!("DELETE from {} without WHERE removes every row", deleted_tables(delete));
            hits.push(Hit::new(Rule::DeleteWithoutWhere, message));
        }
    }
}

fn deleted_tables(delete: &Delete) -> String {
    let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &delete.from;
    let names: Vec<String> = from
        .iter()
        .filter_map(|item| match &item.relation {
            sqlparser::ast::TableFactor::Table { name, .. } => Some(object_name(name)),
            _ => None,
        })
        .collect();
    quoted_list(&names, "the table")
}

fn check_insert(insert: &Insert, hits: &mut Vec<Hit>) {
    if !insert.columns.is_empty() || insert.source.is_none() {
        return;
    }
    let table = match &insert.table {
        TableObject::TableName(name) => format!("`{}`", object_name(name)),
        _ => "a table".to_string(),
    };
    let message =
        format!("INSERT INTO {table} without a column list relies on the table's column order");
    hits.push(Hit::new(Rule::InsertWithoutColumns, message));
}
