//! Webhooks in the host: the dispatcher started with the keystore's signing secret and
//! the endpoints an operator set (kept in meta), risk control's alerts and case changes
//! emitted to it, and dead letters recorded durably for the API to list.

use crate::keyring::Keyring;
use crate::webhooks::{DeadLetter, Endpoint, Env, WebhookConfig, Webhooks};
use keystore::{Algorithm, Usage};
use std::sync::{Arc, RwLock};

/// Meta key of the endpoints (JSON list).
pub const ENDPOINTS_META_KEY: &str = "webhook_endpoints";
/// Meta key prefix of a dead letter (`webhook_dead:<ms, 13 digits>:<event id>`).
pub const DEAD_META_PREFIX: &str = "webhook_dead:";
/// Keystore ids of webhook signing secrets: `host-webhook-1`, `-2`, ... (newest signs).
pub const SECRET_KEY_PREFIX: &str = "host-webhook-";
/// Dead letters waiting to be recorded; beyond this they are logged and dropped.
const DEAD_QUEUE_DEPTH: usize = 10_000;

/// The running dispatcher (replaced when the secret changes).
pub struct Hooks {
    pub current: RwLock<Arc<Webhooks>>,
    dead_tx: tokio::sync::mpsc::Sender<DeadLetter>,
    config: WebhookConfig,
}

fn secret_number(id: &str) -> Option<u32> {
    id.strip_prefix(SECRET_KEY_PREFIX)?.parse().ok()
}

/// The newest signing secret's number, or None.
fn newest_secret(keyring: &Keyring) -> Option<u32> {
    keyring
        .read()
        .list()
        .iter()
        .filter_map(|k| secret_number(&k.id))
        .max()
}

/// Makes a new signing secret (the next number); returns its number and the writes.
pub fn new_secret(
    keyring: &Keyring,
    now_ms: i64,
) -> Result<(u32, keystore::Writes), keystore::KeystoreError> {
    let next = newest_secret(keyring).unwrap_or(0) + 1;
    let id = format!("{SECRET_KEY_PREFIX}{next}");
    let (_, writes) = keyring.write().generate(
        &id,
        Usage::Webhook,
        Algorithm::Hmac,
        &mut rand::rng(),
        now_ms,
    )?;
    Ok((next, writes))
}

fn secret(keyring: &Keyring, number: u32) -> Result<paycrypto::HmacKey, keystore::KeystoreError> {
    keyring
        .read()
        .hmac(&format!("{SECRET_KEY_PREFIX}{number}"), Usage::Webhook)
}

impl Hooks {
    /// Starts the dispatcher; the returned receiver yields dead letters to record.
    pub fn start(
        keyring: &Keyring,
        mut config: WebhookConfig,
        stored_endpoints: Option<&str>,
        now_ms: i64,
    ) -> Result<
        (
            Hooks,
            keystore::Writes,
            tokio::sync::mpsc::Receiver<DeadLetter>,
        ),
        String,
    > {
        if let Some(json) = stored_endpoints {
            config.endpoints =
                serde_json::from_str(json).map_err(|e| format!("stored webhook endpoints: {e}"))?;
        }
        let mut writes = Vec::new();
        let number = match newest_secret(keyring) {
            Some(n) => n,
            None => {
                let (n, w) = new_secret(keyring, now_ms).map_err(|e| e.to_string())?;
                writes.extend(w);
                n
            }
        };
        let (dead_tx, dead_rx) = tokio::sync::mpsc::channel(DEAD_QUEUE_DEPTH);
        let key = secret(keyring, number).map_err(|e| e.to_string())?;
        let webhooks = Webhooks::start(config.clone(), key, sink(dead_tx.clone()), Env::system())
            .map_err(|e| e.to_string())?;
        Ok((
            Hooks {
                current: RwLock::new(Arc::new(webhooks)),
                dead_tx,
                config,
            },
            writes,
            dead_rx,
        ))
    }

    pub fn webhooks(&self) -> Arc<Webhooks> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Emits an event; never blocks (a refused event is a dead letter or a log line).
    pub fn emit(&self, kind: &str, payload: serde_json::Value) {
        if let Err(e) = self.webhooks().emit(kind, payload) {
            tracing::warn!(kind, error = %e, "emit a webhook event");
        }
    }

    /// Restarts the dispatcher signing with secret `number`, keeping its endpoints.
    pub fn resign(&self, keyring: &Keyring, number: u32) -> Result<(), String> {
        let key = secret(keyring, number).map_err(|e| e.to_string())?;
        let mut config = self.config.clone();
        config.endpoints = self.webhooks().endpoints();
        let webhooks = Webhooks::start(config, key, sink(self.dead_tx.clone()), Env::system())
            .map_err(|e| e.to_string())?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(webhooks);
        Ok(())
    }

    pub fn set_endpoints(&self, endpoints: Vec<Endpoint>) -> Result<(), String> {
        self.webhooks()
            .set_endpoints(endpoints)
            .map_err(|e| e.to_string())
    }
}

fn sink(tx: tokio::sync::mpsc::Sender<DeadLetter>) -> crate::webhooks::DeadLetterSink {
    Arc::new(move |dead: DeadLetter| {
        if tx.try_send(dead).is_err() {
            tracing::error!("record a webhook dead letter: the queue is full; it is dropped");
        }
    })
}

/// Records dead letters durably, in the order they come.
pub async fn record_dead_letters(
    mut rx: tokio::sync::mpsc::Receiver<DeadLetter>,
    pipeline: crate::pipeline::Pipeline,
) {
    while let Some(dead) = rx.recv().await {
        let key = format!("{DEAD_META_PREFIX}{:013}:{}", dead.at_ms, dead.event_id);
        let value = serde_json::to_string(&dead).unwrap_or_default();
        if pipeline.set_meta(key, value).await.is_err() {
            return;
        }
    }
}
