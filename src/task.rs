//! A worker's task attempts: run them on the thread pool, then commit,
//! abort or cancel them as the master decides.
//!
//! OS idea: atomic commit with the file system. An attempt writes its output
//! under `OUTPUT/_temporary/attempt-N/part-XXXXX`, invisible to readers of
//! `OUTPUT/part-*`. Committing is `link(2)` of that file to its final name,
//! then unlinking the temporary one: `link` fails when the target exists,
//! so the first attempt to commit wins and a late or duplicate attempt can
//! never replace a committed part (a plain `rename(2)` would silently
//! overwrite it). The job's `_SUCCESS` is written last, also by rename.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::connection::Outbox;
use crate::event;
use crate::executor::{self, Limits};
use crate::job::Job;
use crate::message::{Message, TaskSpec};
use crate::pool::ThreadPool;

/// The directory, inside an output directory, where attempts write.
pub const TEMP_DIR: &str = "_temporary";

/// Most messages kept for the master while it is unreachable.
const MAX_PENDING: usize = 10_000;

/// The current connection to the master, replaced on every reconnect.
/// Task results produced while there is none wait here and go out as soon as
/// the worker has registered again: the master then decides (usually that
/// the attempt is stale, so its output is aborted and cleaned up).
#[derive(Clone, Default)]
pub struct MasterLink(Arc<Mutex<LinkState>>);

#[derive(Default)]
struct LinkState {
    outbox: Option<Outbox>,
    pending: Vec<Message>,
}

impl MasterLink {
    /// Installs a new connection (flushing what waited) or clears it.
    pub fn set(&self, outbox: Option<Outbox>) {
        let mut link = lock(&self.0);
        if let Some(o) = &outbox {
            for msg in link.pending.drain(..) {
                o.send(msg);
            }
        }
        link.outbox = outbox;
    }

    pub fn send(&self, msg: Message) {
        let mut link = lock(&self.0);
        match &link.outbox {
            Some(o) if o.send(msg.clone()) => {}
            _ if link.pending.len() < MAX_PENDING => link.pending.push(msg),
            _ => event!(
                Warn,
                "worker",
                "message_dropped",
                msg = msg.msg_type().name()
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// Output written, waiting for `CommitTask` or `AbortTask`.
    Finished,
}

struct Attempt {
    job_id: u64,
    phase: Phase,
    cancel: Arc<AtomicBool>,
    /// `OUTPUT/_temporary/attempt-N`
    temp_dir: PathBuf,
    /// `OUTPUT/_temporary/attempt-N/part-XXXXX`
    temp_file: PathBuf,
    /// `OUTPUT/part-XXXXX`
    final_file: PathBuf,
    save: u32,
    part: u32,
}

/// Committed parts this worker serves on its data port, by (job, save, part).
/// Only paths recorded here are ever opened for a peer.
#[derive(Clone, Default)]
pub struct Outputs(Arc<Mutex<HashMap<PartKey, PathBuf>>>);

/// (job id, save index, part number).
type PartKey = (u64, u32, u32);

impl Outputs {
    pub fn get(&self, job_id: u64, save: u32, part: u32) -> Option<PathBuf> {
        lock(&self.0).get(&(job_id, save, part)).cloned()
    }

    fn insert(&self, job_id: u64, save: u32, part: u32, path: PathBuf) {
        lock(&self.0).insert((job_id, save, part), path);
    }
}

/// Runs and settles this worker's task attempts.
pub struct Tasks {
    pool: ThreadPool,
    attempts: Mutex<HashMap<u64, Attempt>>,
    pub outputs: Outputs,
    link: MasterLink,
    limits: Arc<Limits>,
}

impl Tasks {
    pub fn new(slots: u32, link: MasterLink, limits: Limits) -> std::io::Result<Arc<Tasks>> {
        Ok(Arc::new(Tasks {
            pool: ThreadPool::new(slots as usize, "task")?,
            attempts: Mutex::new(HashMap::new()),
            outputs: Outputs::default(),
            link,
            limits: Arc::new(limits),
        }))
    }

    /// Attempts running now.
    pub fn running(&self) -> usize {
        self.pool.busy()
    }

    /// Starts an attempt on the pool; blocks while every slot is busy.
    pub fn launch(self: &Arc<Self>, spec: TaskSpec) {
        let attempt = spec.attempt;
        let job = match parse(&spec) {
            Ok(job) => Arc::new(job),
            Err(e) => return self.link.send(Message::TaskFailed { attempt, error: e }),
        };
        let Some(save) = job.saves.get(spec.save as usize) else {
            let error = format!("the job has no save number {}", spec.save);
            return self.link.send(Message::TaskFailed { attempt, error });
        };
        let out = Path::new(&save.path);
        let part = format!("part-{:05}", spec.partition);
        let temp_dir = out.join(TEMP_DIR).join(format!("attempt-{attempt}"));
        let cancel = Arc::new(AtomicBool::new(false));
        lock(&self.attempts).insert(
            attempt,
            Attempt {
                job_id: spec.job_id,
                phase: Phase::Running,
                cancel: Arc::clone(&cancel),
                temp_file: temp_dir.join(&part),
                temp_dir,
                final_file: out.join(&part),
                save: spec.save,
                part: spec.partition,
            },
        );
        event!(
            Info,
            "worker",
            "task_started",
            job = spec.job_id,
            stage = spec.stage,
            task = spec.partition,
            attempt = attempt
        );
        let tasks = Arc::clone(self);
        self.pool
            .execute(move || tasks.execute(&spec, &job, cancel));
    }

    /// Body of an attempt, on a pool thread.
    fn execute(&self, spec: &TaskSpec, job: &Arc<Job>, cancel: Arc<AtomicBool>) {
        let attempt = spec.attempt;
        let Some(temp_file) = lock(&self.attempts)
            .get(&attempt)
            .map(|a| a.temp_file.clone())
        else {
            return; // aborted before it started
        };
        let temp_dir = temp_file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let result = executor::run(spec, job, &self.limits, cancel, &temp_file);
        let mut attempts = lock(&self.attempts);
        // Aborted while running: nobody will commit this output.
        let result = match attempts.get_mut(&attempt) {
            None => Err("aborted".to_string()),
            Some(a) if result.is_ok() => {
                a.phase = Phase::Finished;
                result
            }
            Some(_) => {
                attempts.remove(&attempt);
                result
            }
        };
        drop(attempts);
        match result {
            Ok(metrics) => {
                event!(
                    Info,
                    "worker",
                    "task_finished",
                    job = spec.job_id,
                    attempt = attempt,
                    records_out = metrics.records_out,
                    ms = metrics.duration_ms
                );
                self.link.send(Message::TaskDone { attempt, metrics });
            }
            Err(error) => {
                remove_dir(&temp_dir);
                event!(
                    Warn,
                    "worker",
                    "task_failed",
                    job = spec.job_id,
                    attempt = attempt,
                    error = error
                );
                self.link.send(Message::TaskFailed { attempt, error });
            }
        }
    }

    /// Moves a finished attempt's output into place.
    pub fn commit(&self, attempt: u64) {
        let Some(a) = lock(&self.attempts).remove(&attempt) else {
            let error = format!("attempt {attempt} is not waiting for a commit here");
            return self.link.send(Message::TaskFailed { attempt, error });
        };
        if a.phase != Phase::Finished {
            a.cancel.store(true, Ordering::Relaxed);
            let error = format!("attempt {attempt} had not finished");
            return self.link.send(Message::TaskFailed { attempt, error });
        }
        match fs::hard_link(&a.temp_file, &a.final_file) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                // Another attempt committed this part first; it stays.
                event!(
                    Warn,
                    "worker",
                    "commit_lost_race",
                    attempt = attempt,
                    part = a.final_file.display()
                );
            }
            Err(e) => {
                remove_dir(&a.temp_dir);
                let error = format!("committing {}: {e}", a.final_file.display());
                return self.link.send(Message::TaskFailed { attempt, error });
            }
        }
        remove_dir(&a.temp_dir);
        self.outputs
            .insert(a.job_id, a.save, a.part, a.final_file.clone());
        event!(
            Info,
            "worker",
            "task_committed",
            job = a.job_id,
            attempt = attempt,
            part = a.final_file.display()
        );
        self.link.send(Message::TaskCommitted { attempt });
    }

    /// Discards an attempt: stops it if running, removes its output.
    pub fn abort(&self, attempt: u64) {
        if let Some(a) = lock(&self.attempts).remove(&attempt) {
            a.cancel.store(true, Ordering::Relaxed);
            if a.phase == Phase::Finished {
                remove_dir(&a.temp_dir);
            }
            event!(
                Info,
                "worker",
                "task_aborted",
                job = a.job_id,
                attempt = attempt
            );
        }
    }

    /// Stops every attempt of a job and removes their temporary output.
    pub fn cancel_job(&self, job_id: u64) {
        let mut attempts = lock(&self.attempts);
        let ids: Vec<u64> = attempts
            .iter()
            .filter(|(_, a)| a.job_id == job_id)
            .map(|(&id, _)| id)
            .collect();
        for id in ids {
            if let Some(a) = attempts.get(&id) {
                a.cancel.store(true, Ordering::Relaxed);
                // A running attempt removes its own files when it sees the flag.
                if a.phase == Phase::Finished {
                    remove_dir(&a.temp_dir);
                    attempts.remove(&id);
                }
            }
        }
    }

    /// Writes `_SUCCESS` in each output directory and removes `_temporary`.
    pub fn commit_job(&self, job_id: u64, outputs: &[String]) {
        let mut error = String::new();
        for out in outputs {
            if let Err(e) = write_success(Path::new(out)) {
                error = e;
                break;
            }
        }
        event!(Info, "worker", "job_committed", job = job_id, error = error);
        self.link.send(Message::JobCommitted { job_id, error });
    }
}

/// `_SUCCESS` is created inside `_temporary` and renamed into place, so it
/// appears whole and only after every part.
fn write_success(out: &Path) -> Result<(), String> {
    let temp_dir = out.join(TEMP_DIR);
    fs::create_dir_all(&temp_dir)
        .map_err(|e| format!("cannot create {}: {e}", temp_dir.display()))?;
    let temp = temp_dir.join("_SUCCESS");
    fs::File::create(&temp)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
    let target = out.join("_SUCCESS");
    fs::rename(&temp, &target)
        .map_err(|e| format!("cannot rename to {}: {e}", target.display()))?;
    remove_dir(&temp_dir);
    Ok(())
}

fn parse(spec: &TaskSpec) -> Result<Job, String> {
    let overrides: BTreeMap<String, String> = spec
        .params
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.clone()))
        .collect();
    let mut job = Job::parse(&spec.file, &spec.source, &overrides).map_err(|e| e.to_string())?;
    job.resolve_paths(Path::new(&spec.base_dir));
    Ok(job)
}

fn remove_dir(dir: &Path) {
    if let Err(e) = fs::remove_dir_all(dir) {
        if e.kind() != ErrorKind::NotFound {
            event!(
                Warn,
                "worker",
                "cleanup_failed",
                path = dir.display(),
                error = e
            );
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
