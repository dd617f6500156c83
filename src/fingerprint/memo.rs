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

type Generation = HashMap<u64, Arc<Pattern>, BuildHasherDefault<KeyIsHash>>;

/// A bounded map of hash → pattern in two generations of at most `cap` entries each: new
/// entries go into the young one; when it is full, the old one is dropped and the young one
/// becomes old. A hit in the old generation moves the entry back to the young one, so entries
/// in use survive and one-off ones age out, at O(1) per call.
#[derive(Debug)]
struct Generations {
    cap: usize,
    young: Generation,
    old: Generation,
    evictions: u64,
}

impl Generations {
    fn new(cap: usize) -> Self {
        Generations {
            cap,
            young: Generation::with_capacity_and_hasher(cap, Default::default()),
            old: Generation::default(),
            evictions: 0,
        }
    }

    fn get(&mut self, key: u64) -> Option<Arc<Pattern>> {
        if let Some(pattern) = self.young.get(&key) {
            return Some(Arc::clone(pattern));
        }
        let pattern = self.old.remove(&key)?;
        self.insert(key, Arc::clone(&pattern));
        Some(pattern)
    }

    fn insert(&mut self, key: u64, pattern: Arc<Pattern>) {
        if self.young.len() >= self.cap {
            let fresh = Generation::with_capacity_and_hasher(self.cap, Default::default());
            let retired = mem::replace(&mut self.young, fresh);
            let dropped = mem::replace(&mut self.old, retired);
            self.evictions += dropped.len() as u64;
        }
        self.young.insert(key, pattern);
    }

    fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }
}

/// Memoizing front: statement text → `Arc<Pattern>`, bounded.
///
/// Two memos of at most `capacity` entries each, in [`Generations`]:
/// - the exact memo, keyed by a hash of the raw text: a statement that repeats byte for byte
///   (every execution of a prepared statement) costs one xxh3 pass and one lookup;
/// - the canonical memo, keyed by [`memo_key`]: the same statement with other literals,
///   spacing or comments finds its pattern without a parse.
///
/// Only a miss in both normalizes.
#[derive(Debug)]
pub struct Fingerprinter {
    exact: Generations,
    canonical: Generations,
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
            return pattern;
        }
        let key = memo_key(sql);
        let pattern = match self.canonical.get(key) {
            Some(pattern) => {
                self.hits += 1;
                pattern
            }
            None => {
                self.misses += 1;
                let pattern = Arc::new(normalize(sql));
                self.canonical.insert(key, Arc::clone(&pattern));
                pattern
            }
        };
        self.exact.insert(exact, Arc::clone(&pattern));
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
