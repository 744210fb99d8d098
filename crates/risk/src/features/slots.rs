//! An entity's entries in time order: a ring buffer of power-of-two slots with a max tree
//! over the slots' amounts, so that the largest amount of any run of entries is
//! O(log slots) however many entries the run holds.
//!
//! Why a buffer of our own rather than a `VecDeque`: the tree is indexed by physical slot,
//! which stays put when the front is dropped or an entry is appended; only the entries an
//! insertion shifts (the late ones after it, or the few before it) change slot.

use super::ring::{Entry, NOT_FRAUD};

/// Slots a buffer starts with (most rings hold an event or two: a card at one terminal).
const SLOTS_MIN: usize = 1;

/// What an empty slot holds: an amount below every real one, so the tree ignores it.
const VACANT: Entry = Entry {
    time_ms: 0,
    txn_id: 0,
    amount_minor: i64::MIN,
    fraud_known_at_ms: NOT_FRAUD,
    other: 0,
    flags: 0,
};

#[derive(Clone, Debug, Default)]
pub(crate) struct Slots {
    /// `capacity` slots (0 or a power of two); entry `i` is in slot `(head + i) & mask`.
    buf: Vec<Entry>,
    head: usize,
    len: usize,
    /// `tree[n]` for `1 <= n < capacity` is the largest amount under node `n`; node
    /// `capacity + j` is slot `j` itself. Empty with fewer than two slots.
    tree: Vec<i64>,
}

impl Slots {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes: the slots and the tree.
    pub fn heap_bytes(&self) -> usize {
        self.buf.capacity() * std::mem::size_of::<Entry>()
            + self.tree.capacity() * std::mem::size_of::<i64>()
    }

    fn slot(&self, i: usize) -> usize {
        (self.head + i) & (self.buf.len() - 1)
    }

    /// Entry `i` (0 is the oldest). Panics past the end, like slice indexing.
    pub fn get(&self, i: usize) -> &Entry {
        assert!(i < self.len, "entry {i} of {}", self.len);
        &self.buf[self.slot(i)]
    }

    pub fn front(&self) -> Option<&Entry> {
        (self.len > 0).then(|| self.get(0))
    }

    pub fn back(&self) -> Option<&Entry> {
        self.len.checked_sub(1).map(|i| self.get(i))
    }

    /// Entries `from..to`, oldest first.
    pub fn range(&self, from: usize, to: usize) -> impl DoubleEndedIterator<Item = &Entry> {
        (from..to).map(move |i| self.get(i))
    }

    /// The first entry for which `pred` is false (entries are partitioned by it).
    pub fn partition_point(&self, pred: impl Fn(&Entry) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pred(self.get(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Puts `e` before entry `at` (at the end when `at == len`), moving the shorter side.
    pub fn insert(&mut self, at: usize, e: Entry) {
        assert!(at <= self.len, "insert at {at} of {}", self.len);
        if self.len == self.buf.len() {
            self.resize((2 * self.buf.len()).max(SLOTS_MIN));
        }
        let mask = self.buf.len() - 1;
        let (first, moved) = if 2 * at >= self.len {
            for i in (at..self.len).rev() {
                self.buf[(self.head + i + 1) & mask] = self.buf[(self.head + i) & mask];
            }
            (self.slot(at), self.len - at + 1)
        } else {
            self.head = (self.head + mask) & mask;
            for i in 0..at {
                self.buf[(self.head + i) & mask] = self.buf[(self.head + i + 1) & mask];
            }
            (self.head, at + 1)
        };
        self.len += 1;
        let s = self.slot(at);
        self.buf[s] = e;
        self.refresh(first, moved);
    }

    pub fn pop_front(&mut self) -> Option<Entry> {
        if self.len == 0 {
            return None;
        }
        let s = self.head;
        let e = std::mem::replace(&mut self.buf[s], VACANT);
        self.refresh(s, 1);
        self.head = (s + 1) & (self.buf.len() - 1);
        self.len -= 1;
        Some(e)
    }

    /// Changes entry `i`'s flags (not its amount, so the tree stays as it is).
    pub fn set_flags(&mut self, i: usize, flags: u8) {
        assert!(i < self.len);
        let s = self.slot(i);
        self.buf[s].flags = flags;
    }

    pub fn set_fraud_known(&mut self, i: usize, known_at_ms: i64) {
        assert!(i < self.len);
        let s = self.slot(i);
        self.buf[s].fraud_known_at_ms = known_at_ms;
    }

    /// The largest amount of entries `from..to`; `i64::MIN` when there are none.
    pub fn max_amount(&self, from: usize, to: usize) -> i64 {
        if from >= to {
            return i64::MIN;
        }
        assert!(to <= self.len);
        let (cap, first, n) = (self.buf.len(), self.slot(from), to - from);
        if first + n <= cap {
            self.max_of_slots(first, first + n)
        } else {
            let wrapped = first + n - cap;
            self.max_of_slots(first, cap)
                .max(self.max_of_slots(0, wrapped))
        }
    }

    /// Gives back slots beyond the next power of two of the length (none when empty).
    pub fn shrink_to_fit(&mut self) {
        let want = if self.len == 0 {
            0
        } else {
            self.len.next_power_of_two().max(SLOTS_MIN)
        };
        if want < self.buf.len() {
            self.resize(want);
        }
    }

    fn node(&self, n: usize) -> i64 {
        let cap = self.buf.len();
        if n >= cap {
            self.buf[n - cap].amount_minor
        } else {
            self.tree[n]
        }
    }

    fn max_of_slots(&self, from: usize, to: usize) -> i64 {
        let cap = self.buf.len();
        let (mut l, mut r) = (from + cap, to + cap);
        let mut m = i64::MIN;
        while l < r {
            if l & 1 == 1 {
                m = m.max(self.node(l));
                l += 1;
            }
            if r & 1 == 1 {
                r -= 1;
                m = m.max(self.node(r));
            }
            l >>= 1;
            r >>= 1;
        }
        m
    }

    /// Recomputes the tree above `n` slots from slot `first` (wrapping).
    fn refresh(&mut self, first: usize, n: usize) {
        let cap = self.buf.len();
        if first + n <= cap {
            self.refresh_slots(first, first + n - 1);
        } else {
            self.refresh_slots(first, cap - 1);
            self.refresh_slots(0, first + n - cap - 1);
        }
    }

    /// Recomputes the tree above slots `from..=to`: O(to - from + log capacity).
    fn refresh_slots(&mut self, from: usize, to: usize) {
        let cap = self.buf.len();
        let (mut l, mut r) = ((from + cap) >> 1, (to + cap) >> 1);
        while l >= 1 {
            for n in l..=r {
                self.tree[n] = self.node(2 * n).max(self.node(2 * n + 1));
            }
            l >>= 1;
            r >>= 1;
        }
    }

    /// Moves the entries to `slots` slots (a power of two >= len, or 0 when empty).
    fn resize(&mut self, slots: usize) {
        let mut buf = Vec::with_capacity(slots);
        buf.extend((0..self.len).map(|i| *self.get(i)));
        buf.resize(slots, VACANT);
        self.buf = buf;
        self.head = 0;
        self.tree = vec![i64::MIN; if slots > 1 { slots } else { 0 }];
        for n in (1..slots).rev() {
            self.tree[n] = self.node(2 * n).max(self.node(2 * n + 1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(time_ms: i64, amount_minor: i64) -> Entry {
        Entry {
            amount_minor,
            time_ms,
            ..VACANT
        }
    }

    #[test]
    fn max_of_any_run_across_wraps_inserts_and_drops() {
        let mut s = Slots::default();
        let mut model: std::collections::VecDeque<Entry> = Default::default();
        let mut x = 7u64;
        for step in 0..3_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let r = (x >> 33) as usize;
            if r.is_multiple_of(5) && !model.is_empty() {
                assert_eq!(s.pop_front(), model.pop_front());
            } else {
                let at = if r.is_multiple_of(3) {
                    r % (model.len() + 1)
                } else {
                    model.len()
                };
                let e = entry(step, (r % 1_000) as i64);
                s.insert(at, e);
                model.insert(at, e);
            }
            if step % 97 == 0 {
                s.shrink_to_fit();
            }
            assert_eq!(s.len(), model.len());
            let (a, b) = (r % (model.len() + 1), (r / 7) % (model.len() + 1));
            let (a, b) = (a.min(b), a.max(b));
            let want = model.range(a..b).map(|e| e.amount_minor).max();
            assert_eq!(s.max_amount(a, b), want.unwrap_or(i64::MIN), "{step}");
            assert!(s.range(0, s.len()).eq(model.iter()));
        }
        assert!(s.buf.len() <= 2 * model.len().max(SLOTS_MIN));
    }
}
