//! The reduce side of `join` and `left_join`: a hash join while the left
//! side fits in memory, and a sort-merge join when it does not.
//!
//! OS idea: choosing an algorithm by the memory at hand. The hash join
//! (Spark's RDD `join` works this way, through `cogroup`'s hash map) puts
//! the left side's records in a table by key and streams the right side
//! past it: each record is read once and nothing is sorted, so it is the
//! fast path when one side is small, like users against their orders.
//! When the left side outgrows its budget mid-build, what the table holds
//! goes back in front of the rest of the stream and both sides go through
//! the external merge sort (`storage/sort.rs`) instead: sorted runs spill
//! to disk, and the merge join streams both sides, holding one key's left
//! values (spilled too when one key has more than its share).
//!
//! The hash join emits the matches of each right record in the order the
//! right side arrives; the sort-merge join emits keys in byte order. Both
//! emit the same lines; neither promises an order within a part file.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::iter::Peekable;
use std::path::PathBuf;
use std::sync::Arc;

use crate::exec::env::{Records, MERGE_FAN_IN};
use crate::exec::join_table::{JoinTable, END};
use crate::record::{Record, SmallBytes};
use crate::storage::{sorted, RunReader, RunWriter, SpillDir};

/// Joins `left` with the records `right` fetches, on their keys, within
/// `budget` bytes: `key<TAB>left<TAB>right` for every matching pair, and
/// for a left join (`outer`) `key<TAB>left<TAB>` for each left record that
/// nothing matched.
///
/// # Errors
/// A fetch, sort or spill error.
pub fn join(
    left: Records,
    right: impl FnOnce() -> Result<Records, String>,
    outer: bool,
    budget: usize,
    spill: &Arc<SpillDir>,
) -> Result<Records, String> {
    let left = match build(left, budget / 2)? {
        Build::Table(table) => return Ok(Box::new(HashJoin::new(table, right()?, outer))),
        Build::TooBig(left) => left,
    };
    // An eighth of the budget holds the current key's left values. The left
    // side sorts in at most half; the right side gets what the sorted left
    // side does not keep.
    let group = budget / 8;
    let (left, kept) = sorted(left, budget / 2, MERGE_FAN_IN, spill)?;
    let right_budget = budget.saturating_sub(group + kept).max(budget / 8);
    let (right, _) = sorted(right()?, right_budget, MERGE_FAN_IN, spill)?;
    Ok(Box::new(MergeJoin::new(
        Box::new(left),
        Box::new(right),
        outer,
        group,
        Arc::clone(spill),
    )))
}

fn joined(key: impl Into<SmallBytes>, left: &[u8], right: &[u8]) -> Record {
    Record::pair(key, SmallBytes::concat(&[left, b"\t", right]))
}

/// A right record's key, as the joined record's: a copy of its
/// `SmallBytes`, a fixed-size move when it is inline.
fn right_key(r: &Record) -> SmallBytes {
    r.key.clone().unwrap_or_default()
}

fn key(r: &Record) -> &[u8] {
    r.key.as_deref().unwrap_or_default()
}

enum Build {
    Table(JoinTable),
    /// Over budget: every left record (the table's, then the rest).
    TooBig(Records),
}

/// Reads all of `left` into a table, unless it would need more than
/// `budget` bytes. Records go in `BATCH` at a time, their lookups started
/// together, as the right side's are (`HashJoin`).
fn build(mut left: Records, budget: usize) -> Result<Build, String> {
    let mut table = JoinTable::default();
    let mut batch: Vec<(Record, u64)> = Vec::with_capacity(BATCH);
    loop {
        for record in left.by_ref().take(BATCH) {
            let record = record?;
            let hash = table.start_lookup(key(&record));
            batch.push((record, hash));
        }
        if batch.is_empty() {
            return Ok(Build::Table(table));
        }
        for (_, hash) in &batch {
            table.prefetch_entry(*hash);
        }
        let mut records = batch.drain(..);
        while let Some((record, hash)) = records.next() {
            if table.bytes_after_insert(&record) > budget {
                let held = table.into_records().into_iter().map(Ok);
                let rest: Vec<Record> = records.map(|(r, _)| r).collect();
                return Ok(Build::TooBig(Box::new(
                    held.chain(std::iter::once(Ok(record)))
                        .chain(rest.into_iter().map(Ok))
                        .chain(left),
                )));
            }
            table.insert(record, hash);
        }
    }
}

/// The hash join: each right record, looked up in the left side's table,
/// makes one output record per left value of its key. The right side is
/// read `BATCH` records at a time, one batch ahead of the one being joined,
/// so that the table's cache misses overlap (`storage/keytable.rs`).
struct HashJoin {
    table: JoinTable,
    right: Records,
    outer: bool,
    /// The batch being joined, the entry each one's key has in the table,
    /// and how many have been joined.
    batch: Vec<Record>,
    found: Vec<Option<usize>>,
    done: usize,
    /// The next batch, with its keys' hashes: its slots and entries are on
    /// their way into the cache.
    ahead: Vec<Record>,
    ahead_hashes: Vec<u64>,
    /// The last joined right record's next left value in the table's
    /// chains (`END`: none).
    pending: u32,
    /// An error from the right side, returned once the records before it are.
    error: Option<String>,
    /// For a left join, once the right side is done: the unmatched left records.
    unmatched: Option<std::vec::IntoIter<Record>>,
}

/// Right records read ahead together: enough cache misses in flight to
/// hide most of the memory's latency, few enough that their slots and
/// entries stay in the L1 cache until they are looked up (64 slots' lines
/// and 64 entries are 8 KiB; 64 rather than 16 or 32: 2-4% less CPU).
const BATCH: usize = 64;

impl HashJoin {
    fn new(table: JoinTable, right: Records, outer: bool) -> HashJoin {
        let mut join = HashJoin {
            table,
            right,
            outer,
            batch: Vec::with_capacity(BATCH),
            found: Vec::with_capacity(BATCH),
            done: 0,
            ahead: Vec::with_capacity(BATCH),
            ahead_hashes: Vec::with_capacity(BATCH),
            pending: END,
            error: None,
            unmatched: None,
        };
        join.read_ahead();
        join
    }

    /// Reads the next batch of right records, starting their lookups
    /// (steps 1 and 2).
    fn read_ahead(&mut self) {
        while self.ahead.len() < BATCH && self.error.is_none() {
            match self.right.next() {
                Some(Ok(record)) => {
                    self.ahead_hashes
                        .push(self.table.start_lookup(key(&record)));
                    self.ahead.push(record);
                }
                Some(Err(e)) => self.error = Some(e),
                None => break,
            }
        }
        for &h in &self.ahead_hashes {
            self.table.prefetch_entry(h);
        }
    }

    /// Makes the batch read ahead the one to join, looking its records up
    /// (step 3), and reads the next; false at the end of the right side.
    fn next_batch(&mut self) -> bool {
        std::mem::swap(&mut self.batch, &mut self.ahead);
        self.found.clear();
        for (record, &h) in self.batch.iter().zip(&self.ahead_hashes) {
            self.found.push(self.table.find(key(record), h));
        }
        self.done = 0;
        self.ahead.clear();
        self.ahead_hashes.clear();
        self.read_ahead();
        !self.batch.is_empty()
    }

    /// For a left join, the left records nothing matched.
    fn unmatched(&self) -> Vec<Record> {
        let mut out = Vec::new();
        for (key, values) in self.table.entries().filter(|(_, v)| !v.matched) {
            for value in self.table.values(values) {
                out.push(joined(key.clone(), value, b""));
            }
        }
        out
    }
}

impl Iterator for HashJoin {
    type Item = Result<Record, String>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.pending != END {
                let right = &self.batch[self.done - 1];
                let (left, next) = self.table.more(self.pending);
                let out = joined(right_key(right), left, &right.value);
                self.pending = next;
                return Some(Ok(out));
            }
            if let Some(found) = self.found.get(self.done) {
                let right = &self.batch[self.done];
                self.done += 1;
                let Some(at) = *found else {
                    continue;
                };
                let values = self.table.values_mut(at);
                values.matched = true;
                self.pending = values.next;
                return Some(Ok(joined(right_key(right), &values.first, &right.value)));
            }
            if self.ahead.is_empty() {
                if let Some(e) = self.error.take() {
                    // Nothing after an error: no more batches, no
                    // unmatched records.
                    self.right = Box::new(std::iter::empty());
                    self.outer = false;
                    return Some(Err(e));
                }
            }
            if let Some(rest) = &mut self.unmatched {
                return rest.next().map(Ok);
            }
            if !self.next_batch() {
                if !self.outer {
                    return None;
                }
                self.unmatched = Some(self.unmatched().into_iter());
                self.table = JoinTable::default();
            }
        }
    }
}

/// A sort-merge join of two streams sorted by key. For each key on both
/// sides it holds the left values (spilled to a run file past their budget)
/// and streams the right ones, one at a time: `key<TAB>left<TAB>right` for
/// every pair. A left join also emits `key<TAB>left<TAB>` for left records
/// no right record matches. Memory: one key's left values (bounded), one
/// right record, one output record.
struct MergeJoin {
    left: Peekable<Records>,
    right: Peekable<Records>,
    outer: bool,
    group_budget: usize,
    spill: Arc<SpillDir>,
    /// The key whose left group is loaded, and whether a right record matched it.
    current: Option<(Vec<u8>, bool)>,
    group: Group,
    /// The right value being joined with the group, and where in the group we are.
    pass: Option<(Vec<u8>, Cursor)>,
    failed: bool,
}

/// One key's left values.
enum Group {
    Memory(Vec<Vec<u8>>),
    /// Too many for the budget: in a run file.
    Spilled(PathBuf),
}

enum Cursor {
    Memory(usize),
    File(RunReader<BufReader<File>>),
}

impl MergeJoin {
    fn new(
        left: Records,
        right: Records,
        outer: bool,
        group_budget: usize,
        spill: Arc<SpillDir>,
    ) -> MergeJoin {
        MergeJoin {
            left: left.peekable(),
            right: right.peekable(),
            outer,
            group_budget,
            spill,
            current: None,
            group: Group::Memory(Vec::new()),
            pass: None,
            failed: false,
        }
    }

    /// The next joined record, or `None` at the end.
    fn step(&mut self) -> Result<Option<Record>, String> {
        loop {
            // 1. Joining one right value with the group: the next left value.
            if let (Some((key, _)), Some((right, cursor))) = (&self.current, &mut self.pass) {
                let left = match (cursor, &self.group) {
                    (Cursor::Memory(i), Group::Memory(values)) => {
                        let v = values.get(*i).cloned();
                        *i += 1;
                        v
                    }
                    (Cursor::File(reader), _) => {
                        reader.next().transpose()?.map(|r| r.value.into_vec())
                    }
                    _ => None,
                };
                match left {
                    Some(left) => return Ok(Some(joined(&key[..], &left, right))),
                    None => self.pass = None,
                }
                continue;
            }
            // 2. A group is loaded: the next right record with its key, or done with it.
            if let Some((group_key, matched)) = &mut self.current {
                if let Some(Err(_)) = self.right.peek() {
                    return Err(self.right.next().and_then(Result::err).unwrap_or_default());
                }
                let same =
                    matches!(self.right.peek(), Some(Ok(r)) if key(r) == group_key.as_slice());
                if same {
                    let Some(Ok(r)) = self.right.next() else {
                        continue;
                    };
                    *matched = true;
                    let cursor = self.cursor()?;
                    self.pass = Some((r.value.into_vec(), cursor));
                } else if !*matched && self.outer {
                    // One pass with an empty right side, then the group is done.
                    *matched = true;
                    let cursor = self.cursor()?;
                    self.pass = Some((Vec::new(), cursor));
                } else {
                    self.current = None;
                }
                continue;
            }
            // 3. Find the next key on both sides (or, for a left join, any left key).
            if let Some(Err(_)) = self.left.peek() {
                return Err(self.left.next().and_then(Result::err).unwrap_or_default());
            }
            if let Some(Err(_)) = self.right.peek() {
                return Err(self.right.next().and_then(Result::err).unwrap_or_default());
            }
            let Some(Ok(l)) = self.left.peek() else {
                return Ok(None);
            };
            let order = match self.right.peek() {
                Some(Ok(r)) => key(l).cmp(key(r)),
                _ => std::cmp::Ordering::Less,
            };
            match order {
                std::cmp::Ordering::Greater => {
                    self.right.next();
                }
                std::cmp::Ordering::Less if !self.outer => {
                    self.left.next();
                }
                _ => {
                    let k = key(l).to_vec();
                    self.load_group(&k)?;
                    self.current = Some((k, false));
                }
            }
        }
    }

    fn cursor(&self) -> Result<Cursor, String> {
        Ok(match &self.group {
            Group::Memory(_) => Cursor::Memory(0),
            Group::Spilled(path) => {
                let file =
                    File::open(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
                Cursor::File(RunReader::new(
                    BufReader::new(file),
                    path.display().to_string(),
                ))
            }
        })
    }

    /// Takes every left record with key `k` into the group, spilling it to a
    /// run file once it outgrows its budget.
    fn load_group(&mut self, k: &[u8]) -> Result<(), String> {
        let spill_err = |e: std::io::Error| format!("spilling a join group: {e}");
        let mut values = Vec::new();
        let mut bytes = 0usize;
        let mut writer: Option<(PathBuf, RunWriter<BufWriter<File>>)> = None;
        while matches!(self.left.peek(), Some(Ok(r)) if key(r) == k) {
            let Some(Ok(rec)) = self.left.next() else {
                break;
            };
            if let Some((_, w)) = writer.as_mut() {
                w.write(&Record::line(rec.value)).map_err(spill_err)?;
                continue;
            }
            bytes += rec.value.len() + 32;
            values.push(rec.value.into_vec());
            if bytes > self.group_budget {
                let (path, file) = self.spill.create("join")?;
                let mut w = RunWriter::new(BufWriter::new(file));
                for v in values.drain(..) {
                    w.write(&Record::line(v)).map_err(spill_err)?;
                }
                writer = Some((path, w));
            }
        }
        self.group = match writer {
            None => Group::Memory(values),
            Some((path, w)) => {
                let (mut inner, stats) = w.finish().map_err(spill_err)?;
                inner.flush().map_err(spill_err)?;
                self.spill.record(stats);
                Group::Spilled(path)
            }
        };
        Ok(())
    }
}

impl Iterator for MergeJoin {
    type Item = Result<Record, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.step() {
            Ok(r) => r.map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn records(pairs: &[(String, String)]) -> Records {
        let v: Vec<Result<Record, String>> = pairs
            .iter()
            .map(|(k, v)| Ok(Record::pair(k.as_bytes(), v.as_bytes())))
            .collect();
        Box::new(v.into_iter())
    }

    /// The join's lines, sorted, computed by a nested loop.
    fn reference(
        left: &[(String, String)],
        right: &[(String, String)],
        outer: bool,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for (lk, lv) in left {
            let matches: Vec<&String> = right
                .iter()
                .filter(|(k, _)| k == lk)
                .map(|(_, v)| v)
                .collect();
            for rv in &matches {
                out.push(format!("{lk}\t{lv}\t{rv}"));
            }
            if outer && matches.is_empty() {
                out.push(format!("{lk}\t{lv}\t"));
            }
        }
        out.sort();
        out
    }

    fn run(
        left: &[(String, String)],
        right: &[(String, String)],
        outer: bool,
        budget: usize,
        name: &str,
    ) -> (Vec<String>, u64) {
        let dir =
            std::env::temp_dir().join(format!("minispark-join-{name}-{}", std::process::id()));
        let spill = Arc::new(SpillDir::new(dir).unwrap());
        let out = join(records(left), || Ok(records(right)), outer, budget, &spill).unwrap();
        let mut lines: Vec<String> = out
            .map(|r| String::from_utf8(r.unwrap().to_line().into_owned()).unwrap())
            .collect();
        lines.sort();
        (lines, spill.stats().bytes)
    }

    fn side(rng: &mut Rng, n: usize, keys: u64, tag: &str) -> Vec<(String, String)> {
        (0..n)
            .map(|i| {
                // Some keys and values too long to be inline.
                let k = rng.below(keys);
                let key = if k.is_multiple_of(7) {
                    format!("{k}-{}", "k".repeat(40))
                } else {
                    k.to_string()
                };
                (
                    key,
                    format!(
                        "{tag}{i}{}",
                        if i % 5 == 0 {
                            "v".repeat(40)
                        } else {
                            String::new()
                        }
                    ),
                )
            })
            .collect()
    }

    #[test]
    fn hash_and_sort_merge_joins_agree_with_a_nested_loop() {
        let mut rng = Rng::new(5);
        // Keys repeat on both sides; some appear on one side only.
        let left = side(&mut rng, 400, 150, "l");
        let right = side(&mut rng, 600, 200, "r");
        for outer in [false, true] {
            let want = reference(&left, &right, outer);
            let (hashed, spilled) = run(&left, &right, outer, 1 << 30, "big");
            assert_eq!(hashed, want, "hash join, outer={outer}");
            assert_eq!(spilled, 0, "the hash join spills nothing");
            // A budget of a few KB: the table overflows and the sort-merge
            // join takes over, with spilled runs and spilled key groups.
            let (merged, spilled) = run(&left, &right, outer, 4096, "small");
            assert_eq!(merged, want, "sort-merge join, outer={outer}");
            assert!(spilled > 0);
        }
    }

    #[test]
    fn empty_sides() {
        let some = vec![("1".to_string(), "a".to_string())];
        assert!(run(&some, &[], false, 1 << 20, "e1").0.is_empty());
        assert_eq!(run(&some, &[], true, 1 << 20, "e2").0, ["1\ta\t"]);
        assert!(run(&[], &some, true, 1 << 20, "e3").0.is_empty());
        assert!(run(&[], &some, true, 0, "e4").0.is_empty());
    }

    #[test]
    fn one_key_with_many_values_on_both_sides() {
        let left: Vec<(String, String)> = (0..300).map(|i| ("k".into(), format!("l{i}"))).collect();
        let right: Vec<(String, String)> = (0..40).map(|i| ("k".into(), format!("r{i}"))).collect();
        let want = reference(&left, &right, false);
        assert_eq!(want.len(), 12_000);
        assert_eq!(run(&left, &right, false, 1 << 30, "skew1").0, want);
        assert_eq!(run(&left, &right, false, 2048, "skew2").0, want);
    }
}
