//! The master's `/metrics`, `/health` and text mode's `STATUS ID`, through
//! real processes.
//!
//! The exposition is read by a strict parser of the Prometheus text format,
//! version 0.0.4, written here: every line is checked against the grammar
//! (a family's HELP and TYPE before its samples and its lines together,
//! names, labels and their escapes, float values, histogram buckets
//! cumulative and ending at `+Inf` equal to `_count`). Where pip can install
//! it, the Prometheus project's own Python parser (`prometheus_client`)
//! must read the same samples; `MINISPARK_METRICS_TEST=require` makes a
//! missing one a failure. Guards against an exposition that a real scraper
//! refuses, values that do not match the job that ran, and counters that
//! go down when the master forgets finished jobs (`--retained-jobs`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const LIMIT: Duration = Duration::from_secs(30);

// --- A strict parser of the text exposition format 0.0.4 ---------------

/// Label names and values.
type Labels = Vec<(String, String)>;

/// One sample line: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    /// In the order written.
    labels: Labels,
    value: f64,
}

/// One family: its HELP, its TYPE, and its samples.
#[derive(Debug, Clone)]
struct Family {
    name: String,
    kind: String,
    help: Option<String>,
    samples: Vec<Sample>,
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
fn metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, and not the reserved `__` prefix.
fn label_name(s: &str) -> bool {
    let mut chars = s.chars();
    !s.starts_with("__")
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A value: `+Inf`, `-Inf`, `NaN`, or a decimal float with an optional
/// sign and exponent.
fn float(s: &str) -> Option<f64> {
    match s {
        "+Inf" => return Some(f64::INFINITY),
        "-Inf" => return Some(f64::NEG_INFINITY),
        "NaN" => return Some(f64::NAN),
        _ => {}
    }
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (unsigned, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = digits(int) && digits(frac) && !(int.is_empty() && frac.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    (mantissa_ok && exponent_ok).then(|| s.parse().ok())?
}

/// The first blank-separated token of `s`, and the rest after its blanks.
fn token(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches([' ', '\t']);
    match s.find([' ', '\t']) {
        Some(i) => (&s[..i], s[i..].trim_start_matches([' ', '\t'])),
        None => (s, ""),
    }
}

/// A HELP text: only `\\` and `\n` are escapes.
fn help_text(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            other => return Err(format!("bad escape \\{other:?} in HELP")),
        }
    }
    Ok(out)
}

/// `{name="value",...}` at the start of `s`; returns the labels and the rest.
fn labels(s: &str) -> Result<(Labels, &str), String> {
    let mut rest = s.strip_prefix('{').ok_or("expected {")?;
    let mut out: Labels = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((out, after));
        }
        let eq = rest.find('=').ok_or("a label without =")?;
        let name = rest[..eq].trim_end_matches([' ', '\t']);
        if !label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        if out.iter().any(|(n, _)| n == name) {
            return Err(format!("label {name} twice"));
        }
        rest = rest[eq + 1..].trim_start_matches([' ', '\t']);
        let mut chars = rest
            .strip_prefix('"')
            .ok_or("a label value not quoted")?
            .char_indices();
        let mut value = String::new();
        let end = loop {
            match chars.next() {
                None => return Err("an unterminated label value".into()),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape in a label value: {other:?}")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        out.push((name.to_string(), value));
        rest = rest[1 + end + 1..].trim_start_matches([' ', '\t']);
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err("labels not separated by ,".into());
        }
    }
}

/// One sample line.
fn sample(line: &str) -> Result<Sample, String> {
    let end = line
        .find(['{', ' ', '\t'])
        .ok_or("a sample without a value")?;
    let name = &line[..end];
    if !metric_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let (labels, rest) = if line[end..].starts_with('{') {
        labels(&line[end..])?
    } else {
        (Vec::new(), &line[end..])
    };
    if !rest.starts_with([' ', '\t']) {
        return Err("no blank before the value".into());
    }
    let (value, rest) = token(rest);
    let value = float(value).ok_or_else(|| format!("bad value {value:?}"))?;
    let (timestamp, rest) = token(rest);
    if !timestamp.is_empty() && timestamp.parse::<i64>().is_err() {
        return Err(format!("bad timestamp {timestamp:?}"));
    }
    if !rest.is_empty() {
        return Err(format!("text after the sample: {rest:?}"));
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Whether `sample` belongs to `family` (a histogram's samples add a suffix).
fn belongs(family: &Family, sample: &str) -> bool {
    let suffixes: &[&str] = match family.kind.as_str() {
        "histogram" => &["_bucket", "_sum", "_count"],
        "summary" => &["", "_sum", "_count"],
        _ => &[""],
    };
    suffixes
        .iter()
        .any(|s| sample.strip_suffix(s) == Some(family.name.as_str()))
}

/// Every family of an exposition, in order; an error names the line.
fn parse(text: &str) -> Result<Vec<Family>, String> {
    if !text.ends_with('\n') {
        return Err("the exposition does not end with a newline".into());
    }
    let mut families: Vec<Family> = Vec::new();
    let mut series = BTreeSet::new();
    for (i, line) in text.split_terminator('\n').enumerate() {
        let at = |why: String| format!("line {}: {why}: {line:?}", i + 1);
        if line.contains('\r') {
            return Err(at("a carriage return".into()));
        }
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let (keyword, rest) = token(comment);
            if keyword != "HELP" && keyword != "TYPE" {
                continue; // a comment
            }
            let (name, rest) = token(rest);
            if !metric_name(name) {
                return Err(at(format!("bad metric name {name:?}")));
            }
            let current = families.last().is_some_and(|f| f.name == name);
            if !current {
                if families.iter().any(|f| f.name == name) {
                    return Err(at(format!("{name} is not one group")));
                }
                families.push(Family {
                    name: name.to_string(),
                    kind: String::new(),
                    help: None,
                    samples: Vec::new(),
                });
            }
            let family = families.last_mut().unwrap();
            if !family.samples.is_empty() {
                return Err(at(format!("{keyword} after the samples")));
            }
            if keyword == "HELP" {
                if family.help.is_some() {
                    return Err(at("a second HELP".into()));
                }
                family.help = Some(help_text(rest).map_err(at)?);
            } else {
                if !family.kind.is_empty() {
                    return Err(at("a second TYPE".into()));
                }
                let kinds = ["counter", "gauge", "histogram", "summary", "untyped"];
                if !kinds.contains(&rest) {
                    return Err(at(format!("unknown type {rest:?}")));
                }
                family.kind = rest.to_string();
            }
            continue;
        }
        let s = sample(line).map_err(at)?;
        let family = families
            .last_mut()
            .filter(|f| belongs(f, &s.name))
            .ok_or_else(|| at("a sample without its family's HELP and TYPE before it".into()))?;
        if family.help.is_none() || family.kind.is_empty() {
            return Err(at("a sample before its family's HELP and TYPE".into()));
        }
        let mut key = s.labels.clone();
        key.sort();
        if !series.insert((s.name.clone(), key)) {
            return Err(at("the same series twice".into()));
        }
        family.samples.push(s);
    }
    for f in &families {
        check_family(f)?;
    }
    Ok(families)
}

/// One histogram series (its labels other than `le`).
#[derive(Debug, Default)]
struct Series {
    /// `(le, value)` in the order written.
    buckets: Vec<(f64, f64)>,
    sum: Option<f64>,
    count: Option<f64>,
}

/// The rules of a family's type: counters never negative, histograms
/// cumulative and closed by `+Inf` = `_count`, with a `_sum`.
fn check_family(f: &Family) -> Result<(), String> {
    let name = &f.name;
    match f.kind.as_str() {
        "counter" => {
            for s in &f.samples {
                if s.value.is_nan() || s.value < 0.0 {
                    return Err(format!("counter {name} is {}", s.value));
                }
            }
        }
        "histogram" => {
            let mut groups: BTreeMap<Labels, Series> = BTreeMap::new();
            for s in &f.samples {
                let mut key: Labels = s
                    .labels
                    .iter()
                    .filter(|(k, _)| k != "le")
                    .cloned()
                    .collect();
                key.sort();
                let g = groups.entry(key).or_default();
                let suffix = &s.name[name.len()..];
                match suffix {
                    "_bucket" => {
                        let le = s
                            .labels
                            .iter()
                            .find(|(k, _)| k == "le")
                            .ok_or_else(|| format!("{name}_bucket without le"))?;
                        let le =
                            float(&le.1).ok_or_else(|| format!("{name}: bad le {:?}", le.1))?;
                        g.buckets.push((le, s.value));
                    }
                    "_sum" => g.sum = Some(s.value),
                    "_count" => g.count = Some(s.value),
                    _ => return Err(format!("{} in histogram {name}", s.name)),
                }
            }
            if groups.is_empty() {
                return Err(format!("histogram {name} has no samples"));
            }
            for (
                key,
                Series {
                    buckets,
                    sum,
                    count,
                },
            ) in groups
            {
                let what = format!("histogram {name}{key:?}");
                for pair in buckets.windows(2) {
                    if pair[1].0 <= pair[0].0 {
                        return Err(format!("{what}: le not ascending: {buckets:?}"));
                    }
                    if pair[1].1 < pair[0].1 {
                        return Err(format!("{what}: buckets not cumulative: {buckets:?}"));
                    }
                }
                let last = buckets.last().ok_or(format!("{what}: no buckets"))?;
                if last.0 != f64::INFINITY {
                    return Err(format!("{what}: the last bucket is not +Inf"));
                }
                let count = count.ok_or(format!("{what}: no _count"))?;
                if last.1 != count {
                    return Err(format!("{what}: +Inf is {} but _count {count}", last.1));
                }
                sum.ok_or(format!("{what}: no _sum"))?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[test]
fn the_parser_refuses_what_the_format_does() {
    let ok = "# HELP a_total Things.\n# TYPE a_total counter\na_total{x=\"q\\\"\\\\\\n\",} 1e3\n";
    let f = parse(ok).unwrap();
    assert_eq!(f[0].samples[0].labels[0].1, "q\"\\\n");
    assert_eq!(f[0].samples[0].value, 1000.0);
    let hist = "# HELP h H.\n# TYPE h histogram\n\
                h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n";
    parse(hist).unwrap();
    let bad = [
        "# HELP a A.\n# TYPE a gauge\na 1",                           // no final newline
        "a 1\n",                                                     // no HELP and TYPE
        "# HELP a A.\n# TYPE a gauge\n1a 1\n",                        // name
        "# HELP a A.\n# TYPE a gauge\na{1x=\"v\"} 1\n",               // label name
        "# HELP a A.\n# TYPE a gauge\na{x=\"\\t\"} 1\n",              // escape
        "# HELP a A.\n# TYPE a gauge\na{x=v} 1\n",                    // unquoted
        "# HELP a A.\n# TYPE a gauge\na{x=\"v\" y=\"w\"} 1\n",        // no comma
        "# HELP a A.\n# TYPE a gauge\na one\n",                       // value
        "# HELP a A.\n# TYPE a gauge\na inf\n",                       // not +Inf
        "# HELP a A.\n# TYPE a gauge\na 1\na 2\n",                    // twice
        "# HELP a A.\n# TYPE a gauge\na 1\n# TYPE a gauge\n",         // TYPE after
        "# HELP a A.\n# TYPE a gauge\na 1\n# HELP b B.\n# TYPE b gauge\nb 1\n# HELP a A.\n",
        "# HELP a A.\n# TYPE a wobbly\na 1\n",                        // type
        "# HELP a A.\n# TYPE a counter\na -1\n",                      // negative counter
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 2\n",
    ];
    for text in bad {
        assert!(parse(text).is_err(), "accepted {text:?}");
    }
}

// --- Reading the families -------------------------------------------------

/// `GET /metrics`, parsed; panics with the text if it does not parse.
fn scrape(addr: &str) -> Vec<Family> {
    let (status, body) = http_get(addr, "/metrics");
    assert_eq!(status, 200, "{body}");
    parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"))
}

/// The value of sample `name` with exactly `labels` (in any order).
fn value(families: &[Family], name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut want: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    want.sort();
    families
        .iter()
        .flat_map(|f| &f.samples)
        .find(|s| {
            let mut got = s.labels.clone();
            got.sort();
            s.name == name && got == want
        })
        .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
        .value
}

/// The sum of every sample named `name` (over all its label sets).
fn total(families: &[Family], name: &str) -> f64 {
    families
        .iter()
        .flat_map(|f| &f.samples)
        .filter(|s| s.name == name)
        .map(|s| s.value)
        .sum()
}

/// Every counter sample of `before` is there in `after`, not less.
fn assert_monotonic(before: &[Family], after: &[Family]) {
    for f in before
        .iter()
        .filter(|f| f.kind == "counter" || f.kind == "histogram")
    {
        for s in &f.samples {
            let labels: Vec<(&str, &str)> = s
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let later = value(after, &s.name, &labels);
            assert!(
                later >= s.value,
                "{}{labels:?} went from {} to {later}",
                s.name,
                s.value
            );
        }
    }
}

/// A word count over `lines` lines; returns its job id, output dir and the
/// expected counts.
fn wordcount(addr: &str, name: &str, lines: usize) -> (String, PathBuf, Vec<String>) {
    let dir = temp_dir(name);
    let input = dir.join("words.txt");
    let want = word_counts(&words_file(&input, lines, 7));
    let out = dir.join("out");
    let params = [("input", path(&input)), ("output", path(&out))];
    (start(addr, "wordcount.job", &params), out, want)
}

/// Runs a word count to its end; returns the job id and its number of tasks.
fn run_wordcount(addr: &str, name: &str) -> (String, u64) {
    let (id, out, want) = wordcount(addr, name, 1000);
    let done = wait_end(addr, &id, LIMIT);
    assert_eq!(done.state, "SUCCEEDED", "{}", done.text);
    assert_eq!(sorted(output_lines(&out)), want);
    (id, done.rows.iter().map(|r| u64::from(r.total)).sum())
}

// --- The Prometheus project's own parser ---------------------------------

/// Prints each sample `prometheus_client` reads as a JSON line.
const PY_PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        print(json.dumps({"family": family.name, "type": family.type,
                          "name": s.name, "labels": s.labels, "value": s.value}))
"#;

/// What `prometheus_client` reads of `text`: (family, type, sample name,
/// sorted labels, value) per sample.
type PySample = (String, String, String, Vec<(String, String)>, f64);

fn python_parse(python: &PathBuf, text: &str) -> Vec<PySample> {
    let mut child = Command::new(python)
        .args(["-c", PY_PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let v = json::parse(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap().to_string();
            let mut labels: Vec<(String, String)> = match v.get("labels") {
                Some(json::Value::Obj(pairs)) => pairs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect(),
                other => panic!("labels: {other:?}"),
            };
            labels.sort();
            let value = v.get("value").and_then(|x| x.as_f64()).unwrap();
            (s("family"), s("type"), s("name"), labels, value)
        })
        .collect()
}

/// `prometheus_client` reads exactly the samples our parser read, with the
/// same types.
fn cross_check(python: &PathBuf, text: &str, ours: &[Family]) {
    let theirs = python_parse(python, text);
    let mine: Vec<PySample> = ours
        .iter()
        .flat_map(|f| {
            // The Python client names a counter's family without `_total`.
            let family = match f.kind.as_str() {
                "counter" => f.name.strip_suffix("_total").unwrap_or(&f.name),
                _ => &f.name,
            };
            f.samples.iter().map(move |s| {
                let mut labels = s.labels.clone();
                labels.sort();
                (
                    family.to_string(),
                    f.kind.clone(),
                    s.name.clone(),
                    labels,
                    s.value,
                )
            })
        })
        .collect();
    assert_eq!(theirs.len(), mine.len(), "{theirs:?}\n{mine:?}");
    for (t, m) in theirs.iter().zip(&mine) {
        assert_eq!(t, m);
    }
}

fn python() -> Option<PathBuf> {
    python_with(
        "venv-metrics",
        &["prometheus_client"],
        "prometheus_client.parser",
        "MINISPARK_METRICS_TEST",
    )
}

// --- The tests ---------------------------------------------------------

#[test]
fn metrics_after_a_word_count_on_two_workers() {
    let (m, _w) = cluster(2, &[], &["--heartbeat-ms", "100"]);
    let before = scrape(&m.addr);
    assert_eq!(
        value(
            &before,
            "minispark_attempts_total",
            &[("outcome", "succeeded")]
        ),
        0.0
    );
    assert_eq!(
        value(&before, "minispark_job_duration_seconds_count", &[]),
        0.0
    );

    let (id, tasks) = run_wordcount(&m.addr, "metrics-wc");
    let (status, head, body) = http_request(&m.addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 200, "{body}");
    assert!(
        head.lines()
            .any(|l| l == "Content-Type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    let f = parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    for family in &f {
        assert!(family.name.starts_with("minispark_"), "{}", family.name);
        if family.kind == "counter" {
            assert!(family.name.ends_with("_total"), "{}", family.name);
        }
    }
    let v = |name: &str, labels: &[(&str, &str)]| value(&f, name, labels);
    assert_eq!(v("minispark_workers", &[("state", "alive")]), 2.0);
    assert_eq!(v("minispark_workers", &[("state", "dead")]), 0.0);
    assert_eq!(v("minispark_jobs", &[("state", "succeeded")]), 1.0);
    assert_eq!(v("minispark_jobs", &[("state", "running")]), 0.0);
    assert_eq!(
        v("minispark_jobs_finished_total", &[("state", "succeeded")]),
        1.0
    );
    assert_eq!(
        v("minispark_jobs_finished_total", &[("state", "failed")]),
        0.0
    );
    assert_eq!(v("minispark_tasks_running", &[]), 0.0);
    let succeeded = v("minispark_attempts_total", &[("outcome", "succeeded")]);
    assert_eq!(succeeded, tasks as f64, "one attempt per task");
    for outcome in ["failed", "lost", "fetch_failed", "timed_out", "aborted"] {
        assert_eq!(v("minispark_attempts_total", &[("outcome", outcome)]), 0.0);
    }
    assert!(v("minispark_shuffle_write_bytes_total", &[]) > 0.0);
    assert!(v("minispark_shuffle_read_bytes_total", &[]) > 0.0);
    let hist = "minispark_job_duration_seconds";
    assert_eq!(v(&format!("{hist}_count"), &[]), 1.0);
    assert_eq!(v(&format!("{hist}_bucket"), &[("le", "+Inf")]), 1.0);
    let report = get_json(&m.addr, &format!("/api/v1/jobs/{id}"));
    let elapsed = report.get("elapsedMs").and_then(|e| e.as_f64()).unwrap() / 1000.0;
    assert_eq!(v(&format!("{hist}_sum"), &[]), elapsed);
    // The one job is in every bucket from the first bound at or above its
    // duration on.
    let buckets = f
        .iter()
        .flat_map(|f| &f.samples)
        .filter(|s| s.name == format!("{hist}_bucket"));
    for b in buckets {
        let le: f64 = b.labels[0].1.parse().unwrap();
        let want = if elapsed <= le { 1.0 } else { 0.0 };
        assert_eq!(b.value, want, "le={le}, the job took {elapsed} s");
    }

    // Each worker's series carry its id and data address, as WORKERS lists them.
    for line in workers(&m.addr) {
        let labels = [
            ("worker", field(&line, "id").unwrap()),
            ("address", field(&line, "addr").unwrap()),
        ];
        assert_eq!(v("minispark_worker_up", &labels), 1.0, "{line}");
        assert!(v("minispark_worker_slots", &labels) >= 1.0);
        assert_eq!(v("minispark_worker_attempts_failed_total", &labels), 0.0);
    }
    // The workers' own counts arrive with their next heartbeats.
    let later = wait_for(LIMIT, "heartbeats counting every attempt", || {
        let f = scrape(&m.addr);
        let done = total(&f, "minispark_worker_attempts_done_total");
        let rss = total(&f, "minispark_worker_resident_memory_bytes");
        (done == tasks as f64 && rss > 0.0).then_some(f)
    });
    assert_eq!(total(&later, "minispark_worker_attempts_running"), 0.0);
    assert_monotonic(&before, &f);
    assert_monotonic(&f, &later);
    assert_monotonic(&later, &scrape(&m.addr));

    if let Some(python) = python() {
        cross_check(&python, &body, &f);
    }
}

#[test]
fn counters_keep_the_jobs_the_master_forgot() {
    let (m, _w) = cluster(1, &["--retained-jobs", "1"], &[]);
    let (_, a) = run_wordcount(&m.addr, "forget-a");
    let first = scrape(&m.addr);
    let (_, b) = run_wordcount(&m.addr, "forget-b");
    let second = scrape(&m.addr);
    // Two more, with no scrape between: the first of them is forgotten
    // before any scrape saw it, and is read back from its event log.
    let (_, c) = run_wordcount(&m.addr, "forget-c");
    let (_, d) = run_wordcount(&m.addr, "forget-d");
    let third = scrape(&m.addr);

    let ok = [("outcome", "succeeded")];
    let done = [("state", "succeeded")];
    for (f, tasks, jobs) in [
        (&first, a, 1.0),
        (&second, a + b, 2.0),
        (&third, a + b + c + d, 4.0),
    ] {
        assert_eq!(value(f, "minispark_attempts_total", &ok), tasks as f64);
        assert_eq!(value(f, "minispark_jobs_finished_total", &done), jobs);
        assert_eq!(value(f, "minispark_job_duration_seconds_count", &[]), jobs);
        // The gauge is what the master holds: the one job it retains.
        assert_eq!(value(f, "minispark_jobs", &done), 1.0);
    }
    let bytes = |f: &[Family]| value(f, "minispark_shuffle_write_bytes_total", &[]);
    assert!(bytes(&first) < bytes(&second) && bytes(&second) < bytes(&third));
    assert_monotonic(&first, &second);
    assert_monotonic(&second, &third);
}

#[test]
fn health_says_ok() {
    let m = master(&[]);
    assert_eq!(http_get(&m.addr, "/health"), (200, "ok".to_string()));
    let (status, head, body) = http_request(&m.addr, "HEAD /health HTTP/1.1\r\n\r\n");
    assert_eq!((status, body.as_str()), (200, ""), "{head}");
    assert_eq!(
        http_request(&m.addr, "POST /health HTTP/1.1\r\n\r\n").0,
        405
    );
    // Before any job or worker, the exposition is already whole.
    let f = scrape(&m.addr);
    assert_eq!(value(&f, "minispark_workers", &[("state", "alive")]), 0.0);
}

#[test]
fn text_mode_status_of_one_job() {
    let (m, _w) = cluster(1, &[], &[]);
    let (id, tasks) = run_wordcount(&m.addr, "text-status");
    let lines = text(&m.addr, &format!("STATUS {id}"));
    assert!(
        lines[0].starts_with(&format!("job {id} ")) && lines[0].contains("SUCCEEDED"),
        "{lines:?}"
    );
    assert_eq!(lines.last().map(String::as_str), Some("OK"), "{lines:?}");
    // The same table `client status` prints.
    let client_status = stdout(&client(&["--master", &m.addr, "status", &id]));
    let table: Vec<&str> = client_status.lines().skip(1).collect();
    assert_eq!(&lines[1..lines.len() - 1], table.as_slice());
    assert!(
        lines.iter().any(|l| l.contains("reduce_by_key")),
        "{lines:?}"
    );
    assert!(tasks > 0);

    let mut t = Text::connect(&m.addr);
    assert_eq!(t.command("STATUS 999"), ["ERR no job 999"]);
    let bad = t.command("status seven");
    assert_eq!(bad.len(), 1);
    assert!(bad[0].starts_with("ERR job id must be a number"), "{bad:?}");
    assert_eq!(t.command("STATUS 1 2"), ["ERR usage: STATUS [ID]"]);
    // STATUS alone is still the summary, and the session is still open.
    let summary = t.command("STATUS");
    assert!(
        summary.iter().any(|l| l == "workers 1 alive, 0 dead"),
        "{summary:?}"
    );
    assert!(t.command("HELP").iter().any(|l| l.contains("STATUS ID")));
}
