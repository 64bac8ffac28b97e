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
//! `reduce_by_key`, `take_rdd`, `count_rdd`, `pipe_bytes`, `save_text`),
//! written on the line of the job where the operator is, with that line's
//! comment; params become `--param` flags with the job's defaults; a
//! `repeat` becomes a Python `for` loop around its body. Statements keep
//! the file's order, except that a definition the file gives after its
//! first use moves up to before it (Python runs top to bottom; the job
//! language allows any order).

use std::collections::{BTreeMap, BTreeSet};

use super::comments::{closing_line, comments, line_of, Comment};
use super::graph::{BindingId, File, Graph, Item, Kind, NodeId, Split};
use super::python::{self, bytes_literal, str_literal, Fields, Py, Record, Scope, Ty};
use crate::job::syntax::{first_span, Rounds, Span, Stmt, Syn, SynKind};
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
struct Writer<'g, 's> {
    g: &'g Graph<'s>,
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

    /// The Python of dataset `id` as one piece.
    fn flat(&self, id: NodeId) -> Result<String, JobError> {
        Ok(self.chain(id)?.into_iter().map(|(_, t)| t).collect())
    }

    /// The Python of dataset `id`: a piece per source and operator, with
    /// the line it is on in the job.
    fn chain(&self, id: NodeId) -> Result<Vec<(u32, String)>, JobError> {
        let node = &self.g.nodes[id];
        let line = node.syn.span.line;
        match &node.kind {
            Kind::Ref { name, .. } => Ok(vec![(line, self.var(name))]),
            Kind::Source { name, slots } => Ok(vec![(line, self.source_call(id, name, slots)?)]),
            Kind::Reduce {
                input,
                aggs,
                partitions,
            } => {
                let mut chain = self.chain(*input)?;
                let mut list = Vec::new();
                for agg in aggs {
                    list.push(self.aggregator(agg)?);
                }
                if let Some(p) = partitions {
                    list.push(format!(
                        "numPartitions={}",
                        self.partitions(p, "reduce_by_key")?
                    ));
                }
                chain.push((
                    line,
                    format!(
                        "{}.reduce_by_key({})",
                        drop_file(self.g.rep(*input)),
                        list.join(", ")
                    ),
                ));
                Ok(chain)
            }
            Kind::Op {
                name,
                slots,
                input,
                other,
            } => {
                let mut chain = self.chain(*input)?;
                let text = self.operator(id, name, slots, *input, *other, &mut chain)?;
                chain.push((line, text));
                Ok(chain)
            }
        }
    }

    /// `read_text(...)` or `read_csv(...)`.
    fn source_call(
        &self,
        id: NodeId,
        name: &str,
        slots: &[Option<&Syn>],
    ) -> Result<String, JobError> {
        let mut args = Vec::new();
        if let Some(Some(path)) = slots.first() {
            args.push(python::constant(path)?.code);
        }
        let splits_at = if name == "read_csv" { 3 } else { 1 };
        if name == "read_csv" {
            if let Some(Some(sep)) = slots.get(1) {
                args.push(format!("sep={}", python::constant(sep)?.code));
            }
            if let Some(Some(header)) = slots.get(2) {
                args.push(format!(
                    "header={}",
                    python::flag(Some(header), "the `header` flag of `read_csv`", false)?
                ));
            }
        }
        if let Some(Some(splits)) = slots.get(splits_at) {
            args.push(format!(
                "splits={}",
                python::count(splits, &format!("the split count of `{name}`"), 1, None)?
            ));
        }
        if name == "read_csv" {
            if let Some(Some(quotes)) = slots.get(4) {
                args.push(format!(
                    "quotes={}",
                    python::flag(Some(quotes), "the `quotes` flag of `read_csv`", true)?
                ));
            }
        }
        let named = self.named_columns(id);
        if !named.is_empty() {
            let list: Vec<String> = named.iter().map(|c| bytes_literal(c.as_bytes())).collect();
            args.push(format!("columns=[{}]", list.join(", ")));
        }
        if self.g.carries[id] {
            args.push("with_file=True".into());
        }
        Ok(format!("{name}({})", args.join(", ")))
    }

    /// The columns expressions name (`$age`) over the lines of `read_csv`
    /// node `source`, in the order first named.
    fn named_columns(&self, source: NodeId) -> Vec<&'s str> {
        let mut named = Vec::new();
        for node in &self.g.nodes {
            if let Kind::Op { slots, input, .. } = &node.kind {
                if self.g.shapes[*input].split == Split::Csv(source) {
                    for s in slots.iter().flatten() {
                        python::columns(s, &mut named);
                    }
                }
            }
        }
        named
    }

    /// One aggregator of `reduce_by_key`.
    fn aggregator(&self, syn: &Syn) -> Result<String, JobError> {
        match &syn.kind {
            SynKind::Name(name) => Ok(name.to_uppercase()),
            SynKind::Call { args, .. } => {
                let sep = args
                    .first()
                    .map(|a| &a.value)
                    .ok_or_else(|| JobError::at(syn.span, "`concat` needs a separator"))?;
                let sep = python::constant(sep)?;
                Ok(format!("CONCAT({})", text_of(&sep)))
            }
            _ => Err(JobError::at(first_span(syn), "expected an aggregator")),
        }
    }

    fn partitions(&self, syn: &Syn, op: &str) -> Result<String, JobError> {
        python::count(syn, &format!("the partition count of `{op}`"), 1, None)
    }

    /// The Python of operator `name` applied to dataset `input` (whose
    /// chain is `chain`, which a `union` may adapt).
    fn operator(
        &self,
        id: NodeId,
        name: &str,
        slots: &[Option<&Syn>],
        input: NodeId,
        other: Option<NodeId>,
        chain: &mut [(u32, String)],
    ) -> Result<String, JobError> {
        let cin = self.g.rep(input);
        let cout = self.g.carries[id];
        let drop = drop_file(cin);
        let slot = |i: usize| slots.get(i).copied().flatten();
        let numbered = |i: usize, op: &str| -> Result<String, JobError> {
            match slot(i) {
                Some(p) => Ok(format!("numPartitions={}", self.partitions(p, op)?)),
                None => Ok(String::new()),
            }
        };
        Ok(match name {
            "filter" => {
                let (var, scope) = self.scope(input, cin);
                let cond = self.record_expr(slot(0), &scope)?;
                let keep = if cin && !cout { ".values()" } else { "" };
                format!(".filter(lambda {var}: {}){keep}", cond.truth())
            }
            "map" => {
                let (var, scope) = self.scope(input, cin);
                let out = match (slot(0), slot(1)) {
                    (Some(k), Some(v)) => format!(
                        "({}, {})",
                        self.record_expr(Some(k), &scope)?.text(),
                        self.record_expr(Some(v), &scope)?.text()
                    ),
                    (Some(v), None) | (None, Some(v)) => self.record_expr(Some(v), &scope)?.text(),
                    (None, None) => {
                        return Err(JobError::at(
                            self.g.nodes[id].syn.span,
                            "`map` needs a value",
                        ))
                    }
                };
                if cout {
                    format!(".map(lambda {var}: (fr[0], {out}))")
                } else {
                    format!(".map(lambda {var}: {out})")
                }
            }
            "flat_map" => {
                let (var, scope) = self.scope(input, cin);
                let list = self.record_expr(slot(0), &scope)?;
                let made = match slot(1) {
                    Some(v) => {
                        let value = self.record_expr(Some(v), &scope)?;
                        format!("pairs({}, lambda: {})", list.code, value.code)
                    }
                    None if is_split(slot(0)) => list.code,
                    None => format!("items({})", list.code),
                };
                if cout {
                    format!(".flatMap(lambda {var}: [(fr[0], x) for x in {made}])")
                } else {
                    format!(".flatMap(lambda {var}: {made})")
                }
            }
            "cache" | "persist" => format!("{drop}.{name}()"),
            "pipe" => {
                let command = self.const_arg(slot(0), id)?;
                format!("{drop}.pipe_bytes({})", command.code)
            }
            "group_by_key" => {
                format!(
                    "{drop}.groupByKey({}).mapValues(joined)",
                    numbered(0, name)?
                )
            }
            "join" | "left_join" => {
                let other = self.other(other, id, true, false)?;
                let method = if name == "join" {
                    "join"
                } else {
                    "leftOuterJoin"
                };
                let parts = numbered(1, name)?;
                let parts = if parts.is_empty() {
                    parts
                } else {
                    format!(", {parts}")
                };
                format!("{drop}.{method}({other}{parts}).mapValues(tabbed)")
            }
            "distinct" => format!("{drop}.distinct({})", numbered(0, name)?),
            "sort_by_key" => {
                let order = self.sort_key(id, slot(1), slot(2), None)?;
                let parts = numbered(0, name)?;
                let parts = if parts.is_empty() {
                    parts
                } else {
                    format!(", {parts}")
                };
                format!("{drop}.sortBy({order}{parts})")
            }
            "sort_by" => {
                let order = self.sort_key(id, slot(1), slot(2), Some((input, slot(0))))?;
                let parts = numbered(3, name)?;
                let parts = if parts.is_empty() {
                    parts
                } else {
                    format!(", {parts}")
                };
                format!("{drop}.sortBy({order}{parts})")
            }
            "take" => {
                let n = match slot(0) {
                    Some(n) => python::count(n, "the count of `take`", 0, Some(i64::MAX as u64))?,
                    None => "0".into(),
                };
                format!("{drop}.take_rdd({n})")
            }
            "count" => format!("{drop}.count_rdd()"),
            "union" => {
                let keyed = self.g.shapes[id].keyed;
                if let Some(last) = chain.last_mut() {
                    last.1
                        .push_str(&adapt(self.g.shapes[input].keyed, cin, keyed, cout));
                }
                let right = self.other(other, id, keyed, cout)?;
                format!(".union({right})")
            }
            other => {
                return Err(JobError::at(
                    self.g.nodes[id].syn.span,
                    format!("the export does not know the operator `{other}`"),
                ))
            }
        })
    }

    /// The Python of the other dataset of a join or union, made to hold
    /// pairs (`keyed`) or lines, with or without their file (`carry`).
    fn other(
        &self,
        other: Option<NodeId>,
        id: NodeId,
        keyed: bool,
        carry: bool,
    ) -> Result<String, JobError> {
        let Some(o) = other else {
            return Err(JobError::at(
                self.g.nodes[id].syn.span,
                "expected a dataset",
            ));
        };
        let code = self.flat(o)?;
        let adapted = adapt(self.g.shapes[o].keyed, self.g.rep(o), keyed, carry);
        Ok(format!("{code}{adapted}"))
    }

    /// The key function of a sort: by key then value (`sort_by_key`), or
    /// by `expr`'s value then the record (`sort_by`).
    fn sort_key(
        &self,
        id: NodeId,
        numeric: Option<&Syn>,
        descending: Option<&Syn>,
        by: Option<(NodeId, Option<&Syn>)>,
    ) -> Result<String, JobError> {
        let op = if by.is_some() {
            "sort_by"
        } else {
            "sort_by_key"
        };
        let numeric = python::flag(numeric, &format!("the `numeric` flag of `{op}`"), false)?;
        let descending = python::flag(
            descending,
            &format!("the `descending` flag of `{op}`"),
            false,
        )?;
        let order = |value: &Py| -> String {
            let desc = if descending == "False" {
                String::new()
            } else if descending == "True" {
                ", descending=True".into()
            } else {
                format!(", descending={descending}")
            };
            match numeric.as_str() {
                "True" => format!("number_order({}{desc})", value.code),
                "False" if desc.is_empty() => value.text(),
                "False" => format!("text_order({}{desc})", value.text()),
                n => format!("sort_order({}, numeric={n}{desc})", value.code),
            }
        };
        match by {
            None => {
                let key = Py::atom("kv[0]", Ty::Str);
                if numeric == "False" && descending == "False" {
                    return Ok("lambda kv: kv".into());
                }
                let tie = if numeric == "False" { "" } else { ", kv[0]" };
                Ok(format!("lambda kv: ({}{tie}, kv[1])", order(&key)))
            }
            Some((input, expr)) => {
                let (var, scope) = self.scope(input, false);
                let value = self.record_expr(expr, &scope)?;
                let record = scope.record.as_ref().map_or("r".into(), Record::line);
                let _ = id;
                Ok(format!("lambda {var}: ({}, {record})", order(&value)))
            }
        }
    }

    /// A constant argument of node `id`.
    fn const_arg(&self, syn: Option<&Syn>, id: NodeId) -> Result<Py, JobError> {
        match syn {
            Some(s) => python::constant(s),
            None => Err(JobError::at(
                self.g.nodes[id].syn.span,
                "a constant is missing",
            )),
        }
    }

    /// A record expression, in `scope`.
    fn record_expr(&self, syn: Option<&Syn>, scope: &Scope) -> Result<Py, JobError> {
        let Some(syn) = syn else {
            return Ok(Py::atom("b\"\"", Ty::Str));
        };
        python::expr(syn, scope)
    }

    /// The lambda's parameter and the scope of expressions over the
    /// records of `input`, carried with their file when `carry`.
    fn scope(&self, input: NodeId, carry: bool) -> (&'static str, Scope) {
        let shape = self.g.shapes[input];
        let (var, record) = match (shape.keyed, carry) {
            (false, false) => ("r", Record::Line("r".into())),
            (true, false) => ("kv", Record::Pair("kv".into())),
            (false, true) => ("fr", Record::Line("fr[1]".into())),
            (true, true) => ("fr", Record::Pair("fr[1]".into())),
        };
        let fields = match shape.split {
            Split::Space => Fields::Space,
            Split::Tab => Fields::Tab,
            Split::Csv(source) => self.csv_fields(source),
        };
        let file = match (carry, shape.file) {
            (true, File::Known) => "fr[0]".to_string(),
            _ => "b\"\"".to_string(),
        };
        let carried = carry.then(|| "fr".to_string());
        (
            var,
            Scope {
                record: Some(record),
                fields,
                file,
                carried,
            },
        )
    }

    /// How the fields of `read_csv` node `source`'s lines split.
    fn csv_fields(&self, source: NodeId) -> Fields {
        let Kind::Source { slots, .. } = &self.g.nodes[source].kind else {
            return Fields::Space;
        };
        let sep = slots
            .get(1)
            .copied()
            .flatten()
            .and_then(|s| python::constant(s).ok())
            .map_or(bytes_literal(b","), |p| text_of(&p));
        let quotes = python::flag(
            slots.get(4).copied().flatten(),
            "the `quotes` flag of `read_csv`",
            true,
        )
        .unwrap_or_else(|_| "True".into());
        Fields::Csv { sep, quotes }
    }

    /// The Python name of job name `name`.
    fn var(&self, name: &str) -> String {
        if self.reserved.contains(name) {
            format!("{name}_")
        } else {
            name.to_string()
        }
    }
}

/// `.values()` when the records carry their file and the next operator
/// wants the records alone.
fn drop_file(carry: bool) -> &'static str {
    if carry {
        ".values()"
    } else {
        ""
    }
}

/// What turns records that are pairs or not (`keyed`), with their file or
/// not (`carry`), into the records a `union` makes.
fn adapt(keyed: bool, carry: bool, want_keyed: bool, want_carry: bool) -> String {
    let mut out = String::new();
    let mut carry = carry;
    if carry && !want_carry {
        out.push_str(".values()");
        carry = false;
    }
    if keyed && !want_keyed {
        out.push_str(if carry {
            ".map(lambda fr: (fr[0], line(fr[1])))"
        } else {
            ".map(line)"
        });
    }
    if want_carry && !carry {
        out.push_str(".map(lambda r: (b\"\", r))");
    }
    out
}

/// The Python code of a constant as bytes.
fn text_of(p: &Py) -> String {
    p.text()
}

/// Is the expression a call of `split`, whose elements are already bytes?
fn is_split(syn: Option<&Syn>) -> bool {
    matches!(syn.map(|s| &s.kind), Some(SynKind::Call { name, .. }) if name == "split")
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
