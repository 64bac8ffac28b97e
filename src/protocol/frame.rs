//! The frame: the unit of every binary message on the wire, and its codec.
//!
//! OS idea: a TCP socket is a byte stream, not a message stream. One `read`
//! may return half a frame or three frames; framing is how a receiver finds
//! message boundaries again. Each frame says how long it is up front, so the
//! receiver knows how many more bytes to wait for, and carries a CRC so a
//! corrupted or misaligned stream is caught instead of misread.
//!
//! # Format
//!
//! ```text
//!  0       2         3        4                  8                8+len      12+len
//!  +-------+---------+--------+------------------+----------------+----------+
//!  | magic | version | type   | payload length   | payload        | crc32    |
//!  | A7 53 | 01      | u8     | u32 big-endian   | `length` bytes | u32 BE   |
//!  +-------+---------+--------+------------------+----------------+----------+
//! ```
//!
//! * 2 bytes: magic `A7 53` ("§S"); its first byte is not ASCII, which is how
//!   the master tells a binary session from a netcat text session.
//! * 1 byte: protocol version, currently 1.
//! * 1 byte: message type (see `message::MsgType`).
//! * 4 bytes: payload length, not counting header or CRC, at most `MAX_FRAME_LEN`.
//! * `length` bytes: the payload, laid out per message type.
//! * 4 bytes: CRC-32 (IEEE) of every byte before it: header and payload.
//!
//! The decoder is split in two, as in mini-redis: `check` looks at the bytes
//! buffered so far and says whether a whole valid frame is there, and `parse`
//! builds it. "Not enough bytes yet" is `FrameError::Incomplete`, never an
//! error; anything that can never become a valid frame is `Invalid`, detected
//! as early as the bytes allow (a bad magic is refused on its first byte, an
//! oversized length before a single payload byte is buffered).

use std::fmt;

use byteorder::{BigEndian, ByteOrder};

use crate::protocol::message::MsgType;

/// The two bytes every frame starts with.
pub const MAGIC: [u8; 2] = [0xA7, 0x53];
/// The protocol version this build speaks.
pub const VERSION: u8 = 1;
/// Largest payload a frame may carry, in bytes (16 MiB).
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

// Byte offsets of the header fields, chained so none is a magic number.
const MAGIC_AT: usize = 0;
const VERSION_AT: usize = MAGIC_AT + MAGIC.len();
const TYPE_AT: usize = VERSION_AT + 1;
const LENGTH_AT: usize = TYPE_AT + 1;
/// Bytes before the payload.
pub const HEADER_LEN: usize = LENGTH_AT + 4;
/// Bytes after the payload.
pub const CRC_LEN: usize = 4;
/// The largest frame on the wire, header and CRC included.
pub const MAX_WIRE_LEN: usize = HEADER_LEN + MAX_FRAME_LEN + CRC_LEN;

/// One decoded frame: a message type and its still-encoded payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub msg_type: MsgType,
    pub payload: Vec<u8>,
}

/// Why bytes could not be decoded (yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The bytes so far are a valid prefix; wait for more.
    Incomplete,
    /// The bytes can never become a valid frame.
    Invalid(Invalid),
}

/// Ways a byte stream fails to be a frame. Every variant has a readable reason
/// because it is sent back to the peer in an `Error` frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    BadMagic(u8),
    BadVersion(u8),
    UnknownType(u8),
    TooLong(u64),
    BadCrc {
        expected: u32,
        actual: u32,
    },
    /// The frame is intact but its payload does not match its type's layout.
    Malformed {
        /// What the payload is, for the message: a message type's name, or
        /// `journal entry`.
        what: &'static str,
        reason: String,
    },
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::BadMagic(b) => write!(
                f,
                "bad magic byte 0x{b:02X} (frames start with A7 53; text commands start with a letter)"
            ),
            Invalid::BadVersion(v) => {
                write!(f, "unsupported protocol version {v} (this build speaks {VERSION})")
            }
            Invalid::UnknownType(t) => write!(f, "unknown message type 0x{t:02X}"),
            Invalid::TooLong(n) => {
                write!(f, "payload length {n} exceeds MAX_FRAME_LEN {MAX_FRAME_LEN}")
            }
            Invalid::BadCrc { expected, actual } => write!(
                f,
                "CRC mismatch: frame says 0x{expected:08X}, bytes give 0x{actual:08X}"
            ),
            Invalid::Malformed { what, reason } => write!(f, "malformed {what} payload: {reason}"),
        }
    }
}

impl From<Invalid> for FrameError {
    fn from(invalid: Invalid) -> FrameError {
        FrameError::Invalid(invalid)
    }
}

/// Checks whether `buf` starts with a whole, valid frame.
///
/// Returns the frame's total length on the wire. Validates each header field
/// as soon as it is buffered, so a peer can never make the receiver wait for
/// (or allocate) a payload longer than `MAX_FRAME_LEN`.
///
/// # Errors
/// `Incomplete` when `buf` is a valid prefix of a frame, `Invalid` otherwise.
pub fn check(buf: &[u8]) -> Result<usize, FrameError> {
    for (i, &expected) in MAGIC.iter().enumerate() {
        match buf.get(MAGIC_AT + i) {
            None => return Err(FrameError::Incomplete),
            Some(&b) if b != expected => return Err(Invalid::BadMagic(b).into()),
            Some(_) => {}
        }
    }
    match buf.get(VERSION_AT) {
        None => return Err(FrameError::Incomplete),
        Some(&v) if v != VERSION => return Err(Invalid::BadVersion(v).into()),
        Some(_) => {}
    }
    match buf.get(TYPE_AT) {
        None => return Err(FrameError::Incomplete),
        Some(&t) if MsgType::from_byte(t).is_none() => return Err(Invalid::UnknownType(t).into()),
        Some(_) => {}
    }
    if buf.len() < HEADER_LEN {
        return Err(FrameError::Incomplete);
    }
    let len = BigEndian::read_u32(&buf[LENGTH_AT..HEADER_LEN]) as usize;
    if len > MAX_FRAME_LEN {
        return Err(Invalid::TooLong(len as u64).into());
    }
    let total = HEADER_LEN + len + CRC_LEN;
    if buf.len() < total {
        return Err(FrameError::Incomplete);
    }
    let crc_at = HEADER_LEN + len;
    let expected = BigEndian::read_u32(&buf[crc_at..total]);
    let actual = crc32fast::hash(&buf[..crc_at]);
    if expected != actual {
        return Err(Invalid::BadCrc { expected, actual }.into());
    }
    Ok(total)
}

/// Decodes the frame at the start of `buf`; returns it and its length on the wire.
///
/// # Errors
/// As `check`.
pub fn parse(buf: &[u8]) -> Result<(Frame, usize), FrameError> {
    let total = check(buf)?;
    // `check` validated the type byte, so this lookup cannot fail; still, no
    // unwrap on peer bytes.
    let msg_type = MsgType::from_byte(buf[TYPE_AT]).ok_or(Invalid::UnknownType(buf[TYPE_AT]))?;
    let payload = buf[HEADER_LEN..total - CRC_LEN].to_vec();
    Ok((Frame { msg_type, payload }, total))
}

/// Appends one frame carrying `payload` to `out`.
///
/// # Panics
/// If `payload` is longer than `MAX_FRAME_LEN`: that is a bug in the sender,
/// which must split large data into several messages.
pub fn encode(msg_type: MsgType, payload: &[u8], out: &mut Vec<u8>) {
    assert!(
        payload.len() <= MAX_FRAME_LEN,
        "payload of {} bytes exceeds MAX_FRAME_LEN",
        payload.len()
    );
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(msg_type as u8);
    let mut len = [0u8; 4];
    BigEndian::write_u32(&mut len, payload.len() as u32);
    out.extend_from_slice(&len);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out[start..]);
    let mut crc_bytes = [0u8; 4];
    BigEndian::write_u32(&mut crc_bytes, crc);
    out.extend_from_slice(&crc_bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn sample() -> Vec<u8> {
        let mut out = Vec::new();
        encode(MsgType::Ping, &[0, 0, 0, 0, 0, 0, 0, 42], &mut out);
        out
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        let (frame, n) = parse(&bytes).unwrap();
        assert_eq!(n, bytes.len());
        assert_eq!(frame.msg_type, MsgType::Ping);
        assert_eq!(frame.payload, vec![0, 0, 0, 0, 0, 0, 0, 42]);
    }

    /// The bytes other programs send (`protocol.md`'s `Ping nonce=42`):
    /// the length field is big-endian, network byte order, whatever the
    /// byte order of the machine. A codec that gets it wrong on both sides
    /// still round-trips with itself, so this test uses bytes from outside.
    #[test]
    fn the_length_prefix_is_big_endian_on_the_wire() {
        const PING_42: [u8; 20] = [
            0xa7, 0x53, 0x01, 0x04, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x2a, 0xf8, 0xb1, 0x4b, 0xcc,
        ];
        assert_eq!(sample(), PING_42, "encode");
        assert_eq!(check(&PING_42), Ok(PING_42.len()), "decode");
        // A frame announcing 258 payload bytes (00 00 01 02) wants exactly
        // that many, and the CRC, before it is whole.
        let mut header = PING_42[..LENGTH_AT].to_vec();
        header.extend_from_slice(&[0x00, 0x00, 0x01, 0x02]);
        let mut bytes = header.clone();
        bytes.resize(HEADER_LEN + 258 + CRC_LEN - 1, 0);
        assert_eq!(check(&bytes), Err(FrameError::Incomplete));
        let crc = crc32fast::hash(&bytes[..HEADER_LEN + 258]);
        bytes.truncate(HEADER_LEN + 258);
        bytes.extend_from_slice(&crc.to_be_bytes());
        assert_eq!(check(&bytes), Ok(HEADER_LEN + 258 + CRC_LEN));
    }

    #[test]
    fn every_truncated_prefix_is_incomplete() {
        let bytes = sample();
        for cut in 0..bytes.len() {
            assert_eq!(
                check(&bytes[..cut]),
                Err(FrameError::Incomplete),
                "prefix {cut}"
            );
        }
    }

    #[test]
    fn two_frames_back_to_back_parse_one_at_a_time() {
        let mut bytes = sample();
        encode(MsgType::Pong, &[1; 8], &mut bytes);
        let (first, n) = parse(&bytes).unwrap();
        assert_eq!(first.msg_type, MsgType::Ping);
        let (second, m) = parse(&bytes[n..]).unwrap();
        assert_eq!(second.msg_type, MsgType::Pong);
        assert_eq!(n + m, bytes.len());
    }

    #[test]
    fn flipped_payload_or_crc_bits_fail_the_crc() {
        let bytes = sample();
        for byte in HEADER_LEN..bytes.len() {
            for bit in 0..8 {
                let mut bad = bytes.clone();
                bad[byte] ^= 1 << bit;
                match check(&bad) {
                    Err(FrameError::Invalid(Invalid::BadCrc { .. })) => {}
                    other => panic!("byte {byte} bit {bit}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn flipped_header_bits_never_decode() {
        let bytes = sample();
        for byte in 0..HEADER_LEN {
            for bit in 0..8 {
                let mut bad = bytes.clone();
                bad[byte] ^= 1 << bit;
                // A longer length is merely Incomplete; everything else is Invalid.
                assert!(parse(&bad).is_err(), "byte {byte} bit {bit} decoded");
            }
        }
    }

    #[test]
    fn oversized_length_is_rejected_from_the_header_alone() {
        let mut header = vec![MAGIC[0], MAGIC[1], VERSION, MsgType::Ping as u8];
        header.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            check(&header),
            Err(FrameError::Invalid(Invalid::TooLong(u32::MAX as u64)))
        );
        let mut just_over = header[..LENGTH_AT].to_vec();
        just_over.extend_from_slice(&((MAX_FRAME_LEN + 1) as u32).to_be_bytes());
        assert!(matches!(
            check(&just_over),
            Err(FrameError::Invalid(Invalid::TooLong(_)))
        ));
    }

    #[test]
    fn bad_magic_version_and_type_are_caught_early() {
        assert_eq!(
            check(b"H"),
            Err(FrameError::Invalid(Invalid::BadMagic(b'H')))
        );
        assert_eq!(
            check(&[0xA7, 0x54]),
            Err(FrameError::Invalid(Invalid::BadMagic(0x54)))
        );
        assert_eq!(
            check(&[0xA7, 0x53, 9]),
            Err(FrameError::Invalid(Invalid::BadVersion(9)))
        );
        assert_eq!(
            check(&[0xA7, 0x53, 1, 0xEE]),
            Err(FrameError::Invalid(Invalid::UnknownType(0xEE)))
        );
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = Rng::new(7);
        for _ in 0..20_000 {
            let len = rng.below(64) as usize;
            let mut buf: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            // Half the time start with a valid magic and version so the fuzz
            // reaches the length, CRC and payload checks.
            if len >= 3 && rng.below(2) == 0 {
                buf[..3].copy_from_slice(&[MAGIC[0], MAGIC[1], VERSION]);
            }
            let _ = parse(&buf);
        }
    }
}
