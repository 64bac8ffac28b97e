//! Values of record expressions, and the conversions between them.
//!
//! `Value` is what an expression gives back to its caller. While an
//! expression is being evaluated, the engine uses `Val`, the same thing with
//! strings that may borrow from the record or from constants in the
//! expression, so `contains($0, "x")` copies nothing.
//!
//! Conversion rules (documented for users in docs/jobs.md):
//! - to bytes: strings as they are, integers in decimal, floats in the
//!   shortest form that reads back to the same float and always with a `.`
//!   or exponent (`2.0`, `0.1`, `1e21`), booleans `true`/`false`, lists as
//!   their elements joined by one space;
//! - to a number: integers and floats as they are; a string when, with ASCII
//!   whitespace trimmed, it is a decimal number (`42`, `-3`, `2.5`, `.5`,
//!   `1e3`): an integer if it has no `.` or exponent and fits in 64 bits,
//!   else a float. Booleans and lists are never numbers.

use std::borrow::Cow;

/// A value computed by a record expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(Vec<u8>),
    Int(i64),
    Float(f64),
    Bool(bool),
    List(Vec<Value>),
}

impl Value {
    /// The value as record bytes (see the module comment for the rules).
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Value::Str(s) => s,
            other => Val::from_value(&other).into_bytes().into_owned(),
        }
    }

    /// `true` or `false`; any other value is an error naming it.
    pub fn truthy(&self) -> Result<bool, String> {
        match self {
            Value::Bool(b) => Ok(*b),
            other => Err(format!(
                "expected true or false, got {}",
                Val::from_value(other).describe()
            )),
        }
    }

    /// The elements of a list; any other value is a list of itself alone.
    pub fn into_list(self) -> Vec<Value> {
        match self {
            Value::List(items) => items,
            other => vec![other],
        }
    }

    /// The value as shown in error messages: strings quoted, long ones cut.
    pub fn describe(&self) -> String {
        Val::from_value(self).describe()
    }
}

/// A number, after conversion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

/// A value during evaluation: strings borrow where they can.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val<'a> {
    Str(Cow<'a, [u8]>),
    Int(i64),
    Float(f64),
    Bool(bool),
    List(Vec<Val<'a>>),
}

/// Longest part of a string shown in an error message, in bytes.
const MAX_SHOWN_LEN: usize = 60;

impl<'a> Val<'a> {
    /// Borrows a `Value` (copies only the spine of a list).
    pub(crate) fn from_value(v: &'a Value) -> Val<'a> {
        match v {
            Value::Str(s) => Val::Str(Cow::Borrowed(s)),
            Value::Int(i) => Val::Int(*i),
            Value::Float(f) => Val::Float(*f),
            Value::Bool(b) => Val::Bool(*b),
            Value::List(items) => Val::List(items.iter().map(Val::from_value).collect()),
        }
    }

    pub(crate) fn into_value(self) -> Value {
        match self {
            Val::Str(s) => Value::Str(s.into_owned()),
            Val::Int(i) => Value::Int(i),
            Val::Float(f) => Value::Float(f),
            Val::Bool(b) => Value::Bool(b),
            Val::List(items) => Value::List(items.into_iter().map(Val::into_value).collect()),
        }
    }

    /// The value as bytes; a string is passed through without copying.
    pub(crate) fn into_bytes(self) -> Cow<'a, [u8]> {
        match self {
            Val::Str(s) => s,
            Val::Int(i) => Cow::Owned(i.to_string().into_bytes()),
            Val::Float(f) => Cow::Owned(format_float(f).into_bytes()),
            Val::Bool(b) => Cow::Borrowed(if b { b"true" } else { b"false" }),
            Val::List(items) => {
                let mut out = Vec::new();
                for (i, item) in items.into_iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    out.extend_from_slice(&item.into_bytes());
                }
                Cow::Owned(out)
            }
        }
    }

    /// The value as a number, if it is one or is a string that reads as one.
    pub(crate) fn to_num(&self) -> Option<Num> {
        match self {
            Val::Int(i) => Some(Num::Int(*i)),
            Val::Float(f) => Some(Num::Float(*f)),
            Val::Str(s) => parse_number(s),
            Val::Bool(_) | Val::List(_) => None,
        }
    }

    /// Is this an integer or a float (not a string that reads as one)?
    pub(crate) fn is_number(&self) -> bool {
        matches!(self, Val::Int(_) | Val::Float(_))
    }

    /// The value as shown in error messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Val::Str(s) => quote(s),
            Val::Int(i) => i.to_string(),
            Val::Float(f) => format_float(*f),
            Val::Bool(b) => b.to_string(),
            Val::List(items) => {
                let mut out = String::from("[");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    if out.len() > MAX_SHOWN_LEN {
                        out.push_str("...");
                        break;
                    }
                    out.push_str(&item.describe());
                }
                out.push(']');
                out
            }
        }
    }
}

/// A float as record text: the shortest text that reads back as the same
/// float (Rust's `{:?}`: the fewest significant digits that do), always
/// with a `.` or an exponent, written out in full for magnitudes from 1e-4
/// up to below 1e16 and with an exponent outside them, as Python's `repr`
/// (`2.0`, `0.5`, `1000000000000000.0`, `1e16`, `1.5e-5`, `inf`, `NaN`).
/// `floats_print_as_the_shortest_text_that_reads_back` checks all of it.
pub(crate) fn format_float(f: f64) -> String {
    format!("{f:?}")
}

/// `x` rounded to `digits` decimal places, halves away from zero. An
/// integer has no decimal places, so it is unchanged unless `digits` is
/// negative: then it is rounded to a multiple of `10^-digits`
/// (`round_int(1250, -2)` is 1300), computed in `i128`. `None` when the
/// result is past the 64-bit range (`round_int(i64::MAX, -1)`).
pub(crate) fn round_int(x: i64, digits: i64) -> Option<i64> {
    if digits >= 0 {
        return Some(x);
    }
    // |x| < 5 * 10^19, so past 19 places everything rounds to 0.
    let Some(places) = digits.checked_neg().filter(|p| *p <= 19) else {
        return Some(0);
    };
    let unit = 10i128.pow(places as u32);
    let x = i128::from(x);
    let (quotient, rest) = (x / unit, x % unit);
    let quotient = if 2 * rest.abs() >= unit {
        quotient + x.signum()
    } else {
        quotient
    };
    i64::try_from(quotient * unit).ok()
}

/// Most significant digits of a float's shortest round-trip text.
const MAX_FLOAT_DIGITS: usize = 17;

/// `x` rounded to `digits` decimal places, halves away from zero, as the
/// decimal number it prints as (its shortest round-trip digits), so 2.675,
/// whose float is a little below 2.675, still rounds to 2.68: what Spark's
/// `round` gives, computing in `BigDecimal` from that same text. With as
/// many places as `x` has digits or more, `x` is unchanged; with too few, 0.
/// A zero result is `0.0`, never `-0.0`; `inf` and `NaN` are unchanged. The
/// rounded decimal is read back by the standard parser, so the result is the
/// float nearest to it. Allocates nothing.
pub(crate) fn round_float(x: f64, digits: i64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    // `{:e}` writes the shortest round-trip digits: `2.675e0`, `1e-7`; at
    // most 17 digits, a `.`, `e`, a sign and 3 exponent digits.
    let mut buf = [0u8; 32];
    let Some(text) = format_into(&mut buf, format_args!("{:e}", x.abs())) else {
        return x;
    };
    let text = text.as_bytes();
    let Some(e_at) = text.iter().position(|&b| b == b'e') else {
        return x;
    };
    let exponent = std::str::from_utf8(&text[e_at + 1..])
        .ok()
        .and_then(|e| e.parse::<i64>().ok());
    let Some(exponent) = exponent else {
        return x;
    };
    let mut shortest = [0u8; MAX_FLOAT_DIGITS];
    let mut count = 0;
    for &b in text[..e_at].iter().filter(|b| b.is_ascii_digit()) {
        let Some(slot) = shortest.get_mut(count) else {
            return x;
        };
        *slot = b - b'0';
        count += 1;
    }
    // The first digit's place is 10^exponent: keep the digits down to the
    // place 10^-digits.
    let keep = i128::from(exponent) + i128::from(digits) + 1;
    if keep >= count as i128 {
        return if x == 0.0 { 0.0 } else { x };
    }
    let Ok(keep) = usize::try_from(keep) else {
        return 0.0;
    };
    let mut kept: u64 = shortest[..keep]
        .iter()
        .fold(0, |n, &d| n * 10 + u64::from(d));
    if shortest[keep] >= 5 {
        kept += 1;
    }
    if kept == 0 {
        return 0.0;
    }
    // `kept` * 10^-digits, where -digits is within -340..=310 here.
    let mut buf = [0u8; 40];
    let rounded = format_into(&mut buf, format_args!("{kept}e{}", -i128::from(digits)))
        .and_then(|t| t.parse::<f64>().ok());
    match rounded {
        Some(r) if x < 0.0 => -r,
        Some(r) => r,
        None => x,
    }
}

/// Formats `args` into `buf` without allocating; `None` if it does not fit.
fn format_into<'b>(buf: &'b mut [u8], args: std::fmt::Arguments) -> Option<&'b str> {
    use std::io::Write;
    let total = buf.len();
    let mut rest = &mut buf[..];
    rest.write_fmt(args).ok()?;
    let len = total - rest.len();
    std::str::from_utf8(buf.get(..len)?).ok()
}

/// Bytes as a double-quoted string for messages, cut after `MAX_SHOWN_LEN`.
pub(crate) fn quote(bytes: &[u8]) -> String {
    crate::protocol::quote_bytes(bytes, MAX_SHOWN_LEN)
}

/// Reads a decimal number: `[+-]digits[.digits][(e|E)[+-]digits]` (digits on
/// at least one side of the `.`), surrounded by optional whitespace (the
/// bytes `split` splits on).
pub(crate) fn parse_number(bytes: &[u8]) -> Option<Num> {
    let s = &bytes[super::bytes::trim(bytes)];
    let mut i = 0;
    if matches!(s.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_digits = count_digits(&s[i..]);
    i += int_digits;
    let mut frac_digits = 0;
    let mut is_float = false;
    if s.get(i) == Some(&b'.') {
        is_float = true;
        i += 1;
        frac_digits = count_digits(&s[i..]);
        i += frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        is_float = true;
        i += 1;
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_digits = count_digits(&s[i..]);
        if exp_digits == 0 {
            return None;
        }
        i += exp_digits;
    }
    if i != s.len() {
        return None;
    }
    // Only ASCII digits, signs, `.` and `e` are left: valid UTF-8.
    let text = std::str::from_utf8(s).ok()?;
    if !is_float {
        if let Ok(n) = text.parse::<i64>() {
            return Some(Num::Int(n));
        }
    }
    text.parse::<f64>().ok().map(Num::Float)
}

fn count_digits(s: &[u8]) -> usize {
    s.iter().take_while(|b| b.is_ascii_digit()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_of_each_kind() {
        assert_eq!(Value::Str(b"a\xff".to_vec()).into_bytes(), b"a\xff");
        assert_eq!(Value::Int(-42).into_bytes(), b"-42");
        assert_eq!(Value::Float(2.0).into_bytes(), b"2.0");
        assert_eq!(Value::Float(0.1).into_bytes(), b"0.1");
        assert_eq!(Value::Float(1e21).into_bytes(), b"1e21");
        assert_eq!(Value::Bool(true).into_bytes(), b"true");
        let list = Value::List(vec![Value::Str(b"a".to_vec()), Value::Int(1)]);
        assert_eq!(list.clone().into_bytes(), b"a 1");
        assert_eq!(list.into_list().len(), 2);
        assert_eq!(Value::Int(1).into_list(), vec![Value::Int(1)]);
        assert_eq!(Value::List(vec![]).into_bytes(), b"");
    }

    #[test]
    fn truthy_only_for_booleans() {
        assert_eq!(Value::Bool(false).truthy(), Ok(false));
        assert_eq!(
            Value::Str(b"true".to_vec()).truthy(),
            Err("expected true or false, got \"true\"".to_string())
        );
    }

    #[test]
    fn numbers_from_strings() {
        assert_eq!(parse_number(b"42"), Some(Num::Int(42)));
        assert_eq!(parse_number(b" -7\t"), Some(Num::Int(-7)));
        assert_eq!(parse_number(b"+3"), Some(Num::Int(3)));
        assert_eq!(parse_number(b"2.5"), Some(Num::Float(2.5)));
        assert_eq!(parse_number(b".5"), Some(Num::Float(0.5)));
        assert_eq!(parse_number(b"5."), Some(Num::Float(5.0)));
        assert_eq!(parse_number(b"1e3"), Some(Num::Float(1000.0)));
        assert_eq!(
            parse_number(b"99999999999999999999"),
            Some(Num::Float(1e20))
        );
        for bad in [
            &b""[..],
            b"abc",
            b"1x",
            b".",
            b"-",
            b"1e",
            b"inf",
            b"NaN",
            b"1 2",
            b"\xff",
        ] {
            assert_eq!(parse_number(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn integers_round_to_tens_in_i128() {
        let cases = [
            (1250, -2, Some(1300)),
            (1249, -2, Some(1200)),
            (-1250, -2, Some(-1300)),
            (-1249, -2, Some(-1200)),
            (15, -1, Some(20)),
            (-15, -1, Some(-20)),
            (7, 0, Some(7)),
            (7, 5, Some(7)),
            (7, i64::MAX, Some(7)),
            (4_999_999_999_999_999_999, -19, Some(0)),
            (i64::MIN, -19, None),
            (i64::MAX, -19, None),
            (i64::MAX, -18, Some(9_000_000_000_000_000_000)),
            (i64::MIN, -18, Some(-9_000_000_000_000_000_000)),
            (i64::MAX, -1, None),
            (i64::MIN, -1, None),
            (i64::MAX, -20, Some(0)),
            (i64::MIN, i64::MIN, Some(0)),
        ];
        for (x, digits, want) in cases {
            assert_eq!(round_int(x, digits), want, "round_int({x}, {digits})");
        }
    }

    /// Halves away from zero, on the digits the float prints as.
    #[test]
    fn floats_round_on_their_printed_digits() {
        let cases = [
            (2.675, 2, 2.68),
            (-2.675, 2, -2.68),
            (1.005, 2, 1.01),
            (0.125, 2, 0.13),
            (0.5, 0, 1.0),
            (2.5, 0, 3.0),
            (-2.5, 0, -3.0),
            (0.1 + 0.2, 2, 0.3),
            (0.1 + 0.2, 16, 0.3),
            (0.1 + 0.2, 17, 0.30000000000000004),
            (123.456, -1, 120.0),
            (125.0, -1, 130.0),
            (1250.0, -2, 1300.0),
            (950.0, -3, 1000.0),
            (123.456, 5, 123.456),
            (1e300, 2, 1e300),
            (1.5e300, -300, 2e300),
            (5e-324, 400, 5e-324),
            (5e-324, 322, 0.0),
            (5e-324, 323, 1e-323),
            (5e-324, 324, 5e-324),
            (9.5, i64::MAX, 9.5),
            (1.7976931348623157e308, 0, 1.7976931348623157e308),
            (1.7976931348623157e308, -308, f64::INFINITY),
            (0.4, 0, 0.0),
            (9.99, 1, 10.0),
            (0.000123456, 5, 0.00012),
            (123456789012345680.0, -2, 123456789012345700.0),
        ];
        for (x, digits, want) in cases {
            let got = round_float(x, digits);
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "round_float({x:e}, {digits}) = {got:e}"
            );
        }
        // A zero result is 0.0, not -0.0; inf and NaN are unchanged.
        for (x, digits) in [(-0.4, 0), (-1.5, -5), (-0.0, 3), (-2.5, i64::MIN), (0.0, 0)] {
            assert_eq!(
                round_float(x, digits).to_bits(),
                0.0f64.to_bits(),
                "{x} {digits}"
            );
        }
        assert_eq!(round_float(f64::NEG_INFINITY, 2), f64::NEG_INFINITY);
        assert!(round_float(f64::NAN, 2).is_nan());
    }

    /// The significant digits of a float's text (`1.25e-7` has 3).
    fn significant_digits(text: &str) -> usize {
        let mantissa = text.split(['e', 'E']).next().unwrap_or("");
        let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        let digits = digits.trim_start_matches('0');
        // A fraction's trailing zeros (`2.0`, `0.50`) are not significant;
        // an integer's (`100`) are written out by the positional form only.
        digits.trim_end_matches('0').len().max(1)
    }

    /// Every finite float prints as text that reads back as the same float,
    /// with no more significant digits than the shortest such text, and no
    /// text with one digit fewer reads back as it.
    #[test]
    fn floats_print_as_the_shortest_text_that_reads_back() {
        let mut rng = crate::rng::Rng::new(12);
        let specials = [
            0.0,
            -0.0,
            1.0,
            0.1,
            0.1 + 0.2,
            1e15,
            1e16,
            123456789012345680.0,
            1e-4,
            1e-5,
            f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            f64::MAX,
            f64::MIN,
            f64::EPSILON,
            9007199254740993.0,
        ];
        let random = (0..200_000).map(|_| f64::from_bits(rng.next_u64()));
        // Floats of ordinary size too, which random bit patterns rarely are.
        let mut rng2 = crate::rng::Rng::new(13);
        let ordinary =
            (0..50_000).map(|_| (rng2.unit() - 0.5) * 10f64.powi(rng2.below(30) as i32 - 10));
        let mut checked = 0;
        for (i, x) in specials
            .into_iter()
            .chain(random)
            .chain(ordinary)
            .enumerate()
        {
            if !x.is_finite() {
                continue;
            }
            let text = format_float(x);
            let back = match parse_number(text.as_bytes()) {
                Some(Num::Float(f)) => f,
                other => panic!("{text} read back as {other:?}"),
            };
            assert_eq!(back.to_bits(), x.to_bits(), "{text}");
            assert!(text.contains(['.', 'e']), "{text}");
            let n = significant_digits(&text);
            assert_eq!(n, significant_digits(&format!("{x:e}")), "{text}");
            // Positional between 1e-4 and 1e16, as Python's `repr`.
            let positional = x == 0.0 || (1e-4..1e16).contains(&x.abs());
            assert_eq!(!text.contains('e'), positional, "{text}");
            // For a sample, check independently that none of the two
            // decimals of n - 1 digits around x reads back as x: x's exact
            // value written with enough digits (a float's exact decimal
            // expansion has at most 767), cut to n - 1 digits, and that
            // plus one in its last digit.
            if n > 1 && i % 50 == 0 {
                let exact = format!("{:.800e}", x.abs());
                let (mantissa, exponent) = exact.split_once('e').unwrap();
                let exponent: i32 = exponent.parse().unwrap();
                let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
                let below: u64 = digits[..n - 1].parse().unwrap();
                for candidate in [below, below + 1] {
                    let shorter = format!("{candidate}e{}", exponent - (n as i32 - 2));
                    let f: f64 = shorter.parse().unwrap();
                    assert_ne!(f, x.abs(), "{shorter} is shorter than {text}");
                }
                checked += 1;
            }
        }
        assert!(checked > 4000, "{checked}");
        // The format of ordinary numbers.
        let shown: Vec<String> = [2.0, -0.0, 0.25, 1e15, 1e16, 1.5e-5, 1e21, 1e-7, 5e-324]
            .map(format_float)
            .to_vec();
        assert_eq!(
            shown,
            [
                "2.0",
                "-0.0",
                "0.25",
                "1000000000000000.0",
                "1e16",
                "1.5e-5",
                "1e21",
                "1e-7",
                "5e-324"
            ]
        );
    }

    #[test]
    fn describe_quotes_and_cuts() {
        assert_eq!(quote(b"a\"b\\\n\xff"), "\"a\\\"b\\\\\\n\\xff\"");
        assert!(quote(&[b'a'; 100]).ends_with("...\""));
        let list = Val::List(vec![Val::Int(1), Val::Str(Cow::Borrowed(b"x"))]);
        assert_eq!(list.describe(), "[1, \"x\"]");
    }
}
