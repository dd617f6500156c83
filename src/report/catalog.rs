//! The slice of the catalog the index sections need: the tables a pattern names (resolved
//! with the analysis connection's `search_path`), their columns, row estimates and indexes.
//! Everything here is readable by any role.

use std::collections::HashMap;
use std::sync::Arc;

use tokio_postgres::Client;

use super::SectionError;
use super::predicates::TableRef;

/// Resolves a table name to a user table, partitioned table or materialized view.
const TABLE_SQL: &str = "\
SELECT c.oid, n.nspname::text, c.relname::text,
       (CASE WHEN c.reltuples < 0 THEN coalesce(s.n_live_tup, 0) ELSE c.reltuples END)::float8
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'";

const COLUMNS_SQL: &str = "\
SELECT attname::text FROM pg_attribute
WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum";

/// Valid indexes with their key columns (a column name, or the expression's text) and
/// operator classes, in key order.
const INDEXES_SQL: &str = "\
SELECT ci.relname::text, am.amname::text, i.indpred IS NOT NULL,
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true)
             FROM generate_series(1, i.indnkeyatts::int) k ORDER BY k),
       ARRAY(SELECT o.opcname::text FROM generate_series(1, i.indnkeyatts::int) k
             JOIN pg_opclass o ON o.oid = i.indclass[k - 1] ORDER BY k)
FROM pg_index i
JOIN pg_class ci ON ci.oid = i.indexrelid
JOIN pg_am am ON am.oid = ci.relam
WHERE i.indrelid = $1 AND i.indisvalid
ORDER BY ci.relname";

/// One existing index.
#[derive(Debug, Clone, PartialEq)]
pub struct Index {
    /// Index name.
    pub name: String,
    /// Access method (`btree`, `hash`, `gin`, …).
    pub method: String,
    /// True for a partial index (`WHERE …`); not counted as covering anything.
    pub partial: bool,
    /// Key columns: names, or expression texts as `pg_get_indexdef` prints them.
    pub keys: Vec<String>,
    /// Operator class of each key.
    pub opclasses: Vec<String>,
}

/// One resolved table.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Its oid.
    pub oid: u32,
    /// Schema.
    pub schema: String,
    /// Name.
    pub name: String,
    /// The planner's row estimate (`reltuples`, or live tuples before the first ANALYZE).
    pub rows: f64,
    /// Column names.
    pub columns: Vec<String>,
    /// Valid indexes.
    pub indexes: Vec<Index>,
}

impl Table {
    /// `schema.table`, quoted where needed.
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

/// Quotes an identifier when PostgreSQL would not read it back as written.
pub fn quote_ident(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain { name.to_string() } else { format!("\"{}\"", name.replace('"', "\"\"")) }
}

/// Tables looked up so far, by the name the pattern used; `None` for names that are not user
/// tables (views, catalogs, CTEs, typos).
#[derive(Default)]
pub struct Catalog {
    tables: HashMap<String, Option<Arc<Table>>>,
}

impl Catalog {
    /// The table a pattern's FROM entry names, read once per report.
    pub async fn table(
        &mut self,
        client: &Client,
        t: &TableRef,
    ) -> Result<Option<Arc<Table>>, SectionError> {
        let name = match &t.schema {
            Some(s) => format!("{}.{}", quote_ident(s), quote_ident(&t.name)),
            None => quote_ident(&t.name),
        };
        if let Some(known) = self.tables.get(&name) {
            return Ok(known.clone());
        }
        let table = read_table(client, &name).await?.map(Arc::new);
        self.tables.insert(name, table.clone());
        Ok(table)
    }
}

async fn read_table(client: &Client, name: &str) -> Result<Option<Table>, SectionError> {
    let Some(row) = client.query_opt(TABLE_SQL, &[&name]).await? else { return Ok(None) };
    let oid: u32 = row.try_get(0)?;
    let columns = client.query(COLUMNS_SQL, &[&oid]).await?;
    let columns = columns.iter().map(|r| r.try_get(0)).collect::<Result<Vec<String>, _>>()?;
    let indexes = client.query(INDEXES_SQL, &[&oid]).await?;
    let indexes = indexes
        .iter()
        .map(|r| -> Result<Index, tokio_postgres::Error> {
            Ok(Index {
                name: r.try_get(0)?,
                method: r.try_get(1)?,
                partial: r.try_get(2)?,
                keys: r.try_get(3)?,
                opclasses: r.try_get(4)?,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Table {
        oid,
        schema: row.try_get(1)?,
        name: row.try_get(2)?,
        rows: row.try_get(3)?,
        columns,
        indexes,
    }))
}

/// True when the database's default collation sorts bytewise (`C`/`POSIX`), so a plain
/// B-tree on text also serves anchored `LIKE`.
pub async fn c_collation(client: &Client) -> bool {
    let sql = "SELECT datcollate IN ('C', 'POSIX') FROM pg_database \
               WHERE datname = current_database()";
    match client.query_opt(sql, &[]).await {
        Ok(Some(row)) => row.try_get(0).unwrap_or(false),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::quote_ident;

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(quote_ident("books"), "books");
        assert_eq!(quote_ident("Books"), "\"Books\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident("2x"), "\"2x\"");
    }
}
