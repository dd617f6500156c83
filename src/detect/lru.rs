//! A bounded map that evicts its least recently touched entry, for per-connection and
//! per-pattern detector state.
//!
//! Every touch gets a fresh stamp from a counter; a `BTreeMap` from stamp to key keeps the
//! recency order, so touching, evicting and popping the oldest are all O(log n).

use std::collections::BTreeMap;

use crate::fasthash::FastMap;
use std::hash::Hash;

/// Bounded least-recently-used map.
#[derive(Debug)]
pub(crate) struct LruMap<K, V> {
    entries: FastMap<K, Slot<V>>,
    order: BTreeMap<u64, K>,
    clock: u64,
    capacity: usize,
    evictions: u64,
}

#[derive(Debug)]
struct Slot<V> {
    stamp: u64,
    value: V,
}

impl<K: Hash + Eq + Clone, V> LruMap<K, V> {
    /// An empty map holding at most `capacity` entries (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        LruMap {
            entries: FastMap::default(),
            order: BTreeMap::new(),
            clock: 0,
            capacity: capacity.max(1),
            evictions: 0,
        }
    }

    /// The entry for `key`, created with `make` if absent, now the most recent. When a new
    /// entry needs room, the least recent one is evicted, counted and handed back.
    pub(crate) fn touch_or_insert_with(
        &mut self,
        key: K,
        make: impl FnOnce() -> V,
    ) -> (&mut V, Option<(K, V)>) {
        self.clock += 1;
        let stamp = self.clock;
        let evicted = if self.entries.contains_key(&key) { None } else { self.make_room() };
        let slot = self.entries.entry(key.clone()).or_insert_with(|| Slot { stamp, value: make() });
        self.order.remove(&slot.stamp);
        slot.stamp = stamp;
        self.order.insert(stamp, key);
        (&mut slot.value, evicted)
    }

    /// Removes and returns the least recent entry if `expired` says so.
    pub(crate) fn pop_oldest_if(&mut self, expired: impl FnOnce(&V) -> bool) -> Option<(K, V)> {
        let (_, key) = self.order.first_key_value()?;
        if !expired(&self.entries.get(key)?.value) {
            return None;
        }
        self.pop_oldest()
    }

    /// Entries held now.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Entries evicted to stay within the bound (monotonic).
    pub(crate) fn evictions(&self) -> u64 {
        self.evictions
    }

    fn make_room(&mut self) -> Option<(K, V)> {
        if self.entries.len() < self.capacity {
            return None;
        }
        let evicted = self.pop_oldest()?;
        self.evictions += 1;
        Some(evicted)
    }

    fn pop_oldest(&mut self) -> Option<(K, V)> {
        let (_, key) = self.order.pop_first()?;
        let slot = self.entries.remove(&key)?;
        Some((key, slot.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_touched() {
        let mut map = LruMap::new(2);
        map.touch_or_insert_with(1, || "a");
        map.touch_or_insert_with(2, || "b");
        map.touch_or_insert_with(1, || "unused");
        let (value, evicted) = map.touch_or_insert_with(3, || "c");
        assert_eq!(*value, "c");
        assert_eq!(evicted, Some((2, "b")));
        assert_eq!((map.len(), map.evictions()), (2, 1));
    }

    #[test]
    fn touching_keeps_the_value() {
        let mut map = LruMap::new(4);
        *map.touch_or_insert_with(7, || 1).0 += 10;
        assert_eq!(*map.touch_or_insert_with(7, || 0).0, 11);
        assert_eq!(map.evictions(), 0);
    }

    #[test]
    fn pops_oldest_only_when_expired() {
        let mut map = LruMap::new(4);
        map.touch_or_insert_with(1, || 10);
        map.touch_or_insert_with(2, || 20);
        assert_eq!(map.pop_oldest_if(|v| *v > 15), None);
        assert_eq!(map.pop_oldest_if(|v| *v < 15), Some((1, 10)));
        assert_eq!(map.pop_oldest_if(|_| true), Some((2, 20)));
        assert_eq!(map.pop_oldest_if(|_| true), None);
        assert_eq!(map.evictions(), 0);
    }
}
