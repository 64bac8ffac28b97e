//! The hash join's table: the left side's records by key, which the right
//! side's records look up in batches.
//!
//! OS idea: memory-level parallelism. A join's table is bigger than the
//! CPU's caches (a million users over 8 tasks is 125,000 keys, 12 MB a
//! task), and the right side's keys come in no order, so nearly every
//! lookup misses the cache, twice: once for the slot, once for the entry
//! it points to. Looked up one after another, each record waits out its
//! misses before the next one starts. A lookup here is three steps that
//! can be spread over time, so that the misses of many overlap
//! (`storage/cacheline.rs`):
//!
//! 1. `start_lookup`: hash the key and prefetch its home slot;
//! 2. `prefetch_entry`: read the home slot (in the cache by then) and
//!    prefetch the entry it points to;
//! 3. `find`: the lookup itself, which finds slot and entry in the cache.
//!
//! The hash join (`join.rs`) reads the right side in batches: step 1 for
//! each record as it is read, step 2 once its batch is read, and step 3
//! once the batch before has been joined, so each step's loads have had a
//! batch's time to arrive. Steps 1 and 2 only warm the cache: take them
//! away and the answers are the same, only slower. On the join benchmark
//! the probe took half the time it did with std's `HashMap` probed one
//! record at a time (README, "where the time went").
//!
//! The table is open addressing with linear probing, kept at most half
//! full. A slot is a `u64`: 0 when empty, else the key's hash's high 32
//! bits (a tag, so a probe rarely reads an entry that is not its key's)
//! and the entry's index plus one. Entries sit in one vector in the order
//! their keys first arrived, each with its key's first value; a key's
//! further values are a chain through `more`, one vector for all keys
//! rather than one per key (most keys of a join's small side, like user
//! ids, have one value).

use std::hash::BuildHasher;
use std::mem::size_of;

use crate::record::{Record, SmallBytes, INLINE_BYTES};
use crate::storage::cacheline::prefetch_value;
use crate::storage::{heap_bytes, FastBuildHasher};

/// Marks the end of a key's chain of values in `more`.
pub const END: u32 = u32::MAX;

/// See the module comment.
#[derive(Default)]
pub struct JoinTable {
    /// A power of two long (or empty): 0, or `tag << 32 | (entry + 1)`.
    slots: Vec<u64>,
    entries: Vec<Entry>,
    /// Second and later values of keys, each with the index of the next.
    more: Vec<(SmallBytes, u32)>,
    /// Heap blocks of keys and values too long to be inline.
    heap: usize,
}

/// One key of the left side.
pub struct Entry {
    pub key: SmallBytes,
    pub first: SmallBytes,
    /// The key's second value in `more` (`END`: none), and its last one.
    pub next: u32,
    last: u32,
    /// Has a right record matched this key? (For a left join.)
    pub matched: bool,
}

const ENTRY_BYTES: usize = size_of::<Entry>();
const MORE_BYTES: usize = size_of::<(SmallBytes, u32)>();
const SLOT_BYTES: usize = size_of::<u64>();
/// Slots of the first table, when the first key arrives.
const FIRST_SLOTS: usize = 16;

fn hash(key: &[u8]) -> u64 {
    FastBuildHasher::default().hash_one(key)
}

fn tag(hash: u64) -> u64 {
    hash >> 32
}

impl JoinTable {
    /// Memory held once `record` is in, counting a table or vector that
    /// grows as both its old and new allocation (they coexist while it
    /// moves).
    pub fn bytes_after_insert(&self, record: &Record) -> usize {
        let long = |b: &SmallBytes| match b.len() {
            0..=INLINE_BYTES => 0,
            n => heap_bytes(n),
        };
        let grown = |len: usize, capacity: usize, bytes: usize| {
            let now = heap_bytes(capacity * bytes);
            if len == capacity {
                now + heap_bytes((capacity * 2).max(4) * bytes)
            } else {
                now
            }
        };
        let mut bytes = grown(self.entries.len(), self.entries.capacity(), ENTRY_BYTES)
            + grown(self.more.len(), self.more.capacity(), MORE_BYTES)
            + heap_bytes(self.slots.len() * SLOT_BYTES)
            + self.heap
            + record.key.as_ref().map_or(0, long)
            + long(&record.value);
        if self.needs_more_slots() {
            bytes += heap_bytes((self.slots.len() * 2).max(FIRST_SLOTS) * SLOT_BYTES);
        }
        // Slots and chains index entries and `more` with a u32.
        if self.entries.len() >= END as usize - 1 || self.more.len() >= END as usize {
            bytes = usize::MAX;
        }
        bytes
    }

    /// Adds a left record: a new entry for a new key, else a value at the
    /// end of its key's chain.
    pub fn insert(&mut self, record: Record) {
        self.heap +=
            record.key.as_ref().map_or(0, SmallBytes::heap_capacity) + record.value.heap_capacity();
        let key = record.key.unwrap_or_default();
        let h = hash(&key);
        let Some(found) = self.find(&key, h) else {
            if self.needs_more_slots() {
                self.grow();
            }
            let index = self.entries.len() as u32;
            self.entries.push(Entry {
                key,
                first: record.value,
                next: END,
                last: END,
                matched: false,
            });
            self.put_slot(h, index);
            return;
        };
        let at = self.more.len() as u32;
        self.more.push((record.value, END));
        let entry = &mut self.entries[found as usize];
        match entry.last {
            END => entry.next = at,
            last => self.more[last as usize].1 = at,
        }
        entry.last = at;
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

    /// Step 2: the entry the key's home slot points to on its way into the
    /// cache (when its tag is the key's).
    pub fn prefetch_entry(&self, hash: u64) {
        if self.slots.is_empty() {
            return;
        }
        let slot = self.slots[self.home(hash)];
        if slot != 0 && slot >> 32 == tag(hash) {
            prefetch_value(&self.entries[(slot as u32 - 1) as usize]);
        }
    }

    /// Step 3, the lookup itself: the index of `key`'s entry, given its
    /// hash. Steps 1 and 2 only make it faster.
    pub fn find(&self, key: &[u8], hash: u64) -> Option<u32> {
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
                let index = slot as u32 - 1;
                if self.entries[index as usize].key[..] == *key {
                    return Some(index);
                }
            }
            at = (at + 1) & mask;
        }
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
        self.slots = vec![0; len];
        for index in 0..self.entries.len() {
            let h = hash(&self.entries[index].key);
            self.put_slot(h, index as u32);
        }
    }

    /// Points the first empty slot from `hash`'s home at entry `index`.
    fn put_slot(&mut self, hash: u64, index: u32) {
        let mask = self.slots.len() - 1;
        let mut at = self.home(hash);
        while self.slots[at] != 0 {
            at = (at + 1) & mask;
        }
        self.slots[at] = tag(hash) << 32 | u64::from(index + 1);
    }

    pub fn entry_mut(&mut self, index: u32) -> &mut Entry {
        &mut self.entries[index as usize]
    }

    /// The value at `at` in a chain, and the index of the next (`END`: none).
    pub fn more(&self, at: u32) -> (&SmallBytes, u32) {
        let (value, next) = &self.more[at as usize];
        (value, *next)
    }

    /// The entries, in the order their keys first arrived.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// An entry's values, in the order they arrived.
    pub fn values<'a>(&'a self, entry: &'a Entry) -> impl Iterator<Item = &'a SmallBytes> {
        let mut at = entry.next;
        std::iter::once(&entry.first).chain(std::iter::from_fn(move || {
            let (value, next) = self.more.get(at as usize)?;
            at = *next;
            Some(value)
        }))
    }

    /// The table's records, taken apart again, in the order they arrived
    /// within each key.
    pub fn into_records(self) -> Vec<Record> {
        let mut out = Vec::with_capacity(self.entries.len() + self.more.len());
        for entry in &self.entries {
            for value in self.values(entry) {
                out.push(Record::pair(entry.key.clone(), value.clone()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn key(r: &Record) -> &[u8] {
        r.key.as_deref().unwrap_or_default()
    }

    fn pair(k: &str, v: &str) -> Record {
        Record::pair(k.as_bytes(), v.as_bytes())
    }

    /// Each key's values, looked up in batches, against a `HashMap`'s.
    #[test]
    fn batched_lookups_find_what_was_inserted() {
        let mut table = JoinTable::default();
        let mut want: HashMap<String, Vec<String>> = HashMap::new();
        for i in 0..5000u32 {
            // Some keys repeat, some are too long to be inline.
            let k = match i % 7 {
                0 => format!("{}-{}", i % 300, "k".repeat(40)),
                _ => (i * 7919 % 3000).to_string(),
            };
            let v = format!("v{i}");
            table.insert(pair(&k, &v));
            want.entry(k).or_default().push(v);
        }
        assert_eq!(table.entries().count(), want.len());
        let probes: Vec<Record> = (0..4000u32)
            .map(|i| pair(&(i * 31 % 4000).to_string(), "r"))
            .chain(want.keys().map(|k| pair(k, "r")))
            .collect();
        for batch in probes.chunks(16) {
            let hashes: Vec<u64> = batch.iter().map(|r| table.start_lookup(key(r))).collect();
            hashes.iter().for_each(|&h| table.prefetch_entry(h));
            for (record, &h) in batch.iter().zip(&hashes) {
                let k = String::from_utf8(key(record).to_vec()).unwrap();
                let got: Option<Vec<String>> = table.find(key(record), h).map(|at| {
                    let entry = &table.entries[at as usize];
                    assert_eq!(entry.key[..], *k.as_bytes());
                    table
                        .values(entry)
                        .map(|v| String::from_utf8(v.to_vec()).unwrap())
                        .collect()
                });
                assert_eq!(got.as_ref(), want.get(&k), "key {k}");
            }
        }
    }

    #[test]
    fn an_empty_table_finds_nothing() {
        let table = JoinTable::default();
        for k in [&b"a"[..], b""] {
            let h = table.start_lookup(k);
            table.prefetch_entry(h);
            assert_eq!(table.find(k, h), None);
        }
        assert!(table.into_records().is_empty());
    }

    #[test]
    fn records_come_back_in_arrival_order_within_a_key() {
        let mut table = JoinTable::default();
        for (k, v) in [("b", "1"), ("a", "2"), ("b", "3"), ("b", "4"), ("a", "5")] {
            table.insert(pair(k, v));
        }
        let lines: Vec<String> = table
            .into_records()
            .iter()
            .map(|r| String::from_utf8(r.to_line().into_owned()).unwrap())
            .collect();
        assert_eq!(lines, ["b\t1", "b\t3", "b\t4", "a\t2", "a\t5"]);
    }

    #[test]
    fn memory_counts_the_growth_of_the_slots() {
        let mut table = JoinTable::default();
        let mut last = 0;
        for i in 0..1000 {
            let r = pair(&i.to_string(), "v");
            let before = table.bytes_after_insert(&r);
            assert!(before >= last, "the estimate never shrinks");
            table.insert(r);
            last = heap_bytes(table.slots.len() * SLOT_BYTES)
                + heap_bytes(table.entries.capacity() * ENTRY_BYTES);
            assert!(before >= last, "the estimate covers what the table holds");
        }
    }
}
