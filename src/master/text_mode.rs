//! Text mode: a line-oriented console on the master's port, for netcat.
//!
//! ```text
//! $ nc 127.0.0.1 7000
//! WORKERS
//! id=1 addr=127.0.0.1:40123 state=ALIVE slots=2 running=1 memory=512M ...
//! OK 1 worker(s)
//! STATUS 3
//! job 3 jobs/wordcount.job SUCCEEDED elapsed 0.41s
//! stage  ops ...
//! OK
//! ```
//!
//! OS idea: the same listening socket serves three protocols. The master
//! peeks at a connection's first bytes without consuming them; when they are
//! neither the frame magic nor an HTTP method the connection is handed
//! here, and the bytes are read as lines. Each reply ends with a status line
//! starting with `OK` or `ERR`, so a script knows where a reply ends. Lines
//! are read with a length limit: a peer that never sends a newline cannot
//! make us buffer without bound.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::event;
use crate::master::inspect::{Inspect, Overview};
use crate::protocol::{JobState, WorkerInfo, WorkerState};
use crate::size::format_size;
use crate::view::{report, status_table};

/// Longest command line accepted, in bytes.
pub const MAX_LINE_LEN: usize = 4096;

const HELP: &str = "\
commands (case does not matter; each reply ends with a line starting OK or ERR):
  HELP     this list
  WORKERS  one line per worker: id, data address, state (ALIVE or DEAD), task slots,
           attempts running, memory budget, seconds since its last heartbeat, and
           what that heartbeat measured: CPU, resident memory, attempts done and
           failed, bytes spilled and served, attempt latency mean/p50/p99 in ms
  JOBS     one line per job: id, job file, state, tasks done/total, elapsed time
  STATUS   a one-screen summary of the cluster
  STATUS ID
           job ID: its state, and per stage its tasks, attempts, records, bytes
           and duration (what `client status ID` prints)
  QUIT     close this session";

/// Serves one text session until the peer leaves or sends QUIT.
pub fn serve(master: &dyn Inspect, stream: &TcpStream, peer: &str) {
    let mut reader = BufReader::new(stream);
    let mut out = stream;
    let mut line = Vec::with_capacity(128);
    loop {
        line.clear();
        // `take` bounds how much one line may buffer.
        let limit = (MAX_LINE_LEN + 1) as u64;
        match reader.by_ref().take(limit).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if !line.ends_with(b"\n") && line.len() > MAX_LINE_LEN {
            let _ = out.write_all(
                format!("ERR line longer than {MAX_LINE_LEN} bytes; closing\n").as_bytes(),
            );
            event!(Warn, "master", "text_line_too_long", peer = peer);
            return;
        }
        let text = String::from_utf8_lossy(&line);
        let command = text.trim();
        if command.is_empty() {
            continue;
        }
        event!(
            Debug,
            "master",
            "text_command",
            peer = peer,
            command = command
        );
        let (reply, keep_open) = respond(master, command);
        if out.write_all(reply.as_bytes()).is_err() || !keep_open {
            return;
        }
    }
}

/// The full reply to one command line, and whether the session stays open.
fn respond(master: &dyn Inspect, command: &str) -> (String, bool) {
    let mut words = command.split_whitespace();
    let word = words.next().unwrap_or("");
    let args: Vec<&str> = words.collect();
    match word.to_ascii_uppercase().as_str() {
        "HELP" => (
            format!("{HELP}\n{}OK\n", read_only_note(master.about().read_only)),
            true,
        ),
        "WORKERS" => {
            let workers = master.overview().workers;
            let mut reply: String = workers
                .iter()
                .map(|w| report::worker_line(w) + "\n")
                .collect();
            reply.push_str(&format!("OK {} worker(s)\n", workers.len()));
            (reply, true)
        }
        "JOBS" => {
            let jobs = master.overview().jobs;
            let mut reply: String = jobs.iter().map(|j| report::job_line(j) + "\n").collect();
            reply.push_str(&format!("OK {} job(s)\n", jobs.len()));
            (reply, true)
        }
        "STATUS" => match args.as_slice() {
            [] => (status(master), true),
            [id] => (job_status(master, id), true),
            _ => ("ERR usage: STATUS [ID]\n".to_string(), true),
        },
        "QUIT" => ("OK bye\n".to_string(), false),
        _ => (
            format!("ERR unknown command {:?}; try HELP\n", truncate(word, 64)),
            true,
        ),
    }
}

/// Text mode only reads; with a secret set, it says where changes go.
fn read_only_note(read_only: bool) -> &'static str {
    if read_only {
        "read-only: this master authenticates its binary connections \
         (--secret-file); submit and cancel with the client and the secret\n"
    } else {
        ""
    }
}

fn status(master: &dyn Inspect) -> String {
    let about = master.about();
    let Overview { workers, jobs } = master.overview();
    let running = jobs.iter().filter(|j| j.state == JobState::Running).count();
    let alive: Vec<&WorkerInfo> = workers
        .iter()
        .filter(|w| w.state == WorkerState::Alive)
        .collect();
    let slots: u64 = alive.iter().map(|w| u64::from(w.slots)).sum();
    let memory: u64 = alive.iter().map(|w| w.memory_bytes).sum();
    format!(
        "master {} up {}\n\
         workers {} alive, {} dead\n\
         slots {} (alive workers)\n\
         memory {} (alive workers)\n\
         jobs {} running, {} total\n\
         heartbeat_timeout {}ms\n\
         {}OK\n",
        about.addr,
        format_duration(about.up),
        alive.len(),
        workers.len() - alive.len(),
        slots,
        format_size(memory),
        running,
        jobs.len(),
        about.heartbeat_timeout.as_millis(),
        read_only_note(about.read_only)
    )
}

/// `STATUS ID`: the job's table, as `client status ID` prints it.
fn job_status(master: &dyn Inspect, id: &str) -> String {
    let Ok(id) = id.parse::<u64>() else {
        return format!(
            "ERR job id must be a number, got {:?}; try HELP\n",
            truncate(id, 64)
        );
    };
    let Some(mut job) = master.job(id) else {
        return format!("ERR no job {id}\n");
    };
    // Text from the job (a task's error, say) may hold newlines; a line of
    // it starting `OK` would end the reply early for a script.
    job.error = one_line(&job.error);
    job.file = one_line(&job.file);
    for output in &mut job.outputs {
        *output = one_line(output);
    }
    format!("{}OK\n", status_table(&job))
}

/// `text` with its line breaks written as `\n` and `\r`.
fn one_line(text: &str) -> String {
    text.replace('\r', "\\r").replace('\n', "\\n")
}

fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m{:02}s", s / 3600, s % 3600 / 60, s % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::master::inspect::About;
    use crate::protocol::{JobReport, JobSummary, StageReport};

    /// A master holding one failed job, 7.
    struct Fake;

    impl Inspect for Fake {
        fn about(&self) -> About {
            About {
                addr: "127.0.0.1:7000".parse().unwrap(),
                up: Duration::from_secs(1),
                heartbeat_timeout: Duration::from_secs(10),
                read_only: false,
            }
        }
        fn overview(&self) -> Overview {
            Overview {
                workers: Vec::new(),
                jobs: Vec::new(),
            }
        }
        fn detail(&self) -> (Vec<WorkerInfo>, Vec<(JobSummary, JobReport)>) {
            (Vec::new(), Vec::new())
        }
        fn worker(&self, _id: u32) -> Option<crate::view::worker::WorkerDetail> {
            None
        }
        fn job(&self, id: u64) -> Option<JobReport> {
            (id == 7).then(|| JobReport {
                id: 7,
                file: "jobs/grep.job".into(),
                state: JobState::Failed,
                error: "boom\nOK not the end".into(),
                stages: vec![StageReport {
                    ops: "read_text > filter > save".into(),
                    tasks_total: 4,
                    tasks_done: 3,
                    ..StageReport::default()
                }],
                ..JobReport::default()
            })
        }
    }

    #[test]
    fn status_of_one_job() {
        let (reply, open) = respond(&Fake, "status 7");
        assert!(open);
        let lines: Vec<&str> = reply.lines().collect();
        assert!(
            lines[0].starts_with("job 7 jobs/grep.job FAILED"),
            "{reply}"
        );
        assert!(reply.contains("read_text > filter > save"), "{reply}");
        assert!(reply.contains("3/4"), "{reply}");
        assert_eq!(lines.last(), Some(&"OK"));
        let ends = lines.iter().filter(|l| l.starts_with("OK")).count();
        assert_eq!(ends, 1, "one closing line: {reply}");
        assert!(reply.contains("error boom\\nOK not the end"), "{reply}");

        assert_eq!(respond(&Fake, "STATUS 8").0, "ERR no job 8\n");
        assert_eq!(
            respond(&Fake, "STATUS x7").0,
            "ERR job id must be a number, got \"x7\"; try HELP\n"
        );
        assert!(respond(&Fake, "STATUS -1")
            .0
            .starts_with("ERR job id must be a number"));
        assert_eq!(respond(&Fake, "STATUS 1 2").0, "ERR usage: STATUS [ID]\n");
        assert!(respond(&Fake, "STATUS")
            .0
            .starts_with("master 127.0.0.1:7000 up"));
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_secs(61)), "1m01s");
        assert_eq!(format_duration(Duration::from_secs(3661)), "1h01m01s");
    }
}
