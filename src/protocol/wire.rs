//! Payload encoding: how message fields are laid out inside a frame.
//!
//! OS idea: the bytes on a socket have no types. Every integer is written
//! big-endian ("network byte order") in a fixed width, and every string or
//! byte string is a u32 length followed by that many bytes, so the reader
//! always knows how much to take. Reading validates as it goes: a length is
//! checked against the bytes actually present before anything is allocated,
//! and a payload must be consumed exactly.
//!
//! | field type     | bytes on the wire                          |
//! |----------------|--------------------------------------------|
//! | `u8`           | 1                                          |
//! | `u16`          | 2, big-endian                              |
//! | `u32`          | 4, big-endian                              |
//! | `u64`          | 8, big-endian                              |
//! | `String`       | u32 length, then that many UTF-8 bytes     |
//! | `Bytes`        | u32 length, then that many bytes, any      |
//! | `Vec<T>`       | u32 count, then each `T` in turn           |
//! | `wire_enum!`   | 1, the variant's code                      |
//! | `wire_struct!` | each field in turn, in declaration order   |

use byteorder::{BigEndian, ByteOrder};

use crate::protocol::frame::Invalid;

/// A value that can be a message field: written to a payload, read back, and
/// shown as text (for logs and the `frame` tool).
pub trait Field: Sized {
    fn put(&self, out: &mut Vec<u8>);
    fn get(r: &mut PayloadReader<'_>, name: &str) -> Result<Self, Invalid>;
    fn show(&self) -> String;
    /// Parses the text form; `None` when the text is wrong or the type has no
    /// text form (nested records).
    fn parse_text(text: &str) -> Option<Self>;
}

/// Reads fields off a payload, front to back, never past its end.
pub struct PayloadReader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// What is being read (a message type's name, or `journal entry`), for
    /// errors.
    what: &'static str,
}

impl<'a> PayloadReader<'a> {
    pub fn new(what: &'static str, buf: &'a [u8]) -> PayloadReader<'a> {
        PayloadReader { buf, pos: 0, what }
    }

    /// An error naming what is read, the field and the byte offset.
    pub fn malformed(&self, name: &str, what: impl std::fmt::Display) -> Invalid {
        Invalid::Malformed {
            what: self.what,
            reason: format!("field `{name}` at byte {}: {what}", self.pos),
        }
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize, name: &str) -> Result<&'a [u8], Invalid> {
        let left = self.buf.len() - self.pos;
        if n > left {
            return Err(self.malformed(name, format!("needs {n} bytes, {left} left")));
        }
        let bytes = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    /// Takes a u32 length, then that many bytes.
    pub fn take_prefixed(&mut self, name: &str) -> Result<&'a [u8], Invalid> {
        let len = u32::get(self, name)? as usize;
        self.take(len, name)
    }

    /// Succeeds only if every byte was consumed.
    pub fn finish(self) -> Result<(), Invalid> {
        let left = self.buf.len() - self.pos;
        if left == 0 {
            Ok(())
        } else {
            Err(self.malformed("(end)", format!("{left} trailing bytes")))
        }
    }
}

macro_rules! int_field {
    ($ty:ty, $width:expr, $read:path, $write:path) => {
        impl Field for $ty {
            fn put(&self, out: &mut Vec<u8>) {
                let mut b = [0u8; $width];
                $write(&mut b, *self);
                out.extend_from_slice(&b);
            }
            fn get(r: &mut PayloadReader<'_>, name: &str) -> Result<Self, Invalid> {
                Ok($read(r.take($width, name)?))
            }
            fn show(&self) -> String {
                self.to_string()
            }
            fn parse_text(text: &str) -> Option<Self> {
                text.parse().ok()
            }
        }
    };
}

int_field!(u16, 2, BigEndian::read_u16, BigEndian::write_u16);
int_field!(u32, 4, BigEndian::read_u32, BigEndian::write_u32);
int_field!(u64, 8, BigEndian::read_u64, BigEndian::write_u64);

impl Field for u8 {
    fn put(&self, out: &mut Vec<u8>) {
        out.push(*self);
    }
    fn get(r: &mut PayloadReader<'_>, name: &str) -> Result<Self, Invalid> {
        Ok(r.take(1, name)?[0])
    }
    fn show(&self) -> String {
        self.to_string()
    }
    fn parse_text(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

impl Field for String {
    fn put(&self, out: &mut Vec<u8>) {
        (self.len() as u32).put(out);
        out.extend_from_slice(self.as_bytes());
    }
    fn get(r: &mut PayloadReader<'_>, name: &str) -> Result<Self, Invalid> {
        let start = r.pos;
        let bytes = r.take_prefixed(name)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_string()),
            Err(e) => {
                r.pos = start;
                Err(r.malformed(name, format!("not UTF-8 ({e})")))
            }
        }
    }
    fn show(&self) -> String {
        quote(self)
    }
    fn parse_text(text: &str) -> Option<Self> {
        unquote(text)
    }
}

impl<T: Field> Field for Vec<T> {
    fn put(&self, out: &mut Vec<u8>) {
        (self.len() as u32).put(out);
        for item in self {
            item.put(out);
        }
    }
    fn get(r: &mut PayloadReader<'_>, name: &str) -> Result<Self, Invalid> {
        let count = u32::get(r, name)? as usize;
        // Every element takes at least one byte, so a count larger than the
        // bytes left is a lie; checking it first bounds the allocation.
        let left = r.buf.len() - r.pos;
        if count > left {
            return Err(r.malformed(name, format!("count {count} but only {left} bytes left")));
        }
        // Reserve for what the bytes can hold at most, not more: an element
        // may be far larger in memory than its one byte on the wire.
        let mut items =
            Vec::with_capacity(count.min(left / std::mem::size_of::<T>().max(1)).min(1024));
        for _ in 0..count {
            items.push(T::get(r, name)?);
        }
        Ok(items)
    }
    fn show(&self) -> String {
        let items: Vec<String> = self.iter().map(Field::show).collect();
        format!("[{}]", items.join(", "))
    }
    fn parse_text(_text: &str) -> Option<Self> {
        None
    }
}

/// Raw bytes (record data), laid out like a string but not required to be
/// UTF-8. Shown quoted, printable ASCII as itself and every other byte as
/// `\xNN`, so the text form round-trips any bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl Field for Bytes {
    fn put(&self, out: &mut Vec<u8>) {
        (self.0.len() as u32).put(out);
        out.extend_from_slice(&self.0);
    }
    fn get(r: &mut PayloadReader<'_>, name: &str) -> Result<Self, Invalid> {
        Ok(Bytes(r.take_prefixed(name)?.to_vec()))
    }
    fn show(&self) -> String {
        quote_bytes(&self.0, usize::MAX)
    }
    fn parse_text(text: &str) -> Option<Self> {
        let Some(inner) = text.strip_prefix('"') else {
            return Some(Bytes(text.as_bytes().to_vec()));
        };
        let inner = inner.strip_suffix('"')?.as_bytes();
        let mut out = Vec::with_capacity(inner.len());
        let mut i = 0;
        while i < inner.len() {
            let b = inner[i];
            i += 1;
            if b != b'\\' {
                out.push(b);
                continue;
            }
            match *inner.get(i)? {
                b'"' => out.push(b'"'),
                b'\\' => out.push(b'\\'),
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'x' => {
                    let hex = std::str::from_utf8(inner.get(i + 1..i + 3)?).ok()?;
                    out.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 2;
                }
                _ => return None,
            }
            i += 1;
        }
        Some(Bytes(out))
    }
}

/// Declares a struct whose fields are laid out one after another on the
/// wire, in declaration order, and implements `Field` for it.
#[macro_export]
macro_rules! wire_struct {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name { $($(#[$fmeta])* pub $field: $ty),* }

        impl $crate::protocol::Field for $name {
            fn put(&self, out: &mut Vec<u8>) {
                $($crate::protocol::Field::put(&self.$field, out);)*
            }
            fn get(
                r: &mut $crate::protocol::PayloadReader<'_>,
                _name: &str,
            ) -> Result<Self, $crate::protocol::Invalid> {
                Ok($name { $($field: <$ty as $crate::protocol::Field>::get(r, stringify!($field))?),* })
            }
            fn show(&self) -> String {
                let fields: Vec<String> = vec![$(format!(
                    "{}={}",
                    stringify!($field),
                    $crate::protocol::Field::show(&self.$field)
                )),*];
                format!("{{{}}}", fields.join(" "))
            }
            fn parse_text(_text: &str) -> Option<Self> {
                None
            }
        }
    };
}

/// Declares an enum carried as one `u8` code, with its text name, and
/// implements `Field` for it (an unknown code is malformed).
#[macro_export]
macro_rules! wire_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal => $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant),* }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
            pub fn code(self) -> u8 {
                match self { $($name::$variant => $code),* }
            }
            pub fn from_code(code: u8) -> Option<$name> {
                match code { $($code => Some($name::$variant),)* _ => None }
            }
        }

        impl Default for $name {
            fn default() -> $name {
                [$($name::$variant),*][0]
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::protocol::Field for $name {
            fn put(&self, out: &mut Vec<u8>) {
                out.push(self.code());
            }
            fn get(
                r: &mut $crate::protocol::PayloadReader<'_>,
                name: &str,
            ) -> Result<Self, $crate::protocol::Invalid> {
                let code = <u8 as $crate::protocol::Field>::get(r, name)?;
                $name::from_code(code).ok_or_else(|| {
                    r.malformed(name, format!("{} code {code} is unknown", stringify!($name)))
                })
            }
            fn show(&self) -> String {
                self.as_str().to_string()
            }
            fn parse_text(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)* _ => None }
            }
        }
    };
}

/// Bytes as a double-quoted string: printable ASCII as is, the rest escaped
/// (`\n`, `\t`, `\"`, `\\`, `\xNN`), cut with `...` after `max` bytes.
/// `Bytes::parse_text` reads it back.
pub fn quote_bytes(bytes: &[u8], max: usize) -> String {
    let mut out = String::with_capacity(bytes.len().min(max) + 2);
    out.push('"');
    for &b in bytes.iter().take(max) {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    if bytes.len() > max {
        out.push_str("...");
    }
    out.push('"');
    out
}

/// Quotes a string for a `key=value` line when it needs it: empty, or
/// containing spaces, quotes, `=` or control characters.
pub fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != '"' && c != '=');
    if plain {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Inverse of `quote`; also accepts a bare word.
pub fn unquote(s: &str) -> Option<String> {
    let Some(inner) = s.strip_prefix('"') else {
        return Some(s.to_string());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '"' => out.push('"'),
            '\\' => out.push('\\'),
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'u' => {
                let rest: String = chars.by_ref().take_while(|&c| c != '}').collect();
                let hex = rest.strip_prefix('{')?;
                out.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_round_trips() {
        for s in [
            "plain",
            "",
            "two words",
            "a\"b",
            "x=y",
            "tab\there",
            "nl\n",
            "\u{1}",
        ] {
            assert_eq!(unquote(&quote(s)).as_deref(), Some(s), "{s:?}");
        }
        assert_eq!(quote("plain"), "plain");
    }

    #[test]
    fn vec_count_larger_than_payload_is_refused_before_allocating() {
        let mut buf = Vec::new();
        u32::MAX.put(&mut buf);
        let mut r = PayloadReader::new("WorkerList", &buf);
        assert!(<Vec<u32>>::get(&mut r, "workers").is_err());
    }

    #[test]
    fn string_longer_than_payload_is_refused() {
        let mut buf = Vec::new();
        1000u32.put(&mut buf);
        buf.extend_from_slice(b"short");
        let mut r = PayloadReader::new("Error", &buf);
        let err = String::get(&mut r, "message").unwrap_err();
        assert!(
            err.to_string().contains("needs 1000 bytes, 5 left"),
            "{err}"
        );
    }
}
