//! ANSI X9.143 / TR-31 key blocks, versions B (TDES key derivation binding) and D (AES
//! key derivation binding): unwrap with constant-time MAC check, and wrap (for tests and
//! for exporting keys to terminals).
//!
//! Layout: 16-character header, optional blocks, hex of the encrypted key data
//! (2-byte key length in bits || key || pad), hex of the MAC. The MAC is CMAC under the
//! derived authentication key over the ASCII header and the *clear* key data; the key
//! data is CBC-encrypted under the derived encryption key with the MAC as IV.

use rand::RngCore;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::hexutil;
use crate::keys::{AES_BLOCK_BYTES, AesKey, DES_BLOCK_BYTES, TdesKey};
use crate::mac::{aes_cmac, tdes_cmac};
use crate::usage::{Bound, KeyUsage};

/// Fixed header length in characters.
const HEADER_CHARS: usize = 16;
/// Largest key block length the 4-digit length field can express.
const KEY_BLOCK_CHARS_MAX: usize = 9999;
/// Most optional blocks the 2-digit count can express.
const OPTIONAL_BLOCKS_MAX: usize = 99;
/// Key derivation "usage" indicators (TR-31 5.3.2.1): encryption and MAC keys.
const KDF_USAGE_ENCRYPTION: u16 = 0x0000;
const KDF_USAGE_MAC: u16 = 0x0001;
/// Keys the `wrap` default masks to: the longest key of each algorithm.
const MASK_TDES_BYTES: usize = 24;
const MASK_AES_BYTES: usize = 32;

/// Key block version ids this crate supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// 'B': TDES key derivation binding method.
    B,
    /// 'D': AES key derivation binding method.
    D,
}

impl Version {
    fn block_bytes(self) -> usize {
        match self {
            Version::B => DES_BLOCK_BYTES,
            Version::D => AES_BLOCK_BYTES,
        }
    }

    fn mac_bytes(self) -> usize {
        self.block_bytes()
    }

    fn id(self) -> char {
        match self {
            Version::B => 'B',
            Version::D => 'D',
        }
    }
}

/// One optional header block (id and ASCII data; the PB pad block is dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionalBlock {
    /// Two-character block id, e.g. "KS".
    pub id: String,
    /// The block's data.
    pub data: String,
}

/// A parsed key block header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Version id.
    pub version: Version,
    /// Key usage, e.g. "B0", "P0", "M3".
    pub key_usage: String,
    /// Algorithm: 'T' TDES, 'A' AES, 'D' DES, 'H' HMAC...
    pub algorithm: char,
    /// Mode of use: 'E', 'D', 'B', 'G', 'V', 'C', 'X', 'N'...
    pub mode_of_use: char,
    /// Key version number, two characters ("00" when unused).
    pub key_version: String,
    /// Exportability: 'E', 'N' or 'S'.
    pub exportability: char,
    /// Optional blocks in order, without the pad block.
    pub optional_blocks: Vec<OptionalBlock>,
}

impl Header {
    /// A header with no optional blocks.
    pub fn new(version: Version, key_usage: &str, algorithm: char, mode_of_use: char) -> Self {
        Self {
            version,
            key_usage: key_usage.to_owned(),
            algorithm,
            mode_of_use,
            key_version: "00".to_owned(),
            exportability: 'N',
            optional_blocks: Vec::new(),
        }
    }

    /// The posguard usage this header binds the key to, when it maps to one.
    pub fn usage(&self) -> Option<KeyUsage> {
        let m = self.mode_of_use;
        Some(match (self.key_usage.as_str(), m) {
            ("B0", _) => KeyUsage::BaseDerivation,
            ("B1", _) => KeyUsage::DukptInitialKey,
            ("P0", _) => KeyUsage::PinEncryption,
            ("V1", _) => KeyUsage::PinVerificationIbm3624,
            ("V2", _) => KeyUsage::PinVerificationVisaPvv,
            ("C0", _) => KeyUsage::CardVerification,
            ("K0", _) => KeyUsage::KeyEncryption,
            ("K1", _) => KeyUsage::KeyBlockProtection,
            (u, 'G') if u.starts_with('M') => KeyUsage::MacGenerate,
            (u, 'V') if u.starts_with('M') => KeyUsage::MacVerify,
            (u, _) if u.starts_with('M') => KeyUsage::Mac,
            ("D0", 'E') => KeyUsage::DataEncrypt,
            ("D0", 'D') => KeyUsage::DataDecrypt,
            ("D0", _) => KeyUsage::Data,
            _ => return None,
        })
    }

    /// Optional blocks, with a PB pad block so their length is a whole number of cipher
    /// blocks (TR-31 5.2). Returns (count, text).
    fn optional_text(&self) -> Result<(usize, String)> {
        let mut text = String::new();
        for b in &self.optional_blocks {
            if b.id.len() != 2 || !b.id.bytes().all(|c| c.is_ascii_alphanumeric()) {
                return Err(Error::KeyBlock("optional block id must be 2 alphanumerics"));
            }
            if !b.data.bytes().all(|c| c.is_ascii_graphic() || c == b' ') {
                return Err(Error::KeyBlock(
                    "optional block data must be printable ASCII",
                ));
            }
            text.push_str(&b.id);
            let short = b.data.len() + 4;
            if short <= 0xFF {
                text.push_str(&format!("{short:02X}"));
            } else {
                let long = b.data.len() + 10;
                if long > 0xFFFF {
                    return Err(Error::KeyBlock("optional block too long"));
                }
                text.push_str(&format!("0002{long:04X}"));
            }
            text.push_str(&b.data);
        }
        let mut count = self.optional_blocks.len();
        let block = self.version.block_bytes();
        if !text.len().is_multiple_of(block) {
            let pad = block - (text.len() + 4) % block;
            text.push_str(&format!("PB{:02X}{}", pad + 4, "0".repeat(pad)));
            count += 1;
        }
        if count > OPTIONAL_BLOCKS_MAX {
            return Err(Error::KeyBlock("more than 99 optional blocks"));
        }
        Ok((count, text))
    }

    fn check_fields(&self) -> Result<()> {
        let ok = |c: char| c.is_ascii_alphanumeric();
        if self.key_usage.len() != 2
            || !self.key_usage.chars().all(ok)
            || self.key_version.len() != 2
            || !self.key_version.chars().all(ok)
            || ![self.algorithm, self.mode_of_use, self.exportability]
                .into_iter()
                .all(ok)
        {
            return Err(Error::KeyBlock("header fields must be ASCII alphanumeric"));
        }
        Ok(())
    }
}

/// The key block protection key: TDES for version B, AES for version D.
#[derive(Debug, Clone, Copy)]
pub enum Kbpk<'a> {
    /// Double- or triple-length TDES KBPK (version B).
    Tdes(&'a TdesKey),
    /// AES-128/192/256 KBPK (version D).
    Aes(&'a AesKey),
}

/// An unwrapped key with its verified header.
#[derive(Debug)]
pub struct Unwrapped {
    /// The header, authenticated by the key block MAC.
    pub header: Header,
    key: Zeroizing<Vec<u8>>,
}

impl Unwrapped {
    /// The clear key bytes.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.key
    }

    fn bound_usage(&self) -> Result<KeyUsage> {
        self.header
            .usage()
            .ok_or(Error::KeyBlock("key usage has no posguard mapping"))
    }

    /// The key as TDES, bound to the header's usage (algorithm must be 'T').
    pub fn tdes_key(&self) -> Result<Bound<TdesKey>> {
        if self.header.algorithm != 'T' {
            return Err(Error::KeyBlock("algorithm is not TDES"));
        }
        Ok(Bound::new(
            TdesKey::from_bytes(&self.key)?,
            self.bound_usage()?,
        ))
    }

    /// The key as AES, bound to the header's usage (algorithm must be 'A').
    pub fn aes_key(&self) -> Result<Bound<AesKey>> {
        if self.header.algorithm != 'A' {
            return Err(Error::KeyBlock("algorithm is not AES"));
        }
        Ok(Bound::new(
            AesKey::from_bytes(&self.key)?,
            self.bound_usage()?,
        ))
    }
}

/// Derived key block encryption and authentication keys.
enum BlockKeys {
    Tdes { enc: TdesKey, mac: TdesKey },
    Aes { enc: AesKey, mac: AesKey },
}

fn derive_keys(version: Version, kbpk: Kbpk<'_>) -> Result<BlockKeys> {
    match (version, kbpk) {
        (Version::B, Kbpk::Tdes(k)) => {
            let (alg, bits, calls) = if k.len() == 16 {
                (0u16, 128u16, 2u8)
            } else {
                (1, 192, 3)
            };
            let run = |usage: u16| {
                let mut out = Zeroizing::new(Vec::with_capacity(24));
                for counter in 1..=calls {
                    let input = kdf_input(counter, usage, alg, bits);
                    out.extend_from_slice(&tdes_cmac(k, &input));
                }
                TdesKey::from_bytes(&out)
            };
            Ok(BlockKeys::Tdes {
                enc: run(KDF_USAGE_ENCRYPTION)?,
                mac: run(KDF_USAGE_MAC)?,
            })
        }
        (Version::D, Kbpk::Aes(k)) => {
            let (alg, bits, calls) = match k.len() {
                16 => (2u16, 128u16, 1u8),
                24 => (3, 192, 2),
                _ => (4, 256, 2),
            };
            let run = |usage: u16| {
                let mut out = Zeroizing::new(Vec::with_capacity(32));
                for counter in 1..=calls {
                    let input = kdf_input(counter, usage, alg, bits);
                    out.extend_from_slice(&aes_cmac(k, &input));
                }
                AesKey::from_bytes(&out[..k.len()])
            };
            Ok(BlockKeys::Aes {
                enc: run(KDF_USAGE_ENCRYPTION)?,
                mac: run(KDF_USAGE_MAC)?,
            })
        }
        _ => Err(Error::KeyBlock("KBPK algorithm does not match the version")),
    }
}

/// TR-31 5.3.2.1 derivation input: counter, usage, separator, algorithm, length.
fn kdf_input(counter: u8, usage: u16, algorithm: u16, bits: u16) -> [u8; 8] {
    let [u0, u1] = usage.to_be_bytes();
    let [a0, a1] = algorithm.to_be_bytes();
    let [l0, l1] = bits.to_be_bytes();
    [counter, u0, u1, 0x00, a0, a1, l0, l1]
}

impl BlockKeys {
    fn mac(&self, header: &[u8], clear: &[u8]) -> Zeroizing<Vec<u8>> {
        let mut data = Zeroizing::new(Vec::with_capacity(header.len() + clear.len()));
        data.extend_from_slice(header);
        data.extend_from_slice(clear);
        Zeroizing::new(match self {
            BlockKeys::Tdes { mac, .. } => tdes_cmac(mac, &data).to_vec(),
            BlockKeys::Aes { mac, .. } => aes_cmac(mac, &data).to_vec(),
        })
    }

    fn decrypt(&self, iv: &[u8], data: &mut [u8]) -> Result<()> {
        match self {
            BlockKeys::Tdes { enc, .. } => enc.cbc_decrypt(&iv_array(iv)?, data),
            BlockKeys::Aes { enc, .. } => enc.cbc_decrypt(&iv_array(iv)?, data),
        }
    }

    fn encrypt(&self, iv: &[u8], data: &mut [u8]) -> Result<()> {
        match self {
            BlockKeys::Tdes { enc, .. } => enc.cbc_encrypt(&iv_array(iv)?, data),
            BlockKeys::Aes { enc, .. } => enc.cbc_encrypt(&iv_array(iv)?, data),
        }
    }
}

fn iv_array<const N: usize>(iv: &[u8]) -> Result<[u8; N]> {
    iv.try_into()
        .map_err(|_| Error::KeyBlock("MAC length does not match the cipher"))
}

fn decimal(text: &str) -> Option<usize> {
    (!text.is_empty() && text.bytes().all(|c| c.is_ascii_digit())).then(|| text.parse().ok())?
}

fn hex_len(text: &str) -> Option<usize> {
    (!text.is_empty() && text.bytes().all(|c| c.is_ascii_hexdigit()))
        .then(|| usize::from_str_radix(text, 16).ok())?
}

/// Parses the optional blocks; returns them and the characters consumed.
fn parse_optional(count: usize, text: &str) -> Result<(Vec<OptionalBlock>, usize)> {
    let bad = Error::KeyBlock("malformed optional block");
    let mut blocks = Vec::new();
    let mut i = 0;
    for _ in 0..count {
        let id = text.get(i..i + 2).ok_or(bad.clone())?;
        let short = text
            .get(i + 2..i + 4)
            .and_then(hex_len)
            .ok_or(bad.clone())?;
        let (data_start, total) = if short != 0 {
            (i + 4, short)
        } else {
            let len_len = text
                .get(i + 4..i + 6)
                .and_then(hex_len)
                .ok_or(bad.clone())?
                * 2;
            if len_len == 0 {
                return Err(bad);
            }
            let total = text
                .get(i + 6..i + 6 + len_len)
                .and_then(hex_len)
                .ok_or(bad.clone())?;
            (i + 6 + len_len, total)
        };
        let data_len = total.checked_sub(data_start - i).ok_or(bad.clone())?;
        let data = text
            .get(data_start..data_start + data_len)
            .ok_or(bad.clone())?;
        if id != "PB" {
            blocks.push(OptionalBlock {
                id: id.to_owned(),
                data: data.to_owned(),
            });
        }
        i = data_start + data_len;
    }
    Ok((blocks, i))
}

/// Parses the header; returns it and the header length in characters.
fn parse_header(block: &str) -> Result<(Header, usize)> {
    let field =
        |r: core::ops::Range<usize>| block.get(r).ok_or(Error::KeyBlock("truncated header"));
    let version = match field(0..1)? {
        "B" => Version::B,
        "D" => Version::D,
        _ => return Err(Error::KeyBlock("unsupported version id (only B and D)")),
    };
    let total = decimal(field(1..5)?).ok_or(Error::KeyBlock("length field is not 4 digits"))?;
    if total != block.len() {
        return Err(Error::KeyBlock("length field does not match the key block"));
    }
    let count = decimal(field(12..14)?).ok_or(Error::KeyBlock("optional block count"))?;
    if field(14..16)? != "00" {
        return Err(Error::KeyBlock("reserved field is not 00"));
    }
    let ch = |i: usize| block.as_bytes()[i] as char;
    let (optional_blocks, opt_len) = parse_optional(count, &block[HEADER_CHARS..])?;
    let header = Header {
        version,
        key_usage: field(5..7)?.to_owned(),
        algorithm: ch(7),
        mode_of_use: ch(8),
        key_version: field(9..11)?.to_owned(),
        exportability: ch(11),
        optional_blocks,
    };
    header.check_fields()?;
    Ok((header, HEADER_CHARS + opt_len))
}

/// Unwraps a version B or D key block: checks the layout, derives the block keys,
/// decrypts, verifies the MAC in constant time, and returns the key with its header.
pub fn unwrap(kbpk: Kbpk<'_>, block: &str) -> Result<Unwrapped> {
    if !block.is_ascii() {
        return Err(Error::KeyBlock("key block is not ASCII"));
    }
    let (header, header_len) = parse_header(block)?;
    let v = header.version;
    if header_len % v.block_bytes() != 0 {
        return Err(Error::KeyBlock(
            "header is not a whole number of cipher blocks",
        ));
    }
    let body = &block[header_len..];
    let mac_chars = v.mac_bytes() * 2;
    if body.len() < mac_chars + v.block_bytes() * 2 {
        return Err(Error::KeyBlock("key data too short"));
    }
    let (data_hex, mac_hex) = body.split_at(body.len() - mac_chars);
    let received = hexutil::decode("key block MAC", mac_hex)?;
    let mut data = hexutil::decode("key block key data", data_hex)?;
    if data.len() % v.block_bytes() != 0 {
        return Err(Error::KeyBlock(
            "key data is not a whole number of cipher blocks",
        ));
    }
    let keys = derive_keys(v, kbpk)?;
    keys.decrypt(&received, &mut data)?;
    let computed = keys.mac(&block.as_bytes()[..header_len], &data);
    if !bool::from(computed.as_slice().ct_eq(received.as_slice())) {
        return Err(Error::MacMismatch);
    }
    let bits = usize::from(u16::from_be_bytes([data[0], data[1]]));
    if bits % 8 != 0 || bits / 8 + 2 > data.len() {
        return Err(Error::KeyBlock("key length field is invalid"));
    }
    let key = Zeroizing::new(data[2..2 + bits / 8].to_vec());
    Ok(Unwrapped { header, key })
}

/// Wraps `key` under `kbpk` with `header`. The key is padded with random bytes from
/// `rng` to `masked_len` bytes (default: the longest key of the header's algorithm, so
/// the block does not reveal the key length).
pub fn wrap(
    kbpk: Kbpk<'_>,
    header: &Header,
    key: &[u8],
    masked_len: Option<usize>,
    rng: &mut impl RngCore,
) -> Result<String> {
    header.check_fields()?;
    let v = header.version;
    let default_mask = match header.algorithm {
        'T' | 'D' => MASK_TDES_BYTES,
        'A' => MASK_AES_BYTES,
        _ => key.len(),
    };
    let masked = masked_len.unwrap_or(default_mask).max(key.len());
    let block = v.block_bytes();
    let clear_len = (2 + masked).next_multiple_of(block);
    let bits = u16::try_from(key.len() * 8).map_err(|_| Error::KeyBlock("key too long"))?;
    let mut clear = Zeroizing::new(vec![0u8; clear_len]);
    clear[..2].copy_from_slice(&bits.to_be_bytes());
    clear[2..2 + key.len()].copy_from_slice(key);
    rng.fill_bytes(&mut clear[2 + key.len()..]);

    let (count, optional) = header.optional_text()?;
    let total = HEADER_CHARS + optional.len() + clear_len * 2 + v.mac_bytes() * 2;
    if total > KEY_BLOCK_CHARS_MAX {
        return Err(Error::KeyBlock("key block longer than 9999 characters"));
    }
    let head = format!(
        "{}{total:04}{}{}{}{}{}{count:02}00{optional}",
        v.id(),
        header.key_usage,
        header.algorithm,
        header.mode_of_use,
        header.key_version,
        header.exportability,
    );
    let keys = derive_keys(v, kbpk)?;
    let mac = keys.mac(head.as_bytes(), &clear);
    let mut data = clear.clone();
    keys.encrypt(&mac, &mut data)?;
    let out = format!(
        "{head}{}{}",
        hexutil::encode_upper(&data),
        hexutil::encode_upper(&mac)
    );
    data.zeroize();
    Ok(out)
}
