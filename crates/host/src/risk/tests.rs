//! Risk control as the engine's hook: shipped packs decide, decisions and alerts are
//! written, alerts group into cases, case steps record who and when and label.

use super::*;
use engine::{CardInput, EngineConfig, MsgClass, PinCheck, Request};
use model::{
    Card, CardKind, CardStatus, CardToken, Currency, IdemKey, MaskedPan, Merchant, MerchantId,
    Money, Snapshot, Terminal, TerminalId, TerminalStatus, TxnId,
};

const NOON_MS: i64 = 1_795_000_000_000;

fn control() -> RiskControl {
    let features = FeatureStore::new(risk::StoreConfig::default()).unwrap();
    let schema = schema(&features);
    let set = RuleSet::from_texts(7, packs::SHIPPED, &schema).expect("the shipped packs load");
    let rules: SharedRules = Arc::new(RwLock::new(Arc::new(set)));
    RiskControl::new(features, rules, FailMode::Open, 480, CaseState::default())
}

/// An engine with one merchant, terminal and well-funded card, and risk control on.
fn engine() -> engine::Engine {
    let mut e = engine::Engine::new(Snapshot::default(), &EngineConfig::default());
    let mut w = Vec::new();
    let merchant = MerchantId("MERCHANT0000001".into());
    e.upsert_merchant(
        Merchant {
            id: merchant.clone(),
            name: "ACME".into(),
            mcc: "5411".into(),
            currency: Currency::CNY,
            fee_bps: 60,
        },
        &mut w,
    )
    .unwrap();
    e.upsert_terminal(
        Terminal {
            id: TerminalId("TERM0001".into()),
            merchant_id: merchant,
            status: TerminalStatus::Active,
            floor_limit_minor: 10_000,
        },
        &mut w,
    )
    .unwrap();
    e.upsert_card(
        Card {
            token: CardToken("card-1".into()),
            masked: MaskedPan("476173******0010".into()),
            expiry: "3012".into(),
            status: CardStatus::Active,
            kind: CardKind::Debit,
            currency: Currency::CNY,
            limit_minor: 100_000_000,
            daily_limit_minor: 100_000_000,
        },
        &mut w,
    )
    .unwrap();
    e.set_risk(Box::new(control()));
    e
}

fn purchase(stan: u32, amount: i64) -> Request {
    let stan = format!("{stan:06}");
    Request {
        mti: "0200".into(),
        class: MsgClass::Financial,
        kind: model::TxnKind::Purchase,
        key: IdemKey::Iso {
            reversal: false,
            terminal: TerminalId("TERM0001".into()),
            stan: stan.clone(),
            transmitted: "1121120000".into(),
        },
        terminal_id: TerminalId("TERM0001".into()),
        merchant_id: None,
        stan,
        transmitted: "1121120000".into(),
        card: Some(CardInput {
            token: CardToken("card-1".into()),
            masked: MaskedPan("476173******0010".into()),
            luhn_ok: true,
            expiry: None,
            pin: PinCheck::NotPresent,
            entry_mode: Some("051".into()),
        }),
        amount: Some(Money::new(amount, Currency::CNY)),
        original: None,
        location: None,
        operator: None,
    }
}

fn decisions(writes: &[Write]) -> Vec<&RiskDecision> {
    writes
        .iter()
        .filter_map(|w| match w {
            Write::Decision(d) => Some(d.as_ref()),
            _ => None,
        })
        .collect()
}

#[test]
fn card_testing_is_declined_59_with_its_reasons_stored_and_an_alert_in_a_case() {
    let mut e = engine();
    let mut writes = Vec::new();
    // Small attempts a minute apart: the fifth within the hour trips card testing.
    let mut codes = Vec::new();
    for i in 0..6 {
        let a = e.authorize(
            &purchase(i + 1, 500),
            NOON_MS + i64::from(i) * 60_000,
            &mut writes,
        );
        codes.push(a.code.iso());
    }
    assert_eq!(codes[..4], ["00"; 4], "normal traffic stays quiet");
    assert_eq!(codes[4], "59", "{codes:?}");
    let decided = decisions(&writes);
    assert_eq!(decided.len(), 6, "every transaction's decision is stored");
    let fifth = decided[4];
    assert_eq!(fifth.action, "decline");
    assert_eq!(fifth.response_code.as_deref(), Some("59"));
    assert_eq!(fifth.rule_set_version, 7);
    assert!(
        fifth
            .reasons
            .iter()
            .any(|r| r.rule_id == "card_testing.small_attempts")
    );
    let alerts: Vec<&model::Alert> = writes
        .iter()
        .filter_map(|w| match w {
            Write::Alert(a) => Some(a),
            _ => None,
        })
        .collect();
    assert!(!alerts.is_empty());
    assert!(
        alerts.iter().all(|a| a.case_id == alerts[0].case_id),
        "one case per card"
    );
    let txn = e.txn(fifth.txn_id).unwrap();
    assert_eq!(txn.status, TxnStatus::Declined);
    assert_eq!(txn.reason, "risk_declined");
}

#[test]
fn closing_a_case_records_the_step_and_labels_its_transactions() {
    let mut e = engine();
    let mut writes = Vec::new();
    for i in 0..6 {
        e.authorize(
            &purchase(i + 1, 500),
            NOON_MS + i64::from(i) * 60_000,
            &mut writes,
        );
    }
    let case_id = writes
        .iter()
        .find_map(|w| match w {
            Write::Alert(a) => Some(a.case_id),
            _ => None,
        })
        .unwrap();
    let risk = e
        .risk_mut()
        .unwrap()
        .as_any_mut()
        .downcast_mut::<RiskControl>()
        .unwrap();
    let mut out = Vec::new();
    let assigned = risk
        .case_step(
            CaseStep::Assign {
                case_id,
                actor: "admin".into(),
                assignee: "li.wei".into(),
            },
            NOON_MS + 3_600_000,
            &mut out,
        )
        .unwrap();
    assert_eq!(assigned.assignee.as_deref(), Some("li.wei"));
    let closed = risk
        .case_step(
            CaseStep::Close {
                case_id,
                actor: "li.wei".into(),
                fraud: true,
                note: "confirmed with the issuer".into(),
                txns: vec![TxnId(5), TxnId(6)],
            },
            NOON_MS + 7_200_000,
            &mut out,
        )
        .unwrap();
    assert_eq!(
        (closed.status.as_str(), closed.outcome.as_deref()),
        ("closed", Some("fraud"))
    );
    let labels: Vec<_> = out
        .iter()
        .filter_map(|w| match w {
            Write::Label(l) => Some((l.txn_id.0, l.fraud, l.source.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        labels,
        [
            (5, true, format!("case:{case_id}")),
            (6, true, format!("case:{case_id}"))
        ]
    );
    let steps: Vec<(String, String)> = out
        .iter()
        .filter_map(|w| match w {
            Write::CaseEvent(ev) => Some((ev.actor.clone(), ev.action.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("admin".into(), "assigned".into()),
            ("li.wei".into(), "closed".into())
        ]
    );
    let again = CaseStep::Comment {
        case_id,
        actor: "x".into(),
        text: "late".into(),
    };
    assert_eq!(
        risk.case_step(again, NOON_MS + 7_300_000, &mut out).err(),
        Some(CaseStepError::NotOpen(case_id))
    );
}

#[test]
fn a_shadow_rule_is_recorded_and_decides_nothing() {
    let features = FeatureStore::new(risk::StoreConfig::default()).unwrap();
    let schema = schema(&features);
    let text = "rule big.shadow {\n  version 1\n  severity critical\n  score 900\n  action decline 59\n  mode shadow\n  when amount_minor > 1000\n}\n";
    let set = RuleSet::from_texts(1, &[("shadow.rules", text)], &schema).unwrap();
    let rules: SharedRules = Arc::new(RwLock::new(Arc::new(set)));
    let mut e = engine();
    e.set_risk(Box::new(RiskControl::new(
        features,
        rules,
        FailMode::Open,
        480,
        CaseState::default(),
    )));
    let mut writes = Vec::new();
    let a = e.authorize(&purchase(1, 5_000), NOON_MS, &mut writes);
    assert_eq!(a.code.iso(), "00");
    let d = decisions(&writes)[0];
    assert_eq!(d.action, "approve");
    assert_eq!(d.shadow_hits[0].rule_id, "big.shadow");
    assert!(d.reasons.is_empty());
}
