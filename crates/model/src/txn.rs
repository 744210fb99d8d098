use crate::TimestampMs;
use crate::money::Currency;
use crate::pan::MaskedPan;
use crate::parties::{CardToken, MerchantId, TerminalId};
use crate::response::ResponseCode;
use serde::{Deserialize, Serialize};
use std::fmt;

/// posguard's own transaction number. The retrieval reference number (field 37) a
/// terminal gets back is this number, zero-padded to 12 digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TxnId(pub u64);

impl TxnId {
    pub fn rrn(self) -> String {
        format!("{:012}", self.0)
    }

    pub fn from_rrn(rrn: &str) -> Option<TxnId> {
        let rrn = rrn.trim();
        if rrn.is_empty() || !rrn.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        rrn.parse().ok().map(TxnId)
    }
}

impl fmt::Display for TxnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxnKind {
    Purchase,
    PreAuth,
    Completion,
    Refund,
    Void,
    Balance,
    Reversal,
}

impl TxnKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TxnKind::Purchase => "purchase",
            TxnKind::PreAuth => "pre_auth",
            TxnKind::Completion => "completion",
            TxnKind::Refund => "refund",
            TxnKind::Void => "void",
            TxnKind::Balance => "balance",
            TxnKind::Reversal => "reversal",
        }
    }

    pub fn parse(text: &str) -> Option<TxnKind> {
        ALL_KINDS.iter().copied().find(|k| k.as_str() == text)
    }
}

const ALL_KINDS: [TxnKind; 7] = [
    TxnKind::Purchase,
    TxnKind::PreAuth,
    TxnKind::Completion,
    TxnKind::Refund,
    TxnKind::Void,
    TxnKind::Balance,
    TxnKind::Reversal,
];

/// Where a transaction stands. Only the status of an original changes later (when it
/// is reversed, voided or completed); its ledger entries never do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxnStatus {
    Approved,
    Declined,
    Reversed,
    Voided,
    Completed,
    /// A reversal or advice that was acknowledged but moved no money.
    Acknowledged,
}

impl TxnStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TxnStatus::Approved => "approved",
            TxnStatus::Declined => "declined",
            TxnStatus::Reversed => "reversed",
            TxnStatus::Voided => "voided",
            TxnStatus::Completed => "completed",
            TxnStatus::Acknowledged => "acknowledged",
        }
    }

    pub fn parse(text: &str) -> Option<TxnStatus> {
        [
            TxnStatus::Approved,
            TxnStatus::Declined,
            TxnStatus::Reversed,
            TxnStatus::Voided,
            TxnStatus::Completed,
            TxnStatus::Acknowledged,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// What makes two requests "the same" for exactly-once processing.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IdemKey {
    /// Terminal id, STAN (field 11) and transmission date and time (field 7). Reversals
    /// have a key space of their own: a reversal often repeats its original's STAN and
    /// field 7, and must not collide with it.
    Iso {
        reversal: bool,
        terminal: TerminalId,
        stan: String,
        transmitted: String,
    },
    /// The HTTP API's Idempotency-Key header, scoped to the terminal it names.
    Api { terminal: TerminalId, key: String },
}

impl fmt::Display for IdemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdemKey::Iso {
                reversal,
                terminal,
                stan,
                transmitted,
            } => {
                let space = if *reversal { "rev" } else { "txn" };
                write!(f, "{space}:{terminal}:{stan}:{transmitted}")
            }
            IdemKey::Api { terminal, key } => write!(f, "api:{terminal}:{key}"),
        }
    }
}

/// One transaction as stored: the request's facts, the answer given and its state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnRecord {
    pub id: TxnId,
    /// `IdemKey` in its text form; unique.
    pub idem_key: String,
    pub created_ms: TimestampMs,
    pub mti: String,
    pub kind: TxnKind,
    /// An offline advice (0220) the terminal already completed.
    pub offline: bool,
    pub terminal_id: TerminalId,
    pub merchant_id: MerchantId,
    pub stan: String,
    pub transmitted: String,
    pub card_token: Option<CardToken>,
    pub masked_pan: Option<MaskedPan>,
    pub amount_minor: i64,
    pub currency: Currency,
    pub response_code: ResponseCode,
    pub auth_code: Option<String>,
    pub status: TxnStatus,
    pub original_id: Option<TxnId>,
    /// For a reversal whose original had not arrived: the original's key, so that the
    /// original is declined if it arrives late.
    pub original_key: Option<String>,
    pub fee_minor: i64,
    /// Sum of approved refunds against this capture.
    pub refunded_minor: i64,
    /// Available balance reported to the terminal (balance inquiries), minor units.
    pub balance_minor: Option<i64>,
    /// Approved by posguard standing in for an unreachable upstream issuer.
    pub stand_in: bool,
    /// Decided by the upstream issuer; money moves through the network account.
    pub upstream: bool,
    /// Short machine-readable reason behind the response, e.g. "daily_limit".
    pub reason: String,
}

/// The fields of an original that change when a later message acts on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnUpdate {
    pub id: TxnId,
    pub status: TxnStatus,
    pub refunded_minor: i64,
}
