//! A worker's task attempts: run them on the thread pool, then commit,
//! abort or cancel them as the master decides.
//!
//! OS idea: atomic commit with the file system. An attempt writes its output
//! under `OUTPUT/_temporary/attempt-N/part-XXXXX`, invisible to readers of
//! `OUTPUT/part-*`. Committing is `link(2)` of that file to its final name,
//! then unlinking the temporary one: `link` fails when the target exists,
//! so the first attempt to commit wins and a late or duplicate attempt can
//! never replace a committed part (a plain `rename(2)` would silently
//! overwrite it). The job's `_SUCCESS` is written last, inside `_temporary`
//! and renamed into place, so it appears whole.
//!
//! A map task's output (`storage/shuffle.rs`) is written in the worker's work
//! directory under a name that includes its attempt; committing it means
//! recording it as the output this worker serves for that map task.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::event;
use crate::exec::{executor, Destination};
use crate::exec::{Failure, TaskEnv};
use crate::job::{plan, Job, Output, Partitioner, Plan, Progress};
use crate::lock;
use crate::protocol::{Message, TaskSpec, WorkerMetrics};
use crate::storage::Outputs;
use crate::worker::fault::{self, Fault, FaultConfig, Faults};
use crate::worker::latency::LatencyWindow;
use crate::worker::link::MasterLink;
use crate::worker::pool::ThreadPool;
use crate::worker::procstat::CpuMeter;

/// The directory, inside an output directory, where attempts write.
pub const TEMP_DIR: &str = "_temporary";

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
    /// One per output of its stage (several when one scan feeds several).
    kinds: Vec<AttemptKind>,
}

/// Where an attempt's output goes, by its stage's output.
#[derive(Clone)]
enum AttemptKind {
    Part {
        /// `OUTPUT/_temporary/attempt-N`
        temp_dir: PathBuf,
        /// `OUTPUT/_temporary/attempt-N/part-XXXXX`
        temp_file: PathBuf,
        /// `OUTPUT/part-XXXXX`
        final_file: PathBuf,
        save: u32,
        part: u32,
    },
    Map {
        data: PathBuf,
        index: PathBuf,
        shuffle: u32,
        map: u32,
        /// A partition of a cached dataset: kept in the block cache too.
        cached: bool,
    },
    /// A sample or a digest, sent to the master with `TaskDone`.
    Master,
}

impl AttemptKind {
    fn destination(&self) -> Destination {
        match self {
            AttemptKind::Part { temp_file, .. } => Destination::Part(temp_file.clone()),
            AttemptKind::Map { data, index, .. } => Destination::Map {
                data: data.clone(),
                index: index.clone(),
            },
            AttemptKind::Master => Destination::Master,
        }
    }

    /// Removes whatever the attempt wrote.
    fn discard(&self) {
        match self {
            AttemptKind::Part { temp_dir, .. } => {
                remove_dir(temp_dir);
                // A late attempt may have made `_temporary` again after the
                // job committed: rmdir(2) removes it only if it is empty,
                // so an attempt still running elsewhere keeps its own.
                if let Some(temporary) = temp_dir.parent() {
                    let _ = fs::remove_dir(temporary);
                }
            }
            AttemptKind::Map { data, index, .. } => {
                let _ = fs::remove_file(data);
                let _ = fs::remove_file(index);
            }
            AttemptKind::Master => {}
        }
    }
}

/// What a worker counts about its attempts, for its heartbeats.
#[derive(Default)]
struct Stats {
    done: u64,
    failed: u64,
    spill_bytes: u64,
    latency: LatencyWindow,
    cpu: CpuMeter,
}

/// Runs and settles this worker's task attempts.
pub struct Tasks {
    pool: ThreadPool,
    attempts: Mutex<HashMap<u64, Attempt>>,
    pub outputs: Outputs,
    /// Attempts run at once (the pool's size).
    slots: usize,
    link: MasterLink,
    env: TaskEnv,
    /// Shuffle and spill files live under `WORK_DIR/job-N/`.
    work_dir: PathBuf,
    faults: Faults,
    stats: Mutex<Stats>,
}

impl Tasks {
    pub fn new(
        slots: u32,
        link: MasterLink,
        env: TaskEnv,
        work_dir: PathBuf,
        faults: FaultConfig,
    ) -> std::io::Result<Arc<Tasks>> {
        Ok(Arc::new(Tasks {
            pool: ThreadPool::new(slots as usize, "task")?,
            slots: slots.max(1) as usize,
            attempts: Mutex::new(HashMap::new()),
            // The same registry serves peers and this worker's own reducers.
            outputs: env.local_maps.outputs(),
            link,
            env,
            work_dir,
            faults: Faults::new(faults),
            stats: Mutex::new(Stats::default()),
        }))
    }

    fn job_dir(&self, job_id: u64) -> PathBuf {
        self.work_dir.join(format!("job-{job_id}"))
    }

    /// What the next heartbeat reports: CPU use since the last one, memory,
    /// and the attempts so far.
    pub fn metrics(&self, slots: u32) -> WorkerMetrics {
        let mut stats = lock(&self.stats);
        let (cpu_permille, rss_bytes) = match stats.cpu.measure() {
            Ok((cpu, sample)) => (cpu, sample.rss_bytes),
            Err(e) => {
                event!(Debug, "worker", "procfs_unreadable", error = e);
                (0, 0)
            }
        };
        let (mean, p50, p99) = stats.latency.summary();
        let cache = self.outputs.cache_stats();
        WorkerMetrics {
            cpu_permille,
            rss_bytes,
            running: self.pool.busy() as u32,
            slots,
            tasks_done: stats.done,
            tasks_failed: stats.failed,
            spill_bytes: stats.spill_bytes,
            shuffle_served_bytes: self.outputs.served_bytes(),
            latency_mean_ms: mean,
            latency_p50_ms: p50,
            latency_p99_ms: p99,
            cache_hits: cache.hits,
            cache_misses: cache.misses,
            cache_memory_bytes: cache.memory_bytes,
            cache_disk_bytes: cache.disk_bytes,
        }
    }

    /// Starts an attempt on the pool; blocks while every slot is busy.
    pub fn launch(self: &Arc<Self>, spec: TaskSpec) {
        let attempt = spec.attempt;
        let (job, plan) = match parse(&spec) {
            Ok(parsed) => parsed,
            Err(error) => return self.link.send(Message::TaskFailed { attempt, error }),
        };
        let kinds = match self.kinds(&spec, &job, &plan) {
            Ok(kinds) => kinds,
            Err(error) => return self.link.send(Message::TaskFailed { attempt, error }),
        };
        let cancel = Arc::new(AtomicBool::new(false));
        lock(&self.attempts).insert(
            attempt,
            Attempt {
                job_id: spec.job_id,
                phase: Phase::Running,
                cancel: Arc::clone(&cancel),
                kinds: kinds.clone(),
            },
        );
        event!(
            Info,
            "worker",
            "task_started",
            job = spec.job_id,
            stage = spec.stage,
            task = spec.task,
            attempt = attempt
        );
        let fault = self.faults.next();
        if let Fault::Crash { after } = fault {
            let crash = thread::Builder::new().name("crash".into()).spawn(move || {
                thread::sleep(after);
                fault::crash(attempt)
            });
            if crash.is_err() {
                fault::crash(attempt);
            }
        }
        let tasks = Arc::clone(self);
        let (job, plan) = (Arc::new(job), Arc::new(plan));
        self.pool
            .execute(move || tasks.execute(&spec, &job, &plan, &kinds, cancel, fault));
    }

    /// Where attempt `spec` writes, from its stage's outputs.
    fn kinds(&self, spec: &TaskSpec, job: &Job, plan: &Plan) -> Result<Vec<AttemptKind>, String> {
        let stage = plan
            .stages
            .get(spec.stage as usize)
            .ok_or_else(|| format!("the job has no stage {}", spec.stage))?;
        stage
            .outputs
            .iter()
            .map(|&output| self.kind(spec, job, plan, output))
            .collect()
    }

    /// Where attempt `spec` writes `output`.
    fn kind(
        &self,
        spec: &TaskSpec,
        job: &Job,
        plan: &Plan,
        output: Output,
    ) -> Result<AttemptKind, String> {
        let attempt = spec.attempt;
        Ok(match output {
            Output::Save(save) => {
                let out = Path::new(&job.saves.get(save).ok_or("no such save")?.path);
                let part = format!("part-{:05}", spec.task);
                let temp_dir = out.join(TEMP_DIR).join(format!("attempt-{attempt}"));
                AttemptKind::Part {
                    temp_file: temp_dir.join(&part),
                    temp_dir,
                    final_file: out.join(&part),
                    save: save as u32,
                    part: spec.task,
                }
            }
            Output::Shuffle(shuffle) => {
                let base = self.job_dir(spec.job_id).join(format!(
                    "shuffle-{shuffle}-map-{}-attempt-{attempt}",
                    spec.task
                ));
                AttemptKind::Map {
                    data: base.with_extension("data"),
                    index: base.with_extension("index"),
                    shuffle,
                    map: spec.task,
                    cached: plan
                        .shuffles
                        .get(shuffle as usize)
                        .is_some_and(|s| s.partitioner == Partitioner::Cache),
                }
            }
            Output::Sample(_) | Output::Check(_) => AttemptKind::Master,
        })
    }

    /// Body of an attempt, on a pool thread.
    fn execute(
        &self,
        spec: &TaskSpec,
        job: &Arc<Job>,
        plan: &Plan,
        kinds: &[AttemptKind],
        cancel: Arc<AtomicBool>,
        fault: Fault,
    ) {
        let attempt = spec.attempt;
        let started = Instant::now();
        let spill_dir = self
            .job_dir(spec.job_id)
            .join(format!("spill-attempt-{attempt}"));
        // Tasks get what the block cache does not hold of `--memory`.
        let mut env = self.env.clone();
        let held = self.outputs.cache_stats().memory_bytes as usize / self.slots;
        env.memory_bytes = env
            .memory_bytes
            .saturating_sub(held)
            .max(self.env.memory_bytes / 4);
        let mut result = executor::run(
            spec,
            job,
            plan,
            &env,
            Arc::clone(&cancel),
            &kinds
                .iter()
                .map(AttemptKind::destination)
                .collect::<Vec<_>>(),
            spill_dir,
        );
        // The task's tables and buffers are freed: their pages go back to
        // the kernel now, before the next task's (see `src/trim.rs`).
        crate::trim::release_free_memory();
        match fault {
            Fault::None => {}
            Fault::Crash { .. } => fault::crash(attempt),
            Fault::Fail => {
                let error = "injected failure (worker --fail-probability)".to_string();
                result = Err(Failure::from(error));
            }
            Fault::Slow(pause) => {
                event!(
                    Info,
                    "worker",
                    "slow_injected",
                    attempt = attempt,
                    ms = pause.as_millis()
                );
                let until = Instant::now() + pause;
                while Instant::now() < until && !cancel.load(Ordering::Relaxed) {
                    thread::sleep(Duration::from_millis(10));
                }
            }
        }
        let mut attempts = lock(&self.attempts);
        // Told to stop (its job ended, another attempt won, the master gave
        // up on it): not a failure of the task, whatever error it ended in.
        let aborted = cancel.load(Ordering::Relaxed) || !attempts.contains_key(&attempt);
        // Aborted while running: nobody will commit this output.
        let result = match attempts.get_mut(&attempt) {
            None => Err(Failure::from("aborted".to_string())),
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
        let mut stats = lock(&self.stats);
        match &result {
            Ok(done) => {
                stats.done += 1;
                stats.spill_bytes += done.metrics.spill_bytes;
                // The whole attempt, as its master waited for it.
                stats.latency.record(started.elapsed().as_millis() as u64);
            }
            Err(_) if aborted => {} // not done, and not failed either
            Err(_) => stats.failed += 1,
        }
        drop(stats);
        match result {
            Ok(done) => {
                event!(
                    Info,
                    "worker",
                    "task_finished",
                    job = spec.job_id,
                    stage = spec.stage,
                    task = spec.task,
                    attempt = attempt,
                    records_out = done.metrics.records_out,
                    ms = done.metrics.duration_ms
                );
                self.link.send(Message::TaskDone {
                    attempt,
                    metrics: done.metrics,
                    samples: done.samples,
                });
            }
            Err(Failure { error, fetch }) => {
                kinds.iter().for_each(AttemptKind::discard);
                if aborted {
                    event!(
                        Info,
                        "worker",
                        "task_aborted",
                        job = spec.job_id,
                        stage = spec.stage,
                        task = spec.task,
                        attempt = attempt
                    );
                } else {
                    event!(
                        Warn,
                        "worker",
                        "task_failed",
                        job = spec.job_id,
                        stage = spec.stage,
                        task = spec.task,
                        attempt = attempt,
                        error = error
                    );
                }
                self.link.send(match fetch {
                    Some(f) => Message::FetchFailed {
                        attempt,
                        shuffle: f.shuffle,
                        map: f.map,
                        addr: f.addr,
                        error: f.error,
                    },
                    None => Message::TaskFailed { attempt, error },
                });
            }
        }
    }

    /// Moves a finished attempt's output into place: links a part file to
    /// its final name, or starts serving a map output.
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
        for kind in &a.kinds {
            if let Err(error) = self.commit_one(attempt, a.job_id, kind) {
                return self.link.send(Message::TaskFailed { attempt, error });
            }
        }
        event!(
            Info,
            "worker",
            "task_committed",
            job = a.job_id,
            attempt = attempt
        );
        self.link.send(Message::TaskCommitted { attempt });
    }

    /// Commits one output of an attempt.
    fn commit_one(&self, attempt: u64, job_id: u64, kind: &AttemptKind) -> Result<(), String> {
        match kind {
            AttemptKind::Part {
                temp_dir,
                temp_file,
                final_file,
                save,
                part,
            } => {
                match link_part(temp_file, final_file) {
                    Ok(Placed::Ours) => {}
                    Ok(Placed::Theirs) => {
                        // Another attempt committed this part first; it stays.
                        event!(
                            Warn,
                            "worker",
                            "commit_lost_race",
                            attempt = attempt,
                            part = final_file.display()
                        );
                    }
                    Err(e) => {
                        remove_dir(temp_dir);
                        return Err(format!("committing {}: {e}", final_file.display()));
                    }
                }
                remove_dir(temp_dir);
                self.outputs
                    .add_part(job_id, *save, *part, final_file.clone());
            }
            AttemptKind::Map {
                data,
                index,
                shuffle,
                map,
                cached,
            } => {
                let old = self
                    .outputs
                    .add_map(job_id, *shuffle, *map, data.clone(), index.clone());
                if let Some((old_data, old_index)) = old.filter(|(d, _)| d != data) {
                    let _ = fs::remove_file(old_data);
                    let _ = fs::remove_file(old_index);
                }
                // Served from its file if it cannot be read into memory.
                if *cached {
                    if let Err(e) = self.outputs.cache(job_id, *shuffle, *map, data) {
                        event!(Warn, "worker", "cache_failed", attempt = attempt, error = e);
                    }
                }
            }
            AttemptKind::Master => {}
        }
        Ok(())
    }

    /// Discards an attempt: stops it if running, removes its output.
    pub fn abort(&self, attempt: u64) {
        if let Some(a) = lock(&self.attempts).remove(&attempt) {
            a.cancel.store(true, Ordering::Relaxed);
            if a.phase == Phase::Finished {
                a.kinds.iter().for_each(AttemptKind::discard);
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

    /// The job has ended: stops its attempts and removes its temporary
    /// output, shuffle and spill files.
    pub fn release_job(&self, job_id: u64) {
        let mut attempts = lock(&self.attempts);
        let ids: Vec<u64> = attempts
            .iter()
            .filter(|(_, a)| a.job_id == job_id)
            .map(|(&id, _)| id)
            .collect();
        let stopped = ids.len();
        for id in ids {
            if let Some(a) = attempts.get(&id) {
                a.cancel.store(true, Ordering::Relaxed);
                // A running attempt removes its own files when it sees the flag.
                if a.phase == Phase::Finished {
                    a.kinds.iter().for_each(AttemptKind::discard);
                    attempts.remove(&id);
                }
            }
        }
        drop(attempts);
        self.outputs.forget_maps(job_id);
        remove_dir(&self.job_dir(job_id));
        // Worth a line when it stopped or discarded attempts: a worker that
        // was away when the job ended, say.
        match stopped {
            0 => event!(Debug, "worker", "job_released", job = job_id),
            n => event!(
                Info,
                "worker",
                "job_released",
                job = job_id,
                attempts_stopped = n
            ),
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

/// Whose file a part's final name holds after a commit.
#[derive(Debug, PartialEq, Eq)]
enum Placed {
    /// This attempt's: the name was free and now points at its file.
    Ours,
    /// Another attempt's, committed first; it was left as it was.
    Theirs,
}

/// Gives a finished attempt's part file its final name with `link(2)`: one
/// system call that makes the whole file visible under the name at once,
/// and fails with `EEXIST` when the name is taken, so a part once committed
/// is never replaced (`rename(2)` would replace it; writing the name would
/// show readers a half-written file). The temporary name can then go: the
/// file lives on under its final name.
fn link_part(temp_file: &Path, final_file: &Path) -> std::io::Result<Placed> {
    match fs::hard_link(temp_file, final_file) {
        Ok(()) => Ok(Placed::Ours),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(Placed::Theirs),
        Err(e) => Err(e),
    }
}

/// `_SUCCESS` is created inside `_temporary` and renamed into place, so it
/// appears whole and only after every part. A late attempt discarded at
/// the same moment may `rmdir(2)` the just-made, still empty `_temporary`
/// (see `AttemptKind::discard`): then it is made again.
fn write_success(out: &Path) -> Result<(), String> {
    let mut tries = 0;
    loop {
        match write_success_once(out) {
            Err((e, ErrorKind::NotFound)) if tries < 3 => {
                tries += 1;
                event!(Debug, "worker", "success_retried", error = e);
            }
            result => return result.map_err(|(e, _)| e),
        }
    }
}

fn write_success_once(out: &Path) -> Result<(), (String, ErrorKind)> {
    let temp_dir = out.join(TEMP_DIR);
    fs::create_dir_all(&temp_dir).map_err(|e| {
        (
            format!("cannot create {}: {e}", temp_dir.display()),
            e.kind(),
        )
    })?;
    let temp = temp_dir.join("_SUCCESS");
    fs::File::create(&temp)
        .and_then(|f| f.sync_all())
        .map_err(|e| (format!("cannot write {}: {e}", temp.display()), e.kind()))?;
    let target = out.join("_SUCCESS");
    fs::rename(&temp, &target).map_err(|e| {
        (
            format!("cannot rename to {}: {e}", target.display()),
            e.kind(),
        )
    })?;
    remove_dir(&temp_dir);
    Ok(())
}

/// Parses and plans the task's job, exactly as the master did.
fn parse(spec: &TaskSpec) -> Result<(Job, Plan), String> {
    let overrides: BTreeMap<String, String> = spec
        .params
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.clone()))
        .collect();
    let progress = Progress::decode(&spec.progress);
    let mut job = Job::parse_at(&spec.file, &spec.source, &overrides, &progress)
        .map_err(|e| e.to_string())?;
    job.resolve_paths(Path::new(&spec.base_dir));
    let plan = plan(&job, spec.parallelism)?;
    Ok((job, plan))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("minispark-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        path
    }

    /// Two attempts of one task, each with its part file written aside, as
    /// `OUT/_temporary/attempt-N/part-00000`.
    fn two_attempts(name: &str) -> (PathBuf, [PathBuf; 2], PathBuf) {
        let out = temp_path(name);
        let attempts = [1, 2].map(|n| out.join(format!("_temporary/attempt-{n}/part-00000")));
        for (file, text) in attempts.iter().zip(["first attempt\n", "second attempt\n"]) {
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            fs::write(file, text).unwrap();
        }
        let part = out.join("part-00000");
        (out, attempts, part)
    }

    #[test]
    fn the_first_commit_of_a_part_wins_and_is_never_replaced() {
        let (out, [first, second], part) = two_attempts("commit-race");
        assert_eq!(link_part(&first, &part).unwrap(), Placed::Ours);
        // A late or duplicate attempt (a speculative copy, a retry whose
        // first try was only slow) commits the same part.
        assert_eq!(
            link_part(&second, &part).unwrap(),
            Placed::Theirs,
            "a second commit of a part must find the name taken"
        );
        assert_eq!(
            fs::read_to_string(&part).unwrap(),
            "first attempt\n",
            "a committed part was replaced by a later attempt's file"
        );
        // The attempts' directories go; the committed part stays whole.
        fs::remove_dir_all(out.join("_temporary")).unwrap();
        assert_eq!(fs::read_to_string(&part).unwrap(), "first attempt\n");
        fs::remove_dir_all(out).unwrap();
    }

    #[test]
    fn a_commit_is_one_name_for_the_same_file() {
        use std::os::unix::fs::MetadataExt;
        let (out, [first, _], part) = two_attempts("commit-link");
        link_part(&first, &part).unwrap();
        // Not a copy: the same inode under two names, so nothing was
        // written and no reader can see a part half there.
        let (a, b) = (fs::metadata(&first).unwrap(), fs::metadata(&part).unwrap());
        assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()), "the part is a copy");
        assert_eq!(b.nlink(), 2);
        fs::remove_dir_all(out).unwrap();
    }
}
