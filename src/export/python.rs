//! Expressions as Python: a record expression (or a constant argument) of
//! the job language, written as the Python expression that computes the
//! same value with the runtime's functions (`prelude.py`).
//!
//! Idea: translate by the value's static type, as a compiler picks an
//! instruction. Where Python's own operator computes exactly what the job
//! language does, it is used (`a == b` on two strings is a byte comparison,
//! `0.85 * num(v)` multiplies floats as IEEE does); everywhere else a
//! function of the runtime named after the job's own (`contains`, `split`,
//! `before`), or after the rule it keeps (`add` checks 64-bit overflow,
//! `div` divides integers toward zero), so the Python reads like the job and
//! computes what Mini-Spark computes, byte for byte.

use crate::job::syntax::{first_span, Arg, Syn, SynKind};
use crate::job::{BinOp, JobError, UnOp};

/// What a value is known to be before the program runs, as far as the
/// translation needs (the job language's own `Ty`, `job/expr/tree.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ty {
    Str,
    Int,
    Float,
    Bool,
    List,
    /// An int or a float, depending on the record.
    Num,
    /// Known only per record.
    Any,
}

/// Python code, how tightly it binds (`prec`, see `PREC_*`), and its type.
#[derive(Debug, Clone)]
pub(super) struct Py {
    pub(super) code: String,
    pub(super) prec: u8,
    pub(super) ty: Ty,
}

/// Python's precedence levels, loosest first.
const PREC_IF: u8 = 1;
const PREC_OR: u8 = 2;
const PREC_AND: u8 = 3;
const PREC_NOT: u8 = 4;
const PREC_COMPARE: u8 = 5;
const PREC_SUM: u8 = 6;
const PREC_PRODUCT: u8 = 7;
const PREC_UNARY: u8 = 8;
pub(super) const PREC_ATOM: u8 = 9;

impl Py {
    pub(super) fn atom(code: impl Into<String>, ty: Ty) -> Py {
        Py {
            code: code.into(),
            prec: PREC_ATOM,
            ty,
        }
    }

    /// The code, in parentheses unless it binds at least as tightly as `min`.
    fn at(&self, min: u8) -> String {
        if self.prec < min {
            format!("({})", self.code)
        } else {
            self.code.clone()
        }
    }

    /// The value as record bytes (`text`), a literal's at once.
    pub(super) fn text(&self) -> String {
        if self.ty == Ty::Str {
            return self.code.clone();
        }
        // A literal prints as it is written (`1.0`, `-2.5`, `1e16`: Rust's
        // `{:?}`, which is how the job language prints a float).
        let literal = |extra: &[u8]| {
            self.code
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'-' || extra.contains(&b))
        };
        if (self.ty == Ty::Int && literal(b"")) || (self.ty == Ty::Float && literal(b".e")) {
            return format!("b\"{}\"", self.code);
        }
        format!("text({})", self.code)
    }

    /// The value as `true`/`false`, checked where it may be something else.
    pub(super) fn truth(&self) -> String {
        match self.ty {
            Ty::Bool => self.code.clone(),
            _ => format!("truth({})", self.code),
        }
    }

    /// The value as a number, read from text where it may be text.
    fn num(&self) -> String {
        match self.ty {
            Ty::Int | Ty::Float | Ty::Num => self.code.clone(),
            _ => format!("num({})", self.code),
        }
    }
}

/// How the fields `$1`, `$2`, ... of a record are found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Fields {
    /// Runs of whitespace (a plain line).
    Space,
    /// Exactly one tab each (a pair's `key<TAB>value`).
    Tab,
    /// A `read_csv`'s separator (Python code), with RFC 4180 quotes when
    /// `quotes` is `Some("True")`, none with `Some("False")`, or as the
    /// Python flag says.
    Csv { sep: String, quotes: String },
}

/// What an expression is computed against.
pub(super) struct Scope {
    /// The record: `None` for a constant argument.
    pub(super) record: Option<Record>,
    pub(super) fields: Fields,
    /// What `input_file()` is: Python code, `b""` when the records no longer
    /// know their file.
    pub(super) file: String,
    /// The lambda's parameter when the records carry their file (`fr`),
    /// which `$name` looks its column up by.
    pub(super) carried: Option<String>,
}

/// How a record is named in a lambda.
#[derive(Debug, Clone)]
pub(super) enum Record {
    /// A plain line, `bytes`: the code of `$0`.
    Line(String),
    /// A pair, `(key, value)`: the code of the tuple.
    Pair(String),
}

impl Record {
    /// The code of `$0`.
    pub(super) fn line(&self) -> String {
        match self {
            Record::Line(code) => code.clone(),
            Record::Pair(code) => format!("line({code})"),
        }
    }
}

/// Translates the expression `syn`.
///
/// # Errors
/// A column named by its header (`$age`), which the export does not
/// translate; everything else `Job::parse` has already checked.
pub(super) fn expr(syn: &Syn, scope: &Scope) -> Result<Py, JobError> {
    match &syn.kind {
        SynKind::Str(s) => Ok(Py::atom(bytes_literal(s.as_bytes()), Ty::Str)),
        SynKind::Int(n) => Ok(Py::atom(n.to_string(), Ty::Int)),
        SynKind::Float(x) => Ok(Py::atom(float_literal(*x), Ty::Float)),
        SynKind::Bool(b) => Ok(Py::atom(if *b { "True" } else { "False" }, Ty::Bool)),
        SynKind::Name(name) => Ok(Py::atom(param(name), Ty::Str)),
        SynKind::Field(n) => Ok(Py::atom(field(scope, syn, &n.to_string())?, Ty::Str)),
        SynKind::FieldOf(index) => {
            let n = expr(index, scope)?;
            let number = format!("field_number({})", n.code);
            Ok(Py::atom(field(scope, syn, &number)?, Ty::Str))
        }
        SynKind::Key | SynKind::Value => {
            let Some(Record::Pair(pair)) = &scope.record else {
                return Err(JobError::at(syn.span, "`$key` and `$value` need key-value pairs"));
            };
            let i = if syn.kind == SynKind::Key { 0 } else { 1 };
            Ok(Py::atom(format!("{pair}[{i}]"), Ty::Str))
        }
        SynKind::Column(name) => match &scope.carried {
            // The file's header says where the column is (`column`).
            Some(var) => Ok(Py::atom(
                format!("column({var}, {})", bytes_literal(name.as_bytes())),
                Ty::Str,
            )),
            None => Err(JobError::at(
                syn.span,
                format!("`${name}` names a column of a CSV header, and these records no longer know their file"),
            )),
        },
        SynKind::Call { name, args } => call(syn, name, args, scope),
        SynKind::Method { name, .. } => Err(JobError::at(
            syn.span,
            format!("`.{name}(...)` is a dataset operator, not a value"),
        )),
        SynKind::Unary(UnOp::Not, operand) => {
            let a = expr(operand, scope)?;
            let code = match a.ty {
                Ty::Bool => format!("not {}", a.at(PREC_NOT)),
                _ => format!("not {}", a.truth()),
            };
            Ok(Py {
                code,
                prec: PREC_NOT,
                ty: Ty::Bool,
            })
        }
        SynKind::Unary(UnOp::Neg, operand) => {
            let a = expr(operand, scope)?;
            Ok(match a.ty {
                // A literal's sign is part of it; a float's negation is exact.
                Ty::Int if a.prec == PREC_ATOM && a.code.bytes().all(|b| b.is_ascii_digit()) => {
                    Py {
                        code: format!("-{}", a.code),
                        prec: PREC_UNARY,
                        ty: Ty::Int,
                    }
                }
                Ty::Float => Py {
                    code: format!("-{}", a.at(PREC_UNARY)),
                    prec: PREC_UNARY,
                    ty: Ty::Float,
                },
                ty => Py::atom(
                    format!("neg({})", a.code),
                    if ty == Ty::Int { Ty::Int } else { Ty::Num },
                ),
            })
        }
        SynKind::Binary(op, lhs, rhs) => binary(*op, lhs, rhs, scope),
        SynKind::Index(list, index) => {
            let l = expr(list, scope)?;
            let i = expr(index, scope)?;
            Ok(Py::atom(format!("item({}, {})", l.code, i.code), Ty::Any))
        }
    }
}

/// `$n` (`number` is Python code) of the scope's record.
fn field(scope: &Scope, syn: &Syn, number: &str) -> Result<String, JobError> {
    let Some(record) = &scope.record else {
        return Err(JobError::at(
            syn.span,
            "a field cannot be used in a constant",
        ));
    };
    if number == "0" {
        return Ok(record.line());
    }
    Ok(match (&scope.fields, record) {
        (Fields::Tab, Record::Pair(pair)) => format!("pair_field({pair}, {number})"),
        (Fields::Tab, record) => format!("field_sep({}, {number}, b\"\\t\")", record.line()),
        (Fields::Space, record) => format!("field({}, {number})", record.line()),
        (Fields::Csv { sep, quotes }, record) => match quotes.as_str() {
            "True" => format!("csv_field({}, {number}, {sep})", record.line()),
            "False" => format!("field_sep({}, {number}, {sep})", record.line()),
            q => format!("csv_field({}, {number}, {sep}, quotes={q})", record.line()),
        },
    })
}

/// A call of one of the job language's functions.
fn call(syn: &Syn, name: &str, args: &[Arg], scope: &Scope) -> Result<Py, JobError> {
    let mut values = Vec::with_capacity(args.len());
    if name == "if" {
        let [cond, then, other] = args else {
            return Err(JobError::at(syn.span, "`if` takes 3 arguments"));
        };
        let c = expr(&cond.value, scope)?;
        let a = expr(&then.value, scope)?;
        let b = expr(&other.value, scope)?;
        let ty = match (a.ty, b.ty) {
            (x, y) if x == y => x,
            (Ty::Int | Ty::Float | Ty::Num, Ty::Int | Ty::Float | Ty::Num) => Ty::Num,
            _ => Ty::Any,
        };
        let cond = match c.ty {
            Ty::Bool => c.at(PREC_OR),
            _ => c.truth(),
        };
        return Ok(Py {
            code: format!("{} if {cond} else {}", a.at(PREC_OR), b.at(PREC_IF)),
            prec: PREC_IF,
            ty,
        });
    }
    if name == "input_file" {
        return Ok(Py::atom(scope.file.clone(), Ty::Str));
    }
    for arg in args {
        values.push(expr(&arg.value, scope)?);
    }
    let arg_ty = |i: usize| values.get(i).map_or(Ty::Any, |v: &Py| v.ty);
    let (function, ty) = match name {
        "contains" | "starts_with" | "ends_with" => (name, Ty::Bool),
        "lower" | "upper" | "trim" | "substr" | "concat" | "replace" | "before" | "after"
        | "basename" => (name, Ty::Str),
        "split" => (name, Ty::List),
        "len" => ("length", Ty::Int),
        "int" => ("to_int", Ty::Int),
        "float" => ("to_float", Ty::Float),
        "str" => ("text", Ty::Str),
        "abs" => (
            "absolute",
            match arg_ty(0) {
                Ty::Int => Ty::Int,
                Ty::Float => Ty::Float,
                _ => Ty::Num,
            },
        ),
        "round" => (
            "rounded",
            match (values.len(), arg_ty(0)) {
                (1, _) | (_, Ty::Int) => Ty::Int,
                (_, Ty::Float) => Ty::Float,
                _ => Ty::Num,
            },
        ),
        other => {
            return Err(JobError::at(
                syn.span,
                format!("unknown function `{other}`"),
            ))
        }
    };
    // `str` of a string is the string; of a literal, its text.
    if name == "str" && values.len() == 1 {
        return Ok(Py::atom(values[0].text(), Ty::Str));
    }
    let list: Vec<String> = values.iter().map(|v| v.code.clone()).collect();
    Ok(Py::atom(format!("{function}({})", list.join(", ")), ty))
}

/// A binary operator.
fn binary(op: BinOp, lhs: &Syn, rhs: &Syn, scope: &Scope) -> Result<Py, JobError> {
    let a = expr(lhs, scope)?;
    let b = expr(rhs, scope)?;
    let numeric = |t: Ty| matches!(t, Ty::Int | Ty::Float | Ty::Num);
    match op {
        BinOp::And | BinOp::Or => {
            let (word, prec) = if op == BinOp::And {
                ("and", PREC_AND)
            } else {
                ("or", PREC_OR)
            };
            let side = |p: &Py, min: u8| match p.ty {
                Ty::Bool => p.at(min),
                _ => p.truth(),
            };
            Ok(Py {
                code: format!("{} {word} {}", side(&a, prec), side(&b, prec + 1)),
                prec,
                ty: Ty::Bool,
            })
        }
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            let (symbol, function) = match op {
                BinOp::Eq => ("==", "eq"),
                BinOp::Ne => ("!=", "ne"),
                BinOp::Lt => ("<", "lt"),
                BinOp::Le => ("<=", "le"),
                BinOp::Gt => (">", "gt"),
                _ => (">=", "ge"),
            };
            // Python compares two strings (bytes), two ints, two floats or
            // two booleans exactly as the job language does; an int and a
            // float it compares exactly, where Mini-Spark compares floats.
            let native = matches!(
                (a.ty, b.ty),
                (Ty::Str, Ty::Str)
                    | (Ty::Int, Ty::Int)
                    | (Ty::Float, Ty::Float)
                    | (Ty::Bool, Ty::Bool)
            );
            if native {
                return Ok(Py {
                    code: format!(
                        "{} {symbol} {}",
                        a.at(PREC_COMPARE + 1),
                        b.at(PREC_COMPARE + 1)
                    ),
                    prec: PREC_COMPARE,
                    ty: Ty::Bool,
                });
            }
            Ok(Py::atom(
                format!("{function}({}, {})", a.code, b.code),
                Ty::Bool,
            ))
        }
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
            let ty = match (a.ty, b.ty) {
                (Ty::Int, Ty::Int) => Ty::Int,
                (Ty::Float, _) | (_, Ty::Float) => Ty::Float,
                _ => Ty::Num,
            };
            let (symbol, function, prec) = match op {
                BinOp::Add => ("+", "add", PREC_SUM),
                BinOp::Sub => ("-", "sub", PREC_SUM),
                BinOp::Mul => ("*", "mul", PREC_PRODUCT),
                BinOp::Div => ("/", "div", PREC_PRODUCT),
                _ => ("%", "rem", PREC_PRODUCT),
            };
            // With a float on one side, `+ - *` are IEEE's in both
            // languages (an int converted to the nearest float first);
            // `/` and `%` differ at zero, and ints must not overflow.
            let float_op = ty == Ty::Float
                && matches!(op, BinOp::Add | BinOp::Sub | BinOp::Mul)
                && (numeric(a.ty) || numeric(b.ty) || a.ty == Ty::Float || b.ty == Ty::Float);
            if float_op {
                let side = |p: &Py, min: u8| match p.ty {
                    Ty::Int | Ty::Float | Ty::Num => p.at(min),
                    _ => p.num(),
                };
                return Ok(Py {
                    code: format!("{} {symbol} {}", side(&a, prec), side(&b, prec + 1)),
                    prec,
                    ty: Ty::Float,
                });
            }
            Ok(Py::atom(format!("{function}({}, {})", a.code, b.code), ty))
        }
    }
}

/// Translates a constant argument (a path, a command, a count): literals,
/// params and functions of them.
///
/// # Errors
/// As `expr`.
pub(super) fn constant(syn: &Syn) -> Result<Py, JobError> {
    let scope = Scope {
        record: None,
        fields: Fields::Space,
        file: "b\"\"".into(),
        carried: None,
    };
    expr(syn, &scope).map_err(|e| JobError::at(first_span(syn), e.message))
}

/// A count given by a constant (`partitions`, a loop's rounds): a literal
/// as it is, anything else checked when the program runs (`count_arg`).
pub(super) fn count(
    syn: &Syn,
    what: &str,
    least: u64,
    most: Option<u64>,
) -> Result<String, JobError> {
    if let SynKind::Int(n) = syn.kind {
        return Ok(n.to_string());
    }
    let value = constant(syn)?;
    let most = most.map_or(String::new(), |m| format!(", most={m}"));
    Ok(format!(
        "count_arg({}, {}, least={least}{most})",
        value.code,
        str_literal(what)
    ))
}

/// A flag given by a constant (`numeric`, `descending`, `header`): a
/// literal as Python's `True`/`False`, a param checked when the program runs.
pub(super) fn flag(syn: Option<&Syn>, what: &str, default: bool) -> Result<String, JobError> {
    let Some(syn) = syn else {
        return Ok(if default { "True" } else { "False" }.to_string());
    };
    if let SynKind::Bool(b) = syn.kind {
        return Ok(if b { "True" } else { "False" }.to_string());
    }
    let value = constant(syn)?;
    Ok(format!("flag_arg({}, {})", value.code, str_literal(what)))
}

/// Does the expression need the file its record was read from: does it
/// call `input_file()`, or name a column of the file's header (`$age`)?
pub(super) fn uses_file(syn: &Syn) -> bool {
    match &syn.kind {
        SynKind::Call { name, .. } if name == "input_file" => return true,
        SynKind::Column(_) => return true,
        _ => {}
    }
    syn.kind.children().any(uses_file)
}

/// The columns the expression names by a CSV header (`$age`), in order.
pub(super) fn columns<'s>(syn: &'s Syn, out: &mut Vec<&'s str>) {
    if let SynKind::Column(name) = &syn.kind {
        if !out.contains(&name.as_str()) {
            out.push(name);
        }
    }
    for child in syn.kind.children() {
        columns(child, out);
    }
}

/// The Python code of param `name`: `args.name`.
pub(super) fn param(name: &str) -> String {
    if is_keyword(name) {
        format!("getattr(args, \"{name}\")")
    } else {
        format!("args.{name}")
    }
}

/// Python's reserved words, which cannot name a variable or an attribute.
pub(super) fn is_keyword(name: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
        "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global",
        "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return",
        "try", "while", "with", "yield", "match", "case", "type",
    ];
    KEYWORDS.contains(&name)
}

/// `bytes` as a Python bytes literal: printable ASCII as it is, the rest
/// escaped.
pub(super) fn bytes_literal(bytes: &[u8]) -> String {
    let mut out = String::from("b\"");
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

/// A string as a Python `str` literal (UTF-8 kept, quotes and control
/// characters escaped).
pub(super) fn str_literal(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A float literal as Python reads it back to the same float (the job's
/// lexer makes only finite ones).
fn float_literal(x: f64) -> String {
    if x.is_finite() {
        format!("{x:?}")
    } else if x.is_nan() {
        "math.nan".to_string()
    } else if x > 0.0 {
        "math.inf".to_string()
    } else {
        "-math.inf".to_string()
    }
}
