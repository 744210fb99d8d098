//! The webhook signature: `sha256=` and the hex HMAC-SHA256 of `<timestamp>.<body>`.

use hmac::{Hmac, Mac};
use paycrypto::HmacKey;
use sha2::Sha256;

/// What the `X-Posguard-Signature` header starts with.
pub const SIGNATURE_PREFIX: &str = "sha256=";
/// How far a signature's timestamp may be from the receiver's clock, either way (s).
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;
/// Longest timestamp accepted: 12 digits of Unix seconds (until the year 33658).
const TIMESTAMP_DIGITS_MAX: usize = 12;

fn mac(secret: &HmacKey, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-Posguard-Signature` value for a body sent with this timestamp header.
pub fn signature_header(secret: &HmacKey, timestamp: &str, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!("{SIGNATURE_PREFIX}{}", hex::encode(tag))
}

/// Whether `header` (an `X-Posguard-Signature`) signs `body` with `timestamp` (the
/// `X-Posguard-Timestamp`) under `secret`, and the timestamp is within
/// [`SIGNATURE_TOLERANCE_SECS`] of `now_unix_secs`. The comparison takes the same time
/// wherever the signatures differ.
pub fn verify_signature(
    secret: &HmacKey,
    timestamp: &str,
    body: &[u8],
    header: &str,
    now_unix_secs: i64,
) -> bool {
    let fresh = parse_timestamp(timestamp)
        .is_some_and(|ts| ts.abs_diff(now_unix_secs) <= SIGNATURE_TOLERANCE_SECS.unsigned_abs());
    let Some(hex_tag) = header.trim().strip_prefix(SIGNATURE_PREFIX) else {
        return false;
    };
    let mut tag = [0u8; 32];
    if !fresh || hex::decode_to_slice(hex_tag, &mut tag).is_err() {
        return false;
    }
    mac(secret, timestamp, body).verify_slice(&tag).is_ok()
}

fn parse_timestamp(text: &str) -> Option<i64> {
    let digits = (1..=TIMESTAMP_DIGITS_MAX).contains(&text.len());
    if !digits || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn key() -> HmacKey {
        HmacKey::from_bytes(&[0x42; 32]).unwrap()
    }

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let ts = NOW.to_string();
        let header = signature_header(&key(), &ts, b"{}");
        assert!(header.starts_with("sha256=") && header.len() == 7 + 64);
        assert!(verify_signature(&key(), &ts, b"{}", &header, NOW));
        assert!(!verify_signature(&key(), &ts, b"{ }", &header, NOW));
        let other = HmacKey::from_bytes(&[0x43; 32]).unwrap();
        assert!(!verify_signature(&other, &ts, b"{}", &header, NOW));
        let later = (NOW + 1).to_string();
        assert!(!verify_signature(&key(), &later, b"{}", &header, NOW));
    }

    #[test]
    fn stale_or_future_timestamps_are_refused() {
        for ts in [
            NOW - SIGNATURE_TOLERANCE_SECS - 1,
            NOW + SIGNATURE_TOLERANCE_SECS + 1,
        ] {
            let ts = ts.to_string();
            let header = signature_header(&key(), &ts, b"{}");
            assert!(!verify_signature(&key(), &ts, b"{}", &header, NOW), "{ts}");
        }
        let edge = (NOW - SIGNATURE_TOLERANCE_SECS).to_string();
        let header = signature_header(&key(), &edge, b"{}");
        assert!(verify_signature(&key(), &edge, b"{}", &header, NOW));
    }

    #[test]
    fn malformed_headers_and_timestamps_are_refused() {
        let ts = NOW.to_string();
        let good = signature_header(&key(), &ts, b"{}");
        let hex_only = good.trim_start_matches(SIGNATURE_PREFIX);
        let truncated = &good[..good.len() - 2];
        let upper = good.to_uppercase();
        for header in ["", "sha256=", hex_only, truncated, "sha1=00", &upper[..]] {
            // (The prefix is case-sensitive.)
            assert!(
                !verify_signature(&key(), &ts, b"{}", header, NOW),
                "{header}"
            );
        }
        for ts in ["", "-1", "+1700000000", "1700000000.5", "9999999999999"] {
            let header = signature_header(&key(), ts, b"{}");
            assert!(!verify_signature(&key(), ts, b"{}", &header, NOW), "{ts}");
        }
    }
}
