//! Run files: records in CRC-checked blocks, for spill runs, shuffle map
//! outputs and the shuffle fetch stream.
//!
//! OS idea: a `write` or `read` system call costs the same few microseconds
//! whether it moves 10 bytes or 256 KiB, so the block is the buffer. The
//! writer fills one block in memory and hands it to the kernel with a single
//! `write_all`; the reader asks for a whole block with one `read_exact`.
//! No `BufWriter` or `BufReader` is needed on top (they would only copy the
//! bytes once more). The CRC catches what the disk, the page cache or the
//! network got wrong, or a file that something else cut short.
//!
//! # Format
//!
//! A run is blocks back to back, nothing before or after them:
//!
//! ```text
//! block:
//! +-------------+-------------+---------------------------------+
//! | payload_len | crc32       | payload (payload_len bytes)     |
//! +-------------+-------------+---------------------------------+
//! 0             4             8
//!
//! payload: whole records back to back
//! +---------+-----+-----------+-------+---------+-----+-----------+-------+
//! | key_len | key | value_len | value | key_len | key | value_len | value | ...
//! +---------+-----+-----------+-------+---------+-----+-----------+-------+
//! ```
//!
//! * 4 bytes: `payload_len`, u32 big-endian, at most `MAX_BLOCK_BYTES`
//! * 4 bytes: `crc32`, u32 big-endian, CRC-32 (IEEE, as zlib) of the payload
//! * `payload_len` bytes: the payload
//!
//! and each record in the payload:
//!
//! * 4 bytes: `key_len`, u32 big-endian; `0xFFFF_FFFF` means "no key" (a
//!   plain line), and then no key bytes follow
//! * `key_len` bytes: the key
//! * 4 bytes: `value_len`, u32 big-endian
//! * `value_len` bytes: the value
//!
//! A record never spans two blocks. The writer closes a block once it holds
//! `BLOCK_BYTES` of payload, or before a record that would take it past
//! that; a record larger than `BLOCK_BYTES` gets a block of its own. So a
//! reader holds one block in memory: at most `BLOCK_BYTES`, or one record.
//!
//! A run ends cleanly at a block boundary; an end anywhere else is an error,
//! as is a CRC mismatch, a `payload_len` over `MAX_BLOCK_BYTES` (refused
//! before anything is allocated for it), or a record that overruns its
//! block's payload.

use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::path::Path;

use crate::record::{Record, SmallBytes};

/// Payload bytes after which the writer closes a block.
pub const BLOCK_BYTES: usize = 256 * 1024;
/// Largest payload a reader accepts (and so the largest record a writer
/// accepts). Bounds what a corrupt length can make a reader allocate.
pub const MAX_BLOCK_BYTES: usize = 64 * 1024 * 1024;

// Block header layout, as offsets from the start of the block.
const PAYLOAD_LEN_OFFSET: usize = 0;
const PAYLOAD_LEN_BYTES: usize = 4;
const CRC_OFFSET: usize = PAYLOAD_LEN_OFFSET + PAYLOAD_LEN_BYTES;
const CRC_BYTES: usize = 4;
/// Bytes before the payload.
pub const BLOCK_HEADER_BYTES: usize = CRC_OFFSET + CRC_BYTES;

// Record layout: each length field is a u32 big-endian.
const LEN_FIELD_BYTES: usize = 4;
/// `key_len` of a record without a key.
const NO_KEY: u32 = 0xFFFF_FFFF;

/// What a finished run holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    pub records: u64,
    /// Bytes written to the inner writer (headers included): the size on disk.
    pub bytes: u64,
}

/// Writes records as a run (see the module comment for the format).
///
/// Dropping a writer without `finish` loses the block being filled.
pub struct RunWriter<W: Write> {
    inner: W,
    /// The block being filled: `BLOCK_HEADER_BYTES` of header space, then the
    /// payload. The header is filled in when the block is closed.
    block: Vec<u8>,
    records: u64,
    /// Bytes handed to `inner` so far.
    bytes: u64,
}

impl<W: Write> RunWriter<W> {
    pub fn new(inner: W) -> Self {
        let mut block = Vec::with_capacity(BLOCK_HEADER_BYTES + BLOCK_BYTES);
        block.resize(BLOCK_HEADER_BYTES, 0);
        RunWriter {
            inner,
            block,
            records: 0,
            bytes: 0,
        }
    }

    /// Adds a record to the current block, closing blocks as needed.
    ///
    /// # Errors
    /// The inner writer's error, or `InvalidInput` for a record larger than
    /// `MAX_BLOCK_BYTES`.
    pub fn write(&mut self, rec: &Record) -> io::Result<()> {
        self.write_parts(rec.key.as_deref(), &rec.value)
    }

    /// Like `write`, for a record given as borrowed parts (no `Record` has
    /// to be built, so nothing is copied).
    pub fn write_parts(&mut self, key: Option<&[u8]>, value: &[u8]) -> io::Result<()> {
        let len = LEN_FIELD_BYTES + key.map_or(0, <[u8]>::len) + LEN_FIELD_BYTES + value.len();
        if len > MAX_BLOCK_BYTES {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "a record of {len} bytes is larger than the {MAX_BLOCK_BYTES}-byte block limit"
                ),
            ));
        }
        let payload = self.block.len() - BLOCK_HEADER_BYTES;
        if payload > 0 && payload + len > BLOCK_BYTES {
            self.end_block()?;
        }
        // Lengths fit in u32: each is at most MAX_BLOCK_BYTES, below NO_KEY.
        match key {
            None => self.block.extend_from_slice(&NO_KEY.to_be_bytes()),
            Some(key) => {
                self.block
                    .extend_from_slice(&(key.len() as u32).to_be_bytes());
                self.block.extend_from_slice(key);
            }
        }
        self.block
            .extend_from_slice(&(value.len() as u32).to_be_bytes());
        self.block.extend_from_slice(value);
        self.records += 1;
        if self.block.len() - BLOCK_HEADER_BYTES >= BLOCK_BYTES {
            self.end_block()?;
        }
        Ok(())
    }

    /// Closes the current block, if it holds anything, with one `write_all`.
    /// Returns the bytes written so far: the offset where the next block
    /// will start. (The shuffle calls it at each partition boundary.)
    pub fn end_block(&mut self) -> io::Result<u64> {
        let payload_len = self.block.len() - BLOCK_HEADER_BYTES;
        if payload_len > 0 {
            let crc = crc32fast::hash(&self.block[BLOCK_HEADER_BYTES..]);
            self.block[PAYLOAD_LEN_OFFSET..CRC_OFFSET]
                .copy_from_slice(&(payload_len as u32).to_be_bytes());
            self.block[CRC_OFFSET..BLOCK_HEADER_BYTES].copy_from_slice(&crc.to_be_bytes());
            self.inner.write_all(&self.block)?;
            self.bytes += self.block.len() as u64;
            self.block.truncate(BLOCK_HEADER_BYTES);
            // A lone large record grew the buffer: give the memory back.
            if self.block.capacity() > 2 * (BLOCK_HEADER_BYTES + BLOCK_BYTES) {
                self.block.shrink_to(BLOCK_HEADER_BYTES + BLOCK_BYTES);
            }
        }
        Ok(self.bytes)
    }

    /// Closes the last block, flushes, and returns the inner writer.
    pub fn finish(mut self) -> io::Result<(W, RunStats)> {
        self.end_block()?;
        self.inner.flush()?;
        let stats = RunStats {
            records: self.records,
            bytes: self.bytes,
        };
        Ok((self.inner, stats))
    }
}

/// Reads the records of a run, checking each block's CRC before returning
/// any record from it. Iteration ends at a clean end of the stream; after
/// an error it ends too (the error is returned once).
pub struct RunReader<R: Read> {
    inner: R,
    /// Names the file or peer in errors: "spill file /w/run-000003".
    source: String,
    /// The current block's payload, already checked.
    payload: Vec<u8>,
    /// Next unread byte in `payload`.
    pos: usize,
    /// Stream offset of the current block's header, for errors.
    block_offset: u64,
    /// Stream offset of the next block's header.
    next_offset: u64,
    done: bool,
}

impl<R: Read> RunReader<R> {
    pub fn new(inner: R, source: String) -> Self {
        Self::at_offset(inner, source, 0)
    }

    /// A reader whose stream starts at byte `offset` of the run (a shuffle
    /// partition's byte range), so errors give offsets within the file.
    pub fn at_offset(inner: R, source: String, offset: u64) -> Self {
        RunReader {
            inner,
            source,
            payload: Vec::new(),
            pos: 0,
            block_offset: offset,
            next_offset: offset,
            done: false,
        }
    }

    /// Reads and checks the next block and hands over its payload (whole
    /// records), for a consumer elsewhere to decode with `from_block`.
    /// `None` at a clean end of the stream.
    pub fn next_block(&mut self) -> Option<Result<Vec<u8>, String>> {
        if self.done {
            return None;
        }
        match self.load_block() {
            Ok(true) => {
                self.pos = 0;
                Some(Ok(std::mem::take(&mut self.payload)))
            }
            Ok(false) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }

    fn error(&self, what: impl std::fmt::Display) -> String {
        format!(
            "{}: block at byte {}: {what}",
            self.source, self.block_offset
        )
    }

    /// Reads and checks the next block. `Ok(false)` at a clean end.
    fn load_block(&mut self) -> Result<bool, String> {
        self.block_offset = self.next_offset;
        let mut header = [0u8; BLOCK_HEADER_BYTES];
        let got = read_full(&mut self.inner, &mut header)
            .map_err(|e| self.error(format_args!("read failed: {e}")))?;
        if got == 0 {
            return Ok(false);
        }
        if got < BLOCK_HEADER_BYTES {
            return Err(self.error(format_args!(
                "stream ends inside the block header ({got} of {BLOCK_HEADER_BYTES} bytes)"
            )));
        }
        let len = u32::from_be_bytes(field(&header, PAYLOAD_LEN_OFFSET)) as usize;
        let stored_crc = u32::from_be_bytes(field(&header, CRC_OFFSET));
        if len > MAX_BLOCK_BYTES {
            return Err(self.error(format_args!(
                "payload length {len} is over the {MAX_BLOCK_BYTES}-byte limit"
            )));
        }
        // `take` + `read_to_end` grows the buffer only as bytes really
        // arrive, so a length that lies about a short stream allocates little.
        self.payload.clear();
        self.pos = 0;
        if self.payload.capacity() > 2 * BLOCK_BYTES && len <= BLOCK_BYTES {
            self.payload.shrink_to(BLOCK_BYTES);
        }
        self.payload.reserve(len.min(BLOCK_BYTES));
        (&mut self.inner)
            .take(len as u64)
            .read_to_end(&mut self.payload)
            .map_err(|e| self.error(format_args!("read failed: {e}")))?;
        if self.payload.len() < len {
            let got = self.payload.len();
            self.payload.clear();
            return Err(self.error(format_args!(
                "stream ends inside the payload ({got} of {len} bytes)"
            )));
        }
        let computed_crc = crc32fast::hash(&self.payload);
        if computed_crc != stored_crc {
            self.payload.clear();
            return Err(self.error(format_args!(
                "CRC mismatch (stored {stored_crc:#010x}, computed {computed_crc:#010x})"
            )));
        }
        self.next_offset = self.block_offset + (BLOCK_HEADER_BYTES + len) as u64;
        Ok(true)
    }

    /// Decodes the record at `pos` in the (checked) payload. `record_at`
    /// finds it; a record that does not fit is taken apart again, field
    /// by field, to say which of its lengths is wrong.
    #[inline]
    fn next_record(&mut self) -> Result<Record, String> {
        let Some((key, (value_at, value_len), end)) = record_at(&self.payload, self.pos) else {
            return self.explain_record();
        };
        let payload = &self.payload;
        let record = Record {
            key: key.map(|(at, len)| SmallBytes::from_window(payload, at, len)),
            value: SmallBytes::from_window(payload, value_at, value_len),
        };
        self.pos = end;
        Ok(record)
    }

    /// The record at `pos`, decoded one field at a time: the error that
    /// names the field that overruns the payload.
    #[cold]
    fn explain_record(&mut self) -> Result<Record, String> {
        let start = self.pos;
        let key = match self.take_len(start, "key")? {
            None => None,
            Some(n) => Some(self.take_bytes(start, n, "key")?),
        };
        let value_len = self
            .take_len(start, "value")?
            .ok_or_else(|| self.record_error(start, "value length is 0xFFFFFFFF"))?;
        let value = self.take_bytes(start, value_len, "value")?;
        Ok(Record { key, value })
    }

    /// Reads a length field; `None` for `NO_KEY`.
    fn take_len(&mut self, start: usize, what: &str) -> Result<Option<usize>, String> {
        let end = self.pos + LEN_FIELD_BYTES;
        if end > self.payload.len() {
            return Err(
                self.record_error(start, format_args!("{what} length overruns the payload"))
            );
        }
        let n = u32::from_be_bytes(field(&self.payload, self.pos));
        self.pos = end;
        Ok((n != NO_KEY).then_some(n as usize))
    }

    fn take_bytes(&mut self, start: usize, n: usize, what: &str) -> Result<SmallBytes, String> {
        let left = self.payload.len() - self.pos;
        if n > left {
            return Err(self.record_error(
                start,
                format_args!("{what} of {n} bytes overruns the payload ({left} bytes left)"),
            ));
        }
        let bytes = SmallBytes::from(&self.payload[self.pos..self.pos + n]);
        self.pos += n;
        Ok(bytes)
    }

    fn record_error(&self, start: usize, what: impl std::fmt::Display) -> String {
        self.error(format_args!("record at payload byte {start}: {what}"))
    }
}

impl RunReader<io::Empty> {
    /// The records of one block payload that `next_block` already checked.
    pub fn from_block(payload: Vec<u8>, source: String) -> Self {
        RunReader {
            inner: io::empty(),
            source,
            payload,
            pos: 0,
            block_offset: 0,
            next_offset: 0,
            done: false,
        }
    }
}

impl<R: Read> Iterator for RunReader<R> {
    type Item = Result<Record, String>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            if self.pos < self.payload.len() {
                let rec = self.next_record();
                self.done = rec.is_err();
                return Some(rec);
            }
            match self.load_block() {
                Ok(true) => {}
                Ok(false) => self.done = true,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

/// Opens a run file for reading. `kind` says what the file is in errors:
/// `open_run(path, "spill file")` reports "spill file /w/run-000003: ...".
pub fn open_run(path: &Path, kind: &str) -> Result<RunReader<File>, String> {
    let source = format!("{kind} {}", path.display());
    let file = File::open(path).map_err(|e| format!("{source}: cannot open: {e}"))?;
    Ok(RunReader::new(file, source))
}

/// Where a field of a record lies in its payload: its first byte, and how
/// many bytes it has.
type Span = (usize, usize);

/// Where the record at `pos` of `payload` lies: its key (`None` for a
/// line), its value, and where the next record starts. `None` when a
/// length is `NO_KEY` for the value or runs past the payload.
#[inline]
fn record_at(payload: &[u8], pos: usize) -> Option<(Option<Span>, Span, usize)> {
    let len_at = |at: usize| {
        let field = payload.get(at..at.checked_add(LEN_FIELD_BYTES)?)?;
        Some(u32::from_be_bytes(field.try_into().ok()?))
    };
    let key_len = len_at(pos)?;
    let mut at = pos + LEN_FIELD_BYTES;
    let key = match key_len {
        NO_KEY => None,
        n => {
            let key = (at, n as usize);
            at = at.checked_add(n as usize)?;
            Some(key)
        }
    };
    let value_len = len_at(at).filter(|&n| n != NO_KEY)? as usize;
    let value_at = at + LEN_FIELD_BYTES;
    let end = value_at.checked_add(value_len)?;
    (end <= payload.len()).then_some((key, (value_at, value_len), end))
}

/// Four bytes at `offset`; the caller has checked they are there.
fn field(bytes: &[u8], offset: usize) -> [u8; 4] {
    let mut out = [0u8; 4];
    out.copy_from_slice(&bytes[offset..offset + 4]);
    out
}

/// Like `read_exact`, but returns how many bytes arrived before the end of
/// the stream instead of failing, so a clean end (0) can be told apart from
/// a cut-off one.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn sample_records() -> Vec<Record> {
        let mut rng = Rng::new(7);
        let mut recs = vec![
            Record::line(Vec::new()),
            Record::pair(Vec::new(), Vec::new()),
            Record::pair(b"k".to_vec(), Vec::new()),
            Record::line(b"\xff\x00 not utf-8".to_vec()),
            // Bigger than a block: gets one of its own.
            Record::pair(b"big".to_vec(), vec![b'x'; BLOCK_BYTES + 10]),
        ];
        for i in 0..20_000 {
            let value = vec![b'a' + (i % 26) as u8; rng.below(40) as usize];
            if rng.below(3) == 0 {
                recs.push(Record::line(value));
            } else {
                recs.push(Record::pair(
                    format!("key{}", rng.below(500)).into_bytes(),
                    value,
                ));
            }
        }
        recs.push(Record::pair(b"big2".to_vec(), vec![b'y'; 3 * BLOCK_BYTES]));
        recs
    }

    fn write_run(recs: &[Record]) -> (Vec<u8>, RunStats) {
        let mut w = RunWriter::new(Vec::new());
        for r in recs {
            w.write(r).unwrap();
        }
        w.finish().unwrap()
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Record>, String> {
        RunReader::new(bytes, "test run".to_string()).collect()
    }

    #[test]
    fn round_trip() {
        let recs = sample_records();
        let (bytes, stats) = write_run(&recs);
        assert_eq!(stats.records, recs.len() as u64);
        assert_eq!(stats.bytes, bytes.len() as u64);
        assert_eq!(read_all(&bytes).unwrap(), recs);
        // An empty run is zero bytes and reads as no records.
        let (empty, stats) = write_run(&[]);
        assert!(empty.is_empty());
        assert_eq!(stats, RunStats::default());
        assert_eq!(read_all(&empty).unwrap(), vec![]);
    }

    #[test]
    fn end_block_marks_offsets() {
        let mut w = RunWriter::new(Vec::new());
        w.write(&Record::pair(b"a".to_vec(), b"1".to_vec()))
            .unwrap();
        let first = w.end_block().unwrap();
        assert_eq!(first, (BLOCK_HEADER_BYTES + 4 + 1 + 4 + 1) as u64);
        // An empty block is not written.
        assert_eq!(w.end_block().unwrap(), first);
        w.write(&Record::pair(b"b".to_vec(), b"2".to_vec()))
            .unwrap();
        let (bytes, _) = w.finish().unwrap();
        let second: Vec<Record> =
            RunReader::at_offset(&bytes[first as usize..], "part 1".into(), first)
                .collect::<Result<_, _>>()
                .unwrap();
        assert_eq!(second, vec![Record::pair(b"b".to_vec(), b"2".to_vec())]);
    }

    /// Offsets where blocks start (and the end of the run).
    fn block_boundaries(bytes: &[u8]) -> Vec<usize> {
        let mut boundaries = vec![0];
        let mut at = 0;
        while at < bytes.len() {
            at += BLOCK_HEADER_BYTES + u32::from_be_bytes(field(bytes, at)) as usize;
            boundaries.push(at);
        }
        boundaries
    }

    fn check_cut(bytes: &[u8], boundaries: &[usize], cut: usize) {
        let result = read_all(&bytes[..cut]);
        if boundaries.contains(&cut) {
            assert!(result.is_ok(), "cut at {cut}");
        } else {
            let err = result.expect_err(&format!("cut at {cut} not detected"));
            assert!(err.starts_with("test run: block at byte "), "{err}");
            assert!(err.contains("stream ends inside"), "{err}");
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        // A small run: every cut. A block is the only unit that may end it.
        let small: Vec<Record> = (0..40)
            .map(|i| Record::pair(format!("k{i}").into_bytes(), vec![b'v'; i % 7]))
            .chain([Record::line(b"no key".to_vec())])
            .collect();
        let mut w = RunWriter::new(Vec::new());
        for (i, r) in small.iter().enumerate() {
            w.write(r).unwrap();
            if i % 10 == 9 {
                w.end_block().unwrap();
            }
        }
        let (bytes, _) = w.finish().unwrap();
        let boundaries = block_boundaries(&bytes);
        assert_eq!(boundaries.len(), 6);
        for cut in 0..bytes.len() {
            check_cut(&bytes, &boundaries, cut);
        }
        // A multi-block run: every cut near a block boundary, random others.
        let recs: Vec<Record> = (0..6000)
            .map(|i| Record::pair(format!("k{i}").into_bytes(), vec![b'v'; i % 300]))
            .collect();
        let (bytes, _) = write_run(&recs);
        let boundaries = block_boundaries(&bytes);
        assert!(boundaries.len() > 3, "want several blocks");
        let mut cuts: Vec<usize> = Vec::new();
        for &b in &boundaries {
            cuts.extend(b.saturating_sub(20)..(b + 20).min(bytes.len()));
        }
        let mut rng = Rng::new(5);
        cuts.extend((0..100).map(|_| rng.below(bytes.len() as u64) as usize));
        for cut in cuts {
            check_cut(&bytes, &boundaries, cut);
        }
    }

    #[test]
    fn flipped_byte_fails_crc() {
        let recs: Vec<Record> = (0..60_000)
            .map(|i| Record::pair(format!("key{i}").into_bytes(), format!("{i}").into_bytes()))
            .collect();
        let (bytes, _) = write_run(&recs);
        assert!(bytes.len() > 2 * BLOCK_BYTES);
        let mut rng = Rng::new(1);
        // Every payload byte of the first blocks' edges, and random others.
        let mut positions: Vec<usize> = (BLOCK_HEADER_BYTES..BLOCK_HEADER_BYTES + 64).collect();
        positions.extend((0..300).map(|_| rng.below(bytes.len() as u64) as usize));
        for pos in positions {
            let mut bad = bytes.clone();
            bad[pos] ^= 0x10;
            let result = read_all(&bad);
            assert!(result.is_err(), "flip at {pos} not detected");
        }
        // The message names the block's offset and both CRCs.
        let mut bad = bytes.clone();
        let second_block = BLOCK_HEADER_BYTES + u32::from_be_bytes(field(&bytes, 0)) as usize;
        bad[second_block + BLOCK_HEADER_BYTES + 5] ^= 1;
        let err = read_all(&bad).unwrap_err();
        assert!(
            err.starts_with(&format!(
                "test run: block at byte {second_block}: CRC mismatch (stored 0x"
            )),
            "{err}"
        );
    }

    #[test]
    fn huge_payload_len_is_refused() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        bytes.extend_from_slice(&0u32.to_be_bytes());
        let err = read_all(&bytes).unwrap_err();
        assert!(err.contains("over the 67108864-byte limit"), "{err}");
    }

    #[test]
    fn records_overrunning_the_payload_are_refused() {
        // A block whose CRC is right but whose record claims too many bytes.
        for payload in [
            vec![0, 0, 0, 9, b'k'],                               // key overruns
            vec![0, 0],                                           // key length cut off
            vec![0, 0, 0, 0, 0, 0, 0],                            // value length cut off
            vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // value_len = NO_KEY
            vec![0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, b'v'],       // value overruns
        ] {
            let mut bytes = Vec::new();
            bytes.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            bytes.extend_from_slice(&crc32fast::hash(&payload).to_be_bytes());
            bytes.extend_from_slice(&payload);
            let err = read_all(&bytes).unwrap_err();
            assert!(
                err.starts_with("test run: block at byte 0: record at payload byte 0: "),
                "{err}"
            );
        }
    }

    #[test]
    fn oversized_record_is_refused_by_the_writer() {
        let mut w = RunWriter::new(Vec::new());
        let rec = Record::line(vec![0; MAX_BLOCK_BYTES]);
        assert_eq!(w.write(&rec).unwrap_err().kind(), ErrorKind::InvalidInput);
    }
}
