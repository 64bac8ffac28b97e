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

/// A float as record text: Rust's shortest round-trip form, which always
/// shows a `.` or an exponent (`2.0`, `0.5`, `1e21`, `inf`, `NaN`).
pub(crate) fn format_float(f: f64) -> String {
    format!("{f:?}")
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
    fn describe_quotes_and_cuts() {
        assert_eq!(quote(b"a\"b\\\n\xff"), "\"a\\\"b\\\\\\n\\xff\"");
        assert!(quote(&[b'a'; 100]).ends_with("...\""));
        let list = Val::List(vec![Val::Int(1), Val::Str(Cow::Borrowed(b"x"))]);
        assert_eq!(list.describe(), "[1, \"x\"]");
    }
}
