//! The facts rules read about a transaction, from what the engine knows.

use engine::RiskInput;
use model::{Card, Merchant, Terminal, TxnRecord};
use risk::{EntryMode, TerminalStatus, TxnFacts};

/// POS entry mode from field 22's first two digits (ISO 8583:1987 / common usage).
pub fn entry_mode(field_22: Option<&str>) -> EntryMode {
    match field_22.and_then(|f| f.get(..2)) {
        Some("07" | "91") => EntryMode::Contactless,
        Some("02" | "90") => EntryMode::Magstripe,
        Some("80") => EntryMode::Fallback,
        Some("01") => EntryMode::Manual,
        Some("81") => EntryMode::Ecommerce,
        _ => EntryMode::Chip,
    }
}

pub fn of(input: &RiskInput<'_>, offset_minutes: i32) -> TxnFacts {
    let mut facts = of_record(
        input.txn,
        input.card,
        Some(input.terminal),
        Some(input.merchant),
        offset_minutes,
    );
    facts.entry_mode = entry_mode(
        input
            .request
            .card
            .as_ref()
            .and_then(|c| c.entry_mode.as_deref()),
    );
    add_original(&mut facts, input.txn, input.original);
    facts
}

/// What the transaction's original says about it: whether there is one, and whether it
/// was paid by another card.
pub fn add_original(facts: &mut TxnFacts, txn: &TxnRecord, original: Option<&TxnRecord>) {
    facts.original_matched = original.is_some();
    facts.original_card_differs = match (&txn.card_token, original.map(|o| &o.card_token)) {
        (Some(card), Some(Some(paid_by))) => card != paid_by,
        _ => false,
    };
}

/// The facts of a recorded transaction and its parties: live scoring and back-tests over
/// stored history share this. What the terminal said beyond the record (field 22, its
/// position) comes from the transaction's context: [`add_context`].
pub fn of_record(
    txn: &TxnRecord,
    card: Option<&Card>,
    terminal: Option<&Terminal>,
    merchant: Option<&Merchant>,
    offset_minutes: i32,
) -> TxnFacts {
    let mut facts = TxnFacts::purchase(txn.created_ms, txn.amount_minor.max(0));
    facts.local_offset_minutes = offset_minutes;
    facts.currency = txn.currency;
    facts.kind = txn.kind;
    facts.offline = txn.offline;
    facts.mcc = merchant.and_then(|m| m.mcc.parse().ok()).unwrap_or(0);
    facts.card_kind = card.map(|c| c.kind);
    facts.card_daily_limit_minor = card.map(|c| c.daily_limit_minor);
    facts.terminal_floor_limit_minor = terminal.map(|t| t.floor_limit_minor);
    facts.terminal_status = terminal.map(|t| match t.status {
        model::TerminalStatus::Active => TerminalStatus::Active,
        model::TerminalStatus::Blocked => TerminalStatus::Blocked,
        model::TerminalStatus::Lost => TerminalStatus::Lost,
        model::TerminalStatus::Stolen => TerminalStatus::Stolen,
        model::TerminalStatus::Retired => TerminalStatus::Retired,
    });
    facts
}

/// Adds what the terminal said about a recorded transaction (its stored context): how
/// the card was read and where the terminal was.
pub fn add_context(facts: &mut TxnFacts, context: &model::TxnContext) {
    facts.entry_mode = entry_mode(context.entry_mode.as_deref());
    facts.location = context
        .location
        .and_then(|(lat, lon)| risk::GeoPoint::new(lat, lon));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_22_maps_to_entry_modes() {
        let cases = [
            (Some("051"), EntryMode::Chip),
            (Some("071"), EntryMode::Contactless),
            (Some("021"), EntryMode::Magstripe),
            (Some("801"), EntryMode::Fallback),
            (Some("012"), EntryMode::Manual),
            (Some("812"), EntryMode::Ecommerce),
            (None, EntryMode::Chip),
            (Some("9"), EntryMode::Chip),
        ];
        for (field, mode) in cases {
            assert_eq!(entry_mode(field), mode, "{field:?}");
        }
    }
}
