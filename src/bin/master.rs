//! `master`: the coordinator. Parses flags, binds, and hands over to
//! `minispark::master::run`.

use std::time::Duration;

use getopts::Options;
use minispark::master::SchedulerConfig;
use minispark::{cli, master};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts = Options::new();
    opts.optopt(
        "p",
        "port",
        "port to listen on; 0 lets the OS pick (default 7000)",
        "N",
    );
    opts.optopt("", "bind", "address to listen on (default 0.0.0.0)", "ADDR");
    opts.optopt(
        "",
        "heartbeat-timeout-ms",
        "declare a worker DEAD after this much silence (default 10000)",
        "N",
    );
    opts.optopt(
        "",
        "max-attempts",
        "failed attempts after which a task fails its job (default 3)",
        "N",
    );
    opts.optopt(
        "",
        "task-timeout-ms",
        "abandon a task attempt running longer than this and retry it elsewhere; 0 is off \
         (default 0)",
        "N",
    );
    opts.optflag(
        "",
        "speculation",
        "once 75% of a stage is done, give a task running over 1.5x the median a second \
         attempt on another worker (default: off)",
    );
    opts.optopt(
        "",
        "state-dir",
        "where the master keeps its journal, to survive a restart (default ./state)",
        "DIR",
    );
    opts.optopt(
        "",
        "retained-jobs",
        "finished jobs kept for status queries; older ones are forgotten (default 100)",
        "N",
    );
    cli::limit_flags(&mut opts);
    cli::common_flags(&mut opts);
    let m = cli::parse(
        "master",
        &opts,
        &args,
        "Usage: master [options]\n\nThe Mini-Spark master. Prints its bound address as the first line on stdout.",
    );
    let secret = cli::secret(&m);
    let timeout = Duration::from_millis(cli::value(&m, "task-timeout-ms", 0));
    let heartbeat_timeout = cli::millis(&m, "heartbeat-timeout-ms", 10_000);
    let config = master::MasterConfig {
        heartbeat_timeout,
        scheduling: SchedulerConfig {
            max_attempts: cli::value(&m, "max-attempts", 3u32).max(1),
            task_timeout: (!timeout.is_zero()).then_some(timeout),
            speculation: m.opt_present("speculation"),
            state_dir: Some(
                m.opt_str("state-dir")
                    .unwrap_or_else(|| "state".into())
                    .into(),
            ),
            recovery_grace: heartbeat_timeout,
            retained_jobs: cli::value(&m, "retained-jobs", 100usize).max(1),
        },
        limits: cli::limits(&m),
        secret,
    };
    let listener = cli::bind(
        &m.opt_str("bind").unwrap_or_else(|| "0.0.0.0".into()),
        cli::value(&m, "port", 7000u16),
    );
    match listener.local_addr() {
        Ok(addr) => {
            cli::announce(addr);
            if config.secret.is_none() && !addr.ip().is_loopback() {
                minispark::event!(
                    Warn,
                    "master",
                    "no_secret",
                    addr = addr,
                    warning = "anyone who can reach this port can run jobs, and commands on \
                               workers started with --allow-pipe; use --secret-file, or \
                               --bind 127.0.0.1"
                );
            }
        }
        Err(e) => cli::fatal(&format!("reading the bound address: {e}")),
    }
    if let Err(e) = master::run(listener, config) {
        cli::fatal(&e.to_string());
    }
}
