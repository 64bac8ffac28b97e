//! The map side of `distinct`: a task's records without their repeats,
//! within the task's memory share, before they are shuffled.
//!
//! It is the aggregation table with no aggregators: the whole record is
//! the table's key and the accumulator is an empty tuple, so the table's
//! budget, spilling and streaming merge of runs (`mod.rs`) drop repeats as
//! they combine a key's values. Past the budget the table spills sorted
//! runs and merges them at the end, so each distinct record leaves the
//! task once, however many times it came and however little memory there
//! is. The reduce side still sorts and drops the repeats between tasks.
//!
//! # Format
//!
//! A record as a table key: a tag byte, then the bytes, so that a pair and
//! the line its text would be (`a<TAB>b`) stay two records, as they are to
//! the reduce side. Numbers are big-endian.
//!
//! ```text
//!          0     1
//! line     | 'L' | value ...
//!
//!          0     1           5              5+n
//! pair     | 'P' | key len   | key ...      | value ...
//! ```
//!
//! * 1 byte: tag, `L` a plain line, `P` a key-value pair
//! * line: the value to the end
//! * pair: 4 bytes key len (u32), key len bytes of key, the value to the end

use std::mem::size_of;
use std::sync::Arc;

use super::{HashAggregator, Results};
use crate::record::{Record, RecordRef};
use crate::storage::spill::SpillDir;

const TAG_OFFSET: usize = 0;
const TAG_BYTES: usize = 1;
const BODY_OFFSET: usize = TAG_OFFSET + TAG_BYTES;

const TAG_LINE: u8 = b'L';
const TAG_PAIR: u8 = b'P';

// A pair's body: the key's length, the key, then the value.
const KEY_LEN_OFFSET: usize = 0;
const KEY_LEN_BYTES: usize = size_of::<u32>();
const KEY_OFFSET: usize = KEY_LEN_OFFSET + KEY_LEN_BYTES;

/// Distinct records within a memory budget (see the module comment).
pub struct DistinctSet {
    table: HashAggregator,
    /// Reused to encode each record as a table key.
    scratch: Vec<u8>,
}

impl DistinctSet {
    /// `fan_in` is how many runs a merge reads at once (at least 2).
    pub fn new(budget_bytes: usize, fan_in: usize, spill: Arc<SpillDir>) -> DistinctSet {
        DistinctSet {
            table: HashAggregator::new(Vec::new(), budget_bytes, fan_in, spill),
            scratch: Vec::new(),
        }
    }

    /// Adds a record; a repeat changes nothing. One hash lookup, and no
    /// allocation when the record is already there.
    pub fn add(&mut self, record: RecordRef<'_>) -> Result<(), String> {
        self.scratch.clear();
        encode(record, &mut self.scratch)?;
        self.table.add(&self.scratch, &[], 0)
    }

    /// Each record once, in the byte order of their encodings.
    pub fn finish(self) -> Result<Results, String> {
        Ok(Box::new(self.table.finish()?.map(|r| {
            let rec = r?;
            decode(rec.key.as_deref().unwrap_or_default())
        })))
    }
}

/// Appends `record` as a table key to `out`.
///
/// # Errors
/// A key of 4 GiB or more (its length does not fit the field).
fn encode(record: RecordRef<'_>, out: &mut Vec<u8>) -> Result<(), String> {
    match record.key {
        None => out.push(TAG_LINE),
        Some(key) => {
            let len = u32::try_from(key.len())
                .map_err(|_| format!("distinct: a key of {} bytes is too long", key.len()))?;
            out.push(TAG_PAIR);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(key);
        }
    }
    out.extend_from_slice(record.value);
    Ok(())
}

/// The record a table key encodes (it comes back from a spill run: checked).
fn decode(bytes: &[u8]) -> Result<Record, String> {
    let corrupt = |what: &str| format!("distinct: corrupt record in a spill run ({what})");
    let Some((&[tag], body)) = bytes.split_first_chunk::<TAG_BYTES>() else {
        return Err(corrupt("empty"));
    };
    match tag {
        TAG_LINE => Ok(Record::line(body)),
        TAG_PAIR => {
            let Some(len) = body
                .get(KEY_LEN_OFFSET..)
                .and_then(<[u8]>::first_chunk::<KEY_LEN_BYTES>)
            else {
                return Err(corrupt("key length cut off"));
            };
            let len = u32::from_be_bytes(*len) as usize;
            let rest = &body[KEY_OFFSET..];
            if len > rest.len() {
                return Err(corrupt(&format!(
                    "key of {len} bytes at byte {} overruns the end",
                    BODY_OFFSET + KEY_OFFSET
                )));
            }
            let (key, value) = rest.split_at(len);
            Ok(Record::pair(key, value))
        }
        other => Err(corrupt(&format!("tag {other:#04x}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use crate::storage::spill::tests::temp_path;
    use std::collections::BTreeSet;

    fn spill_dir(name: &str) -> Arc<SpillDir> {
        Arc::new(SpillDir::new(temp_path(name)).unwrap())
    }

    #[test]
    fn records_round_trip_and_a_pair_is_not_its_line() {
        let records = [
            Record::line(&b""[..]),
            Record::line(&b"a\tb"[..]),
            Record::pair(&b"a"[..], &b"b"[..]),
            Record::pair(&b""[..], &b""[..]),
            Record::pair(&b"\xff\x00"[..], vec![b'v'; 100]),
        ];
        let mut keys = BTreeSet::new();
        for rec in &records {
            let mut bytes = Vec::new();
            encode(rec.as_ref(), &mut bytes).unwrap();
            assert_eq!(decode(&bytes).unwrap(), *rec);
            keys.insert(bytes);
        }
        assert_eq!(keys.len(), records.len());
        let mut bytes = Vec::new();
        encode(Record::pair(&b"key"[..], &b"v"[..]).as_ref(), &mut bytes).unwrap();
        assert_eq!(bytes, b"P\x00\x00\x00\x03keyv");
    }

    #[test]
    fn corrupt_keys_are_errors_not_panics() {
        assert_eq!(
            decode(b"").unwrap_err(),
            "distinct: corrupt record in a spill run (empty)"
        );
        assert_eq!(
            decode(b"X12").unwrap_err(),
            "distinct: corrupt record in a spill run (tag 0x58)"
        );
        assert_eq!(
            decode(b"P\x00\x00").unwrap_err(),
            "distinct: corrupt record in a spill run (key length cut off)"
        );
        assert_eq!(
            decode(b"P\x00\x00\x00\x05abc").unwrap_err(),
            "distinct: corrupt record in a spill run (key of 5 bytes at byte 5 overruns the end)"
        );
        let mut rng = Rng::new(7);
        for _ in 0..2000 {
            let len = rng.below(12) as usize;
            let mut junk: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
            if let Some(first) = junk.first_mut() {
                *first = if rng.below(2) == 0 { TAG_PAIR } else { *first };
            }
            let _ = decode(&junk);
        }
    }

    /// Records with many repeats: lines, and pairs whose text is a line's.
    fn repeated(n: usize, seed: u64) -> Vec<Record> {
        let mut rng = Rng::new(seed);
        (0..n)
            .map(|_| {
                let i = rng.below(700);
                match rng.below(3) {
                    0 => Record::line(format!("k{i}\t{}", i % 3).into_bytes()),
                    1 => Record::pair(
                        format!("k{i}").into_bytes(),
                        format!("{}", i % 3).into_bytes(),
                    ),
                    _ => Record::line(format!("word{i}").into_bytes()),
                }
            })
            .collect()
    }

    #[test]
    fn each_record_once_with_or_without_spills() {
        let records = repeated(20_000, 3);
        let want: BTreeSet<Record> = records.iter().cloned().collect();
        for (budget, fan_in) in [(4096, 2), (16 << 10, 4), (64 << 20, 16)] {
            let spill = spill_dir("distinct");
            let mut set = DistinctSet::new(budget, fan_in, Arc::clone(&spill));
            for rec in &records {
                set.add(rec.as_ref()).unwrap();
            }
            let runs = set.table.runs.len();
            if budget < 64 << 10 {
                assert!(runs > 4, "budget {budget}: want spills, got {runs} runs");
            } else {
                assert_eq!(runs, 0);
            }
            let out: Vec<Record> = set.finish().unwrap().map(Result::unwrap).collect();
            assert_eq!(out.len(), want.len(), "budget {budget}: one of each");
            let got: BTreeSet<Record> = out.into_iter().collect();
            assert_eq!(got, want, "budget {budget}");
            assert_eq!(std::fs::read_dir(spill.path()).unwrap().count(), 0);
        }
    }
}
