//! The master process: accepts connections, keeps the worker table, and
//! declares silent workers dead.
//!
//! OS idea: one thread per connection. `accept(2)` hands the listening
//! thread a new socket; a thread of its own then blocks in `read` on it, so a
//! slow peer never holds up anyone else. Threads share the master's state
//! through one `Mutex`, and never hold it across a socket call: replies are
//! built from a copy taken under the lock, and messages to workers go
//! through each worker's `Outbox` channel.
//!
//! Every connection starts the same way: the master peeks at its first byte
//! (`recv` with `MSG_PEEK`, which looks without consuming). The frame magic
//! means a binary session (workers, clients, the `frame` tool); anything else
//! is a person with netcat, served by `text_mode`.

use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crate::connection::{linger_close, FrameReader, Outbox};
use crate::error::{Error, Result};
use crate::event;
use crate::frame::MAGIC;
use crate::membership::{Membership, Registration};
use crate::message::{error_code, Message};
use crate::text_mode;

/// Settings from the command line.
#[derive(Debug, Clone)]
pub struct MasterConfig {
    /// Silence after which an alive worker is declared dead.
    pub heartbeat_timeout: Duration,
}

/// State shared by every connection thread.
pub struct Master {
    pub config: MasterConfig,
    /// The address the listener is bound to.
    pub addr: SocketAddr,
    pub started: Instant,
    membership: Mutex<Membership>,
}

impl Master {
    /// Locks the worker table. A thread that panicked while holding the lock
    /// leaves plain data behind, so a poisoned lock is still usable.
    pub fn membership(&self) -> MutexGuard<'_, Membership> {
        self.membership.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Serves on `listener` until the process ends.
///
/// Takes an already-bound listener so tests (and the binary) can bind port 0
/// and learn the port first.
pub fn run(listener: TcpListener, config: MasterConfig) -> Result<()> {
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io("reading the listener's address", e))?;
    let master = Arc::new(Master {
        config,
        addr,
        started: Instant::now(),
        membership: Mutex::new(Membership::new()),
    });
    event!(
        Info,
        "master",
        "listening",
        addr = addr,
        heartbeat_timeout_ms = master.config.heartbeat_timeout.as_millis()
    );
    let monitor = Arc::clone(&master);
    thread::Builder::new()
        .name("heartbeat-monitor".into())
        .spawn(move || watch_heartbeats(&monitor))
        .map_err(|e| Error::io("starting the heartbeat monitor thread", e))?;

    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                let master = Arc::clone(&master);
                let spawned = thread::Builder::new()
                    .name("conn".into())
                    .spawn(move || serve_connection(&master, stream));
                if let Err(e) = spawned {
                    event!(Error, "master", "thread_spawn_failed", error = e);
                }
            }
            // Out of file descriptors, or a connection reset before accept:
            // log, breathe, and keep serving the others.
            Err(e) => {
                event!(Warn, "master", "accept_failed", error = e);
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
    Ok(())
}

/// Periodically declares silent workers dead and shuts their connections.
fn watch_heartbeats(master: &Master) {
    let timeout = master.config.heartbeat_timeout;
    // Check a few times per timeout so a death is noticed within ~1.25x it.
    let tick = (timeout / 4).clamp(Duration::from_millis(5), Duration::from_secs(1));
    loop {
        thread::sleep(tick);
        let expired = master.membership().expire(Instant::now(), timeout);
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
    let mut first = [0u8; 1];
    match stream.peek(&mut first) {
        Ok(0) | Err(_) => return,
        Ok(_) => {}
    }
    if first[0] == MAGIC[0] {
        event!(Debug, "master", "binary_session", peer = peer);
        if let Err(e) = serve_binary(master, &stream, &peer) {
            event!(Warn, "master", "session_failed", peer = peer, error = e);
        }
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
    let result = loop {
        let msg = match reader.read_message() {
            Ok(Some(msg)) => msg,
            Ok(None) => break Ok(()),
            Err(Error::Frame(invalid)) => {
                event!(Warn, "master", "bad_frame", peer = peer, reason = invalid);
                outbox.send(Message::Error {
                    code: error_code::BAD_FRAME,
                    message: invalid.to_string(),
                });
                refused = true;
                break Ok(());
            }
            Err(e) => break Err(e),
        };
        event!(Debug, "master", "received", peer = peer, msg = msg);
        handle(master, msg, &mut role, stream, &outbox, peer);
    };

    if let Role::Worker { id, session } = role {
        if master.membership().disconnected(id, session) {
            event!(
                Warn,
                "master",
                "worker_dead",
                id = id,
                addr = peer,
                reason = "connection_closed"
            );
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
    let unexpected = |what: &str| {
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
    };
    match (msg, &*role) {
        (
            Message::Register {
                data_addr,
                slots,
                memory_bytes,
                prev_id,
            },
            Role::Anonymous,
        ) => {
            let reg = Registration {
                data_addr: data_addr.clone(),
                slots,
                memory_bytes,
                prev_id,
            };
            let admitted = master.membership().register(
                reg,
                outbox.clone(),
                stream.try_clone().ok(),
                Instant::now(),
            );
            if let Some(old) = admitted.replaced {
                let _ = old.shutdown(Shutdown::Both);
            }
            *role = Role::Worker {
                id: admitted.id,
                session: admitted.session,
            };
            outbox.send(Message::RegisterAck {
                worker_id: admitted.id,
            });
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
        (Message::Heartbeat { worker_id }, Role::Worker { id, session }) => {
            let ok =
                worker_id == *id && master.membership().heartbeat(*id, *session, Instant::now());
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
        (Message::Ping { nonce }, _) => {
            outbox.send(Message::Pong { nonce });
        }
        (Message::ListWorkers {}, _) => {
            let workers = master.membership().snapshot(Instant::now());
            outbox.send(Message::WorkerList { workers });
        }
        (Message::Error { code, message }, _) => {
            event!(
                Warn,
                "master",
                "peer_error",
                peer = peer,
                code = code,
                message = message
            );
        }
        (other, _) => unexpected(other.msg_type().name()),
    }
}
