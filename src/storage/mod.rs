//! Storage: a task's records in bounded memory and on disk, from one
//! record's bytes to the files the worker serves to others.
//!
//! OS idea: memory is a budget and the disk is the overflow, fast when it
//! is written and read in long sequential blocks. Every structure here that
//! could grow with the data (a sort buffer, an aggregation table, the
//! shuffle's partition buffers) has a byte budget; past it, what it holds
//! goes to disk as a run, front to back, and comes back later as a stream
//! (for a sort or an aggregation, a k-way merge of sorted runs).
//!
//! Start reading at the bottom and go up:
//!
//! * `cacheline`: prefetching, for the loops that touch memory at random.
//! * `hugepage`: vectors mapped with 2 MiB pages, for the big hash tables
//!   and sort buffers.
//! * `runfile`: records as bytes in CRC-checked blocks, the one file
//!   format of spills, map outputs and shuffle fetches.
//! * `spill`: a task's spill directory, removed with the task.
//! * `sort`: the external merge sort (runs, then a k-way merge), and the
//!   allocator-aware memory estimates the other budgets use.
//! * `sortkey`: keys rewritten so that their byte order is a numeric or
//!   descending order, for the sorts that compare only bytes.
//! * `keytable`: the hash table of the aggregator and the hash join, whose
//!   lookups start early so that their cache misses overlap.
//! * `aggregate/`: the bounded-memory hash aggregator of `reduce_by_key`
//!   and its map-side combiner, and of `distinct`'s map side (`hash` has
//!   its table's hasher).
//! * `shuffle`: a map task's partitioned data and index files, and a reduce
//!   task's fetch of its partition from every map output (`hash` has the
//!   partition function).
//! * `outputs`: what the worker serves: the committed files a numbered
//!   request may open; `cache` is the memory it keeps the partitions of
//!   cached datasets in.

mod aggregate;
mod cache;
pub(crate) mod cacheline;
mod hash;
mod hugepage;
mod keytable;
mod outputs;
mod runfile;
pub mod shuffle;
mod sort;
pub(crate) mod sortkey;
mod spill;

pub use aggregate::{DistinctSet, HashAggregator};
pub use cache::CacheStats;
pub use hash::{partition_of, FastBuildHasher};
pub use keytable::KeyTable;
pub use outputs::{LocalMaps, Outputs};
pub use runfile::{RunReader, RunWriter, BLOCK_BYTES, BLOCK_HEADER_BYTES};
pub use shuffle::{fetch, FailureSlot, FetchLimits, FetchRequest, ShuffleWriter};
pub use sort::{bytes_after_push, heap_bytes, sorted, Sorted};
pub use spill::SpillDir;
