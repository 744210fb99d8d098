//! Each shipped rule pack fires on its pattern and stays quiet on normal traffic.

mod common;

use common::*;
use model::{ResponseCode, TxnKind};
use risk::handbook::from_sim;
use risk::{Action, StoreConfig, backtest};

#[test]
fn card_testing_fires_on_small_attempts_and_many_cards() {
    let mut s = Script::new(all_packs());
    let mut last = None;
    for i in 0..5 {
        last = Some(s.pay(T0 + i * 60_000, 7, 100, 300 + i));
    }
    let d = last.unwrap();
    assert!(fired(&d, "card_testing.small_attempts"), "{d:?}");
    assert_eq!(d.action, Action::Decline(ResponseCode::SuspectedFraud));
    let mut d = None;
    for card in 0..10 {
        d = Some(s.pay(T0 + DAY_MS + card * 30_000, 1_000 + card as u32, 200, 150));
    }
    assert!(fired(&d.unwrap(), "card_testing.many_cards_one_terminal"));
}

#[test]
fn card_testing_counts_declines_recorded_after_scoring() {
    let mut s = Script::new(all_packs());
    for i in 0..3 {
        let ev = s.event(T0 + i * 60_000, 9, 100, 5_000);
        s.run(ev, |_| {});
        assert!(s.store.record_decline(ev.txn_id));
    }
    let d = s.pay(T0 + 4 * 60_000, 9, 100, 5_000);
    assert!(fired(&d, "card_testing.repeated_declines"), "{d:?}");
}

#[test]
fn velocity_fires_on_a_burst() {
    let mut s = Script::new(all_packs());
    let mut d = None;
    for i in 0..6 {
        d = Some(s.pay(T0 + i * 5 * 60_000, 3, 100 + i as u32, 8_000));
    }
    assert!(fired(&d.unwrap(), "velocity.card_hourly"));
    let d = s.pay(T0 + 2 * HOUR_MS, 3, 100, 5_100_000);
    assert!(fired(&d, "velocity.card_daily_amount"));
}

#[test]
fn amount_far_above_the_cards_baseline_fires() {
    let mut s = Script::new(all_packs());
    for day in 0..12 {
        s.pay(T0 + day * DAY_MS, 4, 100, 6_000);
    }
    let d = s.pay(T0 + 12 * DAY_MS, 4, 100, 60_000);
    assert!(fired(&d, "amount_baseline.card"), "{d:?}");
    let d = s.pay(T0 + 13 * DAY_MS, 4, 100, 6_500);
    assert!(!fired(&d, "amount_baseline.card"));
}

#[test]
fn night_rule_uses_local_time() {
    let mut s = Script::new(all_packs());
    // 19:00 UTC is 03:00 in China (UTC+8).
    let ev = s.event(T0 + 19 * HOUR_MS, 5, 100, 150_000);
    let d = s.run(ev, |f| f.local_offset_minutes = 480);
    assert!(fired(&d, "night.large_amount"));
    let ev = s.event(T0 + 19 * HOUR_MS + 1, 5, 100, 150_000);
    assert!(!fired(&s.run(ev, |_| {}), "night.large_amount"));
}

#[test]
fn cash_out_fires_on_repeated_round_amounts_near_the_limit() {
    let mut s = Script::new(all_packs());
    let mut d = None;
    for i in 0..3 {
        d = Some(s.pay(T0 + i * DAY_MS, 6, 100, 1_900_000));
    }
    assert!(fired(&d.unwrap(), "cash_out.round_repeats"));
    let ev = s.event(T0 + 4 * DAY_MS, 6, 101, 1_900_000);
    let d = s.run(ev, |f| f.card_daily_limit_minor = Some(2_000_000));
    assert!(fired(&d, "cash_out.near_daily_limit"));
    assert_eq!(d.tags, vec!["cash_out".to_owned()]);
}

#[test]
fn structuring_fires_on_amounts_just_under_the_threshold() {
    let mut s = Script::new(all_packs());
    let mut d = None;
    for i in 0..3 {
        d = Some(s.pay(T0 + i * DAY_MS, 8, 100 + i as u32, 4_900_000));
    }
    assert!(fired(&d.unwrap(), "structuring.just_under_threshold"));
}

#[test]
fn refund_abuse_fires_on_refund_heavy_terminal() {
    let mut s = Script::new(all_packs());
    for i in 0..7 {
        s.pay(T0 + i * HOUR_MS, 20 + i as u32, 300, 10_000);
    }
    let mut d = None;
    for i in 0..4 {
        let mut ev = s.event(T0 + DAY_MS + i * HOUR_MS, 40 + i as u32, 300, 10_000);
        ev.kind = TxnKind::Refund;
        d = Some(s.run(ev, |_| {}));
    }
    assert!(fired(&d.unwrap(), "refund_abuse.terminal_ratio"));
}

#[test]
fn dormant_terminal_fires_after_sixty_quiet_days() {
    let mut s = Script::new(all_packs());
    let first = s.pay(T0, 1, 500, 10_000);
    assert!(
        first.errors.is_empty(),
        "has() guards the first transaction: {first:?}"
    );
    let d = s.pay(T0 + 61 * DAY_MS, 2, 500, 10_000);
    assert!(fired(&d, "dormant.terminal_wakes"), "{d:?}");
}

#[test]
fn offline_advice_above_floor_limit_fires() {
    let mut s = Script::new(all_packs());
    let ev = s.event(T0, 1, 600, 60_000);
    let d = s.run(ev, |f| {
        f.offline = true;
        f.terminal_floor_limit_minor = Some(50_000);
    });
    assert!(fired(&d, "offline.above_floor_limit"));
    assert_eq!(d.action, Action::Review);
}

#[test]
fn merchant_volume_spike_is_a_shadow_hit() {
    let mut s = Script::new(all_packs());
    for day in 0..30 {
        for k in 0..2 {
            s.pay(T0 + day * DAY_MS + k * HOUR_MS, 50 + k as u32, 700, 10_000);
        }
    }
    let mut d = None;
    for k in 0..12 {
        d = Some(s.pay(T0 + 30 * DAY_MS + k * 60_000, 900 + k as u32, 700, 10_000));
    }
    let d = d.unwrap();
    assert!(
        d.shadow_hits
            .iter()
            .any(|r| &*r.rule_id == "merchant_volume.daily_spike"),
        "{d:?}"
    );
    assert!(
        !d.reasons
            .iter()
            .any(|r| &*r.rule_id == "merchant_volume.daily_spike")
    );
}

/// Normal traffic from the simulator (200 customers, 400 terminals, 30 days): every
/// rule fires on under 0.5% of the genuine transactions.
#[test]
fn packs_stay_quiet_on_normal_simulated_traffic() {
    let cfg = sim::HandbookConfig {
        customers: 200,
        terminals: 400,
        days: 30,
        ..Default::default()
    };
    let history: Vec<_> = sim::generate(&cfg)
        .iter()
        .map(|t| from_sim(t, cfg.start_date))
        .collect();
    let genuine: Vec<_> = history.iter().copied().filter(|h| !h.fraud).collect();
    assert!(genuine.len() > 5_000, "{}", genuine.len());
    let report = backtest(&all_packs(), StoreConfig::default(), &genuine).unwrap();
    for r in &report.rules {
        println!("{:40} {:.3}%", r.rule_id, 100.0 * r.hit_rate);
    }
    for r in &report.rules {
        assert!(
            r.hit_rate < 0.005,
            "{} fires on {:.3}% of normal traffic",
            r.rule_id,
            100.0 * r.hit_rate
        );
        assert_eq!(r.errors, 0, "{} failed at run time", r.rule_id);
    }
}

/// On the simulator's labelled traffic the baseline rule finds the inflated-amount frauds
/// (scenario 3) with useful precision.
#[test]
fn backtest_reports_precision_and_recall_on_labelled_history() {
    let cfg = sim::HandbookConfig {
        customers: 200,
        terminals: 400,
        days: 60,
        ..Default::default()
    };
    let history: Vec<_> = sim::generate(&cfg)
        .iter()
        .map(|t| from_sim(t, cfg.start_date))
        .collect();
    let report = backtest(&all_packs(), StoreConfig::default(), &history).unwrap();
    assert!(report.frauds > 0);
    let baseline = report
        .rules
        .iter()
        .find(|r| r.rule_id == "amount_baseline.card")
        .unwrap();
    assert!(baseline.hits > 0);
    assert!(baseline.precision > 0.5, "{baseline:?}");
    assert!(baseline.recall > 0.0 && baseline.recall <= 1.0);
}
