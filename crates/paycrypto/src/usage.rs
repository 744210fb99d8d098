//! Key usage binding: a key travels with what it may be used for, so a PIN key cannot
//! be handed to a MAC function by mistake. Higher layers hold [`Bound`] keys; the
//! operations that matter (PIN translation, MAC verification) demand them.

use crate::error::{Error, Result};

/// What a key may be used for. Mirrors the TR-31 key usage codes posguard meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyUsage {
    /// B0: DUKPT base derivation key.
    BaseDerivation,
    /// B1: DUKPT initial key (IPEK / IK).
    DukptInitialKey,
    /// P0: PIN encryption.
    PinEncryption,
    /// V1: PIN verification, IBM 3624.
    PinVerificationIbm3624,
    /// V2: PIN verification, Visa PVV.
    PinVerificationVisaPvv,
    /// C0: card verification.
    CardVerification,
    /// M0-M8 with mode G: MAC generation only.
    MacGenerate,
    /// M0-M8 with mode V: MAC verification only.
    MacVerify,
    /// M0-M8 with mode C: MAC generation and verification.
    Mac,
    /// D0 with mode E: data encryption only.
    DataEncrypt,
    /// D0 with mode D: data decryption only.
    DataDecrypt,
    /// D0 with mode B: data encryption and decryption.
    Data,
    /// K0: key encryption / wrapping.
    KeyEncryption,
    /// K1: TR-31 key block protection key.
    KeyBlockProtection,
}

impl KeyUsage {
    /// Whether a key bound to `self` may perform `wanted`. "Both" usages cover their
    /// one-way halves; nothing else crosses.
    pub fn permits(self, wanted: KeyUsage) -> bool {
        use KeyUsage::*;
        self == wanted
            || matches!(
                (self, wanted),
                (Mac, MacGenerate) | (Mac, MacVerify) | (Data, DataEncrypt) | (Data, DataDecrypt)
            )
    }
}

/// A key together with the usage it is bound to.
#[derive(Clone, PartialEq, Eq)]
pub struct Bound<K> {
    key: K,
    usage: KeyUsage,
}

impl<K> Bound<K> {
    /// Binds `key` to `usage`. Call this where the usage is known for certain: at key
    /// loading, from a TR-31 header, or from the DUKPT variant that produced the key.
    pub fn new(key: K, usage: KeyUsage) -> Self {
        Self { key, usage }
    }

    /// The bound usage.
    pub fn usage(&self) -> KeyUsage {
        self.usage
    }

    /// The key, if its usage permits `wanted`.
    pub fn require(&self, wanted: KeyUsage) -> Result<&K> {
        if self.usage.permits(wanted) {
            Ok(&self.key)
        } else {
            Err(Error::KeyUsage {
                bound: self.usage,
                wanted,
            })
        }
    }
}

impl<K: core::fmt::Debug> core::fmt::Debug for Bound<K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Bound")
            .field("usage", &self.usage)
            .field("key", &self.key)
            .finish()
    }
}
