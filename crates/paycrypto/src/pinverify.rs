//! PIN verification: IBM 3624 PIN offset and Visa PVV.

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::error::{Error, Result};
use crate::keys::{DES_BLOCK_BYTES, DesBlockCipher, TdesKey};
use crate::pin::{Pan, Pin};
use crate::usage::{Bound, KeyUsage};

/// Hex digits of IBM 3624 validation data (one DES block).
pub const VALIDATION_DATA_DIGITS: usize = 16;
/// Digits of a Visa PVV.
pub const PVV_DIGITS: usize = 4;
/// PAN digits the Visa TSP uses: the 11 rightmost excluding the check digit.
const PVV_PAN_DIGITS: usize = 11;

/// A decimalisation table: maps each hex nibble 0..F of the encrypted validation data
/// to a decimal digit.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DecimalisationTable([u8; 16]);

impl DecimalisationTable {
    /// The common table "0123456789012345".
    pub const DEFAULT: Self = Self([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5]);

    /// Parses 16 decimal digits.
    pub fn new(text: &str) -> Result<Self> {
        let b = text.as_bytes();
        if b.len() != 16 || !b.iter().all(u8::is_ascii_digit) {
            return Err(Error::Decimal {
                what: "decimalisation table",
            });
        }
        let mut t = [0u8; 16];
        for (o, c) in t.iter_mut().zip(b) {
            *o = c - b'0';
        }
        Ok(Self(t))
    }
}

/// IBM 3624 validation data: up to 16 hex digits (usually PAN digits), right-padded to
/// 16 with a pad nibble, as one DES block.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ValidationData([u8; DES_BLOCK_BYTES]);

impl ValidationData {
    /// Builds validation data from up to 16 hex digits and a pad hex digit.
    pub fn new(digits: &str, pad: char) -> Result<Self> {
        let what = "IBM 3624 validation data";
        let pad = pad.to_digit(16).ok_or(Error::Hex { what })?;
        if digits.len() > VALIDATION_DATA_DIGITS {
            return Err(Error::Length {
                what,
                expected: "at most 16 hex digits",
                got: digits.len(),
            });
        }
        let mut n = [u8::try_from(pad).expect("nibble"); VALIDATION_DATA_DIGITS];
        for (o, c) in n.iter_mut().zip(digits.chars()) {
            *o = u8::try_from(c.to_digit(16).ok_or(Error::Hex { what })?).expect("nibble");
        }
        let mut out = [0u8; DES_BLOCK_BYTES];
        for (i, o) in out.iter_mut().enumerate() {
            *o = (n[2 * i] << 4) | n[2 * i + 1];
        }
        Ok(Self(out))
    }

    /// Validation data from `len` PAN digits starting at `offset` (psec's convention).
    pub fn from_pan(pan: &Pan, offset: usize, len: usize, pad: char) -> Result<Self> {
        let end = offset
            .checked_add(len)
            .filter(|&e| e <= pan.len())
            .ok_or(Error::Parameter(
                "validation data range lies outside the PAN",
            ))?;
        let digits: String = pan.digits()[offset..end]
            .iter()
            .map(|d| char::from(b'0' + d))
            .collect();
        Self::new(&digits, pad)
    }
}

/// The "natural PIN" digits: decimalised E(PVK, validation data), first `len` digits.
fn natural_pin(pvk: &TdesKey, table: &DecimalisationTable, data: &ValidationData) -> [u8; 16] {
    let enc = pvk.encrypt_block(&data.0);
    let mut out = [0u8; 16];
    for (i, b) in enc.iter().enumerate() {
        out[2 * i] = table.0[usize::from(b >> 4)];
        out[2 * i + 1] = table.0[usize::from(b & 0xF)];
    }
    out
}

/// An IBM 3624 PIN offset: as many decimal digits as the PIN.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PinOffset(Vec<u8>);

impl PinOffset {
    /// Parses 4 to 12 decimal digits.
    pub fn new(text: &str) -> Result<Self> {
        let b = text.as_bytes();
        if !(4..=12).contains(&b.len()) || !b.iter().all(u8::is_ascii_digit) {
            return Err(Error::Decimal { what: "PIN offset" });
        }
        Ok(Self(b.iter().map(|c| c - b'0').collect()))
    }

    /// The offset as ASCII digits.
    pub fn to_ascii(&self) -> String {
        self.0.iter().map(|d| char::from(b'0' + d)).collect()
    }
}

/// IBM 3624: offset digit i = (PIN digit i - natural PIN digit i) mod 10, for the whole
/// PIN length (PIN check length = PIN length).
pub fn ibm3624_offset(
    pvk: &TdesKey,
    table: &DecimalisationTable,
    data: &ValidationData,
    pin: &Pin,
) -> PinOffset {
    let mut natural = natural_pin(pvk, table, data);
    let offset = pin
        .expose_digits()
        .iter()
        .zip(natural.iter())
        .map(|(p, n)| (10 + p - n) % 10)
        .collect();
    natural.zeroize();
    PinOffset(offset)
}

/// IBM 3624 verification: recomputes the offset from the candidate PIN and compares in
/// constant time. The PVK must be bound to IBM 3624 verification.
pub fn ibm3624_verify(
    pvk: &Bound<TdesKey>,
    table: &DecimalisationTable,
    data: &ValidationData,
    pin: &Pin,
    offset: &PinOffset,
) -> Result<()> {
    let pvk = pvk.require(KeyUsage::PinVerificationIbm3624)?;
    let mut computed = ibm3624_offset(pvk, table, data, pin);
    let ok = computed.0.len() == offset.0.len() && bool::from(computed.0.ct_eq(&offset.0));
    computed.0.zeroize();
    if ok { Ok(()) } else { Err(Error::PinMismatch) }
}

/// A Visa PIN verification value: 4 decimal digits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Pvv(pub [u8; PVV_DIGITS]);

impl Pvv {
    /// Parses 4 decimal digits.
    pub fn new(text: &str) -> Result<Self> {
        let b = text.as_bytes();
        if b.len() != PVV_DIGITS || !b.iter().all(u8::is_ascii_digit) {
            return Err(Error::Decimal { what: "PVV" });
        }
        Ok(Self([b[0] - b'0', b[1] - b'0', b[2] - b'0', b[3] - b'0']))
    }

    /// The PVV as ASCII digits.
    pub fn to_ascii(&self) -> String {
        self.0.iter().map(|d| char::from(b'0' + d)).collect()
    }
}

/// Visa PVV: TSP = 11 rightmost PAN digits excluding the check digit || PVKI || the
/// leftmost 4 PIN digits; encrypt under the PVK; take the first 4 decimal nibbles of
/// the result, then, if short, the A-F nibbles minus 10, left to right.
pub fn visa_pvv(pvk: &TdesKey, pan: &Pan, pvki: u8, pin: &Pin) -> Result<Pvv> {
    if pvki > 9 {
        return Err(Error::Decimal { what: "PVKI" });
    }
    pan.require_len(PVV_PAN_DIGITS + 1)?;
    let body = &pan.digits()[..pan.len() - 1];
    let mut tsp = [0u8; 16];
    tsp[..PVV_PAN_DIGITS].copy_from_slice(&body[body.len() - PVV_PAN_DIGITS..]);
    tsp[PVV_PAN_DIGITS] = pvki;
    tsp[PVV_PAN_DIGITS + 1..].copy_from_slice(&pin.expose_digits()[..PVV_DIGITS]);
    let mut block = [0u8; DES_BLOCK_BYTES];
    for (i, o) in block.iter_mut().enumerate() {
        *o = (tsp[2 * i] << 4) | tsp[2 * i + 1];
    }
    tsp.zeroize();
    let enc = pvk.encrypt_block(&block);
    block.zeroize();
    let nibbles = enc.iter().flat_map(|b| [b >> 4, b & 0xF]);
    let decimal = nibbles.clone().filter(|&n| n < 10);
    let letters = nibbles.filter(|&n| n >= 10).map(|n| n - 10);
    let mut pvv = [0u8; PVV_DIGITS];
    for (o, d) in pvv.iter_mut().zip(decimal.chain(letters)) {
        *o = d;
    }
    Ok(Pvv(pvv))
}

/// Visa PVV verification in constant time; the PVK must be bound to Visa PVV.
pub fn visa_pvv_verify(
    pvk: &Bound<TdesKey>,
    pan: &Pan,
    pvki: u8,
    pin: &Pin,
    pvv: &Pvv,
) -> Result<()> {
    let pvk = pvk.require(KeyUsage::PinVerificationVisaPvv)?;
    let computed = visa_pvv(pvk, pan, pvki, pin)?;
    if bool::from(computed.0.ct_eq(&pvv.0)) {
        Ok(())
    } else {
        Err(Error::PinMismatch)
    }
}
