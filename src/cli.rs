//! Shared command-line plumbing for the thin binaries in `src/bin/`: flag
//! parsing with `getopts`, `--help` text with defaults, logging flags, and
//! the "first stdout line is the bound address" rule tests depend on.
//!
//! These helpers print and exit: they are only for `main` functions.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::process;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use getopts::{Matches, Options};

use crate::log;
use crate::net::Secret;

/// Exit status for a usage error (bad flag or argument).
pub const EXIT_USAGE: i32 = 2;

/// The version every binary prints under `--version`: the package's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Adds `--help`, `--version`, `--quiet`, `--verbose` and `--secret-file`.
pub fn common_flags(opts: &mut Options) {
    opts.optflag("h", "help", "print this help and exit");
    opts.optflag("", "version", "print the name and version and exit");
    opts.optopt(
        "",
        "secret-file",
        "authenticate every binary connection with the secret in this file \
         (default $MINISPARK_SECRET_FILE; none: no authentication)",
        "PATH",
    );
    opts.optflag("q", "quiet", "log only warnings and errors");
    opts.optflag(
        "v",
        "verbose",
        "log debug events too (every heartbeat, every frame)",
    );
}

/// Adds `--max-connections` and `--idle-timeout-ms` (master and worker).
pub fn limit_flags(opts: &mut Options) {
    let d = crate::net::Limits::default();
    opts.optopt(
        "",
        "max-connections",
        &format!(
            "connections served at once; more are refused (default {})",
            d.max_connections
        ),
        "N",
    );
    opts.optopt(
        "",
        "idle-timeout-ms",
        &format!(
            "close a connection that sends nothing for this long (default {})",
            d.idle_timeout.as_millis()
        ),
        "N",
    );
}

/// The values of `limit_flags`.
pub fn limits(m: &Matches) -> crate::net::Limits {
    let d = crate::net::Limits::default();
    let max_connections: usize = value(m, "max-connections", d.max_connections);
    if max_connections == 0 {
        usage_error("--max-connections must be at least 1");
    }
    crate::net::Limits {
        max_connections,
        idle_timeout: millis(m, "idle-timeout-ms", d.idle_timeout.as_millis() as u64),
    }
}

/// Parses the arguments of binary `name` (without the program name). Prints
/// help and exits 0 on `--help`, `NAME VERSION` on `--version`; prints the
/// problem and exits 2 on a bad flag. Sets the log level.
pub fn parse(name: &str, opts: &Options, args: &[String], brief: &str) -> Matches {
    let matches = match opts.parse(args) {
        Ok(m) => m,
        Err(e) => usage_error(&format!("{e}\n\n{}", opts.usage(brief))),
    };
    if matches.opt_present("help") {
        print!("{}", opts.usage(brief));
        process::exit(0);
    }
    if matches.opt_present("version") {
        print_version(name);
    }
    log::set_level(log::level_from_flags(
        matches.opt_present("quiet"),
        matches.opt_present("verbose"),
    ));
    matches
}

/// The secret of `--secret-file` (else `$MINISPARK_SECRET_FILE`), for the
/// configs that dial and accept with it; exits 2 when it cannot be loaded.
pub fn secret(m: &Matches) -> Option<Arc<Secret>> {
    match crate::net::from_flag_or_env(m.opt_str("secret-file")) {
        Ok(secret) => secret.map(Arc::new),
        Err(e) => usage_error(&e),
    }
}

/// Prints `NAME VERSION` on stdout and exits 0.
pub fn print_version(name: &str) -> ! {
    println!("{name} {VERSION}");
    process::exit(0)
}

/// Prints `error: msg` to stderr and exits with the usage status. Every
/// error a binary prints starts with `error: `, so a script (or a person)
/// finds it among the log lines.
pub fn usage_error(msg: &str) -> ! {
    eprintln!("error: {msg}");
    process::exit(EXIT_USAGE)
}

/// Prints `error: msg` to stderr and exits 1.
pub fn fatal(msg: &str) -> ! {
    eprintln!("error: {msg}");
    process::exit(1)
}

/// The value of flag `name` parsed as `T`, or `default` when absent.
pub fn value<T: FromStr>(m: &Matches, name: &str, default: T) -> T
where
    T::Err: std::fmt::Display,
{
    match m.opt_str(name) {
        None => default,
        Some(text) => text
            .parse()
            .unwrap_or_else(|e| usage_error(&format!("--{name} {text:?}: {e}"))),
    }
}

/// A milliseconds flag as a `Duration`; must be positive.
pub fn millis(m: &Matches, name: &str, default_ms: u64) -> Duration {
    let ms: u64 = value(m, name, default_ms);
    if ms == 0 {
        usage_error(&format!("--{name} must be at least 1"));
    }
    Duration::from_millis(ms)
}

/// A byte-size flag such as `512M`.
pub fn size(m: &Matches, name: &str, default: u64) -> u64 {
    match m.opt_str(name) {
        None => default,
        Some(text) => crate::size::parse_size(&text)
            .unwrap_or_else(|e| usage_error(&format!("--{name}: {e}"))),
    }
}

/// Binds a listener or exits with a message naming the address.
pub fn bind(host: &str, port: u16) -> TcpListener {
    let addr = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    TcpListener::bind(&addr).unwrap_or_else(|e| fatal(&format!("cannot listen on {addr}: {e}")))
}

/// Prints the bound address as the first line on stdout, and flushes so a
/// parent process reading our stdout sees it at once.
pub fn announce(addr: SocketAddr) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{addr}");
    let _ = out.flush();
}

/// The number of CPU cores, the default for task slots.
pub fn cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}
