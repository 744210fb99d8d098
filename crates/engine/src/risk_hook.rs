//! Where risk control plugs into authorization. The engine stays pure: the host hands
//! it a [`RiskHook`] (itself pure: features, rules and decisions computed from what it
//! is told), and the engine asks it about every transaction it records, after the
//! issuer's own checks and before anything is posted, so a risk decline moves no money.

use crate::request::Request;
use model::{Card, FraudLabel, Merchant, ResponseCode, Terminal, TimestampMs, TxnRecord, Write};

/// What the engine knows about a transaction it is about to record.
pub struct RiskInput<'a> {
    /// The transaction as it will be recorded (id, time, kind, amount, parties).
    pub txn: &'a TxnRecord,
    pub request: &'a Request,
    /// The card, when posguard's stand-in issuer holds it.
    pub card: Option<&'a Card>,
    pub terminal: &'a Terminal,
    pub merchant: &'a Merchant,
    /// The original the transaction acts on, when the flow matched and accepted one (a
    /// refund's sale, a void's target).
    pub original: Option<&'a TxnRecord>,
    /// The issuer's own outcome: it would approve (risk may still decline it).
    pub would_approve: bool,
}

/// Risk control's say on one transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RiskVerdict {
    /// Go on with the issuer's outcome (approve, or an alert already raised for review).
    Pass,
    /// Decline, with this field 39.
    Decline(ResponseCode),
}

/// Risk control as the engine sees it. Calls come on the authorizer thread, in decision
/// order; writes pushed to `out` commit in the transaction's own batch.
pub trait RiskHook: Send {
    /// Scores a transaction about to be recorded; may push its decision, alerts and case
    /// changes to `out`.
    fn assess(
        &mut self,
        input: &RiskInput<'_>,
        now: TimestampMs,
        out: &mut Vec<Write>,
    ) -> RiskVerdict;
    /// The transaction as recorded (its final status), after `assess`.
    fn recorded(&mut self, txn: &TxnRecord);
    /// A fraud label that became known (a closed case, a chargeback).
    fn label(&mut self, label: &FraudLabel);
    /// Runs a host command on the hook's state (rule changes, case steps) and queues
    /// its writes; `Any` lets the host reach its own type.
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
}
