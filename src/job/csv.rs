//! The CSV record format of `read_csv`: RFC 4180 quoted fields, one record
//! per line.
//!
//! A field that starts with `"` is quoted: it runs to the next `"` that is
//! not doubled, may hold the separator, and its value is what lies between
//! its quotes with each `""` turned into one `"`. A `"` anywhere else is
//! data (`a"b` is a plain field, as RFC 4180 has it). The closing quote must
//! be followed by the separator or by the end of the line.
//!
//! RFC 4180 also lets a quoted field hold a newline. Here a record is one
//! line: splits are cut at newlines (`exec/split.rs`), and the split that
//! owns a line could not tell, without reading the file from its start,
//! whether that line begins inside a quoted field. So a quote still open at
//! the end of a line is an error (Hadoop's `LineRecordReader`, which Spark's
//! CSV reader uses unless told `multiLine`, has the same rule).
//!
//! Two halves: `check_quotes` runs once per line, in the task that reads
//! it, and refuses a malformed line; `field` is the per-record path of
//! `$n`, which never fails (it reads a checked line). Both walk the fields
//! left to right looking at one byte at each field's start, so a line with
//! no quotes costs what a plain split costs, and `check_quotes` returns
//! after one scan for a `"` (eight bytes a step) when the line has none.
//!
//! `find_columns` reads a header line: where each column an expression
//! names (`$age`) is in one file. The client calls it for every input file
//! when the job is submitted, and each task again for its own file.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use super::bytes::{find, find_byte, replace, split_on};
use super::error::did_you_mean;
use super::value::quote;
use super::Column;

/// Why a line is not a CSV record: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadQuote {
    /// The field, counted from 1.
    pub field: usize,
    pub kind: BadQuoteKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadQuoteKind {
    /// A quoted field whose closing quote is not on the line.
    Unclosed,
    /// Bytes between a closing quote and the next separator.
    AfterQuote(Vec<u8>),
}

impl fmt::Display for BadQuote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.field;
        match &self.kind {
            BadQuoteKind::Unclosed => write!(
                f,
                "field {n} opens a quote that the line does not close (a record is one line: a quoted field cannot hold a newline)"
            ),
            BadQuoteKind::AfterQuote(rest) => write!(
                f,
                "field {n} has {} after its closing quote (a quoted field ends at the separator or the end of the line)",
                quote(rest)
            ),
        }
    }
}

/// Checks that every quoted field of `line` (fields separated by `sep`,
/// not empty) is closed on the line and followed by the separator or the
/// end of the line.
///
/// # Errors
/// The first malformed field.
pub fn check_quotes(line: &[u8], sep: &[u8]) -> Result<(), BadQuote> {
    if find_byte(b'"', line).is_none() {
        return Ok(());
    }
    let mut start = 0;
    let mut n = 1;
    loop {
        let next = match line.get(start) {
            Some(b'"') => {
                let bad = |kind| Err(BadQuote { field: n, kind });
                let (Some(close), _) = closing_quote(line, start + 1) else {
                    return bad(BadQuoteKind::Unclosed);
                };
                let after = &line[close + 1..];
                if after.is_empty() {
                    return Ok(());
                }
                if !after.starts_with(sep) {
                    let end = find(after, sep).unwrap_or(after.len());
                    return bad(BadQuoteKind::AfterQuote(after[..end].to_vec()));
                }
                close + 1
            }
            _ => match find(&line[start..], sep) {
                Some(p) => start + p,
                None => return Ok(()),
            },
        };
        start = next + sep.len();
        n += 1;
    }
}

/// The value of field `n` (1-based) of `line`, fields separated by `sep`
/// (not empty) with RFC 4180 quotes: unquoted, borrowed from the line
/// unless it holds a `""`. A field past the end, and field 0, are empty.
/// A malformed line (which `check_quotes` refuses before any expression
/// sees it) still gives some value: an unclosed quote runs to the end of
/// the line, and bytes after a closing quote are dropped.
pub(crate) fn field<'a>(line: &'a [u8], n: usize, sep: &[u8]) -> Cow<'a, [u8]> {
    if n == 0 || sep.is_empty() {
        return Cow::Borrowed(&[]);
    }
    // As `bytes::field`, plus one byte compared at each field's start.
    let mut start = 0;
    for _ in 1..n {
        let next = match line.get(start) {
            Some(b'"') => extent(line, start, sep).next,
            _ => find(&line[start..], sep).map(|p| start + p + sep.len()),
        };
        match next {
            Some(next) => start = next,
            None => return Cow::Borrowed(&[]),
        }
    }
    if line.get(start) != Some(&b'"') {
        let end = find(&line[start..], sep).map_or(line.len(), |p| start + p);
        return Cow::Borrowed(&line[start..end]);
    }
    let found = extent(line, start, sep);
    let value = &line[found.value];
    if found.doubled {
        Cow::Owned(replace(value, b"\"\"", b"\""))
    } else {
        Cow::Borrowed(value)
    }
}

/// Every field of `line` in order, as `field` gives them (for a header).
pub(crate) fn fields<'a>(line: &'a [u8], sep: &'a [u8]) -> impl Iterator<Item = Cow<'a, [u8]>> {
    let mut start = Some(0);
    std::iter::from_fn(move || {
        let at = start?;
        if sep.is_empty() {
            start = None;
            return Some(Cow::Borrowed(line));
        }
        let found = extent(line, at, sep);
        start = found.next;
        let value = &line[found.value];
        Some(if found.doubled {
            Cow::Owned(replace(value, b"\"\"", b"\""))
        } else {
            Cow::Borrowed(value)
        })
    })
}

/// Why a header line cannot place the named columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnError {
    /// The column at fault (an index into the columns given), or `None`
    /// when the line itself is malformed.
    pub column: Option<usize>,
    /// Names the file, e.g. ``column `age` is not in the header of a.csv; ...``.
    pub message: String,
}

/// Most header names an error lists.
const MAX_NAMES_SHOWN: usize = 20;

/// Where each of `columns` is in `header`, the first line of the file at
/// `path` (for messages), split as `read_csv` splits it: `fields[i]` is
/// the field number, from 1, of `columns[i]`. Names are compared byte for
/// byte.
///
/// # Errors
/// A header with bad quotes, a column it lacks, or one it holds twice.
pub fn find_columns(
    columns: &[Column],
    header: &[u8],
    sep: &[u8],
    quotes: bool,
    path: &str,
) -> Result<Vec<u32>, ColumnError> {
    let names: Vec<Cow<[u8]>> = if quotes {
        check_quotes(header, sep).map_err(|bad| ColumnError {
            column: None,
            message: format!("{path}:1: {bad}"),
        })?;
        fields(header, sep).collect()
    } else {
        split_on(header, sep)
            .into_iter()
            .map(|r| Cow::Borrowed(&header[r]))
            .collect()
    };
    let mut fields = Vec::with_capacity(columns.len());
    for (i, column) in columns.iter().enumerate() {
        let fail = |message: String| ColumnError {
            column: Some(i),
            message,
        };
        let name = &column.name;
        let mut at = names
            .iter()
            .enumerate()
            .filter(|(_, n)| **n == name.as_bytes())
            .map(|(at, _)| at + 1);
        match (at.next(), at.next()) {
            (Some(n), None) => fields.push(u32::try_from(n).unwrap_or(u32::MAX)),
            (Some(a), Some(b)) => {
                return Err(fail(format!(
                    "column `{name}` appears more than once in the header of {path} (fields {a} and {b}): name one by number, `${a}` or `${b}`"
                )))
            }
            (None, _) => {
                let text: Vec<&str> = names
                    .iter()
                    .filter_map(|n| std::str::from_utf8(n).ok())
                    .collect();
                let mut shown: Vec<String> = names
                    .iter()
                    .take(MAX_NAMES_SHOWN)
                    .map(|n| quote(n))
                    .collect();
                if names.len() > MAX_NAMES_SHOWN {
                    shown.push(format!("... ({} in all)", names.len()));
                }
                return Err(fail(format!(
                    "column `{name}` is not in the header of {path}{}; its columns are {}",
                    did_you_mean(name, &text),
                    shown.join(", ")
                )));
            }
        }
    }
    Ok(fields)
}

/// Where one field lies.
struct Extent {
    /// Its value's bytes in the line (inside the quotes, for a quoted one).
    value: Range<usize>,
    /// Does the value hold `""`, to be turned into `"`?
    doubled: bool,
    /// Where the next field starts, if there is one.
    next: Option<usize>,
}

/// The field that starts at byte `start` of `line`.
fn extent(line: &[u8], start: usize, sep: &[u8]) -> Extent {
    let after_sep = |rest: &[u8], from: usize| find(rest, sep).map(|p| from + p + sep.len());
    if line.get(start) != Some(&b'"') {
        let rest = line.get(start..).unwrap_or(&[]);
        let end = find(rest, sep);
        return Extent {
            value: start.min(line.len())..end.map_or(line.len(), |p| start + p),
            doubled: false,
            next: end.map(|p| start + p + sep.len()),
        };
    }
    let open = start + 1;
    let (close, doubled) = closing_quote(line, open);
    let Some(close) = close else {
        return Extent {
            value: open..line.len(),
            doubled,
            next: None,
        };
    };
    let after = close + 1;
    let next = match line[after..].starts_with(sep) {
        true => Some(after + sep.len()),
        // Malformed (`check_quotes` refuses it): on to the next separator.
        false => after_sep(&line[after..], after),
    };
    Extent {
        value: open..close,
        doubled,
        next,
    }
}

/// The position of the quote that closes a quoted field whose value starts
/// at `from`: the first `"` not followed by another (`""` is data); and
/// whether a `""` came before it.
fn closing_quote(line: &[u8], from: usize) -> (Option<usize>, bool) {
    let mut at = from;
    let mut doubled = false;
    loop {
        let Some(q) = line.get(at..).and_then(|rest| find_byte(b'"', rest)) else {
            return (None, doubled);
        };
        let q = at + q;
        if line.get(q + 1) != Some(&b'"') {
            return (Some(q), doubled);
        }
        doubled = true;
        at = q + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn all(line: &str, sep: &str) -> Vec<String> {
        let (line, sep) = (line.as_bytes(), sep.as_bytes());
        let by_field: Vec<String> = (1..=fields(line, sep).count())
            .map(|n| String::from_utf8_lossy(&field(line, n, sep)).into_owned())
            .collect();
        let listed: Vec<String> = fields(line, sep)
            .map(|f| String::from_utf8_lossy(&f).into_owned())
            .collect();
        assert_eq!(by_field, listed, "{line:?}");
        listed
    }

    #[test]
    fn quoted_fields_hold_separators_and_doubled_quotes() {
        assert_eq!(all(r##""Smith, John",42"##, ","), ["Smith, John", "42"]);
        assert_eq!(
            all(r##"1,"say ""hi""",""""##, ","),
            ["1", r##"say "hi""##, r##"""##]
        );
        assert_eq!(all(r##""",x,"""##, ","), ["", "x", ""]);
        assert_eq!(all(r##"a"b,c""d"##, ","), [r##"a"b"##, r##"c""d"##]);
        assert_eq!(all(r##" "a,b""##, ","), [r##" "a"##, r##"b""##]);
        assert_eq!(all(r##""a::b"::c"##, "::"), ["a::b", "c"]);
        assert_eq!(all("a,,b,", ","), ["a", "", "b", ""]);
        assert_eq!(all("", ","), [""]);
        // Borrowed unless a `""` must be rewritten.
        assert!(matches!(
            field(br##""a,b",c"##, 1, b","),
            Cow::Borrowed(b"a,b")
        ));
        assert!(matches!(field(br##""a""b""##, 1, b","), Cow::Owned(_)));
        assert_eq!(field(br##""a",b"##, 3, b","), Cow::Borrowed(&b""[..]));
        assert_eq!(field(b"a,b", 0, b","), Cow::Borrowed(&b""[..]));
    }

    #[test]
    fn malformed_lines_are_refused_with_the_field() {
        let check = |line: &str| check_quotes(line.as_bytes(), b",").map_err(|e| e.to_string());
        assert_eq!(check(r##"a,"b,c",d"##), Ok(()));
        assert_eq!(check(r##"a"b,"c""d""##), Ok(()));
        assert_eq!(check("no quotes, at all"), Ok(()));
        assert_eq!(
            check(r##"1,"Smith, John"##),
            Err("field 2 opens a quote that the line does not close (a record is one line: a quoted field cannot hold a newline)".into())
        );
        assert_eq!(check(r##"x,"ends in a doubled quote""""##), Ok(()));
        assert_eq!(
            check(r##"x,"ends in a doubled quote"""##),
            Err("field 2 opens a quote that the line does not close (a record is one line: a quoted field cannot hold a newline)".into())
        );
        assert_eq!(
            check(r##""ab"c,d"##),
            Err("field 1 has \"c\" after its closing quote (a quoted field ends at the separator or the end of the line)".into())
        );
        assert_eq!(
            check_quotes(br##"1::"a" ::b"##, b"::"),
            Err(BadQuote {
                field: 2,
                kind: BadQuoteKind::AfterQuote(b" ".to_vec())
            })
        );
        // Malformed lines still give values to `field`, never a panic.
        assert_eq!(all(r##"1,"Smith, John"##, ","), ["1", "Smith, John"]);
        assert_eq!(all(r##""ab"c,d"##, ","), ["ab", "d"]);
        assert_eq!(all(r##"""##, ","), [""]);
    }

    #[test]
    fn columns_are_found_in_each_header() {
        let cols = |names: &[&str]| -> Vec<Column> {
            names
                .iter()
                .map(|n| Column {
                    name: n.to_string(),
                    span: crate::job::Span { line: 1, col: 1 },
                })
                .collect()
        };
        let find = |names: &[&str], header: &str| {
            find_columns(&cols(names), header.as_bytes(), b",", true, "d/a.csv")
        };
        assert_eq!(find(&["age", "id"], "id,name,age"), Ok(vec![3, 1]));
        assert_eq!(
            find(&["first name", "x"], r##"id,"first name","x""##),
            Ok(vec![2, 3])
        );
        assert_eq!(find(&[], ""), Ok(vec![]));
        assert_eq!(
            find(&["id", "agee"], "id,name,age"),
            Err(ColumnError {
                column: Some(1),
                message: "column `agee` is not in the header of d/a.csv (did you mean `age`?); its columns are \"id\", \"name\", \"age\"".into()
            })
        );
        assert_eq!(
            find(&["id"], "id,name,id").unwrap_err().message,
            "column `id` appears more than once in the header of d/a.csv (fields 1 and 3): name one by number, `$1` or `$3`"
        );
        assert_eq!(
            find(&["id"], r##"id,"name"##),
            Err(ColumnError {
                column: None,
                message: "d/a.csv:1: field 2 opens a quote that the line does not close (a record is one line: a quoted field cannot hold a newline)".into()
            })
        );
        // Without quotes, a quoted name keeps its quotes; names are bytes.
        let plain = find_columns(&cols(&["\"b\""]), br##"a;"b""##, b";", false, "p");
        assert_eq!(plain, Ok(vec![2]));
        let many: Vec<String> = (0..25).map(|i| format!("c{i}")).collect();
        let e = find(&["zz"], &many.join(",")).unwrap_err().message;
        assert!(e.ends_with(", \"c19\", ... (25 in all)"), "{e}");
    }

    /// Fields written by a reference CSV writer (quote when needed, double
    /// the quotes) read back as they were, and every line passes the check;
    /// random bytes never panic.
    #[test]
    fn written_fields_read_back() {
        let mut rng = Rng::new(5);
        for _ in 0..3000 {
            let sep: &[u8] = [&b","[..], b";", b"::", b"\t"][rng.below(4) as usize];
            let values: Vec<Vec<u8>> = (0..1 + rng.below(5))
                .map(|_| {
                    (0..rng.below(6))
                        .map(|_| b"a\",:;\t \xff"[rng.below(8) as usize])
                        .collect()
                })
                .collect();
            let mut line = Vec::new();
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    line.extend_from_slice(sep);
                }
                // Quoted when needed (a byte of `sep` could join with the
                // separator after it), and sometimes when not.
                let needed = v.iter().any(|b| *b == b'"' || sep.contains(b));
                if needed || rng.below(4) == 0 {
                    line.push(b'"');
                    line.extend_from_slice(&replace(v, b"\"", b"\"\""));
                    line.push(b'"');
                } else {
                    line.extend_from_slice(v);
                }
            }
            assert_eq!(check_quotes(&line, sep), Ok(()), "{line:?}");
            let got: Vec<Vec<u8>> = fields(&line, sep).map(Cow::into_owned).collect();
            assert_eq!(got, values, "{line:?}");
            for (n, v) in values.iter().enumerate() {
                assert_eq!(&*field(&line, n + 1, sep), &v[..]);
            }
            let noise: Vec<u8> = (0..rng.below(12))
                .map(|_| b"a\",:"[rng.below(4) as usize])
                .collect();
            let _ = check_quotes(&noise, sep);
            for n in 0..6 {
                let _ = field(&noise, n, sep);
            }
        }
    }
}
