//! The outputs a worker serves: which committed files answer which
//! numbered request.
//!
//! OS idea: a capability table. A peer on the data port names what it
//! wants by numbers (job, save, part or job, shuffle, map), never by path;
//! only files recorded here, at commit, are ever opened for it, so no
//! request can reach outside the worker's own outputs.
//!
//! `Outputs` is filled by the worker's commits (`worker/attempts.rs`) and
//! read by the data port (`worker/data_port.rs`); `LocalMaps` is the view a
//! reduce task's shuffle fetch (`shuffle.rs`) uses to read a map output that
//! lives on its own worker straight from disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::lock;
use crate::storage::cache::{BlockCache, CacheStats};

/// What this worker serves on its data port: committed output parts by
/// (job, save, part) and committed map outputs by (job, shuffle, map). Only
/// paths recorded here are ever opened for a peer, which names what it
/// wants by numbers, never by path.
#[derive(Clone, Default)]
pub struct Outputs(Arc<Mutex<Served>>);

struct Served {
    parts: HashMap<(u64, u32, u32), PathBuf>,
    /// (data file, index file)
    maps: HashMap<(u64, u32, u32), (PathBuf, PathBuf)>,
    /// Shuffle bytes sent to reducers on the data port.
    shuffle_bytes: u64,
    /// The map outputs that are partitions of cached datasets, and which
    /// of them are in memory.
    cache: BlockCache,
}

impl Default for Served {
    fn default() -> Served {
        Served {
            parts: HashMap::new(),
            maps: HashMap::new(),
            shuffle_bytes: 0,
            cache: BlockCache::new(0),
        }
    }
}

impl Outputs {
    /// A table whose cache keeps at most `cache_budget` bytes in memory.
    pub fn new(cache_budget: u64) -> Outputs {
        let outputs = Outputs::default();
        lock(&outputs.0).cache = BlockCache::new(cache_budget);
        outputs
    }

    pub fn part(&self, job_id: u64, save: u32, part: u32) -> Option<PathBuf> {
        lock(&self.0).parts.get(&(job_id, save, part)).cloned()
    }

    /// The data and index files of a committed map output.
    pub fn map(&self, job_id: u64, shuffle: u32, map: u32) -> Option<(PathBuf, PathBuf)> {
        lock(&self.0).maps.get(&(job_id, shuffle, map)).cloned()
    }

    /// Counts shuffle bytes sent to a reducer.
    pub fn add_served(&self, bytes: u64) {
        lock(&self.0).shuffle_bytes += bytes;
    }

    /// Shuffle bytes sent to reducers so far.
    pub fn served_bytes(&self) -> u64 {
        lock(&self.0).shuffle_bytes
    }

    /// Records a committed output part.
    pub fn add_part(&self, job_id: u64, save: u32, part: u32, file: PathBuf) {
        lock(&self.0).parts.insert((job_id, save, part), file);
    }

    /// Records a committed map output; returns the files it replaced, if
    /// another attempt's output was served for that map task before.
    pub fn add_map(
        &self,
        job_id: u64,
        shuffle: u32,
        map: u32,
        data: PathBuf,
        index: PathBuf,
    ) -> Option<(PathBuf, PathBuf)> {
        lock(&self.0)
            .maps
            .insert((job_id, shuffle, map), (data, index))
    }

    /// Forgets a job's map outputs and cached partitions (its committed
    /// parts stay served, for `client results`).
    pub fn forget_maps(&self, job_id: u64) {
        let mut served = lock(&self.0);
        served.maps.retain(|k, _| k.0 != job_id);
        served.cache.drop_job(job_id);
    }

    /// Keeps committed map output `map` of cache shuffle `shuffle` (whose
    /// one partition is all of `data`) in the block cache.
    ///
    /// # Errors
    /// The data file cannot be read.
    pub fn cache(&self, job_id: u64, shuffle: u32, map: u32, data: &Path) -> Result<(), String> {
        lock(&self.0).cache.put((job_id, shuffle, map), data)
    }

    /// The bytes of a cached partition, when it is in memory.
    pub fn cached(&self, job_id: u64, shuffle: u32, map: u32) -> Option<Arc<Vec<u8>>> {
        lock(&self.0).cache.get((job_id, shuffle, map))
    }

    /// The block cache's counters.
    pub fn cache_stats(&self) -> CacheStats {
        lock(&self.0).cache.stats()
    }
}

/// The map outputs this worker serves, and the address peers know it by:
/// a reduce task reads a map output that lives here straight from disk
/// instead of fetching it from itself over TCP.
#[derive(Clone)]
pub struct LocalMaps {
    addr: Arc<Mutex<String>>,
    outputs: Outputs,
}

impl LocalMaps {
    /// A view of `outputs`, under no address yet.
    pub fn new(outputs: Outputs) -> LocalMaps {
        LocalMaps {
            addr: Arc::default(),
            outputs,
        }
    }

    /// The outputs table behind this view.
    pub fn outputs(&self) -> Outputs {
        self.outputs.clone()
    }

    /// Sets the data address the master advertises for this worker.
    pub fn set_addr(&self, addr: String) {
        *lock(&self.addr) = addr;
    }

    /// The files of map output `map` if it is served here under `addr`.
    pub fn find(
        &self,
        addr: &str,
        job_id: u64,
        shuffle: u32,
        map: u32,
    ) -> Option<(PathBuf, PathBuf)> {
        if *lock(&self.addr) != addr {
            return None;
        }
        self.outputs.map(job_id, shuffle, map)
    }
}

impl LocalMaps {
    /// A cached partition served here, if it is in memory.
    pub fn cached(&self, job_id: u64, shuffle: u32, map: u32) -> Option<Arc<Vec<u8>>> {
        self.outputs.cached(job_id, shuffle, map)
    }
}

impl std::fmt::Debug for LocalMaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LocalMaps({})", lock(&self.addr))
    }
}
