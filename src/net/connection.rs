//! Reading and writing whole messages on a byte stream.
//!
//! OS idea: `read(2)` on a socket returns whatever bytes have arrived, which
//! may be part of a frame or several frames; `write(2)` is a system call per
//! invocation. `FrameReader` is the only owner of read buffering: it keeps
//! calling `read` until `frame::check` says a whole frame is buffered, and
//! callers only ever see whole messages. `FrameWriter` batches a message's
//! bytes in a `BufWriter` and flushes once per message.
//!
//! `Outbox` puts a writer on its own thread behind an `mpsc` channel, so any
//! thread (for example one holding the master's state lock) can queue a
//! message without ever blocking on a slow peer's socket.

use std::io::{self, BufWriter, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::{self, JoinHandle};

use crate::error::{Error, Result};
use crate::protocol::{FrameError, Message, MAX_WIRE_LEN};

/// Bytes the read buffer starts with; it grows (up to one maximal frame)
/// only as bytes actually arrive.
const INITIAL_BUFFER: usize = 8 * 1024;

/// Reads whole messages from a byte stream.
pub struct FrameReader<R> {
    inner: R,
    /// `buf[start..end]` holds bytes read but not yet returned as frames.
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl<R: Read> FrameReader<R> {
    pub fn new(inner: R) -> FrameReader<R> {
        FrameReader {
            inner,
            buf: vec![0; INITIAL_BUFFER],
            start: 0,
            end: 0,
        }
    }

    /// Reads the next message.
    ///
    /// Returns `Ok(None)` on a clean end of stream (the peer closed between
    /// frames).
    ///
    /// # Errors
    /// `Error::Frame` for bytes that are not a valid frame (the caller should
    /// answer with an `Error` frame and close), `Error::TruncatedStream` when
    /// the stream ends mid-frame, `Error::Io` when the read itself fails.
    pub fn read_message(&mut self) -> Result<Option<Message>> {
        loop {
            match Message::parse(&self.buf[self.start..self.end]) {
                Ok((msg, used)) => {
                    self.start += used;
                    return Ok(Some(msg));
                }
                Err(FrameError::Invalid(invalid)) => return Err(Error::Frame(invalid)),
                Err(FrameError::Incomplete) => {}
            }
            if self.fill()? == 0 {
                return match self.end - self.start {
                    0 => Ok(None),
                    buffered => Err(Error::TruncatedStream { buffered }),
                };
            }
        }
    }

    /// One `read` into the free end of the buffer, making room first.
    /// Returns the number of bytes read; 0 means end of stream.
    fn fill(&mut self) -> Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                // Slide the partial frame to the front instead of growing.
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                // `frame::check` has already refused any header announcing
                // more than MAX_FRAME_LEN, so the buffer never needs to be
                // larger than one maximal frame.
                let grown = (self.buf.len() * 2).min(MAX_WIRE_LEN);
                if grown == self.buf.len() {
                    return Err(Error::Protocol("frame larger than MAX_WIRE_LEN".into()));
                }
                self.buf.resize(grown, 0);
            }
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(n) => {
                    self.end += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("reading from peer", e)),
            }
        }
    }
}

/// Writes whole messages to a byte stream, one flush per message.
pub struct FrameWriter<W: Write> {
    // A BufWriter, because each `write` on a TcpStream is a system call: the
    // frame's bytes leave in as few calls as possible, then `flush` pushes
    // them out so the peer is never left waiting on a half-sent message.
    inner: BufWriter<W>,
}

impl<W: Write> FrameWriter<W> {
    pub fn new(inner: W) -> FrameWriter<W> {
        FrameWriter {
            inner: BufWriter::new(inner),
        }
    }

    /// Encodes `msg` as a frame, writes it and flushes.
    pub fn send(&mut self, msg: &Message) -> Result<()> {
        let bytes = msg.encode().map_err(Error::Protocol)?;
        self.inner
            .write_all(&bytes)
            .and_then(|()| self.inner.flush())
            .map_err(|e| Error::io(format!("sending {}", msg.msg_type().name()), e))
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        self.inner.get_ref()
    }
}

/// A queue of messages for one peer, drained by a dedicated writer thread.
///
/// Sending on an `Outbox` never blocks. When every clone of the outbox is
/// dropped, the writer thread sends what is queued, half-closes the socket
/// (`shutdown(Write)`: the peer reads end of stream) and exits.
#[derive(Clone)]
pub struct Outbox {
    tx: Sender<Message>,
}

impl Outbox {
    /// Starts the writer thread on a clone of `stream`.
    pub fn spawn(stream: &TcpStream, name: String) -> io::Result<(Outbox, JoinHandle<()>)> {
        let writer_stream = stream.try_clone()?;
        let (tx, rx) = mpsc::channel();
        let handle = thread::Builder::new()
            .name(name)
            .spawn(move || drain(writer_stream, rx))?;
        Ok((Outbox { tx }, handle))
    }

    /// Queues a message. Returns false when the writer has stopped (the peer
    /// is gone).
    pub fn send(&self, msg: Message) -> bool {
        self.try_send(msg).is_ok()
    }

    /// Queues a message, or hands it back when the writer has stopped.
    #[allow(clippy::result_large_err)] // giving the message back is the point
    pub fn try_send(&self, msg: Message) -> std::result::Result<(), Message> {
        self.tx.send(msg).map_err(|e| e.0)
    }
}

fn drain(stream: TcpStream, rx: Receiver<Message>) {
    let mut writer = FrameWriter::new(&stream);
    for msg in rx {
        if let Err(e) = writer.send(&msg) {
            crate::event!(Debug, "net", "write_failed", error = e);
            break;
        }
    }
    let _ = stream.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::samples;

    /// A reader that hands out at most `step` bytes per `read`, to exercise
    /// short reads.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        step: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(out.len()).min(self.data.len() - self.pos);
            out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    fn stream_of_samples() -> Vec<u8> {
        samples().iter().flat_map(Message::to_frame_bytes).collect()
    }

    #[test]
    fn short_reads_still_yield_whole_messages() {
        for step in [1, 2, 3, 7, 64, 100_000] {
            let mut reader = FrameReader::new(Trickle {
                data: stream_of_samples(),
                pos: 0,
                step,
            });
            for expected in samples() {
                assert_eq!(reader.read_message().unwrap(), Some(expected));
            }
            assert!(reader.read_message().unwrap().is_none(), "clean EOF");
        }
    }

    #[test]
    fn eof_mid_frame_is_an_error() {
        let mut bytes = stream_of_samples();
        bytes.pop();
        let mut reader = FrameReader::new(&bytes[..]);
        loop {
            match reader.read_message() {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("truncated stream read as clean EOF"),
                Err(Error::TruncatedStream { buffered }) => {
                    assert!(buffered > 0);
                    break;
                }
                Err(e) => panic!("unexpected {e}"),
            }
        }
    }

    #[test]
    fn a_frame_larger_than_the_initial_buffer_is_read() {
        let msg = Message::Error {
            code: 1,
            message: "x".repeat(INITIAL_BUFFER * 5),
        };
        let bytes = msg.to_frame_bytes();
        let mut reader = FrameReader::new(Trickle {
            data: bytes,
            pos: 0,
            step: 1000,
        });
        assert_eq!(reader.read_message().unwrap(), Some(msg));
    }

    #[test]
    fn writer_output_reads_back() {
        let mut out = Vec::new();
        {
            let mut w = FrameWriter::new(&mut out);
            for m in samples() {
                w.send(&m).unwrap();
            }
        }
        let mut reader = FrameReader::new(&out[..]);
        for m in samples() {
            assert_eq!(reader.read_message().unwrap(), Some(m));
        }
    }
}
