//! Zero-copy decoding: a [`Message`] is a view over the frame bytes holding where each
//! present field starts, so decoding allocates nothing and reading a field is a popcount
//! and two adjacent loads (a walk from the 64th field on, for the rare larger messages).

use std::borrow::Cow;

use crate::encoding::{
    class_ok, enc_name, pad_side, parse_hex_text, read_len, text_to_str, text_valid,
};
use crate::error::{DecodeError, DecodeErrorKind as Kind, FieldKey};
use crate::spec::{
    ASCII, Class, DIGITS, DIGITS_WORD, DataEnc, FIXED, FastCheck, FieldDef, ForLayout, LATIN1,
    Plan, Spec,
};

/// Largest message decoded or encoded, in bytes. Spans are `u16` to keep a [`Message`]
/// small; the link's frames are far smaller (`frame::FRAME_SIZE_MAX_BYTES`).
pub const MESSAGE_SIZE_MAX_BYTES: usize = u16::MAX as usize;

/// Byte range of one field in the message: `start` is where its length prefix begins
/// (bitmaps, header and MTI have none when fixed), `end` is one past its data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: u16,
    pub end: u16,
}

/// Field starts kept in a [`Message`] itself: messages of up to this many data fields
/// (every message posguard's terminals send) read any field with two adjacent loads;
/// fields past it are found by walking the (already validated) fields from the last kept
/// start, so decoding never allocates and `Message` stays small enough (< 256 bytes) for
/// the caller to move out of the `Result` with a few register stores.
const STARTS_INLINE: usize = 64;

/// A decoded message borrowing the bytes it was decoded from.
///
/// Data fields follow each other without gaps, so the message keeps one `u16` per
/// present data field, in ascending field order: where it starts in the message (length
/// prefix included), followed by where the last one ends. Field `n`'s index `i` in that
/// list is the number of present data fields below `n` (a popcount of the bitmap words),
/// and it ends where field `i + 1` starts: reading a field is two adjacent loads.
#[derive(Clone, Debug)]
pub struct Message<'a> {
    pub(crate) spec: &'a Spec,
    pub(crate) bytes: &'a [u8],
    /// `bytes[text_at..]` as UTF-8, validated once: from the MTI on when that is valid
    /// UTF-8, else from the first data field, else empty. ASCII fields (and a text MTI)
    /// are then handed out as sub-slices without another check.
    text: &'a str,
    /// Bit `(n - 1) % 64` of word `(n - 1) / 64` is set when data field `n` is present:
    /// the primary, secondary and tertiary bitmaps with their bit order reversed (so
    /// fields are walked with `trailing_zeros`), without the bitmap indicators 1 and 65
    /// (whose spans say whether they are there).
    /// A fourth word, always 0, lets a field number `n: u8` pick its word without a
    /// bounds check.
    data: [u64; 4],
    pub(crate) header: Span,
    pub(crate) mti: Span,
    pub(crate) bitmap: Span,
    /// Field 1: the secondary bitmap, extended over the tertiary one when present.
    secondary: Span,
    /// Field 65: the tertiary bitmap.
    tertiary: Span,
    /// `before[w]`: present data fields in the words before word `w` of `data`.
    before: [u8; 4],
    /// Where `text` starts in the message.
    text_at: u16,
    /// `starts[i]`: where the `i`-th present data field starts, relative to `text_at`;
    /// after the last one, where it ends. Only the first [`STARTS_INLINE`] + 1 are kept.
    starts: [u16; STARTS_INLINE + 1],
}

impl Spec {
    /// Decodes one message (the frame body, without the link's length prefix).
    ///
    /// Follows pyiso8583 4.0.1's `decode`: header (if `h.max_len > 0`), MTI, primary
    /// bitmap, secondary bitmap when bit 1 is set, tertiary bitmap right after it when
    /// bit 65 is set, then the announced fields in ascending order, and no trailing bytes.
    ///
    /// Inlined, with the out-of-line part filling the [`Message`] (under 256 bytes, so
    /// the caller moves it out of the `Result` with register stores, not `memcpy`)
    /// through a reference.
    #[inline]
    pub fn decode<'a>(&'a self, bytes: &'a [u8]) -> Result<Message<'a>, DecodeError> {
        let mut result = Ok(Message {
            spec: self,
            bytes,
            text: "",
            data: [0; 4],
            header: Span::default(),
            mti: Span::default(),
            bitmap: Span::default(),
            secondary: Span::default(),
            tertiary: Span::default(),
            before: [0; 4],
            text_at: 0,
            starts: [0; STARTS_INLINE + 1],
        });
        if let Ok(msg) = &mut result
            && let Err(e) = self.decode_into(msg)
        {
            result = Err(e);
        }
        result
    }

    /// [`Self::decode`] into a fresh `msg` of `bytes`.
    fn decode_into<'a>(&'a self, msg: &mut Message<'a>) -> Result<(), DecodeError> {
        let bytes = msg.bytes;
        if bytes.len() > MESSAGE_SIZE_MAX_BYTES {
            let kind = Kind::MessageTooLarge {
                len: bytes.len(),
                max: MESSAGE_SIZE_MAX_BYTES,
            };
            return Err(DecodeError {
                field: FieldKey::Header,
                pos: 0,
                kind,
            });
        }
        let mut cur = Cursor { bytes, pos: 0 };
        if self.has_header() {
            msg.header = cur.field(FieldKey::Header, &self.header)?;
        }
        msg.mti = cur.mti(&self.mti)?;
        self.bitmaps(&mut cur, msg)?;
        let data_start = cur.pos;
        // Validated before the fields are walked so their starts can be kept relative to
        // `text`; whether the fields are valid does not depend on it.
        (msg.text_at, msg.text) = message_text(bytes, msg.mti.start, data_start);
        let end = self.data_fields(bytes, data_start, msg)?;
        if end != bytes.len() {
            cur.pos = end;
            let extra = bytes.len() - end;
            let last = msg
                .fields()
                .last()
                .map_or(FieldKey::Bitmap, FieldKey::Field);
            return Err(cur.error(last, Kind::ExtraData { extra }));
        }
        Ok(())
    }

    /// The primary bitmap, and the secondary and tertiary ones when announced.
    #[inline(always)]
    fn bitmaps<'a>(&self, cur: &mut Cursor<'a>, msg: &mut Message<'a>) -> Result<(), DecodeError> {
        let (span, primary) = cur.bitmap(FieldKey::Bitmap, &self.bitmap)?;
        msg.bitmap = span;
        msg.data[0] = primary & !BIT_LAST;
        if primary & BIT_LAST != 0 {
            let def = &self.fields[1];
            if !def.defined {
                return Err(cur.error(FieldKey::Field(1), Kind::NoSecondaryBitmap));
            }
            let (span, secondary) = cur.bitmap(FieldKey::Field(1), def)?;
            msg.secondary = span;
            msg.data[1] = secondary & !BIT_LAST;
            if secondary & BIT_LAST != 0 {
                // pyiso8583 4.0.1 reads the tertiary bitmap as an extension of field 1.
                let (tertiary_span, tertiary) = cur.bitmap(FieldKey::Field(1), def)?;
                msg.tertiary = tertiary_span;
                msg.secondary.end = tertiary_span.end;
                msg.data[2] = tertiary;
            }
        }
        let first = msg.data[0].count_ones() as u8;
        let second = first + msg.data[1].count_ones() as u8;
        msg.before = [0, first, second, second + msg.data[2].count_ones() as u8];
        Ok(())
    }

    /// Walks the data fields the bitmaps announce from `pos`, recording where each
    /// starts; returns where the last one ends.
    #[inline(never)]
    fn data_fields(
        &self,
        bytes: &[u8],
        pos: usize,
        msg: &mut Message,
    ) -> Result<usize, DecodeError> {
        // Starts are kept relative to `text_at`, at most the first field's start: the
        // walk runs on the bytes from there, so a start is stored as it is.
        let base = usize::from(msg.text_at);
        let from_base = bytes.get(base..).unwrap_or_default();
        let pos = pos.saturating_sub(base);
        // One wide pass over the data region: when it is all ASCII (every text spec's
        // usual message), ASCII and Latin-1 fields need no check of their own.
        let end = if crate::encoding::all_ascii_wide(from_base.get(pos..).unwrap_or_default()) {
            self.walk_fields::<true>(bytes, base, pos, msg)?
        } else {
            self.walk_fields::<false>(bytes, base, pos, msg)?
        };
        Ok(base + end)
    }

    /// [`Self::data_fields`] from `pos` in `bytes[base..]`, returning where the last field
    /// ends there. `ASCII`: every byte from `pos` on is ASCII (a constant, so the ASCII
    /// fields' test of it folds away and it takes no register).
    #[inline(always)]
    fn walk_fields<const ASCII: bool>(
        &self,
        bytes: &[u8],
        base: usize,
        mut pos: usize,
        msg: &mut Message,
    ) -> Result<usize, DecodeError> {
        let from_base = bytes.get(base..).unwrap_or_default();
        let mut i = 0;
        for n in Present::new(&msg.data) {
            let plan = &self.plan[usize::from(n)];
            let end = match fast_field(plan, from_base, pos, ASCII) {
                Some(end) => end,
                None => self.general_field(bytes, base + pos, n)? - base,
            };
            // decode() rejected messages longer than u16::MAX, so positions fit; starts
            // past STARTS_INLINE are not kept (`Message::walk` finds them).
            if let Some(start) = msg.starts.get_mut(i) {
                *start = pos as u16;
            }
            i += 1;
            pos = end;
        }
        if let Some(start) = msg.starts.get_mut(i) {
            *start = pos as u16;
        }
        Ok(pos)
    }

    /// Where field `n` starting at `pos` ends, validating it.
    fn field_end(&self, bytes: &[u8], pos: usize, n: u8) -> Result<usize, DecodeError> {
        match fast_field(&self.plan[usize::from(n)], bytes, pos, false) {
            Some(end) => Ok(end),
            None => self.general_field(bytes, pos, n),
        }
    }

    /// Layouts the fast path does not cover, and every error: the general code redoes
    /// field `n` at `pos` and reports exactly what is wrong.
    #[inline(never)]
    fn general_field(&self, bytes: &[u8], pos: usize, n: u8) -> Result<usize, DecodeError> {
        let mut cur = Cursor { bytes, pos };
        let def = &self.fields[usize::from(n)];
        if !def.defined {
            return Err(cur.error(FieldKey::Field(n), Kind::UndefinedField));
        }
        cur.field(FieldKey::Field(n), def)?;
        Ok(cur.pos)
    }
}

/// The message as text from the MTI on when it is UTF-8 (every text spec: the MTI, hex
/// bitmaps and ASCII fields), else from the first data field (binary bitmaps), else
/// empty from the first data field: where it starts, and the text. (Skipping this check
/// when the fields were seen to be ASCII needs `unsafe` on network input: not worth it
/// in a payments host.)
#[inline(always)]
fn message_text(bytes: &[u8], mti_at: u16, data_at: usize) -> (u16, &str) {
    let from_mti = bytes.get(usize::from(mti_at)..).unwrap_or_default();
    if let Ok(text) = std::str::from_utf8(from_mti) {
        return (mti_at, text);
    }
    let data = bytes.get(data_at..).unwrap_or_default();
    match std::str::from_utf8(data) {
        // decode() rejected messages longer than u16::MAX, so positions fit.
        Ok(text) => (data_at as u16, text),
        Err(_) => (data_at as u16, ""),
    }
}

/// One field on the fast path: `Some(end)` when it is valid, `None` when the general
/// code must look at it (other layouts, or anything wrong). `ascii`: every byte from
/// `pos` on is known to be ASCII.
#[inline(always)]
fn fast_field(plan: &Plan, bytes: &[u8], pos: usize, ascii: bool) -> Option<usize> {
    plan.layout.run(FieldAt {
        plan,
        bytes,
        pos,
        ascii,
    })
}

/// [`fast_field`]'s arguments, run per layout.
struct FieldAt<'p, 'b> {
    plan: &'p Plan,
    bytes: &'b [u8],
    pos: usize,
    ascii: bool,
}

impl ForLayout for FieldAt<'_, '_> {
    type Output = usize;

    #[inline(always)]
    fn run<const PREFIX: u8, const CHECK: u8>(self) -> Option<usize> {
        layout_field::<PREFIX, CHECK>(self.plan, self.bytes, self.pos, self.ascii)
    }
}

/// [`fast_field`] for one layout, the prefix width and check known at compile time.
#[inline(always)]
fn layout_field<const PREFIX: u8, const CHECK: u8>(
    plan: &Plan,
    bytes: &[u8],
    pos: usize,
    ascii: bool,
) -> Option<usize> {
    let digit = |b: u8| {
        let d = b.wrapping_sub(b'0');
        (d <= 9).then_some(usize::from(d))
    };
    // The field and what follows it; lengths are then tested against it (plain length
    // tests, no overflow tests of `pos + n`).
    let rest = bytes.get(pos..)?;
    let (prefix, len) = match PREFIX {
        FIXED => (0, usize::from(plan.len)),
        2 => match rest {
            &[a, b, ..] => (2, digit(a)? * 10 + digit(b)?),
            _ => return None,
        },
        3 => match rest {
            &[a, b, c, ..] => (3, digit(a)? * 100 + digit(b)? * 10 + digit(c)?),
            _ => return None,
        },
        _ => {
            let prefix = usize::from(plan.prefix);
            let mut len = 0usize;
            for &b in rest.get(..prefix)? {
                len = len * 10 + digit(b)?;
            }
            (prefix, len)
        }
    };
    if len > usize::from(plan.len) {
        return None;
    }
    let data = rest.get(prefix..)?.get(..len)?;
    let end = pos + prefix + len;
    let ok = match CHECK {
        DIGITS => crate::encoding::all_digits(data),
        DIGITS_WORD => crate::encoding::all_digits_word(data),
        ASCII => ascii || crate::encoding::all_ascii(data),
        LATIN1 => true,
        _ => FastCheck::Alphanumeric.ok(data),
    };
    ok.then_some(end)
}

const BIT_FIRST: u64 = 1 << 63;
/// Bit 0: field 1 (or 65) in a [`Message`]'s `data` words.
const BIT_LAST: u64 = 1;

/// Present data fields of big-endian bitmap words (the builder's; a [`Message`] keeps
/// its words reversed, see [`Present`]) in ascending order, skipping the bitmap
/// indicators 1 and 65.
#[inline]
pub(crate) fn data_fields(present: [u64; 3]) -> DataFields {
    DataFields {
        bits: present[0] & !BIT_FIRST,
        rest: [present[1] & !BIT_FIRST, present[2]],
        base: 1,
    }
}

/// Iterator of [`data_fields`]: one `leading_zeros` per field. The word being walked is
/// kept apart from the rest so it can live in a register.
#[derive(Clone, Debug)]
pub(crate) struct DataFields {
    bits: u64,
    /// The words after `bits`, next first; emptied as they are taken.
    rest: [u64; 2],
    /// Field number of the top bit of `bits`.
    base: u8,
}

impl Iterator for DataFields {
    type Item = u8;

    #[inline]
    fn next(&mut self) -> Option<u8> {
        while self.bits == 0 {
            if self.rest == [0, 0] {
                return None;
            }
            self.bits = self.rest[0];
            self.rest = [self.rest[1], 0];
            self.base += 64;
        }
        // leading_zeros < 64 here and `base` is at most 129, so this is at most 192.
        let zeros = self.bits.leading_zeros() as u8;
        self.bits ^= BIT_FIRST >> zeros;
        Some(self.base + zeros)
    }
}

/// The present data fields of a decoded message in ascending order: its `data` words,
/// where bit `(n - 1) % 64` of word `(n - 1) / 64` stands for field `n` (the bitmaps'
/// bit order reversed once at decode), so each field is one `trailing_zeros` and the bit
/// is cleared with `bits & (bits - 1)`. The word being walked is kept apart from the
/// rest so it can live in a register.
#[derive(Clone, Debug)]
pub(crate) struct Present {
    bits: u64,
    /// The words after `bits`, next first; emptied as they are taken.
    rest: [u64; 2],
    /// Field number of bit 0 of `bits`.
    base: u8,
}

impl Present {
    /// `data`: the message's data words (bitmap indicators 1 and 65 already clear).
    #[inline]
    fn new(data: &[u64; 4]) -> Self {
        Self {
            bits: data[0],
            rest: [data[1], data[2]],
            base: 1,
        }
    }
}

impl Iterator for Present {
    type Item = u8;

    #[inline]
    fn next(&mut self) -> Option<u8> {
        while self.bits == 0 {
            if self.rest == [0, 0] {
                return None;
            }
            self.bits = self.rest[0];
            self.rest = [self.rest[1], 0];
            self.base += 64;
        }
        // trailing_zeros < 64 here and `base` is at most 129, so this is at most 192.
        let zeros = self.bits.trailing_zeros() as u8;
        self.bits &= self.bits - 1;
        Some(self.base + zeros)
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn error(&self, field: FieldKey, kind: Kind) -> DecodeError {
        DecodeError {
            field,
            pos: self.pos,
            kind,
        }
    }

    /// Takes `len` bytes or reports truncation.
    fn take(&mut self, field: FieldKey, len: usize) -> Result<usize, DecodeError> {
        let available = self.bytes.len() - self.pos;
        if len > available {
            return Err(self.error(
                field,
                Kind::Truncated {
                    needed: len,
                    available,
                },
            ));
        }
        let start = self.pos;
        self.pos += len;
        Ok(start)
    }

    fn span(&self, start: usize) -> Span {
        // decode() rejected messages longer than u16::MAX, so positions fit.
        Span {
            start: start as u16,
            end: self.pos as u16,
        }
    }

    /// The MTI: four ASCII bytes inline (the usual text MTI), anything else out of line.
    #[inline(always)]
    fn mti(&mut self, def: &FieldDef) -> Result<Span, DecodeError> {
        let start = self.pos;
        if def.data == DataEnc::Ascii
            && def.class == Class::Any
            && let Some(text) = self.bytes.get(start..start + 4)
            && crate::encoding::all_ascii(text)
        {
            // What the general check below would say of it.
            self.pos = start + 4;
            return Ok(self.span(start));
        }
        self.mti_general(def)
    }

    #[inline(never)]
    fn mti_general(&mut self, def: &FieldDef) -> Result<Span, DecodeError> {
        let width = if def.data == DataEnc::Binary { 2 } else { 4 };
        let start = self.take(FieldKey::Mti, width)?;
        let ascii = def.data == DataEnc::Ascii && def.class == Class::Any;
        if ascii && crate::encoding::all_ascii(&self.bytes[start..self.pos]) {
            // The usual text MTI: the general check below would say the same.
            return Ok(self.span(start));
        }
        self.check_text(FieldKey::Mti, def, start, false)?;
        Ok(self.span(start))
    }

    /// A bitmap and its bits in [`Message`]'s order: bit 0 for its first field (bit 1
    /// of the wire bitmap), so `trailing_zeros` walks its fields.
    #[inline(always)]
    fn bitmap(&mut self, field: FieldKey, def: &FieldDef) -> Result<(Span, u64), DecodeError> {
        let width = if def.data == DataEnc::Binary { 8 } else { 16 };
        let start = self.pos;
        let fast = match self.bytes.get(start..start + width) {
            Some(&[a, b, c, d, e, f, g, h]) => {
                Some(u64::from_be_bytes([a, b, c, d, e, f, g, h]).reverse_bits())
            }
            Some(text) if def.data != DataEnc::Cp500 => <&[u8; 16]>::try_from(text)
                .ok()
                .and_then(crate::encoding::hex16_field_bits),
            _ => None,
        };
        match fast {
            Some(bits) => {
                self.pos = start + width;
                Ok((self.span(start), bits))
            }
            None => self.bitmap_general(field, def),
        }
    }

    /// [`Self::bitmap`] for EBCDIC text, and every error.
    #[inline(never)]
    fn bitmap_general(
        &mut self,
        field: FieldKey,
        def: &FieldDef,
    ) -> Result<(Span, u64), DecodeError> {
        let mut raw = [0u8; 8];
        if def.data == DataEnc::Binary {
            let start = self.take(field, 8)?;
            raw.copy_from_slice(&self.bytes[start..self.pos]);
            return Ok((self.span(start), u64::from_be_bytes(raw).reverse_bits()));
        }
        let start = self.take(field, 16)?;
        let text = &self.bytes[start..self.pos];
        // Stricter than Python's bytes.fromhex, which also skips whitespace.
        if !parse_hex_text(def.data, text, &mut raw) {
            self.pos = start;
            return Err(self.error(field, Kind::InvalidBitmap));
        }
        Ok((self.span(start), u64::from_be_bytes(raw).reverse_bits()))
    }

    /// pyiso8583's `_decode_field`: optional length prefix, then data.
    fn field(&mut self, field: FieldKey, def: &FieldDef) -> Result<Span, DecodeError> {
        let start = self.pos;
        let prefix_at = self.take(field, usize::from(def.len_type))?;
        let declared = if def.len_type == 0 {
            u64::from(def.max_len)
        } else {
            let prefix = &self.bytes[prefix_at..self.pos];
            let len = read_len(def.len_enc, prefix).ok_or(self.at(
                prefix_at,
                field,
                Kind::InvalidLength,
            ))?;
            if len > u64::from(def.max_len) {
                return Err(self.at(
                    prefix_at,
                    field,
                    Kind::TooLong {
                        len,
                        max: def.max_len,
                    },
                ));
            }
            len
        };
        // declared <= max_len (u32), so it fits usize on every supported target.
        let declared = declared as usize;
        let byte_len = if def.nibbles {
            declared.div_ceil(2)
        } else {
            declared
        };
        let data_at = self.take(field, byte_len)?;
        let odd_nibbles = def.nibbles && declared % 2 == 1;
        self.check_text(field, def, data_at, odd_nibbles)?;
        Ok(self.span(start))
    }

    /// Validates data at `data_at..pos`: encoding, odd-nibble pad, character class.
    fn check_text(
        &mut self,
        field: FieldKey,
        def: &FieldDef,
        data_at: usize,
        odd_nibbles: bool,
    ) -> Result<(), DecodeError> {
        let data = &self.bytes[data_at..self.pos];
        let mut pad_first = None;
        if def.data == DataEnc::Binary && odd_nibbles {
            pad_first = pad_side(def, data);
            if pad_first.is_none() {
                return Err(self.at(data_at, field, Kind::InvalidPad));
            }
        } else if !text_valid(def.data, data) {
            return Err(self.at(
                data_at,
                field,
                Kind::InvalidData {
                    encoding: enc_name(def.data),
                },
            ));
        }
        if !class_ok(def.class, def.data, data, pad_first) {
            return Err(self.at(
                data_at,
                field,
                Kind::WrongClass {
                    class: def.class.name(),
                },
            ));
        }
        Ok(())
    }

    fn at(&self, pos: usize, field: FieldKey, kind: Kind) -> DecodeError {
        DecodeError { field, pos, kind }
    }
}

impl<'a> Message<'a> {
    /// The message type indicator as pyiso8583 returns it (hex for a binary MTI).
    #[inline]
    pub fn mti(&self) -> Cow<'a, str> {
        if self.spec.mti.data == DataEnc::Ascii
            && let Some(from) = self.mti.start.checked_sub(self.text_at)
            && let Some(text) = self.text.get(usize::from(from)..usize::from(from) + 4)
        {
            return Cow::Borrowed(text);
        }
        text_to_str(self.spec.mti.data, self.slice(self.mti))
    }

    /// The MTI's wire bytes.
    pub fn mti_bytes(&self) -> &'a [u8] {
        self.slice(self.mti)
    }

    /// The header's data bytes, if the spec has a header.
    pub fn header(&self) -> Option<&'a [u8]> {
        let def = &self.spec.header;
        self.spec
            .has_header()
            .then(|| self.data(def, self.header, true))
    }

    /// The header as pyiso8583 returns it.
    pub fn header_str(&self) -> Option<Cow<'a, str>> {
        self.spec
            .has_header()
            .then(|| self.str_of(&self.spec.header, self.header, true))
    }

    /// The primary bitmap as pyiso8583 returns it: hex text as sent, or upper-case hex.
    pub fn bitmap_str(&self) -> Cow<'a, str> {
        text_to_str(self.spec.bitmap.data, self.slice(self.bitmap))
    }

    /// Whether field `n` is present (1 = secondary bitmap, 65 = tertiary bitmap).
    #[inline]
    pub fn has(&self, n: u8) -> bool {
        match n {
            0 => false,
            1 => self.secondary.end > self.secondary.start,
            65 => self.tertiary.end > self.tertiary.start,
            _ => {
                let i = n - 1;
                self.data[usize::from(i / 64)] & (BIT_LAST << (i % 64)) != 0
            }
        }
    }

    /// Present data fields (2..=192, without the bitmaps 1 and 65), ascending.
    pub fn fields(&self) -> impl Iterator<Item = u8> + use<> {
        Present::new(&self.data)
    }

    /// Field `n`'s data bytes as on the wire, without the length prefix. Field 1 is the
    /// secondary bitmap (followed by the tertiary one when present, as in pyiso8583).
    pub fn field(&self, n: u8) -> Option<&'a [u8]> {
        let span = self.span(n)?;
        Some(self.data(&self.spec.fields[usize::from(n)], span, n != 1 && n != 65))
    }

    /// Field `n` as the python value pyiso8583 returns: text decoded from its encoding
    /// (borrowed for ASCII), or upper-case hex for binary data with any pad removed.
    #[inline(always)]
    pub fn field_str(&self, n: u8) -> Option<Cow<'a, str>> {
        let text_at = self.spec.text_at[usize::from(n)];
        if text_at != Plan::NOT_TEXT
            && let Some((start, end)) = self.data_span(n)
        {
            // Decode checked the bytes are ASCII, and `text` is the message as UTF-8, so
            // the field is a sub-slice of it on character boundaries. The spec never
            // marks the bitmaps 1 and 65 as text.
            let from = usize::from(start) + usize::from(text_at);
            if let Some(text) = self.text.get(from..usize::from(end)) {
                return Some(Cow::Borrowed(text));
            }
        }
        self.field_str_general(n)
    }

    /// Every present data field (2..=192, without the bitmaps 1 and 65) in ascending order
    /// with its python value: exactly what [`Self::fields`] and [`Self::field_str`] give,
    /// in one pass. Values borrow the message when they are its bytes (ASCII fields) and
    /// are owned otherwise (hex of binary data, text decoded from EBCDIC, Latin-1, GBK),
    /// as `field_str` returns them. The walk follows the bitmap and the fields' starts,
    /// so no field is looked up: cheaper than `field_str` per field when forwarding,
    /// logging or mapping a whole message. Field values are never absent here, so the
    /// item is `(n, value)`, not `field_str`'s `Option`.
    ///
    /// ```
    /// let spec = iso8583::Spec::posguard_ascii();
    /// let msg = spec.decode(b"0800822000000000000004000000000000001121230101000123301")?;
    /// let fields: Vec<(u8, String)> = msg.iter_str().map(|(n, v)| (n, v.into_owned())).collect();
    /// assert_eq!(fields[0], (7, "1121230101".to_string()));
    /// assert_eq!(fields.len(), 3);
    /// # Ok::<(), iso8583::DecodeError>(())
    /// ```
    #[inline]
    pub fn iter_str(&self) -> FieldStrs<'_, 'a> {
        FieldStrs {
            msg: self,
            fields: Present::new(&self.data),
            next: 1,
            start: self.starts[0],
            rest: self
                .text
                .get(usize::from(self.starts[0])..)
                .unwrap_or_default(),
        }
    }

    /// Where present data field `n` starts (length prefix included) and ends, relative to
    /// `text_at`; `None` for an absent field. Not for the bitmaps 1 and 65.
    #[inline(always)]
    fn data_span(&self, n: u8) -> Option<(u16, u16)> {
        // Field 0 wraps to bit 63 of the always-empty fourth word: absent.
        let i = n.wrapping_sub(1);
        let (w, bit) = (usize::from(i / 64), i % 64);
        let word = self.data[w];
        if word & (BIT_LAST << bit) == 0 {
            return None;
        }
        // The present data fields before `n`: those in earlier words, and the bits below
        // `n`'s in its own word.
        let below = word & !(u64::MAX << bit);
        let rank = usize::from(self.before[w]) + below.count_ones() as usize;
        match self.starts.get(rank..rank + 2) {
            Some(&[start, end]) => Some((start, end)),
            _ => self.walk(n),
        }
    }

    /// [`Self::data_span`] of a field whose start is not kept (past the first
    /// [`STARTS_INLINE`]): walks the fields after the last kept start. They were
    /// validated by decode, so each one's end is found again the same way.
    #[cold]
    #[inline(never)]
    fn walk(&self, n: u8) -> Option<(u16, u16)> {
        let base = usize::from(self.text_at);
        let mut pos = base + usize::from(*self.starts.last()?);
        for m in self.fields().skip(STARTS_INLINE) {
            let end = self.spec.field_end(self.bytes, pos, m).ok()?;
            if m == n {
                // decode() rejected messages longer than u16::MAX, so positions fit.
                return Some(((pos - base) as u16, (end - base) as u16));
            }
            pos = end;
        }
        None
    }

    /// Where the data field starting at `start` (relative to `text_at`) ends when its
    /// start is not kept (past the first [`STARTS_INLINE`]): decode validated it, so it
    /// is found again the same way.
    #[cold]
    #[inline(never)]
    fn end_past_inline(&self, start: u16, n: u8) -> Option<u16> {
        let base = usize::from(self.text_at);
        let end = self
            .spec
            .field_end(self.bytes, base + usize::from(start), n)
            .ok()?;
        // decode() rejected messages longer than u16::MAX, so positions fit.
        Some((end - base) as u16)
    }

    /// For [`FieldStrs`]: the value of data field `n` at `start..end` (relative to
    /// `text_at`) when it is not a slice of the text (binary data, other encodings), as
    /// `field_str` decodes it, and the text after it (empty when `end` is not a character
    /// boundary). Out of line, and not through the iterator, so its state stays in
    /// registers.
    #[inline(never)]
    fn decoded(&self, n: u8, start: u16, end: u16) -> (Cow<'a, str>, &'a str) {
        let rest = self.text.get(usize::from(end)..).unwrap_or_default();
        let span = Span {
            start: self.text_at + start,
            end: self.text_at + end,
        };
        (
            self.str_of(&self.spec.fields[usize::from(n)], span, true),
            rest,
        )
    }

    /// [`Self::field_str`] for everything but present ASCII data fields.
    #[inline(never)]
    fn field_str_general(&self, n: u8) -> Option<Cow<'a, str>> {
        let span = self.span(n)?;
        let def = &self.spec.fields[usize::from(n)];
        Some(self.str_of(def, span, n != 1 && n != 65))
    }

    /// Field `n` as encoded on the wire, length prefix included: what
    /// [`MessageBuilder::copy`](crate::MessageBuilder::copy) echoes into a response.
    pub fn field_encoded(&self, n: u8) -> Option<&'a [u8]> {
        self.span(n).map(|span| self.slice(span))
    }

    /// Where present field `n` lies, length prefix included.
    #[inline(always)]
    fn span(&self, n: u8) -> Option<Span> {
        if !self.has(n) {
            return None;
        }
        match n {
            1 => return Some(self.secondary),
            65 => return Some(self.tertiary),
            _ => {}
        }
        let (start, end) = self.data_span(n)?;
        Some(Span {
            start: self.text_at + start,
            end: self.text_at + end,
        })
    }

    /// The spec this message was decoded with.
    pub fn spec(&self) -> &'a Spec {
        self.spec
    }

    /// The whole message's bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub(crate) fn header_encoded(&self) -> Option<&'a [u8]> {
        self.spec.has_header().then(|| self.slice(self.header))
    }

    fn slice(&self, span: Span) -> &'a [u8] {
        self.bytes
            .get(usize::from(span.start)..usize::from(span.end))
            .unwrap_or_default()
    }

    fn data(&self, def: &FieldDef, span: Span, has_prefix: bool) -> &'a [u8] {
        let skip = if has_prefix {
            usize::from(def.len_type)
        } else {
            0
        };
        self.slice(span).get(skip..).unwrap_or_default()
    }

    fn str_of(&self, def: &FieldDef, span: Span, has_prefix: bool) -> Cow<'a, str> {
        let data = self.data(def, span, has_prefix);
        if def.data == DataEnc::Binary && def.nibbles && self.odd_nibbles(def, span) {
            return Cow::Owned(crate::encoding::hex_upper(data, pad_side(def, data)));
        }
        text_to_str(def.data, data)
    }

    fn odd_nibbles(&self, def: &FieldDef, span: Span) -> bool {
        if def.len_type == 0 {
            return def.max_len % 2 == 1;
        }
        let prefix = self
            .slice(span)
            .get(..usize::from(def.len_type))
            .unwrap_or_default();
        read_len(def.len_enc, prefix).is_some_and(|len| len % 2 == 1)
    }
}

/// Iterator of [`Message::iter_str`]: `(field number, python value)` of every present data
/// field, ascending.
#[derive(Clone, Debug)]
pub struct FieldStrs<'m, 'a> {
    msg: &'m Message<'a>,
    fields: Present,
    /// Index in `msg.starts` of where the next field ends.
    next: usize,
    /// Where the next field starts, relative to `msg.text_at`: where the previous one
    /// ended.
    start: u16,
    /// `msg.text` from `start` on, or empty when `start` is not a character boundary of
    /// it (after a binary field). A text field splits off its front with one boundary
    /// check, at its end (and one at its data when it has a length prefix).
    rest: &'a str,
}

impl<'a> Iterator for FieldStrs<'_, 'a> {
    type Item = (u8, Cow<'a, str>);

    #[inline]
    fn next(&mut self) -> Option<(u8, Cow<'a, str>)> {
        let n = self.fields.next()?;
        let msg = self.msg;
        let start = self.start;
        let end = match msg.starts.get(self.next) {
            Some(&end) => end,
            // Decode validated every field, so this finds each end again.
            None => msg.end_past_inline(start, n)?,
        };
        self.next += 1;
        self.start = end;
        let text_at = msg.spec.text_at[usize::from(n)];
        // An ASCII field (checked by decode) is the front of `rest`. When `rest` is empty
        // but should not be, only an empty field without prefix splits off: its value is
        // "" all the same.
        if text_at != Plan::NOT_TEXT
            && let Some((field, tail)) = self
                .rest
                .split_at_checked(usize::from(end.wrapping_sub(start)))
            && let Some(value) = field.get(usize::from(text_at)..)
        {
            self.rest = tail;
            return Some((n, Cow::Borrowed(value)));
        }
        let (value, rest) = msg.decoded(n, start, end);
        self.rest = rest;
        Some((n, value))
    }
}
