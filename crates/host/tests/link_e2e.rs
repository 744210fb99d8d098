//! End to end over real TCP: the message flows of a POS host and its answers to bad
//! input, against a real posguard on SQLite (and PostgreSQL when configured).

mod common;

use common::{Backend, config, start_demo, verify_ledger};
use host::client::{Reply, TerminalClient};
use iso8583::frame::FrameFormat;
use iso8583::{MessageBuilder, Spec};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PAN_OK: &str = "4761739001010010";
const F7: &str = "1121120000";

async fn client(addr: std::net::SocketAddr) -> TerminalClient {
    TerminalClient::connect(
        &addr.to_string(),
        Spec::posguard_ascii(),
        FrameFormat::default(),
        Duration::from_secs(5),
    )
    .await
    .expect("connect")
}

/// A request as a terminal builds it; `extra` adds or overrides fields.
async fn send(
    c: &mut TerminalClient,
    mti: &str,
    proc_code: &str,
    stan: &str,
    amount: Option<&str>,
    extra: &[(u8, &str)],
) -> Reply {
    let mut m = MessageBuilder::new();
    m.set_mti(mti)
        .set(3, proc_code)
        .set(7, F7)
        .set(11, stan)
        .set(41, "TERM0001")
        .set(49, "156");
    if let Some(a) = amount {
        m.set(4, a);
    }
    for (n, v) in extra {
        m.set(*n, *v);
    }
    c.request(&m).await.expect("an answer")
}

async fn purchase(c: &mut TerminalClient, stan: &str, amount: &str, pan: &str) -> Reply {
    send(
        c,
        "0200",
        "000000",
        stan,
        Some(amount),
        &[(2, pan), (14, "2812"), (22, "051")],
    )
    .await
}

/// MTI, processing code, STAN, amount, extra fields, expected field 39.
type Step<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    Vec<(u8, &'a str)>,
    &'a str,
);

async fn flows(backend: Backend) {
    let Some(cfg) = config("flows", backend) else {
        return;
    };
    let running = start_demo(cfg).await;
    let mut c = client(running.link_addr).await;

    // Purchase, its repeat (same answer, no second effect), and a reused key (94).
    let first = purchase(&mut c, "000001", "000000012500", PAN_OK).await;
    assert_eq!((first.mti.as_str(), first.code()), ("0210", "00"));
    assert_eq!(first.get(2), None, "the PAN is never echoed");
    let rrn = first.get(37).expect("an RRN").to_owned();
    let mut repeat = MessageBuilder::new();
    repeat
        .set_mti("0201")
        .set(2, PAN_OK)
        .set(3, "000000")
        .set(4, "000000012500")
        .set(7, F7)
        .set(11, "000001")
        .set(14, "2812")
        .set(41, "TERM0001")
        .set(49, "156");
    let again = c.request(&repeat).await.unwrap();
    assert_eq!(
        (again.code(), again.get(37), again.get(38)),
        ("00", Some(rrn.as_str()), first.get(38))
    );
    assert_eq!(
        purchase(&mut c, "000001", "000000000999", PAN_OK)
            .await
            .code(),
        "94"
    );

    // The stand-in issuer's declines.
    for (stan, pan, code) in [
        ("000010", "6222021000000013", "41"),
        ("000011", "6222021000000021", "43"),
        ("000012", "6222021000000039", "05"),
        ("000013", "5200000000000007", "14"),
        ("000014", "4761739001010011", "14"),
    ] {
        assert_eq!(
            purchase(&mut c, stan, "000000000100", pan).await.code(),
            code,
            "{pan}"
        );
    }
    let expired = send(
        &mut c,
        "0200",
        "000000",
        "000015",
        Some("000000000100"),
        &[(2, "6222021000000047"), (14, "2001")],
    )
    .await;
    assert_eq!(expired.code(), "54");
    assert_eq!(
        purchase(&mut c, "000016", "000000001001", "6222021000000054")
            .await
            .code(),
        "51"
    );
    assert_eq!(
        purchase(&mut c, "000017", "000000500001", PAN_OK)
            .await
            .code(),
        "61"
    );

    // Refunds up to the capture, by the sale's RRN; voids; reversals through field 90,
    // idempotent; a reversal before its original. (MTI, processing code, STAN, amount,
    // extra fields, expected field 39.)
    let sale = purchase(&mut c, "000030", "000000003000", PAN_OK).await;
    let sale_rrn = sale.get(37).unwrap().to_owned();
    let f90 = format!("0200000040{F7}{:022}", 0);
    let early = format!("0200000049{F7}{:022}", 0);
    let steps: Vec<Step> = vec![
        (
            "0200",
            "200000",
            "000020",
            "000000010000",
            vec![(37, &rrn)],
            "00",
        ),
        (
            "0200",
            "200000",
            "000021",
            "000000002501",
            vec![(37, &rrn)],
            "13",
        ),
        ("0200", "200000", "000022", "000000000100", vec![], "12"),
        (
            "0200",
            "020000",
            "000031",
            "000000003000",
            vec![(37, &sale_rrn)],
            "00",
        ),
        (
            "0200",
            "020000",
            "000032",
            "000000003000",
            vec![(37, &sale_rrn)],
            "12",
        ),
        (
            "0200",
            "020000",
            "000033",
            "000000003000",
            vec![(37, "000000999999")],
            "25",
        ),
        (
            "0200",
            "000000",
            "000040",
            "000000004000",
            vec![(2, PAN_OK), (14, "2812")],
            "00",
        ),
        (
            "0400",
            "000000",
            "000041",
            "000000004000",
            vec![(90, &f90)],
            "00",
        ),
        (
            "0400",
            "000000",
            "000042",
            "000000004000",
            vec![(90, &f90)],
            "00",
        ),
        (
            "0420",
            "000000",
            "000043",
            "000000004000",
            vec![(90, &early)],
            "00",
        ),
        (
            "0200",
            "000000",
            "000049",
            "000000004000",
            vec![(2, PAN_OK), (14, "2812")],
            "12",
        ),
    ];
    for (mti, proc_code, stan, amount, extra, want) in steps {
        let got = send(&mut c, mti, proc_code, stan, Some(amount), &extra).await;
        assert_eq!(got.code(), want, "{mti} {proc_code} STAN {stan}");
    }

    // Pre-authorization and its 0220 completion.
    let pre = send(
        &mut c,
        "0100",
        "000000",
        "000050",
        Some("000000020000"),
        &[(2, PAN_OK), (14, "2812")],
    )
    .await;
    assert_eq!((pre.mti.as_str(), pre.code()), ("0110", "00"));
    let pre_rrn = pre.get(37).unwrap().to_owned();
    let done = send(
        &mut c,
        "0220",
        "000000",
        "000051",
        Some("000000015000"),
        &[(37, &pre_rrn)],
    )
    .await;
    assert_eq!((done.mti.as_str(), done.code()), ("0230", "00"));

    // Offline advices under and over the floor limit (100.00).
    assert_eq!(
        send(
            &mut c,
            "0220",
            "000000",
            "000060",
            Some("000000010000"),
            &[(2, PAN_OK)]
        )
        .await
        .code(),
        "00"
    );
    assert_eq!(
        send(
            &mut c,
            "0220",
            "000000",
            "000061",
            Some("000000010001"),
            &[(2, PAN_OK)]
        )
        .await
        .code(),
        "05"
    );

    // Balance inquiry: field 54 carries the available balance.
    let balance = send(&mut c, "0200", "310000", "000070", None, &[(2, PAN_OK)]).await;
    assert_eq!(balance.code(), "00");
    assert!(
        balance.get(54).is_some_and(|b| b.starts_with("0002156C")),
        "{:?}",
        balance.get(54)
    );

    // Network management, and a terminal nobody registered.
    let mut echo = MessageBuilder::new();
    echo.set_mti("0800")
        .set(7, F7)
        .set(11, "000080")
        .set(41, "TERM0001")
        .set(70, "301");
    assert_eq!(c.request(&echo).await.unwrap().code(), "00");
    echo.set(41, "NOBODY01");
    assert_eq!(c.request(&echo).await.unwrap().code(), "58");
    let mut stranger = MessageBuilder::new();
    stranger
        .set_mti("0200")
        .set(2, PAN_OK)
        .set(3, "000000")
        .set(4, "000000000100")
        .set(7, F7)
        .set(11, "000081")
        .set(41, "NOBODY01");
    assert_eq!(c.request(&stranger).await.unwrap().code(), "58");

    // Settlement: the terminal's totals against the host's (95 when they differ).
    let mut settle = MessageBuilder::new();
    settle
        .set_mti("0500")
        .set(7, F7)
        .set(11, "000090")
        .set(41, "TERM0001")
        .set(74, "0000000000")
        .set(76, "0000000001")
        .set(86, "0000000000000000")
        .set(88, "0000000000000001");
    assert_eq!(c.request(&settle).await.unwrap().code(), "95");
    verify_ledger(&running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_flows_on_sqlite() {
    flows(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_flows_on_postgres() {
    flows(Backend::Postgres).await;
}

/// Sends raw bytes on a fresh connection and returns what came back before the host
/// closed it (or the read timed out).
async fn raw_exchange(addr: std::net::SocketAddr, bytes: &[u8], wait: Duration) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        match tokio::time::timeout(wait, s.read(&mut chunk)).await {
            Err(_) => return (got, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
        }
    }
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

fn field39(frame: &[u8]) -> String {
    let spec = Spec::posguard_ascii();
    let msg = spec.decode(&frame[2..]).expect("a decodable answer");
    msg.field_str(39).unwrap().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_answered_or_closed_and_disturbs_no_one() {
    let Some(cfg) = config("bad", Backend::Sqlite) else {
        return;
    };
    let running = start_demo(cfg).await;
    let addr = running.link_addr;
    let long = Duration::from_secs(3);

    // A good terminal keeps working throughout.
    let mut good = client(addr).await;
    assert_eq!(
        purchase(&mut good, "000001", "000000000100", PAN_OK)
            .await
            .code(),
        "00"
    );

    // Truncated frame: the length promises more than arrives; closed after the frame timeout.
    let (got, closed) = raw_exchange(addr, &[0x00, 0x64, b'0', b'2'], long).await;
    assert!(got.is_empty() && closed, "truncated frame");
    // Length header above 8 KiB: closed at once.
    let (got, closed) = raw_exchange(addr, &[0xFF, 0xFF, b'0'], long).await;
    assert!(got.is_empty() && closed, "oversize length");
    // A bitmap announcing fields that are missing: answered 30.
    let (got, _) = raw_exchange(
        addr,
        &framed(b"02007000000000000000"),
        Duration::from_millis(500),
    )
    .await;
    assert_eq!(field39(&got), "30", "missing fields");
    // Non-numeric data in a numeric field (4): answered 30.
    let mut m = MessageBuilder::new();
    m.set_mti("0200")
        .set(3, "000000")
        .set(11, "000002")
        .set(41, "TERM0001");
    let mut body = Vec::new();
    m.encode_into(&Spec::posguard_ascii(), &mut body).unwrap();
    let mut bad_amount = b"0200".to_vec();
    bad_amount.extend_from_slice(b"3000000000800000");
    bad_amount.extend_from_slice(b"000000ABCDEFGHIJKL000002TERM0001");
    let (got, _) = raw_exchange(addr, &framed(&bad_amount), Duration::from_millis(500)).await;
    assert_eq!(field39(&got), "30", "non-numeric amount");
    // An over-long variable field: field 2 announcing 25 digits (max 19).
    let mut over = b"0200".to_vec();
    over.extend_from_slice(b"4000000000000000");
    over.extend_from_slice(b"254761739001010010476173900");
    let (got, _) = raw_exchange(addr, &framed(&over), Duration::from_millis(500)).await;
    assert_eq!(field39(&got), "30", "over-long field");
    // Unknown MTI and unknown processing code: 12.
    let mut c = client(addr).await;
    assert_eq!(
        send(
            &mut c,
            "0300",
            "000000",
            "000003",
            Some("000000000100"),
            &[]
        )
        .await
        .code(),
        "12"
    );
    assert_eq!(
        send(
            &mut c,
            "0200",
            "990000",
            "000004",
            Some("000000000100"),
            &[(2, PAN_OK)]
        )
        .await
        .code(),
        "12"
    );
    // Missing STAN: 30.
    let mut no_stan = MessageBuilder::new();
    no_stan
        .set_mti("0200")
        .set(2, PAN_OK)
        .set(3, "000000")
        .set(4, "000000000100")
        .set(7, F7)
        .set(41, "TERM0001");
    assert_eq!(c.request(&no_stan).await.unwrap().code(), "30");
    // A client that connects and sends nothing is closed after the idle timeout.
    let (got, closed) = raw_exchange(addr, &[], long).await;
    assert!(got.is_empty() && closed, "idle client");
    // A flood of connections: beyond the limit they are closed; a good terminal that is
    // connected (the earlier one was closed as idle while the bad ones were tried)
    // still works.
    let mut good = client(addr).await;
    assert_eq!(
        purchase(&mut good, "000006", "000000000100", PAN_OK)
            .await
            .code(),
        "00"
    );
    let mut flood = Vec::new();
    for _ in 0..80 {
        if let Ok(s) = TcpStream::connect(addr).await {
            flood.push(s);
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        purchase(&mut good, "000005", "000000000100", PAN_OK)
            .await
            .code(),
        "00"
    );
    drop(flood);
    let metrics = running.app.metrics.render();
    assert!(
        metrics.contains("posguard_link_dropped_total{reason=\"too_many_connections\"}"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("reason=\"too_many_connections\"} 0"),
        "the flood was refused"
    );
    verify_ledger(&running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_clear_pan_reaches_the_data_directory() {
    let Some(cfg) = config("leak", Backend::Sqlite) else {
        return;
    };
    let dir = cfg.data_dir.clone();
    let running = start_demo(cfg).await;
    let mut c = client(running.link_addr).await;
    for i in 0..20 {
        let stan = format!("{:06}", i + 1);
        let track = format!("{PAN_OK}=28122011143844400000");
        let r = send(
            &mut c,
            "0200",
            "000000",
            &stan,
            // Above card testing's small amounts (risk control is on): only leaks matter here.
            Some("000000001500"),
            &[(35, &track)],
        )
        .await;
        assert_eq!(r.code(), "00");
    }
    drop(running);
    for entry in walk(&dir) {
        let bytes = std::fs::read(&entry).unwrap();
        let hit = bytes.windows(PAN_OK.len()).any(|w| w == PAN_OK.as_bytes());
        assert!(!hit, "clear PAN in {}", entry.display());
        assert!(
            !bytes.windows(10).any(|w| w == b"2812201114"),
            "track data in {}",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ascii_length_framing_with_a_fixed_header_is_echoed() {
    let Some(mut cfg) = config("framing", Backend::Sqlite) else {
        return;
    };
    cfg.link.framing = "ascii4".into();
    cfg.link.header_bytes = 5;
    let running = start_demo(cfg).await;
    let spec = Spec::posguard_ascii();
    let mut m = MessageBuilder::new();
    m.set_mti("0800")
        .set(7, F7)
        .set(11, "000001")
        .set(41, "TERM0001")
        .set(70, "301");
    let mut body = Vec::new();
    m.encode_into(&spec, &mut body).unwrap();
    let mut frame = format!("{:04}", body.len() + 5).into_bytes();
    frame.extend_from_slice(b"TPDU1");
    frame.extend_from_slice(&body);
    let (got, _) = raw_exchange(running.link_addr, &frame, Duration::from_millis(500)).await;
    let len: usize = std::str::from_utf8(&got[..4]).unwrap().parse().unwrap();
    assert_eq!(len + 4, got.len(), "one whole frame");
    assert_eq!(&got[4..9], b"TPDU1", "the header is echoed");
    let answer = spec.decode(&got[9..]).unwrap();
    assert_eq!(
        (answer.mti().as_ref(), answer.field_str(39).as_deref()),
        ("0810", Some("00"))
    );
}
