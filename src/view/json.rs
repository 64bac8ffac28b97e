//! A hand-written JSON writer, for the master's `/api/v1` answers.
//!
//! ```text
//! let mut j = Json::new();
//! j.begin_object().key("id").u64(7).key("tags").begin_array().str("a").end_array().end_object();
//! assert_eq!(j.finish(), r#"{"id":7,"tags":["a"]}"#);
//! ```
//!
//! Idea: serialisation is just appending text in document order. The one
//! piece of state JSON needs is where the commas go: a value gets a comma in
//! front of it when it is not the first one in its container. `Json` keeps a
//! stack with one entry per open `{` or `[`, and each entry remembers whether
//! that container already holds a value. A key and its value count as one
//! member, so the value written right after `key` never gets a comma.
//!
//! Strings are escaped so that any text, including text that came from a
//! peer, can never end a string early or break the document: `"` and `\`
//! are escaped, and so is every control character (RFC 8259 forbids them raw
//! inside strings). All other Unicode is written as is; JSON text is UTF-8.
//!
//! Misuse (a value in an object without a key, unbalanced `end_*`) is a bug in
//! the calling code, not something a peer can cause; debug builds catch it
//! with `debug_assert!`, release builds write whatever was asked for.

use std::fmt::Write;

/// Which kind of container is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Object,
    Array,
}

/// One open container on the nesting stack.
#[derive(Debug, Clone, Copy)]
struct Open {
    kind: Container,
    /// Whether a value (or, in an object, a member) has been written yet:
    /// the next one needs a comma in front of it.
    has_value: bool,
}

/// Builds one JSON text. Values are appended in document order.
#[derive(Debug, Clone)]
pub struct Json {
    out: String,
    /// The open containers, innermost last.
    stack: Vec<Open>,
    /// A key was just written: the next value is its member's value and must
    /// not get a comma.
    after_key: bool,
}

impl Json {
    /// An empty document.
    pub fn new() -> Json {
        Json {
            out: String::new(),
            stack: Vec::new(),
            after_key: false,
        }
    }

    /// Starts an object: `{`.
    pub fn begin_object(&mut self) -> &mut Self {
        self.before_value();
        self.out.push('{');
        self.stack.push(Open {
            kind: Container::Object,
            has_value: false,
        });
        self
    }

    /// Ends the innermost object: `}`.
    pub fn end_object(&mut self) -> &mut Self {
        self.close(Container::Object, '}')
    }

    /// Starts an array: `[`.
    pub fn begin_array(&mut self) -> &mut Self {
        self.before_value();
        self.out.push('[');
        self.stack.push(Open {
            kind: Container::Array,
            has_value: false,
        });
        self
    }

    /// Ends the innermost array: `]`.
    pub fn end_array(&mut self) -> &mut Self {
        self.close(Container::Array, ']')
    }

    /// Writes a member's key, `"k":`, inside an object. The next call must
    /// write that member's value.
    pub fn key(&mut self, k: &str) -> &mut Self {
        debug_assert!(
            !self.after_key,
            "Json::key after a key: the first key has no value"
        );
        debug_assert!(
            matches!(self.stack.last(), Some(open) if open.kind == Container::Object),
            "Json::key outside an object"
        );
        if let Some(open) = self.stack.last_mut() {
            if open.has_value {
                self.out.push(',');
            }
            open.has_value = true;
        }
        escape_into(&mut self.out, k);
        self.out.push(':');
        self.after_key = true;
        self
    }

    /// Writes a string value, escaped.
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.before_value();
        escape_into(&mut self.out, v);
        self
    }

    /// Writes bytes as a string value. Bytes that are not valid UTF-8 are
    /// replaced with U+FFFD, so any record key or value can be shown.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.str(&String::from_utf8_lossy(v))
    }

    /// Writes an unsigned integer.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.before_value();
        // Writing to a String cannot fail.
        let _ = write!(self.out, "{v}");
        self
    }

    /// Writes a signed integer.
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.before_value();
        let _ = write!(self.out, "{v}");
        self
    }

    /// Writes a number. JSON has no NaN or infinity, so those become `null`.
    pub fn f64(&mut self, v: f64) -> &mut Self {
        if !v.is_finite() {
            return self.null();
        }
        self.before_value();
        // `{:?}` is the shortest text that reads back as the same f64, and
        // switches to an exponent (`1e300`) for very large or small values;
        // every form it prints is a valid JSON number.
        let _ = write!(self.out, "{v:?}");
        self
    }

    /// Writes `true` or `false`.
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.before_value();
        self.out.push_str(if v { "true" } else { "false" });
        self
    }

    /// Writes `null`.
    pub fn null(&mut self) -> &mut Self {
        self.before_value();
        self.out.push_str("null");
        self
    }

    /// The finished text. Every container should have been closed.
    pub fn finish(self) -> String {
        debug_assert!(
            self.stack.is_empty() && !self.after_key,
            "Json::finish with an open container or a key without a value"
        );
        self.out
    }

    /// Bookkeeping before any value: the comma, if one is due.
    fn before_value(&mut self) {
        if self.after_key {
            // The value of a member whose key (and comma) is already out.
            self.after_key = false;
            return;
        }
        match self.stack.last_mut() {
            Some(open) => {
                debug_assert!(
                    open.kind == Container::Array,
                    "Json: a value inside an object needs a key first"
                );
                if open.has_value {
                    self.out.push(',');
                }
                open.has_value = true;
            }
            None => debug_assert!(self.out.is_empty(), "Json: two top-level values"),
        }
    }

    /// Pops the innermost container, which should be of kind `kind`.
    fn close(&mut self, kind: Container, bracket: char) -> &mut Self {
        debug_assert!(!self.after_key, "Json: a key without a value");
        let open = self.stack.pop();
        debug_assert!(
            open.map(|o| o.kind) == Some(kind),
            "Json: closing {kind:?} but the innermost open container is {open:?}"
        );
        self.out.push(bracket);
        self
    }
}

impl Default for Json {
    fn default() -> Json {
        Json::new()
    }
}

/// Appends `s` to `out` as a quoted, escaped JSON string.
fn escape_into(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn nested_objects_and_arrays_get_commas_in_the_right_places() {
        let mut j = Json::new();
        j.begin_object()
            .key("id")
            .u64(7)
            .key("name")
            .str("wc")
            .key("tasks")
            .begin_array()
            .begin_object()
            .key("done")
            .bool(true)
            .end_object()
            .begin_object()
            .end_object()
            .begin_array()
            .end_array()
            .i64(-3)
            .null()
            .end_array()
            .key("empty")
            .begin_object()
            .end_object()
            .key("ratio")
            .f64(0.5)
            .end_object();
        assert_eq!(
            j.finish(),
            r#"{"id":7,"name":"wc","tasks":[{"done":true},{},[],-3,null],"empty":{},"ratio":0.5}"#
        );
    }

    #[test]
    fn top_level_scalars_and_empty_containers() {
        let mut j = Json::new();
        j.u64(u64::MAX);
        assert_eq!(j.finish(), "18446744073709551615");
        let mut j = Json::default();
        j.i64(i64::MIN);
        assert_eq!(j.finish(), "-9223372036854775808");
        let mut j = Json::new();
        j.begin_array().end_array();
        assert_eq!(j.finish(), "[]");
        let mut j = Json::new();
        j.begin_array()
            .begin_array()
            .begin_array()
            .end_array()
            .end_array()
            .end_array();
        assert_eq!(j.finish(), "[[[]]]");
    }

    #[test]
    fn floats_are_json_numbers_and_non_finite_is_null() {
        let mut j = Json::new();
        j.begin_array()
            .f64(1.0)
            .f64(-0.25)
            .f64(1e300)
            .f64(1.5e-10)
            .f64(f64::NAN)
            .f64(f64::INFINITY)
            .f64(f64::NEG_INFINITY)
            .end_array();
        assert_eq!(j.finish(), "[1.0,-0.25,1e300,1.5e-10,null,null,null]");
    }

    #[test]
    fn every_control_character_is_escaped() {
        for code in 0u32..0x20 {
            let c = char::from_u32(code).unwrap();
            let mut j = Json::new();
            j.str(&c.to_string());
            let expected = match c {
                '\n' => "\"\\n\"".to_string(),
                '\r' => "\"\\r\"".to_string(),
                '\t' => "\"\\t\"".to_string(),
                '\u{08}' => "\"\\b\"".to_string(),
                '\u{0C}' => "\"\\f\"".to_string(),
                _ => format!("\"\\u{code:04x}\""),
            };
            assert_eq!(j.finish(), expected, "control char {code:#04x}");
        }
    }

    #[test]
    fn quotes_backslashes_and_unicode() {
        let mut j = Json::new();
        j.begin_object()
            .key("a\"b")
            .str("back\\slash \"quoted\" é 漢 🦀 \u{7f}")
            .end_object();
        assert_eq!(
            j.finish(),
            "{\"a\\\"b\":\"back\\\\slash \\\"quoted\\\" é 漢 🦀 \u{7f}\"}"
        );
    }

    #[test]
    fn invalid_utf8_bytes_are_replaced() {
        let mut j = Json::new();
        j.bytes(b"ok\xff\"");
        assert_eq!(j.finish(), "\"ok\u{FFFD}\\\"\"");
    }

    /// Decodes one JSON string literal that fills all of `text`: just enough
    /// of a JSON reader to check the writer's escaping.
    fn decode_string(text: &str) -> Result<String, String> {
        let inner = text
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .ok_or("not quoted")?;
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Err("unescaped quote".into()),
                c if (c as u32) < 0x20 => return Err(format!("raw control {:#x}", c as u32)),
                '\\' => {
                    let decoded = match chars.next().ok_or("dangling backslash")? {
                        '"' => '"',
                        '\\' => '\\',
                        '/' => '/',
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        'b' => '\u{08}',
                        'f' => '\u{0C}',
                        'u' => {
                            let hex: String = chars.by_ref().take(4).collect();
                            let code = u32::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
                            // The writer only uses \u for control characters,
                            // never for surrogates.
                            char::from_u32(code).ok_or("bad \\u escape")?
                        }
                        other => return Err(format!("unknown escape \\{other}")),
                    };
                    out.push(decoded);
                }
                c => out.push(c),
            }
        }
        Ok(out)
    }

    fn random_string(rng: &mut Rng) -> String {
        const TRICKY: &[char] = &[
            '"', '\\', '/', '\n', '\r', '\t', '\u{08}', '\u{0C}', '\0', '\u{1F}', '\u{7F}', 'é',
            '漢', '🦀', '\u{2028}', '\u{FFFD}', 'u', '0',
        ];
        let len = rng.below(24) as usize;
        (0..len)
            .map(|_| match rng.below(4) {
                0 => TRICKY[rng.below(TRICKY.len() as u64) as usize],
                1 => char::from_u32(rng.below(0x20) as u32).unwrap_or('?'),
                2 => char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('x'),
                _ => (b' ' + rng.below(95) as u8) as char,
            })
            .collect()
    }

    #[test]
    fn random_strings_round_trip_through_a_decoder() {
        let mut rng = Rng::new(0x15_0A);
        for _ in 0..5_000 {
            let s = random_string(&mut rng);
            let mut j = Json::new();
            j.str(&s);
            let text = j.finish();
            assert_eq!(decode_string(&text), Ok(s.clone()), "{text:?}");
        }
    }
}
