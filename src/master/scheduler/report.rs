//! Reports: what `client status`, `client jobs`, the web page and text mode
//! see of a job, and what a worker's page sees of the jobs (the attempts
//! it ran, the outputs it holds).
//!
//! OS idea: `/proc`. A report is a snapshot of the scheduler's state, built
//! under the master's lock and copied out, so whoever reads it (a client
//! waiting on a socket, a browser) never holds the lock. Once a job ends its
//! report is frozen (`final_report`), so it reads the same across a restart.
//! A job forgotten since (`--retained-jobs`) is read back from its event log,
//! but not under the lock: `report` says where the log is (`Lookup`), and
//! the caller reads the file once it has let the lock go.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use super::state::{ms, TaskState};
use super::Scheduler;
use crate::job::{Input, Output, Partitioner, Plan, StagePlan};
use crate::master::eventlog;
use crate::master::membership::Membership;
use crate::protocol::{JobReport, JobSummary, PartLocation, StageReport, TaskMetrics};
use crate::view::worker::{Held, Holding, WorkerAttempt};

/// Where a job's report is, as `Scheduler::report` finds it under the
/// master's lock.
#[derive(Debug)]
pub enum Lookup {
    /// The job is in memory: its report, copied.
    Held(JobReport),
    /// The job was forgotten; its event log may still be on disk.
    Forgotten { job_id: u64, event_log: PathBuf },
}

impl Lookup {
    /// The report: the copy, or what the event log says. Reads a file, so
    /// call it without holding the master's lock.
    pub fn read(self) -> Option<JobReport> {
        match self {
            Lookup::Held(report) => Some(report),
            Lookup::Forgotten { job_id, event_log } => {
                eventlog::read(&event_log).ok().filter(|r| r.id == job_id)
            }
        }
    }
}

impl Scheduler {
    /// Job `job_id`'s report if the job is in memory, else where its event
    /// log would be; `None` if neither (no state directory).
    pub fn report(&self, job_id: u64, members: &Membership, now: Instant) -> Option<Lookup> {
        match self.held_report(job_id, members, now) {
            Some(report) => Some(Lookup::Held(report)),
            None => Some(Lookup::Forgotten {
                job_id,
                event_log: self.events().path(job_id)?,
            }),
        }
    }

    /// Job `job_id`'s report, if the job is in memory.
    pub fn held_report(
        &self,
        job_id: u64,
        members: &Membership,
        now: Instant,
    ) -> Option<JobReport> {
        let job = self.jobs.get(&job_id)?;
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
                    cache_hits: m.cache_hits,
                    cache_misses: u64::from(stage.cache_misses),
                    cache_bytes: m.cache_bytes,
                    reads: shuffles_read(&job.plan, &stage.plan),
                    writes: shuffles_written(&stage.plan),
                    parents: stage.plan.parents.clone(),
                    ..StageReport::default()
                };
                for (t, task) in stage.tasks.iter().enumerate() {
                    match task.state {
                        TaskState::Done { worker } => {
                            report.tasks_done += 1;
                            for &output in &stage.plan.outputs {
                                if let Output::Save(save) = output {
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
                        }
                        // An ended job runs nothing, whatever its attempts
                        // still on workers are doing as they stop.
                        TaskState::Running { .. } | TaskState::Committing { .. }
                            if job.state == crate::protocol::JobState::Running =>
                        {
                            report.tasks_running += 1
                        }
                        TaskState::Running { .. } | TaskState::Committing { .. } => {}
                        TaskState::Pending => {}
                    }
                }
                report
            })
            .collect();
        let elapsed_ms = ms(job.finished.unwrap_or(now).duration_since(job.submitted));
        Some(JobReport {
            id: job.id,
            file: job.source.file.clone(),
            state: job.state,
            error: job.error.clone(),
            elapsed_ms,
            stages,
            outputs: job.outputs.clone(),
            parts,
            attempts: job.attempts.clone(),
            submitted_unix_ms: job.submitted_unix_ms,
            finished_unix_ms: match job.finished {
                Some(_) => job.submitted_unix_ms + elapsed_ms,
                None => 0,
            },
            params: job.source.params.clone(),
            source: job.source.source.clone(),
        })
    }

    /// What worker `worker` holds for the jobs in memory: for a running
    /// job, the map outputs, cached partitions and output parts of its
    /// tasks done there; for a finished one, the output parts alone (the
    /// rest went with `ReleaseJob`). Newest job first.
    pub fn held_by(&self, worker: u32, members: &Membership) -> Vec<Held> {
        let addr = members.get(worker).map(|m| m.data_addr.as_str());
        let mut held: Vec<Held> = Vec::new();
        for job in self.jobs.values().rev() {
            if let Some(report) = &job.final_report {
                let mut by_save: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
                for part in &report.parts {
                    if Some(part.worker_addr.as_str()) == addr {
                        by_save.entry(part.save).or_default().push(part.part);
                    }
                }
                for (save, tasks) in by_save {
                    let stage = job
                        .stages
                        .iter()
                        .find(|s| s.plan.outputs.contains(&Output::Save(save as usize)));
                    held.push(Held {
                        job: job.id,
                        stage: stage.map(|s| s.plan.id),
                        what: Holding::OutputParts { save },
                        tasks,
                    });
                }
                continue;
            }
            for stage in &job.stages {
                let tasks: Vec<u32> = (0..stage.tasks.len() as u32)
                    .filter(|&t| stage.tasks[t as usize].state == TaskState::Done { worker })
                    .collect();
                if tasks.is_empty() {
                    continue;
                }
                for &output in &stage.plan.outputs {
                    let what = match output {
                        Output::Shuffle(id) => {
                            let cache = job.plan.shuffles.get(id as usize).map(|s| s.partitioner)
                                == Some(Partitioner::Cache);
                            if cache {
                                Holding::CachedPartitions { shuffle: id }
                            } else {
                                Holding::MapOutputs { shuffle: id }
                            }
                        }
                        Output::Save(save) => Holding::OutputParts { save: save as u32 },
                        // Samples and digests went to the master.
                        Output::Sample(_) | Output::Check(_) => continue,
                    };
                    held.push(Held {
                        job: job.id,
                        stage: Some(stage.plan.id),
                        what,
                        tasks: tasks.clone(),
                    });
                }
            }
        }
        held
    }

    /// The attempts worker `worker` ran for the jobs in memory, newest
    /// first, at most `limit` of them; and how many there were in all.
    pub fn attempts_on(&self, worker: u32, limit: usize) -> (Vec<WorkerAttempt>, usize) {
        let mut found = Vec::new();
        let mut total = 0;
        for job in self.jobs.values().rev() {
            let attempts = job
                .final_report
                .as_ref()
                .map_or(&job.attempts, |r| &r.attempts);
            for a in attempts.iter().rev().filter(|a| a.worker == worker) {
                total += 1;
                if found.len() < limit {
                    found.push(WorkerAttempt {
                        job: job.id,
                        file: job.source.file.clone(),
                        submitted_unix_ms: job.submitted_unix_ms,
                        attempt: a.clone(),
                    });
                }
            }
        }
        (found, total)
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
                    file: job.source.file.clone(),
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

/// The shuffles `stage` reads, by id, in order: both
/// sides of a join, the map side of any other wide operator, or the
/// partitions of a cached dataset (kept as a shuffle of its own).
fn shuffles_read(plan: &Plan, stage: &StagePlan) -> Vec<u32> {
    let mut ids: Vec<u32> = stage
        .segments
        .iter()
        .flat_map(|segment| match segment.input {
            Input::Shuffle(wide) | Input::Cache(wide) => plan.shuffles_of(wide),
            Input::Source(_) => Vec::new(),
        })
        .map(|shuffle| shuffle.id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The shuffles `stage` writes (map outputs, or a cached dataset), by id.
fn shuffles_written(stage: &StagePlan) -> Vec<u32> {
    stage
        .outputs
        .iter()
        .filter_map(|output| match *output {
            Output::Shuffle(id) => Some(id),
            Output::Save(_) | Output::Sample(_) | Output::Check(_) => None,
        })
        .collect()
}

pub(super) fn add(total: &mut TaskMetrics, m: &TaskMetrics) {
    total.records_in += m.records_in;
    total.records_out += m.records_out;
    total.bytes_in += m.bytes_in;
    total.bytes_out += m.bytes_out;
    total.duration_ms += m.duration_ms;
    total.shuffle_write_bytes += m.shuffle_write_bytes;
    total.shuffle_read_bytes += m.shuffle_read_bytes;
    total.spill_bytes += m.spill_bytes;
    total.spill_records += m.spill_records;
    total.cache_hits += m.cache_hits;
    total.cache_bytes += m.cache_bytes;
}
