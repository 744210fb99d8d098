//! posguard's codec against other Rust ISO 8583 codecs, in one process, on the reference
//! message of `benches/codec.rs` (an 0200 with fields 2, 3, 4, 7, 11, 12, 13, 14, 22, 25,
//! 35, 37, 41, 42, 43, 49).
//!
//! Run: `cargo bench -p iso8583 --bench compare`, or `scripts/bench-codec.sh` for the
//! README table (which adds pyiso8583).
//!
//! Equivalence (every competitor gets the same bytes and the same work):
//! - `iso_8583_rs` 0.2.2 speaks exactly posguard-ascii's wire format (ASCII MTI, 16
//!   upper-case hex digit bitmaps, ASCII LLVAR/LLLVAR prefixes). Its spec is derived from
//!   `specs/posguard-ascii.json` field by field: `len_type` 0/2/3 -> `fixed`/`llvar`/
//!   `lllvar`, same `max_len`, `MinLen` 0, `posguard_type: "n"` -> `n`, every other field
//!   -> `ans` (printable ASCII). posguard checks those fields for ASCII (0x00..=0x7F), the
//!   nearest check iso_8583_rs has is `ans` (0x20..=0x7E): the same one-pass byte check.
//!   Both encoders produce the identical 208 bytes (asserted before timing).
//! - "decode + read every field": parse with full validation (`Message::parse`, not
//!   `parse_lazy`), then the MTI and every present field as `&str`. posguard is timed
//!   two ways: `decode_read_all_posguard` looks each field up (`fields()` then
//!   `field_str(n)`), `decode_read_all_iter_posguard` walks them in one pass
//!   (`iter_str()`); both read exactly the same values (collected both ways and compared
//!   before timing), so the second is the same work through the one-pass API.
//! - "encode": set the MTI and the 16 values on a fresh builder, encode into a reused Vec.
//! - `iso8583-codec` 0.1.1 only knows binary bitmaps, so it is compared on the
//!   posguard-binary form of the same message (8-byte binary bitmap, 200 bytes), with
//!   posguard also run on that spec. Its API owns its values (`String` per field), so its
//!   encode includes building those values from the same `&str`s.

use iso8583::{MessageBuilder, Spec};
use serde_json::Value;

fn main() {
    divan::main();
}

mod common;
use common::FIELDS;

const ASCII_JSON: &str = include_str!("../../../specs/posguard-ascii.json");
const BINARY_JSON: &str = include_str!("../../../specs/posguard-binary.json");

fn posguard_encode(spec: &Spec) -> Vec<u8> {
    let mut b = MessageBuilder::new();
    b.set_mti("0200");
    for &(n, v) in FIELDS {
        b.set(n, v);
    }
    let mut out = Vec::new();
    b.encode_into(spec, &mut out).expect("reference encodes");
    out
}

/// Data fields 2..=128 (without 65) of a posguard JSON spec: (number, len_type, max_len,
/// numeric).
fn json_fields(json: &str) -> Vec<(u8, u64, u64, bool)> {
    let spec: Value = serde_json::from_str(json).expect("spec JSON");
    let mut fields = Vec::new();
    for (key, props) in spec.as_object().expect("object") {
        let Ok(n) = key.parse::<u8>() else { continue };
        if !(2..=128).contains(&n) || n == 65 {
            continue;
        }
        assert_eq!(props["data_enc"], "ascii");
        assert_eq!(props["len_enc"], "ascii");
        let numeric = props.get("posguard_type").and_then(Value::as_str) == Some("n");
        let len_type = props["len_type"].as_u64().expect("len_type");
        let max_len = props["max_len"].as_u64().expect("max_len");
        fields.push((n, len_type, max_len, numeric));
    }
    fields
}

fn rs_spec() -> iso_8583_rs::CompiledSpec {
    use iso_8583_rs::specfile::{FieldDescription, Spec as RsSpec};
    let fields = json_fields(ASCII_JSON)
        .into_iter()
        .map(|(n, len_type, max_len, numeric)| {
            let len_type = match len_type {
                0 => "fixed",
                2 => "llvar",
                3 => "lllvar",
                4 => "llllvar",
                other => panic!("len_type {other}"),
            };
            let desc = FieldDescription {
                content_type: if numeric { "n" } else { "ans" }.into(),
                max_len: max_len as usize,
                min_len: 0,
                len_type: len_type.into(),
                label: String::new(),
            };
            (i64::from(n), desc)
        })
        .collect();
    iso_8583_rs::CompiledSpec::compile(&RsSpec { fields }).expect("iso_8583_rs spec")
}

fn rs_encode(spec: &iso_8583_rs::CompiledSpec, out: &mut Vec<u8>) {
    let mut b = iso_8583_rs::Builder::new(spec, b"0200").expect("mti");
    for &(n, v) in FIELDS {
        b.set(usize::from(n), v.as_bytes()).expect("value");
    }
    b.pack_into(out);
}

fn codec_spec() -> iso8583_codec::Spec {
    use iso8583_codec::{Encoding, FieldKind, FieldSpec, Length, Padding};
    let fields = json_fields(BINARY_JSON)
        .into_iter()
        .map(|(n, len_type, max_len, numeric)| {
            let max = u16::try_from(max_len).expect("max_len");
            let length = match len_type {
                0 => Length::fixed(max),
                2 => Length::llvar(max),
                3 => Length::lllvar(max),
                other => panic!("len_type {other}"),
            };
            let kind = if numeric {
                FieldKind::Numeric
            } else {
                FieldKind::Text
            };
            FieldSpec::new(n, "field", kind, length, Encoding::Ascii, Padding::None)
        })
        .collect();
    iso8583_codec::Spec::new("posguard-binary", fields).expect("iso8583-codec spec")
}

/// `numeric[n]`: whether posguard-binary marks field `n` `posguard_type: "n"`.
fn numeric_fields() -> [bool; 129] {
    let mut numeric = [false; 129];
    for (n, _, _, is_numeric) in json_fields(BINARY_JSON) {
        numeric[usize::from(n)] = is_numeric;
    }
    numeric
}

fn codec_message(numeric: &[bool; 129]) -> iso8583_codec::Message {
    use iso8583_codec::{FieldValue, Message, Mti};
    let mut msg = Message::new(Mti::parse(b"0200").expect("mti"));
    for &(n, v) in FIELDS {
        let value = if numeric[usize::from(n)] {
            FieldValue::digits(v)
        } else {
            FieldValue::text(v)
        };
        msg.set_field(n, value.expect("value")).expect("field");
    }
    msg
}

fn assert_same(name: &str, ours: &[u8], theirs: &[u8]) {
    assert!(
        ours.eq_ignore_ascii_case(theirs),
        "{name} encodes differently:\n{}\n{}",
        String::from_utf8_lossy(ours),
        String::from_utf8_lossy(theirs)
    );
}

/// posguard: decode, then the MTI and every present field as text.
#[divan::bench]
fn decode_read_all_posguard(bencher: divan::Bencher) {
    let spec = Spec::posguard_ascii();
    let bytes = posguard_encode(&spec);
    assert_eq!(bytes.len(), 208);
    bencher.bench(|| {
        let msg = spec.decode(divan::black_box(&bytes)).expect("decodes");
        let mut total = msg.mti().len();
        for n in msg.fields() {
            total += msg.field_str(n).map_or(0, |v| v.len());
        }
        total
    });
}

/// posguard: decode, then the MTI and every present field as text in one pass.
#[divan::bench]
fn decode_read_all_iter_posguard(bencher: divan::Bencher) {
    let spec = Spec::posguard_ascii();
    let bytes = posguard_encode(&spec);
    assert_eq!(bytes.len(), 208);
    let msg = spec.decode(&bytes).expect("decodes");
    let looked_up: Vec<_> = msg.fields().map(|n| (n, msg.field_str(n))).collect();
    let walked: Vec<_> = msg.iter_str().map(|(n, v)| (n, Some(v))).collect();
    assert_eq!(walked, looked_up, "iter_str reads what field_str reads");
    assert_eq!(walked.len(), FIELDS.len());
    bencher.bench(|| {
        let msg = spec.decode(divan::black_box(&bytes)).expect("decodes");
        let mut total = msg.mti().len();
        for (_, v) in msg.iter_str() {
            total += v.len();
        }
        total
    });
}

/// iso_8583_rs: strict parse, then the MTI and every present field as `&str`.
#[divan::bench]
fn decode_read_all_iso_8583_rs(bencher: divan::Bencher) {
    let spec = rs_spec();
    let bytes = posguard_encode(&Spec::posguard_ascii());
    let mut theirs = Vec::new();
    rs_encode(&spec, &mut theirs);
    assert_same("iso_8583_rs", &bytes, &theirs);
    bencher.bench(|| {
        let msg = iso_8583_rs::Message::parse(&spec, divan::black_box(&bytes)).expect("parses");
        let mut total = std::str::from_utf8(&msg.mti).map_or(0, str::len);
        for (_, v) in msg.fields() {
            total += std::str::from_utf8(v).map_or(0, str::len);
        }
        total
    });
}

/// posguard: set MTI and every field from its value, encode into a reused buffer.
#[divan::bench]
fn encode_posguard(bencher: divan::Bencher) {
    let spec = Spec::posguard_ascii();
    let mut out = Vec::with_capacity(512);
    bencher.bench_local(|| {
        out.clear();
        let mut b = MessageBuilder::new();
        b.set_mti(divan::black_box("0200"));
        for &(n, v) in divan::black_box(FIELDS) {
            b.set(n, v);
        }
        b.encode_into(&spec, &mut out).expect("encodes");
        out.len()
    });
}

/// posguard's streaming writer: MTI and every field in ascending order, straight into a
/// reused buffer, bitmap filled in at the end.
#[divan::bench]
fn encode_writer_posguard(bencher: divan::Bencher) {
    let spec = Spec::posguard_ascii();
    let mut out = Vec::with_capacity(512);
    bencher.bench_local(|| {
        out.clear();
        let mut w = spec.writer(&mut out);
        w.mti(divan::black_box("0200"));
        for &(n, v) in divan::black_box(FIELDS) {
            w.field(n, v);
        }
        w.finish().expect("writes");
        out.len()
    });
}

/// iso_8583_rs: `Builder::new`, `set` every field (validated there), `pack_into` a
/// reused buffer.
#[divan::bench]
fn encode_iso_8583_rs(bencher: divan::Bencher) {
    let spec = rs_spec();
    let mut out = Vec::with_capacity(512);
    bencher.bench_local(|| {
        out.clear();
        let mut b = iso_8583_rs::Builder::new(&spec, divan::black_box(b"0200")).expect("mti");
        for &(n, v) in divan::black_box(FIELDS) {
            b.set(usize::from(n), v.as_bytes()).expect("value");
        }
        b.pack_into(&mut out);
        out.len()
    });
}

/// posguard on the binary-bitmap spec (the iso8583-codec comparison).
#[divan::bench]
fn binary_bitmap_decode_read_all_posguard(bencher: divan::Bencher) {
    let spec = Spec::posguard_binary();
    let bytes = posguard_encode(&spec);
    assert_eq!(bytes.len(), 200);
    bencher.bench(|| {
        let msg = spec.decode(divan::black_box(&bytes)).expect("decodes");
        let mut total = msg.mti().len();
        for n in msg.fields() {
            total += msg.field_str(n).map_or(0, |v| v.len());
        }
        total
    });
}

/// iso8583-codec: parse (owned values), then the MTI and every field as `&str`.
#[divan::bench]
fn binary_bitmap_decode_read_all_iso8583_codec(bencher: divan::Bencher) {
    let ours = Spec::posguard_binary();
    let spec = codec_spec();
    let bytes = posguard_encode(&ours);
    let theirs = codec_message(&numeric_fields())
        .encode(&spec)
        .expect("encodes");
    assert_same("iso8583-codec", &bytes, &theirs);
    bencher.bench(|| {
        let msg = iso8583_codec::Message::parse(&spec, divan::black_box(&bytes)).expect("parses");
        let mut total = msg.mti().as_str().len();
        for (_, v) in msg.fields() {
            total += v.as_str().map_or(0, str::len);
        }
        total
    });
}

/// posguard on the binary-bitmap spec.
#[divan::bench]
fn binary_bitmap_encode_posguard(bencher: divan::Bencher) {
    let spec = Spec::posguard_binary();
    let mut out = Vec::with_capacity(512);
    bencher.bench_local(|| {
        out.clear();
        let mut b = MessageBuilder::new();
        b.set_mti(divan::black_box("0200"));
        for &(n, v) in divan::black_box(FIELDS) {
            b.set(n, v);
        }
        b.encode_into(&spec, &mut out).expect("encodes");
        out.len()
    });
}

/// iso8583-codec: build the owned message from the values, `encode_to` a reused buffer.
#[divan::bench]
fn binary_bitmap_encode_iso8583_codec(bencher: divan::Bencher) {
    let numeric = numeric_fields();
    let spec = codec_spec();
    let mut out = Vec::with_capacity(512);
    bencher.bench_local(|| {
        out.clear();
        let msg = codec_message(divan::black_box(&numeric));
        msg.encode_to(&spec, &mut out).expect("encodes");
        out.len()
    });
}
