//! The memoizing front: statement text → shared [`Pattern`], keyed by [`memo_key`].

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::mem;
use std::sync::Arc;

use xxhash_rust::xxh3::xxh3_64;

use super::{Pattern, memo_key, normalize};

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

/// Memoizing front: statement text → `Arc<Pattern>`, bounded.
///
/// Two memos of at most `capacity` entries each, in [`Generations`]:
/// - the exact memo, keyed by a hash of the raw text: a statement that repeats byte for byte
///   (every execution of a prepared statement) costs one xxh3 pass and one lookup;
/// - the canonical memo, keyed by [`memo_key`]: the same statement with other literals,
///   spacing or comments finds its pattern without a parse.
///
/// Only a miss in both normalizes. A text enters the exact memo when its pattern's last
/// statement had the same text: texts that repeat get there on their second call, and the
/// simple-protocol texts that carry their literals inline, nearly all different, never fill it
/// (each would have cost an insert into a large table, and pushed out the texts that repeat).
#[derive(Debug)]
pub struct Fingerprinter {
    exact: Generations<Arc<Pattern>>,
    canonical: Generations<Canonical>,
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
            hits: 0,
            misses: 0,
        }
    }

    /// The pattern of `sql`: from the memo when the same text, or one with an equal
    /// [`memo_key`], was seen; else normalized.
    pub fn fingerprint(&mut self, sql: &str) -> Arc<Pattern> {
        let exact = xxh3_64(sql.as_bytes());
        if let Some(pattern) = self.exact.get(exact) {
            self.hits += 1;
            return Arc::clone(pattern);
        }
        let key = memo_key(sql);
        if let Some(entry) = self.canonical.get(key) {
            self.hits += 1;
            let pattern = Arc::clone(&entry.pattern);
            if mem::replace(&mut entry.last_exact, exact) == exact {
                self.exact.insert(exact, Arc::clone(&pattern));
            }
            return pattern;
        }
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

    /// Patterns currently memoized.
    pub fn len(&self) -> usize {
        self.canonical.len()
    }

    /// True when nothing is memoized.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
