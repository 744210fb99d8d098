//! The fraud model over the API: the one in force (its description, not its trees), and
//! installing a new one (checked in full against the running feature store, made durable
//! in meta, then swapped in: no restart).

use super::AppState;
use crate::api_error::{ApiError, ErrorKind};
use crate::risk::fraud_model::{Active, MODEL_META_KEY, Policy, StoredModel};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use serde::Serialize;
use std::sync::Arc;

/// A model file is larger than other requests (hundreds of trees): its own body limit.
pub const MODEL_BODY_MAX_BYTES: usize = 16 * 1024 * 1024;

#[derive(Serialize)]
pub struct ModelView {
    installed: bool,
    version: u64,
    policy: Option<Policy>,
    inputs: Vec<String>,
    trees: usize,
    training: Option<fraud::model::Training>,
    metrics: Option<fraud::protocol::Metrics>,
}

fn view(active: Option<&Active>) -> ModelView {
    match active {
        None => ModelView {
            installed: false,
            version: 0,
            policy: None,
            inputs: Vec::new(),
            trees: 0,
            training: None,
            metrics: None,
        },
        Some(a) => {
            let f = a.model.file();
            ModelView {
                installed: true,
                version: a.version,
                policy: Some(a.policy),
                inputs: f.inputs.iter().map(|i| i.name.clone()).collect(),
                trees: f.ensemble.trees.len(),
                training: Some(f.training.clone()),
                metrics: f.metrics,
            }
        }
    }
}

fn handle(app: &AppState) -> Result<&crate::risk::RiskHandle, ApiError> {
    app.risk.as_ref().ok_or_else(|| {
        ApiError::with_detail(
            ErrorKind::NotFound,
            "risk control is off (risk.enabled = false)",
        )
    })
}

pub async fn get_model(State(app): State<AppState>) -> Result<Json<ModelView>, ApiError> {
    let h = handle(&app)?;
    let active = h.model.read().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(Json(view(active.as_deref())))
}

/// `{"model": <model file>, "policy": {"review_at": 500, "decline_at": 900}}`.
pub async fn put_model(
    State(app): State<AppState>,
    body: Body,
) -> Result<Json<ModelView>, ApiError> {
    let h = handle(&app)?.clone();
    let bytes = axum::body::to_bytes(body, MODEL_BODY_MAX_BYTES)
        .await
        .map_err(|_| ApiError::new(ErrorKind::PayloadTooLarge))?;
    let mut stored: StoredModel = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::with_detail(ErrorKind::InvalidJson, e.to_string()))?;
    let previous = h.model.read().unwrap_or_else(|e| e.into_inner()).clone();
    stored.version = previous.map_or(1, |a| a.version + 1);
    let json = serde_json::to_string(&stored).map_err(|_| ApiError::new(ErrorKind::Internal))?;
    let active = stored
        .activate(&h.store_config)
        .map_err(|e| ApiError::validation("model", e.to_string()))?;
    app.pipeline
        .set_meta(MODEL_META_KEY.to_owned(), json)
        .await?;
    let active = Arc::new(active);
    *h.model.write().unwrap_or_else(|e| e.into_inner()) = Some(active.clone());
    tracing::info!(version = active.version, "install a fraud model");
    Ok(Json(view(Some(&active))))
}
