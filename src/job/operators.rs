//! What each source and operator takes, and the dataset it makes: the
//! parameter lists of the sources, the operators and `save` (`SOURCES`,
//! `OPERATORS`, `SAVE`), the aggregators of `reduce_by_key`, and the
//! construction of each one's `Op` from its bound arguments, with the
//! checks of its input (key-value pairs where it needs them) and of its
//! arguments' types. The graph (`graph.rs`) calls `source_call` and
//! `operator` for every call it meets; binding, record expressions and
//! constants are `args.rs`.

use super::args::{bind_args, named_after, sig, Sig};
use super::error::{did_you_mean, JobError};
use super::expr::{self, Ty};
use super::graph::{Graph, MAX_AGGREGATORS};
use super::lexer::Span;
use super::parser::{first_span, Arg, Syn, SynKind};
use super::{Aggregator, DatasetId, Op};

/// The sources: calls that read a dataset from files.
#[rustfmt::skip]
const SOURCES: &[Sig] = &[
    sig("read_text", &["path", "splits"], 1, true, "read_text(path) or read_text(path, splits=N)"),
    sig("read_csv", &["path", "sep", "header", "splits", "quotes"], 1, true, "read_csv(path, sep, header, splits=N, quotes=false)"),
];

/// The operators: methods of a dataset that make another.
#[rustfmt::skip]
const OPERATORS: &[Sig] = &[
    sig("filter", &["condition"], 1, false, "filter(condition)"),
    sig("map", &["key", "value"], 1, false, "map(value) or map(key, value)"),
    sig("flat_map", &["list", "value"], 1, false, "flat_map(list) or flat_map(keys, value)"),
    sig("pipe", &["command"], 1, true, "pipe(command)"),
    sig("reduce_by_key", &["aggregator", "partitions"], 1, true, "reduce_by_key(agg, ...), reduce_by_key(agg, ..., partitions=N) or reduce_by_key(agg, partitions)"),
    sig("group_by_key", &["partitions"], 0, true, "group_by_key() or group_by_key(partitions)"),
    sig("join", &["other", "partitions"], 1, true, "join(other) or join(other, partitions)"),
    sig("left_join", &["other", "partitions"], 1, true, "left_join(other) or left_join(other, partitions)"),
    sig("distinct", &["partitions"], 0, true, "distinct() or distinct(partitions)"),
    sig("sort_by_key", &["partitions", "numeric", "descending"], 0, true, "sort_by_key(), sort_by_key(partitions) or sort_by_key(partitions, numeric=true, descending=true)"),
    sig("sort_by", &["expr", "numeric", "descending", "partitions"], 1, true, "sort_by(expr) or sort_by(expr, numeric=true, descending=true, partitions=N)"),
    sig("take", &["n"], 1, false, "take(n)"),
    sig("count", &[], 0, false, "count()"),
    sig("union", &["other"], 1, false, "union(other)"),
    sig("cache", &[], 0, false, "cache()"),
    sig("persist", &[], 0, false, "persist()"),
];

/// `save`: a statement, not a dataset.
pub(super) const SAVE: Sig = sig("save", &["path"], 1, true, "save(path)");

/// The names of the aggregators of `reduce_by_key` (`concat` takes a
/// separator: `concat(",")`).
const AGGREGATORS: &[&str] = &["sum", "count", "min", "max", "mean", "first", "concat"];

/// Binds `args` to the parameters of the source, operator or `save` named
/// `name` (`None` for a name that is none of them), for the exporter
/// (`export/`), which reads a job as it is written.
pub(crate) fn bind_named<'a>(
    name: &str,
    args: &'a [Arg],
    at: Span,
) -> Option<Result<Vec<Option<&'a Syn>>, JobError>> {
    let sig = SOURCES
        .iter()
        .chain(OPERATORS)
        .chain([&SAVE])
        .find(|s| s.name == name)?;
    Some(bind_args(sig, args, at))
}

/// Is `name` an aggregator of `reduce_by_key`?
pub(crate) fn is_aggregator(name: &str) -> bool {
    AGGREGATORS.contains(&name)
}

impl<'s> Graph<'s> {
    /// The dataset a source call (`read_text(path)`) makes.
    pub(super) fn source_call(
        &mut self,
        syn: &'s Syn,
        name: &str,
        args: &'s [Arg],
    ) -> Result<DatasetId, JobError> {
        let Some(sig) = SOURCES.iter().find(|s| s.name == name) else {
            let message = if OPERATORS.iter().any(|o| o.name == name) {
                format!("`{name}` is an operator: apply it to a dataset, e.g. `lines.{name}(...)`")
            } else if expr::function_names().contains(&name) {
                format!("`{name}` is a function, not a dataset; use it inside an operator, e.g. `lines.filter({name}(...))`")
            } else {
                let sources: Vec<&str> = SOURCES.iter().map(|s| s.name).collect();
                format!("unknown source `{name}`{}", did_you_mean(name, &sources))
            };
            return Err(JobError::at(syn.span, message));
        };
        let slots = bind_args(sig, args, syn.span)?;
        let what = |arg: &str| format!("the {arg} of `{name}`");
        let path = self.const_str(slots[0], &what("path"))?;
        let op = if name == "read_text" {
            let splits = self.opt_count(slots[1], &what("split count"))?;
            Op::ReadText { path, splits }
        } else {
            let header = match slots[2] {
                Some(s) => self.const_bool(s, &what("`header` flag"))?,
                None => false,
            };
            let splits = self.opt_count(slots[3], &what("split count"))?;
            let quotes = match slots[4] {
                Some(s) => self.const_bool(s, &what("`quotes` flag"))?,
                None => true,
            };
            let sep = match slots[1] {
                Some(s) => self.const_sep(s, &what("separator"), quotes)?,
                None => b",".to_vec(),
            };
            Op::ReadCsv {
                path,
                sep,
                quotes,
                header,
                splits,
                columns: Vec::new(),
            }
        };
        self.push(op, false, syn.span)
    }

    /// The dataset `recv.name(args)` makes, after `recv`'s.
    pub(super) fn operator(
        &mut self,
        syn: &'s Syn,
        recv: &'s Syn,
        name: &str,
        args: &'s [Arg],
    ) -> Result<DatasetId, JobError> {
        let Some(sig) = OPERATORS.iter().find(|o| o.name == name) else {
            let message = if name == "save" {
                "`save` makes no dataset; write `dataset.save(path)` as a statement of its own"
                    .to_string()
            } else if expr::function_names().contains(&name) {
                format!("`{name}` is a function, not an operator; use it inside one, e.g. `.filter({name}(...))`")
            } else if SOURCES.iter().any(|s| s.name == name) {
                format!("`{name}` is a source; use it on its own, e.g. `lines = {name}(path)`")
            } else {
                let ops: Vec<&str> = OPERATORS.iter().map(|o| o.name).collect();
                format!("unknown operator `{name}`{}", did_you_mean(name, &ops))
            };
            return Err(JobError::at(syn.span, message));
        };
        let input = self.dataset(recv)?;
        if name == "reduce_by_key" {
            // A list of aggregators: bound by `reduce_args`, not `bind_args`.
            self.need_keyed(input, name, syn.span)?;
            let (aggs, partitions) = self.reduce_args(sig, args, syn.span)?;
            let op = Op::ReduceByKey {
                input,
                aggs,
                partitions,
            };
            return self.push(op, true, syn.span);
        }
        if name.starts_with("sort_by") {
            no_ascending(name, args)?;
        }
        let slots = bind_args(sig, args, syn.span)?;
        let keyed = self.datasets[input].keyed;
        let partitions =
            |g: &Self, i: usize| g.opt_count(slots[i], &format!("the partition count of `{name}`"));
        let (op, keyed) = match name {
            "filter" => {
                let pred_syn = slots[0].unwrap_or(syn);
                let (pred, ty) = self.record_expr(pred_syn, input)?;
                if !matches!(ty, Ty::Bool | Ty::Any) {
                    return Err(JobError::at(
                        first_span(pred_syn),
                        format!(
                            "the condition of `filter` must be true or false, but this is {}",
                            ty.article()
                        ),
                    ));
                }
                (Op::Filter { input, pred }, keyed)
            }
            "map" => {
                let (key, value) = match (slots[0], slots[1]) {
                    (Some(k), Some(v)) => (Some(self.record_expr(k, input)?.0), v),
                    (Some(v), None) | (None, Some(v)) => (None, v),
                    (None, None) => (None, syn),
                };
                let value = self.record_expr(value, input)?.0;
                let made_pairs = key.is_some();
                (Op::Map { input, key, value }, made_pairs)
            }
            "flat_map" => {
                let expr = self.record_expr(slots[0].unwrap_or(syn), input)?.0;
                let value = match slots[1] {
                    Some(v) => Some(self.record_expr(v, input)?.0),
                    None => None,
                };
                let made_pairs = value.is_some();
                (Op::FlatMap { input, expr, value }, made_pairs)
            }
            "pipe" => {
                let command = self.const_str(slots[0], "the command of `pipe`")?;
                (Op::Pipe { input, command }, false)
            }
            "group_by_key" => {
                self.need_keyed(input, name, syn.span)?;
                (
                    Op::GroupByKey {
                        input,
                        partitions: partitions(self, 0)?,
                    },
                    true,
                )
            }
            "join" | "left_join" => {
                self.need_keyed(input, name, syn.span)?;
                let other_syn = slots[0].unwrap_or(syn);
                let right = self.dataset(other_syn)?;
                self.need_keyed(right, name, first_span(other_syn))?;
                let partitions = partitions(self, 1)?;
                let left = input;
                let op = if name == "join" {
                    Op::Join {
                        left,
                        right,
                        partitions,
                    }
                } else {
                    Op::LeftJoin {
                        left,
                        right,
                        partitions,
                    }
                };
                (op, true)
            }
            "distinct" => (
                Op::Distinct {
                    input,
                    partitions: partitions(self, 0)?,
                },
                keyed,
            ),
            "sort_by_key" => {
                self.need_keyed(input, name, syn.span)?;
                named_after(sig, args, 1)?;
                let order = self.sort_order(name, slots[1], slots[2])?;
                let partitions = partitions(self, 0)?;
                let op = Op::SortByKey {
                    input,
                    partitions,
                    order,
                };
                (op, true)
            }
            // Caching a cached dataset keeps it once.
            "cache" | "persist" if matches!(self.datasets[input].op, Op::Cache { .. }) => {
                return Ok(input)
            }
            "cache" | "persist" => (Op::Cache { input }, keyed),
            "sort_by" => {
                named_after(sig, args, 1)?;
                let order = self.sort_order(name, slots[1], slots[2])?;
                let expr_syn = slots[0].unwrap_or(syn);
                let (expr, ty) = self.record_expr(expr_syn, input)?;
                if order.numeric && matches!(ty, Ty::Bool | Ty::List) {
                    return Err(JobError::at(
                        first_span(expr_syn),
                        format!(
                            "`sort_by(numeric=true)` sorts by a number, but this is {}",
                            ty.article()
                        ),
                    ));
                }
                let partitions = partitions(self, 3)?;
                let op = Op::SortBy {
                    input,
                    expr,
                    order,
                    partitions,
                };
                (op, keyed)
            }
            "take" => {
                let n = self.const_whole(slots[0], "the count of `take`")?;
                (Op::Take { input, n }, keyed)
            }
            "count" => (Op::Count { input }, false),
            _ => {
                let right = self.dataset(slots[0].unwrap_or(syn))?;
                let both = keyed && self.datasets[right].keyed;
                (Op::Union { left: input, right }, both)
            }
        };
        self.push(op, keyed, syn.span)
    }

    /// Refuses plain lines as the input `id` of `op`, which needs
    /// key-value pairs.
    fn need_keyed(&self, id: DatasetId, op: &str, at: Span) -> Result<(), JobError> {
        if self.datasets[id].keyed {
            return Ok(());
        }
        let which = match &self.datasets[id].name {
            Some(n) => format!("`{n}`"),
            None => "its input".to_string(),
        };
        Err(JobError::at(
            at,
            format!("`{op}` needs key-value pairs, but {which} has plain lines (make pairs with `map(key, value)`)"),
        ))
    }

    /// The arguments of `reduce_by_key`: one or more aggregators in order,
    /// then optionally the partition count, named (`partitions=N`) or as a
    /// last positional argument that is not an aggregator (so that
    /// `reduce_by_key(sum, 8)` and `reduce_by_key(sum, parts)` keep their
    /// meaning). `aggregator=A` names a single aggregator.
    fn reduce_args(
        &self,
        sig: &Sig,
        args: &'s [Arg],
        at: Span,
    ) -> Result<(Vec<Aggregator>, Option<u32>), JobError> {
        let usage = sig.usage;
        let mut aggs: Vec<&Syn> = Vec::new();
        let mut named_agg: Option<&Syn> = None;
        let mut named_parts: Option<&Syn> = None;
        for arg in args {
            let Some((key, span)) = &arg.name else {
                if named_agg.is_some() || named_parts.is_some() {
                    return Err(JobError::at(
                        first_span(&arg.value),
                        format!("a positional argument cannot follow a named one (usage: {usage})"),
                    ));
                }
                aggs.push(&arg.value);
                continue;
            };
            let slot = match key.as_str() {
                "aggregator" => &mut named_agg,
                "partitions" => &mut named_parts,
                _ => {
                    return Err(JobError::at(
                        *span,
                        format!(
                            "`reduce_by_key` has no argument named `{key}`{} (usage: {usage})",
                            did_you_mean(key, sig.params)
                        ),
                    ))
                }
            };
            if slot.is_some() || (key == "aggregator" && !aggs.is_empty()) {
                return Err(JobError::at(
                    *span,
                    format!("argument `{key}` of `reduce_by_key` is given twice"),
                ));
            }
            *slot = Some(&arg.value);
        }
        let mut partitions = named_parts;
        if let [_, .., last] = aggs[..] {
            if !self.is_aggregator(last, aggs.len() == 2)? {
                if partitions.is_some() {
                    return Err(JobError::at(
                        first_span(last),
                        "the partition count of `reduce_by_key` is given twice: here and as `partitions=`",
                    ));
                }
                partitions = aggs.pop();
            }
        }
        aggs.extend(named_agg);
        if aggs.is_empty() {
            return Err(JobError::at(
                at,
                format!("`reduce_by_key` needs at least one aggregator (usage: {usage})"),
            ));
        }
        if let Some(extra) = aggs.get(MAX_AGGREGATORS) {
            return Err(JobError::at(
                first_span(extra),
                format!("too many aggregators: `reduce_by_key` takes at most {MAX_AGGREGATORS}"),
            ));
        }
        let aggs = aggs
            .into_iter()
            .map(|syn| self.aggregator(syn))
            .collect::<Result<_, _>>()?;
        let partitions = self.opt_count(partitions, "the partition count of `reduce_by_key`")?;
        Ok((aggs, partitions))
    }

    /// Is this argument of `reduce_by_key`, after the first, an aggregator
    /// (else the partition count)? Aggregator names are, and so is a name
    /// that is neither an aggregator nor a param (a misspelt aggregator).
    /// `pair` is the two-argument form, where before several aggregators
    /// could be given a param named like an aggregator was the partition
    /// count: that is an error now rather than a silent change of meaning.
    fn is_aggregator(&self, syn: &Syn, pair: bool) -> Result<bool, JobError> {
        Ok(match &syn.kind {
            SynKind::Call { name, .. } => name == "concat",
            SynKind::Name(name) if AGGREGATORS.contains(&name.as_str()) => {
                if pair && self.params.contains_key(name) {
                    return Err(JobError::at(
                        syn.span,
                        format!("`{name}` is both an aggregator and a param here: write `partitions={name}` for the partition count, or rename the param"),
                    ));
                }
                true
            }
            SynKind::Name(name) => !self.params.contains_key(name),
            _ => false,
        })
    }

    /// One aggregator of `reduce_by_key`: a name, or `concat(SEP)`.
    fn aggregator(&self, syn: &Syn) -> Result<Aggregator, JobError> {
        let unknown = |name: &str| {
            JobError::at(
                syn.span,
                format!(
                    "unknown aggregator `{name}`{} (one of sum, count, min, max, mean, first, concat(SEP))",
                    did_you_mean(name, AGGREGATORS)
                ),
            )
        };
        match &syn.kind {
            SynKind::Name(name) => match name.as_str() {
                "sum" => Ok(Aggregator::Sum),
                "count" => Ok(Aggregator::Count),
                "min" => Ok(Aggregator::Min),
                "max" => Ok(Aggregator::Max),
                "mean" => Ok(Aggregator::Mean),
                "first" => Ok(Aggregator::First),
                "concat" => Err(JobError::at(
                    syn.span,
                    "`concat` needs a separator, e.g. `concat(\",\")`",
                )),
                other => Err(unknown(other)),
            },
            SynKind::Call { name, args } if name == "concat" => {
                let sig = sig("concat", &["sep"], 1, false, "concat(SEP)");
                let slots = bind_args(&sig, args, syn.span)?;
                let sep = self.const_str(slots[0], "the separator of `concat`")?;
                Ok(Aggregator::Concat(sep.into_bytes()))
            }
            SynKind::Call { name, .. } => Err(unknown(name)),
            _ => Err(JobError::at(
                first_span(syn),
                "expected an aggregator: sum, count, min, max, mean, first or concat(SEP)",
            )),
        }
    }
}

/// Spark's sorts take `ascending=False`; here it is `descending=true`.
fn no_ascending(op: &str, args: &[Arg]) -> Result<(), JobError> {
    match args.iter().find_map(|a| a.name.as_ref().filter(|(n, _)| n == "ascending")) {
        Some((_, span)) => Err(JobError::at(
            *span,
            format!("`{op}` has no argument named `ascending`: write `descending=true` for the reverse order (Spark's `ascending=False`)"),
        )),
        None => Ok(()),
    }
}
