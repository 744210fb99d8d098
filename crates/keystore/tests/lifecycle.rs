//! A keystore's life across starts: persisted pairs reopen to the same keys, altered
//! records and a wrong KEK stop the start with a clear message, rotation re-wraps
//! everything, and nothing secret shows in `Debug`.

mod common;

use common::*;
use keystore::{Algorithm, KEK_KCV_META_KEY, KeyInfo, KeyRecord, Keystore, KeystoreError, Usage};

/// A keystore with one key of each way in, and the meta table its writes produced.
fn populated() -> (Keystore, Meta) {
    let mut meta = Meta::default();
    let mut store = meta.open(KEK_A).unwrap();
    meta.commit(vec![
        store.kek_kcv_write().expect("first start records the KEK"),
    ]);
    let mut rng = rng();
    import_split(
        &mut store,
        &mut meta,
        "bdk-tdes",
        Usage::Bdk,
        Algorithm::Tdes,
        DEMO_BDK,
    );
    let aes_bdk = "FEDCBA9876543210F1F1F1F1F1F1F1F1";
    import_split(
        &mut store,
        &mut meta,
        "bdk-aes",
        Usage::Bdk,
        Algorithm::Aes128,
        aes_bdk,
    );
    let kbpk = "DD7515F2BFC17F85CE48F3CA25CB21F6"; // TR-31:2018 A.7.2.2
    import_split(
        &mut store,
        &mut meta,
        "kbpk",
        Usage::Kbpk,
        Algorithm::Tdes,
        kbpk,
    );
    let block = "B0080P0TE00E000094B420079CC80BA3461F86FE26EFC4A3B8E4FA4C5F5341176EED7B727B8A248E";
    let (_, w) = store
        .import_tr31("zpk", block, "kbpk", &mut rng, NOW_MS)
        .unwrap();
    meta.commit(w);
    for (id, usage, algorithm) in [
        ("pvv", Usage::PinVerificationPvv, Algorithm::Tdes),
        ("token", Usage::PanToken, Algorithm::Hmac),
        ("vault", Usage::DataEncryption, Algorithm::Aes256),
        ("hook", Usage::Webhook, Algorithm::Hmac),
    ] {
        let (_, w) = store
            .generate(id, usage, algorithm, &mut rng, NOW_MS + 1)
            .unwrap();
        meta.commit(w);
    }
    (store, meta)
}

/// Every key's bytes, via the accessor for its usage and algorithm.
fn clear_keys(store: &Keystore) -> Vec<(String, Vec<u8>)> {
    store
        .list()
        .into_iter()
        .map(
            |KeyInfo {
                 id,
                 usage,
                 algorithm,
                 ..
             }| {
                let bytes = match algorithm {
                    Algorithm::Tdes => store.tdes(&id, usage).unwrap().expose_bytes().to_vec(),
                    Algorithm::Hmac => store.hmac(&id, usage).unwrap().expose_bytes().to_vec(),
                    _ => store.aes(&id, usage).unwrap().expose_bytes().to_vec(),
                };
                (id, bytes)
            },
        )
        .collect()
}

#[test]
fn reopening_from_persisted_pairs_gives_the_same_keys() {
    let (store, meta) = populated();
    let reopened = meta.open(KEK_A).unwrap();
    assert_eq!(reopened.list(), store.list());
    assert_eq!(clear_keys(&reopened), clear_keys(&store));
    assert_eq!(
        reopened.kek_kcv_write(),
        None,
        "the KEK's KCV is already stored"
    );
    assert_eq!(reopened.info("bdk-tdes").unwrap().kcv, DEMO_BDK_KCV);
    // Unrelated meta keys are ignored; records never hold a key in clear.
    let mut with_other = meta.clone();
    with_other
        .0
        .insert("terminal_security:T1".into(), "{}".into());
    assert_eq!(with_other.open(KEK_A).unwrap().len(), store.len());
    for (_, json) in meta.pairs() {
        assert!(!json.contains(DEMO_BDK), "{json}");
    }
}

/// Edits one record's JSON (or the record set) and returns the expected refusal.
type Mutation = fn(&mut Meta) -> &'static str;

fn edit(meta: &mut Meta, id: &str, f: impl FnOnce(&mut KeyRecord)) {
    let key = format!("key:{id}");
    let mut record: KeyRecord = serde_json::from_str(&meta.0[&key]).unwrap();
    f(&mut record);
    meta.0.insert(key, serde_json::to_string(&record).unwrap());
}

const MUTATIONS: &[(&str, Mutation)] = &[
    ("flip a block character", |m| {
        edit(m, "pvv", |r| {
            let i = r.block.len() - 40;
            let c = if &r.block[i..=i] == "0" { "1" } else { "0" };
            r.block.replace_range(i..=i, c);
        });
        "its key block does not unwrap"
    }),
    ("usage changed in the JSON", |m| {
        edit(m, "pvv", |r| r.usage = Usage::ZonePin);
        "differs from its key block"
    }),
    ("webhook relabelled as the PAN token key", |m| {
        edit(m, "hook", |r| r.usage = Usage::PanToken);
        "differs from its key block"
    }),
    ("algorithm changed", |m| {
        // Both are 'A' in the header; the unwrapped key's length gives it away.
        edit(m, "vault", |r| r.algorithm = Algorithm::Aes128);
        "key length does not fit its algorithm"
    }),
    ("creation time changed", |m| {
        edit(m, "pvv", |r| r.created_ms += 1);
        "differs from its key block"
    }),
    ("check value changed", |m| {
        edit(m, "bdk-tdes", |r| r.kcv = "000000".into());
        "check value differs"
    }),
    ("block moved to another record", |m| {
        let token: KeyRecord = serde_json::from_str(&m.0["key:token"]).unwrap();
        edit(m, "hook", |r| r.block = token.block);
        "differs from its key block"
    }),
    ("record renamed", |m| {
        let json =
            m.0.remove("key:pvv")
                .unwrap()
                .replace("\"pvv\"", "\"pvv2\"");
        m.0.insert("key:pvv2".into(), json);
        "differs from its key block"
    }),
    ("meta key differs from id", |m| {
        let json = m.0.remove("key:pvv").unwrap();
        m.0.insert("key:pvv3".into(), json);
        "id differs from its meta key"
    }),
    ("unknown field", |m| {
        let json = m.0["key:pvv"].replacen('{', "{\"clear\":\"00\",", 1);
        m.0.insert("key:pvv".into(), json);
        "unknown field"
    }),
];

#[test]
fn an_altered_record_stops_the_start() {
    let (_, meta) = populated();
    for (name, mutate) in MUTATIONS {
        let mut altered = meta.clone();
        let fragment = mutate(&mut altered);
        let e = altered.open(KEK_A).unwrap_err();
        assert!(e.to_string().contains(fragment), "{name}: {e}");
    }
}

fn mismatch(e: KeystoreError) -> (String, String) {
    match e {
        KeystoreError::KekMismatch { given, stored } => (given, stored),
        other => panic!("expected a KEK mismatch, got {other}"),
    }
}

#[test]
fn a_different_kek_is_refused_with_both_check_values() {
    let (store, meta) = populated();
    let kcv_a = store.kek_kcv().to_string();
    let kcv_b = kek(KEK_B).kcv().to_string();
    let e = meta.open(KEK_B).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("is not the one that wrapped the keys"),
        "{text}"
    );
    assert_eq!(mismatch(e), (kcv_b.clone(), kcv_a.clone()));
    // Also before any key exists: the recorded KEK check value is enough.
    let mut fresh = Meta::default();
    let kek_record = meta.0[KEK_KCV_META_KEY].clone();
    fresh.commit(vec![(KEK_KCV_META_KEY.to_owned(), kek_record)]);
    assert_eq!(mismatch(fresh.open(KEK_B).unwrap_err()), (kcv_b, kcv_a));
}

#[test]
fn rotation_rewraps_every_key_under_the_new_kek() {
    let (store, mut meta) = populated();
    let before = clear_keys(&store);
    let (rotated, writes) = store.rotate_kek(kek(KEK_B), &mut rng()).unwrap();
    // One write per key plus the KEK check value, for one atomic batch.
    assert_eq!(writes.len(), store.len() + 1);
    assert!(writes.iter().any(|(k, _)| k == KEK_KCV_META_KEY));
    // The old keystore still serves until the caller swaps.
    assert_eq!(clear_keys(&store), before);
    let old_meta = meta.clone();
    meta.commit(writes);

    let reopened = meta.open(KEK_B).unwrap();
    assert_eq!(
        reopened.list(),
        store.list(),
        "same ids, usages, KCVs and times"
    );
    assert_eq!(clear_keys(&reopened), before);
    assert_eq!(clear_keys(&rotated), before);
    assert_eq!(rotated.kek_kcv(), kek(KEK_B).kcv());
    for (key, json) in meta.pairs().iter().filter(|(k, _)| k.starts_with("key:")) {
        assert_ne!(Some(json), old_meta.0.get(key), "{key} was re-wrapped");
    }

    let kcv_a = kek(KEK_A).kcv().to_string();
    let kcv_b = kek(KEK_B).kcv().to_string();
    assert_eq!(
        mismatch(meta.open(KEK_A).unwrap_err()),
        (kcv_a.clone(), kcv_b.clone())
    );
    // Old records without the KEK record still say which KEK they need.
    let mut old_records = old_meta.clone();
    old_records.0.remove(KEK_KCV_META_KEY);
    assert_eq!(
        mismatch(old_records.open(KEK_B).unwrap_err()),
        (kcv_b, kcv_a)
    );

    let e = rotated.rotate_kek(kek(KEK_B), &mut rng()).unwrap_err();
    assert!(matches!(e, KeystoreError::SameKek { .. }), "{e}");
}

#[test]
fn debug_shows_check_values_never_key_bytes() {
    let (store, _) = populated();
    let k = kek(KEK_A);
    let shown = format!("{k:?} {store:?} {:?}", store.list());
    for secret in [
        KEK_A,
        &KEK_A.to_lowercase(),
        DEMO_BDK,
        &DEMO_BDK.to_lowercase(),
        "0, 1, 2, 3",
    ] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(shown.contains(&k.kcv().to_string()), "{shown}");
    let bdk = store.bdk_tdes("bdk-tdes").unwrap();
    let shown = format!("{bdk:?}");
    assert!(
        !shown.contains("0123456789") && shown.contains(DEMO_BDK_KCV),
        "{shown}"
    );
}

#[test]
fn too_many_stored_records_are_refused() {
    let mut meta = Meta::default();
    for i in 0..=keystore::KEYS_MAX {
        meta.0.insert(format!("key:k{i}"), "{}".into());
    }
    let e = meta.open(KEK_A).unwrap_err();
    assert!(matches!(e, KeystoreError::TooManyKeys { .. }), "{e}");
}
