//! TODO

pub mod json;
pub mod report;
pub mod timeline;
