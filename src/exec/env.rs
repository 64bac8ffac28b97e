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
//! it has to notice). A loop counts into a `Tally` of its own and adds it
//! to the shared counters at those same checks: an atomic add is a locked
//! instruction, too dear to pay for every record.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// The records and bytes one loop has read, not yet in the shared
/// `Counters`: added to them, and the cancel flag checked, every
/// `CANCEL_CHECK_EVERY` records, and the rest added when the tally is
/// dropped (with the loop's iterator, before the task reads its counters).
pub struct Tally {
    counters: Arc<Counters>,
    cancel: Arc<AtomicBool>,
    records: u64,
    bytes: u64,
}

impl Tally {
    pub fn new(counters: &Arc<Counters>, cancel: &Arc<AtomicBool>) -> Tally {
        Tally {
            counters: Arc::clone(counters),
            cancel: Arc::clone(cancel),
            records: 0,
            bytes: 0,
        }
    }

    /// Counts one record of `bytes` bytes.
    ///
    /// # Errors
    /// "cancelled", when this is a check and the task was cancelled.
    #[inline]
    pub fn add(&mut self, bytes: u64) -> Result<(), String> {
        self.records += 1;
        self.bytes += bytes;
        if self.records < CANCEL_CHECK_EVERY {
            return Ok(());
        }
        self.flush();
        match self.cancel.load(Ordering::Relaxed) {
            true => Err("cancelled".into()),
            false => Ok(()),
        }
    }

    fn flush(&mut self) {
        let c = &self.counters;
        c.records_in.fetch_add(self.records, Ordering::Relaxed);
        c.bytes_in.fetch_add(self.bytes, Ordering::Relaxed);
        (self.records, self.bytes) = (0, 0);
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        self.flush();
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_reaches_the_counters_at_each_check_and_when_dropped() {
        let counters = Arc::new(Counters::default());
        let cancel = Arc::new(AtomicBool::new(false));
        let mut tally = Tally::new(&counters, &cancel);
        for _ in 0..CANCEL_CHECK_EVERY - 1 {
            tally.add(10).unwrap();
        }
        assert_eq!(counters.records_in.load(Ordering::Relaxed), 0);
        tally.add(10).unwrap();
        assert_eq!(
            counters.records_in.load(Ordering::Relaxed),
            CANCEL_CHECK_EVERY
        );
        tally.add(3).unwrap();
        drop(tally);
        assert_eq!(
            counters.records_in.load(Ordering::Relaxed),
            CANCEL_CHECK_EVERY + 1
        );
        assert_eq!(
            counters.bytes_in.load(Ordering::Relaxed),
            10 * CANCEL_CHECK_EVERY + 3
        );
    }

    #[test]
    fn a_tally_notices_a_cancel_within_one_check() {
        let counters = Arc::new(Counters::default());
        let cancel = Arc::new(AtomicBool::new(false));
        let mut tally = Tally::new(&counters, &cancel);
        tally.add(1).unwrap();
        cancel.store(true, Ordering::Relaxed);
        let stopped = (0..CANCEL_CHECK_EVERY).position(|_| tally.add(1).is_err());
        assert_eq!(stopped, Some(CANCEL_CHECK_EVERY as usize - 2));
    }
}
