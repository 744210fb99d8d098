//! The terminal security gate (issue 3, docs/terminal-security.md): before a request
//! reaches the engine, a terminal with a security profile must arrive on an allowed
//! transport, name a KSN of its own, and carry a MAC that verifies; its PIN block is
//! decrypted here and checked against the card's verification value. Responses to
//! DUKPT requests are MACed under the same KSN.
//!
//! Pure with respect to I/O: keys come from a [`KeySource`] (the keystore), profiles and
//! PIN records are handed in; the link records the events this returns.

pub mod events;
mod macing;
pub mod pin;
pub mod profile;

use crate::link::Transport;
use engine::PinCheck;
use events::EventKind;
use iso8583::Message;
use paycrypto::dukpt_aes::{self, AesKsn, AesTransactionKey, AesTransactionKeyCache, KeyType};
use paycrypto::dukpt_aes::{InitialKeyId, WorkingKey, WorkingKeyUsage};
use paycrypto::dukpt_tdes::{self, Ksn, TdesTransactionKey, TransactionKeyCache};
use paycrypto::mac::{Padding, aes_cmac, retail_mac, verify_truncated};
use paycrypto::pinblock::{self, PinBlock};
use paycrypto::{AesKey, KeyUsage, Pin, TdesKey};
use pin::{PinKeys, PinRecord};
use profile::{Dukpt, MacPolicy, Profile};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

pub use macing::{MAC_PLACEHOLDER, response_mac_field, stamp_response};

/// Field carrying the KSN (hex).
pub const KSN_FIELD: u8 = 62;
/// TDES PIN block (16 hex) and AES format-4 PIN block (32 hex).
pub const TDES_PIN_FIELD: u8 = 52;
pub const AES_PIN_FIELD: u8 = 110;
/// Key chains (about 200 bytes each) kept per (BDK, key id), one per terminal; when full
/// the cache is emptied and refilled on demand (a BDK unwrap and a full derivation per
/// terminal).
pub const KEY_CHAINS_CACHED_MAX: usize = 100_000;

/// Locks a mutex whose holder cannot leave it inconsistent (every critical section is a
/// lookup, an insert or one derivation that either completes or changes nothing).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where the gate gets BDKs and PIN verification keys: the keystore.
pub trait KeySource: Send + Sync {
    fn tdes_bdk(&self, id: &str) -> Option<TdesKey>;
    fn aes_bdk(&self, id: &str) -> Option<AesKey>;
    /// A zone PIN key (usage `zone_pin`): PIN blocks between hosts.
    fn zone_pin(&self, id: &str) -> Option<TdesKey>;
}

/// A terminal's derivation state: its initial key and the chain of keys of its last
/// counter, so its next (usually consecutive) counter costs one derivation step.
enum KeyChain {
    Tdes(TransactionKeyCache),
    Aes(Box<AesTransactionKeyCache>),
}

type SharedChain = Arc<Mutex<KeyChain>>;

/// A refused request: why (and so the answer's field 39), and the KSN it sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub kind: EventKind,
    pub ksn: Option<String>,
}

fn refuse<T>(kind: EventKind, ksn: Option<&str>) -> Result<T, Refusal> {
    Err(Refusal {
        kind,
        ksn: ksn.map(str::to_owned),
    })
}

/// What a request that passed the gate carries on: the transaction key for its PIN
/// and its response's MAC.
pub enum Session {
    Plain,
    Tdes(TdesTransactionKey),
    Aes(AesTransactionKey, KeyType),
    /// A host-to-host link (an acquirer forwarding to posguard as issuer): PIN blocks
    /// under a shared zone PIN key, ISO format 0 (no MAC).
    Zone(TdesKey),
}

pub struct Security {
    profiles: RwLock<HashMap<String, Arc<Profile>>>,
    pins: RwLock<HashMap<String, PinRecord>>,
    pin_keys: PinKeys,
    keys: Arc<dyn KeySource>,
    chains: Mutex<HashMap<(String, String), SharedChain>>,
    event_seq: std::sync::atomic::AtomicU64,
}

impl Security {
    pub fn new(keys: Arc<dyn KeySource>, pin_keys: PinKeys) -> Security {
        Security {
            profiles: RwLock::default(),
            pins: RwLock::default(),
            pin_keys,
            keys,
            chains: Mutex::default(),
            event_seq: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// A number that orders security events recorded in the same millisecond.
    pub fn next_event_seq(&self) -> u64 {
        self.event_seq
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    pub fn set_profile(&self, terminal: &str, profile: Profile) {
        let mut profiles = self.profiles.write().unwrap_or_else(|e| e.into_inner());
        profiles.insert(terminal.to_owned(), Arc::new(profile));
    }

    pub fn profile(&self, terminal: &str) -> Option<Arc<Profile>> {
        let profiles = self.profiles.read().unwrap_or_else(|e| e.into_inner());
        profiles.get(terminal).cloned()
    }

    pub fn set_pin(&self, token: &str, record: PinRecord) {
        let mut pins = self.pins.write().unwrap_or_else(|e| e.into_inner());
        pins.insert(token.to_owned(), record);
    }

    pub fn pin_keys(&self) -> &PinKeys {
        &self.pin_keys
    }

    /// The gate: admits `msg` (arrived over `transport`) with its session, or refuses it.
    pub fn check(&self, msg: &Message<'_>, transport: &Transport) -> Result<Session, Refusal> {
        let Some(terminal) = msg.field_str(41) else {
            return Ok(Session::Plain);
        };
        let terminal = terminal.trim_end();
        let Some(profile) = self.profile(terminal) else {
            return Ok(Session::Plain);
        };
        if !profile.admits(transport, terminal) {
            return refuse(EventKind::TransportRefused, None);
        }
        // A UnionPay terminal's generic message (on an auto listener) is not its own.
        if !profile.speaks(profile::Dialect::Generic) {
            return refuse(EventKind::DialectRefused, None);
        }
        let Some(dukpt) = profile.dukpt else {
            return match &profile.pin_key {
                None => Ok(Session::Plain),
                Some(id) => match self.keys.zone_pin(id) {
                    Some(zpk) => Ok(Session::Zone(zpk)),
                    None => refuse(EventKind::KeyUnavailable, None),
                },
            };
        };
        let ksn_text = msg.field_str(KSN_FIELD);
        let ksn = ksn_text.as_deref();
        let session = self.session(&profile, dukpt, ksn)?;
        match macing::request_mac(msg) {
            Ok((mac, data)) => {
                if !session.verify_request_mac(data, &mac) {
                    return refuse(EventKind::MacInvalid, ksn);
                }
            }
            Err(macing::MacShape::Absent) if profile.mac != MacPolicy::Required => {}
            Err(macing::MacShape::Absent) => return refuse(EventKind::MacMissing, ksn),
            Err(macing::MacShape::Malformed) => return refuse(EventKind::MacInvalid, ksn),
        }
        Ok(session)
    }

    /// The transaction key of the KSN a DUKPT terminal sent, after checking the KSN is
    /// one of its own.
    fn session(
        &self,
        profile: &Profile,
        dukpt: Dukpt,
        ksn: Option<&str>,
    ) -> Result<Session, Refusal> {
        let key_id = profile.key_id.as_deref().unwrap_or_default();
        let bdk = profile.bdk.as_deref().unwrap_or_default();
        let Some(text) = ksn else {
            return refuse(EventKind::KsnMissing, None);
        };
        match dukpt {
            Dukpt::Tdes => {
                let Ok(ksn) = Ksn::from_hex(text) else {
                    return refuse(EventKind::KsnMissing, Some(text));
                };
                let base = ksn.with_counter(0).map(|k| hex::encode_upper(k.as_bytes()));
                if !base.is_ok_and(|b| b.eq_ignore_ascii_case(key_id)) {
                    return refuse(EventKind::KsnKeyIdMismatch, Some(text));
                }
                let Some(chain) = self.chain(dukpt, bdk, key_id) else {
                    return refuse(EventKind::KeyUnavailable, Some(text));
                };
                let derived = match &mut *lock(&chain) {
                    KeyChain::Tdes(cache) => cache.derive(&ksn),
                    KeyChain::Aes(_) => return refuse(EventKind::KeyUnavailable, Some(text)),
                };
                match derived {
                    Ok(key) => Ok(Session::Tdes(key)),
                    Err(_) => refuse(EventKind::KsnCounterInvalid, Some(text)),
                }
            }
            Dukpt::Aes128 | Dukpt::Aes256 => {
                let Ok(ksn) = AesKsn::from_hex(text) else {
                    return refuse(EventKind::KsnMissing, Some(text));
                };
                if !hex::encode_upper(ksn.id.0).eq_ignore_ascii_case(key_id) {
                    return refuse(EventKind::KsnKeyIdMismatch, Some(text));
                }
                let Some(chain) = self.chain(dukpt, bdk, key_id) else {
                    return refuse(EventKind::KeyUnavailable, Some(text));
                };
                let key_type = if dukpt == Dukpt::Aes128 {
                    KeyType::Aes128
                } else {
                    KeyType::Aes256
                };
                let derived = match &mut *lock(&chain) {
                    KeyChain::Aes(cache) => cache.derive(&ksn),
                    KeyChain::Tdes(_) => return refuse(EventKind::KeyUnavailable, Some(text)),
                };
                match derived {
                    Ok(key) => Ok(Session::Aes(key, key_type)),
                    Err(_) => refuse(EventKind::KsnCounterInvalid, Some(text)),
                }
            }
        }
    }

    /// The key chain of (BDK, key id), made from the BDK on first use.
    fn chain(&self, dukpt: Dukpt, bdk: &str, key_id: &str) -> Option<SharedChain> {
        let slot = (bdk.to_owned(), key_id.to_ascii_uppercase());
        if let Some(found) = lock(&self.chains).get(&slot) {
            return Some(found.clone());
        }
        let made = match dukpt {
            Dukpt::Tdes => {
                let bdk = self.keys.tdes_bdk(bdk)?;
                let ksn = Ksn::from_hex(key_id).ok()?;
                let ipek = dukpt_tdes::derive_ipek(&bdk, &ksn).ok()?;
                KeyChain::Tdes(TransactionKeyCache::new(&ipek, &ksn))
            }
            Dukpt::Aes128 | Dukpt::Aes256 => {
                let bdk = self.keys.aes_bdk(bdk)?;
                let wanted = if dukpt == Dukpt::Aes128 { 16 } else { 32 };
                if bdk.len() != wanted {
                    tracing::warn!(bdk = %slot.0, "a terminal's AES BDK has the wrong length");
                    return None;
                }
                let id = InitialKeyId::from_hex(key_id).ok()?;
                let ik = dukpt_aes::derive_initial_key(&bdk, &id);
                KeyChain::Aes(Box::new(AesTransactionKeyCache::new(&ik, id)))
            }
        };
        let made = Arc::new(Mutex::new(made));
        let mut chains = lock(&self.chains);
        if chains.len() >= KEY_CHAINS_CACHED_MAX {
            chains.clear();
        }
        Some(chains.entry(slot).or_insert(made).clone())
    }

    /// Checks the PIN the request carries (if any) for the card `token` with clear PAN
    /// `pan` (both in the caller's hands only while the message is parsed).
    pub fn pin_check(
        &self,
        session: &Session,
        msg: &Message<'_>,
        pan: &str,
        token: &str,
    ) -> PinCheck {
        // Most requests carry no PIN: answer that before parsing anything.
        if !session.carries_pin(msg) {
            return PinCheck::NotPresent;
        }
        let Ok(pan) = paycrypto::Pan::new(pan) else {
            return PinCheck::Malformed;
        };
        let pin = match session.decrypt_pin(msg, &pan) {
            None => return PinCheck::NotPresent,
            Some(Err(())) => return PinCheck::Malformed,
            Some(Ok(pin)) => pin,
        };
        let pins = self.pins.read().unwrap_or_else(|e| e.into_inner());
        pin::verify(&self.pin_keys, pins.get(token), &pan, &pin)
    }

    /// Checks a PIN another dialect already decrypted (UnionPay: format 0 under the
    /// session PIK) against the card's verification value.
    pub fn verify_pin(&self, token: &str, pan: &paycrypto::Pan, pin: &Pin) -> PinCheck {
        let pins = self.pins.read().unwrap_or_else(|e| e.into_inner());
        pin::verify(&self.pin_keys, pins.get(token), pan, pin)
    }

    /// The request's PIN re-encrypted under `zpk` as an ISO format 0 block (16 hex),
    /// for the upstream issuer: None when the request has no PIN, `Err` when its block
    /// does not decrypt.
    pub fn translate_pin(
        &self,
        session: &Session,
        msg: &Message<'_>,
        pan: &str,
        zpk: &TdesKey,
    ) -> Option<Result<String, ()>> {
        if !session.carries_pin(msg) {
            return None;
        }
        let Ok(pan) = paycrypto::Pan::new(pan) else {
            return Some(Err(()));
        };
        let pin = match session.decrypt_pin(msg, &pan)? {
            Ok(pin) => pin,
            Err(()) => return Some(Err(())),
        };
        Some(
            pinblock::encrypt_format0(zpk, &pin, &pan)
                .map(hex::encode_upper)
                .map_err(|_| ()),
        )
    }
}

impl Session {
    fn verify_request_mac(&self, data: &[u8], mac: &[u8; macing::MAC_BYTES]) -> bool {
        let computed = match self {
            Session::Plain | Session::Zone(_) => return false,
            Session::Tdes(key) => {
                let bound = key.mac_request_key();
                let Ok(k) = bound.require(KeyUsage::Mac) else {
                    return false;
                };
                retail_mac(k, data, Padding::Method1).to_vec()
            }
            Session::Aes(key, key_type) => {
                let usage = (WorkingKeyUsage::MacGenerate, KeyUsage::MacGenerate);
                let Some(k) = aes_working_key(key, usage, *key_type) else {
                    return false;
                };
                aes_cmac(&k, data).to_vec()
            }
        };
        verify_truncated(&computed, mac).is_ok()
    }

    /// The response MAC over `data`, or None for a plain session.
    pub fn response_mac(&self, data: &[u8]) -> Option<[u8; macing::MAC_BYTES]> {
        let mut out = [0u8; macing::MAC_BYTES];
        match self {
            Session::Plain | Session::Zone(_) => return None,
            Session::Tdes(key) => {
                let bound = key.mac_response_key();
                out = retail_mac(bound.require(KeyUsage::Mac).ok()?, data, Padding::Method1);
            }
            Session::Aes(key, key_type) => {
                let usage = (WorkingKeyUsage::MacVerify, KeyUsage::MacVerify);
                let k = aes_working_key(key, usage, *key_type)?;
                out.copy_from_slice(&aes_cmac(&k, data)[..macing::MAC_BYTES]);
            }
        }
        Some(out)
    }

    /// Whether the request carries a PIN block this session could decrypt.
    pub fn carries_pin(&self, msg: &Message<'_>) -> bool {
        match self {
            Session::Plain => false,
            Session::Tdes(_) | Session::Zone(_) => msg.has(TDES_PIN_FIELD),
            Session::Aes(..) => msg.has(AES_PIN_FIELD),
        }
    }

    /// Whether the session's answers carry a MAC (DUKPT terminals).
    pub fn is_dukpt(&self) -> bool {
        matches!(self, Session::Tdes(_) | Session::Aes(..))
    }

    /// The clear PIN of the request's PIN block: None when there is none (or the session
    /// has no PIN key), `Err` when it does not decrypt to a valid block.
    fn decrypt_pin(&self, msg: &Message<'_>, pan: &paycrypto::Pan) -> Option<Result<Pin, ()>> {
        match self {
            Session::Plain => None,
            Session::Tdes(key) => {
                let bound = key.pin_key();
                let k = bound.require(KeyUsage::PinEncryption).ok()?;
                decrypt_tdes_block(k, msg.field(TDES_PIN_FIELD)?, pan)
            }
            Session::Zone(zpk) => decrypt_tdes_block(zpk, msg.field(TDES_PIN_FIELD)?, pan),
            Session::Aes(key, key_type) => {
                let text = msg.field(AES_PIN_FIELD)?;
                let mut encrypted = [0u8; 16];
                if hex::decode_to_slice(text, &mut encrypted).is_err() {
                    return Some(Err(()));
                }
                let usage = (WorkingKeyUsage::PinEncryption, KeyUsage::PinEncryption);
                let k = aes_working_key(key, usage, *key_type)?;
                Some(pinblock::decipher_format4(&k, &encrypted, pan).map_err(|_| ()))
            }
        }
    }
}

/// A TDES PIN block (16 hex) decrypted and decoded (formats 0, 1 and 3).
fn decrypt_tdes_block(key: &TdesKey, text: &[u8], pan: &paycrypto::Pan) -> Option<Result<Pin, ()>> {
    let mut encrypted = [0u8; 8];
    if hex::decode_to_slice(text, &mut encrypted).is_err() {
        return Some(Err(()));
    }
    let block = PinBlock::decrypt(key, &encrypted);
    let pin = match block.format() {
        0 => pinblock::decode_format0(&block, pan),
        1 => pinblock::decode_format1(&block),
        3 => pinblock::decode_format3(&block, pan),
        _ => return Some(Err(())),
    };
    Some(pin.map_err(|_| ()))
}

/// An AES working key of the transaction key, checked to carry the usage it was
/// derived for.
fn aes_working_key(
    key: &AesTransactionKey,
    (derive, bound_to): (WorkingKeyUsage, KeyUsage),
    key_type: KeyType,
) -> Option<AesKey> {
    match key.working_key(derive, key_type).ok()? {
        WorkingKey::Aes(bound) => bound.require(bound_to).ok().cloned(),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
