//! `posguard serve --demo`: a merchant, terminals and test cards, so a new user can
//! send a first transaction within a minute. Seeding is idempotent.

use crate::pipeline::Provision;
use crate::server::App;
use model::{
    Card, CardKind, CardStatus, Currency, Merchant, MerchantId, Pan, Terminal, TerminalId,
    TerminalStatus,
};

pub const MERCHANT: &str = "MERCHANT0000001";
pub const TERMINALS: [&str; 3] = ["TERM0001", "TERM0002", "TERM0003"];

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
    for id in TERMINALS {
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
        provision(app, Provision::Card(card)).await?;
    }
    Ok(())
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
         \nThen look it up / 然后查询:\n\
         \n    posguard txn list --api http://{http} --token <admin token>\n    posguard ledger verify\n",
        TERMINALS.join(", ")
    )
}
