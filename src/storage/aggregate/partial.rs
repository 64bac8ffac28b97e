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
//! byte names the aggregator, then a body whose layout depends on it. A
//! list of several aggregators (or of none, for `distinct`) is a tuple:
//! its own tag, then each aggregator's partial with its length. All
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
//!
//!          0     1     2         10               10+n1     18+n1
//! tuple    | 'T' | n   | len1    | partial1 ...   | len2    | partial2 ... | ...
//! ```
//!
//! * 1 byte: tag, the aggregator: `S` sum, `C` count, `A` mean, `<` min,
//!   `>` max, `F` first, `J` concat, `T` a tuple of several. It must be the
//!   reduce's own aggregator (`T` when it has other than one).
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
//!
//! tuple:
//! * 1 byte: n, how many aggregators (u8): the reduce's own number, 0 for
//!   `distinct`, else at least 2 (a single aggregator has no tuple)
//! * for each aggregator, in the order the job wrote them:
//!   * 8 bytes: len, the length of its partial (u64)
//!   * len bytes: its partial, tag and body as above (never a tuple), to
//!     the end of which its variable-length value runs

use std::mem::size_of;

use super::accumulator::{split_parts, Acc, Earliest, Extreme, Int128, Mean, Sum};
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
const TAG_TUPLE: u8 = b'T';

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

// A tuple's body: the count, then each part as its length and its partial.
const TUPLE_COUNT_OFFSET: usize = 0;
const TUPLE_COUNT_BYTES: usize = size_of::<u8>();
const TUPLE_PARTS_OFFSET: usize = TUPLE_COUNT_OFFSET + TUPLE_COUNT_BYTES;
const PART_LEN_BYTES: usize = size_of::<u64>();

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
        Acc::Mean(m) => {
            out.push(TAG_MEAN);
            encode_sum(&m.sum, out);
            out.extend_from_slice(&m.count.to_be_bytes());
        }
        Acc::Min(e) => {
            out.push(TAG_MIN);
            out.extend_from_slice(&e.bytes);
        }
        Acc::Max(e) => {
            out.push(TAG_MAX);
            out.extend_from_slice(&e.bytes);
        }
        Acc::First(f) => {
            out.push(TAG_FIRST);
            out.extend_from_slice(&f.ord.to_be_bytes());
            out.extend_from_slice(&f.value);
        }
        Acc::Concat(parts) => {
            out.push(TAG_CONCAT);
            out.extend_from_slice(parts);
        }
        Acc::Tuple(accs) => {
            out.push(TAG_TUPLE);
            // A job has at most `job::MAX_AGGREGATORS` (16); were a longer
            // list let through, its count would not match and `decode`
            // would refuse it.
            out.push(u8::try_from(accs.len()).unwrap_or(u8::MAX));
            for acc in accs.iter() {
                let len_at = out.len();
                out.extend_from_slice(&[0; PART_LEN_BYTES]);
                encode(acc, out);
                let len = (out.len() - len_at - PART_LEN_BYTES) as u64;
                out[len_at..len_at + PART_LEN_BYTES].copy_from_slice(&len.to_be_bytes());
            }
        }
    }
}

/// Reads a partial encoding of the accumulator of `aggs`.
///
/// # Errors
/// "corrupt partial result (...)" when a tag is not its aggregator's, a
/// tuple's count is not the number of aggregators, a length does not fit
/// its tag or overruns the end, or a field holds a value no accumulator
/// has.
pub(super) fn decode(aggs: &[Aggregator], bytes: &[u8]) -> Result<Acc, String> {
    match aggs {
        [agg] => decode_one(agg, bytes),
        aggs => decode_tuple(aggs, bytes),
    }
    .map_err(|what| format!("corrupt partial result ({what})"))
}

/// A tuple of `aggs`' partials; errors say what is wrong, without the
/// "corrupt partial result" around it.
fn decode_tuple(aggs: &[Aggregator], bytes: &[u8]) -> Result<Acc, String> {
    let body = body_of(TAG_TUPLE, bytes)?;
    let [n] = field::<TUPLE_COUNT_BYTES>(body, TUPLE_COUNT_OFFSET)?;
    if usize::from(n) != aggs.len() {
        return Err(format!(
            "a tuple of {n} aggregators, expected {}",
            aggs.len()
        ));
    }
    let mut accs = Vec::with_capacity(aggs.len());
    let mut pos = TUPLE_PARTS_OFFSET;
    for (i, agg) in aggs.iter().enumerate() {
        let len = u64::from_be_bytes(field::<PART_LEN_BYTES>(body, pos)?);
        pos += PART_LEN_BYTES;
        let rest = &body[pos..];
        let Some(part) = usize::try_from(len).ok().and_then(|len| rest.get(..len)) else {
            return Err(format!(
                "part {} of {len} bytes at byte {pos} overruns the end",
                i + 1
            ));
        };
        let acc =
            decode_one(agg, part).map_err(|e| format!("part {} ({}): {e}", i + 1, agg.name()))?;
        accs.push(acc);
        pos += part.len();
    }
    if pos != body.len() {
        let extra = body.len() - pos;
        let s = if extra == 1 { "" } else { "s" };
        return Err(format!("{extra} byte{s} after the last part"));
    }
    Ok(Acc::Tuple(accs.into_boxed_slice()))
}

/// The body of a partial whose tag must be `expected`.
fn body_of(expected: u8, bytes: &[u8]) -> Result<&[u8], String> {
    let Some((&[tag], body)) = bytes.split_first_chunk::<TAG_BYTES>() else {
        return Err("empty".to_string());
    };
    if tag != expected {
        return Err(format!("tag {tag:#04x}, expected {expected:#04x}"));
    }
    Ok(body)
}

/// One aggregator's partial (never a tuple).
fn decode_one(agg: &Aggregator, bytes: &[u8]) -> Result<Acc, String> {
    let expected = match agg {
        Aggregator::Sum => TAG_SUM,
        Aggregator::Count => TAG_COUNT,
        Aggregator::Mean => TAG_MEAN,
        Aggregator::Min => TAG_MIN,
        Aggregator::Max => TAG_MAX,
        Aggregator::First => TAG_FIRST,
        Aggregator::Concat(_) => TAG_CONCAT,
    };
    let body = body_of(expected, bytes)?;
    let exact = |n: usize| {
        if body.len() == n {
            Ok(())
        } else {
            Err(format!(
                "{} bytes, expected {}",
                bytes.len(),
                BODY_OFFSET + n
            ))
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
            Acc::Mean(Box::new(Mean {
                sum: decode_sum(body, MEAN_SUM_OFFSET)?,
                count: decode_count(body, MEAN_COUNT_OFFSET)?,
            }))
        }
        Aggregator::Min => Acc::Min(Box::new(Extreme::new(body)?)),
        Aggregator::Max => Acc::Max(Box::new(Extreme::new(body)?)),
        Aggregator::First => {
            let Some(value) = body.get(FIRST_VALUE_OFFSET..) else {
                return Err(format!(
                    "{} bytes, expected at least {}",
                    bytes.len(),
                    BODY_OFFSET + FIRST_VALUE_OFFSET
                ));
            };
            Acc::First(Box::new(Earliest {
                ord: u64::from_be_bytes(field::<FIRST_ORD_BYTES>(body, FIRST_ORD_OFFSET)?),
                value: value.to_vec(),
            }))
        }
        Aggregator::Concat(_) => {
            split_parts(body)?;
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
        _ => return Err("float flag is not 0 or 1".to_string()),
    };
    let int = i128::from_be_bytes(field::<SUM_INT_BYTES>(body, offset + SUM_INT_OFFSET)?);
    let float = f64::from_bits(u64::from_be_bytes(field::<SUM_FLOAT_BYTES>(
        body,
        offset + SUM_FLOAT_OFFSET,
    )?));
    // Only a float value moves the float part off 0.0 (`Sum::add`).
    if !has_float && float.to_bits() != 0.0f64.to_bits() {
        return Err("float part is not 0 though no value was a float".to_string());
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
        0 => Err("count 0".to_string()),
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
        .ok_or_else(|| format!("{N}-byte field at byte {offset} is cut off"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An accumulator of `aggs` fed `values`, and its encoding.
    fn encoded(aggs: &[Aggregator], values: &[&str]) -> Vec<u8> {
        let mut acc = Acc::new(aggs, values[0].as_bytes(), 0).unwrap();
        for (ord, v) in values.iter().enumerate().skip(1) {
            acc.add(v.as_bytes(), ord as u64).unwrap();
        }
        let mut out = Vec::new();
        encode(&acc, &mut out);
        out
    }

    #[test]
    fn a_tuple_is_laid_out_as_the_diagram_says() {
        let bytes = encoded(&[Aggregator::Count, Aggregator::Max], &["7", "10", "9"]);
        let mut want = vec![TAG_TUPLE, 2];
        want.extend_from_slice(&9u64.to_be_bytes());
        want.push(TAG_COUNT);
        want.extend_from_slice(&3u64.to_be_bytes());
        want.extend_from_slice(&3u64.to_be_bytes());
        want.extend_from_slice(b">10");
        assert_eq!(bytes, want);
        // No aggregators (`distinct`): the tag and a count of 0.
        assert_eq!(encoded(&[], &["x"]), [TAG_TUPLE, 0]);
        // One aggregator has no tuple around it.
        assert_eq!(encoded(&[Aggregator::Max], &["7", "10"]), b">10");
    }

    #[test]
    fn partials_round_trip() {
        let lists: Vec<Vec<Aggregator>> = vec![
            vec![Aggregator::Sum],
            vec![Aggregator::Concat(b",".to_vec())],
            vec![],
            vec![Aggregator::Sum, Aggregator::Count, Aggregator::Mean],
            vec![
                Aggregator::First,
                Aggregator::Concat(b"|".to_vec()),
                Aggregator::Min,
                Aggregator::Max,
                Aggregator::Sum,
            ],
        ];
        for aggs in &lists {
            for values in [&["1"][..], &["2.5", "-3", "1e3", "+4"], &["0", "0.0"]] {
                let bytes = encoded(aggs, values);
                let back = decode(aggs, &bytes).unwrap();
                let mut again = Vec::new();
                encode(&back, &mut again);
                assert_eq!(again, bytes, "{aggs:?} {values:?}");
                let result = back.result(aggs).unwrap();
                assert_eq!(result.split(|&b| b == b'\t').count(), aggs.len().max(1));
            }
        }
    }

    #[test]
    fn corrupt_tuples_say_what_is_wrong() {
        let aggs = [Aggregator::Count, Aggregator::Max];
        let good = encoded(&aggs, &["7", "10"]);
        let err = |bytes: &[u8]| decode(&aggs, bytes).map(|_| ()).unwrap_err();
        assert_eq!(err(b""), "corrupt partial result (empty)");
        assert_eq!(
            err(&good[1..]),
            "corrupt partial result (tag 0x02, expected 0x54)"
        );
        // A single aggregator's partial where a tuple belongs, and back.
        assert_eq!(
            err(&encoded(&[Aggregator::Count], &["1"])),
            "corrupt partial result (tag 0x43, expected 0x54)"
        );
        assert!(decode(&[Aggregator::Count], &good).is_err());
        let mut wrong_count = good.clone();
        wrong_count[1] = 3;
        assert_eq!(
            err(&wrong_count),
            "corrupt partial result (a tuple of 3 aggregators, expected 2)"
        );
        assert_eq!(
            err(&good[..2]),
            "corrupt partial result (8-byte field at byte 1 is cut off)"
        );
        let mut long = good.clone();
        long[2..10].copy_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(
            err(&long),
            format!(
                "corrupt partial result (part 1 of {} bytes at byte 9 overruns the end)",
                u64::MAX
            )
        );
        let mut swapped = good.clone();
        swapped[10] = TAG_SUM;
        assert_eq!(
            err(&swapped),
            "corrupt partial result (part 1 (count): tag 0x53, expected 0x43)"
        );
        let mut zero = good.clone();
        zero[11..19].copy_from_slice(&0u64.to_be_bytes());
        assert_eq!(
            err(&zero),
            "corrupt partial result (part 1 (count): count 0)"
        );
        let mut not_a_number = good.clone();
        let last = not_a_number.len() - 1;
        not_a_number[last] = b'x';
        assert_eq!(
            err(&not_a_number),
            "corrupt partial result (part 2 (max): cannot read \"1x\" as a number)"
        );
        let mut trailing = good.clone();
        trailing.push(0);
        // The last part's length does not cover the extra byte.
        assert_eq!(
            err(&trailing),
            "corrupt partial result (1 byte after the last part)"
        );
        // Every cut of a valid tuple is refused (each part's length is
        // explicit), and none panics.
        for cut in 0..good.len() {
            assert!(decode(&aggs, &good[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(
            decode(&[], &[TAG_TUPLE, 0, 0]).map(|_| ()).unwrap_err(),
            "corrupt partial result (1 byte after the last part)"
        );
    }
}
