//! Views: a job or a worker turned into something a person (or a program)
//! reads.
//!
//! `report` is the text of `client status`, `client jobs` and the progress
//! bar (the master's text mode prints the same). The master's web pages
//! are `page` (the frame every page shares, and the main page), `job_page`
//! (a job, a stage) and `worker` (a worker, and the copy of the master's
//! state it is drawn from); their pictures are `timeline` (a job's attempts
//! as an SVG Gantt chart), `dag` (its stages and shuffles) and `sparkline`
//! (a worker's heartbeats); `clock` writes their wall-clock times. `api`
//! writes the `/api/v1` documents with `json`; `markup` escapes text for
//! HTML and SVG and checks that markup is well formed. Every view is a pure
//! function of copies (`JobReport`, `WorkerInfo`, `WorkerDetail`...): it
//! holds no state and takes no lock, so the master renders outside its
//! lock and the client renders what it fetched.

pub mod api;
pub mod clock;
pub mod dag;
pub mod job_page;
mod json;
mod markup;
pub mod page;
pub mod report;
pub mod sparkline;
pub mod timeline;
pub mod worker;

pub use json::Json;
pub use markup::{html_escape, well_formed};
pub use report::status_table;
