//! A job's page (`/jobs/ID`: when it ran, its params, source and outputs,
//! its stages, DAG and timeline) and a stage's page (`/jobs/ID/stages/N`:
//! what it reads and writes, and every attempt of every task, with the
//! error of each that did not succeed), both from the job's `JobReport`.
//!
//! Idea: one report, several views. The master sends the same report to
//! `client status`, the JSON API and these pages; each view picks and
//! arranges what it needs (the stage page is the report's attempts filtered
//! by stage and grouped by task), so they cannot disagree about the job.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::protocol::{AttemptOutcome, AttemptReport, JobReport, JobState, StageReport};
use crate::size::format_size;
use crate::view::clock::format_unix_ms;
use crate::view::dag::{self, stage_state};
use crate::view::markup::html_escape;
use crate::view::page::{at, page, plural, progress, seconds, Nav};
use crate::view::timeline;

/// The job's page: it reloads itself while the job runs.
pub fn job(addr: &str, job: &JobReport) -> String {
    let mut b = format!(
        "<h1>Job {} <span class=\"{}\">{}</span></h1>\n<p><code>{}</code>, {}</p>\n",
        job.id,
        job.state,
        job.state,
        html_escape(&job.file),
        seconds(job.elapsed_ms)
    );
    if !job.error.is_empty() {
        let _ = writeln!(
            b,
            "<p class=\"FAILED\" id=\"error\">{}</p>",
            html_escape(&job.error)
        );
    }
    b.push_str("<table id=\"times\">");
    let submitted = match job.submitted_unix_ms {
        0 => "not known".to_string(),
        ms => format_unix_ms(ms),
    };
    let finished = match (job.state, job.finished_unix_ms) {
        (JobState::Running, _) => "still running".to_string(),
        (_, 0) => "not known".to_string(),
        (_, ms) => format_unix_ms(ms),
    };
    let _ = writeln!(
        b,
        "<tr><th>submitted</th><td id=\"submitted\">{submitted}</td></tr>\
         <tr><th>finished</th><td id=\"finished\">{finished}</td></tr>\
         <tr><th>elapsed</th><td>{}</td></tr></table>",
        seconds(job.elapsed_ms)
    );

    b.push_str("<h2>Params</h2>\n");
    if job.params.is_empty() {
        b.push_str("<p>None.</p>\n");
    } else {
        b.push_str("<table id=\"params\"><tr><th>param</th><th>value</th></tr>\n");
        for p in &job.params {
            let _ = writeln!(
                b,
                "<tr class=\"param\"><td><code>{}</code></td><td><code>{}</code></td></tr>",
                html_escape(&p.key),
                html_escape(&p.value)
            );
        }
        b.push_str("</table>\n");
    }
    b.push_str("<h2>Outputs</h2>\n<ul id=\"outputs\">\n");
    for o in &job.outputs {
        let _ = writeln!(b, "<li><code>{}</code></li>", html_escape(o));
    }
    b.push_str("</ul>\n");

    b.push_str(
        "<h2>Stages</h2>\n<table id=\"stages\"><tr><th>stage</th><th>operators</th><th>state</th>\
         <th>tasks</th><th>attempts</th><th>failed</th><th>records in</th><th>records out</th>\
         <th>shuffle written</th><th>shuffle read</th><th>spilled</th><th>cache hits</th>\
         <th>cache misses</th><th>duration</th></tr>\n",
    );
    for s in &job.stages {
        let state = stage_state(job.state, s).as_str();
        let _ = writeln!(
            b,
            "<tr class=\"stage\"><td class=\"n\"><a href=\"/jobs/{}/stages/{stage}\">{stage}</a></td>\
             <td>{}</td><td class=\"{state}\">{state}</td><td>{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            job.id,
            html_escape(&s.ops),
            progress(s),
            s.attempts,
            s.attempts_failed,
            s.records_in,
            s.records_out,
            format_size(s.shuffle_write_bytes),
            format_size(s.shuffle_read_bytes),
            format_size(s.spill_bytes),
            s.cache_hits,
            s.cache_misses,
            seconds(s.duration_ms),
            stage = s.stage,
        );
    }
    b.push_str("</table>\n<h2>DAG</h2>\n<div id=\"dag\">\n");
    b.push_str(&dag::render(job));
    b.push_str("</div>\n<h2>Timeline</h2>\n<div id=\"timeline\">\n");
    b.push_str(&timeline::render(job));
    b.push_str("</div>\n<h2>Source</h2>\n");
    let _ = writeln!(b, "<pre id=\"source\">{}</pre>", html_escape(&job.source));
    let _ = writeln!(
        b,
        "<p><a href=\"/jobs/{0}/dag.svg\">dag.svg</a> &#183; \
         <a href=\"/jobs/{0}/timeline.svg\">timeline.svg</a> &#183; \
         <a href=\"/api/v1/jobs/{0}\">JSON</a></p>",
        job.id
    );
    let nav = Nav {
        addr,
        crumbs: vec![(format!("job {}", job.id), String::new())],
    };
    let running = job.state == JobState::Running;
    page(&nav, &format!("Mini-Spark job {}", job.id), running, &b)
}

/// The page of stage `stage` of `job`: `None` if the job has no such stage.
pub fn stage(addr: &str, job: &JobReport, stage: u32) -> Option<String> {
    let s = job.stages.iter().find(|s| s.stage == stage)?;
    let state = stage_state(job.state, s).as_str();
    let mut b = format!(
        "<h1>Job {} stage {} <span class=\"{state}\">{state}</span></h1>\n<p><code>{}</code></p>\n",
        job.id,
        s.stage,
        html_escape(&s.ops)
    );
    b.push_str(&connections(job, s));
    let when = |ms: u64| match ms {
        0 => "-".to_string(),
        ms => at(job.submitted_unix_ms, ms),
    };
    let rows = [
        ("tasks", progress(s)),
        ("attempts", s.attempts.to_string()),
        ("failed", s.attempts_failed.to_string()),
        ("retried", s.attempts_retried.to_string()),
        (
            "records in / out",
            format!("{} / {}", s.records_in, s.records_out),
        ),
        (
            "bytes in / out",
            format!("{} / {}", format_size(s.bytes_in), format_size(s.bytes_out)),
        ),
        (
            "shuffle written / read",
            format!(
                "{} / {}",
                format_size(s.shuffle_write_bytes),
                format_size(s.shuffle_read_bytes)
            ),
        ),
        (
            "spilled",
            format!(
                "{} ({} records)",
                format_size(s.spill_bytes),
                s.spill_records
            ),
        ),
        (
            "cache hits / misses",
            format!("{} / {}", s.cache_hits, s.cache_misses),
        ),
        ("started", when(s.start_ms)),
        ("ended", when(s.end_ms)),
        ("duration", seconds(s.duration_ms)),
    ];
    b.push_str("<table id=\"summary\">\n");
    for (name, value) in rows {
        let _ = writeln!(b, "<tr><th>{name}</th><td>{value}</td></tr>");
    }
    b.push_str("</table>\n");

    // The stage's attempts, by task, each task's in launch order.
    let mut by_task: BTreeMap<u32, Vec<&AttemptReport>> = BTreeMap::new();
    for a in job.attempts.iter().filter(|a| a.stage == s.stage) {
        by_task.entry(a.task).or_default().push(a);
    }
    let launched: usize = by_task.values().map(Vec::len).sum();
    let _ = writeln!(
        b,
        "<h2>Tasks</h2>\n<p>{}, {} launched.</p>",
        plural(u64::from(s.tasks_total), "task"),
        plural(launched as u64, "attempt")
    );
    let tried: Vec<u32> = by_task.keys().copied().collect();
    let untried = gaps(&tried, s.tasks_total);
    if !untried.is_empty() {
        let _ = writeln!(
            b,
            "<p id=\"untried\">No attempt yet: {}.</p>",
            untried.join(", ")
        );
    }
    b.push_str(
        "<table id=\"attempts\"><tr><th>task</th><th>attempt</th><th>worker</th><th>started</th>\
         <th>ended</th><th>duration</th><th>outcome</th><th>error</th></tr>\n",
    );
    let now = job.elapsed_ms;
    for (task, attempts) in &by_task {
        for a in attempts {
            let running = a.outcome == AttemptOutcome::Running;
            let end = if running { now } else { a.end_ms };
            let mut kind = String::new();
            if a.speculative != 0 {
                kind.push_str(" (speculative)");
            }
            if a.retry != 0 {
                kind.push_str(" (retry)");
            }
            let _ = writeln!(
                b,
                "<tr class=\"attempt\"><td class=\"n\">{task}</td><td class=\"n\">{}{kind}</td>\
                 <td class=\"n\"><a href=\"/workers/{w}\">{w}</a></td><td>{}</td><td>{}</td>\
                 <td class=\"n\">{}</td><td class=\"{outcome}\">{outcome}</td>\
                 <td class=\"error\">{}</td></tr>",
                a.attempt,
                at(job.submitted_unix_ms, a.start_ms),
                if running {
                    "-".to_string()
                } else {
                    at(job.submitted_unix_ms, a.end_ms)
                },
                seconds(end.saturating_sub(a.start_ms)),
                html_escape(&a.error),
                w = a.worker,
                outcome = a.outcome,
            );
        }
    }
    b.push_str("</table>\n");
    let nav = Nav {
        addr,
        crumbs: vec![
            (format!("job {}", job.id), format!("/jobs/{}", job.id)),
            (format!("stage {}", s.stage), String::new()),
        ],
    };
    let running = job.state == JobState::Running;
    let title = format!("Mini-Spark job {} stage {}", job.id, s.stage);
    Some(page(&nav, &title, running, &b))
}

/// What a stage reads, writes and waits for, each shuffle with a link to
/// the stages at its other end.
fn connections(job: &JobReport, s: &StageReport) -> String {
    let link = |other: &StageReport| {
        format!(
            "<a href=\"/jobs/{}/stages/{1}\">stage {1}</a>",
            job.id, other.stage
        )
    };
    let links = |found: Vec<&StageReport>| -> String {
        if found.is_empty() {
            "no stage".to_string()
        } else {
            found.into_iter().map(link).collect::<Vec<_>>().join(", ")
        }
    };
    let mut b = String::from("<ul id=\"connections\">\n");
    for &shuffle in &s.reads {
        let writers = job
            .stages
            .iter()
            .filter(|o| o.writes.contains(&shuffle))
            .collect();
        let _ = writeln!(
            b,
            "<li>reads shuffle {shuffle}, written by {}</li>",
            links(writers)
        );
    }
    for &shuffle in &s.writes {
        let readers = job
            .stages
            .iter()
            .filter(|o| o.reads.contains(&shuffle))
            .collect();
        let _ = writeln!(
            b,
            "<li>writes shuffle {shuffle}, read by {}</li>",
            links(readers)
        );
    }
    if !s.parents.is_empty() {
        let parents = job
            .stages
            .iter()
            .filter(|o| s.parents.contains(&o.stage))
            .collect();
        let _ = writeln!(b, "<li>waits for {}</li>", links(parents));
    }
    if s.reads.is_empty() && s.parents.is_empty() {
        b.push_str("<li>reads its input from files</li>\n");
    }
    b.push_str("</ul>\n");
    b
}

/// The task numbers below `total` missing from `tried` (sorted, no
/// repeats), as ranges: `["0-3", "7"]`. Walks the gaps, not every
/// number, so a huge `total` costs nothing.
fn gaps(tried: &[u32], total: u32) -> Vec<String> {
    // `from..to`, as a range of task numbers, if it is not empty.
    let gap = |from: u32, to: u32, out: &mut Vec<String>| match to.checked_sub(from) {
        Some(1) => out.push(from.to_string()),
        Some(n) if n > 1 => out.push(format!("{from}-{}", to - 1)),
        _ => {}
    };
    let mut out = Vec::new();
    let mut next = 0u32;
    for &t in tried.iter().filter(|&&t| t < total) {
        gap(next, t, &mut out);
        next = t + 1;
    }
    gap(next, total, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::KeyValue;

    fn report() -> JobReport {
        let attempt = |attempt, task, outcome, error: &str| AttemptReport {
            attempt,
            stage: 1,
            task,
            worker: 2,
            start_ms: 10,
            end_ms: 30,
            outcome,
            error: error.into(),
            ..Default::default()
        };
        JobReport {
            id: 4,
            file: "jobs/<x>.job".into(),
            state: JobState::Failed,
            error: "task 1 failed 3 times".into(),
            elapsed_ms: 900,
            stages: vec![
                StageReport {
                    stage: 0,
                    ops: "read_text > shuffle 0".into(),
                    tasks_total: 2,
                    tasks_done: 2,
                    attempts: 2,
                    writes: vec![0],
                    ..Default::default()
                },
                StageReport {
                    stage: 1,
                    ops: "reduce_by_key > save".into(),
                    tasks_total: 5,
                    tasks_done: 1,
                    attempts: 3,
                    attempts_failed: 2,
                    reads: vec![0],
                    parents: vec![0],
                    ..Default::default()
                },
            ],
            outputs: vec!["/out/<dir>".into()],
            attempts: vec![
                attempt(1, 0, AttemptOutcome::Succeeded, ""),
                attempt(2, 1, AttemptOutcome::Failed, "reading <x>: no such file"),
                attempt(3, 1, AttemptOutcome::Failed, "injected & failed"),
            ],
            submitted_unix_ms: 1_790_000_000_000,
            finished_unix_ms: 1_790_000_000_900,
            params: vec![KeyValue {
                key: "input".into(),
                value: "a \"b\"".into(),
            }],
            source: "param input = \"x\"\nread_text(input) < & >\n".into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_job_page_shows_when_what_and_where() {
        let html = job("127.0.0.1:7000", &report());
        assert!(
            html.contains("<td id=\"submitted\">2026-09-21T14:13:20.000Z</td>"),
            "{html}"
        );
        assert!(
            html.contains("<td id=\"finished\">2026-09-21T14:13:20.900Z</td>"),
            "{html}"
        );
        assert!(html.contains("<code>input</code></td><td><code>a &quot;b&quot;</code>"));
        assert!(html.contains("<pre id=\"source\">param input = &quot;x&quot;\nread_text(input) &lt; &amp; &gt;\n</pre>"), "{html}");
        assert!(html.contains("<li><code>/out/&lt;dir&gt;</code></li>"));
        assert!(html.contains("href=\"/jobs/4/stages/1\""));
        assert!(html.contains("class=\"dag-stage\"") && html.contains("class=\"attempt\""));
        assert!(
            !html.contains("http-equiv"),
            "a finished job's page stays still"
        );
    }

    #[test]
    fn the_stage_page_lists_every_attempt_with_its_error() {
        let html = stage("h:1", &report(), 1).unwrap();
        assert_eq!(html.matches("<tr class=\"attempt\">").count(), 3, "{html}");
        assert!(html.contains("<td class=\"error\">reading &lt;x&gt;: no such file</td>"));
        assert!(html.contains("<td class=\"error\">injected &amp; failed</td>"));
        assert!(
            html.contains("reads shuffle 0, written by <a href=\"/jobs/4/stages/0\">stage 0</a>")
        );
        assert!(html.contains("No attempt yet: 2-4."), "{html}");
        assert!(html.contains("5 tasks, 3 attempts launched."), "{html}");
        assert!(html.contains("<a href=\"/workers/2\">2</a>"));
        let first = stage("h:1", &report(), 0).unwrap();
        assert!(
            first.contains("writes shuffle 0, read by <a href=\"/jobs/4/stages/1\">stage 1</a>")
        );
        assert!(stage("h:1", &report(), 2).is_none());
    }

    #[test]
    fn gaps_are_walked_not_counted() {
        assert_eq!(gaps(&[], 0), Vec::<String>::new());
        assert_eq!(gaps(&[], 1), vec!["0"]);
        assert_eq!(gaps(&[0, 1, 4], 6), vec!["2-3", "5"]);
        assert_eq!(gaps(&[7], 3), vec!["0-2"]);
        assert_eq!(gaps(&[0], u32::MAX), vec![format!("1-{}", u32::MAX - 1)]);
    }
}
