//! The worker process: registers with the master, sends heartbeats, and
//! reconnects when the master goes away.
//!
//! OS idea: three kinds of thread around two sockets. The session thread
//! owns the control connection to the master and blocks reading it; a
//! heartbeat thread wakes on a timer (`recv_timeout` on a channel, which
//! doubles as its stop signal) and queues a `Heartbeat` in the outbox; the
//! data port has its own accept thread. When the master's connection ends
//! (`read` returns 0 after a kill, or fails after a reset), the worker
//! retries with exponential backoff and registers again, asking for its old
//! id back.
//!
//! `start` returns a `Stop` (`net/stop.rs`): the backoff sleeps on its
//! signal, and at the stop a waker thread shuts the master's socket down,
//! so the session thread's `read` returns and the worker ends. `run` (the
//! binary) serves until the process is killed.
//!
//! Tasks run on a thread pool (`attempts.rs`, `pool.rs`); the session thread
//! only reads the master's orders and hands them over. Start reading here
//! (`start`, `session`), then:
//!
//! * `link`: how task threads reach the master across reconnects.
//! * `attempts`: running, committing, aborting and cancelling attempts.
//! * `pool`: the thread pool, bounded by a counting semaphore.
//! * `data_port`: what peers fetch from this worker (on `net/listener.rs`).
//! * `fault`: fault injection; `procstat` and `latency`: the metrics its
//!   heartbeats carry.

mod attempts;
mod data_port;
pub mod fault;
mod latency;
mod link;
mod pool;
mod procstat;

pub use fault::FaultConfig;

use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::event;
use crate::exec::TaskEnv;
use crate::lock;
use crate::net::{
    dial, keepalive, FrameReader, FrameWriter, Limits, Outbox, Secret, Stop, StopSignal,
};
use crate::protocol::Message;
use crate::storage::{LocalMaps, Outputs};
use crate::worker::attempts::Tasks;
use crate::worker::link::MasterLink;

/// The first wait before reconnecting; it doubles up to `reconnect_max`.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// Settings from the command line.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// `host:port` of the master.
    pub master: String,
    /// Task slots offered to the master.
    pub slots: u32,
    /// Memory budget for record data, in bytes.
    pub memory_bytes: u64,
    /// Interval between heartbeats.
    pub heartbeat: Duration,
    /// Longest wait between reconnection attempts.
    pub reconnect_max: Duration,
    /// Host name or IP peers should use to reach the data port; `None` means
    /// the local address of the connection to the master.
    pub advertise_host: Option<String>,
    /// Whether `pipe` may run commands here.
    pub allow_pipe: bool,
    /// Where shuffle and spill files go.
    pub work_dir: PathBuf,
    /// Map outputs a reduce task fetches at once.
    pub fetches: usize,
    /// A fetch that connects or receives nothing for this long fails.
    pub fetch_timeout: Duration,
    /// Failures, crashes and stalls to inject (tests and demos).
    pub faults: FaultConfig,
    /// Connections its data port serves at once, and their idle timeout.
    pub limits: Limits,
    /// When set, proven to the master and to other workers' data ports, and
    /// demanded on this worker's data port.
    pub secret: Option<Arc<Secret>>,
}

/// Refuses an `--advertise` host that no peer could reach: empty, or the
/// unspecified address (`0.0.0.0`, `::`), which means "any address" to
/// `bind(2)` but is no address to connect to.
///
/// # Errors
/// Why the host cannot work, naming the flag.
pub fn check_advertise(host: &str) -> std::result::Result<(), String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        _ if bare.is_empty() => Err("--advertise needs a host name or IP address".into()),
        Ok(ip) if ip.is_unspecified() => Err(format!(
            "--advertise {host} cannot work: it is the address that means \"any\" to bind(2), not one other hosts can connect to; give a name or IP of this machine that the master and the other workers reach, e.g. --advertise 10.0.0.5"
        )),
        _ => Ok(()),
    }
}

/// Is `host` (a name or IP) this machine's loopback?
fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare == "localhost"
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Runs the worker until the process ends. `data_listener` is the already
/// bound data port.
pub fn run(data_listener: TcpListener, config: WorkerConfig) -> Result<()> {
    start(data_listener, config)?
        .wait()
        .map_err(|e| Error::io("serving", std::io::Error::other(e)))
}

/// Starts the worker on threads of its own: the data port's accept loop and
/// the connection to the master (register, heartbeat, reconnect). Dropping
/// the returned `Stop`, or its `stop`, closes the data port, ends the
/// session with the master and waits for those threads.
///
/// # Errors
/// The work directory cannot be made ours, or the OS refused a thread.
pub fn start(data_listener: TcpListener, config: WorkerConfig) -> Result<Stop> {
    let data_addr = data_listener
        .local_addr()
        .map_err(|e| Error::io("reading the data port's address", e))?;
    let link = MasterLink::default();
    clean_work_dir(&config.work_dir)?;
    let env = TaskEnv {
        allow_pipe: config.allow_pipe,
        // Each running task gets an equal share of the budget.
        memory_bytes: (config.memory_bytes / u64::from(config.slots.max(1))) as usize,
        fetch_in_flight: config.fetches.max(1),
        fetch_timeout: config.fetch_timeout.max(Duration::from_millis(1)),
        // Half of `--memory` may hold cached partitions (as Spark's
        // `spark.memory.storageFraction`); tasks get the rest of it.
        local_maps: LocalMaps::new(Outputs::new(config.memory_bytes / 2)),
        secret: config.secret.clone(),
    };
    let local_maps = env.local_maps.clone();
    let tasks = Tasks::new(
        config.slots,
        link.clone(),
        env,
        config.work_dir.clone(),
        config.faults.clone(),
    )
    .map_err(|e| Error::io("starting the task thread pool", e))?;
    let mut stop = Stop::new();
    let data_port = data_port::spawn(
        data_listener,
        tasks.outputs.clone(),
        config.limits,
        config.secret.clone(),
        &stop.signal(),
    )?;
    stop.adopt(data_port);
    // What peers are told to connect to, as far as it is known before the
    // master is reached.
    let advertised = match &config.advertise_host {
        Some(h) => format_host_port(h, data_addr.port()),
        None if !data_addr.ip().is_unspecified() => data_addr.to_string(),
        None => format!("<the address that reaches the master>:{}", data_addr.port()),
    };
    event!(
        Info,
        "worker",
        "started",
        data_port = data_addr,
        advertised = advertised,
        master = config.master,
        slots = config.slots,
        memory = crate::size::format_size(config.memory_bytes)
    );

    // The session thread blocks in `read` on the master's connection, which
    // no channel can interrupt: at the stop, shutting the socket down wakes
    // it.
    let master_conn = MasterConn::default();
    let current = master_conn.clone();
    let waker = stop
        .signal()
        .on_stop("wake-session", move || current.shut_down())
        .map_err(|e| Error::io("starting the worker's waker thread", e))?;
    stop.adopt(waker);
    let cx = Context {
        config,
        tasks,
        link,
        local_maps,
        data_addr,
        stop: stop.signal(),
        master_conn,
    };
    stop.spawn("master-link", move || reconnect(&cx))
        .map_err(|e| Error::io("starting the worker's session thread", e))?;
    Ok(stop)
}

/// What every session with the master works with, for the worker's life.
struct Context {
    config: WorkerConfig,
    tasks: Arc<Tasks>,
    link: MasterLink,
    local_maps: LocalMaps,
    /// The data port's bound address.
    data_addr: SocketAddr,
    stop: StopSignal,
    master_conn: MasterConn,
}

/// The connection to the master now, if any, for the stop to shut down.
#[derive(Clone, Default)]
struct MasterConn(Arc<Mutex<Option<TcpStream>>>);

impl MasterConn {
    fn lock(&self) -> MutexGuard<'_, Option<TcpStream>> {
        lock(&self.0)
    }

    /// Keeps a clone of `stream` for the stop, until the guard is dropped.
    /// `None` when the stop has already come: checked under the lock, so a
    /// stop cannot slip in between the check and the keeping, unseen by
    /// both sides.
    fn keep(&self, stream: &TcpStream, stop: &StopSignal) -> Option<Kept<'_>> {
        let mut slot = self.lock();
        if stop.is_stopped() {
            return None;
        }
        *slot = stream.try_clone().ok();
        Some(Kept(self))
    }

    /// Wakes the session thread blocked reading the master: its `read`
    /// returns end of stream.
    fn shut_down(&self) {
        if let Some(stream) = self.lock().take() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// A connection kept in `MasterConn`; dropped, the clone goes (and with
/// it the descriptor that would keep the socket open).
struct Kept<'a>(&'a MasterConn);

impl Drop for Kept<'_> {
    fn drop(&mut self) {
        *self.0.lock() = None;
    }
}

/// Sessions with the master, one after another, until the stop: when one
/// ends, wait (doubling the wait up to `reconnect_max`) and register again,
/// asking for the same id back.
fn reconnect(cx: &Context) {
    let config = &cx.config;
    let mut worker_id = 0;
    let mut backoff = FIRST_BACKOFF;
    loop {
        let ended = session(cx, worker_id);
        if cx.stop.is_stopped() {
            return;
        }
        match ended {
            Ok(SessionEnd { id, registered }) => {
                worker_id = id;
                if registered {
                    backoff = FIRST_BACKOFF;
                }
            }
            Err(e) => {
                event!(
                    Warn,
                    "worker",
                    "master_unreachable",
                    master = config.master,
                    error = e,
                    retry_in_ms = backoff.as_millis()
                );
            }
        }
        // A sleep that the stop cuts short.
        if cx.stop.wait_timeout(backoff) {
            return;
        }
        backoff = (backoff * 2).min(config.reconnect_max);
    }
}

struct SessionEnd {
    /// The id the master gave us (kept for the next registration).
    id: u32,
    /// Whether the master accepted us this time.
    registered: bool,
}

/// One connection to the master: register, then heartbeat until it ends
/// (or the stop shuts it down).
fn session(cx: &Context, prev_id: u32) -> Result<SessionEnd> {
    let Context {
        config,
        tasks,
        link,
        local_maps,
        data_addr,
        stop,
        master_conn,
    } = cx;
    let (data_port, data_ip) = (data_addr.port(), data_addr.ip());
    let stream = dial::connect(
        &config.master,
        config.reconnect_max.max(Duration::from_secs(1)),
        config.secret.as_deref(),
    )?;
    let Some(_kept) = master_conn.keep(&stream, stop) else {
        return Ok(SessionEnd {
            id: prev_id,
            registered: false,
        });
    };
    let _ = stream.set_nodelay(true);
    // A master that vanished silently is found out by the kernel too.
    if let Err(e) = keepalive::enable(&stream, config.heartbeat.max(Duration::from_secs(1)) * 3) {
        event!(Warn, "worker", "keepalive_refused", error = e);
    }
    let host = match &config.advertise_host {
        Some(h) => h.clone(),
        // Bound to a specific address: that one. Bound to 0.0.0.0: the
        // address this machine uses to reach the master, which the master
        // (and so the other workers) can reach back.
        None if !data_ip.is_unspecified() => data_ip.to_string(),
        None => stream
            .local_addr()
            .map_err(|e| Error::io("reading our address", e))?
            .ip()
            .to_string(),
    };
    let data_addr = format_host_port(&host, data_port);
    local_maps.set_addr(data_addr.clone());
    // A loopback address works only while every peer is on this machine.
    let master_host = config.master.rsplit_once(':').map_or("", |(h, _)| h);
    if is_loopback_host(&host) && !is_loopback_host(master_host) {
        event!(
            Warn,
            "worker",
            "loopback_address_advertised",
            data_addr = data_addr,
            master = config.master,
            hint = "workers on other hosts cannot fetch from it: pass --advertise with an address they reach"
        );
    }

    let mut writer = FrameWriter::new(&stream);
    writer.send(&Message::Register {
        data_addr: data_addr.clone(),
        slots: config.slots,
        memory_bytes: config.memory_bytes,
        prev_id,
    })?;
    // Registration must be answered promptly; afterwards the master may stay
    // quiet for as long as it likes.
    let _ = stream.set_read_timeout(Some(config.heartbeat.max(Duration::from_secs(5))));
    let mut reader = FrameReader::new(&stream);
    let id = match reader.read_message()? {
        Some(Message::RegisterAck { worker_id }) => worker_id,
        Some(Message::Error { code, message }) => return Err(Error::Remote { code, message }),
        Some(other) => {
            return Err(Error::Protocol(format!(
                "expected RegisterAck, got {}",
                other.msg_type().name()
            )))
        }
        None => return Err(Error::Protocol("master closed before RegisterAck".into())),
    };
    let _ = stream.set_read_timeout(None);
    event!(
        Info,
        "worker",
        if prev_id == id {
            "reregistered"
        } else {
            "registered"
        },
        id = id,
        master = config.master,
        data_addr = data_addr
    );

    let (outbox, writer_thread) = Outbox::spawn(&stream, "to-master".into())
        .map_err(|e| Error::io("starting the writer thread", e))?;
    link.set(Some(outbox.clone()));
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let beats = outbox.clone();
    let interval = config.heartbeat;
    let (measured, slots) = (Arc::clone(tasks), config.slots);
    let heartbeat_thread = thread::Builder::new()
        .name("heartbeat".into())
        .spawn(move || loop {
            match done_rx.recv_timeout(interval) {
                Err(RecvTimeoutError::Timeout) => {
                    if !beats.send(Message::Heartbeat {
                        worker_id: id,
                        metrics: measured.metrics(slots),
                    }) {
                        return;
                    }
                }
                // A message or a disconnect both mean: stop.
                _ => return,
            }
        })
        .map_err(|e| Error::io("starting the heartbeat thread", e))?;

    let reason = loop {
        match reader.read_message() {
            Ok(Some(Message::LaunchTask { task })) => tasks.launch(task),
            Ok(Some(Message::CommitTask { attempt })) => tasks.commit(attempt),
            Ok(Some(Message::AbortTask { attempt })) => tasks.abort(attempt),
            Ok(Some(Message::CommitJob { job_id, outputs })) => tasks.commit_job(job_id, &outputs),
            Ok(Some(Message::ReleaseJob { job_id })) => tasks.release_job(job_id),
            Ok(Some(Message::Error { code, message })) => {
                event!(
                    Warn,
                    "worker",
                    "master_error",
                    code = code,
                    message = message
                );
            }
            Ok(Some(other)) => {
                event!(Debug, "worker", "ignored_message", msg = other);
            }
            Ok(None) => break "master closed the connection".to_string(),
            Err(e) => break e.to_string(),
        }
    };
    if !stop.is_stopped() {
        event!(Warn, "worker", "master_lost", id = id, reason = reason);
    }
    link.set(None);
    drop(done_tx);
    let _ = heartbeat_thread.join();
    drop(outbox);
    let _ = writer_thread.join();
    Ok(SessionEnd {
        id,
        registered: true,
    })
}

/// Prefix of a default work directory's name; the rest is the worker's pid.
pub const DEFAULT_WORK_DIR_PREFIX: &str = "minispark-worker-";

/// Marks a directory as a worker's own: only such a directory is emptied.
const WORK_DIR_MARKER: &str = ".minispark-work-dir";

/// Makes `dir` empty and ours: what a previous run of this worker left
/// there (shuffle and spill files of jobs it will never hear of again) is
/// removed. A directory is emptied only if it carries our marker file (or
/// is empty): a mistyped `--work-dir $HOME` is refused, not wiped. Default
/// work directories (`$TMPDIR/minispark-worker-PID`) of workers no longer
/// running (no `/proc/PID`) are removed too: a worker killed with -9 never
/// cleaned up its own.
fn clean_work_dir(dir: &Path) -> Result<()> {
    let io = |what: &str, e| Error::io(format!("{what} work directory {}", dir.display()), e);
    if let Ok(mut entries) = std::fs::read_dir(dir) {
        if entries.next().is_some() && !dir.join(WORK_DIR_MARKER).exists() {
            return Err(Error::Usage(format!(
                "work directory {} is not empty and is not a Mini-Spark work directory \
                 (no {WORK_DIR_MARKER}); refusing to empty it",
                dir.display()
            )));
        }
        std::fs::remove_dir_all(dir).map_err(|e| io("cleaning", e))?;
        event!(Info, "worker", "work_dir_cleaned", dir = dir.display());
    }
    std::fs::create_dir_all(dir).map_err(|e| io("creating", e))?;
    std::fs::write(dir.join(WORK_DIR_MARKER), b"").map_err(|e| io("marking", e))?;
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(DEFAULT_WORK_DIR_PREFIX))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            let stale = entry.path();
            if std::fs::remove_dir_all(&stale).is_ok() {
                event!(
                    Info,
                    "worker",
                    "stale_work_dir_removed",
                    dir = stale.display()
                );
            }
        }
    }
    Ok(())
}

/// `host:port`, with brackets around an IPv6 literal.
fn format_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
