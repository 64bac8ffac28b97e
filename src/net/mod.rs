//! The network: whole messages on sockets, and the sockets' lives.
//!
//! Start with `connection` (framing and buffering: callers see whole
//! messages), then `dial` (the connecting side: connect with a timeout,
//! prove the secret) and `listener` (the accepting side: one accept loop,
//! a cap on connections, the secret demanded, bad frames answered).
//! `auth` holds the secret and the handshake's messages, `http` the little
//! HTTP/1.1 the master's web page speaks, `keepalive` the kernel's probe of
//! a connection gone quiet. `semaphore` (the connection cap,
//! and the worker's task pool) and `stop` (shutting a master or a worker
//! down in process) are the two synchronisation tools they build on.
//!
//! Imports go one way: `protocol` below, everything else above.

pub mod auth;
mod connection;
pub mod dial;
pub mod http;
pub mod keepalive;
pub mod listener;
mod semaphore;
mod stop;

pub use auth::{challenge, from_flag_or_env, unauthorized, Secret};
pub use connection::{FrameReader, FrameWriter, Outbox};
pub use http::{looks_like_http, BadRequest, Response};
pub use listener::{linger_close, Limits, Service};
pub use semaphore::{Permit, Semaphore};
pub use stop::{Stop, StopSignal};
