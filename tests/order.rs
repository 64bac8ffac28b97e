//! Sort orders, `take` and `count` end to end through real processes, and
//! the two example jobs built on them (`sort_numbers.job`, `top_words.job`),
//! each against results the test computes itself: numbers with negatives,
//! floats, big integers next to floats, `007` next to `7`, duplicates,
//! ties and empty lines; several partitions, read back in part order, so
//! the order must hold across part files; a tiny memory budget, so the
//! encoded keys go through spills. Guards `storage/sortkey.rs` (the
//! encodings), `exec/order.rs` and `exec/gather.rs` (both sides of the
//! shuffle), and the planner's shuffles for them.

mod common;

use std::cmp::Ordering;
use std::fs;
use std::path::Path;

use common::*;
use minispark::protocol::JobReport;
use minispark::rng::Rng;

/// `client submit JOB ... --wait` in `dir`; panics unless it succeeds;
/// returns the job id.
fn run_in(dir: &Path, addr: &str, job: &str, params: &[String]) -> String {
    let mut args = vec!["--master", addr, "submit", job, "--overwrite"];
    for kv in params {
        args.extend(["--param", kv]);
    }
    args.push("--wait");
    let out = client_in(Some(dir), &args);
    assert_eq!(out.status.code(), Some(0), "{job}: {}", stderr(&out));
    stdout(&out).lines().next().unwrap().to_string()
}

fn job_report(addr: &str, id: &str) -> JobReport {
    let mut c =
        minispark::client::Client::connect(addr, std::time::Duration::from_secs(10), None).unwrap();
    c.job(id.parse().unwrap()).unwrap()
}

/// A number as the engine reads one: an integer, or (with `.` or `e`) a
/// float.
#[derive(Clone, Copy, Debug)]
enum Num {
    Int(i64),
    Float(f64),
}

fn num(text: &str) -> Num {
    let t = text.trim();
    if t.contains(['.', 'e', 'E']) {
        Num::Float(t.parse().unwrap())
    } else {
        Num::Int(t.trim_start_matches('+').parse().unwrap())
    }
}

/// Exact numeric order (no NaN in these inputs): an integer against a
/// float compares the float's whole part, then its fraction.
fn cmp_num(a: Num, b: Num) -> Ordering {
    fn int_float(i: i64, f: f64) -> Ordering {
        const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
        if f >= TWO_POW_63 {
            return Ordering::Less;
        }
        if f < -TWO_POW_63 {
            return Ordering::Greater;
        }
        let whole = f.trunc();
        i.cmp(&(whole as i64))
            .then(0.0.partial_cmp(&(f - whole)).unwrap())
    }
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => x.cmp(&y),
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(&y).unwrap(),
        (Num::Int(x), Num::Float(y)) => int_float(x, y),
        (Num::Float(x), Num::Int(y)) => int_float(y, x).reverse(),
    }
}

/// A number written one of many ways.
fn number_text(rng: &mut Rng) -> String {
    let small = rng.below(101) as i64 - 50;
    match rng.below(9) {
        0 | 1 => small.to_string(),
        2 => format!("{:03}", small.abs()), // 007
        3 => format!("{small}.{}", ["0", "25", "5", "75"][rng.below(4) as usize]),
        4 => format!("-{}.5", rng.below(40)),
        // Integers past 2^53 next to the floats they round to.
        5 => (9_007_199_254_740_990 + rng.below(6) as i64).to_string(),
        6 => [
            "9007199254740992.0",
            "9.007199254740993e15",
            "-9007199254740993",
        ][rng.below(3) as usize]
            .to_string(),
        7 => format!("{}e{}", rng.below(9) + 1, rng.below(4)),
        _ => ["7", "007", "7.0", "+7", "-0", "0.0", "1e999", "-1e999"][rng.below(8) as usize]
            .to_string(),
    }
}

/// `key<TAB>value` lines with number keys, a few empty lines, repeated
/// keys and values.
fn numbered_lines(n: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| match i % 97 {
            13 => String::new(),
            _ => format!("{}\t{}", number_text(&mut rng), rng.below(30) as i64 - 15),
        })
        .collect()
}

fn split_kv(line: &str) -> (&str, &str) {
    line.split_once('\t').unwrap()
}

/// Checks that `dir` has `parts` part files and at least two non-empty
/// ones, so that the order checked across them ran across partitions.
fn spread_over_parts(dir: &Path, parts: usize) {
    assert_eq!(part_count(dir), parts, "{}", dir.display());
    let filled = (0..parts)
        .filter(|i| {
            fs::metadata(dir.join(format!("part-{i:05}")))
                .unwrap()
                .len()
                > 0
        })
        .count();
    assert!(filled >= 2, "{}: {filled} non-empty part(s)", dir.display());
}

#[test]
fn numeric_and_descending_sorts_are_total_across_parts_even_when_they_spill() {
    let (m, _w) = cluster(2, &[], &["--slots", "2", "--memory", "64K"]);
    let dir = temp_dir("order-sorts");
    let lines = numbered_lines(6000, 21);
    fs::write(dir.join("in.txt"), lines.join("\n") + "\n").unwrap();
    fs::write(
        dir.join("s.job"),
        "pairs = read_text(\"in.txt\", splits=3).filter($0 != \"\").map(before($0, \"\\t\"), after($0, \"\\t\"))\n\
         pairs.sort_by_key(4, numeric=true).save(\"num\")\n\
         pairs.sort_by_key(partitions=4, numeric=true, descending=true).save(\"num_desc\")\n\
         pairs.sort_by_key(3, descending=true).save(\"bytes_desc\")\n\
         pairs.sort_by($value, numeric=true, descending=true, partitions=3).save(\"by_value\")\n\
         read_text(\"in.txt\").sort_by(len($0), numeric=true, partitions=3).save(\"by_len\")\n",
    )
    .unwrap();
    let id = run_in(&dir, &m.addr, "s.job", &[]);

    let pairs: Vec<&String> = lines.iter().filter(|l| !l.is_empty()).collect();
    let by = |f: &dyn Fn(&str, &str) -> Ordering| {
        let mut v: Vec<String> = pairs.iter().map(|s| s.to_string()).collect();
        v.sort_by(|a, b| f(a, b));
        v
    };
    // Numerically equal keys tie on the key's bytes, then the value's.
    let numeric = |a: &str, b: &str, desc: bool| {
        let ((ka, va), (kb, vb)) = (split_kv(a), split_kv(b));
        let n = cmp_num(num(ka), num(kb));
        (if desc { n.reverse() } else { n })
            .then(ka.as_bytes().cmp(kb.as_bytes()))
            .then(va.as_bytes().cmp(vb.as_bytes()))
    };
    let want = by(&|a, b| numeric(a, b, false));
    assert!(
        want.first().unwrap().starts_with("-1e999\t"),
        "{:?}",
        &want[..3]
    );
    assert_eq!(output_lines(&dir.join("num")), want);
    spread_over_parts(&dir.join("num"), 4);
    assert_eq!(
        output_lines(&dir.join("num_desc")),
        by(&|a, b| numeric(a, b, true))
    );
    spread_over_parts(&dir.join("num_desc"), 4);
    let want = by(&|a, b| {
        let ((ka, va), (kb, vb)) = (split_kv(a), split_kv(b));
        kb.as_bytes()
            .cmp(ka.as_bytes())
            .then(va.as_bytes().cmp(vb.as_bytes()))
    });
    assert_eq!(output_lines(&dir.join("bytes_desc")), want);
    spread_over_parts(&dir.join("bytes_desc"), 3);
    // sort_by: records unchanged (still pairs), ties by the whole record.
    let want = by(&|a, b| {
        let (va, vb) = (split_kv(a).1, split_kv(b).1);
        cmp_num(num(vb), num(va)).then(a.as_bytes().cmp(b.as_bytes()))
    });
    assert_eq!(output_lines(&dir.join("by_value")), want);
    spread_over_parts(&dir.join("by_value"), 3);
    let mut want = lines.clone();
    want.sort_by(|a, b| a.len().cmp(&b.len()).then(a.as_bytes().cmp(b.as_bytes())));
    assert!(want[0].is_empty(), "empty lines sort first by length");
    assert_eq!(output_lines(&dir.join("by_len")), want);

    let status = stdout(&client(&["--master", &m.addr, "status", &id]));
    assert!(
        status.contains("spilled "),
        "the budget forced spills: {status}"
    );
}

#[test]
fn a_key_that_is_no_number_fails_the_job_naming_it() {
    let (m, _w) = cluster(1, &["--max-attempts", "1"], &["--slots", "2"]);
    let dir = temp_dir("order-nan");
    fs::write(dir.join("in.txt"), "1\ta\n2.5\tb\nabc\tc\n-3\td\n").unwrap();
    for (job, want) in [
        (
            "read_text(\"in.txt\").map($1, $2).sort_by_key(numeric=true).save(\"o\")\n",
            "sort_by_key(numeric=true): key \"abc\" is not a number",
        ),
        (
            "read_text(\"in.txt\").sort_by($1, numeric=true).save(\"o\")\n",
            "sort_by(numeric=true): `$1` is \"abc\", not a number, for the record \"abc\\tc\"",
        ),
    ] {
        fs::write(dir.join("bad.job"), job).unwrap();
        let out = client_in(
            Some(&dir),
            &[
                "--master",
                &m.addr,
                "submit",
                "bad.job",
                "--wait",
                "--overwrite",
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stderr(&out).contains(want), "{}", stderr(&out));
    }
}

#[test]
fn take_keeps_the_order_of_its_input_and_count_counts() {
    let (m, _w) = cluster(2, &[], &["--slots", "2"]);
    let dir = temp_dir("order-take");
    let lines = numbered_lines(3000, 22);
    fs::write(dir.join("in.txt"), lines.join("\n") + "\n").unwrap();
    fs::write(dir.join("empty.txt"), "").unwrap();
    fs::write(
        dir.join("people.csv"),
        "name,age\nann,34\nbob,7\n\"cid, jr\",101\ndee,34\n",
    )
    .unwrap();
    fs::write(
        dir.join("t.job"),
        "x = read_text(\"in.txt\", splits=3)\n\
         x.take(5).save(\"first\")\n\
         x.take(1000000).save(\"all\")\n\
         x.take(0).save(\"none\")\n\
         pairs = x.filter($0 != \"\").map(before($0, \"\\t\"), after($0, \"\\t\"))\n\
         pairs.sort_by_key(numeric=true, descending=true, partitions=4).take(7).save(\"top\")\n\
         pairs.take(3).map($value, $key).save(\"keyed\")\n\
         x.count().save(\"count\")\n\
         x.filter($0 == \"\").count().map(concat(\"empty lines: \", $0)).save(\"blank\")\n\
         read_text(\"empty.txt\").count().save(\"zero\")\n\
         x.take(10).count().save(\"ten\")\n\
         read_csv(\"people.csv\", header=true, splits=2).sort_by($age, numeric=true, descending=true).save(\"by_age\")\n",
    )
    .unwrap();
    run_in(&dir, &m.addr, "t.job", &[]);
    assert_eq!(output_lines(&dir.join("first")), &lines[..5]);
    assert_eq!(output_lines(&dir.join("all")), lines);
    assert_eq!(output_lines(&dir.join("none")), Vec::<String>::new());
    for out in ["first", "all", "none", "top", "count", "zero"] {
        assert_eq!(part_count(&dir.join(out)), 1, "{out}: one part file");
    }
    let mut pairs: Vec<&String> = lines.iter().filter(|l| !l.is_empty()).collect();
    pairs.sort_by(|a, b| {
        let ((ka, va), (kb, vb)) = (split_kv(a), split_kv(b));
        cmp_num(num(kb), num(ka))
            .then(ka.as_bytes().cmp(kb.as_bytes()))
            .then(va.as_bytes().cmp(vb.as_bytes()))
    });
    let want: Vec<String> = pairs[..7].iter().map(|s| s.to_string()).collect();
    assert_eq!(output_lines(&dir.join("top")), want);
    // Still pairs after `take`: `$key` and `$value` work.
    let want: Vec<String> = lines[..3]
        .iter()
        .map(|l| {
            let (k, v) = split_kv(l);
            format!("{v}\t{k}")
        })
        .collect();
    assert_eq!(output_lines(&dir.join("keyed")), want);
    assert_eq!(output_lines(&dir.join("count")), [lines.len().to_string()]);
    let blank = lines.iter().filter(|l| l.is_empty()).count();
    assert_eq!(
        output_lines(&dir.join("blank")),
        [format!("empty lines: {blank}")]
    );
    assert_eq!(output_lines(&dir.join("zero")), ["0"]);
    assert_eq!(output_lines(&dir.join("ten")), ["10"]);
    // `sort_by` names a column of the CSV header, as `map` can.
    assert_eq!(
        output_lines(&dir.join("by_age")),
        ["\"cid, jr\",101", "ann,34", "dee,34", "bob,7"]
    );
}

#[test]
fn take_stops_each_map_task_at_n_and_count_sends_one_record_per_task() {
    let (m, _w) = cluster(2, &[], &["--slots", "2"]);
    let dir = temp_dir("order-early");
    let lines = words_file(&dir.join("in.txt"), 20_000, 23);
    fs::write(
        dir.join("take.job"),
        "read_text(\"in.txt\", splits=4).flat_map(split($0)).take(5).save(\"o\")\n",
    )
    .unwrap();
    fs::write(
        dir.join("count.job"),
        "read_text(\"in.txt\", splits=4).count().save(\"c\")\n",
    )
    .unwrap();
    let id = run_in(&dir, &m.addr, "take.job", &[]);
    let words: Vec<String> = lines
        .iter()
        .flat_map(|l| l.split(' ').map(str::to_string))
        .take(5)
        .collect();
    assert_eq!(output_lines(&dir.join("o")), words);
    let report = job_report(&m.addr, &id);
    let map = &report.stages[0];
    assert!(map.ops.ends_with("> shuffle 0"), "{}", map.ops);
    let tasks = u64::from(map.tasks_total);
    assert!(tasks >= 2, "{tasks} map tasks");
    assert!(
        map.records_out <= 5 * tasks,
        "{} records sent by {tasks} tasks",
        map.records_out
    );
    // Each task stopped reading after the line that gave its fifth word.
    assert!(
        map.records_in <= 5 * tasks,
        "{} lines read of {}",
        map.records_in,
        lines.len()
    );

    let id = run_in(&dir, &m.addr, "count.job", &[]);
    assert_eq!(output_lines(&dir.join("c")), [lines.len().to_string()]);
    let report = job_report(&m.addr, &id);
    let map = &report.stages[0];
    assert_eq!(map.records_out, u64::from(map.tasks_total));
    assert_eq!(map.records_in, lines.len() as u64);
}

#[test]
fn sort_numbers_job_matches_a_reference() {
    let (m, _w) = cluster(2, &[], &["--slots", "2"]);
    let dir = temp_dir("order-sort-numbers");
    let mut rng = Rng::new(24);
    let mut text = String::new();
    let mut want: Vec<i64> = Vec::new();
    for i in 0..4000 {
        if i % 50 == 7 {
            text.push('\n'); // an empty line
            continue;
        }
        let n = 1 + rng.below(6);
        let mut words = Vec::new();
        for _ in 0..n {
            let x: i64 = match rng.below(10) {
                0 => rng.next_u64() as i64,
                1 => 9_007_199_254_740_990 + rng.below(6) as i64,
                _ => rng.below(2001) as i64 - 1000,
            };
            want.push(x);
            // Some written as Python's int() reads them too: +5, 007.
            words.push(match rng.below(20) {
                0 if x >= 0 => format!("+{x}"),
                1 if (0..100).contains(&x) => format!("{x:03}"),
                _ => x.to_string(),
            });
        }
        let sep = ["  ", " ", "\t", " \t "][rng.below(4) as usize];
        text.push_str(&words.join(sep));
        text.push('\n');
    }
    fs::write(dir.join("numbers.txt"), &text).unwrap();
    let out = dir.join("sorted");
    run_in(
        &dir,
        &m.addr,
        &job_file("sort_numbers.job"),
        &[p("input", &dir.join("numbers.txt")), p("output", &out)],
    );
    want.sort();
    let want: Vec<String> = want.iter().map(i64::to_string).collect();
    assert_eq!(output_lines(&out), want);
    let parts = part_count(&out);
    assert!(parts >= 2, "{parts} part(s)");
    spread_over_parts(&out, parts);
}

#[test]
fn top_words_job_matches_a_reference() {
    let (m, _w) = cluster(2, &[], &["--slots", "2"]);
    let dir = temp_dir("order-top-words");
    let mut rng = Rng::new(25);
    // Words of a skewed vocabulary, so that counts tie; tabs, vertical
    // tabs and empty lines between them.
    let lines: Vec<String> = (0..5000)
        .map(|i| {
            if i % 31 == 0 {
                return String::new();
            }
            (0..1 + rng.below(7))
                .map(|_| {
                    let u = rng.unit();
                    format!("w{}", (u * u * u * 300.0) as u64)
                })
                .collect::<Vec<_>>()
                .join(["  ", "\t", "\u{b}", " "][rng.below(4) as usize])
        })
        .collect();
    fs::write(dir.join("in.txt"), lines.join("\n") + "\n").unwrap();
    let mut counts: Vec<(String, u64)> = word_counts(&lines)
        .iter()
        .map(|l| {
            let (w, n) = l.split_once('\t').unwrap();
            (w.to_string(), n.parse().unwrap())
        })
        .collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.as_bytes().cmp(b.0.as_bytes())));
    let ties = counts.windows(2).filter(|w| w[0].1 == w[1].1).count();
    assert!(ties > 10, "the data has ties ({ties})");
    for n in [None, Some("3"), Some("40"), Some("100000")] {
        let out = dir.join(format!("top-{}", n.unwrap_or("default")));
        let mut params = vec![p("input", &dir.join("in.txt")), p("output", &out)];
        if let Some(n) = n {
            params.push(format!("n={n}"));
        }
        run_in(&dir, &m.addr, &job_file("top_words.job"), &params);
        let take = n.map_or(10, |n| n.parse().unwrap());
        let want: Vec<String> = counts
            .iter()
            .take(take)
            .map(|(w, c)| format!("{w}\t{c}"))
            .collect();
        assert_eq!(output_lines(&out), want, "n={n:?}");
        assert_eq!(part_count(&out), 1);
    }
}
