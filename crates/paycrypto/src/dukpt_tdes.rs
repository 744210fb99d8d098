//! TDES DUKPT, ANSI X9.24-1:2009 annex A.
//!
//! Host side: [`derive_ipek`] once per terminal (the caller caches the [`Ipek`]), then
//! [`derive_transaction_key`] per transaction, costing one non-reversible key
//! generation per one bit of the counter (at most ten), or, with a
//! [`TransactionKeyCache`] per terminal, one generation per counter bit not shared with
//! the terminal's last KSN (one for consecutive counters). Terminal side:
//! [`TdesDukptTerminal`], with the standard's future-key registers.
//!
//! Cost (des 0.8, x86-64): a non-reversible key generation is two single-DES key
//! schedules and two DES blocks (about 7,400 instructions); TDES PIN block decryption
//! is two schedules and three blocks (about 9,800).

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::counter::{FutureKeys, KeyChain, TDES_COUNTER_RULE};
use crate::error::{Error, Result};
use crate::hexutil;
use crate::keys::{DES_BLOCK_BYTES, DesBlockCipher, DesSchedule, TDES2_KEY_BYTES, TdesKey, be64};
use crate::usage::{Bound, KeyUsage};

/// Key serial number length.
pub const KSN_BYTES: usize = 10;
/// Mask of the 21-bit transaction counter in the rightmost bits of the KSN.
pub const COUNTER_MASK: u32 = 0x1F_FFFF;

/// A.6: mask giving the right half of the IPEK and the left half in key generation.
const KEY_MASK_C0: [u8; TDES2_KEY_BYTES] = [
    0xC0, 0xC0, 0xC0, 0xC0, 0, 0, 0, 0, 0xC0, 0xC0, 0xC0, 0xC0, 0, 0, 0, 0,
];
/// A.4.1 table A-1: PIN encryption variant.
const PIN_VARIANT: [u8; 16] = variant(7);
/// MAC variant for request messages.
const MAC_REQUEST_VARIANT: [u8; 16] = variant(6);
/// MAC variant for response messages.
const MAC_RESPONSE_VARIANT: [u8; 16] = variant(4);
/// Data encryption variant for request messages.
const DATA_REQUEST_VARIANT: [u8; 16] = variant(5);
/// Data encryption variant for response messages.
const DATA_RESPONSE_VARIANT: [u8; 16] = variant(3);

/// The variant masks put 0xFF at the same byte of both halves.
const fn variant(byte: usize) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[byte] = 0xFF;
    v[byte + 8] = 0xFF;
    v
}

/// A TDES DUKPT key serial number: 59-bit initial KSN, 21-bit counter.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ksn([u8; KSN_BYTES]);

impl Ksn {
    /// Builds a KSN from exactly 10 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        bytes.try_into().map(Ksn).map_err(|_| Error::Length {
            what: "TDES DUKPT KSN",
            expected: "10 bytes",
            got: bytes.len(),
        })
    }

    /// Parses 20 hex digits.
    pub fn from_hex(text: &str) -> Result<Self> {
        hexutil::decode_array("TDES DUKPT KSN", text).map(Ksn)
    }

    /// The 10 KSN bytes.
    pub fn as_bytes(&self) -> &[u8; KSN_BYTES] {
        &self.0
    }

    /// The 21-bit transaction counter.
    pub fn counter(&self) -> u32 {
        u32::from_be_bytes([0, self.0[7], self.0[8], self.0[9]]) & COUNTER_MASK
    }

    /// This KSN with its counter replaced.
    pub fn with_counter(&self, counter: u32) -> Result<Self> {
        if counter > COUNTER_MASK {
            return Err(Error::InvalidCounter {
                counter: counter.into(),
            });
        }
        let mut out = *self;
        let tail =
            (u32::from_be_bytes([0, self.0[7], self.0[8], self.0[9]]) & !COUNTER_MASK) | counter;
        out.0[7..].copy_from_slice(&tail.to_be_bytes()[1..]);
        Ok(out)
    }

    /// The rightmost 64 bits with the counter cleared: the KSN register of A.2.
    fn register_base(&self) -> u64 {
        let mut r = [0u8; 8];
        r.copy_from_slice(&self.0[2..]);
        u64::from_be_bytes(r) & !u64::from(COUNTER_MASK)
    }
}

impl core::fmt::Debug for Ksn {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Ksn({})", hexutil::encode_upper(&self.0))
    }
}

/// The initial PIN encryption key of one device (X9.24-1 "initial key").
#[derive(Clone, PartialEq, Eq, Debug, Zeroize, ZeroizeOnDrop)]
pub struct Ipek(TdesKey);

impl Ipek {
    /// Wraps a double-length key loaded as an IPEK (e.g. from a TR-31 B1 block).
    pub fn from_key(key: TdesKey) -> Result<Self> {
        if key.len() != TDES2_KEY_BYTES {
            return Err(Error::Length {
                what: "IPEK",
                expected: "16 bytes",
                got: key.len(),
            });
        }
        Ok(Self(key))
    }

    /// The IPEK as a key.
    pub fn key(&self) -> &TdesKey {
        &self.0
    }
}

/// A current transaction key (before any variant). Use its methods for working keys.
#[derive(Clone, PartialEq, Eq, Debug, Zeroize, ZeroizeOnDrop)]
pub struct TdesTransactionKey(TdesKey);

impl TdesTransactionKey {
    /// The key itself, e.g. to compare with published "current key" vectors.
    pub fn key(&self) -> &TdesKey {
        &self.0
    }

    /// PIN encryption key: key XOR 00..FF 00..FF.
    pub fn pin_key(&self) -> Bound<TdesKey> {
        Bound::new(self.0.xor(&PIN_VARIANT), KeyUsage::PinEncryption)
    }

    /// MAC key for request messages (terminal generates, host verifies).
    pub fn mac_request_key(&self) -> Bound<TdesKey> {
        Bound::new(self.0.xor(&MAC_REQUEST_VARIANT), KeyUsage::Mac)
    }

    /// MAC key for response messages (host generates, terminal verifies).
    pub fn mac_response_key(&self) -> Bound<TdesKey> {
        Bound::new(self.0.xor(&MAC_RESPONSE_VARIANT), KeyUsage::Mac)
    }

    /// Data encryption key for request messages.
    pub fn data_request_key(&self) -> Bound<TdesKey> {
        Bound::new(data_key(&self.0, &DATA_REQUEST_VARIANT), KeyUsage::Data)
    }

    /// Data encryption key for response messages.
    pub fn data_response_key(&self) -> Bound<TdesKey> {
        Bound::new(data_key(&self.0, &DATA_RESPONSE_VARIANT), KeyUsage::Data)
    }
}

/// A.4.1 figure A-2: the data variant goes through a one-way function, each half
/// TDES-encrypted under the variant itself, so a data key does not reveal the MAC or
/// PIN keys of the same transaction.
fn data_key(current: &TdesKey, variant: &[u8; 16]) -> TdesKey {
    let v = current.xor(variant);
    let bytes = v.expose_bytes();
    let mut left = [0u8; DES_BLOCK_BYTES];
    let mut right = [0u8; DES_BLOCK_BYTES];
    left.copy_from_slice(&bytes[..8]);
    right.copy_from_slice(&bytes[8..16]);
    let mut out = [0u8; TDES2_KEY_BYTES];
    out[..8].copy_from_slice(&v.encrypt_block(&left));
    out[8..].copy_from_slice(&v.encrypt_block(&right));
    left.zeroize();
    right.zeroize();
    let key = TdesKey::from_double(out);
    out.zeroize();
    key
}

/// A.6: IPEK = E(BDK, initial KSN) || E(BDK XOR C0C0..., initial KSN), where the
/// initial KSN is the leftmost 64 bits of the KSN with the counter cleared.
pub fn derive_ipek(bdk: &TdesKey, ksn: &Ksn) -> Result<Ipek> {
    if bdk.len() != TDES2_KEY_BYTES {
        return Err(Error::Length {
            what: "TDES DUKPT BDK",
            expected: "16 bytes (X9.24-1:2009 BDKs are double length)",
            got: bdk.len(),
        });
    }
    let initial = ksn.with_counter(0)?;
    let mut block = [0u8; DES_BLOCK_BYTES];
    block.copy_from_slice(&initial.0[..8]);
    let mut out = [0u8; TDES2_KEY_BYTES];
    out[..8].copy_from_slice(&bdk.encrypt_block(&block));
    out[8..].copy_from_slice(&bdk.xor(&KEY_MASK_C0).encrypt_block(&block));
    let ipek = Ipek(TdesKey::from_double(out));
    out.zeroize();
    Ok(ipek)
}

/// Host side (A.3): the current transaction key for `ksn`, from the cached IPEK. One
/// non-reversible key generation per one bit of the counter, most significant first.
/// A host that sees the same device again should keep a [`TransactionKeyCache`], which
/// derives only the steps the new counter does not share with the last one.
///
/// Rejects counters a device never uses (zero, or more than ten 1 bits): a KSN carrying
/// one is forged or corrupt.
pub fn derive_transaction_key(ipek: &Ipek, ksn: &Ksn) -> Result<TdesTransactionKey> {
    let counter = ksn.counter();
    check_counter(counter)?;
    let mut register = ksn.register_base();
    let mut key = ipek_bytes(ipek);
    let mut next = [0u8; TDES2_KEY_BYTES];
    for bit in (0..TDES_COUNTER_RULE.bits).rev() {
        if counter & (1 << bit) != 0 {
            register |= 1 << bit;
            non_reversible_step(&key, register, &mut next);
            key = next;
        }
    }
    let txn = TdesTransactionKey(TdesKey::from_double(key));
    key.zeroize();
    next.zeroize();
    Ok(txn)
}

fn check_counter(counter: u32) -> Result<()> {
    if TDES_COUNTER_RULE.is_usable(counter.into()) {
        Ok(())
    } else {
        Err(Error::InvalidCounter {
            counter: counter.into(),
        })
    }
}

fn ipek_bytes(ipek: &Ipek) -> [u8; TDES2_KEY_BYTES] {
    ipek.0
        .expose_bytes()
        .try_into()
        .expect("an IPEK is double length")
}

/// The most steps a transaction key takes (ten one bits).
const CHAIN_STEPS_MAX: usize = TDES_COUNTER_RULE.ones_max as usize;

/// Host side, one per terminal: the device's IPEK and the intermediate keys of the last
/// KSN it derived (the key after each set bit of the counter, most significant first).
/// A new KSN derives only the steps below the highest counter bit in which it differs
/// from the last one: one step for the next counter in a device's sequence, instead of
/// one per set bit (up to ten) from the IPEK. Any counter order works (retransmissions,
/// gaps, a counter lower than the last); the keys are exactly those of
/// [`derive_transaction_key`].
///
/// Pure: no I/O, no global state; about 200 bytes. The keys are zeroized on drop and
/// `Debug` shows only the KSN and counter.
pub struct TransactionKeyCache {
    ipek: [u8; TDES2_KEY_BYTES],
    initial_ksn: Ksn,
    chain: KeyChain<[u8; TDES2_KEY_BYTES], CHAIN_STEPS_MAX>,
    last_steps: u32,
}

impl TransactionKeyCache {
    /// A cache for the device of `ksn` (its counter is ignored) and its IPEK.
    pub fn new(ipek: &Ipek, ksn: &Ksn) -> Self {
        Self {
            ipek: ipek_bytes(ipek),
            initial_ksn: ksn.with_counter(0).expect("counter 0 is in range"),
            chain: KeyChain::new(),
            last_steps: 0,
        }
    }

    /// The transaction key for `ksn`: as [`derive_transaction_key`] with this cache's
    /// IPEK, deriving only the steps the counter does not share with the last KSN.
    ///
    /// Rejects counters a device never uses ([`Error::InvalidCounter`]) and KSNs of
    /// another device ([`Error::KsnDevice`]); the cache is unchanged on error.
    pub fn derive(&mut self, ksn: &Ksn) -> Result<TdesTransactionKey> {
        let counter = ksn.counter();
        check_counter(counter)?;
        if ksn.with_counter(0)? != self.initial_ksn {
            return Err(Error::KsnDevice);
        }
        let base = self.initial_ksn.register_base();
        let (key, steps) =
            self.chain
                .advance_to(&self.ipek, counter.into(), |parent, register, out| {
                    non_reversible_step(parent, base | register, out)
                });
        let txn = TdesTransactionKey(TdesKey::from_double(*key));
        self.last_steps = steps;
        Ok(txn)
    }

    /// The device's initial KSN (counter zero).
    pub fn initial_ksn(&self) -> &Ksn {
        &self.initial_ksn
    }

    /// The counter of the last KSN derived (0 before any).
    pub fn last_counter(&self) -> u32 {
        u32::try_from(self.chain.counter()).expect("21-bit counter")
    }

    /// How many non-reversible key generations the last [`derive`](Self::derive) ran
    /// (0 for a repeated KSN; 1 for the next counter of a device).
    pub fn last_steps(&self) -> u32 {
        self.last_steps
    }
}

impl Drop for TransactionKeyCache {
    fn drop(&mut self) {
        self.ipek.zeroize();
    }
}

impl ZeroizeOnDrop for TransactionKeyCache {}

impl core::fmt::Debug for TransactionKeyCache {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TransactionKeyCache")
            .field("initial_ksn", &self.initial_ksn)
            .field("last_counter", &self.last_counter())
            .finish_non_exhaustive()
    }
}

/// A.2 non-reversible key generation process on a 16-byte key and the 64-bit register.
fn non_reversible_key(key: &TdesKey, register: u64) -> TdesKey {
    let mut k: [u8; TDES2_KEY_BYTES] = key.expose_bytes().try_into().expect("double length");
    let mut out = [0u8; TDES2_KEY_BYTES];
    non_reversible_step(&k, register, &mut out);
    let next = TdesKey::from_double(out);
    k.zeroize();
    out.zeroize();
    next
}

/// A.2 on raw bytes. Each half of the new key is K_R XOR DES(K_L, K_R XOR register):
/// the right half under the key, the left half under the key XOR C0C0C0C0 00000000 on
/// both halves. Exactly two single-DES key schedules and two blocks: the whole cost.
fn non_reversible_step(key: &[u8; TDES2_KEY_BYTES], register: u64, out: &mut [u8; 16]) {
    const MASK_C0: u64 = 0xC0C0_C0C0_0000_0000;
    let (k_left, k_right) = (be64(&key[..8]), be64(&key[8..]));
    let right = k_right ^ DesSchedule::new(k_left).encrypt(k_right ^ register);
    let (k_left, k_right) = (k_left ^ MASK_C0, k_right ^ MASK_C0);
    let left = k_right ^ DesSchedule::new(k_left).encrypt(k_right ^ register);
    out[..8].copy_from_slice(&left.to_be_bytes());
    out[8..].copy_from_slice(&right.to_be_bytes());
}

/// An originating device: hands out (KSN, transaction key) pairs in counter order,
/// skipping counters with more than ten 1 bits, until the 21-bit range is exhausted.
pub struct TdesDukptTerminal {
    initial_ksn: Ksn,
    registers: FutureKeys<TdesKey>,
}

impl TdesDukptTerminal {
    /// Loads the device with its IPEK and initial KSN (the counter in `ksn` is ignored;
    /// the first transaction uses counter 1). The IPEK is consumed: a device keeps only
    /// future keys.
    pub fn load(ipek: Ipek, ksn: &Ksn) -> Result<Self> {
        let initial_ksn = ksn.with_counter(0)?;
        let base = initial_ksn.register_base();
        let registers = FutureKeys::load(TDES_COUNTER_RULE, &ipek.0, |k, c| {
            non_reversible_key(k, base | c)
        });
        Ok(Self {
            initial_ksn,
            registers,
        })
    }

    /// The KSN the next transaction will carry, or `None` once exhausted.
    pub fn next_ksn(&self) -> Option<Ksn> {
        let counter = self.registers.next_counter()?;
        let counter = u32::try_from(counter).expect("21-bit counter fits u32");
        Some(
            self.initial_ksn
                .with_counter(counter)
                .expect("counter in range"),
        )
    }

    /// The next transaction's KSN and key. [`Error::CounterExhausted`] after the last
    /// usable counter (0x1FF800): the device must be reloaded, never wrapped.
    pub fn next_transaction(&mut self) -> Result<(Ksn, TdesTransactionKey)> {
        let base = self.initial_ksn.register_base();
        let (counter, key) = self
            .registers
            .advance(|k, c| non_reversible_key(k, base | c))
            .ok_or(Error::CounterExhausted)?;
        let counter = u32::try_from(counter).expect("21-bit counter fits u32");
        let ksn = self.initial_ksn.with_counter(counter)?;
        Ok((ksn, TdesTransactionKey(key)))
    }
}

impl core::fmt::Debug for TdesDukptTerminal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TdesDukptTerminal")
            .field("next_ksn", &self.next_ksn())
            .finish_non_exhaustive()
    }
}
