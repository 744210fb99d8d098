//! Provisioning of merchants, terminals and cards. It goes through the engine so the
//! in-memory state and the store never disagree; a card's limit arrives as ledger
//! entries, not as a number written over another.

use crate::Engine;
use crate::state::CardState;
use model::{Card, Entry, Merchant, Terminal, TxnId, Write};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProvisionErrorKind {
    Invalid,
    UnknownMerchant,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvisionError {
    pub kind: ProvisionErrorKind,
    pub field: &'static str,
    pub message: String,
}

impl fmt::Display for ProvisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ProvisionError {}

fn invalid(field: &'static str, message: &str) -> ProvisionError {
    ProvisionError {
        kind: ProvisionErrorKind::Invalid,
        field,
        message: message.to_owned(),
    }
}

/// Ids travel in fixed-width ISO fields; printable ASCII without spaces at the ends.
fn check_id(field: &'static str, id: &str, len_max: usize) -> Result<(), ProvisionError> {
    if id.is_empty() || id.len() > len_max {
        return Err(invalid(
            field,
            &format!("must have 1 to {len_max} characters"),
        ));
    }
    if !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(field, "must be printable ASCII without spaces"));
    }
    Ok(())
}

/// Most a card's limit or balance may be: what field 4 can carry.
const CARD_LIMIT_MAX_MINOR: i64 = crate::AMOUNT_MAX_MINOR;
/// Most a merchant's discount rate may be: 10%.
const FEE_BPS_MAX: u32 = 1_000;

impl Engine {
    pub fn upsert_merchant(
        &mut self,
        m: Merchant,
        out: &mut Vec<Write>,
    ) -> Result<(), ProvisionError> {
        check_id("id", m.id.as_str(), model::MerchantId::LEN_MAX)?;
        if m.mcc.len() != 4 || !m.mcc.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("mcc", "must be four digits"));
        }
        if m.fee_bps > FEE_BPS_MAX {
            return Err(invalid("fee_bps", "must be at most 1000 (10%)"));
        }
        if m.name.trim().is_empty() || m.name.chars().count() > 40 {
            return Err(invalid("name", "must have 1 to 40 characters"));
        }
        self.state.merchants.insert(m.id.clone(), m.clone());
        out.push(Write::Merchant(m));
        Ok(())
    }

    pub fn upsert_terminal(
        &mut self,
        t: Terminal,
        out: &mut Vec<Write>,
    ) -> Result<(), ProvisionError> {
        check_id("id", t.id.as_str(), model::TerminalId::LEN_MAX)?;
        if !self.state.merchants.contains_key(&t.merchant_id) {
            return Err(ProvisionError {
                kind: ProvisionErrorKind::UnknownMerchant,
                field: "merchant_id",
                message: format!("no merchant {}", t.merchant_id),
            });
        }
        if t.floor_limit_minor < 0 || t.floor_limit_minor > CARD_LIMIT_MAX_MINOR {
            return Err(invalid(
                "floor_limit_minor",
                "must be between 0 and 999999999999",
            ));
        }
        self.state.terminals.insert(t.id.clone(), t.clone());
        out.push(Write::Terminal(t));
        Ok(())
    }

    /// Adds a card or changes it. A changed limit posts the difference as funding.
    pub fn upsert_card(&mut self, card: Card, out: &mut Vec<Write>) -> Result<(), ProvisionError> {
        if crate::parse_yymm(&card.expiry).is_none() {
            return Err(invalid("expiry", "must be YYMM"));
        }
        if !(0..=CARD_LIMIT_MAX_MINOR).contains(&card.limit_minor) {
            return Err(invalid("limit_minor", "must be between 0 and 999999999999"));
        }
        if !(0..=CARD_LIMIT_MAX_MINOR).contains(&card.daily_limit_minor) {
            return Err(invalid(
                "daily_limit_minor",
                "must be between 0 and 999999999999",
            ));
        }
        let previous = self
            .state
            .cards
            .get(&card.token)
            .map(|c| (c.card.limit_minor, c.card.currency));
        if previous.is_some_and(|(_, currency)| currency != card.currency) {
            return Err(invalid("currency", "cannot change once the card exists"));
        }
        let previous_limit = previous.map_or(0, |(limit, _)| limit);
        let slot = self
            .state
            .cards
            .entry(card.token.clone())
            .or_insert_with(|| CardState {
                card: card.clone(),
                available_minor: 0,
                spent_day: i64::MIN,
                spent_minor: 0,
            });
        slot.card = card.clone();
        let legs = ledger::funding(&card, card.limit_minor - previous_limit);
        let entries: Vec<Entry> = self.post(TxnId(0), card.currency, legs);
        out.push(Write::Card(card));
        if !entries.is_empty() {
            out.push(Write::Entries(entries));
        }
        Ok(())
    }
}
