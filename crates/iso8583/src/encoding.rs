//! Byte-level conversions shared by decode and encode: length prefixes, text encodings,
//! hex, pads and character classes. All functions are pure and allocation-free except the
//! ones that return an owned `String` for non-borrowable text.

use std::borrow::Cow;

use crate::ebcdic::{CP500_TO_LATIN1, LATIN1_TO_CP500};
use crate::spec::{Class, DataEnc, FieldDef, LenEnc};

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Name of an encoding as it appears in errors (pyiso8583's spelling).
pub(crate) fn enc_name(data: DataEnc) -> &'static str {
    match data {
        DataEnc::Binary => "hex",
        DataEnc::Ascii => "ascii",
        DataEnc::Latin1 => "latin-1",
        DataEnc::Cp500 => "cp500",
        DataEnc::Gbk => "gbk",
    }
}

/// Reads a length prefix. `None` = not valid digits for its encoding.
pub(crate) fn read_len(len_enc: LenEnc, prefix: &[u8]) -> Option<u64> {
    let mut len: u64 = 0;
    for &b in prefix {
        len = match len_enc {
            LenEnc::Binary => (len << 8) | u64::from(b),
            LenEnc::Bcd => {
                let (hi, lo) = (b >> 4, b & 0x0F);
                if hi > 9 || lo > 9 {
                    return None;
                }
                len * 100 + u64::from(hi * 10 + lo)
            }
            // Strict where Python's int() is lenient (it also takes " 7", "+7", "0_7"):
            // a terminal sending those is broken, and accepting them would hide it.
            LenEnc::Ascii if b.is_ascii_digit() => len * 10 + u64::from(b - b'0'),
            LenEnc::Cp500 if (0xF0..=0xF9).contains(&b) => len * 10 + u64::from(b - 0xF0),
            LenEnc::Ascii | LenEnc::Cp500 => return None,
        };
    }
    Some(len)
}

/// Writes `len` into `prefix` (already sized to `len_type`). `false` = does not fit.
pub(crate) fn write_len(len_enc: LenEnc, len: usize, prefix: &mut [u8]) -> bool {
    let mut rest = len;
    for slot in prefix.iter_mut().rev() {
        *slot = match len_enc {
            // The match arms keep `rest % N` below N, so the casts cannot truncate.
            LenEnc::Binary => {
                let byte = (rest & 0xFF) as u8;
                rest >>= 8;
                byte
            }
            LenEnc::Bcd => {
                let digits = (rest % 100) as u8;
                rest /= 100;
                ((digits / 10) << 4) | (digits % 10)
            }
            LenEnc::Ascii => {
                let digit = (rest % 10) as u8;
                rest /= 10;
                b'0' + digit
            }
            LenEnc::Cp500 => {
                let digit = (rest % 10) as u8;
                rest /= 10;
                0xF0 + digit
            }
        };
    }
    rest == 0
}

/// ORs `test` over little-endian words that together hold every byte of `bytes` at
/// least once, so a per-byte SWAR test sees each byte without a byte-at-a-time tail:
/// whole 8-byte chunks and then the last 8 bytes (overlapping); under 8 bytes, the first
/// and last 4 (or 2) bytes in one word, the rest of the word filled with `pad` bytes,
/// which must pass the test. Fields are mostly 2-16 bytes, where the tail loop cost
/// more than the words (callgrind, benches/compare.rs).
#[inline(always)]
fn fold_words(bytes: &[u8], pad: u8, test: impl Fn(u64) -> u64) -> u64 {
    let n = bytes.len();
    let pad = u64::from_le_bytes([pad; 8]);
    if n >= 8 {
        let mut acc = 0;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            acc |= test(word8(chunk));
        }
        if !chunks.remainder().is_empty() {
            acc |= test(word8(&bytes[n - 8..]));
        }
        return acc;
    }
    let word = if n >= 4 {
        let mut lo = [0u8; 4];
        let mut hi = [0u8; 4];
        lo.copy_from_slice(&bytes[..4]);
        hi.copy_from_slice(&bytes[n - 4..]);
        u64::from(u32::from_le_bytes(lo)) | u64::from(u32::from_le_bytes(hi)) << 32
    } else if n >= 2 {
        let mut lo = [0u8; 2];
        let mut hi = [0u8; 2];
        lo.copy_from_slice(&bytes[..2]);
        hi.copy_from_slice(&bytes[n - 2..]);
        let real = u64::from(u16::from_le_bytes(lo)) | u64::from(u16::from_le_bytes(hi)) << 16;
        real | pad << 32
    } else if let [b] = bytes {
        u64::from(*b) | pad << 8
    } else {
        return 0;
    };
    test(word)
}

/// The first 8 bytes of `bytes` (at least 8 long) as a little-endian word.
#[inline(always)]
fn word8(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(word)
}

const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
const ONES: u64 = 0x0101_0101_0101_0101;

/// Whether every byte is an ASCII digit, a word per step (SWAR): for a byte `x`,
/// `x < 0x30` makes `x - 0x30` borrow into bit 7 and `x > 0x39` makes `x + 0x46` carry
/// into it; bytes with bit 7 set are rejected by `x` itself. A borrow or carry crossing
/// into the next byte only happens when some byte is already invalid.
#[inline(always)]
pub(crate) fn all_digits(bytes: &[u8]) -> bool {
    fold_words(bytes, b'0', non_digit_bits) & HIGH_BITS == 0
}

/// [`all_digits`] of 4 to 8 bytes: one word of the first and last four (overlapping),
/// no test of the length beyond those two reads. `false` for fewer than 4 bytes.
#[inline(always)]
pub(crate) fn all_digits_word(bytes: &[u8]) -> bool {
    match (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
        (Some(lo), Some(hi)) => {
            let word =
                u64::from(u32::from_le_bytes(*lo)) | u64::from(u32::from_le_bytes(*hi)) << 32;
            non_digit_bits(word) & HIGH_BITS == 0
        }
        _ => false,
    }
}

/// Bit 7 of each byte of the result is set when that byte of `x` is not an ASCII digit
/// (the SWAR test of [`all_digits`]).
#[inline(always)]
pub(crate) fn non_digit_bits(x: u64) -> u64 {
    x | x.wrapping_sub(ONES * 0x30) | x.wrapping_add(ONES * 0x46)
}

/// Whether every byte is ASCII, a word per step: inlined into the fast paths, where
/// fields are a few bytes long and `<[u8]>::is_ascii`'s out-of-line call dominated.
#[inline(always)]
pub(crate) fn all_ascii(bytes: &[u8]) -> bool {
    fold_words(bytes, 0, |x| x) & HIGH_BITS == 0
}

/// Whether every byte is ASCII, for a whole message region: 32 bytes per step, which
/// the compiler turns into vector ORs, then [`all_ascii`] on the tail.
#[inline(always)]
pub(crate) fn all_ascii_wide(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(32);
    // Four lanes ORed across chunks and folded once at the end: one vector OR per chunk.
    let mut lanes = [0u64; 4];
    for chunk in &mut chunks {
        let (words, _) = chunk.as_chunks::<8>();
        for (lane, word) in lanes.iter_mut().zip(words) {
            *lane |= u64::from_le_bytes(*word);
        }
    }
    let acc = lanes.iter().fold(0, |acc, lane| acc | lane);
    acc & HIGH_BITS == 0 && all_ascii(chunks.remainder())
}

/// Whether `data` is valid in a text encoding (Latin-1 and cp500 map every byte).
pub(crate) fn text_valid(data: DataEnc, bytes: &[u8]) -> bool {
    match data {
        DataEnc::Ascii => bytes.is_ascii(),
        DataEnc::Gbk => gbk_decode(bytes).is_some(),
        _ => true,
    }
}

/// GBK bytes to text; `None` when they are not valid GBK (a lone lead byte, a bad trail
/// byte, a byte GBK leaves unassigned). ASCII borrows.
pub(crate) fn gbk_decode(bytes: &[u8]) -> Option<Cow<'_, str>> {
    encoding_rs::GBK.decode_without_bom_handling_and_without_replacement(bytes)
}

/// Whether wire `bytes` satisfy `class`. For binary data, `skip` names a pad nibble to
/// ignore (`Some(true)` = first, `Some(false)` = last).
pub(crate) fn class_ok(class: Class, data: DataEnc, bytes: &[u8], pad_first: Option<bool>) -> bool {
    match (class, data) {
        (Class::Any, _) => true,
        (Class::Numeric, DataEnc::Ascii | DataEnc::Latin1 | DataEnc::Gbk) => {
            bytes.iter().all(u8::is_ascii_digit)
        }
        (Class::Numeric, DataEnc::Cp500) => bytes.iter().all(|b| (0xF0..=0xF9).contains(b)),
        (Class::Numeric, DataEnc::Binary) => {
            let last = bytes.len().saturating_sub(1);
            bytes.iter().enumerate().all(|(i, &b)| {
                let hi_ok = (b >> 4) <= 9 || (i == 0 && pad_first == Some(true));
                let lo_ok = (b & 0x0F) <= 9 || (i == last && pad_first == Some(false));
                hi_ok && lo_ok
            })
        }
        (Class::Alphanumeric, DataEnc::Cp500) => bytes
            .iter()
            .all(|&b| CP500_TO_LATIN1[usize::from(b)].is_ascii_alphanumeric()),
        (Class::Alphanumeric, _) => bytes.iter().all(u8::is_ascii_alphanumeric),
    }
}

/// For an odd nibble count, which pad pyiso8583 strips: `Some(true)` = the first nibble
/// (`left_pad`), `Some(false)` = the last (`right_pad`), `None` = neither matches (error).
/// Mirrors pyiso8583: compare the pad character with the upper-case hex digit, left first.
pub(crate) fn pad_side(def: &FieldDef, bytes: &[u8]) -> Option<bool> {
    let (first, last) = (bytes.first()?, bytes.last()?);
    if def
        .left_pad
        .is_some_and(|p| p == HEX_UPPER[usize::from(first >> 4)])
    {
        return Some(true);
    }
    if def
        .right_pad
        .is_some_and(|p| p == HEX_UPPER[usize::from(last & 0x0F)])
    {
        return Some(false);
    }
    None
}

/// Wire text to a string: borrowed when the bytes are already the UTF-8 of the value.
pub(crate) fn text_to_str(data: DataEnc, bytes: &[u8]) -> Cow<'_, str> {
    match data {
        // Decode already rejected non-ASCII bytes, so this borrows; from_utf8 is much
        // cheaper than from_utf8_lossy's chunk iterator on valid input.
        DataEnc::Ascii => match std::str::from_utf8(bytes) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(bytes),
        },
        DataEnc::Latin1 if bytes.is_ascii() => String::from_utf8_lossy(bytes),
        DataEnc::Latin1 => Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()),
        DataEnc::Cp500 => Cow::Owned(
            bytes
                .iter()
                .map(|&b| char::from(CP500_TO_LATIN1[usize::from(b)]))
                .collect(),
        ),
        DataEnc::Gbk => gbk_decode(bytes).unwrap_or_else(|| String::from_utf8_lossy(bytes)),
        DataEnc::Binary => Cow::Owned(hex_upper(bytes, None)),
    }
}

/// Upper-case hex of `bytes`, dropping one pad nibble (`Some(true)` first, `Some(false)` last).
pub(crate) fn hex_upper(bytes: &[u8], drop_pad: Option<bool>) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
        out.push(char::from(HEX_UPPER[usize::from(b & 0x0F)]));
    }
    match drop_pad {
        Some(true) => {
            out.remove(0);
        }
        Some(false) => {
            out.pop();
        }
        None => {}
    }
    out
}

/// `HEX_PAIRS[b]`: the two upper-case hex digits of byte `b`.
const HEX_PAIRS: [[u8; 2]; 256] = {
    let mut table = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = [HEX_UPPER[b >> 4], HEX_UPPER[b & 0x0F]];
        b += 1;
    }
    table
};

/// The 16 upper-case hex digits of `bits`, big-endian (a text bitmap).
#[inline]
pub(crate) fn hex16(bits: u64) -> [u8; 16] {
    let mut text = [0u8; 16];
    for (pair, byte) in text.chunks_exact_mut(2).zip(bits.to_be_bytes()) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(byte)]);
    }
    text
}

/// Appends upper-case hex text of `bytes` in a text encoding (bitmaps in text specs).
pub(crate) fn push_hex_text(data: DataEnc, bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        for nibble in [b >> 4, b & 0x0F] {
            let c = HEX_UPPER[usize::from(nibble)];
            out.push(if data == DataEnc::Cp500 {
                LATIN1_TO_CP500[usize::from(c)]
            } else {
                c
            });
        }
    }
}

/// 16 ASCII hex digits (either case) as the `u64` they spell with its bits reversed (bit
/// 0 is the top bit of the first digit): a decoded [`Message`](crate::Message)'s bitmap
/// order. A word of 8 digits at a time (SWAR); `None` when any byte is not a hex digit.
/// Text bitmaps are on every message: a table loop cost ~130 instructions per bitmap.
/// Packed low digit first, so only the bits inside each digit are reversed, cheaper
/// than `reverse_bits` of the value.
#[inline(always)]
pub(crate) fn hex16_field_bits(text: &[u8; 16]) -> Option<u64> {
    let (first, second) = text.split_at(8);
    let first = digits_low_first(hex8_nibbles(word8(first))?);
    let second = digits_low_first(hex8_nibbles(word8(second))?);
    let x = u64::from(first) | u64::from(second) << 32;
    // Reverse the 4 bits of each digit: swap bit pairs, then the bits of each pair.
    let x = (x >> 2) & (ONES * 0x33) | (x & (ONES * 0x33)) << 2;
    Some((x >> 1) & (ONES * 0x55) | (x & (ONES * 0x55)) << 1)
}

/// Bytes [n0, n1, ...] of digit values -> the `u32` with `n0` in its low 4 bits, `n1` in
/// the next 4, and so on.
#[inline(always)]
fn digits_low_first(nibbles: u64) -> u32 {
    let pairs = (nibbles | nibbles >> 4) & 0x00FF_00FF_00FF_00FF;
    let quads = (pairs | pairs >> 8) & 0x0000_FFFF_0000_FFFF;
    (quads | quads >> 16) as u32
}

/// 8 ASCII hex digits, the first in the low byte of `x`, as their values (0..=15) in
/// the same bytes; `None` when any byte is not a hex digit.
#[inline(always)]
fn hex8_nibbles(x: u64) -> Option<u64> {
    // Per byte, bit 7 of `x + (0x80 - lo)` is set when the byte is >= lo, and bit 7 of
    // `x + (0x7F - hi)` when it is > hi; bytes with bit 7 set are rejected first, so the
    // sums cannot carry across bytes.
    let in_range = |x: u64, lo: u64, hi: u64| {
        x.wrapping_add(ONES * (0x80 - lo)) & !x.wrapping_add(ONES * (0x7F - hi)) & HIGH_BITS
    };
    let lower = x | (ONES * 0x20);
    let digit = in_range(x, 0x30, 0x39);
    let letter = in_range(lower, 0x61, 0x66);
    if x & HIGH_BITS != 0 || (digit | letter) != HIGH_BITS {
        return None;
    }
    // A digit's value is its low nibble, a letter's is its low nibble + 9.
    Some((x & (ONES * 0x0F)) + (letter >> 7) * 9)
}

/// Parses hex text in a text encoding into `out`. `false` = not hex.
pub(crate) fn parse_hex_text(data: DataEnc, text: &[u8], out: &mut [u8]) -> bool {
    if text.len() != out.len() * 2 {
        return false;
    }
    if data != DataEnc::Cp500 {
        // Table lookup, no branch per digit: 0xFF marks a non-hex byte.
        let mut bad = 0u8;
        for (slot, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
            let (hi, lo) = (
                HEX_VALUE[usize::from(pair[0])],
                HEX_VALUE[usize::from(pair[1])],
            );
            bad |= hi | lo;
            *slot = (hi << 4) | (lo & 0x0F);
        }
        return bad & 0xF0 == 0;
    }
    for (slot, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let digit = |b: u8| {
            let c = if data == DataEnc::Cp500 {
                CP500_TO_LATIN1[usize::from(b)]
            } else {
                b
            };
            hex_val(c)
        };
        match (digit(pair[0]), digit(pair[1])) {
            (Some(hi), Some(lo)) => *slot = (hi << 4) | lo,
            _ => return false,
        }
    }
    true
}

/// `HEX_VALUE[c]`: the value of hex digit `c`, or 0xFF.
const HEX_VALUE: [u8; 256] = {
    let mut table = [0xFFu8; 256];
    let mut c = 0;
    while c < 256 {
        if let Some(v) = hex_val(c as u8) {
            table[c] = v;
        }
        c += 1;
    }
    table
};

pub(crate) const fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Why a python value could not be put on the wire.
pub(crate) enum ValueError {
    InvalidText,
    InvalidHex,
    NeedsPad,
}

/// Appends the wire form of a python value (`value` is the UTF-8 of the python `str`) and
/// returns its length in the field's unit (bytes, or nibbles when `def.nibbles`).
pub(crate) fn push_value(
    def: &FieldDef,
    value: &[u8],
    out: &mut Vec<u8>,
) -> Result<usize, ValueError> {
    if def.data == DataEnc::Binary {
        return push_hex_value(def, value, out);
    }
    let start = out.len();
    match def.data {
        DataEnc::Ascii | DataEnc::Latin1 if value.is_ascii() => out.extend_from_slice(value),
        DataEnc::Ascii => return Err(ValueError::InvalidText),
        DataEnc::Gbk => {
            let text = std::str::from_utf8(value).map_err(|_| ValueError::InvalidText)?;
            let (bytes, _, unmappable) = encoding_rs::GBK.encode(text);
            if unmappable {
                return Err(ValueError::InvalidText);
            }
            out.extend_from_slice(&bytes);
        }
        _ => {
            let text = std::str::from_utf8(value).map_err(|_| ValueError::InvalidText)?;
            for c in text.chars() {
                let latin1 = u8::try_from(u32::from(c)).map_err(|_| ValueError::InvalidText)?;
                out.push(match def.data {
                    DataEnc::Cp500 => LATIN1_TO_CP500[usize::from(latin1)],
                    _ => latin1,
                });
            }
        }
    }
    let bytes = out.len() - start;
    Ok(if def.nibbles { bytes * 2 } else { bytes })
}

/// pyiso8583's `_encode_bindary_field`: hex text to bytes, padding an odd nibble count.
fn push_hex_value(def: &FieldDef, value: &[u8], out: &mut Vec<u8>) -> Result<usize, ValueError> {
    let pad = if def.nibbles && value.len() % 2 == 1 {
        def.pad()
    } else {
        None
    };
    let padded_len = value.len() + usize::from(pad.is_some());
    if padded_len % 2 == 1 {
        return Err(if def.nibbles {
            ValueError::NeedsPad
        } else {
            ValueError::InvalidHex
        });
    }
    let left = pad.filter(|_| def.left_pad.is_some());
    let right = pad.filter(|_| def.left_pad.is_none());
    let mut digits = left.into_iter().chain(value.iter().copied()).chain(right);
    out.reserve(padded_len / 2);
    while let (Some(hi), Some(lo)) = (digits.next(), digits.next()) {
        match (hex_val(hi), hex_val(lo)) {
            (Some(hi), Some(lo)) => out.push((hi << 4) | lo),
            _ => return Err(ValueError::InvalidHex),
        }
    }
    Ok(if def.nibbles {
        value.len()
    } else {
        padded_len / 2
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_prefixes_round_trip() {
        for (enc, width, len, wire) in [
            (LenEnc::Ascii, 2, 7, &b"07"[..]),
            (LenEnc::Ascii, 3, 104, b"104"),
            (LenEnc::Cp500, 2, 37, b"\xF3\xF7"),
            (LenEnc::Bcd, 1, 16, b"\x16"),
            (LenEnc::Bcd, 2, 999, b"\x09\x99"),
            (LenEnc::Binary, 1, 255, b"\xFF"),
            (LenEnc::Binary, 2, 258, b"\x01\x02"),
        ] {
            let mut prefix = vec![0; width];
            assert!(write_len(enc, len, &mut prefix));
            assert_eq!(prefix, wire);
            assert_eq!(read_len(enc, wire), Some(len as u64));
        }
        assert!(!write_len(LenEnc::Ascii, 100, &mut [0; 2]));
        assert!(!write_len(LenEnc::Binary, 256, &mut [0; 1]));
        assert!(!write_len(LenEnc::Bcd, 100, &mut [0; 1]));
        assert_eq!(read_len(LenEnc::Ascii, b" 7"), None);
        assert_eq!(read_len(LenEnc::Bcd, b"\x1A"), None);
        assert_eq!(read_len(LenEnc::Cp500, b"07"), None);
    }

    #[test]
    fn swar_digits_match_bytewise() {
        let mut cases: Vec<Vec<u8>> = (0..=255u8)
            .map(|b| vec![b'5'; 9].into_iter().chain([b]).collect())
            .collect();
        cases.extend((0..=255u8).map(|b| {
            let mut v = b"0123456789012345".to_vec();
            v[3] = b;
            v
        }));
        cases.push(Vec::new());
        for case in cases {
            assert_eq!(
                all_digits(&case),
                case.iter().all(u8::is_ascii_digit),
                "{case:?}"
            );
        }
    }

    /// Every length 0..=24 with each position holding each byte value, so every word
    /// layout of `fold_words` (chunks, overlapping tail, 4+4, 2+2 with pad, 1 with pad)
    /// and the 4..=8-byte word of `all_digits_word` meet every bad byte in every place.
    #[test]
    fn swar_scans_match_bytewise_at_every_length_and_position() {
        for len in 0..=24 {
            for at in 0..len.max(1) {
                for b in 0..=255u8 {
                    let mut case = b"012345678901234567890123"[..len].to_vec();
                    if let Some(slot) = case.get_mut(at) {
                        *slot = b;
                    }
                    let digits = case.iter().all(u8::is_ascii_digit);
                    assert_eq!(all_digits(&case), digits, "digits {case:?}");
                    if (4..=8).contains(&len) {
                        assert_eq!(all_digits_word(&case), digits, "word {case:?}");
                    }
                    assert_eq!(all_ascii(&case), case.is_ascii(), "ascii {case:?}");
                }
            }
        }
    }

    /// The whole-region ASCII check decode relies on to skip per-field checks: a
    /// non-ASCII byte anywhere, in the 32-byte chunks or the tail, is seen.
    #[test]
    fn wide_ascii_scan_sees_every_position() {
        for len in 0..=100 {
            let clean = vec![b'A'; len];
            assert!(all_ascii_wide(&clean), "clean {len}");
            for at in 0..len {
                for b in [0x80u8, 0xC3, 0xFF] {
                    let mut case = clean.clone();
                    case[at] = b;
                    assert!(!all_ascii_wide(&case), "len {len} byte {b:#x} at {at}");
                }
            }
        }
    }

    /// Every byte value in every position of a text bitmap: the word-at-a-time parse
    /// agrees with the per-digit table.
    #[test]
    fn swar_hex_bitmap_matches_table_at_every_position() {
        for at in 0..16 {
            for b in 0..=255u8 {
                let mut text = *b"0123456789abcDEF";
                text[at] = b;
                let mut table = [0u8; 8];
                let ok = parse_hex_text(DataEnc::Ascii, &text, &mut table);
                let reversed = ok.then(|| u64::from_be_bytes(table).reverse_bits());
                assert_eq!(hex16_field_bits(&text), reversed, "reversed {text:?}");
            }
        }
        // Fields 1, 2, 3, 4, 7, 11, 12, 13, 14: bits 0, 1, 2, 3, 6, 10, 11, 12, 13.
        assert_eq!(hex16_field_bits(b"F23C000000000000"), Some(0x3C4F));
    }

    #[test]
    fn hex_text_round_trips_in_ebcdic() {
        let mut text = Vec::new();
        push_hex_text(DataEnc::Cp500, &[0xAB, 0x01], &mut text);
        assert_eq!(text, [0xC1, 0xC2, 0xF0, 0xF1]);
        let mut bytes = [0; 2];
        assert!(parse_hex_text(DataEnc::Cp500, &text, &mut bytes));
        assert_eq!(bytes, [0xAB, 0x01]);
        assert!(!parse_hex_text(DataEnc::Ascii, b"0G", &mut [0; 1]));
    }
}
