//! Loading a pyiso8583-layout JSON spec into a compact, precomputed field table.
//!
//! The JSON is only touched here: decode and encode index `Spec::fields` by field number
//! and never look at strings, so the hot path has no hashing and no allocation.

use serde_json::{Map, Value};

use crate::error::{FieldKey, SpecError};

/// Highest field number: pyiso8583 4.0.1 supports a tertiary bitmap (fields 129..=192).
pub const FIELD_NUMBER_MAX: u8 = 192;
/// Widest length prefix accepted, in bytes (pyiso8583's LLLLVAR is 4 ASCII digits; 8 keeps
/// any BCD or binary prefix within `u64`).
pub const LEN_PREFIX_MAX_BYTES: u8 = 8;

/// How a field's data is carried on the wire (`data_enc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DataEnc {
    /// `"b"`: raw bytes; the python value is their hex string (also used for BCD).
    Binary,
    Ascii,
    Latin1,
    /// EBCDIC, code page 500.
    Cp500,
    /// GBK (Python's `gbk`, code page 936): the Chinese text of UnionPay terminals
    /// (merchant names, answer texts). ASCII bytes are single-byte; others are pairs.
    Gbk,
}

/// How a variable field's length prefix is carried (`len_enc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LenEnc {
    /// `"b"`: big-endian unsigned integer `len_type` bytes wide.
    Binary,
    /// `"bcd"`: `2 * len_type` decimal digits packed two per byte.
    Bcd,
    /// Decimal digits in a text encoding: ASCII and Latin-1 digits are the same bytes.
    Ascii,
    Cp500,
}

/// posguard's optional `"posguard_type"` field property: the ISO 8583 character class the
/// data must satisfy. pyiso8583 ignores unknown properties, so a spec carrying it still
/// loads there; without it posguard checks only what pyiso8583 checks (the encoding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// No check beyond the encoding (`"ans"`, `"b"`, or the property absent).
    Any,
    /// `"n"`: decimal digits only (for `data_enc: "b"` this means BCD).
    Numeric,
    /// `"an"`: ASCII letters and digits only.
    Alphanumeric,
}

impl Class {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::Numeric => "numeric",
            Self::Alphanumeric => "alphanumeric",
        }
    }
}

/// One field's spec, precomputed. 16 bytes, so the whole table stays in a few cache lines
/// per message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FieldDef {
    pub max_len: u32,
    pub data: DataEnc,
    pub len_enc: LenEnc,
    /// Width of the length prefix in bytes; 0 = fixed length (`max_len`).
    pub len_type: u8,
    /// `len_count == "nibbles"`: lengths count half bytes.
    pub nibbles: bool,
    /// First character of `left_pad` / `right_pad`, if set (pyiso8583 uses `[:1]`).
    pub left_pad: Option<u8>,
    pub right_pad: Option<u8>,
    pub class: Class,
    pub defined: bool,
}

impl FieldDef {
    const UNDEFINED: Self = Self {
        max_len: 0,
        data: DataEnc::Ascii,
        len_enc: LenEnc::Ascii,
        len_type: 0,
        nibbles: false,
        left_pad: None,
        right_pad: None,
        class: Class::Any,
        defined: false,
    };

    /// The pad character used when encoding an odd nibble count: left takes precedence.
    pub(crate) fn pad(&self) -> Option<u8> {
        self.left_pad.or(self.right_pad)
    }
}

/// The character check a fast-path field's data needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FastCheck {
    /// Not on the fast path: undefined, or a layout only the general code handles.
    General,
    /// ASCII data, no class: every byte below 0x80.
    Ascii,
    /// Latin-1 data, no class: every byte is valid.
    None,
    /// Class `n` in ASCII or Latin-1: ASCII digits.
    Digits,
    /// Class `an` in ASCII or Latin-1: ASCII letters and digits.
    Alphanumeric,
}

impl FastCheck {
    /// Whether `data` passes; always `false` for [`FastCheck::General`].
    #[inline(always)]
    pub(crate) fn ok(self, data: &[u8]) -> bool {
        match self {
            Self::General => false,
            Self::Ascii => crate::encoding::all_ascii(data),
            Self::None => true,
            Self::Digits => crate::encoding::all_digits(data),
            Self::Alphanumeric => data.iter().all(u8::is_ascii_alphanumeric),
        }
    }
}

/// A fast-path field's length prefix and character check as one value, so the decode
/// loop branches once per field (one jump table) into code made for that layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Not on the fast path (`FastCheck::General`).
    General,
    FixedAscii,
    FixedLatin1,
    FixedDigits,
    /// Fixed digits 4 to 8 bytes long (most dates, times, codes and amounts' parts):
    /// checked as one word made of the first and last four bytes, with no length test.
    FixedDigitsWord,
    FixedAlnum,
    /// Two ASCII length digits (LLVAR).
    LlAscii,
    LlLatin1,
    LlDigits,
    LlAlnum,
    /// Three ASCII length digits (LLLVAR).
    LllAscii,
    LllLatin1,
    LllDigits,
    LllAlnum,
    /// One or four ASCII length digits.
    VarAscii,
    VarLatin1,
    VarDigits,
    VarAlnum,
}

impl Layout {
    fn of(prefix: u8, check: FastCheck, len: u16) -> Self {
        use FastCheck as C;
        use Layout as L;
        let [ascii, latin1, digits, alnum] = match prefix {
            0 => [L::FixedAscii, L::FixedLatin1, L::FixedDigits, L::FixedAlnum],
            2 => [L::LlAscii, L::LlLatin1, L::LlDigits, L::LlAlnum],
            3 => [L::LllAscii, L::LllLatin1, L::LllDigits, L::LllAlnum],
            _ => [L::VarAscii, L::VarLatin1, L::VarDigits, L::VarAlnum],
        };
        match check {
            C::General => L::General,
            C::Ascii => ascii,
            C::None => latin1,
            C::Digits if prefix == 0 && DIGITS_WORD_LEN.contains(&len) => L::FixedDigitsWord,
            C::Digits => digits,
            C::Alphanumeric => alnum,
        }
    }
}

/// `PREFIX` of [`ForLayout::run`] for fixed fields, and for prefixes other than two or
/// three digits (then read from the plan).
pub(crate) const FIXED: u8 = 0;
pub(crate) const VAR: u8 = u8::MAX;
/// `CHECK` of [`ForLayout::run`]: the [`FastCheck`] variants a const parameter can name.
pub(crate) const ASCII: u8 = 0;
pub(crate) const LATIN1: u8 = 1;
pub(crate) const DIGITS: u8 = 2;
pub(crate) const ALNUM: u8 = 3;
/// Digits in [`DIGITS_WORD_LEN`] bytes ([`Layout::FixedDigitsWord`]).
pub(crate) const DIGITS_WORD: u8 = 4;
/// Lengths of [`Layout::FixedDigitsWord`] fields.
pub(crate) const DIGITS_WORD_LEN: std::ops::RangeInclusive<u16> = 4..=8;

/// Work on one fast-path field, compiled once per layout.
pub(crate) trait ForLayout {
    type Output;
    fn run<const PREFIX: u8, const CHECK: u8>(self) -> Option<Self::Output>;
}

impl Layout {
    /// Runs `work` made for this layout; `None` for [`Layout::General`].
    #[inline(always)]
    pub(crate) fn run<W: ForLayout>(self, work: W) -> Option<W::Output> {
        use Layout as L;
        match self {
            L::General => None,
            L::FixedAscii => work.run::<FIXED, ASCII>(),
            L::FixedLatin1 => work.run::<FIXED, LATIN1>(),
            L::FixedDigits => work.run::<FIXED, DIGITS>(),
            L::FixedDigitsWord => work.run::<FIXED, DIGITS_WORD>(),
            L::FixedAlnum => work.run::<FIXED, ALNUM>(),
            L::LlAscii => work.run::<2, ASCII>(),
            L::LlLatin1 => work.run::<2, LATIN1>(),
            L::LlDigits => work.run::<2, DIGITS>(),
            L::LlAlnum => work.run::<2, ALNUM>(),
            L::LllAscii => work.run::<3, ASCII>(),
            L::LllLatin1 => work.run::<3, LATIN1>(),
            L::LllDigits => work.run::<3, DIGITS>(),
            L::LllAlnum => work.run::<3, ALNUM>(),
            L::VarAscii => work.run::<VAR, ASCII>(),
            L::VarLatin1 => work.run::<VAR, LATIN1>(),
            L::VarDigits => work.run::<VAR, DIGITS>(),
            L::VarAlnum => work.run::<VAR, ALNUM>(),
        }
    }
}

/// A field's layout reduced to what the hot loops of decode and encode branch on
/// (reading a text field looks at [`Spec::text_at`] instead), flattened into 6 bytes so
/// the per-field table is a few cache lines. The fast path covers text data with
/// ASCII length digits counting bytes (`check != General`); everything else, and every
/// error, goes through the general code with `FieldDef`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Fixed length (`prefix == 0`), or the most bytes a variable field may carry.
    pub len: u16,
    /// `len_type`: width of the length prefix (ASCII digits on the fast path).
    pub prefix: u8,
    pub check: FastCheck,
    /// `prefix` and `check` together, for decode's dispatch.
    pub layout: Layout,
    /// Always 0. Fills what would be a padding byte: a plan with one is copied field by
    /// field where the writer takes it by value (`encode_writer_posguard` 2,402 -> 2,476
    /// instructions without this byte).
    pub spare: u8,
}

impl Plan {
    const GENERAL: Self = Self {
        len: 0,
        prefix: 0,
        check: FastCheck::General,
        layout: Layout::General,
        spare: 0,
    };

    /// [`Spec::text_at`] of fields whose python value is not their wire bytes.
    pub(crate) const NOT_TEXT: u8 = u8::MAX;

    /// For ASCII data counted in bytes, whose python value is the wire bytes themselves:
    /// where that value starts in the field (the prefix width); else [`Self::NOT_TEXT`].
    fn text_at(def: &FieldDef) -> u8 {
        if def.defined && def.data == DataEnc::Ascii && !def.nibbles {
            def.len_type
        } else {
            Self::NOT_TEXT
        }
    }

    fn of(def: &FieldDef) -> Self {
        let general = Self {
            prefix: def.len_type,
            ..Self::GENERAL
        };
        let check = match (def.data, def.class) {
            (DataEnc::Ascii | DataEnc::Latin1, Class::Numeric) => FastCheck::Digits,
            (DataEnc::Ascii | DataEnc::Latin1, Class::Alphanumeric) => FastCheck::Alphanumeric,
            (DataEnc::Ascii, Class::Any) => FastCheck::Ascii,
            (DataEnc::Latin1, Class::Any) => FastCheck::None,
            _ => return general,
        };
        let Ok(len) = u16::try_from(def.max_len) else {
            return general;
        };
        match (def.len_type, def.len_enc) {
            _ if !def.defined || def.nibbles => general,
            (0, _) | (1..=4, LenEnc::Ascii) => Self {
                len,
                check,
                layout: Layout::of(def.len_type, check, len),
                ..general
            },
            _ => general,
        }
    }
}

/// A message spec: how the header, MTI, bitmaps and fields 2..=192 are encoded.
#[derive(Clone, Debug)]
pub struct Spec {
    pub(crate) header: FieldDef,
    pub(crate) mti: FieldDef,
    pub(crate) bitmap: FieldDef,
    /// Indexed by field number; index 0 is unused, 1 is the secondary bitmap.
    pub(crate) fields: [FieldDef; FIELD_NUMBER_MAX as usize + 1],
    /// `Plan::of(fields[n])`, precomputed; one entry per `u8` (those past 192 are
    /// general) so the hot loops index it by field number without a bounds check.
    pub(crate) plan: [Plan; PLAN_SLOTS],
    /// `Plan::text_at(fields[n])`, one byte per `u8` field number: reading a text field
    /// tests and skips its prefix with one load indexed by the field number as it is.
    pub(crate) text_at: [u8; PLAN_SLOTS],
}

/// Entries of `Spec::plan`: every `u8` field number.
const PLAN_SLOTS: usize = u8::MAX as usize + 1;

static POSGUARD_ASCII_JSON: &str = include_str!("../../../specs/posguard-ascii.json");
static POSGUARD_BINARY_JSON: &str = include_str!("../../../specs/posguard-binary.json");
static UNIONPAY_JSON: &str = include_str!("../../../specs/unionpay.json");

impl Spec {
    /// Parses a spec in pyiso8583 4.0.1's dictionary layout.
    ///
    /// Unlike pyiso8583, which fails only when a message uses a bad field, posguard
    /// validates every field up front (encodings, pads, widths), so a bad spec fails at
    /// start-up rather than on the first transaction that touches it.
    pub fn from_json(json: &str) -> Result<Self, SpecError> {
        let value: Value = serde_json::from_str(json)?;
        let object = value.as_object().ok_or(SpecError::NotAnObject)?;
        let mut spec = Self {
            header: FieldDef::UNDEFINED,
            mti: FieldDef::UNDEFINED,
            bitmap: FieldDef::UNDEFINED,
            fields: [FieldDef::UNDEFINED; FIELD_NUMBER_MAX as usize + 1],
            plan: [Plan::GENERAL; PLAN_SLOTS],
            text_at: [Plan::NOT_TEXT; PLAN_SLOTS],
        };
        for (key, props) in object {
            let field = parse_key(key)?;
            let def = parse_field(field, props)?;
            match field {
                FieldKey::Header => spec.header = def,
                FieldKey::Mti => spec.mti = def,
                FieldKey::Bitmap => spec.bitmap = def,
                FieldKey::Field(n) => spec.fields[usize::from(n)] = def,
            }
        }
        for (def, name) in [(&spec.header, "h"), (&spec.mti, "t"), (&spec.bitmap, "p")] {
            if !def.defined {
                return Err(SpecError::MissingField(name));
            }
        }
        for ((plan, text_at), def) in spec
            .plan
            .iter_mut()
            .zip(&mut spec.text_at)
            .zip(&spec.fields)
        {
            *plan = Plan::of(def);
            *text_at = Plan::text_at(def);
        }
        // Fields 1 and 65 are bitmaps, never text data: reading them takes the general
        // path, so the text fast path need not test for them on every read.
        for n in [1, 65] {
            spec.text_at[n] = Plan::NOT_TEXT;
        }
        Ok(spec)
    }

    /// Reads and parses a spec file (the only I/O in this crate).
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Self, SpecError> {
        let path = path.as_ref();
        let json = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&json)
    }

    /// `specs/posguard-ascii.json`: pyiso8583's `default_ascii` (hex-text bitmaps).
    pub fn posguard_ascii() -> Self {
        // The embedded file is tested in this crate's unit tests, so this cannot fail at
        // run time unless the build embedded a broken file, which the tests would catch.
        Self::from_json(POSGUARD_ASCII_JSON).expect("embedded specs/posguard-ascii.json")
    }

    /// `specs/posguard-binary.json`: as `posguard_ascii` with 8-byte binary bitmaps.
    pub fn posguard_binary() -> Self {
        Self::from_json(POSGUARD_BINARY_JSON).expect("embedded specs/posguard-binary.json")
    }

    /// `specs/unionpay.json`: UnionPay-style (银联) POS terminals: BCD MTI and numeric
    /// fields, BCD length prefixes (digits for numeric fields, bytes for the rest), GBK
    /// text. The TPDU and 6-byte header in front are link framing (`unionpay` module).
    pub fn unionpay() -> Self {
        Self::from_json(UNIONPAY_JSON).expect("embedded specs/unionpay.json")
    }

    /// Whether the spec defines field `n` (1 = secondary bitmap, 2..=192 data fields).
    pub fn defines(&self, n: u8) -> bool {
        self.fields.get(usize::from(n)).is_some_and(|d| d.defined)
    }

    /// Whether the spec has a message header (`h.max_len > 0`).
    pub fn has_header(&self) -> bool {
        self.header.max_len > 0
    }
}

fn parse_key(key: &str) -> Result<FieldKey, SpecError> {
    let unknown = || SpecError::UnknownKey(key.to_owned());
    match key {
        "h" => Ok(FieldKey::Header),
        "t" => Ok(FieldKey::Mti),
        "p" => Ok(FieldKey::Bitmap),
        // pyiso8583 looks fields up as str(int), so only canonical decimals are fields.
        _ if key.starts_with('0') => Err(unknown()),
        _ => match key.parse::<u8>() {
            Ok(n) if (1..=FIELD_NUMBER_MAX).contains(&n) => Ok(FieldKey::Field(n)),
            _ => Err(unknown()),
        },
    }
}

fn parse_field(field: FieldKey, props: &Value) -> Result<FieldDef, SpecError> {
    let invalid = |property, reason: &str| SpecError::InvalidProperty {
        field,
        property,
        reason: reason.to_owned(),
    };
    let props = props
        .as_object()
        .ok_or(invalid("*", "field spec must be an object"))?;
    let data = match text_or_binary(str_prop(field, props, "data_enc")?) {
        Some(d) => d,
        None => return Err(invalid("data_enc", "unsupported encoding")),
    };
    let len_enc = match str_prop(field, props, "len_enc")? {
        "bcd" => LenEnc::Bcd,
        name => match text_or_binary(name) {
            Some(DataEnc::Binary) => LenEnc::Binary,
            Some(DataEnc::Ascii | DataEnc::Latin1) => LenEnc::Ascii,
            Some(DataEnc::Cp500) => LenEnc::Cp500,
            // A GBK length prefix would be ASCII digits: one-byte GBK is ASCII.
            Some(DataEnc::Gbk) => LenEnc::Ascii,
            None => return Err(invalid("len_enc", "unsupported encoding")),
        },
    };
    let len_type = u8::try_from(uint_prop(field, props, "len_type")?)
        .ok()
        .filter(|&t| t <= LEN_PREFIX_MAX_BYTES)
        .ok_or(invalid("len_type", "must be 0..=8"))?;
    let max_len = u32::try_from(uint_prop(field, props, "max_len")?)
        .map_err(|_| invalid("max_len", "too large"))?;
    let nibbles = match props.get("len_count") {
        None => false,
        Some(Value::String(s)) if s == "bytes" => false,
        Some(Value::String(s)) if s == "nibbles" => true,
        Some(_) => return Err(invalid("len_count", "must be \"bytes\" or \"nibbles\"")),
    };
    let left_pad = pad_prop(props, "left_pad").map_err(|r| invalid("left_pad", r))?;
    let right_pad = pad_prop(props, "right_pad").map_err(|r| invalid("right_pad", r))?;
    let class = match props.get("posguard_type") {
        None => Class::Any,
        Some(Value::String(s)) => match s.as_str() {
            "n" => Class::Numeric,
            "an" if data != DataEnc::Binary => Class::Alphanumeric,
            "ans" | "b" => Class::Any,
            _ => return Err(invalid("posguard_type", "must be n, an, ans or b")),
        },
        Some(_) => return Err(invalid("posguard_type", "must be a string")),
    };
    Ok(FieldDef {
        max_len,
        data,
        len_enc,
        len_type,
        nibbles,
        left_pad,
        right_pad,
        class,
        defined: true,
    })
}

/// Maps a Python codec name (after Python's normalisation: case-insensitive, `-` and ` `
/// equal `_`) to a supported encoding.
fn text_or_binary(name: &str) -> Option<DataEnc> {
    let normalized: String = name
        .chars()
        .map(|c| {
            if c == '-' || c == ' ' {
                '_'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    match normalized.as_str() {
        "b" => Some(DataEnc::Binary),
        "ascii" | "us_ascii" | "646" => Some(DataEnc::Ascii),
        "latin_1" | "latin1" | "latin" | "l1" | "iso_8859_1" | "iso8859_1" | "8859" | "cp819" => {
            Some(DataEnc::Latin1)
        }
        "cp500" | "ibm500" | "500" | "ebcdic_cp_be" | "ebcdic_cp_ch" => Some(DataEnc::Cp500),
        "gbk" | "936" | "cp936" | "ms936" => Some(DataEnc::Gbk),
        _ => None,
    }
}

fn str_prop<'j>(
    field: FieldKey,
    props: &'j Map<String, Value>,
    property: &'static str,
) -> Result<&'j str, SpecError> {
    props
        .get(property)
        .and_then(Value::as_str)
        .ok_or(SpecError::MissingProperty { field, property })
}

fn uint_prop(
    field: FieldKey,
    props: &Map<String, Value>,
    property: &'static str,
) -> Result<u64, SpecError> {
    props
        .get(property)
        .and_then(Value::as_u64)
        .ok_or(SpecError::MissingProperty { field, property })
}

/// pyiso8583 takes the first character of the pad string; empty means no pad. The pad is
/// hex-decoded with the data, so it must be a hex digit.
fn pad_prop(props: &Map<String, Value>, property: &str) -> Result<Option<u8>, &'static str> {
    match props.get(property) {
        None => Ok(None),
        Some(Value::String(s)) => match s.bytes().next() {
            None => Ok(None),
            Some(c) if c.is_ascii_hexdigit() => Ok(Some(c)),
            Some(_) => Err("must start with a hex digit"),
        },
        Some(_) => Err("must be a string"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_specs_load() {
        let ascii = Spec::posguard_ascii();
        let binary = Spec::posguard_binary();
        assert_eq!(ascii.bitmap.data, DataEnc::Ascii);
        assert_eq!(binary.bitmap.data, DataEnc::Binary);
        assert!(ascii.defines(128) && !ascii.defines(129) && !ascii.has_header());
        assert_eq!(ascii.fields[2].len_type, 2);
        assert_eq!(ascii.fields[2].max_len, 19);
        let unionpay = Spec::unionpay();
        assert_eq!(unionpay.mti.data, DataEnc::Binary);
        assert_eq!(unionpay.fields[43].data, DataEnc::Gbk);
        assert!(unionpay.fields[2].nibbles && unionpay.fields[2].len_enc == LenEnc::Bcd);
    }

    #[test]
    fn rejects_bad_specs() {
        let base = r#""h":{"data_enc":"ascii","len_enc":"ascii","len_type":0,"max_len":0},
            "t":{"data_enc":"ascii","len_enc":"ascii","len_type":0,"max_len":4},
            "p":{"data_enc":"b","len_enc":"ascii","len_type":0,"max_len":8}"#;
        let with = |extra: &str| Spec::from_json(&format!("{{{base}{extra}}}"));
        assert!(with("").is_ok());
        let bad = [
            r#","2":{"data_enc":"utf-16","len_enc":"ascii","len_type":2,"max_len":19}"#,
            r#","2":{"data_enc":"ascii","len_enc":"ascii","len_type":9,"max_len":19}"#,
            r#","2":{"data_enc":"ascii","len_enc":"ascii","len_type":2}"#,
            r#","2":{"data_enc":"b","len_enc":"bcd","len_type":1,"max_len":9,"left_pad":"x"}"#,
            r#","2":{"data_enc":"b","len_enc":"bcd","len_type":1,"max_len":9,"len_count":"bits"}"#,
            r#","2":{"data_enc":"ascii","len_enc":"ascii","len_type":0,"max_len":1,"posguard_type":"q"}"#,
            r#","193":{"data_enc":"ascii","len_enc":"ascii","len_type":0,"max_len":1}"#,
            r#","02":{"data_enc":"ascii","len_enc":"ascii","len_type":0,"max_len":1}"#,
        ];
        for extra in bad {
            assert!(with(extra).is_err(), "accepted {extra}");
        }
        assert!(matches!(Spec::from_json("[]"), Err(SpecError::NotAnObject)));
        assert!(matches!(
            Spec::from_json("{}"),
            Err(SpecError::MissingField(_))
        ));
    }

    #[test]
    fn python_codec_aliases() {
        assert_eq!(text_or_binary("Latin-1"), Some(DataEnc::Latin1));
        assert_eq!(text_or_binary("ISO-8859-1"), Some(DataEnc::Latin1));
        assert_eq!(text_or_binary("EBCDIC-CP-BE"), Some(DataEnc::Cp500));
        assert_eq!(text_or_binary("CP936"), Some(DataEnc::Gbk));
        assert_eq!(text_or_binary("utf-8"), None);
    }
}
