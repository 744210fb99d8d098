//! The keystore: records by id, the KEK, typed accessors, and KEK rotation.
//!
//! It reads and returns (meta key, JSON value) pairs and never writes anything itself:
//! the host commits the returned writes in one batch through the store, like every other
//! durable change.

use std::collections::BTreeMap;
use std::fmt;

use paycrypto::{AesKey, HmacKey, Kcv, TdesKey};
use rand::CryptoRng;
use serde::{Deserialize, Serialize};

use crate::error::{KeystoreError, Result};
use crate::kek::Kek;
use crate::record::{self, Clear, KEY_META_PREFIX, KeyInfo, KeyRecord};
use crate::table::{Algorithm, Usage};

/// Most keys a keystore holds (a host has a handful of BDKs, zone keys and secrets).
pub const KEYS_MAX: usize = 1024;
/// Meta key recording the KCV of the KEK in use, so a start with another KEK is refused
/// even while no key is stored yet.
pub const KEK_KCV_META_KEY: &str = "keystore_kek_kcv";

/// Meta writes to commit: (meta key, JSON value).
pub type Writes = Vec<(String, String)>;

/// JSON value stored under [`KEK_KCV_META_KEY`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KekRecord {
    kcv: String,
}

/// Keys wrapped under the KEK, by id. `Debug` shows the KEK's KCV and the key count.
pub struct Keystore {
    pub(crate) kek: Kek,
    pub(crate) records: BTreeMap<String, KeyRecord>,
    /// Whether the store already holds [`KEK_KCV_META_KEY`] for this KEK.
    kek_recorded: bool,
}

impl fmt::Debug for Keystore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keystore")
            .field("kek", &self.kek)
            .field("keys", &self.records.len())
            .finish()
    }
}

impl Keystore {
    /// Opens the keystore from persisted meta pairs. Pairs under `key:<id>` are key
    /// records and [`KEK_KCV_META_KEY`] is the KEK's KCV; any other pair is ignored, so
    /// the caller may pass its whole meta table. Every record is unwrapped once here, so
    /// a wrong KEK or an altered record stops the start instead of a transaction.
    pub fn open(kek: Kek, pairs: impl IntoIterator<Item = (String, String)>) -> Result<Keystore> {
        let given = kek.kcv();
        let mut kek_recorded = false;
        let mut raw = Vec::new();
        for (meta_key, value) in pairs {
            if meta_key == KEK_KCV_META_KEY {
                let stored = parse_kek_record(&meta_key, &value)?;
                check_kek(&given, &stored)?;
                kek_recorded = true;
            } else if meta_key.starts_with(KEY_META_PREFIX) {
                if raw.len() >= KEYS_MAX {
                    return Err(KeystoreError::TooManyKeys { max: KEYS_MAX });
                }
                raw.push((meta_key, value));
            }
        }
        let mut records = BTreeMap::new();
        for (meta_key, value) in raw {
            let id = &meta_key[KEY_META_PREFIX.len()..];
            let record = parse_record(&meta_key, id, &value)?;
            if records.insert(id.to_owned(), record).is_some() {
                return Err(malformed(&meta_key, "the same id is stored twice"));
            }
        }
        // KEK first, for every record, so a wrong KEK is reported as such and not as
        // tampering of whichever record happened to come first.
        for record in records.values() {
            let stored = Kcv::from_hex(&record.kek_kcv)
                .map_err(|_| malformed(&record.meta_key(), "its kek_kcv is not 6 hex digits"))?;
            check_kek(&given, &stored)?;
        }
        for record in records.values() {
            record::unseal(&kek, record)?;
        }
        Ok(Keystore {
            kek,
            records,
            kek_recorded,
        })
    }

    /// The write recording this KEK's KCV, when the store does not hold it yet (a first
    /// start): commit it at start so a later start with another KEK is refused. Every
    /// batch this keystore returns carries it too.
    pub fn kek_kcv_write(&self) -> Option<(String, String)> {
        (!self.kek_recorded).then(|| kek_write(&self.kek))
    }

    /// The KEK's check value.
    pub fn kek_kcv(&self) -> Kcv {
        self.kek.kcv()
    }

    /// Every key's public info (check values only), by id.
    pub fn list(&self) -> Vec<KeyInfo> {
        self.records.values().map(KeyRecord::info).collect()
    }

    /// One key's public info.
    pub fn info(&self, id: &str) -> Option<KeyInfo> {
        self.records.get(id).map(KeyRecord::info)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// A TDES BDK.
    pub fn bdk_tdes(&self, id: &str) -> Result<TdesKey> {
        self.tdes(id, Usage::Bdk)
    }

    /// An AES BDK.
    pub fn bdk_aes(&self, id: &str) -> Result<AesKey> {
        self.aes(id, Usage::Bdk)
    }

    /// A TDES key of `usage`, unwrapped now. Another usage is
    /// [`KeystoreError::WrongUsage`].
    pub fn tdes(&self, id: &str, usage: Usage) -> Result<TdesKey> {
        match self.clear(id, usage, Algorithm::Tdes.as_str(), |a| {
            a == Algorithm::Tdes
        })? {
            Clear::Tdes(k) => Ok(k),
            _ => unreachable!("a TDES record unseals to a TDES key"),
        }
    }

    /// An AES key (any length) of `usage`, unwrapped now.
    pub fn aes(&self, id: &str, usage: Usage) -> Result<AesKey> {
        let is_aes = |a| matches!(a, Algorithm::Aes128 | Algorithm::Aes192 | Algorithm::Aes256);
        match self.clear(id, usage, "aes", is_aes)? {
            Clear::Aes(k) => Ok(k),
            _ => unreachable!("an AES record unseals to an AES key"),
        }
    }

    /// An HMAC key of `usage`, unwrapped now.
    pub fn hmac(&self, id: &str, usage: Usage) -> Result<HmacKey> {
        match self.clear(id, usage, Algorithm::Hmac.as_str(), |a| {
            a == Algorithm::Hmac
        })? {
            Clear::Hmac(k) => Ok(k),
            _ => unreachable!("an HMAC record unseals to an HMAC key"),
        }
    }

    /// The record of `id`.
    pub(crate) fn record(&self, id: &str) -> Result<&KeyRecord> {
        self.records
            .get(id)
            .ok_or_else(|| KeystoreError::NotFound { id: id.to_owned() })
    }

    /// Unwraps `id` after checking its usage and algorithm (before unwrapping: a refused
    /// request never brings the key into memory).
    pub(crate) fn clear(
        &self,
        id: &str,
        wanted: Usage,
        wanted_name: &'static str,
        algorithm_ok: impl Fn(Algorithm) -> bool,
    ) -> Result<Clear> {
        let record = self.record(id)?;
        if record.usage != wanted {
            return Err(KeystoreError::WrongUsage {
                id: id.to_owned(),
                stored: record.usage,
                wanted,
            });
        }
        if !algorithm_ok(record.algorithm) {
            return Err(KeystoreError::WrongAlgorithm {
                id: id.to_owned(),
                stored: record.algorithm,
                wanted: wanted_name,
            });
        }
        record::unseal(&self.kek, record)
    }

    /// Checks that `id` can name a new key.
    pub(crate) fn check_new_id(&self, id: &str) -> Result<()> {
        record::validate_id(id)?;
        if self.records.contains_key(id) {
            return Err(KeystoreError::DuplicateId { id: id.to_owned() });
        }
        if self.records.len() >= KEYS_MAX {
            return Err(KeystoreError::TooManyKeys { max: KEYS_MAX });
        }
        Ok(())
    }

    /// Seals a new key and adds it; returns its info and the writes to commit.
    pub(crate) fn insert(
        &mut self,
        id: &str,
        usage: Usage,
        key: &Clear,
        algorithm: Algorithm,
        rng: &mut impl CryptoRng,
        now_ms: i64,
    ) -> Result<(KeyInfo, Writes)> {
        let record = record::seal(&self.kek, id, usage, algorithm, key, now_ms, rng)?;
        let info = record.info();
        let writes = vec![record.write(), kek_write(&self.kek)];
        self.records.insert(id.to_owned(), record);
        self.kek_recorded = true;
        Ok((info, writes))
    }

    /// Re-wraps every key under `new`, leaving `self` untouched so the host keeps serving
    /// with it. Every record is unwrapped under the current KEK first; any failure
    /// returns before a single write exists.
    ///
    /// The caller must (1) make `new` durable where the next start will load it, keeping
    /// the old KEK too, (2) commit the returned writes in ONE atomic batch (they include
    /// [`KEK_KCV_META_KEY`]), (3) swap in the returned keystore, (4) retire the old KEK.
    /// A crash between (1) and (2) leaves the old records and either KEK opens the ones
    /// it wrapped; the KCV in the refusal message says which one is needed.
    pub fn rotate_kek(&self, new: Kek, rng: &mut impl CryptoRng) -> Result<(Keystore, Writes)> {
        if new.same_key(&self.kek) {
            return Err(KeystoreError::SameKek {
                kcv: self.kek.kcv().to_string(),
            });
        }
        let mut records = BTreeMap::new();
        for old in self.records.values() {
            let key = record::unseal(&self.kek, old)?;
            let sealed = record::seal(
                &new,
                &old.id,
                old.usage,
                old.algorithm,
                &key,
                old.created_ms,
                rng,
            )?;
            records.insert(old.id.clone(), sealed);
        }
        let mut writes: Writes = records.values().map(KeyRecord::write).collect();
        writes.push(kek_write(&new));
        let rotated = Keystore {
            kek: new,
            records,
            kek_recorded: true,
        };
        Ok((rotated, writes))
    }
}

fn kek_write(kek: &Kek) -> (String, String) {
    let value = KekRecord {
        kcv: kek.kcv().to_string(),
    };
    let json = serde_json::to_string(&value).expect("a KekRecord always serializes");
    (KEK_KCV_META_KEY.to_owned(), json)
}

fn check_kek(given: &Kcv, stored: &Kcv) -> Result<()> {
    if given == stored {
        return Ok(());
    }
    Err(KeystoreError::KekMismatch {
        given: given.to_string(),
        stored: stored.to_string(),
    })
}

fn malformed(meta_key: &str, reason: &str) -> KeystoreError {
    KeystoreError::RecordMalformed {
        meta_key: meta_key.chars().take(96).collect(),
        reason: reason.to_owned(),
    }
}

fn parse_kek_record(meta_key: &str, value: &str) -> Result<Kcv> {
    let rec: KekRecord =
        serde_json::from_str(value).map_err(|e| malformed(meta_key, &e.to_string()))?;
    Kcv::from_hex(&rec.kcv).map_err(|_| malformed(meta_key, "its kcv is not 6 hex digits"))
}

fn parse_record(meta_key: &str, id: &str, value: &str) -> Result<KeyRecord> {
    record::validate_id(id).map_err(|e| malformed(meta_key, &e.to_string()))?;
    let record: KeyRecord =
        serde_json::from_str(value).map_err(|e| malformed(meta_key, &e.to_string()))?;
    if record.id != id {
        return Err(malformed(meta_key, "its id differs from its meta key"));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    const KEK_A: &str = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F";
    const KEK_B: &str = "F0E1D2C3B4A5968778695A4B3C2D1E0FF0E1D2C3B4A5968778695A4B3C2D1E0F";

    /// `open` unwraps every record, so only memory corruption could hand `rotate_kek` a
    /// failing record; it must still refuse without producing writes.
    #[test]
    fn rotation_fails_whole_when_one_record_does_not_unwrap() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut store = Keystore::open(Kek::from_hex(KEK_A).unwrap(), Vec::new()).unwrap();
        for id in ["a", "b", "c"] {
            store
                .generate(id, Usage::Webhook, Algorithm::Hmac, &mut rng, 1)
                .unwrap();
        }
        store.records.get_mut("b").unwrap().created_ms = 2;
        let e = store
            .rotate_kek(Kek::from_hex(KEK_B).unwrap(), &mut rng)
            .unwrap_err();
        assert!(
            matches!(e, KeystoreError::RecordTampered { ref id, .. } if id == "b"),
            "{e}"
        );
    }
}
