//! Arguments: how the arguments of a call are bound to its parameter list
//! (a `Sig`: positional, or `name=value`), and what each kind of argument
//! becomes: record expressions are compiled against the input dataset;
//! constant arguments (paths, commands, separators, flags, counts, a loop's
//! round count) are computed here, once, with the error that names the
//! argument when it is not what it must be.

use std::cell::RefCell;
use std::collections::BTreeMap;

use super::error::{did_you_mean, JobError};
use super::expr::{compile, Context, Scope, Ty};
use super::graph::Graph;
use super::lexer::Span;
use super::parser::{first_span, Arg, Syn};
use super::value::{parse_number, Num, Value};
use super::{DatasetId, Op, SortOrder};
use crate::record::RecordRef;

/// An operator's or source's parameter list.
pub(super) struct Sig {
    pub(super) name: &'static str,
    pub(super) params: &'static [&'static str],
    pub(super) required: usize,
    /// May arguments be given as `name=value`?
    pub(super) keywords: bool,
    pub(super) usage: &'static str,
}

/// A `Sig`, as the tables of `operators.rs` write it: by position.
pub(super) const fn sig(
    name: &'static str,
    params: &'static [&'static str],
    required: usize,
    keywords: bool,
    usage: &'static str,
) -> Sig {
    Sig {
        name,
        params,
        required,
        keywords,
        usage,
    }
}

/// Matches `args` to `sig`'s parameters: positional ones in order, then
/// `name=value` ones by name. Every required parameter must be given.
pub(super) fn bind_args<'a>(
    sig: &Sig,
    args: &'a [Arg],
    at: Span,
) -> Result<Vec<Option<&'a Syn>>, JobError> {
    let name = sig.name;
    let count_error = || {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let (min, max) = (sig.required, sig.params.len());
        let expected = if min == max {
            format!("{min} argument{}", plural(min))
        } else if max == min + 1 {
            format!("{min} or {max} arguments")
        } else {
            format!("{min} to {max} arguments")
        };
        JobError::at(
            at,
            format!(
                "`{name}` takes {expected}, got {} (usage: {})",
                args.len(),
                sig.usage
            ),
        )
    };
    let mut slots: Vec<Option<&Syn>> = vec![None; sig.params.len()];
    let mut next = 0;
    let mut seen_named = false;
    for arg in args {
        match &arg.name {
            None => {
                if seen_named {
                    return Err(JobError::at(
                        first_span(&arg.value),
                        format!(
                            "a positional argument cannot follow a named one (usage: {})",
                            sig.usage
                        ),
                    ));
                }
                if next >= slots.len() {
                    return Err(count_error());
                }
                slots[next] = Some(&arg.value);
                next += 1;
            }
            Some((key, span)) => {
                if !sig.keywords {
                    return Err(JobError::at(
                        *span,
                        format!("`{name}` takes no named arguments (usage: {})", sig.usage),
                    ));
                }
                let Some(i) = sig.params.iter().position(|p| p == key) else {
                    return Err(JobError::at(
                        *span,
                        format!(
                            "`{name}` has no argument named `{key}`{} (usage: {})",
                            did_you_mean(key, sig.params),
                            sig.usage
                        ),
                    ));
                };
                if slots[i].is_some() {
                    return Err(JobError::at(
                        *span,
                        format!("argument `{key}` of `{name}` is given twice"),
                    ));
                }
                slots[i] = Some(&arg.value);
                seen_named = true;
            }
        }
    }
    if let Some(missing) = (0..sig.required).find(|i| slots[*i].is_none()) {
        if args.iter().all(|a| a.name.is_none()) {
            return Err(count_error());
        }
        return Err(JobError::at(
            at,
            format!(
                "`{name}` is missing its `{}` argument (usage: {})",
                sig.params[missing], sig.usage
            ),
        ));
    }
    Ok(slots)
}

/// Refuses a positional argument past the first `positional` of `sig`'s
/// parameters: those (flags such as `numeric`) must be given by name, so
/// that `sort_by_key(4, true)` cannot be read two ways.
pub(super) fn named_after(sig: &Sig, args: &[Arg], positional: usize) -> Result<(), JobError> {
    let given = args.iter().take_while(|a| a.name.is_none()).count();
    if given <= positional {
        return Ok(());
    }
    let first: Vec<String> = sig
        .params
        .iter()
        .take(positional)
        .map(|p| format!("`{p}`"))
        .collect();
    let param = sig.params.get(positional).copied().unwrap_or("argument");
    Err(JobError::at(
        first_span(&args[positional].value),
        format!(
            "only the {} of `{}` may be given by position; name the others, e.g. `{param}=...` (usage: {})",
            first.join(", "),
            sig.name,
            sig.usage
        ),
    ))
}

/// Computes a loop's round count or `max` (`loops.rs` asks, before the
/// graph exists): a constant whole number from 0 up.
pub(crate) fn const_rounds(
    source: &str,
    params: &BTreeMap<String, String>,
    syn: &Syn,
    what: &str,
) -> Result<u32, JobError> {
    let rounds = BTreeMap::new();
    let graph = Graph::new(source, params, BTreeMap::new(), &[], &rounds);
    let value = graph.constant(syn, what)?;
    let n = match &value {
        Value::Int(n) => Some(*n),
        Value::Str(s) => match parse_number(s) {
            Some(Num::Int(n)) => Some(n),
            _ => None,
        },
        _ => None,
    };
    n.and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
        JobError::at(
            first_span(syn),
            format!(
                "{what} must be a whole number from 0 up, got {}",
                value.describe()
            ),
        )
    })
}

impl<'s> Graph<'s> {
    /// Compiles an expression over the records of dataset `input`. Over a
    /// `read_csv` with a header (or a `filter` of one), `$name` may name its
    /// columns, which are added to that `read_csv`'s list.
    pub(super) fn record_expr(
        &mut self,
        syn: &Syn,
        input: DatasetId,
    ) -> Result<(super::Expr, Ty), JobError> {
        let keyed = self.datasets[input].keyed;
        let header = super::csv_source(&self.datasets, input)
            .filter(|&s| matches!(self.datasets[s].op, Op::ReadCsv { header: true, .. }));
        let columns = RefCell::new(match header.map(|s| &mut self.datasets[s].op) {
            Some(Op::ReadCsv { columns, .. }) => std::mem::take(columns),
            _ => Vec::new(),
        });
        let cx = Context {
            source: self.source,
            params: self.params,
            datasets: self.names,
            scope: Scope::Record { keyed },
            work: &self.work,
            columns: header.map(|_| &columns),
        };
        let compiled = compile(syn, &cx);
        if let Some(Op::ReadCsv { columns: kept, .. }) = header.map(|s| &mut self.datasets[s].op) {
            *kept = columns.into_inner();
        }
        compiled
    }

    /// Computes a constant argument; `what` names it in errors.
    fn constant(&self, syn: &Syn, what: &str) -> Result<Value, JobError> {
        let cx = Context {
            source: self.source,
            params: self.params,
            datasets: self.names,
            scope: Scope::Const { what },
            work: &self.work,
            columns: None,
        };
        let (expr, _) = compile(syn, &cx)?;
        if let Some(v) = expr.constant() {
            return Ok(v.clone());
        }
        let ctx = super::RecordCtx {
            record: RecordRef::line(&[]),
            file: "",
            sep: None,
        };
        expr.eval(&ctx).map_err(|m| JobError::at(syn.span, m))
    }

    /// A required constant string (`slot` is `None` only if `bind_args`
    /// let a required argument through, which it does not).
    pub(super) fn const_str(&self, slot: Option<&Syn>, what: &str) -> Result<String, JobError> {
        let Some(syn) = slot else {
            return Err(JobError::at(
                Span { line: 1, col: 1 },
                format!("{what} is missing"),
            ));
        };
        match self.constant(syn, what)? {
            Value::Str(bytes) => String::from_utf8(bytes)
                .map_err(|_| JobError::at(first_span(syn), format!("{what} is not valid UTF-8"))),
            other => Err(JobError::at(
                first_span(syn),
                format!("{what} must be a string, got {}", other.describe()),
            )),
        }
    }

    /// A field separator: one byte or several, not empty, no newline (a
    /// record is one line, so it could never occur), and no `"` while
    /// `quotes` are on (a quote could not both open a field and separate).
    pub(super) fn const_sep(
        &self,
        syn: &Syn,
        what: &str,
        quotes: bool,
    ) -> Result<Vec<u8>, JobError> {
        let text = self.const_str(Some(syn), what)?;
        let refuse = |why: &str| Err(JobError::at(first_span(syn), format!("{what} {why}")));
        if text.is_empty() {
            return refuse("must not be empty");
        }
        if text.contains('\n') {
            return refuse("cannot contain a newline: a record is one line");
        }
        if quotes && text.contains('"') {
            return refuse("cannot contain `\"` while quotes are read (give quotes=false)");
        }
        Ok(text.into_bytes())
    }

    /// `true`/`false`, or a string saying so (params are strings).
    pub(super) fn const_bool(&self, syn: &Syn, what: &str) -> Result<bool, JobError> {
        match self.constant(syn, what)? {
            Value::Bool(b) => Ok(b),
            Value::Str(s) if s == b"true" => Ok(true),
            Value::Str(s) if s == b"false" => Ok(false),
            other => Err(JobError::at(
                first_span(syn),
                format!("{what} must be true or false, got {}", other.describe()),
            )),
        }
    }

    /// The order of `sort_by_key` or `sort_by`, from its `numeric` and
    /// `descending` flags (both false by default).
    pub(super) fn sort_order(
        &self,
        op: &str,
        numeric: Option<&Syn>,
        descending: Option<&Syn>,
    ) -> Result<SortOrder, JobError> {
        let flag = |slot: Option<&Syn>, what: &str| match slot {
            Some(s) => self.const_bool(s, &format!("the `{what}` flag of `{op}`")),
            None => Ok(false),
        };
        Ok(SortOrder {
            numeric: flag(numeric, "numeric")?,
            descending: flag(descending, "descending")?,
        })
    }

    /// A required count that may be 0 (`take`'s): a whole number up to
    /// the largest 64-bit integer.
    pub(super) fn const_whole(&self, slot: Option<&Syn>, what: &str) -> Result<u64, JobError> {
        let Some(syn) = slot else {
            return Err(JobError::at(
                Span { line: 1, col: 1 },
                format!("{what} is missing"),
            ));
        };
        let value = self.constant(syn, what)?;
        let n = match &value {
            Value::Int(n) => Some(*n),
            Value::Str(s) => match parse_number(s) {
                Some(Num::Int(n)) => Some(n),
                _ => None,
            },
            _ => None,
        };
        match n.and_then(|n| u64::try_from(n).ok()) {
            Some(n) => Ok(n),
            None => Err(JobError::at(
                first_span(syn),
                format!(
                    "{what} must be a whole number from 0 to {}, got {}",
                    i64::MAX,
                    value.describe()
                ),
            )),
        }
    }

    /// An optional count (partitions, splits): a whole number from 1 up.
    pub(super) fn opt_count(
        &self,
        slot: Option<&Syn>,
        what: &str,
    ) -> Result<Option<u32>, JobError> {
        let Some(syn) = slot else {
            return Ok(None);
        };
        let value = self.constant(syn, what)?;
        let n = match &value {
            Value::Int(n) => Some(*n),
            Value::Str(s) => match parse_number(s) {
                Some(Num::Int(n)) => Some(n),
                _ => None,
            },
            _ => None,
        };
        match n.and_then(|n| u32::try_from(n).ok()).filter(|n| *n >= 1) {
            Some(n) => Ok(Some(n)),
            None => Err(JobError::at(
                first_span(syn),
                format!(
                    "{what} must be a whole number from 1 to {}, got {}",
                    u32::MAX,
                    value.describe()
                ),
            )),
        }
    }
}
