//! posguard's domain vocabulary, shared by the engine, the store and the host.
//!
//! Architecture Invariant: this crate is plain data. It does no I/O, holds no
//! keys and knows nothing about ISO 8583 framing, SQL or HTTP.

mod entry;
mod money;
mod pan;
mod parties;
mod response;
mod risk;
pub mod time;
mod txn;
mod write;

pub use entry::{Account, Entry, PostingKind};
pub use money::{Currency, Money};
pub use pan::{MaskedPan, Pan, PanError, luhn_valid};
pub use parties::{
    Card, CardKind, CardStatus, CardToken, Merchant, MerchantId, Terminal, TerminalId,
    TerminalStatus,
};
pub use response::ResponseCode;
pub use risk::{Alert, Case, CaseEvent, FraudLabel, RiskDecision, RuleHit, TxnContext};
pub use txn::{IdemKey, TxnId, TxnKind, TxnRecord, TxnStatus, TxnUpdate};
pub use write::{ApiToken, Settlement, Snapshot, Write};

/// Milliseconds since the Unix epoch, UTC. The clock is an input: the core never reads it.
pub type TimestampMs = i64;
