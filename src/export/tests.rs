//! Tests of the export: the exact program each construct becomes, the
//! refusals (with file, line and column), and the runtime's meaning of
//! every function and operator checked against the job language's own
//! evaluator, record by record (with `python3`, which has no need of
//! pyspark for that).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use super::python::{self, Fields, Record, Scope};
use super::to_pyspark;
use crate::job::syntax::{statements, Stmt, SynKind};
use crate::job::{Job, Op, RecordCtx};
use crate::record::Record as Rec;

/// The whole program, and its part from `PARAMS` (or, when the job has no
/// params, from `def job`) to the runtime.
fn export_with(src: &str, params: &[(&str, &str)]) -> (String, String) {
    let params: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let program = to_pyspark("t.job", src, &params).unwrap_or_else(|e| panic!("{e}"));
    let start = program.find("PARAMS = {").expect("PARAMS");
    let end = program.find("\n\n# ------").expect("the runtime");
    let mut part = format!("{}\n", &program[start..end]);
    if part.starts_with("PARAMS = {}") {
        part = part[part.find("def job(args):").expect("job")..].to_string();
    }
    (program, part)
}

/// The error the export gives for `src`, as the client prints it.
fn refusal(src: &str) -> String {
    match to_pyspark("t.job", src, &BTreeMap::new()) {
        Ok(p) => panic!("exported:\n{p}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn narrow_operators_and_fields() {
    let src = r##"lines = read_text("in.txt")
lines.filter(contains($0, "x")).map($1, $(len(split($0)))).save("o1")
lines.flat_map(split($0, ",")).save("o2")
lines.flat_map(split($0), 1.0 / len(split($0))).map($key, $value).save("o3")
lines.map($2, $0).filter($key != "").map(concat($value, "|", $1, $2)).save("o4")
"##;
    let want = r##"def job(args):
    lines = read_text(b"in.txt")
    lines.filter(lambda r: contains(r, b"x")).map(lambda r: (field(r, 1), field(r, field_number(length(split(r)))))).save_text(b"o1")
    lines.flatMap(lambda r: split(r, b",")).save_text(b"o2")
    lines.flatMap(lambda r: pairs(split(r), lambda: div(1.0, length(split(r))))).map(lambda kv: (kv[0], kv[1])).save_text(b"o3")
    lines.map(lambda r: (field(r, 2), r)).filter(lambda kv: kv[0] != b"").map(lambda kv: concat(kv[1], b"|", pair_field(kv, 1), pair_field(kv, 2))).save_text(b"o4")

"##;
    assert_eq!(export_with(src, &[]).1, want);
}

#[test]
fn csv_sources_split_fields_as_read_csv_does() {
    let src = r##"param sep = ";"
read_csv("a.csv").map($2, $3).save("o1")
read_csv("b.dat", sep="::", splits=4).filter($3 != "").map($2).save("o2")
read_csv("c.csv", sep, false, quotes=false).map($1).save("o3")
people = read_csv("p.csv", header=true)
people.filter(int($age) >= 18).map($name, $"first name").save("o4")
"##;
    let want = r##"PARAMS = {
    "sep": ";",
}


def job(args):
    read_csv(b"a.csv").map(lambda r: (csv_field(r, 2, b","), csv_field(r, 3, b","))).save_text(b"o1")
    read_csv(b"b.dat", sep=b"::", splits=4).filter(lambda r: csv_field(r, 3, b"::") != b"").map(lambda r: csv_field(r, 2, b"::")).save_text(b"o2")
    read_csv(b"c.csv", sep=args.sep, header=False, quotes=False).map(lambda r: field_sep(r, 1, args.sep)).save_text(b"o3")
    people = read_csv(b"p.csv", header=True, columns=[b"age", b"name", b"first name"], with_file=True)
    people.filter(lambda fr: to_int(column(fr, b"age")) >= 18).map(lambda fr: (column(fr, b"name"), column(fr, b"first name"))).save_text(b"o4")

"##;
    assert_eq!(export_with(src, &[]).1, want);
}

#[test]
fn aggregators_and_partition_counts() {
    let src = r##"param parts = 4
pairs = read_text("in").map($1, $2)
pairs.reduce_by_key(sum).save("o1")
pairs.reduce_by_key(count, 8).save("o2")
pairs.reduce_by_key(sum, count, min, max, mean, first, concat(","), partitions=parts).save("o3")
pairs.reduce_by_key(mean, parts).save("o4")
"##;
    let want = r##"PARAMS = {
    "parts": "4",
}


def job(args):
    pairs_ = read_text(b"in").map(lambda r: (field(r, 1), field(r, 2)))
    pairs_.reduce_by_key(SUM).save_text(b"o1")
    pairs_.reduce_by_key(COUNT, numPartitions=8).save_text(b"o2")
    pairs_.reduce_by_key(SUM, COUNT, MIN, MAX, MEAN, FIRST, CONCAT(b","), numPartitions=count_arg(args.parts, "the partition count of `reduce_by_key`", least=1)).save_text(b"o3")
    pairs_.reduce_by_key(MEAN, numPartitions=count_arg(args.parts, "the partition count of `reduce_by_key`", least=1)).save_text(b"o4")

"##;
    assert_eq!(export_with(src, &[]).1, want);
}

#[test]
fn wide_operators() {
    let src = r##"a = read_text("a").map($1, $2)
b = read_text("b").map($1, $2)
a.group_by_key().save("o1")
a.join(b, 4).save("o2")
a.left_join(b).save("o3")
a.distinct(2).union(b.map($0)).save("o4")
a.union(b).cache().save("o5")
read_text("c").pipe("tr a-z A-Z").distinct().persist().save("o6")
"##;
    let want = r##"def job(args):
    a = read_text(b"a").map(lambda r: (field(r, 1), field(r, 2)))
    b = read_text(b"b").map(lambda r: (field(r, 1), field(r, 2)))
    a.groupByKey().mapValues(joined).save_text(b"o1")
    a.join(b, numPartitions=4).mapValues(tabbed).save_text(b"o2")
    a.leftOuterJoin(b).mapValues(tabbed).save_text(b"o3")
    a.distinct(numPartitions=2).map(line).union(b.map(lambda kv: line(kv))).save_text(b"o4")
    a.union(b).cache().save_text(b"o5")
    read_text(b"c").pipe_bytes(b"tr a-z A-Z").distinct().persist().save_text(b"o6")

"##;
    assert_eq!(export_with(src, &[]).1, want);
}

#[test]
fn sorts_take_and_count() {
    let src = r##"param desc = "true"
p = read_text("in").map($1, $2)
p.sort_by_key().save("o1")
p.sort_by_key(descending=true).save("o2")
p.sort_by_key(2, numeric=true, descending=true).take(3).save("o3")
p.sort_by($value, numeric=true).save("o4")
p.sort_by(lower($key), descending=desc, partitions=2).save("o5")
read_text("in").take(10).count().save("o6")
"##;
    let want = r##"PARAMS = {
    "desc": "true",
}


def job(args):
    p = read_text(b"in").map(lambda r: (field(r, 1), field(r, 2)))
    p.sortBy(lambda kv: kv).save_text(b"o1")
    p.sortBy(lambda kv: (text_order(kv[0], descending=True), kv[1])).save_text(b"o2")
    p.sortBy(lambda kv: (number_order(kv[0], descending=True), kv[0], kv[1]), numPartitions=2).take_rdd(3).save_text(b"o3")
    p.sortBy(lambda kv: (number_order(kv[1]), line(kv))).save_text(b"o4")
    p.sortBy(lambda kv: (text_order(lower(kv[0]), descending=flag_arg(args.desc, "the `descending` flag of `sort_by`")), line(kv)), numPartitions=2).save_text(b"o5")
    read_text(b"in").take_rdd(10).count_rdd().save_text(b"o6")

"##;
    assert_eq!(export_with(src, &[]).1, want);
}

#[test]
fn loops_are_python_for_loops() {
    let src = r##"param rounds = 3
links = read_text("l").map($1, $2).group_by_key().cache()
ranks = links.map($key, 1.0)
repeat rounds {
  contribs = links.join(ranks).flat_map(split($2, ","), float($3) / len(split($2, ",")))
  ranks = contribs.reduce_by_key(sum).map($key, 0.15 + 0.85 * $value)
}
ranks.save("o1")
paths = read_text("e").map($1, $2).distinct()
repeat until unchanged(paths.count()) max 50 {
  paths = paths.union(paths.join(paths.map($2, $1)).map($3, $2)).distinct()
}
repeat 2 {
  paths = paths.filter($1 != $2)
}
paths.save("o2")
"##;
    let want = r##"PARAMS = {
    "rounds": "3",
}


def job(args):
    links = read_text(b"l").map(lambda r: (field(r, 1), field(r, 2))).groupByKey().mapValues(joined).cache()
    ranks = links.map(lambda kv: (kv[0], b"1.0"))
    for _ in range(count_arg(args.rounds, "the round count of `repeat`", least=0, most=10000)):
        contribs = links.join(ranks).mapValues(tabbed).flatMap(lambda kv: pairs(split(pair_field(kv, 2), b","), lambda: div(to_float(pair_field(kv, 3)), length(split(pair_field(kv, 2), b",")))))
        ranks = contribs.reduce_by_key(SUM).map(lambda kv: (kv[0], text(0.15 + 0.85 * num(kv[1]))))
    ranks.save_text(b"o1")
    paths = read_text(b"e").map(lambda r: (field(r, 1), field(r, 2))).distinct()
    for _ in until_unchanged(lambda: paths.count_rdd(), max_rounds=50, line=10):
        paths = paths.union(paths.join(paths.map(lambda kv: (pair_field(kv, 2), pair_field(kv, 1)))).mapValues(tabbed).map(lambda kv: (pair_field(kv, 3), pair_field(kv, 2)))).distinct()
    for _ in range(2):
        paths = paths.filter(lambda kv: pair_field(kv, 1) != pair_field(kv, 2))
    paths.save_text(b"o2")

"##;
    assert_eq!(export_with(src, &[]).1, want);
}

#[test]
fn expressions_use_python_where_it_computes_the_same() {
    let src = r##"read_text("in")
  .map($1 == $2, int($1) < int($2))
  .map($1 + 1, 2.5 * $2 - 1)
  .map(-$1, -2.5)
  .map(7 / 2 % 3, 1.0 / 0.0)
  .map(not ($1 == "a") and true, $1 == "a" or split($0)[1])
  .map(if($1 == "", 0, int($1)), if(true, "a", 1))
  .map(str(2), str($1))
  .save("o")
"##;
    let want = r##"def job(args):
    (read_text(b"in")
        .map(lambda r: (text(field(r, 1) == field(r, 2)), text(to_int(field(r, 1)) < to_int(field(r, 2)))))
        .map(lambda kv: (text(add(pair_field(kv, 1), 1)), text(2.5 * num(pair_field(kv, 2)) - 1)))
        .map(lambda kv: (text(neg(pair_field(kv, 1))), b"-2.5"))
        .map(lambda kv: (text(rem(div(7, 2), 3)), text(div(1.0, 0.0))))
        .map(lambda kv: (text(not pair_field(kv, 1) == b"a" and True), text(pair_field(kv, 1) == b"a" or truth(item(split(line(kv)), 1)))))
        .map(lambda kv: (text(0 if pair_field(kv, 1) == b"" else to_int(pair_field(kv, 1))), text(b"a" if True else 1)))
        .map(lambda kv: (b"2", pair_field(kv, 1)))
        .save_text(b"o"))

"##;
    assert_eq!(export_with(src, &[]).1, want);
}

#[test]
fn functions_keep_their_names() {
    let src = r##"read_text("in")
  .map(concat(lower($1), upper($2), trim($3)), substr($0, 2, len($1)))
  .map(replace($0, "a", "b"), concat(before($0, "="), after($0, "=")))
  .map(starts_with($0, "x") and ends_with($0, "y"), abs(float($1)) + round($2, 1) + round(2.5))
  .map(basename("/a/b"), "quote\" tab\t \\")
  .save("o")
"##;
    let want = r##"def job(args):
    (read_text(b"in")
        .map(lambda r: (concat(lower(field(r, 1)), upper(field(r, 2)), trim(field(r, 3))), substr(r, 2, length(field(r, 1)))))
        .map(lambda kv: (replace(line(kv), b"a", b"b"), concat(before(line(kv), b"="), after(line(kv), b"="))))
        .map(lambda kv: (text(starts_with(line(kv), b"x") and ends_with(line(kv), b"y")), text(absolute(to_float(pair_field(kv, 1))) + rounded(pair_field(kv, 2), 1) + rounded(2.5))))
        .map(lambda kv: (basename(b"/a/b"), b"quote\" tab\t \\"))
        .save_text(b"o"))

"##;
    assert_eq!(export_with(src, &[]).1, want);
}

#[test]
fn input_file_travels_with_its_records() {
    let src = r##"read_text("dir").map(concat(basename(input_file()), ":", $0)).save("o1")
files = read_text("logs").filter(ends_with(input_file(), ".log"))
files.map($1, input_file()).save("o2")
files.union(read_text("x").map($0, "1").reduce_by_key(sum).map($0)).map(input_file()).save("o3")
files.save("o4")
"##;
    let want = r##"def job(args):
    read_text(b"dir", with_file=True).map(lambda fr: concat(basename(fr[0]), b":", fr[1])).save_text(b"o1")
    files = read_text(b"logs", with_file=True).filter(lambda fr: ends_with(fr[0], b".log"))
    files.map(lambda fr: (field(fr[1], 1), fr[0])).save_text(b"o2")
    files.union(read_text(b"x").map(lambda r: (r, b"1")).reduce_by_key(SUM).map(lambda kv: line(kv)).map(lambda r: (b"", r))).map(lambda fr: fr[0]).save_text(b"o3")
    files.values().save_text(b"o4")

"##;
    assert_eq!(export_with(src, &[]).1, want);
}

#[test]
fn definitions_move_before_their_first_use() {
    let src = r##"x = y.map($1, $2)      # y is defined below
y = read_text("in")
x.save("o")
"##;
    let want = r##"def job(args):
    y = read_text(b"in")
    x = y.map(lambda r: (field(r, 1), field(r, 2)))  # y is defined below
    x.save_text(b"o")

"##;
    assert_eq!(export_with(src, &[]).1, want);
}

#[test]
fn unused_definitions_are_not_computed() {
    let src = r##"a = read_text("in")
n = a.count()
a.save("o")
"##;
    let want = r##"def job(args):
    a = read_text(b"in")
    # Not computed: no save needs it.
    # n = a.count_rdd()
    a.save_text(b"o")

"##;
    assert_eq!(export_with(src, &[]).1, want);
}

#[test]
fn names_python_or_the_runtime_use_are_renamed() {
    let src = r##"param from = "in"
split = read_text(from)
text = split.map($0)
lambda = text.filter(true)
lambda.save("o")
"##;
    let want = r##"PARAMS = {
    "from": "in",
}


def job(args):
    split_ = read_text(getattr(args, "from"))
    text_ = split_.map(lambda r: r)
    lambda_ = text_.filter(lambda r: True)
    lambda_.save_text(b"o")

"##;
    assert_eq!(export_with(src, &[]).1, want);
}

#[test]
fn multi_line_chains_keep_their_lines_and_comments() {
    let src = r##"# A header comment.
param input = "in"   # where the text is
param n              # no default

# Count the words.
counts = read_text(input)
  .flat_map(split($0))        # words
  # one each
  .map($0, 1)
  .reduce_by_key(sum)
counts.sort_by($value, numeric=true, descending=true)
  .take(n)                    # the n most frequent
  .save("o")
# The end.
"##;
    let want = r##"PARAMS = {
    "input": "in",  # where the text is
    "n": "5",  # no default
}


def job(args):
    # Count the words.
    counts = (read_text(args.input)
        .flatMap(lambda r: split(r))  # words
        # one each
        .map(lambda r: (r, b"1"))
        .reduce_by_key(SUM))
    (counts.sortBy(lambda kv: (number_order(kv[1], descending=True), line(kv)))
        .take_rdd(count_arg(args.n, "the count of `take`", least=0, most=9223372036854775807))  # the n most frequent
        .save_text(b"o"))
    # The end.

"##;
    assert_eq!(export_with(src, &[("n", "5")]).1, want);
}

#[test]
fn the_program_starts_with_how_to_run_it_and_ends_by_running_the_job() {
    let (program, _) = export_with(
        "# Head.\nparam input = \"in\"\nread_text(input).save(\"o\")\n",
        &[],
    );
    assert!(program.starts_with("#!/usr/bin/env python3\n\"\"\"t.job, exported to PySpark"));
    assert!(program.contains("    python3 t.py [--param input=...] [--master URL] [--overwrite]\n"));
    assert!(
        program.contains("\"\"\"\n\n# Head.\n\n# The job's params"),
        "{program}"
    );
    assert!(
        program.ends_with("\n\nif __name__ == \"__main__\":\n    main(job, PARAMS, \"t.job\")\n")
    );
    assert!(program.contains(super::pyspark::PRELUDE_FIRST_LINE));
}

#[test]
fn params_given_to_the_export_become_the_defaults() {
    let src = "param input = \"in\"\nparam n\nread_text(input).take(n).save(\"o\")\n";
    let (_, part) = export_with(src, &[("n", "3"), ("input", "other")]);
    assert!(
        part.starts_with("PARAMS = {\n    \"input\": \"other\",\n    \"n\": \"3\",\n}\n"),
        "{part}"
    );
    // A param without a default must be given, as for a submission.
    let err = refusal(src);
    assert!(
        err.starts_with("t.job:2:7: error: param `n` has no default and was not given"),
        "{err}"
    );
}

/// Each construct that Spark could not compute exactly is refused, named,
/// at its line and column.
#[test]
fn what_cannot_be_exported_exactly_is_refused_at_its_place() {
    let cases = [
        (
            "read_text(\"a\").map($0, 1).reduce_by_key(sum).take(3).save(\"o\")\n",
            "t.job:1:46: error: `take` cannot be exported exactly: its input comes from `reduce_by_key` at line 1, in the order of Mini-Spark's hash partitions",
        ),
        (
            "x = read_text(\"a\").map($1, $2).join(read_text(\"b\").map($1, $2))\nx.reduce_by_key(first).save(\"o\")\n",
            "t.job:2:3: error: `reduce_by_key(first)` cannot be exported exactly: its input comes from `join` at line 1",
        ),
        (
            "read_text(\"a\").map($1, $2).distinct().map($0).take(2).save(\"o\")\n",
            "t.job:1:47: error: `take` cannot be exported exactly: its input comes from `distinct` at line 1",
        ),
        (
            "read_text(\"a\").pipe(\"cat\").take(2).save(\"o\")\n",
            "t.job:1:28: error: `take` cannot be exported exactly: its input comes from `pipe` at line 1, in the order the command prints them",
        ),
        (
            "read_text(\"a\").cache().map(input_file()).save(\"o\")\n",
            "t.job:1:28: error: `input_file()` over records read back from the `cache()` at line 1 cannot be exported exactly",
        ),
        (
            "x = read_text(\"a\")\nrepeat 2 {\n  x = x.map($1, $2)\n}\nx.save(\"o\")\n",
            "t.job:3:7: error: `x` holds plain lines before the loop and key-value pairs after a round",
        ),
    ];
    for (src, want) in cases {
        let got = refusal(src);
        assert!(got.starts_with(want), "{src}\nwant {want}\n got {got}");
        // The line itself, with a caret under the place.
        assert!(
            got.contains("\n    ") && got.trim_end().ends_with('^'),
            "{got}"
        );
    }
    // A sort first makes the order one both engines agree on.
    export_with(
        "read_text(\"a\").map($0, 1).reduce_by_key(sum).sort_by_key().take(3).save(\"o\")\n",
        &[],
    );
    export_with(
        "read_text(\"a\").map($1, $2).reduce_by_key(first).save(\"o\")\n",
        &[],
    );
}

/// A mistake in the job is the checker's error, as `submit` shows it.
#[test]
fn job_errors_are_those_of_the_checker() {
    let got = refusal("lines = read_text(\"a\")\nlines.filter(contain($0, \"x\")).save(\"o\")\n");
    assert!(
        got.starts_with("t.job:2:14: error: unknown function `contain` (did you mean `contains`?)"),
        "{got}"
    );
}

/// `python3`, if this machine has one.
fn python3() -> Option<&'static str> {
    let ok = Command::new("python3")
        .arg("-c")
        .arg("import sys; assert sys.version_info >= (3, 8)")
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some("python3")
}

/// What a record expression gives for each record: the job language's own
/// evaluator (Rust), and its translation run by the runtime (Python).
struct Differential {
    /// Python: a lambda's parameter, code, and the records as literals.
    cases: Vec<(String, String, Vec<String>)>,
    /// Rust: per case, per record, `OK hex` or `ERR`.
    want: Vec<Vec<String>>,
    shown: Vec<String>,
}

impl Differential {
    /// Adds the expression `expr` over the records of the job prefix
    /// `source` (`read_text("x")`, `read_text("x").map($1, $2)`, ...).
    fn add(&mut self, source: &str, expr: &str, lines: &[&[u8]]) {
        let src = format!("d = {source}\nd.map({expr}).save(\"o\")\n");
        let job = Job::parse("t.job", &src, &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
        let last = job.datasets.len() - 1;
        let Op::Map { input, value, .. } = &job.datasets[last].op else {
            panic!("{src}")
        };
        let input = *input;
        let keyed = job.datasets[input].keyed;
        // The records of `d`: lines, or the pairs its map makes of them.
        let records: Vec<Rec> = lines
            .iter()
            .map(|l| match &job.datasets[input].op {
                Op::Map {
                    key: Some(k),
                    value: v,
                    input: i,
                } => {
                    let ctx = RecordCtx {
                        record: crate::record::RecordRef::line(l),
                        file: "",
                        sep: job.sep(*i),
                    };
                    Rec::pair(
                        k.eval(&ctx).unwrap().into_bytes(),
                        v.eval(&ctx).unwrap().into_bytes(),
                    )
                }
                _ => Rec::line(l.to_vec()),
            })
            .collect();
        let want = records
            .iter()
            .map(|r| {
                let ctx = RecordCtx {
                    record: r.as_ref(),
                    file: "",
                    sep: job.sep(input),
                };
                match value.eval(&ctx) {
                    Ok(v) => format!("OK {}", hex(&v.into_bytes())),
                    Err(_) => "ERR".to_string(),
                }
            })
            .collect();
        // The same expression, translated.
        let statements = statements(&src).unwrap();
        let Stmt::Save { target, .. } = &statements[1] else {
            panic!()
        };
        let SynKind::Method { args, .. } = &target.kind else {
            panic!()
        };
        let fields = if source.starts_with("read_csv") {
            let quotes = if source.contains("quotes=false") {
                "False"
            } else {
                "True"
            };
            Fields::Csv {
                sep: "b\",\"".into(),
                quotes: quotes.into(),
            }
        } else if keyed {
            Fields::Tab
        } else {
            Fields::Space
        };
        let (var, record) = if keyed {
            ("kv", Record::Pair("kv".into()))
        } else {
            ("r", Record::Line("r".into()))
        };
        let scope = Scope {
            record: Some(record),
            fields,
            file: "b\"\"".into(),
            carried: None,
        };
        let code = python::expr(&args[0].value, &scope)
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
            .text();
        let literals = records
            .iter()
            .map(|r| match r.as_ref().key {
                Some(k) => format!(
                    "({}, {})",
                    python::bytes_literal(k),
                    python::bytes_literal(r.as_ref().value)
                ),
                None => python::bytes_literal(r.as_ref().value),
            })
            .collect();
        self.cases.push((var.to_string(), code, literals));
        self.want.push(want);
        self.shown.push(format!("{source} .map({expr})"));
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every function and operator, over records chosen to reach their edges
/// (64-bit limits, floats that print with an exponent, halves, bytes that
/// are not UTF-8, empty fields), computed by Rust's evaluator and by the
/// runtime: the same bytes, or both fail.
#[test]
fn the_runtime_computes_what_the_job_language_computes() {
    let Some(python) = python3() else {
        eprintln!("skipped: no python3 on this machine");
        return;
    };
    let lines: &[&[u8]] = &[
        b"7 2",
        b"-7 2",
        b"9223372036854775807 1",
        b"-9223372036854775808 -1",
        b"2.675 2",
        b"1e3 0",
        b"007 +5",
        b"abc def",
        b"",
        b"  a  b  ",
        b"\xff\xfe \xc3\xa9x",
        b"0 0",
        b"2.5 -2.5",
        b"1.5e300 1e-300",
        b"a/b/c/ x",
        b"x=y=z 1",
        b"inf nan",
        b"-0 5",
        b"12345678901234567890 3",
        b"0.1 0.2",
        b"-1.5 3",
        b"0.125 -2",
        b"1250 -2",
        b"\t\x0b\x0c x",
    ];
    let exprs = [
        "$1",
        "$3",
        "$0",
        "$(1 + 1)",
        "$(len(split($0)))",
        "$1 + $2",
        "$1 - $2",
        "$1 * $2",
        "$1 / $2",
        "$1 % $2",
        "-$1",
        "$1 + 0.5",
        "$1 * 1.5",
        "$1 / 2.0",
        "$1 % 2.5",
        "0.1 + 0.2",
        "1.0 / 3.0",
        "$1 > $2",
        "$1 > 9",
        "$1 == 1.0",
        "$1 < 9223372036854775807",
        "int($1) > int($2)",
        "$1 == $2",
        "$1 != \"a\"",
        "int($1)",
        "float($1)",
        "str($1 + 0.0)",
        "abs($1)",
        "round($1)",
        "round($1, 1)",
        "round($1, -1)",
        "round($1, $2)",
        "round(float($1) * 1.5, 2)",
        "len($0)",
        "len(split($0))",
        "substr($0, 2, 3)",
        "substr($0, int($2))",
        "substr($0, -1, 2)",
        "lower($0)",
        "upper($0)",
        "trim($0)",
        "contains($0, \"a\")",
        "starts_with($0, $1)",
        "ends_with($0, \"5\")",
        "concat($1, \"-\", $2, 7, 2.5)",
        "replace($0, \" \", \"_\")",
        "replace($0, \"\", \"x\")",
        "before($0, \" \")",
        "after($0, \" \")",
        "before($0, \"\")",
        "after($0, \"\")",
        "basename($1)",
        "split($0)",
        "split($0, \"a\")",
        "split($0)[1]",
        "split($0)[-1]",
        "split($0)[$2]",
        "if($1 == \"\", \"none\", $1)",
        "if(len($0) > 5, 1, 2.5) * 2",
        "not ($1 == \"a\") or $2 == \"b\"",
        "$1 == \"a\" and $2 + 1 > 2",
        "10000000000000000.0 * 1.0",
        "0.00001 * 1.0",
        "0.0001 * 1.0",
        "float($1) / 0.0",
        "0.0 / 0.0",
        "-0.0 * 1.0",
        "$1 / 0",
        "-$1 % $2",
        "1.0 * $1 - $1",
        "split($0)[0] or true",
        "abs(float($1))",
        "int(\"-3.9\")",
    ];
    let mut d = Differential {
        cases: Vec::new(),
        want: Vec::new(),
        shown: Vec::new(),
    };
    for e in exprs {
        d.add("read_text(\"x\")", e, lines);
    }
    for e in [
        "$key",
        "$value",
        "$1",
        "$2",
        "$3",
        "$0",
        "concat($value, $key)",
        "$value + 1",
        "len($0)",
    ] {
        d.add(
            "read_text(\"x\").map($1, concat($2, \"\\t\", $1))",
            e,
            lines,
        );
    }
    let csv: &[&[u8]] = &[
        b"a,b,c",
        b"\"x, y\",z",
        b"\"say \"\"hi\"\"\",q",
        b"1,,3",
        b"",
        b"a\"b,c",
    ];
    for e in ["$1", "$2", "$3", "$4", "$(2)"] {
        d.add("read_csv(\"x\")", e, csv);
        d.add("read_csv(\"x\", quotes=false)", e, csv);
    }
    let mut script = String::from("import sys\nexec(open(sys.argv[1]).read())\n");
    for (var, code, records) in &d.cases {
        script.push_str(&format!(
            "f = lambda {var}: {code}\nfor rec in [{}]:\n    try:\n        print('OK ' + f(rec).hex())\n    except JobFailed:\n        print('ERR')\n    except Exception as e:\n        print('BUG %r' % e)\n",
            records.join(", ")
        ));
    }
    let dir = std::env::temp_dir().join(format!("minispark-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let prelude = dir.join("prelude.py");
    std::fs::write(&prelude, super::pyspark::PRELUDE).unwrap();
    let mut child = Command::new(python)
        .arg("-")
        .arg(&prelude)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let got = String::from_utf8(out.stdout).unwrap();
    let mut got = got.lines();
    let mut wrong = Vec::new();
    for ((want, shown), (_, code, records)) in d.want.iter().zip(&d.shown).zip(&d.cases) {
        for (w, record) in want.iter().zip(records) {
            let g = got.next().unwrap_or("(nothing)");
            if g != w {
                wrong.push(format!(
                    "{shown} on {record}: Rust {w}, Python {g} (`{code}`)"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} differences:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Floats print as Mini-Spark prints them, and read back as it reads them,
/// over many floats of every size.
#[test]
fn the_runtime_prints_and_reads_numbers_as_the_job_language_does() {
    let Some(python) = python3() else {
        eprintln!("skipped: no python3 on this machine");
        return;
    };
    let mut rng = crate::rng::Rng::new(5);
    let mut floats: Vec<f64> = (0..3000)
        .map(|_| f64::from_bits(rng.next_u64()))
        .filter(|f| f.is_finite())
        .collect();
    floats.extend((0..3000).map(|_| (rng.unit() - 0.5) * 10f64.powi(rng.below(40) as i32 - 20)));
    floats.extend([
        // Exactly between two shortest decimals, ...255.062 and ...255.063.
        f64::from_bits(0x42b9_48bc_fc1a_cf10),
        0.0,
        -0.0,
        1e16,
        1e15,
        1e-4,
        1e-5,
        5e-324,
        f64::MAX,
        0.1 + 0.2,
        123456789012345680.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ]);
    let texts: Vec<String> = floats
        .iter()
        .map(|f| crate::job::format_float(*f))
        .collect();
    let numbers = [
        "42",
        " -7\t",
        "+3",
        "2.5",
        ".5",
        "5.",
        "1e3",
        "99999999999999999999",
        "",
        "abc",
        "1x",
        ".",
        "-",
        "1e",
        "inf",
        "NaN",
        "1 2",
        "1_000",
        "0x10",
        "9223372036854775808",
        "-9223372036854775808",
        "1e999",
    ];
    let mut script = String::from("import sys\nexec(open(sys.argv[1]).read())\nimport struct\n");
    script.push_str("for h in sys.stdin.read().split():\n    f = struct.unpack('>d', bytes.fromhex(h))[0]\n    print(format_float(f))\n");
    let dir = std::env::temp_dir().join(format!("minispark-export-n-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let prelude = dir.join("prelude.py");
    std::fs::write(&prelude, super::pyspark::PRELUDE).unwrap();
    let script_path = dir.join("floats.py");
    std::fs::write(&script_path, &script).unwrap();
    let mut child = Command::new(python)
        .arg(&script_path)
        .arg(&prelude)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let input: String = floats
        .iter()
        .map(|f| format!("{:016x}\n", f.to_bits()))
        .collect();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let got = String::from_utf8(out.stdout).unwrap();
    let got: Vec<&str> = got.lines().collect();
    assert_eq!(got.len(), texts.len());
    for (g, w) in got.iter().zip(&texts) {
        assert_eq!(g, w);
    }
    let parse = format!(
        "import sys\nexec(open(sys.argv[1]).read())\nfor s in {:?}:\n    n = parse_number(s.encode())\n    print('None' if n is None else ('int %d' % n if type(n) is int else 'float ' + format_float(n)))\n",
        numbers
    );
    std::fs::write(&script_path, parse).unwrap();
    let out = Command::new(python)
        .arg(&script_path)
        .arg(&prelude)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let got = String::from_utf8(out.stdout).unwrap();
    for (g, n) in got.lines().zip(numbers) {
        let want = match crate::job::parse_number(n.as_bytes()) {
            None => "None".to_string(),
            Some(crate::job::Num::Int(i)) => format!("int {i}"),
            Some(crate::job::Num::Float(f)) => format!("float {}", crate::job::format_float(f)),
        };
        assert_eq!(g, want, "{n:?}");
    }
    assert_eq!(got.lines().count(), numbers.len());
}

/// docs/moving-to-spark.md shows each job of `jobs/` next to the part of
/// its program that is the job, exactly as `client export` writes it.
#[test]
fn the_moving_to_spark_page_shows_each_job_with_its_program() {
    const PAGE: &str = include_str!("../../docs/moving-to-spark.md");
    const JOBS: &[(&str, &str)] = &[
        ("grep", include_str!("../../jobs/grep.job")),
        ("wordcount", include_str!("../../jobs/wordcount.job")),
        ("join", include_str!("../../jobs/join.job")),
        ("revenue", include_str!("../../jobs/revenue.job")),
        ("indexer", include_str!("../../jobs/indexer.job")),
        ("movielens", include_str!("../../jobs/movielens.job")),
        ("pipe", include_str!("../../jobs/pipe.job")),
        ("sort", include_str!("../../jobs/sort.job")),
        ("sort_numbers", include_str!("../../jobs/sort_numbers.job")),
        ("top_words", include_str!("../../jobs/top_words.job")),
        ("pagerank", include_str!("../../jobs/pagerank.job")),
        (
            "transitive_closure",
            include_str!("../../jobs/transitive_closure.job"),
        ),
    ];
    let mut at = 0;
    for (name, job) in JOBS {
        let file = format!("jobs/{name}.job");
        let program = to_pyspark(&file, job, &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
        let start = program.find("PARAMS = {").unwrap();
        let end = program.find("\n\n# ------").unwrap();
        let heading = format!("\n## `{file}`: ");
        let here = PAGE[at..]
            .find(&heading)
            .unwrap_or_else(|| panic!("the page has no section {heading:?} after the last"));
        at += here + heading.len();
        let section = &PAGE[at..PAGE[at..].find("\n## ").map_or(PAGE.len(), |e| at + e)];
        assert!(
            section.contains(&format!("```text\n{job}```\n")),
            "the page's {file} is not the file"
        );
        let shown = format!("```python\n{}\n```\n", &program[start..end]);
        assert!(
            section.contains(&shown),
            "the page's program of {file} is not what the export writes:\n{shown}"
        );
    }
    // Every job of jobs/ is on the page.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/jobs");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".job").map(String::from))
        .collect();
    on_disk.sort();
    let mut shown: Vec<String> = JOBS.iter().map(|(n, _)| n.to_string()).collect();
    shown.sort();
    assert_eq!(on_disk, shown, "a job of jobs/ is missing from the page");
}
