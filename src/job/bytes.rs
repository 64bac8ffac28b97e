//! Byte-string helpers for the per-record hot path: substring search and
//! field splitting.
//!
//! Everything but `replace` returns positions or ranges instead of new
//! strings, so the caller can slice the record it already has. Nothing here
//! allocates except `split_on`, which returns a list of ranges, and
//! `replace`, which returns the new string; nothing panics on any input.

use std::ops::Range;

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Position of the first `byte` in `hay`. Tests eight bytes per step: a word
/// has a zero byte after `xor` with the repeated pattern exactly where the
/// pattern matched, and `(x - 0x01..) & !x & 0x80..` is non-zero iff `x` has
/// a zero byte. Its lowest set bit is the high bit of the first zero byte
/// (a borrow only runs upward, from a zero byte), so the little-endian word
/// gives the position without looking at its bytes one by one.
#[inline(always)]
pub(crate) fn find_byte(byte: u8, hay: &[u8]) -> Option<usize> {
    let pattern = ONES.wrapping_mul(u64::from(byte));
    let mut chunks = hay.chunks_exact(8);
    let mut offset = 0;
    for chunk in chunks.by_ref() {
        let word = u64::from_le_bytes([
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ]);
        let x = word ^ pattern;
        let zeros = x.wrapping_sub(ONES) & !x & HIGHS;
        if zeros != 0 {
            return Some(offset + (zeros.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == byte)
        .map(|p| offset + p)
}

/// Position of the first occurrence of `needle` in `hay` (0 for an empty
/// needle): scan for the needle's first byte, then compare the rest.
#[inline(always)]
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let Some((&first, rest)) = needle.split_first() else {
        return Some(0);
    };
    if rest.is_empty() {
        // One byte (a CSV comma): nothing to compare after the scan.
        return find_byte(first, hay);
    }
    let last_start = hay.len().checked_sub(needle.len())?;
    let mut from = 0;
    while from <= last_start {
        let at = from + find_byte(first, &hay[from..=last_start])?;
        if hay[at + 1..at + needle.len()] == *rest {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Is `b` whitespace? The six bytes C's `isspace` accepts: space, `\t`,
/// `\n`, `\v`, `\f`, `\r`, as Python's `split()`, Java's `\s` and `wc -w`
/// count them. (Rust's `is_ascii_whitespace` leaves out `\v`.)
#[inline]
pub(crate) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The range of `s` without leading and trailing whitespace (`is_space`).
pub(crate) fn trim(s: &[u8]) -> Range<usize> {
    let start = s.iter().position(|&b| !is_space(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| !is_space(b))
        .map_or(start, |p| p + 1);
    start..end
}

/// How `$0` splits into `$1`, `$2`, ... when it is not on whitespace (see
/// `job::sep_of`): on a `read_csv`'s separator, or on the tab of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sep<'a> {
    /// Fields are separated by exactly one occurrence of these bytes,
    /// searched for left to right (never empty: the job check refuses it).
    pub bytes: &'a [u8],
    /// Are fields that start with `"` quoted, as RFC 4180 has it
    /// (`job/csv.rs`)? `read_csv`'s default.
    pub quotes: bool,
}

/// The fields of a pair's `$0`, `key<TAB>value`.
pub const PAIR_SEP: Sep<'static> = Sep {
    bytes: b"\t",
    quotes: false,
};

/// The range of field `n` (1-based) of `line`: fields are separated by one
/// occurrence of `sep` each, or, when `sep` is `None`, by runs of whitespace
/// with leading and trailing whitespace ignored (as in awk). A field past the
/// end, and field 0, are the empty range at the end of the line.
///
/// A separator of one byte and one of several take the same path: `find`
/// scans for its first byte eight bytes at a time, and compares the rest
/// (nothing, for one byte) only where that byte is.
pub(crate) fn field(line: &[u8], n: usize, sep: Option<&[u8]>) -> Range<usize> {
    let none = line.len()..line.len();
    if n == 0 {
        return none;
    }
    match sep {
        // An empty separator would never advance; the job check refuses one.
        Some(sep) if !sep.is_empty() => {
            let mut start = 0;
            for _ in 1..n {
                match find(&line[start..], sep) {
                    Some(p) => start += p + sep.len(),
                    None => return none,
                }
            }
            let end = find(&line[start..], sep).map_or(line.len(), |p| start + p);
            start..end
        }
        Some(_) => none,
        None => whitespace_fields(line).nth(n - 1).unwrap_or(none),
    }
}

/// Ranges of the whitespace-separated fields of `s`.
pub(crate) fn whitespace_fields(s: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        while pos < s.len() && is_space(s[pos]) {
            pos += 1;
        }
        if pos >= s.len() {
            return None;
        }
        let start = pos;
        pos = next_space(s, pos);
        Some(start..pos)
    })
}

/// Bytes below `0x21` repeated: the six whitespace bytes are all below it.
const BELOW_SPACE: u64 = 0x2121_2121_2121_2121;

/// Position of the first whitespace byte of `s` at or after `from`, or
/// `s.len()`. Eight bytes per step, as `find_byte`: `(x - 0x21..) & !x &
/// 0x80..` flags the bytes below `0x21`, and its lowest set bit is the
/// first of them (a borrow only runs upward). That byte is whitespace, or
/// a rarer control byte that is part of the word, and the scan goes on
/// after it. A word ends where the arithmetic says, not at a branch on
/// each byte that the CPU mispredicts once a word (issue 16: splitting was
/// an eighth of word count's instructions).
#[inline(always)]
fn next_space(s: &[u8], mut from: usize) -> usize {
    while let Some(chunk) = s.get(from..from + 8) {
        let word = u64::from_le_bytes([
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ]);
        let low = word.wrapping_sub(BELOW_SPACE) & !word & HIGHS;
        if low == 0 {
            from += 8;
            continue;
        }
        let at = from + (low.trailing_zeros() / 8) as usize;
        if is_space(s[at]) {
            return at;
        }
        from = at + 1;
    }
    while from < s.len() && !is_space(s[from]) {
        from += 1;
    }
    from
}

/// Ranges of the parts of `s` between occurrences of `sep` (which is not
/// empty): `"a,,b"` split on `","` is `a`, ``, `b`.
pub(crate) fn split_on(s: &[u8], sep: &[u8]) -> Vec<Range<usize>> {
    let mut parts = Vec::new();
    let mut start = 0;
    if sep.is_empty() {
        parts.push(0..s.len());
        return parts;
    }
    while let Some(p) = find(&s[start..], sep) {
        parts.push(start..start + p);
        start += p + sep.len();
    }
    parts.push(start..s.len());
    parts
}

/// How many non-overlapping times `sub` (not empty) occurs in `s`, from
/// the left: the number of replacements `replace` makes.
pub(crate) fn count(s: &[u8], sub: &[u8]) -> usize {
    if sub.is_empty() {
        return 0;
    }
    let mut n = 0;
    let mut start = 0;
    while let Some(p) = find(&s[start..], sub) {
        n += 1;
        start += p + sub.len();
    }
    n
}

/// `s` with every non-overlapping `from` replaced by `to`, left to right.
/// An empty `from` changes nothing.
pub(crate) fn replace(s: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from.is_empty() {
        return s.to_vec();
    }
    let mut out = Vec::with_capacity(s.len());
    let mut start = 0;
    while let Some(p) = find(&s[start..], from) {
        out.extend_from_slice(&s[start..start + p]);
        out.extend_from_slice(to);
        start += p + from.len();
    }
    out.extend_from_slice(&s[start..]);
    out
}

/// The last part of a `/`-separated path, ignoring trailing `/`s:
/// `a/b.txt` → `b.txt`, `a/b/` → `b`, `/` → `/`.
pub(crate) fn basename(path: &[u8]) -> Range<usize> {
    let end = path.iter().rposition(|&b| b != b'/').map_or(0, |p| p + 1);
    if end == 0 {
        // Empty, or only slashes.
        return 0..path.len().min(1);
    }
    let start = path[..end]
        .iter()
        .rposition(|&b| b == b'/')
        .map_or(0, |p| p + 1);
    start..end
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn find_matches_a_naive_search() {
        let mut rng = Rng::new(7);
        for _ in 0..20_000 {
            let hay: Vec<u8> = (0..rng.below(40))
                .map(|_| b"abc\xff"[rng.below(4) as usize])
                .collect();
            let needle: Vec<u8> = (0..rng.below(4))
                .map(|_| b"abc\xff"[rng.below(4) as usize])
                .collect();
            let naive = if needle.is_empty() {
                Some(0)
            } else {
                hay.windows(needle.len())
                    .position(|w| w == needle.as_slice())
            };
            assert_eq!(find(&hay, &needle), naive, "{hay:?} {needle:?}");
            if let Some(&b) = needle.first() {
                assert_eq!(find_byte(b, &hay), hay.iter().position(|&x| x == b));
            }
        }
    }

    #[test]
    fn whitespace_is_what_isspace_accepts() {
        for b in 0..=255u8 {
            let c_isspace = matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
            assert_eq!(is_space(b), c_isspace, "byte {b:#04x}");
        }
        let s = b"\x0b a\x0bb \x0c";
        assert_eq!(&s[trim(s)], b"a\x0bb");
        assert_eq!(&s[field(s, 2, None)], b"b");
    }

    /// The eight-byte scan against a byte-by-byte one, on lines of words,
    /// every whitespace byte, other control bytes and UTF-8.
    #[test]
    fn next_space_matches_a_byte_scan() {
        let alphabet: &[u8] = b"ab \t\n\x0b\x0c\r\x00\x01\x1f\x20\x21\x7f\x80\xc3\xa9\xff";
        let mut rng = Rng::new(11);
        for _ in 0..3000 {
            let len = rng.below(40) as usize;
            let s: Vec<u8> = (0..len)
                .map(|_| match rng.below(3) {
                    0 => alphabet[rng.below(alphabet.len() as u64) as usize],
                    _ => b'a' + rng.below(26) as u8,
                })
                .collect();
            for from in 0..=len {
                let want = (from..len).find(|&i| is_space(s[i])).unwrap_or(len);
                assert_eq!(next_space(&s, from), want, "{s:?} from {from}");
            }
            let words: Vec<&[u8]> = whitespace_fields(&s).map(|r| &s[r]).collect();
            let naive: Vec<&[u8]> = s
                .split(|&b| is_space(b))
                .filter(|w| !w.is_empty())
                .collect();
            assert_eq!(words, naive, "{s:?}");
        }
    }

    #[test]
    fn fields() {
        let line = b"  a\tbb  c ";
        let get = |n| &line[field(line, n, None)];
        assert_eq!(get(1), b"a");
        assert_eq!(get(2), b"bb");
        assert_eq!(get(3), b"c");
        assert_eq!(get(4), b"");
        assert_eq!(get(0), b"");
        let csv = b"a,,b";
        let get = |n| &csv[field(csv, n, Some(b","))];
        assert_eq!(
            (get(1), get(2), get(3), get(4)),
            (&b"a"[..], &b""[..], &b"b"[..], &b""[..])
        );
        assert_eq!(field(b"", 1, Some(b",")), 0..0);
        assert_eq!(field(b"a,b", 1, Some(b"")), 3..3);
    }

    #[test]
    fn separators_of_several_bytes() {
        let line = b"1::42::3.5::978300760";
        let get = |n| &line[field(line, n, Some(b"::"))];
        assert_eq!(
            (get(1), get(2), get(3), get(4), get(5)),
            (
                &b"1"[..],
                &b"42"[..],
                &b"3.5"[..],
                &b"978300760"[..],
                &b""[..]
            )
        );
        // A lone `:` is data; occurrences are taken left to right.
        let line = b"a:b:::c::";
        let get = |n| &line[field(line, n, Some(b"::"))];
        assert_eq!(
            (get(1), get(2), get(3), get(4)),
            (&b"a:b"[..], &b":c"[..], &b""[..], &b""[..])
        );
        assert_eq!(field(line, 4, Some(b"::")), 9..9);
        assert_eq!(field(b"::", 2, Some(b"::")), 2..2);
    }

    #[test]
    fn fields_match_split_on() {
        let mut rng = Rng::new(11);
        for _ in 0..5_000 {
            let line: Vec<u8> = (0..rng.below(30))
                .map(|_| b"ab:;\xff"[rng.below(5) as usize])
                .collect();
            let sep: &[u8] = [&b":"[..], b"::", b":;:", b";"][rng.below(4) as usize];
            let parts = split_on(&line, sep);
            for n in 1..parts.len() + 2 {
                let want = parts.get(n - 1).cloned().unwrap_or(line.len()..line.len());
                assert_eq!(field(&line, n, Some(sep)), want, "{line:?} {sep:?} {n}");
            }
        }
    }

    #[test]
    fn trim_split_replace_basename() {
        assert_eq!(trim(b" \tab c\n"), 2..6);
        assert_eq!(trim(b"   "), 3..3);
        assert_eq!(split_on(b"a::b::", b"::"), vec![0..1, 3..4, 6..6]);
        assert_eq!(split_on(b"", b","), vec![0..0]);
        assert_eq!(replace(b"aaa", b"aa", b"b"), b"ba");
        assert_eq!(replace(b"abc", b"", b"x"), b"abc");
        let base = |p: &[u8]| p[basename(p)].to_vec();
        assert_eq!(base(b"a/b.txt"), b"b.txt");
        assert_eq!(base(b"a/b//"), b"b");
        assert_eq!(base(b"b"), b"b");
        assert_eq!(base(b"///"), b"/");
        assert_eq!(base(b""), b"");
    }
}
