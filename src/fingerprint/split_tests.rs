//! `split_statements` against what PostgreSQL treats as one statement.

use super::split_statements;

/// The one helper: `sql` must split into exactly `expected`.
fn check(sql: &str, expected: &[&str]) {
    assert_eq!(split_statements(sql), expected, "splitting {sql:?}");
}

#[test]
fn splits_on_top_level_semicolons() {
    check("SELECT 1", &["SELECT 1"]);
    check("SELECT 1;", &["SELECT 1"]);
    check("BEGIN; SELECT 1; COMMIT;", &["BEGIN", "SELECT 1", "COMMIT"]);
    check("  SELECT 1 ;\n\tSELECT 2\n", &["SELECT 1", "SELECT 2"]);
}

#[test]
fn drops_empty_and_comment_only_pieces() {
    check("", &[]);
    check(" ;; ; ", &[]);
    check("SELECT 1;;SELECT 2", &["SELECT 1", "SELECT 2"]);
    check("-- only a comment; really\n", &[]);
    check("/* a; b */ ; SELECT 1", &["SELECT 1"]);
    check("SELECT 1; -- trailing; comment", &["SELECT 1"]);
}

#[test]
fn respects_quotes_and_comments() {
    check("SELECT 'a;b'; SELECT 2", &["SELECT 'a;b'", "SELECT 2"]);
    check("SELECT 'it''s;'; SELECT 2", &["SELECT 'it''s;'", "SELECT 2"]);
    check(r"SELECT E'\';'; SELECT 2", &[r"SELECT E'\';'", "SELECT 2"]);
    check(r"SELECT '\'; SELECT 2", &[r"SELECT '\'", "SELECT 2"]);
    check(r#"SELECT "a;b" FROM t; SELECT 2"#, &[r#"SELECT "a;b" FROM t"#, "SELECT 2"]);
    check("SELECT 1 -- x; y\n; SELECT 2", &["SELECT 1 -- x; y", "SELECT 2"]);
    check("SELECT /* a /* ; */ ; */ 1; SELECT 2", &["SELECT /* a /* ; */ ; */ 1", "SELECT 2"]);
}

#[test]
fn respects_dollar_quoting() {
    check(
        "DO $$ BEGIN PERFORM 1; END $$; SELECT 2",
        &["DO $$ BEGIN PERFORM 1; END $$", "SELECT 2"],
    );
    check("SELECT $fn$ a; $$ b; $fn$; SELECT $1", &["SELECT $fn$ a; $$ b; $fn$", "SELECT $1"]);
    check("SELECT $1; SELECT $2", &["SELECT $1", "SELECT $2"]);
}

#[test]
fn respects_parentheses_and_begin_atomic_bodies() {
    check(
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 1 END; END; SELECT 3",
        &[
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 1 END; END",
            "SELECT 3",
        ],
    );
    check(
        "create or replace procedure p() begin atomic insert into t values (1); end; commit",
        &["create or replace procedure p() begin atomic insert into t values (1); end", "commit"],
    );
    check("BEGIN; SELECT 1; END;", &["BEGIN", "SELECT 1", "END"]);
    check("SELECT (1; 2); SELECT 3", &["SELECT (1; 2)", "SELECT 3"]);
}

#[test]
fn unterminated_quotes_swallow_the_rest() {
    check("SELECT 'open; SELECT 2", &["SELECT 'open; SELECT 2"]);
    check("SELECT $$ open; SELECT 2", &["SELECT $$ open; SELECT 2"]);
}
