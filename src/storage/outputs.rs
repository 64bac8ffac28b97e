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
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::lock;

/// What this worker serves on its data port: committed output parts by
/// (job, save, part) and committed map outputs by (job, shuffle, map). Only
/// paths recorded here are ever opened for a peer, which names what it
/// wants by numbers, never by path.
#[derive(Clone, Default)]
pub struct Outputs(Arc<Mutex<Served>>);

#[derive(Default)]
struct Served {
    parts: HashMap<(u64, u32, u32), PathBuf>,
    /// (data file, index file)
    maps: HashMap<(u64, u32, u32), (PathBuf, PathBuf)>,
    /// Shuffle bytes sent to reducers on the data port.
    shuffle_bytes: u64,
}

impl Outputs {
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

    /// Forgets a job's map outputs (its committed parts stay served, for
    /// `client results`).
    pub fn forget_maps(&self, job_id: u64) {
        lock(&self.0).maps.retain(|k, _| k.0 != job_id);
    }
}

/// The map outputs this worker serves, and the address peers know it by:
/// a reduce task reads a map output that lives here straight from disk
/// instead of fetching it from itself over TCP.
#[derive(Clone, Default)]
pub struct LocalMaps {
    addr: Arc<Mutex<String>>,
    outputs: Outputs,
}

impl LocalMaps {
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

impl std::fmt::Debug for LocalMaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LocalMaps({})", lock(&self.addr))
    }
}
