//! Sub-fields of 53, 60, 61 and 63 by name, so flows and risk rules never index digits.
//! Pure, with typed errors; a field that is absent is `None`, a field that is present
//! but malformed is an error naming it.

use crate::Message;

/// Field 60 (n..17): what the message is within the terminal's batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Field60 {
    /// 60.1, n2: transaction type code (22 purchase, 23 void, 00 management...).
    pub type_code: String,
    /// 60.2, n6: the terminal's batch number.
    pub batch: String,
    /// 60.3, n3: network management code (001/003/004 sign-on, 002 sign-off, 201
    /// settlement...).
    pub network_code: Option<String>,
    /// 60.4, n1: terminal read capability (5 contact IC, 6 contactless).
    pub read_capability: Option<u8>,
    /// 60.5, n1: IC condition (2 = fallback).
    pub ic_condition: Option<u8>,
    /// 60.6, n1: partial approval supported.
    pub partial_approval: Option<u8>,
    /// 60.7, n3: account type.
    pub account_type: Option<String>,
}

/// Field 61 (n..29): the original transaction a void, refund or completion names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Field61 {
    pub original_batch: Option<String>,
    pub original_trace: Option<String>,
    /// MMDD.
    pub original_date: Option<String>,
    pub auth_mode: Option<String>,
    pub auth_institution: Option<String>,
}

/// Field 53 (n16): security related control information.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Field53 {
    /// 53.1: PIN block format (1 = ISO format 0 with... terminals send 2 "with PAN").
    pub pin_format: u8,
    /// 53.2: 0 single DES, 6 double-length TDES.
    pub algorithm: u8,
    /// 53.3: 1 = track data encrypted under the TDK.
    pub track_encrypted: bool,
}

/// Field 63 of a reply: the network code and up to three GBK texts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Field63Reply {
    pub network: String,
    pub texts: Vec<String>,
}

/// The UnionPay sub-fields of one message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnionPayFields {
    pub f60: Option<Field60>,
    pub f61: Option<Field61>,
    pub f53: Option<Field53>,
    /// 63 of a request: operator code (`"01 "`) or card organisation (`"CUP"`).
    pub operator: Option<String>,
}

/// A sub-field that is present but malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubFieldError {
    #[error("field {field} is not decimal digits")]
    NotDigits { field: u8 },
    #[error("field {field} has {len} digits, fewer than its mandatory {min}")]
    TooShort { field: u8, len: usize, min: usize },
    #[error("field 63 text is not GBK")]
    NotGbk,
}

/// Mandatory digits of 60 (60.1 and 60.2).
const F60_MIN_DIGITS: usize = 8;
/// Field 63 replies: network code, then texts of this many bytes each.
const F63_NETWORK_BYTES: usize = 3;
const F63_TEXT_BYTES: usize = 20;
const F63_TEXTS_MAX: usize = 3;

fn digits_of(msg: &Message<'_>, field: u8) -> Result<Option<String>, SubFieldError> {
    match msg.field_str(field) {
        None => Ok(None),
        Some(v) if v.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(v.into_owned())),
        Some(_) => Err(SubFieldError::NotDigits { field }),
    }
}

/// Splits `text` into consecutive pieces of `widths`, stopping where it ends.
fn pieces<'t>(text: &'t str, widths: &[usize]) -> Vec<&'t str> {
    let mut out = Vec::with_capacity(widths.len());
    let mut at = 0;
    for &w in widths {
        let Some(piece) = text.get(at..at + w) else {
            break;
        };
        out.push(piece);
        at += w;
    }
    out
}

impl Field60 {
    pub fn parse(digits: &str) -> Result<Field60, SubFieldError> {
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SubFieldError::NotDigits { field: 60 });
        }
        if digits.len() < F60_MIN_DIGITS {
            let len = digits.len();
            return Err(SubFieldError::TooShort {
                field: 60,
                len,
                min: F60_MIN_DIGITS,
            });
        }
        let p = pieces(digits, &[2, 6, 3, 1, 1, 1, 3]);
        let one = |i: usize| p.get(i).map(|d| d.as_bytes()[0] - b'0');
        Ok(Field60 {
            type_code: p[0].to_owned(),
            batch: p[1].to_owned(),
            network_code: p.get(2).map(|s| (*s).to_owned()),
            read_capability: one(3),
            ic_condition: one(4),
            partial_approval: one(5),
            account_type: p.get(6).map(|s| (*s).to_owned()),
        })
    }

    /// The digits: 60.1 and 60.2, then each later sub-field up to the last one set.
    pub fn to_digits(&self) -> String {
        let mut out = format!("{}{}", self.type_code, self.batch);
        let ones = [
            self.read_capability,
            self.ic_condition,
            self.partial_approval,
        ];
        let Some(code) = &self.network_code else {
            return out;
        };
        out.push_str(code);
        for d in ones.into_iter().map_while(|d| d) {
            out.push(char::from(b'0' + d % 10));
        }
        if let (Some(acct), true) = (&self.account_type, ones.iter().all(Option::is_some)) {
            out.push_str(acct);
        }
        out
    }
}

impl Field61 {
    pub fn parse(digits: &str) -> Result<Field61, SubFieldError> {
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SubFieldError::NotDigits { field: 61 });
        }
        let p = pieces(digits, &[6, 6, 4, 2, 11]);
        let at = |i: usize| p.get(i).map(|s| (*s).to_owned());
        Ok(Field61 {
            original_batch: at(0),
            original_trace: at(1),
            original_date: at(2),
            auth_mode: at(3),
            auth_institution: at(4),
        })
    }

    /// Batch, trace and date: the reference a void or refund sends.
    pub fn reference(batch: &str, trace: &str, date_mmdd: &str) -> String {
        format!("{batch}{trace}{date_mmdd}")
    }
}

impl Field53 {
    pub fn parse(digits: &str) -> Result<Field53, SubFieldError> {
        let b = digits.as_bytes();
        if b.len() < 3 || !b.iter().all(u8::is_ascii_digit) {
            return Err(SubFieldError::NotDigits { field: 53 });
        }
        Ok(Field53 {
            pin_format: b[0] - b'0',
            algorithm: b[1] - b'0',
            track_encrypted: b[2] == b'1',
        })
    }

    pub fn to_digits(&self) -> String {
        let track = u8::from(self.track_encrypted);
        format!(
            "{}{}{}0000000000000",
            self.pin_format % 10,
            self.algorithm % 10,
            track
        )
    }
}

impl Field63Reply {
    /// Field 63 of a reply: network code, then the texts in GBK, each space-padded to 20
    /// bytes (a text longer than that, or that GBK cannot carry, is cut or dropped).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{:<3.3}", self.network).into_bytes();
        for text in self.texts.iter().take(F63_TEXTS_MAX) {
            let (gbk, _, unmappable) = encoding_rs::GBK.encode(text);
            let mut piece = if unmappable {
                Vec::new()
            } else {
                gbk.into_owned()
            };
            // Cut at a character boundary: a GBK character is one byte below 0x80, else two.
            let mut end = 0;
            while end < piece.len() {
                let width = if piece[end] < 0x80 { 1 } else { 2 };
                if end + width > F63_TEXT_BYTES {
                    break;
                }
                end += width;
            }
            piece.truncate(end);
            piece.resize(F63_TEXT_BYTES, b' ');
            out.extend_from_slice(&piece);
        }
        out
    }

    pub fn parse(bytes: &[u8]) -> Result<Field63Reply, SubFieldError> {
        let network = bytes.get(..F63_NETWORK_BYTES).unwrap_or(bytes);
        let network = std::str::from_utf8(network).map_err(|_| SubFieldError::NotGbk)?;
        let mut texts = Vec::new();
        for chunk in bytes
            .get(F63_NETWORK_BYTES..)
            .unwrap_or(&[])
            .chunks(F63_TEXT_BYTES)
        {
            let text = crate::encoding::gbk_decode(chunk).ok_or(SubFieldError::NotGbk)?;
            texts.push(text.trim_end().to_owned());
        }
        Ok(Field63Reply {
            network: network.to_owned(),
            texts,
        })
    }
}

/// Field 63 of a request as text: operator code (`"01 "`) or card organisation.
pub fn operator_code(msg: &Message<'_>) -> Option<String> {
    let raw = msg.field(63)?;
    let code = raw.get(..F63_NETWORK_BYTES).unwrap_or(raw);
    Some(String::from_utf8_lossy(code).into_owned())
}

impl UnionPayFields {
    /// Reads every sub-field the message carries.
    pub fn read(msg: &Message<'_>) -> Result<UnionPayFields, SubFieldError> {
        let f60 = digits_of(msg, 60)?
            .map(|d| Field60::parse(&d))
            .transpose()?;
        let f61 = digits_of(msg, 61)?
            .map(|d| Field61::parse(&d))
            .transpose()?;
        let f53 = digits_of(msg, 53)?
            .map(|d| Field53::parse(&d))
            .transpose()?;
        Ok(UnionPayFields {
            f60,
            f61,
            f53,
            operator: operator_code(msg),
        })
    }

    pub fn type_code(&self) -> Option<&str> {
        self.f60.as_ref().map(|f| f.type_code.as_str())
    }

    pub fn batch(&self) -> Option<&str> {
        self.f60.as_ref().map(|f| f.batch.as_str())
    }

    pub fn network_code(&self) -> Option<&str> {
        self.f60.as_ref()?.network_code.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_60_by_name() {
        // vfwz/iso8583-parser PosMessageTest.java: a purchase response's 60.
        let f = Field60::parse("22000727000600070").unwrap();
        assert_eq!((f.type_code.as_str(), f.batch.as_str()), ("22", "000727"));
        assert_eq!(f.network_code.as_deref(), Some("000"));
        assert_eq!(
            (f.read_capability, f.ic_condition, f.partial_approval),
            (Some(6), Some(0), Some(0))
        );
        assert_eq!(f.account_type.as_deref(), Some("070"));
        assert_eq!(f.to_digits(), "22000727000600070");
        let sign_on = Field60::parse("00000001003").unwrap();
        assert_eq!(sign_on.network_code.as_deref(), Some("003"));
        assert_eq!(sign_on.to_digits(), "00000001003");
        let short = Field60::parse("2200072").unwrap_err();
        assert_eq!(
            short,
            SubFieldError::TooShort {
                field: 60,
                len: 7,
                min: 8
            }
        );
        assert_eq!(
            Field60::parse("22000727A"),
            Err(SubFieldError::NotDigits { field: 60 })
        );
    }

    #[test]
    fn fields_61_53_63() {
        let f = Field61::parse("0000010000420824").unwrap();
        assert_eq!(f.original_batch.as_deref(), Some("000001"));
        assert_eq!(f.original_trace.as_deref(), Some("000042"));
        assert_eq!(f.original_date.as_deref(), Some("0824"));
        assert_eq!(f.auth_mode, None);
        let s = Field53::parse("2610000000000000").unwrap();
        assert_eq!((s.pin_format, s.algorithm, s.track_encrypted), (2, 6, true));
        assert_eq!(s.to_digits(), "2610000000000000");
        let reply = Field63Reply {
            network: "CUP".into(),
            texts: vec!["交易成功".into(), "谢谢惠顾".into()],
        };
        let bytes = reply.to_bytes();
        assert_eq!(bytes.len(), 3 + 2 * 20);
        assert_eq!(Field63Reply::parse(&bytes).unwrap(), reply);
        assert_eq!(
            Field63Reply::parse(&[b'C', b'U', b'P', 0xB0]),
            Err(SubFieldError::NotGbk)
        );
        // A text longer than 20 bytes is cut before the character that would not fit
        // (here after 9 two-byte characters and one ASCII byte: 19 bytes, padded).
        let long = Field63Reply {
            network: "CUP".into(),
            texts: vec!["A交易不允许在该终端进行".into()],
        };
        let parsed = Field63Reply::parse(&long.to_bytes()).unwrap();
        assert_eq!(parsed.texts, ["A交易不允许在该终端"]);
    }
}
