//! Dispatch: which pending task runs next, and on which worker.
//!
//! OS idea: a run queue and a dispatcher. `schedule` walks the pending
//! tasks (oldest job, earliest stage first), skips those whose inputs are
//! not ready (a blocked process), and gives each runnable one a free slot,
//! round-robin over the live workers (`next_free`), never more attempts on a
//! worker than it has slots. Launching is a message on the worker's outbox
//! (`LaunchTask`), carrying everything the task needs (`task_spec`): the job
//! text to plan again, and where each map output it reads lives.

use std::time::Instant;

use super::completion::request_job_commit;
use super::state::{live, ms, Attempts, JobRun, TaskState};
use super::Scheduler;
use crate::event;
use crate::job::{Input, Output};
use crate::master::membership::Membership;
use crate::protocol::{
    AttemptOutcome, AttemptReport, JobState, MapLocation, Message, ShuffleRead, TaskSpec,
};

/// Records sampled in all, per reduce partition of a range shuffle.
const SAMPLES_PER_PARTITION: u32 = 60;

impl Scheduler {
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
                    let last = self.attempts.last_worker;
                    let Some(worker) = next_free(&mut workers, last, avoid) else {
                        if avoid.is_some() {
                            continue; // its other workers are busy: wait
                        }
                        return;
                    };
                    self.attempts
                        .launch(job, (s, t), worker, members, false, now);
                }
            }
        }
    }
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
    let segment = &stage.plan.segments[task.segment as usize];
    // A cached partition was kept by the map task of the same number only.
    let (read, only) = match segment.input {
        Input::Shuffle(wide) => (Some(wide), None),
        Input::Cache(cached) => (Some(cached), Some(task.index as usize)),
        Input::Source(_) => (None, None),
    };
    let shuffle_reads = read
        .map(|wide| job.plan.shuffles_of(wide))
        .unwrap_or_default()
        .iter()
        .map(|sh| ShuffleRead {
            shuffle: sh.id,
            maps: job.stages[sh.map_stage as usize]
                .tasks
                .iter()
                .enumerate()
                .filter(|(m, _)| only.is_none_or(|i| i == *m))
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

/// the slot. Never `avoid` while another live worker exists (its slots may
/// free up), so a task that timed out there is retried elsewhere.
pub(super) fn next_free(workers: &mut [(u32, u32)], after: u32, avoid: Option<u32>) -> Option<u32> {
    let start = workers.iter().position(|&(id, _)| id > after).unwrap_or(0);
    let n = workers.len();
    let avoid = avoid.filter(|&a| workers.iter().any(|&(id, _)| id != a));
    let i = (0..n)
        .map(|i| (start + i) % n)
        .find(|&i| workers[i].1 > 0 && Some(workers[i].0) != avoid)?;
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
}
