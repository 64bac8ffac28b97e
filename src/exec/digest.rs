//! The digest of a dataset: what a `repeat until unchanged(D)` loop
//! compares from round to round to know that `D` has stopped changing.
//!
//! Each task of a check stage pushes its records into a `Digest` and sends
//! the result to the master, which adds up the digests of every task of the
//! stage. Addition makes the digest a property of the *multiset* of records:
//! it does not depend on how the records are split into tasks, on their
//! order, or on which worker computed them, only on which records there are
//! and how many times each occurs. Two rounds that leave `D` the same give
//! the same digest. The converse holds with overwhelming probability, not
//! with certainty: the digest is 192 bits (the record count and two sums of
//! two unrelated 64-bit hashes, FNV-1a and a mixed CRC-32), so two different
//! datasets are taken for equal only if both sums collide at once, which
//! for data no one crafted to collide is a chance of about 2^-128. Comparing
//! the datasets record by record instead would mean a shuffle of both rounds
//! every round.

use crate::record::RecordRef;

/// The digest of a multiset of records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Digest {
    pub records: u64,
    pub fnv: u64,
    pub crc: u64,
}

impl Digest {
    /// Adds one record, as it prints: `key<TAB>value` for a pair.
    pub fn add(&mut self, record: RecordRef<'_>) {
        let mut fnv = Fnv::new();
        let mut crc = crc32fast::Hasher::new();
        let mut len = record.value.len() as u64;
        if let Some(key) = record.key {
            fnv.write(key);
            fnv.write(b"\t");
            crc.update(key);
            crc.update(b"\t");
            len += key.len() as u64 + 1;
        }
        fnv.write(record.value);
        crc.update(record.value);
        self.records += 1;
        self.fnv = self.fnv.wrapping_add(fnv.0);
        self.crc = self
            .crc
            .wrapping_add(mix(u64::from(crc.finalize()) << 32 ^ len));
    }

    /// The digest of the union of both multisets.
    pub fn merge(&mut self, other: &Digest) {
        self.records += other.records;
        self.fnv = self.fnv.wrapping_add(other.fnv);
        self.crc = self.crc.wrapping_add(other.crc);
    }

    /// As a task sends it: the record count in decimal, and the two sums in
    /// 32 hex digits.
    pub fn to_text(&self) -> (String, String) {
        (
            self.records.to_string(),
            format!("{:016x}{:016x}", self.fnv, self.crc),
        )
    }

    /// Reads `to_text`'s output back.
    ///
    /// # Errors
    /// A count that is not a number, or sums that are not 32 hex digits.
    pub fn from_text(records: &[u8], sums: &[u8]) -> Result<Digest, String> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let records = std::str::from_utf8(records)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                format!(
                    "a digest's record count is not a number: {:?}",
                    text(records)
                )
            })?;
        let hex = |b: &[u8]| {
            std::str::from_utf8(b)
                .ok()
                .and_then(|s| u64::from_str_radix(s, 16).ok())
        };
        match (
            sums.len(),
            sums.get(..16).and_then(hex),
            sums.get(16..).and_then(hex),
        ) {
            (32, Some(fnv), Some(crc)) => Ok(Digest { records, fnv, crc }),
            _ => Err(format!(
                "a digest's sums are not 32 hex digits: {:?}",
                text(sums)
            )),
        }
    }
}

/// 64-bit FNV-1a (as `partition_hash`), fed in pieces.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// SplitMix64's finalizer: spreads a CRC and a length over all 64 bits.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(lines: &[&str]) -> Digest {
        let mut d = Digest::default();
        for l in lines {
            d.add(RecordRef::line(l.as_bytes()));
        }
        d
    }

    #[test]
    fn order_and_split_do_not_matter_but_content_does() {
        let all = digest(&["a", "b", "b", "c"]);
        let mut parts = digest(&["c", "b"]);
        parts.merge(&digest(&["b", "a"]));
        assert_eq!(all, parts);
        assert_ne!(all, digest(&["a", "b", "c"]));
        assert_ne!(all, digest(&["a", "b", "b", "d"]));
        assert_ne!(digest(&["ab"]), digest(&["ba"]));
        assert_eq!(all.records, 4);
    }

    #[test]
    fn a_pair_digests_as_the_line_it_prints() {
        let mut pair = Digest::default();
        pair.add(RecordRef {
            key: Some(b"k"),
            value: b"v",
        });
        assert_eq!(pair, digest(&["k\tv"]));
    }

    #[test]
    fn text_round_trips_and_bad_text_is_an_error() {
        let d = digest(&["x", "y"]);
        let (n, sums) = d.to_text();
        assert_eq!(Digest::from_text(n.as_bytes(), sums.as_bytes()), Ok(d));
        assert!(Digest::from_text(b"x", sums.as_bytes()).is_err());
        assert!(Digest::from_text(b"2", b"abc").is_err());
        assert!(Digest::from_text(b"2", &[b'g'; 32]).is_err());
    }
}
