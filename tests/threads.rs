//! The names of a running master's and worker's threads, as the kernel
//! shows them in `/proc/PID/task/TID/comm` (what `make demo-threads`, `top -H`
//! and `ps -L` print).
//!
//! Guards against a thread started without a name (it would show its
//! creator's, a second `master` or `worker`), a name over the 15 bytes
//! `comm` holds (cut short, it would no longer say what the thread is), and
//! a pool that does not have exactly `--slots` threads `task-0`...

mod common;

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const LIMIT: Duration = Duration::from_secs(20);

/// How many threads of process `pid` have each name.
fn thread_names(pid: u32) -> BTreeMap<String, usize> {
    let mut names = BTreeMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let comm = entry.unwrap().path().join("comm");
        // A thread that ended between the listing and the read is gone.
        if let Ok(name) = std::fs::read_to_string(comm) {
            *names.entry(name.trim_end().to_string()).or_insert(0) += 1;
        }
    }
    names
}

/// The names of `pid`'s threads once they are `want`, or as they are at
/// the deadline (threads start as the process settles: poll, do not sleep).
fn settled(pid: u32, want: &BTreeMap<String, usize>) -> BTreeMap<String, usize> {
    let deadline = Instant::now() + LIMIT;
    loop {
        let got = thread_names(pid);
        if got == *want || Instant::now() > deadline {
            return got;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn names_of(counts: &[(&str, usize)]) -> BTreeMap<String, usize> {
    counts.iter().map(|&(n, c)| (n.to_string(), c)).collect()
}

#[test]
fn every_thread_of_an_idle_master_and_worker_has_its_own_name() {
    let master = master(&[]);
    let worker = worker(&master.addr, &["--slots", "3"]);
    wait_workers(&master.addr, 1, "ALIVE", LIMIT);

    // Every thread of the worker once it has registered (the accept
    // threads, its link to the master, its pool), and nothing else.
    let want = names_of(&[
        ("worker", 1),
        ("master-link", 1),
        ("to-master", 1),
        ("heartbeat", 1),
        ("wake-session", 1),
        ("data-port", 1),
        ("wake-accept", 1),
        ("task-0", 1),
        ("task-1", 1),
        ("task-2", 1),
    ]);
    assert_eq!(settled(worker.pid(), &want), want);

    // The master serving one worker: a thread reading the connection and
    // one writing to it.
    let want = names_of(&[
        ("master", 1),
        ("timer", 1),
        ("accept", 1),
        ("wake-accept", 1),
        ("conn", 1),
        ("to-peer", 1),
    ]);
    assert_eq!(settled(master.pid(), &want), want);
}
