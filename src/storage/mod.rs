//! TODO

pub mod aggregate;
pub mod hash;
pub mod outputs;
pub mod runfile;
pub mod shuffle;
pub mod sort;
pub mod spill;
