//! The hash join's table: the left side's records by key, which the right
//! side's records look up a batch ahead (`storage/keytable.rs` has the
//! table and why its lookups come in steps).
//!
//! A key's first value is kept in its entry, so looking a key up reads one
//! entry; its other values, if any, are a chain through `more`, one vector
//! for all keys rather than one per key (most keys of a join's small side,
//! like user ids, have one value).

use crate::record::{Record, SmallBytes, INLINE_BYTES};
use crate::storage::{bytes_after_push, heap_bytes, KeyTable};

/// Marks the end of a key's chain of values in `more`.
pub const END: u32 = u32::MAX;

/// See the module comment.
#[derive(Default)]
pub struct JoinTable {
    keys: KeyTable<Values>,
    /// Second and later values of keys, each with the index of the next.
    more: Vec<(SmallBytes, u32)>,
    /// Heap blocks of keys and values too long to be inline.
    heap: usize,
}

/// One key's values.
pub struct Values {
    pub first: SmallBytes,
    /// The key's second value in `more` (`END`: none), and its last one.
    pub next: u32,
    last: u32,
    /// Has a right record matched this key? (For a left join.)
    pub matched: bool,
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
        // Chains index `more` with a u32.
        if self.more.len() >= END as usize {
            return usize::MAX;
        }
        self.keys
            .bytes_after_insert()
            .saturating_add(bytes_after_push(&self.more) + self.heap)
            .saturating_add(record.key.as_ref().map_or(0, long) + long(&record.value))
    }

    /// Adds a left record, given its key's hash (`start_lookup`): a new
    /// entry for a new key, else a value at the end of its key's chain.
    pub fn insert(&mut self, record: Record, h: u64) {
        self.heap +=
            record.key.as_ref().map_or(0, SmallBytes::heap_capacity) + record.value.heap_capacity();
        let key = record.key.unwrap_or_default();
        let Some(found) = self.keys.find(&key, h) else {
            let values = Values {
                first: record.value,
                next: END,
                last: END,
                matched: false,
            };
            self.keys.insert_new(key, h, values);
            return;
        };
        let at = self.more.len() as u32;
        self.more.push((record.value, END));
        let values = self.keys.value_mut(found);
        match values.last {
            END => values.next = at,
            last => self.more[last as usize].1 = at,
        }
        values.last = at;
    }

    /// The three steps of a lookup (`KeyTable`).
    pub fn start_lookup(&self, key: &[u8]) -> u64 {
        self.keys.start_lookup(key)
    }

    pub fn prefetch_entry(&self, hash: u64) {
        self.keys.prefetch_entry(hash);
    }

    pub fn find(&self, key: &[u8], hash: u64) -> Option<usize> {
        self.keys.find(key, hash)
    }

    pub fn values_mut(&mut self, index: usize) -> &mut Values {
        self.keys.value_mut(index)
    }

    /// The value at `at` in a chain, and the index of the next (`END`: none).
    pub fn more(&self, at: u32) -> (&SmallBytes, u32) {
        let (value, next) = &self.more[at as usize];
        (value, *next)
    }

    /// The keys, in the order they first arrived, with their values.
    pub fn entries(&self) -> impl Iterator<Item = (&SmallBytes, &Values)> {
        self.keys.entries().iter().map(|(k, v)| (k, v))
    }

    /// A key's values, in the order they arrived.
    pub fn values<'a>(&'a self, values: &'a Values) -> impl Iterator<Item = &'a SmallBytes> {
        let mut at = values.next;
        std::iter::once(&values.first).chain(std::iter::from_fn(move || {
            let (value, next) = self.more.get(at as usize)?;
            at = *next;
            Some(value)
        }))
    }

    /// The table's records, taken apart again, in the order they arrived
    /// within each key.
    pub fn into_records(self) -> Vec<Record> {
        let mut out = Vec::with_capacity(self.keys.len() + self.more.len());
        for (key, values) in self.entries() {
            for value in self.values(values) {
                out.push(Record::pair(key.clone(), value.clone()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn insert(table: &mut JoinTable, record: Record) {
        let h = table.start_lookup(record.key.as_deref().unwrap_or_default());
        table.insert(record, h);
    }

    fn pair(k: &str, v: &str) -> Record {
        Record::pair(k.as_bytes(), v.as_bytes())
    }

    /// Each key's values against a `HashMap`'s.
    #[test]
    fn lookups_find_every_value_of_a_key() {
        let mut table = JoinTable::default();
        let mut want: HashMap<String, Vec<String>> = HashMap::new();
        for i in 0..5000u32 {
            // Some keys repeat, some are too long to be inline.
            let k = match i % 7 {
                0 => format!("{}-{}", i % 300, "k".repeat(40)),
                _ => (i * 7919 % 3000).to_string(),
            };
            let v = format!("v{i}");
            insert(&mut table, pair(&k, &v));
            want.entry(k).or_default().push(v);
        }
        assert_eq!(table.entries().count(), want.len());
        for k in (0..4000u32)
            .map(|i| i.to_string())
            .chain(want.keys().cloned())
        {
            let h = table.start_lookup(k.as_bytes());
            table.prefetch_entry(h);
            let got: Option<Vec<String>> = table.find(k.as_bytes(), h).map(|at| {
                let (key, values) = &table.keys.entries()[at];
                assert_eq!(key[..], *k.as_bytes());
                table
                    .values(values)
                    .map(|v| String::from_utf8(v.to_vec()).unwrap())
                    .collect()
            });
            assert_eq!(got.as_ref(), want.get(&k), "key {k}");
        }
    }

    #[test]
    fn records_come_back_in_arrival_order_within_a_key() {
        let mut table = JoinTable::default();
        for (k, v) in [("b", "1"), ("a", "2"), ("b", "3"), ("b", "4"), ("a", "5")] {
            insert(&mut table, pair(k, v));
        }
        let lines: Vec<String> = table
            .into_records()
            .iter()
            .map(|r| String::from_utf8(r.to_line().into_owned()).unwrap())
            .collect();
        assert_eq!(lines, ["b\t1", "b\t3", "b\t4", "a\t2", "a\t5"]);
    }

    #[test]
    fn memory_counts_the_growth_of_the_table() {
        let mut table = JoinTable::default();
        for i in 0..1000 {
            let r = pair(&i.to_string(), "v");
            let before = table.bytes_after_insert(&r);
            insert(&mut table, r);
            assert!(
                before >= table.keys.bytes(),
                "the estimate covers what the table holds"
            );
        }
    }
}
