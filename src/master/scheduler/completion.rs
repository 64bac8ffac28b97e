//! Completion: an attempt finished, its output committed, the job's output
//! committed, the job ended (or cancelled, or forgotten).
//!
//! Distributed-systems idea: a commit protocol. Workers may run two attempts
//! of one task (a retry, a speculative copy), and either may finish, so
//! finishing is not committing: the scheduler accepts the first `TaskDone`
//! of a task and answers it `CommitTask`, every other one `AbortTask`. Only
//! a commit makes a task `Done`, is journaled, and can make a stage complete
//! and the next one runnable. When every part is committed, one worker is
//! asked to write `_SUCCESS` (`CommitJob`); its answer ends the job.

use std::time::{Duration, Instant};

use super::dispatch::send;
use super::recovery::Entry;
use super::report::add;
use super::state::{JobRun, Live, TaskState};
use super::Scheduler;
use crate::event;
use crate::exec::Digest;
use crate::job::Output;
use crate::master::eventlog;
use crate::master::membership::Membership;
use crate::protocol::{AttemptOutcome, JobState, Message, Pair, TaskMetrics, WorkerState};

impl Scheduler {
    /// An attempt finished. The first one accepted for its task commits.
    pub(super) fn task_done(
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
            self.attempts.live.remove(&attempt);
            if let Some(job) = self.jobs.get_mut(&live.job) {
                let why = "another attempt of the task was accepted first";
                job.end_attempt(attempt, AttemptOutcome::Aborted, why, now);
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
        job.end_attempt(attempt, AttemptOutcome::Succeeded, "", now);
        let stage = &mut job.stages[live.stage];
        // A check's digest, read before the task is accepted: a worker that
        // sends a bad one has failed the task.
        let digest = match stage.plan.only() {
            Some(Output::Check(_)) => match samples.first() {
                Some(p) => match Digest::from_text(&p.key.0, &p.value.0) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        let error = format!("worker {worker} sent a bad check result: {e}");
                        return self.task_failed(members, worker, attempt, error, now);
                    }
                },
                None => {
                    let error = format!("worker {worker} sent no digest for a check task");
                    return self.task_failed(members, worker, attempt, error, now);
                }
            },
            _ => None,
        };
        let task = &mut stage.tasks[live.task];
        task.digest = digest;
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
            if let Some(l) = self.attempts.live.get_mut(&other) {
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
        if let Some(Output::Sample(id)) = stage.plan.only() {
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
        if let Some(l) = self.attempts.live.get_mut(&attempt) {
            l.committing_since = Some(now);
        }
        send(members, worker, Message::CommitTask { attempt });
    }

    /// An attempt's output is in place (or, for a map task, being served).
    pub(super) fn task_committed(
        &mut self,
        members: &mut Membership,
        worker: u32,
        attempt: u64,
        now: Instant,
    ) {
        let Some(live) = self
            .attempts
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
        self.attempts.live.remove(&attempt);
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
        let mut checked = None;
        if stage.complete() {
            stage.finished = Some(now);
            event!(
                Info,
                "scheduler",
                "stage_done",
                job = live.job,
                stage = live.stage
            );
            let output = stage.plan.only();
            let mut digest = Digest::default();
            for t in &stage.tasks {
                digest.merge(&t.digest.unwrap_or_default());
            }
            job.event(now, "stage_done", &[("stage", live.stage.to_string())]);
            if let Some(Output::Sample(id)) = output {
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
            if let Some(Output::Check(i)) = output {
                if let Some(slot) = job.digests.get_mut(i as usize) {
                    *slot = Some(digest);
                }
                let (records, sums) = digest.to_text();
                entries.push(Entry::Digest {
                    job: live.job,
                    check: i,
                    records,
                    sums,
                });
                checked = Some(i as usize);
            }
        }
        for entry in &entries {
            self.log(Some(live.job), entry, false);
        }
        // The loop's next round (or what follows it) is planned before the
        // job can be found done.
        if let Some(check) = checked {
            self.advance(members, live.job, check, now);
        }
        // Acts on the commit only once it is journaled (see
        // `master/journal.rs`).
        if let Some(job) = self.jobs.get_mut(&live.job) {
            if job.state == JobState::Running && job.all_done() {
                request_job_commit(job, members, Some(worker));
            }
        }
    }

    /// The worker wrote `_SUCCESS` (or could not).
    pub(super) fn job_committed(
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
    pub(super) fn finish_job(
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
        let why = format!("the job ended ({state})");
        for attempt in running {
            job.end_attempt(attempt, AttemptOutcome::Aborted, &why, now);
        }
        // Its report stays as it is now, also across a restart.
        let report = self.held_report(job_id, members, now);
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
            .attempts
            .live
            .iter()
            .filter(|(_, l)| l.job == job_id && l.finished)
            .map(|(&a, l)| (a, l.worker))
            .collect();
        for (attempt, worker) in committing {
            self.attempts.live.remove(&attempt);
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
    pub(super) fn forget_old_jobs(&mut self) {
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
            if let Some(report) = self.jobs.remove(id).and_then(|j| j.final_report) {
                self.forgotten.add(&report);
            }
            // Event logs outlive their jobs tenfold, then go too.
            let old = id.saturating_sub(10 * self.config.retained_jobs as u64);
            if old > 0 && !self.jobs.contains_key(&old) {
                self.events().remove(old);
            }
        }
    }

    /// Marks a live attempt reported by `worker` as finished, freeing its slot.
    pub(super) fn settle(
        &mut self,
        members: &mut Membership,
        worker: u32,
        attempt: u64,
    ) -> Option<Live> {
        let live = self
            .attempts
            .live
            .get_mut(&attempt)
            .filter(|l| l.worker == worker)?;
        if !live.finished {
            live.finished = true;
            if let Some(m) = members.get_mut(worker) {
                m.running = m.running.saturating_sub(1);
            }
        }
        Some(*live)
    }
}

/// `partitions - 1` boundaries cutting the sorted samples into equal
/// shares. A record goes to the partition numbered by how many boundaries
/// are less than or equal to it. Samples are (key, value) pairs, so even a
/// key that holds most records is spread over several partitions.
fn range_boundaries(mut samples: Vec<Pair>, partitions: u32) -> Vec<Pair> {
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

pub(super) fn request_job_commit(job: &mut JobRun, members: &Membership, preferred: Option<u32>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Bytes;

    fn pair(k: &str, v: &str) -> Pair {
        Pair {
            key: Bytes(k.into()),
            value: Bytes(v.into()),
        }
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
