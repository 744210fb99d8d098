//! The stand-in issuer: how posguard answers for cards it holds itself, in the order
//! a real issuer checks them.

use crate::request::{CardInput, PinCheck};
use crate::state::CardState;
use model::time::civil_from_days;
use model::{CardStatus, Currency, ResponseCode};

pub type Decline = (ResponseCode, &'static str);

/// Checks that do not depend on the amount: card number, status, expiry, currency.
pub fn check_card(
    card: &CardState,
    input: &CardInput,
    currency: Currency,
    today_yymm: u32,
) -> Result<(), Decline> {
    if !input.luhn_ok {
        return Err((ResponseCode::InvalidCardNumber, "luhn"));
    }
    match card.card.status {
        CardStatus::Active => {}
        CardStatus::Lost => return Err((ResponseCode::LostCard, "card_lost")),
        CardStatus::Stolen => return Err((ResponseCode::StolenCard, "card_stolen")),
        CardStatus::Blocked => return Err((ResponseCode::DoNotHonour, "card_blocked")),
        CardStatus::Expired => return Err((ResponseCode::ExpiredCard, "card_expired")),
    }
    let card_expiry =
        parse_yymm(&card.card.expiry).ok_or((ResponseCode::ExpiredCard, "card_expiry_invalid"))?;
    if card_expiry < today_yymm {
        return Err((ResponseCode::ExpiredCard, "card_expired"));
    }
    if let Some(sent) = &input.expiry
        && parse_yymm(sent) != Some(card_expiry)
    {
        return Err((ResponseCode::ExpiredCard, "expiry_mismatch"));
    }
    if card.card.currency != currency {
        return Err((ResponseCode::NotPermittedToCardholder, "currency_mismatch"));
    }
    match input.pin {
        PinCheck::NotPresent | PinCheck::Verified => Ok(()),
        PinCheck::Incorrect => Err((ResponseCode::IncorrectPin, "pin_incorrect")),
        PinCheck::Unverifiable => Err((ResponseCode::IncorrectPin, "pin_unverifiable")),
        PinCheck::Malformed => Err((ResponseCode::IncorrectPin, "pin_block_invalid")),
    }
}

/// Checks for spending `amount` today: the daily limit first (so a card that is both
/// over its limit and short of funds hears about the limit), then funds.
pub fn check_spend(card: &CardState, amount: i64, today: i64) -> Result<(), Decline> {
    let spent = if card.spent_day == today {
        card.spent_minor
    } else {
        0
    };
    if spent.saturating_add(amount) > card.card.daily_limit_minor {
        return Err((ResponseCode::ExceedsWithdrawalLimit, "daily_limit"));
    }
    if card.available_minor < amount {
        return Err((ResponseCode::InsufficientFunds, "insufficient_funds"));
    }
    Ok(())
}

/// YYMM as a comparable number (2812 -> 2812), or None if it is not a month.
pub fn parse_yymm(text: &str) -> Option<u32> {
    if text.len() != 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u32 = text.parse().ok()?;
    (1..=12).contains(&(value % 100)).then_some(value)
}

/// The local calendar month of a local day number as YYMM.
pub fn yymm_of_day(day: i64) -> u32 {
    let (year, month, _) = civil_from_days(day);
    (year.rem_euclid(100) as u32) * 100 + month
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_months_follow_local_days() {
        assert_eq!(yymm_of_day(20_454), 2601);
    }

    #[test]
    fn yymm_rejects_non_months() {
        assert_eq!(parse_yymm("2812"), Some(2812));
        assert_eq!(parse_yymm("2813"), None);
        assert_eq!(parse_yymm("2800"), None);
        assert_eq!(parse_yymm("28a2"), None);
        assert_eq!(parse_yymm("281"), None);
    }
}
