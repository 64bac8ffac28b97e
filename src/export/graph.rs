//! The job as written, ready to translate: its statements in file order,
//! one node per source, operator and name in them (loops are not unrolled:
//! a loop's body is written once), which definitions each name can mean
//! where it is used, and what each dataset's records look like in the
//! program to write (`Shape`).
//!
//! Idea: a translator needs the checker's knowledge without the checker's
//! unrolling. `Job::parse` has already refused every mistake; this walks the
//! parser's statements again, resolving names by the same rules as
//! `job/loops.rs` (a name after a loop means its last round's value, inside
//! the body before its assignment the round before's), and works out, per
//! dataset, what Python has to know to translate the next operator exactly:
//! pairs or lines, how `$1` splits, whether the records still know their
//! file, and whether their order is one Spark reproduces.

use std::collections::{BTreeMap, BTreeSet};

use crate::job::syntax::{
    bind_named, first_span, is_aggregator, Arg, Rounds, Span, Stmt, Syn, SynKind,
};
use crate::job::JobError;

pub(super) type NodeId = usize;
pub(super) type BindingId = usize;

/// A top-level statement.
pub(super) enum Item<'s> {
    Param {
        name: &'s str,
        span: Span,
        default: Option<&'s str>,
    },
    Define(BindingId),
    Save {
        node: NodeId,
        path: &'s Syn,
        span: Span,
    },
    Repeat {
        /// Which `repeat` of the file, from 0.
        number: usize,
        span: Span,
        rounds: &'s Rounds,
        body: Vec<BindingId>,
        /// The dataset of `until unchanged(D)`.
        until: Option<NodeId>,
    },
}

/// A `NAME = dataset` definition, at the top level or in a loop's body.
pub(super) struct Binding<'s> {
    pub(super) name: &'s str,
    pub(super) node: NodeId,
    /// The top-level statement it is (or, in a loop, the loop's).
    pub(super) item: usize,
    /// The loop whose body it is in.
    pub(super) in_loop: Option<usize>,
}

/// A dataset as written.
pub(super) struct Node<'s> {
    pub(super) syn: &'s Syn,
    pub(super) kind: Kind<'s>,
}

pub(super) enum Kind<'s> {
    /// `read_text(...)`, `read_csv(...)`: arguments bound to their slots.
    Source {
        name: &'s str,
        slots: Vec<Option<&'s Syn>>,
    },
    /// `input.name(...)`; `other` is the dataset of a join or union.
    Op {
        name: &'s str,
        slots: Vec<Option<&'s Syn>>,
        input: NodeId,
        other: Option<NodeId>,
    },
    /// `input.reduce_by_key(agg, ..., partitions)`.
    Reduce {
        input: NodeId,
        aggs: Vec<&'s Syn>,
        partitions: Option<&'s Syn>,
    },
    /// A name: the definitions it may mean there (two for a name a loop
    /// carries: the value before the loop and the round before's).
    Ref {
        name: &'s str,
        producers: Vec<BindingId>,
    },
}

/// How a dataset's records are split into `$1`, `$2`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Split {
    Space,
    Tab,
    /// As the `read_csv` node says.
    Csv(NodeId),
}

/// Whether the records know the file they were read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum File {
    /// Straight from a source through narrow operators.
    Known,
    /// After a pipe or a shuffle: `input_file()` is "".
    Gone,
    /// Read back from a `cache()` at this line: Mini-Spark may give the
    /// file or "", depending on how it plans the stages.
    Cached(Span),
}

/// Whether the records' order is one Spark reproduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Order {
    /// File order, or a sort's: the same on both engines.
    Kept,
    /// Mini-Spark's hash partitions (FNV-1a of the key), or a pipe's
    /// output, since this operator at this place.
    Lost(&'static str, Span),
}

/// What a dataset's records are, as far as translating needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Shape {
    pub(super) keyed: bool,
    pub(super) split: Split,
    pub(super) file: File,
    pub(super) order: Order,
}

/// The job as written, with every name resolved and every shape known.
pub(super) struct Graph<'s> {
    pub(super) items: Vec<Item<'s>>,
    pub(super) bindings: Vec<Binding<'s>>,
    pub(super) nodes: Vec<Node<'s>>,
    pub(super) shapes: Vec<Shape>,
    /// Does the node's Python carry `(file, record)`? Only where an
    /// `input_file()` further on needs it.
    pub(super) carries: Vec<bool>,
    /// Does some `save` need the binding (directly or through others)?
    pub(super) needed: Vec<bool>,
}

/// The wide operators, whose output is in Mini-Spark's hash-partition order.
const HASHED: &[&str] = &[
    "reduce_by_key",
    "group_by_key",
    "join",
    "left_join",
    "distinct",
];

/// Operators whose first argument is a dataset.
const DATASET_ARGS: &[&str] = &["join", "left_join", "union"];

impl<'s> Graph<'s> {
    /// Builds the graph of `statements` (of a job `Job::parse` accepted).
    ///
    /// # Errors
    /// A construct the export cannot translate exactly, at its place.
    pub(super) fn build(statements: &'s [Stmt]) -> Result<Graph<'s>, JobError> {
        let mut g = Graph {
            items: Vec::new(),
            bindings: Vec::new(),
            nodes: Vec::new(),
            shapes: Vec::new(),
            carries: Vec::new(),
            needed: Vec::new(),
        };
        // Bindings first, so that a name can mean a definition further on.
        let mut top: BTreeMap<&str, BindingId> = BTreeMap::new();
        let mut loops: Vec<LoopNames> = Vec::new();
        for (at, stmt) in statements.iter().enumerate() {
            match stmt {
                Stmt::Param { .. } => {}
                Stmt::Define { name, .. } => {
                    top.entry(name).or_insert(g.bindings.len());
                    g.bindings.push(Binding {
                        name,
                        node: 0,
                        item: at,
                        in_loop: None,
                    });
                }
                Stmt::Repeat { body, rounds, .. } => {
                    let number = loops.len();
                    let mut assigned = Vec::new();
                    for inner in body {
                        if let Stmt::Define { name, .. } = inner {
                            assigned.push((name.as_str(), g.bindings.len()));
                            g.bindings.push(Binding {
                                name,
                                node: 0,
                                item: at,
                                in_loop: Some(number),
                            });
                        }
                    }
                    let may_skip = match rounds {
                        Rounds::Fixed(syn) => !matches!(syn.kind, SynKind::Int(n) if n > 0),
                        Rounds::Until { .. } => false,
                    };
                    loops.push(LoopNames {
                        at,
                        assigned,
                        may_skip,
                    });
                }
                Stmt::Save { .. } => {}
            }
        }
        let item_of: Vec<usize> = g.bindings.iter().map(|b| b.item).collect();
        let names = Names {
            top: &top,
            loops: &loops,
            item_of: &item_of,
        };
        // Then the nodes of every statement.
        let mut binding_of = 0;
        let mut number = 0;
        for (at, stmt) in statements.iter().enumerate() {
            match stmt {
                Stmt::Param {
                    name,
                    span,
                    default,
                } => g.items.push(Item::Param {
                    name,
                    span: *span,
                    default: default.as_deref(),
                }),
                Stmt::Define { value, .. } => {
                    let node = g.dataset(value, &|n, s| names.top(n, at, s))?;
                    g.bindings[binding_of].node = node;
                    g.items.push(Item::Define(binding_of));
                    binding_of += 1;
                }
                Stmt::Save { target, args, span } => {
                    let node = g.dataset(target, &|n, s| names.top(n, at, s))?;
                    let slots = bind("save", args, *span)?;
                    let path = slots
                        .first()
                        .copied()
                        .flatten()
                        .ok_or_else(|| JobError::at(*span, "`save` needs a path"))?;
                    g.items.push(Item::Save {
                        node,
                        path,
                        span: *span,
                    });
                }
                Stmt::Repeat { span, rounds, body } => {
                    let mut ids = Vec::new();
                    let mut j = 0;
                    for inner in body {
                        if let Stmt::Define { value, .. } = inner {
                            let node = g.dataset(value, &|n, s| names.body(number, n, j, s))?;
                            g.bindings[binding_of].node = node;
                            ids.push(binding_of);
                            binding_of += 1;
                            j += 1;
                        }
                    }
                    let until = match rounds {
                        Rounds::Until { cond, .. } => {
                            let SynKind::Call { args, .. } = &cond.kind else {
                                return Err(JobError::at(
                                    first_span(cond),
                                    "expected `unchanged(DATASET)`",
                                ));
                            };
                            let target = &args[0].value;
                            Some(g.dataset(target, &|n, s| names.condition(number, n, s))?)
                        }
                        Rounds::Fixed(_) => None,
                    };
                    g.items.push(Item::Repeat {
                        number,
                        span: *span,
                        rounds,
                        body: ids,
                        until,
                    });
                    number += 1;
                }
            }
        }
        g.shapes = (0..g.nodes.len()).map(|_| UNKNOWN).collect();
        let mut busy = vec![false; g.nodes.len()];
        for id in 0..g.nodes.len() {
            g.shape_of(id, &mut busy)?;
        }
        g.check_loops()?;
        g.carries = g.demand_files();
        g.needed = g.needed_bindings();
        g.check_files()?;
        Ok(g)
    }

    /// The node of dataset expression `syn`; `resolve` gives the
    /// definitions a name means there.
    fn dataset(&mut self, syn: &'s Syn, resolve: &Resolve<'_>) -> Result<NodeId, JobError> {
        let kind = match &syn.kind {
            SynKind::Name(name) => Kind::Ref {
                name,
                producers: resolve(name, syn.span)?,
            },
            SynKind::Call { name, args } => Kind::Source {
                name,
                slots: bind(name, args, syn.span)?,
            },
            SynKind::Method { recv, name, args } if name == "reduce_by_key" => {
                let input = self.dataset(recv, resolve)?;
                let (aggs, partitions) = reduce_args(args);
                Kind::Reduce {
                    input,
                    aggs,
                    partitions,
                }
            }
            SynKind::Method { recv, name, args } => {
                let input = self.dataset(recv, resolve)?;
                let slots = bind(name, args, syn.span)?;
                let other = match (DATASET_ARGS.contains(&name.as_str()), slots.first()) {
                    (true, Some(Some(other))) => Some(self.dataset(other, resolve)?),
                    _ => None,
                };
                Kind::Op {
                    name,
                    slots,
                    input,
                    other,
                }
            }
            _ => return Err(JobError::at(first_span(syn), "expected a dataset")),
        };
        self.nodes.push(Node { syn, kind });
        Ok(self.nodes.len() - 1)
    }

    /// The shape of node `id`, computed once. A name a loop carries takes
    /// the shape of its value before the loop (`check_loops` then checks
    /// that every round keeps it).
    fn shape_of(&mut self, id: NodeId, busy: &mut [bool]) -> Result<Shape, JobError> {
        if self.shapes[id] != UNKNOWN {
            return Ok(self.shapes[id]);
        }
        if busy[id] {
            return Err(JobError::at(
                self.nodes[id].syn.span,
                "a dataset that depends on itself",
            ));
        }
        busy[id] = true;
        let node = &self.nodes[id];
        let span = node.syn.span;
        let shape = match &node.kind {
            Kind::Source { name, .. } => Shape {
                keyed: false,
                split: if *name == "read_csv" {
                    Split::Csv(id)
                } else {
                    Split::Space
                },
                file: File::Known,
                order: Order::Kept,
            },
            Kind::Ref { producers, .. } => {
                let first = producers[0];
                let node = self.bindings[first].node;
                self.shape_of(node, busy)?
            }
            Kind::Reduce { input, .. } => {
                let input = *input;
                self.shape_of(input, busy)?;
                Shape {
                    keyed: true,
                    split: Split::Tab,
                    file: File::Gone,
                    order: Order::Lost("reduce_by_key", span),
                }
            }
            Kind::Op {
                name,
                input,
                other,
                slots,
            } => {
                let (name, input, other, two) = (
                    *name,
                    *input,
                    *other,
                    slots.get(1).copied().flatten().is_some(),
                );
                let i = self.shape_of(input, busy)?;
                let o = match other {
                    Some(o) => Some(self.shape_of(o, busy)?),
                    None => None,
                };
                let pairs = |keyed: bool| Shape {
                    keyed,
                    split: if keyed { Split::Tab } else { Split::Space },
                    ..i
                };
                match name {
                    "filter" => i,
                    "map" | "flat_map" => pairs(two),
                    "cache" | "persist" => Shape {
                        file: if i.file == File::Known {
                            File::Cached(span)
                        } else {
                            i.file
                        },
                        ..i
                    },
                    "pipe" => Shape {
                        keyed: false,
                        split: Split::Space,
                        file: File::Gone,
                        order: Order::Lost("pipe", span),
                    },
                    "union" => {
                        let o = o.unwrap_or(i);
                        let keyed = i.keyed && o.keyed;
                        Shape {
                            keyed,
                            split: if keyed { Split::Tab } else { Split::Space },
                            file: match (i.file, o.file) {
                                (File::Cached(s), _) | (_, File::Cached(s)) => File::Cached(s),
                                (File::Known, _) | (_, File::Known) => File::Known,
                                _ => File::Gone,
                            },
                            order: match (i.order, o.order) {
                                (Order::Lost(w, s), _) | (_, Order::Lost(w, s)) => {
                                    Order::Lost(w, s)
                                }
                                _ => Order::Kept,
                            },
                        }
                    }
                    "take" | "count" => Shape {
                        keyed: name == "take" && i.keyed,
                        split: if name == "take" && i.keyed {
                            Split::Tab
                        } else {
                            Split::Space
                        },
                        file: File::Gone,
                        order: Order::Kept,
                    },
                    "sort_by_key" | "sort_by" => Shape {
                        keyed: i.keyed,
                        split: if i.keyed { Split::Tab } else { Split::Space },
                        file: File::Gone,
                        order: Order::Kept,
                    },
                    _ => Shape {
                        keyed: name != "distinct" || i.keyed,
                        split: if name != "distinct" || i.keyed {
                            Split::Tab
                        } else {
                            Split::Space
                        },
                        file: File::Gone,
                        order: if HASHED.contains(&name) {
                            Order::Lost(hashed_name(name), span)
                        } else {
                            Order::Kept
                        },
                    },
                }
            }
        };
        busy[id] = false;
        self.shapes[id] = shape;
        self.check_order(id)?;
        Ok(shape)
    }

    /// Refuses a `take`, and a `first` aggregator, over records whose order
    /// Spark would not give them.
    fn check_order(&self, id: NodeId) -> Result<(), JobError> {
        let node = &self.nodes[id];
        let (input, what) = match &node.kind {
            Kind::Op {
                name: "take",
                input,
                ..
            } => (*input, "`take`"),
            Kind::Reduce { input, aggs, .. }
                if aggs
                    .iter()
                    .any(|a| matches!(&a.kind, SynKind::Name(n) if n == "first")) =>
            {
                (*input, "`reduce_by_key(first)`")
            }
            _ => return Ok(()),
        };
        if let Order::Lost(op, at) = self.shapes[input].order {
            let how = if op == "pipe" {
                "in the order the command prints them, split by split, and the splits of Spark are not those of Mini-Spark".to_string()
            } else {
                "in the order of Mini-Spark's hash partitions (FNV-1a of the key), which Spark's are not".to_string()
            };
            return Err(JobError::at(
                node.syn.span,
                format!(
                    "{what} cannot be exported exactly: its input comes from `{op}` at line {}, {how}; sort it first (`.sort_by(...)` or `.sort_by_key()`) so that both engines agree on the order",
                    at.line
                ),
            ));
        }
        Ok(())
    }

    /// Refuses a name a loop carries whose records would change shape from
    /// round to round: the program writes each operator once.
    fn check_loops(&self) -> Result<(), JobError> {
        for node in &self.nodes {
            let Kind::Ref { name, producers } = &node.kind else {
                continue;
            };
            let shapes: Vec<Shape> = producers
                .iter()
                .map(|&b| self.shapes[self.bindings[b].node])
                .collect();
            let first = shapes[0];
            if shapes
                .iter()
                .any(|s| s.keyed != first.keyed || !same_split(s.split, first.split))
            {
                return Err(JobError::at(
                    node.syn.span,
                    format!("`{name}` holds {} before the loop and {} after a round; the export writes the loop's body once, for one kind of record: make both the same (e.g. with `.map($key, $value)` or `.map($0)`)", kind_of(first), kind_of(shapes[shapes.len() - 1])),
                ));
            }
        }
        Ok(())
    }

    /// Which nodes carry their records' file: those that are still read
    /// straight from their source and that an `input_file()` further on
    /// needs. Grows to a fixpoint, since names and loops make the graph
    /// more than a tree.
    fn demand_files(&self) -> Vec<bool> {
        let mut carries = vec![false; self.nodes.len()];
        let mut users: Vec<Vec<NodeId>> = vec![Vec::new(); self.nodes.len()];
        for (id, node) in self.nodes.iter().enumerate() {
            match &node.kind {
                Kind::Op { input, other, .. } => {
                    users[*input].push(id);
                    if let Some(o) = other {
                        users[*o].push(id);
                    }
                }
                Kind::Ref { producers, .. } => {
                    for &b in producers {
                        users[self.bindings[b].node].push(id);
                    }
                }
                _ => {}
            }
        }
        loop {
            let mut changed = false;
            for id in (0..self.nodes.len()).rev() {
                if carries[id] || self.shapes[id].file != File::Known {
                    continue;
                }
                let needs = users[id].iter().any(|&u| match &self.nodes[u].kind {
                    Kind::Op { name, slots, .. }
                        if matches!(*name, "filter" | "map" | "flat_map") =>
                    {
                        carries[u] || slots.iter().flatten().any(|s| super::python::uses_file(s))
                    }
                    Kind::Op { name: "union", .. } | Kind::Ref { .. } => carries[u],
                    _ => false,
                });
                if needs {
                    carries[id] = true;
                    changed = true;
                }
            }
            if !changed {
                return carries;
            }
        }
    }

    /// Refuses an `input_file()` over records read back from a `cache()`,
    /// and a loop's name whose records would carry their file in one round
    /// and not in another.
    fn check_files(&self) -> Result<(), JobError> {
        for (id, node) in self.nodes.iter().enumerate() {
            match &node.kind {
                Kind::Op {
                    name, slots, input, ..
                } if matches!(*name, "filter" | "map" | "flat_map") => {
                    if let File::Cached(at) = self.shapes[*input].file {
                        if let Some(s) =
                            slots.iter().flatten().find(|s| super::python::uses_file(s))
                        {
                            return Err(JobError::at(
                                first_span(s),
                                format!("`input_file()` over records read back from the `cache()` at line {} cannot be exported exactly: Mini-Spark gives the file or \"\" there, depending on how it plans the stages; use `input_file()` before the `cache()`", at.line),
                            ));
                        }
                    }
                }
                Kind::Ref { name, producers } => {
                    let differ = producers.iter().any(|&b| {
                        self.carries[self.bindings[b].node]
                            != self.carries[self.bindings[producers[0]].node]
                    });
                    if differ || (self.carries[id] && producers.len() > 1) {
                        return Err(JobError::at(
                            node.syn.span,
                            format!("`input_file()` of `{name}`'s records through a loop is not exported: use it before the loop"),
                        ));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The bindings some save needs, directly or through other bindings
    /// and the loops that compute them.
    fn needed_bindings(&self) -> Vec<bool> {
        let mut needed = vec![false; self.bindings.len()];
        let mut todo: Vec<NodeId> = Vec::new();
        for item in &self.items {
            if let Item::Save { node, .. } = item {
                todo.push(*node);
            }
        }
        let mut seen = vec![false; self.nodes.len()];
        let mut loops_done = BTreeSet::new();
        while let Some(id) = todo.pop() {
            if std::mem::replace(&mut seen[id], true) {
                continue;
            }
            match &self.nodes[id].kind {
                Kind::Source { .. } => {}
                Kind::Reduce { input, .. } => todo.push(*input),
                Kind::Op { input, other, .. } => {
                    todo.push(*input);
                    todo.extend(other);
                }
                Kind::Ref { producers, .. } => {
                    for &b in producers {
                        needed[b] = true;
                        todo.push(self.bindings[b].node);
                        // A loop runs all of its body, and checks its condition.
                        if let Some(l) = self.bindings[b].in_loop {
                            if loops_done.insert(l) {
                                for item in &self.items {
                                    if let Item::Repeat {
                                        number,
                                        body,
                                        until,
                                        ..
                                    } = item
                                    {
                                        if *number == l {
                                            for &b in body {
                                                needed[b] = true;
                                                todo.push(self.bindings[b].node);
                                            }
                                            todo.extend(until);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        needed
    }

    /// Does the Python value of node `id` carry `(file, record)`? A name's
    /// is its definition's, which may carry for another reader.
    pub(super) fn rep(&self, id: NodeId) -> bool {
        match &self.nodes[id].kind {
            Kind::Ref { producers, .. } => self.carries[self.bindings[producers[0]].node],
            _ => self.carries[id],
        }
    }

    /// The top-level statements the bindings a node reads are in.
    pub(super) fn reads(&self, id: NodeId, out: &mut BTreeSet<usize>) {
        match &self.nodes[id].kind {
            Kind::Source { .. } => {}
            Kind::Reduce { input, .. } => self.reads(*input, out),
            Kind::Op { input, other, .. } => {
                self.reads(*input, out);
                if let Some(o) = other {
                    self.reads(*o, out);
                }
            }
            Kind::Ref { producers, .. } => {
                for &b in producers {
                    out.insert(self.bindings[b].item);
                }
            }
        }
    }
}

/// What a name means where it is used: the definitions it may be.
type Resolve<'r> = dyn Fn(&str, Span) -> Result<Vec<BindingId>, JobError> + 'r;

/// A shape not yet computed.
const UNKNOWN: Shape = Shape {
    keyed: false,
    split: Split::Space,
    file: File::Gone,
    order: Order::Lost("", Span { line: 0, col: 0 }),
};

fn same_split(a: Split, b: Split) -> bool {
    matches!(
        (a, b),
        (Split::Space, Split::Space) | (Split::Tab, Split::Tab) | (Split::Csv(_), Split::Csv(_))
    ) && (a == b || !matches!(a, Split::Csv(_)))
}

fn kind_of(s: Shape) -> &'static str {
    if s.keyed {
        "key-value pairs"
    } else {
        "plain lines"
    }
}

fn hashed_name(name: &str) -> &'static str {
    HASHED
        .iter()
        .copied()
        .find(|h| *h == name)
        .unwrap_or("a shuffle")
}

/// Binds the arguments of a source, operator or `save` to its slots.
fn bind<'s>(name: &str, args: &'s [Arg], at: Span) -> Result<Vec<Option<&'s Syn>>, JobError> {
    bind_named(name, args, at)
        .unwrap_or_else(|| Err(JobError::at(at, format!("unknown operator `{name}`"))))
}

/// `reduce_by_key`'s aggregators and partition count, as `job/operators.rs`
/// reads them: the aggregators, then a last positional argument that is
/// not one, or `partitions=`.
fn reduce_args(args: &[Arg]) -> (Vec<&Syn>, Option<&Syn>) {
    let mut aggs = Vec::new();
    let mut partitions = None;
    for arg in args {
        match &arg.name {
            Some((key, _)) if key == "partitions" => partitions = Some(&arg.value),
            _ => aggs.push(&arg.value),
        }
    }
    if aggs.len() >= 2 && partitions.is_none() {
        let last = aggs[aggs.len() - 1];
        let agg = match &last.kind {
            SynKind::Call { name, .. } => name == "concat",
            // A name that is no aggregator is a param: the checker refused any other.
            SynKind::Name(name) => is_aggregator(name),
            _ => false,
        };
        if !agg {
            partitions = aggs.pop();
        }
    }
    (aggs, partitions)
}

/// A loop's names, for resolving (`job/loops.rs`'s `Block`).
struct LoopNames<'s> {
    /// Its place among the top-level statements.
    at: usize,
    /// The names its body assigns, in order, with their bindings.
    assigned: Vec<(&'s str, BindingId)>,
    /// Might it run no round at all (a round count not known to be > 0)?
    may_skip: bool,
}

/// What a name means where it is used: the rules of `job/loops.rs`.
struct Names<'a, 's> {
    top: &'a BTreeMap<&'s str, BindingId>,
    loops: &'a [LoopNames<'s>],
    /// The top-level statement of each binding.
    item_of: &'a [usize],
}

impl Names<'_, '_> {
    /// At top-level statement `at`: the last round of the last loop before
    /// it that carries the name, else its definition.
    fn top(&self, name: &str, at: usize, span: Span) -> Result<Vec<BindingId>, JobError> {
        let carrier = self.loops.iter().rev().find(|l| {
            l.at < at
                && l.assigned.iter().any(|a| a.0 == name)
                && self.top.get(name).is_some_and(|&b| self.item_of[b] < l.at)
        });
        if let Some(l) = carrier {
            let body = l.assigned.iter().find(|a| a.0 == name).map(|a| a.1);
            let mut out: Vec<BindingId> = Vec::new();
            if l.may_skip {
                out.extend(self.top(name, l.at, span)?);
            }
            out.extend(body);
            return Ok(out);
        }
        match self.top.get(name) {
            Some(&b) => Ok(vec![b]),
            None => Err(JobError::at(span, format!("undefined dataset `{name}`"))),
        }
    }

    /// In statement `j` of loop `l`'s body.
    fn body(&self, l: usize, name: &str, j: usize, span: Span) -> Result<Vec<BindingId>, JobError> {
        let lp = &self.loops[l];
        match lp.assigned.iter().position(|a| a.0 == name) {
            Some(a) if j > a => Ok(vec![lp.assigned[a].1]),
            Some(a) => {
                let mut out = self.top(name, lp.at, span)?;
                out.push(lp.assigned[a].1);
                Ok(out)
            }
            None => self.top(name, lp.at, span),
        }
    }

    /// In loop `l`'s condition.
    fn condition(&self, l: usize, name: &str, span: Span) -> Result<Vec<BindingId>, JobError> {
        let lp = &self.loops[l];
        match lp.assigned.iter().find(|a| a.0 == name) {
            Some(&(_, b)) => {
                let mut out = self.top(name, lp.at, span)?;
                out.push(b);
                Ok(out)
            }
            None => self.top(name, lp.at, span),
        }
    }
}
