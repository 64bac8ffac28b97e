//! Evaluation of an `Expr` against one record (`RecordCtx`).
//!
//! This is the per-record hot path, so it is written not to copy: `$0`,
//! fields, constants and `trim`/`substr`/`split` results borrow from the
//! record or the tree (`Val` holds `Cow`s); `contains($0, "x")` allocates
//! nothing, and `$0` of a pair (key, tab, value) is joined only if the
//! expression needs it.
//! Runtime errors name the offending value and show the text of the
//! smallest expression that failed: ``cannot use "abc" as a number in `$3 + 1` ``.
//!
//! `concat` and `replace` can make a string far longer than the text that
//! asks for it, so a string they make from a record is capped at
//! `MAX_VALUE_BYTES`. `compile` folds constants with this same code, under
//! `MAX_CONSTANT_BYTES` instead (`Env::constant`).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::ops::Range;

use super::compile::MAX_CONSTANT_BYTES;
use super::tree::{BinOp, Expr, Func, Kind, Node, UnOp};
use crate::job::bytes::{self, Sep, PAIR_SEP};
use crate::job::csv;
use crate::job::value::{round_float, round_int, Num, Val, Value};
use crate::record::RecordRef;

/// Longest string an expression may compute from a record (64 MiB).
const MAX_VALUE_BYTES: usize = 64 * 1024 * 1024;

/// What an expression is evaluated against.
#[derive(Debug, Clone, Copy)]
pub struct RecordCtx<'a> {
    pub record: RecordRef<'a>,
    /// The file the record was read from (`input_file()`), or "".
    pub file: &'a str,
    /// The field separator (`job::sep_of`); `None` means runs of whitespace.
    pub sep: Option<Sep<'a>>,
}

impl Expr {
    /// Evaluates the expression against one record.
    ///
    /// # Errors
    /// A message naming the value that could not be used and showing the
    /// expression text, e.g. ``cannot use "abc" as a number in `$3 + 1` ``.
    pub fn eval(&self, ctx: &RecordCtx) -> Result<Value, String> {
        let env = Env::new(self, ctx);
        eval(&self.root, &env).map(Val::into_value)
    }

    /// Evaluates a condition (a `filter` predicate) without building a
    /// `Value`.
    ///
    /// # Errors
    /// As `eval`, and when the result is not `true` or `false`.
    pub fn eval_bool(&self, ctx: &RecordCtx) -> Result<bool, String> {
        let env = Env::new(self, ctx);
        match eval(&self.root, &env)? {
            Val::Bool(b) => Ok(b),
            other => Err(format!(
                "the condition `{}` gave {}, not true or false",
                self.text,
                other.describe()
            )),
        }
    }

    /// Evaluates to what `flat_map` makes records of, handing `each` the
    /// bytes of every element of a list in turn (or of the one value).
    /// Elements are borrowed from the record where they can be, not copied.
    ///
    /// # Errors
    /// As `eval`, or the first error `each` returns.
    pub fn for_each_item(
        &self,
        ctx: &RecordCtx,
        mut each: impl FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<(), String> {
        // `flat_map(split(s))`, the usual one: each word goes to `each` as
        // a slice of `s` as it is found, with no list built and freed per
        // record, and `s` itself borrowed from the record when it is a
        // piece of it (`$0`). The same pieces as `split` makes (`call`).
        if let Kind::Call(Func::Split, args) = &self.root.kind {
            if let [text] = &args[..] {
                let mut words = |s: &[u8]| {
                    bytes::whitespace_fields(s).try_for_each(|r| each(s.get(r).unwrap_or(&[])))
                };
                if let Some(s) = piece(text, ctx) {
                    return words(s);
                }
                let env = Env::new(self, ctx);
                let s = eval(text, &env)?.into_bytes();
                return words(&s);
            }
        }
        let env = Env::new(self, ctx);
        match eval(&self.root, &env)? {
            Val::List(items) => items.into_iter().try_for_each(|v| each(&v.into_bytes())),
            other => each(&other.into_bytes()),
        }
    }

    /// Evaluates to what a two-argument `flat_map` makes pairs of, handing
    /// `each` a key and a value for every element: `self` gives the keys
    /// (the elements of a list, or the one value), `value` the value of
    /// every pair, computed once, and only when there is a key (`constant`:
    /// its bytes, when they need no record). Keys and value are borrowed
    /// from the record where they can be, not copied.
    ///
    /// # Errors
    /// As `eval`, or the first error `each` returns.
    pub fn for_each_pair(
        &self,
        value: &Expr,
        constant: Option<&[u8]>,
        ctx: &RecordCtx,
        mut each: impl FnMut(&[u8], &[u8]) -> Result<(), String>,
    ) -> Result<(), String> {
        let env = Env::new(self, ctx);
        let with_value = |f: &mut dyn FnMut(&[u8]) -> Result<(), String>| match constant {
            Some(bytes) => f(bytes),
            None => value.with_bytes(ctx, f),
        };
        match eval(&self.root, &env)? {
            Val::List(keys) if keys.is_empty() => Ok(()),
            Val::List(keys) => {
                with_value(&mut |v| keys.iter().try_for_each(|key| each(&key_bytes(key), v)))
            }
            key => {
                let key = key.into_bytes();
                with_value(&mut |v| each(&key, v))
            }
        }
    }

    /// Evaluates to record bytes and hands them to `f`, borrowed from the
    /// record where they can be (`$0`, a field), so nothing is copied.
    ///
    /// # Errors
    /// As `eval`.
    pub fn with_bytes<R>(
        &self,
        ctx: &RecordCtx,
        f: impl FnOnce(&[u8]) -> Result<R, String>,
    ) -> Result<R, String> {
        // Expressions that only pick pieces of the record and join them
        // (`$2`, `concat($1, "\t", $3)`) skip the `Env` and the `Val`s:
        // the same bytes as `eval` gives, a fifth of the time (README).
        if let Some(bytes) = piece(&self.root, ctx) {
            return f(bytes);
        }
        if let Kind::Call(Func::Concat, args) = &self.root.kind {
            // The usual short result is built on the stack, with no
            // allocation to make and free per record; a longer one in a
            // `Vec`.
            let mut stack = [0u8; CONCAT_STACK_BYTES];
            let mut len = 0;
            let mut heap: Option<Vec<u8>> = None;
            let all = args.iter().all(|arg| match piece(arg, ctx) {
                Some(bytes) => {
                    match &mut heap {
                        Some(out) => out.extend_from_slice(bytes),
                        None if len + bytes.len() <= CONCAT_STACK_BYTES => {
                            stack[len..len + bytes.len()].copy_from_slice(bytes);
                            len += bytes.len();
                        }
                        None => heap = Some([&stack[..len], bytes].concat()),
                    }
                    true
                }
                None => false,
            });
            let out = heap.as_deref().unwrap_or(&stack[..len]);
            // Past the limit, `eval` makes the error.
            if all && out.len() <= MAX_VALUE_BYTES {
                return f(out);
            }
        }
        let env = Env::new(self, ctx);
        f(&eval(&self.root, &env)?.into_bytes())
    }
}

/// Bytes `concat` reserves before it knows how long its result is: room
/// for the usual short result, so that building it takes one allocation,
/// not one per doubling.
const CONCAT_CAPACITY: usize = 64;

/// The longest result of a `concat` of pieces that `with_bytes` builds on
/// the stack: room for the usual short one.
const CONCAT_STACK_BYTES: usize = 128;

/// The bytes of a node that is a piece of the record, found without an
/// `Env`: `$0` of a line, `$key`, `$value`, `$n` of a line without quotes
/// or of a pair split on tabs, a string constant, or `before` / `after`
/// of two pieces. `None` for any other node.
fn piece<'a>(node: &'a Node, ctx: &RecordCtx<'a>) -> Option<&'a [u8]> {
    match (&node.kind, ctx.record.key) {
        (Kind::Line, None) | (Kind::RecordValue, _) => Some(ctx.record.value),
        (Kind::RecordKey, Some(key)) => Some(key),
        (Kind::Field(n @ 1..), None) if !ctx.sep.is_some_and(|s| s.quotes) => {
            let line = ctx.record.value;
            Some(&line[bytes::field(line, *n as usize, ctx.sep.map(|s| s.bytes))])
        }
        // A pair split on tabs whose key holds none: `$1` is the key, `$n`
        // the value's field n - 1 (as `Env::split_pair` reads them).
        (Kind::Field(n @ 1..), Some(key)) if ctx.sep == Some(PAIR_SEP) && !key.contains(&b'\t') => {
            let value = ctx.record.value;
            Some(match n {
                1 => key,
                _ => &value[bytes::field(value, *n as usize - 1, Some(PAIR_SEP.bytes))],
            })
        }
        (Kind::Const(Value::Str(s)), _) => Some(s),
        // `before(s, sep)` and `after(s, sep)` of pieces are pieces of `s`
        // (`sort.job`'s `before($0, "\t")`), as `call` cuts them.
        (Kind::Call(func @ (Func::Before | Func::After), args), _) => {
            let [s, sep] = &args[..] else {
                return None;
            };
            let (s, sep) = (piece(s, ctx)?, piece(sep, ctx)?);
            let found = bytes::find(s, sep);
            Some(match func {
                Func::Before => &s[..found.unwrap_or(s.len())],
                _ => &s[found.map_or(s.len(), |at| at + sep.len())..],
            })
        }
        _ => None,
    }
}

/// What one evaluation reads.
pub(super) struct Env<'a> {
    record: RecordRef<'a>,
    file: &'a str,
    sep: Option<Sep<'a>>,
    /// `$0`, built once per evaluation, and only if the expression uses it.
    line: Cow<'a, [u8]>,
    /// The record is a pair split on tabs and its key holds no tab: `$1` is
    /// the key and `$n` the value's field n - 1, read without building `$0`.
    split_pair: bool,
    /// The whole expression's text; nodes hold ranges into it.
    text: &'a str,
    /// Longest string `concat` or `replace` may make.
    max_bytes: usize,
}

impl<'a> Env<'a> {
    fn new(expr: &'a Expr, ctx: &RecordCtx<'a>) -> Env<'a> {
        // A key first: comparing separators compares bytes.
        let split_pair = ctx.record.key.is_some()
            && ctx.sep == Some(PAIR_SEP)
            && ctx.record.key.is_some_and(|k| !k.contains(&b'\t'));
        let line = if expr.uses_whole_line || (expr.uses_line && !split_pair) {
            ctx.record.to_line()
        } else {
            Cow::Borrowed(&[][..])
        };
        Env {
            record: ctx.record,
            file: ctx.file,
            sep: ctx.sep,
            line,
            split_pair,
            text: &expr.text,
            max_bytes: MAX_VALUE_BYTES,
        }
    }

    /// For folding a constant: no record, and the constant limit.
    pub(super) fn constant(text: &'a str) -> Env<'a> {
        Env {
            record: RecordRef::line(&[]),
            file: "",
            sep: None,
            line: Cow::Borrowed(&[]),
            split_pair: false,
            text,
            max_bytes: MAX_CONSTANT_BYTES,
        }
    }

    /// Refuses a string of `len` bytes that `func` would make, if too long.
    fn fits(&self, node: &Node, func: &str, len: usize) -> Result<(), String> {
        if len <= self.max_bytes {
            return Ok(());
        }
        let what = if self.max_bytes == MAX_CONSTANT_BYTES {
            "a constant"
        } else {
            "a value"
        };
        Err(self.fail(
            node,
            format_args!(
                "`{func}` would make {what} longer than {} bytes (the limit)",
                self.max_bytes
            ),
        ))
    }

    /// `message in `node text``.
    fn fail(&self, node: &Node, message: impl std::fmt::Display) -> String {
        let range = node.start as usize..node.end as usize;
        let shown = self.text.get(range).unwrap_or(self.text);
        format!("{message} in `{shown}`")
    }

    fn number(&self, node: &Node, v: &Val) -> Result<Num, String> {
        v.to_num().ok_or_else(|| {
            self.fail(
                node,
                format_args!("cannot use {} as a number", v.describe()),
            )
        })
    }

    /// A whole number: an integer, or a float without a fraction.
    fn whole(&self, node: &Node, v: &Val) -> Result<i64, String> {
        match self.number(node, v)? {
            Num::Int(i) => Ok(i),
            Num::Float(f) => float_to_int(f).filter(|i| *i as f64 == f).ok_or_else(|| {
                self.fail(node, format_args!("{} is not a whole number", v.describe()))
            }),
        }
    }

    fn boolean(&self, node: &Node, v: &Val, user: &str) -> Result<bool, String> {
        match v {
            Val::Bool(b) => Ok(*b),
            other => Err(self.fail(
                node,
                format_args!("{user} needs true or false, got {}", other.describe()),
            )),
        }
    }
}

/// A list element's bytes: a string's borrowed, copying nothing.
fn key_bytes<'v>(key: &'v Val<'_>) -> Cow<'v, [u8]> {
    match key {
        Val::Str(s) => Cow::Borrowed(s),
        other => other.clone().into_bytes(),
    }
}

/// `f` truncated toward zero, if it fits in an `i64`.
fn float_to_int(f: f64) -> Option<i64> {
    // 2^63 is exactly representable; every float below it fits.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (f.is_finite() && f.trunc() >= -LIMIT && f.trunc() < LIMIT).then(|| f.trunc() as i64)
}

/// A sub-slice of a string, borrowing when the string borrows.
fn slice(s: Cow<'_, [u8]>, range: Range<usize>) -> Cow<'_, [u8]> {
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(b.get(range).unwrap_or(&[])),
        Cow::Owned(v) => Cow::Owned(v.get(range).unwrap_or(&[]).to_vec()),
    }
}

/// The pieces of a string as a list, borrowing when the string borrows.
fn pieces<'e>(s: Cow<'e, [u8]>, ranges: impl Iterator<Item = Range<usize>>) -> Val<'e> {
    let items = match s {
        Cow::Borrowed(b) => ranges
            .map(|r| Val::Str(Cow::Borrowed(b.get(r).unwrap_or(&[]))))
            .collect(),
        Cow::Owned(v) => ranges
            .map(|r| Val::Str(Cow::Owned(v.get(r).unwrap_or(&[]).to_vec())))
            .collect(),
    };
    Val::List(items)
}

pub(super) fn eval<'e>(node: &'e Node, env: &'e Env<'_>) -> Result<Val<'e>, String> {
    match &node.kind {
        Kind::Const(v) => Ok(Val::from_value(v)),
        Kind::Line => Ok(Val::Str(Cow::Borrowed(&env.line))),
        Kind::Field(n) => Ok(field(env, *n as usize)),
        // Bound before a task's first record (`Expr::bind_columns`).
        Kind::Column(_) => Err(env.fail(node, "no header gives this column a place")),
        Kind::FieldOf(index) => {
            let v = eval(index, env)?;
            let n = env.whole(node, &v)?;
            let n = usize::try_from(n)
                .map_err(|_| env.fail(node, format_args!("field number {n} is negative")))?;
            Ok(field(env, n))
        }
        Kind::RecordKey => match env.record.key {
            Some(k) => Ok(Val::Str(Cow::Borrowed(k))),
            None => Err(env.fail(node, "this record is not a key-value pair")),
        },
        Kind::RecordValue => Ok(Val::Str(Cow::Borrowed(env.record.value))),
        Kind::InputFile => Ok(Val::Str(Cow::Borrowed(env.file.as_bytes()))),
        Kind::Call(func, args) => call(*func, args, node, env),
        Kind::Unary(UnOp::Not, operand) => {
            let v = eval(operand, env)?;
            Ok(Val::Bool(!env.boolean(node, &v, "`not`")?))
        }
        Kind::Unary(UnOp::Neg, operand) => {
            let v = eval(operand, env)?;
            match env.number(node, &v)? {
                Num::Int(i) => i
                    .checked_neg()
                    .map(Val::Int)
                    .ok_or_else(|| env.fail(node, "integer overflow")),
                Num::Float(f) => Ok(Val::Float(-f)),
            }
        }
        Kind::Binary(op @ (BinOp::And | BinOp::Or), lhs, rhs) => {
            let user = if *op == BinOp::And { "`and`" } else { "`or`" };
            let a = env.boolean(node, &eval(lhs, env)?, user)?;
            // Short-circuit: the right side is not evaluated when `a` decides.
            if a == (*op == BinOp::Or) {
                return Ok(Val::Bool(a));
            }
            Ok(Val::Bool(env.boolean(node, &eval(rhs, env)?, user)?))
        }
        Kind::Binary(op, lhs, rhs) => {
            let a = eval(lhs, env)?;
            let b = eval(rhs, env)?;
            binary(*op, a, b, node, env)
        }
        Kind::Index(list, index) => {
            let list_value = eval(list, env)?;
            let i = env.whole(node, &eval(index, env)?)?;
            let Val::List(items) = list_value else {
                return Err(env.fail(
                    node,
                    format_args!("cannot index {}: it is not a list", list_value.describe()),
                ));
            };
            let item = usize::try_from(i)
                .ok()
                .and_then(|i| items.into_iter().nth(i));
            Ok(item.unwrap_or(Val::Str(Cow::Borrowed(&[]))))
        }
    }
}

/// Field `n` of `$0` (0 is `$0` itself).
fn field<'e>(env: &'e Env<'_>, n: usize) -> Val<'e> {
    if n == 0 {
        return Val::Str(Cow::Borrowed(&env.line));
    }
    let sep = match env.sep {
        Some(Sep {
            bytes,
            quotes: true,
        }) => return Val::Str(csv::field(&env.line, n, bytes)),
        sep => sep.map(|s| s.bytes),
    };
    if env.split_pair {
        let value = env.record.value;
        return match (n, env.record.key) {
            (1, Some(key)) => Val::Str(Cow::Borrowed(key)),
            _ => Val::Str(Cow::Borrowed(&value[bytes::field(value, n - 1, sep)])),
        };
    }
    let range = bytes::field(&env.line, n, sep);
    Val::Str(Cow::Borrowed(&env.line[range]))
}

fn binary<'e>(
    op: BinOp,
    a: Val<'e>,
    b: Val<'e>,
    node: &Node,
    env: &Env,
) -> Result<Val<'e>, String> {
    let ordering = match op {
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            if a.is_number() || b.is_number() {
                match (env.number(node, &a)?, env.number(node, &b)?) {
                    (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
                    (x, y) => x.as_f64().partial_cmp(&y.as_f64()),
                }
            } else {
                Some(a.into_bytes().cmp(&b.into_bytes()))
            }
        }
        _ => {
            return arithmetic(op, env.number(node, &a)?, env.number(node, &b)?)
                .map_err(|m| env.fail(node, m))
        }
    };
    use Ordering::{Equal, Greater, Less};
    let result = match op {
        BinOp::Eq => ordering == Some(Equal),
        BinOp::Ne => ordering != Some(Equal),
        BinOp::Lt => ordering == Some(Less),
        BinOp::Le => matches!(ordering, Some(Less | Equal)),
        BinOp::Gt => ordering == Some(Greater),
        _ => matches!(ordering, Some(Greater | Equal)),
    };
    Ok(Val::Bool(result))
}

/// `+ - * / %`: integers stay integers (checked), anything with a float is
/// a float (IEEE: dividing by 0.0 gives inf or NaN).
fn arithmetic<'e>(op: BinOp, a: Num, b: Num) -> Result<Val<'e>, &'static str> {
    if let (Num::Int(x), Num::Int(y)) = (a, b) {
        if y == 0 && matches!(op, BinOp::Div | BinOp::Rem) {
            return Err("integer division by zero");
        }
        let result = match op {
            BinOp::Add => x.checked_add(y),
            BinOp::Sub => x.checked_sub(y),
            BinOp::Mul => x.checked_mul(y),
            BinOp::Div => x.checked_div(y),
            _ => x.checked_rem(y),
        };
        return result.map(Val::Int).ok_or("integer overflow");
    }
    let (x, y) = (a.as_f64(), b.as_f64());
    Ok(Val::Float(match op {
        BinOp::Add => x + y,
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
        BinOp::Div => x / y,
        _ => x % y,
    }))
}

fn call<'e>(
    func: Func,
    args: &'e [Node],
    node: &'e Node,
    env: &'e Env<'_>,
) -> Result<Val<'e>, String> {
    // Arities were checked by `compile`; a missing argument reads as "".
    let arg = |i: usize| -> Result<Val<'e>, String> {
        match args.get(i) {
            Some(a) => eval(a, env),
            None => Ok(Val::Str(Cow::Borrowed(&[]))),
        }
    };
    let text = |i: usize| arg(i).map(Val::into_bytes);
    Ok(match func {
        Func::Contains => Val::Bool(bytes::find(&text(0)?, &text(1)?).is_some()),
        Func::StartsWith => Val::Bool(text(0)?.starts_with(&text(1)?)),
        Func::EndsWith => Val::Bool(text(0)?.ends_with(&text(1)?)),
        Func::Lower => Val::Str(Cow::Owned(text(0)?.to_ascii_lowercase())),
        Func::Upper => Val::Str(Cow::Owned(text(0)?.to_ascii_uppercase())),
        Func::Trim => {
            let s = text(0)?;
            let range = bytes::trim(&s);
            Val::Str(slice(s, range))
        }
        Func::Split => {
            let s = text(0)?;
            if args.len() < 2 {
                let ranges: Vec<Range<usize>> = bytes::whitespace_fields(&s).collect();
                return Ok(pieces(s, ranges.into_iter()));
            }
            let sep = text(1)?;
            if sep.is_empty() {
                return Err(env.fail(node, "the separator of `split` must not be empty"));
            }
            let ranges = bytes::split_on(&s, &sep);
            pieces(s, ranges.into_iter())
        }
        Func::Len => match arg(0)? {
            Val::List(items) => Val::Int(items.len() as i64),
            other => Val::Int(other.into_bytes().len() as i64),
        },
        Func::Substr => {
            let s = text(0)?;
            let start = env.whole(node, &arg(1)?)?;
            let len = s.len() as i64;
            let from = start.clamp(0, len);
            let to = if args.len() > 2 {
                let count = env.whole(node, &arg(2)?)?;
                from.saturating_add(count.max(0)).min(len)
            } else {
                len
            };
            Val::Str(slice(s, from as usize..to as usize))
        }
        Func::Concat => {
            if args.len() == 1 {
                return Ok(Val::Str(text(0)?));
            }
            let mut out = Vec::with_capacity(CONCAT_CAPACITY);
            for i in 0..args.len() {
                let piece = text(i)?;
                env.fits(node, "concat", out.len().saturating_add(piece.len()))?;
                out.extend_from_slice(&piece);
            }
            Val::Str(Cow::Owned(out))
        }
        Func::Replace => {
            let (s, from, to) = (text(0)?, text(1)?, text(2)?);
            if to.len() > from.len() && !from.is_empty() {
                // Count the matches only if as many as could fit would be too many.
                let growth = to.len() - from.len();
                let most = (s.len() / from.len()).saturating_mul(growth);
                if s.len().saturating_add(most) > env.max_bytes {
                    let grows = growth.saturating_mul(bytes::count(&s, &from));
                    env.fits(node, "replace", s.len().saturating_add(grows))?;
                }
            }
            Val::Str(Cow::Owned(bytes::replace(&s, &from, &to)))
        }
        // An empty `sep` occurs at 0: `before` gives "", `after` all of `s`.
        Func::Before => {
            let s = text(0)?;
            let end = bytes::find(&s, &text(1)?).unwrap_or(s.len());
            Val::Str(slice(s, 0..end))
        }
        Func::After => {
            let s = text(0)?;
            let sep = text(1)?;
            let start = bytes::find(&s, &sep).map_or(s.len(), |at| at + sep.len());
            let end = s.len();
            Val::Str(slice(s, start..end))
        }
        Func::Int => {
            let v = arg(0)?;
            match env.number(node, &v)? {
                Num::Int(i) => Val::Int(i),
                Num::Float(f) => Val::Int(float_to_int(f).ok_or_else(|| {
                    env.fail(
                        node,
                        format_args!("cannot convert {} to an integer", v.describe()),
                    )
                })?),
            }
        }
        Func::Float => Val::Float(env.number(node, &arg(0)?)?.as_f64()),
        Func::Str => Val::Str(text(0)?),
        Func::InputFile => Val::Str(Cow::Borrowed(env.file.as_bytes())),
        Func::Basename => {
            let s = text(0)?;
            let range = bytes::basename(&s);
            Val::Str(slice(s, range))
        }
        // Only the chosen branch is evaluated.
        Func::If => {
            let chosen = if env.boolean(node, &arg(0)?, "`if`")? {
                1
            } else {
                2
            };
            return arg(chosen);
        }
        Func::Abs => {
            let v = arg(0)?;
            match env.number(node, &v)? {
                Num::Int(i) => Val::Int(i.checked_abs().ok_or_else(|| {
                    env.fail(
                        node,
                        format_args!("integer overflow: {i} has no 64-bit absolute value"),
                    )
                })?),
                Num::Float(f) => Val::Float(f.abs()),
            }
        }
        Func::Round => {
            let v = arg(0)?;
            let x = env.number(node, &v)?;
            if args.len() < 2 {
                return match x {
                    Num::Int(i) => Ok(Val::Int(i)),
                    Num::Float(f) => float_to_int(f.round()).map(Val::Int).ok_or_else(|| {
                        env.fail(
                            node,
                            format_args!("cannot round {} to a 64-bit integer", v.describe()),
                        )
                    }),
                };
            }
            let d = arg(1)?;
            let Num::Int(digits) = env.number(node, &d)? else {
                return Err(env.fail(
                    node,
                    format_args!(
                        "`round` needs an integer as argument 2, got {}",
                        d.describe()
                    ),
                ));
            };
            match x {
                Num::Int(i) => Val::Int(round_int(i, digits).ok_or_else(|| {
                    env.fail(
                        node,
                        format_args!(
                            "integer overflow: {i} rounded to {digits} digits is past the 64-bit range"
                        ),
                    )
                })?),
                Num::Float(f) => Val::Float(round_float(f, digits)),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{compile_str, ev, eval_on, s, static_error};
    use super::*;
    use crate::record::Record;

    #[test]
    fn fields_of_a_pair_split_on_tabs_match_splitting_its_line() {
        let tab = Some(PAIR_SEP);
        for (key, value) in [
            ("k", "a\tb"),
            ("k\tx", "a\tb"),
            ("", "a"),
            ("k", ""),
            ("k", "\t\t"),
        ] {
            let pair = Record::pair(key.as_bytes().to_vec(), value.as_bytes().to_vec());
            let line = Record::line(pair.to_line().into_owned());
            for n in 1..6 {
                let field = format!("${n}");
                assert_eq!(
                    eval_on(&field, &pair, tab),
                    eval_on(&field, &line, tab),
                    "{field} of {key:?} / {value:?}"
                );
            }
            assert_eq!(
                eval_on("concat($2, $1)", &pair, tab),
                eval_on("concat($2, $1)", &line, tab)
            );
        }
    }

    #[test]
    fn fields_and_record_parts() {
        let line = b"  alpha beta\tgamma  ";
        assert_eq!(ev("$0", line), Ok(s("  alpha beta\tgamma  ")));
        assert_eq!(ev("$1", line), Ok(s("alpha")));
        assert_eq!(ev("$3", line), Ok(s("gamma")));
        assert_eq!(ev("$4", line), Ok(s("")));
        assert_eq!(ev("$(1 + 1)", line), Ok(s("beta")));
        assert_eq!(ev("$(0)", line), Ok(s("  alpha beta\tgamma  ")));
        assert_eq!(ev("$(\"2\")", line), Ok(s("beta")));
        assert_eq!(
            ev("$(n - 4)", line),
            Err("field number -1 is negative in `$(n - 4)`".into())
        );
        let csv = Record::line(b"a, b,,c".to_vec());
        let comma = Some(Sep {
            bytes: b",",
            quotes: false,
        });
        assert_eq!(eval_on("$2", &csv, comma), Ok(s(" b")));
        assert_eq!(eval_on("$3", &csv, comma), Ok(s("")));
        assert_eq!(eval_on("$4", &csv, comma), Ok(s("c")));
        let ratings = Record::line(b"7::1193::5".to_vec());
        let colons = Some(Sep {
            bytes: b"::",
            quotes: true,
        });
        assert_eq!(eval_on("$2", &ratings, colons), Ok(s("1193")));
        assert_eq!(eval_on("$(1 + 2)", &ratings, colons), Ok(s("5")));
        let quoted = Record::line(br##"7,"Smith, John","say ""hi""",x"##.to_vec());
        let csv = Some(Sep {
            bytes: b",",
            quotes: true,
        });
        assert_eq!(eval_on("$2", &quoted, csv), Ok(s("Smith, John")));
        assert_eq!(eval_on("$3", &quoted, csv), Ok(s(r#"say "hi""#)));
        assert_eq!(eval_on("$(2 + 2)", &quoted, csv), Ok(s("x")));
        assert_eq!(eval_on("$5", &quoted, csv), Ok(s("")));
        assert_eq!(eval_on("$3", &quoted, comma), Ok(s(" John\"")));
        let pair = Record::pair(b"k 1".to_vec(), b"v".to_vec());
        assert_eq!(eval_on("$key", &pair, None), Ok(s("k 1")));
        assert_eq!(eval_on("$value", &pair, None), Ok(s("v")));
        assert_eq!(eval_on("$0", &pair, None), Ok(s("k 1\tv")));
        assert_eq!(eval_on("$3", &pair, None), Ok(s("v")));
        assert_eq!(
            eval_on("$key", &Record::line(b"x".to_vec()), None),
            Err("this record is not a key-value pair in `$key`".into())
        );
        assert_eq!(ev("input_file()", b""), Ok(s("dir/part-1.txt")));
        assert_eq!(ev("basename(input_file())", b""), Ok(s("part-1.txt")));
    }

    #[test]
    fn invalid_utf8_is_just_bytes() {
        let line = b"\xff\xfe abc \xc3";
        assert_eq!(ev("$1", line), Ok(Value::Str(b"\xff\xfe".to_vec())));
        assert_eq!(ev("len($0)", line), Ok(Value::Int(8)));
        assert_eq!(ev("contains($0, \"abc\")", line), Ok(Value::Bool(true)));
        assert_eq!(
            ev("upper($0)", line),
            Ok(Value::Str(b"\xff\xfe ABC \xc3".to_vec()))
        );
        assert_eq!(ev("substr($0, 7)", line), Ok(Value::Str(b"\xc3".to_vec())));
        assert_eq!(
            ev("$1 + 1", line),
            Err("cannot use \"\\xff\\xfe\" as a number in `$1 + 1`".into())
        );
    }

    #[test]
    fn string_functions() {
        let line = b" Hello, World ";
        let cases: &[(&str, Value)] = &[
            ("contains($0, \"World\")", Value::Bool(true)),
            ("contains($0, \"world\")", Value::Bool(false)),
            ("contains($0, \"\")", Value::Bool(true)),
            ("contains(lower($0), \"world\")", Value::Bool(true)),
            ("starts_with($0, \" He\")", Value::Bool(true)),
            ("starts_with($1, \"Hello,\")", Value::Bool(true)),
            ("ends_with($0, \"d \")", Value::Bool(true)),
            ("ends_with($2, \"x\")", Value::Bool(false)),
            ("lower($0)", s(" hello, world ")),
            ("upper($1)", s("HELLO,")),
            ("trim($0)", s("Hello, World")),
            ("trim(\"\")", s("")),
            ("len($0)", Value::Int(14)),
            ("len(split($0))", Value::Int(2)),
            ("len(12345)", Value::Int(5)),
            ("split($0)", Value::List(vec![s("Hello,"), s("World")])),
            (
                "split($0, \",\")",
                Value::List(vec![s(" Hello"), s(" World ")]),
            ),
            (
                "split(\"a--b--\", \"--\")",
                Value::List(vec![s("a"), s("b"), s("")]),
            ),
            ("split($0)[1]", s("World")),
            ("split($0)[2]", s("")),
            ("split($0)[-1]", s("")),
            ("split($0)[\"0\"]", s("Hello,")),
            ("substr($0, 1, 5)", s("Hello")),
            ("substr($0, 8)", s("World ")),
            ("substr($0, -3, 2)", s(" H")),
            ("substr($0, 100)", s("")),
            ("substr($0, 3, -1)", s("")),
            ("substr($0, 3, 9223372036854775807)", s("llo, World ")),
            ("substr($0, 2.0, 1)", s("e")),
            (
                "concat($1, \"-\", $2, 7, true, 1.5)",
                s("Hello,-World7true1.5"),
            ),
            ("concat($1)", s("Hello,")),
            ("concat(pattern, \"/x\")", s("err/x")),
            ("replace($0, \"o\", \"0\")", s(" Hell0, W0rld ")),
            ("replace($0, \"\", \"0\")", s(" Hello, World ")),
            ("replace(\"aaaa\", \"aa\", \"b\")", s("bb")),
            ("before($0, \",\")", s(" Hello")),
            ("after($0, \",\")", s(" World ")),
            ("before(\"a=b=c\", \"=\")", s("a")),
            ("after(\"a=b=c\", \"=\")", s("b=c")),
            ("before(\"k\\tv\\tw\", \"\\t\")", s("k")),
            ("after(\"k\\tv\\tw\", \"\\t\")", s("v\tw")),
            ("before($0, \"x\")", s(" Hello, World ")),
            ("after($0, \"x\")", s("")),
            ("before($0, \"\")", s("")),
            ("after($0, \"\")", s(" Hello, World ")),
            ("before($0, \" \")", s("")),
            ("after(\"ab\", \"ab\")", s("")),
            ("after(\"aab\", \"ab\")", s("")),
            ("before(\"aab\", \"ab\")", s("a")),
            ("before(12345, 3)", s("12")),
            ("after($1, 2.5)", s("")),
            ("basename(\"/a/b/c.txt\")", s("c.txt")),
            ("basename(\"c\")", s("c")),
            ("str(12)", s("12")),
            ("str(2.5)", s("2.5")),
            ("str(split($0))", s("Hello, World")),
            ("int(\" 42 \")", Value::Int(42)),
            ("int(\"-3.9\")", Value::Int(-3)),
            ("int(2.5)", Value::Int(2)),
            ("float(\"2\")", Value::Float(2.0)),
            ("float(3)", Value::Float(3.0)),
        ];
        for (src, want) in cases {
            assert_eq!(ev(src, line).as_ref(), Ok(want), "{src}");
        }
    }

    /// `split(s)` splits on runs of exactly the ASCII whitespace bytes
    /// (space, \t, \n, \x0b, \x0c, \r: C's `isspace`) and gives no empty words.
    #[test]
    fn split_on_whitespace() {
        let words = |line: &[u8]| match ev("split($0)", line) {
            Ok(Value::List(items)) => items.into_iter().map(Value::into_bytes).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        let want = |w: &[&[u8]]| w.iter().map(|w| w.to_vec()).collect::<Vec<_>>();
        assert_eq!(
            words(b" \t a\tb\nc\x0cd\re\x0bf  \r\n"),
            want(&[b"a", b"b", b"c", b"d", b"e", b"f"])
        );
        assert_eq!(words(b""), want(&[]));
        assert_eq!(words(b" \t\r\n\x0c\x0b"), want(&[]));
        assert_eq!(words(b"\xff\xa0x y"), want(&[b"\xff\xa0x", b"y"]));
    }

    #[test]
    fn arithmetic() {
        let line = b"7 2 abc 2.5 9223372036854775807 0";
        let cases: &[(&str, Value)] = &[
            ("$1 + $2", Value::Int(9)),
            ("$1 - $2 * 3", Value::Int(1)),
            ("$1 / $2", Value::Int(3)),
            ("-$1 / $2", Value::Int(-3)),
            ("$1 % $2", Value::Int(1)),
            ("-$1 % $2", Value::Int(-1)),
            ("$1 / 2.0", Value::Float(3.5)),
            ("$4 * 2", Value::Float(5.0)),
            ("$1 + $4", Value::Float(9.5)),
            ("$1 / 0.0", Value::Float(f64::INFINITY)),
            ("-(1 + 2)", Value::Int(-3)),
            ("n * 2", Value::Int(6)),
            ("1 + 2 * 3 - 4 / 2", Value::Int(5)),
            ("7.5 % 2", Value::Float(1.5)),
            ("$5 - 1 + 1", Value::Int(i64::MAX)),
        ];
        for (src, want) in cases {
            assert_eq!(ev(src, line).as_ref(), Ok(want), "{src}");
        }
        let errors = [
            ("$3 + 1", "cannot use \"abc\" as a number in `$3 + 1`"),
            ("$1 / $6", "integer division by zero in `$1 / $6`"),
            ("$1 % $6", "integer division by zero in `$1 % $6`"),
            ("$5 + 1", "integer overflow in `$5 + 1`"),
            ("($5 + 0) * 2", "integer overflow in `($5 + 0) * 2`"),
            ("-(-$5 - 1)", "integer overflow in `-(-$5 - 1)`"),
            ("$9 * 2", "cannot use \"\" as a number in `$9 * 2`"),
            ("int(\"1e300\")", "x"),
        ];
        for (src, want) in &errors[..7] {
            assert_eq!(ev(src, line), Err(want.to_string()), "{src}");
        }
        // A constant that fails is reported before anything runs.
        assert_eq!(
            static_error("int(\"1e300\")"),
            "1:5: cannot convert \"1e300\" to an integer in `int(\"1e300\")`"
        );
        assert_eq!(
            static_error("1 / 0"),
            "1:7: integer division by zero in `1 / 0`"
        );
        assert_eq!(
            static_error("9223372036854775807 + 1"),
            "1:25: integer overflow in `9223372036854775807 + 1`"
        );
    }

    #[test]
    fn comparisons() {
        let line = b"10 9 abc abd 10.0 -";
        let cases: &[(&str, bool)] = &[
            ("$1 > $2", false), // strings: "10" < "9"
            ("$1 > 9", true),   // a number on one side: numeric
            ("int($1) > int($2)", true),
            ("$1 == 10.0", true),
            ("$1 == $5", false), // both strings
            ("$5 == 10", true),
            ("$3 < $4", true),
            ("$3 <= \"abc\"", true),
            ("$3 >= \"abd\"", false),
            ("$3 != $4", true),
            ("$9 == \"\"", true),
            ("1 < 2.5", true),
            ("2.5 >= 2.5", true),
            ("true == true", true),
            ("true != false", true),
            ("split($0)[0] == \"10\"", true),
            ("$6 == \"-\"", true),
            ("0.0 / 0.0 == 0.0 / 0.0", false),
            ("0.0 / 0.0 != 0.0 / 0.0", true),
        ];
        for (src, want) in cases {
            assert_eq!(ev(src, line), Ok(Value::Bool(*want)), "{src}");
        }
        assert_eq!(
            ev("$3 > 1", line),
            Err("cannot use \"abc\" as a number in `$3 > 1`".into())
        );
        assert_eq!(
            ev("$6 == 1", line),
            Err("cannot use \"-\" as a number in `$6 == 1`".into())
        );
    }

    #[test]
    fn logic() {
        let line = b"a b";
        let cases: &[(&str, bool)] = &[
            ("$1 == \"a\" and $2 == \"b\"", true),
            ("$1 == \"a\" && $2 == \"x\"", false),
            ("$1 == \"x\" or $2 == \"b\"", true),
            ("$1 == \"x\" || $2 == \"x\"", false),
            ("not $1 == \"a\"", false),
            ("!($1 == \"x\")", true),
            ("not not true", true),
            ("true or $1 + 1 > 0", true), // short-circuit: `$1 + 1` never runs
            ("false and $1 + 1 > 0", false),
        ];
        for (src, want) in cases {
            assert_eq!(ev(src, line), Ok(Value::Bool(*want)), "{src}");
        }
        assert_eq!(
            ev("split($0)[0] or true", line),
            Err("`or` needs true or false, got \"a\" in `split($0)[0] or true`".into())
        );
        let ctx_record = Record::line(b"a b".to_vec());
        let ctx = RecordCtx {
            record: ctx_record.as_ref(),
            file: "",
            sep: None,
        };
        assert_eq!(compile_str("$1 == \"a\"").eval_bool(&ctx), Ok(true));
        assert_eq!(
            compile_str("split($0)[1]").eval_bool(&ctx),
            Err("the condition `split($0)[1]` gave \"b\", not true or false".into())
        );
        assert_eq!(
            compile_str("concat($2, 1)").with_bytes(&ctx, |b| Ok(b.to_vec())),
            Ok(b"b1".to_vec())
        );
        let mut items = Vec::new();
        let each = |item: &[u8]| {
            items.push(item.to_vec());
            Ok(())
        };
        assert_eq!(compile_str("split($0)").for_each_item(&ctx, each), Ok(()));
        assert_eq!(items, [b"a".to_vec(), b"b".to_vec()]);
    }

    /// `flat_map(keys, value)`: one pair per key, the value computed once
    /// and only when there is a key.
    #[test]
    fn for_each_pair_gives_every_key_the_value() {
        let pairs = |keys: &str, value: &str, line: &[u8]| {
            let record = Record::line(line.to_vec());
            let ctx = RecordCtx {
                record: record.as_ref(),
                file: "",
                sep: None,
            };
            let value = compile_str(value);
            let constant = value.constant().map(|v| v.clone().into_bytes());
            let mut out = Vec::new();
            compile_str(keys)
                .for_each_pair(&value, constant.as_deref(), &ctx, |k, v| {
                    out.push(format!(
                        "{}={}",
                        String::from_utf8_lossy(k),
                        String::from_utf8_lossy(v)
                    ));
                    Ok(())
                })
                .map(|()| out)
        };
        assert_eq!(
            pairs(
                "split($2, \",\")",
                "float($3) / len(split($2, \",\"))",
                b"a b,c 1.0"
            ),
            Ok(vec!["b=0.5".to_string(), "c=0.5".to_string()])
        );
        assert_eq!(
            pairs("split($0)", "1", b"x y x"),
            Ok(vec!["x=1".into(), "y=1".into(), "x=1".into()])
        );
        assert_eq!(pairs("$1", "$2", b"k v"), Ok(vec!["k=v".to_string()]));
        assert_eq!(
            pairs("len($0)", "true", b"abc"),
            Ok(vec!["3=true".to_string()])
        );
        // No key: the value, which would fail, is not computed.
        assert_eq!(pairs("split($0)", "1 / len(split($0))", b"  "), Ok(vec![]));
        assert_eq!(
            pairs("split($0)", "1 / (len(split($0)) - 1)", b"a"),
            Err("integer division by zero in `1 / (len(split($0)) - 1)`".into())
        );
    }

    #[test]
    fn if_evaluates_only_the_chosen_branch() {
        let cases: &[(&str, &[u8], Value)] = &[
            ("if($1 == \"\", 0, int($1))", b"", Value::Int(0)),
            ("if($1 == \"\", 0, int($1))", b"42", Value::Int(42)),
            ("if($1 == \"0\", 0, 10 / int($1))", b"0", Value::Int(0)),
            ("if($1 == \"0\", 0, 10 / int($1))", b"5", Value::Int(2)),
            ("if(int($1) > 2, \"big\", \"small\")", b"3", s("big")),
            ("if(int($1) > 2, \"big\", \"small\")", b"2", s("small")),
            ("if($1 == \"a\", $2, 2.5)", b"a 7", s("7")),
            ("if($1 == \"a\", $2, 2.5)", b"b 7", Value::Float(2.5)),
            (
                "if($1 == \"x\", 1, if($1 == \"y\", 2, 3))",
                b"y",
                Value::Int(2),
            ),
            (
                "if($1 == \"x\", 1, if($1 == \"y\", 2, 3))",
                b"z",
                Value::Int(3),
            ),
            ("if($1 == \"a\", 1, 1 / 0)", b"a", Value::Int(1)),
            (
                "if(split($0)[1] == \"b\", split($0), 0)",
                b"a b",
                Value::List(vec![s("a"), s("b")]),
            ),
        ];
        for (src, line, want) in cases {
            assert_eq!(ev(src, line).as_ref(), Ok(want), "{src} on {line:?}");
        }
        let errors: &[(&str, &[u8], &str)] = &[
            (
                "if($1 == \"a\", 1, 1 / 0)",
                b"b",
                "integer division by zero in `1 / 0`",
            ),
            (
                "if($1 == \"\", 0, int($1))",
                b"x",
                "cannot use \"x\" as a number in `int($1)`",
            ),
            (
                "if(split($0)[0], 1, 2)",
                b"yes",
                "`if` needs true or false, got \"yes\" in `if(split($0)[0], 1, 2)`",
            ),
        ];
        for (src, line, want) in errors {
            assert_eq!(ev(src, line), Err(want.to_string()), "{src} on {line:?}");
        }
        let record = Record::line(b"a".to_vec());
        let ctx = RecordCtx {
            record: record.as_ref(),
            file: "",
            sep: None,
        };
        assert_eq!(
            compile_str("if($1 == \"a\", true, false)").eval_bool(&ctx),
            Ok(true)
        );
    }

    #[test]
    fn abs_keeps_the_kind_of_number() {
        let line = b"-7 2.5 -0.0 -9223372036854775808 x";
        let cases: &[(&str, Value)] = &[
            ("abs($1)", Value::Int(7)),
            ("abs(-$1)", Value::Int(7)),
            ("abs(-$2)", Value::Float(2.5)),
            ("abs($3)", Value::Float(0.0)),
            ("abs(-3)", Value::Int(3)),
            ("abs(0.0 / 0.0) == abs(0.0 / 0.0)", Value::Bool(false)),
            ("abs(-1.0 / 0.0)", Value::Float(f64::INFINITY)),
            ("abs(-9223372036854775807)", Value::Int(i64::MAX)),
        ];
        for (src, want) in cases {
            assert_eq!(ev(src, line).as_ref(), Ok(want), "{src}");
        }
        assert_eq!(
            ev("abs($4)", line),
            Err(
                "integer overflow: -9223372036854775808 has no 64-bit absolute value in `abs($4)`"
                    .into()
            )
        );
        assert_eq!(
            ev("abs($5)", line),
            Err("cannot use \"x\" as a number in `abs($5)`".into())
        );
    }

    /// Halves away from zero, as Spark SQL and C round (not Python's
    /// half-to-even), and a float is rounded as the decimal it prints as.
    #[test]
    fn round_halves_away_from_zero() {
        let line = b"2.675 -2.5 1250 1e300 1.5 x -9223372036854775808 9223372036854775807";
        let cases: &[(&str, Value)] = &[
            ("round(2.5)", Value::Int(3)),
            ("round(-2.5)", Value::Int(-3)),
            ("round(0.5)", Value::Int(1)),
            ("round(1.5)", Value::Int(2)),
            ("round(0.49999999999999994)", Value::Int(0)),
            ("round($2)", Value::Int(-3)),
            ("round($3)", Value::Int(1250)),
            ("round(-0.4)", Value::Int(0)),
            ("round($1, 2)", Value::Float(2.68)),
            ("round(-$1, 2)", Value::Float(-2.68)),
            ("round(2.675, 2)", Value::Float(2.68)),
            ("round(1.005, 2)", Value::Float(1.01)),
            ("round(0.125, 2)", Value::Float(0.13)),
            ("round($2, 0)", Value::Float(-3.0)),
            ("round($3, -2)", Value::Int(1300)),
            ("round(-$3, -2)", Value::Int(-1300)),
            ("round(1249, -2)", Value::Int(1200)),
            ("round($3, 2)", Value::Int(1250)),
            ("round($3, -5)", Value::Int(0)),
            ("round(123.456, -1)", Value::Float(120.0)),
            ("round(0.1 + 0.2, 2)", Value::Float(0.3)),
            ("round($4, 2)", Value::Float(1e300)),
            ("round($5, 400)", Value::Float(1.5)),
            ("round($5, \"0\")", Value::Float(2.0)),
            ("round(-$5, -3)", Value::Float(0.0)),
            ("round($5, $7)", Value::Float(0.0)),
            ("round($5, $8)", Value::Float(1.5)),
            ("round($3, $7)", Value::Int(0)),
            ("round($7, -18)", Value::Int(-9_000_000_000_000_000_000)),
            ("round(1.0 / 0.0, 2)", Value::Float(f64::INFINITY)),
        ];
        for (src, want) in cases {
            assert_eq!(ev(src, line).as_ref(), Ok(want), "{src}");
        }
        let errors = [
            ("round($4)", "cannot round \"1e300\" to a 64-bit integer in `round($4)`"),
            ("round(float($4) * 10.0)", "cannot round 1e301 to a 64-bit integer in `round(float($4) * 10.0)`"),
            ("round($3, $5)", "`round` needs an integer as argument 2, got \"1.5\" in `round($3, $5)`"),
            ("round($6, 2)", "cannot use \"x\" as a number in `round($6, 2)`"),
            ("round($3, $6)", "cannot use \"x\" as a number in `round($3, $6)`"),
            (
                "round($8, -1)",
                "integer overflow: 9223372036854775807 rounded to -1 digits is past the 64-bit range in `round($8, -1)`",
            ),
        ];
        for (src, want) in errors {
            assert_eq!(ev(src, line), Err(want.to_string()), "{src}");
        }
    }

    #[test]
    fn float_formatting_in_records() {
        assert_eq!(ev("str(1.0 * 2)", b""), Ok(s("2.0")));
        assert_eq!(ev("str($1 / 4.0)", b"1"), Ok(s("0.25")));
    }

    /// A 1,000,000-line grep must take well under a second (release build).
    #[test]
    fn grep_predicate_is_fast() {
        let e = compile_str("contains($0, pattern)");
        let lines: Vec<Record> = (0..1_000_000)
            .map(|i| {
                Record::line(format!("line {i} with some words in it and {}", i % 97).into_bytes())
            })
            .collect();
        let start = std::time::Instant::now();
        let mut hits = 0;
        for record in &lines {
            let ctx = RecordCtx {
                record: record.as_ref(),
                file: "",
                sep: None,
            };
            if e.eval_bool(&ctx) == Ok(true) {
                hits += 1;
            }
        }
        let elapsed = start.elapsed();
        assert_eq!(hits, 0);
        assert!(
            elapsed.as_millis() < 1000 || cfg!(debug_assertions),
            "took {elapsed:?}"
        );
        let e = compile_str("int($2) % 7 == 0 and contains($0, \"words\")");
        let start = std::time::Instant::now();
        let mut hits = 0;
        for record in &lines {
            let ctx = RecordCtx {
                record: record.as_ref(),
                file: "",
                sep: None,
            };
            if e.eval_bool(&ctx) == Ok(true) {
                hits += 1;
            }
        }
        assert_eq!(hits, 142_858);
        let elapsed2 = start.elapsed();
        eprintln!("grep over 1M lines: {elapsed:?}; fields + arithmetic: {elapsed2:?}");
        assert!(
            elapsed2.as_millis() < 2000 || cfg!(debug_assertions),
            "took {elapsed2:?}"
        );
    }
}
