//! Which literal tokens the canonical form may replace by a fixed literal of their kind.
//!
//! The memo invariant holds whatever this decides (see `canon`); what is at stake is the
//! pattern's accuracy: a literal should be replaced only where sqlparser turns it into a
//! `Value` node, which the normalizer replaces anyway. Two traps decide the rules:
//! - type modifiers: `varchar(255)`, `numeric(10,2)`, `int[3]`, `mytype('x')` keep their
//!   numbers and strings in the printed type. So inside a `(`/`[` group opened right after a
//!   word that is not a known keyword or function name, literals are kept.
//! - parse success must not depend on the value: integers over 18 digits, `E'…'` strings
//!   with backslash escapes (sqlparser rejects some), numbers glued to `:`/`@`/`.` (`:1` is
//!   a named placeholder) are kept, and decimals stay decimals.
//!
//! The same tracker runs over sqlparser's output in the placeholder pass, so a number that
//! sqlparser kept outside a `Value` (`KILL 5`) is still replaced there.

use super::scan::{Kind, NumberShape, Token, number_shape};

/// What kind of literal a replaceable token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LiteralKind {
    Integer,
    Decimal,
    Str,
    EscStr,
    DollarStr,
}

impl LiteralKind {
    /// The fixed literal of this kind that stands for every value in the canonical form.
    pub fn canonical(self) -> &'static str {
        match self {
            LiteralKind::Integer => "1",
            LiteralKind::Decimal => "1.0",
            LiteralKind::Str => "'s'",
            LiteralKind::EscStr => "E's'",
            LiteralKind::DollarStr => "$$s$$",
        }
    }
}

/// How deep the group stack is tracked; deeper groups count as "keep literals".
const MAX_DEPTH: u32 = 128;

/// The significant token before the current one, as far as group openers care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Before<'a> {
    /// Start of text, `(`, `[`, `,`, `;` or an operator: a new group inherits its parent.
    Inherit,
    /// A word, looked at only if a bracket follows: it may be a keyword or function whose
    /// parentheses hold plain values, `ARRAY`, or a type name.
    Word(&'a str),
    /// Anything else: a quoted identifier, closing bracket or literal.
    Other,
}

/// Tracks bracket groups and neighbours while tokens stream by.
pub(crate) struct LiteralContext<'a> {
    /// Bit `d` set: the group at depth `d + 1` holds plain values.
    values: u128,
    depth: u32,
    before: Before<'a>,
    /// The token just before (trivia included) allows a literal to start here.
    clean_left: bool,
}

impl<'a> LiteralContext<'a> {
    pub fn new() -> Self {
        LiteralContext { values: 0, depth: 0, before: Before::Inherit, clean_left: true }
    }

    /// Classifies `tok` (None: keep it as it is) and moves past it.
    pub fn step(&mut self, tok: &Token<'a>, next_byte: Option<u8>) -> Option<LiteralKind> {
        match tok.kind {
            Kind::Space | Kind::Comment => self.trivia(),
            Kind::Word => self.word(tok.text),
            Kind::Punct => self.punct(tok.first()),
            Kind::Op => self.op(tok.first()),
            _ => return self.operand(tok, next_byte),
        }
        None
    }

    /// Whitespace or a comment: the next number may be a literal.
    pub fn trivia(&mut self) {
        self.clean_left = true;
    }

    /// An identifier or keyword.
    pub fn word(&mut self, text: &'a str) {
        self.clean_left = false;
        self.before = Before::Word(text);
    }

    /// A one-byte operator, `.` or `:` included.
    pub fn op(&mut self, byte: u8) {
        self.clean_left = matches!(
            byte,
            b'=' | b'<' | b'>' | b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'|' | b'~' | b'!'
        );
        self.before = Before::Inherit;
    }

    /// One of `( ) [ ] , ;`.
    pub fn punct(&mut self, byte: u8) {
        let closing = matches!(byte, b')' | b']');
        match byte {
            b'(' | b'[' => self.open(byte == b'['),
            b')' | b']' => self.depth = self.depth.saturating_sub(1),
            _ => {}
        }
        self.clean_left = !closing;
        self.before = if closing { Before::Other } else { Before::Inherit };
    }

    /// Any other token (literal, quoted identifier, parameter): the literal kind it may be
    /// replaced as, if any.
    pub fn operand(&mut self, tok: &Token<'_>, next_byte: Option<u8>) -> Option<LiteralKind> {
        let kind = self.classify(tok, next_byte);
        self.other();
        kind
    }

    /// An operand known not to be a replaceable literal, like a quoted identifier.
    pub fn other(&mut self) {
        self.clean_left = false;
        self.before = Before::Other;
    }

    fn classify(&self, tok: &Token<'_>, next_byte: Option<u8>) -> Option<LiteralKind> {
        if !tok.terminated || !self.in_value_group() {
            return None;
        }
        match tok.kind {
            Kind::Str => Some(LiteralKind::Str),
            Kind::EscStr if !tok.text.contains('\\') => Some(LiteralKind::EscStr),
            Kind::DollarStr => Some(LiteralKind::DollarStr),
            Kind::Number if self.clean_left && clean_right(next_byte) => {
                match number_shape(tok.text) {
                    NumberShape::Integer => Some(LiteralKind::Integer),
                    NumberShape::Decimal => Some(LiteralKind::Decimal),
                    NumberShape::Other => None,
                }
            }
            _ => None,
        }
    }

    fn in_value_group(&self) -> bool {
        match self.depth {
            0 => true,
            d if d <= MAX_DEPTH => self.values & (1u128 << (d - 1)) != 0,
            _ => false,
        }
    }

    fn open(&mut self, bracket: bool) {
        let holds_values = match self.before {
            Before::Inherit => self.in_value_group(),
            Before::Word(word) if word.eq_ignore_ascii_case("array") => true,
            Before::Word(word) => !bracket && is_value_word(word),
            Before::Other => false,
        };
        self.depth = self.depth.saturating_add(1);
        if (1..=MAX_DEPTH).contains(&self.depth) {
            let bit = 1u128 << (self.depth - 1);
            if holds_values {
                self.values |= bit;
            } else {
                self.values &= !bit;
            }
        }
    }
}

/// A number glued to a following `.`, quote or identifier is not a plain literal.
fn clean_right(next_byte: Option<u8>) -> bool {
    !matches!(next_byte, Some(b'.' | b'\'' | b'"'))
}

/// Keywords and common functions whose parentheses hold expressions, never type modifiers
/// (kept sorted to read; looked up through `VALUE_TABLE`).
#[rustfmt::skip]
const VALUE_WORDS: &[&str] = &[
    "abs", "age", "all", "and", "any", "array_agg", "array_length", "array_position", "as", "avg",
    "between", "btrim", "cardinality", "coalesce", "concat", "concat_ws", "count",
    "current_setting", "currval", "date_part", "date_trunc", "distinct", "else", "exists",
    "extract", "format", "from", "generate_series", "greatest", "having", "ilike", "in", "is",
    "join", "json_build_array", "json_build_object", "jsonb_build_array", "jsonb_build_object",
    "jsonb_extract_path", "jsonb_extract_path_text", "jsonb_set", "least", "length", "like",
    "limit", "lower", "ltrim", "make_interval", "max", "min", "nextval", "not", "nullif",
    "offset", "on", "or", "pg_advisory_lock", "pg_advisory_unlock", "pg_advisory_xact_lock",
    "pg_try_advisory_lock", "pg_try_advisory_xact_lock", "plainto_tsquery", "position",
    "regexp_match", "regexp_replace", "replace", "returning", "round", "rtrim", "select",
    "set_config", "setval", "some", "split_part", "starts_with", "string_agg", "strpos", "substr",
    "substring", "sum", "then", "to_char", "to_date", "to_json", "to_jsonb", "to_number",
    "to_timestamp", "to_tsquery", "to_tsvector", "trim", "union", "unnest", "upper", "using",
    "values", "websearch_to_tsquery", "when", "where",
];

fn is_value_word(word: &str) -> bool {
    let Some(key) = word_key(word.as_bytes()) else {
        return false;
    };
    let mut slot = slot_of(&key);
    loop {
        match &VALUE_TABLE[slot] {
            k if *k == key => return true,
            k if *k == EMPTY => return false,
            _ => slot = (slot + 1) % VALUE_TABLE.len(),
        }
    }
}

/// A word of at most 32 bytes as four little-endian words, each byte ORed with 0x20. For the
/// lowercase letters and `_` of [`VALUE_WORDS`] that folds exactly the bytes that match them
/// case-insensitively: `b | 0x20` is a lowercase letter only for a letter, and 0x7F (`_`) only
/// for `_` or DEL, which no word contains.
type WordKey = [u64; 4];

const EMPTY: WordKey = [0; 4];

const fn word_key(word: &[u8]) -> Option<WordKey> {
    if word.is_empty() || word.len() > 32 {
        return None;
    }
    let mut key = EMPTY;
    let mut i = 0;
    while i < word.len() {
        key[i / 8] |= ((word[i] | 0x20) as u64) << (8 * (i % 8));
        i += 1;
    }
    Some(key)
}

const fn slot_of(key: &WordKey) -> usize {
    let mixed = key[0] ^ key[1].rotate_left(17) ^ key[2].rotate_left(31) ^ key[3].rotate_left(47);
    (mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize
}

/// [`VALUE_WORDS`] in an open-addressing table of 256 slots, built at compile time: a
/// lookup is one hash and a probe or two, where a binary search cost seven string compares
/// on every `(` after a word.
static VALUE_TABLE: [WordKey; 256] = {
    let mut table = [EMPTY; 256];
    let mut i = 0;
    while i < VALUE_WORDS.len() {
        let Some(key) = word_key(VALUE_WORDS[i].as_bytes()) else {
            panic!("value words are short");
        };
        let mut slot = slot_of(&key);
        while table[slot][0] != 0 {
            slot = (slot + 1) % 256;
        }
        table[slot] = key;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::scan::Lexer;

    /// The texts of the tokens the tracker would drop from the key.
    fn dropped(sql: &str) -> Vec<&str> {
        let mut ctx = LiteralContext::new();
        let toks: Vec<_> = Lexer::new(sql).collect();
        let mut out = Vec::new();
        for (i, tok) in toks.iter().enumerate() {
            let next = toks.get(i + 1).map(|t| t.first());
            if ctx.step(tok, next).is_some() {
                out.push(tok.text);
            }
        }
        out
    }

    #[test]
    fn drops_values_and_keeps_type_modifiers() {
        assert_eq!(
            dropped("SELECT x::varchar(255), 'a', 1.5 FROM t WHERE a IN (1, '2') LIMIT 21"),
            vec!["'a'", "1.5", "1", "'2'", "21"]
        );
        assert_eq!(dropped("SELECT CAST(y AS numeric(10, 2)), z::int[3]"), Vec::<&str>::new());
        assert_eq!(dropped("SELECT x::geometry('POINT', 4326)"), Vec::<&str>::new());
        assert_eq!(dropped("SELECT ARRAY[[1, 2], [3]], arr[1]"), vec!["1", "2", "3"]);
        assert_eq!(dropped("SELECT lower('A'), f('b')"), vec!["'A'"]);
    }

    #[test]
    fn value_words_are_sorted() {
        assert!(VALUE_WORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(is_value_word("COALESCE") && is_value_word("in") && !is_value_word("varchar"));
    }

    #[test]
    fn the_value_table_finds_exactly_the_value_words() {
        for word in VALUE_WORDS {
            assert!(is_value_word(word) && is_value_word(&word.to_uppercase()), "{word}");
            for cut in 1..word.len() {
                assert_eq!(is_value_word(&word[..cut]), VALUE_WORDS.contains(&&word[..cut]));
            }
            let last = word.len() - 1;
            for swap in ["\x7f", "\u{e9}", "x", "1", "$", "_"] {
                let other = format!("{}{swap}", &word[..last]);
                assert_eq!(is_value_word(&other), VALUE_WORDS.contains(&other.as_str()), "{other}");
            }
        }
        for other in ["", "varchar", "numeric", "_n", "IN_", "select\0", &"a".repeat(40)] {
            assert!(!is_value_word(other), "{other:?}");
        }
    }

    #[test]
    fn keeps_literals_whose_value_could_change_the_parse() {
        assert_eq!(
            dropped("SELECT :1, @2, t.3, 12345678901234567890, 1e5, E'\\n', E'x', 'open"),
            vec!["E'x'"]
        );
    }
}
