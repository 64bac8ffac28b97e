//! The state a job runs in: the job, its stages, their tasks, and every
//! attempt in flight.
//!
//! OS idea: a process table. Each task is in one state at a time
//! (`TaskState`: pending, running, committing, done), as a process is
//! runnable, running or exited, and every change of state happens in one
//! place, under the master's lock. An attempt (one run of a task on one
//! worker) is the unit that occupies a slot, as a thread occupies a CPU:
//! `Attempts` is the scheduler's table of them (a `Live` entry each, keyed
//! by attempt id), so a report from a worker is matched to what it is about
//! in one lookup.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::placement::Unreachable;
use super::Scheduler;
use crate::event;
use crate::exec::Digest;
use crate::job::{Input, Job, Output, Plan, StagePlan};
use crate::master::eventlog::EventLogs;
use crate::master::membership::Membership;
use crate::protocol::{
    AttemptOutcome, AttemptReport, JobReport, JobState, Pair, SplitInfo, TaskMetrics,
};
use crate::submission::{JobSource, NewJob};

/// Where a task is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum TaskState {
    Pending,
    Running {
        attempt: u64,
    },
    /// Finished; waiting for the worker to commit its output.
    Committing {
        attempt: u64,
    },
    /// Committed; for a map stage, `worker` serves the output.
    Done {
        worker: u32,
    },
}

/// One task of a stage: a split to read, or a reduce partition.
pub(super) struct TaskRun {
    pub(super) segment: u32,
    pub(super) index: u32,
    pub(super) split: SplitInfo,
    pub(super) state: TaskState,
    /// A speculative second attempt running beside `Running { attempt }`.
    pub(super) copy: Option<u64>,
    /// Attempts that failed (a lost worker or a failed fetch does not count).
    pub(super) failures: u32,
    /// Times this map task's committed output was lost to a failed fetch.
    pub(super) outputs_lost: u32,
    /// A worker the next attempt should avoid if it can: where the last
    /// one timed out, or, for a map task, the worker that held its output
    /// when a reducer could not fetch it or placement moved it.
    pub(super) avoid: Option<u32>,
    /// How long the committed attempt ran, for speculation.
    pub(super) duration: Option<Duration>,
    /// The accepted attempt's metrics, journaled when it commits.
    pub(super) metrics: TaskMetrics,
    /// Attempts launched (a later one is a retry).
    pub(super) launched: u32,
    /// The accepted attempt's digest, in a loop's check stage.
    pub(super) digest: Option<Digest>,
}

impl TaskRun {
    /// Is `attempt` one of this task's running attempts?
    pub(super) fn runs(&self, attempt: u64) -> bool {
        matches!(self.state, TaskState::Running { attempt: a } if a == attempt)
            || self.copy == Some(attempt)
    }

    /// Drops running attempt `attempt`. Returns true if another attempt of
    /// the task still runs (so the task stays running).
    pub(super) fn drop_attempt(&mut self, attempt: u64) -> bool {
        match (self.state.clone(), self.copy) {
            (TaskState::Running { attempt: a }, Some(c)) if a == attempt => {
                self.state = TaskState::Running { attempt: c };
                self.copy = None;
                true
            }
            (TaskState::Running { .. }, Some(c)) if c == attempt => {
                self.copy = None;
                true
            }
            _ => {
                self.state = TaskState::Pending;
                self.copy = None;
                false
            }
        }
    }
}

/// One stage of a job, with its tasks and what they did.
pub(super) struct StageRun {
    pub(super) plan: StagePlan,
    pub(super) tasks: Vec<TaskRun>,
    pub(super) metrics: TaskMetrics,
    /// Attempts launched, and how many of them failed.
    pub(super) attempts: u32,
    pub(super) attempts_failed: u32,
    pub(super) started: Option<Instant>,
    pub(super) finished: Option<Instant>,
    /// Partitions of the dataset it caches lost with their worker and
    /// computed again.
    pub(super) cache_misses: u32,
}

impl StageRun {
    pub(super) fn complete(&self) -> bool {
        self.tasks
            .iter()
            .all(|t| matches!(t.state, TaskState::Done { .. }))
    }
}

/// Per shuffle: the samples and boundaries of a range shuffle.
#[derive(Default)]
pub(super) struct ShuffleRun {
    /// Samples of each sampling task, by task.
    pub(super) samples: BTreeMap<usize, Vec<Pair>>,
    /// Set when the sampling stage completes.
    pub(super) boundaries: Option<Vec<Pair>>,
}

/// A job the master holds: running, or finished and kept
/// (`--retained-jobs`).
pub(super) struct JobRun {
    pub(super) id: u64,
    /// What it was submitted as; every attempt is sent it.
    pub(super) source: JobSource,
    pub(super) outputs: Vec<String>,
    /// The job, its loops unrolled as far as the decisions so far go.
    pub(super) job: Job,
    pub(super) plan: Plan,
    /// The splits of each source (`Job::sources`), for the stages that
    /// later rounds add.
    pub(super) splits: HashMap<u32, Vec<SplitInfo>>,
    /// The digest of each of the job's checks (`job.checks`), once its
    /// stage is done.
    pub(super) digests: Vec<Option<Digest>>,
    pub(super) state: JobState,
    pub(super) error: String,
    pub(super) stages: Vec<StageRun>,
    pub(super) shuffles: Vec<ShuffleRun>,
    pub(super) submitted: Instant,
    /// `submitted` by the wall clock, in ms since the Unix epoch (for a job
    /// recovered from the journal: when it was recovered).
    pub(super) submitted_unix_ms: u64,
    pub(super) finished: Option<Instant>,
    /// The worker asked to write `_SUCCESS`, once every part is in place.
    pub(super) committer: Option<u32>,
    /// Its journal entries, kept to rewrite the journal compacted.
    pub(super) entries: Vec<Vec<u8>>,
    /// Once it has ended: its report, as it stays.
    pub(super) final_report: Option<JobReport>,
    /// Every attempt launched, for the timeline; `attempt_at` finds one.
    pub(super) attempts: Vec<AttemptReport>,
    pub(super) attempt_at: HashMap<u64, usize>,
    /// Where its event log goes.
    pub(super) events: EventLogs,
    /// The pairs of workers that could not talk (a fetch between them
    /// failed), which placement keeps apart (see `placement.rs`). In memory
    /// only: after a restart they are learned again.
    pub(super) unreachable: Unreachable,
}

impl JobRun {
    /// Appends an event to the job's event log (see `master/eventlog.rs`).
    pub(super) fn event(&self, now: Instant, event: &str, fields: &[(&str, String)]) {
        let at = ms(now.saturating_duration_since(self.submitted));
        if let Err(e) = self.events.append(self.id, at, event, fields) {
            event!(
                Warn,
                "scheduler",
                "event_log_failed",
                job = self.id,
                error = e
            );
        }
    }

    /// Records that `attempt` ended with `outcome` (if it was still running).
    /// Ends attempt `attempt` in the job's report and event log, with
    /// `error` saying why it did not succeed (empty when it did).
    pub(super) fn end_attempt(
        &mut self,
        attempt: u64,
        outcome: AttemptOutcome,
        error: &str,
        now: Instant,
    ) {
        let since = ms(now.duration_since(self.submitted)).max(1);
        if let Some(a) = self
            .attempt_at
            .get(&attempt)
            .and_then(|&i| self.attempts.get_mut(i))
        {
            if a.outcome == AttemptOutcome::Running {
                a.outcome = outcome;
                a.end_ms = since.max(a.start_ms);
                a.error = error.to_string();
                let fields = [
                    ("attempt", attempt.to_string()),
                    ("outcome", outcome.to_string()),
                    ("error", error.to_string()),
                ];
                self.event(now, "attempt_ended", &fields);
            }
        }
    }
}

impl JobRun {
    /// Its parent stages are complete, their outputs on workers we know
    /// (after a restart, one that has not come back yet is waited for),
    /// and a range shuffle's boundaries are known.
    pub(super) fn runnable(&self, stage: &StageRun, members: &Membership) -> bool {
        let parents_done = stage.plan.parents.iter().all(|&p| {
            let parent = &self.stages[p as usize];
            parent.complete()
                && parent.tasks.iter().all(|t| match t.state {
                    TaskState::Done { worker } => members.get(worker).is_some(),
                    _ => false,
                })
        });
        let boundaries_known = match stage.plan.only() {
            Some(Output::Shuffle(id))
                if self.plan.shuffles[id as usize].partitioner
                    == crate::job::Partitioner::Range =>
            {
                self.shuffles[id as usize].boundaries.is_some()
            }
            _ => true,
        };
        parents_done && boundaries_known
    }

    /// The map outputs task `t` of stage `s` reads, one entry per shuffle:
    /// every map task's output, or for a cached partition only that of the
    /// map task of the same number (it kept the partition). A task that
    /// reads a source reads none.
    pub(super) fn reads(&self, s: usize, t: usize) -> Vec<ShuffleInput> {
        let stage = &self.stages[s];
        let task = &stage.tasks[t];
        let (read, only) = match stage.plan.segments[task.segment as usize].input {
            Input::Shuffle(wide) => (wide, None),
            Input::Cache(cached) => (cached, Some(task.index as usize)),
            Input::Source(_) => return Vec::new(),
        };
        self.plan
            .shuffles_of(read)
            .iter()
            .map(|sh| {
                let map_stage = sh.map_stage as usize;
                let count = self.stages.get(map_stage).map_or(0, |st| st.tasks.len());
                ShuffleInput {
                    shuffle: sh.id,
                    map_stage,
                    maps: (0..count)
                        .filter(|&m| only.is_none_or(|i| i == m))
                        .collect(),
                }
            })
            .collect()
    }

    /// The worker holding each committed map output task `t` of stage `s`
    /// reads, once per output (see `reads`).
    pub(super) fn holders(&self, s: usize, t: usize) -> Vec<u32> {
        self.reads(s, t)
            .iter()
            .flat_map(|input| {
                input.maps.iter().filter_map(|&m| {
                    match self.stages[input.map_stage].tasks[m].state {
                        TaskState::Done { worker } => Some(worker),
                        _ => None,
                    }
                })
            })
            .collect()
    }

    /// Every stage is done, and no loop will add more.
    pub(super) fn all_done(&self) -> bool {
        self.job.unrolled() && self.stages.iter().all(StageRun::complete)
    }
}

/// The map outputs of one shuffle that a task reads (see `JobRun::reads`).
pub(super) struct ShuffleInput {
    pub(super) shuffle: u32,
    /// The stage whose tasks wrote them.
    pub(super) map_stage: usize,
    /// The map tasks read, by index in that stage.
    pub(super) maps: Vec<usize>,
}

/// The attempts in flight, and what names and places the next one: what
/// launching an attempt changes outside its job (see `Attempts::launch`).
pub(super) struct Attempts {
    /// Attempts holding a slot or awaiting their commit, by attempt id.
    pub(super) live: HashMap<u64, Live>,
    /// The id the next attempt gets.
    pub(super) next: u64,
    /// The worker that got the last attempt: round-robin starts after it.
    pub(super) last_worker: u32,
}

/// An attempt that occupies a worker's slot or awaits its commit.
#[derive(Debug, Clone, Copy)]
pub(super) struct Live {
    pub(super) job: u64,
    pub(super) stage: usize,
    pub(super) task: usize,
    pub(super) worker: u32,
    pub(super) started: Instant,
    /// True once the attempt reported its end (`TaskDone`, `TaskFailed`,
    /// `FetchFailed`): its slot is free again.
    pub(super) finished: bool,
    /// Given up on (timed out or superseded) and told to stop; it keeps its
    /// slot until the worker reports it.
    pub(super) abandoned: bool,
    /// When it was told to commit (`CommitTask`), while it has not said it
    /// did.
    pub(super) committing_since: Option<Instant>,
}

impl Scheduler {
    /// Adds planned job `job` as job `id`: one pending task per split of a
    /// source, or per partition of a shuffle it reads.
    pub(super) fn insert_job(&mut self, id: u64, job: NewJob, now: Instant) {
        let stages = stage_runs(&job.job, &job.plan, &[], &job.splits);
        let tasks: usize = stages.iter().map(|s| s.tasks.len()).sum();
        event!(
            Info,
            "scheduler",
            "job_submitted",
            job = id,
            file = job.source.file,
            stages = stages.len(),
            tasks = tasks
        );
        let shuffles = job
            .plan
            .shuffles
            .iter()
            .map(|_| ShuffleRun::default())
            .collect();
        self.jobs.insert(
            id,
            JobRun {
                id,
                source: job.source,
                outputs: job.outputs,
                digests: vec![None; job.job.checks.len()],
                job: job.job,
                plan: job.plan,
                splits: job.splits,
                state: JobState::Running,
                error: String::new(),
                stages,
                shuffles,
                submitted: now,
                submitted_unix_ms: unix_ms(),
                finished: None,
                committer: None,
                entries: Vec::new(),
                final_report: None,
                attempts: Vec::new(),
                attempt_at: HashMap::new(),
                events: EventLogs::new(self.config.state_dir.as_deref()),
                unreachable: Unreachable::default(),
            },
        );
    }

    /// The event logs of this master's jobs.
    pub(super) fn events(&self) -> EventLogs {
        EventLogs::new(self.config.state_dir.as_deref())
    }
}

/// The runs of `plan`'s stages after the `existing` ones (their task
/// counts): one pending task per split of a source, per partition of a
/// shuffle it reads, or per partition of a cached dataset.
pub(super) fn stage_runs(
    job: &Job,
    plan: &Plan,
    existing: &[usize],
    splits: &HashMap<u32, Vec<SplitInfo>>,
) -> Vec<StageRun> {
    let first = existing.len();
    // A cached partition per task of the stage that computed it; that
    // stage comes first.
    let mut counts: Vec<usize> = Vec::new();
    let mut runs: Vec<StageRun> = Vec::new();
    for stage in plan.stages.iter().skip(first) {
        let count_of = |id: u32, counts: &[usize]| -> usize {
            (id as usize)
                .checked_sub(first)
                .and_then(|i| counts.get(i).copied())
                .or_else(|| existing.get(id as usize).copied())
                .unwrap_or(0)
        };
        let run = {
            let mut tasks = Vec::new();
            for (s, segment) in stage.segments.iter().enumerate() {
                match segment.input {
                    Input::Source(d) => {
                        let given = job.source_no(d).and_then(|no| splits.get(&no));
                        for (i, split) in given.into_iter().flatten().enumerate() {
                            tasks.push(task_run(s, i, split.clone()));
                        }
                    }
                    Input::Shuffle(w) => {
                        for p in 0..plan.partitions_of(w) {
                            tasks.push(task_run(s, p as usize, SplitInfo::default()));
                        }
                    }
                    Input::Cache(d) => {
                        let map_stage = plan.shuffles_of(d).first().map_or(0, |sh| sh.map_stage);
                        for p in 0..count_of(map_stage, &counts) {
                            tasks.push(task_run(s, p, SplitInfo::default()));
                        }
                    }
                }
            }
            StageRun {
                plan: stage.clone(),
                tasks,
                metrics: TaskMetrics::default(),
                attempts: 0,
                attempts_failed: 0,
                started: None,
                finished: None,
                cache_misses: 0,
            }
        };
        counts.push(run.tasks.len());
        runs.push(run);
    }
    runs
}

fn task_run(segment: usize, index: usize, split: SplitInfo) -> TaskRun {
    TaskRun {
        segment: segment as u32,
        index: index as u32,
        split,
        state: TaskState::Pending,
        copy: None,
        failures: 0,
        outputs_lost: 0,
        avoid: None,
        duration: None,
        metrics: TaskMetrics::default(),
        launched: 0,
        digest: None,
    }
}

pub(super) fn live(job: u64, stage: usize, task: usize, worker: u32, now: Instant) -> Live {
    Live {
        job,
        stage,
        task,
        worker,
        started: now,
        finished: false,
        committing_since: None,
        abandoned: false,
    }
}

pub(super) fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// Milliseconds since the Unix epoch, by the wall clock.
pub(super) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
