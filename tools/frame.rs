//! `frame`: turn a message into bytes for `nc`, and captured bytes back into
//! readable frames. It uses the engine's own codec, so what it prints is
//! exactly what the master and workers understand.
//!
//! ```text
//! frame encode 'Ping nonce=7' | nc -q1 127.0.0.1 7000 | frame decode
//! frame encode --hex 'Register data_addr=127.0.0.1:7001 slots=2 memory_bytes=536870912 prev_id=0'
//! frame decode --hex < capture.hex
//! frame list
//! ```

use std::io::{self, Read, Write};
use std::process;

use minispark::error::Error;
use minispark::net::FrameReader;
use minispark::protocol::{from_hex, to_hex, Message, MsgType};

const USAGE: &str = "\
Usage:
  frame encode [--hex] 'Name field=value ...' ...   message(s) as frame bytes on stdout
  frame decode [--hex]                             frames on stdin, one line each on stdout
  frame list                                       every message type and its fields

--hex writes (encode) or reads (decode) hex text instead of raw bytes; hex input
may contain whitespace and '#' comments.";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let hex = args.iter().any(|a| a == "--hex");
    let rest: Vec<&String> = args.iter().filter(|a| *a != "--hex").collect();
    let code = match rest.first().map(|s| s.as_str()) {
        Some("encode") if rest.len() > 1 => encode(&rest[1..], hex),
        Some("decode") if rest.len() == 1 => decode(hex),
        Some("list") => {
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
        Some("-h" | "--help") => {
            println!("{USAGE}");
            0
        }
        _ => {
            eprintln!("{USAGE}");
            2
        }
    };
    process::exit(code);
}

fn encode(texts: &[&String], hex: bool) -> i32 {
    let mut out = io::stdout().lock();
    for text in texts {
        let msg = match Message::from_text(text) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("frame: {e}");
                return 2;
            }
        };
        let bytes = msg.to_frame_bytes();
        let written = if hex {
            writeln!(out, "{}", to_hex(&bytes))
        } else {
            out.write_all(&bytes)
        };
        if written.is_err() {
            return 1;
        }
    }
    let _ = out.flush();
    0
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
                return 2;
            }
        };
    }
    let mut reader = FrameReader::new(&input[..]);
    loop {
        match reader.read_message() {
            Ok(Some(msg)) => println!("{msg}"),
            Ok(None) => return 0,
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
