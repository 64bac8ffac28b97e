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

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

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
/// `_SUCCESS` and `.crc`), sorted by name, not recursive. Returns each file
/// with its size in bytes. Every file is opened once, so one the submitter
/// cannot read is refused now rather than failing the job later.
///
/// # Errors
///
/// Names the path and the reason: missing, unreadable, a broken symbolic
/// link, a directory with no files, or not a regular file (a FIFO or device
/// has no size to split).
pub fn list_input(path: &Path) -> Result<Vec<(PathBuf, u64)>, String> {
    let meta = fs::metadata(path).map_err(|e| stat_error(path, &e))?;
    if meta.is_file() {
        readable(path)?;
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
            readable(&file)?;
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
    files.sort();
    Ok(files)
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
        Ok(Some(line))
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
        self.pos = end;
        self.offset += (end - start) as u64;
        (start, end)
    }

    /// Moves unconsumed bytes to the front of the buffer (growing it if one
    /// line fills all of it) and reads more after them.
    fn refill(&mut self) -> Result<(), String> {
        self.buf.copy_within(self.pos..self.filled, 0);
        self.filled -= self.pos;
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

/// Index of the first `\n` in `bytes`. Checks eight bytes per step with the
/// SWAR "has zero byte" trick on `word ^ 0x0a0a...`, which is several times
/// faster than a byte loop on long lines.
fn find_newline(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const NEWLINES: u64 = ONES * b'\n' as u64;
    let mut chunks = bytes.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ NEWLINES;
        // Nonzero exactly when some byte of `x` is zero, i.e. was '\n'.
        if x.wrapping_sub(ONES) & !x & HIGHS != 0 {
            return chunk.iter().position(|&b| b == b'\n').map(|i| base + i);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| base + i)
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

    fn read_split(split: &Split) -> (Vec<Vec<u8>>, u64) {
        let mut reader = SplitReader::open(split).unwrap();
        let mut lines = Vec::new();
        while let Some(line) = reader.next_line().unwrap() {
            lines.push(line.to_vec());
        }
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
        bytes.extend_from_slice(b"\r\nsecond\n");
        bytes.extend(std::iter::repeat_n(b'y', READ_BUF_BYTES));
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
