//! Encoding: a [`MessageBuilder`] collects borrowed field values, then writes the message
//! into a caller's reused buffer. No allocation beyond the buffer's growth.

use crate::decode::{DataFields, MESSAGE_SIZE_MAX_BYTES, Message, data_fields};
use crate::encoding::{
    ValueError, all_ascii, class_ok, enc_name, push_hex_text, push_value, write_len,
};
use crate::error::{EncodeError, EncodeErrorKind as Kind, FieldKey};
use crate::spec::LEN_PREFIX_MAX_BYTES;
use crate::spec::{Class, DataEnc, FIELD_NUMBER_MAX, FastCheck, FieldDef, LenEnc, Plan, Spec};

const SLOTS: usize = FIELD_NUMBER_MAX as usize + 1;
const BIT_FIRST: u64 = 1 << 63;

/// What form a stored value is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Form {
    /// pyiso8583's python value: the UTF-8 of the `str` (hex for binary fields).
    Python,
    /// Wire data bytes without the length prefix.
    Data,
    /// The whole encoded field, length prefix included, copied from a decoded message.
    Encoded,
}

/// Field values for one message, borrowed for `'v`.
///
/// ```
/// use iso8583::{MessageBuilder, Spec};
/// let spec = Spec::posguard_ascii();
/// let mut out = Vec::new();
/// MessageBuilder::new().set_mti("0800").set(70, "301").encode_into(&spec, &mut out)?;
/// let msg = spec.decode(&out)?;
/// assert_eq!(msg.field_str(70).as_deref(), Some("301"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct MessageBuilder<'v> {
    header: Option<(&'v [u8], Form)>,
    mti: Option<(&'v [u8], Form)>,
    present: [u64; 3],
    /// Values in [`Form::Data`] / [`Form::Encoded`]; the rest are [`Form::Python`].
    data: [u64; 3],
    encoded: [u64; 3],
    /// `values[n]`: field `n`'s value, meaningful where `present` says so. One slot per
    /// field number (~3 KB, filled once by `new`), so `set` is a store and encoding
    /// reads each value with one load, without an index table or a spill `Vec`.
    values: [&'v [u8]; SLOTS],
    /// Bytes the values set so far take at most on the wire, prefixes included.
    reserve_bytes: usize,
    /// The first `set` of a field that cannot be set, reported by `encode_into`.
    rejected: Option<(u8, Kind)>,
}

impl Default for MessageBuilder<'_> {
    fn default() -> Self {
        Self::new()
    }
}

/// Word index and mask of field `n` (1..=192) in a 3-word bitmap.
fn bit(n: u8) -> (usize, u64) {
    let i = usize::from(n.saturating_sub(1));
    (i / 64, BIT_FIRST >> (i % 64))
}

impl<'v> MessageBuilder<'v> {
    /// An empty builder.
    pub fn new() -> Self {
        Self {
            header: None,
            mti: None,
            present: [0; 3],
            data: [0; 3],
            encoded: [0; 3],
            values: [&[]; SLOTS],
            reserve_bytes: 0,
            rejected: None,
        }
    }

    /// A builder holding `msg`'s header, MTI and every data field as encoded: the usual
    /// start of a response. Encode it with the spec `msg` was decoded with.
    pub fn from_message(msg: &Message<'v>) -> Self {
        let mut builder = Self::new();
        builder.header = msg.header_encoded().map(|h| (h, Form::Encoded));
        builder.mti = Some((msg.mti_bytes(), Form::Encoded));
        for n in msg.fields() {
            builder.copy(n, msg);
        }
        builder
    }

    /// Sets the MTI from its python value (`"0210"`, or hex for a binary MTI).
    pub fn set_mti(&mut self, mti: &'v str) -> &mut Self {
        self.mti = Some((mti.as_bytes(), Form::Python));
        self
    }

    /// Sets the header from its python value (ignored when the spec has no header).
    pub fn set_header(&mut self, header: &'v str) -> &mut Self {
        self.header = Some((header.as_bytes(), Form::Python));
        self
    }

    /// Sets field `n` from its python value: text for text encodings, hex digits for
    /// binary (`"b"`) fields, as pyiso8583's `encode` takes them.
    pub fn set<V: AsRef<[u8]> + ?Sized>(&mut self, n: u8, value: &'v V) -> &mut Self {
        self.put(n, value.as_ref(), Form::Python)
    }

    /// Sets field `n` from its wire data bytes (no length prefix), e.g. a binary PIN
    /// block. A nibble-counted field then gets an even nibble count.
    pub fn set_data(&mut self, n: u8, data: &'v [u8]) -> &mut Self {
        self.put(n, data, Form::Data)
    }

    /// Copies field `n` verbatim (length prefix included) from `msg`, or removes it when
    /// `msg` lacks it.
    pub fn copy(&mut self, n: u8, msg: &Message<'v>) -> &mut Self {
        match msg.field_encoded(n) {
            Some(encoded) => self.put(n, encoded, Form::Encoded),
            None => self.remove(n),
        }
    }

    /// Removes field `n`.
    pub fn remove(&mut self, n: u8) -> &mut Self {
        if (1..=FIELD_NUMBER_MAX).contains(&n) {
            let (w, mask) = bit(n);
            self.present[w] &= !mask;
        }
        self
    }

    /// Whether field `n` has a value.
    pub fn has(&self, n: u8) -> bool {
        let (w, mask) = bit(n);
        (1..=FIELD_NUMBER_MAX).contains(&n) && self.present[w] & mask != 0
    }

    #[inline]
    fn put(&mut self, n: u8, value: &'v [u8], form: Form) -> &mut Self {
        if !(2..=FIELD_NUMBER_MAX).contains(&n) || n == 65 {
            return self.reject(n);
        }
        let (w, mask) = bit(n);
        self.present[w] |= mask;
        // An upper bound for `write`'s one reservation: a value set twice counts twice.
        self.reserve_bytes = self
            .reserve_bytes
            .saturating_add(value.len() + usize::from(LEN_PREFIX_MAX_BYTES));
        if let Some(stored) = self.values.get_mut(usize::from(n)) {
            *stored = value;
        }
        if form == Form::Python {
            self.data[w] &= !mask;
            self.encoded[w] &= !mask;
        } else {
            let (on, off) = match form {
                Form::Data => (&mut self.data, &mut self.encoded),
                _ => (&mut self.encoded, &mut self.data),
            };
            on[w] |= mask;
            off[w] &= !mask;
        }
        self
    }

    /// Records the first field that cannot be set: `encode_into` reports it.
    #[cold]
    fn reject(&mut self, n: u8) -> &mut Self {
        let kind = match n {
            // pyiso8583 computes the bitmaps and drops values given for 1 and 65.
            1 | 65 => Kind::BitmapField,
            _ => Kind::UndefinedField,
        };
        self.rejected = self.rejected.take().or(Some((n, kind)));
        self
    }

    /// The stored value of a field that is present.
    #[inline]
    fn value(&self, n: u8) -> &'v [u8] {
        self.values.get(usize::from(n)).copied().unwrap_or_default()
    }

    /// Writes fields from `fields` while they take the fast path, into room made once
    /// at the end of `out` (so each is a few word stores, not a `Vec` extension and a
    /// `memcpy` call); the first field that does not is written by the general code, and
    /// the caller goes on with the rest.
    #[inline(always)]
    fn write_fast(
        &self,
        spec: &Spec,
        fields: &mut DataFields,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let mut pos = out.len();
        // Enough for every fast-path field (`reserve_bytes` bounds each value's bytes
        // plus its prefix); a message that large fails its size check anyway.
        let room = self.reserve_bytes.min(MESSAGE_SIZE_MAX_BYTES);
        out.resize(pos + room, 0);
        // The room as a slice taken once, so the loop keeps its pointer and length in
        // registers instead of reloading the `Vec` for every field.
        let buf = out.as_mut_slice();
        let mut general = None;
        // Fresh builders hold no copied fields: then no field needs its own test.
        let any_encoded = self.encoded != [0; 3];
        for n in fields.by_ref() {
            let value = self.value(n);
            if !(any_encoded && self.form(n) == Form::Encoded)
                && let Some(end) = fast_field_at(&spec.plan[usize::from(n)], value, buf, pos)
            {
                pos = end;
                continue;
            }
            general = Some(n);
            break;
        }
        out.truncate(pos);
        match general {
            Some(n) => self.write_general(spec, n, out),
            None => Ok(()),
        }
    }

    /// Field `n` by the general code (any layout, every error).
    #[inline(never)]
    fn write_general(&self, spec: &Spec, n: u8, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let def = &spec.fields[usize::from(n)];
        let key = FieldKey::Field(n);
        if !def.defined {
            return Err(EncodeError {
                field: key,
                kind: Kind::UndefinedField,
            });
        }
        write_field(key, def, self.value(n), self.form(n), out)
    }

    fn form(&self, n: u8) -> Form {
        let (w, mask) = bit(n);
        if self.encoded[w] & mask != 0 {
            Form::Encoded
        } else if self.data[w] & mask != 0 {
            Form::Data
        } else {
            Form::Python
        }
    }

    /// Appends the encoded message to `out`, which the caller reuses across messages.
    /// On error `out` is left as it was.
    pub fn encode_into(&self, spec: &Spec, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        let result = self.write(spec, out, start);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn write(&self, spec: &Spec, out: &mut Vec<u8>, start: usize) -> Result<(), EncodeError> {
        // One reservation for the whole message: MTI, three bitmaps, the values and
        // their prefixes (a text value's wire length is at most its own).
        let header = self.header.map_or(0, |(h, _)| h.len());
        out.reserve(
            (header + 4 + 3 * 16)
                .saturating_add(self.reserve_bytes)
                .min(MESSAGE_SIZE_MAX_BYTES),
        );
        if let Some((n, kind)) = &self.rejected {
            return Err(EncodeError {
                field: FieldKey::Field(*n),
                kind: kind.clone(),
            });
        }
        if spec.has_header() {
            let (value, form) = self.header.ok_or(missing(FieldKey::Header))?;
            write_field(FieldKey::Header, &spec.header, value, form, out)?;
        }
        let (mti, form) = self.mti.ok_or(missing(FieldKey::Mti))?;
        if spec.mti.data == DataEnc::Ascii
            && spec.mti.class == Class::Any
            && mti.len() == 4
            && all_ascii(mti)
        {
            // The usual text MTI: every form is the same four ASCII bytes.
            out.extend_from_slice(mti);
        } else {
            write_mti(&spec.mti, mti, form, out)?;
        }
        let tertiary = self.present[2] != 0;
        let secondary = tertiary || self.present[1] != 0;
        write_bitmap(
            &spec.bitmap,
            self.present[0] | if secondary { BIT_FIRST } else { 0 },
            out,
        );
        if secondary {
            let def = &spec.fields[1];
            if !def.defined {
                return Err(EncodeError {
                    field: FieldKey::Field(1),
                    kind: Kind::NoSecondaryBitmap,
                });
            }
            write_bitmap(
                def,
                self.present[1] | if tertiary { BIT_FIRST } else { 0 },
                out,
            );
            if tertiary {
                write_bitmap(def, self.present[2], out);
            }
        }
        let mut fields = data_fields(self.present);
        self.write_fast(spec, &mut fields, out)?;
        for n in fields {
            let value = self.value(n);
            let (w, mask) = bit(n);
            if self.encoded[w] & mask == 0 && fast_field(spec.plan[usize::from(n)], value, out) {
                continue;
            }
            self.write_general(spec, n, out)?;
        }
        let len = out.len() - start;
        if len > MESSAGE_SIZE_MAX_BYTES {
            let kind = Kind::MessageTooLarge {
                len,
                max: MESSAGE_SIZE_MAX_BYTES,
            };
            return Err(EncodeError {
                field: FieldKey::Mti,
                kind,
            });
        }
        Ok(())
    }
}

/// `"00"`..=`"99"`: two ASCII length digits per table entry.
const DIGIT_PAIRS: [[u8; 2]; 100] = {
    let mut pairs = [[0u8; 2]; 100];
    let mut i = 0;
    while i < 100 {
        pairs[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    pairs
};

/// One text field on the fast path (python value or wire data, the same bytes for ASCII
/// text): `true` when written, `false` when the general code must handle it (other
/// layouts, non-ASCII text, and every error), with `out` untouched.
#[inline(always)]
pub(crate) fn fast_field(plan: Plan, value: &[u8], out: &mut Vec<u8>) -> bool {
    let len = value.len();
    let fits = match plan.prefix {
        0 => len == usize::from(plan.len),
        _ => len <= usize::from(plan.len),
    };
    // Latin-1 python values are UTF-8: only their ASCII subset is the same bytes.
    let check = match plan.check {
        FastCheck::None => FastCheck::Ascii,
        other => other,
    };
    if !fits || !check.ok(value) {
        return false;
    }
    match plan.prefix {
        0 => {}
        2 if len < 100 => out.extend_from_slice(&DIGIT_PAIRS[len]),
        3 if len < 1000 => {
            let [a, b] = DIGIT_PAIRS[len % 100];
            out.extend_from_slice(&[b'0' + (len / 100) as u8, a, b]);
        }
        prefix => {
            let at = out.len();
            out.resize(at + usize::from(prefix), 0);
            if !write_len(LenEnc::Ascii, len, &mut out[at..]) {
                out.truncate(at);
                return false;
            }
        }
    }
    out.extend_from_slice(value);
    true
}

/// [`fast_field`] into `buf` at `pos` instead of appending: `Some(end)` when written,
/// `None` (with nothing meaningful written) when the general code must handle it or
/// `buf` has no room.
#[inline(always)]
fn fast_field_at(plan: &Plan, value: &[u8], buf: &mut [u8], pos: usize) -> Option<usize> {
    let len = value.len();
    // Latin-1 python values are UTF-8: only their ASCII subset is the same bytes.
    // `digits` turns the digit half of the test on: one inlined test for every check,
    // where a function pointer per check cost an indirect call per word.
    let digits = match plan.check {
        FastCheck::None | FastCheck::Ascii => 0,
        FastCheck::Digits => HIGH_BITS,
        FastCheck::Alphanumeric if value.iter().all(u8::is_ascii_alphanumeric) => 0,
        FastCheck::Alphanumeric | FastCheck::General => return None,
    };
    let test = |x: u64| x | (crate::encoding::non_digit_bits(x) & digits);
    // One branch on the layout decides both the length rule and the prefix.
    let data_at = match plan.prefix {
        0 if len == usize::from(plan.len) => pos,
        2 if len <= usize::from(plan.len) && len < 100 => {
            *buf.get_mut(pos..)?.first_chunk_mut::<2>()? = DIGIT_PAIRS[len];
            pos + 2
        }
        3 if len <= usize::from(plan.len) && len < 1000 => {
            let [a, b] = DIGIT_PAIRS[len % 100];
            *buf.get_mut(pos..)?.first_chunk_mut::<3>()? = [b'0' + (len / 100) as u8, a, b];
            pos + 3
        }
        0 | 2 | 3 => return None,
        prefix => {
            let data_at = pos + usize::from(prefix);
            if len > usize::from(plan.len)
                || !write_len(LenEnc::Ascii, len, buf.get_mut(pos..data_at)?)
            {
                return None;
            }
            data_at
        }
    };
    let end = data_at + len;
    let bad = copy_small(buf.get_mut(data_at..end)?, value, b'0', test);
    (bad & HIGH_BITS == 0).then_some(end)
}

const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// `dst.copy_from_slice(src)` (same lengths) in overlapping word stores, ORing `test` of
/// every word copied (a short word filled with `pad` bytes, which must pass): the
/// character check and the copy in one pass. A field value is a few bytes to a few
/// dozen, where a `memcpy` call and a second pass cost more than the copy.
#[inline(always)]
fn copy_small(dst: &mut [u8], src: &[u8], pad: u8, test: impl Fn(u64) -> u64) -> u64 {
    let n = src.len().min(dst.len());
    let pad = u64::from_le_bytes([pad; 8]);
    if n >= 8 {
        let mut bad = 0;
        for (d, s) in dst.chunks_exact_mut(8).zip(src.chunks_exact(8)) {
            bad |= test(copy_word::<8>(d, s));
        }
        if !n.is_multiple_of(8) {
            bad |= test(copy_word::<8>(&mut dst[n - 8..n], &src[n - 8..n]));
        }
        bad
    } else if n >= 4 {
        let lo = copy_word::<4>(&mut dst[..4], &src[..4]);
        let hi = copy_word::<4>(&mut dst[n - 4..n], &src[n - 4..n]);
        test(lo | hi << 32)
    } else if n >= 2 {
        let lo = copy_word::<2>(&mut dst[..2], &src[..2]);
        let hi = copy_word::<2>(&mut dst[n - 2..n], &src[n - 2..n]);
        test(lo | hi << 16 | pad << 32)
    } else if n == 1 {
        dst[0] = src[0];
        test(u64::from(src[0]) | pad << 8)
    } else {
        0
    }
}

/// Copies exactly `N` (at most 8) bytes and returns them as a little-endian word: one
/// load and one store once the lengths are known.
#[inline(always)]
fn copy_word<const N: usize>(dst: &mut [u8], src: &[u8]) -> u64 {
    let (Ok(d), Ok(s)) = (<&mut [u8; N]>::try_from(dst), <&[u8; N]>::try_from(src)) else {
        return 0;
    };
    *d = *s;
    let mut word = [0u8; 8];
    word[..N].copy_from_slice(s);
    u64::from_le_bytes(word)
}

fn missing(field: FieldKey) -> EncodeError {
    EncodeError {
        field,
        kind: Kind::Missing,
    }
}

fn write_bitmap(def: &FieldDef, bits: u64, out: &mut Vec<u8>) {
    if def.data == DataEnc::Binary {
        out.extend_from_slice(&bits.to_be_bytes());
    } else if def.data != DataEnc::Cp500 {
        out.extend_from_slice(&crate::encoding::hex16(bits));
    } else {
        push_hex_text(def.data, &bits.to_be_bytes(), out);
    }
}

/// The MTI is 2 bytes binary or 4 bytes text whatever `max_len` says, as in pyiso8583.
pub(crate) fn write_mti(
    def: &FieldDef,
    value: &[u8],
    form: Form,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let start = out.len();
    let bytes_def = FieldDef {
        nibbles: false,
        ..*def
    };
    match form {
        Form::Python => {
            push_value(&bytes_def, value, out).map_err(|e| value_error(FieldKey::Mti, def, e))?;
        }
        Form::Data | Form::Encoded => out.extend_from_slice(value),
    }
    let len = out.len() - start;
    let expected = if def.data == DataEnc::Binary { 2 } else { 4 };
    if len != expected {
        return Err(EncodeError {
            field: FieldKey::Mti,
            kind: Kind::WrongLength {
                len,
                expected: expected as u32,
                unit: "bytes",
            },
        });
    }
    if !class_ok(def.class, def.data, &out[start..], None) {
        return Err(EncodeError {
            field: FieldKey::Mti,
            kind: Kind::WrongClass {
                class: def.class.name(),
            },
        });
    }
    Ok(())
}

/// pyiso8583's `_encode_field`: data, then the length prefix written in front of it.
pub(crate) fn write_field(
    key: FieldKey,
    def: &FieldDef,
    value: &[u8],
    form: Form,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let fail = |kind| EncodeError { field: key, kind };
    if form == Form::Encoded {
        out.extend_from_slice(value);
        return Ok(());
    }
    let prefix_at = out.len();
    out.resize(prefix_at + usize::from(def.len_type), 0);
    let data_at = out.len();
    let len = match form {
        Form::Python => push_value(def, value, out).map_err(|e| value_error(key, def, e))?,
        _ => {
            out.extend_from_slice(value);
            if def.nibbles {
                value.len() * 2
            } else {
                value.len()
            }
        }
    };
    let pad_first = (def.nibbles && len % 2 == 1).then_some(def.left_pad.is_some());
    if !class_ok(def.class, def.data, &out[data_at..], pad_first) {
        return Err(fail(Kind::WrongClass {
            class: def.class.name(),
        }));
    }
    let unit = if def.nibbles { "nibbles" } else { "bytes" };
    if def.len_type == 0 {
        if len != def.max_len as usize {
            return Err(fail(Kind::WrongLength {
                len,
                expected: def.max_len,
                unit,
            }));
        }
        return Ok(());
    }
    if len > def.max_len as usize {
        return Err(fail(Kind::TooLong {
            len,
            max: def.max_len,
            unit,
        }));
    }
    if !write_len(def.len_enc, len, &mut out[prefix_at..data_at]) {
        return Err(fail(Kind::LengthOverflow));
    }
    Ok(())
}

fn value_error(field: FieldKey, def: &FieldDef, error: ValueError) -> EncodeError {
    let kind = match error {
        ValueError::InvalidText => Kind::InvalidData {
            encoding: enc_name(def.data),
        },
        ValueError::InvalidHex => Kind::InvalidHex,
        ValueError::NeedsPad => Kind::NeedsPad,
    };
    EncodeError { field, kind }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The builder's fused check-and-copy fast path: every length of a numeric and a
    /// text LLVAR field, with a bad byte in every position, fails exactly as the general
    /// code says (leaving `out` as it was), and every good value round-trips.
    #[test]
    fn fast_path_checks_every_byte_at_every_length() {
        let spec = Spec::posguard_ascii();
        let digits = "0123456789012345678901234567890123456789";
        for (n, max, bad, class) in [(2u8, 19, "A", "numeric"), (35, 37, "\u{e9}", "")] {
            for len in 0..=max {
                let good = &digits[..len];
                let mut out = b"kept".to_vec();
                let mut b = MessageBuilder::new();
                b.set_mti("0200").set(n, good);
                b.encode_into(&spec, &mut out).expect("good value encodes");
                let msg = spec.decode(&out[4..]).expect("decodes");
                assert_eq!(msg.field_str(n).as_deref(), Some(good));
                for at in 0..len {
                    let value = format!("{}{bad}{}", &good[..at], &good[at + 1..]);
                    let mut out = b"kept".to_vec();
                    let mut b = MessageBuilder::new();
                    b.set_mti("0200").set(n, value.as_str());
                    let err = b.encode_into(&spec, &mut out).expect_err("bad byte");
                    assert_eq!(err.field, FieldKey::Field(n));
                    let expected = if class.is_empty() {
                        Kind::InvalidData { encoding: "ascii" }
                    } else {
                        Kind::WrongClass { class }
                    };
                    assert_eq!(err.kind, expected, "{value:?}");
                    assert_eq!(out, b"kept");
                }
            }
        }
    }
}
