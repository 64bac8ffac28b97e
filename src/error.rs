//! The crate-wide error type.
//!
//! One enum for everything that can go wrong, with a hand-written `Display`
//! that names what was wrong and where. Modules get a small enum of their own
//! only where callers branch on it (see `protocol::frame::FrameError`, whose
//! `Incomplete` means "read more", not "fail").

use std::fmt;
use std::io;

use crate::protocol::Invalid;

/// Everything that can fail in Mini-Spark.
#[derive(Debug)]
pub enum Error {
    /// An operating-system call failed; `context` says what we were doing.
    Io { context: String, source: io::Error },
    /// A peer sent bytes that are not a valid frame.
    Frame(Invalid),
    /// A peer broke the protocol: a valid frame arrived where the session
    /// did not expect it, or a frame is too large to send or receive.
    Protocol(String),
    /// The peer answered with an `Error` frame. Its message says what was
    /// wrong in the peer's words (`no job 99`), and is all `Display` shows:
    /// the code is for programs, which branch on it.
    Remote { code: u16, message: String },
    /// The peer closed the connection in the middle of a frame.
    TruncatedStream { buffered: usize },
    /// Something for the user to fix: a flag or argument, a work or state
    /// directory, an address that resolves to nothing, a secret that does
    /// not match.
    Usage(String),
}

/// Shorthand used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Whether this is a connection refused: nothing listens there (yet).
    pub fn is_refused(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == io::ErrorKind::ConnectionRefused)
    }

    /// Wraps an `io::Error` with a note on what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Frame(invalid) => write!(f, "invalid frame: {invalid}"),
            Error::Protocol(msg) => write!(f, "protocol error: {msg}"),
            Error::Remote { message, .. } => write!(f, "{message}"),
            Error::TruncatedStream { buffered } => write!(
                f,
                "connection closed in the middle of a frame ({buffered} bytes buffered)"
            ),
            Error::Usage(msg) => write!(f, "{msg}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<Invalid> for Error {
    fn from(invalid: Invalid) -> Error {
        Error::Frame(invalid)
    }
}
