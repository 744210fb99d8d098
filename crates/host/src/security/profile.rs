//! A terminal's security profile: which DUKPT keys it holds, whether its messages must
//! be MACed, and which transport it must arrive on (docs/terminal-security.md).

use crate::link::Transport;
use serde::{Deserialize, Serialize};

/// Meta key prefix under which profiles are stored (`terminal_security:<terminal id>`).
pub const PROFILE_META_PREFIX: &str = "terminal_security:";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dukpt {
    Tdes,
    Aes128,
    Aes256,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MacPolicy {
    #[default]
    Required,
    Optional,
    Off,
}

/// The message dialect a terminal speaks (docs/unionpay.md). Absent: whatever its
/// listener speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    /// posguard's generic ISO 8583 (the link's spec).
    Generic,
    /// UnionPay (银联): TPDU and header, sign-on keys under the terminal's TMK, the
    /// UnionPay MAC.
    Unionpay,
}

/// The weakest transport a terminal may use, in increasing strength.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportRule {
    #[default]
    Plain,
    Tls,
    Mtls,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(default)]
    pub dukpt: Option<Dukpt>,
    /// Keystore id of the BDK; required with `dukpt`.
    #[serde(default)]
    pub bdk: Option<String>,
    /// TDES: the initial KSN (20 hex, counter bits zero). AES: the initial key ID (16 hex).
    #[serde(default)]
    pub key_id: Option<String>,
    #[serde(default)]
    pub mac: MacPolicy,
    /// 64, or 128: where the terminal's MAC goes when its message has a secondary
    /// bitmap (the MAC is always the last field). Kept for the record; the gate reads
    /// the MAC from whichever of 64/128 is the message's last field.
    #[serde(default = "default_mac_field")]
    pub mac_field: u8,
    #[serde(default)]
    pub transport: TransportRule,
    /// A host-to-host link without DUKPT: keystore id of the zone PIN key its PIN
    /// blocks (field 52, ISO format 0/1/3) are under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_key: Option<String>,
    /// The dialect the terminal must speak; an auto listener (`link.profile = "auto"`)
    /// refuses it the other one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialect: Option<Dialect>,
    /// A UnionPay terminal's MAC (`ecb`, `ecb-3des`, `x9.19`, `x9.9`); absent: the
    /// listener's `link.unionpay_mac`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unionpay_mac: Option<String>,
}

fn default_mac_field() -> u8 {
    64
}

/// TDES KSN: 10 bytes, the rightmost 21 bits are the counter.
pub const TDES_KSN_HEX: usize = 20;
/// AES initial key ID: 8 bytes.
pub const AES_KEY_ID_HEX: usize = 16;
pub const TDES_COUNTER_MASK: u32 = 0x1F_FFFF;

impl Profile {
    /// Checks the profile is complete and its key id well-formed; returns the reason
    /// (API validation message) when not.
    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.mac_field, 64 | 128) {
            return Err("mac_field must be 64 or 128".into());
        }
        if self.dialect == Some(Dialect::Unionpay) {
            return self.validate_unionpay();
        }
        if self.unionpay_mac.is_some() {
            return Err("unionpay_mac is for terminals with dialect \"unionpay\"".into());
        }
        let Some(dukpt) = self.dukpt else {
            if self.mac == MacPolicy::Required {
                return Err("mac \"required\" needs dukpt keys".into());
            }
            return Ok(());
        };
        if self.pin_key.is_some() {
            return Err("pin_key is for links without dukpt (PINs under a zone key)".into());
        }
        let bdk = self.bdk.as_deref().unwrap_or_default();
        if bdk.is_empty() {
            return Err("bdk (a keystore id) is required with dukpt".into());
        }
        let key_id = self.key_id.as_deref().unwrap_or_default();
        let hex_len = match dukpt {
            Dukpt::Tdes => TDES_KSN_HEX,
            Dukpt::Aes128 | Dukpt::Aes256 => AES_KEY_ID_HEX,
        };
        if key_id.len() != hex_len || !key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("key_id must be {hex_len} hex digits"));
        }
        if dukpt == Dukpt::Tdes {
            let tail = u32::from_str_radix(&key_id[14..], 16).unwrap_or(u32::MAX);
            if tail & TDES_COUNTER_MASK != 0 {
                return Err("key_id is the initial KSN: its 21 counter bits must be zero".into());
            }
        }
        Ok(())
    }

    /// A UnionPay terminal's keys are its TMK and sign-on session keys (the MAC is always
    /// required): no DUKPT, no zone PIN key.
    fn validate_unionpay(&self) -> Result<(), String> {
        if self.dukpt.is_some() || self.pin_key.is_some() {
            return Err("a unionpay terminal has master/session keys, not dukpt or pin_key".into());
        }
        if self.mac == MacPolicy::Off || self.mac == MacPolicy::Optional {
            return Err("a unionpay terminal's MAC is required".into());
        }
        match self.unionpay_mac.as_deref() {
            None => Ok(()),
            Some(m) if crate::unionpay::mac_scheme(m).is_some() => Ok(()),
            Some(_) => Err("unionpay_mac must be ecb, ecb-3des, x9.19 or x9.9".into()),
        }
    }

    /// Whether a terminal with this profile may speak `dialect` (None: the profile
    /// does not say).
    pub fn speaks(&self, dialect: Dialect) -> bool {
        self.dialect.is_none_or(|d| d == dialect)
    }

    /// Whether a connection that arrived over `transport` may carry this terminal's
    /// messages (mutual TLS must name the terminal itself).
    pub fn admits(&self, transport: &Transport, terminal: &str) -> bool {
        match (self.transport, transport) {
            (TransportRule::Plain, _) => true,
            (TransportRule::Tls, Transport::Tls | Transport::MutualTls { .. }) => true,
            (TransportRule::Mtls, Transport::MutualTls { subject }) => subject == terminal,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tdes(key_id: &str) -> Profile {
        Profile {
            dukpt: Some(Dukpt::Tdes),
            bdk: Some("bdk".into()),
            key_id: Some(key_id.into()),
            mac: MacPolicy::Required,
            mac_field: 64,
            transport: TransportRule::Plain,
            pin_key: None,
            dialect: None,
            unionpay_mac: None,
        }
    }

    #[test]
    fn profiles_are_validated() {
        assert_eq!(tdes("FFFF9876543210E00000").validate(), Ok(()));
        assert!(
            tdes("FFFF9876543210E00001").validate().is_err(),
            "counter set"
        );
        assert!(tdes("FFFF9876543210E0000").validate().is_err(), "short");
        assert!(tdes("FFFF9876543210E0000G").validate().is_err(), "not hex");
        let mut no_bdk = tdes("FFFF9876543210E00000");
        no_bdk.bdk = None;
        assert!(no_bdk.validate().is_err());
        let plain: Profile = serde_json::from_str(r#"{"mac":"off"}"#).unwrap();
        assert_eq!(plain.validate(), Ok(()));
        let required_without_keys: Profile = serde_json::from_str("{}").unwrap();
        assert!(required_without_keys.validate().is_err());
        assert!(serde_json::from_str::<Profile>(r#"{"mac":"off","extra":1}"#).is_err());
        let up: Profile = serde_json::from_str(r#"{"dialect":"unionpay"}"#).unwrap();
        assert_eq!(up.validate(), Ok(()));
        assert!(up.speaks(Dialect::Unionpay) && !up.speaks(Dialect::Generic));
        assert!(plain.speaks(Dialect::Unionpay) && plain.speaks(Dialect::Generic));
        let mac: Profile =
            serde_json::from_str(r#"{"dialect":"unionpay","unionpay_mac":"x9.19"}"#).unwrap();
        assert_eq!(mac.validate(), Ok(()));
        for bad in [
            r#"{"dialect":"unionpay","unionpay_mac":"md5"}"#,
            r#"{"dialect":"unionpay","mac":"off"}"#,
            r#"{"unionpay_mac":"ecb","mac":"off"}"#,
            r#"{"dialect":"unionpay","pin_key":"zpk"}"#,
        ] {
            let p: Profile = serde_json::from_str(bad).unwrap();
            assert!(p.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn transport_rules_admit_only_strong_enough_connections() {
        let mut p = tdes("FFFF9876543210E00000");
        let mtls = |s: &str| Transport::MutualTls { subject: s.into() };
        assert!(p.admits(&Transport::Plain, "T1"));
        p.transport = TransportRule::Tls;
        assert!(!p.admits(&Transport::Plain, "T1"));
        assert!(p.admits(&Transport::Tls, "T1"));
        assert!(p.admits(&mtls("other"), "T1"));
        p.transport = TransportRule::Mtls;
        assert!(!p.admits(&Transport::Tls, "T1"));
        assert!(!p.admits(&mtls("T2"), "T1"));
        assert!(p.admits(&mtls("T1"), "T1"));
    }
}
