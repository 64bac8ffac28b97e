//! Job submission: what the client prepares and what the master accepts.
//!
//! As in Hadoop's JobSubmitter, the client does the work that needs the
//! client's view of the file system: it parses the job (so errors show before
//! anything runs), resolves relative paths against its working directory,
//! checks the outputs, lists the inputs and cuts them into splits, and reads
//! the header line of every CSV input whose columns the job names (`$age`),
//! so that a header without one is refused now, at the `$age` in the job.
//! The master never opens a file: it re-parses the job text it is sent,
//! plans stages, and pairs each stage with the splits the client computed.
//! Nothing about headers travels: each task reads its own file's header
//! (`exec/executor.rs`), since the file, not the client, says where a
//! column is when the task runs.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use crate::exec::{default_splits, first_line, list_input, plan_splits};
use crate::job::{find_columns, plan, span_at, Job, JobError, Op, Plan, MAX_SOURCE_BYTES};
use crate::protocol::{KeyValue, Message, SourceSplits, SplitInfo};

/// Largest job file accepted, in bytes (1 MiB). `Job::parse` refuses a
/// longer text too, so the master refuses one whoever sends it.
pub const MAX_JOB_FILE_BYTES: u64 = MAX_SOURCE_BYTES as u64;

/// Longest job file name the master accepts, in bytes (`PATH_MAX`). The name
/// is repeated in every error about the job.
pub const MAX_FILE_NAME_BYTES: usize = 4096;

/// What the client asks for.
pub struct Request<'a> {
    pub path: &'a Path,
    pub overrides: &'a BTreeMap<String, String>,
    pub overwrite: bool,
    /// How many tasks the live workers can run at once (`parallelism`):
    /// it decides how many splits an input gets when the job does not say
    /// (`read_text(p, splits=N)`).
    pub parallelism: u32,
    /// The live workers' task slots: twice as many reduce partitions as
    /// there are slots when a wide operator does not say. Slots, not
    /// `parallelism`, because a worker divides its `--memory` between its
    /// slots: a reduce task holds its partition in one slot's share.
    pub slots: u32,
}

/// How many tasks the live `workers` (their data address and slots) can
/// really run at once: the sum of their slots, except that the workers on
/// this machine (`on_this_machine`) share its `cores` between them, as
/// `client run --local N` divides them. Two workers with the default
/// `--slots` on a 2-core laptop offer 4 slots, but 2 tasks at a time is
/// what the cores run: 4 map tasks there would each build a combiner table
/// and write a shuffle output, two at a time on a core, for nothing (issue
/// 16: word count's workers used 15% more CPU). Remote workers count their
/// slots, as Spark counts its executors' cores.
pub fn parallelism(
    workers: &[(&str, u32)],
    cores: u32,
    on_this_machine: impl Fn(&str) -> bool,
) -> u32 {
    let (mut here, mut elsewhere) = (0u32, 0u32);
    for &(addr, slots) in workers {
        match on_this_machine(addr) {
            true => here = here.saturating_add(slots),
            false => elsewhere = elsewhere.saturating_add(slots),
        }
    }
    elsewhere.saturating_add(here.min(cores.max(1)))
}

/// Is `addr` (`host:port`) one of this machine's? A loopback address is
/// (and `localhost`, as the master's `is_loopback_addr` reads it), and so
/// is one a socket can be bound to (the kernel refuses `bind(2)` to an
/// address no interface has). Another name is not looked up (a DNS wait
/// has no place here) and counts as elsewhere.
pub fn on_this_machine(addr: &str) -> bool {
    match addr.parse::<std::net::SocketAddr>() {
        Ok(a) if a.ip().is_loopback() => true,
        Ok(a) if a.ip().is_unspecified() => false,
        Ok(a) => std::net::UdpSocket::bind((a.ip(), 0)).is_ok(),
        Err(_) => addr.starts_with("localhost:"),
    }
}

/// Why a submission could not be prepared. Both are the user's to fix
/// (exit status 2), but a job-file error is already fully rendered with
/// file, line, column and caret.
#[derive(Debug)]
pub enum Refused {
    JobFile(String),
    Setup(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::JobFile(s) | Refused::Setup(s) => f.write_str(s),
        }
    }
}

/// Builds the `SubmitJob` message for a job file, on the client.
pub fn prepare(req: &Request<'_>) -> Result<Message, Refused> {
    let name = req.path.display().to_string();
    let meta = fs::metadata(req.path)
        .map_err(|e| Refused::Setup(format!("cannot read job file {name}: {e}")))?;
    if meta.len() > MAX_JOB_FILE_BYTES {
        return Err(Refused::Setup(format!(
            "job file {name} is {} bytes; the limit is {MAX_JOB_FILE_BYTES}",
            meta.len()
        )));
    }
    let bytes = fs::read(req.path)
        .map_err(|e| Refused::Setup(format!("cannot read job file {name}: {e}")))?;
    let source = String::from_utf8(bytes).map_err(|e| Refused::JobFile(not_utf8(&name, &e)))?;
    let mut job =
        Job::parse(&name, &source, req.overrides).map_err(|e| Refused::JobFile(e.to_string()))?;
    let base = std::env::current_dir()
        .map_err(|e| Refused::Setup(format!("cannot read the working directory: {e}")))?;
    job.resolve_paths(&base);
    plan(&job, 2 * req.slots.max(1))
        .map_err(|e| Refused::JobFile(format!("{name}: error: {e}")))?;

    let mut outputs: Vec<&str> = Vec::new();
    for save in &job.saves {
        if outputs.contains(&save.path.as_str()) {
            // Two paths that differ as written, such as `out` and `/home/me/out`.
            let message = format!("two saves write to {}", save.path);
            let e = JobError::at(save.span, message).locate(&name, &source);
            return Err(Refused::JobFile(e.to_string()));
        }
        outputs.push(&save.path);
        prepare_output(Path::new(&save.path), req.overwrite).map_err(Refused::Setup)?;
    }

    // Every source the job may read, also those only a later round of a
    // loop reads: the master cannot ask for splits later.
    let mut inputs = Vec::new();
    for (no, dataset) in job.sources.iter().enumerate() {
        let (path, splits) = match &dataset.op {
            Op::ReadText { path, splits } | Op::ReadCsv { path, splits, .. } => (path, *splits),
            other => return Err(Refused::Setup(format!("stage source is {}", other.name()))),
        };
        let files = list_input(Path::new(path)).map_err(Refused::Setup)?;
        check_headers(&dataset.op, &files, &name, &source)?;
        let total = files.iter().map(|(_, size)| size).sum();
        let target = splits.map_or_else(|| default_splits(total, req.parallelism), |n| n as usize);
        let splits = plan_splits(&files, target)
            .into_iter()
            .map(|s| SplitInfo {
                path: s.path,
                start: s.start,
                len: s.len,
            })
            .collect();
        inputs.push(SourceSplits {
            source: no as u32,
            splits,
        });
    }

    Ok(Message::SubmitJob {
        file: name,
        source,
        params: job
            .params
            .iter()
            .map(|(k, v)| KeyValue {
                key: k.clone(),
                value: v.clone(),
            })
            .collect(),
        base_dir: base.display().to_string(),
        parallelism: 2 * req.slots.max(1),
        inputs,
    })
}

/// For a `read_csv` with a header whose columns the job names: every
/// file's first line has each of them once. An empty file has no header
/// and no records, so nothing to find.
///
/// # Errors
/// At the first `$name` a file's header lacks (or holds twice), naming the
/// file; a header with bad quotes, naming the file and line 1.
fn check_headers(
    op: &Op,
    files: &[(PathBuf, u64)],
    name: &str,
    source: &str,
) -> Result<(), Refused> {
    let Op::ReadCsv {
        header: true,
        columns,
        sep,
        quotes,
        ..
    } = op
    else {
        return Ok(());
    };
    if columns.is_empty() {
        return Ok(());
    }
    for (file, _) in files {
        let path = file.to_string_lossy();
        let Some(line) = first_line(&path).map_err(Refused::Setup)? else {
            continue;
        };
        if let Err(e) = find_columns(columns, &line, sep, *quotes, &path) {
            return Err(match e.column.and_then(|i| columns.get(i)) {
                Some(column) => Refused::JobFile(
                    JobError::at(column.span, e.message)
                        .locate(name, source)
                        .to_string(),
                ),
                None => Refused::Setup(format!("read_csv: {}", e.message)),
            });
        }
    }
    Ok(())
}

/// The error for a job file that is not UTF-8, at its first bad byte.
fn not_utf8(name: &str, e: &std::string::FromUtf8Error) -> String {
    let bytes = e.as_bytes();
    let good = e.utf8_error().valid_up_to();
    // The bytes before the bad one are valid, so this is lossless.
    let before = String::from_utf8_lossy(&bytes[..good]);
    let span = span_at(&before, good);
    JobError::at(
        span,
        format!(
            "the job file is not valid UTF-8 (byte 0x{:02x})",
            bytes.get(good).copied().unwrap_or(0)
        ),
    )
    .locate(name, &before)
    .to_string()
}

/// Files the engine itself writes into an output directory.
fn engine_made(name: &str) -> bool {
    name.starts_with("part-") || name == "_SUCCESS" || name == "_temporary"
}

/// Makes sure `dir` can receive a job's output: it must not hold output
/// already (unless `overwrite`, which removes what the engine wrote there),
/// and it is created if missing.
fn prepare_output(dir: &Path, overwrite: bool) -> Result<(), String> {
    let shown = dir.display();
    match fs::metadata(dir) {
        Ok(m) if !m.is_dir() => {
            return Err(format!("output {shown} exists and is not a directory"));
        }
        Ok(_) => {
            let entries: Vec<PathBuf> = fs::read_dir(dir)
                .map_err(|e| format!("cannot list output directory {shown}: {e}"))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            if !entries.is_empty() && !overwrite {
                return Err(format!(
                    "output directory {shown} already exists and is not empty (give --overwrite to replace its output)"
                ));
            }
            for entry in entries {
                let name = entry
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                if !engine_made(&name) {
                    return Err(format!(
                        "output directory {shown} holds {name}, which this engine did not write; \
                         --overwrite only replaces part-*, _SUCCESS and _temporary"
                    ));
                }
            }
            // Remove _SUCCESS first: a reader never sees it beside a partial set of parts.
            let _ = fs::remove_file(dir.join("_SUCCESS"));
            for entry in fs::read_dir(dir).map_err(|e| format!("cannot list {shown}: {e}"))? {
                let path = entry
                    .map_err(|e| format!("cannot list {shown}: {e}"))?
                    .path();
                let removed = if path.is_dir() {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
                removed.map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
            }
        }
        Err(_) => {}
    }
    fs::create_dir_all(dir).map_err(|e| format!("cannot create output directory {shown}: {e}"))
}

crate::wire_struct! {
    /// What a job is made of, as the client sent it: enough to parse and
    /// plan it again, on the master after a restart (the journal keeps it)
    /// and on every worker. On the wire these are the first fields of
    /// `SubmitJob`, in this order.
    pub struct JobSource {
        /// The job file's name, for messages.
        pub file: String,
        /// The job file's text.
        pub source: String,
        /// Every param's final value.
        pub params: Vec<KeyValue>,
        /// The client's working directory; relative paths resolve against it.
        pub base_dir: String,
        /// The number of reduce partitions of a wide operator that does not
        /// set its own (the splits are already cut, and travel beside it).
        pub parallelism: u32,
    }
}

/// A job as the master accepted it.
pub struct NewJob {
    pub source: JobSource,
    /// The output directory of each save.
    pub outputs: Vec<String>,
    /// The job as parsed, its loops unrolled as far as `plan` goes.
    pub job: Job,
    pub plan: Plan,
    /// The splits of each source, by its place in `job.sources`.
    pub splits: HashMap<u32, Vec<SplitInfo>>,
}

/// Re-parses and plans a submitted job, on the master.
///
/// # Errors
/// The job-file error, rendered, or a message naming the missing input.
pub fn accept(submitted: JobSource, inputs: Vec<SourceSplits>) -> Result<NewJob, String> {
    let file = &submitted.file;
    if file.len() > MAX_FILE_NAME_BYTES {
        return Err(format!(
            "the job file name is {} bytes long; the limit is {MAX_FILE_NAME_BYTES}",
            file.len()
        ));
    }
    let overrides: BTreeMap<String, String> = submitted
        .params
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.clone()))
        .collect();
    let mut job = Job::parse(file, &submitted.source, &overrides).map_err(|e| e.to_string())?;
    job.resolve_paths(Path::new(&submitted.base_dir));
    let plan = plan(&job, submitted.parallelism)?;
    let mut splits = HashMap::new();
    for no in 0..job.sources.len() as u32 {
        let given = inputs
            .iter()
            .find(|i| i.source == no)
            .map(|i| i.splits.clone())
            .ok_or_else(|| format!("no input splits were sent for source {no}"))?;
        if given.is_empty() {
            return Err(format!("the input of source {no} has no splits"));
        }
        splits.insert(no, given);
    }
    Ok(NewJob {
        source: submitted,
        outputs: job.saves.iter().map(|s| s.path.clone()).collect(),
        job,
        plan,
        splits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_on_this_machine_share_its_cores() {
        let local = |addr: &str| addr.starts_with("127.");
        // Two default workers on a 2-core machine: 2 tasks at a time.
        let two = [("127.0.0.1:7001", 2), ("127.0.0.1:7002", 2)];
        assert_eq!(parallelism(&two, 2, local), 2);
        // Slots split by hand below the cores count as they are.
        assert_eq!(
            parallelism(&[("127.0.0.1:1", 1), ("127.0.0.1:2", 1)], 8, local),
            2
        );
        // Remote workers count their slots; the local ones are capped.
        let mixed = [
            ("10.0.0.5:7001", 4),
            ("10.0.0.6:7001", 4),
            ("127.0.0.1:7001", 8),
        ];
        assert_eq!(parallelism(&mixed, 2, local), 10);
        assert_eq!(parallelism(&[], 2, local), 0);
        assert_eq!(parallelism(&[("127.0.0.1:1", 3)], 0, local), 1);
    }

    #[test]
    fn loopback_and_own_addresses_are_this_machine() {
        assert!(on_this_machine("127.0.0.1:7001"));
        assert!(on_this_machine("127.0.1.1:7001"));
        assert!(on_this_machine("[::1]:7001"));
        assert!(on_this_machine("localhost:7001"));
        // TEST-NET-3 (RFC 5737): no interface has it.
        assert!(!on_this_machine("203.0.113.7:7001"));
        assert!(!on_this_machine("0.0.0.0:7001"));
        assert!(!on_this_machine("worker-3.example:7001"));
        assert!(!on_this_machine("no port"));
    }
}
