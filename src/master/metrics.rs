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
//! shuffle bytes with them. So the scheduler keeps the sums of the jobs it
//! forgot (`Totals`, added to as each is forgotten), and a counter is those
//! sums plus what the jobs it still holds say: a job moves from one to the
//! other, never counted twice nor dropped. The counters restart with the
//! master's process, as any Prometheus counter may. The per-worker counters
//! are the worker's own since it started, as its heartbeat says.
//!
//! OS idea: counters versus gauges, as the kernel keeps them. `/proc/stat`
//! and `/proc/net/dev` hold counters that only grow (CPU ticks, bytes sent),
//! and a reader takes the difference of two reads to get a rate; the kernel
//! never rewinds them to save memory. The master keeps finished jobs only
//! for a while, so it keeps their sums instead, as the kernel keeps the
//! times of reaped children in its parent's `cutime` after the child's own
//! accounting is gone.

use std::fmt::{self, Write as _};

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

/// `GET /metrics`.
pub fn respond(master: &dyn Inspect) -> Response {
    let (workers, jobs, forgotten) = master.metrics();
    let mut totals = forgotten;
    for (_, report) in &jobs {
        totals.add(report);
    }
    Response {
        status: 200,
        content_type: CONTENT_TYPE,
        body: render(&workers, &jobs, &totals).into_bytes(),
        headers: Vec::new(),
    }
}

/// The whole exposition: every family, from the copies and the tally.
fn render(workers: &[WorkerInfo], jobs: &[(JobSummary, JobReport)], totals: &Totals) -> String {
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

    let counts = &totals.counts;
    e.family(
        "minispark_jobs_finished_total",
        Kind::Counter,
        "Jobs ended, by final state, since the master started.",
    );
    for (state, n) in FINAL_STATES.iter().zip(totals.finished) {
        e.sample(
            "minispark_jobs_finished_total",
            &[("state", &label(state.as_str()))],
            n,
        );
    }
    e.family(
        "minispark_attempts_total",
        Kind::Counter,
        "Task attempts ended, by outcome, since the master started.",
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
        "Time from a job's submission to its end, of the jobs ended since the master started.",
    );
    let d = &totals.durations;
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

/// The sums behind the counters: of the jobs the scheduler has forgotten
/// (it adds each as it forgets it), plus, at a scrape, of the jobs it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    counts: Counts,
    /// Jobs ended, by final state, in `FINAL_STATES` order.
    finished: [u64; FINAL_STATES.len()],
    durations: Durations,
}

impl Totals {
    /// Adds what `job`'s report says: its ended attempts and shuffle bytes
    /// so far, and, once it has ended, its state and duration.
    pub fn add(&mut self, job: &JobReport) {
        self.counts.add(&Counts::of(job));
        if let Some(i) = FINAL_STATES.iter().position(|s| *s == job.state) {
            self.finished[i] += 1;
            self.durations.observe(job.elapsed_ms);
        }
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
    fn totals_count_each_job_once_as_it_moves_from_held_to_forgotten() {
        let one = job(1, JobState::Succeeded, &[OK, OK], 100);
        let two = job(2, JobState::Running, &[OK, RUN], 40);
        // Both held: what a scrape adds to the (empty) forgotten sums.
        let mut scrape = Totals::default();
        scrape.add(&one);
        scrape.add(&two);
        assert_eq!(
            scrape.counts.attempts[0], 3,
            "a running attempt is not counted"
        );
        assert_eq!(scrape.counts.shuffle_write_bytes, 140);
        assert_eq!(scrape.finished, [1, 0, 0]);
        assert_eq!(scrape.durations.count, 1, "only ended jobs have a duration");
        // Job 1 forgotten: the scheduler adds it to its sums as it drops it,
        // and the next scrape adds only job 2: the same counters.
        let mut forgotten = Totals::default();
        forgotten.add(&one);
        let mut later = forgotten.clone();
        later.add(&two);
        assert_eq!(later, scrape);
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
        let mut totals = Totals::default();
        totals.add(&jobs[0].1);
        let text = render(&workers, &jobs, &totals);
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
