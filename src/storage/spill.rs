//! Where a task's spill files live, and what spilling cost.
//!
//! OS idea: a file's name and its data are separate things. The name is a
//! directory entry; the data (the inode) lives until the last name *and*
//! the last open file descriptor are gone. The sorter uses that: it opens a
//! run it is about to merge and removes its name at once, so the blocks are
//! freed the moment the merge closes the file, even if the task dies
//! mid-merge. And a `SpillDir` removes its whole directory when dropped, so
//! a task's spill files go away when the task ends, whether it succeeded,
//! failed or panicked (unwinding runs `Drop`).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::record::Record;
use crate::storage::runfile::{RunStats, RunWriter};

/// One task's spill directory, shared by its sorters and aggregators as an
/// `Arc<SpillDir>`.
#[derive(Debug)]
pub struct SpillDir {
    path: PathBuf,
    /// Numbers files: `run-000001`, `run-000002`, ...; never reused.
    next_file: AtomicU64,
    bytes: AtomicU64,
    records: AtomicU64,
    files: AtomicU64,
}

/// Everything written to spill files, merge passes included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpillStats {
    pub bytes: u64,
    pub records: u64,
    pub files: u64,
}

impl SpillDir {
    /// Creates the directory (and its parents). It should be the task's own:
    /// dropping the `SpillDir` removes it with everything in it.
    pub fn new(path: PathBuf) -> io::Result<SpillDir> {
        fs::create_dir_all(&path)?;
        Ok(SpillDir {
            path,
            next_file: AtomicU64::new(1),
            bytes: AtomicU64::new(0),
            records: AtomicU64::new(0),
            files: AtomicU64::new(0),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates a fresh file `KIND-NNNNNN` (read + write; `create_new`, so an
    /// existing file is never overwritten).
    pub fn create(&self, kind: &str) -> Result<(PathBuf, File), String> {
        let n = self.next_file.fetch_add(1, Ordering::Relaxed);
        let path = self.path.join(format!("{kind}-{n:06}"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| format!("spill file {}: cannot create: {e}", path.display()))?;
        self.files.fetch_add(1, Ordering::Relaxed);
        Ok((path, file))
    }

    /// Counts a finished run in the totals.
    pub fn record(&self, stats: RunStats) {
        self.bytes.fetch_add(stats.bytes, Ordering::Relaxed);
        self.records.fetch_add(stats.records, Ordering::Relaxed);
    }

    pub fn stats(&self) -> SpillStats {
        SpillStats {
            bytes: self.bytes.load(Ordering::Relaxed),
            records: self.records.load(Ordering::Relaxed),
            files: self.files.load(Ordering::Relaxed),
        }
    }
}

/// A run being written to a new spill file. `finish` counts it in the
/// directory's stats. No `fsync`: spill files need not survive a crash (the
/// task would be rerun), so if memory is free their blocks may never leave
/// the page cache at all.
pub struct SpillWriter<'a> {
    dir: &'a SpillDir,
    path: PathBuf,
    writer: RunWriter<File>,
}

impl SpillDir {
    /// Starts a new run file `run-NNNNNN`.
    pub fn create_run(&self) -> Result<SpillWriter<'_>, String> {
        let (path, file) = self.create("run")?;
        Ok(SpillWriter {
            dir: self,
            path,
            writer: RunWriter::new(file),
        })
    }
}

impl SpillWriter<'_> {
    pub fn write(&mut self, rec: &Record) -> Result<(), String> {
        self.write_parts(rec.key.as_deref(), &rec.value)
    }

    pub fn write_parts(&mut self, key: Option<&[u8]>, value: &[u8]) -> Result<(), String> {
        self.writer
            .write_parts(key, value)
            .map_err(|e| format!("spill file {}: write failed: {e}", self.path.display()))
    }

    /// Writes the last block and counts the run; returns its path.
    pub fn finish(self) -> Result<(PathBuf, RunStats), String> {
        let (_, stats) = self
            .writer
            .finish()
            .map_err(|e| format!("spill file {}: write failed: {e}", self.path.display()))?;
        self.dir.record(stats);
        crate::event!(
            Debug,
            "spill",
            "run_written",
            file = self.path.display(),
            records = stats.records,
            bytes = stats.bytes
        );
        Ok((self.path, stats))
    }
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.path) {
            if e.kind() != io::ErrorKind::NotFound {
                crate::event!(
                    Warn,
                    "spill",
                    "cleanup_failed",
                    dir = self.path.display(),
                    error = e
                );
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Arc;

    /// A fresh directory path under the system temp dir, unique per call.
    pub(crate) fn temp_path(name: &str) -> PathBuf {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        std::env::temp_dir().join(format!("minispark-{name}-{}-{n}", std::process::id()))
    }

    #[test]
    fn numbers_files_counts_and_cleans_up() {
        let path = temp_path("spilldir");
        let dir = Arc::new(SpillDir::new(path.clone()).unwrap());
        let (a, _) = dir.create("run").unwrap();
        let (b, _) = dir.create("run").unwrap();
        assert_eq!(a.file_name().unwrap(), "run-000001");
        assert_eq!(b.file_name().unwrap(), "run-000002");
        dir.record(RunStats {
            records: 3,
            bytes: 100,
        });
        assert_eq!(
            dir.stats(),
            SpillStats {
                bytes: 100,
                records: 3,
                files: 2
            }
        );
        assert!(a.exists());
        drop(dir);
        assert!(!path.exists());
    }

    #[test]
    fn removed_after_a_panic() {
        let path = temp_path("spillpanic");
        let p = path.clone();
        let result = std::thread::spawn(move || {
            let dir = SpillDir::new(p).unwrap();
            dir.create("run").unwrap();
            panic!("task failed");
        })
        .join();
        assert!(result.is_err());
        assert!(!path.exists());
    }
}
