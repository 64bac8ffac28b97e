//! The scheduler: jobs, their stages and tasks, and which attempt runs where.
//!
//! OS idea: this is a process scheduler one level up. Tasks wait in a run
//! queue (`Pending`), are dispatched to a free slot (round-robin over live
//! workers, never above a worker's slot count, and only on workers that can
//! reach the ones holding their inputs), and their completions come
//! back as events. A stage's tasks become runnable only when every stage it
//! reads from is complete, as a process waits on its inputs. Like the
//! membership table this is plain data behind the master's lock: it talks to
//! workers only by queueing messages on their outboxes, which never blocks.
//! The one I/O it does under the lock is appending to its journal and event
//! logs, on local disk.
//!
//! Output commit is Hadoop's: a finished attempt's output waits under a
//! temporary name; the first attempt the scheduler accepts is told to commit
//! it (`CommitTask`), every later one to discard it (`AbortTask`). For a map
//! stage, committing means the worker starts serving that output; where it
//! lives is then the task's state (`Done { worker }`), which is all a reducer
//! needs to fetch it. When every part is committed, one worker writes
//! `_SUCCESS` (`CommitJob`).
//!
//! Where to start reading: this file is the `Scheduler`'s face, how a job
//! gets in (`submit`) and how a worker's reports do (`worker_event`); then,
//! in the order a task lives,
//!
//! * `state.rs`: the state a job runs in: job, stage, task, attempt;
//! * `dispatch.rs`: `schedule`, which hands pending tasks to free slots;
//! * `placement.rs`: which workers a task may run on, given the pairs of
//!   workers that could not talk;
//! * `completion.rs`: an attempt done, committed, its job committed or ended;
//! * `failure.rs`: an attempt failed, a fetch failed, a worker lost;
//! * `stragglers.rs`: the timer's `tick`: timeouts and speculative copies;
//! * `loops.rs`: after a round of a `repeat until`, the next round planned;
//! * `recovery.rs`: the journal written as state changes, replayed on restart;
//! * `report.rs`: what clients and the web page see of a job.

mod completion;
mod dispatch;
mod failure;
mod loops;
mod placement;
mod recovery;
mod report;
mod state;
mod stragglers;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::master::journal::Journal;
use crate::master::membership::Membership;
use crate::master::metrics::Totals;
use crate::protocol::{FetchFailure, Pair, SourceSplits, TaskMetrics};
use crate::submission::NewJob;
use recovery::Entry;
use state::{Attempts, JobRun};

pub use report::Lookup;

/// The master's scheduling flags.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Failed attempts after which a task fails its job.
    pub max_attempts: u32,
    /// An attempt running longer is abandoned and retried elsewhere.
    pub task_timeout: Option<Duration>,
    /// Launch a second attempt of a straggler (see `speculate`).
    pub speculation: bool,
    /// Where the journal lives (`--state-dir`); `None` keeps nothing.
    pub state_dir: Option<PathBuf>,
    /// After a restart, how long workers have to come back before the map
    /// outputs they held are recomputed (the heartbeat timeout).
    pub recovery_grace: Duration,
    /// Finished jobs kept (in memory and in the journal); older ones are
    /// forgotten.
    pub retained_jobs: usize,
}

/// What a worker reports about its attempts and jobs: the scheduler's input
/// from a worker's session, taken by `Scheduler::worker_event`. Each is
/// the message of the same name (see protocol.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerEvent {
    /// The attempt finished; its output waits uncommitted.
    TaskDone {
        attempt: u64,
        metrics: TaskMetrics,
        samples: Vec<Pair>,
    },
    TaskFailed {
        attempt: u64,
        error: String,
    },
    /// The attempt could not read a map output.
    FetchFailed {
        attempt: u64,
        failure: FetchFailure,
    },
    /// The attempt's output is in place.
    TaskCommitted {
        attempt: u64,
    },
    /// The job's `_SUCCESS` is written; `error` is empty on success.
    JobCommitted {
        job_id: u64,
        error: String,
    },
}

/// Every job the master holds and every attempt in flight. Plain data: the
/// master calls it under its lock, and it never waits on a peer (only on
/// the disk, for its journal and event logs).
pub struct Scheduler {
    /// Running jobs, and the `retained_jobs` most recently finished, by id.
    jobs: BTreeMap<u64, JobRun>,
    /// The id the next job gets.
    next_job: u64,
    /// The attempts in flight, the next attempt's id, the round-robin cursor.
    attempts: Attempts,
    config: SchedulerConfig,
    journal: Option<Journal>,
    /// This run of the master: 0 for a fresh journal, then one more per
    /// restart (see `Entry::Start`).
    epoch: u32,
    /// The highest worker id ever handed out.
    max_worker: u32,
    /// When state was rebuilt from the journal, until the workers holding
    /// map outputs have had `recovery_grace` to come back.
    recovered: Option<Instant>,
    /// The sums of the jobs forgotten so far, for `/metrics`' counters.
    forgotten: Totals,
}

impl Scheduler {
    /// The sums of the jobs forgotten so far (see `metrics.rs`).
    pub fn forgotten(&self) -> &Totals {
        &self.forgotten
    }

    /// A scheduler with no jobs yet; `recover` fills it from the journal.
    pub fn new(mut config: SchedulerConfig) -> Scheduler {
        config.max_attempts = config.max_attempts.max(1);
        Scheduler {
            jobs: BTreeMap::new(),
            next_job: 1,
            attempts: Attempts {
                live: HashMap::new(),
                next: 1,
                last_worker: 0,
            },
            config,
            journal: None,
            epoch: 0,
            max_worker: 0,
            recovered: None,
            forgotten: Totals::default(),
        }
    }

    /// Applies an event reported by worker `worker`, then hands out the slots
    /// it freed (and the tasks it made runnable).
    pub fn worker_event(
        &mut self,
        members: &mut Membership,
        worker: u32,
        event: WorkerEvent,
        now: Instant,
    ) {
        match event {
            WorkerEvent::TaskDone {
                attempt,
                metrics,
                samples,
            } => self.task_done(members, worker, attempt, metrics, samples, now),
            WorkerEvent::TaskFailed { attempt, error } => {
                self.task_failed(members, worker, attempt, error, now)
            }
            WorkerEvent::FetchFailed { attempt, failure } => {
                self.fetch_failed(members, worker, attempt, failure, now)
            }
            // A completed stage may make the next one runnable.
            WorkerEvent::TaskCommitted { attempt } => {
                self.task_committed(members, worker, attempt, now)
            }
            // Ends the job; frees no slot.
            WorkerEvent::JobCommitted { job_id, error } => {
                return self.job_committed(members, worker, job_id, error, now)
            }
        }
        self.schedule(members, now);
    }

    /// The jobs it holds that have ended, oldest first.
    pub fn ended_jobs(&self) -> Vec<u64> {
        self.jobs
            .values()
            .filter(|j| j.state.is_final())
            .map(|j| j.id)
            .collect()
    }

    /// Accepts a planned job; its first tasks start at the next `schedule`.
    pub fn submit(&mut self, job: NewJob, now: Instant) -> u64 {
        let id = self.next_job;
        self.next_job += 1;
        let mut inputs: Vec<SourceSplits> = job
            .splits
            .iter()
            .map(|(&source, splits)| SourceSplits {
                source,
                splits: splits.clone(),
            })
            .collect();
        inputs.sort_by_key(|i| i.source);
        let entry = Entry::Job {
            id,
            source: job.source.clone(),
            inputs,
        };
        self.insert_job(id, job, now);
        self.log(Some(id), &entry, true);
        if let Some(job) = self.jobs.get(&id) {
            // What the job page shows of a job, also once it is forgotten
            // and read back from this log: `param.NAME` for each param.
            let mut fields = vec![
                ("job", id.to_string()),
                ("file", job.source.file.clone()),
                ("unix_ms", job.submitted_unix_ms.to_string()),
                ("source", job.source.source.clone()),
            ];
            let names: Vec<String> = job
                .source
                .params
                .iter()
                .map(|p| format!("param.{}", p.key))
                .collect();
            for (name, p) in names.iter().zip(&job.source.params) {
                fields.push((name.as_str(), p.value.clone()));
            }
            job.event(now, "job_submitted", &fields);
        }
        id
    }
}
