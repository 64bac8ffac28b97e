//! Dispatch: which pending task runs next, and on which worker.
//!
//! OS idea: a run queue and a dispatcher. `schedule` walks the pending
//! tasks (oldest job, earliest stage first), skips those whose inputs are
//! not ready (a blocked process), and gives each runnable one a free slot,
//! round-robin over the live workers (`next_free`), never more attempts on a
//! worker than it has slots, and only on a worker that can reach the ones
//! holding its inputs (`placement.rs`; a task whose allowed workers are all
//! busy waits, and the tasks after it go on). When no live worker can reach
//! them all, the inputs are moved instead: their map tasks run again and the
//! task waits for them. Launching is a message on the worker's outbox
//! (`LaunchTask`), carrying everything the task needs (`task_spec`): the job
//! text to plan again, and where each map output it reads lives.

use std::collections::BTreeSet;
use std::time::Instant;

use super::completion::request_job_commit;
use super::placement::Placement;
use super::state::{live, ms, Attempts, JobRun, TaskState};
use super::Scheduler;
use crate::event;
use crate::job::Output;
use crate::master::membership::Membership;
use crate::protocol::{
    AttemptOutcome, AttemptReport, JobState, MapLocation, Message, ShuffleRead, TaskSpec,
};

/// Records sampled in all, per reduce partition of a range shuffle.
const SAMPLES_PER_PARTITION: u32 = 60;

impl Scheduler {
    /// Hands runnable pending tasks to live workers with a free slot,
    /// round-robin, oldest job and earliest stage first, each to a worker
    /// that can reach the holders of its inputs (or moves those inputs).
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
        for job in self.jobs.values_mut() {
            if workers.iter().all(|&(_, free)| free == 0) {
                return;
            }
            if job.state != JobState::Running {
                continue;
            }
            // Moving inputs sends map tasks of an earlier stage back to the
            // queue, which this walk has passed: walk the job again. Each
            // move makes a committed output pending and none is committed
            // meanwhile, so the walks end.
            while dispatch_job(&mut self.attempts, job, &mut workers, members, now) {}
        }
    }
}

/// Launches the runnable pending tasks of `job` on the `workers` (each with
/// its free slots) that may run them. Returns true when it stopped to move
/// a task's inputs (see `placement.rs`), so the job is to be walked again.
fn dispatch_job(
    attempts: &mut Attempts,
    job: &mut JobRun,
    workers: &mut [(u32, u32)],
    members: &mut Membership,
    now: Instant,
) -> bool {
    let live: Vec<u32> = workers.iter().map(|&(id, _)| id).collect();
    for s in 0..job.stages.len() {
        if !job.runnable(&job.stages[s], members) {
            continue;
        }
        for t in 0..job.stages[s].tasks.len() {
            if workers.iter().all(|&(_, free)| free == 0) {
                return false;
            }
            if job.stages[s].tasks[t].state != TaskState::Pending {
                continue;
            }
            let only = match job.placement((s, t), &live) {
                Placement::On(only) => only,
                Placement::Move { reader, from } => {
                    // The stage is no longer runnable: it waits for them.
                    job.move_inputs((s, t), reader, &from);
                    return true;
                }
            };
            let eligible = Eligible {
                only: &only,
                avoid: job.stages[s].tasks[t].avoid,
            };
            // Its workers are all busy: it waits, the tasks after it need not.
            let Some(worker) = next_free(workers, attempts.last_worker, &eligible) else {
                continue;
            };
            attempts.launch(job, (s, t), worker, members, false, now);
        }
    }
    false
}

impl Attempts {
    /// Starts a new attempt of task `t` of stage `s` on `worker`: sends it
    /// (`LaunchTask`) and records it everywhere it shows: the worker's
    /// running count, the task's state (`Running`, or beside it as the
    /// `speculative` copy), the table of live attempts, the job's timeline
    /// and event log. Returns its id; `None` if the worker is gone.
    pub(super) fn launch(
        &mut self,
        job: &mut JobRun,
        (s, t): (usize, usize),
        worker: u32,
        members: &mut Membership,
        speculative: bool,
        now: Instant,
    ) -> Option<u64> {
        let attempt = self.next;
        if !send_launch(job, (s, t), attempt, worker, members, speculative, now) {
            return None;
        }
        self.next += 1;
        self.last_worker = worker;
        let task = &mut job.stages[s].tasks[t];
        if speculative {
            task.copy = Some(attempt);
        } else {
            task.state = TaskState::Running { attempt };
            task.avoid = None;
        }
        self.live.insert(attempt, live(job.id, s, t, worker, now));
        job.stages[s].started.get_or_insert(now);
        Some(attempt)
    }
}

/// Sends attempt `attempt` of task `t` of stage `s` to `worker`, and counts
/// it in the job's timeline and event log; false if the worker is gone.
fn send_launch(
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
        error: String::new(),
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

/// The spec of task `t` of stage `s`: what to read, and where its inputs live.
fn task_spec(job: &JobRun, s: usize, t: usize, attempt: u64, members: &Membership) -> TaskSpec {
    let stage = &job.stages[s];
    let task = &stage.tasks[t];
    let shuffle_reads = job
        .reads(s, t)
        .into_iter()
        .map(|input| ShuffleRead {
            shuffle: input.shuffle,
            maps: input
                .maps
                .iter()
                .map(|&m| MapLocation {
                    map: m as u32,
                    addr: match job.stages[input.map_stage].tasks[m].state {
                        TaskState::Done { worker } => members
                            .get(worker)
                            .map(|w| w.data_addr.clone())
                            .unwrap_or_default(),
                        _ => String::new(),
                    },
                })
                .collect(),
        })
        .collect();
    let (boundaries, sample_size) = match stage.plan.only() {
        Some(Output::Shuffle(id)) => (
            job.shuffles[id as usize]
                .boundaries
                .clone()
                .unwrap_or_default(),
            0,
        ),
        Some(Output::Sample(id)) => {
            let total = job.plan.shuffles[id as usize].partitions * SAMPLES_PER_PARTITION;
            (
                Vec::new(),
                total.div_ceil(stage.tasks.len().max(1) as u32).max(20),
            )
        }
        _ => (Vec::new(), 0),
    };
    TaskSpec {
        job_id: job.id,
        attempt,
        stage: s as u32,
        segment: task.segment,
        index: task.index,
        task: t as u32,
        file: job.source.file.clone(),
        source: job.source.source.clone(),
        params: job.source.params.clone(),
        base_dir: job.source.base_dir.clone(),
        parallelism: job.source.parallelism,
        split: task.split.clone(),
        shuffle_reads,
        boundaries,
        sample_size,
        progress: job.job.progress.encode(),
    }
}

/// The workers a task may be given (see `next_free`).
pub(super) struct Eligible<'a> {
    /// Only these: the live workers that can reach every holder of the
    /// task's inputs (`JobRun::placement`).
    pub(super) only: &'a BTreeSet<u32>,
    /// Not this one while another of `only` is alive (its slots may free
    /// up): where the task's last attempt timed out, or the holder its
    /// output could not be fetched from or was moved from.
    pub(super) avoid: Option<u32>,
}

/// The first worker after `after` (round-robin) that `eligible` allows and
/// that has a free slot; takes the slot. `None` when every allowed worker is
/// busy. The `avoid` worker is taken only when it is the sole allowed one
/// alive, so a task that timed out there is retried elsewhere if it can be.
pub(super) fn next_free(
    workers: &mut [(u32, u32)],
    after: u32,
    eligible: &Eligible<'_>,
) -> Option<u32> {
    let allowed = |id: u32| eligible.only.contains(&id);
    let avoid = eligible
        .avoid
        .filter(|&a| workers.iter().any(|&(id, _)| id != a && allowed(id)));
    let start = workers.iter().position(|&(id, _)| id > after).unwrap_or(0);
    let n = workers.len();
    let i = (0..n).map(|i| (start + i) % n).find(|&i| {
        let (id, free) = workers[i];
        free > 0 && allowed(id) && Some(id) != avoid
    })?;
    workers[i].1 -= 1;
    Some(workers[i].0)
}

pub(super) fn send(members: &Membership, worker: u32, msg: Message) {
    if let Some(m) = members.get(worker) {
        m.send(msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The workers of `ids` may run the task; `avoid` is avoided.
    fn pick(
        workers: &mut [(u32, u32)],
        after: u32,
        ids: &[u32],
        avoid: Option<u32>,
    ) -> Option<u32> {
        let only: BTreeSet<u32> = ids.iter().copied().collect();
        next_free(workers, after, &Eligible { only: &only, avoid })
    }

    #[test]
    fn next_free_is_round_robin_and_avoids_a_worker_while_another_lives() {
        let all = [1, 2, 3];
        let mut w = vec![(1, 1), (2, 1), (3, 0)];
        assert_eq!(pick(&mut w, 1, &all, None), Some(2));
        assert_eq!(pick(&mut w, 2, &all, None), Some(1));
        assert_eq!(pick(&mut w, 1, &all, None), None);
        let mut w = vec![(1, 2), (2, 0)];
        // Worker 2 is busy but alive: wait for it rather than use worker 1.
        assert_eq!(pick(&mut w, 0, &[1, 2], Some(1)), None);
        // Alone, the avoided worker is used all the same.
        let mut alone = vec![(1, 1)];
        assert_eq!(pick(&mut alone, 0, &[1], Some(1)), Some(1));
    }

    #[test]
    fn next_free_gives_only_the_workers_the_task_may_run_on() {
        let mut w = vec![(1, 1), (2, 1), (3, 1)];
        // Round-robin would give worker 1; only worker 3 may run the task.
        assert_eq!(pick(&mut w, 0, &[3], None), Some(3));
        // Worker 3 is now busy: none for this task, and the others' slots
        // are left for the tasks after it.
        assert_eq!(pick(&mut w, 3, &[3], None), None);
        assert_eq!(w, vec![(1, 1), (2, 1), (3, 0)]);
        assert_eq!(pick(&mut w, 3, &[1, 2, 3], None), Some(1));
        assert_eq!(pick(&mut w, 1, &[], None), None);
    }

    #[test]
    fn the_avoided_worker_is_used_when_it_is_the_only_one_allowed() {
        // Worker 1 lives, but may not run the task: worker 2, avoided, is
        // the only place it can go.
        let mut w = vec![(1, 1), (2, 1)];
        assert_eq!(pick(&mut w, 0, &[2], Some(2)), Some(2));
        // With worker 3 allowed too, busy, the task waits for it.
        let mut w = vec![(1, 1), (2, 1), (3, 0)];
        assert_eq!(pick(&mut w, 0, &[2, 3], Some(2)), None);
    }
}
