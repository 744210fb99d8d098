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
        Ok(Some(id)) => {
            let mut req = req;
            req.extensions_mut().insert(Actor(id));
            next.run(req).await
        }
        Ok(None) => unauthorized("the token is not known"),
        Err(e) => e.into_response(),
    }
}

/// Who made an API request: the id of its bearer token (recorded on case steps).
#[derive(Clone, Debug)]
pub struct Actor(pub String);

fn unauthorized(detail: &'static str) -> Response {
    ApiError::with_detail(ErrorKind::Unauthorized, detail).into_response()
}

/// Whether the store holds a token with this hash. Only positive answers are cached:
/// a token added later must work at once, and revocation is a restart (the cache is
/// in memory only).
async fn known(app: &AppState, hash: String) -> Result<Option<String>, ApiError> {
    let cached = app
        .token_hashes
        .read()
        .ok()
        .and_then(|set| set.get(&hash).cloned());
    if cached.is_some() {
        return Ok(cached);
    }
    let lookup = hash.clone();
    let found = super::read_store(app, move |s| s.api_token_by_hash(&lookup))
        .await?
        .map(|t| t.id);
    if let (Some(id), Ok(mut set)) = (&found, app.token_hashes.write()) {
        set.insert(hash, id.clone());
    }
    Ok(found)
}
