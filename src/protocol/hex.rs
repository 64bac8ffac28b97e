//! Hex text for people: how `tools/frame.rs` shows frames and how
//! `protocol.md` writes its examples.

/// Bytes as lowercase hex pairs separated by spaces.
pub fn to_hex(bytes: &[u8]) -> String {
    let parts: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(" ")
}

/// Reads hex digits, ignoring whitespace and `#` comments to the end of a line.
///
/// # Errors
/// A message naming the offending digits.
pub fn from_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.bytes().filter(|c| !c.is_ascii_whitespace()))
        .collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits ({})", digits.len()));
    }
    digits
        .chunks(2)
        .map(|pair| {
            let s = String::from_utf8_lossy(pair);
            u8::from_str_radix(&s, 16).map_err(|_| format!("not hex: {s:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_comments() {
        assert_eq!(to_hex(&[0xa7, 0x53, 1]), "a7 53 01");
        assert_eq!(from_hex("a7 53 # magic\n01\n"), Ok(vec![0xa7, 0x53, 1]));
        assert!(from_hex("a7 5").is_err());
        assert!(from_hex("zz").is_err());
        assert!(from_hex("é1").is_err());
    }
}
