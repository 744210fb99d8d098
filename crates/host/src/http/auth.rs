//! Bearer tokens. The store keeps only the SHA-256 of each token; a hash it has
//! confirmed once is cached in `app.token_hashes`, so a request costs one hash and a
//! read lock. Tokens are never logged; a failed attempt logs nothing about the token.

use super::AppState;
use crate::api_error::{ApiError, ErrorKind};
use crate::server::sha256_hex;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Longest bearer token looked at; posguard's are 52 characters.
const TOKEN_LEN_MAX: usize = 256;

pub async fn require_bearer(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty() && t.len() <= TOKEN_LEN_MAX);
    let Some(token) = token else {
        return unauthorized("send Authorization: Bearer <token>");
    };
    match known(&app, sha256_hex(token)).await {
        Ok(true) => next.run(req).await,
        Ok(false) => unauthorized("the token is not known"),
        Err(e) => e.into_response(),
    }
}

fn unauthorized(detail: &'static str) -> Response {
    ApiError::with_detail(ErrorKind::Unauthorized, detail).into_response()
}

/// Whether the store holds a token with this hash. Only positive answers are cached:
/// a token added later must work at once, and revocation is a restart (the cache is
/// in memory only).
async fn known(app: &AppState, hash: String) -> Result<bool, ApiError> {
    let cached = app.token_hashes.read().is_ok_and(|set| set.contains(&hash));
    if cached {
        return Ok(true);
    }
    let lookup = hash.clone();
    let found = super::read_store(app, move |s| s.api_token_by_hash(&lookup))
        .await?
        .is_some();
    if found && let Ok(mut set) = app.token_hashes.write() {
        set.insert(hash);
    }
    Ok(found)
}
