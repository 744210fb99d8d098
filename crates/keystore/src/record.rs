//! A stored key: the JSON record persisted under `key:<id>`, and how it is sealed under
//! the KEK and checked when opened.
//!
//! Every field of a record is either inside the authenticated TR-31 header (usage,
//! algorithm, id, creation time) or recomputed from the unwrapped key (its KCV) or
//! checked by the unwrap itself (which KEK). Editing any of them, or moving a block to
//! another record, makes the record fail its integrity check.

use paycrypto::tr31::{self, Header, Kbpk, OptionalBlock, Version};
use paycrypto::{AesKey, HmacKey, Kcv, TdesKey};
use rand::CryptoRng;
use serde::{Deserialize, Serialize};

use crate::error::{KeystoreError, Result};
use crate::kek::Kek;
use crate::table::{Algorithm, Usage};

/// Longest key id.
pub const KEY_ID_CHARS_MAX: usize = 64;
/// Meta key prefix of stored records: `key:<id>`.
pub const KEY_META_PREFIX: &str = "key:";

/// Proprietary TR-31 optional blocks (ids starting with a digit are reserved for
/// proprietary use) that bind a stored block to its record.
const OPT_USAGE: &str = "0U";
const OPT_ID: &str = "0I";
const OPT_CREATED: &str = "0T";

/// The persisted form of a key. Never holds the clear key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    pub id: String,
    pub usage: Usage,
    pub algorithm: Algorithm,
    /// Key check value, 6 hex digits.
    pub kcv: String,
    /// TR-31 version D key block under the KEK.
    pub block: String,
    /// KCV of the KEK that wrapped `block`.
    pub kek_kcv: String,
    pub created_ms: i64,
}

/// What may be shown about a key: check values only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    pub id: String,
    pub usage: Usage,
    pub algorithm: Algorithm,
    pub kcv: String,
    pub created_ms: i64,
}

impl KeyRecord {
    /// The public part of the record.
    pub fn info(&self) -> KeyInfo {
        KeyInfo {
            id: self.id.clone(),
            usage: self.usage,
            algorithm: self.algorithm,
            kcv: self.kcv.clone(),
            created_ms: self.created_ms,
        }
    }

    /// The meta key this record is persisted under.
    pub fn meta_key(&self) -> String {
        format!("{KEY_META_PREFIX}{}", self.id)
    }

    /// The (meta key, JSON value) write that persists this record.
    pub(crate) fn write(&self) -> (String, String) {
        let json = serde_json::to_string(self).expect("a KeyRecord always serializes");
        (self.meta_key(), json)
    }
}

/// Checks a key id: 1 to [`KEY_ID_CHARS_MAX`] characters of `[A-Za-z0-9._-]`.
pub fn validate_id(id: &str) -> Result<()> {
    let reason = if id.is_empty() {
        "it is empty"
    } else if id.len() > KEY_ID_CHARS_MAX {
        "it is longer than 64 characters"
    } else if !id
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
    {
        "only letters, digits, '.', '_' and '-' are allowed"
    } else {
        return Ok(());
    };
    Err(KeystoreError::InvalidId {
        id: id.chars().take(KEY_ID_CHARS_MAX + 16).collect(),
        reason,
    })
}

/// A clear key inside the keystore, in its zeroizing paycrypto type.
pub(crate) enum Clear {
    Tdes(TdesKey),
    Aes(AesKey),
    Hmac(HmacKey),
}

impl Clear {
    /// Builds the key of `algorithm` from bytes; `None` when the length does not fit.
    pub(crate) fn from_bytes(algorithm: Algorithm, bytes: &[u8]) -> Option<Clear> {
        if !algorithm.fits(bytes.len()) {
            return None;
        }
        match algorithm {
            Algorithm::Tdes => TdesKey::from_bytes(bytes).ok().map(Clear::Tdes),
            Algorithm::Aes128 | Algorithm::Aes192 | Algorithm::Aes256 => {
                AesKey::from_bytes(bytes).ok().map(Clear::Aes)
            }
            Algorithm::Hmac => HmacKey::from_bytes(bytes).ok().map(Clear::Hmac),
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Clear::Tdes(k) => k.expose_bytes(),
            Clear::Aes(k) => k.expose_bytes(),
            Clear::Hmac(k) => k.expose_bytes(),
        }
    }

    pub(crate) fn kcv(&self) -> Kcv {
        match self {
            Clear::Tdes(k) => k.kcv(),
            Clear::Aes(k) => k.kcv(),
            Clear::Hmac(k) => k.kcv(),
        }
    }
}

/// The header a record's block must carry.
fn header_for(id: &str, usage: Usage, algorithm: Algorithm, created_ms: i64) -> Header {
    let (key_usage, mode) = usage.tr31();
    let mut header = Header::new(Version::D, key_usage, algorithm.tr31(), mode);
    let block = |id: &str, data: String| OptionalBlock {
        id: id.to_owned(),
        data,
    };
    header.optional_blocks = vec![
        block(OPT_USAGE, usage.as_str().to_owned()),
        block(OPT_ID, id.to_owned()),
        block(OPT_CREATED, created_ms.to_string()),
    ];
    header
}

/// Wraps `key` under `kek` into a record. The caller has checked that `usage` takes
/// `algorithm` and that `key` is of `algorithm`.
pub(crate) fn seal(
    kek: &Kek,
    id: &str,
    usage: Usage,
    algorithm: Algorithm,
    key: &Clear,
    created_ms: i64,
    rng: &mut impl CryptoRng,
) -> Result<KeyRecord> {
    // Callers check both before building the key; a miss here is a bug, not bad input.
    assert!(usage.takes(algorithm) && algorithm.fits(key.bytes().len()));
    let header = header_for(id, usage, algorithm, created_ms);
    let block = tr31::wrap(Kbpk::Aes(kek.aes()), &header, key.bytes(), None, rng)?;
    Ok(KeyRecord {
        id: id.to_owned(),
        usage,
        algorithm,
        kcv: key.kcv().to_string(),
        block,
        kek_kcv: kek.kcv().to_string(),
        created_ms,
    })
}

/// Unwraps a record under `kek` and checks every field against the block. The caller
/// has already compared `kek_kcv` (for the clearer mismatch message).
pub(crate) fn unseal(kek: &Kek, record: &KeyRecord) -> Result<Clear> {
    let tampered = |reason: &str| KeystoreError::RecordTampered {
        id: record.id.clone(),
        reason: reason.to_owned(),
    };
    let unwrapped = tr31::unwrap(Kbpk::Aes(kek.aes()), &record.block)
        .map_err(|e| tampered(&format!("its key block does not unwrap: {e}")))?;
    let expected = header_for(
        &record.id,
        record.usage,
        record.algorithm,
        record.created_ms,
    );
    if unwrapped.header != expected {
        return Err(tampered(
            "its usage, algorithm, id or creation time differs from its key block",
        ));
    }
    let key = Clear::from_bytes(record.algorithm, unwrapped.expose_bytes())
        .ok_or_else(|| tampered("its key length does not fit its algorithm"))?;
    let stored = Kcv::from_hex(&record.kcv).map_err(|_| tampered("its check value is not hex"))?;
    if !key.kcv().ct_matches(&stored) {
        return Err(tampered("its check value differs from its key"));
    }
    Ok(key)
}
