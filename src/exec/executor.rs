//! The executor: runs one task, record by record, from its input (a split
//! of a file, or a reduce partition fetched from the shuffle) through its
//! narrow operators to its output (part files, shuffle files, or a sample).
//!
//! It is the entry point of `exec/`: `run` gets the task's spec and its
//! `TaskEnv` (`env.rs`) and wires up the rest.
//!
//! OS idea: streaming. The task's narrow operators are fused into one
//! `Chain` (`chain.rs`), and the input loop pushes each record through it
//! into a `Sink`: the part file's buffer, the shuffle writer, the map-side
//! combiner, `distinct`'s set or the sampler. A record travels from
//! `read(2)` of the input file through every operator to the `write(2)` of
//! the output before the next one is read, as nested calls with no queue
//! between them: memory stays flat whatever the input size, and nothing
//! touches disk in between.
//! Records are pulled, as an iterator, only where the next part runs
//! elsewhere: `pipe` splices a child process into the stream, so the chain
//! before it is an iterator that the pipe's feeder thread pulls into the
//! child's stdin, and the lines of the child's stdout are the next chain's
//! input (`pipe.rs`); a reduce task's input is the iterator the reducer
//! makes of its fetched partition (`reducer.rs`). Where records must wait
//! for each other (a shuffle, an aggregation, a sort) the task's memory
//! share bounds them and the rest spills to disk (`storage/spill.rs`).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use crate::exec::chain::{Chain, Sink};
use crate::exec::digest::Digest;
use crate::exec::env::{Counters, Failure, Records, Tally, TaskEnv, MERGE_FAN_IN};
use crate::exec::gather::{Counter, First};
use crate::exec::order::{self, SortKeys};
use crate::exec::pipe::Pipe;
use crate::exec::reducer::{self, Reduced};
use crate::exec::split::{first_line, line_number, Split, SplitReader};
use crate::job::{
    check_quotes, find_columns, BadQuote, Column, Combine, DatasetId, Input, Job, Op, Output,
    Partitioner, Plan, ShufflePlan,
};
use crate::lock;
use crate::protocol::{Bytes, Pair, TaskMetrics, TaskSpec};
use crate::record::{Record, RecordRef};
use crate::rng::Rng;
use crate::storage::{partition_of, DistinctSet, HashAggregator, ShuffleWriter, Sorted, SpillDir};

/// Where an attempt writes; chosen by the worker from the stage's output.
#[derive(Debug, Clone)]
pub enum Destination {
    /// A part file, under a temporary name until the attempt is committed.
    Part(PathBuf),
    /// A map output: data and index files in the work directory.
    Map { data: PathBuf, index: PathBuf },
    /// Nothing on disk: what the task finds (a sample of its records, or
    /// their digest) goes back to the master.
    Master,
}

/// What a finished attempt reports.
pub struct TaskResult {
    pub metrics: TaskMetrics,
    pub samples: Vec<Pair>,
}

/// Runs segment `spec.segment` of stage `spec.stage` of `plan`, writing
/// each of the stage's outputs to its place in `dests`.
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
    dests: &[Destination],
    spill_dir: PathBuf,
) -> Result<TaskResult, Failure> {
    let started = Instant::now();
    let spill = Arc::new(
        SpillDir::new(spill_dir.clone())
            .map_err(|e| format!("cannot create spill directory {}: {e}", spill_dir.display()))?,
    );
    let counters = Arc::new(Counters::default());
    let result = run_stage(spec, job, plan, env, &cancel, dests, &spill, &counters);
    if cancel.load(Ordering::Relaxed) {
        // Whatever broke (a killed pipe child, say), the cause is the cancel.
        return Err(Failure::from("cancelled".to_string()));
    }
    let (mut metrics, samples) = result.map_err(|error| Failure {
        error,
        fetch: lock(&counters.fetch_failure).take(),
    })?;
    let spilled = spill.stats();
    metrics.records_in = counters.records_in.load(Ordering::Relaxed);
    metrics.bytes_in = counters.bytes_in.load(Ordering::Relaxed);
    // A cached partition is fetched as a map output is, but is no shuffle.
    match metrics.cache_hits {
        0 => metrics.shuffle_read_bytes = counters.fetched_bytes.load(Ordering::Relaxed),
        _ => metrics.cache_bytes = counters.fetched_bytes.load(Ordering::Relaxed),
    }
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
    dests: &[Destination],
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
    // somewhere else: a pipe's child process, or the shuffle. `$name`
    // names a field of the file's header until then too.
    if dests.len() != stage.outputs.len() {
        return Err(format!(
            "stage {} has {} outputs, the task was given {} places to write",
            spec.stage,
            stage.outputs.len(),
            dests.len()
        ));
    }
    let cx = Cx {
        spec,
        job,
        plan,
        env,
        cancel,
        spill,
    };
    if let Some(sampled) = sample_windows(
        &cx,
        &stage.outputs,
        &segment.input,
        &segment.pipelines,
        counters,
    )? {
        return Ok(sampled);
    }
    let mut columns = None;
    let (input, file) = match segment.input {
        Input::Source(d) => {
            let mut source = source(&spec.split, job, d, counters, cancel)?;
            columns = source.columns.take();
            (TaskInput::Split(Box::new(source)), spec.split.path.clone())
        }
        Input::Shuffle(w) => (
            match reducer::reduce(job, plan, w, spec, env, spill, counters, cancel)? {
                Reduced::Records(records) => TaskInput::Records(records),
                Reduced::Sorted(sorted) => TaskInput::Sorted(sorted),
            },
            String::new(),
        ),
        Input::Cache(d) => (
            TaskInput::Records(reducer::cached(plan, d, spec, env, counters, cancel)?),
            String::new(),
        ),
    };
    let mut metrics = TaskMetrics::default();
    if let Input::Cache(_) = segment.input {
        metrics.cache_hits = 1;
    }
    let outputs: Vec<Out<'_>> = stage
        .outputs
        .iter()
        .zip(&segment.pipelines)
        .zip(dests)
        .map(|((&output, pipeline), dest)| Out {
            output,
            pipeline,
            dest,
        })
        .collect();
    let (written, samples) = match &outputs[..] {
        [out] => run_output(&cx, input, file, columns, out)?,
        _ => tee(&cx, input, file, columns, &outputs)?,
    };
    metrics.records_out = written.records_out;
    metrics.bytes_out = written.bytes_out;
    metrics.shuffle_write_bytes = written.shuffle_write_bytes;
    Ok((metrics, samples))
}

/// Windows a sample task reads of its split, and the bytes of each: 2 MiB
/// in all, spread evenly over the split.
const SAMPLE_WINDOWS: u64 = 16;
const SAMPLE_WINDOW_BYTES: u64 = 128 * 1024;

/// A sort's sample task reads `SAMPLE_WINDOWS` windows spread over its
/// split instead of all of it: the sample only balances the partitions (any
/// boundaries give the right order), and reading the whole input once more
/// just to keep a hundred of its records cost a quarter of a sort's time.
/// Windows that give fewer records than the sample wants (a filter that
/// keeps few) are followed by the whole split, as before. `None` when the
/// task is no sample of a split, the split is small, or a `pipe` runs
/// (whose child must see whole input).
fn sample_windows(
    cx: &Cx<'_>,
    outputs: &[Output],
    input: &Input,
    pipelines: &[Vec<DatasetId>],
    counters: &Arc<Counters>,
) -> Result<Option<(TaskMetrics, Vec<Pair>)>, String> {
    let (&Input::Source(d), [output @ Output::Sample(_)], [pipeline]) = (input, outputs, pipelines)
    else {
        return Ok(None);
    };
    let piped = pipeline.iter().any(|&id| {
        matches!(
            cx.job.datasets.get(id).map(|d| &d.op),
            Some(Op::Pipe { .. })
        )
    });
    let split = &cx.spec.split;
    if piped || split.len <= SAMPLE_WINDOWS * SAMPLE_WINDOW_BYTES * 2 {
        return Ok(None);
    }
    let stride = split.len / SAMPLE_WINDOWS;
    let mut sources = Vec::new();
    for w in 0..SAMPLE_WINDOWS {
        let window = crate::protocol::SplitInfo {
            path: split.path.clone(),
            start: split.start + w * stride,
            len: SAMPLE_WINDOW_BYTES,
        };
        sources.push(source(&window, cx.job, d, counters, cx.cancel)?);
    }
    let columns = sources[0].columns.take();
    let out = Out {
        output: *output,
        pipeline,
        dest: &Destination::Master,
    };
    let input = TaskInput::Windows(sources);
    let (metrics, samples) = run_output(cx, input, split.path.clone(), columns, &out)?;
    if samples.len() < cx.spec.sample_size as usize {
        // Too few: the whole split is read after all, and counted alone.
        counters.records_in.store(0, Ordering::Relaxed);
        counters.bytes_in.store(0, Ordering::Relaxed);
        return Ok(None);
    }
    Ok(Some((metrics, samples)))
}

/// What every output of a task shares.
struct Cx<'a> {
    spec: &'a TaskSpec,
    job: &'a Arc<Job>,
    plan: &'a Plan,
    env: &'a TaskEnv,
    cancel: &'a Arc<AtomicBool>,
    spill: &'a Arc<SpillDir>,
}

/// One output of a task: where it goes, and the narrow operators that
/// make its records from the task's input.
struct Out<'a> {
    output: Output,
    pipeline: &'a [DatasetId],
    dest: &'a Destination,
}

/// Records in a batch sent from the scan to each output of a task with
/// several (`tee`).
const TEE_BATCH: usize = 512;

/// Batches in flight to each output: the scan waits when an output falls
/// this far behind, so memory stays bounded whatever the input's size.
const TEE_DEPTH: usize = 4;

/// One scan of the input for several outputs (a stage whose input feeds
/// several consumers, `plan.rs`'s `share_scans`). The narrow operators
/// every output begins with run once, here; then each record goes, in
/// batches over a bounded channel, to one thread per output, which runs the
/// rest of that output's operators and writes it as a task with that one
/// output would (`run_output`), with an equal share of the task's memory.
///
/// OS idea: `tee(1)` with pipes. Each consumer reads at its own pace; the
/// bounded channel is the pipe buffer, and a full one blocks the writer.
fn tee(
    cx: &Cx<'_>,
    input: TaskInput,
    file: String,
    columns: Option<Vec<u32>>,
    outputs: &[Out<'_>],
) -> Result<(TaskMetrics, Vec<Pair>), String> {
    let shared = common_prefix(outputs.iter().map(|o| o.pipeline));
    let mut chain = Chain::new(cx.job, &outputs[0].pipeline[..shared], &file)?;
    if let Some(fields) = &columns {
        chain.bind_columns(fields);
    }
    let mut env = cx.env.clone();
    env.memory_bytes /= outputs.len();
    let branch_cx = Cx { env: &env, ..*cx };
    std::thread::scope(|scope| {
        let mut senders = Vec::new();
        let mut branches = Vec::new();
        for out in outputs {
            let (tx, rx) = mpsc::sync_channel::<Vec<Record>>(TEE_DEPTH);
            senders.push(tx);
            let records: Records = Box::new(rx.into_iter().flatten().map(Ok));
            let rest = Out {
                pipeline: &out.pipeline[shared..],
                ..*out
            };
            let (file, branch_cx) = (file.clone(), &branch_cx);
            let spawned = std::thread::Builder::new()
                .name("tee".into())
                .spawn_scoped(scope, move || {
                    run_output(branch_cx, TaskInput::Records(records), file, None, &rest)
                })
                .map_err(|e| format!("starting a thread for an output: {e}"))?;
            branches.push(spawned);
        }
        let mut sink = Tee {
            senders,
            batch: Vec::with_capacity(TEE_BATCH),
        };
        let scanned = input.drain(&chain, &mut sink).and_then(|()| sink.flush());
        drop(sink);
        let mut total = TaskMetrics::default();
        let mut first_error = None;
        for branch in branches {
            match branch.join() {
                Ok(Ok((m, _))) => {
                    total.records_out += m.records_out;
                    total.bytes_out += m.bytes_out;
                    total.shuffle_write_bytes += m.shuffle_write_bytes;
                }
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(_) => {
                    first_error.get_or_insert("an output's thread panicked".to_string());
                }
            }
        }
        // An output that failed stops the scan: its error is the cause.
        match (first_error, scanned) {
            (Some(e), _) | (None, Err(e)) => Err(e),
            (None, Ok(())) => Ok((total, Vec::new())),
        }
    })
}

/// How many narrow operators all of `pipelines` begin with.
fn common_prefix<'a>(mut pipelines: impl Iterator<Item = &'a [DatasetId]>) -> usize {
    let Some(first) = pipelines.next() else {
        return 0;
    };
    pipelines.fold(first.len(), |n, p| {
        first
            .iter()
            .zip(p)
            .take(n)
            .take_while(|(a, b)| a == b)
            .count()
    })
}

/// The scan's side of `tee`: batches of records, one copy per output.
struct Tee {
    senders: Vec<mpsc::SyncSender<Vec<Record>>>,
    batch: Vec<Record>,
}

impl Tee {
    fn flush(&mut self) -> Result<(), String> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(TEE_BATCH));
        let (last, others) = self.senders.split_last().ok_or("a tee with no outputs")?;
        for tx in others {
            tx.send(batch.clone())
                .map_err(|_| "an output stopped reading".to_string())?;
        }
        last.send(batch)
            .map_err(|_| "an output stopped reading".to_string())
    }
}

impl Sink for Tee {
    fn push(&mut self, record: RecordRef<'_>) -> Result<(), String> {
        self.batch.push(record.to_record());
        if self.batch.len() == TEE_BATCH {
            self.flush()?;
        }
        Ok(())
    }
}

/// Makes and writes one output of a task from its input: its narrow
/// operators (a `pipe` splices a child process in), then where it goes.
/// Returns what it wrote (records out, bytes out, shuffle bytes written)
/// and what goes back to the master (a sample, a digest).
fn run_output(
    cx: &Cx<'_>,
    mut input: TaskInput,
    mut file: String,
    mut columns: Option<Vec<u32>>,
    out: &Out<'_>,
) -> Result<(TaskMetrics, Vec<Pair>), String> {
    let Cx {
        spec,
        job,
        plan,
        env,
        cancel,
        spill,
    } = *cx;
    // A `sort_by` expression over the source's records names its columns too.
    let source_columns = columns.clone();
    // Narrow operators fuse into one chain; a pipe ends the chain before it
    // (whose records its feeder thread pulls) and starts a new one.
    let mut narrow = Vec::new();
    for &id in out.pipeline {
        let Some(Op::Pipe { command, .. }) = job.datasets.get(id).map(|d| &d.op) else {
            narrow.push(id);
            continue;
        };
        if !env.allow_pipe {
            return Err(format!(
                "pipe({command:?}) refused: this worker runs commands only when started with --allow-pipe"
            ));
        }
        let mut chain = Chain::new(job, &narrow, &file)?;
        if let Some(fields) = columns.take() {
            chain.bind_columns(&fields);
        }
        let lines = chain
            .iter(input.into_records())
            .map(|r| r.map(|record| record.to_line().into_owned()));
        let pipe = Pipe::spawn(command, lines, Arc::clone(cancel))?;
        input = TaskInput::Records(Box::new(pipe.map(|r| r.map(Record::line))));
        narrow.clear();
        file.clear();
    }
    let mut chain = Chain::new(job, &narrow, &file)?;
    if let Some(fields) = columns.take() {
        chain.bind_columns(&fields);
    }
    // A sort in another order than key bytes keys the records for it, for
    // the sample and the shuffle alike.
    let how = match out.output {
        Output::Shuffle(id) | Output::Sample(id) => {
            let shuffle = plan
                .shuffles
                .get(id as usize)
                .ok_or_else(|| format!("the job has no shuffle {id}"))?;
            order::How::of(job, shuffle, &file, source_columns.as_deref())?
        }
        Output::Save(_) | Output::Check(_) => None,
    };
    let mut metrics = TaskMetrics::default();
    let mut samples = Vec::new();
    match (out.output, out.dest) {
        (Output::Save(_), Destination::Part(path)) => {
            (metrics.records_out, metrics.bytes_out) = write_part(input, &chain, path)?;
        }
        (Output::Shuffle(id), Destination::Map { data, index }) => {
            let shuffle = plan
                .shuffles
                .get(id as usize)
                .ok_or_else(|| format!("the job has no shuffle {id}"))?;
            let out = write_shuffle(
                input,
                &chain,
                shuffle,
                how.as_ref(),
                spec,
                env,
                spill,
                (data, index),
            )?;
            (metrics.records_out, metrics.shuffle_write_bytes) = out;
            metrics.bytes_out = metrics.shuffle_write_bytes;
        }
        (Output::Check(_), Destination::Master) => {
            let mut digest = DigestSink(Digest::default());
            input.drain(&chain, &mut digest)?;
            metrics.records_out = digest.0.records;
            let (records, sums) = digest.0.to_text();
            samples = vec![Pair {
                key: Bytes(records.into_bytes()),
                value: Bytes(sums.into_bytes()),
            }];
        }
        (Output::Sample(_), Destination::Master) => {
            let seed = spec.job_id ^ (u64::from(spec.task) << 20);
            let mut sampler = Sampler::new(spec.sample_size as usize, seed);
            match &how {
                Some(how) => input.drain(&chain, &mut SortKeys::new(how, &mut sampler))?,
                None => input.drain(&chain, &mut sampler)?,
            }
            samples = sampler.kept;
            metrics.records_out = samples.len() as u64;
        }
        (output, dest) => return Err(format!("stage output {output:?} cannot go to {dest:?}")),
    }
    Ok((metrics, samples))
}

/// Where a task's records come from.
enum TaskInput {
    /// The lines of its split, each handed on straight from the read buffer.
    Split(Box<Source>),
    /// The lines of several windows of its split, one after another (a
    /// sample task's, `sample_windows`).
    Windows(Vec<Source>),
    /// Records made by something else: the reducer, or a pipe's child.
    Records(Records),
    /// A sort's records, lent from its buffer (`reducer::Reduced`).
    Sorted(Sorted),
}

impl TaskInput {
    /// Pushes every record through `chain` into `sink`, or until the sink
    /// is full.
    fn drain(self, chain: &Chain, sink: &mut dyn Sink) -> Result<(), String> {
        match self {
            TaskInput::Split(source) => source.drain(chain, sink)?,
            TaskInput::Windows(sources) => {
                for source in sources {
                    source.drain(chain, sink)?;
                }
            }
            TaskInput::Records(records) => {
                for record in records {
                    if sink.full() {
                        break;
                    }
                    chain.push(record?.as_ref(), sink)?;
                }
            }
            TaskInput::Sorted(sorted) => sorted.try_for_each_ref(|record| {
                if sink.full() {
                    return Ok(ControlFlow::Break(()));
                }
                chain.push(record, sink).map(ControlFlow::Continue)
            })?,
        }
        Ok(())
    }

    /// The records as an iterator, for a consumer that pulls.
    fn into_records(self) -> Records {
        match self {
            TaskInput::Split(source) => Box::new(SourceIter(*source)),
            TaskInput::Windows(sources) => Box::new(sources.into_iter().flat_map(SourceIter)),
            TaskInput::Records(records) => records,
            TaskInput::Sorted(sorted) => Box::new(sorted),
        }
    }
}

/// Writes records one per line to `out` (created with its parent
/// directories); returns records and bytes written.
fn write_part(input: TaskInput, chain: &Chain, out: &Path) -> Result<(u64, u64), String> {
    if let Some(dir) = out.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let file = File::create(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut part = PartWriter {
        // One write(2) per 256 KiB, not per record.
        out: BufWriter::with_capacity(256 * 1024, file),
        path: out,
        records: 0,
        bytes: 0,
    };
    input.drain(chain, &mut part)?;
    let write_err = |e: std::io::Error| format!("writing {}: {e}", out.display());
    let file = part
        .out
        .into_inner()
        .map_err(|e| write_err(e.into_error()))?;
    // The output must be on disk before it is committed by a link.
    file.sync_all().map_err(write_err)?;
    Ok((part.records, part.bytes))
}

struct PartWriter<'a> {
    out: BufWriter<File>,
    path: &'a Path,
    records: u64,
    bytes: u64,
}

impl Sink for PartWriter<'_> {
    fn push(&mut self, record: RecordRef<'_>) -> Result<(), String> {
        // `key<TAB>value`, written in pieces rather than built first.
        let mut write = |bytes: &[u8]| {
            self.out
                .write_all(bytes)
                .map_err(|e| format!("writing {}: {e}", self.path.display()))
        };
        if let Some(key) = record.key {
            write(key)?;
            write(b"\t")?;
        }
        write(record.value)?;
        write(b"\n")?;
        self.records += 1;
        self.bytes += record.size() as u64 + 1;
        Ok(())
    }
}

/// Sends each record to its reduce partition; `reduce_by_key` first
/// combines values per key (the map-side combiner), `distinct` first drops
/// repeated records, a sort in another order keys them for it (`how`),
/// `take` sends the first few, `count` only their number. Returns records
/// and bytes written.
#[allow(clippy::too_many_arguments)]
fn write_shuffle(
    input: TaskInput,
    chain: &Chain,
    shuffle: &ShufflePlan,
    how: Option<&order::How>,
    spec: &TaskSpec,
    env: &TaskEnv,
    spill: &Arc<SpillDir>,
    (data, index): (&Path, &Path),
) -> Result<(u64, u64), String> {
    if let Some(dir) = data.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let wide = shuffle.wide;
    // With a combine, its table and the writer share the task's memory.
    let budget = match shuffle.combine {
        Some(Combine::Aggregate(_) | Combine::Distinct) => env.memory_bytes / 2,
        _ => env.memory_bytes,
    };
    let mut out = ShuffleSink {
        place: Place::new(shuffle, &spec.boundaries),
        writer: ShuffleWriter::new(shuffle.partitions, budget, Arc::clone(spill)),
        needs_key: !shuffle.by_whole_record,
        wide,
        written: 0,
    };
    match &shuffle.combine {
        Some(Combine::Aggregate(aggs)) => {
            let mut combiner = Combiner {
                table: HashAggregator::new(aggs.clone(), budget, MERGE_FAN_IN, Arc::clone(spill)),
                next_ord: u64::from(spec.task) << 32,
                wide,
            };
            input.drain(chain, &mut combiner)?;
            for record in combiner.table.finish_partial()? {
                out.push(record?.as_ref())?;
            }
        }
        Some(Combine::Distinct) => {
            let mut set = DistinctSet::new(budget, MERGE_FAN_IN, Arc::clone(spill));
            input.drain(chain, &mut set)?;
            for record in set.finish()? {
                out.push(record?.as_ref())?;
            }
        }
        Some(Combine::Take(n)) => input.drain(chain, &mut First::new(*n, spec.task, &mut out))?,
        Some(Combine::Count) => {
            let mut counter = Counter::default();
            input.drain(chain, &mut counter)?;
            counter.send(&mut out)?;
        }
        Some(Combine::SortKey(_) | Combine::SortBy(_)) | None => match how {
            Some(how) => input.drain(chain, &mut SortKeys::new(how, &mut out))?,
            None => input.drain(chain, &mut out)?,
        },
    }
    let bytes = out.writer.finish(data, index)?;
    Ok((out.written, bytes))
}

fn keyless(wide: DatasetId) -> String {
    format!("dataset {wide} needs key-value records; make them with map(key, value)")
}

struct ShuffleSink<'a> {
    place: Place<'a>,
    writer: ShuffleWriter,
    needs_key: bool,
    /// The wide dataset the shuffle feeds, for error messages.
    wide: DatasetId,
    written: u64,
}

impl Sink for ShuffleSink<'_> {
    fn push(&mut self, record: RecordRef<'_>) -> Result<(), String> {
        if self.needs_key && record.key.is_none() {
            return Err(keyless(self.wide));
        }
        self.writer.write(self.place.partition(record), record)?;
        self.written += 1;
        Ok(())
    }
}

/// The map-side combiner: values folded per key before the shuffle.
struct Combiner {
    table: HashAggregator,
    /// Each value's position in the task's input (`first` keeps the
    /// earliest), unique across the map tasks.
    next_ord: u64,
    wide: DatasetId,
}

impl Sink for Combiner {
    fn push(&mut self, record: RecordRef<'_>) -> Result<(), String> {
        let key = record.key.ok_or_else(|| keyless(self.wide))?;
        self.next_ord += 1;
        self.table.add(key, record.value, self.next_ord)
    }
}

/// `distinct`'s map side: each record once.
impl Sink for DistinctSet {
    fn push(&mut self, record: RecordRef<'_>) -> Result<(), String> {
        self.add(record)
    }
}

/// Which reduce partition a record goes to.
enum Place<'a> {
    /// `partition_hash(key) % partitions`; `distinct` hashes the whole record.
    Hash { partitions: u32, whole_record: bool },
    /// The number of boundaries at or below the record's (key, value).
    Range { boundaries: &'a [Pair] },
    /// A cached partition: one, kept whole.
    One,
}

impl<'a> Place<'a> {
    fn new(shuffle: &ShufflePlan, boundaries: &'a [Pair]) -> Place<'a> {
        match shuffle.partitioner {
            Partitioner::Hash => Place::Hash {
                partitions: shuffle.partitions,
                whole_record: shuffle.by_whole_record,
            },
            Partitioner::Range => Place::Range { boundaries },
            Partitioner::Cache => Place::One,
        }
    }

    fn partition(&self, r: RecordRef<'_>) -> u32 {
        match self {
            Place::Hash {
                partitions,
                whole_record,
            } => match (r.key, whole_record) {
                (Some(k), false) => partition_of(k, *partitions),
                _ => partition_of(&r.to_line(), *partitions),
            },
            Place::Range { boundaries } => {
                let key = r.key.unwrap_or_default();
                boundaries.partition_point(|b| (&b.key.0[..], &b.value.0[..]) <= (key, r.value))
                    as u32
            }
            Place::One => 0,
        }
    }
}

/// Adds every record to a digest.
struct DigestSink(Digest);

impl Sink for DigestSink {
    fn push(&mut self, record: RecordRef<'_>) -> Result<(), String> {
        self.0.add(record);
        Ok(())
    }
}

/// A uniform sample of at most `size` records (reservoir sampling, seeded
/// so a retried attempt samples the same records).
struct Sampler {
    rng: Rng,
    size: usize,
    seen: u64,
    kept: Vec<Pair>,
}

impl Sampler {
    fn new(size: usize, seed: u64) -> Sampler {
        Sampler {
            rng: Rng::new(seed),
            size,
            seen: 0,
            kept: Vec::with_capacity(size),
        }
    }
}

impl Sink for Sampler {
    fn push(&mut self, record: RecordRef<'_>) -> Result<(), String> {
        let i = self.seen;
        self.seen += 1;
        let slot = if (i as usize) < self.size {
            i as usize
        } else {
            self.rng.below(i + 1) as usize
        };
        if slot < self.size {
            let pair = Pair {
                key: Bytes(record.key.unwrap_or_default().to_vec()),
                value: Bytes(record.value.to_vec()),
            };
            if slot == self.kept.len() {
                self.kept.push(pair);
            } else {
                self.kept[slot] = pair;
            }
        }
        Ok(())
    }
}

/// The lines of the task's split, read by the pipeline's first dataset.
fn source(
    split: &crate::protocol::SplitInfo,
    job: &Job,
    dataset: DatasetId,
    counters: &Arc<Counters>,
    cancel: &Arc<AtomicBool>,
) -> Result<Source, String> {
    let no_columns: &[Column] = &[];
    let (skip_header, quoted, columns, sep) = match &job
        .datasets
        .get(dataset)
        .ok_or("unknown source dataset")?
        .op
    {
        Op::ReadText { .. } => (false, None, no_columns, &[][..]),
        Op::ReadCsv {
            header,
            sep,
            quotes,
            columns,
            ..
        } => (
            *header && split.start == 0,
            quotes.then(|| sep.clone()),
            if *header { &columns[..] } else { no_columns },
            &sep[..],
        ),
        other => return Err(format!("a task cannot start at `{}`", other.name())),
    };
    let split = Split {
        path: split.path.clone(),
        start: split.start,
        len: split.len,
    };
    let mut reader = SplitReader::open(&split)?;
    if quoted.is_some() {
        reader.watch(b'"');
    }
    let mut source = Source {
        reader,
        path: split.path,
        skip_header,
        quoted,
        columns: None,
        tally: Tally::new(counters, cancel),
    };
    if !columns.is_empty() {
        // The first line of the split's file, read here or, mid-file, apart.
        let header = match source.skip_header {
            true => {
                source.skip_header = false;
                source.next_line()?.map(|(line, _)| line.to_vec())
            }
            false => first_line(&source.path)?,
        };
        // No header line: an empty file, so no record will ask.
        if let Some(header) = header {
            let quotes = source.quoted.is_some();
            let fields = find_columns(columns, &header, sep, quotes, &source.path)
                .map_err(|e| format!("read_csv: {}", e.message))?;
            source.columns = Some(fields);
        }
    }
    Ok(source)
}

/// A split's lines, counted, checked for a cancel, a CSV header skipped,
/// a CSV line's quotes checked.
struct Source {
    reader: SplitReader,
    /// The split's file, for errors.
    path: String,
    skip_header: bool,
    /// The separator of a `read_csv` that reads quotes: each line that
    /// holds a `"` is checked (`check_quotes`) before any operator sees it.
    quoted: Option<Vec<u8>>,
    /// The field number in this file's header of each column the job
    /// names (`$age`), for the chain to bind (`Chain::bind_columns`).
    columns: Option<Vec<u32>>,
    tally: Tally,
}

impl Source {
    /// Pushes every line through `chain` into `sink`, or until the sink is
    /// full.
    fn drain(mut self, chain: &Chain, sink: &mut dyn Sink) -> Result<(), String> {
        while !sink.full() {
            let Some((line, has_quote)) = self.next_line()? else {
                break;
            };
            match has_quote {
                true => chain.push(RecordRef::line(line), sink)?,
                false => chain.push_unquoted(line, sink)?,
            }
        }
        Ok(())
    }

    /// The next line, borrowed from the reader's buffer, and whether it
    /// holds a `"` that a CSV separator's fields must handle.
    fn next_line(&mut self) -> Result<Option<(&[u8], bool)>, String> {
        if self.skip_header {
            self.skip_header = false;
            if self.next_line()?.is_none() {
                return Ok(None);
            }
        }
        let offset = self.reader.offset();
        let Some((line, has_quote)) = self.reader.next_line_watched()? else {
            return Ok(None);
        };
        // The line and its newline, counted (a CSV header too: it was input).
        self.tally.add(line.len() as u64 + 1)?;
        if let (true, Some(sep)) = (has_quote, &self.quoted) {
            if let Err(bad) = check_quotes(line, sep) {
                return Err(bad_line(&self.path, offset, &bad));
            }
        }
        Ok(Some((line, has_quote)))
    }
}

/// The error for a CSV line with bad quotes: the file and line number
/// (counted now: a split does not know the number of its first line), e.g.
/// `read_csv: data/a.csv:3: field 2 opens a quote ...`.
fn bad_line(path: &str, offset: u64, bad: &BadQuote) -> String {
    match line_number(path, offset) {
        Ok(line) => format!("read_csv: {path}:{line}: {bad}"),
        Err(e) => format!(
            "read_csv: {path}: the line at byte {offset}: {bad} (its number is unknown: {e})"
        ),
    }
}

/// A split's lines as owned records, for a consumer that pulls.
struct SourceIter(Source);

impl Iterator for SourceIter {
    type Item = Result<Record, String>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0
            .next_line()
            .map(|line| line.map(|(l, _)| Record::line(l.to_vec())))
            .transpose()
    }
}
