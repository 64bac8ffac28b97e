//! `client`: talks to the master over the binary protocol.

use std::time::Duration;

use getopts::Options;
use minispark::client::{self, Client};
use minispark::{cli, text_mode};

const BRIEF: &str = "\
Usage: client [options] COMMAND

Commands:
  workers   list the workers the master knows, one per line
  ping      check that the master answers, and how fast";

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
    cli::common_flags(&mut opts);
    let m = cli::parse(&opts, &args, BRIEF);
    let addr = client::master_addr(m.opt_str("master"));
    let timeout: Duration = cli::millis(&m, "timeout-ms", 5000);
    let Some(command) = m.free.first() else {
        cli::usage_error(&opts.usage(BRIEF));
    };
    if m.free.len() > 1 {
        cli::usage_error(&format!(
            "{command} takes no arguments, got {:?}",
            &m.free[1..]
        ));
    }
    let mut conn = Client::connect(&addr, timeout).unwrap_or_else(|e| cli::fatal(&e.to_string()));
    match command.as_str() {
        "workers" => {
            let workers = conn
                .workers()
                .unwrap_or_else(|e| cli::fatal(&e.to_string()));
            for w in &workers {
                println!("{}", text_mode::worker_line(w));
            }
        }
        "ping" => {
            let rtt = conn.ping().unwrap_or_else(|e| cli::fatal(&e.to_string()));
            println!("pong from {addr} in {:.3} ms", rtt.as_secs_f64() * 1000.0);
        }
        other => cli::usage_error(&format!(
            "unknown command {other:?}\n\n{}",
            opts.usage(BRIEF)
        )),
    }
}
