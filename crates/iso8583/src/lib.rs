//! ISO 8583 codec whose field definitions are data, plus link framing.
//!
//! **Architecture Invariant:** no I/O except [`Spec::load`]; nothing here knows about
//! sockets or time. Decoding never panics on any input (fuzzed by proptest).
//!
//! # Specs
//!
//! A spec is a JSON object in pyiso8583 4.0.1's dictionary layout (keys `h`, `t`, `p`,
//! `1`..`192`; per field `data_enc`, `len_enc`, `len_type`, `max_len`, `desc`, optional
//! `len_count`, `left_pad`, `right_pad`), so one file drives both posguard and a
//! pyiso8583 client (`iso8583.decode(s, json.load(f))`). Supported encodings: `"b"`
//! (binary, which is also how pyiso8583 does BCD data), `ascii`, `latin-1` and `cp500`
//! (EBCDIC) with their Python aliases; lengths additionally `"bcd"`.
//! posguard adds one optional property that pyiso8583 ignores, `"posguard_type"`: `"n"`
//! (digits; BCD digits for `"b"` data), `"an"` (ASCII letters and digits), `"ans"`/`"b"`
//! (no check). See `specs/README.md`.
//!
//! # Values
//!
//! A field's *python value* is what pyiso8583 puts in its decoded dict and takes in
//! `encode`: for text encodings the text itself (here as UTF-8), for `"b"` fields the hex
//! digits of the bytes (upper case when decoded, either case when encoding), without the
//! pad nibble of an odd `len_count: "nibbles"` field. [`Message::field_str`] returns it and
//! [`MessageBuilder::set`] takes it; [`Message::field`] and [`MessageBuilder::set_data`]
//! are the raw wire bytes instead. [`Message::iter_str`] yields every present field's
//! value in one pass (forwarding, logging, mapping a whole message).
//!
//! # Bitmaps
//!
//! As in pyiso8583 4.0.1: bit 1 announces the secondary bitmap (spec field `1`); bit 65
//! announces a tertiary bitmap (fields 129..=192) read right after the secondary one with
//! field `1`'s encoding. Fields 1 and 65 are never data; the encoder computes them.
//!
//! # Example: answer a request
//!
//! ```
//! use iso8583::{MessageBuilder, Spec};
//! let spec = Spec::posguard_ascii();
//! let request = b"0800822000000000000004000000000000001121230101000123301";
//! let msg = spec.decode(request)?;
//! assert_eq!(msg.mti(), "0800");
//! let mut response = MessageBuilder::from_message(&msg);
//! response.set_mti("0810").set(39, "00");
//! let mut out = Vec::new();
//! response.encode_into(&spec, &mut out)?;
//! assert_eq!(spec.decode(&out)?.field_str(39).as_deref(), Some("00"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod decode;
mod ebcdic;
mod encode;
mod encoding;
mod error;
pub mod frame;
mod spec;
pub mod unionpay;
mod writer;

#[cfg(test)]
mod fuzz_tests;

pub use decode::{FieldStrs, MESSAGE_SIZE_MAX_BYTES, Message};
pub use encode::MessageBuilder;
pub use error::{DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind, FieldKey, SpecError};
pub use spec::{FIELD_NUMBER_MAX, LEN_PREFIX_MAX_BYTES, Spec};
pub use writer::Writer;
