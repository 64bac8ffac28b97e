//! Slow attempts: the timer's `tick`, with task timeouts and speculative
//! copies.
//!
//! Distributed-systems idea: a slow machine looks like a dead one from
//! outside, and one straggler holds up a whole stage. Two answers, both
//! Spark's: an attempt past `--task-timeout-ms` is abandoned and retried
//! on another worker (a timeout, the only failure detector an asynchronous
//! system has), and once most of a stage is done, a task running far longer
//! than its peers gets a second, speculative attempt elsewhere; the first to
//! finish wins (see `completion.rs`).

use std::time::{Duration, Instant};

use super::dispatch::{next_free, send, Eligible};
use super::placement::Placement;
use super::state::{Live, TaskState};
use super::Scheduler;
use crate::event;
use crate::master::membership::Membership;
use crate::protocol::{AttemptOutcome, JobState, Message};

/// Speculation starts in a stage once this share of its tasks is done...
const SPECULATION_QUANTILE: f64 = 0.75;
/// ...for a task running this many times longer than the median finished
/// one (Spark's `spark.speculation.multiplier`)...
const SPECULATION_MULTIPLIER: f64 = 1.5;
/// ...and for at least this long.
const SPECULATION_MIN: Duration = Duration::from_millis(100);

impl Scheduler {
    /// Periodic checks, on the master's timer: the end of a restart's grace
    /// period (see `recovery.rs`), attempts past `--task-timeout-ms`, and
    /// stragglers worth a speculative copy; then a `schedule`.
    pub fn tick(&mut self, members: &mut Membership, now: Instant) {
        if let Some(since) = self.recovered {
            if now.duration_since(since) > self.config.recovery_grace {
                self.recovered = None;
                self.forget_missing_workers(members);
            }
        }
        if let Some(timeout) = self.config.task_timeout {
            let late: Vec<(u64, Live)> = self
                .attempts
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
                    job.end_attempt(attempt, AttemptOutcome::TimedOut, &error, now);
                }
                self.fail_attempt(members, attempt, live, error, now);
                if let Some(job) = self.jobs.get_mut(&live.job) {
                    job.stages[live.stage].tasks[live.task].avoid = Some(live.worker);
                }
            }
            // Finished, told to commit, and never said it did: its worker
            // froze or is cut off. The task runs again elsewhere; if the old
            // attempt commits after all, its part is refused by `link(2)`
            // (no replace), and a map output it serves is no longer asked for.
            let unconfirmed: Vec<(u64, Live)> = self
                .attempts
                .live
                .iter()
                .filter(|(_, l)| {
                    l.committing_since
                        .is_some_and(|t| now.duration_since(t) > timeout)
                })
                .map(|(&a, &l)| (a, l))
                .collect();
            for (attempt, live) in unconfirmed {
                self.attempts.live.remove(&attempt);
                send(members, live.worker, Message::AbortTask { attempt });
                let Some(job) = self.jobs.get_mut(&live.job) else {
                    continue;
                };
                let task = &mut job.stages[live.stage].tasks[live.task];
                if task.state != (TaskState::Committing { attempt }) {
                    continue;
                }
                task.state = TaskState::Pending;
                task.avoid = Some(live.worker);
                job.stages[live.stage].finished = None;
                event!(
                    Warn,
                    "scheduler",
                    "commit_timed_out",
                    job = live.job,
                    stage = live.stage,
                    task = live.task,
                    attempt = attempt,
                    worker = live.worker
                );
            }
        }
        if self.config.speculation {
            self.speculate(members, now);
        }
        self.schedule(members, now);
    }

    /// Speculative execution, as Spark does it: once 75% of a stage's tasks
    /// are done, a task running over 1.5 times the median of the finished
    /// ones gets a second attempt on another worker, one that can reach
    /// the holders of its inputs (see `placement.rs`). The first to finish
    /// wins; the other is aborted.
    fn speculate(&mut self, members: &mut Membership, now: Instant) {
        let mut workers: Vec<(u32, u32)> = members
            .alive()
            .map(|m| (m.id, m.slots.saturating_sub(m.running)))
            .collect();
        let live: Vec<u32> = workers.iter().map(|&(id, _)| id).collect();
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
                    let Some(running) = self.attempts.live.get(first) else {
                        continue;
                    };
                    if now.duration_since(running.started) <= threshold {
                        continue;
                    }
                    // Not beside the first attempt, and only where its
                    // inputs can be reached: a copy is not worth moving them.
                    let busy = running.worker;
                    let Placement::On(mut only) = job.placement((s, t), &live) else {
                        continue;
                    };
                    only.remove(&busy);
                    let eligible = Eligible {
                        only: &only,
                        avoid: None,
                    };
                    let last = self.attempts.last_worker;
                    let Some(worker) = next_free(&mut workers, last, &eligible) else {
                        if workers.iter().all(|&(_, free)| free == 0) {
                            return;
                        }
                        continue;
                    };
                    let launched = self
                        .attempts
                        .launch(job, (s, t), worker, members, true, now);
                    if let Some(attempt) = launched {
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
}
