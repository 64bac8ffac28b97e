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

pub mod aggregate;
pub mod auth;
pub mod chain;
pub mod cli;
pub mod client;
pub mod connection;
pub mod data_port;
pub mod error;
pub mod eventlog;
pub mod executor;
pub mod fault;
pub mod frame;
pub mod hash;
pub mod hex;
pub mod http;
pub mod job;
pub mod join;
pub mod journal;
pub mod json;
pub mod latency;
pub mod local;
pub mod log;
pub mod master;
pub mod membership;
pub mod message;
pub mod pipe;
pub mod plan;
pub mod pool;
pub mod procstat;
pub mod record;
pub mod recovery;
pub mod reducer;
pub mod report;
pub mod rng;
pub mod runfile;
pub mod scheduler;
pub mod shuffle;
pub mod size;
pub mod sort;
pub mod spill;
pub mod split;
pub mod submission;
pub mod task;
pub mod text_mode;
pub mod timeline;
pub mod trim;
pub mod web;
pub mod wire;
pub mod worker;

pub use error::{Error, Result};
