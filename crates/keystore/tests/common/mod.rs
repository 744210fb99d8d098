//! Helpers shared by the keystore tests: a seeded RNG, fixed KEKs, a meta map standing
//! in for the store, and splitting a known key into components.

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeMap;

use keystore::{Algorithm, Kek, Keystore, Usage, Writes};
use paycrypto::{AesKey, TdesKey};
use rand::SeedableRng;
use rand::rngs::StdRng;

pub const SEED: u64 = 0x5EED_4B45;
pub const KEK_A: &str = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F";
pub const KEK_B: &str = "F0E1D2C3B4A5968778695A4B3C2D1E0FF0E1D2C3B4A5968778695A4B3C2D1E0F";
/// The demo TDES BDK (X9.24-1 annex A) and its KCV.
pub const DEMO_BDK: &str = "0123456789ABCDEFFEDCBA9876543210";
pub const DEMO_BDK_KCV: &str = "08D7B4";
pub const NOW_MS: i64 = 1_750_000_000_000;

pub fn rng() -> StdRng {
    StdRng::seed_from_u64(SEED)
}

pub fn kek(hex: &str) -> Kek {
    Kek::from_hex(hex).unwrap()
}

/// The store's meta table: later writes replace earlier ones, as a commit does.
#[derive(Default, Clone)]
pub struct Meta(pub BTreeMap<String, String>);

impl Meta {
    pub fn commit(&mut self, writes: Writes) {
        self.0.extend(writes);
    }

    pub fn pairs(&self) -> Vec<(String, String)> {
        self.0.clone().into_iter().collect()
    }

    pub fn open(&self, kek_hex: &str) -> keystore::Result<Keystore> {
        Keystore::open(kek(kek_hex), self.pairs())
    }
}

/// The KCV paycrypto computes for a key of `algorithm` (what a custodian's mailer shows).
pub fn kcv_of(algorithm: Algorithm, hex: &str) -> String {
    match algorithm {
        Algorithm::Tdes => TdesKey::from_hex(hex).unwrap().kcv().to_string(),
        _ => AesKey::from_hex(hex).unwrap().kcv().to_string(),
    }
}

/// Splits `key_hex` into `n` components whose XOR is the key, each with its KCV.
pub fn split(algorithm: Algorithm, key_hex: &str, n: usize) -> Vec<(String, String)> {
    let key = hex::decode(key_hex).unwrap();
    let mut last = key.clone();
    let mut parts = Vec::new();
    for i in 1..n {
        let part: Vec<u8> = (0..key.len())
            .map(|j| (i * 37 + j * 11) as u8 ^ 0xA5)
            .collect();
        for (l, p) in last.iter_mut().zip(&part) {
            *l ^= p;
        }
        parts.push(hex::encode_upper(&part));
    }
    parts.push(hex::encode_upper(&last));
    parts
        .into_iter()
        .map(|p| {
            let kcv = kcv_of(algorithm, &p);
            (p, kcv)
        })
        .collect()
}

/// Imports `key_hex` as 2 components under `id`, committing the writes to `meta`.
pub fn import_split(
    store: &mut Keystore,
    meta: &mut Meta,
    id: &str,
    usage: Usage,
    algorithm: Algorithm,
    key_hex: &str,
) -> String {
    let parts = split(algorithm, key_hex, 2);
    let (info, writes) = store
        .import_components(id, usage, algorithm, &parts, &mut rng(), NOW_MS)
        .unwrap();
    meta.commit(writes);
    info.kcv
}
