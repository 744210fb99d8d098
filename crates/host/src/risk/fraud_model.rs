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
    if score < policy.review_at {
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
