//! Running aggregates of an entity's sliding windows `(a - w, a]` at its newest time `a`
//! (the anchor): the sums and counts of each window, its largest amount, and how often
//! each counterpart occurs in it (for distinct counts).
//!
//! They change by deltas: an event newer than the anchor is added to every window and
//! the windows' left edges move forward past what has expired; a late event is added to
//! the windows that contain its time; a dropped entry leaves the windows it was in; a
//! decline recorded later is counted in the windows that hold the entry. Each entry
//! enters and leaves each window once, so keeping them costs O(windows) per event
//! amortized, plus O(log n) for the largest amount when the largest one leaves.
//!
//! A query at the anchor reads them. A query at another time `t` (an event that arrived
//! late, or observed again) starts from them and adds or removes only the entries
//! between the two windows' edges, or scans its own window when that is shorter; both
//! are bounded by the entries within `|a - t|` of the edges, not by the window.

use super::config::{ROUND_AMOUNT_MINOR, WINDOWS_MAX};
use super::ring::{Entry, FLAG_DECLINED, FLAG_FALLBACK, FLAG_REFUND, Spec};
use super::slots::Slots;
use super::values::WindowStats;
use crate::fasthash::{IntMap, IntSet};

/// The additive parts of a window. The sum is exact (i128) and saturated only when read:
/// with amounts >= 0 that equals adding with saturation in any order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Sums {
    sum: i128,
    declines: u32,
    refunds: u32,
    round: u32,
    fallbacks: u32,
}

impl Sums {
    fn add(&mut self, e: &Entry) {
        self.sum += i128::from(e.amount_minor);
        self.declines += u32::from(e.flags & FLAG_DECLINED != 0);
        self.refunds += u32::from(e.flags & FLAG_REFUND != 0);
        self.round += u32::from(is_round(e.amount_minor));
        self.fallbacks += u32::from(e.flags & FLAG_FALLBACK != 0);
    }

    fn sub(&mut self, e: &Entry) {
        self.sum -= i128::from(e.amount_minor);
        self.declines -= u32::from(e.flags & FLAG_DECLINED != 0);
        self.refunds -= u32::from(e.flags & FLAG_REFUND != 0);
        self.round -= u32::from(is_round(e.amount_minor));
        self.fallbacks -= u32::from(e.flags & FLAG_FALLBACK != 0);
    }

    fn stats(&self, count: usize, max_minor: i64, distinct: u32) -> WindowStats {
        let saturated = if self.sum < 0 { i64::MIN } else { i64::MAX };
        WindowStats {
            count: u32::try_from(count).unwrap_or(u32::MAX),
            sum_minor: i64::try_from(self.sum).unwrap_or(saturated),
            max_minor: max_minor.max(0),
            distinct,
            declines: self.declines,
            refunds: self.refunds,
            round: self.round,
            fallbacks: self.fallbacks,
            exact: true,
        }
    }
}

fn is_round(amount_minor: i64) -> bool {
    amount_minor != 0 && amount_minor % ROUND_AMOUNT_MINOR == 0
}

/// One window at the anchor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Win {
    sums: Sums,
    /// Largest amount in the window, `i64::MIN` when empty.
    max_minor: i64,
    /// The first entry in the window (entries before it are at or before `a - w`).
    lo: u32,
    distinct: u32,
}

impl Default for Win {
    fn default() -> Win {
        Win {
            sums: Sums::default(),
            max_minor: i64::MIN,
            lo: 0,
            distinct: 0,
        }
    }
}

impl Win {
    fn lo(&self) -> usize {
        self.lo as usize
    }
}

/// Reused buffers for queries away from the anchor.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scratch {
    pub seen: IntSet<u32>,
    delta: IntMap<u32, i32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Windows {
    /// One per configured window, shortest first.
    win: Box<[Win]>,
    /// Per counterpart, its entries in each window; a counterpart is here while it is in
    /// the longest window (the windows nest, so that count is the largest).
    counts: IntMap<u32, [u32; WINDOWS_MAX]>,
}

impl Windows {
    pub fn new(spec: &Spec) -> Windows {
        Windows {
            win: vec![Win::default(); spec.windows().len()].into_boxed_slice(),
            counts: IntMap::default(),
        }
    }

    /// Heap bytes: the windows and the counterpart counts (hash table slots and control
    /// bytes).
    pub fn heap_bytes(&self) -> usize {
        let slot = std::mem::size_of::<(u32, [u32; WINDOWS_MAX])>() + 1;
        self.win.len() * std::mem::size_of::<Win>() + self.counts.capacity() * slot
    }

    pub fn shrink_to_fit(&mut self) {
        self.counts.shrink_to_fit();
    }

    /// The state of an empty ring.
    pub fn reset(&mut self) {
        self.win.iter_mut().for_each(|w| *w = Win::default());
        self.counts.clear();
    }

    /// Computes everything from the entries (after a restore): O(windows x entries).
    pub fn rebuild(&mut self, slots: &Slots, spec: &Spec) {
        self.reset();
        let Some(anchor) = slots.back().map(|b| b.time_ms) else {
            return;
        };
        let n = slots.len();
        for (k, &w) in spec.windows().iter().enumerate() {
            let edge = anchor.saturating_sub(w);
            let lo = slots.partition_point(|x| x.time_ms <= edge);
            let win = &mut self.win[k];
            win.lo = index(lo);
            win.max_minor = slots.max_amount(lo, n);
            for e in slots.range(lo, n) {
                win.sums.add(e);
                let c = self.counts.entry(e.other).or_insert([0; WINDOWS_MAX]);
                c[k] += 1;
                win.distinct += u32::from(c[k] == 1);
            }
        }
    }

    /// The last entry is new and at least as late as every other: it joins every window
    /// and the windows' left edges move to its time.
    pub fn append(&mut self, slots: &Slots, spec: &Spec) {
        let n = slots.len();
        let e = *slots.get(n - 1);
        let c = self.counts.entry(e.other).or_insert([0; WINDOWS_MAX]);
        for (k, win) in self.win.iter_mut().enumerate() {
            c[k] += 1;
            win.distinct += u32::from(c[k] == 1);
            win.sums.add(&e);
            win.max_minor = win.max_minor.max(e.amount_minor);
        }
        let last = self.win.len() - 1;
        for (k, &w) in spec.windows().iter().enumerate() {
            let edge = e.time_ms.saturating_sub(w);
            let win = &mut self.win[k];
            let mut lost_max = false;
            while win.lo() < n && slots.get(win.lo()).time_ms <= edge {
                let x = slots.get(win.lo());
                leave(&mut self.counts, win, k, k == last, x);
                lost_max |= x.amount_minor == win.max_minor;
                win.lo += 1;
            }
            if lost_max {
                win.max_minor = slots.max_amount(win.lo(), n);
            }
        }
    }

    /// Entry `at` is new and older than the newest: it joins the windows holding its time.
    pub fn insert_late(&mut self, at: usize, slots: &Slots, spec: &Spec) {
        let e = *slots.get(at);
        let anchor = slots.get(slots.len() - 1).time_ms;
        // The windows nest (shortest first): those that miss it come first.
        let windows = spec.windows().iter();
        let outside = windows
            .take_while(|&&w| e.time_ms <= anchor.saturating_sub(w))
            .count();
        for win in &mut self.win[..outside] {
            win.lo += 1;
        }
        if outside == self.win.len() {
            return;
        }
        let c = self.counts.entry(e.other).or_default();
        for (k, win) in self.win.iter_mut().enumerate().skip(outside) {
            c[k] += 1;
            win.distinct += u32::from(c[k] == 1);
            win.sums.add(&e);
            win.max_minor = win.max_minor.max(e.amount_minor);
        }
    }

    /// `e`, the oldest entry, was dropped (the ring still holds entries).
    pub fn pop_front(&mut self, e: &Entry, slots: &Slots) {
        let last = self.win.len() - 1;
        for (k, win) in self.win.iter_mut().enumerate() {
            if win.lo > 0 {
                win.lo -= 1;
                continue;
            }
            leave(&mut self.counts, win, k, k == last, e);
            if e.amount_minor == win.max_minor {
                win.max_minor = slots.max_amount(0, slots.len());
            }
        }
    }

    /// Entry `i` became declined.
    pub fn decline(&mut self, i: usize) {
        for win in self.win.iter_mut().filter(|w| w.lo() <= i) {
            win.sums.declines += 1;
        }
    }

    /// Window `k` at the anchor.
    pub fn at_anchor(&self, k: usize, slots: &Slots) -> WindowStats {
        let win = &self.win[k];
        win.sums
            .stats(slots.len() - win.lo(), win.max_minor, win.distinct)
    }

    /// Window `k` over entries `from..to` (those in `(t - w, t]` for a `t` other than the
    /// anchor): from the anchor's aggregates and the entries between the edges, or by
    /// scanning `from..to` when that is fewer entries.
    pub fn elsewhere(
        &self,
        k: usize,
        slots: &Slots,
        (from, to): (usize, usize),
        scratch: &mut Scratch,
    ) -> WindowStats {
        let (n, win) = (slots.len(), &self.win[k]);
        let lo = win.lo();
        let max_minor = slots.max_amount(from, to);
        let scan = to - from;
        // The anchor's window is `lo..n`; it shares entries with `from..to` when lo <= to.
        if lo > to || scan <= from.abs_diff(lo) + (n - to) {
            let mut sums = Sums::default();
            scratch.seen.clear();
            for e in slots.range(from, to) {
                sums.add(e);
                scratch.seen.insert(e.other);
            }
            let distinct = u32::try_from(scratch.seen.len()).unwrap_or(u32::MAX);
            return sums.stats(scan, max_minor, distinct);
        }
        let (mut sums, delta) = (win.sums, &mut scratch.delta);
        delta.clear();
        let mut change = |e: &Entry, by: i32| {
            if by > 0 {
                sums.add(e);
            } else {
                sums.sub(e);
            }
            *delta.entry(e.other).or_default() += by;
        };
        slots.range(to, n).for_each(|e| change(e, -1));
        slots.range(from, lo).for_each(|e| change(e, 1));
        slots.range(lo, from).for_each(|e| change(e, -1));
        let mut distinct = i64::from(win.distinct);
        for (other, &d) in delta.iter() {
            let was = self.counts.get(other).map_or(0, |c| i64::from(c[k]));
            distinct += i64::from(was + i64::from(d) > 0) - i64::from(was > 0);
        }
        sums.stats(scan, max_minor, u32::try_from(distinct).unwrap_or(0))
    }
}

/// `e` leaves window `k`; `last` is the longest window.
fn leave(
    counts: &mut IntMap<u32, [u32; WINDOWS_MAX]>,
    win: &mut Win,
    k: usize,
    last: bool,
    e: &Entry,
) {
    win.sums.sub(e);
    let c = counts
        .get_mut(&e.other)
        .expect("an entry in a window has its counterpart counted");
    c[k] -= 1;
    if c[k] == 0 {
        win.distinct -= 1;
        if last {
            counts.remove(&e.other);
        }
    }
}

/// An entry's index as kept in a window (rings hold at most `u32::MAX` entries).
fn index(i: usize) -> u32 {
    u32::try_from(i).expect("ring lengths fit u32")
}
