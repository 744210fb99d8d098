//! How keys enter the keystore: components (split knowledge), generation, adoption, and
//! the typed accessors that refuse the wrong usage. TR-31 import is in `tr31.rs`.

mod common;

use common::*;
use keystore::{Algorithm, Keystore, KeystoreError, Usage};

fn empty() -> Keystore {
    Keystore::open(kek(KEK_A), Vec::new()).unwrap()
}

/// One component-import case: components as (key hex, KCV hex), and the expected outcome
/// (`Ok(kcv of the combined key)` or a fragment of the error's message).
struct ComponentCase {
    name: &'static str,
    usage: Usage,
    algorithm: Algorithm,
    parts: Vec<(String, String)>,
    expect: Result<String, &'static str>,
}

/// Triple-length keys with equal parts: K2 = K3 degenerates to single DES (refused);
/// K1 = K3 is double-length strength (accepted).
const K2_EQ_K3: &str = "0123456789ABCDEFFEDCBA9876543210FEDCBA9876543210";
const K1_EQ_K3: &str = "0123456789ABCDEFFEDCBA98765432100123456789ABCDEF";

#[rustfmt::skip] // a table reads better one case a line
fn component_cases() -> Vec<ComponentCase> {
    use Algorithm::*;
    let aes_bdk = "FEDCBA9876543210F1F1F1F1F1F1F1F1";
    let two = || split(Tdes, DEMO_BDK, 2);
    let mut wrong_kcv = two();
    wrong_kcv[1].1 = "000000".into();
    let mut mixed_len = two();
    mixed_len[1].0.push_str("0123456789ABCDEF");
    let mut not_hex = two();
    not_hex[0].0.replace_range(0..1, "G");
    let same = two()[0].clone();
    let ok = |kcv: &str| Ok(kcv.to_owned());
    let case = |name, usage, algorithm, parts, expect| ComponentCase {
        name, usage, algorithm, parts, expect,
    };
    vec![
        case("two tdes", Usage::Bdk, Tdes, two(), ok(DEMO_BDK_KCV)),
        case("three tdes", Usage::Bdk, Tdes, split(Tdes, DEMO_BDK, 3), ok(DEMO_BDK_KCV)),
        case("aes128", Usage::Bdk, Aes128, split(Aes128, aes_bdk, 2), ok(&kcv_of(Aes128, aes_bdk))),
        case("zone tdes", Usage::ZonePin, Tdes, two(), ok(DEMO_BDK_KCV)),
        case("wrong kcv", Usage::Bdk, Tdes, wrong_kcv, Err("component 2 does not match")),
        case("one", Usage::Bdk, Tdes, split(Tdes, DEMO_BDK, 1), Err("components, got 1")),
        case("four", Usage::Bdk, Tdes, split(Tdes, DEMO_BDK, 4), Err("components, got 4")),
        case("lengths differ", Usage::Bdk, Tdes, mixed_len, Err("differs from component 1")),
        case("not hex", Usage::Bdk, Tdes, not_hex, Err("component 1 is malformed")),
        case("aes length", Usage::Bdk, Aes256, split(Aes128, aes_bdk, 2), Err("algorithm aes256")),
        case("cancel out", Usage::Bdk, Tdes, vec![same.clone(), same], Err("cancel out")),
        case("single DES", Usage::Bdk, Tdes, split(Tdes, &"01".repeat(16), 2), Err("single DES")),
        case("K2=K3", Usage::Bdk, Tdes, split(Tdes, K2_EQ_K3, 3), Err("single DES")),
        case("K1=K3", Usage::Bdk, Tdes, split(Tdes, K1_EQ_K3, 3), ok(&kcv_of(Tdes, K1_EQ_K3))),
        case("pvv aes", Usage::PinVerificationPvv, Aes128, vec![], Err("does not take")),
        case("hmac", Usage::Webhook, Hmac, vec![], Err("made by the host")),
    ]
}

#[test]
fn components_import_checks_count_kcvs_and_lengths() {
    for c in component_cases() {
        let mut store = empty();
        let got = store.import_components("k1", c.usage, c.algorithm, &c.parts, &mut rng(), NOW_MS);
        match (got, &c.expect) {
            (Ok((info, writes)), Ok(kcv)) => {
                assert_eq!(&info.kcv, kcv, "{}", c.name);
                assert_eq!(
                    (info.usage, info.algorithm),
                    (c.usage, c.algorithm),
                    "{}",
                    c.name
                );
                assert_eq!(writes.len(), 2, "{}: record and KEK check value", c.name);
                // Nothing written may contain a component or the key.
                let all: String = writes.iter().map(|(k, v)| format!("{k}{v}")).collect();
                for (part, _) in &c.parts {
                    assert!(!all.contains(part.as_str()), "{}", c.name);
                }
                assert!(!all.contains(DEMO_BDK), "{}", c.name);
            }
            (Err(e), Err(fragment)) => {
                assert!(e.to_string().contains(fragment), "{}: {e}", c.name);
                assert!(store.is_empty(), "{}", c.name);
                for (part, _) in &c.parts {
                    assert!(!format!("{e} {e:?}").contains(part.as_str()), "{}", c.name);
                }
            }
            (got, want) => panic!("{}: got {:?}, want {want:?}", c.name, got.map(|g| g.0)),
        }
    }
}

#[test]
fn ids_are_validated_and_unique() {
    let mut store = empty();
    let parts = split(Algorithm::Tdes, DEMO_BDK, 2);
    let long = "x".repeat(keystore::KEY_ID_CHARS_MAX + 1);
    for bad in ["", "a b", "key:1", "ü", long.as_str()] {
        let e = store
            .import_components(bad, Usage::Bdk, Algorithm::Tdes, &parts, &mut rng(), NOW_MS)
            .unwrap_err();
        assert!(matches!(e, KeystoreError::InvalidId { .. }), "{bad:?}: {e}");
    }
    let max = "A.b_c-9".repeat(10)[..keystore::KEY_ID_CHARS_MAX].to_owned();
    store
        .import_components(
            &max,
            Usage::Bdk,
            Algorithm::Tdes,
            &parts,
            &mut rng(),
            NOW_MS,
        )
        .unwrap();
    let e = store
        .generate(&max, Usage::Webhook, Algorithm::Hmac, &mut rng(), NOW_MS)
        .unwrap_err();
    assert!(matches!(e, KeystoreError::DuplicateId { .. }), "{e}");
}

#[test]
fn generate_makes_host_keys_only() {
    let mut store = empty();
    let made = [
        ("pvv", Usage::PinVerificationPvv, Algorithm::Tdes, 16),
        ("ibm", Usage::PinVerificationIbm3624, Algorithm::Tdes, 16),
        ("token", Usage::PanToken, Algorithm::Hmac, 32),
        ("vault", Usage::DataEncryption, Algorithm::Aes256, 32),
        ("hook", Usage::Webhook, Algorithm::Hmac, 32),
    ];
    let mut rng = rng();
    for (id, usage, algorithm, len) in made {
        let (info, _) = store
            .generate(id, usage, algorithm, &mut rng, NOW_MS)
            .unwrap();
        assert_eq!(info.created_ms, NOW_MS);
        let got = match algorithm {
            Algorithm::Tdes => store.tdes(id, usage).unwrap().len(),
            Algorithm::Hmac => store.hmac(id, usage).unwrap().len(),
            _ => store.aes(id, usage).unwrap().len(),
        };
        assert_eq!(got, len, "{id}");
    }
    for (usage, algorithm) in [
        (Usage::Bdk, Algorithm::Tdes),
        (Usage::Kbpk, Algorithm::Aes256),
        (Usage::ZonePin, Algorithm::Tdes),
    ] {
        let e = store
            .generate("x", usage, algorithm, &mut rng, NOW_MS)
            .unwrap_err();
        assert!(
            matches!(e, KeystoreError::NotPermitted { .. }),
            "{usage}: {e}"
        );
    }
    let e = store
        .generate("x", Usage::PanToken, Algorithm::Tdes, &mut rng, NOW_MS)
        .unwrap_err();
    assert!(matches!(e, KeystoreError::Unsupported { .. }), "{e}");
    let listed: Vec<_> = store.list().into_iter().map(|i| i.id).collect();
    assert_eq!(listed, ["hook", "ibm", "pvv", "token", "vault"]);
}

#[test]
fn a_key_is_only_handed_out_under_its_own_usage() {
    let mut store = empty();
    let mut meta = Meta::default();
    import_split(
        &mut store,
        &mut meta,
        "bdk",
        Usage::Bdk,
        Algorithm::Tdes,
        DEMO_BDK,
    );
    store
        .generate(
            "pvv",
            Usage::PinVerificationPvv,
            Algorithm::Tdes,
            &mut rng(),
            NOW_MS,
        )
        .unwrap();
    store
        .generate("hook", Usage::Webhook, Algorithm::Hmac, &mut rng(), NOW_MS)
        .unwrap();
    assert_eq!(
        store.bdk_tdes("bdk").unwrap().kcv().to_string(),
        DEMO_BDK_KCV
    );

    let wrong_usage = |e: KeystoreError, stored: Usage, wanted: Usage| match e {
        KeystoreError::WrongUsage {
            stored: s,
            wanted: w,
            ..
        } => (s, w) == (stored, wanted),
        _ => false,
    };
    // "A PIN key cannot be used to MAC": a PIN verification key asked for as a MAC key.
    let e = store.hmac("pvv", Usage::Webhook).unwrap_err();
    assert!(wrong_usage(e, Usage::PinVerificationPvv, Usage::Webhook));
    let e = store.tdes("pvv", Usage::ZonePin).unwrap_err();
    assert!(wrong_usage(e, Usage::PinVerificationPvv, Usage::ZonePin));
    // Both M7 usages are kept apart: a webhook secret is not the PAN token key.
    let e = store.hmac("hook", Usage::PanToken).unwrap_err();
    assert!(wrong_usage(e, Usage::Webhook, Usage::PanToken));
    let e = store.tdes("bdk", Usage::PinVerificationPvv).unwrap_err();
    assert_eq!(
        e.to_string(),
        "key \"bdk\" has usage bdk, not pin_verification_pvv"
    );
    let e = store.bdk_aes("bdk").unwrap_err();
    assert!(matches!(e, KeystoreError::WrongAlgorithm { .. }), "{e}");
    let e = store.bdk_tdes("missing").unwrap_err();
    assert!(matches!(e, KeystoreError::NotFound { .. }), "{e}");
}

#[test]
fn an_existing_pan_token_secret_can_be_adopted() {
    let mut store = empty();
    let secret = paycrypto::HmacKey::from_bytes(&[7; 32]).unwrap();
    let kcv = secret.kcv().to_string();
    let (info, _) = store
        .adopt_hmac("pan-token", Usage::PanToken, secret, &mut rng(), NOW_MS)
        .unwrap();
    assert_eq!(info.kcv, kcv);
    assert_eq!(
        store
            .hmac("pan-token", Usage::PanToken)
            .unwrap()
            .expose_bytes(),
        &[7; 32]
    );
    let short = paycrypto::HmacKey::from_bytes(&[7; 16]).unwrap();
    assert!(
        store
            .adopt_hmac("short", Usage::Webhook, short, &mut rng(), NOW_MS)
            .is_err()
    );
    let bdk = paycrypto::HmacKey::from_bytes(&[7; 32]).unwrap();
    assert!(
        store
            .adopt_hmac("b", Usage::Bdk, bdk, &mut rng(), NOW_MS)
            .is_err()
    );
}
