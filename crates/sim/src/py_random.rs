//! CPython's `random.Random` (3.8 to 3.11 behaviour), as far as the Handbook simulator uses
//! it: integer seeding, `random`, `getrandbits`, `_randbelow`, `choice`, `sample`, `uniform`.

use std::collections::HashSet;

use crate::mt19937::Mt19937;

/// `sample` keeps a pool copy while the population is at most this size (a small set minus
/// an empty list, in CPython's words); above it, it tracks picks in a set.
const SAMPLE_SETSIZE_BASE: usize = 21;
/// From this many picks on, `sample` grows `setsize` by the hash-table size of the picks.
const SAMPLE_BIG_SET_MIN_PICKS: usize = 6;
const BITS_PER_WORD: u32 = 32;

#[derive(Clone)]
pub struct PyRandom {
    mt: Mt19937,
}

impl PyRandom {
    /// `random.Random(seed)` for a Python int; the sign is dropped as CPython does.
    pub fn new(seed: i64) -> Self {
        let mut rng = PyRandom {
            mt: Mt19937::new(0),
        };
        rng.seed(seed);
        rng
    }

    /// `random.seed(int)`: `init_by_array` over the 32-bit words of |seed|, least
    /// significant first; zero is the single word 0.
    pub fn seed(&mut self, seed: i64) {
        let magnitude = seed.unsigned_abs();
        let low = magnitude as u32;
        let high = (magnitude >> BITS_PER_WORD) as u32;
        if high == 0 {
            self.mt.init_by_array(&[low]);
        } else {
            self.mt.init_by_array(&[low, high]);
        }
    }

    /// `random()`: 53-bit double in [0, 1).
    pub fn random(&mut self) -> f64 {
        self.mt.next_f64()
    }

    /// `uniform(a, b)` = a + (b - a) * random().
    pub fn uniform(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.random()
    }

    /// `getrandbits(k)` for k <= 64: 32-bit words from least significant up, the last one
    /// cut down to its top bits.
    pub fn getrandbits(&mut self, k: u32) -> u64 {
        assert!(
            k <= u64::BITS,
            "getrandbits limited to 64 bits here, asked for {k}"
        );
        let mut value = 0u64;
        let mut filled = 0;
        while filled < k {
            let remaining = k - filled;
            let mut word = self.mt.next_u32();
            if remaining < BITS_PER_WORD {
                word >>= BITS_PER_WORD - remaining;
            }
            value |= u64::from(word) << filled;
            filled += BITS_PER_WORD;
        }
        value
    }

    /// `_randbelow(n)` (`_randbelow_with_getrandbits`): redraw n.bit_length() bits until the
    /// value is below n. n must be positive.
    pub fn randbelow(&mut self, n: u64) -> u64 {
        assert!(n > 0, "randbelow needs a positive bound");
        let bits = u64::BITS - n.leading_zeros();
        loop {
            let r = self.getrandbits(bits);
            if r < n {
                return r;
            }
        }
    }

    /// `choice(seq)`; `None` for an empty slice where CPython raises IndexError.
    pub fn choice<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            return None;
        }
        let index = self.randbelow(items.len() as u64) as usize;
        Some(&items[index])
    }

    /// `sample(population, k)` of CPython 3.8-3.11 (3.12 kept the algorithm). Returns
    /// `None` when k > len, where CPython raises ValueError.
    pub fn sample<T: Clone>(&mut self, population: &[T], k: usize) -> Option<Vec<T>> {
        let n = population.len();
        if k > n {
            return None;
        }
        let mut setsize = SAMPLE_SETSIZE_BASE;
        if k >= SAMPLE_BIG_SET_MIN_PICKS {
            // CPython: 4 ** _ceil(_log(k * 3, 4)), with math.log(x, 4) = log(x) / log(4).
            let exponent = ((k as f64 * 3.0).ln() / 4f64.ln()).ceil();
            setsize += 4f64.powf(exponent) as usize;
        }
        let mut result = Vec::with_capacity(k);
        if n <= setsize {
            let mut pool: Vec<T> = population.to_vec();
            for i in 0..k {
                let j = self.randbelow((n - i) as u64) as usize;
                result.push(pool[j].clone());
                pool[j] = pool[n - i - 1].clone();
            }
        } else {
            let mut selected = HashSet::with_capacity(k);
            for _ in 0..k {
                let mut j = self.randbelow(n as u64) as usize;
                while !selected.insert(j) {
                    j = self.randbelow(n as u64) as usize;
                }
                result.push(population[j].clone());
            }
        }
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    //! Expected values printed by CPython 3.11.7, e.g.
    //! `python3 -c "import random; r = random.Random(0); print([r.random() for _ in range(3)])"`
    //! (all of them: `/tmp/simref/consts.py` in the development venv).
    use super::*;

    #[test]
    fn random_matches_cpython() {
        let mut r = PyRandom::new(0);
        let got: Vec<f64> = (0..3).map(|_| r.random()).collect();
        assert_eq!(
            got,
            [0.8444218515250481, 0.7579544029403025, 0.420571580830845]
        );
    }

    #[test]
    fn seed_uses_all_words_of_the_magnitude() {
        // random.Random(2**40 + 5).random()
        assert_eq!(PyRandom::new((1 << 40) + 5).random(), 0.5043802970418443);
        // random.Random(-12345).random() == random.Random(12345).random()
        assert_eq!(
            PyRandom::new(-12_345).random(),
            PyRandom::new(12_345).random()
        );
    }

    #[test]
    fn getrandbits_matches_cpython() {
        // r = random.Random(0); [r.getrandbits(k) for k in (5, 32, 40, 64)]
        let mut r = PyRandom::new(0);
        let got: Vec<u64> = [5, 32, 40, 64]
            .into_iter()
            .map(|k| r.getrandbits(k))
            .collect();
        assert_eq!(
            got,
            [27, 1_654_615_998, 978_212_965_548, 746_805_015_404_516_437]
        );
    }

    #[test]
    fn randbelow_choice_uniform_match_cpython() {
        // random.Random(596): [r._randbelow(37) for _ in range(6)]
        let mut r = PyRandom::new(596);
        let got: Vec<u64> = (0..6).map(|_| r.randbelow(37)).collect();
        assert_eq!(got, [25, 9, 11, 9, 11, 13]);
        // random.Random(5).choice(list(range(100, 150)))
        let items: Vec<u32> = (100..150).collect();
        assert_eq!(PyRandom::new(5).choice(&items), Some(&139));
        assert_eq!(PyRandom::new(5).choice::<u32>(&[]), None);
        // random.Random(9): [r.uniform(0, 10) for _ in range(2)]
        let mut r = PyRandom::new(9);
        assert_eq!(r.uniform(0.0, 10.0), 4.630073578150214);
        assert_eq!(r.uniform(0.0, 10.0), 3.7331193139504206);
    }

    #[test]
    fn sample_pool_and_set_methods_match_cpython() {
        // random.Random(17).sample(list(range(60)), 20): n 60 <= setsize 85, pool method.
        let population: Vec<u32> = (0..60).collect();
        let expected = [
            33, 26, 51, 19, 23, 18, 11, 49, 45, 57, 34, 42, 17, 7, 1, 15, 24, 58, 16, 32,
        ];
        assert_eq!(
            PyRandom::new(17).sample(&population, 20),
            Some(expected.to_vec())
        );
        // random.Random(17).sample(list(range(1000)), 7): n 1000 > setsize 85, set method.
        let population: Vec<u32> = (0..1000).collect();
        let expected = [534, 424, 826, 310, 983, 374, 296];
        assert_eq!(
            PyRandom::new(17).sample(&population, 7),
            Some(expected.to_vec())
        );
        // random.Random(17).sample(list(range(30)), 4): k <= 5, setsize 21, set method.
        let population: Vec<u32> = (0..30).collect();
        assert_eq!(
            PyRandom::new(17).sample(&population, 4),
            Some(vec![16, 13, 25, 9])
        );
        assert_eq!(PyRandom::new(17).sample(&population, 31), None);
    }
}
