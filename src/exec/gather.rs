//! `take(n)` and `count()`: wide operators whose reduce side is one
//! partition that gathers a small, bounded share of every map task.
//!
//! | operator | each map task sends | the one reduce task |
//! |---|---|---|
//! | `take(n)` | its first `n` records (`First`), each keyed by its position, and stops reading | sorts by position, keeps the first `n` |
//! | `count()` | one record, its number of records (`Counter`), even 0 | adds them up |
//!
//! `take`'s position key keeps the input's order across the shuffle:
//!
//! ```text
//! | task: u32 | place in the task: u64 | 1 if a pair, else 0 | the record's key, if any |
//! ```
//!
//! all big-endian, so their bytes sort as the numbers do. A reduce task's
//! fetch threads interleave blocks from several map outputs, in whatever
//! order they arrive; sorting by this key (the external sort, within the
//! task's memory) puts the records back in the dataset's order: task 0
//! first (the first split, or part 0 of a shuffle's output), then place.
//!
//! OS idea: stop early. A map task of `take(n)` stops pulling its input
//! once it has `n` records (`Sink::full`): after a sort, the rest of the
//! partition is never merged; after a `pipe`, the child is killed rather
//! than read to its end.

use crate::exec::chain::Sink;
use crate::exec::env::{Records, MERGE_FAN_IN};
use crate::job::quote;
use crate::record::{Record, RecordRef};
use crate::storage::{sorted, SpillDir};
use std::sync::Arc;

/// Bytes of a position key before the record's own key.
const TASK_BYTES: usize = 4;
const PLACE_BYTES: usize = 8;
const PAIR_AT: usize = TASK_BYTES + PLACE_BYTES;
const POSITION_BYTES: usize = PAIR_AT + 1;

/// `take`'s map side: the first `n` records of the task, keyed by position.
pub struct First<'a> {
    n: u64,
    task: u32,
    sent: u64,
    key: Vec<u8>,
    out: &'a mut dyn Sink,
}

impl<'a> First<'a> {
    /// `task` is the map task's number in its stage: its place in the order.
    pub fn new(n: u64, task: u32, out: &'a mut dyn Sink) -> First<'a> {
        First {
            n,
            task,
            sent: 0,
            key: Vec::new(),
            out,
        }
    }
}

impl Sink for First<'_> {
    fn push(&mut self, record: RecordRef<'_>) -> Result<(), String> {
        // A `flat_map` may make several records of the last line read.
        if self.sent >= self.n {
            return Ok(());
        }
        self.key.clear();
        self.key.extend_from_slice(&self.task.to_be_bytes());
        self.key.extend_from_slice(&self.sent.to_be_bytes());
        self.key.push(u8::from(record.key.is_some()));
        self.key.extend_from_slice(record.key.unwrap_or_default());
        self.sent += 1;
        self.out.push(RecordRef {
            key: Some(&self.key),
            value: record.value,
        })
    }

    fn full(&self) -> bool {
        self.sent >= self.n
    }
}

/// `count`'s map side: counts the task's records.
#[derive(Default)]
pub struct Counter {
    pub records: u64,
}

impl Sink for Counter {
    fn push(&mut self, _record: RecordRef<'_>) -> Result<(), String> {
        self.records += 1;
        Ok(())
    }
}

impl Counter {
    /// Sends the count, as a pair with an empty key (the shuffle sends pairs).
    pub fn send(&self, out: &mut dyn Sink) -> Result<(), String> {
        out.push(RecordRef {
            key: Some(b""),
            value: self.records.to_string().as_bytes(),
        })
    }
}

/// `take`'s reduce side: the first `n` of every map task's records, in
/// order, as they were before the map side keyed them.
///
/// # Errors
/// A fetch that fails, or spilling the sort.
pub fn take(
    fetched: Records,
    n: u64,
    budget_bytes: usize,
    spill: &Arc<SpillDir>,
) -> Result<Records, String> {
    let (in_order, _) = sorted(fetched, budget_bytes, MERGE_FAN_IN, spill)?;
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    Ok(Box::new(in_order.take(n).map(|r| unposition(r?))))
}

/// The record a position key was put on.
fn unposition(r: Record) -> Result<Record, String> {
    let key = r.key.as_deref().unwrap_or_default();
    match (key.len() >= POSITION_BYTES, key.get(PAIR_AT)) {
        (true, Some(0)) if key.len() == POSITION_BYTES => Ok(Record::line(r.value)),
        (true, Some(1)) => Ok(Record::pair(&key[POSITION_BYTES..], r.value)),
        _ => Err(format!(
            "take: a shuffled record has a bad position key {}",
            quote(key)
        )),
    }
}

/// `count`'s reduce side: one line, the sum of every map task's count.
///
/// # Errors
/// A fetch that fails, or a record that is no count.
pub fn count(fetched: Records) -> Result<Records, String> {
    let mut total: u64 = 0;
    for r in fetched {
        let r = r?;
        let n = std::str::from_utf8(&r.value)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| format!("count: a map task sent {}, not a count", quote(&r.value)))?;
        total = total
            .checked_add(n)
            .ok_or("count: more records than a 64-bit count holds")?;
    }
    Ok(Box::new(std::iter::once(Ok(Record::line(
        total.to_string().into_bytes(),
    )))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    fn spill() -> Arc<SpillDir> {
        let dir = std::env::temp_dir().join(format!("minispark-gather-{}", std::process::id()));
        Arc::new(SpillDir::new(dir).unwrap())
    }

    fn lines(records: Records) -> Vec<String> {
        records
            .map(|r| String::from_utf8_lossy(&r.unwrap().to_line()).into_owned())
            .collect()
    }

    #[test]
    fn take_keeps_the_order_of_tasks_then_places_whatever_the_arrival() {
        let mut sent: VecDeque<Record> = VecDeque::new();
        // Task 1 sends first; task 0's records arrive after it, and a
        // budget of 1 byte makes every one a run of the sort.
        for (task, records) in [(1, vec!["c", "d"]), (0, vec!["a", "b", "x"])] {
            let mut first = First::new(2, task, &mut sent);
            for r in records {
                if !first.full() {
                    first.push(RecordRef::line(r.as_bytes())).unwrap();
                }
            }
            assert!(first.full());
        }
        let mut pair = First::new(5, 2, &mut sent);
        pair.push(RecordRef {
            key: Some(b"k\t"),
            value: b"v",
        })
        .unwrap();
        assert!(!pair.full());
        let got = take(Box::new(sent.clone().into_iter().map(Ok)), 10, 1, &spill()).unwrap();
        assert_eq!(lines(got), ["a", "b", "c", "d", "k\t\tv"]);
        let got = take(Box::new(sent.into_iter().map(Ok)), 3, 1 << 20, &spill()).unwrap();
        assert_eq!(lines(got), ["a", "b", "c"]);
        // Nothing to take.
        let mut none: VecDeque<Record> = VecDeque::new();
        assert!(First::new(0, 0, &mut none).full());
    }

    #[test]
    fn count_adds_every_task_and_is_0_for_none() {
        let mut sent: VecDeque<Record> = VecDeque::new();
        for n in [3u64, 0, 40] {
            let mut counter = Counter::default();
            for _ in 0..n {
                counter.push(RecordRef::line(b"x")).unwrap();
            }
            counter.send(&mut sent).unwrap();
        }
        assert_eq!(
            lines(count(Box::new(sent.into_iter().map(Ok))).unwrap()),
            ["43"]
        );
        assert_eq!(lines(count(Box::new(std::iter::empty())).unwrap()), ["0"]);
        let bad = Record::pair(b"".to_vec(), b"-1".to_vec());
        assert!(count(Box::new(std::iter::once(Ok(bad))))
            .err()
            .unwrap()
            .contains("sent \"-1\", not a count"));
    }

    #[test]
    fn a_bad_position_key_is_an_error() {
        for key in [
            &b""[..],
            &[0; 12],
            &[0; 14],
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7],
        ] {
            let r = Record::pair(key.to_vec(), b"v".to_vec());
            assert!(unposition(r).unwrap_err().contains("bad position key"));
        }
        let mut ok = vec![0; 12];
        ok.push(1);
        assert_eq!(
            unposition(Record::pair(ok, b"v".to_vec())).unwrap(),
            Record::pair(b"".to_vec(), b"v".to_vec())
        );
    }
}
