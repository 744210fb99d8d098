//! Signed webhooks: outside systems hear about alerts and case changes, and a receiver
//! that hangs or fails never slows an authorization.
//!
//! [`Webhooks::emit`] is synchronous and never waits: it stamps the event (id, time),
//! serializes it once and offers it to the bounded queue of every endpoint that wants its
//! type. One task per endpoint delivers that endpoint's queue in order, one request at a
//! time, with retries and backoff; what cannot be delivered goes to the dead-letter
//! callback, which the host persists and lists. Nothing here persists anything.
//!
//! # The request
//!
//! `POST <url>` with the JSON body
//! `{"id":"evt_…","type":"case.updated","created_ms":1700000000000,"data":{…}}` and:
//!
//! | header | value |
//! | --- | --- |
//! | `Content-Type` | `application/json` |
//! | `X-Posguard-Event` | the event type |
//! | `X-Posguard-Delivery` | the event id (the same on every attempt: deduplicate by it) |
//! | `X-Posguard-Timestamp` | Unix time in seconds when this attempt was signed |
//! | `X-Posguard-Signature` | `sha256=` and the lowercase hex HMAC-SHA256 described below |
//!
//! # The signature
//!
//! `HMAC-SHA256(secret, timestamp + "." + body)`, where `timestamp` is the
//! `X-Posguard-Timestamp` header's text and `body` the raw request body exactly as
//! received (before any JSON parsing). Every attempt is signed anew with its own
//! timestamp. A receiver recomputes the HMAC, compares it in constant time and rejects
//! a timestamp more than [`SIGNATURE_TOLERANCE_SECS`] from its own clock (a replay);
//! [`verify_signature`] does exactly that.
//!
//! # Outcomes
//!
//! Any 2xx is delivered. A 4xx other than 408 and 429, a 3xx (redirects are not followed)
//! or a 1xx is permanent: the event is dead-lettered at once. A 5xx, 408, 429, a timeout
//! or a connection error is retried after a backoff (see [`Limits`]), or after the
//! `Retry-After` seconds the receiver asked for if that is longer (capped), until
//! `attempts_max` attempts; then it is dead-lettered. Delivery is at least once.
//! An endpoint sees its events in the order they were emitted; a dead-lettered event
//! leaves a gap there and is found in the dead-letter list.
//!
//! # Full queues
//!
//! A full queue refuses the *new* event: it goes straight to the dead-letter callback
//! (reason [`DeadReason::QueueFull`], 0 attempts) and is counted in `dropped_queue_full`.
//! What is already queued keeps its order, and nothing vanishes: the dead-letter list is
//! where an operator replays from.
//!
//! Architecture Invariant: `emit` does no I/O and never awaits; a receiver's behaviour
//! costs the caller a bounded `try_send` per endpoint.
//! Architecture Invariant: the signing secret appears in no Debug output, log line or
//! error. Logs name endpoint ids and event ids, never payloads or URLs (a URL may carry a
//! receiver's token).

mod client;
mod config;
mod deliver;
mod endpoint;
mod event;
mod outcome;
mod signature;

pub use config::{
    ATTEMPTS_MAX, BACKOFF_BASE_MS, BACKOFF_MAX_MS, BODY_SIZE_MAX_BYTES,
    DELIVERIES_IN_FLIGHT_PER_ENDPOINT, ENDPOINTS_MAX, Endpoint, Env, Limits,
    QUEUE_DEPTH_MAX_EVENTS, REQUEST_TIMEOUT_MS, WebhookConfig,
};
pub use endpoint::{EVENT_TYPE_MAX_BYTES, is_event_type};
pub use outcome::{DeadLetter, DeadLetterSink, DeadReason, EmitError, WebhookError, WebhookStats};
pub use signature::{
    SIGNATURE_PREFIX, SIGNATURE_TOLERANCE_SECS, signature_header, verify_signature,
};

use crate::tls::{ClientTls, Pem, TlsError};
use deliver::Worker;
use endpoint::Target;
use event::{Event, EventIds};
use model::TimestampMs;
use paycrypto::HmacKey;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, PoisonError, RwLock};
use tokio::sync::{mpsc, watch};

#[derive(Default)]
struct Counters {
    delivered: AtomicU64,
    retried: AtomicU64,
    dead_lettered: AtomicU64,
    dropped_queue_full: AtomicU64,
}

/// What the delivery tasks share with `emit`.
struct Shared {
    secret: HmacKey,
    limits: Limits,
    now_ms: fn() -> TimestampMs,
    dead_letters: DeadLetterSink,
    counters: Counters,
    /// For `https://` endpoints: the configured CA bundle's roots, HTTP/1.1 by ALPN.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Shared {
    fn dead_letter(
        &self,
        endpoint_id: &str,
        event: &Event,
        attempts: u32,
        reason: DeadReason,
        last_error: String,
    ) {
        self.counters.dead_lettered.fetch_add(1, Relaxed);
        if reason == DeadReason::QueueFull {
            self.counters.dropped_queue_full.fetch_add(1, Relaxed);
        }
        (self.dead_letters)(DeadLetter {
            endpoint_id: endpoint_id.to_owned(),
            event_id: event.id.clone(),
            event_type: event.event_type.clone(),
            body: String::from_utf8_lossy(&event.body).into_owned(),
            attempts,
            last_error,
            reason,
            at_ms: (self.now_ms)(),
        });
    }
}

/// One endpoint's queue and target, shared by every `Route` that names it.
struct Channel {
    queue: mpsc::Sender<Arc<Event>>,
    /// The endpoint's current address; `None` once it is removed.
    target: watch::Sender<Option<Arc<Target>>>,
    /// A full queue is logged once until the endpoint delivers again.
    full_logged: Arc<AtomicBool>,
}

struct Route {
    endpoint: Endpoint,
    channel: Arc<Channel>,
}

/// The webhook sender: `emit` from anywhere, one delivery task per endpoint. Dropping
/// it lets each task finish the queue it holds; `set_endpoints(vec![])` stops them and
/// dead-letters what they held.
pub struct Webhooks {
    shared: Arc<Shared>,
    routes: RwLock<Arc<Vec<Route>>>,
    ids: EventIds,
    runtime: tokio::runtime::Handle,
    seed: u64,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("endpoints", &self.endpoints())
            .field("limits", &self.shared.limits)
            .finish_non_exhaustive()
    }
}

impl Webhooks {
    /// Checks the configuration and starts one delivery task per endpoint on the current
    /// tokio runtime. `secret` signs every request.
    pub fn start(
        config: WebhookConfig,
        secret: HmacKey,
        dead_letters: DeadLetterSink,
        env: Env,
    ) -> Result<Webhooks, WebhookError> {
        config.limits.check()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| WebhookError::NoRuntime)?;
        let tls = match &config.ca_bundle {
            Some(path) => Some(client_tls(&Pem::read(path)?)?),
            None => None,
        };
        let shared = Arc::new(Shared {
            secret,
            limits: config.limits,
            now_ms: env.now_ms,
            dead_letters,
            counters: Counters::default(),
            tls,
        });
        let webhooks = Webhooks {
            shared,
            routes: RwLock::new(Arc::new(Vec::new())),
            ids: EventIds::new(env.seed),
            runtime,
            seed: env.seed,
        };
        webhooks.set_endpoints(config.endpoints)?;
        Ok(webhooks)
    }

    /// Offers an event to every endpoint that wants `event_type`, and returns its id.
    /// Never blocks: a full queue dead-letters the event for that endpoint.
    pub fn emit(&self, event_type: &str, payload: serde_json::Value) -> Result<String, EmitError> {
        if !is_event_type(event_type) {
            let shown = event_type.chars().take(EVENT_TYPE_MAX_BYTES + 1).collect();
            return Err(EmitError::EventType(shown));
        }
        let routes = self
            .routes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let created_ms = (self.shared.now_ms)();
        let id = self.ids.next(created_ms);
        let mut wanted = routes
            .iter()
            .filter(|r| r.endpoint.wants(event_type))
            .peekable();
        if wanted.peek().is_none() {
            return Ok(id);
        }
        let max = self.shared.limits.body_size_max_bytes;
        let event = Arc::new(Event::new(id, event_type, created_ms, &payload, max)?);
        for route in wanted {
            self.offer(route, &event);
        }
        Ok(event.id.clone())
    }

    fn offer(&self, route: &Route, event: &Arc<Event>) {
        let (reason, error) = match route.channel.queue.try_send(event.clone()) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(_)) => {
                if !route.channel.full_logged.swap(true, Relaxed) {
                    tracing::warn!(endpoint = %route.endpoint.id, event = %event.id,
                        "webhook queue full; new events go to the dead-letter list");
                }
                (DeadReason::QueueFull, "queue full")
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                (DeadReason::EndpointRemoved, "endpoint removed")
            }
        };
        let id = &route.endpoint.id;
        self.shared
            .dead_letter(id, event, 0, reason, error.to_owned());
    }

    /// Replaces the endpoints (e.g. from the API). An endpoint whose id stays keeps its
    /// queue and its order (a new URL applies from the next attempt); one whose id is
    /// gone stops, and the events it still held are dead-lettered.
    pub fn set_endpoints(&self, endpoints: Vec<Endpoint>) -> Result<(), WebhookError> {
        let targets = endpoint::check_all(&endpoints, self.shared.tls.is_some())?;
        let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
        let mut next = Vec::with_capacity(endpoints.len());
        for (endpoint, target) in endpoints.into_iter().zip(targets) {
            let kept = routes.iter().find(|r| r.endpoint.id == endpoint.id);
            let channel = match kept {
                Some(route) => {
                    if route.endpoint.url != endpoint.url {
                        route.channel.target.send_replace(Some(Arc::new(target)));
                    }
                    route.channel.clone()
                }
                None => self.spawn(&endpoint.id, target),
            };
            next.push(Route { endpoint, channel });
        }
        for gone in routes
            .iter()
            .filter(|r| !next.iter().any(|n| n.endpoint.id == r.endpoint.id))
        {
            gone.channel.target.send_replace(None);
        }
        *routes = Arc::new(next);
        Ok(())
    }

    fn spawn(&self, id: &str, target: Target) -> Arc<Channel> {
        let (queue, rx) = mpsc::channel(self.shared.limits.queue_depth_max_events);
        let (target, target_rx) = watch::channel(Some(Arc::new(target)));
        let full_logged = Arc::new(AtomicBool::new(false));
        let worker = Worker::new(
            self.shared.clone(),
            id,
            rx,
            target_rx,
            full_logged.clone(),
            self.seed,
        );
        self.runtime.spawn(worker.run());
        Arc::new(Channel {
            queue,
            target,
            full_logged,
        })
    }

    /// The endpoints now configured.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        let routes = self.routes.read().unwrap_or_else(PoisonError::into_inner);
        routes.iter().map(|r| r.endpoint.clone()).collect()
    }

    pub fn stats(&self) -> WebhookStats {
        let c = &self.shared.counters;
        let routes = self
            .routes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let queued = routes
            .iter()
            .map(|r| (r.channel.queue.max_capacity() - r.channel.queue.capacity()) as u64)
            .sum();
        WebhookStats {
            delivered: c.delivered.load(Relaxed),
            retried: c.retried.load(Relaxed),
            dead_lettered: c.dead_lettered.load(Relaxed),
            dropped_queue_full: c.dropped_queue_full.load(Relaxed),
            queued,
        }
    }
}

/// The client configuration for `https://` endpoints: the bundle's roots, ring, TLS 1.2
/// and 1.3, HTTP/1.1 by ALPN. The server name is each endpoint's own (given per
/// connection), so the one `ClientTls` asks for here is a placeholder.
fn client_tls(ca: &Pem) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let tls = ClientTls::new("webhooks.invalid", ca, None)?;
    let mut config = (*tls.config).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests;
