//! Partial results: an accumulator as bytes, written where one task's
//! accumulator must reach another's (the map-side combiner's shuffle
//! records, and the runs a spilling table writes) and read back there.
//!
//! Both ends are this file, but the bytes come from disk or from another
//! worker, so `decode` checks every field before using it: a bad partial is
//! an error, never a panic.
//!
//! # Format
//!
//! A partial is a record's value (its key is the record's key). One tag
//! byte names the aggregator, then a body whose layout depends on it. All
//! numbers are big-endian.
//!
//! ```text
//!          0     1                 17             25     26
//! sum      | 'S' | integer part    | float part   | flag |
//!
//!          0     1         9
//! count    | 'C' | count   |
//!
//!          0     1                 17             25     26        34
//! mean     | 'A' | integer part    | float part   | flag | count   |
//!
//!          0     1
//! min      | '<' | value ...
//! max      | '>' | value ...
//!
//!          0     1         9
//! first    | 'F' | ord     | value ...
//!
//!          0     1         5              5+n1      9+n1
//! concat   | 'J' | len1    | value1 ...   | len2    | value2 ... | ...
//! ```
//!
//! * 1 byte: tag, the aggregator: `S` sum, `C` count, `A` mean, `<` min,
//!   `>` max, `F` first, `J` concat. It must be the reduce's own aggregator.
//!
//! sum (the body of a mean starts with the same 25 bytes):
//! * 16 bytes: integer part, the integer values' sum (i128)
//! * 8 bytes: float part, the float values' sum (f64 bits)
//! * 1 byte: flag, 1 if any value was a float, else 0 (then the float part
//!   is 0.0)
//!
//! count, and the end of a mean:
//! * 8 bytes: count (u64), at least 1
//!
//! min, max:
//! * n bytes: the winning value as written (it must read as a number)
//!
//! first:
//! * 8 bytes: ord, the value's input order (u64)
//! * n bytes: the value
//!
//! concat: the accumulator's own value list (`accumulator::push_part`),
//! for each value:
//! * 4 bytes: len, the value's length (u32)
//! * len bytes: the value

use std::mem::size_of;

use super::accumulator::{split_parts, Acc, Extreme, Int128, Sum};
use crate::job::Aggregator;

// The tag, then the body (whose offsets below count from the body's start).
const TAG_OFFSET: usize = 0;
const TAG_BYTES: usize = 1;
const BODY_OFFSET: usize = TAG_OFFSET + TAG_BYTES;

const TAG_SUM: u8 = b'S';
const TAG_COUNT: u8 = b'C';
const TAG_MEAN: u8 = b'A';
const TAG_MIN: u8 = b'<';
const TAG_MAX: u8 = b'>';
const TAG_FIRST: u8 = b'F';
const TAG_CONCAT: u8 = b'J';

// A sum, from its own start: in a sum's body, and at the start of a mean's.
const SUM_INT_OFFSET: usize = 0;
const SUM_INT_BYTES: usize = size_of::<i128>();
const SUM_FLOAT_OFFSET: usize = SUM_INT_OFFSET + SUM_INT_BYTES;
const SUM_FLOAT_BYTES: usize = size_of::<u64>();
const SUM_FLAG_OFFSET: usize = SUM_FLOAT_OFFSET + SUM_FLOAT_BYTES;
const SUM_FLAG_BYTES: usize = 1;
const SUM_BYTES: usize = SUM_FLAG_OFFSET + SUM_FLAG_BYTES;

// A sum's body: one sum.
const SUM_OFFSET: usize = 0;
const SUM_BODY_BYTES: usize = SUM_OFFSET + SUM_BYTES;

// A count's body.
const COUNT_OFFSET: usize = 0;
const COUNT_BYTES: usize = size_of::<u64>();
const COUNT_BODY_BYTES: usize = COUNT_OFFSET + COUNT_BYTES;

// A mean's body: a sum, then a count.
const MEAN_SUM_OFFSET: usize = 0;
const MEAN_COUNT_OFFSET: usize = MEAN_SUM_OFFSET + SUM_BYTES;
const MEAN_BODY_BYTES: usize = MEAN_COUNT_OFFSET + COUNT_BYTES;

// A first's body: the ord, then the value to the end.
const FIRST_ORD_OFFSET: usize = 0;
const FIRST_ORD_BYTES: usize = size_of::<u64>();
const FIRST_VALUE_OFFSET: usize = FIRST_ORD_OFFSET + FIRST_ORD_BYTES;

/// Appends `acc`'s partial encoding to `out`.
pub(super) fn encode(acc: &Acc, out: &mut Vec<u8>) {
    match acc {
        Acc::Sum(sum) => {
            out.push(TAG_SUM);
            encode_sum(sum, out);
        }
        Acc::Count(n) => {
            out.push(TAG_COUNT);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Acc::Mean { sum, count } => {
            out.push(TAG_MEAN);
            encode_sum(sum, out);
            out.extend_from_slice(&count.to_be_bytes());
        }
        Acc::Min(e) => {
            out.push(TAG_MIN);
            out.extend_from_slice(&e.bytes);
        }
        Acc::Max(e) => {
            out.push(TAG_MAX);
            out.extend_from_slice(&e.bytes);
        }
        Acc::First { ord, value } => {
            out.push(TAG_FIRST);
            out.extend_from_slice(&ord.to_be_bytes());
            out.extend_from_slice(value);
        }
        Acc::Concat(parts) => {
            out.push(TAG_CONCAT);
            out.extend_from_slice(parts);
        }
    }
}

/// Reads a partial encoding of `agg`'s accumulator.
///
/// # Errors
/// "corrupt partial result (...)" when the tag is not `agg`'s, the length
/// does not fit the tag, or a field holds a value no accumulator has.
pub(super) fn decode(agg: &Aggregator, bytes: &[u8]) -> Result<Acc, String> {
    let expected = match agg {
        Aggregator::Sum => TAG_SUM,
        Aggregator::Count => TAG_COUNT,
        Aggregator::Mean => TAG_MEAN,
        Aggregator::Min => TAG_MIN,
        Aggregator::Max => TAG_MAX,
        Aggregator::First => TAG_FIRST,
        Aggregator::Concat(_) => TAG_CONCAT,
    };
    let Some((&[tag], body)) = bytes.split_first_chunk::<TAG_BYTES>() else {
        return Err(corrupt("empty"));
    };
    if tag != expected {
        return Err(corrupt(&format!(
            "tag {tag:#04x}, expected {expected:#04x}"
        )));
    }
    let exact = |n: usize| {
        if body.len() == n {
            Ok(())
        } else {
            Err(corrupt(&format!(
                "{} bytes, expected {}",
                bytes.len(),
                BODY_OFFSET + n
            )))
        }
    };
    Ok(match agg {
        Aggregator::Sum => {
            exact(SUM_BODY_BYTES)?;
            Acc::Sum(decode_sum(body, SUM_OFFSET)?)
        }
        Aggregator::Count => {
            exact(COUNT_BODY_BYTES)?;
            Acc::Count(decode_count(body, COUNT_OFFSET)?)
        }
        Aggregator::Mean => {
            exact(MEAN_BODY_BYTES)?;
            Acc::Mean {
                sum: decode_sum(body, MEAN_SUM_OFFSET)?,
                count: decode_count(body, MEAN_COUNT_OFFSET)?,
            }
        }
        Aggregator::Min => Acc::Min(Extreme::new(body).map_err(|e| corrupt(&e))?),
        Aggregator::Max => Acc::Max(Extreme::new(body).map_err(|e| corrupt(&e))?),
        Aggregator::First => {
            let Some(value) = body.get(FIRST_VALUE_OFFSET..) else {
                return Err(corrupt(&format!(
                    "{} bytes, expected at least {}",
                    bytes.len(),
                    BODY_OFFSET + FIRST_VALUE_OFFSET
                )));
            };
            Acc::First {
                ord: u64::from_be_bytes(field::<FIRST_ORD_BYTES>(body, FIRST_ORD_OFFSET)?),
                value: value.to_vec(),
            }
        }
        Aggregator::Concat(_) => {
            split_parts(body).map_err(|e| corrupt(&e))?;
            Acc::Concat(body.to_vec())
        }
    })
}

fn encode_sum(sum: &Sum, out: &mut Vec<u8>) {
    out.extend_from_slice(&sum.int.get().to_be_bytes());
    out.extend_from_slice(&sum.float.to_bits().to_be_bytes());
    out.push(u8::from(sum.has_float));
}

/// The sum at `offset` of `body`.
fn decode_sum(body: &[u8], offset: usize) -> Result<Sum, String> {
    let [flag] = field::<SUM_FLAG_BYTES>(body, offset + SUM_FLAG_OFFSET)?;
    let has_float = match flag {
        0 => false,
        1 => true,
        _ => return Err(corrupt("float flag is not 0 or 1")),
    };
    let int = i128::from_be_bytes(field::<SUM_INT_BYTES>(body, offset + SUM_INT_OFFSET)?);
    let float = f64::from_bits(u64::from_be_bytes(field::<SUM_FLOAT_BYTES>(
        body,
        offset + SUM_FLOAT_OFFSET,
    )?));
    // Only a float value moves the float part off 0.0 (`Sum::add`).
    if !has_float && float.to_bits() != 0.0f64.to_bits() {
        return Err(corrupt("float part is not 0 though no value was a float"));
    }
    Ok(Sum {
        int: Int128::new(int),
        float,
        has_float,
    })
}

/// A count at `offset` of `body`: an accumulator counts at least its first
/// value.
fn decode_count(body: &[u8], offset: usize) -> Result<u64, String> {
    match u64::from_be_bytes(field::<COUNT_BYTES>(body, offset)?) {
        0 => Err(corrupt("count 0")),
        n => Ok(n),
    }
}

/// The `N` bytes at `offset` of `body`, for `from_be_bytes`: the one way
/// this codec reads a number (the concat list's lengths are read the same
/// way, `first_chunk` then `from_be_bytes`, in `accumulator::split_parts`).
fn field<const N: usize>(body: &[u8], offset: usize) -> Result<[u8; N], String> {
    body.get(offset..)
        .and_then(<[u8]>::first_chunk::<N>)
        .copied()
        .ok_or_else(|| corrupt(&format!("{N}-byte field at byte {offset} is cut off")))
}

fn corrupt(what: &str) -> String {
    format!("corrupt partial result ({what})")
}
