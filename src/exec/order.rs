//! Sort orders through the shuffle: `sort_by_key` in a numeric or
//! descending order, and `sort_by(expr)`.
//!
//! The range partitioner, the external sort and its merge compare bytes,
//! and so do the range boundaries the master picks from samples. So the map
//! side (`SortKeys`, a sink in front of the sampler or the shuffle writer)
//! gives each record a key whose byte order is the wanted order
//! (`storage::sortkey`), and the reduce side, after its byte-ordered sort,
//! gives every record back as it was (`unsort_keys`, `unsort_records`):
//!
//! | operator | key shuffled | value shuffled |
//! |---|---|---|
//! | `sort_by_key(numeric=..., descending=...)` | `sortkey::encode_key(key)` | the value |
//! | `sort_by(expr, ...)` | the encoding of `expr`'s value, then `$0` | where the key ends in `$0`: a u32, big-endian, 0 for a line |
//!
//! The external sort orders by (key, value), so `sort_by_key` ties go by
//! the key's bytes (numerically equal keys), then the value's; `sort_by`
//! ties go by `$0` (the value is compared only between equal records).
//!
//! OS idea: an adapter in a pipeline, like a filter between two programs
//! in a shell pipe: neither the sort nor the sampler knows it is there.
//! The default order (key bytes, ascending) has no adapter: `sort_by_key()`
//! sends its records as they are.

use crate::exec::chain::Sink;
use crate::exec::env::Records;
use crate::job::{
    parse_number, quote, sep_of, Combine, Expr, Job, Num, Op, RecordCtx, Sep, ShufflePlan,
    SortOrder, Value,
};
use crate::record::{Record, RecordRef};
use crate::storage::sortkey::{decode_key, encode_key, prefix_len, push_number, push_text};
use crate::storage::Sorted;

/// Bytes of `sort_by`'s shuffled value: where the key ends in `$0`.
const SPLIT_BYTES: usize = 4;

/// How a task's records get their sort keys; one per task.
pub enum How {
    /// `sort_by_key`: the key rewritten.
    Key(SortOrder),
    /// `sort_by`: a key made of `expr`'s value and the record.
    Expr {
        expr: Expr,
        order: SortOrder,
        /// The field separator of `expr`'s records (`job::sep_of`): its
        /// bytes and whether quotes are read.
        sep: Option<(Vec<u8>, bool)>,
        /// What `input_file()` gives.
        file: String,
    },
}

impl How {
    /// How the records of a task writing (or sampling for) `shuffle` are
    /// keyed; `None` when they are shuffled as they are. `file` is the
    /// records' input file, `columns` the fields of the names of a CSV
    /// header, if the task read one.
    ///
    /// # Errors
    /// When the plan and the job disagree (a bug, not a user's mistake).
    pub fn of(
        job: &Job,
        shuffle: &ShufflePlan,
        file: &str,
        columns: Option<&[u32]>,
    ) -> Result<Option<How>, String> {
        let order = match shuffle.combine {
            Some(Combine::SortKey(order)) => return Ok(Some(How::Key(order))),
            Some(Combine::SortBy(order)) => order,
            _ => return Ok(None),
        };
        let Some(Op::SortBy { input, expr, .. }) = job.datasets.get(shuffle.wide).map(|d| &d.op)
        else {
            return Err(format!("dataset {} is not a sort_by", shuffle.wide));
        };
        let mut expr = expr.clone();
        if let Some(fields) = columns {
            expr.bind_columns(fields);
        }
        Ok(Some(How::Expr {
            expr,
            order,
            sep: sep_of(job, *input).map(|s| (s.bytes.to_vec(), s.quotes)),
            file: file.to_string(),
        }))
    }
}

/// The map-side adapter: each record, keyed for its order, to `out`.
pub struct SortKeys<'a> {
    how: &'a How,
    /// The key being built, reused from record to record.
    key: Vec<u8>,
    out: &'a mut dyn Sink,
}

impl<'a> SortKeys<'a> {
    pub fn new(how: &'a How, out: &'a mut dyn Sink) -> SortKeys<'a> {
        SortKeys {
            how,
            key: Vec::new(),
            out,
        }
    }
}

impl Sink for SortKeys<'_> {
    fn push(&mut self, record: RecordRef<'_>) -> Result<(), String> {
        self.key.clear();
        match self.how {
            How::Key(order) => {
                let key = record
                    .key
                    .ok_or("sort_by_key needs key-value records; make them with map(key, value)")?;
                encode_key(*order, key, &mut self.key).map_err(|_| {
                    format!(
                        "sort_by_key(numeric=true): key {} is not a number",
                        quote(key)
                    )
                })?;
                self.out.push(RecordRef {
                    key: Some(&self.key),
                    value: record.value,
                })
            }
            How::Expr {
                expr,
                order,
                sep,
                file,
            } => {
                let ctx = RecordCtx {
                    record,
                    file,
                    sep: sep.as_ref().map(|(bytes, quotes)| Sep {
                        bytes,
                        quotes: *quotes,
                    }),
                };
                let key = &mut self.key;
                if order.numeric {
                    let value = expr.eval(&ctx)?;
                    let number = match &value {
                        Value::Int(i) => Some(Num::Int(*i)),
                        Value::Float(f) => Some(Num::Float(*f)),
                        Value::Str(s) => parse_number(s),
                        _ => None,
                    };
                    let Some(number) = number else {
                        return Err(format!(
                            "sort_by(numeric=true): `{}` is {}, not a number, for the record {}",
                            expr.text(),
                            value.describe(),
                            quote(&record.to_line())
                        ));
                    };
                    push_number(number, order.descending, key);
                } else {
                    expr.with_bytes(&ctx, |bytes| {
                        push_text(bytes, order.descending, key);
                        Ok(())
                    })?;
                }
                // Then `$0`, and where its key ends.
                let split = match record.key {
                    None => 0,
                    Some(k) => {
                        key.extend_from_slice(k);
                        key.push(b'\t');
                        u32::try_from(k.len() + 1).map_err(|_| {
                            format!("a key of {} bytes is too long to sort", k.len())
                        })?
                    }
                };
                key.extend_from_slice(record.value);
                self.out.push(RecordRef {
                    key: Some(key),
                    value: &split.to_be_bytes(),
                })
            }
        }
    }

    fn full(&self) -> bool {
        self.out.full()
    }
}

/// `sort_by_key`'s sorted records with their keys as they were.
pub fn unsort_keys(order: SortOrder, sorted: Sorted) -> Records {
    if order == SortOrder::default() {
        return Box::new(sorted);
    }
    Box::new(sorted.map(move |r| {
        let r = r?;
        let encoded = r.key.as_deref().unwrap_or_default();
        let key = decode_key(order, encoded).map_err(|e| format!("sort_by_key: {e}"))?;
        Ok(Record::pair(key, r.value))
    }))
}

/// `sort_by`'s sorted records as they were before they were keyed.
pub fn unsort_records(order: SortOrder, sorted: Sorted) -> Records {
    Box::new(sorted.map(move |r| {
        let r = r?;
        unsort_record(order, &r).map_err(|e| format!("sort_by: {e}"))
    }))
}

fn unsort_record(order: SortOrder, r: &Record) -> Result<Record, String> {
    let encoded = r.key.as_deref().unwrap_or_default();
    let line = &encoded[prefix_len(order, encoded)?..];
    let split: [u8; SPLIT_BYTES] = r.value[..].try_into().map_err(|_| {
        format!(
            "a shuffled record's value has {} bytes, not {SPLIT_BYTES}",
            r.value.len()
        )
    })?;
    Ok(match u32::from_be_bytes(split) as usize {
        0 => Record::line(line),
        at => match line.get(at - 1) {
            Some(b'\t') => Record::pair(&line[..at - 1], &line[at..]),
            _ => {
                return Err(format!(
                    "a shuffled record's key ends at byte {at} of {}, which is not a tab",
                    quote(line)
                ))
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::plan;
    use crate::storage::{sorted, SpillDir};
    use std::collections::{BTreeMap, VecDeque};
    use std::sync::Arc;

    /// Keys `records` as the map side of the job's sort does, sorts them by
    /// bytes as the reduce side does, and gives them back.
    fn sort(src: &str, records: &[Record]) -> Result<Vec<String>, String> {
        let job = Job::parse("t.job", src, &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
        let plan = plan(&job, 2).unwrap();
        let shuffle = &plan.shuffles[0];
        let how = How::of(&job, shuffle, "dir/f.txt", None)?;
        let mut keyed: VecDeque<Record> = VecDeque::new();
        match &how {
            Some(how) => {
                let mut adapter = SortKeys::new(how, &mut keyed);
                for r in records {
                    adapter.push(r.as_ref())?;
                }
            }
            None => keyed.extend(records.iter().cloned()),
        }
        let dir = std::env::temp_dir().join(format!("minispark-order-{}", std::process::id()));
        let spill = Arc::new(SpillDir::new(dir).unwrap());
        let (sorted, _) = sorted(keyed.into_iter().map(Ok), 1 << 20, 4, &spill)?;
        let wide = &job.datasets[shuffle.wide].op;
        let out = match wide {
            Op::SortByKey { order, .. } => unsort_keys(*order, sorted),
            Op::SortBy { order, .. } => unsort_records(*order, sorted),
            other => panic!("{other:?}"),
        };
        out.map(|r| r.map(|r| String::from_utf8_lossy(&r.to_line()).into_owned()))
            .collect()
    }

    fn pairs(kvs: &[(&str, &str)]) -> Vec<Record> {
        kvs.iter()
            .map(|(k, v)| Record::pair(k.as_bytes(), v.as_bytes()))
            .collect()
    }

    #[test]
    fn sort_by_key_numeric_and_descending() {
        let data = pairs(&[
            ("10", "a"),
            ("9", "b"),
            ("-2.5", "c"),
            ("007", "z"),
            ("7", "y"),
            ("7", "x"),
            ("1e999", "inf"),
            ("-3", "d"),
        ]);
        let job =
            |args: &str| format!("read_text(\"i\").map($1, $2).sort_by_key({args}).save(\"o\")");
        assert_eq!(
            sort(&job("numeric=true"), &data).unwrap(),
            [
                "-3\td",
                "-2.5\tc",
                "007\tz",
                "7\tx",
                "7\ty",
                "9\tb",
                "10\ta",
                "1e999\tinf"
            ]
        );
        // Descending: the keys reversed, ties (by key bytes, then value) not.
        assert_eq!(
            sort(&job("numeric=true, descending=true"), &data).unwrap(),
            [
                "1e999\tinf",
                "10\ta",
                "9\tb",
                "007\tz",
                "7\tx",
                "7\ty",
                "-2.5\tc",
                "-3\td"
            ]
        );
        assert_eq!(
            sort(&job("2, descending=true"), &data).unwrap(),
            [
                "9\tb",
                "7\tx",
                "7\ty",
                "1e999\tinf",
                "10\ta",
                "007\tz",
                "-3\td",
                "-2.5\tc"
            ]
        );
        let bad = pairs(&[("1", "a"), ("abc", "b")]);
        assert_eq!(
            sort(&job("numeric=true"), &bad).unwrap_err(),
            "sort_by_key(numeric=true): key \"abc\" is not a number"
        );
    }

    #[test]
    fn sort_by_keeps_records_and_breaks_ties_by_the_whole_record() {
        // Keys with tabs and low bytes: ties go by `$0`, not by (key, value).
        let data = pairs(&[
            ("b", "5"),
            ("a\tx", "5"),
            ("a", "5"),
            ("a\u{1}", "5"),
            ("c", "12"),
            ("d", "-1"),
        ]);
        let job = |args: &str| format!("read_text(\"i\").map($1, $2).sort_by({args}).save(\"o\")");
        assert_eq!(
            sort(&job("$value, numeric=true, descending=true"), &data).unwrap(),
            ["c\t12", "a\u{1}\t5", "a\t5", "a\tx\t5", "b\t5", "d\t-1"]
        );
        // By text: "-1" < "12" < "5".
        assert_eq!(
            sort(&job("$value"), &data).unwrap(),
            ["d\t-1", "c\t12", "a\u{1}\t5", "a\t5", "a\tx\t5", "b\t5"]
        );
        let lines: Vec<Record> = ["b 2", "a 10", "", "c 2.5"]
            .iter()
            .map(|l| Record::line(l.as_bytes()))
            .collect();
        let job = "read_text(\"i\").sort_by(len($0), descending=true).save(\"o\")";
        assert_eq!(sort(job, &lines).unwrap(), ["c 2.5", "a 10", "b 2", ""]);
        let job = "read_text(\"i\").filter($0 != \"\").sort_by($2, numeric=true).save(\"o\")";
        let some: Vec<Record> = lines[..2].to_vec();
        assert_eq!(sort(job, &some).unwrap(), ["b 2", "a 10"]);
        // A value that is no number names the expression and the record.
        let job = "read_text(\"i\").sort_by($2, numeric=true).save(\"o\")";
        assert_eq!(
            sort(job, &lines[2..3]).unwrap_err(),
            "sort_by(numeric=true): `$2` is \"\", not a number, for the record \"\""
        );
        // Computed floats: NaN after +inf, and first when descending.
        let nums: Vec<Record> = ["0", "1", "-1", "2"]
            .iter()
            .map(|l| Record::line(l.as_bytes()))
            .collect();
        let job = "read_text(\"i\").sort_by(if($0 == \"2\", 0.0 / 0.0, 1.0 / float($0)), numeric=true).save(\"o\")";
        assert_eq!(sort(job, &nums).unwrap(), ["-1", "1", "0", "2"]);
        let job = "read_text(\"i\").sort_by(if($0 == \"2\", 0.0 / 0.0, 1.0 / float($0)), numeric=true, descending=true).save(\"o\")";
        assert_eq!(sort(job, &nums).unwrap(), ["2", "0", "1", "-1"]);
    }

    #[test]
    fn malformed_shuffled_records_are_errors() {
        let order = SortOrder::default();
        let mut key = Vec::new();
        push_text(b"x", false, &mut key);
        key.extend_from_slice(b"ab");
        let r = Record::pair(key.clone(), vec![0, 0, 0, 2]);
        assert!(unsort_record(order, &r).unwrap_err().contains("not a tab"));
        let r = Record::pair(key.clone(), vec![0, 0, 0, 9]);
        assert!(unsort_record(order, &r).unwrap_err().contains("not a tab"));
        let r = Record::pair(key, vec![0]);
        assert!(unsort_record(order, &r)
            .unwrap_err()
            .contains("1 bytes, not 4"));
        let r = Record::pair(b"junk".to_vec(), vec![0, 0, 0, 0]);
        assert!(unsort_record(order, &r)
            .unwrap_err()
            .contains("no end marker"));
    }
}
