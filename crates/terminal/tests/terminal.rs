//! The terminal side checked against an independent host side: paycrypto's host-side
//! DUKPT derivation from the BDK, and the MAC layout of docs/terminal-security.md
//! written out again here. Published vectors are from shared/docs/VECTORS.md.

use iso8583::{MessageBuilder, Spec};
use paycrypto::dukpt_aes::{self, AesKsn, KeyType, WorkingKeyUsage};
use paycrypto::dukpt_tdes::{self, Ksn};
use paycrypto::mac::{self, Padding};
use paycrypto::{AesKey, KeyUsage, Pan, Pin, TdesKey, pinblock};
use rand::SeedableRng;
use rand::rngs::StdRng;
use terminal::{
    Bdk, DukptTerminal, KeyId, MacField, PinEntry, Scheme, TerminalError, Transaction,
    transaction_at,
};

const TDES_BDK: &str = "0123456789ABCDEFFEDCBA9876543210";
const TDES_KEY_ID: &str = "FFFF9876543210E00000";
const AES_BDK: &str = "FEDCBA9876543210F1F1F1F1F1F1F1F1";
const AES_KEY_ID: &str = "1234567890123456";
/// The PAN of the X9.24-1 PIN vectors.
const PAN: &str = "4012345678909";
const PIN: &str = "1234";

fn rng() -> StdRng {
    StdRng::seed_from_u64(7)
}

fn device(scheme: Scheme, bdk: &str, key_id: &str) -> DukptTerminal {
    let bdk = Bdk::from_hex(scheme, bdk).unwrap();
    DukptTerminal::from_bdk(&bdk, &KeyId::parse(scheme, key_id).unwrap()).unwrap()
}

fn pin_txn(d: &mut DukptTerminal, mac_field: MacField) -> Transaction {
    let (pin, pan) = (Pin::new(PIN).unwrap(), Pan::new(PAN).unwrap());
    let entry = PinEntry {
        pin: &pin,
        pan: &pan,
    };
    d.next_transaction(Some(entry), mac_field, &mut rng())
        .unwrap()
}

/// A purchase request signed by `txn`; `reversal` adds field 90 (a secondary field).
fn request(txn: &Transaction, mti: &str, reversal: bool) -> Vec<u8> {
    let spec = Spec::posguard_ascii();
    let mut msg = MessageBuilder::new();
    msg.set_mti(mti)
        .set(2, PAN)
        .set(3, "000000")
        .set(4, "000000012500")
        .set(7, "0611083000")
        .set(11, "000042")
        .set(41, "TDES0001")
        .set(49, "156");
    if reversal {
        msg.set(90, "020000004106110829590000000000000000000000");
    }
    let mut out = Vec::new();
    txn.sign_request(&mut msg, &spec, &mut out).unwrap();
    out
}

/// The host's keys for one KSN, derived independently from the BDK.
enum HostKeys {
    Tdes(dukpt_tdes::TdesTransactionKey),
    /// PIN, MAC generation and MAC verification working keys.
    Aes(AesKey, AesKey, AesKey),
}

fn host_keys(scheme: Scheme, bdk: &str, ksn_hex: &str) -> HostKeys {
    match scheme {
        Scheme::Tdes => {
            let ksn = Ksn::from_hex(ksn_hex).unwrap();
            let ipek = dukpt_tdes::derive_ipek(&TdesKey::from_hex(bdk).unwrap(), &ksn).unwrap();
            HostKeys::Tdes(dukpt_tdes::derive_transaction_key(&ipek, &ksn).unwrap())
        }
        _ => {
            let ksn = AesKsn::from_hex(ksn_hex).unwrap();
            let ik = dukpt_aes::derive_initial_key(&AesKey::from_hex(bdk).unwrap(), &ksn.id);
            let key = dukpt_aes::derive_transaction_key(&ik, &ksn).unwrap();
            let kt = if scheme == Scheme::Aes256 {
                KeyType::Aes256
            } else {
                KeyType::Aes128
            };
            let w = |u| {
                let bound = key.aes_working_key(u, kt).unwrap();
                let usage = match u {
                    WorkingKeyUsage::PinEncryption => KeyUsage::PinEncryption,
                    WorkingKeyUsage::MacGenerate => KeyUsage::MacGenerate,
                    _ => KeyUsage::MacVerify,
                };
                bound.require(usage).unwrap().clone()
            };
            HostKeys::Aes(
                w(WorkingKeyUsage::PinEncryption),
                w(WorkingKeyUsage::MacGenerate),
                w(WorkingKeyUsage::MacVerify),
            )
        }
    }
}

/// The contract's MAC, host side: 8 bytes over `data` in the given direction.
fn host_mac(keys: &HostKeys, data: &[u8], request: bool) -> String {
    let mac = match keys {
        HostKeys::Tdes(k) => {
            let key = if request {
                k.mac_request_key()
            } else {
                k.mac_response_key()
            };
            mac::retail_mac(key.require(KeyUsage::Mac).unwrap(), data, Padding::Method1).to_vec()
        }
        HostKeys::Aes(_, generate, verify) => {
            let key = if request { generate } else { verify };
            mac::aes_cmac(key, data)[..8].to_vec()
        }
    };
    hex::encode_upper(mac)
}

/// What the host concludes from a request: its MAC verifies, and the PIN it carries.
fn host_check(scheme: Scheme, bdk: &str, body: &[u8]) -> (bool, Option<String>) {
    let spec = Spec::posguard_ascii();
    let msg = spec.decode(body).unwrap();
    let keys = host_keys(scheme, bdk, &msg.field_str(62).unwrap());
    let mac_field = if msg.has(128) { 128 } else { 64 };
    assert_eq!(
        msg.fields().last(),
        Some(mac_field),
        "the MAC is the last field"
    );
    let mac_ok =
        host_mac(&keys, &body[..body.len() - 16], true).as_bytes() == msg.field(mac_field).unwrap();
    let pan = Pan::new(&msg.field_str(2).unwrap()).unwrap();
    let pin = match (&keys, msg.field_str(52), msg.field_str(110)) {
        (HostKeys::Tdes(k), Some(block), None) => {
            let block: [u8; 8] = hex::decode(&*block).unwrap().try_into().unwrap();
            let pin_key = k.pin_key();
            let key = pin_key.require(KeyUsage::PinEncryption).unwrap();
            Some(pinblock::decrypt_format0(key, &block, &pan).unwrap())
        }
        (HostKeys::Aes(pin_key, ..), None, Some(block)) => {
            let block: [u8; 16] = hex::decode(&*block).unwrap().try_into().unwrap();
            Some(pinblock::decipher_format4(pin_key, &block, &pan).unwrap())
        }
        (_, None, None) => None,
        other => panic!("PIN block in the wrong field: {:?}", (other.1, other.2)),
    };
    (mac_ok, pin.map(|p| p.expose_ascii().to_string()))
}

/// A response to `request` as the host builds it: MAC'd with the response key.
fn host_response(scheme: Scheme, bdk: &str, request: &[u8], code: &str) -> Vec<u8> {
    let spec = Spec::posguard_ascii();
    let req = spec.decode(request).unwrap();
    let ksn = req.field_str(62).unwrap();
    let mac_field = if req.has(128) { 128 } else { 64 };
    let mut b = MessageBuilder::new();
    b.set_mti("0210")
        .set(4, "000000012500")
        .set(11, "000042")
        .set(39, code)
        .set(41, "TDES0001")
        .set(mac_field, "0000000000000000");
    let mut out = Vec::new();
    b.encode_into(&spec, &mut out).unwrap();
    let keys = host_keys(scheme, bdk, &ksn);
    let n = out.len() - 16;
    let mac = host_mac(&keys, &out[..n], false);
    out[n..].copy_from_slice(mac.as_bytes());
    out
}

fn flip_amount(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(body.to_vec()).unwrap();
    let at = text.find("000000012500").unwrap() + 11;
    let mut out = body.to_vec();
    out[at] = b'1';
    out
}

#[test]
fn tdes_requests_reproduce_the_x9_24_vectors_and_verify_host_side() {
    // VECTORS.md: PIN 1234, PAN 4012345678909, encrypted blocks for counters 1..3.
    let published = ["1B9C1845EB993A7A", "10A01C8D02C69107", "18DC07B94797B466"];
    let mut d = device(Scheme::Tdes, TDES_BDK, TDES_KEY_ID);
    for (i, block) in published.iter().enumerate() {
        let txn = pin_txn(&mut d, MacField::F64);
        assert_eq!(txn.ksn_hex(), format!("FFFF9876543210E0000{}", i + 1));
        assert_eq!(txn.pin_block(), Some((52, *block)));
        let body = request(&txn, "0200", false);
        assert_eq!(
            host_check(Scheme::Tdes, TDES_BDK, &body),
            (true, Some(PIN.into()))
        );
        // One digit of the amount changed after signing: the MAC no longer verifies.
        assert!(!host_check(Scheme::Tdes, TDES_BDK, &flip_amount(&body)).0);
    }
}

#[test]
fn tdes_mac_matches_the_published_request_key() {
    // Counter 1's current key from VECTORS.md, request variant applied by hand.
    let current = hex::decode("042666B49184CFA368DE9628D0397BC9").unwrap();
    let variant = hex::decode("000000000000FF00000000000000FF00").unwrap();
    let key: Vec<u8> = current.iter().zip(&variant).map(|(a, b)| a ^ b).collect();
    let key = TdesKey::from_bytes(&key).unwrap();
    let mut d = device(Scheme::Tdes, TDES_BDK, TDES_KEY_ID);
    let body = request(&pin_txn(&mut d, MacField::F64), "0200", false);
    let n = body.len() - 16;
    let mac = mac::retail_mac(&key, &body[..n], Padding::Method1);
    assert_eq!(hex::encode_upper(mac).as_bytes(), &body[n..]);
}

#[test]
fn aes_requests_use_the_published_working_keys() {
    let cases = [
        // (scheme, BDK, counter 1 PIN key from VECTORS.md)
        (
            Scheme::Aes128,
            AES_BDK.to_owned(),
            "AF8CB133A78F8DC2D1359F18527593FB",
        ),
        (
            Scheme::Aes256,
            AES_BDK.repeat(2),
            "8C1AB7BEE973829E30242E0BBBDD4946D540C98FC1B5BDCF94790001A23FD502",
        ),
    ];
    for (scheme, bdk, pin_key) in cases {
        let mut d = device(scheme, &bdk, AES_KEY_ID);
        let txn = pin_txn(&mut d, MacField::F64);
        assert_eq!(txn.ksn_hex(), "123456789012345600000001");
        let (field, block) = txn.pin_block().unwrap();
        assert_eq!((field, block.len()), (110, 32));
        let block: [u8; 16] = hex::decode(block).unwrap().try_into().unwrap();
        let key = AesKey::from_hex(pin_key).unwrap();
        let pan = Pan::new(PAN).unwrap();
        let pin = pinblock::decipher_format4(&key, &block, &pan).unwrap();
        assert_eq!(*pin.expose_ascii(), PIN);
        let body = request(&txn, "0200", false);
        assert_eq!(host_check(scheme, &bdk, &body), (true, Some(PIN.into())));
        assert!(!host_check(scheme, &bdk, &flip_amount(&body)).0);
    }
    // Counter 1's published MAC generation key signs the AES-128 request.
    let mut d = device(Scheme::Aes128, AES_BDK, AES_KEY_ID);
    let body = request(&pin_txn(&mut d, MacField::F64), "0200", false);
    let key = AesKey::from_hex("A2DC23DE6FDE0824A2BC321E08E4B8B7").unwrap();
    let n = body.len() - 16;
    let mac = &mac::aes_cmac(&key, &body[..n])[..8];
    assert_eq!(hex::encode_upper(mac).as_bytes(), &body[n..]);
}

#[test]
fn responses_verify_only_under_the_response_key() {
    let spec = Spec::posguard_ascii();
    for (scheme, bdk, key_id) in [
        (Scheme::Tdes, TDES_BDK, TDES_KEY_ID),
        (Scheme::Aes128, AES_BDK, AES_KEY_ID),
    ] {
        let mut d = device(scheme, bdk, key_id);
        let txn = pin_txn(&mut d, MacField::F64);
        let mut msg = MessageBuilder::new();
        msg.set_mti("0200").set(2, PAN).set(4, "000000012500");
        let mut body = Vec::new();
        let pending = txn.sign_request(&mut msg, &spec, &mut body).unwrap();
        let answer = host_response(scheme, bdk, &body, "00");
        pending.verify_response_bytes(&spec, &answer).unwrap();
        // Tampered amount, or a response MAC'd with the request key: refused.
        let tampered = flip_amount(&answer);
        assert!(matches!(
            pending.verify_response_bytes(&spec, &tampered),
            Err(TerminalError::MacInvalid)
        ));
        let mut wrong_direction = answer.clone();
        let n = answer.len() - 16;
        let keys = host_keys(scheme, bdk, txn.ksn_hex());
        let request_mac = host_mac(&keys, &answer[..n], true);
        wrong_direction[n..].copy_from_slice(request_mac.as_bytes());
        assert!(matches!(
            pending.verify_response_bytes(&spec, &wrong_direction),
            Err(TerminalError::MacInvalid)
        ));
        // No MAC at all.
        let mut plain = Vec::new();
        MessageBuilder::new()
            .set_mti("0210")
            .set(39, "58")
            .encode_into(&spec, &mut plain)
            .unwrap();
        assert!(matches!(
            pending.verify_response_bytes(&spec, &plain),
            Err(TerminalError::MacMissing)
        ));
        // The next transaction's keys do not verify this answer.
        let next = d.next_transaction(None, MacField::F64, &mut rng()).unwrap();
        assert!(
            next.pending_response()
                .verify_response_bytes(&spec, &answer)
                .is_err()
        );
    }
}

#[test]
fn the_mac_is_the_last_field_so_secondary_fields_move_it_to_128() {
    let spec = Spec::posguard_ascii();
    let mut d = device(Scheme::Tdes, TDES_BDK, TDES_KEY_ID);
    let txn = d.next_transaction(None, MacField::F64, &mut rng()).unwrap();
    let cases = [(&txn, false, 64), (&txn, true, 128)];
    for (txn, reversal, field) in cases {
        let body = request(txn, "0400", reversal);
        let msg = spec.decode(&body).unwrap();
        assert_eq!(msg.fields().last(), Some(field));
        assert!(!msg.has(if field == 64 { 128 } else { 64 }));
        assert_eq!(host_check(Scheme::Tdes, TDES_BDK, &body), (true, None));
    }
    let always_128 = d
        .next_transaction(None, MacField::F128, &mut rng())
        .unwrap();
    let body = request(&always_128, "0200", false);
    assert_eq!(spec.decode(&body).unwrap().fields().last(), Some(128));
    // AES PIN blocks live in field 110, so the MAC goes to 128.
    let mut aes = device(Scheme::Aes128, AES_BDK, AES_KEY_ID);
    let body = request(&pin_txn(&mut aes, MacField::F64), "0200", false);
    assert_eq!(spec.decode(&body).unwrap().fields().last(), Some(128));
    assert_eq!(
        host_check(Scheme::Aes128, AES_BDK, &body),
        (true, Some(PIN.into()))
    );
}

#[test]
fn a_repeat_keeps_the_ksn_and_pin_block_and_is_signed_again() {
    let spec = Spec::posguard_ascii();
    for (scheme, bdk, key_id) in [
        (Scheme::Tdes, TDES_BDK, TDES_KEY_ID),
        (Scheme::Aes128, AES_BDK, AES_KEY_ID),
    ] {
        let mut d = device(scheme, bdk, key_id);
        let txn = pin_txn(&mut d, MacField::F64);
        let first = request(&txn, "0200", false);
        let again = request(&txn, "0201", false);
        let (a, b) = (spec.decode(&first).unwrap(), spec.decode(&again).unwrap());
        let pin_field = scheme.pin_field();
        assert_eq!(a.field(62), b.field(62));
        assert_eq!(a.field(pin_field), b.field(pin_field));
        assert_eq!(first[4..first.len() - 16], again[4..again.len() - 16]);
        assert_ne!(first[first.len() - 16..], again[again.len() - 16..]);
        assert!(host_check(scheme, bdk, &again).0);
    }
}

#[test]
fn counters_advance_and_skip_more_than_ten_one_bits() {
    let mut d = device(Scheme::Tdes, TDES_BDK, TDES_KEY_ID);
    let mut previous = 0u32;
    // 0x7FF is the first counter with eleven one bits: 0x7FE is followed by 0x800.
    while previous != 0x800 {
        let txn = d.next_transaction(None, MacField::F64, &mut rng()).unwrap();
        let ksn = Ksn::from_hex(txn.ksn_hex()).unwrap();
        assert_eq!(&txn.ksn_hex()[..15], &TDES_KEY_ID[..15]);
        let counter = ksn.counter();
        assert!(counter > previous && counter.count_ones() <= 10);
        if previous == 0x7FE {
            assert_eq!(counter, 0x800);
        } else {
            assert_eq!(counter, previous + 1);
        }
        previous = counter;
    }
    // The device agrees with the host derivation where it matters most: after a skip.
    let body = request(&pin_txn(&mut d, MacField::F64), "0200", false);
    let spec = Spec::posguard_ascii();
    let ksn = spec
        .decode(&body)
        .unwrap()
        .field_str(62)
        .map(|k| k.into_owned());
    assert_eq!(ksn.as_deref(), Some("FFFF9876543210E00801"));
    assert_eq!(
        host_check(Scheme::Tdes, TDES_BDK, &body),
        (true, Some(PIN.into()))
    );
    let mut aes = device(Scheme::Aes128, AES_BDK, AES_KEY_ID);
    for counter in 1..=3 {
        let txn = aes
            .next_transaction(None, MacField::F64, &mut rng())
            .unwrap();
        assert_eq!(txn.ksn_hex(), format!("12345678901234560000000{counter}"));
    }
    assert_eq!(
        aes.next_ksn_hex().as_deref(),
        Some("123456789012345600000004")
    );
}

#[test]
fn transaction_at_matches_the_device() {
    let bdk = Bdk::from_hex(Scheme::Tdes, TDES_BDK).unwrap();
    let mut d = device(Scheme::Tdes, TDES_BDK, TDES_KEY_ID);
    let from_device = request(&pin_txn(&mut d, MacField::F64), "0200", false);
    let (pin, pan) = (Pin::new(PIN).unwrap(), Pan::new(PAN).unwrap());
    let entry = PinEntry {
        pin: &pin,
        pan: &pan,
    };
    let at = transaction_at(
        &bdk,
        "FFFF9876543210E00001",
        Some(entry),
        MacField::F64,
        &mut rng(),
    )
    .unwrap();
    assert_eq!(request(&at, "0200", false), from_device);
    // Counters a device never uses are refused, as the host refuses them.
    let never = transaction_at(
        &bdk,
        "FFFF9876543210E007FF",
        None,
        MacField::F64,
        &mut rng(),
    );
    assert!(never.is_err());
}

#[test]
fn key_ids_and_bdks_are_checked() {
    assert!(matches!(
        KeyId::parse(Scheme::Tdes, "FFFF9876543210E00001"),
        Err(TerminalError::KeyIdCounter(_))
    ));
    assert!(KeyId::parse(Scheme::Aes128, "12345678901234").is_err());
    assert!(Bdk::from_hex(Scheme::Aes256, AES_BDK).is_err());
    assert!(matches!(
        Scheme::parse("aes192"),
        Err(TerminalError::Scheme(_))
    ));
    let tdes_bdk = Bdk::from_hex(Scheme::Tdes, TDES_BDK).unwrap();
    let aes_id = KeyId::parse(Scheme::Aes128, AES_KEY_ID).unwrap();
    assert!(matches!(
        DukptTerminal::from_bdk(&tdes_bdk, &aes_id),
        Err(TerminalError::SchemeMismatch { .. })
    ));
    // KCVs as the key API reports them.
    assert_eq!(tdes_bdk.kcv().to_string().len(), 6);
    let tdes_id = KeyId::parse(Scheme::Tdes, TDES_KEY_ID).unwrap();
    assert_eq!(tdes_id.to_hex(), TDES_KEY_ID);
    assert_eq!(tdes_id.ksn_hex(0x800).unwrap(), "FFFF9876543210E00800");
    assert!(tdes_id.ksn_hex(0x7FF).is_err() && tdes_id.ksn_hex(0).is_err());
    assert_eq!(aes_id.ksn_hex(2).unwrap(), "123456789012345600000002");
    assert_eq!(Scheme::Tdes.counter_rule().next_usable(0x7FE), Some(0x800));
}

#[test]
fn debug_output_shows_no_secrets() {
    let mut d = device(Scheme::Tdes, TDES_BDK, TDES_KEY_ID);
    let txn = pin_txn(&mut d, MacField::F64);
    let text = format!(
        "{d:?} {txn:?} {:?} {:?}",
        txn.pending_response(),
        Bdk::from_hex(Scheme::Tdes, TDES_BDK).unwrap()
    );
    let (_, block) = txn.pin_block().unwrap();
    for secret in [block, TDES_BDK, "1234", PAN] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(text.contains("FFFF9876543210E00002"), "{text}");
}
