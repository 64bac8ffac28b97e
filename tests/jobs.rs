//! Jobs end to end through real processes: submit with the client, run on
//! a master and workers, compare the committed output with what the test
//! computes itself. Guards the job language, input splitting, the narrow
//! operators, `pipe`, the output commit protocol and the client's exit codes.

mod common;

use std::fs;
use std::time::Duration;

use common::*;

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn grep_matches_a_reference_and_reports_through_every_command() {
    let (m, _workers) = cluster(2, &[], &["--slots", "1"]);
    let dir = temp_dir("grep");
    let input = dir.join("words.txt");
    let lines = words_file(&input, 3000, 1);
    let out = dir.join("out");
    let run = submit(
        &m.addr,
        &job_file("grep.job"),
        &[
            ("input", path(&input)),
            ("output", path(&out)),
            ("pattern", "error"),
        ],
        &["--wait"],
    );
    assert_eq!(run.status.code(), Some(0), "stderr: {}", stderr(&run));
    let id = stdout(&run).lines().next().unwrap().to_string();
    assert!(
        id.chars().all(|c| c.is_ascii_digit()),
        "first line is the job id: {id:?}"
    );

    let expected: Vec<String> = lines
        .iter()
        .filter(|l| l.contains("error"))
        .cloned()
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(output_lines(&out), expected);
    // One split per slot: 2 workers x 1 slot.
    assert_eq!(part_count(&out), 2);

    let status = client(&["--master", &m.addr, "status", &id]);
    let text = stdout(&status);
    assert!(text.contains("SUCCEEDED"), "{text}");
    assert!(text.contains("read_text > filter > save"), "{text}");
    assert!(text.contains("2/2"), "{text}");
    assert!(
        text.contains(&format!("{}", lines.len())),
        "records_in shown: {text}"
    );

    let results = client(&["--master", &m.addr, "results", &id]);
    assert_eq!(results.status.code(), Some(0), "{}", stderr(&results));
    assert_eq!(stdout(&results).lines().collect::<Vec<_>>(), expected);
    let head = client(&["--master", &m.addr, "results", &id, "--head", "3"]);
    assert_eq!(stdout(&head).lines().collect::<Vec<_>>(), expected[..3]);

    let jobs = client(&["--master", &m.addr, "jobs"]);
    assert!(
        stdout(&jobs).contains(&format!("id={id} ")),
        "{}",
        stdout(&jobs)
    );
    assert!(
        stdout(&jobs).contains("state=SUCCEEDED tasks=2/2"),
        "{}",
        stdout(&jobs)
    );
    let text_jobs = common::text(&m.addr, "JOBS");
    assert!(text_jobs[0].contains("state=SUCCEEDED"), "{text_jobs:?}");
}

#[test]
fn every_line_is_read_exactly_once_whatever_its_ending() {
    let (m, _workers) = cluster(3, &[], &["--slots", "2"]);
    let dir = temp_dir("edges");
    let input = dir.join("in");
    fs::create_dir(&input).unwrap();
    let long = "x".repeat(5000);
    // CRLF, empty lines, a line longer than any split, no final newline.
    fs::write(
        input.join("a.txt"),
        format!("one\r\ntwo\n\n{long}\r\nthree\n\nfour"),
    )
    .unwrap();
    fs::write(input.join("b.txt"), "five\nsix\n").unwrap();
    fs::write(input.join("empty.txt"), "").unwrap();
    fs::write(input.join(".hidden"), "never\n").unwrap();
    let out = dir.join("out");
    let run = submit(
        &m.addr,
        &job_file("grep.job"),
        &[
            ("input", path(&input)),
            ("output", path(&out)),
            ("pattern", ""),
        ],
        &["--wait"],
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let expected = [
        "one",
        "two",
        "",
        long.as_str(),
        "three",
        "",
        "four",
        "five",
        "six",
    ];
    assert_eq!(output_lines(&out), expected);
}

#[test]
fn map_flat_map_csv_and_several_saves() {
    let (m, _workers) = cluster(2, &[], &["--slots", "1"]);
    let dir = temp_dir("narrow");
    fs::write(
        dir.join("people.csv"),
        "name,age,city\nann,34,oslo\nbob,29,rome\ncid,41,lima\n",
    )
    .unwrap();
    fs::write(
        dir.join("narrow.job"),
        r#"# two outputs from one input
param input = "people.csv"
people = read_csv(input, ",", true)
older  = people.filter($2 > 30).map(concat(upper($1), "@", $3))
words  = people.flat_map(split($0, ","))
older.save("older")
words.map(len($0)).save("lengths")
"#,
    )
    .unwrap();
    let run = client_in(
        Some(&dir),
        &["--master", &m.addr, "submit", "narrow.job", "--wait"],
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert_eq!(output_lines(&dir.join("older")), ["ANN@oslo", "CID@lima"]);
    let lengths: Vec<String> = [
        "ann", "34", "oslo", "bob", "29", "rome", "cid", "41", "lima",
    ]
    .iter()
    .map(|w| w.len().to_string())
    .collect();
    assert_eq!(output_lines(&dir.join("lengths")), lengths);
}

/// jobs/movielens.job against means the test computes itself: several
/// ratings per movie, a movie rated once, fractional means, the timestamp
/// MovieLens adds, blank lines, over several splits and reduce partitions.
#[test]
fn movielens_mean_rating_per_movie() {
    let (m, _workers) = cluster(2, &[], &["--slots", "2"]);
    let dir = temp_dir("movielens");
    let input = dir.join("ratings.dat");
    let mut rng = minispark::rng::Rng::new(12);
    let mut text = String::new();
    let mut ratings: std::collections::BTreeMap<u64, (u64, u64)> = Default::default();
    for i in 0..3000u64 {
        let (user, movie, rating) = (1 + rng.below(400), 1 + rng.below(90), 1 + rng.below(5));
        let entry = ratings.entry(movie).or_default();
        (entry.0, entry.1) = (entry.0 + rating, entry.1 + 1);
        text += &match i % 4 {
            0 => format!("{user}::{movie}::{rating}::97830{i:04}\n"),
            1 => format!("{user}::{movie}::{rating}\r\n"),
            _ => format!("{user}::{movie}::{rating}\n"),
        };
        match i % 250 {
            0 => text += "\n",
            1 => text += "  \r\n",
            _ => {}
        }
    }
    // A movie rated once, on a last line without a newline.
    text += "7::3952::4";
    ratings.insert(3952, (4, 1));
    fs::write(&input, text).unwrap();
    let out = dir.join("out");
    let run = submit(
        &m.addr,
        &job_file("movielens.job"),
        &[("ratings", path(&input)), ("output", path(&out))],
        &["--wait"],
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let expected: Vec<String> = ratings
        .iter()
        .map(|(movie, (sum, n))| format!("{movie}\t{:?}", *sum as f64 / *n as f64))
        .collect();
    assert!(expected.contains(&"3952\t4.0".to_string()));
    assert!(expected
        .iter()
        .any(|l| !l.ends_with(".0") && !l.ends_with(".5")));
    assert_eq!(sorted(output_lines(&out)), sorted(expected));
    assert!(part_count(&out) > 1);
}

#[test]
fn pipe_runs_a_command_per_split_on_workers_that_allow_it() {
    let (m, _workers) = cluster(2, &[], &["--slots", "1", "--allow-pipe"]);
    let dir = temp_dir("pipe");
    let input = dir.join("words.txt");
    let lines = words_file(&input, 2000, 2);
    let out = dir.join("out");
    let run = submit(
        &m.addr,
        &job_file("pipe.job"),
        &[
            ("input", path(&input)),
            ("output", path(&out)),
            ("command", "tr a-z A-Z"),
        ],
        &["--wait"],
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let expected: Vec<String> = lines.iter().map(|l| l.to_uppercase()).collect();
    assert_eq!(output_lines(&out), expected);
}

#[test]
fn pipe_failures_fail_the_job_with_a_clear_reason() {
    let dir = temp_dir("pipe-fail");
    let input = dir.join("words.txt");
    words_file(&input, 100, 3);

    // Workers without --allow-pipe refuse.
    let (m, _w) = cluster(1, &["--max-attempts", "2"], &[]);
    let run = submit(
        &m.addr,
        &job_file("pipe.job"),
        &[("input", path(&input)), ("output", path(&dir.join("o1")))],
        &["--wait"],
    );
    assert_eq!(run.status.code(), Some(1));
    assert!(stderr(&run).contains("--allow-pipe"), "{}", stderr(&run));

    // A command that exits non-zero: its stderr tail is in the job's error.
    let (m, _w) = cluster(1, &["--max-attempts", "2"], &["--allow-pipe"]);
    let run = submit(
        &m.addr,
        &job_file("pipe.job"),
        &[
            ("input", path(&input)),
            ("output", path(&dir.join("o2"))),
            ("command", "echo something broke >&2; exit 3"),
        ],
        &["--wait"],
    );
    assert_eq!(run.status.code(), Some(1));
    let err = stderr(&run);
    assert!(err.contains("FAILED"), "{err}");
    assert!(
        err.contains("status 3") && err.contains("something broke"),
        "{err}"
    );
    assert!(err.contains("failed 2 times"), "{err}");
    assert!(!dir.join("o2").join("_SUCCESS").exists());
}

#[test]
fn user_errors_exit_2_before_anything_runs() {
    let (m, _w) = cluster(1, &[], &[]);
    let dir = temp_dir("usage");
    fs::write(
        dir.join("bad.job"),
        "lines = read_text(\"x\")\nout = lines.filtr(true)\nout.save(\"o\")\n",
    )
    .unwrap();
    let run = client_in(Some(&dir), &["--master", &m.addr, "submit", "bad.job"]);
    assert_eq!(run.status.code(), Some(2));
    let err = stderr(&run);
    assert!(err.contains("bad.job:2:"), "{err}");
    assert!(err.lines().any(|l| l.trim() == "^"), "a caret line: {err}");

    // A missing input names the path.
    let run = client_in(
        Some(&dir),
        &[
            "--master",
            &m.addr,
            "submit",
            &job_file("grep.job"),
            "--param",
            "input=nope.txt",
            "--param",
            "output=o",
        ],
    );
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("nope.txt"), "{}", stderr(&run));

    // An existing output needs --overwrite.
    let input = dir.join("in.txt");
    words_file(&input, 50, 4);
    let out = dir.join("out");
    let params = [("input", path(&input)), ("output", path(&out))];
    let first = submit(&m.addr, &job_file("grep.job"), &params, &["--wait"]);
    assert_eq!(first.status.code(), Some(0));
    let again = submit(&m.addr, &job_file("grep.job"), &params, &["--wait"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("--overwrite"), "{}", stderr(&again));
    let over = submit(
        &m.addr,
        &job_file("grep.job"),
        &params,
        &["--wait", "--overwrite", "--param", "pattern=beta"],
    );
    assert_eq!(over.status.code(), Some(0));
    assert!(output_lines(&out).iter().all(|l| l.contains("beta")));

    // An unknown job id.
    let status = client(&["--master", &m.addr, "status", "999"]);
    assert_eq!(status.status.code(), Some(1));
    assert!(
        stderr(&status).contains("no job 999"),
        "{}",
        stderr(&status)
    );
}

#[test]
fn run_local_needs_no_cluster() {
    let dir = temp_dir("local");
    let input = dir.join("words.txt");
    let lines = words_file(&input, 1000, 5);
    let out = dir.join("out");
    let run = client(&[
        "run",
        &job_file("grep.job"),
        "--local",
        "2",
        "--param",
        &p("input", &input),
        "--param",
        &p("output", &out),
        "--param",
        "pattern=gamma",
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let expected: Vec<String> = lines
        .iter()
        .filter(|l| l.contains("gamma"))
        .cloned()
        .collect();
    assert_eq!(output_lines(&out), expected);
}

/// A worker frozen (SIGSTOP) in the middle of a task is declared dead; its
/// task runs elsewhere and the job commits. When the frozen worker thaws,
/// its attempt is stopped (the job has ended) or, if it reports it
/// finished, refused: its output never reaches the output directory.
#[test]
fn a_refused_attempt_leaves_no_file_in_the_output() {
    let m = master(&["--heartbeat-timeout-ms", "600"]);
    let slow = worker(
        &m.addr,
        &[
            "--slots",
            "1",
            "--allow-pipe",
            "--heartbeat-ms",
            "100",
            "--reconnect-max-ms",
            "100",
        ],
    );
    wait_workers(&m.addr, 1, "ALIVE", LIMIT);
    let dir = temp_dir("refused");
    let input = dir.join("words.txt");
    let lines = words_file(&input, 200, 6);
    let out = dir.join("out");
    let run = submit(
        &m.addr,
        &job_file("pipe.job"),
        &[
            ("input", path(&input)),
            ("output", path(&out)),
            ("command", "sleep 1.5; cat"),
        ],
        &[],
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let id = stdout(&run).trim().to_string();
    wait_for(LIMIT, "the slow worker to start a task", || {
        slow.log_text().contains("task_started").then_some(())
    });
    slow.signal("STOP");
    let _fast = worker(
        &m.addr,
        &["--slots", "2", "--allow-pipe", "--heartbeat-ms", "100"],
    );
    wait_for(LIMIT, "the job to succeed", || {
        let s = stdout(&client(&["--master", &m.addr, "status", &id]));
        s.contains("SUCCEEDED").then_some(())
    });
    let committed = output_lines(&out);
    assert_eq!(committed, lines);
    let parts_before: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();

    slow.signal("CONT");
    // Back, it registers again and is told the job has ended, which stops
    // the attempt (it fails as cancelled); had it finished first, the
    // master would have refused it (`AbortTask`). Either way it is discarded.
    wait_for(LIMIT, "the stale attempt to be refused", || {
        let log = m.log_text();
        (log.contains("stale_attempt_aborted") || log.contains("stale_failure_ignored"))
            .then_some(())
    });
    wait_for(LIMIT, "the slow worker to discard it", || {
        let log = slow.log_text();
        (log.contains("task_aborted") || log.contains("job_released")).then_some(())
    });
    let parts_after: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(parts_before.len(), parts_after.len());
    assert_eq!(output_lines(&out), committed);
}

#[test]
fn cancel_stops_running_tasks_and_removes_their_files() {
    let (m, w) = cluster(1, &[], &["--slots", "2", "--allow-pipe"]);
    let dir = temp_dir("cancel");
    let input = dir.join("words.txt");
    words_file(&input, 100, 7);
    let out = dir.join("out");
    let run = submit(
        &m.addr,
        &job_file("pipe.job"),
        &[
            ("input", path(&input)),
            ("output", path(&out)),
            ("command", "sleep 60; cat"),
        ],
        &[],
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let id = stdout(&run).trim().to_string();
    wait_for(LIMIT, "a task to start", || {
        w[0].log_text().contains("task_started").then_some(())
    });
    let started = std::time::Instant::now();
    let cancel = client(&["--master", &m.addr, "cancel", &id]);
    assert_eq!(stdout(&cancel).trim(), format!("job {id} CANCELLED"));
    // The pipe children are killed: the attempts end long before `sleep 60`,
    // and are logged as aborted, not failed.
    wait_for(LIMIT, "the attempts to end", || {
        (w[0].log_text().matches("task_aborted").count() == 2).then_some(())
    });
    assert!(
        !w[0].log_text().contains("task_failed"),
        "{}",
        w[0].log_text()
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    wait_for(LIMIT, "the temporary files to go", || {
        let temp = out.join("_temporary");
        let empty = !temp.exists() || fs::read_dir(&temp).unwrap().next().is_none();
        empty.then_some(())
    });
    assert!(!out.join("_SUCCESS").exists());
    assert_eq!(part_count(&out), 0);
    let status = stdout(&client(&["--master", &m.addr, "status", &id]));
    assert!(
        status.contains("CANCELLED") && status.contains("cancelled by a client"),
        "{status}"
    );
    // An ended job runs nothing, wherever one looks; its attempts say why
    // they ended, and a cancel is no failure of the worker's.
    let s = common::status(&m.addr, &id);
    assert!(s.rows.iter().all(|r| r.running == 0), "{}", s.text);
    let job = get_json(&m.addr, &format!("/api/v1/jobs/{id}"));
    for stage in job.get("stages").unwrap().as_array().unwrap() {
        assert_eq!(stage.get("tasksRunning").unwrap().as_u64(), Some(0));
    }
    for a in job.get("attempts").unwrap().as_array().unwrap() {
        assert_eq!(a.get("outcome").unwrap().as_str(), Some("ABORTED"));
        assert_eq!(
            a.get("error").unwrap().as_str(),
            Some("the job ended (CANCELLED)")
        );
    }
    wait_for(LIMIT, "the worker to report its slots free", || {
        let workers = get_json(&m.addr, "/api/v1/workers");
        let w = &workers.as_array().unwrap()[0];
        (w.get("running").unwrap().as_u64() == Some(0)).then_some(())
    });
    let workers = get_json(&m.addr, "/api/v1/workers");
    let w = &workers.as_array().unwrap()[0];
    assert_eq!(w.get("tasksFailed").unwrap().as_u64(), Some(0));
}
