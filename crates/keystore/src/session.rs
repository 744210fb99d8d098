//! Session keys (UnionPay PIK, MAK, TDK): made at every sign-on, so there are as many as
//! terminals and they are not keystore entries (`KEYS_MAX` bounds those). Each is sealed
//! under the KEK like a stored key — a TR-31 block whose authenticated header binds its
//! usage and its id (`<terminal>.<batch>.<usage>`) — and the host keeps the record in
//! its own meta row. Never clear on disk.

use paycrypto::TdesKey;
use rand::CryptoRng;

use crate::error::{KeystoreError, Result};
use crate::keystore::Keystore;
use crate::record::{self, Clear, KeyRecord};
use crate::table::{Algorithm, Usage};

fn is_session(usage: Usage) -> bool {
    matches!(
        usage,
        Usage::SessionPin | Usage::SessionMac | Usage::SessionData
    )
}

impl Keystore {
    /// Seals a session key under the KEK; returns the record's JSON for the host to
    /// store. `id` binds it (terminal, batch, usage): [`Keystore::open_session_key`]
    /// refuses it under any other id or usage.
    pub fn seal_session_key(
        &self,
        id: &str,
        usage: Usage,
        key: &TdesKey,
        rng: &mut impl CryptoRng,
        now_ms: i64,
    ) -> Result<String> {
        record::validate_id(id)?;
        if !is_session(usage) {
            return Err(KeystoreError::NotPermitted {
                what: "only session_pin, session_mac and session_data keys are sealed here",
            });
        }
        let clear = Clear::Tdes(key.clone());
        let record = record::seal(&self.kek, id, usage, Algorithm::Tdes, &clear, now_ms, rng)?;
        Ok(serde_json::to_string(&record).expect("a KeyRecord always serializes"))
    }

    /// Opens a session key sealed by [`Keystore::seal_session_key`], checking that it is
    /// the one expected (`id`, `usage`) and that it was sealed under this KEK.
    pub fn open_session_key(&self, json: &str, id: &str, usage: Usage) -> Result<TdesKey> {
        let tampered = |reason: &str| KeystoreError::RecordTampered {
            id: id.to_owned(),
            reason: reason.to_owned(),
        };
        let record: KeyRecord =
            serde_json::from_str(json).map_err(|_| tampered("it is not a key record"))?;
        if record.id != id || record.usage != usage || !is_session(usage) {
            return Err(tampered("it is bound to another terminal, batch or usage"));
        }
        match record::unseal(&self.kek, &record)? {
            Clear::Tdes(key) => Ok(key),
            _ => Err(tampered("it is not a TDES key")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kek::Kek;
    use rand::SeedableRng;

    #[test]
    fn session_keys_are_bound_to_their_id_and_usage() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let store = Keystore::open(Kek::generate(&mut rng), Vec::new()).unwrap();
        let key = TdesKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
        let id = "T0000001.000001.mak";
        let json = store
            .seal_session_key(id, Usage::SessionMac, &key, &mut rng, 1)
            .unwrap();
        assert!(!json.contains("0123456789ABCDEF"), "never clear");
        assert_eq!(
            store
                .open_session_key(&json, id, Usage::SessionMac)
                .unwrap(),
            key
        );
        assert!(
            store
                .open_session_key(&json, "T0000001.000002.mak", Usage::SessionMac)
                .is_err()
        );
        assert!(
            store
                .open_session_key(&json, id, Usage::SessionPin)
                .is_err()
        );
        let other = Keystore::open(Kek::generate(&mut rng), Vec::new()).unwrap();
        assert!(
            other
                .open_session_key(&json, id, Usage::SessionMac)
                .is_err()
        );
        let edited = json.replace("\"T0000001.000001.mak\"", "\"T0000002.000001.mak\"");
        assert!(
            store
                .open_session_key(&edited, "T0000002.000001.mak", Usage::SessionMac)
                .is_err()
        );
        assert!(
            store
                .seal_session_key(id, Usage::Bdk, &key, &mut rng, 1)
                .is_err()
        );
    }
}
