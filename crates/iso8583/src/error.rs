//! Typed errors. Every error names the field it concerns in pyiso8583's key form
//! (`h`, `t`, `p`, `1`..`192`) so logs and the conformance driver read the same way.

use std::fmt;

/// A position in a message: header, MTI, primary bitmap or a numbered field
/// (1 = secondary bitmap, 2..=192 = data elements, 65 = tertiary bitmap indicator).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldKey {
    /// `h`: the message header, present when the spec's `h.max_len > 0`.
    Header,
    /// `t`: the message type indicator.
    Mti,
    /// `p`: the primary bitmap.
    Bitmap,
    /// `1`..`192`.
    Field(u8),
}

impl fmt::Display for FieldKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Header => f.write_str("h"),
            Self::Mti => f.write_str("t"),
            Self::Bitmap => f.write_str("p"),
            Self::Field(n) => write!(f, "{n}"),
        }
    }
}

/// A spec file could not be read or does not describe a usable spec.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    #[error("read spec file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("spec is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("spec must be a JSON object of field specs")]
    NotAnObject,
    #[error("spec has unknown key {0:?} (expected h, t, p, 1..192)")]
    UnknownKey(String),
    #[error("spec lacks mandatory field {0:?}")]
    MissingField(&'static str),
    #[error("spec field {field}: missing or mistyped property {property:?}")]
    MissingProperty {
        field: FieldKey,
        property: &'static str,
    },
    #[error("spec field {field}: property {property:?}: {reason}")]
    InvalidProperty {
        field: FieldKey,
        property: &'static str,
        reason: String,
    },
}

/// Why decoding failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The message ends inside this field (also: a field the bitmap announces is missing).
    #[error("truncated: need {needed} bytes, {available} left")]
    Truncated { needed: usize, available: usize },
    #[error("invalid length digits")]
    InvalidLength,
    #[error("declared length {len} exceeds max_len {max}")]
    TooLong { len: u64, max: u32 },
    #[error("data is not valid {encoding}")]
    InvalidData { encoding: &'static str },
    #[error("data is not {class}")]
    WrongClass { class: &'static str },
    #[error("bitmap is not 16 hex digits")]
    InvalidBitmap,
    #[error("odd nibble field does not carry the spec's pad")]
    InvalidPad,
    #[error("bitmap announces a field the spec does not define")]
    UndefinedField,
    #[error("bitmap announces a secondary bitmap the spec does not define")]
    NoSecondaryBitmap,
    #[error("{extra} bytes after the last field")]
    ExtraData { extra: usize },
    #[error("message is {len} bytes, more than {max}")]
    MessageTooLarge { len: usize, max: usize },
    #[error("a streaming writer takes header, MTI, then fields in ascending order")]
    OutOfOrder,
}

/// A message could not be decoded: `kind` at `field`, starting at byte `pos`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: field {field} pos {pos}")]
pub struct DecodeError {
    pub field: FieldKey,
    pub pos: usize,
    pub kind: DecodeErrorKind,
}

/// Why encoding failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeErrorKind {
    #[error("value is required")]
    Missing,
    #[error("field is not defined in the spec")]
    UndefinedField,
    #[error("bitmap fields 1 and 65 are computed, not set")]
    BitmapField,
    #[error("fields above 64 need a secondary bitmap, the spec defines none")]
    NoSecondaryBitmap,
    #[error("value is {len} {unit}, expecting {expected}")]
    WrongLength {
        len: usize,
        expected: u32,
        unit: &'static str,
    },
    #[error("value is {len} {unit}, larger than maximum {max}")]
    TooLong {
        len: usize,
        max: u32,
        unit: &'static str,
    },
    #[error("value is not encodable as {encoding}")]
    InvalidData { encoding: &'static str },
    #[error("value is not {class}")]
    WrongClass { class: &'static str },
    #[error("value is not an even number of hex digits")]
    InvalidHex,
    #[error("odd-length nibble data and the spec sets no pad")]
    NeedsPad,
    #[error("length does not fit the length prefix")]
    LengthOverflow,
    #[error("message is {len} bytes, more than {max}")]
    MessageTooLarge { len: usize, max: usize },
    #[error("a streaming writer takes header, MTI, then fields in ascending order")]
    OutOfOrder,
}

/// A message could not be encoded: `kind` at `field`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: field {field}")]
pub struct EncodeError {
    pub field: FieldKey,
    pub kind: EncodeErrorKind,
}
