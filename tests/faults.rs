//! Fault tolerance through real processes: workers killed with -9 during
//! the map stage and during the reduce stage, a map output deleted under a
//! live worker (a fetch failure), workers that crash at random and are
//! restarted (MIT 6.824's crash test), retries running out, task timeouts,
//! speculation, and the commit protocol's promise that no output file
//! changes after the job SUCCEEDED. Every run is compared with a result the
//! test computes itself. Every wait has a deadline.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::*;

/// A words file big enough for several splits, and its word counts.
fn words(dir: &Path, lines: usize) -> (PathBuf, Vec<String>) {
    let input = dir.join("words.txt");
    let text = words_file(&input, lines, 11);
    (input, word_counts(&text))
}

#[test]
fn without_faults_every_task_runs_exactly_once() {
    let (m, _w) = cluster(3, &[], &["--slots", "1"]);
    let dir = temp_dir("once");
    let (input, want) = words(&dir, 3000);
    let out = dir.join("out");
    let id = start(
        &m.addr,
        "wordcount.job",
        &[("input", path(&input)), ("output", path(&out))],
    );
    let Status {
        state, rows, error, ..
    } = wait_end(&m.addr, &id, Duration::from_secs(60));
    assert_eq!(state, "SUCCEEDED", "{error}");
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(
            (r.done, r.attempts, r.failed),
            (r.total, r.total, 0),
            "{rows:?}"
        );
    }
    assert_eq!(sorted(output_lines(&out)), want);
}

#[test]
fn a_task_that_always_fails_fails_its_job_after_max_attempts() {
    let (m, _w) = cluster(
        1,
        &["--max-attempts", "2"],
        &["--slots", "1", "--fail-probability", "1"],
    );
    let dir = temp_dir("exhaust");
    let (input, _) = words(&dir, 100);
    let out = dir.join("out");
    let run = submit(
        &m.addr,
        &job_file("grep.job"),
        &[
            ("input", path(&input)),
            ("output", path(&out)),
            ("pattern", "error"),
        ],
        &["--wait"],
    );
    assert_eq!(
        run.status.code(),
        Some(1),
        "FAILED exits 1: {}",
        stderr(&run)
    );
    let id = stdout(&run).lines().next().unwrap().trim().to_string();
    let Status {
        state, rows, error, ..
    } = status(&m.addr, &id);
    assert_eq!(state, "FAILED");
    assert!(error.contains("failed 2 times"), "{error}");
    assert!(
        error.contains("injected failure"),
        "the task's own error: {error}"
    );
    // One split, one task: exactly --max-attempts attempts, all failed.
    assert_eq!(rows[0].total, 1);
    assert_eq!((rows[0].attempts, rows[0].failed), (2, 2), "{rows:?}");
    assert!(!out.join("_SUCCESS").exists());
}

/// Runs word count on 3 workers (1 slot each, every attempt slowed by
/// `--slow-ms 300` so stages last long enough to be interrupted) and kills
/// worker 0 once `when` says so.
fn kill_a_worker_when(
    partitions: &str,
    when: impl Fn(&[Row]) -> bool,
) -> (Vec<String>, Vec<String>, Proc) {
    let slow = [
        "--slots",
        "1",
        "--slow-probability",
        "1",
        "--slow-ms",
        "300",
    ];
    let (m, mut w) = cluster(3, &[], &slow);
    let dir = temp_dir("kill");
    let (input, want) = words(&dir, 3000);
    let out = dir.join("out");
    let params = [
        ("input", path(&input)),
        ("output", path(&out)),
        ("partitions", partitions),
    ];
    let id = start(&m.addr, "wordcount.job", &params);
    wait_for(Duration::from_secs(30), "the moment to kill", || {
        let Status { state, rows, .. } = status(&m.addr, &id);
        assert_eq!(state, "RUNNING", "the job ended before the kill: {rows:?}");
        when(&rows).then_some(())
    });
    w[0].kill();
    let Status { state, error, .. } = wait_end(&m.addr, &id, Duration::from_secs(60));
    assert_eq!(state, "SUCCEEDED", "{error}");
    (sorted(output_lines(&out)), want, m)
}

#[test]
fn a_worker_killed_during_the_map_stage_changes_nothing() {
    let (got, want, _m) = kill_a_worker_when("4", |rows| rows[0].running > 0 && rows[0].done == 0);
    assert_eq!(got, want);
}

#[test]
fn a_worker_killed_during_the_reduce_stage_changes_nothing() {
    // Six reduce tasks on three slots: kill after some reducers fetched
    // every map output (and finished), before the others did.
    let (got, want, _m) =
        kill_a_worker_when("6", |rows| rows[1].done > 0 && rows[1].done < rows[1].total);
    assert_eq!(got, want);
}

#[test]
fn a_lost_map_output_is_recomputed_after_a_fetch_failure() {
    // The worker stays alive; only its map output disappears, so only a
    // reducer's fetch failure can tell the master.
    let m = master(&[]);
    let work = temp_dir("fetchfail-work");
    let slow = [
        "--slots",
        "1",
        "--slow-probability",
        "1",
        "--slow-ms",
        "400",
    ];
    let mut victim_flags = slow.to_vec();
    victim_flags.extend(["--work-dir", path(&work)]);
    let _victim = worker(&m.addr, &victim_flags);
    let _others: Vec<Proc> = (0..2).map(|_| worker(&m.addr, &slow)).collect();
    wait_workers(&m.addr, 3, "ALIVE", Duration::from_secs(15));
    let dir = temp_dir("fetchfail");
    let (input, want) = words(&dir, 3000);
    let out = dir.join("out");
    // Three splits, one per single-slot worker, so that the victim holds
    // one map output: left to the client, the splits follow this
    // machine's cores, and on two cores the victim might hold none.
    let job = dir.join("wordcount3.job");
    fs::write(
        &job,
        "param input\nparam output\n\
         read_text(input, splits=3).flat_map(split($0))\n  .map($0, 1).reduce_by_key(sum, 6).save(output)\n",
    )
    .unwrap();
    let params = [("input", path(&input)), ("output", path(&out))];
    let id = start_file(&m.addr, path(&job), &params);
    // Once every map output is committed, delete the victim's.
    wait_for(Duration::from_secs(30), "the map stage to finish", || {
        let rows = status(&m.addr, &id).rows;
        (rows[0].done == rows[0].total).then_some(())
    });
    let mut deleted = 0;
    for job_dir in fs::read_dir(&work).unwrap().flatten() {
        if !job_dir.path().is_dir() {
            continue;
        }
        for f in fs::read_dir(job_dir.path()).unwrap().flatten() {
            if f.file_name().to_string_lossy().ends_with(".data") {
                fs::remove_file(f.path()).unwrap();
                deleted += 1;
            }
        }
    }
    assert_eq!(deleted, 1, "the victim held one map output");
    let Status {
        state, rows, error, ..
    } = wait_end(&m.addr, &id, Duration::from_secs(60));
    assert_eq!(state, "SUCCEEDED", "{error}");
    assert_eq!(sorted(output_lines(&out)), want);
    // Only the lost map task ran again; some reducer failed to fetch it.
    assert_eq!(rows[0].attempts, rows[0].total + 1, "{rows:?}");
    assert!(rows[1].failed >= 1, "{rows:?}");
    assert!(m.log_text().contains("fetch_failed"), "{}", m.log_text());
}

#[test]
fn crashing_workers_restarted_as_they_die_give_the_fault_free_output() {
    // MIT 6.824's crash test: each attempt crashes its worker with
    // probability 0.3; the test starts a new worker whenever one dies.
    let m = master(&["--max-attempts", "10"]);
    let start_worker = |seed: u64| {
        let seed = seed.to_string();
        worker(
            &m.addr,
            &[
                "--slots",
                "2",
                "--crash-probability",
                "0.3",
                "--fault-seed",
                &seed,
            ],
        )
    };
    let mut workers: Vec<Proc> = (0..3).map(start_worker).collect();
    let mut seed = 3;
    let dir = temp_dir("crash");
    let (input, want_counts) = words(&dir, 4000);
    let users = dir.join("users.csv");
    let orders = dir.join("orders.csv");
    fs::write(
        &users,
        (1..=200)
            .map(|i| format!("{i},name{i},c{}\n", i % 7))
            .collect::<String>(),
    )
    .unwrap();
    fs::write(
        &orders,
        (1..=3000)
            .map(|i| format!("o{i},{},{}\n", 1 + i * 7 % 230, i % 100))
            .collect::<String>(),
    )
    .unwrap();
    let want_join: Vec<String> = sorted(
        (1..=3000)
            .filter_map(|i| {
                let user = 1 + i * 7 % 230;
                (user <= 200).then(|| format!("{user}\tname{user}\to{i}\t{}", i % 100))
            })
            .collect(),
    );
    let wc_out = dir.join("wc");
    let join_out = dir.join("join");
    let wc = start(
        &m.addr,
        "wordcount.job",
        &[("input", path(&input)), ("output", path(&wc_out))],
    );
    let join = start(
        &m.addr,
        "join.job",
        &[
            ("users", path(&users)),
            ("orders", path(&orders)),
            ("output", path(&join_out)),
        ],
    );
    let mut crashes = 0;
    for id in [&wc, &join] {
        wait_for(
            Duration::from_secs(120),
            "the jobs to end under crashes",
            || {
                for w in workers.iter_mut() {
                    if w.exited() {
                        crashes += 1;
                        seed += 1;
                        *w = start_worker(seed);
                    }
                }
                let Status { state, error, .. } = status(&m.addr, id);
                assert!(
                    state == "RUNNING" || state == "SUCCEEDED",
                    "{state}: {error}"
                );
                (state == "SUCCEEDED").then_some(())
            },
        );
    }
    assert!(crashes > 0, "no worker crashed: the test tested nothing");
    assert_eq!(sorted(output_lines(&wc_out)), want_counts);
    assert_eq!(sorted(output_lines(&join_out)), want_join);
}

/// Every file under `dir` with its length and modification time.
fn snapshot(dir: &Path) -> BTreeMap<String, (u64, SystemTime)> {
    let mut files = BTreeMap::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if let Ok(meta) = e.metadata() {
                if meta.is_file() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    files.insert(name, (meta.len(), meta.modified().unwrap()));
                }
            }
        }
    }
    files
}

#[test]
fn no_output_changes_after_success_and_success_comes_last() {
    // Slow attempts and speculation make late duplicate attempts: they
    // must never touch the committed output.
    let (m, _w) = cluster(
        3,
        &["--speculation"],
        &[
            "--slots",
            "2",
            "--slow-probability",
            "0.3",
            "--slow-ms",
            "700",
            "--fault-seed",
            "5",
        ],
    );
    let dir = temp_dir("early");
    let (input, want) = words(&dir, 3000);
    let out = dir.join("out");
    let params = [
        ("input", path(&input)),
        ("output", path(&out)),
        ("partitions", "6"),
    ];
    let id = start(&m.addr, "wordcount.job", &params);
    let at_success = wait_for(Duration::from_secs(60), "_SUCCESS", || {
        let files = snapshot(&out);
        files.contains_key("_SUCCESS").then_some(files)
    });
    let parts = at_success.keys().filter(|k| k.starts_with("part-")).count();
    assert_eq!(
        parts, 6,
        "every part was in place before _SUCCESS: {at_success:?}"
    );
    let Status { state, error, .. } = wait_end(&m.addr, &id, Duration::from_secs(30));
    assert_eq!(state, "SUCCEEDED", "{error}");
    // Wait until no attempt runs anywhere (late duplicates included).
    wait_for(Duration::from_secs(30), "every attempt to end", || {
        let lines = workers(&m.addr);
        lines
            .iter()
            .all(|l| field(l, "running") == Some("0"))
            .then_some(())
    });
    assert_eq!(
        snapshot(&out),
        at_success,
        "the output changed after _SUCCESS"
    );
    assert_eq!(sorted(output_lines(&out)), want);
}

/// Word count on a master with `master_flags`, a worker with one slot
/// whose every attempt sleeps 20 s, and one with `fast_slots` fast slots.
/// Returns the master and the job's final stage rows, once the output is
/// checked. The deadline is far below 20 s: only the master's help (a
/// timeout, a speculative copy) finishes the job in time.
fn one_slow_worker(master_flags: &[&str], fast_slots: &str) -> (Proc, Vec<Row>) {
    let m = master(master_flags);
    let slow = [
        "--slots",
        "1",
        "--slow-probability",
        "1",
        "--slow-ms",
        "20000",
    ];
    let _slow = worker(&m.addr, &slow);
    let _fast = worker(&m.addr, &["--slots", fast_slots]);
    wait_workers(&m.addr, 2, "ALIVE", Duration::from_secs(15));
    let dir = temp_dir("slow");
    let (input, want) = words(&dir, 2000);
    let out = dir.join("out");
    let params = [("input", path(&input)), ("output", path(&out))];
    let id = start(&m.addr, "wordcount.job", &params);
    let Status {
        state, rows, error, ..
    } = wait_end(&m.addr, &id, Duration::from_secs(30));
    assert_eq!(state, "SUCCEEDED", "{error}");
    assert_eq!(sorted(output_lines(&out)), want);
    (m, rows)
}

#[test]
fn an_attempt_past_the_task_timeout_is_retried_elsewhere() {
    // 2 s: far below the slow worker's 20 s, and far above what a fast
    // attempt takes even on a loaded machine.
    let (m, rows) = one_slow_worker(&["--task-timeout-ms", "2000"], "1");
    assert!(rows.iter().any(|r| r.failed > 0), "{rows:?}");
    assert!(m.log_text().contains("timed out"), "{}", m.log_text());
}

#[test]
fn a_straggler_gets_a_speculative_copy_that_wins() {
    // Three fast slots and a slow one: 75% of a stage finishes early, and
    // the straggler is copied onto a fast slot.
    let (m, rows) = one_slow_worker(&["--speculation"], "3");
    assert!(rows.iter().any(|r| r.attempts > r.total), "{rows:?}");
    assert!(m.log_text().contains("task_speculated"), "{}", m.log_text());
}

#[test]
fn a_worker_empties_its_work_dir_when_a_job_ends_and_when_it_starts() {
    let m = master(&[]);
    let work = temp_dir("workdir");
    let mut w = worker(&m.addr, &["--work-dir", path(&work)]);
    wait_workers(&m.addr, 1, "ALIVE", Duration::from_secs(15));
    let dir = temp_dir("workdir-job");
    let (input, want) = words(&dir, 500);
    let out = dir.join("out");
    let params = [("input", path(&input)), ("output", path(&out))];
    let run = submit(&m.addr, &job_file("wordcount.job"), &params, &["--wait"]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert_eq!(sorted(output_lines(&out)), want);
    // The job's shuffle and spill files go when the job ends.
    wait_for(Duration::from_secs(15), "the job's files to go", || {
        let left: Vec<_> = fs::read_dir(&work)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        left.iter()
            .all(|n| n.to_string_lossy().starts_with('.'))
            .then_some(())
    });
    // What a killed worker leaves behind goes when it starts again.
    w.kill();
    fs::create_dir_all(work.join("job-9")).unwrap();
    fs::write(
        work.join("job-9").join("shuffle-0-map-0-attempt-3.data"),
        "x",
    )
    .unwrap();
    let _w2 = worker(&m.addr, &["--work-dir", path(&work)]);
    wait_for(Duration::from_secs(15), "the leftovers to go", || {
        (!work.join("job-9").exists()).then_some(())
    });
    // A directory that is not a work directory is refused, not emptied.
    let foreign = temp_dir("foreign");
    fs::write(foreign.join("precious.txt"), "keep me").unwrap();
    let mut refused = worker(&m.addr, &["--work-dir", path(&foreign)]);
    wait_for(Duration::from_secs(15), "the worker to refuse", || {
        refused.exited().then_some(())
    });
    assert!(
        refused.log_text().contains("refusing"),
        "{}",
        refused.log_text()
    );
    assert_eq!(
        fs::read_to_string(foreign.join("precious.txt")).unwrap(),
        "keep me"
    );
}

/// A worker frozen with SIGSTOP while reducers fetch from it: its sockets
/// stay open and silent, as a host black-holed on a real network. Each
/// fetch from it fails after `--fetch-timeout-ms` (it used to wait in a
/// socket read for good), its map outputs are computed again on the other
/// workers, its own attempts time out, and the job ends with the fault-free
/// output long before the master would declare the worker dead.
#[test]
fn fetches_from_a_silent_worker_time_out_and_the_job_finishes() {
    let master_flags = [
        "--task-timeout-ms",
        "3000",
        "--heartbeat-timeout-ms",
        "120000",
    ];
    // Every attempt sleeps 300 ms once its output is on disk, so the reduce
    // stage (24 tasks, 3 slots) lasts seconds and the freeze lands inside
    // it: without the sleeps the whole job takes 30 ms, less than a poll.
    let worker_flags = [
        "--slots",
        "1",
        "--fetch-timeout-ms",
        "500",
        "--slow-probability",
        "1",
        "--slow-ms",
        "300",
    ];
    let (m, w) = cluster(3, &master_flags, &worker_flags);
    let dir = temp_dir("silent");
    let (input, want) = words(&dir, 20_000);
    let out = dir.join("out");
    let params = [
        ("input", path(&input)),
        ("output", path(&out)),
        ("partitions", "24"),
    ];
    let id = start(&m.addr, "wordcount.job", &params);
    // Once the map outputs are all in place, before the reducers are done.
    wait_for(Duration::from_secs(30), "the reduce stage", || {
        let Status { state, rows, .. } = status(&m.addr, &id);
        assert_eq!(
            state, "RUNNING",
            "the job ended before the freeze: {rows:?}"
        );
        (rows.len() == 2 && rows[0].done == rows[0].total && rows[1].done < rows[1].total)
            .then_some(())
    });
    // The worker frozen is one that holds a map output, so that reducers
    // have something to fetch from it.
    let mapped = format!("task_finished job={id} stage=0 ");
    let frozen = (0..w.len())
        .find(|&i| w[i].log_text().contains(&mapped))
        .expect("a worker that ran a map task");
    w[frozen].signal("STOP");
    let s = wait_end(&m.addr, &id, Duration::from_secs(60));
    assert_eq!(s.state, "SUCCEEDED", "{}\n{}", s.error, s.text);
    assert_eq!(sorted(output_lines(&out)), want);
    assert!(
        m.log_text().contains("fetch_failed"),
        "no fetch from the frozen worker timed out:\n{}",
        m.log_text()
    );
    w[frozen].signal("CONT");
}

/// A worker cut off (frozen) while its job runs: once the master declares
/// it dead, the attempts fetching from it are aborted and retried against
/// its map outputs computed again, so the job ends in about a second, not
/// after the fetch timeout. It misses the job's `ReleaseJob`; when it comes
/// back and registers again, it is told which jobs have ended and removes
/// their shuffle files.
#[test]
fn a_worker_back_after_its_job_ended_removes_the_jobs_files() {
    let m = master(&["--heartbeat-timeout-ms", "800"]);
    let work = temp_dir("returning-work");
    // Each attempt on worker 0 sleeps 2 s once it has run, its files on
    // disk: the job cannot end before the test sees them (a word count of
    // 20,000 words takes a few milliseconds, less than one poll).
    let w0 = worker(
        &m.addr,
        &[
            "--slots",
            "1",
            "--heartbeat-ms",
            "100",
            "--reconnect-max-ms",
            "100",
            "--slow-probability",
            "1",
            "--slow-ms",
            "2000",
            "--work-dir",
            path(&work),
        ],
    );
    let _others: Vec<Proc> = (0..2)
        .map(|_| worker(&m.addr, &["--slots", "1", "--heartbeat-ms", "100"]))
        .collect();
    wait_workers(&m.addr, 3, "ALIVE", Duration::from_secs(15));
    let dir = temp_dir("returning");
    let (input, want) = words(&dir, 20_000);
    let out = dir.join("out");
    let params = [
        ("input", path(&input)),
        ("output", path(&out)),
        ("partitions", "6"),
    ];
    let id = start(&m.addr, "wordcount.job", &params);
    let job_dir = work.join(format!("job-{id}"));
    wait_for(
        Duration::from_secs(30),
        "worker 0 to hold job files",
        || job_dir.exists().then_some(()),
    );
    w0.signal("STOP");
    // Declared dead after 0.8 s: the reducers fetching from it are aborted
    // and run again on the map outputs computed again, at once, not after
    // their 30 s fetch timeout.
    let s = wait_end(&m.addr, &id, Duration::from_secs(20));
    assert_eq!(s.state, "SUCCEEDED", "{}\n{}", s.error, s.text);
    assert_eq!(sorted(output_lines(&out)), want);
    assert!(
        job_dir.exists(),
        "the frozen worker cannot have removed them"
    );
    w0.signal("CONT");
    wait_for(
        Duration::from_secs(30),
        "the returning worker to remove the job's files",
        || (!job_dir.exists()).then_some(()),
    );
}
