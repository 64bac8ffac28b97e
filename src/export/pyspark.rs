//! The PySpark program: a job file written out as a Python 3 program on
//! PySpark's RDD API, one Python statement per job statement.
//!
//! ```text
//! words  = read_text(input).flat_map(split($0))           words = read_text(args.input).flatMap(lambda r: split(r))
//! counts = words.map($0, 1).reduce_by_key(sum)      ->    counts = words.map(lambda r: (r, b"1")).reduce_by_key(SUM)
//! counts.save(output)                                     counts.save_text(args.output)
//! ```
//!
//! Idea: a source-to-source compiler keeps the reader's map of the program.
//! Each source and operator becomes the RDD call that computes the same
//! records (a method Spark has, or one of the few the runtime adds to RDDs:
//! `reduce_by_key`, `take_rdd`, `count_rdd`, `pipe_bytes`, `save_text`;
//! `rdd.rs` writes them), on the line of the job where the operator is, with that line's
//! comment; params become `--param` flags with the job's defaults; a
//! `repeat` becomes a Python `for` loop around its body. Statements keep
//! the file's order, except that a definition the file gives after its
//! first use moves up to before it (Python runs top to bottom; the job
//! language allows any order).

use std::collections::{BTreeMap, BTreeSet};

use super::comments::{closing_line, comments, line_of, Comment};
use super::graph::{BindingId, Graph, Item, Kind, NodeId};
use super::python::{self, str_literal};
use super::rdd::drop_file;
use crate::job::syntax::{first_span, Rounds, Span, Stmt};
use crate::job::{JobError, MAX_ROUNDS};

/// The runtime every exported program carries after its job.
pub(super) const PRELUDE: &str = include_str!("prelude.py");

/// How the runtime starts, in the program.
#[cfg(test)]
pub(super) const PRELUDE_FIRST_LINE: &str = "# The runtime: Mini-Spark's job language on PySpark";

/// Indentation of one level.
const INDENT: &str = "    ";

/// Writes the PySpark program of the job `source` (named `file`), whose
/// statements are `statements`; `params` are the defaults to give params
/// (the job's, or those given to the export).
///
/// # Errors
/// A construct that cannot be translated exactly, at its place.
pub(super) fn program(
    file: &str,
    source: &str,
    defaults: &BTreeMap<String, String>,
    statements: &[Stmt],
) -> Result<String, JobError> {
    let graph = Graph::build(statements)?;
    let writer = Writer::new(&graph, source, statements);
    let body = writer.job()?;
    let mut out = String::new();
    out.push_str("#!/usr/bin/env python3\n");
    out.push_str(&writer.docstring(file));
    out.push('\n');
    let header = writer.leading_comments(0, writer.first_line(), "");
    if !header.is_empty() {
        out.push_str(&header);
        out.push('\n');
    }
    out.push_str(&writer.params(defaults));
    out.push_str("\n\ndef job(args):\n");
    out.push_str(&body);
    out.push_str("\n\n");
    out.push_str(PRELUDE);
    out.push_str(&format!(
        "\n\nif __name__ == \"__main__\":\n{INDENT}main(job, PARAMS, {})\n",
        str_literal(file)
    ));
    Ok(out)
}

/// Writes the parts of one program.
pub(super) struct Writer<'g, 's> {
    pub(super) g: &'g Graph<'s>,
    comments: BTreeMap<u32, Comment>,
    /// Each top-level item's first and last line.
    lines: Vec<(u32, u32)>,
    /// Each binding's first and last line.
    binding_lines: Vec<(u32, u32)>,
    /// The Python name of each job name (a name Python or the runtime
    /// already uses gets a `_`).
    reserved: BTreeSet<String>,
}

impl<'g, 's> Writer<'g, 's> {
    fn new(g: &'g Graph<'s>, source: &'s str, statements: &'s [Stmt]) -> Writer<'g, 's> {
        let mut lines = Vec::new();
        let mut binding_lines = Vec::new();
        for stmt in statements {
            lines.push(stmt_lines(source, stmt));
            match stmt {
                Stmt::Define { .. } => binding_lines.push(stmt_lines(source, stmt)),
                Stmt::Repeat { body, .. } => {
                    for inner in body {
                        if let Stmt::Define { .. } = inner {
                            binding_lines.push(stmt_lines(source, inner));
                        }
                    }
                }
                _ => {}
            }
        }
        Writer {
            g,
            comments: comments(source),
            lines,
            binding_lines,
            reserved: reserved_names(),
        }
    }

    /// The first line of the first statement (the file's header comment
    /// is what comes before it).
    fn first_line(&self) -> u32 {
        self.lines.first().map_or(u32::MAX, |l| l.0)
    }

    fn docstring(&self, file: &str) -> String {
        let name = std::path::Path::new(file)
            .file_stem()
            .map_or("job".into(), |s| s.to_string_lossy().into_owned());
        let flags: Vec<String> = self
            .g
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Param { name, .. } => Some(format!("--param {name}=...")),
                _ => None,
            })
            .collect();
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", flags.join(" "))
        };
        format!(
            "\"\"\"{file}, exported to PySpark by `client export {file} --to pyspark`.\n\n\
             It computes what the job computes, on any Spark cluster, and saves each\n\
             output as Mini-Spark does: one line per record, `key<TAB>value` for a pair,\n\
             numbers printed the same way. It needs Python 3 and pyspark only:\n\n\
             {INDENT}python3 {name}.py{flags} [--master URL] [--overwrite]\n\
             {INDENT}spark-submit {name}.py{flags}\n\n\
             The job comes first, one Python statement per job statement; the\n\
             runtime that gives the job language's functions and operators their\n\
             exact meaning follows it.\n\"\"\"\n"
        )
    }

    /// `PARAMS = {...}`: each param with its default (`None`: required),
    /// and its comments.
    fn params(&self, defaults: &BTreeMap<String, String>) -> String {
        let mut out =
            String::from("# The job's params: --param NAME=VALUE sets one.\nPARAMS = {\n");
        for (i, item) in self.g.items.iter().enumerate() {
            let Item::Param {
                name,
                span,
                default,
            } = item
            else {
                continue;
            };
            out.push_str(&self.leading_comments(self.after_previous(i), span.line, INDENT));
            let value = match defaults.get(*name).map(String::as_str).or(*default) {
                Some(v) => str_literal(v),
                None => "None".to_string(),
            };
            let row = format!("{INDENT}{}: {value},", str_literal(name));
            out.push_str(&self.with_comment(row, span.line));
            out.push('\n');
        }
        if out.ends_with("{\n") {
            out.truncate(out.len() - 1);
        }
        out.push_str("}\n");
        out
    }

    /// The body of `job(args)`.
    fn job(&self) -> Result<String, JobError> {
        let order = self.order()?;
        let mut out = String::new();
        for &i in &order {
            let start = self.lines[i].0;
            let text = match &self.g.items[i] {
                Item::Param { .. } => continue,
                Item::Define(b) => self.define(*b, INDENT)?,
                Item::Save { node, path, .. } => {
                    let path = python::constant(path)?;
                    let mut chain = self.chain(*node)?;
                    let line = self.item_line(i);
                    chain.push((
                        line,
                        format!("{}.save_text({})", drop_file(self.g.rep(*node)), path.code),
                    ));
                    self.statement(None, &chain, self.lines[i], INDENT)
                }
                Item::Repeat { .. } => self.repeat(i)?,
            };
            let needed = match &self.g.items[i] {
                Item::Define(b) => self.g.needed[*b],
                Item::Repeat { body, .. } => body.iter().any(|&b| self.g.needed[b]),
                _ => true,
            };
            out.push_str(&self.leading_comments(self.after_previous(i), start, INDENT));
            if needed {
                out.push_str(&text);
            } else {
                out.push_str(&format!("{INDENT}# Not computed: no save needs it.\n"));
                for row in text.lines() {
                    let code = row.strip_prefix(INDENT).unwrap_or(row);
                    out.push_str(&format!("{INDENT}# {code}\n"));
                }
            }
        }
        // Comments after the last statement.
        let last = self.lines.last().map_or(0, |l| l.1);
        out.push_str(&self.leading_comments(last, u32::MAX, INDENT));
        Ok(out)
    }

    /// The line after which item `i`'s own comments start: the end of the
    /// statement before it in the file (the comments before the first
    /// statement are the file's header, written at the top).
    fn after_previous(&self, i: usize) -> u32 {
        match i.checked_sub(1) {
            Some(p) => self.lines[p].1,
            None => self.lines[0].0.saturating_sub(1),
        }
    }

    /// The line a top-level item's code is written at.
    fn item_line(&self, i: usize) -> u32 {
        match &self.g.items[i] {
            Item::Save { span, .. } => span.line,
            _ => self.lines[i].0,
        }
    }

    /// The order to write the top-level statements in: the file's, except
    /// that a statement goes after every statement whose definitions it
    /// reads.
    ///
    /// # Errors
    /// A statement that would need a name both as it was before a loop
    /// and as the loop left it.
    fn order(&self) -> Result<Vec<usize>, JobError> {
        let n = self.g.items.len();
        let deps: Vec<BTreeSet<usize>> = (0..n)
            .map(|i| {
                let mut reads = BTreeSet::new();
                for node in self.item_nodes(i) {
                    self.g.reads(node, &mut reads);
                }
                reads.remove(&i);
                reads
            })
            .collect();
        let mut done = vec![false; n];
        let mut order = Vec::with_capacity(n);
        while order.len() < n {
            let Some(next) = (0..n).find(|&i| !done[i] && deps[i].iter().all(|&d| done[d])) else {
                // `Job::parse` refuses cycles; write the rest as written.
                order.extend((0..n).filter(|&i| !done[i]));
                break;
            };
            self.check_versions(next, &done)?;
            done[next] = true;
            order.push(next);
        }
        Ok(order)
    }

    /// The nodes whose definitions top-level item `i` reads.
    fn item_nodes(&self, i: usize) -> Vec<NodeId> {
        match &self.g.items[i] {
            Item::Param { .. } => Vec::new(),
            Item::Define(b) => vec![self.g.bindings[*b].node],
            Item::Save { node, .. } => vec![*node],
            Item::Repeat { body, until, .. } => body
                .iter()
                .map(|&b| self.g.bindings[b].node)
                .chain(*until)
                .collect(),
        }
    }

    /// Refuses to write item `i` after a loop that reassigns a name it
    /// reads as it was before that loop: a Python name has one value.
    fn check_versions(&self, i: usize, done: &[bool]) -> Result<(), JobError> {
        let mut refs = Vec::new();
        for node in self.item_nodes(i) {
            self.refs(node, &mut refs);
        }
        for (name, producers, span) in refs {
            let [b] = producers[..] else { continue };
            if self.g.bindings[b].in_loop.is_some() {
                continue;
            }
            for (j, item) in self.g.items.iter().enumerate() {
                let Item::Repeat { body, span: at, .. } = item else {
                    continue;
                };
                let reassigns = body.iter().any(|&c| self.g.bindings[c].name == name);
                if done[j] && j != i && reassigns {
                    return Err(JobError::at(
                        span,
                        format!("this reads `{name}` as it was before the `repeat` at line {}, which the export must write before this statement (a Python name has one value at a time): give the value before the loop a name of its own", at.line),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The names in node `id`, with what they mean there.
    fn refs(&self, id: NodeId, out: &mut Vec<(&'s str, Vec<BindingId>, Span)>) {
        match &self.g.nodes[id].kind {
            Kind::Source { .. } => {}
            Kind::Reduce { input, .. } => self.refs(*input, out),
            Kind::Op { input, other, .. } => {
                self.refs(*input, out);
                if let Some(o) = other {
                    self.refs(*o, out);
                }
            }
            Kind::Ref { name, producers } => {
                out.push((name, producers.clone(), self.g.nodes[id].syn.span))
            }
        }
    }

    /// `name = dataset`, at `indent`.
    fn define(&self, b: BindingId, indent: &str) -> Result<String, JobError> {
        let binding = &self.g.bindings[b];
        let chain = self.chain(binding.node)?;
        Ok(self.statement(
            Some(&self.var(binding.name)),
            &chain,
            self.binding_lines[b],
            indent,
        ))
    }

    /// A `repeat` and its body: a Python `for` loop.
    fn repeat(&self, i: usize) -> Result<String, JobError> {
        let Item::Repeat {
            rounds,
            body,
            until,
            span,
            ..
        } = &self.g.items[i]
        else {
            return Ok(String::new());
        };
        let header = match rounds {
            Rounds::Fixed(count) => format!(
                "for _ in range({}):",
                python::count(
                    count,
                    "the round count of `repeat`",
                    0,
                    Some(u64::from(MAX_ROUNDS))
                )?
            ),
            Rounds::Until { max, .. } => {
                let max = match max {
                    Some(m) => python::count(
                        m,
                        "the `max` of `repeat until`",
                        1,
                        Some(u64::from(MAX_ROUNDS)),
                    )?,
                    None => crate::job::DEFAULT_MAX_ROUNDS.to_string(),
                };
                let target = until.map(|u| -> Result<String, JobError> {
                    Ok(format!("{}{}", self.flat(u)?, drop_file(self.g.rep(u))))
                });
                let target = target.transpose()?.unwrap_or_default();
                format!(
                    "for _ in until_unchanged(lambda: {target}, max_rounds={max}, line={}):",
                    span.line
                )
            }
        };
        let (start, end) = self.lines[i];
        let mut out = self.with_comment(format!("{INDENT}{header}"), start);
        out.push('\n');
        let inner = format!("{INDENT}{INDENT}");
        let mut previous = start;
        for &b in body {
            let (s, e) = self.binding_lines[b];
            out.push_str(&self.leading_comments(previous, s, &inner));
            out.push_str(&self.define(b, &inner)?);
            previous = e;
        }
        // Comments before and on the closing `}`.
        out.push_str(&self.leading_comments(previous, end, &inner));
        if let Some(c) = self.comments.get(&end).filter(|_| end > previous) {
            if !c.alone {
                out.push_str(&format!("{inner}#{}\n", c.text));
            }
        }
        Ok(out)
    }

    /// A statement from the fragments of its chain, each on the row of its
    /// job line, with that line's comment: one line, or several inside
    /// parentheses.
    fn statement(
        &self,
        var: Option<&str>,
        chain: &[(u32, String)],
        (start, end): (u32, u32),
        indent: &str,
    ) -> String {
        let assign = var.map_or(String::new(), |v| format!("{v} = "));
        let mut rows: BTreeMap<u32, String> = BTreeMap::new();
        for (line, text) in chain {
            let line = (*line).clamp(start, end.max(start));
            rows.entry(line).or_default().push_str(text);
        }
        let last_code = rows.keys().next_back().copied().unwrap_or(start);
        if rows.len() <= 1 {
            let code = rows.into_values().next().unwrap_or_default();
            let mut out = self.with_comment(format!("{indent}{assign}{code}"), start);
            out.push('\n');
            // Comments on the statement's other lines (arguments on lines
            // of their own) follow it.
            for line in start + 1..=end {
                if let Some(c) = self.comments.get(&line) {
                    out.push_str(&format!("{indent}#{}\n", c.text));
                }
            }
            return out;
        }
        let mut out = String::new();
        let first = rows.keys().next().copied().unwrap_or(start);
        for line in start..=end {
            let code = rows.get(&line);
            let row = match (code, line == first) {
                (Some(code), true) => format!("{indent}{assign}({code}"),
                (Some(code), false) => format!("{indent}{INDENT}{code}"),
                (None, _) => match self.comments.get(&line) {
                    Some(c) => format!("{indent}{INDENT}#{}", c.text),
                    None => continue,
                },
            };
            let row = if line == last_code {
                format!("{row})")
            } else {
                row
            };
            out.push_str(&if code.is_some() {
                self.with_comment(row, line)
            } else {
                row
            });
            out.push('\n');
        }
        out
    }

    /// `row` with the trailing comment of job line `line`, if it has one.
    fn with_comment(&self, row: String, line: u32) -> String {
        match self.comments.get(&line) {
            Some(c) if !c.alone => format!("{row}  #{}", c.text),
            _ => row,
        }
    }

    /// The comments alone on their lines after line `after` and before
    /// line `before`, at `indent`.
    fn leading_comments(&self, after: u32, before: u32, indent: &str) -> String {
        let mut out = String::new();
        for (line, c) in self.comments.range(after.saturating_add(1)..before) {
            if c.alone {
                let _ = line;
                out.push_str(&format!("{indent}#{}\n", c.text));
            }
        }
        out
    }

    /// The Python name of job name `name`.
    pub(super) fn var(&self, name: &str) -> String {
        if self.reserved.contains(name) {
            format!("{name}_")
        } else {
            name.to_string()
        }
    }
}

/// The first and last line of a statement.
fn stmt_lines(source: &str, stmt: &Stmt) -> (u32, u32) {
    match stmt {
        Stmt::Param { span, .. } => (span.line, span.line),
        Stmt::Define { span, value, .. } => (
            span.line,
            line_of(source, value.end.saturating_sub(1)).max(span.line),
        ),
        Stmt::Save { target, args, .. } => {
            let start = first_span(target).line;
            let after = args.iter().map(|a| a.value.end).max().unwrap_or(target.end);
            (start, closing_line(source, after, b')').max(start))
        }
        Stmt::Repeat { span, body, .. } => {
            let after = body
                .iter()
                .filter_map(|s| match s {
                    Stmt::Define { value, .. } => Some(value.end),
                    _ => None,
                })
                .max()
                .unwrap_or_else(|| offset_of(source, *span));
            (span.line, closing_line(source, after, b'}').max(span.line))
        }
    }
}

/// The byte offset of the start of `span`'s line.
fn offset_of(source: &str, span: Span) -> usize {
    let mut line = 1;
    for (at, b) in source.bytes().enumerate() {
        if line == span.line {
            return at;
        }
        if b == b'\n' {
            line += 1;
        }
    }
    source.len()
}

/// Names a job's dataset may not keep in Python: Python's reserved words,
/// and the names the runtime and the program use.
fn reserved_names() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = ["args", "range", "getattr", "math", "job", "PARAMS", "_"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for line in PRELUDE.lines() {
        let name = if let Some(rest) = line.strip_prefix("def ") {
            rest.split('(').next()
        } else if let Some(rest) = line.strip_prefix("class ") {
            rest.split([':', '(']).next()
        } else if line.starts_with(|c: char| c.is_ascii_alphabetic()) && line.contains(" = ") {
            line.split(" = ").next()
        } else {
            line.strip_prefix("import ")
        };
        if let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) {
            names.insert(name.to_string());
        }
    }
    names.into_iter().chain(python_keywords()).collect()
}

fn python_keywords() -> impl Iterator<Item = String> {
    [
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
        "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global",
        "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return",
        "try", "while", "with", "yield",
    ]
    .into_iter()
    .filter(|k| python::is_keyword(k))
    .map(String::from)
}
