//! TODO

pub mod frame;
pub mod hex;
pub mod message;
pub mod wire;
