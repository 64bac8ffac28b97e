//! Export: a job file written out as a program for another engine, so that
//! a job that outgrows a few machines moves to Apache Spark in one command
//! (`client export FILE --to pyspark`) and computes there exactly what it
//! computes here.
//!
//! ```text
//! client export jobs/wordcount.job --to pyspark -o wordcount.py
//! python3 wordcount.py --param input=hdfs:///logs --master yarn
//! ```
//!
//! Idea: translate what the file says, not what it runs. `Job::parse`
//! checks the job first, with every message it has; then `graph` reads the
//! parser's statements again, loops written once rather than unrolled,
//! resolves each name as the checker does and works out what each
//! dataset's records look like; `pyspark` writes one Python statement per
//! job statement, with the job's names and comments, `rdd` each source
//! and operator as the RDD calls that compute it; `python` writes
//! expressions; `comments` finds the comments the lexer dropped. The
//! program carries `prelude.py`, the runtime that gives the job language's
//! functions and operators their exact meaning on PySpark (numbers read and
//! printed as here, integers checked for overflow, bytes kept as bytes).
//! A construct that the program could not compute exactly (a `take` of
//! records in Mini-Spark's hash-partition order, which Spark's partitions
//! do not reproduce) is refused here, with its line and column, never
//! written with a difference.
//!
//! `tools/spark-check.sh` (`make spark-check`) runs every job of `jobs/` on
//! both engines and compares the outputs; docs/moving-to-spark.md shows
//! each job next to its program, and `tests` checks the page against
//! what the export writes.

mod comments;
mod graph;
mod pyspark;
mod python;
mod rdd;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crate::job::{syntax, Job, JobError};

/// The engines a job can be exported to (`--to`).
pub const TARGETS: &[&str] = &["pyspark"];

/// Why an export did not happen.
#[derive(Debug)]
pub enum ExportError {
    /// The job file has a mistake, or a construct that cannot be
    /// translated exactly: file, line and column.
    Job(JobError),
    /// A file could not be read or written, or `--to` names no engine.
    Setup(String),
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Job(e) => write!(f, "{e}"),
            ExportError::Setup(e) => write!(f, "{e}"),
        }
    }
}

/// The PySpark program of the job `source` (the text of file `file`).
/// `params` are `--param` values given to the export: they are checked
/// like a submission's, and become the program's defaults.
///
/// # Errors
/// What `Job::parse` refuses, and a construct the program could not
/// compute exactly, with file, line and column.
pub fn to_pyspark(
    file: &str,
    source: &str,
    params: &BTreeMap<String, String>,
) -> Result<String, JobError> {
    Job::parse(file, source, params)?;
    let locate = |e: JobError| e.locate(file, source);
    let statements = syntax::statements(source).map_err(locate)?;
    pyspark::program(file, source, params, &statements).map_err(locate)
}

/// `client export FILE --to TARGET [--param K=V]... [-o OUT]`: reads the
/// job file, writes its program to `out`, or to stdout.
///
/// # Errors
/// An unknown target, a file that cannot be read or written, and what
/// `to_pyspark` refuses.
pub fn export_file(
    file: &str,
    target: &str,
    params: &BTreeMap<String, String>,
    out: Option<&str>,
) -> Result<(), ExportError> {
    if !TARGETS.contains(&target) {
        return Err(ExportError::Setup(format!(
            "cannot export to {target:?}: the engines are {}",
            TARGETS.join(", ")
        )));
    }
    let source = std::fs::read_to_string(file)
        .map_err(|e| ExportError::Setup(format!("cannot read {file}: {e}")))?;
    let program = to_pyspark(file, &source, params).map_err(ExportError::Job)?;
    match out {
        Some(path) => std::fs::write(Path::new(path), program)
            .map_err(|e| ExportError::Setup(format!("cannot write {path}: {e}"))),
        None => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            // A reader that stopped reading (`| head`) is not an error.
            let _ = stdout.write_all(program.as_bytes());
            Ok(())
        }
    }
}

/// `client export`: `export_file`, with its errors on stderr; the exit
/// status: 0, 2 for a job file the export refuses (or a usage error), 1
/// for a file that cannot be read or written.
pub fn run(file: &str, target: &str, params: &BTreeMap<String, String>, out: Option<&str>) -> i32 {
    match export_file(file, target, params, out) {
        Ok(()) => 0,
        Err(e @ ExportError::Job(_)) => {
            eprintln!("{e}");
            crate::cli::EXIT_USAGE
        }
        Err(e) => {
            eprintln!("error: {e}");
            if TARGETS.contains(&target) {
                1
            } else {
                crate::cli::EXIT_USAGE
            }
        }
    }
}

#[cfg(test)]
mod tests;
