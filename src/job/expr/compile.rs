//! The static check: `compile` turns a parsed `Syn` into an `Expr` and
//! does every check that needs no record: names, function arities, types
//! of constants, `$key` on an unkeyed dataset, `$0` where a constant is
//! required. Params become constants, and any subtree made only of
//! constants is computed right away by the evaluator (so `lower(pattern)`
//! runs once, not once per record). In a branch of `if` that the condition
//! may not choose, a constant that fails to compute is kept as it is, to
//! fail at run time only if it is chosen.
//!
//! Folding runs on the master while it admits a job, so it is budgeted like
//! any shared resource: a constant string may not exceed
//! `MAX_CONSTANT_BYTES` (`replace(replace(s, "a", "aaaa"), "a", "aaaa")`
//! grows fourfold per level), and all of a job's folds together are
//! charged against `MAX_CONSTANT_WORK` before and after each one runs.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use super::eval::{eval, Env};
use super::tree::function_names;
use super::tree::Want::{Bool, Integer, Number, Text};
use super::tree::{BinOp, Expr, Func, FuncInfo, Kind, Node, Ty, UnOp, FUNCS};
use crate::job::error::{did_you_mean, JobError};
use crate::job::parser::{Arg, Syn, SynKind};
use crate::job::value::{Num, Val, Value};
use crate::job::Column;

/// Longest string a constant may compute to (1 MiB).
pub(super) const MAX_CONSTANT_BYTES: usize = 1024 * 1024;

/// Most work computing all of a job's constants may take, counted in bytes
/// copied or compared (256 Mi: well under a second).
const MAX_CONSTANT_WORK: u64 = 256 * 1024 * 1024;

/// Where an expression is used, which decides what it may refer to.
#[derive(Debug, Clone, Copy)]
pub(in crate::job) enum Scope<'a> {
    /// Evaluated per record of a dataset (`keyed`: its records are pairs).
    Record { keyed: bool },
    /// Evaluated once when the job is bound; `what` names the argument in
    /// errors, e.g. "the path of `save`".
    Const { what: &'a str },
}

/// Everything `compile` needs to know about the job around an expression.
pub(in crate::job) struct Context<'a> {
    pub source: &'a str,
    pub params: &'a BTreeMap<String, String>,
    /// Names of datasets, so using one as a value gets a clear message.
    pub datasets: &'a [&'a str],
    pub scope: Scope<'a>,
    /// Work spent on constants so far, by every `compile` of the job;
    /// bounded by `MAX_CONSTANT_WORK`.
    pub work: &'a Cell<u64>,
    /// The header columns named so far over this dataset's `read_csv`
    /// (with `header=true`), which `$name` adds to; `None` where records
    /// have no header, and `$name` is an error.
    pub columns: Option<&'a RefCell<Vec<Column>>>,
}

/// Checks `syn` and turns it into an `Expr`; also returns its static type.
///
/// # Errors
/// Unknown names and functions, wrong argument counts, values of the wrong
/// type, record references where a constant is required, at their place.
pub(in crate::job) fn compile(syn: &Syn, cx: &Context) -> Result<(Expr, Ty), JobError> {
    let text = cx.source.get(syn.start..syn.end).unwrap_or("").to_string();
    let compiler = Compiler {
        cx,
        base: syn.start,
        text: &text,
        lenient: Cell::new(0),
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
    /// How many branches of `if` that may not be chosen enclose the node
    /// being compiled. Inside one, a constant that fails to compute is left
    /// to fail at run time, only if its branch is chosen:
    /// `if(n == "0", 0, 10 / int(n))` is fine with `n` = "0".
    lenient: Cell<u32>,
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
            SynKind::Column(name) => {
                let shown = self.cx.source.get(syn.start..syn.end).unwrap_or(name);
                self.record_only(syn, shown)?;
                let Some(columns) = self.cx.columns else {
                    return Err(JobError::at(
                        syn.span,
                        format!("`{shown}` names a column of a CSV header: it needs a dataset read by `read_csv(path, header=true)`, or a `filter` of one"),
                    ));
                };
                let mut columns = columns.borrow_mut();
                let index = match columns.iter().position(|c| c.name == *name) {
                    Some(i) => i,
                    None => {
                        columns.push(Column {
                            name: name.clone(),
                            span: syn.span,
                        });
                        columns.len() - 1
                    }
                };
                Ok((self.at(syn, Kind::Column(index as u32)), Ty::Str))
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

    fn call(&self, syn: &Syn, name: &str, args: &[Arg]) -> Result<(Node, Ty), JobError> {
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
        if info.func == Func::If {
            return self.if_call(syn, info, args);
        }
        let mut nodes = Vec::with_capacity(args.len());
        let mut tys = Vec::with_capacity(args.len());
        for (i, arg) in args.iter().enumerate() {
            let (node, ty) = self.node(&arg.value)?;
            self.want(info, i, &arg.value, &node, ty)?;
            nodes.push(node);
            tys.push(ty);
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
        let ty = result_ty(info, &tys);
        self.fold(syn, Kind::Call(info.func, nodes), ty)
    }

    /// Checks argument `i` of a call of `info` against what it must be.
    fn want(
        &self,
        info: &FuncInfo,
        i: usize,
        syn: &Syn,
        node: &Node,
        ty: Ty,
    ) -> Result<(), JobError> {
        let want = info
            .wants
            .get(i)
            .or(info.wants.last())
            .copied()
            .unwrap_or(Text);
        match want {
            Text => Ok(()),
            Number => self.want_number(syn, node, ty),
            Bool => self.want_bool(syn, node, ty, &format!("`{}`", info.name)),
            Integer => {
                self.want_number(syn, node, ty)?;
                let bad = match (&node.kind, ty) {
                    (Kind::Const(v), _) => {
                        let int = matches!(Val::from_value(v).to_num(), Some(Num::Int(_)));
                        (!int).then(|| v.describe())
                    }
                    (_, Ty::Float) => Some(ty.article().to_string()),
                    _ => None,
                };
                match bad {
                    Some(shown) => Err(JobError::at(
                        syn.span,
                        format!(
                            "`{}` needs an integer as argument {}, got {shown} (usage: {})",
                            info.name,
                            i + 1,
                            info.usage
                        ),
                    )),
                    None => Ok(()),
                }
            }
        }
    }

    /// `if(cond, a, b)`. A constant condition picks its branch now; the
    /// other one is still checked, but compiled leniently (see `lenient`).
    fn if_call(&self, syn: &Syn, info: &FuncInfo, args: &[Arg]) -> Result<(Node, Ty), JobError> {
        let [cond, then, other] = args else {
            return Err(JobError::at(
                syn.span,
                arity_message(info.name, info, args.len()),
            ));
        };
        let (cond_node, cond_ty) = self.node(&cond.value)?;
        self.want(info, 0, &cond.value, &cond_node, cond_ty)?;
        let known = match cond_node.kind {
            Kind::Const(Value::Bool(b)) => Some(b),
            _ => None,
        };
        let (then_node, then_ty) = self.branch(&then.value, known == Some(true))?;
        let (other_node, other_ty) = self.branch(&other.value, known == Some(false))?;
        match known {
            Some(true) => Ok((then_node, then_ty)),
            Some(false) => Ok((other_node, other_ty)),
            None => {
                let ty = result_ty(info, &[cond_ty, then_ty, other_ty]);
                let kind = Kind::Call(Func::If, vec![cond_node, then_node, other_node]);
                Ok((self.at(syn, kind), ty))
            }
        }
    }

    /// A branch of `if`; one that is not surely chosen is compiled leniently.
    fn branch(&self, syn: &Syn, chosen: bool) -> Result<(Node, Ty), JobError> {
        if chosen {
            return self.node(syn);
        }
        self.lenient.set(self.lenient.get() + 1);
        let compiled = self.node(syn);
        self.lenient.set(self.lenient.get() - 1);
        compiled
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
        let env = Env::constant(self.text);
        let value = match eval(&node, &env) {
            Ok(value) => value.into_value(),
            // In a branch of `if` that may not be chosen: fail at run time.
            Err(_) if self.lenient.get() > 0 => return Ok((node, ty)),
            Err(message) => return Err(JobError::at(syn.span, message)),
        };
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

/// The static type of a call of `info` with arguments of types `args`.
fn result_ty(info: &FuncInfo, args: &[Ty]) -> Ty {
    let numeric = |ty: Ty| match ty {
        Ty::Int | Ty::Float => ty,
        _ => Ty::Num,
    };
    match (info.func, args) {
        // Both branches' type when they agree, a number when both are.
        (Func::If, [_, a, b]) if a == b => *a,
        (Func::If, [_, a, b]) => {
            let is_number = |t: &Ty| matches!(t, Ty::Int | Ty::Float | Ty::Num);
            if is_number(a) && is_number(b) {
                Ty::Num
            } else {
                Ty::Any
            }
        }
        // An integer stays an integer, a float a float.
        (Func::Abs, [x]) | (Func::Round, [x, _]) => numeric(*x),
        _ => info.returns,
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

#[cfg(test)]
mod tests {
    use super::super::tests::{compile_in, compile_str, static_error, type_of};
    use super::*;

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
    fn if_abs_and_round_are_checked() {
        let cases = [
            ("if($1, 1, 2)", "1:8: `if` needs true or false, got a string (compare it, e.g. `$1 == \"yes\"`)"),
            ("if(\"true\", 1, 2)", "1:8: `if` needs true or false, got \"true\" (compare it, e.g. `$1 == \"yes\"`)"),
            ("if(len($0), 1, 2)", "1:8: `if` needs true or false, got an integer (compare it, e.g. `$1 == \"yes\"`)"),
            ("if(true, 1)", "1:5: `if` takes 3 arguments, got 2 (usage: if(cond, a, b))"),
            ("if($1 == \"a\", 1, nope)", "1:22: unknown name `nope`"),
            ("if(false, $1 + \"x\", 2)", "1:20: cannot use \"x\" as a number"),
            ("abs(true)", "1:9: cannot use true as a number"),
            ("abs(\"x\")", "1:9: cannot use \"x\" as a number"),
            ("abs()", "1:5: `abs` takes 1 argument, got 0 (usage: abs(x))"),
            ("round(1, 2, 3)", "1:5: `round` takes 1 or 2 arguments, got 3 (usage: round(x) or round(x, digits))"),
            ("round($1, 1.5)", "1:15: `round` needs an integer as argument 2, got 1.5 (usage: round(x) or round(x, digits))"),
            ("round($1, \"2.0\")", "1:15: `round` needs an integer as argument 2, got \"2.0\" (usage: round(x) or round(x, digits))"),
            ("round($1, float($2))", "1:15: `round` needs an integer as argument 2, got a float (usage: round(x) or round(x, digits))"),
            ("round($1, \"two\")", "1:15: cannot use \"two\" as a number"),
            ("round(split($0))", "1:11: cannot use a list as a number"),
            // Constants that fail are still reported before anything runs...
            ("round(0.0 / 0.0)", "1:5: cannot round NaN to a 64-bit integer in `round(0.0 / 0.0)`"),
            ("abs(-9223372036854775807 - 1)", "1:5: integer overflow: -9223372036854775808 has no 64-bit absolute value in `abs(-9223372036854775807 - 1)`"),
            ("round(9223372036854775807, -1)", "1:5: integer overflow: 9223372036854775807 rounded to -1 digits is past the 64-bit range in `round(9223372036854775807, -1)`"),
            // ... also in the branch of `if` a constant condition chooses.
            ("if(n == \"4\", 0, 10 / (int(n) - 3))", "1:24: integer division by zero in `10 / (int(n) - 3)`"),
        ];
        for (src, want) in cases {
            assert_eq!(static_error(src), want, "{src}");
        }
    }

    /// A branch of `if` that may not be chosen fails only if it is.
    #[test]
    fn if_folds_the_chosen_branch_only() {
        let constant = |src| compile_str(src).constant().cloned();
        assert_eq!(constant("if(true, 1, 2)"), Some(Value::Int(1)));
        assert_eq!(constant("if(1 > 2, \"a\", 2.5)"), Some(Value::Float(2.5)));
        assert_eq!(
            constant("if(n == \"3\", 0, 10 / (int(n) - 3))"),
            Some(Value::Int(0))
        );
        assert_eq!(constant("if(n != \"3\", 1 / 0, 7)"), Some(Value::Int(7)));
        assert_eq!(constant("if(true, $1, 1)"), None);
        // The chosen branch is the whole expression.
        assert!(matches!(
            compile_str("if(true, $1, 1)").root.kind,
            Kind::Field(1)
        ));
        let e = compile_str("if($1 == \"\", 0, 1 / 0)");
        let Kind::Call(Func::If, args) = &e.root.kind else {
            panic!("{e:?}")
        };
        assert!(matches!(args[2].kind, Kind::Binary(BinOp::Div, _, _)));
    }

    #[test]
    fn result_types_follow_the_arguments() {
        let cases = [
            ("if($1 == \"a\", 1, 2)", Ty::Int),
            ("if($1 == \"a\", 1, 2.5)", Ty::Num),
            ("if($1 == \"a\", int($2), $2 + 1)", Ty::Num),
            ("if($1 == \"a\", \"x\", $2)", Ty::Str),
            ("if($1 == \"a\", \"x\", 2)", Ty::Any),
            ("if($1 == \"a\", true, $2 == \"b\")", Ty::Bool),
            ("if(true, \"x\", 2)", Ty::Str),
            ("abs($1)", Ty::Num),
            ("abs(int($1))", Ty::Int),
            ("abs(float($1))", Ty::Float),
            ("round($1)", Ty::Int),
            ("round(2.5)", Ty::Int),
            ("round($1, 2)", Ty::Num),
            ("round(float($1), 2)", Ty::Float),
            ("round(int($1), -2)", Ty::Int),
            ("round(2.675, 2)", Ty::Float),
        ];
        for (src, want) in cases {
            assert_eq!(type_of(src), want, "{src}");
        }
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
}
