//! The gate against terminals built from paycrypto's terminal side: what passes, what is
//! refused with which event, and what the PIN check finds.

use super::*;
use iso8583::Spec;
use paycrypto::dukpt_aes::AesDukptTerminal;
use paycrypto::dukpt_tdes::TdesDukptTerminal;
use paycrypto::{Bound, KeyUsage as U};
use profile::TransportRule;

const TDES_BDK: &str = "0123456789ABCDEFFEDCBA9876543210";
const TDES_KEY_ID: &str = "FFFF9876543210E00000";
const AES_BDK: &str = "FEDCBA9876543210F1F1F1F1F1F1F1F1";
const AES_KEY_ID: &str = "1234567890123456";
const PAN: &str = "4761739001010010";
const ZPK: &str = "A1B2C3D4E5F60718293A4B5C6D7E8F90";

struct TestKeys;

impl KeySource for TestKeys {
    fn tdes_bdk(&self, id: &str) -> Option<TdesKey> {
        (id == "tdes").then(|| TdesKey::from_hex(TDES_BDK).unwrap())
    }
    fn aes_bdk(&self, id: &str) -> Option<AesKey> {
        (id == "aes").then(|| AesKey::from_hex(AES_BDK).unwrap())
    }
    fn zone_pin(&self, id: &str) -> Option<TdesKey> {
        (id == "zpk").then(|| TdesKey::from_hex(ZPK).unwrap())
    }
}

fn pin_keys() -> PinKeys {
    PinKeys {
        pvv: Bound::new(
            TdesKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap(),
            U::PinVerificationVisaPvv,
        ),
        ibm3624: Bound::new(
            TdesKey::from_hex("89B07B35A1B3F47E89B07B35A1B3F47E").unwrap(),
            U::PinVerificationIbm3624,
        ),
    }
}

fn profile(dukpt: Dukpt, bdk: &str, key_id: &str) -> Profile {
    Profile {
        dukpt: Some(dukpt),
        bdk: Some(bdk.into()),
        key_id: Some(key_id.into()),
        mac: MacPolicy::Required,
        mac_field: 64,
        transport: TransportRule::Plain,
        pin_key: None,
        dialect: None,
        unionpay_mac: None,
    }
}

fn security() -> Security {
    let s = Security::new(Arc::new(TestKeys), pin_keys());
    s.set_profile("TDES0001", profile(Dukpt::Tdes, "tdes", TDES_KEY_ID));
    s.set_profile("AES00001", profile(Dukpt::Aes128, "aes", AES_KEY_ID));
    let record = PinRecord::pvv_of(
        s.pin_keys().pvv.require(U::PinVerificationVisaPvv).unwrap(),
        &paycrypto::Pan::new(PAN).unwrap(),
        &Pin::new("1234").unwrap(),
    )
    .unwrap();
    s.set_pin("token", record);
    s
}

/// How a test terminal MACs: the 8 bytes over what the MAC covers.
type MacFn<'a> = &'a dyn Fn(&[u8]) -> [u8; 8];

/// A terminal's request: fields in order, then the MAC (when `mac` says how).
fn request(terminal: &str, extra: &[(u8, String)], mac: Option<MacFn<'_>>) -> Vec<u8> {
    let spec = Spec::posguard_ascii();
    let mut fields: Vec<(u8, String)> = vec![
        (2, PAN.into()),
        (3, "000000".into()),
        (4, "000000012500".into()),
        (11, "000123".into()),
        (41, terminal.into()),
    ];
    fields.extend(extra.iter().cloned());
    fields.sort_by_key(|f| f.0);
    let mut out = Vec::new();
    let mut w = spec.writer(&mut out);
    w.mti("0200");
    for (n, v) in &fields {
        w.field(*n, v.as_str());
    }
    // The MAC is the last field: 128 when the message has a secondary bitmap.
    let mac_field = if fields.iter().any(|f| f.0 > 64) {
        128
    } else {
        64
    };
    if mac.is_some() {
        w.field(mac_field, MAC_PLACEHOLDER);
    }
    w.finish().unwrap();
    if let Some(mac) = mac {
        let at = out.len() - 16;
        let computed = hex::encode_upper(mac(&out[..at]));
        out[at..].copy_from_slice(computed.as_bytes());
    }
    out
}

fn tdes_terminal() -> TdesDukptTerminal {
    let ksn = Ksn::from_hex(TDES_KEY_ID).unwrap();
    let ipek = dukpt_tdes::derive_ipek(&TdesKey::from_hex(TDES_BDK).unwrap(), &ksn).unwrap();
    TdesDukptTerminal::load(ipek, &ksn).unwrap()
}

fn aes_terminal() -> AesDukptTerminal {
    let id = InitialKeyId::from_hex(AES_KEY_ID).unwrap();
    let ik = dukpt_aes::derive_initial_key(&AesKey::from_hex(AES_BDK).unwrap(), &id);
    AesDukptTerminal::load(ik, id)
}

/// A TDES terminal's PIN purchase: KSN, PIN block under the PIN key, retail MAC.
fn tdes_request(terminal: &str, pin: &str, tamper: bool) -> (Vec<u8>, TdesTransactionKey) {
    let (ksn, key) = tdes_terminal().next_transaction().unwrap();
    let pin_key = key.pin_key();
    let block = pinblock::encrypt_format0(
        pin_key.require(U::PinEncryption).unwrap(),
        &Pin::new(pin).unwrap(),
        &paycrypto::Pan::new(PAN).unwrap(),
    )
    .unwrap();
    let extra = vec![
        (KSN_FIELD, hex::encode_upper(ksn.as_bytes())),
        (TDES_PIN_FIELD, hex::encode_upper(block)),
    ];
    let mac_key = key.mac_request_key();
    let mac = |data: &[u8]| retail_mac(mac_key.require(U::Mac).unwrap(), data, Padding::Method1);
    let mut bytes = request(terminal, &extra, Some(&mac));
    if tamper {
        // The amount's last digit: 12500 -> 12509.
        let at = bytes
            .windows(12)
            .position(|w| w == b"000000012500")
            .unwrap()
            + 11;
        bytes[at] = b'9';
    }
    (bytes, key)
}

fn gate(s: &Security, bytes: &[u8], transport: Transport) -> Result<Session, EventKind> {
    let spec = Spec::posguard_ascii();
    let msg = spec.decode(bytes).unwrap();
    s.check(&msg, &transport).map_err(|r| r.kind)
}

#[test]
fn a_genuine_tdes_pin_purchase_passes_and_its_pin_verifies() {
    let s = security();
    let (bytes, _) = tdes_request("TDES0001", "1234", false);
    let session = gate(&s, &bytes, Transport::Plain).expect("admitted");
    let spec = Spec::posguard_ascii();
    let msg = spec.decode(&bytes).unwrap();
    assert_eq!(
        s.pin_check(&session, &msg, PAN, "token"),
        PinCheck::Verified
    );
    assert_eq!(
        s.pin_check(&session, &msg, PAN, "unknown"),
        PinCheck::Unverifiable
    );
    let (wrong, _) = tdes_request("TDES0001", "9999", false);
    let session = gate(&s, &wrong, Transport::Plain).expect("admitted");
    let msg = spec.decode(&wrong).unwrap();
    assert_eq!(
        s.pin_check(&session, &msg, PAN, "token"),
        PinCheck::Incorrect
    );
}

#[test]
fn tampered_unmaced_and_foreign_requests_are_refused_with_their_event() {
    let s = security();
    let (tampered, _) = tdes_request("TDES0001", "1234", true);
    assert_eq!(
        gate(&s, &tampered, Transport::Plain).err(),
        Some(EventKind::MacInvalid)
    );

    let (ksn, _) = tdes_terminal().next_transaction().unwrap();
    let ksn_field = (KSN_FIELD, hex::encode_upper(ksn.as_bytes()));
    let unmaced = request("TDES0001", std::slice::from_ref(&ksn_field), None);
    assert_eq!(
        gate(&s, &unmaced, Transport::Plain).err(),
        Some(EventKind::MacMissing)
    );

    let no_ksn = request("TDES0001", &[], Some(&|_: &[u8]| [0; 8]));
    assert_eq!(
        gate(&s, &no_ksn, Transport::Plain).err(),
        Some(EventKind::KsnMissing)
    );

    let foreign = (KSN_FIELD, "FFFF9876543211E00001".to_string());
    let other_device = request("TDES0001", &[foreign], Some(&|_: &[u8]| [0; 8]));
    assert_eq!(
        gate(&s, &other_device, Transport::Plain).err(),
        Some(EventKind::KsnKeyIdMismatch)
    );

    // 0x7FE = eleven one-bits: a counter no genuine terminal uses.
    let skipped = (KSN_FIELD, "FFFF9876543210E007FF".to_string());
    let bad_counter = request("TDES0001", &[skipped], Some(&|_: &[u8]| [0; 8]));
    assert_eq!(
        gate(&s, &bad_counter, Transport::Plain).err(),
        Some(EventKind::KsnCounterInvalid)
    );

    // A terminal with no profile passes the gate untouched (the engine knows it or not).
    let plain = request("TERM0001", &[], None);
    assert!(matches!(
        gate(&s, &plain, Transport::Plain),
        Ok(Session::Plain)
    ));
}

#[test]
fn the_transport_rule_is_enforced_before_anything_else() {
    let s = security();
    let mut strict = profile(Dukpt::Tdes, "tdes", TDES_KEY_ID);
    strict.transport = TransportRule::Mtls;
    s.set_profile("TDES0001", strict);
    let (bytes, _) = tdes_request("TDES0001", "1234", false);
    assert_eq!(
        gate(&s, &bytes, Transport::Tls).err(),
        Some(EventKind::TransportRefused)
    );
    let wrong_cert = Transport::MutualTls {
        subject: "TDES0002".into(),
    };
    assert_eq!(
        gate(&s, &bytes, wrong_cert).err(),
        Some(EventKind::TransportRefused)
    );
    let right_cert = Transport::MutualTls {
        subject: "TDES0001".into(),
    };
    assert!(gate(&s, &bytes, right_cert).is_ok());
}

#[test]
fn an_unknown_bdk_is_a_security_refusal_not_a_panic() {
    let s = security();
    s.set_profile("TDES0001", profile(Dukpt::Tdes, "missing", TDES_KEY_ID));
    let (bytes, _) = tdes_request("TDES0001", "1234", false);
    assert_eq!(
        gate(&s, &bytes, Transport::Plain).err(),
        Some(EventKind::KeyUnavailable)
    );
}

#[test]
fn tdes_responses_are_maced_under_the_response_variant() {
    let s = security();
    let (bytes, terminal_key) = tdes_request("TDES0001", "1234", false);
    let session = gate(&s, &bytes, Transport::Plain).unwrap();
    let data = b"0210 response bytes";
    let expected = retail_mac(
        terminal_key.mac_response_key().require(U::Mac).unwrap(),
        data,
        Padding::Method1,
    );
    assert_eq!(session.response_mac(data), Some(expected));
    assert_ne!(
        Some(retail_mac(
            terminal_key.mac_request_key().require(U::Mac).unwrap(),
            data,
            Padding::Method1
        )),
        session.response_mac(data),
        "request and response keys differ"
    );
}

#[test]
fn aes_terminals_mac_with_cmac_and_send_format_4_pins() {
    let s = security();
    let mut terminal = aes_terminal();
    for (pin, tamper, want) in [
        ("1234", false, Ok(PinCheck::Verified)),
        ("4321", false, Ok(PinCheck::Incorrect)),
        ("1234", true, Err(EventKind::MacInvalid)),
    ] {
        let key = terminal.next_transaction().unwrap();
        let working = |usage| match key.working_key(usage, KeyType::Aes128).unwrap() {
            WorkingKey::Aes(k) => k,
            _ => unreachable!("AES-128 working keys"),
        };
        let pin_key = working(WorkingKeyUsage::PinEncryption);
        let block = pinblock::encipher_format4(
            pin_key.require(U::PinEncryption).unwrap(),
            &Pin::new(pin).unwrap(),
            &paycrypto::Pan::new(PAN).unwrap(),
            &mut rand::rng(),
        );
        let extra = vec![
            (KSN_FIELD, hex::encode_upper(key.ksn().to_bytes())),
            (AES_PIN_FIELD, hex::encode_upper(block)),
        ];
        let mac_key = working(WorkingKeyUsage::MacGenerate);
        let mac = |data: &[u8]| {
            let full = aes_cmac(mac_key.require(U::MacGenerate).unwrap(), data);
            full[..8].try_into().unwrap()
        };
        let mut bytes = request("AES00001", &extra, Some(&mac));
        if tamper {
            let at = bytes
                .windows(12)
                .position(|w| w == b"000000012500")
                .unwrap()
                + 11;
            bytes[at] = b'9';
        }
        let got = gate(&s, &bytes, Transport::Plain).map(|session| {
            let spec = Spec::posguard_ascii();
            let msg = spec.decode(&bytes).unwrap();
            let check = s.pin_check(&session, &msg, PAN, "token");
            let verify_key = working(WorkingKeyUsage::MacVerify);
            let expected = aes_cmac(verify_key.require(U::MacVerify).unwrap(), b"resp");
            assert_eq!(session.response_mac(b"resp").unwrap(), expected[..8]);
            check
        });
        assert_eq!(got, want, "pin {pin} tamper {tamper}");
    }
}

/// A DUKPT PIN translated for the upstream is the same PIN under the zone key, and an
/// issuer-side zone link decrypts and verifies it.
#[test]
fn pins_translate_from_dukpt_to_the_zone_key_and_verify_on_a_zone_link() {
    let s = security();
    let (bytes, _) = tdes_request("TDES0001", "1234", false);
    let session = gate(&s, &bytes, Transport::Plain).unwrap();
    let spec = Spec::posguard_ascii();
    let msg = spec.decode(&bytes).unwrap();
    assert!(session.carries_pin(&msg));
    let zpk = TdesKey::from_hex(ZPK).unwrap();
    let translated = s.translate_pin(&session, &msg, PAN, &zpk).unwrap().unwrap();
    let pan = paycrypto::Pan::new(PAN).unwrap();
    let mut block = [0u8; 8];
    hex::decode_to_slice(&translated, &mut block).unwrap();
    let pin = pinblock::decrypt_format0(&zpk, &block, &pan).unwrap();
    assert_eq!(pin.expose_digits(), &[1, 2, 3, 4]);

    let mut zone = profile(Dukpt::Tdes, "tdes", TDES_KEY_ID);
    zone.dukpt = None;
    zone.bdk = None;
    zone.key_id = None;
    zone.mac = MacPolicy::Off;
    zone.pin_key = Some("zpk".into());
    assert_eq!(zone.validate(), Ok(()));
    s.set_profile("ACQ00001", zone);
    let forwarded = request("ACQ00001", &[(TDES_PIN_FIELD, translated)], None);
    let session = gate(&s, &forwarded, Transport::Plain).expect("a zone link has no MAC");
    let msg = spec.decode(&forwarded).unwrap();
    assert_eq!(
        s.pin_check(&session, &msg, PAN, "token"),
        PinCheck::Verified
    );
    assert!(!session.is_dukpt(), "no MAC on a zone link's answers");
}

/// A plain terminal's request is never PIN-checked, whatever its card number looks like
/// (regression: the PAN was parsed for PIN checks before looking for a PIN block, so an
/// unusual PAN on a plain terminal was declined 55).
#[test]
fn requests_without_a_pin_block_are_not_pin_checked() {
    let s = security();
    let plain = request("TERM0001", &[], None);
    let spec = Spec::posguard_ascii();
    let msg = spec.decode(&plain).unwrap();
    let session = s.check(&msg, &Transport::Plain).unwrap();
    assert_eq!(
        s.pin_check(&session, &msg, "12", "token"),
        PinCheck::NotPresent
    );
    assert!(
        s.translate_pin(&session, &msg, "12", &TdesKey::from_hex(ZPK).unwrap())
            .is_none()
    );
}
