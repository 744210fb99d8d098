//! The vault (issue 3, parts 5 and 6): what posguard must be able to read back in clear,
//! sealed with AES-256-GCM under a data-encryption key from the keystore. Every sealed
//! value names its key (`v1.<key number>.<nonce>.<ciphertext>`), so keys rotate without
//! re-encrypting at once, and is bound (GCM associated data) to what it belongs to, so a
//! ciphertext cannot be moved to another card or merchant.
//!
//! Uses: the PAN of a card routed upstream (a later reversal or advice may need field
//! 2: `vault:<card token>`), and merchants' personal data (identity document, licence,
//! bank account: `merchant_pii:<merchant id>`).

use crate::keyring::Keyring;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use keystore::{Algorithm, KeystoreError, Usage, Writes};
use rand::RngCore;
use std::collections::BTreeMap;
use std::sync::RwLock;
use zeroize::Zeroizing;

/// Keystore ids of vault keys: `host-vault-1`, `host-vault-2`, ...
pub const VAULT_KEY_PREFIX: &str = "host-vault-";
/// Meta key prefix of a vaulted PAN (`vault:<card token>`).
pub const PAN_META_PREFIX: &str = "vault:";
/// Meta key prefix of a merchant's sealed personal data (`merchant_pii:<merchant id>`).
pub const PII_META_PREFIX: &str = "merchant_pii:";
const NONCE_BYTES: usize = 12;
const FORMAT: &str = "v1";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("the sealed value is malformed")]
    Malformed,
    #[error("the sealed value names vault key {0}, which the keystore does not hold")]
    UnknownKey(u32),
    #[error("the sealed value does not open (altered, or bound to something else)")]
    Tampered,
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
}

pub struct Vault {
    keys: RwLock<BTreeMap<u32, Aes256Gcm>>,
    /// Card tokens whose PAN is in the vault (so a card is sealed once).
    vaulted: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(<redacted>)")
    }
}

/// The AES-256-GCM cipher of vault key `id`, unwrapped from the keystore.
fn cipher(keyring: &Keyring, id: &str) -> Result<Aes256Gcm, VaultError> {
    let key = keyring.read().aes(id, Usage::DataEncryption)?;
    Aes256Gcm::new_from_slice(key.expose_bytes()).map_err(|_| VaultError::Malformed)
}

fn key_number(id: &str) -> Option<u32> {
    id.strip_prefix(VAULT_KEY_PREFIX)?.parse().ok()
}

impl Vault {
    /// The vault keys in the keystore; makes the first one on first start (its writes
    /// are returned for the caller to commit).
    pub fn open(keyring: &Keyring, now_ms: i64) -> Result<(Vault, Writes), VaultError> {
        let mut writes = Writes::new();
        let ids: Vec<String> = keyring
            .read()
            .list()
            .into_iter()
            .filter(|k| key_number(&k.id).is_some())
            .map(|k| k.id)
            .collect();
        let ids = if ids.is_empty() {
            let id = format!("{VAULT_KEY_PREFIX}1");
            let (_, w) = keyring.write().generate(
                &id,
                Usage::DataEncryption,
                Algorithm::Aes256,
                &mut rand::rng(),
                now_ms,
            )?;
            writes.extend(w);
            vec![id]
        } else {
            ids
        };
        let mut keys = BTreeMap::new();
        for id in ids {
            keys.insert(key_number(&id).unwrap_or_default(), cipher(keyring, &id)?);
        }
        Ok((
            Vault {
                keys: RwLock::new(keys),
                vaulted: Default::default(),
            },
            writes,
        ))
    }

    fn keys(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<u32, Aes256Gcm>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The number of the key new values are sealed under (the newest).
    pub fn current(&self) -> u32 {
        self.keys().keys().next_back().copied().unwrap_or_default()
    }

    /// Seals `clear`, bound to `binding` (e.g. `pan:<token>`).
    pub fn seal(&self, binding: &str, clear: &[u8]) -> String {
        let keys = self.keys();
        let (number, cipher) = keys
            .iter()
            .next_back()
            .expect("the vault always holds a key");
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: clear,
            aad: binding.as_bytes(),
        };
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .expect("AES-GCM seals any message under 64 GiB");
        format!(
            "{FORMAT}.{number}.{}.{}",
            hex::encode(nonce),
            hex::encode(sealed)
        )
    }

    /// Opens a sealed value bound to `binding`.
    pub fn open_sealed(
        &self,
        binding: &str,
        sealed: &str,
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let mut parts = sealed.split('.');
        let (Some(FORMAT), Some(number), Some(nonce), Some(body), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(VaultError::Malformed);
        };
        let number: u32 = number.parse().map_err(|_| VaultError::Malformed)?;
        let nonce = hex::decode(nonce).map_err(|_| VaultError::Malformed)?;
        let body = hex::decode(body).map_err(|_| VaultError::Malformed)?;
        if nonce.len() != NONCE_BYTES {
            return Err(VaultError::Malformed);
        }
        let keys = self.keys();
        let cipher = keys.get(&number).ok_or(VaultError::UnknownKey(number))?;
        let payload = Payload {
            msg: &body,
            aad: binding.as_bytes(),
        };
        cipher
            .decrypt(Nonce::from_slice(&nonce), payload)
            .map(Zeroizing::new)
            .map_err(|_| VaultError::Tampered)
    }

    /// Records that `token`'s PAN is in the vault; false when it already was.
    pub fn mark_vaulted(&self, token: &str) -> bool {
        let mut vaulted = self.vaulted.lock().unwrap_or_else(|e| e.into_inner());
        vaulted.insert(token.to_owned())
    }

    /// Forgets that `token` was vaulted (its write did not commit).
    pub fn unmark_vaulted(&self, token: &str) {
        let mut vaulted = self.vaulted.lock().unwrap_or_else(|e| e.into_inner());
        vaulted.remove(token);
    }

    /// Whether a sealed value is under an older key than the current one.
    pub fn is_stale(&self, sealed: &str) -> bool {
        let number = sealed.split('.').nth(1).and_then(|n| n.parse::<u32>().ok());
        number != Some(self.current())
    }

    /// Makes a new vault key the current one; returns its number and the keystore
    /// writes (commit them before sealing anything under it).
    pub fn rotate(&self, keyring: &Keyring, now_ms: i64) -> Result<(u32, Writes), VaultError> {
        let next = self.current() + 1;
        let id = format!("{VAULT_KEY_PREFIX}{next}");
        let (_, writes) = keyring.write().generate(
            &id,
            Usage::DataEncryption,
            Algorithm::Aes256,
            &mut rand::rng(),
            now_ms,
        )?;
        let cipher = cipher(keyring, &id)?;
        self.keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(next, cipher);
        Ok((next, writes))
    }
}

/// The PAN vaulted for `token`, read back from the store (blocking: call it off the
/// async workers). None when the card was never vaulted or its value does not open
/// (logged).
pub fn recover_pan(
    store: &dyn store::Store,
    vault: &Vault,
    token: &str,
) -> Option<Zeroizing<String>> {
    let sealed = match store.meta_get(&format!("{PAN_META_PREFIX}{token}")) {
        Ok(sealed) => sealed?,
        Err(e) => {
            tracing::warn!(error = %e, "read a vaulted PAN");
            return None;
        }
    };
    match vault.open_sealed(&pan_binding(token), &sealed) {
        Ok(clear) => String::from_utf8(clear.to_vec()).ok().map(Zeroizing::new),
        Err(e) => {
            tracing::error!(error = %e, "open a vaulted PAN");
            None
        }
    }
}

/// The binding of a vaulted PAN.
pub fn pan_binding(token: &str) -> String {
    format!("pan:{token}")
}

/// The binding of one personal-data field of a merchant.
pub fn pii_binding(merchant: &str, field: &str) -> String {
    format!("merchant:{merchant}:{field}")
}

/// The masked form shown for personal data: the last 4 characters (the first 2 too
/// when at least 10 long), the rest as `*`.
pub fn mask(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let head = if n >= 10 { 2 } else { 0 };
    let tail = if n > 4 { 4 } else { n / 2 };
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < head || i >= n - tail { *c } else { '*' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault() -> Vault {
        let mut keys = BTreeMap::new();
        keys.insert(1, Aes256Gcm::new_from_slice(&[3u8; 32]).unwrap());
        Vault {
            keys: RwLock::new(keys),
            vaulted: Default::default(),
        }
    }

    #[test]
    fn sealed_values_open_only_under_their_binding_and_unaltered() {
        let v = vault();
        let sealed = v.seal("pan:abc", b"4761739001010010");
        assert!(!sealed.contains("4761739001010010"));
        assert_eq!(
            &v.open_sealed("pan:abc", &sealed).unwrap()[..],
            b"4761739001010010"
        );
        assert!(matches!(
            v.open_sealed("pan:abd", &sealed),
            Err(VaultError::Tampered)
        ));
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'0' { b'1' } else { b'0' };
        let altered = String::from_utf8(altered).unwrap();
        assert!(matches!(
            v.open_sealed("pan:abc", &altered),
            Err(VaultError::Tampered)
        ));
        for bad in [
            "",
            "v1.1.00.00",
            "v2.1.aa.bb",
            "v1.x.aa.bb",
            "v1.1.zz.bb.cc",
        ] {
            assert!(v.open_sealed("pan:abc", bad).is_err(), "{bad}");
        }
        assert!(matches!(
            v.open_sealed("pan:abc", &sealed.replacen("v1.1.", "v1.9.", 1)),
            Err(VaultError::UnknownKey(9))
        ));
        assert_ne!(
            v.seal("pan:abc", b"x"),
            v.seal("pan:abc", b"x"),
            "fresh nonces"
        );
        assert!(!v.is_stale(&sealed));
        assert_eq!(format!("{v:?}"), "Vault(<redacted>)");
    }

    #[test]
    fn masks_keep_only_the_ends() {
        assert_eq!(mask("110101199003077777"), "11************7777");
        assert_eq!(mask("6222021234"), "62****1234");
        assert_eq!(mask("12345"), "*2345");
        assert_eq!(mask("1234"), "**34");
        assert_eq!(mask(""), "");
    }
}
