//! Several hosts and a real network: a master and three workers, each in a
//! network namespace of its own on one bridge (`tools/hosts.sh`), so their
//! traffic crosses a (virtual) wire where a peer can vanish silently, two
//! workers can lose each other while both reach the master, and packets get
//! lost. Every job must end with exactly the output of a fault-free run,
//! within a bounded time.
//!
//! Needs root and `ip`, `nft`, `iptables`; skipped with a message
//! otherwise (failed instead under `MINISPARK_HOSTS_TEST=require`, as CI).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::bed::Bed;
use common::json::Value;
use common::*;

/// A master on host 0 and a worker on each other host. Fields drop in
/// order: the processes, then the bed they ran in.
struct Hosts {
    master: Proc,
    _workers: Vec<Proc>,
    works: Vec<PathBuf>,
    dir: PathBuf,
    bed: Bed,
}

const MASTER: &[&str] = &["--heartbeat-timeout-ms", "1000"];
const WORKER: &[&str] = &[
    "--slots",
    "2",
    "--heartbeat-ms",
    "100",
    "--reconnect-max-ms",
    "200",
    "--fetch-timeout-ms",
    "3000",
];

/// The flags of a slow host: one slot, each attempt 1.5 s, so the map
/// stage still runs there when the other hosts are done with theirs.
const SLOW: &[&str] = &[
    "--slots",
    "1",
    "--slow-probability",
    "1",
    "--slow-ms",
    "1500",
];

/// A bed of three worker hosts, with `worker_flags[h]` added to worker h's
/// (1-based; index 0 is unused), or `None` where no bed can be made.
fn hosts(name: &str, master_flags: &[&str], worker_flags: &[&[&str]]) -> Option<Hosts> {
    let bed = Bed::up(3)?;
    let dir = temp_dir(name);
    let master = bed.master(&dir.join("state"), master_flags);
    let mut workers = Vec::new();
    let mut works = Vec::new();
    for h in 1..=3 {
        let work = dir.join(format!("work{h}"));
        let extra = worker_flags.get(h).copied().unwrap_or(&[]);
        // A flag given here replaces its default (each takes a value).
        let mut flags: Vec<&str> = WORKER
            .chunks(2)
            .filter(|f| !extra.contains(&f[0]))
            .flatten()
            .copied()
            .collect();
        flags.extend_from_slice(extra);
        workers.push(bed.worker(h, &master.addr, &work, &flags));
        works.push(work);
    }
    wait_workers(&master.addr, 3, "ALIVE", Duration::from_secs(20));
    Some(Hosts {
        master,
        _workers: workers,
        works,
        dir,
        bed,
    })
}

impl Hosts {
    /// The id the master gave the worker on host `h`, while it is ALIVE.
    fn worker_id(&self, h: usize) -> Option<u64> {
        let ip = format!("{}:", self.bed.ip(h));
        let workers = get_json(&self.master.addr, "/api/v1/workers");
        workers.as_array()?.iter().find_map(|w| {
            let alive = w.get("state")?.as_str()? == "ALIVE";
            let here = w.get("address")?.as_str()?.starts_with(&ip);
            (alive && here).then(|| w.get("id")?.as_u64()).flatten()
        })
    }

    /// Waits until host `h`'s worker is `state` (ALIVE or DEAD) in the
    /// master's list.
    fn wait_worker(&self, h: usize, state: &str, limit: Duration) {
        let ip = format!("{}:", self.bed.ip(h));
        wait_for(limit, &format!("host {h}'s worker to be {state}"), || {
            let workers = get_json(&self.master.addr, "/api/v1/workers");
            let found = workers.as_array()?.iter().any(|w| {
                w.get("state").and_then(Value::as_str) == Some(state)
                    && w.get("address")
                        .and_then(Value::as_str)
                        .is_some_and(|a| a.starts_with(&ip))
            });
            found.then_some(())
        });
    }

    fn job(&self, id: &str) -> Value {
        get_json(&self.master.addr, &format!("/api/v1/jobs/{id}"))
    }
}

/// Attempts of a job's report as (stage, worker, outcome).
fn attempts(job: &Value) -> Vec<(u64, u64, String)> {
    job.get("attempts")
        .and_then(Value::as_array)
        .unwrap_or(&[])
        .iter()
        .filter_map(|a| {
            Some((
                a.get("stage")?.as_u64()?,
                a.get("worker")?.as_u64()?,
                a.get("outcome")?.as_str()?.to_string(),
            ))
        })
        .collect()
}

fn words(dir: &Path, lines: usize) -> (PathBuf, Vec<String>) {
    let input = dir.join("words.txt");
    let text = words_file(&input, lines, 13);
    (input, word_counts(&text))
}

/// `users.csv` and `orders.csv` for `jobs/join.job`.
fn users_orders(dir: &Path) -> (PathBuf, PathBuf) {
    let users: String = (0..3000)
        .map(|u| format!("{u},user{u},c{}\n", u % 7))
        .collect();
    let orders: String = (0..30000)
        .map(|o| format!("{o},{},{}.{:02}\n", (o * 7919) % 3500, o % 500, o % 100))
        .collect();
    let (u, o) = (dir.join("users.csv"), dir.join("orders.csv"));
    std::fs::write(&u, users).unwrap();
    std::fs::write(&o, orders).unwrap();
    (u, o)
}

fn owned(params: &[(&str, &str)]) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn refs(params: &[(String, String)]) -> Vec<(&str, &str)> {
    params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// Runs a job to its end on `addr`; its sorted output, and how long it took.
fn run(addr: &str, job: &str, params: &[(&str, &str)], limit: Duration) -> (Vec<String>, Duration) {
    let t = Instant::now();
    let id = start(addr, job, params);
    let s = wait_end(addr, &id, limit);
    assert_eq!(s.state, "SUCCEEDED", "{}\n{}", s.error, s.text);
    let out = params.iter().find(|(k, _)| *k == "output").unwrap().1;
    (sorted(output_lines(Path::new(out))), t.elapsed())
}

/// The output of a job on a fault-free two-worker loopback cluster.
fn on_loopback(job: &str, params: &[(&str, &str)]) -> Vec<String> {
    let (m, _w) = cluster(2, &[], &[]);
    run(&m.addr, job, params, Duration::from_secs(60)).0
}

#[test]
fn wordcount_and_join_across_three_hosts_equal_the_loopback_output() {
    let Some(h) = hosts("hosts-plain", MASTER, &[]) else {
        return;
    };
    let d = &h.dir;
    let (input, want) = words(d, 30_000);
    let (users, orders) = users_orders(d);
    let wc = |out: &Path| {
        owned(&[
            ("input", path(&input)),
            ("output", path(out)),
            ("partitions", "6"),
        ])
    };
    let join = |out: &Path| {
        owned(&[
            ("users", path(&users)),
            ("orders", path(&orders)),
            ("output", path(out)),
        ])
    };
    for (job, here, there) in [
        ("wordcount.job", wc(&d.join("wc")), wc(&d.join("wc-lo"))),
        ("join.job", join(&d.join("join")), join(&d.join("join-lo"))),
    ] {
        let (got, _) = run(&h.master.addr, job, &refs(&here), Duration::from_secs(60));
        assert_eq!(got, on_loopback(job, &refs(&there)), "{job} across hosts");
        if job == "wordcount.job" {
            assert_eq!(got, want);
        }
    }
    // Every worker took part: the shuffle crossed the wire.
    let job = h.job("1");
    let used: std::collections::BTreeSet<u64> = attempts(&job).iter().map(|a| a.1).collect();
    assert_eq!(used.len(), 3, "attempts ran on {used:?}");
}

/// Word count over a fresh input under `h.dir/NAME`: its params, and the
/// expected output.
fn wordcount(
    h: &Hosts,
    name: &str,
    lines: usize,
    partitions: &str,
) -> (Vec<(String, String)>, Vec<String>) {
    let d = h.dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let (input, want) = words(&d, lines);
    let params = owned(&[
        ("input", path(&input)),
        ("output", path(&d.join("out"))),
        ("partitions", partitions),
    ]);
    (params, want)
}

/// Waits until `check` holds of the job's report; panics if the job ends
/// first.
fn wait_job(h: &Hosts, id: &str, what: &str, check: impl Fn(&Value) -> bool) {
    wait_for(Duration::from_secs(30), what, || {
        let job = h.job(id);
        let state = job.get("state").and_then(Value::as_str).unwrap_or("");
        assert_eq!(state, "RUNNING", "the job ended before {what}: {job:?}");
        check(&job).then_some(())
    });
}

fn finish(
    h: &Hosts,
    id: &str,
    params: &[(String, String)],
    want: &[String],
    limit: Duration,
) -> Duration {
    let t = Instant::now();
    let s = wait_end(&h.master.addr, id, limit);
    assert_eq!(s.state, "SUCCEEDED", "{}\n{}", s.error, s.text);
    let out = &params.iter().find(|(k, _)| k == "output").unwrap().1;
    assert_eq!(sorted(output_lines(Path::new(out))), want);
    t.elapsed()
}

/// Starts word count with `params` and black-holes host 1 once its map
/// outputs are all written while host 2 (slow) still maps, so the reducers
/// will fetch from a silent peer. Returns the job id and host 1's worker id.
fn black_hole_mid_shuffle(h: &Hosts, params: &[(String, String)]) -> (String, u64) {
    let victim = h.worker_id(1).unwrap();
    let slowpoke = h.worker_id(2).unwrap();
    let id = start(&h.master.addr, "wordcount.job", &refs(params));
    wait_job(h, &id, "host 1's map tasks to be done", |job| {
        let a = attempts(job);
        let mine = a.iter().filter(|x| x.0 == 0 && x.1 == victim);
        mine.clone().count() > 0
            && mine.clone().all(|x| x.2 == "SUCCEEDED")
            && a.iter()
                .any(|x| x.0 == 0 && x.1 == slowpoke && x.2 == "RUNNING")
    });
    h.bed.fault(&["blackhole", "1"]);
    (id, victim)
}

/// A worker black-holed (every frame to and from it dropped, its link up)
/// while the reducers fetch from it. The fetches hang on silent sockets
/// until the master declares it dead (3 s of silence); then the attempts
/// fetching from it are aborted and run again on its map outputs computed
/// again elsewhere, long before their 20 s fetch timeout would fire.
#[test]
fn a_worker_black_holed_during_the_reduce_fetches() {
    // Host 2 is slow (one slot, each attempt 1.5 s), so the map stage is
    // still running on it when host 1 has finished its map tasks.
    let fetch: &[&str] = &["--fetch-timeout-ms", "20000"];
    let Some(h) = hosts(
        "hosts-blackhole",
        &["--heartbeat-timeout-ms", "3000"],
        &[&[], fetch, &[fetch, SLOW].concat(), fetch],
    ) else {
        return;
    };
    let (params, want) = wordcount(&h, "bh", 30_000, "6");
    let (id, victim) = black_hole_mid_shuffle(&h, &params);
    let took = finish(&h, &id, &params, &want, Duration::from_secs(18));
    eprintln!("black hole: the job finished {took:?} after it");
    let job = h.job(&id);
    assert!(
        attempts(&job).iter().any(|x| x.0 == 1 && x.1 != victim),
        "reducers ran elsewhere: {job:?}"
    );
}

/// The same black hole where the master hears from the worker for a long
/// time yet (a 60 s heartbeat timeout): the fetches stall past their 1 s
/// timeout and fail, naming the map task, whose output is computed again
/// elsewhere; the reduce attempts stuck on the black-holed worker time out
/// (`--task-timeout-ms`), and their retries find free slots elsewhere.
#[test]
fn a_black_hole_the_master_has_not_noticed_is_survived_by_fetch_and_task_timeouts() {
    let fetch: &[&str] = &["--fetch-timeout-ms", "1000"];
    let Some(h) = hosts(
        "hosts-blackhole-quiet",
        &[
            "--heartbeat-timeout-ms",
            "60000",
            "--task-timeout-ms",
            "4000",
        ],
        &[&[], fetch, &[fetch, SLOW].concat(), fetch],
    ) else {
        return;
    };
    let (params, want) = wordcount(&h, "bhq", 30_000, "6");
    let (id, _) = black_hole_mid_shuffle(&h, &params);
    let took = finish(&h, &id, &params, &want, Duration::from_secs(40));
    eprintln!("quiet black hole: the job finished {took:?} after it");
    let outcomes: Vec<String> = attempts(&h.job(&id)).into_iter().map(|x| x.2).collect();
    assert!(
        outcomes.iter().any(|o| o == "FETCH_FAILED"),
        "a fetch from the black hole failed: {outcomes:?}"
    );
}

/// Host 1's link goes down while one of its attempts of `stage` runs, stays
/// down until the master declares it dead, and comes back: the job ends
/// with the fault-free output, the worker registers again, and learns that
/// the job ended, removing its files.
fn cut_and_restore(name: &str, stage: u64) {
    let slow: &[&str] = &["--slow-probability", "1", "--slow-ms", "700"];
    let Some(h) = hosts(name, MASTER, &[&[], slow]) else {
        return;
    };
    let (params, want) = wordcount(&h, name, 30_000, "6");
    let victim = h.worker_id(1).unwrap();
    let id = start(&h.master.addr, "wordcount.job", &refs(&params));
    wait_job(&h, &id, "an attempt on host 1", |job| {
        attempts(job)
            .iter()
            .any(|x| x.0 == stage && x.1 == victim && x.2 == "RUNNING")
    });
    h.bed.fault(&["cut", "1"]);
    h.wait_worker(1, "DEAD", Duration::from_secs(10));
    h.bed.fault(&["restore", "1"]);
    finish(&h, &id, &params, &want, Duration::from_secs(30));
    h.wait_worker(1, "ALIVE", Duration::from_secs(20));
    let job_dir = h.works[0].join(format!("job-{id}"));
    wait_for(
        Duration::from_secs(20),
        "the returned worker to remove the job's files",
        || (!job_dir.exists()).then_some(()),
    );
}

#[test]
fn a_worker_cut_off_and_restored_during_the_map_stage() {
    cut_and_restore("hosts-cut-map", 0);
}

#[test]
fn a_worker_cut_off_and_restored_during_the_reduce_stage() {
    cut_and_restore("hosts-cut-reduce", 1);
}

/// Hosts 1 and 2 cannot reach each other for the whole job, while both
/// reach the master and host 3. Fetches between them fail (after their
/// 1 s connect timeout); the failures steer the map re-runs and the reduce
/// retries away from the pair, and the job ends with the fault-free output.
#[test]
fn a_lasting_split_between_two_workers() {
    let fetch: &[&str] = &["--fetch-timeout-ms", "1000"];
    let Some(h) = hosts("hosts-split", MASTER, &[&[], fetch, fetch, fetch]) else {
        return;
    };
    h.bed.fault(&["split", "1", "2"]);
    let (params, want) = wordcount(&h, "split", 30_000, "6");
    let id = start(&h.master.addr, "wordcount.job", &refs(&params));
    let took = finish(&h, &id, &params, &want, Duration::from_secs(60));
    eprintln!("split: the job took {took:?}");
    // Steered: a fetch timeout or two, not one per retry.
    assert!(took < Duration::from_secs(15), "the split cost {took:?}");
    let outcomes: Vec<String> = attempts(&h.job(&id)).into_iter().map(|x| x.2).collect();
    assert!(
        outcomes.iter().any(|o| o == "FETCH_FAILED"),
        "the split was crossed: {outcomes:?}"
    );
    // All three workers are still alive: nobody was declared dead.
    wait_workers(&h.master.addr, 3, "ALIVE", Duration::from_secs(5));
}

/// 5% of the packets every host receives are dropped: TCP retransmits, and
/// word count and join give the fault-free output.
#[test]
fn five_percent_packet_loss_on_every_link() {
    let Some(h) = hosts("hosts-loss", &["--heartbeat-timeout-ms", "5000"], &[]) else {
        return;
    };
    h.bed.fault(&["loss", "5"]);
    let (params, want) = wordcount(&h, "loss", 30_000, "6");
    let (got, took) = run(
        &h.master.addr,
        "wordcount.job",
        &refs(&params),
        Duration::from_secs(60),
    );
    eprintln!("5% loss: word count took {took:?}");
    assert_eq!(got, want);
    let (users, orders) = users_orders(&h.dir);
    let join = |out: &Path| {
        owned(&[
            ("users", path(&users)),
            ("orders", path(&orders)),
            ("output", path(out)),
        ])
    };
    let (got, _) = run(
        &h.master.addr,
        "join.job",
        &refs(&join(&h.dir.join("join"))),
        Duration::from_secs(60),
    );
    h.bed.fault(&["heal"]);
    assert_eq!(
        got,
        on_loopback("join.job", &refs(&join(&h.dir.join("join-lo"))))
    );
}

/// `client cancel` while reducers are stuck fetching from a black-holed
/// worker the master still thinks alive: the attempts stop their fetches at
/// once and free their slots, so the other workers report nothing running.
#[test]
fn a_cancel_frees_the_slots_of_attempts_stuck_in_fetches() {
    let fetch: &[&str] = &["--fetch-timeout-ms", "60000"];
    let Some(h) = hosts(
        "hosts-cancel",
        &["--heartbeat-timeout-ms", "60000"],
        &[&[], fetch, &[fetch, SLOW].concat(), fetch],
    ) else {
        return;
    };
    let (params, _) = wordcount(&h, "cancel", 30_000, "6");
    let slowpoke = h.worker_id(2).unwrap();
    let fetcher = h.worker_id(3).unwrap();
    let (id, _) = black_hole_mid_shuffle(&h, &params);
    wait_job(&h, &id, "a reducer on host 3", |job| {
        attempts(job)
            .iter()
            .any(|x| x.0 == 1 && x.1 == fetcher && x.2 == "RUNNING")
    });
    let out = client(&["--master", &h.master.addr, "cancel", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s = wait_end(&h.master.addr, &id, Duration::from_secs(5));
    assert_eq!(s.state, "CANCELLED", "{}", s.text);
    wait_for(
        Duration::from_secs(5),
        "hosts 2 and 3 to run nothing",
        || {
            let workers = get_json(&h.master.addr, "/api/v1/workers");
            let busy: Vec<&Value> = workers
                .as_array()?
                .iter()
                .filter(|w| {
                    let id = w.get("id").and_then(Value::as_u64);
                    (id == Some(slowpoke) || id == Some(fetcher))
                        && w.get("running").and_then(Value::as_u64) != Some(0)
                })
                .collect();
            busy.is_empty().then_some(())
        },
    );
}

/// Addresses across hosts: a worker advertising loopback to a master on
/// another host is warned about on both sides (and says what it
/// advertises as it starts); one advertising 0.0.0.0 is refused.
#[test]
fn a_loopback_address_across_hosts_is_warned_about_on_both_sides() {
    let Some(bed) = Bed::up(2) else {
        return;
    };
    let dir = temp_dir("hosts-addresses");
    let m = bed.master(&dir.join("state"), &[]);
    let w = bed.worker(
        1,
        &m.addr,
        &dir.join("work1"),
        &["--advertise", "127.0.0.1", "--heartbeat-ms", "100"],
    );
    wait_workers(&m.addr, 1, "ALIVE", Duration::from_secs(20));
    wait_for(Duration::from_secs(10), "both sides to warn", || {
        let master_log = m.log_text();
        let worker_log = w.log_text();
        (master_log.contains("loopback_worker_address")
            && master_log.contains("--advertise")
            && worker_log.contains("loopback_address_advertised")
            && worker_log.contains("--advertise"))
        .then_some(())
    });
    assert!(
        w.log_text()
            .contains(&format!("advertised=127.0.0.1:{}", w.port())),
        "{}",
        w.log_text()
    );
    // The worker on host 2 advertises its own IP: no warning about it.
    let ip2 = bed.ip(2);
    let w2 = bed.worker(2, &m.addr, &dir.join("work2"), &["--heartbeat-ms", "100"]);
    let says = format!("advertised={ip2}:{}", w2.port());
    wait_for(Duration::from_secs(10), "host 2's worker to start", || {
        w2.log_text().contains(&says).then_some(())
    });
    wait_workers(&m.addr, 2, "ALIVE", Duration::from_secs(20));
    assert!(!w2.log_text().contains("loopback_address_advertised"));
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &bed.ns(2), env!("CARGO_BIN_EXE_worker")])
        .args(["--master", &m.addr, "--advertise", "0.0.0.0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--advertise 0.0.0.0"));
}
