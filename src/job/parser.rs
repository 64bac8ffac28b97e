//! The parser: tokens to statements, by recursive descent.
//!
//! The parser knows the grammar and nothing of meaning: `read_text(p)`,
//! `contains($0, p)` and `concat(",")` are all just calls, `lines` and `sum`
//! are just names. The dataset graph (`graph.rs`, with `operators.rs`) and
//! the expression checker (`expr/compile.rs`) decide what each one is, by
//! where it appears.
//!
//! ```text
//! file      := { [statement] NEWLINE }
//! statement := "param" NAME [ "=" ["-"] (STRING | NUMBER) ]
//!            | NAME "=" expr
//!            | expr                       (must end in `.save(...)`)
//!            | "repeat" rounds "{" NEWLINE { [statement] NEWLINE } "}"
//! rounds    := expr | "until" expr [ "max" expr ]
//! expr      := or
//! or        := and { ("or" | "||") and }
//! and       := not { ("and" | "&&") not }
//! not       := ("not" | "!") not | compare
//! compare   := sum [ ("==" | "!=" | "<" | "<=" | ">" | ">=") sum ]
//! sum       := product { ("+" | "-") product }
//! product   := unary { ("*" | "/" | "%") unary }
//! unary     := "-" unary | postfix
//! postfix   := primary { "[" expr "]" | "." NAME "(" args ")" }
//! primary   := STRING | NUMBER | "true" | "false" | "$"N | "$key" | "$value"
//!            | "$(" expr ")" | NAME [ "(" args ")" ] | "(" expr ")"
//! args      := [ arg { "," arg } [","] ]
//! arg       := [ NAME "=" ] expr
//! ```
//!
//! Trees are limited to `MAX_DEPTH` levels, so no input can make the later
//! recursive passes (or dropping the tree) overflow the stack.

use super::error::JobError;
use super::expr::{BinOp, UnOp};
use super::lexer::{describe, Span, Tok, Token};

/// Deepest syntax tree accepted (nesting, and length of operator chains).
pub(crate) const MAX_DEPTH: u32 = 200;

/// Deepest nesting of parentheses, calls, `not` and `-` accepted. Each level
/// is a dozen parser frames, so this bounds the parser's own stack use.
pub(crate) const MAX_NESTING: u32 = 64;

/// A node of the syntax tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Syn {
    pub kind: SynKind,
    /// Where errors about this node point: the operator of a binary
    /// expression, the name of a call, else the first token.
    pub span: Span,
    /// Byte range of the whole expression in the source.
    pub start: usize,
    pub end: usize,
    /// Levels below and including this node.
    pub depth: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SynKind {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Name(String),
    /// `$0`, `$1`, ...
    Field(u32),
    Key,
    Value,
    /// `$name`, `$"col name"`: a column of a CSV header.
    Column(String),
    /// `$(expr)`
    FieldOf(Box<Syn>),
    /// `name(args)`
    Call {
        name: String,
        args: Vec<Arg>,
    },
    /// `recv.name(args)`; the node's span is that of `name`.
    Method {
        recv: Box<Syn>,
        name: String,
        args: Vec<Arg>,
    },
    Unary(UnOp, Box<Syn>),
    Binary(BinOp, Box<Syn>, Box<Syn>),
    /// `list[index]`
    Index(Box<Syn>, Box<Syn>),
}

impl SynKind {
    /// The direct children of a node.
    pub(crate) fn children(&self) -> impl Iterator<Item = &Syn> {
        let (boxed, args): (Vec<&Syn>, &[Arg]) = match self {
            SynKind::FieldOf(e) | SynKind::Unary(_, e) => (vec![e], &[]),
            SynKind::Binary(_, a, b) | SynKind::Index(a, b) => (vec![a, b], &[]),
            SynKind::Call { args, .. } => (vec![], args),
            SynKind::Method { recv, args, .. } => (vec![recv], args),
            _ => (vec![], &[]),
        };
        boxed.into_iter().chain(args.iter().map(|a| &a.value))
    }
}

/// One argument of a call: positional, or `name=value`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Arg {
    pub name: Option<(String, Span)>,
    pub value: Syn,
}

/// One statement of a job file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Stmt {
    /// `param name [= default]`; a number default is kept as written.
    Param {
        name: String,
        span: Span,
        default: Option<String>,
    },
    /// `name = expr`
    Define {
        name: String,
        span: Span,
        value: Syn,
    },
    /// `target.save(args)`; `span` is that of `save`.
    Save {
        target: Syn,
        args: Vec<Arg>,
        span: Span,
    },
    /// `repeat COUNT { ... }` or `repeat until COND [max N] { ... }`;
    /// `span` is that of `repeat`.
    Repeat {
        span: Span,
        rounds: Rounds,
        body: Vec<Stmt>,
    },
}

/// How many rounds a `repeat` runs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Rounds {
    /// `repeat COUNT`: a constant number of rounds.
    Fixed(Syn),
    /// `repeat until COND max N`: until the condition holds after a round,
    /// at most `max` rounds.
    Until { cond: Syn, max: Option<Syn> },
}

/// Parses a whole job file.
///
/// # Errors
/// The first syntax error, at its place.
pub(crate) fn parse(source: &str, tokens: &[Token]) -> Result<Vec<Stmt>, JobError> {
    let mut parser = Parser {
        src: source,
        tokens,
        pos: 0,
        nesting: 0,
    };
    let mut statements = Vec::new();
    loop {
        match parser.peek() {
            Tok::Eof => return Ok(statements),
            Tok::Newline => {
                parser.pos += 1;
            }
            _ => {
                statements.push(parser.statement()?);
                match parser.peek() {
                    Tok::Newline | Tok::Eof => {}
                    other => {
                        return Err(JobError::at(
                            parser.token().span,
                            format!(
                                "expected the end of the statement, found {}",
                                describe(other)
                            ),
                        ))
                    }
                }
            }
        }
    }
}

struct Parser<'t> {
    src: &'t str,
    tokens: &'t [Token],
    pos: usize,
    /// Nested `expr`, `not` and `-` calls now on the stack.
    nesting: u32,
}

impl Parser<'_> {
    /// The current token; the last token (`Eof`) repeats forever.
    fn token(&self) -> &Token {
        let last = self.tokens.len().saturating_sub(1);
        &self.tokens[self.pos.min(last)]
    }

    fn peek(&self) -> &Tok {
        &self.token().tok
    }

    fn peek_second(&self) -> Option<&Tok> {
        self.tokens.get(self.pos + 1).map(|t| &t.tok)
    }

    fn advance(&mut self) -> Token {
        let token = self.token().clone();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        token
    }

    /// Byte offset where the previous token ended.
    fn prev_end(&self) -> usize {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .map_or(0, |t| t.end)
    }

    fn expect(&mut self, tok: Tok, context: &str) -> Result<Token, JobError> {
        if *self.peek() == tok {
            Ok(self.advance())
        } else {
            Err(self.unexpected(&format!("{} {context}", describe(&tok))))
        }
    }

    fn unexpected(&self, expected: &str) -> JobError {
        JobError::at(
            self.token().span,
            format!("expected {expected}, found {}", describe(self.peek())),
        )
    }

    /// Makes a node from its parts, refusing trees deeper than `MAX_DEPTH`.
    fn node(&self, kind: SynKind, span: Span, start: usize) -> Result<Syn, JobError> {
        let depth = 1 + kind.children().map(|c| c.depth).max().unwrap_or(0);
        if depth > MAX_DEPTH {
            return Err(JobError::at(
                span,
                format!("expression nested too deeply (more than {MAX_DEPTH} levels)"),
            ));
        }
        Ok(Syn {
            kind,
            span,
            start,
            end: self.prev_end(),
            depth,
        })
    }

    fn statement(&mut self) -> Result<Stmt, JobError> {
        if *self.peek() == Tok::Param {
            return self.param();
        }
        if matches!(self.peek(), Tok::Ident(w) if w == "repeat")
            && self.peek_second() != Some(&Tok::Assign)
        {
            return self.repeat(false);
        }
        if let (Tok::Ident(name), Some(Tok::Assign)) = (self.peek(), self.peek_second()) {
            let name = name.clone();
            let span = self.advance().span;
            self.advance();
            let value = self.expr()?;
            return Ok(Stmt::Define { name, span, value });
        }
        let expr = self.expr()?;
        match expr.kind {
            SynKind::Method { recv, name, args } if name == "save" => Ok(Stmt::Save {
                target: *recv,
                args,
                span: expr.span,
            }),
            _ => Err(JobError::at(
                first_span(&expr),
                "a statement must be `param NAME = value`, `NAME = dataset` or `dataset.save(path)`",
            )),
        }
    }

    /// `repeat ... { ... }`, `repeat` next. `repeat` is a word only here,
    /// at the start of a statement, so a dataset or param may still be
    /// called `repeat`; so are `until` and `max` (an aggregator's name).
    fn repeat(&mut self, inside: bool) -> Result<Stmt, JobError> {
        let span = self.advance().span;
        if inside {
            return Err(JobError::at(
                span,
                "a `repeat` cannot be inside another `repeat`",
            ));
        }
        let rounds = if matches!(self.peek(), Tok::Ident(w) if w == "until") {
            self.advance();
            let cond = self.expr()?;
            let max = if matches!(self.peek(), Tok::Ident(w) if w == "max") {
                self.advance();
                Some(self.expr()?)
            } else {
                None
            };
            Rounds::Until { cond, max }
        } else {
            if *self.peek() == Tok::LBrace {
                return Err(self.unexpected(
                    "how many rounds: `repeat COUNT {` or `repeat until unchanged(DATASET) {`",
                ));
            }
            Rounds::Fixed(self.expr()?)
        };
        let open = self
            .expect(Tok::LBrace, "to open the body of `repeat`")?
            .span;
        if *self.peek() != Tok::Newline {
            return Err(
                self.unexpected("the end of the line after `{` (the body starts on the next line)")
            );
        }
        let mut body = Vec::new();
        loop {
            match self.peek() {
                Tok::Newline => {
                    self.advance();
                }
                Tok::RBrace => {
                    self.advance();
                    break;
                }
                Tok::Eof => return Err(JobError::at(open, "this `{` is never closed")),
                Tok::Ident(w) if w == "repeat" && self.peek_second() != Some(&Tok::Assign) => {
                    return self.repeat(true);
                }
                _ => {
                    body.push(self.statement()?);
                    if *self.peek() != Tok::Newline {
                        return Err(self.unexpected(
                            "the end of the statement (`}` goes on a line of its own)",
                        ));
                    }
                }
            }
        }
        Ok(Stmt::Repeat { span, rounds, body })
    }

    fn param(&mut self) -> Result<Stmt, JobError> {
        self.advance();
        let token = self.advance();
        let Tok::Ident(name) = token.tok else {
            return Err(JobError::at(
                token.span,
                format!(
                    "expected a param name after `param`, found {}",
                    describe(&token.tok)
                ),
            ));
        };
        if *self.peek() != Tok::Assign {
            return Ok(Stmt::Param {
                name,
                span: token.span,
                default: None,
            });
        }
        self.advance();
        let negative = *self.peek() == Tok::Minus;
        if negative {
            self.advance();
        }
        let value = self.advance();
        let default = match value.tok {
            Tok::Str(s) if !negative => s,
            Tok::Int(_) | Tok::Float(_) => {
                let digits = &self.src[value.start..value.end];
                if negative {
                    format!("-{digits}")
                } else {
                    digits.to_string()
                }
            }
            other => {
                return Err(JobError::at(
                    value.span,
                    format!(
                        "the default of param `{name}` must be a string or a number, found {}",
                        describe(&other)
                    ),
                ))
            }
        };
        Ok(Stmt::Param {
            name,
            span: token.span,
            default: Some(default),
        })
    }

    fn expr(&mut self) -> Result<Syn, JobError> {
        self.nested(Self::or)
    }

    /// Runs `parse` one level deeper, refusing to recurse past `MAX_NESTING`
    /// levels (the check on finished nodes comes too late for `((((...`).
    fn nested(&mut self, parse: fn(&mut Self) -> Result<Syn, JobError>) -> Result<Syn, JobError> {
        if self.nesting >= MAX_NESTING {
            return Err(JobError::at(
                self.token().span,
                format!("expression nested too deeply (more than {MAX_NESTING} levels)"),
            ));
        }
        self.nesting += 1;
        let result = parse(self);
        self.nesting -= 1;
        result
    }

    /// Left-associative binary levels: `next` parses the operands, `ops`
    /// maps tokens to operators.
    fn binary_level(
        &mut self,
        next: fn(&mut Self) -> Result<Syn, JobError>,
        ops: fn(&Tok) -> Option<BinOp>,
    ) -> Result<Syn, JobError> {
        let mut lhs = next(self)?;
        while let Some(op) = ops(self.peek()) {
            let span = self.advance().span;
            let rhs = next(self)?;
            let start = lhs.start;
            lhs = self.node(
                SynKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                span,
                start,
            )?;
        }
        Ok(lhs)
    }

    fn or(&mut self) -> Result<Syn, JobError> {
        self.binary_level(Self::and, |t| (*t == Tok::Or).then_some(BinOp::Or))
    }

    fn and(&mut self) -> Result<Syn, JobError> {
        self.binary_level(Self::not, |t| (*t == Tok::And).then_some(BinOp::And))
    }

    fn not(&mut self) -> Result<Syn, JobError> {
        if *self.peek() != Tok::Not {
            return self.compare();
        }
        let token = self.advance();
        let operand = self.nested(Self::not)?;
        self.node(
            SynKind::Unary(UnOp::Not, Box::new(operand)),
            token.span,
            token.start,
        )
    }

    fn compare(&mut self) -> Result<Syn, JobError> {
        let lhs = self.sum()?;
        self.no_assign()?;
        let Some(op) = compare_op(self.peek()) else {
            return Ok(lhs);
        };
        let span = self.advance().span;
        let rhs = self.sum()?;
        self.no_assign()?;
        if compare_op(self.peek()).is_some() {
            return Err(JobError::at(
                self.token().span,
                "comparisons cannot be chained; combine them with `and`",
            ));
        }
        let start = lhs.start;
        self.node(
            SynKind::Binary(op, Box::new(lhs), Box::new(rhs)),
            span,
            start,
        )
    }

    /// Refuses an `=` after an operand. `NAME =` at the start of a
    /// statement or of an argument is taken before an expression begins, so
    /// an `=` here is a comparison mistyped: `filter($1 = "x")`.
    fn no_assign(&self) -> Result<(), JobError> {
        if *self.peek() != Tok::Assign {
            return Ok(());
        }
        Err(JobError::at(
            self.token().span,
            "`=` is not a comparison; did you mean `==`?",
        ))
    }

    fn sum(&mut self) -> Result<Syn, JobError> {
        self.binary_level(Self::product, |t| match t {
            Tok::Plus => Some(BinOp::Add),
            Tok::Minus => Some(BinOp::Sub),
            _ => None,
        })
    }

    fn product(&mut self) -> Result<Syn, JobError> {
        self.binary_level(Self::unary, |t| match t {
            Tok::Star => Some(BinOp::Mul),
            Tok::Slash => Some(BinOp::Div),
            Tok::Percent => Some(BinOp::Rem),
            _ => None,
        })
    }

    fn unary(&mut self) -> Result<Syn, JobError> {
        if *self.peek() != Tok::Minus {
            return self.postfix();
        }
        let token = self.advance();
        let operand = self.nested(Self::unary)?;
        self.node(
            SynKind::Unary(UnOp::Neg, Box::new(operand)),
            token.span,
            token.start,
        )
    }

    fn postfix(&mut self) -> Result<Syn, JobError> {
        let mut expr = self.primary()?;
        loop {
            match self.peek() {
                Tok::LBracket => {
                    let span = self.advance().span;
                    let index = self.expr()?;
                    self.expect(Tok::RBracket, "to close `[`")?;
                    let start = expr.start;
                    expr =
                        self.node(SynKind::Index(Box::new(expr), Box::new(index)), span, start)?;
                }
                Tok::Dot => {
                    self.advance();
                    let token = self.advance();
                    let Tok::Ident(name) = token.tok else {
                        return Err(JobError::at(
                            token.span,
                            format!(
                                "expected an operator name after `.`, found {}",
                                describe(&token.tok)
                            ),
                        ));
                    };
                    self.expect(Tok::LParen, &format!("after `.{name}`"))?;
                    let args = self.args()?;
                    let start = expr.start;
                    let recv = Box::new(expr);
                    expr = self.node(SynKind::Method { recv, name, args }, token.span, start)?;
                }
                _ => return Ok(expr),
            }
        }
    }

    /// Arguments after `(`, through the closing `)`.
    fn args(&mut self) -> Result<Vec<Arg>, JobError> {
        let mut args = Vec::new();
        loop {
            if *self.peek() == Tok::RParen {
                self.advance();
                return Ok(args);
            }
            let name = match (self.peek(), self.peek_second()) {
                (Tok::Ident(name), Some(Tok::Assign)) => {
                    let name = name.clone();
                    let span = self.advance().span;
                    self.advance();
                    Some((name, span))
                }
                _ => None,
            };
            let value = self.expr()?;
            args.push(Arg { name, value });
            match self.peek() {
                Tok::Comma => {
                    self.advance();
                }
                Tok::RParen => {}
                _ => return Err(self.unexpected("`,` or `)` in the argument list")),
            }
        }
    }

    fn primary(&mut self) -> Result<Syn, JobError> {
        let token = self.advance();
        let leaf = |kind| Syn {
            kind,
            span: token.span,
            start: token.start,
            end: token.end,
            depth: 1,
        };
        match token.tok {
            Tok::Str(ref s) => Ok(leaf(SynKind::Str(s.clone()))),
            Tok::Int(n) => Ok(leaf(SynKind::Int(n))),
            Tok::Float(x) => Ok(leaf(SynKind::Float(x))),
            Tok::True => Ok(leaf(SynKind::Bool(true))),
            Tok::False => Ok(leaf(SynKind::Bool(false))),
            Tok::Field(n) => Ok(leaf(SynKind::Field(n))),
            Tok::Key => Ok(leaf(SynKind::Key)),
            Tok::Value => Ok(leaf(SynKind::Value)),
            Tok::Column(ref name) => Ok(leaf(SynKind::Column(name.clone()))),
            Tok::DollarParen => {
                let index = self.expr()?;
                self.expect(Tok::RParen, "to close `$(`")?;
                self.node(SynKind::FieldOf(Box::new(index)), token.span, token.start)
            }
            Tok::LParen => {
                let inner = self.expr()?;
                self.expect(Tok::RParen, "to close `(`")?;
                // Parentheses only group: keep the inner node, widened to
                // cover them so `text()` shows them.
                self.node(inner.kind, inner.span, token.start)
            }
            Tok::Ident(ref name) => {
                if *self.peek() != Tok::LParen {
                    return Ok(leaf(SynKind::Name(name.clone())));
                }
                self.advance();
                let args = self.args()?;
                let name = name.clone();
                self.node(SynKind::Call { name, args }, token.span, token.start)
            }
            other => Err(JobError::at(
                token.span,
                format!("expected an expression, found {}", describe(&other)),
            )),
        }
    }
}

fn compare_op(tok: &Tok) -> Option<BinOp> {
    match tok {
        Tok::Eq => Some(BinOp::Eq),
        Tok::Ne => Some(BinOp::Ne),
        Tok::Lt => Some(BinOp::Lt),
        Tok::Le => Some(BinOp::Le),
        Tok::Gt => Some(BinOp::Gt),
        Tok::Ge => Some(BinOp::Ge),
        _ => None,
    }
}

/// The span of the leftmost token of `syn` (its own span may be an operator's).
pub(crate) fn first_span(syn: &Syn) -> Span {
    match &syn.kind {
        SynKind::Binary(_, lhs, _) | SynKind::Index(lhs, _) => first_span(lhs),
        SynKind::Method { recv, .. } => first_span(recv),
        _ => syn.span,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::lexer::tokenize;

    fn parse_str(src: &str) -> Result<Vec<Stmt>, JobError> {
        parse(src, &tokenize(src)?)
    }

    fn expr_of(src: &str) -> Syn {
        match parse_str(&format!("x = {src}")).unwrap().remove(0) {
            Stmt::Define { value, .. } => value,
            other => panic!("{other:?}"),
        }
    }

    /// The tree as a Lisp-like string, to check shape and precedence.
    fn show(s: &Syn) -> String {
        match &s.kind {
            SynKind::Str(v) => format!("{v:?}"),
            SynKind::Int(n) => n.to_string(),
            SynKind::Float(x) => format!("{x:?}"),
            SynKind::Bool(b) => b.to_string(),
            SynKind::Name(n) => n.clone(),
            SynKind::Field(n) => format!("${n}"),
            SynKind::Key => "$key".into(),
            SynKind::Value => "$value".into(),
            SynKind::Column(name) => format!("${name:?}"),
            SynKind::FieldOf(e) => format!("$({})", show(e)),
            SynKind::Call { name, args } => format!("{name}({})", show_args(args)),
            SynKind::Method { recv, name, args } => {
                format!("{}.{name}({})", show(recv), show_args(args))
            }
            SynKind::Unary(op, e) => format!("({op:?} {})", show(e)),
            SynKind::Binary(op, a, b) => format!("({op:?} {} {})", show(a), show(b)),
            SynKind::Index(a, b) => format!("{}[{}]", show(a), show(b)),
        }
    }

    fn show_args(args: &[Arg]) -> String {
        let parts: Vec<String> = args
            .iter()
            .map(|a| match &a.name {
                Some((n, _)) => format!("{n}={}", show(&a.value)),
                None => show(&a.value),
            })
            .collect();
        parts.join(", ")
    }

    #[test]
    fn precedence() {
        let cases = [
            ("1 + 2 * 3", "(Add 1 (Mul 2 3))"),
            ("1 - 2 - 3", "(Sub (Sub 1 2) 3)"),
            ("not a == b and c or d", "(Or (And (Not (Eq a b)) c) d)"),
            ("-x[0] * 2", "(Mul (Neg x[0]) 2)"),
            ("!(a || b) && c", "(And (Not (Or a b)) c)"),
            ("$(1 + 1) % $key", "(Rem $((Add 1 1)) $key)"),
            ("split($0, \",\")[2]", "split($0, \",\")[2]"),
            ("a.f(1, n=2).g()", "a.f(1, n=2).g()"),
            ("read_text(p, splits=4)", "read_text(p, splits=4)"),
        ];
        for (src, want) in cases {
            assert_eq!(show(&expr_of(src)), want, "{src}");
        }
    }

    #[test]
    fn text_ranges_cover_the_expression() {
        let src = "x = (1 + $2)  * 3";
        let Stmt::Define { value, .. } = parse_str(src).unwrap().remove(0) else {
            panic!()
        };
        assert_eq!(&src[value.start..value.end], "(1 + $2)  * 3");
        let SynKind::Binary(_, lhs, _) = &value.kind else {
            panic!()
        };
        assert_eq!(&src[lhs.start..lhs.end], "(1 + $2)");
    }

    #[test]
    fn statements() {
        let stmts = parse_str(
            "param a = \"x\"\nparam b\nparam n = -4\nd = read_text(a)\n\nd.save(b) # out\n",
        )
        .unwrap();
        assert_eq!(stmts.len(), 5);
        assert!(matches!(&stmts[2], Stmt::Param { default: Some(d), .. } if d == "-4"));
        assert!(matches!(&stmts[1], Stmt::Param { default: None, .. }));
        assert!(matches!(&stmts[4], Stmt::Save { span, .. } if span.col == 3));
    }

    #[test]
    fn syntax_errors() {
        let cases = [
            ("x = (1 2)", 1, 8, "expected `)` to close `(`, found number 2"),
            ("x = 1 +", 1, 8, "expected an expression, found the end of the line"),
            ("x = a b", 1, 7, "expected the end of the statement, found name `b`"),
            ("x = a < b < c", 1, 11, "comparisons cannot be chained; combine them with `and`"),
            ("a.filter(x)", 1, 1, "a statement must be `param NAME = value`, `NAME = dataset` or `dataset.save(path)`"),
            ("param = 3", 1, 7, "expected a param name after `param`, found `=`"),
            ("param p = x", 1, 11, "the default of param `p` must be a string or a number, found name `x`"),
            ("x = f(1 2)", 1, 9, "expected `,` or `)` in the argument list, found number 2"),
            ("x = a.(1)", 1, 7, "expected an operator name after `.`, found `(`"),
            ("x = f($1 = 2)", 1, 10, "`=` is not a comparison; did you mean `==`?"),
            ("x = f(1 == $1 = 2)", 1, 15, "`=` is not a comparison; did you mean `==`?"),
        ];
        for (src, line, col, msg) in cases {
            let e = parse_str(src).unwrap_err();
            assert_eq!(
                (e.line, e.col, e.message.as_str()),
                (line, col, msg),
                "{src}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("x = {}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse_str(&deep).unwrap_err().message.contains("too deeply"));
        let long = format!("x = 1{}", " + 1".repeat(10_000));
        assert!(parse_str(&long).unwrap_err().message.contains("too deeply"));
        let chain = format!("x = a{}", ".f()".repeat(10_000));
        assert!(parse_str(&chain)
            .unwrap_err()
            .message
            .contains("too deeply"));
    }
}
