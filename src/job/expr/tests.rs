//! Tests of the whole pipeline, parse to compile to evaluate, and the
//! helpers the tests in `compile` and `eval` share: they compile a source
//! expression as a job would and evaluate it on a record.

use std::cell::Cell;
use std::collections::BTreeMap;

use super::compile::{compile, Context, Scope};
use super::eval::RecordCtx;
use super::tree::{Expr, Ty};
use crate::job::bytes::Sep;
use crate::job::error::JobError;
use crate::job::lexer::tokenize;
use crate::job::parser::{parse, Stmt};
use crate::job::value::Value;
use crate::record::Record;
use crate::rng::Rng;

fn params() -> BTreeMap<String, String> {
    [("pattern", "err"), ("n", "3"), ("word", "abc")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `src` compiled as the value of a statement, with its static type.
fn compile_typed(src: &str, scope: Scope) -> Result<(Expr, Ty), JobError> {
    let full = format!("x = {src}");
    let stmts = parse(&full, &tokenize(&full)?)?;
    let Some(Stmt::Define { value, .. }) = stmts.first() else {
        panic!("not an expression: {src}");
    };
    let params = params();
    let cx = Context {
        source: &full,
        params: &params,
        datasets: &["lines"],
        scope,
        work: &Cell::new(0),
        columns: None,
    };
    compile(value, &cx)
}

pub(super) fn compile_in(src: &str, scope: Scope) -> Result<Expr, JobError> {
    compile_typed(src, scope).map(|(e, _)| e)
}

/// The static type `compile` gives `src` in a keyed dataset.
pub(super) fn type_of(src: &str) -> Ty {
    compile_typed(src, Scope::Record { keyed: true })
        .unwrap_or_else(|e| panic!("{src}: {e:?}"))
        .1
}

pub(super) fn compile_str(src: &str) -> Expr {
    compile_in(src, Scope::Record { keyed: true }).unwrap_or_else(|e| panic!("{src}: {e:?}"))
}

pub(super) fn eval_on(src: &str, record: &Record, sep: Option<Sep>) -> Result<Value, String> {
    let ctx = RecordCtx {
        record: record.as_ref(),
        file: "dir/part-1.txt",
        sep,
    };
    compile_str(src).eval(&ctx)
}

pub(super) fn ev(src: &str, line: &[u8]) -> Result<Value, String> {
    eval_on(src, &Record::line(line.to_vec()), None)
}

pub(super) fn s(v: &str) -> Value {
    Value::Str(v.as_bytes().to_vec())
}

pub(super) fn static_error(src: &str) -> String {
    match compile_in(src, Scope::Record { keyed: false }) {
        Ok(e) => panic!("{src} compiled: {e:?}"),
        Err(e) => format!("{}:{}: {}", e.line, e.col, e.message),
    }
}

/// Random well-formed expressions over random records: errors are fine,
/// panics are not.
#[test]
fn random_expressions_on_random_records_never_panic() {
    const ATOMS: &[&str] = &[
        "$0",
        "$1",
        "$2",
        "$7",
        "$key",
        "$value",
        "\"a\"",
        "\"\"",
        "\",\"",
        "0",
        "1",
        "-1",
        "2.5",
        "9223372036854775807",
        "true",
        "false",
        "pattern",
        "n",
        "input_file()",
        "$(n)",
        "$(1 - 2)",
    ];
    const UNARY: &[&str] = &[
        "lower", "upper", "trim", "split", "len", "int", "float", "str", "basename", "abs",
        "round", "-", "not ",
    ];
    const BINARY: &[&str] = &[
        "+",
        "-",
        "*",
        "/",
        "%",
        "==",
        "!=",
        "<",
        ">=",
        "and",
        "or",
        "contains",
        "starts_with",
        "ends_with",
        "split",
        "substr",
        "concat",
        "before",
        "after",
        "round",
        "[]",
        "if",
    ];
    fn gen(rng: &mut Rng, depth: u32) -> String {
        if depth == 0 || rng.below(3) == 0 {
            return ATOMS[rng.below(ATOMS.len() as u64) as usize].to_string();
        }
        if rng.below(3) == 0 {
            let f = UNARY[rng.below(UNARY.len() as u64) as usize];
            return format!("{f}({})", gen(rng, depth - 1));
        }
        let op = BINARY[rng.below(BINARY.len() as u64) as usize];
        let (a, b) = (gen(rng, depth - 1), gen(rng, depth - 1));
        match op {
            "[]" => format!("split({a})[{b}]"),
            "if" => {
                let c = gen(rng, depth - 1);
                match rng.below(2) {
                    0 => format!("if({a}, {b}, {c})"),
                    _ => format!("if(({a}) == ({b}), {c}, {})", gen(rng, depth - 1)),
                }
            }
            "substr" if rng.below(2) == 0 => {
                format!("substr({a}, {b}, {})", gen(rng, depth - 1))
            }
            c if c.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                && c != "and"
                && c != "or" =>
            {
                format!("{c}({a}, {b})")
            }
            _ => format!("({a}) {op} ({b})"),
        }
    }
    let mut rng = Rng::new(42);
    let mut compiled = 0;
    for _ in 0..3000 {
        let src = gen(&mut rng, 4);
        let Ok(expr) = compile_in(&src, Scope::Record { keyed: true }) else {
            continue;
        };
        compiled += 1;
        for _ in 0..5 {
            let len = rng.below(24) as usize;
            let alphabet = b"ab 1-.9\t,\xff\xc3e";
            let bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                .collect();
            let record = if rng.below(2) == 0 {
                Record::line(bytes)
            } else {
                Record::pair(bytes.clone(), bytes.into_iter().rev().collect::<Vec<u8>>())
            };
            let seps = [None, Some(&b","[..]), Some(b"a"), Some(b"a,")];
            let sep = seps[rng.below(4) as usize].map(|bytes| Sep {
                bytes,
                quotes: rng.below(2) == 0,
            });
            let ctx = RecordCtx {
                record: record.as_ref(),
                file: "x/y",
                sep,
            };
            if let Ok(v) = expr.eval(&ctx) {
                let bytes = expr.with_bytes(&ctx, |b| Ok(b.to_vec()));
                assert_eq!(bytes, Ok(v.into_bytes()), "with_bytes of {src}");
            }
            let _ = expr.eval_bool(&ctx);
        }
    }
    assert!(compiled > 500, "only {compiled} expressions compiled");
}

/// `with_bytes` takes a shorter way for pieces of the record and their
/// `concat` (`piece` in eval.rs): the same bytes as `eval`, on lines and
/// pairs, with and without quotes, for fields that are there and not.
#[test]
fn with_bytes_gives_the_bytes_of_eval() {
    let exprs = [
        "$0",
        "$1",
        "$3",
        "$9",
        "$key",
        "$value",
        "\"x\"",
        "concat($1, \"\\t\", $3)",
        "concat($2, $key, $0, $9, \"\")",
        "concat($1)",
        "concat($1, 1, 2.5)",
        "concat(lower($1), $2)",
        "before($0, \"\\t\")",
        "after($0, \"\\t\")",
        "before($2, \",\")",
        "after($key, \"\")",
        "before($0, \"\")",
        "after($value, \"v\")",
        "concat(before($0, \",\"), \"|\", after($0, \",\"))",
        "before(after($0, \",\"), \",\")",
        "before(12, \"\")",
        // Past `with_bytes`' stack buffer of 128 bytes: on the heap.
        "concat($0, $0, $0, $0, $0, $0, $0, $0, $0, $0, $0, $0)",
        "concat($0, \"-\", $0)",
    ];
    let long = [b'x'; 100];
    let lines: [&[u8]; 7] = [
        b"",
        b"a,b,c",
        b"1,\"x,y\",3",
        b"  two  words ",
        b"k\tv1\tv2",
        b",,\xff,",
        &long,
    ];
    let seps = [
        None,
        Some(Sep {
            bytes: b",",
            quotes: true,
        }),
        Some(Sep {
            bytes: b",",
            quotes: false,
        }),
        Some(Sep {
            bytes: b"\t",
            quotes: false,
        }),
    ];
    for src in exprs {
        let expr = compile_str(src);
        for line in lines {
            let records = [
                Record::line(line.to_vec()),
                Record::pair(&b"k,1"[..], line),
                Record::pair(&b"k\t1"[..], line),
            ];
            for record in records {
                for sep in seps {
                    let ctx = RecordCtx {
                        record: record.as_ref(),
                        file: "f",
                        sep,
                    };
                    let want = expr.eval(&ctx).map(Value::into_bytes);
                    let got = expr.with_bytes(&ctx, |b| Ok(b.to_vec()));
                    assert_eq!(got, want, "{src} on {record:?} with {sep:?}");
                }
            }
        }
    }
}
