//! The protocol: what the bytes between two Mini-Spark processes mean.
//!
//! Start with `frame` (one message on the wire: magic, version, type,
//! length, payload, CRC; and the decoder split into `check` and `parse`),
//! then `wire` (how fields are laid out in a payload: big-endian integers,
//! length-prefixed bytes, the `Field` trait and the `wire_struct!` and
//! `wire_enum!` macros), then `message` (the `messages!` table: every
//! message's type byte and fields, and its `key=value` text form). `hex`
//! shows bytes to people, as `tools/frame.rs` and `protocol.md` do.
//!
//! Nothing here touches a socket: this folder turns messages into bytes and
//! back, and refuses bytes that do not decode (never panicking on them).
//! `net/` moves the bytes.

pub mod frame;
mod hex;
mod message;
mod wire;

pub use frame::{FrameError, Invalid, MAGIC, MAX_WIRE_LEN};
pub use hex::{from_hex, to_hex};
pub(crate) use message::split_words;
#[cfg(test)]
pub(crate) use message::tests::samples;
pub use message::{
    error_code, AttemptOutcome, AttemptReport, FetchFailure, JobReport, JobState, JobSummary,
    KeyValue, MapLocation, Message, MsgType, Pair, PartLocation, ShuffleRead, SourceSplits,
    SplitInfo, StageReport, TaskMetrics, TaskSpec, WorkerInfo, WorkerMetrics, WorkerState,
};
pub use wire::{quote, quote_bytes, unquote, Bytes, Field, PayloadReader};
pub use wire::{quote_nested, record_fields};
