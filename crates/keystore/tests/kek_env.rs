//! The KEK from an environment variable. One test in its own binary: setting a variable
//! is only sound while no other thread reads the environment.

use keystore::{Kek, KekSource, KeystoreError};

const KEK_HEX: &str = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F";

#[test]
fn the_kek_is_read_from_the_named_variable() {
    let var = format!("POSGUARD_KEK_TEST_{}", std::process::id());
    let source = KekSource::Env(var.clone());

    let e = Kek::load(&source).unwrap_err();
    assert!(matches!(e, KeystoreError::KekNotFound { .. }), "{e}");
    assert!(e.to_string().contains(&format!("{var} is not set")), "{e}");

    // SAFETY: this test binary runs this one test, so no other thread reads the
    // environment while it is changed.
    unsafe { std::env::set_var(&var, format!("{KEK_HEX}\n")) };
    let loaded = Kek::load(&source).unwrap();
    assert_eq!(loaded.kcv(), Kek::from_hex(KEK_HEX).unwrap().kcv());

    unsafe { std::env::set_var(&var, "not a key") };
    let e = Kek::load(&source).unwrap_err();
    assert!(matches!(e, KeystoreError::KekMalformed { .. }), "{e}");
    assert!(!e.to_string().contains("not a key"), "{e}");

    unsafe { std::env::remove_var(&var) };
}
