//! Risk control's rows (issue 4), shared by both backends as `rows` is for the rest:
//! the columns of each table, how a row decodes, and the JSON text of rule lists.
//! Rule lists are stored whole and read back whole; SQL never looks inside them.

use crate::error::StoreError;
use crate::rows::{Cols, to_i64, to_u64};
use model::{Alert, Case, CaseEvent, FraudLabel, RiskDecision, RuleHit, TxnContext, TxnId};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) const DECISION_COLS: &str = "txn_id, score, action, response_code, reasons, \
     shadow_hits, errors, tags, rule_set_version, engine_failed, decided_ms";
pub(crate) const ALERT_COLS: &str = "id, created_ms, txn_id, severity, score, action, rules, \
     card_token, terminal_id, merchant_id, case_id";
pub(crate) const CASE_COLS: &str = "id, entity_kind, entity_id, status, severity, assignee, \
     outcome, alert_count, opened_ms, updated_ms";
pub(crate) const CASE_EVENT_COLS: &str = "id, case_id, at_ms, actor, action, detail";
/// Labels in insertion order come by their own `id`, which the model does not carry.
pub(crate) const LABEL_COLS: &str = "txn_id, fraud, at_ms, source";

pub(crate) const CONTEXT_COLS: &str = "txn_id, entry_mode, lat_e6, lon_e6, operator";

/// The status of a case that is no longer worked (`Snapshot::open_cases` leaves it out).
pub(crate) const CASE_STATUS_CLOSED: &str = "closed";

/// The JSON text of a value the model holds as a list.
pub(crate) fn json<T: Serialize + ?Sized>(v: &T, what: &str) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|_| StoreError::invalid(format!("encode {what} as JSON")))
}

fn from_json<T: DeserializeOwned>(text: &str, what: &str) -> Result<T, StoreError> {
    // The message names the column, never the text: rule details may name cards.
    serde_json::from_str(text).map_err(|_| StoreError::corrupt(format!("{what} is not its JSON")))
}

/// A decision's columns that are not plain values, ready to bind.
pub(crate) struct DecisionRow {
    pub txn_id: i64,
    pub rule_set_version: i64,
    pub reasons: String,
    pub shadow_hits: String,
    pub errors: String,
    pub tags: String,
}

impl DecisionRow {
    pub(crate) fn of(d: &RiskDecision) -> Result<DecisionRow, StoreError> {
        Ok(DecisionRow {
            txn_id: to_i64(d.txn_id.0, "decision txn id")?,
            rule_set_version: to_i64(d.rule_set_version, "rule set version")?,
            reasons: json(&d.reasons, "decision reasons")?,
            shadow_hits: json(&d.shadow_hits, "decision shadow hits")?,
            errors: json(&d.errors, "decision errors")?,
            tags: json(&d.tags, "decision tags")?,
        })
    }
}

fn score(v: i64) -> Result<u16, StoreError> {
    u16::try_from(v).map_err(|_| StoreError::corrupt("score out of range"))
}

pub(crate) fn decision(r: &dyn Cols) -> Result<RiskDecision, StoreError> {
    Ok(RiskDecision {
        txn_id: TxnId(to_u64(r.int(0)?, "decision txn id")?),
        score: score(r.int(1)?)?,
        action: r.text(2)?,
        response_code: r.opt_text(3)?,
        reasons: from_json::<Vec<RuleHit>>(&r.text(4)?, "decision reasons")?,
        shadow_hits: from_json::<Vec<RuleHit>>(&r.text(5)?, "decision shadow hits")?,
        errors: from_json::<Vec<RuleHit>>(&r.text(6)?, "decision errors")?,
        tags: from_json(&r.text(7)?, "decision tags")?,
        rule_set_version: to_u64(r.int(8)?, "rule set version")?,
        engine_failed: r.flag(9)?,
        decided_ms: r.int(10)?,
    })
}

pub(crate) fn alert(r: &dyn Cols) -> Result<Alert, StoreError> {
    Ok(Alert {
        id: to_u64(r.int(0)?, "alert id")?,
        created_ms: r.int(1)?,
        txn_id: TxnId(to_u64(r.int(2)?, "alert txn id")?),
        severity: r.text(3)?,
        score: score(r.int(4)?)?,
        action: r.text(5)?,
        rules: from_json(&r.text(6)?, "alert rules")?,
        card_token: r.opt_text(7)?,
        terminal_id: r.text(8)?,
        merchant_id: r.text(9)?,
        case_id: to_u64(r.int(10)?, "alert case id")?,
    })
}

pub(crate) fn case(r: &dyn Cols) -> Result<Case, StoreError> {
    Ok(Case {
        id: to_u64(r.int(0)?, "case id")?,
        entity_kind: r.text(1)?,
        entity_id: r.text(2)?,
        status: r.text(3)?,
        severity: r.text(4)?,
        assignee: r.opt_text(5)?,
        outcome: r.opt_text(6)?,
        alert_count: u32::try_from(r.int(7)?)
            .map_err(|_| StoreError::corrupt("alert count out of range"))?,
        opened_ms: r.int(8)?,
        updated_ms: r.int(9)?,
    })
}

pub(crate) fn case_event(r: &dyn Cols) -> Result<CaseEvent, StoreError> {
    Ok(CaseEvent {
        id: to_u64(r.int(0)?, "case event id")?,
        case_id: to_u64(r.int(1)?, "case event case id")?,
        at_ms: r.int(2)?,
        actor: r.text(3)?,
        action: r.text(4)?,
        detail: r.text(5)?,
    })
}

pub(crate) fn label(r: &dyn Cols) -> Result<FraudLabel, StoreError> {
    Ok(FraudLabel {
        txn_id: TxnId(to_u64(r.int(0)?, "label txn id")?),
        fraud: r.flag(1)?,
        at_ms: r.int(2)?,
        source: r.text(3)?,
    })
}

pub(crate) fn context(r: &dyn Cols) -> Result<TxnContext, StoreError> {
    let coordinate = |v: i64| {
        i32::try_from(v).map_err(|_| StoreError::corrupt("txn context coordinate out of range"))
    };
    let location = match (r.opt_int(2)?, r.opt_int(3)?) {
        (Some(lat), Some(lon)) => Some((coordinate(lat)?, coordinate(lon)?)),
        (None, None) => None,
        _ => return Err(StoreError::corrupt("txn context has half a location")),
    };
    Ok(TxnContext {
        txn_id: TxnId(to_u64(r.int(0)?, "txn context txn id")?),
        entry_mode: r.opt_text(1)?,
        location,
        operator: r.opt_text(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_lists_keep_every_field_through_their_json() {
        let hits = vec![
            RuleHit {
                rule_id: "velocity".into(),
                version: 3,
                severity: "high".into(),
                score: 400,
                error: None,
            },
            RuleHit {
                rule_id: "geo".into(),
                version: 1,
                severity: "low".into(),
                score: 0,
                error: Some("no location".into()),
            },
        ];
        let text = json(&hits, "hits").unwrap();
        assert_eq!(from_json::<Vec<RuleHit>>(&text, "hits").unwrap(), hits);
        let err = from_json::<Vec<RuleHit>>("[{\"rule_id\":", "hits").unwrap_err();
        assert_eq!(err.kind, crate::StoreErrorKind::Corrupt);
    }
}
