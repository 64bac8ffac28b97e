//! The message set: every kind of frame, its type byte and its fields.
//!
//! OS idea: a protocol is a contract between processes that share no memory.
//! The table below is that contract; `protocol.md` describes the same table
//! for people, and a test decodes every example in that document with this
//! code so the two cannot drift apart.
//!
//! Each message is a line in the `messages!` table: name, type byte, and its
//! fields in wire order. The macro writes the encoder, the decoder and the
//! `key=value` text form (used by logs and `tools/frame.rs`) from that line,
//! so adding a message is adding a line. Type bytes are grouped by who talks:
//! `0x0_` membership, liveness and authentication, `0x1_` cluster queries
//! (the worker list), `0x2_` jobs (client and master), `0x3_` tasks (master
//! and worker), `0x4_` data (reducers and clients fetching from a worker's
//! data port), `0x7F` errors.

use std::collections::BTreeMap;
use std::fmt;

use crate::protocol::frame::{self, Frame, FrameError, Invalid};
use crate::protocol::wire::{Bytes, Field, PayloadReader};

macro_rules! messages {
    ($(
        $(#[$doc:meta])*
        $name:ident = $code:literal { $($field:ident : $ty:ty),* $(,)? }
    ),* $(,)?) => {
        /// The type byte of a frame.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum MsgType { $($name = $code),* }

        impl MsgType {
            /// Every message type, in table order.
            pub const ALL: &'static [MsgType] = &[$(MsgType::$name),*];

            pub fn from_byte(b: u8) -> Option<MsgType> {
                match b {
                    $($code => Some(MsgType::$name),)*
                    _ => None,
                }
            }

            pub fn name(self) -> &'static str {
                match self { $(MsgType::$name => stringify!($name)),* }
            }

            /// Looks a type up by name, ignoring case.
            pub fn from_name(name: &str) -> Option<MsgType> {
                MsgType::ALL.iter().copied().find(|t| t.name().eq_ignore_ascii_case(name))
            }

            /// The field names, in wire order.
            pub fn field_names(self) -> &'static [&'static str] {
                match self { $(MsgType::$name => &[$(stringify!($field)),*]),* }
            }
        }

        /// A decoded message.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Message {
            $( $(#[$doc])* $name { $($field: $ty),* } ),*
        }

        impl Message {
            pub fn msg_type(&self) -> MsgType {
                match self { $(Message::$name { .. } => MsgType::$name),* }
            }

            fn put_payload(&self, out: &mut Vec<u8>) {
                match self {
                    $(Message::$name { $($field),* } => { $(Field::put($field, out);)* })*
                }
            }

            fn get_payload(t: MsgType, r: &mut PayloadReader<'_>) -> Result<Message, Invalid> {
                match t {
                    $(MsgType::$name => Ok(Message::$name {
                        $($field: <$ty as Field>::get(r, stringify!($field))?),*
                    }),)*
                }
            }

            /// The fields as `(name, text)` pairs, in wire order.
            pub fn fields(&self) -> Vec<(&'static str, String)> {
                match self {
                    $(Message::$name { $($field),* } => vec![$((stringify!($field), Field::show($field))),*],)*
                }
            }

            fn from_field_map(
                t: MsgType,
                map: &mut BTreeMap<String, String>,
            ) -> Result<Message, String> {
                match t {
                    $(MsgType::$name => Ok(Message::$name {
                        $($field: {
                            let name = stringify!($field);
                            let text = map.remove(name).ok_or_else(|| format!("missing field `{name}`"))?;
                            <$ty as Field>::parse_text(&text)
                                .ok_or_else(|| format!("field `{name}`: cannot read {text:?} as {}", stringify!($ty)))?
                        }),*
                    }),)*
                }
            }
        }
    };
}

messages! {
    // --- 0x0_ membership, liveness and authentication ---
    /// Worker -> master, first frame of a worker session. `data_addr` is where
    /// the worker serves data to its peers; `prev_id` is the id it held
    /// before a reconnect, or 0 on a fresh start.
    Register = 0x01 { data_addr: String, slots: u32, memory_bytes: u64, prev_id: u32 },
    /// Master -> worker: registration accepted, this is your id.
    RegisterAck = 0x02 { worker_id: u32 },
    /// Worker -> master, every `--heartbeat-ms`: still alive.
    Heartbeat = 0x03 { worker_id: u32, metrics: WorkerMetrics },
    /// Anyone -> master or a worker's data port: are you there?
    Ping = 0x04 { nonce: u64 },
    /// Reply to `Ping`, echoing its nonce.
    Pong = 0x05 { nonce: u64 },
    /// Connecting side -> accepting side, first, when it has a secret: my
    /// random challenge (see `net/auth.rs`).
    Hello = 0x06 { nonce: Bytes },
    /// Reply to `Hello`: the accepting side's challenge, and its proof that
    /// it holds the secret.
    Challenge = 0x07 { nonce: Bytes, proof: Bytes },
    /// The connecting side's proof.
    Proof = 0x08 { proof: Bytes },
    /// The proof was right; the session goes on.
    AuthOk = 0x09 {},

    // --- 0x1_ cluster queries ---
    /// Client -> master: list the workers.
    ListWorkers = 0x10 {},
    /// Master -> client: every worker the master knows, alive or dead.
    WorkerList = 0x11 { workers: Vec<WorkerInfo> },

    // --- 0x2_ jobs, client <-> master ---
    /// Client -> master: run this job. `inputs` are the splits the client
    /// computed for each source dataset (the master never opens files).
    SubmitJob = 0x20 { file: String, source: String, params: Vec<KeyValue>, base_dir: String, parallelism: u32, inputs: Vec<SourceSplits> },
    /// Master -> client: the job is planned and running.
    JobAccepted = 0x21 { job_id: u64 },
    /// Client -> master: how is this job doing?
    GetJob = 0x22 { job_id: u64 },
    /// Master -> client: one job in detail.
    JobStatus = 0x23 { job: JobReport },
    /// Client -> master: list every job.
    ListJobs = 0x24 {},
    /// Master -> client: one line per job.
    JobList = 0x25 { jobs: Vec<JobSummary> },
    /// Client -> master: stop this job. Reply: `JobStatus`.
    CancelJob = 0x26 { job_id: u64 },
    /// Client -> master: reply with `JobStatus` as soon as the job has a
    /// number of tasks done other than `tasks_done` or has ended, or after
    /// `timeout_ms`.
    WaitJob = 0x27 { job_id: u64, tasks_done: u32, timeout_ms: u32 },

    // --- 0x3_ tasks, master <-> worker ---
    /// Master -> worker: run this task attempt.
    LaunchTask = 0x30 { task: TaskSpec },
    /// Worker -> master: the attempt finished; its output waits uncommitted.
    /// A sampling task also sends the records it sampled.
    TaskDone = 0x31 { attempt: u64, metrics: TaskMetrics, samples: Vec<Pair> },
    /// Worker -> master: the attempt failed.
    TaskFailed = 0x32 { attempt: u64, error: String },
    /// Master -> worker: your attempt won; move its output into place.
    CommitTask = 0x33 { attempt: u64 },
    /// Master -> worker: discard this attempt's output (or stop it).
    AbortTask = 0x34 { attempt: u64 },
    /// Worker -> master: the attempt's output is in place.
    TaskCommitted = 0x35 { attempt: u64 },
    /// Master -> worker: every part of the job is in place; write `_SUCCESS`
    /// in each output directory and remove the temporary files.
    CommitJob = 0x36 { job_id: u64, outputs: Vec<String> },
    /// Worker -> master: the job commit finished; `error` is empty on success.
    JobCommitted = 0x37 { job_id: u64, error: String },
    /// Master -> every worker: the job has ended; stop its attempts and
    /// remove its temporary, shuffle and spill files.
    ReleaseJob = 0x38 { job_id: u64 },
    /// Worker -> master: the attempt could not read map output `map` of
    /// `shuffle` from `addr`. The master runs that map task again (and
    /// only it), then this task; the attempt does not count as a failure.
    FetchFailed = 0x39 { attempt: u64, shuffle: u32, map: u32, addr: String, error: String },

    // --- 0x4_ data port ---
    /// Client -> worker's data port: send me a committed output part.
    FetchOutput = 0x40 { job_id: u64, save: u32, part: u32 },
    /// Worker -> client or worker: the next piece of what a fetch asked
    /// for; `last` is 1 on the final one.
    DataChunk = 0x41 { data: Bytes, last: u8 },
    /// Worker -> worker's data port: send me reduce partition `partition`
    /// of map task `map`'s output for shuffle `shuffle` of job `job_id`.
    FetchShuffle = 0x42 { job_id: u64, shuffle: u32, map: u32, partition: u32 },

    // --- 0x7F errors ---
    /// Either direction: something was wrong; the sender closes the
    /// connection after an `Error` caused by an invalid frame.
    Error = 0x7F { code: u16, message: String },
}

/// Codes carried by `Error` frames.
pub mod error_code {
    /// The bytes received were not a valid frame; the connection closes.
    pub const BAD_FRAME: u16 = 1;
    /// A valid frame that this session does not accept at this point.
    pub const UNEXPECTED: u16 = 2;
    /// A heartbeat named a worker id this master does not know as alive.
    pub const UNKNOWN_WORKER: u16 = 3;
    /// The job named does not exist.
    pub const NO_SUCH_JOB: u16 = 4;
    /// The job was refused (it does not parse, or cannot be planned).
    pub const BAD_JOB: u16 = 5;
    /// The data asked for is not here.
    pub const NOT_FOUND: u16 = 6;
    /// Authentication is required, or failed; the connection closes.
    pub const UNAUTHORIZED: u16 = 7;
    /// Too many connections; this one closes. Try again later.
    pub const BUSY: u16 = 8;
}

crate::wire_enum! {
    /// A worker's liveness, as the master sees it.
    pub enum WorkerState {
        Alive = 0 => "ALIVE",
        Dead = 1 => "DEAD",
    }
}

crate::wire_enum! {
    /// Where a job is in its life.
    pub enum JobState {
        Running = 0 => "RUNNING",
        Succeeded = 1 => "SUCCEEDED",
        Failed = 2 => "FAILED",
        Cancelled = 3 => "CANCELLED",
    }
}

/// A map output that could not be read: which one, from where, and why.
/// A reduce task finds it (`storage/shuffle.rs`), its worker reports it as
/// `FetchFailed`, and the master answers as Spark does: it runs that map
/// task again, then the reduce task (`master/scheduler/failure.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchFailure {
    pub shuffle: u32,
    pub map: u32,
    /// The data address it was fetched from.
    pub addr: String,
    pub error: String,
}

impl std::fmt::Display for FetchFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fetching shuffle {} map {} from {}: {}",
            self.shuffle, self.map, self.addr, self.error
        )
    }
}

impl JobState {
    pub fn is_final(self) -> bool {
        self != JobState::Running
    }
}

crate::wire_struct! {
    /// One row of `WorkerList`.
    pub struct WorkerInfo {
        pub id: u32,
        pub addr: String,
        pub state: WorkerState,
        pub slots: u32,
        pub memory_bytes: u64,
        pub since_heartbeat_ms: u64,
        /// Task attempts running on it now, as the master counts them.
        pub running: u32,
        /// What its last heartbeat said.
        pub metrics: WorkerMetrics,
    }
}

crate::wire_struct! {
    /// A worker's own measurements, sent with every heartbeat.
    pub struct WorkerMetrics {
        /// CPU time used since the previous heartbeat, as a share of one
        /// core in tenths of a percent (1000 = one core busy; 2000 = two).
        pub cpu_permille: u32,
        /// Resident memory (`VmRSS` of `/proc/self/status`), in bytes.
        pub rss_bytes: u64,
        /// Task attempts running now, and the slots it offers.
        pub running: u32,
        pub slots: u32,
        /// Attempts finished and failed since it started.
        pub tasks_done: u64,
        pub tasks_failed: u64,
        /// Bytes its tasks spilled to disk, and shuffle bytes it served to
        /// reducers on its data port, since it started.
        pub spill_bytes: u64,
        pub shuffle_served_bytes: u64,
        /// Duration of its recent attempts (the last `worker::latency::WINDOW`).
        pub latency_mean_ms: u64,
        pub latency_p50_ms: u64,
        pub latency_p99_ms: u64,
        /// Reads of cached partitions it served from memory (hits), and from
        /// disk after they had left memory (misses), since it started.
        pub cache_hits: u64,
        pub cache_misses: u64,
        /// Bytes of cached partitions it holds in memory, and on disk.
        pub cache_memory_bytes: u64,
        pub cache_disk_bytes: u64,
    }
}

crate::wire_enum! {
    /// How a task attempt ended (or that it has not).
    pub enum AttemptOutcome {
        Running = 0 => "RUNNING",
        Succeeded = 1 => "SUCCEEDED",
        Failed = 2 => "FAILED",
        /// Its worker was lost.
        Lost = 3 => "LOST",
        /// It could not fetch a map output.
        FetchFailed = 4 => "FETCH_FAILED",
        /// Past `--task-timeout-ms`.
        TimedOut = 5 => "TIMED_OUT",
        /// Another attempt of the task won, or the job ended first.
        Aborted = 6 => "ABORTED",
    }
}

crate::wire_struct! {
    /// One task attempt of a job, for the timeline.
    pub struct AttemptReport {
        pub attempt: u64,
        pub stage: u32,
        pub task: u32,
        pub worker: u32,
        /// Milliseconds since the job was submitted.
        pub start_ms: u64,
        /// 0 while it runs.
        pub end_ms: u64,
        pub outcome: AttemptOutcome,
        /// A speculative copy (or a retry, if `retry`).
        pub speculative: u8,
        pub retry: u8,
        /// Why it did not succeed (the task's error, the fetch that
        /// failed, the lost worker, the timeout...), or empty.
        pub error: String,
    }
}

crate::wire_struct! {
    /// A `--param` binding.
    pub struct KeyValue {
        pub key: String,
        pub value: String,
    }
}

crate::wire_struct! {
    /// A byte range of one input file.
    pub struct SplitInfo {
        pub path: String,
        pub start: u64,
        pub len: u64,
    }
}

crate::wire_struct! {
    /// The splits of one source dataset (`read_text`, `read_csv`).
    pub struct SourceSplits {
        /// Which source: its place among the job's sources (`Job::sources`).
        pub source: u32,
        pub splits: Vec<SplitInfo>,
    }
}

crate::wire_struct! {
    /// Everything a worker needs to run one task attempt. The job travels as
    /// its source text and params; the worker parses and plans it (as Spark
    /// ships a serialized closure) and runs segment `segment` of stage
    /// `stage`, which says what to read, which operators to apply and where
    /// the records go.
    pub struct TaskSpec {
        pub job_id: u64,
        /// Unique across the master's life; names the attempt in every message.
        pub attempt: u64,
        pub stage: u32,
        pub segment: u32,
        /// The split (source segment) or reduce partition (shuffle segment).
        pub index: u32,
        /// The task's number in its stage: its part file or map output number.
        pub task: u32,
        pub file: String,
        pub source: String,
        pub params: Vec<KeyValue>,
        pub base_dir: String,
        /// The default number of reduce partitions the job was planned with.
        pub parallelism: u32,
        /// The split to read (source segments only).
        pub split: SplitInfo,
        /// Where every map output of each shuffle read lives (shuffle
        /// segments only; one entry per side of the wide operator).
        pub shuffle_reads: Vec<ShuffleRead>,
        /// Range boundaries for a sort shuffle this task writes, in order.
        pub boundaries: Vec<Pair>,
        /// Records to sample (sampling stages only).
        pub sample_size: u32,
        /// The master's decisions about the job's `repeat until` loops so
        /// far (`2 * loop + stop` each): with them the worker unrolls the
        /// loops as far as the master has, and plans the same stages.
        pub progress: Vec<u32>,
    }
}

crate::wire_struct! {
    /// The map outputs of one shuffle.
    pub struct ShuffleRead {
        pub shuffle: u32,
        pub maps: Vec<MapLocation>,
    }
}

crate::wire_struct! {
    /// Which worker serves map task `map`'s output.
    pub struct MapLocation {
        pub map: u32,
        pub addr: String,
    }
}

crate::wire_struct! {
    /// A key and a value: a sampled record, or a range boundary.
    pub struct Pair {
        pub key: Bytes,
        pub value: Bytes,
    }
}

crate::wire_struct! {
    /// What one task attempt did.
    pub struct TaskMetrics {
        pub records_in: u64,
        pub records_out: u64,
        pub bytes_in: u64,
        pub bytes_out: u64,
        pub duration_ms: u64,
        pub shuffle_write_bytes: u64,
        pub shuffle_read_bytes: u64,
        pub spill_bytes: u64,
        pub spill_records: u64,
        /// Partitions of cached datasets it read from the cache (hits), and
        /// their bytes.
        pub cache_hits: u64,
        pub cache_bytes: u64,
    }
}

crate::wire_struct! {
    /// One stage of a job, as `client status` shows it.
    pub struct StageReport {
        pub stage: u32,
        /// The operator chain, e.g. `read_text > filter > save`.
        pub ops: String,
        pub tasks_total: u32,
        pub tasks_done: u32,
        pub tasks_running: u32,
        /// Attempts launched (a task run once, without faults, is 1).
        pub attempts: u32,
        pub attempts_failed: u32,
        /// Attempts that were retries of a failed or lost one.
        pub attempts_retried: u32,
        pub records_in: u64,
        pub records_out: u64,
        pub bytes_in: u64,
        pub bytes_out: u64,
        /// When its first task started and its last one finished (0 while
        /// it runs), in milliseconds since the job was submitted.
        pub start_ms: u64,
        pub end_ms: u64,
        pub duration_ms: u64,
        pub shuffle_write_bytes: u64,
        pub shuffle_read_bytes: u64,
        pub spill_bytes: u64,
        pub spill_records: u64,
        /// Partitions of cached datasets its tasks read from the cache.
        pub cache_hits: u64,
        /// Partitions of the dataset it caches that were lost with their
        /// worker and computed again from their lineage.
        pub cache_misses: u64,
        /// Bytes its tasks read from cached partitions.
        pub cache_bytes: u64,
        /// The shuffles it reads (map outputs, or partitions of a cached
        /// dataset) and those it writes, by id: a shuffle's writer and
        /// readers are the DAG's edges.
        pub reads: Vec<u32>,
        pub writes: Vec<u32>,
        /// The stages that must be complete before it starts: the writers
        /// of what it reads, and the sampling stage of a sort it writes.
        pub parents: Vec<u32>,
    }
}

crate::wire_struct! {
    /// Which worker serves a committed output part.
    pub struct PartLocation {
        pub save: u32,
        pub part: u32,
        pub worker_addr: String,
    }
}

crate::wire_struct! {
    /// A job in detail.
    pub struct JobReport {
        pub id: u64,
        pub file: String,
        pub state: JobState,
        /// Why it failed (the task's last error), or empty.
        pub error: String,
        pub elapsed_ms: u64,
        pub stages: Vec<StageReport>,
        /// The output directory of each `save`, in order.
        pub outputs: Vec<String>,
        pub parts: Vec<PartLocation>,
        /// Every task attempt, in launch order.
        pub attempts: Vec<AttemptReport>,
        /// When it was submitted and when it ended (0 while it runs), in
        /// milliseconds since the Unix epoch.
        pub submitted_unix_ms: u64,
        pub finished_unix_ms: u64,
        /// Every param's final value, and the job file's text.
        pub params: Vec<KeyValue>,
        pub source: String,
    }
}

crate::wire_struct! {
    /// A job in one line.
    pub struct JobSummary {
        pub id: u64,
        pub file: String,
        pub state: JobState,
        pub tasks_done: u32,
        pub tasks_total: u32,
        pub elapsed_ms: u64,
    }
}

impl Message {
    /// Encodes the message as one whole frame.
    ///
    /// # Errors
    /// Its payload is over `MAX_FRAME_LEN` (a reply too large to send).
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        let mut payload = Vec::new();
        self.put_payload(&mut payload);
        if payload.len() > frame::MAX_FRAME_LEN {
            return Err(format!(
                "{} of {} bytes is over the {}-byte frame limit",
                self.msg_type().name(),
                payload.len(),
                frame::MAX_FRAME_LEN
            ));
        }
        let mut out = Vec::with_capacity(frame::HEADER_LEN + payload.len() + frame::CRC_LEN);
        frame::encode(self.msg_type(), &payload, &mut out);
        Ok(out)
    }

    /// Encodes a message known to be small (tests, the `frame` tool).
    ///
    /// # Panics
    /// If its payload is over `MAX_FRAME_LEN`; use `encode` for anything
    /// whose size depends on data.
    pub fn to_frame_bytes(&self) -> Vec<u8> {
        match self.encode() {
            Ok(bytes) => bytes,
            Err(e) => panic!("{e}"),
        }
    }

    /// Decodes a frame's payload according to its type.
    ///
    /// # Errors
    /// `Invalid::Malformed` naming the field when the payload does not match
    /// the type's layout, including trailing bytes.
    pub fn from_frame(frame: &Frame) -> Result<Message, Invalid> {
        let mut r = PayloadReader::new(frame.msg_type.name(), &frame.payload);
        let msg = Message::get_payload(frame.msg_type, &mut r)?;
        r.finish()?;
        Ok(msg)
    }

    /// Decodes the message at the start of `buf`; returns it and the number
    /// of bytes it took.
    pub fn parse(buf: &[u8]) -> Result<(Message, usize), FrameError> {
        let (frame, n) = frame::parse(buf)?;
        Ok((Message::from_frame(&frame)?, n))
    }

    /// Builds a message from its text form, `Name key=value ...`, the form
    /// `Display` prints. Used by the `frame` tool.
    pub fn from_text(text: &str) -> Result<Message, String> {
        let mut words = split_words(text)?.into_iter();
        let name = words.next().ok_or("empty message text")?;
        let t = MsgType::from_name(&name).ok_or_else(|| {
            let known: Vec<&str> = MsgType::ALL.iter().map(|t| t.name()).collect();
            format!("unknown message {name:?}; known: {}", known.join(", "))
        })?;
        let mut map = BTreeMap::new();
        for word in words {
            let (k, v) = word
                .split_once('=')
                .ok_or_else(|| format!("expected key=value, got {word:?}"))?;
            if !t.field_names().contains(&k) {
                return Err(format!(
                    "{} has no field `{k}`; its fields are: {}",
                    t.name(),
                    t.field_names().join(" ")
                ));
            }
            map.insert(k.to_string(), v.to_string());
        }
        Message::from_field_map(t, &mut map)
    }
}

/// Splits on whitespace, keeping double-quoted stretches (with `\` escapes) whole.
pub(crate) fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_quotes => {
                cur.push(c);
                cur.extend(chars.next());
            }
            '"' => {
                in_quotes = !in_quotes;
                cur.push(c);
            }
            c if c.is_whitespace() && !in_quotes => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if in_quotes {
        return Err("unterminated quote".to_string());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    Ok(words)
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.msg_type().name())?;
        for (k, v) in self.fields() {
            write!(f, " {k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rng::Rng;

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: v.into(),
        }
    }

    fn pair(k: &str, v: &str) -> Pair {
        Pair {
            key: Bytes(k.as_bytes().to_vec()),
            value: Bytes(v.as_bytes().to_vec()),
        }
    }

    fn split() -> SplitInfo {
        SplitInfo {
            path: "/home/me/data/words.txt".into(),
            start: 0,
            len: 65_000,
        }
    }

    fn report() -> JobReport {
        JobReport {
            id: 7,
            file: "jobs/grep.job".into(),
            state: JobState::Running,
            error: String::new(),
            elapsed_ms: 1200,
            stages: vec![StageReport {
                stage: 0,
                ops: "read_text > filter > save".into(),
                tasks_total: 4,
                tasks_done: 1,
                tasks_running: 2,
                attempts: 3,
                attempts_failed: 0,
                attempts_retried: 1,
                records_in: 1000,
                records_out: 10,
                bytes_in: 65_000,
                bytes_out: 650,
                start_ms: 20,
                end_ms: 0,
                duration_ms: 1100,
                shuffle_write_bytes: 0,
                shuffle_read_bytes: 0,
                spill_bytes: 0,
                spill_records: 0,
                cache_hits: 2,
                cache_misses: 0,
                cache_bytes: 100,
                reads: vec![0, 1],
                writes: vec![2],
                parents: vec![0],
            }],
            outputs: vec!["/home/me/out/grep".into()],
            parts: vec![PartLocation {
                save: 0,
                part: 0,
                worker_addr: "127.0.0.1:7001".into(),
            }],
            attempts: vec![AttemptReport {
                attempt: 12,
                stage: 0,
                task: 1,
                worker: 1,
                start_ms: 40,
                end_ms: 0,
                outcome: AttemptOutcome::Running,
                speculative: 0,
                retry: 1,
                error: String::new(),
            }],
            submitted_unix_ms: 1_790_000_000_000,
            finished_unix_ms: 0,
            params: vec![KeyValue {
                key: "pattern".into(),
                value: "error".into(),
            }],
            source: "param pattern = \"x\"\n".into(),
        }
    }

    /// One example of every message type.
    pub(crate) fn samples() -> Vec<Message> {
        let all = vec![
            Message::Register {
                data_addr: "127.0.0.1:7001".into(),
                slots: 2,
                memory_bytes: 512 << 20,
                prev_id: 0,
            },
            Message::RegisterAck { worker_id: 1 },
            Message::Heartbeat {
                worker_id: 1,
                metrics: WorkerMetrics {
                    cpu_permille: 850,
                    rss_bytes: 40 << 20,
                    running: 1,
                    slots: 2,
                    tasks_done: 12,
                    tasks_failed: 1,
                    spill_bytes: 0,
                    shuffle_served_bytes: 3 << 20,
                    latency_mean_ms: 90,
                    latency_p50_ms: 80,
                    latency_p99_ms: 200,
                    cache_hits: 5,
                    cache_misses: 1,
                    cache_memory_bytes: 1 << 20,
                    cache_disk_bytes: 2 << 20,
                },
            },
            Message::Ping { nonce: 42 },
            Message::Pong { nonce: 42 },
            Message::Hello {
                nonce: Bytes(vec![1; 32]),
            },
            Message::Challenge {
                nonce: Bytes(vec![2; 32]),
                proof: Bytes(vec![3; 32]),
            },
            Message::Proof {
                proof: Bytes(vec![4; 32]),
            },
            Message::AuthOk {},
            Message::ListWorkers {},
            Message::WorkerList {
                workers: vec![
                    WorkerInfo {
                        id: 1,
                        addr: "127.0.0.1:7001".into(),
                        state: WorkerState::Alive,
                        slots: 2,
                        memory_bytes: 512 << 20,
                        since_heartbeat_ms: 120,
                        running: 1,
                        metrics: WorkerMetrics::default(),
                    },
                    WorkerInfo {
                        id: 2,
                        addr: "10.0.0.2:7001".into(),
                        state: WorkerState::Dead,
                        slots: 4,
                        memory_bytes: 1 << 30,
                        since_heartbeat_ms: 15_000,
                        running: 0,
                        metrics: WorkerMetrics::default(),
                    },
                ],
            },
            Message::SubmitJob {
                file: "jobs/grep.job".into(),
                source: "lines = read_text(input)\nlines.save(output)\n".into(),
                params: vec![kv("input", "data/words.txt"), kv("output", "out/grep")],
                base_dir: "/home/me".into(),
                parallelism: 4,
                inputs: vec![SourceSplits {
                    source: 0,
                    splits: vec![split()],
                }],
            },
            Message::JobAccepted { job_id: 7 },
            Message::GetJob { job_id: 7 },
            Message::JobStatus { job: report() },
            Message::ListJobs {},
            Message::JobList {
                jobs: vec![JobSummary {
                    id: 7,
                    file: "jobs/grep.job".into(),
                    state: JobState::Succeeded,
                    tasks_done: 4,
                    tasks_total: 4,
                    elapsed_ms: 420,
                }],
            },
            Message::CancelJob { job_id: 7 },
            Message::WaitJob {
                job_id: 7,
                tasks_done: 1,
                timeout_ms: 1000,
            },
            Message::LaunchTask {
                task: TaskSpec {
                    job_id: 7,
                    attempt: 12,
                    stage: 1,
                    segment: 0,
                    index: 3,
                    task: 3,
                    file: "jobs/wc.job".into(),
                    source: "w = read_text(input).map($1, 1)\nw.reduce_by_key(sum).save(output)\n"
                        .into(),
                    params: vec![kv("input", "data/words.txt")],
                    base_dir: "/home/me".into(),
                    parallelism: 4,
                    split: SplitInfo::default(),
                    shuffle_reads: vec![ShuffleRead {
                        shuffle: 0,
                        maps: vec![MapLocation {
                            map: 0,
                            addr: "127.0.0.1:7001".into(),
                        }],
                    }],
                    boundaries: vec![pair("m", "")],
                    sample_size: 0,
                    progress: vec![1, 2],
                },
            },
            Message::TaskDone {
                attempt: 12,
                metrics: TaskMetrics {
                    records_in: 1000,
                    records_out: 10,
                    bytes_in: 65_000,
                    bytes_out: 650,
                    duration_ms: 31,
                    shuffle_write_bytes: 700,
                    shuffle_read_bytes: 0,
                    spill_bytes: 0,
                    spill_records: 0,
                    cache_hits: 1,
                    cache_bytes: 640,
                },
                samples: vec![pair("k", "v")],
            },
            Message::TaskFailed {
                attempt: 12,
                error: "boom".into(),
            },
            Message::CommitTask { attempt: 12 },
            Message::AbortTask { attempt: 12 },
            Message::TaskCommitted { attempt: 12 },
            Message::CommitJob {
                job_id: 7,
                outputs: vec!["/home/me/out/grep".into()],
            },
            Message::JobCommitted {
                job_id: 7,
                error: String::new(),
            },
            Message::ReleaseJob { job_id: 7 },
            Message::FetchFailed {
                attempt: 12,
                shuffle: 0,
                map: 3,
                addr: "127.0.0.1:7001".into(),
                error: "connection refused".into(),
            },
            Message::FetchOutput {
                job_id: 7,
                save: 0,
                part: 3,
            },
            Message::DataChunk {
                data: Bytes(b"an error line\n\xff".to_vec()),
                last: 1,
            },
            Message::FetchShuffle {
                job_id: 7,
                shuffle: 0,
                map: 2,
                partition: 3,
            },
            Message::Error {
                code: error_code::BAD_FRAME,
                message: "bad magic byte 0x48".into(),
            },
        ];
        let covered: Vec<MsgType> = all.iter().map(Message::msg_type).collect();
        assert_eq!(
            covered,
            MsgType::ALL,
            "samples() must cover every message type"
        );
        all
    }

    #[test]
    fn every_message_round_trips() {
        for msg in samples() {
            let bytes = msg.to_frame_bytes();
            let (back, n) = Message::parse(&bytes).unwrap();
            assert_eq!(back, msg);
            assert_eq!(n, bytes.len());
        }
    }

    #[test]
    fn every_truncated_prefix_of_every_message_is_incomplete() {
        for msg in samples() {
            let bytes = msg.to_frame_bytes();
            for cut in 0..bytes.len() {
                assert_eq!(
                    Message::parse(&bytes[..cut]).unwrap_err(),
                    FrameError::Incomplete,
                    "{msg} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn text_form_round_trips_where_it_exists() {
        for msg in samples() {
            let nested = [
                MsgType::Heartbeat,
                MsgType::WorkerList,
                MsgType::SubmitJob,
                MsgType::JobStatus,
                MsgType::JobList,
                MsgType::LaunchTask,
                MsgType::TaskDone,
                MsgType::CommitJob,
            ];
            if nested.contains(&msg.msg_type()) {
                continue; // nested records and lists have no text form
            }
            let text = msg.to_string();
            assert_eq!(Message::from_text(&text).unwrap(), msg, "{text}");
        }
        assert_eq!(
            Message::from_text(r#"error code=1 message="two words""#).unwrap(),
            Message::Error {
                code: 1,
                message: "two words".into()
            }
        );
    }

    #[test]
    fn text_form_errors_are_readable() {
        assert!(Message::from_text("Nope")
            .unwrap_err()
            .contains("unknown message"));
        assert!(Message::from_text("Ping")
            .unwrap_err()
            .contains("missing field `nonce`"));
        assert!(Message::from_text("Ping nonce=x")
            .unwrap_err()
            .contains("cannot read"));
        assert!(Message::from_text("Ping n=1")
            .unwrap_err()
            .contains("has no field"));
    }

    #[test]
    fn malformed_payloads_name_the_field() {
        // A Register whose payload stops in the middle of `slots`.
        let mut payload = Vec::new();
        "127.0.0.1:1".to_string().put(&mut payload);
        payload.extend_from_slice(&[0, 0]);
        let mut bytes = Vec::new();
        frame::encode(MsgType::Register, &payload, &mut bytes);
        let err = Message::parse(&bytes).unwrap_err();
        let FrameError::Invalid(invalid) = err else {
            panic!("expected invalid")
        };
        assert!(invalid.to_string().contains("field `slots`"), "{invalid}");

        // Trailing bytes are refused too.
        let mut bytes = Vec::new();
        frame::encode(MsgType::Ping, &[0; 9], &mut bytes);
        assert!(Message::parse(&bytes).is_err());
    }

    #[test]
    fn random_payloads_never_panic() {
        let mut rng = Rng::new(11);
        for i in 0..50_000 {
            let t = MsgType::ALL[i % MsgType::ALL.len()];
            let len = rng.below(48) as usize;
            let payload: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            let mut bytes = Vec::new();
            frame::encode(t, &payload, &mut bytes);
            let _ = Message::parse(&bytes);
        }
    }

    #[test]
    fn mutated_valid_frames_never_panic() {
        let mut rng = Rng::new(5);
        let samples: Vec<Vec<u8>> = samples().iter().map(Message::to_frame_bytes).collect();
        for _ in 0..50_000 {
            let mut bytes = samples[rng.below(samples.len() as u64) as usize].clone();
            for _ in 0..=rng.below(3) {
                let at = rng.below(bytes.len() as u64) as usize;
                bytes[at] = rng.next_u64() as u8;
            }
            // Recompute the CRC half the time so the payload decoder sees the damage.
            if rng.below(2) == 0 && bytes.len() >= frame::HEADER_LEN + frame::CRC_LEN {
                let end = bytes.len() - frame::CRC_LEN;
                let crc = crc32fast::hash(&bytes[..end]);
                bytes[end..].copy_from_slice(&crc.to_be_bytes());
            }
            let _ = Message::parse(&bytes);
        }
    }
}
