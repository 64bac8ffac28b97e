//! Dialing a peer: `connect(2)` with a timeout, then, when the caller holds
//! a secret, the connecting side of the handshake (`auth.rs`).
//!
//! OS idea: a blocking `connect` to an address that never answers waits as
//! long as the kernel keeps retrying its SYN (minutes on Linux), so every
//! dial is bounded by `connect_timeout`; the handshake that follows is
//! bounded the same way, by a read timeout on the new socket. A name can
//! resolve to several addresses (IPv4 and IPv6, say): each is tried in turn.
//!
//! The secret is passed in by the caller (from its config), never read from
//! a process-wide setting, so one process can hold several identities (the
//! embedded cluster of `local.rs`, a test) and this file says what it uses.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::net::auth::{self, Secret};
use crate::net::connection::{FrameReader, FrameWriter};
use crate::protocol::Message;

/// Connects to `addr` (`host:port`), trying each address it resolves to,
/// and authenticates with `secret` when there is one.
///
/// # Errors
/// The name does not resolve, no address accepts the connection within
/// `timeout`, or the handshake fails (`Error::Usage`, naming the peer).
pub fn connect(addr: &str, timeout: Duration, secret: Option<&Secret>) -> Result<TcpStream> {
    let addrs: Vec<_> = addr
        .to_socket_addrs()
        .map_err(|e| Error::io(format!("resolving {addr}"), e))?
        .collect();
    let mut last = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, timeout) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                if let Some(secret) = secret {
                    // Bounded, like the connect: a peer that never answers
                    // does not hang us.
                    let _ = s.set_read_timeout(Some(timeout.max(Duration::from_secs(1))));
                    handshake(&s, secret)
                        .map_err(|e| Error::Usage(format!("authenticating with {addr}: {e}")))?;
                    let _ = s.set_read_timeout(None);
                }
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => Error::io(format!("connecting to {addr}"), e),
        None => Error::Usage(format!("{addr} resolves to no address")),
    })
}

/// The connecting side of the whole handshake, on a fresh connection:
/// `Hello`, check the server's `Challenge`, `Proof`, then `AuthOk`.
///
/// # Errors
/// The peer refused us, or could not prove it holds the secret.
fn handshake(stream: &TcpStream, secret: &Secret) -> std::result::Result<(), String> {
    let nonce_c = auth::nonce()?;
    let mut writer = FrameWriter::new(stream);
    let mut reader = FrameReader::new(stream);
    writer
        .send(&auth::hello(&nonce_c))
        .map_err(|e| e.to_string())?;
    let challenge = reader
        .read_message()
        .map_err(|e| e.to_string())?
        .ok_or("the peer closed the connection during authentication")?;
    writer
        .send(&auth::answer(secret, &nonce_c, challenge)?)
        .map_err(|e| e.to_string())?;
    match reader.read_message().map_err(|e| e.to_string())? {
        Some(Message::AuthOk {}) => Ok(()),
        Some(Message::Error { message, .. }) => Err(format!("the peer refused: {message}")),
        Some(other) => Err(format!("expected AuthOk, got {}", other.msg_type().name())),
        None => Err("the peer closed the connection during authentication".into()),
    }
}
