//! Webhook deliveries to receivers on 127.0.0.1: signatures, retries and backoff, dead
//! letters, a receiver that hangs, full queues, order, filtering, endpoint changes and
//! HTTPS. Limits are small so that the whole file runs in about a second.

use hmac::{Hmac, Mac};
use host::config::ClientAuth;
use host::tls::{Acceptor, Pem};
use host::webhooks::{
    DeadLetter, DeadLetterSink, DeadReason, Endpoint, Env, Limits, WebhookConfig, Webhooks,
    verify_signature,
};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::HeaderMap;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use paycrypto::HmacKey;
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

const SECRET: [u8; 32] = *b"posguard-webhooks-test-secret-32";
const NOW_MS: i64 = 1_700_000_000_123;
const NOW_SECS: i64 = 1_700_000_000;

fn secret() -> HmacKey {
    HmacKey::from_bytes(&SECRET).expect("a 32-byte key")
}

fn env() -> Env {
    Env {
        now_ms: || NOW_MS,
        seed: 42,
    }
}

/// Small limits: tests wait tens of milliseconds, not seconds.
fn fast() -> Limits {
    Limits {
        queue_depth_max_events: 1_000,
        attempts_max: 3,
        backoff_base_ms: 20,
        backoff_max_ms: 100,
        request_timeout_ms: 500,
        body_size_max_bytes: 64 * 1024,
    }
}

fn endpoint(id: &str, url: &str, events: &[&str]) -> Endpoint {
    Endpoint {
        id: id.into(),
        url: url.into(),
        events: events.iter().map(|e| e.to_string()).collect(),
    }
}

/// The dead-letter callback, and where it puts what it gets.
fn dead_letters() -> (DeadLetterSink, Arc<Mutex<Vec<DeadLetter>>>) {
    let letters = Arc::new(Mutex::new(Vec::new()));
    let sink = letters.clone();
    (
        Arc::new(move |letter| sink.lock().unwrap().push(letter)),
        letters,
    )
}

fn start(endpoints: Vec<Endpoint>, limits: Limits) -> (Webhooks, Arc<Mutex<Vec<DeadLetter>>>) {
    let (sink, letters) = dead_letters();
    let config = WebhookConfig {
        endpoints,
        limits,
        ca_bundle: None,
    };
    let webhooks = Webhooks::start(config, secret(), sink, env()).expect("start webhooks");
    (webhooks, letters)
}

/// Polls `check` until it gives a value (3 s at most).
async fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[derive(Clone, Debug)]
struct Seen {
    target: String,
    headers: HeaderMap,
    body: Bytes,
    status: u16,
    at: Instant,
}

impl Seen {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct Script {
    statuses: Mutex<VecDeque<u16>>,
    seen: Mutex<Vec<Seen>>,
    connections: AtomicUsize,
}

/// A receiver that answers each request with the next status of its script, then 200.
struct Receiver {
    url: String,
    script: Arc<Script>,
}

impl Receiver {
    async fn start(statuses: &[u16]) -> Receiver {
        Self::start_with(statuses, None).await
    }

    async fn start_with(statuses: &[u16], tls: Option<Acceptor>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Script::default());
        script.statuses.lock().unwrap().extend(statuses);
        tokio::spawn(accept(listener, tls, script.clone()));
        Receiver {
            url: format!("{scheme}://{addr}/hooks/posguard?token=t0k"),
            script,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.script.seen.lock().unwrap().clone()
    }

    async fn wait_seen(&self, n: usize) -> Vec<Seen> {
        wait_for(&format!("{n} requests"), || {
            let seen = self.seen();
            (seen.len() >= n).then_some(seen)
        })
        .await
    }
}

async fn accept(listener: TcpListener, tls: Option<Acceptor>, script: Arc<Script>) {
    while let Ok((tcp, _)) = listener.accept().await {
        script.connections.fetch_add(1, Relaxed);
        let (tls, script) = (tls.clone(), script.clone());
        tokio::spawn(async move {
            match tls {
                None => serve(TokioIo::new(tcp), script).await,
                Some(acceptor) => {
                    if let Ok((stream, _)) = acceptor.accept(tcp).await {
                        serve(TokioIo::new(stream), script).await;
                    }
                }
            }
        });
    }
}

async fn serve<I>(io: I, script: Arc<Script>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |request: Request<Incoming>| {
        let script = script.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let status = script.statuses.lock().unwrap().pop_front().unwrap_or(200);
            script.seen.lock().unwrap().push(Seen {
                target: parts.uri.to_string(),
                headers: parts.headers,
                body,
                status,
                at: Instant::now(),
            });
            let response = Response::builder().status(status);
            Ok::<_, Infallible>(response.body(Full::new(Bytes::from_static(b"ok"))).unwrap())
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .await;
}

/// A receiver that accepts connections and never answers; counts them.
async fn hanging_receiver() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            count.fetch_add(1, Relaxed);
            held.push(tcp);
        }
    });
    (url, accepted)
}

#[tokio::test]
async fn a_delivered_event_is_signed_over_timestamp_and_body() {
    let receiver = Receiver::start(&[]).await;
    let (webhooks, _) = start(vec![endpoint("crm", &receiver.url, &[])], fast());
    let payload = json!({"alert": {"id": 7, "rule": "velocity"}});
    let id = webhooks.emit("alert.created", payload.clone()).unwrap();
    let seen = receiver.wait_seen(1).await.remove(0);

    assert_eq!(seen.target, "/hooks/posguard?token=t0k");
    assert_eq!(seen.header("content-type"), "application/json");
    assert_eq!(seen.header("x-posguard-event"), "alert.created");
    assert_eq!(seen.header("x-posguard-delivery"), id);
    let timestamp = seen.header("x-posguard-timestamp");
    assert_eq!(timestamp, NOW_SECS.to_string());
    let body = seen.json();
    assert_eq!(body["id"], json!(id));
    assert_eq!(body["type"], json!("alert.created"));
    assert_eq!(body["created_ms"], json!(NOW_MS));
    assert_eq!(body["data"], payload);

    let signature = seen.header("x-posguard-signature");
    assert!(verify_signature(
        &secret(),
        timestamp,
        &seen.body,
        signature,
        NOW_SECS
    ));
    let mut independent = <Hmac<Sha256> as Mac>::new_from_slice(&SECRET).unwrap();
    independent.update(format!("{timestamp}.").as_bytes());
    independent.update(&seen.body);
    let expected = hex::encode(independent.finalize().into_bytes());
    assert_eq!(signature, format!("sha256={expected}"));
    let other = HmacKey::from_bytes(&[1; 32]).unwrap();
    assert!(!verify_signature(
        &other, timestamp, &seen.body, signature, NOW_SECS
    ));
    assert!(!verify_signature(
        &secret(),
        timestamp,
        &seen.body,
        signature,
        NOW_SECS + 301
    ));
    wait_for("the delivery to be counted", || {
        (webhooks.stats().delivered == 1).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_receiver_failing_twice_gets_the_event_on_the_third_attempt() {
    let receiver = Receiver::start(&[500, 503]).await;
    let limits = Limits {
        attempts_max: 8,
        backoff_base_ms: 40,
        backoff_max_ms: 1_000,
        ..fast()
    };
    let (webhooks, letters) = start(vec![endpoint("crm", &receiver.url, &[])], limits);
    let id = webhooks.emit("case.updated", json!({"case": 1})).unwrap();
    let seen = receiver.wait_seen(3).await;
    let statuses: Vec<u16> = seen.iter().map(|s| s.status).collect();
    assert_eq!(statuses, [500, 503, 200]);
    for attempt in &seen {
        assert_eq!(attempt.header("x-posguard-delivery"), id);
        let (ts, sig) = (
            attempt.header("x-posguard-timestamp"),
            attempt.header("x-posguard-signature"),
        );
        assert!(verify_signature(
            &secret(),
            ts,
            &attempt.body,
            sig,
            NOW_SECS
        ));
    }
    // Backoff after failed attempt n is at least half of 40 ms * 2^(n-1).
    assert!(seen[1].at - seen[0].at >= Duration::from_millis(20));
    assert!(seen[2].at - seen[1].at >= Duration::from_millis(40));
    let stats = wait_for("the delivery", || {
        let stats = webhooks.stats();
        (stats.delivered == 1).then_some(stats)
    })
    .await;
    assert_eq!((stats.retried, stats.dead_lettered), (2, 0));
    assert!(letters.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_client_error_dead_letters_at_once() {
    let receiver = Receiver::start(&[400]).await;
    let (webhooks, letters) = start(vec![endpoint("crm", &receiver.url, &[])], fast());
    let id = webhooks.emit("alert.created", json!({"n": 1})).unwrap();
    let letter = wait_for("a dead letter", || letters.lock().unwrap().first().cloned()).await;
    assert_eq!(letter.endpoint_id, "crm");
    assert_eq!(letter.event_id, id);
    assert_eq!(letter.event_type, "alert.created");
    assert_eq!((letter.attempts, letter.reason), (1, DeadReason::Rejected));
    assert_eq!(letter.last_error, "HTTP 400");
    assert_eq!(letter.at_ms, NOW_MS);
    assert_eq!(letter.body.as_bytes(), &receiver.seen()[0].body[..]);
    assert!(
        !format!("{letter:?}").contains("\"n\""),
        "Debug shows no payload"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(receiver.seen().len(), 1, "no retry after a 400");
    let stats = webhooks.stats();
    assert_eq!(
        (stats.retried, stats.dead_lettered, stats.delivered),
        (0, 1, 0)
    );
}

#[tokio::test]
async fn throttles_and_timeouts_are_retried_until_the_attempt_limit() {
    let receiver = Receiver::start(&[429, 408, 502]).await;
    let (webhooks, letters) = start(vec![endpoint("crm", &receiver.url, &[])], fast());
    let id = webhooks.emit("alert.created", json!({})).unwrap();
    let letter = wait_for("a dead letter", || letters.lock().unwrap().first().cloned()).await;
    assert_eq!((letter.event_id, letter.attempts), (id, 3));
    assert_eq!(
        (letter.reason, letter.last_error.as_str()),
        (DeadReason::Exhausted, "HTTP 502")
    );
    assert_eq!(receiver.seen().len(), 3);
    assert_eq!(webhooks.stats().retried, 2);
}

#[tokio::test]
async fn a_hanging_receiver_times_out_and_dead_letters_while_emit_stays_instant() {
    let (url, accepted) = hanging_receiver().await;
    let limits = Limits {
        queue_depth_max_events: 100,
        request_timeout_ms: 150,
        backoff_base_ms: 10,
        backoff_max_ms: 20,
        ..fast()
    };
    let (webhooks, letters) = start(vec![endpoint("slow", &url, &[])], limits);
    let first = webhooks
        .emit("alert.created", json!({"first": true}))
        .unwrap();
    wait_for("the receiver to hang", || {
        (accepted.load(Relaxed) == 1).then_some(())
    })
    .await;

    // A sanity bound, not a benchmark: emit does not wait for the hung delivery.
    let started = Instant::now();
    for n in 0..10_000 {
        webhooks.emit("alert.created", json!({"n": n})).unwrap();
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(1),
        "10,000 emits took {elapsed:?}"
    );
    // The first event is in flight, so 100 fit; the delivery task cannot run during the
    // loop (a current-thread runtime), so the counts are exact.
    let stats = webhooks.stats();
    assert_eq!((stats.queued, stats.dropped_queue_full), (100, 9_900));

    let letter = wait_for("the hung event's dead letter", || {
        let letters = letters.lock().unwrap();
        letters.iter().find(|l| l.event_id == first).cloned()
    })
    .await;
    assert_eq!((letter.reason, letter.attempts), (DeadReason::Exhausted, 3));
    assert_eq!(letter.last_error, "no answer within 150 ms");
    // A connection per attempt (a timed-out one is not used again); the next queued
    // event may already have opened its own.
    assert!(accepted.load(Relaxed) >= 3);
    assert!(webhooks.stats().retried >= 2);
}

#[tokio::test]
async fn a_full_queue_dead_letters_new_events_and_counts_them() {
    let (url, accepted) = hanging_receiver().await;
    let limits = Limits {
        queue_depth_max_events: 4,
        ..fast()
    };
    let (webhooks, letters) = start(vec![endpoint("slow", &url, &[])], limits);
    webhooks.emit("alert.created", json!({"n": 0})).unwrap();
    wait_for("the receiver to hang", || {
        (accepted.load(Relaxed) == 1).then_some(())
    })
    .await;
    let ids: Vec<String> = (1..=10)
        .map(|n| webhooks.emit("alert.created", json!({ "n": n })).unwrap())
        .collect();
    let stats = webhooks.stats();
    assert_eq!(
        (stats.queued, stats.dropped_queue_full, stats.dead_lettered),
        (4, 6, 6)
    );
    let letters = letters.lock().unwrap().clone();
    let dropped: Vec<&str> = letters.iter().map(|l| l.event_id.as_str()).collect();
    assert_eq!(
        dropped,
        ids[4..].iter().map(String::as_str).collect::<Vec<_>>()
    );
    for letter in &letters {
        assert_eq!((letter.reason, letter.attempts), (DeadReason::QueueFull, 0));
        assert_eq!(letter.endpoint_id, "slow");
    }
    let bodies: Vec<i64> = letters
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(&l.body).unwrap()["data"]["n"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(bodies, [5, 6, 7, 8, 9, 10]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_endpoint_gets_its_events_in_order_even_through_retries() {
    let script: Vec<u16> = (0..40)
        .map(|i| if i % 3 == 1 { 500 } else { 200 })
        .collect();
    let receiver = Receiver::start(&script).await;
    let limits = Limits {
        attempts_max: 8,
        backoff_base_ms: 2,
        backoff_max_ms: 5,
        ..fast()
    };
    let (webhooks, letters) = start(vec![endpoint("crm", &receiver.url, &[])], limits);
    for seq in 0..30 {
        webhooks
            .emit("case.updated", json!({ "seq": seq }))
            .unwrap();
    }
    wait_for("30 deliveries", || {
        (webhooks.stats().delivered == 30).then_some(())
    })
    .await;
    let seen = receiver.seen();
    let seq = |s: &Seen| s.json()["data"]["seq"].as_i64().unwrap();
    let delivered: Vec<i64> = seen.iter().filter(|s| s.status == 200).map(seq).collect();
    assert_eq!(delivered, (0..30).collect::<Vec<_>>());
    let attempted: Vec<i64> = seen.iter().map(seq).collect();
    assert!(
        attempted.is_sorted(),
        "an event was attempted before an earlier one: {attempted:?}"
    );
    assert!(webhooks.stats().retried > 0);
    assert!(letters.lock().unwrap().is_empty());
    let connections = receiver.script.connections.load(Relaxed);
    assert_eq!(
        connections, 1,
        "one kept-alive connection carries every attempt"
    );
}

#[tokio::test]
async fn endpoints_get_only_the_event_types_they_want() {
    let (alerts, everything) = (Receiver::start(&[]).await, Receiver::start(&[]).await);
    let endpoints = vec![
        endpoint("alerts", &alerts.url, &["alert.created"]),
        endpoint("all", &everything.url, &[]),
    ];
    let (webhooks, _) = start(endpoints, fast());
    for event_type in [
        "alert.created",
        "case.updated",
        "alert.created",
        "label.added",
    ] {
        webhooks.emit(event_type, json!({})).unwrap();
    }
    wait_for("6 deliveries", || {
        (webhooks.stats().delivered == 6).then_some(())
    })
    .await;
    let types = |r: &Receiver| -> Vec<String> {
        r.seen()
            .iter()
            .map(|s| s.header("x-posguard-event").to_owned())
            .collect()
    };
    assert_eq!(types(&alerts), ["alert.created", "alert.created"]);
    let all = [
        "alert.created",
        "case.updated",
        "alert.created",
        "label.added",
    ];
    assert_eq!(types(&everything), all);
}

#[tokio::test]
async fn endpoints_change_at_run_time() {
    let (first, moved, added) = (
        Receiver::start(&[]).await,
        Receiver::start(&[]).await,
        Receiver::start(&[]).await,
    );
    let (webhooks, letters) = start(vec![endpoint("crm", &first.url, &[])], fast());
    webhooks.emit("alert.created", json!({"n": 1})).unwrap();
    first.wait_seen(1).await;

    let endpoints = vec![
        endpoint("crm", &moved.url, &[]),
        endpoint("siem", &added.url, &[]),
    ];
    webhooks.set_endpoints(endpoints).unwrap();
    webhooks.emit("alert.created", json!({"n": 2})).unwrap();
    moved.wait_seen(1).await;
    added.wait_seen(1).await;
    assert_eq!(first.seen().len(), 1);

    // Removing an endpoint gives up what it held: the event in flight and the queued.
    let (url, accepted) = hanging_receiver().await;
    webhooks
        .set_endpoints(vec![endpoint("slow", &url, &[])])
        .unwrap();
    let ids: Vec<String> = (0..3)
        .map(|_| webhooks.emit("alert.created", json!({})).unwrap())
        .collect();
    wait_for("the receiver to hang", || {
        (accepted.load(Relaxed) == 1).then_some(())
    })
    .await;
    webhooks.set_endpoints(Vec::new()).unwrap();
    let given_up = wait_for("3 dead letters", || {
        let letters = letters.lock().unwrap();
        (letters.len() == 3).then(|| letters.clone())
    })
    .await;
    let given_up_ids: Vec<&String> = given_up.iter().map(|l| &l.event_id).collect();
    assert_eq!(given_up_ids, ids.iter().collect::<Vec<_>>());
    assert!(
        given_up
            .iter()
            .all(|l| l.reason == DeadReason::EndpointRemoved)
    );
    assert_eq!(given_up[0].attempts, 1);
    assert!(webhooks.endpoints().is_empty());
}

/// A CA and a certificate for 127.0.0.1 signed by it: (CA PEM, certificate PEM, key PEM).
fn pki() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "webhook test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    (ca_pem, cert.pem(), key.serialize_pem())
}

fn write_temp(name: &str, text: &str) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("posguard-webhooks-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn https_endpoints_are_verified_against_the_configured_ca_bundle() {
    let (ca, cert, key) = pki();
    let server = host::tls::server_config_from(
        &Pem::new("cert", cert),
        &Pem::new("key", key),
        None,
        ClientAuth::Optional,
    )
    .unwrap();
    let acceptor = Acceptor::new(Arc::new(server), Duration::from_secs(1));
    let receiver = Receiver::start_with(&[], Some(acceptor)).await;

    let trusted = write_temp("trusted.pem", &ca);
    let rogue = write_temp("rogue.pem", &pki().0);
    for (bundle, delivered) in [(trusted, true), (rogue, false)] {
        let (sink, letters) = dead_letters();
        let config = WebhookConfig {
            endpoints: vec![endpoint("tls", &receiver.url, &[])],
            limits: Limits {
                attempts_max: 1,
                ..fast()
            },
            ca_bundle: Some(bundle.clone()),
        };
        let webhooks = Webhooks::start(config, secret(), sink, env()).unwrap();
        webhooks.emit("alert.created", json!({})).unwrap();
        if delivered {
            let seen = receiver.wait_seen(1).await.remove(0);
            let (ts, sig) = (
                seen.header("x-posguard-timestamp"),
                seen.header("x-posguard-signature"),
            );
            assert!(verify_signature(&secret(), ts, &seen.body, sig, NOW_SECS));
        } else {
            let letter =
                wait_for("a dead letter", || letters.lock().unwrap().first().cloned()).await;
            assert!(
                letter.last_error.starts_with("TLS handshake"),
                "{}",
                letter.last_error
            );
            assert_eq!(receiver.seen().len(), 1, "nothing reached the receiver");
        }
        let _ = std::fs::remove_file(bundle);
    }
}
