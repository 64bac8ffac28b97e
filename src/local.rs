//! An embedded cluster: a master and N workers as threads of one process,
//! on loopback ports the OS picks. `client run FILE --local N` uses it: the
//! no-setup way to run a job, with the same code paths (and the same TCP
//! protocol over loopback) as a real cluster.

use std::net::TcpListener;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::event;
use crate::master::{self, MasterConfig};
use crate::net::auth::Secret;
use crate::worker::{self, WorkerConfig};

/// Starts the master and `workers` workers; returns the master's address.
/// The threads live as long as the process. With a `secret`, the master
/// and the workers demand it and prove it, as a real cluster would.
pub fn start(
    workers: u32,
    slots_per_worker: u32,
    memory_bytes: u64,
    secret: Option<Arc<Secret>>,
) -> Result<String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("binding the local master", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io("reading the local master's address", e))?
        .to_string();
    let config = MasterConfig {
        heartbeat_timeout: Duration::from_secs(10),
        scheduling: crate::master::scheduler::SchedulerConfig {
            max_attempts: 3,
            task_timeout: None,
            speculation: false,
            // An embedded cluster lives and dies with this process.
            state_dir: None,
            recovery_grace: Duration::from_secs(10),
            retained_jobs: 100,
        },
        limits: crate::net::listener::Limits::default(),
        secret: secret.clone(),
    };
    thread::Builder::new()
        .name("local-master".into())
        .spawn(move || {
            if let Err(e) = master::run(listener, config) {
                event!(Error, "local", "master_stopped", error = e);
            }
        })
        .map_err(|e| Error::io("starting the local master", e))?;
    for i in 0..workers {
        let data =
            TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("binding a local worker", e))?;
        let config = WorkerConfig {
            master: addr.clone(),
            slots: slots_per_worker.max(1),
            memory_bytes,
            heartbeat: Duration::from_secs(1),
            reconnect_max: Duration::from_millis(200),
            advertise_host: None,
            // The person running `client run` runs their own commands.
            allow_pipe: true,
            work_dir: std::env::temp_dir()
                .join(format!("minispark-local-{}-{i}", std::process::id())),
            fetches: 4,
            faults: crate::worker::fault::FaultConfig::default(),
            limits: crate::net::listener::Limits::default(),
            secret: secret.clone(),
        };
        thread::Builder::new()
            .name("local-worker".into())
            .spawn(move || {
                if let Err(e) = worker::run(data, config) {
                    event!(Error, "local", "worker_stopped", error = e);
                }
            })
            .map_err(|e| Error::io("starting a local worker", e))?;
    }
    Ok(addr)
}
