//! A record: the unit of data that flows through a job.
//!
//! Records are bytes, not strings: input lines may hold any bytes, invalid
//! UTF-8 included. A record is either a plain line, or a key-value pair
//! (made by `map(key_expr, value_expr)`), which prints as `key<TAB>value`.

/// One record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Record {
    /// `Some` for a key-value pair.
    pub key: Option<Vec<u8>>,
    /// The line, or the pair's value.
    pub value: Vec<u8>,
}

impl Record {
    /// A plain line.
    pub fn line(value: Vec<u8>) -> Record {
        Record { key: None, value }
    }

    /// A key-value pair.
    pub fn pair(key: Vec<u8>, value: Vec<u8>) -> Record {
        Record {
            key: Some(key),
            value,
        }
    }

    /// The record as one line of text, without the newline: the line itself,
    /// or `key<TAB>value` for a pair. This is `$0` in expressions and what
    /// `save` writes.
    pub fn to_line(&self) -> std::borrow::Cow<'_, [u8]> {
        match &self.key {
            None => std::borrow::Cow::Borrowed(&self.value),
            Some(k) => {
                let mut line = Vec::with_capacity(k.len() + 1 + self.value.len());
                line.extend_from_slice(k);
                line.push(b'\t');
                line.extend_from_slice(&self.value);
                std::borrow::Cow::Owned(line)
            }
        }
    }

    /// Bytes of record data, for memory accounting and metrics.
    pub fn size(&self) -> usize {
        self.key.as_ref().map_or(0, |k| k.len() + 1) + self.value.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_pairs_print() {
        assert_eq!(&*Record::line(b"a b".to_vec()).to_line(), b"a b");
        assert_eq!(
            &*Record::pair(b"k".to_vec(), b"v".to_vec()).to_line(),
            b"k\tv"
        );
        assert_eq!(Record::pair(b"k".to_vec(), b"v".to_vec()).size(), 3);
    }
}
