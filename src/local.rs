//! An embedded cluster: a master and N workers as threads of one process,
//! on loopback ports the OS picks. `client run FILE --local N` uses it: the
//! no-setup way to run a job, with the same code paths (and the same TCP
//! protocol over loopback) as a real cluster.
//!
//! `Cluster::stop` takes it down again (the workers first, then the master)
//! and returns once every thread it started has ended: how a test runs a
//! whole cluster inside its own process and checks that nothing is left.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::event;
use crate::master::{self, MasterConfig};
use crate::net::{Secret, Stop};
use crate::worker::{self, WorkerConfig};

/// Workers started by this process so far: each gets a work directory of
/// its own, even across several clusters.
static STARTED: AtomicU32 = AtomicU32::new(0);

/// A running embedded cluster.
pub struct Cluster {
    addr: String,
    /// Declared before `master`, so that dropping a `Cluster` stops them
    /// first, as `stop` does.
    workers: Vec<LocalWorker>,
    master: Stop,
}

struct LocalWorker {
    stop: Stop,
    data_addr: SocketAddr,
    work_dir: PathBuf,
}

/// Starts the master and `workers` workers. With a `secret`, the master
/// and the workers demand it and prove it, as a real cluster would.
///
/// # Errors
/// A port cannot be bound, or the master or a worker cannot start (also
/// logged, as `master_stopped` or `worker_stopped`).
pub fn start(
    workers: u32,
    slots_per_worker: u32,
    memory_bytes: u64,
    secret: Option<Arc<Secret>>,
) -> Result<Cluster> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("binding the local master", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io("reading the local master's address", e))?
        .to_string();
    let config = MasterConfig {
        heartbeat_timeout: Duration::from_secs(10),
        scheduling: crate::master::SchedulerConfig {
            max_attempts: 3,
            task_timeout: None,
            speculation: false,
            // An embedded cluster lives and dies with this process.
            state_dir: None,
            recovery_grace: Duration::from_secs(10),
            retained_jobs: 100,
        },
        limits: crate::net::Limits::default(),
        secret: secret.clone(),
    };
    let master = master::start(listener, config).inspect_err(|e| {
        event!(Error, "local", "master_stopped", error = e);
    })?;
    let mut cluster = Cluster {
        addr,
        workers: Vec::new(),
        master,
    };
    for _ in 0..workers {
        let data =
            TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("binding a local worker", e))?;
        let data_addr = data
            .local_addr()
            .map_err(|e| Error::io("reading a local worker's address", e))?;
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let work_dir =
            std::env::temp_dir().join(format!("minispark-local-{}-{n}", std::process::id()));
        let config = WorkerConfig {
            master: cluster.addr.clone(),
            slots: slots_per_worker.max(1),
            memory_bytes,
            heartbeat: Duration::from_secs(1),
            reconnect_max: Duration::from_millis(200),
            advertise_host: None,
            // The person running `client run` runs their own commands.
            allow_pipe: true,
            work_dir: work_dir.clone(),
            fetches: 4,
            fetch_timeout: Duration::from_secs(30),
            faults: crate::worker::FaultConfig::default(),
            limits: crate::net::Limits::default(),
            secret: secret.clone(),
        };
        let stop = worker::start(data, config).inspect_err(|e| {
            event!(Error, "local", "worker_stopped", error = e);
        })?;
        cluster.workers.push(LocalWorker {
            stop,
            data_addr,
            work_dir,
        });
    }
    Ok(cluster)
}

impl Cluster {
    /// The master's address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Each worker's data port.
    pub fn worker_addrs(&self) -> Vec<SocketAddr> {
        self.workers.iter().map(|w| w.data_addr).collect()
    }

    /// Stops the workers, then the master, waits for all their threads, and
    /// removes the workers' work directories.
    ///
    /// # Errors
    /// Names the threads that panicked.
    pub fn stop(self) -> std::result::Result<(), String> {
        let Cluster {
            workers, master, ..
        } = self;
        let mut failed = Vec::new();
        for w in workers {
            failed.extend(w.stop.stop().err());
            let _ = std::fs::remove_dir_all(&w.work_dir);
        }
        failed.extend(master.stop().err());
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed.join("; "))
        }
    }
}
