//! The master's web status page and REST API, on the master's own port.
//!
//! | path | what |
//! |---|---|
//! | `/` | workers (state, slots, CPU, memory, last heartbeat) and jobs, with a progress bar per stage; refreshes itself |
//! | `/jobs/ID` | one job: its stage table, error, and timeline |
//! | `/jobs/ID/timeline.svg` | the timeline alone (`client timeline ID` draws the same) |
//! | `/api/v1/workers`, `/api/v1/jobs`, `/api/v1/jobs/ID` | the same data as JSON, named after Spark's REST API |
//!
//! OS idea: one port, three protocols. The master peeks at a connection's
//! first bytes: `A7 53` starts a binary frame, an HTTP method (`GET `)
//! starts a request from a browser or `curl`, anything else is a text
//! command from netcat. Every request copies what it shows out of the
//! master's state under the lock, lets go, and only then renders and
//! writes: a slow browser never holds up scheduling.

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::event;
use crate::master::inspect::{About, Inspect};
use crate::net::{http, BadRequest, Response};
use crate::protocol::{JobReport, JobState, JobSummary, StageReport, WorkerInfo, WorkerState};
use crate::size::format_size;
use crate::view::{html_escape, timeline, Json};

/// How long a connection may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the pages reload themselves.
const REFRESH_SECONDS: u32 = 2;

/// Answers one HTTP request on `stream`, then closes it.
pub fn serve(master: &dyn Inspect, stream: &TcpStream, peer: &str) {
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let mut reader = BufReader::new(stream);
    let (response, head_only) = match http::read_request(&mut reader) {
        Ok(req) => {
            let head_only = req.method == "HEAD";
            let response = respond(master, &req.method, &req.path);
            event!(
                Debug,
                "web",
                "request",
                peer = peer,
                method = req.method,
                path = req.path,
                status = response.status
            );
            (response, head_only)
        }
        Err(BadRequest::Closed) => return,
        Err(BadRequest::TooLarge) => (
            Response::error(431, "the request head is over 8 KiB"),
            false,
        ),
        Err(BadRequest::Malformed(why)) => {
            event!(Warn, "web", "bad_request", peer = peer, reason = why);
            (Response::error(400, &why), false)
        }
    };
    let mut out = stream;
    let _ = response.write_to(&mut out, head_only);
    let _ = out.flush();
    crate::net::linger_close(stream);
}

/// The response for `method path`.
fn respond(master: &dyn Inspect, method: &str, path: &str) -> Response {
    if method != "GET" && method != "HEAD" {
        let mut r = Response::error(405, &format!("{method} is not allowed here; use GET"));
        r.headers.push(("Allow", "GET, HEAD".into()));
        return r;
    }
    let job_id = |rest: &str| rest.parse::<u64>().ok();
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    match parts.as_slice() {
        [] | [""] => {
            let (workers, jobs) = master.detail();
            Response::html(index_page(&workers, &jobs, &master.about()))
        }
        ["jobs", id] => match job_id(id).and_then(|id| master.job(id)) {
            Some(job) => Response::html(job_page(&job)),
            None => Response::error(404, &format!("no job {id}")),
        },
        ["jobs", id, "timeline.svg"] => match job_id(id).and_then(|id| master.job(id)) {
            Some(job) => Response::svg(timeline::render(&job)),
            None => Response::error(404, &format!("no job {id}")),
        },
        ["api", "v1", "workers"] => Response::json(workers_json(&master.overview().workers)),
        ["api", "v1", "jobs"] => Response::json(jobs_json(&master.detail().1)),
        ["api", "v1", "jobs", id] => match job_id(id).and_then(|id| master.job(id)) {
            Some(job) => Response::json(job_json(&job)),
            None => Response::error(404, &format!("no job {id}")),
        },
        ["metrics"] => crate::master::metrics::respond(master),
        ["health"] => crate::master::metrics::health(),
        _ => Response::error(404, &format!("nothing at {path}")),
    }
}

// --- HTML -------------------------------------------------------------

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}\
th,td{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:left}\
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.bar{display:inline-block;width:140px;height:10px;background:#eee;margin-right:.4em}\
.bar span{display:block;height:10px;background:#4a8}\
.RUNNING{color:#06c}.SUCCEEDED{color:#080}.FAILED,.DEAD{color:#c00}.CANCELLED{color:#888}\
.ALIVE{color:#080}code{background:#f4f4f4;padding:0 .2em}div[title]{white-space:nowrap}";

fn page(title: &str, refresh: bool, body: &str) -> String {
    let refresh = if refresh {
        format!("<meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">")
    } else {
        String::new()
    };
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">{refresh}\
         <title>{}</title><style>{STYLE}</style></head><body>\n{body}</body></html>\n",
        html_escape(title)
    )
}

fn index_page(workers: &[WorkerInfo], jobs: &[(JobSummary, JobReport)], about: &About) -> String {
    let mut b = format!(
        "<h1>Mini-Spark master {}</h1>\n<h2>Workers ({} alive)</h2>\n",
        html_escape(&about.addr.to_string()),
        workers
            .iter()
            .filter(|w| w.state == WorkerState::Alive)
            .count()
    );
    b.push_str(
        "<table id=\"workers\"><tr><th>id</th><th>address</th><th>state</th><th>slots</th>\
         <th>running</th><th>CPU</th><th>memory (RSS)</th><th>done</th><th>failed</th>\
         <th>last heartbeat</th></tr>\n",
    );
    for w in workers {
        let m = &w.metrics;
        b.push_str(&format!(
            "<tr class=\"worker\"><td class=\"n\">{}</td><td>{}</td><td class=\"{}\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}%</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{:.1} s ago</td></tr>\n",
            w.id,
            html_escape(&w.addr),
            w.state,
            w.state,
            w.slots,
            w.running,
            f64::from(m.cpu_permille) / 10.0,
            format_size(m.rss_bytes),
            m.tasks_done,
            m.tasks_failed,
            w.since_heartbeat_ms as f64 / 1000.0
        ));
    }
    b.push_str("</table>\n<h2>Jobs</h2>\n");
    if about.read_only {
        b.push_str(
            "<p id=\"read-only\">Read-only view: this master authenticates its binary \
             connections (<code>--secret-file</code>); jobs are submitted and cancelled \
             with the client and the secret.</p>\n",
        );
    }
    if jobs.is_empty() {
        b.push_str("<p>No jobs yet: <code>./client submit jobs/wordcount.job</code></p>\n");
    }
    b.push_str(
        "<table id=\"jobs\"><tr><th>id</th><th>job</th><th>state</th><th>stages</th>\
         <th>tasks</th><th>elapsed</th></tr>\n",
    );
    for (s, report) in jobs {
        let stages: String = report.stages.iter().map(progress).collect();
        b.push_str(&format!(
            "<tr class=\"job\"><td class=\"n\"><a href=\"/jobs/{id}\">{id}</a></td><td>{}</td>\
             <td class=\"{}\">{}</td><td>{stages}</td><td class=\"n\">{}/{}</td>\
             <td class=\"n\">{:.2} s</td></tr>\n",
            html_escape(&s.file),
            s.state,
            s.state,
            s.tasks_done,
            s.tasks_total,
            s.elapsed_ms as f64 / 1000.0,
            id = s.id,
        ));
    }
    b.push_str("</table>\n<p>JSON: <a href=\"/api/v1/workers\">/api/v1/workers</a>, <a href=\"/api/v1/jobs\">/api/v1/jobs</a></p>\n");
    page("Mini-Spark", true, &b)
}

/// A stage's progress bar and `done/total`.
fn progress(s: &StageReport) -> String {
    let pct = (s.tasks_done * 100)
        .checked_div(s.tasks_total)
        .unwrap_or(100);
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

fn job_page(job: &JobReport) -> String {
    let mut b = format!(
        "<p><a href=\"/\">&larr; all jobs</a></p>\n<h1>Job {} <span class=\"{}\">{}</span></h1>\n\
         <p><code>{}</code>, {:.2} s</p>\n",
        job.id,
        job.state,
        job.state,
        html_escape(&job.file),
        job.elapsed_ms as f64 / 1000.0
    );
    if !job.error.is_empty() {
        b.push_str(&format!(
            "<p class=\"FAILED\" id=\"error\">{}</p>\n",
            html_escape(&job.error)
        ));
    }
    b.push_str(
        "<table id=\"stages\"><tr><th>stage</th><th>operators</th><th>tasks</th><th>attempts</th>\
         <th>failed</th><th>records in</th><th>records out</th><th>shuffle written</th>\
         <th>shuffle read</th><th>spilled</th><th>cache hits</th><th>cache misses</th><th>duration</th></tr>\n",
    );
    for s in &job.stages {
        b.push_str(&format!(
            "<tr class=\"stage\"><td class=\"n\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{:.2} s</td></tr>\n",
            s.stage,
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
            s.duration_ms as f64 / 1000.0
        ));
    }
    b.push_str("</table>\n<h2>Timeline</h2>\n");
    b.push_str(&timeline::render(job));
    b.push_str(&format!(
        "\n<p><a href=\"/jobs/{0}/timeline.svg\">timeline.svg</a> &middot; \
         <a href=\"/api/v1/jobs/{0}\">JSON</a></p>\n",
        job.id
    ));
    let running = job.state == JobState::Running;
    page(&format!("Mini-Spark job {}", job.id), running, &b)
}

// --- JSON -------------------------------------------------------------

fn workers_json(workers: &[WorkerInfo]) -> String {
    let mut j = Json::new();
    j.begin_array();
    for w in workers {
        let m = &w.metrics;
        j.begin_object();
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
        j.end_object();
    }
    j.end_array();
    j.finish()
}

fn jobs_json(jobs: &[(JobSummary, JobReport)]) -> String {
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

fn job_json(job: &JobReport) -> String {
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
        j.end_object();
    }
    j.end_array();
    j.end_object();
    j.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::master::inspect::Overview;

    /// A master that is only its copies: the views need nothing else.
    struct Fake {
        workers: Vec<WorkerInfo>,
        jobs: Vec<(JobSummary, JobReport)>,
    }

    impl Inspect for Fake {
        fn about(&self) -> About {
            About {
                addr: "127.0.0.1:7000".parse().unwrap(),
                up: Duration::from_secs(5),
                heartbeat_timeout: Duration::from_secs(10),
                read_only: true,
            }
        }
        fn overview(&self) -> Overview {
            Overview {
                workers: self.workers.clone(),
                jobs: self.jobs.iter().map(|(s, _)| s.clone()).collect(),
            }
        }
        fn detail(&self) -> (Vec<WorkerInfo>, Vec<(JobSummary, JobReport)>) {
            (self.workers.clone(), self.jobs.clone())
        }
        fn job(&self, id: u64) -> Option<JobReport> {
            self.jobs
                .iter()
                .find(|(s, _)| s.id == id)
                .map(|(_, r)| r.clone())
        }
    }

    fn fake() -> Fake {
        let worker = WorkerInfo {
            id: 3,
            addr: "127.0.0.1:4100".into(),
            state: WorkerState::Alive,
            slots: 2,
            ..Default::default()
        };
        let summary = JobSummary {
            id: 7,
            file: "jobs/<grep>.job".into(),
            state: JobState::Succeeded,
            tasks_done: 2,
            tasks_total: 2,
            elapsed_ms: 120,
        };
        let report = JobReport {
            id: 7,
            file: summary.file.clone(),
            state: JobState::Succeeded,
            ..Default::default()
        };
        Fake {
            workers: vec![worker],
            jobs: vec![(summary, report)],
        }
    }

    fn body(r: &Response) -> String {
        String::from_utf8(r.body.clone()).unwrap()
    }

    #[test]
    fn pages_are_rendered_from_the_copies_alone() {
        let m = fake();
        let index = respond(&m, "GET", "/");
        assert_eq!(index.status, 200);
        let html = body(&index);
        assert!(html.contains("127.0.0.1:7000"), "{html}");
        assert!(html.contains("127.0.0.1:4100"), "{html}");
        assert!(html.contains("jobs/&lt;grep&gt;.job"), "{html}");
        assert!(html.contains("id=\"read-only\""), "{html}");
        let workers = body(&respond(&m, "GET", "/api/v1/workers"));
        assert!(workers.contains("\"id\":3"), "{workers}");
        let job = respond(&m, "GET", "/api/v1/jobs/7");
        assert_eq!(job.status, 200);
        assert!(body(&job).contains("SUCCEEDED"), "{}", body(&job));
        assert_eq!(respond(&m, "GET", "/jobs/8").status, 404);
        assert_eq!(respond(&m, "POST", "/").status, 405);
    }
}
