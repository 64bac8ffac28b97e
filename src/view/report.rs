//! Jobs and workers as text: the status table, the one-line summaries, the
//! progress bar. Shared by `client` and the master's text mode so both
//! print the same.

use std::fmt::Write as _;

use crate::protocol::{JobReport, JobSummary, WorkerInfo};
use crate::size::format_size;

/// Seconds with two decimals, from milliseconds.
pub fn secs(ms: u64) -> String {
    format!("{:.2}s", ms as f64 / 1000.0)
}

/// `id=3 file=jobs/grep.job state=RUNNING tasks=2/8 elapsed=0.41s`
pub fn job_line(j: &JobSummary) -> String {
    format!(
        "id={} file={} state={} tasks={}/{} elapsed={}",
        j.id,
        crate::protocol::quote(&j.file),
        j.state,
        j.tasks_done,
        j.tasks_total,
        secs(j.elapsed_ms)
    )
}

/// One worker as a `key=value` line; `client workers` and text mode's `WORKERS` print it.
pub fn worker_line(w: &WorkerInfo) -> String {
    let m = &w.metrics;
    format!(
        "id={} addr={} state={} slots={} running={} memory={} since_heartbeat={:.1}s \
         cpu={:.1}% rss={} done={} failed={} spilled={} served={} latency_ms={}/{}/{} \
         cache_hits={} cache_misses={} cache_memory={} cache_disk={}",
        w.id,
        w.addr,
        w.state,
        w.slots,
        w.running,
        format_size(w.memory_bytes),
        w.since_heartbeat_ms as f64 / 1000.0,
        f64::from(m.cpu_permille) / 10.0,
        format_size(m.rss_bytes),
        m.tasks_done,
        m.tasks_failed,
        format_size(m.spill_bytes),
        format_size(m.shuffle_served_bytes),
        m.latency_mean_ms,
        m.latency_p50_ms,
        m.latency_p99_ms,
        m.cache_hits,
        m.cache_misses,
        format_size(m.cache_memory_bytes),
        format_size(m.cache_disk_bytes)
    )
}

/// The `client status` screen: a header, one row per stage, the outputs, and
/// the error if any.
pub fn status_table(job: &JobReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "job {} {} {} elapsed {}",
        job.id,
        job.file,
        job.state,
        secs(job.elapsed_ms)
    );
    let ops_width = job
        .stages
        .iter()
        .map(|s| s.ops.len())
        .max()
        .unwrap_or(3)
        .max(3);
    let _ = writeln!(
        out,
        "{:<5}  {:<ops_width$}  {:>9}  {:>7}  {:>8}  {:>6}  {:>11}  {:>11}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>8}",
        "stage",
        "ops",
        "tasks",
        "running",
        "attempts",
        "failed",
        "records_in",
        "records_out",
        "bytes_out",
        "shuffle_w",
        "shuffle_r",
        "spilled",
        "cache h/m",
        "duration"
    );
    for s in &job.stages {
        let _ = writeln!(
            out,
            "{:<5}  {:<ops_width$}  {:>9}  {:>7}  {:>8}  {:>6}  {:>11}  {:>11}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>8}",
            s.stage,
            s.ops,
            format!("{}/{}", s.tasks_done, s.tasks_total),
            s.tasks_running,
            s.attempts,
            s.attempts_failed,
            s.records_in,
            s.records_out,
            format_size(s.bytes_out),
            format_size(s.shuffle_write_bytes),
            format_size(s.shuffle_read_bytes),
            format_size(s.spill_bytes),
            format!("{}/{}", s.cache_hits, s.cache_misses),
            secs(s.duration_ms)
        );
    }
    let spilled: u64 = job.stages.iter().map(|s| s.spill_records).sum();
    if spilled > 0 {
        let bytes: u64 = job.stages.iter().map(|s| s.spill_bytes).sum();
        let _ = writeln!(
            out,
            "spilled {spilled} records, {} to disk",
            format_size(bytes)
        );
    }
    for o in &job.outputs {
        let _ = writeln!(out, "output {o}");
    }
    if !job.error.is_empty() {
        let _ = writeln!(out, "error {}", job.error);
    }
    out
}

/// Tasks done and total over every stage.
pub fn progress(job: &JobReport) -> (u32, u32) {
    job.stages
        .iter()
        .fold((0, 0), |(d, t), s| (d + s.tasks_done, t + s.tasks_total))
}

/// `[##########----------] 4/8 tasks  stage 0 4/8  1.20s`
pub fn progress_bar(job: &JobReport, width: usize) -> String {
    let (done, total) = progress(job);
    let filled = if total == 0 {
        width
    } else {
        done as usize * width / total as usize
    };
    let stages: Vec<String> = job
        .stages
        .iter()
        .map(|s| format!("stage {} {}/{}", s.stage, s.tasks_done, s.tasks_total))
        .collect();
    format!(
        "[{}{}] {done}/{total} tasks  {}  {}",
        "#".repeat(filled),
        "-".repeat(width - filled),
        stages.join("  "),
        secs(job.elapsed_ms)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::WorkerState;

    #[test]
    fn worker_line_format() {
        let w = WorkerInfo {
            id: 3,
            addr: "127.0.0.1:9".into(),
            state: WorkerState::Dead,
            slots: 2,
            memory_bytes: 512 << 20,
            since_heartbeat_ms: 12_345,
            running: 1,
            metrics: Default::default(),
        };
        assert_eq!(
            worker_line(&w),
            "id=3 addr=127.0.0.1:9 state=DEAD slots=2 running=1 memory=512M since_heartbeat=12.3s \
             cpu=0.0% rss=0 done=0 failed=0 spilled=0 served=0 latency_ms=0/0/0 cache_hits=0 cache_misses=0 cache_memory=0 cache_disk=0"
        );
    }
}
