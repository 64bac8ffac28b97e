//! A stop signal: a channel that nobody sends on, closed to say "stop".
//!
//! OS idea: the Rust Book's ThreadPool stops its workers by dropping its
//! `Sender`: every `recv` then fails, and a worker takes that as "stop". No
//! flag to poll and no lost wake-up: a thread asleep in `recv_timeout` (a
//! timer that ends early) wakes the moment the channel closes. An `mpsc`
//! channel has a single receiver, so to stop several threads `Stop` keeps
//! one `Sender` per watcher, in one list: each `StopSignal` is the
//! receiving end of a channel of its own, and dropping the `Stop` drops the
//! list, and with it every `Sender`. The list's going is the instant of the
//! stop (`is_stopped`); the channels' closing wakes whoever sleeps.
//!
//! A thread blocked in a system call other than the channel's is woken by
//! one that waits on the channel (`StopSignal::on_stop`): an `accept` by a
//! connection to its own listener, a `read` by `shutdown(2)` on its socket.
//!
//! `Stop` also owns the handles of the threads it stops: `stop` returns once
//! they have all ended, so a test can start a master or a worker in its own
//! process, stop it, and know that nothing of it is left running.

use std::io;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, Weak};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::lock;

/// One `Sender` per `StopSignal` handed out.
type Senders = Mutex<Vec<Sender<()>>>;

/// The owner's end: dropping it, or calling `stop`, stops every thread
/// watching one of its signals, and waits for the threads it owns.
pub struct Stop {
    /// `None` once stopped: taking it closes every channel.
    senders: Option<Arc<Senders>>,
    /// Joined by `stop`, `wait` and drop.
    threads: Vec<JoinHandle<()>>,
}

/// A watcher's end: asks whether the stop has come, or sleeps until it does.
pub struct StopSignal {
    rx: Receiver<()>,
    /// Where clones register their `Sender`; gone once stopped.
    senders: Weak<Senders>,
}

impl Default for Stop {
    fn default() -> Stop {
        Stop::new()
    }
}

impl Stop {
    pub fn new() -> Stop {
        Stop {
            senders: Some(Arc::new(Mutex::new(Vec::new()))),
            threads: Vec::new(),
        }
    }

    /// A new signal, closed when this `Stop` is.
    pub fn signal(&self) -> StopSignal {
        let senders = self.senders.as_ref().map_or_else(Weak::new, Arc::downgrade);
        StopSignal::registered(senders)
    }

    /// Starts a thread named `name` that `stop` will wait for: `f` must
    /// return once a signal of this `Stop` closes.
    ///
    /// # Errors
    /// The OS refused to create the thread.
    pub fn spawn(&mut self, name: &str, f: impl FnOnce() + Send + 'static) -> io::Result<()> {
        let thread = thread::Builder::new().name(name.into()).spawn(f)?;
        self.threads.push(thread);
        Ok(())
    }

    /// Takes a thread already started (one that ends on a signal of this
    /// `Stop`), for `stop` to wait for.
    pub fn adopt(&mut self, thread: JoinHandle<()>) {
        self.threads.push(thread);
    }

    /// Closes every signal and waits for every thread.
    ///
    /// # Errors
    /// Names the threads that panicked.
    pub fn stop(mut self) -> Result<(), String> {
        self.close();
        self.join()
    }

    /// Waits for the threads without stopping them: for a process that
    /// serves until it is killed.
    ///
    /// # Errors
    /// Names the threads that panicked.
    pub fn wait(mut self) -> Result<(), String> {
        self.join()
    }

    fn close(&mut self) {
        drop(self.senders.take());
    }

    fn join(&mut self) -> Result<(), String> {
        let mut panicked = Vec::new();
        for thread in self.threads.drain(..) {
            let name = thread.thread().name().unwrap_or("?").to_string();
            if thread.join().is_err() {
                panicked.push(name);
            }
        }
        if panicked.is_empty() {
            Ok(())
        } else {
            Err(format!("thread {} panicked", panicked.join(", ")))
        }
    }
}

impl Drop for Stop {
    fn drop(&mut self) {
        self.close();
        let _ = self.join();
    }
}

impl StopSignal {
    /// A channel whose `Sender` lives in `senders`; already closed when
    /// `senders` is gone (the stop has come).
    fn registered(senders: Weak<Senders>) -> StopSignal {
        let (tx, rx) = mpsc::channel();
        // If the `Stop` is dropped while we hold this `Arc`, the list (and
        // `tx` in it) goes when we let go: the new channel closes too.
        if let Some(list) = senders.upgrade() {
            lock(&list).push(tx);
        }
        StopSignal { rx, senders }
    }

    /// Whether the stop has come; never blocks.
    ///
    /// The channels close one after another as the list of senders is
    /// dropped, so a watcher woken by its own could act (connect to wake an
    /// `accept`, say) before another's has closed. The list's last `Arc`
    /// goes first, in one step, before any sender: once it is gone, the
    /// stop has come for every signal.
    pub fn is_stopped(&self) -> bool {
        self.senders.strong_count() == 0
    }

    /// Sleeps for `timeout`, or less if the stop comes first. Returns
    /// whether it has come.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        // Nothing is ever sent: the only news is the channel's closing.
        let _ = self.rx.recv_timeout(timeout);
        self.is_stopped()
    }

    /// Sleeps until the stop comes.
    pub fn wait(&self) {
        let _ = self.rx.recv();
    }

    /// Starts a thread named `name` that sleeps until the stop, then runs
    /// `wake`: how a thread blocked in `accept` or `read`, which no channel
    /// can interrupt, is told to stop.
    ///
    /// # Errors
    /// The OS refused to create the thread.
    pub fn on_stop(
        &self,
        name: &str,
        wake: impl FnOnce() + Send + 'static,
    ) -> io::Result<JoinHandle<()>> {
        let signal = self.clone();
        thread::Builder::new().name(name.into()).spawn(move || {
            signal.wait();
            wake();
        })
    }
}

impl Clone for StopSignal {
    /// Another watcher of the same stop, on a channel of its own.
    fn clone(&self) -> StopSignal {
        StopSignal::registered(self.senders.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn every_signal_sees_the_stop_and_stop_joins_the_threads() {
        let mut stop = Stop::new();
        let (a, b) = (stop.signal(), stop.signal());
        let c = b.clone();
        assert!(!a.is_stopped() && !c.is_stopped());
        assert!(!a.wait_timeout(Duration::from_millis(5)));
        let (tx, rx) = mpsc::channel();
        stop.spawn("test-watcher", move || {
            // Long timeouts: the stop must cut them short.
            while !c.wait_timeout(Duration::from_secs(60)) {}
            tx.send(()).unwrap();
        })
        .unwrap();
        let woken = b.on_stop("test-waker", || {}).unwrap();
        stop.adopt(woken);
        let started = Instant::now();
        stop.stop().unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(rx.try_recv().is_ok(), "the watcher ran to its end first");
        assert!(a.is_stopped());
        assert!(a.wait_timeout(Duration::from_secs(60)));
        // A signal cloned after the stop is stopped from birth.
        assert!(a.clone().is_stopped());
    }

    #[test]
    fn dropping_the_stop_stops_too_and_wait_reports_panics() {
        let stop = Stop::new();
        let signal = stop.signal();
        drop(stop);
        assert!(signal.is_stopped());
        let mut stop = Stop::new();
        stop.spawn("test-panic", || panic!("on purpose")).unwrap();
        let err = stop.wait().unwrap_err();
        assert!(err.contains("test-panic"), "{err}");
    }
}
