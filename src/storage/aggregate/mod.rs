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
//! # Semantics (the product contract)
//!
//! The values are the records' value bytes. A number is read as the
//! expression language reads one (`job::parse_number`): optional ASCII
//! whitespace around `[+-]digits[.digits][(e|E)[+-]digits]`; an integer if
//! it has no `.` or exponent and fits in 64 bits, else a float.
//!
//! * `sum`: every value must be a number. While every value is an integer
//!   the sum is an exact integer; once any value is a float the result is
//!   a float. The integer part is kept in 128 bits and checked only at the
//!   end, so whether a sum overflows does not depend on the order the
//!   values arrive in (map tasks and fetches run in any order): a result
//!   outside 64 bits is an error.
//! * `count`: how many values (of any bytes).
//! * `min` / `max`: values must be numbers, compared numerically (an
//!   integer and a float exactly, without rounding); the result is the
//!   winning value as it was written. Numerically equal values written
//!   differently (`1`, `1.0`) are tied by byte order, the smaller winning.
//! * `mean`: the sum (as above) divided by the count, always a float.
//! * `first`: the value with the smallest input order (`ord`, given by the
//!   caller: map task index << 32 | position), so the result does not
//!   depend on fetch order.
//! * `concat(sep)`: every value, in byte order, joined by `sep`.
//!
//! Results print as the expression language prints values: integers in
//! decimal, floats via `format_float` (`2.0`, `0.5`, `1e21`), min/max/first
//! as the original bytes. A value that is not a number fails the task with
//! `reduce_by_key(sum): key "the-key": cannot read "abc" as a number`.
//!
//! # Partial results
//!
//! `finish_partial` writes each key's accumulator as bytes for the shuffle;
//! `merge_partial` reads them on the reduce side. The encoding is internal
//! (both ends are this file) but checked on decode: a bad partial is an
//! error, never a panic. All integers are big-endian.
//!
//! * sum:    `'S'` | 16 bytes: integer part (i128) | 8 bytes: float part
//!   (f64 bits) | 1 byte: 1 if any value was a float, else 0
//! * count:  `'C'` | 8 bytes: count (u64)
//! * mean:   `'A'` | the sum's 25 bytes as above | 8 bytes: count (u64)
//! * min:    `'<'` | the value as written
//! * max:    `'>'` | the value as written
//! * first:  `'F'` | 8 bytes: ord (u64) | the value
//! * concat: `'J'` | for each value: 4 bytes: length (u32) | the value

use std::cmp::Ordering;
use std::collections::HashMap;
use std::mem::size_of;
use std::path::PathBuf;
use std::sync::Arc;

use crate::job::{format_float, parse_number, quote, Aggregator, Num};
use crate::record::{Record, SmallBytes};
use crate::storage::hash::FastBuildHasher;
use crate::storage::sort::{heap_bytes, merge_sorted_runs, Sorted, ALLOC_OVERHEAD_BYTES};
use crate::storage::spill::SpillDir;

/// Records of results or partials, in key byte order.
pub type Results = Box<dyn Iterator<Item = Result<Record, String>> + Send>;

/// A table slot: the key (inline when short, see `SmallBytes`) and the
/// accumulator: a lookup of a short key reads one slot, no heap block.
const SLOT_BYTES: usize = size_of::<(SmallBytes, Acc)>();
/// Control bytes the table keeps besides one per bucket (hashbrown's
/// group width, so a probe can read 16 control bytes at once).
const TABLE_EXTRA_CONTROL_BYTES: usize = 16;
/// Per entry, for the `(&key, &acc)` index sorted when the table is spilled.
const SORT_INDEX_BYTES: usize = size_of::<(&SmallBytes, &Acc)>();

/// Bytes a hash table of `capacity` entries of `slot_bytes` each occupies:
/// one slot plus one control byte per bucket. hashbrown keeps buckets a
/// power of two and fills at most 7/8 of them (all but one below 8).
pub fn hash_table_bytes(capacity: usize, slot_bytes: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = if capacity < 8 {
        capacity + 1
    } else {
        capacity / 7 * 8
    }
    .next_power_of_two();
    buckets * (slot_bytes + 1) + TABLE_EXTRA_CONTROL_BYTES + ALLOC_OVERHEAD_BYTES
}

/// Combines values per key within a memory budget (see the module comment).
pub struct HashAggregator {
    agg: Aggregator,
    budget_bytes: usize,
    fan_in: usize,
    spill: Arc<SpillDir>,
    map: HashMap<SmallBytes, Acc, FastBuildHasher>,
    /// Heap bytes of the keys and accumulators in `map`, plus each entry's
    /// share of the spill-time sort index.
    entry_bytes: usize,
    /// `map.capacity()` when `table_bytes` was last computed.
    capacity: usize,
    /// What the table's own allocation costs at that capacity.
    table_bytes: usize,
    /// Does an accumulator's heap size change as values arrive? (min, max,
    /// first, concat.) If not, `add` skips measuring it.
    acc_grows: bool,
    /// Spilled tables, oldest first, each sorted by key.
    runs: Vec<PathBuf>,
    /// Reused to encode partials while spilling.
    scratch: Vec<u8>,
}

impl HashAggregator {
    /// `fan_in` is how many runs a merge reads at once (at least 2).
    pub fn new(agg: Aggregator, budget_bytes: usize, fan_in: usize, spill: Arc<SpillDir>) -> Self {
        let acc_grows = matches!(
            agg,
            Aggregator::Min | Aggregator::Max | Aggregator::First | Aggregator::Concat(_)
        );
        HashAggregator {
            agg,
            budget_bytes,
            fan_in: fan_in.max(2),
            spill,
            map: HashMap::default(),
            entry_bytes: 0,
            capacity: 0,
            table_bytes: 0,
            acc_grows,
            runs: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// A raw value (from a record). `ord` is its input order, for `first`.
    ///
    /// One hash lookup, and no allocation, when the key is already there.
    pub fn add(&mut self, key: &[u8], value: &[u8], ord: u64) -> Result<(), String> {
        if let Some(acc) = self.map.get_mut(key) {
            if !self.acc_grows {
                return acc
                    .add(value, ord)
                    .map_err(|e| key_error(&self.agg, key, e));
            }
            let before = acc.heap_bytes();
            acc.add(value, ord)
                .map_err(|e| key_error(&self.agg, key, e))?;
            self.entry_bytes = self.entry_bytes + acc.heap_bytes() - before;
            return self.check_budget();
        }
        let acc = Acc::new(&self.agg, value, ord).map_err(|e| key_error(&self.agg, key, e))?;
        self.insert(key, acc)
    }

    /// A partial accumulator, as written by `finish_partial` on another task.
    pub fn merge_partial(&mut self, key: &[u8], partial: &[u8]) -> Result<(), String> {
        let other = Acc::decode(&self.agg, partial).map_err(|e| key_error(&self.agg, key, e))?;
        if let Some(acc) = self.map.get_mut(key) {
            let before = acc.heap_bytes();
            acc.merge(other).map_err(|e| key_error(&self.agg, key, e))?;
            self.entry_bytes = self.entry_bytes + acc.heap_bytes() - before;
            return self.check_budget();
        }
        self.insert(key, other)
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

    fn insert(&mut self, key: &[u8], acc: Acc) -> Result<(), String> {
        // A full table grows by allocating one twice its size while the old
        // one is still alive: if both would not fit, spill first (then the
        // emptied table has room and does not grow).
        if self.map.len() == self.map.capacity() {
            let grown = hash_table_bytes(self.map.capacity() * 2 + 1, SLOT_BYTES);
            if self.entry_bytes + self.table_bytes + grown > self.budget_bytes {
                self.spill_table()?;
            }
        }
        let key = SmallBytes::from(key);
        let key_heap = match key.heap_capacity() {
            0 => 0,
            n => heap_bytes(n),
        };
        self.entry_bytes += key_heap + acc.heap_bytes() + SORT_INDEX_BYTES;
        self.map.insert(key, acc);
        if self.map.capacity() != self.capacity {
            self.capacity = self.map.capacity();
            self.table_bytes = hash_table_bytes(self.capacity, SLOT_BYTES);
        }
        self.check_budget()
    }

    fn check_budget(&mut self) -> Result<(), String> {
        if self.entry_bytes + self.table_bytes > self.budget_bytes {
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
        let mut entries: Vec<(&SmallBytes, &Acc)> = self.map.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut run = self.spill.create_run()?;
        for (key, acc) in entries {
            self.scratch.clear();
            acc.encode(&mut self.scratch);
            run.write_parts(Some(key), &self.scratch)?;
        }
        let (path, stats) = run.finish()?;
        crate::event!(
            Debug,
            "aggregate",
            "spill",
            keys = stats.records,
            bytes = stats.bytes,
            estimate = self.entry_bytes + self.table_bytes
        );
        self.runs.push(path);
        self.map.clear();
        self.entry_bytes = 0;
        // An empty table keeps its slots. Keep them for the next round
        // unless they alone would eat most of the budget.
        if self.table_bytes > self.budget_bytes / 2 {
            self.map = HashMap::default();
            self.capacity = 0;
            self.table_bytes = 0;
        }
        Ok(())
    }

    fn finish_as(mut self, output: Output) -> Result<Results, String> {
        let agg = self.agg.clone();
        // Sorting in memory copies the entries into a vector while the
        // table still holds them; if that copy would not fit, spill instead.
        let sort_bytes = self.map.len() * SLOT_BYTES;
        if !self.runs.is_empty()
            || self.entry_bytes + self.table_bytes + sort_bytes > self.budget_bytes
        {
            self.spill_table()?;
        }
        if self.runs.is_empty() {
            let mut entries: Vec<(SmallBytes, Acc)> =
                std::mem::take(&mut self.map).into_iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            return Ok(Box::new(
                entries
                    .into_iter()
                    .map(move |(key, acc)| output.emit(&agg, key.into_vec(), acc)),
            ));
        }
        let runs = std::mem::take(&mut self.runs);
        let sorted = merge_sorted_runs(runs, self.fan_in, &self.spill)?;
        Ok(Box::new(Combine {
            sorted,
            pending: None,
            agg,
            output,
            done: false,
        }))
    }
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
    fn emit(self, agg: &Aggregator, key: Vec<u8>, acc: Acc) -> Result<Record, String> {
        let value = match self {
            Output::Result => acc.result(agg).map_err(|e| key_error(agg, &key, e))?,
            Output::Partial => {
                let mut out = Vec::new();
                acc.encode(&mut out);
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
    agg: Aggregator,
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
                "reduce_by_key({}): a spill run holds a record without a key",
                label(&self.agg)
            )
        })?;
        let mut acc =
            Acc::decode(&self.agg, &first.value).map_err(|e| key_error(&self.agg, &key, e))?;
        for rec in self.sorted.by_ref() {
            let rec = rec?;
            if rec.key.as_deref() != Some(&key[..]) {
                self.pending = Some(rec);
                break;
            }
            let other =
                Acc::decode(&self.agg, &rec.value).map_err(|e| key_error(&self.agg, &key, e))?;
            acc.merge(other)
                .map_err(|e| key_error(&self.agg, &key, e))?;
        }
        self.output.emit(&self.agg, key.into_vec(), acc).map(Some)
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

/// The aggregator as written in a job: `sum`, `concat(",")`.
fn label(agg: &Aggregator) -> String {
    match agg {
        Aggregator::Concat(sep) => format!("concat({})", quote(sep)),
        other => other.name().to_string(),
    }
}

fn key_error(agg: &Aggregator, key: &[u8], what: String) -> String {
    format!("reduce_by_key({}): key {}: {what}", label(agg), quote(key))
}

/// One key's accumulator. Its variant always matches the aggregator.
#[derive(Debug, Clone)]
enum Acc {
    Sum(Sum),
    Count(u64),
    Mean {
        sum: Sum,
        count: u64,
    },
    Min(Extreme),
    Max(Extreme),
    First {
        ord: u64,
        value: Vec<u8>,
    },
    /// Every value so far, each as a u32 big-endian length and the bytes;
    /// sorted only when the result is made.
    Concat(Vec<u8>),
}

/// A 128-bit integer kept as two 64-bit halves, so that it needs only
/// 8-byte alignment: an `i128` field would align every table slot to 16
/// bytes and make it larger.
#[derive(Debug, Clone, Copy, Default)]
struct Int128 {
    hi: i64,
    lo: u64,
}

impl Int128 {
    #[inline]
    fn new(v: i128) -> Int128 {
        Int128 {
            hi: (v >> 64) as i64,
            lo: v as u64,
        }
    }

    #[inline]
    fn get(self) -> i128 {
        (i128::from(self.hi) << 64) | i128::from(self.lo)
    }
}

/// A sum: exact integers, and floats once any value is one.
#[derive(Debug, Clone, Copy, Default)]
struct Sum {
    /// 128 bits: adding 2^64 values of 64 bits cannot overflow it.
    int: Int128,
    float: f64,
    has_float: bool,
}

/// The current min or max: the number and its bytes as written.
#[derive(Debug, Clone)]
struct Extreme {
    num: Num,
    bytes: Vec<u8>,
}

// Partial encoding tags (see the module comment).
const TAG_SUM: u8 = b'S';
const TAG_COUNT: u8 = b'C';
const TAG_MEAN: u8 = b'A';
const TAG_MIN: u8 = b'<';
const TAG_MAX: u8 = b'>';
const TAG_FIRST: u8 = b'F';
const TAG_CONCAT: u8 = b'J';
/// Bytes of an encoded `Sum`: i128 + f64 + flag.
const SUM_BYTES: usize = 16 + 8 + 1;
/// Bytes of one length field in a concat accumulator.
const PART_LEN_BYTES: usize = 4;

impl Acc {
    /// The accumulator of a key's first value.
    fn new(agg: &Aggregator, value: &[u8], ord: u64) -> Result<Acc, String> {
        Ok(match agg {
            Aggregator::Sum => Acc::Sum(Sum::of(read_number(value)?)),
            Aggregator::Count => Acc::Count(1),
            Aggregator::Mean => Acc::Mean {
                sum: Sum::of(read_number(value)?),
                count: 1,
            },
            Aggregator::Min => Acc::Min(Extreme::new(value)?),
            Aggregator::Max => Acc::Max(Extreme::new(value)?),
            Aggregator::First => Acc::First {
                ord,
                value: value.to_vec(),
            },
            Aggregator::Concat(_) => {
                let mut parts = Vec::new();
                push_part(&mut parts, value)?;
                Acc::Concat(parts)
            }
        })
    }

    /// Adds one more raw value. The hot path of word count: no allocation
    /// except where the accumulator keeps bytes.
    #[inline]
    fn add(&mut self, value: &[u8], ord: u64) -> Result<(), String> {
        match self {
            Acc::Sum(sum) => sum.add(read_number(value)?),
            Acc::Count(n) => {
                *n += 1;
                Ok(())
            }
            Acc::Mean { sum, count } => {
                sum.add(read_number(value)?)?;
                *count += 1;
                Ok(())
            }
            Acc::Min(cur) => {
                let num = read_number(value)?;
                cur.offer(num, value, Ordering::Less);
                Ok(())
            }
            Acc::Max(cur) => {
                let num = read_number(value)?;
                cur.offer(num, value, Ordering::Greater);
                Ok(())
            }
            Acc::First {
                ord: cur_ord,
                value: cur,
            } => {
                if (ord, value) < (*cur_ord, &cur[..]) {
                    *cur_ord = ord;
                    cur.clear();
                    cur.extend_from_slice(value);
                }
                Ok(())
            }
            Acc::Concat(parts) => push_part(parts, value),
        }
    }

    /// Folds in another accumulator of the same key.
    fn merge(&mut self, other: Acc) -> Result<(), String> {
        match (self, other) {
            (Acc::Sum(a), Acc::Sum(b)) => a.merge(b),
            (Acc::Count(a), Acc::Count(b)) => {
                *a = a.checked_add(b).ok_or("count overflows 64 bits")?;
                Ok(())
            }
            (Acc::Mean { sum, count }, Acc::Mean { sum: s, count: c }) => {
                sum.merge(s)?;
                *count = count.checked_add(c).ok_or("count overflows 64 bits")?;
                Ok(())
            }
            (Acc::Min(a), Acc::Min(b)) => {
                a.offer(b.num, &b.bytes, Ordering::Less);
                Ok(())
            }
            (Acc::Max(a), Acc::Max(b)) => {
                a.offer(b.num, &b.bytes, Ordering::Greater);
                Ok(())
            }
            (Acc::First { ord, value }, Acc::First { ord: o, value: v }) => {
                if o < *ord || (o == *ord && v < *value) {
                    *ord = o;
                    *value = v;
                }
                Ok(())
            }
            (Acc::Concat(a), Acc::Concat(b)) => {
                a.extend_from_slice(&b);
                Ok(())
            }
            // `decode` checks the tag against the aggregator, so this is
            // a bug, reported rather than panicked on.
            _ => Err("partial results of different aggregators".to_string()),
        }
    }

    /// Heap bytes the accumulator owns (its inline part is in the slot).
    fn heap_bytes(&self) -> usize {
        match self {
            Acc::Sum(_) | Acc::Count(_) | Acc::Mean { .. } => 0,
            Acc::Min(e) | Acc::Max(e) => heap_bytes(e.bytes.capacity()),
            Acc::First { value, .. } => heap_bytes(value.capacity()),
            Acc::Concat(parts) => heap_bytes(parts.capacity()),
        }
    }

    /// The result as record bytes.
    fn result(self, agg: &Aggregator) -> Result<Vec<u8>, String> {
        Ok(match self {
            Acc::Sum(sum) => match sum.value()? {
                Num::Int(i) => i.to_string().into_bytes(),
                Num::Float(f) => format_float(f).into_bytes(),
            },
            Acc::Count(n) => n.to_string().into_bytes(),
            Acc::Mean { sum, count } => format_float(sum.as_f64() / count as f64).into_bytes(),
            Acc::Min(e) | Acc::Max(e) => e.bytes,
            Acc::First { value, .. } => value,
            Acc::Concat(parts) => {
                let sep: &[u8] = match agg {
                    Aggregator::Concat(sep) => sep,
                    _ => b"",
                };
                let mut values = split_parts(&parts)?;
                values.sort_unstable();
                values.join(sep)
            }
        })
    }

    /// Appends the partial encoding (see the module comment).
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Acc::Sum(sum) => {
                out.push(TAG_SUM);
                sum.encode(out);
            }
            Acc::Count(n) => {
                out.push(TAG_COUNT);
                out.extend_from_slice(&n.to_be_bytes());
            }
            Acc::Mean { sum, count } => {
                out.push(TAG_MEAN);
                sum.encode(out);
                out.extend_from_slice(&count.to_be_bytes());
            }
            Acc::Min(e) => {
                out.push(TAG_MIN);
                out.extend_from_slice(&e.bytes);
            }
            Acc::Max(e) => {
                out.push(TAG_MAX);
                out.extend_from_slice(&e.bytes);
            }
            Acc::First { ord, value } => {
                out.push(TAG_FIRST);
                out.extend_from_slice(&ord.to_be_bytes());
                out.extend_from_slice(value);
            }
            Acc::Concat(parts) => {
                out.push(TAG_CONCAT);
                out.extend_from_slice(parts);
            }
        }
    }

    /// Reads a partial encoding, checking it fits the aggregator.
    fn decode(agg: &Aggregator, bytes: &[u8]) -> Result<Acc, String> {
        let corrupt = |what: &str| format!("corrupt partial result ({what})");
        let expected = match agg {
            Aggregator::Sum => TAG_SUM,
            Aggregator::Count => TAG_COUNT,
            Aggregator::Mean => TAG_MEAN,
            Aggregator::Min => TAG_MIN,
            Aggregator::Max => TAG_MAX,
            Aggregator::First => TAG_FIRST,
            Aggregator::Concat(_) => TAG_CONCAT,
        };
        let Some((&tag, body)) = bytes.split_first() else {
            return Err(corrupt("empty"));
        };
        if tag != expected {
            return Err(corrupt(&format!(
                "tag {tag:#04x}, expected {expected:#04x}"
            )));
        }
        let exact = |n: usize| {
            if body.len() == n {
                Ok(())
            } else {
                Err(corrupt(&format!(
                    "{} bytes, expected {}",
                    bytes.len(),
                    n + 1
                )))
            }
        };
        Ok(match agg {
            Aggregator::Sum => {
                exact(SUM_BYTES)?;
                Acc::Sum(Sum::decode(body).map_err(corrupt)?)
            }
            Aggregator::Count => {
                exact(8)?;
                Acc::Count(u64::from_be_bytes(array(body)))
            }
            Aggregator::Mean => {
                exact(SUM_BYTES + 8)?;
                Acc::Mean {
                    sum: Sum::decode(&body[..SUM_BYTES]).map_err(corrupt)?,
                    count: u64::from_be_bytes(array(&body[SUM_BYTES..])),
                }
            }
            Aggregator::Min => Acc::Min(Extreme::new(body).map_err(|e| corrupt(&e))?),
            Aggregator::Max => Acc::Max(Extreme::new(body).map_err(|e| corrupt(&e))?),
            Aggregator::First => {
                if body.len() < 8 {
                    return Err(corrupt(&format!(
                        "{} bytes, expected at least 9",
                        bytes.len()
                    )));
                }
                Acc::First {
                    ord: u64::from_be_bytes(array(&body[..8])),
                    value: body[8..].to_vec(),
                }
            }
            Aggregator::Concat(_) => {
                split_parts(body).map_err(|e| corrupt(&e))?;
                Acc::Concat(body.to_vec())
            }
        })
    }
}

impl Sum {
    fn of(num: Num) -> Sum {
        match num {
            Num::Int(i) => Sum {
                int: Int128::new(i128::from(i)),
                ..Sum::default()
            },
            Num::Float(f) => Sum {
                int: Int128::default(),
                float: f,
                has_float: true,
            },
        }
    }

    #[inline]
    fn add(&mut self, num: Num) -> Result<(), String> {
        match num {
            Num::Int(i) => {
                self.int = Int128::new(
                    self.int
                        .get()
                        .checked_add(i128::from(i))
                        .ok_or("sum overflows 128 bits")?,
                );
            }
            Num::Float(f) => {
                self.float += f;
                self.has_float = true;
            }
        }
        Ok(())
    }

    fn merge(&mut self, other: Sum) -> Result<(), String> {
        self.int = Int128::new(
            self.int
                .get()
                .checked_add(other.int.get())
                .ok_or("sum overflows 128 bits")?,
        );
        self.float += other.float;
        self.has_float |= other.has_float;
        Ok(())
    }

    fn as_f64(&self) -> f64 {
        self.int.get() as f64 + self.float
    }

    /// The final sum: an integer if every value was one (and it fits).
    fn value(&self) -> Result<Num, String> {
        if self.has_float {
            return Ok(Num::Float(self.as_f64()));
        }
        let int = self.int.get();
        i64::try_from(int)
            .map(Num::Int)
            .map_err(|_| format!("the sum {int} does not fit in a 64-bit integer"))
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.int.get().to_be_bytes());
        out.extend_from_slice(&self.float.to_bits().to_be_bytes());
        out.push(u8::from(self.has_float));
    }

    /// From exactly `SUM_BYTES` bytes.
    fn decode(bytes: &[u8]) -> Result<Sum, &'static str> {
        let has_float = match bytes[24] {
            0 => false,
            1 => true,
            _ => return Err("float flag is not 0 or 1"),
        };
        Ok(Sum {
            int: Int128::new(i128::from_be_bytes(array(&bytes[..16]))),
            float: f64::from_bits(u64::from_be_bytes(array(&bytes[16..24]))),
            has_float,
        })
    }
}

impl Extreme {
    fn new(value: &[u8]) -> Result<Extreme, String> {
        Ok(Extreme {
            num: read_number(value)?,
            bytes: value.to_vec(),
        })
    }

    /// Takes `value` if it beats the current one: compares `want` to the
    /// current number (`Less` for min, `Greater` for max); ties go to the
    /// bytewise smaller text, so the result does not depend on order.
    fn offer(&mut self, num: Num, value: &[u8], want: Ordering) {
        let order = cmp_num(num, self.num);
        if order == want || (order == Ordering::Equal && value < &self.bytes[..]) {
            self.num = num;
            self.bytes.clear();
            self.bytes.extend_from_slice(value);
        }
    }
}

/// Reads a value as a number. Short plain integers (`1`, `-42`: most of
/// what word count sums) are parsed right here, digit by digit; anything
/// else goes through the expression language's full rules.
#[inline]
fn read_number(value: &[u8]) -> Result<Num, String> {
    if let Some(i) = parse_small_int(value) {
        return Ok(Num::Int(i));
    }
    parse_number(value).ok_or_else(|| format!("cannot read {} as a number", quote(value)))
}

/// Most decimal digits that cannot overflow an i64 (10^18 < 2^63).
const MAX_SMALL_INT_DIGITS: usize = 18;

/// `[+-]digits` with at most 18 digits, else `None`.
#[inline]
fn parse_small_int(value: &[u8]) -> Option<i64> {
    let (negative, digits) = match value.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, value),
    };
    if digits.is_empty() || digits.len() > MAX_SMALL_INT_DIGITS {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        let digit = d.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n = n * 10 + i64::from(digit);
    }
    Some(if negative { -n } else { n })
}

/// Numeric order; an integer and a float are compared exactly (converting
/// a large i64 to f64 would round).
fn cmp_num(a: Num, b: Num) -> Ordering {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => x.cmp(&y),
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(&y).unwrap_or_else(|| x.total_cmp(&y)),
        (Num::Int(x), Num::Float(y)) => cmp_int_float(x, y),
        (Num::Float(x), Num::Int(y)) => cmp_int_float(y, x).reverse(),
    }
}

fn cmp_int_float(i: i64, f: f64) -> Ordering {
    /// 2^63: the first float above every i64.
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() || f >= TWO_POW_63 {
        return Ordering::Less;
    }
    if f < -TWO_POW_63 {
        return Ordering::Greater;
    }
    // Now -2^63 <= trunc(f) < 2^63: exact as an i64.
    let whole = f.trunc();
    i.cmp(&(whole as i64))
        .then_with(|| 0.0.partial_cmp(&(f - whole)).unwrap_or(Ordering::Equal))
}

/// Appends a value to a concat accumulator.
fn push_part(parts: &mut Vec<u8>, value: &[u8]) -> Result<(), String> {
    let len = u32::try_from(value.len())
        .map_err(|_| format!("a value of {} bytes is too long to concat", value.len()))?;
    parts.extend_from_slice(&len.to_be_bytes());
    parts.extend_from_slice(value);
    Ok(())
}

/// The values in a concat accumulator, checking every length.
fn split_parts(parts: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut values = Vec::new();
    let mut pos = 0;
    while pos < parts.len() {
        if parts.len() - pos < PART_LEN_BYTES {
            return Err(format!("value length at byte {pos} is cut off"));
        }
        let len = u32::from_be_bytes(array(&parts[pos..pos + PART_LEN_BYTES])) as usize;
        pos += PART_LEN_BYTES;
        if len > parts.len() - pos {
            return Err(format!(
                "value of {len} bytes at byte {pos} overruns the end"
            ));
        }
        values.push(&parts[pos..pos + len]);
        pos += len;
    }
    Ok(values)
}

/// The first N bytes as an array; the caller has checked the length.
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

#[cfg(test)]
mod tests;
