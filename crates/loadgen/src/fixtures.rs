//! The terminals and cards a load run uses when it provisions its own (`--setup`).
//! They depend only on their index, never on the seed, so a setup made once serves
//! every later run whatever its seed.

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
    }
}
