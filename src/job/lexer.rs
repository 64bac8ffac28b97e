//! The lexer: job-file text to tokens, each with its place in the file.
//!
//! Line structure is decided here, not in the parser: a newline ends a
//! statement (a `Newline` token) unless a `(` or `[` is still open, or the
//! next non-blank line starts with `.` (a chain continued on the next line).
//! Comments (`#` to the end of the line) never reach the parser.

use super::error::JobError;

/// A place in a job file: 1-based line and column (the column counts
/// characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub line: u32,
    pub col: u32,
}

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    /// A string literal with its escapes resolved.
    Str(String),
    Int(i64),
    Float(f64),
    /// `$0`, `$1`, ...
    Field(u32),
    /// `$key`
    Key,
    /// `$value`
    Value,
    /// `$name` or `$"col name"`: a column of a CSV header, by name.
    Column(String),
    /// `$(`: a computed field index; closed by `)`.
    DollarParen,
    Param,
    True,
    False,
    And,
    Or,
    Not,
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// `{` and `}`: the body of a `repeat` loop.
    LBrace,
    RBrace,
    Comma,
    Dot,
    Assign,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Newline,
    Eof,
}

/// A token, where it starts, and the bytes of the source it covers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub span: Span,
    /// Byte offsets into the source: `source[start..end]` is the token text.
    pub start: usize,
    pub end: usize,
}

/// How a token is named in "expected X, found Y" messages.
pub(crate) fn describe(tok: &Tok) -> String {
    let fixed = match tok {
        Tok::Ident(name) => return format!("name `{name}`"),
        Tok::Str(s) => return format!("string {s:?}"),
        Tok::Int(n) => return format!("number {n}"),
        Tok::Float(x) => return format!("number {x:?}"),
        Tok::Field(n) => return format!("`${n}`"),
        Tok::Key => "`$key`",
        Tok::Value => "`$value`",
        Tok::Column(name) => return format!("column `{name}`"),
        Tok::DollarParen => "`$(`",
        Tok::Param => "`param`",
        Tok::True => "`true`",
        Tok::False => "`false`",
        Tok::And => "`and`",
        Tok::Or => "`or`",
        Tok::Not => "`not`",
        Tok::LParen => "`(`",
        Tok::RParen => "`)`",
        Tok::LBracket => "`[`",
        Tok::RBracket => "`]`",
        Tok::LBrace => "`{`",
        Tok::RBrace => "`}`",
        Tok::Comma => "`,`",
        Tok::Dot => "`.`",
        Tok::Assign => "`=`",
        Tok::Eq => "`==`",
        Tok::Ne => "`!=`",
        Tok::Lt => "`<`",
        Tok::Le => "`<=`",
        Tok::Gt => "`>`",
        Tok::Ge => "`>=`",
        Tok::Plus => "`+`",
        Tok::Minus => "`-`",
        Tok::Star => "`*`",
        Tok::Slash => "`/`",
        Tok::Percent => "`%`",
        Tok::Newline => "the end of the line",
        Tok::Eof => "the end of the file",
    };
    fixed.to_string()
}

/// Splits `source` into tokens. The last token is always `Eof`.
///
/// # Errors
/// An unexpected character, an unterminated string, an unknown escape, a
/// number too large, or a `(`, `$(` or `[` never closed, at its place.
pub(crate) fn tokenize(source: &str) -> Result<Vec<Token>, JobError> {
    let mut lexer = Lexer {
        src: source,
        pos: 0,
        line: 1,
        col: 1,
        open: Vec::new(),
        lookahead: None,
        tokens: Vec::new(),
    };
    lexer.run()?;
    Ok(lexer.tokens)
}

struct Lexer<'s> {
    src: &'s str,
    /// Byte offset of the next character.
    pos: usize,
    line: u32,
    col: u32,
    /// The `(`, `$(` and `[` still open, innermost last, with their places:
    /// newlines inside them do not end a statement.
    open: Vec<(&'static str, Span)>,
    /// The last answer of `next_line_continues`: the byte offset of the
    /// next character that is not blank or a comment, and whether it is `.`.
    /// Valid while `pos` has not passed that offset.
    lookahead: Option<(usize, bool)>,
    tokens: Vec<Token>,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.src[self.pos..].chars().nth(ahead)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn here(&self) -> Span {
        Span {
            line: self.line,
            col: self.col,
        }
    }

    fn push(&mut self, tok: Tok, span: Span, start: usize) {
        self.tokens.push(Token {
            tok,
            span,
            start,
            end: self.pos,
        });
    }

    fn run(&mut self) -> Result<(), JobError> {
        while let Some(c) = self.peek() {
            let span = self.here();
            let start = self.pos;
            match c {
                ' ' | '\t' | '\r' => {
                    self.bump();
                }
                '#' => self.skip_comment(),
                '\n' => {
                    self.bump();
                    let ends_statement = self.open.is_empty()
                        && !self.next_line_continues()
                        && !matches!(
                            self.tokens.last().map(|t| &t.tok),
                            None | Some(Tok::Newline)
                        );
                    if ends_statement {
                        self.tokens.push(Token {
                            tok: Tok::Newline,
                            span,
                            start,
                            end: start + 1,
                        });
                    }
                }
                '"' => {
                    let text = self.string(span)?;
                    self.push(Tok::Str(text), span, start);
                }
                '0'..='9' => {
                    let tok = self.number(span)?;
                    self.push(tok, span, start);
                }
                '$' => {
                    let tok = self.dollar(span)?;
                    self.push(tok, span, start);
                }
                c if c == '_' || c.is_ascii_alphabetic() => {
                    while matches!(self.peek(), Some(c) if c == '_' || c.is_ascii_alphanumeric()) {
                        self.bump();
                    }
                    let word = &self.src[start..self.pos];
                    let tok = match word {
                        "param" => Tok::Param,
                        "true" => Tok::True,
                        "false" => Tok::False,
                        "and" => Tok::And,
                        "or" => Tok::Or,
                        "not" => Tok::Not,
                        _ => Tok::Ident(word.to_string()),
                    };
                    self.push(tok, span, start);
                }
                _ => {
                    let tok = self.punctuation(c, span)?;
                    self.push(tok, span, start);
                }
            }
        }
        // Nothing after it could close it: say where it was opened, rather
        // than what the parser finds at the end of the file.
        if let Some((bracket, span)) = self.open.last() {
            return Err(JobError::at(
                *span,
                format!("this `{bracket}` is never closed"),
            ));
        }
        let span = self.here();
        let at = self.pos;
        if !matches!(
            self.tokens.last().map(|t| &t.tok),
            None | Some(Tok::Newline)
        ) {
            self.push(Tok::Newline, span, at);
        }
        self.push(Tok::Eof, span, at);
        Ok(())
    }

    fn skip_comment(&mut self) {
        while !matches!(self.peek(), None | Some('\n')) {
            self.bump();
        }
    }

    /// After a newline outside brackets: does the next line with a token
    /// start with `.`? Then the statement continues (`lines = read_text(p)`
    /// / `.filter(...)`).
    ///
    /// Only blank lines and comments lie between here and the character
    /// that decides, so the answer is remembered until the lexer reaches it:
    /// a run of blank lines is scanned once, not once per line.
    fn next_line_continues(&mut self) -> bool {
        if let Some((decider, answer)) = self.lookahead {
            if self.pos <= decider {
                return answer;
            }
        }
        let mut in_comment = false;
        let mut found = (self.src.len(), false);
        for (i, c) in self.src[self.pos..].char_indices() {
            match c {
                '\n' => in_comment = false,
                _ if in_comment => {}
                '#' => in_comment = true,
                ' ' | '\t' | '\r' => {}
                c => {
                    found = (self.pos + i, c == '.');
                    break;
                }
            }
        }
        self.lookahead = Some(found);
        found.1
    }

    /// A string literal; the opening quote is next.
    fn string(&mut self, span: Span) -> Result<String, JobError> {
        self.bump();
        let mut text = String::new();
        loop {
            let here = self.here();
            match self.bump() {
                None | Some('\n') => {
                    return Err(JobError::at(
                        span,
                        "unterminated string (a string must end with `\"` on the same line)",
                    ))
                }
                Some('"') => return Ok(text),
                Some('\\') => {
                    match self.bump() {
                        Some('"') => text.push('"'),
                        Some('\\') => text.push('\\'),
                        Some('n') => text.push('\n'),
                        Some('t') => text.push('\t'),
                        Some('\n') | None => return Err(JobError::at(
                            span,
                            "unterminated string (a string must end with `\"` on the same line)",
                        )),
                        Some(other) => {
                            return Err(JobError::at(
                                here,
                                format!(
                                "unknown escape `\\{other}` in string (known: \\\" \\\\ \\n \\t)"
                            ),
                            ))
                        }
                    }
                }
                Some(c) => text.push(c),
            }
        }
    }

    /// An integer (`42`) or a float (`4.2`): digits, then `.` and digits.
    fn number(&mut self, span: Span) -> Result<Tok, JobError> {
        let start = self.pos;
        while matches!(self.peek(), Some('0'..='9')) {
            self.bump();
        }
        let is_float =
            self.peek() == Some('.') && matches!(self.peek_at(1), Some(c) if c.is_ascii_digit());
        if is_float {
            self.bump();
            while matches!(self.peek(), Some('0'..='9')) {
                self.bump();
            }
        }
        let text = &self.src[start..self.pos];
        if is_float {
            text.parse::<f64>()
                .map(Tok::Float)
                .map_err(|_| JobError::at(span, format!("`{text}` is not a number")))
        } else {
            text.parse::<i64>().map(Tok::Int).map_err(|_| {
                JobError::at(
                    span,
                    format!(
                        "integer `{text}` is too large (the largest is {})",
                        i64::MAX
                    ),
                )
            })
        }
    }

    /// `$0`, `$12`, `$key`, `$value`, `$name`, `$"col name"` or `$(`; the
    /// `$` is next.
    fn dollar(&mut self, span: Span) -> Result<Tok, JobError> {
        self.bump();
        let start = self.pos;
        match self.peek() {
            Some('0'..='9') => {
                while matches!(self.peek(), Some('0'..='9')) {
                    self.bump();
                }
                let digits = &self.src[start..self.pos];
                digits.parse::<u32>().map(Tok::Field).map_err(|_| {
                    JobError::at(span, format!("field number `${digits}` is too large"))
                })
            }
            Some('(') => {
                self.bump();
                self.open.push(("$(", span));
                Ok(Tok::DollarParen)
            }
            Some(c) if c == '_' || c.is_ascii_alphabetic() => {
                while matches!(self.peek(), Some(c) if c == '_' || c.is_ascii_alphanumeric()) {
                    self.bump();
                }
                Ok(match &self.src[start..self.pos] {
                    "key" => Tok::Key,
                    "value" => Tok::Value,
                    name => Tok::Column(name.to_string()),
                })
            }
            Some('"') => {
                let name = self.string(span)?;
                if name.is_empty() {
                    return Err(JobError::at(span, "a column name cannot be empty"));
                }
                Ok(Tok::Column(name))
            }
            _ => Err(JobError::at(
                span,
                "`$` must be followed by a field number, a column name, `key`, `value` or `(`",
            )),
        }
    }

    fn punctuation(&mut self, c: char, span: Span) -> Result<Tok, JobError> {
        self.bump();
        let next = self.peek();
        let (tok, two) = match (c, next) {
            ('=', Some('=')) => (Tok::Eq, true),
            ('!', Some('=')) => (Tok::Ne, true),
            ('<', Some('=')) => (Tok::Le, true),
            ('>', Some('=')) => (Tok::Ge, true),
            ('&', Some('&')) => (Tok::And, true),
            ('|', Some('|')) => (Tok::Or, true),
            ('=', _) => (Tok::Assign, false),
            ('!', _) => (Tok::Not, false),
            ('<', _) => (Tok::Lt, false),
            ('>', _) => (Tok::Gt, false),
            ('(', _) => (Tok::LParen, false),
            (')', _) => (Tok::RParen, false),
            ('[', _) => (Tok::LBracket, false),
            (']', _) => (Tok::RBracket, false),
            ('{', _) => (Tok::LBrace, false),
            ('}', _) => (Tok::RBrace, false),
            (',', _) => (Tok::Comma, false),
            ('.', _) => (Tok::Dot, false),
            ('+', _) => (Tok::Plus, false),
            ('-', _) => (Tok::Minus, false),
            ('*', _) => (Tok::Star, false),
            ('/', _) => (Tok::Slash, false),
            ('%', _) => (Tok::Percent, false),
            ('\'', _) => {
                return Err(JobError::at(
                    span,
                    "unexpected character `'` (strings use double quotes: \"...\")",
                ))
            }
            _ => {
                let shown: String = c.escape_debug().collect();
                return Err(JobError::at(
                    span,
                    format!("unexpected character `{shown}`"),
                ));
            }
        };
        if two {
            self.bump();
        }
        match tok {
            Tok::LParen => self.open.push(("(", span)),
            Tok::LBracket => self.open.push(("[", span)),
            Tok::RParen | Tok::RBracket => {
                self.open.pop();
            }
            _ => {}
        }
        Ok(tok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        tokenize(src).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn tokens_and_spans() {
        let t = tokenize("x = f($1, \"a\\tb\") # note\n").unwrap();
        let kinds: Vec<&Tok> = t.iter().map(|t| &t.tok).collect();
        assert_eq!(
            kinds,
            [
                &Tok::Ident("x".into()),
                &Tok::Assign,
                &Tok::Ident("f".into()),
                &Tok::LParen,
                &Tok::Field(1),
                &Tok::Comma,
                &Tok::Str("a\tb".into()),
                &Tok::RParen,
                &Tok::Newline,
                &Tok::Eof
            ]
        );
        assert_eq!(t[4].span, Span { line: 1, col: 7 });
        assert_eq!(&"x = f($1, \"a\\tb\")"[t[6].start..t[6].end], "\"a\\tb\"");
    }

    #[test]
    fn operators_numbers_and_keywords() {
        assert_eq!(
            toks("a<=1.5 and !b || c != 2 == 3 % $key"),
            [
                Tok::Ident("a".into()),
                Tok::Le,
                Tok::Float(1.5),
                Tok::And,
                Tok::Not,
                Tok::Ident("b".into()),
                Tok::Or,
                Tok::Ident("c".into()),
                Tok::Ne,
                Tok::Int(2),
                Tok::Eq,
                Tok::Int(3),
                Tok::Percent,
                Tok::Key,
                Tok::Newline,
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("1.x")[..3],
            [Tok::Int(1), Tok::Dot, Tok::Ident("x".into())]
        );
    }

    #[test]
    fn columns_by_name() {
        assert_eq!(
            toks("$age $_x9 $\"first name\" $\"key\" $key $\"a\\\"b\""),
            [
                Tok::Column("age".into()),
                Tok::Column("_x9".into()),
                Tok::Column("first name".into()),
                Tok::Column("key".into()),
                Tok::Key,
                Tok::Column("a\"b".into()),
                Tok::Newline,
                Tok::Eof
            ]
        );
        let t = tokenize("f($\"a b\")").unwrap();
        assert_eq!((t[2].start, t[2].end), (2, 8));
    }

    #[test]
    fn newlines_inside_parens_and_before_a_dot_continue_the_statement() {
        let t = toks("a = f(1,\n 2)\n\n\nb = a\n  # c\n  .g()\nc");
        let newlines = t.iter().filter(|t| **t == Tok::Newline).count();
        assert_eq!(newlines, 3);
    }

    #[test]
    fn column_counts_characters() {
        let t = tokenize("\"é\" x").unwrap();
        assert_eq!(t[1].span, Span { line: 1, col: 5 });
    }

    #[test]
    fn errors() {
        let e = tokenize("a = \"abc\nb").unwrap_err();
        assert_eq!((e.line, e.col), (1, 5));
        assert!(e.message.starts_with("unterminated string"));
        let e = tokenize("a @ b").unwrap_err();
        assert_eq!(
            (e.line, e.col, e.message.as_str()),
            (1, 3, "unexpected character `@`")
        );
        assert!(tokenize("99999999999999999999").is_err());
        assert!(tokenize("$99999999999").is_err());
        let e = tokenize("x $\"\"").unwrap_err();
        assert_eq!(
            (e.line, e.col, e.message.as_str()),
            (1, 3, "a column name cannot be empty")
        );
        let e = tokenize("$ 1").unwrap_err();
        assert_eq!(
            e.message,
            "`$` must be followed by a field number, a column name, `key`, `value` or `(`"
        );
        assert!(tokenize("\"\\q\"").is_err());
        assert!(tokenize("\"abc\\").is_err());
    }

    #[test]
    fn a_bracket_never_closed_is_an_error_where_it_opens() {
        let e = tokenize("a = f(g(1), [2]\n\nb = 3\n").unwrap_err();
        assert_eq!(
            (e.line, e.col, e.message.as_str()),
            (1, 6, "this `(` is never closed")
        );
        let e = tokenize("a = $(1 + [(2)]").unwrap_err();
        assert_eq!(
            (e.line, e.col, e.message.as_str()),
            (1, 5, "this `$(` is never closed")
        );
        let e = tokenize("a = x[f(1)\n").unwrap_err();
        assert_eq!((e.line, e.col), (1, 6));
        // A stray closer is the parser's to report.
        assert!(tokenize("a = 1)").is_ok());
    }

    /// Blank lines and comments between statements are looked past once,
    /// not once per line: a file of a million newlines lexes in linear time.
    #[test]
    fn runs_of_blank_lines_are_scanned_once() {
        let started = std::time::Instant::now();
        let blank = "\n".repeat(1 << 20);
        assert_eq!(toks(&blank), [Tok::Eof]);
        let continued = format!("a = b{}.c()", "\n  # note\n".repeat(100_000));
        assert_eq!(
            toks(&continued)
                .iter()
                .filter(|t| **t == Tok::Newline)
                .count(),
            1
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
