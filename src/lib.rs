//! Mini-Spark: a small distributed batch engine, written to be read.
//!
//! The folders are the parts of the system, in the order their imports go
//! (each uses only those above it):
//!
//! ```text
//! protocol/  the bytes: frames, field encoding, the message table
//! net/       the sockets: buffered connections, dialing and authentication,
//!            the accept loop, HTTP, the semaphore and the stop signal
//! job/       the job language: a .job file to a checked dataset graph, and
//!            the planner that cuts it into stages at shuffles
//! storage/   the bytes on disk: run files, spill, external sort, the hash
//!            aggregator, shuffle write and fetch, the outputs a worker serves
//! exec/      running one task: splits, the operator chain, pipe, reduce, join
//! worker/    the worker process: its link to the master, attempts on a
//!            thread pool, the data port, fault injection, procfs metrics
//! view/      reports for people: status text, the SVG timeline, JSON,
//!            HTML and SVG escaping
//! master/    the master process: sessions, membership, the scheduler, the
//!            journal, event logs, the web page and text mode
//! ```
//!
//! The loose files are the crate's common ground: `record` (the unit of data),
//! `error`, `log`, `rng`, `size`; `submission` (what the client prepares and
//! the master accepts), `client` (the client library), `local` (an embedded
//! cluster), `cli` (flag plumbing for the binaries in `src/bin/`),
//! `terminal` (is stderr a terminal, and how wide: for the client) and
//! `trim` (freed heap memory given back to the kernel: master and worker). One
//! helper lives here, at the bottom of this file: `lock`, the one way the
//! crate takes a mutex.
//!
//! To read it end to end, start with `protocol/frame.rs` (bytes on the
//! wire), then `net/connection.rs` (whole frames off a socket), then
//! `master/` and `worker/` (the two processes), then `exec/executor.rs` (a
//! task) and `storage/` (where its records go).

pub mod cli;
pub mod client;
pub mod error;
pub mod exec;
pub mod export;
pub mod job;
pub mod local;
pub mod log;
pub mod master;
pub mod net;
pub mod protocol;
pub mod record;
pub mod rng;
pub mod size;
pub mod storage;
pub mod submission;
pub mod terminal;
pub mod trim;
pub mod view;
pub mod worker;

pub use error::{Error, Result};

/// Locks `m`, also when a thread panicked while holding it. Every mutex in
/// the crate guards plain data that each critical section leaves whole, so
/// a poisoned lock is still safe to use; one panicking task must not take
/// the worker or the master down with it.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `f` on a thread of its own and returns what it returns, or fails the
/// test when it has not returned within `limit`: the tests of code that can
/// deadlock (pipes, the pool, the semaphore) fail with a reason instead of
/// hanging. A thread still stuck at the deadline is left behind; it ends with
/// the test process.
#[cfg(test)]
pub(crate) fn within<T: Send + 'static>(
    limit: std::time::Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    use std::sync::mpsc::{self, RecvTimeoutError};
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(value) => value,
        // `f` panicked (dropping the sender): fail with its panic.
        Err(RecvTimeoutError::Disconnected) => match thread.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the thread sends before it returns"),
        },
        Err(RecvTimeoutError::Timeout) => {
            panic!("{what}: not done after {limit:?}: blocked for good (a deadlock, or a lost wake-up)")
        }
    }
}
