//! `JobError`: a mistake in a job file, located and shown with a caret.
//!
//! Every check (lexer, parser, dataset graph, expression types, params)
//! reports through this one type, so every message has the same shape:
//!
//! ```text
//! jobs/bad.job:7:24: error: unknown function `contain` (did you mean `contains`?)
//!     matches = lines.filter(contain($0, pattern))
//!                            ^
//! ```
//!
//! Checks create errors with `JobError::at(span, message)`, knowing only the
//! place; `Job::parse` then fills in the file name and the source line once,
//! with `locate`.

use std::fmt;

use super::lexer::Span;

/// A mistake in a job file or in the params given for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    /// The job file's name, as given to `Job::parse`.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub col: u32,
    /// What was wrong, without the location.
    pub message: String,
    /// The text of line `line`, shown under the message; for a line longer
    /// than `SHOWN_LINE_CHARS`, the part around column `col`, with `...`
    /// where it was cut.
    pub source_line: String,
    /// Characters of `source_line` before the caret.
    caret: usize,
}

/// Longest source line shown in full under a message; of a longer one, only
/// this many characters around the column are shown, so a message stays
/// short whatever the line.
pub(crate) const SHOWN_LINE_CHARS: usize = 120;

impl JobError {
    /// An error at `span`; the file and source line are filled in by `locate`.
    pub(crate) fn at(span: Span, message: impl Into<String>) -> JobError {
        JobError {
            file: String::new(),
            line: span.line,
            col: span.col,
            message: message.into(),
            source_line: String::new(),
            caret: (span.col as usize).saturating_sub(1),
        }
    }

    /// Attaches the file name and the offending line of `source`.
    pub(crate) fn locate(mut self, file: &str, source: &str) -> JobError {
        self.file = file.to_string();
        let index = (self.line as usize).saturating_sub(1);
        let line = source
            .split('\n')
            .nth(index)
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .unwrap_or_default();
        let before = (self.col as usize).saturating_sub(1);
        let chars = line.chars().count();
        if chars <= SHOWN_LINE_CHARS {
            self.source_line = line.to_string();
            self.caret = before;
            return self;
        }
        // A window of the line with the column a third of the way in.
        let from = before
            .min(chars)
            .saturating_sub(SHOWN_LINE_CHARS / 3)
            .min(chars - SHOWN_LINE_CHARS);
        let to = from + SHOWN_LINE_CHARS;
        let mut shown = String::new();
        if from > 0 {
            shown.push_str("...");
        }
        shown.extend(line.chars().skip(from).take(SHOWN_LINE_CHARS));
        if to < chars {
            shown.push_str("...");
        }
        self.caret = before - from + if from > 0 { 3 } else { 0 };
        self.source_line = shown;
        self
    }
}

impl fmt::Display for JobError {
    /// `{file}:{line}:{col}: error: {message}`, then the source line and a
    /// caret under column `col`, both indented by four spaces. Tabs before the
    /// column are repeated in the caret line so the caret lines up.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: {}\n    {}\n    ",
            self.file, self.line, self.col, self.message, self.source_line
        )?;
        let mut pad = String::with_capacity(self.caret);
        let mut chars = self.source_line.chars();
        for _ in 0..self.caret {
            pad.push(if chars.next() == Some('\t') {
                '\t'
            } else {
                ' '
            });
        }
        write!(f, "{pad}^")
    }
}

impl std::error::Error for JobError {}

/// The line and column of byte `offset` of `text` (of the character that
/// contains it, if it falls inside one).
pub(crate) fn span_at(text: &str, offset: usize) -> Span {
    let mut at = offset.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).saturating_add(1);
    Span {
        line: count(before.matches('\n').count()),
        col: count(before[line_start..].chars().count()),
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough
/// to be a likely typo (at most 2 edits, and fewer than half the word).
pub(crate) fn suggest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let limit = 2.min(word.chars().count().saturating_sub(1) / 2 + 1);
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= limit && *d > 0)
        .min()
        .map(|(_, c)| c)
}

/// ` (did you mean `x`?)`, or nothing.
pub(crate) fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    match suggest(word, candidates) {
        Some(c) => format!(" (did you mean `{c}`?)"),
        None => String::new(),
    }
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_file_line_column_and_caret() {
        let e =
            JobError::at(Span { line: 2, col: 5 }, "bad thing").locate("a.job", "x\nab\tcdef\n");
        assert_eq!(
            e.to_string(),
            "a.job:2:5: error: bad thing\n    ab\tcdef\n      \t ^"
        );
    }

    #[test]
    fn caret_past_the_end_of_the_line_and_missing_line() {
        let e = JobError::at(Span { line: 1, col: 4 }, "m").locate("f", "ab");
        assert_eq!(e.to_string(), "f:1:4: error: m\n    ab\n       ^");
        let e = JobError::at(Span { line: 9, col: 1 }, "m").locate("f", "ab");
        assert_eq!(e.to_string(), "f:9:1: error: m\n    \n    ^");
    }

    #[test]
    fn a_long_line_is_shown_as_a_window_around_the_column() {
        let line: String = (0..300)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let shown = |col: u32| {
            let e = JobError::at(Span { line: 1, col }, "m").locate("f", &line);
            let text = e.to_string();
            let lines: Vec<&str> = text.lines().collect();
            // The caret is under the character at `col`.
            let caret = lines[2].len() - 1;
            let under = lines[1][caret..].chars().next();
            (lines[1].len(), under, lines[1].starts_with("    ..."))
        };
        let at = |col: usize| line[col - 1..].chars().next();
        let width = 4 + SHOWN_LINE_CHARS;
        // Near the start: the start of the line, cut at the end.
        assert_eq!(shown(5), (width + 3, at(5), false));
        // In the middle: cut at both ends.
        assert_eq!(shown(200), (width + 6, at(200), true));
        // At the end, and past it: the end of the line.
        assert_eq!(shown(300), (width + 3, at(300), true));
        let e = JobError::at(Span { line: 1, col: 305 }, "m").locate("f", &line);
        let text = e.to_string();
        assert!(
            text.ends_with(&format!("...{}\n    {}^", &line[180..], " ".repeat(127))),
            "{text}"
        );
    }

    #[test]
    fn span_at_counts_lines_and_characters() {
        let text = "ab\né\u{1F600}x";
        assert_eq!(span_at(text, 0), Span { line: 1, col: 1 });
        assert_eq!(span_at(text, 3), Span { line: 2, col: 1 });
        // Inside `é`: its own place.
        assert_eq!(span_at(text, 4), Span { line: 2, col: 1 });
        assert_eq!(span_at(text, 9), Span { line: 2, col: 3 });
        assert_eq!(span_at(text, 99), Span { line: 2, col: 4 });
    }

    #[test]
    fn suggestions_are_close_words_only() {
        let words = ["contains", "concat", "count"];
        assert_eq!(suggest("contain", &words), Some("contains"));
        assert_eq!(suggest("cont", &words), Some("count"));
        assert_eq!(suggest("zzz", &words), None);
        assert_eq!(suggest("contains", &words), None);
        assert_eq!(
            did_you_mean("fliter", &["filter"]),
            " (did you mean `filter`?)"
        );
    }
}
