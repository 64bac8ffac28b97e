//! What the master does with each message of a binary session, once
//! `serve_binary` (in `mod.rs`) has read it off the socket.
//!
//! OS idea: privilege by connection, as a kernel checks a file descriptor
//! rather than a claim in each request. A session starts anonymous (a
//! client, the `frame` tool) and becomes a worker's only by `Register`. What
//! a worker reports about its attempts (`WorkerEvent`) is taken only on a
//! worker's session, so a client cannot make up a task's completion: on an
//! anonymous session those messages reach `client_request`, which does not
//! know them. Each request holds the master's lock only to read or change
//! the state; replies are sent, and files read, after it is released.

use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use crate::event;
use crate::master::membership::{Membership, Registration};
use crate::master::scheduler::{Lookup, WorkerEvent};
use crate::master::Master;
use crate::net::{auth, Outbox};
use crate::protocol::{error_code, FetchFailure, JobReport, Message, WorkerMetrics};
use crate::submission::{self, JobSource};

/// Where a binary session stands: anonymous (clients, tools) until a
/// `Register` makes it a worker's.
pub(super) enum Role {
    Anonymous,
    Worker { id: u32, session: u64 },
}

/// Acts on one message of a session in `role`, replying on `outbox`.
pub(super) fn handle(
    master: &Master,
    msg: Message,
    role: &mut Role,
    stream: &TcpStream,
    outbox: &Outbox,
    peer: &str,
) {
    let now = Instant::now();
    match *role {
        Role::Worker { id, session } => match worker_event(msg) {
            Ok(event) => {
                let mut guard = master.state();
                let state = &mut *guard;
                state
                    .scheduler
                    .worker_event(&mut state.members, id, event, now);
            }
            Err(Message::Heartbeat { worker_id, metrics }) => {
                heartbeat(master, (id, session), worker_id, metrics, outbox, peer, now);
            }
            // A worker may ask what a client may; a second `Register` is
            // unexpected there.
            Err(msg) => client_request(master, msg, outbox, peer, now),
        },
        Role::Anonymous => match msg {
            Message::Register {
                data_addr,
                slots,
                memory_bytes,
                prev_id,
            } => {
                let reg = Registration {
                    data_addr,
                    slots,
                    memory_bytes,
                    prev_id,
                };
                register(master, reg, role, stream, outbox, peer, now);
            }
            msg => client_request(master, msg, outbox, peer, now),
        },
    }
}

/// The scheduler's event for a message only a worker sends about its
/// attempts and jobs; any other message is handed back (by value: the
/// `Err` is not an error to propagate, so its size does not matter).
#[allow(clippy::result_large_err)]
fn worker_event(msg: Message) -> Result<WorkerEvent, Message> {
    Ok(match msg {
        Message::TaskDone {
            attempt,
            metrics,
            samples,
        } => WorkerEvent::TaskDone {
            attempt,
            metrics,
            samples,
        },
        Message::TaskFailed { attempt, error } => WorkerEvent::TaskFailed { attempt, error },
        Message::FetchFailed {
            attempt,
            shuffle,
            map,
            addr,
            error,
        } => WorkerEvent::FetchFailed {
            attempt,
            failure: FetchFailure {
                shuffle,
                map,
                addr,
                error,
            },
        },
        Message::TaskCommitted { attempt } => WorkerEvent::TaskCommitted { attempt },
        Message::JobCommitted { job_id, error } => WorkerEvent::JobCommitted { job_id, error },
        other => return Err(other),
    })
}

/// Admits a worker: this session becomes its (`role`), and the connection
/// it had before, if any, is shut.
fn register(
    master: &Master,
    reg: Registration,
    role: &mut Role,
    stream: &TcpStream,
    outbox: &Outbox,
    peer: &str,
    now: Instant,
) {
    let (data_addr, slots, memory_bytes) = (reg.data_addr.clone(), reg.slots, reg.memory_bytes);
    // dup(2) the socket before taking the lock.
    let conn = stream.try_clone().ok();
    let mut guard = master.state();
    let state = &mut *guard;
    warn_loopback_mix(&state.members, &data_addr, peer);
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
    // A worker that was away (cut off, frozen) when its jobs ended missed
    // their `ReleaseJob`: it gets one for each job that has ended, and
    // removes what it still holds of them. One it never ran costs nothing.
    if admitted.rejoined {
        for job_id in state.scheduler.ended_jobs() {
            outbox.send(Message::ReleaseJob { job_id });
        }
    }
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

/// Warns when a client on another host submits a job while a worker
/// advertises a loopback address: the job's outputs and `client results`
/// are on that worker, which no other host can reach.
fn warn_loopback_workers_for(members: &Membership, peer: &str) {
    if peer.is_empty() || is_loopback_addr(peer) {
        return;
    }
    for worker in members.alive().filter(|m| is_loopback_addr(&m.data_addr)) {
        event!(
            Warn,
            "master",
            "loopback_worker_address",
            addr = worker.data_addr,
            client = peer,
            hint = "peers on other hosts cannot reach it: start it with --advertise ADDRESS"
        );
    }
}

/// Is `addr` (`host:port`) on this machine's loopback?
fn is_loopback_addr(addr: &str) -> bool {
    addr.parse::<std::net::SocketAddr>()
        .is_ok_and(|a| a.ip().is_loopback())
        || addr.starts_with("localhost:")
}

/// Warns when workers on several hosts cannot all reach each other: one
/// advertises a loopback address (`127.0.0.1:...`) while another worker, or
/// this one's own connection, comes from another host. Only peers on its
/// own machine could fetch its map outputs.
fn warn_loopback_mix(members: &Membership, data_addr: &str, peer: &str) {
    let loopback = is_loopback_addr;
    let others: Vec<&str> = members.alive().map(|m| m.data_addr.as_str()).collect();
    let remote_peer = !peer.is_empty() && !loopback(peer);
    if loopback(data_addr) && (remote_peer || others.iter().any(|a| !loopback(a))) {
        event!(
            Warn,
            "master",
            "loopback_worker_address",
            addr = data_addr,
            peer = peer,
            hint = "workers on other hosts cannot fetch from it: start it with --advertise ADDRESS"
        );
    } else if !loopback(data_addr) {
        for other in others.iter().filter(|a| loopback(a)) {
            event!(
                Warn,
                "master",
                "loopback_worker_address",
                addr = other,
                new_worker = data_addr,
                hint = "workers on other hosts cannot fetch from it: start it with --advertise ADDRESS"
            );
        }
    }
}

/// A heartbeat on the session of worker `id` (`session` is its connection's
/// number); one naming another worker is refused.
fn heartbeat(
    master: &Master,
    (id, session): (u32, u64),
    worker_id: u32,
    metrics: WorkerMetrics,
    outbox: &Outbox,
    peer: &str,
    now: Instant,
) {
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
        outbox.send(Message::Error {
            code: error_code::UNKNOWN_WORKER,
            message: format!("worker {worker_id} is not registered on this connection"),
        });
    }
}

/// What anyone may ask: clients, tools, and workers too.
fn client_request(master: &Master, msg: Message, outbox: &Outbox, peer: &str, now: Instant) {
    match msg {
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
            let submitted = JobSource {
                file,
                source,
                params,
                base_dir,
                parallelism,
            };
            match submission::accept(submitted, inputs) {
                Ok(job) => {
                    let mut guard = master.state();
                    let state = &mut *guard;
                    warn_loopback_workers_for(&state.members, peer);
                    let job_id = state.scheduler.submit(job, now);
                    state.scheduler.schedule(&mut state.members, now);
                    drop(guard);
                    outbox.send(Message::JobAccepted { job_id });
                }
                Err(e) => {
                    event!(Warn, "master", "job_refused", peer = peer, error = e);
                    outbox.send(Message::Error {
                        code: error_code::BAD_JOB,
                        message: e,
                    });
                }
            }
        }
        Message::GetJob { job_id } => {
            let found = {
                let guard = master.state();
                guard.scheduler.report(job_id, &guard.members, now)
            };
            // A forgotten job's event log is read here, without the lock.
            match found.and_then(Lookup::read) {
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
            let found = {
                let mut guard = master.state();
                let state = &mut *guard;
                match state.scheduler.cancel(&mut state.members, job_id, now) {
                    Ok(()) => state.scheduler.report(job_id, &state.members, now),
                    Err(_) => None,
                }
            };
            let reply = found
                .and_then(Lookup::read)
                .map(|job| Message::JobStatus { job });
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
            outbox.send(Message::Error {
                code: error_code::UNEXPECTED,
                message: format!("the master does not accept {what} here"),
            });
        }
    }
}

/// Longest a `WaitJob` may hold its connection.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// Blocks this connection's thread on the `changed` condition variable
/// until the job's tasks done differ from `tasks_done` (a lost map output
/// can lower them), it ends, or the timeout passes. The wait releases the
/// state lock, so it holds up nobody else.
fn wait_job(master: &Master, job_id: u64, tasks_done: u32, timeout_ms: u32) -> Option<JobReport> {
    let deadline = Instant::now() + Duration::from_millis(u64::from(timeout_ms)).min(MAX_WAIT);
    let mut guard = master.state();
    loop {
        let now = Instant::now();
        let report = match guard.scheduler.report(job_id, &guard.members, now)? {
            Lookup::Held(report) => report,
            // Forgotten, so ended: its event log is read without the lock.
            forgotten => {
                drop(guard);
                return forgotten.read();
            }
        };
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
