//! TODO

pub mod auth;
pub mod connection;
pub mod dial;
pub mod http;
pub mod listener;
pub mod semaphore;
