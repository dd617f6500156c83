//! The memoizing front: statement text → shared [`Pattern`], keyed by [`memo_key`].

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::mem;
use std::sync::Arc;

use xxhash_rust::xxh3::xxh3_64;

use super::canon::{Slot, matchable, same_canonical};
use super::key::memo_key_with_slots;
use super::scan::is_word_part;
use super::{Pattern, memo_key, normalize};

/// Texts longer than this get no template: a template keeps a copy of its text.
const TEMPLATE_MAX_TEXT: usize = 2048;
/// Literals a template may hold.
const TEMPLATE_MAX_SLOTS: usize = 64;
/// Templates per generation, at most: in all at most 4 MiB of text and 3 MiB of literal
/// positions.
const TEMPLATE_GENERATION_CAP: usize = 1024;

/// The memo key is already an xxh3 hash; hashing it again would only cost time.
#[derive(Default)]
struct KeyIsHash(u64);

impl Hasher for KeyIsHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Generation<V> = HashMap<u64, V, BuildHasherDefault<KeyIsHash>>;

/// A bounded map of hash → value in two generations of at most `cap` entries each: new
/// entries go into the young one; when it is full, the old one is dropped and the young one
/// becomes old. A hit in the old generation moves the entry back to the young one, so entries
/// in use survive and one-off ones age out, at O(1) per call.
#[derive(Debug)]
struct Generations<V> {
    cap: usize,
    young: Generation<V>,
    old: Generation<V>,
    evictions: u64,
}

impl<V> Generations<V> {
    fn new(cap: usize) -> Self {
        Generations {
            cap,
            young: Generation::with_capacity_and_hasher(cap, Default::default()),
            old: Generation::default(),
            evictions: 0,
        }
    }

    fn get(&mut self, key: u64) -> Option<&mut V> {
        if self.young.contains_key(&key) {
            return self.young.get_mut(&key);
        }
        let value = self.old.remove(&key)?;
        Some(self.insert(key, value))
    }

    fn insert(&mut self, key: u64, value: V) -> &mut V {
        if self.young.len() >= self.cap {
            let fresh = Generation::with_capacity_and_hasher(self.cap, Default::default());
            let retired = mem::replace(&mut self.young, fresh);
            let dropped = mem::replace(&mut self.old, retired);
            self.evictions += dropped.len() as u64;
        }
        self.young.entry(key).insert_entry(value).into_mut()
    }

    fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }
}

/// A canonical memo entry: the pattern, and the exact-text hash of the last statement that
/// found it, so that a text goes into the exact memo only once it has been seen twice.
#[derive(Debug)]
struct Canonical {
    pattern: Arc<Pattern>,
    last_exact: u64,
}

/// A text with literals, kept as the model for texts that differ from it only in their
/// literals' values: those have its canonical form, hence its pattern (see
/// `canon::same_canonical`).
#[derive(Debug)]
struct Template {
    text: Box<[u8]>,
    slots: Box<[Slot]>,
    pattern: Arc<Pattern>,
}

/// Memoizing front: statement text → `Arc<Pattern>`, bounded.
///
/// Three memos, each in [`Generations`]:
/// - the canonical memo, keyed by [`memo_key`]: a statement with other literals, spacing or
///   comments than one seen before finds its pattern without a parse. Every other memo
///   only saves the canonical scan, and every pattern comes from here or from a parse.
/// - for texts without literals (a prepared statement's, `BEGIN`), the exact memo, keyed by a
///   hash of the raw text: one xxh3 pass and one lookup. A text enters it when its pattern's
///   last statement had the same text, so it holds the texts that repeat.
/// - for texts with literals (the simple protocol's, with the values inline), the template
///   memo, keyed by a hash of the text before its first literal: the last text seen with that
///   beginning, and where its literals were. A text that equals it around the literals, with
///   literals of the same kinds, has its pattern; checking that is a compare of bytes, where
///   the canonical scan decides token by token.
///
/// The canonical and exact memos hold at most `capacity` entries each, the template memo at
/// most 2 048 texts of up to 2 KiB. Only a miss in the canonical memo normalizes.
#[derive(Debug)]
pub struct Fingerprinter {
    exact: Generations<Arc<Pattern>>,
    canonical: Generations<Canonical>,
    templates: Generations<Template>,
    /// Scratch for the literals of the text being scanned.
    slots: Vec<Slot>,
    hits: u64,
    misses: u64,
}

impl Fingerprinter {
    /// A memo holding at most `capacity` patterns (at least 2).
    pub fn new(capacity: usize) -> Self {
        let generation_cap = (capacity / 2).max(1);
        Fingerprinter {
            exact: Generations::new(generation_cap),
            canonical: Generations::new(generation_cap),
            templates: Generations::new(generation_cap.min(TEMPLATE_GENERATION_CAP)),
            slots: Vec::new(),
            hits: 0,
            misses: 0,
        }
    }

    /// The pattern of `sql`: from the memo when the same text, or one with an equal
    /// [`memo_key`], was seen; else normalized. Looks the exact text up first, which suits
    /// texts without literals, such as a prepared statement's; see [`Self::fingerprint_query`].
    pub fn fingerprint(&mut self, sql: &str) -> Arc<Pattern> {
        let exact = xxh3_64(sql.as_bytes());
        if let Some(pattern) = self.exact_hit(exact) {
            return pattern;
        }
        match before_first_literal(sql.as_bytes()) {
            None => self.without_literals(sql, exact),
            Some(prefix) => self.with_literals(sql, xxh3_64(prefix)),
        }
    }

    /// The same pattern as [`Self::fingerprint`], found in the order that suits a simple
    /// Query's text, which usually holds literals: only texts without any are memoized by
    /// their exact text, so a text with one skips that lookup and the hash it needs.
    pub fn fingerprint_query(&mut self, sql: &str) -> Arc<Pattern> {
        match before_first_literal(sql.as_bytes()) {
            Some(prefix) => self.with_literals(sql, xxh3_64(prefix)),
            None => {
                let exact = xxh3_64(sql.as_bytes());
                match self.exact_hit(exact) {
                    Some(pattern) => pattern,
                    None => self.without_literals(sql, exact),
                }
            }
        }
    }

    /// The pattern of a text without literals whose exact hash was memoized, counted as a hit.
    fn exact_hit(&mut self, exact: u64) -> Option<Arc<Pattern>> {
        let pattern = Arc::clone(self.exact.get(exact)?);
        self.hits += 1;
        Some(pattern)
    }

    /// A text without literals that missed the exact-text memo.
    fn without_literals(&mut self, sql: &str, exact: u64) -> Arc<Pattern> {
        let key = memo_key(sql);
        if let Some(entry) = self.canonical.get(key) {
            self.hits += 1;
            let pattern = Arc::clone(&entry.pattern);
            if mem::replace(&mut entry.last_exact, exact) == exact {
                self.exact.insert(exact, Arc::clone(&pattern));
            }
            return pattern;
        }
        self.normalize_new(sql, key, exact)
    }

    fn with_literals(&mut self, sql: &str, shape: u64) -> Arc<Pattern> {
        if let Some(template) = self.templates.get(shape)
            && same_canonical(&template.text, &template.slots, sql.as_bytes())
        {
            self.hits += 1;
            return Arc::clone(&template.pattern);
        }
        let key = memo_key_with_slots(sql, &mut self.slots, TEMPLATE_MAX_SLOTS);
        let pattern = match self.canonical.get(key) {
            Some(entry) => {
                self.hits += 1;
                Arc::clone(&entry.pattern)
            }
            None => self.normalize_new(sql, key, 0),
        };
        if sql.len() <= TEMPLATE_MAX_TEXT
            && self.slots.len() <= TEMPLATE_MAX_SLOTS
            && matchable(&self.slots)
        {
            let template = Template {
                text: sql.as_bytes().into(),
                slots: self.slots.as_slice().into(),
                pattern: Arc::clone(&pattern),
            };
            self.templates.insert(shape, template);
        }
        pattern
    }

    fn normalize_new(&mut self, sql: &str, key: u64, exact: u64) -> Arc<Pattern> {
        self.misses += 1;
        let pattern = Arc::new(normalize(sql));
        self.canonical.insert(key, Canonical { pattern: Arc::clone(&pattern), last_exact: exact });
        pattern
    }

    /// Calls answered from the memo.
    pub fn hits(&self) -> u64 {
        self.hits
    }

    /// Calls that had to normalize.
    pub fn misses(&self) -> u64 {
        self.misses
    }

    /// Patterns dropped from the canonical memo to respect its capacity.
    pub fn evictions(&self) -> u64 {
        self.canonical.evictions
    }

    /// Texts dropped from the exact memo to respect its capacity (a dropped text is found
    /// again through the canonical memo).
    pub fn exact_evictions(&self) -> u64 {
        self.exact.evictions
    }

    /// Texts dropped from the template memo to respect its capacity (a text like a dropped
    /// one is found again through the canonical memo).
    pub fn template_evictions(&self) -> u64 {
        self.templates.evictions
    }

    /// Patterns currently memoized.
    pub fn len(&self) -> usize {
        self.canonical.len()
    }

    /// True when nothing is memoized.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The bytes before the first literal's possible start (a `'`, or a digit that does not
/// continue an identifier), or None when nothing could be a literal.
///
/// Runs on every simple-protocol statement, so it reads eight bytes at a time: quotes and
/// digits are rare before a statement's first literal, and a word without either costs a
/// few arithmetic operations instead of a branch per byte.
fn before_first_literal(sql: &[u8]) -> Option<&[u8]> {
    let mut words = sql.chunks_exact(8);
    let mut base = 0;
    for word in &mut words {
        let word = <[u8; 8]>::try_from(word).expect("chunks_exact yields 8 bytes");
        let mut candidates = quotes_and_digits(u64::from_le_bytes(word));
        while candidates != 0 {
            let at = base + candidates.trailing_zeros() as usize / 8;
            if starts_literal(sql, at) {
                return sql.get(..at);
            }
            candidates &= candidates - 1;
        }
        base += 8;
    }
    (base..sql.len()).find(|&at| starts_literal(sql, at)).and_then(|at| sql.get(..at))
}

/// True when a literal may start at `at`: a quote, or a digit not preceded by a word's byte.
fn starts_literal(sql: &[u8], at: usize) -> bool {
    match sql.get(at) {
        Some(b'\'') => true,
        Some(b) if b.is_ascii_digit() => {
            at.checked_sub(1).and_then(|p| sql.get(p)).is_none_or(|&p| !is_word_part(p))
        }
        _ => false,
    }
}

/// The high bit of every byte of `word` that is an ASCII digit or `'`, and no other bit.
/// Byte-wise arithmetic on the low seven bits cannot carry into the next byte.
fn quotes_and_digits(word: u64) -> u64 {
    const fn splat(b: u8) -> u64 {
        u64::from_ne_bytes([b; 8])
    }
    const HIGH: u64 = splat(0x80);
    const LOW: u64 = splat(0x7f);
    let ascii = !word & HIGH;
    let low = word & LOW;
    let at_least_zero = low + splat(0x80 - b'0');
    let above_nine = low + splat(0x80 - b'9' - 1);
    let not_quote = (low ^ splat(b'\'')) + LOW;
    ((at_least_zero & !above_nine) | !not_quote) & ascii
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-at-a-time definition `before_first_literal` must agree with.
    fn before_first_literal_bytewise(sql: &[u8]) -> Option<&[u8]> {
        let mut after_word = false;
        for (i, &b) in sql.iter().enumerate() {
            if b == b'\'' || (b.is_ascii_digit() && !after_word) {
                return sql.get(..i);
            }
            after_word = is_word_part(b);
        }
        None
    }

    #[test]
    fn the_literal_scan_agrees_with_the_bytewise_definition() {
        let texts = [
            "UPDATE pgbench_accounts SET abalance = abalance + -4711 WHERE aid = 123456;",
            "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
            "SELECT t1.c2 FROM t1 WHERE x = 'it''s' AND y = 3",
            "SELECT \"résumé\" FROM t WHERE a = 'é' AND b = 0",
            "BEGIN;",
            "",
            "7",
            "'",
            "abcdefg7",
            "abcdefgh7",
            "abcdefg 7",
            "abcdefgh 7",
            "a$1 b_2 c3d 'x'",
        ];
        for text in texts {
            let sql = text.as_bytes();
            assert_eq!(before_first_literal(sql), before_first_literal_bytewise(sql), "{text:?}");
        }
        // Every byte value at every position of a word and across a word boundary, after a
        // word byte, a space and a high byte.
        for len in 1..=17 {
            for at in 0..len {
                for prev in [b'a', b' ', 0xc3] {
                    for b in 0..=255u8 {
                        let mut sql = vec![prev; len];
                        sql[at] = b;
                        assert_eq!(
                            before_first_literal(&sql),
                            before_first_literal_bytewise(&sql),
                            "{sql:?}"
                        );
                    }
                }
            }
        }
        // Pseudo-random bytes drawn mostly from the interesting ones.
        let alphabet = b"ab_$ 09'\x80\xff(,;=\n";
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let len = (state % 40) as usize;
            let sql: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    alphabet[(state % alphabet.len() as u64) as usize]
                })
                .collect();
            assert_eq!(before_first_literal(&sql), before_first_literal_bytewise(&sql), "{sql:?}");
        }
    }

    #[test]
    fn repeats_and_other_literals_hit() {
        let mut fp = Fingerprinter::new(16);
        let first = fp.fingerprint("SELECT * FROM t WHERE id = 1");
        let again = fp.fingerprint("SELECT * FROM t WHERE id = 1");
        let other = fp.fingerprint("SELECT * FROM t WHERE id = 2 -- other");
        assert!(Arc::ptr_eq(&first, &again) && Arc::ptr_eq(&first, &other));
        assert_eq!((fp.hits(), fp.misses(), fp.len()), (2, 1, 1));
        assert_eq!(first.text, "SELECT * FROM t WHERE id = $1");
    }

    #[test]
    fn exact_repeats_skip_the_canonical_scan_and_stay_bounded() {
        let mut fp = Fingerprinter::new(10);
        for i in 0..100 {
            let pattern = fp.fingerprint(&format!("SELECT * FROM t WHERE id = {i}"));
            assert_eq!(pattern.text, "SELECT * FROM t WHERE id = $1");
            assert!(fp.exact.len() <= 10, "exact memo holds {}", fp.exact.len());
        }
        assert_eq!((fp.misses(), fp.hits(), fp.len()), (1, 99, 1));
        let before = fp.canonical.young.len() + fp.canonical.old.len();
        fp.fingerprint("SELECT * FROM t WHERE id = 99");
        assert_eq!(fp.canonical.len(), before);
        assert_eq!(fp.hits(), 100);
    }

    #[test]
    fn only_texts_seen_twice_enter_the_exact_memo() {
        let mut fp = Fingerprinter::new(100);
        for i in 0..20 {
            fp.fingerprint(&format!("SELECT * FROM t WHERE id = {i}"));
        }
        assert_eq!(fp.exact.len(), 0, "texts with their own literals stay out");
        fp.fingerprint("SELECT * FROM t WHERE id = $1");
        assert_eq!(fp.exact.len(), 0, "a first call does not enter");
        fp.fingerprint("SELECT * FROM t WHERE id = $1");
        assert_eq!(fp.exact.len(), 1, "the second call in a row does");
        let hits = fp.hits();
        let pattern = fp.fingerprint("SELECT * FROM t WHERE id = $1");
        assert_eq!(fp.hits(), hits + 1);
        assert_eq!(pattern.text, "SELECT * FROM t WHERE id = $1");
        assert_eq!(fp.exact.len(), 1);
    }

    #[test]
    fn texts_with_other_literals_are_matched_against_a_template() {
        let mut fp = Fingerprinter::new(100);
        let first = fp.fingerprint("UPDATE t SET a = a + -5 WHERE id = 7 AND s = 'x'");
        assert_eq!(fp.templates.len(), 1);
        // With the canonical memo gone, only the template can answer without a parse.
        fp.canonical = Generations::new(50);
        for sql in [
            "UPDATE t SET a = a + -4047 WHERE id = 123456 AND s = 'it''s'",
            "UPDATE t SET a = a + -0 WHERE id = 1 AND s = ''",
        ] {
            assert!(Arc::ptr_eq(&fp.fingerprint(sql), &first), "{sql}");
        }
        assert_eq!((fp.misses(), fp.hits()), (1, 2));
        // Other kinds, spacing or words are not the template's: they go the long way.
        for sql in [
            "UPDATE t SET a = a + -5.5 WHERE id = 7 AND s = 'x'",
            "UPDATE t SET a = a + -5 WHERE id = 7  AND s = 'x'",
            "UPDATE t SET a = a + -5 WHERE id = 7 AND s = 'x' OR true",
            "UPDATE t SET a = a + -5 WHERE id = 7e2 AND s = 'x'",
            "UPDATE t SET a = a + -5 WHERE id = 7 AND s = 'x",
        ] {
            let misses = fp.misses();
            fp.fingerprint(sql);
            assert_eq!(fp.misses(), misses + 1, "{sql}");
        }
    }

    #[test]
    fn the_template_memo_is_bounded_and_counts_evictions() {
        let mut fp = Fingerprinter::new(10);
        for i in 0..100 {
            fp.fingerprint(&format!("SELECT c{i} FROM t WHERE a = 1"));
            assert!(fp.templates.len() <= 10, "{} templates", fp.templates.len());
        }
        assert_eq!(fp.template_evictions() + fp.templates.len() as u64, 100);
        let long = format!("SELECT 1 FROM t WHERE a IN ({})", "'x', ".repeat(600));
        fp.fingerprint(&long);
        assert_eq!(fp.template_evictions() + fp.templates.len() as u64, 100, "too long");
        let many = format!("SELECT 1 FROM t WHERE a IN ({}1)", "1,".repeat(100));
        fp.fingerprint(&many);
        assert_eq!(fp.template_evictions() + fp.templates.len() as u64, 100, "too many");
    }

    #[test]
    fn stays_within_capacity_and_counts_evictions() {
        let mut fp = Fingerprinter::new(10);
        for i in 0..100 {
            fp.fingerprint(&format!("SELECT c{i} FROM t"));
            assert!(fp.len() <= 10, "len {} after {i}", fp.len());
        }
        assert_eq!(fp.misses(), 100);
        assert_eq!(fp.evictions() + fp.len() as u64, 100);
    }

    #[test]
    fn patterns_in_use_survive_eviction() {
        let mut fp = Fingerprinter::new(4);
        for i in 0..50 {
            fp.fingerprint("SELECT 1");
            fp.fingerprint(&format!("SELECT c{i} FROM t"));
        }
        assert_eq!(fp.misses(), 51);
        assert_eq!(fp.hits(), 49);
    }

    #[test]
    fn tiny_capacities_work() {
        for capacity in [0, 1, 2] {
            let mut fp = Fingerprinter::new(capacity);
            fp.fingerprint("SELECT 1");
            fp.fingerprint("SELECT 2");
            fp.fingerprint("SELECT a");
            assert!(fp.len() <= 2);
            assert!(!fp.is_empty());
        }
    }
}
