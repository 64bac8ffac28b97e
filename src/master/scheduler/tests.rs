//! Tests of the scheduler as a whole: a planned job on a table of workers
//! (real outboxes, on loopback connections nobody reads), driven by the events a
//! worker would report. They guard the steering of placement by failed
//! fetches (`placement.rs`): a lasting split between two workers must not
//! send a reducer back to where it cannot fetch, nor fail the job while a
//! placement that works exists.

use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use super::state::TaskState;
use super::{Scheduler, SchedulerConfig, WorkerEvent};
use crate::master::membership::{Membership, Registration};
use crate::net::Outbox;
use crate::protocol::{FetchFailure, JobState, SourceSplits, SplitInfo, TaskMetrics};
use crate::submission::{accept, JobSource, NewJob};

/// A word-count-like job: one map task per split, two reduce partitions.
const REDUCE: &str = "param input = \"in.txt\"\nparam output = \"out\"\n\
    read_text(input).map($1, $2).reduce_by_key(sum, 2).save(output)\n";

/// Stage 0 caches one partition per split; stage 1's first tasks read them
/// (one each), its others a source; stage 2 reduces all of stage 1.
const CACHED: &str = "param input = \"in.txt\"\nparam output = \"out\"\n\
    d = read_text(input).map($1, $2).cache()\n\
    u = d.union(read_text(input).map($1, $2))\n\
    u.reduce_by_key(sum, 2).save(output)\n";

/// `text` planned, with `splits` splits for each of its sources.
fn planned(text: &str, splits: u64) -> NewJob {
    let source = JobSource {
        file: "test.job".into(),
        source: text.into(),
        params: Vec::new(),
        base_dir: "/tmp".into(),
        parallelism: 2,
    };
    let split = |i: u64| SplitInfo {
        path: "/tmp/in.txt".into(),
        start: i * 10,
        len: 10,
    };
    let inputs = (0..2)
        .map(|source| SourceSplits {
            source,
            splits: (0..splits).map(split).collect(),
        })
        .collect();
    accept(source, inputs).unwrap()
}

fn scheduler(max_attempts: u32) -> Scheduler {
    Scheduler::new(SchedulerConfig {
        max_attempts,
        task_timeout: None,
        speculation: false,
        state_dir: None,
        recovery_grace: Duration::ZERO,
        retained_jobs: 10,
    })
}

/// Workers 1 to `n`, two slots each, at data addresses `h:1`, `h:2`...
fn cluster(n: u32) -> Membership {
    let mut members = Membership::new();
    for i in 1..=n {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (peer, _) = listener.accept().unwrap();
        let outbox = Outbox::spawn(&stream, "test-out".into()).unwrap().0;
        let reg = Registration {
            data_addr: format!("h:{i}"),
            slots: 2,
            memory_bytes: 1 << 20,
            prev_id: 0,
        };
        // The member keeps the other end (as its connection), so what the
        // outbox writes is received, and never read.
        let admitted = members.register(reg, outbox, Some(peer), Instant::now());
        assert_eq!(admitted.id, i);
    }
    members
}

/// The attempt of task `t` of stage `s` of job 1 that runs, and its worker.
fn running(s: &Scheduler, stage: usize, t: usize) -> Option<(u64, u32)> {
    let task = &s.jobs[&1].stages[stage].tasks[t];
    match task.state {
        TaskState::Running { attempt } => Some((attempt, s.attempts.live[&attempt].worker)),
        _ => None,
    }
}

/// Where task `t` of stage `s` of job 1 is done, if it is.
fn done_on(s: &Scheduler, stage: usize, t: usize) -> Option<u32> {
    match s.jobs[&1].stages[stage].tasks[t].state {
        TaskState::Done { worker } => Some(worker),
        _ => None,
    }
}

/// The running attempt of task `t` of stage `s` finishes and commits.
fn finish(s: &mut Scheduler, members: &mut Membership, stage: usize, t: usize) {
    let (attempt, worker) = running(s, stage, t).expect("the task runs");
    let now = Instant::now();
    let done = WorkerEvent::TaskDone {
        attempt,
        metrics: TaskMetrics::default(),
        samples: Vec::new(),
    };
    s.worker_event(members, worker, done, now);
    s.worker_event(members, worker, WorkerEvent::TaskCommitted { attempt }, now);
}

/// The running attempt of reduce task `t` (stage 1 of `REDUCE`) could not
/// fetch map task `map`'s output from worker `from`.
fn fetch_fails(s: &mut Scheduler, members: &mut Membership, t: usize, map: u32, from: u32) {
    let (attempt, worker) = running(s, 1, t).expect("the reducer runs");
    let failure = FetchFailure {
        shuffle: 0,
        map,
        addr: format!("h:{from}"),
        error: "boom".into(),
    };
    let event = WorkerEvent::FetchFailed { attempt, failure };
    s.worker_event(members, worker, event, Instant::now());
}

/// Job 1, `REDUCE` over `maps` splits, with its map stage done.
fn reducing(workers: u32, maps: u64, max_attempts: u32) -> (Scheduler, Membership) {
    let mut members = cluster(workers);
    let mut s = scheduler(max_attempts);
    let now = Instant::now();
    assert_eq!(s.submit(planned(REDUCE, maps), now), 1);
    s.schedule(&mut members, now);
    for m in 0..maps as usize {
        finish(&mut s, &mut members, 0, m);
    }
    (s, members)
}

#[test]
fn a_task_reads_every_map_output_of_a_shuffle_but_one_cached_partition() {
    let mut s = scheduler(3);
    s.insert_job(1, planned(CACHED, 3), Instant::now());
    let job = s.jobs.get_mut(&1).unwrap();
    assert_eq!(
        job.stages
            .iter()
            .map(|st| st.tasks.len())
            .collect::<Vec<_>>(),
        [3, 6, 2]
    );
    for (m, task) in job.stages[0].tasks.iter_mut().enumerate() {
        task.state = TaskState::Done {
            worker: m as u32 + 1,
        };
    }
    for (m, task) in job.stages[1].tasks.iter_mut().enumerate() {
        task.state = TaskState::Done {
            worker: m as u32 % 3 + 1,
        };
    }
    // Task 1 of stage 1 reads cached partition 1 only, kept by worker 2;
    // task 4 reads a split of the source.
    assert_eq!(job.holders(1, 1), [2]);
    assert!(job.holders(1, 4).is_empty());
    // A reducer reads all six outputs of stage 1.
    assert_eq!(job.holders(2, 0), [1, 2, 3, 1, 2, 3]);
    // Moving task 1's input away from worker 2 recomputes that partition
    // alone (a cache miss), away from worker 2.
    job.stages[0].tasks[0].state = TaskState::Done { worker: 2 };
    job.stages[0].finished = Some(Instant::now());
    job.move_inputs((1, 1), 1, &[2].into());
    let cache = &job.stages[0];
    assert_eq!(cache.tasks[0].state, TaskState::Done { worker: 2 });
    assert_eq!(cache.tasks[1].state, TaskState::Pending);
    assert_eq!(cache.tasks[1].avoid, Some(2));
    assert_eq!(cache.tasks[2].state, TaskState::Done { worker: 3 });
    assert_eq!((cache.cache_misses, cache.finished), (1, None));
}

#[test]
fn a_reducer_that_could_not_fetch_runs_again_where_every_holder_is_reached() {
    // Six map outputs, two on each of three workers.
    let (mut s, mut members) = reducing(3, 6, 3);
    let holders: Vec<Option<u32>> = (0..6).map(|m| done_on(&s, 0, m)).collect();
    assert_eq!(holders, [1, 2, 3, 1, 2, 3].map(Some));
    let (_, reader) = running(&s, 1, 0).unwrap();
    let holder = reader % 3 + 1;
    let third = holder % 3 + 1;
    let map = (holder - 1) as usize;
    fetch_fails(&mut s, &mut members, 0, map as u32, holder);
    let job = &s.jobs[&1];
    assert!(job.unreachable.between(reader, holder));
    assert_eq!(
        job.stages[1].tasks[0].failures, 0,
        "not the reducer's fault"
    );
    assert_eq!(job.stages[0].tasks[map].outputs_lost, 1);
    // The map task runs again, not on the worker that held it.
    let (_, rerun) = running(&s, 0, map).expect("the lost map output is computed again");
    assert_ne!(rerun, holder);
    // Round-robin would next give the reducer back to its worker; it goes
    // to the only one that reaches both of them.
    s.attempts.last_worker = reader - 1;
    finish(&mut s, &mut members, 0, map);
    let (_, retry) = running(&s, 1, 0).expect("the reducer runs again");
    assert_eq!(retry, third);
    assert_eq!(s.jobs[&1].state, JobState::Running);
    // A lost worker's pairs go with it.
    s.worker_lost(&mut members, holder);
    assert!(s.jobs[&1].unreachable.is_empty());
}

#[test]
fn two_workers_that_cannot_reach_each_other_move_the_inputs_to_one() {
    let (mut s, mut members) = reducing(2, 4, 3);
    let holders: Vec<Option<u32>> = (0..4).map(|m| done_on(&s, 0, m)).collect();
    assert_eq!(holders, [1, 2, 1, 2].map(Some));
    let (_, r0) = running(&s, 1, 0).unwrap();
    let (_, r1) = running(&s, 1, 1).unwrap();
    assert_eq!((r0, r1), (1, 2));
    // Each reducer fails to fetch from the other worker; each lost map task
    // runs again on the only worker it does not avoid.
    fetch_fails(&mut s, &mut members, 1, 0, 1);
    fetch_fails(&mut s, &mut members, 0, 1, 2);
    assert_eq!(running(&s, 0, 0).map(|(_, w)| w), Some(2));
    assert_eq!(running(&s, 0, 1).map(|(_, w)| w), Some(1));
    finish(&mut s, &mut members, 0, 0);
    finish(&mut s, &mut members, 0, 1);
    // Map outputs on both: no worker reaches every holder. Worker 1 reads
    // (a tie, the lowest id), and the outputs on worker 2 are computed again
    // on worker 1, before any reducer runs.
    assert!(running(&s, 1, 0).is_none() && running(&s, 1, 1).is_none());
    assert_eq!(running(&s, 0, 0).map(|(_, w)| w), Some(1));
    assert_eq!(running(&s, 0, 3).map(|(_, w)| w), Some(1));
    assert_eq!(
        s.jobs[&1].stages[0].tasks[0].outputs_lost, 1,
        "a move is no loss"
    );
    finish(&mut s, &mut members, 0, 0);
    finish(&mut s, &mut members, 0, 3);
    assert_eq!(
        (0..4).map(|m| done_on(&s, 0, m)).collect::<Vec<_>>(),
        [Some(1); 4]
    );
    assert_eq!(running(&s, 1, 0).map(|(_, w)| w), Some(1));
    assert_eq!(running(&s, 1, 1).map(|(_, w)| w), Some(1));
    finish(&mut s, &mut members, 1, 0);
    finish(&mut s, &mut members, 1, 1);
    assert_eq!(s.jobs[&1].stages[1].tasks[0].failures, 0);
    assert_ne!(s.jobs[&1].state, JobState::Failed, "{}", s.jobs[&1].error);
}

#[test]
fn an_output_lost_too_often_fails_the_job_naming_the_workers_that_cannot_talk() {
    let (mut s, mut members) = reducing(3, 3, 1);
    let (_, reader) = running(&s, 1, 0).unwrap();
    let holder = reader % 3 + 1;
    let map = holder - 1;
    fetch_fails(&mut s, &mut members, 0, map, holder);
    finish(&mut s, &mut members, 0, map as usize);
    let again = done_on(&s, 0, map as usize).unwrap();
    // The other reducer, on another worker, cannot fetch it either.
    let (_, other) = running(&s, 1, 1).unwrap();
    assert_ne!(other, again);
    fetch_fails(&mut s, &mut members, 1, map, again);
    let job = &s.jobs[&1];
    assert_eq!(job.state, JobState::Failed);
    let pairs = [(reader, holder), (other, again)].map(|(a, b)| (a.min(b), a.max(b)));
    let mut pairs: Vec<String> = pairs.iter().map(|(a, b)| format!("{a} and {b}")).collect();
    pairs.sort();
    pairs.dedup();
    let want = format!(
        "the output of task {map} of stage 0 could not be fetched 2 times; no placement avoids \
         the workers that cannot reach each other ({}); last error: boom",
        pairs.join("; ")
    );
    assert_eq!(job.error, want);
}
