//! Keeps `protocol.md` true: every hex example in it must decode with the
//! engine's own codec and re-encode to the same bytes, and every message type
//! must have a section with an example. Guards against a document that
//! drifts from the code.

use std::collections::BTreeSet;

use minispark::protocol::{from_hex, Message, MsgType};

fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/protocol.md"))
        .expect("reading protocol.md")
}

/// The contents of every ```hex fenced block, with the line it starts on.
fn hex_blocks(doc: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in doc.lines().enumerate() {
        let trimmed = line.trim();
        match &mut current {
            None if trimmed == "```hex" => current = Some((i + 1, String::new())),
            Some(_) if trimmed == "```" => blocks.push(current.take().unwrap()),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    assert!(current.is_none(), "unterminated ```hex block");
    blocks
}

#[test]
fn every_hex_example_decodes_and_re_encodes_identically() {
    let doc = doc();
    let blocks = hex_blocks(&doc);
    assert!(!blocks.is_empty(), "no hex examples found");
    let mut seen = BTreeSet::new();
    for (line, text) in blocks {
        let bytes = from_hex(&text).unwrap_or_else(|e| panic!("protocol.md:{line}: {e}"));
        let (msg, used) = Message::parse(&bytes)
            .unwrap_or_else(|e| panic!("protocol.md:{line}: does not decode: {e:?}"));
        assert_eq!(
            used,
            bytes.len(),
            "protocol.md:{line}: bytes after the frame"
        );
        assert_eq!(
            msg.to_frame_bytes(),
            bytes,
            "protocol.md:{line}: re-encodes differently"
        );
        seen.insert(msg.msg_type());
    }
    for t in MsgType::ALL {
        assert!(
            seen.contains(t),
            "protocol.md has no hex example of {}",
            t.name()
        );
    }
}

#[test]
fn every_message_type_has_a_section_and_a_table_row() {
    let doc = doc();
    for t in MsgType::ALL {
        let heading = format!("### 0x{:02X} {}", *t as u8, t.name());
        assert!(
            doc.contains(&heading),
            "protocol.md lacks the heading {heading:?}"
        );
        let row = format!("| `0x{:02X}` | [{}]", *t as u8, t.name());
        assert!(
            doc.contains(&row),
            "protocol.md's message table lacks {row:?}"
        );
        for field in t.field_names() {
            assert!(
                doc.contains(&format!("| `{field}` |")),
                "protocol.md does not describe field `{field}` of {}",
                t.name()
            );
        }
    }
}
