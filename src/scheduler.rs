//! The scheduler: jobs, their stages and tasks, and which attempt runs where.
//!
//! OS idea: this is a process scheduler one level up. Tasks wait in a run
//! queue (`Pending`), are dispatched to a free slot (round-robin over live
//! workers, never above a worker's slot count), and their completions come
//! back as events. Like the membership table it is plain data behind the
//! master's lock: it talks to workers only by queueing messages on their
//! outboxes, which never blocks.
//!
//! Output commit is Hadoop's: a finished attempt's output waits under a
//! temporary name; the first attempt the scheduler accepts is told to commit
//! it (`CommitTask`), every later one to discard it (`AbortTask`). When every
//! part is committed, one worker writes `_SUCCESS` (`CommitJob`).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::event;
use crate::membership::Membership;
use crate::message::{
    JobReport, JobState, JobSummary, KeyValue, Message, PartLocation, SplitInfo, StageReport,
    TaskMetrics, TaskSpec,
};
use crate::plan::StagePlan;

/// A job as the master accepted it.
pub struct NewJob {
    pub file: String,
    pub source: String,
    pub params: Vec<KeyValue>,
    pub base_dir: String,
    /// The output directory of each save.
    pub outputs: Vec<String>,
    /// Each stage with the splits of its source.
    pub stages: Vec<(StagePlan, Vec<SplitInfo>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TaskState {
    Pending,
    Running {
        attempt: u64,
    },
    /// Finished; waiting for the worker to move its output into place.
    Committing {
        attempt: u64,
    },
    Done {
        worker: u32,
    },
}

struct TaskRun {
    split: SplitInfo,
    state: TaskState,
    /// Attempts that failed (a lost worker does not count).
    failures: u32,
    last_error: String,
}

struct StageRun {
    plan: StagePlan,
    tasks: Vec<TaskRun>,
    metrics: TaskMetrics,
    attempts_failed: u32,
    started: Option<Instant>,
    finished: Option<Instant>,
}

struct JobRun {
    id: u64,
    file: String,
    source: String,
    params: Vec<KeyValue>,
    base_dir: String,
    outputs: Vec<String>,
    state: JobState,
    error: String,
    stages: Vec<StageRun>,
    submitted: Instant,
    finished: Option<Instant>,
    /// The worker asked to write `_SUCCESS`, once every part is in place.
    committer: Option<u32>,
}

/// An attempt that occupies a worker's slot or awaits its commit.
#[derive(Debug, Clone, Copy)]
struct Live {
    job: u64,
    stage: usize,
    task: usize,
    worker: u32,
    /// True once the attempt reported `TaskDone` (its slot is free again).
    finished: bool,
}

pub struct Scheduler {
    jobs: BTreeMap<u64, JobRun>,
    live: HashMap<u64, Live>,
    next_job: u64,
    next_attempt: u64,
    /// The worker that got the last task: round-robin starts after it.
    last_worker: u32,
    max_attempts: u32,
}

impl Scheduler {
    pub fn new(max_attempts: u32) -> Scheduler {
        Scheduler {
            jobs: BTreeMap::new(),
            live: HashMap::new(),
            next_job: 1,
            next_attempt: 1,
            last_worker: 0,
            max_attempts: max_attempts.max(1),
        }
    }

    /// Accepts a planned job; its tasks start at the next `schedule`.
    pub fn submit(&mut self, job: NewJob, now: Instant) -> u64 {
        let id = self.next_job;
        self.next_job += 1;
        let stages = job
            .stages
            .into_iter()
            .map(|(plan, splits)| StageRun {
                plan,
                tasks: splits
                    .into_iter()
                    .map(|split| TaskRun {
                        split,
                        state: TaskState::Pending,
                        failures: 0,
                        last_error: String::new(),
                    })
                    .collect(),
                metrics: TaskMetrics::default(),
                attempts_failed: 0,
                started: None,
                finished: None,
            })
            .collect::<Vec<_>>();
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
        self.jobs.insert(
            id,
            JobRun {
                id,
                file: job.file,
                source: job.source,
                params: job.params,
                base_dir: job.base_dir,
                outputs: job.outputs,
                state: JobState::Running,
                error: String::new(),
                stages,
                submitted: now,
                finished: None,
                committer: None,
            },
        );
        id
    }

    /// Hands pending tasks to live workers with a free slot, round-robin.
    pub fn schedule(&mut self, members: &mut Membership, now: Instant) {
        // A job whose every part is in place but that had no live worker to
        // write `_SUCCESS` gets one now.
        for job in self.jobs.values_mut() {
            if job.state == JobState::Running && job.committer.is_none() && all_done(job) {
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
            for (s, stage) in job.stages.iter_mut().enumerate() {
                for (t, task) in stage.tasks.iter_mut().enumerate() {
                    if task.state != TaskState::Pending {
                        continue;
                    }
                    let Some(worker) = next_free(&mut workers, self.last_worker) else {
                        return;
                    };
                    let attempt = self.next_attempt;
                    self.next_attempt += 1;
                    let spec = TaskSpec {
                        job_id: job.id,
                        attempt,
                        stage: stage.plan.id,
                        partition: t as u32,
                        file: job.file.clone(),
                        source: job.source.clone(),
                        params: job.params.clone(),
                        base_dir: job.base_dir.clone(),
                        pipeline: stage.plan.pipeline.iter().map(|&d| d as u32).collect(),
                        save: stage.plan.save as u32,
                        split: task.split.clone(),
                    };
                    let Some(member) = members.get_mut(worker) else {
                        continue;
                    };
                    if !member.send(Message::LaunchTask { task: spec }) {
                        continue;
                    }
                    member.running += 1;
                    self.last_worker = worker;
                    task.state = TaskState::Running { attempt };
                    stage.started.get_or_insert(now);
                    self.live.insert(
                        attempt,
                        Live {
                            job: job.id,
                            stage: s,
                            task: t,
                            worker,
                            finished: false,
                        },
                    );
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
    ) {
        let Some(live) = self.take_slot(members, worker, attempt) else {
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
        let job = self
            .jobs
            .get_mut(&live.job)
            .expect("live attempts belong to known jobs");
        let stage = &mut job.stages[live.stage];
        let task = &mut stage.tasks[live.task];
        if job.state != JobState::Running || task.state != (TaskState::Running { attempt }) {
            self.live.remove(&attempt);
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
        task.state = TaskState::Committing { attempt };
        add(&mut stage.metrics, &metrics);
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

    /// An attempt's output is in place.
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
        let job = self
            .jobs
            .get_mut(&live.job)
            .expect("live attempts belong to known jobs");
        let stage = &mut job.stages[live.stage];
        if stage.tasks[live.task].state != (TaskState::Committing { attempt }) {
            return;
        }
        stage.tasks[live.task].state = TaskState::Done { worker };
        if stage
            .tasks
            .iter()
            .all(|t| matches!(t.state, TaskState::Done { .. }))
        {
            stage.finished = Some(now);
            event!(
                Info,
                "scheduler",
                "stage_done",
                job = live.job,
                stage = live.stage
            );
        }
        if job.state == JobState::Running && all_done(job) {
            request_job_commit(job, members, Some(worker));
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
        let Some(live) = self.take_slot(members, worker, attempt) else {
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
        let max = self.max_attempts;
        let job = self
            .jobs
            .get_mut(&live.job)
            .expect("live attempts belong to known jobs");
        let stage = &mut job.stages[live.stage];
        let task = &mut stage.tasks[live.task];
        if job.state != JobState::Running || task.state != (TaskState::Running { attempt }) {
            return;
        }
        task.failures += 1;
        task.last_error = error.clone();
        stage.attempts_failed += 1;
        event!(
            Warn,
            "scheduler",
            "task_failed",
            job = live.job,
            stage = live.stage,
            task = live.task,
            attempt = attempt,
            worker = worker,
            failures = task.failures,
            error = error
        );
        if task.failures >= max {
            let reason = format!(
                "task {} of stage {} failed {} times; last error: {}",
                live.task, live.stage, task.failures, error
            );
            self.finish_job(members, live.job, JobState::Failed, reason, now);
        } else {
            task.state = TaskState::Pending;
        }
    }

    /// The worker wrote `_SUCCESS` (or could not).
    pub fn job_committed(&mut self, worker: u32, job_id: u64, error: String, now: Instant) {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return;
        };
        if job.state != JobState::Running || job.committer != Some(worker) {
            return;
        }
        job.finished = Some(now);
        if error.is_empty() {
            job.state = JobState::Succeeded;
            event!(
                Info,
                "scheduler",
                "job_succeeded",
                job = job_id,
                ms = now.duration_since(job.submitted).as_millis()
            );
        } else {
            job.state = JobState::Failed;
            job.error = format!("committing the job output failed: {error}");
            event!(
                Warn,
                "scheduler",
                "job_failed",
                job = job_id,
                error = job.error
            );
        }
    }

    /// A worker died: its attempts go back to the queue.
    pub fn worker_lost(&mut self, members: &mut Membership, worker: u32) {
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
            let task = &mut job.stages[live.stage].tasks[live.task];
            let ours = matches!(task.state,
                TaskState::Running { attempt: a } | TaskState::Committing { attempt: a } if a == attempt);
            if job.state == JobState::Running && ours {
                task.state = TaskState::Pending;
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
        // A job commit in flight on the lost worker goes to another one.
        for job in self.jobs.values_mut() {
            if job.state == JobState::Running && job.committer == Some(worker) {
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
        event!(
            Warn,
            "scheduler",
            "job_ended",
            job = job_id,
            state = state,
            error = job.error
        );
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
            member.send(Message::CancelJobTasks { job_id });
        }
    }

    /// Frees the slot of a live attempt reported by `worker`.
    fn take_slot(&mut self, members: &mut Membership, worker: u32, attempt: u64) -> Option<Live> {
        let live = self
            .live
            .get_mut(&attempt)
            .filter(|l| l.worker == worker && !l.finished)?;
        live.finished = true;
        if let Some(m) = members.get_mut(worker) {
            m.running = m.running.saturating_sub(1);
        }
        Some(*live)
    }

    pub fn report(&self, job_id: u64, members: &Membership, now: Instant) -> Option<JobReport> {
        let job = self.jobs.get(&job_id)?;
        let mut parts = Vec::new();
        let stages = job
            .stages
            .iter()
            .map(|stage| {
                let mut report = StageReport {
                    stage: stage.plan.id,
                    ops: stage.plan.ops.clone(),
                    tasks_total: stage.tasks.len() as u32,
                    attempts_failed: stage.attempts_failed,
                    records_in: stage.metrics.records_in,
                    records_out: stage.metrics.records_out,
                    bytes_out: stage.metrics.bytes_out,
                    duration_ms: match (stage.started, stage.finished) {
                        (Some(s), Some(f)) => ms(f.duration_since(s)),
                        (Some(s), None) => ms(now.duration_since(s)),
                        _ => 0,
                    },
                    ..StageReport::default()
                };
                for (t, task) in stage.tasks.iter().enumerate() {
                    match task.state {
                        TaskState::Done { worker } => {
                            report.tasks_done += 1;
                            parts.push(PartLocation {
                                save: stage.plan.save as u32,
                                part: t as u32,
                                worker_addr: members
                                    .get(worker)
                                    .map(|m| m.data_addr.clone())
                                    .unwrap_or_default(),
                            });
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
        })
    }

    pub fn summaries(&self, now: Instant) -> Vec<JobSummary> {
        self.jobs
            .values()
            .map(|job| JobSummary {
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
            })
            .collect()
    }
}

/// The next worker after `after` (by id, wrapping) with a free slot; takes the slot.
fn next_free(workers: &mut [(u32, u32)], after: u32) -> Option<u32> {
    let start = workers.iter().position(|&(id, _)| id > after).unwrap_or(0);
    let n = workers.len();
    (0..n).map(|i| (start + i) % n).find_map(|i| {
        let (id, free) = &mut workers[i];
        (*free > 0).then(|| {
            *free -= 1;
            *id
        })
    })
}

fn all_done(job: &JobRun) -> bool {
    job.stages
        .iter()
        .flat_map(|s| &s.tasks)
        .all(|t| matches!(t.state, TaskState::Done { .. }))
}

/// Asks `preferred` (or any live worker) to write `_SUCCESS`.
fn request_job_commit(job: &mut JobRun, members: &Membership, preferred: Option<u32>) {
    let chosen = preferred
        .filter(|&w| {
            members
                .get(w)
                .is_some_and(|m| m.state == crate::message::WorkerState::Alive)
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
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}
