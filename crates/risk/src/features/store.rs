//! The streaming feature store: per-entity rings, a transaction index for late labels
//! and outcomes, and the one function that computes features live and in replays.
//!
//! Semantics, precisely:
//! - `observe(e)` adds `e` and returns the features at `e.time_ms` over the events
//!   observed so far: window `(t - w, t]` holds every observed event of the entity with
//!   a time in it, `e` included. Arrival order therefore does not matter for `e`'s own
//!   features as long as no event with a time `<= t` arrives after `e`; in a replay
//!   sorted by time the values are those of the Handbook's rolling windows.
//! - Events up to `late_bound_ms` behind the newest time seen get exact features; later
//!   ones are still counted but their windows may be flagged inexact.
//! - A label sets when the event's fraud becomes known (`known_at_ms`, or its time plus
//!   `label_delay_ms`); the delayed terminal windows at time `t` count it as a fraud only
//!   if it is known at `t`. A later label for the same transaction replaces the earlier.
//! - Observing a `txn_id` that is already kept adds nothing and returns its features.
//! - A located event is also added to its terminal's track (`track.rs`); its distance
//!   from home and from the terminal's previous located transaction, and the speed
//!   between them, are computed here, from the same kept state, live and in replays.

use std::collections::VecDeque;

use super::config::{ConfigError, StoreConfig};
use super::ring::{Entry, FLAG_DECLINED, FLAG_FALLBACK, FLAG_REFUND, NOT_FRAUD, Ring, Spec};
use super::track::{FIX_BYTES, Fix, Track};
use super::values::{Features, GeoFeatures};
use super::window::Scratch;
use crate::event::{Label, RiskEvent};
use crate::facts::EntryMode;
use crate::geo::speed_kmh;
use crate::sharded::ShardedMap;

/// Where a kept transaction's entries are, for labels and outcomes that come later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TxnLoc {
    pub time_ms: i64,
    pub card: u32,
    pub terminal: u32,
    pub merchant: u32,
    pub operator: Option<u32>,
}

#[derive(Clone, Debug)]
pub struct FeatureStore {
    pub(crate) config: StoreConfig,
    /// The configuration's windows, as rings take them.
    pub(crate) spec: Spec,
    pub(crate) high_water_ms: i64,
    pub(crate) cards: ShardedMap<u32, Ring>,
    pub(crate) terminals: ShardedMap<u32, Ring>,
    pub(crate) merchants: ShardedMap<u32, Ring>,
    pub(crate) operators: ShardedMap<u32, Ring>,
    pub(crate) pairs: ShardedMap<u64, Ring>,
    /// Recent positions of terminals that report them.
    pub(crate) tracks: ShardedMap<u32, Track>,
    pub(crate) txns: ShardedMap<u64, TxnLoc>,
    /// `txns` keys in arrival order, to forget them once out of every window.
    pub(crate) txn_order: VecDeque<(i64, u64)>,
    scratch: Scratch,
}

impl PartialEq for FeatureStore {
    fn eq(&self, o: &FeatureStore) -> bool {
        self.config == o.config
            && self.high_water_ms == o.high_water_ms
            && self.cards == o.cards
            && self.terminals == o.terminals
            && self.merchants == o.merchants
            && self.operators == o.operators
            && self.pairs == o.pairs
            && self.tracks == o.tracks
            && self.txns == o.txns
            && self.txn_order == o.txn_order
    }
}

fn pair_key(card: u32, terminal: u32) -> u64 {
    (u64::from(card) << 32) | u64::from(terminal)
}

impl FeatureStore {
    pub fn new(config: StoreConfig) -> Result<FeatureStore, ConfigError> {
        config.validate()?;
        Ok(FeatureStore {
            spec: Spec::of(&config),
            config,
            high_water_ms: i64::MIN,
            cards: ShardedMap::default(),
            terminals: ShardedMap::default(),
            merchants: ShardedMap::default(),
            operators: ShardedMap::default(),
            pairs: ShardedMap::default(),
            tracks: ShardedMap::default(),
            txns: ShardedMap::default(),
            txn_order: VecDeque::new(),
            scratch: Scratch::default(),
        })
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Newest event time observed, `i64::MIN` before the first.
    pub fn high_water_ms(&self) -> i64 {
        self.high_water_ms
    }

    /// Adds the event and returns its features (see the module docs for the semantics).
    pub fn observe(&mut self, e: &RiskEvent) -> Features {
        if !self.txns.contains_key(&e.txn_id) {
            self.insert(e);
        }
        self.features_of(e)
    }

    fn insert(&mut self, e: &RiskEvent) {
        let retention = self.config.retention_ms();
        let cap = self.config.events_per_entity_max as usize;
        let mut flags = 0;
        if e.declined {
            flags |= FLAG_DECLINED;
        }
        if e.is_refund() {
            flags |= FLAG_REFUND;
        }
        if e.entry_mode == EntryMode::Fallback {
            flags |= FLAG_FALLBACK;
        }
        let entry = |other: u32| Entry {
            time_ms: e.time_ms,
            txn_id: e.txn_id,
            amount_minor: e.amount_minor,
            fraud_known_at_ms: NOT_FRAUD,
            other,
            flags,
        };
        let (card, terminal, spec) = (e.card.0, e.terminal.0, self.spec);
        let ring = |m: &mut ShardedMap<u32, Ring>, k: u32, en: Entry, delayed: bool| {
            m.entry(k)
                .or_insert_with(|| Ring::new(delayed))
                .insert(en, retention, cap, &spec);
        };
        ring(&mut self.cards, card, entry(terminal), false);
        // Only terminals have delayed-label windows.
        ring(&mut self.terminals, terminal, entry(card), true);
        ring(&mut self.merchants, e.merchant.0, entry(card), false);
        if let Some(op) = e.operator {
            ring(&mut self.operators, op.0, entry(card), false);
        }
        let pair = self
            .pairs
            .entry(pair_key(card, terminal))
            .or_insert_with(|| Ring::new(false));
        pair.insert(entry(card), retention, cap, &spec);
        if let Some(at) = e.location {
            let fix = Fix {
                time_ms: e.time_ms,
                txn_id: e.txn_id,
                at,
            };
            let late = self.config.late_bound_ms;
            self.tracks.entry(terminal).or_default().insert(fix, late);
        }
        self.index(e, retention);
    }

    fn index(&mut self, e: &RiskEvent, retention_ms: i64) {
        let loc = TxnLoc {
            time_ms: e.time_ms,
            card: e.card.0,
            terminal: e.terminal.0,
            merchant: e.merchant.0,
            operator: e.operator.map(|o| o.0),
        };
        self.txns.insert(e.txn_id, loc);
        self.txn_order.push_back((e.time_ms, e.txn_id));
        self.high_water_ms = self.high_water_ms.max(e.time_ms);
        let horizon = self.high_water_ms.saturating_sub(retention_ms);
        while let Some(&(t, id)) = self.txn_order.front() {
            if t > horizon {
                break;
            }
            self.txn_order.pop_front();
            self.txns.remove(&id);
        }
    }

    /// The features of an event already observed, at its time, over what is kept now.
    fn features_of(&mut self, e: &RiskEvent) -> Features {
        let t = e.time_ms;
        let spec = &self.spec;
        let scratch = &mut self.scratch;
        let mut f = Features {
            time_ms: t,
            ..Features::default()
        };
        let of = |m: &ShardedMap<u32, Ring>, k: u32, scratch: &mut Scratch| {
            m.get(&k).map(|r| r.features(t, e.txn_id, spec, scratch))
        };
        f.card = of(&self.cards, e.card.0, scratch).unwrap_or_default();
        f.terminal = of(&self.terminals, e.terminal.0, scratch).unwrap_or_default();
        f.merchant = of(&self.merchants, e.merchant.0, scratch).unwrap_or_default();
        f.operator = e.operator.and_then(|o| of(&self.operators, o.0, scratch));
        if let Some(r) = self.pairs.get(&pair_key(e.card.0, e.terminal.0)) {
            f.card_terminal = r.features(t, e.txn_id, spec, scratch);
        }
        if let Some(r) = self.terminals.get(&e.terminal.0) {
            let n = spec.delayed().len();
            r.delayed(t, spec, &mut f.terminal_delayed[..n]);
        }
        f.terminal_geo = self.geo_of(e);
        f
    }

    fn geo_of(&self, e: &RiskEvent) -> GeoFeatures {
        let Some(at) = e.location else {
            return GeoFeatures::default();
        };
        let prev = self
            .tracks
            .get(&e.terminal.0)
            .and_then(|t| t.before(e.time_ms, e.txn_id));
        let distance_prev_m = prev.map(|p| p.at.distance_m(at));
        GeoFeatures {
            distance_home_m: e.terminal_home.map(|h| h.distance_m(at)),
            distance_prev_m,
            speed_kmh: prev
                .zip(distance_prev_m)
                .map(|(p, d)| speed_kmh(d, e.time_ms.saturating_sub(p.time_ms))),
        }
    }

    /// Applies a fraud label; false if the transaction is unknown or no longer kept.
    pub fn label(&mut self, l: Label) -> bool {
        let Some(loc) = self.txns.get(&l.txn_id).copied() else {
            return false;
        };
        let known_at = match (l.fraud, l.known_at_ms) {
            (false, _) => NOT_FRAUD,
            (true, Some(at)) => at,
            (true, None) => loc.time_ms.saturating_add(self.config.label_delay_ms),
        };
        let spec = &self.spec;
        self.terminals
            .get_mut(&loc.terminal)
            .is_some_and(|r| r.set_fraud_known(l.txn_id, loc.time_ms, known_at, spec))
    }

    /// Marks a kept transaction as declined (the outcome is known only after scoring);
    /// false if it is unknown or no longer kept.
    pub fn record_decline(&mut self, txn_id: u64) -> bool {
        let Some(loc) = self.txns.get(&txn_id).copied() else {
            return false;
        };
        let mut found = false;
        let mut mark = |r: Option<&mut Ring>| {
            if r.is_some_and(|r| r.mark_declined(txn_id, loc.time_ms)) {
                found = true;
            }
        };
        mark(self.cards.get_mut(&loc.card));
        mark(self.terminals.get_mut(&loc.terminal));
        mark(self.merchants.get_mut(&loc.merchant));
        if let Some(op) = loc.operator {
            mark(self.operators.get_mut(&op));
        }
        mark(self.pairs.get_mut(&pair_key(loc.card, loc.terminal)));
        found
    }

    /// Frees entries of entities that have been idle past retention at `now_ms` (the
    /// host calls this now and then; it is O(entities)). An entity's header stays, so a
    /// dormant terminal still knows when it was last seen. Terminal tracks are bounded
    /// on insert and keep their latest position however long the terminal idles.
    pub fn prune(&mut self, now_ms: i64) {
        let horizon = now_ms.saturating_sub(self.config.retention_ms());
        let spec = self.spec;
        let trim = |r: &mut Ring| r.trim(horizon, &spec);
        self.cards.values_mut().for_each(trim);
        self.terminals.values_mut().for_each(trim);
        self.merchants.values_mut().for_each(trim);
        self.operators.values_mut().for_each(trim);
        self.pairs.values_mut().for_each(trim);
    }

    /// Heap bytes held for one terminal's track of positions: its buffer plus the map
    /// slot (0 for a terminal that never reported one); at most
    /// `FIXES_PER_TERMINAL_MAX * FIX_BYTES` plus the slot.
    pub fn terminal_track_bytes(&self, terminal: u32) -> usize {
        self.tracks.get(&terminal).map_or(0, |t| {
            std::mem::size_of::<(u32, Track)>() + t.fixes.capacity() * FIX_BYTES
        })
    }

    /// Heap bytes held for one card: its ring (entries, max tree, window aggregates and
    /// distinct counts) plus the map slot.
    pub fn card_bytes(&self, card: u32) -> usize {
        self.cards
            .get(&card)
            .map_or(0, |r| std::mem::size_of::<(u32, Ring)>() + r.heap_bytes())
    }

    /// Estimated heap bytes of the whole store: rings, map slots, the txn index.
    pub fn heap_bytes(&self) -> usize {
        let slot = std::mem::size_of::<(u64, Ring)>();
        let rings = |n: usize, held: usize| n * slot + held;
        let mut total = 0;
        for m in [
            &self.cards,
            &self.terminals,
            &self.merchants,
            &self.operators,
        ] {
            total += rings(m.capacity(), m.values().map(Ring::heap_bytes).sum());
        }
        total += rings(
            self.pairs.capacity(),
            self.pairs.values().map(Ring::heap_bytes).sum(),
        );
        let track_slot = std::mem::size_of::<(u32, Track)>();
        total += self.tracks.capacity() * track_slot
            + self
                .tracks
                .values()
                .map(|t| t.fixes.capacity() * FIX_BYTES)
                .sum::<usize>();
        total += self.txns.capacity() * std::mem::size_of::<(u64, TxnLoc)>();
        total + self.txn_order.capacity() * std::mem::size_of::<(i64, u64)>()
    }
}
