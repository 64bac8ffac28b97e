//! Observability through real processes: the JSON API checked against a
//! running job, the HTML pages and their errors, the job page (times,
//! params, source, outputs), the stage page (every attempt with its
//! error), the DAG (a box per stage, an arrow per shuffle), the worker page
//! (a sparkline point per heartbeat kept, bounded), the address the header
//! names, the SVG timeline (one bar per attempt), worker metrics before,
//! during and after a job, a job's status, timeline and DAG from its event
//! log once the master has forgotten it, and the pages rendered by a real
//! browser (headless Chromium).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::json::Value;
use common::*;
use minispark::view::clock::format_unix_ms;
use minispark::view::sparkline::points_in;
use minispark::view::{html_escape, well_formed};

const LIMIT: Duration = Duration::from_secs(30);

/// A word count over `lines` lines; returns its job id and output dir.
fn wordcount(addr: &str, name: &str, lines: usize) -> (String, std::path::PathBuf, Vec<String>) {
    let dir = temp_dir(name);
    let input = dir.join("words.txt");
    let want = word_counts(&words_file(&input, lines, 7));
    let out = dir.join("out");
    let params = [("input", path(&input)), ("output", path(&out))];
    (start(addr, "wordcount.job", &params), out, want)
}

fn num(v: &Value, key: &str) -> u64 {
    v.get(key)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no number {key} in {v:?}"))
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string {key} in {v:?}"))
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("no array {key} in {v:?}"))
}

fn ids(v: &Value, key: &str) -> Vec<u64> {
    list(v, key).iter().filter_map(Value::as_u64).collect()
}

/// Elements of class `class` in `markup`.
fn count(markup: &str, class: &str) -> usize {
    markup.matches(&format!("class=\"{class}\"")).count()
}

/// The arrows the DAG of job `job` (its JSON) should have: one per shuffle
/// and (writer, reader) pair.
fn shuffle_edges(job: &Value) -> usize {
    let stages = list(job, "stages");
    stages
        .iter()
        .map(|reader| {
            ids(reader, "shufflesRead")
                .iter()
                .map(|shuffle| {
                    stages
                        .iter()
                        .filter(|w| ids(w, "shufflesWritten").contains(shuffle))
                        .count()
                })
                .sum::<usize>()
        })
        .sum()
}

/// A join of `users` and `orders` (as `jobs/join.job` reads them); returns
/// its job id.
fn join(addr: &str, name: &str) -> String {
    let dir = temp_dir(name);
    let users = dir.join("users.csv");
    let orders = dir.join("orders.csv");
    let user_lines: String = (0..40)
        .map(|u| format!("{u},user{u},c{}\n", u % 3))
        .collect();
    let order_lines: String = (0..200)
        .map(|o| format!("{o},{},{}\n", o % 50, o * 3))
        .collect();
    std::fs::write(&users, user_lines).unwrap();
    std::fs::write(&orders, order_lines).unwrap();
    let out = dir.join("out");
    let params = [
        ("users", path(&users)),
        ("orders", path(&orders)),
        ("output", path(&out)),
    ];
    start(addr, "join.job", &params)
}

#[test]
fn json_endpoints_follow_a_running_job() {
    let slow = [
        "--heartbeat-ms",
        "100",
        "--slow-probability",
        "1",
        "--slow-ms",
        "300",
    ];
    let (m, _w) = cluster(2, &[], &slow);
    // Once each has sent a heartbeat, its measurements are there.
    let workers = wait_for(LIMIT, "a heartbeat from each worker", || {
        let all = get_json(&m.addr, "/api/v1/workers");
        let all = all.as_array()?.to_vec();
        all.iter().all(|w| num(w, "rssBytes") > 0).then_some(all)
    });
    assert_eq!(workers.len(), 2);
    for w in &workers {
        assert_eq!(text(w, "state"), "ALIVE");
        assert!(num(w, "slots") >= 1);
    }
    let (id, out, want) = wordcount(&m.addr, "api", 2000);
    let job_path = format!("/api/v1/jobs/{id}");
    // While it runs: RUNNING, its stages, and attempts still running.
    let running = wait_for(LIMIT, "a running attempt in the JSON", || {
        let job = get_json(&m.addr, &job_path);
        let attempts = job.get("attempts")?.as_array()?.to_vec();
        let live = attempts.iter().any(|a| text(a, "outcome") == "RUNNING");
        (text(&job, "state") == "RUNNING" && live).then_some(job)
    });
    assert_eq!(num(&running, "id").to_string(), id);
    assert_eq!(running.get("stages").unwrap().as_array().unwrap().len(), 2);
    let listed = get_json(&m.addr, "/api/v1/jobs");
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|j| num(j, "id").to_string() == id && text(j, "file").ends_with("wordcount.job")));
    // After: SUCCEEDED, every task done, every attempt ended.
    let done = wait_end(&m.addr, &id, LIMIT);
    assert_eq!(done.state, "SUCCEEDED", "{}", done.error);
    let job = get_json(&m.addr, &job_path);
    assert_eq!(text(&job, "state"), "SUCCEEDED");
    for s in job.get("stages").unwrap().as_array().unwrap() {
        assert_eq!(num(s, "tasksDone"), num(s, "tasksTotal"));
        assert!(num(s, "recordsOut") > 0);
    }
    let attempts = job.get("attempts").unwrap().as_array().unwrap();
    let tasks: u64 = done.rows.iter().map(|r| u64::from(r.total)).sum();
    assert_eq!(attempts.len() as u64, tasks);
    for a in attempts {
        assert_eq!(text(a, "outcome"), "SUCCEEDED");
        assert!(num(a, "endMs") >= num(a, "startMs"));
    }
    assert_eq!(sorted(output_lines(&out)), want);
}

#[test]
fn the_page_and_its_errors() {
    let (m, _w) = cluster(1, &[], &[]);
    let (id, out, _) = wordcount(&m.addr, "page", 300);
    wait_end(&m.addr, &id, LIMIT);
    let (status, page) = http_get(&m.addr, "/");
    assert_eq!(status, 200);
    assert!(page.contains("http-equiv=\"refresh\""), "{page}");
    assert!(page.contains("class=\"worker\"") && page.contains(&format!("href=\"/jobs/{id}\"")));
    assert!(page.contains("<a href=\"/workers/1\">1</a>"), "{page}");
    let (status, job) = http_get(&m.addr, &format!("/jobs/{id}"));
    assert_eq!(status, 200);
    assert!(
        job.contains("id=\"stages\"") && job.contains("<svg"),
        "{job}"
    );
    // When, with what, from which source, into where.
    let json = get_json(&m.addr, &format!("/api/v1/jobs/{id}"));
    let submitted = format_unix_ms(num(&json, "submittedUnixMs"));
    let finished = format_unix_ms(num(&json, "finishedUnixMs"));
    assert!(
        job.contains(&format!("<td id=\"submitted\">{submitted}</td>")),
        "{job}"
    );
    assert!(
        job.contains(&format!("<td id=\"finished\">{finished}</td>")),
        "{job}"
    );
    let Some(Value::Obj(params)) = json.get("params") else {
        panic!("no params in {json:?}")
    };
    assert!(params.iter().any(|(k, _)| k == "input"), "{params:?}");
    for (key, value) in params {
        let value = html_escape(value.as_str().unwrap());
        let row = format!("<td><code>{key}</code></td><td><code>{value}</code></td>");
        assert!(job.contains(&row), "{row}: {job}");
    }
    let source = std::fs::read_to_string(job_file("wordcount.job")).unwrap();
    assert!(job.contains(&format!(
        "<pre id=\"source\">{}</pre>",
        html_escape(&source)
    )));
    assert!(
        job.contains(&format!("<li><code>{}</code></li>", path(&out))),
        "{job}"
    );
    for s in list(&json, "stages") {
        assert!(job.contains(&format!("href=\"/jobs/{id}/stages/{}\"", num(s, "stage"))));
    }
    // Unknown things are 404, ids that are not numbers 400.
    assert_eq!(http_get(&m.addr, "/nowhere").0, 404);
    assert_eq!(http_get(&m.addr, "/api/v1/jobs/999").0, 404);
    for (path, status, says) in [
        ("/jobs/999", 404, "no job 999"),
        ("/jobs/abc", 400, "job ids are numbers"),
        (&format!("/jobs/{id}/stages/99"), 404, "has no stage 99"),
        (
            &format!("/jobs/{id}/stages/x"),
            400,
            "stage ids are numbers",
        ),
        ("/jobs/999/dag.svg", 404, "no job 999"),
        ("/workers/99", 404, "no worker 99"),
        ("/workers/one", 400, "worker ids are numbers"),
        ("/api/v1/workers/99", 404, "no worker 99"),
        ("/jobs/%FF%00", 400, "job ids are numbers"),
    ] {
        let (got, body) = http_get(&m.addr, path);
        assert_eq!(got, status, "{path}: {body}");
        assert!(body.contains(says), "{path}: {body}");
    }
    let (status, head, _) = http_request(&m.addr, "POST / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 405);
    assert!(head.contains("Allow: GET, HEAD"), "{head}");
    let (status, _, _) = http_request(&m.addr, "GET nothing-here HTTP/1.1\r\n\r\n");
    assert_eq!(status, 400);
    let huge = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "x".repeat(20_000));
    assert_eq!(http_request(&m.addr, &huge).0, 431);
    // HEAD: the head alone.
    let (status, _, body) = http_request(&m.addr, "HEAD / HTTP/1.1\r\n\r\n");
    assert_eq!((status, body.as_str()), (200, ""));
    // Still serving the other protocols.
    assert_eq!(
        client(&["--master", &m.addr, "ping"]).status.code(),
        Some(0)
    );
    assert!(text_of_jobs(&m.addr).contains("SUCCEEDED"));
}

fn text_of_jobs(addr: &str) -> String {
    common::text(addr, "JOBS").join("\n")
}

#[test]
fn the_timeline_has_one_bar_per_attempt() {
    // Half the attempts fail; which ones depends on how the tasks fall on
    // the workers (each draws from its own seeded sequence), so a task is
    // given attempts enough that the job succeeds however they fall (a
    // task failing 20 times in a row: about one in a million).
    let (m, _w) = cluster(
        2,
        &["--max-attempts", "20"],
        &[
            "--slots",
            "1",
            "--fail-probability",
            "0.5",
            "--fault-seed",
            "7",
        ],
    );
    let (id, _, _) = wordcount(&m.addr, "timeline", 1000);
    let end = wait_end(&m.addr, &id, LIMIT);
    assert_eq!(end.state, "SUCCEEDED", "{}", end.error);
    let out = client(&["--master", &m.addr, "timeline", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let svg = stdout(&out);
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    well_formed(&svg).unwrap();
    let attempts: u32 = end.rows.iter().map(|r| r.attempts).sum();
    let failed: u32 = end.rows.iter().map(|r| r.failed).sum();
    assert!(failed > 0, "some attempts failed: {:?}", end.rows);
    assert_eq!(svg.matches("class=\"attempt\"").count() as u32, attempts);
    assert!(
        svg.matches("FAILED").count() as u32 >= failed,
        "failed attempts are marked"
    );
    let (status, served) = http_get(&m.addr, &format!("/jobs/{id}/timeline.svg"));
    assert_eq!((status, served), (200, svg));
    // Each failure was retried once; stages start before they end.
    let job = get_json(&m.addr, &format!("/api/v1/jobs/{id}"));
    let stages = job.get("stages").unwrap().as_array().unwrap();
    let retried: u64 = stages.iter().map(|s| num(s, "attemptsRetried")).sum();
    assert_eq!(retried, u64::from(failed));
    for s in stages {
        assert!(num(s, "endMs") >= num(s, "startMs"), "{s:?}");
    }
}

#[test]
fn worker_metrics_change_before_during_and_after_a_job() {
    let slow = [
        "--slots",
        "1",
        "--heartbeat-ms",
        "100",
        "--slow-probability",
        "1",
        "--slow-ms",
        "400",
    ];
    let (m, _w) = cluster(1, &[], &slow);
    let before = get_json(&m.addr, "/api/v1/workers");
    let before = before.at(0).unwrap();
    assert_eq!((num(before, "tasksDone"), num(before, "running")), (0, 0));
    let (id, _, _) = wordcount(&m.addr, "metrics", 2000);
    wait_for(LIMIT, "a heartbeat that says a task runs", || {
        let w = get_json(&m.addr, "/api/v1/workers");
        (num(w.at(0)?, "running") == 1).then_some(())
    });
    let end = wait_end(&m.addr, &id, LIMIT);
    assert_eq!(end.state, "SUCCEEDED");
    let tasks: u64 = end.rows.iter().map(|r| u64::from(r.total)).sum();
    let after = wait_for(LIMIT, "a heartbeat after the job", || {
        let w = get_json(&m.addr, "/api/v1/workers").at(0)?.clone();
        (num(&w, "tasksDone") == tasks && num(&w, "running") == 0).then_some(w)
    });
    let latency = after.get("latencyMs").unwrap();
    // Every attempt slept 400 ms.
    assert!(num(latency, "p50") >= 400, "{latency:?}");
    assert!(num(latency, "p99") >= num(latency, "p50"));
    assert_eq!(num(&after, "tasksFailed"), 0);
    // One worker reads its own map outputs from disk: nothing served.
    assert_eq!(num(&after, "shuffleServedBytes"), 0);
    let lines = workers(&m.addr);
    assert!(lines[0].contains(&format!("done={tasks}")), "{lines:?}");
}

#[test]
fn a_forgotten_job_is_read_back_from_its_event_log() {
    let state = temp_dir("events-state");
    let (m, _w) = cluster(
        1,
        &["--state-dir", path(&state), "--retained-jobs", "1"],
        &[],
    );
    let (first, _, _) = wordcount(&m.addr, "events1", 300);
    let before = wait_end(&m.addr, &first, LIMIT);
    let timeline_before = stdout(&client(&["--master", &m.addr, "timeline", &first]));
    let (_, dag_before) = http_get(&m.addr, &format!("/jobs/{first}/dag.svg"));
    let (second, _, _) = wordcount(&m.addr, "events2", 300);
    wait_end(&m.addr, &second, LIMIT);
    let jobs = stdout(&client(&["--master", &m.addr, "jobs"]));
    assert!(!jobs.contains(&format!("id={first} ")), "forgotten: {jobs}");
    let log =
        std::fs::read_to_string(Path::new(&state).join(format!("events/job-{first}.log"))).unwrap();
    assert!(
        log.lines().any(|l| l.contains(" attempt_started ")),
        "{log}"
    );
    assert!(
        log.lines()
            .last()
            .unwrap()
            .contains(" job_ended state=SUCCEEDED"),
        "{log}"
    );
    let after = status(&m.addr, &first);
    assert_eq!(after.state, "SUCCEEDED");
    assert_eq!(after.rows, before.rows);
    // The DAG as it was: the log keeps what each stage reads and writes.
    let (status, dag_after) = http_get(&m.addr, &format!("/jobs/{first}/dag.svg"));
    assert_eq!(status, 200);
    assert_eq!(dag_after, dag_before);
    assert_eq!(count(&dag_after, "dag-arrow"), 1);
    let timeline_after = stdout(&client(&["--master", &m.addr, "timeline", &first]));
    assert_eq!(
        timeline_after.matches("class=\"attempt\"").count(),
        timeline_before.matches("class=\"attempt\"").count()
    );
}

#[test]
fn the_stage_page_lists_every_attempt_with_its_error() {
    // One worker of two fails every attempt; retries on the other win.
    let m = master(&["--max-attempts", "30"]);
    let _good = worker(&m.addr, &[]);
    let _bad = worker(&m.addr, &["--fail-probability", "1"]);
    wait_workers(&m.addr, 2, "ALIVE", LIMIT);
    let (id, _, _) = wordcount(&m.addr, "stage-page", 1000);
    let end = wait_end(&m.addr, &id, LIMIT);
    assert_eq!(end.state, "SUCCEEDED", "{}", end.error);
    let job = get_json(&m.addr, &format!("/api/v1/jobs/{id}"));
    let attempts = list(&job, "attempts");
    let failed: Vec<&Value> = attempts
        .iter()
        .filter(|a| text(a, "outcome") == "FAILED")
        .collect();
    assert!(!failed.is_empty(), "the failing worker got some attempts");
    for a in &failed {
        assert!(text(a, "error").contains("injected failure"), "{a:?}");
    }
    for s in list(&job, "stages") {
        let stage = num(s, "stage");
        let (status, page) = http_get(&m.addr, &format!("/jobs/{id}/stages/{stage}"));
        assert_eq!(status, 200, "{page}");
        let mine: Vec<&Value> = attempts
            .iter()
            .filter(|a| num(a, "stage") == stage)
            .collect();
        assert_eq!(
            page.matches("<tr class=\"attempt\">").count(),
            mine.len(),
            "{page}"
        );
        for a in mine {
            let error = html_escape(text(a, "error"));
            let row = format!("<td class=\"{0}\">{0}</td>", text(a, "outcome"));
            assert!(page.contains(&row), "{row}: {page}");
            assert!(
                page.contains(&format!("<td class=\"error\">{error}</td>")),
                "{page}"
            );
            assert!(page.contains(&format!(
                "<a href=\"/workers/{0}\">{0}</a>",
                num(a, "worker")
            )));
        }
    }
}

#[test]
fn the_dag_has_a_box_per_stage_and_an_arrow_per_shuffle() {
    let (m, _w) = cluster(2, &[], &[]);
    let id = join(&m.addr, "dag-join");
    let end = wait_end(&m.addr, &id, LIMIT);
    assert_eq!(end.state, "SUCCEEDED", "{}", end.error);
    let job = get_json(&m.addr, &format!("/api/v1/jobs/{id}"));
    let (status, svg) = http_get(&m.addr, &format!("/jobs/{id}/dag.svg"));
    assert_eq!(status, 200);
    well_formed(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
    // Two sides, each shuffled into the join.
    assert_eq!(list(&job, "stages").len(), 3);
    assert_eq!(shuffle_edges(&job), 2);
    assert_eq!(count(&svg, "dag-stage"), 3, "{svg}");
    assert_eq!(count(&svg, "dag-arrow"), 2, "{svg}");
    let (_, page) = http_get(&m.addr, &format!("/jobs/{id}"));
    assert!(
        page.contains(&svg),
        "the job page draws the same DAG inline"
    );

    // A loop of many rounds: every stage a box, every shuffle an arrow.
    let dir = temp_dir("dag-loop");
    let edges = dir.join("edges.txt");
    let chain: String = (0..12).map(|i| format!("n{i} n{}\n", i + 1)).collect();
    std::fs::write(&edges, chain).unwrap();
    let out = dir.join("out");
    let id = start(
        &m.addr,
        "transitive_closure.job",
        &[("edges", path(&edges)), ("output", path(&out))],
    );
    let end = wait_end(&m.addr, &id, Duration::from_secs(60));
    assert_eq!(end.state, "SUCCEEDED", "{}", end.error);
    let job = get_json(&m.addr, &format!("/api/v1/jobs/{id}"));
    let stages = list(&job, "stages").len();
    assert!(stages >= 12, "{stages} stages");
    let (_, svg) = http_get(&m.addr, &format!("/jobs/{id}/dag.svg"));
    well_formed(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
    assert_eq!(count(&svg, "dag-stage"), stages);
    assert_eq!(count(&svg, "dag-arrow"), shuffle_edges(&job));
}

#[test]
fn the_worker_page_draws_its_last_heartbeats() {
    const SAMPLES_KEPT: usize = 120; // master/membership.rs
    let (m, mut w) = cluster(1, &[], &["--heartbeat-ms", "10"]);
    let (id, _, _) = wordcount(&m.addr, "worker-page", 300);
    wait_end(&m.addr, &id, LIMIT);
    let samples = |m: &Proc| list(&get_json(&m.addr, "/api/v1/workers/1"), "samples").to_vec();
    // The ring fills, then stays full while newer samples replace older.
    let full = wait_for(LIMIT, "a full ring of samples", || {
        let s = samples(&m);
        (s.len() == SAMPLES_KEPT).then_some(s)
    });
    let newest = |s: &[Value]| num(s.last().unwrap(), "atMs");
    wait_for(LIMIT, "newer samples in a ring still full", || {
        let s = samples(&m);
        assert_eq!(s.len(), SAMPLES_KEPT, "bounded");
        (newest(&s) > newest(&full)).then_some(())
    });
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    for pair in full.windows(2) {
        assert!(
            num(&pair[0], "atMs") <= num(&pair[1], "atMs"),
            "oldest first"
        );
    }
    assert!(
        newest(&full).abs_diff(now_ms) < 60_000,
        "atMs is wall-clock ms"
    );
    for s in &full {
        assert!(
            num(s, "rssBytes") > 0 && s.get("cpuPercent").is_some() && s.get("running").is_some()
        );
    }
    // Once the worker is gone no more come: the page and the JSON agree.
    w[0].kill();
    wait_workers(&m.addr, 1, "DEAD", LIMIT);
    let kept = samples(&m);
    let (status, page) = http_get(&m.addr, "/workers/1");
    assert_eq!(status, 200);
    let charts: Vec<&str> = page.split("<svg ").skip(1).collect();
    assert_eq!(charts.len(), 3, "CPU, memory, running: {page}");
    for chart in charts {
        assert_eq!(points_in(chart), kept.len(), "{chart}");
    }
    // Its attempts, and the output parts it still holds.
    let job = get_json(&m.addr, &format!("/api/v1/jobs/{id}"));
    let attempts = list(&job, "attempts").len();
    assert_eq!(
        page.matches("<tr class=\"attempt\">").count(),
        attempts,
        "{page}"
    );
    assert!(page.contains("output parts of save 0"), "{page}");
    let detail = get_json(&m.addr, "/api/v1/workers/1");
    assert_eq!(num(&detail, "attemptsTotal") as usize, attempts);
    assert_eq!(text(&detail, "state"), "DEAD");
    let holds = list(&detail, "holds");
    assert!(
        holds.iter().any(|h| text(h, "kind") == "outputParts"),
        "{holds:?}"
    );
}

#[test]
fn the_header_names_an_address_clients_can_use() {
    let state = temp_dir("any-state");
    let any = Proc::start(
        "master",
        &[
            "--port",
            "0",
            "--bind",
            "0.0.0.0",
            "--state-dir",
            path(&state),
        ],
    );
    let local = format!("127.0.0.1:{}", any.port());
    // No Host header (HTTP/1.0): the address this connection reached.
    let (status, _, page) = http_request(&local, "GET / HTTP/1.0\r\n\r\n");
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("Mini-Spark master {local}</h1>")),
        "{page}"
    );
    assert!(!page.contains("0.0.0.0"), "{page}");
    // The Host the browser used, on every page.
    let asked = "GET /workers/7 HTTP/1.1\r\nHost: spark.example:7000\r\n\r\n";
    let (status, _, page) = http_request(&local, asked);
    assert_eq!(status, 404);
    assert!(
        page.contains("<span id=\"addr\">spark.example:7000</span>"),
        "{page}"
    );
    // A Host no client could dial is not repeated.
    let asked = "GET / HTTP/1.1\r\nHost: 0.0.0.0:7000\r\n\r\n";
    let (_, _, page) = http_request(&local, asked);
    assert!(
        page.contains(&format!("Mini-Spark master {local}</h1>")),
        "{page}"
    );
}

/// Headless Chromium, if installed: `.ci/run` installs it and sets
/// `MINISPARK_BROWSER_TEST=require`, so there a missing browser fails.
fn chromium() -> Option<String> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(|b| b.to_string());
    if found.is_none() {
        assert!(
            std::env::var("MINISPARK_BROWSER_TEST").as_deref() != Ok("require"),
            "MINISPARK_BROWSER_TEST=require but no chromium is installed"
        );
        eprintln!("no chromium: skipping the browser test (.ci/run installs it)");
    }
    found
}

/// The DOM as the browser rendered it.
fn render(browser: &str, url: &str) -> String {
    let profile = temp_dir("chromium-profile");
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            url,
        ])
        .output()
        .expect("running chromium");
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_page_renders_in_a_headless_browser() {
    let Some(browser) = chromium() else {
        return;
    };
    let (m, _w) = cluster(2, &[], &["--heartbeat-ms", "100"]);
    let (id, _, _) = wordcount(&m.addr, "browser", 500);
    wait_end(&m.addr, &id, LIMIT);
    let dom = render(&browser, &format!("http://{}/", m.addr));
    assert_eq!(dom.matches("<tr class=\"worker\">").count(), 2, "{dom}");
    assert_eq!(dom.matches("class=\"ALIVE\"").count(), 2, "{dom}");
    assert!(
        dom.contains("wordcount.job") && dom.contains("SUCCEEDED"),
        "{dom}"
    );
    let job = render(&browser, &format!("http://{}/jobs/{id}", m.addr));
    assert!(
        job.contains("class=\"attempt\""),
        "the timeline is drawn: {job}"
    );
    assert!(job.contains("reduce_by_key"), "{job}");
    // The DAG inline: a box per stage, the shuffle between them.
    assert_eq!(count(&job, "dag-stage"), 2, "{job}");
    assert_eq!(count(&job, "dag-arrow"), 1, "{job}");
    assert!(
        job.contains("id=\"source\"") && job.contains("id=\"submitted\""),
        "{job}"
    );
    let report = get_json(&m.addr, &format!("/api/v1/jobs/{id}"));
    let attempts = list(&report, "attempts");
    let stage = render(&browser, &format!("http://{}/jobs/{id}/stages/1", m.addr));
    let in_stage = attempts.iter().filter(|a| num(a, "stage") == 1).count();
    assert_eq!(
        stage.matches("<tr class=\"attempt\">").count(),
        in_stage,
        "{stage}"
    );
    assert!(stage.contains("reads shuffle 0"), "{stage}");
    wait_for(LIMIT, "heartbeats to draw", || {
        let w = get_json(&m.addr, "/api/v1/workers/1");
        (list(&w, "samples").len() >= 2).then_some(())
    });
    let worker = render(&browser, &format!("http://{}/workers/1", m.addr));
    assert_eq!(worker.matches("class=\"sparkline\"").count(), 3, "{worker}");
    assert!(worker.contains("id=\"attempts\""), "{worker}");
}
