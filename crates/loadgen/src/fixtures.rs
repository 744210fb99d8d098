//! The terminals and cards a load run uses when it provisions its own (`--setup`).
//! They depend only on their index, never on the seed, so a setup made once serves
//! every later run whatever its seed.
//!
//! `--dukpt` runs have their own terminals (`LT..` TDES, `LA..` AES-128, `LB..` AES-256)
//! and their own cards with a PIN, so plain and DUKPT setups on one host never change
//! each other's terminals or cards. Their BDKs are published test keys: TEST ONLY.

use terminal::{Bdk, KeyId, Scheme};

/// The merchant every provisioned terminal belongs to.
pub const MERCHANT_ID: &str = "LOADGEN00000001";
/// Expiry (YYMM) of provisioned cards.
pub const CARD_EXPIRY: &str = "3012";
/// Limit and daily limit of provisioned cards, minor units: large enough that load
/// never declines for funds.
pub const CARD_LIMIT_MINOR: i64 = 999_999_999_999;
/// Provisioned PANs are this 15-digit prefix plus an index, then a Luhn check digit.
/// 999 is not an issuer range in use, so the numbers cannot be real cards.
const PAN_BODY_BASE: u64 = 999_000_000_000_000;

/// Terminal ids `LG000001`, `LG000002`, ... (8 characters, field 41's width).
pub fn terminal_id(index: usize) -> String {
    format!("LG{:06}", index + 1)
}

/// The Luhn check digit to append to `body` (digits only).
pub fn luhn_check_digit(body: &str) -> u8 {
    let mut sum = 0u32;
    // Walking from the right, the check digit will be position 0, so the body's last
    // digit is doubled.
    for (i, b) in body.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    ((10 - sum % 10) % 10) as u8
}

/// The 16-digit PAN of provisioned card `index`.
pub fn card_pan(index: usize) -> String {
    let body = (PAN_BODY_BASE + index as u64).to_string();
    let check = luhn_check_digit(&body);
    format!("{body}{check}")
}

/// The PIN of every card provisioned for `--dukpt` runs.
pub const CARD_PIN: &str = "1234";
/// Cards with a PIN: this prefix plus an index, then a Luhn check digit.
const PIN_PAN_BODY_BASE: u64 = 999_100_000_000_000;
/// TDES key ids give the terminal index 19 bits (80-bit KSN: 16 bits FFFF, 24 bits of
/// BDK id, 19 of device, 21 of counter).
pub const DUKPT_TERMINALS_MAX: usize = 1 << 19;
const TDES_COUNTER_BITS: u32 = 21;

/// The 16-digit PAN of provisioned card `index` with a PIN ([`CARD_PIN`]).
pub fn pin_card_pan(index: usize) -> String {
    let body = (PIN_PAN_BODY_BASE + index as u64).to_string();
    let check = luhn_check_digit(&body);
    format!("{body}{check}")
}

/// Terminal ids of `--dukpt` runs: `LT000001` (TDES), `LA000001` (AES-128),
/// `LB000001` (AES-256).
pub fn dukpt_terminal_id(scheme: Scheme, index: usize) -> String {
    let prefix = match scheme {
        Scheme::Tdes => "LT",
        Scheme::Aes128 => "LA",
        Scheme::Aes256 => "LB",
    };
    format!("{prefix}{:06}", index + 1)
}

/// The key id (profile `key_id`) of the terminal at `index` in the run's list. TDES:
/// initial KSN `FFFF` + BDK id `4C4731` + the index in 19 bits + 21 zero counter bits.
/// AES: BDK ID `4C474131` (AES-128) or `4C474132` (AES-256), then the index as the
/// derivation ID. `None` past [`DUKPT_TERMINALS_MAX`].
pub fn key_id(scheme: Scheme, index: usize) -> Option<KeyId> {
    if index >= DUKPT_TERMINALS_MAX {
        return None;
    }
    let hex = match scheme {
        Scheme::Tdes => format!("FFFF4C4731{:010X}", (index as u64) << TDES_COUNTER_BITS),
        Scheme::Aes128 => format!("4C474131{index:08X}"),
        Scheme::Aes256 => format!("4C474132{index:08X}"),
    };
    KeyId::parse(scheme, &hex).ok()
}

/// The keystore id loadgen imports its BDK under.
pub fn test_bdk_id(scheme: Scheme) -> String {
    format!("loadgen-bdk-{}", scheme.name())
}

/// TEST ONLY: the published X9.24-1 / X9.24-3 test BDKs (shared/docs/VECTORS.md).
fn test_bdk_hex(scheme: Scheme) -> String {
    const TDES: &str = "0123456789ABCDEFFEDCBA9876543210";
    const AES128: &str = "FEDCBA9876543210F1F1F1F1F1F1F1F1";
    match scheme {
        Scheme::Tdes => TDES.to_owned(),
        Scheme::Aes128 => AES128.to_owned(),
        Scheme::Aes256 => AES128.repeat(2),
    }
}

/// The test BDK of `scheme`.
pub fn test_bdk(scheme: Scheme) -> Bdk {
    Bdk::from_hex(scheme, &test_bdk_hex(scheme)).expect("test BDKs have the scheme's length")
}

/// The test BDK as two components whose XOR it is, each with its KCV (hex), as
/// `POST /v1/keys` takes them. The first component is a fixed pattern.
pub fn test_bdk_components(scheme: Scheme) -> [(String, String); 2] {
    let bdk = hex::decode(test_bdk_hex(scheme)).expect("hex constant");
    let first: Vec<u8> = (0..bdk.len())
        .map(|i| 0x5A ^ (i as u8).wrapping_mul(0x11))
        .collect();
    let second: Vec<u8> = bdk.iter().zip(&first).map(|(a, b)| a ^ b).collect();
    [first, second].map(|bytes| {
        let hex = hex::encode_upper(&bytes);
        let kcv = Bdk::from_hex(scheme, &hex)
            .expect("component has the scheme's length")
            .kcv();
        (hex, kcv.to_string())
    })
}

/// Terminal ids of `--unionpay` runs: `LU000001`, `LU000002`, ...
pub fn unionpay_terminal_id(index: usize) -> String {
    format!("LU{:06}", index + 1)
}

/// TEST ONLY: the master key of UnionPay terminal `index`: UNIONPAY.md's sample TMK
/// with the index in its last four bytes, so every terminal has its own.
pub fn test_tmk(index: usize) -> paycrypto::TdesKey {
    paycrypto::TdesKey::from_bytes(&test_tmk_bytes(index)).expect("16 bytes")
}

fn test_tmk_bytes(index: usize) -> [u8; 16] {
    let mut key: [u8; 16] = hex::decode("70F2A84CCBC2AE8625CBB0F2C22AB923")
        .expect("hex constant")
        .try_into()
        .expect("16 bytes");
    for (k, i) in key[12..].iter_mut().zip((index as u32).to_be_bytes()) {
        *k ^= i;
    }
    key
}

/// Terminal `index`'s TMK as two components (hex, KCV hex) for `POST /v1/keys`.
pub fn test_tmk_components(index: usize) -> [(String, String); 2] {
    let tmk = test_tmk_bytes(index);
    let first: Vec<u8> = (0..tmk.len())
        .map(|i| 0xA5 ^ (i as u8).wrapping_mul(0x13))
        .collect();
    let second: Vec<u8> = tmk.iter().zip(&first).map(|(a, b)| a ^ b).collect();
    [first, second].map(|bytes| {
        let key = paycrypto::TdesKey::from_bytes(&bytes).expect("16 bytes");
        (hex::encode_upper(&bytes), key.kcv().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provisioned_pans_pass_the_luhn_check() {
        for i in [0, 1, 9, 10, 99_999] {
            let pan = card_pan(i);
            assert_eq!(pan.len(), 16);
            assert!(model::luhn_valid(&pan), "{pan}");
        }
        assert_eq!(luhn_check_digit("7992739871"), 3);
        assert_eq!(terminal_id(0), "LG000001");
        assert!(model::luhn_valid(&pin_card_pan(3)));
        assert_ne!(pin_card_pan(0), card_pan(0));
    }

    #[test]
    fn dukpt_key_ids_depend_on_the_index_only_and_have_zero_counters() {
        let tdes = key_id(Scheme::Tdes, 5).unwrap().to_hex();
        assert_eq!(tdes, "FFFF4C47310000A00000");
        assert_eq!(
            key_id(Scheme::Tdes, DUKPT_TERMINALS_MAX - 1)
                .unwrap()
                .to_hex(),
            "FFFF4C4731FFFFE00000"
        );
        assert!(key_id(Scheme::Tdes, DUKPT_TERMINALS_MAX).is_none());
        let aes = key_id(Scheme::Aes128, 5).unwrap().to_hex();
        assert_eq!(aes, "4C47413100000005");
        assert_eq!(dukpt_terminal_id(Scheme::Aes128, 0), "LA000001");
    }

    #[test]
    fn tmk_components_combine_to_each_terminals_tmk() {
        let [(a, _), (b, kb)] = test_tmk_components(7);
        let xor: Vec<u8> = hex::decode(&a)
            .unwrap()
            .iter()
            .zip(hex::decode(&b).unwrap())
            .map(|(x, y)| x ^ y)
            .collect();
        let combined = paycrypto::TdesKey::from_bytes(&xor).unwrap();
        assert_eq!(combined.kcv(), test_tmk(7).kcv());
        assert_ne!(test_tmk(7).kcv(), test_tmk(8).kcv());
        assert_eq!(kb.len(), 6);
        assert_eq!(unionpay_terminal_id(0), "LU000001");
    }

    #[test]
    fn bdk_components_combine_to_the_test_bdk() {
        for scheme in Scheme::ALL {
            let [(a, ka), (b, kb)] = test_bdk_components(scheme);
            let xor: Vec<u8> = hex::decode(&a)
                .unwrap()
                .iter()
                .zip(hex::decode(&b).unwrap())
                .map(|(x, y)| x ^ y)
                .collect();
            let combined = Bdk::from_hex(scheme, &hex::encode_upper(xor)).unwrap();
            assert_eq!(combined, test_bdk(scheme));
            assert_eq!((ka.len(), kb.len()), (6, 6));
            assert_ne!(a, b);
        }
    }
}
