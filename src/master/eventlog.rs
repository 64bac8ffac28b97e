//! A job's event log: one line per event, appended to
//! `STATE_DIR/events/job-N.log` while the job runs, as Spark writes an
//! event log per application for its history server.
//!
//! ```text
//! 0 job_submitted job=3 file=jobs/wordcount.job
//! 4 attempt_started attempt=7 stage=0 task=1 worker=2 speculative=0 retry=0
//! 611 attempt_ended attempt=7 outcome=SUCCEEDED
//! 902 stage stage=0 ops="read_text > flat_map > map > shuffle 0" tasks_total=4 ...
//! 902 job_ended state=SUCCEEDED elapsed_ms=902 error=""
//! ```
//!
//! The first field is milliseconds since the job was submitted. The master
//! answers `client status` and `client timeline` from memory while it holds
//! the job, and from this file once it no longer does (the job was
//! forgotten under `--retained-jobs`): `read` rebuilds the report. The
//! `stage` lines keep the shuffles each stage reads and writes and the
//! stages it waits for (`reads=1,2 writes=3 parents=0,1`), so the web
//! page draws a forgotten job's DAG as it drew it while the job was held.
//!
//! OS idea: appending. Each line is one `write(2)` to a file opened with
//! `O_APPEND`, which the kernel places at the end of the file atomically,
//! so a line is never torn in the middle by another writer, and `grep`,
//! `tail -f` and `awk` can read the log while it grows.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::protocol::{
    quote, unquote, AttemptOutcome, AttemptReport, JobReport, JobState, KeyValue, StageReport,
};

/// The event logs of every job, under a state directory (or nowhere).
#[derive(Debug, Clone)]
pub struct EventLogs {
    dir: Option<PathBuf>,
}

impl EventLogs {
    /// Logs in `STATE_DIR/events`, or none without a state directory.
    pub fn new(state_dir: Option<&Path>) -> EventLogs {
        EventLogs {
            dir: state_dir.map(|d| d.join("events")),
        }
    }

    /// Where job `job`'s log is.
    pub fn path(&self, job: u64) -> Option<PathBuf> {
        Some(self.dir.as_ref()?.join(format!("job-{job}.log")))
    }

    /// Appends one event line: `at_ms EVENT key=value ...`.
    ///
    /// # Errors
    /// The file cannot be created or written.
    pub fn append(
        &self,
        job: u64,
        at_ms: u64,
        event: &str,
        fields: &[(&str, String)],
    ) -> Result<(), String> {
        let Some(path) = self.path(job) else {
            return Ok(());
        };
        let mut line = format!("{at_ms} {event}");
        for (k, v) in fields {
            line.push(' ');
            line.push_str(k);
            line.push('=');
            line.push_str(&quote(v));
        }
        line.push('\n');
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir)?;
            }
            let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
            file.write_all(line.as_bytes())
        };
        write().map_err(|e| format!("event log {}: {e}", path.display()))
    }

    /// Removes job `job`'s log.
    pub fn remove(&self, job: u64) {
        if let Some(path) = self.path(job) {
            let _ = fs::remove_file(path);
        }
    }
}

/// Rebuilds a job's report from its event log.
///
/// # Errors
/// The file cannot be read, or a line is not `MS EVENT key=value...`
/// (named with its line number).
pub fn read(path: &Path) -> Result<JobReport, String> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("event log {}: {e}", path.display()))?;
    let mut report = JobReport::default();
    for (i, line) in text.lines().enumerate() {
        let bad = |what: String| format!("event log {}:{}: {what}", path.display(), i + 1);
        let words = crate::protocol::split_words(line).map_err(|e| bad(e.to_string()))?;
        let [at, event, rest @ ..] = &words[..] else {
            return Err(bad("expected `MS EVENT key=value...`".into()));
        };
        let at: u64 = at.parse().map_err(|_| bad(format!("bad time {at:?}")))?;
        let mut fields = Vec::new();
        for word in rest {
            let (k, v) = word
                .split_once('=')
                .ok_or_else(|| bad(format!("expected key=value, got {word:?}")))?;
            let v = unquote(v).ok_or_else(|| bad(format!("bad quoting in {word:?}")))?;
            fields.push((k, v));
        }
        let text = |k: &str| {
            fields
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| bad(format!("{event} has no {k}")))
        };
        let num = |k: &str| -> Result<u64, String> {
            text(k)?
                .parse()
                .map_err(|_| bad(format!("{k} is not a number")))
        };
        match event.as_str() {
            "job_submitted" => {
                report.id = num("job")?;
                report.file = text("file")?;
                // Logs from before these were kept have none of them.
                report.submitted_unix_ms = num("unix_ms").unwrap_or(0);
                report.source = text("source").unwrap_or_default();
                report.params = fields
                    .iter()
                    .filter_map(|(k, v)| {
                        Some(KeyValue {
                            key: k.strip_prefix("param.")?.to_string(),
                            value: v.clone(),
                        })
                    })
                    .collect();
            }
            "attempt_started" => report.attempts.push(AttemptReport {
                attempt: num("attempt")?,
                stage: num("stage")? as u32,
                task: num("task")? as u32,
                worker: num("worker")? as u32,
                start_ms: at,
                end_ms: 0,
                outcome: AttemptOutcome::Running,
                speculative: num("speculative")? as u8,
                retry: num("retry")? as u8,
                error: String::new(),
            }),
            "attempt_ended" => {
                let attempt = num("attempt")?;
                let outcome = text("outcome")?;
                let outcome = outcome_named(&outcome)
                    .ok_or_else(|| bad(format!("unknown outcome {outcome:?}")))?;
                if let Some(a) = report.attempts.iter_mut().find(|a| a.attempt == attempt) {
                    a.outcome = outcome;
                    a.end_ms = at.max(a.start_ms);
                    // Logs written before attempts kept their errors have none.
                    a.error = text("error").unwrap_or_default();
                }
            }
            "stage" => report.stages.push(StageReport {
                stage: num("stage")? as u32,
                ops: text("ops")?,
                tasks_total: num("tasks_total")? as u32,
                tasks_done: num("tasks_done")? as u32,
                tasks_running: 0,
                attempts: num("attempts")? as u32,
                attempts_failed: num("attempts_failed")? as u32,
                attempts_retried: num("attempts_retried")? as u32,
                records_in: num("records_in")?,
                records_out: num("records_out")?,
                bytes_in: num("bytes_in")?,
                bytes_out: num("bytes_out")?,
                start_ms: num("start_ms")?,
                end_ms: num("end_ms")?,
                duration_ms: num("duration_ms")?,
                shuffle_write_bytes: num("shuffle_write_bytes")?,
                shuffle_read_bytes: num("shuffle_read_bytes")?,
                spill_bytes: num("spill_bytes")?,
                spill_records: num("spill_records")?,
                // Logs written before caches had none.
                cache_hits: num("cache_hits").unwrap_or(0),
                cache_misses: num("cache_misses").unwrap_or(0),
                cache_bytes: num("cache_bytes").unwrap_or(0),
                // Logs written before the DAG was drawn have no edges.
                reads: ids(text("reads").unwrap_or_default()).map_err(bad)?,
                writes: ids(text("writes").unwrap_or_default()).map_err(bad)?,
                parents: ids(text("parents").unwrap_or_default()).map_err(bad)?,
            }),
            "output" => report.outputs.push(text("path")?),
            "job_ended" => {
                let state = text("state")?;
                report.state =
                    state_named(&state).ok_or_else(|| bad(format!("unknown state {state:?}")))?;
                report.elapsed_ms = num("elapsed_ms")?;
                report.error = text("error")?;
                if report.submitted_unix_ms > 0 {
                    report.finished_unix_ms = report.submitted_unix_ms + report.elapsed_ms;
                }
            }
            // Other events are for people reading the log.
            _ => {}
        }
    }
    Ok(report)
}

/// The lines `stage ...`, `output ...` and `job_ended ...` that close a
/// job's log, from its final report.
pub fn closing_events(report: &JobReport) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    let mut events = Vec::new();
    for s in &report.stages {
        events.push((
            "stage",
            vec![
                ("stage", s.stage.to_string()),
                ("ops", s.ops.clone()),
                ("tasks_total", s.tasks_total.to_string()),
                ("tasks_done", s.tasks_done.to_string()),
                ("attempts", s.attempts.to_string()),
                ("attempts_failed", s.attempts_failed.to_string()),
                ("attempts_retried", s.attempts_retried.to_string()),
                ("records_in", s.records_in.to_string()),
                ("records_out", s.records_out.to_string()),
                ("bytes_in", s.bytes_in.to_string()),
                ("bytes_out", s.bytes_out.to_string()),
                ("start_ms", s.start_ms.to_string()),
                ("end_ms", s.end_ms.to_string()),
                ("duration_ms", s.duration_ms.to_string()),
                ("shuffle_write_bytes", s.shuffle_write_bytes.to_string()),
                ("shuffle_read_bytes", s.shuffle_read_bytes.to_string()),
                ("spill_bytes", s.spill_bytes.to_string()),
                ("spill_records", s.spill_records.to_string()),
                ("cache_hits", s.cache_hits.to_string()),
                ("cache_misses", s.cache_misses.to_string()),
                ("cache_bytes", s.cache_bytes.to_string()),
                ("reads", id_list(&s.reads)),
                ("writes", id_list(&s.writes)),
                ("parents", id_list(&s.parents)),
            ],
        ));
    }
    for o in &report.outputs {
        events.push(("output", vec![("path", o.clone())]));
    }
    events.push((
        "job_ended",
        vec![
            ("state", report.state.to_string()),
            ("elapsed_ms", report.elapsed_ms.to_string()),
            ("error", report.error.clone()),
        ],
    ));
    events
}

/// Ids as the log writes them: `0,2,3`, or empty for none.
fn id_list(ids: &[u32]) -> String {
    let texts: Vec<String> = ids.iter().map(u32::to_string).collect();
    texts.join(",")
}

/// The ids of an `id_list`.
fn ids(text: String) -> Result<Vec<u32>, String> {
    text.split(',')
        .filter(|id| !id.is_empty())
        .map(|id| id.parse().map_err(|_| format!("bad id {id:?} in {text:?}")))
        .collect()
}

fn outcome_named(name: &str) -> Option<AttemptOutcome> {
    (0..=u8::MAX)
        .map_while(AttemptOutcome::from_code)
        .find(|o| o.as_str() == name)
}

fn state_named(name: &str) -> Option<JobState> {
    (0..=u8::MAX)
        .map_while(JobState::from_code)
        .find(|s| s.as_str() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_rebuilds_the_report() {
        let dir = std::env::temp_dir().join(format!("minispark-events-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let logs = EventLogs::new(Some(&dir));
        let report = JobReport {
            id: 3,
            file: "jobs/a b.job".into(),
            state: JobState::Failed,
            error: "task 0 failed: \"x\" = y".into(),
            elapsed_ms: 902,
            stages: vec![StageReport {
                stage: 0,
                ops: "read_text > save".into(),
                tasks_total: 2,
                tasks_done: 1,
                attempts: 3,
                attempts_failed: 2,
                records_in: 10,
                reads: vec![0, 12],
                writes: vec![3],
                parents: vec![1],
                ..StageReport::default()
            }],
            outputs: vec!["/tmp/out dir".into()],
            parts: Vec::new(),
            submitted_unix_ms: 1_790_000_000_000,
            finished_unix_ms: 1_790_000_000_902,
            params: vec![KeyValue {
                key: "input".into(),
                value: "a \"b\"\nc".into(),
            }],
            source: "# a job\nparam input = \"x\"\nread_text(input).save(\"o\")\n".into(),
            attempts: vec![
                AttemptReport {
                    attempt: 7,
                    stage: 0,
                    task: 1,
                    worker: 2,
                    start_ms: 4,
                    end_ms: 611,
                    outcome: AttemptOutcome::Failed,
                    speculative: 0,
                    retry: 0,
                    error: "reading x: no such file".into(),
                },
                AttemptReport {
                    attempt: 8,
                    start_ms: 620,
                    end_ms: 0,
                    retry: 1,
                    ..AttemptReport::default()
                },
            ],
        };
        let log =
            |at, event, fields: Vec<(&str, String)>| logs.append(3, at, event, &fields).unwrap();
        log(
            0,
            "job_submitted",
            vec![
                ("job", "3".into()),
                ("file", report.file.clone()),
                ("unix_ms", report.submitted_unix_ms.to_string()),
                ("source", report.source.clone()),
                ("param.input", report.params[0].value.clone()),
            ],
        );
        for a in &report.attempts {
            log(
                a.start_ms,
                "attempt_started",
                vec![
                    ("attempt", a.attempt.to_string()),
                    ("stage", a.stage.to_string()),
                    ("task", a.task.to_string()),
                    ("worker", a.worker.to_string()),
                    ("speculative", a.speculative.to_string()),
                    ("retry", a.retry.to_string()),
                ],
            );
        }
        log(
            611,
            "attempt_ended",
            vec![
                ("attempt", "7".into()),
                ("outcome", "FAILED".into()),
                ("error", "reading x: no such file".into()),
            ],
        );
        log(700, "stage_done", vec![("stage", "0".into())]);
        for (event, fields) in closing_events(&report) {
            log(902, event, fields);
        }
        let back = read(&logs.path(3).unwrap()).unwrap();
        assert_eq!(back, report);
        logs.remove(3);
        assert!(read(&logs.path(3).unwrap()).is_err());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_lines_are_named() {
        let dir = std::env::temp_dir().join(format!("minispark-events-bad-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("job-1.log");
        fs::write(&path, "0 job_submitted job=1 file=f\nx attempt_started\n").unwrap();
        let err = read(&path).unwrap_err();
        assert!(err.contains(":2:") && err.contains("bad time"), "{err}");
        fs::write(&path, "5 attempt_ended attempt=1 outcome=WEIRD\n").unwrap();
        assert!(read(&path).unwrap_err().contains("unknown outcome"));
        let _ = fs::remove_dir_all(&dir);
    }
}
