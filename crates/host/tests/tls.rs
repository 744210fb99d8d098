//! TLS on the terminal link and the HTTP API, against a real posguard: certificates are
//! made at test time (rcgen), one CA for the host and the terminals, another that
//! nobody trusts.

mod common;

use common::{Backend, config, start_demo};
use host::client::{ClientError, Reply, TerminalClient};
use host::config::ClientAuth;
use host::link::Transport;
use host::tls::{Acceptor, ClientTls, Pem};
use host::{Config, Running};
use iso8583::frame::FrameFormat;
use iso8583::{MessageBuilder, Spec};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PAN_OK: &str = "4761739001010010";
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// The link's handshake timeout in these tests (short, and unlike the idle timeout).
const HANDSHAKE_TIMEOUT_MS: u64 = 1_000;

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

fn new_ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().expect("a CA key");
    let pem = params.self_signed(&key).expect("self-sign the CA").pem();
    Ca {
        issuer: Issuer::new(params, key),
        pem,
    }
}

/// A certificate and its key, PEM.
struct Leaf {
    cert: String,
    key: String,
}

fn leaf(ca: &Ca, cn: Option<&str>, sans: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
    let names: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(names).expect("params");
    params.distinguished_name = DistinguishedName::new();
    if let Some(cn) = cn {
        params.distinguished_name.push(DnType::CommonName, cn);
    }
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().expect("a key");
    let cert = params.signed_by(&key, &ca.issuer).expect("sign");
    Leaf {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

/// The test PKI, written to `dir`: the CA bundle and the host's certificate and key.
struct Pki {
    ca: Ca,
    rogue: Ca,
    ca_file: PathBuf,
    cert_file: PathBuf,
    key_file: PathBuf,
}

fn pki(dir: &Path) -> Pki {
    let ca = new_ca("posguard test CA");
    let server = leaf(
        &ca,
        Some("posguard"),
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write a PEM file");
        path
    };
    Pki {
        ca_file: write("ca.pem", &ca.pem),
        cert_file: write("server.pem", &server.cert),
        key_file: write("server.key", &server.key),
        rogue: new_ca("someone else's CA"),
        ca,
    }
}

impl Pki {
    /// A terminal's TLS settings, with a client certificate for `cn` if given.
    fn client(&self, cn: Option<&str>) -> ClientTls {
        self.client_from(&self.ca, cn)
    }

    /// As `client`, with a certificate from `issuer`.
    fn client_from(&self, issuer: &Ca, cn: Option<&str>) -> ClientTls {
        let ca = Pem::new("test CA", self.ca.pem.clone());
        let leaf = cn.map(|cn| leaf(issuer, Some(cn), &[], ExtendedKeyUsagePurpose::ClientAuth));
        let pems = leaf.as_ref().map(|l| {
            (
                Pem::new("cert", l.cert.clone()),
                Pem::new("key", l.key.clone()),
            )
        });
        let identity = pems.as_ref().map(|(c, k)| (c, k));
        ClientTls::new("localhost", &ca, identity).expect("client TLS settings")
    }
}

/// A posguard whose link also listens for TLS; client certificates per `client_auth`.
async fn start_tls(tag: &str, client_auth: Option<ClientAuth>) -> (Running, Pki) {
    let mut cfg = config(tag, Backend::Sqlite).expect("a SQLite config");
    let pki = pki(&cfg.data_dir);
    cfg.link.tls_listen = Some("127.0.0.1:0".into());
    cfg.link.tls_cert = Some(pki.cert_file.clone());
    cfg.link.tls_key = Some(pki.key_file.clone());
    cfg.link.tls_handshake_timeout_ms = HANDSHAKE_TIMEOUT_MS;
    if client_auth.is_some() {
        cfg.link.tls_client_ca = Some(pki.ca_file.clone());
        cfg.link.tls_client_auth = client_auth;
    }
    (start_demo(cfg).await, pki)
}

fn tls_addr(running: &Running) -> String {
    running.link_tls_addr.expect("a TLS listener").to_string()
}

async fn tls_client(running: &Running, tls: &ClientTls) -> Result<TerminalClient, ClientError> {
    let (spec, framing) = (Spec::posguard_ascii(), FrameFormat::default());
    TerminalClient::connect_tls(&tls_addr(running), tls, spec, framing, CLIENT_TIMEOUT).await
}

fn purchase_msg(stan: &str) -> MessageBuilder<'_> {
    let mut m = MessageBuilder::new();
    m.set_mti("0200")
        .set(2, PAN_OK)
        .set(3, "000000")
        .set(4, "000000001000")
        .set(7, "1121120000")
        .set(11, stan)
        .set(14, "2812")
        .set(22, "051")
        .set(41, "TERM0001")
        .set(49, "156");
    m
}

/// A purchase over TLS; an error if the handshake or the exchange fails.
async fn tls_purchase(
    running: &Running,
    tls: &ClientTls,
    stan: &str,
) -> Result<Reply, ClientError> {
    let mut c = tls_client(running, tls).await?;
    c.request(&purchase_msg(stan)).await
}

/// The value of one metric line (`name{labels}`), 0 when absent.
fn metric(running: &Running, series: &str) -> u64 {
    let text = running.app.metrics.render();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

/// Waits (briefly) until a counter reaches `want`: the server counts after the client
/// has seen the outcome.
async fn expect_metric(running: &Running, series: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while metric(running, series) != want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(metric(running, series), want, "{series}");
}

fn dropped(reason: &str) -> String {
    format!("posguard_link_dropped_total{{reason=\"{reason}\"}}")
}

fn by_transport(transport: &str) -> String {
    format!("posguard_link_connections_by_transport_total{{transport=\"{transport}\"}}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_over_tls_is_answered_and_plain_tcp_still_works() {
    let (running, pki) = start_tls("tls-purchase", None).await;
    let started = Instant::now();
    let reply = tls_purchase(&running, &pki.client(None), "000001")
        .await
        .expect("an answer over TLS");
    eprintln!(
        "TLS connect, handshake and purchase: {:?}",
        started.elapsed()
    );
    assert_eq!((reply.mti.as_str(), reply.code()), ("0210", "00"));

    let mut plain = TerminalClient::connect(
        &running.link_addr.to_string(),
        Spec::posguard_ascii(),
        FrameFormat::default(),
        CLIENT_TIMEOUT,
    )
    .await
    .expect("connect over TCP");
    let reply = plain
        .request(&purchase_msg("000002"))
        .await
        .expect("an answer");
    assert_eq!(reply.code(), "00");
    expect_metric(&running, &by_transport("tls"), 1).await;
    expect_metric(&running, &by_transport("plain"), 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_client_auth_refuses_missing_and_untrusted_certificates() {
    let (running, pki) = start_tls("tls-required", Some(ClientAuth::Required)).await;
    let anonymous = tls_purchase(&running, &pki.client(None), "000001").await;
    assert!(anonymous.is_err(), "no client certificate: {anonymous:?}");
    let rogue = pki.client_from(&pki.rogue, Some("TERM0001"));
    let untrusted = tls_purchase(&running, &rogue, "000002").await;
    assert!(
        untrusted.is_err(),
        "a certificate from another CA: {untrusted:?}"
    );
    expect_metric(&running, &dropped("tls_handshake"), 2).await;

    // The listener keeps serving the others.
    let reply = tls_purchase(&running, &pki.client(Some("TERM0001")), "000003")
        .await
        .expect("an answer over mutual TLS");
    assert_eq!(reply.code(), "00");
    expect_metric(&running, &by_transport("mtls"), 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_client_auth_tells_mutual_tls_from_tls() {
    let (running, pki) = start_tls("tls-optional", Some(ClientAuth::Optional)).await;
    for (stan, cn) in [("000001", Some("TERM0001")), ("000002", None)] {
        let reply = tls_purchase(&running, &pki.client(cn), stan)
            .await
            .expect("an answer");
        assert_eq!(reply.code(), "00", "{cn:?}");
    }
    expect_metric(&running, &by_transport("mtls"), 1).await;
    expect_metric(&running, &by_transport("tls"), 1).await;
}

/// The handshake's `Transport`, in memory: what `link::connection` is given.
async fn handshake_transport(pki: &Pki, client: &ClientTls) -> Transport {
    let server = host::tls::server_config_from(
        &Pem::read(&pki.cert_file).expect("cert"),
        &Pem::read(&pki.key_file).expect("key"),
        Some(&Pem::new("test CA", pki.ca.pem.clone())),
        ClientAuth::Optional,
    )
    .expect("a server config");
    let acceptor = Acceptor::new(Arc::new(server), Duration::from_secs(5));
    let (client_io, server_io) = tokio::io::duplex(16 * 1024);
    let connector = tokio_rustls::TlsConnector::from(client.config.clone());
    let name = client.server_name.clone();
    let (server_side, client_side) = tokio::join!(
        acceptor.accept(server_io),
        connector.connect(name, client_io)
    );
    client_side.expect("the client's handshake");
    server_side.expect("the server's handshake").1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_certificate_common_name_is_the_mutual_tls_subject() {
    let dir = common::temp_dir("tls-subject");
    let pki = pki(&dir);
    let transport = handshake_transport(&pki, &pki.client(Some("TERM0001"))).await;
    assert_eq!(
        transport,
        Transport::MutualTls {
            subject: "TERM0001".into()
        }
    );
    assert_eq!(
        handshake_transport(&pki, &pki.client(None)).await,
        Transport::Tls
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_tls_client_is_dropped_after_the_handshake_timeout() {
    let (running, pki) = start_tls("tls-silent", None).await;
    let started = Instant::now();
    let mut silent = TcpStream::connect(tls_addr(&running))
        .await
        .expect("connect");
    // A silent client does not hold up the others.
    let reply = tls_purchase(&running, &pki.client(None), "000001")
        .await
        .expect("an answer while a handshake is pending");
    assert_eq!(reply.code(), "00");
    assert!(started.elapsed() < Duration::from_millis(HANDSHAKE_TIMEOUT_MS));

    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut byte)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "closed: {read:?}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(HANDSHAKE_TIMEOUT_MS),
        "{waited:?}"
    );
    expect_metric(&running, &dropped("tls_handshake_timeout"), 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_budget_covers_both_listeners() {
    let mut cfg = config("tls-budget", Backend::Sqlite).expect("a SQLite config");
    let pki = pki(&cfg.data_dir);
    cfg.link.connections_max = 2;
    cfg.link.tls_listen = Some("127.0.0.1:0".into());
    cfg.link.tls_cert = Some(pki.cert_file.clone());
    cfg.link.tls_key = Some(pki.key_file.clone());
    let running = start_demo(cfg).await;
    let mut plain = TerminalClient::connect(
        &running.link_addr.to_string(),
        Spec::posguard_ascii(),
        FrameFormat::default(),
        CLIENT_TIMEOUT,
    )
    .await
    .expect("connect over TCP");
    assert_eq!(
        plain.request(&purchase_msg("000001")).await.unwrap().code(),
        "00"
    );
    let mut tls = tls_client(&running, &pki.client(None)).await.expect("TLS");
    assert_eq!(
        tls.request(&purchase_msg("000002")).await.unwrap().code(),
        "00"
    );
    let third = tls_purchase(&running, &pki.client(None), "000003").await;
    assert!(third.is_err(), "a third connection: {third:?}");
    expect_metric(&running, &dropped("too_many_connections"), 1).await;
}

/// GET `path` over HTTPS; the raw response.
async fn https_get(
    addr: std::net::SocketAddr,
    tls: &ClientTls,
    path: &str,
) -> std::io::Result<String> {
    let tcp = TcpStream::connect(addr).await?;
    let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
    let mut stream = connector.connect(tls.server_name.clone(), tcp).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    stream.flush().await?;
    let mut raw = Vec::new();
    let read = tokio::time::timeout(CLIENT_TIMEOUT, stream.read_to_end(&mut raw)).await;
    match read {
        Ok(Ok(_)) => {}
        // A peer that closes without close_notify, after the answer, ends it too.
        Ok(Err(_)) if !raw.is_empty() => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(std::io::ErrorKind::TimedOut.into()),
    }
    Ok(String::from_utf8_lossy(&raw).into_owned())
}

async fn start_https(tag: &str, client_auth: Option<ClientAuth>) -> (Running, Pki) {
    let mut cfg: Config = config(tag, Backend::Sqlite).expect("a SQLite config");
    let pki = pki(&cfg.data_dir);
    cfg.http.tls_cert = Some(pki.cert_file.clone());
    cfg.http.tls_key = Some(pki.key_file.clone());
    if client_auth.is_some() {
        cfg.http.tls_client_ca = Some(pki.ca_file.clone());
        cfg.http.tls_client_auth = client_auth;
    }
    (host::start(cfg).await.expect("start posguard"), pki)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_speaks_https_only() {
    let (running, pki) = start_https("tls-https", None).await;
    let answer = https_get(running.http_addr, &pki.client(None), "/healthz")
        .await
        .expect("an HTTPS answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("ok\n"), "{answer}");

    let mut plain = TcpStream::connect(running.http_addr)
        .await
        .expect("connect");
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");
    let mut raw = Vec::new();
    let read = tokio::time::timeout(CLIENT_TIMEOUT, plain.read_to_end(&mut raw)).await;
    assert!(read.is_ok(), "the plain connection is closed");
    assert!(!raw.starts_with(b"HTTP/"), "plain HTTP got {raw:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_can_require_client_certificates() {
    let (running, pki) = start_https("tls-https-mtls", Some(ClientAuth::Required)).await;
    let anonymous = https_get(running.http_addr, &pki.client(None), "/healthz").await;
    assert!(
        !anonymous
            .as_deref()
            .unwrap_or("")
            .starts_with("HTTP/1.1 200"),
        "{anonymous:?}"
    );
    let answer = https_get(running.http_addr, &pki.client(Some("ops")), "/healthz")
        .await
        .expect("an HTTPS answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tls_settings_stop_the_start_and_name_the_file() {
    let mut cfg = config("tls-bad", Backend::Sqlite).expect("a SQLite config");
    let pki = pki(&cfg.data_dir);
    cfg.link.tls_listen = Some("127.0.0.1:0".into());
    let error = host::start(cfg.clone())
        .await
        .err()
        .expect("no certificate");
    assert!(
        error.to_string().contains("link.tls_listen needs"),
        "{error}"
    );

    // A key that is not the certificate's: the message names both files, not the key.
    let other = leaf(
        &pki.ca,
        Some("other"),
        &[],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let other_key = cfg.data_dir.join("other.key");
    std::fs::write(&other_key, &other.key).expect("write");
    cfg.link.tls_cert = Some(pki.cert_file.clone());
    cfg.link.tls_key = Some(other_key.clone());
    let error = host::start(cfg.clone())
        .await
        .err()
        .expect("a mismatched key");
    let message = error.to_string();
    assert!(
        message.contains(&other_key.display().to_string()),
        "{message}"
    );
    let key_body: String = other
        .key
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert!(!message.contains(&key_body[..24]), "{message}");

    // Not a key at all.
    std::fs::write(
        &other_key,
        "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
    )
    .expect("write");
    let error = host::start(cfg.clone()).await.err().expect("a broken key");
    assert!(error.to_string().contains("other.key"), "{error}");
    assert!(!format!("{error:?}").contains("!!!!"), "{error:?}");

    cfg.link.tls_key = Some(pki.key_file.clone());
    cfg.link.tls_client_auth = Some(ClientAuth::Optional);
    let error = host::start(cfg)
        .await
        .err()
        .expect("client auth without a CA");
    assert!(
        error
            .to_string()
            .contains("link.tls_client_auth needs link.tls_client_ca"),
        "{error}"
    );
}
