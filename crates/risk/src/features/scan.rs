//! The features by definition: one backward pass over the entries in the longest window.
//!
//! This was the store's only path before the running aggregates (`window.rs`,
//! `delayed.rs`); it costs O(entries in the longest window) per query. It stays for what
//! those cannot do exactly: a ring holding a negative amount (a saturating sum with
//! negative terms depends on the order of the additions; events carry amounts >= 0, so
//! this does not happen in practice), and delayed windows of a ring that keeps no
//! delayed state (only terminals keep it, and only terminals' are features). The tests
//! compare every incremental value with it.

use super::config::ROUND_AMOUNT_MINOR;
use super::ring::{Entry, FLAG_DECLINED, FLAG_FALLBACK, FLAG_REFUND, NOTHING_DROPPED};
use super::slots::Slots;
use super::values::{DelayedStats, EntityFeatures, WindowStats};
use crate::fasthash::IntSet;

/// Features at time `t` for the event `txn_id`, over windows `windows_ms` (ascending).
pub(crate) fn features(
    slots: &Slots,
    dropped_until_ms: i64,
    t: i64,
    txn_id: u64,
    windows_ms: &[i64],
    seen: &mut IntSet<u32>,
) -> EntityFeatures {
    let mut out = EntityFeatures::default();
    let end = slots.partition_point(|x| x.time_ms <= t);
    let mut acc = WindowStats::default();
    seen.clear();
    let mut k = 0;
    let mut prev = None;
    let close = |mut acc: WindowStats, seen: &IntSet<u32>, start_ms: i64| {
        acc.distinct = u32::try_from(seen.len()).unwrap_or(u32::MAX);
        acc.exact = start_ms >= dropped_until_ms;
        acc
    };
    for e in slots.range(0, end).rev() {
        while k < windows_ms.len() && e.time_ms <= t.saturating_sub(windows_ms[k]) {
            out.windows[k] = close(acc, seen, t.saturating_sub(windows_ms[k]));
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
        out.windows[k] = close(acc, seen, t.saturating_sub(windows_ms[k]));
        k += 1;
    }
    out.since_prev_ms = since_prev(prev, dropped_until_ms, t);
    out
}

/// The time since the previous event. Entries are dropped oldest first, so when none is
/// left before this one the latest dropped entry is its predecessor.
pub(crate) fn since_prev(prev: Option<i64>, dropped_until_ms: i64, t: i64) -> Option<i64> {
    let dropped =
        (dropped_until_ms != NOTHING_DROPPED && dropped_until_ms <= t).then_some(dropped_until_ms);
    prev.or(dropped).map(|p| t.saturating_sub(p))
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

/// Counts in `(t - d - w, t - d]` for each `w`, frauds known at `t`.
pub(crate) fn delayed(
    slots: &Slots,
    dropped_until_ms: i64,
    t: i64,
    delay_ms: i64,
    windows_ms: &[i64],
    out: &mut [DelayedStats],
) {
    let edge = t.saturating_sub(delay_ms);
    let end = slots.partition_point(|x| x.time_ms <= edge);
    let mut acc = DelayedStats::default();
    let close = |mut acc: DelayedStats, start_ms: i64| {
        acc.exact = start_ms >= dropped_until_ms;
        acc
    };
    let mut k = 0;
    for e in slots.range(0, end).rev() {
        while k < windows_ms.len() && e.time_ms <= edge.saturating_sub(windows_ms[k]) {
            out[k] = close(acc, edge.saturating_sub(windows_ms[k]));
            k += 1;
        }
        if k == windows_ms.len() {
            return;
        }
        acc.count += 1;
        acc.frauds += u32::from(e.fraud_known_at_ms <= t);
    }
    while k < windows_ms.len() {
        out[k] = close(acc, edge.saturating_sub(windows_ms[k]));
        k += 1;
    }
}
