//! One KSN's fields and keys: signing a request, verifying its answer.
//!
//! The MAC (docs/terminal-security.md): the message is encoded with 16 `0` characters in
//! the MAC field, which must be its last field; the MAC covers the bytes from the first
//! byte of the MTI (after any header) up to the MAC field's data, and its 16 upper-case
//! hex digits then replace the zeros. TDES: ISO 9797-1 algorithm 3, padding method 1,
//! under the request variant (responses: the response variant). AES: AES-CMAC cut to 8
//! bytes under the MAC Generation working key (responses: MAC Verification).

use crate::device::PinEntry;
use crate::error::TerminalError;
use crate::scheme::Scheme;
use iso8583::{Message, MessageBuilder, Spec};
use paycrypto::dukpt_aes::{AesTransactionKey, KeyType, WorkingKeyUsage};
use paycrypto::dukpt_tdes::{Ksn, TdesTransactionKey};
use paycrypto::mac::{self, Padding};
use paycrypto::{AesKey, Bound, KeyUsage, TdesKey, pinblock};
use rand::RngCore;

/// A MAC on the wire: 8 bytes as 16 hex digits.
pub const MAC_HEX_LEN: usize = 16;
/// What the MAC field holds while the MAC is computed.
pub const MAC_PLACEHOLDER: &str = "0000000000000000";
const MAC_BYTES: usize = MAC_HEX_LEN / 2;
/// Fields of the secondary bitmap that may precede a MAC in field 128.
const SECONDARY_FIELDS: std::ops::RangeInclusive<u8> = 66..=127;

/// The profile's `mac_field`. The MAC is always the message's last field, so a message
/// with any field from 65 to 127 (a reversal's field 90, an AES PIN block in 110)
/// carries it in 128 whatever the profile prefers, as ISO 8583 does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MacField {
    /// Field 64 when the message has no secondary-bitmap fields, else 128.
    #[default]
    F64,
    /// Always field 128.
    F128,
}

impl MacField {
    /// From the profile's number (64 or 128).
    pub fn from_number(n: u16) -> Option<MacField> {
        match n {
            64 => Some(MacField::F64),
            128 => Some(MacField::F128),
            _ => None,
        }
    }

    /// The profile's number.
    pub fn number(self) -> u8 {
        match self {
            MacField::F64 => 64,
            MacField::F128 => 128,
        }
    }

    /// The field a message carries its MAC in.
    fn for_message(self, has_secondary_fields: bool) -> u8 {
        if has_secondary_fields {
            128
        } else {
            self.number()
        }
    }
}

/// A MAC key bound to its one direction.
#[derive(Clone, Debug)]
enum MacKey {
    Tdes(Bound<TdesKey>),
    Aes(Bound<AesKey>),
}

impl MacKey {
    fn generate(&self, data: &[u8]) -> Result<[u8; MAC_BYTES], TerminalError> {
        let usage = TerminalError::crypto("MAC key");
        let mut out = [0u8; MAC_BYTES];
        match self {
            MacKey::Tdes(k) => {
                let key = k.require(KeyUsage::MacGenerate).map_err(usage)?;
                out = mac::retail_mac(key, data, Padding::Method1);
            }
            MacKey::Aes(k) => {
                let key = k.require(KeyUsage::MacGenerate).map_err(usage)?;
                out.copy_from_slice(&mac::aes_cmac(key, data)[..MAC_BYTES]);
            }
        }
        Ok(out)
    }

    /// Constant-time check of a received 8-byte MAC.
    fn verify(&self, data: &[u8], received: &[u8]) -> Result<(), TerminalError> {
        let result = match self {
            MacKey::Tdes(k) => mac::verify_retail_mac(k, data, Padding::Method1, received),
            MacKey::Aes(k) => mac::verify_aes_cmac(k, data, received),
        };
        result.map_err(|_| TerminalError::MacInvalid)
    }
}

/// Everything one KSN's messages carry: field 62, the encrypted PIN block if a PIN was
/// entered, and the MAC keys. Sign a repeat (MTI ...1) with the same `Transaction`: it
/// keeps the KSN and PIN block of the original. `Debug` shows the KSN only.
#[derive(Clone)]
pub struct Transaction {
    scheme: Scheme,
    ksn_hex: String,
    pin_block_hex: Option<String>,
    mac_field: MacField,
    request_key: MacKey,
    response_key: MacKey,
}

impl Transaction {
    pub(crate) fn tdes(
        ksn: &Ksn,
        key: &TdesTransactionKey,
        pin: Option<PinEntry<'_>>,
        mac_field: MacField,
    ) -> Result<Transaction, TerminalError> {
        let pin_block_hex = match pin {
            Some(entry) => {
                let pin_key = key.pin_key();
                let k = pin_key
                    .require(KeyUsage::PinEncryption)
                    .map_err(TerminalError::crypto("PIN key"))?;
                let block = pinblock::encrypt_format0(k, entry.pin, entry.pan)
                    .map_err(TerminalError::crypto("format 0 PIN block"))?;
                Some(hex::encode_upper(block))
            }
            None => None,
        };
        Ok(Transaction {
            scheme: Scheme::Tdes,
            ksn_hex: hex::encode_upper(ksn.as_bytes()),
            pin_block_hex,
            mac_field,
            request_key: MacKey::Tdes(key.mac_request_key()),
            response_key: MacKey::Tdes(key.mac_response_key()),
        })
    }

    pub(crate) fn aes(
        scheme: Scheme,
        key: &AesTransactionKey,
        pin: Option<PinEntry<'_>>,
        mac_field: MacField,
        rng: &mut impl RngCore,
    ) -> Result<Transaction, TerminalError> {
        let key_type = if scheme == Scheme::Aes256 {
            KeyType::Aes256
        } else {
            KeyType::Aes128
        };
        let working = |usage| {
            key.aes_working_key(usage, key_type)
                .map_err(TerminalError::crypto("AES DUKPT working key"))
        };
        let pin_block_hex = match pin {
            Some(entry) => {
                let pin_key = working(WorkingKeyUsage::PinEncryption)?;
                let k = pin_key
                    .require(KeyUsage::PinEncryption)
                    .map_err(TerminalError::crypto("PIN key"))?;
                let block = pinblock::encipher_format4(k, entry.pin, entry.pan, rng);
                Some(hex::encode_upper(block))
            }
            None => None,
        };
        Ok(Transaction {
            scheme,
            ksn_hex: hex::encode_upper(key.ksn().to_bytes()),
            pin_block_hex,
            mac_field,
            request_key: MacKey::Aes(working(WorkingKeyUsage::MacGenerate)?),
            response_key: MacKey::Aes(working(WorkingKeyUsage::MacVerify)?),
        })
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Field 62: the KSN in upper-case hex (20 digits TDES, 24 AES).
    pub fn ksn_hex(&self) -> &str {
        &self.ksn_hex
    }

    /// The encrypted PIN block's field (52 or 110) and hex, if a PIN was entered.
    pub fn pin_block(&self) -> Option<(u8, &str)> {
        self.pin_block_hex
            .as_deref()
            .map(|b| (self.scheme.pin_field(), b))
    }

    pub fn mac_field(&self) -> MacField {
        self.mac_field
    }

    /// Sets field 62, the PIN block (if any) and the MAC field of `msg`, encodes it and
    /// appends the signed message to `out` (as `MessageBuilder::encode_into` does).
    /// The MAC goes in 64 or 128 (see [`MacField`]); a MAC field left over from an earlier
    /// signing is replaced. On error `out` is left as it was.
    pub fn sign_request<'v>(
        &'v self,
        msg: &mut MessageBuilder<'v>,
        spec: &Spec,
        out: &mut Vec<u8>,
    ) -> Result<PendingResponse, TerminalError> {
        msg.set(62, self.ksn_hex.as_str());
        if let Some((n, block)) = self.pin_block() {
            msg.set(n, block);
        }
        msg.remove(64).remove(128);
        let secondary = SECONDARY_FIELDS.into_iter().any(|n| msg.has(n));
        msg.set(self.mac_field.for_message(secondary), MAC_PLACEHOLDER);
        let start = out.len();
        msg.encode_into(spec, out)?;
        if let Err(e) = self.seal(spec, &mut out[start..]) {
            out.truncate(start);
            return Err(e);
        }
        Ok(self.pending_response())
    }

    /// Computes the request MAC of an encoded message whose last field is the MAC field
    /// (64 or 128, holding 16 hex characters, e.g. [`MAC_PLACEHOLDER`]) and writes it
    /// there. For messages built with `Spec::writer`: write 62, the PIN block and the
    /// placeholder in field order, then seal.
    pub fn seal(&self, spec: &Spec, body: &mut [u8]) -> Result<(), TerminalError> {
        let (mac_input, slot) = {
            let msg = spec.decode(body)?;
            mac_layout(&msg)?.ok_or(TerminalError::MacEncoding(self.mac_field.number()))?
        };
        let mac = self.request_key.generate(&body[mac_input])?;
        body[slot].copy_from_slice(hex::encode_upper(mac).as_bytes());
        Ok(())
    }

    /// What verifies the answer to a request signed with this transaction's KSN.
    pub fn pending_response(&self) -> PendingResponse {
        PendingResponse {
            key: self.response_key.clone(),
        }
    }
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("scheme", &self.scheme)
            .field("ksn", &self.ksn_hex)
            .field("pin_block", &self.pin_block_hex.is_some())
            .field("mac_field", &self.mac_field)
            .finish_non_exhaustive()
    }
}

/// Verifies the host's answer to one signed request: same KSN, the response direction's
/// key (TDES response variant, AES MAC Verification).
#[derive(Clone)]
pub struct PendingResponse {
    key: MacKey,
}

impl PendingResponse {
    /// Checks the MAC of a decoded response (field 128 if present, else 64; it must be
    /// the last field), in constant time.
    pub fn verify_response(&self, response: &Message<'_>) -> Result<(), TerminalError> {
        let Some((mac_input, slot)) = mac_layout(response)? else {
            return Err(TerminalError::MacMissing);
        };
        let body = response.as_bytes();
        let mut received = [0u8; MAC_BYTES];
        hex::decode_to_slice(&body[slot], &mut received).map_err(|_| TerminalError::MacInvalid)?;
        self.key.verify(&body[mac_input], &received)
    }

    /// [`Self::verify_response`] on an undecoded response body (without framing).
    pub fn verify_response_bytes(&self, spec: &Spec, body: &[u8]) -> Result<(), TerminalError> {
        self.verify_response(&spec.decode(body)?)
    }
}

impl std::fmt::Debug for PendingResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingResponse(<keys redacted>)")
    }
}

type Span = std::ops::Range<usize>;

/// Where the MAC input and the MAC's 16 hex characters lie in `msg`'s bytes. `None`
/// when the message has neither field 64 nor 128.
fn mac_layout(msg: &Message<'_>) -> Result<Option<(Span, Span)>, TerminalError> {
    let n = match (msg.has(128), msg.has(64)) {
        (true, _) => 128,
        (false, true) => 64,
        (false, false) => return Ok(None),
    };
    let body = msg.as_bytes();
    let offset = |inner: &[u8]| inner.as_ptr() as usize - body.as_ptr() as usize;
    let data = msg.field(n).ok_or(TerminalError::MacMissing)?;
    let at = offset(data);
    if msg.fields().last() != Some(n) || at + data.len() != body.len() {
        return Err(TerminalError::MacNotLast(n));
    }
    if data.len() != MAC_HEX_LEN || !data.iter().all(u8::is_ascii_hexdigit) {
        return Err(TerminalError::MacEncoding(n));
    }
    let mti_at = offset(msg.mti_bytes());
    Ok(Some((mti_at..at, at..body.len())))
}
