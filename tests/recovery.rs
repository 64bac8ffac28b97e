//! Master durability through real processes: a master killed with -9 in
//! the middle of a job and started again on the same `--state-dir` finishes
//! the job (reusing the map outputs its workers still hold); finished jobs
//! survive a restart; a torn or corrupt journal tail is ignored; and the
//! journal stays small across many jobs.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::*;
use minispark::master::Journal;

const LIMIT: Duration = Duration::from_secs(30);

fn restart(port: &str, state: &Path, extra: &[&str]) -> Proc {
    let mut args = vec![
        "--port",
        port,
        "--bind",
        "127.0.0.1",
        "--state-dir",
        path(state),
    ];
    args.extend_from_slice(extra);
    Proc::start("master", &args)
}

#[test]
fn a_master_killed_mid_job_finishes_it_after_a_restart() {
    let state = temp_dir("restart-state");
    let mut m = master(&["--state-dir", path(&state)]);
    let port = m.port().to_string();
    let flags = [
        "--slots",
        "1",
        "--reconnect-max-ms",
        "100",
        "--slow-probability",
        "1",
        "--slow-ms",
        "300",
    ];
    let workers: Vec<Proc> = (0..3).map(|_| worker(&m.addr, &flags)).collect();
    wait_workers(&m.addr, 3, "ALIVE", LIMIT);
    for w in &workers {
        wait_for(LIMIT, "the worker to learn its id", || {
            w.log_text().contains(" registered id=").then_some(())
        });
    }
    let dir = temp_dir("restart");
    let input = dir.join("words.txt");
    let want = word_counts(&words_file(&input, 3000, 3));
    let out = dir.join("out");
    let params = [
        ("input", path(&input)),
        ("output", path(&out)),
        ("partitions", "6"),
    ];
    let id = start(&m.addr, "wordcount.job", &params);
    // Kill the master once every map output is committed and some reduce
    // tasks are done, others not.
    wait_for(LIMIT, "the reduce stage to be under way", || {
        let rows = status(&m.addr, &id).rows;
        let (map, reduce) = (rows.first()?, rows.get(1)?);
        (map.done == map.total && reduce.done > 0 && reduce.done < reduce.total).then_some(())
    });
    m.kill();
    let m2 = restart(&port, &state, &[]);
    let end = wait_end(&m2.addr, &id, Duration::from_secs(60));
    assert_eq!(end.state, "SUCCEEDED", "{}", m2.log_text());
    assert_eq!(sorted(output_lines(&out)), want);
    // The map outputs were still on their workers: no map task ran again.
    assert_eq!(end.rows[0].attempts, end.rows[0].total, "{:?}", end.rows);
    assert!(
        m2.log_text().contains("journal_replayed"),
        "{}",
        m2.log_text()
    );
}

#[test]
fn finished_jobs_survive_a_restart_and_a_damaged_journal_tail_is_ignored() {
    let state = temp_dir("finished-state");
    let mut m = master(&["--state-dir", path(&state)]);
    let _w = worker(&m.addr, &["--reconnect-max-ms", "100"]);
    wait_workers(&m.addr, 1, "ALIVE", LIMIT);
    let dir = temp_dir("finished");
    let input = dir.join("words.txt");
    let lines = words_file(&input, 500, 4);
    let expected: Vec<&String> = lines.iter().filter(|l| l.contains("error")).collect();
    let out = dir.join("out");
    let params = [
        ("input", path(&input)),
        ("output", path(&out)),
        ("pattern", "error"),
    ];
    let run = submit(&m.addr, &job_file("grep.job"), &params, &["--wait"]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let id = stdout(&run).lines().next().unwrap().trim().to_string();
    let before = stdout(&client(&["--master", &m.addr, "status", &id]));
    m.kill();

    // A torn last entry: a length promising more bytes than follow.
    let journal = state.join("journal");
    let mut f = OpenOptions::new().append(true).open(&journal).unwrap();
    f.write_all(&[0, 0, 0, 200, 1, 2, 3, 4, 5, 6]).unwrap();
    drop(f);
    let m2 = master(&["--state-dir", path(&state)]);
    let after = stdout(&client(&["--master", &m2.addr, "status", &id]));
    // Same report, elapsed time and all.
    assert_eq!(after, before);
    let jobs = stdout(&client(&["--master", &m2.addr, "jobs"]));
    assert!(
        jobs.contains(&format!("id={id} ")) && jobs.contains("SUCCEEDED"),
        "{jobs}"
    );
    assert!(
        m2.log_text().contains("discarded_bytes=10"),
        "{}",
        m2.log_text()
    );
    // Its output is still fetched from the worker that committed it.
    let results = client(&["--master", &m2.addr, "results", &id]);
    assert_eq!(stdout(&results).lines().count(), expected.len());
    drop(m2);

    // A corrupt last entry (a flipped bit in its payload) is dropped too,
    // and only it: the job, journaled before, is still there.
    let mut bytes = fs::read(&journal).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    fs::write(&journal, bytes).unwrap();
    let m3 = master(&["--state-dir", path(&state)]);
    assert_eq!(
        status(&m3.addr, &id).state,
        "SUCCEEDED",
        "{}",
        m3.log_text()
    );
}

#[test]
fn the_journal_stays_small_across_many_jobs() {
    let state = temp_dir("compact-state");
    let mut m = master(&["--state-dir", path(&state), "--retained-jobs", "3"]);
    let _w = worker(&m.addr, &[]);
    wait_workers(&m.addr, 1, "ALIVE", LIMIT);
    let dir = temp_dir("compact");
    let input = dir.join("words.txt");
    words_file(&input, 50, 5);
    let mut ids = Vec::new();
    for i in 0..25 {
        let out = dir.join(format!("out{i}"));
        let params = [
            ("input", path(&input)),
            ("output", path(&out)),
            ("pattern", "error"),
        ];
        let run = submit(&m.addr, &job_file("grep.job"), &params, &["--wait"]);
        assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
        ids.push(stdout(&run).lines().next().unwrap().trim().to_string());
    }
    let jobs = stdout(&client(&["--master", &m.addr, "jobs"]));
    assert_eq!(
        jobs.lines().count(),
        3,
        "only the last 3 jobs are kept: {jobs}"
    );
    assert!(
        m.log_text().contains("journal_compacted"),
        "{}",
        m.log_text()
    );
    m.kill();
    // 25 jobs wrote 75+ entries; compaction keeps about what 3 jobs need.
    let (_, replay) = Journal::open(&state.join("journal")).unwrap();
    assert!(
        replay.records.len() <= 40,
        "{} entries",
        replay.records.len()
    );
    let m2 = master(&["--state-dir", path(&state), "--retained-jobs", "3"]);
    let jobs = stdout(&client(&["--master", &m2.addr, "jobs"]));
    assert_eq!(jobs.lines().count(), 3, "{jobs}");
    assert!(jobs.contains(&format!("id={} ", ids[24])), "{jobs}");
}
