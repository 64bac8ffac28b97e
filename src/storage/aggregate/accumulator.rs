//! The accumulator algebra: what one key's `reduce_by_key` value is while
//! values arrive, and what each aggregator does with them.
//!
//! An accumulator (`Acc`) is made from a key's first value (`Acc::new`),
//! takes each further raw value (`add`: the combiner's hot path), folds in
//! another accumulator of the same key (`merge`: partials from other tasks
//! or from spill runs) and ends as the record bytes of the result
//! (`result`). `merge` is associative and commutative, and `first` and
//! `min`/`max` break ties by input order and bytes, so the result does not
//! depend on how the values were split among tasks or in what order
//! fetches arrive. How an accumulator travels as bytes is `partial.rs`.
//!
//! A table computes a list of aggregators per key, in the order the job
//! wrote them: one (`reduce_by_key(sum)`, the common case and word count's
//! hot path: the accumulator is that aggregator's own, with nothing
//! around it), several (`reduce_by_key(sum, count, mean)`: a `Tuple` of
//! one accumulator each, every value going to each), or none (`distinct`:
//! an empty `Tuple`, which allocates nothing; only the keys matter).
//!
//! # Semantics (the product contract)
//!
//! The values are the records' value bytes. A number is read as the
//! expression language reads one (`job::parse_number`): optional ASCII
//! whitespace around `[+-]digits[.digits][(e|E)[+-]digits]`; an integer if
//! it has no `.` or exponent and fits in 64 bits, else a float.
//!
//! * `sum`: every value must be a number. While every value is an integer
//!   the sum is an exact integer; once any value is a float the result is
//!   a float. The integer part is kept in 128 bits and checked only at the
//!   end, so whether a sum overflows does not depend on the order the
//!   values arrive in (map tasks and fetches run in any order): a result
//!   outside 64 bits is an error.
//! * `count`: how many values (of any bytes).
//! * `min` / `max`: values must be numbers, compared numerically (an
//!   integer and a float exactly, without rounding); the result is the
//!   winning value as it was written. Numerically equal values written
//!   differently (`1`, `1.0`) are tied by byte order, the smaller winning.
//! * `mean`: the sum (as above) divided by the count, always a float.
//! * `first`: the value with the smallest input order (`ord`, given by the
//!   caller: map task index << 32 | position), so the result does not
//!   depend on fetch order.
//! * `concat(sep)`: every value, in byte order, joined by `sep`.
//! * several aggregators: each result as that aggregator alone prints it,
//!   in the order written, joined by tabs (`key<TAB>sum<TAB>count`).
//!
//! Results print as the expression language prints values: integers in
//! decimal, floats via `format_float` (`2.0`, `0.5`, `1e21`), min/max/first
//! as the original bytes. A value that is not a number fails the task with
//! `reduce_by_key(sum): key "the-key": cannot read "abc" as a number` (the
//! errors here say what went wrong; the table adds the aggregator and key).

use std::cmp::Ordering;
use std::mem::{size_of, size_of_val};

use crate::job::{format_float, parse_number, quote, Aggregator, Num};
use crate::storage::sort::heap_bytes;

/// One key's accumulator. Its variant always matches the aggregator.
///
/// It is 32 bytes, so that with a 32-byte key a table slot is 64 bytes,
/// the size of a cache line: `sum` and `count`, the common aggregators, are
/// inline; the larger ones are boxed (one heap block per key, none per
/// value).
#[derive(Debug, Clone)]
pub(super) enum Acc {
    Sum(Sum),
    Count(u64),
    Mean(Box<Mean>),
    Min(Box<Extreme>),
    Max(Box<Extreme>),
    First(Box<Earliest>),
    /// Every value so far, each as a u32 big-endian length and the bytes
    /// (`push_part`): one heap block however many values, and already its
    /// own partial encoding. Sorted only when the result is made.
    Concat(Vec<u8>),
    /// One accumulator per aggregator of a list of several, in order (or
    /// none, for `distinct`); never itself holds a `Tuple`. One heap block
    /// per key, none per value.
    Tuple(Box<[Acc]>),
}

/// A 128-bit integer kept as two 64-bit halves, so that it needs only
/// 8-byte alignment: an `i128` field would align every table slot to 16
/// bytes and make it larger.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Int128 {
    hi: i64,
    lo: u64,
}

impl Int128 {
    #[inline]
    pub(super) fn new(v: i128) -> Int128 {
        Int128 {
            hi: (v >> 64) as i64,
            lo: v as u64,
        }
    }

    #[inline]
    pub(super) fn get(self) -> i128 {
        (i128::from(self.hi) << 64) | i128::from(self.lo)
    }
}

/// A sum: exact integers, and floats once any value is one.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Sum {
    /// 128 bits: adding 2^64 values of 64 bits cannot overflow it.
    pub(super) int: Int128,
    /// The floats' sum; 0.0 while `has_float` is false.
    pub(super) float: f64,
    pub(super) has_float: bool,
}

/// A mean's running sum and count.
#[derive(Debug, Clone)]
pub(super) struct Mean {
    pub(super) sum: Sum,
    pub(super) count: u64,
}

/// `first`'s value so far: the one with the smallest input order.
#[derive(Debug, Clone)]
pub(super) struct Earliest {
    pub(super) ord: u64,
    pub(super) value: Vec<u8>,
}

/// The current min or max: the number and its bytes as written.
#[derive(Debug, Clone)]
pub(super) struct Extreme {
    num: Num,
    pub(super) bytes: Vec<u8>,
}

impl Acc {
    /// The accumulator of a key's first value, for the aggregators `aggs`.
    #[inline]
    pub(super) fn new(aggs: &[Aggregator], value: &[u8], ord: u64) -> Result<Acc, String> {
        match aggs {
            [agg] => Acc::one(agg, value, ord),
            aggs => aggs
                .iter()
                .map(|agg| Acc::one(agg, value, ord))
                .collect::<Result<_, _>>()
                .map(Acc::Tuple),
        }
    }

    /// The accumulator of one aggregator, from a key's first value.
    #[inline]
    fn one(agg: &Aggregator, value: &[u8], ord: u64) -> Result<Acc, String> {
        Ok(match agg {
            Aggregator::Sum => Acc::Sum(Sum::of(read_number(value)?)),
            Aggregator::Count => Acc::Count(1),
            Aggregator::Mean => Acc::Mean(Box::new(Mean {
                sum: Sum::of(read_number(value)?),
                count: 1,
            })),
            Aggregator::Min => Acc::Min(Box::new(Extreme::new(value)?)),
            Aggregator::Max => Acc::Max(Box::new(Extreme::new(value)?)),
            Aggregator::First => Acc::First(Box::new(Earliest {
                ord,
                value: value.to_vec(),
            })),
            Aggregator::Concat(_) => {
                let mut parts = Vec::new();
                push_part(&mut parts, value)?;
                Acc::Concat(parts)
            }
        })
    }

    /// Adds one more raw value. The hot path of word count: no allocation
    /// except where the accumulator keeps bytes. Always inlined into the
    /// table's lookup: as a call, saving and restoring registers cost as
    /// much as a `sum` (issue 16).
    #[inline(always)]
    pub(super) fn add(&mut self, value: &[u8], ord: u64) -> Result<(), String> {
        match self {
            Acc::Sum(sum) => sum.add(read_number(value)?),
            Acc::Count(n) => {
                *n += 1;
                Ok(())
            }
            Acc::Mean(mean) => {
                mean.sum.add(read_number(value)?)?;
                mean.count += 1;
                Ok(())
            }
            Acc::Min(cur) => {
                let num = read_number(value)?;
                cur.offer(num, value, Ordering::Less);
                Ok(())
            }
            Acc::Max(cur) => {
                let num = read_number(value)?;
                cur.offer(num, value, Ordering::Greater);
                Ok(())
            }
            Acc::First(cur) => {
                if (ord, value) < (cur.ord, &cur.value[..]) {
                    cur.ord = ord;
                    cur.value.clear();
                    cur.value.extend_from_slice(value);
                }
                Ok(())
            }
            Acc::Concat(parts) => push_part(parts, value),
            Acc::Tuple(accs) => add_each(accs, value, ord),
        }
    }

    /// Folds in another accumulator of the same key.
    pub(super) fn merge(&mut self, other: Acc) -> Result<(), String> {
        match (self, other) {
            (Acc::Sum(a), Acc::Sum(b)) => a.merge(b),
            (Acc::Count(a), Acc::Count(b)) => {
                *a = a.checked_add(b).ok_or("count overflows 64 bits")?;
                Ok(())
            }
            (Acc::Mean(a), Acc::Mean(b)) => {
                a.sum.merge(b.sum)?;
                a.count = a
                    .count
                    .checked_add(b.count)
                    .ok_or("count overflows 64 bits")?;
                Ok(())
            }
            (Acc::Min(a), Acc::Min(b)) => {
                a.offer(b.num, &b.bytes, Ordering::Less);
                Ok(())
            }
            (Acc::Max(a), Acc::Max(b)) => {
                a.offer(b.num, &b.bytes, Ordering::Greater);
                Ok(())
            }
            (Acc::First(a), Acc::First(b)) => {
                if b.ord < a.ord || (b.ord == a.ord && b.value < a.value) {
                    *a = b;
                }
                Ok(())
            }
            (Acc::Concat(a), Acc::Concat(b)) => {
                a.extend_from_slice(&b);
                Ok(())
            }
            (Acc::Tuple(a), Acc::Tuple(b)) if a.len() == b.len() => {
                for (a, b) in a.iter_mut().zip(b.into_vec()) {
                    a.merge(b)?;
                }
                Ok(())
            }
            // `partial::decode` checks the tag against the aggregator, so this is
            // a bug, reported rather than panicked on.
            _ => Err("partial results of different aggregators".to_string()),
        }
    }

    /// Heap bytes the accumulator owns (its inline part is in the slot).
    pub(super) fn heap_bytes(&self) -> usize {
        match self {
            Acc::Sum(_) | Acc::Count(_) => 0,
            Acc::Mean(_) => heap_bytes(size_of::<Mean>()),
            Acc::Min(e) | Acc::Max(e) => {
                heap_bytes(size_of::<Extreme>()) + heap_bytes(e.bytes.capacity())
            }
            Acc::First(f) => heap_bytes(size_of::<Earliest>()) + heap_bytes(f.value.capacity()),
            Acc::Concat(parts) => heap_bytes(parts.capacity()),
            Acc::Tuple(accs) => {
                heap_bytes(size_of_val::<[Acc]>(accs))
                    + accs.iter().map(Acc::heap_bytes).sum::<usize>()
            }
        }
    }

    /// Does `heap_bytes` change as values arrive? (min, max, first,
    /// concat.) If not, the table skips measuring it on each value.
    pub(super) fn grows(aggs: &[Aggregator]) -> bool {
        aggs.iter().any(|agg| {
            matches!(
                agg,
                Aggregator::Min | Aggregator::Max | Aggregator::First | Aggregator::Concat(_)
            )
        })
    }

    /// The result as record bytes: for several aggregators, each one's
    /// result in order, joined by tabs (empty for none).
    pub(super) fn result(self, aggs: &[Aggregator]) -> Result<Vec<u8>, String> {
        match (self, aggs) {
            (Acc::Tuple(accs), aggs) => {
                if accs.len() != aggs.len() {
                    return Err(mismatch(accs.len(), aggs.len()));
                }
                let mut out = Vec::new();
                for (i, (acc, agg)) in accs.into_vec().into_iter().zip(aggs).enumerate() {
                    if i > 0 {
                        out.push(b'\t');
                    }
                    out.extend_from_slice(&acc.result_of(agg)?);
                }
                Ok(out)
            }
            (acc, [agg]) => acc.result_of(agg),
            (_, aggs) => Err(mismatch(1, aggs.len())),
        }
    }

    /// The result of one aggregator's accumulator.
    fn result_of(self, agg: &Aggregator) -> Result<Vec<u8>, String> {
        Ok(match self {
            Acc::Sum(sum) => match sum.value()? {
                Num::Int(i) => i.to_string().into_bytes(),
                Num::Float(f) => format_float(f).into_bytes(),
            },
            Acc::Count(n) => n.to_string().into_bytes(),
            Acc::Mean(m) => format_float(m.sum.as_f64() / m.count as f64).into_bytes(),
            Acc::Min(e) | Acc::Max(e) => e.bytes,
            Acc::First(f) => f.value,
            Acc::Concat(parts) => {
                let sep: &[u8] = match agg {
                    Aggregator::Concat(sep) => sep,
                    _ => b"",
                };
                let mut values = split_parts(&parts)?;
                values.sort_unstable();
                values.join(sep)
            }
            Acc::Tuple(accs) => return Err(mismatch(accs.len(), 1)),
        })
    }
}

/// Adds a value to each accumulator of a tuple. Out of line, so that
/// `Acc::add`, which calls it, is not recursive and stays small enough to
/// inline into the table's lookup (the single-aggregator hot path).
#[inline(never)]
fn add_each(accs: &mut [Acc], value: &[u8], ord: u64) -> Result<(), String> {
    for acc in accs {
        acc.add(value, ord)?;
    }
    Ok(())
}

/// An accumulator that does not fit its aggregators: a bug, reported
/// rather than panicked on (`partial::decode` checks what it reads).
fn mismatch(accs: usize, aggs: usize) -> String {
    format!("an accumulator of {accs} aggregators for a list of {aggs}")
}

impl Sum {
    fn of(num: Num) -> Sum {
        match num {
            Num::Int(i) => Sum {
                int: Int128::new(i128::from(i)),
                ..Sum::default()
            },
            Num::Float(f) => Sum {
                int: Int128::default(),
                float: f,
                has_float: true,
            },
        }
    }

    #[inline]
    fn add(&mut self, num: Num) -> Result<(), String> {
        match num {
            Num::Int(i) => {
                self.int = Int128::new(
                    self.int
                        .get()
                        .checked_add(i128::from(i))
                        .ok_or("sum overflows 128 bits")?,
                );
            }
            Num::Float(f) => {
                self.float += f;
                self.has_float = true;
            }
        }
        Ok(())
    }

    fn merge(&mut self, other: Sum) -> Result<(), String> {
        self.int = Int128::new(
            self.int
                .get()
                .checked_add(other.int.get())
                .ok_or("sum overflows 128 bits")?,
        );
        self.float += other.float;
        self.has_float |= other.has_float;
        Ok(())
    }

    fn as_f64(&self) -> f64 {
        self.int.get() as f64 + self.float
    }

    /// The final sum: an integer if every value was one (and it fits).
    fn value(&self) -> Result<Num, String> {
        if self.has_float {
            return Ok(Num::Float(self.as_f64()));
        }
        let int = self.int.get();
        i64::try_from(int)
            .map(Num::Int)
            .map_err(|_| format!("the sum {int} does not fit in a 64-bit integer"))
    }
}

impl Extreme {
    pub(super) fn new(value: &[u8]) -> Result<Extreme, String> {
        Ok(Extreme {
            num: read_number(value)?,
            bytes: value.to_vec(),
        })
    }

    /// Takes `value` if it beats the current one: compares `want` to the
    /// current number (`Less` for min, `Greater` for max); ties go to the
    /// bytewise smaller text, so the result does not depend on order.
    fn offer(&mut self, num: Num, value: &[u8], want: Ordering) {
        let order = cmp_num(num, self.num);
        if order == want || (order == Ordering::Equal && value < &self.bytes[..]) {
            self.num = num;
            self.bytes.clear();
            self.bytes.extend_from_slice(value);
        }
    }
}

/// Reads a value as a number. Short plain integers (`1`, `-42`: most of
/// what word count sums) are parsed right here, digit by digit; anything
/// else goes through the expression language's full rules.
#[inline]
fn read_number(value: &[u8]) -> Result<Num, String> {
    match parse_small_int(value) {
        Some(i) => Ok(Num::Int(i)),
        None => read_other_number(value),
    }
}

/// `read_number` of a float, a long integer or not a number: out of line,
/// so that the usual small integer costs no call (issue 16: the call's
/// saving and restoring of registers was most of reading a word count's
/// `1`, 3% of its instructions).
#[inline(never)]
fn read_other_number(value: &[u8]) -> Result<Num, String> {
    parse_number(value).ok_or_else(|| format!("cannot read {} as a number", quote(value)))
}

/// Most decimal digits that cannot overflow an i64 (10^18 < 2^63).
const MAX_SMALL_INT_DIGITS: usize = 18;

/// `[+-]digits` with at most 18 digits, else `None`.
#[inline]
fn parse_small_int(value: &[u8]) -> Option<i64> {
    let (negative, digits) = match value.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, value),
    };
    if digits.is_empty() || digits.len() > MAX_SMALL_INT_DIGITS {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        let digit = d.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n = n * 10 + i64::from(digit);
    }
    Some(if negative { -n } else { n })
}

/// Numeric order; an integer and a float are compared exactly (converting
/// a large i64 to f64 would round).
fn cmp_num(a: Num, b: Num) -> Ordering {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => x.cmp(&y),
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(&y).unwrap_or_else(|| x.total_cmp(&y)),
        (Num::Int(x), Num::Float(y)) => cmp_int_float(x, y),
        (Num::Float(x), Num::Int(y)) => cmp_int_float(y, x).reverse(),
    }
}

fn cmp_int_float(i: i64, f: f64) -> Ordering {
    /// 2^63: the first float above every i64.
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() || f >= TWO_POW_63 {
        return Ordering::Less;
    }
    if f < -TWO_POW_63 {
        return Ordering::Greater;
    }
    // Now -2^63 <= trunc(f) < 2^63: exact as an i64.
    let whole = f.trunc();
    i.cmp(&(whole as i64))
        .then_with(|| 0.0.partial_cmp(&(f - whole)).unwrap_or(Ordering::Equal))
}

/// Bytes of one length field in a concat accumulator.
pub(super) const PART_LEN_BYTES: usize = size_of::<u32>();

/// Appends a value to a concat accumulator: its length (u32, big-endian),
/// then its bytes.
#[inline]
fn push_part(parts: &mut Vec<u8>, value: &[u8]) -> Result<(), String> {
    let len = u32::try_from(value.len())
        .map_err(|_| format!("a value of {} bytes is too long to concat", value.len()))?;
    parts.extend_from_slice(&len.to_be_bytes());
    parts.extend_from_slice(value);
    Ok(())
}

/// The values in a concat accumulator, checking every length (the list
/// may come from another task, see `partial::decode`).
pub(super) fn split_parts(parts: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut values = Vec::new();
    let mut pos = 0;
    while pos < parts.len() {
        let Some(len) = parts[pos..].first_chunk::<PART_LEN_BYTES>() else {
            return Err(format!("value length at byte {pos} is cut off"));
        };
        let len = u32::from_be_bytes(*len) as usize;
        pos += PART_LEN_BYTES;
        if len > parts.len() - pos {
            return Err(format!(
                "value of {len} bytes at byte {pos} overruns the end"
            ));
        }
        values.push(&parts[pos..pos + len]);
        pos += len;
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_int_float_order() {
        use std::cmp::Ordering::*;
        assert_eq!(cmp_num(Num::Int(1), Num::Float(1.0)), Equal);
        assert_eq!(cmp_num(Num::Int(1), Num::Float(1.5)), Less);
        assert_eq!(cmp_num(Num::Int(-1), Num::Float(-1.5)), Greater);
        assert_eq!(cmp_num(Num::Float(-0.5), Num::Int(0)), Less);
        assert_eq!(
            cmp_num(Num::Int(i64::MAX), Num::Float(9.223_372_036_854_776e18)),
            Less
        );
        assert_eq!(
            cmp_num(Num::Int(i64::MIN), Num::Float(-9.223_372_036_854_776e18)),
            Equal
        );
        assert_eq!(cmp_num(Num::Int(0), Num::Float(f64::INFINITY)), Less);
        assert_eq!(cmp_num(Num::Int(0), Num::Float(f64::NEG_INFINITY)), Greater);
    }
}
