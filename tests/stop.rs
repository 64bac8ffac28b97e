//! Stopping in process: an embedded cluster (`local.rs`), a master and a
//! worker as threads of this test's own process on ports the OS picks, runs
//! a job; `Cluster::stop` then returns once every thread it started has
//! ended (it joins them), and leaves both ports closed.
//!
//! Guards against a stop that misses a thread blocked in a system call (the
//! accept loops, the worker's `read` on the master's socket, a connection's
//! thread, the master's timer) or leaves a listening socket open. The test
//! is alone in its binary, so the count of this process's threads is its
//! own to check.

mod common;

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use minispark::client::Client;
use minispark::protocol::JobState;
use minispark::submission::{self, Request};

const LIMIT: Duration = Duration::from_secs(30);
const CONNECT: Duration = Duration::from_secs(5);

/// Threads of this process now (`/proc/self/task` has one entry each).
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn a_local_cluster_runs_a_job_then_stop_ends_its_threads_and_closes_its_ports() {
    minispark::log::set_level(minispark::log::Level::Warn);
    let before = threads();
    let cluster = minispark::local::start(1, 2, 64 << 20, None).unwrap();
    let addr = cluster.addr().to_string();
    let mut client = wait_for(LIMIT, "the worker to register", || {
        let mut c = Client::connect(&addr, CONNECT, None).ok()?;
        (c.workers().ok()?.len() == 1).then_some(c)
    });

    let dir = temp_dir("stop-job");
    let input = dir.join("words.txt");
    let want = word_counts(&words_file(&input, 500, 11));
    let out = dir.join("out");
    let overrides: BTreeMap<String, String> = [("input", &input), ("output", &out)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), path(v).to_string()))
        .collect();
    let job = job_file("wordcount.job");
    let msg = submission::prepare(&Request {
        path: Path::new(&job),
        overrides: &overrides,
        overwrite: false,
        parallelism: 2,
        slots: 2,
    })
    .unwrap_or_else(|_| panic!("preparing {job}"));
    let id = client.submit(&msg).unwrap();
    let deadline = Instant::now() + LIMIT;
    let report = loop {
        let report = client
            .wait_job(id, u32::MAX, Duration::from_secs(1))
            .unwrap();
        if report.state.is_final() || Instant::now() > deadline {
            break report;
        }
    };
    assert_eq!(report.state, JobState::Succeeded, "{}", report.error);
    assert_eq!(sorted(output_lines(&out)), want);
    drop(client);

    let master: SocketAddr = addr.parse().unwrap();
    let ports: Vec<SocketAddr> = [master].into_iter().chain(cluster.worker_addrs()).collect();
    assert_eq!(ports.len(), 2);
    // Under a time limit: a stop that misses a thread hangs in its join.
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || done_tx.send(cluster.stop()));
    let stopped = done_rx
        .recv_timeout(LIMIT)
        .expect("the stop ends within 30 s");
    stopped.expect("no thread panicked");

    for port in ports {
        let refused = TcpStream::connect_timeout(&port, CONNECT).map(|_| ());
        assert_eq!(
            refused.map_err(|e| e.kind()),
            Err(ErrorKind::ConnectionRefused),
            "{port} still accepts connections after the stop"
        );
    }
    // Every thread the cluster started was joined by `stop`; a fetch thread
    // of the job (not joined, it ends with its last block) may take a moment.
    wait_for(
        Duration::from_secs(5),
        "the cluster's threads to end",
        || (threads() <= before).then_some(()),
    );
}
