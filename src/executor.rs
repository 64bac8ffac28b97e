//! The executor: runs one task's pipeline of narrow operators, record by
//! record, from its input split to its output file.
//!
//! OS idea: streaming. Each operator is an iterator that pulls from the one
//! before it, so a record travels from `read(2)` of the input file through
//! every operator to the `write(2)` of the output before the next one is
//! read: memory stays flat whatever the input size, and nothing touches disk
//! in between. `pipe` splices a child process into the stream: records go to
//! its stdin and come back from its stdout (see `pipe.rs`).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::job::{sep_of, Job, Op, RecordCtx};
use crate::message::{TaskMetrics, TaskSpec};
use crate::pipe::Pipe;
use crate::record::Record;
use crate::split::{Split, SplitReader};

/// A stream of records; an `Err` ends the task with that message.
pub type Records = Box<dyn Iterator<Item = Result<Record, String>> + Send>;

/// How often (in records) a source checks whether its task was cancelled.
const CANCEL_CHECK_EVERY: u64 = 1024;

/// What a task may do beyond its pipeline.
pub struct Limits {
    /// `pipe` runs arbitrary commands: only with `worker --allow-pipe`.
    pub allow_pipe: bool,
}

/// Counters shared with the source iterator, which may run on a pipe's
/// feeder thread.
#[derive(Default)]
struct InputCounters {
    records: AtomicU64,
    bytes: AtomicU64,
}

/// Runs `spec`'s pipeline over its split and writes the records, one per
/// line, to `out` (created with its parent directories).
///
/// # Errors
/// The first error of any operator, naming what failed; "cancelled" when
/// `cancel` was set.
pub fn run(
    spec: &TaskSpec,
    job: &Arc<Job>,
    limits: &Limits,
    cancel: Arc<AtomicBool>,
    out: &Path,
) -> Result<TaskMetrics, String> {
    let started = Instant::now();
    let counters = Arc::new(InputCounters::default());
    let result = write_records(spec, job, limits, &cancel, &counters, out);
    if cancel.load(Ordering::Relaxed) {
        // Whatever broke (a killed pipe child, say), the cause is the cancel.
        return Err("cancelled".into());
    }
    let (records_out, bytes_out) = result?;
    Ok(TaskMetrics {
        records_in: counters.records.load(Ordering::Relaxed),
        records_out,
        bytes_in: counters.bytes.load(Ordering::Relaxed),
        bytes_out,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// Builds the pipeline and drains it into `out`; returns records and bytes written.
fn write_records(
    spec: &TaskSpec,
    job: &Arc<Job>,
    limits: &Limits,
    cancel: &Arc<AtomicBool>,
    counters: &Arc<InputCounters>,
    out: &Path,
) -> Result<(u64, u64), String> {
    let mut records = source(spec, job, Arc::clone(counters), Arc::clone(cancel))?;
    // `input_file()` names the split's file until a pipe's child process
    // produces the records, which come from no file.
    let mut file = spec.split.path.as_str();
    for &id in spec.pipeline.iter().skip(1) {
        records = apply(job, id as usize, file, records, limits, cancel)?;
        if matches!(job.datasets[id as usize].op, Op::Pipe { .. }) {
            file = "";
        }
    }

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
        let line = record.to_line();
        writer.write_all(&line).map_err(write_err)?;
        writer.write_all(b"\n").map_err(write_err)?;
        records_out += 1;
        bytes_out += line.len() as u64 + 1;
    }
    let file = writer.into_inner().map_err(|e| write_err(e.into_error()))?;
    // The output must be on disk before it is committed by a link.
    file.sync_all().map_err(write_err)?;
    Ok((records_out, bytes_out))
}

/// The records of the task's split, read by the pipeline's first dataset.
fn source(
    spec: &TaskSpec,
    job: &Job,
    counters: Arc<InputCounters>,
    cancel: Arc<AtomicBool>,
) -> Result<Records, String> {
    let first = *spec
        .pipeline
        .first()
        .ok_or("the task has an empty pipeline")? as usize;
    let skip_header = match &job.datasets.get(first).ok_or("unknown source dataset")?.op {
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
    counters: Arc<InputCounters>,
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
            let n = self.counters.records.load(Ordering::Relaxed);
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
            self.counters.records.fetch_add(1, Ordering::Relaxed);
            self.counters
                .bytes
                .fetch_add(line.len() as u64 + 1, Ordering::Relaxed);
            if self.skip_header {
                self.skip_header = false;
                continue;
            }
            return Some(Ok(Record::line(line)));
        }
    }
}

/// Wraps `input` in the operator of dataset `id`.
fn apply(
    job: &Arc<Job>,
    id: usize,
    file: &str,
    input: Records,
    limits: &Limits,
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
                match pred.eval(&ctx).and_then(|v| v.truthy()) {
                    Ok(true) => Some(Ok(record)),
                    Ok(false) => None,
                    Err(e) => Some(Err(e)),
                }
            }))
        }
        Op::Map { key, value, .. } => {
            let (key, value) = (key.clone(), value.clone());
            Box::new(input.map(move |r| {
                let record = r?;
                let ctx = RecordCtx {
                    record: &record,
                    file: &file,
                    sep,
                };
                let v = value.eval(&ctx)?.into_bytes();
                Ok(match &key {
                    Some(k) => Record::pair(k.eval(&ctx)?.into_bytes(), v),
                    None => Record::line(v),
                })
            }))
        }
        Op::FlatMap { expr, .. } => {
            let expr = expr.clone();
            Box::new(input.flat_map(move |r| {
                let items: Vec<Result<Record, String>> = match r.and_then(|record| {
                    let ctx = RecordCtx {
                        record: &record,
                        file: &file,
                        sep,
                    };
                    expr.eval(&ctx)
                }) {
                    Ok(v) => v
                        .into_list()
                        .into_iter()
                        .map(|x| Ok(Record::line(x.into_bytes())))
                        .collect(),
                    Err(e) => vec![Err(e)],
                };
                items
            }))
        }
        Op::Pipe { command, .. } => {
            if !limits.allow_pipe {
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
