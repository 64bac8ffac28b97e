//! Membership end to end, through the real `master` and `worker` binaries:
//! registration, death by closed connection and by silence, rejoining after
//! being declared dead, reconnection after a master restart, and a master
//! that keeps serving after garbage.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use minispark::net::{FrameReader, FrameWriter};
use minispark::protocol::Message;

const LIMIT: Duration = Duration::from_secs(15);

#[test]
fn workers_register_and_show_in_text_mode() {
    let m = master(&[]);
    let _w1 = worker(&m.addr, &["--slots", "3", "--memory", "64M"]);
    let _w2 = worker(&m.addr, &["--slots", "1"]);
    let lines = wait_workers(&m.addr, 2, "ALIVE", LIMIT);
    let ids: Vec<&str> = lines.iter().map(|l| field(l, "id").unwrap()).collect();
    assert_eq!(ids, ["1", "2"]);
    let mut slots: Vec<&str> = lines.iter().map(|l| field(l, "slots").unwrap()).collect();
    slots.sort();
    assert_eq!(slots, ["1", "3"]);
    assert!(
        lines.iter().any(|l| field(l, "memory") == Some("64M")),
        "{lines:?}"
    );
    for l in &lines {
        assert!(field(l, "since_heartbeat").unwrap().ends_with('s'), "{l}");
        assert!(field(l, "addr").unwrap().starts_with("127.0.0.1:"), "{l}");
    }

    // One session: help, an unknown command, and the session stays open.
    let mut t = Text::connect(&m.addr);
    let help = t.command("help");
    assert!(help.iter().any(|l| l.contains("WORKERS")), "{help:?}");
    assert_eq!(help.last().unwrap(), "OK");
    let err = t.command("FROBNICATE now");
    assert_eq!(err.len(), 1);
    assert!(
        err[0].starts_with("ERR unknown command \"FROBNICATE\""),
        "{err:?}"
    );
    let status = t.command("STATUS");
    assert!(
        status.iter().any(|l| l == "workers 2 alive, 0 dead"),
        "{status:?}"
    );
    assert!(
        status.iter().any(|l| l == "slots 4 (alive workers)"),
        "{status:?}"
    );
    assert_eq!(t.command("QUIT"), ["OK bye"]);
}

#[test]
fn client_lists_workers_and_pings_over_the_binary_protocol() {
    let m = master(&[]);
    let _w = worker(&m.addr, &["--slots", "2"]);
    wait_workers(&m.addr, 1, "ALIVE", LIMIT);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_client"))
        .args(["--master", &m.addr, "workers"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.starts_with("id=1 addr=127.0.0.1:"), "{stdout}");
    assert!(stdout.contains("state=ALIVE slots=2"), "{stdout}");

    // MINISPARK_MASTER is honoured when --master is absent.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_client"))
        .arg("ping")
        .env("MINISPARK_MASTER", &m.addr)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("pong from"));
}

#[test]
fn a_killed_worker_is_dead_as_soon_as_its_connection_closes() {
    // A heartbeat timeout far longer than the test: only the closed
    // connection can explain a quick DEAD.
    let m = master(&["--heartbeat-timeout-ms", "600000"]);
    let mut w1 = worker(&m.addr, &[]);
    let _w2 = worker(&m.addr, &[]);
    wait_workers(&m.addr, 2, "ALIVE", LIMIT);
    let killed = Instant::now();
    w1.kill();
    let lines = wait_workers(&m.addr, 1, "DEAD", LIMIT);
    assert!(killed.elapsed() < Duration::from_secs(5));
    assert_eq!(lines.len(), 2, "the dead worker stays listed: {lines:?}");
    assert!(m.log_text().contains("reason=connection_closed"));
}

#[test]
fn a_silent_worker_is_declared_dead_after_the_timeout_and_rejoins_with_its_id() {
    let timeout_ms = 800;
    let m = master(&["--heartbeat-timeout-ms", &timeout_ms.to_string()]);
    let w = worker(
        &m.addr,
        &["--heartbeat-ms", "100", "--reconnect-max-ms", "100"],
    );
    let _other = worker(&m.addr, &["--heartbeat-ms", "100"]);
    wait_workers(&m.addr, 2, "ALIVE", LIMIT);
    let id = field(
        &workers(&m.addr)
            .into_iter()
            .find(|l| field(l, "addr") == Some(w.addr.as_str()))
            .unwrap(),
        "id",
    )
    .unwrap()
    .to_string();

    // SIGSTOP freezes the worker: its socket stays open, heartbeats stop.
    w.signal("STOP");
    let stopped = Instant::now();
    let lines = wait_workers(&m.addr, 1, "DEAD", LIMIT);
    let waited = stopped.elapsed();
    assert!(
        waited >= Duration::from_millis(timeout_ms) - Duration::from_millis(150),
        "declared dead after only {waited:?}"
    );
    assert!(
        waited < Duration::from_millis(timeout_ms * 4),
        "took {waited:?}"
    );
    let dead = lines
        .iter()
        .find(|l| field(l, "state") == Some("DEAD"))
        .unwrap();
    assert_eq!(field(dead, "id"), Some(id.as_str()));
    assert!(m.log_text().contains("reason=heartbeat_timeout"));

    // Thawed, it finds its connection closed, reconnects and gets its id back.
    w.signal("CONT");
    let lines = wait_workers(&m.addr, 2, "ALIVE", LIMIT);
    assert_eq!(lines.len(), 2, "no duplicate entry: {lines:?}");
    let back = lines
        .iter()
        .find(|l| field(l, "addr") == Some(w.addr.as_str()))
        .unwrap();
    assert_eq!(field(back, "id"), Some(id.as_str()));
}

#[test]
fn workers_reregister_when_the_master_restarts() {
    let mut m = master(&[]);
    let port = m.port().to_string();
    let w1 = worker(&m.addr, &["--reconnect-max-ms", "100"]);
    let w2 = worker(&m.addr, &["--reconnect-max-ms", "100"]);
    let before = wait_workers(&m.addr, 2, "ALIVE", LIMIT);
    // ALIVE on the master is not enough: each worker must also have read its
    // RegisterAck (and so learned its id) before the master dies.
    for w in [&w1, &w2] {
        wait_for(LIMIT, "the worker to learn its id", || {
            w.log_text().contains(" registered id=").then_some(())
        });
    }
    m.kill();
    let state = temp_dir("state");
    let m2 = Proc::start(
        "master",
        &[
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--state-dir",
            path(&state),
        ],
    );
    assert_eq!(m2.addr, m.addr);
    let after = wait_workers(&m2.addr, 2, "ALIVE", LIMIT);
    // Each worker asked for its old id and, the new master knowing none, got it.
    for w in [&w1, &w2] {
        let id_of = |lines: &[String]| {
            lines
                .iter()
                .find(|l| field(l, "addr") == Some(w.addr.as_str()))
                .and_then(|l| field(l, "id").map(str::to_string))
        };
        assert_eq!(
            id_of(&before),
            id_of(&after),
            "before: {before:?}\nafter: {after:?}"
        );
    }
    // The master marks a worker ALIVE before the worker has read its
    // RegisterAck and logged it: wait for the log line.
    wait_for(LIMIT, "the worker to log its re-registration", || {
        let log = w1.log_text();
        (log.contains("master_lost") && log.contains("reregistered")).then_some(())
    });
}

#[test]
fn the_master_keeps_serving_after_garbage() {
    let m = master(&[]);
    let _w = worker(&m.addr, &["--heartbeat-ms", "100"]);
    wait_workers(&m.addr, 1, "ALIVE", LIMIT);

    // Frame magic followed by junk: an Error frame, then the connection closes.
    let reply = exchange(&m.addr, b"\xa7\x53\x07\x01 this is not a frame");
    let (msg, _) = Message::parse(&reply).expect("an Error frame");
    match msg {
        Message::Error { code, message } => {
            assert_eq!(code, 1);
            assert!(
                message.contains("unsupported protocol version 7"),
                "{message}"
            );
        }
        other => panic!("expected Error, got {other}"),
    }

    // A valid header with a wrong CRC.
    let mut bytes = Message::Ping { nonce: 1 }.to_frame_bytes();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xFF;
    let reply = exchange(&m.addr, &bytes);
    assert!(format!("{:?}", Message::parse(&reply)).contains("CRC mismatch"));

    // A length far over MAX_FRAME_LEN is refused from the header alone.
    let reply = exchange(&m.addr, &[0xa7, 0x53, 1, 0x04, 0xff, 0xff, 0xff, 0xff]);
    assert!(format!("{:?}", Message::parse(&reply)).contains("exceeds MAX_FRAME_LEN"));

    // A truncated frame, then the peer vanishes.
    let bytes = Message::Ping { nonce: 2 }.to_frame_bytes();
    let _ = exchange(&m.addr, &bytes[..bytes.len() - 3]);

    // Binary noise that does not start with the magic is a text session.
    let reply = exchange(&m.addr, b"\x00\xff\xfe garbage\n");
    assert!(String::from_utf8_lossy(&reply).starts_with("ERR unknown command"));

    // A line that never ends is cut off.
    let reply = exchange(&m.addr, &vec![b'x'; 100_000]);
    assert!(String::from_utf8_lossy(&reply).starts_with("ERR line longer than"));

    // Random bytes after the magic, many times.
    let mut rng = minispark::rng::Rng::new(99);
    for _ in 0..50 {
        let mut junk = vec![0xa7];
        junk.extend((0..rng.below(64)).map(|_| rng.next_u64() as u8));
        let _ = exchange(&m.addr, &junk);
    }

    // Still serving, and the worker is still there.
    let lines = wait_workers(&m.addr, 1, "ALIVE", LIMIT);
    assert_eq!(lines.len(), 1);
    let mut t = Text::connect(&m.addr);
    assert!(t
        .command("STATUS")
        .iter()
        .any(|l| l == "workers 1 alive, 0 dead"));
}

#[test]
fn a_worker_data_port_answers_ping_and_refuses_garbage() {
    let m = master(&[]);
    let w = worker(&m.addr, &[]);
    let reply = exchange(&w.addr, b"GET / HTTP/1.0\r\n\r\n");
    assert!(format!("{:?}", Message::parse(&reply)).contains("bad magic byte 0x47"));

    let stream = TcpStream::connect(&w.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = FrameWriter::new(&stream);
    let mut reader = FrameReader::new(&stream);
    for nonce in [1, 2, 3] {
        writer.send(&Message::Ping { nonce }).unwrap();
        assert_eq!(
            reader.read_message().unwrap(),
            Some(Message::Pong { nonce })
        );
    }
    // A valid message the data port does not serve: an error, session stays.
    writer.send(&Message::ListWorkers {}).unwrap();
    assert!(matches!(
        reader.read_message().unwrap(),
        Some(Message::Error { code: 2, .. })
    ));
    writer.send(&Message::Ping { nonce: 4 }).unwrap();
    assert_eq!(
        reader.read_message().unwrap(),
        Some(Message::Pong { nonce: 4 })
    );
    let mut raw = &stream;
    raw.write_all(b"\xa7\x53\x01\x99").unwrap();
    assert!(matches!(
        reader.read_message().unwrap(),
        Some(Message::Error { code: 1, .. })
    ));
}

#[test]
fn help_lists_every_flag_with_its_default() {
    for (bin, flags) in [
        (
            "master",
            &[
                "--port",
                "--bind",
                "--heartbeat-timeout-ms",
                "--quiet",
                "--verbose",
            ][..],
        ),
        (
            "worker",
            &[
                "--master",
                "--port",
                "--slots",
                "--memory",
                "--heartbeat-ms",
                "--reconnect-max-ms",
            ][..],
        ),
        ("client", &["--master", "--timeout-ms"][..]),
    ] {
        let exe = match bin {
            "master" => env!("CARGO_BIN_EXE_master"),
            "worker" => env!("CARGO_BIN_EXE_worker"),
            _ => env!("CARGO_BIN_EXE_client"),
        };
        let out = std::process::Command::new(exe)
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success());
        let help = String::from_utf8(out.stdout).unwrap();
        for flag in flags {
            assert!(help.contains(flag), "{bin} --help lacks {flag}:\n{help}");
        }
        // Each flag that takes a value states its default in its description
        // (which getopts may wrap onto following lines).
        let lines: Vec<&str> = help
            .lines()
            .skip_while(|l| l.trim() != "Options:")
            .collect();
        assert!(!lines.is_empty(), "{bin} --help has no Options: section");
        for (i, line) in lines.iter().enumerate() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some(at) = words.iter().position(|w| w.starts_with("--")) else {
                continue;
            };
            let takes_value = words
                .get(at + 1)
                .is_some_and(|w| w.chars().all(|c| c.is_ascii_uppercase() || c == ':'));
            if !takes_value {
                continue;
            }
            let mut description = line.to_string();
            for next in &lines[i + 1..] {
                if next.trim_start().starts_with('-') {
                    break;
                }
                description.push_str(next);
            }
            assert!(
                description.contains("default"),
                "{bin}: no default in {description:?}"
            );
        }
        let bad = std::process::Command::new(exe)
            .arg("--no-such-flag")
            .output()
            .unwrap();
        assert_eq!(bad.status.code(), Some(2), "{bin} exits 2 on a bad flag");
    }
}

/// `--advertise 0.0.0.0` (or `::`) is no address a peer can connect to: the
/// worker refuses to start, naming the flag. A worker advertising a loopback
/// address beside one on another host gets a warning from the master, as
/// only peers on its own machine could fetch from it.
#[test]
fn addresses_that_cannot_work_are_refused_or_warned_about() {
    for host in ["0.0.0.0", "::", "[::]", ""] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_worker"))
            .args(["--master", "127.0.0.1:1", "--advertise", host])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--advertise {host:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--advertise"), "{err}");
        assert!(out.stdout.is_empty(), "nothing bound, nothing announced");
    }
    let m = master(&[]);
    let _remote = worker(&m.addr, &["--advertise", "10.255.255.1"]);
    wait_workers(&m.addr, 1, "ALIVE", Duration::from_secs(15));
    let _local = worker(&m.addr, &["--advertise", "127.0.0.1"]);
    wait_workers(&m.addr, 2, "ALIVE", Duration::from_secs(15));
    wait_for(Duration::from_secs(10), "the master's warning", || {
        let log = m.log_text();
        (log.contains("loopback_worker_address") && log.contains("--advertise")).then_some(())
    });
}
