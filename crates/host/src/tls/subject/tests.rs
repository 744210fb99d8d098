//! The name in a client certificate, on certificates made by rcgen and on hand-built DER
//! for the cases rcgen cannot make; and no bytes make it panic.

use super::subject_name;
use proptest::prelude::*;
use rcgen::{CertificateParams, DistinguishedName, DnType, Issuer, KeyPair};

/// A certificate signed by a throwaway CA, with `cn` (if any) and DNS names `sans`.
fn cert(cn: Option<&str>, sans: &[&str]) -> Vec<u8> {
    let ca_key = KeyPair::generate().expect("a CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.distinguished_name.push(DnType::CommonName, "test CA");
    let issuer = Issuer::new(ca, ca_key);
    let names: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(names).expect("params");
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "posguard tests");
    if let Some(cn) = cn {
        params.distinguished_name.push(DnType::CommonName, cn);
    }
    let key = KeyPair::generate().expect("a key");
    let cert = params.signed_by(&key, &issuer).expect("sign");
    cert.der().to_vec()
}

#[test]
fn the_common_name_names_the_terminal() {
    let der = cert(Some("TERM0001"), &[]);
    assert_eq!(subject_name(&der).as_deref(), Some("TERM0001"));
}

#[test]
fn the_common_name_wins_over_dns_names() {
    let der = cert(Some("TERM0001"), &["term0002.example"]);
    assert_eq!(subject_name(&der).as_deref(), Some("TERM0001"));
}

#[test]
fn without_a_common_name_the_first_dns_name_names_it() {
    let der = cert(None, &["term0002.example", "other.example"]);
    assert_eq!(subject_name(&der).as_deref(), Some("term0002.example"));
}

#[test]
fn without_any_name_there_is_none() {
    assert_eq!(subject_name(&cert(None, &["127.0.0.1"])), None);
    assert_eq!(subject_name(&cert(None, &[])), None);
}

#[test]
fn garbage_and_empty_input_have_no_name() {
    assert_eq!(subject_name(b""), None);
    assert_eq!(subject_name(b"not a certificate at all"), None);
    assert_eq!(subject_name(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
    assert_eq!(subject_name(&[0x30, 0x80, 0x00, 0x00]), None);
    assert_eq!(subject_name(&vec![0x30; 64 * 1024]), None);
}

/// DER tag-length-value (definite lengths, short or long form).
fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(contents);
    out
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// A certificate shell around `subject` (a Name) and optional extensions, enough for
/// the walk (no valid signature or key).
fn shell(subject: Vec<u8>, extensions: Option<Vec<u8>>) -> Vec<u8> {
    let alg = seq(&[tlv(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02])]);
    let mut tbs = vec![
        tlv(0xa0, &tlv(0x02, &[2])),
        tlv(0x02, &[1]),
        alg.clone(),
        seq(&[]),
        seq(&[tlv(0x17, b"250101000000Z"), tlv(0x17, b"350101000000Z")]),
        subject,
        seq(&[alg.clone(), tlv(0x03, &[0, 4, 1, 2])]),
    ];
    if let Some(ext) = extensions {
        tbs.push(tlv(0xa3, &seq(&[ext])));
    }
    seq(&[seq(&tbs), alg, tlv(0x03, &[0, 1])])
}

fn cn(tag: u8, value: &[u8]) -> Vec<u8> {
    tlv(
        0x31,
        &seq(&[tlv(0x06, &[0x55, 0x04, 0x03]), tlv(tag, value)]),
    )
}

fn san(critical: bool, names: &[Vec<u8>]) -> Vec<u8> {
    let mut ext = vec![tlv(0x06, &[0x55, 0x1d, 0x11])];
    if critical {
        ext.push(tlv(0x01, &[0xff]));
    }
    ext.push(tlv(0x04, &seq(names)));
    seq(&ext)
}

#[test]
fn hand_built_certificates() {
    let one = shell(seq(&[cn(0x13, b"TERM0001")]), None);
    assert_eq!(subject_name(&one).as_deref(), Some("TERM0001"));
    // Two common names: which one names the terminal would be a guess.
    let two = shell(seq(&[cn(0x0c, b"TERM0001"), cn(0x0c, b"TERM0002")]), None);
    assert_eq!(subject_name(&two), None);
    // A common name that cannot be read is not skipped in favour of a DNS name.
    let bmp = shell(
        seq(&[cn(0x1e, &[0, b'T', 0, b'1'])]),
        Some(san(false, &[tlv(0x82, b"term.example")])),
    );
    assert_eq!(subject_name(&bmp), None);
    let control = shell(seq(&[cn(0x0c, b"TERM\n0001")]), None);
    assert_eq!(subject_name(&control), None);
    let non_ascii = shell(seq(&[cn(0x13, "TÉRM".as_bytes())]), None);
    assert_eq!(subject_name(&non_ascii), None);
    let long = shell(seq(&[cn(0x0c, &[b'A'; 256])]), None);
    assert_eq!(subject_name(&long), None);
    // A critical subjectAltName; an IP address (tag 0x87) before the DNS name.
    let critical = shell(
        seq(&[]),
        Some(san(
            true,
            &[tlv(0x87, &[127, 0, 0, 1]), tlv(0x82, b"term.example")],
        )),
    );
    assert_eq!(subject_name(&critical).as_deref(), Some("term.example"));
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = subject_name(&bytes);
    }

    #[test]
    fn damaged_certificates_never_panic(
        cut in 0usize..2048,
        flips in proptest::collection::vec((0usize..2048, any::<u8>()), 1..8),
    ) {
        let mut der = shell(
            seq(&[cn(0x0c, b"TERM0001")]),
            Some(san(true, &[tlv(0x82, b"term.example")])),
        );
        for (at, byte) in flips {
            let at = at % der.len();
            der[at] = byte;
        }
        der.truncate(cut.min(der.len()));
        let _ = subject_name(&der);
    }
}
