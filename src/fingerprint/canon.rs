//! The canonical form of a statement: the one text both [`memo_key`](super::memo_key) hashes
//! and [`normalize`](super::normalize) works from, which makes the memo invariant hold by
//! construction: equal keys mean equal canonical texts (barring a 64-bit hash collision), and
//! normalization only ever sees the canonical text.
//!
//! Canonicalizing drops comments, turns each replaceable literal (see `context`) into a fixed
//! literal of its kind, and collapses whitespace to one space between two tokens, dropping it
//! next to `( ) [ ] , ;`, which never merge with a neighbour. Elsewhere a space is kept,
//! because dropping it could change what a tokenizer sees (`< =` vs `<=`, `: 1` vs `:1`).
//!
//! This runs on every statement, so identifiers, quoted identifiers, operators, punctuation
//! and whitespace take a short path here; every other token goes through the [`Lexer`].

use super::context::{LiteralContext, LiteralKind};
use super::scan::{
    Kind, Lexer, NumberShape, Token, is_space, is_word_part, is_word_start, number_end,
    number_shape, quoted_end, skip_space,
};

/// Where canonical text goes: a `String` to normalize it, a hasher for the memo key.
pub(crate) trait Sink {
    fn put(&mut self, text: &str);

    /// A literal of the input was replaced (its replacement goes to `put` as well).
    fn literal(&mut self, _slot: Slot) {}
}

/// A literal the canonical form replaced: where it was in the input, and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot {
    pub start: usize,
    pub end: usize,
    pub kind: LiteralKind,
}

impl Sink for String {
    fn put(&mut self, text: &str) {
        self.push_str(text);
    }
}

/// The canonical form of `sql` as a string.
pub(crate) fn canonical(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    canonicalize(sql, &mut out);
    out
}

/// Streams the canonical form of `sql` into `sink`, without allocating.
pub(crate) fn canonicalize(sql: &str, sink: &mut impl Sink) {
    let mut out = Writer::new(sql, sink);
    let mut ctx = LiteralContext::new();
    let mut at = 0;
    while at < sql.len() {
        at = token(sql, at, &mut ctx, &mut out).max(at + 1);
    }
    out.finish();
}

/// Handles the token that starts at `at`; returns where it ends.
fn token<'a>(
    sql: &'a str,
    at: usize,
    ctx: &mut LiteralContext<'a>,
    out: &mut Writer<'_, '_, impl Sink>,
) -> usize {
    let b = sql.as_bytes();
    let c = b[at];
    let next = b.get(at + 1).copied();
    match c {
        _ if is_space(c) => {
            ctx.trivia();
            out.gap();
            // Mostly one space between two tokens.
            if next.is_some_and(is_space) { skip_space(b, at) } else { at + 1 }
        }
        b'(' | b')' | b'[' | b']' | b',' | b';' => {
            ctx.punct(c);
            out.keep(at, at + 1, true)
        }
        b'"' => {
            let (end, _) = quoted_end(b, at + 1, b'"', false);
            ctx.other();
            out.keep(at, end, false)
        }
        b'-' | b'/' | b'.' if !starts_token(c, next) => {
            ctx.op(c);
            out.keep(at, at + 1, false)
        }
        b'\'' => {
            let (end, terminated) = quoted_end(b, at + 1, b'\'', false);
            operand(sql, Kind::Str, (at, end, terminated), ctx, out)
        }
        b'0'..=b'9' => operand(sql, Kind::Number, (at, number_end(b, at), true), ctx, out),
        b'-' | b'/' | b'.' | b'$' => general(sql, at, ctx, out),
        _ if is_word_start(c) && !matches!(next, Some(b'\'' | b'&')) => {
            let end = at + 1 + b[at + 1..].iter().take_while(|&&x| is_word_part(x)).count();
            ctx.word(sql.get(at..end).unwrap_or_default());
            out.keep(at, end, false)
        }
        _ if c < 0x80 && !is_word_start(c) => {
            ctx.op(c);
            out.keep(at, at + 1, false)
        }
        _ => general(sql, at, ctx, out),
    }
}

/// Whether `-`, `/` or `.` followed by `next` starts a comment or a number.
fn starts_token(c: u8, next: Option<u8>) -> bool {
    match (c, next) {
        (b'-', Some(b'-')) | (b'/', Some(b'*')) => true,
        (b'.', Some(n)) => n.is_ascii_digit(),
        _ => false,
    }
}

/// A string or number token spanning `start..end`: replaced if it is a literal.
fn operand<'a>(
    sql: &'a str,
    kind: Kind,
    (start, end, terminated): (usize, usize, bool),
    ctx: &mut LiteralContext<'a>,
    out: &mut Writer<'_, '_, impl Sink>,
) -> usize {
    let tok = Token { kind, text: sql.get(start..end).unwrap_or_default(), terminated };
    match ctx.operand(&tok, sql.as_bytes().get(end).copied()) {
        Some(kind) => out.replace(Slot { start, end, kind }),
        None => out.keep(start, end, false),
    }
}

/// Any token, through the lexer: comments, literals, parameters, prefixed strings.
fn general<'a>(
    sql: &'a str,
    at: usize,
    ctx: &mut LiteralContext<'a>,
    out: &mut Writer<'_, '_, impl Sink>,
) -> usize {
    let Some(tok) = Lexer::token_at(sql, at) else {
        return sql.len();
    };
    let end = at + tok.text.len();
    // An unterminated comment stays: the statement is broken, and should look broken.
    if tok.is_trivia() && tok.terminated {
        ctx.trivia();
        out.gap();
        return end;
    }
    match ctx.step(&tok, sql.as_bytes().get(end).copied()) {
        Some(kind) => out.replace(Slot { start: at, end, kind }),
        None => out.keep(at, end, tok.kind == Kind::Punct),
    }
}

/// Hands the canonical text to the sink in as few pieces as it can: a run of tokens kept as
/// they are (with single spaces between them) goes out as one slice of the input.
struct Writer<'a, 's, S: Sink> {
    sql: &'a str,
    sink: &'s mut S,
    /// `sql[kept..upto]` is output not yet handed to the sink.
    kept: usize,
    upto: usize,
    pending_space: bool,
    prev_punct: bool,
}

impl<'a, 's, S: Sink> Writer<'a, 's, S> {
    fn new(sql: &'a str, sink: &'s mut S) -> Self {
        Writer { sql, sink, kept: 0, upto: 0, pending_space: false, prev_punct: true }
    }

    /// Whitespace or a comment was skipped.
    fn gap(&mut self) {
        self.pending_space = true;
    }

    /// Outputs `sql[start..end]` as it is; returns `end`.
    fn keep(&mut self, start: usize, end: usize, punct: bool) -> usize {
        let space = self.take_space(punct);
        let single_space = self.sql.as_bytes().get(self.upto) == Some(&b' ');
        let contiguous = start == self.upto || (space && single_space && start == self.upto + 1);
        if !contiguous {
            self.flush(space);
            self.kept = start;
        }
        self.upto = end;
        end
    }

    /// Outputs the fixed literal of its kind in place of the literal `slot`; returns its end.
    fn replace(&mut self, slot: Slot) -> usize {
        let space = self.take_space(false);
        self.flush(space);
        self.sink.literal(slot);
        self.sink.put(slot.kind.canonical());
        self.kept = slot.end;
        self.upto = slot.end;
        slot.end
    }

    /// Whether a separating space goes before the next token, which is `punct` or not.
    fn take_space(&mut self, punct: bool) -> bool {
        let space = self.pending_space && !punct && !self.prev_punct;
        self.pending_space = false;
        self.prev_punct = punct;
        space
    }

    fn flush(&mut self, then_space: bool) {
        self.sink.put(self.sql.get(self.kept..self.upto).unwrap_or_default());
        if then_space {
            self.sink.put(" ");
        }
    }

    fn finish(mut self) {
        self.flush(false);
    }
}

/// Whether `sql` has the same canonical form as `template`, whose replaced literals were
/// `slots` (in order), decided without canonicalizing `sql`: the bytes around the literals
/// must be equal, and in each slot `sql` must hold one literal token of the slot's kind
/// followed by the same byte as in the template.
///
/// That suffices because the canonical scan decides everything from the bytes it has read
/// and the byte that follows a token. Equal bytes before a slot leave the scan in the same
/// state there. A literal's first byte has the same class in both texts (a digit, or `'`),
/// so the token before it ends at the same place. A literal of the same kind changes the
/// state the same way and is written out as the same fixed literal. Every slot kind this
/// accepts starts on a digit or `'`, which `token` always hands to `operand` with the same
/// end function used here. Other kinds (`E'…'`, `$$…$$`) are never matched.
pub(crate) fn same_canonical(template: &[u8], slots: &[Slot], sql: &[u8]) -> bool {
    let (mut t, mut x) = (0, 0);
    for slot in slots {
        let Some(gap) = template.get(t..slot.start) else {
            return false;
        };
        if sql.get(x..x + gap.len()) != Some(gap) {
            return false;
        }
        x += gap.len();
        let Some(end) = literal_end(sql, x, slot.kind) else {
            return false;
        };
        if sql.get(end) != template.get(slot.end) {
            return false;
        }
        (t, x) = (slot.end, end);
    }
    template.get(t..).is_some_and(|rest| sql.get(x..) == Some(rest))
}

/// Where the literal of `kind` that starts at `at` ends, if one starts there.
fn literal_end(sql: &[u8], at: usize, kind: LiteralKind) -> Option<usize> {
    let first = *sql.get(at)?;
    let shape = match kind {
        LiteralKind::Str if first == b'\'' => {
            let (end, terminated) = quoted_end(sql, at + 1, b'\'', false);
            return terminated.then_some(end);
        }
        LiteralKind::Integer => NumberShape::Integer,
        LiteralKind::Decimal => NumberShape::Decimal,
        _ => return None,
    };
    if !first.is_ascii_digit() {
        return None;
    }
    let end = number_end(sql, at);
    let text = std::str::from_utf8(sql.get(at..end)?).ok()?;
    (number_shape(text) == shape).then_some(end)
}

/// Whether [`same_canonical`] can ever match a text against these slots.
pub(crate) fn matchable(slots: &[Slot]) -> bool {
    slots
        .iter()
        .all(|s| matches!(s.kind, LiteralKind::Str | LiteralKind::Integer | LiteralKind::Decimal))
}

#[cfg(test)]
/// The canonical form computed token by token, the straightforward way: the fast path
/// above must agree with it byte for byte.
pub(crate) fn reference_canonical(sql: &str) -> String {
    let mut ctx = LiteralContext::new();
    let mut lexer = Lexer::new(sql).peekable();
    let mut out = String::new();
    let (mut pending_space, mut prev_punct) = (false, true);
    while let Some(tok) = lexer.next() {
        if tok.is_trivia() && tok.terminated {
            pending_space = true;
            ctx.trivia();
            continue;
        }
        let punct = tok.kind == Kind::Punct;
        if pending_space && !punct && !prev_punct {
            out.push(' ');
        }
        (pending_space, prev_punct) = (false, punct);
        match ctx.step(&tok, lexer.peek().map(Token::first)) {
            Some(literal) => out.push_str(literal.canonical()),
            None => out.push_str(tok.text),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_comments_values_and_spacing() {
        assert_eq!(
            canonical("/* c */ SELECT  a ,b FROM t WHERE x = 'it''s' -- n\n AND y IN ( 42, 1.5 ) "),
            "SELECT a,b FROM t WHERE x = 's' AND y IN(1,1.0)"
        );
        assert_eq!(
            canonical("SELECT x::varchar(255), E'a', $q$b$q$"),
            "SELECT x::varchar(255),E's',$$s$$"
        );
        assert_eq!(canonical("SELECT 1 /* open"), "SELECT 1 /* open");
    }

    #[test]
    fn fast_path_agrees_with_the_reference() {
        for sql in [
            "SELECT \"a\".\"b\" , 'x' FROM t WHERE a.b=-1 AND c IN (1,2) -- x\nLIMIT 5",
            "select E'\\n', e'x', U&'d', u&\"q\", x'1F', B'1', N'n', $1, $a, $$s$$, t.5, .5, 1.",
            "a/**/b <= =>1 ::int[3] @> ?| é\u{a0}x ARRAY [ 1 ] f ( 2 )\t\r\n",
            "",
            "  ",
            "\"open",
        ] {
            assert_eq!(canonical(sql), reference_canonical(sql), "{sql}");
        }
    }
}
