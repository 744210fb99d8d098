//! Data-driven scenarios at the engine's boundary: requests in, answers out, and the
//! ledger verified after every scenario from the writes the engine produced.

use engine::{
    BatchTotals, CardInput, Engine, EngineConfig, MsgClass, OriginalRef, PinCheck, Request,
};
use model::*;
use std::collections::BTreeMap;

use ResponseCode as Rc;

/// 2026-11-21 12:00:00 UTC.
const NOON_MS: i64 = 1_795_262_400_000;

struct World {
    engine: Engine,
    writes: Vec<Write>,
    now: i64,
}

fn card(token: &str, status: CardStatus, limit: i64, daily: i64) -> Card {
    Card {
        token: CardToken(token.into()),
        masked: MaskedPan("476173******0010".into()),
        expiry: "2812".into(),
        status,
        kind: CardKind::Debit,
        currency: Currency::CNY,
        limit_minor: limit,
        daily_limit_minor: daily,
    }
}

impl World {
    fn new() -> World {
        let mut w = World {
            engine: Engine::new(Snapshot::default(), &EngineConfig::default()),
            writes: Vec::new(),
            now: NOON_MS,
        };
        let merchant = Merchant {
            id: MerchantId("MERCHANT0000001".into()),
            name: "ACME".into(),
            mcc: "5411".into(),
            currency: Currency::CNY,
            fee_bps: 60,
        };
        w.engine.upsert_merchant(merchant, &mut w.writes).unwrap();
        for id in ["TERM0001", "TERM0002"] {
            let t = Terminal {
                id: TerminalId(id.into()),
                merchant_id: MerchantId("MERCHANT0000001".into()),
                status: TerminalStatus::Active,
                floor_limit_minor: 5_000,
            };
            w.engine.upsert_terminal(t, &mut w.writes).unwrap();
        }
        for (token, status) in [
            ("ok", CardStatus::Active),
            ("lost", CardStatus::Lost),
            ("stolen", CardStatus::Stolen),
            ("blocked", CardStatus::Blocked),
            ("expired", CardStatus::Expired),
        ] {
            w.engine
                .upsert_card(card(token, status, 100_000, 60_000), &mut w.writes)
                .unwrap();
        }
        w
    }

    fn send(&mut self, req: Request) -> Answer {
        self.now += 1_000;
        self.engine.authorize(&req, self.now, &mut self.writes)
    }

    fn expect(&mut self, req: Request, code: Rc) -> Answer {
        let what = format!("{:?} {:?} stan {}", req.class, req.kind, req.stan);
        let answer = self.send(req);
        assert_eq!(answer.code, code, "{what}: reason {}", answer.reason);
        answer
    }

    fn available(&self, token: &str) -> i64 {
        self.engine
            .card_available(&CardToken(token.into()))
            .unwrap()
    }

    /// Replays the writes as a store would keep them and runs the ledger verifier.
    fn verify(&self) {
        let (txns, entries, cards) = stored(&self.writes);
        let mut v = ledger::Verifier::new();
        cards.values().for_each(|c| v.add_card(c));
        txns.into_values().for_each(|t| v.add_txn(t));
        entries.into_iter().for_each(|e| v.add_entry(e));
        let report = v.finish();
        assert!(report.ok(), "ledger verify failed: {:?}", report.problems);
    }
}

use engine::Answer;

fn stored(
    writes: &[Write],
) -> (
    BTreeMap<TxnId, TxnRecord>,
    Vec<Entry>,
    BTreeMap<CardToken, Card>,
) {
    let mut txns = BTreeMap::new();
    let mut entries = Vec::new();
    let mut cards = BTreeMap::new();
    for w in writes {
        match w {
            Write::Txn(t) => {
                txns.insert(t.id, t.clone());
            }
            Write::TxnUpdate(u) => {
                let t = txns.get_mut(&u.id).expect("update of a stored txn");
                t.status = u.status;
                t.refunded_minor = u.refunded_minor;
            }
            Write::Entries(e) => entries.extend(e.iter().cloned()),
            Write::Card(c) => {
                cards.insert(c.token.clone(), c.clone());
            }
            _ => {}
        }
    }
    (txns, entries, cards)
}

fn req(
    class: MsgClass,
    kind: TxnKind,
    stan: &str,
    amount: Option<i64>,
    card: Option<&str>,
) -> Request {
    let mti = match class {
        MsgClass::Authorization => "0100",
        MsgClass::Financial => "0200",
        MsgClass::Advice => "0220",
        MsgClass::Reversal => "0400",
    };
    let terminal = TerminalId("TERM0001".into());
    Request {
        mti: mti.into(),
        class,
        kind,
        key: IdemKey::Iso {
            reversal: class == MsgClass::Reversal,
            terminal: terminal.clone(),
            stan: stan.into(),
            transmitted: "1121120000".into(),
        },
        terminal_id: terminal,
        merchant_id: None,
        stan: stan.into(),
        transmitted: "1121120000".into(),
        card: card.map(|token| CardInput {
            token: CardToken(token.into()),
            masked: MaskedPan("476173******0010".into()),
            luhn_ok: true,
            expiry: Some("2812".into()),
            pin: PinCheck::NotPresent,
            entry_mode: None,
        }),
        amount: amount.map(|a| Money::new(a, Currency::CNY)),
        original: None,
        location: None,
        operator: None,
    }
}

/// The writes of one kind, in order.
fn written<T>(writes: &[Write], pick: impl Fn(&Write) -> Option<T>) -> Vec<T> {
    writes.iter().filter_map(pick).collect()
}

fn purchase(stan: &str, amount: i64, card: &str) -> Request {
    req(
        MsgClass::Financial,
        TxnKind::Purchase,
        stan,
        Some(amount),
        Some(card),
    )
}

fn with_original(mut r: Request, id: TxnId) -> Request {
    r.original = Some(OriginalRef::Rrn(id));
    r
}

#[test]
fn purchase_is_exactly_once() {
    let mut w = World::new();
    let first = w.expect(purchase("000001", 12_500, "ok"), Rc::Approved);
    assert_eq!(w.available("ok"), 100_000 - 12_500);
    let mut repeat = purchase("000001", 12_500, "ok");
    repeat.mti = "0201".into();
    let again = w.expect(repeat, Rc::Approved);
    assert!(again.duplicate);
    assert_eq!(again.txn_id, first.txn_id);
    assert_eq!(again.auth_code, first.auth_code);
    assert_eq!(w.available("ok"), 100_000 - 12_500, "no second effect");
    w.expect(purchase("000001", 99, "ok"), Rc::DuplicateTransmission);
    assert_eq!(w.engine.txn_count(), 1);
    w.verify();
}

#[test]
fn stand_in_issuer_answers_as_an_issuer_would() {
    let mut w = World::new();
    let mut bad_luhn = purchase("000001", 100, "ok");
    bad_luhn.card.as_mut().unwrap().luhn_ok = false;
    let cases: Vec<(Request, Rc)> = vec![
        (bad_luhn, Rc::InvalidCardNumber),
        (purchase("000002", 100, "nobody"), Rc::InvalidCardNumber),
        (purchase("000003", 100, "lost"), Rc::LostCard),
        (purchase("000004", 100, "stolen"), Rc::StolenCard),
        (purchase("000005", 100, "blocked"), Rc::DoNotHonour),
        (purchase("000006", 100, "expired"), Rc::ExpiredCard),
        (purchase("000007", 0, "ok"), Rc::InvalidAmount),
        (purchase("000008", 60_001, "ok"), Rc::ExceedsWithdrawalLimit),
        (purchase("000009", 50_000, "ok"), Rc::Approved),
        (purchase("000010", 10_001, "ok"), Rc::ExceedsWithdrawalLimit),
        (purchase("000011", 10_000, "ok"), Rc::Approved),
        (purchase("000012", 1, "ok"), Rc::ExceedsWithdrawalLimit),
    ];
    for (r, code) in cases {
        w.expect(r, code);
    }
    let mut wrong_expiry = purchase("000013", 100, "ok");
    wrong_expiry.card.as_mut().unwrap().expiry = Some("2711".into());
    w.expect(wrong_expiry, Rc::ExpiredCard);
    w.verify();
}

/// The host checks PINs; the stand-in issuer declines 55 unless a PIN that was sent
/// verified, after the card checks (a lost card is 41 whatever the PIN), and a PIN
/// decline moves no money.
#[test]
fn pin_outcomes_decide_55_after_the_card_checks() {
    let mut w = World::new();
    let with_pin = |stan: &str, card: &str, pin: PinCheck| {
        let mut r = purchase(stan, 100, card);
        r.card.as_mut().unwrap().pin = pin;
        r
    };
    let cases = [
        (with_pin("000001", "ok", PinCheck::Verified), Rc::Approved),
        (
            with_pin("000002", "ok", PinCheck::Incorrect),
            Rc::IncorrectPin,
        ),
        (
            with_pin("000003", "ok", PinCheck::Unverifiable),
            Rc::IncorrectPin,
        ),
        (
            with_pin("000004", "ok", PinCheck::Malformed),
            Rc::IncorrectPin,
        ),
        (
            with_pin("000005", "lost", PinCheck::Incorrect),
            Rc::LostCard,
        ),
    ];
    for (r, code) in cases {
        w.expect(r, code);
    }
    assert_eq!(
        w.available("ok"),
        100_000 - 100,
        "only the verified PIN spent"
    );
    w.verify();
}

#[test]
fn insufficient_funds_is_51() {
    let mut w = World::new();
    w.engine
        .upsert_card(
            card("poor", CardStatus::Active, 1_000, 1_000_000),
            &mut w.writes,
        )
        .unwrap();
    w.expect(purchase("000001", 1_001, "poor"), Rc::InsufficientFunds);
    w.expect(purchase("000002", 1_000, "poor"), Rc::Approved);
    assert_eq!(w.available("poor"), 0);
    w.verify();
}

#[test]
fn refunds_never_exceed_the_capture() {
    let mut w = World::new();
    let sale = w
        .expect(purchase("000001", 10_000, "ok"), Rc::Approved)
        .txn_id
        .unwrap();
    let refund = |stan: &str, amount: i64| {
        with_original(
            req(
                MsgClass::Financial,
                TxnKind::Refund,
                stan,
                Some(amount),
                Some("ok"),
            ),
            sale,
        )
    };
    w.expect(refund("000002", 6_000), Rc::Approved);
    w.expect(refund("000003", 4_001), Rc::InvalidAmount);
    w.expect(refund("000004", 4_000), Rc::Approved);
    w.expect(refund("000005", 1), Rc::InvalidAmount);
    w.expect(
        req(
            MsgClass::Financial,
            TxnKind::Refund,
            "000006",
            Some(1),
            Some("ok"),
        ),
        Rc::InvalidTransaction,
    );
    w.expect(
        with_original(
            req(
                MsgClass::Financial,
                TxnKind::Refund,
                "000007",
                Some(1),
                None,
            ),
            TxnId(999),
        ),
        Rc::UnableToLocateRecord,
    );
    assert_eq!(w.available("ok"), 100_000);
    w.verify();
}

#[test]
fn a_void_only_undoes_what_exists() {
    let mut w = World::new();
    let sale = w
        .expect(purchase("000001", 10_000, "ok"), Rc::Approved)
        .txn_id
        .unwrap();
    let void = |stan: &str, amount: i64, id: TxnId| {
        with_original(
            req(MsgClass::Financial, TxnKind::Void, stan, Some(amount), None),
            id,
        )
    };
    w.expect(void("000002", 9_999, sale), Rc::OriginalAmountIncorrect);
    w.expect(void("000003", 10_000, TxnId(77)), Rc::UnableToLocateRecord);
    w.expect(void("000004", 10_000, sale), Rc::Approved);
    assert_eq!(w.engine.txn(sale).unwrap().status, TxnStatus::Voided);
    w.expect(void("000005", 10_000, sale), Rc::InvalidTransaction);
    assert_eq!(w.available("ok"), 100_000);
    w.verify();
}

#[test]
fn reversals_are_idempotent_and_match_through_field_90_or_own_key() {
    let mut w = World::new();
    let sale = w
        .expect(purchase("000001", 10_000, "ok"), Rc::Approved)
        .txn_id
        .unwrap();
    // No field 90: the reversal repeats the original's STAN and field 7.
    w.expect(
        req(
            MsgClass::Reversal,
            TxnKind::Reversal,
            "000001",
            Some(10_000),
            None,
        ),
        Rc::Approved,
    );
    assert_eq!(w.engine.txn(sale).unwrap().status, TxnStatus::Reversed);
    assert_eq!(w.available("ok"), 100_000);
    // A repeat of the reversal, and a second reversal with its own key: no effect.
    let mut repeat = req(
        MsgClass::Reversal,
        TxnKind::Reversal,
        "000001",
        Some(10_000),
        None,
    );
    repeat.mti = "0401".into();
    assert!(w.expect(repeat, Rc::Approved).duplicate);
    let mut other = req(
        MsgClass::Reversal,
        TxnKind::Reversal,
        "000002",
        Some(10_000),
        None,
    );
    other.original = Some(OriginalRef::Key {
        stan: "000001".into(),
        transmitted: "1121120000".into(),
    });
    w.expect(other, Rc::Approved);
    assert_eq!(w.available("ok"), 100_000);
    w.verify();
}

#[test]
fn a_reversal_before_its_original_declines_the_late_original() {
    let mut w = World::new();
    let mut early = req(
        MsgClass::Reversal,
        TxnKind::Reversal,
        "000050",
        Some(10_000),
        None,
    );
    early.original = Some(OriginalRef::Key {
        stan: "000009".into(),
        transmitted: "1121120000".into(),
    });
    let ack = w.expect(early, Rc::Approved);
    assert_eq!(ack.reason, "original_unknown");
    w.expect(purchase("000009", 10_000, "ok"), Rc::InvalidTransaction);
    assert_eq!(w.available("ok"), 100_000);
    w.verify();
}

#[test]
fn preauth_completes_once_for_at_most_the_hold() {
    let mut w = World::new();
    let hold = req(
        MsgClass::Authorization,
        TxnKind::PreAuth,
        "000001",
        Some(20_000),
        Some("ok"),
    );
    let pre = w.expect(hold, Rc::Approved).txn_id.unwrap();
    assert_eq!(w.available("ok"), 80_000);
    let completion = |stan: &str, amount: i64| {
        with_original(
            req(
                MsgClass::Advice,
                TxnKind::Completion,
                stan,
                Some(amount),
                None,
            ),
            pre,
        )
    };
    w.expect(completion("000002", 20_001), Rc::InvalidAmount);
    w.expect(completion("000003", 15_000), Rc::Approved);
    assert_eq!(w.available("ok"), 85_000);
    assert_eq!(w.engine.txn(pre).unwrap().status, TxnStatus::Completed);
    w.expect(completion("000004", 1_000), Rc::InvalidTransaction);
    w.verify();
}

#[test]
fn offline_advices_post_only_under_the_floor_limit() {
    let mut w = World::new();
    let advice = |stan: &str, amount: i64| {
        req(
            MsgClass::Advice,
            TxnKind::Purchase,
            stan,
            Some(amount),
            Some("ok"),
        )
    };
    w.expect(advice("000001", 5_000), Rc::Approved);
    w.expect(advice("000002", 5_001), Rc::DoNotHonour);
    assert_eq!(w.available("ok"), 95_000);
    w.verify();
}

#[test]
fn balance_inquiry_reports_available_and_moves_nothing() {
    let mut w = World::new();
    w.expect(purchase("000001", 2_500, "ok"), Rc::Approved);
    let answer = w.expect(
        req(
            MsgClass::Financial,
            TxnKind::Balance,
            "000002",
            None,
            Some("ok"),
        ),
        Rc::Approved,
    );
    assert_eq!(answer.balance_minor, Some(97_500));
    w.verify();
}

#[test]
fn unknown_terminal_and_wrong_merchant_are_refused() {
    let mut w = World::new();
    let mut r = purchase("000001", 100, "ok");
    r.terminal_id = TerminalId("NOPE0001".into());
    w.expect(r, Rc::NotPermittedToTerminal);
    let mut r = purchase("000002", 100, "ok");
    r.merchant_id = Some(MerchantId("OTHER".into()));
    w.expect(r, Rc::InvalidMerchant);
    assert_eq!(w.engine.txn_count(), 0);
}

/// A lost, stolen, blocked or retired terminal's request is declined 58 and recorded
/// (with no money moved), so that risk control sees it and raises an alert; the same
/// key again is a repeat of that decline.
#[test]
fn an_inactive_terminals_request_is_declined_58_and_recorded() {
    for status in [
        TerminalStatus::Lost,
        TerminalStatus::Stolen,
        TerminalStatus::Blocked,
        TerminalStatus::Retired,
    ] {
        let mut w = World::new();
        let t = Terminal {
            id: TerminalId("TERM0001".into()),
            merchant_id: MerchantId("MERCHANT0000001".into()),
            status,
            floor_limit_minor: 5_000,
        };
        w.engine.upsert_terminal(t, &mut w.writes).unwrap();
        let answer = w.expect(purchase("000001", 100, "ok"), Rc::NotPermittedToTerminal);
        assert_eq!(answer.reason, "terminal_not_active", "{status:?}");
        let id = answer.txn_id.expect("recorded");
        assert_eq!(w.engine.txn(id).unwrap().status, TxnStatus::Declined);
        let again = w.expect(purchase("000001", 100, "ok"), Rc::NotPermittedToTerminal);
        assert!(again.duplicate, "{status:?}");
        assert_eq!(
            w.engine.card_available(&CardToken("ok".into())),
            Some(100_000)
        );
        w.verify();
    }
}

#[test]
fn settlement_closes_a_balanced_batch_and_answers_95_otherwise() {
    let mut w = World::new();
    let sale = w
        .expect(purchase("000001", 10_000, "ok"), Rc::Approved)
        .txn_id
        .unwrap();
    w.expect(purchase("000002", 3_000, "ok"), Rc::Approved);
    w.expect(
        with_original(
            req(
                MsgClass::Financial,
                TxnKind::Refund,
                "000003",
                Some(1_000),
                None,
            ),
            sale,
        ),
        Rc::Approved,
    );
    let t = TerminalId("TERM0001".into());
    let theirs = BatchTotals {
        debit_count: 2,
        debit_minor: 13_000,
        credit_count: 1,
        credit_minor: 1_000,
    };
    let wrong = BatchTotals {
        debit_count: 2,
        debit_minor: 12_000,
        ..theirs
    };
    let a = w.engine.settle(&t, "set:1", wrong, w.now, &mut w.writes);
    assert_eq!(a.code, Rc::ReconcileError);
    assert_eq!(a.host, theirs);
    let b = w.engine.settle(&t, "set:2", theirs, w.now, &mut w.writes);
    assert_eq!(b.code, Rc::Approved);
    let repeat = w.engine.settle(&t, "set:2", theirs, w.now, &mut w.writes);
    assert!(repeat.duplicate && repeat.code == Rc::Approved);
    let next = w
        .engine
        .settle(&t, "set:3", BatchTotals::default(), w.now, &mut w.writes);
    assert_eq!(next.code, Rc::Approved, "the new batch is empty");
}

#[test]
fn a_restart_from_the_stored_writes_resumes_exactly() {
    let mut w = World::new();
    w.expect(purchase("000001", 12_500, "ok"), Rc::Approved);
    let hold = req(
        MsgClass::Authorization,
        TxnKind::PreAuth,
        "000002",
        Some(1_000),
        Some("ok"),
    );
    w.expect(hold, Rc::Approved);
    let (txns, _entries, cards) = stored(&w.writes);
    let mut balances: BTreeMap<(String, u16), i64> = BTreeMap::new();
    for wr in &w.writes {
        if let Write::Entries(es) = wr {
            for e in es {
                *balances
                    .entry((e.account.to_string(), e.currency.0))
                    .or_default() += e.amount_minor;
            }
        }
    }
    let snapshot = Snapshot {
        merchants: written(&w.writes, |x| match x {
            Write::Merchant(m) => Some(m.clone()),
            _ => None,
        }),
        terminals: written(&w.writes, |x| match x {
            Write::Terminal(t) => Some(t.clone()),
            _ => None,
        }),
        cards: cards.into_values().collect(),
        txns: txns.into_values().collect(),
        balances: balances.into_iter().map(|((a, c), s)| (a, c, s)).collect(),
        settlements: Vec::new(),
        last_entry_id: 1_000,
        last_settlement_id: 0,
        ..Snapshot::default()
    };
    let mut restarted = World {
        engine: Engine::new(snapshot, &EngineConfig::default()),
        writes: w.writes.clone(),
        now: w.now,
    };
    assert_eq!(restarted.available("ok"), 100_000 - 12_500 - 1_000);
    assert!(
        restarted
            .expect(purchase("000001", 12_500, "ok"), Rc::Approved)
            .duplicate
    );
    // Daily spend survives the restart: 60,000 a day, 13,500 used.
    restarted.expect(purchase("000003", 46_501, "ok"), Rc::ExceedsWithdrawalLimit);
    restarted.expect(purchase("000004", 46_500, "ok"), Rc::Approved);
}

mod upstream {
    use super::*;
    use engine::{Begin, UpstreamPolicy, UpstreamResult};

    fn approved() -> UpstreamResult {
        UpstreamResult::Answered {
            code: Rc::Approved,
            auth_code: Some("UP1234".into()),
            balance_minor: None,
        }
    }

    fn forward(w: &mut World, r: &Request) -> engine::Forward {
        w.now += 1_000;
        match w.engine.begin(r, true, w.now, &mut w.writes) {
            Begin::Forward(f) => f,
            Begin::Answer(a) => panic!("expected a forward, got {a:?}"),
        }
    }

    fn finish(
        w: &mut World,
        r: &Request,
        f: engine::Forward,
        result: UpstreamResult,
        policy: UpstreamPolicy,
    ) -> Answer {
        w.engine
            .finish_forwarded(r, f, result, policy, w.now, &mut w.writes)
    }

    #[test]
    fn an_upstream_approval_moves_money_through_the_network_account() {
        let mut w = World::new();
        let r = purchase("000001", 10_000, "elsewhere");
        let f = forward(&mut w, &r);
        // A retransmission while the upstream is being asked: 09, nothing recorded.
        match w.engine.begin(&r, true, w.now, &mut w.writes) {
            Begin::Answer(a) => assert_eq!(a.code, Rc::RequestInProgress),
            Begin::Forward(_) => panic!("a second forward of the same key"),
        }
        let a = finish(&mut w, &r, f, approved(), UpstreamPolicy::Decline);
        assert_eq!(
            (a.code, a.auth_code.as_deref()),
            (Rc::Approved, Some("UP1234"))
        );
        let txn = w.engine.txn(a.txn_id.unwrap()).unwrap().clone();
        assert!(txn.upstream && !txn.stand_in);
        // Its repeat is answered here, with the upstream's answer.
        let again = w.send(purchase("000001", 10_000, "elsewhere"));
        assert!(again.duplicate && again.auth_code.as_deref() == Some("UP1234"));
        // A void of it is forwarded too, naming the original.
        let void = with_original(
            req(
                MsgClass::Financial,
                TxnKind::Void,
                "000002",
                Some(10_000),
                None,
            ),
            txn.id,
        );
        let f = forward(&mut w, &void);
        assert_eq!(f.original.as_ref().map(|o| o.id), Some(txn.id));
        assert_eq!(
            finish(&mut w, &void, f, approved(), UpstreamPolicy::Decline).code,
            Rc::Approved
        );
        assert_eq!(w.engine.txn(txn.id).unwrap().status, TxnStatus::Voided);
        w.verify();
    }

    #[test]
    fn upstream_declines_and_outages_follow_the_policy() {
        let mut w = World::new();
        let r = purchase("000001", 10_000, "ok");
        let f = forward(&mut w, &r);
        let declined = UpstreamResult::Answered {
            code: Rc::LostCard,
            auth_code: None,
            balance_minor: None,
        };
        assert_eq!(
            finish(&mut w, &r, f, declined, UpstreamPolicy::StandIn).code,
            Rc::LostCard
        );
        // Down: a card posguard holds is decided by the stand-in issuer...
        let r = purchase("000002", 10_000, "ok");
        let f = forward(&mut w, &r);
        let a = finish(
            &mut w,
            &r,
            f,
            UpstreamResult::Unavailable,
            UpstreamPolicy::StandIn,
        );
        assert_eq!(a.code, Rc::Approved);
        assert!(w.engine.txn(a.txn_id.unwrap()).unwrap().stand_in);
        assert_eq!(w.available("ok"), 90_000);
        // ...one it does not hold gets 91, as does every card under the decline policy.
        let r = purchase("000003", 10_000, "elsewhere");
        let f = forward(&mut w, &r);
        assert_eq!(
            finish(
                &mut w,
                &r,
                f,
                UpstreamResult::Unavailable,
                UpstreamPolicy::StandIn
            )
            .code,
            Rc::IssuerUnavailable
        );
        let r = purchase("000004", 10_000, "ok");
        let f = forward(&mut w, &r);
        assert_eq!(
            finish(
                &mut w,
                &r,
                f,
                UpstreamResult::Unavailable,
                UpstreamPolicy::Decline
            )
            .code,
            Rc::IssuerUnavailable
        );
        w.verify();
    }

    #[test]
    fn a_reversal_of_an_upstream_approval_is_flagged_for_the_upstream() {
        let mut w = World::new();
        let r = purchase("000001", 10_000, "elsewhere");
        let f = forward(&mut w, &r);
        finish(&mut w, &r, f, approved(), UpstreamPolicy::Decline);
        let a = w.expect(
            req(
                MsgClass::Reversal,
                TxnKind::Reversal,
                "000001",
                Some(10_000),
                None,
            ),
            Rc::Approved,
        );
        let original = w.engine.txn(a.reverse_upstream.expect("flagged")).unwrap();
        assert_eq!(
            (original.stan.as_str(), original.transmitted.as_str()),
            ("000001", "1121120000")
        );
        w.verify();
    }
}

/// A risk hook that declines amounts above a threshold and records what it was told.
struct Threshold {
    decline_above: i64,
    seen: std::sync::Arc<std::sync::Mutex<Vec<(u64, bool, TxnStatus)>>>,
}

impl engine::RiskHook for Threshold {
    fn assess(
        &mut self,
        input: &engine::RiskInput<'_>,
        _now: TimestampMs,
        out: &mut Vec<Write>,
    ) -> engine::RiskVerdict {
        out.push(Write::Meta {
            key: format!("assessed:{}", input.txn.id.0),
            value: input.would_approve.to_string(),
        });
        if input.txn.amount_minor > self.decline_above {
            engine::RiskVerdict::Decline(Rc::SuspectedFraud)
        } else {
            engine::RiskVerdict::Pass
        }
    }
    fn recorded(&mut self, txn: &TxnRecord) {
        let would = txn.status == TxnStatus::Approved;
        self.seen
            .lock()
            .unwrap()
            .push((txn.id.0, would, txn.status));
    }
    fn label(&mut self, _: &FraudLabel) {}
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// Risk control sees every recorded transaction after the issuer's checks; its decline
/// replaces an approval before anything is posted; it cannot approve what the issuer
/// declined; its writes commit with the transaction.
#[test]
fn a_risk_decline_replaces_an_approval_and_posts_nothing() {
    let mut w = World::new();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    w.engine.set_risk(Box::new(Threshold {
        decline_above: 5_000,
        seen: seen.clone(),
    }));
    w.expect(purchase("000001", 1_000, "ok"), Rc::Approved);
    let declined = w.expect(purchase("000002", 6_000, "ok"), Rc::SuspectedFraud);
    assert_eq!(declined.reason, "risk_declined");
    w.expect(purchase("000003", 9_000, "lost"), Rc::LostCard);
    assert_eq!(
        w.available("ok"),
        100_000 - 1_000,
        "the risk decline moved no money"
    );
    let assessed: Vec<&str> = w
        .writes
        .iter()
        .filter_map(|x| match x {
            Write::Meta { key, value } if key.starts_with("assessed:") => Some(value.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(assessed, ["true", "true", "false"]);
    let statuses: Vec<TxnStatus> = seen.lock().unwrap().iter().map(|s| s.2).collect();
    assert_eq!(
        statuses,
        [
            TxnStatus::Approved,
            TxnStatus::Declined,
            TxnStatus::Declined
        ]
    );
    w.verify();
}
