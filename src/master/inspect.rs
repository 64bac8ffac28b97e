//! What the master's views see of it: copies of its state, never the state.
//!
//! The web page (`web.rs`) and text mode (`text_mode.rs`) are written
//! against the `Inspect` trait, not against `Master`: each method takes the
//! master's lock, copies what it returns, and lets go before the caller
//! renders a byte. So a view cannot hold the lock while it writes to a slow
//! socket, and cannot change anything: all it has are copies.
//!
//! OS idea: a snapshot, as `/proc` gives one. A reader of `/proc/PID/stat`
//! gets the process's counters as they were at the `read(2)`, consistent
//! within the read, without stopping the process.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::master::metrics::Totals;
use crate::master::Master;
use crate::protocol::{JobReport, JobSummary, WorkerInfo};
use crate::view::worker::{WorkerDetail, WorkerSample};

/// Attempts a worker's page lists at most, the latest first: enough to see
/// what it did lately, few enough that the page stays small.
pub const WORKER_ATTEMPTS_SHOWN: usize = 200;

/// Who the master is, and the settings its views show.
pub struct About {
    pub addr: SocketAddr,
    pub up: Duration,
    pub heartbeat_timeout: Duration,
    /// Binary connections must authenticate (`--secret-file`), so the
    /// unauthenticated views say they only read.
    pub read_only: bool,
}

/// Every worker and every job, in one line each, copied under one lock.
pub struct Overview {
    pub workers: Vec<WorkerInfo>,
    pub jobs: Vec<JobSummary>,
}

/// The master as its views see it.
pub trait Inspect {
    fn about(&self) -> About;
    fn overview(&self) -> Overview;
    /// Every worker, and each job the master still holds with its report,
    /// newest first.
    fn detail(&self) -> (Vec<WorkerInfo>, Vec<(JobSummary, JobReport)>);
    /// Job `id`'s report; a job already forgotten is read back from its
    /// event log, after the lock is released.
    fn job(&self, id: u64) -> Option<JobReport>;
    /// Worker `id`: its row, its last heartbeats, its attempts and what it
    /// holds, for the jobs held.
    fn worker(&self, id: u32) -> Option<WorkerDetail>;
    /// `detail`, and the sums of the jobs already forgotten, in one copy:
    /// what `/metrics` counts. (A master that forgets nothing has none.)
    fn metrics(&self) -> (Vec<WorkerInfo>, Vec<(JobSummary, JobReport)>, Totals) {
        let (workers, jobs) = self.detail();
        (workers, jobs, Totals::default())
    }
}

impl Inspect for Master {
    fn about(&self) -> About {
        About {
            addr: self.addr,
            up: self.started.elapsed(),
            heartbeat_timeout: self.config.heartbeat_timeout,
            read_only: self.config.secret.is_some(),
        }
    }

    fn overview(&self) -> Overview {
        let now = Instant::now();
        let state = self.state();
        Overview {
            workers: state.members.snapshot(now),
            jobs: state.scheduler.summaries(now),
        }
    }

    fn detail(&self) -> (Vec<WorkerInfo>, Vec<(JobSummary, JobReport)>) {
        let (workers, jobs, _) = self.metrics();
        (workers, jobs)
    }

    fn metrics(&self) -> (Vec<WorkerInfo>, Vec<(JobSummary, JobReport)>, Totals) {
        let now = Instant::now();
        let state = self.state();
        let workers = state.members.snapshot(now);
        let jobs = state
            .scheduler
            .summaries(now)
            .into_iter()
            .rev()
            .filter_map(|s| {
                let report = state.scheduler.held_report(s.id, &state.members, now)?;
                Some((s, report))
            })
            .collect();
        (workers, jobs, state.scheduler.forgotten().clone())
    }

    fn job(&self, id: u64) -> Option<JobReport> {
        let found = {
            let state = self.state();
            state.scheduler.report(id, &state.members, Instant::now())
        };
        found?.read()
    }

    fn worker(&self, id: u32) -> Option<WorkerDetail> {
        let now = Instant::now();
        let unix_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let state = self.state();
        let member = state.members.get(id)?;
        // Each sample's age, on the monotonic clock, dated by the wall clock.
        let samples = member
            .samples
            .iter()
            .map(|s| WorkerSample {
                at_unix_ms: unix_now
                    .saturating_sub(now.saturating_duration_since(s.at).as_millis() as u64),
                cpu_permille: s.cpu_permille,
                rss_bytes: s.rss_bytes,
                running: s.running,
            })
            .collect();
        let (attempts, attempts_total) = state.scheduler.attempts_on(id, WORKER_ATTEMPTS_SHOWN);
        Some(WorkerDetail {
            info: member.info(now),
            samples,
            attempts,
            attempts_total,
            held: state.scheduler.held_by(id, &state.members),
        })
    }
}
