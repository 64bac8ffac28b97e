//! Jobs and workers as text: the status table, the one-line summaries, the
//! progress line and its stage segments (as Spark's console progress bar
//! draws them). Shared by `client` and the master's text mode so both print
//! the same.

use std::fmt::Write as _;

use crate::protocol::{JobReport, JobSummary, StageReport, WorkerInfo};
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

/// Where a stage is, as the progress display sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No task of it has started yet.
    Waiting,
    /// Some task runs or is done, not all are done.
    Running,
    /// Every task is done.
    Done,
}

impl Phase {
    /// The phase `s` is in now.
    pub fn of(s: &StageReport) -> Phase {
        if s.tasks_total > 0 && s.tasks_done >= s.tasks_total {
            Phase::Done
        } else if s.tasks_running > 0 || s.tasks_done > 0 {
            Phase::Running
        } else {
            Phase::Waiting
        }
    }

    /// What to remember after `self` once the stage looks `now`. A stage
    /// that has started does not go back to waiting when its only running
    /// attempt failed and nothing of it is done: it is still under way.
    pub fn then(self, now: Phase) -> Phase {
        match (self, now) {
            (Phase::Running | Phase::Done, Phase::Waiting) => Phase::Running,
            _ => now,
        }
    }
}

/// The stages the progress line shows: those running now, else the first
/// still to run (a job waiting for a slot shows `(0 + 0) / N`), else none.
fn stages_now(job: &JobReport) -> Vec<&StageReport> {
    let running: Vec<&StageReport> = job
        .stages
        .iter()
        .filter(|s| Phase::of(s) == Phase::Running)
        .collect();
    if !running.is_empty() {
        return running;
    }
    job.stages
        .iter()
        .find(|s| Phase::of(s) == Phase::Waiting)
        .into_iter()
        .collect()
}

/// One stage as Spark's console progress bar draws it,
/// `[Stage 1:=====>      (3 + 2) / 8]`: tasks done, `+` running, `/`
/// total, after a bar `bar` characters wide (none when 0).
pub fn stage_segment(s: &StageReport, bar: usize) -> String {
    let filled = if s.tasks_total == 0 {
        0
    } else {
        (bar * s.tasks_done.min(s.tasks_total) as usize) / s.tasks_total as usize
    };
    let drawn: String = (0..bar)
        .map(|i| match i.cmp(&filled) {
            std::cmp::Ordering::Less => '=',
            std::cmp::Ordering::Equal => '>',
            std::cmp::Ordering::Greater => ' ',
        })
        .collect();
    format!(
        "[Stage {}:{drawn}({} + {}) / {}]",
        s.stage, s.tasks_done, s.tasks_running, s.tasks_total
    )
}

/// A stage's bar is dropped rather than drawn narrower than this.
const MIN_BAR: usize = 8;
/// Nor is it drawn wider than this, however wide the terminal.
const MAX_BAR: usize = 40;

/// The progress line for a terminal `width` columns wide, never longer than
/// `width - 1` characters: a line as long as the terminal is wide wraps on
/// some terminals, and `\r` then returns to its last row only, so redrawn
/// lines would scroll instead of replacing each other.
///
/// ```text
/// [Stage 2:===>     (3 + 2) / 8] [Stage 3:=>       (1 + 3) / 8] 20/56 tasks 5.14s
/// ```
///
/// What matters most goes in first, and detail is dropped before anything
/// wraps: the first running stage (its bar shrunk, then cut, when even that
/// is too wide); the other running stages, as many as fit with a bar of
/// `MIN_BAR`; how many did not fit (`+2 more`); the tasks of the whole job
/// and its time. The room left widens the bars, up to `MAX_BAR` each.
pub fn progress_line(job: &JobReport, width: usize) -> String {
    let limit = width.saturating_sub(1);
    let (done, total) = progress(job);
    let overall = format!(" {done}/{total} tasks {}", secs(job.elapsed_ms));
    let shown = stages_now(job);
    let Some(first) = shown.first() else {
        let line = format!("job {} {}{overall}", job.id, job.state);
        return cut(line, limit);
    };
    // Stages with a bar of at least MIN_BAR, one space apart.
    let mut used = 0;
    let mut count = 0;
    for (i, s) in shown.iter().enumerate() {
        let need = stage_segment(s, MIN_BAR).len() + usize::from(i > 0);
        if used + need > limit {
            break;
        }
        used += need;
        count += 1;
    }
    if count == 0 {
        let bar = limit.saturating_sub(stage_segment(first, 0).len());
        return cut(stage_segment(first, bar), limit);
    }
    let mut tail = String::new();
    let hidden = shown.len() - count;
    if hidden > 0 {
        let more = format!(" +{hidden} more");
        if used + more.len() <= limit {
            used += more.len();
            tail.push_str(&more);
        }
    }
    if used + overall.len() <= limit {
        used += overall.len();
        tail.push_str(&overall);
    }
    let bar = (MIN_BAR + (limit - used) / count).min(MAX_BAR);
    let segments: Vec<String> = shown[..count]
        .iter()
        .map(|s| stage_segment(s, bar))
        .collect();
    segments.join(" ") + &tail
}

/// `line`, cut to at most `limit` characters.
fn cut(line: String, limit: usize) -> String {
    match line.char_indices().nth(limit) {
        Some((at, _)) => line[..at].to_string(),
        None => line,
    }
}

/// The lines that say a stage went from phase `before` to `now` (see
/// `Phase::then`), for a log rather than a terminal: `job 3 stage 1
/// started: reduce_by_key > save, 4 tasks`, `job 3 stage 1 done: 4/4 tasks
/// in 1.20s`, or `job 3 stage 0 running again: 7/8 tasks` (a lost map
/// output is being computed again). A stage that started and finished
/// between two looks gets both lines, so every stage that ran says so twice.
pub fn stage_lines(job_id: u64, s: &StageReport, before: Phase, now: Phase) -> Vec<String> {
    let head = format!("job {job_id} stage {}", s.stage);
    let plural = if s.tasks_total == 1 { "" } else { "s" };
    let started = || format!("{head} started: {}, {} task{plural}", s.ops, s.tasks_total);
    let done = || {
        format!(
            "{head} done: {}/{} tasks in {}",
            s.tasks_done,
            s.tasks_total,
            secs(s.duration_ms)
        )
    };
    match (before, now) {
        (Phase::Waiting, Phase::Running) => vec![started()],
        (Phase::Waiting, Phase::Done) => vec![started(), done()],
        (Phase::Running, Phase::Done) => vec![done()],
        (Phase::Done, Phase::Running) => vec![format!(
            "{head} running again: {}/{} tasks",
            s.tasks_done, s.tasks_total
        )],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{JobState, WorkerState};

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

    /// A stage with `done` of `total` tasks done and `running` running.
    fn stage(stage: u32, done: u32, running: u32, total: u32) -> StageReport {
        StageReport {
            stage,
            ops: "read_text > flat_map > map".into(),
            tasks_total: total,
            tasks_done: done,
            tasks_running: running,
            duration_ms: 1200,
            ..Default::default()
        }
    }

    /// A 7-stage job: two done, `running` running, the rest waiting.
    fn job(running: &[StageReport]) -> JobReport {
        let mut stages = vec![stage(0, 8, 0, 8), stage(1, 8, 0, 8)];
        stages.extend(running.iter().cloned());
        let next = stages.len() as u32;
        stages.extend((next..7).map(|n| stage(n, 0, 0, 8)));
        JobReport {
            id: 3,
            state: JobState::Running,
            elapsed_ms: 5140,
            stages,
            ..Default::default()
        }
    }

    #[test]
    fn a_stage_segment_is_sparks() {
        let s = stage(1, 3, 2, 8);
        assert_eq!(stage_segment(&s, 12), "[Stage 1:====>       (3 + 2) / 8]");
        assert_eq!(stage_segment(&s, 0), "[Stage 1:(3 + 2) / 8]");
        assert_eq!(
            stage_segment(&stage(2, 0, 1, 4), 4),
            "[Stage 2:>   (0 + 1) / 4]"
        );
        assert_eq!(
            stage_segment(&stage(2, 4, 0, 4), 4),
            "[Stage 2:====(4 + 0) / 4]"
        );
        // Nothing to divide by is an empty bar, not a panic.
        assert_eq!(
            stage_segment(&stage(5, 0, 0, 0), 3),
            "[Stage 5:>  (0 + 0) / 0]"
        );
    }

    #[test]
    fn the_progress_line_fits_every_width() {
        let two = job(&[stage(2, 3, 2, 8), stage(3, 1, 3, 8)]);
        for width in [0, 1, 2, 10, 24, 40, 80, 120, 200, 500] {
            let line = progress_line(&two, width);
            assert!(
                line.chars().count() < width.max(1),
                "{width} columns: {line:?} is {} long",
                line.len()
            );
        }
        // The first running stage always, with its bar when there is room.
        let at_40 = progress_line(&two, 40);
        assert!(at_40.starts_with("[Stage 2:===>"), "{at_40:?}");
        assert!(at_40.contains("(3 + 2) / 8]"), "{at_40:?}");
        assert!(!at_40.contains("Stage 3"), "{at_40:?}");
        assert!(at_40.ends_with(" +1 more"), "{at_40:?}");
        // At 80 both stages and the whole job's count and time; at 200
        // wider bars.
        let at_80 = progress_line(&two, 80);
        assert!(at_80.contains("(3 + 2) / 8] [Stage 3:"), "{at_80:?}");
        assert!(
            at_80.ends_with("(1 + 3) / 8] 20/56 tasks 5.14s"),
            "{at_80:?}"
        );
        let at_200 = progress_line(&two, 200);
        assert!(at_200.ends_with("] 20/56 tasks 5.14s"), "{at_200:?}");
        assert!(
            at_200.contains(&format!("[Stage 2:{}>", "=".repeat(15))),
            "{at_200:?}"
        );
        // Too narrow for even a bare segment: the segment, cut.
        assert_eq!(progress_line(&two, 10), "[Stage 2:");
        // One stage running: room for the count at 80.
        let one = progress_line(&job(&[stage(2, 3, 2, 8)]), 80);
        assert!(
            one.starts_with("[Stage 2:") && one.ends_with("] 19/56 tasks 5.14s"),
            "{one:?}"
        );
        assert!(one.len() < 80, "{one:?}");
    }

    #[test]
    fn the_progress_line_shows_the_next_stage_while_none_runs() {
        let waiting = job(&[]);
        let line = progress_line(&waiting, 80);
        assert!(line.starts_with("[Stage 2:>"), "{line:?}");
        assert!(line.contains("(0 + 0) / 8]"), "{line:?}");
        let mut over = waiting;
        over.stages.clear();
        assert_eq!(progress_line(&over, 80), "job 3 RUNNING 0/0 tasks 5.14s");
        assert_eq!(progress_line(&over, 10), "job 3 RUN");
    }

    #[test]
    fn stage_lines_say_each_start_and_end_once() {
        let (w, r, d) = (Phase::Waiting, Phase::Running, Phase::Done);
        let s = stage(1, 8, 0, 8);
        let started = "job 3 stage 1 started: read_text > flat_map > map, 8 tasks";
        let done = "job 3 stage 1 done: 8/8 tasks in 1.20s";
        assert_eq!(stage_lines(3, &s, w, r), [started]);
        assert_eq!(stage_lines(3, &s, r, d), [done]);
        assert_eq!(stage_lines(3, &s, w, d), [started, done]);
        assert!(stage_lines(3, &s, r, r).is_empty());
        assert!(stage_lines(3, &s, d, d).is_empty());
        let again = stage(1, 7, 1, 8);
        assert_eq!(
            stage_lines(3, &again, d, r),
            ["job 3 stage 1 running again: 7/8 tasks"]
        );
        // A started stage whose attempt failed is not waiting again.
        assert_eq!(Phase::of(&stage(1, 0, 0, 8)), w);
        assert_eq!(r.then(w), r);
        assert_eq!(d.then(w), r);
        assert_eq!(w.then(w), w);
        assert_eq!(w.then(d), d);
        assert_eq!(Phase::of(&stage(1, 0, 1, 8)), r);
        assert_eq!(Phase::of(&stage(1, 2, 0, 8)), r);
        assert_eq!(Phase::of(&s), d);
        assert_eq!(Phase::of(&stage(1, 0, 0, 0)), w);
    }
}
