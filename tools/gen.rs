//! `gen`: writes the deterministic test inputs that jobs and benchmarks read.
//!
//! ```text
//! gen words --lines 1000000 --out data/words.txt      # ~65 MB of text, ~47,000 distinct words
//! gen users --count 10000 --out data/users.csv        # user_id,name,country
//! gen orders --count 1000000 --users 10000 --out data/orders.csv   # order_id,user_id,amount
//! gen sorted-input --lines 1000000 --out data/sort.txt # key<TAB>rest, random keys
//! gen records --count 1000000 --bytes 100 --out data/records.txt  # key<TAB>payload, 100 bytes each
//! gen links --nodes 100000 --edges 1000000 --out data/links.txt  # src dst, skewed in-degrees
//! ```
//!
//! `links` is a web-like graph for PageRank: node ids 0 to N-1, sources
//! uniform (each node ~M/N out-links), destinations drawn from a power law
//! so a few nodes are linked from everywhere and many from nowhere;
//! repeated edges and self-loops occur as in crawled data. It keeps no
//! edges in memory: each line is two draws.
//!
//! OS idea: replacing a file atomically. Output goes to `PATH.tmp`, is
//! flushed and `fsync`ed, then `rename(2)`d over `PATH`: a reader sees the
//! old file or the whole new one, never half of it, and a crash leaves at
//! worst a stray `.tmp`. Writes go through a 1 MiB `BufWriter`, so a
//! 65 MB file takes ~65 `write(2)` calls rather than a million.
//!
//! The same `--seed` always gives the same bytes.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use getopts::{Matches, Options};
use minispark::cli;
use minispark::rng::Rng;

const BRIEF: &str = "\
Usage:
  gen words        --lines N --out PATH [--seed S]   text, ~65 bytes/line, Zipf-skewed words
  gen users        --count N --out PATH [--seed S]   user_id,name,country (ids 1..N)
  gen orders       --count M --users N --out PATH [--seed S]
                                                     order_id,user_id,amount (~2% unknown users)
  gen sorted-input --lines N --out PATH [--seed S]   key<TAB>rest with random keys
  gen records      --count N --bytes B --out PATH [--seed S]
                                                     key<TAB>payload lines of exactly B bytes
  gen links        --nodes N --edges M --out PATH [--seed S]
                                                     src dst, node ids 0..N-1, power-law in-degrees";

const DEFAULT_SEED: u64 = 42;
const DEFAULT_LINES: u64 = 1_000_000;
const DEFAULT_USERS: u64 = 10_000;
const DEFAULT_ORDERS: u64 = 1_000_000;
const DEFAULT_NODES: u64 = 100_000;
const DEFAULT_EDGES: u64 = 1_000_000;
const WRITE_BUF_BYTES: usize = 1 << 20;

/// Words in the vocabulary. With the Zipf exponent below even the rarest
/// is drawn ~20 times in 1M lines (~10M words), so such a file has about
/// this many distinct words; smaller files have fewer (100,000 lines: ~45,000).
const VOCABULARY_WORDS: usize = 47_000;
/// Word `k` (0-based rank) is drawn with probability proportional to
/// `1 / (k + 1)^ZIPF_EXPONENT`: a few words are everywhere, most are rare.
/// 1.0 is Zipf's law for English: the top word is ~9% of all words, the top
/// 100 about half.
const ZIPF_EXPONENT: f64 = 1.0;
/// A `words` line gets words until it is at least this long (bytes, drawn
/// uniformly per line); the average line ends up ~65 bytes.
const LINE_TARGET_BYTES: (u64, u64) = (17, 105);
/// Words with fixed ranks so that `filter(contains "error")` and friends
/// match a few percent of lines: (word, rank).
const PLANTED_WORDS: [(&str, usize); 3] = [("info", 12), ("warning", 30), ("error", 45)];

/// Share of orders whose user does not exist, in parts per 1000.
const ORPHAN_ORDERS_PER_MILLE: u64 = 20;
const MAX_AMOUNT: u64 = 1000;
const SORT_KEY_BYTES: usize = 10;
/// Random letters after the row number in a `sorted-input` line.
const SORT_FILLER_BYTES: (u64, u64) = (30, 70);
/// A `records` line, newline included, as in the sort benchmarks' 100-byte
/// records (a 10-byte key and 90 bytes of payload).
const DEFAULT_RECORD_BYTES: u64 = 100;
/// The shortest `records` line: the key, a tab, the longest row number
/// (20 digits), a space and the newline.
const MIN_RECORD_BYTES: u64 = SORT_KEY_BYTES as u64 + 23;

/// A `links` destination of popularity rank `k` (0-based) is drawn with
/// probability about proportional to `1 / (k + 1)^LINK_ZIPF_EXPONENT`.
/// 0.8 gives in-degrees with a power-law tail of exponent 1 + 1 / 0.8 =
/// 2.25, near the ~2.1 measured on web crawls. With 100,000 nodes and
/// 1,000,000 edges the top node gets 1.6% of all links, 48 nodes get over
/// 1,000, 3% get none; 0.4% of the edges repeat one. Must not be 1 (see
/// `PowerLaw`).
const LINK_ZIPF_EXPONENT: f64 = 0.8;

const COUNTRIES: [&str; 30] = [
    "United States",
    "India",
    "Brazil",
    "Germany",
    "United Kingdom",
    "France",
    "Japan",
    "Indonesia",
    "Mexico",
    "Nigeria",
    "Italy",
    "Spain",
    "Canada",
    "Turkey",
    "Poland",
    "Egypt",
    "Vietnam",
    "Argentina",
    "South Korea",
    "Kenya",
    "Netherlands",
    "Australia",
    "Sweden",
    "Chile",
    "Portugal",
    "Norway",
    "Ghana",
    "Greece",
    "Peru",
    "Iceland",
];

const ONSETS: [&str; 30] = [
    "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "br",
    "ch", "cl", "dr", "fl", "gr", "pl", "qu", "sh", "st", "th", "tr",
];
const VOWELS: [&str; 8] = ["a", "e", "i", "o", "u", "ai", "ea", "ou"];
const CODAS: [&str; 8] = ["", "", "n", "r", "s", "l", "t", "m"];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts = Options::new();
    opts.optopt(
        "",
        "lines",
        &format!("lines to write: words, sorted-input (default {DEFAULT_LINES})"),
        "N",
    );
    opts.optopt(
        "",
        "count",
        &format!(
            "rows to write: users (default {DEFAULT_USERS}), orders (default {DEFAULT_ORDERS}), \
             records (default {DEFAULT_LINES})"
        ),
        "N",
    );
    opts.optopt(
        "",
        "users",
        &format!("orders: users that exist, ids 1..N (default {DEFAULT_USERS})"),
        "N",
    );
    opts.optopt(
        "",
        "nodes",
        &format!("links: node ids 0..N-1 (default {DEFAULT_NODES})"),
        "N",
    );
    opts.optopt(
        "",
        "edges",
        &format!("links: lines to write (default {DEFAULT_EDGES})"),
        "M",
    );
    opts.optopt(
        "",
        "bytes",
        &format!(
            "records: bytes per line, newline included, at least {MIN_RECORD_BYTES} \
             (default {DEFAULT_RECORD_BYTES})"
        ),
        "B",
    );
    opts.optopt(
        "",
        "out",
        "file to write (required); parent directories are created",
        "PATH",
    );
    opts.optopt(
        "",
        "seed",
        &format!("random seed; same seed, same bytes (default {DEFAULT_SEED})"),
        "S",
    );
    opts.optflag("h", "help", "print this help and exit");
    opts.optflag("", "version", "print the name and version and exit");
    opts.optflag("q", "quiet", "print nothing on success");
    let m = match opts.parse(&args) {
        Ok(m) => m,
        Err(e) => cli::usage_error(&format!("gen: {e}\n\n{}", opts.usage(BRIEF))),
    };
    if m.opt_present("help") {
        print!("{}", opts.usage(BRIEF));
        return;
    }
    if m.opt_present("version") {
        cli::print_version("gen");
    }

    let kind = match m.free.as_slice() {
        [kind] => kind.as_str(),
        [] => cli::usage_error(&format!(
            "gen: which data? words, users, orders, sorted-input, records or links\n\n{}",
            opts.usage(BRIEF)
        )),
        more => cli::usage_error(&format!("gen: one kind of data at a time, got {more:?}")),
    };
    let allowed: &[&str] = match kind {
        "words" | "sorted-input" => &["lines"],
        "users" => &["count"],
        "orders" => &["count", "users"],
        "links" => &["nodes", "edges"],
        "records" => &["count", "bytes"],
        other => cli::usage_error(&format!("gen: unknown kind {other:?}; try --help")),
    };
    for flag in ["lines", "count", "users", "nodes", "edges", "bytes"] {
        if m.opt_present(flag) && !allowed.contains(&flag) {
            cli::usage_error(&format!("gen {kind}: --{flag} does not apply"));
        }
    }
    let Some(out) = m.opt_str("out") else {
        cli::usage_error(&format!("gen {kind}: --out PATH is required"))
    };
    let seed: u64 = cli::value(&m, "seed", DEFAULT_SEED);
    if kind == "links" && count(&m, "nodes", DEFAULT_NODES) == 0 {
        cli::usage_error("gen links: --nodes must be at least 1");
    }
    let record_bytes = count(&m, "bytes", DEFAULT_RECORD_BYTES);
    if kind == "records" && record_bytes < MIN_RECORD_BYTES {
        cli::usage_error(&format!(
            "gen records: --bytes must be at least {MIN_RECORD_BYTES}, got {record_bytes}"
        ));
    }
    let out = PathBuf::from(out);

    let started = Instant::now();
    let written = write_atomically(&out, |w| match kind {
        "words" => words(w, count(&m, "lines", DEFAULT_LINES), seed),
        "users" => users(w, count(&m, "count", DEFAULT_USERS), seed),
        "orders" => orders(
            w,
            count(&m, "count", DEFAULT_ORDERS),
            count(&m, "users", DEFAULT_USERS),
            seed,
        ),
        "links" => links(
            w,
            count(&m, "nodes", DEFAULT_NODES),
            count(&m, "edges", DEFAULT_EDGES),
            seed,
        ),
        "records" => records(w, count(&m, "count", DEFAULT_LINES), record_bytes, seed),
        _ => sorted_input(w, count(&m, "lines", DEFAULT_LINES), seed),
    })
    .unwrap_or_else(|e| cli::fatal(&e));
    if !m.opt_present("quiet") {
        let secs = started.elapsed().as_secs_f64();
        println!(
            "gen {kind}: wrote {} lines, {} bytes to {} in {secs:.2} s ({:.0} MB/s)",
            written.lines,
            written.bytes,
            out.display(),
            written.bytes as f64 / 1e6 / secs.max(1e-9)
        );
    }
}

fn count(m: &Matches, name: &str, default: u64) -> u64 {
    cli::value(m, name, default)
}

/// What a generator wrote.
struct Written {
    lines: u64,
    bytes: u64,
}

/// Writes `PATH.tmp` with `fill`, fsyncs it and renames it to `PATH`.
/// Removes the temporary file on failure.
fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut Output) -> io::Result<()>,
) -> Result<Written, String> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
    }
    let mut tmp = OsString::from(path.as_os_str());
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let file = File::create(&tmp).map_err(|e| format!("create {}: {e}", tmp.display()))?;
    let mut out = Output {
        w: BufWriter::with_capacity(WRITE_BUF_BYTES, file),
        line: Vec::with_capacity(256),
        written: Written { lines: 0, bytes: 0 },
    };
    let result = fill(&mut out)
        .and_then(|()| out.w.flush())
        .and_then(|()| out.w.get_ref().sync_all())
        .map_err(|e| format!("write {}: {e}", tmp.display()))
        .and_then(|()| {
            fs::rename(&tmp, path)
                .map_err(|e| format!("rename {} to {}: {e}", tmp.display(), path.display()))
        });
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(out.written)
}

/// The output file plus a reused line buffer: each generator builds one
/// line in `line`, then `end_line` copies it into the `BufWriter`.
struct Output {
    w: BufWriter<File>,
    line: Vec<u8>,
    written: Written,
}

impl Output {
    fn end_line(&mut self) -> io::Result<()> {
        self.line.push(b'\n');
        self.w.write_all(&self.line)?;
        self.written.lines += 1;
        self.written.bytes += self.line.len() as u64;
        self.line.clear();
        Ok(())
    }

    fn push(&mut self, bytes: &[u8]) {
        self.line.extend_from_slice(bytes);
    }

    /// Appends `n` in decimal, without the formatting machinery.
    fn push_u64(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.line.extend_from_slice(&digits[i..]);
    }
}

/// `gen words`: lines of Zipf-distributed words.
fn words(out: &mut Output, lines: u64, seed: u64) -> io::Result<()> {
    let vocabulary = vocabulary(VOCABULARY_WORDS, seed);
    let weights: Vec<f64> = (0..vocabulary.len())
        .map(|k| 1.0 / ((k + 1) as f64).powf(ZIPF_EXPONENT))
        .collect();
    let pick = Alias::new(&weights);
    let mut rng = Rng::new(seed);
    let (low, high) = LINE_TARGET_BYTES;
    for _ in 0..lines {
        let target = (low + rng.below(high - low + 1)) as usize;
        loop {
            out.push(&vocabulary[pick.sample(&mut rng)]);
            if out.line.len() >= target {
                break;
            }
            out.push(b" ");
        }
        out.end_line()?;
    }
    Ok(())
}

/// `VOCABULARY_WORDS` distinct pronounceable words; rank order matters
/// (rank 0 is the most frequent), so frequent words are short, as in real
/// text: 1 syllable for the top ranks, then 2, then 3.
fn vocabulary(size: usize, seed: u64) -> Vec<Vec<u8>> {
    // A stream of its own, so the vocabulary does not depend on line counts.
    let mut rng = Rng::new(seed ^ 0x766f_6361_6275_6c61);
    let mut seen: HashSet<Vec<u8>> = PLANTED_WORDS
        .iter()
        .map(|(w, _)| w.as_bytes().to_vec())
        .collect();
    let mut words = Vec::with_capacity(size);
    while words.len() < size {
        if let Some((word, _)) = PLANTED_WORDS.iter().find(|(_, rank)| *rank == words.len()) {
            words.push(word.as_bytes().to_vec());
            continue;
        }
        let syllables = match words.len() {
            0..=199 => 1,
            200..=9_999 => 2,
            _ => 3,
        };
        let word = pronounceable(&mut rng, syllables);
        if seen.insert(word.clone()) {
            words.push(word);
        }
    }
    words
}

fn pronounceable(rng: &mut Rng, syllables: usize) -> Vec<u8> {
    let mut word = Vec::with_capacity(12);
    for _ in 0..syllables {
        word.extend_from_slice(ONSETS[rng.below(ONSETS.len() as u64) as usize].as_bytes());
        word.extend_from_slice(VOWELS[rng.below(VOWELS.len() as u64) as usize].as_bytes());
    }
    word.extend_from_slice(CODAS[rng.below(CODAS.len() as u64) as usize].as_bytes());
    word
}

/// `gen users`: `user_id,name,country`, ids 1..=count; countries skewed.
fn users(out: &mut Output, count: u64, seed: u64) -> io::Result<()> {
    let mut rng = Rng::new(seed);
    let weights: Vec<f64> = (0..COUNTRIES.len())
        .map(|i| 1.0 / ((i + 1) as f64).sqrt())
        .collect();
    let country = Alias::new(&weights);
    for id in 1..=count {
        out.push_u64(id);
        out.push(b",");
        let syllables = 2 + rng.below(2) as usize;
        let mut name = pronounceable(&mut rng, syllables);
        name[0] = name[0].to_ascii_uppercase();
        out.push(&name);
        out.push(b",");
        out.push(COUNTRIES[country.sample(&mut rng)].as_bytes());
        out.end_line()?;
    }
    Ok(())
}

/// `gen orders`: `order_id,user_id,amount`; about 2% of user ids are above
/// `users`, so they match no user (for outer joins).
fn orders(out: &mut Output, count: u64, users: u64, seed: u64) -> io::Result<()> {
    let mut rng = Rng::new(seed);
    let users = users.max(1);
    for id in 1..=count {
        let user = if rng.below(1000) < ORPHAN_ORDERS_PER_MILLE {
            users + 1 + rng.below(users)
        } else {
            1 + rng.below(users)
        };
        out.push_u64(id);
        out.push(b",");
        out.push_u64(user);
        out.push(b",");
        out.push_u64(1 + rng.below(MAX_AMOUNT));
        out.end_line()?;
    }
    Ok(())
}

/// `gen sorted-input`: `key<TAB>row filler`, a random 10-letter key, the
/// row number (so a sort's output can be checked for lost rows), and
/// random letters.
fn sorted_input(out: &mut Output, lines: u64, seed: u64) -> io::Result<()> {
    let mut rng = Rng::new(seed);
    let (low, high) = SORT_FILLER_BYTES;
    for row in 0..lines {
        push_letters(out, &mut rng, SORT_KEY_BYTES);
        out.push(b"\t");
        out.push_u64(row);
        out.push(b" ");
        let filler = (low + rng.below(high - low + 1)) as usize;
        push_letters(out, &mut rng, filler);
        out.end_line()?;
    }
    Ok(())
}

/// `gen records`: `key<TAB>payload` lines of exactly `bytes` bytes each
/// (newline included): a random 10-letter key, then the row number (so a
/// sort's output can be checked for lost rows), a space and random letters
/// up to the length. `bytes` is at least `MIN_RECORD_BYTES`.
fn records(out: &mut Output, count: u64, bytes: u64, seed: u64) -> io::Result<()> {
    let mut rng = Rng::new(seed);
    for row in 0..count {
        push_letters(out, &mut rng, SORT_KEY_BYTES);
        out.push(b"\t");
        out.push_u64(row);
        out.push(b" ");
        let filler = bytes as usize - 1 - out.line.len();
        push_letters(out, &mut rng, filler);
        out.end_line()?;
    }
    Ok(())
}

/// `gen links`: `src dst` lines, `edges` of them, over node ids `0..nodes`.
/// Sources are uniform; destinations follow `PowerLaw`, and their
/// popularity ranks are spread over the ids by `Scramble`, so node 0 is no
/// more popular than node 54,321.
fn links(out: &mut Output, nodes: u64, edges: u64, seed: u64) -> io::Result<()> {
    let mut rng = Rng::new(seed);
    let popularity = PowerLaw::new(nodes, LINK_ZIPF_EXPONENT);
    let ids = Scramble::new(nodes, seed);
    for _ in 0..edges {
        out.push_u64(rng.below(nodes));
        out.push(b" ");
        out.push_u64(ids.id(popularity.sample(&mut rng)));
        out.end_line()?;
    }
    Ok(())
}

/// Ranks `0..n` drawn with density `x^-s` over `[1, n + 1)`, by inverting
/// its distribution function: constant memory and one `powf` a draw, where
/// an `Alias` table would need a slot per node. Rank `k` then has
/// probability about `(k + 1.5)^-s / H`: Zipf's law up to the first few
/// ranks.
struct PowerLaw {
    n: u64,
    /// `1 - s`, the exponent of the integrated density.
    rise: f64,
    /// `(n + 1)^(1 - s) - 1`: the integral's span, so `u` in `[0, 1)` maps
    /// onto the whole range.
    span: f64,
}

impl PowerLaw {
    fn new(n: u64, s: f64) -> PowerLaw {
        let rise = 1.0 - s;
        PowerLaw {
            n,
            rise,
            span: ((n + 1) as f64).powf(rise) - 1.0,
        }
    }

    fn sample(&self, rng: &mut Rng) -> u64 {
        let x = (1.0 + rng.unit() * self.span).powf(1.0 / self.rise);
        // Rounding can land on n + 1 itself.
        (x as u64).saturating_sub(1).min(self.n.saturating_sub(1))
    }
}

/// A bijection of `0..n`: `rank * stride + offset (mod n)` with `stride`
/// coprime to `n`, so every rank gets its own id.
struct Scramble {
    n: u64,
    stride: u64,
    offset: u64,
}

impl Scramble {
    fn new(n: u64, seed: u64) -> Scramble {
        let n = n.max(1);
        // Near n / golden ratio: consecutive ranks land far apart.
        let mut stride = ((n as f64 * 0.618_033_988_7) as u64).max(1);
        while gcd(stride, n) != 1 {
            stride += 1;
        }
        let offset = Rng::new(seed ^ 0x6c69_6e6b_7363_7261).below(n);
        Scramble { n, stride, offset }
    }

    fn id(&self, rank: u64) -> u64 {
        ((rank as u128 * self.stride as u128 + self.offset as u128) % self.n as u128) as u64
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Appends `n` random lowercase letters, twelve per 64-bit draw.
fn push_letters(out: &mut Output, rng: &mut Rng, n: usize) {
    let mut left = n;
    while left > 0 {
        let mut bits = rng.next_u64();
        for _ in 0..left.min(12) {
            // 5 bits give 0..31; folding onto 26 letters skews a few slightly.
            out.line.push(b'a' + ((bits & 31) % 26) as u8);
            bits >>= 5;
        }
        left -= left.min(12);
    }
}

/// Walker's alias method: draws index `i` with probability proportional to
/// `weights[i]` in constant time (one random number, one comparison).
struct Alias {
    /// Chance, out of 2^32, of keeping column `i` rather than taking `alias[i]`.
    keep: Vec<u32>,
    alias: Vec<u32>,
}

impl Alias {
    /// Vose's construction: scale weights so they average 1, then pair each
    /// column below 1 with one above 1 that tops it up.
    fn new(weights: &[f64]) -> Alias {
        let n = weights.len();
        let total: f64 = weights.iter().sum();
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut keep = vec![u32::MAX; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            keep[s] = (scaled[s] * 4_294_967_296.0).min(u32::MAX as f64) as u32;
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Leftovers are 1 up to rounding: they keep themselves.
        Alias { keep, alias }
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let x = rng.next_u64();
        let column = (((x >> 32) * self.keep.len() as u64) >> 32) as usize;
        if (x as u32) < self.keep[column] {
            column
        } else {
            self.alias[column] as usize
        }
    }
}
