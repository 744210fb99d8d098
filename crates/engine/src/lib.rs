//! The authorization engine: a deterministic state machine that turns one request
//! into one answer and the writes that make it durable.
//!
//! Architecture Invariant: no I/O, no clock, no randomness. The host passes `now` in
//! and commits the writes; the same requests in the same order give the same answers
//! and writes, which is what lets a restart rebuild the state from the store.
//! Architecture Invariant: an answer whose writes have not been committed must not be
//! sent. The engine cannot enforce that; the host's commit pipeline does.

mod flows;
mod forward;
mod issuer;
mod key_index;
mod provision;
mod request;
mod reversal;
mod risk_hook;
mod settle;
mod state;
#[cfg(test)]
mod tests_support;
mod txn_log;

pub use forward::{Begin, Forward, UpstreamPolicy, UpstreamResult};
pub use issuer::parse_yymm;
pub use provision::{ProvisionError, ProvisionErrorKind};
pub use request::{
    Answer, BatchTotals, CardInput, MsgClass, OPERATOR_LEN_MAX, OriginalRef, PinCheck, Request,
};
pub use risk_hook::{RiskHook, RiskInput, RiskVerdict};
pub use settle::SettleAnswer;

use ledger::Leg;
use model::{
    Account, Entry, ResponseCode, Snapshot, TimestampMs, TxnId, TxnRecord, TxnStatus, TxnUpdate,
    Write,
};
use state::State;

/// Largest amount field 4 can carry (n12).
pub const AMOUNT_MAX_MINOR: i64 = 999_999_999_999;

#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Offset of the merchants' local time from UTC, for daily limits and expiry
    /// months. Default +08:00 (China Standard Time).
    pub utc_offset_secs: i64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            utc_offset_secs: 8 * 3600,
        }
    }
}

pub struct Engine {
    state: State,
    /// Keys of requests forwarded upstream and not yet answered.
    pending: std::collections::HashSet<String>,
    settlement_keys: std::collections::HashMap<String, SettleAnswer>,
    /// Risk control, when the host runs it.
    risk: Option<Box<dyn RiskHook>>,
}

/// How a flow ended, before it is recorded.
enum Step {
    /// `auth_code` is the upstream issuer's when it decided; otherwise posguard makes one.
    Approved {
        legs: Vec<Leg>,
        updates: Vec<TxnUpdate>,
        auth_code: Option<String>,
    },
    /// Accepted without moving money: balance inquiries, idempotent reversals.
    Acknowledged {
        reason: &'static str,
    },
    Declined(ResponseCode, &'static str),
}

impl Engine {
    pub fn new(snapshot: Snapshot, config: &EngineConfig) -> Engine {
        let settlement_keys = settle::settlement_answers(&snapshot.settlements);
        Engine {
            state: State::from_snapshot(snapshot, config.utc_offset_secs),
            pending: Default::default(),
            settlement_keys,
            risk: None,
        }
    }

    /// Puts risk control in the authorization path (see [`RiskHook`]).
    pub fn set_risk(&mut self, risk: Box<dyn RiskHook>) {
        self.risk = Some(risk);
    }

    pub fn risk_mut(&mut self) -> Option<&mut (dyn RiskHook + 'static)> {
        self.risk.as_deref_mut()
    }

    /// Every recorded transaction in id order (e.g. to rebuild risk features at start).
    pub fn txns(&self) -> impl Iterator<Item = &TxnRecord> {
        self.state.txns.iter()
    }

    pub fn txn(&self, id: TxnId) -> Option<&TxnRecord> {
        self.state.txn(id)
    }

    /// The transaction recorded under an exactly-once key (`IdemKey`'s text), if any.
    pub fn txn_by_key(&self, key: &str) -> Option<&TxnRecord> {
        self.state.by_key.get(key).and_then(|id| self.state.txn(id))
    }

    pub fn txn_count(&self) -> u64 {
        self.state.txns.len() as u64
    }

    pub fn card_available(&self, token: &model::CardToken) -> Option<i64> {
        self.state.cards.get(token).map(|c| c.available_minor)
    }

    pub fn terminal(&self, id: &model::TerminalId) -> Option<&model::Terminal> {
        self.state.terminals.get(id)
    }

    pub fn merchant(&self, id: &model::MerchantId) -> Option<&model::Merchant> {
        self.state.merchants.get(id)
    }

    pub fn card(&self, token: &model::CardToken) -> Option<&model::Card> {
        self.state.cards.get(token).map(|c| &c.card)
    }

    /// Decides one request with the stand-in issuer. Writes for the store are appended
    /// to `out`.
    pub fn authorize(&mut self, req: &Request, now: TimestampMs, out: &mut Vec<Write>) -> Answer {
        let mut draft = match self.admit(req, now) {
            Ok(draft) => draft,
            Err(answer) => return answer,
        };
        let step = if self.terminal_inactive(&draft.terminal_id) {
            // Recorded, not refused at the door: risk control sees a lost or stolen
            // terminal in use and raises the alert someone must act on.
            Step::Declined(ResponseCode::NotPermittedToTerminal, "terminal_not_active")
        } else if req.class == MsgClass::Reversal {
            self.reverse(req, &mut draft)
        } else if self
            .state
            .reversed_before_arrival
            .contains_key(&draft.idem_key)
        {
            Step::Declined(ResponseCode::InvalidTransaction, "reversed_before_arrival")
        } else {
            self.run_flow(req, &mut draft, now)
        };
        let step = self.assess_risk(req, &draft, step, now, out);
        self.record(draft, step, out)
    }

    /// Asks risk control about a transaction the flow has decided: a risk decline
    /// replaces an approval before anything is posted.
    fn assess_risk(
        &mut self,
        req: &Request,
        draft: &TxnRecord,
        step: Step,
        now: TimestampMs,
        out: &mut Vec<Write>,
    ) -> Step {
        let Some(risk) = self.risk.as_mut() else {
            return step;
        };
        let (Some(terminal), Some(merchant)) = (
            self.state.terminals.get(&draft.terminal_id),
            self.state.merchants.get(&draft.merchant_id),
        ) else {
            return step;
        };
        let card = draft
            .card_token
            .as_ref()
            .and_then(|t| self.state.cards.get(t))
            .map(|c| &c.card);
        let input = RiskInput {
            txn: draft,
            request: req,
            card,
            terminal,
            merchant,
            original: draft.original_id.and_then(|id| self.state.txn(id)),
            would_approve: matches!(step, Step::Approved { .. }),
        };
        match (risk.assess(&input, now, out), step) {
            (RiskVerdict::Decline(code), Step::Approved { .. }) => {
                Step::Declined(code, "risk_declined")
            }
            (_, step) => step,
        }
    }

    /// A registered terminal that may not transact (blocked, lost, stolen, retired).
    fn terminal_inactive(&self, id: &model::TerminalId) -> bool {
        self.state
            .terminals
            .get(id)
            .is_some_and(|t| !t.status.may_transact())
    }

    /// The checks every request passes before its flow: a known key gets its first
    /// answer again; the terminal and merchant must be known. (An inactive terminal's
    /// request is admitted, then declined 58 and recorded: see `authorize`.)
    // The refusal is the answer itself, returned by value on the hot path.
    #[allow(clippy::result_large_err)]
    fn admit(&self, req: &Request, now: TimestampMs) -> Result<TxnRecord, Answer> {
        let key = req.key.to_string();
        if let Some(id) = self.state.by_key.get(&key) {
            return Err(self.repeat_of(id, req));
        }
        if self.pending.contains(&key) {
            return Err(Answer::refused(
                ResponseCode::RequestInProgress,
                "forwarded_in_progress",
            ));
        }
        let Some(terminal) = self.state.terminals.get(&req.terminal_id) else {
            return Err(Answer::refused(
                ResponseCode::NotPermittedToTerminal,
                "unknown_terminal",
            ));
        };
        if req
            .merchant_id
            .as_ref()
            .is_some_and(|m| *m != terminal.merchant_id)
        {
            return Err(Answer::refused(
                ResponseCode::InvalidMerchant,
                "merchant_mismatch",
            ));
        }
        let merchant_id = terminal.merchant_id.clone();
        if !self.state.merchants.contains_key(&merchant_id) {
            return Err(Answer::refused(
                ResponseCode::InvalidMerchant,
                "unknown_merchant",
            ));
        }
        Ok(self.draft(req, key, merchant_id, now))
    }

    /// A request whose key was seen before gets the first answer again, unless it is
    /// not the same request (94), and has no second effect.
    fn repeat_of(&self, id: TxnId, req: &Request) -> Answer {
        let first = self
            .state
            .txn(id)
            .expect("every key points at a recorded transaction");
        let amount = req.amount.map(|m| m.minor);
        let same_amount =
            amount.is_none_or(|a| a == first.amount_minor || req.class == MsgClass::Reversal);
        if !same_amount || req.kind != first.kind {
            return Answer::refused(ResponseCode::DuplicateTransmission, "key_reused");
        }
        Answer {
            code: first.response_code,
            txn_id: Some(first.id),
            auth_code: first.auth_code.clone(),
            balance_minor: first.balance_minor,
            duplicate: true,
            reason: "duplicate",
            reverse_upstream: None,
        }
    }

    fn draft(
        &self,
        req: &Request,
        key: String,
        merchant_id: model::MerchantId,
        now: TimestampMs,
    ) -> TxnRecord {
        let (currency, amount) = match req.amount {
            Some(m) => (m.currency, m.minor),
            None => (self.state.merchants[&merchant_id].currency, 0),
        };
        TxnRecord {
            id: self.state.next_txn_id(),
            idem_key: key,
            created_ms: now,
            mti: req.mti.clone(),
            kind: req.kind,
            offline: req.class == MsgClass::Advice,
            terminal_id: req.terminal_id.clone(),
            merchant_id,
            stan: req.stan.clone(),
            transmitted: req.transmitted.clone(),
            card_token: req.card.as_ref().map(|c| c.token.clone()),
            masked_pan: req.card.as_ref().map(|c| c.masked.clone()),
            amount_minor: amount,
            currency,
            response_code: ResponseCode::Approved,
            auth_code: None,
            status: TxnStatus::Declined,
            original_id: None,
            original_key: None,
            fee_minor: 0,
            refunded_minor: 0,
            balance_minor: None,
            stand_in: false,
            upstream: false,
            reason: String::new(),
        }
    }

    /// Records the transaction with its outcome, applies its legs to the in-memory
    /// balances and queues the writes.
    fn record(&mut self, mut txn: TxnRecord, step: Step, out: &mut Vec<Write>) -> Answer {
        let mut entries = Vec::new();
        let mut updates = Vec::new();
        let mut reason = "";
        match step {
            Step::Approved {
                legs,
                updates: u,
                auth_code: code,
            } => {
                txn.status = TxnStatus::Approved;
                txn.response_code = ResponseCode::Approved;
                txn.auth_code = Some(code.unwrap_or_else(|| auth_code(txn.id)));
                entries = self.post(txn.id, txn.currency, legs);
                updates = u;
            }
            Step::Acknowledged { reason: why } => {
                reason = why;
                txn.status = if txn.kind == model::TxnKind::Balance {
                    TxnStatus::Approved
                } else {
                    TxnStatus::Acknowledged
                };
                txn.response_code = ResponseCode::Approved;
                txn.reason = why.to_owned();
            }
            Step::Declined(code, why) => {
                reason = why;
                txn.status = TxnStatus::Declined;
                txn.response_code = code;
                txn.reason = why.to_owned();
            }
        }
        let reverse_upstream = match (txn.kind, txn.status, txn.original_id) {
            (model::TxnKind::Reversal, TxnStatus::Approved, Some(id)) => {
                self.state.txn(id).filter(|o| o.upstream).map(|o| o.id)
            }
            _ => None,
        };
        let answer = Answer {
            code: txn.response_code,
            txn_id: Some(txn.id),
            auth_code: txn.auth_code.clone(),
            balance_minor: txn.balance_minor,
            duplicate: false,
            reason,
            reverse_upstream,
        };
        out.push(Write::Txn(txn.clone()));
        if !entries.is_empty() {
            out.push(Write::Entries(entries));
        }
        for update in updates {
            if let Some(original) = self.state.txn_mut(update.id) {
                original.status = update.status;
                original.refunded_minor = update.refunded_minor;
            }
            out.push(Write::TxnUpdate(update));
        }
        if let Some(risk) = self.risk.as_mut() {
            risk.recorded(&txn);
        }
        self.state.insert_txn(txn);
        answer
    }

    /// Turns legs into entries and applies them to card balances.
    fn post(&mut self, txn_id: TxnId, currency: model::Currency, legs: Vec<Leg>) -> Vec<Entry> {
        assert!(
            ledger::legs_balance(&legs),
            "posting for txn {txn_id} does not balance"
        );
        legs.into_iter()
            .map(|leg| {
                if let Account::Card(token) = &leg.account
                    && let Some(card) = self.state.cards.get_mut(token)
                {
                    card.available_minor += leg.amount_minor;
                }
                self.state.last_entry_id += 1;
                Entry {
                    id: self.state.last_entry_id,
                    txn_id,
                    kind: leg.kind,
                    account: leg.account,
                    amount_minor: leg.amount_minor,
                    currency,
                }
            })
            .collect()
    }
}

/// A six-digit approval code derived from the transaction id: unique enough for a
/// receipt, and deterministic so a replay answers the same.
fn auth_code(id: TxnId) -> String {
    let mixed = id.0.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    format!("{:06}", mixed % 1_000_000)
}
