//! The reduce side of wide operators: what a task does with the partition
//! it fetched from every map output.
//!
//! | operator | how |
//! |---|---|
//! | `reduce_by_key` | merge the map side's partial aggregates in a bounded-memory hash table (`aggregate.rs`) |
//! | `group_by_key` | external sort by (key, value), then one record per run of equal keys |
//! | `distinct` | external sort, then drop each record equal to the one before |
//! | `sort_by_key` | external sort (the range partitioning already ordered the partitions) |
//! | `join`, `left_join` | external sort of each side, then a merge join |
//!
//! OS idea: nothing here needs a partition to fit in memory. Sorted runs
//! spill to disk and stream back through a k-way merge; the merge join
//! streams both sides and holds only the current key's left values, and
//! spills those too when one key has more than its share of memory.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::iter::Peekable;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::aggregate::HashAggregator;
use crate::executor::{Counters, Records, TaskEnv, CANCEL_CHECK_EVERY, MERGE_FAN_IN};
use crate::job::{DatasetId, Job, Op};
use crate::message::TaskSpec;
use crate::plan::Plan;
use crate::record::{Record, SmallBytes};
use crate::runfile::{RunReader, RunWriter};
use crate::shuffle::{fetch, FetchRequest};
use crate::sort::ExternalSorter;
use crate::spill::SpillDir;

/// Computes reduce partition `spec.index` of wide operator `wide`.
#[allow(clippy::too_many_arguments)]
pub fn reduce(
    job: &Job,
    plan: &Plan,
    wide: DatasetId,
    spec: &TaskSpec,
    env: &TaskEnv,
    spill: &Arc<SpillDir>,
    counters: &Arc<Counters>,
    cancel: &Arc<AtomicBool>,
) -> Result<Records, String> {
    let shuffles = plan.shuffles_of(wide);
    let fetch_side = |side: usize| -> Result<Records, String> {
        let shuffle = shuffles
            .get(side)
            .ok_or_else(|| format!("dataset {wide} has no input {side}"))?;
        let read = spec
            .shuffle_reads
            .iter()
            .find(|r| r.shuffle == shuffle.id)
            .ok_or_else(|| format!("the task was not told where shuffle {} lives", shuffle.id))?;
        let fetched = fetch(
            FetchRequest {
                job_id: spec.job_id,
                shuffle: shuffle.id,
                partition: spec.index,
                maps: read.maps.clone(),
            },
            env.fetch_in_flight,
            Arc::clone(&counters.fetched_bytes),
            env.local_maps.clone(),
        );
        let (counters, cancel) = (Arc::clone(counters), Arc::clone(cancel));
        Ok(Box::new(fetched.map(move |r| {
            let n = counters.records_in.fetch_add(1, Ordering::Relaxed);
            if n % CANCEL_CHECK_EVERY == 0 && cancel.load(Ordering::Relaxed) {
                return Err("cancelled".to_string());
            }
            r
        })))
    };
    // Sorts `records` within `budget`; returns them and the memory they
    // keep while being read.
    let sorted = |records: Records, budget: usize| -> Result<(Records, usize), String> {
        let mut sorter = ExternalSorter::new(budget, MERGE_FAN_IN, Arc::clone(spill));
        for r in records {
            sorter.push(r?)?;
        }
        let retained = sorter.retained_bytes();
        Ok((Box::new(sorter.finish()?), retained))
    };
    // The share also pays for fixed buffers: the fetched blocks in flight
    // and one block per run a merge reads. Records get the rest.
    let block = crate::runfile::BLOCK_BYTES + crate::runfile::BLOCK_HEADER_BYTES;
    let reserved = (2 * env.fetch_in_flight + MERGE_FAN_IN) * block;
    let budget = env
        .memory_bytes
        .saturating_sub(reserved)
        .max(env.memory_bytes / 4);
    let op = &job
        .datasets
        .get(wide)
        .ok_or_else(|| format!("no dataset {wide}"))?
        .op;
    Ok(match op {
        Op::ReduceByKey { agg, .. } => {
            let mut table =
                HashAggregator::new(agg.clone(), budget, MERGE_FAN_IN, Arc::clone(spill));
            for r in fetch_side(0)? {
                let r = r?;
                table.merge_partial(r.key.as_deref().unwrap_or_default(), &r.value)?;
            }
            table.finish()?
        }
        Op::GroupByKey { .. } => Box::new(Groups {
            sorted: sorted(fetch_side(0)?, budget)?.0.peekable(),
        }),
        Op::Distinct { .. } => {
            let mut last: Option<Record> = None;
            Box::new(sorted(fetch_side(0)?, budget)?.0.filter(move |r| match r {
                Ok(rec) if last.as_ref() == Some(rec) => false,
                Ok(rec) => {
                    last = Some(rec.clone());
                    true
                }
                Err(_) => true,
            }))
        }
        Op::SortByKey { .. } => sorted(fetch_side(0)?, budget)?.0,
        Op::Join { .. } | Op::LeftJoin { .. } => {
            let outer = matches!(op, Op::LeftJoin { .. });
            // An eighth of the share holds the current key's left values.
            // The left side sorts in at most half; the right side gets what
            // the sorted left side does not keep.
            let group = budget / 8;
            let (left, kept) = sorted(fetch_side(0)?, budget / 2)?;
            let right_budget = budget.saturating_sub(group + kept).max(budget / 8);
            let (right, _) = sorted(fetch_side(1)?, right_budget)?;
            Box::new(MergeJoin::new(left, right, outer, group, Arc::clone(spill)))
        }
        other => return Err(format!("`{}` is not computed from a shuffle", other.name())),
    })
}

/// `group_by_key`: one record per key, its values in byte order joined by
/// commas (the records arrive sorted by key, then value).
struct Groups {
    sorted: Peekable<Records>,
}

impl Iterator for Groups {
    type Item = Result<Record, String>;

    fn next(&mut self) -> Option<Self::Item> {
        let first = match self.sorted.next()? {
            Ok(r) => r,
            Err(e) => return Some(Err(e)),
        };
        let key = first.key.unwrap_or_default();
        let mut values = first.value.into_vec();
        while let Some(Ok(next)) = self.sorted.peek() {
            if next.key.as_deref().unwrap_or_default() != &key[..] {
                break;
            }
            let Some(Ok(next)) = self.sorted.next() else {
                break;
            };
            values.push(b',');
            values.extend_from_slice(&next.value);
        }
        if let Some(Err(_)) = self.sorted.peek() {
            return self.sorted.next();
        }
        Some(Ok(Record::pair(key, values)))
    }
}

/// A sort-merge join of two streams sorted by key. For each key on both
/// sides it holds the left values (spilled to a run file past their budget)
/// and streams the right ones, one at a time: `key<TAB>left<TAB>right` for
/// every pair. A left join also emits `key<TAB>left<TAB>` for left records
/// no right record matches. Memory: one key's left values (bounded), one
/// right record, one output record.
struct MergeJoin {
    left: Peekable<Records>,
    right: Peekable<Records>,
    outer: bool,
    group_budget: usize,
    spill: Arc<SpillDir>,
    /// The key whose left group is loaded, and whether a right record matched it.
    current: Option<(Vec<u8>, bool)>,
    group: Group,
    /// The right value being joined with the group, and where in the group we are.
    pass: Option<(Vec<u8>, Cursor)>,
    failed: bool,
}

/// One key's left values.
enum Group {
    Memory(Vec<Vec<u8>>),
    /// Too many for the budget: in a run file.
    Spilled(PathBuf),
}

enum Cursor {
    Memory(usize),
    File(RunReader<BufReader<File>>),
}

fn joined(key: &[u8], left: &[u8], right: &[u8]) -> Record {
    Record::pair(key, SmallBytes::concat(&[left, b"\t", right]))
}

fn key(r: &Record) -> &[u8] {
    r.key.as_deref().unwrap_or_default()
}

impl MergeJoin {
    fn new(
        left: Records,
        right: Records,
        outer: bool,
        group_budget: usize,
        spill: Arc<SpillDir>,
    ) -> MergeJoin {
        MergeJoin {
            left: left.peekable(),
            right: right.peekable(),
            outer,
            group_budget,
            spill,
            current: None,
            group: Group::Memory(Vec::new()),
            pass: None,
            failed: false,
        }
    }

    /// The next joined record, or `None` at the end.
    fn step(&mut self) -> Result<Option<Record>, String> {
        loop {
            // 1. Joining one right value with the group: the next left value.
            if let (Some((key, _)), Some((right, cursor))) = (&self.current, &mut self.pass) {
                let left = match (cursor, &self.group) {
                    (Cursor::Memory(i), Group::Memory(values)) => {
                        let v = values.get(*i).cloned();
                        *i += 1;
                        v
                    }
                    (Cursor::File(reader), _) => {
                        reader.next().transpose()?.map(|r| r.value.into_vec())
                    }
                    _ => None,
                };
                match left {
                    Some(left) => return Ok(Some(joined(key, &left, right))),
                    None => self.pass = None,
                }
                continue;
            }
            // 2. A group is loaded: the next right record with its key, or done with it.
            if let Some((group_key, matched)) = &mut self.current {
                if let Some(Err(_)) = self.right.peek() {
                    return Err(self.right.next().and_then(Result::err).unwrap_or_default());
                }
                let same =
                    matches!(self.right.peek(), Some(Ok(r)) if key(r) == group_key.as_slice());
                if same {
                    let Some(Ok(r)) = self.right.next() else {
                        continue;
                    };
                    *matched = true;
                    let cursor = self.cursor()?;
                    self.pass = Some((r.value.into_vec(), cursor));
                } else if !*matched && self.outer {
                    // One pass with an empty right side, then the group is done.
                    *matched = true;
                    let cursor = self.cursor()?;
                    self.pass = Some((Vec::new(), cursor));
                } else {
                    self.current = None;
                }
                continue;
            }
            // 3. Find the next key on both sides (or, for a left join, any left key).
            if let Some(Err(_)) = self.left.peek() {
                return Err(self.left.next().and_then(Result::err).unwrap_or_default());
            }
            if let Some(Err(_)) = self.right.peek() {
                return Err(self.right.next().and_then(Result::err).unwrap_or_default());
            }
            let Some(Ok(l)) = self.left.peek() else {
                return Ok(None);
            };
            let order = match self.right.peek() {
                Some(Ok(r)) => key(l).cmp(key(r)),
                _ => std::cmp::Ordering::Less,
            };
            match order {
                std::cmp::Ordering::Greater => {
                    self.right.next();
                }
                std::cmp::Ordering::Less if !self.outer => {
                    self.left.next();
                }
                _ => {
                    let k = key(l).to_vec();
                    self.load_group(&k)?;
                    self.current = Some((k, false));
                }
            }
        }
    }

    fn cursor(&self) -> Result<Cursor, String> {
        Ok(match &self.group {
            Group::Memory(_) => Cursor::Memory(0),
            Group::Spilled(path) => {
                let file =
                    File::open(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
                Cursor::File(RunReader::new(
                    BufReader::new(file),
                    path.display().to_string(),
                ))
            }
        })
    }

    /// Takes every left record with key `k` into the group, spilling it to a
    /// run file once it outgrows its budget.
    fn load_group(&mut self, k: &[u8]) -> Result<(), String> {
        let spill_err = |e: std::io::Error| format!("spilling a join group: {e}");
        let mut values = Vec::new();
        let mut bytes = 0usize;
        let mut writer: Option<(PathBuf, RunWriter<BufWriter<File>>)> = None;
        while matches!(self.left.peek(), Some(Ok(r)) if key(r) == k) {
            let Some(Ok(rec)) = self.left.next() else {
                break;
            };
            if let Some((_, w)) = writer.as_mut() {
                w.write(&Record::line(rec.value)).map_err(spill_err)?;
                continue;
            }
            bytes += rec.value.len() + 32;
            values.push(rec.value.into_vec());
            if bytes > self.group_budget {
                let (path, file) = self.spill.create("join")?;
                let mut w = RunWriter::new(BufWriter::new(file));
                for v in values.drain(..) {
                    w.write(&Record::line(v)).map_err(spill_err)?;
                }
                writer = Some((path, w));
            }
        }
        self.group = match writer {
            None => Group::Memory(values),
            Some((path, w)) => {
                let (mut inner, stats) = w.finish().map_err(spill_err)?;
                inner.flush().map_err(spill_err)?;
                self.spill.record(stats);
                Group::Spilled(path)
            }
        };
        Ok(())
    }
}

impl Iterator for MergeJoin {
    type Item = Result<Record, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.step() {
            Ok(r) => r.map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}
