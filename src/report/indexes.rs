//! Unused and duplicate indexes, from the statistics views and the catalog, each with its size
//! and the statement that drops it.

use serde::Serialize;
use tokio_postgres::Client;

use super::{SectionError, describe};

/// Indexes scanned at most `$1` times since the statistics were reset, leaving out unique,
/// primary-key and constraint-backing indexes (dropping those changes behaviour).
const UNUSED_SQL: &str = "\
SELECT s.schemaname::text, s.relname::text, s.indexrelname::text, s.idx_scan::int8,
       pg_relation_size(s.indexrelid)::int8, pg_size_pretty(pg_relation_size(s.indexrelid)),
       pg_get_indexdef(s.indexrelid),
       format('DROP INDEX CONCURRENTLY %I.%I;', s.schemaname, s.indexrelname)
FROM pg_stat_user_indexes s
JOIN pg_index i ON i.indexrelid = s.indexrelid
WHERE s.idx_scan <= $1
  AND NOT i.indisunique AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = s.indexrelid)
ORDER BY 5 DESC, 1, 2, 3";

/// Indexes whose key columns (with operator classes) are a prefix of another valid index's on
/// the same table, with the same access method, predicate and expressions. The redundant side
/// is never unique and has no INCLUDE columns; of two identical indexes the newer one is named.
const DUPLICATE_SQL: &str = "\
SELECT DISTINCT ON (i.indexrelid)
       n.nspname::text, t.relname::text, ci.relname::text, cj.relname::text,
       pg_relation_size(i.indexrelid)::int8, pg_size_pretty(pg_relation_size(i.indexrelid)),
       pg_get_indexdef(i.indexrelid), pg_get_indexdef(j.indexrelid),
       format('DROP INDEX CONCURRENTLY %I.%I;', n.nspname, ci.relname)
FROM pg_index i
JOIN pg_index j ON j.indrelid = i.indrelid AND j.indexrelid <> i.indexrelid AND j.indisvalid
JOIN pg_class ci ON ci.oid = i.indexrelid
JOIN pg_class cj ON cj.oid = j.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE NOT i.indisunique AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
  AND ci.relam = cj.relam
  AND i.indnatts = i.indnkeyatts
  AND i.indnkeyatts <= j.indnkeyatts
  AND (string_to_array(i.indkey::text, ' '))[1:i.indnkeyatts]
      = (string_to_array(j.indkey::text, ' '))[1:i.indnkeyatts]
  AND (string_to_array(i.indclass::text, ' '))[1:i.indnkeyatts]
      = (string_to_array(j.indclass::text, ' '))[1:i.indnkeyatts]
  AND pg_get_expr(i.indpred, i.indrelid) IS NOT DISTINCT FROM pg_get_expr(j.indpred, j.indrelid)
  AND pg_get_expr(i.indexprs, i.indrelid) IS NOT DISTINCT FROM pg_get_expr(j.indexprs, j.indrelid)
  AND (i.indnkeyatts < j.indnkeyatts OR j.indisunique OR i.indexrelid > j.indexrelid)
ORDER BY i.indexrelid, j.indnkeyatts DESC, j.indisunique DESC";

/// An index nobody uses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnusedIndex {
    /// Schema of the table.
    pub schema: String,
    /// The table.
    pub table: String,
    /// The index.
    pub index: String,
    /// Scans since the statistics were reset.
    pub scans: i64,
    /// Size in bytes.
    pub size_bytes: i64,
    /// Size for people (`pg_size_pretty`).
    pub size: String,
    /// `CREATE INDEX …` as the catalog has it.
    pub definition: String,
    /// `DROP INDEX CONCURRENTLY schema.name;`
    pub drop: String,
}

/// An index made redundant by a wider one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DuplicateIndex {
    /// Schema of the table.
    pub schema: String,
    /// The table.
    pub table: String,
    /// The redundant index.
    pub index: String,
    /// The index that covers it.
    pub covered_by: String,
    /// Size of the redundant index in bytes.
    pub size_bytes: i64,
    /// Its size for people.
    pub size: String,
    /// Its definition.
    pub definition: String,
    /// The covering index's definition.
    pub covered_by_definition: String,
    /// `DROP INDEX CONCURRENTLY schema.name;`
    pub drop: String,
}

/// One index section: rows, or the reason there are none.
#[derive(Debug, Clone, Serialize)]
pub struct IndexSection<T> {
    /// True when the catalog was read.
    pub available: bool,
    /// What could not be done and why, or what the rows mean.
    pub note: Option<String>,
    /// The indexes found.
    pub rows: Vec<T>,
}

impl<T> IndexSection<T> {
    /// A section that could not be read, saying why.
    pub fn unavailable(note: impl Into<String>) -> IndexSection<T> {
        IndexSection { available: false, note: Some(note.into()), rows: Vec::new() }
    }

    fn from_result(result: Result<Vec<T>, SectionError>, what: &str) -> IndexSection<T> {
        match result {
            Ok(rows) => IndexSection { available: true, note: None, rows },
            Err(e) => IndexSection::unavailable(format!("could not read {what}: {}", describe(&e))),
        }
    }
}

/// Unused indexes: at most `max_scans` scans since the statistics reset.
pub async fn unused(client: &Client, max_scans: i64) -> IndexSection<UnusedIndex> {
    let mut section = IndexSection::from_result(read_unused(client, max_scans).await, "indexes");
    if section.available {
        section.note = stats_reset(client).await.map(|at| format!("scans counted since {at}"));
    }
    section
}

async fn read_unused(client: &Client, max_scans: i64) -> Result<Vec<UnusedIndex>, SectionError> {
    let rows = client.query(UNUSED_SQL, &[&max_scans]).await?;
    rows.iter()
        .map(|r| -> Result<UnusedIndex, SectionError> {
            Ok(UnusedIndex {
                schema: r.try_get(0)?,
                table: r.try_get(1)?,
                index: r.try_get(2)?,
                scans: r.try_get(3)?,
                size_bytes: r.try_get(4)?,
                size: r.try_get(5)?,
                definition: r.try_get(6)?,
                drop: r.try_get(7)?,
            })
        })
        .collect()
}

/// When this database's statistics were last reset, if the server says.
async fn stats_reset(client: &Client) -> Option<String> {
    let sql = "SELECT coalesce(stats_reset::text, 'statistics began (never reset)') \
               FROM pg_stat_database WHERE datname = current_database()";
    client.query_opt(sql, &[]).await.ok().flatten()?.try_get(0).ok()
}

/// Duplicate (redundant) indexes.
pub async fn duplicates(client: &Client) -> IndexSection<DuplicateIndex> {
    IndexSection::from_result(read_duplicates(client).await, "index definitions")
}

async fn read_duplicates(client: &Client) -> Result<Vec<DuplicateIndex>, SectionError> {
    let rows = client.query(DUPLICATE_SQL, &[]).await?;
    rows.iter()
        .map(|r| -> Result<DuplicateIndex, SectionError> {
            Ok(DuplicateIndex {
                schema: r.try_get(0)?,
                table: r.try_get(1)?,
                index: r.try_get(2)?,
                covered_by: r.try_get(3)?,
                size_bytes: r.try_get(4)?,
                size: r.try_get(5)?,
                definition: r.try_get(6)?,
                covered_by_definition: r.try_get(7)?,
                drop: r.try_get(8)?,
            })
        })
        .collect()
}
