//! The hash table of the aggregator and of the hash join: values by byte
//! string key, with lookups that can be started early.
//!
//! OS idea: memory-level parallelism. A task's table is bigger than the
//! CPU's caches (47,000 words in 64-byte entries are 3 MB; 125,000 users a
//! join task are 10 MB; a core has 1 MiB of L2), and keys come in no
//! order, so nearly every lookup misses the cache, twice: once for the
//! slot, once for the entry it points to. Looked up one after another,
//! each record waits out its misses before the next one starts. A lookup
//! here is three steps that can be spread over time, so that the misses
//! of many overlap (`cacheline.rs`):
//!
//! 1. `start_lookup`: hash the key and prefetch its home slot;
//! 2. `prefetch_entry`: read the home slot (in the cache by then) and
//!    prefetch the entry it points to;
//! 3. `find`: the lookup itself, which finds slot and entry in the cache.
//!
//! The callers run the steps over batches of records: step 1 for each
//! record of a batch as it arrives, step 2 once the batch is complete,
//! step 3 after that, or (the join) once the batch before has been
//! handled. Steps 1 and 2 only warm the cache: take them away and the
//! answers are the same, only slower. std's `HashMap` cannot do this (it
//! does not say where a key's slot is before the lookup); that is why the
//! table is written here.
//!
//! Layout: open addressing with linear probing, kept at most half full. A
//! slot is a `u64`: 0 when empty, else the key's hash's high 32 bits (a
//! tag, so that a probe rarely reads an entry that is not its key's) and
//! the entry's index plus one. Entries sit in one vector in the order their
//! keys first arrived, so a table costs its entries plus 16 to 32 bytes of
//! slots an entry, and they can be taken out and sorted in place when the
//! table is spilled. Both vectors are allocated advised for huge pages
//! (`hugepage.rs`), so that a big table's lookups do not also miss the
//! TLB; the entries therefore grow by hand, doubling as `push` would.

use std::hash::BuildHasher;
use std::mem::size_of;

use crate::record::SmallBytes;
use crate::storage::cacheline::prefetch_value;
use crate::storage::hash::FastBuildHasher;
use crate::storage::hugepage;
use crate::storage::sort::{bytes_after_push, grown_capacity, heap_bytes};

/// See the module comment.
pub struct KeyTable<V> {
    /// A power of two long (or empty): 0, or `tag << 32 | (entry + 1)`.
    slots: Vec<u64>,
    entries: Vec<(SmallBytes, V)>,
}

/// Slots of the first table, when the first key arrives.
const FIRST_SLOTS: usize = 16;
/// Entries a table may hold: a slot keeps an entry's index plus one in 32
/// bits. A memory budget stops a table long before (at 64 bytes an entry,
/// this is 256 GiB).
const MAX_ENTRIES: usize = u32::MAX as usize - 1;

impl<V> Default for KeyTable<V> {
    fn default() -> Self {
        KeyTable {
            slots: Vec::new(),
            entries: Vec::new(),
        }
    }
}

/// The table's hash of a key (`FastHasher`, never on the wire).
fn hash(key: &[u8]) -> u64 {
    FastBuildHasher::default().hash_one(key)
}

/// `a == b`, without a call to `memcmp` for the short keys tables mostly
/// hold: up to 16 bytes are compared as two words that may overlap (issue
/// 16: the call was 2% of a word count's instructions).
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word4 = |s: &[u8], at: usize| s[at..at + 4].try_into().map_or(0, u32::from_ne_bytes);
    let word8 = |s: &[u8], at: usize| s[at..at + 8].try_into().map_or(0, u64::from_ne_bytes);
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4),
        8..=16 => word8(a, 0) == word8(b, 0) && word8(a, n - 8) == word8(b, n - 8),
        _ => a == b,
    }
}

fn tag(hash: u64) -> u64 {
    hash >> 32
}

impl<V> KeyTable<V> {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Step 1 of a lookup: the key's hash, and its home slot on its way
    /// into the cache.
    pub fn start_lookup(&self, key: &[u8]) -> u64 {
        let h = hash(key);
        if !self.slots.is_empty() {
            prefetch_value(&self.slots[self.home(h)]);
        }
        h
    }

    /// Step 2: the entry of the first slot with the key's tag on its way
    /// into the cache, following the probe sequence from the home slot as
    /// `find` will (the home slot is in the cache, and so, nearly always,
    /// are the few after it: eight slots share a line). Only the home slot
    /// would do for most keys, but at half full a third of a table's keys
    /// sit further on, and each of those lookups waited out a whole miss
    /// (issue 16: 60% of the join's probe time was two such loads).
    pub fn prefetch_entry(&self, hash: u64) {
        if self.slots.is_empty() {
            return;
        }
        let mask = self.slots.len() - 1;
        let mut at = self.home(hash);
        loop {
            let slot = self.slots[at];
            if slot == 0 {
                return;
            }
            if slot >> 32 == tag(hash) {
                prefetch_value(&self.entries[(slot as u32 - 1) as usize]);
                return;
            }
            at = (at + 1) & mask;
        }
    }

    /// Step 3, the lookup itself: the index of `key`'s entry, given its
    /// hash. Steps 1 and 2 only make it faster.
    pub fn find(&self, key: &[u8], hash: u64) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut at = self.home(hash);
        loop {
            let slot = self.slots[at];
            if slot == 0 {
                return None;
            }
            if slot >> 32 == tag(hash) {
                let index = (slot as u32 - 1) as usize;
                if same_bytes(&self.entries[index].0, key) {
                    return Some(index);
                }
            }
            at = (at + 1) & mask;
        }
    }

    /// Adds a key that `find` did not find, with its hash; the new entry's
    /// index. The caller keeps the table under `MAX_ENTRIES` (its memory
    /// estimate, `bytes_after_insert`, says `usize::MAX` at the limit).
    pub fn insert_new(&mut self, key: SmallBytes, hash: u64, value: V) -> usize {
        if self.needs_more_slots() {
            self.grow();
        }
        let index = self.entries.len();
        if index == self.entries.capacity() {
            // Growing as `push` would (and as `bytes_after_insert`
            // estimates), but into a block advised first.
            let mut grown = hugepage::with_capacity(grown_capacity(index));
            grown.append(&mut self.entries);
            self.entries = grown;
        }
        self.entries.push((key, value));
        self.put_slot(hash, index);
        index
    }

    pub fn value_mut(&mut self, index: usize) -> &mut V {
        &mut self.entries[index].1
    }

    /// The entries, in the order their keys first arrived.
    pub fn entries(&self) -> &[(SmallBytes, V)] {
        &self.entries
    }

    /// Takes the entries out, leaving the table empty with its slots
    /// (zeroed) for the next round.
    pub fn take_entries(&mut self) -> Vec<(SmallBytes, V)> {
        self.slots.fill(0);
        std::mem::take(&mut self.entries)
    }

    /// Hands an emptied vector from `take_entries` back to an empty
    /// table, so that the next round does not grow one again from nothing.
    pub fn give_back(&mut self, entries: Vec<(SmallBytes, V)>) {
        if self.entries.is_empty() && entries.is_empty() {
            self.entries = entries;
        }
    }

    /// Heap bytes the slots and the entries' vector hold (not what the
    /// keys and values own on the heap themselves).
    pub fn bytes(&self) -> usize {
        heap_bytes(self.slots.len() * size_of::<u64>())
            + heap_bytes(self.entries.capacity() * size_of::<(SmallBytes, V)>())
    }

    /// `bytes()` once one more key is in, counting what grows as both its
    /// old and new allocation (they coexist while it moves); `usize::MAX`
    /// at `MAX_ENTRIES`.
    pub fn bytes_after_insert(&self) -> usize {
        if self.entries.len() >= MAX_ENTRIES {
            return usize::MAX;
        }
        let mut bytes =
            heap_bytes(self.slots.len() * size_of::<u64>()) + bytes_after_push(&self.entries);
        if self.needs_more_slots() {
            bytes += heap_bytes((self.slots.len() * 2).max(FIRST_SLOTS) * size_of::<u64>());
        }
        bytes
    }

    /// Where a probe for a key with this hash starts.
    fn home(&self, hash: u64) -> usize {
        hash as usize & (self.slots.len() - 1)
    }

    /// Would one more entry make the table more than half full?
    fn needs_more_slots(&self) -> bool {
        (self.entries.len() + 1) * 2 > self.slots.len()
    }

    /// Doubles the slots and puts every entry back in its new place.
    fn grow(&mut self) {
        let len = (self.slots.len() * 2).max(FIRST_SLOTS);
        self.slots = hugepage::with_capacity(len);
        self.slots.resize(len, 0);
        for index in 0..self.entries.len() {
            let h = hash(&self.entries[index].0);
            self.put_slot(h, index);
        }
    }

    /// Points the first empty slot from `hash`'s home at entry `index`.
    fn put_slot(&mut self, hash: u64, index: usize) {
        let mask = self.slots.len() - 1;
        let mut at = self.home(hash);
        while self.slots[at] != 0 {
            at = (at + 1) & mask;
        }
        self.slots[at] = tag(hash) << 32 | (index as u64 + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Lookups in batches, the three steps apart, against a `HashMap`.
    #[test]
    fn lookups_find_what_was_inserted() {
        let mut table: KeyTable<u32> = KeyTable::default();
        let mut want: HashMap<Vec<u8>, u32> = HashMap::new();
        for i in 0..5000u32 {
            // Some keys repeat, some are too long to be inline, one is empty.
            let k = match i % 7 {
                0 => format!("{}-{}", i % 300, "k".repeat(40)),
                1 if i == 1 => String::new(),
                _ => (i * 7919 % 3000).to_string(),
            };
            let h = table.start_lookup(k.as_bytes());
            match table.find(k.as_bytes(), h) {
                Some(at) => *table.value_mut(at) += 1,
                None => {
                    table.insert_new(SmallBytes::from(k.as_bytes()), h, 1);
                }
            }
            *want.entry(k.into_bytes()).or_default() += 1;
        }
        assert_eq!(table.len(), want.len());
        let probes: Vec<Vec<u8>> = (0..4000u32)
            .map(|i| (i * 31 % 4000).to_string().into_bytes())
            .chain(want.keys().cloned())
            .collect();
        for batch in probes.chunks(16) {
            let hashes: Vec<u64> = batch.iter().map(|k| table.start_lookup(k)).collect();
            hashes.iter().for_each(|&h| table.prefetch_entry(h));
            for (k, &h) in batch.iter().zip(&hashes) {
                let got = table.find(k, h).map(|at| {
                    let (key, n) = &table.entries()[at];
                    assert_eq!(key[..], k[..]);
                    *n
                });
                assert_eq!(got.as_ref(), want.get(k), "key {k:?}");
            }
        }
    }

    #[test]
    fn same_bytes_is_equality() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37)).collect();
            assert!(same_bytes(&a, &a.clone()), "length {n}");
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x40;
                assert!(!same_bytes(&a, &b), "length {n}, differing at {at}");
            }
            let mut longer = a.clone();
            longer.push(0);
            assert!(!same_bytes(&a, &longer), "lengths {n} and {}", n + 1);
        }
    }

    #[test]
    fn an_empty_table_finds_nothing() {
        let table: KeyTable<()> = KeyTable::default();
        for k in [&b"a"[..], b""] {
            let h = table.start_lookup(k);
            table.prefetch_entry(h);
            assert_eq!(table.find(k, h), None);
        }
        assert_eq!(table.bytes(), 0);
    }

    #[test]
    fn taking_the_entries_empties_the_table_but_keeps_its_slots() {
        let mut table = KeyTable::default();
        for (i, k) in ["b", "a", "c"].iter().enumerate() {
            table.insert_new(SmallBytes::from(k.as_bytes()), hash(k.as_bytes()), i);
        }
        let slots = table.slots.len();
        let taken: Vec<(Vec<u8>, usize)> = table
            .take_entries()
            .into_iter()
            .map(|(k, v)| (k.to_vec(), v))
            .collect();
        assert_eq!(
            taken,
            [(b"b".to_vec(), 0), (b"a".to_vec(), 1), (b"c".to_vec(), 2)]
        );
        assert!(table.is_empty());
        assert_eq!(table.slots.len(), slots);
        assert_eq!(table.find(b"a", hash(b"a")), None);
        table.insert_new(SmallBytes::from(&b"a"[..]), hash(b"a"), 9);
        assert_eq!(table.find(b"a", hash(b"a")), Some(0));
    }

    #[test]
    fn the_memory_estimate_covers_the_next_insert() {
        let mut table: KeyTable<u64> = KeyTable::default();
        for i in 0..2000u64 {
            let k = i.to_string();
            let after = table.bytes_after_insert();
            assert!(after >= table.bytes());
            table.insert_new(SmallBytes::from(k.as_bytes()), hash(k.as_bytes()), i);
            assert!(
                after >= table.bytes(),
                "insert {i} took more than estimated"
            );
        }
    }
}
