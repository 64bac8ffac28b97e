//! A fixed pool of threads that run tasks, with backpressure from a counting
//! semaphore.
//!
//! OS idea: threads share one address space, so they hand work to each
//! other through memory guarded by a mutex, and sleep on a condition
//! variable until something changes instead of spinning.
//!
//! - The job queue is a channel whose receiver sits behind a mutex: a worker
//!   holds the lock only while it takes a job (`recv`), never while it runs
//!   one. Shutdown is closing the channel: each worker's `recv` returns an
//!   error once the queue is drained, and the worker returns. No flags.
//! - Backpressure is a counting semaphore with as many permits as threads.
//!   `execute` takes a permit before queueing (sleeping while every thread is
//!   busy) and the permit goes back when the job ends, so the queue never
//!   holds more jobs than the pool can start at once.
//!
//! The semaphore (`net/semaphore.rs`, shared with the listener's connection
//! cap) is built by hand from `Mutex<usize>` + `Condvar`.

use std::any::Any;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use crate::lock;
use crate::net::{Permit, Semaphore};

/// A unit of work: runs once, on some pool thread.
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed number of named threads running jobs in submission order.
pub struct ThreadPool {
    workers: Vec<Worker>,
    /// `None` only during drop: taking it closes the channel.
    sender: Option<Sender<Job>>,
    /// One permit per thread; a permit is held from `execute` to job end.
    idle: Arc<Semaphore>,
    size: usize,
}

struct Worker {
    thread: JoinHandle<()>,
}

impl ThreadPool {
    /// Starts `size` threads named `NAME-0`, `NAME-1`, ...
    ///
    /// # Errors
    ///
    /// `size` is 0, or the OS refused to create a thread (the threads
    /// already started are stopped and joined).
    pub fn new(size: usize, name: &str) -> io::Result<ThreadPool> {
        if size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("thread pool {name}: size must be at least 1"),
            ));
        }
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        // Built up in place so that an early return drops (and joins) the
        // threads started so far.
        let mut pool = ThreadPool {
            workers: Vec::with_capacity(size),
            sender: Some(sender),
            idle: Arc::new(Semaphore::new(size)),
            size,
        };
        for id in 0..size {
            let receiver = Arc::clone(&receiver);
            let thread = thread::Builder::new()
                .name(format!("{name}-{id}"))
                .spawn(move || work(&receiver))
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("thread pool {name}: spawn thread {id}: {e}"),
                    )
                })?;
            pool.workers.push(Worker { thread });
        }
        Ok(pool)
    }

    /// Runs `job` on a pool thread. Blocks while all threads are busy.
    pub fn execute<F>(&self, job: F)
    where
        F: FnOnce() + Send + 'static,
    {
        let permit = self.idle.acquire_owned();
        self.send(permit, Box::new(job));
    }

    /// Runs `job` if a thread is idle; otherwise hands it back at once (the
    /// tests use it to see the semaphore's bound).
    #[cfg(test)]
    pub fn try_execute<F>(&self, job: F) -> Result<(), Job>
    where
        F: FnOnce() + Send + 'static,
    {
        match self.idle.try_acquire_owned() {
            Some(permit) => {
                self.send(permit, Box::new(job));
                Ok(())
            }
            None => Err(Box::new(job)),
        }
    }

    /// Jobs accepted and not yet finished (running, or about to start).
    pub fn busy(&self) -> usize {
        self.size - self.idle.available()
    }

    fn send(&self, permit: Permit, job: Job) {
        // The permit lives inside the job, so it is released when the job
        // returns or unwinds.
        let job: Job = Box::new(move || {
            let _permit = permit;
            job();
        });
        let Some(sender) = &self.sender else { return };
        // Workers catch panics and stop only when the channel closes, so a
        // receiver is alive for as long as `self` is. Should that ever break,
        // the job is dropped here and its permit released.
        if sender.send(job).is_err() {
            crate::event!(Error, "pool", "job_dropped", reason = "all threads gone");
        }
    }
}

impl Drop for ThreadPool {
    /// Closes the queue, lets the threads finish every queued job, and joins
    /// them all.
    fn drop(&mut self) {
        drop(self.sender.take());
        for worker in self.workers.drain(..) {
            let name = worker.thread.thread().name().unwrap_or("?").to_string();
            if worker.thread.join().is_err() {
                crate::event!(Error, "pool", "thread_panicked", thread = name);
            }
        }
    }
}

/// A pool thread's life: take a job, run it, repeat until the channel is
/// closed and empty.
fn work(receiver: &Mutex<Receiver<Job>>) {
    loop {
        // The guard is a temporary of this `let`: the lock is released
        // before the job runs, so other threads can take jobs meanwhile.
        let next = lock(receiver).recv();
        let Ok(job) = next else { return };
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(job)) {
            let thread = thread::current();
            crate::event!(
                Error,
                "pool",
                "job_panicked",
                thread = thread.name().unwrap_or("?"),
                message = panic_message(payload.as_ref()),
            );
        }
    }
}

/// The text of a panic, when it was made from a string (as `panic!` does).
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(not a string)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::within;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Duration;

    /// Each test runs under a deadline: a permit that is never given back,
    /// or a release that wakes nobody, blocks `execute` for good.
    const LIMIT: Duration = Duration::from_secs(10);

    #[test]
    fn never_more_than_size_jobs_at_once() {
        within(LIMIT, "30 jobs on a pool of 3", || {
            let pool = ThreadPool::new(3, "test").unwrap();
            let running = Arc::new(AtomicUsize::new(0));
            let most = Arc::new(AtomicUsize::new(0));
            let done = Arc::new(AtomicUsize::new(0));
            for _ in 0..30 {
                let (running, most, done) = (running.clone(), most.clone(), done.clone());
                pool.execute(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    thread::sleep(Duration::from_millis(5));
                    running.fetch_sub(1, Ordering::SeqCst);
                    done.fetch_add(1, Ordering::SeqCst);
                });
                assert!(pool.busy() <= 3);
            }
            drop(pool);
            assert_eq!(done.load(Ordering::SeqCst), 30);
            assert_eq!(most.load(Ordering::SeqCst), 3);
        });
    }

    #[test]
    fn execute_blocks_while_full() {
        within(LIMIT, "execute on a full pool", || {
            let pool = ThreadPool::new(2, "test").unwrap();
            let (release_tx, release_rx) = mpsc::channel::<()>();
            let release_rx = Arc::new(Mutex::new(release_rx));
            for _ in 0..2 {
                let rx = Arc::clone(&release_rx);
                pool.execute(move || {
                    let _ = rx.lock().unwrap().recv();
                });
            }
            assert_eq!(pool.busy(), 2);
            assert!(pool.try_execute(|| {}).is_err());

            let submitted = AtomicBool::new(false);
            thread::scope(|s| {
                s.spawn(|| {
                    pool.execute(|| {});
                    submitted.store(true, Ordering::SeqCst);
                });
                thread::sleep(Duration::from_millis(50));
                assert!(!submitted.load(Ordering::SeqCst), "execute did not block");
                release_tx.send(()).unwrap();
            });
            assert!(submitted.load(Ordering::SeqCst));
            release_tx.send(()).unwrap();
        });
    }

    #[test]
    fn a_panicking_job_does_not_kill_the_pool() {
        within(LIMIT, "a job after a panicking one", || {
            let pool = ThreadPool::new(1, "test").unwrap();
            pool.execute(|| panic!("job failed on purpose"));
            let (tx, rx) = mpsc::channel();
            pool.execute(move || tx.send(thread::current().name().map(String::from)).unwrap());
            let name = rx.recv_timeout(Duration::from_secs(5)).unwrap();
            assert_eq!(name.as_deref(), Some("test-0"));
            drop(pool);
        });
    }

    #[test]
    fn drop_finishes_queued_jobs_and_joins() {
        within(LIMIT, "10 jobs on a pool of 2", || {
            let done = Arc::new(AtomicUsize::new(0));
            let pool = ThreadPool::new(2, "test").unwrap();
            for _ in 0..10 {
                let done = Arc::clone(&done);
                pool.execute(move || {
                    thread::sleep(Duration::from_millis(2));
                    done.fetch_add(1, Ordering::SeqCst);
                });
            }
            // At most two are still queued or running here; drop waits for them.
            drop(pool);
            assert_eq!(done.load(Ordering::SeqCst), 10);
            // Every permit came back and the `Arc`s held by jobs are gone.
            assert_eq!(Arc::strong_count(&done), 1);
        });
    }

    #[test]
    fn zero_threads_is_an_error() {
        assert!(ThreadPool::new(0, "test").is_err());
    }
}
