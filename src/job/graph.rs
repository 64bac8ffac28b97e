//! The dataset graph: statements to checked, numbered datasets and saves.
//!
//! Names are resolved after parsing, so datasets may be defined in any
//! order. Resolution is a depth-first walk from each `save` (in file order):
//! a dataset gets its id only after all its inputs have theirs, so ids are a
//! topological order, and the same source always gives the same ids.
//! Datasets no save needs are still checked, then dropped: nothing computes
//! them. A name met again while it is still being resolved is a cycle. A
//! round's statement that reads nothing that changes from round to round
//! makes one dataset, not one per round (`push`).
//!
//! What each source and operator takes, and the dataset it makes, is
//! `operators.rs`; how arguments are bound to parameters and constant
//! arguments computed is `args.rs`. Both add `impl Graph` blocks.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};

use super::args::bind_args;
use super::error::{did_you_mean, JobError};
use super::lexer::Span;
use super::loops::{Step, Unrolled};
use super::operators::SAVE;
use super::parser::{first_span, Stmt, Syn, SynKind};
use super::{Check, Dataset, DatasetId, Op, Round, Save, Sink};

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
    let names: Vec<&str> = defs.keys().copied().filter(|n| !n.contains('@')).collect();
    let mut graph = Graph::new(source, params, defs, &names, &unrolled.rounds);

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
                let span = graph
                    .defs
                    .get(name.as_str())
                    .map_or(Span { line: 1, col: 1 }, |d| d.0);
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

enum State {
    /// Being resolved: meeting it again is a cycle.
    Busy,
    Done(DatasetId),
}

/// The graph being built: the definitions, what is resolved so far, and
/// the datasets made so far.
pub(super) struct Graph<'s> {
    pub(super) source: &'s str,
    pub(super) params: &'s BTreeMap<String, String>,
    defs: BTreeMap<&'s str, (Span, &'s Syn)>,
    /// The names as written, for "did you mean".
    pub(super) names: &'s [&'s str],
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
    pub(super) datasets: Vec<Dataset>,
    /// Work spent computing constants, over the whole job.
    pub(super) work: Cell<u64>,
}

impl<'s> Graph<'s> {
    /// A graph with no datasets yet, over the definitions `defs` (`names`
    /// are those written in the file, `rounds` those of loop rounds).
    pub(super) fn new(
        source: &'s str,
        params: &'s BTreeMap<String, String>,
        defs: BTreeMap<&'s str, (Span, &'s Syn)>,
        names: &'s [&'s str],
        rounds: &'s BTreeMap<String, (String, usize, u32)>,
    ) -> Graph<'s> {
        Graph {
            source,
            params,
            defs,
            names,
            rounds,
            round: None,
            made: HashMap::new(),
            written: 0,
            state: BTreeMap::new(),
            stack: Vec::new(),
            depth: 0,
            datasets: Vec::new(),
            work: Cell::new(0),
        }
    }

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
    pub(super) fn dataset(&mut self, syn: &'s Syn) -> Result<DatasetId, JobError> {
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
    pub(super) fn push(&mut self, op: Op, keyed: bool, span: Span) -> Result<DatasetId, JobError> {
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
}
