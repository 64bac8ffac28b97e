//! Shared-secret authentication through real processes: a cluster whose
//! master, workers and client share a secret runs jobs (worker-to-worker
//! fetches and `client results` included); a client or worker without the
//! secret, or with a wrong one, is refused with a clear error and logged
//! with its address, while everyone else keeps being served; text mode and
//! the web page stay readable and say they are read-only; and an open master
//! on a non-loopback address warns at start.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::*;

const LIMIT: Duration = Duration::from_secs(30);

fn secret_file(name: &str, secret: &str) -> PathBuf {
    let p = temp_dir(name).join("secret");
    fs::write(&p, secret).unwrap();
    p
}

fn client_with(secret: Option<&PathBuf>, args: &[&str]) -> std::process::Output {
    let mut all: Vec<&str> = Vec::new();
    if let Some(s) = secret {
        all.extend(["--secret-file", path(s)]);
    }
    all.extend_from_slice(args);
    client(&all)
}

#[test]
fn a_cluster_sharing_a_secret_runs_jobs() {
    let k = secret_file("secret-ok", "open sesame\n");
    let flags = ["--secret-file", path(&k)];
    let (m, _w) = cluster_checked(&flags, &flags);
    let dir = temp_dir("secret-job");
    let input = dir.join("words.txt");
    let want = word_counts(&words_file(&input, 2000, 5));
    let out = dir.join("out");
    let run = client_with(
        Some(&k),
        &[
            "--master",
            &m.addr,
            "submit",
            &job_file("wordcount.job"),
            "--param",
            &p("input", &input),
            "--param",
            &p("output", &out),
            "--wait",
        ],
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert_eq!(sorted(output_lines(&out)), want);
    // Two workers: reducers fetched from the other worker, authenticated.
    let id = stdout(&run).lines().next().unwrap().trim().to_string();
    let results = client_with(Some(&k), &["--master", &m.addr, "results", &id]);
    assert_eq!(results.status.code(), Some(0), "{}", stderr(&results));
    assert_eq!(stdout(&results).lines().count(), want.len());
    // The environment variable works as the flag does.
    let ping = Command::new(env!("CARGO_BIN_EXE_client"))
        .args(["--master", &m.addr, "ping"])
        .env("MINISPARK_SECRET_FILE", &k)
        .output()
        .unwrap();
    assert_eq!(ping.status.code(), Some(0), "{}", stderr(&ping));
}

/// A master and two workers with `master_flags` / `worker_flags`, checked
/// through text mode (which needs no secret).
fn cluster_checked(master_flags: &[&str], worker_flags: &[&str]) -> (Proc, Vec<Proc>) {
    let m = master(master_flags);
    let w: Vec<Proc> = (0..2).map(|_| worker(&m.addr, worker_flags)).collect();
    wait_workers(&m.addr, 2, "ALIVE", LIMIT);
    (m, w)
}

#[test]
fn peers_without_the_secret_are_refused_and_logged() {
    let k = secret_file("secret-refuse", "open sesame");
    let wrong = secret_file("secret-wrong", "open barley");
    let flags = ["--secret-file", path(&k)];
    let (m, w) = cluster_checked(&flags, &flags);

    // A client without a secret, and one with the wrong secret.
    let none = client_with(None, &["--master", &m.addr, "workers"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(
        stderr(&none).contains("authentication required"),
        "{}",
        stderr(&none)
    );
    let bad = client_with(Some(&wrong), &["--master", &m.addr, "workers"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("does not hold our secret"),
        "{}",
        stderr(&bad)
    );

    // Raw frames without a handshake: an Error frame (code 7), then close,
    // at the master and at a worker's data port.
    let ping = minispark::protocol::Message::Ping { nonce: 1 }.to_frame_bytes();
    for addr in [&m.addr, &w[0].addr] {
        let reply = exchange(addr, &ping);
        let (msg, _) = minispark::protocol::Message::parse(&reply).expect("an Error frame");
        assert!(
            matches!(msg, minispark::protocol::Message::Error { code: 7, .. }),
            "{msg:?}"
        );
    }
    wait_for(LIMIT, "the refusals in the master's log", || {
        let log = m.log_text();
        (log.matches("auth_failed").count() >= 2 && log.contains("peer=127.0.0.1:")).then_some(())
    });

    // A worker with the wrong secret never joins.
    let intruder = worker(
        &m.addr,
        &["--secret-file", path(&wrong), "--reconnect-max-ms", "100"],
    );
    wait_for(LIMIT, "the intruder to be refused", || {
        intruder
            .log_text()
            .contains("does not hold our secret")
            .then_some(())
    });
    assert_eq!(workers(&m.addr).len(), 2);

    // Text mode and the web page still answer, and say they only read.
    let help = common::text(&m.addr, "HELP").join("\n");
    assert!(help.contains("read-only"), "{help}");
    let (status, page) = http_get(&m.addr, "/");
    assert_eq!(status, 200);
    assert!(page.contains("id=\"read-only\""), "{page}");

    // And the cluster goes on serving those who hold the secret.
    let ok = client_with(Some(&k), &["--master", &m.addr, "ping"]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
}

#[test]
fn a_client_with_a_secret_is_refused_by_an_open_master() {
    let k = secret_file("secret-open", "open sesame");
    let m = master(&[]);
    let out = client_with(Some(&k), &["--master", &m.addr, "ping"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no secret"), "{}", stderr(&out));
}

#[test]
fn an_open_master_on_a_public_address_warns() {
    let state = temp_dir("open-state");
    let open = Proc::start(
        "master",
        &[
            "--port",
            "0",
            "--bind",
            "0.0.0.0",
            "--state-dir",
            path(&state),
        ],
    );
    wait_for(LIMIT, "the warning", || {
        open.log_text().contains("no_secret").then_some(())
    });
    let local = master(&[]);
    // `listening` is logged after the point where the warning would be.
    wait_for(LIMIT, "the loopback master to listen", || {
        local.log_text().contains(" listening ").then_some(())
    });
    assert!(
        !local.log_text().contains("no_secret"),
        "{}",
        local.log_text()
    );
    let empty = secret_file("secret-empty", "\n");
    let refused = Command::new(env!("CARGO_BIN_EXE_master"))
        .args(["--port", "0", "--secret-file", path(&empty)])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("is empty"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn connections_over_the_cap_are_refused_and_silent_ones_dropped() {
    use std::io::Read;
    use std::net::TcpStream;
    let m = master(&["--max-connections", "3", "--idle-timeout-ms", "400"]);
    // Three silent peers take every place.
    let mut silent: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(&m.addr).unwrap())
        .collect();
    wait_for(LIMIT, "a fourth connection to be refused as busy", || {
        let reply = exchange(&m.addr, b"");
        let (msg, _) = minispark::protocol::Message::parse(&reply).ok()?;
        matches!(msg, minispark::protocol::Message::Error { code: 8, .. }).then_some(())
    });
    assert!(
        m.log_text().contains("connection_refused"),
        "{}",
        m.log_text()
    );
    // Silent ones are closed after the idle timeout (read sees EOF)...
    for s in &mut silent {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(s.read(&mut buf).unwrap_or(0), 0, "closed by the master");
    }
    // ...which frees their places.
    wait_for(LIMIT, "a place to free up", || {
        (client(&["--master", &m.addr, "ping"]).status.code() == Some(0)).then_some(())
    });
}
