//! sqlcommenter tags: the `/*key='value',…*/` comments ORMs and frameworks add to statements
//! (Django via google-cloud-sqlcommenter, Rails marginalia and query_log_tags, SQLAlchemy,
//! Hibernate, OpenTelemetry instrumentations).
//!
//! Two spellings are read, in a comment at the start or at the end of the statement:
//! - sqlcommenter: `key='value'`, comma-separated; keys and values URL-encoded, a `'` inside
//!   a value escaped as `\'` (<https://google.github.io/sqlcommenter/spec/>);
//! - Rails legacy / marginalia: `key:value`, comma-separated, not encoded.
//!
//! Unquoted `key=value` (Hasura's "standard" tags) is read too. A comment that is not a tag
//! list (`/* load Book */`, a planner hint, malformed quoting) is ignored; nothing panics.

/// Longest comment body looked at, in bytes; longer ones are ignored.
const MAX_COMMENT_BYTES: usize = 4096;
/// Most tags read from one comment.
const MAX_TAGS: usize = 32;

/// Tags read from a statement's leading and trailing comments (trailing first wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags {
    pairs: Vec<(String, String)>,
}

impl Tags {
    /// The value of `key` (exact, case-sensitive), if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// True when no tag was found.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The trace id (second field) of a W3C `traceparent` tag, if present.
    pub fn trace_id(&self) -> Option<&str> {
        self.get("traceparent")?.split('-').nth(1).filter(|id| !id.is_empty())
    }
}

/// Reads the tags of the comment at the end of `sql`, then of the one at its start.
pub fn parse_tags(sql: &str) -> Tags {
    let mut tags = Tags::default();
    let trailing = trailing_comment(sql);
    let leading = leading_comment(sql);
    for body in [trailing, leading].into_iter().flatten() {
        for (key, value) in parse_body(body).unwrap_or_default() {
            if tags.get(&key).is_none() {
                tags.pairs.push((key, value));
            }
        }
        if trailing == leading {
            break;
        }
    }
    tags
}

/// The statement without the comment at its start and the one at its end (where tags live),
/// so that two executions differing only in their tags (a per-query span id) compare equal.
pub fn strip_tag_comments(sql: &str) -> &str {
    let mut core = sql.trim();
    if let Some(body) = leading_comment(core) {
        core = core[body.len() + 4..].trim_start();
    }
    if let Some(body) = trailing_comment(core) {
        let end = core.trim_end_matches(|c: char| c == ';' || c.is_whitespace()).len();
        core = core[..end - body.len() - 4].trim_end();
    }
    core
}

/// The body of a `/* … */` comment that opens the statement.
fn leading_comment(sql: &str) -> Option<&str> {
    let rest = sql.trim_start().strip_prefix("/*")?;
    rest.find("*/").map(|end| &rest[..end])
}

/// The body of a `/* … */` comment that closes the statement (a final `;` allowed).
fn trailing_comment(sql: &str) -> Option<&str> {
    let trimmed = sql.trim_end_matches(|c: char| c == ';' || c.is_whitespace());
    let before = trimmed.strip_suffix("*/")?;
    before.rfind("/*").map(|start| &before[start + 2..])
}

/// One comment body as tags, or `None` if it is not a well-formed tag list.
fn parse_body(body: &str) -> Option<Vec<(String, String)>> {
    let body = body.trim();
    if body.is_empty() || body.len() > MAX_COMMENT_BYTES {
        return None;
    }
    let mut cursor = Cursor { bytes: body.as_bytes(), pos: 0 };
    let mut pairs = Vec::new();
    loop {
        pairs.push(cursor.pair()?);
        cursor.skip_spaces();
        match cursor.next() {
            None => return Some(pairs),
            Some(b',') if pairs.len() < MAX_TAGS => {}
            Some(_) => return None,
        }
    }
}

/// A position in a comment body; every read is bounds-checked.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    /// `key=value`, `key='value'`, `key:value` or `key:'value'`.
    fn pair(&mut self) -> Option<(String, String)> {
        self.skip_spaces();
        let start = self.pos;
        while self.peek().is_some_and(is_key_byte) {
            self.pos += 1;
        }
        let key = percent_decode(self.bytes.get(start..self.pos)?);
        self.skip_spaces();
        if key.is_empty() || !matches!(self.next()?, b'=' | b':') {
            return None;
        }
        self.skip_spaces();
        let value = if self.peek() == Some(b'\'') { self.quoted()? } else { self.unquoted()? };
        Some((key, value))
    }

    /// A single-quoted, URL-encoded value with `\`-escapes; `None` if unterminated.
    fn quoted(&mut self) -> Option<String> {
        self.pos += 1;
        let mut raw = Vec::new();
        loop {
            match self.next()? {
                b'\\' => raw.push(self.next()?),
                b'\'' => return Some(percent_decode(&raw)),
                b => raw.push(b),
            }
        }
    }

    /// A bare value up to the next comma, taken as is.
    fn unquoted(&mut self) -> Option<String> {
        let start = self.pos;
        while self.peek().is_some_and(|b| b != b',') {
            self.pos += 1;
        }
        let raw = self.bytes.get(start..self.pos)?;
        Some(String::from_utf8_lossy(raw).trim().to_string())
    }
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'%')
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits stays as is. Invalid UTF-8
/// becomes U+FFFD.
fn percent_decode(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match (b, raw.get(i + 1).and_then(hex_value), raw.get(i + 2).and_then(hex_value)) {
            (b'%', Some(high), Some(low)) => {
                out.push(high << 4 | low);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(b: &u8) -> Option<u8> {
    char::from(*b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}
