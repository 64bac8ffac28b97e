//! A counting semaphore: `permits` units of something (idle threads in the
//! task pool, connection places in a listener), taken and given back.
//!
//! OS idea: threads share one address space, so one that must wait for
//! another sleeps on a condition variable until something changes instead
//! of spinning. The semaphore is built by hand from `Mutex<usize>` +
//! `Condvar` to show how sleeping on a condition works:
//!
//! 1. Lock the mutex that guards the state (the permit count).
//! 2. While the condition is false (no permit), `wait` on the condvar: this
//!    atomically unlocks the mutex and sleeps; on wake-up it relocks.
//! 3. The condition is re-checked after every wake-up, so the wait is a
//!    `while` loop, not an `if`. A wake-up proves nothing: it may be spurious
//!    (POSIX allows `pthread_cond_wait` and Linux futexes to return with no
//!    signal), and between `notify_one` and our relocking another thread may
//!    have taken the permit that was released.
//! 4. Whoever changes the state notifies while (or right after) holding the
//!    lock, so no wake-up can fall between a waiter's check and its sleep.
//!
//! `Permit` is the guard form: dropped (normally, or while unwinding from a
//! panic) it gives its permit back, so a permit cannot leak.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use crate::lock;

/// A counting semaphore: `permits` units of something, taken with
/// `acquire` and given back with `release`.
#[derive(Debug)]
pub struct Semaphore {
    /// Permits not taken. Only ever changed by one, under the lock.
    permits: Mutex<usize>,
    /// Signalled each time a permit is released.
    released: Condvar,
}

impl Semaphore {
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            permits: Mutex::new(permits),
            released: Condvar::new(),
        }
    }

    /// Takes a permit, sleeping until one is free.
    pub fn acquire(&self) {
        let mut permits = self.lock();
        // A loop, not an `if`: see the module comment, point 3.
        while *permits == 0 {
            permits = self
                .released
                .wait(permits)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *permits -= 1;
    }

    /// Takes a permit if one is free; never sleeps.
    pub fn try_acquire(&self) -> bool {
        let mut permits = self.lock();
        if *permits == 0 {
            return false;
        }
        *permits -= 1;
        true
    }

    /// Gives a permit back and wakes one sleeper, if any. Each release
    /// frees exactly one permit, so waking more than one would be wasted.
    pub fn release(&self) {
        let mut permits = self.lock();
        *permits += 1;
        self.released.notify_one();
    }

    /// Permits free right now (may change as soon as it is returned).
    pub fn available(&self) -> usize {
        *self.lock()
    }

    /// `acquire`, returning a guard that releases on drop.
    pub fn acquire_owned(self: &Arc<Self>) -> Permit {
        self.acquire();
        Permit {
            semaphore: Arc::clone(self),
        }
    }

    /// `try_acquire`, returning a guard that releases on drop.
    pub fn try_acquire_owned(self: &Arc<Self>) -> Option<Permit> {
        self.try_acquire().then(|| Permit {
            semaphore: Arc::clone(self),
        })
    }

    /// The count is a plain integer changed in one step, so it is valid even
    /// if a thread panicked while holding the lock: poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, usize> {
        lock(&self.permits)
    }
}

/// One taken permit. Dropping it (normally, or while unwinding from a panic)
/// gives it back, so a permit cannot leak.
#[derive(Debug)]
pub struct Permit {
    semaphore: Arc<Semaphore>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.semaphore.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    #[test]
    fn semaphore_counts_permits() {
        let sem = Arc::new(Semaphore::new(2));
        assert!(sem.try_acquire());
        let permit = sem.acquire_owned();
        assert_eq!(sem.available(), 0);
        assert!(!sem.try_acquire());
        assert!(sem.try_acquire_owned().is_none());
        drop(permit);
        assert_eq!(sem.available(), 1);
        sem.release();
        assert_eq!(sem.available(), 2);
    }

    #[test]
    fn acquire_sleeps_until_release() {
        let sem = Arc::new(Semaphore::new(0));
        let got = Arc::new(AtomicBool::new(false));
        let (woken_tx, woken) = mpsc::channel();
        {
            let (sem, got) = (Arc::clone(&sem), Arc::clone(&got));
            thread::spawn(move || {
                sem.acquire();
                got.store(true, Ordering::SeqCst);
                let _ = woken_tx.send(());
            });
        }
        thread::sleep(Duration::from_millis(50));
        assert!(
            !got.load(Ordering::SeqCst),
            "acquire took a permit that was not there"
        );
        sem.release();
        // A bounded wait, so a lost wake-up fails the test instead of hanging it.
        woken
            .recv_timeout(Duration::from_secs(5))
            .expect("the sleeper was never woken: release must notify the condvar");
        assert_eq!(sem.available(), 0);
    }

    #[test]
    fn every_release_wakes_a_sleeper() {
        const SLEEPERS: usize = 4;
        let sem = Arc::new(Semaphore::new(0));
        let (woken_tx, woken) = mpsc::channel();
        for _ in 0..SLEEPERS {
            let (sem, woken_tx) = (Arc::clone(&sem), woken_tx.clone());
            thread::spawn(move || {
                sem.acquire();
                let _ = woken_tx.send(());
            });
        }
        for i in 0..SLEEPERS {
            sem.release();
            woken
                .recv_timeout(Duration::from_secs(5))
                .unwrap_or_else(|_| {
                    panic!(
                        "release {} of {SLEEPERS} woke nobody (a lost wake-up)",
                        i + 1
                    )
                });
        }
        assert_eq!(sem.available(), 0);
    }
}
