//! What the webhooks report: dead letters, counters and errors.

use super::ENDPOINTS_MAX;
use crate::tls::TlsError;
use model::TimestampMs;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Why an event was given up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeadReason {
    /// The receiver refused it for good (4xx other than 408/429, 3xx).
    Rejected,
    /// Every attempt failed (5xx, 408, 429, timeouts, connection errors).
    Exhausted,
    /// The endpoint's queue was full when it was emitted.
    QueueFull,
    /// The endpoint was removed while the event waited for it.
    EndpointRemoved,
}

/// An event that was not delivered to one endpoint.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct DeadLetter {
    pub endpoint_id: String,
    pub event_id: String,
    pub event_type: String,
    /// The JSON body, exactly as it was (or would have been) sent.
    pub body: String,
    pub attempts: u32,
    pub last_error: String,
    pub reason: DeadReason,
    pub at_ms: TimestampMs,
}

impl std::fmt::Debug for DeadLetter {
    // The body is the payload: Debug output can reach logs, so it shows only its size.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetter")
            .field("endpoint_id", &self.endpoint_id)
            .field("event_id", &self.event_id)
            .field("event_type", &self.event_type)
            .field("body_bytes", &self.body.len())
            .field("attempts", &self.attempts)
            .field("last_error", &self.last_error)
            .field("reason", &self.reason)
            .field("at_ms", &self.at_ms)
            .finish()
    }
}

/// Receives dead letters, from `emit` (full queue) and from the delivery tasks. It must
/// neither block nor panic: hand the letter on (e.g. `try_send` to a persisting task).
pub type DeadLetterSink = Arc<dyn Fn(DeadLetter) + Send + Sync>;

/// Counters since start, for the host's metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WebhookStats {
    /// Events a receiver answered with a 2xx.
    pub delivered: u64,
    /// Failed attempts that were followed by another.
    pub retried: u64,
    /// Dead letters handed to the callback, whatever the reason.
    pub dead_lettered: u64,
    /// Of those, events refused by a full queue.
    pub dropped_queue_full: u64,
    /// Events waiting in the queues now (a gauge).
    pub queued: u64,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    #[error("webhook endpoint {id:?}: {problem}")]
    Endpoint { id: String, problem: &'static str },
    #[error("more than {ENDPOINTS_MAX} webhook endpoints")]
    TooManyEndpoints,
    #[error("webhook limits: {0}")]
    Limits(&'static str),
    #[error("webhooks' CA bundle: {0}")]
    Tls(#[from] TlsError),
    #[error("webhooks must start inside a tokio runtime")]
    NoRuntime,
}

/// Why `emit` refused an event (the caller's mistake; nothing was queued).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmitError {
    #[error("event type {0:?} is not 1 to 64 of A-Z a-z 0-9 _ . -")]
    EventType(String),
    #[error("event body of {bytes} bytes exceeds {max} bytes")]
    TooLarge { bytes: usize, max: usize },
}
