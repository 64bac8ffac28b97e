//! A worker's data port: the socket its peers and tools talk to directly.
//!
//! OS idea: a second listening socket in the same process, with its own
//! accept thread (`net/listener.rs`), so data traffic between workers never
//! queues behind the control connection to the master. Each connection gets
//! a thread and is a plain request/reply loop of frames: `Ping`;
//! `FetchOutput`, which streams a committed output part to a client
//! (`client results`); and `FetchShuffle`, which streams one reduce
//! partition of a map output to another worker's reduce task. Both answer
//! in `DataChunk` frames.

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::error::{Error, Result};
use crate::event;
use crate::net::{linger_close, listener, Limits, Service};
use crate::net::{FrameReader, FrameWriter, Secret, StopSignal};
use crate::protocol::{error_code, Bytes, Message};
use crate::storage::{shuffle, Outputs};
use std::io::Read;
use std::path::Path;

/// Bytes sent per `DataChunk` frame.
const CHUNK_BYTES: usize = 64 * 1024;

enum SendError {
    /// Our side: the part is unknown or unreadable; the session goes on.
    Local(String),
    /// The peer's side: the connection broke.
    Peer,
}

/// Streams `len` bytes of `path` from `start` as `DataChunk` frames.
fn send_range(
    writer: &mut FrameWriter<&TcpStream>,
    path: &Path,
    start: u64,
    len: u64,
) -> std::result::Result<(), SendError> {
    let reader = shuffle::open_range(path, start, len).map_err(SendError::Local)?;
    send_stream(writer, reader, &path.display().to_string())
}

/// Streams what `reader` gives as `DataChunk` frames; `what` names it.
fn send_stream(
    writer: &mut FrameWriter<&TcpStream>,
    mut reader: impl Read,
    what: &str,
) -> std::result::Result<(), SendError> {
    let mut buf = vec![0u8; CHUNK_BYTES];
    loop {
        // Fill a whole chunk (short reads are normal) so `last` is exact.
        let mut filled = 0;
        while filled < buf.len() {
            match reader.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(SendError::Local(format!("reading {what}: {e}"))),
            }
        }
        let last = filled < buf.len();
        let chunk = Message::DataChunk {
            data: Bytes(buf[..filled].to_vec()),
            last: u8::from(last),
        };
        writer.send(&chunk).map_err(|_| SendError::Peer)?;
        if last {
            return Ok(());
        }
    }
}

/// A committed output part, whole.
fn send_part(
    writer: &mut FrameWriter<&TcpStream>,
    outputs: &Outputs,
    job_id: u64,
    save: u32,
    part: u32,
) -> std::result::Result<(), SendError> {
    let path = outputs.part(job_id, save, part).ok_or_else(|| {
        SendError::Local(format!(
            "this worker holds no part {part} of save {save} of job {job_id}"
        ))
    })?;
    let len = std::fs::metadata(&path)
        .map_err(|e| SendError::Local(format!("cannot read {}: {e}", path.display())))?
        .len();
    send_range(writer, &path, 0, len)
}

/// One reduce partition of a committed map output, found through its index.
fn send_shuffle(
    writer: &mut FrameWriter<&TcpStream>,
    outputs: &Outputs,
    job_id: u64,
    shuffle: u32,
    map: u32,
    partition: u32,
) -> std::result::Result<(), SendError> {
    // A cached partition in memory: its one partition is all of it.
    if let Some(bytes) = outputs
        .cached(job_id, shuffle, map)
        .filter(|_| partition == 0)
    {
        let what = format!("cached partition {map} of shuffle {shuffle} of job {job_id}");
        send_stream(writer, &bytes[..], &what)?;
        outputs.add_served(bytes.len() as u64);
        return Ok(());
    }
    let (data, index) = outputs.map(job_id, shuffle, map).ok_or_else(|| {
        SendError::Local(format!(
            "this worker holds no output of map {map} for shuffle {shuffle} of job {job_id}"
        ))
    })?;
    let (start, len) = shuffle::partition_range(&index, partition).map_err(SendError::Local)?;
    send_range(writer, &data, start, len)?;
    outputs.add_served(len);
    Ok(())
}

/// Starts the accept loop on its own thread, until `stop`.
pub fn spawn(
    listener: TcpListener,
    outputs: Outputs,
    limits: Limits,
    secret: Option<Arc<Secret>>,
    stop: &StopSignal,
) -> Result<JoinHandle<()>> {
    let service = Service {
        component: "worker",
        accept_thread: "data-port",
        conn_thread: "data-conn",
        limits,
    };
    listener::spawn(listener, service, stop, move |stream| {
        serve(&stream, &outputs, secret.as_deref())
    })
}

fn serve(stream: &TcpStream, outputs: &Outputs, secret: Option<&Secret>) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    let _ = stream.set_nodelay(true);
    let mut reader = FrameReader::new(stream);
    let mut writer = FrameWriter::new(stream);
    if !listener::authenticate("worker", &peer, secret, &mut reader, |m| {
        let _ = writer.send(&m);
    }) {
        linger_close(stream);
        return;
    }
    loop {
        let reply = match reader.read_message() {
            Ok(None) => return,
            Ok(Some(Message::Ping { nonce })) => Message::Pong { nonce },
            Ok(Some(hello @ Message::Hello { .. })) => match crate::net::challenge(None, &hello) {
                Err(why) => crate::net::unauthorized(why),
                Ok((challenge, _)) => challenge,
            },
            Ok(Some(Message::FetchOutput { job_id, save, part })) => {
                match send_part(&mut writer, outputs, job_id, save, part) {
                    Ok(()) => continue,
                    Err(SendError::Local(message)) => Message::Error {
                        code: error_code::NOT_FOUND,
                        message,
                    },
                    Err(SendError::Peer) => return,
                }
            }
            Ok(Some(Message::FetchShuffle {
                job_id,
                shuffle,
                map,
                partition,
            })) => match send_shuffle(&mut writer, outputs, job_id, shuffle, map, partition) {
                Ok(()) => continue,
                Err(SendError::Local(message)) => {
                    event!(
                        Warn,
                        "worker",
                        "fetch_refused",
                        peer = peer,
                        error = message
                    );
                    Message::Error {
                        code: error_code::NOT_FOUND,
                        message,
                    }
                }
                Err(SendError::Peer) => return,
            },
            Ok(Some(other)) => Message::Error {
                code: error_code::UNEXPECTED,
                message: format!(
                    "a worker's data port does not accept {}",
                    other.msg_type().name()
                ),
            },
            Err(Error::Frame(invalid)) => {
                let _ = writer.send(&listener::bad_frame("worker", &peer, &invalid));
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
