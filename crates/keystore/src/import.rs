//! How keys enter the keystore: clear components (split knowledge), TR-31 blocks under a
//! stored KBPK, host generation, and adoption of a host secret that predates the
//! keystore. Each returns the key's public info and the writes to commit.

use paycrypto::tr31::{self, Kbpk};
use paycrypto::{AesKey, HmacKey, Kcv, TdesKey, components};
use rand::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{KeystoreError, Result};
use crate::keystore::{Keystore, Writes};
use crate::record::{Clear, KeyInfo};
use crate::table::{Algorithm, Usage};

impl Keystore {
    /// Combines 2 or 3 clear components (hex), each checked against the KCV typed with
    /// it (constant time), by XOR. The combined key's KCV is in the returned info for
    /// the custodians to compare with their mailers.
    pub fn import_components<S: AsRef<str>>(
        &mut self,
        id: &str,
        usage: Usage,
        algorithm: Algorithm,
        parts: &[(S, S)],
        rng: &mut impl CryptoRng,
        now_ms: i64,
    ) -> Result<(KeyInfo, Writes)> {
        self.check_new_id(id)?;
        check_takes(usage, algorithm)?;
        if algorithm == Algorithm::Hmac {
            return Err(KeystoreError::NotPermitted {
                what: "HMAC keys are made by the host, not entered as components",
            });
        }
        if !(components::COMPONENTS_MIN..=components::COMPONENTS_MAX).contains(&parts.len()) {
            return Err(KeystoreError::ComponentCount { got: parts.len() });
        }
        let key = match algorithm {
            Algorithm::Tdes => {
                let parts = parse_parts(parts, algorithm, |t| TdesKey::from_hex(t).ok())?;
                Clear::Tdes(components::combine_tdes(&parts, None)?)
            }
            Algorithm::Aes128 | Algorithm::Aes192 | Algorithm::Aes256 => {
                let parts = parse_parts(parts, algorithm, |t| AesKey::from_hex(t).ok())?;
                Clear::Aes(components::combine_aes(&parts, None)?)
            }
            Algorithm::Hmac => unreachable!("refused above"),
        };
        refuse_weak(&key)?;
        self.insert(id, usage, &key, algorithm, rng, now_ms)
    }

    /// Unwraps a TR-31 block (version B under a TDES KBPK, D under an AES one) with the
    /// stored KBPK `kbpk_id`. Usage and algorithm come from the block's authenticated
    /// header; the key is then stored under posguard's own header for that usage (the
    /// block's mode of use, version number and exportability are not carried over:
    /// posguard never exports keys).
    pub fn import_tr31(
        &mut self,
        id: &str,
        block: &str,
        kbpk_id: &str,
        rng: &mut impl CryptoRng,
        now_ms: i64,
    ) -> Result<(KeyInfo, Writes)> {
        self.check_new_id(id)?;
        let kbpk = self.clear(kbpk_id, Usage::Kbpk, "tdes or aes", |a| {
            a != Algorithm::Hmac
        })?;
        let kbpk = match &kbpk {
            Clear::Tdes(k) => Kbpk::Tdes(k),
            Clear::Aes(k) => Kbpk::Aes(k),
            Clear::Hmac(_) => unreachable!("kbpk records are TDES or AES (checked above)"),
        };
        let unwrapped = tr31::unwrap(kbpk, block.trim()).map_err(|source| KeystoreError::Tr31 {
            kbpk_id: kbpk_id.to_owned(),
            source,
        })?;
        let header = &unwrapped.header;
        let bytes = unwrapped.expose_bytes();
        let mapped = Usage::from_tr31(&header.key_usage)
            .zip(Algorithm::from_tr31(header.algorithm, bytes.len()))
            .filter(|(u, a)| u.takes(*a));
        let Some((usage, algorithm)) = mapped else {
            return Err(KeystoreError::Tr31Unmapped {
                key_usage: header.key_usage.clone(),
                algorithm: header.algorithm,
            });
        };
        let key = Clear::from_bytes(algorithm, bytes).expect("from_tr31 checked the length");
        refuse_weak(&key)?;
        self.insert(id, usage, &key, algorithm, rng, now_ms)
    }

    /// Generates a key the host makes for itself (PIN verification keys, the PAN token
    /// key, vault keys, webhook secrets). Keys shared with terminals or partners (BDKs,
    /// KBPKs, zone keys) are refused: only check values leave posguard, so a key made
    /// here could never reach the other side.
    pub fn generate(
        &mut self,
        id: &str,
        usage: Usage,
        algorithm: Algorithm,
        rng: &mut impl CryptoRng,
        now_ms: i64,
    ) -> Result<(KeyInfo, Writes)> {
        self.check_new_id(id)?;
        check_takes(usage, algorithm)?;
        if !usage.host_made() {
            return Err(KeystoreError::NotPermitted {
                what: "bdk, kbpk and zone_pin keys are shared with terminals or partners: \
                       import them (components or TR-31) instead of generating them",
            });
        }
        let mut bytes = Zeroizing::new(vec![0u8; algorithm.generated_len()]);
        rng.fill_bytes(&mut bytes);
        let key = Clear::from_bytes(algorithm, &bytes).expect("generated_len fits");
        self.insert(id, usage, &key, algorithm, rng, now_ms)
    }

    /// Adopts an HMAC secret the host already holds in clear (the PAN token key file
    /// that predates the keystore: tokens already stored depend on it), for a host-made
    /// HMAC usage only. Not for the API: every other key arrives by components or TR-31.
    pub fn adopt_hmac(
        &mut self,
        id: &str,
        usage: Usage,
        key: HmacKey,
        rng: &mut impl CryptoRng,
        now_ms: i64,
    ) -> Result<(KeyInfo, Writes)> {
        self.check_new_id(id)?;
        check_takes(usage, Algorithm::Hmac)?;
        let key = Clear::from_bytes(Algorithm::Hmac, key.expose_bytes()).ok_or(
            KeystoreError::NotPermitted {
                what: "an adopted HMAC secret must be 32 bytes",
            },
        )?;
        self.insert(id, usage, &key, Algorithm::Hmac, rng, now_ms)
    }
}

/// Refuses keys that are not the strength they claim: all zero (components that cancel
/// out), or TDES whose first two 8-byte parts are equal, or for triple length the last
/// two (EDE with two equal adjacent keys is single DES). Parity bits are ignored, as
/// DES ignores them.
fn refuse_weak(key: &Clear) -> Result<()> {
    let bytes = key.bytes();
    let weak = |what| Err(KeystoreError::NotPermitted { what });
    if bool::from(bytes.ct_eq(&[0u8; 32][..bytes.len()])) {
        return weak("the key is zero: the components cancel out");
    }
    if let Clear::Tdes(_) = key {
        let part = |i: usize| {
            let mut p = Zeroizing::new([0u8; 8]);
            for (o, b) in p.iter_mut().zip(&bytes[i * 8..i * 8 + 8]) {
                *o = b & 0xFE;
            }
            p
        };
        let equal = |a: usize, b: usize| bool::from(part(a).ct_eq(&*part(b)));
        if equal(0, 1) || (bytes.len() == 24 && equal(1, 2)) {
            return weak("the TDES key has two equal adjacent parts: it is single DES");
        }
    }
    Ok(())
}

fn check_takes(usage: Usage, algorithm: Algorithm) -> Result<()> {
    if usage.takes(algorithm) {
        Ok(())
    } else {
        Err(KeystoreError::Unsupported { usage, algorithm })
    }
}

/// Parses components and checks each one's KCV, naming the first that fails (1-based,
/// as custodians number them).
fn parse_parts<K, S: AsRef<str>>(
    parts: &[(S, S)],
    algorithm: Algorithm,
    parse: impl Fn(&str) -> Option<K>,
) -> Result<Vec<(K, Kcv)>>
where
    K: KeyParts,
{
    let mut out: Vec<(K, Kcv)> = Vec::with_capacity(parts.len());
    for (i, (key_hex, kcv_hex)) in parts.iter().enumerate() {
        let index = i + 1;
        let bad = |reason: String| KeystoreError::ComponentMalformed { index, reason };
        let key = parse(key_hex.as_ref().trim())
            .filter(|k| algorithm.fits(k.len()))
            .ok_or_else(|| {
                bad(format!(
                    "it is not the hex of a key of algorithm {algorithm}"
                ))
            })?;
        if let Some((first, _)) = out.first()
            && first.len() != key.len()
        {
            return Err(bad("its length differs from component 1".to_owned()));
        }
        let kcv = Kcv::from_hex(kcv_hex.as_ref().trim())
            .map_err(|_| bad("its check value is not 6 hex digits".to_owned()))?;
        if !key.kcv().ct_matches(&kcv) {
            return Err(KeystoreError::ComponentKcv { index });
        }
        out.push((key, kcv));
    }
    Ok(out)
}

/// What `parse_parts` needs of a component key type.
trait KeyParts {
    fn len(&self) -> usize;
    fn kcv(&self) -> Kcv;
}

impl KeyParts for TdesKey {
    fn len(&self) -> usize {
        TdesKey::len(self)
    }
    fn kcv(&self) -> Kcv {
        TdesKey::kcv(self)
    }
}

impl KeyParts for AesKey {
    fn len(&self) -> usize {
        AesKey::len(self)
    }
    fn kcv(&self) -> Kcv {
        AesKey::kcv(self)
    }
}
