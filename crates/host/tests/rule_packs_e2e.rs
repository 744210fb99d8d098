//! Every shipped rule pack end to end through the host (issue 4): ISO 8583 requests over
//! TCP, the host's clock moved on to reach each pack's windows (hours, days, 60 quiet
//! days), and each decision read back over the API. Each pack fires on its pattern; the
//! last test sends ordinary traffic through all packs and none of them speaks.

mod common;

use common::{Backend, api, ascii_client as client, config, start_demo, verify_ledger};
use host::client::{Reply, TerminalClient};
use iso8583::MessageBuilder;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// 2026-12-01 12:00 in Beijing (04:00 UTC), a Tuesday.
const T0_MS: i64 = 1_796_097_600_000;
const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;
/// Generous limits, so that only risk control declines.
const LIMIT_MINOR: i64 = 100_000_000_000;
const MERCHANT: &str = "MERCHANT0000001";

/// One host with a clock of its own, a terminal link client and an API token.
struct World {
    running: host::Running,
    token: String,
    link: TerminalClient,
    clock: Arc<AtomicI64>,
    stan: u32,
    cards: u64,
}

/// A request as a terminal builds it.
#[derive(Clone, Copy)]
struct Txn<'a> {
    mti: &'a str,
    processing: &'a str,
    pan: &'a str,
    terminal: &'a str,
    amount_minor: i64,
    entry_mode: &'a str,
    /// Field 37: the RRN of the original (refunds).
    original_rrn: Option<u64>,
}

impl<'a> Txn<'a> {
    fn purchase(pan: &'a str, terminal: &'a str, amount_minor: i64) -> Txn<'a> {
        Txn {
            mti: "0200",
            processing: "000000",
            pan,
            terminal,
            amount_minor,
            entry_mode: "051",
            original_rrn: None,
        }
    }

    fn refund(pan: &'a str, terminal: &'a str, amount_minor: i64, sale: u64) -> Txn<'a> {
        Txn {
            processing: "200000",
            original_rrn: Some(sale),
            ..Txn::purchase(pan, terminal, amount_minor)
        }
    }
}

/// What risk control decided about one transaction, as the API shows it.
struct Decided {
    code: String,
    rrn: u64,
    risk: Value,
}

impl Decided {
    /// The rules that fired (active and shadow), sorted.
    fn fired(&self) -> Vec<String> {
        let mut out: Vec<String> = ["reasons", "shadow_hits"]
            .iter()
            .filter_map(|k| self.risk[k].as_array())
            .flatten()
            .filter_map(|r| r["rule_id"].as_str().map(str::to_owned))
            .collect();
        out.sort();
        out
    }

    fn fired_in(&self, pack: &str) -> Vec<String> {
        let prefix = format!("{pack}.");
        self.fired()
            .into_iter()
            .filter(|r| r.starts_with(&prefix))
            .collect()
    }

    fn assert_fired(&self, rule: &str) {
        assert!(
            self.fired().iter().any(|r| r == rule),
            "{rule} did not fire: {}",
            self.risk
        );
    }
}

impl World {
    async fn new(tag: &str) -> World {
        let mut cfg = config(tag, Backend::Sqlite).unwrap();
        let clock = Arc::new(AtomicI64::new(T0_MS));
        let read = clock.clone();
        cfg.clock = host::Clock::new(move || read.load(Ordering::SeqCst));
        let running = start_demo(cfg).await;
        let token = running.new_admin_token.clone().unwrap();
        let link = client(running.link_addr).await;
        World {
            running,
            token,
            link,
            clock,
            stan: 0,
            cards: 0,
        }
    }

    fn advance(&self, ms: i64) {
        self.clock.fetch_add(ms, Ordering::SeqCst);
    }

    async fn api(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, body) = api(&self.running, &self.token, method, path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {body}"
        );
        body
    }

    /// A new debit card with generous limits; returns its PAN.
    async fn card(&mut self) -> String {
        self.cards += 1;
        let pan = with_luhn(&format!("{}", 999_200_000_000_000 + self.cards));
        let body = json!({"pan": pan, "expiry": "3012", "kind": "debit", "currency": "CNY",
                          "limit_minor": LIMIT_MINOR, "daily_limit_minor": LIMIT_MINOR});
        self.api("POST", "/v1/cards", Some(body)).await;
        pan
    }

    async fn terminal(&self, id: &str, floor_limit_minor: i64) {
        let body =
            json!({"id": id, "merchant_id": MERCHANT, "floor_limit_minor": floor_limit_minor});
        self.api("POST", "/v1/terminals", Some(body)).await;
    }

    async fn send(&mut self, t: Txn<'_>) -> Decided {
        self.stan += 1;
        let stan = format!("{:06}", self.stan);
        let amount = format!("{:012}", t.amount_minor);
        let rrn = t.original_rrn.map(|r| format!("{r:012}"));
        let mut m = MessageBuilder::new();
        m.set_mti(t.mti)
            .set(2, t.pan)
            .set(3, t.processing)
            .set(4, amount.as_str())
            .set(7, "1201120000")
            .set(11, stan.as_str())
            .set(14, "3012")
            .set(22, t.entry_mode)
            .set(41, t.terminal)
            .set(49, "156");
        if let Some(rrn) = &rrn {
            m.set(37, rrn.as_str());
        }
        let reply: Reply = self.link.request(&m).await.expect("an answer");
        let rrn: u64 = reply
            .get(37)
            .expect("a recorded transaction has an RRN")
            .parse()
            .unwrap();
        let txn = self
            .api("GET", &format!("/v1/transactions/{rrn}"), None)
            .await;
        Decided {
            code: reply.code().to_owned(),
            rrn,
            risk: txn["risk"].clone(),
        }
    }
}

/// `body` with its Luhn check digit appended.
fn with_luhn(body: &str) -> String {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            match i % 2 {
                0 if d * 2 > 9 => d * 2 - 9,
                0 => d * 2,
                _ => d,
            }
        })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_testing_small_attempts_and_many_cards_on_one_terminal_are_declined_59() {
    let mut w = World::new("pack-card-testing").await;
    let pan = w.card().await;
    for _ in 0..4 {
        assert_eq!(
            w.send(Txn::purchase(&pan, "TERM0001", 500)).await.code,
            "00"
        );
        w.advance(MINUTE_MS);
    }
    let fifth = w.send(Txn::purchase(&pan, "TERM0001", 500)).await;
    assert_eq!(fifth.code, "59");
    fifth.assert_fired("card_testing.small_attempts");

    let mut last = None;
    for _ in 0..10 {
        let pan = w.card().await;
        last = Some(w.send(Txn::purchase(&pan, "TERM0002", 1_200)).await);
        w.advance(MINUTE_MS);
    }
    let tenth = last.unwrap();
    assert_eq!(tenth.code, "59");
    tenth.assert_fired("card_testing.many_cards_one_terminal");
    verify_ledger(&w.running);
    let metrics = w.running.app.metrics.render();
    for line in [
        "posguard_risk_decisions_total{action=\"decline\"} 2",
        "posguard_risk_decisions_total{action=\"approve\"} 13",
        "posguard_risk_alerts_total 2",
        "posguard_risk_failures_total 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn velocity_reviews_the_sixth_sale_in_an_hour() {
    let mut w = World::new("pack-velocity").await;
    let pan = w.card().await;
    for _ in 0..5 {
        let d = w.send(Txn::purchase(&pan, "TERM0001", 8_000)).await;
        assert!(d.fired_in("velocity").is_empty(), "{}", d.risk);
        w.advance(5 * MINUTE_MS);
    }
    let sixth = w.send(Txn::purchase(&pan, "TERM0001", 8_000)).await;
    assert_eq!(
        (sixth.code.as_str(), &sixth.risk["action"]),
        ("00", &json!("review"))
    );
    sixth.assert_fired("velocity.card_hourly");
    // An hour and more later the window has moved on.
    w.advance(2 * HOUR_MS);
    let later = w.send(Txn::purchase(&pan, "TERM0001", 8_000)).await;
    assert!(later.fired_in("velocity").is_empty(), "{}", later.risk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amount_far_above_the_cards_own_month_is_reviewed() {
    let mut w = World::new("pack-amount").await;
    let pan = w.card().await;
    for _ in 0..10 {
        w.send(Txn::purchase(&pan, "TERM0001", 10_000)).await;
        w.advance(DAY_MS);
    }
    let usual = w.send(Txn::purchase(&pan, "TERM0001", 12_000)).await;
    assert!(
        usual.fired_in("amount_baseline").is_empty(),
        "{}",
        usual.risk
    );
    w.advance(HOUR_MS);
    // The card's 30-day mean counts this sale too: (10 x 100 + 120 + 2,000) / 12 = 260.
    let big = w.send(Txn::purchase(&pan, "TERM0001", 200_000)).await;
    big.assert_fired("amount_baseline.card");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_sale_at_night_local_time_is_reviewed() {
    let mut w = World::new("pack-night").await;
    let pan = w.card().await;
    let noon = w.send(Txn::purchase(&pan, "TERM0001", 150_000)).await;
    assert!(noon.fired_in("night").is_empty(), "{}", noon.risk);
    // 02:30 the next morning in Beijing (UTC+8).
    w.advance(14 * HOUR_MS + 30 * MINUTE_MS);
    let night = w.send(Txn::purchase(&pan, "TERM0001", 150_000)).await;
    night.assert_fired("night.large_amount");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_amounts_repeated_at_one_terminal_look_like_cash_out() {
    let mut w = World::new("pack-cash-out").await;
    let pan = w.card().await;
    let mut last = None;
    for _ in 0..3 {
        last = Some(w.send(Txn::purchase(&pan, "TERM0001", 800_000)).await);
        w.advance(DAY_MS);
    }
    last.unwrap().assert_fired("cash_out.round_repeats");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amounts_just_under_the_reporting_threshold_add_up_to_structuring() {
    let mut w = World::new("pack-structuring").await;
    let pan = w.card().await;
    let mut decisions = Vec::new();
    for _ in 0..3 {
        decisions.push(w.send(Txn::purchase(&pan, "TERM0001", 4_900_000)).await);
        w.advance(DAY_MS);
    }
    assert!(decisions[0].fired_in("structuring").is_empty());
    decisions[2].assert_fired("structuring.just_under_threshold");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_with_no_sale_to_another_card_or_in_excess_are_flagged() {
    let mut w = World::new("pack-refunds").await;
    let (payer, other) = (w.card().await, w.card().await);
    let sale = w.send(Txn::purchase(&payer, "TERM0001", 50_000)).await;
    assert_eq!(sale.code, "00");
    let own = w
        .send(Txn::refund(&payer, "TERM0001", 10_000, sale.rrn))
        .await;
    assert_eq!(own.code, "00");
    assert!(own.fired_in("refund_abuse").is_empty(), "{}", own.risk);
    let elsewhere = w
        .send(Txn::refund(&other, "TERM0001", 10_000, sale.rrn))
        .await;
    assert_eq!(
        elsewhere.fired_in("refund_abuse"),
        ["refund_abuse.other_card"]
    );
    // No such sale: the issuer declines it, and risk control makes it an alert.
    let no_sale = w
        .send(Txn::refund(&payer, "TERM0001", 10_000, 999_999))
        .await;
    assert_ne!(no_sale.code, "00");
    no_sale.assert_fired("refund_abuse.no_sale");
    let alerts = w.api("GET", "/v1/alerts", None).await;
    let alerted: Vec<u64> = alerts
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["txn_id"].as_u64())
        .collect();
    assert!(alerted.contains(&no_sale.rrn), "{alerts}");
    assert!(alerted.contains(&elsewhere.rrn), "{alerts}");

    // Refunds out of proportion at one terminal.
    let shop = "TERM0002";
    let mut sales = Vec::new();
    for _ in 0..7 {
        sales.push(w.send(Txn::purchase(&payer, shop, 20_000)).await.rrn);
        w.advance(HOUR_MS);
    }
    let mut last = None;
    for sale in sales.iter().take(4) {
        last = Some(w.send(Txn::refund(&payer, shop, 20_000, *sale)).await);
        w.advance(MINUTE_MS);
    }
    let last = last.unwrap();
    last.assert_fired("refund_abuse.terminal_ratio");
    last.assert_fired("refund_abuse.card_repeats");
    verify_ledger(&w.running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_or_stolen_terminal_in_use_is_declined_and_alerted() {
    let mut w = World::new("pack-terminal-status").await;
    let pan = w.card().await;
    for (terminal, status) in [("TERM0002", "lost"), ("TERM0003", "stolen")] {
        w.api(
            "POST",
            &format!("/v1/terminals/{terminal}/status"),
            Some(json!({"status": status})),
        )
        .await;
        let d = w.send(Txn::purchase(&pan, terminal, 10_000)).await;
        assert_eq!(d.code, "58", "{status}");
        d.assert_fired("terminal_status.lost_or_stolen");
        assert_eq!(d.risk["action"], "decline");
    }
    let cases = w.api("GET", "/v1/cases", None).await;
    assert!(!cases.as_array().unwrap().is_empty(), "{cases}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_waking_after_sixty_quiet_days_is_reviewed() {
    let mut w = World::new("pack-dormant").await;
    let pan = w.card().await;
    w.send(Txn::purchase(&pan, "TERM0001", 10_000)).await;
    w.advance(30 * DAY_MS);
    let after_30 = w.send(Txn::purchase(&pan, "TERM0001", 10_000)).await;
    assert!(after_30.fired_in("dormant").is_empty(), "{}", after_30.risk);
    w.advance(61 * DAY_MS);
    let woke = w.send(Txn::purchase(&pan, "TERM0001", 10_000)).await;
    woke.assert_fired("dormant.terminal_wakes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_fallback_on_a_card_is_reviewed_then_declined() {
    let mut w = World::new("pack-fallback").await;
    let pan = w.card().await;
    let fallback = |pan| Txn {
        entry_mode: "801",
        ..Txn::purchase(pan, "TERM0001", 3_000)
    };
    let first = w.send(fallback(&pan)).await;
    assert!(first.fired_in("fallback").is_empty(), "{}", first.risk);
    let second = w.send(fallback(&pan)).await;
    second.assert_fired("fallback.repeated_card");
    let third = w.send(fallback(&pan)).await;
    assert_eq!(third.code, "59");
    third.assert_fired("fallback.card_burst");
    let large = w
        .send(Txn {
            entry_mode: "801",
            ..Txn::purchase(&pan, "TERM0002", 250_000)
        })
        .await;
    large.assert_fired("fallback.large_amount");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_advice_above_the_floor_limit_is_reviewed() {
    let mut w = World::new("pack-offline").await;
    w.terminal("TERM0009", 20_000).await;
    let pan = w.card().await;
    let advice = |amount_minor| Txn {
        mti: "0220",
        ..Txn::purchase(&pan, "TERM0009", amount_minor)
    };
    let within = w.send(advice(15_000)).await;
    assert!(within.fired_in("offline").is_empty(), "{}", within.risk);
    // The stand-in issuer refuses the advice (05, above_floor_limit); risk control makes
    // it an alert, since the goods may be gone.
    let above = w.send(advice(35_000)).await;
    assert_eq!(above.code, "05");
    above.assert_fired("offline.above_floor_limit");
    let alerts = w.api("GET", "/v1/alerts", None).await;
    assert_eq!(alerts[0]["txn_id"], json!(above.rrn), "{alerts}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchant_volume_far_above_its_month_is_a_shadow_hit() {
    let mut w = World::new("pack-merchant-volume").await;
    let pan = w.card().await;
    // A month of three modest sales a day...
    for _ in 0..30 {
        for _ in 0..3 {
            w.send(Txn::purchase(&pan, "TERM0001", 5_000)).await;
            w.advance(HOUR_MS);
        }
        w.advance(DAY_MS - 3 * HOUR_MS);
    }
    // ...then one day's takings six times the daily mean.
    let mut last = None;
    for _ in 0..3 {
        let card = w.card().await;
        last = Some(w.send(Txn::purchase(&card, "TERM0002", 30_000)).await);
    }
    let last = last.unwrap();
    assert_eq!(
        last.risk["shadow_hits"][0]["rule_id"], "merchant_volume.daily_spike",
        "{}",
        last.risk
    );
    assert_eq!(last.code, "00", "shadow rules decide nothing");
}

/// Ordinary shopping: a dozen cards, a few sales each per day at everyday amounts over
/// two weeks, daytime, chip, their own refunds now and then. No pack speaks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordinary_traffic_leaves_every_pack_quiet() {
    let mut w = World::new("pack-quiet").await;
    let mut cards = Vec::new();
    for _ in 0..12 {
        cards.push(w.card().await);
    }
    let terminals = ["TERM0001", "TERM0002", "TERM0003"];
    for day in 0..14i64 {
        for (i, pan) in cards.iter().enumerate() {
            let amount = 2_000 + ((day * 37 + i as i64 * 113) % 40) * 250 + 99;
            let terminal = terminals[(i + day as usize) % terminals.len()];
            let d = w.send(Txn::purchase(pan, terminal, amount)).await;
            assert_eq!(d.code, "00", "day {day} card {i}: {}", d.risk);
            assert_eq!(d.fired(), Vec::<String>::new(), "day {day} card {i}");
            if (day + i as i64) % 9 == 0 {
                let r = w.send(Txn::refund(pan, terminal, 1_000, d.rrn)).await;
                assert_eq!(r.fired(), Vec::<String>::new(), "refund day {day} card {i}");
            }
            w.advance(20 * MINUTE_MS);
        }
        w.advance(DAY_MS - 12 * 20 * MINUTE_MS);
    }
    let alerts = w.api("GET", "/v1/alerts", None).await;
    assert_eq!(alerts, json!([]));
    verify_ledger(&w.running);
}
