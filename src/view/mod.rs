//! TODO

pub mod json;
pub mod markup;
pub mod report;
pub mod timeline;
