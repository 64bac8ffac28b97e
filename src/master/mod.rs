//! The master process: accepts connections, keeps the worker table, and
//! declares silent workers dead.
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
//! magic means a binary session (workers, clients, the `frame` tool); an
//! HTTP method (`GET `) a browser or `curl`, served by `web`; anything else
//! is a person with netcat, served by `text_mode`.

pub mod eventlog;
pub mod journal;
pub mod membership;
pub mod recovery;
pub mod scheduler;
pub mod text_mode;
pub mod trim;
pub mod web;

use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::event;
use crate::master::membership::{Membership, Registration};
use crate::master::scheduler::{Scheduler, SchedulerConfig};
use crate::net::auth::{self, Secret};
use crate::net::connection::{FrameReader, Outbox};
use crate::net::listener::{self, linger_close, Limits, Service};
use crate::net::stop::{Stop, StopSignal};
use crate::protocol::frame::MAGIC;
use crate::protocol::message::{error_code, JobReport, Message};
use crate::submission;

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
    /// Signalled after every change of job or task state, for `WaitJob`.
    changed: Condvar,
}

impl Master {
    /// Locks the master's state. A thread that panicked while holding the
    /// lock leaves plain data behind, so a poisoned lock is still usable.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
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
        // kernel (see `trim.rs`).
        if now.duration_since(trimmed) >= TRIM_EVERY {
            trimmed = now;
            crate::master::trim::release_free_memory();
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
    } else if crate::net::http::looks_like_http(&first[..n]) {
        crate::master::web::serve(master, &stream, &peer);
    } else {
        event!(Debug, "master", "text_session", peer = peer);
        text_mode::serve(master, &stream, &peer);
    }
}

/// Where a binary session stands: anonymous (clients, tools) until a
/// `Register` makes it a worker's.
enum Role {
    Anonymous,
    Worker { id: u32, session: u64 },
}

fn serve_binary(master: &Master, stream: &TcpStream, peer: &str) -> Result<()> {
    let (outbox, writer) = Outbox::spawn(stream, format!("out-{peer}"))
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

fn handle(
    master: &Master,
    msg: Message,
    role: &mut Role,
    stream: &TcpStream,
    outbox: &Outbox,
    peer: &str,
) {
    let now = Instant::now();
    let reply_error = |code: u16, message: String| {
        outbox.send(Message::Error { code, message });
    };
    let worker = match role {
        Role::Worker { id, .. } => Some(*id),
        Role::Anonymous => None,
    };
    match msg {
        Message::Register {
            data_addr,
            slots,
            memory_bytes,
            prev_id,
        } if worker.is_none() => {
            let reg = Registration {
                data_addr: data_addr.clone(),
                slots,
                memory_bytes,
                prev_id,
            };
            // dup(2) the socket before taking the lock.
            let conn = stream.try_clone().ok();
            let mut guard = master.state();
            let state = &mut *guard;
            let admitted = state.members.register(reg, outbox.clone(), conn, now);
            state.scheduler.worker_seen(admitted.id);
            if admitted.replaced.is_some() {
                // The old connection's attempts are lost with it.
                state.scheduler.worker_lost(&mut state.members, admitted.id);
            }
            *role = Role::Worker {
                id: admitted.id,
                session: admitted.session,
            };
            outbox.send(Message::RegisterAck {
                worker_id: admitted.id,
            });
            state.scheduler.schedule(&mut state.members, now);
            drop(guard);
            if let Some(old) = admitted.replaced {
                let _ = old.shutdown(Shutdown::Both);
            }
            event!(
                Info,
                "master",
                if admitted.rejoined {
                    "worker_reregistered"
                } else {
                    "worker_registered"
                },
                id = admitted.id,
                addr = data_addr,
                peer = peer,
                slots = slots,
                memory = crate::size::format_size(memory_bytes)
            );
        }
        Message::Heartbeat { worker_id, metrics } if worker.is_some() => {
            let Role::Worker { id, session } = *role else {
                return;
            };
            let ok = worker_id == id && master.state().members.heartbeat(id, session, metrics, now);
            if ok {
                event!(Debug, "master", "heartbeat", id = worker_id);
            } else {
                event!(
                    Warn,
                    "master",
                    "heartbeat_refused",
                    id = worker_id,
                    peer = peer
                );
                reply_error(
                    error_code::UNKNOWN_WORKER,
                    format!("worker {worker_id} is not registered on this connection"),
                );
            }
        }
        Message::TaskDone {
            attempt,
            metrics,
            samples,
        } if worker.is_some() => {
            let mut guard = master.state();
            let state = &mut *guard;
            let w = worker.unwrap_or_default();
            state
                .scheduler
                .task_done(&mut state.members, w, attempt, metrics, samples, now);
            state.scheduler.schedule(&mut state.members, now);
        }
        Message::TaskFailed { attempt, error } if worker.is_some() => {
            let mut guard = master.state();
            let state = &mut *guard;
            let w = worker.unwrap_or_default();
            state
                .scheduler
                .task_failed(&mut state.members, w, attempt, error, now);
            state.scheduler.schedule(&mut state.members, now);
        }
        Message::FetchFailed {
            attempt,
            shuffle,
            map,
            addr,
            error,
        } if worker.is_some() => {
            let mut guard = master.state();
            let state = &mut *guard;
            let w = worker.unwrap_or_default();
            state.scheduler.fetch_failed(
                &mut state.members,
                w,
                attempt,
                shuffle,
                map,
                &addr,
                error,
                now,
            );
            state.scheduler.schedule(&mut state.members, now);
        }
        Message::TaskCommitted { attempt } if worker.is_some() => {
            let mut guard = master.state();
            let state = &mut *guard;
            let w = worker.unwrap_or_default();
            state
                .scheduler
                .task_committed(&mut state.members, w, attempt, now);
            // A completed stage may make the next one runnable.
            state.scheduler.schedule(&mut state.members, now);
        }
        Message::JobCommitted { job_id, error } if worker.is_some() => {
            let mut guard = master.state();
            let state = &mut *guard;
            let w = worker.unwrap_or_default();
            state
                .scheduler
                .job_committed(&mut state.members, w, job_id, error, now);
        }
        Message::Ping { nonce } => {
            outbox.send(Message::Pong { nonce });
        }
        Message::Hello { .. } => {
            // A peer with a secret, and we have none: say so plainly.
            if let Err(why) = auth::challenge(None, &msg) {
                outbox.send(auth::unauthorized(why));
            }
        }
        Message::ListWorkers {} => {
            let workers = master.state().members.snapshot(now);
            outbox.send(Message::WorkerList { workers });
        }
        Message::SubmitJob {
            file,
            source,
            params,
            base_dir,
            parallelism,
            inputs,
        } => {
            // Parsing and planning happen before taking the lock.
            match submission::accept(file, source, params, base_dir, parallelism, inputs) {
                Ok(job) => {
                    let mut guard = master.state();
                    let state = &mut *guard;
                    let job_id = state.scheduler.submit(job, now);
                    state.scheduler.schedule(&mut state.members, now);
                    drop(guard);
                    outbox.send(Message::JobAccepted { job_id });
                }
                Err(e) => {
                    event!(Warn, "master", "job_refused", peer = peer, error = e);
                    reply_error(error_code::BAD_JOB, e);
                }
            }
        }
        Message::GetJob { job_id } => {
            let guard = master.state();
            let report = guard.scheduler.report(job_id, &guard.members, now);
            drop(guard);
            match report {
                Some(job) => outbox.send(Message::JobStatus { job }),
                None => outbox.send(no_such_job(job_id)),
            };
        }
        Message::WaitJob {
            job_id,
            tasks_done,
            timeout_ms,
        } => {
            let reply = wait_job(master, job_id, tasks_done, timeout_ms);
            outbox
                .send(reply.map_or_else(|| no_such_job(job_id), |job| Message::JobStatus { job }));
        }
        Message::ListJobs {} => {
            let jobs = master.state().scheduler.summaries(now);
            outbox.send(Message::JobList { jobs });
        }
        Message::CancelJob { job_id } => {
            let mut guard = master.state();
            let state = &mut *guard;
            let reply = match state.scheduler.cancel(&mut state.members, job_id, now) {
                Ok(()) => state
                    .scheduler
                    .report(job_id, &state.members, now)
                    .map(|job| Message::JobStatus { job }),
                Err(_) => None,
            };
            drop(guard);
            outbox.send(reply.unwrap_or_else(|| no_such_job(job_id)));
        }
        Message::Error { code, message } => {
            event!(
                Warn,
                "master",
                "peer_error",
                peer = peer,
                code = code,
                message = message
            );
        }
        other => {
            let what = other.msg_type().name();
            event!(
                Warn,
                "master",
                "unexpected_message",
                peer = peer,
                msg = what
            );
            reply_error(
                error_code::UNEXPECTED,
                format!("the master does not accept {what} here"),
            );
        }
    }
}

/// Longest a `WaitJob` may hold its connection.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// Blocks this connection's thread on the `changed` condition variable
/// until the job moves past `tasks_done`, ends, or the timeout passes. The
/// wait releases the state lock, so it holds up nobody else.
fn wait_job(master: &Master, job_id: u64, tasks_done: u32, timeout_ms: u32) -> Option<JobReport> {
    let deadline = Instant::now() + Duration::from_millis(u64::from(timeout_ms)).min(MAX_WAIT);
    let mut guard = master.state();
    loop {
        let now = Instant::now();
        let report = guard.scheduler.report(job_id, &guard.members, now)?;
        let done = report.stages.iter().map(|s| s.tasks_done).sum::<u32>();
        if report.state.is_final() || done != tasks_done || now >= deadline {
            return Some(report);
        }
        guard = master
            .changed
            .wait_timeout(guard, deadline - now)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
}

fn no_such_job(job_id: u64) -> Message {
    Message::Error {
        code: error_code::NO_SUCH_JOB,
        message: format!("no job {job_id}"),
    }
}
