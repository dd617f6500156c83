//! What kind of statement a pattern is, as far as burst detection cares: transaction
//! control, other utility commands, or an ordinary statement. Decided once per pattern, when
//! it is first normalized, and kept in [`super::Pattern`].

/// A statement's role for burst detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementClass {
    /// BEGIN, START TRANSACTION.
    Begin,
    /// COMMIT, END, ROLLBACK, ABORT, PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED.
    End,
    /// SAVEPOINT, RELEASE, ROLLBACK TO, SET, RESET, SHOW, DISCARD, DEALLOCATE, LISTEN, …
    Utility,
    /// Everything else (queries, DML, DDL, CALL, …).
    Ordinary,
}

/// First words of utility commands that never take part in a burst.
const UTILITY: &[&str] = &[
    "savepoint",
    "release",
    "set",
    "reset",
    "show",
    "discard",
    "deallocate",
    "listen",
    "unlisten",
    "checkpoint",
    "load",
];

/// Classifies a statement by its first one or two words (comments and whitespace skipped).
/// Compares in place, allocating nothing.
pub fn classify(sql: &str) -> StatementClass {
    let mut words = strip_leading_comments(sql)
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty());
    let first = words.next().unwrap_or_default();
    let second = words.next().unwrap_or_default();
    let is = |word: &str, keyword: &str| word.eq_ignore_ascii_case(keyword);
    if is(first, "begin") || is(first, "start") {
        StatementClass::Begin
    } else if is(first, "commit") || is(first, "end") || is(first, "abort") {
        StatementClass::End
    } else if is(first, "rollback") {
        if is(second, "to") { StatementClass::Utility } else { StatementClass::End }
    } else if is(first, "prepare") && is(second, "transaction") {
        StatementClass::End
    } else if UTILITY.iter().any(|u| is(first, u)) {
        StatementClass::Utility
    } else {
        StatementClass::Ordinary
    }
}

/// The text after any leading whitespace, `/* … */` and `-- …` comments.
fn strip_leading_comments(mut sql: &str) -> &str {
    loop {
        sql = sql.trim_start();
        if let Some(rest) = sql.strip_prefix("/*") {
            sql = rest.find("*/").map_or("", |end| &rest[end + 2..]);
        } else if let Some(rest) = sql.strip_prefix("--") {
            sql = rest.find('\n').map_or("", |end| &rest[end + 1..]);
        } else {
            return sql;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StatementClass::*;
    use super::*;

    #[test]
    fn classifies_by_leading_words() {
        let cases = [
            ("BEGIN", Begin),
            ("begin isolation level serializable", Begin),
            ("START TRANSACTION", Begin),
            ("COMMIT", End),
            ("end", End),
            ("ROLLBACK", End),
            ("ABORT", End),
            ("PREPARE TRANSACTION $1", End),
            ("COMMIT PREPARED $1", End),
            ("ROLLBACK TO SAVEPOINT active_record_1", Utility),
            ("SAVEPOINT active_record_1", Utility),
            ("RELEASE SAVEPOINT active_record_1", Utility),
            ("SET search_path = $1", Utility),
            ("SHOW server_version", Utility),
            ("DISCARD ALL", Utility),
            ("DEALLOCATE pdo_stmt_1", Utility),
            ("/* hint */ -- x\n  COMMIT", End),
            ("PREPARE q AS SELECT $1", Ordinary),
            ("SELECT * FROM settings", Ordinary),
            ("WITH x AS (SELECT 1) SELECT * FROM x", Ordinary),
            ("UPDATE t SET a = $1", Ordinary),
            ("(SELECT 1)", Ordinary),
            ("", Ordinary),
            ("/* unterminated", Ordinary),
        ];
        for (sql, class) in cases {
            assert_eq!(classify(sql), class, "{sql}");
        }
    }
}
