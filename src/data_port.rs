//! A worker's data port: the socket its peers and tools talk to directly.
//!
//! OS idea: a second listening socket in the same process, with its own
//! accept thread, so data traffic between workers never queues behind the
//! control connection to the master. Each connection gets a thread and is a
//! plain request/reply loop of frames. Today it answers `Ping`; the shuffle
//! adds the fetch of map outputs here.

use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use crate::connection::{linger_close, FrameReader, FrameWriter};
use crate::error::{Error, Result};
use crate::event;
use crate::message::{error_code, Message};

/// Starts the accept loop on its own thread.
pub fn spawn(listener: TcpListener) -> Result<()> {
    thread::Builder::new()
        .name("data-port".into())
        .spawn(move || accept_loop(listener))
        .map(|_| ())
        .map_err(|e| Error::io("starting the data port thread", e))
}

fn accept_loop(listener: TcpListener) {
    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                let spawned = thread::Builder::new()
                    .name("data-conn".into())
                    .spawn(move || serve(&stream));
                if let Err(e) = spawned {
                    event!(Error, "worker", "thread_spawn_failed", error = e);
                }
            }
            Err(e) => {
                event!(Warn, "worker", "accept_failed", error = e);
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn serve(stream: &TcpStream) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    let _ = stream.set_nodelay(true);
    let mut reader = FrameReader::new(stream);
    let mut writer = FrameWriter::new(stream);
    loop {
        let reply = match reader.read_message() {
            Ok(None) => return,
            Ok(Some(Message::Ping { nonce })) => Message::Pong { nonce },
            Ok(Some(other)) => Message::Error {
                code: error_code::UNEXPECTED,
                message: format!(
                    "a worker's data port does not accept {}",
                    other.msg_type().name()
                ),
            },
            Err(Error::Frame(invalid)) => {
                event!(Warn, "worker", "bad_frame", peer = peer, reason = invalid);
                let _ = writer.send(&Message::Error {
                    code: error_code::BAD_FRAME,
                    message: invalid.to_string(),
                });
                linger_close(stream);
                return;
            }
            Err(e) => {
                event!(
                    Debug,
                    "worker",
                    "data_session_ended",
                    peer = peer,
                    error = e
                );
                return;
            }
        };
        if writer.send(&reply).is_err() {
            return;
        }
    }
}
