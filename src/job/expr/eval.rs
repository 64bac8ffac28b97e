//! Record expressions: the `Expr` tree, its static check, and its
//! evaluation against one record.
//!
//! `compile` turns a syntax tree into an `Expr` and does every check that
//! needs no record: names, function arities, types of constants, `$key` on
//! an unkeyed dataset, `$0` where a constant is required. Params become
//! constants, and any subtree made only of constants is computed right away
//! (so `lower(pattern)` runs once, not once per record).
//!
//! `Expr::eval` runs per record, so it is written not to copy: `$0`, fields,
//! constants and `trim`/`substr`/`split` results borrow from the record or
//! the tree (`Val` holds `Cow`s); `contains($0, "x")` allocates nothing.
//! Runtime errors name the offending value and show the text of the
//! smallest expression that failed: ``cannot use "abc" as a number in `$3 + 1` ``.
//!
//! Limits: `concat` and `replace` can make a string far longer than the
//! text that asks for it (`replace(replace(s, "a", "aaaa"), "a", "aaaa")`
//! grows fourfold per level), so a string they make is capped:
//! `MAX_CONSTANT_BYTES` for a constant, `MAX_VALUE_BYTES` per record. And
//! since the master computes a job's constants when it checks the job, the
//! work all of them take together is capped too (`MAX_CONSTANT_WORK`).

use std::borrow::Cow;
use std::cell::Cell;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::ops::Range;

use crate::job::bytes;
use crate::job::error::{did_you_mean, JobError};
use crate::job::parser::{Syn, SynKind};
use crate::job::value::{Num, Val, Value};
use crate::record::RecordRef;

/// Longest string a constant may compute to (1 MiB).
pub(crate) const MAX_CONSTANT_BYTES: usize = 1024 * 1024;

/// Longest string an expression may compute from a record (64 MiB).
pub(crate) const MAX_VALUE_BYTES: usize = 64 * 1024 * 1024;

/// Most work computing all of a job's constants may take, counted in bytes
/// copied or compared (256 Mi: well under a second).
pub(crate) const MAX_CONSTANT_WORK: u64 = 256 * 1024 * 1024;

/// Binary operators, from the lowest precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// Unary operators: `-x` and `not x` / `!x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,
}

/// A checked record expression, ready to evaluate.
#[derive(Debug, Clone)]
pub struct Expr {
    root: Node,
    /// The expression as written in the job file.
    text: String,
    /// Does it read `$0` or a field? If not, `$0` is never built.
    uses_line: bool,
    /// Does it read `$0` itself or a computed field `$(n)`? If it reads only
    /// fixed fields of a pair split on tabs, `$0` need not be built either.
    uses_whole_line: bool,
}

/// What an expression is evaluated against.
#[derive(Debug, Clone, Copy)]
pub struct RecordCtx<'a> {
    pub record: RecordRef<'a>,
    /// The file the record was read from (`input_file()`), or "".
    pub file: &'a str,
    /// The field separator; `None` means runs of ASCII whitespace.
    pub sep: Option<u8>,
}

#[derive(Debug, Clone)]
struct Node {
    kind: Kind,
    /// Byte range of this node's text in `Expr::text`.
    start: u32,
    end: u32,
}

#[derive(Debug, Clone)]
enum Kind {
    Const(Value),
    /// `$0`
    Line,
    /// `$n`, n >= 1
    Field(u32),
    /// `$(expr)`
    FieldOf(Box<Node>),
    /// `$key`
    RecordKey,
    /// `$value`
    RecordValue,
    InputFile,
    Call(Func, Vec<Node>),
    Unary(UnOp, Box<Node>),
    Binary(BinOp, Box<Node>, Box<Node>),
    Index(Box<Node>, Box<Node>),
}

/// The functions callable in expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Contains,
    StartsWith,
    EndsWith,
    Lower,
    Upper,
    Trim,
    Split,
    Len,
    Substr,
    Concat,
    Replace,
    Before,
    After,
    Int,
    Float,
    Str,
    InputFile,
    Basename,
}

/// What a function argument must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Anything: it is used as its bytes.
    Text,
    /// A number, or a string that reads as one.
    Number,
}

struct FuncInfo {
    name: &'static str,
    func: Func,
    min: usize,
    /// `usize::MAX` for variadic functions.
    max: usize,
    /// Kinds of the arguments; the last one repeats.
    wants: &'static [Want],
    returns: Ty,
    usage: &'static str,
}

use Want::{Number, Text};

#[rustfmt::skip]
const FUNCS: &[FuncInfo] = &[
    FuncInfo { name: "contains", func: Func::Contains, min: 2, max: 2, wants: &[Text], returns: Ty::Bool, usage: "contains(s, sub)" },
    FuncInfo { name: "starts_with", func: Func::StartsWith, min: 2, max: 2, wants: &[Text], returns: Ty::Bool, usage: "starts_with(s, prefix)" },
    FuncInfo { name: "ends_with", func: Func::EndsWith, min: 2, max: 2, wants: &[Text], returns: Ty::Bool, usage: "ends_with(s, suffix)" },
    FuncInfo { name: "lower", func: Func::Lower, min: 1, max: 1, wants: &[Text], returns: Ty::Str, usage: "lower(s)" },
    FuncInfo { name: "upper", func: Func::Upper, min: 1, max: 1, wants: &[Text], returns: Ty::Str, usage: "upper(s)" },
    FuncInfo { name: "trim", func: Func::Trim, min: 1, max: 1, wants: &[Text], returns: Ty::Str, usage: "trim(s)" },
    FuncInfo { name: "split", func: Func::Split, min: 1, max: 2, wants: &[Text], returns: Ty::List, usage: "split(s) or split(s, sep)" },
    FuncInfo { name: "len", func: Func::Len, min: 1, max: 1, wants: &[Text], returns: Ty::Int, usage: "len(x)" },
    FuncInfo { name: "substr", func: Func::Substr, min: 2, max: 3, wants: &[Text, Number], returns: Ty::Str, usage: "substr(s, start) or substr(s, start, length)" },
    FuncInfo { name: "concat", func: Func::Concat, min: 1, max: usize::MAX, wants: &[Text], returns: Ty::Str, usage: "concat(a, b, ...)" },
    FuncInfo { name: "replace", func: Func::Replace, min: 3, max: 3, wants: &[Text], returns: Ty::Str, usage: "replace(s, from, to)" },
    FuncInfo { name: "before", func: Func::Before, min: 2, max: 2, wants: &[Text], returns: Ty::Str, usage: "before(s, sep)" },
    FuncInfo { name: "after", func: Func::After, min: 2, max: 2, wants: &[Text], returns: Ty::Str, usage: "after(s, sep)" },
    FuncInfo { name: "int", func: Func::Int, min: 1, max: 1, wants: &[Number], returns: Ty::Int, usage: "int(x)" },
    FuncInfo { name: "float", func: Func::Float, min: 1, max: 1, wants: &[Number], returns: Ty::Float, usage: "float(x)" },
    FuncInfo { name: "str", func: Func::Str, min: 1, max: 1, wants: &[Text], returns: Ty::Str, usage: "str(x)" },
    FuncInfo { name: "input_file", func: Func::InputFile, min: 0, max: 0, wants: &[Text], returns: Ty::Str, usage: "input_file()" },
    FuncInfo { name: "basename", func: Func::Basename, min: 1, max: 1, wants: &[Text], returns: Ty::Str, usage: "basename(path)" },
];

/// Names of all functions, for "did you mean" suggestions.
pub(crate) fn function_names() -> Vec<&'static str> {
    FUNCS.iter().map(|f| f.name).collect()
}

/// The static type of an expression, as far as it is known before running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Str,
    Int,
    Float,
    Bool,
    List,
    /// An integer or a float, depending on the record.
    Num,
    /// Known only per record (an element of a list).
    Any,
}

impl Ty {
    fn of(v: &Value) -> Ty {
        match v {
            Value::Str(_) => Ty::Str,
            Value::Int(_) => Ty::Int,
            Value::Float(_) => Ty::Float,
            Value::Bool(_) => Ty::Bool,
            Value::List(_) => Ty::List,
        }
    }

    pub(crate) fn article(self) -> &'static str {
        match self {
            Ty::Str => "a string",
            Ty::Int => "an integer",
            Ty::Float => "a float",
            Ty::Bool => "a true/false value",
            Ty::List => "a list",
            Ty::Num => "a number",
            Ty::Any => "a value",
        }
    }
}

/// Where an expression is used, which decides what it may refer to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope<'a> {
    /// Evaluated per record of a dataset (`keyed`: its records are pairs).
    Record { keyed: bool },
    /// Evaluated once when the job is bound; `what` names the argument in
    /// errors, e.g. "the path of `save`".
    Const { what: &'a str },
}

/// Everything `compile` needs to know about the job around an expression.
pub(crate) struct Context<'a> {
    pub source: &'a str,
    pub params: &'a BTreeMap<String, String>,
    /// Names of datasets, so using one as a value gets a clear message.
    pub datasets: &'a [&'a str],
    pub scope: Scope<'a>,
    /// Work spent on constants so far, by every `compile` of the job;
    /// bounded by `MAX_CONSTANT_WORK`.
    pub work: &'a Cell<u64>,
}

/// Checks `syn` and turns it into an `Expr`; also returns its static type.
///
/// # Errors
/// Unknown names and functions, wrong argument counts, values of the wrong
/// type, record references where a constant is required, at their place.
pub(crate) fn compile(syn: &Syn, cx: &Context) -> Result<(Expr, Ty), JobError> {
    let text = cx.source.get(syn.start..syn.end).unwrap_or("").to_string();
    let compiler = Compiler {
        cx,
        base: syn.start,
        text: &text,
    };
    let (root, ty) = compiler.node(syn)?;
    let uses_line = root.uses_line();
    let uses_whole_line = root.uses_whole_line();
    let expr = Expr {
        root,
        text,
        uses_line,
        uses_whole_line,
    };
    Ok((expr, ty))
}

struct Compiler<'a> {
    cx: &'a Context<'a>,
    /// Source offset of the expression's first byte.
    base: usize,
    text: &'a str,
}

impl Compiler<'_> {
    fn at(&self, syn: &Syn, kind: Kind) -> Node {
        Node {
            kind,
            start: syn.start.saturating_sub(self.base) as u32,
            end: syn.end.saturating_sub(self.base) as u32,
        }
    }

    /// `$0`, fields, `$key`, `$value`, `input_file()`: per-record things that
    /// a constant argument may not use.
    fn record_only(&self, syn: &Syn, shown: &str) -> Result<(), JobError> {
        match self.cx.scope {
            Scope::Record { .. } => Ok(()),
            Scope::Const { what } => Err(JobError::at(
                syn.span,
                format!(
                    "`{shown}` cannot be used in {what}: it must be a constant (literals, params and functions of them)"
                ),
            )),
        }
    }

    fn node(&self, syn: &Syn) -> Result<(Node, Ty), JobError> {
        let constant = |v: Value| {
            let ty = Ty::of(&v);
            Ok((self.at(syn, Kind::Const(v)), ty))
        };
        match &syn.kind {
            SynKind::Str(s) => constant(Value::Str(s.as_bytes().to_vec())),
            SynKind::Int(n) => constant(Value::Int(*n)),
            SynKind::Float(x) => constant(Value::Float(*x)),
            SynKind::Bool(b) => constant(Value::Bool(*b)),
            SynKind::Name(name) => self.name(syn, name),
            SynKind::Field(n) => {
                self.record_only(syn, &format!("${n}"))?;
                let kind = if *n == 0 { Kind::Line } else { Kind::Field(*n) };
                Ok((self.at(syn, kind), Ty::Str))
            }
            SynKind::Key | SynKind::Value => {
                let (shown, kind) = if syn.kind == SynKind::Key {
                    ("$key", Kind::RecordKey)
                } else {
                    ("$value", Kind::RecordValue)
                };
                self.record_only(syn, shown)?;
                if let Scope::Record { keyed: false } = self.cx.scope {
                    return Err(JobError::at(
                        syn.span,
                        format!("`{shown}` needs a dataset of key-value pairs (made by `map(key, value)` or a by-key operator); this dataset has plain lines"),
                    ));
                }
                Ok((self.at(syn, kind), Ty::Str))
            }
            SynKind::FieldOf(index) => {
                self.record_only(syn, "$(...)")?;
                let (index_node, ty) = self.node(index)?;
                self.want_number(index, &index_node, ty)?;
                Ok((self.at(syn, Kind::FieldOf(Box::new(index_node))), Ty::Str))
            }
            SynKind::Call { name, args } => self.call(syn, name, args),
            SynKind::Method { name, .. } => Err(JobError::at(
                syn.span,
                format!("`.{name}(...)` is a dataset operator and cannot be used inside an expression; use functions here, e.g. `lower($0)`"),
            )),
            SynKind::Unary(op, operand) => {
                let (inner, ty) = self.node(operand)?;
                let result = match op {
                    UnOp::Neg => {
                        self.want_number(operand, &inner, ty)?;
                        match ty {
                            Ty::Int | Ty::Float => ty,
                            _ => Ty::Num,
                        }
                    }
                    UnOp::Not => {
                        self.want_bool(operand, &inner, ty, "`not`")?;
                        Ty::Bool
                    }
                };
                self.fold(syn, Kind::Unary(*op, Box::new(inner)), result)
            }
            SynKind::Binary(op, lhs, rhs) => self.binary(syn, *op, lhs, rhs),
            SynKind::Index(list, index) => {
                let (list_node, list_ty) = self.node(list)?;
                if !matches!(list_ty, Ty::List | Ty::Any) {
                    return Err(JobError::at(
                        syn.span,
                        format!("`[...]` needs a list, but this is {} (make a list with `split`)", list_ty.article()),
                    ));
                }
                let (index_node, index_ty) = self.node(index)?;
                self.want_number(index, &index_node, index_ty)?;
                let kind = Kind::Index(Box::new(list_node), Box::new(index_node));
                self.fold(syn, kind, Ty::Any)
            }
        }
    }

    fn name(&self, syn: &Syn, name: &str) -> Result<(Node, Ty), JobError> {
        if let Some(value) = self.cx.params.get(name) {
            self.charge(syn, value.len() as u64)?;
            let v = Value::Str(value.as_bytes().to_vec());
            return Ok((self.at(syn, Kind::Const(v)), Ty::Str));
        }
        let message = if self.cx.datasets.contains(&name) {
            format!("`{name}` is a dataset; an expression can only use values (fields, params, literals)")
        } else if FUNCS.iter().any(|f| f.name == name) {
            format!("`{name}` is a function: call it as `{name}(...)`")
        } else if name == "key" || name == "value" {
            format!("unknown name `{name}` (did you mean `${name}`?)")
        } else {
            let params: Vec<&str> = self.cx.params.keys().map(String::as_str).collect();
            format!("unknown name `{name}`{}", did_you_mean(name, &params))
        };
        Err(JobError::at(syn.span, message))
    }

    fn call(
        &self,
        syn: &Syn,
        name: &str,
        args: &[crate::job::parser::Arg],
    ) -> Result<(Node, Ty), JobError> {
        let Some(info) = FUNCS.iter().find(|f| f.name == name) else {
            let message = match name {
                "read_text" | "read_csv" => {
                    format!("`{name}` makes a dataset and cannot be used inside an expression")
                }
                _ => format!(
                    "unknown function `{name}`{}",
                    did_you_mean(name, &function_names())
                ),
            };
            return Err(JobError::at(syn.span, message));
        };
        if let Some((arg_name, span)) = args.iter().find_map(|a| a.name.as_ref()) {
            return Err(JobError::at(
                *span,
                format!("function `{name}` takes no named arguments (`{arg_name}=`)"),
            ));
        }
        if args.len() < info.min || args.len() > info.max {
            return Err(JobError::at(
                syn.span,
                arity_message(name, info, args.len()),
            ));
        }
        if info.func == Func::InputFile {
            self.record_only(syn, "input_file()")?;
            return Ok((self.at(syn, Kind::InputFile), Ty::Str));
        }
        let mut nodes = Vec::with_capacity(args.len());
        for (i, arg) in args.iter().enumerate() {
            let (node, ty) = self.node(&arg.value)?;
            let want = info
                .wants
                .get(i)
                .or(info.wants.last())
                .copied()
                .unwrap_or(Text);
            if want == Number {
                self.want_number(&arg.value, &node, ty)?;
            }
            nodes.push(node);
        }
        if info.func == Func::Split {
            if let Some(Node {
                kind: Kind::Const(sep),
                ..
            }) = nodes.get(1)
            {
                if Val::from_value(sep).into_bytes().is_empty() {
                    return Err(JobError::at(
                        args[1].value.span,
                        "the separator of `split` must not be empty",
                    ));
                }
            }
        }
        self.fold(syn, Kind::Call(info.func, nodes), info.returns)
    }

    fn binary(&self, syn: &Syn, op: BinOp, lhs: &Syn, rhs: &Syn) -> Result<(Node, Ty), JobError> {
        let (a, a_ty) = self.node(lhs)?;
        let (b, b_ty) = self.node(rhs)?;
        let ty = match op {
            BinOp::Or | BinOp::And => {
                let shown = if op == BinOp::Or { "`or`" } else { "`and`" };
                self.want_bool(lhs, &a, a_ty, shown)?;
                self.want_bool(rhs, &b, b_ty, shown)?;
                Ty::Bool
            }
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let numeric = |t| matches!(t, Ty::Int | Ty::Float | Ty::Num);
                if numeric(a_ty) {
                    self.want_number(rhs, &b, b_ty)?;
                }
                if numeric(b_ty) {
                    self.want_number(lhs, &a, a_ty)?;
                }
                Ty::Bool
            }
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
                self.want_number(lhs, &a, a_ty)?;
                self.want_number(rhs, &b, b_ty)?;
                match (a_ty, b_ty) {
                    (Ty::Int, Ty::Int) => Ty::Int,
                    (Ty::Float, _) | (_, Ty::Float) => Ty::Float,
                    _ => Ty::Num,
                }
            }
        };
        self.fold(syn, Kind::Binary(op, Box::new(a), Box::new(b)), ty)
    }

    /// Refuses values that can never be numbers: booleans, lists, and
    /// constant strings that do not read as numbers.
    fn want_number(&self, syn: &Syn, node: &Node, ty: Ty) -> Result<(), JobError> {
        let bad = match (&node.kind, ty) {
            (Kind::Const(v), _) => Val::from_value(v).to_num().is_none().then(|| v.describe()),
            (_, Ty::Bool | Ty::List) => Some(ty.article().to_string()),
            _ => None,
        };
        match bad {
            Some(shown) => Err(JobError::at(
                syn.span,
                format!("cannot use {shown} as a number"),
            )),
            None => Ok(()),
        }
    }

    /// Refuses values that can never be `true`/`false` (strings are not
    /// converted).
    fn want_bool(&self, syn: &Syn, node: &Node, ty: Ty, user: &str) -> Result<(), JobError> {
        let bad = match (&node.kind, ty) {
            (Kind::Const(v), _) if !matches!(v, Value::Bool(_)) => Some(v.describe()),
            (_, Ty::Str | Ty::Int | Ty::Float | Ty::Num | Ty::List) => {
                Some(ty.article().to_string())
            }
            _ => None,
        };
        match bad {
            Some(shown) => Err(JobError::at(
                syn.span,
                format!(
                    "{user} needs true or false, got {shown} (compare it, e.g. `$1 == \"yes\"`)"
                ),
            )),
            None => Ok(()),
        }
    }

    /// Makes a node; when all its children are constants, computes it now.
    fn fold(&self, syn: &Syn, kind: Kind, ty: Ty) -> Result<(Node, Ty), JobError> {
        let node = self.at(syn, kind);
        let Some(cost) = fold_cost(&node) else {
            return Ok((node, ty));
        };
        self.charge(syn, cost)?;
        let env = Env {
            record: RecordRef::line(&[]),
            file: "",
            sep: None,
            line: Cow::Borrowed(&[]),
            split_pair: false,
            text: self.text,
            max_bytes: MAX_CONSTANT_BYTES,
        };
        let value = eval(&node, &env)
            .map_err(|message| JobError::at(syn.span, message))?
            .into_value();
        self.charge(syn, weight(&value))?;
        let ty = Ty::of(&value);
        Ok((self.at(syn, Kind::Const(value)), ty))
    }

    /// Adds `cost` to the work spent on the job's constants.
    fn charge(&self, syn: &Syn, cost: u64) -> Result<(), JobError> {
        let work = self.cx.work.get().saturating_add(cost);
        self.cx.work.set(work);
        if work > MAX_CONSTANT_WORK {
            return Err(JobError::at(
                syn.span,
                format!(
                    "the constants of this job take too much work to compute (over {MAX_CONSTANT_WORK} bytes copied or compared); make them simpler or smaller"
                ),
            ));
        }
        Ok(())
    }
}

/// The work of computing `node` now, if all its children are constants:
/// reading them, and for a search, comparing at every place.
fn fold_cost(node: &Node) -> Option<u64> {
    let mut inputs = Vec::new();
    for child in node.children() {
        match &child.kind {
            Kind::Const(v) => inputs.push(v),
            _ => return None,
        }
    }
    let read: u64 = inputs.iter().map(|v| weight(v)).sum();
    let search = match (&node.kind, inputs.as_slice()) {
        (
            Kind::Call(
                Func::Contains | Func::Split | Func::Replace | Func::Before | Func::After,
                _,
            ),
            [hay, needle, ..],
        ) => weight(hay).saturating_mul(weight(needle)),
        _ => 0,
    };
    Some(read.saturating_add(search))
}

/// Roughly the bytes a value takes: what reading or copying it costs.
fn weight(v: &Value) -> u64 {
    match v {
        Value::Str(s) => s.len() as u64,
        Value::List(items) => items.iter().map(|i| 32 + weight(i)).sum(),
        _ => 8,
    }
}

fn arity_message(name: &str, info: &FuncInfo, got: usize) -> String {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let expected = if info.max == usize::MAX {
        format!("at least {} argument{}", info.min, plural(info.min))
    } else if info.min == info.max {
        format!("{} argument{}", info.min, plural(info.min))
    } else {
        format!("{} or {} arguments", info.min, info.max)
    };
    format!(
        "`{name}` takes {expected}, got {got} (usage: {})",
        info.usage
    )
}

impl Node {
    fn children(&self) -> impl Iterator<Item = &Node> {
        let list: Vec<&Node> = match &self.kind {
            Kind::FieldOf(a) | Kind::Unary(_, a) => vec![a],
            Kind::Binary(_, a, b) | Kind::Index(a, b) => vec![a, b],
            Kind::Call(_, args) => args.iter().collect(),
            _ => Vec::new(),
        };
        list.into_iter()
    }

    fn uses_line(&self) -> bool {
        matches!(self.kind, Kind::Line | Kind::Field(_) | Kind::FieldOf(_))
            || self.children().any(Node::uses_line)
    }

    fn uses_whole_line(&self) -> bool {
        matches!(self.kind, Kind::Line | Kind::FieldOf(_))
            || self.children().any(Node::uses_whole_line)
    }
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
        let env = Env::new(self, ctx);
        match eval(&self.root, &env)? {
            Val::List(items) => items.into_iter().try_for_each(|v| each(&v.into_bytes())),
            other => each(&other.into_bytes()),
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
        // A bare `$0` of a line, `$value` or `$key` is the record's own bytes.
        match (&self.root.kind, ctx.record.key) {
            (Kind::Line, None) | (Kind::RecordValue, _) => return f(ctx.record.value),
            (Kind::RecordKey, Some(key)) => return f(key),
            _ => {}
        }
        let env = Env::new(self, ctx);
        f(&eval(&self.root, &env)?.into_bytes())
    }

    /// The expression as written in the job file.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The value, if the expression needs no record (it was folded).
    pub fn constant(&self) -> Option<&Value> {
        match &self.root.kind {
            Kind::Const(v) => Some(v),
            _ => None,
        }
    }
}

/// What one evaluation reads.
struct Env<'a> {
    record: RecordRef<'a>,
    file: &'a str,
    sep: Option<u8>,
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
        let split_pair =
            ctx.sep == Some(b'\t') && ctx.record.key.is_some_and(|k| !k.contains(&b'\t'));
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

fn eval<'e>(node: &'e Node, env: &'e Env<'_>) -> Result<Val<'e>, String> {
    match &node.kind {
        Kind::Const(v) => Ok(Val::from_value(v)),
        Kind::Line => Ok(Val::Str(Cow::Borrowed(&env.line))),
        Kind::Field(n) => Ok(field(env, *n as usize)),
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
    if env.split_pair {
        let value = env.record.value;
        return match (n, env.record.key) {
            (1, Some(key)) => Val::Str(Cow::Borrowed(key)),
            _ => Val::Str(Cow::Borrowed(&value[bytes::field(value, n - 1, env.sep)])),
        };
    }
    let range = bytes::field(&env.line, n, env.sep);
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
            let mut out = Vec::new();
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::lexer::tokenize;
    use crate::job::parser::{parse, Stmt};
    use crate::record::Record;
    use crate::rng::Rng;

    fn params() -> BTreeMap<String, String> {
        [("pattern", "err"), ("n", "3"), ("word", "abc")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn compile_in(src: &str, scope: Scope) -> Result<Expr, JobError> {
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
        };
        compile(value, &cx).map(|(e, _)| e)
    }

    fn compile_str(src: &str) -> Expr {
        compile_in(src, Scope::Record { keyed: true }).unwrap_or_else(|e| panic!("{src}: {e:?}"))
    }

    #[test]
    fn fields_of_a_pair_split_on_tabs_match_splitting_its_line() {
        let tab = Some(b'\t');
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

    fn eval_on(src: &str, record: &Record, sep: Option<u8>) -> Result<Value, String> {
        let ctx = RecordCtx {
            record: record.as_ref(),
            file: "dir/part-1.txt",
            sep,
        };
        compile_str(src).eval(&ctx)
    }

    fn ev(src: &str, line: &[u8]) -> Result<Value, String> {
        eval_on(src, &Record::line(line.to_vec()), None)
    }

    fn s(v: &str) -> Value {
        Value::Str(v.as_bytes().to_vec())
    }

    fn static_error(src: &str) -> String {
        match compile_in(src, Scope::Record { keyed: false }) {
            Ok(e) => panic!("{src} compiled: {e:?}"),
            Err(e) => format!("{}:{}: {}", e.line, e.col, e.message),
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
        assert_eq!(eval_on("$2", &csv, Some(b',')), Ok(s(" b")));
        assert_eq!(eval_on("$3", &csv, Some(b',')), Ok(s("")));
        assert_eq!(eval_on("$4", &csv, Some(b',')), Ok(s("c")));
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
    /// (space, \t, \n, \x0c, \r; not \x0b) and gives no empty words.
    #[test]
    fn split_on_whitespace() {
        let words = |line: &[u8]| match ev("split($0)", line) {
            Ok(Value::List(items)) => items.into_iter().map(Value::into_bytes).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        let want = |w: &[&[u8]]| w.iter().map(|w| w.to_vec()).collect::<Vec<_>>();
        assert_eq!(
            words(b" \t a\tb\nc\x0cd\re\x0bf  \r\n"),
            want(&[b"a", b"b", b"c", b"d", b"e\x0bf"])
        );
        assert_eq!(words(b""), want(&[]));
        assert_eq!(words(b" \t\r\n\x0c"), want(&[]));
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

    #[test]
    fn static_checks() {
        let cases = [
            ("contain($0, \"x\")", "1:5: unknown function `contain` (did you mean `contains`?)"),
            ("substr($0)", "1:5: `substr` takes 2 or 3 arguments, got 1 (usage: substr(s, start) or substr(s, start, length))"),
            ("concat()", "1:5: `concat` takes at least 1 argument, got 0 (usage: concat(a, b, ...))"),
            ("lower($0, $1)", "1:5: `lower` takes 1 argument, got 2 (usage: lower(s))"),
            ("before($0)", "1:5: `before` takes 2 arguments, got 1 (usage: before(s, sep))"),
            ("after($0, \"a\", \"b\")", "1:5: `after` takes 2 arguments, got 3 (usage: after(s, sep))"),
            ("after(s=$0, \"x\")", "1:11: function `after` takes no named arguments (`s=`)"),
            ("befor($0, \"x\")", "1:5: unknown function `befor` (did you mean `before`?)"),
            ("before", "1:5: `before` is a function: call it as `before(...)`"),
            ("substr($0, \"x\")", "1:16: cannot use \"x\" as a number"),
            ("$1 + \"abc\"", "1:10: cannot use \"abc\" as a number"),
            ("$1 + true", "1:10: cannot use true as a number"),
            ("-split($0)", "1:6: cannot use a list as a number"),
            ("$1 and true", "1:5: `and` needs true or false, got a string (compare it, e.g. `$1 == \"yes\"`)"),
            ("not \"x\"", "1:9: `not` needs true or false, got \"x\" (compare it, e.g. `$1 == \"yes\"`)"),
            ("$1 + 1 == \"abc\"", "1:15: cannot use \"abc\" as a number"),
            ("$1[0]", "1:7: `[...]` needs a list, but this is a string (make a list with `split`)"),
            ("$key", "1:5: `$key` needs a dataset of key-value pairs (made by `map(key, value)` or a by-key operator); this dataset has plain lines"),
            ("$value", "1:5: `$value` needs a dataset of key-value pairs (made by `map(key, value)` or a by-key operator); this dataset has plain lines"),
            ("patern", "1:5: unknown name `patern` (did you mean `pattern`?)"),
            ("lines", "1:5: `lines` is a dataset; an expression can only use values (fields, params, literals)"),
            ("lower", "1:5: `lower` is a function: call it as `lower(...)`"),
            ("key", "1:5: unknown name `key` (did you mean `$key`?)"),
            ("$0.lower()", "1:8: `.lower(...)` is a dataset operator and cannot be used inside an expression; use functions here, e.g. `lower($0)`"),
            ("read_text(\"x\")", "1:5: `read_text` makes a dataset and cannot be used inside an expression"),
            ("split($0, \"\")", "1:15: the separator of `split` must not be empty"),
            ("contains(s=$0, \"x\")", "1:14: function `contains` takes no named arguments (`s=`)"),
        ];
        for (src, want) in cases {
            assert_eq!(static_error(src), want, "{src}");
        }
        let constant = |src| match compile_in(
            src,
            Scope::Const {
                what: "the path of `save`",
            },
        ) {
            Ok(e) => format!("OK {:?}", e.constant()),
            Err(e) => format!("{}:{}: {}", e.line, e.col, e.message),
        };
        assert_eq!(
            constant("concat(pattern, \"/\", n)"),
            "OK Some(Str([101, 114, 114, 47, 51]))"
        );
        assert_eq!(constant("upper(substr(word, 1))"), "OK Some(Str([66, 67]))");
        assert_eq!(
            constant("concat(\"a\", $1)"),
            "1:17: `$1` cannot be used in the path of `save`: it must be a constant (literals, params and functions of them)"
        );
        assert_eq!(
            constant("input_file()"),
            "1:5: `input_file()` cannot be used in the path of `save`: it must be a constant (literals, params and functions of them)"
        );
    }

    #[test]
    fn params_and_constants_are_folded() {
        let e = compile_str("contains($0, upper(pattern))");
        let Kind::Call(Func::Contains, args) = &e.root.kind else {
            panic!("{e:?}")
        };
        assert!(matches!(&args[1].kind, Kind::Const(Value::Str(v)) if v == b"ERR"));
        assert_eq!(e.text(), "contains($0, upper(pattern))");
        assert!(!compile_str("$key").uses_line);
        assert!(compile_str("$(1)").uses_line);
    }

    #[test]
    fn float_formatting_in_records() {
        assert_eq!(ev("str(1.0 * 2)", b""), Ok(s("2.0")));
        assert_eq!(ev("str($1 / 4.0)", b"1"), Ok(s("0.25")));
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
            "lower", "upper", "trim", "split", "len", "int", "float", "str", "basename", "-",
            "not ",
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
            "[]",
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
                let sep = [None, Some(b','), Some(b'a')][rng.below(3) as usize];
                let ctx = RecordCtx {
                    record: record.as_ref(),
                    file: "x/y",
                    sep,
                };
                let _ = expr.eval(&ctx);
                let _ = expr.eval_bool(&ctx);
            }
        }
        assert!(compiled > 500, "only {compiled} expressions compiled");
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
