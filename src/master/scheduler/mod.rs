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

mod recovery;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::event;
use crate::job::plan::{Input, Output, Plan, StagePlan};
use crate::master::eventlog::{self, EventLogs};
use crate::master::journal::Journal;
use crate::master::membership::Membership;
use crate::protocol::message::{
    AttemptOutcome, AttemptReport, JobReport, JobState, JobSummary, KeyValue, MapLocation, Message,
    Pair, PartLocation, ShuffleRead, SourceSplits, SplitInfo, StageReport, TaskMetrics, TaskSpec,
    WorkerState,
};
use crate::submission::NewJob;
use recovery::Entry;

/// Records sampled in all, per reduce partition of a range shuffle.
const SAMPLES_PER_PARTITION: u32 = 60;

/// Speculation starts in a stage once this share of its tasks is done...
const SPECULATION_QUANTILE: f64 = 0.75;
/// ...for a task running this many times longer than the median finished
/// one (Spark's `spark.speculation.multiplier`)...
const SPECULATION_MULTIPLIER: f64 = 1.5;
/// ...and for at least this long.
const SPECULATION_MIN: Duration = Duration::from_millis(100);

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

/// Attempt ids of run (epoch) `e` of the master start at `e` times this,
/// so the log reads `attempt=2000000017`: the 17th of the third run.
const ATTEMPTS_PER_EPOCH: u64 = 1_000_000_000;

/// The journal's name inside the state directory.
pub const JOURNAL_FILE: &str = "journal";

/// What `Scheduler::recover` found.
#[derive(Debug, Default)]
pub struct Recovered {
    pub entries: usize,
    pub discarded_bytes: u64,
    pub jobs_running: usize,
    pub jobs_finished: usize,
    pub epoch: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TaskState {
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

struct TaskRun {
    segment: u32,
    index: u32,
    split: SplitInfo,
    state: TaskState,
    /// A speculative second attempt running beside `Running { attempt }`.
    copy: Option<u64>,
    /// Attempts that failed (a lost worker or a failed fetch does not count).
    failures: u32,
    /// Times this map task's committed output was lost to a failed fetch.
    outputs_lost: u32,
    /// A worker the next attempt should avoid if it can (where the last
    /// one timed out).
    avoid: Option<u32>,
    /// How long the committed attempt ran, for speculation.
    duration: Option<Duration>,
    /// The accepted attempt's metrics, journaled when it commits.
    metrics: TaskMetrics,
    /// Attempts launched (a later one is a retry).
    launched: u32,
}

impl TaskRun {
    /// Is `attempt` one of this task's running attempts?
    fn runs(&self, attempt: u64) -> bool {
        matches!(self.state, TaskState::Running { attempt: a } if a == attempt)
            || self.copy == Some(attempt)
    }

    /// Drops running attempt `attempt`. Returns true if another attempt of
    /// the task still runs (so the task stays running).
    fn drop_attempt(&mut self, attempt: u64) -> bool {
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

struct StageRun {
    plan: StagePlan,
    tasks: Vec<TaskRun>,
    metrics: TaskMetrics,
    /// Attempts launched, and how many of them failed.
    attempts: u32,
    attempts_failed: u32,
    started: Option<Instant>,
    finished: Option<Instant>,
}

impl StageRun {
    fn complete(&self) -> bool {
        self.tasks
            .iter()
            .all(|t| matches!(t.state, TaskState::Done { .. }))
    }
}

/// Per shuffle: the samples and boundaries of a range shuffle.
#[derive(Default)]
struct ShuffleRun {
    /// Samples of each sampling task, by task.
    samples: BTreeMap<usize, Vec<Pair>>,
    /// Set when the sampling stage completes.
    boundaries: Option<Vec<Pair>>,
}

struct JobRun {
    id: u64,
    file: String,
    source: String,
    params: Vec<KeyValue>,
    base_dir: String,
    parallelism: u32,
    outputs: Vec<String>,
    plan: Plan,
    state: JobState,
    error: String,
    stages: Vec<StageRun>,
    shuffles: Vec<ShuffleRun>,
    submitted: Instant,
    finished: Option<Instant>,
    /// The worker asked to write `_SUCCESS`, once every part is in place.
    committer: Option<u32>,
    /// Its journal entries, kept to rewrite the journal compacted.
    entries: Vec<Vec<u8>>,
    /// Once it has ended: its report, as it stays.
    final_report: Option<JobReport>,
    /// Every attempt launched, for the timeline; `attempt_at` finds one.
    attempts: Vec<AttemptReport>,
    attempt_at: HashMap<u64, usize>,
    /// Where its event log goes.
    events: EventLogs,
}

impl JobRun {
    /// Appends an event to the job's event log (see `eventlog.rs`).
    fn event(&self, now: Instant, event: &str, fields: &[(&str, String)]) {
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
    fn end_attempt(&mut self, attempt: u64, outcome: AttemptOutcome, now: Instant) {
        let since = ms(now.duration_since(self.submitted)).max(1);
        if let Some(a) = self
            .attempt_at
            .get(&attempt)
            .and_then(|&i| self.attempts.get_mut(i))
        {
            if a.outcome == AttemptOutcome::Running {
                a.outcome = outcome;
                a.end_ms = since.max(a.start_ms);
                let fields = [
                    ("attempt", attempt.to_string()),
                    ("outcome", outcome.to_string()),
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
    fn runnable(&self, stage: &StageRun, members: &Membership) -> bool {
        let parents_done = stage.plan.parents.iter().all(|&p| {
            let parent = &self.stages[p as usize];
            parent.complete()
                && parent.tasks.iter().all(|t| match t.state {
                    TaskState::Done { worker } => members.get(worker).is_some(),
                    _ => false,
                })
        });
        let boundaries_known = match stage.plan.output {
            Output::Shuffle(id)
                if self.plan.shuffles[id as usize].partitioner
                    == crate::job::plan::Partitioner::Range =>
            {
                self.shuffles[id as usize].boundaries.is_some()
            }
            _ => true,
        };
        parents_done && boundaries_known
    }

    fn all_done(&self) -> bool {
        self.stages.iter().all(StageRun::complete)
    }
}

/// An attempt that occupies a worker's slot or awaits its commit.
#[derive(Debug, Clone, Copy)]
struct Live {
    job: u64,
    stage: usize,
    task: usize,
    worker: u32,
    started: Instant,
    /// True once the attempt reported `TaskDone` (its slot is free again).
    finished: bool,
    /// Given up on (timed out or superseded) and told to stop; it keeps its
    /// slot until the worker reports it.
    abandoned: bool,
}

pub struct Scheduler {
    jobs: BTreeMap<u64, JobRun>,
    live: HashMap<u64, Live>,
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

    /// Opens the journal in the state directory and rebuilds every job it
    /// records: finished ones as they ended, running ones with their done
    /// tasks (the rest run again). Call once, before serving.
    ///
    /// # Errors
    /// The journal cannot be opened or created (a bad path, or a file that
    /// is not a journal).
    pub fn recover(&mut self, members: &mut Membership, now: Instant) -> Result<Recovered, String> {
        let Some(dir) = self.config.state_dir.clone() else {
            return Ok(Recovered::default());
        };
        let (journal, replay) = Journal::open(&dir.join(JOURNAL_FILE))?;
        let mut found = Recovered {
            entries: replay.records.len(),
            discarded_bytes: replay.discarded_bytes,
            ..Recovered::default()
        };
        for (i, bytes) in replay.records.into_iter().enumerate() {
            match Entry::decode(&bytes) {
                Ok(entry) => self.replay(entry, bytes, now),
                // CRC-checked, so a bug or a newer format: skip it, loudly.
                Err(e) => event!(
                    Error,
                    "scheduler",
                    "journal_entry_skipped",
                    index = i,
                    error = e
                ),
            }
        }
        // Jobs forgotten since the last compaction are still in the file.
        self.forget_old_jobs();
        for job in self.jobs.values_mut() {
            if job.state != JobState::Running {
                found.jobs_finished += 1;
                continue;
            }
            found.jobs_running += 1;
            // A sampling stage that completed before the crash left its
            // samples in the old master's memory: sample again.
            for (id, shuffle) in job.shuffles.iter().enumerate() {
                if shuffle.boundaries.is_some() {
                    continue;
                }
                for stage in &mut job.stages {
                    if stage.plan.output == Output::Sample(id as u32) {
                        for task in &mut stage.tasks {
                            task.state = TaskState::Pending;
                        }
                        stage.finished = None;
                    }
                }
            }
        }
        found.epoch = self.epoch;
        self.next_attempt = u64::from(self.epoch) * ATTEMPTS_PER_EPOCH + 1;
        members.reserve_ids(self.max_worker);
        if found.jobs_running > 0 {
            self.recovered = Some(now);
        }
        self.journal = Some(journal);
        self.log(None, &Entry::Start { epoch: self.epoch }, true);
        self.compact();
        Ok(found)
    }

    /// Applies one journal entry to the state being rebuilt.
    fn replay(&mut self, entry: Entry, bytes: Vec<u8>, now: Instant) {
        match entry {
            Entry::Start { epoch } => self.epoch = self.epoch.max(epoch + 1),
            Entry::Worker { id } => self.max_worker = self.max_worker.max(id),
            Entry::Job {
                id,
                file,
                source,
                params,
                base_dir,
                parallelism,
                inputs,
            } => {
                match crate::submission::accept(file, source, params, base_dir, parallelism, inputs)
                {
                    Ok(new) => {
                        self.insert_job(id, new, now);
                        self.next_job = self.next_job.max(id + 1);
                        if let Some(job) = self.jobs.get_mut(&id) {
                            job.entries.push(bytes);
                        }
                    }
                    Err(e) => event!(
                        Error,
                        "scheduler",
                        "journal_job_skipped",
                        job = id,
                        error = e
                    ),
                }
            }
            Entry::TaskDone {
                job,
                stage,
                task,
                worker,
                metrics,
            } => {
                let Some(run) = self.jobs.get_mut(&job) else {
                    return;
                };
                let Some(st) = run.stages.get_mut(stage as usize) else {
                    return;
                };
                let Some(t) = st.tasks.get_mut(task as usize) else {
                    return;
                };
                t.state = TaskState::Done { worker };
                t.duration = Some(Duration::from_millis(metrics.duration_ms));
                st.attempts += 1;
                add(&mut st.metrics, &metrics);
                st.started.get_or_insert(now);
                if st.complete() {
                    st.finished = Some(now);
                }
                run.entries.push(bytes);
            }
            Entry::Boundaries {
                job,
                shuffle,
                boundaries,
            } => {
                if let Some(run) = self.jobs.get_mut(&job) {
                    if let Some(sh) = run.shuffles.get_mut(shuffle as usize) {
                        sh.boundaries = Some(boundaries);
                        run.entries.push(bytes);
                    }
                }
            }
            Entry::JobEnded { report } => {
                if let Some(run) = self.jobs.get_mut(&report.id) {
                    run.state = report.state;
                    run.error = report.error.clone();
                    run.finished = Some(now);
                    run.entries.truncate(1);
                    run.entries.push(bytes);
                    run.final_report = Some(report);
                }
            }
        }
    }

    /// Appends `entry` to the journal (and to job `job`'s entries). A
    /// durable entry is fsynced before this returns; the others are written
    /// to the kernel (they survive the master's death, not the machine's).
    fn log(&mut self, job: Option<u64>, entry: &Entry, durable: bool) {
        let Some(journal) = self.journal.as_mut() else {
            return;
        };
        let bytes = entry.encode();
        let written = journal.append(&bytes).and_then(|()| {
            if durable {
                journal.sync()
            } else {
                journal.flush()
            }
        });
        if let Err(e) = written {
            // Keep scheduling; a restart will not know what followed.
            event!(Error, "scheduler", "journal_write_failed", error = e);
            self.journal = None;
            return;
        }
        if let Some(run) = job.and_then(|id| self.jobs.get_mut(&id)) {
            run.entries.push(bytes);
        }
    }

    /// Rewrites the journal as just what the kept jobs need, once it holds
    /// more than twice that (plus some slack), so it does not grow with
    /// the number of jobs ever run; the rewrites cost, amortized, a copy
    /// of each entry.
    fn compact(&mut self) {
        let Some(journal) = self.journal.as_mut() else {
            return;
        };
        let live: usize = 2 + self.jobs.values().map(|j| j.entries.len()).sum::<usize>();
        if journal.records() as usize <= 2 * live + 16 {
            return;
        }
        let mut snapshot = vec![
            Entry::Start { epoch: self.epoch }.encode(),
            Entry::Worker {
                id: self.max_worker,
            }
            .encode(),
        ];
        for job in self.jobs.values() {
            snapshot.extend(job.entries.iter().cloned());
        }
        let before = journal.records();
        match journal.rewrite(&snapshot) {
            Ok(()) => event!(
                Info,
                "scheduler",
                "journal_compacted",
                entries_before = before,
                entries_after = snapshot.len()
            ),
            Err(e) => {
                event!(Error, "scheduler", "journal_write_failed", error = e);
                self.journal = None;
            }
        }
    }

    /// A worker registered with id `id`: new ids are journaled, so that
    /// after a restart they are not handed out again.
    pub fn worker_seen(&mut self, id: u32) {
        if id > self.max_worker {
            self.max_worker = id;
            self.log(None, &Entry::Worker { id }, false);
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

    fn insert_job(&mut self, id: u64, job: NewJob, now: Instant) {
        let stages: Vec<StageRun> = job
            .plan
            .stages
            .iter()
            .map(|plan| {
                let mut tasks = Vec::new();
                for (s, segment) in plan.segments.iter().enumerate() {
                    match segment.input {
                        Input::Source(d) => {
                            for (i, split) in job.splits.get(&d).into_iter().flatten().enumerate() {
                                tasks.push(task_run(s, i, split.clone()));
                            }
                        }
                        Input::Shuffle(w) => {
                            for p in 0..job.plan.partitions_of(w) {
                                tasks.push(task_run(s, p as usize, SplitInfo::default()));
                            }
                        }
                    }
                }
                StageRun {
                    plan: plan.clone(),
                    tasks,
                    metrics: TaskMetrics::default(),
                    attempts: 0,
                    attempts_failed: 0,
                    started: None,
                    finished: None,
                }
            })
            .collect();
        let tasks: usize = stages.iter().map(|s| s.tasks.len()).sum();
        event!(
            Info,
            "scheduler",
            "job_submitted",
            job = id,
            file = job.file,
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
                file: job.file,
                source: job.source,
                params: job.params,
                base_dir: job.base_dir,
                parallelism: job.parallelism,
                outputs: job.outputs,
                plan: job.plan,
                state: JobState::Running,
                error: String::new(),
                stages,
                shuffles,
                submitted: now,
                finished: None,
                committer: None,
                entries: Vec::new(),
                final_report: None,
                attempts: Vec::new(),
                attempt_at: HashMap::new(),
                events: EventLogs::new(self.config.state_dir.as_deref()),
            },
        );
    }

    /// Hands runnable pending tasks to live workers with a free slot,
    /// round-robin, oldest job and earliest stage first.
    pub fn schedule(&mut self, members: &mut Membership, now: Instant) {
        // A job whose every part is in place but that had no live worker to
        // write `_SUCCESS` gets one now.
        for job in self.jobs.values_mut() {
            if job.state == JobState::Running && job.committer.is_none() && job.all_done() {
                request_job_commit(job, members, None);
            }
        }
        let mut workers: Vec<(u32, u32)> = members
            .alive()
            .map(|m| (m.id, m.slots.saturating_sub(m.running)))
            .collect();
        if workers.iter().all(|&(_, free)| free == 0) {
            return;
        }
        for job in self.jobs.values_mut() {
            if job.state != JobState::Running {
                continue;
            }
            for s in 0..job.stages.len() {
                if !job.runnable(&job.stages[s], members) {
                    continue;
                }
                for t in 0..job.stages[s].tasks.len() {
                    if job.stages[s].tasks[t].state != TaskState::Pending {
                        continue;
                    }
                    let avoid = job.stages[s].tasks[t].avoid;
                    let Some(worker) = next_free(&mut workers, self.last_worker, avoid) else {
                        if avoid.is_some() {
                            continue; // its other workers are busy: wait
                        }
                        return;
                    };
                    let attempt = self.next_attempt;
                    if launch(job, (s, t), attempt, worker, members, false, now) {
                        self.next_attempt += 1;
                        self.last_worker = worker;
                        let task = &mut job.stages[s].tasks[t];
                        task.state = TaskState::Running { attempt };
                        task.avoid = None;
                        self.live.insert(attempt, live(job.id, s, t, worker, now));
                        job.stages[s].started.get_or_insert(now);
                    }
                }
            }
        }
    }

    /// Periodic checks, on the master's timer: attempts past
    /// `--task-timeout-ms`, and stragglers worth a speculative copy.
    pub fn tick(&mut self, members: &mut Membership, now: Instant) {
        if let Some(since) = self.recovered {
            if now.duration_since(since) > self.config.recovery_grace {
                self.recovered = None;
                self.forget_missing_workers(members);
            }
        }
        if let Some(timeout) = self.config.task_timeout {
            let late: Vec<(u64, Live)> = self
                .live
                .iter()
                .filter(|(_, l)| {
                    !l.finished && !l.abandoned && now.duration_since(l.started) > timeout
                })
                .map(|(&a, &l)| (a, l))
                .collect();
            for (attempt, live) in late {
                // The worker is told to stop it; its slot frees when it says so.
                send(members, live.worker, Message::AbortTask { attempt });
                let error = format!(
                    "attempt {attempt} timed out after {} ms on worker {} (--task-timeout-ms)",
                    timeout.as_millis(),
                    live.worker
                );
                if let Some(job) = self.jobs.get_mut(&live.job) {
                    job.end_attempt(attempt, AttemptOutcome::TimedOut, now);
                }
                self.fail_attempt(members, attempt, live, error, now);
                if let Some(job) = self.jobs.get_mut(&live.job) {
                    job.stages[live.stage].tasks[live.task].avoid = Some(live.worker);
                }
            }
        }
        if self.config.speculation {
            self.speculate(members, now);
        }
        self.schedule(members, now);
    }

    /// After a restart's grace period: map outputs held by workers that
    /// never came back are computed again.
    fn forget_missing_workers(&mut self, members: &Membership) {
        for job in self.jobs.values_mut() {
            lose_map_outputs(job, |w| members.get(w).is_none(), "worker_did_not_return");
        }
    }

    /// Speculative execution, as Spark does it: once 75% of a stage's tasks
    /// are done, a task running over 1.5 times the median of the finished
    /// ones gets a second attempt on another worker. The first to finish
    /// wins; the other is aborted.
    fn speculate(&mut self, members: &mut Membership, now: Instant) {
        let mut workers: Vec<(u32, u32)> = members
            .alive()
            .map(|m| (m.id, m.slots.saturating_sub(m.running)))
            .collect();
        for job in self.jobs.values_mut() {
            if job.state != JobState::Running {
                continue;
            }
            for s in 0..job.stages.len() {
                let stage = &job.stages[s];
                let mut done: Vec<Duration> =
                    stage.tasks.iter().filter_map(|t| t.duration).collect();
                let total = stage.tasks.len();
                if done.is_empty() || (done.len() as f64) < SPECULATION_QUANTILE * total as f64 {
                    continue;
                }
                done.sort_unstable();
                let median = done[done.len() / 2];
                let threshold = median.mul_f64(SPECULATION_MULTIPLIER).max(SPECULATION_MIN);
                for t in 0..total {
                    let task = &job.stages[s].tasks[t];
                    let (TaskState::Running { attempt: first }, None) = (&task.state, task.copy)
                    else {
                        continue;
                    };
                    let Some(running) = self.live.get(first) else {
                        continue;
                    };
                    if now.duration_since(running.started) <= threshold {
                        continue;
                    }
                    let busy = running.worker;
                    let Some(worker) = next_free(&mut workers, self.last_worker, Some(busy))
                        .filter(|&w| w != busy)
                    else {
                        return;
                    };
                    let attempt = self.next_attempt;
                    if launch(job, (s, t), attempt, worker, members, true, now) {
                        self.next_attempt += 1;
                        self.last_worker = worker;
                        job.stages[s].tasks[t].copy = Some(attempt);
                        self.live.insert(attempt, live(job.id, s, t, worker, now));
                        event!(
                            Info,
                            "scheduler",
                            "task_speculated",
                            job = job.id,
                            stage = s,
                            task = t,
                            attempt = attempt,
                            worker = worker,
                            median_ms = median.as_millis()
                        );
                    }
                }
            }
        }
    }

    /// An attempt finished. The first one accepted for its task commits.
    pub fn task_done(
        &mut self,
        members: &mut Membership,
        worker: u32,
        attempt: u64,
        metrics: TaskMetrics,
        samples: Vec<Pair>,
        now: Instant,
    ) {
        let Some(live) = self.settle(members, worker, attempt) else {
            event!(
                Info,
                "scheduler",
                "stale_attempt_aborted",
                attempt = attempt,
                worker = worker,
                reason = "not awaited"
            );
            send(members, worker, Message::AbortTask { attempt });
            return;
        };
        // A job forgotten (`--retained-jobs`) while this attempt ran is over.
        let running = self.jobs.get(&live.job).is_some_and(|job| {
            job.state == JobState::Running && job.stages[live.stage].tasks[live.task].runs(attempt)
        });
        if !running {
            self.live.remove(&attempt);
            if let Some(job) = self.jobs.get_mut(&live.job) {
                job.end_attempt(attempt, AttemptOutcome::Aborted, now);
            }
            event!(
                Info,
                "scheduler",
                "stale_attempt_aborted",
                job = live.job,
                attempt = attempt,
                worker = worker,
                reason = "task already settled"
            );
            send(members, worker, Message::AbortTask { attempt });
            return;
        }
        let Some(job) = self.jobs.get_mut(&live.job) else {
            return;
        };
        job.end_attempt(attempt, AttemptOutcome::Succeeded, now);
        let stage = &mut job.stages[live.stage];
        let task = &mut stage.tasks[live.task];
        // The first of two speculative attempts to finish wins.
        let other = match (&task.state, task.copy) {
            (TaskState::Running { attempt: a }, _) if *a != attempt => Some(*a),
            (_, Some(c)) if c != attempt => Some(c),
            _ => None,
        };
        task.state = TaskState::Committing { attempt };
        task.copy = None;
        task.duration = Some(Duration::from_millis(metrics.duration_ms));
        task.metrics = metrics.clone();
        if let Some(other) = other {
            if let Some(l) = self.live.get_mut(&other) {
                l.abandoned = true;
                send(members, l.worker, Message::AbortTask { attempt: other });
                event!(
                    Info,
                    "scheduler",
                    "attempt_superseded",
                    job = live.job,
                    stage = live.stage,
                    task = live.task,
                    attempt = other,
                    winner = attempt
                );
            }
        }
        add(&mut stage.metrics, &metrics);
        if let Output::Sample(id) = stage.plan.output {
            job.shuffles[id as usize].samples.insert(live.task, samples);
        }
        event!(
            Info,
            "scheduler",
            "task_done",
            job = live.job,
            stage = live.stage,
            task = live.task,
            attempt = attempt,
            worker = worker,
            records_out = metrics.records_out,
            ms = metrics.duration_ms
        );
        send(members, worker, Message::CommitTask { attempt });
    }

    /// An attempt's output is in place (or, for a map task, being served).
    pub fn task_committed(
        &mut self,
        members: &mut Membership,
        worker: u32,
        attempt: u64,
        now: Instant,
    ) {
        let Some(live) = self
            .live
            .get(&attempt)
            .copied()
            .filter(|l| l.worker == worker)
        else {
            event!(
                Warn,
                "scheduler",
                "stale_commit_ignored",
                attempt = attempt,
                worker = worker
            );
            return;
        };
        self.live.remove(&attempt);
        let Some(job) = self.jobs.get_mut(&live.job) else {
            return;
        };
        let stage = &mut job.stages[live.stage];
        if stage.tasks[live.task].state != (TaskState::Committing { attempt }) {
            return;
        }
        stage.tasks[live.task].state = TaskState::Done { worker };
        let mut entries = vec![Entry::TaskDone {
            job: live.job,
            stage: live.stage as u32,
            task: live.task as u32,
            worker,
            metrics: stage.tasks[live.task].metrics.clone(),
        }];
        if stage.complete() {
            stage.finished = Some(now);
            event!(
                Info,
                "scheduler",
                "stage_done",
                job = live.job,
                stage = live.stage
            );
            let output = stage.plan.output;
            job.event(now, "stage_done", &[("stage", live.stage.to_string())]);
            if let Output::Sample(id) = output {
                let partitions = job.plan.shuffles[id as usize].partitions;
                let shuffle = &mut job.shuffles[id as usize];
                let samples: Vec<Pair> = shuffle.samples.values().flatten().cloned().collect();
                let boundaries = range_boundaries(samples, partitions);
                event!(
                    Info,
                    "scheduler",
                    "range_boundaries",
                    job = live.job,
                    shuffle = id,
                    count = boundaries.len()
                );
                shuffle.boundaries = Some(boundaries.clone());
                entries.push(Entry::Boundaries {
                    job: live.job,
                    shuffle: id,
                    boundaries,
                });
            }
        }
        if job.state == JobState::Running && job.all_done() {
            request_job_commit(job, members, Some(worker));
        }
        for entry in &entries {
            self.log(Some(live.job), entry, false);
        }
    }

    /// An attempt failed: retry it, or fail the job after `max_attempts`.
    pub fn task_failed(
        &mut self,
        members: &mut Membership,
        worker: u32,
        attempt: u64,
        error: String,
        now: Instant,
    ) {
        let Some(live) = self.settle(members, worker, attempt) else {
            event!(
                Info,
                "scheduler",
                "stale_failure_ignored",
                attempt = attempt,
                worker = worker,
                error = error
            );
            return;
        };
        self.live.remove(&attempt);
        if let Some(job) = self.jobs.get_mut(&live.job) {
            let outcome = match live.abandoned {
                true => AttemptOutcome::Aborted,
                false => AttemptOutcome::Failed,
            };
            job.end_attempt(attempt, outcome, now);
        }
        if !live.abandoned {
            self.fail_attempt(members, attempt, live, error, now);
        }
    }

    /// Counts a failure of `attempt`; the task runs again unless it has
    /// failed `max_attempts` times, which fails its job.
    fn fail_attempt(
        &mut self,
        members: &mut Membership,
        attempt: u64,
        live: Live,
        error: String,
        now: Instant,
    ) {
        if let Some(l) = self.live.get_mut(&attempt) {
            l.abandoned = true;
        }
        let max = self.config.max_attempts;
        let Some(job) = self.jobs.get_mut(&live.job) else {
            return;
        };
        let stage = &mut job.stages[live.stage];
        let task = &mut stage.tasks[live.task];
        let ours = task.runs(attempt) || task.state == (TaskState::Committing { attempt });
        if job.state != JobState::Running || !ours {
            return;
        }
        task.failures += 1;
        stage.attempts_failed += 1;
        event!(
            Warn,
            "scheduler",
            "task_failed",
            job = live.job,
            stage = live.stage,
            task = live.task,
            attempt = attempt,
            worker = live.worker,
            failures = task.failures,
            error = error
        );
        let failures = task.failures;
        if failures >= max {
            let reason = format!(
                "task {} of stage {} failed {} times; last error: {}",
                live.task, live.stage, failures, error
            );
            self.finish_job(members, live.job, JobState::Failed, reason, now);
        } else if !task.drop_attempt(attempt) {
            event!(
                Info,
                "scheduler",
                "task_retry",
                job = live.job,
                stage = live.stage,
                task = live.task,
                failures = failures
            );
        }
    }

    /// A reduce attempt could not fetch map output `map` of `shuffle` from
    /// `addr`. As Spark does on a FetchFailed, the master forgets that
    /// output and runs its map task again (the reduce stage waits for it),
    /// then the reduce task; the attempt does not count as a failure. An
    /// output lost more than `max_attempts` times fails the job.
    #[allow(clippy::too_many_arguments)]
    pub fn fetch_failed(
        &mut self,
        members: &mut Membership,
        worker: u32,
        attempt: u64,
        shuffle: u32,
        map: u32,
        addr: &str,
        error: String,
        now: Instant,
    ) {
        let Some(live) = self.settle(members, worker, attempt) else {
            return;
        };
        self.live.remove(&attempt);
        let max = self.config.max_attempts;
        let Some(job) = self.jobs.get_mut(&live.job) else {
            return;
        };
        job.end_attempt(attempt, AttemptOutcome::FetchFailed, now);
        let reducer = &mut job.stages[live.stage].tasks[live.task];
        if job.state != JobState::Running || live.abandoned || !reducer.runs(attempt) {
            return;
        }
        reducer.drop_attempt(attempt);
        job.stages[live.stage].attempts_failed += 1;
        event!(
            Warn,
            "scheduler",
            "fetch_failed",
            job = live.job,
            stage = live.stage,
            task = live.task,
            attempt = attempt,
            shuffle = shuffle,
            map = map,
            from = addr,
            error = error
        );
        let Some(map_stage) = job
            .stages
            .iter()
            .position(|st| st.plan.output == Output::Shuffle(shuffle))
        else {
            return;
        };
        let stage = &mut job.stages[map_stage];
        let Some(task) = stage.tasks.get_mut(map as usize) else {
            return;
        };
        // Only if the output is still where the reducer looked: another
        // reducer may have reported it first, and it may run again already.
        let TaskState::Done { worker: holder } = task.state else {
            return;
        };
        if members.get(holder).is_some_and(|m| m.data_addr != addr) {
            return;
        }
        task.state = TaskState::Pending;
        task.duration = None;
        task.outputs_lost += 1;
        stage.finished = None;
        event!(
            Warn,
            "scheduler",
            "map_output_lost",
            job = live.job,
            stage = map_stage,
            task = map,
            worker = holder,
            reason = "fetch_failed"
        );
        if task.outputs_lost > max {
            let reason = format!(
                "the output of task {map} of stage {map_stage} could not be fetched {} times; \
                 last error: {error}",
                task.outputs_lost
            );
            self.finish_job(members, live.job, JobState::Failed, reason, now);
        }
    }

    /// The worker wrote `_SUCCESS` (or could not).
    pub fn job_committed(
        &mut self,
        members: &mut Membership,
        worker: u32,
        job_id: u64,
        error: String,
        now: Instant,
    ) {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return;
        };
        if job.state != JobState::Running || job.committer != Some(worker) {
            return;
        }
        if error.is_empty() {
            let ms = now.duration_since(job.submitted).as_millis();
            event!(Info, "scheduler", "job_succeeded", job = job_id, ms = ms);
            self.finish_job(members, job_id, JobState::Succeeded, String::new(), now);
        } else {
            let reason = format!("committing the job output failed: {error}");
            self.finish_job(members, job_id, JobState::Failed, reason, now);
        }
    }

    /// A worker died: its attempts go back to the queue, and so do the map
    /// tasks whose output it held, where a stage still needs them.
    pub fn worker_lost(&mut self, members: &mut Membership, worker: u32) {
        if let Some(m) = members.get_mut(worker) {
            m.running = 0;
        }
        let lost: Vec<(u64, Live)> = self
            .live
            .iter()
            .filter(|(_, l)| l.worker == worker)
            .map(|(&a, &l)| (a, l))
            .collect();
        for (attempt, live) in lost {
            self.live.remove(&attempt);
            let Some(job) = self.jobs.get_mut(&live.job) else {
                continue;
            };
            job.end_attempt(attempt, AttemptOutcome::Lost, Instant::now());
            let task = &mut job.stages[live.stage].tasks[live.task];
            let ours = task.runs(attempt) || task.state == (TaskState::Committing { attempt });
            if job.state == JobState::Running && ours && !task.drop_attempt(attempt) {
                event!(
                    Warn,
                    "scheduler",
                    "task_requeued",
                    job = live.job,
                    stage = live.stage,
                    task = live.task,
                    attempt = attempt,
                    worker = worker,
                    reason = "worker_lost"
                );
            }
        }
        for job in self.jobs.values_mut() {
            if job.state != JobState::Running {
                continue;
            }
            lose_map_outputs(job, |w| w == worker, "worker_lost");
            // A job commit in flight on the lost worker goes to another one.
            if job.committer == Some(worker) {
                request_job_commit(job, members, None);
            }
        }
    }

    /// Stops a job: its attempts are cancelled on every worker.
    pub fn cancel(
        &mut self,
        members: &mut Membership,
        job_id: u64,
        now: Instant,
    ) -> Result<(), String> {
        let job = self
            .jobs
            .get(&job_id)
            .ok_or_else(|| format!("no job {job_id}"))?;
        if job.state.is_final() {
            return Ok(());
        }
        self.finish_job(
            members,
            job_id,
            JobState::Cancelled,
            "cancelled by a client".into(),
            now,
        );
        Ok(())
    }

    /// Ends a job in `state`, and tells every worker to release it: stop its
    /// attempts and remove its temporary, shuffle and spill files.
    fn finish_job(
        &mut self,
        members: &mut Membership,
        job_id: u64,
        state: JobState,
        error: String,
        now: Instant,
    ) {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return;
        };
        job.state = state;
        job.error = error;
        job.finished = Some(now);
        let running: Vec<u64> = job
            .attempts
            .iter()
            .filter(|a| a.outcome == AttemptOutcome::Running)
            .map(|a| a.attempt)
            .collect();
        for attempt in running {
            job.end_attempt(attempt, AttemptOutcome::Aborted, now);
        }
        // Its report stays as it is now, also across a restart.
        let report = self.report(job_id, members, now);
        if let Some(job) = self.jobs.get_mut(&job_id) {
            for (event, fields) in report.iter().flat_map(eventlog::closing_events) {
                job.event(now, event, &fields);
            }
            job.final_report = report.clone();
            job.entries.truncate(1);
        }
        if let Some(report) = report {
            self.log(Some(job_id), &Entry::JobEnded { report }, true);
        }
        if state != JobState::Succeeded {
            let error = self.jobs.get(&job_id).map(|j| j.error.clone());
            event!(
                Warn,
                "scheduler",
                "job_ended",
                job = job_id,
                state = state,
                error = error.unwrap_or_default()
            );
        }
        // Attempts still running keep their slots until their worker reports
        // them (as failed: cancelled); committing ones are aborted.
        let committing: Vec<(u64, u32)> = self
            .live
            .iter()
            .filter(|(_, l)| l.job == job_id && l.finished)
            .map(|(&a, l)| (a, l.worker))
            .collect();
        for (attempt, worker) in committing {
            self.live.remove(&attempt);
            send(members, worker, Message::AbortTask { attempt });
        }
        for member in members.alive() {
            member.send(Message::ReleaseJob { job_id });
        }
        self.forget_old_jobs();
        self.compact();
    }

    /// Keeps the `retained_jobs` most recently finished jobs. (Attempts of
    /// a forgotten job still running keep their `live` entries, so their
    /// slots free up when they report.)
    fn forget_old_jobs(&mut self) {
        let mut finished: Vec<(Option<Instant>, u64)> = self
            .jobs
            .values()
            .filter(|j| j.state != JobState::Running)
            .map(|j| (j.finished, j.id))
            .collect();
        finished.sort();
        let excess = finished
            .len()
            .saturating_sub(self.config.retained_jobs.max(1));
        for (_, id) in &finished[..excess] {
            self.jobs.remove(id);
            // Event logs outlive their jobs tenfold, then go too.
            let old = id.saturating_sub(10 * self.config.retained_jobs as u64);
            if old > 0 && !self.jobs.contains_key(&old) {
                self.events().remove(old);
            }
        }
    }

    /// Marks a live attempt reported by `worker` as finished, freeing its slot.
    fn settle(&mut self, members: &mut Membership, worker: u32, attempt: u64) -> Option<Live> {
        let live = self.live.get_mut(&attempt).filter(|l| l.worker == worker)?;
        if !live.finished {
            live.finished = true;
            if let Some(m) = members.get_mut(worker) {
                m.running = m.running.saturating_sub(1);
            }
        }
        Some(*live)
    }

    /// The event logs of this master's jobs.
    fn events(&self) -> EventLogs {
        EventLogs::new(self.config.state_dir.as_deref())
    }

    /// Job `job_id`'s report: from memory, or from its event log once the
    /// job has been forgotten.
    pub fn report(&self, job_id: u64, members: &Membership, now: Instant) -> Option<JobReport> {
        let Some(job) = self.jobs.get(&job_id) else {
            let path = self.events().path(job_id)?;
            return eventlog::read(&path).ok().filter(|r| r.id == job_id);
        };
        if let Some(report) = &job.final_report {
            return Some(report.clone());
        }
        let mut parts = Vec::new();
        let stages = job
            .stages
            .iter()
            .map(|stage| {
                let m = &stage.metrics;
                let mut report = StageReport {
                    stage: stage.plan.id,
                    ops: stage.plan.ops.clone(),
                    tasks_total: stage.tasks.len() as u32,
                    attempts: stage.attempts,
                    attempts_failed: stage.attempts_failed,
                    attempts_retried: job
                        .attempts
                        .iter()
                        .filter(|a| a.stage == stage.plan.id && a.retry != 0)
                        .count() as u32,
                    records_in: m.records_in,
                    records_out: m.records_out,
                    bytes_in: m.bytes_in,
                    bytes_out: m.bytes_out,
                    start_ms: stage
                        .started
                        .map_or(0, |t| ms(t.duration_since(job.submitted))),
                    end_ms: stage
                        .finished
                        .map_or(0, |t| ms(t.duration_since(job.submitted))),
                    duration_ms: match (stage.started, stage.finished) {
                        (Some(s), Some(f)) => ms(f.duration_since(s)),
                        (Some(s), None) => ms(now.duration_since(s)),
                        _ => 0,
                    },
                    shuffle_write_bytes: m.shuffle_write_bytes,
                    shuffle_read_bytes: m.shuffle_read_bytes,
                    spill_bytes: m.spill_bytes,
                    spill_records: m.spill_records,
                    ..StageReport::default()
                };
                for (t, task) in stage.tasks.iter().enumerate() {
                    match task.state {
                        TaskState::Done { worker } => {
                            report.tasks_done += 1;
                            if let Output::Save(save) = stage.plan.output {
                                parts.push(PartLocation {
                                    save: save as u32,
                                    part: t as u32,
                                    worker_addr: members
                                        .get(worker)
                                        .map(|m| m.data_addr.clone())
                                        .unwrap_or_default(),
                                });
                            }
                        }
                        TaskState::Running { .. } | TaskState::Committing { .. } => {
                            report.tasks_running += 1
                        }
                        TaskState::Pending => {}
                    }
                }
                report
            })
            .collect();
        Some(JobReport {
            id: job.id,
            file: job.file.clone(),
            state: job.state,
            error: job.error.clone(),
            elapsed_ms: ms(job.finished.unwrap_or(now).duration_since(job.submitted)),
            stages,
            outputs: job.outputs.clone(),
            parts,
            attempts: job.attempts.clone(),
        })
    }

    pub fn summaries(&self, now: Instant) -> Vec<JobSummary> {
        self.jobs
            .values()
            .map(|job| match &job.final_report {
                Some(r) => JobSummary {
                    id: r.id,
                    file: r.file.clone(),
                    state: r.state,
                    tasks_done: r.stages.iter().map(|s| s.tasks_done).sum(),
                    tasks_total: r.stages.iter().map(|s| s.tasks_total).sum(),
                    elapsed_ms: r.elapsed_ms,
                },
                None => JobSummary {
                    id: job.id,
                    file: job.file.clone(),
                    state: job.state,
                    tasks_done: job
                        .stages
                        .iter()
                        .flat_map(|s| &s.tasks)
                        .filter(|t| matches!(t.state, TaskState::Done { .. }))
                        .count() as u32,
                    tasks_total: job.stages.iter().map(|s| s.tasks.len() as u32).sum(),
                    elapsed_ms: ms(job.finished.unwrap_or(now).duration_since(job.submitted)),
                },
            })
            .collect()
    }
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
    }
}

/// Sends attempt `attempt` of task `t` of stage `s` to `worker`; false if
/// the worker is gone.
fn launch(
    job: &mut JobRun,
    (s, t): (usize, usize),
    attempt: u64,
    worker: u32,
    members: &mut Membership,
    speculative: bool,
    now: Instant,
) -> bool {
    let spec = task_spec(job, s, t, attempt, members);
    let Some(member) = members.get_mut(worker) else {
        return false;
    };
    if !member.send(Message::LaunchTask { task: spec }) {
        return false;
    }
    member.running += 1;
    job.stages[s].attempts += 1;
    let task = &mut job.stages[s].tasks[t];
    task.launched += 1;
    job.attempt_at.insert(attempt, job.attempts.len());
    job.attempts.push(AttemptReport {
        attempt,
        stage: s as u32,
        task: t as u32,
        worker,
        start_ms: ms(now.duration_since(job.submitted)),
        end_ms: 0,
        outcome: AttemptOutcome::Running,
        speculative: u8::from(speculative),
        retry: u8::from(!speculative && task.launched > 1),
    });
    let retry = !speculative && task.launched > 1;
    let fields = [
        ("attempt", attempt.to_string()),
        ("stage", s.to_string()),
        ("task", t.to_string()),
        ("worker", worker.to_string()),
        ("speculative", u8::from(speculative).to_string()),
        ("retry", u8::from(retry).to_string()),
    ];
    job.event(now, "attempt_started", &fields);
    event!(
        Info,
        "scheduler",
        "task_launched",
        job = job.id,
        stage = s,
        task = t,
        attempt = attempt,
        worker = worker
    );
    true
}

fn live(job: u64, stage: usize, task: usize, worker: u32, now: Instant) -> Live {
    Live {
        job,
        stage,
        task,
        worker,
        started: now,
        finished: false,
        abandoned: false,
    }
}

/// The spec of task `t` of stage `s`: what to read, and where its inputs live.
fn task_spec(job: &JobRun, s: usize, t: usize, attempt: u64, members: &Membership) -> TaskSpec {
    let stage = &job.stages[s];
    let task = &stage.tasks[t];
    let segment = &stage.plan.segments[task.segment as usize];
    let shuffle_reads = match segment.input {
        Input::Shuffle(wide) => job
            .plan
            .shuffles_of(wide)
            .iter()
            .map(|sh| ShuffleRead {
                shuffle: sh.id,
                maps: job.stages[sh.map_stage as usize]
                    .tasks
                    .iter()
                    .enumerate()
                    .map(|(m, map)| MapLocation {
                        map: m as u32,
                        addr: match map.state {
                            TaskState::Done { worker } => members
                                .get(worker)
                                .map(|w| w.data_addr.clone())
                                .unwrap_or_default(),
                            _ => String::new(),
                        },
                    })
                    .collect(),
            })
            .collect(),
        Input::Source(_) => Vec::new(),
    };
    let (boundaries, sample_size) = match stage.plan.output {
        Output::Shuffle(id) => (
            job.shuffles[id as usize]
                .boundaries
                .clone()
                .unwrap_or_default(),
            0,
        ),
        Output::Sample(id) => {
            let total = job.plan.shuffles[id as usize].partitions * SAMPLES_PER_PARTITION;
            (
                Vec::new(),
                total.div_ceil(stage.tasks.len().max(1) as u32).max(20),
            )
        }
        Output::Save(_) => (Vec::new(), 0),
    };
    TaskSpec {
        job_id: job.id,
        attempt,
        stage: s as u32,
        segment: task.segment,
        index: task.index,
        task: t as u32,
        file: job.file.clone(),
        source: job.source.clone(),
        params: job.params.clone(),
        base_dir: job.base_dir.clone(),
        parallelism: job.parallelism,
        split: task.split.clone(),
        shuffle_reads,
        boundaries,
        sample_size,
    }
}

/// Map outputs of a running job held by workers `lost` says are gone go
/// back to the queue, where a stage still needs them.
fn lose_map_outputs(job: &mut JobRun, lost: impl Fn(u32) -> bool, reason: &str) {
    if job.state != JobState::Running {
        return;
    }
    for s in 0..job.stages.len() {
        let Output::Shuffle(id) = job.stages[s].plan.output else {
            continue;
        };
        if !shuffle_still_needed(job, id) {
            continue;
        }
        let stage = &mut job.stages[s];
        for (t, task) in stage.tasks.iter_mut().enumerate() {
            let TaskState::Done { worker } = task.state else {
                continue;
            };
            if lost(worker) {
                task.state = TaskState::Pending;
                task.duration = None;
                stage.finished = None;
                event!(
                    Warn,
                    "scheduler",
                    "map_output_lost",
                    job = job.id,
                    stage = s,
                    task = t,
                    worker = worker,
                    reason = reason
                );
            }
        }
    }
}

/// Whether some stage reading shuffle `id` has not completed yet.
fn shuffle_still_needed(job: &JobRun, id: u32) -> bool {
    let wide = job.plan.shuffles[id as usize].wide;
    job.stages.iter().any(|s| {
        !s.complete()
            && s.plan
                .segments
                .iter()
                .any(|seg| seg.input == Input::Shuffle(wide))
    })
}

/// `partitions - 1` boundaries cutting the sorted samples into equal
/// shares. A record goes to the partition numbered by how many boundaries
/// are less than or equal to it. Samples are (key, value) pairs, so even a
/// key that holds most records is spread over several partitions.
pub fn range_boundaries(mut samples: Vec<Pair>, partitions: u32) -> Vec<Pair> {
    samples.sort_by(|a, b| (&a.key.0, &a.value.0).cmp(&(&b.key.0, &b.value.0)));
    let n = samples.len();
    let mut boundaries: Vec<Pair> = Vec::new();
    if n == 0 {
        return boundaries;
    }
    for i in 1..partitions as usize {
        let b = &samples[(i * n / partitions as usize).min(n - 1)];
        if boundaries.last() != Some(b) {
            boundaries.push(b.clone());
        }
    }
    boundaries
}

/// The next worker after `after` (by id, wrapping) with a free slot; takes
/// the slot. Never `avoid` while another live worker exists (its slots may
/// free up), so a task that timed out there is retried elsewhere.
fn next_free(workers: &mut [(u32, u32)], after: u32, avoid: Option<u32>) -> Option<u32> {
    let start = workers.iter().position(|&(id, _)| id > after).unwrap_or(0);
    let n = workers.len();
    let avoid = avoid.filter(|&a| workers.iter().any(|&(id, _)| id != a));
    let i = (0..n)
        .map(|i| (start + i) % n)
        .find(|&i| workers[i].1 > 0 && Some(workers[i].0) != avoid)?;
    workers[i].1 -= 1;
    Some(workers[i].0)
}

/// Asks `preferred` (or any live worker) to write `_SUCCESS`.
fn request_job_commit(job: &mut JobRun, members: &Membership, preferred: Option<u32>) {
    let chosen = preferred
        .filter(|&w| {
            members
                .get(w)
                .is_some_and(|m| m.state == WorkerState::Alive)
        })
        .or_else(|| members.alive().map(|m| m.id).next());
    job.committer = chosen;
    if let Some(worker) = chosen {
        send(
            members,
            worker,
            Message::CommitJob {
                job_id: job.id,
                outputs: job.outputs.clone(),
            },
        );
        event!(
            Info,
            "scheduler",
            "job_commit_requested",
            job = job.id,
            worker = worker
        );
    }
}

fn send(members: &Membership, worker: u32, msg: Message) {
    if let Some(m) = members.get(worker) {
        m.send(msg);
    }
}

fn add(total: &mut TaskMetrics, m: &TaskMetrics) {
    total.records_in += m.records_in;
    total.records_out += m.records_out;
    total.bytes_in += m.bytes_in;
    total.bytes_out += m.bytes_out;
    total.duration_ms += m.duration_ms;
    total.shuffle_write_bytes += m.shuffle_write_bytes;
    total.shuffle_read_bytes += m.shuffle_read_bytes;
    total.spill_bytes += m.spill_bytes;
    total.spill_records += m.spill_records;
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::Bytes;

    fn pair(k: &str, v: &str) -> Pair {
        Pair {
            key: Bytes(k.into()),
            value: Bytes(v.into()),
        }
    }

    #[test]
    fn next_free_is_round_robin_and_avoids_a_worker_while_another_lives() {
        let mut w = vec![(1, 1), (2, 1), (3, 0)];
        assert_eq!(next_free(&mut w, 1, None), Some(2));
        assert_eq!(next_free(&mut w, 2, None), Some(1));
        assert_eq!(next_free(&mut w, 1, None), None);
        let mut w = vec![(1, 2), (2, 0)];
        // Worker 2 is busy but alive: wait for it rather than use worker 1.
        assert_eq!(next_free(&mut w, 0, Some(1)), None);
        // Alone, the avoided worker is used all the same.
        let mut alone = vec![(1, 1)];
        assert_eq!(next_free(&mut alone, 0, Some(1)), Some(1));
    }

    #[test]
    fn boundaries_split_samples_evenly_even_under_skew() {
        let samples: Vec<Pair> = (0..100).map(|i| pair("hot", &format!("{i:03}"))).collect();
        let b = range_boundaries(samples, 4);
        assert_eq!(
            b,
            vec![pair("hot", "025"), pair("hot", "050"), pair("hot", "075")]
        );
        assert!(range_boundaries(Vec::new(), 4).is_empty());
        let same: Vec<Pair> = (0..10).map(|_| pair("k", "v")).collect();
        assert_eq!(range_boundaries(same, 3).len(), 1);
    }
}
