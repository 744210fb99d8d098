//! The flows of a POS host: what each kind of request checks and posts.

use crate::issuer::{self, Decline};
use crate::request::{MsgClass, OriginalRef, Request};
use crate::{AMOUNT_MAX_MINOR, Engine, Step};
use model::{IdemKey, ResponseCode, TimestampMs, TxnId, TxnKind, TxnRecord, TxnStatus, TxnUpdate};

use ResponseCode as Rc;

impl Engine {
    pub(crate) fn run_flow(
        &mut self,
        req: &Request,
        draft: &mut TxnRecord,
        now: TimestampMs,
    ) -> Step {
        let result = match (req.class, req.kind) {
            (_, TxnKind::Balance) => self.balance(req, draft, now),
            (MsgClass::Authorization, TxnKind::PreAuth) => self.spend(req, draft, now),
            (MsgClass::Financial, TxnKind::Purchase) => self.spend(req, draft, now),
            (MsgClass::Advice, TxnKind::Purchase) => self.offline_purchase(req, draft, now),
            (MsgClass::Financial | MsgClass::Advice, TxnKind::Completion) => {
                self.complete(req, draft)
            }
            (MsgClass::Financial | MsgClass::Advice, TxnKind::Refund) => self.refund(req, draft),
            (MsgClass::Financial, TxnKind::Void) => self.void(req, draft, now),
            _ => Err((Rc::InvalidTransaction, "kind_not_allowed_for_message")),
        };
        result.unwrap_or_else(|(code, reason)| Step::Declined(code, reason))
    }

    pub(crate) fn amount(&self, req: &Request) -> Result<i64, Decline> {
        let amount = req.amount.ok_or((Rc::InvalidAmount, "amount_missing"))?;
        if amount.minor <= 0 || amount.minor > AMOUNT_MAX_MINOR {
            return Err((Rc::InvalidAmount, "amount_out_of_range"));
        }
        Ok(amount.minor)
    }

    fn today(&self, now: TimestampMs) -> (i64, u32) {
        let day = self.state.local_day(now);
        (day, issuer::yymm_of_day(day))
    }

    /// The card presented, checked as its issuer would, before any amount is looked at.
    fn presented_card(
        &self,
        req: &Request,
        draft: &TxnRecord,
        now: TimestampMs,
    ) -> Result<(), Decline> {
        let input = req.card.as_ref().ok_or((Rc::FormatError, "card_missing"))?;
        if !input.luhn_ok {
            return Err((Rc::InvalidCardNumber, "luhn"));
        }
        let card = self
            .state
            .cards
            .get(&input.token)
            .ok_or((Rc::InvalidCardNumber, "card_unknown"))?;
        issuer::check_card(card, input, draft.currency, self.today(now).1)
    }

    /// The legs this draft posts once approved: the ledger's own rule, so live posting
    /// and `ledger verify` cannot disagree.
    pub(crate) fn legs_if_approved(&self, draft: &TxnRecord) -> Vec<ledger::Leg> {
        let mut approved = draft.clone();
        approved.status = TxnStatus::Approved;
        let lookup = |id: TxnId| self.state.txn(id).cloned();
        ledger::expected_legs(&approved, &lookup).expect("originals were checked before posting")
    }

    pub(crate) fn fee_for(&self, draft: &TxnRecord) -> i64 {
        let bps = i128::from(self.state.merchants[&draft.merchant_id].fee_bps);
        let fee = (i128::from(draft.amount_minor) * bps + 5_000) / 10_000;
        i64::try_from(fee).expect("a fee never exceeds its amount")
    }

    fn add_daily_spend(&mut self, draft: &TxnRecord, now: TimestampMs, sign: i64) {
        let day = self.state.local_day(now);
        let Some(token) = &draft.card_token else {
            return;
        };
        let Some(card) = self.state.cards.get_mut(token) else {
            return;
        };
        if card.spent_day != day {
            if sign < 0 {
                return;
            }
            card.spent_day = day;
            card.spent_minor = 0;
        }
        card.spent_minor = (card.spent_minor + sign * draft.amount_minor).max(0);
    }

    /// Purchases (0200) and pre-authorizations (0100): the full issuer decision.
    fn spend(
        &mut self,
        req: &Request,
        draft: &mut TxnRecord,
        now: TimestampMs,
    ) -> Result<Step, Decline> {
        let amount = self.amount(req)?;
        self.presented_card(req, draft, now)?;
        let token = draft
            .card_token
            .clone()
            .expect("presented_card checked the card");
        issuer::check_spend(&self.state.cards[&token], amount, self.today(now).0)?;
        if draft.kind == TxnKind::Purchase {
            draft.fee_minor = self.fee_for(draft);
        }
        let legs = self.legs_if_approved(draft);
        self.add_daily_spend(draft, now, 1);
        Ok(Step::Approved {
            legs,
            updates: Vec::new(),
            auth_code: None,
        })
    }

    /// 0220 without an original: a sale the terminal completed offline. Within the
    /// terminal's floor limit it is posted even if it overdraws the card (the goods
    /// are gone); above it, it is declined so the merchant knows to collect otherwise.
    fn offline_purchase(
        &mut self,
        req: &Request,
        draft: &mut TxnRecord,
        now: TimestampMs,
    ) -> Result<Step, Decline> {
        let amount = self.amount(req)?;
        self.presented_card(req, draft, now)?;
        if amount > self.state.terminals[&draft.terminal_id].floor_limit_minor {
            return Err((Rc::DoNotHonour, "above_floor_limit"));
        }
        draft.fee_minor = self.fee_for(draft);
        let legs = self.legs_if_approved(draft);
        self.add_daily_spend(draft, now, 1);
        Ok(Step::Approved {
            legs,
            updates: Vec::new(),
            auth_code: None,
        })
    }

    fn balance(
        &mut self,
        req: &Request,
        draft: &mut TxnRecord,
        now: TimestampMs,
    ) -> Result<Step, Decline> {
        self.presented_card(req, draft, now)?;
        let token = draft
            .card_token
            .as_ref()
            .expect("presented_card checked the card");
        draft.balance_minor = Some(self.state.cards[token].available_minor);
        Ok(Step::Acknowledged { reason: "balance" })
    }

    /// Finds the transaction a message refers to, at the same merchant.
    pub(crate) fn find_original(
        &self,
        req: &Request,
        draft: &TxnRecord,
    ) -> Result<TxnRecord, Decline> {
        let reference = req
            .original
            .as_ref()
            .ok_or((Rc::InvalidTransaction, "original_missing"))?;
        let id = match reference {
            OriginalRef::Rrn(id) => Some(*id),
            OriginalRef::Key { stan, transmitted } => {
                let key = IdemKey::Iso {
                    reversal: false,
                    terminal: req.terminal_id.clone(),
                    stan: stan.clone(),
                    transmitted: transmitted.clone(),
                };
                self.state.by_key.get(&key.to_string())
            }
        };
        let original = id.and_then(|id| self.state.txn(id));
        match original {
            Some(o) if o.merchant_id == draft.merchant_id => Ok(o.clone()),
            _ => Err((Rc::UnableToLocateRecord, "original_unknown")),
        }
    }

    /// Completion of a pre-authorization (0220, or 0200 with the original named).
    fn complete(&mut self, req: &Request, draft: &mut TxnRecord) -> Result<Step, Decline> {
        let pre = self.check_completion(req, draft)?;
        Ok(self.apply_completion(draft, &pre))
    }

    /// A completion names an open pre-authorization at the same merchant and asks for
    /// no more than it holds.
    pub(crate) fn check_completion(
        &self,
        req: &Request,
        draft: &TxnRecord,
    ) -> Result<TxnRecord, Decline> {
        let amount = self.amount(req)?;
        let pre = self.find_original(req, draft)?;
        if pre.kind != TxnKind::PreAuth || pre.status != TxnStatus::Approved {
            return Err((Rc::InvalidTransaction, "original_not_open_preauth"));
        }
        if amount > pre.amount_minor {
            return Err((Rc::InvalidAmount, "completion_exceeds_hold"));
        }
        Ok(pre)
    }

    pub(crate) fn apply_completion(&mut self, draft: &mut TxnRecord, pre: &TxnRecord) -> Step {
        draft.original_id = Some(pre.id);
        draft.card_token = pre.card_token.clone();
        draft.masked_pan = pre.masked_pan.clone();
        draft.fee_minor = self.fee_for(draft);
        let legs = self.legs_if_approved(draft);
        let done = TxnUpdate {
            id: pre.id,
            status: TxnStatus::Completed,
            refunded_minor: pre.refunded_minor,
        };
        Step::Approved {
            legs,
            updates: vec![done],
            auth_code: None,
        }
    }

    /// A refund names its sale and never exceeds what is left of it. It goes to the
    /// card presented (or the sale's card when none is).
    fn refund(&mut self, req: &Request, draft: &mut TxnRecord) -> Result<Step, Decline> {
        let sale = self.check_refund(req, draft)?;
        match &req.card {
            Some(input) if !input.luhn_ok => return Err((Rc::InvalidCardNumber, "luhn")),
            Some(input) if !self.state.cards.contains_key(&input.token) => {
                return Err((Rc::InvalidCardNumber, "card_unknown"));
            }
            Some(_) | None => {}
        }
        Ok(self.apply_refund(draft, &sale))
    }

    /// A refund names an approved sale at the same merchant and never exceeds what is
    /// left of it.
    pub(crate) fn check_refund(
        &self,
        req: &Request,
        draft: &TxnRecord,
    ) -> Result<TxnRecord, Decline> {
        let amount = self.amount(req)?;
        let sale = self.find_original(req, draft)?;
        let refundable = matches!(sale.kind, TxnKind::Purchase | TxnKind::Completion)
            && sale.status == TxnStatus::Approved;
        if !refundable {
            return Err((Rc::InvalidTransaction, "original_not_refundable"));
        }
        if amount > sale.amount_minor - sale.refunded_minor {
            return Err((Rc::InvalidAmount, "refund_exceeds_capture"));
        }
        Ok(sale)
    }

    pub(crate) fn apply_refund(&mut self, draft: &mut TxnRecord, sale: &TxnRecord) -> Step {
        if draft.card_token.is_none() {
            draft.card_token = sale.card_token.clone();
            draft.masked_pan = sale.masked_pan.clone();
        }
        draft.original_id = Some(sale.id);
        let legs = self.legs_if_approved(draft);
        let update = TxnUpdate {
            id: sale.id,
            status: sale.status,
            refunded_minor: sale.refunded_minor + draft.amount_minor,
        };
        Step::Approved {
            legs,
            updates: vec![update],
            auth_code: None,
        }
    }

    fn void(
        &mut self,
        req: &Request,
        draft: &mut TxnRecord,
        now: TimestampMs,
    ) -> Result<Step, Decline> {
        let original = self.check_void(req, draft)?;
        Ok(self.apply_void(draft, &original, now))
    }

    /// A void undoes an approved sale, refund, completion or hold that nothing else
    /// has acted on yet, for its exact amount.
    pub(crate) fn check_void(
        &self,
        req: &Request,
        draft: &TxnRecord,
    ) -> Result<TxnRecord, Decline> {
        let original = self.find_original(req, draft)?;
        let voidable = original.kind != TxnKind::Balance
            && original.kind != TxnKind::Void
            && original.kind != TxnKind::Reversal
            && original.status == TxnStatus::Approved
            && original.refunded_minor == 0;
        if !voidable {
            return Err((Rc::InvalidTransaction, "original_not_voidable"));
        }
        if req.amount.is_some_and(|a| a.minor != original.amount_minor) {
            return Err((Rc::OriginalAmountIncorrect, "void_amount_mismatch"));
        }
        Ok(original)
    }

    pub(crate) fn apply_void(
        &mut self,
        draft: &mut TxnRecord,
        original: &TxnRecord,
        now: TimestampMs,
    ) -> Step {
        self.adopt_original(draft, original);
        let legs = self.legs_if_approved(draft);
        let updates = self.undo_updates(original, TxnStatus::Voided, now);
        Step::Approved {
            legs,
            updates,
            auth_code: None,
        }
    }

    /// A void or reversal acts on the original's card, amount and currency.
    pub(crate) fn adopt_original(&self, draft: &mut TxnRecord, original: &TxnRecord) {
        draft.original_id = Some(original.id);
        draft.card_token = original.card_token.clone();
        draft.masked_pan = original.masked_pan.clone();
        draft.amount_minor = original.amount_minor;
        draft.currency = original.currency;
    }

    /// The state changes that undoing `original` causes: its own status, and what it
    /// had done to its own original (a refund's sale, a completion's hold, a void's
    /// target). Daily spend is given back too.
    pub(crate) fn undo_updates(
        &mut self,
        original: &TxnRecord,
        status: TxnStatus,
        now: TimestampMs,
    ) -> Vec<TxnUpdate> {
        let mut updates = vec![TxnUpdate {
            id: original.id,
            status,
            refunded_minor: original.refunded_minor,
        }];
        if crate::state::counts_toward_daily_limit(original) {
            self.add_daily_spend(original, now, -1);
        }
        let Some(parent) = original
            .original_id
            .and_then(|id| self.state.txn(id))
            .cloned()
        else {
            return updates;
        };
        match original.kind {
            TxnKind::Refund => updates.push(TxnUpdate {
                id: parent.id,
                status: parent.status,
                refunded_minor: parent.refunded_minor - original.amount_minor,
            }),
            TxnKind::Completion | TxnKind::Void | TxnKind::Reversal => updates.push(TxnUpdate {
                id: parent.id,
                status: TxnStatus::Approved,
                refunded_minor: parent.refunded_minor,
            }),
            _ => {}
        }
        updates
    }
}
