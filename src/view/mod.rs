//! Views: a job or a worker list turned into something a person reads.
//!
//! `report` is the text of `client status`, `client jobs` and the progress
//! bar (the master's text mode prints the same); `timeline` draws a job's
//! attempts as an SVG Gantt chart; `json` writes the `/api/v1` answers;
//! `markup` escapes text for HTML and SVG and checks that markup is well
//! formed. Every view is a pure function of the protocol's report types
//! (`JobReport`, `WorkerInfo`, ...): it holds no state and takes no lock,
//! so the master renders outside its lock and the client renders what it
//! fetched.

mod json;
mod markup;
pub mod report;
pub mod timeline;

pub use json::Json;
pub use markup::{html_escape, well_formed};
pub use report::status_table;
