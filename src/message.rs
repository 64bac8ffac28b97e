//! The message set: every kind of frame, its type byte and its fields.
//!
//! OS idea: a protocol is a contract between processes that share no memory.
//! The table below is that contract; `protocol.md` describes the same table
//! for people, and a test decodes every example in that document with this
//! code so the two cannot drift apart.
//!
//! Each message is a line in the `messages!` table: name, type byte, and its
//! fields in wire order. The macro writes the encoder, the decoder and the
//! `key=value` text form (used by logs and `tools/frame.rs`) from that line,
//! so adding a message is adding a line. Type bytes are grouped by who talks:
//! `0x0_` membership, `0x1_` client queries, `0x7F` errors; later groups
//! (jobs, tasks, shuffle) take the next ranges.

use std::collections::BTreeMap;
use std::fmt;

use crate::frame::{self, Frame, FrameError, Invalid};
use crate::wire::{Field, PayloadReader};

macro_rules! messages {
    ($(
        $(#[$doc:meta])*
        $name:ident = $code:literal { $($field:ident : $ty:ty),* $(,)? }
    ),* $(,)?) => {
        /// The type byte of a frame.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum MsgType { $($name = $code),* }

        impl MsgType {
            /// Every message type, in table order.
            pub const ALL: &'static [MsgType] = &[$(MsgType::$name),*];

            pub fn from_byte(b: u8) -> Option<MsgType> {
                match b {
                    $($code => Some(MsgType::$name),)*
                    _ => None,
                }
            }

            pub fn name(self) -> &'static str {
                match self { $(MsgType::$name => stringify!($name)),* }
            }

            /// Looks a type up by name, ignoring case.
            pub fn from_name(name: &str) -> Option<MsgType> {
                MsgType::ALL.iter().copied().find(|t| t.name().eq_ignore_ascii_case(name))
            }

            /// The field names, in wire order.
            pub fn field_names(self) -> &'static [&'static str] {
                match self { $(MsgType::$name => &[$(stringify!($field)),*]),* }
            }
        }

        /// A decoded message.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Message {
            $( $(#[$doc])* $name { $($field: $ty),* } ),*
        }

        impl Message {
            pub fn msg_type(&self) -> MsgType {
                match self { $(Message::$name { .. } => MsgType::$name),* }
            }

            fn put_payload(&self, out: &mut Vec<u8>) {
                match self {
                    $(Message::$name { $($field),* } => { $(Field::put($field, out);)* })*
                }
            }

            fn get_payload(t: MsgType, r: &mut PayloadReader<'_>) -> Result<Message, Invalid> {
                match t {
                    $(MsgType::$name => Ok(Message::$name {
                        $($field: <$ty as Field>::get(r, stringify!($field))?),*
                    }),)*
                }
            }

            /// The fields as `(name, text)` pairs, in wire order.
            pub fn fields(&self) -> Vec<(&'static str, String)> {
                match self {
                    $(Message::$name { $($field),* } => vec![$((stringify!($field), Field::show($field))),*],)*
                }
            }

            fn from_field_map(
                t: MsgType,
                map: &mut BTreeMap<String, String>,
            ) -> Result<Message, String> {
                match t {
                    $(MsgType::$name => Ok(Message::$name {
                        $($field: {
                            let name = stringify!($field);
                            let text = map.remove(name).ok_or_else(|| format!("missing field `{name}`"))?;
                            <$ty as Field>::parse_text(&text)
                                .ok_or_else(|| format!("field `{name}`: cannot read {text:?} as {}", stringify!($ty)))?
                        }),*
                    }),)*
                }
            }
        }
    };
}

messages! {
    /// Worker -> master, first frame of a worker session. `data_addr` is where
    /// the worker serves data to its peers; `prev_id` is the id it held
    /// before a reconnect, or 0 on a fresh start.
    Register = 0x01 { data_addr: String, slots: u32, memory_bytes: u64, prev_id: u32 },
    /// Master -> worker: registration accepted, this is your id.
    RegisterAck = 0x02 { worker_id: u32 },
    /// Worker -> master, every `--heartbeat-ms`: still alive.
    Heartbeat = 0x03 { worker_id: u32 },
    /// Anyone -> master or a worker's data port: are you there?
    Ping = 0x04 { nonce: u64 },
    /// Reply to `Ping`, echoing its nonce.
    Pong = 0x05 { nonce: u64 },
    /// Client -> master: list the workers.
    ListWorkers = 0x10 {},
    /// Master -> client: every worker the master knows, alive or dead.
    WorkerList = 0x11 { workers: Vec<WorkerInfo> },
    /// Either direction: something was wrong; the sender closes the
    /// connection after an `Error` caused by an invalid frame.
    Error = 0x7F { code: u16, message: String },
}

/// Codes carried by `Error` frames.
pub mod error_code {
    /// The bytes received were not a valid frame; the connection closes.
    pub const BAD_FRAME: u16 = 1;
    /// A valid frame that this session does not accept at this point.
    pub const UNEXPECTED: u16 = 2;
    /// A heartbeat named a worker id this master does not know as alive.
    pub const UNKNOWN_WORKER: u16 = 3;
}

/// A worker's liveness, as the master sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    Alive,
    Dead,
}

impl WorkerState {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerState::Alive => "ALIVE",
            WorkerState::Dead => "DEAD",
        }
    }
}

impl fmt::Display for WorkerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of `WorkerList`.
///
/// # Format
/// `id u32 | addr String | state u8 (0 ALIVE, 1 DEAD) | slots u32 |
/// memory_bytes u64 | since_heartbeat_ms u64`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    pub id: u32,
    pub addr: String,
    pub state: WorkerState,
    pub slots: u32,
    pub memory_bytes: u64,
    pub since_heartbeat_ms: u64,
}

impl Field for WorkerInfo {
    fn put(&self, out: &mut Vec<u8>) {
        self.id.put(out);
        self.addr.put(out);
        let state: u8 = match self.state {
            WorkerState::Alive => 0,
            WorkerState::Dead => 1,
        };
        state.put(out);
        self.slots.put(out);
        self.memory_bytes.put(out);
        self.since_heartbeat_ms.put(out);
    }

    fn get(r: &mut PayloadReader<'_>, name: &str) -> Result<Self, Invalid> {
        let id = u32::get(r, name)?;
        let addr = String::get(r, name)?;
        let state = match u8::get(r, name)? {
            0 => WorkerState::Alive,
            1 => WorkerState::Dead,
            other => return Err(r.malformed(name, format!("worker state {other} is not 0 or 1"))),
        };
        Ok(WorkerInfo {
            id,
            addr,
            state,
            slots: u32::get(r, name)?,
            memory_bytes: u64::get(r, name)?,
            since_heartbeat_ms: u64::get(r, name)?,
        })
    }

    fn show(&self) -> String {
        format!(
            "{{id={} addr={} state={} slots={} memory_bytes={} since_heartbeat_ms={}}}",
            self.id, self.addr, self.state, self.slots, self.memory_bytes, self.since_heartbeat_ms
        )
    }

    fn parse_text(_text: &str) -> Option<Self> {
        None
    }
}

impl Message {
    /// Encodes the message as one whole frame.
    pub fn to_frame_bytes(&self) -> Vec<u8> {
        let mut payload = Vec::new();
        self.put_payload(&mut payload);
        let mut out = Vec::with_capacity(frame::HEADER_LEN + payload.len() + frame::CRC_LEN);
        frame::encode(self.msg_type(), &payload, &mut out);
        out
    }

    /// Decodes a frame's payload according to its type.
    ///
    /// # Errors
    /// `Invalid::Malformed` naming the field when the payload does not match
    /// the type's layout, including trailing bytes.
    pub fn from_frame(frame: &Frame) -> Result<Message, Invalid> {
        let mut r = PayloadReader::new(frame.msg_type, &frame.payload);
        let msg = Message::get_payload(frame.msg_type, &mut r)?;
        r.finish()?;
        Ok(msg)
    }

    /// Decodes the message at the start of `buf`; returns it and the number
    /// of bytes it took.
    pub fn parse(buf: &[u8]) -> Result<(Message, usize), FrameError> {
        let (frame, n) = frame::parse(buf)?;
        Ok((Message::from_frame(&frame)?, n))
    }

    /// Builds a message from its text form, `Name key=value ...`, the form
    /// `Display` prints. Used by the `frame` tool.
    pub fn from_text(text: &str) -> Result<Message, String> {
        let mut words = split_words(text)?.into_iter();
        let name = words.next().ok_or("empty message text")?;
        let t = MsgType::from_name(&name).ok_or_else(|| {
            let known: Vec<&str> = MsgType::ALL.iter().map(|t| t.name()).collect();
            format!("unknown message {name:?}; known: {}", known.join(", "))
        })?;
        let mut map = BTreeMap::new();
        for word in words {
            let (k, v) = word
                .split_once('=')
                .ok_or_else(|| format!("expected key=value, got {word:?}"))?;
            if !t.field_names().contains(&k) {
                return Err(format!(
                    "{} has no field `{k}`; its fields are: {}",
                    t.name(),
                    t.field_names().join(" ")
                ));
            }
            map.insert(k.to_string(), v.to_string());
        }
        Message::from_field_map(t, &mut map)
    }
}

/// Splits on whitespace, keeping double-quoted stretches (with `\` escapes) whole.
fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_quotes => {
                cur.push(c);
                cur.extend(chars.next());
            }
            '"' => {
                in_quotes = !in_quotes;
                cur.push(c);
            }
            c if c.is_whitespace() && !in_quotes => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if in_quotes {
        return Err("unterminated quote".to_string());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    Ok(words)
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.msg_type().name())?;
        for (k, v) in self.fields() {
            write!(f, " {k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rng::Rng;

    /// One example of every message type.
    pub(crate) fn samples() -> Vec<Message> {
        let all = vec![
            Message::Register {
                data_addr: "127.0.0.1:7001".into(),
                slots: 2,
                memory_bytes: 512 << 20,
                prev_id: 0,
            },
            Message::RegisterAck { worker_id: 1 },
            Message::Heartbeat { worker_id: 1 },
            Message::Ping { nonce: 42 },
            Message::Pong { nonce: 42 },
            Message::ListWorkers {},
            Message::WorkerList {
                workers: vec![
                    WorkerInfo {
                        id: 1,
                        addr: "127.0.0.1:7001".into(),
                        state: WorkerState::Alive,
                        slots: 2,
                        memory_bytes: 512 << 20,
                        since_heartbeat_ms: 120,
                    },
                    WorkerInfo {
                        id: 2,
                        addr: "10.0.0.2:7001".into(),
                        state: WorkerState::Dead,
                        slots: 4,
                        memory_bytes: 1 << 30,
                        since_heartbeat_ms: 15_000,
                    },
                ],
            },
            Message::Error {
                code: error_code::BAD_FRAME,
                message: "bad magic byte 0x48".into(),
            },
        ];
        let covered: Vec<MsgType> = all.iter().map(Message::msg_type).collect();
        assert_eq!(
            covered,
            MsgType::ALL,
            "samples() must cover every message type"
        );
        all
    }

    #[test]
    fn every_message_round_trips() {
        for msg in samples() {
            let bytes = msg.to_frame_bytes();
            let (back, n) = Message::parse(&bytes).unwrap();
            assert_eq!(back, msg);
            assert_eq!(n, bytes.len());
        }
    }

    #[test]
    fn every_truncated_prefix_of_every_message_is_incomplete() {
        for msg in samples() {
            let bytes = msg.to_frame_bytes();
            for cut in 0..bytes.len() {
                assert_eq!(
                    Message::parse(&bytes[..cut]).unwrap_err(),
                    FrameError::Incomplete,
                    "{msg} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn text_form_round_trips_where_it_exists() {
        for msg in samples() {
            if msg.msg_type() == MsgType::WorkerList {
                continue; // nested records have no text form
            }
            let text = msg.to_string();
            assert_eq!(Message::from_text(&text).unwrap(), msg, "{text}");
        }
        assert_eq!(
            Message::from_text(r#"error code=1 message="two words""#).unwrap(),
            Message::Error {
                code: 1,
                message: "two words".into()
            }
        );
    }

    #[test]
    fn text_form_errors_are_readable() {
        assert!(Message::from_text("Nope")
            .unwrap_err()
            .contains("unknown message"));
        assert!(Message::from_text("Ping")
            .unwrap_err()
            .contains("missing field `nonce`"));
        assert!(Message::from_text("Ping nonce=x")
            .unwrap_err()
            .contains("cannot read"));
        assert!(Message::from_text("Ping n=1")
            .unwrap_err()
            .contains("has no field"));
    }

    #[test]
    fn malformed_payloads_name_the_field() {
        // A Register whose payload stops in the middle of `slots`.
        let mut payload = Vec::new();
        "127.0.0.1:1".to_string().put(&mut payload);
        payload.extend_from_slice(&[0, 0]);
        let mut bytes = Vec::new();
        frame::encode(MsgType::Register, &payload, &mut bytes);
        let err = Message::parse(&bytes).unwrap_err();
        let FrameError::Invalid(invalid) = err else {
            panic!("expected invalid")
        };
        assert!(invalid.to_string().contains("field `slots`"), "{invalid}");

        // Trailing bytes are refused too.
        let mut bytes = Vec::new();
        frame::encode(MsgType::Ping, &[0; 9], &mut bytes);
        assert!(Message::parse(&bytes).is_err());
    }

    #[test]
    fn random_payloads_never_panic() {
        let mut rng = Rng::new(11);
        for i in 0..50_000 {
            let t = MsgType::ALL[i % MsgType::ALL.len()];
            let len = rng.below(48) as usize;
            let payload: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            let mut bytes = Vec::new();
            frame::encode(t, &payload, &mut bytes);
            let _ = Message::parse(&bytes);
        }
    }

    #[test]
    fn mutated_valid_frames_never_panic() {
        let mut rng = Rng::new(5);
        let samples: Vec<Vec<u8>> = samples().iter().map(Message::to_frame_bytes).collect();
        for _ in 0..50_000 {
            let mut bytes = samples[rng.below(samples.len() as u64) as usize].clone();
            for _ in 0..=rng.below(3) {
                let at = rng.below(bytes.len() as u64) as usize;
                bytes[at] = rng.next_u64() as u8;
            }
            // Recompute the CRC half the time so the payload decoder sees the damage.
            if rng.below(2) == 0 && bytes.len() >= frame::HEADER_LEN + frame::CRC_LEN {
                let end = bytes.len() - frame::CRC_LEN;
                let crc = crc32fast::hash(&bytes[..end]);
                bytes[end..].copy_from_slice(&crc.to_be_bytes());
            }
            let _ = Message::parse(&bytes);
        }
    }
}
