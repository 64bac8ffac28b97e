//! A process's own CPU time and resident memory, read from procfs, as a
//! worker reports them in each heartbeat.
//!
//! OS idea: the kernel keeps accounting for every process and exposes it as
//! text files under `/proc`; reading `/proc/self/...` asks about the process
//! doing the reading. Two files are enough here:
//!
//! * `/proc/self/stat`: one line of space-separated fields. Field 14
//!   (`utime`) and field 15 (`stime`) are the CPU time spent in user mode and
//!   in the kernel on this process's behalf, summed over all its threads.
//! * `/proc/self/status`: `Name: value` lines for humans; `VmRSS` is the
//!   resident set size, the memory actually in RAM, in kB (KiB).
//!
//! `utime` and `stime` count clock ticks of `USER_HZ`. C programs ask
//! `sysconf(_SC_CLK_TCK)` for it, which we cannot call without libc, but we
//! need not: `USER_HZ` is part of the `/proc` ABI and is fixed at 100 on all
//! mainstream architectures (x86, ARM, RISC-V, ...), whatever the kernel's
//! internal `HZ`, so that user space never had to care. One tick is 10 ms.
//!
//! CPU time is a running total; CPU *use* is a rate. So it takes two
//! samples and the wall time between them: a process that gained 50 ticks
//! (500 ms of CPU) in 1 s of wall time kept half a core busy. `CpuMeter`
//! remembers the previous sample to do that division.

use std::fs;
use std::time::{Duration, Instant};

/// Where the kernel publishes this process's CPU times.
const STAT_PATH: &str = "/proc/self/stat";
/// Where the kernel publishes this process's memory figures.
const STATUS_PATH: &str = "/proc/self/status";
/// Nanoseconds in one `USER_HZ` tick (1 s / 100).
const NANOS_PER_TICK: u128 = 10_000_000;
/// Position of `utime` among the fields after the command name: fields are
/// numbered from 1, `pid` and `comm` are fields 1 and 2, so field 3 (`state`)
/// is the first one after the `)`, at index 0.
const UTIME_AFTER_COMM: usize = 14 - 3;
/// Position of `stime`, the field right after `utime`.
const STIME_AFTER_COMM: usize = UTIME_AFTER_COMM + 1;
/// Bytes in procfs's "kB", which is really KiB.
const BYTES_PER_KB: u64 = 1024;

/// One sample of this process's accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// CPU time used so far, user plus kernel (`utime + stime`), in ticks of
    /// 10 ms.
    pub cpu_ticks: u64,
    /// Resident memory right now, in bytes.
    pub rss_bytes: u64,
}

/// Reads `/proc/self/stat` (fields 14 `utime` and 15 `stime`, counted after
/// the `)` that ends the comm field, because comm may contain spaces and
/// parentheses) and `/proc/self/status` (`VmRSS:   1234 kB`).
///
/// # Errors
///
/// Names the file and what was wrong: unreadable (no procfs, as on macOS) or
/// not in the expected format.
pub fn sample() -> Result<Sample, String> {
    let stat = read_lossy(STAT_PATH)?;
    let status = read_lossy(STATUS_PATH)?;
    Ok(Sample {
        cpu_ticks: parse_stat(&stat).map_err(|e| format!("{STAT_PATH}: {e}"))?,
        rss_bytes: parse_status_rss(&status).map_err(|e| format!("{STATUS_PATH}: {e}"))?,
    })
}

/// Reads a whole procfs file as text. Both files quote the command name,
/// which a program may set to any bytes (`prctl(PR_SET_NAME)`), so they need
/// not be UTF-8; the numbers we want are ASCII either way.
fn read_lossy(path: &str) -> Result<String, String> {
    let bytes = fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Parses the text of a `/proc/<pid>/stat` file into `utime + stime`, in
/// ticks.
///
/// The line starts `pid (comm) state ...`. The command name is whatever the
/// program called itself and may hold spaces and `)`, so splitting the whole
/// line on spaces would shift every field. The kernel writes no `)` after
/// comm's closing one, so the *last* `)` in the line is where comm ends.
///
/// # Errors
///
/// Says which part is missing or not a number.
pub fn parse_stat(text: &str) -> Result<u64, String> {
    let comm_end = text
        .rfind(')')
        .ok_or("no ')' ending the command name (field 2)")?;
    let fields: Vec<&str> = text[comm_end + 1..].split_ascii_whitespace().collect();
    let utime = stat_field(&fields, UTIME_AFTER_COMM, "utime (field 14)")?;
    let stime = stat_field(&fields, STIME_AFTER_COMM, "stime (field 15)")?;
    // Each is far below u64::MAX in practice; saturate rather than trust it.
    Ok(utime.saturating_add(stime))
}

/// Parses one numeric field of the stat line, counted after the comm field.
fn stat_field(fields: &[&str], index: usize, name: &str) -> Result<u64, String> {
    let text = fields.get(index).ok_or_else(|| {
        format!(
            "{name} missing: only {} fields after the command name",
            fields.len()
        )
    })?;
    text.parse()
        .map_err(|_| format!("{name} is {text:?}, not a tick count"))
}

/// Parses the text of a `/proc/<pid>/status` file into the resident set size
/// in bytes, from its `VmRSS:   1234 kB` line.
///
/// # Errors
///
/// Says so if there is no `VmRSS` line (kernel threads have none) or it is not
/// a number of kB.
pub fn parse_status_rss(text: &str) -> Result<u64, String> {
    let value = text
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .ok_or("no VmRSS line")?;
    let mut words = value.split_ascii_whitespace();
    let (Some(number), Some("kB"), None) = (words.next(), words.next(), words.next()) else {
        return Err(format!(
            "VmRSS is {:?}, expected a number and \"kB\"",
            value.trim()
        ));
    };
    let kb: u64 = number
        .parse()
        .map_err(|_| format!("VmRSS is {number:?} kB, not a number"))?;
    Ok(kb.saturating_mul(BYTES_PER_KB))
}

/// Tracks CPU use between successive samples; a new one has no previous
/// sample, so its first `measure` reports 0.
#[derive(Debug, Default)]
pub struct CpuMeter {
    /// The previous sample and when it was taken; `None` before the first.
    last: Option<(Sample, Instant)>,
}

impl CpuMeter {
    /// Takes a sample; returns (cpu use since the previous call in tenths of
    /// a percent of one core — 1000 = one core busy, can exceed 1000 with
    /// several threads; 0 on the first call), and the sample.
    ///
    /// # Errors
    ///
    /// As `sample`: if `/proc` is unreadable or not as expected. The meter
    /// then keeps its previous sample, so the next success spans both calls.
    pub fn measure(&mut self) -> Result<(u32, Sample), String> {
        let next = sample()?;
        let now = Instant::now();
        let permille = match self.last {
            Some((prev, then)) => CpuMeter::permille(prev, next, now - then),
            None => 0,
        };
        self.last = Some((next, now));
        Ok((permille, next))
    }

    /// The same computation from explicit samples and elapsed time (for
    /// tests): ticks delta * 10 ms per tick / elapsed * 1000, rounded down,
    /// saturating, 0 when elapsed is 0.
    ///
    /// Works in nanoseconds and `u128`, so nothing overflows before the final
    /// saturation to `u32`. A tick count that went backwards (impossible for
    /// one process, but these are just numbers) counts as no use.
    pub fn permille(prev: Sample, next: Sample, elapsed: Duration) -> u32 {
        let elapsed_nanos = elapsed.as_nanos();
        if elapsed_nanos == 0 {
            return 0;
        }
        let ticks = u128::from(next.cpu_ticks.saturating_sub(prev.cpu_ticks));
        let cpu_nanos = ticks * NANOS_PER_TICK;
        let permille = cpu_nanos * 1000 / elapsed_nanos;
        u32::try_from(permille).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stat line as `cat /proc/self/stat` printed it, utime 7 and stime 3.
    const STAT_LINE: &str = "8287 (cat) R 8283 8283 7310 0 -1 4194304 100 0 0 0 7 3 0 0 \
        20 0 1 0 994919 3133440 414 18446744073709551615 94307712999424 94307713019305 \
        140724636094720 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94307713035312 94307713036928 \
        94308449628160 140724636101330 140724636101350 140724636101350 140724636102635 0\n";

    const STATUS_TEXT: &str = "Name:\tminispark\n\
        Umask:\t0022\n\
        State:\tR (running)\n\
        Tgid:\t8287\n\
        Pid:\t8287\n\
        PPid:\t8283\n\
        VmPeak:\t    5512 kB\n\
        VmSize:\t    5512 kB\n\
        VmLck:\t       0 kB\n\
        VmHWM:\t    2152 kB\n\
        VmRSS:\t    2152 kB\n\
        RssAnon:\t      88 kB\n\
        RssFile:\t    2064 kB\n\
        Threads:\t1\n";

    fn ticks(cpu_ticks: u64) -> Sample {
        Sample {
            cpu_ticks,
            rss_bytes: 0,
        }
    }

    #[test]
    fn parse_stat_adds_utime_and_stime() {
        assert_eq!(parse_stat(STAT_LINE), Ok(10));
    }

    #[test]
    fn parse_stat_comm_with_spaces_and_parens() {
        let line = "1234 (my) proc) S 1 1234 1234 0 -1 4194560 50 0 0 0 120 45 0 0 20 0 3 0 100\n";
        assert_eq!(parse_stat(line), Ok(165));
        let line = "1234 (a (b) c) S 1 1234 1234 0 -1 4194560 50 0 0 0 1 2 0 0 20 0 3 0 100";
        assert_eq!(parse_stat(line), Ok(3));
    }

    #[test]
    fn parse_stat_errors_name_what_is_missing() {
        let err = parse_stat("1234 cat S 1 2 3").unwrap_err();
        assert!(err.contains("')'"), "{err}");

        let err = parse_stat("1234 (cat) S 1 1234 1234 0 -1 4194560 50 0 0 0 120").unwrap_err();
        assert!(err.contains("stime"), "{err}");

        let err = parse_stat("1234 (cat) S 1 1234").unwrap_err();
        assert!(err.contains("utime"), "{err}");

        let err = parse_stat("1234 (cat) S 1 1234 1234 0 -1 4194560 50 0 0 0 x 45 0").unwrap_err();
        assert!(err.contains("utime") && err.contains("\"x\""), "{err}");

        assert!(parse_stat("").is_err());
    }

    #[test]
    fn parse_status_rss_reads_vmrss_in_bytes() {
        assert_eq!(parse_status_rss(STATUS_TEXT), Ok(2152 * 1024));
    }

    #[test]
    fn parse_status_rss_errors() {
        let no_rss = STATUS_TEXT.replace("VmRSS:", "VmXXX:");
        let err = parse_status_rss(&no_rss).unwrap_err();
        assert!(err.contains("VmRSS"), "{err}");

        let err = parse_status_rss("VmRSS:\t lots kB\n").unwrap_err();
        assert!(err.contains("lots"), "{err}");

        let err = parse_status_rss("VmRSS:\t 2152 MB\n").unwrap_err();
        assert!(err.contains("kB"), "{err}");

        assert!(parse_status_rss("").is_err());
    }

    #[test]
    fn permille_arithmetic() {
        let second = Duration::from_secs(1);
        assert_eq!(CpuMeter::permille(ticks(0), ticks(50), second), 500);
        assert_eq!(CpuMeter::permille(ticks(100), ticks(200), second), 1000);
        // Four threads busy for a second: four cores.
        assert_eq!(CpuMeter::permille(ticks(0), ticks(400), second), 4000);
        // 1 tick (10 ms) over 30 ms is 333.3...; rounds down.
        let thirty_ms = Duration::from_millis(30);
        assert_eq!(CpuMeter::permille(ticks(0), ticks(1), thirty_ms), 333);
        assert_eq!(CpuMeter::permille(ticks(5), ticks(5), second), 0);
    }

    #[test]
    fn permille_edge_cases() {
        assert_eq!(CpuMeter::permille(ticks(0), ticks(50), Duration::ZERO), 0);
        // Backwards counts are no use, not a wrapped huge number.
        let second = Duration::from_secs(1);
        assert_eq!(CpuMeter::permille(ticks(50), ticks(0), second), 0);
        let one_ns = Duration::from_nanos(1);
        assert_eq!(
            CpuMeter::permille(ticks(0), ticks(u64::MAX), one_ns),
            u32::MAX
        );
    }

    #[test]
    fn live_sample_on_this_machine() {
        let s = sample().expect("procfs should be readable on Linux");
        assert!(s.rss_bytes > 0, "{s:?}");
    }

    #[test]
    fn live_measure_sees_busy_loop() {
        let mut meter = CpuMeter::default();
        let (first, before) = meter.measure().unwrap();
        assert_eq!(first, 0);
        assert!(before.rss_bytes > 0);

        let start = Instant::now();
        let mut x: u64 = 1;
        while start.elapsed() < Duration::from_millis(50) {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        std::hint::black_box(x);

        let (permille, after) = meter.measure().unwrap();
        assert!(permille > 0, "{before:?} -> {after:?}");
        assert!(after.cpu_ticks > before.cpu_ticks);
    }
}
