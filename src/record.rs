//! A record: the unit of data that flows through a job.
//!
//! Records are bytes, not strings: input lines may hold any bytes, invalid
//! UTF-8 included. A record is either a plain line, or a key-value pair
//! (made by `map(key_expr, value_expr)`), which prints as `key<TAB>value`.
//!
//! OS idea: memory layout decides speed. Most keys and values are short
//! (words, ids, counts), so `SmallBytes` keeps up to 30 bytes inside the
//! record itself: no heap allocation to make one, nothing to free, and no
//! pointer to chase (a cache miss) to compare two of them.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// Bytes kept inline when at most `INLINE_BYTES` long, else on the heap.
#[derive(Clone)]
pub enum SmallBytes {
    Inline { len: u8, buf: [u8; INLINE_BYTES] },
    Heap(Vec<u8>),
}

/// Bytes a `SmallBytes` holds without allocating (it is 32 bytes in all).
pub const INLINE_BYTES: usize = 30;

impl SmallBytes {
    pub const fn new() -> SmallBytes {
        SmallBytes::Inline {
            len: 0,
            buf: [0; INLINE_BYTES],
        }
    }

    /// The concatenation of `parts`, inline when it fits.
    pub fn concat(parts: &[&[u8]]) -> SmallBytes {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total <= INLINE_BYTES {
            let mut buf = [0; INLINE_BYTES];
            let mut at = 0;
            for p in parts {
                buf[at..at + p.len()].copy_from_slice(p);
                at += p.len();
            }
            SmallBytes::Inline {
                len: total as u8,
                buf,
            }
        } else {
            SmallBytes::Heap(parts.concat())
        }
    }

    /// The bytes as an owned vector (no copy when they are on the heap).
    pub fn into_vec(self) -> Vec<u8> {
        match self {
            SmallBytes::Inline { len, buf } => buf[..len as usize].to_vec(),
            SmallBytes::Heap(v) => v,
        }
    }

    /// Heap bytes it owns, for memory accounting (0 when inline).
    pub fn heap_capacity(&self) -> usize {
        match self {
            SmallBytes::Inline { .. } => 0,
            SmallBytes::Heap(v) => v.capacity(),
        }
    }

    /// The `len` bytes at `at` of `bytes` (which must hold them). When
    /// they fit inline and `bytes` goes on for a whole inline buffer from
    /// `at`, the buffer is filled with one copy of a fixed size, a few
    /// register moves, instead of a call to `memcpy` for `len` bytes; the
    /// bytes past `len` are then whatever followed in `bytes`, and nothing
    /// reads them (every use goes through `Deref`, which stops at `len`).
    #[inline]
    pub fn from_window(bytes: &[u8], at: usize, len: usize) -> SmallBytes {
        if len <= INLINE_BYTES {
            if let Some(window) = bytes.get(at..at + INLINE_BYTES) {
                let mut buf = [0; INLINE_BYTES];
                buf.copy_from_slice(window);
                return SmallBytes::Inline {
                    len: len as u8,
                    buf,
                };
            }
        }
        SmallBytes::from(&bytes[at..at + len])
    }
}

impl Default for SmallBytes {
    fn default() -> SmallBytes {
        SmallBytes::new()
    }
}

impl Deref for SmallBytes {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            SmallBytes::Inline { len, buf } => &buf[..*len as usize],
            SmallBytes::Heap(v) => v,
        }
    }
}

impl From<&[u8]> for SmallBytes {
    #[inline]
    fn from(bytes: &[u8]) -> SmallBytes {
        if bytes.len() <= INLINE_BYTES {
            let mut buf = [0; INLINE_BYTES];
            buf[..bytes.len()].copy_from_slice(bytes);
            SmallBytes::Inline {
                len: bytes.len() as u8,
                buf,
            }
        } else {
            SmallBytes::Heap(bytes.to_vec())
        }
    }
}

impl From<Vec<u8>> for SmallBytes {
    /// Short vectors move inline (their allocation is freed).
    #[inline]
    fn from(v: Vec<u8>) -> SmallBytes {
        if v.len() <= INLINE_BYTES {
            SmallBytes::from(&v[..])
        } else {
            SmallBytes::Heap(v)
        }
    }
}

impl From<Cow<'_, [u8]>> for SmallBytes {
    fn from(c: Cow<'_, [u8]>) -> SmallBytes {
        match c {
            Cow::Borrowed(b) => SmallBytes::from(b),
            Cow::Owned(v) => SmallBytes::from(v),
        }
    }
}

impl<const N: usize> From<&[u8; N]> for SmallBytes {
    fn from(b: &[u8; N]) -> SmallBytes {
        SmallBytes::from(&b[..])
    }
}

// Lets a hash map keyed by `SmallBytes` be searched with a plain `&[u8]`
// (hash and equality agree with the slice's).
impl std::borrow::Borrow<[u8]> for SmallBytes {
    fn borrow(&self) -> &[u8] {
        self
    }
}

impl PartialEq for SmallBytes {
    #[inline]
    fn eq(&self, other: &SmallBytes) -> bool {
        **self == **other
    }
}

impl Eq for SmallBytes {}

impl PartialOrd for SmallBytes {
    fn partial_cmp(&self, other: &SmallBytes) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SmallBytes {
    #[inline]
    fn cmp(&self, other: &SmallBytes) -> Ordering {
        (**self).cmp(&**other)
    }
}

impl Hash for SmallBytes {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl fmt::Debug for SmallBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

/// One record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Record {
    /// `Some` for a key-value pair.
    pub key: Option<SmallBytes>,
    /// The line, or the pair's value.
    pub value: SmallBytes,
}

impl Record {
    /// A plain line.
    pub fn line(value: impl Into<SmallBytes>) -> Record {
        Record {
            key: None,
            value: value.into(),
        }
    }

    /// A key-value pair.
    pub fn pair(key: impl Into<SmallBytes>, value: impl Into<SmallBytes>) -> Record {
        Record {
            key: Some(key.into()),
            value: value.into(),
        }
    }

    /// The record as one line of text (see `RecordRef::to_line`).
    pub fn to_line(&self) -> Cow<'_, [u8]> {
        self.as_ref().to_line()
    }

    /// Bytes of record data, for memory accounting and metrics.
    pub fn size(&self) -> usize {
        self.as_ref().size()
    }

    /// The record's bytes, borrowed.
    pub fn as_ref(&self) -> RecordRef<'_> {
        RecordRef {
            key: self.key.as_deref(),
            value: &self.value,
        }
    }
}

/// A record whose bytes live elsewhere: in the input buffer a line was read
/// into, or in the line a word was cut from. Narrow operators pass these
/// along (see `exec/chain.rs`), so a record is copied only where it must be
/// kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub key: Option<&'a [u8]>,
    pub value: &'a [u8],
}

impl<'a> RecordRef<'a> {
    /// A plain line.
    pub fn line(value: &'a [u8]) -> RecordRef<'a> {
        RecordRef { key: None, value }
    }

    /// The record as one line of text, without the newline: the line itself,
    /// or `key<TAB>value` for a pair. This is `$0` in expressions and what
    /// `save` writes.
    pub fn to_line(&self) -> Cow<'a, [u8]> {
        match self.key {
            None => Cow::Borrowed(self.value),
            Some(k) => Cow::Owned([k, b"\t", self.value].concat()),
        }
    }

    /// Bytes of record data, for memory accounting and metrics.
    pub fn size(&self) -> usize {
        self.key.map_or(0, |k| k.len() + 1) + self.value.len()
    }

    /// An owned copy.
    pub fn to_record(&self) -> Record {
        Record {
            key: self.key.map(SmallBytes::from),
            value: SmallBytes::from(self.value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_gives_the_bytes_of_its_slice() {
        let bytes: Vec<u8> = (0..100u8).collect();
        for at in [0, 1, 50, 69, 70, 71, 99, 100] {
            for len in 0..=(100 - at).min(40) {
                let small = SmallBytes::from_window(&bytes, at, len);
                assert_eq!(&*small, &bytes[at..at + len], "at {at} len {len}");
                assert_eq!(small, SmallBytes::from(&bytes[at..at + len]));
            }
        }
    }

    #[test]
    fn lines_and_pairs_print() {
        assert_eq!(&*Record::line(b"a b".to_vec()).to_line(), b"a b");
        assert_eq!(
            &*Record::pair(b"k".to_vec(), b"v".to_vec()).to_line(),
            b"k\tv"
        );
        assert_eq!(Record::pair(b"k".to_vec(), b"v".to_vec()).size(), 3);
    }

    #[test]
    fn small_bytes_are_inline_and_order_like_slices() {
        assert_eq!(std::mem::size_of::<SmallBytes>(), 32);
        let short = SmallBytes::from(&b"word"[..]);
        let long = SmallBytes::from(vec![b'x'; 100]);
        assert!(matches!(short, SmallBytes::Inline { .. }));
        assert!(matches!(long, SmallBytes::Heap(_)));
        assert_eq!(&*short, b"word");
        assert_eq!(long.len(), 100);
        assert!(SmallBytes::from(&b"a"[..]) < SmallBytes::from(&b"ab"[..]));
        assert!(SmallBytes::from(&b"b"[..]) > SmallBytes::from(vec![b'a'; 40]));
        assert_eq!(SmallBytes::from(vec![1, 2]).into_vec(), vec![1, 2]);
    }
}
