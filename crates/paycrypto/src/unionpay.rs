//! UnionPay-style (银联) master/session keys: the working keys a sign-on delivers in
//! field 62 under the terminal master key (TMK), their 4-byte check values, and track
//! data encryption under the TDK. See shared/docs/UNIONPAY.md.
//!
//! Every working key is held as a [`TdesKey`]; a single-DES key `k` is `k || k`, which
//! TDES-EDE turns into plain DES, so PIN blocks and MACs need no second code path.

use rand::RngCore;
use zeroize::Zeroizing;

use crate::keys::{DES_BLOCK_BYTES, DesBlockCipher, TdesKey};
use crate::{Error, Result};

/// Bytes of a UnionPay key check value: the first 4 of E(key, 0^8).
pub const KCV4_BYTES: usize = 4;

/// Which keys a sign-on delivers, from field 60.3 of the 0800.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyLayout {
    /// 001: single-DES PIK and MAK (24 bytes of field 62).
    SingleDes,
    /// 003: double-length PIK and MAK (40 bytes).
    DoubleDes,
    /// 004: double-length PIK, MAK and TDK (60 bytes).
    DoubleDesTdk,
}

impl KeyLayout {
    pub fn from_network_code(code: &str) -> Option<KeyLayout> {
        match code {
            "001" => Some(KeyLayout::SingleDes),
            "003" => Some(KeyLayout::DoubleDes),
            "004" => Some(KeyLayout::DoubleDesTdk),
            _ => None,
        }
    }

    pub fn network_code(self) -> &'static str {
        match self {
            KeyLayout::SingleDes => "001",
            KeyLayout::DoubleDes => "003",
            KeyLayout::DoubleDesTdk => "004",
        }
    }

    /// Bytes of each key on the wire.
    fn key_bytes(self) -> usize {
        match self {
            KeyLayout::SingleDes => 8,
            _ => 16,
        }
    }

    fn key_count(self) -> usize {
        match self {
            KeyLayout::DoubleDesTdk => 3,
            _ => 2,
        }
    }

    /// Length of field 62 in the sign-on reply: 24, 40 or 60 bytes.
    pub fn field62_bytes(self) -> usize {
        self.key_count() * (self.key_bytes() + KCV4_BYTES)
    }
}

/// PIN, MAC and (optionally) track data keys of one terminal's session. Debug shows
/// check values only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkingKeys {
    pub pik: TdesKey,
    pub mak: TdesKey,
    pub tdk: Option<TdesKey>,
}

/// The UnionPay check value: first 4 bytes of E(key, 0^8).
pub fn kcv4(key: &TdesKey) -> [u8; KCV4_BYTES] {
    let block = key.check_block();
    [block[0], block[1], block[2], block[3]]
}

/// Builds a working key from its wire length (8 bytes: single DES).
fn key_from(bytes: &[u8]) -> Result<TdesKey> {
    if bytes.len() == DES_BLOCK_BYTES {
        let mut double = Zeroizing::new([0u8; 16]);
        double[..8].copy_from_slice(bytes);
        double[8..].copy_from_slice(bytes);
        return Ok(TdesKey::from_double(*double));
    }
    TdesKey::from_bytes(bytes)
}

impl WorkingKeys {
    /// Fresh keys of `layout` from `rng` (the host's: tests pass a seeded one).
    pub fn generate(layout: KeyLayout, rng: &mut impl RngCore) -> WorkingKeys {
        let mut one = || {
            let mut bytes = Zeroizing::new(vec![0u8; layout.key_bytes()]);
            rng.fill_bytes(&mut bytes);
            key_from(&bytes).expect("8 or 16 bytes make a key")
        };
        let (pik, mak) = (one(), one());
        let tdk = (layout == KeyLayout::DoubleDesTdk).then(one);
        WorkingKeys { pik, mak, tdk }
    }

    fn in_order(&self) -> impl Iterator<Item = &TdesKey> {
        [&self.pik, &self.mak].into_iter().chain(self.tdk.as_ref())
    }

    /// Field 62 of the sign-on reply: each key ECB-encrypted under the TMK, followed by
    /// its check value.
    pub fn to_field62(&self, tmk: &TdesKey, layout: KeyLayout) -> Vec<u8> {
        let mut out = Vec::with_capacity(layout.field62_bytes());
        for key in self.in_order() {
            let clear = &key.expose_bytes()[..layout.key_bytes()];
            for block in clear.chunks_exact(DES_BLOCK_BYTES) {
                let mut b = [0u8; DES_BLOCK_BYTES];
                b.copy_from_slice(block);
                out.extend_from_slice(&tmk.encrypt_block(&b));
            }
            out.extend_from_slice(&kcv4(key));
        }
        out
    }

    /// The terminal's side: decrypts field 62 under the TMK and checks every KCV.
    pub fn from_field62(tmk: &TdesKey, layout: KeyLayout, field62: &[u8]) -> Result<WorkingKeys> {
        if field62.len() != layout.field62_bytes() {
            return Err(Error::Length {
                what: "field 62 working keys",
                expected: "24, 40 or 60 bytes as 60.3 says",
                got: field62.len(),
            });
        }
        let step = layout.key_bytes() + KCV4_BYTES;
        let mut keys = Vec::with_capacity(layout.key_count());
        for piece in field62.chunks_exact(step) {
            let (wrapped, kcv) = piece.split_at(layout.key_bytes());
            let mut clear = Zeroizing::new(Vec::with_capacity(wrapped.len()));
            for block in wrapped.chunks_exact(DES_BLOCK_BYTES) {
                let mut b = [0u8; DES_BLOCK_BYTES];
                b.copy_from_slice(block);
                clear.extend_from_slice(&tmk.decrypt_block(&b));
            }
            let key = key_from(&clear)?;
            if kcv4(&key) != kcv {
                return Err(Error::KeyCheckValue {
                    what: "working key",
                });
            }
            keys.push(key);
        }
        let mut keys = keys.into_iter();
        let (Some(pik), Some(mak)) = (keys.next(), keys.next()) else {
            return Err(Error::KeyCheckValue {
                what: "working key",
            });
        };
        Ok(WorkingKeys {
            pik,
            mak,
            tdk: keys.next(),
        })
    }
}

/// Where the encrypted 16 digits of a track sit: ending before the last 2 digits of an
/// even-length track, the last 1 of an odd one.
fn track_window(track: &str) -> Result<std::ops::Range<usize>> {
    let end = track
        .len()
        .checked_sub(if track.len().is_multiple_of(2) { 2 } else { 1 });
    match end {
        Some(end) if end >= 16 && track.is_ascii() => Ok(end - 16..end),
        _ => Err(Error::Length {
            what: "track data",
            expected: "at least 17 digits",
            got: track.len(),
        }),
    }
}

fn crypt_track(track: &str, f: impl Fn(&[u8; 8]) -> [u8; 8]) -> Result<String> {
    let window = track_window(track)?;
    let block: [u8; DES_BLOCK_BYTES] =
        crate::hexutil::decode_array("track data", &track[window.clone()])?;
    let out = crate::hexutil::encode_upper(&f(&block));
    Ok(format!(
        "{}{out}{}",
        &track[..window.start],
        &track[window.end..]
    ))
}

/// Decrypts a track the terminal encrypted under the TDK (53.3 = 1).
pub fn decrypt_track(tdk: &TdesKey, track: &str) -> Result<String> {
    crypt_track(track, |b| tdk.decrypt_block(b))
}

/// The terminal's side of [`decrypt_track`].
pub fn encrypt_track(tdk: &TdesKey, track: &str) -> Result<String> {
    crypt_track(track, |b| tdk.encrypt_block(b))
}
