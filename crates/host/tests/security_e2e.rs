//! Issue 3 end to end over TCP and HTTP against a real posguard: DUKPT terminals (TDES
//! with retail MACs, AES with CMACs) sending PIN purchases, the answers 00/55/63/58 and
//! their security events, keys entered by components, KEK rotation with a restart, a
//! merchant's personal data shown masked, and no card data or personal data on disk.

mod common;

use common::{Backend, api, ascii_client as client, config, start_demo, verify_ledger};
use host::client::TerminalClient;
use host::demo::DUKPT_TERMINALS;
use iso8583::Spec;
use paycrypto::dukpt_aes::{
    self, AesDukptTerminal, InitialKeyId, KeyType, WorkingKey, WorkingKeyUsage,
};
use paycrypto::dukpt_tdes::{self, Ksn, TdesDukptTerminal};
use paycrypto::mac::{Padding, aes_cmac, retail_mac};
use paycrypto::{AesKey, KeyUsage as U, Pin, TdesKey, pinblock};

const PAN: &str = "4761739001010010";
const TRACK2: &str = "4761739001010010=28122011143844400000";

/// One terminal's request: fields (sorted), the MAC last (64, or 128 with a secondary
/// bitmap) computed by `mac` over the bytes before it.
fn message(fields: &mut [(u8, String)], mac: &dyn Fn(&[u8]) -> [u8; 8]) -> Vec<u8> {
    fields.sort_by_key(|f| f.0);
    let mac_field = if fields.iter().any(|f| f.0 > 64) {
        128
    } else {
        64
    };
    let spec = Spec::posguard_ascii();
    let mut out = Vec::new();
    let mut w = spec.writer(&mut out);
    w.mti("0200");
    for (n, v) in fields.iter() {
        w.field(*n, v.as_str());
    }
    w.field(mac_field, "0000000000000000");
    w.finish().expect("a valid request");
    let at = out.len() - 16;
    let computed = hex::encode_upper(mac(&out[..at]));
    out[at..].copy_from_slice(computed.as_bytes());
    out
}

fn base_fields(terminal: &str, stan: u32) -> Vec<(u8, String)> {
    vec![
        (3, "000000".into()),
        (4, "000000001500".into()),
        (7, "1121120000".into()),
        (11, format!("{stan:06}")),
        (14, "2812".into()),
        (22, "051".into()),
        (35, TRACK2.into()),
        (41, terminal.into()),
        (49, "156".into()),
    ]
}

/// Flips the last digit of the amount (field 4) after the MAC was computed.
fn tamper(bytes: &mut [u8]) {
    let at = bytes
        .windows(12)
        .position(|w| w == b"000000001500")
        .unwrap()
        + 11;
    bytes[at] = b'9';
}

struct Answer {
    code: String,
    body: Vec<u8>,
}

async fn send(c: &mut TerminalClient, body: &[u8]) -> Answer {
    let body = c.request_body(body).await.expect("an answer");
    let spec = Spec::posguard_ascii();
    let code = spec
        .decode(&body)
        .unwrap()
        .field_str(39)
        .unwrap()
        .into_owned();
    Answer { code, body }
}

/// The response's MAC (its last field) checked with `mac` over what it covers.
fn response_mac_ok(body: &[u8], mac: &dyn Fn(&[u8]) -> [u8; 8]) -> bool {
    let at = body.len() - 16;
    body[at..] == *hex::encode_upper(mac(&body[..at])).as_bytes()
}

fn tdes_terminal() -> TdesDukptTerminal {
    let (_, _, _, bdk, key_id) = DUKPT_TERMINALS[0];
    let ksn = Ksn::from_hex(key_id).unwrap();
    let ipek = dukpt_tdes::derive_ipek(&TdesKey::from_hex(bdk).unwrap(), &ksn).unwrap();
    TdesDukptTerminal::load(ipek, &ksn).unwrap()
}

fn aes_terminal() -> AesDukptTerminal {
    let (_, _, _, bdk, key_id) = DUKPT_TERMINALS[1];
    let id = InitialKeyId::from_hex(key_id).unwrap();
    AesDukptTerminal::load(
        dukpt_aes::derive_initial_key(&AesKey::from_hex(bdk).unwrap(), &id),
        id,
    )
}

/// A TDES PIN purchase; returns (field 39, whether the answer's MAC verified).
async fn tdes_purchase(
    c: &mut TerminalClient,
    t: &mut TdesDukptTerminal,
    terminal: &str,
    stan: u32,
    pin: &str,
    tampered: bool,
) -> (String, bool) {
    let (ksn, key) = t.next_transaction().unwrap();
    let pan = paycrypto::Pan::new(PAN).unwrap();
    let pin_key = key.pin_key();
    let block = pinblock::encrypt_format0(
        pin_key.require(U::PinEncryption).unwrap(),
        &Pin::new(pin).unwrap(),
        &pan,
    )
    .unwrap();
    let mut fields = base_fields(terminal, stan);
    fields.push((52, hex::encode_upper(block)));
    fields.push((62, hex::encode_upper(ksn.as_bytes())));
    let request_key = key.mac_request_key();
    let mut bytes = message(&mut fields, &|d| {
        retail_mac(request_key.require(U::Mac).unwrap(), d, Padding::Method1)
    });
    if tampered {
        tamper(&mut bytes);
    }
    let answer = send(c, &bytes).await;
    let response_key = key.mac_response_key();
    let ok = response_mac_ok(&answer.body, &|d| {
        retail_mac(response_key.require(U::Mac).unwrap(), d, Padding::Method1)
    });
    (answer.code, ok)
}

fn aes_working(
    key: &paycrypto::dukpt_aes::AesTransactionKey,
    usage: WorkingKeyUsage,
    bound: U,
) -> AesKey {
    match key.working_key(usage, KeyType::Aes128).unwrap() {
        WorkingKey::Aes(k) => k.require(bound).unwrap().clone(),
        _ => unreachable!("AES-128 working keys"),
    }
}

async fn aes_purchase(
    c: &mut TerminalClient,
    t: &mut AesDukptTerminal,
    stan: u32,
    pin: &str,
    tampered: bool,
) -> (String, bool) {
    let key = t.next_transaction().unwrap();
    let pan = paycrypto::Pan::new(PAN).unwrap();
    let pin_key = aes_working(&key, WorkingKeyUsage::PinEncryption, U::PinEncryption);
    let block =
        pinblock::encipher_format4(&pin_key, &Pin::new(pin).unwrap(), &pan, &mut rand::rng());
    let mut fields = base_fields("AES00001", stan);
    fields.push((62, hex::encode_upper(key.ksn().to_bytes())));
    fields.push((110, hex::encode_upper(block)));
    let generate = aes_working(&key, WorkingKeyUsage::MacGenerate, U::MacGenerate);
    let mut bytes = message(&mut fields, &|d| {
        aes_cmac(&generate, d)[..8].try_into().unwrap()
    });
    if tampered {
        tamper(&mut bytes);
    }
    let answer = send(c, &bytes).await;
    let verify = aes_working(&key, WorkingKeyUsage::MacVerify, U::MacVerify);
    let ok = response_mac_ok(&answer.body, &|d| {
        aes_cmac(&verify, d)[..8].try_into().unwrap()
    });
    (answer.code, ok)
}

/// Every log line of this test binary, at debug level, for the leak check.
static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct LogSink;

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(|| LogSink)
            .with_ansi(false)
            .init();
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dukpt_terminals_are_answered_by_their_keys_and_nothing_leaks() {
    capture_logs();
    let mut cfg = config("dukpt", Backend::Sqlite).unwrap();
    cfg.journal = false; // lets the second life below open the same directory
    let dir = cfg.data_dir.clone();
    let running = start_demo(cfg.clone()).await;
    let token = running.new_admin_token.clone().unwrap();
    let mut c = client(running.link_addr).await;

    let mut t = tdes_terminal();
    assert_eq!(
        tdes_purchase(&mut c, &mut t, "TDES0001", 1, "1234", false).await,
        ("00".into(), true)
    );
    assert_eq!(
        tdes_purchase(&mut c, &mut t, "TDES0001", 2, "9999", false).await,
        ("55".into(), true)
    );
    assert_eq!(
        tdes_purchase(&mut c, &mut t, "TDES0001", 3, "1234", true)
            .await
            .0,
        "63"
    );
    assert_eq!(
        tdes_purchase(&mut c, &mut t, "TDESXXXX", 4, "1234", false)
            .await
            .0,
        "58"
    );
    let mut foreign = TdesDukptTerminal::load(
        dukpt_tdes::derive_ipek(
            &TdesKey::from_hex(DUKPT_TERMINALS[0].3).unwrap(),
            &Ksn::from_hex("FFFF9876543211E00000").unwrap(),
        )
        .unwrap(),
        &Ksn::from_hex("FFFF9876543211E00000").unwrap(),
    )
    .unwrap();
    assert_eq!(
        tdes_purchase(&mut c, &mut foreign, "TDES0001", 5, "1234", false)
            .await
            .0,
        "58"
    );
    assert_eq!(
        tdes_purchase(&mut c, &mut t, "TDES0001", 6, "1234", false).await,
        ("00".into(), true)
    );

    let mut a = aes_terminal();
    assert_eq!(
        aes_purchase(&mut c, &mut a, 11, "1234", false).await,
        ("00".into(), true)
    );
    assert_eq!(
        aes_purchase(&mut c, &mut a, 12, "4321", false).await,
        ("55".into(), true)
    );
    assert_eq!(aes_purchase(&mut c, &mut a, 13, "1234", true).await.0, "63");

    let (_, events) = api(&running, &token, "GET", "/v1/security-events", None).await;
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "mac_invalid",
            "unknown_terminal",
            "ksn_key_id_mismatch",
            "mac_invalid"
        ]
    );

    // Keys: components with a wrong check value are refused; the right ones enter.
    let bad = serde_json::json!({"id": "bdk-2", "usage": "bdk", "algorithm": "tdes", "components": [
        {"key": "11111111111111111111111111111111", "kcv": "000000"},
        {"key": "22222222222222222222222222222222", "kcv": "000000"}]});
    let (status, err) = api(&running, &token, "POST", "/v1/keys", Some(bad)).await;
    assert_eq!(status, 400);
    assert!(
        !err.to_string().contains("1111111111111111"),
        "no key material in errors: {err}"
    );
    // A merchant's personal data: sealed, shown masked.
    let merchant = serde_json::json!({"id": "MERCHANT0000002", "name": "测试", "mcc": "5411",
        "currency": "156", "fee_bps": 50, "id_number": "110101199003077777", "bank_account": "6222020200112233445"});
    let (status, shown) = api(&running, &token, "POST", "/v1/merchants", Some(merchant)).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["personal_data"]["id_number"], "11************7777");
    let (_, listed) = api(
        &running,
        &token,
        "GET",
        "/v1/merchants/MERCHANT0000002",
        None,
    )
    .await;
    assert_eq!(
        listed["personal_data"]["bank_account"],
        "62*************3445"
    );

    // The KEK rotates while serving; the next start opens every key with the new one.
    let (status, rotated) = api(
        &running,
        &token,
        "POST",
        "/v1/keys/rotate-kek",
        Some(serde_json::json!({})),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    assert_ne!(rotated["old_kcv"], rotated["new_kcv"]);
    let (status, _) = api(&running, &token, "POST", "/v1/vault/rotate", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        tdes_purchase(&mut c, &mut t, "TDES0001", 7, "1234", false).await,
        ("00".into(), true)
    );
    verify_ledger(&running);

    let second = host::start(cfg)
        .await
        .expect("a restart after the KEK rotation");
    let mut c2 = client(second.link_addr).await;
    assert_eq!(
        tdes_purchase(&mut c2, &mut t, "TDES0001", 8, "1234", false).await,
        ("00".into(), true)
    );

    // Nothing of the card or of the merchant's identity in clear on disk.
    let pin_block = hex::encode_upper(
        pinblock::encode_format0(
            &Pin::new("1234").unwrap(),
            &paycrypto::Pan::new(PAN).unwrap(),
        )
        .unwrap()
        .expose_bytes(),
    );
    let needles = [
        PAN.to_string(),
        TRACK2.to_string(),
        "28122011143844400000".into(),
        pin_block,
        "110101199003077777".into(),
        "6222020200112233445".into(),
    ];
    assert_no_secrets(&dir, &needles);
    let logs = LOGS.lock().unwrap().clone();
    let text = String::from_utf8_lossy(&logs);
    assert!(text.contains("security event"), "the logs were captured");
    for needle in &needles {
        assert!(
            !text.contains(needle.as_str()),
            "a log line holds a secret ({} chars)",
            needle.len()
        );
    }
}

/// Searches every file under `dir` for each needle, as text and (for hex) as bytes.
fn assert_no_secrets(dir: &std::path::Path, needles: &[String]) {
    let mut files = vec![dir.to_path_buf()];
    let mut searched = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        searched += bytes.len();
        for needle in needles {
            let mut forms = vec![
                needle.as_bytes().to_vec(),
                needle.to_lowercase().into_bytes(),
            ];
            if let Ok(raw) = hex::decode(needle) {
                forms.push(raw);
            }
            for form in forms {
                assert!(
                    !bytes.windows(form.len()).any(|w| w == form.as_slice()),
                    "{} holds a secret ({} chars)",
                    path.display(),
                    needle.len()
                );
            }
        }
    }
    assert!(searched > 0, "the data directory was searched");
}

/// A terminal whose profile demands TLS is refused (58, `transport_refused`) on the
/// plain listener, and served again once its profile allows plain TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_that_must_use_tls_is_refused_on_plain_tcp() {
    let running = start_demo(config("transport", Backend::Sqlite).unwrap()).await;
    let token = running.new_admin_token.clone().unwrap();
    let mut c = client(running.link_addr).await;
    let plain_purchase = |stan: u32| {
        let fields = base_fields("TERM0002", stan);
        let spec = Spec::posguard_ascii();
        let mut body = Vec::new();
        let mut w = spec.writer(&mut body);
        w.mti("0200");
        for (n, v) in &fields {
            w.field(*n, v.as_str());
        }
        w.finish().unwrap();
        body
    };
    let tls_only = serde_json::json!({"mac": "off", "transport": "tls"});
    let (status, body) = api(
        &running,
        &token,
        "PUT",
        "/v1/terminals/TERM0002/security",
        Some(tls_only),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(send(&mut c, &plain_purchase(1)).await.code, "58");
    let (_, events) = api(&running, &token, "GET", "/v1/security-events", None).await;
    assert_eq!(events[0]["kind"], "transport_refused");
    assert_eq!(events[0]["terminal"], "TERM0002");
    let plain = serde_json::json!({"mac": "off", "transport": "plain"});
    api(
        &running,
        &token,
        "PUT",
        "/v1/terminals/TERM0002/security",
        Some(plain),
    )
    .await;
    assert_eq!(send(&mut c, &plain_purchase(2)).await.code, "00");
    let unknown = serde_json::json!({"mac": "off"});
    let (status, _) = api(
        &running,
        &token,
        "PUT",
        "/v1/terminals/NOPE0001/security",
        Some(unknown),
    )
    .await;
    assert_eq!(status, 404, "a profile needs a registered terminal");
    let no_bdk =
        serde_json::json!({"dukpt": "tdes", "bdk": "missing", "key_id": "FFFF9876543210E00000"});
    let (status, _) = api(
        &running,
        &token,
        "PUT",
        "/v1/terminals/TERM0002/security",
        Some(no_bdk),
    )
    .await;
    assert_eq!(status, 400, "a DUKPT profile needs its BDK in the keystore");
}
