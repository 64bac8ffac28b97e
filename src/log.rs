//! Event logging: one line per event on stderr.
//!
//! Format: `TIME LEVEL COMPONENT EVENT key=value ...`, e.g.
//!
//! ```text
//! 2026-11-22T22:53:01.123Z INFO master worker_registered id=1 addr=127.0.0.1:40123 slots=2
//! ```
//!
//! so one `grep id=1` follows a worker's life. OS idea: stderr is a file
//! descriptor shared by every thread; each line is formatted first and
//! written with a single `write_all` under the stderr lock, so lines from
//! different threads never interleave.

use std::fmt::{Display, Write as _};
use std::io::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::protocol::quote;

/// How much to log. `--quiet` keeps `Warn` and above, `--verbose` adds `Debug`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

static MAX_LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// Sets the most detailed level that is printed.
pub fn set_level(level: Level) {
    MAX_LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Picks the level from the `--quiet` and `--verbose` flags.
pub fn level_from_flags(quiet: bool, verbose: bool) -> Level {
    match (quiet, verbose) {
        (true, _) => Level::Warn,
        (false, true) => Level::Debug,
        (false, false) => Level::Info,
    }
}

pub fn enabled(level: Level) -> bool {
    level as u8 <= MAX_LEVEL.load(Ordering::Relaxed)
}

/// Formats and writes one event line. Use the `event!` macro instead.
pub fn write(level: Level, component: &str, event: &str, fields: &[(&str, &dyn Display)]) {
    let mut line = String::with_capacity(128);
    let label = match level {
        Level::Error => "ERROR",
        Level::Warn => "WARN",
        Level::Info => "INFO",
        Level::Debug => "DEBUG",
    };
    let _ = write!(line, "{} {label} {component} {event}", utc_now());
    for (key, value) in fields {
        let _ = write!(line, " {key}={}", quote(&value.to_string()));
    }
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Logs an event: `event!(Info, "master", "worker_dead", id = 3, reason = "timeout")`.
#[macro_export]
macro_rules! event {
    ($level:ident, $component:expr, $event:expr $(, $key:ident = $value:expr)* $(,)?) => {
        if $crate::log::enabled($crate::log::Level::$level) {
            $crate::log::write(
                $crate::log::Level::$level,
                $component,
                $event,
                &[$((stringify!($key), &$value as &dyn ::std::fmt::Display)),*],
            );
        }
    };
}

/// The current time as RFC 3339 UTC with milliseconds.
pub fn utc_now() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_utc(since.as_secs(), since.subsec_millis())
}

/// Formats seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format_utc(secs: u64, millis: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a (year, month, day) date in the proleptic
/// Gregorian calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_utc(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_utc(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(format_utc(1_795_391_581, 123), "2026-11-22T23:53:01.123Z");
    }

    #[test]
    fn levels_order() {
        assert_eq!(level_from_flags(true, true), Level::Warn);
        assert_eq!(level_from_flags(false, true), Level::Debug);
        assert!(Level::Error < Level::Debug);
    }
}
