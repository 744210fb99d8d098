//! One attempt at one request: a connection (kept while the endpoint is busy), the
//! signed POST, and what its answer means. Built on `hyper::client::conn::http1` over a
//! `TcpStream` (and rustls for `https://`), every step inside the request timeout.

use super::Shared;
use super::endpoint::Target;
use super::event::Event;
use super::signature::signature_header;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::{Builder, SendRequest};
use hyper::header::{
    CONTENT_TYPE, HOST, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER, USER_AGENT,
};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Largest response head read (status line and headers).
const RESPONSE_HEAD_MAX_BYTES: usize = 16 * 1024;
/// Response body read so that the connection can be used again; a longer one closes it.
const RESPONSE_BODY_MAX_BYTES: usize = 64 * 1024;
/// A connection idle longer than this is not used again (servers close idle ones,
/// Node's after 5 s; sending on one being closed would cost an attempt).
const CONNECTION_IDLE_MAX_MS: u64 = 4_000;

const X_EVENT: HeaderName = HeaderName::from_static("x-posguard-event");
const X_DELIVERY: HeaderName = HeaderName::from_static("x-posguard-delivery");
const X_TIMESTAMP: HeaderName = HeaderName::from_static("x-posguard-timestamp");
const X_SIGNATURE: HeaderName = HeaderName::from_static("x-posguard-signature");

/// What one attempt came to. Errors name what failed, never the body or the URL.
pub(super) enum Attempt {
    Delivered,
    /// Retrying will not help (4xx other than 408/429, 3xx, 1xx).
    Permanent(String),
    Retry {
        error: String,
        /// The receiver's `Retry-After`, in seconds form.
        retry_after: Option<Duration>,
    },
}

/// What an HTTP status means for a webhook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    Delivered,
    Retry,
    Permanent,
}

pub(super) fn classify(status: StatusCode) -> Verdict {
    match status.as_u16() {
        200..=299 => Verdict::Delivered,
        408 | 429 | 500..=599 => Verdict::Retry,
        _ => Verdict::Permanent,
    }
}

struct Conn {
    target: Arc<Target>,
    sender: SendRequest<Full<Bytes>>,
    /// The task driving the connection; aborted when the connection is dropped, so that
    /// a receiver that hangs holds no task.
    driver: JoinHandle<()>,
    idle_since: Instant,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// An endpoint's connection, if it has one worth using again.
#[derive(Default)]
pub(super) struct Client {
    conn: Option<Conn>,
}

impl Client {
    pub async fn attempt(
        &mut self,
        shared: &Shared,
        target: &Arc<Target>,
        event: &Event,
    ) -> Attempt {
        let timeout_ms = shared.limits.request_timeout_ms;
        let deadline = Instant::now() + Duration::from_millis(timeout_ms);
        let sent = tokio::time::timeout_at(deadline, self.exchange(shared, target, event)).await;
        let (mut conn, response) = match sent {
            Ok(Ok(sent)) => sent,
            Ok(Err(error)) => {
                return Attempt::Retry {
                    error,
                    retry_after: None,
                };
            }
            Err(_) => {
                let error = format!("no answer within {timeout_ms} ms");
                return Attempt::Retry {
                    error,
                    retry_after: None,
                };
            }
        };
        let status = response.status();
        let retry_after = retry_after(response.headers());
        // The status decides; the body is read (bounded) only to keep the connection.
        let body = Limited::new(response.into_body(), RESPONSE_BODY_MAX_BYTES).collect();
        let drained = matches!(tokio::time::timeout_at(deadline, body).await, Ok(Ok(_)));
        if drained && !conn.sender.is_closed() {
            conn.idle_since = Instant::now();
            self.conn = Some(conn);
        }
        let error = format!("HTTP {}", status.as_u16());
        match classify(status) {
            Verdict::Delivered => Attempt::Delivered,
            Verdict::Retry => Attempt::Retry { error, retry_after },
            Verdict::Permanent => Attempt::Permanent(error),
        }
    }

    /// Sends the request and reads the response's head. A kept connection that turns
    /// out closed before the request left is replaced once.
    async fn exchange(
        &mut self,
        shared: &Shared,
        target: &Arc<Target>,
        event: &Event,
    ) -> Result<(Conn, hyper::Response<Incoming>), String> {
        let request = request(shared, target, event)?;
        if let Some(mut conn) = self.kept(target)
            && conn.sender.ready().await.is_ok()
        {
            return match conn.sender.try_send_request(request).await {
                Ok(response) => Ok((conn, response)),
                Err(mut e) => match e.take_message() {
                    Some(unsent) => self.fresh(shared, target, unsent).await,
                    None => Err(format!("HTTP exchange: {}", e.into_error())),
                },
            };
        }
        self.fresh(shared, target, request).await
    }

    async fn fresh(
        &mut self,
        shared: &Shared,
        target: &Arc<Target>,
        request: Request<Full<Bytes>>,
    ) -> Result<(Conn, hyper::Response<Incoming>), String> {
        let mut conn = connect(shared, target).await?;
        conn.sender
            .ready()
            .await
            .map_err(|e| format!("HTTP connection: {e}"))?;
        match conn.sender.send_request(request).await {
            Ok(response) => Ok((conn, response)),
            Err(e) => Err(format!("HTTP exchange: {e}")),
        }
    }

    /// The kept connection, if it goes to this target and is fresh enough.
    fn kept(&mut self, target: &Arc<Target>) -> Option<Conn> {
        let conn = self.conn.take()?;
        let idle = conn.idle_since.elapsed() <= Duration::from_millis(CONNECTION_IDLE_MAX_MS);
        let usable = idle && Arc::ptr_eq(&conn.target, target) && !conn.sender.is_closed();
        usable.then_some(conn)
    }
}

/// The signed POST, stamped now.
fn request(
    shared: &Shared,
    target: &Target,
    event: &Event,
) -> Result<Request<Full<Bytes>>, String> {
    let timestamp = (shared.now_ms)().div_euclid(1_000).to_string();
    let signature = signature_header(&shared.secret, &timestamp, &event.body);
    Request::builder()
        .method(Method::POST)
        .uri(target.path.clone())
        .header(HOST, target.authority.clone())
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(USER_AGENT, HeaderValue::from_static("posguard-webhooks"))
        .header(X_EVENT, event.event_type.as_str())
        .header(X_DELIVERY, event.id.as_str())
        .header(X_TIMESTAMP, timestamp)
        .header(X_SIGNATURE, signature)
        .body(Full::new(event.body.clone()))
        .map_err(|e| format!("build the request: {e}"))
}

async fn connect(shared: &Shared, target: &Arc<Target>) -> Result<Conn, String> {
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    // Small requests, one at a time: do not wait to fill a segment.
    let _ = tcp.set_nodelay(true);
    let mut builder = Builder::new();
    builder.max_buf_size(RESPONSE_HEAD_MAX_BYTES);
    let (sender, driver) = match (&target.tls, &shared.tls) {
        (None, _) => {
            let (sender, conn) = builder
                .handshake(TokioIo::new(tcp))
                .await
                .map_err(http_error)?;
            (sender, tokio::spawn(drive(conn)))
        }
        (Some(name), Some(config)) => {
            let tls = tokio_rustls::TlsConnector::from(config.clone())
                .connect(name.clone(), tcp)
                .await
                .map_err(|e| format!("TLS handshake: {e}"))?;
            let (sender, conn) = builder
                .handshake(TokioIo::new(tls))
                .await
                .map_err(http_error)?;
            (sender, tokio::spawn(drive(conn)))
        }
        (Some(_), None) => return Err("https:// without a CA bundle".into()),
    };
    Ok(Conn {
        target: target.clone(),
        sender,
        driver,
        idle_since: Instant::now(),
    })
}

fn http_error(e: hyper::Error) -> String {
    format!("HTTP connection: {e}")
}

async fn drive(conn: impl Future<Output = hyper::Result<()>>) {
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, "a webhook connection ended");
    }
}

/// `Retry-After` in seconds (an HTTP date is not read: the backoff applies).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?;
    let secs: u64 = text.trim().parse().ok()?;
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_delivered_retried_or_refused() {
        let class = |code: u16| classify(StatusCode::from_u16(code).unwrap());
        for code in [200, 201, 202, 204, 299] {
            assert_eq!(class(code), Verdict::Delivered, "{code}");
        }
        for code in [408, 429, 500, 502, 503, 504, 599] {
            assert_eq!(class(code), Verdict::Retry, "{code}");
        }
        for code in [100, 301, 302, 400, 401, 403, 404, 410, 413, 422] {
            assert_eq!(class(code), Verdict::Permanent, "{code}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_only() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
