//! Datasets as RDD calls: each source and operator of a job written as
//! the PySpark that makes the same records, from the records of its input.
//!
//! ```text
//! read_text(p).map($1, $2).reduce_by_key(sum)   ->   read_text(args.p).map(lambda r: (field(r, 1), field(r, 2))).reduce_by_key(SUM)
//! ```
//!
//! Idea: a translation is exact only if it knows, at every step, how the
//! records are held: a line is `bytes`, a pair a `(key, value)` tuple, and
//! records that an `input_file()` further on needs travel as `(file,
//! record)` (`graph.rs` decides which). Each operator's piece takes its
//! input as it is held and makes its output as the next one wants it: a
//! `.values()` where the file is no longer needed, `line` where a `union`
//! of pairs and lines makes lines. The pieces keep the job line they are on,
//! so that the program's statement has the job's layout (`pyspark.rs`).

use super::graph::{File, Kind, NodeId, Split};
use super::pyspark::Writer;
use super::python::{self, bytes_literal, Fields, Py, Record, Scope, Ty};
use crate::job::syntax::{first_span, Syn, SynKind};
use crate::job::JobError;

impl<'s> Writer<'_, 's> {
    /// The Python of dataset `id` as one piece.
    pub(super) fn flat(&self, id: NodeId) -> Result<String, JobError> {
        Ok(self.chain(id)?.into_iter().map(|(_, t)| t).collect())
    }

    /// The Python of dataset `id`: a piece per source and operator, with
    /// the line it is on in the job.
    pub(super) fn chain(&self, id: NodeId) -> Result<Vec<(u32, String)>, JobError> {
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
}

/// `.values()` when the records carry their file and the next operator
/// wants the records alone.
pub(super) fn drop_file(carry: bool) -> &'static str {
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
