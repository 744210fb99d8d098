//! The one table of key usages: which TR-31 header each posguard usage is stored under,
//! which algorithms it takes, and how it may come into the keystore.

use core::fmt;

use paycrypto::KeyUsage;
use serde::{Deserialize, Serialize};

/// What a stored key is for. A key is stored with exactly one usage and every accessor
/// names the usage it wants, so a PIN key cannot be handed to a MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Usage {
    /// DUKPT base derivation key of a terminal estate.
    Bdk,
    /// Key block protection key: unwraps TR-31 blocks at import.
    Kbpk,
    /// Visa PVV verification key.
    PinVerificationPvv,
    /// IBM 3624 PIN verification key.
    PinVerificationIbm3624,
    /// Zone PIN key shared with an acquirer or issuer (PIN translation).
    ZonePin,
    /// HMAC key that turns a PAN into its token.
    PanToken,
    /// Data encryption key (the vault).
    DataEncryption,
    /// Webhook signing secret.
    Webhook,
    /// UnionPay terminal master key (TMK): wraps the working keys a sign-on delivers.
    TerminalMaster,
    /// A UnionPay terminal's session PIN key (PIK), made at each sign-on.
    SessionPin,
    /// A UnionPay terminal's session MAC key (MAK).
    SessionMac,
    /// A UnionPay terminal's session track data key (TDK).
    SessionData,
}

/// The algorithm and length class of a stored key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Double- or triple-length TDES (16 or 24 bytes).
    Tdes,
    /// AES-128.
    Aes128,
    /// AES-192.
    Aes192,
    /// AES-256.
    Aes256,
    /// HMAC-SHA256 secret of [`HMAC_KEY_BYTES`].
    Hmac,
}

/// Length of the HMAC keys the host makes (SHA-256 block strength).
pub const HMAC_KEY_BYTES: usize = 32;
/// Length of a generated TDES key: double length, as PIN verification keys are.
pub const TDES_GENERATED_BYTES: usize = 16;

/// One row of the usage table.
struct Row {
    usage: Usage,
    /// TR-31 key usage code in the stored header.
    tr31_usage: &'static str,
    /// TR-31 mode of use in the stored header.
    mode: char,
    algorithms: &'static [Algorithm],
    /// The host makes these keys itself (`generate`); others come from custodians or
    /// partners (components, TR-31), and only their check values ever leave.
    host_made: bool,
    /// The paycrypto usage a caller binds the key to.
    bound: KeyUsage,
}

const fn row(
    usage: Usage,
    tr31_usage: &'static str,
    mode: char,
    algorithms: &'static [Algorithm],
    host_made: bool,
    bound: KeyUsage,
) -> Row {
    Row {
        usage,
        tr31_usage,
        mode,
        algorithms,
        host_made,
        bound,
    }
}

/// The table. Modes of use: X key derivation, B wrap/encrypt and unwrap/decrypt, C
/// compute and verify. Both HMAC usages are M7: the stored header also carries the
/// posguard usage in a proprietary optional block (`record.rs`), which tells them apart.
#[rustfmt::skip]
const TABLE: [Row; 12] = {
    use Algorithm::{Aes128, Aes192, Aes256, Hmac, Tdes};
    use KeyUsage as K;
    use Usage as U;
    const ANY: &[Algorithm] = &[Tdes, Aes128, Aes192, Aes256];
    const AES: &[Algorithm] = &[Aes128, Aes192, Aes256];
    const TDES: &[Algorithm] = &[Tdes];
    const HMAC: &[Algorithm] = &[Hmac];
    [
        //  usage                      TR-31 mode algorithms host-made paycrypto usage
        row(U::Bdk,                    "B0", 'X', ANY,  false, K::BaseDerivation),
        row(U::Kbpk,                   "K1", 'B', ANY,  false, K::KeyBlockProtection),
        row(U::PinVerificationPvv,     "V2", 'C', TDES, true,  K::PinVerificationVisaPvv),
        row(U::PinVerificationIbm3624, "V1", 'C', TDES, true,  K::PinVerificationIbm3624),
        row(U::ZonePin,                "P0", 'B', ANY,  false, K::PinEncryption),
        row(U::PanToken,               "M7", 'C', HMAC, true,  K::Mac),
        row(U::DataEncryption,         "D0", 'B', AES,  true,  K::Data),
        row(U::Webhook,                "M7", 'C', HMAC, true,  K::Mac),
        row(U::TerminalMaster,         "K0", 'B', TDES, false, K::KeyEncryption),
        row(U::SessionPin,             "P0", 'B', TDES, true,  K::PinEncryption),
        row(U::SessionMac,             "M0", 'C', TDES, true,  K::Mac),
        row(U::SessionData,            "D0", 'B', TDES, true,  K::Data),
    ]
};

impl Usage {
    /// Every usage, in table order.
    pub const ALL: [Usage; 12] = [
        Usage::Bdk,
        Usage::Kbpk,
        Usage::PinVerificationPvv,
        Usage::PinVerificationIbm3624,
        Usage::ZonePin,
        Usage::PanToken,
        Usage::DataEncryption,
        Usage::Webhook,
        Usage::TerminalMaster,
        Usage::SessionPin,
        Usage::SessionMac,
        Usage::SessionData,
    ];

    fn row(self) -> &'static Row {
        TABLE
            .iter()
            .find(|r| r.usage == self)
            .expect("every usage has a row in TABLE")
    }

    /// The name used in JSON and on the API (serde's snake_case of the variant).
    pub fn as_str(self) -> &'static str {
        match self {
            Usage::Bdk => "bdk",
            Usage::Kbpk => "kbpk",
            Usage::PinVerificationPvv => "pin_verification_pvv",
            Usage::PinVerificationIbm3624 => "pin_verification_ibm3624",
            Usage::ZonePin => "zone_pin",
            Usage::PanToken => "pan_token",
            Usage::DataEncryption => "data_encryption",
            Usage::Webhook => "webhook",
            Usage::TerminalMaster => "terminal_master",
            Usage::SessionPin => "session_pin",
            Usage::SessionMac => "session_mac",
            Usage::SessionData => "session_data",
        }
    }

    /// Parses an API name (`"bdk"`, `"zone_pin"`, ...).
    pub fn parse(name: &str) -> Option<Usage> {
        Usage::ALL.into_iter().find(|u| u.as_str() == name)
    }

    /// TR-31 key usage code and mode of use of the stored header.
    pub fn tr31(self) -> (&'static str, char) {
        let r = self.row();
        (r.tr31_usage, r.mode)
    }

    /// Whether posguard uses `algorithm` for this usage.
    pub fn takes(self, algorithm: Algorithm) -> bool {
        self.row().algorithms.contains(&algorithm)
    }

    /// Whether the host makes this key itself (`Keystore::generate`).
    pub fn host_made(self) -> bool {
        self.row().host_made
    }

    /// The paycrypto usage to bind an unwrapped key to (`paycrypto::Bound::new`).
    pub fn key_usage(self) -> KeyUsage {
        self.row().bound
    }

    /// The posguard usage of an imported TR-31 header's key usage code. M7 is refused:
    /// it is both `pan_token` and `webhook`, and the host makes those keys itself.
    /// Session keys are made at sign-on, never imported: P0 is a zone PIN key, D0 a
    /// data encryption key.
    pub fn from_tr31(key_usage: &str) -> Option<Usage> {
        let session = |u| {
            matches!(
                u,
                Usage::SessionPin | Usage::SessionMac | Usage::SessionData
            )
        };
        let mut rows = TABLE
            .iter()
            .filter(|r| r.tr31_usage == key_usage && !session(r.usage));
        let first = rows.next()?;
        rows.next().is_none().then_some(first.usage)
    }
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Algorithm {
    /// The name used in JSON and on the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Tdes => "tdes",
            Algorithm::Aes128 => "aes128",
            Algorithm::Aes192 => "aes192",
            Algorithm::Aes256 => "aes256",
            Algorithm::Hmac => "hmac",
        }
    }

    /// Parses an API name (`"tdes"`, `"aes128"`, ...).
    pub fn parse(name: &str) -> Option<Algorithm> {
        [
            Algorithm::Tdes,
            Algorithm::Aes128,
            Algorithm::Aes192,
            Algorithm::Aes256,
            Algorithm::Hmac,
        ]
        .into_iter()
        .find(|a| a.as_str() == name)
    }

    /// TR-31 algorithm character.
    pub fn tr31(self) -> char {
        match self {
            Algorithm::Tdes => 'T',
            Algorithm::Aes128 | Algorithm::Aes192 | Algorithm::Aes256 => 'A',
            Algorithm::Hmac => 'H',
        }
    }

    /// Whether a key of `len` bytes is of this algorithm.
    pub fn fits(self, len: usize) -> bool {
        match self {
            Algorithm::Tdes => len == 16 || len == 24,
            Algorithm::Aes128 => len == 16,
            Algorithm::Aes192 => len == 24,
            Algorithm::Aes256 => len == 32,
            Algorithm::Hmac => len == HMAC_KEY_BYTES,
        }
    }

    /// The algorithm of a TR-31 header's algorithm character and a key length, when
    /// posguard stores such keys (TDES or AES; HMAC keys are host-made).
    pub fn from_tr31(algorithm: char, len: usize) -> Option<Algorithm> {
        let candidates: &[Algorithm] = match algorithm {
            'T' => &[Algorithm::Tdes],
            'A' => &[Algorithm::Aes128, Algorithm::Aes192, Algorithm::Aes256],
            _ => &[],
        };
        candidates.iter().copied().find(|a| a.fits(len))
    }

    /// Length of a key the host generates.
    pub fn generated_len(self) -> usize {
        match self {
            Algorithm::Tdes => TDES_GENERATED_BYTES,
            Algorithm::Aes128 => 16,
            Algorithm::Aes192 => 24,
            Algorithm::Aes256 => 32,
            Algorithm::Hmac => HMAC_KEY_BYTES,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_one_row_per_usage_and_names_round_trip() {
        for u in Usage::ALL {
            assert_eq!(TABLE.iter().filter(|r| r.usage == u).count(), 1, "{u}");
            assert_eq!(Usage::parse(u.as_str()), Some(u));
            let json = serde_json::to_string(&u).unwrap();
            assert_eq!(json, format!("\"{}\"", u.as_str()));
        }
    }

    #[test]
    fn tr31_mapping_refuses_ambiguous_and_unknown_codes() {
        assert_eq!(Usage::from_tr31("B0"), Some(Usage::Bdk));
        assert_eq!(Usage::from_tr31("P0"), Some(Usage::ZonePin));
        assert_eq!(Usage::from_tr31("M7"), None);
        assert_eq!(Usage::from_tr31("C0"), None);
        assert_eq!(Algorithm::from_tr31('A', 24), Some(Algorithm::Aes192));
        assert_eq!(Algorithm::from_tr31('T', 8), None);
        assert_eq!(Algorithm::from_tr31('H', 32), None);
    }
}
