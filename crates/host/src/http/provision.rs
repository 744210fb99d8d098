//! Merchants, terminals and cards. Writes go through the pipeline (never straight to
//! the store) so the engine's memory and the store agree; `POST` is an upsert. Reads
//! come from the store, except a card's available balance, which is the engine's.

use super::body::{Fields, JsonBody, PathText, choice};
use super::views::{
    CARD_KINDS, CARD_STATUSES, CardView, MerchantPii, MerchantView, SealedField, TERMINAL_STATUSES,
    TerminalView,
};
use super::{AppState, read_store};
use crate::api_error::{ApiError, ErrorKind};
use crate::pipeline::Provision;
use crate::security::pin::{PIN_META_PREFIX, PinRecord};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use engine::{ProvisionError, ProvisionErrorKind};
use model::{
    Card, CardKind, CardStatus, CardToken, Merchant, MerchantId, Pan, Terminal, TerminalId,
    TerminalStatus,
};
use serde::Deserialize;
use zeroize::Zeroizing;

/// Hex HMAC-SHA256: the only form a card is named by.
const CARD_TOKEN_HEX_LEN: usize = 64;

type Reply<T> = Result<Json<T>, ApiError>;

/// Sends a provisioning write through the engine and maps its refusal.
async fn provision(app: &AppState, what: Provision) -> Result<(), ApiError> {
    app.pipeline.provision(what).await?.map_err(provision_error)
}

fn provision_error(e: ProvisionError) -> ApiError {
    match e.kind {
        ProvisionErrorKind::UnknownMerchant => {
            ApiError::new(ErrorKind::UnknownMerchant).field(e.field)
        }
        _ => ApiError::validation(e.field, e.message),
    }
}

/// Merchants' personal data fields: sealed in the vault, shown masked.
pub const PERSONAL_DATA_FIELDS: [&str; 3] = ["id_number", "licence_number", "bank_account"];
/// Longest personal-data value accepted (characters).
const PERSONAL_DATA_CHARS_MAX: usize = 64;

pub async fn put_merchant(
    State(app): State<AppState>,
    JsonBody(mut f): JsonBody,
) -> Reply<MerchantView> {
    let mut personal = Vec::new();
    for field in PERSONAL_DATA_FIELDS {
        if let Some(value) = f.opt_string(field)? {
            let value = Zeroizing::new(value);
            let ok = !value.is_empty()
                && value.chars().count() <= PERSONAL_DATA_CHARS_MAX
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ' ');
            if !ok {
                return Err(ApiError::validation(
                    field,
                    "must be 1 to 64 letters, digits, spaces or dashes",
                ));
            }
            personal.push((field, value));
        }
    }
    let merchant = Merchant {
        id: MerchantId(f.string("id")?),
        name: f.string("name")?,
        mcc: f.string("mcc")?,
        currency: f.currency("currency")?,
        fee_bps: u32::try_from(f.int("fee_bps")?)
            .map_err(|_| ApiError::validation("fee_bps", "must be between 0 and 1000"))?,
    };
    f.finish()?;
    provision(&app, Provision::Merchant(merchant.clone())).await?;
    let id = merchant.id.0.clone();
    let mut record = merchant_pii(&app, &id).await?.unwrap_or_default();
    if !personal.is_empty() {
        for (field, value) in personal {
            let sealed = app
                .vault
                .seal(&crate::vault::pii_binding(&id, field), value.as_bytes());
            let masked = crate::vault::mask(&value);
            record
                .fields
                .insert(field.to_owned(), SealedField { sealed, masked });
        }
        let value =
            serde_json::to_string(&record).map_err(|_| ApiError::new(ErrorKind::Internal))?;
        app.pipeline
            .set_meta(format!("{}{id}", crate::vault::PII_META_PREFIX), value)
            .await?;
    }
    Ok(Json(
        MerchantView::from(merchant).with_personal_data(Some(&record)),
    ))
}

/// A merchant's sealed personal data, if any.
async fn merchant_pii(app: &AppState, id: &str) -> Result<Option<MerchantPii>, ApiError> {
    let key = format!("{}{id}", crate::vault::PII_META_PREFIX);
    let stored = read_store(app, move |s| s.meta_get(&key)).await?;
    Ok(stored.and_then(|v| serde_json::from_str(&v).ok()))
}

pub async fn list_merchants(State(app): State<AppState>) -> Reply<Vec<MerchantView>> {
    let (merchants, pii) = read_store(&app, |s| {
        Ok((
            s.merchants()?,
            s.meta_with_prefix(crate::vault::PII_META_PREFIX)?,
        ))
    })
    .await?;
    let pii: std::collections::HashMap<String, MerchantPii> = pii
        .into_iter()
        .filter_map(|(k, v)| {
            let id = k.strip_prefix(crate::vault::PII_META_PREFIX)?.to_owned();
            Some((id, serde_json::from_str(&v).ok()?))
        })
        .collect();
    Ok(Json(
        merchants
            .into_iter()
            .map(|m| {
                let record = pii.get(&m.id.0);
                MerchantView::from(m).with_personal_data(record)
            })
            .collect(),
    ))
}

pub async fn get_merchant(
    State(app): State<AppState>,
    PathText(id): PathText,
) -> Reply<MerchantView> {
    let pii = merchant_pii(&app, &id).await?;
    let merchant = read_store(&app, move |s| s.merchant(&MerchantId(id))).await?;
    let merchant = merchant.ok_or(ApiError::new(ErrorKind::UnknownMerchant))?;
    Ok(Json(
        MerchantView::from(merchant).with_personal_data(pii.as_ref()),
    ))
}

fn terminal_status_field(f: &mut Fields) -> Result<Option<TerminalStatus>, ApiError> {
    f.opt_string("status")?
        .map(|s| choice("status", &s, TERMINAL_STATUSES))
        .transpose()
}

pub async fn put_terminal(
    State(app): State<AppState>,
    JsonBody(mut f): JsonBody,
) -> Reply<TerminalView> {
    let terminal = Terminal {
        id: TerminalId(f.string("id")?),
        merchant_id: MerchantId(f.string("merchant_id")?),
        status: terminal_status_field(&mut f)?.unwrap_or(TerminalStatus::Active),
        floor_limit_minor: f.opt_int("floor_limit_minor")?.unwrap_or(0),
    };
    f.finish()?;
    provision(&app, Provision::Terminal(terminal.clone())).await?;
    Ok(Json(terminal.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalFilter {
    merchant_id: Option<String>,
}

pub async fn list_terminals(
    State(app): State<AppState>,
    query: Result<Query<TerminalFilter>, QueryRejection>,
) -> Reply<Vec<TerminalView>> {
    let Query(filter) = query.map_err(|_| {
        ApiError::with_detail(
            ErrorKind::BadRequest,
            "the only query parameter is merchant_id",
        )
    })?;
    let merchant = filter.merchant_id.filter(|m| !m.is_empty()).map(MerchantId);
    let terminals = read_store(&app, move |s| s.terminals(merchant.as_ref())).await?;
    Ok(Json(terminals.into_iter().map(Into::into).collect()))
}

pub async fn get_terminal(
    State(app): State<AppState>,
    PathText(id): PathText,
) -> Reply<TerminalView> {
    let terminal = read_store(&app, move |s| s.terminal(&TerminalId(id))).await?;
    Ok(Json(
        terminal
            .ok_or(ApiError::new(ErrorKind::UnknownTerminal))?
            .into(),
    ))
}

/// Changes a terminal's status, keeping the rest as the engine has it.
pub async fn terminal_status(
    State(app): State<AppState>,
    PathText(id): PathText,
    JsonBody(mut f): JsonBody,
) -> Reply<TerminalView> {
    let status = terminal_status_field(&mut f)?
        .ok_or_else(|| ApiError::validation("status", "is required"))?;
    f.finish()?;
    let id = TerminalId(id);
    let current = app.pipeline.read(move |e| e.terminal(&id).cloned()).await?;
    let mut terminal = current.ok_or(ApiError::new(ErrorKind::UnknownTerminal))?;
    terminal.status = status;
    provision(&app, Provision::Terminal(terminal.clone())).await?;
    Ok(Json(terminal.into()))
}

fn card_status_field(f: &mut Fields) -> Result<Option<CardStatus>, ApiError> {
    f.opt_string("status")?
        .map(|s| choice("status", &s, CARD_STATUSES))
        .transpose()
}

/// Adds or changes a card. The PAN is tokenized and dropped here: only its token and
/// masked form go on.
pub async fn put_card(State(app): State<AppState>, JsonBody(mut f): JsonBody) -> Reply<CardView> {
    let pan_text = Zeroizing::new(f.string("pan")?);
    let pan = Pan::parse(&pan_text).map_err(|e| ApiError::validation("pan", e.to_string()))?;
    if !pan.luhn_valid() {
        return Err(ApiError::validation("pan", "fails the Luhn check"));
    }
    let kind = f
        .opt_string("kind")?
        .map(|k| choice("kind", &k, CARD_KINDS))
        .transpose()?;
    let pin_record = card_pin_record(&app, &mut f, &pan)?;
    let card = Card {
        token: app.keys.token(&pan),
        masked: pan.masked(),
        expiry: f.string("expiry")?,
        status: card_status_field(&mut f)?.unwrap_or(CardStatus::Active),
        kind: kind.unwrap_or(CardKind::Debit),
        currency: f.currency("currency")?,
        limit_minor: f.int("limit_minor")?,
        daily_limit_minor: f.int("daily_limit_minor")?,
    };
    f.finish()?;
    drop(pan);
    provision(&app, Provision::Card(card.clone())).await?;
    if let Some(record) = pin_record {
        let value =
            serde_json::to_string(&record).map_err(|_| ApiError::new(ErrorKind::Internal))?;
        let key = format!("{PIN_META_PREFIX}{}", card.token.0);
        app.pipeline.set_meta(key, value).await?;
        app.security.set_pin(&card.token.0, record);
    }
    card_view(&app, card).await
}

/// A card's PIN verification record: from `"pin"` (the host computes the Visa PVV and
/// keeps only that) or from `"pin_verification"` (a PVV or IBM 3624 offset the issuer
/// computed). The clear PIN is dropped (zeroized) here.
fn card_pin_record(
    app: &AppState,
    f: &mut Fields,
    pan: &Pan,
) -> Result<Option<PinRecord>, ApiError> {
    let given: Option<PinRecord> = f.opt_object("pin_verification")?;
    let pin = f.opt_string("pin")?.map(Zeroizing::new);
    match (given, pin) {
        (Some(_), Some(_)) => Err(ApiError::validation(
            "pin",
            "give either pin or pin_verification, not both",
        )),
        (Some(record), None) => {
            record
                .validate()
                .map_err(|why| ApiError::validation("pin_verification", why))?;
            Ok(Some(record))
        }
        (None, Some(text)) => {
            let pin = paycrypto::Pin::new(&text)
                .map_err(|_| ApiError::validation("pin", "must be 4 to 12 digits"))?;
            let pan = paycrypto::Pan::new(pan.expose())
                .map_err(|_| ApiError::validation("pan", "is not a PAN a PIN can be bound to"))?;
            let keys = app.security.pin_keys();
            let pvk = keys
                .pvv
                .require(crate::security::pin::PVV_USAGE)
                .map_err(|_| ApiError::new(ErrorKind::Internal))?;
            let record = PinRecord::pvv_of(pvk, &pan, &pin)
                .map_err(|why| ApiError::validation("pin", why))?;
            Ok(Some(record))
        }
        (None, None) => Ok(None),
    }
}

async fn card_view(app: &AppState, card: Card) -> Reply<CardView> {
    let token = card.token.clone();
    let available = app.pipeline.read(move |e| e.card_available(&token)).await?;
    Ok(Json(CardView::new(card, available)))
}

fn card_token(text: String) -> Result<CardToken, ApiError> {
    let hex = text.len() == CARD_TOKEN_HEX_LEN && text.bytes().all(|b| b.is_ascii_hexdigit());
    if hex {
        Ok(CardToken(text))
    } else {
        Err(ApiError::new(ErrorKind::UnknownCard))
    }
}

pub async fn get_card(State(app): State<AppState>, PathText(token): PathText) -> Reply<CardView> {
    let token = card_token(token)?;
    let card = read_store(&app, move |s| s.card(&token)).await?;
    card_view(&app, card.ok_or(ApiError::new(ErrorKind::UnknownCard))?).await
}

pub async fn card_status(
    State(app): State<AppState>,
    PathText(token): PathText,
    JsonBody(mut f): JsonBody,
) -> Reply<CardView> {
    let status =
        card_status_field(&mut f)?.ok_or_else(|| ApiError::validation("status", "is required"))?;
    f.finish()?;
    let token = card_token(token)?;
    let current = app.pipeline.read(move |e| e.card(&token).cloned()).await?;
    let mut card = current.ok_or(ApiError::new(ErrorKind::UnknownCard))?;
    card.status = status;
    provision(&app, Provision::Card(card.clone())).await?;
    card_view(&app, card).await
}
