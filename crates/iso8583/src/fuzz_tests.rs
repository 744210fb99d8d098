//! The codec's fuzz test (proptest): random bytes and random mutations of valid messages
//! must never panic the decoder, and random valid documents must round-trip.
//! Inside the crate because generating valid values needs the precomputed field table.

use std::borrow::Cow;

use proptest::prelude::*;

use crate::spec::{Class, DataEnc, FieldDef};
use crate::{MessageBuilder, Spec};

fn specs() -> Vec<Spec> {
    [
        include_str!("../../../specs/posguard-ascii.json"),
        include_str!("../../../specs/posguard-binary.json"),
        include_str!("../tests/specs/ebcdic-bcd.json"),
        include_str!("../tests/specs/cp500-text.json"),
        // UnionPay: BCD MTI and numerics, left- and right-aligned pads, BCD length
        // prefixes counted in digits or bytes, GBK text.
        include_str!("../../../specs/unionpay.json"),
    ]
    .iter()
    .map(|json| Spec::from_json(json).expect("test spec"))
    .collect()
}

/// xorshift64*: documents are derived from one proptest-chosen seed, so a failure
/// prints a seed that replays it.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }

    fn pick(&mut self, alphabet: &[u8]) -> char {
        char::from(alphabet[self.below(alphabet.len() as u64) as usize])
    }
}

/// A valid python value and the value pyiso8583 decodes it back to.
fn value(rng: &mut Rng, def: &FieldDef) -> Option<(String, String)> {
    let mut len = if def.len_type == 0 {
        def.max_len as usize
    } else {
        rng.below(u64::from(def.max_len.min(300)) + 1) as usize
    };
    if def.data == DataEnc::Binary {
        if def.nibbles && len % 2 == 1 && def.pad().is_none() {
            if def.len_type == 0 {
                return None;
            }
            len -= 1;
        }
        let digits = if def.nibbles { len } else { 2 * len };
        let alphabet: &[u8] = if def.class == Class::Numeric {
            b"0123456789"
        } else {
            b"0123456789ABCDEFabcdef"
        };
        let v: String = (0..digits).map(|_| rng.pick(alphabet)).collect();
        let decoded = v.to_ascii_uppercase();
        return Some((v, decoded));
    }
    if def.nibbles {
        if len % 2 == 1 && def.len_type == 0 {
            return None;
        }
        len /= 2;
    }
    if def.data == DataEnc::Gbk {
        let v = gbk_text(rng, len);
        return Some((v.clone(), v));
    }
    let v: String = (0..len)
        .map(|_| match (def.class, def.data) {
            (Class::Numeric, _) => rng.pick(b"0123456789"),
            (Class::Alphanumeric, _) => rng.pick(b"ABCXYZabcxyz0189"),
            (_, DataEnc::Ascii) => char::from(rng.below(128) as u8),
            _ => char::from(rng.below(256) as u8),
        })
        .collect();
    Some((v.clone(), v))
}

/// Text of exactly `bytes` GBK bytes: ASCII and two-byte Chinese characters mixed.
fn gbk_text(rng: &mut Rng, bytes: usize) -> String {
    const CHINESE: [char; 8] = ['银', '联', '商', '户', '交', '易', '成', '功'];
    let mut text = String::new();
    let mut left = bytes;
    while left > 0 {
        if left >= 2 && rng.below(2) == 0 {
            text.push(CHINESE[rng.below(CHINESE.len() as u64) as usize]);
            left -= 2;
        } else {
            text.push(rng.pick(b" ABCxyz0189-.:"));
            left -= 1;
        }
    }
    text
}

type Doc = Vec<(u8, String, String)>;

fn document(rng: &mut Rng, spec: &Spec) -> (Option<String>, String, Doc) {
    let header = spec
        .has_header()
        .then(|| value(rng, &spec.header).map(|v| v.0))
        .flatten();
    // A BCD MTI (UnionPay) holds decimal digits only.
    let hex_mti = spec.mti.data == DataEnc::Binary && spec.mti.class != Class::Numeric;
    let mti: String = (0..4)
        .map(|_| {
            rng.pick(if hex_mti {
                b"0123456789ABCDEF"
            } else {
                b"0123456789"
            })
        })
        .collect();
    let density = [2, 10, 30, 60][rng.below(4) as usize];
    let mut doc = Vec::new();
    for n in 2..=crate::FIELD_NUMBER_MAX {
        let def = &spec.fields[usize::from(n)];
        if n == 65 || !def.defined || (n > 64 && !spec.defines(1)) || rng.below(100) >= density {
            continue;
        }
        if let Some((v, decoded)) = value(rng, def) {
            doc.push((n, v, decoded));
        }
    }
    (header, mti, doc)
}

fn encode(spec: &Spec, header: &Option<String>, mti: &str, doc: &Doc) -> Vec<u8> {
    let mut b = MessageBuilder::new();
    if let Some(h) = header {
        b.set_header(h);
    }
    b.set_mti(mti);
    for (n, v, _) in doc {
        b.set(*n, v);
    }
    let mut out = Vec::new();
    b.encode_into(spec, &mut out)
        .expect("valid document encodes");
    out
}

/// The same document through the streaming [`Writer`](crate::Writer).
fn write(spec: &Spec, header: &Option<String>, mti: &str, doc: &Doc) -> Vec<u8> {
    let mut out = b"kept".to_vec();
    let mut w = spec.writer(&mut out);
    if let Some(h) = header {
        w.header(h);
    }
    w.mti(mti);
    for (n, v, _) in doc {
        w.field(*n, v);
    }
    w.finish().expect("valid document writes");
    assert_eq!(&out[..4], b"kept", "the writer appends");
    out.split_off(4)
}

/// Everything a decoded message exposes, read through the public accessors.
fn read_all(msg: &crate::Message<'_>) -> Vec<(u8, String)> {
    let mut all = vec![
        (0, msg.mti().into_owned()),
        (0, msg.bitmap_str().into_owned()),
    ];
    all.extend(msg.header_str().map(|h| (0, h.into_owned())));
    for n in 0..=255u8 {
        assert_eq!(msg.has(n), msg.field(n).is_some());
        if let Some(v) = msg.field_str(n) {
            all.push((n, v.into_owned()));
        }
    }
    all
}

/// `(field number, python value)` of every present data field.
type Values<'a> = Vec<(u8, Cow<'a, str>)>;

/// What [`crate::Message::iter_str`] yields next to what `fields()` and `field_str` give
/// field by field: they must be equal (values and whether they borrow).
fn walked_and_looked_up<'a>(msg: &crate::Message<'a>) -> (Values<'a>, Values<'a>) {
    let walked = msg.iter_str().collect();
    let looked_up = msg
        .fields()
        .map(|n| (n, msg.field_str(n).expect("a present field has a value")))
        .collect();
    (walked, looked_up)
}

/// Whether two values are the same and borrowed or owned alike.
fn same_kind(a: &[(u8, Cow<'_, str>)], b: &[(u8, Cow<'_, str>)]) -> bool {
    a.iter()
        .zip(b)
        .all(|((_, x), (_, y))| matches!(x, Cow::Borrowed(_)) == matches!(y, Cow::Borrowed(_)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        for spec in specs() {
            if let Ok(msg) = spec.decode(&bytes) {
                read_all(&msg);
                let (walked, looked_up) = walked_and_looked_up(&msg);
                prop_assert_eq!(&walked, &looked_up);
                prop_assert!(same_kind(&walked, &looked_up));
            }
        }
    }

    #[test]
    fn documents_round_trip_and_mutants_never_panic(
        seed in any::<u64>(),
        mutations in proptest::collection::vec((any::<u16>(), any::<u8>(), 0u8..4), 1..6),
    ) {
        let mut rng = Rng(seed | 1);
        for spec in specs() {
            let (header, mti, doc) = document(&mut rng, &spec);
            let bytes = encode(&spec, &header, &mti, &doc);
            prop_assert_eq!(&write(&spec, &header, &mti, &doc), &bytes, "writer and builder agree");
            let msg = spec.decode(&bytes).expect("own encoding decodes");
            prop_assert_eq!(msg.header_str().map(|h| h.into_owned()), header.clone());
            prop_assert_eq!(msg.mti().to_uppercase(), mti.to_uppercase());
            prop_assert_eq!(msg.fields().collect::<Vec<_>>(), doc.iter().map(|d| d.0).collect::<Vec<_>>());
            for (n, _, decoded) in &doc {
                let got = msg.field_str(*n);
                prop_assert_eq!(got.as_deref(), Some(decoded.as_str()), "field {}", n);
            }
            let (walked, looked_up) = walked_and_looked_up(&msg);
            prop_assert_eq!(&walked, &looked_up, "iter_str reads what field_str reads");
            prop_assert!(same_kind(&walked, &looked_up));
            let mut mutant = bytes.clone();
            for &(at, byte, op) in &mutations {
                let at = usize::from(at) % (mutant.len() + 1);
                match op {
                    0 if at < mutant.len() => mutant[at] = byte,
                    1 => mutant.truncate(at),
                    2 => mutant.insert(at, byte),
                    _ => mutant.extend_from_slice(&[byte; 3]),
                }
            }
            if let Ok(msg) = spec.decode(&mutant) {
                let (walked, looked_up) = walked_and_looked_up(&msg);
                prop_assert_eq!(&walked, &looked_up, "iter_str on a mutant");
                // Whatever decodes must re-encode (verbatim copy) to the same fields.
                let mut out = Vec::new();
                MessageBuilder::from_message(&msg).encode_into(&spec, &mut out).expect("echo");
                let again = spec.decode(&out).expect("echo decodes");
                let strip_bitmaps = |v: Vec<(u8, String)>| -> Vec<(u8, String)> {
                    v.into_iter().skip(2).filter(|(n, _)| *n != 1 && *n != 65).collect()
                };
                prop_assert_eq!(strip_bitmaps(read_all(&again)), strip_bitmaps(read_all(&msg)));
            }
        }
    }
}
