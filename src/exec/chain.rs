//! The operator chain: a task's narrow operators (`filter`, `map`,
//! `flat_map`) fused into one loop that pushes each record through them.
//!
//! OS idea: the cost of moving data. Narrow operators need no other record,
//! so they run as nested function calls on one record at a time, the way a
//! Hadoop mapper calls `context.write` for each output: `flat_map(split($0))`
//! hands each word, still a slice of the buffer its line was read into, to
//! `map($0, 1)`, whose key `$0` is that same slice, to the task's output
//! (a part file's buffer, or the combiner's table), the first place its
//! bytes are copied. No record is built, boxed or queued in between, and
//! `split` hands over slices, not copies.

use std::collections::VecDeque;

use crate::exec::env::Records;
use crate::job::{sep_of, DatasetId, Expr, Job, Op, RecordCtx, Sep};
use crate::record::{Record, RecordRef};

/// Where a chain's records go: a part file, a shuffle, a sample, a buffer.
pub trait Sink {
    /// Takes one record; an error ends the task with that message.
    fn push(&mut self, record: RecordRef<'_>) -> Result<(), String>;

    /// Does it want no more records? Then the task stops reading its input
    /// (`take`'s map side, once it has its `n`).
    fn full(&self) -> bool {
        false
    }
}

/// A buffer of owned records: what `Chain::iter` yields from.
impl Sink for VecDeque<Record> {
    fn push(&mut self, record: RecordRef<'_>) -> Result<(), String> {
        self.push_back(record.to_record());
        Ok(())
    }
}

/// The narrow operators between a task's input and its output, in order.
pub struct Chain {
    steps: Vec<Step>,
    /// What `input_file()` gives: the split's file, or "" when the records
    /// come from a pipe or the shuffle.
    file: String,
}

struct Step {
    op: StepOp,
    /// The field separator of the step's input (`$n`): `None` for
    /// whitespace, else its bytes and whether quotes are read.
    sep: Option<(Box<[u8]>, bool)>,
}

enum StepOp {
    Filter(Expr),
    Map {
        key: Option<Expr>,
        value: Expr,
        /// The value's bytes when they need no record (`map($0, 1)`).
        constant: Option<Vec<u8>>,
        /// Is the key `$0`? Then the pair of a line and a constant value is
        /// made with no evaluation: word count's `map($0, 1)` takes this
        /// path for each word, where `Expr::with_bytes`, the general one,
        /// costs a call and a match more per record (issue 16: 5% of the
        /// map task).
        key_is_line: bool,
    },
    FlatMap(Expr),
    /// `flat_map(keys, value)`: one pair per key.
    FlatMapPairs {
        keys: Expr,
        value: Expr,
        /// The value's bytes when they need no record (`flat_map(split($0), 1)`).
        constant: Option<Vec<u8>>,
    },
}

impl Chain {
    /// The chain of datasets `ids` of `job`, reading records from `file`.
    ///
    /// # Errors
    /// When a dataset is not a narrow operator.
    pub fn new(job: &Job, ids: &[DatasetId], file: &str) -> Result<Chain, String> {
        let steps = ids
            .iter()
            .map(|&id| {
                let dataset = job
                    .datasets
                    .get(id)
                    .ok_or_else(|| format!("unknown dataset {id}"))?;
                let op = match &dataset.op {
                    Op::Filter { pred, .. } => StepOp::Filter(pred.clone()),
                    Op::Map { key, value, .. } => StepOp::Map {
                        key: key.clone(),
                        value: value.clone(),
                        constant: value.constant().map(|v| v.clone().into_bytes()),
                        key_is_line: key.as_ref().is_some_and(Expr::is_line),
                    },
                    Op::FlatMap {
                        expr, value: None, ..
                    } => StepOp::FlatMap(expr.clone()),
                    Op::FlatMap {
                        expr,
                        value: Some(value),
                        ..
                    } => StepOp::FlatMapPairs {
                        keys: expr.clone(),
                        value: value.clone(),
                        constant: value.constant().map(|v| v.clone().into_bytes()),
                    },
                    other => {
                        return Err(format!(
                            "`{}` cannot run inside a task pipeline",
                            other.name()
                        ))
                    }
                };
                let input = dataset.op.inputs().first().copied().unwrap_or(id);
                Ok(Step {
                    op,
                    sep: sep_of(job, input).map(|s| (s.bytes.into(), s.quotes)),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Chain {
            steps,
            file: file.to_string(),
        })
    }

    /// Turns each `$name` of the steps into the field its column is in the
    /// header of the chain's file: `fields[i]` for the source's column `i`.
    pub fn bind_columns(&mut self, fields: &[u32]) {
        for step in &mut self.steps {
            match &mut step.op {
                StepOp::Filter(e) | StepOp::FlatMap(e) => e.bind_columns(fields),
                StepOp::Map { key, value, .. } => {
                    value.bind_columns(fields);
                    if let Some(key) = key {
                        key.bind_columns(fields);
                    }
                }
                StepOp::FlatMapPairs { keys, value, .. } => {
                    keys.bind_columns(fields);
                    value.bind_columns(fields);
                }
            }
        }
    }

    /// Runs `record` through every step; what comes out goes to `sink`.
    ///
    /// # Errors
    /// The first error of an expression or of the sink.
    pub fn push(&self, record: RecordRef<'_>, sink: &mut dyn Sink) -> Result<(), String> {
        self.push_from(0, record.key, record.value, true, sink)
    }

    /// As `push`, for an input line known to hold no `"` (the split reader
    /// saw none): the fields of a CSV separator that reads quotes are then
    /// split as plain ones, the same values by the faster path.
    ///
    /// # Errors
    /// As `push`.
    pub fn push_unquoted(&self, line: &[u8], sink: &mut dyn Sink) -> Result<(), String> {
        self.push_from(0, None, line, false, sink)
    }

    /// `may_quote`: may the input line hold a `"`? Only the steps over the
    /// source's own lines have a separator that reads quotes, so the flag
    /// can pass unchanged to the steps after a `map`.
    fn push_from(
        &self,
        at: usize,
        record_key: Option<&[u8]>,
        record_value: &[u8],
        may_quote: bool,
        sink: &mut dyn Sink,
    ) -> Result<(), String> {
        let Some(step) = self.steps.get(at) else {
            return sink.push(RecordRef {
                key: record_key,
                value: record_value,
            });
        };
        let next = at + 1;
        // Built from the arguments themselves, not from a `RecordRef` made
        // first: the copy of one into the other was two 8-byte stores read
        // back as one 16-byte load, which waits for the stores to reach
        // the cache (a failed store-to-load forward: issue 16, half of
        // this function's time in a word count).
        let ctx = RecordCtx {
            record: RecordRef {
                key: record_key,
                value: record_value,
            },
            file: &self.file,
            sep: step.sep.as_ref().map(|(bytes, quotes)| Sep {
                bytes,
                quotes: *quotes && may_quote,
            }),
        };
        match &step.op {
            StepOp::Filter(pred) => match pred.eval_bool(&ctx)? {
                true => self.hand_on(next, record_key, record_value, may_quote, sink),
                false => Ok(()),
            },
            StepOp::Map {
                key,
                value,
                constant,
                key_is_line,
            } => {
                if let (true, Some(bytes), None) = (*key_is_line, constant, record_key) {
                    return self.push_pair(next, record_value, bytes, may_quote, sink);
                }
                let mut with_value = |value: &[u8]| match key {
                    None => self.hand_on(next, None, value, may_quote, sink),
                    Some(key) => key.with_bytes(&ctx, |key| {
                        self.push_pair(next, key, value, may_quote, sink)
                    }),
                };
                match constant {
                    Some(bytes) => with_value(bytes),
                    None => value.with_bytes(&ctx, with_value),
                }
            }
            StepOp::FlatMap(expr) => {
                expr.for_each_item(&ctx, |item| self.hand_on(next, None, item, may_quote, sink))
            }
            StepOp::FlatMapPairs {
                keys,
                value,
                constant,
            } => keys.for_each_pair(value, constant.as_deref(), &ctx, |key, value| {
                self.push_pair(next, key, value, may_quote, sink)
            }),
        }
    }

    /// Hands a record to step `at`, or after the last step to the sink,
    /// directly: a call of `push_from` less per record (issue 16: 3% of
    /// word count's instructions).
    #[inline]
    fn hand_on(
        &self,
        at: usize,
        key: Option<&[u8]>,
        value: &[u8],
        may_quote: bool,
        sink: &mut dyn Sink,
    ) -> Result<(), String> {
        if at == self.steps.len() {
            return sink.push(RecordRef { key, value });
        }
        self.push_from(at, key, value, may_quote, sink)
    }

    /// Hands the pair `key`, `value` to step `at`.
    fn push_pair(
        &self,
        at: usize,
        key: &[u8],
        value: &[u8],
        may_quote: bool,
        sink: &mut dyn Sink,
    ) -> Result<(), String> {
        self.hand_on(at, Some(key), value, may_quote, sink)
    }

    /// The chain as an iterator of owned records over `input`, for a
    /// consumer that pulls (a pipe's feeder thread).
    pub fn iter(self, input: Records) -> Records {
        if self.steps.is_empty() {
            return input;
        }
        Box::new(ChainIter {
            chain: self,
            input,
            ready: VecDeque::new(),
        })
    }
}

struct ChainIter {
    chain: Chain,
    input: Records,
    /// What the last input record became (a `flat_map` makes several).
    ready: VecDeque<Record>,
}

impl Iterator for ChainIter {
    type Item = Result<Record, String>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(record) = self.ready.pop_front() {
                return Some(Ok(record));
            }
            let pushed = match self.input.next()? {
                Ok(record) => self.chain.push(record.as_ref(), &mut self.ready),
                Err(e) => Err(e),
            };
            if let Err(e) = pushed {
                return Some(Err(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn chain_of(src: &str) -> (Job, Chain) {
        let job = Job::parse("t.job", src, &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
        // Every dataset after the source, up to the one saved.
        let ids: Vec<DatasetId> = (1..job.datasets.len()).collect();
        let chain = Chain::new(&job, &ids, "dir/f.txt").unwrap();
        (job, chain)
    }

    fn run(chain: &Chain, lines: &[&str]) -> Result<Vec<String>, String> {
        let mut out: VecDeque<Record> = VecDeque::new();
        for line in lines {
            chain.push(RecordRef::line(line.as_bytes()), &mut out)?;
        }
        Ok(out
            .iter()
            .map(|r| String::from_utf8_lossy(&r.to_line()).into_owned())
            .collect())
    }

    #[test]
    fn steps_run_in_order_and_borrow_through() {
        let (_, chain) = chain_of(
            "read_text(\"x\").flat_map(split($0)).filter($0 != \"b\").map($0, 1).save(\"o\")",
        );
        assert_eq!(
            run(&chain, &["a b c", "", "b a"]).unwrap(),
            ["a\t1", "c\t1", "a\t1"]
        );
    }

    /// `map($0, 1)` of a line pairs the line itself with 1; of a pair, `$0`
    /// is the pair's line (`key<TAB>value`), as the evaluator makes it.
    #[test]
    fn a_whole_line_key_is_the_line_of_a_pair_too() {
        let (_, chain) =
            chain_of(r#"read_text("x").map($0, 1).map($0, 2).map($key, "v").save("o")"#);
        assert_eq!(run(&chain, &["a b"]).unwrap(), ["a b\t1\tv"]);
    }

    #[test]
    fn fields_of_pairs_and_input_file() {
        let (_, chain) = chain_of(
            "read_csv(\"x\").map($2, concat($1, \"@\", input_file())).map($value, $key).save(\"o\")",
        );
        assert_eq!(run(&chain, &["1,k"]).unwrap(), ["1@dir/f.txt\tk"]);
    }

    #[test]
    fn fields_on_a_separator_of_several_bytes() {
        let (_, chain) =
            chain_of("read_csv(\"x\", sep=\"::\").filter($3 != \"\").map($2, $3).save(\"o\")");
        assert_eq!(
            run(&chain, &["1::42::5", "2::7", "3:::9::4.5::978300760"]).unwrap(),
            ["42\t5", ":9\t4.5"]
        );
    }

    /// A quoted CSV line's fields are unquoted; a line the reader saw no
    /// `"` in takes the plain path, with the same values.
    #[test]
    fn quoted_fields_and_the_unquoted_path() {
        let (_, chain) = chain_of("read_csv(\"x\").filter($3 != \"\").map($2, $3).save(\"o\")");
        assert_eq!(
            run(&chain, &[r#"1,"Smith, John","a ""b""""#, "2,x"]).unwrap(),
            ["Smith, John\ta \"b\""]
        );
        for line in ["1,ann,34", "2,,", "a::b,c,d,e", ""] {
            let (mut quoted, mut plain) = (VecDeque::new(), VecDeque::new());
            chain
                .push(RecordRef::line(line.as_bytes()), &mut quoted)
                .unwrap();
            chain.push_unquoted(line.as_bytes(), &mut plain).unwrap();
            assert_eq!(quoted, plain, "{line}");
        }
    }

    /// `$name` is bound to its field in one file's header; unbound, it
    /// fails rather than guessing.
    #[test]
    fn columns_are_bound_to_the_fields_of_a_header() {
        let src = "read_csv(\"x\", header=true).filter($age != \"\").map($name, $age).save(\"o\")";
        let (_, mut chain) = chain_of(src);
        assert_eq!(
            run(&chain, &["1,ann,34"]).unwrap_err(),
            "no header gives this column a place in `$age`"
        );
        // Columns in the order first named: age, then name.
        chain.bind_columns(&[3, 2]);
        assert_eq!(run(&chain, &["1,ann,34", "2,bob,"]).unwrap(), ["ann\t34"]);
        let (_, mut chain) = chain_of(src);
        chain.bind_columns(&[1, 2]);
        assert_eq!(run(&chain, &["34,ann"]).unwrap(), ["ann\t34"]);
    }

    #[test]
    fn errors_name_the_expression() {
        let (_, chain) = chain_of("read_text(\"x\").map(int($0) + 1).save(\"o\")");
        let err = run(&chain, &["7", "x"]).unwrap_err();
        assert!(err.contains("`int($0)"), "{err}");
    }

    /// PageRank's contributions: one pair per neighbour, each carrying the
    /// rank divided by the number of neighbours.
    #[test]
    fn flat_map_makes_one_pair_per_key() {
        let (job, chain) = chain_of(
            "read_csv(\"x\", \";\").map($1, concat($2, \"\\t\", $3))\n  .flat_map(split($2, \",\"), float($3) / len(split($2, \",\")))\n  .save(\"o\")",
        );
        assert!(job.datasets[2].keyed);
        // `node;neighbours;rank`, as `$0` of a join is `node<TAB>neighbours<TAB>rank`.
        let joined = ["a;b,c;1.0", "b;c;1.0", "c;;0.5"];
        let mut out: VecDeque<Record> = VecDeque::new();
        for line in joined {
            chain
                .push(RecordRef::line(line.as_bytes()), &mut out)
                .unwrap();
        }
        let got: Vec<(String, String)> = out
            .iter()
            .map(|r| {
                let key = r.key.as_deref().unwrap_or(b"-");
                let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                (text(key), text(&r.value))
            })
            .collect();
        // "c" has no neighbours, but `split("", ",")` is `[""]`, one key.
        let want = [("b", "0.5"), ("c", "0.5"), ("c", "1.0"), ("", "0.5")];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want);

        // A constant value; then a later step sees pairs (`$key`, `$value`).
        let (_, chain) = chain_of(
            "read_text(\"x\").flat_map(split($0), 1).map(concat($key, \"=\", $value)).save(\"o\")",
        );
        assert_eq!(
            run(&chain, &["a b", "", "a"]).unwrap(),
            ["a=1", "b=1", "a=1"]
        );
        // A key that is not a list is one pair; an empty list none, and its
        // value is not computed.
        let (_, chain) = chain_of(
            "read_text(\"x\").flat_map($1, $2).flat_map(split($value, \",\"), 10 / len($key)).save(\"o\")",
        );
        assert_eq!(
            run(&chain, &["ab x,y", "c z"]).unwrap(),
            ["x\t5", "y\t5", "z\t10"]
        );
        let (_, chain) =
            chain_of("read_text(\"x\").flat_map(split($0), 2 / len(split($0))).save(\"o\")");
        assert_eq!(run(&chain, &["", "  ", "a b"]).unwrap(), ["a\t1", "b\t1"]);
        let (_, chain) =
            chain_of("read_text(\"x\").flat_map(split($0), 1 / (len($0) - 1)).save(\"o\")");
        let err = run(&chain, &["a"]).unwrap_err();
        assert_eq!(err, "integer division by zero in `1 / (len($0) - 1)`");
    }

    #[test]
    fn iter_pulls_the_same_records() {
        let (_, chain) = chain_of("read_text(\"x\").flat_map(split($0, \",\")).save(\"o\")");
        let input: Records = Box::new(
            vec![
                Ok(Record::line(b"a,b".to_vec())),
                Ok(Record::line(b"c".to_vec())),
            ]
            .into_iter(),
        );
        let got: Vec<Record> = chain.iter(input).collect::<Result<_, _>>().unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(&*got[2].value, b"c");
    }
}
