//! Which DUKPT a terminal runs, which device it is (the key id), and the BDK test tools
//! derive its initial key from.

use crate::error::TerminalError;
use paycrypto::counter::{AES_COUNTER_RULE, CounterRule, TDES_COUNTER_RULE};
use paycrypto::dukpt_aes::{AesKsn, InitialKeyId};
use paycrypto::dukpt_tdes::Ksn;
use paycrypto::{AesKey, Kcv, TdesKey};

/// The `dukpt` of a terminal's security profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// TDES DUKPT (ANSI X9.24-1:2009), double-length BDK.
    Tdes,
    /// AES DUKPT (ANSI X9.24-3:2017) with an AES-128 BDK and AES-128 working keys.
    Aes128,
    /// AES DUKPT with an AES-256 BDK and AES-256 working keys.
    Aes256,
}

impl Scheme {
    /// Every scheme, in the order the profile lists them.
    pub const ALL: [Scheme; 3] = [Scheme::Tdes, Scheme::Aes128, Scheme::Aes256];

    /// The profile's (and the key API's) name: `tdes`, `aes128` or `aes256`.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Tdes => "tdes",
            Scheme::Aes128 => "aes128",
            Scheme::Aes256 => "aes256",
        }
    }

    /// Parses a name given by [`Scheme::name`].
    pub fn parse(text: &str) -> Result<Scheme, TerminalError> {
        Scheme::ALL
            .into_iter()
            .find(|s| s.name() == text)
            .ok_or_else(|| TerminalError::Scheme(text.to_owned()))
    }

    /// The field that carries the encrypted PIN block: 52 (TDES, format 0) or 110 (AES,
    /// format 4).
    pub fn pin_field(self) -> u8 {
        match self {
            Scheme::Tdes => 52,
            Scheme::Aes128 | Scheme::Aes256 => 110,
        }
    }

    /// Hex digits of a KSN in field 62: 20 (TDES) or 24 (AES).
    pub fn ksn_hex_len(self) -> usize {
        match self {
            Scheme::Tdes => 2 * paycrypto::dukpt_tdes::KSN_BYTES,
            Scheme::Aes128 | Scheme::Aes256 => 2 * paycrypto::dukpt_aes::KSN_BYTES,
        }
    }

    /// The transaction counter's rules: width, and the most one bits a device uses.
    pub fn counter_rule(self) -> CounterRule {
        match self {
            Scheme::Tdes => TDES_COUNTER_RULE,
            Scheme::Aes128 | Scheme::Aes256 => AES_COUNTER_RULE,
        }
    }

    /// BDK length in bytes.
    pub fn bdk_bytes(self) -> usize {
        match self {
            Scheme::Tdes | Scheme::Aes128 => 16,
            Scheme::Aes256 => 32,
        }
    }
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The profile's `key_id`: which device, under which BDK. TDES: the initial KSN (counter
/// bits zero); AES: the 8-byte initial key ID (BDK ID, then derivation ID).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyId {
    Tdes(Ksn),
    Aes(InitialKeyId),
}

impl KeyId {
    /// Parses 20 hex digits (TDES) or 16 (AES). A TDES KSN with counter bits set is
    /// refused: it names a transaction, not a device.
    pub fn parse(scheme: Scheme, hex: &str) -> Result<KeyId, TerminalError> {
        match scheme {
            Scheme::Tdes => {
                let ksn = Ksn::from_hex(hex).map_err(TerminalError::crypto("TDES initial KSN"))?;
                if ksn.counter() != 0 {
                    return Err(TerminalError::KeyIdCounter(hex.to_owned()));
                }
                Ok(KeyId::Tdes(ksn))
            }
            Scheme::Aes128 | Scheme::Aes256 => InitialKeyId::from_hex(hex)
                .map(KeyId::Aes)
                .map_err(TerminalError::crypto("AES DUKPT initial key id")),
        }
    }

    /// Upper-case hex, as the profile's `key_id`.
    pub fn to_hex(&self) -> String {
        match self {
            KeyId::Tdes(ksn) => hex::encode_upper(ksn.as_bytes()),
            KeyId::Aes(id) => hex::encode_upper(id.0),
        }
    }

    /// The KSN (hex) of this device's transaction `counter`, which must be one a device
    /// uses (non-zero, within the width and the one-bit limit).
    pub fn ksn_hex(&self, counter: u32) -> Result<String, TerminalError> {
        let invalid = || TerminalError::Crypto {
            what: "DUKPT counter",
            source: paycrypto::Error::InvalidCounter {
                counter: counter.into(),
            },
        };
        match self {
            KeyId::Tdes(ksn) => {
                if !TDES_COUNTER_RULE.is_usable(counter.into()) {
                    return Err(invalid());
                }
                let ksn = ksn
                    .with_counter(counter)
                    .map_err(TerminalError::crypto("TDES KSN"))?;
                Ok(hex::encode_upper(ksn.as_bytes()))
            }
            KeyId::Aes(id) => {
                if !AES_COUNTER_RULE.is_usable(counter.into()) {
                    return Err(invalid());
                }
                Ok(hex::encode_upper(AesKsn { id: *id, counter }.to_bytes()))
            }
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            KeyId::Tdes(_) => "TDES",
            KeyId::Aes(_) => "AES",
        }
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A base derivation key, for test tools that derive a device's initial key themselves
/// (a real terminal is loaded with its initial key and never sees the BDK). `Debug`
/// shows the length and check value only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bdk {
    Tdes(TdesKey),
    Aes(AesKey),
}

impl Bdk {
    /// Parses a BDK of the scheme's length: 32 hex digits (TDES, AES-128) or 64 (AES-256).
    pub fn from_hex(scheme: Scheme, hex: &str) -> Result<Bdk, TerminalError> {
        let bad_length = || TerminalError::Crypto {
            what: "BDK",
            source: paycrypto::Error::Length {
                what: "BDK",
                expected: "the scheme's key length",
                got: hex.len() / 2,
            },
        };
        if hex.len() != 2 * scheme.bdk_bytes() {
            return Err(bad_length());
        }
        match scheme {
            Scheme::Tdes => TdesKey::from_hex(hex).map(Bdk::Tdes),
            Scheme::Aes128 | Scheme::Aes256 => AesKey::from_hex(hex).map(Bdk::Aes),
        }
        .map_err(TerminalError::crypto("BDK"))
    }

    /// The scheme this BDK serves.
    pub fn scheme(&self) -> Scheme {
        match self {
            Bdk::Tdes(_) => Scheme::Tdes,
            Bdk::Aes(k) if k.len() == 32 => Scheme::Aes256,
            Bdk::Aes(_) => Scheme::Aes128,
        }
    }

    /// The key check value the key API reports (TDES: E(K, 0); AES: CMAC).
    pub fn kcv(&self) -> Kcv {
        match self {
            Bdk::Tdes(k) => k.kcv(),
            Bdk::Aes(k) => k.kcv(),
        }
    }

    pub(crate) fn mismatch(&self, key_id: &KeyId) -> TerminalError {
        TerminalError::SchemeMismatch {
            bdk: self.scheme().name(),
            key_id: key_id.kind(),
        }
    }
}
