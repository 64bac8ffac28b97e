//! Jobs: the job language, from a `.job` file to a checked dataset graph.
//!
//! ```text
//! param input   = "data/words.txt"
//! lines   = read_text(input)
//! matches = lines.filter(contains($0, "error"))
//! matches.save("out/grep")
//! ```
//!
//! `Job::parse` runs the whole front end: `lexer` (text to tokens),
//! `parser` (tokens to statements), param binding (here), `loops` (each
//! `repeat` unrolled into rounds of plain statements, as far as the
//! master's decisions so far allow: `Job::parse_at`), `graph` (names to
//! numbered, checked datasets), with `operators` (what each source and
//! operator takes, and the dataset it makes) and `args` (arguments bound to
//! parameters, constant arguments computed), and `expr` (record
//! expressions). Every mistake is found before anything runs and reported
//! as a `JobError` with file, line, column and a caret. Parsing is
//! deterministic: the master and every worker parse the same text with the
//! same params (and progress) and get the same dataset ids. The language itself is
//! described for users in docs/jobs.md.
//!
//! Besides those: `error` is `JobError` and its caret; `value` the values
//! expressions compute and the conversions between them; `bytes` the
//! byte-string helpers of the per-record hot path; `csv` the fields of a
//! `read_csv` line (RFC 4180 quotes) and of its header; `plan` the planner, which
//! cuts the checked graph into stages at its shuffles and caches, one scan
//! for the consumers that can share it; `tests` the tests of the whole front
//! end.

mod args;
mod bytes;
mod csv;
mod error;
mod expr;
mod graph;
mod lexer;
mod loops;
mod operators;
mod parser;
mod plan;
mod value;

use std::collections::BTreeMap;
use std::path::Path;

/// The eight-bytes-a-step byte search, for the split reader's `"` watch.
pub(crate) use bytes::find_byte;
pub use bytes::{Sep, PAIR_SEP};
pub use csv::{check_quotes, find_columns, BadQuote, BadQuoteKind, ColumnError};
pub(crate) use error::span_at;
pub use error::JobError;
pub use expr::{BinOp, Expr, RecordCtx, UnOp};
pub use lexer::Span;
pub use loops::{Decision, Loop, Progress, DEFAULT_MAX_ROUNDS, MAX_ROUNDS};
pub use plan::{plan, Combine, Input, Output, Partitioner, Plan, ShufflePlan, StagePlan};
pub use value::Value;
/// The expression language's number and text rules, shared with `reduce_by_key`
/// so its results read and print like expression values.
pub(crate) use value::{format_float, parse_number, quote, Num};

/// Index of a dataset in `Job::datasets`.
pub type DatasetId = usize;

/// Largest job file accepted, in bytes (1 MiB). The master parses whatever
/// text a client sends, so the limit is checked here, by the parser itself,
/// and not only where a file is read.
pub const MAX_SOURCE_BYTES: usize = 1024 * 1024;

/// Most datasets one job may define, counting every step of a chain
/// (`read_text(p).filter(c).map(e)` is three).
pub const MAX_DATASETS: usize = graph::MAX_DATASETS;

/// Most `save` statements in one job.
pub const MAX_SAVES: usize = graph::MAX_SAVES;

/// Most aggregators in one `reduce_by_key`.
pub const MAX_AGGREGATORS: usize = graph::MAX_AGGREGATORS;

/// A parsed, checked job with its params bound.
#[derive(Debug, Clone)]
pub struct Job {
    /// The file name as given to `parse`.
    pub file: String,
    /// Every declared param with its final value (default or override).
    pub params: BTreeMap<String, String>,
    /// In topological order: a dataset's inputs have smaller ids. Only
    /// datasets some `save` or loop check needs are here, and of a
    /// `repeat until`, only the rounds `progress` has asked for.
    pub datasets: Vec<Dataset>,
    /// In file order.
    pub saves: Vec<Save>,
    /// The checks of the `repeat until` loops' conditions, one per round
    /// unrolled (and one before the first), in the order unrolled.
    pub checks: Vec<Check>,
    /// The saves and checks that have their datasets, in the order they
    /// got them: the order the planner plans them in.
    pub sinks: Vec<Sink>,
    /// Where in `sinks` each of the master's decisions begins: the sinks
    /// of one decision may share stages, never those of two.
    pub phases: Vec<usize>,
    /// Every `repeat`, in file order.
    pub loops: Vec<Loop>,
    /// The master's decisions so far about its `repeat until` loops.
    pub progress: Progress,
    /// Every source the job may read however far its loops go, each once:
    /// a source's splits are found by its place here (`source_no`), which
    /// does not change as the loops unroll.
    pub sources: Vec<Dataset>,
}

/// Where a job's records end up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// `saves[i]`.
    Save(usize),
    /// `checks[i]`.
    Check(usize),
}

/// The round of a loop a dataset is computed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Which `repeat` of the file, from 0.
    pub repeat: u32,
    /// From 1 (0: a check before the first round).
    pub round: u32,
}

/// A `repeat until unchanged(D)` check: the digest of `D` after a round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub repeat: u32,
    pub round: u32,
    pub dataset: DatasetId,
}

/// One dataset: an operator applied to its inputs.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The name it was given (`name = ...`); `None` for the inner steps of
    /// a chain like `read_text(p).filter(...)`.
    pub name: Option<String>,
    pub op: Op,
    /// Are its records key-value pairs? `$key`, `$value` and the by-key
    /// operators need this.
    pub keyed: bool,
    /// Where the source or operator is named in the file.
    pub span: Span,
    /// The round of a loop it is computed in; `None` outside loops, and for
    /// what a loop's body computes the same in every round.
    pub round: Option<Round>,
}

/// A `dataset.save(path)` statement.
#[derive(Debug, Clone)]
pub struct Save {
    /// `None` while it waits for a `repeat until` it reads to end.
    pub dataset: Option<DatasetId>,
    pub path: String,
    pub span: Span,
}

/// What computes a dataset. Constant arguments are already computed.
#[derive(Debug, Clone)]
pub enum Op {
    ReadText {
        path: String,
        splits: Option<u32>,
    },
    ReadCsv {
        path: String,
        /// What separates fields: one byte or several (`::`), never empty.
        sep: Vec<u8>,
        /// RFC 4180 quoted fields (on unless `quotes=false`).
        quotes: bool,
        header: bool,
        splits: Option<u32>,
        /// The header's columns that expressions name (`$age`), in the
        /// order first named; `$age` is found by its place in this list.
        columns: Vec<Column>,
    },
    Filter {
        input: DatasetId,
        pred: Expr,
    },
    /// `key: Some` makes key-value pairs; `None` makes plain lines.
    Map {
        input: DatasetId,
        key: Option<Expr>,
        value: Expr,
    },
    /// Each element of the list `expr` becomes a record (a non-list value
    /// is one element): a plain line, or with `value: Some`, the key of a
    /// pair whose value is `value`, computed once per input record.
    FlatMap {
        input: DatasetId,
        expr: Expr,
        value: Option<Expr>,
    },
    /// The command reads a split's lines on stdin; its stdout lines are
    /// the output.
    Pipe {
        input: DatasetId,
        command: String,
    },
    /// One aggregator, or several (their results joined by tabs), in the
    /// order written; never none.
    ReduceByKey {
        input: DatasetId,
        aggs: Vec<Aggregator>,
        partitions: Option<u32>,
    },
    GroupByKey {
        input: DatasetId,
        partitions: Option<u32>,
    },
    Join {
        left: DatasetId,
        right: DatasetId,
        partitions: Option<u32>,
    },
    LeftJoin {
        left: DatasetId,
        right: DatasetId,
        partitions: Option<u32>,
    },
    Distinct {
        input: DatasetId,
        partitions: Option<u32>,
    },
    /// By key (`order.numeric`: as numbers), then by value bytes; with
    /// `order.descending` the keys are reversed, not the ties.
    SortByKey {
        input: DatasetId,
        partitions: Option<u32>,
        order: SortOrder,
    },
    /// The records, unchanged, in the order of `expr`'s value (as text or,
    /// with `order.numeric`, as a number), ties by the record's bytes.
    SortBy {
        input: DatasetId,
        expr: Expr,
        order: SortOrder,
        partitions: Option<u32>,
    },
    /// The first `n` records in the input's order (part 0 first, then the
    /// position in the part), as one partition.
    Take {
        input: DatasetId,
        n: u64,
    },
    /// One plain line: the number of records of `input`, in decimal.
    Count {
        input: DatasetId,
    },
    Union {
        left: DatasetId,
        right: DatasetId,
    },
    /// `cache()` or `persist()`: the same records, kept on the workers that
    /// computed them, so that every later use reads them there.
    Cache {
        input: DatasetId,
    },
}

/// A column of a CSV header named in an expression (`$age`,
/// `$"first name"`). Which field it is depends on the header of the file a
/// record comes from, so it is found when a task opens its file (and
/// checked against every input file when the job is submitted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// Where it is first named, for the error when a header lacks it.
    pub span: Span,
}

/// The order of a sort: of keys (`sort_by_key`) or of an expression's
/// values (`sort_by`). The default is by bytes, ascending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SortOrder {
    /// Compare as numbers, read as expressions read them (`parse_number`),
    /// not as bytes (`numeric=true`).
    pub numeric: bool,
    /// Largest first (`descending=true`).
    pub descending: bool,
}

/// How `reduce_by_key` combines the values of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Aggregator {
    Sum,
    Count,
    Min,
    Max,
    Mean,
    First,
    /// Values joined by this separator.
    Concat(Vec<u8>),
}

impl Op {
    /// The datasets this one reads, left before right.
    pub fn inputs(&self) -> Vec<DatasetId> {
        match self {
            Op::ReadText { .. } | Op::ReadCsv { .. } => Vec::new(),
            Op::Filter { input, .. }
            | Op::Map { input, .. }
            | Op::FlatMap { input, .. }
            | Op::Pipe { input, .. }
            | Op::Cache { input }
            | Op::ReduceByKey { input, .. }
            | Op::GroupByKey { input, .. }
            | Op::Distinct { input, .. }
            | Op::SortByKey { input, .. }
            | Op::SortBy { input, .. }
            | Op::Take { input, .. }
            | Op::Count { input } => vec![*input],
            Op::Join { left, right, .. }
            | Op::LeftJoin { left, right, .. }
            | Op::Union { left, right } => vec![*left, *right],
        }
    }

    /// The name used in job files: "read_text", "filter", ...
    pub fn name(&self) -> &'static str {
        match self {
            Op::ReadText { .. } => "read_text",
            Op::ReadCsv { .. } => "read_csv",
            Op::Filter { .. } => "filter",
            Op::Map { .. } => "map",
            Op::FlatMap { .. } => "flat_map",
            Op::Pipe { .. } => "pipe",
            Op::ReduceByKey { .. } => "reduce_by_key",
            Op::GroupByKey { .. } => "group_by_key",
            Op::Join { .. } => "join",
            Op::LeftJoin { .. } => "left_join",
            Op::Distinct { .. } => "distinct",
            Op::SortByKey { .. } => "sort_by_key",
            Op::SortBy { .. } => "sort_by",
            Op::Take { .. } => "take",
            Op::Count { .. } => "count",
            Op::Union { .. } => "union",
            Op::Cache { .. } => "cache",
        }
    }

    /// Does computing it need a shuffle (records of one key brought
    /// together)? `union` does not.
    pub fn is_wide(&self) -> bool {
        matches!(
            self,
            Op::ReduceByKey { .. }
                | Op::GroupByKey { .. }
                | Op::Join { .. }
                | Op::LeftJoin { .. }
                | Op::Distinct { .. }
                | Op::SortByKey { .. }
                | Op::SortBy { .. }
                | Op::Take { .. }
                | Op::Count { .. }
        )
    }
}

impl Aggregator {
    /// The name used in job files.
    pub fn name(&self) -> &'static str {
        match self {
            Aggregator::Sum => "sum",
            Aggregator::Count => "count",
            Aggregator::Min => "min",
            Aggregator::Max => "max",
            Aggregator::Mean => "mean",
            Aggregator::First => "first",
            Aggregator::Concat(_) => "concat",
        }
    }
}

impl Job {
    /// Parses and checks `source` (the text of file `file`) and binds params:
    /// `overrides` are the `--param NAME=VALUE` given at submit time.
    ///
    /// # Errors
    /// The first mistake, with file, line and column: syntax, names, types,
    /// argument counts, cycles, a job without `save`, an override of an
    /// undeclared param, a required param not given, a limit exceeded (the
    /// size of the text, the number of datasets or saves, nesting).
    pub fn parse(
        file: &str,
        source: &str,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Job, JobError> {
        Job::parse_at(file, source, overrides, &Progress::default())
    }

    /// `parse`, with the job's `repeat until` loops unrolled as far as the
    /// master's decisions `progress` allow (see `loops.rs`). The datasets
    /// (and so the stages) of a progress are a prefix of those of any
    /// progress that extends it.
    ///
    /// # Errors
    /// As `parse`, and a progress that does not fit the job.
    pub fn parse_at(
        file: &str,
        source: &str,
        overrides: &BTreeMap<String, String>,
        progress: &Progress,
    ) -> Result<Job, JobError> {
        let locate = |e: JobError| e.locate(file, source);
        if source.len() > MAX_SOURCE_BYTES {
            return Err(locate(too_large(source)));
        }
        let tokens = lexer::tokenize(source).map_err(locate)?;
        let statements = parser::parse(source, &tokens).map_err(locate)?;
        let bound = bind(&statements, overrides).map_err(locate)?;
        let count =
            |syn: &parser::Syn, what: &str| args::const_rounds(source, &bound.values, syn, what);
        let build = |unrolled: &loops::Unrolled, check_all: bool| {
            graph::build(
                source,
                unrolled,
                &bound.values,
                &bound.declared_at,
                check_all,
            )
        };
        // The preview, every loop unrolled once, checks the whole job and
        // shows which loops each save and loop reads from.
        let preview =
            loops::unroll(&statements, &bound.values, progress, None, &count).map_err(locate)?;
        let whole = build(&preview, true).map_err(locate)?;
        let sources: Vec<Dataset> = whole
            .datasets
            .iter()
            .filter(|d| d.op.inputs().is_empty())
            .cloned()
            .collect();
        let (built, unrolled) = if preview.loops.iter().all(|l| l.until.is_none()) {
            (whole, preview)
        } else {
            let needs = needs(&whole, &preview.loops);
            let unrolled =
                loops::unroll(&statements, &bound.values, progress, Some(&needs), &count)
                    .map_err(locate)?;
            (build(&unrolled, false).map_err(locate)?, unrolled)
        };
        Ok(Job {
            file: file.to_string(),
            params: bound.values,
            datasets: built.datasets,
            saves: built.saves,
            checks: built.checks,
            sinks: built.sinks,
            phases: built.phases,
            loops: unrolled.loops,
            progress: progress.clone(),
            sources,
        })
    }

    /// The place of source dataset `id` in `sources`: how its splits are
    /// named. `None` for a dataset that is not a source.
    pub fn source_no(&self, id: DatasetId) -> Option<u32> {
        let d = self.datasets.get(id)?;
        self.sources
            .iter()
            .position(|s| s.span == d.span && d.op.inputs().is_empty())
            .map(|i| i as u32)
    }

    /// Have all its loops ended, so that every save has its dataset?
    pub fn unrolled(&self) -> bool {
        self.loops.iter().all(|l| l.ended)
    }

    /// Makes every relative read and save path relative to `base` (the
    /// client's working directory). Absolute paths are unchanged. A `base`
    /// that is not UTF-8 is converted lossily.
    pub fn resolve_paths(&mut self, base: &Path) {
        let fix = |path: &mut String| {
            if Path::new(path.as_str()).is_relative() {
                *path = base.join(path.as_str()).to_string_lossy().into_owned();
            }
        };
        for dataset in self.datasets.iter_mut().chain(self.sources.iter_mut()) {
            match &mut dataset.op {
                Op::ReadText { path, .. } | Op::ReadCsv { path, .. } => fix(path),
                _ => {}
            }
        }
        for save in &mut self.saves {
            fix(&mut save.path);
        }
    }

    /// The field separator of a dataset's records; see `sep_of`.
    pub fn sep(&self, id: DatasetId) -> Option<Sep<'_>> {
        sep_of(self, id)
    }
}

/// The field separator for `$1`, `$2`, ... in expressions over dataset `id`:
/// the `sep` of a `read_csv`, kept through any number of `filter`s; else a
/// tab for a keyed dataset, whose `$0` is `key<TAB>value` (so after a `join`,
/// `$1` is the key, `$2` the left value, `$3` the right one); else `None`
/// (runs of whitespace). `None` for an unknown id.
pub fn sep_of(job: &Job, id: DatasetId) -> Option<Sep<'_>> {
    if let Some(Op::ReadCsv { sep, quotes, .. }) =
        csv_source(&job.datasets, id).map(|s| &job.datasets[s].op)
    {
        return Some(Sep {
            bytes: sep,
            quotes: *quotes,
        });
    }
    job.datasets.get(id)?.keyed.then_some(PAIR_SEP)
}

/// The `read_csv` whose records dataset `id` holds, as they were read: the
/// dataset itself, or the input of any number of `filter`s.
fn csv_source(datasets: &[Dataset], id: DatasetId) -> Option<DatasetId> {
    let mut id = id;
    loop {
        match &datasets.get(id)?.op {
            Op::ReadCsv { .. } => return Some(id),
            // Inputs have smaller ids, so this ends.
            Op::Filter { input, .. } if *input < id => id = *input,
            _ => return None,
        }
    }
}

/// Which `repeat until` loops each save and each loop of the preview
/// `whole` reads the results of: the loops of the datasets it depends on.
fn needs(whole: &graph::Built, loops: &[Loop]) -> loops::Needs {
    let until = |r: Option<Round>| {
        r.filter(|r| {
            loops
                .get(r.repeat as usize)
                .is_some_and(|l| l.until.is_some())
        })
        .map(|r| r.repeat as usize)
    };
    // Inputs have smaller ids: one pass in id order.
    let mut reads: Vec<std::collections::BTreeSet<usize>> =
        Vec::with_capacity(whole.datasets.len());
    for d in &whole.datasets {
        let mut set: std::collections::BTreeSet<usize> = until(d.round).into_iter().collect();
        for input in d.op.inputs() {
            if let Some(r) = reads.get(input) {
                set.extend(r.iter().copied());
            }
        }
        reads.push(set);
    }
    let of = |id: Option<DatasetId>| id.and_then(|i| reads.get(i)).cloned().unwrap_or_default();
    let mut needs = loops::Needs {
        saves: whole.saves.iter().map(|s| of(s.dataset)).collect(),
        loops: vec![Default::default(); loops.len()],
    };
    for (d, set) in whole.datasets.iter().zip(&reads) {
        if let Some(r) = d.round {
            if let Some(n) = needs.loops.get_mut(r.repeat as usize) {
                n.extend(set.iter().copied());
            }
        }
    }
    for check in whole.checks.iter().filter(|c| c.round == 0) {
        if let Some(n) = needs.loops.get_mut(check.repeat as usize) {
            n.extend(of(Some(check.dataset)));
        }
    }
    for (l, n) in needs.loops.iter_mut().enumerate() {
        n.remove(&l);
    }
    needs
}

/// The error for a text over `MAX_SOURCE_BYTES`, at the character where it
/// crosses the limit.
fn too_large(source: &str) -> JobError {
    JobError::at(
        error::span_at(source, MAX_SOURCE_BYTES),
        format!(
            "the job file is {} bytes, over the limit of {MAX_SOURCE_BYTES} bytes (1 MiB); it crosses the limit here",
            source.len()
        ),
    )
}

/// The params of a job after binding.
struct BoundParams {
    /// Name to final value.
    values: BTreeMap<String, String>,
    /// Name to where it is declared.
    declared_at: BTreeMap<String, Span>,
}

/// Gives every declared param its value: the override, else the default.
///
/// # Errors
/// A param declared twice, an override of an undeclared param (at 1:1), a
/// param without default and without override (at its declaration).
fn bind(
    statements: &[parser::Stmt],
    overrides: &BTreeMap<String, String>,
) -> Result<BoundParams, JobError> {
    let mut declared: Vec<(&str, Span, Option<&String>)> = Vec::new();
    let mut lines: BTreeMap<String, Span> = BTreeMap::new();
    for stmt in statements {
        if let parser::Stmt::Param {
            name,
            span,
            default,
        } = stmt
        {
            if let Some(first) = lines.get(name) {
                return Err(JobError::at(
                    *span,
                    format!("param `{name}` is already declared at line {}", first.line),
                ));
            }
            lines.insert(name.clone(), *span);
            declared.push((name, *span, default.as_ref()));
        }
    }
    for name in overrides.keys() {
        if !lines.contains_key(name) {
            let names: Vec<&str> = declared.iter().map(|d| d.0).collect();
            let known = if names.is_empty() {
                "this job declares no params".to_string()
            } else {
                format!("this job declares: {}", names.join(", "))
            };
            return Err(JobError::at(
                Span { line: 1, col: 1 },
                format!(
                    "unknown param `{name}` given with --param{} ({known})",
                    error::did_you_mean(name, &names)
                ),
            ));
        }
    }
    let mut params = BTreeMap::new();
    for (name, span, default) in declared {
        let value = match (overrides.get(name), default) {
            (Some(v), _) | (None, Some(v)) => v.clone(),
            (None, None) => {
                return Err(JobError::at(
                    span,
                    format!("param `{name}` has no default and was not given; pass it with --param {name}=VALUE"),
                ))
            }
        };
        params.insert(name.to_string(), value);
    }
    Ok(BoundParams {
        values: params,
        declared_at: lines,
    })
}

/// The job file as it is written, before names are resolved and loops
/// unrolled: what `export/` translates statement by statement, after
/// `Job::parse` has checked it.
pub(crate) mod syntax {
    pub(crate) use super::lexer::Span;
    pub(crate) use super::operators::{bind_named, is_aggregator};
    pub(crate) use super::parser::{first_span, Arg, Rounds, Stmt, Syn, SynKind};
    use super::JobError;

    /// The statements of `source`, which `Job::parse` has accepted.
    ///
    /// # Errors
    /// The first syntax error (none, after `Job::parse`).
    pub(crate) fn statements(source: &str) -> Result<Vec<Stmt>, JobError> {
        let tokens = super::lexer::tokenize(source)?;
        super::parser::parse(source, &tokens)
    }
}

#[cfg(test)]
mod tests;
