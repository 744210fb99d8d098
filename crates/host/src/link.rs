//! The terminal link: ISO 8583 over TCP, one task per connection, frames answered in
//! order. Every limit is a setting or a constant: frame size (the codec's 8 KiB), idle
//! and partial-frame timeouts, the number of connections.

use crate::iso_map::{self, Parsed, Rejected, ResponseValues};
use crate::keys::CardKeys;
use crate::metrics::{Dropped, Metrics, TransportKind};
use crate::pipeline::Pipeline;
use crate::tls;
use crate::upstream::Upstream;
use engine::{Answer, Begin, Request};
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
                let answered =
                    answer(&buf[frame.body.clone()], &transport, ctx, &mut body_out).await;
                if let Some(code) = answered {
                    frame_out.clear();
                    if ctx
                        .framing
                        .write(&buf[frame.header.clone()], &body_out, &mut frame_out)
                        .is_err()
                    {
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

/// Decides one message and encodes its answer into `out`. Returns field 39 of the
/// answer, or None when the message gets no answer (not a request, or undecodable).
async fn answer(
    body: &[u8],
    transport: &Transport,
    ctx: &LinkContext,
    out: &mut Vec<u8>,
) -> Option<&'static str> {
    let _ = transport;
    let msg = match ctx.spec.decode(body) {
        Ok(msg) => msg,
        Err(e) => return answer_undecodable(body, ctx, &e, out),
    };
    let Some(response_mti) = iso_map::response_mti(&msg.mti()) else {
        ctx.metrics.dropped(Dropped::NotARequest);
        return None;
    };
    let values = match iso_map::parse(&msg, &ctx.keys, ctx.default_currency) {
        Err(Rejected { code, reason }) => {
            tracing::info!(mti = %msg.mti(), reason, code = code.iso(), "answer a malformed request");
            ResponseValues::rejected(response_mti, code)
        }
        Ok(Parsed::Txn(req)) => {
            let currency = req.amount.map_or(ctx.default_currency, |m| m.currency);
            match decide(req, &msg, ctx).await {
                Some(answer) => ResponseValues::answered(response_mti, &answer, currency),
                None => ResponseValues::rejected(response_mti, ResponseCode::SystemMalfunction),
            }
        }
        Ok(Parsed::Network { terminal, code }) => {
            let known = ctx
                .pipeline
                .read(move |e| {
                    e.terminal(&terminal)
                        .is_some_and(|t| t.status.may_transact())
                })
                .await;
            let rc = match known {
                Ok(true) => ResponseCode::Approved,
                Ok(false) => ResponseCode::NotPermittedToTerminal,
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
    match iso_map::encode_response(&msg, &values, &[], out) {
        Ok(()) => Some(values.code),
        Err(e) => {
            tracing::warn!(error = %e, "encode an answer");
            None
        }
    }
}

/// Decides a transaction request: with the stand-in issuer, or with the upstream
/// issuer when its card routes there. None when posguard is shutting down.
async fn decide(req: Request, msg: &iso8583::Message<'_>, ctx: &LinkContext) -> Option<Answer> {
    let Some(upstream) = &ctx.upstream else {
        return ctx.pipeline.authorize(req).await.ok();
    };
    let routed = upstream.routes(&req);
    let answer = match ctx.pipeline.begin(req.clone(), routed).await.ok()? {
        Begin::Answer(answer) => answer,
        Begin::Forward(forward) => {
            let (result, too_late) = upstream.forward(msg, &forward).await;
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
    upstream.reverse(&record, ctx.pipeline.clone());
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
