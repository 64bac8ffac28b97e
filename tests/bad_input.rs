//! Bad input end to end through real processes: inputs that are missing,
//! unreadable or empty, bytes that are not UTF-8, outputs that exist or
//! cannot be made, job files with mistakes or over the limits, and pipe
//! commands that cannot run. Each is refused at submit (exit 2, nothing
//! runs) or fails the job (exit 1), with a message that names the path and
//! the reason, or the file, line and column.
//!
//! Covered elsewhere, not repeated here (tests/jobs.rs):
//! - `pipe_failures_fail_the_job_with_a_clear_reason`: workers without
//!   `--allow-pipe` refuse a pipe (the error names the flag), and a command
//!   that exits non-zero fails the job with its status and stderr tail.
//! - `user_errors_exit_2_before_anything_runs`: a relative missing input is
//!   named, an existing output asks for `--overwrite`, an unknown operator is
//!   shown with a caret.
//!
//! Also here: the decoders and the parser fed many thousand random and
//! mutated frames and job files, through the library, without a panic. The
//! fuzz tests in src/protocol/message.rs and src/job/tests.rs change single
//! bytes and characters; these cut, repeat, move and splice whole ranges
//! too.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use minispark::job::{Job, MAX_DATASETS, MAX_SOURCE_BYTES};
use minispark::protocol::{error_code, KeyValue, Message, SourceSplits, SplitInfo};
use minispark::protocol::{frame, FrameError};
use minispark::rng::Rng;

const LIMIT: Duration = Duration::from_secs(30);

/// `client submit` of repository job `job` from no particular directory;
/// returns the exit code and stderr.
fn refused(addr: &str, job: &str, params: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = submit(addr, &job_file(job), params, &[]);
    (out.status.code(), stderr(&out))
}

/// The committed output of a job as raw lines: the bytes of the `part-*`
/// files in order, split at `\n`. (`output_lines` wants UTF-8.)
fn raw_output_lines(dir: &Path) -> Vec<Vec<u8>> {
    assert!(dir.join("_SUCCESS").exists(), "no _SUCCESS in {dir:?}");
    let mut parts: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("part-")
        })
        .collect();
    parts.sort();
    let mut lines = Vec::new();
    for part in parts {
        let bytes = fs::read(&part).unwrap();
        let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        if !body.is_empty() {
            lines.extend(body.split(|&b| b == b'\n').map(<[u8]>::to_vec));
        }
    }
    lines
}

// --- inputs -------------------------------------------------------------

#[test]
fn a_missing_input_file_is_refused_at_submit_with_the_path_and_reason() {
    let m = master(&[]);
    let dir = temp_dir("missing");
    let input = dir.join("nope.txt");
    let output = dir.join("out");
    let (code, err) = refused(
        &m.addr,
        "grep.job",
        &[("input", path(&input)), ("output", path(&output))],
    );
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(
        err,
        format!(
            "error: input {}: No such file or directory (os error 2)\n",
            input.display()
        )
    );
}

/// A file without read permission is refused when the client lists the
/// inputs, not left to fail on every worker. Root reads it anyway (the
/// permission bits do not bind it), so there the file is only checked to
/// be accepted; `a_broken_symlink_...` below is unreadable for root too.
#[test]
fn an_input_without_read_permission_is_refused_at_submit() {
    let m = master(&[]);
    let dir = temp_dir("unreadable");
    let input = dir.join("secret.txt");
    fs::write(&input, "error: hidden\n").unwrap();
    fs::set_permissions(&input, fs::Permissions::from_mode(0o000)).unwrap();
    let output = dir.join("out");
    let params = [("input", path(&input)), ("output", path(&output))];
    let (code, err) = refused(&m.addr, "grep.job", &params);
    if fs::read(&input).is_ok() {
        // Running as root: nothing is unreadable by permission.
        assert_eq!(code, Some(0), "{err}");
        return;
    }
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(
        err,
        format!(
            "error: input {}: cannot open for reading: Permission denied (os error 13)\n",
            input.display()
        )
    );
}

#[test]
fn a_broken_symlink_in_an_input_directory_is_refused_at_submit() {
    let m = master(&[]);
    let dir = temp_dir("dangling");
    let input = dir.join("in");
    fs::create_dir(&input).unwrap();
    fs::write(input.join("a.txt"), "error one\n").unwrap();
    symlink(dir.join("gone.txt"), input.join("b.txt")).unwrap();
    let output = dir.join("out");
    let (code, err) = refused(
        &m.addr,
        "grep.job",
        &[("input", path(&input)), ("output", path(&output))],
    );
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(
        err,
        format!(
            "error: input {}: broken symbolic link to {}: No such file or directory (os error 2)\n",
            input.join("b.txt").display(),
            dir.join("gone.txt").display()
        )
    );
}

#[test]
fn a_directory_with_no_input_files_is_refused_at_submit() {
    let m = master(&[]);
    let dir = temp_dir("no-files");
    let input = dir.join("in");
    // Hidden files, an engine marker and a subdirectory: none is input.
    fs::create_dir_all(input.join("sub")).unwrap();
    fs::write(input.join(".hidden"), "error\n").unwrap();
    fs::write(input.join("_SUCCESS"), "").unwrap();
    fs::write(input.join("sub/a.txt"), "error\n").unwrap();
    let output = dir.join("out");
    let (code, err) = refused(
        &m.addr,
        "grep.job",
        &[("input", path(&input)), ("output", path(&output))],
    );
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(
        err,
        format!(
            "error: input {}: directory has no input files (only its regular files are read, \
             not subdirectories, and not names starting with `.` or `_`)\n",
            input.display()
        )
    );
}

/// Records are bytes: lines that are not UTF-8 go through `filter`, `map`,
/// `split` and a shuffle byte for byte.
#[test]
fn bytes_that_are_not_utf8_flow_through_grep_map_and_wordcount_unchanged() {
    const WORDS: [&[u8]; 9] = [
        b"caf\xe9",      // Latin-1
        b"\xff\xfe",     // never valid in UTF-8
        b"\xc3\x28",     // a broken two-byte sequence
        b"\xe2\x82",     // a truncated three-byte sequence
        b"error\x80",    // a stray continuation byte
        b"error",        // plain ASCII
        b"na\xc3\xafve", // valid UTF-8
        b"ok",           // plain ASCII
        b"\x00nul\x7f",  // control bytes
    ];
    let (m, _workers) = cluster(2, &[], &["--slots", "1"]);
    let dir = temp_dir("bytes");
    let mut rng = Rng::new(8);
    let lines: Vec<Vec<u8>> = (0..500)
        .map(|_| {
            let words: Vec<&[u8]> = (0..1 + rng.below(5))
                .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
                .collect();
            words.join(&b' ')
        })
        .collect();
    let input = dir.join("in.bin");
    fs::write(
        &input,
        lines
            .iter()
            .flat_map(|l| [&l[..], b"\n"].concat())
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let run = |job: &str, out: &Path| {
        let params = [("input", path(&input)), ("output", path(out))];
        let done = submit(&m.addr, job, &params, &["--wait"]);
        assert_eq!(done.status.code(), Some(0), "{job}: {}", stderr(&done));
    };

    // grep: the lines containing "error", in input order.
    let out = dir.join("grep");
    run(&job_file("grep.job"), &out);
    let want: Vec<Vec<u8>> = lines
        .iter()
        .filter(|l| l.windows(5).any(|w| w == b"error"))
        .cloned()
        .collect();
    assert!(!want.is_empty());
    assert_eq!(raw_output_lines(&out), want);

    // map: fields, `upper` (ASCII only) and `len` (bytes) of each line.
    let job = dir.join("fields.job");
    fs::write(
        &job,
        "param input\nparam output\n\
         read_text(input).map(concat(upper($2), \"|\", $1, \"|\", len($0))).save(output)\n",
    )
    .unwrap();
    let out = dir.join("fields");
    run(path(&job), &out);
    let want: Vec<Vec<u8>> = lines
        .iter()
        .map(|l| {
            let fields: Vec<&[u8]> = l.split(|&b| b == b' ').collect();
            let second = fields.get(1).copied().unwrap_or_default();
            [
                &second.to_ascii_uppercase()[..],
                b"|",
                fields[0],
                b"|",
                l.len().to_string().as_bytes(),
            ]
            .concat()
        })
        .collect();
    assert_eq!(raw_output_lines(&out), want);

    // wordcount: a shuffle keyed by bytes; part files are hash partitions,
    // so compare the sorted lines.
    let out = dir.join("wordcount");
    run(&job_file("wordcount.job"), &out);
    let mut counts: BTreeMap<&[u8], u64> = BTreeMap::new();
    for word in lines.iter().flat_map(|l| l.split(|&b| b == b' ')) {
        *counts.entry(word).or_default() += 1;
    }
    let want: Vec<Vec<u8>> = counts
        .iter()
        .map(|(w, n)| [*w, b"\t", n.to_string().as_bytes()].concat())
        .collect();
    let mut got = raw_output_lines(&out);
    got.sort();
    assert_eq!(got, want);
}

// --- outputs ------------------------------------------------------------

#[test]
fn an_existing_output_directory_is_refused_without_overwrite() {
    let m = master(&[]);
    let dir = temp_dir("exists");
    let input = dir.join("in.txt");
    words_file(&input, 10, 1);
    let output = dir.join("out");
    fs::create_dir(&output).unwrap();
    fs::write(output.join("part-00000"), "from an earlier run\n").unwrap();
    let (code, err) = refused(
        &m.addr,
        "grep.job",
        &[("input", path(&input)), ("output", path(&output))],
    );
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(
        err,
        format!(
            "error: output directory {} already exists and is not empty (give --overwrite to replace its output)\n",
            output.display()
        )
    );
    // Nothing was touched.
    assert_eq!(
        fs::read_to_string(output.join("part-00000")).unwrap(),
        "from an earlier run\n"
    );
}

#[test]
fn an_output_path_that_cannot_be_created_is_refused_at_submit() {
    let m = master(&[]);
    let dir = temp_dir("uncreatable");
    let input = dir.join("in.txt");
    words_file(&input, 10, 2);
    let file = dir.join("file");
    fs::write(&file, "a regular file\n").unwrap();

    // Under a regular file: no directory can be made there, not even by root.
    let under = file.join("out");
    let (code, err) = refused(
        &m.addr,
        "grep.job",
        &[("input", path(&input)), ("output", path(&under))],
    );
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(
        err,
        format!(
            "error: cannot create output directory {}: Not a directory (os error 20)\n",
            under.display()
        )
    );

    // The regular file itself.
    let (code, err) = refused(
        &m.addr,
        "grep.job",
        &[("input", path(&input)), ("output", path(&file))],
    );
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(
        err,
        format!(
            "error: output {} exists and is not a directory\n",
            file.display()
        )
    );
}

// --- job files ----------------------------------------------------------

/// Each kind of mistake, from each part of the front end, through the real
/// client: exit 2, and stderr is `FILE:LINE:COL: error: ...`, the line, and
/// a caret under the column.
#[test]
fn every_kind_of_job_file_error_names_file_line_and_column() {
    let m = master(&[]);
    let dir = temp_dir("job-errors");
    fs::write(dir.join("in.txt"), "a b\n").unwrap();
    let head = "param input = \"in.txt\"\nlines = read_text(input)\n";
    // (what, source, --params, first line of stderr)
    let cases: &[(&str, String, &[&str], &str)] = &[
        (
            "lexer: a character outside the language",
            format!("{head}lines.filter($1 ~ \"a\").save(\"o\")\n"),
            &[],
            "bad.job:3:17: error: unexpected character `~`",
        ),
        (
            "lexer: an unterminated string",
            format!("{head}lines.save(\"o)\n"),
            &[],
            "bad.job:3:12: error: unterminated string (a string must end with `\"` on the same line)",
        ),
        (
            "brackets: a `(` never closed",
            format!("{head}lines.filter(contains($0, \"a\").save(\"o\")\n"),
            &[],
            "bad.job:3:13: error: this `(` is never closed",
        ),
        (
            "graph: an unknown dataset",
            format!("{head}line.save(\"o\")\n"),
            &[],
            "bad.job:3:1: error: undefined dataset `line` (did you mean `lines`?)",
        ),
        (
            "expressions: an unknown function",
            format!("{head}lines.map(lowr($1)).save(\"o\")\n"),
            &[],
            "bad.job:3:11: error: unknown function `lowr` (did you mean `lower`?)",
        ),
        (
            "expressions: the wrong number of arguments",
            format!("{head}lines.map(substr($1)).save(\"o\")\n"),
            &[],
            "bad.job:3:11: error: `substr` takes 2 or 3 arguments, got 1 (usage: substr(s, start) or substr(s, start, length))",
        ),
        (
            "types: a string where a condition must be true or false",
            format!("{head}lines.filter(lower($1)).save(\"o\")\n"),
            &[],
            "bad.job:3:14: error: the condition of `filter` must be true or false, but this is a string",
        ),
        (
            "graph: a cycle",
            format!("{head}a = b.map($0)\nb = a.filter(true)\na.save(\"o\")\n"),
            &[],
            "bad.job:4:5: error: dataset `a` depends on itself: a -> b -> a",
        ),
        (
            "params: one without a default, not given",
            format!("param pattern\n{head}lines.filter(contains($0, pattern)).save(\"o\")\n"),
            &[],
            "bad.job:1:7: error: param `pattern` has no default and was not given; pass it with --param pattern=VALUE",
        ),
        (
            "params: one the job does not declare",
            format!("{head}lines.save(\"o\")\n"),
            &["--param", "inptu=x"],
            "bad.job:1:1: error: unknown param `inptu` given with --param (did you mean `input`?) (this job declares: input)",
        ),
    ];
    for (what, source, extra, want) in cases {
        fs::write(dir.join("bad.job"), source).unwrap();
        let mut args = vec!["--master", m.addr.as_str(), "submit", "bad.job"];
        args.extend_from_slice(extra);
        let run = client_in(Some(&dir), &args);
        let err = stderr(&run);
        assert_eq!(run.status.code(), Some(2), "{what}: {err}");
        assert_eq!(err.lines().next(), Some(*want), "{what}:\n{err}");
        let caret = err.lines().nth(2).unwrap_or_default();
        assert_eq!(caret.trim(), "^", "{what}: a caret line:\n{err}");
        assert!(!dir.join("o").exists(), "{what}: nothing runs");
    }
}

/// A job file that is not UTF-8 is a job-file error like any other: the
/// place of its first bad byte.
#[test]
fn a_job_file_that_is_not_utf8_names_the_line_and_column_of_the_bad_byte() {
    let m = master(&[]);
    let dir = temp_dir("job-latin1");
    fs::write(
        dir.join("bad.job"),
        b"read_text(\"in.txt\")\n  .filter(contains($0, \"caf\xe9\"))\n  .save(\"o\")\n",
    )
    .unwrap();
    let run = client_in(Some(&dir), &["--master", &m.addr, "submit", "bad.job"]);
    assert_eq!(run.status.code(), Some(2));
    assert_eq!(
        stderr(&run),
        "bad.job:2:28: error: the job file is not valid UTF-8 (byte 0xe9)\n      .filter(contains($0, \"caf\n                               ^\n"
    );
}

// --- limits -------------------------------------------------------------

#[test]
fn a_job_file_over_the_size_limit_is_refused_by_the_client() {
    let m = master(&[]);
    let dir = temp_dir("job-size");
    let mut source = String::from("read_text(\"in.txt\").save(\"o\")\n");
    source.push_str(&"# padding\n".repeat(MAX_SOURCE_BYTES / 10));
    fs::write(dir.join("big.job"), &source).unwrap();
    let run = client_in(Some(&dir), &["--master", &m.addr, "submit", "big.job"]);
    assert_eq!(run.status.code(), Some(2));
    assert_eq!(
        stderr(&run),
        format!(
            "error: job file big.job is {} bytes; the limit is {MAX_SOURCE_BYTES}\n",
            source.len()
        )
    );
}

/// The master parses whatever text a client sends, so it enforces the
/// limits itself: here a `SubmitJob` sent without the client.
#[test]
fn the_master_refuses_an_oversized_job_sent_without_the_client() {
    let m = master(&[]);
    let submit = |file: String, source: String| {
        let msg = Message::SubmitJob {
            file,
            source,
            params: vec![KeyValue {
                key: "input".into(),
                value: "in.txt".into(),
            }],
            base_dir: "/".into(),
            parallelism: 1,
            inputs: vec![SourceSplits {
                source: 0,
                splits: vec![SplitInfo {
                    path: "/in.txt".into(),
                    start: 0,
                    len: 1,
                }],
            }],
        };
        let reply = exchange(&m.addr, &msg.to_frame_bytes());
        match Message::parse(&reply) {
            Ok((Message::Error { code, message }, _)) => {
                assert_eq!(code, error_code::BAD_JOB, "{message}");
                message
            }
            other => panic!("expected an Error frame, got {other:?}"),
        }
    };

    // One long line: the message shows only a window of it.
    let source = format!(
        "{}\nread_text(\"in.txt\").save(\"o\")\n",
        "#".repeat(MAX_SOURCE_BYTES)
    );
    let message = submit("huge.job".into(), source.clone());
    assert!(
        message.starts_with(&format!(
            "huge.job:1:{}: error: the job file is {} bytes, over the limit of {MAX_SOURCE_BYTES} bytes (1 MiB); it crosses the limit here\n",
            MAX_SOURCE_BYTES + 1,
            source.len()
        )),
        "{}",
        &message[..message.len().min(500)]
    );
    assert!(message.len() < 500, "{} bytes", message.len());

    let message = submit("x".repeat(5000), "read_text(\"a\").save(\"o\")\n".into());
    assert_eq!(
        message,
        "the job file name is 5000 bytes long; the limit is 4096"
    );
    // The master is still there.
    let ping = client(&["--master", &m.addr, "ping"]);
    assert_eq!(ping.status.code(), Some(0), "{}", stderr(&ping));
}

#[test]
fn too_many_datasets_is_a_job_file_error_at_the_statement_over_the_limit() {
    let m = master(&[]);
    let dir = temp_dir("many-datasets");
    let mut source = String::new();
    for i in 0..=MAX_DATASETS {
        source.push_str(&format!("d{i} = read_text(\"in.txt\")\n"));
    }
    source.push_str("d0.save(\"o\")\n");
    fs::write(dir.join("many.job"), &source).unwrap();
    let run = client_in(Some(&dir), &["--master", &m.addr, "submit", "many.job"]);
    assert_eq!(run.status.code(), Some(2));
    assert_eq!(
        stderr(&run).lines().next(),
        Some(
            format!(
                "many.job:{}:9: error: too many datasets: a job may have at most {MAX_DATASETS} (each step of a chain counts)",
                MAX_DATASETS + 1
            )
            .as_str()
        )
    );
}

/// Deep nesting is refused with its place, never a stack overflow: of
/// parentheses, of `not`, of function calls with `[...]` indexes, and of
/// datasets. The place is the first construct past the limit.
#[test]
fn too_deep_nesting_is_a_job_file_error() {
    let m = master(&[]);
    let dir = temp_dir("deep");
    const PREFIX: &str = "read_text(\"in.txt\").filter(";
    let deep = |open: &str, close: &str| {
        format!(
            "{PREFIX}{}true{}).save(\"o\")\n",
            open.repeat(1000),
            close.repeat(1000)
        )
    };
    // Column of character `i` (from 0) of the `n`th (from 1) `piece`.
    let col = |piece: &str, n: usize, i: usize| PREFIX.len() + piece.len() * (n - 1) + i + 1;
    let too_deep = "error: expression nested too deeply (more than 64 levels)";
    let mut chain = String::from("d0 = read_text(\"in.txt\")\n");
    for i in 1..200 {
        chain.push_str(&format!("d{i} = d{}.filter(true)\n", i - 1));
    }
    chain.push_str("d199.save(\"o\")\n");
    let cases = [
        (
            deep("(", ")"),
            format!("deep.job:1:{}: {too_deep}", col("(", 64, 0)),
        ),
        // `not` and `(` are a level each.
        (
            deep("not(", ")"),
            format!("deep.job:1:{}: {too_deep}", col("not(", 32, 3)),
        ),
        (
            deep("split(", ")[0]"),
            format!("deep.job:1:{}: {too_deep}", col("split(", 64, 0)),
        ),
        // `d199` in the save, its `filter`, `d198`, its `filter`, ... are a
        // level each: `d135` in `d136 = d135.filter(true)` is the 129th.
        (
            chain,
            "deep.job:137:8: error: datasets nested too deeply (a chain of more than 128 datasets and names)"
                .to_string(),
        ),
    ];
    for (source, want) in cases {
        fs::write(dir.join("deep.job"), &source).unwrap();
        let run = client_in(Some(&dir), &["--master", &m.addr, "submit", "deep.job"]);
        assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
        assert_eq!(
            stderr(&run).lines().next(),
            Some(want.as_str()),
            "{}",
            &source[..80]
        );
    }
}

// --- pipe ---------------------------------------------------------------

#[test]
fn a_pipe_command_that_does_not_exist_fails_the_job_naming_it() {
    let (m, _w) = cluster(1, &["--max-attempts", "1"], &["--allow-pipe"]);
    let dir = temp_dir("pipe-missing");
    let input = dir.join("words.txt");
    words_file(&input, 20, 3);
    let output = dir.join("out");
    let run = submit(
        &m.addr,
        &job_file("pipe.job"),
        &[
            ("input", path(&input)),
            ("output", path(&output)),
            ("command", "no-such-command-xyz"),
        ],
        &["--wait"],
    );
    assert_eq!(run.status.code(), Some(1));
    let id = stdout(&run).lines().next().unwrap().to_string();
    let err = stderr(&run);
    assert!(
        err.contains(&format!("job {id} FAILED: "))
            && err.contains("pipe command `no-such-command-xyz` exited with status 127")
            && err.contains("no-such-command-xyz: not found"),
        "{err}"
    );
    let status = wait_end(&m.addr, &id, LIMIT);
    assert_eq!(status.state, "FAILED");
    assert!(
        status
            .error
            .contains("pipe command `no-such-command-xyz` exited with status 127"),
        "{}",
        status.text
    );
    assert!(!output.join("_SUCCESS").exists());
}

// --- fuzz ---------------------------------------------------------------

/// Runs `f` on `input`; a panic fails the test showing the input, and so
/// does a call slower than `budget`.
fn must_not_panic<T>(what: &str, input: &[u8], budget: Duration, f: impl FnOnce() -> T) {
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let shown = String::from_utf8_lossy(&input[..input.len().min(2000)]).into_owned();
    assert!(
        outcome.is_ok(),
        "{what} panicked on {} bytes: {shown:?}",
        input.len()
    );
    assert!(
        started.elapsed() < budget,
        "{what} took {:?} on {} bytes: {shown:?}",
        started.elapsed(),
        input.len()
    );
}

/// A random byte range of `bytes`.
fn range_of(rng: &mut Rng, len: usize) -> std::ops::Range<usize> {
    let start = rng.below(len as u64 + 1) as usize;
    let end = start + rng.below((len - start) as u64 + 1) as usize;
    start..end
}

/// One random edit of `bytes`: flip a bit, set a byte, truncate, delete,
/// duplicate or move a range, splice in a range of `other`, or insert one
/// of `pieces`.
fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>, other: &[u8], pieces: &[&[u8]]) {
    let len = bytes.len();
    match rng.below(8) {
        0 if len > 0 => {
            let at = rng.below(len as u64) as usize;
            bytes[at] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let at = rng.below(len as u64) as usize;
            bytes[at] = rng.next_u64() as u8;
        }
        2 => bytes.truncate(rng.below(len as u64 + 1) as usize),
        3 => {
            bytes.drain(range_of(rng, len));
        }
        4 => {
            let copy = bytes[range_of(rng, len)].to_vec();
            let at = rng.below(len as u64 + 1) as usize;
            bytes.splice(at..at, copy);
        }
        5 => {
            let cut = range_of(rng, len);
            let moved: Vec<u8> = bytes.drain(cut).collect();
            let at = rng.below(bytes.len() as u64 + 1) as usize;
            bytes.splice(at..at, moved);
        }
        6 => {
            let piece = other[range_of(rng, other.len())].to_vec();
            let at = rng.below(len as u64 + 1) as usize;
            bytes.splice(at..at, piece);
        }
        _ => {
            let piece = pieces[rng.below(pieces.len() as u64) as usize];
            let at = rng.below(len as u64 + 1) as usize;
            bytes.splice(at..at, piece.iter().copied());
        }
    }
}

/// Valid frames of several shapes: fixed fields, strings, bytes, nested
/// lists of structs.
fn sample_frames() -> Vec<Vec<u8>> {
    let kv = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: v.into(),
    };
    let messages = [
        Message::Ping { nonce: 42 },
        Message::ListWorkers {},
        Message::Register {
            data_addr: "127.0.0.1:7001".into(),
            slots: 4,
            memory_bytes: 1 << 29,
            prev_id: 0,
        },
        Message::SubmitJob {
            file: "jobs/grep.job".into(),
            source: include_str!("../jobs/grep.job").into(),
            params: vec![kv("input", "data/words.txt"), kv("pattern", "é")],
            base_dir: "/home/me".into(),
            parallelism: 4,
            inputs: vec![SourceSplits {
                source: 0,
                splits: vec![
                    SplitInfo {
                        path: "/data/words.txt".into(),
                        start: 0,
                        len: 100,
                    },
                    SplitInfo {
                        path: "/data/words.txt".into(),
                        start: 100,
                        len: 50,
                    },
                ],
            }],
        },
        Message::TaskFailed {
            attempt: 3,
            error: "open /x: No such file".into(),
        },
        Message::CommitJob {
            job_id: 7,
            outputs: vec!["/out/a".into(), "/out/b".into()],
        },
        Message::DataChunk {
            data: minispark::protocol::Bytes(b"an error line\n\xff\x00".to_vec()),
            last: 1,
        },
        Message::WaitJob {
            job_id: 7,
            tasks_done: 1,
            timeout_ms: 1000,
        },
        Message::Error {
            code: error_code::BAD_JOB,
            message: "bad.job:1:1: error: x".into(),
        },
    ];
    messages.iter().map(Message::to_frame_bytes).collect()
}

/// Random bytes, and valid frames flipped, truncated, spliced and
/// duplicated, through the frame and message decoders and the text-console
/// decoder: every outcome is a message or an error, never a panic.
#[test]
fn fuzz_random_and_mutated_frames_never_panic_a_decoder() {
    let samples = sample_frames();
    let pieces: &[&[u8]] = &[
        &frame::MAGIC,
        &[frame::VERSION],
        &[0xff; 4],
        &[0; 4],
        b"\"",
        b"=",
    ];
    let mut rng = Rng::new(0xF4A3E);
    let budget = Duration::from_secs(1);
    let (mut decoded, mut incomplete, mut invalid) = (0, 0, 0);
    for round in 0..20_000 {
        let mut bytes = if round % 4 == 0 {
            // Raw noise, half of it behind a valid magic and version.
            let mut noise: Vec<u8> = (0..rng.below(64)).map(|_| rng.next_u64() as u8).collect();
            if rng.below(2) == 0 {
                let mut head = frame::MAGIC.to_vec();
                head.push(frame::VERSION);
                noise.splice(0..0, head);
            }
            noise
        } else {
            let mut bytes = samples[rng.below(samples.len() as u64) as usize].clone();
            let other = &samples[rng.below(samples.len() as u64) as usize];
            for _ in 0..1 + rng.below(3) {
                mutate(&mut rng, &mut bytes, other, pieces);
            }
            bytes
        };
        // Half the time, mend the CRC so the payload decoder sees the damage.
        if rng.below(2) == 0 && bytes.len() >= frame::HEADER_LEN + frame::CRC_LEN {
            let end = bytes.len() - frame::CRC_LEN;
            let crc = crc32fast::hash(&bytes[..end]);
            bytes[end..].copy_from_slice(&crc.to_be_bytes());
        }
        must_not_panic("Message::parse", &bytes, budget, || {
            let _ = frame::check(&bytes);
            match Message::parse(&bytes) {
                Ok(_) => decoded += 1,
                Err(FrameError::Incomplete) => incomplete += 1,
                Err(FrameError::Invalid(_)) => invalid += 1,
            }
        });
        let text = String::from_utf8_lossy(&bytes);
        must_not_panic("Message::from_text", &bytes, budget, || {
            let _ = Message::from_text(&text);
        });
    }
    // Every outcome was reached: the payload decoder saw damaged frames.
    assert!(
        decoded > 500 && incomplete > 1000 && invalid > 1000,
        "{decoded} decoded, {incomplete} incomplete, {invalid} invalid"
    );
}

/// The repository's jobs cut, repeated, spliced into each other and
/// sprinkled with tokens, through `Job::parse`: every outcome is a job or a
/// located error, never a panic, and each takes well under a second.
#[test]
fn fuzz_mutated_job_files_never_panic_the_parser() {
    let seeds: Vec<Vec<u8>> = fs::read_dir(format!("{}/jobs", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .map(|e| fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert!(seeds.len() >= 7);
    let pieces: &[&[u8]] = &[
        b"(",
        b")",
        b"\"",
        b"$",
        b".",
        b"map(",
        b"filter(",
        b"$0",
        b"$(",
        b"[",
        b"]",
        b",",
        b"=",
        b"\n",
        b"#",
        b"\\",
        b"param ",
        b".save(\"o\")",
        b"read_text(\"x\")",
        b"union(",
        b"join(",
        b"concat(",
        b"replace(",
        b"split(",
        b"\xc3\xa9",
        b"\t",
        b"99999999999999999999",
        b"-",
        b"not ",
        b" and ",
        b"\r\n",
    ];
    let given = BTreeMap::new();
    let mut rng = Rng::new(0x10B5);
    let budget = Duration::from_secs(1);
    let (mut parsed, mut refused) = (0, 0);
    for _ in 0..6000 {
        let mut bytes = seeds[rng.below(seeds.len() as u64) as usize].clone();
        let other = &seeds[rng.below(seeds.len() as u64) as usize];
        for _ in 0..1 + rng.below(4) {
            mutate(&mut rng, &mut bytes, other, pieces);
        }
        // `Job::parse` takes text: a mutation may leave bytes that are not.
        let source = String::from_utf8_lossy(&bytes).into_owned();
        must_not_panic("Job::parse", &bytes, budget, || {
            match Job::parse("fuzz.job", &source, &given) {
                Ok(_) => parsed += 1,
                Err(e) => {
                    assert!(
                        e.to_string()
                            .starts_with(&format!("fuzz.job:{}:{}: error: ", e.line, e.col)),
                        "{e}"
                    );
                    refused += 1;
                }
            }
        });
    }
    assert!(
        parsed > 100 && refused > 1000,
        "{parsed} parsed, {refused} refused"
    );
}
