//! PIN translation: decrypt a PIN block under one key and re-encrypt it under another,
//! as a host does between the terminal link and the issuer zone. The clear PIN exists
//! only inside a zeroizing [`Pin`] local to each function; callers never see it.

use rand::RngCore;

use crate::dukpt_aes::AesTransactionKey;
use crate::dukpt_tdes::TdesTransactionKey;
use crate::error::Result;
use crate::keys::{AES_BLOCK_BYTES, AesKey, DES_BLOCK_BYTES, TdesKey};
use crate::pin::Pan;
use crate::pinblock;
use crate::usage::{Bound, KeyUsage};

/// A format 0 block from a TDES DUKPT terminal, re-encrypted as format 0 under a TDES
/// zone PIN key.
pub fn tdes_dukpt_to_zone_format0(
    transaction: &TdesTransactionKey,
    encrypted: &[u8; DES_BLOCK_BYTES],
    pan: &Pan,
    zone_pin_key: &Bound<TdesKey>,
) -> Result<[u8; DES_BLOCK_BYTES]> {
    let zone = zone_pin_key.require(KeyUsage::PinEncryption)?;
    let dukpt = transaction.pin_key();
    let pin = pinblock::decrypt_format0(dukpt.require(KeyUsage::PinEncryption)?, encrypted, pan)?;
    pinblock::encrypt_format0(zone, &pin, pan)
}

/// Format 0 under a TDES key to format 4 under an AES key (fill from `rng`).
pub fn format0_to_format4(
    source: &Bound<TdesKey>,
    encrypted: &[u8; DES_BLOCK_BYTES],
    pan: &Pan,
    destination: &Bound<AesKey>,
    rng: &mut impl RngCore,
) -> Result<[u8; AES_BLOCK_BYTES]> {
    let src = source.require(KeyUsage::PinEncryption)?;
    let dst = destination.require(KeyUsage::PinEncryption)?;
    let pin = pinblock::decrypt_format0(src, encrypted, pan)?;
    Ok(pinblock::encipher_format4(dst, &pin, pan, rng))
}

/// Format 4 under an AES key to format 0 under a TDES key.
pub fn format4_to_format0(
    source: &Bound<AesKey>,
    encrypted: &[u8; AES_BLOCK_BYTES],
    pan: &Pan,
    destination: &Bound<TdesKey>,
) -> Result<[u8; DES_BLOCK_BYTES]> {
    let src = source.require(KeyUsage::PinEncryption)?;
    let dst = destination.require(KeyUsage::PinEncryption)?;
    let pin = pinblock::decipher_format4(src, encrypted, pan)?;
    pinblock::encrypt_format0(dst, &pin, pan)
}

/// Convenience for AES DUKPT hosts: derive the AES-128 PIN key of `transaction` and
/// translate its format 4 block to format 0 under the zone key.
pub fn aes_dukpt_to_zone_format0(
    transaction: &AesTransactionKey,
    encrypted: &[u8; AES_BLOCK_BYTES],
    pan: &Pan,
    zone_pin_key: &Bound<TdesKey>,
) -> Result<[u8; DES_BLOCK_BYTES]> {
    let pin_key = transaction.aes_working_key(
        crate::dukpt_aes::WorkingKeyUsage::PinEncryption,
        crate::dukpt_aes::KeyType::Aes128,
    )?;
    format4_to_format0(&pin_key, encrypted, pan, zone_pin_key)
}
