//! Shared test harness: start a real posguard on ephemeral ports, on SQLite or on
//! PostgreSQL (POSGUARD_TEST_PG_URL), with short timeouts.
#![allow(dead_code)]

use host::{Config, Running};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh directory under the system temp dir, unique per test.
pub fn temp_dir(tag: &str) -> PathBuf {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("posguard-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    dir
}

/// The PostgreSQL URL for tests, or None (printing why) when tests should skip it.
/// Under CI=true a missing URL is a failure, not a skip.
pub fn pg_url(schema: &str) -> Option<String> {
    match std::env::var("POSGUARD_TEST_PG_URL") {
        Ok(url) => {
            static SWEPT: std::sync::Once = std::sync::Once::new();
            SWEPT.call_once(|| {
                if let Err(e) = store::sweep_test_schemas(&url) {
                    eprintln!("sweep old test schemas: {e}");
                }
            });
            let sep = if url.contains('?') { '&' } else { '?' };
            Some(format!(
                "{url}{sep}schema={schema}_{}_{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ))
        }
        Err(_) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("POSGUARD_TEST_PG_URL must be set when CI=true")
        }
        Err(_) => {
            eprintln!("skipped: POSGUARD_TEST_PG_URL not set");
            None
        }
    }
}

pub fn config(tag: &str, backend: Backend) -> Option<Config> {
    let mut config = Config {
        data_dir: temp_dir(tag),
        ..Config::default()
    };
    config.link.listen = "127.0.0.1:0".into();
    config.http.listen = "127.0.0.1:0".into();
    config.link.idle_timeout_ms = 600;
    config.link.frame_timeout_ms = 400;
    config.link.connections_max = 64;
    // Small preallocated journal segments keep the tests' disk writes small.
    config.journal_segment_mib = 1;
    // Tests start like the demo: a KEK is made in the data directory.
    config.demo = true;
    if backend == Backend::Postgres {
        config.store_url = Some(pg_url(tag)?);
    }
    Some(config)
}

/// Starts posguard with the demo merchant, terminals and cards.
pub async fn start_demo(config: Config) -> Running {
    let running = host::start(config).await.expect("start posguard");
    host::demo::seed(&running.app).await.expect("seed the demo");
    running
}

/// Runs the ledger verifier over the running host's store. The store's calls block
/// (PostgreSQL's client runs its own runtime), so they run off the async workers.
pub fn verify_ledger(running: &Running) {
    tokio::task::block_in_place(|| verify_store(running.app.store.as_ref()));
}

fn verify_store(store: &dyn store::Store) {
    let mut v = ledger::Verifier::new();
    for card in store.cards().expect("read cards") {
        v.add_card(&card);
    }
    store
        .for_each_txn(&mut |t| {
            v.add_txn(t);
            Ok(())
        })
        .expect("read txns");
    store
        .for_each_entry(&mut |e| {
            v.add_entry(e);
            Ok(())
        })
        .expect("read entries");
    let report = v.finish();
    assert!(report.ok(), "ledger verify: {:?}", report.problems);
}

/// A terminal's connection to the link (posguard-ascii, 2-byte framing).
pub async fn ascii_client(addr: std::net::SocketAddr) -> host::client::TerminalClient {
    host::client::TerminalClient::connect(
        &addr.to_string(),
        iso8583::Spec::posguard_ascii(),
        iso8583::frame::FrameFormat::default(),
        std::time::Duration::from_secs(5),
    )
    .await
    .expect("connect")
}

/// A minimal HTTP/1.1 JSON call against the running API with a bearer token: the status
/// and the body (null when it is not JSON).
pub async fn api(
    running: &Running,
    token: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(running.http_addr)
        .await
        .unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    let status = text[9..12].parse().unwrap();
    let json = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (
        status,
        serde_json::from_str(json).unwrap_or(serde_json::Value::Null),
    )
}

/// The demo's approving debit card.
pub const DEMO_PAN: &str = "4761739001010010";

/// A chip purchase of `amount_minor` on the demo card from TERM0001, as a terminal
/// sends it (ISO 8583 0200 over TCP).
pub async fn purchase(
    c: &mut host::client::TerminalClient,
    stan: u32,
    amount_minor: i64,
) -> host::client::Reply {
    let stan = format!("{stan:06}");
    let amount = format!("{amount_minor:012}");
    let mut m = iso8583::MessageBuilder::new();
    m.set_mti("0200")
        .set(2, DEMO_PAN)
        .set(3, "000000")
        .set(4, amount.as_str())
        .set(7, "1121120000")
        .set(11, stan.as_str())
        .set(14, "2812")
        .set(22, "051")
        .set(41, "TERM0001")
        .set(49, "156");
    c.request(&m).await.expect("an answer")
}
