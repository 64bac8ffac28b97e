//! Wide operators end to end through real processes: every example job of
//! the shuffle issue, compared with results the test computes itself, plus
//! skew, empty partitions, an empty join side, a tiny memory budget that
//! forces spills, and an aggregator that meets a value it cannot read.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use common::*;
use minispark::rng::Rng;

/// Submits `job` with `params` and waits; panics unless it succeeds.
fn run_ok(m: &Proc, job: &str, params: &[String]) -> String {
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|kv| kv.split_once('=').unwrap())
        .collect();
    let out = submit(&m.addr, job, &pairs, &["--wait"]);
    assert_eq!(out.status.code(), Some(0), "{job} failed: {}", stderr(&out));
    stdout(&out).lines().next().unwrap().to_string()
}

/// (user_id, name, country)
type User = (String, String, String);
/// (order_id, user_id, amount)
type Order = (String, String, i64);

fn users_orders(dir: &Path, users: usize, orders: usize, seed: u64) -> (Vec<User>, Vec<Order>) {
    let mut rng = Rng::new(seed);
    let countries = ["no", "it", "pe", "jp", "br"];
    let us: Vec<User> = (1..=users)
        .map(|i| {
            (
                i.to_string(),
                format!("user{i}"),
                countries[rng.below(5) as usize].to_string(),
            )
        })
        .collect();
    let os: Vec<Order> = (1..=orders)
        .map(|i| {
            // Some orders name users that do not exist.
            let user = 1 + rng.below(users as u64 + users as u64 / 10);
            (i.to_string(), user.to_string(), 1 + rng.below(1000) as i64)
        })
        .collect();
    let text: String = us
        .iter()
        .map(|(id, n, c)| format!("{id},{n},{c}\n"))
        .collect();
    fs::write(dir.join("users.csv"), text).unwrap();
    let text: String = os
        .iter()
        .map(|(id, u, a)| format!("{id},{u},{a}\n"))
        .collect();
    fs::write(dir.join("orders.csv"), text).unwrap();
    (us, os)
}

#[test]
fn wordcount_matches_a_reference_and_skips_nothing() {
    let (m, _w) = cluster(2, &[], &["--slots", "2"]);
    let dir = temp_dir("wordcount");
    let input = dir.join("words.txt");
    let lines = words_file(&input, 5000, 11);
    let out = dir.join("out");
    let id = run_ok(
        &m,
        &job_file("wordcount.job"),
        &[p("input", &input), p("output", &out), "partitions=3".into()],
    );
    assert_eq!(sorted(output_lines(&out)), word_counts(&lines));
    assert_eq!(part_count(&out), 3);
    // Each part is in key order.
    for part in 0..3 {
        let text = fs::read_to_string(out.join(format!("part-{part:05}"))).unwrap();
        let keys: Vec<&str> = text
            .lines()
            .map(|l| l.split('\t').next().unwrap())
            .collect();
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "part {part} not in key order"
        );
    }
    let status = stdout(&client(&["--master", &m.addr, "status", &id]));
    assert!(status.contains("reduce_by_key > save"), "{status}");
    assert!(status.contains("shuffle 0"), "{status}");
}

#[test]
fn join_and_revenue_match_a_reference() {
    let (m, _w) = cluster(2, &[], &["--slots", "2"]);
    let dir = temp_dir("join");
    let (users, orders) = users_orders(&dir, 300, 2000, 12);
    let names: BTreeMap<&str, (&str, &str)> = users
        .iter()
        .map(|(id, n, c)| (id.as_str(), (n.as_str(), c.as_str())))
        .collect();
    let common = [
        p("users", &dir.join("users.csv")),
        p("orders", &dir.join("orders.csv")),
    ];

    let out = dir.join("join");
    let mut params = common.to_vec();
    params.push(p("output", &out));
    run_ok(&m, &job_file("join.job"), &params);
    let expected: Vec<String> = orders
        .iter()
        .filter_map(|(oid, uid, amount)| {
            names
                .get(uid.as_str())
                .map(|(n, _)| format!("{uid}\t{n}\t{oid}\t{amount}"))
        })
        .collect();
    assert!(
        expected.len() < orders.len(),
        "some orders have unknown users"
    );
    assert_eq!(sorted(output_lines(&out)), sorted(expected));

    let out = dir.join("revenue");
    let mut params = common.to_vec();
    params.push(p("output", &out));
    run_ok(&m, &job_file("revenue.job"), &params);
    let mut totals: BTreeMap<&str, i64> = BTreeMap::new();
    for (_, uid, amount) in &orders {
        if let Some((_, country)) = names.get(uid.as_str()) {
            *totals.entry(country).or_default() += amount;
        }
    }
    let expected: Vec<String> = totals.iter().map(|(c, t)| format!("{c}\t{t}")).collect();
    assert_eq!(sorted(output_lines(&out)), expected);
}

#[test]
fn a_join_side_with_no_rows_and_left_join() {
    let (m, _w) = cluster(2, &[], &["--slots", "1"]);
    let dir = temp_dir("emptyjoin");
    fs::write(dir.join("users.csv"), "1,ann,no\n2,bob,it\n").unwrap();
    fs::write(dir.join("orders.csv"), "").unwrap();
    let out = dir.join("join");
    run_ok(
        &m,
        &job_file("join.job"),
        &[
            p("users", &dir.join("users.csv")),
            p("orders", &dir.join("orders.csv")),
            p("output", &out),
        ],
    );
    assert!(output_lines(&out).is_empty());

    fs::write(dir.join("orders.csv"), "10,1,5\n11,1,7\n12,9,1\n").unwrap();
    fs::write(
        dir.join("left.job"),
        "param users\nparam orders\nparam output\nu = read_csv(users).map($1, $2)\no = read_csv(orders).map($2, $1)\nu.left_join(o, 3).save(output)\n",
    )
    .unwrap();
    let out = dir.join("left");
    run_ok(
        &m,
        dir.join("left.job").to_str().unwrap(),
        &[
            p("users", &dir.join("users.csv")),
            p("orders", &dir.join("orders.csv")),
            p("output", &out),
        ],
    );
    assert_eq!(
        sorted(output_lines(&out)),
        ["1\tann\t10", "1\tann\t11", "2\tbob\t"]
    );
}

#[test]
fn indexer_lists_the_files_of_each_word() {
    let (m, _w) = cluster(2, &[], &["--slots", "1"]);
    let dir = temp_dir("indexer");
    let docs = dir.join("docs");
    fs::create_dir(&docs).unwrap();
    let files = [
        ("a.txt", "the cat sat\nthe end\n"),
        ("b.txt", "a cat\n"),
        ("c.txt", "end of the story\n\n"),
    ];
    for (name, text) in files {
        fs::write(docs.join(name), text).unwrap();
    }
    let out = dir.join("out");
    run_ok(
        &m,
        &job_file("indexer.job"),
        &[p("input", &docs), p("output", &out)],
    );
    let mut index: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, text) in files {
        for w in text.split_ascii_whitespace() {
            index.entry(w).or_default().insert(name);
        }
    }
    let expected: Vec<String> = index
        .iter()
        .map(|(w, fs)| {
            format!(
                "{w}\t{}\t{}",
                fs.len(),
                fs.iter().copied().collect::<Vec<_>>().join(",")
            )
        })
        .collect();
    assert_eq!(sorted(output_lines(&out)), expected);
}

#[test]
fn sort_is_total_across_parts_even_with_a_hot_key() {
    let (m, _w) = cluster(2, &[], &["--slots", "2"]);
    let dir = temp_dir("sort");
    let mut rng = Rng::new(13);
    let lines: Vec<String> = (0..4000)
        .map(|i| {
            // Most records share one key: range boundaries must split it by value.
            let key = if rng.below(10) < 7 {
                "hot".to_string()
            } else {
                format!("k{:04}", rng.below(500))
            };
            format!("{key}\trow {:05} {}", rng.below(100_000), i % 7)
        })
        .collect();
    fs::write(dir.join("in.txt"), lines.join("\n") + "\n").unwrap();
    let out = dir.join("out");
    run_ok(
        &m,
        &job_file("sort.job"),
        &[p("input", &dir.join("in.txt")), p("output", &out)],
    );
    let mut expected = lines.clone();
    expected.sort_by(|a, b| {
        let ka = a.split('\t').next().unwrap();
        let kb = b.split('\t').next().unwrap();
        ka.as_bytes()
            .cmp(kb.as_bytes())
            .then(a.as_bytes().cmp(b.as_bytes()))
    });
    assert_eq!(output_lines(&out), expected);
    // The hot key spread over several parts.
    let parts_with_hot = (0..part_count(&out))
        .filter(|i| {
            fs::read_to_string(out.join(format!("part-{i:05}")))
                .unwrap()
                .contains("hot\t")
        })
        .count();
    assert!(parts_with_hot >= 2, "hot key in {parts_with_hot} part(s)");
}

#[test]
fn group_distinct_union_and_empty_partitions() {
    let (m, _w) = cluster(2, &[], &["--slots", "1"]);
    let dir = temp_dir("group");
    fs::write(dir.join("a.txt"), "x 3\ny 1\nx 1\nx 3\n").unwrap();
    fs::write(dir.join("b.txt"), "y 2\nz 9\n").unwrap();
    fs::write(
        dir.join("g.job"),
        r#"a = read_text("a.txt")
b = read_text("b.txt")
both = a.union(b)
both.map($1, $2).group_by_key(8).save("groups")
both.distinct().save("distinct")
both.map($1, $2).reduce_by_key(first, 2).save("first")
both.map($1, $2).reduce_by_key(concat("+")).save("concat")
"#,
    )
    .unwrap();
    let run = client_in(
        Some(&dir),
        &["--master", &m.addr, "submit", "g.job", "--wait"],
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert_eq!(
        sorted(output_lines(&dir.join("groups"))),
        ["x\t1,3,3", "y\t1,2", "z\t9"]
    );
    assert_eq!(
        part_count(&dir.join("groups")),
        8,
        "empty partitions still get a part file"
    );
    assert_eq!(
        sorted(output_lines(&dir.join("distinct"))),
        ["x 1", "x 3", "y 1", "y 2", "z 9"]
    );
    assert_eq!(
        sorted(output_lines(&dir.join("first"))),
        ["x\t3", "y\t1", "z\t9"]
    );
    assert_eq!(
        sorted(output_lines(&dir.join("concat"))),
        ["x\t1+3+3", "y\t1+2", "z\t9"]
    );
}

#[test]
fn a_tiny_memory_budget_spills_and_changes_nothing() {
    let (m, _w) = cluster(2, &[], &["--slots", "1", "--memory", "64K"]);
    let dir = temp_dir("spill");
    let mut rng = Rng::new(14);
    let lines: Vec<String> = (0..20_000)
        .map(|_| format!("key{} {}", rng.below(8000), rng.below(100)))
        .collect();
    fs::write(dir.join("in.txt"), lines.join("\n") + "\n").unwrap();
    fs::write(
        dir.join("s.job"),
        "x = read_text(\"in.txt\").map($1, $2)\nx.reduce_by_key(sum).save(\"sums\")\nx.group_by_key().map($1, len(split($2, \",\"))).save(\"groups\")\n",
    )
    .unwrap();
    let run = client_in(
        Some(&dir),
        &["--master", &m.addr, "submit", "s.job", "--wait"],
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let id = stdout(&run).lines().next().unwrap().to_string();
    let mut sums: BTreeMap<String, (i64, usize)> = BTreeMap::new();
    for l in &lines {
        let (k, v) = l.split_once(' ').unwrap();
        let e = sums.entry(k.to_string()).or_default();
        e.0 += v.parse::<i64>().unwrap();
        e.1 += 1;
    }
    let expected: Vec<String> = sums.iter().map(|(k, (s, _))| format!("{k}\t{s}")).collect();
    assert_eq!(sorted(output_lines(&dir.join("sums"))), expected);
    let expected: Vec<String> = sums.iter().map(|(k, (_, n))| format!("{k}\t{n}")).collect();
    assert_eq!(sorted(output_lines(&dir.join("groups"))), expected);
    let status = stdout(&client(&["--master", &m.addr, "status", &id]));
    assert!(
        status.contains("spilled "),
        "the budget forced spills: {status}"
    );
}

#[test]
fn an_unreadable_value_fails_the_job_naming_aggregator_key_and_value() {
    let (m, _w) = cluster(1, &["--max-attempts", "1"], &[]);
    let dir = temp_dir("badsum");
    fs::write(dir.join("in.txt"), "a 1\nb abc\n").unwrap();
    fs::write(
        dir.join("b.job"),
        "read_text(\"in.txt\").map($1, $2).reduce_by_key(sum).save(\"o\")\n",
    )
    .unwrap();
    let run = client_in(
        Some(&dir),
        &["--master", &m.addr, "submit", "b.job", "--wait"],
    );
    assert_eq!(run.status.code(), Some(1));
    let err = stderr(&run);
    assert!(
        err.contains("reduce_by_key(sum): key \"b\": cannot read \"abc\" as a number"),
        "{err}"
    );
}

/// `reduce_by_key(sum, count, mean, min, max, first, concat)` of `lines`
/// (`key value`), as docs/jobs.md says each aggregator prints alone.
fn several_aggregates(lines: &[String]) -> Vec<String> {
    let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for l in lines {
        let (k, v) = l.split_once(' ').unwrap();
        groups.entry(k).or_default().push(v);
    }
    let num = |v: &str| v.trim().parse::<f64>().unwrap();
    groups
        .iter()
        .map(|(k, vals)| {
            let any_float = vals.iter().any(|v| v.contains('.'));
            // Every value is a multiple of 0.25: float sums are exact.
            let total: f64 = vals.iter().map(|v| num(v)).sum();
            let sum = if any_float {
                format!("{total:?}")
            } else {
                (total as i64).to_string()
            };
            let mean = format!("{:?}", total / vals.len() as f64);
            let by_num = |want_max: bool| {
                let mut vs = vals.clone();
                vs.sort_by(|a, b| {
                    let o = num(a).partial_cmp(&num(b)).unwrap();
                    let o = if want_max { o.reverse() } else { o };
                    o.then(a.as_bytes().cmp(b.as_bytes()))
                });
                vs[0]
            };
            let mut bytes = vals.clone();
            bytes.sort();
            format!(
                "{k}\t{sum}\t{}\t{mean}\t{}\t{}\t{}\t{}",
                vals.len(),
                by_num(false),
                by_num(true),
                vals[0],
                bytes.join(";")
            )
        })
        .collect()
}

/// Lines `key value` with integer keys, a hot key, a key with one value
/// (`solo`, last) and a key whose values are all integers (`ints`);
/// values integers and quarter floats, some written oddly (`+3`, `2.0`).
fn key_values(n: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let mut lines: Vec<String> = (0..n)
        .map(|_| {
            let v = rng.below(400) as i64 - 200;
            let key = match rng.below(10) {
                0..=2 => "hot".to_string(),
                3 => "ints".to_string(),
                _ => format!("k{}", rng.below(300)),
            };
            let value = match (rng.below(6), key.as_str()) {
                (_, "ints") => v.to_string(),
                (0, _) => format!("{}.25", v),
                (1, _) => format!("{v}.0"),
                (2, _) => format!("+{}", v.abs()),
                (3, _) => format!("{}.5", v),
                _ => v.to_string(),
            };
            format!("{key} {value}")
        })
        .collect();
    lines.push("solo -7.5".to_string());
    lines
}

#[test]
fn several_aggregates_of_one_key_in_one_shuffle() {
    let dir = temp_dir("multiagg");
    let lines = key_values(20_000, 15);
    fs::write(dir.join("in.txt"), lines.join("\n") + "\n").unwrap();
    fs::write(
        dir.join("m.job"),
        "param parts = 3\nx = read_text(\"in.txt\").map($1, $2)\n\
         x.reduce_by_key(sum, count, mean, min, max, first, concat(\";\"), partitions=parts).save(\"all\")\n\
         x.reduce_by_key(count, mean, parts).save(\"positional\")\n\
         x.reduce_by_key(mean).save(\"mean\")\n",
    )
    .unwrap();
    let expected = several_aggregates(&lines);
    assert!(expected
        .iter()
        .any(|l| l.starts_with("solo\t-7.5\t1\t-7.5\t")));
    let ints = expected.iter().find(|l| l.starts_with("ints\t")).unwrap();
    assert!(
        ints.split('\t').nth(1).unwrap().parse::<i64>().is_ok(),
        "{ints}"
    );
    // Once with room, once with a budget that spills on both sides.
    for memory in ["512M", "64K"] {
        let (m, _w) = cluster(2, &[], &["--slots", "2", "--memory", memory]);
        let run = client_in(
            Some(&dir),
            &[
                "--master",
                &m.addr,
                "submit",
                "m.job",
                "--wait",
                "--overwrite",
            ],
        );
        assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
        let id = stdout(&run).lines().next().unwrap().to_string();
        assert_eq!(sorted(output_lines(&dir.join("all"))), expected, "{memory}");
        assert_eq!(part_count(&dir.join("all")), 3);
        // The positional partition count still works after aggregators;
        // each column is what that aggregator gives alone.
        let alone = sorted(output_lines(&dir.join("mean")));
        let pairs: Vec<String> = sorted(output_lines(&dir.join("positional")))
            .iter()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                format!("{}\t{}", f[0], f[2])
            })
            .collect();
        assert_eq!(pairs, alone);
        assert_eq!(part_count(&dir.join("positional")), 3);
        // One shuffle per reduce, each map task sending a record per key.
        let report = job_report(&m.addr, &id);
        let keys = expected.len() as u64;
        for stage in &report.stages {
            if stage.ops.contains("> shuffle") {
                assert!(
                    stage.records_out <= keys * u64::from(stage.tasks_total),
                    "{stage:?}"
                );
            }
        }
        let text = stdout(&client(&["--master", &m.addr, "status", &id]));
        assert_eq!(text.matches("reduce_by_key > save").count(), 3, "{text}");
        if memory == "64K" {
            assert!(
                text.contains("spilled "),
                "the budget forced spills: {text}"
            );
        }
    }
}

/// The job's report, through the client library.
fn job_report(addr: &str, id: &str) -> minispark::protocol::JobReport {
    let mut c =
        minispark::client::Client::connect(addr, std::time::Duration::from_secs(10), None).unwrap();
    c.job(id.parse().unwrap()).unwrap()
}

#[test]
fn distinct_drops_repeats_on_the_map_side_even_when_it_spills() {
    let dir = temp_dir("distinct");
    // 30,000 lines of about 600 distinct ones, some far more frequent.
    let mut rng = Rng::new(16);
    let lines: Vec<String> = (0..30_000)
        .map(|_| {
            let u = rng.unit();
            let i = (u * u * 600.0) as u64;
            format!("w{i} {} {}", i % 7, "x".repeat((i % 40) as usize))
        })
        .collect();
    fs::write(dir.join("in.txt"), lines.join("\n") + "\n").unwrap();
    fs::write(
        dir.join("d.job"),
        "x = read_text(\"in.txt\")\n\
         x.distinct(4).save(\"lines\")\n\
         x.map($1, $2).distinct().save(\"pairs\")\n\
         x.flat_map(split($0)).distinct(partitions=3).save(\"words\")\n",
    )
    .unwrap();
    let set = |items: Vec<String>| -> Vec<String> {
        let s: BTreeSet<String> = items.into_iter().collect();
        s.into_iter().collect()
    };
    let want_lines = set(lines.clone());
    let want_pairs = set(lines
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            format!("{}\t{}", f[0], f[1])
        })
        .collect());
    let want_words = set(lines
        .iter()
        .flat_map(|l| l.split_whitespace().map(str::to_string))
        .collect());
    assert!(want_lines.len() < 700 && want_words.len() < 700);
    for memory in ["512M", "64K"] {
        let (m, _w) = cluster(2, &[], &["--slots", "2", "--memory", memory]);
        let run = client_in(
            Some(&dir),
            &[
                "--master",
                &m.addr,
                "submit",
                "d.job",
                "--wait",
                "--overwrite",
            ],
        );
        assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
        let id = stdout(&run).lines().next().unwrap().to_string();
        for (out, want, parts) in [
            ("lines", &want_lines, Some(4)),
            ("pairs", &want_pairs, None),
            ("words", &want_words, Some(3)),
        ] {
            let got = output_lines(&dir.join(out));
            assert_eq!(got.len(), want.len(), "{out} {memory}: each record once");
            assert_eq!(&sorted(got), want, "{out} {memory}");
            let count = part_count(&dir.join(out));
            assert_eq!(parts.unwrap_or(count), count, "{out}");
            // Each part in record byte order, as before.
            for part in 0..count {
                let text =
                    fs::read_to_string(dir.join(out).join(format!("part-{part:05}"))).unwrap();
                let recs: Vec<&str> = text.lines().collect();
                assert!(recs.windows(2).all(|w| w[0] < w[1]), "{out} part {part}");
            }
        }
        // What the map stage shuffled: at most one copy of a distinct record
        // per map task and output (it was every input record before). The
        // three share one scan of the input.
        let report = job_report(&m.addr, &id);
        let stage = report
            .stages
            .iter()
            .find(|s| s.ops == "read_text > {shuffle 0, map > shuffle 1, flat_map > shuffle 2}")
            .unwrap_or_else(|| panic!("no shared map stage: {:?}", report.stages));
        let distinct = want_lines.len() + want_pairs.len() + want_words.len();
        let bound = distinct as u64 * u64::from(stage.tasks_total);
        assert!(stage.tasks_total >= 2, "{stage:?}");
        assert_eq!(stage.records_in, lines.len() as u64, "one scan: {stage:?}");
        assert!(
            stage.records_out <= bound && stage.records_out < 3 * stage.records_in / 5,
            "{memory}: shuffled {} records of {} (bound {bound})",
            stage.records_out,
            stage.records_in
        );
        if memory == "64K" {
            let text = stdout(&client(&["--master", &m.addr, "status", &id]));
            assert!(
                text.contains("spilled "),
                "the budget forced spills: {text}"
            );
            let spilled: u64 = report.stages.iter().map(|s| s.spill_records).sum();
            assert!(spilled > 0);
        }
    }
}

#[test]
fn one_scan_feeds_several_consumers_and_a_failing_one_names_its_error() {
    let (m, _w) = cluster(2, &[], &["--slots", "2"]);
    let dir = temp_dir("shared-scan");
    let lines: Vec<String> = (0..2000)
        .map(|i| format!("w{} {}", i % 37, i % 5))
        .collect();
    fs::write(dir.join("in.txt"), lines.join("\n") + "\n").unwrap();
    fs::write(
        dir.join("s.job"),
        "words = read_text(\"in.txt\").flat_map(split($0))\n\
         words.save(\"all\")\n\
         words.map($0, 1).reduce_by_key(sum).save(\"counts\")\n\
         words.count().save(\"n\")\n",
    )
    .unwrap();
    let run = client_in(
        Some(&dir),
        &["--master", &m.addr, "submit", "s.job", "--wait"],
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let words: Vec<String> = lines
        .iter()
        .flat_map(|l| l.split(' ').map(str::to_string))
        .collect();
    assert_eq!(
        sorted(output_lines(&dir.join("all"))),
        sorted(words.clone())
    );
    assert_eq!(
        sorted(output_lines(&dir.join("counts"))),
        word_counts(&lines)
    );
    assert_eq!(output_lines(&dir.join("n")), [words.len().to_string()]);
    // The file is read, and split into words, by one stage.
    let id = stdout(&run).lines().next().unwrap().to_string();
    let report = job_report(&m.addr, &id);
    let scans: Vec<_> = report
        .stages
        .iter()
        .filter(|s| s.ops.starts_with("read_text"))
        .collect();
    assert_eq!(scans.len(), 1, "{:?}", report.stages);
    assert_eq!(scans[0].records_in, lines.len() as u64);
    assert_eq!(
        scans[0].ops,
        "read_text > flat_map > {save, map > shuffle 0, shuffle 1}"
    );

    // An output that fails fails the task with its own error, not the
    // scan's.
    fs::write(
        dir.join("bad.job"),
        "words = read_text(\"in.txt\").flat_map(split($0))\n\
         words.save(\"all2\")\n\
         words.map($0, $0).reduce_by_key(sum).save(\"sums\")\n",
    )
    .unwrap();
    let run = client_in(
        Some(&dir),
        &["--master", &m.addr, "submit", "bad.job", "--wait"],
    );
    assert_eq!(run.status.code(), Some(1));
    let err = stderr(&run) + &stdout(&run);
    assert!(err.contains("cannot read \"w"), "{err}");
    assert!(!err.contains("stopped reading"), "{err}");
}
