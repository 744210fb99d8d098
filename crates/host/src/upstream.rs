//! The upstream connector: forwards authorizations to an issuer or network host that
//! speaks ISO 8583 over TCP, on one persistent connection, matching answers to
//! requests by terminal, STAN and transmission time. An answer later than the timeout
//! is too late: the request is reversed upstream (0420, retried until acknowledged).

use crate::client::Reply;
use crate::config::UpstreamConfig;
use crate::iso_map;
use crate::pipeline::Pipeline;
use engine::{Forward, Request, UpstreamPolicy, UpstreamResult};
use iso8583::frame::{FrameFormat, LengthPrefix};
use iso8583::{Message, MessageBuilder, Spec};
use model::{ResponseCode, TxnId, TxnKind, TxnRecord};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// Requests waiting to be written to the upstream connection.
const OUTGOING_QUEUE_DEPTH: usize = 4_096;
/// Attempts to deliver a reversal upstream before giving up (logged as an error).
const REVERSAL_ATTEMPTS_MAX: u32 = 10;
const RECONNECT_BACKOFF_MAX_MS: u64 = 2_000;
/// Metadata key prefix of reversals owed to the upstream; the value is `pending` until
/// the upstream acknowledges, then `done`.
pub const INTENT_PREFIX: &str = "upstream_reversal:";
pub const INTENT_PENDING: &str = "pending";
const INTENT_DONE: &str = "done";

/// Fields of the terminal's own link security, never forwarded: its PIN blocks (under
/// its DUKPT keys; the upstream gets the PIN under the zone key), KSN and MACs.
const TERMINAL_SECURITY_FIELDS: [u8; 5] = [52, 62, 64, 110, 128];

pub fn intent_key(txn: TxnId) -> String {
    format!("{INTENT_PREFIX}{txn}")
}
const READ_CHUNK_BYTES: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("upstream.addr is empty")]
    NoAddress,
    #[error("upstream.on_unavailable must be stand_in or decline, not {0:?}")]
    Policy(String),
    #[error("upstream.framing must be binary2 or ascii4, not {0:?}")]
    Framing(String),
    #[error("upstream spec: {0}")]
    Spec(String),
}

type Waiting = Arc<Mutex<HashMap<String, oneshot::Sender<Reply>>>>;

pub struct Upstream {
    outgoing: mpsc::Sender<Vec<u8>>,
    waiting: Waiting,
    connected: Arc<AtomicBool>,
    spec: Arc<Spec>,
    framing: FrameFormat,
    timeout: Duration,
    bins: Vec<String>,
    pub policy: UpstreamPolicy,
}

/// Why a call got no answer.
enum CallError {
    Unavailable,
    Timeout,
}

impl Upstream {
    /// Starts the connection manager (it connects, and reconnects, in the background).
    pub fn start(config: &UpstreamConfig) -> Result<Arc<Upstream>, UpstreamError> {
        if config.addr.is_empty() {
            return Err(UpstreamError::NoAddress);
        }
        let policy = match config.on_unavailable.as_str() {
            "stand_in" => UpstreamPolicy::StandIn,
            "decline" => UpstreamPolicy::Decline,
            other => return Err(UpstreamError::Policy(other.to_owned())),
        };
        let prefix = match config.framing.as_str() {
            "binary2" => LengthPrefix::Binary2,
            "ascii4" => LengthPrefix::Ascii4,
            other => return Err(UpstreamError::Framing(other.to_owned())),
        };
        let spec = crate::server::load_spec(&config.spec)
            .map_err(|e| UpstreamError::Spec(e.to_string()))?;
        let (outgoing, rx) = mpsc::channel(OUTGOING_QUEUE_DEPTH);
        let upstream = Arc::new(Upstream {
            outgoing,
            waiting: Arc::default(),
            connected: Arc::default(),
            spec: Arc::new(spec),
            framing: FrameFormat {
                prefix,
                header_bytes: 0,
            },
            timeout: Duration::from_millis(config.timeout_ms),
            bins: config.bins.clone(),
            policy,
        });
        tokio::spawn(manage(config.addr.clone(), rx, upstream.clone()));
        Ok(upstream)
    }

    /// Whether the connection to the upstream is up.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Whether a request goes upstream: its card's number starts with a routed prefix
    /// (any card when no prefix is configured). Requests without a card are left to the
    /// engine, which routes them with their original.
    pub fn routes(&self, req: &Request) -> bool {
        match &req.card {
            None => true,
            Some(card) => {
                self.bins.is_empty()
                    || self
                        .bins
                        .iter()
                        .any(|b| card.masked.0.starts_with(b.as_str()))
            }
        }
    }

    /// Forwards a terminal's request and returns the upstream's decision, and whether
    /// the answer came too late (the caller then reverses it upstream: `reverse`).
    /// `pin_block`: the terminal's PIN translated under the zone PIN key (16 hex), when
    /// the request carried one.
    pub async fn forward(
        &self,
        msg: &Message<'_>,
        forward: &Forward,
        pin_block: Option<&str>,
    ) -> (UpstreamResult, bool) {
        let original = forward
            .original
            .as_ref()
            .map(|o| (o.stan.as_str(), o.transmitted.as_str()));
        let Some((body, key)) = self.build(msg, msg.mti().as_ref(), original, pin_block) else {
            return (UpstreamResult::Unavailable, false);
        };
        match self.call(body, key).await {
            Ok(reply) => (decision(&reply), false),
            Err(CallError::Unavailable) => (UpstreamResult::Unavailable, false),
            Err(CallError::Timeout) => {
                tracing::warn!(stan = %forward.draft.stan, terminal = %forward.draft.terminal_id, "upstream answer too late; reversing it upstream");
                (UpstreamResult::Unavailable, true)
            }
        }
    }

    /// Sends a reversal advice (0420) for `txn` upstream in the background, retrying
    /// until it is acknowledged, then marks its durable intent (`intent_key`) done. The
    /// issuer finds the original by field 90; field 2 is added when the card's PAN is in
    /// the vault (`pan`).
    pub fn reverse(
        self: &Arc<Self>,
        txn: &TxnRecord,
        pan: Option<zeroize::Zeroizing<String>>,
        pipeline: Pipeline,
    ) {
        let Some((body, key)) = self.build_reversal(txn, pan.as_deref().map(String::as_str)) else {
            return;
        };
        let this = Arc::clone(self);
        let intent = intent_key(txn.id);
        tokio::spawn(async move {
            for attempt in 1..=REVERSAL_ATTEMPTS_MAX {
                if this.call(body.clone(), key.clone()).await.is_ok() {
                    // If this write is lost, the reversal is sent once more at the next
                    // start: the issuer answers a repeat with its first answer.
                    let _ = pipeline.set_meta(intent, INTENT_DONE.into()).await;
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            tracing::error!(%key, "deliver a reversal upstream: gave up after {REVERSAL_ATTEMPTS_MAX} attempts; it is sent again at the next start");
        });
    }

    /// The 0420 for a transaction, from its record alone.
    fn build_reversal(&self, txn: &TxnRecord, pan: Option<&str>) -> Option<(Vec<u8>, String)> {
        let proc_code = match txn.kind {
            TxnKind::Refund => "200000",
            TxnKind::Void => "020000",
            TxnKind::Balance => "310000",
            _ => "000000",
        };
        let amount = format!("{:012}", txn.amount_minor);
        let currency = format!("{:03}", txn.currency.0);
        let f90 = format!(
            "{}{:0>6}{:0>10}{:022}",
            txn.mti, txn.stan, txn.transmitted, 0
        );
        let mut b = MessageBuilder::new();
        if let Some(pan) = pan {
            b.set(2, pan);
        }
        b.set_mti("0420")
            .set(3, proc_code)
            .set(4, amount.as_str())
            .set(7, txn.transmitted.as_str())
            .set(11, txn.stan.as_str())
            .set(41, txn.terminal_id.as_str())
            .set(42, txn.merchant_id.as_str())
            .set(49, currency.as_str())
            .set(90, f90.as_str());
        let mut body = Vec::with_capacity(160);
        if let Err(e) = b.encode_into(&self.spec, &mut body) {
            tracing::warn!(error = %e, txn = %txn.id, "encode a reversal for the upstream");
            return None;
        }
        let key = reply_key(
            "0430",
            txn.terminal_id.as_str(),
            &txn.stan,
            &txn.transmitted,
        );
        Some((body, key))
    }

    /// The upstream request: the terminal's fields (card data included: the issuer needs
    /// it), the MTI given, and field 90 naming the original when there is one. Returns
    /// the encoded body and the key its answer will carry.
    fn build(
        &self,
        msg: &Message<'_>,
        mti: &str,
        original: Option<(&str, &str)>,
        pin_block: Option<&str>,
    ) -> Option<(Vec<u8>, String)> {
        let mut values: Vec<(u8, String)> = msg
            .fields()
            .filter(|n| *n != 37 && *n != 90 && !TERMINAL_SECURITY_FIELDS.contains(n))
            .filter_map(|n| msg.field_str(n).map(|v| (n, v.into_owned())))
            .collect();
        if let Some(block) = pin_block {
            values.push((crate::security::TDES_PIN_FIELD, block.to_owned()));
        }
        let f90 = original.map(|(stan, f7)| format!("0200{stan:0>6}{f7:0>10}{:022}", 0));
        let mut b = MessageBuilder::new();
        b.set_mti(mti);
        for (n, v) in &values {
            b.set(*n, v.as_str());
        }
        if let Some(f) = &f90 {
            b.set(90, f.as_str());
        }
        let mut body = Vec::with_capacity(256);
        if let Err(e) = b.encode_into(&self.spec, &mut body) {
            tracing::warn!(error = %e, "encode a request for the upstream");
            return None;
        }
        let field = |n: u8| {
            values
                .iter()
                .find(|(k, _)| *k == n)
                .map_or("", |(_, v)| v.as_str())
        };
        let key = reply_key(&iso_map::response_mti(mti)?, field(41), field(11), field(7));
        Some((body, key))
    }

    async fn call(&self, body: Vec<u8>, key: String) -> Result<Reply, CallError> {
        if !self.connected.load(Ordering::Relaxed) {
            return Err(CallError::Unavailable);
        }
        let mut frame = Vec::with_capacity(body.len() + 4);
        if self.framing.write(&[], &body, &mut frame).is_err() {
            return Err(CallError::Unavailable);
        }
        let (tx, rx) = oneshot::channel();
        self.waiting
            .lock()
            .expect("waiting map lock")
            .insert(key.clone(), tx);
        if self.outgoing.send(frame).await.is_err() {
            self.waiting.lock().expect("waiting map lock").remove(&key);
            return Err(CallError::Unavailable);
        }
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(CallError::Unavailable),
            Err(_) => {
                self.waiting.lock().expect("waiting map lock").remove(&key);
                Err(CallError::Timeout)
            }
        }
    }
}

fn reply_key(response_mti: &str, terminal: &str, stan: &str, transmitted: &str) -> String {
    format!(
        "{response_mti}:{}:{stan}:{transmitted}",
        terminal.trim_end()
    )
}

/// The upstream's answer as a decision: field 39, 38 and the balance in 54.
fn decision(reply: &Reply) -> UpstreamResult {
    let Some(code) = ResponseCode::from_iso(reply.code()) else {
        // A code posguard does not know is a decline it cannot name: do not honour.
        return UpstreamResult::Answered {
            code: ResponseCode::DoNotHonour,
            auth_code: None,
            balance_minor: None,
        };
    };
    let balance_minor = reply.get(54).and_then(|b| {
        let (sign, digits) = (b.get(7..8)?, b.get(8..20)?);
        let value: i64 = digits.parse().ok()?;
        Some(if sign == "D" { -value } else { value })
    });
    UpstreamResult::Answered {
        code,
        auth_code: reply.get(38).map(str::to_owned),
        balance_minor,
    }
}

/// Connects, writes queued requests, reads answers and hands each to its waiter;
/// reconnects with backoff when the connection fails.
async fn manage(addr: String, mut outgoing: mpsc::Receiver<Vec<u8>>, up: Arc<Upstream>) {
    let mut backoff_ms = 50;
    loop {
        let stream = match TcpStream::connect(&addr).await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(%addr, error = %e, "connect to the upstream");
                tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
                backoff_ms = (backoff_ms * 2).min(RECONNECT_BACKOFF_MAX_MS);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tracing::info!(%addr, "connected to the upstream");
        backoff_ms = 50;
        up.connected.store(true, Ordering::Relaxed);
        serve_connection(stream, &mut outgoing, &up).await;
        up.connected.store(false, Ordering::Relaxed);
        // Everyone still waiting hears "unavailable" (their senders are dropped).
        up.waiting.lock().expect("waiting map lock").clear();
        while outgoing.try_recv().is_ok() {}
        tracing::warn!(%addr, "lost the upstream connection; reconnecting");
    }
}

async fn serve_connection(
    stream: TcpStream,
    outgoing: &mut mpsc::Receiver<Vec<u8>>,
    up: &Upstream,
) {
    let (mut reader, mut writer) = stream.into_split();
    let mut buf = Vec::with_capacity(READ_CHUNK_BYTES);
    let mut chunk = [0u8; READ_CHUNK_BYTES];
    loop {
        tokio::select! {
            frame = outgoing.recv() => {
                let Some(frame) = frame else { return };
                if writer.write_all(&frame).await.is_err() {
                    return;
                }
            }
            read = reader.read(&mut chunk) => {
                match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                if !dispatch(&mut buf, up) {
                    return;
                }
            }
        }
    }
}

/// Hands every complete answer in `buf` to its waiter. False when the stream is broken.
fn dispatch(buf: &mut Vec<u8>, up: &Upstream) -> bool {
    loop {
        let frame = match up.framing.parse(buf) {
            Ok(Some(frame)) => frame,
            Ok(None) => return true,
            Err(e) => {
                tracing::warn!(error = %e, "read the upstream's framing");
                return false;
            }
        };
        match up.spec.decode(&buf[frame.body.clone()]) {
            Ok(msg) => {
                let reply = Reply::of(&msg);
                let key = reply_key(
                    &reply.mti,
                    reply.get(41).unwrap_or(""),
                    reply.get(11).unwrap_or(""),
                    reply.get(7).unwrap_or(""),
                );
                match up.waiting.lock().expect("waiting map lock").remove(&key) {
                    Some(waiter) => drop(waiter.send(reply)),
                    None => tracing::info!(%key, "an upstream answer nobody waits for (too late)"),
                }
            }
            Err(e) => tracing::warn!(error = %e, "decode an upstream answer"),
        }
        buf.drain(..frame.consumed);
    }
}
