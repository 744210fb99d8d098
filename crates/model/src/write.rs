use crate::TimestampMs;
use crate::entry::Entry;
use crate::parties::{Card, Merchant, Terminal, TerminalId};
use crate::risk::{Alert, Case, CaseEvent, FraudLabel, RiskDecision, TxnContext};
use crate::txn::{TxnId, TxnRecord, TxnUpdate};
use serde::{Deserialize, Serialize};

/// A terminal's closed settlement batch (0500), with both sides' totals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    pub id: u64,
    /// The 0500's exactly-once key, so a repeated settlement gets the same answer.
    pub idem_key: String,
    pub terminal_id: TerminalId,
    pub closed_ms: TimestampMs,
    /// Transactions with ids up to and including this one belong to closed batches.
    /// An unbalanced settlement carries the previous value forward: its batch stays open.
    pub upto_txn_id: TxnId,
    pub host_debit_count: i64,
    pub host_debit_minor: i64,
    pub host_credit_count: i64,
    pub host_credit_minor: i64,
    pub terminal_debit_count: i64,
    pub terminal_debit_minor: i64,
    pub terminal_credit_count: i64,
    pub terminal_credit_minor: i64,
    pub balanced: bool,
}

/// A bearer token for the HTTP API. Only its SHA-256 is ever stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: String,
    pub sha256_hex: String,
    pub role: String,
    pub created_ms: TimestampMs,
}

/// One change the engine asks the store to make durable. A batch of writes is
/// committed atomically, in order, before any of its answers leave the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Write {
    Merchant(Merchant),
    Terminal(Terminal),
    Card(Card),
    Txn(TxnRecord),
    TxnUpdate(TxnUpdate),
    Entries(Vec<Entry>),
    Settlement(Settlement),
    ApiToken(ApiToken),
    /// Store bookkeeping (e.g. how far the journal has been applied); the engine never
    /// writes it.
    Meta {
        key: String,
        value: String,
    },
    /// The risk decision of a transaction (inserted once).
    Decision(Box<RiskDecision>),
    /// An alert (inserted once).
    Alert(Alert),
    /// A case's current state (inserted, then replaced as it moves).
    Case(Case),
    /// A step on a case (append-only).
    CaseEvent(CaseEvent),
    /// A fraud label on a transaction (append-only).
    Label(FraudLabel),
    /// A transaction's circumstances for risk features (inserted once). Last, so that
    /// journals written before it existed still decode (postcard numbers variants).
    TxnContext(TxnContext),
}

/// Everything the engine needs to resume after a restart, read back from the store.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub merchants: Vec<Merchant>,
    pub terminals: Vec<Terminal>,
    pub cards: Vec<Card>,
    /// Transactions in id order.
    pub txns: Vec<TxnRecord>,
    /// Sum of entries per (account text, currency code).
    pub balances: Vec<(String, u16, i64)>,
    /// The newest settlement of each terminal.
    pub settlements: Vec<Settlement>,
    pub last_entry_id: u64,
    pub last_settlement_id: u64,
    /// Risk control's state: the newest alert, case and case event ids, the cases
    /// still open (for grouping new alerts) and every fraud label (for the features).
    pub last_alert_id: u64,
    pub last_case_id: u64,
    pub last_case_event_id: u64,
    pub open_cases: Vec<Case>,
    pub labels: Vec<FraudLabel>,
    /// The transactions' contexts (entry mode, position, operator), in txn id order.
    pub txn_contexts: Vec<TxnContext>,
}
