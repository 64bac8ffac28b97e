//! TODO

pub mod chain;
pub mod executor;
pub mod join;
pub mod pipe;
pub mod reducer;
pub mod split;
