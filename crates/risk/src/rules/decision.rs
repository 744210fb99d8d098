//! Scoring one transaction: every rule against the facts and features, into a decision.

use std::sync::Arc;

use model::ResponseCode;

use super::set::RuleSet;
use super::spec::{Mode, Rule, RuleAction, SCORE_MAX, Severity};
use crate::dsl::{EvalError, Inputs};
use crate::facts::TxnFacts;
use crate::features::Features;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Approve,
    Review,
    Decline(ResponseCode),
}

/// A rule that fired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    pub rule_id: Arc<str>,
    pub version: u32,
    pub severity: Severity,
    pub contribution: u16,
}

/// A rule that could not be evaluated for this transaction; the others still were.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleFault {
    pub rule_id: Arc<str>,
    pub version: u32,
    pub severity: Severity,
    pub mode: Mode,
    pub error: EvalError,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Sum of the active hits' contributions, capped at `SCORE_MAX`.
    pub score: u16,
    pub action: Action,
    /// Active rules that fired, in rule-set order.
    pub reasons: Vec<Reason>,
    /// Shadow rules that fired: reported, no effect on score or action.
    pub shadow_hits: Vec<Reason>,
    /// Tags of active rules that fired.
    pub tags: Vec<String>,
    pub errors: Vec<RuleFault>,
    /// The `RuleSet::version` that decided.
    pub rule_set_version: u64,
}

impl Decision {
    /// Whether an active rule failed: the host's fail-open or fail-closed policy applies.
    pub fn active_rule_failed(&self) -> bool {
        self.errors.iter().any(|f| f.mode == Mode::Active)
    }

    /// The most severe active rule that failed, for a policy such as "review when a high
    /// or critical rule could not run".
    pub fn worst_failed_severity(&self) -> Option<Severity> {
        self.errors
            .iter()
            .filter(|f| f.mode == Mode::Active)
            .map(|f| f.severity)
            .max()
    }
}

fn reason(r: &Rule) -> Reason {
    Reason {
        rule_id: r.id.clone(),
        version: r.version,
        severity: r.severity,
        contribution: r.score,
    }
}

/// Evaluates every rule. Never fails: a rule that errors is listed in `errors`.
///
/// The action: the decline of the most severe declining rule that fired (then the one
/// with the highest score, then the first), else review if a reviewing rule fired, else
/// approve.
pub fn evaluate(rules: &RuleSet, facts: &TxnFacts, features: &Features) -> Decision {
    let inputs = Inputs { facts, features };
    let mut d = Decision {
        score: 0,
        action: Action::Approve,
        reasons: Vec::new(),
        shadow_hits: Vec::new(),
        tags: Vec::new(),
        errors: Vec::new(),
        rule_set_version: rules.version,
    };
    let mut total: u32 = 0;
    let mut decline: Option<(&Rule, ResponseCode)> = None;
    let mut review = false;
    for r in &rules.rules {
        match r.condition.eval(&inputs) {
            Ok(false) => {}
            Ok(true) if r.mode == Mode::Shadow => d.shadow_hits.push(reason(r)),
            Ok(true) => {
                total += u32::from(r.score);
                d.reasons.push(reason(r));
                match &r.action {
                    RuleAction::Decline(code) => {
                        let better = decline
                            .is_none_or(|(b, _)| (r.severity, r.score) > (b.severity, b.score));
                        if better {
                            decline = Some((r, *code));
                        }
                    }
                    RuleAction::Review => review = true,
                    RuleAction::Tag(t) => d.tags.push(t.clone()),
                }
            }
            Err(error) => d.errors.push(RuleFault {
                rule_id: r.id.clone(),
                version: r.version,
                severity: r.severity,
                mode: r.mode,
                error,
            }),
        }
    }
    d.score = u16::try_from(total.min(u32::from(SCORE_MAX))).unwrap_or(SCORE_MAX);
    d.action = match (decline, review) {
        (Some((_, code)), _) => Action::Decline(code),
        (None, true) => Action::Review,
        (None, false) => Action::Approve,
    };
    d
}
