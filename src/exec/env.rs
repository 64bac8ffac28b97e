//! The task environment: what the parts of a running task share. The
//! worker fills in one `TaskEnv` from its flags; for each attempt the
//! executor makes the `Counters` and hands both down (to the input, the
//! output, the reducer and the fetch threads under it), and the worker gets
//! a `Failure` back when the attempt fails. `Records` is the stream of
//! records the reducer, the join and a pipe hand on.
//!
//! OS idea: a task is one unit of work inside a long-lived process, so what
//! it may use is passed in, not global: its memory share (`TaskEnv`), its
//! counters (atomics, because the fetch threads of a reduce task update
//! them too), and the cancel flag its loops poll every
//! `CANCEL_CHECK_EVERY` records (a thread cannot be killed from outside;
//! it has to notice).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use crate::net::Secret;
use crate::protocol::FetchFailure;
use crate::record::Record;
use crate::storage::{FailureSlot, LocalMaps};

/// A stream of records; an `Err` ends the task with that message.
pub type Records = Box<dyn Iterator<Item = Result<Record, String>> + Send>;

/// How often (in records) a loop checks whether its task was cancelled.
pub const CANCEL_CHECK_EVERY: u64 = 1024;
/// Runs merged at once by the external sort and the aggregator.
pub const MERGE_FAN_IN: usize = 16;

/// What a task may do and use, from the worker's flags.
#[derive(Debug, Clone)]
pub struct TaskEnv {
    /// `pipe` runs arbitrary commands: only with `worker --allow-pipe`.
    pub allow_pipe: bool,
    /// This task's share of the worker's `--memory`, in bytes.
    pub memory_bytes: usize,
    /// Map outputs fetched at once by a reduce task.
    pub fetch_in_flight: usize,
    /// A fetch that connects or receives nothing for this long fails
    /// (`worker --fetch-timeout-ms`).
    pub fetch_timeout: Duration,
    /// Map outputs on this worker, read from disk rather than fetched.
    pub local_maps: LocalMaps,
    /// Proven to the data ports a reduce task fetches from.
    pub secret: Option<Arc<Secret>>,
}

/// Counters shared with iterators that may run on other threads.
#[derive(Default)]
pub struct Counters {
    pub records_in: AtomicU64,
    pub bytes_in: AtomicU64,
    pub fetched_bytes: Arc<AtomicU64>,
    /// The map output a fetch failed on, if one did.
    pub fetch_failure: FailureSlot,
}

/// Why an attempt failed: its error, and the map output it could not
/// fetch when that was the cause (the master then re-runs that map task
/// instead of counting a failure against this one).
#[derive(Debug)]
pub struct Failure {
    pub error: String,
    pub fetch: Option<FetchFailure>,
}

impl From<String> for Failure {
    fn from(error: String) -> Failure {
        Failure { error, fetch: None }
    }
}
