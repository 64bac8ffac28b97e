//! The external merge sort: sorting more records than fit in memory.
//!
//! OS idea: memory is bounded, disk is not, and the disk is fast when it is
//! read and written in long sequential streams. So the sorter never seeks
//! around in a big file. It works in two phases:
//!
//! 1. **Runs.** Records are buffered until their estimated memory passes
//!    the budget; the buffer is sorted in memory and written out as a
//!    *run*: a sorted file, written front to back (see `runfile`). Repeat.
//! 2. **Merge.** Every run is sorted, so the smallest record overall is the
//!    smallest of the runs' first records. A k-way merge keeps one record
//!    per run in a min-heap, pops the smallest, and refills from that run:
//!    each run is read front to back, one block at a time.
//!
//! ```text
//!  input ──► [buffer: sort] ──► run-1 ─┐
//!            [buffer: sort] ──► run-2 ─┼─► pass 1: merge ──► run-5 ─┐
//!            [buffer: sort] ──► run-3 ─┘                             ├─► final merge ──► sorted output
//!            [buffer: sort] ──► run-4 ───────────────────────────────┘   (streamed, lazy)
//!                                              fan-in 3
//! ```
//!
//! Why not merge all runs at once? Each open run costs a file descriptor
//! and a block buffer (up to `runfile::BLOCK_BYTES`, 256 KiB). A thousand
//! runs would need a thousand descriptors (the default `ulimit -n` is often
//! 1024) and 256 MiB of buffers, blowing the very budget the sort exists to
//! keep. So at most `fan_in` runs are open at once: while there are more
//! runs than that, the oldest `fan_in` are merged into one new run (a
//! *pass*), which goes to the back of the queue. Each pass reads and writes
//! the data once more: with R runs, about log_fan_in(R) passes. The last
//! merge of at most `fan_in` runs is not written out but streamed to the
//! caller as it is pulled.
//!
//! If nothing was spilled, the sort is a plain in-memory sort: no file is
//! created and there is no disk I/O at all.
//!
//! Memory: the buffer is kept under `budget_bytes` (by `estimated_size`,
//! which counts the allocator's share too); a merge holds `fan_in` block
//! buffers plus one record per run.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fs::File;
use std::mem::size_of;
use std::path::PathBuf;
use std::sync::Arc;

use crate::record::Record;
use crate::storage::runfile::{open_run, RunReader};
use crate::storage::spill::SpillDir;

/// What the allocator adds to each heap block, in bytes. glibc's malloc
/// puts an 8-byte size word before each chunk and rounds chunks up to 16
/// bytes (jemalloc's size classes waste about as much); 16 is conservative.
pub const ALLOC_OVERHEAD_BYTES: usize = 16;
/// Heap blocks are rounded up to a multiple of this, in bytes.
pub const ALLOC_ALIGN_BYTES: usize = 16;

/// Bytes a heap block of `capacity` bytes really costs (0 for none: an
/// empty `Vec` does not allocate).
pub fn heap_bytes(capacity: usize) -> usize {
    if capacity == 0 {
        0
    } else {
        capacity.next_multiple_of(ALLOC_ALIGN_BYTES) + ALLOC_OVERHEAD_BYTES
    }
}

/// Bytes a buffered record costs: the `Record` struct itself (48 bytes on
/// 64-bit: key and value, each inline up to 30 bytes) plus the heap blocks
/// of a key or value too long to be inline, by capacity, with the
/// allocator's overhead.
pub fn estimated_size(rec: &Record) -> usize {
    let heap = |b: &crate::record::SmallBytes| match b.heap_capacity() {
        0 => 0,
        n => heap_bytes(n),
    };
    size_of::<Record>() + rec.key.as_ref().map_or(0, heap) + heap(&rec.value)
}

/// Sorts any number of records in bounded memory (see the module comment).
pub struct ExternalSorter {
    budget_bytes: usize,
    fan_in: usize,
    spill: Arc<SpillDir>,
    buffer: Vec<Record>,
    /// Sum of `estimated_size` over `buffer`.
    buffered_bytes: usize,
    /// Sorted runs on disk, oldest first.
    runs: Vec<PathBuf>,
}

impl ExternalSorter {
    /// `fan_in` is how many runs one merge reads at once; below 2 it is
    /// taken as 2.
    pub fn new(budget_bytes: usize, fan_in: usize, spill: Arc<SpillDir>) -> Self {
        ExternalSorter {
            budget_bytes,
            fan_in: fan_in.max(2),
            spill,
            buffer: Vec::new(),
            buffered_bytes: 0,
            runs: Vec::new(),
        }
    }

    /// Buffers a record; spills the buffer as a run when over budget.
    pub fn push(&mut self, rec: Record) -> Result<(), String> {
        // The sort's index (`sorted_order`) costs memory too.
        self.buffered_bytes += estimated_size(&rec) + SORT_INDEX_BYTES;
        self.buffer.push(rec);
        // The buffer's spare capacity is memory too.
        let spare = (self.buffer.capacity() - self.buffer.len()) * size_of::<Record>();
        if self.buffered_bytes + spare > self.budget_bytes {
            self.spill_buffer()?;
        }
        Ok(())
    }

    /// Sorts the buffer and writes it as a new run.
    fn spill_buffer(&mut self) -> Result<(), String> {
        let order = sorted_order(&self.buffer);
        let mut run = self.spill.create_run()?;
        for i in order {
            run.write(&self.buffer[i as usize])?;
        }
        let (path, _) = run.finish()?;
        self.runs.push(path);
        let n = self.buffer.len();
        // Keep the buffer's allocation for the next run only if it is no
        // bigger than this run needed: its spare capacity counts against
        // the budget, and doubling may have overshot.
        if self.buffer.capacity() > n {
            self.buffer = Vec::with_capacity(n);
        } else {
            self.buffer.clear();
        }
        self.buffered_bytes = 0;
        Ok(())
    }

    /// Memory the sorted records will hold while they are read: the whole
    /// buffer if nothing spilled, else one block per merged run.
    pub fn retained_bytes(&self) -> usize {
        if self.runs.is_empty() {
            self.buffered_bytes
        } else {
            self.fan_in
                * (crate::storage::runfile::BLOCK_BYTES
                    + crate::storage::runfile::BLOCK_HEADER_BYTES)
        }
    }

    /// Every pushed record, in order. Straight from memory if nothing was
    /// spilled; otherwise the rest is spilled and the runs are merged.
    pub fn finish(mut self) -> Result<Sorted, String> {
        if self.runs.is_empty() {
            let records = std::mem::take(&mut self.buffer);
            let order = sorted_order(&records).into_iter();
            return Ok(Sorted {
                inner: Source::Memory { records, order },
            });
        }
        if !self.buffer.is_empty() {
            self.spill_buffer()?;
        }
        let runs = std::mem::take(&mut self.runs);
        merge_sorted_runs(runs, self.fan_in, &self.spill)
    }
}

impl Drop for ExternalSorter {
    /// A sorter dropped before `finish` (its task failed) removes its runs
    /// now rather than when the task's `SpillDir` goes.
    fn drop(&mut self) {
        for path in &self.runs {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Sorts a stream of `records` within `budget_bytes`, merging `fan_in` runs
/// at once; returns them in order and the memory they keep while being
/// read (`ExternalSorter::retained_bytes`: a caller sorting a second stream
/// gives it what the first does not keep).
///
/// # Errors
/// The first error of the stream, or of spilling and merging.
pub fn sorted(
    records: impl Iterator<Item = Result<Record, String>>,
    budget_bytes: usize,
    fan_in: usize,
    spill: &Arc<SpillDir>,
) -> Result<(Sorted, usize), String> {
    let mut sorter = ExternalSorter::new(budget_bytes, fan_in, Arc::clone(spill));
    for r in records {
        sorter.push(r?)?;
    }
    let retained = sorter.retained_bytes();
    Ok((sorter.finish()?, retained))
}

/// Merges sorted run files into one sorted stream. While there are more
/// than `fan_in` runs, the oldest `fan_in` are merged into a new run (a
/// pass); the last merge is streamed. Each run file is removed as soon as
/// it is opened for merging (see `spill` on why that is safe).
pub fn merge_sorted_runs(
    mut runs: Vec<PathBuf>,
    fan_in: usize,
    spill: &Arc<SpillDir>,
) -> Result<Sorted, String> {
    let fan_in = fan_in.max(2);
    while runs.len() > fan_in {
        let group: Vec<PathBuf> = runs.drain(..fan_in).collect();
        let mut out = spill.create_run()?;
        for rec in Merge::open(&group)? {
            out.write(&rec?)?;
        }
        let (path, stats) = out.finish()?;
        crate::event!(
            Debug,
            "sort",
            "merge_pass",
            runs_in = group.len(),
            runs_left = runs.len() + 1,
            records = stats.records,
            bytes = stats.bytes
        );
        runs.push(path);
    }
    Ok(Sorted {
        inner: Source::Merge {
            merge: Merge::open(&runs)?,
            _spill: Arc::clone(spill),
        },
    })
}

/// The sorted records of an `ExternalSorter` or `merge_sorted_runs`.
/// After an `Err` the iteration ends.
pub struct Sorted {
    inner: Source,
}

enum Source {
    /// The buffer, read in sorted order.
    Memory {
        records: Vec<Record>,
        order: std::vec::IntoIter<u32>,
    },
    Merge {
        merge: Merge,
        /// Keeps the spill directory alive while its runs are read.
        _spill: Arc<SpillDir>,
    },
}

impl Iterator for Sorted {
    type Item = Result<Record, String>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Source::Memory { records, order } => order
                .next()
                .map(|i| Ok(std::mem::take(&mut records[i as usize]))),
            Source::Merge { merge, .. } => merge.next(),
        }
    }
}

/// Bytes per record of the index `sorted_order` sorts.
const SORT_INDEX_BYTES: usize = size_of::<SortKey>();

/// A record's place in the sort index: order-preserving summaries of its
/// key and value (see `summary`) and its position in the buffer.
#[derive(Clone, Copy)]
struct SortKey {
    key: u64,
    value: u64,
    at: u32,
}

/// An order-preserving summary of a byte string, in a `u64`: its first 7
/// bytes (zero-padded) in the high bytes and `min(len, 7) + 1` in the low
/// byte; 0 for a missing key, below every key. If two summaries differ, the
/// strings compare the same way; if they are equal and the low byte is
/// below 8 (at most 6 bytes), the strings are equal. Only when both are 7
/// bytes or longer with the same start must the bytes themselves be read.
#[inline]
fn summary(bytes: Option<&[u8]>) -> u64 {
    let Some(b) = bytes else { return 0 };
    let mut word = [0u8; 8];
    let n = b.len().min(7);
    word[..n].copy_from_slice(&b[..n]);
    u64::from_be_bytes(word) | (n as u64 + 1)
}

/// Is a summary the whole string (so equal summaries mean equal strings)?
#[inline]
fn exact(summary: u64) -> bool {
    summary & 0xff < 8
}

/// The positions of `records` in (key, value) order, as `sort_unstable`
/// would put them. It sorts a compact index of summaries, so most
/// comparisons look at two integers in one array instead of following
/// pointers into the records; the records themselves are not moved.
pub fn sorted_order(records: &[Record]) -> Vec<u32> {
    assert!(
        records.len() <= u32::MAX as usize,
        "a sort buffer holds at most 2^32 records"
    );
    let mut index: Vec<SortKey> = records
        .iter()
        .enumerate()
        .map(|(i, r)| SortKey {
            key: summary(r.key.as_deref()),
            value: summary(Some(&r.value)),
            at: i as u32,
        })
        .collect();
    index.sort_unstable_by(|a, b| {
        let (ra, rb) = (&records[a.at as usize], &records[b.at as usize]);
        a.key.cmp(&b.key).then_with(|| {
            if !exact(a.key) {
                return ra.cmp(rb);
            }
            a.value.cmp(&b.value).then_with(|| {
                if exact(a.value) {
                    Ordering::Equal
                } else {
                    ra.value.cmp(&rb.value)
                }
            })
        })
    });
    index.into_iter().map(|k| k.at).collect()
}

/// A k-way merge of sorted runs with a min-heap holding each run's next
/// record.
struct Merge {
    /// `None` once a run is used up (its file is closed then).
    readers: Vec<Option<RunReader<File>>>,
    heap: BinaryHeap<Reverse<Head>>,
    failed: bool,
}

/// A run's smallest unread record. Ordered by record, then by run, so
/// equal records come out in run order (the merge is stable).
struct Head {
    /// `summary` of the key, compared before the records themselves.
    prefix: u64,
    rec: Record,
    run: usize,
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        self.prefix
            .cmp(&other.prefix)
            .then_with(|| self.rec.cmp(&other.rec))
            .then_with(|| self.run.cmp(&other.run))
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head {}

impl Merge {
    /// Opens the runs (removing their names: the open descriptors keep the
    /// data) and reads each one's first record.
    fn open(paths: &[PathBuf]) -> Result<Merge, String> {
        let mut readers = Vec::with_capacity(paths.len());
        for path in paths {
            readers.push(Some(open_run(path, "spill file")?));
            std::fs::remove_file(path)
                .map_err(|e| format!("spill file {}: cannot remove: {e}", path.display()))?;
        }
        let mut merge = Merge {
            heap: BinaryHeap::with_capacity(readers.len()),
            readers,
            failed: false,
        };
        for run in 0..merge.readers.len() {
            merge.refill(run)?;
        }
        Ok(merge)
    }

    /// Moves run `run`'s next record into the heap, or closes the run.
    fn refill(&mut self, run: usize) -> Result<(), String> {
        let Some(reader) = &mut self.readers[run] else {
            return Ok(());
        };
        match reader.next() {
            Some(Ok(rec)) => self.heap.push(Reverse(Head {
                prefix: summary(rec.key.as_deref()),
                rec,
                run,
            })),
            Some(Err(e)) => return Err(e),
            None => self.readers[run] = None,
        }
        Ok(())
    }
}

impl Iterator for Merge {
    type Item = Result<Record, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let Reverse(head) = self.heap.pop()?;
        if let Err(e) = self.refill(head.run) {
            self.failed = true;
            return Some(Err(e));
        }
        Some(Ok(head.rec))
    }
}

#[cfg(test)]
mod prefix_tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn sorted_order_agrees_with_sort_unstable() {
        let mut rng = Rng::new(21);
        for n in [0, 10, 63, 64, 65, 1000, 5000] {
            let mut recs: Vec<Record> = (0..n)
                .map(|_| {
                    // Short alphabets and lengths around the 7-byte summary
                    // make long shared prefixes and zero bytes common.
                    let klen = rng.below(12) as usize;
                    let key: Vec<u8> = (0..klen).map(|_| b"ab\0z"[rng.below(4) as usize]).collect();
                    let vlen = rng.below(11) as usize;
                    let value: Vec<u8> = (0..vlen).map(|_| b"\0x"[rng.below(2) as usize]).collect();
                    if rng.below(10) == 0 {
                        Record::line(value)
                    } else {
                        Record::pair(key, value)
                    }
                })
                .collect();
            let mut expected = recs.clone();
            expected.sort();
            let order = sorted_order(&recs);
            let got: Vec<Record> = order.iter().map(|&i| recs[i as usize].clone()).collect();
            assert_eq!(got, expected, "n = {n}");
            recs.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use crate::storage::spill::tests::temp_path;

    /// Random records: duplicates, empty keys, plain lines, and one key
    /// holding about half of them.
    fn random_records(n: usize, seed: u64) -> Vec<Record> {
        let mut rng = Rng::new(seed);
        (0..n)
            .map(|_| {
                let value = format!("v{}", rng.below(20)).into_bytes();
                match rng.below(10) {
                    0 => Record::line(value),
                    1 => Record::pair(Vec::new(), value),
                    2..=6 => Record::pair(b"hot".to_vec(), value),
                    _ => {
                        let len = rng.below(12) as usize;
                        let key: Vec<u8> = (0..len).map(|_| b'a' + rng.below(4) as u8).collect();
                        Record::pair(key, value)
                    }
                }
            })
            .collect()
    }

    fn run_files(dir: &SpillDir) -> usize {
        std::fs::read_dir(dir.path()).unwrap().count()
    }

    #[test]
    fn sorts_with_many_runs_and_passes() {
        for (fan_in, budget, n) in [(2, 4096, 5000), (3, 3000, 8000), (8, 16_384, 20_000)] {
            let path = temp_path("sort");
            let spill = Arc::new(SpillDir::new(path.clone()).unwrap());
            let input = random_records(n, fan_in as u64);
            let mut sorter = ExternalSorter::new(budget, fan_in, Arc::clone(&spill));
            for rec in input.clone() {
                sorter.push(rec).unwrap();
            }
            let first_runs = sorter.runs.len();
            assert!(
                first_runs > fan_in * fan_in,
                "want several passes: {first_runs}"
            );
            let out: Vec<Record> = sorter.finish().unwrap().collect::<Result<_, _>>().unwrap();
            let mut expected = input;
            expected.sort();
            assert_eq!(out, expected);

            let stats = spill.stats();
            // Merge passes write the records again.
            assert!(stats.records > n as u64, "{stats:?}");
            assert!(stats.files > first_runs as u64, "{stats:?}");
            assert!(stats.bytes > 0);
            assert_eq!(run_files(&spill), 0, "runs are removed once merged");
            drop(spill);
            assert!(!path.exists());
        }
    }

    /// Merges a pass can need: each merges `fan_in` runs into one, so it
    /// takes `fan_in - 1` runs off the count, until at most `fan_in` are left
    /// for the final, streamed merge.
    fn passes(mut runs: usize, fan_in: usize) -> usize {
        let mut passes = 0;
        while runs > fan_in {
            runs -= fan_in - 1;
            passes += 1;
        }
        passes
    }

    #[test]
    fn merge_passes_follow_the_fan_in() {
        const PER_RUN: usize = 50;
        for (runs, fan_in) in [(10, 3), (9, 2), (20, 4), (4, 4), (64, 8)] {
            let spill = Arc::new(SpillDir::new(temp_path("fanin")).unwrap());
            // Run `i` holds keys i, i + runs, i + 2 * runs, ...: sorted
            // within the run, interleaved across runs.
            let paths: Vec<PathBuf> = (0..runs)
                .map(|i| {
                    let mut run = spill.create_run().unwrap();
                    for j in 0..PER_RUN {
                        let key = format!("{:06}", j * runs + i);
                        run.write(&Record::pair(key.into_bytes(), b"v".to_vec()))
                            .unwrap();
                    }
                    run.finish().unwrap().0
                })
                .collect();
            let sorted = merge_sorted_runs(paths, fan_in, &spill).unwrap();
            let Source::Merge { merge, .. } = &sorted.inner else {
                panic!("runs on disk are merged, not read from memory");
            };
            let last_merge = merge.readers.len();
            assert!(
                last_merge <= fan_in,
                "{runs} runs, fan-in {fan_in}: the last merge reads {last_merge} runs at once"
            );
            let keys: Vec<Vec<u8>> = sorted.map(|r| r.unwrap().key.unwrap().into_vec()).collect();
            let expected: Vec<Vec<u8>> = (0..runs * PER_RUN)
                .map(|n| format!("{n:06}").into_bytes())
                .collect();
            assert_eq!(keys, expected, "{runs} runs, fan-in {fan_in}");
            // Each pass wrote one new run of all the records it merged.
            let written = spill.stats().files as usize - runs;
            assert_eq!(
                written,
                passes(runs, fan_in),
                "{runs} runs, fan-in {fan_in}: merge passes (runs written by merges)"
            );
        }
    }

    #[test]
    fn single_pass_counts_each_record_once() {
        let spill = Arc::new(SpillDir::new(temp_path("sort1")).unwrap());
        let input = random_records(2000, 9);
        let mut sorter = ExternalSorter::new(64 * 1024, 64, Arc::clone(&spill));
        for rec in input.clone() {
            sorter.push(rec).unwrap();
        }
        let runs = sorter.runs.len();
        assert!((2..=64).contains(&runs), "{runs}");
        let sorted = sorter.finish().unwrap();
        let out: Vec<Record> = sorted.collect::<Result<_, _>>().unwrap();
        assert_eq!(out.len(), input.len());
        let stats = spill.stats();
        assert_eq!(stats.records, input.len() as u64);
        assert_eq!(stats.files, runs as u64 + 1, "the rest is spilled too");
    }

    #[test]
    fn fits_in_memory_without_files() {
        let spill = Arc::new(SpillDir::new(temp_path("sortmem")).unwrap());
        let input = random_records(1000, 3);
        let mut sorter = ExternalSorter::new(1 << 20, 4, Arc::clone(&spill));
        for rec in input.clone() {
            sorter.push(rec).unwrap();
        }
        let out: Vec<Record> = sorter.finish().unwrap().map(Result::unwrap).collect();
        let mut expected = input;
        expected.sort();
        assert_eq!(out, expected);
        assert_eq!(spill.stats(), Default::default());
        assert_eq!(run_files(&spill), 0);
    }

    #[test]
    fn shared_across_threads() {
        fn send<T: Send>() {}
        fn send_sync<T: Send + Sync>() {}
        send::<Sorted>();
        send::<ExternalSorter>();
        send::<crate::storage::aggregate::HashAggregator>();
        send_sync::<SpillDir>();
    }

    #[test]
    fn estimate_counts_struct_and_allocations() {
        let record = size_of::<Record>();
        assert_eq!(record, 64);
        // Short keys and values live inside the record: no allocations.
        assert_eq!(estimated_size(&Record::line(Vec::new())), record);
        let rec = Record::pair(b"hello".to_vec(), b"1".to_vec());
        assert_eq!(estimated_size(&rec), record);
        assert!(estimated_size(&rec) > rec.size());
        // A long value is a heap block, counted with its allocator overhead.
        let long = Record::pair(b"k".to_vec(), vec![b'x'; 100]);
        assert_eq!(estimated_size(&long), record + heap_bytes(100));
    }

    #[test]
    fn corrupt_run_is_an_error_not_a_panic() {
        for fan_in in [2, 64] {
            let spill = Arc::new(SpillDir::new(temp_path("sortbad")).unwrap());
            let mut sorter = ExternalSorter::new(4096, fan_in, Arc::clone(&spill));
            for rec in random_records(3000, 11) {
                sorter.push(rec).unwrap();
            }
            // Flip a payload byte in the middle run.
            let victim = sorter.runs[sorter.runs.len() / 2].clone();
            let mut bytes = std::fs::read(&victim).unwrap();
            bytes[crate::storage::runfile::BLOCK_HEADER_BYTES + 3] ^= 0x40;
            std::fs::write(&victim, bytes).unwrap();

            let err = match sorter.finish() {
                Err(e) => e,
                Ok(sorted) => sorted
                    .filter_map(Result::err)
                    .next()
                    .expect("corruption not reported"),
            };
            assert!(err.contains("CRC mismatch"), "{err}");
            assert!(err.starts_with("spill file "), "{err}");
        }
    }

    /// Rough speed: `cargo test --release --lib -- --ignored --nocapture speed`.
    #[test]
    #[ignore]
    fn speed_of_sort_with_spills() {
        use std::time::Instant;
        let n = 3_000_000;
        let mut rng = Rng::new(2);
        let input: Vec<Record> = (0..n)
            .map(|_| {
                let key = format!("w{:x}ord", rng.below(1_000_000)).into_bytes();
                Record::pair(key, format!("{}", rng.below(1000)).into_bytes())
            })
            .collect();
        for (budget, fan_in) in [(1 << 30, 16), (32 << 20, 16), (8 << 20, 4)] {
            let spill = Arc::new(SpillDir::new(temp_path("sortspeed")).unwrap());
            let start = Instant::now();
            let mut sorter = ExternalSorter::new(budget, fan_in, Arc::clone(&spill));
            for rec in input.iter().cloned() {
                sorter.push(rec).unwrap();
            }
            let runs = sorter.runs.len();
            let count = sorter.finish().unwrap().map(Result::unwrap).count();
            assert_eq!(count, n);
            let secs = start.elapsed().as_secs_f64();
            eprintln!(
                "budget {budget} fan-in {fan_in}: {runs} runs, {:.2} M records/s, spilled {:?}",
                n as f64 / secs / 1e6,
                spill.stats()
            );
        }
    }
}
