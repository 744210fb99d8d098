//! Streaming encoding: a [`Writer`] appends each field to the caller's buffer as it is
//! given, in ascending field order, and fills in the bitmaps at the end. It is the fast
//! way to build a message whose fields are known in order (a response, a forwarded
//! request, a simulated terminal's request); [`MessageBuilder`](crate::MessageBuilder)
//! takes fields in any order and can copy them from a decoded message.
//!
//! Both produce the same bytes for the same values (a property test holds them together).

use crate::decode::MESSAGE_SIZE_MAX_BYTES;
use crate::encode::{Form, fast_field, write_field, write_mti};
use crate::encoding::{hex16, push_hex_text};
use crate::error::{EncodeError, EncodeErrorKind as Kind, FieldKey};
use crate::spec::{Class, DataEnc, FieldDef, Spec};

const BIT_FIRST: u64 = 1 << 63;

/// Writes one message into a caller's reused buffer; see the module documentation.
///
/// Errors are sticky: the first one is kept, later calls do nothing, and
/// [`finish`](Writer::finish) reports it and truncates the buffer to where it was.
///
/// ```
/// use iso8583::Spec;
/// let spec = Spec::posguard_ascii();
/// let mut out = Vec::new();
/// let mut w = spec.writer(&mut out);
/// w.mti("0810").field(39, "00").field(70, "301");
/// w.finish()?;
/// let msg = spec.decode(&out)?;
/// assert_eq!(msg.field_str(39).as_deref(), Some("00"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Writer<'a> {
    spec: &'a Spec,
    out: &'a mut Vec<u8>,
    start: usize,
    /// Where the primary bitmap goes, once the MTI is written.
    bitmap_at: Option<usize>,
    present: [u64; 3],
    /// The last field written (0 before the first).
    last: u8,
    header_done: bool,
    error: Option<EncodeError>,
}

impl Spec {
    /// A [`Writer`] appending one message to `out`.
    pub fn writer<'a>(&'a self, out: &'a mut Vec<u8>) -> Writer<'a> {
        let start = out.len();
        Writer {
            spec: self,
            out,
            start,
            bitmap_at: None,
            present: [0; 3],
            last: 0,
            header_done: false,
            error: None,
        }
    }
}

/// Bytes one bitmap takes on the wire in `def`'s encoding.
fn bitmap_width(def: &FieldDef) -> usize {
    if def.data == DataEnc::Binary { 8 } else { 16 }
}

impl<'a> Writer<'a> {
    fn fail(&mut self, field: FieldKey, kind: Kind) {
        if self.error.is_none() {
            self.error = Some(EncodeError { field, kind });
        }
    }

    /// Writes the header from its python value; first, and only when the spec has one.
    pub fn header(&mut self, header: &str) -> &mut Self {
        if self.error.is_some() {
            return self;
        }
        if self.header_done || self.bitmap_at.is_some() || !self.spec.has_header() {
            self.fail(FieldKey::Header, Kind::OutOfOrder);
            return self;
        }
        self.header_done = true;
        let header_def = self.spec.header;
        if let Err(e) = write_field(
            FieldKey::Header,
            &header_def,
            header.as_bytes(),
            Form::Python,
            self.out,
        ) {
            self.error = Some(e);
        }
        self
    }

    /// Writes the MTI from its python value (`"0210"`, or hex for a binary MTI), after
    /// the header and before any field, and leaves room for the primary bitmap.
    pub fn mti(&mut self, mti: &str) -> &mut Self {
        if self.error.is_some() {
            return self;
        }
        if self.bitmap_at.is_some() {
            self.fail(FieldKey::Mti, Kind::OutOfOrder);
            return self;
        }
        if self.spec.has_header() && !self.header_done {
            self.fail(FieldKey::Header, Kind::Missing);
            return self;
        }
        let mti_def = self.spec.mti;
        let bytes = mti.as_bytes();
        if mti_def.data == DataEnc::Ascii
            && mti_def.class == Class::Any
            && bytes.len() == 4
            && bytes.is_ascii()
        {
            self.out.extend_from_slice(bytes);
        } else if let Err(e) = write_mti(&mti_def, bytes, Form::Python, self.out) {
            self.error = Some(e);
            return self;
        }
        let at = self.out.len();
        self.out.resize(at + bitmap_width(&self.spec.bitmap), 0);
        self.bitmap_at = Some(at);
        self
    }

    /// Writes field `n` from its python value: text for text encodings, hex digits for
    /// binary fields, as pyiso8583's `encode` takes them. Fields must come in ascending
    /// order, after the MTI.
    pub fn field<V: AsRef<[u8]> + ?Sized>(&mut self, n: u8, value: &V) -> &mut Self {
        self.put(n, value.as_ref(), Form::Python)
    }

    /// Writes field `n` from its wire data bytes (no length prefix), e.g. a binary PIN
    /// block or MAC.
    pub fn field_data(&mut self, n: u8, data: &[u8]) -> &mut Self {
        self.put(n, data, Form::Data)
    }

    #[inline]
    fn put(&mut self, n: u8, value: &[u8], form: Form) -> &mut Self {
        if self.error.is_some() {
            return self;
        }
        let key = FieldKey::Field(n);
        let Some(_) = self.bitmap_at else {
            self.fail(FieldKey::Mti, Kind::Missing);
            return self;
        };
        match n {
            1 | 65 => return self.bitmap_field(key),
            0 | 193.. => {
                self.fail(key, Kind::UndefinedField);
                return self;
            }
            _ if n <= self.last => {
                self.fail(key, Kind::OutOfOrder);
                return self;
            }
            _ => {}
        }
        if n > 64 && self.last <= 64 && !self.open_bitmap(n, 1) {
            return self;
        }
        if n > 128 && self.last <= 128 && !self.open_bitmap(n, 2) {
            return self;
        }
        self.last = n;
        let index = usize::from(n - 1);
        self.present[index / 64] |= BIT_FIRST >> (index % 64);
        if form == Form::Python && fast_field(self.spec.plan[usize::from(n)], value, self.out) {
            return self;
        }
        let def = &self.spec.fields[usize::from(n)];
        if !def.defined {
            self.fail(key, Kind::UndefinedField);
            return self;
        }
        if let Err(e) = write_field(key, def, value, form, self.out) {
            self.error = Some(e);
        }
        self
    }

    fn bitmap_field(&mut self, key: FieldKey) -> &mut Self {
        self.fail(key, Kind::BitmapField);
        self
    }

    /// Inserts room for bitmap `which` (1 = secondary, 2 = tertiary) before the data
    /// fields written so far, the first time a field beyond the previous bitmap's
    /// range is written. `false` when the spec has no secondary bitmap.
    fn open_bitmap(&mut self, n: u8, which: usize) -> bool {
        let def = &self.spec.fields[1];
        if !def.defined {
            self.fail(FieldKey::Field(n), Kind::NoSecondaryBitmap);
            return false;
        }
        let Some(primary) = self.bitmap_at else {
            return false;
        };
        let width = bitmap_width(def);
        let at = primary + bitmap_width(&self.spec.bitmap) + (which - 1) * width;
        self.out.splice(at..at, std::iter::repeat_n(0, width));
        true
    }

    /// Fills in the bitmaps and checks the message size. On error, the buffer is
    /// truncated to where it was when the writer was made.
    pub fn finish(mut self) -> Result<(), EncodeError> {
        let result = self.complete();
        if result.is_err() {
            self.out.truncate(self.start);
        }
        result
    }

    fn complete(&mut self) -> Result<(), EncodeError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        let missing = |field| EncodeError {
            field,
            kind: Kind::Missing,
        };
        let primary = self.bitmap_at.ok_or(missing(FieldKey::Mti))?;
        let tertiary = self.present[2] != 0;
        let secondary = tertiary || self.present[1] != 0;
        let primary_def = &self.spec.bitmap;
        let primary_end = primary + bitmap_width(primary_def);
        let first = self.present[0] | if secondary { BIT_FIRST } else { 0 };
        put_bitmap(primary_def, first, &mut self.out[primary..primary_end]);
        if secondary {
            let def = &self.spec.fields[1];
            let width = bitmap_width(def);
            let second = self.present[1] | if tertiary { BIT_FIRST } else { 0 };
            put_bitmap(def, second, &mut self.out[primary_end..primary_end + width]);
            if tertiary {
                let at = primary_end + width;
                put_bitmap(def, self.present[2], &mut self.out[at..at + width]);
            }
        }
        let len = self.out.len() - self.start;
        if len > MESSAGE_SIZE_MAX_BYTES {
            return Err(EncodeError {
                field: FieldKey::Mti,
                kind: Kind::MessageTooLarge {
                    len,
                    max: MESSAGE_SIZE_MAX_BYTES,
                },
            });
        }
        Ok(())
    }
}

/// Writes `bits` in `def`'s bitmap encoding over `slot` (its exact width).
fn put_bitmap(def: &FieldDef, bits: u64, slot: &mut [u8]) {
    match def.data {
        DataEnc::Binary => slot.copy_from_slice(&bits.to_be_bytes()),
        DataEnc::Cp500 => {
            let mut text = Vec::with_capacity(16);
            push_hex_text(def.data, &bits.to_be_bytes(), &mut text);
            slot.copy_from_slice(&text);
        }
        _ => slot.copy_from_slice(&hex16(bits)),
    }
}
