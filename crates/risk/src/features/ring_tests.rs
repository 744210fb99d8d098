//! The incremental ring against its definition: after every change the derived state
//! equals one rebuilt from the entries, and features at any time equal `scan.rs`.
//! Unlike `tests/streaming_props.rs` this reaches what the store's API rarely does:
//! entity caps dropping entries inside windows, trims, events far beyond the late bound,
//! amounts near `i64::MAX` or below zero, queries after the newest time.

use proptest::prelude::*;

use super::config::StoreConfig;
use super::ring::{Entry, FLAG_FALLBACK, FLAG_REFUND, NOT_FRAUD, Ring, Spec};
use super::scan;
use super::values::DelayedStats;
use super::window::Scratch;
use crate::fasthash::IntSet;

#[derive(Clone, Debug)]
enum Op {
    /// An event `back_ms` before the newest time (negative: after it).
    Insert {
        back_ms: i64,
        amount_minor: i64,
        other: u32,
        flags: u8,
    },
    Decline(prop::sample::Index),
    /// A label known `known_ms` after the entry's time, or removed.
    Label(prop::sample::Index, Option<i64>),
    /// Drop what is `back_ms` or more behind the newest.
    Trim(i64),
}

fn op() -> impl Strategy<Value = Op> {
    let amount = prop_oneof![
        20 => 0i64..50_000,
        2 => Just(10_000i64),
        1 => i64::MAX - 3..=i64::MAX,
        1 => -50_000i64..0,
    ];
    let back = prop_oneof![
        10 => -400i64..0,
        4 => 0i64..3_000,
        1 => 0i64..60_000,
        2 => Just(0i64),
    ];
    prop_oneof![
        12 => (back, amount, 0u32..6, 0u8..8).prop_map(|(back_ms, amount_minor, other, f)| {
            Op::Insert { back_ms, amount_minor, other, flags: f & (FLAG_REFUND | FLAG_FALLBACK) }
        }),
        2 => any::<prop::sample::Index>().prop_map(Op::Decline),
        3 => (any::<prop::sample::Index>(), prop::option::weighted(0.9, -2_000i64..20_000))
            .prop_map(|(i, k)| Op::Label(i, k)),
        1 => (0i64..40_000).prop_map(Op::Trim),
    ]
}

fn spec() -> Spec {
    Spec::of(&StoreConfig {
        windows_ms: vec![1_000, 5_000, 20_000],
        delayed_windows_ms: vec![3_000, 10_000],
        label_delay_ms: 4_000,
        ..StoreConfig::default()
    })
}

/// Every feature at `t` equals the definition's.
fn check_at(ring: &Ring, spec: &Spec, t: i64, txn_id: u64, scratch: &mut Scratch) {
    let mut seen = IntSet::default();
    let (slots, dropped) = (ring.slots(), ring.dropped_until_ms);
    let want = scan::features(slots, dropped, t, txn_id, spec.windows(), &mut seen);
    assert_eq!(
        ring.features(t, txn_id, spec, scratch),
        want,
        "features at {t}"
    );
    let mut got = [DelayedStats::default(); 2];
    let mut want = got;
    ring.delayed(t, spec, &mut got);
    scan::delayed(slots, dropped, t, spec.delay_ms, spec.delayed(), &mut want);
    assert_eq!(got, want, "delayed at {t}");
}

fn run(ops: &[Op], cap: usize, probes: &[i64]) {
    let spec = spec();
    let retention_ms = 40_000;
    let mut ring = Ring::new(true);
    let mut scratch = Scratch::default();
    let mut newest = 1_000_000i64;
    for (id, op) in ops.iter().enumerate() {
        let nth = |i: &prop::sample::Index| {
            let e: Vec<Entry> = ring.entries().copied().collect();
            (!e.is_empty()).then(|| e[i.index(e.len())])
        };
        match *op {
            Op::Insert {
                back_ms,
                amount_minor,
                other,
                flags,
            } => {
                let time_ms = newest - back_ms;
                newest = newest.max(time_ms);
                let e = Entry {
                    time_ms,
                    txn_id: id as u64,
                    amount_minor,
                    fraud_known_at_ms: NOT_FRAUD,
                    other,
                    flags,
                };
                ring.insert(e, retention_ms, cap, &spec);
                check_at(&ring, &spec, time_ms, id as u64, &mut scratch);
            }
            Op::Decline(ref i) => {
                if let Some(e) = nth(i) {
                    assert!(ring.mark_declined(e.txn_id, e.time_ms));
                }
            }
            Op::Label(ref i, known) => {
                if let Some(e) = nth(i) {
                    let known = known.map_or(NOT_FRAUD, |k| e.time_ms + k);
                    assert!(ring.set_fraud_known(e.txn_id, e.time_ms, known, &spec));
                }
            }
            Op::Trim(back_ms) => ring.trim(newest - back_ms, &spec),
        }
        ring.assert_consistent(&spec);
        let anchor = ring.entries().last().map_or(newest, |e| e.time_ms);
        for &p in probes {
            check_at(&ring, &spec, anchor - p, u64::MAX, &mut scratch);
        }
        if let Some(e) = ring.entries().nth(id % ring.len().max(1)) {
            check_at(&ring, &spec, e.time_ms, e.txn_id, &mut scratch);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn incremental_ring_equals_its_definition(
        ops in prop::collection::vec(op(), 1..400),
        cap in prop_oneof![Just(100_000usize), 2usize..40],
        probes in prop::collection::vec(-2_000i64..25_000, 0..4),
    ) {
        run(&ops, cap, &probes);
    }
}

#[test]
fn extreme_times_saturate_like_the_definition() {
    let spec = spec();
    let mut ring = Ring::new(true);
    let mut scratch = Scratch::default();
    // Enough entries for running aggregates (small rings are scanned).
    for i in 0..20u64 {
        ring.insert(
            entry(i as i64 + 1, 100 + i, i64::MAX - 5),
            i64::MAX,
            100,
            &spec,
        );
    }
    assert!(ring.is_derived());
    for (i, t) in [i64::MIN, i64::MIN + 5, 0, i64::MAX - 1, i64::MAX]
        .into_iter()
        .enumerate()
    {
        let e = entry(t, i as u64, 7);
        ring.insert(e, i64::MAX, 100, &spec);
        ring.assert_consistent(&spec);
        for probe in [i64::MIN, i64::MIN + 5, -1, 0, i64::MAX - 1, i64::MAX] {
            check_at(&ring, &spec, probe, i as u64, &mut scratch);
        }
    }
    assert!(ring.set_fraud_known(3, i64::MAX - 1, i64::MAX - 1, &spec));
    ring.assert_consistent(&spec);
    check_at(&ring, &spec, i64::MAX, 9, &mut scratch);
    assert!(ring.is_derived());
}

fn entry(time_ms: i64, txn_id: u64, amount_minor: i64) -> Entry {
    Entry {
        time_ms,
        txn_id,
        amount_minor,
        fraud_known_at_ms: NOT_FRAUD,
        other: (txn_id % 3) as u32,
        flags: 0,
    }
}

#[test]
fn small_rings_are_scanned_and_large_ones_keep_aggregates() {
    let spec = spec();
    let mut ring = Ring::new(true);
    let mut scratch = Scratch::default();
    for i in 0..40u64 {
        let t = 1_000_000 + 300 * i as i64;
        ring.insert(entry(t, i, 500 * i as i64), 40_000, 100, &spec);
        assert_eq!(ring.is_derived(), ring.len() > 16, "{i}");
        ring.assert_consistent(&spec);
        check_at(&ring, &spec, t, i, &mut scratch);
        check_at(&ring, &spec, t - 2_500, u64::MAX, &mut scratch);
    }
    // A trim that leaves few entries gives the aggregates back; they return with growth.
    ring.trim(1_000_000 + 300 * 33, &spec);
    assert_eq!((ring.len(), ring.is_derived()), (6, false));
    check_at(&ring, &spec, 1_000_000 + 300 * 39, 39, &mut scratch);
    for i in 40..60u64 {
        ring.insert(entry(1_000_000 + 300 * i as i64, i, 7), 40_000, 100, &spec);
        ring.assert_consistent(&spec);
    }
    assert!(ring.is_derived());
    // Cap drops never leave a ring empty; a trim past everything does.
    ring.trim(i64::MAX, &spec);
    assert_eq!((ring.len(), ring.is_derived()), (0, false));
}
