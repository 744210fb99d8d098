//! Message authentication codes: ISO 9797-1 algorithm 3 (retail MAC, = ANSI X9.19),
//! single-DES CBC-MAC (ANSI X9.9), the UnionPay "ECB" MAC, AES-CMAC (RFC 4493),
//! HMAC-SHA256, and constant-time verification.

use subtle::ConstantTimeEq;

use crate::error::{Error, Result};
use crate::hexutil;
use crate::keys::{
    AES_BLOCK_BYTES, AesKey, DES_BLOCK_BYTES, DesBlockCipher, DesSchedule, HmacKey, TdesKey, be64,
};
use crate::usage::{Bound, KeyUsage};

/// Shortest MAC accepted for verification (ISO 9797-1 allows truncation; below 4
/// bytes a forgery is too cheap).
pub const MAC_BYTES_MIN: usize = 4;

/// ISO 9797-1 padding methods for 8-byte block MACs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Method 1: zero bytes to a block boundary (one zero block for empty data).
    Method1,
    /// Method 2: 0x80 then zero bytes, always at least one byte added.
    Method2,
}

/// CBC-MAC over padded `data` with an 8-byte block cipher, zero IV.
fn cbc_mac<C: DesBlockCipher + ?Sized>(
    cipher: &C,
    data: &[u8],
    padding: Padding,
) -> [u8; DES_BLOCK_BYTES] {
    let mut chain = [0u8; DES_BLOCK_BYTES];
    let full = data.len() / DES_BLOCK_BYTES * DES_BLOCK_BYTES;
    let rest = &data[full..];
    let mut last = [0u8; DES_BLOCK_BYTES];
    last[..rest.len()].copy_from_slice(rest);
    let tail_len = match padding {
        Padding::Method1 if rest.is_empty() && !data.is_empty() => 0,
        Padding::Method1 => DES_BLOCK_BYTES,
        Padding::Method2 => {
            last[rest.len()] = 0x80;
            DES_BLOCK_BYTES
        }
    };
    cipher.cbc_chain(&mut chain, &data[..full]);
    cipher.cbc_chain(&mut chain, &last[..tail_len]);
    chain
}

/// ISO 9797-1 MAC algorithm 3 (retail MAC): single-DES CBC-MAC under K1, then the
/// output transformation D(K2), E(K1). Uses the first 16 bytes of the key.
///
/// Builds two single-DES key schedules per message (K1 for the chain and the final
/// encryption, K2 for the one decryption), then one DES block per 8 bytes of padded
/// data plus two: the block function of `des` is all the remaining cost.
pub fn retail_mac(key: &TdesKey, data: &[u8], padding: Padding) -> [u8; DES_BLOCK_BYTES] {
    let bytes = key.expose_bytes();
    let k1 = DesSchedule::new(be64(&bytes[..8]));
    let mut h = des_cbc_mac(&k1, data, padding);
    h = DesSchedule::new(be64(&bytes[8..16])).decrypt(h);
    k1.encrypt(h).to_be_bytes()
}

/// Single-DES CBC-MAC (zero IV) of padded `data` under one key schedule.
fn des_cbc_mac(k: &DesSchedule, data: &[u8], padding: Padding) -> u64 {
    let mut blocks = data.chunks_exact(DES_BLOCK_BYTES);
    let mut h = 0u64;
    for block in &mut blocks {
        h = k.encrypt(h ^ be64(block));
    }
    let rest = blocks.remainder();
    let mut last = [0u8; DES_BLOCK_BYTES];
    last[..rest.len()].copy_from_slice(rest);
    let tail = match padding {
        Padding::Method1 => !rest.is_empty() || data.is_empty(),
        Padding::Method2 => {
            last[rest.len()] = 0x80;
            true
        }
    };
    if tail {
        h = k.encrypt(h ^ u64::from_be_bytes(last));
    }
    h
}

/// ANSI X9.19: the retail MAC with zero padding.
pub fn x9_19_mac(key: &TdesKey, data: &[u8]) -> [u8; DES_BLOCK_BYTES] {
    retail_mac(key, data, Padding::Method1)
}

/// ANSI X9.9 (ISO 9797-1 algorithm 1 with single DES, padding method 1).
pub fn x9_9_mac<C: DesBlockCipher + ?Sized>(key: &C, data: &[u8]) -> [u8; DES_BLOCK_BYTES] {
    cbc_mac(key, data, Padding::Method1)
}

/// The UnionPay "ECB" MAC (see shared/docs/UNIONPAY.md): XOR the zero-padded 8-byte
/// blocks, hex the result (16 ASCII characters), E(MAK, first 8 characters), XOR with
/// the last 8 characters, E(MAK, that), hex, and keep the first 8 ASCII characters.
/// Generic over the cipher so the single-DES MAK and the "XOR-then-3DES" variant share
/// one implementation.
pub fn unionpay_ecb_mac<C: DesBlockCipher + ?Sized>(key: &C, data: &[u8]) -> [u8; 8] {
    let mut xored = [0u8; DES_BLOCK_BYTES];
    for chunk in data.chunks(DES_BLOCK_BYTES) {
        hexutil::xor_in_place(&mut xored[..chunk.len()], chunk);
    }
    unionpay_ecb_mac_from_xor(key, &xored)
}

/// The UnionPay ECB MAC from the XOR of the message blocks (the step the published
/// vector starts from).
pub fn unionpay_ecb_mac_from_xor<C: DesBlockCipher + ?Sized>(
    key: &C,
    xored: &[u8; DES_BLOCK_BYTES],
) -> [u8; 8] {
    let text = ascii_hex(xored);
    let mut left = [0u8; DES_BLOCK_BYTES];
    let mut right = [0u8; DES_BLOCK_BYTES];
    left.copy_from_slice(&text[..8]);
    right.copy_from_slice(&text[8..]);
    let mut step = key.encrypt_block(&left);
    hexutil::xor_in_place(&mut step, &right);
    let out = ascii_hex(&key.encrypt_block(&step));
    let mut mac = [0u8; 8];
    mac.copy_from_slice(&out[..8]);
    mac
}

fn ascii_hex(bytes: &[u8; DES_BLOCK_BYTES]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, c) in out.iter_mut().zip(hexutil::encode_upper(bytes).bytes()) {
        *o = c;
    }
    out
}

/// AES-CMAC (RFC 4493, NIST SP 800-38B) with a 128-, 192- or 256-bit key.
pub fn aes_cmac(key: &AesKey, data: &[u8]) -> [u8; AES_BLOCK_BYTES] {
    fn run<M: cmac::Mac + cmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> [u8; AES_BLOCK_BYTES] {
        let mut m = <M as cmac::digest::KeyInit>::new_from_slice(key).expect("AES key length");
        m.update(data);
        let mut out = [0u8; AES_BLOCK_BYTES];
        out.copy_from_slice(&m.finalize().into_bytes());
        out
    }
    // CMAC only encrypts: the encryption-only ciphers skip the decryption round keys.
    let k = key.expose_bytes();
    match k.len() {
        16 => run::<cmac::Cmac<aes::Aes128Enc>>(k, data),
        24 => run::<cmac::Cmac<aes::Aes192Enc>>(k, data),
        _ => run::<cmac::Cmac<aes::Aes256Enc>>(k, data),
    }
}

/// TDES-CMAC (NIST SP 800-38B with 8-byte blocks), used by TR-31 version B.
pub fn tdes_cmac(key: &TdesKey, data: &[u8]) -> [u8; DES_BLOCK_BYTES] {
    fn run<M: cmac::Mac + cmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> [u8; DES_BLOCK_BYTES] {
        let mut m = <M as cmac::digest::KeyInit>::new_from_slice(key).expect("TDES key length");
        m.update(data);
        let mut out = [0u8; DES_BLOCK_BYTES];
        out.copy_from_slice(&m.finalize().into_bytes());
        out
    }
    let k = key.expose_bytes();
    if k.len() == 16 {
        run::<cmac::Cmac<des::TdesEde2>>(k, data)
    } else {
        run::<cmac::Cmac<des::TdesEde3>>(k, data)
    }
}

/// HMAC-SHA256.
pub fn hmac_sha256(key: &HmacKey, data: &[u8]) -> [u8; 32] {
    let mut m =
        <hmac::Hmac<sha2::Sha256> as hmac::digest::KeyInit>::new_from_slice(key.expose_bytes())
            .expect("HMAC takes any key length");
    hmac::Mac::update(&mut m, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(&hmac::Mac::finalize(m).into_bytes());
    out
}

/// Compares a received MAC with the computed one in constant time. The received MAC may
/// be truncated to its leftmost bytes (at least [`MAC_BYTES_MIN`]).
pub fn verify_truncated(computed: &[u8], received: &[u8]) -> Result<()> {
    if received.len() < MAC_BYTES_MIN || received.len() > computed.len() {
        return Err(Error::Length {
            what: "received MAC",
            expected: "4 bytes up to the full MAC length",
            got: received.len(),
        });
    }
    if bool::from(computed[..received.len()].ct_eq(received)) {
        Ok(())
    } else {
        Err(Error::MacMismatch)
    }
}

/// Verifies a retail MAC under a key bound to MAC verification.
pub fn verify_retail_mac(
    key: &Bound<TdesKey>,
    data: &[u8],
    padding: Padding,
    received: &[u8],
) -> Result<()> {
    let key = key.require(KeyUsage::MacVerify)?;
    verify_truncated(&retail_mac(key, data, padding), received)
}

/// Verifies an AES-CMAC under a key bound to MAC verification.
pub fn verify_aes_cmac(key: &Bound<AesKey>, data: &[u8], received: &[u8]) -> Result<()> {
    let key = key.require(KeyUsage::MacVerify)?;
    verify_truncated(&aes_cmac(key, data), received)
}

/// Verifies an HMAC-SHA256 under a key bound to MAC verification.
pub fn verify_hmac_sha256(key: &Bound<HmacKey>, data: &[u8], received: &[u8]) -> Result<()> {
    let key = key.require(KeyUsage::MacVerify)?;
    verify_truncated(&hmac_sha256(key, data), received)
}

/// Pluggable 8-byte-block MAC schemes, for acquirers that each run their own variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DesMacScheme {
    /// ISO 9797-1 algorithm 3 / X9.19 with padding method 1.
    X919,
    /// X9.9 single-DES CBC-MAC under the key's first half.
    X99,
    /// UnionPay "ECB" MAC under the key's first half (single DES).
    UnionPayEcb,
    /// UnionPay "ECB" MAC steps under the full TDES key ("XOR-then-3DES").
    UnionPayEcbTdes,
}

impl DesMacScheme {
    /// Computes the 8-byte MAC (UnionPay schemes: 8 ASCII hex characters).
    pub fn compute(self, key: &TdesKey, data: &[u8]) -> [u8; 8] {
        let (k1, _) = key.k1_k2();
        match self {
            Self::X919 => x9_19_mac(key, data),
            Self::X99 => x9_9_mac(&k1, data),
            Self::UnionPayEcb => unionpay_ecb_mac(&k1, data),
            Self::UnionPayEcbTdes => unionpay_ecb_mac(key, data),
        }
    }

    /// Verifies under a key bound to MAC verification, in constant time.
    pub fn verify(self, key: &Bound<TdesKey>, data: &[u8], received: &[u8]) -> Result<()> {
        let key = key.require(KeyUsage::MacVerify)?;
        verify_truncated(&self.compute(key, data), received)
    }
}
