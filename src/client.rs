//! The client side of the binary protocol: one connection to the master,
//! one request and one reply at a time.

use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::net::{dial, FrameReader, FrameWriter, Secret};
use crate::protocol::{JobReport, JobSummary, Message, WorkerInfo};

/// Where the client looks for the master unless told otherwise.
pub const DEFAULT_MASTER: &str = "127.0.0.1:7000";
/// How often a refused connection to the master is tried again.
const REFUSED_RETRY: Duration = Duration::from_millis(50);
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
    /// Connects to the master at `addr`, proving `secret` when there is one.
    pub fn connect(addr: &str, timeout: Duration, secret: Option<&Secret>) -> Result<Client> {
        // A master that is still starting refuses connections (nothing
        // listens yet): try again for up to `timeout`, so that
        // `./master & ./client submit ...` works as typed.
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match dial::connect(addr, timeout, secret) {
                Err(e) if e.is_refused() && Instant::now() < deadline => {
                    thread::sleep(REFUSED_RETRY.min(deadline - Instant::now()));
                }
                other => break other?,
            }
        };
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

    /// Submits a prepared `SubmitJob`; returns the job id.
    pub fn submit(&mut self, msg: &Message) -> Result<u64> {
        match self.request(msg)? {
            Message::JobAccepted { job_id } => Ok(job_id),
            other => Err(unexpected("JobAccepted", &other)),
        }
    }

    pub fn job(&mut self, job_id: u64) -> Result<JobReport> {
        match self.request(&Message::GetJob { job_id })? {
            Message::JobStatus { job } => Ok(job),
            other => Err(unexpected("JobStatus", &other)),
        }
    }

    /// Waits (at most `timeout`) until the job has other than `tasks_done`
    /// tasks done or has ended; returns its status then.
    pub fn wait_job(
        &mut self,
        job_id: u64,
        tasks_done: u32,
        timeout: Duration,
    ) -> Result<JobReport> {
        let timeout_ms = timeout.as_millis().min(u32::MAX as u128) as u32;
        match self.request(&Message::WaitJob {
            job_id,
            tasks_done,
            timeout_ms,
        })? {
            Message::JobStatus { job } => Ok(job),
            other => Err(unexpected("JobStatus", &other)),
        }
    }

    pub fn jobs(&mut self) -> Result<Vec<JobSummary>> {
        match self.request(&Message::ListJobs {})? {
            Message::JobList { jobs } => Ok(jobs),
            other => Err(unexpected("JobList", &other)),
        }
    }

    pub fn cancel(&mut self, job_id: u64) -> Result<JobReport> {
        match self.request(&Message::CancelJob { job_id })? {
            Message::JobStatus { job } => Ok(job),
            other => Err(unexpected("JobStatus", &other)),
        }
    }
}

/// Streams one committed output part straight from the worker that holds it
/// (never through the master), handing each chunk to `sink`. `sink` returns
/// false to stop early. The connection proves `secret`, when there is one.
pub fn fetch_part(
    worker_addr: &str,
    job_id: u64,
    save: u32,
    part: u32,
    timeout: Duration,
    secret: Option<&Secret>,
    mut sink: impl FnMut(&[u8]) -> bool,
) -> Result<()> {
    let stream = dial::connect(worker_addr, timeout, secret)?;
    let read_half = stream
        .try_clone()
        .map_err(|e| Error::io("cloning the socket", e))?;
    let mut writer = FrameWriter::new(stream);
    let mut reader = FrameReader::new(read_half);
    writer.send(&Message::FetchOutput { job_id, save, part })?;
    loop {
        match reader.read_message()? {
            Some(Message::DataChunk { data, last }) => {
                if !sink(&data.0) || last != 0 {
                    return Ok(());
                }
            }
            Some(Message::Error { code, message }) => return Err(Error::Remote { code, message }),
            Some(other) => return Err(unexpected("DataChunk", &other)),
            None => {
                return Err(Error::Protocol(format!(
                    "{worker_addr} closed the connection in the middle of part {part}"
                )))
            }
        }
    }
}

fn unexpected(wanted: &str, got: &Message) -> Error {
    Error::Protocol(format!("expected {wanted}, got {got}"))
}
