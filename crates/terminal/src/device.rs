//! The originating device: one KSN per transaction, counters advanced as the standards
//! say, never wrapped.

use crate::error::TerminalError;
use crate::scheme::{Bdk, KeyId, Scheme};
use crate::transaction::{MacField, Transaction};
use paycrypto::dukpt_aes::{self, AesDukptInitialKey, AesDukptTerminal, AesKsn, InitialKeyId};
use paycrypto::dukpt_tdes::{self, Ipek, Ksn, TdesDukptTerminal};
use paycrypto::{Pan, Pin};
use rand::RngCore;

/// A PIN entered on the PIN pad, with the card's PAN (format 0 and 4 bind the block to
/// it). Both stay in paycrypto's zeroizing, redacting types.
#[derive(Clone, Copy, Debug)]
pub struct PinEntry<'a> {
    pub pin: &'a Pin,
    pub pan: &'a Pan,
}

enum Device {
    Tdes(TdesDukptTerminal),
    Aes(AesDukptTerminal),
}

/// A DUKPT terminal (TDES, AES-128 or AES-256): future-key registers only, one
/// [`Transaction`] per KSN. `Debug` shows the scheme and the next KSN.
pub struct DukptTerminal {
    scheme: Scheme,
    device: Device,
}

impl DukptTerminal {
    /// A TDES device loaded with its IPEK and initial KSN (its counter is ignored; the
    /// first transaction uses counter 1).
    pub fn tdes(ipek: Ipek, initial_ksn: &Ksn) -> Result<DukptTerminal, TerminalError> {
        let device = TdesDukptTerminal::load(ipek, initial_ksn)
            .map_err(TerminalError::crypto("load the TDES DUKPT device"))?;
        Ok(DukptTerminal {
            scheme: Scheme::Tdes,
            device: Device::Tdes(device),
        })
    }

    /// An AES device loaded with its initial key and initial key id. The initial key's
    /// length picks AES-128 or AES-256 working keys (the contract has no AES-192).
    pub fn aes(ik: AesDukptInitialKey, id: InitialKeyId) -> Result<DukptTerminal, TerminalError> {
        let scheme = match ik.key().len() {
            16 => Scheme::Aes128,
            32 => Scheme::Aes256,
            n => return Err(TerminalError::AesKeyLength(n)),
        };
        Ok(DukptTerminal {
            scheme,
            device: Device::Aes(AesDukptTerminal::load(ik, id)),
        })
    }

    /// For test tools: derives the device's initial key from the BDK (X9.24-1 A.6 IPEK,
    /// or the X9.24-3 initial key) and loads it.
    pub fn from_bdk(bdk: &Bdk, key_id: &KeyId) -> Result<DukptTerminal, TerminalError> {
        match (bdk, key_id) {
            (Bdk::Tdes(k), KeyId::Tdes(ksn)) => {
                let ipek = dukpt_tdes::derive_ipek(k, ksn)
                    .map_err(TerminalError::crypto("derive the IPEK"))?;
                DukptTerminal::tdes(ipek, ksn)
            }
            (Bdk::Aes(k), KeyId::Aes(id)) => {
                DukptTerminal::aes(dukpt_aes::derive_initial_key(k, id), *id)
            }
            _ => Err(bdk.mismatch(key_id)),
        }
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The KSN (hex) the next transaction will carry; `None` once exhausted.
    pub fn next_ksn_hex(&self) -> Option<String> {
        match &self.device {
            Device::Tdes(d) => d.next_ksn().map(|k| hex::encode_upper(k.as_bytes())),
            Device::Aes(d) => d.next_ksn().map(|k| hex::encode_upper(k.to_bytes())),
        }
    }

    /// Takes the next KSN (the counter moves on even if the transaction is never sent,
    /// as on a real device) and prepares its fields: the PIN block when `pin` is given,
    /// and the MAC keys. `rng` fills the format 4 PIN field (AES only).
    /// [`TerminalError::CounterExhausted`] after the last usable counter.
    pub fn next_transaction(
        &mut self,
        pin: Option<PinEntry<'_>>,
        mac_field: MacField,
        rng: &mut impl RngCore,
    ) -> Result<Transaction, TerminalError> {
        let exhausted = TerminalError::crypto("take the next DUKPT key");
        match &mut self.device {
            Device::Tdes(d) => {
                let (ksn, key) = d.next_transaction().map_err(exhausted)?;
                Transaction::tdes(&ksn, &key, pin, mac_field)
            }
            Device::Aes(d) => {
                let key = d.next_transaction().map_err(exhausted)?;
                Transaction::aes(self.scheme, &key, pin, mac_field, rng)
            }
        }
    }
}

impl std::fmt::Debug for DukptTerminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DukptTerminal")
            .field("scheme", &self.scheme)
            .field("next_ksn", &self.next_ksn_hex())
            .finish_non_exhaustive()
    }
}

/// For test tools that pick the KSN themselves (`posguard send --ksn`): the transaction
/// for `ksn_hex` (20 hex digits for TDES, 24 for AES), derived host-side from the BDK.
/// A real terminal uses [`DukptTerminal`], which never reuses a KSN.
pub fn transaction_at(
    bdk: &Bdk,
    ksn_hex: &str,
    pin: Option<PinEntry<'_>>,
    mac_field: MacField,
    rng: &mut impl RngCore,
) -> Result<Transaction, TerminalError> {
    match bdk {
        Bdk::Tdes(k) => {
            let ksn = Ksn::from_hex(ksn_hex).map_err(TerminalError::crypto("TDES KSN"))?;
            let ipek = dukpt_tdes::derive_ipek(k, &ksn)
                .map_err(TerminalError::crypto("derive the IPEK"))?;
            let key = dukpt_tdes::derive_transaction_key(&ipek, &ksn)
                .map_err(TerminalError::crypto("derive the TDES transaction key"))?;
            Transaction::tdes(&ksn, &key, pin, mac_field)
        }
        Bdk::Aes(k) => {
            let ksn = AesKsn::from_hex(ksn_hex).map_err(TerminalError::crypto("AES KSN"))?;
            let ik = dukpt_aes::derive_initial_key(k, &ksn.id);
            let key = dukpt_aes::derive_transaction_key(&ik, &ksn)
                .map_err(TerminalError::crypto("derive the AES transaction key"))?;
            Transaction::aes(bdk.scheme(), &key, pin, mac_field, rng)
        }
    }
}
