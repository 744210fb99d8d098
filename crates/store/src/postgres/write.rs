//! One batch, one transaction, a handful of round trips: each table gets a single
//! statement whose parameters are arrays (`unnest`), so 2000 transactions cost the
//! same number of round trips as one.
//!
//! Rows are grouped by table rather than sent in batch order. That gives the same
//! result as in-order application because inserts never depend on each other (no
//! foreign keys), upserts and updates set whole values (the last one for an id wins,
//! as in order), and updates run after the inserts. The one order-dependent case, an
//! update that precedes its own insert in the batch, fails with the same error kind
//! in-order SQL would give. Fraud labels, whose order is their only key, are inserted
//! in batch order (their identity is drawn in array order).

use super::rows::{Stmts, error};
use crate::error::{StoreError, StoreErrorKind};
use crate::risk::{DecisionRow, json};
use crate::rows::{card_kind_str, card_status_str, terminal_status_str, to_i64};
use ::postgres::Client;
use ::postgres::types::ToSql;
use model::{
    Alert, ApiToken, Card, Case, CaseEvent, Entry, FraudLabel, Merchant, RiskDecision, Settlement,
    Terminal, TxnContext, TxnRecord, TxnUpdate, Write,
};
use std::collections::HashMap;

const UPSERT_MERCHANTS: &str = "INSERT INTO merchants (id, name, mcc, currency, fee_bps) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::int8[]) \
     ON CONFLICT (id) DO UPDATE SET name = excluded.name, mcc = excluded.mcc, \
     currency = excluded.currency, fee_bps = excluded.fee_bps";
const UPSERT_TERMINALS: &str = "INSERT INTO terminals (id, merchant_id, status, \
     floor_limit_minor) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[]) \
     ON CONFLICT (id) DO UPDATE SET merchant_id = excluded.merchant_id, \
     status = excluded.status, floor_limit_minor = excluded.floor_limit_minor";
const UPSERT_CARDS: &str = "INSERT INTO cards (token, masked, expiry, status, kind, currency, \
     limit_minor, daily_limit_minor) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], \
     $4::text[], $5::text[], $6::int4[], $7::int8[], $8::int8[]) \
     ON CONFLICT (token) DO UPDATE SET masked = excluded.masked, expiry = excluded.expiry, \
     status = excluded.status, kind = excluded.kind, currency = excluded.currency, \
     limit_minor = excluded.limit_minor, daily_limit_minor = excluded.daily_limit_minor";
const INSERT_TXNS: &str = "INSERT INTO txns (id, idem_key, created_ms, mti, kind, offline, \
     terminal_id, merchant_id, stan, transmitted, card_token, masked_pan, amount_minor, \
     currency, response_code, auth_code, status, original_id, original_key, fee_minor, \
     refunded_minor, balance_minor, stand_in, upstream, reason) SELECT * FROM unnest($1::int8[], \
     $2::text[], $3::int8[], $4::text[], $5::text[], $6::bool[], $7::text[], $8::text[], \
     $9::text[], $10::text[], $11::text[], $12::text[], $13::int8[], $14::int4[], \
     $15::text[], $16::text[], $17::text[], $18::int8[], $19::text[], $20::int8[], \
     $21::int8[], $22::int8[], $23::bool[], $24::bool[], $25::text[])";
const UPDATE_TXNS: &str = "UPDATE txns SET status = u.status, refunded_minor = u.refunded \
     FROM unnest($1::int8[], $2::text[], $3::int8[]) AS u (id, status, refunded) \
     WHERE txns.id = u.id";
const INSERT_ENTRIES: &str = "INSERT INTO entries (id, txn_id, kind, account, amount_minor, \
     currency) SELECT * FROM unnest($1::int8[], $2::int8[], $3::text[], $4::text[], \
     $5::int8[], $6::int4[])";
const INSERT_SETTLEMENTS: &str = "INSERT INTO settlements (id, idem_key, terminal_id, \
     closed_ms, upto_txn_id, host_debit_count, host_debit_minor, host_credit_count, \
     host_credit_minor, terminal_debit_count, terminal_debit_minor, terminal_credit_count, \
     terminal_credit_minor, balanced) SELECT * FROM unnest($1::int8[], $2::text[], \
     $3::text[], $4::int8[], $5::int8[], $6::int8[], $7::int8[], $8::int8[], $9::int8[], \
     $10::int8[], $11::int8[], $12::int8[], $13::int8[], $14::bool[])";
const INSERT_API_TOKENS: &str = "INSERT INTO api_tokens (id, sha256_hex, role, created_ms) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[])";
const INSERT_DECISIONS: &str = "INSERT INTO risk_decisions (txn_id, score, action, \
     response_code, reasons, shadow_hits, errors, tags, rule_set_version, engine_failed, \
     decided_ms) SELECT * FROM unnest($1::int8[], $2::int4[], $3::text[], $4::text[], \
     $5::text[], $6::text[], $7::text[], $8::text[], $9::int8[], $10::bool[], $11::int8[])";
const INSERT_ALERTS: &str = "INSERT INTO alerts (id, created_ms, txn_id, severity, score, \
     action, rules, card_token, terminal_id, merchant_id, case_id) SELECT * FROM \
     unnest($1::int8[], $2::int8[], $3::int8[], $4::text[], $5::int4[], $6::text[], \
     $7::text[], $8::text[], $9::text[], $10::text[], $11::int8[])";
const UPSERT_CASES: &str = "INSERT INTO cases (id, entity_kind, entity_id, status, severity, \
     assignee, outcome, alert_count, opened_ms, updated_ms) SELECT * FROM unnest($1::int8[], \
     $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int8[], \
     $9::int8[], $10::int8[]) ON CONFLICT (id) DO UPDATE SET \
     entity_kind = excluded.entity_kind, entity_id = excluded.entity_id, \
     status = excluded.status, severity = excluded.severity, assignee = excluded.assignee, \
     outcome = excluded.outcome, alert_count = excluded.alert_count, \
     opened_ms = excluded.opened_ms, updated_ms = excluded.updated_ms";
const INSERT_CASE_EVENTS: &str = "INSERT INTO case_events (id, case_id, at_ms, actor, action, \
     detail) SELECT * FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::text[], \
     $5::text[], $6::text[])";
const INSERT_LABELS: &str = "INSERT INTO fraud_labels (txn_id, fraud, at_ms, source) \
     SELECT t, f, a, s FROM unnest($1::int8[], $2::bool[], $3::int8[], $4::text[]) \
     WITH ORDINALITY AS u (t, f, a, s, n) ORDER BY n";

const INSERT_CONTEXTS: &str = "INSERT INTO txn_contexts (txn_id, entry_mode, lat_e6, lon_e6, \
     operator) SELECT * FROM unnest($1::int8[], $2::text[], $3::int4[], $4::int4[], $5::text[])";

/// A batch sorted by table, upserts and updates reduced to the last one per key.
#[derive(Default)]
pub(super) struct Plan<'a> {
    merchants: Vec<&'a Merchant>,
    terminals: Vec<&'a Terminal>,
    cards: Vec<&'a Card>,
    txns: Vec<&'a TxnRecord>,
    updates: Vec<&'a TxnUpdate>,
    entries: Vec<&'a Entry>,
    settlements: Vec<&'a Settlement>,
    tokens: Vec<&'a ApiToken>,
    decisions: Vec<&'a RiskDecision>,
    alerts: Vec<&'a Alert>,
    cases: Vec<&'a Case>,
    case_events: Vec<&'a CaseEvent>,
    labels: Vec<&'a FraudLabel>,
    contexts: Vec<&'a TxnContext>,
    /// Last value per key.
    metas: Vec<(&'a str, &'a str)>,
    /// Some update comes before the insert of its own txn in the batch.
    update_before_insert: bool,
}

/// Appends `item` or replaces the earlier one with the same key: the last write wins.
fn last_wins<'a, K: std::hash::Hash + Eq, T>(
    list: &mut Vec<&'a T>,
    index: &mut HashMap<K, usize>,
    key: K,
    item: &'a T,
) {
    match index.get(&key) {
        Some(&i) => list[i] = item,
        None => {
            index.insert(key, list.len());
            list.push(item);
        }
    }
}

impl<'a> Plan<'a> {
    pub(super) fn of(batch: &'a [Write]) -> Result<Plan<'a>, StoreError> {
        let mut p = Plan::default();
        let (mut m, mut t, mut c, mut u, mut cs) = (
            HashMap::new(),
            HashMap::new(),
            HashMap::new(),
            HashMap::new(),
            HashMap::new(),
        );
        let mut inserted_at = HashMap::new();
        for (pos, w) in batch.iter().enumerate() {
            match w {
                Write::Merchant(x) => last_wins(&mut p.merchants, &mut m, x.id.as_str(), x),
                Write::Terminal(x) => last_wins(&mut p.terminals, &mut t, x.id.as_str(), x),
                Write::Card(x) => last_wins(&mut p.cards, &mut c, x.token.as_str(), x),
                Write::Txn(x) => {
                    inserted_at.entry(x.id).or_insert(pos);
                    p.txns.push(x);
                }
                Write::TxnUpdate(x) => last_wins(&mut p.updates, &mut u, x.id, x),
                Write::Entries(es) => p.entries.extend(es),
                Write::Settlement(x) => p.settlements.push(x),
                Write::ApiToken(x) => p.tokens.push(x),
                Write::Meta { key, value } => {
                    p.metas.retain(|(k, _)| *k != key.as_str());
                    p.metas.push((key, value));
                }
                Write::Decision(x) => p.decisions.push(x),
                Write::Alert(x) => p.alerts.push(x),
                Write::Case(x) => last_wins(&mut p.cases, &mut cs, x.id, x),
                Write::CaseEvent(x) => p.case_events.push(x),
                Write::Label(x) => p.labels.push(x),
                Write::TxnContext(x) => p.contexts.push(x),
            }
        }
        p.update_before_insert = batch.iter().enumerate().any(|(pos, w)| {
            matches!(w, Write::TxnUpdate(x) if inserted_at.get(&x.id).is_some_and(|&at| at > pos))
        });
        Ok(p)
    }
}

pub(super) fn commit(
    client: &mut Client,
    stmts: &mut Stmts,
    p: &Plan<'_>,
) -> Result<(), StoreError> {
    let mut steps: Vec<(&str, Vec<Box<dyn ToSql + Sync + '_>>)> = Vec::new();
    if !p.merchants.is_empty() {
        steps.push((UPSERT_MERCHANTS, merchants(&p.merchants)));
    }
    if !p.terminals.is_empty() {
        steps.push((UPSERT_TERMINALS, terminals(&p.terminals)));
    }
    if !p.cards.is_empty() {
        steps.push((UPSERT_CARDS, cards(&p.cards)));
    }
    if !p.txns.is_empty() {
        steps.push((INSERT_TXNS, txns(&p.txns)?));
    }
    if !p.entries.is_empty() {
        steps.push((INSERT_ENTRIES, entries(&p.entries)?));
    }
    if !p.settlements.is_empty() {
        steps.push((INSERT_SETTLEMENTS, settlements(&p.settlements)?));
    }
    if !p.tokens.is_empty() {
        steps.push((INSERT_API_TOKENS, tokens(&p.tokens)));
    }
    if !p.decisions.is_empty() {
        steps.push((INSERT_DECISIONS, decisions(&p.decisions)?));
    }
    if !p.alerts.is_empty() {
        steps.push((INSERT_ALERTS, alerts(&p.alerts)?));
    }
    if !p.cases.is_empty() {
        steps.push((UPSERT_CASES, cases(&p.cases)?));
    }
    if !p.case_events.is_empty() {
        steps.push((INSERT_CASE_EVENTS, case_events(&p.case_events)?));
    }
    if !p.labels.is_empty() {
        steps.push((INSERT_LABELS, labels(&p.labels)?));
    }
    if !p.contexts.is_empty() {
        steps.push((INSERT_CONTEXTS, contexts(&p.contexts)?));
    }
    // Updates go last so that they see this batch's inserts.
    if !p.updates.is_empty() {
        steps.push((UPDATE_TXNS, updates(&p.updates)?));
    }
    let prepared = steps
        .iter()
        .map(|(sql, _)| stmts.get(client, sql))
        .collect::<Result<Vec<_>, _>>()?;
    let mut tx = client.transaction().map_err(|e| error("begin batch", e))?;
    for ((sql, params), stmt) in steps.iter().zip(&prepared) {
        if *sql == UPDATE_TXNS && p.update_before_insert {
            // In order, this update would have found no row (had the row existed, the
            // insert would already have failed with a conflict above).
            return Err(StoreError::new(
                StoreErrorKind::NotFound,
                "update before its txn",
            ));
        }
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|b| &**b as _).collect();
        let n = tx
            .execute(stmt, &refs)
            .map_err(|e| error("write batch", e))?;
        if *sql == UPDATE_TXNS && n != p.updates.len() as u64 {
            // Dropping `tx` rolls the batch back.
            return Err(StoreError::new(
                StoreErrorKind::NotFound,
                "update of an unknown txn id",
            ));
        }
    }
    for (key, value) in &p.metas {
        tx.execute(UPSERT_META, &[key, value])
            .map_err(|e| error("set meta", e))?;
    }
    tx.commit().map_err(|e| error("commit batch", e))
}

const UPSERT_META: &str = "INSERT INTO meta (key, value) VALUES ($1, $2) \
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";

type Cols<'a> = Vec<Box<dyn ToSql + Sync + 'a>>;

fn col<'a, T: ToSql + Sync + 'a>(v: Vec<T>) -> Box<dyn ToSql + Sync + 'a> {
    Box::new(v)
}

fn ids<T>(xs: &[&T], id: impl Fn(&T) -> u64, what: &str) -> Result<Vec<i64>, StoreError> {
    xs.iter().map(|x| to_i64(id(x), what)).collect()
}

fn merchants<'a>(xs: &[&'a Merchant]) -> Cols<'a> {
    vec![
        col(xs.iter().map(|x| x.id.as_str()).collect()),
        col(xs.iter().map(|x| x.name.as_str()).collect()),
        col(xs.iter().map(|x| x.mcc.as_str()).collect()),
        col(xs.iter().map(|x| i32::from(x.currency.0)).collect()),
        col(xs.iter().map(|x| i64::from(x.fee_bps)).collect()),
    ]
}

fn terminals<'a>(xs: &[&'a Terminal]) -> Cols<'a> {
    vec![
        col(xs.iter().map(|x| x.id.as_str()).collect()),
        col(xs.iter().map(|x| x.merchant_id.as_str()).collect()),
        col(xs.iter().map(|x| terminal_status_str(x.status)).collect()),
        col(xs.iter().map(|x| x.floor_limit_minor).collect()),
    ]
}

fn cards<'a>(xs: &[&'a Card]) -> Cols<'a> {
    vec![
        col(xs.iter().map(|x| x.token.as_str()).collect()),
        col(xs.iter().map(|x| x.masked.0.as_str()).collect()),
        col(xs.iter().map(|x| x.expiry.as_str()).collect()),
        col(xs.iter().map(|x| card_status_str(x.status)).collect()),
        col(xs.iter().map(|x| card_kind_str(x.kind)).collect()),
        col(xs.iter().map(|x| i32::from(x.currency.0)).collect()),
        col(xs.iter().map(|x| x.limit_minor).collect()),
        col(xs.iter().map(|x| x.daily_limit_minor).collect()),
    ]
}

fn txns<'a>(xs: &[&'a TxnRecord]) -> Result<Cols<'a>, StoreError> {
    let originals = xs
        .iter()
        .map(|x| {
            x.original_id
                .map(|o| to_i64(o.0, "original id"))
                .transpose()
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(vec![
        col(ids(xs, |x| x.id.0, "txn id")?),
        col(xs.iter().map(|x| x.idem_key.as_str()).collect()),
        col(xs.iter().map(|x| x.created_ms).collect()),
        col(xs.iter().map(|x| x.mti.as_str()).collect()),
        col(xs.iter().map(|x| x.kind.as_str()).collect()),
        col(xs.iter().map(|x| x.offline).collect()),
        col(xs.iter().map(|x| x.terminal_id.as_str()).collect()),
        col(xs.iter().map(|x| x.merchant_id.as_str()).collect()),
        col(xs.iter().map(|x| x.stan.as_str()).collect()),
        col(xs.iter().map(|x| x.transmitted.as_str()).collect()),
        col(xs
            .iter()
            .map(|x| x.card_token.as_ref().map(|c| c.as_str()))
            .collect()),
        col(xs
            .iter()
            .map(|x| x.masked_pan.as_ref().map(|m| m.0.as_str()))
            .collect()),
        col(xs.iter().map(|x| x.amount_minor).collect()),
        col(xs.iter().map(|x| i32::from(x.currency.0)).collect()),
        col(xs.iter().map(|x| x.response_code.iso()).collect()),
        col(xs.iter().map(|x| x.auth_code.as_deref()).collect()),
        col(xs.iter().map(|x| x.status.as_str()).collect()),
        col(originals),
        col(xs.iter().map(|x| x.original_key.as_deref()).collect()),
        col(xs.iter().map(|x| x.fee_minor).collect()),
        col(xs.iter().map(|x| x.refunded_minor).collect()),
        col(xs.iter().map(|x| x.balance_minor).collect()),
        col(xs.iter().map(|x| x.stand_in).collect()),
        col(xs.iter().map(|x| x.upstream).collect()),
        col(xs.iter().map(|x| x.reason.as_str()).collect()),
    ])
}

fn updates<'a>(xs: &[&'a TxnUpdate]) -> Result<Cols<'a>, StoreError> {
    Ok(vec![
        col(ids(xs, |x| x.id.0, "txn id")?),
        col(xs.iter().map(|x| x.status.as_str()).collect()),
        col(xs.iter().map(|x| x.refunded_minor).collect()),
    ])
}

fn entries<'a>(xs: &[&'a Entry]) -> Result<Cols<'a>, StoreError> {
    Ok(vec![
        col(ids(xs, |x| x.id, "entry id")?),
        col(ids(xs, |x| x.txn_id.0, "entry txn id")?),
        col(xs.iter().map(|x| x.kind.as_str()).collect()),
        col(xs.iter().map(|x| x.account.to_string()).collect()),
        col(xs.iter().map(|x| x.amount_minor).collect()),
        col(xs.iter().map(|x| i32::from(x.currency.0)).collect()),
    ])
}

fn settlements<'a>(xs: &[&'a Settlement]) -> Result<Cols<'a>, StoreError> {
    Ok(vec![
        col(ids(xs, |x| x.id, "settlement id")?),
        col(xs.iter().map(|x| x.idem_key.as_str()).collect()),
        col(xs.iter().map(|x| x.terminal_id.as_str()).collect()),
        col(xs.iter().map(|x| x.closed_ms).collect()),
        col(ids(xs, |x| x.upto_txn_id.0, "settlement upto id")?),
        col(xs.iter().map(|x| x.host_debit_count).collect()),
        col(xs.iter().map(|x| x.host_debit_minor).collect()),
        col(xs.iter().map(|x| x.host_credit_count).collect()),
        col(xs.iter().map(|x| x.host_credit_minor).collect()),
        col(xs.iter().map(|x| x.terminal_debit_count).collect()),
        col(xs.iter().map(|x| x.terminal_debit_minor).collect()),
        col(xs.iter().map(|x| x.terminal_credit_count).collect()),
        col(xs.iter().map(|x| x.terminal_credit_minor).collect()),
        col(xs.iter().map(|x| x.balanced).collect()),
    ])
}

fn tokens<'a>(xs: &[&'a ApiToken]) -> Cols<'a> {
    vec![
        col(xs.iter().map(|x| x.id.as_str()).collect()),
        col(xs.iter().map(|x| x.sha256_hex.as_str()).collect()),
        col(xs.iter().map(|x| x.role.as_str()).collect()),
        col(xs.iter().map(|x| x.created_ms).collect()),
    ]
}

fn decisions<'a>(xs: &[&'a RiskDecision]) -> Result<Cols<'a>, StoreError> {
    let rows = xs
        .iter()
        .map(|x| DecisionRow::of(x))
        .collect::<Result<Vec<_>, _>>()?;
    let text = |f: fn(&DecisionRow) -> &String| -> Vec<String> {
        rows.iter().map(|r| f(r).clone()).collect()
    };
    Ok(vec![
        col(rows.iter().map(|r| r.txn_id).collect()),
        col(xs.iter().map(|x| i32::from(x.score)).collect()),
        col(xs.iter().map(|x| x.action.as_str()).collect()),
        col(xs.iter().map(|x| x.response_code.as_deref()).collect()),
        col(text(|r| &r.reasons)),
        col(text(|r| &r.shadow_hits)),
        col(text(|r| &r.errors)),
        col(text(|r| &r.tags)),
        col(rows.iter().map(|r| r.rule_set_version).collect()),
        col(xs.iter().map(|x| x.engine_failed).collect()),
        col(xs.iter().map(|x| x.decided_ms).collect()),
    ])
}

fn alerts<'a>(xs: &[&'a Alert]) -> Result<Cols<'a>, StoreError> {
    let rules = xs
        .iter()
        .map(|x| json(&x.rules, "alert rules"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(vec![
        col(ids(xs, |x| x.id, "alert id")?),
        col(xs.iter().map(|x| x.created_ms).collect()),
        col(ids(xs, |x| x.txn_id.0, "alert txn id")?),
        col(xs.iter().map(|x| x.severity.as_str()).collect()),
        col(xs.iter().map(|x| i32::from(x.score)).collect()),
        col(xs.iter().map(|x| x.action.as_str()).collect()),
        col(rules),
        col(xs.iter().map(|x| x.card_token.as_deref()).collect()),
        col(xs.iter().map(|x| x.terminal_id.as_str()).collect()),
        col(xs.iter().map(|x| x.merchant_id.as_str()).collect()),
        col(ids(xs, |x| x.case_id, "alert case id")?),
    ])
}

fn cases<'a>(xs: &[&'a Case]) -> Result<Cols<'a>, StoreError> {
    Ok(vec![
        col(ids(xs, |x| x.id, "case id")?),
        col(xs.iter().map(|x| x.entity_kind.as_str()).collect()),
        col(xs.iter().map(|x| x.entity_id.as_str()).collect()),
        col(xs.iter().map(|x| x.status.as_str()).collect()),
        col(xs.iter().map(|x| x.severity.as_str()).collect()),
        col(xs.iter().map(|x| x.assignee.as_deref()).collect()),
        col(xs.iter().map(|x| x.outcome.as_deref()).collect()),
        col(xs.iter().map(|x| i64::from(x.alert_count)).collect()),
        col(xs.iter().map(|x| x.opened_ms).collect()),
        col(xs.iter().map(|x| x.updated_ms).collect()),
    ])
}

fn case_events<'a>(xs: &[&'a CaseEvent]) -> Result<Cols<'a>, StoreError> {
    Ok(vec![
        col(ids(xs, |x| x.id, "case event id")?),
        col(ids(xs, |x| x.case_id, "case event case id")?),
        col(xs.iter().map(|x| x.at_ms).collect()),
        col(xs.iter().map(|x| x.actor.as_str()).collect()),
        col(xs.iter().map(|x| x.action.as_str()).collect()),
        col(xs.iter().map(|x| x.detail.as_str()).collect()),
    ])
}

fn labels<'a>(xs: &[&'a FraudLabel]) -> Result<Cols<'a>, StoreError> {
    Ok(vec![
        col(ids(xs, |x| x.txn_id.0, "label txn id")?),
        col(xs.iter().map(|x| x.fraud).collect()),
        col(xs.iter().map(|x| x.at_ms).collect()),
        col(xs.iter().map(|x| x.source.as_str()).collect()),
    ])
}

fn contexts<'a>(xs: &[&'a TxnContext]) -> Result<Cols<'a>, StoreError> {
    Ok(vec![
        col(ids(xs, |x| x.txn_id.0, "txn context txn id")?),
        col(xs.iter().map(|x| x.entry_mode.as_deref()).collect()),
        col(xs.iter().map(|x| x.location.map(|l| l.0)).collect()),
        col(xs.iter().map(|x| x.location.map(|l| l.1)).collect()),
        col(xs.iter().map(|x| x.operator.as_deref()).collect()),
    ])
}
