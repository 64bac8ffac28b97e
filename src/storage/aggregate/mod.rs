//! The bounded-memory hash aggregator behind `reduce_by_key`, and behind
//! its map-side combiner.
//!
//! OS idea: a process's memory is a budget, not a promise. A hash table
//! keyed by every distinct key grows with the data; past the budget the
//! kernel would start paging the table out (each probe a random page touch:
//! thrashing) or the OOM killer would end the task. So the aggregator keeps
//! an estimate of what its table really costs (keys, accumulators, the
//! table's slots, the allocator's overhead) and, when it passes the budget,
//! sorts the table by key and writes it out as a run file, then starts
//! again empty. Random access turns into sequential files; at the end the
//! runs are merged (`sort::merge_sorted_runs`) and equal keys, now next to
//! each other, are combined while streaming. Memory stays bounded however
//! many keys there are (except for one key's own accumulator: a `concat` of
//! a key with a million values holds them all).
//!
//! # Where to start reading
//!
//! * this file: `HashAggregator`, the table: its memory estimate, spilling
//!   and the streaming combine of the runs at the end.
//! * `accumulator.rs`: one key's accumulator, what `sum`, `count`, `min`,
//!   `max`, `mean`, `first` and `concat` do with values (the contract users
//!   see), and a tuple of them for several aggregators of one key.
//! * `partial.rs`: an accumulator as bytes, in a spill run or a shuffle
//!   record, and read back.
//! * `distinct.rs`: `distinct`'s map side, the same table with no
//!   aggregators, keyed by whole records.
//! * `tests.rs`: each aggregator's contract, then spilling and combining
//!   checked against a plain in-memory computation.

mod accumulator;
mod distinct;
mod partial;

use std::path::PathBuf;
use std::sync::Arc;

use crate::job::{quote, Aggregator};
use crate::record::{Record, SmallBytes};
use crate::storage::keytable::KeyTable;
use crate::storage::sort::{heap_bytes, merge_sorted_runs, Sorted};
use crate::storage::spill::SpillDir;
use accumulator::Acc;
pub use distinct::DistinctSet;

/// Records of results or partials, in key byte order.
pub type Results = Box<dyn Iterator<Item = Result<Record, String>> + Send>;

/// A table entry: the key (inline when short, see `SmallBytes`) and the
/// accumulator: a lookup of a short key reads one entry, no heap block.
#[cfg(test)]
const ENTRY_BYTES: usize = std::mem::size_of::<(SmallBytes, Acc)>();

/// Values `add` holds before it adds them, their lookups started: their
/// table entries arrive in the cache together (`storage/keytable.rs`).
/// With 16, the last values' slots were still on their way when their
/// entries were asked for; 64 gave word count 7% less CPU (128: more).
const BATCH: usize = 64;

/// Combines values per key within a memory budget (see the module comment).
pub struct HashAggregator {
    /// The aggregators computed per key, in the order the job wrote them.
    aggs: Vec<Aggregator>,
    budget_bytes: usize,
    fan_in: usize,
    spill: Arc<SpillDir>,
    map: KeyTable<Acc>,
    /// Heap bytes of the keys and accumulators in `map`.
    entry_bytes: usize,
    /// Values taken by `add` and not yet in the table.
    pending: Pending,
    /// Does an accumulator's heap size change as values arrive? (min, max,
    /// first, concat.) If not, `add` skips measuring it.
    acc_grows: bool,
    /// Spilled tables, oldest first, each sorted by key.
    runs: Vec<PathBuf>,
    /// Reused to encode partials while spilling.
    scratch: Vec<u8>,
}

impl HashAggregator {
    /// A table computing `aggs` per key (one, or several: each key's
    /// result is theirs joined by tabs). `fan_in` is how many runs a merge
    /// reads at once (at least 2).
    pub fn new(
        aggs: Vec<Aggregator>,
        budget_bytes: usize,
        fan_in: usize,
        spill: Arc<SpillDir>,
    ) -> Self {
        HashAggregator {
            acc_grows: Acc::grows(&aggs),
            aggs,
            budget_bytes,
            fan_in: fan_in.max(2),
            spill,
            map: KeyTable::default(),
            entry_bytes: 0,
            pending: Pending::default(),
            runs: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// A raw value (from a record). `ord` is its input order, for `first`.
    ///
    /// Values wait in a batch of `BATCH`, their lookups started, and go
    /// into the table together, in the order they came: an error of one
    /// (a value `sum` cannot read) comes from a later `add` or `finish`.
    pub fn add(&mut self, key: &[u8], value: &[u8], ord: u64) -> Result<(), String> {
        let hash = self.map.start_lookup(key);
        self.pending.push(key, hash, value, ord);
        if self.pending.len() == BATCH {
            return self.add_pending();
        }
        Ok(())
    }

    /// Adds the batch of waiting values, their entries prefetched first.
    fn add_pending(&mut self) -> Result<(), String> {
        if self.pending.len() == 0 {
            return Ok(());
        }
        for &hash in &self.pending.hashes {
            self.map.prefetch_entry(hash);
        }
        let mut pending = std::mem::take(&mut self.pending);
        let added = (0..pending.len()).try_for_each(|i| {
            let (key, hash, value, ord) = pending.get(i);
            self.add_one(key, hash, value, ord)
        });
        pending.clear();
        self.pending = pending;
        added
    }

    /// One hash lookup, and no allocation, when the key is already there.
    fn add_one(&mut self, key: &[u8], hash: u64, value: &[u8], ord: u64) -> Result<(), String> {
        if let Some(at) = self.map.find(key, hash) {
            let acc = self.map.value_mut(at);
            if !self.acc_grows {
                return acc
                    .add(value, ord)
                    .map_err(|e| key_error(&self.aggs, key, e));
            }
            let before = acc.heap_bytes();
            acc.add(value, ord)
                .map_err(|e| key_error(&self.aggs, key, e))?;
            self.entry_bytes = self.entry_bytes + acc.heap_bytes() - before;
            return self.check_budget();
        }
        let acc = Acc::new(&self.aggs, value, ord).map_err(|e| key_error(&self.aggs, key, e))?;
        self.insert(key, hash, acc)
    }

    /// A partial accumulator, as written by `finish_partial` on another task.
    pub fn merge_partial(&mut self, key: &[u8], partial: &[u8]) -> Result<(), String> {
        self.add_pending()?;
        let other =
            partial::decode(&self.aggs, partial).map_err(|e| key_error(&self.aggs, key, e))?;
        let hash = self.map.start_lookup(key);
        if let Some(at) = self.map.find(key, hash) {
            let acc = self.map.value_mut(at);
            let before = acc.heap_bytes();
            acc.merge(other)
                .map_err(|e| key_error(&self.aggs, key, e))?;
            self.entry_bytes = self.entry_bytes + acc.heap_bytes() - before;
            return self.check_budget();
        }
        self.insert(key, hash, other)
    }

    /// Final results: `Record::pair(key, result)` in key byte order.
    pub fn finish(self) -> Result<Results, String> {
        self.finish_as(Output::Result)
    }

    /// Partial accumulators: `Record::pair(key, encoded partial)` in key
    /// byte order (the map-side combiner's output for the shuffle).
    pub fn finish_partial(self) -> Result<Results, String> {
        self.finish_as(Output::Partial)
    }

    fn insert(&mut self, key: &[u8], hash: u64, acc: Acc) -> Result<(), String> {
        // A full table grows by allocating one twice its size while the old
        // one is still alive: if both would not fit, spill first (then the
        // emptied table has room and does not grow).
        let grown = self.map.bytes_after_insert();
        if grown > self.map.bytes() && self.entry_bytes.saturating_add(grown) > self.budget_bytes {
            self.spill_table()?;
        }
        let key = SmallBytes::from(key);
        let key_heap = match key.heap_capacity() {
            0 => 0,
            n => heap_bytes(n),
        };
        self.entry_bytes += key_heap + acc.heap_bytes();
        self.map.insert_new(key, hash, acc);
        self.check_budget()
    }

    fn check_budget(&mut self) -> Result<(), String> {
        if self.entry_bytes + self.map.bytes() > self.budget_bytes {
            self.spill_table()?;
        }
        Ok(())
    }

    /// Writes the table, sorted by key, as one run of (key, partial)
    /// records, and empties it.
    fn spill_table(&mut self) -> Result<(), String> {
        if self.map.is_empty() {
            return Ok(());
        }
        let estimate = self.entry_bytes + self.map.bytes();
        let mut entries = self.map.take_entries();
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut run = self.spill.create_run()?;
        for (key, acc) in &entries {
            self.scratch.clear();
            partial::encode(acc, &mut self.scratch);
            run.write_parts(Some(key), &self.scratch)?;
        }
        entries.clear();
        self.map.give_back(entries);
        let (path, stats) = run.finish()?;
        crate::event!(
            Debug,
            "aggregate",
            "spill",
            keys = stats.records,
            bytes = stats.bytes,
            estimate = estimate
        );
        self.runs.push(path);
        self.entry_bytes = 0;
        // The emptied table keeps its slots and its entries' vector: they
        // fitted the budget, and the next round fills them without growing
        // them again from nothing (which left the allocator with freed
        // blocks of every size on the way, and the worker's RSS higher).
        Ok(())
    }

    fn finish_as(mut self, output: Output) -> Result<Results, String> {
        self.add_pending()?;
        let aggs = self.aggs.clone();
        // The entries sort in place, in memory when nothing was spilled.
        if !self.runs.is_empty() {
            self.spill_table()?;
        }
        if self.runs.is_empty() {
            let mut entries = self.map.take_entries();
            entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            return Ok(Box::new(
                entries
                    .into_iter()
                    .map(move |(key, acc)| output.emit(&aggs, key.into_vec(), acc)),
            ));
        }
        let runs = std::mem::take(&mut self.runs);
        let sorted = merge_sorted_runs(runs, self.fan_in, &self.spill)?;
        Ok(Box::new(Combine {
            sorted,
            pending: None,
            aggs,
            output,
            done: false,
        }))
    }
}

/// A batch of values waiting to go into the table, copied out of their
/// records: keys and values end to end in one buffer, with each one's
/// hash, input order, and where its key and value end.
#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    items: Vec<Item>,
    hashes: Vec<u64>,
}

struct Item {
    ord: u64,
    key_end: usize,
    value_end: usize,
}

impl Pending {
    fn len(&self) -> usize {
        self.items.len()
    }

    fn push(&mut self, key: &[u8], hash: u64, value: &[u8], ord: u64) {
        push_bytes(&mut self.bytes, key);
        let key_end = self.bytes.len();
        push_bytes(&mut self.bytes, value);
        self.items.push(Item {
            ord,
            key_end,
            value_end: self.bytes.len(),
        });
        self.hashes.push(hash);
    }

    /// Item `i`'s key, hash, value and input order.
    fn get(&self, i: usize) -> (&[u8], u64, &[u8], u64) {
        let start = i.checked_sub(1).map_or(0, |p| self.items[p].value_end);
        let item = &self.items[i];
        (
            &self.bytes[start..item.key_end],
            self.hashes[i],
            &self.bytes[item.key_end..item.value_end],
            item.ord,
        )
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.items.clear();
        self.hashes.clear();
    }
}

/// Appends `s` to `out`. Keys and values are mostly a few bytes; for up to
/// 16 a copy of two words that may overlap, in line, instead of a call to
/// `memcpy` (issue 16: two such calls a value were most of `add`'s time
/// after hashing). `out` grows by 16 zero bytes first, so the words always
/// fit, and is cut back to the bytes copied.
#[inline(always)]
fn push_bytes(out: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    if n > 16 {
        out.extend_from_slice(s);
        return;
    }
    let at = out.len();
    out.extend_from_slice(&[0; 16]);
    let to = &mut out[at..at + 16];
    match n {
        0 => {}
        1..=3 => {
            to[0] = s[0];
            to[n / 2] = s[n / 2];
            to[n - 1] = s[n - 1];
        }
        4..=7 => {
            to[..4].copy_from_slice(&s[..4]);
            to[n - 4..n].copy_from_slice(&s[n - 4..]);
        }
        _ => {
            to[..8].copy_from_slice(&s[..8]);
            to[n - 8..n].copy_from_slice(&s[n - 8..]);
        }
    }
    out.truncate(at + n);
}

impl Drop for HashAggregator {
    /// An aggregator dropped before `finish` (its task failed) removes its
    /// runs now rather than when the task's `SpillDir` goes.
    fn drop(&mut self) {
        for path in &self.runs {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// What `finish` yields per key.
#[derive(Debug, Clone, Copy)]
enum Output {
    Result,
    Partial,
}

impl Output {
    fn emit(self, aggs: &[Aggregator], key: Vec<u8>, acc: Acc) -> Result<Record, String> {
        let value = match self {
            Output::Result => acc.result(aggs).map_err(|e| key_error(aggs, &key, e))?,
            Output::Partial => {
                let mut out = Vec::new();
                partial::encode(&acc, &mut out);
                out
            }
        };
        Ok(Record::pair(key, value))
    }
}

/// Streams merged runs of (key, partial) records, combining the runs'
/// partials of each key (they are adjacent: the runs are sorted by key).
struct Combine {
    sorted: Sorted,
    /// The first record of the next key, read while looking for the end of
    /// the current one.
    pending: Option<Record>,
    aggs: Vec<Aggregator>,
    output: Output,
    done: bool,
}

impl Combine {
    fn next_key(&mut self) -> Result<Option<Record>, String> {
        let first = match self.pending.take() {
            Some(rec) => rec,
            None => match self.sorted.next() {
                None => return Ok(None),
                Some(rec) => rec?,
            },
        };
        let key = first.key.ok_or_else(|| {
            format!(
                "{}: a spill run holds a record without a key",
                label(&self.aggs)
            )
        })?;
        let mut acc = partial::decode(&self.aggs, &first.value)
            .map_err(|e| key_error(&self.aggs, &key, e))?;
        for rec in self.sorted.by_ref() {
            let rec = rec?;
            if rec.key.as_deref() != Some(&key[..]) {
                self.pending = Some(rec);
                break;
            }
            let other = partial::decode(&self.aggs, &rec.value)
                .map_err(|e| key_error(&self.aggs, &key, e))?;
            acc.merge(other)
                .map_err(|e| key_error(&self.aggs, &key, e))?;
        }
        self.output.emit(&self.aggs, key.into_vec(), acc).map(Some)
    }
}

impl Iterator for Combine {
    type Item = Result<Record, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.next_key().transpose();
        self.done = !matches!(item, Some(Ok(_)));
        item
    }
}

/// The operator as written in a job: `reduce_by_key(sum)`,
/// `reduce_by_key(sum, concat(","))`; `distinct` for no aggregators.
fn label(aggs: &[Aggregator]) -> String {
    if aggs.is_empty() {
        return "distinct".to_string();
    }
    let names: Vec<String> = aggs
        .iter()
        .map(|agg| match agg {
            Aggregator::Concat(sep) => format!("concat({})", quote(sep)),
            other => other.name().to_string(),
        })
        .collect();
    format!("reduce_by_key({})", names.join(", "))
}

fn key_error(aggs: &[Aggregator], key: &[u8], what: String) -> String {
    format!("{}: key {}: {what}", label(aggs), quote(key))
}

#[cfg(test)]
mod tests;
