//! The host's card-data key: an HMAC-SHA256 key that turns a PAN into the token it is
//! stored and looked up by. It is kept in the keystore, wrapped under the KEK
//! (`keyring::PAN_TOKEN_KEY_ID`); this is its unwrapped form for the hot path.

use hmac::{Hmac, Mac};
use model::{CardToken, Pan};
use sha2::Sha256;
use std::fmt;
use zeroize::Zeroizing;

const KEY_BYTES: usize = 32;

pub struct CardKeys {
    token_key: Zeroizing<[u8; KEY_BYTES]>,
}

impl fmt::Debug for CardKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CardKeys(<redacted>)")
    }
}

impl CardKeys {
    /// The keys for the PAN token key unwrapped from the keystore (32 bytes).
    pub fn new(token_key: &paycrypto::HmacKey) -> Option<CardKeys> {
        let bytes: [u8; KEY_BYTES] = token_key.expose_bytes().try_into().ok()?;
        Some(CardKeys {
            token_key: Zeroizing::new(bytes),
        })
    }

    /// A fixed key for tests and benchmarks.
    pub fn for_tests() -> CardKeys {
        CardKeys {
            token_key: Zeroizing::new([7u8; KEY_BYTES]),
        }
    }

    pub fn token(&self, pan: &Pan) -> CardToken {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.token_key.as_ref())
            .expect("HMAC takes keys of any length");
        mac.update(pan.expose().as_bytes());
        CardToken(hex::encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_keyed_and_stable() {
        let keys = CardKeys::for_tests();
        let pan = Pan::parse("4761739001010010").unwrap();
        let token = keys.token(&pan);
        assert_eq!(token, keys.token(&pan));
        assert_eq!(token.0.len(), 64);
        assert!(!token.0.contains("4761739001010010"));
        assert_eq!(format!("{keys:?}"), "CardKeys(<redacted>)");
    }
}
