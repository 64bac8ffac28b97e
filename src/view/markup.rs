//! Markup: the one escaper for the master's HTML page and the SVG
//! timeline, and the well-formedness check that every page and picture is
//! held to.
//!
//! Text from jobs (file names, errors, operator chains) ends up inside
//! markup, so it is escaped at the one place where it is written into a
//! tag or between tags. `well_formed` is what the unit tests of the
//! timeline and the integration tests of the web page check their output
//! with: a browser forgives broken markup, a test should not.

/// Escapes text for HTML and XML (the page, and the SVG timeline): the
/// five special characters become references, and the characters XML 1.0
/// does not allow (controls below space but tab, newline, return; U+FFFE,
/// U+FFFF) become U+FFFD. Safe in element text and in quoted attribute
/// values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A small XML well-formedness check, enough for what this crate writes:
/// elements properly nested, attribute values quoted and not repeated,
/// no raw `&`, `<` or `>` in text or values except as references, no
/// control characters, one root element.
pub fn well_formed(doc: &str) -> Result<(), String> {
    let chars: Vec<char> = doc.chars().collect();
    let mut open: Vec<String> = Vec::new();
    let mut roots = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '<' {
            let (next, name, closing, empty) = check_tag(&chars, i)?;
            if closing {
                match open.pop() {
                    Some(top) if top == name => {}
                    top => return Err(format!("</{name}> at {i} closes {top:?}")),
                }
            } else {
                if open.is_empty() {
                    roots += 1;
                }
                if !empty {
                    open.push(name);
                }
            }
            i = next;
            continue;
        }
        if open.is_empty() && !c.is_whitespace() {
            return Err(format!("text {c:?} outside the root at {i}"));
        }
        i = check_char(&chars, i, '<')?;
    }
    match (roots, open.is_empty()) {
        (1, true) => Ok(()),
        (1, false) => Err(format!("unclosed elements {open:?}")),
        _ => Err(format!("{roots} root elements")),
    }
}

/// Checks the tag starting at `chars[at] == '<'`. Returns the index after
/// it, its name, whether it is a closing tag and whether it is empty (`/>`).
fn check_tag(chars: &[char], at: usize) -> Result<(usize, String, bool, bool), String> {
    let mut i = at + 1;
    let closing = chars.get(i) == Some(&'/');
    if closing {
        i += 1;
    }
    let name = take_name(chars, &mut i);
    if name.is_empty() {
        return Err(format!("tag without a name at {at}"));
    }
    let mut seen = Vec::new();
    loop {
        let spaced = skip_space(chars, &mut i);
        match chars.get(i) {
            Some('>') => return Ok((i + 1, name, closing, false)),
            Some('/') if !closing && chars.get(i + 1) == Some(&'>') => {
                return Ok((i + 2, name, closing, true))
            }
            Some(_) if !closing && spaced => {
                let attr = take_name(chars, &mut i);
                if attr.is_empty() || chars.get(i) != Some(&'=') {
                    return Err(format!("bad attribute in <{name}> at {i}"));
                }
                if seen.contains(&attr) {
                    return Err(format!("attribute {attr} twice in <{name}>"));
                }
                seen.push(attr);
                i += 1;
                if chars.get(i) != Some(&'"') {
                    return Err(format!("unquoted value in <{name}> at {i}"));
                }
                i += 1;
                while chars.get(i) != Some(&'"') {
                    if i >= chars.len() {
                        return Err(format!("unterminated value in <{name}>"));
                    }
                    i = check_char(chars, i, '"')?;
                }
                i += 1;
            }
            _ => return Err(format!("malformed <{name}> at {i}")),
        }
    }
}

/// Checks one character of text or of a value (ended by `end`), reading a
/// whole reference if it is one. Returns the index after it.
fn check_char(chars: &[char], i: usize, end: char) -> Result<usize, String> {
    match chars[i] {
        '&' => {
            let rest: String = chars[i + 1..].iter().take(10).collect();
            let Some(semi) = rest.find(';') else {
                return Err(format!("raw & at {i}"));
            };
            let name = &rest[..semi];
            let numeric = name
                .strip_prefix('#')
                .is_some_and(|n| !n.is_empty() && n.chars().all(|d| d.is_ascii_digit()));
            if ["amp", "lt", "gt", "quot", "apos"].contains(&name) || numeric {
                Ok(i + 1 + rest[..=semi].chars().count())
            } else {
                Err(format!("unknown reference &{name}; at {i}"))
            }
        }
        '<' | '>' => Err(format!("raw {:?} at {i}", chars[i])),
        c if c == end => Err(format!("raw {c:?} at {i}")),
        c if c < ' ' && !matches!(c, '\t' | '\n' | '\r') => {
            Err(format!("control character {c:?} at {i}"))
        }
        _ => Ok(i + 1),
    }
}

fn take_name(chars: &[char], i: &mut usize) -> String {
    let mut name = String::new();
    while let Some(&c) = chars.get(*i) {
        if !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.')) {
            break;
        }
        name.push(c);
        *i += 1;
    }
    name
}

fn skip_space(chars: &[char], i: &mut usize) -> bool {
    let before = *i;
    while chars.get(*i).is_some_and(|c| c.is_whitespace()) {
        *i += 1;
    }
    *i > before
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escape_cases() {
        assert_eq!(html_escape("plain text é"), "plain text é");
        assert_eq!(
            html_escape(r#"<a href="x?a=1&b='2'">"#),
            "&lt;a href=&quot;x?a=1&amp;b=&#39;2&#39;&quot;&gt;"
        );
        assert_eq!(html_escape("&amp;"), "&amp;amp;");
    }

    #[test]
    fn the_checker_catches_broken_xml() {
        assert!(well_formed(r#"<a><b x="1"/>t &amp; &#39;</a>"#).is_ok());
        for bad in [
            "<a><b></a></b>",
            "<a>",
            "<a x=1/>",
            r#"<a x="1" x="2"/>"#,
            r#"<a x="<"/>"#,
            "<a>&</a>",
            "<a>&bogus;</a>",
            "<a>1 < 2</a>",
            "<a/><b/>",
            "<a>\u{1}</a>",
        ] {
            assert!(well_formed(bad).is_err(), "{bad}");
        }
    }
}
