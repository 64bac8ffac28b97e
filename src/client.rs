//! The client side of the binary protocol: one connection to the master,
//! one request and one reply at a time.

use std::net::TcpStream;
use std::time::Duration;

use crate::connection::{connect, FrameReader, FrameWriter};
use crate::error::{Error, Result};
use crate::message::{Message, WorkerInfo};

/// Where the client looks for the master unless told otherwise.
pub const DEFAULT_MASTER: &str = "127.0.0.1:7000";
/// Environment variable that overrides `DEFAULT_MASTER`.
pub const MASTER_ENV: &str = "MINISPARK_MASTER";

/// The master address: the flag if given, else `$MINISPARK_MASTER`, else the default.
pub fn master_addr(flag: Option<String>) -> String {
    flag.or_else(|| std::env::var(MASTER_ENV).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| DEFAULT_MASTER.to_string())
}

pub struct Client {
    reader: FrameReader<TcpStream>,
    writer: FrameWriter<TcpStream>,
}

impl Client {
    pub fn connect(addr: &str, timeout: Duration) -> Result<Client> {
        let stream = connect(addr, timeout)?;
        let read_half = stream
            .try_clone()
            .map_err(|e| Error::io("cloning the socket", e))?;
        Ok(Client {
            reader: FrameReader::new(read_half),
            writer: FrameWriter::new(stream),
        })
    }

    /// Sends `msg` and waits for the reply.
    ///
    /// # Errors
    /// `Error::Remote` when the master answers with an `Error` frame.
    pub fn request(&mut self, msg: &Message) -> Result<Message> {
        self.writer.send(msg)?;
        match self.reader.read_message()? {
            Some(Message::Error { code, message }) => Err(Error::Remote { code, message }),
            Some(reply) => Ok(reply),
            None => Err(Error::Protocol(format!(
                "the master closed the connection instead of answering {}",
                msg.msg_type().name()
            ))),
        }
    }

    pub fn workers(&mut self) -> Result<Vec<WorkerInfo>> {
        match self.request(&Message::ListWorkers {})? {
            Message::WorkerList { workers } => Ok(workers),
            other => Err(unexpected("WorkerList", &other)),
        }
    }

    /// Round-trips a `Ping`; returns the time it took.
    pub fn ping(&mut self) -> Result<Duration> {
        let started = std::time::Instant::now();
        let nonce = started.elapsed().as_nanos() as u64 ^ u64::from(std::process::id());
        match self.request(&Message::Ping { nonce })? {
            Message::Pong { nonce: n } if n == nonce => Ok(started.elapsed()),
            other => Err(unexpected("Pong with our nonce", &other)),
        }
    }
}

fn unexpected(wanted: &str, got: &Message) -> Error {
    Error::Protocol(format!("expected {wanted}, got {got}"))
}
