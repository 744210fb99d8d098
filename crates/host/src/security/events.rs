//! Security events: a terminal that is not who it says, a message that was tampered
//! with, a PIN block that is not one. Logged, counted (bounded labels) and recorded
//! durably without card data.

use model::ResponseCode;
use serde::{Deserialize, Serialize};

/// Meta key prefix of a recorded event: `security_event:<ms, 13 digits>:<seq, 10 digits>`
/// (so keys sort by time).
pub const EVENT_META_PREFIX: &str = "security_event:";
/// Most events `GET /v1/security-events` returns (the newest).
pub const EVENTS_LISTED_MAX: usize = 1_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    UnknownTerminal,
    KsnKeyIdMismatch,
    KsnMissing,
    TransportRefused,
    MacInvalid,
    MacMissing,
    KsnCounterInvalid,
    PinBlockInvalid,
    /// The terminal's BDK is not in the keystore (a provisioning error, not an attack,
    /// but the terminal cannot be trusted until it is fixed).
    KeyUnavailable,
    /// A terminal spoke another dialect than its profile's `dialect` (a generic message
    /// from a UnionPay terminal, or the reverse).
    DialectRefused,
    /// A UnionPay batch upload (0320) named a transaction the host does not hold as
    /// approved with that amount (a reconciliation finding, recorded with the others).
    BatchUploadMismatch,
}

pub const EVENT_KINDS: [EventKind; 11] = [
    EventKind::UnknownTerminal,
    EventKind::KsnKeyIdMismatch,
    EventKind::KsnMissing,
    EventKind::TransportRefused,
    EventKind::MacInvalid,
    EventKind::MacMissing,
    EventKind::KsnCounterInvalid,
    EventKind::PinBlockInvalid,
    EventKind::KeyUnavailable,
    EventKind::DialectRefused,
    EventKind::BatchUploadMismatch,
];

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::UnknownTerminal => "unknown_terminal",
            EventKind::KsnKeyIdMismatch => "ksn_key_id_mismatch",
            EventKind::KsnMissing => "ksn_missing",
            EventKind::TransportRefused => "transport_refused",
            EventKind::MacInvalid => "mac_invalid",
            EventKind::MacMissing => "mac_missing",
            EventKind::KsnCounterInvalid => "ksn_counter_invalid",
            EventKind::PinBlockInvalid => "pin_block_invalid",
            EventKind::KeyUnavailable => "key_unavailable",
            EventKind::DialectRefused => "dialect_refused",
            EventKind::BatchUploadMismatch => "batch_upload_mismatch",
        }
    }

    /// Field 39 of the answer (docs/terminal-security.md): 58 when the terminal is not
    /// the one it claims, 63 when the message cannot be trusted, 55 for a bad PIN block.
    pub fn response_code(self) -> ResponseCode {
        match self {
            EventKind::UnknownTerminal
            | EventKind::KsnKeyIdMismatch
            | EventKind::KsnMissing
            | EventKind::TransportRefused
            | EventKind::DialectRefused => ResponseCode::NotPermittedToTerminal,
            EventKind::MacInvalid
            | EventKind::MacMissing
            | EventKind::KsnCounterInvalid
            | EventKind::KeyUnavailable => ResponseCode::SecurityViolation,
            EventKind::PinBlockInvalid => ResponseCode::IncorrectPin,
            EventKind::BatchUploadMismatch => ResponseCode::ReconcileError,
        }
    }

    pub fn index(self) -> usize {
        EVENT_KINDS
            .iter()
            .position(|k| *k == self)
            .expect("every kind is listed")
    }
}

/// One recorded event. No PAN, PIN block, MAC or key: the terminal id it claimed, the
/// KSN it sent (public by design), what it asked and how it connected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityEvent {
    pub kind: String,
    pub terminal: String,
    pub mti: String,
    pub stan: Option<String>,
    pub ksn: Option<String>,
    pub transport: String,
    pub peer: Option<String>,
    pub at_ms: i64,
}

pub fn meta_key(at_ms: i64, seq: u64) -> String {
    format!("{EVENT_META_PREFIX}{at_ms:013}:{seq:010}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_distinct_label_and_its_documented_code() {
        let mut labels: Vec<_> = EVENT_KINDS.iter().map(|k| k.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), EVENT_KINDS.len());
        for (i, k) in EVENT_KINDS.iter().enumerate() {
            assert_eq!(k.index(), i);
        }
        assert_eq!(EventKind::MacInvalid.response_code().iso(), "63");
        assert_eq!(EventKind::KsnKeyIdMismatch.response_code().iso(), "58");
        assert_eq!(EventKind::PinBlockInvalid.response_code().iso(), "55");
        assert!(meta_key(1, 2) < meta_key(10, 1), "keys sort by time");
    }
}
