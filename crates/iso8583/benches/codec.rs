//! Codec speed on the reference message: an 0200 in posguard-ascii, 208 bytes.
//! Run: `cargo bench -p iso8583`; compare with `scripts/bench-pyiso8583.py`.

use iso8583::{MessageBuilder, Spec};

fn main() {
    divan::main();
}

mod common;
use common::FIELDS;

fn reference(spec: &Spec) -> Vec<u8> {
    let mut out = Vec::new();
    build()
        .encode_into(spec, &mut out)
        .expect("reference message encodes");
    assert_eq!(out.len(), 208);
    out
}

fn build() -> MessageBuilder<'static> {
    let mut b = MessageBuilder::new();
    b.set_mti("0200");
    for &(n, v) in FIELDS {
        b.set(n, v);
    }
    b
}

/// Decode, then read the MTI and every present field as text.
#[divan::bench]
fn decode_and_read_all_fields(bencher: divan::Bencher) {
    let spec = Spec::posguard_ascii();
    let bytes = reference(&spec);
    bencher.bench(|| {
        let msg = spec.decode(divan::black_box(&bytes)).expect("decodes");
        let mut total = msg.mti().len();
        for n in msg.fields() {
            total += msg.field_str(n).map_or(0, |v| v.len());
        }
        total
    });
}

/// Decode only.
#[divan::bench]
fn decode(bencher: divan::Bencher) {
    let spec = Spec::posguard_ascii();
    let bytes = reference(&spec);
    bencher.bench(|| {
        spec.decode(divan::black_box(&bytes))
            .map(|m| m.has(2))
            .expect("decodes")
    });
}

/// Set every field from its python value and encode into a reused buffer.
#[divan::bench]
fn encode(bencher: divan::Bencher) {
    let spec = Spec::posguard_ascii();
    let mut out = Vec::with_capacity(512);
    bencher.bench_local(|| {
        out.clear();
        divan::black_box(build())
            .encode_into(&spec, &mut out)
            .expect("encodes");
        out.len()
    });
}

/// The host's response path: copy the request, set MTI and field 39, encode.
#[divan::bench]
fn echo_response(bencher: divan::Bencher) {
    let spec = Spec::posguard_ascii();
    let bytes = reference(&spec);
    let mut out = Vec::with_capacity(512);
    bencher.bench_local(|| {
        let msg = spec.decode(divan::black_box(&bytes)).expect("decodes");
        let mut response = MessageBuilder::from_message(&msg);
        response.set_mti("0210").set(39, "00");
        out.clear();
        response.encode_into(&spec, &mut out).expect("encodes");
        out.len()
    });
}
