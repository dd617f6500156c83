use std::collections::BTreeSet;

use super::catalogue::Rule;
use super::*;

fn linter() -> Linter {
    Linter::new(&LintConfig::default()).expect("the default config is valid")
}

fn fired(sql: &str) -> BTreeSet<&'static str> {
    linter().check(sql).into_iter().map(|f| f.rule_id).collect()
}

/// The one helper every rule case goes through.
fn check_rule(sql: &str, rule_id: &str, should_fire: bool) {
    assert!(rules().iter().any(|r| r.id == rule_id), "no rule `{rule_id}` in the catalogue");
    let findings = linter().check(sql);
    let fires = findings.iter().any(|f| f.rule_id == rule_id);
    assert_eq!(fires, should_fire, "rule `{rule_id}` on `{sql}`: findings {findings:#?}");
}

/// `(sql, rule, should_fire)`: for every rule, statements that trip it and close ones that
/// must not. Literal-dependent rules are given both a raw and a normalized form.
const CASES: &[(&str, &str, bool)] = &[
    // select-star
    ("SELECT * FROM users WHERE id = $1", "select-star", true),
    (r#"SELECT "users".* FROM "users""#, "select-star", true),
    ("SELECT u.*, o.id FROM users u JOIN orders o ON o.user_id = u.id", "select-star", true),
    ("SELECT count(*) FROM users", "select-star", false),
    ("SELECT id, email FROM users", "select-star", false),
    (
        "SELECT id FROM users u WHERE EXISTS (SELECT * FROM orders o WHERE o.user_id = u.id)",
        "select-star",
        false,
    ),
    ("INSERT INTO users (email) VALUES ($1) RETURNING *", "select-star", false),
    // limit-without-order
    ("SELECT id FROM users WHERE email = $1 LIMIT $2", "limit-without-order", true),
    ("SELECT id FROM users LIMIT 10", "limit-without-order", true),
    ("SELECT id FROM users FETCH FIRST 5 ROWS ONLY", "limit-without-order", true),
    (
        "SELECT id FROM users WHERE id IN (SELECT user_id FROM orders LIMIT 100)",
        "limit-without-order",
        true,
    ),
    ("SELECT id FROM users ORDER BY id LIMIT $1", "limit-without-order", false),
    (
        "SELECT id FROM users u WHERE EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id LIMIT 1)",
        "limit-without-order",
        false,
    ),
    ("SELECT * FROM users LIMIT 0", "limit-without-order", false),
    (
        r#"SELECT 1 AS one FROM "users" WHERE "users"."email" = $1 LIMIT $2"#,
        "limit-without-order",
        false,
    ),
    ("SELECT id FROM users LIMIT ALL", "limit-without-order", false),
    // large-offset (needs raw SQL)
    ("SELECT id FROM users ORDER BY id LIMIT 20 OFFSET 50000", "large-offset", true),
    ("SELECT id FROM users ORDER BY id LIMIT 20 OFFSET 1000", "large-offset", true),
    (
        "SELECT id FROM users ORDER BY id OFFSET 5000 ROWS FETCH NEXT 20 ROWS ONLY",
        "large-offset",
        true,
    ),
    ("SELECT id FROM users ORDER BY id LIMIT $1 OFFSET $2", "large-offset", false),
    ("SELECT id FROM users ORDER BY id LIMIT 20 OFFSET 999", "large-offset", false),
    // offset-without-limit
    ("SELECT id FROM users ORDER BY id OFFSET $1", "offset-without-limit", true),
    ("SELECT id FROM users ORDER BY id LIMIT ALL OFFSET 10", "offset-without-limit", true),
    ("SELECT id FROM users ORDER BY id LIMIT $1 OFFSET $2", "offset-without-limit", false),
    (
        "SELECT id FROM users ORDER BY id OFFSET 10 ROWS FETCH FIRST 10 ROWS ONLY",
        "offset-without-limit",
        false,
    ),
    // order-by-random
    ("SELECT id FROM quotes ORDER BY random() LIMIT 1", "order-by-random", true),
    ("SELECT id FROM quotes ORDER BY RANDOM()", "order-by-random", true),
    ("SELECT id, random() AS r FROM quotes ORDER BY id", "order-by-random", false),
    ("SELECT id FROM quotes ORDER BY created_at DESC", "order-by-random", false),
    // union-instead-of-union-all
    ("SELECT id FROM a UNION SELECT id FROM b", "union-instead-of-union-all", true),
    (
        "SELECT id FROM a UNION ALL SELECT id FROM b UNION SELECT id FROM c",
        "union-instead-of-union-all",
        true,
    ),
    ("SELECT id FROM a UNION ALL SELECT id FROM b", "union-instead-of-union-all", false),
    ("SELECT id FROM a UNION DISTINCT SELECT id FROM b", "union-instead-of-union-all", false),
    ("SELECT id FROM a EXCEPT SELECT id FROM b", "union-instead-of-union-all", false),
    // implicit-cross-join
    ("SELECT a.id FROM a, b", "implicit-cross-join", true),
    ("SELECT a.id FROM a, b WHERE a.status = $1", "implicit-cross-join", true),
    ("SELECT * FROM a, b, c WHERE a.id = b.a_id", "implicit-cross-join", true),
    ("SELECT a.id FROM a JOIN b ON a.id = b.a_id", "implicit-cross-join", false),
    ("SELECT a.id FROM a, b WHERE a.id = b.a_id", "implicit-cross-join", false),
    (
        "SELECT x.id FROM a x, b y WHERE y.a_id = x.id AND x.status = $1",
        "implicit-cross-join",
        false,
    ),
    ("SELECT * FROM a, b, c WHERE a.id = b.a_id AND c.b_id = b.id", "implicit-cross-join", false),
    ("SELECT a.id FROM a CROSS JOIN b", "implicit-cross-join", false),
    ("SELECT t.id, tag FROM t, unnest(t.tags) AS tag", "implicit-cross-join", false),
    ("SELECT a.id FROM a, b WHERE a_id = id", "implicit-cross-join", false),
    // having-without-aggregate
    (
        "SELECT status, count(*) FROM orders GROUP BY status HAVING status = $1",
        "having-without-aggregate",
        true,
    ),
    (
        "SELECT status, count(*) FROM orders GROUP BY status HAVING count(*) > $1",
        "having-without-aggregate",
        false,
    ),
    (
        "SELECT status FROM orders GROUP BY status HAVING sum(total) > $1 AND status <> $2",
        "having-without-aggregate",
        false,
    ),
    // correlated-subquery-in-select
    (
        "SELECT u.id, (SELECT count(*) FROM orders o WHERE o.user_id = u.id) FROM users u",
        "correlated-subquery-in-select",
        true,
    ),
    (
        "SELECT users.id, (SELECT max(o.total) FROM orders o WHERE o.user_id = users.id) AS m FROM users",
        "correlated-subquery-in-select",
        true,
    ),
    (
        "SELECT u.id, (SELECT count(*) FROM orders) FROM users u",
        "correlated-subquery-in-select",
        false,
    ),
    (
        "SELECT u.id FROM users u WHERE u.id IN (SELECT o.user_id FROM orders o WHERE o.total > $1)",
        "correlated-subquery-in-select",
        false,
    ),
    // leading-wildcard-like (needs raw SQL, or the pattern built with ||)
    ("SELECT id FROM users WHERE email LIKE '%@example.com'", "leading-wildcard-like", true),
    ("SELECT id FROM users WHERE name ILIKE '%ann%'", "leading-wildcard-like", true),
    ("SELECT id FROM users WHERE name NOT LIKE '_x'", "leading-wildcard-like", true),
    ("SELECT id FROM users WHERE name LIKE '%' || $1 || '%'", "leading-wildcard-like", true),
    ("SELECT id FROM users WHERE name LIKE concat('%', $1)", "leading-wildcard-like", true),
    ("SELECT id FROM users WHERE name LIKE 'abc%'", "leading-wildcard-like", false),
    ("SELECT id FROM users WHERE name LIKE $1", "leading-wildcard-like", false),
    ("SELECT id FROM users WHERE name LIKE $1 || '%'", "leading-wildcard-like", false),
    // like-without-wildcard (needs raw SQL)
    ("SELECT id FROM users WHERE email LIKE 'a@b.c'", "like-without-wildcard", true),
    ("SELECT id FROM users WHERE email ILIKE 'ann'", "like-without-wildcard", true),
    ("SELECT id FROM users WHERE email LIKE 'ann%'", "like-without-wildcard", false),
    ("SELECT id FROM users WHERE email LIKE $1", "like-without-wildcard", false),
    ("SELECT id FROM users WHERE email LIKE 'a_c'", "like-without-wildcard", false),
    // not-in-subquery
    ("SELECT id FROM users WHERE id NOT IN (SELECT user_id FROM bans)", "not-in-subquery", true),
    ("SELECT id FROM users WHERE id IN (SELECT user_id FROM bans)", "not-in-subquery", false),
    ("SELECT id FROM users WHERE id NOT IN ($1)", "not-in-subquery", false),
    (
        "SELECT id FROM users u WHERE NOT EXISTS (SELECT 1 FROM bans b WHERE b.user_id = u.id)",
        "not-in-subquery",
        false,
    ),
    // equals-null
    ("SELECT id FROM users WHERE deleted_at = NULL", "equals-null", true),
    ("SELECT id FROM users WHERE NULL <> deleted_at", "equals-null", true),
    ("DELETE FROM sessions WHERE user_id = $1 AND expires_at != NULL", "equals-null", true),
    ("SELECT id FROM users WHERE deleted_at IS NULL", "equals-null", false),
    ("UPDATE users SET deleted_at = NULL WHERE id = $1", "equals-null", false),
    ("SELECT id FROM users WHERE deleted_at IS NOT DISTINCT FROM $1", "equals-null", false),
    // function-on-column
    ("SELECT id FROM users WHERE lower(email) = $1", "function-on-column", true),
    ("SELECT id FROM events WHERE created_at::date = $1", "function-on-column", true),
    ("SELECT id FROM events WHERE date_trunc('day', ts) = $1", "function-on-column", true),
    ("SELECT id FROM events WHERE CAST(ts AS date) BETWEEN $1 AND $2", "function-on-column", true),
    ("SELECT id FROM events WHERE extract(year FROM ts) = $1", "function-on-column", true),
    ("SELECT id FROM users WHERE coalesce(deleted, false) = false", "function-on-column", true),
    ("SELECT e.id FROM events e JOIN days d ON e.ts::date = d.day", "function-on-column", true),
    ("UPDATE users SET active = false WHERE lower(email) = $1", "function-on-column", true),
    ("SELECT id FROM users WHERE email = lower($1)", "function-on-column", false),
    ("SELECT id FROM events WHERE ts >= $1::date AND ts < $2::date", "function-on-column", false),
    ("SELECT id FROM events WHERE ts > now() - interval '1 day'", "function-on-column", false),
    ("SELECT lower(email) FROM users WHERE id = $1", "function-on-column", false),
    ("SELECT id FROM docs WHERE to_tsvector(body) @@ to_tsquery($1)", "function-on-column", false),
    // or-across-columns
    ("SELECT id FROM tickets WHERE author_id = $1 OR assignee_id = $2", "or-across-columns", true),
    (
        "SELECT id FROM tickets WHERE state = $1 AND (author_id = $2 OR assignee_id IN ($3))",
        "or-across-columns",
        true,
    ),
    ("SELECT id FROM tickets WHERE state = $1 OR state = $2", "or-across-columns", false),
    ("SELECT id FROM tickets WHERE $1 IS NULL OR author_id = $1", "or-across-columns", false),
    (
        "SELECT id FROM t WHERE (a = $1 AND b = $2) OR (a = $3 AND b = $4)",
        "or-across-columns",
        false,
    ),
    (
        "SELECT id FROM tickets WHERE author_id = $1 AND assignee_id = $2",
        "or-across-columns",
        false,
    ),
    // large-in-list: see `large_in_list_needs_raw_sql` (the lists are generated)
    // update-without-where
    ("UPDATE users SET active = false", "update-without-where", true),
    ("UPDATE users SET active = false FROM bans", "update-without-where", true),
    ("UPDATE t SET a = 1 WHERE id = 2", "update-without-where", false),
    ("UPDATE users SET active = $1 WHERE id = $2", "update-without-where", false),
    // delete-without-where
    ("DELETE FROM sessions", "delete-without-where", true),
    (
        "WITH gone AS (DELETE FROM sessions RETURNING id) SELECT count(*) FROM gone",
        "delete-without-where",
        true,
    ),
    ("DELETE FROM sessions WHERE expires_at < $1", "delete-without-where", false),
    ("TRUNCATE sessions", "delete-without-where", false),
    // insert-without-columns
    ("INSERT INTO users VALUES ($1, $2)", "insert-without-columns", true),
    ("INSERT INTO archive SELECT * FROM users WHERE id = $1", "insert-without-columns", true),
    ("INSERT INTO users (id, email) VALUES ($1, $2)", "insert-without-columns", false),
    ("INSERT INTO users DEFAULT VALUES", "insert-without-columns", false),
];

#[test]
fn every_case_fires_or_stays_silent_as_expected() {
    for &(sql, rule_id, should_fire) in CASES {
        check_rule(sql, rule_id, should_fire);
    }
}

#[test]
fn every_rule_has_a_firing_and_a_silent_case() {
    let in_list = "large-in-list"; // generated cases, below
    for rule in rules().iter().filter(|r| r.id != in_list) {
        let has = |fire: bool| CASES.iter().any(|&(_, id, f)| id == rule.id && f == fire);
        assert!(has(true) && has(false), "rule `{}` lacks a firing or a silent case", rule.id);
    }
}

fn in_list(items: usize) -> String {
    let list: Vec<String> = (1..=items).map(|i| i.to_string()).collect();
    format!("SELECT id, email FROM users WHERE id IN ({})", list.join(", "))
}

#[test]
fn large_in_list_needs_raw_sql() {
    check_rule(&in_list(1001), "large-in-list", true);
    check_rule(&in_list(1000), "large-in-list", false);
    check_rule("SELECT id, email FROM users WHERE id IN ($1)", "large-in-list", false);
    check_rule("SELECT id, email FROM users WHERE id = ANY($1)", "large-in-list", false);
    let small =
        Linter::new(&LintConfig { max_in_list: 2, ..LintConfig::default() }).expect("valid");
    let fired: Vec<_> = small.check(&in_list(3)).into_iter().map(|f| f.rule_id).collect();
    assert_eq!(fired, ["large-in-list"]);
}

#[test]
fn large_offset_threshold_is_configurable() {
    let config = LintConfig { large_offset: 100, ..LintConfig::default() };
    let linter = Linter::new(&config).expect("valid");
    let sql = "SELECT id FROM users ORDER BY id LIMIT 10 OFFSET 100";
    assert!(linter.check(sql).iter().any(|f| f.rule_id == "large-offset"));
    assert!(fired(sql).is_empty());
}

#[test]
fn django_get_trips_only_limit_without_order() {
    let sql = r#"SELECT "auth_user"."id", "auth_user"."email" FROM "auth_user" WHERE "auth_user"."id" = $1 LIMIT 21"#;
    assert_eq!(fired(sql), BTreeSet::from(["limit-without-order"]));
}

#[test]
fn rails_find_trips_select_star_and_limit_without_order() {
    let sql = r#"SELECT "users".* FROM "users" WHERE "users"."id" = $1 LIMIT $2"#;
    assert_eq!(fired(sql), BTreeSet::from(["select-star", "limit-without-order"]));
}

#[test]
fn orm_statements_that_are_fine_trip_nothing() {
    let clean = [
        // Django .first(): ORDER BY pk.
        r#"SELECT "auth_user"."id" FROM "auth_user" WHERE "auth_user"."is_active" = $1 ORDER BY "auth_user"."id" ASC LIMIT 1"#,
        // Rails create.
        r#"INSERT INTO "users" ("email", "created_at", "updated_at") VALUES ($1, $2, $3) RETURNING "id""#,
        // Rails exists?: every row is the constant 1, so row order cannot matter.
        r#"SELECT 1 AS one FROM "users" WHERE "users"."email" = $1 LIMIT $2"#,
        // SQLAlchemy selectinload, normalized and raw.
        "SELECT addresses.user_id, addresses.id FROM addresses WHERE addresses.user_id IN ($1)",
        "SELECT addresses.user_id, addresses.id FROM addresses WHERE addresses.user_id IN (1, 2, 3)",
        // Django update of one field.
        r#"UPDATE "auth_user" SET "last_login" = $1 WHERE "auth_user"."id" = $2"#,
    ];
    for sql in clean {
        assert!(fired(sql).is_empty(), "{sql}: {:?}", fired(sql));
    }
}

#[test]
fn pgbench_tpcb_trips_nothing() {
    let normalized = [
        "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
        "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
        "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2",
        "UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2",
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)",
    ];
    let raw = [
        "UPDATE pgbench_accounts SET abalance = abalance + -4123 WHERE aid = 77812;",
        "SELECT abalance FROM pgbench_accounts WHERE aid = 77812;",
        "UPDATE pgbench_tellers SET tbalance = tbalance + -4123 WHERE tid = 7;",
        "UPDATE pgbench_branches SET bbalance = bbalance + -4123 WHERE bid = 1;",
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (7, 1, 77812, -4123, CURRENT_TIMESTAMP);",
    ];
    for sql in normalized.iter().chain(&raw).chain(&["BEGIN", "END"]) {
        assert!(linter().check(sql).is_empty(), "pgbench statement tripped a rule: {sql}");
    }
}

#[test]
fn findings_carry_severity_fix_and_a_specific_message() {
    let findings = linter().check("UPDATE accounts SET balance = 0");
    assert_eq!(findings.len(), 1);
    let finding = &findings[0];
    assert_eq!(finding.rule_id, "update-without-where");
    assert_eq!(finding.severity, Severity::Critical);
    assert_eq!(finding.fix, Rule::UpdateWithoutWhere.info().fix);
    assert!(finding.message.contains("`accounts`"), "{}", finding.message);

    let findings = linter().check("SELECT id FROM users WHERE lower(email) = $1");
    assert!(findings[0].message.contains("`lower()`") && findings[0].message.contains("`email`"));
}

#[test]
fn messages_never_quote_literal_values() {
    let sql = "SELECT id FROM users WHERE email LIKE '%secret-domain.example' OR name LIKE 'hidden-name' \
               ORDER BY id LIMIT 10 OFFSET 987654";
    for finding in linter().check(sql) {
        for value in ["secret-domain", "hidden-name", "987654"] {
            assert!(
                !finding.message.contains(value),
                "{} leaks `{value}`: {}",
                finding.rule_id,
                finding.message
            );
        }
    }
}

#[test]
fn duplicate_hits_are_reported_once() {
    let findings =
        linter().check("SELECT * FROM users WHERE lower(email) = $1 OR lower(email) = $2");
    let ids: Vec<_> = findings.iter().map(|f| f.rule_id).collect();
    assert_eq!(ids, ["select-star", "function-on-column"]);
}

#[test]
fn every_statement_of_a_multi_statement_text_is_checked() {
    let ids = fired("DELETE FROM a; UPDATE b SET x = 1");
    assert_eq!(ids, BTreeSet::from(["delete-without-where", "update-without-where"]));
}

#[test]
fn a_disabled_rule_does_not_fire() {
    let mut config = LintConfig::default();
    config
        .rules
        .insert("select-star".into(), RuleOverride { enabled: Some(false), severity: None });
    let linter = Linter::new(&config).expect("valid");
    let ids: Vec<_> =
        linter.check("SELECT * FROM users LIMIT 5").into_iter().map(|f| f.rule_id).collect();
    assert_eq!(ids, ["limit-without-order"]);
}

#[test]
fn a_regraded_severity_is_applied() {
    let mut config = LintConfig::default();
    config.rules.insert(
        "select-star".into(),
        RuleOverride { enabled: None, severity: Some(Severity::Critical) },
    );
    let findings = Linter::new(&config).expect("valid").check("SELECT * FROM users");
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].severity, Severity::Critical);
}

#[test]
fn an_unknown_rule_id_is_an_error_naming_it() {
    let mut config = LintConfig::default();
    config.rules.insert("select-starr".into(), RuleOverride::default());
    let error = Linter::new(&config).expect_err("unknown id");
    assert!(matches!(&error, LintConfigError::UnknownRule { id, .. } if id == "select-starr"));
    assert!(error.to_string().contains("`select-starr`"), "{error}");
}

#[test]
fn enabled_false_turns_every_rule_off() {
    let linter =
        Linter::new(&LintConfig { enabled: false, ..LintConfig::default() }).expect("valid");
    assert!(linter.check("DELETE FROM sessions").is_empty());
    assert!(linter.check("SELECT * FROM a, b WHERE x = NULL").is_empty());
}

#[derive(serde::Deserialize)]
struct RulesFile {
    lint: LintConfig,
}

const SHIPPED: &str = include_str!("../../rules/default.toml");

#[test]
fn the_shipped_rules_file_is_the_default_config() {
    let file: RulesFile = toml::from_str(SHIPPED).expect("rules/default.toml parses");
    assert_eq!(file.lint, LintConfig::default());
}

#[test]
fn the_shipped_rules_file_lists_every_rule() {
    for rule in rules() {
        let line = format!("#   {:<31} {:<9}", rule.id, rule.default_severity);
        assert!(
            SHIPPED.contains(line.trim_end()),
            "rules/default.toml lacks the catalogue line for `{}`",
            rule.id
        );
    }
}

#[test]
fn overrides_parse_from_toml() {
    let text = "[lint]\nlarge_offset = 500\n[lint.rules.select-star]\nenabled = false\nseverity = \"info\"\n";
    let file: RulesFile = toml::from_str(text).expect("parses");
    let over = &file.lint.rules["select-star"];
    assert_eq!((over.enabled, over.severity), (Some(false), Some(Severity::Info)));
    assert_eq!(file.lint.large_offset, 500);
    assert!(
        toml::from_str::<RulesFile>("[lint]\nlarge_ofset = 5\n").is_err(),
        "unknown keys are refused"
    );
    assert!(toml::from_str::<RulesFile>("[lint.rules.x]\nseverity = \"fatal\"\n").is_err());
}

#[test]
fn the_catalogue_is_consistent() {
    assert!(rules().len() >= 15);
    for (i, rule) in Rule::ALL.iter().enumerate() {
        assert_eq!(*rule as usize, i, "Rule::ALL is out of order at {rule:?}");
        assert_eq!(
            rule.info().id,
            kebab(&format!("{rule:?}")),
            "RULES is out of order at {rule:?}"
        );
        assert_eq!(Rule::from_id(rule.info().id), Some(*rule));
        assert!(!rule.info().description.is_empty() && !rule.info().fix.is_empty());
    }
}

fn kebab(camel: &str) -> String {
    let mut out = String::new();
    for c in camel.chars() {
        if c.is_ascii_uppercase() && !out.is_empty() {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[test]
fn severity_serializes_lowercase() {
    assert_eq!(serde_json::to_string(&Severity::Warning).expect("serializes"), "\"warning\"");
    assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Critical);
}

#[test]
fn unparsable_sql_yields_no_findings() {
    for sql in ["", ";", "SELEC * FROM", "SELECT * FROM users WHERE", "\u{0}\u{ffff}", "$$", "'"] {
        assert!(linter().check(sql).is_empty(), "{sql:?}");
    }
}

#[test]
fn never_panics_on_prefixes_or_garbage() {
    let statements = [
        "SELECT u.*, (SELECT count(*) FROM o WHERE o.u = u.id) FROM u, v WHERE lower(u.e) LIKE '%x' OR v.a NOT IN (SELECT b FROM c) ORDER BY random() LIMIT 5 OFFSET 5000",
        "WITH x AS (DELETE FROM t RETURNING *) INSERT INTO y SELECT * FROM x UNION SELECT * FROM z",
        "UPDATE t SET a = NULL FROM s WHERE t.id = s.id AND s.d::date = $1 AND t.x = NULL",
        "SELECT a FROM t GROUP BY a HAVING a = 1 FETCH FIRST ROW ONLY",
        "SELECT 'it''s', E'\\x', $tag$ body $tag$, \"q\"\"id\" FROM \"s\".\"t\" WHERE x IN (1, 2, 3)",
    ];
    let linter = linter();
    let mut checked = 0;
    for sql in statements {
        for (end, _) in sql.char_indices() {
            let _ = linter.check(&sql[..end]);
            let _ = linter.check(&sql[end..]);
            checked += 2;
        }
    }
    for garbage in [
        "((((((((((",
        "))))",
        "SELECT (((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1",
        "NOT NOT NOT",
        "* * *",
        "LIMIT OFFSET",
        "IN IN ()",
    ] {
        let _ = linter.check(garbage);
        checked += 1;
    }
    assert!(checked > 300);
}

#[test]
fn long_generated_conditions_do_not_overflow() {
    let ors: Vec<String> = (0..2000).map(|i| format!("a{i} = {i}")).collect();
    let sql = format!("SELECT id FROM t WHERE {}", ors.join(" OR "));
    let ids: Vec<_> = linter().check(&sql).into_iter().map(|f| f.rule_id).collect();
    assert_eq!(ids, ["or-across-columns"]);
}
