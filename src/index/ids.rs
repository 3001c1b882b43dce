//! Id -> slot lookup that keeps each id once, in its slot.
//!
//! A `HashMap<String, u32>` would store every id a second time (plus an allocation per key);
//! this table stores only the `u32` slot and compares ids through the slots, which saves
//! ~50 bytes per item natively (more for long S3 locators) towards the 2.5 KB/item budget.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use hashbrown::hash_table::{Entry, HashTable};

use super::collection::Slot;

/// The live ids of a collection, each mapped to its slot.
#[derive(Default)]
pub(crate) struct IdMap {
    table: HashTable<u32>,
    hasher: RandomState,
}

impl IdMap {
    /// An empty map with room for `n` ids.
    pub(crate) fn with_capacity(n: usize) -> Self {
        IdMap {
            table: HashTable::with_capacity(n),
            hasher: RandomState::new(),
        }
    }

    /// Number of live ids.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// The slot of `id`, if it is live.
    pub(crate) fn get(&self, slots: &[Slot], id: &str) -> Option<u32> {
        let h = self.hasher.hash_one(id);
        self.table
            .find(h, |&s| slots.get(s as usize).is_some_and(|x| x.id == id))
            .copied()
    }

    /// Registers slot `s` under its id; `false` (and no change) if that id is already live.
    pub(crate) fn insert(&mut self, slots: &[Slot], s: u32) -> bool {
        let Some(id) = slots.get(s as usize).map(|x| x.id.as_str()) else {
            return false;
        };
        let hasher = &self.hasher;
        let h = hasher.hash_one(id);
        let eq = |&o: &u32| slots.get(o as usize).is_some_and(|x| x.id == id);
        let rehash = |&o: &u32| hasher.hash_one(slots.get(o as usize).map_or("", |x| &x.id));
        match self.table.entry(h, eq, rehash) {
            Entry::Occupied(_) => false,
            Entry::Vacant(v) => {
                v.insert(s);
                true
            }
        }
    }

    /// Forgets `id`; returns its slot if it was live.
    pub(crate) fn remove(&mut self, slots: &[Slot], id: &str) -> Option<u32> {
        let h = self.hasher.hash_one(id);
        self.table
            .find_entry(h, |&s| slots.get(s as usize).is_some_and(|x| x.id == id))
            .ok()
            .map(|e| e.remove().0)
    }

    /// Renumbers every slot through `new_of` (ids, hence hashes, are unchanged).
    pub(crate) fn renumber(&mut self, new_of: &[u32]) {
        for s in self.table.iter_mut() {
            *s = new_of
                .get(*s as usize)
                .copied()
                .unwrap_or(super::collection::NONE);
        }
    }
}
