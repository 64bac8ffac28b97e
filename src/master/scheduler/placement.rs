//! Placement: which workers a task may run on, given the pairs of workers
//! that could not talk.
//!
//! Distributed-systems idea: exclusion after failure, as Spark's
//! `excludeOnFailure` and Hadoop's fetch-failure blacklist do it. Every
//! worker may reach the master and still not reach another worker (a
//! firewall rule, a broken route: a network split between two of them). The
//! master cannot see that split; it learns it from a reducer that could not
//! fetch a map output (`fetch_failed`), and records the pair of workers
//! (`Unreachable`) for the rest of the job. From then on a task that reads
//! map outputs runs only on a worker that has no recorded pair with any
//! worker holding one of them (`place`), so a lasting split costs one fetch
//! timeout, not one per retry.
//!
//! When no live worker can reach every holder, the inputs move instead: the
//! master picks the worker that conflicts with the fewest holders (the
//! reader) and forgets the outputs held by the workers it cannot reach
//! (`JobRun::move_inputs`); their map tasks run again away from those
//! holders, and the task waits for them. A move is not a failure and counts
//! against nothing: it happens before any fetch, and costs map re-runs, not
//! fetch timeouts.
//!
//! Where a moved map task runs again is steered only by `avoid` (anywhere
//! but the holder it moved from), not by the pairs: which worker will read
//! its output is not known when it runs (every reducer of a shuffle reads
//! every map output, and reducers are placed after it), and a map task that
//! reads no map output has no holder to conflict with. The reader is always
//! among the places it may land. If it lands where the reader cannot reach
//! either, the next placement moves it again; the outputs that land where
//! the reader can reach stay. With two workers split, or one worker cut off
//! from the rest, one move ends it; with more pairs it may take a few. Moves
//! are not counted: each one waits for the moved map tasks to commit, so
//! they are paced by map runs, and none costs a fetch timeout or fails a job.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::state::{JobRun, TaskState};
use crate::event;
use crate::job::Partitioner;

/// Pairs of workers that could not talk in one job: a reducer on one failed
/// to fetch a map output from the other.
///
/// A failed fetch is taken as a broken link both ways: the fetch does not
/// say which direction failed (the connection, the request or the reply),
/// and a map output is read by whoever is placed next, so a pair is stored
/// with its smaller id first and means neither should read from the other.
/// A worker never forms a pair with itself (it reads its own outputs from
/// its own disk, whatever the network does).
///
/// Kept in memory only, per job: a restarted master learns the pairs again,
/// at the cost of one fetch timeout each. A lost worker's pairs are dropped
/// with it (`forget`): a worker that registers again keeps its id
/// (`Membership::register`, `prev_id`), but it is a new run of it, maybe
/// back over a network that has healed, and its map outputs were forgotten
/// with it too; so a pair holds only while both its workers stay alive.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Unreachable(BTreeSet<(u32, u32)>);

impl Unreachable {
    /// Records that `a` and `b` could not talk. True if the pair is new.
    pub(super) fn record(&mut self, a: u32, b: u32) -> bool {
        a != b && self.0.insert((a.min(b), a.max(b)))
    }

    /// Whether `a` and `b` are recorded as unable to talk.
    pub(super) fn between(&self, a: u32, b: u32) -> bool {
        self.0.contains(&(a.min(b), a.max(b)))
    }

    /// Drops the pairs that name `worker` (it was lost).
    pub(super) fn forget(&mut self, worker: u32) {
        self.0.retain(|&(a, b)| a != worker && b != worker);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The pairs, as a failure message names them: `2 and 3; 1 and 4`.
impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (a, b)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{a} and {b}")?;
        }
        Ok(())
    }
}

/// Where a pending task may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Placement {
    /// On any of these live workers: none has a recorded pair with a holder
    /// of the task's inputs.
    On(BTreeSet<u32>),
    /// On none: the outputs held by `from` move (are computed again
    /// elsewhere) so that `reader` can read every input.
    Move { reader: u32, from: BTreeSet<u32> },
}

/// Where a task reading inputs held by `holders` (each worker with the
/// number of its inputs it holds) may run among the `live` workers, given
/// the pairs that could not talk.
///
/// When no live worker qualifies, the reader is the one that conflicts with
/// the fewest holders (a worker cut off from many others is the likely
/// broken one, not a place to gather inputs), then the one whose conflicting
/// holders hold the fewest inputs (the fewest map tasks to run again), then
/// the lowest id. It conflicts with at least one holder, so `from` is never
/// empty. With no live worker there is nothing to decide: `On` an empty set.
pub(super) fn place(
    live: &[u32],
    holders: &BTreeMap<u32, usize>,
    unreachable: &Unreachable,
) -> Placement {
    let conflicts = |w: u32| -> BTreeSet<u32> {
        holders
            .keys()
            .copied()
            .filter(|&h| unreachable.between(w, h))
            .collect()
    };
    let allowed: BTreeSet<u32> = live
        .iter()
        .copied()
        .filter(|&w| conflicts(w).is_empty())
        .collect();
    if !allowed.is_empty() || live.is_empty() {
        return Placement::On(allowed);
    }
    // The map tasks that would run again: the inputs the holders in `from` hold.
    let cost = |from: &BTreeSet<u32>| -> usize { from.iter().filter_map(|h| holders.get(h)).sum() };
    live.iter()
        .map(|&w| (w, conflicts(w)))
        .min_by_key(|(w, from)| (from.len(), cost(from), *w))
        .map_or(Placement::On(BTreeSet::new()), |(reader, from)| {
            Placement::Move { reader, from }
        })
}

impl JobRun {
    /// Where task `t` of stage `s` may run among the `live` workers (see
    /// `place`). With no pairs recorded, on any of them: the holders of
    /// its inputs are not even looked up.
    pub(super) fn placement(&self, (s, t): (usize, usize), live: &[u32]) -> Placement {
        if self.unreachable.is_empty() {
            return Placement::On(live.iter().copied().collect());
        }
        let mut holders: BTreeMap<u32, usize> = BTreeMap::new();
        for worker in self.holders(s, t) {
            *holders.entry(worker).or_default() += 1;
        }
        place(live, &holders, &self.unreachable)
    }

    /// The outputs among task `t` of stage `s`'s inputs held by `from`,
    /// which `reader` cannot reach, are forgotten: each map task that wrote
    /// one is pending again, to run away from its holder (`avoid`), and
    /// task `t`'s stage waits for it.
    pub(super) fn move_inputs(
        &mut self,
        (s, t): (usize, usize),
        reader: u32,
        from: &BTreeSet<u32>,
    ) {
        let names: Vec<String> = from.iter().map(u32::to_string).collect();
        event!(
            Warn,
            "scheduler",
            "inputs_moved",
            job = self.id,
            stage = s,
            task = t,
            reader = reader,
            from = names.join(",")
        );
        for input in self.reads(s, t) {
            let cached =
                self.plan.shuffles[input.shuffle as usize].partitioner == Partitioner::Cache;
            for m in input.maps {
                let TaskState::Done { worker } = self.stages[input.map_stage].tasks[m].state else {
                    continue;
                };
                if from.contains(&worker) {
                    self.lose_output((input.map_stage, m), worker, cached, "unreachable");
                    self.stages[input.map_stage].tasks[m].avoid = Some(worker);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(u32, u32)]) -> Unreachable {
        let mut u = Unreachable::default();
        for &(a, b) in list {
            u.record(a, b);
        }
        u
    }

    /// Each worker holding one input.
    fn one_each(workers: &[u32]) -> BTreeMap<u32, usize> {
        workers.iter().map(|&w| (w, 1)).collect()
    }

    fn on(workers: &[u32]) -> Placement {
        Placement::On(workers.iter().copied().collect())
    }

    #[test]
    fn pairs_are_stored_once_either_way_round_and_never_with_oneself() {
        let mut u = Unreachable::default();
        assert!(u.record(3, 2));
        assert!(!u.record(2, 3));
        assert!(!u.record(4, 4));
        assert!(u.between(2, 3) && u.between(3, 2));
        assert!(!u.between(2, 4));
        assert!(u.record(1, 4));
        assert_eq!(u.to_string(), "1 and 4; 2 and 3");
        u.forget(3);
        assert_eq!(u.to_string(), "1 and 4");
        u.forget(1);
        assert!(u.is_empty());
    }

    #[test]
    fn with_no_pairs_a_task_may_run_on_any_live_worker() {
        let none = Unreachable::default();
        assert_eq!(place(&[1, 2, 3], &one_each(&[1, 2]), &none), on(&[1, 2, 3]));
        // A task that reads no map output (a map task) goes anywhere too.
        let split = pairs(&[(1, 2)]);
        assert_eq!(place(&[1, 2, 3], &BTreeMap::new(), &split), on(&[1, 2, 3]));
        assert_eq!(place(&[], &one_each(&[1]), &split), on(&[]));
    }

    #[test]
    fn a_task_runs_only_where_every_holder_of_its_inputs_can_be_reached() {
        let split = pairs(&[(1, 2)]);
        assert_eq!(place(&[1, 2, 3], &one_each(&[1, 2, 3]), &split), on(&[3]));
        // With only worker 1's outputs to read, worker 2 is the one left out.
        assert_eq!(place(&[1, 2, 3], &one_each(&[1, 3]), &split), on(&[1, 3]));
        // Worker 2 is lost: its outputs are forgotten (`runnable` waits for
        // them again) and so are its pairs, so it excludes nobody.
        let mut lost = split.clone();
        lost.forget(2);
        assert_eq!(place(&[1, 3], &one_each(&[1, 3]), &lost), on(&[1, 3]));
        assert_eq!(place(&[1, 3], &one_each(&[1, 2, 3]), &lost), on(&[1, 3]));
    }

    #[test]
    fn with_no_worker_that_reaches_every_holder_the_inputs_move() {
        // Two workers split from each other, holding one input each: the
        // lowest id reads, and worker 2's output moves.
        let split = pairs(&[(1, 2)]);
        let want = Placement::Move {
            reader: 1,
            from: [2].into(),
        };
        assert_eq!(place(&[1, 2], &one_each(&[1, 2]), &split), want);
        // Worker 2 holds most of the inputs: it reads them, and the one
        // worker 1 holds moves.
        let most_on_2 = [(1, 1), (2, 5)].into();
        let want = Placement::Move {
            reader: 2,
            from: [1].into(),
        };
        assert_eq!(place(&[1, 2], &most_on_2, &split), want);
        // Three workers none of which reaches another: worker 1 reads, and
        // the outputs on 2 and 3 move to where it can reach them.
        let apart = pairs(&[(1, 2), (1, 3), (2, 3)]);
        let want = Placement::Move {
            reader: 1,
            from: [2, 3].into(),
        };
        assert_eq!(place(&[1, 2, 3], &one_each(&[1, 2, 3]), &apart), want);
    }

    #[test]
    fn a_worker_cut_off_from_the_others_is_not_where_inputs_gather() {
        // Worker 3 reaches neither 1 nor 2 but holds most of the inputs: they
        // move off it, to worker 1, rather than the others' onto it.
        let cut_off = pairs(&[(1, 3), (2, 3)]);
        let most_on_3 = [(1, 1), (2, 1), (3, 5)].into();
        let want = Placement::Move {
            reader: 1,
            from: [3].into(),
        };
        assert_eq!(place(&[1, 2, 3], &most_on_3, &cut_off), want);
    }
}
