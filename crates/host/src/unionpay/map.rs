//! UnionPay messages to the engine's requests: the same `engine::Request` the generic
//! dialect builds (`iso_map`), so both share one ledger, one exactly-once index and one
//! risk path. Pure: no keys, no I/O.

use engine::{CardInput, MsgClass, OriginalRef, Request};
use iso8583::Message;
use iso8583::unionpay::UnionPayFields;
use model::{Currency, IdemKey, MerchantId, Money, ResponseCode, TerminalId, TxnId, TxnKind};

use crate::iso_map::Rejected;
use ResponseCode as Rc;

/// What a UnionPay message asks for.
#[allow(clippy::large_enum_variant)]
pub enum Action {
    /// 0800 with 60.3 = 001/003/004.
    SignOn(paycrypto::unionpay::KeyLayout),
    /// 0820/002.
    SignOff,
    /// 0820/301 echo, 0820/362 status upload, other 0800/0820 codes posguard only
    /// acknowledges.
    Acknowledge,
    /// 0500/201.
    Settle,
    /// 0320: batch upload records (201-207); posguard already holds each transaction.
    BatchUpload,
    Txn(Request),
}

fn reject<T>(code: ResponseCode, reason: &'static str) -> Result<T, Rejected> {
    Err(Rejected { code, reason })
}

/// The request's management or transaction meaning, from MTI, 3, 25 and 60.
pub fn action(msg: &Message<'_>, f: &UnionPayFields) -> Result<Option<Action>, Rejected> {
    let mti = msg.mti();
    let code = f.network_code().unwrap_or("000");
    Ok(Some(match mti.as_ref() {
        "0800" => match paycrypto::unionpay::KeyLayout::from_network_code(code) {
            Some(layout) => Action::SignOn(layout),
            None => Action::Acknowledge,
        },
        "0820" if code == "002" => Action::SignOff,
        "0820" => Action::Acknowledge,
        "0500" => Action::Settle,
        "0320" => Action::BatchUpload,
        _ => return Ok(None),
    }))
}

/// The idempotency "transmission" of a UnionPay request: terminals send neither field
/// 7 nor 12/13, so the batch (60.2) stands in; STANs are unique within a batch, and a
/// reversal (a copy of its original) names the same batch.
pub fn transmitted(batch: &str) -> String {
    format!("0000{batch}")
}

/// The kind of a financial message (the table of UNIONPAY.md), by MTI and 3.
fn kind_of(mti: &str, proc2: &str) -> Result<(MsgClass, TxnKind), Rejected> {
    use TxnKind::*;
    Ok(match (mti, proc2) {
        ("0200", "31" | "30") => (MsgClass::Financial, Balance),
        ("0200", "00") => (MsgClass::Financial, Purchase),
        ("0200", "20") => (MsgClass::Financial, Void),
        ("0220", "20") => (MsgClass::Advice, Refund),
        ("0100", "03") => (MsgClass::Authorization, PreAuth),
        // A pre-authorization void releases the hold: the engine's void of a hold.
        ("0100", "20") => (MsgClass::Financial, Void),
        ("0220", "00") => (MsgClass::Advice, Completion),
        ("0400" | "0420", _) => (MsgClass::Reversal, Reversal),
        _ => return reject(Rc::InvalidTransaction, "processing_code_not_supported"),
    })
}

fn digits(msg: &Message<'_>, n: u8) -> Option<String> {
    msg.field_str(n).map(|v| v.into_owned())
}

/// Builds the engine request of a financial message. `card` is the card the host read
/// (tokenized, PIN checked) from 2 or the (decrypted) track.
pub fn request(
    msg: &Message<'_>,
    f: &UnionPayFields,
    card: Option<CardInput>,
    currency: Currency,
) -> Result<Request, Rejected> {
    let mti = msg.mti().into_owned();
    let terminal = terminal_id(msg)?;
    let stan = digits(msg, 11).ok_or(Rejected {
        code: Rc::FormatError,
        reason: "stan_missing",
    })?;
    let batch = f.batch().ok_or(Rejected {
        code: Rc::FormatError,
        reason: "batch_missing",
    })?;
    let proc_code = digits(msg, 3).unwrap_or_else(|| "000000".into());
    let (mut class, mut kind) = kind_of(&mti, proc_code.get(..2).unwrap_or("00"))?;
    // 25 = 06 with type 20/24 and an original: a pre-authorization completion.
    let original = match digits(msg, 37) {
        Some(rrn) if kind != TxnKind::Reversal => {
            Some(OriginalRef::Rrn(TxnId::from_rrn(&rrn).ok_or(Rejected {
                code: Rc::FormatError,
                reason: "rrn_malformed",
            })?))
        }
        _ => None,
    };
    if mti == "0200" && kind == TxnKind::Purchase && matches!(f.type_code(), Some("20")) {
        kind = TxnKind::Completion;
    }
    if kind == TxnKind::Completion && mti == "0200" {
        class = MsgClass::Financial;
    }
    let references = matches!(kind, TxnKind::Void | TxnKind::Refund | TxnKind::Completion);
    if references && original.is_none() {
        return reject(Rc::FormatError, "original_rrn_missing");
    }
    let amount = match digits(msg, 4) {
        Some(a) => Some(Money::new(
            a.parse().map_err(|_| Rejected {
                code: Rc::InvalidAmount,
                reason: "amount_not_numeric",
            })?,
            currency,
        )),
        None => None,
    };
    if !matches!(kind, TxnKind::Balance | TxnKind::Reversal | TxnKind::Void) && amount.is_none() {
        return reject(Rc::InvalidAmount, "amount_missing");
    }
    let transmitted = transmitted(batch);
    let key = IdemKey::Iso {
        reversal: class == MsgClass::Reversal,
        terminal: terminal.clone(),
        stan: stan.clone(),
        transmitted: transmitted.clone(),
    };
    Ok(Request {
        mti,
        class,
        kind,
        key,
        terminal_id: terminal,
        merchant_id: msg
            .field_str(42)
            .map(|m| MerchantId(m.trim_end().to_owned()))
            .filter(|m| !m.0.is_empty()),
        stan,
        transmitted,
        card,
        amount,
        original,
        location: None,
        operator: operator(f),
    })
}

/// Field 63 of a request names the operator (cashier) when it is not the card
/// organisation (`CUP` on advices), for per-operator risk features.
fn operator(f: &UnionPayFields) -> Option<String> {
    let code = f.operator.as_deref()?.trim();
    let printable = code.bytes().all(|b| (b' '..=b'~').contains(&b));
    let usable = !code.is_empty() && code != "CUP" && code.len() <= engine::OPERATOR_LEN_MAX;
    (usable && printable).then(|| code.to_owned())
}

pub fn terminal_id(msg: &Message<'_>) -> Result<TerminalId, Rejected> {
    let id = msg.field_str(41).ok_or(Rejected {
        code: Rc::FormatError,
        reason: "terminal_missing",
    })?;
    let id = id.trim_end();
    if id.is_empty() || id.len() > TerminalId::LEN_MAX {
        return reject(Rc::FormatError, "terminal_malformed");
    }
    Ok(TerminalId(id.to_owned()))
}
