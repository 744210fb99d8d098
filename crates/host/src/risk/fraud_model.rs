//! The fraud model in the authorization path: loaded at start from meta `risk_model`,
//! replaced through the API without a restart (a shared pointer, like rule sets), and
//! combined with the rules' decision.
//!
//! How the two combine: the decision's score is the larger of the rules' score and the
//! model's (both on 0..=1000); a model score at or above `review_at` turns an approval
//! into a review, and one at or above `decline_at` (when set) declines with 59
//! (suspected fraud). Rules can still decline on their own. The inputs that pushed the
//! model's score up the most are added to the decision's reasons as `model:<INPUT>` hits,
//! so they are stored with the decision and listed with its alert.

use std::sync::{Arc, RwLock};

use model::ResponseCode;
use risk::{Action, Decision, Features, Reason, Severity, TxnFacts};
use serde::{Deserialize, Serialize};

/// Meta key of the installed model (JSON: [`StoredModel`]).
pub const MODEL_META_KEY: &str = "risk_model";
/// Default review threshold on the 0..=1000 scale.
pub const REVIEW_AT_DEFAULT: u16 = 500;
/// Field 39 of a decline the model imposes.
const MODEL_DECLINE_CODE: ResponseCode = ResponseCode::SuspectedFraud;
/// Reason ids of the model's hits start with this.
pub const REASON_PREFIX: &str = "model";

/// How the model's score acts on decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default = "review_default")]
    pub review_at: u16,
    /// `None`: the model never declines on its own.
    #[serde(default)]
    pub decline_at: Option<u16>,
}

fn review_default() -> u16 {
    REVIEW_AT_DEFAULT
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            review_at: REVIEW_AT_DEFAULT,
            decline_at: None,
        }
    }
}

/// The model in force, its policy and install version.
pub struct Active {
    pub model: fraud::Model,
    pub policy: Policy,
    pub version: u64,
}

/// Shared between the authorizer and the API that swaps it; `None` until one is installed.
pub type SharedModel = Arc<RwLock<Option<Arc<Active>>>>;

/// What is kept in meta and accepted by `PUT /v1/risk/model`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredModel {
    pub model: fraud::model::ModelFile,
    #[serde(default)]
    pub policy: Policy,
    #[serde(default)]
    pub version: u64,
}

impl StoredModel {
    /// Checks the file against the store configuration the host runs with.
    pub fn activate(self, config: &risk::StoreConfig) -> Result<Active, fraud::ModelError> {
        if let Some(d) = self.policy.decline_at
            && d < self.policy.review_at
        {
            return Err(fraud::ModelError::Invalid(
                "decline_at is below review_at".into(),
            ));
        }
        Ok(Active {
            model: fraud::Model::from_file(self.model, config)?,
            policy: self.policy,
            version: self.version,
        })
    }
}

fn severity(score: u16, policy: &Policy) -> Severity {
    match policy.decline_at {
        Some(d) if score >= d => Severity::Critical,
        _ if score >= policy.review_at => Severity::High,
        _ => Severity::Low,
    }
}

/// Scores the transaction and folds the model's verdict into the rules' decision.
pub fn combine(active: &Active, facts: &TxnFacts, features: &Features, d: &mut Decision) {
    let scored = active.model.score(facts, features);
    let score = u16::try_from(scored.score).unwrap_or(u16::MAX);
    let policy = &active.policy;
    d.score = d.score.max(score);
    if policy.decline_at.is_some_and(|at| score >= at) {
        if !matches!(d.action, Action::Decline(_)) {
            d.action = Action::Decline(MODEL_DECLINE_CODE);
        }
    } else if score >= policy.review_at && d.action == Action::Approve {
        d.action = Action::Review;
    }
    // The explanation goes with every decision that raises an alert (the model's own
    // review or decline, or the rules'), so the analyst sees it; approvals stay lean.
    let alerted = d.action != Action::Approve
        || d.reasons
            .iter()
            .any(|r| r.severity >= super::ALERT_SEVERITY_MIN);
    if score < policy.review_at && !alerted {
        return;
    }
    let version = u32::try_from(active.version).unwrap_or(u32::MAX);
    let sev = severity(score, policy);
    d.reasons.push(Reason {
        rule_id: REASON_PREFIX.into(),
        version,
        severity: sev,
        contribution: score,
    });
    for c in scored.top.iter().filter(|c| c.contribution > 0.0) {
        d.reasons.push(Reason {
            rule_id: format!("{REASON_PREFIX}:{}", c.input).into(),
            version,
            severity: sev,
            // Log-odds times 100 on the 0..=1000 scale: "how much this input pushed".
            contribution: (c.contribution * 100.0).round().clamp(0.0, 1000.0) as u16,
        });
        d.tags
            .push(format!("{REASON_PREFIX}:{}={:.4}", c.input, c.value));
    }
}

impl super::RiskHandle {
    /// Puts the model installed earlier (meta `risk_model`, if any) in force at start.
    pub fn with_model(self, stored: Option<&str>) -> Result<Self, crate::StartError> {
        let Some(json) = stored else {
            return Ok(self);
        };
        let fail = |why: String| crate::StartError::Risk(why);
        let active = serde_json::from_str::<StoredModel>(json)
            .map_err(|e| fail(format!("the installed model does not parse: {e}")))?
            .activate(&self.store_config)
            .map_err(|e| fail(format!("the installed model: {e}")))?;
        *self.model.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(active));
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One tree on TX_AMOUNT: above 100.00 the log-odds go from -5 to +5.
    fn active(decline_at: Option<u16>) -> Active {
        let file = serde_json::json!({
            "format": "posguard-fraud-model", "version": 1, "family": "gbdt",
            "inputs": [{"name": "TX_AMOUNT", "mean": 0.0, "std": 1.0}],
            "store": {"windows_ms": [], "delayed_windows_ms": [], "label_delay_ms": 604800000},
            "params": {"trees": 1, "max_depth": 1, "learning_rate": 1.0, "lambda": 0.0,
                "min_child_hessian": 0.0, "min_split_gain": 0.0, "bins": 16,
                "subsample": 1.0, "colsample": 1.0, "seed": 0},
            "training": {"from": "2018-07-25", "to": "2018-07-31", "rows": 2, "frauds": 1},
            "ensemble": {"base": -5.0, "trees": [[
                {"f": 0, "t": 100.0, "l": 1, "r": 2, "v": 0.0},
                {"f": -1, "t": 0.0, "l": 0, "r": 0, "v": 0.0},
                {"f": -1, "t": 0.0, "l": 0, "r": 0, "v": 10.0}]]}
        });
        let stored = StoredModel {
            model: serde_json::from_value(file).unwrap(),
            policy: Policy {
                review_at: 500,
                decline_at,
            },
            version: 7,
        };
        stored.activate(&risk::StoreConfig::default()).unwrap()
    }

    fn approved() -> Decision {
        Decision {
            score: 0,
            action: Action::Approve,
            reasons: Vec::new(),
            shadow_hits: Vec::new(),
            tags: Vec::new(),
            errors: Vec::new(),
            rule_set_version: 1,
        }
    }

    fn ids(d: &Decision) -> Vec<String> {
        d.reasons.iter().map(|r| r.rule_id.to_string()).collect()
    }

    #[test]
    fn the_model_reviews_declines_and_explains_every_alert() {
        let features = Features::default();
        let small = TxnFacts::purchase(0, 5_000);
        let big = TxnFacts::purchase(0, 20_000);

        let mut d = approved();
        combine(&active(None), &small, &features, &mut d);
        assert_eq!((d.action, d.score), (Action::Approve, 7));
        assert!(
            d.reasons.is_empty(),
            "a quiet approval carries no model reasons"
        );

        let mut d = approved();
        combine(&active(None), &big, &features, &mut d);
        assert_eq!((d.action, d.score), (Action::Review, 993));
        assert_eq!(ids(&d), ["model", "model:TX_AMOUNT"]);

        let mut d = approved();
        combine(&active(Some(900)), &big, &features, &mut d);
        assert_eq!(d.action, Action::Decline(ResponseCode::SuspectedFraud));

        // The rules reviewed a small amount: the alert still shows the model's view.
        let mut d = approved();
        d.action = Action::Review;
        d.score = 300;
        combine(&active(None), &small, &features, &mut d);
        assert_eq!((d.action, d.score), (Action::Review, 300));
        assert_eq!(ids(&d)[0], "model");
        assert_eq!(d.reasons[0].contribution, 7);
    }

    #[test]
    fn a_decline_threshold_below_the_review_threshold_is_refused() {
        let a = active(None);
        let stored = StoredModel {
            model: a.model.file().clone(),
            policy: Policy {
                review_at: 500,
                decline_at: Some(400),
            },
            version: 1,
        };
        assert!(stored.activate(&risk::StoreConfig::default()).is_err());
    }
}
