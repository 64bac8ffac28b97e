//! Failures: an attempt failed, a reducer could not fetch a map output, a
//! worker was lost.
//!
//! Distributed-systems idea: recomputation from lineage. Nothing a worker
//! holds is replicated; what is lost is computed again from what it was
//! made of. A failed attempt runs again elsewhere (up to `max_attempts`,
//! then its job fails). A map output that cannot be fetched, or whose worker
//! died, sends its map task back to the queue, and the stages reading it wait
//! for it, as Spark does on a `FetchFailed`. Only an attempt's own failure
//! counts against it: a lost worker or a failed fetch is not the task's fault.
//!
//! A failed fetch also says that two workers could not talk: the pair is
//! recorded for the job, and placement keeps them apart from then on
//! (`placement.rs`), as Spark excludes hosts after fetch failures. A lost
//! worker's pairs are forgotten with its outputs. An output lost more than
//! `max_attempts` times fails the job, naming the pairs.

use std::time::Instant;

use super::completion::request_job_commit;
use super::dispatch::send;
use super::state::{JobRun, Live, TaskState};
use super::Scheduler;
use crate::event;
use crate::job::{Input, Output, Partitioner};
use crate::master::membership::Membership;
use crate::protocol::FetchFailure;
use crate::protocol::{AttemptOutcome, JobState, Message};

impl Scheduler {
    /// An attempt failed: retry it, or fail the job after `max_attempts`.
    pub(super) fn task_failed(
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
        self.attempts.live.remove(&attempt);
        if let Some(job) = self.jobs.get_mut(&live.job) {
            let outcome = match live.abandoned {
                true => AttemptOutcome::Aborted,
                false => AttemptOutcome::Failed,
            };
            job.end_attempt(attempt, outcome, &error, now);
        }
        if !live.abandoned {
            self.fail_attempt(members, attempt, live, error, now);
        }
    }

    /// Counts a failure of `attempt`; the task runs again unless it has
    /// failed `max_attempts` times, which fails its job.
    pub(super) fn fail_attempt(
        &mut self,
        members: &mut Membership,
        attempt: u64,
        live: Live,
        error: String,
        now: Instant,
    ) {
        if let Some(l) = self.attempts.live.get_mut(&attempt) {
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

    /// A reduce attempt could not fetch a map output (`failure` says which,
    /// and from where). As Spark does on a FetchFailed, the master forgets
    /// that output and runs its map task again away from its holder (the
    /// reduce stage waits for it), then the reduce task, on a worker that
    /// can reach every holder: the attempt's worker and the holder are
    /// recorded as a pair that could not talk. The attempt does not count as
    /// a failure. An output lost more than `max_attempts` times fails the
    /// job.
    pub(super) fn fetch_failed(
        &mut self,
        members: &mut Membership,
        worker: u32,
        attempt: u64,
        failure: FetchFailure,
        now: Instant,
    ) {
        let FetchFailure {
            shuffle,
            map,
            addr,
            error,
        } = failure;
        let Some(live) = self.settle(members, worker, attempt) else {
            return;
        };
        self.attempts.live.remove(&attempt);
        let max = self.config.max_attempts;
        let Some(job) = self.jobs.get_mut(&live.job) else {
            return;
        };
        let why = format!("could not fetch shuffle {shuffle} map {map} from {addr}: {error}");
        job.end_attempt(attempt, AttemptOutcome::FetchFailed, &why, now);
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
            .position(|st| st.plan.outputs.contains(&Output::Shuffle(shuffle)))
        else {
            return;
        };
        let Some(task) = job.stages[map_stage].tasks.get(map as usize) else {
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
        // Placement keeps the two apart from now on (see `placement.rs`).
        if job.unreachable.record(live.worker, holder) {
            event!(
                Warn,
                "scheduler",
                "workers_unreachable",
                job = live.job,
                a = live.worker.min(holder),
                b = live.worker.max(holder)
            );
        }
        let cached = job.plan.shuffles[shuffle as usize].partitioner == Partitioner::Cache;
        let m = map as usize;
        job.lose_output((map_stage, m), holder, cached, "fetch_failed");
        let task = &mut job.stages[map_stage].tasks[m];
        task.outputs_lost += 1;
        // Computed again elsewhere if it can be: the reducer could not
        // reach it where it was.
        task.avoid = Some(holder);
        if task.outputs_lost > max {
            let mut reason = format!(
                "the output of task {map} of stage {map_stage} could not be fetched {} times",
                task.outputs_lost
            );
            if !job.unreachable.is_empty() {
                reason += &format!(
                    "; no placement avoids the workers that cannot reach each other ({})",
                    job.unreachable
                );
            }
            reason += &format!("; last error: {error}");
            self.finish_job(members, live.job, JobState::Failed, reason, now);
        }
    }

    /// A worker died: its attempts go back to the queue, and so do the map
    /// tasks whose output it held, where a stage still needs them.
    pub fn worker_lost(&mut self, members: &mut Membership, worker: u32) {
        if let Some(m) = members.get_mut(worker) {
            m.running = 0;
        }
        let lost: Vec<(u64, Live)> = self
            .attempts
            .live
            .iter()
            .filter(|(_, l)| l.worker == worker)
            .map(|(&a, &l)| (a, l))
            .collect();
        for (attempt, live) in lost {
            self.attempts.live.remove(&attempt);
            let Some(job) = self.jobs.get_mut(&live.job) else {
                continue;
            };
            let why = format!("worker {worker} was lost");
            job.end_attempt(attempt, AttemptOutcome::Lost, &why, Instant::now());
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
            // Its pairs go with it (see `Unreachable`).
            job.unreachable.forget(worker);
            if job.state != JobState::Running {
                continue;
            }
            lose_map_outputs(job, |w| w == worker, "worker_lost");
            // A job commit in flight on the lost worker goes to another one.
            if job.committer == Some(worker) {
                request_job_commit(job, members, None);
            }
        }
        self.abort_stale_readers(members);
    }

    /// Aborts the running attempts that read map outputs which are being
    /// computed again (their worker was lost): they may be waiting on the
    /// lost worker's silent sockets, and would only fail later. Each task
    /// goes back to the queue, not counting it as a failure, and runs once
    /// its inputs are back. Their worker reports them (as cancelled) within
    /// moments, since a fetch looks at its cancel flag as it waits.
    fn abort_stale_readers(&mut self, members: &mut Membership) {
        let stale: Vec<u64> = self
            .attempts
            .live
            .iter()
            .filter(|(_, l)| !l.finished && !l.abandoned)
            .filter(|(_, l)| {
                self.jobs.get(&l.job).is_some_and(|job| {
                    job.state == JobState::Running
                        && job.stages[l.stage]
                            .plan
                            .parents
                            .iter()
                            .any(|&p| !job.stages[p as usize].complete())
                })
            })
            .map(|(&a, _)| a)
            .collect();
        for attempt in stale {
            let Some(live) = self.attempts.live.get_mut(&attempt) else {
                continue;
            };
            live.abandoned = true;
            let live = *live;
            send(members, live.worker, Message::AbortTask { attempt });
            if let Some(job) = self.jobs.get_mut(&live.job) {
                job.stages[live.stage].tasks[live.task].drop_attempt(attempt);
                event!(
                    Info,
                    "scheduler",
                    "stale_reader_aborted",
                    job = live.job,
                    stage = live.stage,
                    task = live.task,
                    attempt = attempt,
                    worker = live.worker
                );
            }
        }
    }
}

/// Map outputs of a running job held by workers `lost` says are gone go
/// back to the queue, where a stage still needs them.
pub(super) fn lose_map_outputs(job: &mut JobRun, lost: impl Fn(u32) -> bool, reason: &str) {
    if job.state != JobState::Running {
        return;
    }
    for s in 0..job.stages.len() {
        // A task of a stage with several outputs runs again for any of them.
        let needed: Vec<u32> = job.stages[s]
            .plan
            .outputs
            .iter()
            .filter_map(|o| match *o {
                Output::Shuffle(id) if shuffle_still_needed(job, id) => Some(id),
                _ => None,
            })
            .collect();
        if needed.is_empty() {
            continue;
        }
        let cached = needed
            .iter()
            .any(|&id| job.plan.shuffles[id as usize].partitioner == Partitioner::Cache);
        let gone: Vec<(usize, u32)> = job.stages[s]
            .tasks
            .iter()
            .enumerate()
            .filter_map(|(t, task)| match task.state {
                TaskState::Done { worker } if lost(worker) => Some((t, worker)),
                _ => None,
            })
            .collect();
        for (t, worker) in gone {
            job.lose_output((s, t), worker, cached, reason);
        }
    }
}

impl JobRun {
    /// Forgets the committed output of map task `t` of stage `s`, held by
    /// `worker`: the task is pending again, and so its stage is unfinished
    /// and the stages reading it wait for it. A `cached` partition computed
    /// again counts as a cache miss.
    pub(super) fn lose_output(
        &mut self,
        (s, t): (usize, usize),
        worker: u32,
        cached: bool,
        reason: &str,
    ) {
        let stage = &mut self.stages[s];
        let task = &mut stage.tasks[t];
        task.state = TaskState::Pending;
        task.duration = None;
        stage.finished = None;
        if cached {
            stage.cache_misses += 1;
        }
        event!(
            Warn,
            "scheduler",
            "map_output_lost",
            job = self.id,
            stage = s,
            task = t,
            worker = worker,
            reason = reason
        );
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
                .any(|seg| seg.input == Input::Shuffle(wide) || seg.input == Input::Cache(wide))
    })
}
