//! ISO 8583 messages to engine requests and engine answers back to ISO 8583.
//! Knows field numbers; knows nothing about sockets.

use crate::keys::CardKeys;
use engine::{Answer, BatchTotals, CardInput, MsgClass, OriginalRef, PinCheck, Request};
use iso8583::{Message, MessageBuilder};
use model::{Currency, IdemKey, MerchantId, Money, Pan, ResponseCode, TerminalId, TxnId, TxnKind};
use std::borrow::Cow;

use ResponseCode as Rc;

/// What a request message asks for. (Short-lived on the stack: not boxed.)
#[allow(clippy::large_enum_variant)]
pub enum Parsed {
    Txn(Request),
    /// 0800: sign-on (001), sign-off (002), echo (301).
    Network {
        terminal: TerminalId,
        code: NetworkCode,
    },
    /// 0500: the terminal's batch totals.
    Settle {
        terminal: TerminalId,
        key: String,
        totals: BatchTotals,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetworkCode {
    SignOn,
    SignOff,
    Echo,
}

/// A request that is answered without reaching the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejected {
    pub code: ResponseCode,
    pub reason: &'static str,
}

fn reject<T>(code: ResponseCode, reason: &'static str) -> Result<T, Rejected> {
    Err(Rejected { code, reason })
}

/// The MTI of the answer to `mti`, when `mti` is a request or an advice (function
/// digit 0 or 2, any origin digit, so a repeat 0201 is answered 0210).
pub fn response_mti(mti: &str) -> Option<String> {
    let b = mti.as_bytes();
    if b.len() != 4 || !b.iter().all(u8::is_ascii_digit) || !matches!(b[2], b'0' | b'2') {
        return None;
    }
    Some(format!(
        "{}{}{}0",
        b[0] as char,
        b[1] as char,
        (b[2] + 1) as char
    ))
}

fn text<'a>(msg: &Message<'a>, n: u8) -> Option<Cow<'a, str>> {
    msg.field_str(n)
}

fn digits(msg: &Message<'_>, n: u8, len: usize) -> Result<Option<String>, Rejected> {
    match text(msg, n) {
        None => Ok(None),
        Some(v) if v.len() == len && v.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(Some(v.into_owned()))
        }
        Some(_) => reject(Rc::FormatError, "field_not_numeric"),
    }
}

fn required(value: Option<String>, reason: &'static str) -> Result<String, Rejected> {
    value.ok_or(Rejected {
        code: Rc::FormatError,
        reason,
    })
}

fn terminal_id(msg: &Message<'_>) -> Result<TerminalId, Rejected> {
    let id = text(msg, 41).ok_or(Rejected {
        code: Rc::FormatError,
        reason: "terminal_missing",
    })?;
    let id = id.trim_end();
    if id.is_empty() || id.len() > TerminalId::LEN_MAX {
        return reject(Rc::FormatError, "terminal_malformed");
    }
    Ok(TerminalId(id.to_owned()))
}

/// Field 7, or when a terminal does not send it, local date (13) and time (12).
fn transmitted(msg: &Message<'_>) -> Result<String, Rejected> {
    if let Some(f7) = digits(msg, 7, 10)? {
        return Ok(f7);
    }
    match (digits(msg, 13, 4)?, digits(msg, 12, 6)?) {
        (Some(date), Some(time)) => Ok(format!("{date}{time}")),
        _ => reject(Rc::FormatError, "transmission_time_missing"),
    }
}

fn kind_of(
    class: MsgClass,
    function_is_advice: bool,
    proc2: &str,
    has_original: bool,
) -> Result<TxnKind, Rejected> {
    use TxnKind::*;
    let kind = match (class, proc2) {
        (MsgClass::Reversal, _) => Reversal,
        (MsgClass::Authorization, "00") => PreAuth,
        (MsgClass::Authorization, "30" | "31") => Balance,
        (MsgClass::Financial | MsgClass::Advice, "00") if has_original => Completion,
        (MsgClass::Financial | MsgClass::Advice, "00") => Purchase,
        (MsgClass::Financial | MsgClass::Advice, "20") => Refund,
        (MsgClass::Financial, "02") if !function_is_advice => Void,
        (MsgClass::Financial, "30" | "31") => Balance,
        _ => return reject(Rc::InvalidTransaction, "processing_code_not_supported"),
    };
    Ok(kind)
}

/// Maximum value of a 12-digit amount field, as a guard against i64 overflow in parsing.
const AMOUNT_DIGITS: usize = 12;

fn amount(msg: &Message<'_>, currency: Currency) -> Result<Option<Money>, Rejected> {
    let Some(v) = text(msg, 4) else {
        return Ok(None);
    };
    if v.len() != AMOUNT_DIGITS || !v.bytes().all(|b| b.is_ascii_digit()) {
        return reject(Rc::InvalidAmount, "amount_not_numeric");
    }
    let minor: i64 = v.parse().map_err(|_| Rejected {
        code: Rc::InvalidAmount,
        reason: "amount_not_numeric",
    })?;
    Ok(Some(Money::new(minor, currency)))
}

/// The clear PAN of a request (field 2, else track 2), for the moments it is needed in
/// clear (tokenizing, PIN translation); the caller drops it as soon as it can.
pub fn card_pan(msg: &Message<'_>) -> Option<Pan> {
    let text = match text(msg, 2) {
        Some(p) => p,
        None => {
            let track = text(msg, 35)?;
            Cow::Owned(track.split_once(['=', 'D'])?.0.to_owned())
        }
    };
    Pan::parse(&text).ok()
}

/// Checks the PIN a request carries, given the clear PAN and the card's token (see
/// `security::Security::pin_check`).
pub type PinChecker<'a> = &'a dyn Fn(&str, &model::CardToken) -> PinCheck;

/// No PIN can be checked (requests that carry none, or come without a security session).
pub fn no_pin(_: &str, _: &model::CardToken) -> PinCheck {
    PinCheck::NotPresent
}

/// The card from field 2 or, failing that, track 2 (field 35); expiry from field 14 or
/// the track. The PAN is tokenized here, its PIN checked, and dropped (zeroized) at the
/// end of the call.
fn card(
    msg: &Message<'_>,
    keys: &CardKeys,
    pin_check: PinChecker<'_>,
) -> Result<Option<CardInput>, Rejected> {
    let track = text(msg, 35);
    let track_parts = track.as_deref().and_then(|t| t.split_once(['=', 'D']));
    let pan_text: Option<Cow<'_, str>> = match text(msg, 2) {
        Some(p) => Some(p),
        None => track_parts.map(|(p, _)| Cow::Owned(p.to_owned())),
    };
    let Some(pan_text) = pan_text else {
        return Ok(None);
    };
    let pan = Pan::parse(&pan_text).map_err(|_| Rejected {
        code: Rc::InvalidCardNumber,
        reason: "pan_malformed",
    })?;
    let expiry = match digits(msg, 14, 4)? {
        Some(e) => Some(e),
        None => track_parts
            .and_then(|(_, rest)| rest.get(..4))
            .filter(|e| e.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_owned),
    };
    let token = keys.token(&pan);
    let pin = pin_check(pan.expose(), &token);
    Ok(Some(CardInput {
        token,
        masked: pan.masked(),
        luhn_ok: pan.luhn_valid(),
        expiry,
        pin,
        entry_mode: text(msg, 22).map(|m| m.into_owned()),
    }))
}

/// Field 90: original MTI (4), STAN (6), transmission date and time (10), then
/// acquirer and forwarding institution ids.
fn original(msg: &Message<'_>, kind_allows_rrn: bool) -> Result<Option<OriginalRef>, Rejected> {
    if let Some(f90) = text(msg, 90) {
        let (Some(stan), Some(f7)) = (f90.get(4..10), f90.get(10..20)) else {
            return reject(Rc::FormatError, "original_data_malformed");
        };
        if !stan.bytes().chain(f7.bytes()).all(|b| b.is_ascii_digit()) {
            return reject(Rc::FormatError, "original_data_malformed");
        }
        return Ok(Some(OriginalRef::Key {
            stan: stan.to_owned(),
            transmitted: f7.to_owned(),
        }));
    }
    if kind_allows_rrn && let Some(rrn) = text(msg, 37) {
        let id = TxnId::from_rrn(&rrn).ok_or(Rejected {
            code: Rc::FormatError,
            reason: "rrn_malformed",
        })?;
        return Ok(Some(OriginalRef::Rrn(id)));
    }
    Ok(None)
}

fn count(msg: &Message<'_>, n: u8) -> Result<i64, Rejected> {
    match text(msg, n) {
        None => Ok(0),
        Some(v) if !v.is_empty() && v.len() <= 16 && v.bytes().all(|b| b.is_ascii_digit()) => {
            v.parse().map_err(|_| Rejected {
                code: Rc::FormatError,
                reason: "totals_malformed",
            })
        }
        Some(_) => reject(Rc::FormatError, "totals_malformed"),
    }
}

pub fn parse(
    msg: &Message<'_>,
    keys: &CardKeys,
    default_currency: Currency,
    pin_check: PinChecker<'_>,
) -> Result<Parsed, Rejected> {
    let mti = msg.mti();
    let b = mti.as_bytes();
    let terminal = terminal_id(msg)?;
    match b.get(1) {
        Some(b'8') => {
            let code = match text(msg, 70).as_deref() {
                Some("001") => NetworkCode::SignOn,
                Some("002") => NetworkCode::SignOff,
                Some("301") => NetworkCode::Echo,
                _ => return reject(Rc::InvalidTransaction, "network_code_not_supported"),
            };
            return Ok(Parsed::Network { terminal, code });
        }
        Some(b'5') => {
            let stan = required(digits(msg, 11, 6)?, "stan_missing")?;
            let key = format!("set:{terminal}:{stan}:{}", transmitted(msg)?);
            let totals = BatchTotals {
                credit_count: count(msg, 74)?,
                debit_count: count(msg, 76)?,
                credit_minor: count(msg, 86)?,
                debit_minor: count(msg, 88)?,
            };
            return Ok(Parsed::Settle {
                terminal,
                key,
                totals,
            });
        }
        _ => {}
    }
    let class = match (b.get(1), b.get(2)) {
        (Some(b'1'), Some(b'0')) => MsgClass::Authorization,
        (Some(b'2'), Some(b'0')) => MsgClass::Financial,
        (Some(b'2'), Some(b'2')) => MsgClass::Advice,
        (Some(b'4'), Some(b'0' | b'2')) => MsgClass::Reversal,
        _ => return reject(Rc::InvalidTransaction, "mti_not_supported"),
    };
    let stan = required(digits(msg, 11, 6)?, "stan_missing")?;
    let transmitted = transmitted(msg)?;
    let currency = match digits(msg, 49, 3)? {
        Some(code) => Currency::parse(&code).ok_or(Rejected {
            code: Rc::FormatError,
            reason: "currency_malformed",
        })?,
        None => default_currency,
    };
    let proc_code = digits(msg, 3, 6)?;
    let proc2 = proc_code.as_deref().map_or("00", |p| &p[..2]);
    if class != MsgClass::Reversal && proc_code.is_none() {
        return reject(Rc::FormatError, "processing_code_missing");
    }
    let references =
        class == MsgClass::Reversal || matches!(proc2, "02" | "20") || class == MsgClass::Advice;
    let original = original(msg, references)?;
    let kind = kind_of(
        class,
        b[2] == b'2',
        proc2,
        original.is_some() && proc2 == "00",
    )?;
    let amount = amount(msg, currency)?;
    let needs_amount = !matches!(kind, TxnKind::Balance | TxnKind::Reversal | TxnKind::Void);
    if needs_amount && amount.is_none() {
        return reject(Rc::InvalidAmount, "amount_missing");
    }
    let merchant_id = text(msg, 42)
        .map(|m| MerchantId(m.trim_end().to_owned()))
        .filter(|m| !m.0.is_empty());
    let key = IdemKey::Iso {
        reversal: class == MsgClass::Reversal,
        terminal: terminal.clone(),
        stan: stan.clone(),
        transmitted: transmitted.clone(),
    };
    Ok(Parsed::Txn(Request {
        mti: mti.into_owned(),
        class,
        kind,
        key,
        terminal_id: terminal,
        merchant_id,
        stan,
        transmitted,
        card: card(msg, keys, pin_check)?,
        amount,
        original,
        location: location(msg)?,
        operator: operator(msg)?,
    }))
}

/// Where a terminal names the operator (cashier) logged in: field 63 (private use), as
/// UnionPay terminals do, 1 to [`engine::OPERATOR_LEN_MAX`] printable characters.
pub const OPERATOR_FIELD: u8 = 63;

/// The operator a terminal sent, trimmed, if any; an empty, overlong or unprintable one
/// is a format error (30).
fn operator(msg: &Message<'_>) -> Result<Option<String>, Rejected> {
    let Some(text) = text(msg, OPERATOR_FIELD) else {
        return Ok(None);
    };
    let id = text.trim();
    let printable = id.bytes().all(|b| (b' '..=b'~').contains(&b));
    if id.is_empty() || id.len() > engine::OPERATOR_LEN_MAX || !printable {
        return reject(Rc::FormatError, "operator_malformed");
    }
    Ok(Some(id.to_owned()))
}

/// Where a mobile terminal reports its position: field 123 (private use), as
/// `<latitude>,<longitude>` in microdegrees (e.g. `39904200,116407400`).
pub const LOCATION_FIELD: u8 = 123;

/// The position a terminal sent, if any; a malformed one is a format error (30).
fn location(msg: &Message<'_>) -> Result<Option<(i32, i32)>, Rejected> {
    let Some(text) = text(msg, LOCATION_FIELD) else {
        return Ok(None);
    };
    let parsed = text.split_once(',').and_then(|(lat, lon)| {
        let (lat, lon): (i32, i32) = (lat.trim().parse().ok()?, lon.trim().parse().ok()?);
        (lat.abs() <= 90_000_000 && lon.abs() <= 180_000_000).then_some((lat, lon))
    });
    match parsed {
        Some(point) => Ok(Some(point)),
        None => reject(Rc::FormatError, "location_malformed"),
    }
}

/// Fields a response echoes from its request. Card data (2, 35, 52, 55) is never echoed.
const ECHOED: [u8; 12] = [3, 4, 7, 11, 12, 13, 24, 25, 32, 41, 42, 49];

/// Values a response adds, kept alive while the builder borrows them.
pub struct ResponseValues {
    pub mti: String,
    pub code: &'static str,
    pub rrn: Option<String>,
    pub auth_code: Option<String>,
    pub balance: Option<String>,
}

impl ResponseValues {
    pub fn rejected(mti: String, code: ResponseCode) -> ResponseValues {
        ResponseValues {
            mti,
            code: code.iso(),
            rrn: None,
            auth_code: None,
            balance: None,
        }
    }

    pub fn answered(mti: String, answer: &Answer, currency: Currency) -> ResponseValues {
        let balance = answer.balance_minor.map(|b| {
            let sign = if b < 0 { 'D' } else { 'C' };
            format!("0002{:03}{sign}{:012}", currency.0, b.unsigned_abs())
        });
        ResponseValues {
            mti,
            code: answer.code.iso(),
            rrn: answer.txn_id.map(TxnId::rrn),
            auth_code: answer.auth_code.clone(),
            balance,
        }
    }
}

/// Builds the answer to `request` into `out` (the body, without framing).
pub fn encode_response(
    request: &Message<'_>,
    values: &ResponseValues,
    extra: &[(u8, &str)],
    out: &mut Vec<u8>,
) -> Result<(), iso8583::EncodeError> {
    // Start from the request (which keeps any message header), then drop every field
    // that is not echoed.
    let mut b = MessageBuilder::from_message(request);
    b.set_mti(&values.mti);
    for n in request.fields() {
        if !(ECHOED.contains(&n) || n == 70 || n == 90) {
            b.remove(n);
        }
    }
    if let Some(rrn) = &values.rrn {
        b.set(37, rrn.as_str());
    }
    if let Some(code) = &values.auth_code {
        b.set(38, code.as_str());
    }
    b.set(39, values.code);
    if let Some(balance) = &values.balance {
        b.set(54, balance.as_str());
    }
    for (n, v) in extra {
        b.set(*n, *v);
    }
    out.clear();
    b.encode_into(request.spec(), out)
}
