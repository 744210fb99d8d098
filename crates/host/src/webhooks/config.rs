//! What the webhooks are told: endpoints, limits (each a named constant with its unit),
//! the CA bundle for `https://`, and where time and randomness come from.

use super::WebhookError;
use model::TimestampMs;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Endpoints one posguard notifies.
pub const ENDPOINTS_MAX: usize = 64;
/// Events waiting for one endpoint.
pub const QUEUE_DEPTH_MAX_EVENTS: usize = 10_000;
/// Requests made for one event before it is dead-lettered.
pub const ATTEMPTS_MAX: u32 = 8;
/// Backoff after the first failed attempt (doubling after each next one).
pub const BACKOFF_BASE_MS: u64 = 500;
/// Longest backoff, also the cap on a receiver's `Retry-After`.
pub const BACKOFF_MAX_MS: u64 = 60_000;
/// One attempt: connect, TLS, request and the response's head.
pub const REQUEST_TIMEOUT_MS: u64 = 5_000;
/// Largest request body; a larger event is refused by `emit`.
pub const BODY_SIZE_MAX_BYTES: usize = 256 * 1024;
/// Requests in flight to one endpoint: one, so that it sees its events in order.
pub const DELIVERIES_IN_FLIGHT_PER_ENDPOINT: usize = 1;

/// Bounds on queues, attempts and time. The defaults are the constants above.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub queue_depth_max_events: usize,
    pub attempts_max: u32,
    /// Backoff after failed attempt n: `d = min(backoff_max_ms, backoff_base_ms * 2^(n-1))`,
    /// jittered uniformly in `[d/2, d]`.
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    pub request_timeout_ms: u64,
    pub body_size_max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            queue_depth_max_events: QUEUE_DEPTH_MAX_EVENTS,
            attempts_max: ATTEMPTS_MAX,
            backoff_base_ms: BACKOFF_BASE_MS,
            backoff_max_ms: BACKOFF_MAX_MS,
            request_timeout_ms: REQUEST_TIMEOUT_MS,
            body_size_max_bytes: BODY_SIZE_MAX_BYTES,
        }
    }
}

impl Limits {
    pub(super) fn check(&self) -> Result<(), WebhookError> {
        let problem = if !(1..=1_000_000).contains(&self.queue_depth_max_events) {
            "queue_depth_max_events must be 1 to 1,000,000"
        } else if !(1..=100).contains(&self.attempts_max) {
            "attempts_max must be 1 to 100"
        } else if self.backoff_base_ms > self.backoff_max_ms {
            "backoff_base_ms must not exceed backoff_max_ms"
        } else if self.backoff_max_ms > 86_400_000 {
            "backoff_max_ms must be at most a day"
        } else if !(1..=600_000).contains(&self.request_timeout_ms) {
            "request_timeout_ms must be 1 to 600,000"
        } else if !(1..=16 << 20).contains(&self.body_size_max_bytes) {
            "body_size_max_bytes must be 1 to 16 MiB"
        } else {
            return Ok(());
        };
        Err(WebhookError::Limits(problem))
    }
}

/// A receiver of webhooks.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// 1 to 64 of `A-Z a-z 0-9 _ . -`; unique.
    pub id: String,
    /// `http://` or `https://` host\[:port\]\[/path\]\[?query\]; no user info, no fragment.
    pub url: String,
    /// Event types it wants; empty: all.
    #[serde(default)]
    pub events: Vec<String>,
}

impl std::fmt::Debug for Endpoint {
    // The query may hold the receiver's token: Debug shows that there is one, not it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = match self.url.split_once('?') {
            Some((base, _)) => format!("{base}?…"),
            None => self.url.clone(),
        };
        f.debug_struct("Endpoint")
            .field("id", &self.id)
            .field("url", &url)
            .field("events", &self.events)
            .finish()
    }
}

impl Endpoint {
    pub(super) fn wants(&self, event_type: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|e| e == event_type)
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    pub endpoints: Vec<Endpoint>,
    pub limits: Limits,
    /// PEM bundle of the CAs an `https://` endpoint's certificate must chain to (for
    /// instance the system's `/etc/ssl/certs/ca-certificates.crt`); none: `http://` only.
    pub ca_bundle: Option<PathBuf>,
}

/// Where time and randomness come from (tests fix them).
#[derive(Clone, Copy, Debug)]
pub struct Env {
    /// Wall clock: event stamps, signature timestamps, dead letters' `at_ms`.
    pub now_ms: fn() -> TimestampMs,
    /// Seeds the event ids' per-process part and the backoff jitter.
    pub seed: u64,
}

impl Env {
    pub fn system() -> Env {
        Env {
            now_ms: crate::server::now_ms,
            seed: rand::random(),
        }
    }
}
