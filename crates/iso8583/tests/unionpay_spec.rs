//! `specs/unionpay.json` against real terminal messages, and its encodings in isolation.
//!
//! Fixtures: vfwz/iso8583-parser, `src/test/java/cn/vfwz/PosMessageTest.java`
//! (Apache-2.0), the hex of framed messages as a UnionPay-style terminal and host sent
//! them: TPDU (5 bytes) and header (6 bytes), then the message this spec decodes.

use iso8583::{DecodeErrorKind, MessageBuilder, Spec};

/// Bytes of TPDU and header in front of each fixture's message.
const PREAMBLE_BYTES: usize = 11;

const FIXTURES: [(&str, &str); 8] = [
    (
        "download request",
        "600003000060310031010008000000000000C408103130303136393139383433323930303435383230303042004750493034323034303230323035313430303030323430323130363837303030303030313038303856302E302E332E3004000000000000000011000000014200",
    ),
    (
        "download response",
        "60000300006031003101000810001800000AE00114163829082330303030303030303030303030303130303136393139383433323930303435383230303042C4ABCEC4D5DCD3D0CFDEB9ABCBBE20202020202020202020202020202020202020202020202020200004B3C9B9A60011000000014200006439354638454530363337444143453935423232383235443533323630453744424238373633383230363334303343343736393843304131363334463446463231",
    ),
    (
        "sign-on request",
        "600003000060310031010008000020000000C408120000783130303136393139383433323930303435383230303042004750493034323034303230323035313430303030323430323130363837303030303030313038303856302E302E332E30040000000000000000110000072600500003303120",
    ),
    (
        "sign-on response",
        "60000300006031003101000810003800010AC401140000781415440824080306290030303030303030303030303030303130303136393139383433323930303435383230303042004750493034323034303230323035313430303030323430323130363837303030303030313038303856302E302E332E300004B3C9B9A6001100000727011000571CD7E77C6ABCE8DE71C54E43103F3691A5827EE743CC37DD604094AF22746A4BD094F7D626E95138BC549EE4AA89E70E2CFA5B77D3F84D06F7",
    ),
    (
        "purchase request",
        "60000300006031003101000200703C06C000C49A1716622424230000006900000000000000111100007914155408242903071000000012313030313639313938343332393030343538323030304200695049303634303430323032303531343030303032343032313036383730303030303031303630363030303036393037303844333930334633393038303856302E302E332E303135360000000000000000241000000000000001459F260846FD62985CAAE7589F2701809F101307011703A00000010A0100000500001EF41C469F37049536C9B89F36020C66950500000000009A032208249C01009F02060000000011115F2A02015682027C009F1A0201569F03060000000000009F330360E9C89F34030000009F3501229F1E0831323334353637388408A0000003330101029F090200309F4104000000010013220007270006000024FF02213436307C30307C32383638387C34333232323834390021534D303136CDC489E91786D0BE01F543D813611BCD3833353932373435",
    ),
    (
        "purchase response",
        "60000300006031003101000210703E02810EF08B31166224242300000069000000000000001111000079141556082400000824000000084843166558303030303430303237363136353038353230303130303136393139383433313636353538313230303041BAD3C4CFCAA1D2F8C2A1D0C5CFA2BCBCCAF5D3D0CFDEB9ABCBBE20202020202020202020202020202230333039202020202020203438343320202020202020313536240000000000000001459F260846FD62985CAAE7589F2701809F101307011703A00000010A0100000500001EF41C469F37049536C9B89F36020C66950500000000009A032208249C01009F02060000000011115F2A02015682027C009F1A0201569F03060000000000009F330360E9C89F34030000009F3501229F1E0831323334353637388408A0000003330101029F090200309F410400000001000730302BB3C9B9A6011445463031333336383734373437303733334132463246373036313739324536423634363232443734364132453633364636443246363833353644363537323633363836313645373445463032313843394138433245424338434644364134434345314339464442444531434245334236454500172200072700060007004246314136464335",
    ),
    (
        "signature upload request",
        "600003000060310031010009205022000008C00A151662242423000000690000000011110000790824583030303034303032373631313030313639313938343332393030343538323030304204000000000000000050FF001ABAD3C4CFCAA1D2F8C2A1D0C5CFA2BCBCCAF5D3D0CFDEB9ABCBBEFF0104CFFBB7D1FF020101FF0607202208241415560008070007270126000001000000008000000040000000807F0000481CB93FCFF8E273061BDF301D76CB6869AEE9705A37872F81613C17DADB45AE6006D1C45C20399538F24115D37CA710009388652D49B88EA3FB843D29684CA53982D5AE3A1EA03191299C498B9F39DDA2825D982FD5C2312A115EFD6248CA1D9D8F140FB3AF676970FF023542334236433246",
    ),
    (
        "signature upload response",
        "60000300006031003101000930002000000AC00111000079583030303034303032373631303031303031363931393834333136363535383132303030410004B3C9B9A60008070007273839314333323442",
    ),
];

fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text).expect("fixture hex")
}

/// Every fixture decodes, and its field values (BCD digits, GBK text, hex) encode back
/// to the same bytes: pads, alignments, length units and GBK all round trip.
#[test]
fn vfwz_fixtures_decode_and_re_encode_byte_for_byte() {
    let spec = Spec::unionpay();
    for (name, hex_text) in FIXTURES {
        let framed = unhex(hex_text);
        let body = &framed[PREAMBLE_BYTES..];
        let msg = spec.decode(body).unwrap_or_else(|e| panic!("{name}: {e}"));
        let out = re_encode(&spec, &msg).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(hex::encode_upper(&out), hex::encode_upper(body), "{name}");
    }
}

/// `Message::iter_str` reads every fixture's fields (BCD digits, binary hex, GBK text,
/// ASCII) exactly as `fields()` and `field_str` do, one by one.
#[test]
fn vfwz_fixtures_read_the_same_through_iter_str() {
    let spec = Spec::unionpay();
    for (name, hex_text) in FIXTURES {
        let framed = unhex(hex_text);
        let msg = spec
            .decode(&framed[PREAMBLE_BYTES..])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let walked: Vec<_> = msg.iter_str().collect();
        let looked_up: Vec<_> = msg
            .fields()
            .map(|n| (n, msg.field_str(n).expect("present")))
            .collect();
        assert!(!walked.is_empty(), "{name}");
        assert_eq!(walked, looked_up, "{name}");
    }
}

/// The message built again from its decoded field values.
fn re_encode(spec: &Spec, msg: &iso8583::Message<'_>) -> Result<Vec<u8>, iso8583::EncodeError> {
    let values: Vec<(u8, String)> = msg
        .fields()
        .map(|n| (n, msg.field_str(n).expect("present").into_owned()))
        .collect();
    let mti = msg.mti().into_owned();
    let mut b = MessageBuilder::new();
    b.set_mti(&mti);
    for (n, v) in &values {
        b.set(*n, v.as_str());
    }
    let mut out = Vec::new();
    b.encode_into(spec, &mut out)?;
    Ok(out)
}

/// The values the fixtures' own tests set, as this spec reads them.
#[test]
fn vfwz_fixture_values() {
    let spec = Spec::unionpay();
    let framed = unhex(FIXTURES[5].1);
    let msg = spec.decode(&framed[PREAMBLE_BYTES..]).unwrap();
    let f = |n| msg.field_str(n).unwrap().into_owned();
    assert_eq!(msg.mti(), "0210");
    assert_eq!(f(2), "6224242300000069");
    assert_eq!(f(4), "000000001111");
    assert_eq!(f(32), "48431665");
    assert_eq!(f(37), "X00004002761");
    assert_eq!(f(43).trim_end(), "河南省银隆信息技术有限公司");
    assert_eq!(f(44), "0309       4843       ");
    assert_eq!(f(56), "00+成功");
    assert_eq!(f(60), "22000727000600070");
    let framed = unhex(FIXTURES[4].1);
    let msg = spec.decode(&framed[PREAMBLE_BYTES..]).unwrap();
    assert_eq!(msg.field_str(22).unwrap(), "071");
    assert_eq!(msg.field(22).unwrap(), [0x07, 0x10], "22 is left-aligned");
    assert_eq!(msg.field_str(23).unwrap(), "000");
    assert_eq!(msg.field_str(60).unwrap(), "2200072700060");
}

/// Each encoding on its own: (field, value, wire bytes after the bitmap).
#[test]
fn encodings_round_trip() {
    let spec = Spec::unionpay();
    let cases: [(u8, &str, &str); 9] = [
        (2, "6224242300000069", "166224242300000069"),
        (
            2,
            "622424230000006",
            "15622424230000006", /* trailing pad */
        ),
        (4, "000000001111", "000000001111"),
        (22, "051", "0510"),
        (23, "001", "0001"),
        (35, "6222021234567890123D2512", "246222021234567890123D2512"),
        (48, "123", "00031230"),
        (43, "银联商户                                ", ""),
        (63, "303120", "0003303120"),
    ];
    for (n, value, wire) in cases {
        let mut b = MessageBuilder::new();
        b.set_mti("0200").set(n, value);
        let mut out = Vec::new();
        b.encode_into(&spec, &mut out).unwrap();
        assert_eq!(&out[..2], [0x02, 0x00]);
        let data = &out[10..];
        if !wire.is_empty() {
            let wire = if wire.len() % 2 == 1 {
                format!("{wire}0")
            } else {
                wire.to_owned()
            };
            assert_eq!(hex::encode_upper(data), wire, "field {n}");
        }
        let msg = spec.decode(&out).unwrap();
        assert_eq!(msg.field_str(n).unwrap(), value, "field {n}");
    }
}

/// Bad input: BCD nibbles out of range, bad pads, lengths, GBK.
#[test]
fn bad_input_is_a_typed_error() {
    let spec = Spec::unionpay();
    // 0200 with field 3 only (bitmap bit 3).
    let with_3 = |data: &str| unhex(&format!("02002000000000000000{data}"));
    assert!(spec.decode(&with_3("000000")).is_ok());
    let bad_digit = spec.decode(&with_3("00A000")).unwrap_err();
    assert!(
        matches!(bad_digit.kind, DecodeErrorKind::WrongClass { .. }),
        "{bad_digit}"
    );
    let truncated = spec.decode(&with_3("0000")).unwrap_err();
    assert!(matches!(truncated.kind, DecodeErrorKind::Truncated { .. }));
    // MTI with a nibble out of range.
    assert!(spec.decode(&unhex("0A002000000000000000000000")).is_err());
    // Field 2: a BCD length prefix that is not BCD, a length over max, a wrong pad.
    let with_2 = |data: &str| unhex(&format!("02004000000000000000{data}"));
    assert!(spec.decode(&with_2("0A1234567890")).is_err());
    let too_long = spec.decode(&with_2("2012345678901234567890")).unwrap_err();
    assert!(matches!(too_long.kind, DecodeErrorKind::TooLong { .. }));
    let bad_pad = spec.decode(&with_2("0312345F")).unwrap_err();
    assert!(
        matches!(bad_pad.kind, DecodeErrorKind::InvalidPad),
        "{bad_pad}"
    );
    // Field 43: a lone GBK lead byte.
    let mut f43 = vec![0x20u8; 40];
    f43[39] = 0xB0;
    let msg = unhex("02000000000000200000");
    let bad_gbk = spec.decode(&[msg, f43].concat()).unwrap_err();
    assert!(
        matches!(bad_gbk.kind, DecodeErrorKind::InvalidData { .. }),
        "{bad_gbk}"
    );
    // Text GBK cannot carry is refused when encoding.
    let mut b = MessageBuilder::new();
    b.set_mti("0200").set(43, "snow ☃");
    assert!(b.encode_into(&spec, &mut Vec::new()).is_err());
}

/// The fixtures' sub-fields by name, and their preambles.
#[test]
fn vfwz_fixture_sub_fields() {
    use iso8583::unionpay::{Preamble, UnionPayFields};
    let spec = Spec::unionpay();
    let framed = unhex(FIXTURES[2].1);
    let preamble = Preamble::parse(&framed).unwrap();
    assert_eq!(preamble.destination, [0x00, 0x03]);
    let msg = spec.decode(&framed[PREAMBLE_BYTES..]).unwrap();
    let f = UnionPayFields::read(&msg).unwrap();
    assert_eq!(f.type_code(), Some("00"));
    assert_eq!(f.batch(), Some("000726"));
    assert_eq!(f.network_code(), Some("005"));
    assert_eq!(f.operator.as_deref(), Some("01 "));
    let framed = unhex(FIXTURES[4].1);
    let msg = spec.decode(&framed[PREAMBLE_BYTES..]).unwrap();
    let f = UnionPayFields::read(&msg).unwrap();
    assert_eq!((f.type_code(), f.batch()), (Some("22"), Some("000727")));
    let f53 = f.f53.unwrap();
    assert_eq!(
        (f53.pin_format, f53.algorithm, f53.track_encrypted),
        (2, 4, true)
    );
}

/// The framed purchase of UNIONPAY.md's second MAC vector (https://q.cnblogs.com/q/128930):
/// its acquirer's field 60 runs to 19 digits (two more sub-fields than the shipped
/// spec's 17), which the shipped spec refuses; the same spec file with field 60 widened,
/// as an operator would load it for that acquirer, decodes every field and re-encodes the
/// message byte for byte.
#[test]
fn cnblogs_purchase_decodes_and_re_encodes() {
    let framed = unhex(
        "007F600003000060321032007202003020048000C08015000000000000001234000002030099303030303030303139353237313831383232313738373531353600192600000100060000000000435F01123238343431323334353637383930313233345F03063136303033365F04063230303832365C0230314233413039324145",
    );
    let body = &framed[2..];
    assert_eq!(
        framed.len() - 2,
        usize::from(u16::from_be_bytes([framed[0], framed[1]]))
    );
    let preamble = iso8583::unionpay::Preamble::parse(body).unwrap();
    let shipped = Spec::unionpay()
        .decode(&body[PREAMBLE_BYTES..])
        .unwrap_err();
    assert_eq!(shipped.field, iso8583::FieldKey::Field(60), "{shipped}");
    let json = include_str!("../../../specs/unionpay.json").replace(
        r#""60": {"data_enc": "b", "len_enc": "bcd", "len_type": 2, "max_len": 17"#,
        r#""60": {"data_enc": "b", "len_enc": "bcd", "len_type": 2, "max_len": 19"#,
    );
    let spec = Spec::from_json(&json).unwrap();
    let msg = spec.decode(&body[PREAMBLE_BYTES..]).unwrap();
    assert_eq!(msg.mti(), "0200");
    assert_eq!(msg.field(64).unwrap(), b"B3A092AE");
    assert_eq!(msg.field_str(41).unwrap(), "00000001");
    assert_eq!(
        (preamble.destination, preamble.source),
        ([0x00, 0x03], [0x00, 0x00])
    );
    assert_eq!(preamble.to_bytes(), body[..PREAMBLE_BYTES]);
    let out = re_encode(&spec, &msg).unwrap();
    assert_eq!(
        hex::encode_upper(&out),
        hex::encode_upper(&body[PREAMBLE_BYTES..])
    );
}
