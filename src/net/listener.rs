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
//! The loop ends at a stop (`stop.rs`), and ends its connections with it.
//!
//! What a connection says is the handler's business. The start and the end
//! of a binary session are the same everywhere, so they are written here
//! once: `authenticate` (the accepting side of the handshake in `auth.rs`)
//! and `bad_frame` (the reply to bytes that are not a frame), and
//! `linger_close` to close without losing that last reply.

use std::collections::HashMap;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::event;
use crate::lock;
use crate::net::auth::{self, Secret};
use crate::net::connection::{FrameReader, FrameWriter};
use crate::net::semaphore::Semaphore;
use crate::net::stop::StopSignal;
use crate::protocol::{error_code, Invalid, Message};

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
    /// The name of the accept loop's thread.
    pub accept_thread: &'static str,
    /// The name of each connection's thread.
    pub conn_thread: &'static str,
    pub limits: Limits,
}

/// How long the loop rests after a failed `accept`.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);
/// How long the stop's connection to the listener may take.
const WAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts the accept loop on a thread of its own: each connection on
/// `listener` is served by `handler` on a thread of its own, at most
/// `limits.max_connections` at once, until `stop`.
///
/// At the stop, the listening socket is closed (connecting is refused from
/// then on), every connection still open is shut down (`shutdown(2)` wakes
/// its thread, blocked in `read`), and the loop returns once their threads
/// have ended. A connection's thread that waits on something else (a
/// `WaitJob`, say) holds it up until that wait ends.
///
/// # Errors
/// The listener's address cannot be read, or the OS refused a thread.
pub fn spawn<H>(
    listener: TcpListener,
    service: Service,
    stop: &StopSignal,
    handler: H,
) -> Result<JoinHandle<()>>
where
    H: Fn(TcpStream) + Send + Sync + 'static,
{
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io("reading the listener's address", e))?;
    // A thread blocked in `accept` does not see a channel close: at the
    // stop, a connection to ourselves wakes it.
    let waker = stop
        .on_stop("wake-accept", move || {
            let _ = TcpStream::connect_timeout(&reachable(addr), WAKE_TIMEOUT);
        })
        .map_err(|e| Error::io("starting the listener's waker thread", e))?;
    let stop = stop.clone();
    thread::Builder::new()
        .name(service.accept_thread.into())
        .spawn(move || {
            accept_loop(listener, service, &stop, handler);
            let _ = waker.join();
        })
        .map_err(|e| Error::io(format!("starting the {} thread", service.accept_thread), e))
}

/// The address to connect to to reach a listener bound to `addr`: a
/// wildcard address (`0.0.0.0`, `::`) is reached on loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

/// The connections being served: a clone of each socket (a `dup(2)`), to
/// shut it down at the stop, and its thread, to wait for.
#[derive(Default)]
struct Live {
    next: u64,
    conns: HashMap<u64, (TcpStream, JoinHandle<()>)>,
}

/// A connection's entry in `Live`, removed when its thread ends.
struct Entry {
    live: Arc<Mutex<Live>>,
    id: u64,
}

impl Drop for Entry {
    fn drop(&mut self) {
        lock(&self.live).conns.remove(&self.id);
    }
}

fn accept_loop<H>(listener: TcpListener, service: Service, stop: &StopSignal, handler: H)
where
    H: Fn(TcpStream) + Send + Sync + 'static,
{
    let Service {
        component,
        conn_thread,
        limits,
        ..
    } = service;
    let places = Arc::new(Semaphore::new(limits.max_connections));
    let live = Arc::new(Mutex::new(Live::default()));
    let handler = Arc::new(handler);
    for conn in listener.incoming() {
        // The waker's connection, or any that came after the stop.
        if stop.is_stopped() {
            break;
        }
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
                let watch = stream.try_clone();
                let handler = Arc::clone(&handler);
                // Locked across the spawn, so that the thread's entry is in
                // the table before the thread can remove it.
                let mut table = lock(&live);
                let id = table.next;
                table.next += 1;
                let table_ref = Arc::clone(&live);
                let spawned = thread::Builder::new()
                    .name(conn_thread.into())
                    .spawn(move || {
                        // Made here, not before the spawn: a failed spawn
                        // drops the closure, and with it an `Entry` would
                        // lock the table we hold.
                        let _entry = Entry {
                            live: table_ref,
                            id,
                        };
                        let _place = place;
                        handler(stream)
                    });
                match (spawned, watch) {
                    (Ok(thread), Ok(watch)) => {
                        table.conns.insert(id, (watch, thread));
                    }
                    // Without a clone of its socket (out of descriptors), the
                    // connection is served but not ended early by a stop; its
                    // idle timeout still bounds it.
                    (Ok(_), Err(_)) => {}
                    (Err(e), _) => event!(Error, component, "thread_spawn_failed", error = e),
                }
            }
            // Out of file descriptors, or a connection reset before accept:
            // log, breathe, and keep serving the others.
            Err(e) => {
                event!(Warn, component, "accept_failed", error = e);
                if stop.wait_timeout(ACCEPT_RETRY) {
                    break;
                }
            }
        }
    }
    // Closing the listening socket: from here on, connecting is refused.
    drop(listener);
    // Taken out of the table first: each ending thread locks it to remove
    // its entry.
    let conns = std::mem::take(&mut lock(&live).conns);
    for (stream, _) in conns.values() {
        let _ = stream.shutdown(Shutdown::Both);
    }
    for (_, (_, thread)) in conns {
        let _ = thread.join();
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
) -> std::result::Result<(), String> {
    let mut next = || -> std::result::Result<Message, String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::stop::Stop;
    use std::io::{ErrorKind, Write};
    use std::sync::mpsc;

    #[test]
    fn a_stop_closes_the_port_and_ends_the_open_connections() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let service = Service {
            component: "test",
            accept_thread: "test-accept",
            conn_thread: "test-conn",
            limits: Limits::default(),
        };
        let mut stop = Stop::new();
        let (tx, rx) = mpsc::channel();
        let accept = spawn(listener, service, &stop.signal(), move |mut stream| {
            let _ = stream.write_all(b"!");
            // Blocks until the peer sends, or the stop shuts the socket down.
            let read = stream.read(&mut [0u8; 1]).map_err(|e| e.kind());
            let _ = tx.send(read);
        })
        .unwrap();
        stop.adopt(accept);
        let mut peer = TcpStream::connect(addr).unwrap();
        peer.read_exact(&mut [0u8; 1]).unwrap(); // served, now blocked in `read`
        stop.stop().unwrap();
        // The connection's thread ended before `stop` returned, woken by
        // end of stream; the port refuses connections.
        assert_eq!(rx.try_recv(), Ok(Ok(0)));
        let refused = TcpStream::connect(addr).map(|_| ()).map_err(|e| e.kind());
        assert_eq!(refused, Err(ErrorKind::ConnectionRefused));
        assert_eq!(
            peer.read(&mut [0u8; 1]).unwrap(),
            0,
            "the peer sees the close"
        );
    }

    #[test]
    fn wildcard_addresses_are_reached_on_loopback() {
        let v4: SocketAddr = "0.0.0.0:7000".parse().unwrap();
        assert_eq!(reachable(v4), "127.0.0.1:7000".parse().unwrap());
        let v6: SocketAddr = "[::]:7000".parse().unwrap();
        assert_eq!(reachable(v6), "[::1]:7000".parse().unwrap());
        let one: SocketAddr = "10.1.2.3:7000".parse().unwrap();
        assert_eq!(reachable(one), one);
    }
}
