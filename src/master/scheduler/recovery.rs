//! What the master writes to its journal (`--state-dir`), so that a master
//! killed with -9 and started again knows every job it had: the finished
//! ones with their status and output locations, and the running ones with
//! the tasks already done, which it then finishes.
//!
//! OS idea: a write-ahead log. The scheduler's state is rebuilt by
//! replaying its changes in order, as a database replays its log after a
//! crash: a job's submission (enough to plan it again: the job file's text,
//! params and splits), each committed task and where its output lives, the
//! sampled boundaries of a range shuffle, and the job's end with its final
//! report. The journal file itself (`journal.rs`) frames each entry with a
//! length and a CRC, so a half-written last entry is detected and ignored.
//! Entries use the wire protocol's own field encoding (`wire.rs`).

use crate::protocol::frame::Invalid;
use crate::protocol::message::{JobReport, KeyValue, MsgType, Pair, SourceSplits, TaskMetrics};
use crate::protocol::wire::{Field, PayloadReader};

/// One change of the scheduler's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// The master started its run number `epoch`; attempt ids of this run
    /// start at `epoch` x 10^9, so an attempt of an earlier run is never
    /// mistaken for one of this run.
    Start { epoch: u32 },
    /// A worker id was handed out (ids are never reused after a restart).
    Worker { id: u32 },
    /// A job was accepted, with what it takes to plan it again.
    Job {
        id: u64,
        file: String,
        source: String,
        params: Vec<KeyValue>,
        base_dir: String,
        parallelism: u32,
        inputs: Vec<SourceSplits>,
    },
    /// A task's output was committed; for a map task, `worker` serves it.
    TaskDone {
        job: u64,
        stage: u32,
        task: u32,
        worker: u32,
        metrics: TaskMetrics,
    },
    /// A range shuffle's boundaries, from its sampling stage.
    Boundaries {
        job: u64,
        shuffle: u32,
        boundaries: Vec<Pair>,
    },
    /// The job ended; its report as `client status` shows it.
    JobEnded { report: JobReport },
}

const START: u8 = 1;
const WORKER: u8 = 2;
const JOB: u8 = 3;
const TASK_DONE: u8 = 4;
const BOUNDARIES: u8 = 5;
const JOB_ENDED: u8 = 6;

impl Entry {
    /// A tag byte, then the fields in order.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Entry::Start { epoch } => {
                out.push(START);
                epoch.put(&mut out);
            }
            Entry::Worker { id } => {
                out.push(WORKER);
                id.put(&mut out);
            }
            Entry::Job {
                id,
                file,
                source,
                params,
                base_dir,
                parallelism,
                inputs,
            } => {
                out.push(JOB);
                id.put(&mut out);
                file.put(&mut out);
                source.put(&mut out);
                params.put(&mut out);
                base_dir.put(&mut out);
                parallelism.put(&mut out);
                inputs.put(&mut out);
            }
            Entry::TaskDone {
                job,
                stage,
                task,
                worker,
                metrics,
            } => {
                out.push(TASK_DONE);
                job.put(&mut out);
                stage.put(&mut out);
                task.put(&mut out);
                worker.put(&mut out);
                metrics.put(&mut out);
            }
            Entry::Boundaries {
                job,
                shuffle,
                boundaries,
            } => {
                out.push(BOUNDARIES);
                job.put(&mut out);
                shuffle.put(&mut out);
                boundaries.put(&mut out);
            }
            Entry::JobEnded { report } => {
                out.push(JOB_ENDED);
                report.put(&mut out);
            }
        }
        out
    }

    /// Reads an entry back.
    ///
    /// # Errors
    /// An unknown tag, or fields that do not match it, named.
    pub fn decode(bytes: &[u8]) -> Result<Entry, String> {
        let Some((&tag, body)) = bytes.split_first() else {
            return Err("empty journal entry".into());
        };
        // The reader names a message type in its errors; entries are not
        // messages, so only the reason is kept (see `reason`).
        let mut r = PayloadReader::new(MsgType::SubmitJob, body);
        let entry = match tag {
            START => Entry::Start {
                epoch: get(&mut r, "epoch")?,
            },
            WORKER => Entry::Worker {
                id: get(&mut r, "id")?,
            },
            JOB => Entry::Job {
                id: get(&mut r, "id")?,
                file: get(&mut r, "file")?,
                source: get(&mut r, "source")?,
                params: get(&mut r, "params")?,
                base_dir: get(&mut r, "base_dir")?,
                parallelism: get(&mut r, "parallelism")?,
                inputs: get(&mut r, "inputs")?,
            },
            TASK_DONE => Entry::TaskDone {
                job: get(&mut r, "job")?,
                stage: get(&mut r, "stage")?,
                task: get(&mut r, "task")?,
                worker: get(&mut r, "worker")?,
                metrics: get(&mut r, "metrics")?,
            },
            BOUNDARIES => Entry::Boundaries {
                job: get(&mut r, "job")?,
                shuffle: get(&mut r, "shuffle")?,
                boundaries: get(&mut r, "boundaries")?,
            },
            JOB_ENDED => Entry::JobEnded {
                report: get(&mut r, "report")?,
            },
            other => return Err(format!("unknown journal entry tag {other}")),
        };
        r.finish()
            .map_err(|e| format!("journal entry {tag}: {}", reason(e)))?;
        Ok(entry)
    }
}

fn get<T: Field>(r: &mut PayloadReader<'_>, name: &str) -> Result<T, String> {
    T::get(r, name).map_err(|e| format!("journal entry: {}", reason(e)))
}

fn reason(e: Invalid) -> String {
    match e {
        Invalid::Malformed { reason, .. } => reason,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::message::{JobState, SplitInfo, StageReport};
    use crate::protocol::wire::Bytes;
    use crate::rng::Rng;

    fn samples() -> Vec<Entry> {
        vec![
            Entry::Start { epoch: 3 },
            Entry::Worker { id: 7 },
            Entry::Job {
                id: 9,
                file: "jobs/wordcount.job".into(),
                source: "param input\n".into(),
                params: vec![KeyValue {
                    key: "input".into(),
                    value: "x".into(),
                }],
                base_dir: "/tmp".into(),
                parallelism: 4,
                inputs: vec![SourceSplits {
                    dataset: 0,
                    splits: vec![SplitInfo {
                        path: "/tmp/x".into(),
                        start: 0,
                        len: 10,
                    }],
                }],
            },
            Entry::TaskDone {
                job: 9,
                stage: 1,
                task: 2,
                worker: 7,
                metrics: TaskMetrics {
                    records_in: 5,
                    ..TaskMetrics::default()
                },
            },
            Entry::Boundaries {
                job: 9,
                shuffle: 0,
                boundaries: vec![Pair {
                    key: Bytes(b"k".to_vec()),
                    value: Bytes(b"v".to_vec()),
                }],
            },
            Entry::JobEnded {
                report: JobReport {
                    id: 9,
                    state: JobState::Succeeded,
                    stages: vec![StageReport::default()],
                    ..JobReport::default()
                },
            },
        ]
    }

    #[test]
    fn every_entry_round_trips() {
        for e in samples() {
            assert_eq!(Entry::decode(&e.encode()), Ok(e));
        }
    }

    #[test]
    fn damaged_entries_are_errors_not_panics() {
        assert!(Entry::decode(&[]).is_err());
        assert!(Entry::decode(&[99]).unwrap_err().contains("unknown"));
        let mut rng = Rng::new(4);
        for e in samples() {
            let bytes = e.encode();
            for cut in 0..bytes.len() {
                assert!(Entry::decode(&bytes[..cut]).is_err(), "{e:?} cut at {cut}");
            }
            for _ in 0..200 {
                let mut b = bytes.clone();
                let i = rng.below(b.len() as u64) as usize;
                b[i] ^= 1 << rng.below(8);
                let _ = Entry::decode(&b);
            }
        }
    }
}
