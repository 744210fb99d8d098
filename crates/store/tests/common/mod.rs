//! The store's behaviour, written once as functions over `&dyn Store` and run
//! against every backend (tests/sqlite.rs, tests/postgres.rs).

use model::{
    Account, ApiToken, Card, CardKind, CardStatus, CardToken, Currency, Entry, MaskedPan, Merchant,
    MerchantId, PostingKind, ResponseCode, Settlement, Terminal, TerminalId, TerminalStatus, TxnId,
    TxnKind, TxnRecord, TxnStatus, TxnUpdate, Write,
};
use store::{Store, StoreErrorKind, TxnQuery};

mod risk;
pub use risk::*;

/// What a backend's test file provides besides the store: its URL (to open it again)
/// and raw SQL access that bypasses the store (to tamper with rows).
pub struct Harness {
    pub url: String,
    /// Runs one statement; `Err` carries the database's message.
    pub exec: RawSql<()>,
    /// Runs a query returning one integer.
    pub scalar: RawSql<i64>,
}

pub type RawSql<T> = Box<dyn Fn(&str) -> Result<T, String>>;

type Check = dyn Fn(&dyn Store) -> bool;

pub fn merchant(n: u32) -> Merchant {
    Merchant {
        id: MerchantId(format!("M{n:03}")),
        name: format!("Shop {n}"),
        mcc: "5411".into(),
        currency: Currency::CNY,
        fee_bps: 60 + n,
    }
}

pub fn terminal(n: u32, merchant: u32) -> Terminal {
    Terminal {
        id: TerminalId(format!("T{n:07}")),
        merchant_id: merchant_id(merchant),
        status: TerminalStatus::Active,
        floor_limit_minor: 5_000,
    }
}

pub fn card(n: u32) -> Card {
    Card {
        token: card_token(n),
        masked: MaskedPan(format!("476173******{n:04}")),
        expiry: "2912".into(),
        status: CardStatus::Active,
        kind: if n.is_multiple_of(2) {
            CardKind::Debit
        } else {
            CardKind::Credit
        },
        currency: Currency::CNY,
        limit_minor: 1_000_000,
        daily_limit_minor: 200_000,
    }
}

pub fn merchant_id(n: u32) -> MerchantId {
    MerchantId(format!("M{n:03}"))
}

pub fn card_token(n: u32) -> CardToken {
    CardToken(format!("tok{n:04}"))
}

/// A purchase: terminal `id % 3`, merchant `id % 2`, card `id % 5`, created at `id * 10`.
pub fn txn(id: u64) -> TxnRecord {
    TxnRecord {
        id: TxnId(id),
        idem_key: format!("txn:T{:07}:{id:06}:0101120000", id % 3),
        created_ms: id as i64 * 10,
        mti: "0200".into(),
        kind: if id.is_multiple_of(4) {
            TxnKind::Refund
        } else {
            TxnKind::Purchase
        },
        offline: id.is_multiple_of(7),
        terminal_id: terminal(id as u32 % 3, 0).id,
        merchant_id: merchant_id(id as u32 % 2),
        stan: format!("{id:06}"),
        transmitted: "0101120000".into(),
        card_token: (id % 6 != 5).then(|| card_token(id as u32 % 5)),
        masked_pan: Some(MaskedPan("476173******0010".into())),
        amount_minor: 1_000 + id as i64,
        currency: Currency::CNY,
        response_code: if id % 3 == 2 {
            ResponseCode::InsufficientFunds
        } else {
            ResponseCode::Approved
        },
        auth_code: (id % 3 != 2).then(|| format!("{:06}", id)),
        status: if id % 3 == 2 {
            TxnStatus::Declined
        } else {
            TxnStatus::Approved
        },
        original_id: (id.is_multiple_of(4)).then(|| TxnId(id - 1)),
        original_key: (id.is_multiple_of(8)).then(|| "rev:T0000000:000001:0101120000".into()),
        fee_minor: 6,
        refunded_minor: 0,
        balance_minor: (id.is_multiple_of(5)).then_some(-12),
        stand_in: id.is_multiple_of(2),
        upstream: id.is_multiple_of(3),
        reason: "ok".into(),
    }
}

/// The four legs of a purchase with entry ids `4*txn-3 ..= 4*txn`.
pub fn entries(txn_id: u64) -> Vec<Entry> {
    let token = card_token(txn_id as u32 % 5);
    let amount = 1_000 + txn_id as i64;
    let legs = [
        (PostingKind::Capture, Account::Card(token.clone()), -amount),
        (
            PostingKind::Capture,
            Account::Merchant(merchant_id(txn_id as u32 % 2)),
            amount,
        ),
        (
            PostingKind::Fee,
            Account::Merchant(merchant_id(txn_id as u32 % 2)),
            -6,
        ),
        (PostingKind::Fee, Account::Fees, 6),
    ];
    legs.into_iter()
        .enumerate()
        .map(|(i, (kind, account, amount_minor))| Entry {
            id: txn_id * 4 - 3 + i as u64,
            txn_id: TxnId(txn_id),
            kind,
            account,
            amount_minor,
            currency: Currency::CNY,
        })
        .collect()
}

pub fn settlement(id: u64, terminal: u32, upto: u64) -> Settlement {
    Settlement {
        id,
        idem_key: format!("settle:{id}"),
        terminal_id: self::terminal(terminal, 0).id,
        closed_ms: id as i64 * 1_000,
        upto_txn_id: TxnId(upto),
        host_debit_count: 3,
        host_debit_minor: 3_000,
        host_credit_count: 1,
        host_credit_minor: -500,
        terminal_debit_count: 3,
        terminal_debit_minor: 3_000,
        terminal_credit_count: 1,
        terminal_credit_minor: -500,
        balanced: id % 2 == 1,
    }
}

pub fn api_token(n: u32) -> ApiToken {
    ApiToken {
        id: format!("tok-{n}"),
        sha256_hex: format!("{n:064x}"),
        role: "admin".into(),
        created_ms: 1_700_000_000_000 + i64::from(n),
    }
}

/// Parties, `n` purchases with their entries, two settlements and a token.
pub fn world(n: u64) -> Vec<Write> {
    let mut w = vec![
        Write::Merchant(merchant(0)),
        Write::Merchant(merchant(1)),
        Write::ApiToken(api_token(1)),
    ];
    w.extend((0..3).map(|t| Write::Terminal(terminal(t, t % 2))));
    w.extend((0..5).map(|c| Write::Card(card(c))));
    for id in 1..=n {
        w.push(Write::Txn(txn(id)));
        w.push(Write::Entries(entries(id)));
    }
    w.push(Write::Settlement(settlement(1, 0, 3)));
    w.push(Write::Settlement(settlement(2, 0, n)));
    w
}

fn kind(r: Result<(), store::StoreError>) -> Option<StoreErrorKind> {
    r.err().map(|e| e.kind)
}

pub fn every_write_round_trips(s: &dyn Store, _: &Harness) {
    s.commit(&world(6)).unwrap();
    assert_eq!(s.merchant(&merchant_id(1)).unwrap(), Some(merchant(1)));
    assert_eq!(s.merchants().unwrap(), [merchant(0), merchant(1)]);
    assert_eq!(
        s.terminal(&terminal(2, 0).id).unwrap(),
        Some(terminal(2, 0))
    );
    assert_eq!(s.terminals(None).unwrap().len(), 3);
    assert_eq!(
        s.terminals(Some(&merchant_id(1))).unwrap(),
        [terminal(1, 1)]
    );
    assert_eq!(s.card(&card_token(3)).unwrap(), Some(card(3)));
    assert_eq!(s.cards().unwrap(), (0..5).map(card).collect::<Vec<_>>());
    for id in 1..=6 {
        assert_eq!(s.txn(TxnId(id)).unwrap(), Some(txn(id)));
        assert_eq!(s.entries_of(TxnId(id)).unwrap(), entries(id));
    }
    assert_eq!(s.txn(TxnId(99)).unwrap(), None);
    assert_eq!(s.txn(TxnId(u64::MAX)).unwrap(), None);
    let t0 = terminal(0, 0).id;
    assert_eq!(
        s.settlements(&t0).unwrap(),
        [settlement(1, 0, 3), settlement(2, 0, 6)]
    );
    assert_eq!(
        s.api_token_by_hash(&api_token(1).sha256_hex).unwrap(),
        Some(api_token(1))
    );
    assert_eq!(s.api_token_by_hash("00").unwrap(), None);
    assert_eq!(s.api_token_count().unwrap(), 1);

    // Upserts replace by id; a TxnUpdate changes only status and refunded amount.
    let mut m = merchant(1);
    m.name = "Renamed".into();
    let mut t = terminal(1, 1);
    t.status = TerminalStatus::Blocked;
    let mut c = card(3);
    c.status = CardStatus::Stolen;
    let update = TxnUpdate {
        id: TxnId(1),
        status: TxnStatus::Voided,
        refunded_minor: 250,
    };
    let batch = [
        Write::Merchant(m.clone()),
        Write::Terminal(t.clone()),
        Write::Card(c.clone()),
        Write::TxnUpdate(update),
    ];
    s.commit(&batch).unwrap();
    assert_eq!(s.merchant(&m.id).unwrap(), Some(m));
    assert_eq!(s.terminal(&t.id).unwrap(), Some(t));
    assert_eq!(s.card(&c.token).unwrap(), Some(c));
    let mut want = txn(1);
    (want.status, want.refunded_minor) = (TxnStatus::Voided, 250);
    assert_eq!(s.txn(TxnId(1)).unwrap(), Some(want));
    assert_eq!(
        s.backend(),
        if s.backend() == "sqlite" {
            "sqlite"
        } else {
            "postgres"
        }
    );
}

pub fn writes_in_one_batch_apply_in_order(s: &dyn Store, _: &Harness) {
    let mut renamed = merchant(0);
    renamed.name = "Second".into();
    let batch = [
        Write::Merchant(merchant(0)),
        Write::Merchant(renamed.clone()),
        Write::Txn(txn(1)),
        Write::TxnUpdate(TxnUpdate {
            id: TxnId(1),
            status: TxnStatus::Reversed,
            refunded_minor: 1,
        }),
        Write::TxnUpdate(TxnUpdate {
            id: TxnId(1),
            status: TxnStatus::Voided,
            refunded_minor: 2,
        }),
    ];
    s.commit(&batch).unwrap();
    assert_eq!(s.merchants().unwrap(), [renamed]);
    let got = s.txn(TxnId(1)).unwrap().unwrap();
    assert_eq!((got.status, got.refunded_minor), (TxnStatus::Voided, 2));

    let early = [
        Write::TxnUpdate(TxnUpdate {
            id: TxnId(2),
            status: TxnStatus::Voided,
            refunded_minor: 0,
        }),
        Write::Txn(txn(2)),
    ];
    assert_eq!(kind(s.commit(&early)), Some(StoreErrorKind::NotFound));
    assert_eq!(s.txn(TxnId(2)).unwrap(), None);
}

pub fn load_returns_what_was_written(s: &dyn Store, _: &Harness) {
    let empty = s.load().unwrap();
    assert!(empty.txns.is_empty() && empty.balances.is_empty());
    assert_eq!((empty.last_entry_id, empty.last_settlement_id), (0, 0));

    s.commit(&world(10)).unwrap();
    s.commit(&[Write::Settlement(settlement(3, 1, 4))]).unwrap();
    let snap = s.load().unwrap();
    assert_eq!(snap.merchants, [merchant(0), merchant(1)]);
    assert_eq!(
        snap.terminals,
        (0..3).map(|t| terminal(t, t % 2)).collect::<Vec<_>>()
    );
    assert_eq!(snap.cards, (0..5).map(card).collect::<Vec<_>>());
    assert_eq!(snap.txns, (1..=10).map(txn).collect::<Vec<_>>());
    assert_eq!(
        snap.settlements,
        [settlement(2, 0, 10), settlement(3, 1, 4)]
    );
    assert_eq!((snap.last_entry_id, snap.last_settlement_id), (40, 3));

    let mut want = std::collections::BTreeMap::<(String, u16), i64>::new();
    for e in (1..=10).flat_map(entries) {
        *want
            .entry((e.account.to_string(), e.currency.0))
            .or_default() += e.amount_minor;
    }
    let want: Vec<_> = want.into_iter().map(|((a, c), v)| (a, c, v)).collect();
    assert_eq!(snap.balances, want);
}

pub fn a_conflicting_batch_leaves_nothing_behind(s: &dyn Store, _: &Harness) {
    s.commit(&world(2)).unwrap();
    let before = s.load().unwrap();
    let mut dup_key = txn(9);
    dup_key.idem_key = txn(1).idem_key;
    let mut dup_entry = entries(10);
    dup_entry[3].id = 1;
    let mut m = merchant(0);
    m.name = "Must not stick".into();
    let conflicts: [Vec<Write>; 5] = [
        vec![Write::Txn(txn(1))],
        vec![Write::Txn(dup_key)],
        vec![Write::Entries(dup_entry)],
        vec![Write::Settlement(settlement(2, 1, 1))],
        vec![Write::ApiToken(api_token(1))],
    ];
    for conflict in conflicts {
        let mut batch = vec![
            Write::Merchant(m.clone()),
            Write::Txn(txn(3)),
            Write::Entries(entries(3)),
            Write::TxnUpdate(TxnUpdate {
                id: TxnId(1),
                status: TxnStatus::Voided,
                refunded_minor: 9,
            }),
        ];
        batch.extend(conflict);
        batch.push(Write::Txn(txn(4)));
        assert_eq!(
            kind(s.commit(&batch)),
            Some(StoreErrorKind::Conflict),
            "{batch:?}"
        );
        let after = s.load().unwrap();
        assert_eq!(after.txns, before.txns);
        assert_eq!(after.merchants, before.merchants);
        assert_eq!(after.balances, before.balances);
        assert_eq!(after.last_entry_id, before.last_entry_id);
    }
    let unknown = [
        Write::Txn(txn(3)),
        Write::TxnUpdate(TxnUpdate {
            id: TxnId(77),
            status: TxnStatus::Voided,
            refunded_minor: 0,
        }),
    ];
    assert_eq!(kind(s.commit(&unknown)), Some(StoreErrorKind::NotFound));
    assert_eq!(s.txn(TxnId(3)).unwrap(), None);
    // The store is still usable after failed batches.
    s.commit(&[Write::Txn(txn(3))]).unwrap();
    assert_eq!(s.commit(&[]), Ok(()));
}

pub fn search_filters_and_pages(s: &dyn Store, _: &Harness) {
    s.commit(&world(40)).unwrap();
    let ids = |q: TxnQuery| -> Vec<u64> {
        s.search_txns(&q)
            .unwrap()
            .into_iter()
            .map(|t| t.id.0)
            .collect()
    };
    let all: Vec<u64> = (1..=40).collect();
    let filter = |f: &dyn Fn(&TxnRecord) -> bool| -> Vec<u64> {
        all.iter().copied().filter(|&id| f(&txn(id))).collect()
    };
    assert_eq!(ids(TxnQuery::default()), all);
    let t1 = terminal(1, 0).id;
    let cases: Vec<(TxnQuery, Vec<u64>)> = vec![
        (
            TxnQuery {
                merchant_id: Some(merchant_id(1)),
                ..Default::default()
            },
            filter(&|t| t.merchant_id == merchant_id(1)),
        ),
        (
            TxnQuery {
                terminal_id: Some(t1.clone()),
                ..Default::default()
            },
            filter(&|t| t.terminal_id == t1),
        ),
        (
            TxnQuery {
                card_token: Some(card_token(2)),
                ..Default::default()
            },
            filter(&|t| t.card_token == Some(card_token(2))),
        ),
        (
            TxnQuery {
                from_ms: Some(100),
                to_ms: Some(200),
                ..Default::default()
            },
            (10..20).collect(),
        ),
        (
            TxnQuery {
                status: Some(TxnStatus::Declined),
                ..Default::default()
            },
            filter(&|t| t.status == TxnStatus::Declined),
        ),
        (
            TxnQuery {
                response_code: Some(ResponseCode::InsufficientFunds),
                ..Default::default()
            },
            filter(&|t| !t.response_code.is_approved()),
        ),
        (
            TxnQuery {
                kind: Some(TxnKind::Refund),
                ..Default::default()
            },
            filter(&|t| t.kind == TxnKind::Refund),
        ),
        (
            TxnQuery {
                merchant_id: Some(merchant_id(0)),
                kind: Some(TxnKind::Purchase),
                after_id: Some(TxnId(20)),
                ..Default::default()
            },
            filter(&|t| {
                t.id.0 > 20 && t.merchant_id == merchant_id(0) && t.kind == TxnKind::Purchase
            }),
        ),
        (
            TxnQuery {
                limit: 0,
                ..Default::default()
            },
            vec![],
        ),
        (
            TxnQuery {
                terminal_id: Some(TerminalId("nope".into())),
                ..Default::default()
            },
            vec![],
        ),
    ];
    for (q, want) in cases {
        assert!(
            !want.is_empty() || q.limit == 0 || q.terminal_id.is_some(),
            "{q:?}"
        );
        assert_eq!(ids(q.clone()), want, "{q:?}");
    }

    // Cursor pagination visits every match once, in order.
    let mut seen = Vec::new();
    let mut q = TxnQuery {
        merchant_id: Some(merchant_id(1)),
        limit: 3,
        ..Default::default()
    };
    loop {
        let page = ids(q.clone());
        assert!(page.len() <= 3);
        let Some(&last) = page.last() else { break };
        seen.extend(page);
        q.after_id = Some(TxnId(last));
    }
    assert_eq!(seen, filter(&|t| t.merchant_id == merchant_id(1)));
}

pub fn search_limit_is_clamped(s: &dyn Store, _: &Harness) {
    let n = u64::from(store::TXN_QUERY_LIMIT_MAX) + 5;
    let batch: Vec<Write> = (1..=n).map(|id| Write::Txn(txn(id))).collect();
    s.commit(&batch).unwrap();
    let got = s
        .search_txns(&TxnQuery {
            limit: u32::MAX,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(got.len() as u32, store::TXN_QUERY_LIMIT_MAX);
    let mut count = 0u64;
    s.for_each_txn(&mut |t| {
        count += 1;
        assert_eq!(t.id.0, count);
        Ok(())
    })
    .unwrap();
    assert_eq!(count, n);
}

pub fn streams_visit_everything_in_id_order(s: &dyn Store, _: &Harness) {
    // Two commits so that entry ids interleave batches; 300 txns = 1200 entries,
    // more than one stream page.
    let (a, b): (Vec<u64>, Vec<u64>) = (1..=300).partition(|id| id % 2 == 0);
    for ids in [b, a] {
        let batch: Vec<Write> = ids
            .iter()
            .flat_map(|&id| [Write::Txn(txn(id)), Write::Entries(entries(id))])
            .collect();
        s.commit(&batch).unwrap();
    }
    let mut got = Vec::new();
    s.for_each_entry(&mut |e| {
        got.push(e.id);
        Ok(())
    })
    .unwrap();
    assert_eq!(got, (1..=1200).collect::<Vec<u64>>());
    let mut txns = 0;
    s.for_each_txn(&mut |t| {
        txns += 1;
        assert_eq!(t, txn(txns));
        Ok(())
    })
    .unwrap();
    assert_eq!(txns, 300);
    // The callback's error stops the walk and comes back as is.
    let stop = store::StoreError::new(StoreErrorKind::Invalid, "stop");
    let mut calls = 0;
    let r = s.for_each_entry(&mut |_| {
        calls += 1;
        Err(stop.clone())
    });
    assert_eq!((r, calls), (Err(stop), 1));
}

pub fn meta_values_replace(s: &dyn Store, _: &Harness) {
    assert_eq!(s.meta_get("instance_id").unwrap(), None);
    s.meta_set("instance_id", "a").unwrap();
    s.meta_set("instance_id", "b").unwrap();
    s.meta_set("other", "c").unwrap();
    assert_eq!(s.meta_get("instance_id").unwrap().as_deref(), Some("b"));
    assert_eq!(s.meta_get("other").unwrap().as_deref(), Some("c"));
    // A prefix is matched literally: `_` and `%` are not wildcards.
    s.meta_set("up_rev:2", "pending").unwrap();
    s.meta_set("up_rev:1", "done").unwrap();
    s.meta_set("upXrev:3", "pending").unwrap();
    let found = s.meta_with_prefix("up_rev:").unwrap();
    let want = [("up_rev:1", "done"), ("up_rev:2", "pending")];
    let found: Vec<(&str, &str)> = found
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(found, want);
}

pub fn entries_are_append_only(s: &dyn Store, h: &Harness) {
    s.commit(&world(1)).unwrap();
    for sql in [
        "UPDATE entries SET amount_minor = 0 WHERE id = 1",
        "DELETE FROM entries WHERE id = 1",
        "UPDATE settlements SET balanced = NOT balanced",
        "DELETE FROM settlements",
        "DELETE FROM txns",
    ] {
        let sql = sql.replace(
            "NOT balanced",
            if s.backend() == "sqlite" {
                "1 - balanced"
            } else {
                "NOT balanced"
            },
        );
        let err = (h.exec)(&sql).expect_err(&sql);
        assert!(
            err.contains("append-only") || err.contains("never"),
            "{sql}: {err}"
        );
    }
    assert_eq!(s.entries_of(TxnId(1)).unwrap(), entries(1));
    assert_eq!(s.load().unwrap().settlements.len(), 1);
    // Txn status changes are how updates work, so txns stay updatable.
    (h.exec)("UPDATE txns SET reason = 'x' WHERE id = 1").unwrap();
}

pub fn reopening_migrates_once_and_keeps_data(s: &dyn Store, h: &Harness) {
    s.commit(&world(3)).unwrap();
    s.meta_set("instance_id", "abc").unwrap();
    let versions = (h.scalar)("SELECT COUNT(*) FROM schema_migrations").unwrap();
    assert!(versions >= 1);
    for _ in 0..2 {
        let again = store::open(&h.url).unwrap();
        assert_eq!(again.backend(), s.backend());
        assert_eq!(again.load().unwrap().txns.len(), 3);
        assert_eq!(
            again.meta_get("instance_id").unwrap().as_deref(),
            Some("abc")
        );
        assert_eq!(
            (h.scalar)("SELECT COUNT(*) FROM schema_migrations").unwrap(),
            versions
        );
    }
    // The first handle still works beside the others.
    s.commit(&[Write::Txn(txn(4))]).unwrap();
}

pub fn a_newer_schema_is_refused(s: &dyn Store, h: &Harness) {
    drop(s.load().unwrap());
    (h.exec)("INSERT INTO schema_migrations (version, applied_ms) VALUES (9999, 0)").unwrap();
    let err = store::open(&h.url)
        .err()
        .expect("a newer schema must not open");
    assert_eq!(err.kind, StoreErrorKind::Migration);
}

pub fn corrupt_rows_are_errors_not_panics(s: &dyn Store, h: &Harness) {
    s.commit(&world(2)).unwrap();
    let cases: [(&str, &Check); 6] = [
        ("UPDATE txns SET status = 'bogus' WHERE id = 2", &|s| {
            s.txn(TxnId(2)).is_err()
        }),
        ("UPDATE txns SET kind = 'bogus' WHERE id = 2", &|s| {
            s.search_txns(&TxnQuery::default()).is_err()
        }),
        ("UPDATE txns SET response_code = 'Z9' WHERE id = 2", &|s| {
            s.for_each_txn(&mut |_| Ok(())).is_err()
        }),
        ("UPDATE txns SET currency = 70000 WHERE id = 2", &|s| {
            s.txn(TxnId(2)).is_err()
        }),
        ("UPDATE terminals SET status = 'melted'", &|s| {
            s.terminals(None).is_err()
        }),
        ("UPDATE cards SET kind = 'prepaid'", &|s| s.cards().is_err()),
    ];
    for (sql, fails) in cases {
        let restore = "UPDATE txns SET status = 'approved', kind = 'purchase', \
                       response_code = '00', currency = 156 WHERE id = 2";
        (h.exec)(sql).unwrap();
        let err = s.load().expect_err(sql);
        assert_eq!(err.kind, StoreErrorKind::Corrupt, "{sql}: {err}");
        assert!(fails(s), "{sql}");
        (h.exec)(restore).unwrap();
        if sql.contains("terminals") {
            (h.exec)("UPDATE terminals SET status = 'active'").unwrap();
        }
        if sql.contains("cards") {
            (h.exec)("UPDATE cards SET kind = 'debit'").unwrap();
        }
        s.load().expect("restored rows load again");
    }
}

/// Entries go in two at a time where a backend can (a posting's legs): every count,
/// odd or even, reads back whole and in order, and a duplicate id in either leg of a
/// pair rolls the batch back.
pub fn entries_of_any_count_round_trip(s: &dyn Store, _: &Harness) {
    let legs = |txn_id: u64, first_id: u64, count: u64| -> Vec<Entry> {
        (0..count)
            .map(|i| Entry {
                id: first_id + i,
                txn_id: TxnId(txn_id),
                kind: PostingKind::Capture,
                account: Account::Merchant(merchant_id(i as u32)),
                amount_minor: if i % 2 == 0 {
                    -(100 + i as i64)
                } else {
                    100 + i as i64
                },
                currency: Currency::CNY,
            })
            .collect()
    };
    let mut next_id = 1;
    for (txn_id, count) in [(1, 1), (2, 2), (3, 3), (4, 5)] {
        let es = legs(txn_id, next_id, count);
        next_id += count;
        s.commit(&[Write::Txn(txn(txn_id)), Write::Entries(es.clone())])
            .unwrap();
        assert_eq!(s.entries_of(TxnId(txn_id)).unwrap(), es, "{count} entries");
    }
    for dup_leg in 0..2 {
        let mut es = legs(5, next_id, 2);
        es[dup_leg].id = 1;
        let batch = [Write::Txn(txn(5)), Write::Entries(es)];
        assert_eq!(kind(s.commit(&batch)), Some(StoreErrorKind::Conflict));
        assert_eq!(s.txn(TxnId(5)).unwrap(), None);
        assert_eq!(s.entries_of(TxnId(5)).unwrap(), Vec::new());
    }
}

/// SQLite's card index holds only a token's first characters: tokens that share them
/// must still be told apart by the search.
pub fn a_card_search_matches_the_whole_token(s: &dyn Store, _: &Harness) {
    let shared = "0123456789abcdef".repeat(2);
    let tokens = [format!("{shared}aa"), format!("{shared}bb"), shared.clone()];
    let batch: Vec<Write> = (1..=3u64)
        .map(|id| {
            let mut t = txn(id);
            t.card_token = Some(CardToken(tokens[id as usize - 1].clone()));
            Write::Txn(t)
        })
        .collect();
    s.commit(&batch).unwrap();
    for (i, token) in tokens.iter().enumerate() {
        let q = TxnQuery {
            card_token: Some(CardToken(token.clone())),
            ..TxnQuery::default()
        };
        let ids: Vec<u64> = s.search_txns(&q).unwrap().iter().map(|t| t.id.0).collect();
        assert_eq!(ids, [i as u64 + 1], "{token}");
    }
}

/// Searches by card, terminal and merchant find every match, page by page, whatever
/// batches the transactions came in, in whatever id order, and from whichever handle
/// (SQLite writes its search keys in sorted runs, `sqlite::keys`: its small-run suite
/// makes many of them, so pages cross written runs and the unwritten tail).
pub fn keyed_searches_page_across_batches(s: &dyn Store, h: &Harness) {
    s.commit(&world(0)).unwrap();
    let purchases = |ids: &[u64]| -> Vec<Write> {
        ids.iter()
            .flat_map(|&id| [Write::Txn(txn(id)), Write::Entries(entries(id))])
            .collect()
    };
    let late = [17, 18];
    let early: Vec<u64> = (1..=60).filter(|id| !late.contains(id)).collect();
    for chunk in early.chunks(5) {
        s.commit(&purchases(chunk)).unwrap();
    }
    // Another handle on the same database writes too, then ids below those written.
    let other = store::open(&h.url).unwrap();
    other.commit(&purchases(&[61, 62, 63])).unwrap();
    s.commit(&purchases(&late)).unwrap();
    s.commit(&purchases(&[64])).unwrap();
    let every: Vec<TxnRecord> = (1..=64).map(txn).collect();
    let mut queries: Vec<TxnQuery> = Vec::new();
    queries.extend((0..5).map(|c| TxnQuery {
        card_token: Some(card_token(c)),
        ..Default::default()
    }));
    queries.extend((0..3).map(|t| TxnQuery {
        terminal_id: Some(terminal(t, 0).id),
        ..Default::default()
    }));
    queries.extend((0..2).map(|m| TxnQuery {
        merchant_id: Some(merchant_id(m)),
        ..Default::default()
    }));
    queries.push(TxnQuery {
        terminal_id: Some(terminal(2, 0).id),
        status: Some(TxnStatus::Declined),
        ..Default::default()
    });
    queries.push(TxnQuery {
        merchant_id: Some(merchant_id(0)),
        card_token: Some(card_token(3)),
        ..Default::default()
    });
    let matches = |q: &TxnQuery, t: &TxnRecord| {
        q.card_token
            .as_ref()
            .is_none_or(|c| t.card_token.as_ref() == Some(c))
            && q.terminal_id.as_ref().is_none_or(|x| &t.terminal_id == x)
            && q.merchant_id.as_ref().is_none_or(|x| &t.merchant_id == x)
            && q.status.is_none_or(|x| t.status == x)
    };
    for handle in [s, &*other] {
        for q in &queries {
            let want: Vec<u64> = every
                .iter()
                .filter(|t| matches(q, t))
                .map(|t| t.id.0)
                .collect();
            assert!(!want.is_empty(), "{q:?} matches something");
            let mut got = Vec::new();
            let mut after = None;
            loop {
                let page = handle
                    .search_txns(&TxnQuery {
                        after_id: after,
                        limit: 4,
                        ..q.clone()
                    })
                    .unwrap();
                got.extend(page.iter().map(|t| t.id.0));
                match page.last() {
                    Some(last) if page.len() == 4 => after = Some(last.id),
                    _ => break,
                }
            }
            assert_eq!(got, want, "{q:?}");
        }
    }
}

/// Every behaviour above, by name, for the backend test files' macro.
#[macro_export]
macro_rules! store_suite {
    ($with:path) => {
        $crate::store_suite!(@tests $with;
            every_write_round_trips,
            writes_in_one_batch_apply_in_order,
            load_returns_what_was_written,
            a_conflicting_batch_leaves_nothing_behind,
            search_filters_and_pages,
            search_limit_is_clamped,
            streams_visit_everything_in_id_order,
            meta_values_replace,
            entries_are_append_only,
            reopening_migrates_once_and_keeps_data,
            a_newer_schema_is_refused,
            corrupt_rows_are_errors_not_panics,
            reads_run_beside_commits,
            risk_writes_read_back,
            a_case_is_replaced_as_it_moves,
            duplicate_risk_writes_roll_the_batch_back,
            risk_rows_are_append_only,
            alert_and_case_searches_filter_and_page,
            risk_search_limits_are_clamped,
            a_v1_database_migrates_in_place,
            corrupt_risk_rows_are_errors_not_panics,
            txn_contexts_load_in_txn_order,
            entries_of_any_count_round_trip,
            a_card_search_matches_the_whole_token,
            keyed_searches_page_across_batches,
        );
    };
    (@risk_reads $with:path) => {
        $crate::store_suite!(@tests $with;
            risk_writes_read_back,
            a_case_is_replaced_as_it_moves,
            alert_and_case_searches_filter_and_page,
            risk_search_limits_are_clamped,
        );
    };
    (@tests $with:path; $($name:ident,)*) => {
        $(
            #[test]
            fn $name() {
                $with(common::$name);
            }
        )*
    };
}

/// Readers keep working while batches commit from another thread.
pub fn reads_run_beside_commits(s: &dyn Store, _: &Harness) {
    s.commit(&world(0)).unwrap();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for chunk in (1..=200u64).collect::<Vec<_>>().chunks(20) {
                let batch: Vec<Write> = chunk
                    .iter()
                    .flat_map(|&id| [Write::Txn(txn(id)), Write::Entries(entries(id))])
                    .collect();
                s.commit(&batch).unwrap();
            }
        });
        for _ in 0..3 {
            scope.spawn(|| {
                for _ in 0..20 {
                    let snap = s.load().unwrap();
                    // A snapshot is consistent: whole batches only, entries with their txns.
                    assert_eq!(snap.last_entry_id, snap.txns.len() as u64 * 4);
                    assert_eq!(snap.txns.len() % 20, 0);
                    s.search_txns(&TxnQuery::default()).unwrap();
                }
            });
        }
    });
    assert_eq!(s.load().unwrap().txns.len(), 200);
}
