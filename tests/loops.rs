//! Loops and caches through real processes: `jobs/pagerank.job` and
//! `jobs/transitive_closure.job` against answers the test computes itself,
//! on graphs with duplicate edges, self-loops, nodes without out-links and
//! empty lines; PageRank with a worker killed with -9 between its rounds; a
//! cached dataset read from its input once across ten rounds; a loop that
//! never settles failing at its `max`. Guards `job/loops.rs`, the master's
//! round-by-round planning (`master/scheduler/loops.rs`), the block cache
//! and the recomputation of lost cached partitions from their lineage.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::time::Duration;

use common::*;
use minispark::client::Client;
use minispark::rng::Rng;

const LIMIT: Duration = Duration::from_secs(60);

/// A random graph as `src dst` lines, with what real edge lists have:
/// repeated edges, self-loops, nodes that only receive, blank lines and
/// lines with one field.
fn graph(path: &Path, nodes: u64, edges: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let mut lines = Vec::new();
    for i in 0..edges {
        let a = rng.below(nodes);
        // Nodes numbered past `nodes` only ever receive.
        let b = rng.below(nodes + nodes / 5);
        lines.push(format!("{a} {b}"));
        match i % 37 {
            0 => lines.push(format!("{a} {b}")),
            1 => lines.push(format!("{a}\t{a}")),
            2 => lines.push(String::new()),
            3 => lines.push(format!("  {a}  ")),
            _ => {}
        }
    }
    fs::write(path, lines.join("\n") + "\n").unwrap();
    lines
}

/// Spark's pagerank.py, in Rust: `(node, rank)` after `iterations` rounds.
fn pagerank(lines: &[String], iterations: usize) -> BTreeMap<String, f64> {
    let mut links: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 2 {
            links.entry(f[0].into()).or_default().insert(f[1].into());
        }
    }
    let mut ranks: BTreeMap<String, f64> = links.keys().map(|k| (k.clone(), 1.0)).collect();
    for _ in 0..iterations {
        let mut sums: BTreeMap<String, f64> = BTreeMap::new();
        for (node, out) in &links {
            if let Some(rank) = ranks.get(node) {
                for n in out {
                    *sums.entry(n.clone()).or_default() += rank / out.len() as f64;
                }
            }
        }
        ranks = sums
            .into_iter()
            .map(|(k, s)| (k, 0.15 + 0.85 * s))
            .collect();
    }
    ranks
}

/// Checks `node<TAB>rank` lines against `want` (floats within 1e-9
/// relative: sums may add in another order).
fn check_ranks(got: &[String], want: &BTreeMap<String, f64>) {
    let got: BTreeMap<String, f64> = got
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
        .collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "the nodes ranked"
    );
    for (k, w) in want {
        let g = got[k];
        assert!((g - w).abs() <= 1e-9 * w.abs().max(1.0), "{k}: {g} vs {w}");
    }
}

/// Every pair (a, b) with a path from a to b.
fn closure(lines: &[String]) -> Vec<String> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 2 {
            out.entry(f[0].into()).or_default().insert(f[1].into());
        }
    }
    let mut pairs = Vec::new();
    for start in out.keys() {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut todo: Vec<&str> = out[start].iter().map(String::as_str).collect();
        while let Some(n) = todo.pop() {
            if seen.insert(n) {
                todo.extend(out.get(n).into_iter().flatten().map(String::as_str));
            }
        }
        pairs.extend(seen.into_iter().map(|n| format!("{start}\t{n}")));
    }
    pairs.sort();
    pairs
}

/// `(ops, tasks done, tasks)` of each stage row of a status table.
fn stage_rows(text: &str) -> Vec<(String, u32, u32)> {
    text.lines()
        .filter_map(|line| {
            let cols: Vec<&str> = line
                .split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            let (done, total) = cols.get(2)?.split_once('/')?;
            Some((cols[1].to_string(), done.parse().ok()?, total.parse().ok()?))
        })
        .collect()
}

/// The job's stage table as `client status` prints it.
fn status_text(addr: &str, id: &str) -> String {
    stdout(&client(&["--master", addr, "status", id]))
}

#[test]
fn pagerank_matches_spark_and_reads_its_cached_links_once() {
    let (m, _workers) = cluster(2, &[], &["--slots", "2", "--heartbeat-ms", "100"]);
    let dir = temp_dir("pagerank");
    let input = dir.join("links.txt");
    let lines = graph(&input, 300, 2000, 7);
    let out = dir.join("out");
    let params = [("links", path(&input)), ("output", path(&out))];
    let run = submit(&m.addr, &job_file("pagerank.job"), &params, &["--wait"]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    check_ranks(&output_lines(&out), &pagerank(&lines, 10));

    // The links are read from the file once, cached, and read from the
    // cache in each of the ten rounds; the rounds are numbered.
    let id = stdout(&run).lines().next().unwrap().to_string();
    let text = status_text(&m.addr, &id);
    let reads = text.lines().filter(|l| l.contains("read_text")).count();
    assert_eq!(reads, 1, "the input is read by one stage:\n{text}");
    for round in 1..=10 {
        assert!(
            text.contains(&format!("round {round}: ")),
            "round {round}:\n{text}"
        );
    }
    // The links are computed once, by the stage that caches them, which
    // also feeds the first ranks and every round's join (all planned at
    // once, in a fixed loop) as it computes them: nothing reads them back.
    let report = Client::connect(&m.addr, LIMIT, None)
        .unwrap()
        .job(id.parse().unwrap())
        .unwrap();
    let kept: Vec<_> = report
        .stages
        .iter()
        .filter(|s| s.ops.starts_with("group_by_key > {cache, "))
        .collect();
    assert_eq!(kept.len(), 1, "{text}");
    assert_eq!(kept[0].ops.matches("shuffle").count(), 11, "{text}");
    assert_eq!(text.matches("group_by_key").count(), 1, "{text}");
    assert!(report
        .stages
        .iter()
        .all(|s| s.cache_hits == 0 && s.cache_misses == 0));
    let (code, _, body) = http_request(
        &m.addr,
        &format!("GET /api/v1/jobs/{id} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(code, 200);
    assert!(body.contains("\"cacheHits\":0"), "{body}");

    // No round at all: every node with out-links keeps rank 1.0.
    let zero = dir.join("zero");
    let params = [
        ("links", path(&input)),
        ("output", path(&zero)),
        ("iterations", "0"),
    ];
    let run = submit(&m.addr, &job_file("pagerank.job"), &params, &["--wait"]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    check_ranks(&output_lines(&zero), &pagerank(&lines, 0));

    // The workers hold no cached data once the jobs have ended.
    wait_for(LIMIT, "the cached data to be dropped", || {
        let lines = workers(&m.addr);
        lines
            .iter()
            .all(|l| field(l, "cache_memory") == Some("0") && field(l, "cache_disk") == Some("0"))
            .then_some(())
    });
}

#[test]
fn pagerank_survives_a_worker_killed_between_its_rounds() {
    let slow = ["--slots", "1", "--slow-probability", "1", "--slow-ms", "40"];
    let (m, mut w) = cluster(3, &[], &slow);
    let dir = temp_dir("pagerank-kill");
    let input = dir.join("links.txt");
    let lines = graph(&input, 200, 1500, 11);
    let out = dir.join("out");
    let params = [
        ("links", path(&input)),
        ("output", path(&out)),
        ("iterations", "6"),
    ];
    let id = start(&m.addr, "pagerank.job", &params);
    // In the middle of the rounds: once round 3 is done.
    wait_for(LIMIT, "round 3 to be done", || {
        let s = status(&m.addr, &id);
        assert_eq!(
            s.state, "RUNNING",
            "the job ended before the kill:\n{}",
            s.text
        );
        let rows = stage_rows(&s.text);
        rows.iter()
            .any(|(ops, done, total)| ops.starts_with("round 3: reduce_by_key") && done == total)
            .then_some(())
    });
    w[0].kill();
    let s = wait_end(&m.addr, &id, LIMIT);
    assert_eq!(s.state, "SUCCEEDED", "{}\n{}", s.error, s.text);
    check_ranks(&output_lines(&out), &pagerank(&lines, 6));
}

#[test]
fn cached_partitions_lost_with_their_worker_are_computed_again_from_their_lineage() {
    let slow = ["--slots", "1", "--slow-probability", "1", "--slow-ms", "30"];
    let (m, mut w) = cluster(3, &[], &slow);
    let dir = temp_dir("closure-kill");
    let input = dir.join("edges.txt");
    // A long chain: one round per link, each reading the paths the round
    // before cached.
    let mut lines: Vec<String> = (0..10).map(|i| format!("n{i} n{}", i + 1)).collect();
    lines.extend(graph(&dir.join("r.txt"), 20, 30, 5));
    fs::write(&input, lines.join("\n") + "\n").unwrap();
    let out = dir.join("out");
    let params = [("edges", path(&input)), ("output", path(&out))];
    let id = start(&m.addr, "transitive_closure.job", &params);
    // Rounds are planned one at a time: once round 3 runs, round 2's cached
    // paths are still to be read.
    wait_for(LIMIT, "round 3 to start", || {
        let s = status(&m.addr, &id);
        assert_eq!(
            s.state, "RUNNING",
            "the job ended before the kill:\n{}",
            s.text
        );
        s.text.contains("round 3: ").then_some(())
    });
    w[0].kill();
    let s = wait_end(&m.addr, &id, LIMIT);
    assert_eq!(s.state, "SUCCEEDED", "{}\n{}", s.error, s.text);
    assert_eq!(sorted(output_lines(&out)), closure(&lines));
    let report = Client::connect(&m.addr, LIMIT, None)
        .unwrap()
        .job(id.parse().unwrap())
        .unwrap();
    let lost: u64 = report.stages.iter().map(|s| s.cache_misses).sum();
    assert!(
        lost > 0,
        "the killed worker's cached partitions were computed again:\n{}",
        s.text
    );
}

#[test]
fn transitive_closure_stops_when_a_round_finds_nothing_new() {
    let (m, _workers) = cluster(2, &[], &["--slots", "2", "--heartbeat-ms", "100"]);
    let dir = temp_dir("closure");
    let input = dir.join("edges.txt");
    // A chain (paths of every length up to 12), a cycle, and random edges.
    let mut lines: Vec<String> = (0..12).map(|i| format!("c{i} c{}", i + 1)).collect();
    lines.extend(["x y", "y z", "z x", "z z", "x y", "", "solo"].map(String::from));
    let random = graph(&dir.join("r.txt"), 30, 40, 3);
    lines.extend(random);
    fs::write(&input, lines.join("\n") + "\n").unwrap();
    let out = dir.join("out");
    let params = [("edges", path(&input)), ("output", path(&out))];
    let run = submit(
        &m.addr,
        &job_file("transitive_closure.job"),
        &params,
        &["--wait"],
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert_eq!(sorted(output_lines(&out)), closure(&lines));
    // The chain needs 11 rounds to find its longest path, and one more to
    // find nothing; rounds beyond that are never planned.
    let id = stdout(&run).lines().next().unwrap().to_string();
    let text = status_text(&m.addr, &id);
    assert!(text.contains("round 12: "), "{text}");
    assert!(!text.contains("round 30: "), "{text}");
    // Each round reads the paths the round before cached, from the cache:
    // the stages that read them count a hit per partition.
    let report = Client::connect(&m.addr, LIMIT, None)
        .unwrap()
        .job(id.parse().unwrap())
        .unwrap();
    let readers: Vec<_> = report
        .stages
        .iter()
        .filter(|s| s.ops.split(": ").last().unwrap().starts_with("cache >"))
        .collect();
    assert!(readers.len() >= 12, "{text}");
    for r in &readers {
        assert_eq!(r.cache_hits, u64::from(r.tasks_total), "{text}");
        assert!(r.cache_bytes > 0, "{text}");
    }
    // The workers count the reads they served from memory (as of their
    // next heartbeat).
    let hits: u64 = readers.iter().map(|r| r.cache_hits).sum();
    wait_for(LIMIT, "the workers' cache hits", || {
        let lines = workers(&m.addr);
        let served: u64 = lines
            .iter()
            .map(|l| field(l, "cache_hits").unwrap().parse::<u64>().unwrap())
            .sum();
        (served >= hits).then_some(())
    });
}

#[test]
fn a_loop_that_never_settles_fails_at_its_max() {
    let (m, _workers) = cluster(1, &[], &["--slots", "2"]);
    let dir = temp_dir("never");
    fs::write(dir.join("in.txt"), "a\nb\n").unwrap();
    let job = dir.join("grow.job");
    fs::write(
        &job,
        "x = read_text(input)\nrepeat until unchanged(x) max 5 {\n  x = x.map(concat($0, \"!\"))\n}\nx.save(output)\n\
         param input\nparam output\n",
    )
    .unwrap();
    let out = dir.join("out");
    let run = submit(
        &m.addr,
        path(&job),
        &[("input", path(&dir.join("in.txt"))), ("output", path(&out))],
        &["--wait"],
    );
    assert_eq!(run.status.code(), Some(1), "{}", stdout(&run));
    let err = stderr(&run) + &stdout(&run);
    assert!(
        err.contains("did not settle within its max of 5 rounds"),
        "{err}"
    );
    assert!(!out.join("_SUCCESS").exists());

    // The same loop with a fixpoint settles, and saves the settled value.
    fs::write(
        &job,
        "x = read_text(input)\nrepeat until unchanged(x) max 5 {\n  x = x.map(substr($0, 0, 1))\n}\nx.save(output)\n\
         param input\nparam output\n",
    )
    .unwrap();
    fs::write(dir.join("in.txt"), "ab\ncd\n").unwrap();
    let run = submit(
        &m.addr,
        path(&job),
        &[("input", path(&dir.join("in.txt"))), ("output", path(&out))],
        &["--wait", "--overwrite"],
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert_eq!(sorted(output_lines(&out)), ["a", "c"]);
}
