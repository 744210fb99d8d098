//! numpy's legacy `RandomState` (the `np.random.*` functions of numpy 1.x and 2.x), as far
//! as the Handbook simulator uses it. Every method consumes the Mersenne Twister exactly as
//! numpy's C code does, so seeded streams agree value for value.

use crate::mt19937::Mt19937;

/// `poisson` switches from the multiplication method to PTRS at this mean (numpy's cut-off).
const POISSON_PTRS_MIN_LAMBDA: f64 = 10.0;

#[derive(Clone)]
pub struct RandomState {
    mt: Mt19937,
    /// Second value of the last Marsaglia polar pair, handed out by the next `normal`.
    cached_gauss: Option<f64>,
}

impl RandomState {
    /// `np.random.RandomState(seed)`: an integer seed goes through `init_genrand`, not
    /// `init_by_array` (numpy's `_legacy_seeding`).
    pub fn new(seed: u32) -> Self {
        RandomState {
            mt: Mt19937::new(seed),
            cached_gauss: None,
        }
    }

    /// `np.random.seed(seed)`: also forgets the cached normal.
    pub fn seed(&mut self, seed: u32) {
        self.mt.init_genrand(seed);
        self.cached_gauss = None;
    }

    /// Raw 32-bit output (`randint(0, 2**32, dtype=np.uint64)` draws one per value).
    pub fn next_u32(&mut self) -> u32 {
        self.mt.next_u32()
    }

    /// `random_sample()`: 53-bit double in [0, 1).
    pub fn random_sample(&mut self) -> f64 {
        self.mt.next_f64()
    }

    /// `uniform(low, high)` = low + (high - low) * random_sample().
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        let range = high - low;
        low + range * self.random_sample()
    }

    /// `standard_normal()` by `legacy_gauss`: Marsaglia's polar method, returning the second
    /// value of each pair first-come and caching the first.
    pub fn standard_normal(&mut self) -> f64 {
        if let Some(cached) = self.cached_gauss.take() {
            return cached;
        }
        loop {
            let x1 = 2.0 * self.random_sample() - 1.0;
            let x2 = 2.0 * self.random_sample() - 1.0;
            let r2 = x1 * x1 + x2 * x2;
            if r2 < 1.0 && r2 != 0.0 {
                let f = (-2.0 * r2.ln() / r2).sqrt();
                self.cached_gauss = Some(f * x1);
                return f * x2;
            }
        }
    }

    /// `normal(loc, scale)` = loc + scale * standard_normal().
    pub fn normal(&mut self, loc: f64, scale: f64) -> f64 {
        loc + scale * self.standard_normal()
    }

    /// `poisson(lam)`: multiplication method below 10, PTRS (Hörmann 1993) from 10 up, as
    /// numpy's `random_poisson`. Panics on a negative or NaN mean, which numpy rejects too.
    pub fn poisson(&mut self, lam: f64) -> u64 {
        assert!(lam >= 0.0, "poisson mean must be non-negative, got {lam}");
        if lam >= POISSON_PTRS_MIN_LAMBDA {
            crate::poisson_ptrs::sample(lam, || self.random_sample())
        } else if lam == 0.0 {
            0
        } else {
            let limit = (-lam).exp();
            let mut count = 0;
            let mut prod = 1.0;
            loop {
                prod *= self.random_sample();
                if prod > limit {
                    count += 1;
                } else {
                    return count;
                }
            }
        }
    }

    /// `random_interval(max)`: uniform in [0, max] by masked rejection on 32-bit words, as
    /// the legacy `shuffle` draws its swap partners. numpy switches to 64-bit words above
    /// `u32::MAX`; that needs arrays of over 4 billion elements, so it is refused here
    /// rather than carried unverified.
    pub fn random_interval(&mut self, max: u32) -> u32 {
        if max == 0 {
            return 0;
        }
        let mask = u32::MAX >> max.leading_zeros();
        loop {
            let value = self.mt.next_u32() & mask;
            if value <= max {
                return value;
            }
        }
    }

    /// `permutation(n)`: `arange(n)` shuffled by Fisher-Yates from the top index down.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let top = u32::try_from(n.saturating_sub(1)).expect("permutation limited to 2^32 items");
        let mut values: Vec<usize> = (0..n).collect();
        for i in (1..=top).rev() {
            let j = self.random_interval(i);
            values.swap(i as usize, j as usize);
        }
        values
    }

    /// pandas `Series.sample(n, random_state=seed)` without weights or replacement picks
    /// the positions `RandomState(seed).choice(len, n, replace=False)`, which is
    /// `permutation(len)[:n]`.
    pub fn pandas_sample_positions(seed: u32, len: usize, n: usize) -> Vec<usize> {
        assert!(n <= len, "cannot sample {n} of {len} without replacement");
        let mut positions = RandomState::new(seed).permutation(len);
        positions.truncate(n);
        positions
    }
}

#[cfg(test)]
mod tests {
    //! Expected values printed by numpy 1.24.4 and 2.4.6 alike (the legacy streams are
    //! frozen), from `/tmp/simref/consts.py` in the development venv, e.g.
    //! `python -c "import numpy as np; print(np.random.RandomState(0).random_sample(3))"`.
    use super::*;

    #[test]
    fn random_sample_matches_numpy() {
        let mut rs = RandomState::new(0);
        let got: Vec<f64> = (0..3).map(|_| rs.random_sample()).collect();
        assert_eq!(
            got,
            [0.5488135039273248, 0.7151893663724195, 0.6027633760716439]
        );
    }

    #[test]
    fn uniform_matches_numpy() {
        // RandomState(42): [rs.uniform(5, 100) for _ in range(2)]
        let mut rs = RandomState::new(42);
        assert_eq!(rs.uniform(5.0, 100.0), 40.581311290499436);
        assert_eq!(rs.uniform(5.0, 100.0), 95.31785910894203);
    }

    #[test]
    fn normal_uses_cached_pair_and_reseed_clears_it() {
        // RandomState(7): [rs.normal(43200, 20000) for _ in range(3)]; rs.seed(7); rs.normal(...)
        let mut rs = RandomState::new(7);
        let got: Vec<f64> = (0..3).map(|_| rs.normal(43_200.0, 20_000.0)).collect();
        assert_eq!(
            got,
            [77010.51407600712, 33881.25258918334, 43856.40327357169]
        );
        rs.seed(7);
        assert_eq!(rs.normal(43_200.0, 20_000.0), 77010.51407600712);
    }

    #[test]
    fn poisson_small_mean_matches_numpy() {
        // RandomState(596): [rs.poisson(2.5) for _ in range(10)]
        let mut rs = RandomState::new(596);
        let got: Vec<u64> = (0..10).map(|_| rs.poisson(2.5)).collect();
        assert_eq!(got, [2, 3, 4, 2, 2, 1, 4, 1, 2, 4]);
        assert_eq!(rs.poisson(0.0), 0);
    }

    #[test]
    fn poisson_ptrs_matches_numpy() {
        // RandomState(3): poisson(25.0) x8, and afresh poisson(1234.5) x4
        let mut rs = RandomState::new(3);
        let got: Vec<u64> = (0..8).map(|_| rs.poisson(25.0)).collect();
        assert_eq!(got, [26, 22, 18, 14, 27, 28, 21, 22]);
        let mut rs = RandomState::new(3);
        let got: Vec<u64> = (0..4).map(|_| rs.poisson(1234.5)).collect();
        assert_eq!(got, [1239, 1213, 1286, 1188]);
    }

    #[test]
    fn permutation_and_pandas_sample_match() {
        // np.random.RandomState(11).permutation(10)
        assert_eq!(
            RandomState::new(11).permutation(10),
            [7, 8, 2, 6, 4, 5, 1, 3, 0, 9]
        );
        assert!(RandomState::new(11).permutation(0).is_empty());
        // pd.Series(range(10000)).sample(n=2, random_state=0).values
        assert_eq!(
            RandomState::pandas_sample_positions(0, 10_000, 2),
            [9394, 898]
        );
        // pd.Series(range(5000)).sample(n=3, random_state=181).values
        assert_eq!(
            RandomState::pandas_sample_positions(181, 5_000, 3),
            [4314, 3945, 4038]
        );
    }
}
