//! Hash functions: one for the wire, one for in-memory tables.
//!
//! # `partition_hash`: which reduce partition a key goes to
//!
//! A map task on one machine and a reduce task on another must agree on
//! where each key lives, so the partition function is part of the wire
//! contract: a record with key `k` goes to reduce partition
//! `partition_hash(k) % partitions`. It must give the same number on every
//! machine, every run, every build. std's `DefaultHasher` (SipHash) does
//! not promise that: `HashMap`'s `RandomState` gives it a random key per
//! process, precisely so that outsiders cannot predict it.
//!
//! `partition_hash` is 64-bit FNV-1a, fixed forever:
//!
//! ```text
//! hash = 0xcbf2_9ce4_8422_2325            (offset basis)
//! for each byte b of the key:
//!     hash = hash XOR b
//!     hash = hash * 0x0000_0100_0000_01b3  (prime, wrapping mod 2^64)
//! ```
//!
//! One multiply per byte is slow next to word-at-a-time hashes, but it is
//! simple enough to re-implement in any language from the lines above, and
//! a record is hashed once per shuffle, not once per table probe.
//!
//! # `FastHasher`: in-memory hash tables
//!
//! The aggregator probes its table once per input record, millions of
//! times a second, with short byte-string keys. SipHash spends most of its
//! time on the randomness that makes it resist hash-flooding (an attacker
//! who picks keys that all collide, turning a table into a list).
//! `FastHasher` is an FxHash-style hash instead: eight bytes at a time,
//! each word mixed in with a rotate, an xor and one multiply.
//!
//! Why that is acceptable here: the keys come from the job's own input,
//! which the user chose; there is no outside attacker to defend against,
//! and a table can only make one user's own job slow. The honest trade-off:
//! the hash is unkeyed and weak, so input crafted to collide (or unlucky
//! data) can make a task's table degrade towards linear probing of long
//! chains. It never affects correctness and never crosses the wire.

use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a 64-bit offset basis.
const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime (2^40 + 2^8 + 0xb3).
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The wire contract's hash of a key: 64-bit FNV-1a (see the module comment).
pub fn partition_hash(key: &[u8]) -> u64 {
    let mut hash = FNV_OFFSET_BASIS;
    for &b in key {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// The reduce partition, in `0..partitions`, that a key belongs to.
/// `partitions` of 0 is treated as 1 (everything in partition 0).
pub fn partition_of(key: &[u8], partitions: u32) -> u32 {
    (partition_hash(key) % u64::from(partitions.max(1))) as u32
}

/// FxHash's multiplier: odd (so multiplying is a bijection on u64) with
/// bits spread over the whole word.
const FX_MULTIPLIER: u64 = 0x517c_c1b7_2722_0a95;
/// How far the state rotates before each word is mixed in.
const FX_ROTATE_BITS: u32 = 5;

/// A fast, unkeyed, non-cryptographic hasher for in-memory tables keyed by
/// short byte strings. Not stable across versions; never use it on the wire.
#[derive(Debug, Clone, Copy, Default)]
pub struct FastHasher {
    hash: u64,
}

/// Builds `FastHasher`s: `HashMap<Vec<u8>, V, FastBuildHasher>`.
pub type FastBuildHasher = BuildHasherDefault<FastHasher>;

impl FastHasher {
    #[inline]
    fn add_word(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(FX_ROTATE_BITS) ^ word).wrapping_mul(FX_MULTIPLIER);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            // `chunks_exact` guarantees 8 bytes; the conversion cannot fail.
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add_word(u64::from_le_bytes(word));
        }
        let tail = chunks.remainder();
        let n = tail.len();
        // The tail (0..=7 bytes) becomes one word. Reads may overlap (4 + 4
        // out of 5..=7 bytes); that is fine because `[u8]`'s `Hash` writes
        // the length first, so different lengths already differ.
        let word = if n >= 4 {
            let lo = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
            let hi = u32::from_le_bytes([tail[n - 4], tail[n - 3], tail[n - 2], tail[n - 1]]);
            u64::from(lo) | (u64::from(hi) << 32)
        } else if n > 0 {
            u64::from(tail[0]) | (u64::from(tail[n / 2]) << 8) | (u64::from(tail[n - 1]) << 16)
        } else {
            return;
        };
        self.add_word(word);
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add_word(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add_word(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add_word(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add_word(i as u64);
    }

    /// A multiply's low bits depend only on its inputs' low bits, and the
    /// table picks a bucket from the low bits and a 7-bit tag from the top
    /// bits: both must depend on every input bit. MurmurHash3's 64-bit
    /// finalizer (`fmix64`: xor-shift, multiply, three times) does that.
    #[inline]
    fn finish(&self) -> u64 {
        let mut h = self.hash;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};
    use std::hash::BuildHasher;

    #[test]
    fn fnv1a_test_vectors() {
        assert_eq!(partition_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(partition_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(partition_hash(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn partition_of_stays_in_range_and_spreads() {
        let partitions = 8u32;
        let mut counts = [0u32; 8];
        for i in 0..8000 {
            let p = partition_of(format!("word{i}").as_bytes(), partitions);
            assert!(p < partitions);
            counts[p as usize] += 1;
        }
        // 1000 expected per partition; allow generous slack.
        for c in counts {
            assert!((800..1200).contains(&c), "{counts:?}");
        }
        assert_eq!(partition_of(b"x", 0), 0);
        assert_eq!(partition_of(b"x", 1), 0);
    }

    fn fast_hash(bytes: &[u8]) -> u64 {
        FastBuildHasher::default().hash_one(bytes)
    }

    #[test]
    fn fast_hash_is_deterministic_and_sees_every_byte() {
        assert_eq!(fast_hash(b"hello"), fast_hash(b"hello"));
        let base = b"abcdefghijklmnopqrstu".to_vec();
        let mut seen = HashSet::new();
        // Every prefix and every single-byte change hashes differently.
        for len in 0..=base.len() {
            assert!(seen.insert(fast_hash(&base[..len])), "prefix {len}");
        }
        for i in 0..base.len() {
            let mut changed = base.clone();
            changed[i] ^= 1;
            assert!(seen.insert(fast_hash(&changed)), "byte {i}");
        }
    }

    #[test]
    fn fast_hash_low_bits_spread() {
        // Buckets come from the low bits: 64 buckets, 6400 keys.
        let mut counts = [0u32; 64];
        for i in 0..6400 {
            counts[(fast_hash(format!("k{i}").as_bytes()) & 63) as usize] += 1;
        }
        for c in counts {
            assert!((50..150).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn works_as_a_map_hasher() {
        let mut m: HashMap<Vec<u8>, u32, FastBuildHasher> = HashMap::default();
        for i in 0..1000u32 {
            m.insert(i.to_string().into_bytes(), i);
        }
        for i in 0..1000u32 {
            assert_eq!(m.get(i.to_string().as_bytes()), Some(&i));
        }
    }
}
