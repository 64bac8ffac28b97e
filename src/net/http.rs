//! The server side of a tiny HTTP/1.1, for the master's status page and REST API.
//!
//! ```text
//! $ curl -i http://127.0.0.1:7000/api/v1/workers
//! HTTP/1.1 200 OK
//! Content-Type: application/json
//! Content-Length: 87
//! Connection: close
//! Cache-Control: no-store
//!
//! [{"id":1,"addr":"127.0.0.1:40123","state":"ALIVE",...}]
//! ```
//!
//! OS idea: HTTP/1.1 is a text protocol carried on the same kind of TCP byte
//! stream as the binary frames, and here even on the same listening socket.
//! The master peeks at a connection's first bytes without consuming them;
//! when `looks_like_http` says they start a request, the connection goes to
//! the web page (`master/web.rs`), which reads it with this module, instead
//! of the frame reader or the text console.
//!
//! A request starts with its *head*: a request line (`GET /path HTTP/1.1`),
//! then one `Name: value` header per line, then an empty line. Nothing in
//! the stream says how long the head will be; the reader only learns it has
//! the whole head when the empty line arrives. So the head is bounded *before*
//! it is buffered: `read_request` never holds more than
//! `MAX_REQUEST_HEAD_BYTES`, and a slow or hostile peer that sends header
//! lines forever (or one endless line) gets `TooLarge`, not our memory.
//! The body, if any, is never read: only GET and HEAD matter here.
//!
//! Every response carries `Connection: close`, and the server closes the
//! connection after writing it. One request per connection means no
//! keep-alive state, no pipelining, and no need to find where a request body
//! ends: the end of the response is simply the end of the stream.

use std::io::{BufRead, Read, Write};

/// Most bytes a request head (request line, headers and the empty line) may have.
pub const MAX_REQUEST_HEAD_BYTES: usize = 8 * 1024;

/// The methods `looks_like_http` recognises, each with its trailing space.
const METHOD_PREFIXES: &[&[u8]] = &[
    b"GET ",
    b"HEAD ",
    b"POST ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
];

/// Fewest peeked bytes `looks_like_http` needs before it will say yes.
const MIN_PEEK: usize = 3;

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// As sent, for example `GET` (methods are case-sensitive).
    pub method: String,
    /// The request target up to any `?`, still percent-encoded; starts with `/`.
    pub path: String,
    /// What followed the first `?` in the target (without the `?`), or empty.
    pub query: String,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: String,
    /// Header names lowercased, values with surrounding blanks trimmed, in
    /// the order sent.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The value of the first header called `name` (give it in lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why no request could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadRequest {
    /// The head did not end within `MAX_REQUEST_HEAD_BYTES` (answer 431).
    TooLarge,
    /// The bytes are not an HTTP/1.x request head (answer 400); says why.
    Malformed(String),
    /// The stream ended (or failed) before a whole head arrived: there is no
    /// one left to answer.
    Closed,
}

impl std::fmt::Display for BadRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadRequest::TooLarge => {
                write!(f, "request head longer than {MAX_REQUEST_HEAD_BYTES} bytes")
            }
            BadRequest::Malformed(why) => write!(f, "malformed request: {why}"),
            BadRequest::Closed => write!(f, "connection closed before a whole request head"),
        }
    }
}

/// Reads one request head (up to the blank line) from `r`, never buffering
/// more than `MAX_REQUEST_HEAD_BYTES`; the body is not read (GET/HEAD only
/// matter).
///
/// Accepts `\r\n` and bare `\n` line ends, and skips empty lines before the
/// request line (RFC 9112 §2.2). Header names are lowercased.
///
/// # Errors
/// `TooLarge` when the head does not end within the limit; `Closed` when the
/// stream ends or a read fails first; `Malformed` for a request line without
/// method, path or version, a version other than HTTP/1.0 or HTTP/1.1, a path
/// not starting with `/`, non-ASCII or control bytes in the request line, or
/// a header line that is not `name: value`.
pub fn read_request(r: &mut impl BufRead) -> Result<Request, BadRequest> {
    let mut budget = MAX_REQUEST_HEAD_BYTES;
    let mut line = Vec::with_capacity(256);
    let mut request: Option<Request> = None;
    loop {
        if budget == 0 {
            // More lines are needed but the head has used up its bytes.
            return Err(BadRequest::TooLarge);
        }
        line.clear();
        // `take` is what bounds the buffering: `read_until` stops after
        // `budget` bytes even if no newline came.
        let n = match (&mut *r).take(budget as u64).read_until(b'\n', &mut line) {
            Ok(n) => n,
            Err(_) => return Err(BadRequest::Closed),
        };
        budget -= n;
        if line.pop() != Some(b'\n') {
            // Either the budget ran out mid-line or the stream ended mid-line
            // (or, with n == 0, between lines).
            return Err(if budget == 0 {
                BadRequest::TooLarge
            } else {
                BadRequest::Closed
            });
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        match request.as_mut() {
            None if line.is_empty() => continue,
            None => request = Some(parse_request_line(&line)?),
            Some(_) if line.is_empty() => break,
            Some(req) => req.headers.push(parse_header(&line)?),
        }
    }
    // The loop only breaks once a request line was parsed.
    request.ok_or(BadRequest::Closed)
}

/// Parses `METHOD /path?query HTTP/1.x` (line end already removed).
fn parse_request_line(line: &[u8]) -> Result<Request, BadRequest> {
    if let Some(at) = line
        .iter()
        .position(|&b| !b.is_ascii() || b.is_ascii_control())
    {
        return Err(malformed(format!(
            "byte 0x{:02X} at offset {at} of the request line (only printable ASCII is allowed)",
            line[at]
        )));
    }
    // Printable ASCII is valid UTF-8, so this conversion loses nothing.
    let text = String::from_utf8_lossy(line);
    let parts: Vec<&str> = text.split(' ').collect();
    let [method, target, version] = parts[..] else {
        return Err(malformed(format!(
            "request line {text:?} is not `METHOD /path HTTP/1.1` \
             ({} space-separated part(s))",
            parts.len()
        )));
    };
    if method.is_empty() || !method.bytes().all(is_token_byte) {
        return Err(malformed(format!("bad method {method:?}")));
    }
    if !target.starts_with('/') {
        return Err(malformed(format!(
            "request target {target:?} does not start with '/'"
        )));
    }
    if version != "HTTP/1.0" && version != "HTTP/1.1" {
        return Err(malformed(format!(
            "unsupported version {version:?} (this server speaks HTTP/1.0 and HTTP/1.1)"
        )));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Ok(Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        version: version.to_string(),
        headers: Vec::new(),
    })
}

/// Parses one `Name: value` header line (line end already removed).
fn parse_header(line: &[u8]) -> Result<(String, String), BadRequest> {
    if line.starts_with(b" ") || line.starts_with(b"\t") {
        // RFC 9112 §5.2 lets a server reject obsolete line folding.
        return Err(malformed("folded header line (starts with a blank)"));
    }
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return Err(malformed(format!(
            "header line {:?} has no ':'",
            String::from_utf8_lossy(line)
        )));
    };
    let name = &line[..colon];
    if name.is_empty() || !name.iter().copied().all(is_token_byte) {
        return Err(malformed(format!(
            "bad header name {:?}",
            String::from_utf8_lossy(name)
        )));
    }
    let value = trim_blanks(&line[colon + 1..]);
    if let Some(&b) = value.iter().find(|&&b| b != b'\t' && b.is_ascii_control()) {
        return Err(malformed(format!(
            "control byte 0x{b:02X} in header {:?}",
            String::from_utf8_lossy(name)
        )));
    }
    Ok((
        String::from_utf8_lossy(name).to_ascii_lowercase(),
        String::from_utf8_lossy(value).into_owned(),
    ))
}

/// `bytes` without leading and trailing spaces and tabs.
fn trim_blanks(bytes: &[u8]) -> &[u8] {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !blank(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// Is `b` allowed in a method or header name (RFC 9110 `tchar`)?
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn malformed(why: impl Into<String>) -> BadRequest {
    BadRequest::Malformed(why.into())
}

/// Does `first` (the first bytes peeked from a connection) start an HTTP
/// request?
///
/// True when it starts with a method and a space (`GET `, `HEAD `, `POST `,
/// `PUT `, `DELETE `, `OPTIONS `, `PATCH `), and also when fewer bytes have
/// arrived but those are at least 3 and a prefix of one of them (`GET`,
/// `DEL`), since a peek may return less than was sent.
pub fn looks_like_http(first: &[u8]) -> bool {
    METHOD_PREFIXES.iter().any(|method| {
        if first.len() >= method.len() {
            first.starts_with(method)
        } else {
            first.len() >= MIN_PEEK && method.starts_with(first)
        }
    })
}

/// A response: status, content type, body; extra headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code, for example 200.
    pub status: u16,
    /// The `Content-Type` header's value.
    pub content_type: &'static str,
    /// The body; its length becomes `Content-Length`.
    pub body: Vec<u8>,
    /// Headers written after the standard ones, in order.
    pub headers: Vec<(&'static str, String)>,
}

impl Response {
    /// 200, an HTML page.
    pub fn html(body: String) -> Response {
        Response::ok("text/html; charset=utf-8", body)
    }

    /// 200, a JSON document.
    pub fn json(body: String) -> Response {
        Response::ok("application/json", body)
    }

    /// 200, an SVG image.
    pub fn svg(body: String) -> Response {
        Response::ok("image/svg+xml", body)
    }

    fn ok(content_type: &'static str, body: String) -> Response {
        Response {
            status: 200,
            content_type,
            body: body.into_bytes(),
            headers: Vec::new(),
        }
    }

    /// An error in plain text: the body is `STATUS REASON`, a newline,
    /// `message` and a newline.
    pub fn error(status: u16, message: &str) -> Response {
        let body = format!("{status} {}\n{message}\n", Response::reason(status));
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into_bytes(),
            headers: Vec::new(),
        }
    }

    /// The reason phrase for the status codes this server sends; "Unknown"
    /// for any other.
    pub fn reason(status: u16) -> &'static str {
        match status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            413 => "Payload Too Large",
            431 => "Request Header Fields Too Large",
            500 => "Internal Server Error",
            _ => "Unknown",
        }
    }

    /// Writes status line, Content-Type, Content-Length, `Connection: close`,
    /// `Cache-Control: no-store`, extra headers, blank line, and the body
    /// (omitted for HEAD when `head_only`; Content-Length still gives the
    /// length a GET would get).
    ///
    /// Control characters in extra header values are written as spaces, so
    /// a value built from request data can never end the header early and
    /// smuggle in headers of its own.
    ///
    /// # Errors
    /// When writing or flushing `w` fails.
    pub fn write_to(&self, w: &mut impl Write, head_only: bool) -> std::io::Result<()> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\n\
             Content-Type: {}\r\n\
             Content-Length: {}\r\n\
             Connection: close\r\n\
             Cache-Control: no-store\r\n",
            self.status,
            Response::reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            let value: String = value
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        // One buffer, one write: the head and body leave together.
        let mut bytes = head.into_bytes();
        if !head_only {
            bytes.extend_from_slice(&self.body);
        }
        w.write_all(&bytes)?;
        w.flush()
    }
}

/// Percent-decodes a path segment (`%2F` becomes `/`). `+` is left alone: it
/// only means a space in form data, not in paths.
///
/// # Errors
/// A `%` not followed by two hex digits, or decoded bytes that are not UTF-8.
pub fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).unwrap_or(&[]);
            let digits = std::str::from_utf8(hex)
                .ok()
                .filter(|h| h.len() == 2 && h.bytes().all(|b| b.is_ascii_hexdigit()));
            let Some(digits) = digits else {
                return Err(format!(
                    "bad escape at offset {i} of {s:?}: '%' must be followed by two hex digits"
                ));
            };
            // Two hex digits always fit a u8; no unwrap on peer bytes anyway.
            let byte = u8::from_str_radix(digits, 16).map_err(|e| e.to_string())?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} does not decode to UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use std::io::{self, BufReader, Cursor};

    const HEAD: &[u8] = b"GET /api/v1/jobs?state=running&n=2 HTTP/1.1\r\n\
        Host: 127.0.0.1:7000\r\n\
        User-Agent:   curl/8.5.0  \r\n\
        Accept: */*\r\n\
        \r\n";

    fn parse(bytes: &[u8]) -> Result<Request, BadRequest> {
        read_request(&mut Cursor::new(bytes))
    }

    #[test]
    fn well_formed_get_is_parsed() {
        let req = parse(HEAD).unwrap();
        assert_eq!(
            req,
            Request {
                method: "GET".into(),
                path: "/api/v1/jobs".into(),
                query: "state=running&n=2".into(),
                version: "HTTP/1.1".into(),
                headers: vec![
                    ("host".into(), "127.0.0.1:7000".into()),
                    ("user-agent".into(), "curl/8.5.0".into()),
                    ("accept".into(), "*/*".into()),
                ],
            }
        );
        assert_eq!(req.header("user-agent"), Some("curl/8.5.0"));
        assert_eq!(req.header("cookie"), None);
    }

    #[test]
    fn header_names_are_lowercased_and_empty_values_kept() {
        let req = parse(b"HEAD / HTTP/1.0\r\nX-Mixed-CASE:\r\nHOST:h\r\n\r\n").unwrap();
        assert_eq!(req.method, "HEAD");
        assert_eq!(req.version, "HTTP/1.0");
        assert_eq!(req.path, "/");
        assert_eq!(req.query, "");
        assert_eq!(
            req.headers,
            vec![
                ("x-mixed-case".to_string(), String::new()),
                ("host".to_string(), "h".to_string())
            ]
        );
    }

    #[test]
    fn bare_lf_line_ends_are_accepted() {
        let bare: Vec<u8> = HEAD.iter().copied().filter(|&b| b != b'\r').collect();
        assert_eq!(parse(&bare), parse(HEAD));
        assert!(parse(&bare).is_ok());
    }

    #[test]
    fn leading_empty_lines_are_skipped() {
        let mut bytes = b"\r\n\n".to_vec();
        bytes.extend_from_slice(HEAD);
        assert_eq!(parse(&bytes), parse(HEAD));
    }

    #[test]
    fn the_body_is_left_unread() {
        let mut bytes = b"POST /x HTTP/1.1\r\nContent-Length: 4\r\n\r\n".to_vec();
        bytes.extend_from_slice(b"body");
        let mut cursor = Cursor::new(bytes);
        assert_eq!(read_request(&mut cursor).unwrap().method, "POST");
        let mut rest = String::new();
        cursor.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "body");
    }

    #[test]
    fn every_truncated_prefix_is_closed() {
        for cut in 0..HEAD.len() {
            assert_eq!(parse(&HEAD[..cut]), Err(BadRequest::Closed), "prefix {cut}");
        }
        assert!(parse(HEAD).is_ok());
    }

    /// An endless stream: `start` once, then `pattern` over and over,
    /// counting the bytes handed out.
    struct Endless {
        start: &'static [u8],
        pattern: &'static [u8],
        served: usize,
    }

    impl Read for Endless {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            for b in out.iter_mut() {
                *b = match self.start.get(self.served) {
                    Some(&b) => b,
                    None => {
                        let i = (self.served - self.start.len()) % self.pattern.len();
                        self.pattern[i]
                    }
                };
                self.served += 1;
            }
            Ok(out.len())
        }
    }

    #[test]
    fn an_endless_head_is_too_large_without_reading_far_past_the_limit() {
        const CAPACITY: usize = 512;
        // One endless request line, then endless header lines after a good
        // request line.
        let streams: [(&[u8], &[u8]); 2] = [
            (b"GET /", b"aaaaaaaa"),
            (b"GET / HTTP/1.1\r\n", b"X-Pad: aaaaaaaa\r\n"),
        ];
        for (start, pattern) in streams {
            let endless = Endless {
                start,
                pattern,
                served: 0,
            };
            let mut reader = BufReader::with_capacity(CAPACITY, endless);
            assert_eq!(read_request(&mut reader), Err(BadRequest::TooLarge));
            let served = reader.get_ref().served;
            assert!(
                served <= MAX_REQUEST_HEAD_BYTES + CAPACITY,
                "read {served} bytes"
            );
        }
    }

    #[test]
    fn a_head_of_exactly_the_limit_is_accepted_and_one_more_byte_is_not() {
        let start = b"GET / HTTP/1.1\r\nX-Pad: ";
        let end = b"\r\n\r\n";
        let pad = MAX_REQUEST_HEAD_BYTES - start.len() - end.len();
        let mut exact = start.to_vec();
        exact.extend(std::iter::repeat_n(b'a', pad));
        exact.extend_from_slice(end);
        assert_eq!(exact.len(), MAX_REQUEST_HEAD_BYTES);
        assert_eq!(parse(&exact).unwrap().headers[0].1.len(), pad);

        let mut over = start.to_vec();
        over.extend(std::iter::repeat_n(b'a', pad + 1));
        over.extend_from_slice(end);
        assert_eq!(parse(&over), Err(BadRequest::TooLarge));
    }

    #[test]
    fn garbage_request_lines_are_malformed() {
        let cases: &[&[u8]] = &[
            b"GET\r\n\r\n",
            b"GET /\r\n\r\n",
            b"/ HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1 extra\r\n\r\n",
            b"GET  / HTTP/1.1\r\n\r\n",
            b" GET / HTTP/1.1\r\n\r\n",
            b"GET\t/ HTTP/1.1\r\n\r\n",
            b"GET index.html HTTP/1.1\r\n\r\n",
            b"GET * HTTP/1.1\r\n\r\n",
            b"GET http://host/ HTTP/1.1\r\n\r\n",
            b"GET / FTP/1.1\r\n\r\n",
            b"GET / http/1.1\r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
            b"GET /\x01 HTTP/1.1\r\n\r\n",
            b"GET /\x7f HTTP/1.1\r\n\r\n",
            b"GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\r\n\r\n",
            b"\x16\x03\x01\x02\x00\n\n",
            b"\xff\xfe\xfd\n\n",
        ];
        for case in cases {
            match parse(case) {
                Err(BadRequest::Malformed(_)) => {}
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(case)),
            }
        }
    }

    #[test]
    fn garbage_header_lines_are_malformed() {
        let cases: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\nHost x\r\n\r\n",
            b"GET / HTTP/1.1\r\n: no name\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad Name: v\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost : v\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: x\x00y\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: x\ry\r\n\r\n",
        ];
        for case in cases {
            match parse(case) {
                Err(BadRequest::Malformed(_)) => {}
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(case)),
            }
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        const ALPHABET: &[u8] = b"\r\n :/?%GET HTTP/1.1";
        let mut rng = Rng::new(11);
        for _ in 0..20_000 {
            let len = rng.below(80) as usize;
            let mut bytes: Vec<u8> = (0..len)
                .map(|_| match rng.below(4) {
                    0 => ALPHABET[rng.below(ALPHABET.len() as u64) as usize],
                    _ => rng.next_u64() as u8,
                })
                .collect();
            // Half the time start with a valid request line so the fuzz
            // reaches the header parser.
            if rng.below(2) == 0 {
                bytes.splice(0..0, b"GET / HTTP/1.1\r\n".iter().copied());
            }
            let _ = parse(&bytes);
            let _ = percent_decode(&String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn only_http_1_0_and_1_1_are_spoken() {
        for version in ["HTTP/2.0", "HTTP/2", "HTTP/1.2", "HTTP/0.9", "HTTP/1.10"] {
            let head = format!("GET / {version}\r\n\r\n");
            match parse(head.as_bytes()) {
                Err(BadRequest::Malformed(why)) => assert!(why.contains("version"), "{why}"),
                other => panic!("{version}: {other:?}"),
            }
        }
    }

    #[test]
    fn looks_like_http_truth_table() {
        let yes: &[&[u8]] = &[
            b"GET ",
            b"GET /",
            b"HEAD / HTTP/1.1",
            b"POST ",
            b"PUT /x",
            b"DELETE /jobs/1",
            b"OPTIONS *",
            b"PATCH /",
            b"GET",
            b"HEA",
            b"HEAD",
            b"DEL",
            b"DELET",
            b"OPTION",
            b"PAT",
            b"POS",
            b"PUT",
        ];
        let no: &[&[u8]] = &[
            b"",
            b"G",
            b"GE",
            b"PU",
            b"get ",
            b"GETX",
            b"GET/",
            b"HELP\n",
            b"HEL",
            b"WORKERS\n",
            b"STATUS\n",
            b"JOBS\n",
            b"QUIT\n",
            b"PUTS",
            b"CONNECT host:443 HTTP/1.1",
            &[0xA7, 0x53, 0x01, 0x02],
        ];
        for first in yes {
            assert!(
                looks_like_http(first),
                "{:?}",
                String::from_utf8_lossy(first)
            );
        }
        for first in no {
            assert!(
                !looks_like_http(first),
                "{:?}",
                String::from_utf8_lossy(first)
            );
        }
    }

    #[test]
    fn a_404_is_written_byte_for_byte() {
        let mut out = Vec::new();
        Response::error(404, "no job 9")
            .write_to(&mut out, false)
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 404 Not Found\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 23\r\n\
             Connection: close\r\n\
             Cache-Control: no-store\r\n\
             \r\n\
             404 Not Found\n\
             no job 9\n"
        );
    }

    #[test]
    fn head_only_keeps_the_length_and_drops_the_body() {
        let mut response = Response::json("[1,2]".to_string());
        response
            .headers
            .push(("Access-Control-Allow-Origin", "*".to_string()));
        let mut out = Vec::new();
        response.write_to(&mut out, true).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\n\
             Content-Type: application/json\r\n\
             Content-Length: 5\r\n\
             Connection: close\r\n\
             Cache-Control: no-store\r\n\
             Access-Control-Allow-Origin: *\r\n\
             \r\n"
        );
    }

    #[test]
    fn extra_header_values_cannot_inject_lines() {
        let mut response = Response::html("<p>hi</p>".to_string());
        response
            .headers
            .push(("Location", "/x\r\nSet-Cookie: a=b".to_string()));
        let mut out = Vec::new();
        response.write_to(&mut out, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Location: /x  Set-Cookie: a=b\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\n<p>hi</p>"), "{text}");
    }

    #[test]
    fn constructors_and_reasons() {
        assert_eq!(
            Response::html(String::new()).content_type,
            "text/html; charset=utf-8"
        );
        assert_eq!(Response::svg(String::new()).content_type, "image/svg+xml");
        assert_eq!(Response::json(String::new()).status, 200);
        let cases = [
            (200, "OK"),
            (400, "Bad Request"),
            (404, "Not Found"),
            (405, "Method Not Allowed"),
            (413, "Payload Too Large"),
            (431, "Request Header Fields Too Large"),
            (500, "Internal Server Error"),
            (418, "Unknown"),
        ];
        for (status, reason) in cases {
            assert_eq!(Response::reason(status), reason);
        }
        assert_eq!(
            Response::error(500, "boom").body,
            b"500 Internal Server Error\nboom\n"
        );
    }

    #[test]
    fn percent_decode_cases() {
        assert_eq!(percent_decode("plain").as_deref(), Ok("plain"));
        assert_eq!(percent_decode("").as_deref(), Ok(""));
        assert_eq!(percent_decode("a%2Fb").as_deref(), Ok("a/b"));
        assert_eq!(percent_decode("a%2fb").as_deref(), Ok("a/b"));
        assert_eq!(percent_decode("%20%25").as_deref(), Ok(" %"));
        assert_eq!(percent_decode("a+b").as_deref(), Ok("a+b"));
        assert_eq!(percent_decode("caf%C3%A9").as_deref(), Ok("café"));
        assert_eq!(percent_decode("é").as_deref(), Ok("é"));
        for bad in [
            "%", "%2", "a%", "%zz", "%2g", "%%20", "%+1", "%C3", "%FF", "%é1",
        ] {
            assert!(percent_decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_request_messages_read_well() {
        assert!(BadRequest::TooLarge.to_string().contains("8192"));
        assert!(BadRequest::Closed.to_string().contains("closed"));
        let err = parse(b"GET / HTTP/2.0\r\n\r\n").unwrap_err();
        assert!(err.to_string().contains("HTTP/2.0"), "{err}");
    }
}
