//! The `/api/v1` documents: workers, jobs, one job, one worker, as JSON
//! named after Spark's REST API (`camelCase` keys, times in ms).
//!
//! Idea: an interface is a promise about names. The pages may be rearranged
//! at will; these keys are read by programs, so a key, once published, is
//! kept (fields are only ever added). Each document is written in one pass
//! with the `Json` writer, from the same copies the pages are drawn from.

use crate::protocol::{AttemptReport, JobReport, JobSummary, WorkerInfo};
use crate::view::json::Json;
use crate::view::worker::WorkerDetail;

/// `/api/v1/workers`: every worker the master knows.
pub fn workers(workers: &[WorkerInfo]) -> String {
    let mut j = Json::new();
    j.begin_array();
    for w in workers {
        j.begin_object();
        worker_fields(&mut j, w);
        j.end_object();
    }
    j.end_array();
    j.finish()
}

/// `/api/v1/workers/ID`: the worker as in the list, then its `samples`
/// (`atMs` since the Unix epoch, `cpuPercent`, `rssBytes`, `running`),
/// the `attempts` it ran for the jobs held (newest first) and what it
/// `holds` for them.
pub fn worker(w: &WorkerDetail) -> String {
    let mut j = Json::new();
    j.begin_object();
    worker_fields(&mut j, &w.info);
    j.key("samples").begin_array();
    for s in &w.samples {
        j.begin_object();
        j.key("atMs").u64(s.at_unix_ms);
        j.key("cpuPercent").f64(f64::from(s.cpu_permille) / 10.0);
        j.key("rssBytes").u64(s.rss_bytes);
        j.key("running").u64(u64::from(s.running));
        j.end_object();
    }
    j.end_array();
    j.key("attemptsTotal").u64(w.attempts_total as u64);
    j.key("attempts").begin_array();
    for a in &w.attempts {
        j.begin_object();
        j.key("job").u64(a.job);
        attempt_fields(&mut j, &a.attempt);
        j.end_object();
    }
    j.end_array();
    j.key("holds").begin_array();
    for h in &w.held {
        j.begin_object();
        j.key("job").u64(h.job);
        match h.stage {
            Some(stage) => j.key("stage").u64(u64::from(stage)),
            None => j.key("stage").null(),
        };
        j.key("kind").str(h.what.kind());
        j.key("description").str(&h.what.describe());
        j.key("tasks").begin_array();
        for &t in &h.tasks {
            j.u64(u64::from(t));
        }
        j.end_array();
        j.end_object();
    }
    j.end_array();
    j.end_object();
    j.finish()
}

fn worker_fields(j: &mut Json, w: &WorkerInfo) {
    let m = &w.metrics;
    j.key("id").u64(u64::from(w.id));
    j.key("address").str(&w.addr);
    j.key("state").str(w.state.as_str());
    j.key("slots").u64(u64::from(w.slots));
    j.key("running").u64(u64::from(w.running));
    j.key("memoryBytes").u64(w.memory_bytes);
    j.key("sinceHeartbeatMs").u64(w.since_heartbeat_ms);
    j.key("cpuPercent").f64(f64::from(m.cpu_permille) / 10.0);
    j.key("rssBytes").u64(m.rss_bytes);
    j.key("tasksDone").u64(m.tasks_done);
    j.key("tasksFailed").u64(m.tasks_failed);
    j.key("spillBytes").u64(m.spill_bytes);
    j.key("shuffleServedBytes").u64(m.shuffle_served_bytes);
    j.key("cacheHits").u64(m.cache_hits);
    j.key("cacheMisses").u64(m.cache_misses);
    j.key("cacheMemoryBytes").u64(m.cache_memory_bytes);
    j.key("cacheDiskBytes").u64(m.cache_disk_bytes);
    j.key("latencyMs").begin_object();
    j.key("mean").u64(m.latency_mean_ms);
    j.key("p50").u64(m.latency_p50_ms);
    j.key("p99").u64(m.latency_p99_ms);
    j.end_object();
}

/// `/api/v1/jobs`: one line per job held, newest first.
pub fn jobs(jobs: &[(JobSummary, JobReport)]) -> String {
    let mut j = Json::new();
    j.begin_array();
    for (s, _) in jobs {
        j.begin_object();
        j.key("id").u64(s.id);
        j.key("file").str(&s.file);
        j.key("state").str(s.state.as_str());
        j.key("tasksDone").u64(u64::from(s.tasks_done));
        j.key("tasksTotal").u64(u64::from(s.tasks_total));
        j.key("elapsedMs").u64(s.elapsed_ms);
        j.end_object();
    }
    j.end_array();
    j.finish()
}

/// `/api/v1/jobs/ID`: the job's whole report.
pub fn job(job: &JobReport) -> String {
    let mut j = Json::new();
    j.begin_object();
    j.key("id").u64(job.id);
    j.key("file").str(&job.file);
    j.key("state").str(job.state.as_str());
    j.key("error").str(&job.error);
    j.key("elapsedMs").u64(job.elapsed_ms);
    j.key("submittedUnixMs").u64(job.submitted_unix_ms);
    j.key("finishedUnixMs").u64(job.finished_unix_ms);
    j.key("params").begin_object();
    for p in &job.params {
        j.key(&p.key).str(&p.value);
    }
    j.end_object();
    j.key("source").str(&job.source);
    j.key("stages").begin_array();
    for s in &job.stages {
        j.begin_object();
        j.key("stage").u64(u64::from(s.stage));
        j.key("operators").str(&s.ops);
        j.key("tasksTotal").u64(u64::from(s.tasks_total));
        j.key("tasksDone").u64(u64::from(s.tasks_done));
        j.key("tasksRunning").u64(u64::from(s.tasks_running));
        j.key("attempts").u64(u64::from(s.attempts));
        j.key("attemptsFailed").u64(u64::from(s.attempts_failed));
        j.key("attemptsRetried").u64(u64::from(s.attempts_retried));
        j.key("recordsIn").u64(s.records_in);
        j.key("recordsOut").u64(s.records_out);
        j.key("bytesIn").u64(s.bytes_in);
        j.key("bytesOut").u64(s.bytes_out);
        j.key("startMs").u64(s.start_ms);
        j.key("endMs").u64(s.end_ms);
        j.key("shuffleWriteBytes").u64(s.shuffle_write_bytes);
        j.key("shuffleReadBytes").u64(s.shuffle_read_bytes);
        j.key("spillBytes").u64(s.spill_bytes);
        j.key("spillRecords").u64(s.spill_records);
        j.key("cacheHits").u64(s.cache_hits);
        j.key("cacheMisses").u64(s.cache_misses);
        j.key("cacheBytes").u64(s.cache_bytes);
        j.key("durationMs").u64(s.duration_ms);
        for (key, ids) in [
            ("shufflesRead", &s.reads),
            ("shufflesWritten", &s.writes),
            ("parentStages", &s.parents),
        ] {
            j.key(key).begin_array();
            for &id in ids {
                j.u64(u64::from(id));
            }
            j.end_array();
        }
        j.end_object();
    }
    j.end_array();
    j.key("outputs").begin_array();
    for o in &job.outputs {
        j.str(o);
    }
    j.end_array();
    j.key("attempts").begin_array();
    for a in &job.attempts {
        j.begin_object();
        attempt_fields(&mut j, a);
        j.end_object();
    }
    j.end_array();
    j.end_object();
    j.finish()
}

fn attempt_fields(j: &mut Json, a: &AttemptReport) {
    j.key("attempt").u64(a.attempt);
    j.key("stage").u64(u64::from(a.stage));
    j.key("task").u64(u64::from(a.task));
    j.key("worker").u64(u64::from(a.worker));
    j.key("startMs").u64(a.start_ms);
    j.key("endMs").u64(a.end_ms);
    j.key("outcome").str(a.outcome.as_str());
    j.key("speculative").bool(a.speculative != 0);
    j.key("retry").bool(a.retry != 0);
    j.key("error").str(&a.error);
}
