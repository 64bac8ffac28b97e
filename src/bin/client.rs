//! `client`: submits jobs and asks the master about them, over the binary
//! protocol. Every command is a thin call into `minispark::client`.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process;
use std::sync::Arc;
use std::time::Duration;

use getopts::{Matches, Options};
use minispark::client::{self, fetch_part, Client};
use minispark::net::Secret;
use minispark::protocol::{JobReport, JobState};
use minispark::submission::{self, Refused};
use minispark::view::{report, timeline};
use minispark::{cli, local, log};

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
                 progress and exits 0 if the job SUCCEEDED, 1 if it FAILED
  run FILE --local N [--param K=V]... [--overwrite]
                 run a job on an embedded cluster of N workers in this process
  export FILE --to pyspark [--param K=V]... [-o OUT.py]
                 write the job as a PySpark program (stdout without -o)
  status JOB     the job's stages, tasks, records, state and error
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
    opts.optopt("", "timeout-ms", "connect timeout (default 5000)", "N");
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
    let m = cli::parse(&opts, &args, BRIEF);
    let dial = Dial {
        secret: cli::secret(&m),
        timeout: cli::millis(&m, "timeout-ms", 5000),
    };
    let Some(command) = m.free.first().cloned() else {
        cli::usage_error(&opts.usage(BRIEF));
    };
    let args = &m.free[1..];
    let code = match command.as_str() {
        "submit" => {
            let file = one_arg(args, "submit FILE");
            let addr = client::master_addr(m.opt_str("master"));
            submit(&m, &addr, &dial, file, m.opt_present("wait"))
        }
        "run" => {
            let file = one_arg(args, "run FILE --local N");
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
            let file = one_arg(
                args,
                "export FILE --to pyspark [--param K=V]... [-o OUT.py]",
            );
            let to = m.opt_str("to").unwrap_or_else(|| "pyspark".into());
            minispark::export::run(file, &to, &params(&m), m.opt_str("out").as_deref())
        }
        "status" => {
            let id = job_arg(args);
            let job = connect(&m, &dial)
                .job(id)
                .unwrap_or_else(|e| cli::fatal(&e.to_string()));
            let _ = write!(std::io::stdout(), "{}", report::status_table(&job));
            0
        }
        "timeline" => {
            let id = job_arg(args);
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
        "results" => results(&m, &dial, job_arg(args)),
        "cancel" => {
            let id = job_arg(args);
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

fn one_arg<'a>(args: &'a [String], usage: &str) -> &'a str {
    match args {
        [one] => one,
        _ => cli::usage_error(&format!("usage: client {usage}")),
    }
}

fn no_args(args: &[String], command: &str) {
    if !args.is_empty() {
        cli::usage_error(&format!("{command} takes no arguments, got {args:?}"));
    }
}

fn job_arg(args: &[String]) -> u64 {
    let text = one_arg(args, "COMMAND JOB");
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
    let slots: u32 = conn
        .workers()
        .unwrap_or_else(|e| cli::fatal(&e.to_string()))
        .iter()
        .filter(|w| w.state == minispark::protocol::WorkerState::Alive)
        .map(|w| w.slots)
        .sum();
    let overrides = params(m);
    let req = submission::Request {
        path: Path::new(file),
        overrides: &overrides,
        overwrite: m.opt_present("overwrite"),
        slots,
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
    let refresh = cli::millis(m, "refresh-ms", 1000);
    let job = watch(&mut conn, id, refresh);
    match job.state {
        JobState::Succeeded => {
            say!("job {id} SUCCEEDED in {}", report::secs(job.elapsed_ms));
            0
        }
        state => {
            eprintln!("job {id} {state}: {}", job.error);
            1
        }
    }
}

/// Follows the job until it ends, drawing a progress bar on a terminal and
/// plain lines (one per change) otherwise, on stderr. Each `WaitJob` returns
/// as soon as a task completes, so the end is seen at once.
fn watch(conn: &mut Client, id: u64, refresh: Duration) -> JobReport {
    let tty = std::io::stderr().is_terminal();
    let mut last = String::new();
    let mut done = u32::MAX;
    loop {
        let job = conn
            .wait_job(id, done, refresh)
            .unwrap_or_else(|e| cli::fatal(&e.to_string()));
        let total;
        (done, total) = report::progress(&job);
        if tty {
            eprint!("\r{}\x1b[K", report::progress_bar(&job, 30));
        } else {
            let line = format!("job {id} {} {done}/{total} tasks", job.state);
            if line != last {
                eprintln!("{line}");
                last = line;
            }
        }
        if job.state.is_final() {
            if tty {
                eprintln!();
            }
            return job;
        }
    }
}

fn results(m: &Matches, dial: &Dial, id: u64) -> i32 {
    let job = connect(m, dial)
        .job(id)
        .unwrap_or_else(|e| cli::fatal(&e.to_string()));
    if job.state != JobState::Succeeded {
        eprintln!(
            "job {id} is {}; results are ready once it SUCCEEDED",
            job.state
        );
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
