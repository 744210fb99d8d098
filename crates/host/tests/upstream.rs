//! The upstream connector against a second posguard acting as the issuer, over real
//! TCP: forwarding, declines, voids and reversals upstream, an upstream that is down,
//! and one that answers too late.

mod common;

use common::{Backend, config, start_demo, verify_ledger};
use host::Running;
use host::client::{Reply, TerminalClient};
use host::config::UpstreamConfig;
use iso8583::frame::FrameFormat;
use iso8583::{MessageBuilder, Spec};
use model::{TerminalId, TxnStatus};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const PAN_OK: &str = "4761739001010010";
const F7: &str = "1121120000";

fn upstream_to(addr: &str, timeout_ms: u64, on_unavailable: &str) -> UpstreamConfig {
    UpstreamConfig {
        addr: addr.to_owned(),
        timeout_ms,
        on_unavailable: on_unavailable.to_owned(),
        ..UpstreamConfig::default()
    }
}

async fn acquirer(tag: &str, upstream: UpstreamConfig, wait_connected: bool) -> Running {
    let mut cfg = config(tag, Backend::Sqlite).expect("sqlite needs no setup");
    cfg.upstream = Some(upstream);
    start_acquirer(cfg, wait_connected).await
}

async fn start_acquirer(cfg: host::Config, wait_connected: bool) -> Running {
    let running = start_demo(cfg).await;
    if wait_connected {
        let up = running.app.upstream.clone().expect("configured");
        for _ in 0..100 {
            if up.is_connected() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(up.is_connected(), "connected to the issuer");
    }
    running
}

async fn client(running: &Running) -> TerminalClient {
    TerminalClient::connect(
        &running.link_addr.to_string(),
        Spec::posguard_ascii(),
        FrameFormat::default(),
        Duration::from_secs(5),
    )
    .await
    .unwrap()
}

async fn send(
    c: &mut TerminalClient,
    mti: &str,
    proc_code: &str,
    stan: &str,
    extra: &[(u8, &str)],
) -> Reply {
    let mut m = MessageBuilder::new();
    m.set_mti(mti)
        .set(3, proc_code)
        .set(4, "000000010000")
        .set(7, F7)
        .set(11, stan)
        .set(41, "TERM0001")
        .set(49, "156");
    for (n, v) in extra {
        m.set(*n, *v);
    }
    c.request(&m).await.expect("an answer")
}

/// A purchase of 100.00 with the card's expiry; returns field 39 of the answer.
async fn purchase(c: &mut TerminalClient, stan: &str, pan: &str) -> String {
    send(c, "0200", "000000", stan, &[(2, pan), (14, "2812")])
        .await
        .code()
        .to_owned()
}

fn txn_by_stan(running: &Running, stan: &str) -> model::TxnRecord {
    let store = running.app.store.clone();
    let stan = stan.to_owned();
    tokio::task::block_in_place(move || {
        let q = store::TxnQuery {
            terminal_id: Some(TerminalId("TERM0001".into())),
            limit: 1000,
            ..Default::default()
        };
        store
            .search_txns(&q)
            .unwrap()
            .into_iter()
            .find(|t| t.stan == stan && t.kind != model::TxnKind::Reversal)
            .expect("a txn with that STAN")
    })
}

async fn eventually_status(running: &Running, stan: &str, status: TxnStatus) {
    for _ in 0..150 {
        if txn_by_stan(running, stan).status == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("txn {stan} never became {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_to_a_second_posguard_acting_as_issuer() {
    let issuer = start_demo(config("issuer", Backend::Sqlite).unwrap()).await;
    let acq = acquirer(
        "acquirer",
        upstream_to(&issuer.link_addr.to_string(), 3_000, "stand_in"),
        true,
    )
    .await;
    let mut c = client(&acq).await;

    let sale = send(
        &mut c,
        "0200",
        "000000",
        "000001",
        &[(2, PAN_OK), (14, "2812")],
    )
    .await;
    assert_eq!(sale.code(), "00");
    let at_issuer = txn_by_stan(&issuer, "000001");
    assert_eq!(at_issuer.status, TxnStatus::Approved);
    assert_eq!(
        sale.get(38),
        at_issuer.auth_code.as_deref(),
        "the issuer's approval code"
    );
    let at_acq = txn_by_stan(&acq, "000001");
    assert!(at_acq.upstream && !at_acq.stand_in);

    let lost = send(
        &mut c,
        "0200",
        "000000",
        "000002",
        &[(2, "6222021000000013"), (14, "2812")],
    )
    .await;
    assert_eq!(lost.code(), "41", "the issuer's decline");

    // A void is forwarded with field 90 naming the original; both sides void it.
    let rrn = sale.get(37).unwrap().to_owned();
    assert_eq!(
        send(&mut c, "0200", "020000", "000003", &[(37, &rrn)])
            .await
            .code(),
        "00"
    );
    assert_eq!(txn_by_stan(&issuer, "000001").status, TxnStatus::Voided);
    assert_eq!(txn_by_stan(&acq, "000001").status, TxnStatus::Voided);

    // A reversal is acknowledged at once and reaches the issuer as a 0420.
    assert_eq!(purchase(&mut c, "000004", PAN_OK).await, "00");
    assert_eq!(
        send(&mut c, "0400", "000000", "000004", &[]).await.code(),
        "00"
    );
    eventually_status(&issuer, "000004", TxnStatus::Reversed).await;
    assert_eq!(txn_by_stan(&acq, "000004").status, TxnStatus::Reversed);
    verify_ledger(&acq);
    verify_ledger(&issuer);
}

/// A free port with nothing listening on it.
async fn closed_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_is_down_gets_stand_in_or_91() {
    let down = closed_port().await;
    let stand_in = acquirer("standin", upstream_to(&down, 500, "stand_in"), false).await;
    let mut c = client(&stand_in).await;
    assert_eq!(purchase(&mut c, "000001", PAN_OK).await, "00");
    assert!(txn_by_stan(&stand_in, "000001").stand_in);
    assert_eq!(
        purchase(&mut c, "000002", "5200000000000007").await,
        "91",
        "a card posguard does not hold"
    );
    verify_ledger(&stand_in);

    let decline = acquirer("decline", upstream_to(&down, 500, "decline"), false).await;
    let mut c = client(&decline).await;
    assert_eq!(purchase(&mut c, "000001", PAN_OK).await, "91");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_upstream_answer_is_reversed_upstream() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    // A slow issuer: reads the request, answers only after the acquirer gave up, then
    // acknowledges the reversal that follows.
    let slow = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let spec = Spec::posguard_ascii();
        let mut seen = Vec::new();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 2048];
        while seen.len() < 2 {
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the acquirer closed the upstream connection");
            buf.extend_from_slice(&chunk[..n]);
            while let Some(frame) = FrameFormat::default().parse(&buf).unwrap() {
                let msg = spec.decode(&buf[frame.body.clone()]).unwrap();
                let mti = msg.mti().into_owned();
                let f90 = msg.field_str(90).map(|v| v.into_owned());
                let mut answer = MessageBuilder::from_message(&msg);
                let reply_mti = if mti == "0200" { "0210" } else { "0430" };
                answer.set_mti(reply_mti).set(39, "00").remove(2).remove(14);
                if mti == "0200" {
                    tokio::time::sleep(Duration::from_millis(400)).await;
                }
                let mut body = Vec::new();
                answer.encode_into(&spec, &mut body).unwrap();
                let mut out = Vec::new();
                FrameFormat::default().write(&[], &body, &mut out).unwrap();
                s.write_all(&out).await.unwrap();
                buf.drain(..frame.consumed);
                seen.push((mti, f90));
            }
        }
        seen
    });
    let acq = acquirer("late", upstream_to(&addr, 200, "stand_in"), true).await;
    let mut c = client(&acq).await;
    let answer = send(
        &mut c,
        "0200",
        "000000",
        "000007",
        &[(2, PAN_OK), (14, "2812")],
    )
    .await;
    assert_eq!(answer.code(), "00", "stood in after the timeout");
    assert!(txn_by_stan(&acq, "000007").stand_in);
    let seen = tokio::time::timeout(Duration::from_secs(5), slow)
        .await
        .expect("the reversal arrived")
        .unwrap();
    assert_eq!(seen[0].0, "0200");
    assert_eq!(seen[1].0, "0420");
    let f90 = seen[1].1.clone().expect("field 90 names the original");
    assert_eq!(&f90[4..20], &format!("000007{F7}"));
    let stood_in = txn_by_stan(&acq, "000007").id;
    eventually_intent(&acq, stood_in, "done").await;
    verify_ledger(&acq);
}

/// The state of the durable intent to reverse `txn` upstream, polled until `want`.
async fn eventually_intent(running: &Running, txn: model::TxnId, want: &str) {
    let key = host::upstream::intent_key(txn);
    for _ in 0..250 {
        let store = running.app.store.clone();
        let k = key.clone();
        let got = tokio::task::block_in_place(move || store.meta_get(&k).unwrap());
        if got.as_deref() == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the reversal intent for txn {txn} never became {want}");
}

/// An upstream that reads requests and answers only 0420s (0430, approved), sending
/// what it saw to `seen`.
async fn reversal_only_issuer(
    listener: TcpListener,
    seen: tokio::sync::mpsc::UnboundedSender<(String, Option<String>)>,
) {
    let Ok((mut s, _)) = listener.accept().await else {
        return;
    };
    let spec = Spec::posguard_ascii();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    loop {
        let Ok(n) = s.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Some(frame) = FrameFormat::default().parse(&buf).unwrap() {
            let msg = spec.decode(&buf[frame.body.clone()]).unwrap();
            let mti = msg.mti().into_owned();
            let _ = seen.send((mti.clone(), msg.field_str(90).map(|v| v.into_owned())));
            if mti == "0420" {
                let mut answer = MessageBuilder::from_message(&msg);
                answer.set_mti("0430").set(39, "00");
                let mut body = Vec::new();
                answer.encode_into(&spec, &mut body).unwrap();
                let mut out = Vec::new();
                FrameFormat::default().write(&[], &body, &mut out).unwrap();
                let _ = s.write_all(&out).await;
            }
            buf.drain(..frame.consumed);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacknowledged_reversal_is_sent_again_after_a_restart() {
    // First life: the upstream never answers; the purchase stands in and its reversal
    // stays owed.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let (seen_tx, _seen_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        // Accept and read, never answer anything.
        let Ok((mut s, _)) = silent.accept().await else {
            return;
        };
        let mut chunk = [0u8; 2048];
        while let Ok(n) = s.read(&mut chunk).await {
            if n == 0 {
                return;
            }
            let _ = seen_tx.send(());
        }
    });
    let mut cfg = config("owed", Backend::Sqlite).unwrap();
    // Without the journal's lock, a second posguard can open the same directory here
    // to play the restarted process.
    cfg.journal = false;
    let dir = cfg.data_dir.clone();
    cfg.upstream = Some(upstream_to(&silent_addr, 200, "stand_in"));
    let first = start_acquirer(cfg, true).await;
    let mut c = client(&first).await;
    assert_eq!(purchase(&mut c, "000009", PAN_OK).await, "00");
    let owed = txn_by_stan(&first, "000009").id;
    eventually_intent(&first, owed, "pending").await;

    // Second life, on the same data: the upstream now acknowledges reversals.
    let answering = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let answering_addr = answering.local_addr().unwrap().to_string();
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(reversal_only_issuer(answering, seen_tx));
    let mut cfg = config("owed2", Backend::Sqlite).unwrap();
    cfg.journal = false;
    cfg.data_dir = dir;
    cfg.upstream = Some(upstream_to(&answering_addr, 2_000, "stand_in"));
    let second = start_acquirer(cfg, false).await;
    let (mti, f90) = tokio::time::timeout(Duration::from_secs(10), seen_rx.recv())
        .await
        .expect("a reversal")
        .unwrap();
    assert_eq!(mti, "0420");
    assert_eq!(&f90.expect("field 90")[4..20], &format!("000009{F7}"));
    eventually_intent(&second, owed, "done").await;
}
