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
    /// Parses the text form `show` writes (for a list or a record, also that
    /// text quoted); `None` when the text is wrong.
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
        format!("[{}]", items.join(LIST_SEPARATOR))
    }
    fn parse_text(text: &str) -> Option<Self> {
        list_items(text)?
            .iter()
            .map(|item| T::parse_text(item))
            .collect()
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
            fn parse_text(text: &str) -> Option<Self> {
                let fields = $crate::protocol::record_fields(text, &[$(stringify!($field)),*])?;
                let mut values = fields.into_iter();
                Some($name { $($field: <$ty as $crate::protocol::Field>::parse_text(&values.next()?)?),* })
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
/// containing spaces, quotes, `=`, control characters, or the brackets
/// that open and close lists and records (so a bare word inside one never
/// unbalances them: see `list_items`).
pub fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| {
            !c.is_whitespace() && !c.is_control() && !matches!(c, '"' | '=' | '[' | ']' | '{' | '}')
        });
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

// --- Lists and records as text ------------------------------------------
//
// `show` writes a list as `[a, b]` and a record (`wire_struct!`) as
// `{k=v k=v}`, nested as deep as the types are. A bare word never holds
// whitespace, a quote or a bracket (`quote` quotes it then), so a separator
// counts only outside quotes and at bracket depth 0, and each type's
// `parse_text` cuts its own level and hands the pieces down. A list or a
// record may also be given quoted, as `quote` writes it: that is how one
// travels through `Message::from_text`, which cuts a line at whitespace
// outside quotes (see `quote_nested`).

/// Between the items of a list's text form.
const LIST_SEPARATOR: &str = ", ";

/// The length of a list separator at the start of `rest`, or 0.
fn list_separator(rest: &str) -> usize {
    if rest.starts_with(LIST_SEPARATOR) {
        LIST_SEPARATOR.len()
    } else {
        0
    }
}

/// The length of a whitespace character at the start of `rest`, or 0.
fn whitespace(rest: &str) -> usize {
    match rest.chars().next() {
        Some(c) if c.is_whitespace() => c.len_utf8(),
        _ => 0,
    }
}

/// `text` cut at every separator (`separator` says how long one starting
/// at a position is) that is outside quotes and brackets. `None` when the
/// quotes or the brackets do not balance.
fn split_top_level(text: &str, separator: fn(&str) -> usize) -> Option<Vec<&str>> {
    let mut pieces = Vec::new();
    // The brackets open at this point, innermost last.
    let mut open = Vec::new();
    let (mut in_quotes, mut escaped) = (false, false);
    let (mut start, mut resume) = (0, 0);
    for (i, c) in text.char_indices() {
        if i < resume {
            continue; // inside a separator
        }
        if in_quotes {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_quotes = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            '[' => open.push(']'),
            '{' => open.push('}'),
            ']' | '}' => {
                let closes_the_last_open = open.pop() == Some(c);
                if !closes_the_last_open {
                    return None;
                }
            }
            _ if open.is_empty() => {
                let n = separator(&text[i..]);
                if n > 0 {
                    pieces.push(&text[start..i]);
                    start = i + n;
                    resume = start;
                }
            }
            _ => {}
        }
    }
    if in_quotes || !open.is_empty() {
        return None;
    }
    pieces.push(&text[start..]);
    Some(pieces)
}

/// `text` without its quotes if it is quoted (see `unquote`), else itself.
fn maybe_unquoted(text: &str) -> Option<std::borrow::Cow<'_, str>> {
    if text.starts_with('"') {
        unquote(text).map(std::borrow::Cow::Owned)
    } else {
        Some(std::borrow::Cow::Borrowed(text))
    }
}

/// The items of a list's text form, `[a, b]` (or that quoted), each still
/// in its own text form.
fn list_items(text: &str) -> Option<Vec<String>> {
    let text = maybe_unquoted(text)?;
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    if inner.trim().is_empty() {
        return Some(Vec::new());
    }
    let items = split_top_level(inner, list_separator)?;
    Some(items.into_iter().map(str::to_string).collect())
}

/// The field values of a record's text form, `{a=1 b=x}` (or that
/// quoted), in the order of `names`, each still in its own text form.
/// `None` unless each of `names` is there exactly once and nothing else
/// is. `wire_struct!` reads its records with it.
pub fn record_fields(text: &str, names: &[&str]) -> Option<Vec<String>> {
    let text = maybe_unquoted(text)?;
    let inner = text.strip_prefix('{')?.strip_suffix('}')?;
    let mut values: Vec<Option<String>> = vec![None; names.len()];
    for word in split_top_level(inner, whitespace)? {
        if word.is_empty() {
            continue; // a run of spaces
        }
        let (key, value) = word.split_once('=')?;
        let at = names.iter().position(|n| *n == key)?;
        if values[at].replace(value.to_string()).is_some() {
            return None; // given twice
        }
    }
    values.into_iter().collect()
}

/// A message's text form, `Name key=value ...`, with each list or record
/// value quoted, so that `Message::from_text` (which cuts a line at
/// whitespace outside quotes) takes it as one word; the types read the
/// quoted form back. `frame encode` passes its input through here, so it
/// reads exactly what `frame decode` and the logs print.
///
/// # Errors
/// The quotes or brackets in `text` do not balance.
pub fn quote_nested(text: &str) -> Result<String, String> {
    let words =
        split_top_level(text.trim(), whitespace).ok_or("the quotes or brackets do not balance")?;
    let words: Vec<String> = words
        .into_iter()
        .filter(|w| !w.is_empty())
        .map(|word| match word.split_once('=') {
            Some((key, value)) if value.starts_with(['[', '{']) => {
                format!("{key}={}", quote(value))
            }
            _ => word.to_string(),
        })
        .collect();
    Ok(words.join(" "))
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

    use crate::protocol::{
        samples, AttemptReport, JobReport, KeyValue, Message, Pair, PartLocation, StageReport,
        WorkerInfo,
    };

    /// What `frame encode` does with a line of text.
    fn from_text(text: &str) -> Result<Message, String> {
        Message::from_text(&quote_nested(text)?)
    }

    /// The text form of every message, nested lists and records included,
    /// reads back as the same message: the same bytes, the same text.
    #[test]
    fn every_message_text_round_trips() {
        for msg in samples() {
            let text = msg.to_string();
            let back = from_text(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(back.to_frame_bytes(), msg.to_frame_bytes(), "{text}");
            assert_eq!(back.to_string(), text);
        }
    }

    #[test]
    fn awkward_strings_inside_lists_and_records_round_trip() {
        let awkward = [
            "",
            "a,b",
            "a, b",
            "a,",
            ",",
            "[",
            "]]",
            "{x}",
            "}{",
            "[::1]:7001",
            "a=b",
            "q\"q",
            "back\\slash",
            "tab\t",
            "nl\n",
            "\u{1}",
            "ünï",
            "[a, b]",
            "{k=v}",
        ];
        let strings: Vec<String> = awkward.iter().map(|s| s.to_string()).collect();
        let msgs = [
            Message::CommitJob {
                job_id: 1,
                outputs: strings.clone(),
            },
            Message::CommitJob {
                job_id: 2,
                outputs: Vec::new(),
            },
            Message::SubmitJob {
                file: "[odd".into(),
                source: "a = b\n".into(),
                params: strings
                    .iter()
                    .map(|s| KeyValue {
                        key: s.clone(),
                        value: s.clone(),
                    })
                    .collect(),
                base_dir: "{".into(),
                parallelism: 0,
                inputs: Vec::new(),
            },
            Message::WorkerList {
                workers: strings
                    .iter()
                    .map(|s| WorkerInfo {
                        addr: s.clone(),
                        ..WorkerInfo::default()
                    })
                    .collect(),
            },
            Message::TaskDone {
                attempt: 3,
                metrics: Default::default(),
                samples: vec![Pair {
                    key: Bytes(b"[\"], \xff".to_vec()),
                    value: Bytes(Vec::new()),
                }],
            },
            Message::JobStatus {
                job: JobReport {
                    stages: vec![StageReport::default(), StageReport::default()],
                    parts: vec![PartLocation::default()],
                    attempts: vec![AttemptReport::default()],
                    outputs: vec![String::new()],
                    ..JobReport::default()
                },
            },
            Message::Register {
                data_addr: "[::1]:7001".into(),
                slots: 1,
                memory_bytes: 2,
                prev_id: 3,
            },
        ];
        for msg in msgs {
            let text = msg.to_string();
            let back = from_text(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(back, msg, "{text}");
        }
    }

    #[test]
    fn lists_and_records_read_their_text_and_refuse_the_rest() {
        assert_eq!(<Vec<u32>>::parse_text("[1, 2, 3]"), Some(vec![1, 2, 3]));
        assert_eq!(<Vec<u32>>::parse_text("[]"), Some(vec![]));
        assert_eq!(<Vec<u32>>::parse_text("\"[1, 2]\""), Some(vec![1, 2]));
        assert_eq!(
            <Vec<Vec<u32>>>::parse_text("[[1], [], [2, 3]]"),
            Some(vec![vec![1], vec![], vec![2, 3]])
        );
        for bad in [
            "", "1", "[1, x]", "[1,2", "[1]]", "[[1]", "[\"]", "[1, 2}", "(1)",
        ] {
            assert_eq!(<Vec<u32>>::parse_text(bad), None, "{bad:?}");
        }
        let kv = |text| KeyValue::parse_text(text);
        let want = KeyValue {
            key: "k".into(),
            value: "two words".into(),
        };
        assert_eq!(kv("{key=k value=\"two words\"}"), Some(want.clone()));
        assert_eq!(kv("{value=\"two words\"  key=k}"), Some(want), "any order");
        for bad in [
            "{key=k}",
            "{key=k value=v key=k}",
            "{key=k value=v other=1}",
            "{key=k value}",
            "key=k value=v",
            "{key=k value=v",
        ] {
            assert_eq!(kv(bad), None, "{bad:?}");
        }
        assert!(quote_nested("Ping nonce=\"1").is_err());
        assert!(quote_nested("CommitJob job_id=1 outputs=[a").is_err());
    }

    #[test]
    fn quote_quotes_brackets() {
        assert_eq!(quote("[::1]:7001"), "\"[::1]:7001\"");
        assert_eq!(quote("a,b"), "a,b");
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
