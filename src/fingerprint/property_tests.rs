//! Property-style tests: the memo invariant under noise and literal changes, collapses that
//! must not depend on length, and no panic on garbage.

use super::canon::{canonical, matchable, reference_canonical, same_canonical};
use super::context::{LiteralContext, LiteralKind};
use super::golden_tests::{PGBENCH, golden_inputs};
use super::key::memo_key_with_slots;
use super::scan::{Kind, Lexer, Token};
use super::{Fingerprinter, Pattern, memo_key, normalize, split_statements};

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Rebuilds `sql` token by token, letting `f` replace a token's text; `f` also learns
/// whether the memo key drops that token, and as which kind of literal.
fn rebuild(sql: &str, mut f: impl FnMut(&Token<'_>, Option<LiteralKind>) -> String) -> String {
    let mut ctx = LiteralContext::new();
    let mut lexer = Lexer::new(sql).peekable();
    let mut out = String::new();
    while let Some(tok) = lexer.next() {
        let next_byte = lexer.peek().map(Token::first);
        let dropped = ctx.step(&tok, next_byte);
        out.push_str(&f(&tok, dropped));
    }
    out
}

/// More whitespace and comments wherever whitespace may go.
fn with_noise(sql: &str, variant: usize) -> String {
    let noise = [" \n\t", "\n/* n; 'x' */\n", " -- n; 'x'\n ", "\r\n  "][variant % 4];
    let body = rebuild(sql, |tok, _| match tok.kind {
        Kind::Space => noise.to_string(),
        Kind::Comment if tok.text.starts_with("/*") => "/* other */".to_string(),
        Kind::Punct if variant % 2 == 1 => format!(" {} ", tok.text),
        _ => tok.text.to_string(),
    });
    format!("/* lead */ {body}{noise}")
}

/// The same statement with every droppable literal replaced by another of its kind.
fn with_other_literals(sql: &str, variant: usize) -> String {
    rebuild(sql, |tok, dropped| {
        let choices: &[&str] = match dropped {
            None => return tok.text.to_string(),
            Some(LiteralKind::Integer) => &["0", "987654321", "7"],
            Some(LiteralKind::Decimal) => &["0.5", "123456.789"],
            Some(LiteralKind::Str) => &["''", r#"'it''s; -- /* $$ " \'"#],
            Some(LiteralKind::EscStr) => &["E''", "E'q''z;'"],
            Some(LiteralKind::DollarStr) => &["$$$$", "$z$ ' ; $$ $z$"],
        };
        choices[variant % choices.len()].to_string()
    })
}

/// The memo invariant for a pair: equal keys must mean equal patterns.
fn assert_invariant(a: &str, b: &str) {
    if memo_key(a) == memo_key(b) {
        let (pa, pb) = (normalize(a), normalize(b));
        assert_eq!(pa, pb, "equal memo keys, different patterns:\n  {a}\n  {b}");
    }
}

#[test]
fn noise_changes_neither_key_nor_pattern() {
    for sql in golden_inputs() {
        assert_eq!(canonical(sql), reference_canonical(sql), "{sql}");
        for variant in 0..4 {
            let noisy = with_noise(sql, variant);
            assert_eq!(
                memo_key(&noisy),
                memo_key(sql),
                "noise changed the key:\n  {sql}\n  {noisy}"
            );
            assert_invariant(sql, &noisy);
        }
    }
}

#[test]
fn other_literal_values_change_neither_key_nor_pattern() {
    for sql in golden_inputs() {
        for variant in 0..3 {
            let other = with_other_literals(sql, variant);
            assert_eq!(memo_key(&other), memo_key(sql), "{sql}\n{other}");
            assert_invariant(sql, &other);
        }
    }
}

const WORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "IN",
    "VALUES",
    "INSERT INTO",
    "UPDATE",
    "SET",
    "LIMIT",
    "OFFSET",
    "AS",
    "CAST",
    "ARRAY",
    "ANY",
    "ORDER BY",
    "GROUP BY",
    "DO",
    "BEGIN",
    "END",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "NULL",
    "true",
    "INTERVAL",
    "DATE",
    "KILL",
    "t",
    "a",
    "b",
    "t1",
    "\"Q\"",
    "E",
    "U",
    "varchar",
    "numeric",
    "int",
    "mytype",
    "lower",
    "f",
    "coalesce",
    "(",
    ")",
    "[",
    "]",
    ",",
    ";",
    "=",
    "<",
    "<=",
    "+",
    "-",
    "*",
    "::",
    ":",
    "@",
    ".",
    "->",
    "->>",
    "@>",
    "?",
    "||",
    "$1",
    "$2",
    "$0",
    "$x",
    "$",
    "&",
    "#",
];

const LITERALS: &[&str] = &[
    "1",
    "42",
    "-7",
    "1.5",
    ".5",
    "1e3",
    "0x1F",
    "1_000",
    "123456789012345678901",
    "'a'",
    "'it''s'",
    "E'x'",
    "E'\\n'",
    "$$b$$",
    "$q$c$q$",
    "B'101'",
    "X'1F'",
    "U&'d'",
    "'",
];

/// A random statement-like text mixing words, operators and literals.
fn random_sql(rng: &mut Rng) -> String {
    let mut out = String::new();
    for _ in 0..1 + rng.below(24) {
        let tok = if rng.below(3) == 0 { rng.pick(LITERALS) } else { rng.pick(WORDS) };
        out.push_str(tok);
        out.push_str(rng.pick(&[" ", " ", "", "\n"]));
    }
    out
}

/// A random but mostly parseable statement, so the sqlparser path is exercised too.
fn random_query(rng: &mut Rng) -> String {
    let operand = |rng: &mut Rng| {
        let a = rng.pick(&["a", "t.b", "\"C\"", "lower(a)", "f(b)", "a::varchar(10)", "$1"]);
        let lit = rng.pick(LITERALS);
        rng.pick(&["{a}", "{l}", "-{l}", "{l}::int", "ARRAY[{l}, {l}]", "mytype({l})", "({l})"])
            .replace("{a}", a)
            .replace("{l}", lit)
    };
    let (x, y, z) = (operand(rng), operand(rng), operand(rng));
    let op = rng.pick(&["=", "<", "+", "-", "->>", "@>", "||", "IN", "= ANY"]);
    let rhs = if op.contains("IN") || op.contains("ANY") { format!("({y}, {z})") } else { y };
    rng.pick(&[
        "SELECT {x} FROM t WHERE {x} {op} {rhs} LIMIT {z}",
        "INSERT INTO t (a, b) VALUES ({x}, {z}), ({z}, {x}) RETURNING {x}",
        "UPDATE t SET a = {x} WHERE b {op} {rhs}",
        "SELECT CAST({x} AS numeric(10, 2)), {z} FROM t ORDER BY {z}",
    ])
    .replace("{x}", &x)
    .replace("{op}", op)
    .replace("{rhs}", &rhs)
    .replace("{z}", &z)
}

#[test]
fn random_statements_keep_the_memo_invariant() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for i in 0..1500 {
        let sql = if i % 2 == 0 { random_sql(&mut rng) } else { random_query(&mut rng) };
        assert_eq!(canonical(&sql), reference_canonical(&sql), "{sql}");
        for variant in 0..2 {
            assert_invariant(&sql, &with_other_literals(&sql, variant));
            assert_invariant(&sql, &with_noise(&sql, variant));
        }
    }
}

#[test]
fn both_memo_lookup_orders_give_the_normalized_pattern() {
    let mut fp = Fingerprinter::new(64);
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut texts: Vec<String> = golden_inputs().map(str::to_string).collect();
    texts.extend((0..300).map(|_| random_sql(&mut rng)));
    for sql in &texts {
        for variant in 0..2 {
            for text in [sql.clone(), with_other_literals(sql, variant)] {
                let expected = normalize(&text);
                assert_eq!(*fp.fingerprint_query(&text), expected, "{text}");
                assert_eq!(*fp.fingerprint(&text), expected, "{text}");
                assert_eq!(*fp.fingerprint_query(&text), expected, "{text}");
            }
        }
    }
}

/// `IN (…)` with `n` items rendered by `item`.
fn in_list(n: usize, item: impl Fn(usize) -> String) -> String {
    let items: Vec<String> = (1..=n).map(item).collect();
    format!(r#"SELECT "t"."id" FROM "t" WHERE "t"."id" IN ({}) LIMIT 21"#, items.join(", "))
}

#[test]
fn list_length_does_not_change_the_pattern() {
    let expected = normalize(r#"SELECT "t"."id" FROM "t" WHERE "t"."id" IN (7) LIMIT 21"#);
    assert_eq!(expected.text, r#"SELECT "t"."id" FROM "t" WHERE "t"."id" IN ($1) LIMIT $2"#);
    for n in [1, 2, 50] {
        assert_eq!(normalize(&in_list(n, |i| i.to_string())).id, expected.id, "{n} literals");
        assert_eq!(normalize(&in_list(n, |i| format!("'{i}'"))).id, expected.id, "{n} strings");
        let params =
            in_list(n, |i| format!("${i}")).replace("LIMIT 21", &format!("LIMIT ${}", n + 1));
        assert_eq!(normalize(&params).id, expected.id, "{n} parameters");
    }
    let arrays: Vec<Pattern> = [1, 2, 50]
        .iter()
        .map(|&n| {
            let items: Vec<String> = (0..n).map(|i| i.to_string()).collect();
            normalize(&format!("SELECT * FROM t WHERE id = ANY(ARRAY[{}])", items.join(",")))
        })
        .collect();
    assert!(arrays.iter().all(|p| p.id == arrays[0].id), "{arrays:?}");
    let text_arrays = ["'{1}'", "'{1,2}'", "'{1,2,3,4,5,6}'"]
        .map(|a| normalize(&format!("SELECT * FROM t WHERE id = ANY({a})")).id);
    assert!(text_arrays.iter().all(|id| *id == text_arrays[0]));
}

#[test]
fn insert_row_count_does_not_change_the_pattern() {
    let literal_rows = |n: usize| -> String {
        let rows: Vec<String> = (0..n).map(|i| format!("({i}, 'name {i}', NOW())")).collect();
        format!("INSERT INTO t (id, name, at) VALUES {} RETURNING id", rows.join(", "))
    };
    let param_rows = |n: usize| -> String {
        let rows: Vec<String> =
            (0..n).map(|i| format!("(${}, ${}, NOW())", 2 * i + 1, 2 * i + 2)).collect();
        format!("INSERT INTO t (id, name, at) VALUES {} RETURNING id", rows.join(", "))
    };
    let expected = normalize(&literal_rows(1));
    assert_eq!(expected.text, "INSERT INTO t (id, name, at) VALUES ($1, $2, NOW()) RETURNING id");
    for n in [1, 2, 50] {
        assert_eq!(normalize(&literal_rows(n)).id, expected.id);
        assert_eq!(normalize(&param_rows(n)).id, expected.id);
    }
}

#[test]
fn pgbench_simple_and_extended_share_ids() {
    for (simple, extended) in PGBENCH {
        assert_eq!(normalize(simple).id, normalize(extended).id, "{simple}");
    }
}

/// Runs every public entry point on `sql`; the test fails if any of them panics.
fn exercise(sql: &str, fp: &mut Fingerprinter) {
    let _ = normalize(sql);
    let _ = memo_key(sql);
    let _ = split_statements(sql);
    let _ = fp.fingerprint(sql);
    let _ = fp.fingerprint_query(sql);
}

#[test]
fn never_panics_on_prefixes_and_garbage() {
    let mut fp = Fingerprinter::new(64);
    let mut count = 0;
    for sql in golden_inputs().step_by(3) {
        for end in (0..=sql.len()).filter(|&e| sql.is_char_boundary(e)) {
            exercise(&sql[..end], &mut fp);
            count += 1;
        }
    }
    let mut rng = Rng(42);
    let alphabet: Vec<char> = "'\"$;-/*()[]Ee\\ 09aZ:.,@?&\n\tU_é€\u{a0}😀".chars().collect();
    for _ in 0..400 {
        let bytes: Vec<u8> = (0..rng.below(80)).map(|_| rng.next() as u8).collect();
        exercise(&String::from_utf8_lossy(&bytes), &mut fp);
        let sql: String = (0..rng.below(80)).map(|_| alphabet[rng.below(alphabet.len())]).collect();
        exercise(&sql, &mut fp);
        assert_eq!(canonical(&sql), reference_canonical(&sql), "{sql:?}");
        assert_invariant(&sql, &with_other_literals(&sql, 1));
        count += 2;
    }
    let deep = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
    let nots = format!("SELECT {}1", "NOT -".repeat(20_000));
    let cases = format!("SELECT {}1", "CASE WHEN 1 THEN ".repeat(20_000));
    let subqueries = "SELECT * FROM (".repeat(1000);
    let brackets = "[".repeat(10_000);
    let comments = "/*".repeat(1000);
    for sql in [&deep, &nots, &cases, &subqueries, &brackets, &comments] {
        exercise(sql, &mut fp);
    }
    exercise("\u{a0}é$é$x$é$", &mut fp);
    assert!(count > 500);
}

/// Run with `cargo test --release --lib fingerprint::property_tests::bench -- --ignored
/// --nocapture`. Prints the mean over 10^6 calls and the best 20 000-call batch, which
/// filters out a busy machine.
#[test]
#[ignore = "micro-benchmark; run in release mode"]
fn bench_fingerprint_hit() {
    use std::hint::black_box;
    let sql = PGBENCH[0].0;
    let mut fp = Fingerprinter::new(1024);
    let (mean, best) = ns_per_call(|| {
        black_box(fp.fingerprint(black_box(sql)));
    });
    println!(
        "Fingerprinter::fingerprint hit, {} bytes: {mean:.0} ns/call mean, {best:.0} best",
        sql.len()
    );
    assert_eq!(fp.misses(), 1);

    let long = r#"SELECT "auth_user"."id", "auth_user"."username", "auth_user"."email" FROM "auth_user" WHERE ("auth_user"."is_active" AND "auth_user"."email" = 'someone@example.com' AND "auth_user"."id" > 1234) LIMIT 21"#;
    let (mean, best) = ns_per_call(|| {
        black_box(memo_key(black_box(long)));
    });
    println!("memo_key, {} bytes: {mean:.0} ns/call mean, {best:.0} best", long.len());
}

/// Mean nanoseconds per call of `f` over 10^6 calls, and the best 20 000-call batch.
fn ns_per_call(mut f: impl FnMut()) -> (f64, f64) {
    use std::time::Instant;
    let batch = 20_000u32;
    let batches: Vec<f64> = (0..50)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..batch {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(batch)
        })
        .collect();
    let mean = batches.iter().sum::<f64>() / batches.len() as f64;
    (mean, batches.iter().copied().fold(f64::INFINITY, f64::min))
}

#[test]
fn long_chains_fall_back_instead_of_overflowing_the_stack() {
    let chains: [(&str, &str, &str); 7] = [
        ("SELECT 1", " UNION SELECT 1", ""),
        ("SELECT x", "::int", ""),
        ("SELECT x", "->'a'", ""),
        ("SELECT x", " IS NULL", ""),
        ("SELECT x", "[1]", ""),
        ("SELECT * FROM t WHERE ", "a = 1 OR ", "a = 1"),
        ("SELECT ", "1 + ", "1"),
    ];
    for (head, link, tail) in chains {
        let short = normalize(&format!("{head}{}{tail}", link.repeat(300)));
        assert!(short.parsed, "{head}{link}…");
        let long = normalize(&format!("{head}{}{tail}", link.repeat(10_000)));
        assert!(!long.parsed, "{head}{link}…");
    }
}

/// A few bytes of `sql` changed at random: replaced, dropped or inserted, near a literal or
/// anywhere.
fn mutated(sql: &str, rng: &mut Rng) -> String {
    let alphabet = [
        "'", "1", "9", ".", "e", "E", "-", "+", " ", "\n", "$", "a", "_", ",", ")", "/*", "--",
        "''", "é",
    ];
    let mut out = sql.to_string();
    for _ in 0..1 + rng.below(3) {
        let mut at = rng.below(out.len() + 1);
        while !out.is_char_boundary(at) {
            at -= 1;
        }
        let mut end = (at + rng.below(3)).min(out.len());
        while !out.is_char_boundary(end) {
            end += 1;
        }
        let with = if rng.below(3) == 0 { "" } else { rng.pick(&alphabet) };
        out.replace_range(at..end, with);
    }
    out
}

/// The template shortcut: whatever text it accepts for a template has the template's
/// canonical form. Tried on other literals, other spacing and random edits of statements.
#[test]
fn texts_a_template_accepts_have_its_canonical_form() {
    let mut rng = Rng(0x5EED_0F7E_3A7E);
    let (mut tried, mut accepted, mut other_literals_accepted) = (0, 0, 0);
    let mut slots = Vec::new();
    let texts: Vec<String> = golden_inputs()
        .map(str::to_string)
        .chain(
            (0..1500)
                .map(|i| if i % 2 == 0 { random_sql(&mut rng) } else { random_query(&mut rng) }),
        )
        .collect();
    for template in &texts {
        memo_key_with_slots(template, &mut slots, 64);
        if slots.len() > 64 || !matchable(&slots) {
            continue;
        }
        let want = canonical(template);
        let mut candidates: Vec<(String, bool)> = (0..3)
            .map(|v| (with_other_literals(template, v), true))
            .chain((0..2).map(|v| (with_noise(template, v), false)))
            .collect();
        candidates.extend((0..24).map(|_| (mutated(template, &mut rng), false)));
        for (text, other_literals) in candidates {
            tried += 1;
            if same_canonical(template.as_bytes(), &slots, text.as_bytes()) {
                accepted += 1;
                other_literals_accepted += usize::from(other_literals);
                assert_eq!(canonical(&text), want, "template {template:?} accepted {text:?}");
            }
        }
    }
    // The shortcut must also be worth having: the same statement with other values passes.
    assert!(other_literals_accepted > 1000, "{other_literals_accepted} of {tried} tried");
    assert!(accepted > other_literals_accepted, "random edits also tested: {accepted}");
}
