//! The `frame` tool as a person at a shell uses it: `frame decode` prints
//! what `frame encode` reads back into the same bytes, for every message
//! kind (each hex example of `protocol.md`) and for messages whose lists and
//! records hold awkward text; `--help` and `--version`; and exit statuses
//! that tell bad input from a bad command line. Guards against a text form
//! that the logs print but nothing can read back.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use minispark::protocol::{
    from_hex, to_hex, AttemptOutcome, AttemptReport, Bytes, JobReport, JobState, KeyValue,
    MapLocation, Message, Pair, PartLocation, ShuffleRead, SourceSplits, SplitInfo, StageReport,
    TaskSpec, WorkerInfo, WorkerMetrics, WorkerState,
};

/// Runs `frame args...` with `stdin`.
fn frame(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_frame"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting frame");
    // A mode that does not read stdin may exit before this is written.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().expect("frame's output")
}

/// Its stdout, once it exited 0.
fn ok_bytes(out: &Output) -> Vec<u8> {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout.clone()
}

/// Its stdout as text, once it exited 0.
fn ok(out: &Output) -> String {
    String::from_utf8(ok_bytes(out)).expect("UTF-8 output")
}

/// The hex of every ```hex block of protocol.md, one frame each.
fn doc_examples() -> Vec<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/protocol.md"))
        .expect("reading protocol.md");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match (&mut current, line.trim()) {
            (None, "```hex") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(text), _) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_example_of_protocol_md_decodes_to_text_that_encodes_back() {
    let examples = doc_examples();
    assert!(examples.len() >= 30, "{} examples", examples.len());
    let all = examples.concat();
    let want = from_hex(&all).unwrap();
    let text = ok(&frame(&["decode", "--hex"], all.as_bytes()));
    assert_eq!(text.lines().count(), examples.len(), "{text}");
    // From stdin, one message per line, as decode printed them.
    let again = frame(&["encode"], text.as_bytes());
    assert_eq!(ok_bytes(&again), want);
}

/// Messages whose lists and records are long, nested, and hold text that
/// needs quoting.
fn nested() -> Vec<Message> {
    let awkward = [
        "",
        "two words",
        "a,b",
        "[x",
        "y}",
        "q\"q",
        "[::1]:7001",
        "k=v",
    ];
    let kv = |s: &str| KeyValue {
        key: s.into(),
        value: format!("{s} {s}"),
    };
    vec![
        Message::Heartbeat {
            worker_id: 2,
            metrics: WorkerMetrics {
                cpu_permille: 1250,
                rss_bytes: 40 << 20,
                tasks_done: 9,
                latency_p99_ms: 700,
                ..WorkerMetrics::default()
            },
        },
        Message::WorkerList {
            workers: awkward
                .iter()
                .enumerate()
                .map(|(i, a)| WorkerInfo {
                    id: i as u32,
                    addr: a.to_string(),
                    state: if i % 2 == 0 {
                        WorkerState::Alive
                    } else {
                        WorkerState::Dead
                    },
                    slots: 2,
                    ..WorkerInfo::default()
                })
                .collect(),
        },
        Message::SubmitJob {
            file: "jobs/my job.job".into(),
            source: "lines = read_text(input)\nlines.save(output)\n".into(),
            params: awkward.iter().map(|a| kv(a)).collect(),
            base_dir: "/home/me".into(),
            parallelism: 4,
            inputs: vec![
                SourceSplits {
                    source: 0,
                    splits: vec![
                        SplitInfo {
                            path: "/data/a b.txt".into(),
                            start: 0,
                            len: 10,
                        },
                        SplitInfo {
                            path: "/data/[c].txt".into(),
                            start: 10,
                            len: 20,
                        },
                    ],
                },
                SourceSplits {
                    source: 1,
                    splits: Vec::new(),
                },
            ],
        },
        Message::JobStatus {
            job: JobReport {
                id: 7,
                file: "jobs/wc.job".into(),
                state: JobState::Failed,
                error: "task 3: boom\nsecond line".into(),
                elapsed_ms: 1200,
                stages: vec![
                    StageReport {
                        stage: 0,
                        ops: "read_text > flat_map > shuffle 0".into(),
                        tasks_total: 4,
                        shuffle_write_bytes: 900,
                        ..StageReport::default()
                    },
                    StageReport {
                        stage: 1,
                        ops: "reduce_by_key(sum) > save".into(),
                        ..StageReport::default()
                    },
                ],
                outputs: vec!["/out/wc".into(), "".into()],
                parts: vec![PartLocation {
                    save: 0,
                    part: 1,
                    worker_addr: "127.0.0.1:7001".into(),
                }],
                attempts: vec![
                    AttemptReport {
                        attempt: 1,
                        outcome: AttemptOutcome::FetchFailed,
                        retry: 1,
                        ..AttemptReport::default()
                    },
                    AttemptReport {
                        attempt: 2,
                        outcome: AttemptOutcome::Succeeded,
                        error: "could not fetch [a] {b}: \"c\"".into(),
                        ..AttemptReport::default()
                    },
                ],
                submitted_unix_ms: 1_790_000_000_000,
                finished_unix_ms: 1_790_000_001_200,
                params: vec![kv("input")],
                source: "# wc\nparam input = \"x y\"\n".into(),
            },
        },
        Message::LaunchTask {
            task: TaskSpec {
                job_id: 7,
                attempt: 12,
                file: "jobs/wc.job".into(),
                params: vec![kv("input")],
                shuffle_reads: vec![ShuffleRead {
                    shuffle: 0,
                    maps: vec![
                        MapLocation {
                            map: 0,
                            addr: "127.0.0.1:7001".into(),
                        },
                        MapLocation {
                            map: 1,
                            addr: "[::1]:7002".into(),
                        },
                    ],
                }],
                boundaries: vec![Pair {
                    key: Bytes(b"m\xff\"]".to_vec()),
                    value: Bytes(Vec::new()),
                }],
                progress: vec![1, 2, 3],
                ..TaskSpec::default()
            },
        },
        Message::CommitJob {
            job_id: 7,
            outputs: awkward.iter().map(|s| s.to_string()).collect(),
        },
    ]
}

#[test]
fn nested_lists_and_records_round_trip_through_the_text() {
    for msg in nested() {
        let bytes = msg.to_frame_bytes();
        let text = ok(&frame(&["decode"], &bytes));
        let line = text.trim_end_matches('\n');
        assert_eq!(line, msg.to_string());
        // As an argument, the way a person pastes it into a shell.
        let again = ok(&frame(&["encode", "--hex", line], b""));
        assert_eq!(again.trim(), to_hex(&bytes), "{line}");
    }
}

#[test]
fn help_version_and_exit_statuses() {
    for flag in ["--help", "-h"] {
        let help = ok(&frame(&[flag], b""));
        assert!(
            help.starts_with("Usage:") && help.contains("frame encode"),
            "{help}"
        );
    }
    assert!(ok(&frame(&["encode", "--help"], b"")).starts_with("Usage:"));
    assert_eq!(
        ok(&frame(&["--version"], b"")),
        format!("frame {}\n", env!("CARGO_PKG_VERSION"))
    );
    assert!(ok(&frame(&["list"], b"")).contains("0x36 CommitJob job_id outputs"));
    // Bad input: 1, with the reason.
    for text in [
        "Nope",
        "Ping nonce=x",
        "CommitJob job_id=1 outputs=[a",
        "CommitJob job_id=1 outputs={a}",
        "JobList jobs=[{id=1}]",
    ] {
        let out = frame(&["encode", text], b"");
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("frame: "));
    }
    assert_eq!(frame(&["decode", "--hex"], b"a7 5").status.code(), Some(1));
    assert_eq!(frame(&["decode"], b"\xa7\x53\x01").status.code(), Some(1));
    // A bad command line: 2, with the usage on stderr.
    for args in [&[][..], &["bogus"], &["decode", "extra"]] {
        let out = frame(args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("Usage:"));
    }
}
