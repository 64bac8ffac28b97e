//! The `pipe(command)` operator (Hadoop Streaming, Spark's `RDD.pipe`): one
//! child process per partition; records go to its stdin one per line, and
//! the lines it prints on stdout are the output records.
//!
//! OS idea: a pipe is a small kernel buffer (64 KiB on Linux) between two
//! file descriptors; a writer blocks when it is full, a reader blocks when it
//! is empty. Talking to a child through two pipes therefore needs two
//! threads, not one:
//!
//! ```text
//!   feeder thread ──stdin pipe──▶ child ──stdout pipe──▶ iterator (caller)
//!                                   └────stderr pipe──▶ stderr thread (tail)
//! ```
//!
//! With one thread alternating "write some input, read some output", a child
//! like `cat` that writes while it reads deadlocks us both: we block writing
//! because its stdin pipe is full, it blocks writing because its stdout pipe
//! is full and nobody reads it. So the feeder writes on its own thread while
//! the caller reads, and stderr is drained on a third thread for the same
//! reason (a chatty child would otherwise block on a full stderr pipe).
//!
//! Ends of a conversation:
//! - Normal: the feeder closes stdin (EOF for the child), the child exits,
//!   its stdout reaches EOF; we wait for it and check its exit status.
//! - The child stops reading early (`head -1`): the kernel answers the
//!   feeder's next write with `EPIPE` (we ignore `SIGPIPE`, as Rust programs
//!   do). Not an error by itself: the exit status decides.
//! - The caller drops the iterator early: we kill the child's whole process
//!   group, so every process of `sh -c 'a | b'` dies, and reap the child with
//!   `wait` so it leaves no zombie. With all readers of the stdin pipe gone,
//!   the feeder's next write fails with `EPIPE` and its thread ends.
//! - The task is cancelled while the child runs (`sleep 600`): a watchdog
//!   thread notices the cancel flag and kills the process group, so the
//!   blocked `read` of stdout sees EOF and the iteration ends.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::lock;

/// Bytes of the child's stderr kept for the error message (the last ones).
const STDERR_TAIL_BYTES: usize = 2048;
/// Buffer for writing to the child's stdin and reading its stdout: large
/// enough that most `write(2)`/`read(2)` calls move a whole pipe buffer.
const PIPE_IO_BUF_BYTES: usize = 64 * 1024;

/// The running child and the threads around it. Iterates over the lines of
/// its stdout, then reports failure (if any) as one final `Err`.
pub struct Pipe {
    command: String,
    child: Child,
    stdout: BufReader<ChildStdout>,
    /// Reused for each line read from stdout.
    line: Vec<u8>,
    /// `Some` until the end has been reported (then the feeder is joined).
    feeder: Option<JoinHandle<Feed>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    /// Set once the child has been waited for: nothing left to clean up.
    reaped: bool,
    /// Shared with the watchdog; held while reaping, so the watchdog never
    /// signals a process group whose id the kernel may have reused.
    reaped_guard: Arc<Mutex<bool>>,
}

/// How the feeder thread ended.
enum Feed {
    /// All input written, or the child stopped reading (`EPIPE`).
    Done,
    /// The input iterator returned an error.
    InputFailed(String),
    /// Writing to the child failed for a reason other than `EPIPE`.
    WriteFailed(io::Error),
}

impl Pipe {
    /// Starts `sh -c command` and a feeder thread that writes each item of
    /// `input` plus `\n` to the child's stdin, then closes it. An `Err` from
    /// `input` stops the feed and is reported at the end of the iteration.
    ///
    /// The child runs in a new process group of its own, so that dropping
    /// the `Pipe` can kill every process the shell started.
    ///
    /// # Errors
    ///
    /// The command could not be started (names the command and the reason).
    pub fn spawn<I>(command: &str, input: I, cancel: Arc<AtomicBool>) -> Result<Pipe, String>
    where
        I: Iterator<Item = Result<Vec<u8>, String>> + Send + 'static,
    {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("pipe command `{command}`: cannot start sh: {e}"))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            discard_child(&mut child);
            return Err(format!("pipe command `{command}`: no pipes to the child"));
        };
        let mut pipe = Pipe {
            command: command.to_string(),
            child,
            stdout: BufReader::with_capacity(PIPE_IO_BUF_BYTES, stdout),
            line: Vec::new(),
            feeder: None,
            stderr: None,
            reaped: false,
            reaped_guard: Arc::new(Mutex::new(false)),
        };
        // From here on, an early return drops `pipe`, which kills the child.
        pipe.stderr = Some(
            thread::Builder::new()
                .name("pipe-stderr".into())
                .spawn(move || keep_tail(stderr))
                .map_err(|e| format!("pipe command `{command}`: cannot start thread: {e}"))?,
        );
        pipe.feeder = Some(
            thread::Builder::new()
                .name("pipe-feeder".into())
                .spawn(move || feed(input, stdin))
                .map_err(|e| format!("pipe command `{command}`: cannot start thread: {e}"))?,
        );
        let (pgid, guard) = (pipe.child.id(), Arc::clone(&pipe.reaped_guard));
        thread::Builder::new()
            .name("pipe-watchdog".into())
            .spawn(move || watch(pgid, &guard, &cancel))
            .map_err(|e| format!("pipe command `{command}`: cannot start thread: {e}"))?;
        Ok(pipe)
    }

    /// The child's process id (also its process group id), for the tests.
    #[cfg(test)]
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// After stdout's EOF: joins the feeder, reaps the child, and says what
    /// went wrong, if anything.
    fn finish(&mut self) -> Option<String> {
        let feed = self.feeder.take().map(|t| {
            t.join()
                .unwrap_or_else(|_| Feed::InputFailed("the feeder thread panicked".into()))
        });
        let status = {
            let mut guard = lock(&self.reaped_guard);
            let status = self.child.wait();
            *guard = true;
            status
        };
        self.reaped = true;
        let tail = self
            .stderr
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        match (feed, status) {
            (Some(Feed::InputFailed(e)), _) => Some(e),
            (_, Err(e)) => Some(format!("pipe command `{}`: wait: {e}", self.command)),
            (_, Ok(status)) if !status.success() => Some(self.failure(status, &tail)),
            (Some(Feed::WriteFailed(e)), _) => Some(format!(
                "pipe command `{}`: writing its input: {e}",
                self.command
            )),
            _ => None,
        }
    }

    /// "pipe command `CMD` exited with status 3: <stderr tail>".
    fn failure(&self, status: ExitStatus, stderr_tail: &[u8]) -> String {
        let how = match (status.code(), status.signal()) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(signal)) => format!("was killed by signal {signal}"),
            (None, None) => format!("ended with {status}"),
        };
        let tail = String::from_utf8_lossy(stderr_tail);
        let tail = tail.trim();
        if tail.is_empty() {
            format!("pipe command `{}` {how}", self.command)
        } else {
            format!("pipe command `{}` {how}: {tail}", self.command)
        }
    }
}

impl Iterator for Pipe {
    type Item = Result<Vec<u8>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.reaped {
            return None;
        }
        self.line.clear();
        match self.stdout.read_until(b'\n', &mut self.line) {
            Ok(0) => self.finish().map(Err),
            Ok(_) => {
                let mut line = &self.line[..];
                if let Some(rest) = line.strip_suffix(b"\n") {
                    line = rest.strip_suffix(b"\r").unwrap_or(rest);
                }
                Some(Ok(line.to_vec()))
            }
            Err(e) => {
                let err = format!("pipe command `{}`: reading its output: {e}", self.command);
                self.kill_and_reap();
                Some(Err(err))
            }
        }
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill_and_reap();
        }
        // The feeder and stderr threads are not joined: with the child's
        // process group dead, the feeder's next write fails with EPIPE and
        // the stderr read sees EOF, so both end on their own.
    }
}

impl Pipe {
    /// Kills the child's process group, then `wait`s for the child so it
    /// does not stay a zombie.
    fn kill_and_reap(&mut self) {
        // The child is not reaped yet, so its pid (= the group id) cannot
        // have been reused by another process.
        let mut guard = lock(&self.reaped_guard);
        if kill_group(self.child.id()).is_err() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        *guard = true;
        self.reaped = true;
    }
}

/// How often the watchdog looks at the cancel flag.
const WATCH_INTERVAL: Duration = Duration::from_millis(50);

/// The watchdog thread: kills the child's process group when the task is
/// cancelled; ends when the child has been reaped.
fn watch(pgid: u32, reaped: &Mutex<bool>, cancel: &AtomicBool) {
    loop {
        {
            let reaped = lock(reaped);
            if *reaped {
                return;
            }
            if cancel.load(Ordering::Relaxed) {
                let _ = kill_group(pgid);
                return;
            }
        }
        thread::sleep(WATCH_INTERVAL);
    }
}

/// The feeder thread: each input item plus '\n' into the child's stdin.
/// Returning drops the `BufWriter` after flushing: stdin closes, EOF for the
/// child.
fn feed<I>(input: I, stdin: ChildStdin) -> Feed
where
    I: Iterator<Item = Result<Vec<u8>, String>>,
{
    let mut out = BufWriter::with_capacity(PIPE_IO_BUF_BYTES, stdin);
    let written = (|| {
        for item in input {
            let record = match item {
                Ok(record) => record,
                Err(e) => return Err(Feed::InputFailed(e)),
            };
            out.write_all(&record).map_err(Feed::WriteFailed)?;
            out.write_all(b"\n").map_err(Feed::WriteFailed)?;
        }
        out.flush().map_err(Feed::WriteFailed)
    })();
    match written {
        Ok(()) => Feed::Done,
        Err(Feed::WriteFailed(e)) if e.kind() == io::ErrorKind::BrokenPipe => Feed::Done,
        Err(feed) => feed,
    }
}

/// The stderr thread: reads until EOF, keeping only the last
/// `STDERR_TAIL_BYTES` bytes.
fn keep_tail(mut stderr: impl Read) -> Vec<u8> {
    let mut tail = VecDeque::with_capacity(STDERR_TAIL_BYTES);
    let mut chunk = [0u8; 4096];
    loop {
        match stderr.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                tail.extend(&chunk[..n]);
                let excess = tail.len().saturating_sub(STDERR_TAIL_BYTES);
                tail.drain(..excess);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    tail.into()
}

/// Sends `SIGKILL` to every process in group `pgid`, with the `kill`
/// command (std has no `kill(2)` for a group, and a negative pid is how
/// `kill` names one).
fn kill_group(pgid: u32) -> io::Result<()> {
    // 0 and 1 would mean our own group or every process we may signal.
    if pgid <= 1 {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    let status = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "kill -KILL -{pgid} failed: {status}"
        )))
    }
}

/// `Command::spawn` with piped stdio always gives all three pipes; if it
/// ever did not, do not leave the child behind.
fn discard_child(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    fn no_cancel() -> Arc<AtomicBool> {
        Arc::new(AtomicBool::new(false))
    }

    #[test]
    fn cancel_kills_a_child_that_would_run_for_long() {
        let cancel = no_cancel();
        let mut pipe = Pipe::spawn("sleep 30", lines(&[]), Arc::clone(&cancel)).unwrap();
        let started = std::time::Instant::now();
        cancel.store(true, Ordering::Relaxed);
        let rest: Vec<_> = pipe.by_ref().collect();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
        assert!(
            rest.iter()
                .any(|r| r.as_ref().is_err_and(|e| e.contains("signal 9"))),
            "{rest:?}"
        );
    }

    use super::*;
    use crate::within;
    use std::path::Path;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    /// The deadline of a test that pushes more than a pipe buffer through a
    /// child: with one thread doing both ends, it would block for good.
    const LIMIT: Duration = Duration::from_secs(20);

    fn lines(items: &[&str]) -> impl Iterator<Item = Result<Vec<u8>, String>> + Send + 'static {
        let owned: Vec<Vec<u8>> = items.iter().map(|s| s.as_bytes().to_vec()).collect();
        owned.into_iter().map(Ok)
    }

    fn collect(pipe: Pipe) -> (Vec<String>, Vec<String>) {
        let (mut out, mut errs) = (Vec::new(), Vec::new());
        for item in pipe {
            match item {
                Ok(line) => out.push(String::from_utf8(line).unwrap()),
                Err(e) => errs.push(e),
            }
        }
        (out, errs)
    }

    #[test]
    fn tr_round_trip_on_many_lines() {
        within(LIMIT, "100,000 lines through `tr`", || {
            const N: usize = 100_000;
            let input = (0..N).map(|i| Ok(format!("line {i} abc").into_bytes()));
            let pipe = Pipe::spawn("tr a-z A-Z", input, no_cancel()).unwrap();
            let mut count = 0;
            for (i, item) in pipe.enumerate() {
                assert_eq!(item.unwrap(), format!("LINE {i} ABC").into_bytes());
                count += 1;
            }
            assert_eq!(count, N);
        });
    }

    /// The two-pipe deadlock. `cat` writes each line as it reads it, so
    /// once its stdout pipe is full (64 KiB) it stops reading, and once its
    /// stdin pipe is full too, a writer that is not also reading blocks for
    /// good. 1 MiB is far more than both pipe buffers hold.
    #[test]
    fn more_than_two_pipe_buffers_through_cat_do_not_deadlock() {
        const LINES: usize = 16 * 1024;
        let (out, errs) = within(LIMIT, "1 MiB through `cat`", || {
            // 63 digits and a newline: 64 bytes a line, 1 MiB in all.
            let input = (0..LINES).map(|i| Ok(format!("{i:063}").into_bytes()));
            collect(Pipe::spawn("cat", input, no_cancel()).unwrap())
        });
        assert_eq!(errs, Vec::<String>::new());
        assert_eq!(out.len(), LINES);
        assert!(out
            .iter()
            .enumerate()
            .all(|(i, line)| *line == format!("{i:063}")));
    }

    #[test]
    fn cat_preserves_order_and_empty_lines() {
        let pipe = Pipe::spawn("cat", lines(&["b", "", "a", "c"]), no_cancel()).unwrap();
        assert_eq!(
            collect(pipe),
            (vec!["b".into(), "".into(), "a".into(), "c".into()], vec![])
        );
    }

    #[test]
    fn crlf_output_is_stripped() {
        let pipe = Pipe::spawn("printf 'x\\r\\ny\\nz'", lines(&[]), no_cancel()).unwrap();
        assert_eq!(collect(pipe).0, vec!["x", "y", "z"]);
    }

    #[test]
    fn nonzero_exit_fails_with_stderr_tail() {
        let cmd = "cat >/dev/null; i=0; while [ $i -lt 500 ]; do echo noise $i >&2; i=$((i+1)); done; echo last words >&2; exit 3";
        let pipe = Pipe::spawn(cmd, lines(&["x"]), no_cancel()).unwrap();
        let (out, errs) = collect(pipe);
        assert!(out.is_empty());
        assert_eq!(errs.len(), 1);
        let err = &errs[0];
        assert!(
            err.starts_with(&format!("pipe command `{cmd}` exited with status 3: ")),
            "{err}"
        );
        assert!(err.ends_with("last words"), "{err}");
        assert!(
            err.len() < cmd.len() + 100 + STDERR_TAIL_BYTES,
            "tail is bounded"
        );
    }

    #[test]
    fn killed_by_signal_is_reported() {
        let pipe = Pipe::spawn("kill -TERM $$", lines(&[]), no_cancel()).unwrap();
        let (_, errs) = collect(pipe);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].contains("killed by signal 15"), "{}", errs[0]);
    }

    #[test]
    fn missing_command_fails() {
        let cmd = "no-such-command-minispark";
        let (out, errs) = collect(Pipe::spawn(cmd, lines(&["x"]), no_cancel()).unwrap());
        assert!(out.is_empty());
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].contains("status 127") && errs[0].contains(cmd),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn early_exit_with_status_zero_succeeds() {
        // Far more input than fits in the pipe: the feeder must hit EPIPE.
        let input = (0..1_000_000).map(|i| Ok(format!("record {i}").into_bytes()));
        let pipe = Pipe::spawn("head -1", input, no_cancel()).unwrap();
        assert_eq!(collect(pipe), (vec!["record 0".into()], vec![]));
    }

    #[test]
    fn input_error_propagates() {
        let input = vec![Ok(b"a".to_vec()), Err("bad input split".to_string())].into_iter();
        let (out, errs) = collect(Pipe::spawn("cat", input, no_cancel()).unwrap());
        assert_eq!(out, vec!["a"]);
        assert_eq!(errs, vec!["bad input split"]);
    }

    /// An endless input that reports, when dropped, that the feeder ended.
    struct Endless(Option<mpsc::Sender<()>>);

    impl Iterator for Endless {
        type Item = Result<Vec<u8>, String>;
        fn next(&mut self) -> Option<Self::Item> {
            Some(Ok(b"y".to_vec()))
        }
    }

    impl Drop for Endless {
        fn drop(&mut self) {
            if let Some(tx) = self.0.take() {
                let _ = tx.send(());
            }
        }
    }

    fn gone(pid: u32) -> bool {
        !Path::new(&format!("/proc/{pid}")).exists()
    }

    #[test]
    fn drop_mid_stream_kills_the_child() {
        within(LIMIT, "an endless input through `cat`", || {
            let (tx, feeder_ended) = mpsc::channel();
            let mut pipe = Pipe::spawn("cat", Endless(Some(tx)), no_cancel()).unwrap();
            for _ in 0..10 {
                assert_eq!(pipe.next().unwrap().unwrap(), b"y");
            }
            let pid = pipe.id();
            assert!(!gone(pid));
            drop(pipe);
            assert!(gone(pid), "child {pid} still exists (zombie?)");
            feeder_ended
                .recv_timeout(Duration::from_secs(10))
                .expect("feeder thread did not end");
        });
    }

    #[test]
    fn drop_kills_the_whole_pipeline() {
        within(LIMIT, "an endless input into `cat >/dev/null`", || {
            // `sh` forks `cat`, which reads forever and never writes: killing
            // `sh` alone would leave it holding the stdin pipe, and the feeder
            // writing forever.
            let (tx, feeder_ended) = mpsc::channel();
            let pipe = Pipe::spawn("cat >/dev/null; true", Endless(Some(tx)), no_cancel()).unwrap();
            thread::sleep(Duration::from_millis(50));
            let started = Instant::now();
            drop(pipe);
            feeder_ended
                .recv_timeout(Duration::from_secs(10))
                .expect("feeder thread did not end");
            assert!(started.elapsed() < Duration::from_secs(5));
        });
    }
}
