//! One entity's recent events, and the single code path that turns them into features.
//!
//! Why a ring of raw events rather than bucketed aggregates: windows must be exact at
//! both edges (`(t - w, t]` to the millisecond), events may arrive out of order, and a
//! fraud label may change an old event. With raw events all three are trivial and the
//! values are the brute-force definition itself; the price is a pass over the entity's
//! events in the longest window per transaction (O(n), ~1 ns per event, a few hundred
//! events for a card) and `ENTRY_BYTES` of memory per event kept. Windows all end at `t`,
//! so they nest: one backward pass serves every window, and max and distinct counts fall
//! out of the same pass (no monotonic deque or count map to maintain under eviction).
//!
//! Memory per entity is bounded by `events_per_entity_max` entries; beyond it the oldest
//! are dropped and the windows reaching back past them report `exact = false`.

use std::collections::VecDeque;

use super::config::ROUND_AMOUNT_MINOR;
use super::values::{DelayedStats, EntityFeatures, WindowStats};
use crate::fasthash::IntSet;

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

/// Bytes one kept event costs (the ring's buffer may hold up to twice as many slots).
pub const ENTRY_BYTES: usize = std::mem::size_of::<Entry>();

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ring {
    /// Sorted by time; equal times in arrival order.
    pub entries: VecDeque<Entry>,
    /// Latest time of any entry dropped so far: windows starting before it may miss events.
    pub dropped_until_ms: i64,
}

impl Ring {
    pub fn new() -> Ring {
        Ring {
            entries: VecDeque::new(),
            dropped_until_ms: NOTHING_DROPPED,
        }
    }

    /// Adds `e` in time order, then drops what is older than `retention_ms` behind the
    /// newest entry, and the oldest beyond `cap`.
    pub fn insert(&mut self, e: Entry, retention_ms: i64, cap: usize) {
        // Make room first, so the buffer never grows past `cap` slots (it doubles).
        while self.entries.len() >= cap {
            self.drop_front();
        }
        let at = self.entries.partition_point(|x| x.time_ms <= e.time_ms);
        self.entries.insert(at, e);
        let newest = self.entries.back().map_or(e.time_ms, |x| x.time_ms);
        let horizon = newest.saturating_sub(retention_ms);
        while let Some(front) = self.entries.front().copied() {
            if front.time_ms > horizon && self.entries.len() <= cap {
                break;
            }
            self.drop_front();
        }
    }

    fn drop_front(&mut self) {
        if let Some(front) = self.entries.pop_front() {
            self.dropped_until_ms = self.dropped_until_ms.max(front.time_ms);
        }
    }

    /// The entry of `txn_id` at `time_ms`, if still kept.
    pub fn find_mut(&mut self, txn_id: u64, time_ms: i64) -> Option<&mut Entry> {
        let from = self.entries.partition_point(|x| x.time_ms < time_ms);
        self.entries
            .range_mut(from..)
            .take_while(|x| x.time_ms == time_ms)
            .find(|x| x.txn_id == txn_id)
    }

    /// Features at time `t` for the event `txn_id`, over windows `windows_ms` (ascending).
    pub fn features(
        &self,
        t: i64,
        txn_id: u64,
        windows_ms: &[i64],
        seen: &mut IntSet<u32>,
    ) -> EntityFeatures {
        let mut out = EntityFeatures::default();
        let end = self.entries.partition_point(|x| x.time_ms <= t);
        let mut acc = WindowStats::default();
        seen.clear();
        let mut k = 0;
        let mut prev = None;
        for e in self.entries.range(..end).rev() {
            while k < windows_ms.len() && e.time_ms <= t.saturating_sub(windows_ms[k]) {
                out.windows[k] = self.close(acc, seen, t.saturating_sub(windows_ms[k]));
                k += 1;
            }
            if k == windows_ms.len() && prev.is_some() {
                break;
            }
            if prev.is_none() && e.txn_id != txn_id {
                prev = Some(e.time_ms);
            }
            if k < windows_ms.len() {
                add(&mut acc, e, seen);
            }
        }
        while k < windows_ms.len() {
            out.windows[k] = self.close(acc, seen, t.saturating_sub(windows_ms[k]));
            k += 1;
        }
        // Entries are dropped oldest first, so when none is left before this one the
        // latest dropped entry is its predecessor.
        let dropped = self.dropped_until_ms;
        let dropped = (dropped != NOTHING_DROPPED && dropped <= t).then_some(dropped);
        out.since_prev_ms = prev.or(dropped).map(|p| t.saturating_sub(p));
        out
    }

    fn close(&self, mut acc: WindowStats, seen: &IntSet<u32>, start_ms: i64) -> WindowStats {
        acc.distinct = u32::try_from(seen.len()).unwrap_or(u32::MAX);
        acc.exact = start_ms >= self.dropped_until_ms;
        acc
    }

    /// Counts in `(t - d - w, t - d]` for each `w`, frauds known at `t`.
    pub fn delayed(&self, t: i64, delay_ms: i64, windows_ms: &[i64], out: &mut [DelayedStats]) {
        let edge = t.saturating_sub(delay_ms);
        let end = self.entries.partition_point(|x| x.time_ms <= edge);
        let mut acc = DelayedStats::default();
        let mut k = 0;
        for e in self.entries.range(..end).rev() {
            while k < windows_ms.len() && e.time_ms <= edge.saturating_sub(windows_ms[k]) {
                out[k] = self.close_delayed(acc, edge.saturating_sub(windows_ms[k]));
                k += 1;
            }
            if k == windows_ms.len() {
                return;
            }
            acc.count += 1;
            acc.frauds += u32::from(e.fraud_known_at_ms <= t);
        }
        while k < windows_ms.len() {
            out[k] = self.close_delayed(acc, edge.saturating_sub(windows_ms[k]));
            k += 1;
        }
    }

    fn close_delayed(&self, mut acc: DelayedStats, start_ms: i64) -> DelayedStats {
        acc.exact = start_ms >= self.dropped_until_ms;
        acc
    }
}

fn add(acc: &mut WindowStats, e: &Entry, seen: &mut IntSet<u32>) {
    acc.count += 1;
    acc.sum_minor = acc.sum_minor.saturating_add(e.amount_minor);
    acc.max_minor = acc.max_minor.max(e.amount_minor);
    acc.declines += u32::from(e.flags & FLAG_DECLINED != 0);
    acc.refunds += u32::from(e.flags & FLAG_REFUND != 0);
    acc.round += u32::from(e.amount_minor != 0 && e.amount_minor % ROUND_AMOUNT_MINOR == 0);
    acc.fallbacks += u32::from(e.flags & FLAG_FALLBACK != 0);
    seen.insert(e.other);
}
