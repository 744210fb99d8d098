//! Alerts and cases: an alert joins the open case of its card (or of its terminal when
//! there is no card), or opens one. An alert row names its case, so joining a case is
//! not also a case event: the case's timeline is its events and its alerts, merged by
//! time (an alert storm would otherwise double the rows risk control writes). Steps on a case (assign, comment, escalate, close)
//! are recorded with who and when; closing a case as fraud or not labels its
//! transactions.

use model::Write;
use model::{Alert, Case, CaseEvent, FraudLabel, RiskDecision, TimestampMs, TxnId, TxnRecord};
use risk::Severity;
use std::collections::HashMap;

/// Ids and open cases as the store holds them at start.
#[derive(Clone, Debug, Default)]
pub struct CaseState {
    pub last_alert_id: u64,
    pub last_case_id: u64,
    pub last_case_event_id: u64,
    pub open_cases: Vec<Case>,
}

/// Longest comment or note kept on a case (characters).
pub const CASE_TEXT_CHARS_MAX: usize = 2_000;

pub struct CaseBook {
    last_alert: u64,
    last_case: u64,
    last_event: u64,
    open: HashMap<u64, Case>,
    by_entity: HashMap<(String, String), u64>,
}

/// A risk officer's step on a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaseStep {
    Assign {
        case_id: u64,
        actor: String,
        assignee: String,
    },
    Comment {
        case_id: u64,
        actor: String,
        text: String,
    },
    Escalate {
        case_id: u64,
        actor: String,
        note: String,
    },
    /// `txns`: the case's transactions (from its alerts), labelled with the outcome.
    Close {
        case_id: u64,
        actor: String,
        fraud: bool,
        note: String,
        txns: Vec<TxnId>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CaseStepError {
    #[error("no open case {0}")]
    NotOpen(u64),
    #[error("the text is longer than {CASE_TEXT_CHARS_MAX} characters")]
    TooLong,
}

impl CaseBook {
    pub fn new(state: CaseState) -> CaseBook {
        let mut book = CaseBook {
            last_alert: state.last_alert_id,
            last_case: state.last_case_id,
            last_event: state.last_case_event_id,
            open: HashMap::new(),
            by_entity: HashMap::new(),
        };
        for case in state.open_cases {
            book.by_entity
                .insert((case.entity_kind.clone(), case.entity_id.clone()), case.id);
            book.open.insert(case.id, case);
        }
        book
    }

    fn event(
        &mut self,
        case_id: u64,
        actor: &str,
        action: &str,
        detail: String,
        now: TimestampMs,
    ) -> Write {
        self.last_event += 1;
        Write::CaseEvent(CaseEvent {
            id: self.last_event,
            case_id,
            at_ms: now,
            actor: actor.to_owned(),
            action: action.to_owned(),
            detail,
        })
    }

    /// Raises the alert of a decision and files it into its case.
    pub fn raise(
        &mut self,
        txn: &TxnRecord,
        decision: &RiskDecision,
        severity: Severity,
        now: TimestampMs,
        out: &mut Vec<Write>,
    ) -> Alert {
        let entity = match &txn.card_token {
            Some(card) => ("card".to_owned(), card.0.clone()),
            None => ("terminal".to_owned(), txn.terminal_id.0.clone()),
        };
        let severity_text = severity.as_str().to_owned();
        let case_id = match self.by_entity.get(&entity).copied() {
            Some(id) => id,
            None => {
                self.last_case += 1;
                let id = self.last_case;
                let case = Case {
                    id,
                    entity_kind: entity.0.clone(),
                    entity_id: entity.1.clone(),
                    status: "open".into(),
                    severity: severity_text.clone(),
                    assignee: None,
                    outcome: None,
                    alert_count: 0,
                    opened_ms: now,
                    updated_ms: now,
                };
                self.open.insert(id, case);
                self.by_entity.insert(entity, id);
                let opened = self.event(id, "posguard", "opened", String::new(), now);
                out.push(opened);
                id
            }
        };
        self.last_alert += 1;
        let alert = Alert {
            id: self.last_alert,
            created_ms: now,
            txn_id: txn.id,
            severity: severity_text.clone(),
            score: decision.score,
            action: decision.action.clone(),
            rules: decision.reasons.iter().map(|r| r.rule_id.clone()).collect(),
            card_token: txn.card_token.as_ref().map(|c| c.0.clone()),
            terminal_id: txn.terminal_id.0.clone(),
            merchant_id: txn.merchant_id.0.clone(),
            case_id,
        };
        let case = self
            .open
            .get_mut(&case_id)
            .expect("the case was just found or opened");
        case.alert_count += 1;
        case.updated_ms = now;
        if Severity::parse(&case.severity).is_none_or(|s| s < severity) {
            case.severity = severity_text;
        }
        out.push(Write::Case(case.clone()));
        out.push(Write::Alert(alert.clone()));
        alert
    }

    /// Applies a step; returns the case as it now is and the labels a close gives.
    pub fn step(
        &mut self,
        step: CaseStep,
        now: TimestampMs,
        out: &mut Vec<Write>,
    ) -> Result<(Case, Vec<FraudLabel>), CaseStepError> {
        let (case_id, actor, action, detail) = match &step {
            CaseStep::Assign {
                case_id,
                actor,
                assignee,
            } => (*case_id, actor, "assigned", assignee.clone()),
            CaseStep::Comment {
                case_id,
                actor,
                text,
            } => (*case_id, actor, "commented", text.clone()),
            CaseStep::Escalate {
                case_id,
                actor,
                note,
            } => (*case_id, actor, "escalated", note.clone()),
            CaseStep::Close {
                case_id,
                actor,
                fraud,
                note,
                ..
            } => {
                let outcome = if *fraud { "fraud" } else { "not_fraud" };
                (*case_id, actor, "closed", format!("{outcome}: {note}"))
            }
        };
        if detail.chars().count() > CASE_TEXT_CHARS_MAX {
            return Err(CaseStepError::TooLong);
        }
        let actor = actor.clone();
        let mut case = self
            .open
            .get(&case_id)
            .cloned()
            .ok_or(CaseStepError::NotOpen(case_id))?;
        let mut labels = Vec::new();
        match step {
            CaseStep::Assign { assignee, .. } => case.assignee = Some(assignee),
            CaseStep::Comment { .. } => {}
            CaseStep::Escalate { .. } => case.status = "escalated".into(),
            CaseStep::Close { fraud, txns, .. } => {
                case.status = "closed".into();
                case.outcome = Some(if fraud { "fraud" } else { "not_fraud" }.into());
                labels = txns
                    .into_iter()
                    .map(|txn_id| FraudLabel {
                        txn_id,
                        fraud,
                        at_ms: now,
                        source: format!("case:{case_id}"),
                    })
                    .collect();
            }
        }
        case.updated_ms = now;
        let event = self.event(case_id, &actor, action, detail, now);
        if case.status == "closed" {
            self.open.remove(&case_id);
            self.by_entity
                .remove(&(case.entity_kind.clone(), case.entity_id.clone()));
        } else {
            self.open.insert(case_id, case.clone());
        }
        out.push(Write::Case(case.clone()));
        out.push(event);
        Ok((case, labels))
    }
}
