//! The terminal link: ISO 8583 over TCP, one task per connection, frames answered in
//! order. Every limit is a setting or a constant: frame size (the codec's 8 KiB), idle
//! and partial-frame timeouts, the number of connections.

use crate::iso_map::{self, Parsed, Rejected, ResponseValues};
use crate::keys::CardKeys;
use crate::metrics::{Dropped, Metrics, TransportKind};
use crate::pipeline::Pipeline;
use crate::security::events::{EventKind, SecurityEvent};
use crate::security::{MAC_PLACEHOLDER, Security, Session};
use crate::tls;
use crate::upstream::Upstream;
use engine::{Answer, Begin, PinCheck, Request};
use iso8583::Spec;
use iso8583::frame::{FrameError, FrameFormat};
use model::{Currency, ResponseCode};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes read from a socket at a time.
const READ_CHUNK_BYTES: usize = 4096;

pub struct LinkContext {
    pub spec: Spec,
    pub framing: FrameFormat,
    pub keys: Arc<CardKeys>,
    pub pipeline: Pipeline,
    pub metrics: Arc<Metrics>,
    pub default_currency: Currency,
    pub idle_timeout: Duration,
    pub frame_timeout: Duration,
    pub connections_max: usize,
    pub upstream: Option<Arc<Upstream>>,
    pub security: Arc<Security>,
    /// The zone PIN key shared with the upstream (`upstream.zpk`), unwrapped at start.
    pub upstream_zpk: Option<paycrypto::TdesKey>,
    pub vault: Arc<crate::vault::Vault>,
    pub store: Arc<dyn store::Store>,
    /// Set when this listener speaks the UnionPay profile (`link.profile = "unionpay"`).
    pub unionpay: Option<Arc<crate::unionpay::UnionPay>>,
}

/// How a connection reached posguard: what a terminal's security profile may demand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    Plain,
    Tls,
    /// TLS with a client certificate that chained to the configured CA; `subject` is
    /// its common name (or first DNS name), which must be the terminal id.
    MutualTls {
        subject: String,
    },
}

/// Accepts plain TCP terminal connections until the listener fails. `permits` bounds
/// the connections open on this listener and the TLS one together.
pub async fn serve(listener: TcpListener, ctx: Arc<LinkContext>, permits: Arc<Semaphore>) {
    loop {
        let (socket, peer, permit) = accept(&listener, &permits, &ctx).await;
        let ctx = ctx.clone();
        tokio::spawn(async move {
            ctx.metrics.connections_open.fetch_add(1, Relaxed);
            ctx.metrics.connections_total.fetch_add(1, Relaxed);
            ctx.metrics.connected(TransportKind::Plain);
            let _ = socket.set_nodelay(true);
            if let Err(why) = connection(socket, Transport::Plain, &ctx).await {
                ctx.metrics.dropped(why);
                tracing::info!(%peer, reason = ?why, "close a terminal connection");
            }
            ctx.metrics.connections_open.fetch_sub(1, Relaxed);
            drop(permit);
        });
    }
}

/// Accepts TLS terminal connections until the listener fails. Each handshake runs in
/// its connection's own task, bounded by the acceptor's timeout, so a slow or silent
/// client never holds up the accept loop; then the connection is served as a plain one,
/// with the `Transport` the handshake proved.
pub async fn serve_tls(
    listener: TcpListener,
    acceptor: tls::Acceptor,
    ctx: Arc<LinkContext>,
    permits: Arc<Semaphore>,
) {
    loop {
        let (socket, peer, permit) = accept(&listener, &permits, &ctx).await;
        let (ctx, acceptor) = (ctx.clone(), acceptor.clone());
        tokio::spawn(async move {
            ctx.metrics.connections_open.fetch_add(1, Relaxed);
            ctx.metrics.connections_total.fetch_add(1, Relaxed);
            let _ = socket.set_nodelay(true);
            match acceptor.accept(socket).await {
                Ok((stream, transport)) => {
                    ctx.metrics.connected(match &transport {
                        Transport::Plain => TransportKind::Plain,
                        Transport::Tls => TransportKind::Tls,
                        Transport::MutualTls { .. } => TransportKind::MutualTls,
                    });
                    if let Err(why) = connection(stream, transport, &ctx).await {
                        ctx.metrics.dropped(why);
                        tracing::info!(%peer, reason = ?why, "close a terminal connection");
                    }
                }
                Err(e) => {
                    ctx.metrics.dropped(match e {
                        tls::HandshakeError::Timeout(_) => Dropped::TlsHandshakeTimeout,
                        tls::HandshakeError::Failed(_) => Dropped::TlsHandshake,
                    });
                    tracing::info!(%peer, error = %e, "refuse a terminal connection");
                }
            }
            ctx.metrics.connections_open.fetch_sub(1, Relaxed);
            drop(permit);
        });
    }
}

/// The next connection with a permit for it. Connections beyond `connections_max` are
/// closed at once and counted.
async fn accept(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
    ctx: &LinkContext,
) -> (TcpStream, SocketAddr, OwnedSemaphorePermit) {
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(error = %e, "accept a terminal connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            ctx.metrics.dropped(Dropped::TooManyConnections);
            tracing::warn!(%peer, limit = ctx.connections_max, "refuse a terminal connection: too many open");
            drop(socket);
            continue;
        };
        return (socket, peer, permit);
    }
}

/// Serves one connection; returns why it was closed by us (Ok: the peer closed it).
pub(crate) async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    mut socket: S,
    transport: Transport,
    ctx: &LinkContext,
) -> Result<(), Dropped> {
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK_BYTES);
    let mut body_out: Vec<u8> = Vec::with_capacity(1024);
    let mut frame_out: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; READ_CHUNK_BYTES];
    loop {
        match ctx.framing.parse(&buf) {
            Ok(Some(frame)) => {
                ctx.metrics.frames_in.fetch_add(1, Relaxed);
                let started = Instant::now();
                let (header, body) = (&buf[frame.header.clone()], &buf[frame.body.clone()]);
                let answered = match &ctx.unionpay {
                    Some(up) if up.only => {
                        crate::unionpay::answer(header, body, &transport, ctx, up, &mut body_out)
                            .await
                            .map(|(code, head)| (code, Some(head)))
                    }
                    // An auto listener: the TPDU and header lead the body.
                    Some(up) if crate::unionpay::is_unionpay_frame(body) => {
                        auto_unionpay(body, &transport, ctx, up, &mut body_out).await
                    }
                    _ => answer(body, &transport, ctx, &mut body_out)
                        .await
                        .map(|code| (code, None)),
                };
                if let Some((code, head)) = answered {
                    frame_out.clear();
                    let head = head.as_deref().unwrap_or(header);
                    if ctx.framing.write(head, &body_out, &mut frame_out).is_err() {
                        return Err(Dropped::FrameTooLarge);
                    }
                    // Flush: a TLS stream may hold the end of a record back (a
                    // no-op on TCP).
                    let sent = socket.write_all(&frame_out).await;
                    if sent.is_err() || socket.flush().await.is_err() {
                        return Ok(());
                    }
                    ctx.metrics
                        .answered(code, started.elapsed().as_micros() as u64);
                }
                buf.drain(..frame.consumed);
                continue;
            }
            Ok(None) => {}
            Err(FrameError::TooLarge { .. }) => return Err(Dropped::FrameTooLarge),
            Err(_) => return Err(Dropped::FrameMalformed),
        }
        let (limit, why) = if buf.is_empty() {
            (ctx.idle_timeout, Dropped::IdleTimeout)
        } else {
            (ctx.frame_timeout, Dropped::FrameTimeout)
        };
        match tokio::time::timeout(limit, socket.read(&mut chunk)).await {
            Err(_) => return Err(why),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(()),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A UnionPay frame on an auto listener (no fixed header): the reply's TPDU and header
/// go in front of its message, in `out`.
async fn auto_unionpay(
    body: &[u8],
    transport: &Transport,
    ctx: &LinkContext,
    up: &crate::unionpay::UnionPay,
    out: &mut Vec<u8>,
) -> Option<(&'static str, Option<Vec<u8>>)> {
    let Some((preamble, msg)) = body.split_at_checked(iso8583::unionpay::PREAMBLE_BYTES) else {
        ctx.metrics.dropped(Dropped::FrameMalformed);
        return None;
    };
    let mut reply = Vec::with_capacity(out.capacity());
    let (code, head) =
        crate::unionpay::answer(preamble, msg, transport, ctx, up, &mut reply).await?;
    out.clear();
    out.extend_from_slice(&head);
    out.extend_from_slice(&reply);
    Some((code, None))
}

/// Decides one message and encodes its answer into `out`. Returns field 39 of the
/// answer, or None when the message gets no answer (not a request, or undecodable).
async fn answer(
    body: &[u8],
    transport: &Transport,
    ctx: &LinkContext,
    out: &mut Vec<u8>,
) -> Option<&'static str> {
    let msg = match ctx.spec.decode(body) {
        Ok(msg) => msg,
        Err(e) => return answer_undecodable(body, ctx, &e, out),
    };
    let Some(response_mti) = iso_map::response_mti(&msg.mti()) else {
        ctx.metrics.dropped(Dropped::NotARequest);
        return None;
    };
    let session = match ctx.security.check(&msg, transport) {
        Ok(session) => session,
        Err(refusal) => {
            let event = Event::new(&msg, transport, refusal.ksn);
            record_event(ctx, refusal.kind, event).await;
            // No MAC on the refusal: the request's keys are exactly what is in doubt.
            let values = ResponseValues::rejected(response_mti, refusal.kind.response_code());
            return encode_answer(&msg, &values, &Session::Plain, out);
        }
    };
    let pin_check =
        |pan: &str, token: &model::CardToken| ctx.security.pin_check(&session, &msg, pan, &token.0);
    let mut event = None;
    let values = match iso_map::parse(&msg, &ctx.keys, ctx.default_currency, &pin_check) {
        Err(Rejected { code, reason }) => {
            tracing::info!(mti = %msg.mti(), reason, code = code.iso(), "answer a malformed request");
            ResponseValues::rejected(response_mti, code)
        }
        Ok(Parsed::Txn(req)) => {
            let currency = req.amount.map_or(ctx.default_currency, |m| m.currency);
            if req
                .card
                .as_ref()
                .is_some_and(|c| c.pin == PinCheck::Malformed)
            {
                event = Some(EventKind::PinBlockInvalid);
            }
            match decide(req, &msg, &session, ctx).await {
                Some(answer) => {
                    if answer.reason == UNKNOWN_TERMINAL {
                        event = Some(EventKind::UnknownTerminal);
                    }
                    ResponseValues::answered(response_mti, &answer, currency)
                }
                None => ResponseValues::rejected(response_mti, ResponseCode::SystemMalfunction),
            }
        }
        Ok(Parsed::Network { terminal, code }) => {
            let known = ctx
                .pipeline
                .read(move |e| e.terminal(&terminal).map(|t| t.status.may_transact()))
                .await;
            let rc = match known {
                Ok(Some(true)) => ResponseCode::Approved,
                Ok(Some(false)) => ResponseCode::NotPermittedToTerminal,
                Ok(None) => {
                    event = Some(EventKind::UnknownTerminal);
                    ResponseCode::NotPermittedToTerminal
                }
                Err(_) => ResponseCode::SystemMalfunction,
            };
            tracing::debug!(
                ?code,
                code_39 = rc.iso(),
                "answer a network management request"
            );
            ResponseValues::rejected(response_mti, rc)
        }
        Ok(Parsed::Settle {
            terminal,
            key,
            totals,
        }) => match ctx.pipeline.settle(terminal, key, totals).await {
            Ok(a) => ResponseValues::rejected(response_mti, a.code),
            Err(_) => ResponseValues::rejected(response_mti, ResponseCode::SystemMalfunction),
        },
    };
    if let Some(kind) = event {
        let ksn = msg
            .field_str(crate::security::KSN_FIELD)
            .map(|k| k.into_owned());
        record_event(ctx, kind, Event::new(&msg, transport, ksn)).await;
    }
    encode_answer(&msg, &values, &session, out)
}

/// The engine's reason for a request from a terminal it does not know.
pub(crate) const UNKNOWN_TERMINAL: &str = "unknown_terminal";

/// Encodes the answer; a DUKPT session's answer carries its MAC as the last field.
fn encode_answer(
    msg: &iso8583::Message<'_>,
    values: &ResponseValues,
    session: &Session,
    out: &mut Vec<u8>,
) -> Option<&'static str> {
    let mac_field = [(crate::security::response_mac_field(msg), MAC_PLACEHOLDER)];
    let extra: &[(u8, &str)] = if session.is_dukpt() { &mac_field } else { &[] };
    if let Err(e) = iso_map::encode_response(msg, values, extra, out) {
        tracing::warn!(error = %e, "encode an answer");
        return None;
    }
    if session.is_dukpt() {
        // The response keeps the request's header verbatim, so the MTI starts where
        // the request's did.
        let header_len = msg.mti_bytes().as_ptr() as usize - msg.as_bytes().as_ptr() as usize;
        let stamped = crate::security::stamp_response(out, header_len, |data| {
            session.response_mac(data).unwrap_or_default()
        });
        if !stamped {
            tracing::warn!("place the MAC of an answer");
            return None;
        }
    }
    Some(values.code)
}

/// Who raised a security event, without card data.
pub(crate) struct Event {
    terminal: String,
    mti: String,
    stan: Option<String>,
    ksn: Option<String>,
    transport: &'static str,
}

impl Event {
    pub(crate) fn new(
        msg: &iso8583::Message<'_>,
        transport: &Transport,
        ksn: Option<String>,
    ) -> Event {
        let text = |n| msg.field_str(n).map(|v| v.trim_end().to_owned());
        Event {
            terminal: text(41).unwrap_or_default(),
            mti: msg.mti().into_owned(),
            stan: text(11),
            ksn,
            transport: match transport {
                Transport::Plain => "plain",
                Transport::Tls => "tls",
                Transport::MutualTls { .. } => "mtls",
            },
        }
    }
}

/// Logs, counts and durably records a security event.
pub(crate) async fn record_event(ctx: &LinkContext, kind: EventKind, event: Event) {
    ctx.metrics.security_event(kind);
    tracing::warn!(
        event = kind.as_str(),
        terminal = %event.terminal,
        mti = %event.mti,
        ksn = event.ksn.as_deref().unwrap_or(""),
        transport = event.transport,
        "security event"
    );
    let at_ms = crate::server::now_ms();
    let record = SecurityEvent {
        kind: kind.as_str().to_owned(),
        terminal: event.terminal,
        mti: event.mti,
        stan: event.stan,
        ksn: event.ksn,
        transport: event.transport.to_owned(),
        peer: None,
        at_ms,
    };
    let key = crate::security::events::meta_key(at_ms, ctx.security.next_event_seq());
    let value = serde_json::to_string(&record).unwrap_or_default();
    if ctx.pipeline.set_meta(key, value).await.is_err() {
        tracing::warn!(
            event = kind.as_str(),
            "record a security event: shutting down"
        );
    }
}

/// Decides a transaction request: with the stand-in issuer, or with the upstream
/// issuer when its card routes there. None when posguard is shutting down.
async fn decide(
    req: Request,
    msg: &iso8583::Message<'_>,
    session: &Session,
    ctx: &LinkContext,
) -> Option<Answer> {
    let Some(upstream) = &ctx.upstream else {
        return ctx.pipeline.authorize(req).await.ok();
    };
    let routed = upstream.routes(&req);
    let answer = match ctx.pipeline.begin(req.clone(), routed).await.ok()? {
        Begin::Answer(answer) => answer,
        Begin::Forward(forward) => {
            vault_pan(msg, &req, ctx).await?;
            let (result, too_late) = match upstream_pin(msg, session, ctx) {
                Ok(pin) => upstream.forward(msg, &forward, pin.as_deref()).await,
                // A PIN the upstream cannot be given: as if it were down for this request
                // (the stand-in issuer checks the PIN itself, or the answer is 91).
                Err(()) => (engine::UpstreamResult::Unavailable, false),
            };
            let answer = ctx
                .pipeline
                .finish(req, forward, result, upstream.policy)
                .await
                .ok()?;
            if too_late {
                // The recorded transaction carries the STAN and field 7 that went upstream.
                reverse_upstream(ctx, upstream, answer.txn_id?).await?;
            }
            answer
        }
    };
    if let Some(original) = answer.reverse_upstream {
        reverse_upstream(ctx, upstream, original).await?;
    }
    Some(answer)
}

/// The vaulted PAN of a transaction's card, if any.
async fn recover_pan(
    ctx: &LinkContext,
    record: &model::TxnRecord,
) -> Option<zeroize::Zeroizing<String>> {
    let token = record.card_token.as_ref()?.0.clone();
    let (store, vault) = (ctx.store.clone(), ctx.vault.clone());
    tokio::task::spawn_blocking(move || crate::vault::recover_pan(store.as_ref(), &vault, &token))
        .await
        .ok()
        .flatten()
}

/// Seals the PAN of a card going upstream into the vault (once per card), durably before
/// the request leaves: a later reversal or advice for it can then carry field 2.
async fn vault_pan(msg: &iso8583::Message<'_>, req: &Request, ctx: &LinkContext) -> Option<()> {
    let (Some(card), Some(pan)) = (&req.card, iso_map::card_pan(msg)) else {
        return Some(());
    };
    let token = &card.token.0;
    if !ctx.vault.mark_vaulted(token) {
        return Some(());
    }
    let sealed = ctx
        .vault
        .seal(&crate::vault::pan_binding(token), pan.expose().as_bytes());
    let key = format!("{}{token}", crate::vault::PAN_META_PREFIX);
    if ctx.pipeline.set_meta(key, sealed).await.is_err() {
        ctx.vault.unmark_vaulted(token);
        return None;
    }
    Some(())
}

/// The request's PIN translated to the upstream's zone PIN key: `Ok(None)` without a
/// PIN, `Err` when there is one but no zone key (or it does not decrypt).
fn upstream_pin(
    msg: &iso8583::Message<'_>,
    session: &Session,
    ctx: &LinkContext,
) -> Result<Option<String>, ()> {
    let Some(pan) = iso_map::card_pan(msg) else {
        return Ok(None);
    };
    match &ctx.upstream_zpk {
        Some(zpk) => ctx
            .security
            .translate_pin(session, msg, pan.expose(), zpk)
            .transpose(),
        None if session.carries_pin(msg) => Err(()),
        None => Ok(None),
    }
}

/// Records that `txn` must be reversed upstream (durably, before the terminal hears
/// anything), then sends the reversal in the background.
async fn reverse_upstream(
    ctx: &LinkContext,
    upstream: &Arc<Upstream>,
    txn: model::TxnId,
) -> Option<()> {
    let record = ctx
        .pipeline
        .read(move |e| e.txn(txn).cloned())
        .await
        .ok()??;
    let intent = crate::upstream::intent_key(txn);
    ctx.pipeline
        .set_meta(intent, crate::upstream::INTENT_PENDING.into())
        .await
        .ok()?;
    let pan = recover_pan(ctx, &record).await;
    upstream.reverse(&record, pan, ctx.pipeline.clone());
    Some(())
}

/// A message that does not decode is answered 30 when its MTI can be read, with an
/// answer holding only the MTI and field 39; otherwise it is dropped.
fn answer_undecodable(
    body: &[u8],
    ctx: &LinkContext,
    e: &iso8583::DecodeError,
    out: &mut Vec<u8>,
) -> Option<&'static str> {
    tracing::info!(error = %e, "decode a terminal message");
    ctx.metrics.dropped(Dropped::Undecodable);
    let mti = std::str::from_utf8(body.get(..4)?).ok()?;
    let response_mti = iso_map::response_mti(mti)?;
    let mut b = iso8583::MessageBuilder::new();
    b.set_mti(&response_mti)
        .set(39, ResponseCode::FormatError.iso());
    out.clear();
    b.encode_into(&ctx.spec, out).ok()?;
    Some(ResponseCode::FormatError.iso())
}
