//! The JSON shapes of what the API returns. Ids are strings, money is integer minor
//! units with the ISO 4217 numeric code (`currency`) and its alpha code when known
//! (`currency_alpha`), times are Unix milliseconds. No view has a field for a clear PAN.

use model::{Card, CardKind, CardStatus, Entry, Merchant, Terminal, TerminalStatus, TxnRecord};
use serde::Serialize;

pub const TERMINAL_STATUSES: &[(&str, TerminalStatus)] = &[
    ("active", TerminalStatus::Active),
    ("blocked", TerminalStatus::Blocked),
    ("lost", TerminalStatus::Lost),
    ("stolen", TerminalStatus::Stolen),
    ("retired", TerminalStatus::Retired),
];

pub const CARD_STATUSES: &[(&str, CardStatus)] = &[
    ("active", CardStatus::Active),
    ("lost", CardStatus::Lost),
    ("stolen", CardStatus::Stolen),
    ("blocked", CardStatus::Blocked),
    ("expired", CardStatus::Expired),
];

pub const CARD_KINDS: &[(&str, CardKind)] =
    &[("debit", CardKind::Debit), ("credit", CardKind::Credit)];

fn word<T: PartialEq + Copy>(table: &[(&'static str, T)], value: T) -> &'static str {
    table
        .iter()
        .find(|(_, v)| *v == value)
        .map_or("unknown", |(w, _)| w)
}

#[derive(Serialize)]
pub struct MerchantView {
    id: String,
    name: String,
    mcc: String,
    currency: u16,
    currency_alpha: Option<&'static str>,
    fee_bps: u32,
    /// Personal data, masked (the clear values are sealed in the vault).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    personal_data: std::collections::BTreeMap<String, String>,
}

impl MerchantView {
    /// With the masked forms of the merchant's sealed personal data.
    pub fn with_personal_data(mut self, record: Option<&MerchantPii>) -> MerchantView {
        if let Some(record) = record {
            self.personal_data = record
                .fields
                .iter()
                .map(|(k, v)| (k.clone(), v.masked.clone()))
                .collect();
        }
        self
    }
}

/// A merchant's personal data as stored (`merchant_pii:<id>`): per field, the sealed
/// value and its masked form.
#[derive(Clone, Debug, Default, serde::Deserialize, Serialize)]
pub struct MerchantPii {
    pub fields: std::collections::BTreeMap<String, SealedField>,
}

#[derive(Clone, Debug, serde::Deserialize, Serialize)]
pub struct SealedField {
    pub sealed: String,
    pub masked: String,
}

impl From<Merchant> for MerchantView {
    fn from(m: Merchant) -> MerchantView {
        MerchantView {
            id: m.id.0,
            name: m.name,
            mcc: m.mcc,
            currency: m.currency.0,
            currency_alpha: m.currency.alpha(),
            fee_bps: m.fee_bps,
            personal_data: Default::default(),
        }
    }
}

#[derive(Serialize)]
pub struct TerminalView {
    id: String,
    merchant_id: String,
    status: &'static str,
    floor_limit_minor: i64,
}

impl From<Terminal> for TerminalView {
    fn from(t: Terminal) -> TerminalView {
        TerminalView {
            id: t.id.0,
            merchant_id: t.merchant_id.0,
            status: word(TERMINAL_STATUSES, t.status),
            floor_limit_minor: t.floor_limit_minor,
        }
    }
}

#[derive(Serialize)]
pub struct CardView {
    token: String,
    masked_pan: String,
    expiry: String,
    status: &'static str,
    kind: &'static str,
    currency: u16,
    currency_alpha: Option<&'static str>,
    limit_minor: i64,
    daily_limit_minor: i64,
    /// What the card may spend now (its ledger account), when the engine knows it.
    available_minor: Option<i64>,
}

impl CardView {
    pub fn new(c: Card, available_minor: Option<i64>) -> CardView {
        CardView {
            token: c.token.0,
            masked_pan: c.masked.0,
            expiry: c.expiry,
            status: word(CARD_STATUSES, c.status),
            kind: word(CARD_KINDS, c.kind),
            currency: c.currency.0,
            currency_alpha: c.currency.alpha(),
            limit_minor: c.limit_minor,
            daily_limit_minor: c.daily_limit_minor,
            available_minor,
        }
    }
}

#[derive(Serialize)]
pub struct TxnView {
    id: String,
    rrn: String,
    created_ms: i64,
    mti: String,
    kind: &'static str,
    status: &'static str,
    offline: bool,
    terminal_id: String,
    merchant_id: String,
    masked_pan: Option<String>,
    card_token: Option<String>,
    amount_minor: i64,
    currency: u16,
    currency_alpha: Option<&'static str>,
    response_code: &'static str,
    auth_code: Option<String>,
    original_id: Option<String>,
    fee_minor: i64,
    refunded_minor: i64,
    balance_minor: Option<i64>,
    stand_in: bool,
    reason: String,
}

impl From<TxnRecord> for TxnView {
    fn from(t: TxnRecord) -> TxnView {
        TxnView {
            id: t.id.to_string(),
            rrn: t.id.rrn(),
            created_ms: t.created_ms,
            mti: t.mti,
            kind: t.kind.as_str(),
            status: t.status.as_str(),
            offline: t.offline,
            terminal_id: t.terminal_id.0,
            merchant_id: t.merchant_id.0,
            masked_pan: t.masked_pan.map(|m| m.0),
            card_token: t.card_token.map(|c| c.0),
            amount_minor: t.amount_minor,
            currency: t.currency.0,
            currency_alpha: t.currency.alpha(),
            response_code: t.response_code.iso(),
            auth_code: t.auth_code,
            original_id: t.original_id.map(|id| id.to_string()),
            fee_minor: t.fee_minor,
            refunded_minor: t.refunded_minor,
            balance_minor: t.balance_minor,
            stand_in: t.stand_in,
            reason: t.reason,
        }
    }
}

#[derive(Serialize)]
pub struct EntryView {
    id: String,
    kind: &'static str,
    account: String,
    amount_minor: i64,
    currency: u16,
    currency_alpha: Option<&'static str>,
}

impl From<Entry> for EntryView {
    fn from(e: Entry) -> EntryView {
        EntryView {
            id: e.id.to_string(),
            kind: e.kind.as_str(),
            account: e.account.to_string(),
            amount_minor: e.amount_minor,
            currency: e.currency.0,
            currency_alpha: e.currency.alpha(),
        }
    }
}

/// A transaction with the ledger entries it posted.
#[derive(Serialize)]
pub struct TxnDetail {
    #[serde(flatten)]
    pub txn: TxnView,
    pub entries: Vec<EntryView>,
    /// Risk control's decision, with its reasons (absent when risk control was off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk: Option<model::RiskDecision>,
}

/// A page of a search: pass `next_after_id` as `after_id` to read on; null at the end.
#[derive(Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_after_id: Option<String>,
}
