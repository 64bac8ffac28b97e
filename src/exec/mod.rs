//! Execution: how a worker runs one task, from its input records to its
//! output.
//!
//! OS idea: streaming in bounded memory. A record goes from the input's
//! `read(2)` through every narrow operator to the output's `write(2)` as
//! nested calls before the next record is read; only where records must
//! meet (a reduce partition, a join) do they wait, within the task's memory
//! share, spilling to disk through `storage`.
//!
//! Start reading at `executor` (`run`: one task attempt), then:
//!
//! * `env`: what every part of a running task shares (`TaskEnv`,
//!   `Counters`, `Failure`, the `Records` stream).
//! * `chain`: the narrow operators fused into one push loop into a `Sink`.
//! * `reducer`: the reduce side of wide operators over the fetched
//!   partition; `join` is its hash and sort-merge join, `join_table` the
//!   hash join's table, looked up in batches.
//! * `order`: both sides of a sort in another order than key bytes
//!   (`sort_by_key(numeric, descending)`, `sort_by`): keys whose bytes
//!   sort in that order.
//! * `gather`: both sides of `take` and `count`, which gather every map
//!   task's few records in one partition.
//! * `split`: input files cut into byte ranges, read line by line.
//! * `pipe`: a child process spliced into the stream.
//! * `digest`: what a loop's `unchanged` check compares from round to round.

mod chain;
mod digest;
mod env;
pub mod executor;
mod gather;
mod join;
mod join_table;
mod order;
mod pipe;
mod reducer;
mod split;

pub use digest::Digest;
pub use env::{Failure, TaskEnv};
pub use executor::Destination;
pub use split::{default_splits, first_line, list_input, plan_splits};
