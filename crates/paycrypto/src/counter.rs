//! DUKPT transaction counter rules and the terminal's future-key registers, shared by
//! TDES DUKPT (X9.24-1: 21-bit counter, at most 10 one bits) and AES DUKPT (X9.24-3:
//! 32-bit counter, at most 16 one bits).
//!
//! A device only uses counters whose popcount is within the limit, so that each
//! transaction key is at most that many derivation steps from the initial key and the
//! device needs only one future-key register per counter bit.

use zeroize::Zeroize;

/// The counter rules of one DUKPT flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterRule {
    /// Width of the counter in bits.
    pub bits: u32,
    /// Most one bits a usable counter may have.
    pub ones_max: u32,
}

/// X9.24-1:2009 TDES DUKPT: 21-bit counter, at most ten 1 bits.
pub const TDES_COUNTER_RULE: CounterRule = CounterRule {
    bits: 21,
    ones_max: 10,
};

/// X9.24-3:2017 AES DUKPT: 32-bit counter, at most sixteen 1 bits (6.1).
pub const AES_COUNTER_RULE: CounterRule = CounterRule {
    bits: 32,
    ones_max: 16,
};

impl CounterRule {
    /// Largest value the counter field can hold.
    pub const fn mask(self) -> u64 {
        (1u64 << self.bits) - 1
    }

    /// Whether a device may use `counter` for a transaction (non-zero, in range, and
    /// within the one-bit limit).
    pub const fn is_usable(self, counter: u64) -> bool {
        counter != 0 && counter <= self.mask() && counter.count_ones() <= self.ones_max
    }

    /// The smallest usable counter greater than `counter`, or `None` when the range is
    /// exhausted. Never wraps.
    pub fn next_usable(self, counter: u64) -> Option<u64> {
        let mut candidate = counter.checked_add(1)?;
        while candidate.count_ones() > self.ones_max {
            // Every value between candidate and candidate + its lowest set bit keeps all
            // of candidate's one bits, so jump straight past them.
            candidate += candidate & candidate.wrapping_neg();
        }
        (candidate <= self.mask()).then_some(candidate)
    }

    /// The last counter a device may use: the top `ones_max` bits set.
    pub const fn last_usable(self) -> u64 {
        self.mask() & !((1u64 << (self.bits - self.ones_max)) - 1)
    }
}

/// The future-key registers of an originating device (X9.24-1 A.2; X9.24-3 6.5): one
/// key per counter bit, so each transaction key costs one derivation amortised and the
/// device never holds a key from which a past transaction key could be recomputed.
pub(crate) struct FutureKeys<K> {
    rule: CounterRule,
    /// `registers[b]` is the key for the next counter whose lowest set bit is `b`.
    registers: Vec<Option<K>>,
    /// The counter the next transaction will use; `None` once exhausted.
    next: Option<u64>,
}

impl<K> FutureKeys<K> {
    /// Loads the registers from the initial key. `derive(parent, counter)` must give
    /// the key for `counter` from the key of `counter` with its lowest set bit cleared.
    pub(crate) fn load(rule: CounterRule, initial: &K, derive: impl Fn(&K, u64) -> K) -> Self {
        let registers = (0..rule.bits)
            .map(|bit| Some(derive(initial, 1u64 << bit)))
            .collect();
        Self {
            rule,
            registers,
            next: Some(1),
        }
    }

    /// The counter the next call to `advance` will use, if any.
    pub(crate) fn next_counter(&self) -> Option<u64> {
        self.next
    }

    /// Takes the key for the next counter, refills the registers below its lowest set
    /// bit, and moves the counter on, skipping counters with too many one bits.
    pub(crate) fn advance(&mut self, derive: impl Fn(&K, u64) -> K) -> Option<(u64, K)> {
        let counter = self.next?;
        let low_bit = counter.trailing_zeros();
        let key = self.registers[low_bit as usize]
            .take()
            .expect("future key register for the counter's lowest bit is filled");
        if counter.count_ones() < self.rule.ones_max {
            for bit in 0..low_bit {
                self.registers[bit as usize] = Some(derive(&key, counter | (1u64 << bit)));
            }
            self.next = Some(counter + 1);
        } else {
            // At the one-bit limit the next usable counter is reached by adding the
            // lowest set bit; its register was filled when its prefix was used.
            self.next = Some(counter + (1u64 << low_bit));
        }
        if self.next.is_some_and(|n| n > self.rule.mask()) {
            self.next = None;
        }
        Some((counter, key))
    }
}

/// The host's memory of one device's last derivation (X9.24-1 A.3, X9.24-3 6.5 host
/// side): the intermediate key after each set bit of the last counter, most significant
/// bit first, so `keys[i]` is the key of the counter's top `i + 1` set bits.
///
/// The key for a new counter is `step` applied once per set bit, from the initial key,
/// with the register holding the counter's set bits so far. Two counters that agree
/// above some bit share those steps, so only the set bits at or below the highest bit
/// where the new counter differs from the last one are derived. A device's counter
/// goes up one transaction at a time, which costs exactly one step: `c + 1` keeps the
/// bits of `c` above its lowest clear bit and sets that bit (the same holds for the
/// jump `c + (c & -c)` past counters with too many one bits).
///
/// The keys are raw byte arrays of a fixed size, zeroized when overwritten by a shorter
/// chain and on drop.
pub(crate) struct KeyChain<K: Zeroize, const N: usize> {
    /// The counter whose chain `keys[..counter.count_ones()]` holds; 0 before any.
    counter: u64,
    keys: [K; N],
}

impl<K: Zeroize + Default, const N: usize> KeyChain<K, N> {
    /// An empty chain: the first counter derives every step from the initial key.
    pub(crate) fn new() -> Self {
        Self {
            counter: 0,
            keys: core::array::from_fn(|_| K::default()),
        }
    }
}

impl<K: Zeroize, const N: usize> KeyChain<K, N> {
    /// Brings the chain to `counter` (non-zero, at most `N` one bits: the caller checks
    /// the counter rule first) and returns its key and the number of steps derived.
    /// `step(parent, register, out)` writes into `out` the key for `register` from
    /// `parent`, the key of `register` with its lowest set bit cleared.
    pub(crate) fn advance_to(
        &mut self,
        initial: &K,
        counter: u64,
        mut step: impl FnMut(&K, u64, &mut K),
    ) -> (&K, u32) {
        assert!(
            counter != 0 && counter.count_ones() as usize <= N,
            "counter checked by the caller"
        );
        let old_len = self.counter.count_ones() as usize;
        let diff = self.counter ^ counter;
        // Bits 0..=top: from the highest bit where the counters differ down. Above it
        // the counters agree, so those steps are already in the chain.
        let low_mask = if diff == 0 {
            0
        } else {
            u64::MAX >> diff.leading_zeros()
        };
        let mut register = counter & !low_mask;
        let mut len = register.count_ones() as usize;
        let mut rest = counter & low_mask;
        let mut steps = 0;
        while rest != 0 {
            let bit = 1u64 << (63 - rest.leading_zeros());
            rest &= !bit;
            register |= bit;
            let (done, todo) = self.keys.split_at_mut(len);
            step(done.last().unwrap_or(initial), register, &mut todo[0]);
            len += 1;
            steps += 1;
        }
        // Deeper keys of the previous chain are of no further use.
        for stale in self.keys.iter_mut().take(old_len).skip(len) {
            stale.zeroize();
        }
        self.counter = counter;
        (&self.keys[len - 1], steps)
    }

    /// The counter the chain was last brought to (0 before any).
    pub(crate) fn counter(&self) -> u64 {
        self.counter
    }
}

impl<K: Zeroize, const N: usize> Drop for KeyChain<K, N> {
    fn drop(&mut self) {
        for key in &mut self.keys {
            key.zeroize();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_usable_counters_match_the_standards() {
        assert_eq!(TDES_COUNTER_RULE.last_usable(), 0x1F_F800);
        assert_eq!(AES_COUNTER_RULE.last_usable(), 0xFFFF_0000);
    }

    #[test]
    fn next_usable_skips_and_never_wraps() {
        let r = TDES_COUNTER_RULE;
        assert_eq!(r.next_usable(0), Some(1));
        // 0x0003FF has ten ones; 0x0003FF + 1 = 0x400 has one.
        assert_eq!(r.next_usable(0x3FF), Some(0x400));
        // 0x0FFC00 has ten ones; its successor 0x0FFC01 has eleven: skip to 0x0FFC00 + 0x400.
        assert_eq!(r.next_usable(0x0F_FC00), Some(0x10_0000));
        assert_eq!(r.next_usable(0x1F_F800), None);
        assert_eq!(r.next_usable(0x1F_FFFF), None);
        assert_eq!(AES_COUNTER_RULE.next_usable(0xFFFF_0000), None);
        assert_eq!(AES_COUNTER_RULE.next_usable(0xFFFE_FFFF), Some(0xFFFF_0000));
    }

    #[test]
    fn usable_counters_number_two_to_the_twenty() {
        // Sum of C(21, k) for k = 1..=10: the 2^20 - 1 transactions a TDES DUKPT
        // device gets (half of 2^21 by symmetry, minus the counter 0).
        let r = TDES_COUNTER_RULE;
        let mut n = 0u64;
        let mut c = 0;
        while let Some(next) = r.next_usable(c) {
            n += 1;
            c = next;
        }
        assert_eq!(n, (1 << 20) - 1);
    }

    /// A toy one-way step; the register logic is what is under test here.
    fn toy_derive(parent: &u64, counter: u64) -> u64 {
        parent.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ counter.rotate_left(17)
    }

    fn toy_host(counter: u64, rule: CounterRule) -> u64 {
        let mut key = 7u64;
        let mut register = 0;
        for bit in (0..rule.bits).rev() {
            if counter & (1 << bit) != 0 {
                register |= 1 << bit;
                key = toy_derive(&key, register);
            }
        }
        key
    }

    #[test]
    fn future_keys_agree_with_host_derivation_until_exhaustion() {
        // A small rule walks its whole range quickly, exhaustion included.
        for rule in [
            CounterRule {
                bits: 12,
                ones_max: 4,
            },
            CounterRule {
                bits: 10,
                ones_max: 10,
            },
            CounterRule {
                bits: 9,
                ones_max: 1,
            },
        ] {
            let mut regs = FutureKeys::load(rule, &7u64, toy_derive);
            let mut expected = rule.next_usable(0);
            while let Some((counter, key)) = regs.advance(toy_derive) {
                assert_eq!(Some(counter), expected);
                assert_eq!(key, toy_host(counter, rule), "counter {counter:#x}");
                expected = rule.next_usable(counter);
            }
            assert_eq!(expected, None, "registers stopped early under {rule:?}");
            assert!(regs.advance(toy_derive).is_none(), "exhaustion is sticky");
        }
    }

    #[test]
    fn key_chain_agrees_with_host_derivation_in_any_order() {
        let rule = CounterRule {
            bits: 12,
            ones_max: 4,
        };
        let step = |parent: &u64, register: u64, out: &mut u64| *out = toy_derive(parent, register);
        let mut chain = KeyChain::<u64, 4>::new();
        // Every usable counter in order: one step each, from the empty chain on.
        let mut counter = rule.next_usable(0);
        while let Some(c) = counter {
            let (key, steps) = chain.advance_to(&7, c, step);
            assert_eq!(*key, toy_host(c, rule), "counter {c:#x}");
            assert_eq!(steps, 1, "counter {c:#x}");
            counter = rule.next_usable(c);
        }
        // Then jumps in every direction, repeats included (a deterministic scramble).
        let usable: Vec<u64> = (1..=rule.mask()).filter(|&c| rule.is_usable(c)).collect();
        let mut previous = chain.counter();
        for i in 0..4 * usable.len() {
            let c = usable[(i * 7919 + i / 3) % usable.len()];
            let (key, steps) = chain.advance_to(&7, c, step);
            assert_eq!(
                *key,
                toy_host(c, rule),
                "counter {c:#x} after {previous:#x}"
            );
            let diff = previous ^ c;
            let expected = if diff == 0 {
                0
            } else {
                (c & (u64::MAX >> diff.leading_zeros())).count_ones()
            };
            assert_eq!(steps, expected, "counter {c:#x} after {previous:#x}");
            previous = c;
        }
    }
}
