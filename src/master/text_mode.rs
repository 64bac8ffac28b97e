//! Text mode: a line-oriented console on the master's port, for netcat.
//!
//! ```text
//! $ nc 127.0.0.1 7000
//! WORKERS
//! id=1 addr=127.0.0.1:40123 state=ALIVE slots=2 running=1 memory=512M ...
//! OK 1 worker(s)
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
use crate::view::report;

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
    let word = command.split_whitespace().next().unwrap_or("");
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
        "STATUS" => (status(master), true),
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

    #[test]
    fn durations() {
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_secs(61)), "1m01s");
        assert_eq!(format_duration(Duration::from_secs(3661)), "1h01m01s");
    }
}
