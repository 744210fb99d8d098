//! Training data: a labelled history replayed through the feature store (the same
//! `observe` as the live path), with each kept transaction's inputs.

use std::collections::{HashMap, HashSet};

use risk::features::config::MS_PER_DAY;
use risk::{FeatureStore, Label, LabelledTxn, StoreConfig};

use crate::gbdt::Matrix;
use crate::inputs::Inputs;

/// Which transaction a row of [`Replayed::x`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    pub txn_id: u64,
    /// Days since the history's day 0.
    pub day: i64,
    pub card: u32,
    pub fraud: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Replayed {
    pub rows: Vec<Row>,
    /// Inputs of each row, raw (not scaled).
    pub x: Matrix,
    /// Cards with a fraud on each day, over the whole history.
    pub fraud_cards: HashMap<i64, HashSet<u32>>,
}

/// Progress is reported every this many transactions.
pub const PROGRESS_EVERY_TXNS: usize = 100_000;

/// Replays `history` (in time order) through a feature store with `config`. Every fraud
/// label becomes known after the store's label delay (the Handbook's assumption). Rows
/// are kept for the days `keep` accepts; `origin_day` is day 0 in days since the epoch.
pub fn replay(
    history: &[LabelledTxn],
    origin_day: i64,
    inputs: &Inputs,
    config: StoreConfig,
    keep: impl Fn(i64) -> bool,
    progress: &mut dyn FnMut(usize),
) -> Result<Replayed, risk::ConfigError> {
    let mut store = FeatureStore::new(config)?;
    let mut out = Replayed {
        x: Matrix::new(inputs.len()),
        ..Replayed::default()
    };
    let mut v = Vec::with_capacity(inputs.len());
    for (i, h) in history.iter().enumerate() {
        let features = store.observe(&h.event);
        let day = h.event.time_ms.div_euclid(MS_PER_DAY) - origin_day;
        if keep(day) {
            inputs.vector_into(&h.facts, &features, &mut v);
            out.x.push(&v);
            out.rows.push(Row {
                txn_id: h.event.txn_id,
                day,
                card: h.event.card.0,
                fraud: h.fraud,
            });
        }
        if h.fraud {
            out.fraud_cards
                .entry(day)
                .or_default()
                .insert(h.event.card.0);
            store.label(Label {
                txn_id: h.event.txn_id,
                fraud: true,
                known_at_ms: None,
            });
        }
        if (i + 1) % PROGRESS_EVERY_TXNS == 0 {
            progress(i + 1);
        }
    }
    progress(history.len());
    Ok(out)
}
