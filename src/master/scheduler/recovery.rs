//! What the master writes to its journal (`--state-dir`), so that a master
//! killed with -9 and started again knows every job it had: the finished
//! ones with their status and output locations, and the running ones with
//! the tasks already done, which it then finishes.
//!
//! OS idea: a write-ahead log. The scheduler's state is rebuilt by
//! replaying its changes in order, as a database replays its log after a
//! crash: each start of the master (its run number), each worker id handed
//! out, a job's submission (enough to plan it again: the job file's text,
//! params and splits), each committed task and where its output lives, the
//! sampled boundaries of a range shuffle, and the job's end with its final
//! report. The journal file itself (`master/journal.rs`) frames each entry
//! with a length and a CRC, so a half-written last entry is detected and
//! ignored. Entries use the wire protocol's own field encoding
//! (`protocol/wire.rs`).
//!
//! The scheduler writes an entry (`log`) as each change happens, replays
//! them in `recover`, and rewrites the file as just what it still needs
//! (`compact`) once it has grown to twice that.

use std::time::{Duration, Instant};

use super::failure::lose_map_outputs;
use super::loops::{decide, extend};
use super::report::add;
use super::state::TaskState;
use super::Scheduler;
use crate::event;
use crate::exec::Digest;
use crate::job::Output;
use crate::master::journal::Journal;
use crate::master::membership::Membership;
use crate::protocol::{
    Field, Invalid, JobReport, JobState, Pair, PayloadReader, SourceSplits, TaskMetrics,
};
use crate::submission::JobSource;

/// Declares the journal's entries: for each, its name, tag byte and fields
/// in the order they are written, as `messages!` (in `protocol/message.rs`)
/// declares the wire messages. The macro writes the `Entry` enum and its
/// codec from that table. An entry's bytes are its tag, then its fields with
/// the wire encoding (`Field`), one after another, with no lengths between
/// them.
macro_rules! entries {
    ($(
        $(#[$doc:meta])*
        $name:ident = $tag:literal { $($field:ident : $ty:ty),* $(,)? }
    ),* $(,)?) => {
        /// One change of the scheduler's state.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Entry {
            $( $(#[$doc])* $name { $($field: $ty),* } ),*
        }

        impl Entry {
            /// A tag byte, then the fields in order.
            pub fn encode(&self) -> Vec<u8> {
                let mut out = Vec::new();
                match self {
                    $(Entry::$name { $($field),* } => {
                        out.push($tag);
                        $(Field::put($field, &mut out);)*
                    })*
                }
                out
            }

            /// Reads an entry back.
            ///
            /// # Errors
            /// An unknown tag, or fields that do not match it, named.
            pub fn decode(bytes: &[u8]) -> Result<Entry, String> {
                let Some((&tag, body)) = bytes.split_first() else {
                    return Err("empty journal entry".into());
                };
                let mut r = PayloadReader::new("journal entry", body);
                let entry = match tag {
                    $($tag => Entry::$name {
                        $($field: get(&mut r, stringify!($field))?),*
                    },)*
                    other => return Err(format!("unknown journal entry tag {other}")),
                };
                r.finish()
                    .map_err(|e| format!("journal entry {tag}: {}", reason(e)))?;
                Ok(entry)
            }
        }
    };
}

entries! {
    /// The master started its run number `epoch`; attempt ids of this run
    /// start at `epoch` x 10^9, so an attempt of an earlier run is never
    /// mistaken for one of this run.
    Start = 1 { epoch: u32 },
    /// A worker id was handed out (ids are never reused after a restart).
    Worker = 2 { id: u32 },
    /// A job was accepted, with what it takes to plan it again.
    Job = 3 { id: u64, source: JobSource, inputs: Vec<SourceSplits> },
    /// A task's output was committed; for a map task, `worker` serves it.
    TaskDone = 4 { job: u64, stage: u32, task: u32, worker: u32, metrics: TaskMetrics },
    /// A range shuffle's boundaries, from its sampling stage.
    Boundaries = 5 { job: u64, shuffle: u32, boundaries: Vec<Pair> },
    /// The job ended; its report as `client status` shows it.
    JobEnded = 6 { report: JobReport },
    /// A loop's check stage is done: the digest of its dataset (see
    /// `exec/digest.rs`), which decides the loop's next step again on replay.
    Digest = 7 { job: u64, check: u32, records: String, sums: String },
}

fn get<T: Field>(r: &mut PayloadReader<'_>, name: &str) -> Result<T, String> {
    T::get(r, name).map_err(|e| format!("journal entry: {}", reason(e)))
}

fn reason(e: Invalid) -> String {
    match e {
        Invalid::Malformed { reason, .. } => reason,
        other => other.to_string(),
    }
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

impl Scheduler {
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
        // Jobs whose loop failed at its `max` just before the crash: their
        // digest is journaled, their end not yet.
        let mut failed = Vec::new();
        for job in self.jobs.values_mut() {
            if job.state != JobState::Running {
                found.jobs_finished += 1;
                continue;
            }
            if let Some(error) = (0..job.digests.len()).find_map(|c| decide(job, c).err()) {
                failed.push((job.id, error));
                found.jobs_finished += 1;
                continue;
            }
            found.jobs_running += 1;
            // A check stage with no journaled digest is run again, whole:
            // the parts its done tasks sent were in the old master's memory
            // (only their sum is journaled, once the stage completes), and
            // a sum without them would decide the loop wrongly. Its metrics
            // start again too, as every task commits again.
            for stage in &mut job.stages {
                if let Some(Output::Check(i)) = stage.plan.only() {
                    if job.digests.get(i as usize).is_some_and(Option::is_none) {
                        for task in &mut stage.tasks {
                            task.state = TaskState::Pending;
                        }
                        stage.metrics = TaskMetrics::default();
                        stage.finished = None;
                    }
                }
            }
            // A sampling stage that completed before the crash left its
            // samples in the old master's memory: sample again.
            for (id, shuffle) in job.shuffles.iter().enumerate() {
                if shuffle.boundaries.is_some() {
                    continue;
                }
                for stage in &mut job.stages {
                    if stage.plan.only() == Some(Output::Sample(id as u32)) {
                        for task in &mut stage.tasks {
                            task.state = TaskState::Pending;
                        }
                        stage.finished = None;
                    }
                }
            }
        }
        found.epoch = self.epoch;
        self.attempts.next = u64::from(self.epoch) * ATTEMPTS_PER_EPOCH + 1;
        members.reserve_ids(self.max_worker);
        if found.jobs_running > 0 {
            self.recovered = Some(now);
        }
        self.journal = Some(journal);
        self.log(None, &Entry::Start { epoch: self.epoch }, true);
        for (id, error) in failed {
            self.finish_job(members, id, JobState::Failed, error, now);
        }
        self.compact();
        Ok(found)
    }

    /// Applies one journal entry to the state being rebuilt.
    fn replay(&mut self, entry: Entry, bytes: Vec<u8>, now: Instant) {
        match entry {
            Entry::Start { epoch } => self.epoch = self.epoch.max(epoch + 1),
            Entry::Worker { id } => self.max_worker = self.max_worker.max(id),
            Entry::Job { id, source, inputs } => match crate::submission::accept(source, inputs) {
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
            },
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
            Entry::Digest {
                job,
                check,
                records,
                sums,
            } => {
                let Some(run) = self.jobs.get_mut(&job) else {
                    return;
                };
                let Ok(digest) = Digest::from_text(records.as_bytes(), sums.as_bytes()) else {
                    return;
                };
                let Some(slot) = run.digests.get_mut(check as usize) else {
                    return;
                };
                *slot = Some(digest);
                run.entries.push(bytes);
                // The same decision as before the restart; a loop that
                // failed is followed by its `JobEnded` (or, if the crash
                // came first, fails again in `recover`).
                if let Ok(Some(decision)) = decide(run, check as usize) {
                    if let Err(e) = extend(run, decision, now) {
                        event!(
                            Error,
                            "scheduler",
                            "journal_loop_skipped",
                            job = job,
                            error = e
                        );
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
    pub(super) fn log(&mut self, job: Option<u64>, entry: &Entry, durable: bool) {
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
    pub(super) fn compact(&mut self) {
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

    /// After a restart's grace period: map outputs held by workers that
    /// never came back are computed again.
    pub(super) fn forget_missing_workers(&mut self, members: &Membership) {
        for job in self.jobs.values_mut() {
            lose_map_outputs(job, |w| members.get(w).is_none(), "worker_did_not_return");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Bytes, JobState, KeyValue, SplitInfo, StageReport};
    use crate::rng::Rng;

    fn samples() -> Vec<Entry> {
        vec![
            Entry::Start { epoch: 3 },
            Entry::Worker { id: 7 },
            Entry::Job {
                id: 9,
                source: JobSource {
                    file: "jobs/wordcount.job".into(),
                    source: "param input\n".into(),
                    params: vec![KeyValue {
                        key: "input".into(),
                        value: "x".into(),
                    }],
                    base_dir: "/tmp".into(),
                    parallelism: 4,
                },
                inputs: vec![SourceSplits {
                    source: 0,
                    splits: vec![SplitInfo {
                        path: "/tmp/x".into(),
                        start: 0,
                        len: 10,
                    }],
                }],
            },
            Entry::TaskDone {
                job: 9,
                stage: 1,
                task: 2,
                worker: 7,
                metrics: TaskMetrics {
                    records_in: 5,
                    ..TaskMetrics::default()
                },
            },
            Entry::Boundaries {
                job: 9,
                shuffle: 0,
                boundaries: vec![Pair {
                    key: Bytes(b"k".to_vec()),
                    value: Bytes(b"v".to_vec()),
                }],
            },
            Entry::Digest {
                job: 9,
                check: 2,
                records: "17".into(),
                sums: "00".repeat(16),
            },
            Entry::JobEnded {
                report: JobReport {
                    id: 9,
                    state: JobState::Succeeded,
                    stages: vec![StageReport::default()],
                    ..JobReport::default()
                },
            },
        ]
    }

    #[test]
    fn every_entry_round_trips() {
        for e in samples() {
            assert_eq!(Entry::decode(&e.encode()), Ok(e));
        }
    }

    #[test]
    fn damaged_entries_are_errors_not_panics() {
        assert!(Entry::decode(&[]).is_err());
        assert!(Entry::decode(&[99]).unwrap_err().contains("unknown"));
        let mut rng = Rng::new(4);
        for e in samples() {
            let bytes = e.encode();
            for cut in 0..bytes.len() {
                assert!(Entry::decode(&bytes[..cut]).is_err(), "{e:?} cut at {cut}");
            }
            for _ in 0..200 {
                let mut b = bytes.clone();
                let i = rng.below(b.len() as u64) as usize;
                b[i] ^= 1 << rng.below(8);
                let _ = Entry::decode(&b);
            }
        }
    }
}
