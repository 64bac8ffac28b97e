//! The planner: turns a job's dataset graph into a DAG of stages joined by
//! shuffles.
//!
//! A chain of narrow operators (filter, map, flat_map, pipe, union) needs no
//! data from other partitions, so it runs pipelined inside one task, record
//! by record. A wide operator (reduce_by_key, group_by_key, join, left_join,
//! distinct, sort_by_key, sort_by, take, count) needs records brought
//! together from every partition (those of a key, or all): the planner
//! cuts the graph there, and at a `cache()`, whose partitions the workers
//! keep for every later stage to read. The stage before the cut ends in a shuffle
//! write (each task hash-partitions its records into one file per task, one
//! block range per reduce partition); the stage after it starts by reading
//! its partition from every map task. `sort_by_key` and `sort_by` add a
//! sampling stage first, so their shuffle can partition by key ranges;
//! `take` and `count` shuffle into one partition.
//!
//! ```text
//!   read_text > flat_map > map  ==shuffle 0==>  reduce_by_key > save
//!   \_______ stage 0 (map) ___/                \__ stage 1 (reduce) __/
//! ```
//!
//! The plan is a pure function of the job and the default parallelism, so
//! the master and every worker compute the same one: a task names only its
//! stage, segment and index; the worker finds what to run in the plan.

use std::collections::HashMap;

use crate::job::{Aggregator, DatasetId, Job, Op, Round, Sink, SortOrder};

pub type StageId = u32;
pub type ShuffleId = u32;

/// Where a segment's records come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The splits of a `read_text` or `read_csv` dataset.
    Source(DatasetId),
    /// One reduce partition of a wide operator, computed from its shuffles.
    Shuffle(DatasetId),
    /// One partition of a cached dataset (`cache()`), as the task of the
    /// same number of the stage that computed it kept it.
    Cache(DatasetId),
}

/// A run of tasks in a stage that share an input. Most stages have one
/// segment; `union` makes several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub input: Input,
    /// For each of the stage's outputs, in order: the narrow operators
    /// applied after the input to make its records, in order.
    pub pipelines: Vec<Vec<DatasetId>>,
}

/// Where a stage's records go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Index into `job.saves`: part files in an output directory.
    Save(usize),
    /// Partitioned map output files for a shuffle.
    Shuffle(ShuffleId),
    /// A sample of keys, sent to the master to choose a range shuffle's
    /// boundaries.
    Sample(ShuffleId),
    /// A digest of the records, sent to the master to decide whether a
    /// `repeat until` loop goes on: index into `job.checks`.
    Check(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partitioner {
    /// `partition_hash(key) % partitions`.
    Hash,
    /// By (key, value) ranges between sampled boundaries, for a total order.
    Range,
    /// Not partitioned: each map task keeps its records, in order, as one
    /// partition of a cached dataset, read back by the task of the same
    /// number.
    Cache,
}

/// One shuffle: the map side of one input of a wide operator.
#[derive(Debug, Clone, PartialEq)]
pub struct ShufflePlan {
    pub id: ShuffleId,
    /// The wide operator that reads it.
    pub wide: DatasetId,
    /// 0 for the (left) input, 1 for a join's right input.
    pub side: usize,
    pub partitions: u32,
    pub partitioner: Partitioner,
    /// What the map side does with its records before they are shuffled,
    /// if anything (`group_by_key`, `join` and a default `sort_by_key`
    /// shuffle each as it is).
    pub combine: Option<Combine>,
    /// `distinct` partitions by the whole record, and a cache keeps lines
    /// as well as pairs; the others partition by key.
    pub by_whole_record: bool,
    /// The stage that writes it.
    pub map_stage: StageId,
}

/// What a map task does to its records before the shuffle: shrink them
/// (a map-side combine, so that fewer cross the network), or give them a
/// key whose bytes sort in the order the reduce side needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Combine {
    /// `reduce_by_key`: fold each key's values with these aggregators; one
    /// partial result per key leaves the task.
    Aggregate(Vec<Aggregator>),
    /// `distinct`: drop repeated records; one copy of each leaves the task.
    Distinct,
    /// `sort_by_key` in an order other than key bytes ascending: each key
    /// is sent as bytes that sort in that order (`storage::sortkey`).
    SortKey(SortOrder),
    /// `sort_by`: each record is sent keyed by its sort expression's value
    /// in this order, followed by the record itself.
    SortBy(SortOrder),
    /// `take(n)`: only the task's first `n` records leave it, keyed by
    /// their position (task, then place in the task).
    Take(u64),
    /// `count()`: one record leaves the task, its number of records.
    Count,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StagePlan {
    pub id: StageId,
    pub segments: Vec<Segment>,
    /// Where its records go: usually one place; several when one scan of
    /// its input feeds several consumers (see `share_scans`).
    pub outputs: Vec<Output>,
    /// Stages that must be complete before this one starts.
    pub parents: Vec<StageId>,
    /// The operator chain for people: `read_text > filter > save`; in a
    /// loop, with its round first: `round 3: join > flat_map > shuffle 5`.
    pub ops: String,
    /// The loop round it computes, if any: the latest round of the datasets
    /// it computes (or of the check it makes).
    pub round: Option<Round>,
}

impl StagePlan {
    /// Its output, when it has one only: a stage that samples, checks or
    /// writes a sort's range shuffle always has (see `share_scans`).
    pub fn only(&self) -> Option<Output> {
        match self.outputs[..] {
            [one] => Some(one),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub stages: Vec<StagePlan>,
    pub shuffles: Vec<ShufflePlan>,
}

impl Plan {
    /// The shuffles a wide operator reads, by side.
    pub fn shuffles_of(&self, wide: DatasetId) -> Vec<&ShufflePlan> {
        let mut found: Vec<&ShufflePlan> =
            self.shuffles.iter().filter(|s| s.wide == wide).collect();
        found.sort_by_key(|s| s.side);
        found
    }

    /// Reduce partitions of a wide operator.
    pub fn partitions_of(&self, wide: DatasetId) -> u32 {
        self.shuffles_of(wide).first().map_or(1, |s| s.partitions)
    }
}

/// Cuts `job` into stages. `parallelism` is the default number of reduce
/// partitions (a wide operator may set its own).
///
/// # Errors
/// A message naming the dataset when the graph cannot be planned.
pub fn plan(job: &Job, parallelism: u32) -> Result<Plan, String> {
    let mut planner = Planner {
        job,
        parallelism: parallelism.max(1),
        plan: Plan {
            stages: Vec::new(),
            shuffles: Vec::new(),
        },
        shuffle_of: HashMap::new(),
        bodies: Vec::new(),
    };
    // In the order the sinks got their datasets, so that the plan of a
    // job whose loops have gone further extends this one: the stages of
    // each decision's sinks are added after the others, and share scans
    // only among themselves.
    let mut phase_start = 0;
    for (i, sink) in job.sinks.iter().enumerate() {
        if job.phases.contains(&i) {
            planner.share_scans(phase_start);
            phase_start = planner.plan.stages.len();
        }
        match *sink {
            Sink::Save(i) => {
                let dataset = job.saves[i]
                    .dataset
                    .ok_or_else(|| format!("save {i} has no dataset yet"))?;
                planner.stage(dataset, Output::Save(i))?;
            }
            Sink::Check(i) => {
                planner.stage(job.checks[i].dataset, Output::Check(i as u32))?;
            }
        }
    }
    planner.share_scans(phase_start);
    Ok(planner.plan)
}

/// The operator chains of a stage with several outputs, their common
/// beginning written once: `read_text > flat_map > {save, map > shuffle 0}`.
fn shared_ops(bodies: &[String]) -> String {
    let split: Vec<Vec<&str>> = bodies.iter().map(|b| b.split(" > ").collect()).collect();
    let shortest = split.iter().map(Vec::len).min().unwrap_or(0);
    // Each output keeps at least its last step.
    let common = (0..shortest.saturating_sub(1))
        .take_while(|&i| split.iter().all(|s| s[i] == split[0][i]))
        .count();
    let rests: Vec<String> = split.iter().map(|s| s[common..].join(" > ")).collect();
    match common {
        0 => rests.join(" + "),
        _ => format!(
            "{} > {{{}}}",
            split[0][..common].join(" > "),
            rests.join(", ")
        ),
    }
}

/// What a stage reads: the input of each of its segments.
fn inputs(stage: &StagePlan) -> Vec<Input> {
    stage.segments.iter().map(|s| s.input.clone()).collect()
}

struct Planner<'a> {
    job: &'a Job,
    parallelism: u32,
    plan: Plan,
    /// (wide dataset, side) -> shuffle already planned, so a dataset used
    /// twice is shuffled once.
    shuffle_of: HashMap<(DatasetId, usize), ShuffleId>,
    /// Each stage's operator chain, one per output, without its round.
    bodies: Vec<Vec<String>>,
}

impl Planner<'_> {
    /// Adds the stage computing `dataset` into `output`; returns its id.
    fn stage(&mut self, dataset: DatasetId, output: Output) -> Result<StageId, String> {
        let mut parents = Vec::new();
        let segments = self.segments(dataset, &mut parents)?;
        parents.sort_unstable();
        parents.dedup();
        let id = self.plan.stages.len() as StageId;
        let round = self.round(&segments, output);
        let body = self.describe(&segments, output);
        let ops = self.with_round(body.clone(), round);
        self.bodies.push(vec![body]);
        self.plan.stages.push(StagePlan {
            id,
            segments,
            outputs: vec![output],
            parents,
            ops,
            round,
        });
        Ok(id)
    }

    /// `ops` with the round it computes first, if any.
    fn with_round(&self, ops: String, round: Option<Round>) -> String {
        match (round, self.job.loops.len()) {
            (None, _) => ops,
            (Some(r), 1) => format!("round {}: {ops}", r.round),
            (Some(r), _) => format!("loop {} round {}: {ops}", r.repeat + 1, r.round),
        }
    }

    /// One scan for several consumers: merges the stages from `first` on
    /// that read the same inputs (the same splits, or the same partitions
    /// of the same shuffles) into one stage with several outputs, so that
    /// `words` saved, counted and deduplicated is read and split once, not
    /// three times. Two stages are not merged when one waits for the other
    /// (a sort's map side waits for its sample of the same input), nor
    /// when either does what a task with several outputs cannot: sample,
    /// check, write a sort's range shuffle (each needs its own data from the
    /// master), `take` (which stops reading early) or `pipe`.
    fn share_scans(&mut self, first: usize) {
        let n = self.plan.stages.len();
        // `into[j]`: the stage stage `j` was merged into (itself if none).
        let mut into: Vec<usize> = (0..n).collect();
        self.fuse_cache_readers(first, &mut into);
        for j in first..n {
            if into[j] != j {
                continue;
            }
            if !self.can_share(j) {
                continue;
            }
            let target = (first..j).find(|&i| {
                into[i] == i
                    && self.can_share(i)
                    && inputs(&self.plan.stages[i]) == inputs(&self.plan.stages[j])
                    && !self.waits_for(j, i, &into)
                    && !self.waits_for(i, j, &into)
            });
            let Some(i) = target else { continue };
            into[j] = i;
            let merged = self.plan.stages[j].clone();
            let stage = &mut self.plan.stages[i];
            for (mine, theirs) in stage.segments.iter_mut().zip(merged.segments) {
                mine.pipelines.extend(theirs.pipelines);
            }
            stage.outputs.extend(merged.outputs);
            stage.parents.extend(merged.parents);
            stage.round = [stage.round, merged.round]
                .into_iter()
                .flatten()
                .max_by_key(|r| (r.repeat, r.round));
            let round = stage.round;
            let theirs = std::mem::take(&mut self.bodies[j]);
            self.bodies[i].extend(theirs);
            self.plan.stages[i].ops = self.with_round(shared_ops(&self.bodies[i]), round);
        }
        if (first..n).all(|j| into[j] == j) {
            return;
        }
        // What was merged into a stage that was merged on points there.
        for j in 0..n {
            into[j] = into[into[j]];
        }
        // Number the stages left in order, and point everything at them.
        let mut new_id = vec![0u32; n];
        let mut next = 0u32;
        for j in 0..n {
            if into[j] == j {
                new_id[j] = next;
                next += 1;
            }
        }
        let id_of = |j: usize| new_id[into[j]];
        let stages = std::mem::take(&mut self.plan.stages);
        let bodies = std::mem::take(&mut self.bodies);
        for (j, (mut stage, body)) in stages.into_iter().zip(bodies).enumerate() {
            if into[j] != j {
                continue;
            }
            self.bodies.push(body);
            stage.id = id_of(j);
            let mut parents: Vec<StageId> =
                stage.parents.iter().map(|&p| id_of(p as usize)).collect();
            parents.sort_unstable();
            parents.dedup();
            stage.parents = parents;
            self.plan.stages.push(stage);
        }
        for shuffle in &mut self.plan.shuffles {
            shuffle.map_stage = id_of(shuffle.map_stage as usize);
        }
    }

    /// A stage that reads a cached dataset computed in the same phase runs
    /// in the stage that computes it: its task `i` takes the records of
    /// partition `i` as the task that computes them writes them, instead of
    /// reading them back from the cache (the cache is still written, for
    /// the rounds planned later and for lineage). Task `i` of both is the
    /// same partition, so nothing moves between them.
    fn fuse_cache_readers(&mut self, first: usize, into: &mut [usize]) {
        for c in first..self.plan.stages.len() {
            let reader = &self.plan.stages[c];
            let [Segment {
                input: Input::Cache(cached),
                ..
            }] = reader.segments[..]
            else {
                continue;
            };
            let Some(shuffle) = self.plan.shuffles_of(cached).first().map(|s| s.id) else {
                continue;
            };
            let p = self.plan.shuffles[shuffle as usize].map_stage as usize;
            let p = into[p];
            if p < first || p >= c || !self.can_share(c) || !self.can_share(p) {
                continue;
            }
            let Some(k) = self.plan.stages[p]
                .outputs
                .iter()
                .position(|&o| o == Output::Shuffle(shuffle))
            else {
                continue;
            };
            let reader = self.plan.stages[c].clone();
            let stage = &mut self.plan.stages[p];
            for segment in &mut stage.segments {
                let upto = segment.pipelines[k].clone();
                for theirs in &reader.segments[0].pipelines {
                    segment.pipelines.push([&upto[..], &theirs[..]].concat());
                }
            }
            stage.outputs.extend(reader.outputs);
            stage
                .parents
                .extend(reader.parents.iter().filter(|&&q| q as usize != p));
            stage.round = [stage.round, reader.round]
                .into_iter()
                .flatten()
                .max_by_key(|r| (r.repeat, r.round));
            let round = stage.round;
            // `group_by_key > cache` and `cache > shuffle 1` make
            // `group_by_key > cache > shuffle 1`.
            let producer = self.bodies[p][k].clone();
            for body in std::mem::take(&mut self.bodies[c]) {
                let rest = body.split_once(" > ").map_or("", |(_, r)| r);
                self.bodies[p].push(format!("{producer} > {rest}"));
            }
            self.plan.stages[p].ops = self.with_round(shared_ops(&self.bodies[p]), round);
            into[c] = p;
        }
    }

    /// May stage `s` share its scan with another?
    fn can_share(&self, s: usize) -> bool {
        let stage = &self.plan.stages[s];
        let outputs_ok = stage.outputs.iter().all(|o| match *o {
            Output::Save(_) => true,
            Output::Shuffle(id) => self.plan.shuffles.get(id as usize).is_some_and(|sh| {
                sh.partitioner != Partitioner::Range
                    && !matches!(sh.combine, Some(Combine::Take(_)))
            }),
            Output::Sample(_) | Output::Check(_) => false,
        });
        let no_pipe = stage
            .segments
            .iter()
            .flat_map(|s| s.pipelines.iter().flatten())
            .all(|&d| {
                !matches!(
                    self.job.datasets.get(d).map(|d| &d.op),
                    Some(Op::Pipe { .. })
                )
            });
        outputs_ok && no_pipe
    }

    /// Does stage `a` wait, directly or not, for stage `b` (each read as
    /// what it was merged into, whose parents include those of every stage
    /// merged into it)?
    fn waits_for(&self, a: usize, b: usize, into: &[usize]) -> bool {
        let mut todo = vec![a];
        let mut seen = vec![false; self.plan.stages.len()];
        while let Some(s) = todo.pop() {
            let s = into[s];
            if seen[s] {
                continue;
            }
            seen[s] = true;
            for &p in &self.plan.stages[s].parents {
                let p = into[p as usize];
                if p == into[b] {
                    return true;
                }
                todo.push(p);
            }
        }
        false
    }

    /// The segments that compute `dataset` without a shuffle in between;
    /// collects the map stages they read from into `parents`.
    fn segments(
        &mut self,
        dataset: DatasetId,
        parents: &mut Vec<StageId>,
    ) -> Result<Vec<Segment>, String> {
        let job = self.job;
        let op = &job
            .datasets
            .get(dataset)
            .ok_or_else(|| format!("dataset {dataset} does not exist"))?
            .op;
        Ok(match op {
            Op::ReadText { .. } | Op::ReadCsv { .. } => vec![Segment {
                input: Input::Source(dataset),
                pipelines: vec![Vec::new()],
            }],
            Op::Filter { input, .. }
            | Op::Map { input, .. }
            | Op::FlatMap { input, .. }
            | Op::Pipe { input, .. } => {
                let mut segments = self.segments(*input, parents)?;
                for s in &mut segments {
                    s.pipelines[0].push(dataset);
                }
                segments
            }
            Op::Union { left, right } => {
                let mut segments = self.segments(*left, parents)?;
                segments.extend(self.segments(*right, parents)?);
                segments
            }
            Op::Cache { input } => {
                parents.push(self.shuffle(dataset, 0, *input)?);
                vec![Segment {
                    input: Input::Cache(dataset),
                    pipelines: vec![Vec::new()],
                }]
            }
            wide => {
                let inputs = wide.inputs();
                for (side, &input) in inputs.iter().enumerate() {
                    let map_stage = self.shuffle(dataset, side, input)?;
                    parents.push(map_stage);
                }
                vec![Segment {
                    input: Input::Shuffle(dataset),
                    pipelines: vec![Vec::new()],
                }]
            }
        })
    }

    /// Plans (once) the shuffle feeding side `side` of wide operator `wide`
    /// from dataset `input`; returns its map stage.
    fn shuffle(
        &mut self,
        wide: DatasetId,
        side: usize,
        input: DatasetId,
    ) -> Result<StageId, String> {
        if let Some(&id) = self.shuffle_of.get(&(wide, side)) {
            return Ok(self.plan.shuffles[id as usize].map_stage);
        }
        let (partitions, combine, partitioner, by_whole_record) = match &self.job.datasets[wide].op
        {
            Op::ReduceByKey {
                aggs, partitions, ..
            } => (
                *partitions,
                Some(Combine::Aggregate(aggs.clone())),
                Partitioner::Hash,
                false,
            ),
            Op::GroupByKey { partitions, .. }
            | Op::Join { partitions, .. }
            | Op::LeftJoin { partitions, .. } => (*partitions, None, Partitioner::Hash, false),
            Op::Distinct { partitions, .. } => (
                *partitions,
                Some(Combine::Distinct),
                Partitioner::Hash,
                true,
            ),
            Op::SortByKey {
                partitions, order, ..
            } => {
                let rekey = (*order != SortOrder::default()).then_some(Combine::SortKey(*order));
                (*partitions, rekey, Partitioner::Range, false)
            }
            Op::SortBy {
                partitions, order, ..
            } => (
                *partitions,
                Some(Combine::SortBy(*order)),
                Partitioner::Range,
                false,
            ),
            // One reduce partition gathers what every map task sends.
            Op::Take { n, .. } => (Some(1), Some(Combine::Take(*n)), Partitioner::Hash, false),
            Op::Count { .. } => (Some(1), Some(Combine::Count), Partitioner::Hash, false),
            Op::Cache { .. } => (Some(1), None, Partitioner::Cache, true),
            other => return Err(format!("`{}` is not a wide operator", other.name())),
        };
        let id = self.plan.shuffles.len() as ShuffleId;
        self.shuffle_of.insert((wide, side), id);
        self.plan.shuffles.push(ShufflePlan {
            id,
            wide,
            side,
            partitions: partitions.unwrap_or(self.parallelism).max(1),
            partitioner,
            combine,
            by_whole_record,
            map_stage: 0,
        });
        let map_stage = if partitioner == Partitioner::Range {
            // Sample first; the map stage then waits for the boundaries.
            let sample = self.stage(input, Output::Sample(id))?;
            let map = self.stage(input, Output::Shuffle(id))?;
            self.plan.stages[map as usize].parents.push(sample);
            map
        } else {
            self.stage(input, Output::Shuffle(id))?
        };
        self.plan.shuffles[id as usize].map_stage = map_stage;
        Ok(map_stage)
    }

    /// The latest loop round among what a stage computes.
    fn round(&self, segments: &[Segment], output: Output) -> Option<Round> {
        let datasets = &self.job.datasets;
        let mut rounds: Vec<Round> = segments
            .iter()
            .flat_map(|s| {
                let first = match s.input {
                    Input::Source(d) | Input::Shuffle(d) | Input::Cache(d) => d,
                };
                std::iter::once(first).chain(s.pipelines.iter().flatten().copied())
            })
            .filter_map(|d| datasets.get(d).and_then(|d| d.round))
            .collect();
        if let Output::Check(i) = output {
            if let Some(c) = self.job.checks.get(i as usize) {
                rounds.push(Round {
                    repeat: c.repeat,
                    round: c.round,
                });
            }
        }
        rounds.into_iter().max_by_key(|r| (r.repeat, r.round))
    }

    fn describe(&self, segments: &[Segment], output: Output) -> String {
        let chains: Vec<String> = segments
            .iter()
            .map(|s| {
                let first = match s.input {
                    Input::Source(d) | Input::Shuffle(d) | Input::Cache(d) => {
                        self.job.datasets[d].op.name()
                    }
                };
                let mut ops = vec![first];
                ops.extend(
                    s.pipelines[0]
                        .iter()
                        .map(|&d| self.job.datasets[d].op.name()),
                );
                ops.join(" > ")
            })
            .collect();
        let tail = match output {
            Output::Save(_) => "save".to_string(),
            Output::Shuffle(id)
                if self.plan.shuffles.get(id as usize).map(|s| s.partitioner)
                    == Some(Partitioner::Cache) =>
            {
                "cache".to_string()
            }
            Output::Shuffle(id) => format!("shuffle {id}"),
            Output::Sample(id) => format!("sample for shuffle {id}"),
            Output::Check(i) => format!("check {i}"),
        };
        let body = if chains.len() == 1 {
            chains[0].clone()
        } else {
            format!("({})", chains.join(" | "))
        };
        format!("{body} > {tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn job(text: &str) -> Job {
        Job::parse("t.job", text, &BTreeMap::new()).unwrap()
    }

    #[test]
    fn narrow_chains_are_one_stage() {
        let j = job("x = read_text(\"a\").filter(true).map($0)\nx.save(\"o\")\n");
        let p = plan(&j, 4).unwrap();
        assert_eq!(p.stages.len(), 1);
        assert!(p.shuffles.is_empty());
        assert_eq!(p.stages[0].ops, "read_text > filter > map > save");
        assert_eq!(p.stages[0].outputs, [Output::Save(0)]);
    }

    #[test]
    fn reduce_by_key_cuts_a_stage_with_a_combiner() {
        let j = job("w = read_text(\"a\").flat_map(split($0)).map($0, 1)\nw.reduce_by_key(sum, 3).save(\"o\")\n");
        let p = plan(&j, 4).unwrap();
        assert_eq!(p.stages.len(), 2);
        assert_eq!(p.stages[0].ops, "read_text > flat_map > map > shuffle 0");
        assert_eq!(p.stages[1].ops, "reduce_by_key > save");
        assert_eq!(p.stages[1].parents, vec![0]);
        assert_eq!(p.shuffles[0].partitions, 3);
        assert_eq!(
            p.shuffles[0].combine,
            Some(Combine::Aggregate(vec![Aggregator::Sum]))
        );
    }

    #[test]
    fn only_reduce_and_distinct_combine_on_the_map_side() {
        let j = job("w = read_text(\"a\").map($1, $2)\nw.reduce_by_key(sum, count).save(\"o1\")\nw.distinct().save(\"o2\")\nw.group_by_key().save(\"o3\")\nw.sort_by_key().save(\"o4\")\n");
        let p = plan(&j, 4).unwrap();
        let combines: Vec<_> = p.shuffles.iter().map(|s| s.combine.clone()).collect();
        assert_eq!(
            combines,
            [
                Some(Combine::Aggregate(vec![Aggregator::Sum, Aggregator::Count])),
                Some(Combine::Distinct),
                None,
                None
            ]
        );
        assert!(p.shuffles[1].by_whole_record);
    }

    #[test]
    fn join_reads_two_shuffles_and_sort_samples_first() {
        let j = job(
            "a = read_text(\"a\").map($1, $2)\nb = read_text(\"b\").map($1, $2)\na.join(b).sort_by_key().save(\"o\")\n",
        );
        let p = plan(&j, 2).unwrap();
        let ops: Vec<&str> = p.stages.iter().map(|s| s.ops.as_str()).collect();
        assert_eq!(
            ops,
            [
                "read_text > map > shuffle 1",
                "read_text > map > shuffle 2",
                "join > sample for shuffle 0",
                "join > shuffle 0",
                "sort_by_key > save"
            ]
        );
        assert_eq!(p.stages[3].parents, vec![0, 1, 2]);
        assert_eq!(p.stages[4].parents, vec![3]);
        assert_eq!(p.shuffles[0].partitioner, Partitioner::Range);
        assert_eq!(p.shuffles_of(p.shuffles[1].wide).len(), 2);
    }

    #[test]
    fn sort_orders_key_on_the_map_side_and_take_and_count_gather_in_one_partition() {
        let j = job("w = read_text(\"a\").map($1, $2)\nw.sort_by_key(numeric=true, descending=true).save(\"o1\")\nw.sort_by($value, partitions=3).take(5).save(\"o2\")\nw.count().save(\"o3\")\n");
        let p = plan(&j, 4).unwrap();
        let ops: Vec<&str> = p.stages.iter().map(|s| s.ops.as_str()).collect();
        assert_eq!(
            ops,
            [
                "read_text > map > sample for shuffle 0",
                "read_text > map > shuffle 0",
                "sort_by_key > save",
                "read_text > map > sample for shuffle 2",
                "read_text > map > shuffle 2",
                "sort_by > shuffle 1",
                "take > save",
                "read_text > map > shuffle 3",
                "count > save",
            ]
        );
        let shape: Vec<_> = p
            .shuffles
            .iter()
            .map(|s| (s.partitions, s.partitioner, s.combine.clone()))
            .collect();
        let order = |numeric, descending| SortOrder {
            numeric,
            descending,
        };
        assert_eq!(
            shape,
            [
                (
                    4,
                    Partitioner::Range,
                    Some(Combine::SortKey(order(true, true)))
                ),
                (1, Partitioner::Hash, Some(Combine::Take(5))),
                (
                    3,
                    Partitioner::Range,
                    Some(Combine::SortBy(order(false, false)))
                ),
                (1, Partitioner::Hash, Some(Combine::Count)),
            ]
        );
        // `take` reads the sorted partitions in order: one task per partition.
        assert_eq!(p.partitions_of(p.shuffles[1].wide), 1);
        assert_eq!(p.stages[5].parents, vec![4]);
    }

    #[test]
    fn union_makes_segments_and_a_shared_dataset_is_shuffled_once() {
        let j = job(
            "a = read_text(\"a\")\nb = read_text(\"b\")\nu = a.union(b).map($0, 1)\nc = u.reduce_by_key(count)\nc.save(\"o1\")\nc.map($1).save(\"o2\")\n",
        );
        let p = plan(&j, 2).unwrap();
        assert_eq!(p.shuffles.len(), 1);
        assert_eq!(p.stages[0].segments.len(), 2);
        assert_eq!(
            p.stages[0].ops,
            "(read_text > map | read_text > map) > shuffle 0"
        );
        // Both saves read `c`: one reduce, two outputs.
        assert_eq!(p.stages.len(), 2);
        assert_eq!(p.stages[1].outputs, [Output::Save(0), Output::Save(1)]);
        assert_eq!(p.stages[1].ops, "reduce_by_key > {save, map > save}");
    }

    #[test]
    fn what_reads_a_cache_in_the_phase_that_computes_it_runs_in_that_stage() {
        let j = job("c = read_text(\"a\").map($1, $2).group_by_key().cache()\n\
             c.map($key, 1).save(\"one\")\n\
             c.join(c).save(\"two\")\n");
        let p = plan(&j, 2).unwrap();
        let ops: Vec<&str> = p.stages.iter().map(|s| s.ops.as_str()).collect();
        assert_eq!(
            ops,
            [
                "read_text > map > shuffle 1",
                "group_by_key > {cache, cache > map > save, cache > shuffle 2, cache > shuffle 3}",
                "join > save",
            ]
        );
        // Its pipelines for the readers start from the group, not the cache.
        assert_eq!(p.stages[1].segments[0].pipelines.len(), 4);
        assert_eq!(p.stages[2].parents, vec![1]);
    }

    #[test]
    fn one_scan_feeds_every_consumer_that_can_share_it() {
        let j = job("words = read_text(\"a\").flat_map(split($0))\n\
             words.save(\"all\")\n\
             words.map($0, 1).reduce_by_key(sum).save(\"counts\")\n\
             words.distinct().save(\"distinct\")\n\
             words.map($0, \"\").sort_by_key().save(\"sorted\")\n\
             words.pipe(\"cat\").save(\"piped\")\n");
        let p = plan(&j, 2).unwrap();
        let ops: Vec<&str> = p.stages.iter().map(|s| s.ops.as_str()).collect();
        assert_eq!(
            ops,
            [
                "read_text > flat_map > {save, map > shuffle 0, shuffle 1}",
                "reduce_by_key > save",
                "distinct > save",
                "read_text > flat_map > map > sample for shuffle 2",
                "read_text > flat_map > map > shuffle 2",
                "sort_by_key > save",
                "read_text > flat_map > pipe > save",
            ]
        );
        assert_eq!(
            p.stages[0].outputs,
            [Output::Save(0), Output::Shuffle(0), Output::Shuffle(1)]
        );
        assert_eq!(p.stages[0].segments[0].pipelines.len(), 3);
        // Stage numbers, parents and map stages follow the merge.
        assert_eq!(
            p.stages.iter().map(|s| s.id).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4, 5, 6]
        );
        assert_eq!(
            (p.stages[1].parents.clone(), p.stages[2].parents.clone()),
            (vec![0], vec![0])
        );
        assert_eq!(p.stages[4].parents, vec![3]);
        assert_eq!(
            p.shuffles.iter().map(|s| s.map_stage).collect::<Vec<_>>(),
            [0, 0, 4]
        );
    }
}
