//! Mini-Spark: a small distributed batch engine, written to be read.
//!
//! Start with `frame` (bytes on the wire), `message` (what the bytes mean),
//! `connection` (reading whole frames off a socket), then `master` and
//! `worker` (the two processes) and `membership` (who is alive).

pub mod cli;
pub mod client;
pub mod connection;
pub mod data_port;
pub mod error;
pub mod frame;
pub mod hex;
pub mod log;
pub mod master;
pub mod membership;
pub mod message;
pub mod record;
pub mod rng;
pub mod size;
pub mod text_mode;
pub mod wire;
pub mod worker;

pub use error::{Error, Result};
