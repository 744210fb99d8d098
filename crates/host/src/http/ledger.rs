//! Settlement (the API's 0500) and the ledger check.

use super::body::{Fields, IDEMPOTENCY_KEY_LEN_MAX, JsonBody, printable};
use super::{AppState, read_store};
use crate::api_error::ApiError;
use axum::Json;
use axum::extract::State;
use engine::BatchTotals;
use model::TerminalId;
use serde::Serialize;
use std::collections::BTreeMap;
use store::{Store, StoreError};

#[derive(Serialize)]
pub struct Totals {
    debit_count: i64,
    debit_minor: i64,
    credit_count: i64,
    credit_minor: i64,
}

#[derive(Serialize)]
pub struct SettleView {
    response_code: &'static str,
    balanced: bool,
    duplicate: bool,
    message: &'static str,
    message_zh: &'static str,
    /// The host's totals of the terminal's open batch.
    host: Totals,
}

fn count(f: &mut Fields, name: &'static str) -> Result<i64, ApiError> {
    let n = f.int(name)?;
    if n < 0 {
        return Err(ApiError::validation(name, "must not be negative"));
    }
    Ok(n)
}

/// A terminal's batch totals against the host's. `key` makes it exactly-once: the same
/// key gets the first answer again. Keys live in a space of their own ("api-set:"), apart
/// from the link's 0500 keys.
pub async fn settle(
    State(app): State<AppState>,
    JsonBody(mut f): JsonBody,
) -> Result<Json<SettleView>, ApiError> {
    let terminal = f.string("terminal_id")?;
    printable("terminal_id", &terminal, TerminalId::LEN_MAX)?;
    let key = f.string("key")?;
    printable("key", &key, IDEMPOTENCY_KEY_LEN_MAX)?;
    let totals = BatchTotals {
        debit_count: count(&mut f, "debit_count")?,
        debit_minor: count(&mut f, "debit_minor")?,
        credit_count: count(&mut f, "credit_count")?,
        credit_minor: count(&mut f, "credit_minor")?,
    };
    f.finish()?;
    let key = format!("api-set:{terminal}:{key}");
    let a = app
        .pipeline
        .settle(TerminalId(terminal), key, totals)
        .await?;
    Ok(Json(SettleView {
        response_code: a.code.iso(),
        balanced: a.code.is_approved(),
        duplicate: a.duplicate,
        message: a.code.text_en(),
        message_zh: a.code.text_zh(),
        host: Totals {
            debit_count: a.host.debit_count,
            debit_minor: a.host.debit_minor,
            credit_count: a.host.credit_count,
            credit_minor: a.host.credit_minor,
        },
    }))
}

#[derive(Serialize)]
pub struct ProblemView {
    txn_id: Option<String>,
    what: String,
}

#[derive(Serialize)]
pub struct VerifyView {
    ok: bool,
    txns: u64,
    entries: u64,
    /// Sum of all entries per ISO 4217 numeric currency; zero in a sound ledger.
    currency_sums: BTreeMap<String, i128>,
    problem_count: u64,
    problems: Vec<ProblemView>,
}

/// Runs `ledger::Verifier` over the whole store: cards, then transactions, then
/// entries. The store has no single read snapshot across the three, so entries of
/// transactions committed after the transaction pass are left out; a card changed
/// during the run can still show as a transient funding problem.
pub async fn verify(State(app): State<AppState>) -> Result<Json<VerifyView>, ApiError> {
    let report = read_store(&app, verify_store).await?;
    Ok(Json(VerifyView {
        ok: report.ok(),
        txns: report.txns,
        entries: report.entries,
        currency_sums: report
            .currency_sums
            .into_iter()
            .map(|(c, sum)| (format!("{c:03}"), sum))
            .collect(),
        problem_count: report.problem_count,
        problems: report
            .problems
            .into_iter()
            .map(|p| ProblemView {
                txn_id: p.txn_id.map(|id| id.to_string()),
                what: p.what,
            })
            .collect(),
    }))
}

fn verify_store(store: &dyn Store) -> Result<ledger::Report, StoreError> {
    let mut v = ledger::Verifier::new();
    for card in store.cards()? {
        v.add_card(&card);
    }
    let mut last_txn = 0;
    store.for_each_txn(&mut |t| {
        last_txn = last_txn.max(t.id.0);
        v.add_txn(t);
        Ok(())
    })?;
    store.for_each_entry(&mut |e| {
        if e.txn_id.0 <= last_txn {
            v.add_entry(e);
        }
        Ok(())
    })?;
    Ok(v.finish())
}
