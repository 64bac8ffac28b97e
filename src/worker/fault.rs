//! Fault injection: a worker that fails, crashes or stalls on purpose
//! (`worker --fail-probability P --crash-probability P --slow-probability P
//! --slow-ms N --fault-seed S`), so tests and demos can watch the master
//! recover.
//!
//! OS idea: failure is normal. A process can die at any instruction (here
//! `exit(2)` in the middle of a task: no cleanup, no goodbye to the master,
//! half-written files left behind, sockets reset by the kernel), and a slow
//! process looks, from outside, just like a dead one until it answers. The
//! choices come from a seeded generator, one draw per attempt in launch
//! order, so a run with the same seed fails the same attempts.

use std::sync::Mutex;
use std::time::Duration;

use crate::event;
use crate::lock;
use crate::rng::Rng;

/// The exit status of an injected crash.
pub const CRASH_EXIT: i32 = 86;

/// An injected crash happens this long after its attempt starts, at most
/// (drawn uniformly), or when the attempt ends if that is sooner.
pub const CRASH_WINDOW: Duration = Duration::from_millis(300);

/// The worker's fault flags.
#[derive(Debug, Clone)]
pub struct FaultConfig {
    pub fail: f64,
    pub crash: f64,
    pub slow: f64,
    /// How long a slow attempt sleeps before it reports.
    pub slow_for: Duration,
    pub seed: u64,
}

impl Default for FaultConfig {
    fn default() -> FaultConfig {
        FaultConfig {
            fail: 0.0,
            crash: 0.0,
            slow: 0.0,
            slow_for: Duration::from_millis(2000),
            seed: 0,
        }
    }
}

/// What happens to one attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    None,
    /// The attempt runs, then reports a failure (its output discarded).
    Fail,
    /// The process exits this long after the attempt starts, or when the
    /// attempt ends, whichever comes first; it never reports.
    Crash {
        after: Duration,
    },
    /// The attempt sleeps this long before it reports (unless cancelled).
    Slow(Duration),
}

/// Draws a fault for each attempt.
pub struct Faults {
    config: FaultConfig,
    rng: Mutex<Rng>,
}

impl Faults {
    pub fn new(config: FaultConfig) -> Faults {
        Faults {
            rng: Mutex::new(Rng::new(config.seed)),
            config,
        }
    }

    /// The fault of the next attempt. Crash is decided first, then
    /// failure, then slowness: an attempt gets at most one.
    pub fn next(&self) -> Fault {
        let c = &self.config;
        if c.fail <= 0.0 && c.crash <= 0.0 && c.slow <= 0.0 {
            return Fault::None;
        }
        let mut rng = lock(&self.rng);
        let (crash, fail, slow) = (rng.unit(), rng.unit(), rng.unit());
        let window = CRASH_WINDOW.as_millis() as u64;
        let after = Duration::from_millis(rng.below(window + 1));
        if crash < c.crash {
            Fault::Crash { after }
        } else if fail < c.fail {
            Fault::Fail
        } else if slow < c.slow {
            Fault::Slow(c.slow_for)
        } else {
            Fault::None
        }
    }
}

/// Ends the process abruptly, as `kill -9` would, but logged first.
pub fn crash(attempt: u64) -> ! {
    event!(
        Error,
        "worker",
        "crash_injected",
        attempt = attempt,
        exit = CRASH_EXIT
    );
    std::process::exit(CRASH_EXIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draws(config: FaultConfig, n: usize) -> Vec<Fault> {
        let faults = Faults::new(config);
        (0..n).map(|_| faults.next()).collect()
    }

    #[test]
    fn no_flags_no_faults() {
        assert!(draws(FaultConfig::default(), 100)
            .iter()
            .all(|f| *f == Fault::None));
    }

    #[test]
    fn probabilities_are_honoured_and_seeded() {
        let config = FaultConfig {
            fail: 0.3,
            seed: 7,
            ..FaultConfig::default()
        };
        let a = draws(config.clone(), 2000);
        assert_eq!(a, draws(config, 2000), "same seed, same faults");
        let fails = a.iter().filter(|f| **f == Fault::Fail).count();
        assert!((450..750).contains(&fails), "{fails} of 2000");
        let always = FaultConfig {
            crash: 1.0,
            ..FaultConfig::default()
        };
        for f in draws(always, 100) {
            let Fault::Crash { after } = f else {
                panic!("{f:?}")
            };
            assert!(after <= CRASH_WINDOW);
        }
    }
}
