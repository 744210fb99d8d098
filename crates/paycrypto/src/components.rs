//! Clear key components: a key custodian enters 2 or 3 components, each with the KCV
//! printed on its mailer; the key is their XOR. Every component's KCV is checked
//! before combining, so a mistyped component is caught at its custodian, not later.

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::hexutil;
use crate::keys::{AesKey, Kcv, TdesKey};

/// Fewest components a key may be split into.
pub const COMPONENTS_MIN: usize = 2;
/// Most components supported.
pub const COMPONENTS_MAX: usize = 3;

fn check_count(n: usize) -> Result<()> {
    if !(COMPONENTS_MIN..=COMPONENTS_MAX).contains(&n) {
        return Err(Error::Parameter("a key is combined from 2 or 3 components"));
    }
    Ok(())
}

fn combine<K>(
    components: &[(K, Kcv)],
    bytes: impl Fn(&K) -> &[u8],
    kcv: impl Fn(&K) -> Kcv,
) -> Result<Zeroizing<Vec<u8>>> {
    check_count(components.len())?;
    let len = bytes(&components[0].0).len();
    let mut out = Zeroizing::new(vec![0u8; len]);
    for (key, expected) in components {
        if !kcv(key).ct_matches(expected) {
            return Err(Error::KeyCheckValue { what: "component" });
        }
        let b = bytes(key);
        if b.len() != len {
            return Err(Error::Parameter("components differ in length"));
        }
        hexutil::xor_in_place(&mut out, b);
    }
    Ok(out)
}

/// XOR of 2 or 3 TDES components, each checked against its KCV; `expected` optionally
/// checks the combined key's KCV too.
pub fn combine_tdes(components: &[(TdesKey, Kcv)], expected: Option<&Kcv>) -> Result<TdesKey> {
    let bytes = combine(components, TdesKey::expose_bytes, TdesKey::kcv)?;
    let key = TdesKey::from_bytes(&bytes)?;
    check_final(key.kcv(), expected)?;
    Ok(key)
}

/// XOR of 2 or 3 AES components (CMAC KCVs), as [`combine_tdes`].
pub fn combine_aes(components: &[(AesKey, Kcv)], expected: Option<&Kcv>) -> Result<AesKey> {
    let bytes = combine(components, AesKey::expose_bytes, AesKey::kcv)?;
    let key = AesKey::from_bytes(&bytes)?;
    check_final(key.kcv(), expected)?;
    Ok(key)
}

fn check_final(actual: Kcv, expected: Option<&Kcv>) -> Result<()> {
    match expected {
        Some(e) if !actual.ct_matches(e) => Err(Error::KeyCheckValue {
            what: "combined key",
        }),
        _ => Ok(()),
    }
}
