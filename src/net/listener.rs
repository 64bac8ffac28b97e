//! One accept loop for every listening socket: the master's port and each
//! worker's data port.
//!
//! OS idea: `accept(2)` hands the listening thread a new socket, and a
//! thread of its own then blocks in `read` on it, so a slow peer never holds
//! up anyone else. Each connection costs a thread, its stack and buffers,
//! and a file descriptor: without a cap, a flood of connections exhausts
//! them all. So a place is taken in a counting semaphore (`semaphore.rs`)
//! before the thread starts, and given back when it ends; a connection over
//! the cap is answered `Error BUSY` and closed. An idle timeout on each
//! socket (`SO_RCVTIMEO`, via `set_read_timeout`) drops a peer that sends
//! nothing, so half-open connections do not hold their place forever.
//!
//! What a connection says is the handler's business. The start and the end
//! of a binary session are the same everywhere, so they are written here
//! once: `authenticate` (the accepting side of the handshake in `auth.rs`)
//! and `bad_frame` (the reply to bytes that are not a frame), and
//! `linger_close` to close without losing that last reply.

use std::io::Read;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::event;
use crate::net::auth::{self, Secret};
use crate::net::connection::{FrameReader, FrameWriter};
use crate::net::semaphore::Semaphore;
use crate::protocol::frame::Invalid;
use crate::protocol::message::{error_code, Message};

/// How many connections a process serves at once, and how long one may
/// stay silent.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 1024,
            idle_timeout: Duration::from_secs(120),
        }
    }
}

/// Who is listening, as its log lines and threads are named.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    /// The component of its log events: `master` or `worker`.
    pub component: &'static str,
    /// The name of each connection's thread.
    pub thread: &'static str,
    pub limits: Limits,
}

/// How long the loop rests after a failed `accept`.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// Accepts connections on `listener`, each served by `handler` on a thread
/// of its own, at most `limits.max_connections` at once. Runs on the calling
/// thread.
pub fn serve<H>(listener: TcpListener, service: Service, handler: H)
where
    H: Fn(TcpStream) + Send + Sync + 'static,
{
    let Service {
        component,
        thread: name,
        limits,
    } = service;
    let places = Arc::new(Semaphore::new(limits.max_connections));
    let handler = Arc::new(handler);
    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                let Some(place) = places.try_acquire_owned() else {
                    let peer = stream
                        .peer_addr()
                        .map(|a| a.to_string())
                        .unwrap_or_default();
                    event!(
                        Warn,
                        component,
                        "connection_refused",
                        peer = peer,
                        reason = "too_many"
                    );
                    refuse_busy(&stream, limits.max_connections);
                    continue;
                };
                // A peer that sends nothing for this long is dropped: slow or
                // half-open peers do not hold a thread forever.
                let _ = stream.set_read_timeout(Some(limits.idle_timeout));
                let handler = Arc::clone(&handler);
                let spawned = thread::Builder::new().name(name.into()).spawn(move || {
                    let _place = place;
                    handler(stream)
                });
                if let Err(e) = spawned {
                    event!(Error, component, "thread_spawn_failed", error = e);
                }
            }
            // Out of file descriptors, or a connection reset before accept:
            // log, breathe, and keep serving the others.
            Err(e) => {
                event!(Warn, component, "accept_failed", error = e);
                thread::sleep(ACCEPT_RETRY);
            }
        }
    }
}

/// Refuses a connection over the cap: an `Error` frame (a binary peer
/// reads it; others see the connection close), then close.
fn refuse_busy(stream: &TcpStream, max: usize) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = FrameWriter::new(stream).send(&Message::Error {
        code: error_code::BUSY,
        message: format!("too many connections (over {max}); try again later"),
    });
    let _ = stream.shutdown(Shutdown::Both);
}

/// The accepting side of a binary session's start: with a `secret`, the
/// whole handshake (`auth.rs`), reading `Hello` and `Proof` from `reader`
/// and handing `Challenge` and `AuthOk` (or an `Error`) to `send`. Without
/// one, there is nothing to check.
///
/// Returns false when the peer is refused (logged as `auth_failed` under
/// `component`); the caller then sends what is queued and closes with
/// `linger_close`.
pub fn authenticate<R: Read>(
    component: &str,
    peer: &str,
    secret: Option<&Secret>,
    reader: &mut FrameReader<R>,
    send: impl FnMut(Message),
) -> bool {
    let Some(secret) = secret else {
        return true;
    };
    match handshake(secret, reader, send) {
        Ok(()) => true,
        Err(why) => {
            event!(Warn, component, "auth_failed", peer = peer, reason = why);
            false
        }
    }
}

/// The handshake itself; the error says what went wrong, for the log.
fn handshake<R: Read>(
    secret: &Secret,
    reader: &mut FrameReader<R>,
    mut send: impl FnMut(Message),
) -> Result<(), String> {
    let mut next = || -> Result<Message, String> {
        reader
            .read_message()
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "closed before authenticating".to_string())
    };
    let first = next()?;
    let (challenge, expected) = match auth::challenge(Some(secret), &first) {
        Ok(c) => c,
        Err(why) => {
            send(auth::unauthorized(why));
            return Err(format!("no Hello (got {})", first.msg_type().name()));
        }
    };
    send(challenge);
    if !auth::check(secret, &expected, &next()?) {
        send(auth::refused());
        return Err("wrong secret".into());
    }
    send(Message::AuthOk {});
    Ok(())
}

/// The reply to bytes that are not a frame, logged as `bad_frame` under
/// `component`. The caller sends it and closes with `linger_close`: after
/// a bad frame, where the next one starts cannot be known.
pub fn bad_frame(component: &str, peer: &str, invalid: &Invalid) -> Message {
    event!(Warn, component, "bad_frame", peer = peer, reason = invalid);
    Message::Error {
        code: error_code::BAD_FRAME,
        message: invalid.to_string(),
    }
}

/// How long `linger_close` waits for the peer to stop sending.
const LINGER: Duration = Duration::from_millis(500);

/// Closes a connection we are refusing, so that the peer still gets to read
/// the `Error` frame we sent it.
///
/// Closing a socket with unread bytes in its receive buffer makes the kernel
/// send a reset (RST), and a reset can destroy our last reply before the
/// peer reads it. So: half-close our side (the peer reads end of stream after
/// our reply), then read and discard what the peer still sends, for a short
/// while, before the socket is dropped.
pub fn linger_close(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(LINGER));
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    let mut reader = stream;
    while Instant::now() < deadline {
        match reader.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}
