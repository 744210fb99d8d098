//! The 32-bit Mersenne Twister (Matsumoto & Nishimura, 1998) shared by numpy's legacy
//! `RandomState` and CPython's `random`. The two differ only in how they seed it and how
//! they turn its words into values, which live in `numpy_rng` and `py_random`.

const STATE_LEN: usize = 624;
const SHIFT_LEN: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;
/// Multiplier of the reference `init_genrand` (Knuth, TAOCP vol. 2, 3rd ed., p. 106).
const INIT_MULTIPLIER: u32 = 1_812_433_253;
/// The seed the reference `init_by_array` starts from before mixing in the key.
const INIT_BY_ARRAY_SEED: u32 = 19_650_218;
const ARRAY_MIX_1: u32 = 1_664_525;
const ARRAY_MIX_2: u32 = 1_566_083_941;

#[derive(Clone)]
pub(crate) struct Mt19937 {
    state: [u32; STATE_LEN],
    /// Next word to hand out; `STATE_LEN` means "regenerate first".
    pos: usize,
}

impl Mt19937 {
    pub(crate) fn new(seed: u32) -> Self {
        let mut mt = Mt19937 {
            state: [0; STATE_LEN],
            pos: STATE_LEN,
        };
        mt.init_genrand(seed);
        mt
    }

    /// Reference `init_genrand`; numpy's `mt19937_seed` is the same recurrence.
    pub(crate) fn init_genrand(&mut self, seed: u32) {
        self.state[0] = seed;
        for i in 1..STATE_LEN {
            let prev = self.state[i - 1];
            // `i` < 624, so the cast is lossless.
            self.state[i] = INIT_MULTIPLIER
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        self.pos = STATE_LEN;
    }

    /// Reference `init_by_array`, as CPython's `random.seed(int)` calls it.
    pub(crate) fn init_by_array(&mut self, key: &[u32]) {
        assert!(!key.is_empty(), "init_by_array needs at least one key word");
        self.init_genrand(INIT_BY_ARRAY_SEED);
        let mt = &mut self.state;
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..STATE_LEN.max(key.len()) {
            let prev = mt[i - 1];
            mt[i] = (mt[i] ^ (prev ^ (prev >> 30)).wrapping_mul(ARRAY_MIX_1))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= STATE_LEN {
                mt[0] = mt[STATE_LEN - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..STATE_LEN - 1 {
            let prev = mt[i - 1];
            mt[i] =
                (mt[i] ^ (prev ^ (prev >> 30)).wrapping_mul(ARRAY_MIX_2)).wrapping_sub(i as u32);
            i += 1;
            if i >= STATE_LEN {
                mt[0] = mt[STATE_LEN - 1];
                i = 1;
            }
        }
        // Most significant bit set: guarantees a non-zero initial state.
        mt[0] = UPPER_MASK;
    }

    fn regenerate(&mut self) {
        let mt = &mut self.state;
        for k in 0..STATE_LEN {
            let y = (mt[k] & UPPER_MASK) | (mt[(k + 1) % STATE_LEN] & LOWER_MASK);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            mt[k] = mt[(k + SHIFT_LEN) % STATE_LEN] ^ (y >> 1) ^ mag;
        }
        self.pos = 0;
    }

    /// Next tempered 32-bit output (`genrand_uint32` / `mt19937_next32`).
    #[inline]
    pub(crate) fn next_u32(&mut self) -> u32 {
        if self.pos >= STATE_LEN {
            self.regenerate();
        }
        let mut y = self.state[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// 53-bit double in [0, 1) from two words; numpy's `mt19937_next_double` and CPython's
    /// `random_random` use this same formula.
    #[inline]
    pub(crate) fn next_f64(&mut self) -> f64 {
        const TWO_POW_26: f64 = 67_108_864.0;
        const TWO_POW_53: f64 = 9_007_199_254_740_992.0;
        let a = f64::from(self.next_u32() >> 5);
        let b = f64::from(self.next_u32() >> 6);
        (a * TWO_POW_26 + b) / TWO_POW_53
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// First outputs of the reference mt19937ar.c test (init_by_array {0x123, 0x234, 0x345,
    /// 0x456}), from its published mt19937ar.out.
    #[test]
    fn matches_reference_init_by_array_outputs() {
        let mut mt = Mt19937::new(0);
        mt.init_by_array(&[0x123, 0x234, 0x345, 0x456]);
        let got: Vec<u32> = (0..5).map(|_| mt.next_u32()).collect();
        assert_eq!(
            got,
            [
                1_067_595_299,
                955_945_823,
                477_289_528,
                4_107_218_783,
                4_228_976_476
            ]
        );
    }

    /// 5489 is the reference default seed; its first output is the well-known 3499211612
    /// (also C++ `std::mt19937{}()`).
    #[test]
    fn matches_reference_init_genrand_outputs() {
        let mut mt = Mt19937::new(5489);
        assert_eq!(mt.next_u32(), 3_499_211_612);
    }
}
