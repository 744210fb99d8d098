//! AES DUKPT, ANSI X9.24-3:2017.
//!
//! Every derivation is AES-ECB, under the parent key, of 16-byte derivation data
//! (6.3.3): `01 | block counter | key usage (2) | algorithm (2) | length in bits (2) |
//! tail (8)`, one block per 128 bits of output, truncated to the length. The tail is the
//! initial key id for the initial key, otherwise the id's rightmost 4 bytes followed by
//! the 32-bit counter.

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::counter::{AES_COUNTER_RULE, FutureKeys, KeyChain};
use crate::error::{Error, Result};
use crate::hexutil;
use crate::keys::{AES_BLOCK_BYTES, AesKey, HmacKey, TdesKey, aes_with_encryptor};
use crate::usage::{Bound, KeyUsage};

/// Initial key id length (BDK id 4 bytes || derivation id 4 bytes).
pub const INITIAL_KEY_ID_BYTES: usize = 8;
/// AES DUKPT KSN length: initial key id || 32-bit counter.
pub const KSN_BYTES: usize = 12;
/// Derivation data version byte (6.3.3).
const DERIVATION_DATA_VERSION: u8 = 0x01;
/// Key usage indicators of the derivation data (6.3.3 table 2).
const USAGE_INITIAL_KEY: u16 = 0x8001;
const USAGE_DERIVATION: u16 = 0x8000;

/// The initial key id: identifies the BDK (left 4 bytes) and the device (right 4).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct InitialKeyId(pub [u8; INITIAL_KEY_ID_BYTES]);

impl InitialKeyId {
    /// Parses 16 hex digits.
    pub fn from_hex(text: &str) -> Result<Self> {
        hexutil::decode_array("AES DUKPT initial key id", text).map(InitialKeyId)
    }
}

/// An AES DUKPT key serial number.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AesKsn {
    /// Initial key id.
    pub id: InitialKeyId,
    /// 32-bit transaction counter.
    pub counter: u32,
}

impl AesKsn {
    /// Builds a KSN from 12 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; KSN_BYTES] = bytes.try_into().map_err(|_| Error::Length {
            what: "AES DUKPT KSN",
            expected: "12 bytes",
            got: bytes.len(),
        })?;
        let mut id = [0u8; INITIAL_KEY_ID_BYTES];
        id.copy_from_slice(&arr[..8]);
        let counter = u32::from_be_bytes([arr[8], arr[9], arr[10], arr[11]]);
        Ok(Self {
            id: InitialKeyId(id),
            counter,
        })
    }

    /// Parses 24 hex digits.
    pub fn from_hex(text: &str) -> Result<Self> {
        let arr: [u8; KSN_BYTES] = hexutil::decode_array("AES DUKPT KSN", text)?;
        Self::from_bytes(&arr)
    }

    /// The 12 KSN bytes.
    pub fn to_bytes(&self) -> [u8; KSN_BYTES] {
        let mut out = [0u8; KSN_BYTES];
        out[..8].copy_from_slice(&self.id.0);
        out[8..].copy_from_slice(&self.counter.to_be_bytes());
        out
    }
}

impl core::fmt::Debug for AesKsn {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "AesKsn({})", hexutil::encode_upper(&self.to_bytes()))
    }
}

/// What a working key is for: the key usage indicator of the derivation data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkingKeyUsage {
    /// 0002: key encryption key.
    KeyEncryption,
    /// 1000: PIN encryption.
    PinEncryption,
    /// 2000: MAC generation.
    MacGenerate,
    /// 2001: MAC verification.
    MacVerify,
    /// 2002: MAC generation and verification.
    MacBoth,
    /// 3000: data encryption.
    DataEncrypt,
    /// 3001: data decryption.
    DataDecrypt,
    /// 3002: data encryption and decryption.
    DataBoth,
}

impl WorkingKeyUsage {
    const fn code(self) -> u16 {
        match self {
            Self::KeyEncryption => 0x0002,
            Self::PinEncryption => 0x1000,
            Self::MacGenerate => 0x2000,
            Self::MacVerify => 0x2001,
            Self::MacBoth => 0x2002,
            Self::DataEncrypt => 0x3000,
            Self::DataDecrypt => 0x3001,
            Self::DataBoth => 0x3002,
        }
    }

    const fn key_usage(self) -> KeyUsage {
        match self {
            Self::KeyEncryption => KeyUsage::KeyEncryption,
            Self::PinEncryption => KeyUsage::PinEncryption,
            Self::MacGenerate => KeyUsage::MacGenerate,
            Self::MacVerify => KeyUsage::MacVerify,
            Self::MacBoth => KeyUsage::Mac,
            Self::DataEncrypt => KeyUsage::DataEncrypt,
            Self::DataDecrypt => KeyUsage::DataDecrypt,
            Self::DataBoth => KeyUsage::Data,
        }
    }
}

/// The algorithm and length of a derived key (6.2.1, 6.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// Double-length TDES.
    Tdes2,
    /// Triple-length TDES.
    Tdes3,
    /// AES-128.
    Aes128,
    /// AES-192.
    Aes192,
    /// AES-256.
    Aes256,
    /// HMAC with a 128-bit key.
    Hmac128,
    /// HMAC with a 192-bit key.
    Hmac192,
    /// HMAC with a 256-bit key.
    Hmac256,
}

impl KeyType {
    const fn algorithm_code(self) -> u16 {
        match self {
            Self::Tdes2 => 0x0000,
            Self::Tdes3 => 0x0001,
            Self::Aes128 => 0x0002,
            Self::Aes192 => 0x0003,
            Self::Aes256 => 0x0004,
            Self::Hmac128 | Self::Hmac192 | Self::Hmac256 => 0x0005,
        }
    }

    /// Derived key length in bits.
    pub const fn bits(self) -> u16 {
        match self {
            Self::Tdes2 | Self::Aes128 | Self::Hmac128 => 128,
            Self::Tdes3 | Self::Aes192 | Self::Hmac192 => 192,
            Self::Aes256 | Self::Hmac256 => 256,
        }
    }

    /// The AES type of a derivation key of `len` bytes (only AES keys derive).
    fn of_aes_len(len: usize) -> Self {
        match len {
            16 => Self::Aes128,
            24 => Self::Aes192,
            _ => Self::Aes256,
        }
    }
}

/// A derived working key, typed by algorithm and bound to its usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkingKey {
    /// 2TDEA or 3TDEA.
    Tdes(Bound<TdesKey>),
    /// AES-128/192/256.
    Aes(Bound<AesKey>),
    /// HMAC-128/192/256.
    Hmac(Bound<HmacKey>),
}

/// The initial key loaded into one device.
#[derive(Clone, PartialEq, Eq, Debug, Zeroize, ZeroizeOnDrop)]
pub struct AesDukptInitialKey(AesKey);

impl AesDukptInitialKey {
    /// Wraps an AES key loaded as an initial key (e.g. from a TR-31 B1 block).
    pub fn from_key(key: AesKey) -> Self {
        Self(key)
    }

    /// The initial key as a key.
    pub fn key(&self) -> &AesKey {
        &self.0
    }
}

/// A transaction key, with the KSN it belongs to (working keys need the counter).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AesTransactionKey {
    key: AesKey,
    ksn: AesKsn,
}

/// 6.3.3 derivation data.
fn derivation_data(usage: u16, key_type: KeyType, tail: [u8; 8]) -> [u8; AES_BLOCK_BYTES] {
    let mut d = [0u8; AES_BLOCK_BYTES];
    d[0] = DERIVATION_DATA_VERSION;
    d[1] = 1;
    d[2..4].copy_from_slice(&usage.to_be_bytes());
    d[4..6].copy_from_slice(&key_type.algorithm_code().to_be_bytes());
    d[6..8].copy_from_slice(&key_type.bits().to_be_bytes());
    d[8..].copy_from_slice(&tail);
    d
}

/// The tail for everything but the initial key: id bytes 4..8 || counter.
fn counter_tail(id: &InitialKeyId, counter: u32) -> [u8; 8] {
    let mut t = [0u8; 8];
    t[..4].copy_from_slice(&id.0[4..]);
    t[4..].copy_from_slice(&counter.to_be_bytes());
    t
}

/// 6.3.1: AES-ECB of the derivation data under `parent` (16, 24 or 32 bytes), one
/// block per 128 bits of output with the block counter (byte 1) incremented, truncated
/// to the key length, written into `out`. Returns the length. Builds only the
/// encryption key schedule.
fn derive_into(parent: &[u8], mut data: [u8; AES_BLOCK_BYTES], out: &mut [u8; 32]) -> usize {
    let len = usize::from(u16::from_be_bytes([data[6], data[7]]) / 8);
    aes_with_encryptor(parent, |cipher| {
        for chunk in out[..len.next_multiple_of(AES_BLOCK_BYTES)].chunks_exact_mut(AES_BLOCK_BYTES)
        {
            let block: &mut [u8; AES_BLOCK_BYTES] = chunk.try_into().expect("16-byte chunk");
            *block = data;
            cipher.apply(block);
            data[1] += 1;
        }
    });
    out[len..].zeroize();
    len
}

fn derive_aes(parent: &[u8], data: [u8; AES_BLOCK_BYTES]) -> AesKey {
    let mut bytes = [0u8; 32];
    let len = derive_into(parent, data, &mut bytes);
    let key = AesKey::from_bytes(&bytes[..len]).expect("AES lengths only");
    bytes.zeroize();
    key
}

/// The next intermediate key on raw bytes: derivation usage, the parent's own AES type.
fn intermediate_step(parent: &[u8], id: &InitialKeyId, counter: u32, out: &mut [u8; 32]) {
    let key_type = KeyType::of_aes_len(parent.len());
    derive_into(
        parent,
        derivation_data(USAGE_DERIVATION, key_type, counter_tail(id, counter)),
        out,
    );
}

/// [`intermediate_step`] on key types (the terminal's future-key registers).
fn derive_intermediate(parent: &AesKey, id: &InitialKeyId, counter: u32) -> AesKey {
    let mut bytes = [0u8; 32];
    intermediate_step(parent.expose_bytes(), id, counter, &mut bytes);
    let key = AesKey::from_bytes(&bytes[..parent.len()]).expect("AES lengths only");
    bytes.zeroize();
    key
}

/// 6.3.3: the initial key of the device `id` from an AES-128, -192 or -256 BDK.
pub fn derive_initial_key(bdk: &AesKey, id: &InitialKeyId) -> AesDukptInitialKey {
    let key_type = KeyType::of_aes_len(bdk.len());
    AesDukptInitialKey(derive_aes(
        bdk.expose_bytes(),
        derivation_data(USAGE_INITIAL_KEY, key_type, id.0),
    ))
}

fn check_counter(counter: u32) -> Result<()> {
    if AES_COUNTER_RULE.is_usable(counter.into()) {
        Ok(())
    } else {
        Err(Error::InvalidCounter {
            counter: counter.into(),
        })
    }
}

/// Host side: the transaction key for `ksn`, deriving through the set bits of the
/// counter from the most significant (one AES block per set bit, at most 16). A host
/// that sees the same device again can keep an [`AesTransactionKeyCache`], which
/// derives only the steps the new counter does not share with the last one.
///
/// Rejects counters a device never uses (zero, or more than sixteen 1 bits).
pub fn derive_transaction_key(ik: &AesDukptInitialKey, ksn: &AesKsn) -> Result<AesTransactionKey> {
    check_counter(ksn.counter)?;
    let len = ik.0.len();
    let mut key = [0u8; 32];
    key[..len].copy_from_slice(ik.0.expose_bytes());
    let mut next = [0u8; 32];
    let mut register = 0u32;
    for bit in (0..AES_COUNTER_RULE.bits).rev() {
        if ksn.counter & (1 << bit) != 0 {
            register |= 1 << bit;
            intermediate_step(&key[..len], &ksn.id, register, &mut next);
            key = next;
        }
    }
    let txn = AesTransactionKey {
        key: AesKey::from_bytes(&key[..len]).expect("AES lengths only"),
        ksn: *ksn,
    };
    key.zeroize();
    next.zeroize();
    Ok(txn)
}

/// The most steps a transaction key takes (sixteen one bits).
const CHAIN_STEPS_MAX: usize = AES_COUNTER_RULE.ones_max as usize;

/// Host side, one per terminal: the device's initial key and the intermediate keys of
/// the last KSN it derived (the key after each set bit of the counter, most significant
/// first). A new KSN derives only the steps below the highest counter bit in which it
/// differs from the last one: one step for the next counter in a device's sequence,
/// instead of one per set bit (up to sixteen). Any counter order works; the keys are
/// exactly those of [`derive_transaction_key`].
///
/// Pure: no I/O, no global state; about 570 bytes. The keys are zeroized on drop and
/// `Debug` shows only the initial key id and counter.
pub struct AesTransactionKeyCache {
    initial: [u8; 32],
    len: usize,
    id: InitialKeyId,
    chain: KeyChain<[u8; 32], CHAIN_STEPS_MAX>,
    last_steps: u32,
}

impl AesTransactionKeyCache {
    /// A cache for the device `id` and its initial key.
    pub fn new(ik: &AesDukptInitialKey, id: InitialKeyId) -> Self {
        let mut initial = [0u8; 32];
        initial[..ik.0.len()].copy_from_slice(ik.0.expose_bytes());
        Self {
            initial,
            len: ik.0.len(),
            id,
            chain: KeyChain::new(),
            last_steps: 0,
        }
    }

    /// The transaction key for `ksn`: as [`derive_transaction_key`] with this cache's
    /// initial key, deriving only the steps the counter does not share with the last
    /// KSN.
    ///
    /// Rejects counters a device never uses ([`Error::InvalidCounter`]) and KSNs of
    /// another device ([`Error::KsnDevice`]); the cache is unchanged on error.
    pub fn derive(&mut self, ksn: &AesKsn) -> Result<AesTransactionKey> {
        check_counter(ksn.counter)?;
        if ksn.id != self.id {
            return Err(Error::KsnDevice);
        }
        let (len, id) = (self.len, self.id);
        let (key, steps) = self.chain.advance_to(
            &self.initial,
            ksn.counter.into(),
            |parent, register, out| {
                let register = u32::try_from(register).expect("32-bit counter");
                intermediate_step(&parent[..len], &id, register, out);
            },
        );
        let txn = AesTransactionKey {
            key: AesKey::from_bytes(&key[..len]).expect("AES lengths only"),
            ksn: *ksn,
        };
        self.last_steps = steps;
        Ok(txn)
    }

    /// The device's initial key id.
    pub fn id(&self) -> &InitialKeyId {
        &self.id
    }

    /// The counter of the last KSN derived (0 before any).
    pub fn last_counter(&self) -> u32 {
        u32::try_from(self.chain.counter()).expect("32-bit counter")
    }

    /// How many derivation steps the last [`derive`](Self::derive) ran (0 for a
    /// repeated KSN; 1 for the next counter of a device).
    pub fn last_steps(&self) -> u32 {
        self.last_steps
    }
}

impl Drop for AesTransactionKeyCache {
    fn drop(&mut self) {
        self.initial.zeroize();
    }
}

impl ZeroizeOnDrop for AesTransactionKeyCache {}

impl core::fmt::Debug for AesTransactionKeyCache {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AesTransactionKeyCache")
            .field("id", &self.id)
            .field("last_counter", &self.last_counter())
            .finish_non_exhaustive()
    }
}

impl AesTransactionKey {
    /// The transaction key itself, e.g. to compare with published vectors.
    pub fn key(&self) -> &AesKey {
        &self.key
    }

    /// The KSN this key belongs to.
    pub fn ksn(&self) -> &AesKsn {
        &self.ksn
    }

    /// 6.3.3: a working key of `key_type` for `usage`. AES and HMAC working keys may
    /// not be stronger than the transaction key (6.1.3); TDES keys always are weaker.
    pub fn working_key(&self, usage: WorkingKeyUsage, key_type: KeyType) -> Result<WorkingKey> {
        let is_tdes = matches!(key_type, KeyType::Tdes2 | KeyType::Tdes3);
        if !is_tdes && usize::from(key_type.bits() / 8) > self.key.len() {
            return Err(Error::KeyStrength);
        }
        let data = derivation_data(
            usage.code(),
            key_type,
            counter_tail(&self.ksn.id, self.ksn.counter),
        );
        let mut bytes = [0u8; 32];
        let len = derive_into(self.key.expose_bytes(), data, &mut bytes);
        let bound = usage.key_usage();
        let key = match key_type {
            KeyType::Tdes2 | KeyType::Tdes3 => {
                WorkingKey::Tdes(Bound::new(TdesKey::from_bytes(&bytes[..len])?, bound))
            }
            KeyType::Aes128 | KeyType::Aes192 | KeyType::Aes256 => {
                WorkingKey::Aes(Bound::new(AesKey::from_bytes(&bytes[..len])?, bound))
            }
            KeyType::Hmac128 | KeyType::Hmac192 | KeyType::Hmac256 => {
                WorkingKey::Hmac(Bound::new(HmacKey::from_bytes(&bytes[..len])?, bound))
            }
        };
        bytes.zeroize();
        Ok(key)
    }

    /// Shorthand for an AES working key of the transaction key's own strength or less.
    pub fn aes_working_key(
        &self,
        usage: WorkingKeyUsage,
        key_type: KeyType,
    ) -> Result<Bound<AesKey>> {
        match self.working_key(usage, key_type)? {
            WorkingKey::Aes(k) => Ok(k),
            _ => Err(Error::Parameter("key type is not AES")),
        }
    }
}

/// An originating device for AES DUKPT: (KSN, transaction key) in counter order,
/// skipping counters with more than sixteen 1 bits, exhausted after 0xFFFF0000.
pub struct AesDukptTerminal {
    id: InitialKeyId,
    registers: FutureKeys<AesKey>,
}

impl AesDukptTerminal {
    /// Loads the device with its initial key and id; the first transaction uses
    /// counter 1. The initial key is consumed.
    pub fn load(ik: AesDukptInitialKey, id: InitialKeyId) -> Self {
        let registers = FutureKeys::load(AES_COUNTER_RULE, &ik.0, |k, c| {
            derive_intermediate(k, &id, u32::try_from(c).expect("32-bit counter"))
        });
        Self { id, registers }
    }

    /// The KSN the next transaction will carry, or `None` once exhausted.
    pub fn next_ksn(&self) -> Option<AesKsn> {
        let counter = self.registers.next_counter()?;
        Some(AesKsn {
            id: self.id,
            counter: u32::try_from(counter).expect("32-bit counter"),
        })
    }

    /// The next transaction key, or [`Error::CounterExhausted`]; never wraps.
    pub fn next_transaction(&mut self) -> Result<AesTransactionKey> {
        let id = self.id;
        let (counter, key) = self
            .registers
            .advance(|k, c| derive_intermediate(k, &id, u32::try_from(c).expect("32-bit counter")))
            .ok_or(Error::CounterExhausted)?;
        let counter = u32::try_from(counter).expect("32-bit counter");
        Ok(AesTransactionKey {
            key,
            ksn: AesKsn { id, counter },
        })
    }
}

impl core::fmt::Debug for AesDukptTerminal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AesDukptTerminal")
            .field("next_ksn", &self.next_ksn())
            .finish_non_exhaustive()
    }
}
