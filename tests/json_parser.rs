//! Tests for the integration tests' JSON parser (`tests/common/json.rs`).
//!
//! The parser's own cases are in `mod cases`. The other tests check it against the real writer: random nested
//! documents built with `minispark::view::Json` must parse back into exactly
//! the values that were written, which tests the writer's escaping and number
//! formatting and the parser's decoding against each other.

#[path = "common/json.rs"]
mod json;

use json::{parse, Value};
use minispark::rng::Rng;
use minispark::view::Json;

/// Largest integer an f64 (and so `Value::Num`) holds exactly.
const EXACT: u64 = 1 << 53;

fn random_string(rng: &mut Rng) -> String {
    const TRICKY: &[char] = &[
        '"', '\\', '/', '\n', '\r', '\t', '\u{08}', '\u{0C}', '\0', '\u{1F}', '\u{7F}', 'é', '漢',
        '🦀', '\u{2028}', '\u{FEFF}', '\u{FFFD}', '{', '}', '[', ']', ',', ':',
    ];
    let len = rng.below(12) as usize;
    (0..len)
        .map(|_| match rng.below(3) {
            0 => TRICKY[rng.below(TRICKY.len() as u64) as usize],
            1 => char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('x'),
            _ => (b' ' + rng.below(95) as u8) as char,
        })
        .collect()
}

/// Writes one random value into `j` and returns the value the parser should
/// read back.
fn random_value(rng: &mut Rng, j: &mut Json, depth: u32) -> Value {
    let choices = if depth == 0 { 8 } else { 10 };
    match rng.below(choices) {
        0 => {
            j.null();
            Value::Null
        }
        1 => {
            let b = rng.below(2) == 0;
            j.bool(b);
            Value::Bool(b)
        }
        2 => {
            let n = rng.below(EXACT + 1) >> rng.below(54);
            j.u64(n);
            Value::Num(n as f64)
        }
        3 => {
            let n = rng.below(EXACT + 1) as i64 - (EXACT / 2) as i64;
            j.i64(n);
            Value::Num(n as f64)
        }
        4 => {
            // Any bit pattern: subnormals, huge exponents, NaN and infinities.
            let f = f64::from_bits(rng.next_u64());
            j.f64(f);
            if f.is_finite() {
                Value::Num(f)
            } else {
                Value::Null
            }
        }
        5 => {
            let f = (rng.unit() - 0.5) * 1000.0;
            j.f64(f);
            Value::Num(f)
        }
        6 => {
            let s = random_string(rng);
            j.str(&s);
            Value::Str(s)
        }
        7 => {
            let bytes: Vec<u8> = (0..rng.below(10)).map(|_| rng.next_u64() as u8).collect();
            j.bytes(&bytes);
            Value::Str(String::from_utf8_lossy(&bytes).into_owned())
        }
        8 => {
            j.begin_array();
            let items = (0..rng.below(5))
                .map(|_| random_value(rng, j, depth - 1))
                .collect();
            j.end_array();
            Value::Arr(items)
        }
        _ => {
            j.begin_object();
            let mut members = Vec::new();
            for _ in 0..rng.below(5) {
                let key = random_string(rng);
                j.key(&key);
                members.push((key, random_value(rng, j, depth - 1)));
            }
            j.end_object();
            Value::Obj(members)
        }
    }
}

#[test]
fn random_documents_from_the_writer_parse_back() {
    let mut rng = Rng::new(1504);
    for round in 0..3_000 {
        let mut j = Json::new();
        let expected = random_value(&mut rng, &mut j, 5);
        let text = j.finish();
        assert_eq!(parse(&text), Ok(expected), "round {round}: {text}");
    }
}

#[test]
fn a_status_like_document_reads_through_the_accessors() {
    let mut j = Json::new();
    j.begin_object()
        .key("workers")
        .begin_array()
        .begin_object()
        .key("id")
        .u64(1)
        .key("addr")
        .str("127.0.0.1:40123")
        .key("state")
        .str("ALIVE")
        .end_object()
        .end_array()
        .key("jobs")
        .begin_array()
        .end_array()
        .key("load")
        .f64(0.75)
        .key("note")
        .bytes(b"tab\there \xff")
        .end_object();
    let v = parse(&j.finish()).unwrap();
    let worker = v.get("workers").and_then(|w| w.at(0)).unwrap();
    assert_eq!(worker.get("id").and_then(Value::as_u64), Some(1));
    assert_eq!(worker.get("state").and_then(Value::as_str), Some("ALIVE"));
    assert_eq!(v.get("jobs").and_then(Value::as_array), Some(&[][..]));
    assert_eq!(v.get("load").and_then(Value::as_f64), Some(0.75));
    assert_eq!(
        v.get("note").and_then(Value::as_str),
        Some("tab\there \u{FFFD}")
    );
}

/// The parser's own cases (kept here, not in `common/json.rs`, so they run
/// once rather than in every test crate that uses the parser).
mod cases {
    use super::json::*;

    fn num(n: f64) -> Value {
        Value::Num(n)
    }

    fn s(text: &str) -> Value {
        Value::Str(text.to_string())
    }

    #[test]
    fn scalars() {
        assert_eq!(parse("null"), Ok(Value::Null));
        assert_eq!(parse("true"), Ok(Value::Bool(true)));
        assert_eq!(parse(" false "), Ok(Value::Bool(false)));
        assert_eq!(parse("\"hi\""), Ok(s("hi")));
        assert_eq!(parse("\"\""), Ok(s("")));
    }

    #[test]
    fn numbers() {
        let cases = [
            ("0", 0.0),
            ("-0", -0.0),
            ("7", 7.0),
            ("-12.25", -12.25),
            ("1.5e3", 1500.0),
            ("1E-2", 0.01),
            ("2e+2", 200.0),
            ("0.5", 0.5),
            ("9007199254740993", 9007199254740992.0),
            ("1e300", 1e300),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text), Ok(num(expected)), "{text}");
        }
    }

    #[test]
    fn nested_values_and_accessors() {
        let text = " {\"jobs\" : [ {\"id\":1,\"name\":\"wc\"} , {\"id\":2} ],\n\t\"ok\":true,\r\"none\":null,\"e\":{},\"a\":[]} ";
        let v = parse(text).unwrap();
        assert_eq!(v.get("ok"), Some(&Value::Bool(true)));
        assert_eq!(v.get("ok").and_then(Value::as_bool), Some(true));
        assert_eq!(v.get("none"), Some(&Value::Null));
        assert_eq!(v.get("e"), Some(&Value::Obj(vec![])));
        assert_eq!(v.get("a").and_then(Value::as_array), Some(&[][..]));
        let jobs = v.get("jobs").unwrap();
        assert_eq!(jobs.as_array().map(<[Value]>::len), Some(2));
        assert_eq!(
            jobs.at(0).and_then(|j| j.get("id")).and_then(Value::as_u64),
            Some(1)
        );
        assert_eq!(
            jobs.at(0)
                .and_then(|j| j.get("name"))
                .and_then(Value::as_str),
            Some("wc")
        );
        assert_eq!(jobs.at(1).and_then(|j| j.get("name")), None);
        assert_eq!(jobs.at(2), None);
        assert_eq!(v.get("missing"), None);
        assert_eq!(v.at(0), None, "an object is not an array");
        assert_eq!(jobs.get("id"), None, "an array is not an object");
    }

    #[test]
    fn duplicate_keys_are_kept_and_get_finds_the_first() {
        let v = parse("{\"k\":1,\"k\":2}").unwrap();
        assert_eq!(
            v,
            Value::Obj(vec![("k".into(), num(1.0)), ("k".into(), num(2.0))])
        );
        assert_eq!(v.get("k").and_then(Value::as_u64), Some(1));
    }

    #[test]
    fn as_u64_only_for_exact_whole_numbers() {
        assert_eq!(num(3.0).as_u64(), Some(3));
        assert_eq!(num(0.0).as_u64(), Some(0));
        assert_eq!(num(9007199254740992.0).as_u64(), Some(1 << 53));
        assert_eq!(num(18014398509481984.0).as_u64(), None);
        assert_eq!(num(-1.0).as_u64(), None);
        assert_eq!(num(1.5).as_u64(), None);
        assert_eq!(s("3").as_u64(), None);
        assert_eq!(Value::Null.as_str(), None);
        assert_eq!(num(2.5).as_f64(), Some(2.5));
    }

    #[test]
    fn string_escapes() {
        assert_eq!(
            parse(r#""\" \\ \/ \b \f \n \r \t""#),
            Ok(s("\" \\ / \u{08} \u{0C} \n \r \t"))
        );
        assert_eq!(parse(r#""caf\u00e9 \u00E9 \u0000""#), Ok(s("café é \0")));
        assert_eq!(parse(r#""\ud83e\udd80""#), Ok(s("🦀")));
        assert_eq!(parse(r#""\uD83E\uDD80!""#), Ok(s("🦀!")));
        assert_eq!(parse("\"raw é 漢 🦀 \u{7f}\""), Ok(s("raw é 漢 🦀 \u{7f}")));
    }

    #[test]
    fn rejects_what_json_forbids() {
        let bad = [
            "",
            "   ",
            "01",
            "-01",
            "00",
            "-",
            "1.",
            ".5",
            "1e",
            "1e+",
            "+1",
            "0x10",
            "1e400",
            "-1e400",
            "NaN",
            "Infinity",
            "[1,]",
            "[,1]",
            "[1 2]",
            "{\"a\":1,}",
            "{,}",
            "{'a':1}",
            "'x'",
            "{\"a\" 1}",
            "{\"a\":}",
            "{1:2}",
            "{a:1}",
            "\"a\nb\"",
            "\"\t\"",
            "\"\u{1}\"",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\u12G4\"",
            "\"\\u+123\"",
            "\"\\ud83e\"",
            "\"\\ud83ex\"",
            "\"\\ud83e\\u0041\"",
            "\"\\udd80\"",
            "\"abc",
            "\"\\",
            "[",
            "{",
            "[1",
            "{\"a\":1",
            "tru",
            "nul",
            "True",
            "[1]x",
            "[1] [2]",
            "1 2",
            "\u{FEFF}1",
            "\u{A0}1",
        ];
        for text in bad {
            assert!(parse(text).is_err(), "{text:?} parsed as {:?}", parse(text));
        }
    }

    #[test]
    fn errors_name_the_byte_offset() {
        assert_eq!(
            parse("[1,]"),
            Err("at byte 3: unexpected ']', expected a value".to_string())
        );
        assert!(parse("{\"a\":1,}").unwrap_err().starts_with("at byte 7:"));
        assert!(parse("01").unwrap_err().starts_with("at byte 1:"));
        assert!(parse("[1] x").unwrap_err().starts_with("at byte 4:"));
        assert!(parse("\"ab\ncd\"").unwrap_err().starts_with("at byte 3:"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
        let too_deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(parse(&too_deep).unwrap_err().contains("nesting"));
        let hostile = "[{\"a\":".repeat(100_000);
        assert!(parse(&hostile).is_err());
    }
}
