//! `frame`: turn a message into bytes for `nc`, and captured bytes back into
//! readable frames. It uses the engine's own codec, so what it prints is
//! exactly what the master and workers understand, and what it reads is
//! exactly what it (and the logs) print: `frame decode | frame encode`
//! gives back the same bytes, lists and records included.
//!
//! ```text
//! frame encode 'Ping nonce=7' | nc -q1 127.0.0.1 7000 | frame decode
//! frame encode --hex 'Register data_addr=127.0.0.1:7001 slots=2 memory_bytes=536870912 prev_id=0'
//! frame encode --hex 'CommitJob job_id=7 outputs=[out/a, "out/b c"]'
//! frame decode --hex < capture.hex
//! frame decode < capture.bin | frame encode > again.bin
//! frame list
//! ```
//!
//! OS idea: a filter, in the Unix sense. Each mode reads stdin or its
//! arguments and writes stdout, and nothing else, so it goes in a pipeline
//! between `nc`, `tee`, `xxd` and `diff`; errors go to stderr, and the exit
//! status says whether every frame was good (0), the input was not (1), or
//! the command line was not (2).

use std::io::{self, BufRead, Read, Write};
use std::process;

use minispark::error::Error;
use minispark::net::FrameReader;
use minispark::protocol::{from_hex, quote_nested, to_hex, Message, MsgType};

const USAGE: &str = "\
Usage:
  frame encode [--hex] ['Name field=value ...' ...]   message(s) as frame bytes on stdout;
                                                     with none, one message per line of stdin
  frame decode [--hex]                               frames on stdin, one line each on stdout
  frame list                                         every message type and its fields
  frame --help | --version

The text of a message is what `frame decode` and the logs print: its name, then
each field as key=value. A string with spaces is quoted (\"two words\"), bytes are
always quoted with \\xNN escapes, a list is [a, b] and a record {key=value key=value}.

--hex writes (encode) or reads (decode) hex text instead of raw bytes; hex input
may contain whitespace and '#' comments. Exit status: 0 done, 1 bad input, 2 usage.";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        process::exit(0);
    }
    if args.iter().any(|a| a == "-V" || a == "--version") {
        println!("frame {}", env!("CARGO_PKG_VERSION"));
        process::exit(0);
    }
    let hex = args.iter().any(|a| a == "--hex");
    let rest: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--hex")
        .collect();
    let code = match rest.as_slice() {
        ["encode", texts @ ..] if !texts.is_empty() => encode(texts.iter().copied(), hex),
        ["encode"] => encode_stdin(hex),
        ["decode"] => decode(hex),
        ["list"] => {
            for t in MsgType::ALL {
                println!(
                    "0x{:02X} {} {}",
                    *t as u8,
                    t.name(),
                    t.field_names().join(" ")
                );
            }
            0
        }
        _ => {
            eprintln!("{USAGE}");
            2
        }
    };
    process::exit(code);
}

/// Encodes each message text; stops at the first that does not read.
fn encode<'a>(texts: impl Iterator<Item = &'a str>, hex: bool) -> i32 {
    let mut out = io::stdout().lock();
    for text in texts {
        // `encode`, not `to_frame_bytes`: a message typed in can be over
        // the frame limit, and that is an error to report, not a panic.
        let bytes = match quote_nested(text)
            .and_then(|t| Message::from_text(&t))
            .and_then(|msg| msg.encode())
        {
            Ok(bytes) => bytes,
            Err(e) => {
                eprintln!("frame: {e}");
                return 1;
            }
        };
        let written = if hex {
            writeln!(out, "{}", to_hex(&bytes))
        } else {
            out.write_all(&bytes)
        };
        if written.is_err() {
            return 1;
        }
    }
    match out.flush() {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

/// Encodes one message per line of stdin, as `frame decode` writes them;
/// blank lines and `#` comments are skipped.
fn encode_stdin(hex: bool) -> i32 {
    let mut lines = Vec::new();
    for line in io::stdin().lock().lines() {
        match line {
            Ok(line) => lines.push(line),
            Err(e) => {
                eprintln!("frame: reading stdin: {e}");
                return 1;
            }
        }
    }
    let texts = lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    encode(texts, hex)
}

fn decode(hex: bool) -> i32 {
    let mut input = Vec::new();
    if let Err(e) = io::stdin().read_to_end(&mut input) {
        eprintln!("frame: reading stdin: {e}");
        return 1;
    }
    if hex {
        input = match from_hex(&String::from_utf8_lossy(&input)) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("frame: {e}");
                return 1;
            }
        };
    }
    let mut reader = FrameReader::new(&input[..]);
    let mut out = io::stdout().lock();
    loop {
        match reader.read_message() {
            Ok(Some(msg)) => {
                if writeln!(out, "{msg}").is_err() {
                    return 1;
                }
            }
            Ok(None) => return if out.flush().is_ok() { 0 } else { 1 },
            Err(Error::Frame(invalid)) => {
                eprintln!("frame: invalid frame: {invalid}");
                return 1;
            }
            Err(e) => {
                eprintln!("frame: {e}");
                return 1;
            }
        }
    }
}
