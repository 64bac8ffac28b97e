//! The executor: runs one task, record by record, from its input (a split
//! of a file, or a reduce partition fetched from the shuffle) through its
//! narrow operators to its output (part files, shuffle files, or a sample).
//!
//! OS idea: streaming. Each operator is an iterator that pulls from the one
//! before it, so a record travels from `read(2)` of the input file through
//! every operator to the `write(2)` of the output before the next one is
//! read: memory stays flat whatever the input size, and nothing touches disk
//! in between. `pipe` splices a child process into the stream: records go to
//! its stdin and come back from its stdout (see `pipe.rs`). Where records
//! must wait for each other (a shuffle, an aggregation, a sort) the task's
//! memory share bounds them and the rest spills to disk (`spill.rs`).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::aggregate::HashAggregator;
use crate::hash::partition_of;
use crate::job::{sep_of, DatasetId, Job, Op, RecordCtx};
use crate::message::{Pair, TaskMetrics, TaskSpec};
use crate::pipe::Pipe;
use crate::plan::{Input, Output, Partitioner, Plan, ShufflePlan};
use crate::record::{Record, SmallBytes};
use crate::reducer;
use crate::rng::Rng;
use crate::shuffle::ShuffleWriter;
use crate::spill::SpillDir;
use crate::split::{Split, SplitReader};
use crate::task::LocalMaps;
use crate::wire::Bytes;

/// A stream of records; an `Err` ends the task with that message.
pub type Records = Box<dyn Iterator<Item = Result<Record, String>> + Send>;

/// How often (in records) a loop checks whether its task was cancelled.
pub const CANCEL_CHECK_EVERY: u64 = 1024;
/// Runs merged at once by the external sort and the aggregator.
pub const MERGE_FAN_IN: usize = 16;

/// What a task may do and use, from the worker's flags.
#[derive(Debug, Clone)]
pub struct TaskEnv {
    /// `pipe` runs arbitrary commands: only with `worker --allow-pipe`.
    pub allow_pipe: bool,
    /// This task's share of the worker's `--memory`, in bytes.
    pub memory_bytes: usize,
    /// Map outputs fetched at once by a reduce task.
    pub fetch_in_flight: usize,
    /// Map outputs on this worker, read from disk rather than fetched.
    pub local_maps: LocalMaps,
}

/// Where an attempt writes; chosen by the worker from the stage's output.
#[derive(Debug, Clone)]
pub enum Destination {
    /// A part file, under a temporary name until the attempt is committed.
    Part(PathBuf),
    /// A map output: data and index files in the work directory.
    Map { data: PathBuf, index: PathBuf },
    /// Nothing on disk: the sampled records go back to the master.
    Sample,
}

/// What a finished attempt reports.
pub struct TaskResult {
    pub metrics: TaskMetrics,
    pub samples: Vec<Pair>,
}

/// Counters shared with iterators that may run on other threads.
#[derive(Default)]
pub struct Counters {
    pub records_in: AtomicU64,
    pub bytes_in: AtomicU64,
    pub fetched_bytes: Arc<AtomicU64>,
}

/// Runs segment `spec.segment` of stage `spec.stage` of `plan`.
///
/// `spill_dir` is created for the task's spill files and removed (with
/// them) when the task ends, whether it succeeds or fails.
///
/// # Errors
/// The first error of any operator, naming what failed; "cancelled" when
/// `cancel` was set.
pub fn run(
    spec: &TaskSpec,
    job: &Arc<Job>,
    plan: &Plan,
    env: &TaskEnv,
    cancel: Arc<AtomicBool>,
    dest: &Destination,
    spill_dir: PathBuf,
) -> Result<TaskResult, String> {
    let started = Instant::now();
    let spill = Arc::new(
        SpillDir::new(spill_dir.clone())
            .map_err(|e| format!("cannot create spill directory {}: {e}", spill_dir.display()))?,
    );
    let counters = Arc::new(Counters::default());
    let result = run_stage(spec, job, plan, env, &cancel, dest, &spill, &counters);
    if cancel.load(Ordering::Relaxed) {
        // Whatever broke (a killed pipe child, say), the cause is the cancel.
        return Err("cancelled".into());
    }
    let (mut metrics, samples) = result?;
    let spilled = spill.stats();
    metrics.records_in = counters.records_in.load(Ordering::Relaxed);
    metrics.bytes_in = counters.bytes_in.load(Ordering::Relaxed);
    metrics.shuffle_read_bytes = counters.fetched_bytes.load(Ordering::Relaxed);
    metrics.spill_bytes = spilled.bytes;
    metrics.spill_records = spilled.records;
    metrics.duration_ms = started.elapsed().as_millis() as u64;
    Ok(TaskResult { metrics, samples })
}

#[allow(clippy::too_many_arguments)]
fn run_stage(
    spec: &TaskSpec,
    job: &Arc<Job>,
    plan: &Plan,
    env: &TaskEnv,
    cancel: &Arc<AtomicBool>,
    dest: &Destination,
    spill: &Arc<SpillDir>,
    counters: &Arc<Counters>,
) -> Result<(TaskMetrics, Vec<Pair>), String> {
    let stage = plan
        .stages
        .get(spec.stage as usize)
        .ok_or_else(|| format!("the job has no stage {}", spec.stage))?;
    let segment = stage
        .segments
        .get(spec.segment as usize)
        .ok_or_else(|| format!("stage {} has no segment {}", spec.stage, spec.segment))?;
    // `input_file()` names the split's file until the records come from
    // somewhere else: a pipe's child process, or the shuffle.
    let (mut records, mut file) = match segment.input {
        Input::Source(d) => (
            source(spec, job, d, Arc::clone(counters), Arc::clone(cancel))?,
            spec.split.path.clone(),
        ),
        Input::Shuffle(w) => (
            reducer::reduce(job, plan, w, spec, env, spill, counters, cancel)?,
            String::new(),
        ),
    };
    for &id in &segment.pipeline {
        records = apply(job, id, &file, records, env, cancel)?;
        if matches!(job.datasets[id].op, Op::Pipe { .. }) {
            file.clear();
        }
    }
    let mut metrics = TaskMetrics::default();
    let mut samples = Vec::new();
    match (stage.output, dest) {
        (Output::Save(_), Destination::Part(path)) => {
            (metrics.records_out, metrics.bytes_out) = write_part(records, path)?;
        }
        (Output::Shuffle(id), Destination::Map { data, index }) => {
            let shuffle = plan
                .shuffles
                .get(id as usize)
                .ok_or_else(|| format!("the job has no shuffle {id}"))?;
            let out = write_shuffle(records, shuffle, spec, env, spill, data, index)?;
            (metrics.records_out, metrics.shuffle_write_bytes) = out;
            metrics.bytes_out = metrics.shuffle_write_bytes;
        }
        (Output::Sample(_), Destination::Sample) => {
            samples = sample(
                records,
                spec.sample_size as usize,
                spec.job_id ^ (u64::from(spec.task) << 20),
            )?;
            metrics.records_out = samples.len() as u64;
        }
        (output, dest) => return Err(format!("stage output {output:?} cannot go to {dest:?}")),
    }
    Ok((metrics, samples))
}

/// Writes records one per line to `out` (created with its parent
/// directories); returns records and bytes written.
fn write_part(records: Records, out: &Path) -> Result<(u64, u64), String> {
    if let Some(dir) = out.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let file = File::create(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    // One write(2) per 256 KiB, not per record.
    let mut writer = BufWriter::with_capacity(256 * 1024, file);
    let (mut records_out, mut bytes_out) = (0u64, 0u64);
    let write_err = |e: std::io::Error| format!("writing {}: {e}", out.display());
    for record in records {
        let record = record?;
        // `key<TAB>value`, written in pieces rather than built first.
        if let Some(key) = &record.key {
            writer.write_all(key).map_err(write_err)?;
            writer.write_all(b"\t").map_err(write_err)?;
        }
        writer.write_all(&record.value).map_err(write_err)?;
        writer.write_all(b"\n").map_err(write_err)?;
        records_out += 1;
        bytes_out += record.size() as u64 + 1;
    }
    let file = writer.into_inner().map_err(|e| write_err(e.into_error()))?;
    // The output must be on disk before it is committed by a link.
    file.sync_all().map_err(write_err)?;
    Ok((records_out, bytes_out))
}

/// Sends each record to its reduce partition; `reduce_by_key` first
/// combines values per key (the map-side combiner). Returns records and
/// bytes written.
fn write_shuffle(
    records: Records,
    shuffle: &ShufflePlan,
    spec: &TaskSpec,
    env: &TaskEnv,
    spill: &Arc<SpillDir>,
    data: &Path,
    index: &Path,
) -> Result<(u64, u64), String> {
    if let Some(dir) = data.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let place = Place::new(shuffle, &spec.boundaries);
    let needs_key = !shuffle.by_whole_record;
    let wide = shuffle.wide;
    let keyless =
        move || format!("dataset {wide} needs key-value records; make them with map(key, value)");
    let mut written = 0u64;
    let writer = match &shuffle.combine {
        Some(agg) => {
            // The combiner and the writer share the task's memory.
            let mut combiner = HashAggregator::new(
                agg.clone(),
                env.memory_bytes / 2,
                MERGE_FAN_IN,
                Arc::clone(spill),
            );
            let base = u64::from(spec.task) << 32;
            for (seq, record) in records.enumerate() {
                let record = record?;
                let key = record.key.as_deref().ok_or_else(keyless)?;
                combiner.add(key, &record.value, base | seq as u64)?;
            }
            let mut writer =
                ShuffleWriter::new(shuffle.partitions, env.memory_bytes / 2, Arc::clone(spill));
            for record in combiner.finish_partial()? {
                let record = record?;
                writer.write(place.partition(&record), &record)?;
                written += 1;
            }
            writer
        }
        None => {
            let mut writer =
                ShuffleWriter::new(shuffle.partitions, env.memory_bytes, Arc::clone(spill));
            for record in records {
                let record = record?;
                if needs_key && record.key.is_none() {
                    return Err(keyless());
                }
                writer.write(place.partition(&record), &record)?;
                written += 1;
            }
            writer
        }
    };
    let bytes = writer.finish(data, index)?;
    Ok((written, bytes))
}

/// Which reduce partition a record goes to.
enum Place<'a> {
    /// `partition_hash(key) % partitions`; `distinct` hashes the whole record.
    Hash { partitions: u32, whole_record: bool },
    /// The number of boundaries at or below the record's (key, value).
    Range { boundaries: &'a [Pair] },
}

impl<'a> Place<'a> {
    fn new(shuffle: &ShufflePlan, boundaries: &'a [Pair]) -> Place<'a> {
        match shuffle.partitioner {
            Partitioner::Hash => Place::Hash {
                partitions: shuffle.partitions,
                whole_record: shuffle.by_whole_record,
            },
            Partitioner::Range => Place::Range { boundaries },
        }
    }

    fn partition(&self, r: &Record) -> u32 {
        match self {
            Place::Hash {
                partitions,
                whole_record,
            } => match (&r.key, whole_record) {
                (Some(k), false) => partition_of(k, *partitions),
                _ => partition_of(&r.to_line(), *partitions),
            },
            Place::Range { boundaries } => {
                let key = r.key.as_deref().unwrap_or_default();
                boundaries
                    .partition_point(|b| (&b.key.0[..], &b.value.0[..]) <= (key, &r.value[..]))
                    as u32
            }
        }
    }
}

/// A uniform sample of at most `size` records (reservoir sampling, seeded
/// so a retried attempt samples the same records).
fn sample(records: Records, size: usize, seed: u64) -> Result<Vec<Pair>, String> {
    let mut rng = Rng::new(seed);
    let mut kept: Vec<Pair> = Vec::with_capacity(size);
    for (i, record) in records.enumerate() {
        let record = record?;
        let slot = if i < size {
            Some(i)
        } else {
            Some(rng.below(i as u64 + 1) as usize).filter(|&j| j < size)
        };
        if let Some(j) = slot {
            let pair = Pair {
                key: Bytes(record.key.unwrap_or_default().into_vec()),
                value: Bytes(record.value.into_vec()),
            };
            if j == kept.len() {
                kept.push(pair);
            } else {
                kept[j] = pair;
            }
        }
    }
    Ok(kept)
}

/// The records of the task's split, read by the pipeline's first dataset.
fn source(
    spec: &TaskSpec,
    job: &Job,
    dataset: DatasetId,
    counters: Arc<Counters>,
    cancel: Arc<AtomicBool>,
) -> Result<Records, String> {
    let skip_header = match &job
        .datasets
        .get(dataset)
        .ok_or("unknown source dataset")?
        .op
    {
        Op::ReadText { .. } => false,
        Op::ReadCsv { header, .. } => *header && spec.split.start == 0,
        other => return Err(format!("a task cannot start at `{}`", other.name())),
    };
    let split = Split {
        path: spec.split.path.clone(),
        start: spec.split.start,
        len: spec.split.len,
    };
    let reader = SplitReader::open(&split)?;
    Ok(Box::new(SourceIter {
        reader,
        skip_header,
        counters,
        cancel,
        done: false,
    }))
}

struct SourceIter {
    reader: SplitReader,
    skip_header: bool,
    counters: Arc<Counters>,
    cancel: Arc<AtomicBool>,
    done: bool,
}

impl Iterator for SourceIter {
    type Item = Result<Record, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            let n = self.counters.records_in.load(Ordering::Relaxed);
            if n.is_multiple_of(CANCEL_CHECK_EVERY) && self.cancel.load(Ordering::Relaxed) {
                self.done = true;
                return Some(Err("cancelled".into()));
            }
            let line = match self.reader.next_line() {
                Ok(Some(line)) => line.to_vec(),
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            self.counters.records_in.fetch_add(1, Ordering::Relaxed);
            self.counters
                .bytes_in
                .fetch_add(line.len() as u64 + 1, Ordering::Relaxed);
            if self.skip_header {
                self.skip_header = false;
                continue;
            }
            return Some(Ok(Record::line(line)));
        }
    }
}

/// `flat_map`: each element of the expression's list becomes a record.
struct FlatMap {
    input: Records,
    expr: crate::job::Expr,
    file: String,
    sep: Option<u8>,
    pending: std::vec::IntoIter<SmallBytes>,
}

impl Iterator for FlatMap {
    type Item = Result<Record, String>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.pending.next() {
                return Some(Ok(Record::line(item)));
            }
            let record = match self.input.next()? {
                Ok(record) => record,
                Err(e) => return Some(Err(e)),
            };
            let ctx = RecordCtx {
                record: &record,
                file: &self.file,
                sep: self.sep,
            };
            match self.expr.eval_items(&ctx) {
                Ok(items) => self.pending = items.into_iter(),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// Wraps `input` in the operator of dataset `id`.
fn apply(
    job: &Arc<Job>,
    id: usize,
    file: &str,
    input: Records,
    env: &TaskEnv,
    cancel: &Arc<AtomicBool>,
) -> Result<Records, String> {
    let dataset = job
        .datasets
        .get(id)
        .ok_or_else(|| format!("unknown dataset {id}"))?;
    let input_id = dataset.op.inputs().first().copied().unwrap_or(id);
    let sep = sep_of(job, input_id);
    let file = file.to_string();
    let records: Records = match &dataset.op {
        Op::Filter { pred, .. } => {
            let pred = pred.clone();
            Box::new(input.filter_map(move |r| {
                let record = match r {
                    Ok(record) => record,
                    Err(e) => return Some(Err(e)),
                };
                let ctx = RecordCtx {
                    record: &record,
                    file: &file,
                    sep,
                };
                match pred.eval_bool(&ctx) {
                    Ok(true) => Some(Ok(record)),
                    Ok(false) => None,
                    Err(e) => Some(Err(e)),
                }
            }))
        }
        Op::Map { key, value, .. } => {
            let (key, value) = (key.clone(), value.clone());
            // A constant value (`map($0, 1)`) is printed once, not per record.
            let constant = value
                .constant()
                .map(|v| SmallBytes::from(v.clone().into_bytes()));
            Box::new(input.map(move |r| {
                let record = r?;
                let ctx = RecordCtx {
                    record: &record,
                    file: &file,
                    sep,
                };
                let v = match &constant {
                    Some(c) => c.clone(),
                    None => value.eval_small(&ctx)?,
                };
                Ok(match &key {
                    None => Record::line(v),
                    Some(k) => Record::pair(k.eval_small(&ctx)?, v),
                })
            }))
        }
        Op::FlatMap { expr, .. } => Box::new(FlatMap {
            input,
            expr: expr.clone(),
            file,
            sep,
            pending: Vec::new().into_iter(),
        }),
        Op::Pipe { command, .. } => {
            if !env.allow_pipe {
                return Err(format!(
                    "pipe({command:?}) refused: this worker runs commands only when started with --allow-pipe"
                ));
            }
            let lines = input.map(|r| r.map(|record| record.to_line().into_owned()));
            let pipe = Pipe::spawn(command, lines, Arc::clone(cancel))?;
            Box::new(pipe.map(|r| r.map(Record::line)))
        }
        other => {
            return Err(format!(
                "`{}` cannot run inside a task pipeline",
                other.name()
            ))
        }
    };
    Ok(records)
}
