//! Running counts of a terminal's delayed-label windows `(a - d - w, a - d]` at its newest
//! time `a` (the anchor): how many of their entries carry a fraud label known at `a`.
//!
//! The count of entries is a difference of positions (two binary searches); the frauds
//! change by deltas as the anchor moves (entries pass the right edge `a - d`, leave by the
//! left edge, and labels become known as `a` passes their `known_at`), as labels are set
//! or replaced, and as entries are dropped. Labels are also indexed by when they become
//! known, so that both "what became known between two anchors" and a query at a time
//! `t < a` (subtract what became known in `(t, a]`) cost only the labels in between.

use std::collections::BTreeMap;
use std::ops::Bound::{Excluded, Included, Unbounded};

use super::config::WINDOWS_MAX;
use super::ring::{Entry, NOT_FRAUD, Spec};
use super::slots::Slots;
use super::values::DelayedStats;

/// Bytes a label in the index costs, estimated (key and count plus B-tree node overhead).
const LABEL_BYTES: usize = 64;

/// Whether an entry's label counts at time `x`. Entries without a label never do here
/// (at `x = i64::MAX` they do by the definition; `stats` answers that case directly).
fn known(known_at_ms: i64, x: i64) -> bool {
    known_at_ms != NOT_FRAUD && known_at_ms <= x
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Delayed {
    /// The first entry after `a - d`.
    hi: usize,
    /// Per window, the first entry after `a - d - w`.
    lo: [usize; WINDOWS_MAX],
    /// Per window, entries in `lo..hi` with a label known at `a`.
    frauds: [u32; WINDOWS_MAX],
    /// Kept entries with a fraud label, by (known at, time, txn), and how many.
    labels: BTreeMap<(i64, i64, u64), u32>,
    /// The earliest `known_at` after the anchor, `i64::MAX` if none.
    next_known_ms: i64,
}

impl Default for Delayed {
    fn default() -> Delayed {
        Delayed {
            hi: 0,
            lo: [0; WINDOWS_MAX],
            frauds: [0; WINDOWS_MAX],
            labels: BTreeMap::new(),
            next_known_ms: i64::MAX,
        }
    }
}

/// `(a - d, [a - d - w for each window])`.
fn edges(anchor: i64, spec: &Spec) -> (i64, impl Iterator<Item = i64> + '_) {
    let edge = anchor.saturating_sub(spec.delay_ms);
    (
        edge,
        spec.delayed().iter().map(move |&w| edge.saturating_sub(w)),
    )
}

impl Delayed {
    pub fn heap_bytes(&self) -> usize {
        self.labels.len() * LABEL_BYTES
    }

    pub fn reset(&mut self) {
        *self = Delayed::default();
    }

    /// Computes everything from the entries (after a restore).
    pub fn rebuild(&mut self, slots: &Slots, spec: &Spec) {
        self.reset();
        let Some(anchor) = slots.back().map(|b| b.time_ms) else {
            return;
        };
        let (edge, starts) = edges(anchor, spec);
        self.hi = slots.partition_point(|x| x.time_ms <= edge);
        for (j, start) in starts.enumerate() {
            self.lo[j] = slots.partition_point(|x| x.time_ms <= start);
            let frauds = slots.range(self.lo[j], self.hi);
            let frauds = frauds
                .filter(|e| known(e.fraud_known_at_ms, anchor))
                .count();
            self.frauds[j] = u32::try_from(frauds).unwrap_or(u32::MAX);
        }
        for e in slots.range(0, slots.len()) {
            self.add_label(e.fraud_known_at_ms, e);
        }
        self.next_known_ms = self.first_known_after(anchor);
    }

    /// The last entry is new and at least as late as every other: the anchor moved from
    /// `before` (none for an empty ring) to its time.
    pub fn append(&mut self, slots: &Slots, spec: &Spec, before: Option<i64>) {
        let n = slots.len();
        let anchor = slots.get(n - 1).time_ms;
        let windows = spec.delayed().len();
        if let Some(before) = before.filter(|_| anchor >= self.next_known_ms) {
            self.learn(before, anchor, spec);
        }
        let (edge, starts) = edges(anchor, spec);
        while self.hi < n && slots.get(self.hi).time_ms <= edge {
            if known(slots.get(self.hi).fraud_known_at_ms, anchor) {
                self.frauds[..windows].iter_mut().for_each(|f| *f += 1);
            }
            self.hi += 1;
        }
        for (j, start) in starts.enumerate() {
            while self.lo[j] < n && slots.get(self.lo[j]).time_ms <= start {
                self.frauds[j] -= u32::from(known(slots.get(self.lo[j]).fraud_known_at_ms, anchor));
                self.lo[j] += 1;
            }
        }
    }

    /// Counts the labels that became known in `(before, anchor]` in the windows at
    /// `before` (the edges move after).
    fn learn(&mut self, before: i64, anchor: i64, spec: &Spec) {
        let range = (
            Excluded((before, i64::MAX, u64::MAX)),
            Included((anchor, i64::MAX, u64::MAX)),
        );
        let (edge, starts) = edges(before, spec);
        for (j, start) in starts.enumerate() {
            for (&(_, time_ms, _), &n) in self.labels.range(range) {
                if time_ms > start && time_ms <= edge {
                    self.frauds[j] += n;
                }
            }
        }
        self.next_known_ms = self.first_known_after(anchor);
    }

    /// Entry `at` is new (no label) and older than the newest.
    pub fn insert_late(&mut self, at: usize, slots: &Slots, spec: &Spec) {
        let time_ms = slots.get(at).time_ms;
        let (edge, starts) = edges(slots.get(slots.len() - 1).time_ms, spec);
        if time_ms <= edge {
            self.hi += 1;
        }
        for (j, start) in starts.enumerate() {
            if time_ms <= start {
                self.lo[j] += 1;
            }
        }
    }

    /// `e`, the oldest entry, was dropped (the ring still holds entries).
    pub fn pop_front(&mut self, e: &Entry, slots: &Slots, spec: &Spec) {
        let anchor = slots.get(slots.len() - 1).time_ms;
        for j in 0..spec.delayed().len() {
            if self.lo[j] == 0 && self.hi > 0 {
                self.frauds[j] -= u32::from(known(e.fraud_known_at_ms, anchor));
            }
            self.lo[j] = self.lo[j].saturating_sub(1);
        }
        self.hi = self.hi.saturating_sub(1);
        if self.remove_label(e.fraud_known_at_ms, e) && e.fraud_known_at_ms == self.next_known_ms {
            self.next_known_ms = self.first_known_after(anchor);
        }
    }

    /// Entry `i` (`e` before the change) now has `known_at_ms`.
    pub fn set_known(&mut self, i: usize, e: &Entry, known_at_ms: i64, slots: &Slots, spec: &Spec) {
        let before = e.fraud_known_at_ms;
        if before == known_at_ms {
            return;
        }
        let anchor = slots.get(slots.len() - 1).time_ms;
        for j in 0..spec.delayed().len() {
            if self.lo[j] <= i && i < self.hi {
                let f = &mut self.frauds[j];
                *f = *f + u32::from(known(known_at_ms, anchor)) - u32::from(known(before, anchor));
            }
        }
        self.remove_label(before, e);
        self.add_label(known_at_ms, e);
        self.next_known_ms = self.first_known_after(anchor);
    }

    fn add_label(&mut self, known_at_ms: i64, e: &Entry) {
        if known_at_ms != NOT_FRAUD {
            *self
                .labels
                .entry((known_at_ms, e.time_ms, e.txn_id))
                .or_default() += 1;
        }
    }

    fn remove_label(&mut self, known_at_ms: i64, e: &Entry) -> bool {
        let key = (known_at_ms, e.time_ms, e.txn_id);
        let Some(n) = self.labels.get_mut(&key) else {
            return false;
        };
        *n -= 1;
        if *n == 0 {
            self.labels.remove(&key);
        }
        true
    }

    fn first_known_after(&self, x: i64) -> i64 {
        let after = (Excluded((x, i64::MAX, u64::MAX)), Unbounded);
        self.labels
            .range(after)
            .next()
            .map_or(i64::MAX, |(k, _)| k.0)
    }

    /// The windows at `t`, frauds known at `t`.
    pub fn stats(
        &self,
        t: i64,
        slots: &Slots,
        dropped_until_ms: i64,
        spec: &Spec,
        out: &mut [DelayedStats],
    ) {
        let anchor = slots.back().map(|b| b.time_ms);
        let at_anchor = anchor == Some(t);
        let (edge, starts) = edges(t, spec);
        let to = if at_anchor {
            self.hi
        } else {
            slots.partition_point(|x| x.time_ms <= edge)
        };
        for (j, start) in starts.enumerate() {
            let from = if at_anchor {
                self.lo[j]
            } else {
                slots.partition_point(|x| x.time_ms <= start)
            };
            let count = u32::try_from(to - from).unwrap_or(u32::MAX);
            let frauds = match anchor {
                // By the definition every entry's `known_at` is <= i64::MAX.
                _ if t == i64::MAX => count,
                _ if at_anchor => self.frauds[j],
                Some(a) => self.frauds_elsewhere(j, t, a, slots, (from, to), spec),
                None => 0,
            };
            out[j] = DelayedStats {
                count,
                frauds,
                exact: start >= dropped_until_ms,
            };
        }
    }

    /// Frauds known at `t` (not the anchor `a`) in entries `from..to` of window `j`.
    fn frauds_elsewhere(
        &self,
        j: usize,
        t: i64,
        a: i64,
        slots: &Slots,
        (from, to): (usize, usize),
        spec: &Spec,
    ) -> u32 {
        let (lo, hi) = (self.lo[j], self.hi);
        let scan = to - from;
        if t > a || lo > to || scan <= (lo - from) + (hi - to) {
            let n = slots
                .range(from, to)
                .filter(|e| e.fraud_known_at_ms <= t)
                .count();
            return u32::try_from(n).unwrap_or(u32::MAX);
        }
        // t < a, so from <= lo <= to <= hi: the anchor's window minus `to..hi`, plus
        // `from..lo`, and in the shared `lo..to` only what was known at `t`.
        let count = |from, to, x| {
            slots
                .range(from, to)
                .filter(|e| known(e.fraud_known_at_ms, x))
                .count()
        };
        let mut n = i64::from(self.frauds[j]);
        n -= count(to, hi, a) as i64;
        n += count(from, lo, t) as i64;
        let (_, mut starts) = edges(a, spec);
        let shared_start = starts.nth(j).unwrap_or(i64::MIN);
        let edge = t.saturating_sub(spec.delay_ms);
        let range = (
            Excluded((t, i64::MAX, u64::MAX)),
            Included((a, i64::MAX, u64::MAX)),
        );
        for (&(_, time_ms, _), &c) in self.labels.range(range) {
            if time_ms > shared_start && time_ms <= edge {
                n -= i64::from(c);
            }
        }
        u32::try_from(n).unwrap_or(0)
    }
}
