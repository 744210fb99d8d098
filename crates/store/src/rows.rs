//! Row decoding shared by both backends: each backend only says how to read one
//! column (`Cols`); what a column means is written once, here.

use crate::error::StoreError;
use model::{
    Account, ApiToken, Card, CardKind, CardStatus, CardToken, Currency, Entry, MaskedPan, Merchant,
    MerchantId, PostingKind, ResponseCode, Settlement, Terminal, TerminalId, TerminalStatus, TxnId,
    TxnKind, TxnRecord, TxnStatus,
};

/// Typed access to the columns of one result row, by position.
pub(crate) trait Cols {
    fn text(&self, i: usize) -> Result<String, StoreError>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError>;
    fn int(&self, i: usize) -> Result<i64, StoreError>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    fn flag(&self, i: usize) -> Result<bool, StoreError>;
}

pub(crate) const MERCHANT_COLS: &str = "id, name, mcc, currency, fee_bps";
pub(crate) const TERMINAL_COLS: &str = "id, merchant_id, status, floor_limit_minor";
pub(crate) const CARD_COLS: &str =
    "token, masked, expiry, status, kind, currency, limit_minor, daily_limit_minor";
pub(crate) const TXN_COLS: &str = "id, idem_key, created_ms, mti, kind, offline, terminal_id, \
     merchant_id, stan, transmitted, card_token, masked_pan, amount_minor, currency, \
     response_code, auth_code, status, original_id, original_key, fee_minor, \
     refunded_minor, balance_minor, stand_in, upstream, reason";
pub(crate) const ENTRY_COLS: &str = "id, txn_id, kind, account, amount_minor, currency";
pub(crate) const SETTLEMENT_COLS: &str = "id, idem_key, terminal_id, closed_ms, upto_txn_id, \
     host_debit_count, host_debit_minor, host_credit_count, host_credit_minor, \
     terminal_debit_count, terminal_debit_minor, terminal_credit_count, \
     terminal_credit_minor, balanced";
pub(crate) const API_TOKEN_COLS: &str = "id, sha256_hex, role, created_ms";

/// Ids are `u64` in the model and signed 64-bit integers in both databases.
pub(crate) fn to_i64(id: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(id).map_err(|_| StoreError::invalid(format!("{what} above i64::MAX")))
}

pub(crate) fn to_u64(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::corrupt(format!("negative {what}")))
}

fn currency(v: i64) -> Result<Currency, StoreError> {
    u16::try_from(v)
        .map(Currency)
        .map_err(|_| StoreError::corrupt("currency out of range"))
}

fn parsed<T>(value: Option<T>, what: &str) -> Result<T, StoreError> {
    value.ok_or_else(|| StoreError::corrupt(format!("unknown {what}")))
}

// The model has `as_str`/`parse` for txn enums but not for these three; their text
// is the serde snake_case name so that the API and the database agree.
const TERMINAL_STATUSES: [(TerminalStatus, &str); 5] = [
    (TerminalStatus::Active, "active"),
    (TerminalStatus::Blocked, "blocked"),
    (TerminalStatus::Lost, "lost"),
    (TerminalStatus::Stolen, "stolen"),
    (TerminalStatus::Retired, "retired"),
];
const CARD_STATUSES: [(CardStatus, &str); 5] = [
    (CardStatus::Active, "active"),
    (CardStatus::Lost, "lost"),
    (CardStatus::Stolen, "stolen"),
    (CardStatus::Blocked, "blocked"),
    (CardStatus::Expired, "expired"),
];
const CARD_KINDS: [(CardKind, &str); 2] =
    [(CardKind::Debit, "debit"), (CardKind::Credit, "credit")];

fn text_of<T: PartialEq + Copy>(table: &[(T, &'static str)], v: T) -> &'static str {
    // Every variant is in its table (checked by `enum_texts_match_serde_names`).
    table.iter().find(|r| r.0 == v).map_or("", |r| r.1)
}

fn value_of<T: Copy>(table: &[(T, &'static str)], text: &str) -> Option<T> {
    table.iter().find(|r| r.1 == text).map(|r| r.0)
}

pub(crate) fn terminal_status_str(s: TerminalStatus) -> &'static str {
    text_of(&TERMINAL_STATUSES, s)
}

pub(crate) fn card_status_str(s: CardStatus) -> &'static str {
    text_of(&CARD_STATUSES, s)
}

pub(crate) fn card_kind_str(k: CardKind) -> &'static str {
    text_of(&CARD_KINDS, k)
}

pub(crate) fn merchant(r: &dyn Cols) -> Result<Merchant, StoreError> {
    Ok(Merchant {
        id: MerchantId(r.text(0)?),
        name: r.text(1)?,
        mcc: r.text(2)?,
        currency: currency(r.int(3)?)?,
        fee_bps: u32::try_from(r.int(4)?).map_err(|_| StoreError::corrupt("fee_bps range"))?,
    })
}

pub(crate) fn terminal(r: &dyn Cols) -> Result<Terminal, StoreError> {
    Ok(Terminal {
        id: TerminalId(r.text(0)?),
        merchant_id: MerchantId(r.text(1)?),
        status: parsed(value_of(&TERMINAL_STATUSES, &r.text(2)?), "terminal status")?,
        floor_limit_minor: r.int(3)?,
    })
}

pub(crate) fn card(r: &dyn Cols) -> Result<Card, StoreError> {
    Ok(Card {
        token: CardToken(r.text(0)?),
        masked: MaskedPan(r.text(1)?),
        expiry: r.text(2)?,
        status: parsed(value_of(&CARD_STATUSES, &r.text(3)?), "card status")?,
        kind: parsed(value_of(&CARD_KINDS, &r.text(4)?), "card kind")?,
        currency: currency(r.int(5)?)?,
        limit_minor: r.int(6)?,
        daily_limit_minor: r.int(7)?,
    })
}

pub(crate) fn txn(r: &dyn Cols) -> Result<TxnRecord, StoreError> {
    Ok(TxnRecord {
        id: TxnId(to_u64(r.int(0)?, "txn id")?),
        idem_key: r.text(1)?,
        created_ms: r.int(2)?,
        mti: r.text(3)?,
        kind: parsed(TxnKind::parse(&r.text(4)?), "txn kind")?,
        offline: r.flag(5)?,
        terminal_id: TerminalId(r.text(6)?),
        merchant_id: MerchantId(r.text(7)?),
        stan: r.text(8)?,
        transmitted: r.text(9)?,
        card_token: r.opt_text(10)?.map(CardToken),
        masked_pan: r.opt_text(11)?.map(MaskedPan),
        amount_minor: r.int(12)?,
        currency: currency(r.int(13)?)?,
        response_code: parsed(ResponseCode::from_iso(&r.text(14)?), "response code")?,
        auth_code: r.opt_text(15)?,
        status: parsed(TxnStatus::parse(&r.text(16)?), "txn status")?,
        original_id: match r.opt_int(17)? {
            Some(v) => Some(TxnId(to_u64(v, "original id")?)),
            None => None,
        },
        original_key: r.opt_text(18)?,
        fee_minor: r.int(19)?,
        refunded_minor: r.int(20)?,
        balance_minor: r.opt_int(21)?,
        stand_in: r.flag(22)?,
        upstream: r.flag(23)?,
        reason: r.text(24)?,
    })
}

pub(crate) fn entry(r: &dyn Cols) -> Result<Entry, StoreError> {
    Ok(Entry {
        id: to_u64(r.int(0)?, "entry id")?,
        txn_id: TxnId(to_u64(r.int(1)?, "entry txn id")?),
        kind: parsed(PostingKind::parse(&r.text(2)?), "posting kind")?,
        account: parsed(Account::parse(&r.text(3)?), "account")?,
        amount_minor: r.int(4)?,
        currency: currency(r.int(5)?)?,
    })
}

pub(crate) fn settlement(r: &dyn Cols) -> Result<Settlement, StoreError> {
    Ok(Settlement {
        id: to_u64(r.int(0)?, "settlement id")?,
        idem_key: r.text(1)?,
        terminal_id: TerminalId(r.text(2)?),
        closed_ms: r.int(3)?,
        upto_txn_id: TxnId(to_u64(r.int(4)?, "settlement upto id")?),
        host_debit_count: r.int(5)?,
        host_debit_minor: r.int(6)?,
        host_credit_count: r.int(7)?,
        host_credit_minor: r.int(8)?,
        terminal_debit_count: r.int(9)?,
        terminal_debit_minor: r.int(10)?,
        terminal_credit_count: r.int(11)?,
        terminal_credit_minor: r.int(12)?,
        balanced: r.flag(13)?,
    })
}

pub(crate) fn api_token(r: &dyn Cols) -> Result<ApiToken, StoreError> {
    Ok(ApiToken {
        id: r.text(0)?,
        sha256_hex: r.text(1)?,
        role: r.text(2)?,
        created_ms: r.int(3)?,
    })
}

/// `(account text, currency, sum)` as in `Snapshot::balances`.
pub(crate) fn balance(r: &dyn Cols) -> Result<(String, u16, i64), StoreError> {
    Ok((r.text(0)?, currency(r.int(1)?)?.0, r.int(2)?))
}

pub(crate) fn count(r: &dyn Cols) -> Result<i64, StoreError> {
    r.int(0)
}

pub(crate) fn text(r: &dyn Cols) -> Result<String, StoreError> {
    r.text(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde_name<T: serde::Serialize>(v: T) -> String {
        serde_json::to_value(v)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    #[test]
    fn enum_texts_match_serde_names() {
        for (v, text) in TERMINAL_STATUSES {
            assert_eq!(serde_name(v), text);
            assert_eq!(terminal_status_str(v), text);
        }
        for (v, text) in CARD_STATUSES {
            assert_eq!(serde_name(v), text);
            assert_eq!(card_status_str(v), text);
        }
        for (v, text) in CARD_KINDS {
            assert_eq!(serde_name(v), text);
            assert_eq!(card_kind_str(v), text);
        }
    }
}
