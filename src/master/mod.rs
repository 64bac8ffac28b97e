//! The master process: accepts connections, keeps the worker table and the
//! jobs (`scheduler`), and declares silent workers dead.
//!
//! OS idea: one thread per connection (`net/listener.rs` accepts them and
//! caps their number), each blocked in `read` on its own socket, so a slow
//! peer never holds up anyone else. Threads share the master's state
//! through one `Mutex`, and never hold it across a socket call: replies are
//! built from a copy taken under the lock, and messages to workers go
//! through each worker's `Outbox` channel.
//!
//! Every connection starts the same way: the master peeks at its first
//! bytes (`recv` with `MSG_PEEK`, which looks without consuming). The frame
//! magic means a binary session (workers, clients, the `frame` tool), whose
//! messages `session` handles; an HTTP method (`GET `) a browser or `curl`,
//! served by `web`; anything else is a person with netcat, served by
//! `text_mode`.
//!
//! Start reading here (`start`, `timer`, `serve_binary`), then:
//!
//! * `session`: what the master does with each message of a binary session.
//! * `membership`: the worker table: who registered, who is alive or dead;
//!   `ring`: the bounded ring of each worker's recent heartbeats.
//! * `scheduler/`: the jobs, their stages, tasks and attempts.
//! * `journal`: the append-only log the scheduler's state is replayed from
//!   after a restart; `eventlog`: one log of events per job.
//! * `inspect`: the copies of the state the views see; `web` and
//!   `text_mode` render them.
//! * `trim`: freed heap memory given back to the kernel.

mod eventlog;
mod inspect;
mod journal;
mod membership;
mod metrics;
mod ring;
mod scheduler;
mod session;
mod text_mode;
mod web;

pub use journal::Journal;
pub use scheduler::SchedulerConfig;

use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::event;
use crate::lock;
use crate::master::membership::Membership;
use crate::master::scheduler::Scheduler;
use crate::master::session::{handle, Role};
use crate::net::{linger_close, listener, Limits, Service};
use crate::net::{FrameReader, Outbox, Secret, Stop, StopSignal};
use crate::protocol::MAGIC;

/// Settings from the command line.
#[derive(Debug, Clone)]
pub struct MasterConfig {
    /// Silence after which an alive worker is declared dead.
    pub heartbeat_timeout: Duration,
    /// Retries, timeouts, speculation.
    pub scheduling: SchedulerConfig,
    /// Connections served at once, and how long one may stay silent.
    pub limits: Limits,
    /// When set, every binary session must prove it holds this secret.
    pub secret: Option<Arc<Secret>>,
}

/// Everything behind the master's one lock.
pub struct State {
    pub members: Membership,
    pub scheduler: Scheduler,
}

/// State shared by every connection thread.
pub struct Master {
    pub config: MasterConfig,
    /// The address the listener is bound to.
    pub addr: SocketAddr,
    pub started: Instant,
    state: Mutex<State>,
    /// Signalled, for `WaitJob`, after a worker's message or a worker's death
    /// (which is how tasks and jobs change state). A cancel or a timeout
    /// found by the timer does not signal it: a waiter sees those at the
    /// end of its wait.
    changed: Condvar,
}

impl Master {
    /// Locks the master's state. A thread that panicked while holding the
    /// lock leaves plain data behind, so a poisoned lock is still usable.
    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

/// Serves on `listener` until the process ends.
///
/// Takes an already-bound listener so tests (and the binary) can bind port 0
/// and learn the port first.
pub fn run(listener: TcpListener, config: MasterConfig) -> Result<()> {
    start(listener, config)?
        .wait()
        .map_err(|e| Error::io("serving", std::io::Error::other(e)))
}

/// Starts serving on `listener`, on threads of its own: the accept loop and
/// the timer. Dropping the returned `Stop`, or its `stop`, closes the port,
/// ends the connections and waits for those threads.
///
/// # Errors
/// The journal cannot be replayed, or the OS refused a thread.
pub fn start(listener: TcpListener, config: MasterConfig) -> Result<Stop> {
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io("reading the listener's address", e))?;
    let now = Instant::now();
    let mut members = Membership::new();
    let mut scheduler = Scheduler::new(config.scheduling.clone());
    let found = scheduler.recover(&mut members, now).map_err(Error::Usage)?;
    if let Some(dir) = &config.scheduling.state_dir {
        event!(
            Info,
            "master",
            "journal_replayed",
            state_dir = dir.display(),
            entries = found.entries,
            discarded_bytes = found.discarded_bytes,
            jobs_running = found.jobs_running,
            jobs_finished = found.jobs_finished,
            epoch = found.epoch
        );
    }
    let master = Arc::new(Master {
        addr,
        started: now,
        state: Mutex::new(State { members, scheduler }),
        changed: Condvar::new(),
        config,
    });
    event!(
        Info,
        "master",
        "listening",
        addr = addr,
        heartbeat_timeout_ms = master.config.heartbeat_timeout.as_millis()
    );
    let mut stop = Stop::new();
    let (monitor, ticks) = (Arc::clone(&master), stop.signal());
    stop.spawn("timer", move || timer(&monitor, &ticks))
        .map_err(|e| Error::io("starting the timer thread", e))?;

    let service = Service {
        component: "master",
        accept_thread: "accept",
        conn_thread: "conn",
        limits: master.config.limits,
    };
    let accept = listener::spawn(listener, service, &stop.signal(), move |stream| {
        serve_connection(&master, stream)
    })?;
    stop.adopt(accept);
    Ok(stop)
}

/// How often the master returns freed memory to the kernel.
const TRIM_EVERY: Duration = Duration::from_secs(2);

/// The master's clock: periodically declares silent workers dead (and
/// shuts their connections), lets the scheduler check for attempts past
/// their timeout and for stragglers to speculate on, and gives freed
/// memory back to the kernel. Ends at the stop.
fn timer(master: &Master, stop: &StopSignal) {
    let timeout = master.config.heartbeat_timeout;
    // Check a few times per timeout so a death is noticed within ~1.25x it.
    let mut tick = timeout / 4;
    if let Some(t) = master.config.scheduling.task_timeout {
        tick = tick.min(t / 4);
    }
    if master.config.scheduling.speculation {
        tick = tick.min(Duration::from_millis(100));
    }
    let tick = tick.clamp(Duration::from_millis(5), Duration::from_secs(1));
    let mut trimmed = Instant::now();
    // A sleep that the stop cuts short.
    while !stop.wait_timeout(tick) {
        let now = Instant::now();
        // Memory freed by finished connections and jobs goes back to the
        // kernel (see `src/trim.rs`).
        if now.duration_since(trimmed) >= TRIM_EVERY {
            trimmed = now;
            crate::trim::release_free_memory();
        }
        let expired = {
            let mut guard = master.state();
            let state = &mut *guard;
            let expired = state.members.expire(now, timeout);
            for dead in &expired {
                state.scheduler.worker_lost(&mut state.members, dead.id);
            }
            state.scheduler.tick(&mut state.members, now);
            if !expired.is_empty() {
                master.changed.notify_all();
            }
            expired
        };
        for dead in expired {
            event!(
                Warn,
                "master",
                "worker_dead",
                id = dead.id,
                addr = dead.data_addr,
                reason = "heartbeat_timeout",
                silent_ms = dead.silent_for.as_millis()
            );
            if let Some(conn) = dead.conn {
                // Wakes the session thread blocked in `read`; it then ends.
                let _ = conn.shutdown(Shutdown::Both);
            }
        }
    }
}

fn serve_connection(master: &Master, stream: TcpStream) {
    let peer = match stream.peer_addr() {
        Ok(p) => p.to_string(),
        Err(_) => return, // already gone
    };
    let _ = stream.set_nodelay(true);
    // Which protocol: a frame's magic, an HTTP method, or a text command.
    let mut first = [0u8; 8];
    let n = match stream.peek(&mut first) {
        Ok(0) | Err(_) => return,
        Ok(n) => n,
    };
    if first[0] == MAGIC[0] {
        event!(Debug, "master", "binary_session", peer = peer);
        if let Err(e) = serve_binary(master, &stream, &peer) {
            event!(Warn, "master", "session_failed", peer = peer, error = e);
        }
    } else if crate::net::looks_like_http(&first[..n]) {
        crate::master::web::serve(master, &stream, &peer);
    } else {
        event!(Debug, "master", "text_session", peer = peer);
        text_mode::serve(master, &stream, &peer);
    }
}

fn serve_binary(master: &Master, stream: &TcpStream, peer: &str) -> Result<()> {
    // A thread name is at most 15 bytes (Linux cuts `comm` there): the
    // peer is in the logs, not in the name.
    let (outbox, writer) = Outbox::spawn(stream, "to-peer".into())
        .map_err(|e| Error::io("starting a writer thread", e))?;
    let mut reader = FrameReader::new(stream);
    let mut role = Role::Anonymous;
    let mut refused = false;
    let secret = master.config.secret.as_deref();
    if !listener::authenticate("master", peer, secret, &mut reader, |m| {
        outbox.send(m);
    }) {
        drop(outbox);
        let _ = writer.join();
        linger_close(stream);
        return Ok(());
    }
    let result = loop {
        let msg = match reader.read_message() {
            Ok(Some(msg)) => msg,
            Ok(None) => break Ok(()),
            Err(Error::Frame(invalid)) => {
                outbox.send(listener::bad_frame("master", peer, &invalid));
                refused = true;
                break Ok(());
            }
            Err(e) => break Err(e),
        };
        event!(Debug, "master", "received", peer = peer, msg = msg);
        let from_worker = matches!(role, Role::Worker { .. });
        handle(master, msg, &mut role, stream, &outbox, peer);
        if from_worker {
            // Task events change job state: wake the clients waiting on it.
            master.changed.notify_all();
        }
    };

    if let Role::Worker { id, session } = role {
        let mut guard = master.state();
        let state = &mut *guard;
        if state.members.disconnected(id, session) {
            event!(
                Warn,
                "master",
                "worker_dead",
                id = id,
                addr = peer,
                reason = "connection_closed"
            );
            state.scheduler.worker_lost(&mut state.members, id);
            state.scheduler.schedule(&mut state.members, Instant::now());
            master.changed.notify_all();
        }
    }
    // Every other clone of the outbox lived in the worker table and is gone
    // now, so the writer drains what is queued (an Error frame, say) and ends.
    drop(outbox);
    let _ = writer.join();
    if refused {
        linger_close(stream);
    }
    result
}
