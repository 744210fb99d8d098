//! Reading transactions back: a filtered, paged search and one transaction with its
//! ledger entries. Both read the store (committed state only).

use super::body::{PathText, choice, parse_txn_id};
use super::views::{EntryView, Page, TxnDetail, TxnView};
use super::{AppState, read_store};
use crate::api_error::{ApiError, ErrorKind};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use model::{CardToken, MerchantId, ResponseCode, TerminalId, TxnKind, TxnStatus};
use serde::Deserialize;
use store::{TXN_QUERY_LIMIT_DEFAULT, TXN_QUERY_LIMIT_MAX, TxnQuery};

/// The query string of `GET /v1/transactions`, as text; `query` checks each value.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    merchant_id: Option<String>,
    terminal_id: Option<String>,
    card_token: Option<String>,
    from_ms: Option<String>,
    to_ms: Option<String>,
    status: Option<String>,
    response_code: Option<String>,
    kind: Option<String>,
    after_id: Option<String>,
    limit: Option<String>,
}

const STATUSES: &[(&str, TxnStatus)] = &[
    ("approved", TxnStatus::Approved),
    ("declined", TxnStatus::Declined),
    ("reversed", TxnStatus::Reversed),
    ("voided", TxnStatus::Voided),
    ("completed", TxnStatus::Completed),
    ("acknowledged", TxnStatus::Acknowledged),
];

const KINDS: &[(&str, TxnKind)] = &[
    ("purchase", TxnKind::Purchase),
    ("pre_auth", TxnKind::PreAuth),
    ("completion", TxnKind::Completion),
    ("refund", TxnKind::Refund),
    ("void", TxnKind::Void),
    ("balance", TxnKind::Balance),
    ("reversal", TxnKind::Reversal),
];

/// An empty parameter (`?status=`) is the same as none.
fn given(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

fn millis(field: &'static str, v: Option<String>) -> Result<Option<i64>, ApiError> {
    given(v)
        .map(|s| {
            s.parse::<i64>()
                .map_err(|_| ApiError::validation(field, "must be Unix milliseconds"))
        })
        .transpose()
}

fn query(p: SearchParams) -> Result<TxnQuery, ApiError> {
    let limit = match given(p.limit) {
        None => TXN_QUERY_LIMIT_DEFAULT,
        Some(s) => s
            .parse()
            .ok()
            .filter(|n| (1..=TXN_QUERY_LIMIT_MAX).contains(n))
            .ok_or_else(|| {
                ApiError::validation(
                    "limit",
                    format!("must be between 1 and {TXN_QUERY_LIMIT_MAX}"),
                )
            })?,
    };
    let response_code = given(p.response_code)
        .map(|s| {
            ResponseCode::from_iso(&s).ok_or_else(|| {
                ApiError::validation(
                    "response_code",
                    "must be a two-character ISO 8583 response code posguard uses",
                )
            })
        })
        .transpose()?;
    let after_id = given(p.after_id)
        .map(|s| {
            parse_txn_id(&s)
                .ok_or_else(|| ApiError::validation("after_id", "must be a transaction id"))
        })
        .transpose()?;
    Ok(TxnQuery {
        merchant_id: given(p.merchant_id).map(MerchantId),
        terminal_id: given(p.terminal_id).map(TerminalId),
        card_token: given(p.card_token).map(CardToken),
        from_ms: millis("from_ms", p.from_ms)?,
        to_ms: millis("to_ms", p.to_ms)?,
        status: given(p.status)
            .map(|s| choice("status", &s, STATUSES))
            .transpose()?,
        response_code,
        kind: given(p.kind)
            .map(|s| choice("kind", &s, KINDS))
            .transpose()?,
        after_id,
        limit,
    })
}

pub async fn search(
    State(app): State<AppState>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<Page<TxnView>>, ApiError> {
    let Query(params) = params.map_err(|_| {
        ApiError::with_detail(
            ErrorKind::BadRequest,
            "query parameters are merchant_id, terminal_id, card_token, from_ms, to_ms, status, \
             response_code, kind, after_id and limit, each at most once",
        )
    })?;
    let q = query(params)?;
    let limit = q.limit as usize;
    let txns = read_store(&app, move |s| s.search_txns(&q)).await?;
    // A full page may have more behind it; a short one is the last.
    let next_after_id = if txns.len() == limit {
        txns.last().map(|t| t.id.to_string())
    } else {
        None
    };
    Ok(Json(Page {
        items: txns.into_iter().map(Into::into).collect(),
        next_after_id,
    }))
}

pub async fn get(
    State(app): State<AppState>,
    PathText(id): PathText,
) -> Result<Json<TxnDetail>, ApiError> {
    let id = parse_txn_id(&id).ok_or(ApiError::new(ErrorKind::NotFound))?;
    let (txn, entries, risk) = read_store(&app, move |s| {
        Ok((s.txn(id)?, s.entries_of(id)?, s.risk_decision(id)?))
    })
    .await?;
    let txn = txn.ok_or(ApiError::new(ErrorKind::NotFound))?;
    Ok(Json(TxnDetail {
        txn: txn.into(),
        entries: entries.into_iter().map(EntryView::from).collect(),
        risk,
    }))
}
