//! The master's web status page and REST API, on the master's own port.
//!
//! | path | what |
//! |---|---|
//! | `/` | workers (state, slots, CPU, memory, last heartbeat; each linked to its page) and jobs, with a progress bar per stage; refreshes itself |
//! | `/jobs/ID` | one job: submit and finish times, params, outputs, its stage table (each stage linked to its page), error, DAG, timeline and source |
//! | `/jobs/ID/stages/N` | one stage: what it reads and writes, its tasks, and each attempt with its worker, times, outcome and error |
//! | `/jobs/ID/timeline.svg` | the timeline alone (`client timeline ID` draws the same) |
//! | `/jobs/ID/dag.svg` | the DAG alone: a box per stage, an arrow per shuffle |
//! | `/workers/ID` | one worker: CPU, memory and running attempts over its last heartbeats, what it holds, its attempts |
//! | `/api/v1/workers`, `/api/v1/workers/ID`, `/api/v1/jobs`, `/api/v1/jobs/ID` | the same data as JSON, named after Spark's REST API |
//! | `/metrics` | the numbers for Prometheus, text format 0.0.4 (`metrics.rs`) |
//! | `/health` | `200 ok` |
//!
//! An id that is not a number is a 400, one that names nothing a 404.
//! The pages are written by `view/` from copies; this file routes.
//!
//! OS idea: one port, three protocols. The master peeks at a connection's
//! first bytes: `A7 53` starts a binary frame, an HTTP method (`GET `)
//! starts a request from a browser or `curl`, anything else is a text
//! command from netcat. Every request copies what it shows out of the
//! master's state under the lock, lets go, and only then renders and
//! writes: a slow browser never holds up scheduling.
//!
//! The header names the address to give clients, and a listener bound to
//! `0.0.0.0` cannot say it: that means "every address of this host". The
//! browser's `Host` header says which name it used, and failing that the
//! accepted socket's own local address (`getsockname(2)`) is the one
//! address of the host this client actually reached.

use std::io::{BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::event;
use crate::master::inspect::Inspect;
use crate::net::{http, BadRequest, Response};
use crate::view::page::{self, Nav};
use crate::view::{api, dag, html_escape, job_page, timeline, worker};

/// How long a connection may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Answers one HTTP request on `stream`, then closes it.
pub fn serve(master: &dyn Inspect, stream: &TcpStream, peer: &str) {
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let mut reader = BufReader::new(stream);
    let (response, head_only) = match http::read_request(&mut reader) {
        Ok(req) => {
            let head_only = req.method == "HEAD";
            let addr = shown_address(
                req.header("host"),
                stream.local_addr().ok(),
                master.about().addr,
            );
            let response = respond(master, &req.method, &req.path, &addr);
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

/// The response for `method path`; `addr` is the address the pages name.
fn respond(master: &dyn Inspect, method: &str, path: &str, addr: &str) -> Response {
    if method != "GET" && method != "HEAD" {
        let mut r = Response::error(405, &format!("{method} is not allowed here; use GET"));
        r.headers.push(("Allow", "GET, HEAD".into()));
        return r;
    }
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    // Programs get errors in plain text; people get a page to go on from.
    let for_programs = parts.first() == Some(&"api") || path.ends_with(".svg");
    let fail = |status: u16, why: String| {
        if for_programs {
            Response::error(status, &why)
        } else {
            error_page(addr, status, &why)
        }
    };
    // A job or worker, looked up only once its id is a number; else the
    // error to answer with.
    let job = |id: &str| match id.parse::<u64>() {
        Ok(n) => master
            .job(n)
            .ok_or_else(|| fail(404, format!("no job {n}"))),
        Err(_) => Err(fail(400, format!("job ids are numbers, not {id:?}"))),
    };
    let worker_of = |id: &str| match id.parse::<u32>() {
        Ok(n) => master
            .worker(n)
            .ok_or_else(|| fail(404, format!("no worker {n}"))),
        Err(_) => Err(fail(400, format!("worker ids are numbers, not {id:?}"))),
    };
    let answer = |found: Result<Response, Response>| found.unwrap_or_else(|error| error);
    match parts.as_slice() {
        [] | [""] => {
            let (workers, jobs) = master.detail();
            let nav = Nav {
                addr,
                crumbs: Vec::new(),
            };
            let read_only = master.about().read_only;
            Response::html(page::index(&nav, read_only, &workers, &jobs))
        }
        ["jobs", id] => answer(job(id).map(|j| Response::html(job_page::job(addr, &j)))),
        ["jobs", id, "timeline.svg"] => {
            answer(job(id).map(|j| Response::svg(timeline::render(&j))))
        }
        ["jobs", id, "dag.svg"] => answer(job(id).map(|j| Response::svg(dag::render(&j)))),
        ["jobs", id, "stages", n] => answer(job(id).and_then(|j| {
            let stage = n
                .parse::<u32>()
                .map_err(|_| fail(400, format!("stage ids are numbers, not {n:?}")))?;
            job_page::stage(addr, &j, stage)
                .map(Response::html)
                .ok_or_else(|| fail(404, format!("job {} has no stage {stage}", j.id)))
        })),
        ["workers", id] => answer(worker_of(id).map(|w| Response::html(worker::page_of(addr, &w)))),
        ["api", "v1", "workers"] => Response::json(api::workers(&master.overview().workers)),
        ["api", "v1", "workers", id] => {
            answer(worker_of(id).map(|w| Response::json(api::worker(&w))))
        }
        ["api", "v1", "jobs"] => Response::json(api::jobs(&master.detail().1)),
        ["api", "v1", "jobs", id] => answer(job(id).map(|j| Response::json(api::job(&j)))),
        ["metrics"] => crate::master::metrics::respond(master),
        ["health"] => crate::master::metrics::health(),
        _ => fail(404, format!("nothing at {path}")),
    }
}

/// An error as a page, with the header and a way back.
fn error_page(addr: &str, status: u16, why: &str) -> Response {
    let reason = Response::reason(status);
    let body = format!(
        "<h1>{status} {reason}</h1>\n<p id=\"error\">{}</p>\n\
         <p><a href=\"/\">All workers and jobs</a></p>\n",
        html_escape(why)
    );
    let nav = Nav {
        addr,
        crumbs: vec![(reason.to_string(), String::new())],
    };
    let mut response = Response::html(page::page(&nav, reason, false, &body));
    response.status = status;
    response
}

/// The address the pages tell clients to use: the `Host` the browser sent,
/// if it is a plain host name or address; else the local address of the
/// connection (where this client reached us); else the bound one. Never an
/// unspecified address (`0.0.0.0`, `::`), which no client can dial.
fn shown_address(host: Option<&str>, local: Option<SocketAddr>, bound: SocketAddr) -> String {
    if let Some(host) = host.filter(|h| plain_host(h)) {
        return host.to_string();
    }
    match [local, Some(bound)]
        .into_iter()
        .flatten()
        .find(|a| !a.ip().is_unspecified())
    {
        Some(addr) => addr.to_string(),
        // Bound to every address and no connection to say which: this host.
        None => SocketAddr::new(IpAddr::from([127, 0, 0, 1]), bound.port()).to_string(),
    }
}

/// A `Host` header value fit to show: a name or address, with an optional
/// port, in the characters those are written with, and not unspecified.
fn plain_host(host: &str) -> bool {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b);
    let unspecified = host
        .parse::<SocketAddr>()
        .is_ok_and(|a| a.ip().is_unspecified())
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified());
    !host.is_empty() && host.len() <= 255 && host.bytes().all(allowed) && !unspecified
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::master::inspect::{About, Overview};
    use crate::protocol::{
        AttemptOutcome, AttemptReport, JobReport, JobState, JobSummary, StageReport, WorkerInfo,
        WorkerState,
    };
    use crate::view::worker::{WorkerDetail, WorkerSample};

    /// A master that is only its copies: the views need nothing else.
    struct Fake {
        workers: Vec<WorkerInfo>,
        jobs: Vec<(JobSummary, JobReport)>,
    }

    impl Inspect for Fake {
        fn about(&self) -> About {
            About {
                addr: "0.0.0.0:7000".parse().unwrap(),
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
        fn worker(&self, id: u32) -> Option<WorkerDetail> {
            let info = self.workers.iter().find(|w| w.id == id)?.clone();
            Some(WorkerDetail {
                info,
                samples: vec![WorkerSample::default(); 5],
                ..WorkerDetail::default()
            })
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
        let stage = |stage, ops: &str| StageReport {
            stage,
            ops: ops.into(),
            tasks_total: 1,
            tasks_done: 1,
            attempts: 1,
            ..Default::default()
        };
        let report = JobReport {
            id: 7,
            file: summary.file.clone(),
            state: JobState::Succeeded,
            stages: vec![
                StageReport {
                    writes: vec![0],
                    ..stage(0, "read_text > filter > shuffle 0")
                },
                StageReport {
                    reads: vec![0],
                    parents: vec![0],
                    ..stage(1, "reduce_by_key > save")
                },
            ],
            attempts: vec![AttemptReport {
                attempt: 1,
                stage: 1,
                worker: 3,
                outcome: AttemptOutcome::Failed,
                error: "boom <here>".into(),
                ..Default::default()
            }],
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

    fn get(m: &Fake, path: &str) -> Response {
        respond(m, "GET", path, "127.0.0.1:7000")
    }

    #[test]
    fn pages_are_rendered_from_the_copies_alone() {
        let m = fake();
        let index = get(&m, "/");
        assert_eq!(index.status, 200);
        let html = body(&index);
        assert!(html.contains("Mini-Spark master 127.0.0.1:7000"), "{html}");
        assert!(!html.contains("0.0.0.0"), "{html}");
        assert!(html.contains("127.0.0.1:4100"), "{html}");
        assert!(html.contains("<a href=\"/workers/3\">3</a>"), "{html}");
        assert!(html.contains("jobs/&lt;grep&gt;.job"), "{html}");
        assert!(html.contains("id=\"read-only\""), "{html}");
        let workers = body(&get(&m, "/api/v1/workers"));
        assert!(workers.contains("\"id\":3"), "{workers}");
        let job = get(&m, "/api/v1/jobs/7");
        assert_eq!(job.status, 200);
        assert!(body(&job).contains("SUCCEEDED"), "{}", body(&job));
        assert!(
            body(&job).contains("\"shufflesRead\":[0]"),
            "{}",
            body(&job)
        );
        assert_eq!(respond(&m, "POST", "/", "h:1").status, 405);
    }

    #[test]
    fn every_path_of_a_job_and_a_worker() {
        let m = fake();
        let job = body(&get(&m, "/jobs/7"));
        assert!(job.contains("class=\"dag-stage\"") && job.contains("href=\"/jobs/7/stages/1\""));
        let stage = get(&m, "/jobs/7/stages/1");
        assert_eq!(stage.status, 200);
        assert!(body(&stage).contains("<td class=\"error\">boom &lt;here&gt;</td>"));
        let dag = get(&m, "/jobs/7/dag.svg");
        assert_eq!((dag.status, dag.content_type), (200, "image/svg+xml"));
        crate::view::well_formed(&body(&dag)).unwrap();
        assert_eq!(body(&dag).matches("class=\"dag-arrow\"").count(), 1);
        assert_eq!(get(&m, "/jobs/7/timeline.svg").status, 200);
        let worker = body(&get(&m, "/workers/3"));
        assert!(worker.contains("id=\"sparklines\""), "{worker}");
        let json = body(&get(&m, "/api/v1/workers/3"));
        assert_eq!(json.matches("\"atMs\"").count(), 5, "{json}");
    }

    #[test]
    fn unknown_and_malformed_ids_are_404_and_400() {
        let m = fake();
        for (path, status, says) in [
            ("/jobs/8", 404, "no job 8"),
            ("/jobs/x", 400, "job ids are numbers"),
            ("/jobs/-1", 400, "job ids are numbers"),
            ("/jobs/99999999999999999999999", 400, "job ids are numbers"),
            ("/jobs/7/stages/2", 404, "job 7 has no stage 2"),
            ("/jobs/7/stages/two", 400, "stage ids are numbers"),
            ("/jobs/8/stages/0", 404, "no job 8"),
            ("/jobs/%37", 400, "job ids are numbers"),
            ("/workers/4", 404, "no worker 4"),
            ("/workers/4294967296", 400, "worker ids are numbers"),
            ("/api/v1/workers/x", 400, "worker ids are numbers"),
            ("/api/v1/jobs/8", 404, "no job 8"),
            ("/jobs/8/dag.svg", 404, "no job 8"),
            ("/jobs/7/nothing", 404, "nothing at"),
            ("/jobs//7", 404, "nothing at"),
        ] {
            let r = get(&m, path);
            assert_eq!(r.status, status, "{path}");
            assert!(body(&r).contains(says), "{path}: {}", body(&r));
        }
        // People get a page; programs get text.
        assert!(get(&m, "/jobs/8").content_type.starts_with("text/html"));
        assert!(get(&m, "/api/v1/jobs/8")
            .content_type
            .starts_with("text/plain"));
    }

    #[test]
    fn the_address_shown_is_one_a_client_can_use() {
        let local: Option<SocketAddr> = Some("10.1.2.3:7000".parse().unwrap());
        let any: SocketAddr = "0.0.0.0:7000".parse().unwrap();
        let show = |host, local| shown_address(host, local, any);
        assert_eq!(
            show(Some("spark.example:7000"), local),
            "spark.example:7000"
        );
        assert_eq!(show(Some("[::1]:7000"), local), "[::1]:7000");
        assert_eq!(show(None, local), "10.1.2.3:7000");
        for bad in [
            "",
            "0.0.0.0:7000",
            "[::]:7000",
            "::",
            "a b",
            "x<y>",
            "h\u{e9}",
        ] {
            assert_eq!(show(Some(bad), local), "10.1.2.3:7000", "{bad:?}");
        }
        let long = "x".repeat(300);
        assert_eq!(show(Some(&long), local), "10.1.2.3:7000");
        let unspecified: Option<SocketAddr> = Some("[::]:7000".parse().unwrap());
        assert_eq!(show(None, unspecified), "127.0.0.1:7000");
        let bound: SocketAddr = "192.168.0.9:7000".parse().unwrap();
        assert_eq!(shown_address(None, None, bound), "192.168.0.9:7000");
    }
}
