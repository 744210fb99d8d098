//! Where a terminal transacted lately: its located transactions, for the distance and
//! the speed from the previous one.
//!
//! "Previous" is by event time, ties broken by transaction id: the located transaction
//! of the same terminal with the greatest `(time_ms, txn_id)` below this one's. So the
//! value depends on which transactions were observed, not on the order they arrived in.
//!
//! What is kept: every fix no older than `late_bound_ms` behind the terminal's newest,
//! plus the latest one before that, at most `FIXES_PER_TERMINAL_MAX`. An event within
//! the late bound therefore always finds its true predecessor (one before the bound is
//! the kept one, one inside is kept), unless more than `FIXES_PER_TERMINAL_MAX` located
//! transactions of its terminal arrived within the bound. A terminal that moves and
//! then idles keeps one fix, however long it idles, so its next transaction still gets a
//! speed.

use std::collections::VecDeque;

use crate::geo::GeoPoint;

/// Bound on the positions kept per terminal. A POS terminal takes well under one
/// transaction per 10 s, i.e. a few within the default 5-minute late bound.
pub const FIXES_PER_TERMINAL_MAX: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fix {
    pub time_ms: i64,
    pub txn_id: u64,
    pub at: GeoPoint,
}

impl Fix {
    fn key(&self) -> (i64, u64) {
        (self.time_ms, self.txn_id)
    }
}

/// Bytes one kept position costs.
pub const FIX_BYTES: usize = std::mem::size_of::<Fix>();

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Track {
    /// Sorted by `(time_ms, txn_id)`, no repeats.
    pub fixes: VecDeque<Fix>,
}

impl Track {
    /// Adds `f` (once per transaction), then forgets what no event within the late
    /// bound can need.
    pub fn insert(&mut self, f: Fix, late_bound_ms: i64) {
        let at = self.fixes.partition_point(|x| x.key() < f.key());
        if self.fixes.get(at).is_some_and(|x| x.key() == f.key()) {
            return;
        }
        if self.fixes.len() >= FIXES_PER_TERMINAL_MAX {
            // Full: the oldest goes, and an `f` older than all of them is not kept. Making
            // room first keeps the buffer at its bound (it doubles when it grows).
            if at == 0 {
                return;
            }
            self.fixes.pop_front();
            self.fixes.insert(at - 1, f);
        } else {
            self.fixes.insert(at, f);
        }
        let newest = self.fixes.back().map_or(f.time_ms, |x| x.time_ms);
        let horizon = newest.saturating_sub(late_bound_ms);
        let before = self.fixes.partition_point(|x| x.time_ms < horizon);
        self.fixes.drain(..before.saturating_sub(1));
    }

    /// The latest fix before `(time_ms, txn_id)`.
    pub fn before(&self, time_ms: i64, txn_id: u64) -> Option<&Fix> {
        let at = self.fixes.partition_point(|x| x.key() < (time_ms, txn_id));
        at.checked_sub(1).and_then(|i| self.fixes.get(i))
    }

    /// Whether the fixes are in strict key order (for restoring snapshots).
    pub fn is_sorted(&self) -> bool {
        self.fixes
            .iter()
            .zip(self.fixes.iter().skip(1))
            .all(|(a, b)| a.key() < b.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fix(time_ms: i64, txn_id: u64) -> Fix {
        Fix {
            time_ms,
            txn_id,
            at: GeoPoint {
                lat_e6: 0,
                lon_e6: 0,
            },
        }
    }

    #[test]
    fn keeps_the_late_bound_and_one_before_it() {
        let mut t = Track::default();
        for (i, time) in [0, 10, 20, 100, 105, 110].into_iter().enumerate() {
            t.insert(fix(time, i as u64), 10);
        }
        let times: Vec<i64> = t.fixes.iter().map(|f| f.time_ms).collect();
        assert_eq!(times, [20, 100, 105, 110]);
        assert_eq!(t.before(110, 5).map(|f| f.txn_id), Some(4));
        assert_eq!(t.before(100, 3).map(|f| f.txn_id), Some(2));
        assert_eq!(t.before(20, 2).map(|f| f.txn_id), None);
        // Equal times order by transaction id.
        t.insert(fix(105, 9), 10);
        assert_eq!(t.before(105, 10).map(|f| f.txn_id), Some(9));
        assert_eq!(t.before(105, 5).map(|f| f.txn_id), Some(4));
        // The same transaction is kept once.
        t.insert(fix(105, 9), 10);
        assert_eq!(t.fixes.len(), 5);
    }

    #[test]
    fn never_holds_more_than_its_bound() {
        let mut t = Track::default();
        for i in 0..200u64 {
            t.insert(fix(i as i64, i), 1_000_000);
        }
        assert_eq!(t.fixes.len(), FIXES_PER_TERMINAL_MAX);
        assert!(t.fixes.capacity() <= FIXES_PER_TERMINAL_MAX);
        assert_eq!(t.fixes.front().map(|f| f.txn_id), Some(200 - 32));
        // Older than everything kept, when full: not kept.
        t.insert(fix(-5, 999), 1_000_000);
        assert!(t.fixes.iter().all(|f| f.txn_id != 999));
        assert!(t.is_sorted());
    }
}
