//! Input splits: cutting input files into byte ranges that tasks read in
//! parallel (Hadoop's `FileInputFormat` + `LineRecordReader`).
//!
//! OS idea: a file is an array of bytes, not of lines. `lseek` lets many
//! readers start anywhere in it, so a split is just `(path, start, len)` and
//! costs nothing to make. Line boundaries are recovered while reading with
//! one rule that needs no coordination between splits:
//!
//! > a split owns every line whose first byte lies in `[start, start+len)`.
//!
//! So a reader starting at `start > 0` seeks to `start - 1` and throws away
//! everything through the first `\n` (that line started earlier, in the
//! previous split; if the byte at `start - 1` is itself `\n`, the line at
//! `start` is ours and only that byte is dropped). It then reads lines while
//! the next line starts before `start + len`, reading past the end of its
//! range to finish the last one. Every line is read exactly once.
//!
//! Reading goes through one large buffer with our own newline scan: one
//! `read(2)` per 256 KiB instead of one per line, and no allocation per line.
//! The reader can also watch for one byte (a CSV reader's `"`) and say
//! which lines hold it, so that lines without it skip quote handling: the
//! buffer is searched for that byte (eight bytes a step) from one
//! occurrence to the next, so a file without it costs one pass over each
//! 256 KiB read, not a search per line.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::job::find_byte;

/// Bytes asked of the kernel per `read(2)`. The buffer grows past this only
/// to hold a single line longer than it.
const READ_BUF_BYTES: usize = 256 * 1024;

/// A byte range of one file; the unit of work of a map task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub path: String,
    /// Offset of the first byte of the range.
    pub start: u64,
    /// Bytes in the range; lines starting in it may run past its end.
    pub len: u64,
}

/// Lists an input: a regular file, or a directory meaning all its regular,
/// non-hidden files (names not starting with `.` or `_`, as Hadoop skips
/// them: `_SUCCESS`, the checksums `.part-00000.crc`, the `_temporary/` of
/// a job still writing), sorted by name, not recursive, so that a Spark
/// output directory reads as its lines in order. Part files are ordered by
/// their number (`part_order`). Returns each file with its size in bytes.
/// Every file is opened once, so one the submitter cannot read (or one
/// compressed with gzip, which is not text) is refused now rather than
/// failing the job later.
///
/// # Errors
///
/// Names the path and the reason: missing, unreadable, a broken symbolic
/// link, a directory with no files, not a regular file (a FIFO or device
/// has no size to split), or compressed with gzip (`part-00000.gz`, or
/// gzip's magic bytes).
pub fn list_input(path: &Path) -> Result<Vec<(PathBuf, u64)>, String> {
    let meta = fs::metadata(path).map_err(|e| stat_error(path, &e))?;
    if meta.is_file() {
        plain_text(path)?;
        return Ok(vec![(path.to_path_buf(), meta.len())]);
    }
    if !meta.is_dir() {
        return Err(format!(
            "input {}: not a regular file or directory",
            path.display()
        ));
    }
    let entries = fs::read_dir(path).map_err(|e| format!("input {}: {e}", path.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("input {}: {e}", path.display()))?;
        let name = entry.file_name();
        let hidden = name
            .as_encoded_bytes()
            .first()
            .is_some_and(|b| *b == b'.' || *b == b'_');
        if hidden {
            continue;
        }
        let file = entry.path();
        // `fs::metadata` follows symlinks: a link to a file counts as a file.
        let meta = fs::metadata(&file).map_err(|e| stat_error(&file, &e))?;
        if meta.is_file() {
            plain_text(&file)?;
            files.push((file, meta.len()));
        }
    }
    if files.is_empty() {
        return Err(format!(
            "input {}: directory has no input files (only its regular files are read, \
             not subdirectories, and not names starting with `.` or `_`)",
            path.display()
        ));
    }
    files.sort_by(|(a, _), (b, _)| {
        let name = |p: &Path| {
            p.file_name()
                .map(|n| n.as_encoded_bytes().to_vec())
                .unwrap_or_default()
        };
        part_order(&name(a))
            .cmp(&part_order(&name(b)))
            .then_with(|| a.cmp(b))
    });
    Ok(files)
}

/// The key that orders the files of a directory: the name's bytes, but
/// with the number of a part file (`part-00000`, Spark's and Mini-Spark's
/// `part-%05d`, or `part-00000-<uuid>-c000.txt`) compared as a number, so
/// that `part-100000` comes after `part-99999` as it does in the output.
/// The digits lose their leading zeros and gain their count in front.
fn part_order(name: &[u8]) -> Vec<u8> {
    let Some(rest) = name.strip_prefix(b"part-") else {
        return name.to_vec();
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return name.to_vec();
    }
    let number = &rest[..digits];
    let significant = match number.iter().position(|&b| b != b'0') {
        Some(first) => &number[first..],
        None => &number[digits - 1..],
    };
    let mut key = b"part-".to_vec();
    key.push(u8::try_from(significant.len()).unwrap_or(u8::MAX));
    key.extend_from_slice(significant);
    key.extend_from_slice(&rest[digits..]);
    key
}

/// gzip's first two bytes (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Checks that a file can be read as text: it opens, and is not compressed
/// with gzip (Spark's `saveAsTextFile` with a codec writes `part-00000.gz`).
fn plain_text(path: &Path) -> Result<(), String> {
    readable(path)?;
    let gz = path.extension().is_some_and(|e| e == "gz");
    let mut magic = [0u8; 2];
    let starts = File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| magic == GZIP_MAGIC);
    if gz || starts {
        return Err(format!(
            "input {}: compressed with gzip ({}); read_text reads plain text: decompress it first (gunzip -k), or write it from Spark without a compression codec",
            path.display(),
            if gz { "its name ends in .gz" } else { "it starts with gzip's magic bytes" }
        ));
    }
    Ok(())
}

/// Why `path` could not be looked at; a symbolic link whose target is
/// missing says so, since the link itself is there to see.
fn stat_error(path: &Path, e: &io::Error) -> String {
    match fs::read_link(path) {
        Ok(target) => format!(
            "input {}: broken symbolic link to {}: {e}",
            path.display(),
            target.display()
        ),
        Err(_) => format!("input {}: {e}", path.display()),
    }
}

/// Checks that a regular file can be opened for reading.
fn readable(path: &Path) -> Result<(), String> {
    File::open(path)
        .map(drop)
        .map_err(|e| format!("input {}: cannot open for reading: {e}", path.display()))
}

/// Largest split `default_splits` makes, in bytes: Hadoop 1's block size.
/// A retried map task redoes at most this much.
pub const MAX_SPLIT_BYTES: u64 = 64 * 1024 * 1024;

/// How many splits an input of `total` bytes gets on `slots` task slots
/// when the job does not say: the fewest whole waves (every slot one split
/// per wave) whose splits are at most `MAX_SPLIT_BYTES`. One split per slot
/// for most inputs, as Spark sizes file splits by bytes per core: each map
/// task's fixed costs (its combiner table, sorting and writing its output,
/// a launch and a commit) are paid as few times as the slots allow.
pub fn default_splits(total: u64, slots: u32) -> usize {
    let slots = u64::from(slots.max(1));
    let waves = total.div_ceil(slots * MAX_SPLIT_BYTES).max(1);
    (slots * waves) as usize
}

/// Cuts files into about `target` splits in total. The split size is
/// `max(1, ceil(total_bytes / target))`; each file is cut into
/// `ceil(size / split_size)` pieces, at least one (an empty file gets one
/// split of length 0). Order: files in the order given, splits by offset.
///
/// Paths that are not valid UTF-8 are converted lossily.
pub fn plan_splits(files: &[(PathBuf, u64)], target: usize) -> Vec<Split> {
    let total: u64 = files.iter().map(|(_, size)| size).sum();
    let split_bytes = total.div_ceil(target.max(1) as u64).max(1);
    let mut splits = Vec::new();
    for (path, size) in files {
        let path = path.to_string_lossy().into_owned();
        let pieces = size.div_ceil(split_bytes).max(1);
        for i in 0..pieces {
            let start = i * split_bytes;
            splits.push(Split {
                path: path.clone(),
                start,
                len: split_bytes.min(size - start),
            });
        }
    }
    splits
}

/// Reads the lines a split owns (see the module comment for the rule).
///
/// Lines end with `\n` or `\r\n`, both stripped; a last line without a
/// newline counts (a lone `\r` at its end is kept, as `str::lines` does).
pub struct SplitReader {
    path: String,
    file: File,
    /// `buf[pos..filled]` holds bytes read but not yet consumed.
    buf: Vec<u8>,
    pos: usize,
    filled: usize,
    /// File offset of `buf[pos]`: where the next line starts.
    offset: u64,
    /// Lines starting at or past this offset belong to the next split.
    limit: u64,
    /// Offset of the first line we own, for `bytes_read`.
    first: u64,
    eof: bool,
    /// A byte to look for in each line (`watch`).
    watch: Option<u8>,
    /// `buf[pos..watch_scanned]` has been searched for the watched byte,
    /// which first occurs there at `watch_next`, if anywhere.
    watch_scanned: usize,
    watch_next: Option<usize>,
    /// Does the line last consumed hold the watched byte?
    watched: bool,
}

impl SplitReader {
    /// Opens the split's file and positions it at the first owned line.
    ///
    /// # Errors
    ///
    /// Names the path and the failing operation.
    pub fn open(split: &Split) -> Result<SplitReader, String> {
        let mut file = File::open(&split.path).map_err(|e| format!("open {}: {e}", split.path))?;
        let skip_from = split.start.saturating_sub(1);
        if skip_from > 0 {
            file.seek(SeekFrom::Start(skip_from))
                .map_err(|e| format!("seek {} to {skip_from}: {e}", split.path))?;
        }
        let mut reader = SplitReader {
            path: split.path.clone(),
            file,
            buf: vec![0; READ_BUF_BYTES],
            pos: 0,
            filled: 0,
            offset: skip_from,
            limit: split.start.saturating_add(split.len),
            first: split.start,
            eof: false,
            watch: None,
            watch_scanned: 0,
            watch_next: None,
            watched: false,
        };
        if split.start > 0 {
            // The partial line before our first one belongs to the previous
            // split. Out of bytes without a '\n' means we own no line.
            reader.next_raw()?;
            reader.first = reader.offset;
        }
        Ok(reader)
    }

    /// The next line without its terminator, or `None` at the end of the
    /// split. The slice points into an internal buffer and is valid until
    /// the next call.
    ///
    /// # Errors
    ///
    /// A failed `read(2)`, naming the path.
    pub fn next_line(&mut self) -> Result<Option<&[u8]>, String> {
        Ok(self.next_line_watched()?.map(|(line, _)| line))
    }

    /// Makes the reader look for `byte` in each line: `next_line_watched`
    /// then says whether the line holds it.
    pub fn watch(&mut self, byte: u8) {
        self.watch = Some(byte);
    }

    /// As `next_line`, with whether the line holds the byte given to
    /// `watch` (always `false` without one).
    ///
    /// # Errors
    ///
    /// A failed `read(2)`, naming the path.
    pub fn next_line_watched(&mut self) -> Result<Option<(&[u8], bool)>, String> {
        if self.offset >= self.limit {
            return Ok(None);
        }
        let Some((start, end)) = self.next_raw()? else {
            return Ok(None);
        };
        let mut line = &self.buf[start..end];
        if let Some((b'\n', rest)) = line.split_last() {
            line = rest;
            if let Some((b'\r', rest)) = line.split_last() {
                line = rest;
            }
        }
        Ok(Some((line, self.watched)))
    }

    /// The file offset where the next line starts: before `next_line`, the
    /// offset of the line it returns.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes of the lines this reader has returned, terminators included.
    /// Over all splits of a file these add up to the file's size (which the
    /// tests check).
    #[cfg(test)]
    pub fn bytes_read(&self) -> u64 {
        self.offset.saturating_sub(self.first)
    }

    /// Consumes one line with its terminator and returns its range in
    /// `buf`, or `None` when the file is exhausted.
    fn next_raw(&mut self) -> Result<Option<(usize, usize)>, String> {
        let mut scanned = self.pos;
        loop {
            if let Some(i) = find_newline(&self.buf[scanned..self.filled]) {
                return Ok(Some(self.consume(scanned + i + 1)));
            }
            scanned = self.filled;
            if self.eof {
                if self.pos == self.filled {
                    return Ok(None);
                }
                return Ok(Some(self.consume(self.filled)));
            }
            scanned -= self.pos;
            self.refill()?;
        }
    }

    /// Marks `buf[pos..end]` consumed and returns that range.
    fn consume(&mut self, end: usize) -> (usize, usize) {
        let start = self.pos;
        if let Some(byte) = self.watch {
            self.watched = match self.watch_next {
                // Searched past the line's end and not found, or found after it.
                None if self.watch_scanned >= end => false,
                Some(at) if at >= end => false,
                _ => self.watched_before(byte, end),
            };
        }
        self.pos = end;
        self.offset += (end - start) as u64;
        (start, end)
    }

    /// Does `buf[pos..end]` hold `byte`? Searches on from where the last
    /// search stopped, and only as far as the next occurrence.
    #[inline(never)]
    fn watched_before(&mut self, byte: u8, end: usize) -> bool {
        loop {
            match self.watch_next {
                Some(at) if at < end => {
                    // The next line's search starts after this one.
                    self.watch_next = None;
                    self.watch_scanned = end;
                    return true;
                }
                Some(_) => return false,
                None if self.watch_scanned >= end => return false,
                None => {
                    let from = self.watch_scanned.max(self.pos);
                    let rest = &self.buf[from..self.filled];
                    self.watch_next = find_byte(byte, rest).map(|i| from + i);
                    self.watch_scanned = self.filled;
                }
            }
        }
    }

    /// Moves unconsumed bytes to the front of the buffer (growing it if one
    /// line fills all of it) and reads more after them.
    fn refill(&mut self) -> Result<(), String> {
        self.buf.copy_within(self.pos..self.filled, 0);
        self.filled -= self.pos;
        self.watch_scanned = self.watch_scanned.saturating_sub(self.pos);
        self.watch_next = self.watch_next.map(|at| at.saturating_sub(self.pos));
        self.pos = 0;
        if self.filled == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.file.read(&mut self.buf[self.filled..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.filled += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("read {}: {e}", self.path)),
            }
        }
    }
}

/// The first line of the file at `path` (a CSV header), without its line
/// end; `None` for an empty file.
///
/// # Errors
/// Names the path and the failing operation.
pub fn first_line(path: &str) -> Result<Option<Vec<u8>>, String> {
    let split = Split {
        path: path.to_string(),
        start: 0,
        len: 1,
    };
    let mut reader = SplitReader::open(&split)?;
    Ok(reader.next_line()?.map(<[u8]>::to_vec))
}

/// The number, from 1, of the line of the file at `path` that starts at
/// byte `offset`: one more than the newlines before it. Reads the file up
/// to there, so it is for error messages, not for every line.
///
/// # Errors
/// Names the path and the failing operation.
pub fn line_number(path: &str, offset: u64) -> Result<u64, String> {
    let file = File::open(path).map_err(|e| format!("open {path}: {e}"))?;
    let mut before = file.take(offset);
    let mut buf = vec![0; READ_BUF_BYTES];
    let mut newlines = 0;
    loop {
        let n = match before.read(&mut buf) {
            Ok(0) => return Ok(newlines + 1),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("read {path}: {e}")),
        };
        let mut rest = &buf[..n];
        while let Some(i) = find_newline(rest) {
            newlines += 1;
            rest = &rest[i + 1..];
        }
    }
}

/// Index of the first `\n` in `bytes`, eight bytes a step (`find_byte`),
/// several times faster than a byte loop on long lines.
#[inline]
fn find_newline(bytes: &[u8]) -> Option<usize> {
    find_byte(b'\n', bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("minispark-split-{tag}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
            let path = self.0.join(name);
            fs::write(&path, bytes).unwrap();
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// The oracle: the file's lines by the same rules, computed naively.
    fn expected_lines(bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut lines: Vec<Vec<u8>> = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let line = rest[..i].strip_suffix(b"\r").unwrap_or(&rest[..i]);
                    lines.push(line.to_vec());
                    rest = &rest[i + 1..];
                }
                None => {
                    lines.push(rest.to_vec());
                    rest = &[];
                }
            }
        }
        lines
    }

    /// The split's lines, read twice: plainly, and watching for `"`, whose
    /// flag must say exactly which lines hold one.
    fn read_split(split: &Split) -> (Vec<Vec<u8>>, u64) {
        let mut reader = SplitReader::open(split).unwrap();
        let mut lines = Vec::new();
        while let Some(line) = reader.next_line().unwrap() {
            lines.push(line.to_vec());
        }
        let mut watching = SplitReader::open(split).unwrap();
        watching.watch(b'"');
        for line in &lines {
            let (got, holds) = watching.next_line_watched().unwrap().unwrap();
            assert_eq!(got, &line[..]);
            assert_eq!(holds, line.contains(&b'"'), "{line:?} in {split:?}");
        }
        assert_eq!(watching.next_line_watched().unwrap(), None);
        (lines, reader.bytes_read())
    }

    /// Every split size from 1 byte to the whole file: each line once.
    fn check_every_split_size(bytes: &[u8]) {
        let dir = TempDir::new("sizes");
        let path = dir.file("input.txt", bytes);
        let size = bytes.len() as u64;
        let want = expected_lines(bytes);
        for split_bytes in 1..=size.max(1) {
            let mut got = Vec::new();
            let mut total_read = 0;
            let mut start = 0;
            loop {
                let split = Split {
                    path: path.to_string_lossy().into_owned(),
                    start,
                    len: split_bytes.min(size - start),
                };
                let (lines, read) = read_split(&split);
                got.extend(lines);
                total_read += read;
                start += split_bytes;
                if start >= size {
                    break;
                }
            }
            assert_eq!(got, want, "split size {split_bytes} of {bytes:?}");
            assert_eq!(total_read, size, "bytes_read, split size {split_bytes}");
        }
    }

    #[test]
    fn default_splits_are_whole_waves_of_at_most_64_mib() {
        const MIB: u64 = 1024 * 1024;
        assert_eq!(default_splits(0, 4), 4);
        assert_eq!(default_splits(66 * MIB, 4), 4);
        assert_eq!(default_splits(256 * MIB, 4), 4);
        assert_eq!(default_splits(257 * MIB, 4), 8);
        assert_eq!(default_splits(650 * MIB, 4), 12);
        assert_eq!(default_splits(10 * MIB, 0), 1);
    }

    #[test]
    fn lines_across_split_boundaries() {
        check_every_split_size(b"alpha\nbeta\ngamma\n");
        check_every_split_size(b"a\nbb\nccc\ndddd\neeeee");
        check_every_split_size(b"\n\n\nx\n\n");
        check_every_split_size(b"one\r\ntwo\r\n\r\nthree\r\n");
        check_every_split_size(b"no newline at all");
        check_every_split_size(b"x");
        check_every_split_size(b"\n");
        check_every_split_size(b"short\na line much longer than most splits here\nend\n");
        check_every_split_size(b"mixed\r\nends\nand a bare \r in\r\nthe middle\r");
        check_every_split_size(b"\"a,b\",1\nplain\n\"\"\"\"\n\nx\"y\n\"\n\"open");
    }

    #[test]
    fn crlf_and_missing_final_newline() {
        let want: Vec<Vec<u8>> = vec![b"a".to_vec(), b"".to_vec(), b"b".to_vec()];
        assert_eq!(expected_lines(b"a\r\n\r\nb"), want);
        check_every_split_size(b"a\r\n\r\nb");
    }

    #[test]
    fn empty_file_has_one_empty_split() {
        let dir = TempDir::new("empty");
        let path = dir.file("empty.txt", b"");
        let files = list_input(&path).unwrap();
        assert_eq!(files, vec![(path.clone(), 0)]);
        let splits = plan_splits(&files, 4);
        assert_eq!(splits.len(), 1);
        assert_eq!(splits[0].len, 0);
        assert_eq!(read_split(&splits[0]), (vec![], 0));
    }

    #[test]
    fn line_longer_than_buffer() {
        let mut bytes = vec![b'x'; 3 * READ_BUF_BYTES + 17];
        // A watched byte beyond the first buffer of a long line.
        bytes[2 * READ_BUF_BYTES + 5] = b'"';
        bytes.extend_from_slice(b"\r\nsecond\n");
        bytes.extend(std::iter::repeat_n(b'y', READ_BUF_BYTES));
        bytes.extend_from_slice(b"\n\"quoted\"\nz");
        let dir = TempDir::new("long");
        let path = dir.file("long.txt", &bytes);
        let files = list_input(&path).unwrap();
        for target in [1, 2, 3, 7, 100] {
            let mut got = Vec::new();
            for split in plan_splits(&files, target) {
                got.extend(read_split(&split).0);
            }
            assert_eq!(got, expected_lines(&bytes), "target {target}");
        }
    }

    /// Lines with and without `"`, over several buffers: the watch carries
    /// across refills and split boundaries.
    #[test]
    fn watched_lines_across_refills() {
        let mut rng = crate::rng::Rng::new(3);
        let mut bytes = Vec::new();
        while bytes.len() < 3 * READ_BUF_BYTES {
            let len = rng.below(40) as usize;
            bytes.extend((0..len).map(|_| match rng.below(50) {
                0 => b'"',
                _ => b'a',
            }));
            bytes.extend_from_slice(if rng.below(3) == 0 { b"\r\n" } else { b"\n" });
        }
        let dir = TempDir::new("watch");
        let path = dir.file("w.csv", &bytes);
        let files = list_input(&path).unwrap();
        for target in [1, 3, 10] {
            let got: Vec<Vec<u8>> = plan_splits(&files, target)
                .iter()
                .flat_map(|split| read_split(split).0)
                .collect();
            assert_eq!(got, expected_lines(&bytes), "target {target}");
        }
    }

    #[test]
    fn plan_cuts_files_in_order() {
        let files = vec![
            (PathBuf::from("a"), 10),
            (PathBuf::from("b"), 0),
            (PathBuf::from("c"), 5),
        ];
        let got: Vec<(String, u64, u64)> = plan_splits(&files, 3)
            .into_iter()
            .map(|s| (s.path, s.start, s.len))
            .collect();
        let want = [("a", 0, 5), ("a", 5, 5), ("b", 0, 0), ("c", 0, 5)];
        let want: Vec<(String, u64, u64)> = want
            .iter()
            .map(|(p, s, l)| (p.to_string(), *s, *l))
            .collect();
        assert_eq!(got, want);
        // More splits wanted than bytes: one byte each.
        assert_eq!(plan_splits(&files, 1000).len(), 10 + 1 + 5);
        assert_eq!(plan_splits(&files, 0).len(), 3);
    }

    #[test]
    fn directory_listing_skips_hidden_files() {
        let dir = TempDir::new("dir");
        dir.file("b.txt", b"bb\n");
        dir.file("a.txt", b"a\n");
        dir.file(".hidden", b"h\n");
        dir.file("_SUCCESS", b"");
        fs::create_dir(dir.0.join("sub")).unwrap();
        let files = list_input(&dir.0).unwrap();
        assert_eq!(
            files,
            vec![(dir.0.join("a.txt"), 2), (dir.0.join("b.txt"), 3)]
        );
    }

    /// A Spark output directory reads as its lines: part files in number
    /// order, and none of `_SUCCESS`, the `.crc` checksums, `_temporary/`
    /// or other hidden files.
    #[test]
    fn a_spark_output_directory_lists_its_part_files_in_order() {
        let dir = TempDir::new("spark");
        for name in [
            "part-00010",
            "part-00002",
            "part-100000",
            "part-99999",
            "part-00000-1f2e-c000.txt",
            "part-00001-1f2e-c000.txt",
        ] {
            dir.file(name, b"x\n");
        }
        for hidden in ["_SUCCESS", ".part-00002.crc", "._SUCCESS.crc", ".hidden"] {
            dir.file(hidden, b"");
        }
        fs::create_dir(dir.0.join("_temporary")).unwrap();
        fs::write(dir.0.join("_temporary").join("part-00003"), b"y\n").unwrap();
        let names: Vec<String> = list_input(&dir.0)
            .unwrap()
            .into_iter()
            .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "part-00000-1f2e-c000.txt",
                "part-00001-1f2e-c000.txt",
                "part-00002",
                "part-00010",
                "part-99999",
                "part-100000",
            ]
        );
        assert_eq!(part_order(b"part-0"), part_order(b"part-000"));
        assert!(part_order(b"part-9") < part_order(b"part-10"));
        assert!(part_order(b"part-x") > part_order(b"part-1"));
        assert_eq!(part_order(b"data.txt"), b"data.txt");
    }

    /// gzip'd part files are refused by name and by content, with a reason.
    #[test]
    fn gzip_is_refused_by_name_or_magic_bytes() {
        let dir = TempDir::new("gzip");
        let named = dir.file("part-00000.gz", b"plain, but named .gz\n");
        let err = list_input(&dir.0).unwrap_err();
        assert!(
            err.contains("part-00000.gz") && err.contains("gzip"),
            "{err}"
        );
        assert!(err.contains("name ends in .gz"), "{err}");
        fs::remove_file(named).unwrap();
        let magic = dir.file("part-00000", &[0x1f, 0x8b, 0x08, 0x00]);
        let err = list_input(&magic).unwrap_err();
        assert!(
            err.contains("magic bytes") && err.contains("gunzip"),
            "{err}"
        );
        // A one-byte file and an empty one are text.
        fs::write(&magic, [0x1f]).unwrap();
        assert!(list_input(&dir.0).is_ok());
        fs::write(&magic, b"").unwrap();
        assert!(list_input(&dir.0).is_ok());
    }

    #[test]
    fn errors_name_the_path() {
        let dir = TempDir::new("errors");
        let missing = dir.0.join("missing");
        let err = list_input(&missing).unwrap_err();
        assert!(
            err.contains("missing") && err.contains("No such file"),
            "{err}"
        );

        dir.file(".only-hidden", b"x\n");
        let err = list_input(&dir.0).unwrap_err();
        assert!(err.contains(&*dir.0.to_string_lossy()), "{err}");
        assert!(err.contains("no input files"), "{err}");

        let split = Split {
            path: missing.to_string_lossy().into_owned(),
            start: 0,
            len: 1,
        };
        let err = SplitReader::open(&split).err().unwrap();
        assert!(err.contains("missing"), "{err}");
    }

    #[test]
    fn broken_links_and_unreadable_files_are_refused_with_the_reason() {
        let dir = TempDir::new("unreadable");
        dir.file("a.txt", b"a\n");
        let link = dir.0.join("b.txt");
        std::os::unix::fs::symlink("nowhere.txt", &link).unwrap();
        let err = list_input(&dir.0).unwrap_err();
        assert_eq!(
            err,
            format!(
                "input {}: broken symbolic link to nowhere.txt: No such file or directory (os error 2)",
                link.display()
            )
        );
        // The link given as the input itself.
        assert_eq!(list_input(&link).unwrap_err(), err);

        fs::remove_file(&link).unwrap();
        let secret = dir.file("secret.txt", b"s\n");
        fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
        let listed = list_input(&dir.0);
        if fs::read(&secret).is_ok() {
            // Root reads it whatever its mode says.
            assert!(listed.is_ok(), "{listed:?}");
        } else {
            assert_eq!(
                listed.unwrap_err(),
                format!(
                    "input {}: cannot open for reading: Permission denied (os error 13)",
                    secret.display()
                )
            );
        }
    }

    #[test]
    fn first_lines() {
        let dir = TempDir::new("first");
        let path = |name: &str, bytes: &[u8]| dir.file(name, bytes).to_string_lossy().into_owned();
        assert_eq!(
            first_line(&path("a", b"id,name\r\n1,x\n")),
            Ok(Some(b"id,name".to_vec()))
        );
        assert_eq!(first_line(&path("b", b"only")), Ok(Some(b"only".to_vec())));
        assert_eq!(first_line(&path("c", b"\nx")), Ok(Some(Vec::new())));
        assert_eq!(first_line(&path("d", b"")), Ok(None));
        assert!(first_line("/nonexistent/h")
            .unwrap_err()
            .contains("/nonexistent/h"));
    }

    #[test]
    fn line_numbers_count_the_newlines_before() {
        let dir = TempDir::new("lineno");
        let mut bytes = b"a\n\nbb\r\n".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', 2 * READ_BUF_BYTES));
        bytes.extend_from_slice(b"\nlast");
        let path = dir.file("f.txt", &bytes);
        let path = path.to_str().unwrap();
        let at = |offset: u64| line_number(path, offset).unwrap();
        assert_eq!([at(0), at(2), at(3), at(7)], [1, 2, 3, 4]);
        assert_eq!(at(bytes.len() as u64 - 4), 5);
        assert_eq!(at(u64::MAX), 5);
        let split = Split {
            path: path.to_string(),
            start: 3,
            len: 10,
        };
        let mut reader = SplitReader::open(&split).unwrap();
        assert_eq!(reader.offset(), 3);
        reader.next_line().unwrap();
        assert_eq!((reader.offset(), at(reader.offset())), (7, 4));
        assert!(line_number("/nonexistent/x", 0)
            .unwrap_err()
            .contains("/nonexistent/x"));
    }

    #[test]
    fn find_newline_matches_naive_scan() {
        let mut bytes = vec![b'a'; 40];
        assert_eq!(find_newline(&bytes), None);
        for i in 0..bytes.len() {
            bytes[i] = b'\n';
            for from in 0..=i {
                assert_eq!(find_newline(&bytes[from..]), Some(i - from));
            }
            bytes[i] = b'\n' ^ 0x80;
        }
    }
}
