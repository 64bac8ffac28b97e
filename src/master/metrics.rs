//! `GET /metrics`: the master's numbers in the Prometheus text exposition
//! format, version 0.0.4, for a Prometheus server (or any tool that reads
//! it) to scrape; and `GET /health`, a `200 ok` for load balancers and
//! container health checks.
//!
//! ```text
//! # HELP minispark_workers Workers the master knows, by liveness.
//! # TYPE minispark_workers gauge
//! minispark_workers{state="alive"} 2
//! minispark_workers{state="dead"} 0
//! ...
//! minispark_job_duration_seconds_bucket{le="0.5"} 1
//! minispark_job_duration_seconds_bucket{le="+Inf"} 1
//! minispark_job_duration_seconds_sum 0.412
//! minispark_job_duration_seconds_count 1
//! ```
//!
//! The format: each family is a `# HELP` line, a `# TYPE` line, then its
//! samples, `name{label="value",...} number`. Label values escape `\`, `"`
//! and newline; a histogram is cumulative `_bucket{le=...}` samples ending
//! at `le="+Inf"`, then `_sum` and `_count`. `Exposition` writes it by hand,
//! as `view/json.rs` writes JSON.
//!
//! Gauges (workers, jobs by state, tasks running, each worker's last
//! heartbeat) are read from the same copies the web page renders
//! (`inspect.rs`). Counters are harder: a counter must never go down over
//! the master's life, or `rate()` reads the drop as a restart, but the
//! master forgets finished jobs (`--retained-jobs`), and their attempts and
//! shuffle bytes with them. So the counters are running totals, a `Tally`
//! folded at each scrape: a job that has ended is counted once, from its
//! final report; a running job counts as far as it has got; a job that
//! ended and was forgotten between two scrapes is read back from its event
//! log (`--state-dir`), or, without one, counts as far as the last scrape
//! saw it (not at all if none did). They count from the first scrape on
//! (the jobs the master held then, and every one after), and restart with
//! the master's process, as any Prometheus counter may. (The alternative,
//! sums kept where attempts end, would live in the scheduler; folding at
//! the scrape leaves the scheduler as it is and keeps the counters
//! honest.) The per-worker counters are the worker's own since it
//! started, as its heartbeat says.
//!
//! OS idea: counters versus gauges, as the kernel keeps them. `/proc/stat`
//! and `/proc/net/dev` hold counters that only grow (CPU ticks, bytes sent),
//! and a reader takes the difference of two reads to get a rate; the kernel
//! never rewinds them to save memory. The master keeps finished jobs only
//! for a while, so it keeps their sums instead, as the kernel keeps the
//! times of reaped children in its parent's `cutime` after the child's own
//! accounting is gone.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use crate::lock;
use crate::master::inspect::Inspect;
use crate::net::Response;
use crate::protocol::{AttemptOutcome, JobReport, JobState, JobSummary, WorkerInfo, WorkerState};

/// The `Content-Type` the text exposition format 0.0.4 is served with.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The upper bounds of the job duration histogram's buckets, in seconds:
/// from a job of a few tasks on loopback to a ten-minute batch.
pub const DURATION_BUCKETS_SECONDS: [f64; 15] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 600.0,
];

/// The most event logs one scrape reads back (of jobs forgotten since the
/// scrape before); the newest are read, the rest count as unseen. The
/// master keeps the logs of ten times `--retained-jobs` jobs, so a burst
/// larger than this has lost its oldest logs anyway.
const MAX_LOOKUPS: usize = 1000;

/// The outcomes of an ended attempt, in the order the counter lists them.
const OUTCOMES: [AttemptOutcome; 6] = [
    AttemptOutcome::Succeeded,
    AttemptOutcome::Failed,
    AttemptOutcome::Lost,
    AttemptOutcome::FetchFailed,
    AttemptOutcome::TimedOut,
    AttemptOutcome::Aborted,
];

/// The states a job ends in, in the order the counter lists them.
const FINAL_STATES: [JobState; 3] = [JobState::Succeeded, JobState::Failed, JobState::Cancelled];

/// `GET /health`: the master is up and serving.
pub fn health() -> Response {
    Response {
        status: 200,
        content_type: "text/plain; charset=utf-8",
        body: b"ok".to_vec(),
        headers: Vec::new(),
    }
}

/// The running totals of the master this process serves (see `Tally`),
/// and whose they are. A process serves one master (the `master` binary,
/// or the one `client run --local` embeds), and the views see the master
/// only through `Inspect`'s copies, so the totals live here, beside the
/// only code that reads them; `Owner` notices another master taking over.
static TALLY: Mutex<Option<Owner>> = Mutex::new(None);

/// A `Tally`, and which master's life it counts.
struct Owner {
    addr: SocketAddr,
    /// The master's uptime at the last scrape: less at this one means
    /// another master (a new life) on the same address.
    up: Duration,
    tally: Tally,
}

/// `GET /metrics`.
pub fn respond(master: &dyn Inspect) -> Response {
    let about = master.about();
    // The tally's lock is held across the snapshot, so scrapes fold their
    // snapshots in the order they were taken. It is never taken under the
    // master's lock (the snapshot takes that one, and lets it go).
    let mut guard = lock(&TALLY);
    if guard
        .as_ref()
        .is_some_and(|o| o.addr != about.addr || o.up > about.up)
    {
        *guard = None; // another master's: this one starts from nothing
    }
    let owner = guard.get_or_insert_with(|| Owner {
        addr: about.addr,
        up: about.up,
        tally: Tally::default(),
    });
    owner.up = about.up;
    let (workers, jobs) = master.detail();
    owner.tally.observe(&jobs, |id| master.job(id));
    let body = render(&workers, &jobs, &owner.tally);
    Response {
        status: 200,
        content_type: CONTENT_TYPE,
        body: body.into_bytes(),
        headers: Vec::new(),
    }
}

/// The whole exposition: every family, from the copies and the tally.
fn render(workers: &[WorkerInfo], jobs: &[(JobSummary, JobReport)], tally: &Tally) -> String {
    let mut e = Exposition::default();

    e.family(
        "minispark_workers",
        Kind::Gauge,
        "Workers the master knows, by liveness.",
    );
    for state in [WorkerState::Alive, WorkerState::Dead] {
        let n = workers.iter().filter(|w| w.state == state).count() as u64;
        e.sample("minispark_workers", &[("state", &label(state.as_str()))], n);
    }
    worker_families(&mut e, workers);

    e.family(
        "minispark_jobs",
        Kind::Gauge,
        "Jobs the master holds (running, and the --retained-jobs most recently finished), by state.",
    );
    for state in [JobState::Running].iter().chain(&FINAL_STATES) {
        let n = jobs.iter().filter(|(s, _)| s.state == *state).count() as u64;
        e.sample("minispark_jobs", &[("state", &label(state.as_str()))], n);
    }
    e.family(
        "minispark_tasks_running",
        Kind::Gauge,
        "Tasks of running jobs with an attempt running or committing.",
    );
    let running: u64 = jobs
        .iter()
        .filter(|(s, _)| s.state == JobState::Running)
        .flat_map(|(_, r)| &r.stages)
        .map(|s| u64::from(s.tasks_running))
        .sum();
    e.sample("minispark_tasks_running", &[], running);

    let counts = tally.counts();
    e.family(
        "minispark_jobs_finished_total",
        Kind::Counter,
        "Jobs ended, by final state (counted from the master's first scrape on).",
    );
    for (state, n) in FINAL_STATES.iter().zip(tally.finished) {
        e.sample(
            "minispark_jobs_finished_total",
            &[("state", &label(state.as_str()))],
            n,
        );
    }
    e.family(
        "minispark_attempts_total",
        Kind::Counter,
        "Task attempts ended, by outcome (counted from the master's first scrape on; \
         a job forgotten between two scrapes is read back from its event log).",
    );
    for (outcome, n) in OUTCOMES.iter().zip(counts.attempts) {
        let outcome = label(outcome.as_str());
        e.sample("minispark_attempts_total", &[("outcome", &outcome)], n);
    }
    e.family(
        "minispark_shuffle_write_bytes_total",
        Kind::Counter,
        "Bytes map tasks wrote to shuffle files.",
    );
    e.sample(
        "minispark_shuffle_write_bytes_total",
        &[],
        counts.shuffle_write_bytes,
    );
    e.family(
        "minispark_shuffle_read_bytes_total",
        Kind::Counter,
        "Bytes reduce tasks read from shuffle files.",
    );
    e.sample(
        "minispark_shuffle_read_bytes_total",
        &[],
        counts.shuffle_read_bytes,
    );

    let name = "minispark_job_duration_seconds";
    e.family(
        name,
        Kind::Histogram,
        "Time from a job's submission to its end (counted from the master's first scrape on).",
    );
    let d = &tally.durations;
    let mut cumulative = 0;
    for (bound, n) in DURATION_BUCKETS_SECONDS.iter().zip(d.buckets) {
        cumulative += n;
        let le = Value::Float(*bound).to_string();
        e.sample(&format!("{name}_bucket"), &[("le", &le)], cumulative);
    }
    e.sample(&format!("{name}_bucket"), &[("le", "+Inf")], d.count);
    e.sample(&format!("{name}_sum"), &[], Value::Millis(d.sum_ms));
    e.sample(&format!("{name}_count"), &[], d.count);
    e.finish()
}

/// One family per worker measurement, a sample per worker (dead ones with
/// what their last heartbeat said).
fn worker_families(e: &mut Exposition, workers: &[WorkerInfo]) {
    type Measure = fn(&WorkerInfo) -> Value;
    let families: [(&str, Kind, &str, Measure); 11] = [
        (
            "minispark_worker_up",
            Kind::Gauge,
            "1 if the worker is alive, 0 if the master declared it dead.",
            |w| Value::Int(u64::from(w.state == WorkerState::Alive)),
        ),
        (
            "minispark_worker_slots",
            Kind::Gauge,
            "Task attempts the worker runs at once.",
            |w| Value::Int(u64::from(w.slots)),
        ),
        (
            "minispark_worker_heartbeat_age_seconds",
            Kind::Gauge,
            "Seconds since the worker's last heartbeat.",
            |w| Value::Millis(w.since_heartbeat_ms),
        ),
        (
            "minispark_worker_cpu_ratio",
            Kind::Gauge,
            "CPU time per second of wall time over the last heartbeat interval (1 = one core busy).",
            |w| Value::Float(f64::from(w.metrics.cpu_permille) / 1000.0),
        ),
        (
            "minispark_worker_resident_memory_bytes",
            Kind::Gauge,
            "Resident memory of the worker process (VmRSS) at its last heartbeat.",
            |w| Value::Int(w.metrics.rss_bytes),
        ),
        (
            "minispark_worker_attempts_running",
            Kind::Gauge,
            "Task attempts running on the worker, as the master counts them.",
            |w| Value::Int(u64::from(w.running)),
        ),
        (
            "minispark_worker_attempts_done_total",
            Kind::Counter,
            "Task attempts the worker finished since it started.",
            |w| Value::Int(w.metrics.tasks_done),
        ),
        (
            "minispark_worker_attempts_failed_total",
            Kind::Counter,
            "Task attempts that failed on the worker since it started.",
            |w| Value::Int(w.metrics.tasks_failed),
        ),
        (
            "minispark_worker_spill_bytes_total",
            Kind::Counter,
            "Bytes the worker's tasks spilled to disk since it started.",
            |w| Value::Int(w.metrics.spill_bytes),
        ),
        (
            "minispark_worker_shuffle_served_bytes_total",
            Kind::Counter,
            "Shuffle bytes the worker served to reducers since it started.",
            |w| Value::Int(w.metrics.shuffle_served_bytes),
        ),
        (
            "minispark_worker_cache_hits_total",
            Kind::Counter,
            "Reads of cached partitions the worker served from memory since it started.",
            |w| Value::Int(w.metrics.cache_hits),
        ),
    ];
    for (name, kind, help, measure) in families {
        e.family(name, kind, help);
        for w in workers {
            let id = w.id.to_string();
            e.sample(name, &[("worker", &id), ("address", &w.addr)], measure(w));
        }
    }
}

/// A state or outcome name as a label value: `FETCH_FAILED` is `fetch_failed`.
fn label(name: &str) -> String {
    name.to_ascii_lowercase()
}

// --- The running totals -----------------------------------------------

/// What the counters take from one job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    /// Attempts ended, by outcome, in `OUTCOMES` order.
    attempts: [u64; OUTCOMES.len()],
    shuffle_write_bytes: u64,
    shuffle_read_bytes: u64,
}

impl Counts {
    /// What `job`'s report says so far.
    fn of(job: &JobReport) -> Counts {
        let mut c = Counts::default();
        for a in &job.attempts {
            if let Some(i) = OUTCOMES.iter().position(|o| *o == a.outcome) {
                c.attempts[i] += 1;
            }
        }
        for s in &job.stages {
            c.shuffle_write_bytes += s.shuffle_write_bytes;
            c.shuffle_read_bytes += s.shuffle_read_bytes;
        }
        c
    }

    fn add(&mut self, other: &Counts) {
        for (a, b) in self.attempts.iter_mut().zip(other.attempts) {
            *a += b;
        }
        self.shuffle_write_bytes += other.shuffle_write_bytes;
        self.shuffle_read_bytes += other.shuffle_read_bytes;
    }

    /// The larger of each: what a job counts once two reports of it were
    /// seen (they only grow, but an event log read back may say less).
    fn max(mut self, other: &Counts) -> Counts {
        for (a, b) in self.attempts.iter_mut().zip(other.attempts) {
            *a = (*a).max(b);
        }
        self.shuffle_write_bytes = self.shuffle_write_bytes.max(other.shuffle_write_bytes);
        self.shuffle_read_bytes = self.shuffle_read_bytes.max(other.shuffle_read_bytes);
        self
    }
}

/// Job durations, in `DURATION_BUCKETS_SECONDS` (each bucket alone; the
/// exposition adds them up).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Durations {
    /// Jobs whose duration fell in each bucket (above the one before).
    buckets: [u64; DURATION_BUCKETS_SECONDS.len()],
    /// Every job, including those past the last bound (`+Inf`).
    count: u64,
    /// Kept in milliseconds, as reports give them, so the sum is exact.
    sum_ms: u64,
}

impl Durations {
    fn observe(&mut self, ms: u64) {
        let seconds = ms as f64 / 1000.0;
        if let Some(i) = DURATION_BUCKETS_SECONDS.iter().position(|b| seconds <= *b) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum_ms += ms;
    }
}

/// The counters of one master's life, folded from what each scrape sees.
///
/// Every job is counted once it has ended (`fold`), and until then as far
/// as the last scrape saw it (`running`); `floor` and `folded` say which
/// jobs are done with, so none is counted twice. Job ids are handed out
/// in order, so an id between two the tally knows that the master no
/// longer holds is a job that ended and was forgotten between scrapes.
#[derive(Debug, Default)]
struct Tally {
    /// The sums over the jobs folded in.
    ended: Counts,
    /// Jobs folded in, by final state, in `FINAL_STATES` order.
    finished: [u64; FINAL_STATES.len()],
    durations: Durations,
    /// Every job id below it is done with; 0 before the first scrape.
    floor: u64,
    /// Ids at or above `floor` that are done with.
    folded: BTreeSet<u64>,
    /// Running jobs, as far as the last scrape saw them.
    running: BTreeMap<u64, Counts>,
}

impl Tally {
    /// Folds in one scrape's copy of the jobs the master holds;
    /// `forgotten(id)` reads back a job the master no longer holds.
    fn observe(
        &mut self,
        jobs: &[(JobSummary, JobReport)],
        mut forgotten: impl FnMut(u64) -> Option<JobReport>,
    ) {
        let held: BTreeMap<u64, &JobReport> = jobs.iter().map(|(_, r)| (r.id, r)).collect();
        if self.floor == 0 {
            self.floor = held.keys().next().copied().unwrap_or(1);
        }
        for (&id, &report) in &held {
            if id < self.floor || self.folded.contains(&id) {
                continue;
            }
            if report.state.is_final() {
                self.fold(id, Some(report));
            } else {
                let seen = self.running.entry(id).or_default();
                *seen = Counts::of(report).max(seen);
            }
        }
        // The jobs that ended and were forgotten since the last scrape.
        let newest = [held.keys().next_back(), self.running.keys().next_back()]
            .into_iter()
            .flatten()
            .copied()
            .max()
            .unwrap_or(0);
        let gone: Vec<u64> = (self.floor..=newest)
            .filter(|id| !held.contains_key(id) && !self.folded.contains(id))
            .collect();
        let read_back = gone.len().saturating_sub(MAX_LOOKUPS);
        for (i, &id) in gone.iter().enumerate() {
            let report = if i >= read_back { forgotten(id) } else { None };
            self.fold(id, report.as_ref().filter(|r| r.state.is_final()));
        }
        while self.folded.remove(&self.floor) {
            self.floor += 1;
        }
    }

    /// Counts job `id` for good: from its final report, or without one
    /// (forgotten, and no event log) as far as a scrape saw it run.
    fn fold(&mut self, id: u64, report: Option<&JobReport>) {
        let seen = self.running.remove(&id).unwrap_or_default();
        match report {
            Some(r) => {
                self.ended.add(&Counts::of(r).max(&seen));
                if let Some(i) = FINAL_STATES.iter().position(|s| *s == r.state) {
                    self.finished[i] += 1;
                }
                self.durations.observe(r.elapsed_ms);
            }
            None => self.ended.add(&seen),
        }
        self.folded.insert(id);
    }

    /// The counters now: the jobs folded in, and the running ones so far.
    fn counts(&self) -> Counts {
        let mut c = self.ended;
        for seen in self.running.values() {
            c.add(seen);
        }
        c
    }
}

// --- The text exposition format ---------------------------------------

/// A family's `# TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A sample's value, written as the format wants it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Value {
    Int(u64),
    Float(f64),
    /// Milliseconds, written as seconds with three exact decimals.
    Millis(u64),
}

impl From<u64> for Value {
    fn from(n: u64) -> Value {
        Value::Int(n)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Value::Int(n) => write!(f, "{n}"),
            Value::Millis(ms) => write!(f, "{}.{:03}", ms / 1000, ms % 1000),
            Value::Float(x) if x.is_nan() => f.write_str("NaN"),
            Value::Float(x) if x == f64::INFINITY => f.write_str("+Inf"),
            Value::Float(x) if x == f64::NEG_INFINITY => f.write_str("-Inf"),
            // Rust writes a finite f64 in full, never with an exponent:
            // a valid float in the format's grammar.
            Value::Float(x) => write!(f, "{x}"),
        }
    }
}

/// Builds one exposition, family by family, in the order written.
#[derive(Debug, Default)]
struct Exposition {
    out: String,
    /// The family being written, for the check that samples belong to it.
    family: String,
}

impl Exposition {
    /// Starts a family: its `# HELP` and `# TYPE` lines.
    fn family(&mut self, name: &str, kind: Kind, help: &str) {
        debug_assert!(valid_name(name), "metric name {name:?}");
        let _ = writeln!(self.out, "# HELP {name} {}", escape(help, false));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
        self.family = name.to_string();
    }

    /// One sample of the current family: `name` is the family's, or for a
    /// histogram its `_bucket`, `_sum` or `_count`.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Into<Value>) {
        debug_assert!(name.starts_with(&self.family), "{name} outside its family");
        self.out.push_str(name);
        if !labels.is_empty() {
            let labels: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v, true)))
                .collect();
            let _ = write!(self.out, "{{{}}}", labels.join(","));
        }
        let _ = writeln!(self.out, " {}", value.into());
    }

    fn finish(self) -> String {
        self.out
    }
}

/// Escapes a label value (`\`, `"`, newline) or a HELP text (`\`, newline).
fn escape(text: &str, quote: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

/// A metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{AttemptReport, StageReport, WorkerMetrics};

    fn job(id: u64, state: JobState, outcomes: &[AttemptOutcome], shuffle: u64) -> JobReport {
        JobReport {
            id,
            state,
            elapsed_ms: 300,
            stages: vec![StageReport {
                shuffle_write_bytes: shuffle,
                shuffle_read_bytes: shuffle / 2,
                ..StageReport::default()
            }],
            attempts: outcomes
                .iter()
                .map(|&outcome| AttemptReport {
                    outcome,
                    ..AttemptReport::default()
                })
                .collect(),
            ..JobReport::default()
        }
    }

    fn held(reports: &[JobReport]) -> Vec<(JobSummary, JobReport)> {
        reports
            .iter()
            .map(|r| {
                let s = JobSummary {
                    id: r.id,
                    state: r.state,
                    ..JobSummary::default()
                };
                (s, r.clone())
            })
            .collect()
    }

    const OK: AttemptOutcome = AttemptOutcome::Succeeded;
    const RUN: AttemptOutcome = AttemptOutcome::Running;

    #[test]
    fn counters_survive_the_jobs_being_forgotten() {
        let mut t = Tally::default();
        let none = |_| None;
        let one = job(1, JobState::Succeeded, &[OK, OK], 100);
        t.observe(&held(std::slice::from_ref(&one)), none);
        assert_eq!(t.counts().attempts[0], 2);
        // Job 1 forgotten, job 2 running with one attempt done.
        let two = job(2, JobState::Running, &[OK, RUN], 40);
        t.observe(&held(&[two]), none);
        assert_eq!(t.counts().attempts[0], 3);
        assert_eq!(t.counts().shuffle_write_bytes, 140);
        // Job 2 ended and was forgotten between two scrapes; 3 is held.
        // Without an event log, 2 counts as far as it was seen.
        let three = job(3, JobState::Failed, &[AttemptOutcome::Failed], 0);
        t.observe(&held(std::slice::from_ref(&three)), none);
        let c = t.counts();
        assert_eq!((c.attempts[0], c.attempts[1]), (3, 1));
        assert_eq!(t.finished, [1, 1, 0]);
        assert_eq!(t.durations.count, 2);
        // Scraping the same thing again changes nothing.
        t.observe(&held(&[three]), none);
        assert_eq!(t.counts(), c);
        assert_eq!(t.floor, 4, "ids below are done with: {t:?}");
        assert!(t.folded.is_empty() && t.running.is_empty());
    }

    #[test]
    fn a_job_forgotten_between_scrapes_is_read_back() {
        let mut t = Tally::default();
        t.observe(&held(&[job(5, JobState::Running, &[RUN], 0)]), |_| None);
        assert_eq!(t.floor, 5);
        let logs = |id| match id {
            5 => Some(job(5, JobState::Succeeded, &[OK, OK, OK], 10)),
            6 => Some(job(6, JobState::Cancelled, &[AttemptOutcome::Aborted], 0)),
            _ => None,
        };
        t.observe(&held(&[job(7, JobState::Running, &[], 0)]), logs);
        let c = t.counts();
        assert_eq!(c.attempts, [3, 0, 0, 0, 0, 1]);
        assert_eq!(c.shuffle_write_bytes, 10);
        assert_eq!(t.finished, [1, 0, 1]);
        assert_eq!(t.floor, 7);
    }

    #[test]
    fn durations_fill_cumulative_buckets() {
        let mut d = Durations::default();
        for ms in [5, 10, 11, 700, 599_999, 3_600_000] {
            d.observe(ms);
        }
        assert_eq!(d.count, 6);
        assert_eq!(d.sum_ms, 5 + 10 + 11 + 700 + 599_999 + 3_600_000);
        assert_eq!(d.buckets[0], 2, "0.005 and 0.01 are <= 0.01");
        assert_eq!(d.buckets[1], 1);
        assert_eq!(d.buckets.iter().sum::<u64>(), 5, "one above 600 s");
    }

    #[test]
    fn values_labels_and_help_are_written_as_the_format_wants() {
        assert_eq!(Value::Millis(1_005).to_string(), "1.005");
        assert_eq!(Value::Float(0.85).to_string(), "0.85");
        assert_eq!(Value::Float(600.0).to_string(), "600");
        assert_eq!(Value::Float(f64::INFINITY).to_string(), "+Inf");
        assert_eq!(escape("a\\b\"c\nd", true), "a\\\\b\\\"c\\nd");
        assert_eq!(escape("a\\b\"c\nd", false), "a\\\\b\"c\\nd");
        assert!(valid_name("minispark_x:y_1") && !valid_name("1x") && !valid_name("a-b"));
    }

    #[test]
    fn the_exposition_has_every_family_once_with_escaped_labels() {
        let workers = vec![WorkerInfo {
            id: 3,
            addr: "host\"with\\odd\nname:1".into(),
            state: WorkerState::Alive,
            metrics: WorkerMetrics {
                cpu_permille: 1500,
                ..WorkerMetrics::default()
            },
            ..WorkerInfo::default()
        }];
        let one = job(1, JobState::Succeeded, &[OK], 8);
        let jobs = held(&[one]);
        let mut t = Tally::default();
        t.observe(&jobs, |_| None);
        let text = render(&workers, &jobs, &t);
        assert!(text.ends_with('\n'));
        assert!(text.contains(
            "minispark_worker_cpu_ratio{worker=\"3\",address=\"host\\\"with\\\\odd\\nname:1\"} 1.5\n"
        ));
        assert!(text.contains("minispark_workers{state=\"alive\"} 1\n"));
        assert!(text.contains("minispark_jobs{state=\"succeeded\"} 1\n"));
        assert!(text.contains("minispark_attempts_total{outcome=\"succeeded\"} 1\n"));
        assert!(text.contains("minispark_attempts_total{outcome=\"fetch_failed\"} 0\n"));
        assert!(text.contains("minispark_job_duration_seconds_bucket{le=\"0.25\"} 0\n"));
        assert!(text.contains("minispark_job_duration_seconds_bucket{le=\"0.5\"} 1\n"));
        assert!(text.contains("minispark_job_duration_seconds_bucket{le=\"+Inf\"} 1\n"));
        assert!(text.contains("minispark_job_duration_seconds_sum 0.300\n"));
        let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
        let mut names: Vec<&str> = types.iter().map(|l| l.split(' ').nth(2).unwrap()).collect();
        let all = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all, "a family twice: {types:?}");
    }

    #[test]
    fn health_is_ok() {
        let r = health();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
    }
}
