//! The planner: turns a job's dataset graph into stages of tasks.
//!
//! A chain of narrow operators (filter, map, flat_map, pipe) needs no data
//! from other partitions, so it runs pipelined inside one task, record by
//! record, with no intermediate files: one stage per `save`, one task per
//! input split. Operators that need data from every partition (the wide
//! ones: reduce_by_key, join, ...) cut a stage boundary at a shuffle.

use crate::job::{DatasetId, Job, Op};

/// One stage: a pipeline of datasets run by each of its tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagePlan {
    pub id: u32,
    /// The dataset whose splits the tasks read.
    pub source: DatasetId,
    /// The source, then each narrow operator applied in turn.
    pub pipeline: Vec<DatasetId>,
    /// Index into `job.saves` of the output this stage writes.
    pub save: usize,
    /// The operator chain for people: `read_text > filter > save`.
    pub ops: String,
}

/// Cuts `job` into stages, one per save, in save order.
///
/// # Errors
/// A message naming the operator when the graph needs something this planner
/// cannot run.
pub fn plan(job: &Job) -> Result<Vec<StagePlan>, String> {
    let mut stages = Vec::new();
    for (save_index, save) in job.saves.iter().enumerate() {
        let mut pipeline = Vec::new();
        let mut id = save.dataset;
        loop {
            let dataset = job
                .datasets
                .get(id)
                .ok_or_else(|| format!("dataset {id} does not exist"))?;
            pipeline.push(id);
            match &dataset.op {
                Op::ReadText { .. } | Op::ReadCsv { .. } => break,
                Op::Filter { input, .. }
                | Op::Map { input, .. }
                | Op::FlatMap { input, .. }
                | Op::Pipe { input, .. } => id = *input,
                other => {
                    return Err(format!(
                        "line {}: `{}` needs a shuffle, which this engine does not run yet",
                        dataset.span.line,
                        other.name()
                    ))
                }
            }
        }
        pipeline.reverse();
        let mut ops: Vec<&str> = pipeline
            .iter()
            .map(|&d| job.datasets[d].op.name())
            .collect();
        ops.push("save");
        stages.push(StagePlan {
            id: stages.len() as u32,
            source: pipeline[0],
            pipeline,
            save: save_index,
            ops: ops.join(" > "),
        });
    }
    Ok(stages)
}
