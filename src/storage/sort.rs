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
//! Memory: the buffer (an arena of records packed into large chunks, and
//! an index entry per record: `SortBuffer`) is kept under `budget_bytes`,
//! counting the allocator's share too; a merge holds `fan_in` block
//! buffers plus one record per run.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fs::File;
use std::mem::size_of;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;

use crate::record::{Record, RecordRef, SmallBytes};
use crate::storage::cacheline::prefetch_bytes;
use crate::storage::hugepage;
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

/// The capacity a full vector of `capacity` grows to when one more
/// element is pushed: twice as much, at least 4, as `Vec::push` does.
pub fn grown_capacity(capacity: usize) -> usize {
    (capacity * 2).max(4)
}

/// Heap bytes `v` holds once one more element is pushed: a full vector
/// grows to `grown_capacity`, and the old and new blocks coexist while it
/// moves.
pub fn bytes_after_push<T>(v: &Vec<T>) -> usize {
    let size = std::mem::size_of::<T>();
    let now = heap_bytes(v.capacity() * size);
    if v.len() == v.capacity() {
        now + heap_bytes(grown_capacity(v.capacity()) * size)
    } else {
        now
    }
}

/// Sorts any number of records in bounded memory (see the module comment).
pub struct ExternalSorter {
    budget_bytes: usize,
    fan_in: usize,
    spill: Arc<SpillDir>,
    buffer: SortBuffer,
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
            buffer: SortBuffer::new(chunk_bytes_for(budget_bytes)),
            runs: Vec::new(),
        }
    }

    /// Buffers a record; spills the buffer as a run when over budget.
    pub fn push(&mut self, rec: Record) -> Result<(), String> {
        self.push_parts(rec.key.as_deref(), &rec.value)
    }

    /// Like `push`, for a record given as borrowed parts: its bytes are
    /// copied into the buffer's chunks, and nothing is allocated for it.
    pub fn push_parts(&mut self, key: Option<&[u8]>, value: &[u8]) -> Result<(), String> {
        self.buffer.push(key, value)?;
        if self.buffer.bytes() > self.budget_bytes {
            self.spill_buffer()?;
        }
        Ok(())
    }

    /// Sorts the buffer and writes it as a new run.
    fn spill_buffer(&mut self) -> Result<(), String> {
        self.buffer.sort();
        let mut run = self.spill.create_run()?;
        let entries = &self.buffer.entries;
        for (i, e) in entries.iter().enumerate() {
            if let Some(ahead) = entries.get(i + PREFETCH_AHEAD) {
                self.buffer.prefetch(ahead);
            }
            run.write_parts(self.buffer.key(e), self.buffer.value(e))?;
        }
        let (path, _) = run.finish()?;
        self.runs.push(path);
        // The chunks are kept for the next run: they count against the
        // budget already, and fresh ones would cost page faults again.
        self.buffer.clear();
        Ok(())
    }

    /// Memory the sorted records will hold while they are read: the whole
    /// buffer if nothing spilled, else one block per merged run.
    pub fn retained_bytes(&self) -> usize {
        if self.runs.is_empty() {
            self.buffer.bytes()
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
            let mut buffer = std::mem::replace(&mut self.buffer, SortBuffer::new(0));
            buffer.sort();
            let order = std::mem::take(&mut buffer.entries).into_iter();
            return Ok(Sorted {
                inner: Source::Memory { buffer, order },
            });
        }
        if !self.buffer.entries.is_empty() {
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

/// Bytes of the chunks a sort buffer packs records into: large, so that
/// there are few of them, but a small part of the budget. 8 MiB holds at
/// least three whole huge pages, wherever the allocator puts the block
/// (`hugepage.rs`).
const CHUNK_BYTES: usize = 8 << 20;
const MIN_CHUNK_BYTES: usize = 256;

fn chunk_bytes_for(budget_bytes: usize) -> usize {
    (budget_bytes / 16).clamp(MIN_CHUNK_BYTES, CHUNK_BYTES)
}

/// The records a sorter holds in memory, before a run is written.
///
/// OS idea: a million small allocations are a million `malloc`s, a
/// million `free`s, and a million places in memory to fetch from. So the
/// buffer is an *arena*: each record's bytes are copied to the end of a
/// large chunk, one after another, and the record becomes a 32-byte entry
/// (summaries of its key and value, and where its bytes are). The sort
/// moves only the entries; writing a run reads the bytes where they lie.
/// Memory is the chunks plus the entries: nothing per record beyond its
/// bytes and its entry.
struct SortBuffer {
    chunks: Vec<Vec<u8>>,
    /// The chunk being filled: those before it are full, those after it
    /// empty (kept from an earlier run).
    current: usize,
    /// Capacity of a new chunk (a record larger than that gets its own).
    chunk_bytes: usize,
    /// Sum of `heap_bytes` of the capacities of the chunks before `current`.
    full_heap: usize,
    entries: Vec<Entry>,
}

/// A record in a `SortBuffer`: order-preserving summaries of its key and
/// value (see `summary`), compared first, and where its bytes are: the key
/// at `at` in chunk `chunk`, the value right after it.
#[derive(Clone, Copy)]
struct Entry {
    key: u64,
    value: u64,
    chunk: u32,
    at: u32,
    /// `NO_KEY` for a plain line.
    key_len: u32,
    value_len: u32,
}

const NO_KEY: u32 = u32::MAX;

impl SortBuffer {
    fn new(chunk_bytes: usize) -> SortBuffer {
        SortBuffer {
            chunks: Vec::new(),
            current: 0,
            chunk_bytes,
            full_heap: 0,
            entries: Vec::new(),
        }
    }

    /// What the buffer's records cost: the chunks up to the one being
    /// filled and the entries, spare capacity included, each with the
    /// allocator's overhead. Chunks kept empty after a run are not counted:
    /// they are what the last run used, and are filled again before any
    /// new one is made, so the buffer never holds more than its peak.
    fn bytes(&self) -> usize {
        let filling = self
            .chunks
            .get(self.current)
            .map_or(0, |c| heap_bytes(c.capacity()));
        self.full_heap + filling + heap_bytes(self.entries.capacity() * size_of::<Entry>())
    }

    fn push(&mut self, key: Option<&[u8]>, value: &[u8]) -> Result<(), String> {
        let key_bytes = key.map_or(0, <[u8]>::len);
        let need = key_bytes + value.len();
        if need >= NO_KEY as usize {
            return Err(format!("a record of {need} bytes is too large to sort"));
        }
        // The first chunk from `current` on with room, or a new one; an
        // empty chunk too small for the record is replaced by one that
        // holds it.
        let fresh = self.chunk_bytes.max(need);
        loop {
            match self.chunks.get_mut(self.current) {
                Some(c) if c.capacity() - c.len() >= need => break,
                Some(c) if c.is_empty() => {
                    *c = hugepage::with_capacity(fresh);
                    break;
                }
                Some(c) => {
                    self.full_heap += heap_bytes(c.capacity());
                    self.current += 1;
                }
                None => {
                    self.chunks.push(hugepage::with_capacity(fresh));
                    break;
                }
            }
        }
        let chunk = &mut self.chunks[self.current];
        let at = chunk.len();
        chunk.extend_from_slice(key.unwrap_or_default());
        chunk.extend_from_slice(value);
        self.entries.push(Entry {
            key: summary(key),
            value: summary(Some(value)),
            chunk: self.current as u32,
            at: at as u32,
            key_len: key.map_or(NO_KEY, |k| k.len() as u32),
            value_len: value.len() as u32,
        });
        Ok(())
    }

    fn key(&self, e: &Entry) -> Option<&[u8]> {
        if e.key_len == NO_KEY {
            return None;
        }
        let at = e.at as usize;
        Some(&self.chunks[e.chunk as usize][at..at + e.key_len as usize])
    }

    fn value(&self, e: &Entry) -> &[u8] {
        let at = e.at as usize
            + if e.key_len == NO_KEY {
                0
            } else {
                e.key_len as usize
            };
        &self.chunks[e.chunk as usize][at..at + e.value_len as usize]
    }

    /// The record of `e`, copied out of its chunk (`SmallBytes::from_window`:
    /// the chunk goes on past the record, so a short key or value is one
    /// fixed-size copy).
    fn record(&self, e: &Entry) -> Record {
        let chunk = &self.chunks[e.chunk as usize];
        let at = e.at as usize;
        let value_len = e.value_len as usize;
        match e.key_len {
            NO_KEY => Record {
                key: None,
                value: SmallBytes::from_window(chunk, at, value_len),
            },
            key_len => Record {
                key: Some(SmallBytes::from_window(chunk, at, key_len as usize)),
                value: SmallBytes::from_window(chunk, at + key_len as usize, value_len),
            },
        }
    }

    /// The record of `e`, borrowed from its chunk (what `record` copies).
    fn record_ref(&self, e: &Entry) -> RecordRef<'_> {
        let chunk = &self.chunks[e.chunk as usize];
        let at = e.at as usize;
        let value_len = e.value_len as usize;
        match e.key_len {
            NO_KEY => RecordRef::line(&chunk[at..at + value_len]),
            key_len => {
                let (key, value) =
                    chunk[at..at + key_len as usize + value_len].split_at(key_len as usize);
                RecordRef {
                    key: Some(key),
                    value,
                }
            }
        }
    }

    /// Starts loading a record's bytes into the cache now, without waiting
    /// for them (`cacheline::prefetch`). Read in sorted order, the records
    /// lie all over the chunks: a cache miss each, and on a virtual machine
    /// a TLB miss too. Prefetched `PREFETCH_AHEAD` records before they are
    /// read, those misses overlap instead of coming one after another:
    /// reading 1M sorted 100-byte records went from ~350 ms to ~150 ms.
    fn prefetch(&self, e: &Entry) {
        let chunk = &self.chunks[e.chunk as usize];
        let len = e.value_len as usize
            + if e.key_len == NO_KEY {
                0
            } else {
                e.key_len as usize
            };
        let end = (e.at as usize + len).min(chunk.len());
        prefetch_bytes(chunk.get(e.at as usize..end).unwrap_or_default());
    }

    /// Puts the entries in (key, value) order, as `Record`'s `Ord` does.
    /// Most comparisons look at two integers in one array; only summaries
    /// that tie on 7 bytes or more read the bytes themselves.
    fn sort(&mut self) {
        let mut entries = std::mem::take(&mut self.entries);
        entries.sort_unstable_by(|a, b| {
            a.key.cmp(&b.key).then_with(|| {
                if !exact(a.key) {
                    let by_key = self.key(a).cmp(&self.key(b));
                    return by_key.then_with(|| self.value(a).cmp(self.value(b)));
                }
                a.value.cmp(&b.value).then_with(|| {
                    if exact(a.value) {
                        Ordering::Equal
                    } else {
                        self.value(a).cmp(self.value(b))
                    }
                })
            })
        });
        self.entries = entries;
    }

    /// Empties the buffer, keeping its memory for the next records.
    fn clear(&mut self) {
        for chunk in &mut self.chunks {
            chunk.clear();
        }
        self.current = 0;
        self.full_heap = 0;
        // Keep the entries' allocation only if it is no bigger than this
        // run needed: its spare capacity counts against the budget, and
        // doubling may have overshot.
        let n = self.entries.len();
        if self.entries.capacity() > n {
            self.entries = Vec::with_capacity(n);
        } else {
            self.entries.clear();
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
        buffer: SortBuffer,
        order: std::vec::IntoIter<Entry>,
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
            Source::Memory { buffer, order } => {
                next_entry(buffer, order).map(|e| Ok(buffer.record(&e)))
            }
            Source::Merge { merge, .. } => merge.next(),
        }
    }
}

impl Sorted {
    /// Hands each record to `each`, in order, until it says
    /// `ControlFlow::Break` or fails. Read from memory, a record is lent
    /// from the sort buffer where it lies rather than copied out of it:
    /// `next` must give an owned `Record`, and a value longer than 30
    /// bytes is then a `malloc`, a copy and a `free` (issue 16: a third of
    /// the copying in a sort's reduce tasks). From merged runs, each
    /// record is read as `next` reads it.
    pub fn try_for_each_ref(
        mut self,
        mut each: impl FnMut(RecordRef<'_>) -> Result<ControlFlow<()>, String>,
    ) -> Result<(), String> {
        match &mut self.inner {
            Source::Memory { buffer, order } => {
                while let Some(e) = next_entry(buffer, order) {
                    if each(buffer.record_ref(&e))?.is_break() {
                        break;
                    }
                }
            }
            Source::Merge { merge, .. } => {
                for record in merge {
                    if each(record?.as_ref())?.is_break() {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

/// How many records ahead a sorted buffer's reader prefetches (`SortBuffer::prefetch`).
const PREFETCH_AHEAD: usize = 16;

/// The next entry in sorted order, the record `PREFETCH_AHEAD` entries on
/// asked for from memory first.
fn next_entry(buffer: &SortBuffer, order: &mut std::vec::IntoIter<Entry>) -> Option<Entry> {
    let e = order.next()?;
    if let Some(ahead) = order.as_slice().get(PREFETCH_AHEAD) {
        buffer.prefetch(ahead);
    }
    Some(e)
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
mod buffer_tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn buffer_order_agrees_with_record_order() {
        let mut rng = Rng::new(21);
        for n in [0, 10, 63, 64, 65, 1000, 5000] {
            let recs: Vec<Record> = (0..n)
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
            // Tiny chunks: records spread over many of them.
            let mut buffer = SortBuffer::new(16);
            for r in &recs {
                buffer.push(r.key.as_deref(), &r.value).unwrap();
            }
            buffer.sort();
            let got: Vec<Record> = buffer.entries.iter().map(|e| buffer.record(e)).collect();
            assert_eq!(got, expected, "n = {n}");
        }
    }

    #[test]
    fn buffer_counts_chunks_and_entries_and_reuses_them() {
        let mut buffer = SortBuffer::new(1024);
        assert_eq!(buffer.bytes(), 0);
        buffer.push(Some(b"k"), b"v").unwrap();
        let one = buffer.bytes();
        assert_eq!(
            one,
            heap_bytes(1024) + heap_bytes(buffer.entries.capacity() * 32)
        );
        // A record larger than a chunk gets a chunk of its own.
        buffer.push(None, &[b'x'; 5000]).unwrap();
        assert_eq!(buffer.chunks.len(), 2);
        assert_eq!(buffer.value(&buffer.entries[1]).len(), 5000);
        assert_eq!(buffer.key(&buffer.entries[1]), None);
        assert_eq!(
            buffer.bytes(),
            heap_bytes(1024) + heap_bytes(5000) + heap_bytes(buffer.entries.capacity() * 32)
        );
        buffer.clear();
        for _ in 0..100 {
            buffer.push(Some(b"key"), b"value").unwrap();
        }
        assert_eq!(buffer.chunks.len(), 2, "the chunks are reused");
        // 800 bytes in the first chunk, 1024 with overhead counted.
        assert_eq!(buffer.current, 0);
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
    fn lent_records_are_the_records_in_order_from_memory_and_from_runs() {
        let mut rng = Rng::new(5);
        let input: Vec<Record> = (0..3000)
            .map(|i| {
                // Values on both sides of the 30 bytes kept inline.
                let value = vec![b'a' + (i % 26) as u8; rng.below(80) as usize];
                match rng.below(4) {
                    0 => Record::line(value),
                    _ => Record::pair(format!("k{}", rng.below(500)).into_bytes(), value),
                }
            })
            .collect();
        // A budget that holds everything, and one that spills many runs.
        for (budget, spills) in [(1 << 30, false), (4096, true)] {
            let spill = Arc::new(SpillDir::new(temp_path("lent")).unwrap());
            let sort = || sorted(input.clone().into_iter().map(Ok), budget, 4, &spill).unwrap();
            let (owned, _) = sort();
            assert_eq!(matches!(owned.inner, Source::Merge { .. }), spills);
            let want: Vec<Record> = owned.map(Result::unwrap).collect();
            assert_eq!(want.len(), input.len());
            let mut got = Vec::new();
            sort()
                .0
                .try_for_each_ref(|r| {
                    got.push(Record {
                        key: r.key.map(SmallBytes::from),
                        value: SmallBytes::from(r.value),
                    });
                    Ok(ControlFlow::Continue(()))
                })
                .unwrap();
            assert!(got == want, "budget {budget}");
            // `Break` stops it at once.
            let mut first = Vec::new();
            sort()
                .0
                .try_for_each_ref(|r| {
                    first.push(r.value.to_vec());
                    Ok(match first.len() {
                        10 => ControlFlow::Break(()),
                        _ => ControlFlow::Continue(()),
                    })
                })
                .unwrap();
            let first_ten: Vec<Vec<u8>> = want[..10].iter().map(|r| r.value.to_vec()).collect();
            assert_eq!(first, first_ten);
        }
    }

    #[test]
    fn sorts_with_many_runs_and_passes() {
        for (fan_in, budget, n) in [(2, 4096, 5000), (3, 3000, 8000), (8, 4096, 20_000)] {
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
        let input = random_records(5000, 9);
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

    /// Rough speed of an in-memory sort of 100-byte records:
    /// `cargo test --release --lib -- --ignored --nocapture speed`.
    #[test]
    #[ignore]
    fn speed_of_sort_in_memory() {
        use std::time::Instant;
        let mut rng = Rng::new(5);
        let input: Vec<Record> = (0..1_000_000)
            .map(|_| {
                let key: Vec<u8> = (0..10).map(|_| b'a' + rng.below(26) as u8).collect();
                let value: Vec<u8> = (0..88).map(|_| b'a' + rng.below(26) as u8).collect();
                Record::pair(key, value)
            })
            .collect();
        for _ in 0..3 {
            let spill = Arc::new(SpillDir::new(temp_path("sortspeedmem")).unwrap());
            let mut sorter = ExternalSorter::new(1 << 30, 16, Arc::clone(&spill));
            for rec in &input {
                sorter.push_parts(rec.key.as_deref(), &rec.value).unwrap();
            }
            let start = Instant::now();
            let sorted = sorter.finish().unwrap();
            let sorting = start.elapsed();
            let mut bytes = 0;
            for r in sorted {
                bytes += r.unwrap().value.len();
            }
            eprintln!(
                "1M x 100 B: sort {sorting:?}, read {:?} ({bytes} B)",
                start.elapsed() - sorting
            );
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
