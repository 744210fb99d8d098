//! Rules against a labelled history, replayed through the same feature store that
//! scores live traffic.

use crate::event::Label;
use crate::features::{ConfigError, FeatureStore, StoreConfig};
use crate::handbook::LabelledTxn;
use crate::rules::{Mode, RuleSet, evaluate};

#[derive(Clone, Debug, PartialEq)]
pub struct RuleStats {
    pub rule_id: String,
    pub version: u32,
    pub mode: Mode,
    pub hits: u64,
    /// Hits on transactions labelled fraud.
    pub fraud_hits: u64,
    pub errors: u64,
    /// hits / transactions.
    pub hit_rate: f64,
    /// fraud hits / hits; 0 when the rule never fired.
    pub precision: f64,
    /// fraud hits / frauds; 0 when there are no frauds.
    pub recall: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BacktestReport {
    pub transactions: u64,
    pub frauds: u64,
    /// In rule-set order; shadow rules included.
    pub rules: Vec<RuleStats>,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Replays `history` in time order (stable for equal times). Each fraud label becomes
/// known `label_delay_ms` after its transaction, as in the Handbook, so delayed features
/// see exactly what a live system would have seen.
pub fn backtest(
    rules: &RuleSet,
    config: StoreConfig,
    history: &[LabelledTxn],
) -> Result<BacktestReport, ConfigError> {
    let mut store = FeatureStore::new(config)?;
    let mut order: Vec<usize> = (0..history.len()).collect();
    order.sort_by_key(|&i| history[i].event.time_ms);
    let n = rules.rules().len();
    let (mut hits, mut fraud_hits, mut errors) = (vec![0u64; n], vec![0u64; n], vec![0u64; n]);
    let index = |id: &str| rules.rules().iter().position(|r| &*r.id == id);
    let mut frauds = 0;
    for i in order {
        let h = &history[i];
        let features = store.observe(&h.event);
        let d = evaluate(rules, &h.facts, &features);
        for r in d.reasons.iter().chain(&d.shadow_hits) {
            if let Some(k) = index(&r.rule_id) {
                hits[k] += 1;
                fraud_hits[k] += u64::from(h.fraud);
            }
        }
        for f in &d.errors {
            if let Some(k) = index(&f.rule_id) {
                errors[k] += 1;
            }
        }
        if h.fraud {
            frauds += 1;
            store.label(Label {
                txn_id: h.event.txn_id,
                fraud: true,
                known_at_ms: None,
            });
        }
    }
    let total = history.len() as u64;
    let stats = rules
        .rules()
        .iter()
        .enumerate()
        .map(|(k, r)| RuleStats {
            rule_id: r.id.to_string(),
            version: r.version,
            mode: r.mode,
            hits: hits[k],
            fraud_hits: fraud_hits[k],
            errors: errors[k],
            hit_rate: ratio(hits[k], total),
            precision: ratio(fraud_hits[k], hits[k]),
            recall: ratio(fraud_hits[k], frauds),
        })
        .collect();
    Ok(BacktestReport {
        transactions: total,
        frauds,
        rules: stats,
    })
}
