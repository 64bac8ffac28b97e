//! Tests of the aggregator: each aggregator's contract, then spilling and
//! combining checked against a plain in-memory `BTreeMap` computation.

use super::*;
use crate::job::format_float;
use crate::rng::Rng;
use crate::storage::hash::FastBuildHasher;
use crate::storage::spill::tests::temp_path;
use std::collections::BTreeMap;
use std::collections::HashMap;

type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

fn spill_dir(name: &str) -> Arc<SpillDir> {
    Arc::new(SpillDir::new(temp_path(name)).unwrap())
}

fn collect(results: Results) -> Result<Pairs, String> {
    results
        .map(|r| r.map(|rec| (rec.key.unwrap().into_vec(), rec.value.into_vec())))
        .collect()
}

/// Runs one aggregator over `(key, value, ord)` items.
fn aggregate(
    agg: &Aggregator,
    budget: usize,
    fan_in: usize,
    items: &[(Vec<u8>, Vec<u8>, u64)],
) -> Result<Pairs, String> {
    aggregate_all(std::slice::from_ref(agg), budget, fan_in, items)
}

/// Runs a list of aggregators over `(key, value, ord)` items.
fn aggregate_all(
    aggs: &[Aggregator],
    budget: usize,
    fan_in: usize,
    items: &[(Vec<u8>, Vec<u8>, u64)],
) -> Result<Pairs, String> {
    let mut a = HashAggregator::new(aggs.to_vec(), budget, fan_in, spill_dir("agg"));
    for (k, v, ord) in items {
        a.add(k, v, *ord)?;
    }
    collect(a.finish()?)
}

fn one_key(agg: Aggregator, values: &[&str]) -> Result<String, String> {
    let items: Vec<_> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (b"k".to_vec(), v.as_bytes().to_vec(), i as u64))
        .collect();
    let out = aggregate(&agg, 1 << 20, 4, &items)?;
    assert_eq!(out.len(), 1);
    Ok(String::from_utf8(out[0].1.clone()).unwrap())
}

#[test]
fn sum_stays_integer_until_a_float_arrives() {
    assert_eq!(
        one_key(Aggregator::Sum, &["1", "2", "-3", "+10"]).unwrap(),
        "10"
    );
    assert_eq!(one_key(Aggregator::Sum, &["1", "2.5"]).unwrap(), "3.5");
    assert_eq!(one_key(Aggregator::Sum, &["1", "2.0"]).unwrap(), "3.0");
    assert_eq!(one_key(Aggregator::Sum, &["1e3", "1"]).unwrap(), "1001.0");
    assert_eq!(one_key(Aggregator::Sum, &[" 4 ", "\t5"]).unwrap(), "9");
    // Too big for an i64 literal: a float, as in the expression language.
    assert_eq!(
        one_key(Aggregator::Sum, &["99999999999999999999"]).unwrap(),
        "1e20"
    );
    assert_eq!(
        one_key(Aggregator::Sum, &["9223372036854775807", "-1"]).unwrap(),
        "9223372036854775806"
    );
}

#[test]
fn sum_overflow_is_an_error_whatever_the_order() {
    let max = i64::MAX.to_string();
    let err = one_key(Aggregator::Sum, &[&max, "1"]).unwrap_err();
    assert_eq!(
        err,
        "reduce_by_key(sum): key \"k\": the sum 9223372036854775808 does not fit in a 64-bit integer"
    );
    // Passing i64::MAX on the way is fine if the total fits.
    assert_eq!(one_key(Aggregator::Sum, &[&max, "1", "-1"]).unwrap(), max);
    assert_eq!(one_key(Aggregator::Sum, &["1", &max, "-1"]).unwrap(), max);
}

#[test]
fn bad_values_name_the_aggregator_key_and_value() {
    let err = aggregate(
        &Aggregator::Sum,
        1 << 20,
        2,
        &[(b"the-key".to_vec(), b"abc".to_vec(), 0)],
    )
    .unwrap_err();
    assert_eq!(
        err,
        "reduce_by_key(sum): key \"the-key\": cannot read \"abc\" as a number"
    );
    // On a hit as well as on a first value; binary and long text escaped.
    let long = vec![b'x'; 100];
    let items = vec![
        (b"k\xff".to_vec(), b"1".to_vec(), 0),
        (b"k\xff".to_vec(), long, 1),
    ];
    let err = aggregate(&Aggregator::Max, 1 << 20, 2, &items).unwrap_err();
    assert!(
        err.starts_with("reduce_by_key(max): key \"k\\xff\": cannot read \"xxxx"),
        "{err}"
    );
    assert!(err.ends_with("...\" as a number"), "{err}");
    for bad in ["", "1x", "inf", "NaN", "1 2", "--1"] {
        assert!(one_key(Aggregator::Mean, &["1", bad]).is_err(), "{bad:?}");
    }
}

#[test]
fn count_counts_any_bytes() {
    assert_eq!(
        one_key(Aggregator::Count, &["a", "", "1", "x y"]).unwrap(),
        "4"
    );
}

#[test]
fn min_and_max_compare_numbers_and_keep_the_text() {
    assert_eq!(one_key(Aggregator::Max, &["9", "10", "2"]).unwrap(), "10");
    assert_eq!(
        one_key(Aggregator::Min, &["9", "10", "-2.5"]).unwrap(),
        "-2.5"
    );
    assert_eq!(one_key(Aggregator::Max, &["+3", "1e0"]).unwrap(), "+3");
    // Ties go to the bytewise smaller text, in any order.
    assert_eq!(one_key(Aggregator::Min, &["1.0", "1", "2"]).unwrap(), "1");
    assert_eq!(one_key(Aggregator::Min, &["1", "1.0", "2"]).unwrap(), "1");
    assert_eq!(one_key(Aggregator::Max, &["1.0", "1"]).unwrap(), "1");
    // Exact integer/float comparison near 2^63.
    assert_eq!(
        one_key(
            Aggregator::Max,
            &["9223372036854775807", "9.223372036854775e18"]
        )
        .unwrap(),
        "9223372036854775807"
    );
    assert_eq!(
        one_key(Aggregator::Min, &["9223372036854775807", "9.3e18"]).unwrap(),
        "9223372036854775807"
    );
}

#[test]
fn mean_is_a_float() {
    assert_eq!(one_key(Aggregator::Mean, &["1", "2"]).unwrap(), "1.5");
    assert_eq!(one_key(Aggregator::Mean, &["2", "2"]).unwrap(), "2.0");
    assert_eq!(
        one_key(Aggregator::Mean, &["1", "2.5", "3"]).unwrap(),
        "2.1666666666666665"
    );
}

#[test]
fn first_goes_by_ord_not_arrival() {
    let items = vec![
        (b"k".to_vec(), b"late".to_vec(), 7 << 32),
        (b"k".to_vec(), b"early".to_vec(), 2),
        (b"k".to_vec(), b"middle".to_vec(), 1 << 32),
    ];
    let out = aggregate(&Aggregator::First, 1 << 20, 2, &items).unwrap();
    assert_eq!(out, vec![(b"k".to_vec(), b"early".to_vec())]);
}

#[test]
fn concat_joins_in_byte_order() {
    let sep = Aggregator::Concat(b", ".to_vec());
    assert_eq!(
        one_key(sep.clone(), &["b", "a", "", "c", "a"]).unwrap(),
        ", a, a, b, c"
    );
    assert_eq!(one_key(sep, &["only"]).unwrap(), "only");
}

#[test]
fn results_come_in_key_byte_order() {
    let items: Vec<_> = [&b"b"[..], b"", b"a\xff", b"a", b"ab"]
        .iter()
        .enumerate()
        .map(|(i, k)| (k.to_vec(), b"1".to_vec(), i as u64))
        .collect();
    let out = aggregate(&Aggregator::Count, 1 << 20, 2, &items).unwrap();
    let keys: Vec<&[u8]> = out.iter().map(|(k, _)| &k[..]).collect();
    assert_eq!(keys, vec![&b""[..], b"a", b"ab", b"a\xff", b"b"]);
}

fn all_aggregators() -> Vec<Aggregator> {
    vec![
        Aggregator::Sum,
        Aggregator::Count,
        Aggregator::Min,
        Aggregator::Max,
        Aggregator::Mean,
        Aggregator::First,
        Aggregator::Concat(b"|".to_vec()),
    ]
}

/// Random items with a hot key, an empty key and a binary key. Values are
/// small integers and halves (exact in f64, so float sums do not depend
/// on order), sometimes written oddly (`+7`, `1.0`, ` 2`). Ords are
/// unique, arriving shuffled.
fn random_items(n: usize, seed: u64, floats: bool) -> Vec<(Vec<u8>, Vec<u8>, u64)> {
    let mut rng = Rng::new(seed);
    let mut items: Vec<_> = (0..n as u64)
        .map(|ord| {
            let key = match rng.below(10) {
                0..=3 => b"hot".to_vec(),
                4 => Vec::new(),
                5 => b"\xff\x00bin".to_vec(),
                _ => format!("k{}", rng.below(300)).into_bytes(),
            };
            let v = rng.below(100) as i64 - 50;
            let value = match rng.below(8) {
                0 if floats => format!("{v}.5"),
                1 if floats => format!("{v}.0"),
                2 => format!("+{}", v.abs()),
                3 => format!(" {v}"),
                _ => v.to_string(),
            };
            (key, value.into_bytes(), ord)
        })
        .collect();
    for i in (1..items.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
    items
}

/// The oracle: every value of each key kept, then the contract applied.
fn expected(agg: &Aggregator, items: &[(Vec<u8>, Vec<u8>, u64)]) -> Pairs {
    let mut groups: BTreeMap<Vec<u8>, Vec<(u64, Vec<u8>)>> = BTreeMap::new();
    for (k, v, ord) in items {
        groups.entry(k.clone()).or_default().push((*ord, v.clone()));
    }
    let num = |v: &[u8]| -> f64 { std::str::from_utf8(v).unwrap().trim().parse().unwrap() };
    let is_float = |v: &[u8]| v.contains(&b'.');
    groups
        .into_iter()
        .map(|(k, mut vals)| {
            let any_float = vals.iter().any(|(_, v)| is_float(v));
            let total: f64 = vals.iter().map(|(_, v)| num(v)).sum();
            let result = match agg {
                Aggregator::Sum if any_float => format_float(total),
                Aggregator::Sum => (total as i64).to_string(),
                Aggregator::Count => vals.len().to_string(),
                Aggregator::Mean => format_float(total / vals.len() as f64),
                Aggregator::Min | Aggregator::Max => {
                    let want_max = *agg == Aggregator::Max;
                    vals.sort_by(|a, b| {
                        let by_num = num(&a.1).partial_cmp(&num(&b.1)).unwrap();
                        let by_num = if want_max { by_num.reverse() } else { by_num };
                        by_num.then_with(|| a.1.cmp(&b.1))
                    });
                    return (k, vals[0].1.clone());
                }
                Aggregator::First => {
                    vals.sort();
                    return (k, vals[0].1.clone());
                }
                Aggregator::Concat(sep) => {
                    let mut values: Vec<Vec<u8>> = vals.into_iter().map(|(_, v)| v).collect();
                    values.sort();
                    return (k, values.join(&sep[..]));
                }
            };
            (k, result.into_bytes())
        })
        .collect()
}

#[test]
fn spilling_and_multi_pass_merge_match_the_oracle() {
    for agg in all_aggregators() {
        for (budget, fan_in) in [(4096, 2), (6000, 3), (1 << 20, 2)] {
            let floats = !matches!(agg, Aggregator::Sum) || budget == 6000;
            let items = random_items(6000, budget as u64, floats);
            let spill = spill_dir("aggspill");
            let mut a = HashAggregator::new(vec![agg.clone()], budget, fan_in, Arc::clone(&spill));
            for (k, v, ord) in &items {
                a.add(k, v, *ord).unwrap();
            }
            let runs = a.runs.len();
            if budget < 10_000 {
                assert!(runs > 8, "{agg:?}: want many runs, got {runs}");
            } else {
                assert_eq!(runs, 0, "{agg:?}: a big budget needs no spill");
            }
            let out = collect(a.finish().unwrap()).unwrap();
            assert_eq!(out, expected(&agg, &items), "{agg:?} budget {budget}");
            assert_eq!(std::fs::read_dir(spill.path()).unwrap().count(), 0);
        }
    }
}

/// The oracle of a list: each aggregator's own expected results, joined
/// by tabs per key.
fn expected_all(aggs: &[Aggregator], items: &[(Vec<u8>, Vec<u8>, u64)]) -> Pairs {
    let each: Vec<Pairs> = aggs.iter().map(|agg| expected(agg, items)).collect();
    (0..each[0].len())
        .map(|i| {
            let values: Vec<&[u8]> = each.iter().map(|pairs| &pairs[i].1[..]).collect();
            (each[0][i].0.clone(), values.join(&b'\t'))
        })
        .collect()
}

#[test]
fn several_aggregators_print_each_result_as_alone_joined_by_tabs() {
    let aggs = [Aggregator::Sum, Aggregator::Count, Aggregator::Mean];
    let items: Vec<_> = [
        ("a", "1"),
        ("b", "2.5"),
        ("a", "3"),
        ("a", "-2"),
        ("c", "7"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (k, v))| (k.as_bytes().to_vec(), v.as_bytes().to_vec(), i as u64))
    .collect();
    let out = aggregate_all(&aggs, 1 << 20, 2, &items).unwrap();
    let text: Vec<String> = out
        .iter()
        .map(|(k, v)| {
            format!(
                "{}\t{}",
                String::from_utf8_lossy(k),
                String::from_utf8_lossy(v)
            )
        })
        .collect();
    // `b` and `c` have one value each: their mean is that value, a float.
    assert_eq!(
        text,
        [
            "a\t2\t3\t0.6666666666666666",
            "b\t2.5\t1\t2.5",
            "c\t7\t1\t7.0"
        ]
    );
    // Every aggregator, and the order written is the order printed.
    let mut all = all_aggregators();
    all.reverse();
    let items = random_items(500, 3, true);
    assert_eq!(
        aggregate_all(&all, 1 << 20, 2, &items).unwrap(),
        expected_all(&all, &items)
    );
    // A value one aggregator cannot read fails the key, naming the list.
    let items = vec![(b"k".to_vec(), b"x".to_vec(), 0)];
    let err = aggregate_all(&[Aggregator::Count, Aggregator::Max], 1 << 20, 2, &items).unwrap_err();
    assert_eq!(
        err,
        "reduce_by_key(count, max): key \"k\": cannot read \"x\" as a number"
    );
    let both = [Aggregator::Count, Aggregator::Concat(b"+".to_vec())];
    assert_eq!(
        aggregate_all(&both, 1 << 20, 2, &items).unwrap(),
        [(b"k".to_vec(), b"1\tx".to_vec())]
    );
}

#[test]
fn several_aggregators_spill_and_merge_under_a_few_kb() {
    let lists = [
        all_aggregators(),
        vec![Aggregator::Sum, Aggregator::Count, Aggregator::Mean],
        vec![
            Aggregator::Concat(b",".to_vec()),
            Aggregator::First,
            Aggregator::Min,
        ],
    ];
    for aggs in lists {
        for (budget, fan_in) in [(4096, 2), (8192, 3)] {
            let items = random_items(6000, budget as u64, true);
            let spill = spill_dir("aggtuple");
            let mut a = HashAggregator::new(aggs.clone(), budget, fan_in, Arc::clone(&spill));
            for (k, v, ord) in &items {
                a.add(k, v, *ord).unwrap();
            }
            assert!(
                a.runs.len() > 8,
                "{aggs:?}: want many runs, got {}",
                a.runs.len()
            );
            let out = collect(a.finish().unwrap()).unwrap();
            assert_eq!(out, expected_all(&aggs, &items), "{aggs:?} budget {budget}");
            assert_eq!(std::fs::read_dir(spill.path()).unwrap().count(), 0);
        }
    }
}

#[test]
fn a_tuple_costs_one_block_per_key_in_the_estimate() {
    let mut one = HashAggregator::new(vec![Aggregator::Sum], 1 << 30, 2, spill_dir("aggest1"));
    let three = vec![Aggregator::Sum, Aggregator::Count, Aggregator::Mean];
    let mut many = HashAggregator::new(three, 1 << 30, 2, spill_dir("aggest3"));
    for i in 0..100 {
        let key = format!("k{i}");
        one.add(key.as_bytes(), b"1", 0).unwrap();
        many.add(key.as_bytes(), b"1", 0).unwrap();
    }
    one.add_pending().unwrap();
    many.add_pending().unwrap();
    // The tuple's block, and the mean's own box.
    let block = crate::storage::sort::heap_bytes(3 * std::mem::size_of::<Acc>())
        + crate::storage::sort::heap_bytes(std::mem::size_of::<accumulator::Mean>());
    assert_eq!(many.entry_bytes, one.entry_bytes + 100 * block);
    // Nothing counted for no aggregators: the box of none is no block.
    let mut none = HashAggregator::new(Vec::new(), 1 << 30, 2, spill_dir("aggest0"));
    for i in 0..100 {
        none.add(format!("k{i}").as_bytes(), b"", 0).unwrap();
    }
    none.add_pending().unwrap();
    assert_eq!(none.entry_bytes, one.entry_bytes);
}

#[test]
fn combiner_round_trip() {
    for agg in all_aggregators() {
        let items = random_items(5000, 42, true);
        let items = if agg == Aggregator::Sum {
            random_items(5000, 42, false)
        } else {
            items
        };
        // Three map tasks, with different budgets, each finish_partial...
        let mut reduce = HashAggregator::new(vec![agg.clone()], 5000, 2, spill_dir("aggreduce"));
        for (task, budget) in [3000, 1 << 20, 8000].into_iter().enumerate() {
            let mut map_side =
                HashAggregator::new(vec![agg.clone()], budget, 2, spill_dir("aggmap"));
            for (k, v, ord) in items.iter().skip(task).step_by(3) {
                map_side.add(k, v, *ord).unwrap();
            }
            // ...and the reduce side merges their partials.
            for rec in map_side.finish_partial().unwrap() {
                let rec = rec.unwrap();
                reduce
                    .merge_partial(rec.key.as_ref().unwrap(), &rec.value)
                    .unwrap();
            }
        }
        let combined = collect(reduce.finish().unwrap()).unwrap();
        let single = aggregate(&agg, 1 << 20, 2, &items).unwrap();
        assert_eq!(combined, single, "{agg:?}");
        assert_eq!(combined, expected(&agg, &items), "{agg:?}");
    }
}

#[test]
fn combiner_round_trip_of_several_aggregators() {
    let aggs = all_aggregators();
    let items = random_items(5000, 43, true);
    let mut reduce = HashAggregator::new(aggs.clone(), 5000, 2, spill_dir("aggreducet"));
    for (task, budget) in [3000, 1 << 20, 8000].into_iter().enumerate() {
        let mut map_side = HashAggregator::new(aggs.clone(), budget, 2, spill_dir("aggmapt"));
        for (k, v, ord) in items.iter().skip(task).step_by(3) {
            map_side.add(k, v, *ord).unwrap();
        }
        for rec in map_side.finish_partial().unwrap() {
            let rec = rec.unwrap();
            assert_eq!(rec.value[0], b'T');
            reduce
                .merge_partial(rec.key.as_ref().unwrap(), &rec.value)
                .unwrap();
        }
    }
    let combined = collect(reduce.finish().unwrap()).unwrap();
    assert_eq!(combined, expected_all(&aggs, &items));
}

#[test]
fn corrupt_spill_run_is_reported() {
    let spill = spill_dir("aggbad");
    let mut a = HashAggregator::new(vec![Aggregator::Count], 2000, 2, Arc::clone(&spill));
    for (k, v, ord) in random_items(3000, 5, false) {
        a.add(&k, &v, ord).unwrap();
    }
    assert!(a.runs.len() > 4);
    let victim = a.runs[a.runs.len() - 2].clone();
    let mut bytes = std::fs::read(&victim).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&victim, bytes).unwrap();
    let err = match a.finish() {
        Err(e) => e,
        Ok(results) => results
            .filter_map(Result::err)
            .next()
            .expect("corruption not reported"),
    };
    assert!(err.contains("CRC mismatch"), "{err}");
}

#[test]
fn corrupt_partials_are_errors_not_panics() {
    let mut rng = Rng::new(99);
    let singles = all_aggregators().into_iter().map(|agg| vec![agg]);
    let lists = [
        all_aggregators(),
        vec![Aggregator::Sum, Aggregator::Count],
        Vec::new(),
    ];
    for aggs in singles.chain(lists) {
        // A valid partial to cut and flip.
        let mut a = HashAggregator::new(aggs.clone(), 1 << 20, 2, spill_dir("aggpart"));
        for (k, v, ord) in random_items(50, 1, true) {
            a.add(&k, &v, ord).unwrap();
        }
        let good = a.finish_partial().unwrap().next().unwrap().unwrap().value;
        let mut r = HashAggregator::new(aggs.clone(), 1 << 20, 2, spill_dir("aggpart2"));
        for cut in 0..good.len() {
            // Ignore the result: it must just not panic. Cutting a
            // variable-length partial can leave a valid one.
            let _ = r.merge_partial(b"k", &good[..cut]);
        }
        assert!(r.merge_partial(b"k", b"").is_err());
        assert!(r.merge_partial(b"k", b"?123").is_err(), "wrong tag");
        for _ in 0..500 {
            let len = rng.below(40) as usize;
            let mut junk: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
            if let Some(first) = junk.first_mut() {
                *first = good[0];
            }
            let _ = r.merge_partial(b"k", &junk);
            // And the good one with one byte flipped.
            let mut flipped = good.to_vec();
            let at = rng.below(flipped.len() as u64) as usize;
            flipped[at] ^= 1 << rng.below(8);
            let _ = r.merge_partial(b"k", &flipped);
        }
        let _ = r.finish().map(|it| it.count());
    }
    let mut c = HashAggregator::new(
        vec![Aggregator::Concat(b",".to_vec())],
        1 << 20,
        2,
        spill_dir("aggpart3"),
    );
    let err = c.merge_partial(b"k", b"J\x00\x00\x00\x09ab").unwrap_err();
    assert_eq!(
        err,
        "reduce_by_key(concat(\",\")): key \"k\": corrupt partial result (value of 9 bytes at byte 4 overruns the end)"
    );
}

#[test]
fn memory_estimate_grows_with_keys_and_spills_reset_it() {
    let spill = spill_dir("aggmem");
    let mut a = HashAggregator::new(vec![Aggregator::Sum], 1 << 30, 2, Arc::clone(&spill));
    a.add(b"key", b"1", 0).unwrap();
    a.add_pending().unwrap();
    let one = a.entry_bytes + a.map.bytes();
    assert!(one >= ENTRY_BYTES + 16, "{one}");
    for i in 0..1000 {
        a.add(format!("key{i}").as_bytes(), b"1", 0).unwrap();
    }
    a.add_pending().unwrap();
    assert!(a.entry_bytes + a.map.bytes() > 1000 * (ENTRY_BYTES + 16));
    a.spill_table().unwrap();
    assert_eq!(a.entry_bytes, 0);
    assert!(a.map.is_empty());
    assert_eq!(spill.stats().records, 1001);
}

/// Rough speeds: `cargo test --release --lib -- --ignored --nocapture speed`.
/// The stream is text split into words, as the map side of word count sees
/// it: 47,000 distinct words with a Zipf-like skew.
#[test]
#[ignore]
fn speed_of_add_on_a_word_count_stream() {
    use std::time::Instant;
    let mut rng = Rng::new(1);
    let words: Vec<Vec<u8>> = (0..47_000)
        .map(|i| format!("w{i:x}ord").into_bytes())
        .collect();
    let mut text = Vec::new();
    let n = 10_000_000;
    for _ in 0..n {
        let u = rng.unit();
        text.extend_from_slice(&words[((u * u * u) * words.len() as f64) as usize]);
        text.push(b' ');
    }
    text.pop();
    // Baseline: the table alone, a u64 per key.
    let start = Instant::now();
    let mut plain: HashMap<Vec<u8>, u64, FastBuildHasher> = HashMap::default();
    for w in text.split(|&b| b == b' ') {
        match plain.get_mut(w) {
            Some(c) => *c += 1,
            None => {
                plain.insert(w.to_vec(), 1);
            }
        }
    }
    eprintln!(
        "plain HashMap<Vec<u8>, u64>: {:.1} M lookups/s ({} keys)",
        n as f64 / start.elapsed().as_secs_f64() / 1e6,
        plain.len()
    );
    let start = Instant::now();
    let mut wide: HashMap<Vec<u8>, [u64; 7], FastBuildHasher> = HashMap::default();
    for w in text.split(|&b| b == b' ') {
        match wide.get_mut(w) {
            Some(c) => c[0] += 1,
            None => {
                wide.insert(w.to_vec(), [1; 7]);
            }
        }
    }
    eprintln!(
        "plain HashMap<Vec<u8>, [u64; 7]>: {:.1} M lookups/s",
        n as f64 / start.elapsed().as_secs_f64() / 1e6,
    );
    for (agg, budget) in [
        (Aggregator::Sum, 64 << 20),
        (Aggregator::Count, 64 << 20),
        (Aggregator::Sum, 1 << 20),
    ] {
        let mut a = HashAggregator::new(vec![agg.clone()], budget, 16, spill_dir("aggspeed"));
        let start = Instant::now();
        for (ord, w) in text.split(|&b| b == b' ').enumerate() {
            a.add(w, b"1", ord as u64).unwrap();
        }
        let adds = start.elapsed();
        let runs = a.runs.len();
        let keys = a.finish().unwrap().count();
        let total = start.elapsed();
        eprintln!(
            "{agg:?} budget {budget}: {:.1} M add/s, {runs} spills, finish ({keys} keys) {:?}",
            n as f64 / adds.as_secs_f64() / 1e6,
            total - adds,
        );
    }
}

/// The bound itself: a table of many more distinct keys than fit is never,
/// after any record, estimated above its budget; it spills instead, and
/// the answer is the one an unbounded table gives. Short keys (inline in
/// the slot) and long ones (on the heap) both count.
#[test]
fn the_table_never_holds_more_than_its_budget() {
    const BUDGET: usize = 32 * 1024;
    const KEYS: usize = 20_000;
    for key_len in [8, 40] {
        let spill = spill_dir("aggbound");
        let mut a = HashAggregator::new(vec![Aggregator::Count], BUDGET, 8, Arc::clone(&spill));
        let mut most = 0;
        for n in 0..KEYS * 2 {
            let key = format!("{:0key_len$}", (n * 7919) % KEYS);
            a.add(key.as_bytes(), b"1", n as u64).unwrap();
            most = most.max(a.entry_bytes + a.map.bytes());
            assert!(
                a.entry_bytes + a.map.bytes() <= BUDGET,
                "{key_len}-byte keys: after {} records the table holds an estimated {} bytes, \
                 over its budget of {BUDGET}",
                n + 1,
                a.entry_bytes + a.map.bytes()
            );
        }
        assert!(
            a.runs.len() >= 2,
            "{key_len}-byte keys: {KEYS} keys in {BUDGET} bytes must spill, made {} runs",
            a.runs.len()
        );
        assert!(
            most > BUDGET / 4,
            "{key_len}-byte keys: the budget was used ({most} bytes)"
        );
        let out = collect(a.finish().unwrap()).unwrap();
        assert_eq!(out.len(), KEYS);
        assert!(
            out.iter().all(|(_, count)| count == b"2"),
            "every key counted twice"
        );
    }
}

#[test]
fn push_bytes_appends_every_length_exactly() {
    let source: Vec<u8> = (1..=40).collect();
    for start in 0..3 {
        let mut out = vec![0xee; start];
        let mut want = out.clone();
        for n in 0..=source.len() {
            push_bytes(&mut out, &source[..n]);
            want.extend_from_slice(&source[..n]);
            assert_eq!(out, want, "after {n} bytes");
        }
    }
}
