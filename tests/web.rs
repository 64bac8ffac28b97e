//! Observability through real processes: the JSON API checked against a
//! running job, the HTML page and its errors, the SVG timeline (one bar
//! per attempt), worker metrics before, during and after a job, a job's
//! status and timeline from its event log once the master has forgotten
//! it, and the page rendered by a real browser (headless Chromium).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::json::Value;
use common::*;
use minispark::view::well_formed;

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
    let (id, _, _) = wordcount(&m.addr, "page", 300);
    wait_end(&m.addr, &id, LIMIT);
    let (status, page) = http_get(&m.addr, "/");
    assert_eq!(status, 200);
    assert!(page.contains("http-equiv=\"refresh\""), "{page}");
    assert!(page.contains("class=\"worker\"") && page.contains(&format!("href=\"/jobs/{id}\"")));
    let (status, job) = http_get(&m.addr, &format!("/jobs/{id}"));
    assert_eq!(status, 200);
    assert!(
        job.contains("id=\"stages\"") && job.contains("<svg"),
        "{job}"
    );
    assert_eq!(http_get(&m.addr, "/nowhere").0, 404);
    assert_eq!(http_get(&m.addr, "/api/v1/jobs/999").0, 404);
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
    let (m, _w) = cluster(
        2,
        &["--max-attempts", "5"],
        &["--fail-probability", "0.5", "--fault-seed", "3"],
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
    let timeline_after = stdout(&client(&["--master", &m.addr, "timeline", &first]));
    assert_eq!(
        timeline_after.matches("class=\"attempt\"").count(),
        timeline_before.matches("class=\"attempt\"").count()
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
    let (m, _w) = cluster(2, &[], &[]);
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
}
