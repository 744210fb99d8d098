//! Where a message's MAC is and what it covers (docs/terminal-security.md): the MAC is
//! the last field, 64 or 128, 16 hex characters; it covers the bytes from the MTI up to
//! the MAC's own data.

use iso8583::Message;

/// A MAC on the wire: 8 bytes as 16 hex characters.
pub const MAC_HEX: usize = 16;
pub const MAC_BYTES: usize = 8;
/// What a response carries in its MAC field before the MAC is computed.
pub const MAC_PLACEHOLDER: &str = "0000000000000000";

/// Why a request's MAC could not even be located.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MacShape {
    Absent,
    /// A MAC field that is not the last field, or not 16 hex characters.
    Malformed,
}

/// The MAC a request carries and the bytes it covers.
pub fn request_mac<'a>(msg: &Message<'a>) -> Result<([u8; MAC_BYTES], &'a [u8]), MacShape> {
    let field = if msg.has(128) {
        128
    } else if msg.has(64) {
        64
    } else {
        return Err(MacShape::Absent);
    };
    if msg.fields().last() != Some(field) {
        return Err(MacShape::Malformed);
    }
    let value = msg.field(field).ok_or(MacShape::Absent)?;
    let mut mac = [0u8; MAC_BYTES];
    if value.len() != MAC_HEX || hex::decode_to_slice(value, &mut mac).is_err() {
        return Err(MacShape::Malformed);
    }
    Ok((mac, covered(msg, value)))
}

/// The bytes from the MTI up to (not including) `value`, which lies inside `msg`.
fn covered<'a>(msg: &Message<'a>, value: &'a [u8]) -> &'a [u8] {
    let bytes = msg.as_bytes();
    let base = bytes.as_ptr() as usize;
    let start = msg.mti_bytes().as_ptr() as usize - base;
    let end = value.as_ptr() as usize - base;
    &bytes[start..end]
}

/// Which field a response's MAC goes in: 128 when the response will have a secondary
/// bitmap (it echoes field 70 or 90), else 64.
pub fn response_mac_field(request: &Message<'_>) -> u8 {
    if request.has(70) || request.has(90) {
        128
    } else {
        64
    }
}

/// Fills in the MAC of an encoded response whose last field is the MAC placeholder:
/// `mac` computes the 8 bytes over what it covers.
pub fn stamp_response(
    body: &mut [u8],
    header_len: usize,
    mac: impl FnOnce(&[u8]) -> [u8; MAC_BYTES],
) -> bool {
    let Some(value_at) = body.len().checked_sub(MAC_HEX) else {
        return false;
    };
    if header_len > value_at || body[value_at..] != *MAC_PLACEHOLDER.as_bytes() {
        return false;
    }
    let computed = mac(&body[header_len..value_at]);
    let hex = hex::encode_upper(computed);
    body[value_at..].copy_from_slice(hex.as_bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use iso8583::Spec;

    fn message(fields: &[(u8, &str)]) -> Vec<u8> {
        let spec = Spec::posguard_ascii();
        let mut out = Vec::new();
        let mut w = spec.writer(&mut out);
        w.mti("0200");
        for (n, v) in fields {
            w.field(*n, *v);
        }
        w.finish().unwrap();
        out
    }

    #[test]
    fn the_mac_is_the_last_field_and_covers_what_precedes_it() {
        let spec = Spec::posguard_ascii();
        let bytes = message(&[(11, "000001"), (64, "0123456789ABCDEF")]);
        let msg = spec.decode(&bytes).unwrap();
        let (mac, data) = request_mac(&msg).unwrap();
        assert_eq!(mac, [0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF]);
        assert_eq!(data, &bytes[..bytes.len() - MAC_HEX]);
        let secondary = message(&[
            (11, "000001"),
            (90, &"0".repeat(42)),
            (128, "0123456789ABCDEF"),
        ]);
        let msg = spec.decode(&secondary).unwrap();
        assert_eq!(
            request_mac(&msg).unwrap().1,
            &secondary[..secondary.len() - MAC_HEX]
        );
    }

    #[test]
    fn misplaced_or_malformed_macs_are_told_apart_from_absent_ones() {
        let spec = Spec::posguard_ascii();
        let cases: [(&[(u8, &str)], MacShape); 3] = [
            (&[(11, "000001")], MacShape::Absent),
            (
                &[(64, "0123456789ABCDEF"), (70, "301")],
                MacShape::Malformed,
            ),
            (
                &[(11, "000001"), (64, "0123456789ABCDEG")],
                MacShape::Malformed,
            ),
        ];
        for (fields, shape) in cases {
            let bytes = message(fields);
            let msg = spec.decode(&bytes).unwrap();
            assert_eq!(request_mac(&msg).err(), Some(shape), "{fields:?}");
        }
    }

    #[test]
    fn stamping_replaces_only_the_placeholder() {
        let mut body = message(&[(11, "000001"), (64, MAC_PLACEHOLDER)]);
        let len = body.len();
        assert!(stamp_response(&mut body, 0, |data| {
            assert_eq!(data.len(), len - MAC_HEX);
            [0xAB; MAC_BYTES]
        }));
        assert!(body.ends_with(b"ABABABABABABABAB"));
        assert!(
            !stamp_response(&mut body, 0, |_| [0; MAC_BYTES]),
            "already stamped"
        );
    }
}
