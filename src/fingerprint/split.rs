//! Splitting a simple-Query string into statements, the way psql and the server's grammar
//! agree on: at a `;` outside quotes, comments, parentheses and `BEGIN ATOMIC … END` bodies.

use super::scan::{Kind, Lexer, Token};

/// Splits a simple-Query string into its statements the way PostgreSQL does: on top-level
/// `;`, respecting `'…'` strings (with `''` escapes), `E'…'` strings (backslash escapes),
/// `"…"` identifiers, `$tag$…$tag$` dollar quoting, `--` and nested `/* */` comments,
/// parentheses, and the `BEGIN … END` body of `CREATE [OR REPLACE] FUNCTION|PROCEDURE`.
/// Empty, whitespace-only and comment-only pieces are dropped (PostgreSQL sends no reply for
/// them). Returned slices are trimmed of ASCII whitespace.
pub fn split_statements(sql: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut lexer = Lexer::new(sql);
    let mut state = Statement::default();
    let mut start = 0;
    loop {
        let at = lexer.offset();
        let Some(tok) = lexer.next() else { break };
        if tok.text == ";" && tok.kind == Kind::Punct && state.at_top_level() {
            push_piece(&mut pieces, sql.get(start..at).unwrap_or_default(), state.has_content);
            start = lexer.offset();
            state = Statement::default();
        } else if !tok.is_trivia() {
            state.observe(&tok);
        }
    }
    push_piece(&mut pieces, sql.get(start..).unwrap_or_default(), state.has_content);
    pieces
}

fn push_piece<'a>(pieces: &mut Vec<&'a str>, piece: &'a str, has_content: bool) {
    if has_content {
        pieces
            .push(piece.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')));
    }
}

/// How the leading words of a statement match `CREATE [OR REPLACE] FUNCTION|PROCEDURE`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Head {
    #[default]
    Start,
    Create,
    CreateOr,
    CreateOrReplace,
    Routine,
    Other,
}

/// What the splitter tracks about the statement in progress.
#[derive(Debug, Default)]
struct Statement {
    has_content: bool,
    head: Head,
    parens: u32,
    begins: u32,
}

impl Statement {
    fn at_top_level(&self) -> bool {
        self.parens == 0 && self.begins == 0
    }

    fn observe(&mut self, tok: &Token<'_>) {
        self.has_content = true;
        match (tok.kind, tok.text) {
            (Kind::Punct, "(") => self.parens += 1,
            (Kind::Punct, ")") => self.parens = self.parens.saturating_sub(1),
            (Kind::Word, _) => self.observe_word(tok),
            _ => {}
        }
    }

    fn observe_word(&mut self, tok: &Token<'_>) {
        self.head = match self.head {
            Head::Start if tok.is_word("create") => Head::Create,
            Head::Create if tok.is_word("or") => Head::CreateOr,
            Head::CreateOr if tok.is_word("replace") => Head::CreateOrReplace,
            Head::Create | Head::CreateOrReplace
                if tok.is_word("function") || tok.is_word("procedure") =>
            {
                Head::Routine
            }
            Head::Routine => Head::Routine,
            _ => Head::Other,
        };
        if self.head != Head::Routine || self.parens > 0 {
            return;
        }
        // The body's `BEGIN … END` holds `;`; `CASE … END` inside it must not close it early.
        if tok.is_word("begin") || (tok.is_word("case") && self.begins > 0) {
            self.begins += 1;
        } else if tok.is_word("end") {
            self.begins = self.begins.saturating_sub(1);
        }
    }
}
