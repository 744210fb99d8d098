//! Risk control in the authorization path (issue 4): the `risk` crate's streaming
//! features and rules, plugged into the engine as its [`engine::RiskHook`]. Every
//! recorded transaction is observed and scored; the decision is stored with it; a review
//! or decline (or a high-severity hit) raises an alert, grouped into a case per card
//! (or per terminal when there is no card).
//!
//! Runs on the authorizer thread and does no I/O: its writes commit in the
//! transaction's own batch. Rule sets are swapped through a shared pointer (no restart);
//! case steps run on the authorizer thread through the pipeline.

mod cases;
mod facts;
pub use facts::entry_mode;
pub mod fraud_model;
pub mod packs;

pub use cases::{CaseState, CaseStep, CaseStepError};

use engine::{RiskHook, RiskInput, RiskVerdict};
use model::{FraudLabel, ResponseCode, RiskDecision, RuleHit, TimestampMs, TxnKind};
use model::{TxnContext, TxnRecord, TxnStatus, Write};
use risk::{Action, Decision, FeatureStore, Interner, RiskEvent, RuleSet, Schema, Severity};
use std::sync::{Arc, RwLock};

/// The rule set in force, shared between the authorizer and the API that swaps it.
pub type SharedRules = Arc<RwLock<Arc<RuleSet>>>;

/// Tells the outside world (webhooks) about alerts and case changes; never blocks.
pub type Notify = Arc<dyn Fn(&str, serde_json::Value) + Send + Sync>;

/// What happens when risk control itself cannot decide (an internal failure, or an
/// active rule that failed at run time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    /// Decide without risk control (the issuer's checks still apply) and raise an alert.
    Open,
    /// Decline 96 (system malfunction).
    Closed,
}

/// Field 39 of a fail-closed decline.
const FAIL_CLOSED_CODE: ResponseCode = ResponseCode::SystemMalfunction;
/// A decision raises an alert when it reviews or declines, or when an active rule of at
/// least this severity fired.
const ALERT_SEVERITY_MIN: Severity = Severity::High;

pub struct RiskControl {
    features: FeatureStore,
    rules: SharedRules,
    cards: Interner,
    terminals: Interner,
    merchants: Interner,
    operators: Interner,
    fail: FailMode,
    offset_minutes: i32,
    cases: cases::CaseBook,
    notify: Option<Notify>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    /// Registered areas of mobile terminals, by terminal id.
    areas: std::collections::HashMap<String, risk::GeoArea>,
    /// The fraud model in force, if any (swapped by the API like the rules).
    model: fraud_model::SharedModel,
}

/// Meta key prefix of a terminal's registered area (`terminal_area:<id>`, JSON).
pub const AREA_META_PREFIX: &str = "terminal_area:";

/// A mobile terminal's registered area as the API and meta hold it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Area {
    pub lat_e6: i32,
    pub lon_e6: i32,
    pub radius_m: u32,
}

impl Area {
    pub fn geo(&self) -> Option<risk::GeoArea> {
        Some(risk::GeoArea {
            center: risk::GeoPoint::new(self.lat_e6, self.lon_e6)?,
            radius_m: self.radius_m,
        })
    }
}

impl RiskControl {
    pub fn new(
        features: FeatureStore,
        rules: SharedRules,
        fail: FailMode,
        offset_minutes: i32,
        snapshot_state: cases::CaseState,
    ) -> RiskControl {
        RiskControl {
            features,
            rules,
            cards: Interner::new(),
            terminals: Interner::new(),
            merchants: Interner::new(),
            operators: Interner::new(),
            fail,
            offset_minutes,
            cases: cases::CaseBook::new(snapshot_state),
            notify: None,
            metrics: None,
            areas: Default::default(),
            model: Default::default(),
        }
    }

    /// Scores with the model in `model` (whatever it holds when a transaction comes).
    pub fn set_model(&mut self, model: fraud_model::SharedModel) {
        self.model = model;
    }

    /// Registers (or, with None, forgets) a terminal's area.
    pub fn set_area(&mut self, terminal: &str, area: Option<risk::GeoArea>) {
        match area {
            Some(a) => self.areas.insert(terminal.to_owned(), a),
            None => self.areas.remove(terminal),
        };
    }

    pub fn set_notify(&mut self, notify: Notify) {
        self.notify = Some(notify);
    }

    pub fn set_metrics(&mut self, metrics: Arc<crate::metrics::Metrics>) {
        self.metrics = Some(metrics);
    }

    /// Replays recorded history into the features (the same `observe` as live), with
    /// each transaction's recorded context (entry mode, position, operator), then the
    /// labels known so far: after a restart the windows have no gap.
    pub fn replay<'a>(
        &mut self,
        txns: impl Iterator<Item = &'a TxnRecord>,
        contexts: &[TxnContext],
        labels: &[FraudLabel],
    ) {
        debug_assert!(contexts.is_sorted_by_key(|c| c.txn_id));
        let mut contexts = contexts.iter().peekable();
        for txn in txns {
            while contexts.next_if(|c| c.txn_id < txn.id).is_some() {}
            let context = contexts.next_if(|c| c.txn_id == txn.id);
            if let Some(event) = self.recorded_event(txn, context) {
                self.features.observe(&event);
            }
        }
        for label in labels {
            self.label(label);
        }
    }

    /// The feature store's event for a transaction described by `facts`.
    fn event(
        &mut self,
        txn: &TxnRecord,
        facts: &risk::TxnFacts,
        operator: Option<&str>,
    ) -> Option<RiskEvent> {
        let card = txn.card_token.as_ref().map_or("-", |c| c.0.as_str());
        let mut event = RiskEvent::from_facts(
            txn.id.0,
            risk::CardKey(self.cards.intern(card)?),
            risk::TerminalKey(self.terminals.intern(&txn.terminal_id.0)?),
            risk::MerchantKey(self.merchants.intern(&txn.merchant_id.0)?),
            facts,
        );
        event.operator = match operator {
            Some(o) => Some(risk::OperatorKey(self.operators.intern(o)?)),
            None => None,
        };
        event.declined = txn.status == TxnStatus::Declined;
        Some(event)
    }

    /// The event of a recorded transaction and its context (replays: no party
    /// attributes needed; the terminal's registered area as it is now).
    fn recorded_event(
        &mut self,
        txn: &TxnRecord,
        context: Option<&TxnContext>,
    ) -> Option<RiskEvent> {
        let mut facts = facts::of_record(txn, None, None, None, self.offset_minutes);
        facts.terminal_home = self.areas.get(&txn.terminal_id.0).copied();
        if let Some(c) = context {
            facts::add_context(&mut facts, c);
        }
        self.event(txn, &facts, context.and_then(|c| c.operator.as_deref()))
    }

    fn rules(&self) -> Arc<RuleSet> {
        self.rules.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Features and rules for one transaction; `None` when risk control itself failed.
    fn decide(&mut self, input: &RiskInput<'_>) -> Option<Decision> {
        let mut facts = facts::of(input, self.offset_minutes);
        facts.terminal_home = self.areas.get(&input.txn.terminal_id.0).copied();
        facts.location = input
            .request
            .location
            .and_then(|(lat, lon)| risk::GeoPoint::new(lat, lon));
        let mut event = self.event(input.txn, &facts, input.request.operator.as_deref())?;
        event.declined = false;
        let rules = self.rules();
        let active = self.model.read().unwrap_or_else(|e| e.into_inner()).clone();
        let features = &mut self.features;
        let decided = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let features = features.observe(&event);
            let mut decision = risk::evaluate(&rules, &facts, &features);
            if let Some(active) = &active {
                fraud_model::combine(active, &facts, &features, &mut decision);
            }
            decision
        }));
        match decided {
            Ok(decision) => Some(decision),
            Err(_) => {
                tracing::error!(txn = %input.txn.id, "risk control failed on a transaction");
                None
            }
        }
    }

    /// Runs a case step (assign, comment, escalate, close) on the authorizer thread.
    pub fn case_step(
        &mut self,
        step: CaseStep,
        now: TimestampMs,
        out: &mut Vec<Write>,
    ) -> Result<model::Case, CaseStepError> {
        let (case, labels) = self.cases.step(step, now, out)?;
        for label in &labels {
            self.label(label);
        }
        out.extend(labels.into_iter().map(Write::Label));
        self.notify(
            "case.updated",
            serde_json::to_value(&case).unwrap_or_default(),
        );
        Ok(case)
    }

    fn notify(&self, kind: &str, payload: serde_json::Value) {
        if let Some(notify) = &self.notify {
            notify(kind, payload);
        }
    }
}

/// Kinds risk control may decline: those whose money has not moved yet. An offline
/// advice (the goods are gone), a void or a reversal is scored and alerted, never
/// declined by risk.
fn declinable(txn: &TxnRecord) -> bool {
    !txn.offline
        && matches!(
            txn.kind,
            TxnKind::Purchase
                | TxnKind::PreAuth
                | TxnKind::Completion
                | TxnKind::Refund
                | TxnKind::Balance
        )
}

/// What the terminal said about the transaction's circumstances, kept so that a replay
/// after a restart computes the same features. An ordinary card-present read (chip or
/// contactless, what a replay assumes when there is no context) is not kept: most sales
/// then write no context row at all.
fn context_of(input: &RiskInput<'_>) -> TxnContext {
    let entry_mode = input
        .request
        .card
        .as_ref()
        .and_then(|c| c.entry_mode.as_deref())
        .filter(|m| {
            !matches!(
                facts::entry_mode(Some(m)),
                risk::EntryMode::Chip | risk::EntryMode::Contactless
            )
        });
    TxnContext {
        txn_id: input.txn.id,
        entry_mode: entry_mode.map(str::to_owned),
        location: input.request.location,
        operator: input.request.operator.clone(),
    }
}

fn hits(reasons: &[risk::Reason]) -> Vec<RuleHit> {
    reasons
        .iter()
        .map(|r| RuleHit {
            rule_id: r.rule_id.to_string(),
            version: r.version,
            severity: r.severity.as_str().to_owned(),
            score: r.contribution,
            error: None,
        })
        .collect()
}

impl RiskHook for RiskControl {
    fn assess(
        &mut self,
        input: &RiskInput<'_>,
        now: TimestampMs,
        out: &mut Vec<Write>,
    ) -> RiskVerdict {
        let decision = self.decide(input);
        let failed = decision.as_ref().is_none_or(|d| d.active_rule_failed());
        let mut verdict = RiskVerdict::Pass;
        let (action, code) = match (&decision, failed, self.fail) {
            (_, true, FailMode::Closed) => ("decline", Some(FAIL_CLOSED_CODE)),
            (Some(d), _, _) => match d.action {
                Action::Approve => ("approve", None),
                Action::Review => ("review", None),
                Action::Decline(code) => ("decline", Some(code)),
            },
            (None, _, _) => ("review", None),
        };
        let declined_here = code.is_some() && declinable(input.txn) && input.would_approve;
        if let (true, Some(code)) = (declined_here, code) {
            verdict = RiskVerdict::Decline(code);
        }
        let record = RiskDecision {
            txn_id: input.txn.id,
            score: decision.as_ref().map_or(0, |d| d.score),
            action: action.to_owned(),
            response_code: code.filter(|_| declined_here).map(|c| c.iso().to_owned()),
            reasons: decision
                .as_ref()
                .map_or_else(Vec::new, |d| hits(&d.reasons)),
            shadow_hits: decision
                .as_ref()
                .map_or_else(Vec::new, |d| hits(&d.shadow_hits)),
            errors: decision.as_ref().map_or_else(Vec::new, |d| {
                d.errors
                    .iter()
                    .map(|f| RuleHit {
                        rule_id: f.rule_id.to_string(),
                        version: f.version,
                        severity: f.severity.as_str().to_owned(),
                        score: 0,
                        error: Some(f.error.to_string()),
                    })
                    .collect()
            }),
            tags: decision.as_ref().map_or_else(Vec::new, |d| d.tags.clone()),
            rule_set_version: decision.as_ref().map_or(0, |d| d.rule_set_version),
            engine_failed: decision.is_none(),
            decided_ms: now,
        };
        let severe = decision
            .as_ref()
            .is_some_and(|d| d.reasons.iter().any(|r| r.severity >= ALERT_SEVERITY_MIN));
        let alerted = action != "approve" || severe || failed;
        if let Some(m) = &self.metrics {
            m.risk_decided(action, alerted, decision.is_none());
        }
        if alerted {
            let severity = decision
                .as_ref()
                .and_then(|d| d.reasons.iter().map(|r| r.severity).max())
                .unwrap_or(Severity::High);
            let alert = self.cases.raise(input.txn, &record, severity, now, out);
            self.notify(
                "alert.created",
                serde_json::to_value(&alert).unwrap_or_default(),
            );
        }
        out.push(Write::Decision(Box::new(record)));
        let context = context_of(input);
        if !context.is_empty() {
            out.push(Write::TxnContext(context));
        }
        verdict
    }

    fn recorded(&mut self, txn: &TxnRecord) {
        if txn.status == TxnStatus::Declined {
            self.features.record_decline(txn.id.0);
        }
    }

    fn label(&mut self, label: &FraudLabel) {
        self.features.label(risk::Label {
            txn_id: label.txn_id.0,
            fraud: label.fraud,
            known_at_ms: Some(label.at_ms),
        });
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// Meta key of the rule set a risk officer installed (JSON: `StoredRules`); absent, the
/// shipped packs are in force.
pub const RULES_META_KEY: &str = "risk_rules";

/// A rule set as installed through the API: its version and its `.rules` files.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct StoredRules {
    pub version: u64,
    pub files: Vec<(String, String)>,
}

/// What the API needs to check and swap rule sets.
#[derive(Clone)]
pub struct RiskHandle {
    pub rules: SharedRules,
    pub schema: Arc<Schema>,
    /// The files of the set in force (shipped or installed).
    pub files: Arc<RwLock<StoredRules>>,
    /// The fraud model in force, and the store configuration models are checked against.
    pub model: fraud_model::SharedModel,
    pub store_config: risk::StoreConfig,
}

/// What the store holds for risk control at a start.
#[derive(Default)]
pub struct Stored {
    /// The installed rule set (`RULES_META_KEY`), if any.
    pub rules: Option<String>,
    pub cases: CaseState,
    pub labels: Vec<FraudLabel>,
    /// Recorded transactions' contexts, in txn id order.
    pub contexts: Vec<TxnContext>,
    /// Registered areas (`AREA_META_PREFIX` meta rows).
    pub areas: Vec<(String, String)>,
}

/// Builds risk control for a start: the installed rule set (or the shipped packs),
/// features replayed from the recorded history, contexts and labels, and puts it in
/// the engine.
pub fn start(
    engine: &mut engine::Engine,
    config: &crate::Config,
    stored: Stored,
    notify: Notify,
    metrics: Arc<crate::metrics::Metrics>,
) -> Result<RiskHandle, crate::StartError> {
    let fail = |why: String| crate::StartError::Risk(why);
    let features =
        FeatureStore::new(risk::StoreConfig::default()).map_err(|e| fail(e.to_string()))?;
    let schema = Arc::new(schema(&features));
    let files = match stored.rules.as_deref() {
        Some(json) => serde_json::from_str::<StoredRules>(json)
            .map_err(|e| fail(format!("the installed rule set does not parse: {e}")))?,
        None => StoredRules {
            version: 1,
            files: packs::SHIPPED
                .iter()
                .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
                .collect(),
        },
    };
    let texts: Vec<(&str, &str)> = files
        .files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let set =
        RuleSet::from_texts(files.version, &texts, &schema).map_err(|e| fail(e.to_string()))?;
    let rules: SharedRules = Arc::new(RwLock::new(Arc::new(set)));
    let offset = i32::try_from(config.utc_offset_minutes).unwrap_or(0);
    let mut control = RiskControl::new(
        features,
        rules.clone(),
        config.risk.fail,
        offset,
        stored.cases,
    );
    // Areas first: replayed positions are measured from the registered centre.
    for (key, json) in &stored.areas {
        let terminal = key.strip_prefix(AREA_META_PREFIX).unwrap_or(key);
        match serde_json::from_str::<Area>(json)
            .ok()
            .and_then(|a| a.geo())
        {
            Some(area) => control.set_area(terminal, Some(area)),
            None => tracing::error!(%terminal, "load a terminal's registered area"),
        }
    }
    control.replay(engine.txns(), &stored.contexts, &stored.labels);
    control.set_notify(notify);
    control.set_metrics(metrics);
    let shared_model = fraud_model::SharedModel::default();
    control.set_model(shared_model.clone());
    engine.set_risk(Box::new(control));
    Ok(RiskHandle {
        rules,
        schema,
        files: Arc::new(RwLock::new(files)),
        model: shared_model,
        store_config: risk::StoreConfig::default(),
    })
}

/// A stored history as a back-test replays it: every transaction with its facts and
/// whether it was labelled fraud (the newest label counts), in id order.
pub fn history(snapshot: &model::Snapshot, offset_minutes: i32) -> Vec<risk::LabelledTxn> {
    use std::collections::HashMap;
    let cards: HashMap<_, _> = snapshot.cards.iter().map(|c| (&c.token, c)).collect();
    let terminals: HashMap<_, _> = snapshot.terminals.iter().map(|t| (&t.id, t)).collect();
    let merchants: HashMap<_, _> = snapshot.merchants.iter().map(|m| (&m.id, m)).collect();
    let by_id: HashMap<_, _> = snapshot.txns.iter().map(|t| (t.id, t)).collect();
    let contexts: HashMap<_, _> = snapshot
        .txn_contexts
        .iter()
        .map(|c| (c.txn_id, c))
        .collect();
    let mut fraud: HashMap<u64, bool> = HashMap::new();
    for label in &snapshot.labels {
        fraud.insert(label.txn_id.0, label.fraud);
    }
    let mut keys = RiskControl::new(
        FeatureStore::new(risk::StoreConfig::default())
            .expect("the default configuration is valid"),
        Arc::new(RwLock::new(Arc::new(
            RuleSet::from_texts(0, &[], &Schema::new(&risk::StoreConfig::default()))
                .expect("an empty set loads"),
        ))),
        FailMode::Open,
        offset_minutes,
        CaseState::default(),
    );
    snapshot
        .txns
        .iter()
        .filter_map(|txn| {
            let card = txn.card_token.as_ref().and_then(|t| cards.get(t).copied());
            let facts = facts::of_record(
                txn,
                card,
                terminals.get(&txn.terminal_id).copied(),
                merchants.get(&txn.merchant_id).copied(),
                offset_minutes,
            );
            let context = contexts.get(&txn.id).copied();
            let mut facts = facts;
            let original = txn.original_id.and_then(|id| by_id.get(&id).copied());
            facts::add_original(&mut facts, txn, original);
            if let Some(c) = context {
                facts::add_context(&mut facts, c);
            }
            let event = keys.event(txn, &facts, context.and_then(|c| c.operator.as_deref()))?;
            Some(risk::LabelledTxn {
                event,
                facts,
                fraud: fraud.get(&txn.id.0).copied().unwrap_or(false),
            })
        })
        .collect()
}

/// The schema rules are checked against, for a feature store configuration.
pub fn schema(features: &FeatureStore) -> Schema {
    Schema::new(features.config())
}

#[cfg(test)]
mod tests;
