//! Behaviour at the crate's boundaries: terminals against hosts, counter exhaustion,
//! usage binding, translation, key blocks, components, redaction, and no panics on
//! arbitrary input.

use paycrypto::dukpt_aes::{
    self, AesDukptTerminal, AesKsn, InitialKeyId, KeyType, WorkingKeyUsage,
};
use paycrypto::dukpt_tdes::{self, Ksn, TdesDukptTerminal};
use paycrypto::mac::{self, DesMacScheme, Padding};
use paycrypto::pinblock::{self, PinBlock};
use paycrypto::tr31::{self, Header, Kbpk, OptionalBlock, Version};
use paycrypto::{AesKey, Bound, Error, Kcv, KeyUsage, Pan, Pin, TdesKey, components, translate};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Fixed seed so every run is the same; printed by the assertion messages.
const SEED: u64 = 0x5EED_2024;

fn tdes_setup() -> (dukpt_tdes::Ipek, Ksn) {
    let bdk = TdesKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
    let ksn = Ksn::from_hex("FFFF9876543210E00000").unwrap();
    (dukpt_tdes::derive_ipek(&bdk, &ksn).unwrap(), ksn)
}

#[test]
fn tdes_terminal_walks_every_counter_then_reports_exhaustion() {
    let (ipek, ksn) = tdes_setup();
    let mut terminal = TdesDukptTerminal::load(ipek.clone(), &ksn).unwrap();
    let mut count = 0u32;
    let mut last = 0;
    while let Ok((tksn, key)) = terminal.next_transaction() {
        count += 1;
        let c = tksn.counter();
        assert!(c > last && c.count_ones() <= 10, "counter {c:#x}");
        last = c;
        // Host derivation costs up to 10 steps: check a spread sample, not all 2^20.
        if count % 997 == 1 || c.count_ones() == 10 && count.is_multiple_of(13) {
            assert_eq!(
                &dukpt_tdes::derive_transaction_key(&ipek, &tksn).unwrap(),
                &key
            );
        }
    }
    assert_eq!(count, (1 << 20) - 1);
    assert_eq!(last, 0x1F_F800);
    assert_eq!(terminal.next_ksn(), None);
    assert_eq!(
        terminal.next_transaction().unwrap_err(),
        Error::CounterExhausted
    );
}

#[test]
fn tdes_terminal_matches_published_keys() {
    let (ipek, ksn) = tdes_setup();
    let mut terminal = TdesDukptTerminal::load(ipek, &ksn).unwrap();
    let (k1, t1) = terminal.next_transaction().unwrap();
    assert_eq!(k1, Ksn::from_hex("FFFF9876543210E00001").unwrap());
    assert_eq!(
        paycrypto::hexutil::encode_upper(t1.key().expose_bytes()),
        "042666B49184CFA368DE9628D0397BC9"
    );
}

#[test]
fn aes_terminal_agrees_with_host() {
    let bdk = AesKey::from_hex("FEDCBA9876543210F1F1F1F1F1F1F1F1").unwrap();
    let id = InitialKeyId::from_hex("1234567890123456").unwrap();
    let ik = dukpt_aes::derive_initial_key(&bdk, &id);
    let mut terminal = AesDukptTerminal::load(ik.clone(), id);
    for n in 1..=3000u32 {
        let txn = terminal.next_transaction().unwrap();
        assert_eq!(txn.ksn().counter, n);
        assert_eq!(
            &dukpt_aes::derive_transaction_key(&ik, txn.ksn()).unwrap(),
            &txn
        );
    }
}

#[test]
fn host_rejects_counters_no_device_uses() {
    let (ipek, ksn) = tdes_setup();
    for bad in [0u32, 0x7FF, 0x1F_FFFF] {
        let k = ksn.with_counter(bad).unwrap();
        assert!(matches!(
            dukpt_tdes::derive_transaction_key(&ipek, &k),
            Err(Error::InvalidCounter { .. })
        ));
    }
    let ik = dukpt_aes::AesDukptInitialKey::from_key(AesKey::from_bytes(&[1; 16]).unwrap());
    let id = InitialKeyId([2; 8]);
    for counter in [0u32, 0x0001_FFFF] {
        let r = dukpt_aes::derive_transaction_key(&ik, &AesKsn { id, counter });
        assert!(matches!(r, Err(Error::InvalidCounter { .. })));
    }
    let txn = dukpt_aes::derive_transaction_key(&ik, &AesKsn { id, counter: 1 }).unwrap();
    let strong = txn.working_key(WorkingKeyUsage::PinEncryption, KeyType::Aes256);
    assert_eq!(strong.unwrap_err(), Error::KeyStrength);
}

#[test]
fn usage_binding_keeps_pin_keys_away_from_macs() {
    let (ipek, ksn) = tdes_setup();
    let txn = dukpt_tdes::derive_transaction_key(&ipek, &ksn.with_counter(1).unwrap()).unwrap();
    let pin_key = txn.pin_key();
    let err = mac::verify_retail_mac(&pin_key, b"x", Padding::Method1, &[0; 8]).unwrap_err();
    assert!(matches!(err, Error::KeyUsage { .. }));
    let mac_key = txn.mac_request_key();
    assert!(mac_key.require(KeyUsage::PinEncryption).is_err());
    assert!(mac_key.require(KeyUsage::MacVerify).is_ok());
    let gen_only = Bound::new(
        TdesKey::from_bytes(&[3; 16]).unwrap(),
        KeyUsage::MacGenerate,
    );
    assert!(DesMacScheme::X919.verify(&gen_only, b"x", &[0; 8]).is_err());
}

#[test]
fn mac_verification_accepts_truncation_and_rejects_tampering() {
    let key = Bound::new(TdesKey::from_bytes(&[0x5A; 16]).unwrap(), KeyUsage::Mac);
    let data = [7u8; 208];
    let full = mac::retail_mac(
        key.require(KeyUsage::MacGenerate).unwrap(),
        &data,
        Padding::Method2,
    );
    mac::verify_retail_mac(&key, &data, Padding::Method2, &full).unwrap();
    mac::verify_retail_mac(&key, &data, Padding::Method2, &full[..4]).unwrap();
    let mut bad = full;
    bad[7] ^= 1;
    assert_eq!(
        mac::verify_retail_mac(&key, &data, Padding::Method2, &bad).unwrap_err(),
        Error::MacMismatch
    );
    assert!(mac::verify_retail_mac(&key, &data, Padding::Method2, &full[..3]).is_err());
    for scheme in [
        DesMacScheme::X919,
        DesMacScheme::X99,
        DesMacScheme::UnionPayEcb,
        DesMacScheme::UnionPayEcbTdes,
    ] {
        let k = key.require(KeyUsage::MacGenerate).unwrap();
        scheme
            .verify(&key, &data, &scheme.compute(k, &data))
            .unwrap();
    }
}

#[test]
fn translation_round_trips_without_exposing_the_pin() {
    let mut rng = StdRng::seed_from_u64(SEED);
    let (ipek, ksn) = tdes_setup();
    let txn = dukpt_tdes::derive_transaction_key(&ipek, &ksn.with_counter(5).unwrap()).unwrap();
    let pan = Pan::new("4012345678909").unwrap();
    let pin = Pin::new("987654").unwrap();
    let term_block = pinblock::encrypt_format0(
        txn.pin_key().require(KeyUsage::PinEncryption).unwrap(),
        &pin,
        &pan,
    )
    .unwrap();
    let zpk = Bound::new(
        TdesKey::from_bytes(&[0x21; 16]).unwrap(),
        KeyUsage::PinEncryption,
    );
    let zone_block = translate::tdes_dukpt_to_zone_format0(&txn, &term_block, &pan, &zpk).unwrap();
    let zpk_raw = zpk.require(KeyUsage::PinEncryption).unwrap();
    assert_eq!(
        pinblock::decrypt_format0(zpk_raw, &zone_block, &pan).unwrap(),
        pin
    );

    let aes_zpk = Bound::new(
        AesKey::from_bytes(&[0x42; 32]).unwrap(),
        KeyUsage::PinEncryption,
    );
    let f4 = translate::format0_to_format4(&zpk, &zone_block, &pan, &aes_zpk, &mut rng).unwrap();
    let back = translate::format4_to_format0(&aes_zpk, &f4, &pan, &zpk).unwrap();
    assert_eq!(
        pinblock::decrypt_format0(zpk_raw, &back, &pan).unwrap(),
        pin
    );

    let mac_key = Bound::new(TdesKey::from_bytes(&[0x21; 16]).unwrap(), KeyUsage::Mac);
    assert!(translate::tdes_dukpt_to_zone_format0(&txn, &term_block, &pan, &mac_key).is_err());
    let other_pan = Pan::new("4012345678901234").unwrap();
    assert!(translate::tdes_dukpt_to_zone_format0(&txn, &term_block, &other_pan, &zpk).is_err());
}

#[test]
fn aes_dukpt_translation_to_zone() {
    let mut rng = StdRng::seed_from_u64(SEED);
    let bdk = AesKey::from_hex("FEDCBA9876543210F1F1F1F1F1F1F1F1").unwrap();
    let id = InitialKeyId::from_hex("1234567890123456").unwrap();
    let ik = dukpt_aes::derive_initial_key(&bdk, &id);
    let txn = dukpt_aes::derive_transaction_key(&ik, &AesKsn { id, counter: 9 }).unwrap();
    let pin_key = txn
        .aes_working_key(WorkingKeyUsage::PinEncryption, KeyType::Aes128)
        .unwrap();
    let pan = Pan::new("4111111111111111").unwrap();
    let pin = Pin::new("2468").unwrap();
    let raw = pin_key.require(KeyUsage::PinEncryption).unwrap();
    let block = pinblock::encipher_format4(raw, &pin, &pan, &mut rng);
    let zpk = Bound::new(
        TdesKey::from_bytes(&[0x33; 24]).unwrap(),
        KeyUsage::PinEncryption,
    );
    let zone = translate::aes_dukpt_to_zone_format0(&txn, &block, &pan, &zpk).unwrap();
    let zraw = zpk.require(KeyUsage::PinEncryption).unwrap();
    assert_eq!(pinblock::decrypt_format0(zraw, &zone, &pan).unwrap(), pin);
}

#[test]
fn pin_and_pan_rules() {
    for bad in ["", "123", "1234567890123", "12a4", "１２３４"] {
        assert_eq!(Pin::new(bad).unwrap_err(), Error::Pin, "{bad:?}");
    }
    assert!(Pan::new("").is_err() && Pan::new("12345678901234567890").is_err());
    let pin = Pin::new("1234").unwrap();
    let short = Pan::new("1234567").unwrap();
    assert_eq!(
        pinblock::encode_format0(&pin, &short).unwrap_err(),
        Error::Pan { min: 8 }
    );
    // Format 3 fill is A-F and decodes; a format 0 block is refused as format 3.
    let mut rng = StdRng::seed_from_u64(SEED);
    let pan = Pan::new("5544332211009966").unwrap();
    for _ in 0..200 {
        let b = pinblock::encode_format3(&pin, &pan, &mut rng).unwrap();
        assert_eq!(b.format(), 3);
        assert_eq!(pinblock::decode_format3(&b, &pan).unwrap(), pin);
        let f1 = pinblock::encode_format1(&pin, &mut rng);
        assert_eq!(pinblock::decode_format1(&f1).unwrap(), pin);
    }
    let f0 = pinblock::encode_format0(&pin, &pan).unwrap();
    assert!(matches!(
        pinblock::decode_format3(&f0, &pan),
        Err(Error::PinBlockFormat { .. })
    ));
    // Length nibble out of range, non-digit PIN nibble, bad fill.
    for bad in ["0312FFFFFFFFFFFF", "041A34FFFFFFFFFF", "041234FFFFFFFFFE"] {
        let b = PinBlock::from_hex(bad).unwrap();
        let zero_pan = Pan::new("0000000000000").unwrap();
        assert!(pinblock::decode_format0(&b, &zero_pan).is_err(), "{bad}");
    }
}

fn tr31_header(version: Version, usage: &str, alg: char, mode: char) -> Header {
    let mut h = Header::new(version, usage, alg, mode);
    h.optional_blocks.push(OptionalBlock {
        id: "KS".into(),
        data: "00604B120F9292800000".into(),
    });
    h
}

#[test]
fn tr31_round_trip_binds_usage_and_rejects_tampering() {
    let mut rng = StdRng::seed_from_u64(SEED);
    let kbpk_t = TdesKey::from_bytes(&[0x11; 24]).unwrap();
    let kbpk_a = AesKey::from_bytes(&[0x22; 32]).unwrap();
    let key = [0x5C; 16];
    for (kbpk, header) in [
        (Kbpk::Tdes(&kbpk_t), tr31_header(Version::B, "P0", 'T', 'E')),
        (Kbpk::Aes(&kbpk_a), tr31_header(Version::D, "M3", 'T', 'V')),
    ] {
        let block = tr31::wrap(kbpk, &header, &key, None, &mut rng).unwrap();
        let un = tr31::unwrap(kbpk, &block).unwrap();
        assert_eq!(un.header, header);
        assert_eq!(un.expose_bytes(), &key);
        let bound = un.tdes_key().unwrap();
        assert_eq!(Some(bound.usage()), header.usage());
        // Flip one header character: the MAC must catch it.
        let tampered = block.replacen(&header.key_usage, "K0", 1);
        assert_eq!(
            tr31::unwrap(kbpk, &tampered).unwrap_err(),
            Error::MacMismatch
        );
    }
    let psec_doc = "B0096P0TE00N0000342811F905093F2B797EB9248C1121C011C2AE41BEC63E33C9C2FDB320540D82327221AE9C5C34FB";
    let ff = TdesKey::from_bytes(&[0xFF; 16]).unwrap();
    let un = tr31::unwrap(Kbpk::Tdes(&ff), psec_doc).unwrap();
    assert_eq!(un.expose_bytes(), &[0xEE; 16]);
    assert_eq!(un.header.usage(), Some(KeyUsage::PinEncryption));
    assert!(tr31::unwrap(Kbpk::Aes(&kbpk_a), psec_doc).is_err());
}

#[test]
fn components_combine_only_with_matching_kcvs() {
    let c1 = TdesKey::from_bytes(&[0x0F; 16]).unwrap();
    let c2 = TdesKey::from_bytes(&[0xF1; 16]).unwrap();
    let key =
        components::combine_tdes(&[(c1.clone(), c1.kcv()), (c2.clone(), c2.kcv())], None).unwrap();
    assert_eq!(key.expose_bytes(), &[0xFE; 16]);
    let wrong = Kcv([0, 0, 0]);
    assert!(
        components::combine_tdes(&[(c1.clone(), c1.kcv()), (c2.clone(), wrong)], None).is_err()
    );
    assert!(components::combine_tdes(&[(c1.clone(), c1.kcv())], None).is_err());
    let a1 = AesKey::from_bytes(&[1; 16]).unwrap();
    let a2 = AesKey::from_bytes(&[2; 16]).unwrap();
    let a3 = AesKey::from_bytes(&[4; 16]).unwrap();
    let parts = [
        (a1.clone(), a1.kcv()),
        (a2.clone(), a2.kcv()),
        (a3.clone(), a3.kcv()),
    ];
    let expected = AesKey::from_bytes(&[7; 16]).unwrap().kcv();
    let aes = components::combine_aes(&parts, Some(&expected)).unwrap();
    assert_eq!(aes.expose_bytes(), &[7; 16]);
}

#[test]
fn debug_output_never_shows_secrets() {
    let key = TdesKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
    let shown = format!("{key:?} {:?}", Bound::new(key.clone(), KeyUsage::Mac));
    assert!(shown.contains("kcv") && !shown.contains("0123456789") && !shown.contains("01, 35"));
    assert_eq!(format!("{:?}", key.kcv()), "Kcv(08D7B4)");
    let pin = format!("{:?}", Pin::new("1234").unwrap());
    assert!(!pin.contains("1234"));
    let pan = format!("{:?}", Pan::new("4111111111111111").unwrap());
    assert_eq!(pan, "Pan(411111******1111)");
    let block = format!("{:?}", PinBlock::from_hex("041277CDDEEFF669").unwrap());
    assert!(!block.to_uppercase().contains("77CD"));
}

#[test]
fn parsers_report_bad_hex_and_lengths() {
    assert!(matches!(
        TdesKey::from_hex("0123"),
        Err(Error::Length { .. })
    ));
    assert!(matches!(TdesKey::from_hex("012"), Err(Error::Hex { .. })));
    assert!(matches!(AesKey::from_hex("zz"), Err(Error::Hex { .. })));
    assert!(matches!(
        Ksn::from_hex("FFFF98765432"),
        Err(Error::Length { .. })
    ));
    assert!(matches!(
        Ksn::from_hex("FFFF9876543210E0000G"),
        Err(Error::Hex { .. })
    ));
    assert!(AesKsn::from_hex("éé").is_err());
    assert!(AesKsn::from_hex("ééééééééééé00").is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn unwrap_never_panics(text in "[BD][0-9]{4}[A-Z0-9]{11}[0-9A-F]{0,120}", raw in ".{0,80}") {
        let t = TdesKey::from_bytes(&[9; 16]).unwrap();
        let a = AesKey::from_bytes(&[9; 16]).unwrap();
        for s in [&text, &raw] {
            let _ = tr31::unwrap(Kbpk::Tdes(&t), s);
            let _ = tr31::unwrap(Kbpk::Aes(&a), s);
        }
    }

    #[test]
    fn pin_block_decoders_never_panic(bytes in any::<[u8; 8]>(), field in any::<[u8; 16]>(), pan in "[0-9]{1,19}") {
        let pan = Pan::new(&pan).unwrap();
        let b = PinBlock::from_bytes(bytes);
        let _ = pinblock::decode_format0(&b, &pan);
        let _ = pinblock::decode_format1(&b);
        let _ = pinblock::decode_format3(&b, &pan);
        let _ = pinblock::decipher_format4(&AesKey::from_bytes(&[1; 16]).unwrap(), &field, &pan);
    }

    #[test]
    fn format0_and_4_round_trip(pin in "[0-9]{4,12}", pan in "[0-9]{8,19}", seed in any::<u64>()) {
        let mut rng = StdRng::seed_from_u64(seed);
        let (pin, pan) = (Pin::new(&pin).unwrap(), Pan::new(&pan).unwrap());
        let b = pinblock::encode_format0(&pin, &pan).unwrap();
        prop_assert_eq!(pinblock::decode_format0(&b, &pan).unwrap(), pin.clone());
        let key = AesKey::from_bytes(&[seed as u8; 16]).unwrap();
        let c = pinblock::encipher_format4(&key, &pin, &pan, &mut rng);
        prop_assert_eq!(pinblock::decipher_format4(&key, &c, &pan).unwrap(), pin);
    }

    #[test]
    fn key_parsers_never_panic(text in ".{0,70}") {
        let _ = TdesKey::from_hex(&text);
        let _ = AesKey::from_hex(&text);
        let _ = Ksn::from_hex(&text);
        let _ = AesKsn::from_hex(&text);
        let _ = Pin::new(&text);
        let _ = Pan::new(&text);
        let _ = paycrypto::pinverify::ValidationData::new(&text, 'F');
    }
}
