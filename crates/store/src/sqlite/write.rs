//! One batch, one immediate transaction, one fsync. Writes apply in order through
//! cached prepared statements: in-process inserts cost microseconds, so the commit's
//! price is the fsync, paid once per batch.

use super::keys::KeyRun;
use super::rows::error;
use crate::error::{StoreError, StoreErrorKind};
use crate::risk::{DecisionRow, json};
use crate::rows::{card_kind_str, card_status_str, terminal_status_str, to_i64};
use model::{
    Alert, ApiToken, Card, Case, CaseEvent, Entry, FraudLabel, Merchant, RiskDecision, Settlement,
    Terminal, TxnContext, TxnRecord, TxnUpdate, Write,
};
use rusqlite::{CachedStatement, Connection, Statement, Transaction, TransactionBehavior};

const UPSERT_MERCHANT: &str = "INSERT INTO merchants (id, name, mcc, currency, fee_bps) \
     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
     mcc = excluded.mcc, currency = excluded.currency, fee_bps = excluded.fee_bps";
const UPSERT_TERMINAL: &str = "INSERT INTO terminals (id, merchant_id, status, \
     floor_limit_minor) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO UPDATE SET \
     merchant_id = excluded.merchant_id, status = excluded.status, \
     floor_limit_minor = excluded.floor_limit_minor";
const UPSERT_CARD: &str = "INSERT INTO cards (token, masked, expiry, status, kind, currency, \
     limit_minor, daily_limit_minor) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
     ON CONFLICT (token) DO UPDATE SET masked = excluded.masked, expiry = excluded.expiry, \
     status = excluded.status, kind = excluded.kind, currency = excluded.currency, \
     limit_minor = excluded.limit_minor, daily_limit_minor = excluded.daily_limit_minor";
const INSERT_TXN: &str = "INSERT INTO txns (id, idem_key, created_ms, mti, kind, offline, \
     terminal_id, merchant_id, stan, transmitted, card_token, masked_pan, amount_minor, \
     currency, response_code, auth_code, status, original_id, original_key, fee_minor, \
     refunded_minor, balance_minor, stand_in, upstream, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, \
     ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)";
const UPDATE_TXN: &str = "UPDATE txns SET status = ?2, refunded_minor = ?3 WHERE id = ?1";
const INSERT_ENTRY: &str = "INSERT INTO entries (id, txn_id, kind, account, amount_minor, \
     currency) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
/// A posting's two legs in one statement (one step instead of two).
const INSERT_ENTRY_PAIR: &str = "INSERT INTO entries (id, txn_id, kind, account, \
     amount_minor, currency) VALUES (?1, ?2, ?3, ?4, ?5, ?6), (?7, ?8, ?9, ?10, ?11, ?12)";
const INSERT_SETTLEMENT: &str = "INSERT INTO settlements (id, idem_key, terminal_id, \
     closed_ms, upto_txn_id, host_debit_count, host_debit_minor, host_credit_count, \
     host_credit_minor, terminal_debit_count, terminal_debit_minor, terminal_credit_count, \
     terminal_credit_minor, balanced) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, \
     ?12, ?13, ?14)";
const UPSERT_META: &str = "INSERT INTO meta (key, value) VALUES (?1, ?2) \
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";
const INSERT_API_TOKEN: &str =
    "INSERT INTO api_tokens (id, sha256_hex, role, created_ms) VALUES (?1, ?2, ?3, ?4)";
const INSERT_DECISION: &str = "INSERT INTO risk_decisions (txn_id, score, action, \
     response_code, reasons, shadow_hits, errors, tags, rule_set_version, engine_failed, \
     decided_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
const INSERT_ALERT: &str = "INSERT INTO alerts (id, created_ms, txn_id, severity, score, \
     action, rules, card_token, terminal_id, merchant_id, case_id) VALUES (?1, ?2, ?3, ?4, \
     ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
const UPSERT_CASE: &str = "INSERT INTO cases (id, entity_kind, entity_id, status, severity, \
     assignee, outcome, alert_count, opened_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, \
     ?7, ?8, ?9, ?10) ON CONFLICT (id) DO UPDATE SET entity_kind = excluded.entity_kind, \
     entity_id = excluded.entity_id, status = excluded.status, severity = excluded.severity, \
     assignee = excluded.assignee, outcome = excluded.outcome, \
     alert_count = excluded.alert_count, opened_ms = excluded.opened_ms, \
     updated_ms = excluded.updated_ms";
const INSERT_CASE_EVENT: &str = "INSERT INTO case_events (id, case_id, at_ms, actor, action, \
     detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
const INSERT_LABEL: &str =
    "INSERT INTO fraud_labels (txn_id, fraud, at_ms, source) VALUES (?1, ?2, ?3, ?4)";

const INSERT_CONTEXT: &str = "INSERT INTO txn_contexts (txn_id, entry_mode, lat_e6, lon_e6, \
     operator) VALUES (?1, ?2, ?3, ?4, ?5)";

pub(super) fn commit(
    conn: &mut Connection,
    keys: &mut KeyRun,
    batch: &[Write],
) -> Result<(), StoreError> {
    // Immediate: take the write lock up front rather than fail half-way on upgrade.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| error("begin batch", e))?;
    let superseded = superseded_case_states(batch);
    let mut hot = Hot::default();
    let mut fresh = keys.begin(&tx)?;
    for (pos, write) in batch.iter().enumerate() {
        if superseded.is_empty() || !superseded.contains(&pos) {
            apply(&tx, &mut hot, write)?;
        }
        if let Write::Txn(t) = write {
            keys.note(&tx, &mut fresh, t)?;
        }
    }
    drop(hot);
    let written = keys.write_if_full(&tx, &fresh)?;
    // Dropping `tx` on an early return above rolls the whole batch back.
    tx.commit().map_err(|e| error("commit batch", e))?;
    keys.committed(&fresh, written);
    Ok(())
}

/// The statements every purchase runs, held for the whole batch: looking one up in the
/// connection's cache hashes and compares its SQL text, for every write.
#[derive(Default)]
struct Hot<'c> {
    txn: Option<CachedStatement<'c>>,
    entry: Option<CachedStatement<'c>>,
    entry_pair: Option<CachedStatement<'c>>,
    decision: Option<CachedStatement<'c>>,
}

/// The statement in `slot`, prepared on first use.
fn held<'s, 'c>(
    tx: &'c Transaction<'_>,
    slot: &'s mut Option<CachedStatement<'c>>,
    sql: &str,
    doing: &str,
) -> Result<&'s mut CachedStatement<'c>, StoreError> {
    if slot.is_none() {
        *slot = Some(tx.prepare_cached(sql).map_err(|e| error(doing, e))?);
    }
    slot.as_mut()
        .ok_or_else(|| StoreError::new(StoreErrorKind::Io, "prepare a statement"))
}

/// Positions of case states a later write of the same batch replaces. A case is an
/// upsert and an alert storm moves the same case on every alert: only its last state
/// in a batch reaches the table (PostgreSQL's plan reduces the same way).
fn superseded_case_states(batch: &[Write]) -> std::collections::HashSet<usize> {
    let mut last = std::collections::HashMap::new();
    let mut superseded = std::collections::HashSet::new();
    for (pos, write) in batch.iter().enumerate() {
        if let Write::Case(c) = write
            && let Some(earlier) = last.insert(c.id, pos)
        {
            superseded.insert(earlier);
        }
    }
    superseded
}

fn apply<'c>(tx: &'c Transaction<'_>, hot: &mut Hot<'c>, write: &Write) -> Result<(), StoreError> {
    match write {
        Write::Merchant(m) => merchant(tx, m),
        Write::Terminal(t) => terminal(tx, t),
        Write::Card(c) => card(tx, c),
        Write::Txn(t) => txn(held(tx, &mut hot.txn, INSERT_TXN, "insert txn")?, t),
        Write::TxnUpdate(u) => txn_update(tx, u),
        Write::Entries(es) => entries(tx, hot, es),
        Write::Settlement(s) => settlement(tx, s),
        Write::ApiToken(a) => api_token(tx, a),
        Write::Meta { key, value } => run(tx, UPSERT_META, "set meta", &[key, value]).map(drop),
        Write::Decision(d) => {
            let stmt = held(
                tx,
                &mut hot.decision,
                INSERT_DECISION,
                "insert risk decision",
            )?;
            decision(stmt, d)
        }
        Write::Alert(a) => alert(tx, a),
        Write::Case(c) => case(tx, c),
        Write::CaseEvent(e) => case_event(tx, e),
        Write::Label(l) => label(tx, l),
        Write::TxnContext(c) => context(tx, c),
    }
}

fn run(
    tx: &Transaction<'_>,
    sql: &str,
    doing: &str,
    p: &[&dyn rusqlite::ToSql],
) -> Result<usize, StoreError> {
    let mut stmt = tx.prepare_cached(sql).map_err(|e| error(doing, e))?;
    stmt.execute(p).map_err(|e| error(doing, e))
}

fn merchant(tx: &Transaction<'_>, m: &Merchant) -> Result<(), StoreError> {
    let p: [&dyn rusqlite::ToSql; 5] = [&m.id.0, &m.name, &m.mcc, &m.currency.0, &m.fee_bps];
    run(tx, UPSERT_MERCHANT, "upsert merchant", &p).map(drop)
}

fn terminal(tx: &Transaction<'_>, t: &Terminal) -> Result<(), StoreError> {
    let status = terminal_status_str(t.status);
    let p: [&dyn rusqlite::ToSql; 4] = [&t.id.0, &t.merchant_id.0, &status, &t.floor_limit_minor];
    run(tx, UPSERT_TERMINAL, "upsert terminal", &p).map(drop)
}

fn card(tx: &Transaction<'_>, c: &Card) -> Result<(), StoreError> {
    let (status, kind) = (card_status_str(c.status), card_kind_str(c.kind));
    let p: [&dyn rusqlite::ToSql; 8] = [
        &c.token.0,
        &c.masked.0,
        &c.expiry,
        &status,
        &kind,
        &c.currency.0,
        &c.limit_minor,
        &c.daily_limit_minor,
    ];
    run(tx, UPSERT_CARD, "upsert card", &p).map(drop)
}

fn txn(stmt: &mut Statement<'_>, t: &TxnRecord) -> Result<(), StoreError> {
    let id = to_i64(t.id.0, "txn id")?;
    let original = t
        .original_id
        .map(|o| to_i64(o.0, "original id"))
        .transpose()?;
    let (kind, status, rc) = (t.kind.as_str(), t.status.as_str(), t.response_code.iso());
    let p: [&dyn rusqlite::ToSql; 25] = [
        &id,
        &t.idem_key,
        &t.created_ms,
        &t.mti,
        &kind,
        &t.offline,
        &t.terminal_id.0,
        &t.merchant_id.0,
        &t.stan,
        &t.transmitted,
        &t.card_token.as_ref().map(|c| c.as_str()),
        &t.masked_pan.as_ref().map(|m| m.0.as_str()),
        &t.amount_minor,
        &t.currency.0,
        &rc,
        &t.auth_code,
        &status,
        &original,
        &t.original_key,
        &t.fee_minor,
        &t.refunded_minor,
        &t.balance_minor,
        &t.stand_in,
        &t.upstream,
        &t.reason,
    ];
    stmt.execute(&p[..])
        .map(drop)
        .map_err(|e| error("insert txn", e))
}

fn txn_update(tx: &Transaction<'_>, u: &TxnUpdate) -> Result<(), StoreError> {
    let id = to_i64(u.id.0, "txn id")?;
    let status = u.status.as_str();
    let p: [&dyn rusqlite::ToSql; 3] = [&id, &status, &u.refunded_minor];
    match run(tx, UPDATE_TXN, "update txn", &p)? {
        1 => Ok(()),
        _ => Err(StoreError::new(
            StoreErrorKind::NotFound,
            "update of an unknown txn id",
        )),
    }
}

/// Entries two at a time (a posting's legs), an odd last one alone.
fn entries<'c>(tx: &'c Transaction<'_>, hot: &mut Hot<'c>, es: &[Entry]) -> Result<(), StoreError> {
    let mut pairs = es.chunks_exact(2);
    for pair in pairs.by_ref() {
        let stmt = held(tx, &mut hot.entry_pair, INSERT_ENTRY_PAIR, "insert entries")?;
        let (a, b) = (EntryRow::of(&pair[0])?, EntryRow::of(&pair[1])?);
        let (pa, pb) = (a.params(), b.params());
        let p: [&dyn rusqlite::ToSql; 12] =
            std::array::from_fn(|i| if i < 6 { pa[i] } else { pb[i - 6] });
        stmt.execute(&p[..])
            .map_err(|e| error("insert entries", e))?;
    }
    for e in pairs.remainder() {
        let stmt = held(tx, &mut hot.entry, INSERT_ENTRY, "insert entry")?;
        let a = EntryRow::of(e)?;
        stmt.execute(&a.params()[..])
            .map_err(|e| error("insert entry", e))?;
    }
    Ok(())
}

/// An entry's column values, ready to bind.
struct EntryRow {
    id: i64,
    txn_id: i64,
    kind: &'static str,
    account: String,
    amount_minor: i64,
    currency: u16,
}

impl EntryRow {
    fn of(e: &Entry) -> Result<EntryRow, StoreError> {
        Ok(EntryRow {
            id: to_i64(e.id, "entry id")?,
            txn_id: to_i64(e.txn_id.0, "entry txn id")?,
            kind: e.kind.as_str(),
            account: e.account.to_string(),
            amount_minor: e.amount_minor,
            currency: e.currency.0,
        })
    }

    /// The row's values in `INSERT_ENTRY`'s column order.
    fn params(&self) -> [&dyn rusqlite::ToSql; 6] {
        [
            &self.id,
            &self.txn_id,
            &self.kind,
            &self.account,
            &self.amount_minor,
            &self.currency,
        ]
    }
}

fn settlement(tx: &Transaction<'_>, s: &Settlement) -> Result<(), StoreError> {
    let id = to_i64(s.id, "settlement id")?;
    let upto = to_i64(s.upto_txn_id.0, "settlement upto id")?;
    let p: [&dyn rusqlite::ToSql; 14] = [
        &id,
        &s.idem_key,
        &s.terminal_id.0,
        &s.closed_ms,
        &upto,
        &s.host_debit_count,
        &s.host_debit_minor,
        &s.host_credit_count,
        &s.host_credit_minor,
        &s.terminal_debit_count,
        &s.terminal_debit_minor,
        &s.terminal_credit_count,
        &s.terminal_credit_minor,
        &s.balanced,
    ];
    run(tx, INSERT_SETTLEMENT, "insert settlement", &p).map(drop)
}

fn api_token(tx: &Transaction<'_>, a: &ApiToken) -> Result<(), StoreError> {
    let p: [&dyn rusqlite::ToSql; 4] = [&a.id, &a.sha256_hex, &a.role, &a.created_ms];
    run(tx, INSERT_API_TOKEN, "insert api token", &p).map(drop)
}

fn decision(stmt: &mut Statement<'_>, d: &RiskDecision) -> Result<(), StoreError> {
    let row = DecisionRow::of(d)?;
    let p: [&dyn rusqlite::ToSql; 11] = [
        &row.txn_id,
        &d.score,
        &d.action,
        &d.response_code,
        &row.reasons,
        &row.shadow_hits,
        &row.errors,
        &row.tags,
        &row.rule_set_version,
        &d.engine_failed,
        &d.decided_ms,
    ];
    stmt.execute(&p[..])
        .map(drop)
        .map_err(|e| error("insert risk decision", e))
}

fn alert(tx: &Transaction<'_>, a: &Alert) -> Result<(), StoreError> {
    let (id, txn_id) = (
        to_i64(a.id, "alert id")?,
        to_i64(a.txn_id.0, "alert txn id")?,
    );
    let case_id = to_i64(a.case_id, "alert case id")?;
    let rules = json(&a.rules, "alert rules")?;
    let p: [&dyn rusqlite::ToSql; 11] = [
        &id,
        &a.created_ms,
        &txn_id,
        &a.severity,
        &a.score,
        &a.action,
        &rules,
        &a.card_token,
        &a.terminal_id,
        &a.merchant_id,
        &case_id,
    ];
    run(tx, INSERT_ALERT, "insert alert", &p).map(drop)
}

fn case(tx: &Transaction<'_>, c: &Case) -> Result<(), StoreError> {
    let id = to_i64(c.id, "case id")?;
    let p: [&dyn rusqlite::ToSql; 10] = [
        &id,
        &c.entity_kind,
        &c.entity_id,
        &c.status,
        &c.severity,
        &c.assignee,
        &c.outcome,
        &c.alert_count,
        &c.opened_ms,
        &c.updated_ms,
    ];
    run(tx, UPSERT_CASE, "upsert case", &p).map(drop)
}

fn case_event(tx: &Transaction<'_>, e: &CaseEvent) -> Result<(), StoreError> {
    let (id, case_id) = (
        to_i64(e.id, "case event id")?,
        to_i64(e.case_id, "case event case id")?,
    );
    let p: [&dyn rusqlite::ToSql; 6] = [&id, &case_id, &e.at_ms, &e.actor, &e.action, &e.detail];
    run(tx, INSERT_CASE_EVENT, "insert case event", &p).map(drop)
}

fn label(tx: &Transaction<'_>, l: &FraudLabel) -> Result<(), StoreError> {
    let txn_id = to_i64(l.txn_id.0, "label txn id")?;
    let p: [&dyn rusqlite::ToSql; 4] = [&txn_id, &l.fraud, &l.at_ms, &l.source];
    run(tx, INSERT_LABEL, "insert fraud label", &p).map(drop)
}

fn context(tx: &Transaction<'_>, c: &TxnContext) -> Result<(), StoreError> {
    let txn_id = to_i64(c.txn_id.0, "txn context txn id")?;
    let (lat, lon) = (c.location.map(|l| l.0), c.location.map(|l| l.1));
    let p: [&dyn rusqlite::ToSql; 5] = [&txn_id, &c.entry_mode, &lat, &lon, &c.operator];
    run(tx, INSERT_CONTEXT, "insert txn context", &p).map(drop)
}
