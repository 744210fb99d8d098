//! Key newtypes: zeroized on drop, redacted in `Debug` (only the key check value is
//! printed), compared in constant time, never `Serialize`.
//!
//! The raw bytes are reachable only through `expose_bytes`, a name that is easy to grep
//! for in review.

use aes::cipher::{BlockDecrypt, BlockEncrypt, Key, KeyInit};
use aes::{Aes128Dec, Aes128Enc, Aes192Dec, Aes192Enc, Aes256Dec, Aes256Enc};
use des::{Des, TdesEde2, TdesEde3};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{Error, Result};
use crate::hexutil;

/// DES and TDES block size.
pub const DES_BLOCK_BYTES: usize = 8;
/// AES block size.
pub const AES_BLOCK_BYTES: usize = 16;
/// Single-DES key length (parity bits included).
pub const DES_KEY_BYTES: usize = 8;
/// Double-length TDES (2TDEA) key length.
pub const TDES2_KEY_BYTES: usize = 16;
/// Triple-length TDES (3TDEA) key length.
pub const TDES3_KEY_BYTES: usize = 24;
/// Key check value length used throughout posguard (X9.24 / TR-31 convention).
pub const KCV_BYTES: usize = 3;

/// A block cipher with 8-byte blocks: single DES or TDES. Lets the legacy MACs
/// (X9.9, UnionPay) run under either kind of key.
pub trait DesBlockCipher {
    /// Encrypts one block (ECB).
    fn encrypt_block(&self, block: &[u8; DES_BLOCK_BYTES]) -> [u8; DES_BLOCK_BYTES];
    /// Decrypts one block (ECB).
    fn decrypt_block(&self, block: &[u8; DES_BLOCK_BYTES]) -> [u8; DES_BLOCK_BYTES];
    /// CBC-chains whole blocks of `data` into `chain` under one key schedule (MACs
    /// would otherwise rebuild the schedule per block).
    fn cbc_chain(&self, chain: &mut [u8; DES_BLOCK_BYTES], data: &[u8]);
}

/// One single-DES key schedule (`des::Des`), built once and used for every block under
/// that key. Building it costs about half a block encryption (`des` 0.8: ~1,300
/// instructions for the schedule, ~2,400 per block), so the hot paths (retail MAC,
/// DUKPT key generation) build each schedule exactly once.
///
/// `des` 0.8 is built without its `zeroize` feature in this workspace, so the expanded
/// round keys are not wiped on drop (the same holds for `TdesEde2/3` and the AES
/// schedules); the key bytes themselves live only in zeroizing types.
pub(crate) struct DesSchedule(Des);

impl DesSchedule {
    /// The schedule of a single-DES key given as a big-endian `u64` (parity bits
    /// included, ignored by DES).
    #[inline]
    pub(crate) fn new(key: u64) -> Self {
        Self(Des::new(&key.to_be_bytes().into()))
    }

    /// Encrypts one block held as a big-endian `u64`.
    #[inline]
    pub(crate) fn encrypt(&self, block: u64) -> u64 {
        let mut b = block.to_be_bytes().into();
        self.0.encrypt_block(&mut b);
        u64::from_be_bytes(b.into())
    }

    /// Decrypts one block held as a big-endian `u64`.
    #[inline]
    pub(crate) fn decrypt(&self, block: u64) -> u64 {
        let mut b = block.to_be_bytes().into();
        self.0.decrypt_block(&mut b);
        u64::from_be_bytes(b.into())
    }
}

/// Reads 8 bytes as a big-endian `u64` (`bytes.len()` is 8 by construction).
#[inline]
pub(crate) fn be64(bytes: &[u8]) -> u64 {
    let mut b = [0u8; DES_BLOCK_BYTES];
    b.copy_from_slice(bytes);
    u64::from_be_bytes(b)
}

fn chain_with(c: &dyn BlockCipherBoth, chain: &mut [u8; DES_BLOCK_BYTES], data: &[u8]) {
    assert_eq!(
        data.len() % DES_BLOCK_BYTES,
        0,
        "cbc_chain takes whole blocks"
    );
    for block in data.chunks_exact(DES_BLOCK_BYTES) {
        hexutil::xor_in_place(chain, block);
        *chain = c.enc8(*chain);
    }
}

/// A key check value: the first [`KCV_BYTES`] of the key's check block.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kcv(pub [u8; KCV_BYTES]);

impl Kcv {
    /// Parses a 6-hex-digit KCV.
    pub fn from_hex(text: &str) -> Result<Self> {
        hexutil::decode_array("KCV", text).map(Kcv)
    }

    /// Constant-time comparison (a KCV leaks little, but a check that short-circuits
    /// would still time the key's first bytes of ciphertext).
    pub fn ct_matches(&self, other: &Kcv) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl core::fmt::Display for Kcv {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&hexutil::encode_upper(&self.0))
    }
}

impl core::fmt::Debug for Kcv {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Kcv({self})")
    }
}

macro_rules! secret_key_common {
    ($name:ident) => {
        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("len", &self.len())
                    .field("kcv", &self.kcv())
                    .finish()
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                // Lengths are public; contents are compared without early exit.
                self.len() == other.len()
                    && bool::from(self.expose_bytes().ct_eq(other.expose_bytes()))
            }
        }

        impl Eq for $name {}
    };
}

/// A single-DES key. Only for legacy schemes (X9.9, UnionPay single-length MAK).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SingleDesKey([u8; DES_KEY_BYTES]);

impl SingleDesKey {
    /// Builds a key from exactly 8 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; DES_KEY_BYTES] = bytes.try_into().map_err(|_| Error::Length {
            what: "single DES key",
            expected: "8 bytes",
            got: bytes.len(),
        })?;
        Ok(Self(arr))
    }

    /// Parses 16 hex digits.
    pub fn from_hex(text: &str) -> Result<Self> {
        Self::from_bytes(&hexutil::decode("single DES key", text)?)
    }

    /// Key length in bytes (always 8).
    pub fn len(&self) -> usize {
        DES_KEY_BYTES
    }

    /// Always false; present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The raw key bytes.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.0
    }

    /// First 3 bytes of E(K, 0^8).
    pub fn kcv(&self) -> Kcv {
        let full = self.encrypt_block(&[0; DES_BLOCK_BYTES]);
        Kcv([full[0], full[1], full[2]])
    }

    fn cipher(&self) -> Des {
        Des::new(&self.0.into())
    }
}

impl DesBlockCipher for SingleDesKey {
    fn encrypt_block(&self, block: &[u8; DES_BLOCK_BYTES]) -> [u8; DES_BLOCK_BYTES] {
        let mut b = (*block).into();
        self.cipher().encrypt_block(&mut b);
        b.into()
    }

    fn decrypt_block(&self, block: &[u8; DES_BLOCK_BYTES]) -> [u8; DES_BLOCK_BYTES] {
        let mut b = (*block).into();
        self.cipher().decrypt_block(&mut b);
        b.into()
    }

    fn cbc_chain(&self, chain: &mut [u8; DES_BLOCK_BYTES], data: &[u8]) {
        chain_with(&self.cipher(), chain, data);
    }
}

secret_key_common!(SingleDesKey);

/// A double- or triple-length TDES key (16 or 24 bytes), EDE keying.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct TdesKey {
    bytes: [u8; TDES3_KEY_BYTES],
    len: usize,
}

impl TdesKey {
    /// Builds a key from 16 or 24 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != TDES2_KEY_BYTES && bytes.len() != TDES3_KEY_BYTES {
            return Err(Error::Length {
                what: "TDES key",
                expected: "16 or 24 bytes",
                got: bytes.len(),
            });
        }
        let mut key = Self {
            bytes: [0; TDES3_KEY_BYTES],
            len: bytes.len(),
        };
        key.bytes[..bytes.len()].copy_from_slice(bytes);
        Ok(key)
    }

    /// Builds a double-length key from a fixed array (infallible).
    pub fn from_double(bytes: [u8; TDES2_KEY_BYTES]) -> Self {
        let mut key = Self {
            bytes: [0; TDES3_KEY_BYTES],
            len: TDES2_KEY_BYTES,
        };
        key.bytes[..TDES2_KEY_BYTES].copy_from_slice(&bytes);
        key
    }

    /// Parses 32 or 48 hex digits.
    pub fn from_hex(text: &str) -> Result<Self> {
        Self::from_bytes(&hexutil::decode("TDES key", text)?)
    }

    /// Key length in bytes: 16 or 24.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false; present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The raw key bytes.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The first two 8-byte halves (K1, K2), as used by ISO 9797-1 algorithm 3.
    pub(crate) fn k1_k2(&self) -> (SingleDesKey, SingleDesKey) {
        let mut k1 = [0u8; DES_KEY_BYTES];
        let mut k2 = [0u8; DES_KEY_BYTES];
        k1.copy_from_slice(&self.bytes[..8]);
        k2.copy_from_slice(&self.bytes[8..16]);
        (SingleDesKey(k1), SingleDesKey(k2))
    }

    /// First 3 bytes of E(K, 0^8) (X9.24 legacy KCV for TDES).
    pub fn kcv(&self) -> Kcv {
        let full = self.check_block();
        Kcv([full[0], full[1], full[2]])
    }

    /// The whole E(K, 0^8) block, for schemes that keep more than 3 bytes (UnionPay: 4).
    pub fn check_block(&self) -> [u8; DES_BLOCK_BYTES] {
        self.encrypt_block(&[0; DES_BLOCK_BYTES])
    }

    /// XOR of this key with a same-length mask (variants, components).
    pub(crate) fn xor(&self, mask: &[u8]) -> Self {
        let mut out = self.clone();
        hexutil::xor_in_place(&mut out.bytes[..out.len], mask);
        out
    }

    fn with_cipher<R>(&self, f: impl FnOnce(&dyn BlockCipherBoth) -> R) -> R {
        if self.len == TDES2_KEY_BYTES {
            f(&TdesEde2::new_from_slice(&self.bytes[..TDES2_KEY_BYTES])
                .expect("TdesEde2 accepts 16-byte keys"))
        } else {
            f(&TdesEde3::new_from_slice(&self.bytes).expect("TdesEde3 accepts 24-byte keys"))
        }
    }

    /// TDES-CBC encryption of whole blocks in place (`data.len()` a multiple of 8).
    pub fn cbc_encrypt(&self, iv: &[u8; DES_BLOCK_BYTES], data: &mut [u8]) -> Result<()> {
        check_whole_blocks(data.len(), DES_BLOCK_BYTES)?;
        let mut chain = *iv;
        self.with_cipher(|c| {
            for chunk in data.chunks_exact_mut(DES_BLOCK_BYTES) {
                hexutil::xor_in_place(chunk, &chain);
                let mut b = [0u8; DES_BLOCK_BYTES];
                b.copy_from_slice(chunk);
                chain = c.enc8(b);
                chunk.copy_from_slice(&chain);
            }
        });
        Ok(())
    }

    /// TDES-CBC decryption of whole blocks in place.
    pub fn cbc_decrypt(&self, iv: &[u8; DES_BLOCK_BYTES], data: &mut [u8]) -> Result<()> {
        check_whole_blocks(data.len(), DES_BLOCK_BYTES)?;
        let mut chain = *iv;
        self.with_cipher(|c| {
            for chunk in data.chunks_exact_mut(DES_BLOCK_BYTES) {
                let mut b = [0u8; DES_BLOCK_BYTES];
                b.copy_from_slice(chunk);
                let mut plain = c.dec8(b);
                hexutil::xor_in_place(&mut plain, &chain);
                chain = b;
                chunk.copy_from_slice(&plain);
            }
        });
        Ok(())
    }
}

impl DesBlockCipher for TdesKey {
    fn encrypt_block(&self, block: &[u8; DES_BLOCK_BYTES]) -> [u8; DES_BLOCK_BYTES] {
        self.with_cipher(|c| c.enc8(*block))
    }

    fn decrypt_block(&self, block: &[u8; DES_BLOCK_BYTES]) -> [u8; DES_BLOCK_BYTES] {
        self.with_cipher(|c| c.dec8(*block))
    }

    fn cbc_chain(&self, chain: &mut [u8; DES_BLOCK_BYTES], data: &[u8]) {
        self.with_cipher(|c| chain_with(c, chain, data));
    }
}

secret_key_common!(TdesKey);

/// Object-safe view of the two TDES key schedules.
trait BlockCipherBoth {
    fn enc8(&self, block: [u8; DES_BLOCK_BYTES]) -> [u8; DES_BLOCK_BYTES];
    fn dec8(&self, block: [u8; DES_BLOCK_BYTES]) -> [u8; DES_BLOCK_BYTES];
}

impl<C: BlockEncrypt + BlockDecrypt<BlockSize = des::cipher::consts::U8>> BlockCipherBoth for C {
    fn enc8(&self, block: [u8; DES_BLOCK_BYTES]) -> [u8; DES_BLOCK_BYTES] {
        let mut b = block.into();
        self.encrypt_block(&mut b);
        b.into()
    }
    fn dec8(&self, block: [u8; DES_BLOCK_BYTES]) -> [u8; DES_BLOCK_BYTES] {
        let mut b = block.into();
        self.decrypt_block(&mut b);
        b.into()
    }
}

fn check_whole_blocks(len: usize, block: usize) -> Result<()> {
    if !len.is_multiple_of(block) {
        return Err(Error::Length {
            what: "cipher input",
            expected: "a whole number of blocks",
            got: len,
        });
    }
    Ok(())
}

/// An AES key: 16, 24 or 32 bytes.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AesKey {
    bytes: [u8; 32],
    len: usize,
}

/// One direction of an expanded AES key schedule, whatever the key size. The hot paths
/// build only the direction they use (DUKPT derivation and CMAC only encrypt; PIN
/// deciphering only decrypts), in place on the caller's stack.
pub(crate) trait AesBlockOp {
    /// Encrypts or decrypts `block` in place, as the schedule was built for.
    fn apply(&self, block: &mut [u8; AES_BLOCK_BYTES]);
}

macro_rules! aes_block_op {
    ($($ty:ty => $method:ident),* $(,)?) => {
        $(impl AesBlockOp for $ty {
            #[inline]
            fn apply(&self, block: &mut [u8; AES_BLOCK_BYTES]) {
                self.$method(aes::Block::from_mut_slice(block));
            }
        })*
    };
}

aes_block_op!(
    Aes128Enc => encrypt_block, Aes192Enc => encrypt_block, Aes256Enc => encrypt_block,
    Aes128Dec => decrypt_block, Aes192Dec => decrypt_block, Aes256Dec => decrypt_block,
);

/// Runs `f` with the encryption schedule of a 16, 24 or 32 byte AES key.
pub(crate) fn aes_with_encryptor<R>(key: &[u8], f: impl FnOnce(&dyn AesBlockOp) -> R) -> R {
    match key.len() {
        16 => f(&Aes128Enc::new(Key::<Aes128Enc>::from_slice(key))),
        24 => f(&Aes192Enc::new(Key::<Aes192Enc>::from_slice(key))),
        _ => f(&Aes256Enc::new(Key::<Aes256Enc>::from_slice(key))),
    }
}

/// Runs `f` with the decryption schedule of a 16, 24 or 32 byte AES key.
pub(crate) fn aes_with_decryptor<R>(key: &[u8], f: impl FnOnce(&dyn AesBlockOp) -> R) -> R {
    match key.len() {
        16 => f(&Aes128Dec::new(Key::<Aes128Dec>::from_slice(key))),
        24 => f(&Aes192Dec::new(Key::<Aes192Dec>::from_slice(key))),
        _ => f(&Aes256Dec::new(Key::<Aes256Dec>::from_slice(key))),
    }
}

/// Checks a 16, 24 or 32 byte key and copies it into a 32-byte buffer (zeroized by
/// its owner's `Drop`).
fn copy_16_24_32(what: &'static str, bytes: &[u8]) -> Result<([u8; 32], usize)> {
    if !matches!(bytes.len(), 16 | 24 | 32) {
        return Err(Error::Length {
            what,
            expected: "16, 24 or 32 bytes",
            got: bytes.len(),
        });
    }
    let mut out = [0; 32];
    out[..bytes.len()].copy_from_slice(bytes);
    Ok((out, bytes.len()))
}

impl AesKey {
    /// Builds a key from 16, 24 or 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (bytes, len) = copy_16_24_32("AES key", bytes)?;
        Ok(Self { bytes, len })
    }

    /// Parses 32, 48 or 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self> {
        Self::from_bytes(&hexutil::decode("AES key", text)?)
    }

    /// Key length in bytes: 16, 24 or 32.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false; present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The raw key bytes.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Runs `f` with this key's encryption schedule.
    pub(crate) fn with_encryptor<R>(&self, f: impl FnOnce(&dyn AesBlockOp) -> R) -> R {
        aes_with_encryptor(self.expose_bytes(), f)
    }

    /// Runs `f` with this key's decryption schedule.
    pub(crate) fn with_decryptor<R>(&self, f: impl FnOnce(&dyn AesBlockOp) -> R) -> R {
        aes_with_decryptor(self.expose_bytes(), f)
    }

    /// Encrypts one block (ECB).
    pub fn encrypt_block(&self, block: &[u8; AES_BLOCK_BYTES]) -> [u8; AES_BLOCK_BYTES] {
        let mut b = *block;
        self.with_encryptor(|c| c.apply(&mut b));
        b
    }

    /// Decrypts one block (ECB).
    pub fn decrypt_block(&self, block: &[u8; AES_BLOCK_BYTES]) -> [u8; AES_BLOCK_BYTES] {
        let mut b = *block;
        self.with_decryptor(|c| c.apply(&mut b));
        b
    }

    /// AES KCV: first 3 bytes of AES-CMAC(K, 0^16), the CMAC-based check value of
    /// X9.24-1:2017 and TR-31 (not the legacy E(K, 0^16), which gives another answer).
    pub fn kcv(&self) -> Kcv {
        let mac = crate::mac::aes_cmac(self, &[0; AES_BLOCK_BYTES]);
        Kcv([mac[0], mac[1], mac[2]])
    }

    /// AES-CBC encryption of whole blocks in place.
    pub fn cbc_encrypt(&self, iv: &[u8; AES_BLOCK_BYTES], data: &mut [u8]) -> Result<()> {
        check_whole_blocks(data.len(), AES_BLOCK_BYTES)?;
        self.with_encryptor(|cipher| {
            let mut chain = *iv;
            for chunk in data.chunks_exact_mut(AES_BLOCK_BYTES) {
                hexutil::xor_in_place(&mut chain, chunk);
                cipher.apply(&mut chain);
                chunk.copy_from_slice(&chain);
            }
        });
        Ok(())
    }

    /// AES-CBC decryption of whole blocks in place.
    pub fn cbc_decrypt(&self, iv: &[u8; AES_BLOCK_BYTES], data: &mut [u8]) -> Result<()> {
        check_whole_blocks(data.len(), AES_BLOCK_BYTES)?;
        self.with_decryptor(|cipher| {
            let mut chain = *iv;
            for chunk in data.chunks_exact_mut(AES_BLOCK_BYTES) {
                let mut block = [0u8; AES_BLOCK_BYTES];
                block.copy_from_slice(chunk);
                let next_chain = block;
                cipher.apply(&mut block);
                hexutil::xor_in_place(&mut block, &chain);
                chunk.copy_from_slice(&block);
                chain = next_chain;
            }
        });
        Ok(())
    }
}

secret_key_common!(AesKey);

/// An HMAC key (AES DUKPT derives 128-, 192- and 256-bit HMAC keys).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct HmacKey {
    bytes: [u8; 32],
    len: usize,
}

impl HmacKey {
    /// Builds a key from 16, 24 or 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (bytes, len) = copy_16_24_32("HMAC key", bytes)?;
        Ok(Self { bytes, len })
    }

    /// Key length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false; present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The raw key bytes.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// First 3 bytes of HMAC-SHA256(K, 0^16): no standard KCV exists for HMAC keys;
    /// this one is only for telling keys apart in logs.
    pub fn kcv(&self) -> Kcv {
        let mac = crate::mac::hmac_sha256(self, &[0; AES_BLOCK_BYTES]);
        Kcv([mac[0], mac[1], mac[2]])
    }
}

secret_key_common!(HmacKey);
