//! Sort keys: bytes whose plain byte order is the order a sort wants.
//!
//! OS idea: make the expensive machinery generic by changing the data, not
//! the machinery. The external sort (`sort.rs`), its k-way merge, the
//! sampled range boundaries (chosen on the master, which knows nothing of
//! jobs) and the binary search that sends a record to its range all
//! compare bytes, as `memcmp` does. A numeric or descending sort does not
//! teach each of them a new comparison: the map side of the shuffle
//! rewrites every key into bytes whose byte order *is* the wanted order,
//! and the reduce side turns them back, as databases encode index keys
//! (FoundationDB's tuple layer, the "memcomparable" keys of MyRocks).
//!
//! # Numbers: 12 bytes
//!
//! ```text
//! | float: 8 bytes, big-endian | remainder: 4 bytes, big-endian |
//! ```
//!
//! * **float**: the number as an f64 (an integer rounded to the nearest
//!   one), its IEEE 754 bits made sortable: a positive float gets its sign
//!   bit set, a negative one has every bit inverted. Positive floats then
//!   sort above negative ones, bigger above smaller, and -inf lowest. NaN is
//!   made the one positive quiet NaN, which sorts above +inf (as Spark puts
//!   it after every number); -0.0 is made 0.0 (they are equal numbers).
//! * **remainder**: what rounding lost, `integer - float` (exact in i128;
//!   at most 1024 in size, half the spacing of floats near 2^63), as an i32
//!   with its sign bit flipped; 0 for a float. Rounding never reorders
//!   (a < b gives float(a) <= float(b)), so two numbers with the same float
//!   differ only in the remainder: int 9007199254740993 rounds to the float
//!   9007199254740992.0 with remainder 1, and sorts after that float.
//!
//! Equal numbers have equal bytes (`007`, `7`, `7.0`, `7e0`), so what
//! follows the 12 bytes breaks their ties.
//!
//! # Text: escaped and terminated
//!
//! ```text
//! each byte b != 0x00:  b
//! each byte 0x00:       0x00 0xFF
//! the end:              0x00 0x01
//! ```
//!
//! This keeps byte order (a `0x00` byte still sorts below any other, and
//! below it only the end, so a prefix sorts first) and no encoding is a
//! prefix of another: comparing `encode(a) ++ x` with `encode(b) ++ y` is
//! comparing `a` with `b`, then `x` with `y`.
//!
//! # Descending
//!
//! Every byte of either encoding inverted (`!b`). Since no encoding is a
//! prefix of another, the first byte where two differ decides, and
//! inverting it reverses the order: NaN first, then +inf, ..., -inf.
//!
//! # A `sort_by_key` key
//!
//! `encode_key` gives a key as it crosses the shuffle. By key bytes,
//! ascending, it is the key itself (the default sort, unchanged). Numeric:
//! the 12 bytes, then the key as written, which orders numerically equal
//! keys by their bytes and gives the key back (`007` stays `007`).
//! Descending by bytes: the inverted text encoding alone, decoded again.

use std::borrow::Cow;

use crate::job::{parse_number, quote, Num, SortOrder};

/// Bytes of a number's encoding: 8 of float, 4 of remainder.
pub const NUMBER_BYTES: usize = 12;

/// The one NaN every NaN becomes: positive and quiet, so it sorts last.
const CANONICAL_NAN_BITS: u64 = 0x7FF8_0000_0000_0000;

/// Escape and end markers of the text encoding (ascending).
const ESCAPED_ZERO: [u8; 2] = [0x00, 0xFF];
const END: [u8; 2] = [0x00, 0x01];

/// A key that `numeric=true` cannot read as a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotANumber;

/// Appends the 12-byte encoding of `n` (see the module comment).
pub fn push_number(n: Num, descending: bool, out: &mut Vec<u8>) {
    let (float, remainder) = match n {
        Num::Float(f) => (f, 0i32),
        Num::Int(i) => {
            let f = i as f64;
            // `f` is a whole number in [-2^63, 2^63]: exact as an i128, and
            // within 1024 of `i`, so the difference fits an i32.
            let lost = i128::from(i) - f as i128;
            (f, i32::try_from(lost).unwrap_or(0))
        }
    };
    let bits = if float.is_nan() {
        CANONICAL_NAN_BITS
    } else if float == 0.0 {
        0 // -0.0 too
    } else {
        float.to_bits()
    };
    let sortable = if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    };
    let mut bytes = [0u8; NUMBER_BYTES];
    bytes[..8].copy_from_slice(&sortable.to_be_bytes());
    bytes[8..].copy_from_slice(&((remainder as u32) ^ 1 << 31).to_be_bytes());
    if descending {
        for b in &mut bytes {
            *b = !*b;
        }
    }
    out.extend_from_slice(&bytes);
}

/// Appends the escaped, terminated encoding of `text`, inverted when
/// `descending` (see the module comment).
pub fn push_text(text: &[u8], descending: bool, out: &mut Vec<u8>) {
    let start = out.len();
    out.reserve(text.len() + END.len());
    let mut rest = text;
    while let Some(zero) = rest.iter().position(|&b| b == 0) {
        out.extend_from_slice(&rest[..zero]);
        out.extend_from_slice(&ESCAPED_ZERO);
        rest = &rest[zero + 1..];
    }
    out.extend_from_slice(rest);
    out.extend_from_slice(&END);
    if descending {
        for b in &mut out[start..] {
            *b = !*b;
        }
    }
}

/// Reads a text encoding from the start of `encoded`: the text, and how
/// many bytes its encoding took.
///
/// # Errors
/// A bad escape, or no end marker: the bytes were not made by `push_text`.
pub fn decode_text(encoded: &[u8], descending: bool) -> Result<(Vec<u8>, usize), String> {
    let mut text = Vec::with_capacity(encoded.len());
    let used = scan_text(encoded, descending, |b| text.push(b))?;
    Ok((text, used))
}

/// How many bytes the text encoding at the start of `encoded` takes.
///
/// # Errors
/// As `decode_text`.
pub fn text_len(encoded: &[u8], descending: bool) -> Result<usize, String> {
    scan_text(encoded, descending, |_| {})
}

/// Walks a text encoding, handing each byte of the text to `each`;
/// returns the length of the encoding.
fn scan_text(encoded: &[u8], descending: bool, mut each: impl FnMut(u8)) -> Result<usize, String> {
    let flip = if descending { 0xFF } else { 0x00 };
    let mut i = 0;
    while let Some(&b) = encoded.get(i) {
        if b ^ flip != 0 {
            each(b ^ flip);
            i += 1;
            continue;
        }
        match encoded.get(i + 1).map(|&c| [0, c ^ flip]) {
            Some(ESCAPED_ZERO) => each(0),
            Some(END) => return Ok(i + 2),
            _ => {
                return Err(format!(
                    "a sort key has a bad escape at byte {i}: {}",
                    quote(encoded)
                ))
            }
        }
        i += 2;
    }
    Err(format!("a sort key has no end marker: {}", quote(encoded)))
}

/// How many bytes the encoding of a value under `order` takes at the start
/// of `encoded` (`NUMBER_BYTES`, or the text encoding with its end).
///
/// # Errors
/// The bytes were not made by `push_number` or `push_text`.
pub fn prefix_len(order: SortOrder, encoded: &[u8]) -> Result<usize, String> {
    if !order.numeric {
        return text_len(encoded, order.descending);
    }
    if encoded.len() < NUMBER_BYTES {
        return Err(format!(
            "a numeric sort key has {} bytes, fewer than {NUMBER_BYTES}",
            encoded.len()
        ));
    }
    Ok(NUMBER_BYTES)
}

/// Appends `key` as `sort_by_key` in `order` sends it through the shuffle
/// (see the module comment).
///
/// # Errors
/// `NotANumber` when `order.numeric` and the key does not read as one
/// (`job::parse_number`).
pub fn encode_key(order: SortOrder, key: &[u8], out: &mut Vec<u8>) -> Result<(), NotANumber> {
    match order {
        SortOrder { numeric: true, .. } => {
            push_number(parse_number(key).ok_or(NotANumber)?, order.descending, out);
            out.extend_from_slice(key);
        }
        SortOrder {
            descending: true, ..
        } => push_text(key, true, out),
        _ => out.extend_from_slice(key),
    }
    Ok(())
}

/// The key `encode_key` encoded.
///
/// # Errors
/// The bytes were not made by `encode_key` with this `order`.
pub fn decode_key(order: SortOrder, encoded: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    match order {
        SortOrder { numeric: true, .. } => {
            let at = prefix_len(order, encoded)?;
            Ok(Cow::Borrowed(&encoded[at..]))
        }
        SortOrder {
            descending: true, ..
        } => {
            let (key, used) = decode_text(encoded, true)?;
            if used != encoded.len() {
                return Err(format!(
                    "a sort key has {} bytes after its end marker",
                    encoded.len() - used
                ));
            }
            Ok(Cow::Owned(key))
        }
        _ => Ok(Cow::Borrowed(encoded)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use std::cmp::Ordering;

    const ASC: SortOrder = SortOrder {
        numeric: false,
        descending: false,
    };
    const DESC: SortOrder = SortOrder {
        numeric: false,
        descending: true,
    };
    const NUM: SortOrder = SortOrder {
        numeric: true,
        descending: false,
    };
    const NUM_DESC: SortOrder = SortOrder {
        numeric: true,
        descending: true,
    };

    fn number(n: Num, descending: bool) -> Vec<u8> {
        let mut out = Vec::new();
        push_number(n, descending, &mut out);
        assert_eq!(out.len(), NUMBER_BYTES);
        out
    }

    fn text(t: &[u8], descending: bool) -> Vec<u8> {
        let mut out = Vec::new();
        push_text(t, descending, &mut out);
        out
    }

    fn key(order: SortOrder, k: &str) -> Vec<u8> {
        let mut out = Vec::new();
        encode_key(order, k.as_bytes(), &mut out).unwrap();
        out
    }

    /// The order wanted, computed another way: exact, NaN above all,
    /// -0.0 equal to 0.0. An integer against a float compares the float's
    /// whole part first (exact as an i64 in range), then its fraction.
    fn oracle(a: Num, b: Num) -> Ordering {
        fn int_float(i: i64, f: f64) -> Ordering {
            const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
            if f.is_nan() || f >= TWO_POW_63 {
                return Ordering::Less;
            }
            if f < -TWO_POW_63 {
                return Ordering::Greater;
            }
            let whole = f.trunc();
            i.cmp(&(whole as i64))
                .then(0.0.partial_cmp(&(f - whole)).unwrap())
        }
        match (a, b) {
            (Num::Int(x), Num::Int(y)) => x.cmp(&y),
            (Num::Float(x), Num::Float(y)) => match (x.is_nan(), y.is_nan()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                _ => x.partial_cmp(&y).unwrap(),
            },
            (Num::Int(x), Num::Float(y)) => int_float(x, y),
            (Num::Float(x), Num::Int(y)) => int_float(y, x).reverse(),
        }
    }

    /// Numbers that make the encoding work hard: near float spacings, the
    /// ends of i64, specials, subnormals, random bit patterns.
    fn random_number(rng: &mut Rng) -> Num {
        let near = |rng: &mut Rng, base: i64| base.saturating_add(rng.below(5000) as i64 - 2500);
        match rng.below(10) {
            0 => Num::Int(rng.below(2001) as i64 - 1000),
            1 => Num::Int(rng.next_u64() as i64),
            2 => Num::Int(near(rng, 1 << 53) * if rng.below(2) == 0 { 1 } else { -1 }),
            3 => Num::Int(near(rng, i64::MAX)),
            4 => Num::Int(near(rng, i64::MIN)),
            5 => Num::Float(f64::from_bits(rng.next_u64())),
            6 => Num::Float((rng.below(2001) as f64 - 1000.0) / 8.0),
            7 => {
                // A float that is, or is next to, an integer's rounding.
                let i = rng.next_u64() as i64 >> rng.below(63);
                let f = i as f64;
                Num::Float(match rng.below(3) {
                    0 => f,
                    1 => f64::from_bits(f.to_bits() + 1),
                    _ => f64::from_bits(f.to_bits().saturating_sub(1)),
                })
            }
            8 => {
                let specials = [
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    f64::NAN,
                    -f64::NAN,
                    0.0,
                    -0.0,
                    f64::MIN_POSITIVE,
                    -f64::MIN_POSITIVE,
                    5e-324,
                    -5e-324,
                    f64::MAX,
                    f64::MIN,
                    9_223_372_036_854_775_808.0,
                    -9_223_372_036_854_775_808.0,
                    9_007_199_254_740_992.0,
                ];
                Num::Float(specials[rng.below(specials.len() as u64) as usize])
            }
            _ => {
                let specials = [0, 1, -1, i64::MAX, i64::MIN, 1 << 53, (1 << 53) + 1];
                Num::Int(specials[rng.below(specials.len() as u64) as usize])
            }
        }
    }

    #[test]
    fn number_bytes_sort_as_the_numbers_do() {
        let mut rng = Rng::new(12);
        let numbers: Vec<Num> = (0..3000).map(|_| random_number(&mut rng)).collect();
        for (i, &a) in numbers.iter().enumerate() {
            for &b in &numbers[i.saturating_sub(40)..i] {
                let want = oracle(a, b);
                assert_eq!(number(a, false).cmp(&number(b, false)), want, "{a:?} {b:?}");
                assert_eq!(
                    number(a, true).cmp(&number(b, true)),
                    want.reverse(),
                    "descending {a:?} {b:?}"
                );
            }
        }
        // And sorting them all agrees with the oracle.
        let mut by_bytes = numbers.clone();
        by_bytes.sort_by_key(|&n| number(n, false));
        assert!(by_bytes
            .windows(2)
            .all(|w| oracle(w[0], w[1]) != Ordering::Greater));
    }

    #[test]
    fn numbers_exact_and_special() {
        let n = |n| number(n, false);
        // An int above 2^53 next to the float it rounds to.
        assert!(n(Num::Int(9_007_199_254_740_993)) > n(Num::Float(9_007_199_254_740_992.0)));
        assert_eq!(
            n(Num::Int(9_007_199_254_740_992)),
            n(Num::Float(9_007_199_254_740_992.0))
        );
        assert!(n(Num::Int(i64::MAX)) < n(Num::Float(9_223_372_036_854_775_808.0)));
        assert_eq!(
            n(Num::Int(i64::MIN)),
            n(Num::Float(-9_223_372_036_854_775_808.0))
        );
        assert_eq!(n(Num::Int(7)), n(Num::Float(7.0)));
        assert_eq!(n(Num::Float(-0.0)), n(Num::Int(0)));
        assert!(n(Num::Float(-2.5)) < n(Num::Int(-2)));
        assert!(n(Num::Float(f64::NEG_INFINITY)) < n(Num::Int(i64::MIN)));
        assert!(n(Num::Float(f64::INFINITY)) > n(Num::Int(i64::MAX)));
        assert!(n(Num::Float(f64::NAN)) > n(Num::Float(f64::INFINITY)));
        assert_eq!(n(Num::Float(-f64::NAN)), n(Num::Float(f64::NAN)));
        assert!(number(Num::Float(f64::NAN), true) < number(Num::Float(f64::INFINITY), true));
    }

    /// Short strings over the bytes that matter to the escapes.
    fn random_text(rng: &mut Rng) -> Vec<u8> {
        let alphabet = [0x00, 0x01, 0x02, b'\t', b'a', 0xFE, 0xFF];
        (0..rng.below(6))
            .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
            .collect()
    }

    #[test]
    fn text_bytes_keep_order_round_trip_and_are_prefix_free() {
        let mut rng = Rng::new(7);
        let texts: Vec<Vec<u8>> = (0..2000).map(|_| random_text(&mut rng)).collect();
        for (i, a) in texts.iter().enumerate() {
            for descending in [false, true] {
                let ea = text(a, descending);
                assert_eq!(decode_text(&ea, descending).unwrap(), (a.clone(), ea.len()));
                assert_eq!(text_len(&ea, descending), Ok(ea.len()));
            }
            for b in &texts[i.saturating_sub(30)..i] {
                assert_eq!(text(a, false).cmp(&text(b, false)), a.cmp(b), "{a:?} {b:?}");
                assert_eq!(text(a, true).cmp(&text(b, true)), b.cmp(a), "{a:?} {b:?}");
                // A tail after the encoding is compared only on a tie.
                let (ta, tb) = (random_text(&mut rng), random_text(&mut rng));
                for descending in [false, true] {
                    let mut x = text(a, descending);
                    x.extend_from_slice(&ta);
                    let mut y = text(b, descending);
                    y.extend_from_slice(&tb);
                    let first = if descending { b.cmp(a) } else { a.cmp(b) };
                    assert_eq!(
                        x.cmp(&y),
                        first.then(ta.cmp(&tb)),
                        "{a:?}+{ta:?} {b:?}+{tb:?}"
                    );
                    assert_eq!(text_len(&x, descending), Ok(x.len() - ta.len()));
                }
            }
        }
    }

    #[test]
    fn sort_by_key_keys_in_each_order() {
        assert_eq!(key(ASC, "b\0a"), b"b\0a");
        // Numeric: equal numbers tie on their bytes, and come back as written.
        assert!(key(NUM, "007") < key(NUM, "7"));
        assert!(key(NUM, "7") < key(NUM, "7.5"));
        assert!(key(NUM, "-10") < key(NUM, "-9.5"));
        assert!(key(NUM, "10") < key(NUM, "1e3"));
        assert!(key(NUM, "1e999") > key(NUM, "9223372036854775807"));
        assert!(key(NUM_DESC, "10") < key(NUM_DESC, "9"));
        assert!(
            key(NUM_DESC, "007") < key(NUM_DESC, "7"),
            "ties stay ascending"
        );
        assert_eq!(decode_key(NUM, &key(NUM, " 007")).unwrap(), &b" 007"[..]);
        let mut out = Vec::new();
        assert_eq!(encode_key(NUM, b"abc", &mut out), Err(NotANumber));
        assert_eq!(encode_key(NUM, b"", &mut out), Err(NotANumber));
        assert_eq!(encode_key(NUM, b"inf", &mut out), Err(NotANumber));
        // Descending bytes: the longer of two with one start comes first.
        assert!(key(DESC, "ab") < key(DESC, "a"));
        assert!(key(DESC, "a") < key(DESC, ""));
        assert!(key(DESC, "a\0") < key(DESC, "a"));
        for k in ["", "a", "a\0b\0", "\u{ff}"] {
            for order in [ASC, DESC, NUM] {
                let Ok(()) = encode_key(order, k.as_bytes(), &mut out) else {
                    continue;
                };
                let encoded = key(order, k);
                assert_eq!(decode_key(order, &encoded).unwrap(), k.as_bytes());
            }
        }
    }

    #[test]
    fn bytes_that_no_encoder_made_are_errors_not_panics() {
        assert!(decode_key(NUM, b"short")
            .unwrap_err()
            .contains("fewer than 12"));
        assert!(decode_key(DESC, b"ab")
            .unwrap_err()
            .contains("no end marker"));
        assert!(decode_key(DESC, &[0xFF, 0x05, 0xFF, 0xFE])
            .unwrap_err()
            .contains("bad escape at byte 0"));
        let mut tail = text(b"k", true);
        tail.push(b'x');
        assert!(decode_key(DESC, &tail)
            .unwrap_err()
            .contains("after its end"));
        assert!(text_len(&[0x00], false).is_err());
        let mut rng = Rng::new(3);
        for _ in 0..5000 {
            let junk: Vec<u8> = (0..rng.below(20)).map(|_| rng.next_u64() as u8).collect();
            for order in [ASC, DESC, NUM, NUM_DESC] {
                let _ = decode_key(order, &junk);
                let _ = prefix_len(order, &junk);
            }
        }
    }
}
