//! `client`: submits jobs and asks the master about them, over the binary
//! protocol. Every command is a thin call into `minispark::client`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process;
use std::sync::Arc;
use std::time::{Duration, Instant};

use getopts::{Matches, Options};
use minispark::client::{self, fetch_part, Client};
use minispark::net::Secret;
use minispark::protocol::{JobReport, JobState, WorkerInfo, WorkerState};
use minispark::submission::{self, Refused};
use minispark::view::report::{self, Phase};
use minispark::view::timeline;
use minispark::{cli, local, log, terminal};

/// `println!` that ignores a closed stdout (`client ... | head`): a reader
/// that stopped reading is not an error, and must not be a panic.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

const BRIEF: &str = "\
Usage: client [options] COMMAND [ARGS]

Commands:
  submit FILE [--param K=V]... [--overwrite] [--wait]
                 submit a job file; prints the job id first. With --wait, shows
                 progress on stderr (a line per running stage on a terminal,
                 a line per stage started or done otherwise), then one last
                 line, and exits 0 if the job SUCCEEDED, 1 if not
  run FILE --local N [--param K=V]... [--overwrite]
                 run a job on an embedded cluster of N workers in this process
  export FILE --to pyspark [--param K=V]... [-o OUT.py]
                 write the job as a PySpark program (stdout without -o)
  status JOB     the job's stages, tasks, records, state and error; exits 1
                 if it FAILED or was CANCELLED
  timeline JOB   the job's task attempts as an SVG Gantt chart on stdout
                 (client timeline 3 > job3.svg)
  jobs           one line per job
  results JOB [--head N]
                 print the job's output records, fetched from the workers
  cancel JOB     stop a job
  workers        one line per worker
  ping           check that the master answers, and how fast

Exit status: 0 success, 1 failure (of the job or the command), 2 usage or job-file error.";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts = Options::new();
    opts.optopt(
        "m",
        "master",
        "master address (default $MINISPARK_MASTER, else 127.0.0.1:7000)",
        "HOST:PORT",
    );
    opts.optopt("", "timeout-ms", "connect timeout; a master that refuses (still starting) is tried again until it passes (default 5000)", "N");
    opts.optmulti(
        "",
        "param",
        "set a job parameter, repeatable (default: the job file's param defaults)",
        "K=V",
    );
    opts.optflag("", "overwrite", "replace the output of an earlier run");
    opts.optflag(
        "",
        "wait",
        "submit: wait for the job to end, showing progress",
    );
    opts.optopt(
        "",
        "local",
        "run: the number of embedded workers (default 2)",
        "N",
    );
    opts.optopt(
        "",
        "head",
        "results: print at most N records (default: all)",
        "N",
    );
    opts.optopt(
        "",
        "refresh-ms",
        "--wait redraws progress at least this often (default 1000)",
        "N",
    );
    opts.optopt(
        "",
        "stall-warning-ms",
        "submit --wait: while no task of the job runs and no worker has a free slot (or none is \
         registered), say so this often (default 5000)",
        "N",
    );
    opts.optopt(
        "",
        "to",
        "export: the engine to write for (default pyspark)",
        "ENGINE",
    );
    opts.optopt(
        "o",
        "out",
        "export: the file to write (default: stdout)",
        "PATH",
    );
    cli::common_flags(&mut opts);
    let m = cli::parse("client", &opts, &args, BRIEF);
    let dial = Dial {
        secret: cli::secret(&m),
        timeout: cli::millis(&m, "timeout-ms", 5000),
    };
    let Some(command) = m.free.first().cloned() else {
        cli::usage_error(&format!("which command?\n\n{}", opts.usage(BRIEF)));
    };
    let args = &m.free[1..];
    let code = match command.as_str() {
        "submit" => {
            let file = one_arg(args, "submit", "a job file");
            let addr = client::master_addr(m.opt_str("master"));
            submit(&m, &addr, &dial, file, m.opt_present("wait"))
        }
        "run" => {
            let file = one_arg(args, "run", "a job file");
            let n: u32 = cli::value(&m, "local", 2);
            if n == 0 {
                cli::usage_error("--local must be at least 1");
            }
            if !m.opt_present("verbose") {
                log::set_level(log::Level::Warn);
            }
            let slots = (cli::cores() / n).max(1);
            let cluster = local::start(n, slots, 512 << 20, dial.secret.clone())
                .unwrap_or_else(|e| cli::fatal(&e.to_string()));
            wait_for_workers(cluster.addr(), &dial, n);
            let code = submit(&m, cluster.addr(), &dial, file, true);
            // Exit with the cluster still running: the process takes it
            // along, and stopping it first would only delay the exit.
            process::exit(code)
        }
        "export" => {
            let file = one_arg(args, "export", "a job file");
            let to = m.opt_str("to").unwrap_or_else(|| "pyspark".into());
            minispark::export::run(file, &to, &params(&m), m.opt_str("out").as_deref())
        }
        "status" => {
            let id = job_arg(args, "status");
            let job = connect(&m, &dial)
                .job(id)
                .unwrap_or_else(|e| cli::fatal(&e.to_string()));
            let _ = write!(std::io::stdout(), "{}", report::status_table(&job));
            // A script asking after a job learns from the status whether
            // it went wrong; one still running has not (yet).
            match job.state {
                JobState::Failed | JobState::Cancelled => 1,
                JobState::Running | JobState::Succeeded => 0,
            }
        }
        "timeline" => {
            let id = job_arg(args, "timeline");
            let job = connect(&m, &dial)
                .job(id)
                .unwrap_or_else(|e| cli::fatal(&e.to_string()));
            let _ = write!(std::io::stdout(), "{}", timeline::render(&job));
            0
        }
        "jobs" => {
            no_args(args, "jobs");
            for j in connect(&m, &dial)
                .jobs()
                .unwrap_or_else(|e| cli::fatal(&e.to_string()))
            {
                say!("{}", report::job_line(&j));
            }
            0
        }
        "results" => results(&m, &dial, job_arg(args, "results")),
        "cancel" => {
            let id = job_arg(args, "cancel");
            let job = connect(&m, &dial)
                .cancel(id)
                .unwrap_or_else(|e| cli::fatal(&e.to_string()));
            say!("job {} {}", job.id, job.state);
            0
        }
        "workers" => {
            no_args(args, "workers");
            for w in connect(&m, &dial)
                .workers()
                .unwrap_or_else(|e| cli::fatal(&e.to_string()))
            {
                say!("{}", report::worker_line(&w));
            }
            0
        }
        "ping" => {
            no_args(args, "ping");
            let addr = client::master_addr(m.opt_str("master"));
            let rtt = connect(&m, &dial)
                .ping()
                .unwrap_or_else(|e| cli::fatal(&e.to_string()));
            say!("pong from {addr} in {:.3} ms", rtt.as_secs_f64() * 1000.0);
            0
        }
        other => cli::usage_error(&format!(
            "unknown command {other:?}\n\n{}",
            opts.usage(BRIEF)
        )),
    };
    process::exit(code);
}

/// How this client reaches the cluster: the connect timeout, and the secret
/// it proves (to the master, and to the workers it fetches results from).
struct Dial {
    timeout: Duration,
    secret: Option<Arc<Secret>>,
}

impl Dial {
    fn client(&self, addr: &str) -> minispark::Result<Client> {
        Client::connect(addr, self.timeout, self.secret.as_deref())
    }
}

fn connect(m: &Matches, dial: &Dial) -> Client {
    let addr = client::master_addr(m.opt_str("master"));
    dial.client(&addr)
        .unwrap_or_else(|e| cli::fatal(&e.to_string()))
}

/// The one argument of `command`, which is `what` (`a job id`).
fn one_arg<'a>(args: &'a [String], command: &str, what: &str) -> &'a str {
    match args {
        [one] => one,
        [] => cli::usage_error(&format!("{command} needs {what}")),
        more => cli::usage_error(&format!(
            "{command} takes {what}, got {} arguments: {more:?}",
            more.len()
        )),
    }
}

fn no_args(args: &[String], command: &str) {
    if !args.is_empty() {
        cli::usage_error(&format!("{command} takes no arguments, got {args:?}"));
    }
}

fn job_arg(args: &[String], command: &str) -> u64 {
    let text = one_arg(args, command, "a job id");
    text.parse()
        .unwrap_or_else(|_| cli::usage_error(&format!("{text:?} is not a job id")))
}

fn params(m: &Matches) -> BTreeMap<String, String> {
    m.opt_strs("param")
        .into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => (k.to_string(), v.to_string()),
            _ => cli::usage_error(&format!("--param {kv:?}: expected NAME=VALUE")),
        })
        .collect()
}

/// Waits until `n` workers have registered with an embedded master.
fn wait_for_workers(addr: &str, dial: &Dial, n: u32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let alive = dial
            .client(addr)
            .and_then(|mut c| c.workers())
            .map(|ws| ws.len() as u32)
            .unwrap_or(0);
        if alive >= n {
            return;
        }
        if std::time::Instant::now() > deadline {
            cli::fatal("the embedded workers did not register within 10 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn submit(m: &Matches, addr: &str, dial: &Dial, file: &str, wait: bool) -> i32 {
    let mut conn = dial
        .client(addr)
        .unwrap_or_else(|e| cli::fatal(&e.to_string()));
    let workers = conn
        .workers()
        .unwrap_or_else(|e| cli::fatal(&e.to_string()));
    let alive: Vec<(&str, u32)> = workers
        .iter()
        .filter(|w| w.state == minispark::protocol::WorkerState::Alive)
        .map(|w| (w.addr.as_str(), w.slots))
        .collect();
    let overrides = params(m);
    let req = submission::Request {
        path: Path::new(file),
        overrides: &overrides,
        overwrite: m.opt_present("overwrite"),
        parallelism: submission::parallelism(&alive, cli::cores(), submission::on_this_machine),
        slots: alive.iter().map(|&(_, slots)| slots).sum(),
    };
    let msg = match submission::prepare(&req) {
        Ok(msg) => msg,
        Err(Refused::JobFile(e)) => {
            eprintln!("{e}");
            return cli::EXIT_USAGE;
        }
        Err(Refused::Setup(e)) => {
            eprintln!("error: {e}");
            return cli::EXIT_USAGE;
        }
    };
    let id = match conn.submit(&msg) {
        Ok(id) => id,
        Err(minispark::Error::Remote { message, .. }) => {
            eprintln!("error: the master refused the job: {message}");
            return cli::EXIT_USAGE;
        }
        Err(e) => cli::fatal(&e.to_string()),
    };
    say!("{id}");
    let _ = std::io::stdout().flush();
    if !wait {
        return 0;
    }
    let watching = Watch {
        id,
        master: addr,
        refresh: cli::millis(m, "refresh-ms", 1000),
        stall_warning: cli::millis(m, "stall-warning-ms", 5000),
    };
    let job = watching.follow(&mut conn);
    // The one last line: on stdout when the job did what was asked, as an
    // error on stderr when not.
    match job.state {
        JobState::Succeeded => {
            say!("job {id} SUCCEEDED in {}", report::secs(job.elapsed_ms));
            0
        }
        state => {
            eprintln!("error: job {id} {state}: {}", job.error);
            1
        }
    }
}

/// What `submit --wait` follows, and how often it looks.
struct Watch<'a> {
    id: u64,
    /// The master's address, for the advice to start a worker.
    master: &'a str,
    /// The longest wait for a change before the progress is drawn again.
    refresh: Duration,
    /// How long no task may run before the client asks why, and then how
    /// often it says so again while nothing changes.
    stall_warning: Duration,
}

impl Watch<'_> {
    /// Follows the job until it ends, on stderr: on a terminal, one line
    /// redrawn in place (`report::progress_line`, fitted to the width the
    /// kernel gives); otherwise, a line each time a stage starts or is done.
    /// Each `WaitJob` returns as soon as a task completes, so the end is seen
    /// at once; the last line is the caller's.
    fn follow(&self, conn: &mut Client) -> JobReport {
        let stderr = std::io::stderr();
        let tty = terminal::is_terminal(&stderr);
        let mut phases: BTreeMap<u32, Phase> = BTreeMap::new();
        let mut done = u32::MAX;
        // Since when no task has run, and when the client last said why.
        let mut idle_since: Option<Instant> = None;
        let mut warned: Option<Instant> = None;
        loop {
            let job = conn
                .wait_job(self.id, done, self.refresh.min(self.stall_warning))
                .unwrap_or_else(|e| cli::fatal(&e.to_string()));
            done = report::progress(&job).0;
            if tty {
                let width = terminal::columns(&stderr);
                eprint!("\r{}\x1b[K", report::progress_line(&job, width));
            } else {
                for s in &job.stages {
                    let before = phases.get(&s.stage).copied().unwrap_or(Phase::Waiting);
                    let now = before.then(Phase::of(s));
                    for line in report::stage_lines(self.id, s, before, now) {
                        eprintln!("{line}");
                    }
                    phases.insert(s.stage, now);
                }
            }
            if job.state.is_final() {
                if tty {
                    // The last line takes the progress line's place.
                    eprint!("\r\x1b[K");
                }
                return job;
            }
            let running: u32 = job.stages.iter().map(|s| s.tasks_running).sum();
            if running > 0 {
                idle_since = None;
                continue;
            }
            let now = Instant::now();
            let since = *idle_since.get_or_insert(now);
            let due = warned.is_none_or(|at| now - at >= self.stall_warning);
            if now - since >= self.stall_warning && due {
                warned = Some(now);
                // A failed look is no reason to stop: the next `WaitJob`
                // finds out whether the master is still there.
                let why = conn.workers().ok().and_then(|w| self.stalled(&w));
                if let Some(why) = why {
                    if tty {
                        eprint!("\r\x1b[K");
                    }
                    eprintln!(
                        "warning: job {} has had no task running for {}: {why}",
                        self.id,
                        report::secs((now - since).as_millis() as u64)
                    );
                }
            }
        }
    }

    /// Why no task of a job can run, from the workers the master lists, as
    /// Spark's "Initial job has not accepted any resources" says: none
    /// registered, or every slot taken. None when some slot is free (the
    /// scheduler is between stages, or waiting for a lost worker's grace).
    fn stalled(&self, workers: &[WorkerInfo]) -> Option<String> {
        let alive: Vec<&WorkerInfo> = workers
            .iter()
            .filter(|w| w.state == WorkerState::Alive)
            .collect();
        if alive.is_empty() {
            return Some(format!(
                "no live worker is registered with the master at {}; start one with \
                 `worker --master {}`",
                self.master, self.master
            ));
        }
        let slots: u32 = alive.iter().map(|w| w.slots).sum();
        let busy: u32 = alive.iter().map(|w| w.running.min(w.slots)).sum();
        let s = |n: usize| if n == 1 { "" } else { "s" };
        (busy >= slots).then(|| {
            format!(
                "no task slot is free: other jobs hold the {slots} slot{} of the {} live \
                 worker{}; it starts when one frees up",
                s(slots as usize),
                alive.len(),
                s(alive.len())
            )
        })
    }
}

fn results(m: &Matches, dial: &Dial, id: u64) -> i32 {
    let job = connect(m, dial)
        .job(id)
        .unwrap_or_else(|e| cli::fatal(&e.to_string()));
    let why = match job.state {
        JobState::Succeeded => None,
        JobState::Running => Some("is still RUNNING; its results are ready once it has SUCCEEDED"),
        JobState::Failed => Some("FAILED; it has no results"),
        JobState::Cancelled => Some("was CANCELLED; it has no results"),
    };
    if let Some(why) = why {
        eprintln!("error: job {id} {why}");
        return 1;
    }
    let head: Option<u64> = m.opt_str("head").map(|_| cli::value(m, "head", 0u64));
    let mut parts = job.parts.clone();
    parts.sort_by_key(|p| (p.save, p.part));
    let mut printed = 0u64;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for p in parts {
        if job.outputs.len() > 1 && p.part == 0 {
            eprintln!(
                "== {}",
                job.outputs.get(p.save as usize).map_or("?", |s| s.as_str())
            );
        }
        let mut stop = false;
        let secret = dial.secret.as_deref();
        let fetched = fetch_part(
            &p.worker_addr,
            id,
            p.save,
            p.part,
            dial.timeout,
            secret,
            |chunk| {
                let mut rest = chunk;
                if let Some(limit) = head {
                    // Print whole lines up to the limit.
                    let mut end = 0;
                    for (i, &b) in chunk.iter().enumerate() {
                        if printed >= limit {
                            break;
                        }
                        if b == b'\n' {
                            printed += 1;
                            end = i + 1;
                        }
                    }
                    if printed >= limit {
                        rest = &chunk[..end];
                        stop = true;
                    }
                }
                out.write_all(rest).is_ok() && !stop
            },
        );
        if let Err(e) = fetched {
            eprintln!(
                "error: fetching part {} from {}: {e}",
                p.part, p.worker_addr
            );
            return 1;
        }
        if stop {
            break;
        }
    }
    0
}
