//! Master durability through real processes: a master killed with -9 in
//! the middle of a job and started again on the same `--state-dir` finishes
//! the job (reusing the map outputs its workers still hold); finished jobs
//! survive a restart; a torn or corrupt journal tail is ignored; and the
//! journal stays small across many jobs.
//!
//! Loops: killed in the middle of a `repeat until`, the master replays each
//! round's digest into the same decisions (`transitive_closure.job` ends
//! with the rounds and the output of an uninterrupted run, and no stage
//! complete before the kill runs again), and a fixed loop (`pagerank.job`)
//! gives the uninterrupted output. Guards two recovery bugs: a check stage
//! killed half done summed only the digests of the tasks run after the
//! restart (a loop that had settled failed at its `max`), and a loop that
//! failed at its `max` just before the crash was left running forever.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::*;
use minispark::client::Client;
use minispark::master::Journal;
use minispark::protocol::{JobReport, JobState};
use minispark::rng::Rng;

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

/// The job's report, or `None` while its master cannot answer (it is
/// being restarted).
fn report(addr: &str, id: &str) -> Option<JobReport> {
    let id = id.parse().unwrap();
    Client::connect(addr, Duration::from_secs(10), None)
        .and_then(|mut c| c.job(id))
        .ok()
}

/// The round a stage's ops name (`round 3: join > ...`), if any.
fn round_of(ops: &str) -> Option<u32> {
    ops.strip_prefix("round ")?.split(':').next()?.parse().ok()
}

/// Every pair `a<TAB>b` with a path from a to b, in byte order, and the
/// length of the longest shortest path: the rounds `transitive_closure.job`
/// runs (it finds paths one edge longer each round, then one more round
/// finds nothing).
fn closure(edges: &[(String, String)]) -> (Vec<String>, u32) {
    let mut out: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (a, b) in edges {
        out.entry(a).or_default().insert(b);
    }
    let mut pairs = Vec::new();
    let mut longest = 0;
    for &start in out.keys() {
        // Breadth first: `dist` is each node's shortest distance.
        let mut dist: BTreeMap<&str, u32> = BTreeMap::new();
        let mut wave: Vec<&str> = vec![start];
        let mut d = 0;
        while !wave.is_empty() {
            d += 1;
            let mut next = Vec::new();
            for n in wave {
                for &m in out.get(n).into_iter().flatten() {
                    if !dist.contains_key(m) {
                        dist.insert(m, d);
                        next.push(m);
                    }
                }
            }
            wave = next;
        }
        longest = longest.max(dist.values().copied().max().unwrap_or(0));
        pairs.extend(dist.keys().map(|n| format!("{start}\t{n}")));
    }
    pairs.sort();
    (pairs, longest)
}

/// A master with a state directory and `n` workers of one slot each that
/// come back fast after it restarts, every attempt slowed by `slow_ms`.
fn slow_cluster(n: usize, slow_ms: &str) -> (Proc, Vec<Proc>, std::path::PathBuf) {
    let state = temp_dir("loop-state");
    let m = master(&["--state-dir", path(&state)]);
    let flags = [
        "--slots",
        "1",
        "--reconnect-max-ms",
        "100",
        "--slow-probability",
        "1",
        "--slow-ms",
        slow_ms,
    ];
    let workers: Vec<Proc> = (0..n).map(|_| worker(&m.addr, &flags)).collect();
    wait_workers(&m.addr, n, "ALIVE", LIMIT);
    for w in &workers {
        wait_for(LIMIT, "the worker to learn its id", || {
            w.log_text().contains(" registered id=").then_some(())
        });
    }
    (m, workers, state)
}

#[test]
fn a_master_killed_mid_loop_plans_the_same_rounds_after_a_restart() {
    let (mut m, _workers, state) = slow_cluster(2, "15");
    let port = m.port().to_string();
    let dir = temp_dir("loop-restart");
    let input = dir.join("edges.txt");
    // A chain of 15 nodes, a cycle, and random edges among other nodes,
    // some into the chain: a path one edge longer is found each round, so
    // the chain sets the rounds.
    let mut edges: Vec<(String, String)> = (0..14)
        .map(|i| (format!("c{i}"), format!("c{}", i + 1)))
        .collect();
    edges.extend(
        [("x", "y"), ("y", "z"), ("z", "x"), ("x", "y")].map(|(a, b)| (a.into(), b.into())),
    );
    let mut rng = Rng::new(12);
    for _ in 0..12 {
        let a = format!("r{}", rng.below(8));
        let b = match rng.below(4) {
            0 => format!("c{}", rng.below(15)),
            _ => format!("r{}", rng.below(8)),
        };
        edges.push((a, b));
    }
    let text: String = edges.iter().map(|(a, b)| format!("{a} {b}\n")).collect();
    fs::write(&input, text + "\nsolo\n").unwrap();
    let (want, rounds) = closure(&edges);
    assert!(rounds >= 14, "{rounds} rounds");
    let out = dir.join("out");
    let params = [("edges", path(&input)), ("output", path(&out))];
    let id = start(&m.addr, "transitive_closure.job", &params);

    // Kill it in the middle of round 4 or later: some rounds checked, the
    // next one under way.
    let before = wait_for(LIMIT, "round 4 to be under way", || {
        let r = report(&m.addr, &id)?;
        assert_eq!(r.state, JobState::Running, "the job ended before the kill");
        r.stages
            .iter()
            .any(|s| {
                round_of(&s.ops).is_some_and(|n| n >= 4)
                    && s.tasks_done > 0
                    && s.tasks_done < s.tasks_total
            })
            .then_some(r)
    });
    m.kill();
    let m2 = restart(&port, &state, &[]);
    let end = wait_end(&m2.addr, &id, LIMIT);
    assert_eq!(end.state, "SUCCEEDED", "{}\n{}", end.error, m2.log_text());
    assert_eq!(sorted(output_lines(&out)), want);

    // The rounds of an uninterrupted run, no more: the digests replayed
    // made the same decisions, and the rounds after planned the same way.
    let after = report(&m2.addr, &id).unwrap();
    let last = after.stages.iter().filter_map(|s| round_of(&s.ops)).max();
    assert_eq!(last, Some(rounds), "{}", end.text);
    // Every stage planned before the kill has its number and ops still, and
    // one complete then was not run again: its attempts are as they were
    // (a check stage's, one per task).
    for (b, a) in before.stages.iter().zip(&after.stages) {
        assert_eq!((b.stage, &b.ops), (a.stage, &a.ops), "{}", end.text);
        if b.tasks_done == b.tasks_total {
            assert_eq!(
                a.attempts, b.attempts,
                "stage {} ran again:\n{}",
                b.stage, end.text
            );
        }
        if b.ops.contains("> check ") && b.tasks_done == b.tasks_total {
            assert_eq!(a.attempts, a.tasks_total, "{}", end.text);
        }
    }
    let checked = before
        .stages
        .iter()
        .filter(|s| s.ops.contains("> check ") && s.tasks_done == s.tasks_total)
        .count();
    assert!(checked >= 4, "rounds 0 to 3 were checked before the kill");
    assert!(
        m2.log_text().contains("journal_replayed"),
        "{}",
        m2.log_text()
    );
}

/// `node<TAB>rank` lines as a map.
fn ranks(lines: &[String]) -> BTreeMap<String, f64> {
    lines
        .iter()
        .map(|l| {
            let (k, v) = l
                .split_once('\t')
                .unwrap_or_else(|| panic!("no tab: {l:?}"));
            (
                k.to_string(),
                v.parse().unwrap_or_else(|_| panic!("rank {v:?}")),
            )
        })
        .collect()
}

#[test]
fn a_master_killed_mid_pagerank_gives_the_uninterrupted_output() {
    let (mut m, _workers, state) = slow_cluster(2, "25");
    let port = m.port().to_string();
    let dir = temp_dir("pagerank-restart");
    let input = dir.join("links.txt");
    let mut rng = Rng::new(5);
    let links: String = (0..120)
        .map(|_| format!("{} {}\n", rng.below(30), rng.below(36)))
        .collect();
    fs::write(&input, links).unwrap();
    // The uninterrupted run, on the same cluster.
    let clean = dir.join("clean");
    let params = [
        ("links", path(&input)),
        ("output", path(&clean)),
        ("iterations", "4"),
    ];
    let done = submit(&m.addr, &job_file("pagerank.job"), &params, &["--wait"]);
    assert_eq!(done.status.code(), Some(0), "{}", stderr(&done));
    let want = ranks(&output_lines(&clean));

    let out = dir.join("out");
    let params = [
        ("links", path(&input)),
        ("output", path(&out)),
        ("iterations", "4"),
    ];
    let id = start(&m.addr, "pagerank.job", &params);
    // Every round is planned at submission; kill the master in round 2.
    let before = wait_for(LIMIT, "round 2 to be under way", || {
        let r = report(&m.addr, &id)?;
        assert_eq!(r.state, JobState::Running, "the job ended before the kill");
        r.stages
            .iter()
            .any(|s| round_of(&s.ops) == Some(2) && s.tasks_done > 0)
            .then_some(r)
    });
    m.kill();
    let m2 = restart(&port, &state, &[]);
    let end = wait_end(&m2.addr, &id, LIMIT);
    assert_eq!(end.state, "SUCCEEDED", "{}\n{}", end.error, m2.log_text());
    // The same nodes; the same ranks, up to the order floats were added in
    // (map outputs are fetched in any order).
    let got = ranks(&output_lines(&out));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (k, w) in &want {
        assert!(
            (got[k] - w).abs() <= 1e-12 * w.abs().max(1.0),
            "{k}: {} vs {w}",
            got[k]
        );
    }
    // The same plan, and what was complete before the kill not run again.
    let after = report(&m2.addr, &id).unwrap();
    assert_eq!(after.stages.len(), before.stages.len(), "{}", end.text);
    for (b, a) in before.stages.iter().zip(&after.stages) {
        assert_eq!(b.ops, a.ops, "{}", end.text);
        if b.tasks_done == b.tasks_total {
            assert_eq!(
                a.attempts, b.attempts,
                "stage {} ran again:\n{}",
                b.stage, end.text
            );
        }
    }
    assert_eq!(
        after.stages.iter().filter_map(|s| round_of(&s.ops)).max(),
        Some(4)
    );
}

#[test]
fn a_master_killed_in_a_check_stage_computes_the_whole_digest_again() {
    // Each check task sends its part of the digest to the master, which
    // adds them up once the stage is complete; only the sum is journaled.
    // Killed with some check tasks done, the master must not add up only
    // the parts it got after the restart. Here any wrong digest shows: the
    // loop settles in its first round (no edge continues another), and
    // with `max 1` a round 0 or round 1 digest taken for different fails it.
    let (mut m, _workers, state) = slow_cluster(1, "200");
    let port = m.port().to_string();
    let dir = temp_dir("check-restart");
    // Sources and ends apart (no path of two edges), at random so that
    // both partitions of `paths` hold some.
    let mut rng = Rng::new(3);
    let edges: Vec<(String, String)> = (0..20)
        .map(|_| {
            (
                format!("s{}", rng.below(1000)),
                format!("t{}", rng.below(1000)),
            )
        })
        .collect();
    let input = dir.join("edges.txt");
    let text: String = edges.iter().map(|(a, b)| format!("{a} {b}\n")).collect();
    fs::write(&input, text).unwrap();
    let (want, rounds) = closure(&edges);
    assert_eq!(rounds, 1);
    let job = dir.join("closure.job");
    fs::write(
        &job,
        "param edges\nparam output\n\
         paths = read_text(edges).map($1, $2).distinct().cache()\n\
         reversed = paths.map($2, $1)\n\
         repeat until unchanged(paths) max 1 {\n  \
           paths = paths.union(paths.join(reversed).map($3, $2)).distinct().cache()\n\
         }\n\
         paths.save(output)\n",
    )
    .unwrap();
    let out = dir.join("out");
    let params = [("edges", path(&input)), ("output", path(&out))];
    let run = submit(&m.addr, path(&job), &params, &[]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let id = stdout(&run).lines().next().unwrap().trim().to_string();
    let before = wait_for(LIMIT, "a check stage half done", || {
        let r = report(&m.addr, &id)?;
        assert_eq!(r.state, JobState::Running, "the job ended before the kill");
        r.stages
            .iter()
            .any(|s| s.ops.contains("> check ") && s.tasks_done > 0 && s.tasks_done < s.tasks_total)
            .then_some(r)
    });
    m.kill();
    let m2 = restart(&port, &state, &[]);
    let end = wait_end(&m2.addr, &id, LIMIT);
    assert_eq!(end.state, "SUCCEEDED", "{}\n{}", end.error, end.text);
    assert_eq!(sorted(output_lines(&out)), want);
    let after = report(&m2.addr, &id).unwrap();
    let half = before
        .stages
        .iter()
        .find(|s| s.ops.contains("> check ") && s.tasks_done > 0 && s.tasks_done < s.tasks_total)
        .unwrap();
    // That check stage ran whole again (its done tasks' parts were lost),
    // and its report counts each record once.
    let again = &after.stages[half.stage as usize];
    assert!(
        again.attempts >= half.tasks_done + again.tasks_total,
        "{}",
        end.text
    );
    assert_eq!(again.records_in, want.len() as u64, "{}", end.text);
}

#[test]
fn a_loop_failed_at_its_max_just_before_a_crash_fails_after_the_restart() {
    // The master journals the digest that makes a loop fail at its `max`,
    // then the job's end: killed between the two, it must replay the
    // digest into the same failure, not wait for a round it will never plan.
    let state = temp_dir("max-state");
    let mut m = master(&["--state-dir", path(&state)]);
    let _w = worker(&m.addr, &["--reconnect-max-ms", "100"]);
    wait_workers(&m.addr, 1, "ALIVE", LIMIT);
    let dir = temp_dir("max-restart");
    let input = dir.join("in.txt");
    fs::write(&input, "a\nb\n").unwrap();
    let job = dir.join("grow.job");
    fs::write(
        &job,
        "param input\nparam output\nx = read_text(input)\n\
         repeat until unchanged(x) max 1 {\n  x = x.map(concat($0, \"!\"))\n}\nx.save(output)\n",
    )
    .unwrap();
    let out = dir.join("out");
    let params = [("input", path(&input)), ("output", path(&out))];
    let run = submit(&m.addr, path(&job), &params, &["--wait"]);
    assert_eq!(run.status.code(), Some(1), "{}", stdout(&run));
    let id = stdout(&run).lines().next().unwrap().trim().to_string();
    let failed = status(&m.addr, &id);
    assert!(
        failed
            .error
            .contains("did not settle within its max of 1 rounds"),
        "{}",
        failed.error
    );
    m.kill();

    // The journal as the crash would leave it: without the job's end (an
    // entry whose tag, its first byte, is 6: `Entry::JobEnded`).
    let (mut journal, replay) = Journal::open(&state.join("journal")).unwrap();
    let (last, kept) = replay.records.split_last().unwrap();
    assert_eq!(
        last.first(),
        Some(&6),
        "the journal ends with the job's end"
    );
    journal.rewrite(kept).unwrap();
    drop(journal);
    let m2 = master(&["--state-dir", path(&state)]);
    let end = wait_end(&m2.addr, &id, Duration::from_secs(10));
    assert_eq!(end.state, "FAILED", "{}", end.text);
    assert_eq!(end.error, failed.error);
    assert!(!out.join("_SUCCESS").exists());
}
