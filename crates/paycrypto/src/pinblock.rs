//! ISO 9564-1 PIN blocks, formats 0, 1, 3 (8-byte, TDES) and 4 (16-byte, AES).
//!
//! Randomness for fill digits comes from the caller's RNG, never a global, so tests and
//! replays are deterministic.

use rand::RngCore;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{Error, Result};
use crate::hexutil;
use crate::keys::{AES_BLOCK_BYTES, AesKey, DES_BLOCK_BYTES, DesBlockCipher, TdesKey};
use crate::pin::{PIN_DIGITS_MAX, PIN_DIGITS_MIN, Pan, Pin};

/// Shortest PAN accepted for formats 0 and 3 (ISO/IEC 7812-1 PANs are 8 to 19 digits);
/// shorter PANs are left-padded with zeros per ISO 9564-1, but a PAN that short is an
/// input error in posguard. Format 4 takes 1 to 19 digits, as ISO 9564-1 allows.
pub const PAN_DIGITS_MIN_FORMAT0: usize = 8;
/// PAN digits format 0 and 3 use: the rightmost 12 excluding the check digit.
const PAN_FIELD_DIGITS: usize = 12;
/// Nibbles in an 8-byte block.
const NIBBLES_8: usize = 16;
/// Fill nibble of formats 0 and 2.
const FILL_F: u8 = 0xF;
/// Fill nibble of the format 4 PIN field.
const FILL_A: u8 = 0xA;

/// A clear 8-byte PIN block (formats 0, 1, 3). Zeroized on drop, never printed.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct PinBlock([u8; DES_BLOCK_BYTES]);

impl PinBlock {
    /// Wraps 8 clear bytes.
    pub fn from_bytes(bytes: [u8; DES_BLOCK_BYTES]) -> Self {
        Self(bytes)
    }

    /// Parses 16 hex digits.
    pub fn from_hex(text: &str) -> Result<Self> {
        hexutil::decode_array("PIN block", text).map(PinBlock)
    }

    /// The clear bytes.
    pub fn expose_bytes(&self) -> &[u8; DES_BLOCK_BYTES] {
        &self.0
    }

    /// The ISO 9564 format (control nibble).
    pub fn format(&self) -> u8 {
        self.0[0] >> 4
    }

    /// TDES-ECB encryption under a PIN key.
    pub fn encrypt(&self, key: &TdesKey) -> [u8; DES_BLOCK_BYTES] {
        key.encrypt_block(&self.0)
    }

    /// TDES-ECB decryption of an encrypted block.
    pub fn decrypt(key: &TdesKey, encrypted: &[u8; DES_BLOCK_BYTES]) -> Self {
        Self(key.decrypt_block(encrypted))
    }
}

impl core::fmt::Debug for PinBlock {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PinBlock(format {}, <redacted>)", self.format())
    }
}

/// A clear 16-byte format 4 plaintext PIN field. Zeroized on drop, never printed.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct PinField([u8; AES_BLOCK_BYTES]);

impl PinField {
    /// The clear bytes.
    pub fn expose_bytes(&self) -> &[u8; AES_BLOCK_BYTES] {
        &self.0
    }
}

impl core::fmt::Debug for PinField {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PinField(<redacted>)")
    }
}

fn pack(nibbles: &[u8]) -> impl Iterator<Item = u8> + '_ {
    nibbles.chunks_exact(2).map(|p| (p[0] << 4) | p[1])
}

fn unpack(bytes: &[u8], out: &mut [u8]) {
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = b >> 4;
        out[2 * i + 1] = b & 0xF;
    }
}

/// Control nibble, length nibble, PIN digits, then `fill(i)` for the rest.
fn pin_nibbles(control: u8, pin: &Pin, mut fill: impl FnMut() -> u8) -> [u8; NIBBLES_8] {
    let mut n = [0u8; NIBBLES_8];
    n[0] = control;
    n[1] = u8::try_from(pin.len()).expect("PIN length <= 12");
    n[2..2 + pin.len()].copy_from_slice(pin.expose_digits());
    for slot in &mut n[2 + pin.len()..] {
        *slot = fill();
    }
    n
}

/// Format 0/3 PAN field: four zero nibbles, then the 12 rightmost PAN digits excluding
/// the check digit, right-justified with zeros.
fn pan_field_format0(pan: &Pan) -> Result<[u8; DES_BLOCK_BYTES]> {
    pan.require_len(PAN_DIGITS_MIN_FORMAT0)?;
    let body = &pan.digits()[..pan.len() - 1];
    let used = &body[body.len().saturating_sub(PAN_FIELD_DIGITS)..];
    let mut n = [0u8; NIBBLES_8];
    n[NIBBLES_8 - used.len()..].copy_from_slice(used);
    let mut out = [0u8; DES_BLOCK_BYTES];
    for (o, b) in out.iter_mut().zip(pack(&n)) {
        *o = b;
    }
    Ok(out)
}

fn to_block(nibbles: &[u8; NIBBLES_8]) -> [u8; DES_BLOCK_BYTES] {
    let mut out = [0u8; DES_BLOCK_BYTES];
    for (o, b) in out.iter_mut().zip(pack(nibbles)) {
        *o = b;
    }
    out
}

fn xor8(a: &mut [u8; DES_BLOCK_BYTES], b: &[u8; DES_BLOCK_BYTES]) {
    hexutil::xor_in_place(a, b);
}

/// A random nibble in A..=F (format 3 fill). The bias of `% 6` on 32 bits is < 2^-29.
fn random_af(rng: &mut impl RngCore) -> u8 {
    0xA + u8::try_from(rng.next_u32() % 6).expect("< 6")
}

/// Format 0: PIN field XOR PAN field, fill F.
pub fn encode_format0(pin: &Pin, pan: &Pan) -> Result<PinBlock> {
    let mut block = to_block(&pin_nibbles(0, pin, || FILL_F));
    xor8(&mut block, &pan_field_format0(pan)?);
    Ok(PinBlock(block))
}

/// Format 1: no PAN; fill is a unique or random "transaction field" of any nibbles.
pub fn encode_format1(pin: &Pin, rng: &mut impl RngCore) -> PinBlock {
    let mut fill = [0u8; DES_BLOCK_BYTES];
    rng.fill_bytes(&mut fill);
    let mut nibbles = [0u8; NIBBLES_8];
    unpack(&fill, &mut nibbles);
    let mut i = 0;
    let block = to_block(&pin_nibbles(1, pin, || {
        i += 1;
        nibbles[i]
    }));
    fill.zeroize();
    PinBlock(block)
}

/// Format 3: as format 0 with random fill nibbles A-F.
pub fn encode_format3(pin: &Pin, pan: &Pan, rng: &mut impl RngCore) -> Result<PinBlock> {
    let pan_field = pan_field_format0(pan)?;
    let mut block = to_block(&pin_nibbles(3, pin, || random_af(rng)));
    xor8(&mut block, &pan_field);
    Ok(PinBlock(block))
}

/// Checks control and length nibbles and digit nibbles; returns the PIN and the fill.
fn split_pin(nibbles: &[u8], control: u8) -> Result<(Pin, &[u8])> {
    if nibbles[0] != control {
        return Err(Error::PinBlockFormat {
            expected: control,
            found: nibbles[0],
        });
    }
    let len = usize::from(nibbles[1]);
    if !(PIN_DIGITS_MIN..=PIN_DIGITS_MAX).contains(&len) {
        return Err(Error::PinBlock("PIN length nibble outside 4..12"));
    }
    let pin = Pin::from_digit_values(&nibbles[2..2 + len])
        .map_err(|_| Error::PinBlock("non-decimal PIN digit"))?;
    Ok((pin, &nibbles[2 + len..]))
}

fn decode_with_pan(block: &PinBlock, pan: &Pan, control: u8) -> Result<(Pin, bool)> {
    let mut clear = block.0;
    xor8(&mut clear, &pan_field_format0(pan)?);
    let mut nibbles = [0u8; NIBBLES_8];
    unpack(&clear, &mut nibbles);
    clear.zeroize();
    let result = split_pin(&nibbles, control).map(|(pin, fill)| {
        let fill_ok = match control {
            0 => fill.iter().all(|&n| n == FILL_F),
            _ => fill.iter().all(|&n| n >= 0xA),
        };
        (pin, fill_ok)
    });
    nibbles.zeroize();
    result
}

/// Decodes a clear format 0 block for `pan`: control 0, length 4-12, digits, fill F.
pub fn decode_format0(block: &PinBlock, pan: &Pan) -> Result<Pin> {
    match decode_with_pan(block, pan, 0)? {
        (pin, true) => Ok(pin),
        _ => Err(Error::PinBlock("format 0 fill is not all F")),
    }
}

/// Decodes a clear format 1 block (fill unchecked: any nibble is allowed).
pub fn decode_format1(block: &PinBlock) -> Result<Pin> {
    let mut nibbles = [0u8; NIBBLES_8];
    unpack(&block.0, &mut nibbles);
    let result = split_pin(&nibbles, 1).map(|(pin, _)| pin);
    nibbles.zeroize();
    result
}

/// Decodes a clear format 3 block for `pan`: fill nibbles must be A-F.
pub fn decode_format3(block: &PinBlock, pan: &Pan) -> Result<Pin> {
    match decode_with_pan(block, pan, 3)? {
        (pin, true) => Ok(pin),
        _ => Err(Error::PinBlock("format 3 fill is not A-F")),
    }
}

/// TDES-encrypts a format 0 block: the usual zone and DUKPT PIN encryption.
pub fn encrypt_format0(key: &TdesKey, pin: &Pin, pan: &Pan) -> Result<[u8; DES_BLOCK_BYTES]> {
    Ok(encode_format0(pin, pan)?.encrypt(key))
}

/// Decrypts and decodes a format 0 block.
pub fn decrypt_format0(key: &TdesKey, encrypted: &[u8; DES_BLOCK_BYTES], pan: &Pan) -> Result<Pin> {
    decode_format0(&PinBlock::decrypt(key, encrypted), pan)
}

/// Format 4 plaintext PIN field: 4, length, digits, fill A to nibble 16, then 8 random
/// bytes.
pub fn encode_format4_pin_field(pin: &Pin, rng: &mut impl RngCore) -> PinField {
    let mut field = [0u8; AES_BLOCK_BYTES];
    field[..DES_BLOCK_BYTES].copy_from_slice(&to_block(&pin_nibbles(4, pin, || FILL_A)));
    rng.fill_bytes(&mut field[DES_BLOCK_BYTES..]);
    PinField(field)
}

/// Decodes a format 4 PIN field; the random half is not checked.
pub fn decode_format4_pin_field(field: &PinField) -> Result<Pin> {
    let mut nibbles = [0u8; NIBBLES_8];
    unpack(&field.0[..DES_BLOCK_BYTES], &mut nibbles);
    let result = split_pin(&nibbles, 4).and_then(|(pin, fill)| {
        if fill.iter().all(|&n| n == FILL_A) {
            Ok(pin)
        } else {
            Err(Error::PinBlock("format 4 fill is not all A"))
        }
    });
    nibbles.zeroize();
    result
}

/// Format 4 plaintext PAN field: length nibble m (PAN length - 12, or 0 below 12
/// digits), the PAN right-justified in 12 digits (zero-padded on the left when short),
/// any further digits, then zero fill.
pub fn format4_pan_field(pan: &Pan) -> [u8; AES_BLOCK_BYTES] {
    let mut n = [0u8; 2 * AES_BLOCK_BYTES];
    let len = pan.len();
    n[0] = u8::try_from(len.saturating_sub(PAN_FIELD_DIGITS)).expect("<= 7");
    let start = 1 + PAN_FIELD_DIGITS.saturating_sub(len);
    n[start..start + len].copy_from_slice(pan.digits());
    let mut out = [0u8; AES_BLOCK_BYTES];
    for (o, b) in out.iter_mut().zip(pack(&n)) {
        *o = b;
    }
    out
}

/// Format 4 enciphering (ISO 9564-1 9.4.2): C = E(K, E(K, PIN field) XOR PAN field).
pub fn encipher_format4(
    key: &AesKey,
    pin: &Pin,
    pan: &Pan,
    rng: &mut impl RngCore,
) -> [u8; AES_BLOCK_BYTES] {
    let field = encode_format4_pin_field(pin, rng);
    encipher_format4_field(key, &field, pan)
}

/// Format 4 enciphering of an already encoded PIN field.
pub fn encipher_format4_field(key: &AesKey, field: &PinField, pan: &Pan) -> [u8; AES_BLOCK_BYTES] {
    let pan_field = format4_pan_field(pan);
    let mut block = field.0;
    key.with_encryptor(|cipher| {
        cipher.apply(&mut block);
        hexutil::xor_in_place(&mut block, &pan_field);
        cipher.apply(&mut block);
    });
    block
}

/// Format 4 deciphering: PIN field = D(K, D(K, C) XOR PAN field), then decode.
pub fn decipher_format4(key: &AesKey, block: &[u8; AES_BLOCK_BYTES], pan: &Pan) -> Result<Pin> {
    let pan_field = format4_pan_field(pan);
    let mut b = *block;
    key.with_decryptor(|cipher| {
        cipher.apply(&mut b);
        hexutil::xor_in_place(&mut b, &pan_field);
        cipher.apply(&mut b);
    });
    let field = PinField(b);
    b.zeroize();
    decode_format4_pin_field(&field)
}
