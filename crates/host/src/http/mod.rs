//! The HTTP JSON API: provisioning, transactions, search, settlement, ledger checks,
//! health, metrics and the OpenAPI document.
//!
//! Every route but `GET /healthz` needs `Authorization: Bearer <token>` (`auth`).
//! Errors are JSON with a stable code (`crate::api_error`); declines are not errors.
//! Architecture Invariant: handlers reach the engine only through `app.pipeline`
//! (writes and live balances) and the store only for reads, via `spawn_blocking`.
//! Architecture Invariant: no clear PAN in any response, log line or error message;
//! a PAN in a request is tokenized (`app.keys`) and dropped in the handler.

mod auth;
mod body;
mod fraud_model;
mod hooks;
mod keys;
mod ledger;
mod openapi;
mod provision;
mod risk;
mod search;
mod security;
mod transactions;
pub(crate) mod views;

use crate::api_error::{ApiError, ErrorKind};
use crate::server::App;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::handler::Handler;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use std::sync::Arc;
use store::{Store, StoreError};
use tokio::net::TcpListener;

pub use openapi::DOCUMENT as OPENAPI_DOCUMENT;

/// Largest request body accepted; a bigger one is answered 413 `payload_too_large`.
pub const BODY_MAX_BYTES: usize = 64 * 1024;

type AppState = Arc<App>;

/// The routes as they are registered, so the router and the list cannot disagree.
struct Routes {
    public: Router<AppState>,
    private: Router<AppState>,
    listed: Vec<(&'static str, &'static str)>,
}

impl Routes {
    fn add<H, T>(&mut self, method: &'static str, path: &'static str, handler: H, public: bool)
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = match method {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            "PUT" => MethodFilter::PUT,
            other => unreachable!("no route uses {other}"),
        };
        let router = if public {
            &mut self.public
        } else {
            &mut self.private
        };
        *router = std::mem::take(router).route(path, on(filter, handler));
        self.listed.push((method, path));
    }

    fn build() -> Routes {
        let mut r = Routes {
            public: Router::new(),
            private: Router::new(),
            listed: Vec::new(),
        };
        r.add("GET", "/healthz", healthz, true);
        r.add("GET", "/metrics", metrics, false);
        r.add("GET", "/openapi.json", openapi::document, false);
        r.add("POST", "/v1/merchants", provision::put_merchant, false);
        r.add("GET", "/v1/merchants", provision::list_merchants, false);
        r.add("GET", "/v1/merchants/{id}", provision::get_merchant, false);
        r.add("POST", "/v1/terminals", provision::put_terminal, false);
        r.add("GET", "/v1/terminals", provision::list_terminals, false);
        r.add("GET", "/v1/terminals/{id}", provision::get_terminal, false);
        r.add(
            "POST",
            "/v1/terminals/{id}/status",
            provision::terminal_status,
            false,
        );
        r.add(
            "PUT",
            "/v1/terminals/{id}/security",
            security::put_profile,
            false,
        );
        r.add(
            "GET",
            "/v1/terminals/{id}/security",
            security::get_profile,
            false,
        );
        r.add("GET", "/v1/security-events", security::list_events, false);
        r.add("PUT", "/v1/terminals/{id}/area", risk::put_area, false);
        r.add("POST", "/v1/keys", keys::import, false);
        r.add("GET", "/v1/keys", keys::list, false);
        r.add("POST", "/v1/keys/rotate-kek", keys::rotate_kek, false);
        r.add("POST", "/v1/vault/rotate", keys::rotate_vault, false);
        r.add("GET", "/v1/webhooks", hooks::get_endpoints, false);
        r.add("PUT", "/v1/webhooks", hooks::put_endpoints, false);
        r.add("POST", "/v1/webhooks/secret", hooks::new_secret, false);
        r.add(
            "GET",
            "/v1/webhooks/dead-letters",
            hooks::dead_letters,
            false,
        );
        r.add("GET", "/v1/rules", risk::get_rules, false);
        r.add("PUT", "/v1/rules", risk::put_rules, false);
        r.add("GET", "/v1/risk/model", fraud_model::get_model, false);
        r.add("PUT", "/v1/risk/model", fraud_model::put_model, false);
        r.add("GET", "/v1/alerts", risk::list_alerts, false);
        r.add("GET", "/v1/cases", risk::list_cases, false);
        r.add("GET", "/v1/cases/{id}", risk::get_case, false);
        r.add("POST", "/v1/cases/{id}/assign", risk::assign, false);
        r.add("POST", "/v1/cases/{id}/comment", risk::comment, false);
        r.add("POST", "/v1/cases/{id}/escalate", risk::escalate, false);
        r.add("POST", "/v1/cases/{id}/close", risk::close, false);
        r.add("POST", "/v1/cards", provision::put_card, false);
        r.add("GET", "/v1/cards/{token}", provision::get_card, false);
        r.add(
            "POST",
            "/v1/cards/{token}/status",
            provision::card_status,
            false,
        );
        r.add("POST", "/v1/transactions", transactions::create, false);
        r.add("GET", "/v1/transactions", search::search, false);
        r.add("GET", "/v1/transactions/{id}", search::get, false);
        r.add(
            "POST",
            "/v1/transactions/{id}/reversal",
            transactions::reverse,
            false,
        );
        r.add("POST", "/v1/settlements", ledger::settle, false);
        r.add("GET", "/v1/ledger/verify", ledger::verify, false);
        r
    }
}

/// Every route as (method, path template), for the OpenAPI check.
pub fn routes() -> Vec<(&'static str, &'static str)> {
    Routes::build().listed
}

/// The API's router, with authentication, error fallbacks and the body limit.
pub fn router(app: Arc<App>) -> Router {
    let r = Routes::build();
    let private = r.private.route_layer(axum::middleware::from_fn_with_state(
        app.clone(),
        auth::require_bearer,
    ));
    r.public
        .merge(private)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_MAX_BYTES))
        .with_state(app)
}

pub async fn serve(listener: TcpListener, app: Arc<App>) {
    if let Err(e) = axum::serve(listener, router(app)).await {
        tracing::error!(error = %e, "serve the HTTP API");
    }
}

/// Serves the API over HTTPS only (HTTP/1.1): axum's `serve` has no TLS, so each
/// connection gets its handshake (bounded by the acceptor's timeout, in its own task)
/// and then hyper's HTTP/1 server with the same router.
pub async fn serve_tls(listener: TcpListener, acceptor: crate::tls::Acceptor, app: Arc<App>) {
    let service = hyper_util::service::TowerToHyperService::new(router(app));
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(error = %e, "accept an HTTPS connection");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let (acceptor, service) = (acceptor.clone(), service.clone());
        tokio::spawn(async move {
            let _ = socket.set_nodelay(true);
            let stream = match acceptor.accept(socket).await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "refuse an HTTPS connection");
                    return;
                }
            };
            let served = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "serve an HTTPS connection");
            }
        });
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Prometheus text exposition format, version 0.0.4.
async fn metrics(State(app): State<AppState>) -> Response {
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    let mut text = app.metrics.render();
    let w = app.hooks.webhooks().stats();
    text.push_str("# HELP posguard_webhook_events_total Webhook deliveries by outcome.\n# TYPE posguard_webhook_events_total counter\n");
    for (outcome, n) in [
        ("delivered", w.delivered),
        ("retried", w.retried),
        ("dead_lettered", w.dead_lettered),
        ("dropped_queue_full", w.dropped_queue_full),
    ] {
        text.push_str(&format!(
            "posguard_webhook_events_total{{outcome=\"{outcome}\"}} {n}\n"
        ));
    }
    ([(header::CONTENT_TYPE, content_type)], text).into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorKind::NotFound)
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(ErrorKind::MethodNotAllowed)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.kind.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut error = serde_json::json!({
            "code": self.kind.code(),
            "message": self.message_en(),
            "message_zh": self.message_zh(),
        });
        if let Some(field) = &self.field {
            error["field"] = serde_json::Value::from(field.as_ref());
        }
        let mut response =
            (status, axum::Json(serde_json::json!({ "error": error }))).into_response();
        if self.kind == ErrorKind::Unauthorized {
            let challenge = header::HeaderValue::from_static("Bearer");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// Runs a blocking store read off the async workers.
/// Refuses (404 `unknown_terminal`) a terminal the engine does not know.
async fn require_terminal(app: &AppState, id: &str) -> Result<(), ApiError> {
    let terminal = model::TerminalId(id.to_owned());
    let known = app
        .pipeline
        .read(move |e| e.terminal(&terminal).is_some())
        .await?;
    if known {
        Ok(())
    } else {
        Err(ApiError::new(ErrorKind::UnknownTerminal))
    }
}

async fn read_store<T, F>(app: &AppState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
{
    let store = app.store.clone();
    match tokio::task::spawn_blocking(move || f(store.as_ref())).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(e) => {
            tracing::error!(error = %e, "run a store read for the HTTP API");
            Err(ApiError::new(ErrorKind::Internal))
        }
    }
}
