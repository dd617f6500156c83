//! The token fallback, for what sqlparser rejects (`DO $$…$$`, `VACUUM ANALYZE t`, PL/pgSQL
//! bodies, exotic syntax).
//!
//! It works on the canonical form. Comments go; every literal (strings of all kinds,
//! dollar-quoted bodies, numbers) becomes a marker, and a `-` glued to a number after an
//! operator or opening bracket is folded into it; `IN (…)` lists of literals and parameters
//! collapse to their first element. Case is kept as written. Spacing: one space where the
//! canonical form has one, and fixed rules around `( ) [ ] , ;`.

use super::rewrite::LITERAL_MARKER;
use super::scan::{Kind, Lexer, Token, is_word_part};

/// A significant token and whether whitespace or a comment came right before it.
#[derive(Clone, Copy)]
struct Tok<'a> {
    tok: Token<'a>,
    spaced: bool,
}

/// Normalizes one statement token by token, returning marked text.
pub(crate) fn fallback_mark(sql: &str) -> String {
    let toks = significant_tokens(sql);
    let mut out = Output::default();
    let mut i = 0;
    while i < toks.len() {
        if let Some(end) = collapsible_in_list(&toks, i) {
            out.emit(toks[i], toks[i].tok.text);
            out.emit(toks[i + 1], "(");
            let first_end = element_end(&toks, i + 2).unwrap_or(i + 3);
            emit_element(&mut out, &toks[i + 2..first_end]);
            out.emit(toks[end - 1], ")");
            i = end;
        } else if let Some(len) = literal_len(&toks, i) {
            out.emit(toks[i], LITERAL_MARKER);
            i += len;
        } else {
            out.emit(toks[i], toks[i].tok.text);
            i += 1;
        }
    }
    out.text
}

fn significant_tokens(sql: &str) -> Vec<Tok<'_>> {
    let mut toks = Vec::new();
    let mut spaced = false;
    for tok in Lexer::new(sql) {
        if tok.is_trivia() {
            spaced = true;
        } else {
            toks.push(Tok { tok, spaced });
            spaced = false;
        }
    }
    toks
}

/// How many tokens the literal at `i` spans (2 for a folded `-1`), if there is one.
fn literal_len(toks: &[Tok<'_>], i: usize) -> Option<usize> {
    let tok = toks[i].tok;
    if tok.is_string() || tok.kind == Kind::Number || tok.text == LITERAL_MARKER {
        return Some(1);
    }
    let sign = matches!(tok.text, "-" | "+") && tok.kind == Kind::Op;
    let next = toks.get(i + 1)?;
    let unary = i == 0 || opens_operand(&toks[i - 1].tok);
    (sign && unary && !next.spaced && next.tok.kind == Kind::Number).then_some(2)
}

/// True when a token after `tok` starts an operand: after an operator or opening punctuation.
fn opens_operand(tok: &Token<'_>) -> bool {
    match tok.kind {
        Kind::Op => true,
        Kind::Punct => matches!(tok.first(), b'(' | b'[' | b','),
        _ => false,
    }
}

/// `IN ( c, c, … )` where each `c` is a literal or parameter: returns the index after `)`.
fn collapsible_in_list(toks: &[Tok<'_>], i: usize) -> Option<usize> {
    if !toks[i].tok.is_word("in") || toks.get(i + 1)?.tok.text != "(" {
        return None;
    }
    let mut j = i + 2;
    loop {
        j = element_end(toks, j)?;
        match toks.get(j)?.tok.text {
            "," => j += 1,
            ")" => return Some(j + 1),
            _ => return None,
        }
    }
}

/// The end of a list element starting at `j` that is a literal or a parameter.
fn element_end(toks: &[Tok<'_>], j: usize) -> Option<usize> {
    let tok = toks.get(j)?.tok;
    if tok.kind == Kind::Param {
        return Some(j + 1);
    }
    literal_len(toks, j).map(|len| j + len)
}

fn emit_element<'a>(out: &mut Output<'a>, element: &[Tok<'a>]) {
    match element {
        [only] if only.tok.kind == Kind::Param => out.emit(*only, only.tok.text),
        [first, ..] => out.emit(*first, LITERAL_MARKER),
        [] => {}
    }
}

/// The text being built, with the canonical spacing rules.
#[derive(Default)]
struct Output<'a> {
    text: String,
    prev: Option<Token<'a>>,
}

impl<'a> Output<'a> {
    fn emit(&mut self, at: Tok<'a>, text: &str) {
        if let Some(prev) = self.prev {
            let glued = self.text.as_bytes().last().is_some_and(|&b| is_word_part(b))
                && text.as_bytes().first().is_some_and(|&b| is_word_part(b));
            if glued || space_between(&prev, &at) {
                self.text.push(' ');
            }
        }
        self.text.push_str(text);
        self.prev = Some(at.tok);
    }
}

/// Whether to print a space between `prev` and `next`.
fn space_between(prev: &Token<'_>, next: &Tok<'_>) -> bool {
    let (p, n) = (prev_punct(prev), prev_punct(&next.tok));
    match (p, n) {
        (_, Some(b')' | b']' | b',' | b';')) | (Some(b'(' | b'['), _) => false,
        (Some(b',' | b';'), _) => true,
        (_, Some(b'(')) => {
            !matches!(prev.kind, Kind::Word | Kind::QuotedIdent) || spaced_keyword(prev)
        }
        (_, Some(b'[')) => !matches!(prev.kind, Kind::Word | Kind::QuotedIdent) && p.is_none(),
        (Some(_), None) => !matches!(next.tok.text, ":" | "." | "["),
        _ => next.spaced,
    }
}

fn prev_punct(tok: &Token<'_>) -> Option<u8> {
    (tok.kind == Kind::Punct).then(|| tok.first())
}

/// Keywords printed with a space before `(`, unlike function names.
#[rustfmt::skip]
const SPACED_KEYWORDS: &[&str] = &[
    "all", "analyze", "and", "any", "as", "by", "check", "conflict", "else", "exists", "explain",
    "filter", "from", "in", "into", "join", "not", "on", "or", "over", "references", "returns",
    "select", "set", "some", "table", "then", "to", "using", "vacuum", "values", "when", "where",
    "with",
];

fn spaced_keyword(tok: &Token<'_>) -> bool {
    SPACED_KEYWORDS.iter().any(|kw| tok.is_word(kw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_literals_and_collapses_in_lists() {
        assert_eq!(fallback_mark("DO $$ BEGIN PERFORM 1; END $$"), "DO $0");
        assert_eq!(fallback_mark("VACUUM  ANALYZE t -- c"), "VACUUM ANALYZE t");
        assert_eq!(
            fallback_mark("FOO x IN (1, -2, 'a') AND y IN ($1,$2) AND z = -5 AND w - 1"),
            "FOO x IN ($0) AND y IN ($1) AND z = $0 AND w - $0"
        );
        assert_eq!(fallback_mark("f(a,b)[1]::int"), "f(a, b)[$0]::int");
    }
}
