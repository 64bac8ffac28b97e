//! The scheduler: jobs, their stages and tasks, and which attempt runs where.
//!
//! OS idea: this is a process scheduler one level up. Tasks wait in a run
//! queue (`Pending`), are dispatched to a free slot (round-robin over live
//! workers, never above a worker's slot count), and their completions come
//! back as events. A stage's tasks become runnable only when every stage it
//! reads from is complete, as a process waits on its inputs. Like the
//! membership table this is plain data behind the master's lock: it talks to
//! workers only by queueing messages on their outboxes, which never blocks.
//!
//! Output commit is Hadoop's: a finished attempt's output waits under a
//! temporary name; the first attempt the scheduler accepts is told to commit
//! it (`CommitTask`), every later one to discard it (`AbortTask`). For a map
//! stage, committing means the worker starts serving that output; where it
//! lives is then the task's state (`Done { worker }`), which is all a reducer
//! needs to fetch it. When every part is committed, one worker writes
//! `_SUCCESS` (`CommitJob`).
//!
//! Where to start reading: this file is the `Scheduler` and how a job gets
//! in (`submit`); then, in the order a task lives,
//!
//! * `state.rs`: the state a job runs in: job, stage, task, attempt;
//! * `dispatch.rs`: `schedule`, which hands pending tasks to free slots;
//! * `completion.rs`: an attempt done, committed, its job committed or ended;
//! * `failure.rs`: an attempt failed, a fetch failed, a worker lost;
//! * `stragglers.rs`: the timer's `tick`: timeouts and speculative copies;
//! * `recovery.rs`: the journal written as state changes, replayed on restart;
//! * `report.rs`: what clients and the web page see of a job.

mod completion;
mod dispatch;
mod failure;
mod recovery;
mod report;
mod state;
mod stragglers;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::master::journal::Journal;
use crate::protocol::message::SourceSplits;
use crate::submission::NewJob;
use recovery::Entry;
use state::{JobRun, Live};

pub use recovery::{Recovered, JOURNAL_FILE};

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

/// Every job the master holds and every attempt in flight. Plain data: the
/// master calls it under its lock, and it never blocks.
pub struct Scheduler {
    /// Running jobs, and the `retained_jobs` most recently finished, by id.
    jobs: BTreeMap<u64, JobRun>,
    /// Attempts holding a slot or awaiting their commit, by attempt id.
    live: HashMap<u64, Live>,
    /// The ids the next job and the next attempt get.
    next_job: u64,
    next_attempt: u64,
    /// The worker that got the last task: round-robin starts after it.
    last_worker: u32,
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
}

impl Scheduler {
    pub fn new(mut config: SchedulerConfig) -> Scheduler {
        config.max_attempts = config.max_attempts.max(1);
        Scheduler {
            jobs: BTreeMap::new(),
            live: HashMap::new(),
            next_job: 1,
            next_attempt: 1,
            last_worker: 0,
            config,
            journal: None,
            epoch: 0,
            max_worker: 0,
            recovered: None,
        }
    }

    /// Accepts a planned job; its first tasks start at the next `schedule`.
    pub fn submit(&mut self, job: NewJob, now: Instant) -> u64 {
        let id = self.next_job;
        self.next_job += 1;
        let mut inputs: Vec<SourceSplits> = job
            .splits
            .iter()
            .map(|(&d, splits)| SourceSplits {
                dataset: d as u32,
                splits: splits.clone(),
            })
            .collect();
        inputs.sort_by_key(|i| i.dataset);
        let entry = Entry::Job {
            id,
            file: job.file.clone(),
            source: job.source.clone(),
            params: job.params.clone(),
            base_dir: job.base_dir.clone(),
            parallelism: job.parallelism,
            inputs,
        };
        self.insert_job(id, job, now);
        self.log(Some(id), &entry, true);
        if let Some(job) = self.jobs.get(&id) {
            let fields = [("job", id.to_string()), ("file", job.file.clone())];
            job.event(now, "job_submitted", &fields);
        }
        id
    }
}
