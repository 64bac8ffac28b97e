//! TODO

pub mod auth;
pub mod connection;
pub mod http;
