//! One entity's recent events, and the features computed from them.
//!
//! Why raw events: windows must be exact at both edges (`(t - w, t]` to the millisecond),
//! events may arrive out of order, and a fraud label or a decline may change an old
//! event. The entries (`slots.rs`, sorted by time) are the truth; everything else here is
//! derived from them and kept up to date by deltas, so that an event costs the same
//! however busy its entity is:
//! - `window.rs`: each window's aggregates at the entity's newest time (the anchor);
//! - `delayed.rs`: the delayed-label windows' frauds at the anchor (terminals only);
//! - the max tree in `slots.rs`: the largest amount of any run of entries.
//!
//! A ring of at most `SMALL_RING_ENTRIES` keeps no running aggregates: a pass over so
//! few entries costs what the deltas would, and most rings are that small (a card at
//! one terminal), so they cost little more memory than their entries.
//!
//! The derived state is a function of the entries alone (a restore rebuilds it; the
//! tests compare the incremental state with a rebuild after every change, and every
//! value with `scan.rs`, the definition). Memory per entity is bounded by
//! `events_per_entity_max` entries; beyond it the oldest are dropped and the windows
//! reaching back past them report `exact = false`.

use super::config::{StoreConfig, WINDOWS_MAX};
use super::delayed::Delayed;
use super::scan;
use super::slots::Slots;
use super::values::{DelayedStats, EntityFeatures};
use super::window::{Scratch, Windows};

/// `fraud_known_at_ms` of an event with no fraud label.
pub(crate) const NOT_FRAUD: i64 = i64::MAX;
/// `dropped_until_ms` of a ring that never dropped anything.
pub(crate) const NOTHING_DROPPED: i64 = i64::MIN;

pub(crate) const FLAG_DECLINED: u8 = 1;
pub(crate) const FLAG_REFUND: u8 = 2;
pub(crate) const FLAG_FALLBACK: u8 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub time_ms: i64,
    pub txn_id: u64,
    pub amount_minor: i64,
    /// When a fraud label on this event becomes known; `NOT_FRAUD` if none.
    pub fraud_known_at_ms: i64,
    /// The counterpart counted by `distinct`.
    pub other: u32,
    pub flags: u8,
}

/// Bytes one kept event costs in its ring: the entry and its leaf's share of the max
/// tree (the buffer may hold up to twice as many slots). Distinct counts add a few dozen
/// bytes per counterpart.
pub const ENTRY_BYTES: usize = std::mem::size_of::<Entry>() + std::mem::size_of::<i64>();

/// Rings with more entries than this keep running aggregates; smaller ones are scanned.
const SMALL_RING_ENTRIES: usize = 16;

/// The windows rings keep aggregates for, from the configuration (a `Copy` of it, so
/// that rings need no allocation of their own for it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Spec {
    windows_ms: [i64; WINDOWS_MAX],
    windows: usize,
    delayed_ms: [i64; WINDOWS_MAX],
    delayed: usize,
    pub delay_ms: i64,
}

impl Spec {
    /// `c` must be valid (at most `WINDOWS_MAX` windows of each kind).
    pub fn of(c: &StoreConfig) -> Spec {
        let mut s = Spec {
            windows_ms: [0; WINDOWS_MAX],
            windows: c.windows_ms.len(),
            delayed_ms: [0; WINDOWS_MAX],
            delayed: c.delayed_windows_ms.len(),
            delay_ms: c.label_delay_ms,
        };
        s.windows_ms[..s.windows].copy_from_slice(&c.windows_ms);
        s.delayed_ms[..s.delayed].copy_from_slice(&c.delayed_windows_ms);
        s
    }

    pub fn windows(&self) -> &[i64] {
        &self.windows_ms[..self.windows]
    }

    pub fn delayed(&self) -> &[i64] {
        &self.delayed_ms[..self.delayed]
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Ring {
    /// Sorted by time; equal times in arrival order.
    slots: Slots,
    /// Latest time of any entry dropped so far: windows starting before it may miss events.
    pub dropped_until_ms: i64,
    /// Entries with an amount below zero: while there are any, features come from
    /// `scan.rs` (saturating sums with negative terms depend on the order).
    negatives: u32,
    /// Whether the delayed-label windows are kept (terminals: they are features).
    keeps_delayed: bool,
    /// The running aggregates, once the ring has held more than `SMALL_RING_ENTRIES`
    /// (until a trim leaves it that small again).
    derived: Option<Box<Derived>>,
}

/// Everything a ring keeps up to date by deltas; a function of its entries.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Derived {
    windows: Windows,
    delayed: Option<Delayed>,
}

impl Derived {
    fn built(slots: &Slots, spec: &Spec, keeps_delayed: bool) -> Derived {
        let mut windows = Windows::new(spec);
        windows.rebuild(slots, spec);
        let delayed = keeps_delayed.then(|| {
            let mut d = Delayed::default();
            d.rebuild(slots, spec);
            d
        });
        Derived { windows, delayed }
    }
}

/// Two rings are equal when they hold the same entries; the rest is derived from them.
impl PartialEq for Ring {
    fn eq(&self, o: &Ring) -> bool {
        self.dropped_until_ms == o.dropped_until_ms
            && self.slots.len() == o.slots.len()
            && self.entries().eq(o.entries())
    }
}

impl Eq for Ring {}

impl Ring {
    /// An empty ring; `delayed`: whether it keeps the delayed-label windows.
    pub fn new(delayed: bool) -> Ring {
        Ring {
            slots: Slots::default(),
            dropped_until_ms: NOTHING_DROPPED,
            negatives: 0,
            keeps_delayed: delayed,
            derived: None,
        }
    }

    /// A ring holding `entries` (sorted by time), its derived state computed from them.
    pub fn restored(
        entries: impl IntoIterator<Item = Entry>,
        dropped_until_ms: i64,
        spec: &Spec,
        delayed: bool,
    ) -> Ring {
        let mut r = Ring::new(delayed);
        r.dropped_until_ms = dropped_until_ms;
        for e in entries {
            debug_assert!(r.slots.back().is_none_or(|b| b.time_ms <= e.time_ms));
            r.slots.insert(r.slots.len(), e);
            r.negatives += u32::from(e.amount_minor < 0);
        }
        r.derive_if_large(spec);
        r
    }

    fn derive_if_large(&mut self, spec: &Spec) {
        if self.derived.is_none() && self.slots.len() > SMALL_RING_ENTRIES {
            let derived = Derived::built(&self.slots, spec, self.keeps_delayed);
            self.derived = Some(Box::new(derived));
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.slots.range(0, self.slots.len())
    }

    /// Heap bytes held by the ring: its slots and tree, window state, label index.
    pub fn heap_bytes(&self) -> usize {
        let derived = self.derived.as_ref().map_or(0, |d| {
            let delayed = d.delayed.as_ref().map_or(0, Delayed::heap_bytes);
            std::mem::size_of::<Derived>() + d.windows.heap_bytes() + delayed
        });
        self.slots.heap_bytes() + derived
    }

    /// Adds `e` in time order, then drops what is older than `retention_ms` behind the
    /// newest entry, and the oldest beyond `cap`.
    pub fn insert(&mut self, e: Entry, retention_ms: i64, cap: usize, spec: &Spec) {
        // Make room first, so the buffer never grows past `cap` slots (it doubles).
        while self.slots.len() >= cap {
            self.drop_front(spec);
        }
        let before = self.slots.back().map(|b| b.time_ms);
        let at = match before {
            Some(b) if b > e.time_ms => self.slots.partition_point(|x| x.time_ms <= e.time_ms),
            _ => self.slots.len(),
        };
        self.slots.insert(at, e);
        self.negatives += u32::from(e.amount_minor < 0);
        if let Some(d) = &mut self.derived {
            let slots = &self.slots;
            if at + 1 == slots.len() {
                d.windows.append(slots, spec);
                if let Some(d) = &mut d.delayed {
                    d.append(slots, spec, before);
                }
            } else {
                d.windows.insert_late(at, slots, spec);
                if let Some(d) = &mut d.delayed {
                    d.insert_late(at, slots, spec);
                }
            }
        }
        let newest = self.slots.back().map_or(e.time_ms, |x| x.time_ms);
        let horizon = newest.saturating_sub(retention_ms);
        while let Some(front) = self.slots.front() {
            if front.time_ms > horizon && self.slots.len() <= cap {
                break;
            }
            self.drop_front(spec);
        }
        self.derive_if_large(spec);
    }

    /// Drops the entries at or before `horizon_ms` and gives back spare memory.
    pub fn trim(&mut self, horizon_ms: i64, spec: &Spec) {
        while self.slots.front().is_some_and(|f| f.time_ms <= horizon_ms) {
            self.drop_front(spec);
        }
        self.slots.shrink_to_fit();
        if self.slots.len() <= SMALL_RING_ENTRIES {
            self.derived = None;
        } else if let Some(d) = &mut self.derived {
            d.windows.shrink_to_fit();
        }
    }

    fn drop_front(&mut self, spec: &Spec) {
        let Some(front) = self.slots.pop_front() else {
            return;
        };
        self.dropped_until_ms = self.dropped_until_ms.max(front.time_ms);
        self.negatives -= u32::from(front.amount_minor < 0);
        if self.slots.is_empty() {
            self.derived = None;
            return;
        }
        if let Some(d) = &mut self.derived {
            d.windows.pop_front(&front, &self.slots);
            if let Some(d) = &mut d.delayed {
                d.pop_front(&front, &self.slots, spec);
            }
        }
    }

    /// The index of the entry of `txn_id` at `time_ms`, if still kept.
    fn find(&self, txn_id: u64, time_ms: i64) -> Option<usize> {
        let from = self.slots.partition_point(|x| x.time_ms < time_ms);
        (from..self.slots.len())
            .take_while(|&i| self.slots.get(i).time_ms == time_ms)
            .find(|&i| self.slots.get(i).txn_id == txn_id)
    }

    /// Marks the entry declined; false if it is no longer kept.
    pub fn mark_declined(&mut self, txn_id: u64, time_ms: i64) -> bool {
        let Some(i) = self.find(txn_id, time_ms) else {
            return false;
        };
        let flags = self.slots.get(i).flags;
        if flags & FLAG_DECLINED == 0 {
            self.slots.set_flags(i, flags | FLAG_DECLINED);
            if let Some(d) = &mut self.derived {
                d.windows.decline(i);
            }
        }
        true
    }

    /// Sets when the entry's fraud label becomes known; false if it is no longer kept.
    pub fn set_fraud_known(
        &mut self,
        txn_id: u64,
        time_ms: i64,
        known_at_ms: i64,
        spec: &Spec,
    ) -> bool {
        let Some(i) = self.find(txn_id, time_ms) else {
            return false;
        };
        let before = *self.slots.get(i);
        self.slots.set_fraud_known(i, known_at_ms);
        if let Some(d) = self.derived.as_mut().and_then(|d| d.delayed.as_mut()) {
            d.set_known(i, &before, known_at_ms, &self.slots, spec);
        }
        true
    }

    /// Features at time `t` for the event `txn_id`.
    pub fn features(
        &self,
        t: i64,
        txn_id: u64,
        spec: &Spec,
        scratch: &mut Scratch,
    ) -> EntityFeatures {
        let (slots, dropped) = (&self.slots, self.dropped_until_ms);
        let derived = self.derived.as_ref().filter(|_| self.negatives == 0);
        let (Some(d), Some(anchor)) = (derived, slots.back().map(|b| b.time_ms)) else {
            let seen = &mut scratch.seen;
            return scan::features(slots, dropped, t, txn_id, spec.windows(), seen);
        };
        let mut out = EntityFeatures::default();
        let to = if anchor <= t {
            slots.len()
        } else {
            slots.partition_point(|x| x.time_ms <= t)
        };
        for (k, &w) in spec.windows().iter().enumerate() {
            let start = t.saturating_sub(w);
            let mut s = if t == anchor {
                d.windows.at_anchor(k, slots)
            } else {
                let from = slots.partition_point(|x| x.time_ms <= start);
                d.windows.elsewhere(k, slots, (from, to), scratch)
            };
            s.exact = start >= dropped;
            out.windows[k] = s;
        }
        let prev = slots.range(0, to).rev().find(|e| e.txn_id != txn_id);
        out.since_prev_ms = scan::since_prev(prev.map(|e| e.time_ms), dropped, t);
        out
    }

    /// Counts in `(t - d - w, t - d]` for each delayed window `w`, frauds known at `t`.
    pub fn delayed(&self, t: i64, spec: &Spec, out: &mut [DelayedStats]) {
        let (slots, dropped) = (&self.slots, self.dropped_until_ms);
        match self.derived.as_ref().and_then(|d| d.delayed.as_ref()) {
            Some(d) => d.stats(t, slots, dropped, spec, out),
            None => {
                let (delay, windows) = (spec.delay_ms, spec.delayed());
                scan::delayed(slots, dropped, t, delay, windows, out);
            }
        }
    }
}

#[cfg(test)]
impl Ring {
    /// Panics unless the incremental state (if any) equals one built from the entries.
    pub fn assert_consistent(&self, spec: &Spec) {
        let fresh = Derived::built(&self.slots, spec, self.keeps_delayed);
        if let Some(d) = &self.derived {
            assert_eq!(d.windows, fresh.windows, "window aggregates");
            assert_eq!(d.delayed, fresh.delayed, "delayed-label counts");
        }
        let negatives = self.entries().filter(|e| e.amount_minor < 0).count();
        assert_eq!(self.negatives as usize, negatives);
    }

    pub fn slots(&self) -> &Slots {
        &self.slots
    }

    pub fn is_derived(&self) -> bool {
        self.derived.is_some()
    }
}
