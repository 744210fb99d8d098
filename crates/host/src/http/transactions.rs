//! Transactions over HTTP. A request is keyed by `IdemKey::Api { terminal, key }`
//! (the `Idempotency-Key` header, scoped to the terminal): a repeat gets the first
//! answer again with `duplicate: true` and no second effect; the same key for a
//! different request is 409 `idempotency_key_reused`.
//!
//! API transactions have no STAN and no transmission time (ISO fields 11 and 7): their
//! records carry empty strings there. That keeps them out of the link's key space, and
//! nothing needs them: API messages name their originals by id (RRN), never by key.
//!
//! Declines are answers (HTTP 200, `approved: false`), as on the link.

use super::AppState;
use super::body::{Fields, JsonBody, PathText, choice, idempotency_key, parse_txn_id, printable};
use crate::api_error::{ApiError, ErrorKind};
use crate::keys::CardKeys;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use engine::{AMOUNT_MAX_MINOR, Answer, CardInput, MsgClass, OriginalRef, Request};
use model::{CardToken, Currency, IdemKey, MerchantId, Money, Pan, TerminalId, TxnId, TxnKind};
use serde::Serialize;
use zeroize::Zeroizing;

/// Whether a request field is needed by a kind of transaction.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    Required,
    Optional,
    Refused,
}

/// What each kind of API transaction is, in ISO terms, and which fields it takes.
#[derive(Clone, Copy)]
struct Rules {
    kind: TxnKind,
    class: MsgClass,
    /// The MTI recorded for it: what a terminal would have sent.
    mti: &'static str,
    amount: Need,
    card: Need,
    original: Need,
}

const fn rules(kind: TxnKind, class: MsgClass, mti: &'static str, needs: [Need; 3]) -> Rules {
    Rules {
        kind,
        class,
        mti,
        amount: needs[0],
        card: needs[1],
        original: needs[2],
    }
}

use Need::{Optional as Opt, Refused as No, Required as Req};

/// Needs are [amount_minor, pan, original_id]. A balance inquiry is an authorization
/// (0100), as terminals usually send it.
#[rustfmt::skip]
const KINDS: &[(&str, Rules)] = &[
    ("purchase", rules(TxnKind::Purchase, MsgClass::Financial, "0200", [Req, Req, No])),
    ("pre_auth", rules(TxnKind::PreAuth, MsgClass::Authorization, "0100", [Req, Req, No])),
    ("completion", rules(TxnKind::Completion, MsgClass::Financial, "0200", [Req, No, Req])),
    ("refund", rules(TxnKind::Refund, MsgClass::Financial, "0200", [Req, Opt, Req])),
    ("void", rules(TxnKind::Void, MsgClass::Financial, "0200", [Opt, No, Req])),
    ("balance", rules(TxnKind::Balance, MsgClass::Authorization, "0100", [No, Req, No])),
];

/// The engine's answer as JSON.
#[derive(Serialize)]
pub struct AnswerView {
    txn_id: Option<String>,
    rrn: Option<String>,
    response_code: &'static str,
    approved: bool,
    message: &'static str,
    message_zh: &'static str,
    auth_code: Option<String>,
    balance_minor: Option<i64>,
    duplicate: bool,
    reason: &'static str,
}

impl From<Answer> for AnswerView {
    fn from(a: Answer) -> AnswerView {
        AnswerView {
            txn_id: a.txn_id.map(|id| id.to_string()),
            rrn: a.txn_id.map(TxnId::rrn),
            response_code: a.code.iso(),
            approved: a.code.is_approved(),
            message: a.code.text_en(),
            message_zh: a.code.text_zh(),
            auth_code: a.auth_code,
            balance_minor: a.balance_minor,
            duplicate: a.duplicate,
            reason: a.reason,
        }
    }
}

type Reply = Result<Json<AnswerView>, ApiError>;

fn need<T>(
    field: &'static str,
    need: Need,
    value: Option<T>,
    kind: &str,
) -> Result<Option<T>, ApiError> {
    match (need, &value) {
        (Need::Required, None) => Err(ApiError::validation(
            field,
            format!("is required for {kind}"),
        )),
        (Need::Refused, Some(_)) => Err(ApiError::validation(
            field,
            format!("is not taken by {kind}"),
        )),
        _ => Ok(value),
    }
}

/// A transaction request body, checked for shape; the engine decides the rest.
struct TxnInput {
    rules: Rules,
    terminal: TerminalId,
    merchant: Option<MerchantId>,
    amount: Option<i64>,
    currency: Option<Currency>,
    card: Option<CardInput>,
    original: Option<TxnId>,
    location: Option<(i32, i32)>,
    operator: Option<String>,
}

/// A mobile terminal's position in the API (`"location": {"lat_e6": .., "lon_e6": ..}`).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Position {
    lat_e6: i32,
    lon_e6: i32,
}

impl TxnInput {
    fn parse(f: &mut Fields, keys: &CardKeys) -> Result<TxnInput, ApiError> {
        let terminal = f.string("terminal_id")?;
        printable("terminal_id", &terminal, TerminalId::LEN_MAX)?;
        let merchant = f.opt_string("merchant_id")?;
        if let Some(m) = &merchant {
            printable("merchant_id", m, MerchantId::LEN_MAX)?;
        }
        let kind = f.string("kind")?;
        let rules = choice("kind", &kind, KINDS)?;
        let amount = need(
            "amount_minor",
            rules.amount,
            f.opt_int("amount_minor")?,
            &kind,
        )?;
        if amount.is_some_and(|a| !(1..=AMOUNT_MAX_MINOR).contains(&a)) {
            return Err(ApiError::validation(
                "amount_minor",
                "must be between 1 and 999999999999",
            ));
        }
        let currency = f.opt_currency("currency")?;
        let no_amount = if rules.amount == Need::Refused {
            Need::Refused
        } else {
            Need::Optional
        };
        need("currency", no_amount, currency, &kind)?;
        let card = card(f, keys, rules.card, &kind)?;
        let operator = f.opt_string("operator")?;
        if let Some(o) = &operator {
            printable("operator", o, engine::OPERATOR_LEN_MAX)?;
        }
        let location = match f.opt_object::<Position>("location")? {
            Some(p) if risk::GeoPoint::new(p.lat_e6, p.lon_e6).is_some() => {
                Some((p.lat_e6, p.lon_e6))
            }
            Some(_) => {
                return Err(ApiError::validation(
                    "location",
                    "lat_e6 must be within ±90000000 and lon_e6 within ±180000000",
                ));
            }
            None => None,
        };
        let original = need(
            "original_id",
            rules.original,
            f.opt_txn_id("original_id")?,
            &kind,
        )?;
        f.finish()?;
        Ok(TxnInput {
            rules,
            terminal: TerminalId(terminal),
            merchant: merchant.map(MerchantId),
            amount,
            currency,
            card,
            original,
            location,
            operator,
        })
    }

    fn into_request(self, key: String, currency: Currency) -> Request {
        Request {
            mti: self.rules.mti.to_owned(),
            class: self.rules.class,
            kind: self.rules.kind,
            key: IdemKey::Api {
                terminal: self.terminal.clone(),
                key,
            },
            terminal_id: self.terminal,
            merchant_id: self.merchant,
            stan: String::new(),
            transmitted: String::new(),
            card: self.card,
            amount: self.amount.map(|minor| Money::new(minor, currency)),
            original: self.original.map(OriginalRef::Rrn),
            location: self.location,
            operator: self.operator,
        }
    }
}

/// The card from `pan` and `expiry`: tokenized here, the clear PAN zeroized on return.
/// A Luhn-invalid PAN is passed on (flagged) so the engine declines it with 14.
fn card(
    f: &mut Fields,
    keys: &CardKeys,
    needed: Need,
    kind: &str,
) -> Result<Option<CardInput>, ApiError> {
    let pan_text = f.opt_string("pan")?.map(Zeroizing::new);
    let expiry = f.opt_string("expiry")?;
    let entry_mode = f.opt_string("entry_mode")?;
    let Some(pan_text) = need("pan", needed, pan_text, kind)? else {
        need(
            "entry_mode",
            Need::Refused,
            entry_mode,
            "a request without pan",
        )?;
        return need("expiry", Need::Refused, expiry, "a request without pan").map(|_| None);
    };
    if entry_mode
        .as_deref()
        .is_some_and(|m| m.len() != 3 || !m.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ApiError::validation(
            "entry_mode",
            "must be 3 digits (ISO 8583 field 22, e.g. 051 chip, 801 fallback)",
        ));
    }
    if expiry
        .as_deref()
        .is_some_and(|e| engine::parse_yymm(e).is_none())
    {
        return Err(ApiError::validation("expiry", "must be YYMM"));
    }
    let pan = Pan::parse(&pan_text).map_err(|e| ApiError::validation("pan", e.to_string()))?;
    Ok(Some(CardInput {
        token: keys.token(&pan),
        masked: pan.masked(),
        luhn_ok: pan.luhn_valid(),
        expiry,
        pin: engine::PinCheck::NotPresent,
        entry_mode,
    }))
}

pub async fn create(
    State(app): State<AppState>,
    headers: HeaderMap,
    JsonBody(mut f): JsonBody,
) -> Reply {
    let key = idempotency_key(&headers)?;
    let input = TxnInput::parse(&mut f, &app.keys)?;
    let currency = match (input.currency, input.amount) {
        (Some(c), _) => c,
        (None, Some(_)) => merchant_currency(&app, input.terminal.clone()).await?,
        // Not used: a request without an amount carries no currency.
        (None, None) => Currency(app.config.link.default_currency),
    };
    decide(&app, input.into_request(key, currency)).await
}

/// The currency of the terminal's merchant, for a request that names none.
async fn merchant_currency(app: &AppState, terminal: TerminalId) -> Result<Currency, ApiError> {
    let found = app
        .pipeline
        .read(move |e| {
            e.terminal(&terminal)
                .and_then(|t| e.merchant(&t.merchant_id))
                .map(|m| m.currency)
        })
        .await?;
    // An unknown terminal is the engine's to answer (58); any currency will do for that.
    Ok(found.unwrap_or(Currency(app.config.link.default_currency)))
}

/// Reverses a transaction by id, on the original's terminal.
pub async fn reverse(
    State(app): State<AppState>,
    PathText(id): PathText,
    headers: HeaderMap,
) -> Reply {
    let key = idempotency_key(&headers)?;
    let id = parse_txn_id(&id).ok_or(ApiError::new(ErrorKind::NotFound))?;
    let parties = app
        .pipeline
        .read(move |e| {
            e.txn(id)
                .map(|t| (t.terminal_id.clone(), t.merchant_id.clone()))
        })
        .await?;
    let (terminal, merchant) = parties.ok_or(ApiError::new(ErrorKind::NotFound))?;
    let req = Request {
        mti: "0400".to_owned(),
        class: MsgClass::Reversal,
        kind: TxnKind::Reversal,
        key: IdemKey::Api {
            terminal: terminal.clone(),
            key,
        },
        terminal_id: terminal,
        merchant_id: Some(merchant),
        stan: String::new(),
        transmitted: String::new(),
        card: None,
        amount: None,
        original: Some(OriginalRef::Rrn(id)),
        location: None,
        operator: None,
    };
    decide(&app, req).await
}

/// What a repeat must match besides kind and amount (which the engine compares).
struct Facts {
    card: Option<CardToken>,
    original: Option<TxnId>,
    currency: Option<Currency>,
}

impl Facts {
    fn of(req: &Request) -> Facts {
        let takes_currency = matches!(
            req.kind,
            TxnKind::Purchase | TxnKind::PreAuth | TxnKind::Completion | TxnKind::Refund
        );
        Facts {
            card: req.card.as_ref().map(|c| c.token.clone()),
            original: match req.original {
                Some(OriginalRef::Rrn(id)) => Some(id),
                _ => None,
            },
            currency: req.amount.filter(|_| takes_currency).map(|m| m.currency),
        }
    }
}

async fn decide(app: &AppState, req: Request) -> Reply {
    let facts = Facts::of(&req);
    let answer = app.pipeline.authorize(req).await?;
    if let Some(kind) = ErrorKind::of_answer(answer.code) {
        return Err(ApiError::with_detail(
            kind,
            "with a different kind or amount",
        ));
    }
    if answer.duplicate
        && let Some(id) = answer.txn_id
    {
        same_request(app, id, facts).await?;
    }
    Ok(Json(answer.into()))
}

/// The engine compares a repeat's kind and amount; the API also holds the key to the
/// card, the original and the currency, as a client would expect of a key.
async fn same_request(app: &AppState, id: TxnId, facts: Facts) -> Result<(), ApiError> {
    let Some(first) = app.pipeline.read(move |e| e.txn(id).cloned()).await? else {
        return Ok(());
    };
    let card_differs = facts
        .card
        .is_some_and(|c| first.card_token.as_ref() != Some(&c));
    let original_differs = facts
        .original
        .zip(first.original_id)
        .is_some_and(|(a, b)| a != b);
    let currency_differs = facts.currency.is_some_and(|c| c != first.currency);
    if card_differs || original_differs || currency_differs {
        return Err(ApiError::with_detail(
            ErrorKind::IdempotencyKeyReused,
            "with a different card, original or currency",
        ));
    }
    Ok(())
}
