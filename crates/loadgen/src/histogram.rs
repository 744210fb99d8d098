//! A log-linear latency histogram: values below 2^SUB_BITS are counted exactly; above,
//! each power of two is cut into 2^(SUB_BITS-1) equal buckets, so a reported value
//! (its bucket's midpoint) is within 1/2^SUB_BITS (0.4%) of any value in the bucket.

/// Bits of precision kept per value.
const SUB_BITS: u32 = 8;
const EXACT: u64 = 1 << SUB_BITS;
const HALF: u64 = EXACT / 2;
/// Largest value recorded precisely (about 19 hours in microseconds); larger values
/// count in the last bucket.
pub const VALUE_MAX: u64 = (1 << 36) - 1;
const OCTAVES: usize = (36 - SUB_BITS) as usize;
const BUCKETS: usize = EXACT as usize + OCTAVES * HALF as usize;

#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }
}

fn index(value: u64) -> usize {
    let v = value.min(VALUE_MAX);
    if v < EXACT {
        return v as usize;
    }
    let octave = 63 - v.leading_zeros(); // >= SUB_BITS
    let shift = octave - (SUB_BITS - 1);
    let sub = (v >> shift) - HALF; // 0..HALF
    EXACT as usize + (octave - SUB_BITS) as usize * HALF as usize + sub as usize
}

/// The range of values bucket `i` holds.
fn bounds(i: usize) -> (u64, u64) {
    if (i as u64) < EXACT {
        return (i as u64, i as u64);
    }
    let rel = i as u64 - EXACT;
    let octave = rel / HALF + u64::from(SUB_BITS);
    let shift = octave - u64::from(SUB_BITS - 1);
    let low = (HALF + rel % HALF) << shift;
    (low, low + (1 << shift) - 1)
}

impl Histogram {
    pub fn record(&mut self, value: u64) {
        self.counts[index(value)] += 1;
        self.total += 1;
        self.max = self.max.max(value);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0.0..=1.0): the midpoint of the bucket holding the
    /// ceil(q * count)-th smallest value, never above the largest value seen (which
    /// is q = 1).
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        if q >= 1.0 {
            return self.max;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, high) = bounds(i);
                return (low + (high - low) / 2).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_tile_the_range_without_gaps() {
        let mut next = 0;
        for i in 0..BUCKETS {
            let (low, high) = bounds(i);
            assert_eq!(low, next, "bucket {i}");
            assert_eq!((index(low), index(high)), (i, i));
            next = high + 1;
        }
        assert_eq!(next, VALUE_MAX + 1);
    }

    #[test]
    fn quantiles_are_within_one_percent() {
        let mut h = Histogram::default();
        for v in 1..=100_000u64 {
            h.record(v * 7);
        }
        for (q, exact) in [(0.5, 350_000.0), (0.99, 693_000.0), (0.999, 699_300.0)] {
            let got = h.quantile(q) as f64;
            assert!(
                (got - exact).abs() / exact < 0.01,
                "q {q}: {got} vs {exact}"
            );
        }
        assert_eq!(
            (h.count(), h.max(), h.quantile(1.0)),
            (100_000, 700_000, 700_000)
        );
        let mut merged = Histogram::default();
        merged.record(3);
        merged.merge(&h);
        assert_eq!((merged.count(), merged.quantile(0.0)), (100_001, 3));
    }
}
