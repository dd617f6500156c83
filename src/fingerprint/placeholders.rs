//! The last pass of normalization: numbers placeholders in textual order.
//!
//! Input is marked text from either path. Parameters already present (`$1`, `$2`, … from the
//! extended protocol) keep their relative order but are compacted to `$1..$n`, which leaves
//! them unchanged whenever they were `$1..$n` already (every driver) and closes the gaps left
//! when a list like `IN ($1, $2, $3)` collapsed to `IN ($1)`. Literals, then, are numbered
//! from `$n+1` on, in the order they appear, like pg_stat_statements does.
//!
//! It is also a safety net: any string literal still in the text (sqlparser keeps a few
//! outside `Value` nodes, e.g. `SELECT 'a' 'b'` parses as an alias `'b'`), and any plain
//! number where the memo key would have dropped one, becomes a placeholder too, so no literal
//! value survives and the memo invariant holds for those spots as well.

use std::fmt::Write as _;

use super::context::LiteralContext;
use super::rewrite::LITERAL_MARKER;
use super::scan::{Kind, Lexer, Token};

/// Replaces markers and leftover literals by `$n` and compacts existing parameters.
pub(crate) fn number_placeholders(marked: &str) -> String {
    let params = distinct_params(marked);
    let mut next_literal = params.len() + 1;
    let mut out = String::with_capacity(marked.len() + 8);
    let mut ctx = LiteralContext::new();
    let mut lexer = Lexer::new(marked).peekable();
    while let Some(tok) = lexer.next() {
        let next_byte = lexer.peek().map(Token::first);
        let dropped = ctx.step(&tok, next_byte).is_some();
        if dropped || tok.is_string() || tok.text == LITERAL_MARKER {
            let _ = write!(out, "${next_literal}");
            next_literal += 1;
        } else if let Some(rank) = param_number(&tok).and_then(|n| params.binary_search(&n).ok()) {
            let _ = write!(out, "${}", rank + 1);
        } else {
            out.push_str(tok.text);
        }
    }
    out
}

/// The numbers of the parameters in the text, sorted and deduplicated.
fn distinct_params(marked: &str) -> Vec<u64> {
    let mut params: Vec<u64> = Lexer::new(marked).filter_map(|t| param_number(&t)).collect();
    params.sort_unstable();
    params.dedup();
    params
}

/// `$n` for n ≥ 1 (the marker `$0` is a literal, not a parameter).
fn param_number(tok: &Token<'_>) -> Option<u64> {
    if tok.kind != Kind::Param {
        return None;
    }
    tok.text.get(1..)?.parse().ok().filter(|&n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_literals_after_existing_parameters() {
        assert_eq!(number_placeholders("a = $0 AND b = $1"), "a = $2 AND b = $1");
        assert_eq!(number_placeholders("a IN ($1) LIMIT $4"), "a IN ($1) LIMIT $2");
        assert_eq!(number_placeholders("$2 + $1 + $2"), "$2 + $1 + $2");
        assert_eq!(number_placeholders("x = 'left' AND y = $0"), "x = $1 AND y = $2");
    }
}
