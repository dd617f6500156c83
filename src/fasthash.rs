//! A fast hasher for the hot maps of the data and analysis paths, whose keys are short names,
//! connection ids and pattern ids (already hashes). SipHash, std's default, showed up in the
//! profiles of both threads (docs/benchmarks.md); this is one multiply per 8 bytes.
//!
//! Not DoS-resistant. Every map that uses it is bounded (per-connection statement names by
//! `max_prepared`, patterns by `max_patterns`, routes by their limit), so keys chosen to
//! collide make lookups slower, never unbounded.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Multiply-rotate hashing, word by word.
#[derive(Debug, Default, Clone, Copy)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// A `HashMap` with [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// A `HashSet` with [`FastHasher`].
pub type FastSet<T> = HashSet<T, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn equal_keys_hash_equal_and_near_keys_differ() {
        let build = BuildHasherDefault::<FastHasher>::default();
        assert_eq!(build.hash_one(b"P0_1".as_slice()), build.hash_one(b"P0_1".as_slice()));
        let names = ["", "P0_1", "P0_2", "P0_10", "__asyncpg_stmt_1__", "__asyncpg_stmt_2__"];
        let hashes: std::collections::HashSet<u64> =
            names.iter().map(|n| build.hash_one(n.as_bytes())).collect();
        assert_eq!(hashes.len(), names.len());
        let ids: std::collections::HashSet<u64> =
            (0..10_000u64).map(|i| build.hash_one(i)).collect();
        assert_eq!(ids.len(), 10_000);
    }

    #[test]
    fn a_map_works_as_a_map() {
        let mut map: FastMap<u64, u32> = FastMap::default();
        for i in 0..1000 {
            map.insert(i * 7919, i as u32);
        }
        assert!((0..1000).all(|i| map.get(&(i * 7919)) == Some(&(i as u32))));
    }
}
