//! The name in a client certificate: its subject common name, else its first DNS name
//! (subjectAltName dNSName). A minimal DER walk over a certificate rustls has already
//! verified: it reads only the parts it needs, never indexes unchecked, and answers None
//! for anything it does not understand, whatever the bytes.

/// Certificates larger than this are not read (a terminal's is about 1 KiB).
pub const CERT_DER_MAX_BYTES: usize = 16 * 1024;

/// Longest name returned (a DNS name is at most 253 bytes; terminal ids are 8).
pub const SUBJECT_MAX_BYTES: usize = 255;

/// DER length octets after the first beyond which a length is refused (4: 4 GiB).
const LENGTH_OCTETS_MAX: usize = 4;

const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const BOOLEAN: u8 = 0x01;
const UTF8_STRING: u8 = 0x0c;
const PRINTABLE_STRING: u8 = 0x13;
const IA5_STRING: u8 = 0x16;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
/// TBSCertificate's `[0] EXPLICIT Version` and `[3] EXPLICIT Extensions`.
const VERSION: u8 = 0xa0;
const EXTENSIONS: u8 = 0xa3;
/// GeneralName's `[2] IMPLICIT IA5String` (dNSName).
const DNS_NAME: u8 = 0x82;

/// 2.5.4.3 (id-at-commonName) and 2.5.29.17 (id-ce-subjectAltName), contents only.
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

/// The certificate's subject common name if it has exactly one, else (no common name)
/// its first DNS name. None when neither is there or readable, or when the subject has
/// several common names (which one names the terminal would be a guess).
pub fn subject_name(cert_der: &[u8]) -> Option<String> {
    if cert_der.len() > CERT_DER_MAX_BYTES {
        return None;
    }
    let certificate = Der(cert_der).expect(SEQUENCE)?;
    let mut tbs = Der(Der(certificate).expect(SEQUENCE)?);
    let (mut tag, _) = tbs.next()?;
    if tag == VERSION {
        (tag, _) = tbs.next()?;
    }
    if tag != INTEGER {
        return None; // serialNumber
    }
    tbs.expect(SEQUENCE)?; // signature algorithm
    tbs.expect(SEQUENCE)?; // issuer
    tbs.expect(SEQUENCE)?; // validity
    let subject = tbs.expect(SEQUENCE)?;
    match common_name(subject)? {
        Some(name) => Some(name),
        None => {
            // subjectPublicKeyInfo, then the optional unique ids, then extensions.
            let extensions = std::iter::from_fn(|| tbs.next())
                .find(|(tag, _)| *tag == EXTENSIONS)?
                .1;
            first_dns_name(extensions)
        }
    }
}

/// Some(Some(cn)) for exactly one readable common name, Some(None) for none, None when
/// there are several or one is unreadable.
fn common_name(subject: &[u8]) -> Option<Option<String>> {
    let mut found = None;
    let mut rdns = Der(subject);
    while let Some((tag, rdn)) = rdns.next() {
        if tag != SET {
            return None;
        }
        let mut attributes = Der(rdn);
        while let Some((tag, attribute)) = attributes.next() {
            if tag != SEQUENCE {
                return None;
            }
            let mut attribute = Der(attribute);
            if attribute.expect(OID)? != OID_COMMON_NAME {
                continue;
            }
            if found.is_some() {
                return None;
            }
            let (tag, value) = attribute.next()?;
            found = Some(text(tag, value)?);
        }
    }
    Some(found)
}

/// The first dNSName of the subjectAltName extension in `[3] Extensions`.
fn first_dns_name(extensions: &[u8]) -> Option<String> {
    let mut list = Der(Der(extensions).expect(SEQUENCE)?);
    while let Some((tag, extension)) = list.next() {
        if tag != SEQUENCE {
            return None;
        }
        let mut extension = Der(extension);
        if extension.expect(OID)? != OID_SUBJECT_ALT_NAME {
            continue;
        }
        let (mut tag, mut value) = extension.next()?;
        if tag == BOOLEAN {
            (tag, value) = extension.next()?; // critical
        }
        if tag != OCTET_STRING {
            return None;
        }
        let mut names = Der(Der(value).expect(SEQUENCE)?);
        return std::iter::from_fn(|| names.next())
            .find(|(tag, _)| *tag == DNS_NAME)
            .and_then(|(_, name)| text(IA5_STRING, name));
    }
    None
}

/// A directory string as text: UTF8String, PrintableString or IA5String, not empty, at
/// most `SUBJECT_MAX_BYTES`, without control characters (it is logged and compared).
fn text(tag: u8, value: &[u8]) -> Option<String> {
    if value.is_empty() || value.len() > SUBJECT_MAX_BYTES {
        return None;
    }
    let s = std::str::from_utf8(value).ok()?;
    let ascii_only = matches!(tag, PRINTABLE_STRING | IA5_STRING);
    if !(ascii_only || tag == UTF8_STRING) || (ascii_only && !s.is_ascii()) {
        return None;
    }
    if s.chars().any(char::is_control) {
        return None;
    }
    Some(s.to_owned())
}

/// A cursor over DER: one tag-length-value at a time.
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    /// The next element's tag and contents; None at the end or on malformed input
    /// (high tag numbers, indefinite or oversized lengths, truncation).
    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.0.split_first()?;
        if tag & 0x1f == 0x1f {
            return None;
        }
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let octets = usize::from(first & 0x7f);
            if octets == 0 || octets > LENGTH_OCTETS_MAX {
                return None;
            }
            let (octets, rest) = rest.split_at_checked(octets)?;
            let len = octets.iter().try_fold(0usize, |len, b| {
                len.checked_mul(256)?.checked_add(usize::from(*b))
            })?;
            (len, rest)
        };
        let (contents, rest) = rest.split_at_checked(len)?;
        self.0 = rest;
        Some((tag, contents))
    }

    /// The next element's contents if it has `tag`.
    fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        let (found, contents) = self.next()?;
        (found == tag).then_some(contents)
    }
}

#[cfg(test)]
mod tests;
