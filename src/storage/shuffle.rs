//! The shuffle: how records that must meet by key cross between workers.
//!
//! Map side: a task sends each record to a reduce partition (a stable hash
//! of its key, or a key range for a sort) and writes one **data file** and
//! one **index file** per task in its worker's work directory. The data file
//! holds every partition's records one after another, as CRC-checked blocks
//! (`runfile.rs`); the index file says where each partition starts:
//!
//! ```text
//! data:  | p0 blocks | p1 blocks | ... | p(R-1) blocks |
//!        ^0          ^off[1]     ^off[2]                ^off[R] = file length
//! index: | off[0]=0 u64 | off[1] u64 | ... | off[R] u64 | crc32 u32 |
//! ```
//!
//! Records are appended to an in-memory buffer per partition: the list of
//! its closed blocks (`Blocks`). One buffer grown by doubling would copy
//! the partition at each doubling, into fresh pages the kernel must zero
//! first; with 10M records that was a fifth of the sort's CPU. When the
//! buffers pass the task's memory share they are written out as one spill
//! file in the same layout, and `finish` concatenates each partition's
//! pieces (spills first, then memory) into the data file: memory stays
//! bounded whatever the map output's size, and every byte is written to its
//! final place once.
//!
//! Reduce side: a task fetches its partition from every map task's worker,
//! straight from that worker's data port (`FetchShuffle`, answered with
//! `DataChunk` frames), a bounded number of fetches in flight at once, each
//! on its own thread feeding a bounded channel; a map output on the task's
//! own worker is read from its file instead (`LocalMaps`). Every block's
//! CRC is checked as it is read. The master only says where each map output
//! lives.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use byteorder::{BigEndian, ByteOrder};

use crate::lock;
use crate::net::{dial, keepalive, FrameReader, FrameWriter, Secret};
use crate::protocol::{FetchFailure, MapLocation, Message};
use crate::record::{Record, RecordRef};
use crate::storage::outputs::LocalMaps;
use crate::storage::runfile::{RunReader, RunWriter};
use crate::storage::spill::SpillDir;

/// How often a fetch blocked in a read looks up: at its cancel flag, and
/// at how long the map output's worker has been silent.
const FETCH_POLL: Duration = Duration::from_millis(200);

/// How a fetch is bounded.
#[derive(Clone)]
pub struct FetchLimits {
    /// Map outputs fetched at once.
    pub in_flight: usize,
    /// The longest a fetch waits to connect, or for the next bytes.
    pub timeout: Duration,
    /// Set when the task is cancelled: every fetch stops within
    /// `FETCH_POLL`.
    pub cancel: Arc<AtomicBool>,
}

/// Partitions records of one map task into a data file and an index file.
pub struct ShuffleWriter {
    buckets: Vec<RunWriter<Blocks>>,
    /// Approximate bytes held in `buckets`.
    buffered: usize,
    budget: usize,
    /// Each spill file with its partition offsets (R + 1 of them).
    spills: Vec<(PathBuf, Vec<u64>)>,
    spill: Arc<SpillDir>,
    records: u64,
}

impl ShuffleWriter {
    pub fn new(partitions: u32, budget_bytes: usize, spill: Arc<SpillDir>) -> ShuffleWriter {
        ShuffleWriter {
            buckets: (0..partitions.max(1))
                .map(|_| RunWriter::new(Blocks::default()))
                .collect(),
            buffered: 0,
            budget: budget_bytes.max(64 * 1024),
            spills: Vec::new(),
            spill,
            records: 0,
        }
    }

    pub fn partitions(&self) -> u32 {
        self.buckets.len() as u32
    }

    /// Appends `rec` to partition `partition`.
    pub fn write(&mut self, partition: u32, rec: RecordRef<'_>) -> Result<(), String> {
        let bucket = self
            .buckets
            .get_mut(partition as usize)
            .ok_or_else(|| format!("partition {partition} out of range"))?;
        bucket
            .write_parts(rec.key, rec.value)
            .map_err(|e| format!("buffering shuffle output: {e}"))?;
        self.records += 1;
        self.buffered += rec.size() + 8;
        if self.buffered > self.budget {
            self.spill_buckets()?;
        }
        Ok(())
    }

    /// Writes every bucket, in partition order, to a new spill file.
    fn spill_buckets(&mut self) -> Result<(), String> {
        let (path, file) = self.spill.create("shuffle")?;
        let mut out = BufWriter::new(file);
        let mut offsets = vec![0u64];
        let mut written = 0u64;
        let mut records = 0u64;
        for bucket in &mut self.buckets {
            let (bytes, stats) = std::mem::replace(bucket, RunWriter::new(Blocks::default()))
                .finish()
                .map_err(|e| format!("buffering shuffle output: {e}"))?;
            written += bytes
                .write_to(&mut out)
                .map_err(|e| format!("writing {}: {e}", path.display()))?;
            records += stats.records;
            offsets.push(written);
        }
        out.flush()
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        self.spill.record(crate::storage::runfile::RunStats {
            records,
            bytes: written,
        });
        self.spills.push((path, offsets));
        self.buffered = 0;
        Ok(())
    }

    /// Writes the data and index files; returns the data file's size.
    pub fn finish(mut self, data: &Path, index: &Path) -> Result<u64, String> {
        let err = |e: io::Error| format!("writing {}: {e}", data.display());
        let mut out = BufWriter::with_capacity(256 * 1024, File::create(data).map_err(err)?);
        let mut readers = Vec::new();
        for (path, offsets) in &self.spills {
            let file = File::open(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
            readers.push((BufReader::new(file), offsets));
        }
        let mut offsets = vec![0u64];
        let mut pos = 0u64;
        for (p, bucket) in std::mem::take(&mut self.buckets).into_iter().enumerate() {
            // Spill files are read front to back: partition p of each in turn.
            for (reader, spill_offsets) in &mut readers {
                let len = spill_offsets[p + 1] - spill_offsets[p];
                let copied = io::copy(&mut reader.by_ref().take(len), &mut out).map_err(err)?;
                if copied != len {
                    return Err(format!(
                        "a shuffle spill file ended early ({copied} of {len} bytes)"
                    ));
                }
                pos += len;
            }
            let (bytes, _) = bucket.finish().map_err(err)?;
            pos += bytes.write_to(&mut out).map_err(err)?;
            offsets.push(pos);
        }
        out.flush().map_err(err)?;
        write_index(index, &offsets)?;
        Ok(pos)
    }
}

/// A partition's closed blocks, each kept as it was handed over: a list,
/// so that a growing partition is never copied to a larger buffer. Its
/// `RunWriter` writes whole blocks only, so each `write` is one block.
#[derive(Default)]
struct Blocks(Vec<Vec<u8>>);

impl Blocks {
    /// Writes every block to `out`; returns the bytes written.
    fn write_to(&self, out: &mut impl Write) -> io::Result<u64> {
        let mut n = 0;
        for b in &self.0 {
            out.write_all(b)?;
            n += b.len() as u64;
        }
        Ok(n)
    }
}

impl Write for Blocks {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.push(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes an index file: the offsets, then a CRC of them.
fn write_index(path: &Path, offsets: &[u64]) -> Result<(), String> {
    let mut bytes = vec![0u8; offsets.len() * 8 + 4];
    for (i, &o) in offsets.iter().enumerate() {
        BigEndian::write_u64(&mut bytes[i * 8..], o);
    }
    let crc = crc32fast::hash(&bytes[..offsets.len() * 8]);
    let at = offsets.len() * 8;
    BigEndian::write_u32(&mut bytes[at..], crc);
    std::fs::write(path, bytes).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// The byte range of `partition` in a map output, read from its index file.
///
/// # Errors
/// The index is unreadable, has the wrong size or CRC, or its offsets are
/// not increasing; the message names the file.
pub fn partition_range(index: &Path, partition: u32) -> Result<(u64, u64), String> {
    let bytes = std::fs::read(index).map_err(|e| format!("reading {}: {e}", index.display()))?;
    if bytes.len() < 12 || (bytes.len() - 4) % 8 != 0 {
        return Err(format!(
            "index {} has a bad size ({} bytes)",
            index.display(),
            bytes.len()
        ));
    }
    let body = &bytes[..bytes.len() - 4];
    let stored = BigEndian::read_u32(&bytes[bytes.len() - 4..]);
    let computed = crc32fast::hash(body);
    if stored != computed {
        return Err(format!(
            "index {}: CRC mismatch (stored 0x{stored:08X}, computed 0x{computed:08X})",
            index.display()
        ));
    }
    let offsets: Vec<u64> = body.chunks(8).map(BigEndian::read_u64).collect();
    let p = partition as usize;
    if p + 1 >= offsets.len() {
        return Err(format!(
            "index {} has no partition {partition}",
            index.display()
        ));
    }
    let (start, end) = (offsets[p], offsets[p + 1]);
    if end < start {
        return Err(format!(
            "index {}: partition {partition} ends before it starts",
            index.display()
        ));
    }
    Ok((start, end - start))
}

/// Opens `data` at `start` for `len` bytes.
pub fn open_range(data: &Path, start: u64, len: u64) -> Result<io::Take<BufReader<File>>, String> {
    let mut file = File::open(data).map_err(|e| format!("opening {}: {e}", data.display()))?;
    file.seek(SeekFrom::Start(start))
        .map_err(|e| format!("seeking in {}: {e}", data.display()))?;
    Ok(BufReader::with_capacity(256 * 1024, file).take(len))
}

/// One partition of one shuffle, to be fetched from every map output.
pub struct FetchRequest {
    pub job_id: u64,
    pub shuffle: u32,
    pub partition: u32,
    pub maps: Vec<MapLocation>,
}

/// Where a fetch records the map output it failed on, for the task to
/// report (see `exec::env::Failure`).
pub type FailureSlot = Arc<Mutex<Option<FetchFailure>>>;

/// The records of a partition, arriving from several fetch threads. The
/// threads move whole CRC-checked blocks; records are decoded here, on the
/// reducing thread, so each record is allocated and freed by one thread.
pub struct Fetched {
    rx: Receiver<Result<Vec<u8>, FetchFailure>>,
    block: Option<RunReader<io::Empty>>,
    failed: bool,
    failure: FailureSlot,
    /// No fetch thread could be started.
    error: Option<String>,
}

impl Iterator for Fetched {
    type Item = Result<Record, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.error.take() {
            self.failed = true;
            return Some(Err(e));
        }
        loop {
            if let Some(r) = self.block.as_mut().and_then(Iterator::next) {
                // A block passed its CRC check, so a record that does not
                // decode is a bug or memory corruption, not a lost output.
                return Some(r);
            }
            if self.failed {
                return None;
            }
            match self.rx.recv() {
                Ok(Ok(payload)) => {
                    self.block = Some(RunReader::from_block(payload, "a fetched block".into()))
                }
                Ok(Err(failure)) => {
                    self.failed = true;
                    let message = failure.to_string();
                    *lock(&self.failure) = Some(failure);
                    return Some(Err(message));
                }
                // Every fetch thread has finished.
                Err(_) => return None,
            }
        }
    }
}

/// Starts fetching `req` with at most `in_flight` map outputs at a time;
/// adds the bytes received to `bytes`; a map output that cannot be read
/// ends the records with an error and is named in `failure`. Each
/// connection proves `secret`, when there is one.
///
/// A map output served by this very worker (`local`) is read from its file
/// instead: no socket, no frames, no copy through the kernel's loopback.
pub fn fetch(
    req: FetchRequest,
    limits: FetchLimits,
    bytes: Arc<AtomicU64>,
    local: LocalMaps,
    failure: FailureSlot,
    secret: Option<Arc<Secret>>,
) -> Fetched {
    let threads = limits.in_flight.clamp(1, req.maps.len().max(1));
    // A bounded channel: fetch threads block when the reducer falls behind,
    // so at most `2 x threads` blocks wait in memory.
    let (tx, rx) = mpsc::sync_channel::<Result<Vec<u8>, FetchFailure>>(threads * 2);
    let queue = Arc::new(Mutex::new(req.maps.into_iter().collect::<VecDeque<_>>()));
    let (mut started, mut spawn_error) = (0, String::new());
    for n in 0..threads {
        let (tx, queue, bytes) = (tx.clone(), Arc::clone(&queue), Arc::clone(&bytes));
        let (local, secret, limits) = (local.clone(), secret.clone(), limits.clone());
        let (job_id, shuffle, partition) = (req.job_id, req.shuffle, req.partition);
        let spawned = thread::Builder::new()
            .name(format!("fetch-{n}"))
            .spawn(move || loop {
                let next = lock(&queue).pop_front();
                let Some(map) = next else { return };
                if limits.cancel.load(Ordering::Relaxed) {
                    return;
                }
                let result = match local.find(&map.addr, job_id, shuffle, map.map) {
                    // A cached partition, all of its one partition, in memory.
                    Some((data, index)) => match local.cached(job_id, shuffle, map.map) {
                        Some(block) if partition == 0 => read_memory(&block, &data, &tx, &bytes),
                        _ => read_local(&data, &index, partition, &tx, &bytes),
                    },
                    None => fetch_one(
                        job_id,
                        shuffle,
                        partition,
                        &map,
                        &tx,
                        &bytes,
                        secret.as_deref(),
                        &limits,
                    ),
                };
                if let Err(e) = result {
                    let _ = tx.send(Err(FetchFailure {
                        shuffle,
                        map: map.map,
                        addr: map.addr,
                        error: format!("partition {partition}: {e}"),
                    }));
                    return;
                }
            });
        // Fewer threads than asked for still drain the whole queue.
        match spawned {
            Ok(_) => started += 1,
            Err(e) => spawn_error = format!("starting a fetch thread: {e}"),
        }
    }
    Fetched {
        rx,
        block: None,
        failed: false,
        failure,
        error: (started == 0).then_some(spawn_error),
    }
}

/// Reads one partition of a map output on this worker's disk and sends its
/// blocks, CRC-checked, as `fetch_one` does for a remote one.
fn read_local(
    data: &Path,
    index: &Path,
    partition: u32,
    tx: &SyncSender<Result<Vec<u8>, FetchFailure>>,
    bytes: &AtomicU64,
) -> Result<(), String> {
    let (start, len) = partition_range(index, partition)?;
    let source = format!("map output {}", data.display());
    let mut blocks = RunReader::at_offset(open_range(data, start, len)?, source, start);
    while let Some(block) = blocks.next_block() {
        let block = block?;
        bytes.fetch_add(block.len() as u64, Ordering::Relaxed);
        if tx.send(Ok(block)).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Sends the blocks of a cached partition held in memory (that was read
/// from `data`), CRC-checked, as `read_local` does.
fn read_memory(
    block: &[u8],
    data: &Path,
    tx: &SyncSender<Result<Vec<u8>, FetchFailure>>,
    bytes: &AtomicU64,
) -> Result<(), String> {
    let source = format!("cached partition {} (in memory)", data.display());
    let mut blocks = RunReader::at_offset(block, source, 0);
    while let Some(block) = blocks.next_block() {
        let block = block?;
        bytes.fetch_add(block.len() as u64, Ordering::Relaxed);
        if tx.send(Ok(block)).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Fetches one map output's partition and sends its blocks, CRC-checked.
/// Every wait is bounded by `limits.timeout` (a peer that goes silent,
/// such as a black-holed host whose connection stays open, is a fetch
/// failure), and a cancelled task's fetch stops within `FETCH_POLL`.
#[allow(clippy::too_many_arguments)]
fn fetch_one(
    job_id: u64,
    shuffle: u32,
    partition: u32,
    map: &MapLocation,
    tx: &SyncSender<Result<Vec<u8>, FetchFailure>>,
    bytes: &AtomicU64,
    secret: Option<&Secret>,
    limits: &FetchLimits,
) -> Result<(), String> {
    if map.addr.is_empty() {
        return Err("no worker holds this map output".into());
    }
    let stream = dial::connect(&map.addr, limits.timeout, secret).map_err(|e| e.to_string())?;
    // Reads wake up every FETCH_POLL to look at the cancel flag and the
    // silence; a write (the request) waits at most the timeout.
    // Keepalive finds a peer that vanished (no FIN, no RST) even while
    // the read timeouts are what bound a silent one.
    stream
        .set_read_timeout(Some(limits.timeout.min(FETCH_POLL)))
        .and_then(|()| stream.set_write_timeout(Some(limits.timeout)))
        .and_then(|()| keepalive::enable(&stream, limits.timeout / 2))
        .map_err(|e| e.to_string())?;
    let read_half = stream.try_clone().map_err(|e| e.to_string())?;
    FrameWriter::new(&stream)
        .send(&Message::FetchShuffle {
            job_id,
            shuffle,
            map: map.map,
            partition,
        })
        .map_err(|e| e.to_string())?;
    let chunks = ChunkStream {
        frames: FrameReader::new(read_half),
        chunk: Vec::new(),
        pos: 0,
        done: false,
        bytes,
        limits,
        heard: Instant::now(),
    };
    let source = format!(
        "shuffle {shuffle} map {} partition {partition} from {}",
        map.map, map.addr
    );
    let mut blocks = RunReader::new(chunks, source);
    while let Some(block) = blocks.next_block() {
        if tx.send(Ok(block?)).is_err() {
            return Ok(()); // the reducer stopped listening
        }
    }
    Ok(())
}

/// The payloads of a sequence of `DataChunk` frames, as one byte stream.
struct ChunkStream<'a> {
    frames: FrameReader<std::net::TcpStream>,
    chunk: Vec<u8>,
    pos: usize,
    done: bool,
    bytes: &'a AtomicU64,
    limits: &'a FetchLimits,
    /// When the last bytes arrived.
    heard: Instant,
}

impl Read for ChunkStream<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            if self.done {
                return Ok(0);
            }
            match self.frames.read_message() {
                Ok(Some(Message::DataChunk { data, last })) => {
                    self.heard = Instant::now();
                    self.bytes.fetch_add(data.0.len() as u64, Ordering::Relaxed);
                    self.chunk = data.0;
                    self.pos = 0;
                    self.done = last != 0;
                }
                Ok(Some(Message::Error { message, .. })) => return Err(io::Error::other(message)),
                Ok(Some(other)) => {
                    return Err(io::Error::other(format!(
                        "expected DataChunk, got {}",
                        other.msg_type().name()
                    )))
                }
                Ok(None) => {
                    return Err(io::Error::other(
                        "the worker closed the connection mid-fetch",
                    ))
                }
                // The read timed out: a partial frame stays buffered, and
                // the next read goes on from it.
                Err(crate::error::Error::Io { source, .. })
                    if matches!(
                        source.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if self.limits.cancel.load(Ordering::Relaxed) {
                        return Err(io::Error::other("cancelled"));
                    }
                    let silent = self.heard.elapsed();
                    if silent >= self.limits.timeout {
                        return Err(io::Error::other(format!(
                            "no data for {} ms (worker --fetch-timeout-ms)",
                            silent.as_millis()
                        )));
                    }
                }
                Err(e) => return Err(io::Error::other(e.to_string())),
            }
        }
        let n = out.len().min(self.chunk.len() - self.pos);
        out[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("minispark-shuffle-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn read_partition(data: &Path, index: &Path, p: u32) -> Result<Vec<Record>, String> {
        let (start, len) = partition_range(index, p)?;
        RunReader::at_offset(open_range(data, start, len)?, "test".into(), start).collect()
    }

    #[test]
    fn partitions_round_trip_through_spills_and_a_corrupt_block_is_caught() {
        let dir = temp("roundtrip");
        let spill = Arc::new(SpillDir::new(dir.join("spill")).unwrap());
        // A tiny budget: the writer spills many times before `finish`.
        let mut w = ShuffleWriter::new(3, 1, Arc::clone(&spill));
        let mut expected: Vec<Vec<Record>> = vec![Vec::new(); 3];
        for i in 0..50_000u32 {
            let rec = Record::pair(
                format!("k{}", i % 97).into_bytes(),
                i.to_string().into_bytes(),
            );
            let p = i % 3;
            w.write(p, rec.as_ref()).unwrap();
            expected[p as usize].push(rec);
        }
        let (data, index) = (dir.join("m.data"), dir.join("m.index"));
        w.finish(&data, &index).unwrap();
        assert!(spill.stats().bytes > 0, "the budget forced spills");
        for p in 0..3 {
            assert_eq!(
                read_partition(&data, &index, p).unwrap(),
                expected[p as usize]
            );
        }
        assert!(partition_range(&index, 3).is_err());

        // One flipped byte in the data file: its block fails the CRC check.
        let mut bytes = std::fs::read(&data).unwrap();
        let (start, _) = partition_range(&index, 1).unwrap();
        bytes[start as usize + 20] ^= 0x40;
        std::fs::write(&data, bytes).unwrap();
        let err = read_partition(&data, &index, 1).unwrap_err();
        assert!(err.contains("CRC mismatch"), "{err}");
        assert!(read_partition(&data, &index, 0).is_ok());

        // A corrupt index is refused too.
        let mut idx = std::fs::read(&index).unwrap();
        idx[3] ^= 1;
        std::fs::write(&index, idx).unwrap();
        assert!(partition_range(&index, 0)
            .unwrap_err()
            .contains("CRC mismatch"));
        drop(spill);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn partitions_of_many_blocks_kept_in_memory_round_trip() {
        let dir = temp("blocks");
        let spill = Arc::new(SpillDir::new(dir.join("spill")).unwrap());
        // No spill: each partition is a list of several blocks until `finish`.
        let mut w = ShuffleWriter::new(2, 64 << 20, Arc::clone(&spill));
        let mut expected: Vec<Vec<Record>> = vec![Vec::new(); 2];
        let payload = vec![b'x'; 300];
        for i in 0..8_000u32 {
            let rec = Record::pair(i.to_string().into_bytes(), payload.clone());
            let p = u32::from(i % 7 == 0);
            w.write(p, rec.as_ref()).unwrap();
            expected[p as usize].push(rec);
        }
        let (data, index) = (dir.join("m.data"), dir.join("m.index"));
        let size = w.finish(&data, &index).unwrap();
        assert_eq!(spill.stats().bytes, 0, "nothing spilled");
        assert_eq!(size, std::fs::metadata(&data).unwrap().len());
        let (_, len) = partition_range(&index, 0).unwrap();
        assert!(len > 4 * crate::storage::runfile::BLOCK_BYTES as u64);
        for p in 0..2 {
            assert_eq!(
                read_partition(&data, &index, p).unwrap(),
                expected[p as usize]
            );
        }
        drop(spill);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
