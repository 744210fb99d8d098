//! Streaming features against a brute-force recomputation over random histories,
//! including arrival out of order within the late bound, labels, and snapshots.

use model::{Currency, TxnKind};
use proptest::prelude::*;
use risk::geo::speed_kmh;
use risk::{
    CardKey, DelayedStats, EntityFeatures, EntryMode, FeatureStore, Features, GeoFeatures,
    GeoPoint, Label, MerchantKey, OperatorKey, RiskEvent, StoreConfig, TerminalKey, WindowStats,
};

const LATE_BOUND_MS: i64 = 20_000;

fn config() -> StoreConfig {
    StoreConfig {
        windows_ms: vec![10_000, 60_000, 300_000],
        delayed_windows_ms: vec![30_000, 120_000],
        label_delay_ms: 60_000,
        late_bound_ms: LATE_BOUND_MS,
        events_per_entity_max: 100_000,
    }
}

/// (event, arrival time, label to apply after it: (index of an earlier-arrived event, fraud, known-at offset))
type Case = Vec<(RiskEvent, i64, Option<(usize, bool, i64)>)>;

/// A position: one of a few fixed places (so that repeats and zero distances occur), or
/// anywhere, including beyond the valid ranges (the distance must be total).
fn point() -> impl Strategy<Value = GeoPoint> {
    prop_oneof![
        (0usize..4).prop_map(|i| {
            let (lat_e6, lon_e6) = [
                (39_904_200, 116_407_400),
                (31_230_400, 121_473_700),
                (31_231_000, 121_474_000),
                (-33_868_800, 151_209_300),
            ][i];
            GeoPoint { lat_e6, lon_e6 }
        }),
        (-90_000_000i32..=90_000_000, -180_000_000i32..=180_000_000)
            .prop_map(|(lat_e6, lon_e6)| GeoPoint { lat_e6, lon_e6 }),
        (any::<i32>(), any::<i32>()).prop_map(|(lat_e6, lon_e6)| GeoPoint { lat_e6, lon_e6 }),
    ]
}

fn history() -> impl Strategy<Value = Case> {
    let one = (
        // Equal times (gap 0) are frequent enough to exercise the tie-breaks.
        (
            prop_oneof![1 => Just(0i64), 4 => 0i64..15_000],
            0u32..4,
            0u32..3,
            prop::option::of(0u32..2),
        ),
        0i64..30_000,
        any::<bool>(),
        any::<bool>(),
        0i64..=LATE_BOUND_MS,
        prop::option::of((
            any::<prop::sample::Index>(),
            any::<bool>(),
            -10_000i64..100_000,
        )),
        (
            prop::bool::weighted(0.3),
            prop::option::weighted(0.7, point()),
            prop::option::weighted(0.5, point()),
        ),
    );
    prop::collection::vec(one, 1..120).prop_map(|rows| {
        let mut t = 1_000_000;
        let mut out: Case = Vec::new();
        for (i, (who, amount, refund, declined, late, label, (fallback, location, home))) in
            rows.into_iter().enumerate()
        {
            let (gap, card, term, op) = who;
            t += gap;
            let ev = RiskEvent {
                txn_id: i as u64,
                time_ms: t,
                card: CardKey(card),
                terminal: TerminalKey(term),
                merchant: MerchantKey(term % 2),
                operator: op.map(OperatorKey),
                amount_minor: amount * 100,
                currency: Currency::CNY,
                kind: if refund {
                    TxnKind::Refund
                } else {
                    TxnKind::Purchase
                },
                declined,
                entry_mode: if fallback {
                    EntryMode::Fallback
                } else {
                    EntryMode::Chip
                },
                location,
                terminal_home: home,
            };
            let label = label.map(|(ix, fraud, off)| (ix.index(i + 1), fraud, off));
            out.push((ev, t + late, label));
        }
        out.sort_by_key(|(ev, arrival, _)| (*arrival, ev.txn_id));
        out
    })
}

/// The definition: windows over the events that arrived so far.
fn brute_entity(
    arrived: &[RiskEvent],
    me: &RiskEvent,
    windows: &[i64],
    key: impl Fn(&RiskEvent) -> Option<u64>,
    other: impl Fn(&RiskEvent) -> u32,
) -> Option<EntityFeatures> {
    let k = key(me)?;
    let mine: Vec<&RiskEvent> = arrived
        .iter()
        .filter(|e| key(e) == Some(k) && e.time_ms <= me.time_ms)
        .collect();
    let mut out = EntityFeatures::default();
    for (i, &w) in windows.iter().enumerate() {
        let inw: Vec<&&RiskEvent> = mine.iter().filter(|e| e.time_ms > me.time_ms - w).collect();
        let mut others: Vec<u32> = inw.iter().map(|e| other(e)).collect();
        others.sort_unstable();
        others.dedup();
        out.windows[i] = WindowStats {
            count: inw.len() as u32,
            sum_minor: inw.iter().map(|e| e.amount_minor).sum(),
            max_minor: inw.iter().map(|e| e.amount_minor).max().unwrap_or(0),
            distinct: others.len() as u32,
            declines: inw.iter().filter(|e| e.declined).count() as u32,
            refunds: inw.iter().filter(|e| e.kind == TxnKind::Refund).count() as u32,
            round: inw
                .iter()
                .filter(|e| e.amount_minor != 0 && e.amount_minor % 10_000 == 0)
                .count() as u32,
            fallbacks: inw
                .iter()
                .filter(|e| e.entry_mode == EntryMode::Fallback)
                .count() as u32,
            exact: true,
        };
    }
    out.since_prev_ms = mine
        .iter()
        .filter(|e| e.txn_id != me.txn_id)
        .map(|e| me.time_ms - e.time_ms)
        .min();
    Some(out)
}

/// The definition: the terminal's located event with the greatest (time, id) below this
/// one's, among those that arrived so far.
fn brute_geo(arrived: &[RiskEvent], me: &RiskEvent) -> GeoFeatures {
    let Some(here) = me.location else {
        return GeoFeatures::default();
    };
    let prev = arrived
        .iter()
        .filter(|e| e.terminal == me.terminal && e.location.is_some())
        .filter(|e| (e.time_ms, e.txn_id) < (me.time_ms, me.txn_id))
        .max_by_key(|e| (e.time_ms, e.txn_id));
    let distance_prev_m = prev.and_then(|p| p.location).map(|p| p.distance_m(here));
    GeoFeatures {
        distance_home_m: me.terminal_home.map(|h| h.distance_m(here)),
        distance_prev_m,
        speed_kmh: prev
            .zip(distance_prev_m)
            .map(|(p, d)| speed_kmh(d, me.time_ms - p.time_ms)),
    }
}

fn brute_delayed(
    arrived: &[RiskEvent],
    known: &std::collections::HashMap<u64, i64>,
    me: &RiskEvent,
    c: &StoreConfig,
) -> Vec<DelayedStats> {
    let edge = me.time_ms - c.label_delay_ms;
    c.delayed_windows_ms
        .iter()
        .map(|&w| {
            let inw: Vec<&RiskEvent> = arrived
                .iter()
                .filter(|e| e.terminal == me.terminal && e.time_ms <= edge && e.time_ms > edge - w)
                .collect();
            let frauds = inw
                .iter()
                .filter(|e| known.get(&e.txn_id).is_some_and(|&k| k <= me.time_ms))
                .count();
            DelayedStats {
                count: inw.len() as u32,
                frauds: frauds as u32,
                exact: true,
            }
        })
        .collect()
}

/// What has been observed, declined and labelled so far: the brute-force side.
#[derive(Clone, Default)]
struct Model {
    arrived: Vec<RiskEvent>,
    /// When each fraud label becomes known.
    known: std::collections::HashMap<u64, i64>,
}

impl Model {
    fn arrive(&mut self, ev: &RiskEvent) {
        self.arrived.push(*ev);
    }

    /// Every feature of `ev`, as observed, equals the definition's.
    fn check(&self, f: &Features, ev: &RiskEvent) -> Result<(), TestCaseError> {
        type Key = fn(&RiskEvent) -> Option<u64>;
        let c = config();
        let (arrived, w) = (&self.arrived[..], &c.windows_ms);
        let of = |key: Key, other: fn(&RiskEvent) -> u32| brute_entity(arrived, ev, w, key, other);
        let card: Key = |e| Some(u64::from(e.card.0));
        let terminal: Key = |e| Some(u64::from(e.terminal.0));
        let merchant: Key = |e| Some(u64::from(e.merchant.0));
        let operator: Key = |e| e.operator.map(|o| u64::from(o.0));
        let pair: Key = |e| Some((u64::from(e.card.0) << 32) | u64::from(e.terminal.0));
        prop_assert_eq!(Some(f.card), of(card, |e| e.terminal.0));
        prop_assert_eq!(Some(f.terminal), of(terminal, |e| e.card.0));
        prop_assert_eq!(Some(f.merchant), of(merchant, |e| e.card.0));
        prop_assert_eq!(f.operator, of(operator, |e| e.card.0));
        prop_assert_eq!(Some(f.card_terminal), of(pair, |e| e.card.0));
        let delayed = brute_delayed(arrived, &self.known, ev, &c);
        prop_assert_eq!(&f.terminal_delayed[..delayed.len()], &delayed[..]);
        prop_assert_eq!(f.terminal_geo, brute_geo(arrived, ev));
        Ok(())
    }

    /// Labels the `ix`-th arrived transaction in the store and here.
    fn label(
        &mut self,
        store: &mut FeatureStore,
        ix: usize,
        fraud: bool,
        off: i64,
    ) -> Result<(), TestCaseError> {
        let target = self.arrived[ix % self.arrived.len()];
        let known_at = target.time_ms + off;
        let label = Label {
            txn_id: target.txn_id,
            fraud,
            known_at_ms: Some(known_at),
        };
        let applied = store.label(label);
        // Only transactions out of every window may be forgotten.
        let kept = target.time_ms > store.high_water_ms() - config().retention_ms();
        prop_assert!(applied || !kept);
        if applied {
            if fraud {
                self.known.insert(target.txn_id, known_at);
            } else {
                self.known.remove(&target.txn_id);
            }
        }
        Ok(())
    }

    /// Records the decline of the `ix`-th arrived transaction in the store and here.
    fn decline(&mut self, store: &mut FeatureStore, ix: usize) -> Result<(), TestCaseError> {
        let i = ix % self.arrived.len();
        let target = self.arrived[i];
        let applied = store.record_decline(target.txn_id);
        let kept = target.time_ms > store.high_water_ms() - config().retention_ms();
        prop_assert!(applied || !kept);
        if applied {
            self.arrived[i].declined = true;
        }
        Ok(())
    }
}

/// One step of a long history: an event, then what the host learns after scoring it.
#[derive(Clone, Debug)]
struct Step {
    ev: RiskEvent,
    arrival_ms: i64,
    /// The event itself is declined after it was scored.
    declined_after: bool,
    /// An earlier arrived transaction is declined (by its index, modulo).
    decline_earlier: Option<usize>,
    /// (index of an earlier arrived transaction, fraud, known-at offset from its time)
    label: Option<(usize, bool, i64)>,
}

/// Thousands of events on 3 cards, 2 terminals (2 merchants) and 2 operators, ~90 ms
/// apart on average (a quarter at the same millisecond as the one before), 4.5 to 7.5
/// minutes in all: every window slides past thousands of entries, and transactions older
/// than the retention are forgotten. A quarter arrive up to the late bound behind their
/// time; declines and labels come later, for earlier transactions too. Seeded, so a
/// failure replays from its seed.
fn long_history(seed: u64) -> Vec<Step> {
    let mut x = seed | 1;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let n = 3_000 + next(2_000) as usize;
    let mut t = 1_000_000;
    let mut out: Vec<Step> = (0..n)
        .map(|i| {
            t += if next(4) == 0 { 0 } else { next(250) as i64 };
            let term = next(2) as u32;
            let amount = if next(10) == 0 {
                next(5) * 10_000
            } else {
                next(3_000_000)
            };
            let ev = RiskEvent {
                txn_id: i as u64,
                time_ms: t,
                card: CardKey(next(3) as u32),
                terminal: TerminalKey(term),
                merchant: MerchantKey(term),
                operator: (next(2) == 0).then(|| OperatorKey(next(2) as u32)),
                amount_minor: amount as i64,
                currency: Currency::CNY,
                kind: if next(10) == 0 {
                    TxnKind::Refund
                } else {
                    TxnKind::Purchase
                },
                declined: next(20) == 0,
                entry_mode: if next(10) == 0 {
                    EntryMode::Fallback
                } else {
                    EntryMode::Chip
                },
                location: None,
                terminal_home: None,
            };
            let late = if next(4) == 0 {
                next(LATE_BOUND_MS as u64 + 1)
            } else {
                next(300)
            };
            Step {
                ev,
                arrival_ms: t + late as i64,
                declined_after: next(10) == 0,
                decline_earlier: (next(20) == 0).then(|| next(1 << 20) as usize),
                label: (next(15) == 0).then(|| {
                    (
                        next(1 << 20) as usize,
                        next(5) != 0,
                        next(110_000) as i64 - 10_000,
                    )
                }),
            }
        })
        .collect();
    out.sort_by_key(|s| (s.arrival_ms, s.ev.txn_id));
    out
}

/// Observes one step in `store` and `model`, checks the features if asked, and applies
/// what the host learns after scoring.
fn play(
    store: &mut FeatureStore,
    model: &mut Model,
    s: &Step,
    check: bool,
) -> Result<Features, TestCaseError> {
    model.arrive(&s.ev);
    let f = store.observe(&s.ev);
    if check {
        model.check(&f, &s.ev)?;
    }
    if s.declined_after {
        prop_assert!(store.record_decline(s.ev.txn_id));
        let i = model.arrived.len() - 1;
        model.arrived[i].declined = true;
    }
    if let Some(ix) = s.decline_earlier {
        model.decline(store, ix)?;
    }
    if let Some((ix, fraud, off)) = s.label {
        model.label(store, ix, fraud, off)?;
    }
    Ok(f)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn streaming_equals_brute_force_with_late_arrivals(case in history()) {
        let mut store = FeatureStore::new(config()).unwrap();
        let mut model = Model::default();
        for (ev, _, label) in &case {
            model.arrive(ev);
            let f = store.observe(ev);
            model.check(&f, ev)?;
            if let Some((ix, fraud, off)) = label {
                model.label(&mut store, *ix, *fraud, *off)?;
            }
        }
    }

    #[test]
    fn arrival_order_within_the_bound_does_not_change_the_final_state(case in history()) {
        let mut late = FeatureStore::new(config()).unwrap();
        let mut in_order = FeatureStore::new(config()).unwrap();
        let mut sorted: Vec<RiskEvent> = case.iter().map(|(e, _, _)| *e).collect();
        for e in &sorted { late.observe(e); }
        sorted.sort_by_key(|e| (e.time_ms, e.txn_id));
        for e in &sorted { in_order.observe(e); }
        // Observing a kept transaction again adds nothing; older ones are forgotten.
        let horizon = late.high_water_ms() - config().retention_ms();
        for e in sorted.iter().filter(|e| e.time_ms > horizon) {
            prop_assert_eq!(late.observe(e), in_order.observe(e));
        }
    }

    #[test]
    fn snapshot_restore_gives_the_same_store_and_features(case in history()) {
        let mut store = FeatureStore::new(config()).unwrap();
        let half = case.len() / 2;
        for (e, _, _) in &case[..half] { store.observe(e); }
        let bytes = store.snapshot();
        let mut restored = FeatureStore::restore(&bytes).unwrap();
        prop_assert!(restored == store);
        prop_assert_eq!(restored.snapshot(), bytes);
        for (e, _, _) in &case[half..] {
            prop_assert_eq!(restored.observe(e), store.observe(e));
        }
    }

    #[test]
    fn restore_never_panics_on_corrupt_bytes(case in history(), cut in any::<prop::sample::Index>(), flip in any::<u8>()) {
        let mut store = FeatureStore::new(config()).unwrap();
        for (e, _, _) in &case { store.observe(e); }
        let mut bytes = store.snapshot();
        let at = cut.index(bytes.len());
        let _ = FeatureStore::restore(&bytes[..at]);
        bytes[at] ^= flip;
        let _ = FeatureStore::restore(&bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// The incremental paths under load: every feature of every event of a long history
    /// against the definition, with late arrivals, later declines and later labels.
    #[test]
    fn long_histories_on_few_entities_equal_brute_force(seed in any::<u64>()) {
        let mut store = FeatureStore::new(config()).unwrap();
        let mut model = Model::default();
        for s in &long_history(seed) {
            play(&mut store, &mut model, s, true)?;
            // Observed again after its decline and labels: at a time that is usually
            // behind the newest by now.
            model.check(&store.observe(&s.ev), &s.ev)?;
        }
    }

    /// A store restored from a snapshot of a long history gives the same features as the
    /// original for everything that follows.
    #[test]
    fn long_histories_restore_to_identical_features(seed in any::<u64>(), cut in 0.1f64..0.9) {
        let steps = long_history(seed);
        let half = (steps.len() as f64 * cut) as usize;
        let mut store = FeatureStore::new(config()).unwrap();
        let mut model = Model::default();
        for s in &steps[..half] {
            play(&mut store, &mut model, s, false)?;
        }
        let bytes = store.snapshot();
        let mut restored = FeatureStore::restore(&bytes).unwrap();
        prop_assert!(restored == store);
        prop_assert_eq!(restored.snapshot(), bytes);
        let mut model_restored = model.clone();
        for s in &steps[half..] {
            let a = play(&mut store, &mut model, s, false)?;
            let b = play(&mut restored, &mut model_restored, s, false)?;
            prop_assert_eq!(a, b);
        }
        for s in &steps {
            prop_assert_eq!(store.observe(&s.ev), restored.observe(&s.ev));
        }
    }
}

fn event(i: u64, time_ms: i64) -> RiskEvent {
    RiskEvent {
        txn_id: i,
        time_ms,
        card: CardKey(1),
        terminal: TerminalKey(1),
        merchant: MerchantKey(1),
        operator: None,
        amount_minor: 100,
        currency: Currency::CNY,
        kind: TxnKind::Purchase,
        declined: false,
        entry_mode: EntryMode::Chip,
        location: None,
        terminal_home: None,
    }
}

#[test]
fn beyond_the_entity_bound_long_windows_are_flagged_inexact() {
    let c = StoreConfig {
        events_per_entity_max: 8,
        ..config()
    };
    let mut store = FeatureStore::new(c).unwrap();
    let mut f = None;
    for i in 0..20 {
        f = Some(store.observe(&event(i, 1_000_000 + i as i64 * 1_000)));
    }
    let f = f.unwrap();
    // 10 s window: 10 events would fit but only 8 are kept -> inexact, undercounts.
    assert_eq!(f.card.windows[0].count, 8);
    assert!(!f.card.windows[0].exact);
    // The dropped entries still give the time since the previous event.
    assert_eq!(f.card.since_prev_ms, Some(1_000));
}

#[test]
fn memory_per_card_with_all_windows_is_bounded() {
    let c = StoreConfig::default();
    let mut store = FeatureStore::new(c.clone()).unwrap();
    // A card paying every 10 minutes for 40 days: more than its bound of events.
    for i in 0..(40 * 144) {
        store.observe(&event(i, 1_000_000_000 + i as i64 * 600_000));
    }
    let bytes = store.card_bytes(1);
    // Entries and the max tree (ENTRY_BYTES each), plus the window aggregates and the
    // distinct counts of its one terminal.
    let bound = c.events_per_entity_max as usize * risk::features::ENTRY_BYTES + 1_024;
    println!(
        "card with {} windows at its bound: {bytes} bytes (bound {bound})",
        c.windows_ms.len()
    );
    assert!(bytes <= bound, "{bytes}");
}

#[test]
fn memory_per_terminal_track_is_bounded() {
    let c = StoreConfig::default();
    let mut store = FeatureStore::new(c).unwrap();
    let here = GeoPoint {
        lat_e6: 31_230_400,
        lon_e6: 121_473_700,
    };
    // Terminal 1 reports a position every second for an hour: far more than fit in the
    // 5-minute late bound. Terminal 2 every 10 minutes: it keeps two.
    for i in 0..3_600u64 {
        let mut e = event(i, 1_000_000_000 + i as i64 * 1_000);
        e.location = Some(here);
        store.observe(&e);
        if i % 600 == 0 {
            let mut e = event(100_000 + i, 1_000_000_000 + i as i64 * 1_000);
            e.terminal = TerminalKey(2);
            e.location = Some(here);
            store.observe(&e);
        }
    }
    let busy = store.terminal_track_bytes(1);
    let idle = store.terminal_track_bytes(2);
    // The map slot: a key and a deque header (40 bytes on 64-bit targets).
    let slot = 64;
    let bound = risk::features::FIXES_PER_TERMINAL_MAX * risk::features::FIX_BYTES + slot;
    println!("terminal track: busy {busy} bytes, one fix per 10 min {idle} bytes (bound {bound})");
    assert!(busy <= bound, "{busy}");
    assert!(idle <= 4 * risk::features::FIX_BYTES + slot, "{idle}");
    assert_eq!(store.terminal_track_bytes(3), 0);
}
