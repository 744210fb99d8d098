//! UnionPay MACs over whole published messages, sign-on key layouts, track encryption.

use paycrypto::mac::{self, DesMacScheme};
use paycrypto::unionpay::{KeyLayout, WorkingKeys, decrypt_track, encrypt_track, kcv4};
use paycrypto::{DesBlockCipher, SingleDesKey, TdesKey};
use rand::SeedableRng;

fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap()
}

/// UNIONPAY.md's first vector (JokerZhu MACTEST.txt) over the whole message it was
/// computed on, as published with the same TMK and MAK in
/// https://blog.youkuaiyun.com/zhu244912654/article/details/80005341 ("MAC算法演示").
#[test]
fn ecb_mac_first_vector_whole_message() {
    let tmk = TdesKey::from_hex("70F2A84CCBC2AE8625CBB0F2C22AB923").unwrap();
    let mut wrapped = [0u8; 8];
    wrapped.copy_from_slice(&unhex("96D605EA176B7E9E"));
    let mak = SingleDesKey::from_bytes(&tmk.decrypt_block(&wrapped)).unwrap();
    let mab = unhex(
        "0200302004C020C0981100000000000000005100183402100006324392260009942820D13121011200\
         84393136363838303134303030303030303030303030303031313536ACF46E73838A82F926000000000000\
         00000822000001",
    );
    assert_eq!(&mac::unionpay_ecb_mac(&mak, &mab), b"8A9E91B8");
    // The same through the pluggable scheme, with the MAK as a double key K || K.
    let double = TdesKey::from_bytes(&[mak.expose_bytes(), mak.expose_bytes()].concat()).unwrap();
    assert_eq!(
        &DesMacScheme::UnionPayEcb.compute(&double, &mab),
        b"8A9E91B8"
    );
    let mut tampered = mab.clone();
    tampered[20] ^= 1;
    assert_ne!(&mac::unionpay_ecb_mac(&mak, &tampered), b"8A9E91B8");
}

/// UNIONPAY.md's second vector: a whole framed 0200 as a terminal sent it, posted with
/// its MAC key to https://q.cnblogs.com/q/128930 (length, TPDU, header, message; the
/// double-length TAK's halves are equal, so it is single DES). The MAC block is the
/// message from the MTI to the byte before field 64.
#[test]
fn ecb_mac_second_vector_whole_framed_message() {
    let frame = unhex(CNBLOGS_FRAME);
    // 2 length bytes, 5 TPDU, 6 header: the message follows; field 64 is its last 8.
    let message = &frame[13..];
    let (mab, field_64) = message.split_at(message.len() - 8);
    assert_eq!(field_64, b"B3A092AE");
    let tak = TdesKey::from_hex("0723C80DB5F4CD3D0723C80DB5F4CD3D").unwrap();
    assert_eq!(&DesMacScheme::UnionPayEcb.compute(&tak, mab), b"B3A092AE");
    let single = SingleDesKey::from_bytes(&unhex("0723C80DB5F4CD3D")).unwrap();
    assert_eq!(&mac::unionpay_ecb_mac(&single, mab), b"B3A092AE");
    let mut tampered = mab.to_vec();
    tampered[40] ^= 0x01;
    assert_ne!(&mac::unionpay_ecb_mac(&single, &tampered), b"B3A092AE");
}

/// The framed 0200 of https://q.cnblogs.com/q/128930, its MAC (`B3A092AE`) included.
pub const CNBLOGS_FRAME: &str = "007F600003000060321032007202003020048000C08015000000000000001234000002030099303030303030303139353237313831383232313738373531353600192600000100060000000000435F01123238343431323334353637383930313233345F03063136303033365F04063230303832365C0230314233413039324145";

/// The "XOR-then-3DES" variant, published with a double-length TAK and its message:
/// https://blog.csdn.net/zfr_xuexiao66/article/details/94665452 ("银联标准8583MAC计算简介"),
/// XOR 1212B04E1227809C, MAC 5FE058DB.
#[test]
fn ecb_mac_tdes_variant_vector() {
    let tak = TdesKey::from_hex("55036372B17543ECB173730768B8D6C4").unwrap();
    let mab = unhex(
        "08300000000002C000153030363730303436343238393733373031373933323330303200110000000137\
         200277319F0605A0000003339F220103DF050832303234313233319F0605A0000003339F220104DF0508\
         32303234313233319F0605A0000003339F220102DF050832303231313233319F0605A0000000039F2201\
         07DF050832303137313233319F0605A0000000039F220108DF050832303233313233319F0605A0000000\
         039F220109DF050832303233313233319F0605A0000000659F220110DF050832303232313233319F0605\
         A0000000659F220112DF050832303232313233319F0605A0000000659F220114DF050832303232313233\
         319F0605A0000000049F220104DF050832303137313233319F0605A0000000049F220105DF0508323032\
         31313233319F0605A0000000049F220106DF05083230323131323331",
    );
    let mut xored = [0u8; 8];
    for chunk in mab.chunks(8) {
        for (x, b) in xored.iter_mut().zip(chunk) {
            *x ^= b;
        }
    }
    assert_eq!(hex::encode_upper(xored), "1212B04E1227809C");
    assert_eq!(
        &DesMacScheme::UnionPayEcbTdes.compute(&tak, &mab),
        b"5FE058DB"
    );
}

#[test]
fn sign_on_layouts_round_trip_under_the_tmk() {
    let tmk = TdesKey::from_hex("70F2A84CCBC2AE8625CBB0F2C22AB923").unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for (layout, len, tdk) in [
        (KeyLayout::SingleDes, 24, false),
        (KeyLayout::DoubleDes, 40, false),
        (KeyLayout::DoubleDesTdk, 60, true),
    ] {
        let keys = WorkingKeys::generate(layout, &mut rng);
        let f62 = keys.to_field62(&tmk, layout);
        assert_eq!(f62.len(), len);
        assert_eq!(layout.field62_bytes(), len);
        assert_eq!(keys.tdk.is_some(), tdk);
        let back = WorkingKeys::from_field62(&tmk, layout, &f62).unwrap();
        assert_eq!(back, keys);
        assert_eq!(
            &f62[len / keys_in(layout) - 4..len / keys_in(layout)],
            kcv4(&keys.pik)
        );
        let mut bad = f62.clone();
        bad[3] ^= 0x40;
        assert!(WorkingKeys::from_field62(&tmk, layout, &bad).is_err());
        assert!(WorkingKeys::from_field62(&tmk, layout, &f62[1..]).is_err());
        assert_eq!(
            KeyLayout::from_network_code(layout.network_code()),
            Some(layout)
        );
    }
    // The published wrapped MAK is a single-DES key: its clear value and KCV.
    let keys = WorkingKeys::generate(KeyLayout::SingleDes, &mut rng);
    assert_eq!(keys.pik.expose_bytes()[..8], keys.pik.expose_bytes()[8..]);
}

fn keys_in(layout: KeyLayout) -> usize {
    if layout == KeyLayout::DoubleDesTdk {
        3
    } else {
        2
    }
}

#[test]
fn track_data_under_the_tdk() {
    let tdk = TdesKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
    for track in [
        "6222021234567890123D2512101",
        "6222021234567890123D25121010",
    ] {
        let sealed = encrypt_track(&tdk, track).unwrap();
        assert_eq!(sealed.len(), track.len());
        let tail = if track.len().is_multiple_of(2) { 2 } else { 1 };
        assert_eq!(sealed[sealed.len() - tail..], track[track.len() - tail..]);
        assert_ne!(sealed, track);
        assert_eq!(decrypt_track(&tdk, &sealed).unwrap(), track);
    }
    assert!(decrypt_track(&tdk, "6222D2512").is_err());
}
