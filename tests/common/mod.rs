//! Helpers for integration tests: start the real binaries on ports the OS
//! picks, read their bound address from their first stdout line, talk to
//! them, and kill them when the test ends, pass or fail.

#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use minispark::client::Client;
use minispark::view::status_table;

/// How long a process may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A child process that is killed (SIGKILL) and reaped when dropped.
pub struct Proc {
    child: Child,
    /// The address from the first stdout line.
    pub addr: String,
    pub name: String,
    pub log: PathBuf,
}

impl Proc {
    /// Starts `bin` (one of this package's binaries) with `args` and waits for
    /// its first stdout line.
    pub fn start(bin: &str, args: &[&str]) -> Proc {
        Proc::start_in(None, bin, args)
    }

    /// As `start`, inside network namespace `netns` (`ip netns exec`, which
    /// execs the binary, so the child is the binary itself).
    pub fn start_in(netns: Option<&str>, bin: &str, args: &[&str]) -> Proc {
        let exe = match bin {
            "master" => env!("CARGO_BIN_EXE_master"),
            "worker" => env!("CARGO_BIN_EXE_worker"),
            "client" => env!("CARGO_BIN_EXE_client"),
            other => panic!("unknown binary {other}"),
        };
        let log = log_path(bin);
        let stderr = File::create(&log).expect("creating a log file");
        let mut command = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, exe]);
                c
            }
            None => Command::new(exe),
        };
        let mut child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {exe}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        // Reads the first line, then keeps draining so the child never blocks
        // on a full pipe.
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = tx.send(first);
            }
            for _ in lines {}
        });
        let mut proc = Proc {
            child,
            addr: String::new(),
            name: bin.to_string(),
            log,
        };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => proc.addr = line.trim().to_string(),
            Err(_) => panic!(
                "{bin} printed no address within {START_TIMEOUT:?}; its log:\n{}",
                proc.log_text()
            ),
        }
        proc
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The port of the address it printed.
    pub fn port(&self) -> u16 {
        self.addr.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Sends a signal by name (`KILL`, `STOP`, `CONT`) with the `kill` command.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -{sig} {} failed", self.pid());
    }

    /// kill -9 and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Has the process exited (on its own, or killed)?
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// What the process wrote to stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGCONT first in case a test left it stopped; then kill and reap.
        let _ = Command::new("kill")
            .args(["-CONT", &self.pid().to_string()])
            .stderr(Stdio::null())
            .status();
        self.kill();
        if thread::panicking() {
            eprintln!(
                "--- {} log ({}) ---\n{}",
                self.name,
                self.log.display(),
                self.log_text()
            );
        }
    }
}

fn log_path(bin: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("logs");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{bin}-{}-{n}.log", std::process::id()))
}

/// Starts a master on a free loopback port with extra flags, and its own
/// state directory unless `extra` names one.
pub fn master(extra: &[&str]) -> Proc {
    let state = temp_dir("state");
    let mut args = vec!["--port", "0", "--bind", "127.0.0.1"];
    if !extra.contains(&"--state-dir") {
        args.extend(["--state-dir", path(&state)]);
    }
    args.extend_from_slice(extra);
    Proc::start("master", &args)
}

/// Starts a worker of `master_addr` with extra flags.
pub fn worker(master_addr: &str, extra: &[&str]) -> Proc {
    let mut args = vec!["--master", master_addr, "--bind", "127.0.0.1"];
    args.extend_from_slice(extra);
    Proc::start("worker", &args)
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after `limit`.
pub fn wait_for<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// A text-mode session with the master.
pub struct Text {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Text {
    pub fn connect(addr: &str) -> Text {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Text {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    /// Sends one command and returns every reply line up to and including
    /// the closing `OK`/`ERR` line.
    pub fn command(&mut self, cmd: &str) -> Vec<String> {
        self.writer
            .write_all(format!("{cmd}\n").as_bytes())
            .unwrap();
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).expect("reading a reply");
            assert!(n > 0, "connection closed mid-reply to {cmd}; got {lines:?}");
            let line = line.trim_end().to_string();
            let done = line.starts_with("OK") || line.starts_with("ERR");
            lines.push(line);
            if done {
                return lines;
            }
        }
    }
}

/// One text-mode command on a fresh connection.
pub fn text(addr: &str, cmd: &str) -> Vec<String> {
    Text::connect(addr).command(cmd)
}

/// The `WORKERS` lines (without the closing line).
pub fn workers(addr: &str) -> Vec<String> {
    let mut lines = text(addr, "WORKERS");
    lines.pop();
    lines
}

/// The value of `key=` in a `key=value` line.
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// Waits until the master lists exactly `n` workers in state `state`.
pub fn wait_workers(addr: &str, n: usize, state: &str, limit: Duration) -> Vec<String> {
    wait_for(limit, &format!("{n} {state} worker(s)"), || {
        let lines = workers(addr);
        let count = lines
            .iter()
            .filter(|l| field(l, "state") == Some(state))
            .count();
        (count == n).then_some(lines)
    })
}

/// Sends raw bytes, half-closes, and returns everything the peer sent back
/// until it closed (or 10 s passed).
pub fn exchange(addr: &str, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(bytes).unwrap();
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    out
}

/// A fresh, empty directory for one test, under cargo's target tmp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `client` with `args` (under a hard time limit) and returns its output.
pub fn client(args: &[&str]) -> std::process::Output {
    client_in(None, args)
}

/// Runs `client` in directory `cwd`.
pub fn client_in(cwd: Option<&std::path::Path>, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_client"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().expect("starting client");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("waiting for client").is_some() {
            return child.wait_with_output().expect("client output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "client {args:?} ran over 60 s; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A master and `n` workers (with `worker_flags`), all registered.
pub fn cluster(n: usize, master_flags: &[&str], worker_flags: &[&str]) -> (Proc, Vec<Proc>) {
    let m = master(master_flags);
    let workers: Vec<Proc> = (0..n).map(|_| worker(&m.addr, worker_flags)).collect();
    wait_workers(&m.addr, n, "ALIVE", Duration::from_secs(15));
    (m, workers)
}

/// The committed output of a job: the lines of `part-*` in order. Checks
/// the commit protocol's invariants: `_SUCCESS` present, `_temporary` gone.
pub fn output_lines(dir: &std::path::Path) -> Vec<String> {
    assert!(
        dir.join("_SUCCESS").exists(),
        "no _SUCCESS in {}",
        dir.display()
    );
    assert!(
        !dir.join("_temporary").exists(),
        "_temporary left in {}",
        dir.display()
    );
    let mut parts: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("part-")
        })
        .collect();
    parts.sort();
    let mut lines = Vec::new();
    for p in parts {
        let text = String::from_utf8(std::fs::read(&p).unwrap()).unwrap();
        lines.extend(text.lines().map(str::to_string));
    }
    lines
}

/// The number of `part-*` files in `dir`.
pub fn part_count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("part-")
        })
        .count()
}

/// Writes `n` lines of words (some containing "error") and returns them.
pub fn words_file(path: &std::path::Path, n: usize, seed: u64) -> Vec<String> {
    const VOCAB: [&str; 12] = [
        "alpha", "beta", "gamma", "error", "delta", "warning", "info", "omega", "kappa", "zeta",
        "errors", "Error",
    ];
    let mut rng = minispark::rng::Rng::new(seed);
    let lines: Vec<String> = (0..n)
        .map(|_| {
            let words = 1 + rng.below(8) as usize;
            (0..words)
                .map(|_| VOCAB[rng.below(VOCAB.len() as u64) as usize])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
    lines
}

/// The repository's `jobs/NAME`.
pub fn job_file(name: &str) -> String {
    format!("{}/jobs/{name}", env!("CARGO_MANIFEST_DIR"))
}

pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `client --master ADDR submit JOB --param K=V ... EXTRA ...`, where each
/// param is `(name, value)`.
pub fn submit(
    addr: &str,
    job: &str,
    params: &[(&str, &str)],
    extra: &[&str],
) -> std::process::Output {
    let mut args: Vec<String> = vec!["--master".into(), addr.into(), "submit".into(), job.into()];
    for (k, v) in params {
        args.push("--param".into());
        args.push(format!("{k}={v}"));
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    client(&args)
}

/// A path as a param value.
pub fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// `key=value` for `--param`.
pub fn p(key: &str, value: &std::path::Path) -> String {
    format!("{key}={}", value.display())
}

pub fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Word counts of `lines` (words split on C's `isspace` bytes), as
/// `word\tcount` lines in byte order.
pub fn word_counts(lines: &[String]) -> Vec<String> {
    let mut counts: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for line in lines {
        for w in line
            .split(|c: char| c.is_ascii_whitespace() || c == '\u{b}')
            .filter(|w| !w.is_empty())
        {
            *counts.entry(w).or_default() += 1;
        }
    }
    counts.iter().map(|(w, n)| format!("{w}\t{n}")).collect()
}

/// Submits repository job `job` without waiting; returns the job id.
pub fn start(addr: &str, job: &str, params: &[(&str, &str)]) -> String {
    start_file(addr, &job_file(job), params)
}

/// Submits the job file at `path` without waiting; returns the job id.
pub fn start_file(addr: &str, path: &str, params: &[(&str, &str)]) -> String {
    let out = submit(addr, path, params, &[]);
    assert_eq!(out.status.code(), Some(0), "submit: {}", stderr(&out));
    stdout(&out).lines().next().unwrap().trim().to_string()
}

/// One stage's row of `client status`: its tasks and attempts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    pub done: u32,
    pub total: u32,
    pub running: u32,
    pub attempts: u32,
    pub failed: u32,
}

/// A job as the master reports it: its state, stage rows and error.
#[derive(Debug, Clone)]
pub struct Status {
    pub state: String,
    pub rows: Vec<Row>,
    pub error: String,
    /// The job as `client status` prints it, for failure messages.
    pub text: String,
}

/// The job's report, asked for through the client library (`JobStatus`).
/// A job the master does not know (yet) has an empty `state`.
pub fn status(addr: &str, id: &str) -> Status {
    let id: u64 = id.parse().unwrap_or_else(|_| panic!("job id {id:?}"));
    let report = Client::connect(addr, Duration::from_secs(10), None).and_then(|mut c| c.job(id));
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            return Status {
                state: String::new(),
                rows: Vec::new(),
                error: String::new(),
                text: e.to_string(),
            }
        }
    };
    let rows = report
        .stages
        .iter()
        .map(|s| Row {
            done: s.tasks_done,
            total: s.tasks_total,
            running: s.tasks_running,
            attempts: s.attempts,
            failed: s.attempts_failed,
        })
        .collect();
    Status {
        state: report.state.to_string(),
        rows,
        error: report.error.clone(),
        text: status_table(&report),
    }
}

/// Waits (at most `limit`) for the job to end; returns its final status.
pub fn wait_end(addr: &str, id: &str, limit: Duration) -> Status {
    wait_for(limit, &format!("job {id} to end"), || {
        let s = status(addr, id);
        (s.state != "RUNNING" && !s.state.is_empty()).then_some(s)
    })
}

pub mod bed;
pub mod json;

/// One HTTP request on a fresh connection: returns the status code, the
/// head (status line and headers) and the body.
pub fn http_request(addr: &str, request: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).expect("connecting for HTTP");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    let text = String::from_utf8_lossy(&reply).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// `GET path`: status and body.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let (status, _, body) = http_request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: test\r\n\r\n"),
    );
    (status, body)
}

/// `GET path` of a JSON endpoint, parsed.
pub fn get_json(addr: &str, path: &str) -> json::Value {
    let (status, body) = http_get(addr, path);
    assert_eq!(status, 200, "GET {path}: {body}");
    json::parse(&body).unwrap_or_else(|e| panic!("GET {path}: invalid JSON ({e}): {body}"))
}

/// A Python interpreter with `packages` installed, in a venv of its own
/// (`name`) under cargo's target tmp dir, made on first use and reused
/// after; `import` is what it must be able to import. `None` when python3
/// or pip cannot make it (no network to PyPI, say): the caller skips its
/// test then, unless `$require_var` is `require`, which fails it instead.
pub fn python_with(
    name: &str,
    packages: &[&str],
    import: &str,
    require_var: &str,
) -> Option<PathBuf> {
    // One test at a time makes or checks a venv.
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let python = venv.join("bin").join("python");
    let imports = || {
        Command::new(&python)
            .args(["-c", &format!("import {import}")])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if imports() {
        return Some(python);
    }
    let made = Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .output();
    let installed = made.is_ok_and(|o| o.status.success())
        && Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["--timeout", "20", "--retries", "1"])
            .args(packages)
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if installed && imports() {
        return Some(python);
    }
    assert!(
        std::env::var(require_var).as_deref() != Ok("require"),
        "{require_var}=require but no venv with {packages:?} could be made"
    );
    eprintln!(
        "could not install {packages:?} with pip: skipping (set {require_var}=require to fail)"
    );
    None
}
