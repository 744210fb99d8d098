//! The UnionPay profile end to end over TCP: a terminal refused before sign-on, sign-on
//! delivering keys under its TMK, PIN purchase, void, refund, reversal, a wrong MAC
//! answered A0 (a security event), settlement unbalanced then balanced, batch upload,
//! sign-off; bad TPDU and header; keys that survive a restart sealed under the KEK.

mod common;

use common::{Backend, config, start_demo, verify_ledger};
use iso8583::unionpay::{Preamble, Processing, SideTotals, Totals};
use paycrypto::mac::DesMacScheme;
use paycrypto::unionpay::KeyLayout;
use terminal::unionpay::{Kind, Txn, UnionPayTerminal};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TMK: &str = "70F2A84CCBC2AE8625CBB0F2C22AB923";
const TERMINAL: &str = "TERM0001";
const MERCHANT: &str = "MERCHANT0000001";
/// Demo credit card (PIN 1234).
const PAN: &str = "6222021000000005";

async fn import_tmk(running: &host::Running, terminal: &str) {
    let key = hex::decode(TMK).unwrap();
    let first = vec![0x1Fu8; 16];
    let second: Vec<u8> = key.iter().zip(&first).map(|(a, b)| a ^ b).collect();
    let kcv = |k: &[u8]| paycrypto::TdesKey::from_bytes(k).unwrap().kcv().to_string();
    let parts = [
        (hex::encode_upper(&first), kcv(&first)),
        (hex::encode_upper(&second), kcv(&second)),
    ];
    let parts: Vec<(&str, &str)> = parts
        .iter()
        .map(|(k, c)| (k.as_str(), c.as_str()))
        .collect();
    let (_, writes) = running
        .app
        .keyring
        .write()
        .import_components(
            &host::unionpay::tmk_id(terminal),
            keystore::Usage::TerminalMaster,
            keystore::Algorithm::Tdes,
            &parts,
            &mut rand::rng(),
            1,
        )
        .unwrap();
    running.app.pipeline.set_metas(writes).await.unwrap();
}

async fn exchange(s: &mut TcpStream, frame: &[u8]) -> Vec<u8> {
    let mut out = (frame.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(frame);
    s.write_all(&out).await.unwrap();
    let mut len = [0u8; 2];
    s.read_exact(&mut len).await.unwrap();
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut reply).await.unwrap();
    reply
}

/// Sends one transaction and checks its answer (MTI, echoed fields, MAC).
async fn send(
    t: &mut UnionPayTerminal,
    s: &mut TcpStream,
    txn: &Txn<'_>,
) -> terminal::unionpay::Reply {
    let req = t.transaction(txn);
    let frame = exchange(s, &req).await;
    t.check_reply(&req, &frame)
        .expect("a well-formed, MACed answer")
}

fn unionpay_config(tag: &str) -> host::Config {
    let mut c = config(tag, Backend::Sqlite).unwrap();
    c.link.profile = "unionpay".into();
    c.link.idle_timeout_ms = 5_000;
    c
}

fn f63_of(frame: &[u8]) -> iso8583::unionpay::Field63Reply {
    let spec = iso8583::Spec::unionpay();
    let msg = spec.decode(&frame[11..]).unwrap();
    iso8583::unionpay::Field63Reply::parse(msg.field(63).unwrap()).unwrap()
}

fn code_of(frame: &[u8]) -> String {
    let spec = iso8583::Spec::unionpay();
    let msg = spec.decode(&frame[11..]).unwrap();
    msg.field_str(39).unwrap().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unionpay_terminal_end_to_end() {
    let running = start_demo(unionpay_config("unionpay")).await;
    import_tmk(&running, TERMINAL).await;
    let tmk = paycrypto::TdesKey::from_hex(TMK).unwrap();
    let mut t = UnionPayTerminal::new(TERMINAL, MERCHANT, tmk, DesMacScheme::UnionPayEcb);
    let mut s = TcpStream::connect(running.link_addr).await.unwrap();
    let buy = |amount, pin| Txn {
        kind: Kind::Purchase,
        pan: PAN,
        amount_minor: amount,
        pin,
        original_rrn: None,
        stan: None,
    };

    // Before sign-on: refused, told to sign on again (processing requirement 3).
    let req = t.transaction(&buy(1000, None));
    let reply = exchange(&mut s, &req).await;
    assert_eq!(code_of(&reply), "77");
    let p = Preamble::parse(&reply).unwrap();
    assert_eq!(p.processing, Processing::SignOnAgain);
    assert_eq!(
        (p.destination, p.source),
        ([0, 0], [0, 3]),
        "addresses swapped"
    );

    // Sign-on (double length keys): fresh keys, checked against their KCVs.
    let req = t.sign_on(KeyLayout::DoubleDes);
    let reply = exchange(&mut s, &req).await;
    assert_eq!(
        t.accept_sign_on(&reply, KeyLayout::DoubleDes).unwrap().code,
        "00"
    );
    let first_mak = t.keys.as_ref().unwrap().mak.clone();

    // PIN purchase, then its void.
    let req = t.transaction(&buy(10_000, Some("1234")));
    let r1 = t.check_reply(&req, &exchange(&mut s, &req).await).unwrap();
    assert_eq!(r1.code, "00");
    let void = Txn {
        kind: Kind::Void,
        original_rrn: r1.rrn.as_deref(),
        ..buy(10_000, None)
    };
    assert_eq!(send(&mut t, &mut s, &void).await.code, "00");
    // A wrong PIN is declined 55 (the stand-in issuer checked it under the PIK).
    assert_eq!(
        send(&mut t, &mut s, &buy(2_000, Some("9999"))).await.code,
        "55"
    );

    // Purchase and a partial refund (0220) of it.
    let req = t.transaction(&buy(20_000, Some("1234")));
    let frame = exchange(&mut s, &req).await;
    let r2 = t.check_reply(&req, &frame).unwrap();
    assert_eq!(r2.code, "00");
    let sale_trace = t.stan;
    // Field 63 of the answer: network code and texts (GBK), Chinese then English.
    let f63 = f63_of(&frame);
    assert_eq!(
        (f63.network.as_str(), f63.texts.as_slice()),
        ("CUP", &["交易成功".to_owned(), "approved".to_owned()][..])
    );
    let refund = Txn {
        kind: Kind::Refund,
        original_rrn: r2.rrn.as_deref(),
        ..buy(500, None)
    };
    assert_eq!(send(&mut t, &mut s, &refund).await.code, "00");

    // Purchase, then its reversal (0400, same trace, reason 98).
    let req = t.transaction(&buy(3_000, None));
    let stan = t.stan;
    assert_eq!(
        t.check_reply(&req, &exchange(&mut s, &req).await)
            .unwrap()
            .code,
        "00"
    );
    let reversal = Txn {
        kind: Kind::Reversal,
        stan: Some(stan),
        ..buy(3_000, None)
    };
    assert_eq!(send(&mut t, &mut s, &reversal).await.code, "00");

    // A wrong MAC: A0, no MAC on the answer, a security event.
    let mut req = t.transaction(&buy(1_000, None));
    let last = req.len() - 1;
    req[last] ^= 0x01;
    assert_eq!(code_of(&exchange(&mut s, &req).await), "A0");

    // Settlement: wrong totals are unbalanced (2), the host's are balanced (1).
    let side = |debit_minor, debit_count, credit_minor, credit_count| SideTotals {
        debit_minor,
        debit_count,
        credit_minor,
        credit_count,
        ..SideTotals::default()
    };
    let wrong = Totals {
        domestic: side(1, 1, 0, 0),
        foreign: SideTotals::default(),
    };
    let req = t.settlement(&wrong);
    let reply = t.check_reply(&req, &exchange(&mut s, &req).await).unwrap();
    assert_eq!(reply.code, "00");
    let f48 = reply.f48.unwrap();
    assert_eq!((&f48[30..31], &f48[61..62]), ("2", "2"));
    // Batch upload: a record matching the host's purchase, then records the host
    // does not hold that way (another amount; a voided sale; an unknown trace).
    let req = t.batch_upload(PAN, sale_trace, 20_000);
    let frame = exchange(&mut s, &req).await;
    assert_eq!(t.check_reply(&req, &frame).unwrap().code, "00");
    assert_eq!(f63_of(&frame).texts[0], "批上送成功");
    for (trace, amount) in [(sale_trace, 19_999), (3, 10_000), (999_999, 1)] {
        let req = t.batch_upload(PAN, trace, amount);
        let frame = exchange(&mut s, &req).await;
        assert_eq!(t.check_reply(&req, &frame).unwrap().code, "00");
        assert_eq!(f63_of(&frame).texts[0], "批上送不符1笔");
    }
    let right = Totals {
        domestic: side(20_000, 1, 500, 1),
        foreign: SideTotals::default(),
    };
    let req = t.settlement(&right);
    let frame = exchange(&mut s, &req).await;
    let f48 = t.check_reply(&req, &frame).unwrap().f48.unwrap();
    assert_eq!(&f48[30..31], "1", "{f48}");
    assert_eq!(f63_of(&frame).texts, ["对账平", "balanced"]);

    // A new sign-on rotates the keys: a request MACed under the old MAK fails A0.
    let old = t.keys.clone();
    let req = t.sign_on(KeyLayout::DoubleDesTdk);
    let reply = exchange(&mut s, &req).await;
    t.accept_sign_on(&reply, KeyLayout::DoubleDesTdk).unwrap();
    assert_ne!(t.keys.as_ref().unwrap().mak, first_mak);
    assert!(t.keys.as_ref().unwrap().tdk.is_some());
    let fresh = t.keys.replace(old.unwrap());
    let req = t.transaction(&buy(1_000, None));
    assert_eq!(code_of(&exchange(&mut s, &req).await), "A0");
    t.keys = fresh;

    // Echo, then sign-off: afterwards refused again.
    let req = t.management("301");
    assert_eq!(code_of(&exchange(&mut s, &req).await), "00");
    let req = t.management("002");
    assert_eq!(code_of(&exchange(&mut s, &req).await), "00");
    let req = t.transaction(&buy(1_000, None));
    assert_eq!(code_of(&exchange(&mut s, &req).await), "77");

    // Security events were recorded durably (two bad MACs).
    let events = running
        .app
        .store
        .meta_with_prefix("security_event:")
        .unwrap();
    let macs = events
        .iter()
        .filter(|(_, v)| v.contains("mac_invalid"))
        .count();
    assert_eq!(macs, 2, "{events:?}");
    let uploads = events
        .iter()
        .filter(|(_, v)| v.contains("batch_upload_mismatch"))
        .count();
    assert_eq!(uploads, 3, "{events:?}");
    // No session key is stored in clear.
    let stored = running
        .app
        .store
        .meta_with_prefix("unionpay_session:")
        .unwrap();
    assert!(!stored.is_empty());
    verify_ledger(&running);
}

/// Bad input: a wrong TPDU id, a header with a nibble out of range and a message with a
/// non-BCD digit get no answer; the connection goes on serving good frames.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unionpay_bad_preambles_are_not_answered() {
    let running = start_demo(unionpay_config("unionpay-bad")).await;
    import_tmk(&running, TERMINAL).await;
    let tmk = paycrypto::TdesKey::from_hex(TMK).unwrap();
    let mut t = UnionPayTerminal::new(TERMINAL, MERCHANT, tmk, DesMacScheme::UnionPayEcb);
    let mut s = TcpStream::connect(running.link_addr).await.unwrap();
    let good = t.management("301");
    for (at, value) in [(0usize, 0x61u8), (6, 0x3A), (11, 0x0A)] {
        let mut bad = good.clone();
        bad[at] = value;
        let mut out = (bad.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(&bad);
        s.write_all(&out).await.unwrap();
    }
    // The good frame after them is the first one answered.
    assert_eq!(code_of(&exchange(&mut s, &good).await), "00");
    // A frame shorter than the TPDU and header closes the connection (malformed frame).
    let mut s2 = TcpStream::connect(running.link_addr).await.unwrap();
    s2.write_all(&[0, 5, 0x60, 0, 3, 0, 0]).await.unwrap();
    let mut buf = [0u8; 16];
    let n = s2.read(&mut buf).await.unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
}

/// A session survives a restart: its keys were sealed under the KEK in the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unionpay_session_survives_a_restart() {
    let mut config = unionpay_config("unionpay-restart");
    // Two hosts on one data directory in one test: without the journal's lock file.
    config.journal = false;
    let running = start_demo(config.clone()).await;
    import_tmk(&running, TERMINAL).await;
    let tmk = paycrypto::TdesKey::from_hex(TMK).unwrap();
    let mut t = UnionPayTerminal::new(TERMINAL, MERCHANT, tmk, DesMacScheme::UnionPayEcb);
    let mut s = TcpStream::connect(running.link_addr).await.unwrap();
    let req = t.sign_on(KeyLayout::SingleDes);
    let reply = exchange(&mut s, &req).await;
    t.accept_sign_on(&reply, KeyLayout::SingleDes).unwrap();
    drop(s);
    let running = host::start(config).await.expect("restart");
    let mut s = TcpStream::connect(running.link_addr).await.unwrap();
    let buy = Txn {
        kind: Kind::Purchase,
        pan: PAN,
        amount_minor: 1_000,
        pin: Some("1234"),
        original_rrn: None,
        stan: None,
    };
    assert_eq!(send(&mut t, &mut s, &buy).await.code, "00");
}

/// A generic echo (0800, 70 = 301) from `terminal`, in posguard-ascii.
fn generic_echo<'a>(terminal: &'a str, stan: &'a str) -> iso8583::MessageBuilder<'a> {
    let mut m = iso8583::MessageBuilder::new();
    m.set_mti("0800")
        .set(7, "1122083000")
        .set(11, stan)
        .set(41, terminal)
        .set(70, "301");
    m
}

/// An auto listener serves both dialects, each frame by its first byte; a terminal's
/// security profile pins its dialect (the other one is refused 58, a security event)
/// and may choose its UnionPay MAC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_listener_and_per_terminal_dialects() {
    let mut c = config("unionpay-auto", Backend::Sqlite).unwrap();
    c.link.profile = "auto".into();
    let running = start_demo(c).await;
    let token = running.new_admin_token.clone().unwrap();
    import_tmk(&running, TERMINAL).await;
    let mut g = common::ascii_client(running.link_addr).await;
    assert_eq!(
        g.request(&generic_echo("TERM0002", "000001"))
            .await
            .unwrap()
            .code(),
        "00"
    );
    let tmk = paycrypto::TdesKey::from_hex(TMK).unwrap();
    let mut t = UnionPayTerminal::new(TERMINAL, MERCHANT, tmk.clone(), DesMacScheme::UnionPayEcb);
    let mut s = TcpStream::connect(running.link_addr).await.unwrap();
    let req = t.sign_on(KeyLayout::DoubleDes);
    let reply = exchange(&mut s, &req).await;
    assert_eq!(
        t.accept_sign_on(&reply, KeyLayout::DoubleDes).unwrap().code,
        "00"
    );
    let buy = Txn {
        kind: Kind::Purchase,
        pan: PAN,
        amount_minor: 1_000,
        pin: Some("1234"),
        original_rrn: None,
        stan: None,
    };
    let req = t.transaction(&buy);
    let r = t.check_reply(&req, &exchange(&mut s, &req).await).unwrap();
    assert_eq!(r.code, "00");

    // TERM0001 is a UnionPay terminal MACing with X9.19: ECB is now refused A0, X9.19
    // verifies both ways; its generic echo is refused.
    let profile = serde_json::json!({"dialect": "unionpay", "unionpay_mac": "x9.19"});
    let path = format!("/v1/terminals/{TERMINAL}/security");
    let (status, body) = common::api(&running, &token, "PUT", &path, Some(profile)).await;
    assert_eq!(status, 200, "{body}");
    let req = t.transaction(&buy);
    assert_eq!(code_of(&exchange(&mut s, &req).await), "A0");
    t.scheme = DesMacScheme::X919;
    let req = t.transaction(&buy);
    let r = t.check_reply(&req, &exchange(&mut s, &req).await).unwrap();
    assert_eq!(r.code, "00");
    let reply = g.request(&generic_echo(TERMINAL, "000002")).await.unwrap();
    assert_eq!(reply.code(), "58");

    // TERM0002 is pinned to the generic dialect: its UnionPay sign-on is refused.
    let generic = serde_json::json!({"dialect": "generic", "mac": "off"});
    let (status, _) = common::api(
        &running,
        &token,
        "PUT",
        "/v1/terminals/TERM0002/security",
        Some(generic),
    )
    .await;
    assert_eq!(status, 200);
    let mut t2 = UnionPayTerminal::new("TERM0002", MERCHANT, tmk, DesMacScheme::UnionPayEcb);
    let req = t2.sign_on(KeyLayout::DoubleDes);
    assert_eq!(code_of(&exchange(&mut s, &req).await), "58");
    assert_eq!(
        g.request(&generic_echo("TERM0002", "000003"))
            .await
            .unwrap()
            .code(),
        "00"
    );
    let (_, events) = common::api(&running, &token, "GET", "/v1/security-events", None).await;
    let refused = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "dialect_refused")
        .count();
    assert_eq!(refused, 2, "{events}");

    // Bad profiles are refused by the API.
    let bad = serde_json::json!({"dialect": "unionpay", "unionpay_mac": "md5"});
    let (status, _) = common::api(&running, &token, "PUT", &path, Some(bad)).await;
    assert_eq!(status, 400);
}

/// Field `n` of a reply frame.
fn field_of(frame: &[u8], n: u8) -> Option<String> {
    let spec = iso8583::Spec::unionpay();
    let msg = spec.decode(&frame[11..]).unwrap();
    msg.field_str(n).map(|v| v.into_owned())
}

/// Balance inquiry, pre-authorization and its void, completion online (0200) and its
/// void (which reopens the hold), completion by offline notice (0220), all with PIN and
/// MAC over TCP, onto the same ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unionpay_authorizations_end_to_end() {
    let running = start_demo(unionpay_config("unionpay-auth")).await;
    import_tmk(&running, TERMINAL).await;
    let tmk = paycrypto::TdesKey::from_hex(TMK).unwrap();
    let mut t = UnionPayTerminal::new(TERMINAL, MERCHANT, tmk, DesMacScheme::UnionPayEcb);
    let mut s = TcpStream::connect(running.link_addr).await.unwrap();
    let req = t.sign_on(KeyLayout::DoubleDesTdk);
    let reply = exchange(&mut s, &req).await;
    t.accept_sign_on(&reply, KeyLayout::DoubleDesTdk).unwrap();
    let txn = |kind, amount_minor, original_rrn| Txn {
        kind,
        pan: PAN,
        amount_minor,
        pin: matches!(kind, Kind::Balance | Kind::PreAuth).then_some("1234"),
        original_rrn,
        stan: None,
    };

    // Balance inquiry (0200/31): answered with the balance in 54, MACed.
    let req = t.transaction(&txn(Kind::Balance, 0, None));
    let frame = exchange(&mut s, &req).await;
    assert_eq!(t.check_reply(&req, &frame).unwrap().code, "00");
    let balance = field_of(&frame, 54).expect("a balance");
    assert!(balance.starts_with("1002156"), "{balance}");
    // A wrong PIN on the inquiry is declined 55.
    let wrong_pin = Txn {
        pin: Some("9999"),
        ..txn(Kind::Balance, 0, None)
    };
    let req = t.transaction(&wrong_pin);
    let frame = exchange(&mut s, &req).await;
    assert_eq!(t.check_reply(&req, &frame).unwrap().code, "55");

    // Pre-authorization (0100/03) and its void (0100/20).
    let req = t.transaction(&txn(Kind::PreAuth, 50_000, None));
    let frame = exchange(&mut s, &req).await;
    let pre1 = t.check_reply(&req, &frame).unwrap();
    assert_eq!(
        (pre1.code.as_str(), &frame[11..13]),
        ("00", &[0x01, 0x10][..])
    );
    let reply = send(
        &mut t,
        &mut s,
        &txn(Kind::PreAuthVoid, 50_000, pre1.rrn.as_deref()),
    )
    .await;
    assert_eq!(reply.code, "00");
    // A voided hold cannot be completed.
    let reply = send(
        &mut t,
        &mut s,
        &txn(Kind::Completion, 10_000, pre1.rrn.as_deref()),
    )
    .await;
    assert_eq!(reply.code, "12");

    // Pre-authorization, online completion (0200, 60.1 = 20) below the hold, the
    // completion's void (0200/20, 60.1 = 21) reopening the hold.
    let pre2 = send(&mut t, &mut s, &txn(Kind::PreAuth, 30_000, None)).await;
    assert_eq!(pre2.code, "00");
    let reply = send(
        &mut t,
        &mut s,
        &txn(Kind::Completion, 30_001, pre2.rrn.as_deref()),
    )
    .await;
    assert_eq!(reply.code, "13", "a completion above the hold");
    let done = send(
        &mut t,
        &mut s,
        &txn(Kind::Completion, 25_000, pre2.rrn.as_deref()),
    )
    .await;
    assert_eq!(done.code, "00");
    let reply = send(
        &mut t,
        &mut s,
        &txn(Kind::CompletionVoid, 25_000, done.rrn.as_deref()),
    )
    .await;
    assert_eq!(reply.code, "00");

    // The reopened hold completed by an offline notice (0220, 60.1 = 24); a second
    // notice on it is refused.
    let req = t.transaction(&txn(Kind::CompletionNotice, 30_000, pre2.rrn.as_deref()));
    let frame = exchange(&mut s, &req).await;
    let notice = t.check_reply(&req, &frame).unwrap();
    assert_eq!(
        (notice.code.as_str(), &frame[11..13]),
        ("00", &[0x02, 0x30][..])
    );
    let reply = send(
        &mut t,
        &mut s,
        &txn(Kind::CompletionNotice, 1_000, pre2.rrn.as_deref()),
    )
    .await;
    assert_eq!(reply.code, "12");

    // The host's transactions: a completed hold, a voided completion, the notice.
    let (_, list) = common::api(
        &running,
        running.new_admin_token.as_ref().unwrap(),
        "GET",
        &format!("/v1/transactions?terminal_id={TERMINAL}"),
        None,
    )
    .await;
    let mut seen: Vec<(String, String, String)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["response_code"] == "00")
        .map(|t| {
            let text = |k: &str| t[k].as_str().unwrap().to_owned();
            (text("kind"), text("mti"), text("status"))
        })
        .collect();
    seen.sort();
    let want = [
        ("balance", "0200", "approved"),
        ("completion", "0200", "voided"),
        ("completion", "0220", "approved"),
        ("pre_auth", "0100", "completed"),
        ("pre_auth", "0100", "voided"),
        ("void", "0100", "approved"),
        ("void", "0200", "approved"),
    ]
    .map(|(k, m, s)| (k.to_owned(), m.to_owned(), s.to_owned()));
    assert_eq!(seen, want);
    verify_ledger(&running);
}
