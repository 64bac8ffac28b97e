//! TODO

pub mod chain;
pub mod env;
pub mod executor;
pub mod join;
pub mod pipe;
pub mod reducer;
pub mod split;
