//! Webhooks over the API: the endpoints (replaced whole), a new signing secret (shown
//! once, like the admin token), and the dead letters to replay from.

use super::body::JsonBody;
use super::{AppState, read_store};
use crate::api_error::{ApiError, ErrorKind};
use crate::hooks::{DEAD_META_PREFIX, ENDPOINTS_META_KEY};
use crate::webhooks::{DeadLetter, Endpoint};
use axum::Json;
use axum::extract::State;
use serde::Serialize;

type Reply<T> = Result<Json<T>, ApiError>;

/// Most dead letters listed (the newest).
const DEAD_LISTED_MAX: usize = 1_000;

pub async fn get_endpoints(State(app): State<AppState>) -> Reply<Vec<Endpoint>> {
    Ok(Json(app.hooks.webhooks().endpoints()))
}

/// Replaces the endpoints: `{"endpoints": [{"id", "url", "events": [...]}]}`.
pub async fn put_endpoints(
    State(app): State<AppState>,
    JsonBody(mut f): JsonBody,
) -> Reply<Vec<Endpoint>> {
    let endpoints: Vec<Endpoint> = f
        .opt_object("endpoints")?
        .ok_or_else(|| ApiError::validation("endpoints", "is required"))?;
    f.finish()?;
    app.hooks
        .set_endpoints(endpoints.clone())
        .map_err(|why| ApiError::validation("endpoints", why))?;
    let json = serde_json::to_string(&endpoints).map_err(|_| ApiError::new(ErrorKind::Internal))?;
    app.pipeline
        .set_meta(ENDPOINTS_META_KEY.to_owned(), json)
        .await?;
    Ok(Json(endpoints))
}

#[derive(Serialize)]
pub struct NewSecret {
    /// The signing secret, hex: shown this once; receivers verify with it.
    secret: String,
    kcv: String,
    id: String,
}

/// Makes a new signing secret, signs with it from now on, and shows it once.
pub async fn new_secret(State(app): State<AppState>) -> Reply<NewSecret> {
    let _changing = app.keyring.changes.lock().await;
    let (number, writes) = crate::hooks::new_secret(&app.keyring, crate::server::now_ms())
        .map_err(|e| ApiError::with_detail(ErrorKind::Internal, e.to_string()))?;
    app.pipeline.set_metas(writes).await?;
    app.hooks
        .resign(&app.keyring, number)
        .map_err(|e| ApiError::with_detail(ErrorKind::Internal, e))?;
    let id = format!("{}{number}", crate::hooks::SECRET_KEY_PREFIX);
    let key = app
        .keyring
        .read()
        .hmac(&id, keystore::Usage::Webhook)
        .map_err(|e| ApiError::with_detail(ErrorKind::Internal, e.to_string()))?;
    tracing::info!(%id, kcv = %key.kcv(), "make a webhook signing secret");
    Ok(Json(NewSecret {
        secret: hex::encode(key.expose_bytes()),
        kcv: key.kcv().to_string(),
        id,
    }))
}

/// The newest dead letters, oldest first.
pub async fn dead_letters(State(app): State<AppState>) -> Reply<Vec<DeadLetter>> {
    let rows = read_store(&app, |s| s.meta_with_prefix(DEAD_META_PREFIX)).await?;
    let skip = rows.len().saturating_sub(DEAD_LISTED_MAX);
    Ok(Json(
        rows.into_iter()
            .skip(skip)
            .filter_map(|(_, v)| serde_json::from_str(&v).ok())
            .collect(),
    ))
}
