//! The dataset graph: statements to checked, numbered datasets and saves.
//!
//! Names are resolved after parsing, so datasets may be defined in any
//! order. Resolution is a depth-first walk from each `save` (in file order):
//! a dataset gets its id only after all its inputs have theirs, so ids are a
//! topological order, and the same source always gives the same ids.
//! Datasets no save needs are still checked, then dropped: nothing computes
//! them. A name met again while it is still being resolved is a cycle.
//!
//! Each operator's arguments are bound to its parameter list (positional,
//! or `name=value`) and checked by kind: record expressions are compiled
//! against the input dataset; constant arguments (paths, commands,
//! separators, counts) are computed here, once.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};

use super::error::{did_you_mean, JobError};
use super::expr::{self, compile, Context, Scope, Ty};
use super::lexer::Span;
use super::parser::{first_span, Arg, Stmt, Syn, SynKind};
use super::value::{parse_number, Num, Value};
use super::loops::{Step, Unrolled};
use super::{Aggregator, Check, Dataset, DatasetId, Op, Round, Save, Sink, SortOrder};
use crate::record::RecordRef;

/// Deepest chain of datasets one dataset may depend on, counting each
/// source or operator and each name on the way: `d2 = d1.filter(c)` is two
/// levels, `filter` and `d1`. Each level is a few frames of recursion.
pub(crate) const MAX_CHAIN: usize = 128;

/// Most datasets in one job, counting every step of a chain and the
/// datasets no save needs (they are checked too).
pub(crate) const MAX_DATASETS: usize = 1000;

/// Most `save` statements in one job.
pub(crate) const MAX_SAVES: usize = 100;

/// Most aggregators in one `reduce_by_key` (a partial result counts them
/// in one byte, `storage/aggregate/partial.rs`).
pub(crate) const MAX_AGGREGATORS: usize = 16;

/// An operator's or source's parameter list.
struct Sig {
    name: &'static str,
    params: &'static [&'static str],
    required: usize,
    /// May arguments be given as `name=value`?
    keywords: bool,
    usage: &'static str,
}

const fn sig(
    name: &'static str,
    params: &'static [&'static str],
    required: usize,
    keywords: bool,
    usage: &'static str,
) -> Sig {
    Sig {
        name,
        params,
        required,
        keywords,
        usage,
    }
}

#[rustfmt::skip]
const SOURCES: &[Sig] = &[
    sig("read_text", &["path", "splits"], 1, true, "read_text(path) or read_text(path, splits=N)"),
    sig("read_csv", &["path", "sep", "header", "splits", "quotes"], 1, true, "read_csv(path, sep, header, splits=N, quotes=false)"),
];

#[rustfmt::skip]
const OPERATORS: &[Sig] = &[
    sig("filter", &["condition"], 1, false, "filter(condition)"),
    sig("map", &["key", "value"], 1, false, "map(value) or map(key, value)"),
    sig("flat_map", &["list", "value"], 1, false, "flat_map(list) or flat_map(keys, value)"),
    sig("pipe", &["command"], 1, true, "pipe(command)"),
    sig("reduce_by_key", &["aggregator", "partitions"], 1, true, "reduce_by_key(agg, ...), reduce_by_key(agg, ..., partitions=N) or reduce_by_key(agg, partitions)"),
    sig("group_by_key", &["partitions"], 0, true, "group_by_key() or group_by_key(partitions)"),
    sig("join", &["other", "partitions"], 1, true, "join(other) or join(other, partitions)"),
    sig("left_join", &["other", "partitions"], 1, true, "left_join(other) or left_join(other, partitions)"),
    sig("distinct", &["partitions"], 0, true, "distinct() or distinct(partitions)"),
    sig("sort_by_key", &["partitions", "numeric", "descending"], 0, true, "sort_by_key(), sort_by_key(partitions) or sort_by_key(partitions, numeric=true, descending=true)"),
    sig("sort_by", &["expr", "numeric", "descending", "partitions"], 1, true, "sort_by(expr) or sort_by(expr, numeric=true, descending=true, partitions=N)"),
    sig("take", &["n"], 1, false, "take(n)"),
    sig("count", &[], 0, false, "count()"),
    sig("union", &["other"], 1, false, "union(other)"),
    sig("cache", &[], 0, false, "cache()"),
    sig("persist", &[], 0, false, "persist()"),
];

const SAVE: Sig = sig("save", &["path"], 1, true, "save(path)");

const AGGREGATORS: &[&str] = &["sum", "count", "min", "max", "mean", "first", "concat"];

/// Most datasets once loops are unrolled (each round's count too).
pub(crate) const MAX_UNROLLED: usize = 200_000;

/// The dataset graph of a job: its datasets, and where its saves and its
/// loops' checks read from.
pub(crate) struct Built {
    pub datasets: Vec<Dataset>,
    pub saves: Vec<Save>,
    pub checks: Vec<Check>,
    /// The saves and checks in the order they were resolved.
    pub sinks: Vec<Sink>,
    /// Where in `sinks` each decision of the progress begins.
    pub phases: Vec<usize>,
}

/// Builds the checked dataset graph of a parsed job whose params are bound
/// and whose loops are unrolled (`loops.rs`), resolving `unrolled.steps` in
/// order. With `check_all`, the datasets no step needs are checked too.
///
/// # Errors
/// Redefinitions, undefined names, cycles, unknown sources and operators,
/// bad arguments, a job without `save`, two saves to one path, more than
/// `MAX_DATASETS` datasets or `MAX_SAVES` saves, a chain longer than
/// `MAX_CHAIN`.
pub(crate) fn build(
    source: &str,
    unrolled: &Unrolled,
    params: &BTreeMap<String, String>,
    param_lines: &BTreeMap<String, Span>,
    check_all: bool,
) -> Result<Built, JobError> {
    let statements = &unrolled.statements;
    let mut defs: BTreeMap<&str, (Span, &Syn)> = BTreeMap::new();
    for stmt in statements {
        let Stmt::Define { name, span, value } = stmt else {
            continue;
        };
        if let Some((first, _)) = defs.get(name.as_str()) {
            return Err(JobError::at(
                *span,
                format!("dataset `{name}` is already defined at line {}", first.line),
            ));
        }
        if let Some(first) = param_lines.get(name) {
            return Err(JobError::at(
                *span,
                format!("`{name}` is already a param (line {})", first.line),
            ));
        }
        defs.insert(name, (*span, value));
    }
    let names: Vec<&str> = defs
        .keys()
        .copied()
        .filter(|n| !n.contains('@'))
        .collect();
    let mut graph = Graph {
        source,
        params,
        defs,
        names: &names,
        rounds: &unrolled.rounds,
        round: None,
        made: HashMap::new(),
        written: 0,
        state: BTreeMap::new(),
        stack: Vec::new(),
        depth: 0,
        datasets: Vec::new(),
        work: Cell::new(0),
    };

    let mut targets: Vec<&Syn> = Vec::new();
    let mut saves: Vec<Save> = Vec::new();
    // Path to the line of the save that writes it.
    let mut saved_at: BTreeMap<String, u32> = BTreeMap::new();
    for stmt in statements {
        let Stmt::Save { target, args, span } = stmt else {
            continue;
        };
        if saves.len() == MAX_SAVES {
            return Err(JobError::at(
                *span,
                format!("too many saves: a job may have at most {MAX_SAVES}"),
            ));
        }
        let slots = bind_args(&SAVE, args, *span)?;
        let path = graph.const_str(slots[0], "the path of `save`")?;
        if let Some(line) = saved_at.get(&path) {
            return Err(JobError::at(
                *span,
                format!("`{path}` is already saved to at line {line}"),
            ));
        }
        saved_at.insert(path.clone(), span.line);
        targets.push(target);
        saves.push(Save {
            dataset: None,
            path,
            span: *span,
        });
    }
    if saves.is_empty() {
        return Err(JobError::at(
            Span { line: 1, col: 1 },
            "this job saves nothing: add a statement like `NAME.save(path)`",
        ));
    }

    let mut checks = Vec::new();
    let mut sinks = Vec::new();
    let mut phases = Vec::new();
    for step in &unrolled.steps {
        match step {
            Step::Decision => phases.push(sinks.len()),
            Step::Name(name) => {
                let span = graph.defs.get(name.as_str()).map_or(Span { line: 1, col: 1 }, |d| d.0);
                graph.resolve(name, span)?;
            }
            Step::Save(i) => {
                let id = graph.dataset(targets[*i])?;
                saves[*i].dataset = Some(id);
                sinks.push(Sink::Save(*i));
            }
            Step::Check {
                repeat,
                round,
                target,
            } => {
                graph.round = Some(Round {
                    repeat: *repeat as u32,
                    round: *round,
                });
                let dataset = graph.dataset(target)?;
                graph.round = None;
                sinks.push(Sink::Check(checks.len()));
                checks.push(Check {
                    repeat: *repeat as u32,
                    round: *round,
                    dataset,
                });
            }
        }
    }
    if !check_all {
        return Ok(Built {
            datasets: graph.datasets,
            saves,
            checks,
            sinks,
            phases,
        });
    }

    // Check the datasets no save needs, then drop them, and the header
    // columns only they name (named last, so the others keep their places).
    let needed = graph.datasets.len();
    let named = |d: &Dataset| match &d.op {
        Op::ReadCsv { columns, .. } => columns.len(),
        _ => 0,
    };
    let named_by_needed: Vec<usize> = graph.datasets.iter().map(named).collect();
    for stmt in statements {
        if let Stmt::Define { name, span, .. } = stmt {
            graph.resolve(name, *span)?;
        }
    }
    graph.datasets.truncate(needed);
    for (dataset, n) in graph.datasets.iter_mut().zip(named_by_needed) {
        if let Op::ReadCsv { columns, .. } = &mut dataset.op {
            columns.truncate(n);
        }
    }
    Ok(Built {
        datasets: graph.datasets,
        saves,
        checks,
        sinks,
        phases,
    })
}

/// Computes a loop's round count or `max` (`loops.rs` asks, before the
/// graph exists): a constant whole number from 0 up.
pub(crate) fn const_rounds(
    source: &str,
    params: &BTreeMap<String, String>,
    syn: &Syn,
    what: &str,
) -> Result<u32, JobError> {
    let defs = BTreeMap::new();
    let rounds = BTreeMap::new();
    let graph = Graph {
        source,
        params,
        defs,
        names: &[],
        rounds: &rounds,
        round: None,
        made: HashMap::new(),
        written: 0,
        state: BTreeMap::new(),
        stack: Vec::new(),
        depth: 0,
        datasets: Vec::new(),
        work: Cell::new(0),
    };
    let value = graph.constant(syn, what)?;
    let n = match &value {
        Value::Int(n) => Some(*n),
        Value::Str(s) => match parse_number(s) {
            Some(Num::Int(n)) => Some(n),
            _ => None,
        },
        _ => None,
    };
    n.and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
        JobError::at(
            first_span(syn),
            format!("{what} must be a whole number from 0 up, got {}", value.describe()),
        )
    })
}

enum State {
    /// Being resolved: meeting it again is a cycle.
    Busy,
    Done(DatasetId),
}

struct Graph<'s> {
    source: &'s str,
    params: &'s BTreeMap<String, String>,
    defs: BTreeMap<&'s str, (Span, &'s Syn)>,
    /// The names as written, for "did you mean".
    names: &'s [&'s str],
    /// The names of loop rounds (`ranks@0.3`): the name as written, loop
    /// and round.
    rounds: &'s BTreeMap<String, (String, usize, u32)>,
    /// The round the datasets being made belong to, if any.
    round: Option<Round>,
    /// Each dataset by where its source or operator is written and what it
    /// reads: a round's statement that reads nothing that changes from
    /// round to round makes the same dataset every round, and is computed
    /// once.
    made: HashMap<(Span, Vec<DatasetId>), DatasetId>,
    /// Datasets counted against `MAX_DATASETS`.
    written: usize,
    state: BTreeMap<&'s str, State>,
    /// Names being resolved, outermost first (to show a cycle).
    stack: Vec<&'s str>,
    /// Nested `dataset` calls (sources, operators and names, each the input
    /// of the one before), bounded by `MAX_CHAIN`.
    depth: usize,
    datasets: Vec<Dataset>,
    /// Work spent computing constants, over the whole job.
    work: Cell<u64>,
}

impl<'s> Graph<'s> {
    /// The id of the dataset named `name`; `at` is where it is referred to.
    fn resolve(&mut self, name: &'s str, at: Span) -> Result<DatasetId, JobError> {
        match self.state.get(name) {
            Some(State::Done(id)) => return Ok(*id),
            Some(State::Busy) => {
                let from = self.stack.iter().position(|n| *n == name).unwrap_or(0);
                let mut path: Vec<&str> = self.stack[from..].to_vec();
                path.push(name);
                return Err(JobError::at(
                    at,
                    format!("dataset `{name}` depends on itself: {}", path.join(" -> ")),
                ));
            }
            None => {}
        }
        let Some(&(_, syn)) = self.defs.get(name) else {
            let message = if self.params.contains_key(name) {
                format!("`{name}` is a param, not a dataset")
            } else {
                format!(
                    "undefined dataset `{name}`{}",
                    did_you_mean(name, self.names)
                )
            };
            return Err(JobError::at(at, message));
        };
        self.state.insert(name, State::Busy);
        self.stack.push(name);
        let before = self.datasets.len();
        let (written, round) = match self.rounds.get(name) {
            Some((written, repeat, round)) => (
                written.as_str(),
                Some(Round {
                    repeat: *repeat as u32,
                    round: *round,
                }),
            ),
            None => (name, None),
        };
        let outer = std::mem::replace(&mut self.round, round);
        let id = self.dataset(syn);
        self.round = outer;
        let id = id?;
        self.stack.pop();
        if id >= before && self.datasets[id].name.is_none() {
            self.datasets[id].name = Some(written.to_string());
        }
        self.state.insert(name, State::Done(id));
        Ok(id)
    }

    /// The id of the dataset `syn` denotes, creating datasets as needed.
    fn dataset(&mut self, syn: &'s Syn) -> Result<DatasetId, JobError> {
        if self.depth >= MAX_CHAIN {
            return Err(JobError::at(
                syn.span,
                format!(
                    "datasets nested too deeply (a chain of more than {MAX_CHAIN} datasets and names)"
                ),
            ));
        }
        self.depth += 1;
        let result = match &syn.kind {
            SynKind::Name(name) => self.resolve(name, syn.span),
            SynKind::Call { name, args } => self.source_call(syn, name, args),
            SynKind::Method { recv, name, args } => self.operator(syn, recv, name, args),
            _ => Err(JobError::at(
                first_span(syn),
                "expected a dataset: a source such as `read_text(path)`, a dataset name, or `dataset.operator(...)`",
            )),
        };
        self.depth -= 1;
        result
    }

    /// Adds a dataset; `span` is where its source or operator is named.
    fn push(&mut self, op: Op, keyed: bool, span: Span) -> Result<DatasetId, JobError> {
        let key = (span, op.inputs());
        if let Some(&id) = self.made.get(&key) {
            // The same in two rounds: it belongs to no round.
            if self.datasets[id].round != self.round {
                self.datasets[id].round = None;
            }
            return Ok(id);
        }
        // The limit is on what the file says: the first round of a loop
        // counts, the others are the same statements again.
        let written = self.round.is_none_or(|r| r.round <= 1);
        if written && self.written >= MAX_DATASETS {
            return Err(JobError::at(
                span,
                format!(
                    "too many datasets: a job may have at most {MAX_DATASETS} (each step of a chain counts)"
                ),
            ));
        }
        if self.datasets.len() >= MAX_UNROLLED {
            return Err(JobError::at(
                span,
                format!(
                    "too many datasets once the loops are unrolled: at most {MAX_UNROLLED} (rounds times the datasets of a round)"
                ),
            ));
        }
        self.datasets.push(Dataset {
            name: None,
            op,
            keyed,
            span,
            round: self.round,
        });
        let id = self.datasets.len() - 1;
        self.made.insert(key, id);
        self.written += usize::from(written);
        Ok(id)
    }

    fn source_call(
        &mut self,
        syn: &'s Syn,
        name: &str,
        args: &'s [Arg],
    ) -> Result<DatasetId, JobError> {
        let Some(sig) = SOURCES.iter().find(|s| s.name == name) else {
            let message = if OPERATORS.iter().any(|o| o.name == name) {
                format!("`{name}` is an operator: apply it to a dataset, e.g. `lines.{name}(...)`")
            } else if expr::function_names().contains(&name) {
                format!("`{name}` is a function, not a dataset; use it inside an operator, e.g. `lines.filter({name}(...))`")
            } else {
                let sources: Vec<&str> = SOURCES.iter().map(|s| s.name).collect();
                format!("unknown source `{name}`{}", did_you_mean(name, &sources))
            };
            return Err(JobError::at(syn.span, message));
        };
        let slots = bind_args(sig, args, syn.span)?;
        let what = |arg: &str| format!("the {arg} of `{name}`");
        let path = self.const_str(slots[0], &what("path"))?;
        let op = if name == "read_text" {
            let splits = self.opt_count(slots[1], &what("split count"))?;
            Op::ReadText { path, splits }
        } else {
            let header = match slots[2] {
                Some(s) => self.const_bool(s, &what("`header` flag"))?,
                None => false,
            };
            let splits = self.opt_count(slots[3], &what("split count"))?;
            let quotes = match slots[4] {
                Some(s) => self.const_bool(s, &what("`quotes` flag"))?,
                None => true,
            };
            let sep = match slots[1] {
                Some(s) => self.const_sep(s, &what("separator"), quotes)?,
                None => b",".to_vec(),
            };
            Op::ReadCsv {
                path,
                sep,
                quotes,
                header,
                splits,
                columns: Vec::new(),
            }
        };
        self.push(op, false, syn.span)
    }

    fn operator(
        &mut self,
        syn: &'s Syn,
        recv: &'s Syn,
        name: &str,
        args: &'s [Arg],
    ) -> Result<DatasetId, JobError> {
        let Some(sig) = OPERATORS.iter().find(|o| o.name == name) else {
            let message = if name == "save" {
                "`save` makes no dataset; write `dataset.save(path)` as a statement of its own"
                    .to_string()
            } else if expr::function_names().contains(&name) {
                format!("`{name}` is a function, not an operator; use it inside one, e.g. `.filter({name}(...))`")
            } else if SOURCES.iter().any(|s| s.name == name) {
                format!("`{name}` is a source; use it on its own, e.g. `lines = {name}(path)`")
            } else {
                let ops: Vec<&str> = OPERATORS.iter().map(|o| o.name).collect();
                format!("unknown operator `{name}`{}", did_you_mean(name, &ops))
            };
            return Err(JobError::at(syn.span, message));
        };
        let input = self.dataset(recv)?;
        if name == "reduce_by_key" {
            // A list of aggregators: bound by `reduce_args`, not `bind_args`.
            self.need_keyed(input, name, syn.span)?;
            let (aggs, partitions) = self.reduce_args(sig, args, syn.span)?;
            let op = Op::ReduceByKey {
                input,
                aggs,
                partitions,
            };
            return self.push(op, true, syn.span);
        }
        if name.starts_with("sort_by") {
            no_ascending(name, args)?;
        }
        let slots = bind_args(sig, args, syn.span)?;
        let keyed = self.datasets[input].keyed;
        let partitions =
            |g: &Self, i: usize| g.opt_count(slots[i], &format!("the partition count of `{name}`"));
        let (op, keyed) = match name {
            "filter" => {
                let pred_syn = slots[0].unwrap_or(syn);
                let (pred, ty) = self.record_expr(pred_syn, input)?;
                if !matches!(ty, Ty::Bool | Ty::Any) {
                    return Err(JobError::at(
                        first_span(pred_syn),
                        format!(
                            "the condition of `filter` must be true or false, but this is {}",
                            ty.article()
                        ),
                    ));
                }
                (Op::Filter { input, pred }, keyed)
            }
            "map" => {
                let (key, value) = match (slots[0], slots[1]) {
                    (Some(k), Some(v)) => (Some(self.record_expr(k, input)?.0), v),
                    (Some(v), None) | (None, Some(v)) => (None, v),
                    (None, None) => (None, syn),
                };
                let value = self.record_expr(value, input)?.0;
                let made_pairs = key.is_some();
                (Op::Map { input, key, value }, made_pairs)
            }
            "flat_map" => {
                let expr = self.record_expr(slots[0].unwrap_or(syn), input)?.0;
                let value = match slots[1] {
                    Some(v) => Some(self.record_expr(v, input)?.0),
                    None => None,
                };
                let made_pairs = value.is_some();
                (Op::FlatMap { input, expr, value }, made_pairs)
            }
            "pipe" => {
                let command = self.const_str(slots[0], "the command of `pipe`")?;
                (Op::Pipe { input, command }, false)
            }
            "group_by_key" => {
                self.need_keyed(input, name, syn.span)?;
                (
                    Op::GroupByKey {
                        input,
                        partitions: partitions(self, 0)?,
                    },
                    true,
                )
            }
            "join" | "left_join" => {
                self.need_keyed(input, name, syn.span)?;
                let other_syn = slots[0].unwrap_or(syn);
                let right = self.dataset(other_syn)?;
                self.need_keyed(right, name, first_span(other_syn))?;
                let partitions = partitions(self, 1)?;
                let left = input;
                let op = if name == "join" {
                    Op::Join {
                        left,
                        right,
                        partitions,
                    }
                } else {
                    Op::LeftJoin {
                        left,
                        right,
                        partitions,
                    }
                };
                (op, true)
            }
            "distinct" => (
                Op::Distinct {
                    input,
                    partitions: partitions(self, 0)?,
                },
                keyed,
            ),
            "sort_by_key" => {
                self.need_keyed(input, name, syn.span)?;
                named_after(sig, args, 1)?;
                let order = self.sort_order(name, slots[1], slots[2])?;
                let partitions = partitions(self, 0)?;
                let op = Op::SortByKey {
                    input,
                    partitions,
                    order,
                };
                (op, true)
            }
            // Caching a cached dataset keeps it once.
            "cache" | "persist" if matches!(self.datasets[input].op, Op::Cache { .. }) => {
                return Ok(input)
            }
            "cache" | "persist" => (Op::Cache { input }, keyed),
            "sort_by" => {
                named_after(sig, args, 1)?;
                let order = self.sort_order(name, slots[1], slots[2])?;
                let expr_syn = slots[0].unwrap_or(syn);
                let (expr, ty) = self.record_expr(expr_syn, input)?;
                if order.numeric && matches!(ty, Ty::Bool | Ty::List) {
                    return Err(JobError::at(
                        first_span(expr_syn),
                        format!(
                            "`sort_by(numeric=true)` sorts by a number, but this is {}",
                            ty.article()
                        ),
                    ));
                }
                let partitions = partitions(self, 3)?;
                let op = Op::SortBy {
                    input,
                    expr,
                    order,
                    partitions,
                };
                (op, keyed)
            }
            "take" => {
                let n = self.const_whole(slots[0], "the count of `take`")?;
                (Op::Take { input, n }, keyed)
            }
            "count" => (Op::Count { input }, false),
            _ => {
                let right = self.dataset(slots[0].unwrap_or(syn))?;
                let both = keyed && self.datasets[right].keyed;
                (Op::Union { left: input, right }, both)
            }
        };
        self.push(op, keyed, syn.span)
    }

    fn need_keyed(&self, id: DatasetId, op: &str, at: Span) -> Result<(), JobError> {
        if self.datasets[id].keyed {
            return Ok(());
        }
        let which = match &self.datasets[id].name {
            Some(n) => format!("`{n}`"),
            None => "its input".to_string(),
        };
        Err(JobError::at(
            at,
            format!("`{op}` needs key-value pairs, but {which} has plain lines (make pairs with `map(key, value)`)"),
        ))
    }

    /// The arguments of `reduce_by_key`: one or more aggregators in order,
    /// then optionally the partition count, named (`partitions=N`) or as a
    /// last positional argument that is not an aggregator (so that
    /// `reduce_by_key(sum, 8)` and `reduce_by_key(sum, parts)` keep their
    /// meaning). `aggregator=A` names a single aggregator.
    fn reduce_args(
        &self,
        sig: &Sig,
        args: &'s [Arg],
        at: Span,
    ) -> Result<(Vec<Aggregator>, Option<u32>), JobError> {
        let usage = sig.usage;
        let mut aggs: Vec<&Syn> = Vec::new();
        let mut named_agg: Option<&Syn> = None;
        let mut named_parts: Option<&Syn> = None;
        for arg in args {
            let Some((key, span)) = &arg.name else {
                if named_agg.is_some() || named_parts.is_some() {
                    return Err(JobError::at(
                        first_span(&arg.value),
                        format!("a positional argument cannot follow a named one (usage: {usage})"),
                    ));
                }
                aggs.push(&arg.value);
                continue;
            };
            let slot = match key.as_str() {
                "aggregator" => &mut named_agg,
                "partitions" => &mut named_parts,
                _ => {
                    return Err(JobError::at(
                        *span,
                        format!(
                            "`reduce_by_key` has no argument named `{key}`{} (usage: {usage})",
                            did_you_mean(key, sig.params)
                        ),
                    ))
                }
            };
            if slot.is_some() || (key == "aggregator" && !aggs.is_empty()) {
                return Err(JobError::at(
                    *span,
                    format!("argument `{key}` of `reduce_by_key` is given twice"),
                ));
            }
            *slot = Some(&arg.value);
        }
        let mut partitions = named_parts;
        if let [_, .., last] = aggs[..] {
            if !self.is_aggregator(last, aggs.len() == 2)? {
                if partitions.is_some() {
                    return Err(JobError::at(
                        first_span(last),
                        "the partition count of `reduce_by_key` is given twice: here and as `partitions=`",
                    ));
                }
                partitions = aggs.pop();
            }
        }
        aggs.extend(named_agg);
        if aggs.is_empty() {
            return Err(JobError::at(
                at,
                format!("`reduce_by_key` needs at least one aggregator (usage: {usage})"),
            ));
        }
        if let Some(extra) = aggs.get(MAX_AGGREGATORS) {
            return Err(JobError::at(
                first_span(extra),
                format!("too many aggregators: `reduce_by_key` takes at most {MAX_AGGREGATORS}"),
            ));
        }
        let aggs = aggs
            .into_iter()
            .map(|syn| self.aggregator(syn))
            .collect::<Result<_, _>>()?;
        let partitions = self.opt_count(partitions, "the partition count of `reduce_by_key`")?;
        Ok((aggs, partitions))
    }

    /// Is this argument of `reduce_by_key`, after the first, an aggregator
    /// (else the partition count)? Aggregator names are, and so is a name
    /// that is neither an aggregator nor a param (a misspelt aggregator).
    /// `pair` is the two-argument form, where before several aggregators
    /// could be given a param named like an aggregator was the partition
    /// count: that is an error now rather than a silent change of meaning.
    fn is_aggregator(&self, syn: &Syn, pair: bool) -> Result<bool, JobError> {
        Ok(match &syn.kind {
            SynKind::Call { name, .. } => name == "concat",
            SynKind::Name(name) if AGGREGATORS.contains(&name.as_str()) => {
                if pair && self.params.contains_key(name) {
                    return Err(JobError::at(
                        syn.span,
                        format!("`{name}` is both an aggregator and a param here: write `partitions={name}` for the partition count, or rename the param"),
                    ));
                }
                true
            }
            SynKind::Name(name) => !self.params.contains_key(name),
            _ => false,
        })
    }

    fn aggregator(&self, syn: &Syn) -> Result<Aggregator, JobError> {
        let unknown = |name: &str| {
            JobError::at(
                syn.span,
                format!(
                    "unknown aggregator `{name}`{} (one of sum, count, min, max, mean, first, concat(SEP))",
                    did_you_mean(name, AGGREGATORS)
                ),
            )
        };
        match &syn.kind {
            SynKind::Name(name) => match name.as_str() {
                "sum" => Ok(Aggregator::Sum),
                "count" => Ok(Aggregator::Count),
                "min" => Ok(Aggregator::Min),
                "max" => Ok(Aggregator::Max),
                "mean" => Ok(Aggregator::Mean),
                "first" => Ok(Aggregator::First),
                "concat" => Err(JobError::at(
                    syn.span,
                    "`concat` needs a separator, e.g. `concat(\",\")`",
                )),
                other => Err(unknown(other)),
            },
            SynKind::Call { name, args } if name == "concat" => {
                let sig = sig("concat", &["sep"], 1, false, "concat(SEP)");
                let slots = bind_args(&sig, args, syn.span)?;
                let sep = self.const_str(slots[0], "the separator of `concat`")?;
                Ok(Aggregator::Concat(sep.into_bytes()))
            }
            SynKind::Call { name, .. } => Err(unknown(name)),
            _ => Err(JobError::at(
                first_span(syn),
                "expected an aggregator: sum, count, min, max, mean, first or concat(SEP)",
            )),
        }
    }

    /// Compiles an expression over the records of dataset `input`. Over a
    /// `read_csv` with a header (or a `filter` of one), `$name` may name its
    /// columns, which are added to that `read_csv`'s list.
    fn record_expr(&mut self, syn: &Syn, input: DatasetId) -> Result<(super::Expr, Ty), JobError> {
        let keyed = self.datasets[input].keyed;
        let header = super::csv_source(&self.datasets, input)
            .filter(|&s| matches!(self.datasets[s].op, Op::ReadCsv { header: true, .. }));
        let columns = RefCell::new(match header.map(|s| &mut self.datasets[s].op) {
            Some(Op::ReadCsv { columns, .. }) => std::mem::take(columns),
            _ => Vec::new(),
        });
        let cx = Context {
            source: self.source,
            params: self.params,
            datasets: self.names,
            scope: Scope::Record { keyed },
            work: &self.work,
            columns: header.map(|_| &columns),
        };
        let compiled = compile(syn, &cx);
        if let Some(Op::ReadCsv { columns: kept, .. }) = header.map(|s| &mut self.datasets[s].op) {
            *kept = columns.into_inner();
        }
        compiled
    }

    /// Computes a constant argument; `what` names it in errors.
    fn constant(&self, syn: &Syn, what: &str) -> Result<Value, JobError> {
        let cx = Context {
            source: self.source,
            params: self.params,
            datasets: self.names,
            scope: Scope::Const { what },
            work: &self.work,
            columns: None,
        };
        let (expr, _) = compile(syn, &cx)?;
        if let Some(v) = expr.constant() {
            return Ok(v.clone());
        }
        let ctx = super::RecordCtx {
            record: RecordRef::line(&[]),
            file: "",
            sep: None,
        };
        expr.eval(&ctx).map_err(|m| JobError::at(syn.span, m))
    }

    /// A required constant string (`slot` is `None` only if `bind_args`
    /// let a required argument through, which it does not).
    fn const_str(&self, slot: Option<&Syn>, what: &str) -> Result<String, JobError> {
        let Some(syn) = slot else {
            return Err(JobError::at(
                Span { line: 1, col: 1 },
                format!("{what} is missing"),
            ));
        };
        match self.constant(syn, what)? {
            Value::Str(bytes) => String::from_utf8(bytes)
                .map_err(|_| JobError::at(first_span(syn), format!("{what} is not valid UTF-8"))),
            other => Err(JobError::at(
                first_span(syn),
                format!("{what} must be a string, got {}", other.describe()),
            )),
        }
    }

    /// A field separator: one byte or several, not empty, no newline (a
    /// record is one line, so it could never occur), and no `"` while
    /// `quotes` are on (a quote could not both open a field and separate).
    fn const_sep(&self, syn: &Syn, what: &str, quotes: bool) -> Result<Vec<u8>, JobError> {
        let text = self.const_str(Some(syn), what)?;
        let refuse = |why: &str| Err(JobError::at(first_span(syn), format!("{what} {why}")));
        if text.is_empty() {
            return refuse("must not be empty");
        }
        if text.contains('\n') {
            return refuse("cannot contain a newline: a record is one line");
        }
        if quotes && text.contains('"') {
            return refuse("cannot contain `\"` while quotes are read (give quotes=false)");
        }
        Ok(text.into_bytes())
    }

    /// `true`/`false`, or a string saying so (params are strings).
    fn const_bool(&self, syn: &Syn, what: &str) -> Result<bool, JobError> {
        match self.constant(syn, what)? {
            Value::Bool(b) => Ok(b),
            Value::Str(s) if s == b"true" => Ok(true),
            Value::Str(s) if s == b"false" => Ok(false),
            other => Err(JobError::at(
                first_span(syn),
                format!("{what} must be true or false, got {}", other.describe()),
            )),
        }
    }

    /// The order of `sort_by_key` or `sort_by`, from its `numeric` and
    /// `descending` flags (both false by default).
    fn sort_order(
        &self,
        op: &str,
        numeric: Option<&Syn>,
        descending: Option<&Syn>,
    ) -> Result<SortOrder, JobError> {
        let flag = |slot: Option<&Syn>, what: &str| match slot {
            Some(s) => self.const_bool(s, &format!("the `{what}` flag of `{op}`")),
            None => Ok(false),
        };
        Ok(SortOrder {
            numeric: flag(numeric, "numeric")?,
            descending: flag(descending, "descending")?,
        })
    }

    /// A required count that may be 0 (`take`'s): a whole number up to
    /// the largest 64-bit integer.
    fn const_whole(&self, slot: Option<&Syn>, what: &str) -> Result<u64, JobError> {
        let Some(syn) = slot else {
            return Err(JobError::at(
                Span { line: 1, col: 1 },
                format!("{what} is missing"),
            ));
        };
        let value = self.constant(syn, what)?;
        let n = match &value {
            Value::Int(n) => Some(*n),
            Value::Str(s) => match parse_number(s) {
                Some(Num::Int(n)) => Some(n),
                _ => None,
            },
            _ => None,
        };
        match n.and_then(|n| u64::try_from(n).ok()) {
            Some(n) => Ok(n),
            None => Err(JobError::at(
                first_span(syn),
                format!(
                    "{what} must be a whole number from 0 to {}, got {}",
                    i64::MAX,
                    value.describe()
                ),
            )),
        }
    }

    /// An optional count (partitions, splits): a whole number from 1 up.
    fn opt_count(&self, slot: Option<&Syn>, what: &str) -> Result<Option<u32>, JobError> {
        let Some(syn) = slot else {
            return Ok(None);
        };
        let value = self.constant(syn, what)?;
        let n = match &value {
            Value::Int(n) => Some(*n),
            Value::Str(s) => match parse_number(s) {
                Some(Num::Int(n)) => Some(n),
                _ => None,
            },
            _ => None,
        };
        match n.and_then(|n| u32::try_from(n).ok()).filter(|n| *n >= 1) {
            Some(n) => Ok(Some(n)),
            None => Err(JobError::at(
                first_span(syn),
                format!(
                    "{what} must be a whole number from 1 to {}, got {}",
                    u32::MAX,
                    value.describe()
                ),
            )),
        }
    }
}

/// Spark's sorts take `ascending=False`; here it is `descending=true`.
fn no_ascending(op: &str, args: &[Arg]) -> Result<(), JobError> {
    match args.iter().find_map(|a| a.name.as_ref().filter(|(n, _)| n == "ascending")) {
        Some((_, span)) => Err(JobError::at(
            *span,
            format!("`{op}` has no argument named `ascending`: write `descending=true` for the reverse order (Spark's `ascending=False`)"),
        )),
        None => Ok(()),
    }
}

/// Refuses a positional argument past the first `positional` of `sig`'s
/// parameters: those (flags such as `numeric`) must be given by name, so
/// that `sort_by_key(4, true)` cannot be read two ways.
fn named_after(sig: &Sig, args: &[Arg], positional: usize) -> Result<(), JobError> {
    let given = args.iter().take_while(|a| a.name.is_none()).count();
    if given <= positional {
        return Ok(());
    }
    let first: Vec<String> = sig
        .params
        .iter()
        .take(positional)
        .map(|p| format!("`{p}`"))
        .collect();
    let param = sig.params.get(positional).copied().unwrap_or("argument");
    Err(JobError::at(
        first_span(&args[positional].value),
        format!(
            "only the {} of `{}` may be given by position; name the others, e.g. `{param}=...` (usage: {})",
            first.join(", "),
            sig.name,
            sig.usage
        ),
    ))
}

/// Matches `args` to `sig`'s parameters: positional ones in order, then
/// `name=value` ones by name. Every required parameter must be given.
fn bind_args<'a>(sig: &Sig, args: &'a [Arg], at: Span) -> Result<Vec<Option<&'a Syn>>, JobError> {
    let name = sig.name;
    let count_error = || {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let (min, max) = (sig.required, sig.params.len());
        let expected = if min == max {
            format!("{min} argument{}", plural(min))
        } else if max == min + 1 {
            format!("{min} or {max} arguments")
        } else {
            format!("{min} to {max} arguments")
        };
        JobError::at(
            at,
            format!(
                "`{name}` takes {expected}, got {} (usage: {})",
                args.len(),
                sig.usage
            ),
        )
    };
    let mut slots: Vec<Option<&Syn>> = vec![None; sig.params.len()];
    let mut next = 0;
    let mut seen_named = false;
    for arg in args {
        match &arg.name {
            None => {
                if seen_named {
                    return Err(JobError::at(
                        first_span(&arg.value),
                        format!(
                            "a positional argument cannot follow a named one (usage: {})",
                            sig.usage
                        ),
                    ));
                }
                if next >= slots.len() {
                    return Err(count_error());
                }
                slots[next] = Some(&arg.value);
                next += 1;
            }
            Some((key, span)) => {
                if !sig.keywords {
                    return Err(JobError::at(
                        *span,
                        format!("`{name}` takes no named arguments (usage: {})", sig.usage),
                    ));
                }
                let Some(i) = sig.params.iter().position(|p| p == key) else {
                    return Err(JobError::at(
                        *span,
                        format!(
                            "`{name}` has no argument named `{key}`{} (usage: {})",
                            did_you_mean(key, sig.params),
                            sig.usage
                        ),
                    ));
                };
                if slots[i].is_some() {
                    return Err(JobError::at(
                        *span,
                        format!("argument `{key}` of `{name}` is given twice"),
                    ));
                }
                slots[i] = Some(&arg.value);
                seen_named = true;
            }
        }
    }
    if let Some(missing) = (0..sig.required).find(|i| slots[*i].is_none()) {
        if args.iter().all(|a| a.name.is_none()) {
            return Err(count_error());
        }
        return Err(JobError::at(
            at,
            format!(
                "`{name}` is missing its `{}` argument (usage: {})",
                sig.params[missing], sig.usage
            ),
        ));
    }
    Ok(slots)
}
