//! A byte-level SQL lexer shared by [`memo_key`](super::memo_key), the token fallback, the
//! placeholder pass and [`split_statements`](super::split_statements).
//!
//! It follows sqlparser's PostgreSQL tokenizer wherever the two could disagree about where a
//! token ends (string prefixes, dollar-quote tags, nested comments, `--` ending at `\r` or
//! `\n`), because the memo invariant rests on both seeing the same literals. It never fails:
//! an unterminated string, identifier or comment runs to the end and says so.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A run of ASCII whitespace.
    Space,
    /// `-- …` or a (nested) `/* … */`.
    Comment,
    /// An identifier or keyword (may contain digits and `$` after the first character).
    Word,
    /// `"…"` with `""` escapes.
    QuotedIdent,
    /// `'…'` with `''` escapes.
    Str,
    /// `E'…'` with backslash escapes.
    EscStr,
    /// `B'…'`, `X'…'`, `N'…'` or `U&'…'`.
    PrefixedStr,
    /// `$tag$…$tag$`.
    DollarStr,
    /// A numeric literal (`12`, `1.5`, `.5`, `1e-3`, and oddities like `0x1F` or `1_000`).
    Number,
    /// `$` followed by ASCII digits: a bind parameter (or, for `$0`, a literal marker).
    Param,
    /// `$` followed by a name that is not a dollar-quote tag (`$name`).
    NamedParam,
    /// One of `( ) [ ] , ;`: never part of a longer token, so spacing around it is moot.
    Punct,
    /// Any other single byte: operator characters, `.`, `:`, a lone `$`, ….
    Op,
}

/// One token: its kind, its exact text, and whether its closing delimiter was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub kind: Kind,
    pub text: &'a str,
    pub terminated: bool,
}

impl Token<'_> {
    /// The first byte of the token (tokens are never empty).
    pub fn first(&self) -> u8 {
        self.text.as_bytes().first().copied().unwrap_or(0)
    }

    /// True for whitespace and comments, which only separate other tokens.
    pub fn is_trivia(&self) -> bool {
        matches!(self.kind, Kind::Space | Kind::Comment)
    }

    /// True for string literals of any quoting style.
    pub fn is_string(&self) -> bool {
        matches!(self.kind, Kind::Str | Kind::EscStr | Kind::PrefixedStr | Kind::DollarStr)
    }

    /// True when this is the word `kw` (ASCII case-insensitive).
    pub fn is_word(&self, kw: &str) -> bool {
        self.kind == Kind::Word && self.text.eq_ignore_ascii_case(kw)
    }
}

/// Iterator over the tokens of a SQL text, trivia included.
pub(crate) struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str) -> Self {
        Lexer { src, pos: 0 }
    }

    /// The token starting at byte `pos` of `src` (a token boundary), if any.
    pub fn token_at(src: &'a str, pos: usize) -> Option<Token<'a>> {
        Lexer { src, pos }.next()
    }

    /// The byte offset where the next token starts.
    pub fn offset(&self) -> usize {
        self.pos
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.src.as_bytes().get(at).copied()
    }

    fn lex(&self, start: usize) -> (Kind, usize, bool) {
        let b = self.src.as_bytes();
        let c = b[start];
        let next = self.byte(start + 1);
        match c {
            _ if is_space(c) => (Kind::Space, skip_space(b, start), true),
            b'-' if next == Some(b'-') => (Kind::Comment, line_comment_end(b, start), true),
            b'/' if next == Some(b'*') => {
                let (end, ok) = block_comment_end(b, start);
                (Kind::Comment, end, ok)
            }
            b'\'' => {
                let (end, ok) = quoted_end(b, start + 1, b'\'', false);
                (Kind::Str, end, ok)
            }
            b'"' => {
                let (end, ok) = quoted_end(b, start + 1, b'"', false);
                (Kind::QuotedIdent, end, ok)
            }
            b'$' => self.lex_dollar(start),
            b'0'..=b'9' => (Kind::Number, number_end(b, start), true),
            b'.' if next.is_some_and(|n| n.is_ascii_digit()) => {
                (Kind::Number, number_end(b, start), true)
            }
            b'(' | b')' | b'[' | b']' | b',' | b';' => (Kind::Punct, start + 1, true),
            _ if is_word_start(c) => self.lex_word(start),
            _ => (Kind::Op, start + 1, true),
        }
    }

    fn lex_word(&self, start: usize) -> (Kind, usize, bool) {
        let b = self.src.as_bytes();
        let c = b[start];
        let next = self.byte(start + 1);
        if next == Some(b'\'') {
            match c {
                b'e' | b'E' => {
                    let (end, ok) = quoted_end(b, start + 2, b'\'', true);
                    return (Kind::EscStr, end, ok);
                }
                b'x' | b'X' => {
                    let (end, ok) = quoted_end(b, start + 2, b'\'', true);
                    return (Kind::PrefixedStr, end, ok);
                }
                b'b' | b'B' | b'n' | b'N' => {
                    let (end, ok) = quoted_end(b, start + 2, b'\'', false);
                    return (Kind::PrefixedStr, end, ok);
                }
                _ => {}
            }
        }
        if matches!(c, b'u' | b'U') && next == Some(b'&') && self.byte(start + 2) == Some(b'\'') {
            let (end, ok) = quoted_end(b, start + 3, b'\'', false);
            return (Kind::PrefixedStr, end, ok);
        }
        let end = start + 1 + b[start + 1..].iter().take_while(|&&x| is_word_part(x)).count();
        (Kind::Word, end, true)
    }

    /// `$$…$$`, `$tag$…$tag$`, `$1`, `$name` or a lone `$`, the way sqlparser reads them: a tag
    /// is any run of alphanumerics and `_` (digits included) that is followed by `$`.
    fn lex_dollar(&self, start: usize) -> (Kind, usize, bool) {
        let rest = &self.src[start + 1..];
        let tag_len: usize = rest
            .chars()
            .take_while(|ch| ch.is_alphanumeric() || *ch == '_')
            .map(char::len_utf8)
            .sum();
        let after_tag = start + 1 + tag_len;
        if self.byte(after_tag) == Some(b'$') {
            let delim = &self.src[start..=after_tag];
            let body = after_tag + 1;
            return match self.src[body..].find(delim) {
                Some(at) => (Kind::DollarStr, body + at + delim.len(), true),
                None => (Kind::DollarStr, self.src.len(), false),
            };
        }
        if tag_len == 0 {
            (Kind::Op, start + 1, true)
        } else if rest.as_bytes()[..tag_len].iter().all(u8::is_ascii_digit) {
            (Kind::Param, after_tag, true)
        } else {
            (Kind::NamedParam, after_tag, true)
        }
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let start = self.pos;
        if start >= self.src.len() {
            return None;
        }
        let (kind, end, terminated) = self.lex(start);
        // Every branch ends on an ASCII byte or at the end, hence on a char boundary; should a
        // logic slip break that, the token grows to the next boundary rather than panicking.
        let mut end = end.clamp(start + 1, self.src.len());
        while !self.src.is_char_boundary(end) {
            end += 1;
        }
        let text = self.src.get(start..end).unwrap_or_default();
        self.pos = end;
        Some(Token { kind, text, terminated })
    }
}

const WORD_START: u8 = 1;
const WORD_PART: u8 = 2;
const SPACE: u8 = 4;

/// Byte classes, looked up instead of compared: the lexer runs on every statement.
static CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        if b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 {
            table[i] = WORD_START | WORD_PART;
        } else if b.is_ascii_digit() || b == b'$' {
            table[i] = WORD_PART;
        } else if matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
            table[i] = SPACE;
        }
        i += 1;
    }
    table
};

/// Identifier start: ASCII letter, `_`, or any non-ASCII byte (PostgreSQL and sqlparser both
/// accept non-ASCII characters in identifiers).
pub(crate) fn is_word_start(b: u8) -> bool {
    CLASSES[usize::from(b)] & WORD_START != 0
}

/// Identifier continuation: also digits and `$`.
pub(crate) fn is_word_part(b: u8) -> bool {
    CLASSES[usize::from(b)] & WORD_PART != 0
}

pub(crate) fn is_space(b: u8) -> bool {
    CLASSES[usize::from(b)] & SPACE != 0
}

pub(crate) fn skip_space(b: &[u8], start: usize) -> usize {
    start + b[start..].iter().take_while(|&&x| is_space(x)).count()
}

fn line_comment_end(b: &[u8], start: usize) -> usize {
    start + b[start..].iter().take_while(|&&x| x != b'\n' && x != b'\r').count()
}

/// Nested `/* … */`: returns the end and whether the outermost comment was closed.
fn block_comment_end(b: &[u8], start: usize) -> (usize, bool) {
    let mut depth = 0usize;
    let mut i = start;
    while i + 1 < b.len() {
        match (b[i], b[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth = depth.saturating_sub(1);
                i += 2;
                if depth == 0 {
                    return (i, true);
                }
            }
            _ => i += 1,
        }
    }
    (b.len(), false)
}

/// Scans a quoted body starting after the opening quote: a doubled quote is an escaped quote;
/// with `backslash`, `\` escapes the next byte. Returns the end and whether it was closed.
pub(crate) fn quoted_end(b: &[u8], mut i: usize, quote: u8, backslash: bool) -> (usize, bool) {
    while i < b.len() {
        let c = b[i];
        if backslash && c == b'\\' {
            i += 2;
        } else if c == quote {
            if b.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return (i + 1, true);
            }
        } else {
            i += 1;
        }
    }
    (b.len(), false)
}

/// Digits, an optional fraction, an optional exponent, then any identifier characters glued
/// on (`0x1F`, `1_000`, `12abc`), which make the token unusual but keep it one token.
pub(crate) fn number_end(b: &[u8], start: usize) -> usize {
    let digits = |i: usize| i + b[i..].iter().take_while(|x| x.is_ascii_digit()).count();
    let mut i = digits(start);
    if b.get(i) == Some(&b'.') {
        i = digits(i + 1);
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(b.get(i + 1), Some(b'+' | b'-')));
        if b.get(i + 1 + sign).is_some_and(u8::is_ascii_digit) {
            i = digits(i + 1 + sign);
        }
    }
    i + b[i..].iter().take_while(|&&x| is_word_part(x)).count()
}

/// The shape of a plain number: an integer of at most 18 digits (fits any integer type
/// sqlparser parses it into), a decimal `digits.digits`, or anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumberShape {
    Integer,
    Decimal,
    Other,
}

/// Classifies a [`Kind::Number`] token's text.
pub(crate) fn number_shape(text: &str) -> NumberShape {
    let b = text.as_bytes();
    let int_len = b.iter().take_while(|x| x.is_ascii_digit()).count();
    if int_len == 0 {
        return NumberShape::Other;
    }
    if int_len == b.len() {
        return if int_len <= 18 { NumberShape::Integer } else { NumberShape::Other };
    }
    let frac = &b[int_len..];
    if frac.len() > 1 && frac[0] == b'.' && frac[1..].iter().all(u8::is_ascii_digit) {
        NumberShape::Decimal
    } else {
        NumberShape::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<(Kind, &str)> {
        Lexer::new(sql).map(|t| (t.kind, t.text)).collect()
    }

    #[test]
    fn lexes_the_tricky_tokens() {
        use Kind::*;
        assert_eq!(
            kinds("E'a\\'b' $1 $$x$$ $t$y$t$ t1 -1 --c\n/* /* */ */'it''s'"),
            vec![
                (EscStr, "E'a\\'b'"),
                (Space, " "),
                (Param, "$1"),
                (Space, " "),
                (DollarStr, "$$x$$"),
                (Space, " "),
                (DollarStr, "$t$y$t$"),
                (Space, " "),
                (Word, "t1"),
                (Space, " "),
                (Op, "-"),
                (Number, "1"),
                (Space, " "),
                (Comment, "--c"),
                (Space, "\n"),
                (Comment, "/* /* */ */"),
                (Str, "'it''s'"),
            ]
        );
    }

    #[test]
    fn unterminated_tokens_run_to_the_end() {
        let toks: Vec<_> = Lexer::new("'abc").collect();
        assert_eq!(toks.len(), 1);
        assert!(!toks[0].terminated);
        let toks: Vec<_> = Lexer::new("$q$ never closed").collect();
        assert_eq!((toks[0].kind, toks[0].terminated), (Kind::DollarStr, false));
    }

    #[test]
    fn number_shapes() {
        assert_eq!(number_shape("8361"), NumberShape::Integer);
        assert_eq!(number_shape("1.5"), NumberShape::Decimal);
        for other in ["1.", ".5", "1e5", "0x1F", "1_000", "1234567890123456789"] {
            assert_eq!(number_shape(other), NumberShape::Other, "{other}");
        }
    }
}
