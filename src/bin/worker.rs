//! `worker`: executes tasks for the master. Parses flags, binds its data
//! port, and hands over to `minispark::worker::run`.

use getopts::Options;
use minispark::rng::Rng;
use minispark::worker::fault;
use minispark::{cli, client, worker};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts = Options::new();
    opts.optopt(
        "m",
        "master",
        "master address (default $MINISPARK_MASTER, else 127.0.0.1:7000)",
        "HOST:PORT",
    );
    opts.optopt(
        "p",
        "port",
        "data port for peers; 0 lets the OS pick (default 0)",
        "N",
    );
    opts.optopt(
        "",
        "bind",
        "address the data port listens on (default 0.0.0.0)",
        "ADDR",
    );
    opts.optopt(
        "",
        "advertise",
        "host peers use to reach the data port (default: the bind address, or if that is \
         0.0.0.0 the local address of the connection to the master)",
        "HOST",
    );
    let cores = cli::cores();
    opts.optopt(
        "",
        "slots",
        &format!("task slots (default: the number of cores, here {cores})"),
        "N",
    );
    opts.optopt(
        "",
        "memory",
        "memory budget for record data (default 512M)",
        "SIZE",
    );
    opts.optopt(
        "",
        "heartbeat-ms",
        "interval between heartbeats (default 3000)",
        "N",
    );
    opts.optopt(
        "",
        "reconnect-max-ms",
        "longest wait between attempts to reach the master (default 5000)",
        "N",
    );
    opts.optflag(
        "",
        "allow-pipe",
        "let jobs run shell commands here with pipe(command) (default: refused)",
    );
    opts.optopt(
        "",
        "work-dir",
        "where shuffle and spill files go; emptied at start (default: $TMPDIR/minispark-worker-PID)",
        "DIR",
    );
    opts.optopt(
        "",
        "fetches",
        "map outputs a reduce task fetches at once (default 4)",
        "N",
    );
    opts.optopt(
        "",
        "fetch-timeout-ms",
        "a shuffle fetch that connects or receives nothing for this long fails, naming its map task (default 30000)",
        "N",
    );
    opts.optopt(
        "",
        "fail-probability",
        "fault injection: each task attempt fails with this probability (default 0)",
        "P",
    );
    opts.optopt(
        "",
        "crash-probability",
        "fault injection: the process exits in the middle of a task attempt with this \
         probability (default 0)",
        "P",
    );
    opts.optopt(
        "",
        "slow-probability",
        "fault injection: a task attempt sleeps --slow-ms before it finishes with this \
         probability (default 0)",
        "P",
    );
    opts.optopt(
        "",
        "slow-ms",
        "how long a slow attempt sleeps (default 2000)",
        "N",
    );
    opts.optopt(
        "",
        "fault-seed",
        "seed for the fault choices, to reproduce a run (default: from the clock)",
        "N",
    );
    cli::limit_flags(&mut opts);
    cli::common_flags(&mut opts);
    let m = cli::parse(
        "worker",
        &opts,
        &args,
        "Usage: worker [options]\n\nA Mini-Spark worker. Prints its data port's bound address as the first line on stdout.",
    );
    let secret = cli::secret(&m);
    if let Some(host) = m.opt_str("advertise") {
        if let Err(why) = worker::check_advertise(&host) {
            cli::usage_error(&why);
        }
    }
    let slots: u32 = cli::value(&m, "slots", cores);
    if slots == 0 {
        cli::usage_error("--slots must be at least 1");
    }
    // Before the worker's threads start: see `trim.rs`.
    minispark::trim::limit_arenas(slots.saturating_mul(2));
    let config = worker::WorkerConfig {
        master: client::master_addr(m.opt_str("master")),
        slots,
        memory_bytes: cli::size(&m, "memory", 512 << 20),
        heartbeat: cli::millis(&m, "heartbeat-ms", 3000),
        reconnect_max: cli::millis(&m, "reconnect-max-ms", 5000),
        advertise_host: m.opt_str("advertise"),
        allow_pipe: m.opt_present("allow-pipe"),
        work_dir: m.opt_str("work-dir").map_or_else(
            || {
                let name = format!("{}{}", worker::DEFAULT_WORK_DIR_PREFIX, std::process::id());
                std::env::temp_dir().join(name)
            },
            std::path::PathBuf::from,
        ),
        fetches: cli::value(&m, "fetches", 4usize),
        fetch_timeout: cli::millis(&m, "fetch-timeout-ms", 30_000),
        faults: fault::FaultConfig {
            fail: probability(&m, "fail-probability"),
            crash: probability(&m, "crash-probability"),
            slow: probability(&m, "slow-probability"),
            slow_for: cli::millis(&m, "slow-ms", 2000),
            seed: cli::value(&m, "fault-seed", Rng::from_time().next_u64()),
        },
        limits: cli::limits(&m),
        secret,
    };
    let listener = cli::bind(
        &m.opt_str("bind").unwrap_or_else(|| "0.0.0.0".into()),
        cli::value(&m, "port", 0u16),
    );
    match listener.local_addr() {
        Ok(addr) => cli::announce(addr),
        Err(e) => cli::fatal(&format!("reading the bound address: {e}")),
    }
    if let Err(e) = worker::run(listener, config) {
        cli::fatal(&e.to_string());
    }
}

/// A probability flag: a number from 0 to 1.
fn probability(m: &getopts::Matches, name: &str) -> f64 {
    let p: f64 = cli::value(m, name, 0.0);
    if !(0.0..=1.0).contains(&p) {
        cli::usage_error(&format!("--{name} must be between 0 and 1, got {p}"));
    }
    p
}
