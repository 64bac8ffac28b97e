//! The reduce side of wide operators: what a task does with the partition
//! it fetched from every map output.
//!
//! | operator | how |
//! |---|---|
//! | `reduce_by_key` | merge the map side's partial aggregates in a bounded-memory hash table (`storage/aggregate/`) |
//! | `group_by_key` | external sort by (key, value), then one record per run of equal keys |
//! | `distinct` | external sort, then drop each record equal to the one before (each map task sent each of its records once: `storage::DistinctSet`) |
//! | `sort_by_key` | external sort (the range partitioning already ordered the partitions); in another order, the keys decoded (`order.rs`) |
//! | `sort_by` | external sort, then each record back as it was (`order.rs`) |
//! | `take` | external sort by position, the first `n` (`gather.rs`) |
//! | `count` | the sum of the map tasks' counts (`gather.rs`) |
//! | `join`, `left_join` | a hash join, or external sorts and a merge join when the left side does not fit (`join.rs`) |
//!
//! OS idea: nothing here needs a partition to fit in memory. Sorted runs
//! spill to disk and stream back through a k-way merge.

use std::iter::Peekable;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::exec::env::{Counters, Records, Tally, TaskEnv, MERGE_FAN_IN};
use crate::exec::join::join;
use crate::exec::{gather, order};
use crate::job::{DatasetId, Job, Op, Plan, SortOrder};
use crate::protocol::TaskSpec;
use crate::record::Record;
use crate::storage::{fetch, sorted, FetchLimits, FetchRequest, HashAggregator, Sorted, SpillDir};

/// A reduce partition's records: made one at a time, or a sort's in the
/// order and form they lie in its buffer (`sort_by_key()` ascending), to
/// be lent from it rather than copied out (`Sorted::try_for_each_ref`).
pub enum Reduced {
    Records(Records),
    Sorted(Sorted),
}

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
) -> Result<Reduced, String> {
    let shuffles = plan.shuffles_of(wide);
    let fetch_side = |side: usize| -> Result<Records, String> {
        let shuffle = shuffles
            .get(side)
            .ok_or_else(|| format!("dataset {wide} has no input {side}"))?;
        fetch_partition(shuffle.id, spec.index, spec, env, counters, cancel)
    };
    // The share also pays for fixed buffers: the fetched blocks in flight
    // and one block per run a merge reads. Records get the rest.
    let block = crate::storage::BLOCK_BYTES + crate::storage::BLOCK_HEADER_BYTES;
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
    Ok(Reduced::Records(match op {
        Op::ReduceByKey { aggs, .. } => {
            let mut table =
                HashAggregator::new(aggs.clone(), budget, MERGE_FAN_IN, Arc::clone(spill));
            for r in fetch_side(0)? {
                let r = r?;
                table.merge_partial(r.key.as_deref().unwrap_or_default(), &r.value)?;
            }
            table.finish()?
        }
        Op::GroupByKey { .. } => Box::new(Groups {
            sorted: sorted(fetch_side(0)?, budget, MERGE_FAN_IN, spill)?
                .0
                .peekable(),
        }),
        Op::Distinct { .. } => {
            let mut last: Option<Record> = None;
            Box::new(
                sorted(fetch_side(0)?, budget, MERGE_FAN_IN, spill)?
                    .0
                    .filter(move |r| match r {
                        Ok(rec) if last.as_ref() == Some(rec) => false,
                        Ok(rec) => {
                            last = Some(rec.clone());
                            true
                        }
                        Err(_) => true,
                    }),
            )
        }
        Op::SortByKey { order, .. } => {
            let records = sorted(fetch_side(0)?, budget, MERGE_FAN_IN, spill)?.0;
            if *order == SortOrder::default() {
                return Ok(Reduced::Sorted(records));
            }
            order::unsort_keys(*order, records)
        }
        Op::SortBy { order, .. } => {
            let records = sorted(fetch_side(0)?, budget, MERGE_FAN_IN, spill)?.0;
            order::unsort_records(*order, records)
        }
        Op::Take { n, .. } => gather::take(fetch_side(0)?, *n, budget, spill)?,
        Op::Count { .. } => gather::count(fetch_side(0)?)?,
        Op::Join { .. } | Op::LeftJoin { .. } => {
            let outer = matches!(op, Op::LeftJoin { .. });
            join(fetch_side(0)?, || fetch_side(1), outer, budget, spill)?
        }
        other => return Err(format!("`{}` is not computed from a shuffle", other.name())),
    }))
}

/// Partition `spec.index` of cached dataset `cached`: the records the task
/// of that number kept when it computed them (the master sends where that
/// one task's output lives), in the order it kept them.
pub fn cached(
    plan: &Plan,
    cached: DatasetId,
    spec: &TaskSpec,
    env: &TaskEnv,
    counters: &Arc<Counters>,
    cancel: &Arc<AtomicBool>,
) -> Result<Records, String> {
    let shuffle = plan
        .shuffles_of(cached)
        .first()
        .map(|s| s.id)
        .ok_or_else(|| format!("cached dataset {cached} has no stage that keeps it"))?;
    fetch_partition(shuffle, 0, spec, env, counters, cancel)
}

/// The records of `partition` of `shuffle` from every map output the task
/// was told of, counted as the task's input.
fn fetch_partition(
    shuffle: u32,
    partition: u32,
    spec: &TaskSpec,
    env: &TaskEnv,
    counters: &Arc<Counters>,
    cancel: &Arc<AtomicBool>,
) -> Result<Records, String> {
    let read = spec
        .shuffle_reads
        .iter()
        .find(|r| r.shuffle == shuffle)
        .ok_or_else(|| format!("the task was not told where shuffle {shuffle} lives"))?;
    let fetched = fetch(
        FetchRequest {
            job_id: spec.job_id,
            shuffle,
            partition,
            maps: read.maps.clone(),
        },
        FetchLimits {
            in_flight: env.fetch_in_flight,
            timeout: env.fetch_timeout,
            cancel: Arc::clone(cancel),
        },
        Arc::clone(&counters.fetched_bytes),
        env.local_maps.clone(),
        Arc::clone(&counters.fetch_failure),
        env.secret.clone(),
    );
    // Their bytes are counted as fetched, by the fetch threads.
    let mut tally = Tally::new(counters, cancel);
    Ok(Box::new(fetched.map(move |r| {
        tally.add(0)?;
        r
    })))
}

/// `group_by_key`: one record per key, its values in byte order joined by
/// commas (the records arrive sorted by key, then value).
struct Groups {
    sorted: Peekable<Sorted>,
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
