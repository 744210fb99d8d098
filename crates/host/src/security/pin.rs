//! PIN verification data for cards the stand-in issuer holds, and the check itself.
//! Only verification values (Visa PVV, IBM 3624 offset) are stored, never a PIN.

use engine::PinCheck;
use paycrypto::pinverify::{self, DecimalisationTable, PinOffset, Pvv, ValidationData};
use paycrypto::{Bound, KeyUsage, Pin, TdesKey};
use serde::{Deserialize, Serialize};

/// Meta key prefix of a card's PIN verification record (`pin:<card token>`).
pub const PIN_META_PREFIX: &str = "pin:";
/// IBM 3624: the usual decimalisation table, and the validation data (the PAN's 12
/// rightmost digits before the check digit) padded with `F`.
pub const IBM3624_DECIMALISATION: &str = "0123456789012345";
const IBM3624_VALIDATION_DIGITS: usize = 12;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum PinRecord {
    /// Visa PVV under the host's PVV key (keystore `pin-verify-pvv`).
    Pvv { pvki: u8, pvv: String },
    /// IBM 3624 offset under the host's IBM key (keystore `pin-verify-ibm3624`).
    Ibm3624 { offset: String },
}

impl PinRecord {
    pub fn validate(&self) -> Result<(), String> {
        match self {
            PinRecord::Pvv { pvki, pvv } => {
                if *pvki > 9 {
                    return Err("pvki must be 0..9".into());
                }
                Pvv::new(pvv)
                    .map(|_| ())
                    .map_err(|_| "pvv must be 4 digits".into())
            }
            PinRecord::Ibm3624 { offset } => PinOffset::new(offset)
                .map(|_| ())
                .map_err(|_| "offset must be 4 to 12 digits".into()),
        }
    }

    /// The record for a PIN chosen at provisioning: its Visa PVV (PVKI 1).
    pub fn pvv_of(pvk: &TdesKey, pan: &paycrypto::Pan, pin: &Pin) -> Result<PinRecord, String> {
        const PVKI: u8 = 1;
        let pvv = pinverify::visa_pvv(pvk, pan, PVKI, pin).map_err(|e| e.to_string())?;
        Ok(PinRecord::Pvv {
            pvki: PVKI,
            pvv: pvv.to_ascii(),
        })
    }
}

/// The PIN verification keys, unwrapped from the keystore when the host starts.
pub struct PinKeys {
    pub pvv: Bound<TdesKey>,
    pub ibm3624: Bound<TdesKey>,
}

impl std::fmt::Debug for PinKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PinKeys(<redacted>)")
    }
}

/// Checks `pin` against the card's record. A record that does not parse counts as no
/// record (unverifiable), never as a match.
pub fn verify(
    keys: &PinKeys,
    record: Option<&PinRecord>,
    pan: &paycrypto::Pan,
    pin: &Pin,
) -> PinCheck {
    let Some(record) = record else {
        return PinCheck::Unverifiable;
    };
    let outcome = match record {
        PinRecord::Pvv { pvki, pvv } => {
            let Ok(pvv) = Pvv::new(pvv) else {
                return PinCheck::Unverifiable;
            };
            pinverify::visa_pvv_verify(&keys.pvv, pan, *pvki, pin, &pvv)
        }
        PinRecord::Ibm3624 { offset } => {
            let (Ok(offset), Ok(table), Ok(data)) = (
                PinOffset::new(offset),
                DecimalisationTable::new(IBM3624_DECIMALISATION),
                validation_data(pan),
            ) else {
                return PinCheck::Unverifiable;
            };
            pinverify::ibm3624_verify(&keys.ibm3624, &table, &data, pin, &offset)
        }
    };
    match outcome {
        Ok(()) => PinCheck::Verified,
        Err(paycrypto::Error::PinMismatch) => PinCheck::Incorrect,
        Err(e) => {
            tracing::warn!(error = %e, "verify a PIN");
            PinCheck::Unverifiable
        }
    }
}

fn validation_data(pan: &paycrypto::Pan) -> paycrypto::Result<ValidationData> {
    let body_len = pan.len().saturating_sub(1);
    let offset = body_len.saturating_sub(IBM3624_VALIDATION_DIGITS);
    ValidationData::from_pan(pan, offset, IBM3624_VALIDATION_DIGITS.min(body_len), 'F')
}

/// Usage each PIN verification key must carry.
pub const PVV_USAGE: KeyUsage = KeyUsage::PinVerificationVisaPvv;
pub const IBM3624_USAGE: KeyUsage = KeyUsage::PinVerificationIbm3624;

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> PinKeys {
        let k = |hex: &str, usage| Bound::new(TdesKey::from_hex(hex).unwrap(), usage);
        PinKeys {
            pvv: k("0123456789ABCDEFFEDCBA9876543210", PVV_USAGE),
            ibm3624: k("89B07B35A1B3F47E89B07B35A1B3F47E", IBM3624_USAGE),
        }
    }

    #[test]
    fn a_pvv_made_at_provisioning_verifies_only_its_pin() {
        let keys = keys();
        let pan = paycrypto::Pan::new("4761739001010010").unwrap();
        let pin = Pin::new("1234").unwrap();
        let record = PinRecord::pvv_of(keys.pvv.require(PVV_USAGE).unwrap(), &pan, &pin).unwrap();
        assert_eq!(record.validate(), Ok(()));
        assert_eq!(verify(&keys, Some(&record), &pan, &pin), PinCheck::Verified);
        let wrong = Pin::new("1235").unwrap();
        assert_eq!(
            verify(&keys, Some(&record), &pan, &wrong),
            PinCheck::Incorrect
        );
        assert_eq!(verify(&keys, None, &pan, &pin), PinCheck::Unverifiable);
        let other_card = paycrypto::Pan::new("4761739001010028").unwrap();
        assert_eq!(
            verify(&keys, Some(&record), &other_card, &pin),
            PinCheck::Incorrect
        );
    }

    #[test]
    fn an_ibm3624_offset_verifies_its_pin() {
        let keys = keys();
        let pan = paycrypto::Pan::new("4761739001010010").unwrap();
        let pin = Pin::new("4321").unwrap();
        let table = DecimalisationTable::new(IBM3624_DECIMALISATION).unwrap();
        let data = validation_data(&pan).unwrap();
        let pvk = keys.ibm3624.require(IBM3624_USAGE).unwrap();
        let offset = pinverify::ibm3624_offset(pvk, &table, &data, &pin);
        let record = PinRecord::Ibm3624 {
            offset: offset.to_ascii(),
        };
        assert_eq!(verify(&keys, Some(&record), &pan, &pin), PinCheck::Verified);
        let wrong = Pin::new("4322").unwrap();
        assert_eq!(
            verify(&keys, Some(&record), &pan, &wrong),
            PinCheck::Incorrect
        );
    }

    #[test]
    fn malformed_records_are_refused_at_provisioning() {
        let bad = [
            PinRecord::Pvv {
                pvki: 10,
                pvv: "1234".into(),
            },
            PinRecord::Pvv {
                pvki: 1,
                pvv: "12a4".into(),
            },
            PinRecord::Ibm3624 {
                offset: "12".into(),
            },
        ];
        for r in bad {
            assert!(r.validate().is_err(), "{r:?}");
        }
    }
}
