//! Loops: the master's side of `repeat until`. After each round, it decides
//! whether the loop goes on, and plans what that decision makes possible.
//!
//! Distributed-systems idea: a driver in the loop. A loop whose end depends
//! on data cannot be planned ahead: as Spark's driver runs a job per round
//! and looks at its result (`count()`) before it builds the next, the
//! master waits for the check stage of round `r` (the digest of the
//! condition's dataset, `exec/digest.rs`), compares it with round `r - 1`'s,
//! and then either plans round `r + 1` or ends the loop and plans what
//! reads its result (the saves after it, a later loop). Each decision is
//! appended to the job's `Progress`; the job is parsed again with it, and the
//! new plan extends the old one (`job/loops.rs` promises the prefix), so the
//! stages already run, and their outputs on the workers, keep their numbers.
//! Workers get the progress in every `TaskSpec` and plan the same stages.
//!
//! The digests are journaled (`Entry::Digest`); replaying one makes the same
//! decision again, so a restarted master plans the same rounds.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use super::state::{stage_runs, JobRun, ShuffleRun};
use super::Scheduler;
use crate::event;
use crate::exec::Digest;
use crate::job::{plan, Decision, Job};
use crate::master::membership::Membership;
use crate::protocol::JobState;

impl Scheduler {
    /// Check `check` of job `job_id` has its digest: decide its loop's next
    /// step, and plan it. A loop that reaches its `max` without settling
    /// fails the job.
    pub(super) fn advance(
        &mut self,
        members: &mut Membership,
        job_id: u64,
        check: usize,
        now: Instant,
    ) {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return;
        };
        if job.state != JobState::Running {
            return;
        }
        let result = decide(job, check).and_then(|d| match d {
            Some(decision) => extend(job, decision, now),
            None => Ok(()),
        });
        if let Err(error) = result {
            self.finish_job(members, job_id, JobState::Failed, error, now);
        }
    }
}

/// What check `check`'s digest means for its loop: `None` when it decides
/// nothing (its loop has already moved on).
///
/// # Errors
/// The loop has run `max` rounds and its dataset still changed.
pub(super) fn decide(job: &JobRun, check: usize) -> Result<Option<Decision>, String> {
    let checks = &job.job.checks;
    let Some(c) = checks.get(check) else {
        return Ok(None);
    };
    let Some(l) = job.job.loops.get(c.repeat as usize) else {
        return Ok(None);
    };
    let latest = checks
        .iter()
        .filter(|x| x.repeat == c.repeat)
        .map(|x| x.round)
        .max();
    let Some(now) = job.digests.get(check).copied().flatten() else {
        return Ok(None);
    };
    if l.ended || latest != Some(c.round) {
        return Ok(None);
    }
    let go_on = Some(Decision {
        repeat: c.repeat,
        stop: false,
    });
    if c.round == 0 {
        return Ok(go_on);
    }
    let before = checks
        .iter()
        .position(|x| x.repeat == c.repeat && x.round == c.round - 1)
        .and_then(|i| job.digests.get(i).copied().flatten());
    if before == Some(now) {
        return Ok(Some(Decision {
            repeat: c.repeat,
            stop: true,
        }));
    }
    let max = l.until.unwrap_or(0);
    if c.round >= max {
        let count = |d: Option<Digest>| d.map_or("?".to_string(), |d| d.records.to_string());
        return Err(format!(
            "the `repeat until` at line {} did not settle within its max of {max} rounds: its dataset still changed in round {} ({} records before it, {} after); raise `max`, or check that the loop converges",
            l.span.line,
            c.round,
            count(before),
            count(Some(now)),
        ));
    }
    Ok(go_on)
}

/// Applies `decision`: parses the job again with it and adds the stages its
/// new plan has beyond the old one.
///
/// # Errors
/// The job no longer parses or plans, or the new plan does not extend the
/// old one (a bug: it would be wrong to go on).
pub(super) fn extend(job: &mut JobRun, decision: Decision, now: Instant) -> Result<(), String> {
    let mut progress = job.job.progress.clone();
    progress.decisions.push(decision);
    let overrides: BTreeMap<String, String> = job
        .source
        .params
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.clone()))
        .collect();
    let mut next = Job::parse_at(&job.source.file, &job.source.source, &overrides, &progress)
        .map_err(|e| e.to_string())?;
    next.resolve_paths(Path::new(&job.source.base_dir));
    let next_plan = plan(&next, job.source.parallelism)?;
    let (stages, shuffles) = (job.plan.stages.len(), job.plan.shuffles.len());
    if next_plan.stages.get(..stages) != Some(&job.plan.stages[..])
        || next_plan.shuffles.get(..shuffles) != Some(&job.plan.shuffles[..])
    {
        return Err(format!(
            "internal error: planning loop {} further changed the stages already planned",
            decision.repeat
        ));
    }
    let counts: Vec<usize> = job.stages.iter().map(|s| s.tasks.len()).collect();
    job.stages
        .extend(stage_runs(&next, &next_plan, &counts, &job.splits));
    job.shuffles
        .extend((shuffles..next_plan.shuffles.len()).map(|_| ShuffleRun::default()));
    job.digests.resize(next.checks.len(), None);
    let l = &next.loops[decision.repeat as usize];
    let (what, fields) = if decision.stop {
        (
            "loop_ended",
            [
                ("loop", decision.repeat.to_string()),
                ("rounds", l.rounds.to_string()),
            ],
        )
    } else {
        (
            "loop_round",
            [
                ("loop", decision.repeat.to_string()),
                ("round", l.rounds.to_string()),
            ],
        )
    };
    event!(
        Info,
        "scheduler",
        what,
        job = job.id,
        repeat = decision.repeat,
        rounds = l.rounds,
        stages = next_plan.stages.len()
    );
    job.event(now, what, &fields);
    job.job = next;
    job.plan = next_plan;
    Ok(())
}
