//! Terminal security profiles and security events (docs/terminal-security.md).

use super::body::{JsonBody, PathText};
use super::{AppState, read_store};
use crate::api_error::{ApiError, ErrorKind};
use crate::security::events::{EVENT_META_PREFIX, EVENTS_LISTED_MAX, SecurityEvent};
use crate::security::profile::{PROFILE_META_PREFIX, Profile};
use axum::Json;
use axum::extract::State;

type Reply<T> = Result<Json<T>, ApiError>;

/// Sets a terminal's security profile. The terminal must exist; a DUKPT profile's BDK
/// must be in the keystore with usage `bdk`.
pub async fn put_profile(
    State(app): State<AppState>,
    PathText(id): PathText,
    JsonBody(f): JsonBody,
) -> Reply<Profile> {
    let profile: Profile = f.into_document()?;
    profile
        .validate()
        .map_err(|why| ApiError::validation("body", why))?;
    if let Some(bdk) = &profile.bdk
        && !app.bdk_known(bdk)
    {
        return Err(ApiError::validation(
            "bdk",
            "no BDK with this id in the keystore",
        ));
    }
    super::require_terminal(&app, &id).await?;
    let value = serde_json::to_string(&profile).map_err(|_| ApiError::new(ErrorKind::Internal))?;
    app.pipeline
        .set_meta(format!("{PROFILE_META_PREFIX}{id}"), value)
        .await?;
    app.security.set_profile(&id, profile.clone());
    Ok(Json(profile))
}

pub async fn get_profile(State(app): State<AppState>, PathText(id): PathText) -> Reply<Profile> {
    app.security
        .profile(&id)
        .map(|p| Json((*p).clone()))
        .ok_or_else(|| {
            ApiError::with_detail(ErrorKind::NotFound, "the terminal has no security profile")
        })
}

/// The newest security events, oldest first.
pub async fn list_events(State(app): State<AppState>) -> Reply<Vec<SecurityEvent>> {
    let rows = read_store(&app, |s| s.meta_with_prefix(EVENT_META_PREFIX)).await?;
    let skip = rows.len().saturating_sub(EVENTS_LISTED_MAX);
    let events = rows
        .into_iter()
        .skip(skip)
        .filter_map(|(key, value)| match serde_json::from_str(&value) {
            Ok(event) => Some(event),
            Err(e) => {
                tracing::warn!(%key, error = %e, "read a recorded security event");
                None
            }
        })
        .collect();
    Ok(Json(events))
}
