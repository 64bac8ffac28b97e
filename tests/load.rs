//! A load test, bounded in count and time, on loopback: 200 client
//! connections poll the master's job list and each job's status while 20
//! jobs are submitted at once and run to completion on 3 workers. Every
//! job's output must be right, every poll answered, and the master's
//! resident memory must come back near where it started once the load is
//! gone. The figures are printed (`cargo test --release --test load --
//! --nocapture` shows them).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use minispark::client::Client;

const POLLERS: usize = 200;
const JOBS: usize = 20;

/// Resident memory of process `pid`, in KiB (`VmRSS` of /proc/PID/status).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap()
}

#[test]
fn two_hundred_pollers_and_twenty_jobs_at_once() {
    let (m, _w) = cluster(3, &[], &["--slots", "2"]);
    let dir = temp_dir("load");
    // Warm up: one job, so the master's steady state is the baseline.
    let warm_input = dir.join("warm.txt");
    words_file(&warm_input, 200, 99);
    let warm = start(
        &m.addr,
        "wordcount.job",
        &[
            ("input", path(&warm_input)),
            ("output", path(&dir.join("warm"))),
        ],
    );
    wait_end(&m.addr, &warm, Duration::from_secs(60));
    let before = rss_kib(m.pid());

    // 200 connections, each polling the job list and one job's status.
    let stop = Arc::new(AtomicBool::new(false));
    let polls = Arc::new(AtomicU64::new(0));
    let pollers: Vec<_> = (0..POLLERS)
        .map(|i| {
            let (addr, stop, polls) = (m.addr.clone(), Arc::clone(&stop), Arc::clone(&polls));
            thread::spawn(move || -> Result<(), String> {
                let mut c = Client::connect(&addr, Duration::from_secs(10), None)
                    .map_err(|e| e.to_string())?;
                while !stop.load(Ordering::Relaxed) {
                    let jobs = c.jobs().map_err(|e| format!("poller {i}: {e}"))?;
                    if let Some(j) = jobs.get(i % jobs.len().max(1)) {
                        c.job(j.id).map_err(|e| format!("poller {i}: {e}"))?;
                    }
                    polls.fetch_add(1, Ordering::Relaxed);
                    thread::sleep(Duration::from_millis(20));
                }
                Ok(())
            })
        })
        .collect();
    wait_for(Duration::from_secs(30), "every poller to connect", || {
        (polls.load(Ordering::Relaxed) >= POLLERS as u64).then_some(())
    });
    let peak_connections = rss_kib(m.pid());

    // 20 jobs submitted at once, each over its own input.
    let started = Instant::now();
    let submitters: Vec<_> = (0..JOBS)
        .map(|j| {
            let (addr, dir) = (m.addr.clone(), dir.clone());
            thread::spawn(move || {
                let input = dir.join(format!("in{j}.txt"));
                let want = word_counts(&words_file(&input, 1000 + 50 * j, j as u64));
                let out = dir.join(format!("out{j}"));
                let params = [("input", path(&input)), ("output", path(&out))];
                let id = start(&addr, "wordcount.job", &params);
                (id, out, want)
            })
        })
        .collect();
    let submitted: Vec<_> = submitters.into_iter().map(|t| t.join().unwrap()).collect();
    for (id, out, want) in &submitted {
        let end = wait_end(&m.addr, id, Duration::from_secs(120));
        assert_eq!(end.state, "SUCCEEDED", "job {id}: {}", end.error);
        assert_eq!(&sorted(output_lines(out)), want, "job {id}");
    }
    let jobs_took = started.elapsed();
    let peak = rss_kib(m.pid());

    stop.store(true, Ordering::Relaxed);
    for p in pollers {
        p.join().unwrap().unwrap();
    }
    let total_polls = polls.load(Ordering::Relaxed);
    // The connections are gone when their threads on the master end.
    wait_for(Duration::from_secs(30), "the master to settle", || {
        let lines = common::text(&m.addr, "STATUS");
        lines
            .iter()
            .any(|l| l.starts_with("jobs 0 running"))
            .then_some(())
    });
    // The master gives freed memory back every 2 s (`src/trim.rs`). What may
    // stay: the 20 finished jobs it keeps, and what is left of the malloc
    // arenas the 400 connection threads used.
    let settled = Instant::now();
    let after = wait_for(
        Duration::from_secs(20),
        "the master's memory to come down",
        || {
            let now = rss_kib(m.pid());
            (now <= before + 8 * 1024).then_some(now)
        },
    );
    eprintln!(
        "load: {POLLERS} pollers made {total_polls} polls while {JOBS} jobs ran in {:.2} s; \
         master RSS {before} KiB before, {peak_connections} KiB with the pollers, \
         {peak} KiB at the end of the jobs, {after} KiB {:.1} s after",
        jobs_took.as_secs_f64(),
        settled.elapsed().as_secs_f64()
    );
    assert!(total_polls > POLLERS as u64 * 2, "{total_polls} polls");
    assert!(
        peak > after,
        "the load raised the master's memory: {peak} KiB"
    );
}
