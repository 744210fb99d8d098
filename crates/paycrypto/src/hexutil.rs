//! Hex parsing that reports typed errors and leaves no copies of secrets behind.

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Decodes hex text of any even length into a zeroizing buffer.
pub(crate) fn decode(what: &'static str, text: &str) -> Result<Zeroizing<Vec<u8>>> {
    hex::decode(text)
        .map(Zeroizing::new)
        .map_err(|_| Error::Hex { what })
}

/// Decodes hex text that must encode exactly `N` bytes.
pub(crate) fn decode_array<const N: usize>(what: &'static str, text: &str) -> Result<[u8; N]> {
    let mut out = [0u8; N];
    if text.len() != N * 2 {
        return Err(Error::Length {
            what,
            expected: "a fixed number of hex digits",
            got: text.len() / 2,
        });
    }
    hex::decode_to_slice(text, &mut out).map_err(|_| Error::Hex { what })?;
    Ok(out)
}

/// Upper-case hex, the convention of payment HSMs and of the published vectors.
pub fn encode_upper(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
}

/// XORs `b` into `a`, byte by byte. Both have the same length by construction.
pub(crate) fn xor_in_place(a: &mut [u8], b: &[u8]) {
    assert_eq!(a.len(), b.len(), "xor of unequal lengths");
    for (x, y) in a.iter_mut().zip(b) {
        *x ^= y;
    }
}
