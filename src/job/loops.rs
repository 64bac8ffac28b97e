//! Loops: `repeat` blocks, unrolled into rounds of plain statements.
//!
//! ```text
//! ranks = links.map($key, 1.0)
//! repeat iterations {                       # a fixed number of rounds
//!   contribs = links.join(ranks).flat_map(split($2, ","), float($3) / len(split($2, ",")))
//!   ranks    = contribs.reduce_by_key(sum).map($key, 0.15 + 0.85 * $value)
//! }
//! repeat until unchanged(paths.count()) max 50 {   # until a fixpoint
//!   paths = paths.union(paths.join(edges).map($3, $2)).distinct()
//! }
//! ```
//!
//! A loop is not a new kind of dataset: round `r` of a body is the body's
//! statements again, with their names renamed `name@L.r` (`L` numbers the
//! `repeat` in the file), so the rest of the front end sees a plain,
//! loop-free job. Inside the body, a name the body assigns means, before
//! that assignment (and in it: `ranks = ranks.map(...)`), the value of the
//! round before (or, in round 1, the value before the loop); after it, this
//! round's value. A name assigned in the body and defined before the loop is
//! *carried*: after the loop it means the last round's value. A name
//! defined only in the body is the body's own. Everything else in the body
//! means what it means outside, so a part of the body that uses no carried
//! name is the same every round, and the dataset graph computes it once
//! (`graph.rs` merges datasets made by the same words from the same inputs).
//!
//! A fixed loop is unrolled completely here. A `repeat until` loop cannot
//! be: whether round `r + 1` runs depends on data. Its condition,
//! `unchanged(D)`, is a *check*: after each round `r` (and once before the
//! first, for round 0) the workers compute a digest of `D` and the master
//! compares it with the round before, as Spark's driver compares counts
//! between jobs. So unrolling takes a `Progress`, the master's decisions
//! so far ("loop L: go on" or "loop L: stop"), and unrolls exactly what
//! they allow, in `steps`: the order in which `graph.rs` numbers the
//! datasets. A decision only appends steps, so the datasets, and the stages
//! planned from them, of an earlier progress stay a prefix of those of a
//! later one: the master plans round by round and the stages already run
//! keep their numbers. A `save` (or a later loop) that needs what a loop
//! computes is unrolled once that loop has stopped.

use std::collections::{BTreeMap, BTreeSet};

use super::error::JobError;
use super::lexer::Span;
use super::parser::{first_span, Rounds, Stmt, Syn, SynKind};

/// Rounds a `repeat until` may run when it does not say (`max N`).
pub const DEFAULT_MAX_ROUNDS: u32 = 100;

/// Most rounds any loop may run, so no job can make the master unroll
/// without end.
pub const MAX_ROUNDS: u32 = 10_000;

/// The master's decision after a round of a `repeat until` loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Which `repeat until`, counting every `repeat` in the file from 0.
    pub repeat: u32,
    /// True: the loop has ended with this round. False: run another round.
    pub stop: bool,
}

/// Every decision made so far, in the order made. Empty for a new job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub decisions: Vec<Decision>,
}

impl Progress {
    /// As it travels (in `TaskSpec` and the journal): `2 * repeat + stop`
    /// per decision.
    pub fn encode(&self) -> Vec<u32> {
        self.decisions
            .iter()
            .map(|d| d.repeat.saturating_mul(2) | u32::from(d.stop))
            .collect()
    }

    pub fn decode(codes: &[u32]) -> Progress {
        Progress {
            decisions: codes
                .iter()
                .map(|&c| Decision {
                    repeat: c / 2,
                    stop: c % 2 == 1,
                })
                .collect(),
        }
    }
}

/// One `repeat` of the job, as far as it is unrolled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loop {
    /// Where `repeat` is written.
    pub span: Span,
    /// `repeat until`: `Some(max rounds)`. A fixed loop: `None`.
    pub until: Option<u32>,
    /// Rounds unrolled: all of a fixed loop's; of a `repeat until`, those
    /// the decisions so far have asked for.
    pub rounds: u32,
    /// Has it started (a fixed loop: always)? A `repeat until` starts once
    /// the loops it reads from have ended.
    pub started: bool,
    /// Has it ended? A fixed loop has, from the start.
    pub ended: bool,
}

/// What `graph.rs` resolves, in this order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// The dataset of a name: the carried values of a round, resolved
    /// round after round so no chain of names through many rounds is
    /// ever resolved in one deep recursion.
    Name(String),
    /// The `save` statement numbered so in the file.
    Save(usize),
    /// What follows comes from the next decision: the planner never
    /// changes the stages of the sinks before it (`plan.rs`).
    Decision,
    /// Loop `repeat`'s condition after round `round` (0: before the first).
    Check {
        repeat: usize,
        round: u32,
        target: Syn,
    },
}

/// A job's statements with its loops unrolled as far as `Progress` allows.
pub(crate) struct Unrolled {
    /// `param`, `NAME = ...` and `save` statements; rounds of loops as
    /// `name@L.r = ...` definitions.
    pub statements: Vec<Stmt>,
    pub steps: Vec<Step>,
    /// For each name of a round: the name as written, its loop and round.
    pub rounds: BTreeMap<String, (String, usize, u32)>,
    pub loops: Vec<Loop>,
}

/// What unrolling needs to know of the rest of the job: which loops read
/// the results of which `repeat until` (from the graph of the job with
/// every loop unrolled once, see `Job::parse_at`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Needs {
    /// For each `save` (in file order): the `repeat until` loops whose
    /// results it reads.
    pub saves: Vec<BTreeSet<usize>>,
    /// For each loop: the other `repeat until` loops whose results it reads.
    pub loops: Vec<BTreeSet<usize>>,
}

/// Computes a loop's round count (a fixed loop) or `max` (`repeat until`);
/// `what` names it in errors.
pub(crate) type CountFn<'a> = dyn Fn(&Syn, &str) -> Result<u32, JobError> + 'a;

/// One `repeat` as written.
struct Block<'s> {
    /// Which `repeat` of the file it is, from 0.
    number: usize,
    /// Its place among the top-level statements.
    at: usize,
    span: Span,
    rounds: &'s Rounds,
    /// `(name, index in the body, span)` of each statement of the body.
    assigned: Vec<(&'s str, usize, Span)>,
    /// Names of `assigned` defined before the loop: their values go from
    /// round to round and out of the loop.
    carried: BTreeSet<&'s str>,
    info: Loop,
}

/// Unrolls `statements` as `progress` allows. With `needs` `None`, every
/// `repeat until` is unrolled for exactly one round, ended, and every step
/// is taken: the *preview* that checks the whole job and finds `Needs`.
///
/// # Errors
/// A `param` or `save` inside a loop, a name assigned twice in one body, a
/// carried name defined after its loop, a name of a body used outside it
/// or before it is defined, a bad round count, condition or `max`, and a
/// `Progress` that does not fit the job.
pub(crate) fn unroll(
    statements: &[Stmt],
    params: &BTreeMap<String, String>,
    progress: &Progress,
    needs: Option<&Needs>,
    count: &CountFn<'_>,
) -> Result<Unrolled, JobError> {
    let mut blocks = blocks(statements, params, count)?;
    let mut steps = Vec::new();
    match needs {
        None => {
            for b in &mut blocks {
                if b.info.until.is_some() {
                    b.info.rounds = 1;
                    b.info.started = true;
                    b.info.ended = true;
                }
            }
        }
        Some(needs) => decide(&mut blocks, statements, needs, progress, &mut steps)?,
    }
    let mut out = Unrolled {
        statements: Vec::new(),
        steps,
        rounds: BTreeMap::new(),
        loops: blocks.iter().map(|b| b.info.clone()).collect(),
    };
    let names = Names {
        blocks: &blocks,
        top: top_defs(statements),
    };
    let mut saves = 0;
    let mut block = 0;
    for (at, stmt) in statements.iter().enumerate() {
        match stmt {
            Stmt::Param { .. } => out.statements.push(stmt.clone()),
            Stmt::Define { name, span, value } => out.statements.push(Stmt::Define {
                name: name.clone(),
                span: *span,
                value: rename(value, &mut |n, s| names.top(n, at, s))?,
            }),
            Stmt::Save { target, args, span } => {
                out.statements.push(Stmt::Save {
                    target: rename(target, &mut |n, s| names.top(n, at, s))?,
                    args: args.clone(),
                    span: *span,
                });
                if needs.is_none() {
                    out.steps.push(Step::Save(saves));
                }
                saves += 1;
            }
            Stmt::Repeat { body, .. } => {
                let b = &blocks[block];
                for round in 1..=b.info.rounds {
                    for (j, stmt) in body.iter().enumerate() {
                        let Stmt::Define { name, span, value } = stmt else {
                            continue;
                        };
                        let value = rename(value, &mut |n, s| names.body(block, n, j, round, s))?;
                        let round_name = format!("{name}@{block}.{round}");
                        out.rounds
                            .insert(round_name.clone(), (name.clone(), block, round));
                        out.statements.push(Stmt::Define {
                            name: round_name,
                            span: *span,
                            value,
                        });
                    }
                }
                if needs.is_none() {
                    out.steps.extend(warmups(b, 1..=b.info.rounds));
                    if b.info.until.is_some() {
                        for round in 0..=1 {
                            out.steps.push(Step::Check {
                                repeat: block,
                                round,
                                target: names.check(block, round)?,
                            });
                        }
                    }
                }
                block += 1;
            }
        }
    }
    // The real steps' checks were made before the names were known.
    if needs.is_some() {
        for step in &mut out.steps {
            if let Step::Check {
                repeat,
                round,
                target,
            } = step
            {
                *target = names.check(*repeat, *round)?;
            }
        }
    }
    Ok(out)
}

/// Finds every `repeat`, checks its body, and computes its round count.
fn blocks<'s>(
    statements: &'s [Stmt],
    params: &BTreeMap<String, String>,
    count: &CountFn<'_>,
) -> Result<Vec<Block<'s>>, JobError> {
    let top = top_defs(statements);
    let mut blocks = Vec::new();
    for (at, stmt) in statements.iter().enumerate() {
        let Stmt::Repeat { span, rounds, body } = stmt else {
            continue;
        };
        let mut assigned: Vec<(&str, usize, Span)> = Vec::new();
        let mut carried = BTreeSet::new();
        for (j, inner) in body.iter().enumerate() {
            match inner {
                Stmt::Param { span: s, .. } => {
                    return Err(JobError::at(
                        *s,
                        "`param` cannot be inside `repeat`: declare params at the top of the job",
                    ))
                }
                Stmt::Save { span: s, .. } => {
                    return Err(JobError::at(
                        *s,
                        "`save` cannot be inside `repeat` (every round would write the same place): save the loop's result after it",
                    ))
                }
                Stmt::Repeat { span: s, .. } => {
                    return Err(JobError::at(
                        *s,
                        "a `repeat` cannot be inside another `repeat`",
                    ))
                }
                Stmt::Define { name, span: s, .. } => {
                    if let Some((_, _, first)) = assigned.iter().find(|a| a.0 == name) {
                        return Err(JobError::at(
                            *s,
                            format!(
                                "`{name}` is already assigned in this loop at line {}; a loop assigns a name once per round",
                                first.line
                            ),
                        ));
                    }
                    if params.contains_key(name) {
                        return Err(JobError::at(*s, format!("`{name}` is a param")));
                    }
                    match top.get(name.as_str()) {
                        Some(&(def, _)) if def < at => {
                            carried.insert(name.as_str());
                        }
                        Some(&(_, def_span)) => {
                            return Err(JobError::at(
                                def_span,
                                format!(
                                    "`{name}` is assigned in the `repeat` at line {}, so it must be defined before that loop (its value before the first round)",
                                    span.line
                                ),
                            ))
                        }
                        None => {}
                    }
                    assigned.push((name, j, *s));
                }
            }
        }
        let info = match rounds {
            Rounds::Fixed(syn) => {
                let n = count(syn, "the round count of `repeat`")?;
                if n > MAX_ROUNDS {
                    return Err(JobError::at(
                        first_span(syn),
                        format!("a loop may run at most {MAX_ROUNDS} rounds, this one {n}"),
                    ));
                }
                Loop {
                    span: *span,
                    until: None,
                    rounds: n,
                    started: true,
                    ended: true,
                }
            }
            Rounds::Until { cond, max } => {
                condition_target(cond)?;
                let max = match max {
                    Some(syn) => {
                        let n = count(syn, "the `max` of `repeat until`")?;
                        if n == 0 || n > MAX_ROUNDS {
                            return Err(JobError::at(
                                first_span(syn),
                                format!(
                                    "the `max` of `repeat until` must be a whole number from 1 to {MAX_ROUNDS}, got {n}"
                                ),
                            ));
                        }
                        n
                    }
                    None => DEFAULT_MAX_ROUNDS,
                };
                Loop {
                    span: *span,
                    until: Some(max),
                    rounds: 0,
                    started: false,
                    ended: false,
                }
            }
        };
        blocks.push(Block {
            number: blocks.len(),
            at,
            span: *span,
            rounds,
            assigned,
            carried,
            info,
        });
    }
    Ok(blocks)
}

/// Replays `progress`: which loops have started and ended, how many rounds
/// each has, and the steps in the order the decisions made them possible.
fn decide(
    blocks: &mut [Block<'_>],
    statements: &[Stmt],
    needs: &Needs,
    progress: &Progress,
    steps: &mut Vec<Step>,
) -> Result<(), JobError> {
    // The saves and loops in file order, each taken once what it reads has
    // ended.
    let mut items: Vec<(usize, Item)> = Vec::new();
    let mut save = 0;
    for (at, stmt) in statements.iter().enumerate() {
        match stmt {
            Stmt::Save { .. } => {
                items.push((at, Item::Save(save)));
                save += 1;
            }
            Stmt::Repeat { .. } => {
                let b = blocks.iter().position(|b| b.at == at).unwrap_or(0);
                items.push((at, Item::Loop(b)));
            }
            _ => {}
        }
    }
    let mut taken = vec![false; items.len()];
    let mut take_ready = |blocks: &mut [Block<'_>], steps: &mut Vec<Step>| {
        let ended: BTreeSet<usize> = (0..blocks.len())
            .filter(|&b| blocks[b].info.until.is_some() && blocks[b].info.ended)
            .collect();
        for (i, (_, item)) in items.iter().enumerate() {
            let reads = match item {
                Item::Save(s) => needs.saves.get(*s),
                Item::Loop(b) => needs.loops.get(*b),
            };
            if taken[i] || !reads.is_none_or(|r| r.is_subset(&ended)) {
                continue;
            }
            taken[i] = true;
            match *item {
                Item::Save(s) => steps.push(Step::Save(s)),
                Item::Loop(b) if blocks[b].info.until.is_none() => {
                    steps.extend(warmups(&blocks[b], 1..=blocks[b].info.rounds));
                }
                Item::Loop(b) => {
                    blocks[b].info.started = true;
                    steps.push(check_step(b, 0));
                }
            }
        }
    };
    take_ready(blocks, steps);
    for (i, d) in progress.decisions.iter().enumerate() {
        let bad = |why: &str| {
            JobError::at(
                Span { line: 1, col: 1 },
                format!("decision {i} of the job's progress ({d:?}) {why}"),
            )
        };
        steps.push(Step::Decision);
        let b = d.repeat as usize;
        let info = &mut blocks.get_mut(b).ok_or_else(|| bad("names no loop"))?.info;
        let Some(max) = info.until else {
            return Err(bad("is for a fixed loop"));
        };
        if !info.started || info.ended {
            return Err(bad("is for a loop that is not running"));
        }
        if d.stop {
            if info.rounds == 0 {
                return Err(bad("ends a loop before its first round"));
            }
            info.ended = true;
            take_ready(blocks, steps);
        } else {
            if info.rounds >= max {
                return Err(bad("asks for more rounds than the loop's max"));
            }
            info.rounds += 1;
            let round = info.rounds;
            steps.extend(warmups(&blocks[b], round..=round));
            steps.push(check_step(b, round));
        }
    }
    Ok(())
}

enum Item {
    Save(usize),
    Loop(usize),
}

/// The carried names of rounds `rounds` of a loop, in round order.
fn warmups(b: &Block<'_>, rounds: std::ops::RangeInclusive<u32>) -> Vec<Step> {
    let mut steps = Vec::new();
    for round in rounds {
        for (name, _, _) in &b.assigned {
            if b.carried.contains(name) {
                steps.push(Step::Name(format!("{name}@{}.{round}", b.number)));
            }
        }
    }
    steps
}

/// A check step whose target is filled in once the names are known.
fn check_step(repeat: usize, round: u32) -> Step {
    Step::Check {
        repeat,
        round,
        target: Syn {
            kind: SynKind::Int(0),
            span: Span { line: 1, col: 1 },
            start: 0,
            end: 0,
            depth: 1,
        },
    }
}

/// The dataset in `unchanged(DATASET)`.
fn condition_target(cond: &Syn) -> Result<&Syn, JobError> {
    match &cond.kind {
        SynKind::Call { name, args }
            if name == "unchanged" && args.len() == 1 && args[0].name.is_none() =>
        {
            Ok(&args[0].value)
        }
        _ => Err(JobError::at(
            first_span(cond),
            "the condition of `repeat until` must be `unchanged(DATASET)`: the loop ends after the first round that leaves DATASET as it was, e.g. `unchanged(paths)` or `unchanged(paths.count())`",
        )),
    }
}

/// The first top-level definition of each name: its statement and span.
fn top_defs(statements: &[Stmt]) -> BTreeMap<&str, (usize, Span)> {
    let mut top = BTreeMap::new();
    for (at, stmt) in statements.iter().enumerate() {
        if let Stmt::Define { name, span, .. } = stmt {
            top.entry(name.as_str()).or_insert((at, *span));
        }
    }
    top
}

/// What each name means where it is used.
struct Names<'b, 's> {
    blocks: &'b [Block<'s>],
    top: BTreeMap<&'s str, (usize, Span)>,
}

impl Names<'_, '_> {
    /// `name` used in the top-level statement at `at`: the last round of
    /// the last loop before it that carries it, else the name itself.
    fn top(&self, name: &str, at: usize, span: Span) -> Result<String, JobError> {
        let carrier = self
            .blocks
            .iter()
            .enumerate()
            .rev()
            .find(|(_, b)| b.at < at && b.carried.contains(name));
        if let Some((l, _)) = carrier {
            return self.exit(l, name, span);
        }
        if !self.top.contains_key(name) {
            if let Some(b) = self
                .blocks
                .iter()
                .find(|b| b.assigned.iter().any(|a| a.0 == name))
            {
                return Err(JobError::at(
                    span,
                    format!(
                        "`{name}` is defined inside the `repeat` at line {}, and cannot be used outside it (define it before the loop to carry its last value out)",
                        b.span.line
                    ),
                ));
            }
        }
        Ok(name.to_string())
    }

    /// The value of carried `name` after loop `l`.
    fn exit(&self, l: usize, name: &str, span: Span) -> Result<String, JobError> {
        let b = &self.blocks[l];
        match b.info.rounds {
            // Not one round (yet): what went in.
            0 if b.info.ended => self.top(name, b.at, span),
            0 => Ok(format!("{name}@{l}.?")),
            _ if !b.info.ended => Ok(format!("{name}@{l}.?")),
            r => Ok(format!("{name}@{l}.{r}")),
        }
    }

    /// `name` used in statement `j` of loop `l`'s body, in round `round`.
    fn body(
        &self,
        l: usize,
        name: &str,
        j: usize,
        round: u32,
        span: Span,
    ) -> Result<String, JobError> {
        let b = &self.blocks[l];
        let Some(&(_, a, def)) = b.assigned.iter().find(|a| a.0 == name) else {
            return self.top(name, b.at, span);
        };
        if j > a {
            return Ok(format!("{name}@{l}.{round}"));
        }
        if !b.carried.contains(name) {
            return Err(JobError::at(
                span,
                format!(
                    "`{name}` is used before it is defined in this loop (at line {}); only names defined before the loop keep a value from round to round",
                    def.line
                ),
            ));
        }
        match round {
            1 => self.top(name, b.at, span),
            r => Ok(format!("{name}@{l}.{}", r - 1)),
        }
    }

    /// What loop `l`'s condition checks after round `round`.
    fn check(&self, l: usize, round: u32) -> Result<Syn, JobError> {
        let b = &self.blocks[l];
        let Rounds::Until { cond, .. } = b.rounds else {
            return Err(JobError::at(
                b.span,
                "a fixed `repeat` has no condition to check",
            ));
        };
        let target = rename(condition_target(cond)?, &mut |name, span| {
            if !b.assigned.iter().any(|a| a.0 == name) {
                return self.top(name, b.at, span);
            }
            if !b.carried.contains(name) {
                return Err(JobError::at(
                    span,
                    format!(
                        "the condition of `repeat until` can use the datasets defined before the loop, and those it reassigns; `{name}` is only defined inside it"
                    ),
                ));
            }
            match round {
                0 => self.top(name, b.at, span),
                r => Ok(format!("{name}@{l}.{r}")),
            }
        })?;
        Ok(target)
    }
}

/// Operators whose first argument is a dataset (`other`).
const DATASET_ARGS: &[&str] = &["join", "left_join", "union"];

/// `syn` with every name in a dataset's place renamed by `f`: the name
/// itself, a receiver (`name.filter(...)`), and the `other` of a join or
/// union. Names inside record expressions are params or aggregators.
fn rename(
    syn: &Syn,
    f: &mut dyn FnMut(&str, Span) -> Result<String, JobError>,
) -> Result<Syn, JobError> {
    let mut out = syn.clone();
    rename_in(&mut out, f)?;
    Ok(out)
}

fn rename_in(
    syn: &mut Syn,
    f: &mut dyn FnMut(&str, Span) -> Result<String, JobError>,
) -> Result<(), JobError> {
    let span = syn.span;
    match &mut syn.kind {
        SynKind::Name(name) => *name = f(name, span)?,
        SynKind::Method { recv, name, args } => {
            rename_in(recv, f)?;
            if DATASET_ARGS.contains(&name.as_str()) {
                let other = match args.first() {
                    Some(a) if a.name.is_none() => args.first_mut(),
                    _ => args
                        .iter_mut()
                        .find(|a| a.name.as_ref().is_some_and(|(n, _)| n == "other")),
                };
                if let Some(arg) = other {
                    rename_in(&mut arg.value, f)?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}
