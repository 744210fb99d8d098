//! `posguard serve --demo`: a merchant, terminals and test cards, so a new user can
//! send a first transaction within a minute. Seeding is idempotent.

use crate::pipeline::Provision;
use crate::security::pin::{PIN_META_PREFIX, PVV_USAGE, PinRecord};
use crate::security::profile::{Dukpt, MacPolicy, PROFILE_META_PREFIX, Profile, TransportRule};
use crate::server::App;
use keystore::{Algorithm, Usage};
use model::{
    Card, CardKind, CardStatus, Currency, Merchant, MerchantId, Pan, Terminal, TerminalId,
    TerminalStatus,
};

pub const MERCHANT: &str = "MERCHANT0000001";
pub const TERMINALS: [&str; 3] = ["TERM0001", "TERM0002", "TERM0003"];

/// The demo's DUKPT terminals (docs/terminal-security.md): (terminal, scheme, keystore
/// id of its BDK, the BDK, its key id). The BDKs are the published ANSI X9.24 test keys:
/// demo only, never for a real terminal.
pub const DUKPT_TERMINALS: [(&str, Dukpt, &str, &str, &str); 2] = [
    (
        "TDES0001",
        Dukpt::Tdes,
        "demo-bdk-tdes",
        "0123456789ABCDEFFEDCBA9876543210",
        "FFFF9876543210E00000",
    ),
    (
        "AES00001",
        Dukpt::Aes128,
        "demo-bdk-aes128",
        "FEDCBA9876543210F1F1F1F1F1F1F1F1",
        "1234567890123456",
    ),
];
/// The PIN of every demo card.
pub const DEMO_PIN: &str = "1234";
/// The first custodian's component of each demo BDK (the second is BDK XOR this one),
/// to show split-knowledge entry.
const DEMO_COMPONENT_1: u8 = 0x1F;

/// (PAN, expiry YYMM, status, kind, limit, daily limit, what it shows). Test numbers
/// only; each passes the Luhn check.
pub const CARDS: [(&str, &str, CardStatus, CardKind, i64, i64, &str); 7] = [
    (
        "4761739001010010",
        "2812",
        CardStatus::Active,
        CardKind::Debit,
        1_000_000,
        500_000,
        "debit, 10,000.00 CNY: approved (00)",
    ),
    (
        "6222021000000005",
        "3012",
        CardStatus::Active,
        CardKind::Credit,
        5_000_000,
        2_000_000,
        "credit, limit 50,000.00 CNY",
    ),
    (
        "6222021000000013",
        "2812",
        CardStatus::Lost,
        CardKind::Debit,
        100_000,
        100_000,
        "lost: 41",
    ),
    (
        "6222021000000021",
        "2812",
        CardStatus::Stolen,
        CardKind::Debit,
        100_000,
        100_000,
        "stolen: 43",
    ),
    (
        "6222021000000039",
        "2812",
        CardStatus::Blocked,
        CardKind::Debit,
        100_000,
        100_000,
        "blocked: 05",
    ),
    (
        "6222021000000047",
        "2001",
        CardStatus::Active,
        CardKind::Debit,
        100_000,
        100_000,
        "expired 2020-01: 54",
    ),
    (
        "6222021000000054",
        "2812",
        CardStatus::Active,
        CardKind::Debit,
        1_000,
        100_000,
        "10.00 CNY left: 51 above that",
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("posguard stopped while seeding the demo")]
    Closed,
    #[error("seed the demo: {0}")]
    Provision(#[from] engine::ProvisionError),
    #[error("seed the demo's keys: {0}")]
    Keys(#[from] keystore::KeystoreError),
}

impl From<crate::pipeline::Closed> for DemoError {
    fn from(_: crate::pipeline::Closed) -> DemoError {
        DemoError::Closed
    }
}

async fn provision(app: &App, what: Provision) -> Result<(), DemoError> {
    app.pipeline
        .provision(what)
        .await
        .map_err(|_| DemoError::Closed)??;
    Ok(())
}

pub async fn seed(app: &App) -> Result<(), DemoError> {
    let merchant = MerchantId(MERCHANT.into());
    let exists = app.pipeline.read({
        let m = merchant.clone();
        move |e| e.merchant(&m).is_some()
    });
    if exists.await.map_err(|_| DemoError::Closed)? {
        return Ok(());
    }
    let m = Merchant {
        id: merchant.clone(),
        name: "ACME 示例商店".into(),
        mcc: "5411".into(),
        currency: Currency::CNY,
        fee_bps: 60,
    };
    provision(app, Provision::Merchant(m)).await?;
    let dukpt_ids = DUKPT_TERMINALS.iter().map(|t| t.0);
    for id in TERMINALS.into_iter().chain(dukpt_ids) {
        let t = Terminal {
            id: TerminalId(id.into()),
            merchant_id: merchant.clone(),
            status: TerminalStatus::Active,
            floor_limit_minor: 10_000,
        };
        provision(app, Provision::Terminal(t)).await?;
    }
    for (pan, expiry, status, kind, limit, daily, _) in CARDS {
        let pan = Pan::parse(pan).expect("demo PANs are well formed");
        let card = Card {
            token: app.keys.token(&pan),
            masked: pan.masked(),
            expiry: expiry.into(),
            status,
            kind,
            currency: Currency::CNY,
            limit_minor: limit,
            daily_limit_minor: daily,
        };
        let token = card.token.0.clone();
        provision(app, Provision::Card(card)).await?;
        let pin = paycrypto::Pin::new(DEMO_PIN).expect("the demo PIN is 4 digits");
        let pan = paycrypto::Pan::new(pan.expose()).expect("demo PANs are well formed");
        let pvk = app
            .security
            .pin_keys()
            .pvv
            .require(PVV_USAGE)
            .expect("bound to PVV");
        let record = PinRecord::pvv_of(pvk, &pan, &pin).expect("demo PANs take a PVV");
        let value = serde_json::to_string(&record).expect("records serialize");
        app.pipeline
            .set_meta(format!("{PIN_META_PREFIX}{token}"), value)
            .await?;
        app.security.set_pin(&token, record);
    }
    seed_dukpt(app).await
}

/// Imports the demo BDKs (as two components each) and gives the DUKPT terminals their
/// profiles: MAC required, plain TCP.
async fn seed_dukpt(app: &App) -> Result<(), DemoError> {
    let _changing = app.keyring.changes.lock().await;
    for (terminal, dukpt, bdk_id, bdk, key_id) in DUKPT_TERMINALS {
        if app.keyring.read().info(bdk_id).is_none() {
            let algorithm = match dukpt {
                Dukpt::Tdes => Algorithm::Tdes,
                Dukpt::Aes128 => Algorithm::Aes128,
                Dukpt::Aes256 => Algorithm::Aes256,
            };
            let parts = components(bdk, dukpt);
            let parts: Vec<(&str, &str)> = parts
                .iter()
                .map(|(k, c)| (k.as_str(), c.as_str()))
                .collect();
            let now = crate::server::now_ms();
            let (_, writes) = app.keyring.write().import_components(
                bdk_id,
                Usage::Bdk,
                algorithm,
                &parts,
                &mut rand::rng(),
                now,
            )?;
            app.pipeline.set_metas(writes).await?;
        }
        let profile = Profile {
            dukpt: Some(dukpt),
            bdk: Some(bdk_id.into()),
            key_id: Some(key_id.into()),
            mac: MacPolicy::Required,
            mac_field: 64,
            transport: TransportRule::Plain,
            pin_key: None,
            dialect: None,
            unionpay_mac: None,
        };
        let value = serde_json::to_string(&profile).expect("profiles serialize");
        app.pipeline
            .set_meta(format!("{PROFILE_META_PREFIX}{terminal}"), value)
            .await?;
        app.security.set_profile(terminal, profile);
    }
    Ok(())
}

/// Two components of `bdk` (hex) with their check values.
fn components(bdk: &str, dukpt: Dukpt) -> [(String, String); 2] {
    let bytes = hex::decode(bdk).expect("demo BDKs are hex");
    let first: Vec<u8> = vec![DEMO_COMPONENT_1; bytes.len()];
    let second: Vec<u8> = bytes.iter().zip(&first).map(|(b, c)| b ^ c).collect();
    let kcv = |key: &[u8]| match dukpt {
        Dukpt::Tdes => paycrypto::TdesKey::from_bytes(key)
            .expect("TDES")
            .kcv()
            .to_string(),
        _ => paycrypto::AesKey::from_bytes(key)
            .expect("AES")
            .kcv()
            .to_string(),
    };
    [
        (hex::encode_upper(&first), kcv(&first)),
        (hex::encode_upper(&second), kcv(&second)),
    ]
}

/// What `serve --demo` prints after seeding.
pub fn instructions(link: &str, http: &str) -> String {
    let mut cards = String::new();
    for (pan, expiry, _, _, _, _, what) in CARDS {
        cards.push_str(&format!("    {pan}  exp {expiry}  {what}\n"));
    }
    format!(
        "posguard demo is ready / 演示环境已就绪\n\
         \n  merchant {MERCHANT}, terminals {}\n  test cards (test numbers only / 仅测试卡号):\n{cards}\
         \nSend a first purchase of 125.00 CNY / 发送第一笔消费:\n\
         \n    posguard send purchase --link {link} --terminal TERM0001 --pan 4761739001010010 --expiry 2812 --amount 12500\n\
         \nDUKPT terminals (PINs encrypted, messages MACed; every demo card's PIN is {DEMO_PIN}):\n\
         \n    posguard send purchase --link {link} --terminal TDES0001 --dukpt tdes --pan 4761739001010010 --expiry 2812 --amount 12500 --pin {DEMO_PIN}\n\
         \n  (the demo's published test BDK {tdes_bdk}, initial KSN {tdes_ksn}; AES00001: --dukpt aes128)\n\
         \nThen look it up / 然后查询:\n\
         \n    posguard txn list --api http://{http} --token <admin token>\n    posguard ledger verify\n",
        TERMINALS.join(", "),
        tdes_bdk = DUKPT_TERMINALS[0].3,
        tdes_ksn = DUKPT_TERMINALS[0].4,
    )
}
