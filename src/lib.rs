//! Mini-Spark: a small distributed batch engine, written to be read.
//!
//! Start with `frame` (bytes on the wire), `message` (what the bytes mean),
//! `connection` (reading whole frames off a socket), then `master` and
//! `worker` (the two processes) and `membership` (who is alive).
//!
//! The shuffle's storage is built by hand, each piece in a file of its own:
//! `hash` (which partition a key goes to), `runfile` (records in CRC-checked
//! blocks), `spill` (a task's spill directory), `sort` (the external merge
//! sort) and `aggregate` (the bounded-memory hash aggregator).

pub mod cli;
pub mod client;
pub mod error;
pub mod exec;
pub mod job;
pub mod local;
pub mod log;
pub mod master;
pub mod net;
pub mod protocol;
pub mod record;
pub mod rng;
pub mod size;
pub mod storage;
pub mod submission;
pub mod view;
pub mod worker;

pub use error::{Error, Result};
