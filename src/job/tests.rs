//! Tests of the whole front end: job text in, datasets or exact errors out.

use super::*;
use crate::job::error::JobError;
use crate::record::Record;
use crate::rng::Rng;

fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn sep(bytes: &[u8]) -> Option<Sep<'_>> {
    Some(Sep {
        bytes,
        quotes: true,
    })
}

fn parse_ok(src: &str) -> Job {
    Job::parse("t.job", src, &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"))
}

fn error_of(src: &str, given: &[(&str, &str)]) -> String {
    match Job::parse("jobs/bad.job", src, &overrides(given)) {
        Ok(job) => panic!("parsed: {job:?}"),
        Err(e) => e.to_string(),
    }
}

/// One line per dataset: `id name=op(inputs) details`.
fn summary(job: &Job) -> Vec<String> {
    job.datasets
        .iter()
        .enumerate()
        .map(|(id, d)| {
            let name = d.name.as_deref().unwrap_or("_");
            let inputs: Vec<String> = d.op.inputs().iter().map(|i| i.to_string()).collect();
            let detail = match &d.op {
                Op::ReadText { path, splits } => format!(" {path} {splits:?}"),
                Op::ReadCsv {
                    path,
                    sep,
                    quotes: _,
                    header,
                    splits,
                    columns: _,
                } => {
                    format!(
                        " {path} '{}' {header} {splits:?}",
                        String::from_utf8_lossy(sep)
                    )
                }
                Op::Filter { pred, .. } => format!(" `{}`", pred.text()),
                Op::Map { key, value, .. } => match key {
                    Some(k) => format!(" `{}` `{}`", k.text(), value.text()),
                    None => format!(" `{}`", value.text()),
                },
                Op::FlatMap { expr, value, .. } => match value {
                    Some(v) => format!(" `{}` `{}`", expr.text(), v.text()),
                    None => format!(" `{}`", expr.text()),
                },
                Op::Pipe { command, .. } => format!(" {command:?}"),
                Op::Cache { .. } => String::new(),
                Op::ReduceByKey {
                    aggs, partitions, ..
                } => {
                    let aggs: Vec<String> = aggs.iter().map(|a| format!("{a:?}")).collect();
                    format!(" {} {partitions:?}", aggs.join(","))
                }
                Op::GroupByKey { partitions, .. }
                | Op::Join { partitions, .. }
                | Op::LeftJoin { partitions, .. }
                | Op::Distinct { partitions, .. } => format!(" {partitions:?}"),
                Op::SortByKey {
                    partitions, order, ..
                } => format!(" {partitions:?}{}", order_text(order)),
                Op::SortBy {
                    expr,
                    order,
                    partitions,
                    ..
                } => format!(" `{}` {partitions:?}{}", expr.text(), order_text(order)),
                Op::Take { n, .. } => format!(" {n}"),
                Op::Count { .. } | Op::Union { .. } => String::new(),
            };
            let keyed = if d.keyed { " keyed" } else { "" };
            format!(
                "{id} {name}={}({}){detail}{keyed}",
                d.op.name(),
                inputs.join(",")
            )
        })
        .collect()
}

/// A sort order as `summary` shows it: nothing for the default.
fn order_text(order: &SortOrder) -> String {
    let mut text = String::new();
    if order.numeric {
        text.push_str(" numeric");
    }
    if order.descending {
        text.push_str(" descending");
    }
    text
}

#[test]
fn example_jobs_parse() {
    let grep = Job::parse(
        "jobs/grep.job",
        include_str!("../../jobs/grep.job"),
        &BTreeMap::new(),
    )
    .unwrap();
    assert_eq!(
        summary(&grep),
        [
            "0 lines=read_text() data/words.txt None",
            "1 matches=filter(0) `contains($0, pattern)`"
        ]
    );
    assert_eq!(grep.saves.len(), 1);
    assert_eq!(
        (grep.saves[0].dataset, grep.saves[0].path.as_str()),
        (Some(1), "out/grep")
    );
    assert_eq!(grep.params["pattern"], "error");

    let given = overrides(&[("command", "wc -l"), ("input", "/abs/in.txt")]);
    let mut pipe =
        Job::parse("jobs/pipe.job", include_str!("../../jobs/pipe.job"), &given).unwrap();
    assert_eq!(
        summary(&pipe),
        ["0 _=read_text() /abs/in.txt None", "1 _=pipe(0) \"wc -l\""]
    );
    pipe.resolve_paths(std::path::Path::new("/home/u"));
    assert_eq!(pipe.saves[0].path, "/home/u/out/pipe");
    assert!(matches!(&pipe.datasets[0].op, Op::ReadText { path, .. } if path == "/abs/in.txt"));
}

#[test]
fn every_construct_parses() {
    let src = r##"
# every operator, in no particular order
param dir = "in"
param parts = 4
param sep = ";"

totals.save(concat("out/", "totals"))
joined.save("out/joined")
both = words.union(read_text(concat(dir, "/more.txt"), splits=parts).flat_map(split($0)))
  .distinct(parts)
both.save("out/both")

totals = pairs.reduce_by_key(sum, partitions=parts)
pairs = words.map(lower($0), 1)
words = read_text(dir, splits = 2)
  .flat_map(split($0))
  .filter(len($0) > 0 and not starts_with($0, "#"))
csv = read_csv("t.csv", sep, true).filter($2 != "")
joined = pairs.join(csv.map($1, $2), 8).left_join(pairs.group_by_key())
  .sort_by_key()
csv.map($1).save("out/first")
pairs.reduce_by_key(concat(","), 2).reduce_by_key(count).map($key, $value).save("out/c")
words.pipe("sort").reduce_by_key(first).save("out/never") # keyed? no: an error below
"##;
    let e = Job::parse("t.job", src, &BTreeMap::new()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.job:23:20: error: `reduce_by_key` needs key-value pairs, but its input has plain lines (make pairs with `map(key, value)`)\n    words.pipe(\"sort\").reduce_by_key(first).save(\"out/never\") # keyed? no: an error below\n                       ^"
    );
    let src = src.replace(
        "words.pipe(\"sort\").reduce_by_key(first)",
        "words.pipe(\"sort\").map($1, $2).reduce_by_key(first)",
    );
    let job = parse_ok(&src);
    assert_eq!(
        summary(&job),
        [
            "0 _=read_text() in Some(2)",
            "1 _=flat_map(0) `split($0)`",
            "2 words=filter(1) `len($0) > 0 and not starts_with($0, \"#\")`",
            "3 pairs=map(2) `lower($0)` `1` keyed",
            "4 totals=reduce_by_key(3) Sum Some(4) keyed",
            "5 _=read_csv() t.csv ';' true None",
            "6 csv=filter(5) `$2 != \"\"`",
            "7 _=map(6) `$1` `$2` keyed",
            "8 _=join(3,7) Some(8) keyed",
            "9 _=group_by_key(3) None keyed",
            "10 _=left_join(8,9) None keyed",
            "11 joined=sort_by_key(10) None keyed",
            "12 _=read_text() in/more.txt Some(4)",
            "13 _=flat_map(12) `split($0)`",
            "14 _=union(2,13)",
            "15 both=distinct(14) Some(4)",
            "16 _=map(6) `$1`",
            "17 _=reduce_by_key(3) Concat([44]) Some(2) keyed",
            "18 _=reduce_by_key(17) Count None keyed",
            "19 _=map(18) `$key` `$value` keyed",
            "20 _=pipe(2) \"sort\"",
            "21 _=map(20) `$1` `$2` keyed",
            "22 _=reduce_by_key(21) First None keyed",
        ]
    );
    let saves: Vec<(usize, &str)> = job
        .saves
        .iter()
        .map(|s| (s.dataset.unwrap_or(usize::MAX), s.path.as_str()))
        .collect();
    assert_eq!(
        saves,
        [
            (4, "out/totals"),
            (11, "out/joined"),
            (15, "out/both"),
            (16, "out/first"),
            (19, "out/c"),
            (22, "out/never")
        ]
    );
    // Spans point at the operator.
    assert_eq!(job.datasets[4].span, Span { line: 13, col: 16 });
    // Separators: read_csv's, kept through filter only; else a tab for
    // pairs; else whitespace.
    assert_eq!(sep_of(&job, 5), sep(b";"));
    assert_eq!(sep_of(&job, 6), sep(b";"));
    assert_eq!(sep_of(&job, 7), Some(PAIR_SEP));
    assert_eq!(sep_of(&job, 8), Some(PAIR_SEP));
    assert_eq!(sep_of(&job, 4), Some(PAIR_SEP));
    assert_eq!(sep_of(&job, 14), None);
    assert_eq!(sep_of(&job, 20), None);
    assert_eq!(job.sep(2), None);
    assert_eq!(sep_of(&job, 99), None);
    // Inputs always come first.
    for (id, d) in job.datasets.iter().enumerate() {
        assert!(d.op.inputs().iter().all(|i| *i < id));
    }
    assert!(job.datasets[15].op.is_wide() && !job.datasets[14].op.is_wide());
}

/// Which separator splits `$0`: read_csv's through filters, a tab for
/// pairs (also through filters and after joins), else whitespace.
#[test]
fn field_separators_follow_the_dataset() {
    let job = parse_ok(
        "a = read_csv(\"a.csv\", \";\").filter($1 != \"\")\n\
         b = a.map($1, $2).filter($2 != \"x\")\n\
         c = b.join(read_text(\"t\").map($1, $2))\n\
         d = c.map($2, $3).union(b).distinct()\n\
         e = d.map(concat($1, \" \", $2)).union(read_csv(\"z\"))\n\
         e.save(\"o\")\n",
    );
    let seps: Vec<(String, Option<Sep>)> = (0..job.datasets.len())
        .map(|id| (summary(&job)[id].clone(), sep_of(&job, id)))
        .collect();
    let tab = Some(PAIR_SEP);
    assert_eq!(
        seps,
        [
            ("0 _=read_csv() a.csv ';' false None".to_string(), sep(b";")),
            ("1 a=filter(0) `$1 != \"\"`".to_string(), sep(b";")),
            ("2 _=map(1) `$1` `$2` keyed".to_string(), tab),
            ("3 b=filter(2) `$2 != \"x\"` keyed".to_string(), tab),
            ("4 _=read_text() t None".to_string(), None),
            ("5 _=map(4) `$1` `$2` keyed".to_string(), tab),
            ("6 c=join(3,5) None keyed".to_string(), tab),
            ("7 _=map(6) `$2` `$3` keyed".to_string(), tab),
            ("8 _=union(7,3) keyed".to_string(), tab),
            ("9 d=distinct(8) None keyed".to_string(), tab),
            ("10 _=map(9) `concat($1, \" \", $2)`".to_string(), None),
            ("11 _=read_csv() z ',' false None".to_string(), sep(b",")),
            ("12 e=union(10,11)".to_string(), None),
        ]
    );
    // After a join, $1, $2, $3 are the key, left value and right value.
    let Op::Map {
        key: Some(key),
        value,
        ..
    } = &job.datasets[7].op
    else {
        panic!("{:?}", job.datasets[7]);
    };
    let joined = Record::pair(b"k".to_vec(), b"left v\tright v".to_vec());
    let ctx = RecordCtx {
        record: joined.as_ref(),
        file: "",
        sep: sep_of(&job, 6),
    };
    assert_eq!(
        key.with_bytes(&ctx, |b| Ok(b.to_vec())),
        Ok(b"left v".to_vec())
    );
    assert_eq!(
        value.with_bytes(&ctx, |b| Ok(b.to_vec())),
        Ok(b"right v".to_vec())
    );
}

/// The example jobs in jobs/: each parses with its defaults and has the
/// expected shape (the outputs are a contract checked outside this repo).
#[test]
fn every_job_file_parses_with_its_defaults() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".job"))
        .collect();
    names.sort();
    for name in &names {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        if let Err(e) = Job::parse(&format!("jobs/{name}"), &text, &BTreeMap::new()) {
            panic!("{e}");
        }
    }
    for expected in [
        "grep.job",
        "pipe.job",
        "wordcount.job",
        "join.job",
        "revenue.job",
        "indexer.job",
        "sort.job",
        "movielens.job",
        "sort_numbers.job",
        "top_words.job",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing");
    }

    let shape = |name: &str, text: &str| {
        let job = Job::parse(name, text, &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
        let params: Vec<String> = job.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let saves: Vec<String> = job
            .saves
            .iter()
            .map(|s| format!("{} -> {}", s.dataset.unwrap_or(usize::MAX), s.path))
            .collect();
        (params, summary(&job), saves)
    };
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let (params, datasets, saves) = shape(
        "jobs/wordcount.job",
        include_str!("../../jobs/wordcount.job"),
    );
    assert_eq!(
        params,
        strings(&[
            "input=data/words.txt",
            "output=out/wordcount",
            "partitions=4"
        ])
    );
    assert_eq!(
        datasets,
        strings(&[
            "0 _=read_text() data/words.txt None",
            "1 words=flat_map(0) `split($0)`",
            "2 _=map(1) `$0` `1` keyed",
            "3 counts=reduce_by_key(2) Sum Some(4) keyed",
        ])
    );
    assert_eq!(saves, strings(&["3 -> out/wordcount"]));

    let (params, datasets, saves) = shape("jobs/join.job", include_str!("../../jobs/join.job"));
    assert_eq!(
        params,
        strings(&[
            "orders=data/orders.csv",
            "output=out/join",
            "users=data/users.csv"
        ])
    );
    assert_eq!(
        datasets,
        strings(&[
            "0 _=read_csv() data/users.csv ',' false None",
            "1 u=map(0) `$1` `$2` keyed",
            "2 _=read_csv() data/orders.csv ',' false None",
            "3 o=map(2) `$2` `concat($1, \"\\t\", $3)` keyed",
            "4 _=join(1,3) None keyed",
        ])
    );
    assert_eq!(saves, strings(&["4 -> out/join"]));

    let (params, datasets, saves) =
        shape("jobs/revenue.job", include_str!("../../jobs/revenue.job"));
    assert_eq!(
        params,
        strings(&[
            "orders=data/orders.csv",
            "output=out/revenue",
            "users=data/users.csv"
        ])
    );
    assert_eq!(
        datasets,
        strings(&[
            "0 _=read_csv() data/users.csv ',' false None",
            "1 u=map(0) `$1` `$3` keyed",
            "2 _=read_csv() data/orders.csv ',' false None",
            "3 o=map(2) `$2` `$3` keyed",
            "4 _=join(1,3) None keyed",
            "5 _=map(4) `$2` `$3` keyed",
            "6 _=reduce_by_key(5) Sum None keyed",
        ])
    );
    assert_eq!(saves, strings(&["6 -> out/revenue"]));

    let (params, datasets, saves) =
        shape("jobs/indexer.job", include_str!("../../jobs/indexer.job"));
    assert_eq!(params, strings(&["input=data/docs", "output=out/indexer"]));
    assert_eq!(
        datasets,
        strings(&[
            "0 _=read_text() data/docs None",
            "1 _=flat_map(0) `split($0)`",
            "2 _=map(1) `$0` `basename(input_file())` keyed",
            "3 hits=distinct(2) None keyed",
            "4 files=group_by_key(3) None keyed",
            "5 _=map(4) `$key` `concat(len(split($value, \",\")), \"\\t\", $value)` keyed",
        ])
    );
    assert_eq!(saves, strings(&["5 -> out/indexer"]));

    let (params, datasets, saves) = shape("jobs/sort.job", include_str!("../../jobs/sort.job"));
    assert_eq!(params, strings(&["input=data/sort.txt", "output=out/sort"]));
    assert_eq!(
        datasets,
        strings(&[
            "0 _=read_text() data/sort.txt None",
            "1 _=map(0) `before($0, \"\\t\")` `after($0, \"\\t\")` keyed",
            "2 _=sort_by_key(1) None keyed",
        ])
    );
    assert_eq!(saves, strings(&["2 -> out/sort"]));

    let (params, datasets, saves) = shape(
        "jobs/sort_numbers.job",
        include_str!("../../jobs/sort_numbers.job"),
    );
    assert_eq!(
        params,
        strings(&["input=data/numbers.txt", "output=out/sort_numbers"])
    );
    assert_eq!(
        datasets,
        strings(&[
            "0 _=read_text() data/numbers.txt None",
            "1 _=flat_map(0) `split($0)`",
            "2 _=map(1) `int($0)`",
            "3 _=sort_by(2) `$0` None numeric",
        ])
    );
    assert_eq!(saves, strings(&["3 -> out/sort_numbers"]));

    let (params, datasets, saves) = shape(
        "jobs/top_words.job",
        include_str!("../../jobs/top_words.job"),
    );
    assert_eq!(
        params,
        strings(&["input=data/words.txt", "n=10", "output=out/top_words"])
    );
    assert_eq!(
        datasets,
        strings(&[
            "0 _=read_text() data/words.txt None",
            "1 _=flat_map(0) `split($0)`",
            "2 _=map(1) `$0` `1` keyed",
            "3 counts=reduce_by_key(2) Sum None keyed",
            "4 _=map(3) `$value` `$key` keyed",
            "5 _=sort_by_key(4) None numeric descending keyed",
            "6 _=take(5) 10 keyed",
            "7 _=map(6) `$value` `$key` keyed",
        ])
    );
    assert_eq!(saves, strings(&["7 -> out/top_words"]));
}

/// `sort_by_key`'s orders, `sort_by`, `take` and `count`: what they make,
/// and the mistakes each refuses, where they are.
#[test]
fn sorts_take_and_count() {
    let job = parse_ok(
        "param parts = 3\nparam desc = \"true\"\npairs = read_text(\"a\").map($1, $2)\n\
         pairs.sort_by_key(parts, numeric=true, descending=desc).save(\"o1\")\n\
         pairs.sort_by_key(descending=true).save(\"o2\")\n\
         read_text(\"a\").sort_by(len($0), numeric=true, descending=false, partitions=2).take(\"5\").save(\"o3\")\n\
         pairs.sort_by($value).count().save(\"o4\")\n\
         pairs.take(0).count().map(concat(\"n=\", $0)).save(\"o5\")\n",
    );
    assert_eq!(
        summary(&job),
        [
            "0 _=read_text() a None",
            "1 pairs=map(0) `$1` `$2` keyed",
            "2 _=sort_by_key(1) Some(3) numeric descending keyed",
            "3 _=sort_by_key(1) None descending keyed",
            "4 _=read_text() a None",
            "5 _=sort_by(4) `len($0)` Some(2) numeric",
            "6 _=take(5) 5",
            "7 _=sort_by(1) `$value` None keyed",
            "8 _=count(7)",
            "9 _=take(1) 0 keyed",
            "10 _=count(9)",
            "11 _=map(10) `concat(\"n=\", $0)`",
        ]
    );
    let errors = [
        (
            "read_text(\"x\").sort_by_key().save(\"o\")",
            "t.job:1:16: error: `sort_by_key` needs key-value pairs, but its input has plain lines (make pairs with `map(key, value)`)",
        ),
        (
            "read_text(\"x\").map($1, 1).sort_by_key(2, true).save(\"o\")",
            "t.job:1:42: error: only the `partitions` of `sort_by_key` may be given by position; name the others, e.g. `numeric=...` (usage: sort_by_key(), sort_by_key(partitions) or sort_by_key(partitions, numeric=true, descending=true))",
        ),
        (
            "read_text(\"x\").map($1, 1).sort_by_key(numeric=1).save(\"o\")",
            "t.job:1:47: error: the `numeric` flag of `sort_by_key` must be true or false, got 1",
        ),
        (
            "read_text(\"x\").map($1, 1).sort_by_key(descending=$1).save(\"o\")",
            "t.job:1:50: error: `$1` cannot be used in the `descending` flag of `sort_by_key`: it must be a constant (literals, params and functions of them)",
        ),
        (
            "read_text(\"x\").map($1, 1).sort_by_key(ascending=false).save(\"o\")",
            "t.job:1:39: error: `sort_by_key` has no argument named `ascending`: write `descending=true` for the reverse order (Spark's `ascending=False`)",
        ),
        (
            "read_text(\"x\").sort_by().save(\"o\")",
            "t.job:1:16: error: `sort_by` takes 1 to 4 arguments, got 0 (usage: sort_by(expr) or sort_by(expr, numeric=true, descending=true, partitions=N))",
        ),
        (
            "read_text(\"x\").sort_by($1, 4).save(\"o\")",
            "t.job:1:28: error: only the `expr` of `sort_by` may be given by position; name the others, e.g. `numeric=...` (usage: sort_by(expr) or sort_by(expr, numeric=true, descending=true, partitions=N))",
        ),
        (
            "read_text(\"x\").sort_by($1 > 2, numeric=true).save(\"o\")",
            "t.job:1:24: error: `sort_by(numeric=true)` sorts by a number, but this is a true/false value",
        ),
        (
            "read_text(\"x\").sort_by(split($0), numeric=true).save(\"o\")",
            "t.job:1:24: error: `sort_by(numeric=true)` sorts by a number, but this is a list",
        ),
        (
            "read_text(\"x\").sort_by($value).save(\"o\")",
            "t.job:1:24: error: `$value` needs a dataset of key-value pairs (made by `map(key, value)` or a by-key operator); this dataset has plain lines",
        ),
        (
            "read_text(\"x\").sort_by($1, partitions=0).save(\"o\")",
            "t.job:1:39: error: the partition count of `sort_by` must be a whole number from 1 to 4294967295, got 0",
        ),
        (
            "read_text(\"x\").take(-1).save(\"o\")",
            "t.job:1:21: error: the count of `take` must be a whole number from 0 to 9223372036854775807, got -1",
        ),
        (
            "read_text(\"x\").take(2.5).save(\"o\")",
            "t.job:1:21: error: the count of `take` must be a whole number from 0 to 9223372036854775807, got 2.5",
        ),
        (
            "read_text(\"x\").take(len($0)).save(\"o\")",
            "t.job:1:25: error: `$0` cannot be used in the count of `take`: it must be a constant (literals, params and functions of them)",
        ),
        (
            "read_text(\"x\").take().save(\"o\")",
            "t.job:1:16: error: `take` takes 1 argument, got 0 (usage: take(n))",
        ),
        (
            "read_text(\"x\").take(n=3).save(\"o\")",
            "t.job:1:21: error: `take` takes no named arguments (usage: take(n))",
        ),
        (
            "read_text(\"x\").count(1).save(\"o\")",
            "t.job:1:16: error: `count` takes 0 arguments, got 1 (usage: count())",
        ),
        (
            "read_text(\"x\").count().map($key).save(\"o\")",
            "t.job:1:28: error: `$key` needs a dataset of key-value pairs (made by `map(key, value)` or a by-key operator); this dataset has plain lines",
        ),
        (
            "read_text(\"x\").cont().save(\"o\")",
            "t.job:1:16: error: unknown operator `cont` (did you mean `count`?)",
        ),
    ];
    for (src, want) in errors {
        let e = Job::parse("t.job", src, &BTreeMap::new()).unwrap_err();
        let first = e.to_string();
        assert_eq!(first.lines().next(), Some(want), "{src}");
    }
    // The whole message, caret and all.
    assert_eq!(
        error_of("x = read_text(\"a\")\nx.take(\"many\").save(\"o\")\n", &[]),
        "jobs/bad.job:2:8: error: the count of `take` must be a whole number from 0 to 9223372036854775807, got \"many\"\n    x.take(\"many\").save(\"o\")\n           ^"
    );
}

/// jobs/movielens.job: its params (a contract), and ratings split on `::`.
#[test]
fn movielens_job_reads_ratings_on_double_colons() {
    let text = include_str!("../../jobs/movielens.job");
    let job = Job::parse("jobs/movielens.job", text, &BTreeMap::new()).unwrap();
    let params: Vec<String> = job.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    assert_eq!(params, ["output=out/movielens", "ratings=data/ratings.dat"]);
    assert_eq!(
        summary(&job)[0],
        "0 _=read_csv() data/ratings.dat '::' false None"
    );
    assert_eq!(sep_of(&job, 1), sep(b"::"));
    assert!(matches!(job.datasets[2].op, Op::Map { key: Some(_), .. }));
    assert_eq!(job.saves.len(), 1);
}

#[test]
fn parsing_is_deterministic_and_unused_datasets_are_dropped() {
    let src = "b = a.filter($1 == \"x\")\nunused = a.map(upper($0))\na = read_text(\"in\")\nb.save(\"o\")\n";
    let one = parse_ok(src);
    let two = parse_ok(src);
    assert_eq!(summary(&one), summary(&two));
    assert_eq!(
        summary(&one),
        ["0 a=read_text() in None", "1 b=filter(0) `$1 == \"x\"`"]
    );
    // An unused dataset is still checked.
    let bad = src.replace("upper($0)", "upper($0, 1)");
    assert!(error_of(&bad, &[]).contains("`upper` takes 1 argument, got 2"));
}

#[test]
fn params_defaults_and_overrides() {
    let src = "param input\nparam n = 3\nparam x = -2.5\nread_text(input, splits=n).save(\"o\")\n";
    let job = Job::parse("t.job", src, &overrides(&[("input", "a.txt")])).unwrap();
    assert_eq!(
        job.params,
        overrides(&[("input", "a.txt"), ("n", "3"), ("x", "-2.5")])
    );
    assert!(
        matches!(&job.datasets[0].op, Op::ReadText { path, splits: Some(3) } if path == "a.txt")
    );
    let job = Job::parse("t.job", src, &overrides(&[("input", "b"), ("n", "7")])).unwrap();
    assert!(matches!(
        &job.datasets[0].op,
        Op::ReadText {
            splits: Some(7),
            ..
        }
    ));
    assert_eq!(
        error_of(src, &[("input", "b"), ("n", "seven")]),
        "jobs/bad.job:4:25: error: the split count of `read_text` must be a whole number from 1 to 4294967295, got \"seven\"\n    read_text(input, splits=n).save(\"o\")\n                            ^"
    );
}

#[test]
fn resolve_paths_keeps_absolute_paths() {
    let mut job = parse_ok("read_csv(\"/data/x.csv\").union(read_text(\"y\")).save(\"out\")");
    job.resolve_paths(std::path::Path::new("/w"));
    assert!(
        matches!(&job.datasets[0].op, Op::ReadCsv { path, sep, header: false, .. } if path == "/data/x.csv" && sep == b",")
    );
    assert!(matches!(&job.datasets[1].op, Op::ReadText { path, .. } if path == "/w/y"));
    assert_eq!(job.saves[0].path, "/w/out");
}

/// `read_csv`'s separator: any non-empty bytes without a newline, given
/// by position, by name or by a param.
#[test]
fn read_csv_separators_of_several_bytes() {
    let job = parse_ok(
        "param sep = \"::\"\n\
         a = read_csv(\"r.dat\", sep=\"::\").filter($3 != \"\")\n\
         b = read_csv(\"s.dat\", sep, false)\n\
         a.union(b).save(\"o\")\n",
    );
    assert_eq!(sep_of(&job, 0), sep(b"::"));
    assert_eq!(sep_of(&job, 1), sep(b"::"));
    assert_eq!(summary(&job)[2], "2 b=read_csv() s.dat '::' false None");
    // Quotes are read unless turned off; then a `"` may separate.
    let job = parse_ok("read_csv(\"a\", \"\\\"\", quotes=false).save(\"o\")");
    assert!(matches!(&job.datasets[0].op, Op::ReadCsv { sep, quotes: false, .. } if sep == b"\""));
    assert_eq!(
        job.sep(0),
        Some(Sep {
            bytes: b"\"",
            quotes: false
        })
    );
    assert_eq!(parse_ok("read_csv(\"a\").save(\"o\")").sep(0), sep(b","));
    let cases = [
        (
            "read_csv(\"a\", \"\").save(\"o\")",
            "jobs/bad.job:1:15: error: the separator of `read_csv` must not be empty\n    read_csv(\"a\", \"\").save(\"o\")\n                  ^",
        ),
        (
            "read_csv(\"a\", sep=\";\\n\").save(\"o\")",
            "jobs/bad.job:1:19: error: the separator of `read_csv` cannot contain a newline: a record is one line\n    read_csv(\"a\", sep=\";\\n\").save(\"o\")\n                      ^",
        ),
        (
            "read_csv(\"a\", 7).save(\"o\")",
            "jobs/bad.job:1:15: error: the separator of `read_csv` must be a string, got 7\n    read_csv(\"a\", 7).save(\"o\")\n                  ^",
        ),
        (
            "read_csv(\"a\", \"\\\"\").save(\"o\")",
            "jobs/bad.job:1:15: error: the separator of `read_csv` cannot contain `\"` while quotes are read (give quotes=false)\n    read_csv(\"a\", \"\\\"\").save(\"o\")\n                  ^",
        ),
        (
            "read_csv(\"a\", quotes=\"no\").save(\"o\")",
            "jobs/bad.job:1:22: error: the `quotes` flag of `read_csv` must be true or false, got \"no\"\n    read_csv(\"a\", quotes=\"no\").save(\"o\")\n                         ^",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(error_of(src, &[]), want, "\n--- source:\n{src}");
    }
}

/// `$name` and `$"col name"` over a `read_csv` with a header (and its
/// filters) name its columns: each name once, in the order first used,
/// with the place it is first used.
#[test]
fn header_columns_are_collected_by_their_read_csv() {
    let job = parse_ok(
        "people = read_csv(\"p.csv\", header=true).filter($age > 30)\n\
         people.map($\"first name\", concat($age, $3)).save(\"o\")\n\
         read_csv(\"q.csv\", \";\", true).map($id, $\"id\").save(\"p\")\n",
    );
    let columns = |id: DatasetId| match &job.datasets[id].op {
        Op::ReadCsv { columns, .. } => columns
            .iter()
            .map(|c| format!("{} {}:{}", c.name, c.span.line, c.span.col))
            .collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(columns(0), ["age 1:48", "first name 2:12"]);
    assert_eq!(columns(3), ["id 3:34"]);
    // A dataset no save needs is checked, but its names are not looked for.
    let job = parse_ok(
        "p = read_csv(\"p.csv\", header=true)\n\
         unused = p.filter($zzz == \"\").map($age)\n\
         p.map($age, $id).save(\"o\")\n",
    );
    assert_eq!(job.datasets.len(), 2);
    assert!(matches!(&job.datasets[0].op, Op::ReadCsv { columns, .. }
        if columns.iter().map(|c| c.name.as_str()).eq(["age", "id"])));
    let cases = [
        (
            "read_csv(\"p.csv\").filter($age > 3).save(\"o\")",
            "jobs/bad.job:1:26: error: `$age` names a column of a CSV header: it needs a dataset read by `read_csv(path, header=true)`, or a `filter` of one\n    read_csv(\"p.csv\").filter($age > 3).save(\"o\")\n                             ^",
        ),
        (
            "read_csv(\"p.csv\", header=true).map($1, 2).map($\"age\").save(\"o\")",
            "jobs/bad.job:1:47: error: `$\"age\"` names a column of a CSV header: it needs a dataset read by `read_csv(path, header=true)`, or a `filter` of one\n    read_csv(\"p.csv\", header=true).map($1, 2).map($\"age\").save(\"o\")\n                                                  ^",
        ),
        (
            "read_text(\"t\").map($name).save(\"o\")",
            "jobs/bad.job:1:20: error: `$name` names a column of a CSV header: it needs a dataset read by `read_csv(path, header=true)`, or a `filter` of one\n    read_text(\"t\").map($name).save(\"o\")\n                       ^",
        ),
        (
            "read_csv(\"p.csv\", header=true).save($out)",
            "jobs/bad.job:1:37: error: `$out` cannot be used in the path of `save`: it must be a constant (literals, params and functions of them)\n    read_csv(\"p.csv\", header=true).save($out)\n                                        ^",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(error_of(src, &[]), want, "\n--- source:\n{src}");
    }
}

/// The exact text users see for each kind of mistake.
#[test]
fn error_messages() {
    let grep = "param input   = \"data/words.txt\"\nparam output  = \"out/grep\"\nparam pattern = \"error\"\n\nlines   = read_text(input)\n\nmatches = lines.filter(contain($0, pattern))\nmatches.save(output)\n";
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (
            grep,
            &[],
            "jobs/bad.job:7:24: error: unknown function `contain` (did you mean `contains`?)\n    matches = lines.filter(contain($0, pattern))\n                           ^",
        ),
        // awk's `=` in a condition: the place of the `=`, and the fix.
        (
            "read_text(\"a\")\n  .filter($1 = \"x\")\n  .save(\"o\")",
            &[],
            "jobs/bad.job:2:14: error: `=` is not a comparison; did you mean `==`?\n      .filter($1 = \"x\")\n                 ^",
        ),
        (
            "lines = read_text(\"a\")\nlines.filter(not ($2 = 3 or true)).save(\"o\")",
            &[],
            "jobs/bad.job:2:22: error: `=` is not a comparison; did you mean `==`?\n    lines.filter(not ($2 = 3 or true)).save(\"o\")\n                         ^",
        ),
        (
            "lines = read_text(\"a\")\nlinez.save(\"o\")",
            &[],
            "jobs/bad.job:2:1: error: undefined dataset `linez` (did you mean `lines`?)\n    linez.save(\"o\")\n    ^",
        ),
        (
            "a = b.filter(true)\nb = a.map($0)\na.save(\"o\")",
            &[],
            "jobs/bad.job:2:5: error: dataset `a` depends on itself: a -> b -> a\n    b = a.map($0)\n        ^",
        ),
        (
            "lines = read_text(\"a\", 4, 5)\nlines.save(\"o\")",
            &[],
            "jobs/bad.job:1:9: error: `read_text` takes 1 or 2 arguments, got 3 (usage: read_text(path) or read_text(path, splits=N))\n    lines = read_text(\"a\", 4, 5)\n            ^",
        ),
        (
            "lines = read_text(\"a\").filter()\nlines.save(\"o\")",
            &[],
            "jobs/bad.job:1:24: error: `filter` takes 1 argument, got 0 (usage: filter(condition))\n    lines = read_text(\"a\").filter()\n                           ^",
        ),
        (
            "lines = read_text(5)\nlines.save(\"o\")",
            &[],
            "jobs/bad.job:1:19: error: the path of `read_text` must be a string, got 5\n    lines = read_text(5)\n                      ^",
        ),
        (
            "lines = read_text(\"a\")\nlines.save($0)",
            &[],
            "jobs/bad.job:2:12: error: `$0` cannot be used in the path of `save`: it must be a constant (literals, params and functions of them)\n    lines.save($0)\n               ^",
        ),
        (
            "lines = read_text(\"a\")\n\tlines.pipe(concat(\"x\", $1)).save(\"o\")",
            &[],
            "jobs/bad.job:2:25: error: `$1` cannot be used in the command of `pipe`: it must be a constant (literals, params and functions of them)\n    \tlines.pipe(concat(\"x\", $1)).save(\"o\")\n    \t                       ^",
        ),
        (
            "lines = read_text(\"a\").fliter(true)\nlines.save(\"o\")",
            &[],
            "jobs/bad.job:1:24: error: unknown operator `fliter` (did you mean `filter`?)\n    lines = read_text(\"a\").fliter(true)\n                           ^",
        ),
        (
            "# needs a pattern\nparam pattern\nread_text(\"a\").filter(contains($0, pattern)).save(\"o\")",
            &[],
            "jobs/bad.job:2:7: error: param `pattern` has no default and was not given; pass it with --param pattern=VALUE\n    param pattern\n          ^",
        ),
        (
            "param pattern = \"x\"\nread_text(\"a\").filter(contains($0, pattern)).save(\"o\")",
            &[("patern", "y")],
            "jobs/bad.job:1:1: error: unknown param `patern` given with --param (did you mean `pattern`?) (this job declares: pattern)\n    param pattern = \"x\"\n    ^",
        ),
        (
            "lines = read_text(\"a)\nlines.save(\"o\")",
            &[],
            "jobs/bad.job:1:19: error: unterminated string (a string must end with `\"` on the same line)\n    lines = read_text(\"a)\n                      ^",
        ),
        (
            "lines = read_text(\"a\") @ 2\nlines.save(\"o\")",
            &[],
            "jobs/bad.job:1:24: error: unexpected character `@`\n    lines = read_text(\"a\") @ 2\n                           ^",
        ),
        (
            "lines = read_text(\"a\").map($key)\nlines.save(\"o\")",
            &[],
            "jobs/bad.job:1:28: error: `$key` needs a dataset of key-value pairs (made by `map(key, value)` or a by-key operator); this dataset has plain lines\n    lines = read_text(\"a\").map($key)\n                               ^",
        ),
        (
            "lines = read_text(\"a\")\n",
            &[],
            "jobs/bad.job:1:1: error: this job saves nothing: add a statement like `NAME.save(path)`\n    lines = read_text(\"a\")\n    ^",
        ),
        (
            "lines = read_text(\"a\")\nlines = read_text(\"b\")\nlines.save(\"o\")",
            &[],
            "jobs/bad.job:2:1: error: dataset `lines` is already defined at line 1\n    lines = read_text(\"b\")\n    ^",
        ),
        (
            "read_text(\"a\").filter($1).save(\"o\")",
            &[],
            "jobs/bad.job:1:23: error: the condition of `filter` must be true or false, but this is a string\n    read_text(\"a\").filter($1).save(\"o\")\n                          ^",
        ),
        (
            "read_text(\"a\").map($1, 1).reduce_by_key(avg, 4).save(\"o\")",
            &[],
            "jobs/bad.job:1:41: error: unknown aggregator `avg` (one of sum, count, min, max, mean, first, concat(SEP))\n    read_text(\"a\").map($1, 1).reduce_by_key(avg, 4).save(\"o\")\n                                            ^",
        ),
        (
            "read_text(\"a\").map($1, 1).join(read_text(\"b\")).save(\"o\")",
            &[],
            "jobs/bad.job:1:32: error: `join` needs key-value pairs, but its input has plain lines (make pairs with `map(key, value)`)\n    read_text(\"a\").map($1, 1).join(read_text(\"b\")).save(\"o\")\n                                   ^",
        ),
        (
            "read_text(\"a\").save(\"o\")\nread_text(\"b\").save(\"o\")",
            &[],
            "jobs/bad.job:2:16: error: `o` is already saved to at line 1\n    read_text(\"b\").save(\"o\")\n                   ^",
        ),
        (
            "read_csv(\"a\", sep=\";\", header=\"yes\").save(\"o\")",
            &[],
            "jobs/bad.job:1:31: error: the `header` flag of `read_csv` must be true or false, got \"yes\"\n    read_csv(\"a\", sep=\";\", header=\"yes\").save(\"o\")\n                                  ^",
        ),
        (
            "read_text(\"a\", split=2).save(\"o\")",
            &[],
            "jobs/bad.job:1:16: error: `read_text` has no argument named `split` (did you mean `splits`?) (usage: read_text(path) or read_text(path, splits=N))\n    read_text(\"a\", split=2).save(\"o\")\n                   ^",
        ),
        (
            "read_txt(\"a\").save(\"o\")",
            &[],
            "jobs/bad.job:1:1: error: unknown source `read_txt` (did you mean `read_text`?)\n    read_txt(\"a\").save(\"o\")\n    ^",
        ),
        (
            "x = read_text(\"a\").save(\"o\")\nx.save(\"p\")",
            &[],
            "jobs/bad.job:1:20: error: `save` makes no dataset; write `dataset.save(path)` as a statement of its own\n    x = read_text(\"a\").save(\"o\")\n                       ^",
        ),
        (
            "param p = 1\np = read_text(\"a\")\np.save(\"o\")",
            &[],
            "jobs/bad.job:2:1: error: `p` is already a param (line 1)\n    p = read_text(\"a\")\n    ^",
        ),
        (
            "read_text(\"a\").map(\n  $1,\n  $2 +\n)\n.save(\"o\")",
            &[],
            "jobs/bad.job:4:1: error: expected an expression, found `)`\n    )\n    ^",
        ),
    ];
    for (src, given, want) in cases {
        assert_eq!(error_of(src, given), *want, "\n--- source:\n{src}");
    }
}

#[test]
fn reduce_by_key_takes_several_aggregators_then_the_partitions() {
    let rbk = |args: &str| {
        let src = format!(
            "param parts = 4\nparam sum = 2\nread_text(\"a\").map($1, $2).reduce_by_key({args}).save(\"o\")\n"
        );
        let job = Job::parse("t.job", &src, &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
        let line = summary(&job)[2].clone();
        line["2 _=reduce_by_key(1) ".len()..line.len() - " keyed".len()].to_string()
    };
    assert_eq!(rbk("sum"), "Sum None");
    assert_eq!(rbk("sum, count, mean"), "Sum,Count,Mean None");
    assert_eq!(rbk("max, min, sum"), "Max,Min,Sum None");
    // The partition count: positional last, as before, or named.
    assert_eq!(rbk("sum, 8"), "Sum Some(8)");
    assert_eq!(rbk("sum, parts"), "Sum Some(4)");
    assert_eq!(rbk("sum, count, parts"), "Sum,Count Some(4)");
    assert_eq!(rbk("sum, \"3\""), "Sum Some(3)");
    assert_eq!(
        rbk("sum, count, mean, partitions=3"),
        "Sum,Count,Mean Some(3)"
    );
    assert_eq!(rbk("sum, partitions=parts"), "Sum Some(4)");
    assert_eq!(rbk("aggregator=max, partitions=2"), "Max Some(2)");
    assert_eq!(rbk("concat(\",\"), first"), "Concat([44]),First None");
    assert_eq!(rbk("mean, mean"), "Mean,Mean None");
    // An aggregator name is one even where a param has it (`sum` is both).
    assert_eq!(rbk("count, sum, mean"), "Count,Sum,Mean None");
    let full = (0..MAX_AGGREGATORS).map(|_| "count").collect::<Vec<_>>();
    assert_eq!(
        rbk(&full.join(", ")).matches("Count").count(),
        MAX_AGGREGATORS
    );

    let err = |args: &str| {
        let src = format!(
            "param parts = 4\nparam sum = 2\nread_text(\"a\").map($1, $2).reduce_by_key({args}).save(\"o\")"
        );
        let e = error_of(&src, &[]);
        e.lines().next().unwrap().to_string()
    };
    let usage = "(usage: reduce_by_key(agg, ...), reduce_by_key(agg, ..., partitions=N) or reduce_by_key(agg, partitions))";
    assert_eq!(
        err(""),
        format!("jobs/bad.job:3:28: error: `reduce_by_key` needs at least one aggregator {usage}")
    );
    assert_eq!(
        err("partitions=2"),
        format!("jobs/bad.job:3:28: error: `reduce_by_key` needs at least one aggregator {usage}")
    );
    assert_eq!(
        err("sum, 4, count"),
        "jobs/bad.job:3:47: error: expected an aggregator: sum, count, min, max, mean, first or concat(SEP)"
    );
    assert_eq!(
        err("count, 4, partitions=2"),
        "jobs/bad.job:3:49: error: the partition count of `reduce_by_key` is given twice: here and as `partitions=`"
    );
    assert_eq!(
        err("sum, cnt, mean"),
        "jobs/bad.job:3:47: error: unknown aggregator `cnt` (did you mean `count`?) (one of sum, count, min, max, mean, first, concat(SEP))"
    );
    assert_eq!(
        err("count, sum"),
        "jobs/bad.job:3:49: error: `sum` is both an aggregator and a param here: write `partitions=sum` for the partition count, or rename the param"
    );
    assert_eq!(
        err("sum, aggregator=count"),
        "jobs/bad.job:3:47: error: argument `aggregator` of `reduce_by_key` is given twice"
    );
    assert_eq!(
        err("sum, partiton=2"),
        format!("jobs/bad.job:3:47: error: `reduce_by_key` has no argument named `partiton` (did you mean `partitions`?) {usage}")
    );
    assert_eq!(
        err("partitions=2, sum"),
        format!(
            "jobs/bad.job:3:56: error: a positional argument cannot follow a named one {usage}"
        )
    );
    assert_eq!(
        err("sum, count, 0"),
        "jobs/bad.job:3:54: error: the partition count of `reduce_by_key` must be a whole number from 1 to 4294967295, got 0"
    );
    let mut over = full.clone();
    over.push("sum");
    assert_eq!(
        err(&over.join(", ")),
        format!(
            "jobs/bad.job:3:{}: error: too many aggregators: `reduce_by_key` takes at most {MAX_AGGREGATORS}",
            42 + 7 * MAX_AGGREGATORS
        )
    );
}

#[test]
fn errors_expose_their_parts() {
    let e = Job::parse("f.job", "x = $", &BTreeMap::new()).unwrap_err();
    assert_eq!((e.line, e.col), (1, 5));
    assert_eq!(
        e.message,
        "`$` must be followed by a field number, a column name, `key`, `value` or `(`"
    );
    let as_std: &dyn std::error::Error = &e;
    assert!(as_std.to_string().starts_with("f.job:1:5: error: "));
}

#[test]
fn deep_chains_of_definitions_are_an_error_not_a_crash() {
    let mut src = String::from("d0 = read_text(\"a\")\n");
    for i in 1..2000 {
        src.push_str(&format!("d{i} = d{}.filter(true)\n", i - 1));
    }
    src.push_str("d1999.save(\"o\")\n");
    let e = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || Job::parse("t.job", &src, &BTreeMap::new()).map(|_| ()))
        .unwrap()
        .join()
        .unwrap()
        .unwrap_err();
    assert!(e.message.contains("nested too deeply"), "{e}");
}

/// Parses `src` on a thread with a 2 MiB stack (what threads of the master
/// and workers that parse jobs have), so that a recursion the limits fail
/// to bound shows as a crash, in debug builds too; returns the error, and
/// fails if parsing took over `secs`.
fn limited_error(src: String, given: &[(&str, &str)], secs: u64) -> JobError {
    let given = overrides(given);
    let started = std::time::Instant::now();
    let result = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || Job::parse("big.job", &src, &given).map(|_| ()))
        .unwrap()
        .join()
        .unwrap();
    let elapsed = started.elapsed();
    assert!(elapsed.as_secs() < secs, "took {elapsed:?}");
    match result {
        Ok(()) => panic!("parsed"),
        Err(e) => e,
    }
}

/// `(line, col, message)` of an error, to compare in one go.
fn place(e: &JobError) -> (u32, u32, &str) {
    (e.line, e.col, e.message.as_str())
}

#[test]
fn aliases_chained_too_deep_are_an_error_not_a_crash() {
    let mut src = String::from("d0 = read_text(\"a\")\n");
    for i in 1..2000 {
        src.push_str(&format!("d{i} = d{}\n", i - 1));
    }
    src.push_str("d1999.save(\"o\")\n");
    let e = limited_error(src, &[], 5);
    // `d1999` in the save is level 1, `d1998` in `d1999 = d1998` level 2,
    // ..., `d1871` in `d1872 = d1871` level 129: one too many.
    assert_eq!(
        place(&e),
        (
            1873,
            9,
            "datasets nested too deeply (a chain of more than 128 datasets and names)"
        )
    );
}

#[test]
fn nesting_100_000_deep_is_a_quick_error_at_its_place() {
    // (opening, closing, which opening is the first too deep): the
    // statement's expression is one level, each opening one more, but `-(`
    // is two.
    let cases = [
        ("(", ")", 65),
        ("f(", ")", 65),
        ("split(", ")[0]", 65),
        ("$(", ")", 65),
        ("x[", "]", 65),
        ("not ", "", 65),
        ("-", "", 65),
        ("-(", ")", 33),
    ];
    for (open, close, nth) in cases {
        let src = format!("x = {}1{}\n", open.repeat(100_000), close.repeat(100_000));
        let e = limited_error(src, &[], 2);
        let col = "x = ".len() + open.len() * (nth - 1) + 1;
        assert_eq!(
            place(&e),
            (
                1,
                col as u32,
                "expression nested too deeply (more than 64 levels)"
            ),
            "{open}"
        );
    }
}

#[test]
fn too_many_datasets_is_an_error_at_the_one_over_the_limit() {
    let statements = |n: usize| {
        let mut src = String::from("d0 = read_text(\"a\").filter(true)\nd0.save(\"o\")\n");
        for i in 1..n {
            src.push_str(&format!("d{i} = read_text(\"a\")\n"));
        }
        src
    };
    // d0 is two datasets, so MAX_DATASETS - 1 statements reach the limit.
    assert!(Job::parse("t.job", &statements(MAX_DATASETS - 1), &BTreeMap::new()).is_ok());
    let e = limited_error(statements(MAX_DATASETS), &[], 2);
    assert_eq!(
        place(&e),
        (
            MAX_DATASETS as u32 + 1,
            // `read_text` in `d999 = read_text("a")`
            5 + (MAX_DATASETS - 1).to_string().len() as u32,
            "too many datasets: a job may have at most 1000 (each step of a chain counts)"
        )
    );
}

#[test]
fn too_many_saves_is_an_error_at_the_one_over_the_limit() {
    let saves = |n: usize| {
        let mut src = String::from("a = read_text(\"in\")\n");
        for i in 0..n {
            src.push_str(&format!("a.save(\"o{i}\")\n"));
        }
        src
    };
    assert!(Job::parse("t.job", &saves(MAX_SAVES), &BTreeMap::new()).is_ok());
    let e = limited_error(saves(MAX_SAVES + 1), &[], 2);
    assert_eq!(
        place(&e),
        (
            MAX_SAVES as u32 + 2,
            3,
            "too many saves: a job may have at most 100"
        )
    );
}

#[test]
fn a_text_over_the_size_limit_is_an_error_where_it_crosses_it() {
    let job = "read_text(\"in\").save(\"o\")\n";
    // Padding lines of 64 bytes, up to exactly the limit: accepted.
    let line = format!("#{}\n", "x".repeat(62));
    let fill = (MAX_SOURCE_BYTES - job.len()) / line.len();
    let mut src = format!("{job}{}", line.repeat(fill));
    src.push_str(&"#".repeat(MAX_SOURCE_BYTES - src.len()));
    assert_eq!(src.len(), MAX_SOURCE_BYTES);
    assert!(Job::parse("t.job", &src, &BTreeMap::new()).is_ok());
    // One more byte: refused, at that byte (a two-byte `é` is cut before it).
    let last_line_len = src.len() - src.rfind('\n').unwrap() - 1;
    for extra in ["#", "é"] {
        let mut over = src.clone();
        if extra == "é" {
            over.pop();
        }
        over.push_str(extra);
        let e = limited_error(over.clone(), &[], 2);
        let col = if extra == "é" {
            last_line_len
        } else {
            last_line_len + 1
        };
        assert_eq!(
            place(&e),
            (
                fill as u32 + 2,
                col as u32,
                format!(
                    "the job file is {} bytes, over the limit of 1048576 bytes (1 MiB); it crosses the limit here",
                    over.len()
                )
                .as_str()
            )
        );
    }
}

/// Constants are computed when the job is checked (on the master too), so
/// what they may grow to, and the work they may take, is bounded.
#[test]
fn constants_that_grow_without_bound_are_refused() {
    // Tenfold per level: ten levels would be 10 GB.
    let grow = |levels: usize| {
        format!(
            "read_text(\"a\").save({}\"a\"{})",
            "replace(".repeat(levels),
            ", \"a\", \"aaaaaaaaaa\")".repeat(levels)
        )
    };
    assert!(Job::parse("t.job", &grow(6), &BTreeMap::new()).is_ok());
    let e = limited_error(grow(10), &[], 2);
    // At the seventh `replace` from the inside (the fourth from the
    // outside): 10^7 bytes, the first over 1 MiB.
    assert_eq!((e.line, e.col), (1, 21 + 3 * 8));
    assert!(
        e.message.starts_with(
            "`replace` would make a constant longer than 1048576 bytes (the limit) in `replace("
        ),
        "{e}"
    );

    // A param given on the command line, a thousand times over.
    let big = "x".repeat(1 << 16);
    let src = format!(
        "param p\nread_text(\"a\").save(concat({}p))",
        "p, ".repeat(999)
    );
    let e = limited_error(src, &[("p", &big)], 2);
    assert_eq!((e.line, e.col), (2, 21));
    assert!(
        e.message
            .starts_with("`concat` would make a constant longer than"),
        "{e}"
    );

    // Searching a large constant many times: bounded work, not a hang.
    let needle = format!("{}b", "a".repeat(1 << 10));
    let src = format!(
        "param hay\nparam needle\nread_text(\"a\").map(concat({})).save(\"o\")",
        vec!["contains(hay, needle)"; 2000].join(", ")
    );
    let hay = "a".repeat(1 << 14);
    let e = limited_error(src, &[("hay", &hay), ("needle", &needle)], 2);
    assert!(
        e.message
            .starts_with("the constants of this job take too much work to compute"),
        "{e}"
    );
}

#[test]
fn a_value_computed_from_a_record_is_bounded_too() {
    let job = parse_ok(&format!(
        "read_text(\"a\").map({}$0{}).save(\"o\")",
        "replace(".repeat(9),
        ", \"a\", \"aaaaaaaaaa\")".repeat(9)
    ));
    let Op::Map { value, .. } = &job.datasets[1].op else {
        panic!()
    };
    let record = Record::line(b"a".to_vec());
    let ctx = RecordCtx {
        record: record.as_ref(),
        file: "",
        sep: None,
    };
    let e = value.eval(&ctx).unwrap_err();
    assert!(
        e.starts_with(
            "`replace` would make a value longer than 67108864 bytes (the limit) in `replace("
        ),
        "{}",
        &e[..100]
    );
}

/// Texts at the size limit shaped to hit slow paths (a run of blank lines,
/// thousands of params, a huge literal, an error on a huge line): each is
/// checked in well under a second, and an error shows a window of its line.
#[test]
fn texts_at_the_size_limit_are_checked_quickly() {
    let n = MAX_SOURCE_BYTES;
    let mut params = String::new();
    for i in 0..40_000 {
        params.push_str(&format!("param p{i} = \"{i}\"\n"));
    }
    params.push_str("read_text(p1).save(concat(p2, p39999))\n");
    let texts = [
        "\n".repeat(n),
        format!(
            "x = read_text(\"a\"){}.save(\"o\")",
            "\n  # c\n".repeat(n / 8)
        ),
        params,
        format!("read_text(\"{}\").save(\"o\")", "a".repeat(n - 30)),
        format!("read_text(\"{}\") @ .save(\"o\")", "a".repeat(n - 40)),
    ];
    for src in texts {
        assert!(src.len() <= n);
        let started = std::time::Instant::now();
        let result = Job::parse("big.job", &src, &BTreeMap::new());
        assert!(
            started.elapsed().as_secs() < 2,
            "took {:?}",
            started.elapsed()
        );
        if let Err(e) = result {
            assert!(e.to_string().len() < 500, "{}", &e.to_string()[..500]);
        }
    }
}

/// Mutated and random job texts: every outcome is a `Job` or a `JobError`;
/// nothing panics. Every job that parses is evaluated on random records.
#[test]
fn fuzz_parser_and_evaluator() {
    const SEEDS: &[&str] = &[
        include_str!("../../jobs/grep.job"),
        include_str!("../../jobs/pipe.job"),
        include_str!("../../jobs/wordcount.job"),
        include_str!("../../jobs/indexer.job"),
        include_str!("../../jobs/sort.job"),
        "param p = \"in.csv\"\nparam n = 2\nw = read_csv(p, \",\", true, splits=n).filter($2 > 3 or contains($0, \"x\"))\nw.map($1, substr($3, 1, 2)).reduce_by_key(concat(\";\"), n).sort_by_key().save(\"o\")\n",
        "a = read_text(\"x\").flat_map(split(lower($0), \",\"))\nb = a.map(trim($0), len($0) * 2 - 1)\nb.join(b.distinct(), 3).left_join(b.group_by_key()).union(b).save(\"o\")\n",
        "param n = 3\nread_text(\"x\").map($1, $2).reduce_by_key(sum, count, concat(\"|\"), partitions=n).save(\"o\")\n",
        "g = read_text(\"l\").map($1, $2).group_by_key()\ng.join(g.map($key, 1.0)).flat_map(split($2, \",\"), if($3 == \"\", 0, round(abs(float($3)) / len(split($2, \",\")), 3))).reduce_by_key(sum).save(\"o\")\n",
        "read_text(\"i\")\n  .map($(1) , -int($2) % 7 / 2.5)\n  .filter(not ($key != \"a\") && $value >= 0)\n  .map(concat(basename(input_file()), \"\\t\", split($0)[0]))\n  .save(\"out\")\n",
    ];
    const PIECES: &[&str] = &[
        "param",
        "=",
        "==",
        "(",
        ")",
        "[",
        "]",
        ",",
        ".",
        "$0",
        "$1",
        "$key",
        "$value",
        "$(",
        "\"s\"",
        "\"",
        "1",
        "2.5",
        "-",
        "+",
        "*",
        "/",
        "%",
        "<",
        ">=",
        "!",
        "and",
        "or",
        "not",
        "true",
        "\n",
        " ",
        "#",
        "read_text",
        "read_csv",
        "filter",
        "map",
        "flat_map",
        "pipe",
        "save",
        "reduce_by_key",
        "join",
        "union",
        "distinct",
        "sum",
        "count",
        "mean",
        "partitions",
        "concat",
        "split",
        "contains",
        "substr",
        "before",
        "after",
        "a",
        "b",
        "p",
        "\t",
        "é",
        "\\",
        "@",
        "0",
        "99999999999999999999",
    ];
    let given = BTreeMap::new();
    for seed in SEEDS {
        if let Err(e) = Job::parse("seed.job", seed, &given) {
            panic!("{e}");
        }
    }
    let mut rng = Rng::new(2024);
    let mut parsed = 0;
    for round in 0..6000 {
        let src = if round % 3 == 0 {
            (0..rng.below(40))
                .map(|_| PIECES[rng.below(PIECES.len() as u64) as usize])
                .collect::<String>()
        } else {
            let mut chars: Vec<char> = SEEDS[rng.below(SEEDS.len() as u64) as usize]
                .chars()
                .collect();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(chars.len() as u64 + 1) as usize;
                match rng.below(3) {
                    0 if at < chars.len() => {
                        chars.remove(at);
                    }
                    1 => {
                        let piece = PIECES[rng.below(PIECES.len() as u64) as usize];
                        for (i, c) in piece.chars().enumerate() {
                            chars.insert(at + i, c);
                        }
                    }
                    _ if at < chars.len() => {
                        chars[at] = PIECES[rng.below(PIECES.len() as u64) as usize]
                            .chars()
                            .next()
                            .unwrap_or(' ')
                    }
                    _ => {}
                }
            }
            chars.into_iter().collect()
        };
        let Ok(job) = Job::parse("fuzz.job", &src, &given) else {
            let e = Job::parse("fuzz.job", &src, &given).unwrap_err();
            let text = e.to_string();
            assert!(
                text.starts_with(&format!("fuzz.job:{}:{}: error: ", e.line, e.col)),
                "{text}"
            );
            continue;
        };
        parsed += 1;
        for (id, d) in job.datasets.iter().enumerate() {
            let sep = sep_of(&job, id);
            let exprs: Vec<&Expr> = match &d.op {
                Op::Filter { pred, .. } => vec![pred],
                Op::Map { key, value, .. } => key.iter().chain(std::iter::once(value)).collect(),
                Op::FlatMap { expr, value, .. } => std::iter::once(expr).chain(value).collect(),
                _ => vec![],
            };
            for expr in exprs {
                for _ in 0..5 {
                    let alphabet = b"a1 ,\t-x\xff.5";
                    let bytes: Vec<u8> = (0..rng.below(20))
                        .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                        .collect();
                    let record = if d.keyed || rng.below(2) == 0 {
                        Record::pair(bytes.clone(), bytes)
                    } else {
                        Record::line(bytes)
                    };
                    let ctx = RecordCtx {
                        record: record.as_ref(),
                        file: "f",
                        sep,
                    };
                    let _ = expr.eval(&ctx).map(|v| v.into_list());
                }
            }
        }
    }
    assert!(parsed > 300, "only {parsed} texts parsed");
}

/// `flat_map(keys, value)` makes pairs: PageRank's contributions.
#[test]
fn flat_map_with_a_value_makes_pairs() {
    let job = parse_ok(
        "links = read_text(\"l\").map($1, $2).distinct().group_by_key()\nranks = links.map($key, 1.0)\nlinks.join(ranks)\n  .flat_map(split($2, \",\"), float($3) / len(split($2, \",\")))\n  .reduce_by_key(sum).save(\"o\")\n",
    );
    assert_eq!(
        summary(&job),
        [
            "0 _=read_text() l None",
            "1 _=map(0) `$1` `$2` keyed",
            "2 _=distinct(1) None keyed",
            "3 links=group_by_key(2) None keyed",
            "4 ranks=map(3) `$key` `1.0` keyed",
            "5 _=join(3,4) None keyed",
            "6 _=flat_map(5) `split($2, \",\")` `float($3) / len(split($2, \",\"))` keyed",
            "7 _=reduce_by_key(6) Sum None keyed",
        ]
    );
    assert_eq!(sep_of(&job, 6), Some(PAIR_SEP));
    // The keys and the value are expressions over the input's records.
    let plain = parse_ok("read_text(\"x\").flat_map(split($0), 1).map($value, $key).save(\"o\")");
    assert!(plain.datasets[1].keyed && plain.datasets[2].keyed);
    let errors = [
        (
            "read_text(\"x\").flat_map(split($0), 1, 2).save(\"o\")",
            "t.job:1:16: error: `flat_map` takes 1 or 2 arguments, got 3 (usage: flat_map(list) or flat_map(keys, value))",
        ),
        (
            "read_text(\"x\").flat_map(split($0), $value).save(\"o\")",
            "t.job:1:36: error: `$value` needs a dataset of key-value pairs (made by `map(key, value)` or a by-key operator); this dataset has plain lines",
        ),
        (
            "read_text(\"x\").flat_map(split($0)).reduce_by_key(sum).save(\"o\")",
            "t.job:1:36: error: `reduce_by_key` needs key-value pairs, but its input has plain lines (make pairs with `map(key, value)`)",
        ),
    ];
    for (src, want) in errors {
        let e = Job::parse("t.job", src, &BTreeMap::new()).unwrap_err();
        let first = e.to_string();
        assert_eq!(first.lines().next(), Some(want), "{src}");
    }
}

const DOCS: &str = include_str!("../../docs/jobs.md");

/// Every complete job shown in docs/jobs.md parses.
#[test]
fn docs_examples_parse() {
    let mut checked = 0;
    for block in DOCS.split("```text\n").skip(1) {
        let code = block.split("```").next().unwrap_or("");
        if code.contains(".save(") && !code.contains("error:") {
            if let Err(e) = Job::parse("docs.job", code, &BTreeMap::new()) {
                panic!("{e}\n--- in:\n{code}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 14);
}

/// Every example in the function table of docs/jobs.md gives what it says.
#[test]
fn docs_function_examples_hold() {
    let record = Record::line(b"  Hello, World ".to_vec());
    let mut checked = 0;
    for row in DOCS
        .lines()
        .filter(|l| l.contains(" → ") && l.starts_with("| `"))
    {
        let example = row
            .rsplit(" | ")
            .next()
            .unwrap_or("")
            .trim_end_matches(" |");
        let Some((expr, want)) = example.split_once(" → ") else {
            continue;
        };
        if expr.contains("input_file") {
            continue;
        }
        let (expr, want) = (expr.trim_matches('`'), want.trim_matches('`'));
        let src = format!("read_text(\"x\").map({expr}).save(\"o\")");
        let job = Job::parse("docs.job", &src, &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
        let Op::Map { value, .. } = &job.datasets[1].op else {
            panic!("{src}")
        };
        let ctx = RecordCtx {
            record: record.as_ref(),
            file: "",
            sep: None,
        };
        assert_eq!(
            value.eval(&ctx).map(|v| v.describe()),
            Ok(want.to_string()),
            "{row}"
        );
        checked += 1;
    }
    assert_eq!(checked, 22);
}

// --- loops ---------------------------------------------------------------

const PAGERANK: &str = "param n = 3\n\
links = read_text(\"l\").map($1, $2).group_by_key().cache()\n\
ranks = links.map($key, 1.0)\n\
repeat n {\n\
  contribs = links.join(ranks).flat_map(split($2, \",\"), float($3) / len(split($2, \",\")))\n\
  ranks = contribs.reduce_by_key(sum).map($key, 0.15 + 0.85 * $value)\n\
}\n\
ranks.save(\"o\")\n";

#[test]
fn a_fixed_loop_unrolls_into_rounds_and_computes_what_does_not_change_once() {
    let job = parse_ok(PAGERANK);
    // Sources and the cached links once; join, flat_map, reduce, map per round.
    let per_round = |r: u32| {
        job.datasets
            .iter()
            .filter(|d| {
                d.round
                    == Some(Round {
                        repeat: 0,
                        round: r,
                    })
            })
            .count()
    };
    assert_eq!((per_round(1), per_round(2), per_round(3)), (4, 4, 4));
    assert_eq!(
        job.datasets
            .iter()
            .filter(|d| d.op.name() == "read_text")
            .count(),
        1
    );
    assert_eq!(
        job.datasets
            .iter()
            .filter(|d| d.op.name() == "cache")
            .count(),
        1
    );
    // The save reads the last round's ranks.
    let saved = &job.datasets[job.saves[0].dataset.unwrap()];
    assert_eq!(
        (saved.name.as_deref(), saved.round),
        (
            Some("ranks"),
            Some(Round {
                repeat: 0,
                round: 3
            })
        )
    );
    assert!(job.unrolled() && job.checks.is_empty());
    // No round: the save reads the ranks from before the loop.
    let zero = Job::parse("t.job", PAGERANK, &overrides(&[("n", "0")])).unwrap();
    assert_eq!(
        zero.datasets[zero.saves[0].dataset.unwrap()].op.name(),
        "map"
    );
    assert!(zero.datasets.iter().all(|d| d.round.is_none()));
    // The stages of each round say which round they are.
    let p = plan(&job, 2).unwrap();
    assert!(
        p.stages.iter().any(|s| s.ops.starts_with("round 3: ")),
        "{:?}",
        p.stages
    );
}

const CLOSURE: &str = "p = read_text(\"e\").map($1, $2).cache()\n\
r = p.map($2, $1)\n\
repeat until unchanged(p) max 4 {\n\
  p = p.union(p.join(r).map($3, $2)).distinct()\n\
}\n\
p.map($1).save(\"a\")\n\
r.save(\"b\")\n";

#[test]
fn a_loop_until_unchanged_unrolls_as_far_as_the_decisions_go() {
    let at = |decisions: &[(u32, bool)]| {
        let progress = Progress {
            decisions: decisions
                .iter()
                .map(|&(repeat, stop)| Decision { repeat, stop })
                .collect(),
        };
        Job::parse_at("t.job", CLOSURE, &BTreeMap::new(), &progress)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    // Before any decision: the save that does not read the loop, and the
    // check of round 0.
    let start = at(&[]);
    assert_eq!(
        (start.saves[0].dataset, start.saves[1].dataset.is_some()),
        (None, true)
    );
    assert_eq!(start.sinks, [Sink::Check(0), Sink::Save(1)]);
    assert!(!start.unrolled());
    let two = at(&[(0, false), (0, false)]);
    assert_eq!(
        two.checks.iter().map(|c| c.round).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(two.loops[0].rounds, 2);
    let done = at(&[(0, false), (0, false), (0, true)]);
    assert!(done.unrolled() && done.saves[0].dataset.is_some());
    // Each plan extends the one before it: the stages already run keep
    // their numbers.
    let plans: Vec<Plan> = [start, two, done]
        .iter()
        .map(|j| plan(j, 2).unwrap())
        .collect();
    for w in plans.windows(2) {
        assert_eq!(w[1].stages[..w[0].stages.len()], w[0].stages[..]);
        assert_eq!(w[1].shuffles[..w[0].shuffles.len()], w[0].shuffles[..]);
        assert!(w[1].stages.len() > w[0].stages.len());
    }
    assert!(plans[2].stages.last().unwrap().ops.ends_with("> save"));
    // A progress the job cannot have had is an error, not a panic.
    let bad = |d: &[(u32, bool)]| {
        let progress = Progress {
            decisions: d
                .iter()
                .map(|&(repeat, stop)| Decision { repeat, stop })
                .collect(),
        };
        Job::parse_at("t.job", CLOSURE, &BTreeMap::new(), &progress)
            .unwrap_err()
            .to_string()
    };
    assert!(bad(&[(3, false)]).contains("names no loop"));
    assert!(bad(&[(0, true)]).contains("before its first round"));
    assert!(bad(&[(0, false), (0, true), (0, false)]).contains("not running"));
    assert!(bad(&[(0, false); 5]).contains("more rounds than the loop's max"));
    assert_eq!(Progress::decode(&[0, 1, 4]).encode(), [0, 1, 4]);
}

#[test]
fn loop_errors_name_the_place() {
    let cases: &[(&str, &str)] = &[
        (
            "x = read_text(\"a\")\nrepeat 2 {\n  y = x.map($1)\n}\ny.save(\"o\")\n",
            "5:1: error: `y` is defined inside the `repeat` at line 2, and cannot be used outside it",
        ),
        (
            "repeat 2 {\n  x = read_text(\"a\")\n}\nx = read_text(\"b\")\nx.save(\"o\")\n",
            "4:1: error: `x` is assigned in the `repeat` at line 1, so it must be defined before that loop",
        ),
        (
            "x = read_text(\"a\")\nrepeat 2 {\n  x = y.map($1)\n  y = x.map($1)\n}\nx.save(\"o\")\n",
            "3:7: error: `y` is used before it is defined in this loop (at line 4)",
        ),
        (
            "x = read_text(\"a\")\nrepeat 2 {\n  x.save(\"o\")\n}\n",
            "3:5: error: `save` cannot be inside `repeat`",
        ),
        (
            "x = read_text(\"a\")\nrepeat 2 {\n  repeat 2 {\n  }\n}\nx.save(\"o\")\n",
            "3:3: error: a `repeat` cannot be inside another `repeat`",
        ),
        (
            "x = read_text(\"a\")\nrepeat until x {\n  x = x.map($1)\n}\nx.save(\"o\")\n",
            "2:14: error: the condition of `repeat until` must be `unchanged(DATASET)`",
        ),
        (
            "x = read_text(\"a\")\nrepeat until unchanged(y) {\n  x = x.map($1)\n  y = x.map($1)\n}\nx.save(\"o\")\n",
            "2:24: error: the condition of `repeat until` can use the datasets defined before the loop, and those it reassigns; `y` is only defined inside it",
        ),
        (
            "x = read_text(\"a\")\nrepeat \"two\" {\n  x = x.map($1)\n}\nx.save(\"o\")\n",
            "2:8: error: the round count of `repeat` must be a whole number from 0 up, got \"two\"",
        ),
        (
            "x = read_text(\"a\")\nrepeat until unchanged(x) max 0 {\n  x = x.map($1)\n}\nx.save(\"o\")\n",
            "2:31: error: the `max` of `repeat until` must be a whole number from 1 to 10000, got 0",
        ),
        (
            "x = read_text(\"a\")\nrepeat 2 {\n  x = x.map($1)\n  x = x.map($1)\n}\nx.save(\"o\")\n",
            "4:3: error: `x` is already assigned in this loop at line 3",
        ),
        (
            "x = read_text(\"a\")\nrepeat 2 {\n  x = x.map($1)\n",
            "2:10: error: this `{` is never closed",
        ),
        (
            "x = read_text(\"a\")\nrepeat 2 { x = x.map($1)\n}\nx.save(\"o\")\n",
            "2:12: error: expected the end of the line after `{`",
        ),
    ];
    for (src, want) in cases {
        let got = error_of(src, &[]);
        assert!(got.contains(want), "want {want:?}\n got {got}");
    }
    // `repeat`, `until` and `max` remain names elsewhere.
    parse_ok(
        "repeat = read_text(\"a\")\nmax = repeat.map($1, 1).reduce_by_key(max)\nmax.save(\"o\")\n",
    );
}

/// Each job shown in docs/pyspark.md is the job file of `jobs/` it stands
/// for (comments aside), and parses.
#[test]
fn the_pyspark_page_shows_the_jobs_as_they_are() {
    const PAGE: &str = include_str!("../../docs/pyspark.md");
    const JOBS: &[(&str, &str)] = &[
        ("wordcount", include_str!("../../jobs/wordcount.job")),
        ("sort_numbers", include_str!("../../jobs/sort_numbers.job")),
        ("pagerank", include_str!("../../jobs/pagerank.job")),
        (
            "transitive_closure",
            include_str!("../../jobs/transitive_closure.job"),
        ),
        ("top_words", include_str!("../../jobs/top_words.job")),
    ];
    let bare = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| l.split('#').next().unwrap_or("").trim_end().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    };
    let mut shown = Vec::new();
    for block in PAGE.split("```text\n").skip(1) {
        let code = block.split("```").next().unwrap_or("");
        parse_ok(code);
        let (name, _) = JOBS
            .iter()
            .find(|(_, job)| bare(job) == bare(code))
            .unwrap_or_else(|| panic!("no job in jobs/ is this block:\n{code}"));
        shown.push(*name);
    }
    assert_eq!(shown, JOBS.iter().map(|j| j.0).collect::<Vec<_>>());
}
