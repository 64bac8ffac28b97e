//! A worker's page (`/workers/ID`): its measurements over time as
//! sparklines, what it holds for the jobs (map outputs, cached partitions,
//! output parts), and the attempts it ran; and the copy of the master's
//! state that page is drawn from (`WorkerDetail`).
//!
//! Idea: a resource's view, next to the jobs' view. The job pages ask
//! "where did this job's work run?"; this page asks the transpose, "what
//! did this machine do, and what would be lost with it?", which is what a
//! person needs to decide whether a slow or dying worker matters. What a
//! worker holds is exactly what the scheduler would run again if it died
//! (`worker_lost`): the outputs of tasks whose state is `Done` on it.

use std::fmt::Write as _;

use crate::protocol::{AttemptOutcome, AttemptReport, WorkerInfo};
use crate::size::format_size;
use crate::view::markup::html_escape;
use crate::view::page::{at, page, plural, ranges, seconds, Nav};
use crate::view::sparkline::{self, Point};

/// One worker as its page shows it, copied out of the master under its lock.
#[derive(Debug, Clone, Default)]
pub struct WorkerDetail {
    pub info: WorkerInfo,
    /// Its last heartbeats, oldest first.
    pub samples: Vec<WorkerSample>,
    /// Its attempts for the jobs the master holds, newest first: the most
    /// recent ones, of `attempts_total` in all.
    pub attempts: Vec<WorkerAttempt>,
    pub attempts_total: usize,
    /// What it holds for those jobs, newest job first.
    pub held: Vec<Held>,
}

/// What one heartbeat said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerSample {
    /// When the master received it, in ms since the Unix epoch.
    pub at_unix_ms: u64,
    pub cpu_permille: u32,
    pub rss_bytes: u64,
    pub running: u32,
}

/// An attempt, with the job it belongs to.
#[derive(Debug, Clone, Default)]
pub struct WorkerAttempt {
    pub job: u64,
    pub file: String,
    pub submitted_unix_ms: u64,
    pub attempt: AttemptReport,
}

/// Outputs of one stage's tasks that a worker holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub job: u64,
    /// The stage that wrote them (unknown only for a damaged report).
    pub stage: Option<u32>,
    pub what: Holding,
    /// The tasks whose outputs these are: map task, partition or part numbers.
    pub tasks: Vec<u32>,
}

/// What kind of output a worker holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holding {
    /// Map outputs of a shuffle, which reducers fetch from its data port.
    MapOutputs { shuffle: u32 },
    /// Partitions of a cached dataset (kept as a shuffle of its own).
    CachedPartitions { shuffle: u32 },
    /// Committed part files of a `save`, which `client results` fetches.
    OutputParts { save: u32 },
}

impl Holding {
    /// `map outputs of shuffle 2`.
    pub fn describe(self) -> String {
        match self {
            Holding::MapOutputs { shuffle } => format!("map outputs of shuffle {shuffle}"),
            Holding::CachedPartitions { shuffle } => {
                format!("cached partitions (shuffle {shuffle})")
            }
            Holding::OutputParts { save } => format!("output parts of save {save}"),
        }
    }

    /// The kind alone, for the JSON API.
    pub fn kind(self) -> &'static str {
        match self {
            Holding::MapOutputs { .. } => "mapOutputs",
            Holding::CachedPartitions { .. } => "cachedPartitions",
            Holding::OutputParts { .. } => "outputParts",
        }
    }
}

/// The worker's page; it reloads itself while the worker is alive.
pub fn page_of(addr: &str, w: &WorkerDetail) -> String {
    let info = &w.info;
    let m = &info.metrics;
    let mut b = format!(
        "<h1>Worker {} <span class=\"{}\">{}</span></h1>\n",
        info.id, info.state, info.state
    );
    let _ = writeln!(
        b,
        "<table id=\"worker\"><tr><th>data address</th><th>slots</th><th>memory</th>\
         <th>running</th><th>done</th><th>failed</th><th>spilled</th><th>shuffle served</th>\
         <th>cache (memory / disk)</th><th>latency p50 / p99</th><th>last heartbeat</th></tr>\
         <tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
         <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
         <td class=\"n\">{} / {}</td><td class=\"n\">{} / {} ms</td><td class=\"n\">{:.1} s ago</td></tr></table>",
        html_escape(&info.addr),
        info.slots,
        format_size(info.memory_bytes),
        info.running,
        m.tasks_done,
        m.tasks_failed,
        format_size(m.spill_bytes),
        format_size(m.shuffle_served_bytes),
        format_size(m.cache_memory_bytes),
        format_size(m.cache_disk_bytes),
        m.latency_p50_ms,
        m.latency_p99_ms,
        info.since_heartbeat_ms as f64 / 1000.0
    );

    let _ = writeln!(
        b,
        "<h2>Over time</h2>\n<p>The last {}.</p>\n<div id=\"sparklines\">",
        plural(w.samples.len() as u64, "heartbeat")
    );
    let series = |value: fn(&WorkerSample) -> f64| -> Vec<Point> {
        w.samples
            .iter()
            .map(|s| Point {
                at_ms: s.at_unix_ms,
                value: value(s),
            })
            .collect()
    };
    let charts = [
        sparkline::render("CPU", &series(|s| f64::from(s.cpu_permille) / 10.0), |v| {
            format!("{v:.1}%")
        }),
        sparkline::render("memory (RSS)", &series(|s| s.rss_bytes as f64), |v| {
            format_size(v as u64)
        }),
        sparkline::render("running attempts", &series(|s| f64::from(s.running)), |v| {
            format!("{v:.0}")
        }),
    ];
    for chart in charts {
        let _ = write!(b, "<div class=\"spark\">{chart}</div>");
    }
    b.push_str("</div>\n");

    b.push_str("<h2>Holds</h2>\n");
    if w.held.is_empty() {
        b.push_str("<p id=\"holds-none\">Nothing for the jobs the master holds.</p>\n");
    } else {
        b.push_str(
            "<table id=\"holds\"><tr><th>job</th><th>stage</th><th>what</th><th>tasks</th>\
             <th>count</th></tr>\n",
        );
        for h in &w.held {
            let stage = match h.stage {
                Some(s) => format!("<a href=\"/jobs/{}/stages/{s}\">{s}</a>", h.job),
                None => "-".to_string(),
            };
            let _ = writeln!(
                b,
                "<tr class=\"held\"><td class=\"n\"><a href=\"/jobs/{job}\">{job}</a></td>\
                 <td class=\"n\">{stage}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                h.what.describe(),
                ranges(&h.tasks),
                h.tasks.len(),
                job = h.job,
            );
        }
        b.push_str("</table>\n");
    }

    let _ = writeln!(
        b,
        "<h2>Attempts</h2>\n<p>{} for the jobs the master holds{}.</p>",
        plural(w.attempts_total as u64, "attempt"),
        if w.attempts.len() < w.attempts_total {
            format!("; the latest {} here", w.attempts.len())
        } else {
            String::new()
        }
    );
    b.push_str(
        "<table id=\"attempts\"><tr><th>job</th><th>stage</th><th>task</th><th>attempt</th>\
         <th>started</th><th>ended</th><th>duration</th><th>outcome</th><th>error</th></tr>\n",
    );
    for wa in &w.attempts {
        let a = &wa.attempt;
        let running = a.outcome == AttemptOutcome::Running;
        let _ = writeln!(
            b,
            "<tr class=\"attempt\"><td class=\"n\"><a href=\"/jobs/{job}\" title=\"{}\">{job}</a></td>\
             <td class=\"n\"><a href=\"/jobs/{job}/stages/{stage}\">{stage}</a></td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td>\
             <td class=\"{outcome}\">{outcome}</td><td class=\"error\">{}</td></tr>",
            html_escape(&wa.file),
            a.task,
            a.attempt,
            at(wa.submitted_unix_ms, a.start_ms),
            if running {
                "-".to_string()
            } else {
                at(wa.submitted_unix_ms, a.end_ms)
            },
            if running {
                "-".to_string()
            } else {
                seconds(a.end_ms.saturating_sub(a.start_ms))
            },
            html_escape(&a.error),
            job = wa.job,
            outcome = a.outcome,
            stage = a.stage,
        );
    }
    b.push_str("</table>\n");
    let _ = writeln!(b, "<p><a href=\"/api/v1/workers/{}\">JSON</a></p>", info.id);
    let nav = Nav {
        addr,
        crumbs: vec![(format!("worker {}", info.id), String::new())],
    };
    let alive = info.state == crate::protocol::WorkerState::Alive;
    page(&nav, &format!("Mini-Spark worker {}", info.id), alive, &b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::WorkerState;
    use crate::view::sparkline::points_in;

    fn detail() -> WorkerDetail {
        WorkerDetail {
            info: WorkerInfo {
                id: 2,
                addr: "10.0.0.2:4100".into(),
                state: WorkerState::Dead,
                slots: 2,
                ..Default::default()
            },
            samples: (0..7)
                .map(|i| WorkerSample {
                    at_unix_ms: 1_790_000_000_000 + 1000 * i,
                    cpu_permille: 100 * i as u32,
                    rss_bytes: (40 + i) << 20,
                    running: (i % 3) as u32,
                })
                .collect(),
            attempts: vec![WorkerAttempt {
                job: 9,
                file: "jobs/<w>.job".into(),
                submitted_unix_ms: 1_790_000_000_000,
                attempt: AttemptReport {
                    attempt: 31,
                    stage: 1,
                    task: 3,
                    worker: 2,
                    start_ms: 100,
                    end_ms: 350,
                    outcome: AttemptOutcome::Failed,
                    error: "injected failure (worker --fail-probability)".into(),
                    ..Default::default()
                },
            }],
            attempts_total: 40,
            held: vec![
                Held {
                    job: 9,
                    stage: Some(0),
                    what: Holding::MapOutputs { shuffle: 0 },
                    tasks: vec![0, 1, 2, 5],
                },
                Held {
                    job: 8,
                    stage: None,
                    what: Holding::OutputParts { save: 0 },
                    tasks: vec![1],
                },
            ],
        }
    }

    /// The inline SVGs of a page.
    fn svgs(html: &str) -> Vec<&str> {
        html.split("<svg ")
            .skip(1)
            .map(|rest| &rest[..rest.find("</svg>").unwrap()])
            .collect()
    }

    #[test]
    fn the_page_draws_every_sample_and_lists_what_it_holds() {
        let html = page_of("127.0.0.1:7000", &detail());
        let charts = svgs(&html);
        assert_eq!(charts.len(), 3, "{html}");
        for chart in charts {
            assert_eq!(points_in(chart), 7, "{chart}");
        }
        assert!(
            html.contains("<td>map outputs of shuffle 0</td><td>0-2, 5</td>"),
            "{html}"
        );
        assert!(html.contains("output parts of save 0"));
        assert!(html.contains("40 attempts for the jobs the master holds; the latest 1 here"));
        assert!(
            html.contains("<td class=\"error\">injected failure (worker --fail-probability)</td>")
        );
        assert!(html.contains("title=\"jobs/&lt;w&gt;.job\""));
        assert!(html.contains("2026-09-21T14:13:20.350Z"));
        assert!(
            !html.contains("http-equiv"),
            "a dead worker's page stays still"
        );
    }

    #[test]
    fn a_worker_without_samples_or_work_says_so() {
        let html = page_of("h:1", &WorkerDetail::default());
        assert!(html.contains("no heartbeats yet"));
        assert!(html.contains("id=\"holds-none\""));
        assert!(html.contains("0 attempts"));
    }
}
