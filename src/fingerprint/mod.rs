//! Statement → pattern: literals become placeholders so that statements differing only in
//! their values share one pattern, the unit pgscope keeps statistics for.
//!
//! Pure: no I/O, no tokio, never panics on any input.
//!
//! # How a statement is normalized
//! 0. The text is put in canonical form (`canon.rs`): comments dropped, whitespace collapsed,
//!    literals replaced by a fixed literal of their kind. [`memo_key`] hashes the same form,
//!    so equal keys give equal patterns by construction.
//! 1. sqlparser (PostgreSQL dialect) parses the text; a `VisitorMut` (`rewrite.rs`) replaces
//!    literals and collapses constant lists; the AST is printed back (keywords uppercase,
//!    identifiers as sqlparser prints them, statements joined by `"; "`).
//! 2. If sqlparser rejects the text, it is split with [`split_statements`] and each piece is
//!    parsed again or, failing that, normalized by the token fallback (`fallback.rs`);
//!    [`Pattern::parsed`] is false then.
//! 3. The placeholder pass (`placeholders.rs`) numbers placeholders in textual order.
//!
//! # Representation choices
//! - Every literal (numbers, `'…'`, `E'…'`, `$$…$$`, `B'…'`/`X'…'`/`U&'…'`, typed literals'
//!   strings) becomes `$n`; `DATE '2020-01-01'` → `DATE $1`, `'x'::int` → `$1::INT`,
//!   `INTERVAL '1 day'` → `INTERVAL $1`, `LIMIT 21 OFFSET 5` → `LIMIT $1 OFFSET $2`.
//! - `true`, `false` and `NULL` stay as they are.
//! - A signed literal is one placeholder: `abalance + -4047` → `abalance + $1`, the same as
//!   pgbench's extended-protocol `abalance + $1`.
//! - Parameters already there (`$1`, `$2`) are kept, compacted to `$1..$n` if a collapse
//!   left gaps; literals are numbered after them, like pg_stat_statements does.
//! - Lists of constants collapse to their first element, whatever their length:
//!   `IN (1, 2, 3)` and `IN ($1, $2, $3)` → `IN ($1)`, `ARRAY[1, 2]` → `ARRAY[$1]`,
//!   `= ANY('{1,2}')` → `= ANY($1)`, `(a, b) IN ((1, 2), (3, 4))` → `(a, b) IN (($1, $2))`.
//!   A constant is a literal, parameter, boolean or NULL, possibly signed, cast or nested.
//! - Multi-row `VALUES (…), (…)` keeps only its first row: `VALUES ($1, $2)`, so a 1-row and a
//!   50-row INSERT share a pattern.
//! - `ORDER BY 1` is a literal to sqlparser too: `ORDER BY $1`.
//! - Fallback: comments dropped, literals replaced, `IN (…)` of constants collapsed, case
//!   kept as written, canonical spacing.
//!
//! # Pattern ids
//! [`PatternId`] is xxh3-64 (seed 0) of the pattern text: the same on every run and machine,
//! as long as the normalization (and the sqlparser version printing it) does not change.

mod canon;
pub mod classify;
mod context;
mod fallback;
mod key;
mod memo;
mod placeholders;
mod rewrite;
mod scan;
mod split;

#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod property_tests;
#[cfg(test)]
mod split_tests;

use std::fmt;

use xxhash_rust::xxh3::xxh3_64;

pub use classify::StatementClass;
pub use key::memo_key;
pub use memo::Fingerprinter;
pub use split::split_statements;

/// A 64-bit stable pattern id: xxh3-64 of the pattern text, printed as 16 lowercase hex
/// digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PatternId(pub u64);

impl PatternId {
    /// The id of a normalized text.
    pub fn of(text: &str) -> Self {
        PatternId(xxh3_64(text.as_bytes()))
    }
}

impl fmt::Display for PatternId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A normalized statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// `PatternId::of(&text)`.
    pub id: PatternId,
    /// Normalized text, never containing literal values.
    pub text: String,
    /// true when sqlparser parsed it; false when the token-level fallback produced it.
    pub parsed: bool,
    /// Transaction control, another utility command, or an ordinary statement.
    pub class: StatementClass,
}

/// Full normalization: sqlparser (PostgreSQL dialect) + visitor, token fallback on parse
/// failure. See the module docs for the rules.
pub fn normalize(sql: &str) -> Pattern {
    let (marked, parsed) = mark(&canon::canonical(sql));
    let text = placeholders::number_placeholders(&marked);
    Pattern { id: PatternId::of(&text), class: classify::classify(&text), text, parsed }
}

/// Marked text (literals as markers, not yet numbered) and whether sqlparser parsed it all,
/// from the canonical form of a statement.
fn mark(sql: &str) -> (String, bool) {
    if let Some(marked) = rewrite::parse_and_mark(sql) {
        return (marked, true);
    }
    let pieces = split_statements(sql);
    if let [only] = pieces[..] {
        // The statement itself is what sqlparser rejected.
        return (fallback::fallback_mark(only), false);
    }
    let mut parsed = !pieces.is_empty();
    let pieces: Vec<String> = pieces
        .into_iter()
        .map(|piece| {
            rewrite::parse_and_mark(piece).unwrap_or_else(|| {
                parsed = false;
                fallback::fallback_mark(piece)
            })
        })
        .collect();
    (pieces.join("; "), parsed)
}
