//! Every UnionPay message type a terminal sends, and every reply type a host sends,
//! through the codec: decoded by `Spec::unionpay()` and encoded again from the decoded
//! values (BCD digits, text, binary), byte for byte; the TPDU and header round trip too.

use iso8583::unionpay::{PREAMBLE_BYTES, Preamble, Processing, SideTotals, Totals, TpduReply};
use iso8583::{MessageBuilder, Spec};
use paycrypto::TdesKey;
use paycrypto::mac::DesMacScheme;
use paycrypto::unionpay::{KeyLayout, WorkingKeys};
use rand::SeedableRng;
use terminal::unionpay::{Kind, Txn, UnionPayTerminal};

const TMK: &str = "70F2A84CCBC2AE8625CBB0F2C22AB923";
const PAN: &str = "6222021000000005";

/// Binary fields (read as bytes); every other field is read as its digits or text.
const BINARY: [u8; 5] = [52, 55, 62, 63, 64];

/// Decodes `body` and encodes it again from the field values; returns the MTI.
fn round_trip(spec: &Spec, body: &[u8]) -> String {
    let msg = spec
        .decode(body)
        .unwrap_or_else(|e| panic!("{e}: {}", hex::encode_upper(body)));
    let mti = msg.mti().into_owned();
    let texts: Vec<(u8, String)> = msg
        .fields()
        .filter(|n| !BINARY.contains(n))
        .map(|n| (n, msg.field_str(n).unwrap().into_owned()))
        .collect();
    let mut b = MessageBuilder::new();
    b.set_mti(&mti);
    for (n, v) in &texts {
        b.set(*n, v.as_str());
    }
    for n in msg.fields().filter(|n| BINARY.contains(n)) {
        b.set_data(n, msg.field(n).unwrap());
    }
    let mut out = Vec::new();
    b.encode_into(spec, &mut out).unwrap();
    assert_eq!(hex::encode_upper(&out), hex::encode_upper(body), "{mti}");
    mti
}

fn terminal() -> UnionPayTerminal {
    let tmk = TdesKey::from_hex(TMK).unwrap();
    let mut t = UnionPayTerminal::new(
        "TERM0001",
        "MERCHANT0000001",
        tmk,
        DesMacScheme::UnionPayEcb,
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    t.keys = Some(WorkingKeys::generate(KeyLayout::DoubleDesTdk, &mut rng));
    t
}

/// A reply as a host builds it: the request's echoed fields, 12/13, 37-39, 54 or 48,
/// 60, and 62 for a sign-on; a MAC when signed.
fn reply(spec: &Spec, request: &[u8], extra: &[(u8, &str)], f62: Option<&[u8]>) -> Vec<u8> {
    let req = spec.decode(request).unwrap();
    let mti = format!("{:04}", req.mti().parse::<u32>().unwrap() + 10);
    let mut b = MessageBuilder::new();
    b.set_mti(&mti);
    for n in [3, 4, 11, 22, 25, 41, 42, 49, 60] {
        b.copy(n, &req);
    }
    b.set(12, "083000").set(13, "1122").set(39, "00");
    for (n, v) in extra {
        b.set(*n, *v);
    }
    if let Some(f62) = f62 {
        b.set_data(62, f62);
    }
    if req.field(64).is_some() {
        b.set_data(64, &[0x41; 8]);
    }
    let mut out = Vec::new();
    b.encode_into(spec, &mut out).unwrap();
    out
}

#[test]
fn every_message_type_round_trips_through_the_codec() {
    let spec = Spec::unionpay();
    let mut t = terminal();
    let mut requests: Vec<Vec<u8>> = Vec::new();
    for layout in [
        KeyLayout::SingleDes,
        KeyLayout::DoubleDes,
        KeyLayout::DoubleDesTdk,
    ] {
        requests.push(t.sign_on(layout));
    }
    for code in ["002", "301", "362"] {
        requests.push(t.management(code));
    }
    for kind in Kind::ALL {
        let txn = Txn {
            kind,
            pan: PAN,
            amount_minor: 12_345,
            pin: matches!(kind, Kind::Purchase | Kind::Balance | Kind::PreAuth).then_some("1234"),
            original_rrn: Some("000000000042").filter(|_| {
                !matches!(
                    kind,
                    Kind::Balance | Kind::Purchase | Kind::PreAuth | Kind::Reversal
                )
            }),
            stan: None,
        };
        requests.push(t.transaction(&txn));
    }
    let side = SideTotals {
        debit_minor: 12_345,
        debit_count: 2,
        credit_minor: 100,
        credit_count: 1,
        ..SideTotals::default()
    };
    let totals = Totals {
        domestic: side,
        foreign: SideTotals::default(),
    };
    let f48 = totals.to_digits();
    requests.push(t.settlement(&totals));
    requests.push(t.batch_upload(PAN, 7, 12_345));

    let mut mtis = std::collections::BTreeSet::new();
    let keys = t.keys.clone().unwrap();
    let tmk = TdesKey::from_hex(TMK).unwrap();
    for framed in &requests {
        let preamble = Preamble::parse(framed).unwrap();
        assert_eq!(Preamble::parse(&preamble.to_bytes()).unwrap(), preamble);
        let body = &framed[PREAMBLE_BYTES..];
        let mti = round_trip(&spec, body);
        let extra: Vec<(u8, &str)> = match mti.as_str() {
            "0200" | "0100" | "0220" | "0400" => {
                vec![
                    (37, "000000000043"),
                    (38, "123456"),
                    (54, "1002156C000000012345"),
                ]
            }
            "0500" => vec![(48, f48.as_str())],
            _ => Vec::new(),
        };
        let f62 = (mti == "0800").then(|| keys.to_field62(&tmk, KeyLayout::DoubleDesTdk));
        let answer = reply(&spec, body, &extra, f62.as_deref());
        let reply_mti = round_trip(&spec, &answer);
        let head = preamble.reply(TpduReply::Swap, Processing::SignOnAgain);
        assert_eq!(Preamble::parse(&head.to_bytes()).unwrap(), head);
        mtis.insert(mti);
        mtis.insert(reply_mti);
    }
    let all = [
        "0100", "0110", "0200", "0210", "0220", "0230", "0320", "0330", "0400", "0410", "0500",
        "0510", "0800", "0810", "0820", "0830",
    ];
    assert_eq!(mtis.into_iter().collect::<Vec<_>>(), all);
}
