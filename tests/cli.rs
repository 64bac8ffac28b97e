//! The binaries as a person or a script meets them, through real
//! processes: what `client submit --wait` prints (a line per stage started
//! or done off a terminal, one line redrawn in place on one, and exactly
//! one last line), the warning while no worker can take a job, the exit
//! status of `client status`, `--version` on every binary, and error lines
//! that all start with `error:`.
//!
//! Guards against the bugs of issue 14: a progress line longer than the
//! terminal, which wraps so that `\r` redraws only its last row and the
//! rest scroll past; a line per finished task in a log, and the final state
//! printed three times; a job that waits for a worker without a word;
//! `status` of a failed job exiting 0; errors without a common prefix.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const LIMIT: Duration = Duration::from_secs(30);

/// A job of five stages: the words, their counts, the sample for the
/// range partitioning, the sort, and the one task of `take`.
const TOP_WORDS: &str = "top_words.job";

/// Runs one of the package's binaries with `args` and returns its output.
fn run(bin: &str, args: &[&str]) -> std::process::Output {
    let exe = match bin {
        "master" => env!("CARGO_BIN_EXE_master"),
        "worker" => env!("CARGO_BIN_EXE_worker"),
        "client" => env!("CARGO_BIN_EXE_client"),
        "gen" => env!("CARGO_BIN_EXE_gen"),
        "wcbase" => env!("CARGO_BIN_EXE_wcbase"),
        "frame" => env!("CARGO_BIN_EXE_frame"),
        other => panic!("unknown binary {other}"),
    };
    Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {exe}: {e}"))
}

/// `client --master ADDR ARGS...`.
fn ask(addr: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--master", addr];
    all.extend_from_slice(args);
    client(&all)
}

/// The job id `submit` printed first.
fn job_id(out: &std::process::Output) -> String {
    let id = stdout(out).lines().next().unwrap_or_default().to_string();
    assert!(
        !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()),
        "first line is the job id: {id:?}; stderr: {}",
        stderr(out)
    );
    id
}

#[test]
fn every_binary_prints_its_version() {
    let version = env!("CARGO_PKG_VERSION");
    for bin in ["master", "worker", "client", "gen", "wcbase", "frame"] {
        let out = run(bin, &["--version"]);
        assert_eq!(out.status.code(), Some(0), "{bin}: {}", stderr(&out));
        assert_eq!(stdout(&out), format!("{bin} {version}\n"));
        assert_eq!(stderr(&out), "", "{bin}");
    }
}

/// Off a terminal `--wait` writes a line when a stage starts and when it
/// is done, not one per task, and the job's end once.
#[test]
fn off_a_terminal_wait_prints_a_line_per_stage_transition_and_one_last_line() {
    let (m, _w) = cluster(2, &[], &["--slots", "2"]);
    let dir = temp_dir("cli-lines");
    let input = dir.join("words.txt");
    words_file(&input, 4000, 14);
    let out = dir.join("out");
    let run = submit(
        &m.addr,
        &job_file(TOP_WORDS),
        &[("input", path(&input)), ("output", path(&out))],
        &["--wait"],
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let id = job_id(&run);
    let job = status(&m.addr, &id);
    assert!(job.rows.len() >= 3, "a multi-stage job: {}", job.text);
    let tasks: u32 = job.rows.iter().map(|r| r.total).sum();

    // stdout: the id, then the one last line.
    let printed = stdout(&run);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 2, "{printed}");
    assert!(
        lines[1].starts_with(&format!("job {id} SUCCEEDED in ")),
        "{printed}"
    );
    // stderr: for each stage, that it started and that it is done, in
    // that order; nothing else, and no final state again.
    let err = stderr(&run);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.len(),
        2 * job.rows.len(),
        "two lines per stage ({} stages, {tasks} tasks):\n{err}",
        job.rows.len()
    );
    for (stage, row) in job.rows.iter().enumerate() {
        let head = format!("job {id} stage {stage} ");
        let started = lines
            .iter()
            .position(|l| l.starts_with(&format!("{head}started: ")));
        let done = lines.iter().position(|l| {
            l.starts_with(&format!(
                "{head}done: {}/{} tasks in ",
                row.total, row.total
            ))
        });
        match (started, done) {
            (Some(s), Some(d)) => assert!(s < d, "stage {stage}:\n{err}"),
            _ => panic!("stage {stage} has no started and done lines:\n{err}"),
        }
    }
    assert!(!err.contains("SUCCEEDED"), "{err}");
}

/// `status` exits 0 for a job that SUCCEEDED or still runs, 1 for one
/// that FAILED or was CANCELLED; `results` of one that did not succeed
/// says why, on one `error:` line.
#[test]
fn status_exits_1_for_a_job_that_failed_or_was_cancelled() {
    let m = master(&["--max-attempts", "1"]);
    let dir = temp_dir("cli-status");
    let input = dir.join("words.txt");
    words_file(&input, 200, 15);
    let params = |out: &str| {
        vec![
            ("input", path(&input).to_string()),
            ("output", path(&dir.join(out)).to_string()),
        ]
    };
    let submit_job = |job: &str, out: &str, extra: &[&str]| {
        let p = params(out);
        let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
        submit(&m.addr, job, &p, extra)
    };
    let status_code = |id: &str| ask(&m.addr, &["status", id]).status.code();

    // No worker yet: the job waits, RUNNING, and `status` says so with 0.
    let waiting = submit_job(&job_file("grep.job"), "waiting", &[]);
    let waiting = job_id(&waiting);
    assert_eq!(status_code(&waiting), Some(0));
    let results = ask(&m.addr, &["results", &waiting]);
    assert_eq!(results.status.code(), Some(1));
    assert_eq!(
        stderr(&results),
        format!(
            "error: job {waiting} is still RUNNING; its results are ready once it has SUCCEEDED\n"
        )
    );
    let cancel = ask(&m.addr, &["cancel", &waiting]);
    assert_eq!(stdout(&cancel).trim(), format!("job {waiting} CANCELLED"));
    assert_eq!(status_code(&waiting), Some(1));
    let results = ask(&m.addr, &["results", &waiting]);
    assert_eq!(results.status.code(), Some(1));
    assert_eq!(
        stderr(&results),
        format!("error: job {waiting} was CANCELLED; it has no results\n")
    );

    let _w = worker(&m.addr, &["--slots", "2"]);
    let good = submit_job(&job_file("grep.job"), "good", &["--wait"]);
    assert_eq!(good.status.code(), Some(0), "{}", stderr(&good));
    let good = job_id(&good);
    let shown = ask(&m.addr, &["status", &good]);
    assert_eq!(shown.status.code(), Some(0), "{}", stderr(&shown));
    assert!(stdout(&shown).contains("SUCCEEDED"), "{}", stdout(&shown));

    // A record that is not a number fails the job while it runs.
    let bad_job = dir.join("bad.job");
    fs::write(
        &bad_job,
        "param input\nparam output\nread_text(input).filter(int($1) > 0).save(output)\n",
    )
    .unwrap();
    let bad = submit_job(path(&bad_job), "bad", &["--wait"]);
    assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));
    let bad_id = job_id(&bad);
    let err = stderr(&bad);
    let last: Vec<&str> = err.lines().filter(|l| l.contains("FAILED")).collect();
    assert_eq!(last.len(), 1, "one last line:\n{err}");
    assert!(
        last[0].starts_with(&format!("error: job {bad_id} FAILED: ")),
        "{err}"
    );
    let shown = ask(&m.addr, &["status", &bad_id]);
    assert_eq!(shown.status.code(), Some(1), "{}", stderr(&shown));
    assert!(stdout(&shown).contains("FAILED"), "{}", stdout(&shown));
    let results = ask(&m.addr, &["results", &bad_id]);
    assert_eq!(
        stderr(&results),
        format!("error: job {bad_id} FAILED; it has no results\n")
    );
}

/// Each mistake gets one line that starts with `error:`, and the exit
/// status says whose it is: 2 for a usage error, 1 for a failed command.
#[test]
fn errors_start_with_error_and_name_what_is_missing() {
    let m = master(&[]);
    let usage = |bin: &str, args: &[&str], want: &str| {
        let out = run(bin, args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{bin} {args:?}: {}",
            stderr(&out)
        );
        let err = stderr(&out);
        assert_eq!(err.lines().next(), Some(want), "{bin} {args:?}:\n{err}");
    };
    usage("client", &["status"], "error: status needs a job id");
    usage("client", &["timeline"], "error: timeline needs a job id");
    usage("client", &["results"], "error: results needs a job id");
    usage("client", &["cancel"], "error: cancel needs a job id");
    usage("client", &["submit"], "error: submit needs a job file");
    usage(
        "client",
        &["status", "abc"],
        "error: \"abc\" is not a job id",
    );
    usage(
        "client",
        &["status", "1", "2"],
        "error: status takes a job id, got 2 arguments: [\"1\", \"2\"]",
    );
    usage(
        "client",
        &["frobnicate"],
        "error: unknown command \"frobnicate\"",
    );
    usage("client", &[], "error: which command?");
    usage(
        "client",
        &["jobs", "x"],
        "error: jobs takes no arguments, got [\"x\"]",
    );
    usage(
        "client",
        &["--bogus"],
        "error: Unrecognized option: 'bogus'",
    );
    usage(
        "client",
        &["run", "x.job", "--local", "0"],
        "error: --local must be at least 1",
    );
    usage(
        "client",
        &["--timeout-ms", "soon", "jobs"],
        "error: --timeout-ms \"soon\": invalid digit found in string",
    );
    usage(
        "worker",
        &["--slots", "0"],
        "error: --slots must be at least 1",
    );
    usage(
        "master",
        &["--bogus"],
        "error: Unrecognized option: 'bogus'",
    );
    usage(
        "gen",
        &["nonsense"],
        "error: gen: unknown kind \"nonsense\"; try --help",
    );
    // The master's own words, without the wire's error code.
    let out = ask(&m.addr, &["status", "99"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "error: no job 99\n");
    let out = ask(&m.addr, &["cancel", "99"]);
    assert_eq!(stderr(&out), "error: no job 99\n");
    // A master that is not there.
    let gone = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let out = ask(&gone, &["jobs"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}

/// `filter($1 = "x")` is refused before it runs, at the `=`, asking for `==`.
#[test]
fn a_single_equals_in_a_condition_asks_for_two() {
    let m = master(&[]);
    let dir = temp_dir("cli-equals");
    fs::write(dir.join("in.txt"), "x\n").unwrap();
    fs::write(
        dir.join("eq.job"),
        "read_text(\"in.txt\")\n  .filter($1 = \"x\")\n  .save(\"o\")\n",
    )
    .unwrap();
    let out = client_in(Some(&dir), &["--master", &m.addr, "submit", "eq.job"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "eq.job:2:14: error: `=` is not a comparison; did you mean `==`?\n      .filter($1 = \"x\")\n                 ^\n"
    );
}

/// A client process left running; killed when dropped. Its stderr lines
/// come through a channel as they are written.
struct Waiting {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every stderr line so far.
    seen: Vec<String>,
}

impl Waiting {
    fn start(args: &[&str]) -> Waiting {
        let mut child = Command::new(env!("CARGO_BIN_EXE_client"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting client");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Waiting {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (at most `LIMIT`) for a stderr line that contains `text`.
    fn line_with(&mut self, text: &str) -> String {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line with {text:?} within {LIMIT:?}; stderr so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits for the client to exit; returns its exit code, stdout, and
    /// the rest of stderr.
    fn finish(mut self) -> (Option<i32>, String, Vec<String>) {
        let deadline = Instant::now() + LIMIT;
        let code = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for client") {
                break status.code();
            }
            assert!(Instant::now() < deadline, "client ran over {LIMIT:?}");
            thread::sleep(Duration::from_millis(20));
        };
        let mut out = String::new();
        if let Some(mut pipe) = self.child.stdout.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut out);
        }
        self.seen.extend(self.lines.try_iter());
        (code, out, std::mem::take(&mut self.seen))
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A job submitted where no worker is registered says so every
/// `--stall-warning-ms`, and runs as soon as one joins.
#[test]
fn a_job_without_workers_says_so_and_runs_when_one_joins() {
    let m = master(&[]);
    let dir = temp_dir("cli-no-workers");
    let input = dir.join("words.txt");
    let lines = words_file(&input, 300, 16);
    let out = dir.join("out");
    let (input_param, output_param) = (p("input", &input), p("output", &out));
    let mut waiting = Waiting::start(&[
        "--master",
        &m.addr,
        "submit",
        &job_file("grep.job"),
        "--param",
        &input_param,
        "--param",
        &output_param,
        "--wait",
        "--stall-warning-ms",
        "100",
    ]);
    let want = format!(
        "no live worker is registered with the master at {}; start one with `worker --master {}`",
        m.addr, m.addr
    );
    let first = waiting.line_with(&want);
    assert!(first.starts_with("warning: job "), "{first}");
    // Said again while nothing changes.
    waiting.line_with(&want);

    let _w = worker(&m.addr, &["--slots", "2"]);
    let (code, printed, err) = waiting.finish();
    assert_eq!(code, Some(0), "{}", err.join("\n"));
    assert!(printed.contains(" SUCCEEDED in "), "{printed}");
    let expected: Vec<String> = lines.into_iter().filter(|l| l.contains("error")).collect();
    assert_eq!(output_lines(&out), expected);
    // Once a task ran, no more warnings.
    let last_warning = err.iter().rposition(|l| l.starts_with("warning: "));
    let started = err.iter().position(|l| l.contains(" started: "));
    assert!(last_warning < started, "{}", err.join("\n"));
}

/// A job whose only worker's slots are all held by another job says so,
/// and runs once they are free.
#[test]
fn a_job_behind_another_that_holds_every_slot_says_so() {
    let (m, _w) = cluster(1, &[], &["--slots", "1", "--allow-pipe"]);
    let dir = temp_dir("cli-busy");
    let input = dir.join("words.txt");
    words_file(&input, 50, 17);
    let slow = submit(
        &m.addr,
        &job_file("pipe.job"),
        &[
            ("input", path(&input)),
            ("output", path(&dir.join("slow"))),
            ("command", "sleep 60; cat"),
        ],
        &[],
    );
    let slow = job_id(&slow);
    wait_for(LIMIT, "the slow job to hold the slot", || {
        status(&m.addr, &slow)
            .rows
            .iter()
            .any(|r| r.running > 0)
            .then_some(())
    });
    let (input_param, output_param) = (p("input", &input), p("output", &dir.join("next")));
    let mut waiting = Waiting::start(&[
        "--master",
        &m.addr,
        "submit",
        &job_file("grep.job"),
        "--param",
        &input_param,
        "--param",
        &output_param,
        "--wait",
        "--stall-warning-ms",
        "100",
    ]);
    waiting.line_with(
        "no task slot is free: other jobs hold the 1 slot of the 1 live worker; \
         it starts when one frees up",
    );
    let cancel = ask(&m.addr, &["cancel", &slow]);
    assert_eq!(cancel.status.code(), Some(0), "{}", stderr(&cancel));
    let (code, printed, err) = waiting.finish();
    assert_eq!(code, Some(0), "{}", err.join("\n"));
    assert!(printed.contains(" SUCCEEDED in "), "{printed}");
}

/// A tmux server of its own, on a socket in the test's directory (`-S`),
/// killed with everything in it when dropped.
struct Tmux {
    socket: std::path::PathBuf,
}

impl Tmux {
    /// Runs `command` in a detached 80x24 window; None when there is no tmux.
    fn start(dir: &Path, command: &str) -> Option<Tmux> {
        let tmux = Tmux {
            socket: dir.join("tmux.sock"),
        };
        let started = tmux
            .command()
            .args(["new-session", "-d", "-x", "80", "-y", "24"])
            .arg(command)
            .stdin(Stdio::null())
            .status();
        match started {
            Ok(status) if status.success() => Some(tmux),
            _ => None,
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket);
        c
    }

    /// The rows of the window as they are now.
    fn screen(&self) -> Vec<String> {
        let out = self
            .command()
            .args(["capture-pane", "-p"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self
            .command()
            .arg("kill-server")
            .stderr(Stdio::null())
            .status();
        // tmux leaves its socket file behind.
        let _ = fs::remove_file(&self.socket);
    }
}

/// Single-quotes `s` for `sh`.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// On a terminal 80 columns wide the progress line is redrawn in place:
/// however often it is drawn, the screen never holds more than one
/// progress row, and at the end only the job's last line is left.
/// `$COLUMNS` says 300, so a client that did not ask the kernel would draw
/// lines that wrap.
#[test]
fn on_a_terminal_the_progress_line_is_redrawn_in_place() {
    // Slots for every task of both sides at once.
    let (m, _w) = cluster(2, &[], &["--slots", "4", "--allow-pipe"]);
    let dir = temp_dir("cli-tmux");
    let (left, right) = (dir.join("left.txt"), dir.join("right.txt"));
    words_file(&left, 3000, 18);
    words_file(&right, 3000, 19);
    let job = dir.join("slow_join.job");
    // Two sides that are read at once (two stages running, whose line
    // at 300 columns would be far wider than 80), slow enough to be drawn
    // many times, then the join.
    fs::write(
        &job,
        "param left\nparam right\nparam output\n\
         a = read_text(left, splits=4).pipe(\"sleep 0.5; cat\").map($1, 1).reduce_by_key(sum, 2)\n\
         b = read_text(right, splits=4).pipe(\"sleep 0.5; cat\").map($1, 1).reduce_by_key(count, 2)\n\
         a.join(b).save(output)\n",
    )
    .unwrap();
    let done = dir.join("exit-status");
    let command = format!(
        "COLUMNS=300 {} --master {} submit {} --param {} --param {} --param {} --wait \
         --refresh-ms 10; echo $? > {}; exec sleep 600",
        quoted(env!("CARGO_BIN_EXE_client")),
        m.addr,
        quoted(path(&job)),
        quoted(&p("left", &left)),
        quoted(&p("right", &right)),
        quoted(&p("output", &dir.join("out"))),
        quoted(path(&done)),
    );
    let Some(tmux) = Tmux::start(&dir, &command) else {
        eprintln!("skipped: tmux is not installed (or cannot start a server)");
        return;
    };
    let is_progress = |row: &String| row.contains("[Stage") || row.contains(" tasks ");
    let mut drawn = 0;
    let mut both = false;
    let screen = wait_for(LIMIT, "the client in tmux to exit", || {
        let screen = tmux.screen();
        let rows: Vec<&String> = screen.iter().filter(|r| is_progress(r)).collect();
        assert!(
            rows.len() <= 1,
            "progress rows pile up:\n{}",
            screen.join("\n")
        );
        drawn += rows.len();
        both |= rows.iter().any(|r| r.matches("[Stage").count() >= 2);
        Path::new(&done).exists().then_some(screen)
    });
    let code = fs::read_to_string(&done).unwrap_or_default();
    assert_eq!(code.trim(), "0", "{}", screen.join("\n"));
    assert!(drawn > 0, "never saw a progress line");
    assert!(both, "never saw two stages running at once");
    // tmux may draw the client's last bytes after the shell wrote the file.
    wait_for(
        LIMIT,
        "the screen to show the id and the last line only",
        || {
            let screen = tmux.screen();
            let rows: Vec<&String> = screen.iter().filter(|r| !r.trim().is_empty()).collect();
            (rows.len() == 2 && rows[1].contains(" SUCCEEDED in ")).then_some(())
        },
    );
}
