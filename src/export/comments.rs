//! The job's comments, by line, so that the program written from it keeps
//! them: the lexer drops comments, so they are found again here, in the
//! source text, with the one rule that decides what a `#` is (outside a
//! string literal, it starts a comment that runs to the end of the line).
//! Also the ends of statements, which the parser's tree does not record:
//! the `)` that closes a `save`, the `}` that closes a loop.

use std::collections::BTreeMap;

/// A comment: its text after `#`, and whether it is alone on its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Comment {
    pub(super) text: String,
    pub(super) alone: bool,
}

/// Every comment of `source`, by line (from 1).
pub(super) fn comments(source: &str) -> BTreeMap<u32, Comment> {
    let mut out = BTreeMap::new();
    for (i, line) in source.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(at) = comment_start(line) {
            out.insert(
                i as u32 + 1,
                Comment {
                    text: line[at + 1..].trim_end().to_string(),
                    alone: line[..at].trim().is_empty(),
                },
            );
        }
    }
    out
}

/// Where the comment of `line` starts: its first `#` outside a string.
fn comment_start(line: &str) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    for (at, c) in line.char_indices() {
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => in_string = false,
            (false, _, '"') => in_string = true,
            (false, _, '#') => return Some(at),
            _ => {}
        }
    }
    None
}

/// The line (from 1) of byte `offset` of `source`.
pub(super) fn line_of(source: &str, offset: usize) -> u32 {
    let before = source.get(..offset.min(source.len())).unwrap_or(source);
    before.bytes().filter(|&b| b == b'\n').count() as u32 + 1
}

/// The line of the first `close` byte at or after `offset`, outside
/// comments and strings: where a statement that the tree ends before its
/// closing bracket really ends. The line of `offset` if there is none.
pub(super) fn closing_line(source: &str, offset: usize, close: u8) -> u32 {
    let bytes = source.as_bytes();
    let mut at = offset.min(bytes.len());
    let mut in_comment = false;
    let mut in_string = false;
    while at < bytes.len() {
        let b = bytes[at];
        match (in_comment, in_string, b) {
            (true, _, b'\n') => in_comment = false,
            (true, _, _) => {}
            (false, true, b'\\') => at += 1,
            (false, true, b'"') => in_string = false,
            (false, true, _) => {}
            (false, false, b'"') => in_string = true,
            (false, false, b'#') => in_comment = true,
            (false, false, b) if b == close => return line_of(source, at),
            _ => {}
        }
        at += 1;
    }
    line_of(source, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_in_a_string_starts_no_comment() {
        let src = "a = read_text(\"x#y\") # the input\n# alone\nb = \"\\\"#\" # two\n";
        let c = comments(src);
        assert_eq!(
            c.get(&1),
            Some(&Comment {
                text: " the input".into(),
                alone: false
            })
        );
        assert_eq!(c.get(&2).map(|c| c.alone), Some(true));
        assert_eq!(c.get(&3).map(|c| c.text.as_str()), Some(" two"));
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn closing_brackets_are_found_past_comments_and_strings() {
        let src = "x.save(\n  \")\" # )\n)\n";
        assert_eq!(closing_line(src, 7, b')'), 3);
        assert_eq!(line_of(src, 0), 1);
        assert_eq!(line_of(src, 9), 2);
    }
}
