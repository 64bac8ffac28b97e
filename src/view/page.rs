//! The master's HTML pages: the frame every page shares (style, header
//! with the master's address, where the page is), the small pieces the
//! pages have in common (a time, a duration, an outcome, a list of task
//! numbers), and the main page: workers and jobs.
//!
//! Idea: a page is a pure function of copies. Each one is written from
//! the report types (`JobReport`, `WorkerInfo`, `WorkerDetail`) the master
//! copied out under its lock, into one `String`, with every piece of text
//! that came from a job or a peer escaped on its way in (`html_escape`);
//! the page holds no state, so rendering it cannot disturb the master.

use std::fmt::Write as _;

use crate::protocol::{JobReport, JobSummary, StageReport, WorkerInfo, WorkerState};
use crate::size::format_size;
use crate::view::clock::format_unix_ms;
use crate::view::markup::html_escape;

/// How often the pages of things still changing reload themselves.
pub const REFRESH_SECONDS: u32 = 2;

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}\
th,td{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}\
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.bar{display:inline-block;width:140px;height:10px;background:#eee;margin-right:.4em}\
.bar span{display:block;height:10px;background:#4a8}\
.RUNNING{color:#06c}.SUCCEEDED,.DONE{color:#080}.CANCELLED,.PENDING,.ABORTED{color:#888}\
.FAILED,.DEAD,.LOST,.FETCH_FAILED,.TIMED_OUT{color:#c00}\
.ALIVE{color:#080}code{background:#f4f4f4;padding:0 .2em}div[title]{white-space:nowrap}\
#nav{color:#666}td.error{color:#c00;white-space:pre-wrap;max-width:50em}\
pre{background:#f7f7f7;border:1px solid #ddd;padding:.6em;overflow:auto;max-height:30em}\
.spark{display:inline-block;margin-right:1em}";

/// Where a page is: the master's address, then the crumbs leading to it
/// (text and link; the last one is the page itself, unlinked).
pub struct Nav<'a> {
    /// The address clients should use (see `master/web.rs`).
    pub addr: &'a str,
    pub crumbs: Vec<(String, String)>,
}

/// A whole page: `body` under the header, reloading itself every
/// `REFRESH_SECONDS` when `refresh`.
pub fn page(nav: &Nav<'_>, title: &str, refresh: bool, body: &str) -> String {
    let refresh = if refresh {
        format!("<meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">")
    } else {
        String::new()
    };
    let mut header = format!(
        "<p id=\"nav\"><a href=\"/\">Mini-Spark master <span id=\"addr\">{}</span></a>",
        html_escape(nav.addr)
    );
    for (k, (text, href)) in nav.crumbs.iter().enumerate() {
        if k + 1 == nav.crumbs.len() {
            let _ = write!(header, " / {}", html_escape(text));
        } else {
            let _ = write!(
                header,
                " / <a href=\"{}\">{}</a>",
                html_escape(href),
                html_escape(text)
            );
        }
    }
    header.push_str("</p>\n");
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">{refresh}\
         <title>{}</title><style>{STYLE}</style></head><body>\n{header}{body}</body></html>\n",
        html_escape(title)
    )
}

/// A wall-clock time: `submitted_unix_ms + offset_ms` in UTC, or, for a
/// job that does not know when it was submitted, the offset alone.
pub fn at(submitted_unix_ms: u64, offset_ms: u64) -> String {
    if submitted_unix_ms == 0 {
        format!("+{}", seconds(offset_ms))
    } else {
        format_unix_ms(submitted_unix_ms.saturating_add(offset_ms))
    }
}

/// `1.23 s`.
pub fn seconds(ms: u64) -> String {
    format!("{:.2} s", ms as f64 / 1000.0)
}

/// `1 task`, `3 tasks`.
pub fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Task numbers as ranges: `0-3, 5, 7-8`. Takes them in any order.
pub fn ranges(tasks: &[u32]) -> String {
    let mut sorted = tasks.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut k = 0;
    while k < sorted.len() {
        let first = sorted[k];
        let mut last = first;
        while k + 1 < sorted.len() && sorted[k + 1] == last.saturating_add(1) {
            k += 1;
            last = sorted[k];
        }
        parts.push(if first == last {
            first.to_string()
        } else {
            format!("{first}-{last}")
        });
        k += 1;
    }
    parts.join(", ")
}

/// A stage's progress bar and `done/total`.
pub fn progress(s: &StageReport) -> String {
    let pct = (u64::from(s.tasks_done) * 100)
        .checked_div(u64::from(s.tasks_total))
        .unwrap_or(100)
        .min(100);
    format!(
        "<div title=\"stage {}: {}\"><span class=\"bar\"><span style=\"width:{pct}%\"></span></span>\
         {} {}/{}</div>",
        s.stage,
        html_escape(&s.ops),
        s.stage,
        s.tasks_done,
        s.tasks_total
    )
}

/// The main page: every worker (linked to its page) and every job held,
/// with a progress bar per stage.
pub fn index(
    nav: &Nav<'_>,
    read_only: bool,
    workers: &[WorkerInfo],
    jobs: &[(JobSummary, JobReport)],
) -> String {
    let addr = html_escape(nav.addr);
    let alive = workers
        .iter()
        .filter(|w| w.state == WorkerState::Alive)
        .count();
    let mut b = format!(
        "<h1>Mini-Spark master {addr}</h1>\n\
         <p>Clients: <code>./client --master {addr} submit jobs/wordcount.job</code></p>\n\
         <h2>Workers ({alive} alive)</h2>\n"
    );
    b.push_str(
        "<table id=\"workers\"><tr><th>id</th><th>address</th><th>state</th><th>slots</th>\
         <th>running</th><th>CPU</th><th>memory (RSS)</th><th>done</th><th>failed</th>\
         <th>last heartbeat</th></tr>\n",
    );
    for w in workers {
        let m = &w.metrics;
        let _ = writeln!(
            b,
            "<tr class=\"worker\"><td class=\"n\"><a href=\"/workers/{id}\">{id}</a></td><td>{}</td>\
             <td class=\"{}\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{:.1}%</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{:.1} s ago</td></tr>",
            html_escape(&w.addr),
            w.state,
            w.state,
            w.slots,
            w.running,
            f64::from(m.cpu_permille) / 10.0,
            format_size(m.rss_bytes),
            m.tasks_done,
            m.tasks_failed,
            w.since_heartbeat_ms as f64 / 1000.0,
            id = w.id,
        );
    }
    b.push_str("</table>\n<h2>Jobs</h2>\n");
    if read_only {
        b.push_str(
            "<p id=\"read-only\">Read-only view: this master authenticates its binary \
             connections (<code>--secret-file</code>); jobs are submitted and cancelled \
             with the client and the secret.</p>\n",
        );
    }
    if jobs.is_empty() {
        let _ = writeln!(
            b,
            "<p>No jobs yet: <code>./client --master {addr} submit jobs/wordcount.job</code></p>"
        );
    }
    b.push_str(
        "<table id=\"jobs\"><tr><th>id</th><th>job</th><th>state</th><th>stages</th>\
         <th>tasks</th><th>elapsed</th></tr>\n",
    );
    for (s, report) in jobs {
        let stages: String = report.stages.iter().map(progress).collect();
        let _ = writeln!(
            b,
            "<tr class=\"job\"><td class=\"n\"><a href=\"/jobs/{id}\">{id}</a></td><td>{}</td>\
             <td class=\"{}\">{}</td><td>{stages}</td><td class=\"n\">{}/{}</td>\
             <td class=\"n\">{}</td></tr>",
            html_escape(&s.file),
            s.state,
            s.state,
            s.tasks_done,
            s.tasks_total,
            seconds(s.elapsed_ms),
            id = s.id,
        );
    }
    b.push_str(
        "</table>\n<p>JSON: <a href=\"/api/v1/workers\">/api/v1/workers</a>, \
         <a href=\"/api/v1/jobs\">/api/v1/jobs</a></p>\n",
    );
    page(nav, "Mini-Spark", true, &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_numbers_become_ranges() {
        assert_eq!(ranges(&[]), "");
        assert_eq!(ranges(&[3]), "3");
        assert_eq!(ranges(&[5, 0, 1, 2, 3, 7, 8, 8]), "0-3, 5, 7-8");
        assert_eq!(
            ranges(&[u32::MAX - 1, u32::MAX]),
            format!("{}-{}", u32::MAX - 1, u32::MAX)
        );
    }

    #[test]
    fn times_are_wall_clock_or_offsets() {
        assert_eq!(at(1_790_000_000_000, 420), "2026-09-21T14:13:20.420Z");
        assert_eq!(at(0, 1500), "+1.50 s");
        assert!(at(u64::MAX, u64::MAX).ends_with('Z'));
    }

    #[test]
    fn the_header_names_the_address_and_escapes_the_crumbs() {
        let nav = Nav {
            addr: "10.0.0.5:7000",
            crumbs: vec![
                ("job <1>".into(), "/jobs/1".into()),
                ("stage 0".into(), String::new()),
            ],
        };
        let html = page(&nav, "t", false, "");
        assert!(
            html.contains("<span id=\"addr\">10.0.0.5:7000</span>"),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"/jobs/1\">job &lt;1&gt;</a> / stage 0</p>"),
            "{html}"
        );
        assert!(!html.contains("refresh"));
    }

    #[test]
    fn progress_never_passes_100() {
        let s = StageReport {
            tasks_done: u32::MAX,
            tasks_total: 1,
            ..Default::default()
        };
        assert!(progress(&s).contains("width:100%"));
    }
}
