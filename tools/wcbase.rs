//! `wcbase FILE OUT`: a hand-written single-process word count with 2
//! threads, the baseline `make bench` measures Mini-Spark's word count
//! against in the same run. Words are maximal runs of bytes that are not
//! whitespace (C's `isspace`, as `split($0)`); the output is `word<TAB>count` lines, unordered.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::process;
use std::thread;

use minispark::storage::FastBuildHasher;

fn count(text: &[u8]) -> HashMap<&[u8], u64, FastBuildHasher> {
    let mut counts: HashMap<&[u8], u64, FastBuildHasher> = HashMap::default();
    for word in text
        .split(|b| b.is_ascii_whitespace() || *b == 0x0b)
        .filter(|w| !w.is_empty())
    {
        *counts.entry(word).or_default() += 1;
    }
    counts
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--version") => {
            println!("wcbase {}", env!("CARGO_PKG_VERSION"));
            return;
        }
        Some("--help" | "-h") => {
            println!("usage: wcbase FILE OUT   (word count of FILE on 2 threads, written to OUT)");
            return;
        }
        _ => {}
    }
    let [input, output] = &args[..] else {
        eprintln!("error: usage: wcbase FILE OUT");
        process::exit(2);
    };
    let text = std::fs::read(input).unwrap_or_else(|e| {
        eprintln!("error: wcbase: {input}: {e}");
        process::exit(1);
    });
    // Cut at the first newline after the middle, so no word is split.
    let mid = text[text.len() / 2..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |i| text.len() / 2 + i);
    let (a, b) = text.split_at(mid);
    let (mut total, other) = thread::scope(|s| {
        let other = s.spawn(|| count(b));
        (count(a), other.join().unwrap_or_default())
    });
    for (word, n) in other {
        *total.entry(word).or_default() += n;
    }
    let file = std::fs::File::create(output).unwrap_or_else(|e| {
        eprintln!("error: wcbase: {output}: {e}");
        process::exit(1);
    });
    let mut out = BufWriter::new(file);
    for (word, n) in total {
        let _ = out.write_all(word);
        let _ = writeln!(out, "\t{n}");
    }
    if out.flush().is_err() {
        process::exit(1);
    }
}
