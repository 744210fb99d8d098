//! The KEK file loader: the demo's new file, permissions, malformed text, missing file.

mod common;

use std::path::PathBuf;

use common::*;
use keystore::{KEK_ENV_VAR, Kek, KekSource, KeystoreError};

/// A fresh directory under the system temp dir, unique to this process and test.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("keystore-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[cfg(unix)]
fn write_with_mode(path: &std::path::Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn the_demo_kek_file_is_private_and_loads_back() {
    let dir = temp_dir("demo");
    let path = dir.join("kek.hex");
    let made = Kek::write_new_file(&path, &mut rng()).unwrap();
    let loaded = Kek::load(&KekSource::File(path.clone())).unwrap();
    assert!(made.same_key(&loaded));
    assert_eq!(made.kcv(), loaded.kcv());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // Never overwritten: a second demo start must not replace the key its data needs.
    let e = Kek::write_new_file(&path, &mut rng()).unwrap_err();
    assert!(
        matches!(
            e,
            KeystoreError::KekIo {
                doing: "create",
                ..
            }
        ),
        "{e}"
    );
    assert!(Kek::load(&KekSource::File(path)).unwrap().same_key(&made));
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(unix)]
#[test]
fn a_kek_file_others_can_read_is_refused() {
    let dir = temp_dir("perm");
    let path = dir.join("kek.hex");
    for mode in [0o644, 0o640, 0o604, 0o620] {
        write_with_mode(&path, KEK_A, mode);
        let e = Kek::load(&KekSource::File(path.clone())).unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(e, KeystoreError::KekFilePermissions { .. }),
            "{mode:o}: {text}"
        );
        assert!(
            text.contains("chmod 600") && !text.contains(KEK_A),
            "{text}"
        );
    }
    write_with_mode(&path, KEK_A, 0o400);
    assert_eq!(
        Kek::load(&KekSource::File(path)).unwrap().kcv(),
        kek(KEK_A).kcv()
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(unix)]
#[test]
fn malformed_kek_files_are_refused_without_echoing_them() {
    let dir = temp_dir("malformed");
    let path = dir.join("kek.hex");
    let long = "A".repeat(4096);
    let cases = [
        ("trailing newline and spaces", format!("  {KEK_A}\n"), true),
        ("lower case", KEK_A.to_lowercase(), true),
        ("63 digits", KEK_A[..63].to_owned(), false),
        ("66 digits", format!("{KEK_A}00"), false),
        ("not hex", KEK_A.replacen('0', "G", 1), false),
        ("two keys", format!("{KEK_A}\n{KEK_B}\n"), false),
        ("empty", String::new(), false),
        ("oversized", long, false),
    ];
    for (name, text, ok) in cases {
        write_with_mode(&path, &text, 0o600);
        match Kek::load(&KekSource::File(path.clone())) {
            Ok(k) => assert!(ok && k.kcv() == kek(KEK_A).kcv(), "{name}"),
            Err(e) => {
                assert!(!ok, "{name}: {e}");
                assert!(
                    matches!(e, KeystoreError::KekMalformed { .. }),
                    "{name}: {e}"
                );
                let shown = format!("{e} {e:?}");
                assert!(
                    text.len() < 8 || !shown.contains(&text[..8]),
                    "{name}: {shown}"
                );
            }
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_missing_kek_says_what_to_provide() {
    let path = temp_dir("missing").join("absent.hex");
    let e = Kek::load(&KekSource::File(path.clone())).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, KeystoreError::KekNotFound { .. }), "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(
        text.contains(KEK_ENV_VAR) && text.contains("will not start"),
        "{text}"
    );
    assert!(text.contains("does not exist"), "{text}");
    // A directory is not a KEK file.
    let e = Kek::load(&KekSource::File(temp_dir("dir"))).unwrap_err();
    assert!(e.to_string().contains("not a regular file"), "{e}");
    for dir in [temp_dir("dir"), path.parent().unwrap().to_owned()] {
        std::fs::remove_dir_all(dir).unwrap();
    }
    assert_eq!(KekSource::default(), KekSource::Env("POSGUARD_KEK".into()));
}

#[test]
fn from_hex_refuses_bad_text_without_echoing_it() {
    for bad in [
        "",
        "00",
        &KEK_A[..62],
        &format!("{KEK_A}FF"),
        &KEK_A.replace('1', "Z"),
    ] {
        let e = Kek::from_hex(bad).unwrap_err();
        assert!(matches!(e, KeystoreError::KekMalformed { .. }), "{e}");
        assert!(
            bad.len() < 8 || !format!("{e} {e:?}").contains(&bad[..8]),
            "{e}"
        );
    }
    assert_eq!(kek(KEK_A).kcv(), kek(&KEK_A.to_lowercase()).kcv());
    assert!(!kek(KEK_A).same_key(&kek(KEK_B)));
}
