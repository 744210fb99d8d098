//! What risk control stores (issue 4): the decision every scored transaction got, the
//! alerts it raised, the cases alerts group into (with every step taken on them), and
//! the fraud labels closed cases give transactions.

use crate::TimestampMs;
use crate::txn::TxnId;
use serde::{Deserialize, Serialize};

/// One rule that fired (or failed), as stored with a decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleHit {
    pub rule_id: String,
    pub version: u32,
    /// `low`, `medium`, `high`, `critical`.
    pub severity: String,
    /// Score contribution (0 for a failure).
    pub score: u16,
    /// For a rule that could not run: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the terminal said about a transaction's circumstances that the transaction
/// record does not keep: how the card was read, where a mobile terminal was, who was at
/// the till. Risk features need them when history is replayed after a restart; only
/// transactions with at least one of them have a context (inserted once).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnContext {
    pub txn_id: TxnId,
    /// POS entry mode as sent (ISO 8583 field 22, e.g. `801` fallback to magstripe).
    pub entry_mode: Option<String>,
    /// Microdegrees of latitude and longitude.
    pub location: Option<(i32, i32)>,
    /// The operator (cashier) logged in on the terminal.
    pub operator: Option<String>,
}

impl TxnContext {
    /// Whether there is anything to keep.
    pub fn is_empty(&self) -> bool {
        self.entry_mode.is_none() && self.location.is_none() && self.operator.is_none()
    }
}

/// The risk decision of one transaction, stored with it (one per transaction).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskDecision {
    pub txn_id: TxnId,
    /// 0..=1000.
    pub score: u16,
    /// `approve`, `review` or `decline`.
    pub action: String,
    /// Field 39 the decision imposed (declines only).
    pub response_code: Option<String>,
    /// Active rules that fired, in rule-set order.
    pub reasons: Vec<RuleHit>,
    /// Shadow rules that fired (no effect).
    pub shadow_hits: Vec<RuleHit>,
    /// Rules that failed at run time.
    pub errors: Vec<RuleHit>,
    pub tags: Vec<String>,
    pub rule_set_version: u64,
    /// The risk engine itself failed; `action` is the configured fail-open or
    /// fail-closed outcome.
    pub engine_failed: bool,
    pub decided_ms: TimestampMs,
}

/// An alert raised by a decision (review, decline, or a high-severity hit).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub id: u64,
    pub created_ms: TimestampMs,
    pub txn_id: TxnId,
    pub severity: String,
    pub score: u16,
    pub action: String,
    /// Ids of the rules that fired.
    pub rules: Vec<String>,
    pub card_token: Option<String>,
    pub terminal_id: String,
    pub merchant_id: String,
    /// The case it was grouped into.
    pub case_id: u64,
}

/// A case: related alerts about one entity, worked by a risk officer. Its state is
/// replaced as it moves (upsert by id); every step is also a `CaseEvent`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub id: u64,
    /// `card`, `terminal` or `merchant`.
    pub entity_kind: String,
    pub entity_id: String,
    /// `open`, `escalated` or `closed`.
    pub status: String,
    pub severity: String,
    pub assignee: Option<String>,
    /// When closed: `fraud` or `not_fraud`.
    pub outcome: Option<String>,
    pub alert_count: u32,
    pub opened_ms: TimestampMs,
    pub updated_ms: TimestampMs,
}

/// One step on a case, with who and when (append-only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseEvent {
    pub id: u64,
    pub case_id: u64,
    pub at_ms: TimestampMs,
    /// Who took the step (an API token's id, or `posguard` for automatic steps).
    pub actor: String,
    /// `opened`, `assigned`, `commented`, `escalated`, `closed`.
    pub action: String,
    pub detail: String,
}

/// A fraud label on a transaction (append-only; the newest per transaction counts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FraudLabel {
    pub txn_id: TxnId,
    pub fraud: bool,
    pub at_ms: TimestampMs,
    /// Where it came from: `case:<id>`, `chargeback`, `import`.
    pub source: String,
}
