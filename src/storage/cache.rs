//! The block cache: the partitions of cached datasets (`cache()`) that a
//! worker keeps in memory, least recently used first out.
//!
//! A task that computes a partition of a cached dataset writes it as a map
//! output with one partition (`shuffle.rs`), a file in the worker's work
//! directory, like any map output: that file is the partition's copy on
//! disk, and stays until the job ends. When the attempt commits, the worker
//! also reads the file into memory here, if it fits the cache's budget
//! (half of `--memory`, as Spark's `spark.memory.storageFraction`), and
//! serves every later read of it, by a task on this worker or a peer's
//! fetch, from memory. To make room, the least recently read blocks leave
//! memory; their files remain, so a block past the budget is read from disk
//! (a *disk read*), never lost. Only a worker's death loses its blocks; the
//! master then has the partitions computed again from their lineage, as it
//! does for any lost map output.
//!
//! OS idea: a buffer cache with LRU replacement, in user space, over files
//! the kernel's page cache also holds: the budget makes the memory the
//! worker keeps for cached data explicit and bounded (tasks get what the
//! cache does not hold, see `worker/mod.rs`), where the page cache would
//! give it up to anyone.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

/// (job, shuffle, map task): which cached partition.
pub type BlockKey = (u64, u32, u32);

/// What the cache has done, for the worker's metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Reads served from memory.
    pub hits: u64,
    /// Reads of a cached partition that had left memory: served from disk.
    pub misses: u64,
    /// Bytes of cached partitions in memory now.
    pub memory_bytes: u64,
    /// Bytes of cached partitions on disk now (every block has its file).
    pub disk_bytes: u64,
    /// Blocks that left memory to make room.
    pub evictions: u64,
}

/// The cached partitions a worker knows, and which of them are in memory.
#[derive(Debug)]
pub struct BlockCache {
    budget: u64,
    blocks: HashMap<BlockKey, Block>,
    /// Ticks on every read: a block's `used` says how recently it was read.
    clock: u64,
    stats: CacheStats,
}

#[derive(Debug)]
struct Block {
    len: u64,
    /// The bytes, while in memory.
    bytes: Option<Arc<Vec<u8>>>,
    used: u64,
}

impl BlockCache {
    /// A cache holding at most `budget` bytes in memory.
    pub fn new(budget: u64) -> BlockCache {
        BlockCache {
            budget,
            blocks: HashMap::new(),
            clock: 0,
            stats: CacheStats::default(),
        }
    }

    /// A cached partition committed at `data` (its map output file): kept
    /// in memory too if it fits the budget, making room by moving the least
    /// recently read blocks out.
    ///
    /// # Errors
    /// The file cannot be read.
    pub fn put(&mut self, key: BlockKey, data: &Path) -> Result<(), String> {
        let len = fs::metadata(data)
            .map_err(|e| format!("reading {}: {e}", data.display()))?
            .len();
        self.remove(key);
        let bytes = if len <= self.budget {
            self.make_room(len);
            let bytes = fs::read(data).map_err(|e| format!("reading {}: {e}", data.display()))?;
            self.stats.memory_bytes += bytes.len() as u64;
            Some(Arc::new(bytes))
        } else {
            None
        };
        self.clock += 1;
        self.stats.disk_bytes += len;
        self.blocks.insert(
            key,
            Block {
                len,
                bytes,
                used: self.clock,
            },
        );
        Ok(())
    }

    /// The bytes of a cached partition, if it is in memory; counts a hit,
    /// or a miss (the caller reads its file) for a block that left memory.
    /// `None`, and nothing counted, for a key that is not a cached block.
    pub fn get(&mut self, key: BlockKey) -> Option<Arc<Vec<u8>>> {
        self.clock += 1;
        let block = self.blocks.get_mut(&key)?;
        block.used = self.clock;
        match &block.bytes {
            Some(bytes) => {
                self.stats.hits += 1;
                Some(Arc::clone(bytes))
            }
            None => {
                self.stats.misses += 1;
                None
            }
        }
    }

    /// Forgets every block of a job (its files go with its work directory).
    pub fn drop_job(&mut self, job_id: u64) {
        let keys: Vec<BlockKey> = self
            .blocks
            .keys()
            .filter(|k| k.0 == job_id)
            .copied()
            .collect();
        for key in keys {
            self.remove(key);
        }
    }

    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    fn remove(&mut self, key: BlockKey) {
        if let Some(old) = self.blocks.remove(&key) {
            self.stats.disk_bytes -= old.len;
            if let Some(bytes) = old.bytes {
                self.stats.memory_bytes -= bytes.len() as u64;
            }
        }
    }

    /// Moves blocks out of memory, least recently read first, until `len`
    /// more bytes fit the budget.
    fn make_room(&mut self, len: u64) {
        while self.stats.memory_bytes + len > self.budget {
            let oldest = self
                .blocks
                .iter()
                .filter(|(_, b)| b.bytes.is_some())
                .min_by_key(|(_, b)| b.used)
                .map(|(k, _)| *k);
            let Some(key) = oldest else { return };
            if let Some(bytes) = self.blocks.get_mut(&key).and_then(|b| b.bytes.take()) {
                self.stats.memory_bytes -= bytes.len() as u64;
                self.stats.evictions += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, len: usize) -> std::path::PathBuf {
        let path = dir.join(name);
        fs::write(&path, vec![7u8; len]).unwrap();
        path
    }

    #[test]
    fn keeps_within_budget_dropping_the_least_recently_read() {
        let dir = std::env::temp_dir().join(format!("blockcache-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let mut cache = BlockCache::new(250);
        cache.put((1, 0, 0), &file(&dir, "a", 100)).unwrap();
        cache.put((1, 0, 1), &file(&dir, "b", 100)).unwrap();
        assert!(cache.get((1, 0, 0)).is_some()); // a is now the more recent
        cache.put((1, 0, 2), &file(&dir, "c", 100)).unwrap(); // b leaves memory
        assert_eq!(cache.stats().memory_bytes, 200);
        assert!(cache.get((1, 0, 1)).is_none());
        assert!(cache.get((1, 0, 0)).is_some());
        assert!(cache.get((1, 0, 2)).is_some());
        let s = cache.stats();
        assert_eq!(
            (s.hits, s.misses, s.evictions, s.disk_bytes),
            (3, 1, 1, 300)
        );
        // Too big for memory at all: on disk only, nothing evicted for it.
        cache.put((1, 0, 3), &file(&dir, "d", 300)).unwrap();
        assert_eq!(cache.stats().memory_bytes, 200);
        assert!(cache.get((2, 0, 0)).is_none());
        assert_eq!(cache.stats().misses, 1, "an unknown key is no miss");
        cache.drop_job(1);
        assert_eq!(cache.stats().memory_bytes + cache.stats().disk_bytes, 0);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_block_put_again_replaces_the_old_one() {
        let dir = std::env::temp_dir().join(format!("blockcache2-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let mut cache = BlockCache::new(1000);
        cache.put((1, 0, 0), &file(&dir, "a", 100)).unwrap();
        cache.put((1, 0, 0), &file(&dir, "b", 50)).unwrap();
        assert_eq!(
            (cache.stats().memory_bytes, cache.stats().disk_bytes),
            (50, 50)
        );
        assert!(BlockCache::new(10)
            .put((1, 0, 0), &dir.join("missing"))
            .is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
