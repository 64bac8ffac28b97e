//! The master's journal: an append-only write-ahead log of opaque records,
//! replayed on restart so the master survives `kill -9` or a power cut.
//!
//! OS idea: what survives a crash, and how to tell. Three system calls do
//! all the work:
//!
//! * `write(2)` only copies bytes into the kernel's page cache. A process
//!   killed by `kill -9` loses what it had not yet written (what sits in its
//!   `BufWriter`), but what it wrote stays: the kernel owns it now. A power
//!   cut loses the page cache too.
//! * `fdatasync(2)` (`File::sync_data`) returns only once the file's data
//!   (and its size) are on the disk. So a record counts as durable only
//!   after `sync` returns. The caller acts on a state change (tells a
//!   worker, answers a client) only after its record is written: after
//!   `sync` for what must survive a power cut (the scheduler syncs its own
//!   start, a job's submission and its end), after `flush` for the rest (a
//!   committed task, a shuffle's boundaries, a worker id), which then
//!   survives the master's death but not the machine's.
//! * `rename(2)` replaces a name atomically: anyone looking sees the old
//!   file or the new one, never a mix. Compaction writes a whole new journal
//!   beside the old one, syncs it, renames it over the old, then syncs the
//!   directory, since the name lives in the directory, not in the file.
//!
//! A crash can only damage the end of the journal: an append that was
//! interrupted, or one whose blocks reached the disk only in part (a torn
//! write). Each record carries its length and a CRC of its payload, so
//! replay recognises the last intact record, and `open` cuts off whatever
//! follows it.
//!
//! # Format
//!
//! ```text
//! file:
//! +------------+----------+----------+-----
//! | "MSJOURN1" | record 0 | record 1 | ...
//! +------------+----------+----------+-----
//! 0            8
//!
//! record:
//! +-------------+-------------+---------------------------------+
//! | payload_len | crc32       | payload (payload_len bytes)     |
//! +-------------+-------------+---------------------------------+
//! 0             4             8
//! ```
//!
//! * 8 bytes: the magic `MSJOURN1`, so a file that is not a journal is
//!   refused rather than "repaired" (truncated) into one
//! * 4 bytes: `payload_len`, u32 big-endian, at most `MAX_RECORD_BYTES`
//! * 4 bytes: `crc32`, u32 big-endian, CRC-32 (IEEE, as zlib) of the payload
//! * `payload_len` bytes: the payload, opaque to this module
//!
//! # Replay
//!
//! Replay reads records from the start and stops at the first one that is
//! not intact: a short record header, a `payload_len` over
//! `MAX_RECORD_BYTES` or running past the end of the file, or a CRC
//! mismatch. That record and *everything after it* are the discarded tail,
//! even if intact-looking records follow. After a crash only the tail can be
//! damaged, so a bad record in the middle means the file was damaged some
//! other way; trying to resynchronise past it could replay a state change
//! without the ones before it, which is worse than losing the end.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

/// The first bytes of every journal file.
pub const MAGIC: &[u8; 8] = b"MSJOURN1";
/// Bytes before the first record: the magic.
pub const HEADER_BYTES: u64 = MAGIC.len() as u64;
/// Bytes before each record's payload: `payload_len` and `crc32`.
pub const RECORD_HEADER_BYTES: u64 = 8;
/// Largest payload `append` accepts and replay believes. Bounds what a
/// corrupt length field can make replay allocate.
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

/// An append-only journal file of records: each record is
/// `u32 big-endian payload length | u32 big-endian CRC32 of the payload | payload`.
/// The file starts with an 8-byte header: the magic bytes b"MSJOURN1".
///
/// After any failed write, sync or rewrite the journal refuses further
/// work: drop it and `open` the file again, which replays what really is
/// in the file.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    /// Opened with `O_APPEND`: every `write(2)` lands at the end of the file,
    /// wherever the file offset happens to be.
    writer: BufWriter<File>,
    /// Header plus every record, including those still in `writer`'s buffer.
    len: u64,
    records: u64,
    /// Why the journal refuses work, once a write or sync has failed.
    broken: Option<String>,
}

/// What `Journal::open` found in an existing file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replay {
    /// Every intact record's payload, in the order appended.
    pub records: Vec<Vec<u8>>,
    /// Bytes at the end that did not form an intact record (a torn or corrupt
    /// tail: a short header, a length running past the end of the file, a CRC
    /// mismatch). They are cut off (the file is truncated to the last intact
    /// record) so new records follow intact ones. 0 when the file was clean.
    pub discarded_bytes: u64,
}

/// What reading a journal file found, before anything is changed on disk.
struct Scan {
    records: Vec<Vec<u8>>,
    /// Offset just past the last intact record (0 if not even the header is
    /// whole): where the file will be cut.
    intact_len: u64,
    /// Why the bytes after `intact_len` were not a record; `None` when there
    /// are none.
    tail: Option<&'static str>,
}

impl Journal {
    /// Opens (creating it and its directory if missing) the journal at
    /// `path`, reads every intact record, truncates a torn/corrupt tail, and
    /// positions for appending. A file that exists but has a wrong magic is
    /// an error (a file that is not ours is never truncated). An empty file
    /// (0 bytes, e.g. a crash right after create), or one holding only the
    /// start of the magic (a crash while writing it), is a fresh journal.
    ///
    /// Also removes `PATH.tmp`, left behind if a `rewrite` crashed before
    /// its rename: the old journal is then still the complete one.
    pub fn open(path: &Path) -> Result<(Journal, Replay), String> {
        let fail = |what: &str, e: io::Error| format!("journal {}: {what}: {e}", path.display());
        let dir = parent_dir(path);
        fs::create_dir_all(dir).map_err(|e| {
            format!(
                "journal {}: cannot create directory {}: {e}",
                path.display(),
                dir.display()
            )
        })?;
        let tmp = temp_path(path);
        match fs::remove_file(&tmp) {
            Ok(()) => crate::event!(
                Debug,
                "journal",
                "stale_rewrite_removed",
                file = tmp.display()
            ),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                return Err(format!(
                    "journal {}: cannot remove stale {}: {e}",
                    path.display(),
                    tmp.display()
                ))
            }
        }

        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| fail("cannot open", e))?;
        let file_len = file
            .metadata()
            .map_err(|e| fail("cannot read metadata", e))?
            .len();
        let scan = scan(&file, file_len, path)?;
        let discarded_bytes = file_len - scan.intact_len;

        if let Some(reason) = scan.tail {
            // Debug only: the caller reports `discarded_bytes` as it sees
            // fit; this adds why, for whoever runs with `--verbose`.
            crate::event!(
                Debug,
                "journal",
                "tail_discarded",
                file = path.display(),
                offset = scan.intact_len,
                bytes = discarded_bytes,
                reason = reason
            );
            // Cut the tail so new records follow the last intact one, and
            // make the cut durable: otherwise a crash could bring the old
            // tail back *behind* records appended after this open. The size
            // is metadata, so `sync_all` rather than `sync_data`.
            file.set_len(scan.intact_len)
                .and_then(|()| file.sync_all())
                .map_err(|e| fail("cannot truncate the torn tail", e))?;
        }

        let mut writer = BufWriter::new(file);
        if scan.intact_len == 0 {
            // A fresh journal: write the header, then sync the file and its
            // directory, so the new name cannot vanish in a power cut along
            // with records later synced into it.
            writer
                .write_all(MAGIC)
                .and_then(|()| writer.flush())
                .and_then(|()| writer.get_ref().sync_data())
                .map_err(|e| fail("cannot write the header", e))?;
            sync_dir(dir).map_err(|e| {
                format!(
                    "journal {}: cannot sync directory {}: {e}",
                    path.display(),
                    dir.display()
                )
            })?;
        }

        let journal = Journal {
            path: path.to_path_buf(),
            writer,
            len: scan.intact_len.max(HEADER_BYTES),
            records: scan.records.len() as u64,
            broken: None,
        };
        let replay = Replay {
            records: scan.records,
            discarded_bytes,
        };
        Ok((journal, replay))
    }

    /// Appends one record (buffered in the process; not yet durable).
    /// Records larger than `MAX_RECORD_BYTES` (16 MiB) are refused with an error.
    pub fn append(&mut self, payload: &[u8]) -> Result<(), String> {
        self.check_usable()?;
        self.check_size(payload)?;
        let result = write_record(&mut self.writer, payload);
        // A failed write may have left part of a record in the file; any
        // record appended after it would be lost behind it on replay.
        self.fail_on_error(result, "write failed")?;
        self.len += RECORD_HEADER_BYTES + payload.len() as u64;
        self.records += 1;
        Ok(())
    }

    /// Hands every appended record to the kernel (`write(2)`), without
    /// waiting for the disk: enough to survive the process being killed,
    /// not a power loss.
    pub fn flush(&mut self) -> Result<(), String> {
        self.check_usable()?;
        let result = self.writer.flush();
        self.fail_on_error(result, "write failed")
    }

    /// Makes every appended record durable: write(2) what is buffered, then
    /// fdatasync (`sync_data`).
    ///
    /// If it fails, the journal refuses further work: after a failed fsync
    /// Linux may already have marked the unwritten pages clean, so a retry
    /// can "succeed" with the data lost. Reopening replays what is truly in
    /// the file.
    pub fn sync(&mut self) -> Result<(), String> {
        self.check_usable()?;
        let result = self
            .writer
            .flush()
            .and_then(|()| self.writer.get_ref().sync_data());
        self.fail_on_error(result, "sync failed")
    }

    /// Replaces the whole journal with `records` (a compacted snapshot):
    /// writes them to `PATH.tmp` with the header, syncs it, renames it over
    /// `path`, syncs the directory, and continues appending to the new file.
    /// A crash at any point leaves either the old or the new journal
    /// complete, never a mix.
    ///
    /// Records appended but not yet synced are dropped with the old file:
    /// the snapshot replaces them.
    pub fn rewrite(&mut self, records: &[Vec<u8>]) -> Result<(), String> {
        self.check_usable()?;
        // Refuse a bad snapshot before touching the disk.
        for payload in records {
            self.check_size(payload)?;
        }
        let tmp = temp_path(&self.path);
        let new_writer = match write_snapshot(&tmp, records) {
            Ok(writer) => writer,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(format!(
                    "journal {}: cannot write snapshot {}: {e}",
                    self.path.display(),
                    tmp.display()
                ));
            }
        };
        if let Err(e) = fs::rename(&tmp, &self.path) {
            // Nothing changed: the old journal and its writer are intact.
            let _ = fs::remove_file(&tmp);
            return Err(format!(
                "journal {}: cannot rename {} over it: {e}",
                self.path.display(),
                tmp.display()
            ));
        }

        // The rename is done: the name now refers to the new file, and the
        // open descriptor of `tmp` follows the file, not its old name, so it
        // appends to the new journal. The old file lives on only through
        // the old descriptor; discard its unflushed buffer rather than
        // write it into a file about to be freed.
        let old_writer = std::mem::replace(&mut self.writer, new_writer);
        let _ = old_writer.into_parts();
        self.len = HEADER_BYTES
            + records
                .iter()
                .map(|r| RECORD_HEADER_BYTES + r.len() as u64)
                .sum::<u64>();
        self.records = records.len() as u64;

        // Until the directory is synced, a power cut may still bring back
        // the old name. If that sync fails we cannot tell which file a
        // restart would see, so the journal is closed for business.
        let result = sync_dir(parent_dir(&self.path));
        self.fail_on_error(result, "cannot sync its directory after rename")
    }

    /// Bytes in the file now (header included), for deciding when to
    /// compact. Counts records appended but not yet synced.
    #[allow(clippy::len_without_is_empty)] // never empty: there is always the header
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Records in the file: those replayed by `open` (or written by the last
    /// `rewrite`) plus those appended since.
    pub fn records(&self) -> u64 {
        self.records
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn check_usable(&self) -> Result<(), String> {
        match &self.broken {
            None => Ok(()),
            Some(why) => Err(format!(
                "journal {}: unusable after an earlier failure ({why}); reopen it",
                self.path.display()
            )),
        }
    }

    fn check_size(&self, payload: &[u8]) -> Result<(), String> {
        if payload.len() > MAX_RECORD_BYTES {
            return Err(format!(
                "journal {}: a record of {} bytes is larger than the {MAX_RECORD_BYTES}-byte limit",
                self.path.display(),
                payload.len()
            ));
        }
        Ok(())
    }

    /// Turns an I/O error into this journal's error and marks it unusable.
    fn fail_on_error(&mut self, result: io::Result<()>, what: &str) -> Result<(), String> {
        result.map_err(|e| {
            let why = format!("{what}: {e}");
            self.broken = Some(why.clone());
            format!("journal {}: {why}", self.path.display())
        })
    }
}

/// Reads the header and every intact record of `file` (`file_len` bytes).
/// Only a wrong magic or a failing `read` is an error; a damaged tail is
/// reported in `Scan::tail`.
fn scan(file: &File, file_len: u64, path: &Path) -> Result<Scan, String> {
    let read_err = |offset: u64, e: io::Error| {
        format!(
            "journal {}: read failed at offset {offset}: {e}",
            path.display()
        )
    };
    let mut reader = BufReader::new(file);

    // The header. Fewer than 8 bytes that begin the magic are a creation
    // cut short by a crash; anything else is somebody else's file.
    let header_len = file_len.min(HEADER_BYTES) as usize;
    let mut header = [0u8; MAGIC.len()];
    reader
        .read_exact(&mut header[..header_len])
        .map_err(|e| read_err(0, e))?;
    if header[..header_len] != MAGIC[..header_len] {
        return Err(format!(
            "journal {}: not a journal: it starts with \"{}\", not \"{}\"",
            path.display(),
            header[..header_len].escape_ascii(),
            MAGIC.escape_ascii()
        ));
    }
    if file_len < HEADER_BYTES {
        return Ok(Scan {
            records: Vec::new(),
            intact_len: 0,
            tail: (file_len > 0).then_some("incomplete header"),
        });
    }

    let mut records = Vec::new();
    let mut offset = HEADER_BYTES;
    let tail = loop {
        let remaining = file_len - offset;
        if remaining == 0 {
            break None;
        }
        if remaining < RECORD_HEADER_BYTES {
            break Some("incomplete record header");
        }
        let mut record_header = [0u8; RECORD_HEADER_BYTES as usize];
        reader
            .read_exact(&mut record_header)
            .map_err(|e| read_err(offset, e))?;
        let [l0, l1, l2, l3, c0, c1, c2, c3] = record_header;
        let payload_len = u32::from_be_bytes([l0, l1, l2, l3]);
        let crc = u32::from_be_bytes([c0, c1, c2, c3]);
        // Check the length before allocating anything for it: a corrupt
        // field could ask for 4 GiB.
        if payload_len as usize > MAX_RECORD_BYTES {
            break Some("record length over the limit");
        }
        if u64::from(payload_len) > remaining - RECORD_HEADER_BYTES {
            break Some("record runs past the end of the file");
        }
        let mut payload = vec![0u8; payload_len as usize];
        reader
            .read_exact(&mut payload)
            .map_err(|e| read_err(offset + RECORD_HEADER_BYTES, e))?;
        if crc32fast::hash(&payload) != crc {
            break Some("CRC mismatch");
        }
        records.push(payload);
        offset += RECORD_HEADER_BYTES + u64::from(payload_len);
    };
    Ok(Scan {
        records,
        intact_len: offset,
        tail,
    })
}

/// Writes one record's header and payload (the caller checked the size).
fn write_record(out: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    let mut header = [0u8; RECORD_HEADER_BYTES as usize];
    header[..4].copy_from_slice(&(payload.len() as u32).to_be_bytes());
    header[4..].copy_from_slice(&crc32fast::hash(payload).to_be_bytes());
    out.write_all(&header)?;
    out.write_all(payload)
}

/// Writes a complete journal holding `records` to `tmp` (replacing any
/// file there) and makes it durable. Returns the writer, ready to append.
fn write_snapshot(tmp: &Path, records: &[Vec<u8>]) -> io::Result<BufWriter<File>> {
    // `O_APPEND` like the journal `open` returns; std refuses `truncate`
    // together with `append`, hence `set_len(0)`.
    let file = OpenOptions::new().append(true).create(true).open(tmp)?;
    file.set_len(0)?;
    let mut writer = BufWriter::new(file);
    writer.write_all(MAGIC)?;
    for payload in records {
        write_record(&mut writer, payload)?;
    }
    writer.flush()?;
    // The data must be on disk before the rename makes it *the* journal;
    // otherwise a power cut could leave the new name on an empty file.
    writer.get_ref().sync_data()?;
    Ok(writer)
}

/// `PATH.tmp`: where `rewrite` builds the new journal. Same directory, so
/// the rename stays within one file system (a cross-device rename fails).
fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// fsyncs a directory, making the names created or renamed in it durable.
/// Some platforms and file systems cannot fsync a directory and say so with
/// `EINVAL` or `EISDIR` (or "unsupported"); there is nothing more we can do
/// there, so those errors are ignored. Any other error is real.
fn sync_dir(dir: &Path) -> io::Result<()> {
    let handle = File::open(dir)?;
    match handle.sync_all() {
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::InvalidInput | ErrorKind::IsADirectory | ErrorKind::Unsupported
            ) =>
        {
            Ok(())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// A directory under the system temp dir named for this process and
    /// test, removed when dropped (also when the test panics).
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(test: &str) -> TempDir {
            let path = std::env::temp_dir()
                .join(format!("minispark-journal-{}-{test}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            TempDir(path)
        }

        fn journal(&self) -> PathBuf {
            self.0.join("master.journal")
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Record `i` of a test: distinct contents and lengths (some empty).
    fn record(i: usize) -> Vec<u8> {
        if i.is_multiple_of(5) {
            Vec::new()
        } else {
            format!("state-change-{i}-{}", "x".repeat(i % 7)).into_bytes()
        }
    }

    fn records(range: std::ops::Range<usize>) -> Vec<Vec<u8>> {
        range.map(record).collect()
    }

    /// Writes `records` to a new journal at `path`, synced; returns the file
    /// offset where each record starts, and the file length.
    fn write_journal(path: &Path, records: &[Vec<u8>]) -> (Vec<u64>, u64) {
        let (mut journal, replay) = Journal::open(path).unwrap();
        assert_eq!(replay, Replay::default());
        let mut starts = Vec::new();
        for r in records {
            starts.push(journal.len());
            journal.append(r).unwrap();
        }
        journal.sync().unwrap();
        assert_eq!(journal.len(), fs::metadata(path).unwrap().len());
        (starts, journal.len())
    }

    fn reopen(path: &Path) -> Replay {
        let (journal, replay) = Journal::open(path).unwrap();
        assert_eq!(journal.len(), fs::metadata(path).unwrap().len());
        assert_eq!(journal.records(), replay.records.len() as u64);
        replay
    }

    #[test]
    fn appended_records_survive_reopen() {
        let dir = TempDir::new("reopen");
        let path = dir.journal();
        write_journal(&path, &records(0..20));

        let (mut journal, replay) = Journal::open(&path).unwrap();
        assert_eq!(replay.records, records(0..20));
        assert_eq!(replay.discarded_bytes, 0);
        assert_eq!(journal.records(), 20);
        for r in records(20..30) {
            journal.append(&r).unwrap();
        }
        assert_eq!(journal.records(), 30);
        journal.sync().unwrap();
        assert_eq!(journal.path(), path);
        drop(journal);

        let replay = reopen(&path);
        assert_eq!(replay.records, records(0..30));
        assert_eq!(replay.discarded_bytes, 0);
    }

    /// `kill -9` ends the master without running a destructor, so what sits
    /// in the journal's `BufWriter` (memory of the process) dies with it;
    /// what `flush` or `sync` handed to the kernel with `write(2)` stays.
    /// `mem::forget` is that kill for one object: no `Drop`, no flush.
    #[test]
    fn a_kill_loses_what_was_buffered_never_what_was_synced_or_flushed() {
        let dir = TempDir::new("kill");
        let path = dir.journal();
        let (mut journal, _) = Journal::open(&path).unwrap();
        journal.append(&record(1)).unwrap();
        journal.flush().unwrap();
        journal.append(&record(2)).unwrap();
        journal.sync().unwrap();
        journal.append(&record(3)).unwrap();
        std::mem::forget(journal);

        let replay = reopen(&path);
        assert_eq!(
            replay.records,
            records(1..3),
            "after a kill, every record appended before a flush or a sync is \
             in the file, and the one only appended is not"
        );
    }

    #[test]
    fn torn_tail_at_every_offset_is_cut_off() {
        let dir = TempDir::new("torn");
        let path = dir.journal();
        let written = records(1..6);
        let (starts, full_len) = write_journal(&path, &written);
        let whole = fs::read(&path).unwrap();
        let last_start = *starts.last().unwrap();

        // Keep 1 .. all-but-one bytes of the last record.
        for cut in last_start + 1..full_len {
            fs::write(&path, &whole[..cut as usize]).unwrap();
            let replay = reopen(&path);
            assert_eq!(replay.records, written[..4], "cut at {cut}");
            assert_eq!(replay.discarded_bytes, cut - last_start, "cut at {cut}");
            assert_eq!(fs::metadata(&path).unwrap().len(), last_start);

            let (mut journal, _) = Journal::open(&path).unwrap();
            journal.append(b"after the crash").unwrap();
            journal.sync().unwrap();
            drop(journal);
            let replay = reopen(&path);
            let mut expected = written[..4].to_vec();
            expected.push(b"after the crash".to_vec());
            assert_eq!(replay.records, expected, "cut at {cut}");
            assert_eq!(replay.discarded_bytes, 0);
        }
    }

    /// A bad record ends the replay: it and everything after it are the
    /// discarded tail, even records that are intact (see the module doc).
    #[test]
    fn corrupt_record_drops_it_and_everything_after() {
        let dir = TempDir::new("corrupt");
        let path = dir.journal();
        let written = records(1..10);
        assert!(!written[3].is_empty() && !written[8].is_empty());
        let (starts, full_len) = write_journal(&path, &written);
        let whole = fs::read(&path).unwrap();

        // A bit flipped in the last record's payload.
        let mut bytes = whole.clone();
        bytes[(starts[8] + RECORD_HEADER_BYTES) as usize] ^= 0x10;
        fs::write(&path, &bytes).unwrap();
        let replay = reopen(&path);
        assert_eq!(replay.records, written[..8]);
        assert_eq!(replay.discarded_bytes, full_len - starts[8]);

        // A bit flipped in a middle record's payload: records 4..9 behind it
        // are intact, but are dropped with it.
        let mut bytes = whole.clone();
        bytes[(starts[3] + RECORD_HEADER_BYTES + 2) as usize] ^= 0x01;
        fs::write(&path, &bytes).unwrap();
        let replay = reopen(&path);
        assert_eq!(replay.records, written[..3]);
        assert_eq!(replay.discarded_bytes, full_len - starts[3]);
        assert_eq!(fs::metadata(&path).unwrap().len(), starts[3]);

        // A bit flipped in a CRC field.
        let mut bytes = whole;
        bytes[(starts[6] + 5) as usize] ^= 0x80;
        fs::write(&path, &bytes).unwrap();
        let replay = reopen(&path);
        assert_eq!(replay.records, written[..6]);
    }

    #[test]
    fn bogus_length_is_not_believed() {
        let dir = TempDir::new("bogus");
        let path = dir.journal();
        let written = records(1..4);
        let (_, full_len) = write_journal(&path, &written);
        let whole = fs::read(&path).unwrap();

        for bogus_len in [
            u32::MAX,
            MAX_RECORD_BYTES as u32 + 1,
            MAX_RECORD_BYTES as u32,
            100,
        ] {
            let mut bytes = whole.clone();
            bytes.extend_from_slice(&bogus_len.to_be_bytes());
            bytes.extend_from_slice(&crc32fast::hash(b"tiny").to_be_bytes());
            bytes.extend_from_slice(b"tiny");
            fs::write(&path, &bytes).unwrap();
            let replay = reopen(&path);
            assert_eq!(replay.records, written, "length {bogus_len}");
            assert_eq!(replay.discarded_bytes, 12);
            assert_eq!(fs::metadata(&path).unwrap().len(), full_len);
        }

        let (mut journal, _) = Journal::open(&path).unwrap();
        let err = journal.append(&vec![0; MAX_RECORD_BYTES + 1]).unwrap_err();
        assert!(err.contains("limit"), "{err}");
        assert_eq!(journal.records(), 3);
        journal.append(&[]).unwrap();
        journal.sync().unwrap();
    }

    #[test]
    fn wrong_magic_is_refused_and_empty_file_is_fresh() {
        let dir = TempDir::new("magic");
        let path = dir.journal();
        fs::create_dir_all(&dir.0).unwrap();

        fs::write(&path, b"NOTOURS!and some data").unwrap();
        let err = Journal::open(&path).unwrap_err();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("not a journal"), "{err}");
        // Left alone.
        assert_eq!(fs::read(&path).unwrap(), b"NOTOURS!and some data");

        fs::write(&path, b"abc").unwrap();
        assert!(Journal::open(&path).is_err());

        fs::write(&path, b"").unwrap();
        let (journal, replay) = Journal::open(&path).unwrap();
        assert_eq!(replay, Replay::default());
        assert_eq!(journal.len(), HEADER_BYTES);
        assert_eq!(fs::read(&path).unwrap(), MAGIC);
        drop(journal);

        // A header cut short while it was being written.
        fs::write(&path, &MAGIC[..3]).unwrap();
        let replay = reopen(&path);
        assert!(replay.records.is_empty());
        assert_eq!(replay.discarded_bytes, 3);
        assert_eq!(fs::read(&path).unwrap(), MAGIC);
    }

    #[test]
    fn rewrite_replaces_the_journal() {
        let dir = TempDir::new("rewrite");
        let path = dir.journal();
        let (mut journal, _) = Journal::open(&path).unwrap();
        for r in records(0..50) {
            journal.append(&r).unwrap();
        }
        journal.sync().unwrap();
        journal.append(b"unsynced, superseded").unwrap();

        let snapshot = records(100..105);
        journal.rewrite(&snapshot).unwrap();
        assert_eq!(journal.records(), 5);
        assert_eq!(journal.len(), fs::metadata(&path).unwrap().len());
        assert!(!temp_path(&path).exists());
        let replay = reopen(&path);
        assert_eq!(replay.records, snapshot);
        assert_eq!(replay.discarded_bytes, 0);

        journal.append(b"after compaction").unwrap();
        journal.sync().unwrap();
        assert_eq!(journal.records(), 6);
        assert_eq!(journal.len(), fs::metadata(&path).unwrap().len());
        drop(journal);
        let mut expected = snapshot.clone();
        expected.push(b"after compaction".to_vec());
        assert_eq!(reopen(&path).records, expected);

        // An empty snapshot, and a stale PATH.tmp from a crashed rewrite.
        let (mut journal, _) = Journal::open(&path).unwrap();
        journal.rewrite(&[]).unwrap();
        assert_eq!(journal.len(), HEADER_BYTES);
        drop(journal);
        fs::write(temp_path(&path), b"half a snapshot").unwrap();
        assert_eq!(reopen(&path), Replay::default());
        assert!(!temp_path(&path).exists());
        let names: Vec<_> = fs::read_dir(&dir.0).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    /// Random journals, randomly cut and corrupted: `open` never panics,
    /// replays a prefix of what was written (exactly the records before the
    /// damage, when there is one cut or one bad byte), and appending after it
    /// works.
    #[test]
    fn random_damage_replays_a_prefix() {
        let dir = TempDir::new("fuzz");
        let path = dir.journal();
        let mut rng = Rng::new(0x6a6f_7572);
        for round in 0..300 {
            let _ = fs::remove_file(&path);
            let written: Vec<Vec<u8>> = (0..rng.below(20))
                .map(|_| {
                    let len = if rng.below(10) == 0 {
                        rng.below(3000)
                    } else {
                        rng.below(40)
                    };
                    (0..len).map(|_| rng.below(256) as u8).collect()
                })
                .collect();
            let (starts, full_len) = write_journal(&path, &written);
            let mut bytes = fs::read(&path).unwrap();

            // Where the first damage is, if the damage is a single event.
            let mut single_damage = None;
            match rng.below(4) {
                0 => {
                    let cut = rng.below(full_len + 1);
                    bytes.truncate(cut as usize);
                    single_damage = Some(cut);
                }
                1 => {
                    let at = rng.below(full_len);
                    bytes[at as usize] ^= 1 + rng.below(255) as u8;
                    single_damage = Some(at);
                }
                2 => {
                    for _ in 0..1 + rng.below(5) {
                        let at = rng.below(bytes.len() as u64) as usize;
                        bytes[at] ^= 1 + rng.below(255) as u8;
                    }
                    bytes.truncate(rng.below(bytes.len() as u64 + 1) as usize);
                }
                _ => {
                    for _ in 0..rng.below(30) {
                        bytes.push(rng.below(256) as u8);
                    }
                }
            }
            fs::write(&path, &bytes).unwrap();

            let replay = match Journal::open(&path) {
                Ok((_, replay)) => replay,
                Err(err) => {
                    // Only a damaged magic is an error.
                    assert!(
                        !MAGIC.starts_with(&bytes[..bytes.len().min(MAGIC.len())]),
                        "round {round}: {err}"
                    );
                    assert!(err.contains(&path.display().to_string()), "{err}");
                    continue;
                }
            };
            let n = replay.records.len();
            assert!(n <= written.len(), "round {round}");
            assert_eq!(replay.records, written[..n], "round {round}");
            let intact_len: u64 = HEADER_BYTES
                + written[..n]
                    .iter()
                    .map(|r| RECORD_HEADER_BYTES + r.len() as u64)
                    .sum::<u64>();
            if bytes.len() < MAGIC.len() {
                // A cut inside the header: a fresh journal.
                assert_eq!(n, 0, "round {round}");
                assert_eq!(replay.discarded_bytes, bytes.len() as u64);
            } else {
                assert_eq!(replay.discarded_bytes, bytes.len() as u64 - intact_len);
            }
            if let Some(at) = single_damage.filter(|&at| at >= HEADER_BYTES) {
                // Kept: exactly the records that end at or before the damage.
                let whole_before = starts
                    .iter()
                    .zip(&written)
                    .filter(|&(&start, r)| start + RECORD_HEADER_BYTES + r.len() as u64 <= at)
                    .count();
                assert_eq!(n, whole_before, "round {round}");
            }

            let (mut journal, _) = Journal::open(&path).unwrap();
            journal.append(b"new").unwrap();
            journal.sync().unwrap();
            drop(journal);
            let mut expected = written[..n].to_vec();
            expected.push(b"new".to_vec());
            assert_eq!(reopen(&path).records, expected, "round {round}");
        }
    }
}
