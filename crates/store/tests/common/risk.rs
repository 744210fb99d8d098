//! Risk control's storage (issue 4): decisions, alerts, cases, case events and fraud
//! labels, on every backend.

use super::{Harness, kind, txn, world};
use model::{
    Alert, CardToken, Case, CaseEvent, FraudLabel, MerchantId, RiskDecision, RuleHit, TerminalId,
    TxnContext, TxnId, Write,
};
use store::{AlertQuery, CaseQuery, Store, StoreErrorKind};

pub fn hit(rule: &str, score: u16, error: Option<&str>) -> RuleHit {
    RuleHit {
        rule_id: rule.into(),
        version: u32::from(score) / 100 + 1,
        severity: "high".into(),
        score,
        error: error.map(str::to_owned),
    }
}

/// Txn `txn`'s decision: a decline (with 59) when `txn % 3 == 0`, a rule error when
/// `txn % 5 == 0`, the engine failed when `txn % 7 == 0`.
pub fn decision(txn: u64) -> RiskDecision {
    let action = ["decline", "approve", "review"][txn as usize % 3];
    RiskDecision {
        txn_id: TxnId(txn),
        score: (txn * 37 % 1001) as u16,
        action: action.into(),
        response_code: (action == "decline").then(|| "59".into()),
        reasons: vec![hit("velocity", 300, None), hit("amount", 200, None)],
        shadow_hits: if txn.is_multiple_of(2) {
            vec![hit("shadow", 50, None)]
        } else {
            Vec::new()
        },
        errors: txn
            .is_multiple_of(5)
            .then(|| hit("geo", 0, Some("no \"location\", ünïcode")))
            .into_iter()
            .collect(),
        tags: vec![format!("tag{}", txn % 4), "卡测试".into()],
        rule_set_version: txn + 100,
        engine_failed: txn.is_multiple_of(7),
        decided_ms: txn as i64 * 10 + 1,
    }
}

/// Alert `id` on txn `id`: terminal `id % 3`, merchant `id % 2`, card `id % 4` (none
/// for 3), case `1 + id % 4`, created at `id * 10`.
pub fn alert(id: u64) -> Alert {
    Alert {
        id,
        created_ms: id as i64 * 10,
        txn_id: TxnId(id),
        severity: if id.is_multiple_of(2) {
            "high"
        } else {
            "medium"
        }
        .into(),
        score: (id * 11) as u16,
        action: "review".into(),
        rules: vec!["velocity".into(), format!("rule{}", id % 3)],
        card_token: (id % 4 != 3).then(|| format!("tok{:04}", id % 4)),
        terminal_id: format!("T{:07}", id % 3),
        merchant_id: format!("M{:03}", id % 2),
        case_id: 1 + id % 4,
    }
}

/// Case `id` in `status`: about a card, terminal or merchant (`id % 3`), entity
/// `E{id % 2}`, assigned to ann when `id` is even.
pub fn case(id: u64, status: &str) -> Case {
    Case {
        id,
        entity_kind: ["card", "terminal", "merchant"][id as usize % 3].into(),
        entity_id: format!("E{}", id % 2),
        status: status.into(),
        severity: "high".into(),
        assignee: id.is_multiple_of(2).then(|| "ann".into()),
        outcome: (status == "closed").then(|| "fraud".into()),
        alert_count: id as u32,
        opened_ms: id as i64 * 100,
        updated_ms: id as i64 * 100 + 5,
    }
}

pub fn case_event(id: u64, case_id: u64) -> CaseEvent {
    CaseEvent {
        id,
        case_id,
        at_ms: id as i64 * 7,
        actor: if id == 1 { "posguard" } else { "tok-admin" }.into(),
        action: ["opened", "alert_added", "commented"][id as usize % 3].into(),
        detail: format!("step {id}: 'quoted' and ; semicolons"),
    }
}

pub fn label(txn: u64, fraud: bool, at_ms: i64) -> FraudLabel {
    FraudLabel {
        txn_id: TxnId(txn),
        fraud,
        at_ms,
        source: format!("case:{}", at_ms / 100),
    }
}

/// One of each, about txn 1 and case 1.
fn one_of_each() -> Vec<Write> {
    vec![
        Write::Decision(Box::new(decision(1))),
        Write::Alert(alert(1)),
        Write::Case(case(1, "open")),
        Write::CaseEvent(case_event(1, 1)),
        Write::Label(label(1, true, 10)),
        Write::TxnContext(context(1)),
    ]
}

/// Txn `txn`'s context: fallback with an operator on odd ids, a position on even ones.
pub fn context(txn: u64) -> TxnContext {
    let odd = txn % 2 == 1;
    TxnContext {
        txn_id: TxnId(txn),
        entry_mode: odd.then(|| "801".into()),
        location: (!odd).then(|| (39_904_200, -116_407_400 - txn as i32)),
        operator: odd.then(|| format!("op{txn}")),
    }
}

pub fn txn_contexts_load_in_txn_order(s: &dyn Store, _: &Harness) {
    assert!(s.load().unwrap().txn_contexts.is_empty());
    s.commit(&[3, 1].map(|t| Write::TxnContext(context(t))))
        .unwrap();
    s.commit(&[Write::TxnContext(context(2))]).unwrap();
    let loaded = s.load().unwrap().txn_contexts;
    assert_eq!(loaded, [context(1), context(2), context(3)]);
    let again = s.commit(&[Write::TxnContext(context(2))]);
    assert!(again.is_err(), "a context is inserted once");
    assert_eq!(s.load().unwrap().txn_contexts.len(), 3);
}

pub fn risk_writes_read_back(s: &dyn Store, _: &Harness) {
    let empty = s.load().unwrap();
    let ids = (
        empty.last_alert_id,
        empty.last_case_id,
        empty.last_case_event_id,
    );
    assert_eq!(ids, (0, 0, 0));
    assert!(empty.open_cases.is_empty() && empty.labels.is_empty());

    let mut first: Vec<Write> = vec![Write::Txn(txn(1))];
    first.extend((1..=6).map(|t| Write::Decision(Box::new(decision(t)))));
    first.extend((1..=6).map(|a| Write::Alert(alert(a))));
    first.extend((1..=4).map(|c| Write::Case(case(c, "open"))));
    first.extend((1..=4).map(|e| Write::CaseEvent(case_event(e, e))));
    let labels = [
        label(1, true, 100),
        label(2, false, 100),
        label(1, false, 200),
        label(1, true, 300),
    ];
    first.extend(labels[..3].iter().cloned().map(Write::Label));
    s.commit(&first).unwrap();
    let mut second: Vec<Write> = (7..=9)
        .map(|t| Write::Decision(Box::new(decision(t))))
        .collect();
    second.extend((7..=9).map(|a| Write::Alert(alert(a))));
    second.extend([5, 6].map(|e| Write::CaseEvent(case_event(e, 1))));
    second.push(Write::Label(labels[3].clone()));
    s.commit(&second).unwrap();

    for t in 1..=9 {
        assert_eq!(s.risk_decision(TxnId(t)).unwrap(), Some(decision(t)), "{t}");
    }
    for missing in [10, u64::MAX] {
        assert_eq!(s.risk_decision(TxnId(missing)).unwrap(), None);
        assert_eq!(s.alert(missing).unwrap(), None);
        assert_eq!(s.case(missing).unwrap(), None);
        assert_eq!(s.case_events(missing).unwrap(), []);
        assert_eq!(s.labels_of(TxnId(missing)).unwrap(), []);
    }
    assert_eq!(s.alert(3).unwrap(), Some(alert(3)));
    let all_alerts: Vec<Alert> = (1..=9).map(alert).collect();
    assert_eq!(s.alerts(&AlertQuery::default()).unwrap(), all_alerts);
    assert_eq!(s.case(2).unwrap(), Some(case(2, "open")));
    let all_cases: Vec<Case> = (1..=4).map(|c| case(c, "open")).collect();
    assert_eq!(s.cases(&CaseQuery::default()).unwrap(), all_cases);
    let events = [case_event(1, 1), case_event(5, 1), case_event(6, 1)];
    assert_eq!(s.case_events(1).unwrap(), events);
    assert_eq!(s.case_events(2).unwrap(), [case_event(2, 2)]);
    let of_1 = [labels[0].clone(), labels[2].clone(), labels[3].clone()];
    assert_eq!(s.labels_of(TxnId(1)).unwrap(), of_1);
    assert_eq!(s.labels_of(TxnId(3)).unwrap(), []);

    let snap = s.load().unwrap();
    let ids = (
        snap.last_alert_id,
        snap.last_case_id,
        snap.last_case_event_id,
    );
    assert_eq!(ids, (9, 4, 6));
    assert_eq!(snap.open_cases, all_cases);
    assert_eq!(snap.labels, labels, "every label, in insertion order");
    assert_eq!(snap.txns, [txn(1)]);
}

pub fn a_case_is_replaced_as_it_moves(s: &dyn Store, _: &Harness) {
    let opened = case(5, "open");
    let escalated = Case {
        status: "escalated".into(),
        assignee: Some("bob".into()),
        alert_count: 7,
        updated_ms: opened.updated_ms + 1,
        ..opened.clone()
    };
    let closed = Case {
        status: "closed".into(),
        assignee: None,
        outcome: Some("not_fraud".into()),
        updated_ms: opened.updated_ms + 2,
        ..escalated.clone()
    };
    let others = [case(1, "open"), case(9, "escalated")];
    s.commit(&[
        Write::Case(others[0].clone()),
        Write::Case(opened.clone()),
        Write::Case(others[1].clone()),
    ])
    .unwrap();
    s.commit(&[Write::Case(escalated.clone())]).unwrap();
    assert_eq!(s.case(5).unwrap(), Some(escalated.clone()));
    let open_ids: Vec<u64> = s.load().unwrap().open_cases.iter().map(|c| c.id).collect();
    assert_eq!(open_ids, [1, 5, 9]);

    // Two states of one case in one batch: the later one stands.
    let busier = Case {
        alert_count: 8,
        ..escalated
    };
    s.commit(&[Write::Case(busier), Write::Case(closed.clone())])
        .unwrap();
    assert_eq!(s.case(5).unwrap(), Some(closed.clone()));
    let snap = s.load().unwrap();
    assert_eq!(snap.open_cases, others, "closed cases are not open");
    assert_eq!(snap.last_case_id, 9);
    let q = CaseQuery {
        status: Some("closed".into()),
        ..CaseQuery::default()
    };
    assert_eq!(s.cases(&q).unwrap(), [closed]);
    assert_eq!(s.cases(&CaseQuery::default()).unwrap().len(), 3);
}

pub fn duplicate_risk_writes_roll_the_batch_back(s: &dyn Store, _: &Harness) {
    s.commit(&one_of_each()).unwrap();
    let before = s.load().unwrap();
    let decision_of = |t| Write::Decision(Box::new(decision(t)));
    let conflicts: [Vec<Write>; 5] = [
        vec![decision_of(1)],
        vec![decision_of(2), decision_of(2)],
        vec![Write::Alert(alert(1))],
        vec![Write::Alert(alert(2)), Write::Alert(alert(2))],
        vec![Write::CaseEvent(case_event(1, 1))],
    ];
    for conflict in conflicts {
        let mut batch = vec![
            Write::Txn(txn(5)),
            Write::Case(case(1, "closed")),
            Write::Label(label(1, false, 20)),
            Write::Alert(alert(3)),
            Write::CaseEvent(case_event(2, 1)),
            decision_of(4),
        ];
        batch.extend(conflict);
        batch.push(Write::Label(label(2, true, 30)));
        assert_eq!(
            kind(s.commit(&batch)),
            Some(StoreErrorKind::Conflict),
            "{batch:?}"
        );
        let after = s.load().unwrap();
        assert_eq!(after.txns, before.txns);
        assert_eq!(after.open_cases, before.open_cases);
        assert_eq!(after.labels, before.labels);
        assert_eq!(after.last_alert_id, before.last_alert_id);
        assert_eq!(after.last_case_event_id, before.last_case_event_id);
        assert_eq!(s.case(1).unwrap(), Some(case(1, "open")));
        assert_eq!(s.risk_decision(TxnId(4)).unwrap(), None);
        assert_eq!(s.case_events(1).unwrap(), [case_event(1, 1)]);
        assert_eq!(s.alerts(&AlertQuery::default()).unwrap(), [alert(1)]);
    }
    // The store is still usable after failed batches.
    s.commit(&[decision_of(2), Write::Label(label(1, false, 40))])
        .unwrap();
    assert_eq!(s.risk_decision(TxnId(2)).unwrap(), Some(decision(2)));
    assert_eq!(s.labels_of(TxnId(1)).unwrap().len(), 2);
}

pub fn risk_rows_are_append_only(s: &dyn Store, h: &Harness) {
    s.commit(&one_of_each()).unwrap();
    let mut refused = vec![
        "UPDATE risk_decisions SET score = 0",
        "DELETE FROM risk_decisions",
        "UPDATE alerts SET case_id = 9",
        "DELETE FROM alerts",
        "UPDATE case_events SET detail = 'edited'",
        "DELETE FROM case_events",
        "UPDATE fraud_labels SET at_ms = 0",
        "DELETE FROM fraud_labels",
        "DELETE FROM cases",
        "UPDATE txn_contexts SET operator = 'someone else'",
        "DELETE FROM txn_contexts",
    ];
    if s.backend() == "postgres" {
        refused.extend([
            "TRUNCATE risk_decisions",
            "TRUNCATE alerts",
            "TRUNCATE case_events",
            "TRUNCATE fraud_labels",
            "TRUNCATE cases",
            "TRUNCATE txn_contexts",
        ]);
    }
    for sql in refused {
        let err = (h.exec)(sql).expect_err(sql);
        assert!(
            err.contains("append-only") || err.contains("never"),
            "{sql}: {err}"
        );
    }
    assert_eq!(s.risk_decision(TxnId(1)).unwrap(), Some(decision(1)));
    assert_eq!(s.alert(1).unwrap(), Some(alert(1)));
    assert_eq!(s.case_events(1).unwrap(), [case_event(1, 1)]);
    assert_eq!(s.labels_of(TxnId(1)).unwrap(), [label(1, true, 10)]);
    assert_eq!(s.load().unwrap().txn_contexts, [context(1)]);
    // A case's state moves: that is how upserts work.
    (h.exec)("UPDATE cases SET severity = 'low' WHERE id = 1").unwrap();
    assert_eq!(
        s.case(1).unwrap().map(|c| c.severity).as_deref(),
        Some("low")
    );
}

/// `filter` over the fixtures `all` gives what a search must return.
fn ids_where<T>(all: &[T], id: fn(&T) -> u64, keep: impl Fn(&T) -> bool) -> Vec<u64> {
    all.iter().filter(|x| keep(x)).map(id).collect()
}

pub fn alert_and_case_searches_filter_and_page(s: &dyn Store, _: &Harness) {
    let alerts: Vec<Alert> = (1..=40).map(alert).collect();
    let statuses = ["open", "escalated", "closed"];
    let cases: Vec<Case> = (1..=12)
        .map(|c| case(c, statuses[c as usize % 3]))
        .collect();
    let mut batch: Vec<Write> = alerts.iter().cloned().map(Write::Alert).collect();
    batch.extend(cases.iter().cloned().map(Write::Case));
    s.commit(&batch).unwrap();

    let alert_ids =
        |q: &AlertQuery| -> Vec<u64> { s.alerts(q).unwrap().into_iter().map(|a| a.id).collect() };
    let a = |f: &dyn Fn(&Alert) -> bool| ids_where(&alerts, |a| a.id, f);
    let t1 = TerminalId("T0000001".into());
    let alert_cases: Vec<(AlertQuery, Vec<u64>)> = vec![
        (AlertQuery::default(), (1..=40).collect()),
        (
            AlertQuery {
                case_id: Some(2),
                ..Default::default()
            },
            a(&|x| x.case_id == 2),
        ),
        (
            AlertQuery {
                terminal_id: Some(t1.clone()),
                ..Default::default()
            },
            a(&|x| x.terminal_id == t1.as_str()),
        ),
        (
            AlertQuery {
                card_token: Some(CardToken("tok0002".into())),
                ..Default::default()
            },
            a(&|x| x.card_token.as_deref() == Some("tok0002")),
        ),
        (
            AlertQuery {
                merchant_id: Some(MerchantId("M001".into())),
                ..Default::default()
            },
            a(&|x| x.merchant_id == "M001"),
        ),
        (
            AlertQuery {
                from_ms: Some(100),
                to_ms: Some(200),
                ..Default::default()
            },
            (10..20).collect(),
        ),
        (
            AlertQuery {
                merchant_id: Some(MerchantId("M000".into())),
                case_id: Some(3),
                after_id: Some(10),
                ..Default::default()
            },
            a(&|x| x.id > 10 && x.merchant_id == "M000" && x.case_id == 3),
        ),
        (
            AlertQuery {
                limit: 0,
                ..Default::default()
            },
            vec![],
        ),
        (
            AlertQuery {
                terminal_id: Some(TerminalId("nope".into())),
                ..Default::default()
            },
            vec![],
        ),
    ];
    for (q, want) in &alert_cases {
        assert_eq!(&alert_ids(q), want, "{q:?}");
    }
    let nonempty = alert_cases.iter().filter(|c| !c.1.is_empty()).count();
    assert_eq!(nonempty, alert_cases.len() - 2, "fixtures match something");

    let case_ids =
        |q: &CaseQuery| -> Vec<u64> { s.cases(q).unwrap().into_iter().map(|c| c.id).collect() };
    let c = |f: &dyn Fn(&Case) -> bool| ids_where(&cases, |c| c.id, f);
    let text = |v: &str| Some(v.to_owned());
    let case_cases: Vec<(CaseQuery, Vec<u64>)> = vec![
        (CaseQuery::default(), (1..=12).collect()),
        (
            CaseQuery {
                status: text("open"),
                ..Default::default()
            },
            c(&|x| x.status == "open"),
        ),
        (
            CaseQuery {
                entity_kind: text("terminal"),
                ..Default::default()
            },
            c(&|x| x.entity_kind == "terminal"),
        ),
        (
            CaseQuery {
                entity_kind: text("card"),
                entity_id: text("E1"),
                ..Default::default()
            },
            c(&|x| x.entity_kind == "card" && x.entity_id == "E1"),
        ),
        (
            CaseQuery {
                assignee: text("ann"),
                after_id: Some(6),
                ..Default::default()
            },
            c(&|x| x.id > 6 && x.assignee.as_deref() == Some("ann")),
        ),
        (
            CaseQuery {
                status: text("nope"),
                ..Default::default()
            },
            vec![],
        ),
    ];
    for (q, want) in &case_cases {
        assert!(
            !want.is_empty() || q.status.as_deref() == Some("nope"),
            "{q:?}"
        );
        assert_eq!(&case_ids(q), want, "{q:?}");
    }

    // Cursor pagination visits every match once, in order.
    let mut seen = Vec::new();
    let mut q = AlertQuery {
        merchant_id: Some(MerchantId("M001".into())),
        limit: 3,
        ..Default::default()
    };
    loop {
        let page = alert_ids(&q);
        assert!(page.len() <= 3);
        let Some(&last) = page.last() else { break };
        seen.extend(page);
        q.after_id = Some(last);
    }
    assert_eq!(seen, a(&|x| x.merchant_id == "M001"));
    let mut seen = Vec::new();
    let mut q = CaseQuery {
        status: text("escalated"),
        limit: 2,
        ..Default::default()
    };
    loop {
        let page = case_ids(&q);
        assert!(page.len() <= 2);
        let Some(&last) = page.last() else { break };
        seen.extend(page);
        q.after_id = Some(last);
    }
    assert_eq!(seen, c(&|x| x.status == "escalated"));
}

pub fn risk_search_limits_are_clamped(s: &dyn Store, _: &Harness) {
    let n = u64::from(store::ALERT_QUERY_LIMIT_MAX.max(store::CASE_QUERY_LIMIT_MAX)) + 5;
    let mut batch: Vec<Write> = (1..=n).map(|id| Write::Alert(alert(id))).collect();
    batch.extend((1..=n).map(|id| Write::Case(case(id, "open"))));
    s.commit(&batch).unwrap();
    let q = AlertQuery {
        limit: u32::MAX,
        ..AlertQuery::default()
    };
    assert_eq!(
        s.alerts(&q).unwrap().len() as u32,
        store::ALERT_QUERY_LIMIT_MAX
    );
    let q = CaseQuery {
        limit: u32::MAX,
        ..CaseQuery::default()
    };
    assert_eq!(
        s.cases(&q).unwrap().len() as u32,
        store::CASE_QUERY_LIMIT_MAX
    );
    let defaults = (
        s.alerts(&AlertQuery::default()).unwrap().len() as u32,
        s.cases(&CaseQuery::default()).unwrap().len() as u32,
    );
    let want = (
        store::ALERT_QUERY_LIMIT_DEFAULT,
        store::CASE_QUERY_LIMIT_DEFAULT,
    );
    assert_eq!(defaults, want);
}

/// A database made before risk control (schema v1, as an earlier build left it) gains
/// the new tables (v2 and v3) at the next open and keeps its rows.
pub fn a_v1_database_migrates_in_place(s: &dyn Store, h: &Harness) {
    s.commit(&world(2)).unwrap();
    let versions = (h.scalar)("SELECT COUNT(*) FROM schema_migrations").unwrap();
    (h.exec)(
        "DROP TABLE risk_decisions; DROP TABLE alerts; DROP TABLE cases; \
         DROP TABLE case_events; DROP TABLE fraud_labels; DROP TABLE txn_contexts; \
         DELETE FROM schema_migrations WHERE version >= 2",
    )
    .unwrap();
    let v1 = (h.scalar)("SELECT MAX(version) FROM schema_migrations").unwrap();
    assert_eq!(v1, 1);
    for _ in 0..2 {
        let again = store::open(&h.url).unwrap();
        assert_eq!(again.load().unwrap().txns.len(), 2);
        assert_eq!(
            (h.scalar)("SELECT COUNT(*) FROM schema_migrations").unwrap(),
            versions
        );
    }
    let again = store::open(&h.url).unwrap();
    again.commit(&one_of_each()).unwrap();
    assert_eq!(again.risk_decision(TxnId(1)).unwrap(), Some(decision(1)));
    assert_eq!(again.load().unwrap().labels, [label(1, true, 10)]);
    assert_eq!(again.load().unwrap().txn_contexts, [context(1)]);
    let err = (h.exec)("DELETE FROM fraud_labels").expect_err("append-only again");
    assert!(
        err.contains("append-only") || err.contains("never"),
        "{err}"
    );
}

pub fn corrupt_risk_rows_are_errors_not_panics(s: &dyn Store, h: &Harness) {
    s.commit(&one_of_each()).unwrap();
    (h.exec)("UPDATE cases SET alert_count = -1 WHERE id = 1").unwrap();
    for err in [
        s.load().err(),
        s.case(1).err(),
        s.cases(&CaseQuery::default()).err(),
    ] {
        assert_eq!(err.map(|e| e.kind), Some(StoreErrorKind::Corrupt));
    }
    (h.exec)("UPDATE cases SET alert_count = 1 WHERE id = 1").unwrap();
    s.load().expect("restored rows load again");

    // Append-only tables refuse updates; lift that to tamper with a decision.
    (h.exec)(if s.backend() == "sqlite" {
        "DROP TRIGGER risk_decisions_no_update"
    } else {
        "DROP TRIGGER risk_decisions_append_only ON risk_decisions"
    })
    .unwrap();
    for sql in [
        "UPDATE risk_decisions SET reasons = '[{\"rule_id\": secret' WHERE txn_id = 1",
        "UPDATE risk_decisions SET tags = '{}' WHERE txn_id = 1",
        "UPDATE risk_decisions SET score = 70000 WHERE txn_id = 1",
    ] {
        (h.exec)(sql).unwrap();
        let err = s.risk_decision(TxnId(1)).expect_err(sql);
        assert_eq!(err.kind, StoreErrorKind::Corrupt, "{sql}: {err}");
        assert!(!err.context.contains("secret"), "{err}");
        (h.exec)(
            "UPDATE risk_decisions SET reasons = '[]', tags = '[]', score = 1 WHERE txn_id = 1",
        )
        .unwrap();
        assert!(s.risk_decision(TxnId(1)).is_ok());
    }
}
