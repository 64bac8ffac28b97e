//! The checked expression tree: what `compile` produces and `eval` walks.
//!
//! An `Expr` is a root `Node` plus the text it was written as. Unlike the
//! parser's `Syn`, every name in it is resolved (params are constants,
//! functions are `Func`s) and every subtree made only of constants is
//! already a value. Nodes hold byte ranges into `Expr::text` rather than
//! strings, so an error can quote the smallest failing part for free.
//! `FUNCS` is the one table of functions (name, arity, argument kinds,
//! result type, usage line), and `Ty` is an expression's type as far as it
//! is known before running.

use crate::job::value::Value;

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
    pub(super) root: Node,
    /// The expression as written in the job file.
    pub(super) text: String,
    /// Does it read `$0` or a field? If not, `$0` is never built.
    pub(super) uses_line: bool,
    /// Does it read `$0` itself or a computed field `$(n)`? If it reads only
    /// fixed fields of a pair split on tabs, `$0` need not be built either.
    pub(super) uses_whole_line: bool,
}

#[derive(Debug, Clone)]
pub(super) struct Node {
    pub(super) kind: Kind,
    /// Byte range of this node's text in `Expr::text`.
    pub(super) start: u32,
    pub(super) end: u32,
}

#[derive(Debug, Clone)]
pub(super) enum Kind {
    Const(Value),
    /// `$0`
    Line,
    /// `$n`, n >= 1
    Field(u32),
    /// `$name`: the column `i` of the source's `Op::ReadCsv::columns`,
    /// which `Expr::bind_columns` turns into the `Field` it is in a file.
    Column(u32),
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
pub(super) enum Func {
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
    If,
    Abs,
    Round,
}

/// What a function argument must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Want {
    /// Anything: it is used as its bytes.
    Text,
    /// A number, or a string that reads as one.
    Number,
    /// `true` or `false` (strings are not converted).
    Bool,
    /// An integer, or a string that reads as one (not `2.0`).
    Integer,
}

pub(super) struct FuncInfo {
    pub(super) name: &'static str,
    pub(super) func: Func,
    pub(super) min: usize,
    /// `usize::MAX` for variadic functions.
    pub(super) max: usize,
    /// Kinds of the arguments; the last one repeats.
    pub(super) wants: &'static [Want],
    /// The result type; `compile::result_ty` refines it for functions
    /// whose result type follows their arguments' (`abs`, `round`, `if`).
    pub(super) returns: Ty,
    pub(super) usage: &'static str,
}

use Want::{Bool, Integer, Number, Text};

#[rustfmt::skip]
pub(super) const FUNCS: &[FuncInfo] = &[
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
    FuncInfo { name: "if", func: Func::If, min: 3, max: 3, wants: &[Bool, Text], returns: Ty::Any, usage: "if(cond, a, b)" },
    FuncInfo { name: "abs", func: Func::Abs, min: 1, max: 1, wants: &[Number], returns: Ty::Num, usage: "abs(x)" },
    FuncInfo { name: "round", func: Func::Round, min: 1, max: 2, wants: &[Number, Integer], returns: Ty::Int, usage: "round(x) or round(x, digits)" },
];

/// Names of all functions, for "did you mean" suggestions.
pub(in crate::job) fn function_names() -> Vec<&'static str> {
    FUNCS.iter().map(|f| f.name).collect()
}

/// The static type of an expression, as far as it is known before running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::job) enum Ty {
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
    pub(super) fn of(v: &Value) -> Ty {
        match v {
            Value::Str(_) => Ty::Str,
            Value::Int(_) => Ty::Int,
            Value::Float(_) => Ty::Float,
            Value::Bool(_) => Ty::Bool,
            Value::List(_) => Ty::List,
        }
    }

    pub(in crate::job) fn article(self) -> &'static str {
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

impl Node {
    pub(super) fn children(&self) -> impl Iterator<Item = &Node> {
        let list: Vec<&Node> = match &self.kind {
            Kind::FieldOf(a) | Kind::Unary(_, a) => vec![a],
            Kind::Binary(_, a, b) | Kind::Index(a, b) => vec![a, b],
            Kind::Call(_, args) => args.iter().collect(),
            _ => Vec::new(),
        };
        list.into_iter()
    }

    pub(super) fn uses_line(&self) -> bool {
        matches!(
            self.kind,
            Kind::Line | Kind::Field(_) | Kind::Column(_) | Kind::FieldOf(_)
        ) || self.children().any(Node::uses_line)
    }

    fn bind_columns(&mut self, fields: &[u32]) {
        match &mut self.kind {
            Kind::Column(i) => {
                if let Some(&n) = fields.get(*i as usize) {
                    self.kind = Kind::Field(n);
                }
            }
            Kind::FieldOf(a) | Kind::Unary(_, a) => a.bind_columns(fields),
            Kind::Binary(_, a, b) | Kind::Index(a, b) => {
                a.bind_columns(fields);
                b.bind_columns(fields);
            }
            Kind::Call(_, args) => args.iter_mut().for_each(|a| a.bind_columns(fields)),
            _ => {}
        }
    }

    pub(super) fn uses_whole_line(&self) -> bool {
        matches!(self.kind, Kind::Line | Kind::FieldOf(_))
            || self.children().any(Node::uses_whole_line)
    }
}

impl Expr {
    /// The expression as written in the job file.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Turns each `$name` into the field it is in one file's header:
    /// `fields[i]` is the field number of column `i` of the source's
    /// `columns`. A column without an entry stays, and fails if evaluated.
    pub fn bind_columns(&mut self, fields: &[u32]) {
        self.root.bind_columns(fields);
    }

    /// Is the expression `$0`, the whole record as a line?
    pub fn is_line(&self) -> bool {
        matches!(self.root.kind, Kind::Line)
    }

    /// The value, if the expression needs no record (it was folded).
    pub fn constant(&self) -> Option<&Value> {
        match &self.root.kind {
            Kind::Const(v) => Some(v),
            _ => None,
        }
    }
}
