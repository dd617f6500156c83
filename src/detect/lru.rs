//! A bounded map that evicts its least recently touched entry, for per-connection and
//! per-pattern detector state.
//!
//! Entries live in a slab (`Vec`) linked into a recency list by index, and a hash map finds a
//! key's slot: touching, evicting and popping the oldest are O(1) and allocate nothing once
//! the slab has grown to its bound. (A `BTreeMap` of stamps did the same in O(log n) with an
//! allocation per touch, and showed up in the analysis thread's profile.)

use std::hash::Hash;

use crate::fasthash::FastMap;

/// No slot: the end of the recency list.
const NIL: usize = usize::MAX;

/// Bounded least-recently-used map.
#[derive(Debug)]
pub(crate) struct LruMap<K, V> {
    index: FastMap<K, usize>,
    slots: Vec<Slot<K, V>>,
    /// Slots of removed entries, reused before the slab grows.
    free: Vec<usize>,
    /// Most and least recently touched slots.
    newest: usize,
    oldest: usize,
    capacity: usize,
    evictions: u64,
}

#[derive(Debug)]
struct Slot<K, V> {
    entry: Option<(K, V)>,
    /// Toward the newest and toward the oldest entry.
    newer: usize,
    older: usize,
}

impl<K: Hash + Eq + Clone, V> LruMap<K, V> {
    /// An empty map holding at most `capacity` entries (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        LruMap {
            index: FastMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            newest: NIL,
            oldest: NIL,
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
        if let Some(&slot) = self.index.get(&key) {
            self.unlink(slot);
            self.push_newest(slot);
            return (self.value_mut(slot), None);
        }
        let evicted = self.make_room();
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot].entry = Some((key.clone(), make()));
                slot
            }
            None => {
                self.slots.push(Slot {
                    entry: Some((key.clone(), make())),
                    newer: NIL,
                    older: NIL,
                });
                self.slots.len() - 1
            }
        };
        self.index.insert(key, slot);
        self.push_newest(slot);
        (self.value_mut(slot), evicted)
    }

    /// Removes and returns the least recent entry if `expired` says so.
    pub(crate) fn pop_oldest_if(&mut self, expired: impl FnOnce(&V) -> bool) -> Option<(K, V)> {
        let (_, value) = self.slots.get(self.oldest)?.entry.as_ref()?;
        if !expired(value) {
            return None;
        }
        self.pop_oldest()
    }

    /// Entries held now.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// Entries evicted to stay within the bound (monotonic).
    pub(crate) fn evictions(&self) -> u64 {
        self.evictions
    }

    fn value_mut(&mut self, slot: usize) -> &mut V {
        let (_, value) = self.slots[slot].entry.as_mut().expect("a linked slot holds an entry");
        value
    }

    fn make_room(&mut self) -> Option<(K, V)> {
        if self.index.len() < self.capacity {
            return None;
        }
        let evicted = self.pop_oldest()?;
        self.evictions += 1;
        Some(evicted)
    }

    fn pop_oldest(&mut self) -> Option<(K, V)> {
        let slot = self.oldest;
        let (key, value) = self.slots.get_mut(slot)?.entry.take()?;
        self.unlink(slot);
        self.free.push(slot);
        self.index.remove(&key);
        Some((key, value))
    }

    /// Takes the slot out of the recency list.
    fn unlink(&mut self, slot: usize) {
        let (newer, older) = (self.slots[slot].newer, self.slots[slot].older);
        match newer {
            NIL => self.newest = older,
            n => self.slots[n].older = older,
        }
        match older {
            NIL => self.oldest = newer,
            o => self.slots[o].newer = newer,
        }
        self.slots[slot].newer = NIL;
        self.slots[slot].older = NIL;
    }

    /// Puts an unlinked slot at the newest end.
    fn push_newest(&mut self, slot: usize) {
        self.slots[slot].older = self.newest;
        self.slots[slot].newer = NIL;
        match self.newest {
            NIL => self.oldest = slot,
            n => self.slots[n].newer = slot,
        }
        self.newest = slot;
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

    /// Many operations against a plain reference model (a `Vec` in recency order).
    #[test]
    fn agrees_with_a_reference_model() {
        let mut map = LruMap::new(5);
        let mut model: Vec<(u32, u32)> = Vec::new(); // oldest first
        let mut evictions = 0;
        let mut x: u32 = 12345;
        for step in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let key = x % 9;
            if x.is_multiple_of(7) {
                let limit = x % 100;
                let got = map.pop_oldest_if(|v| *v < limit);
                let want = match model.first() {
                    Some(&(_, v)) if v < limit => Some(model.remove(0)),
                    _ => None,
                };
                assert_eq!(got, want, "step {step}");
            } else {
                let (value, evicted) = map.touch_or_insert_with(key, || step % 100);
                let got = (*value, evicted);
                let want = match model.iter().position(|(k, _)| *k == key) {
                    Some(i) => {
                        let entry = model.remove(i);
                        model.push(entry);
                        (entry.1, None)
                    }
                    None => {
                        let evicted = (model.len() == 5).then(|| model.remove(0));
                        evictions += u64::from(evicted.is_some());
                        model.push((key, step % 100));
                        (step % 100, evicted)
                    }
                };
                assert_eq!(got, want, "step {step}");
            }
            assert_eq!(map.len(), model.len());
            assert_eq!(map.evictions(), evictions);
        }
    }
}
