//! An evaluation end to end: replay a history once, then for each split train on its
//! training period, score its test period and measure.

use serde::Serialize;

use risk::features::config::MS_PER_DAY;
use risk::{LabelledTxn, StoreConfig};

use crate::dataset::{self, Replayed};
use crate::error::TrainError;
use crate::gbdt::Params;
use crate::inputs::Inputs;
use crate::model::{Model, TrainSpec, Training};
use crate::protocol::{Metrics, Split};

/// How far an evaluation has got, for a progress line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Transactions replayed of the total.
    Replay { done: usize, total: usize },
    /// Trees trained in split `split` of `splits`.
    Train {
        split: usize,
        splits: usize,
        trees: usize,
        of: usize,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct SplitReport {
    pub split: Split,
    pub train_rows: usize,
    pub train_frauds: usize,
    pub test_rows: usize,
    pub test_frauds: usize,
    #[serde(flatten)]
    pub metrics: Metrics,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The mean over the splits (the one split's values for chapter 3.4).
    #[serde(flatten)]
    pub metrics: Metrics,
    pub protocol: &'static str,
    pub splits: Vec<SplitReport>,
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("feature store: {0}")]
    Store(#[from] risk::ConfigError),
    #[error("training: {0}")]
    Train(#[from] TrainError),
}

/// A calendar day `YYYY-MM-DD` of a day index from `origin_day`.
pub fn date_of(origin_day: i64, day: i64) -> String {
    sim::CivilDate::from_days_since_epoch(origin_day + day).to_string()
}

/// Trains one split's model on `data`.
pub fn train_split(
    data: &Replayed,
    split: &Split,
    inputs: &Inputs,
    store: &StoreConfig,
    params: &Params,
    origin_day: i64,
    progress: &mut dyn FnMut(usize),
) -> Result<(Model, Vec<usize>), TrainError> {
    let rows = split.train_rows(data);
    let y: Vec<bool> = data.rows.iter().map(|r| r.fraud).collect();
    let training = Training {
        from: date_of(origin_day, split.train_start_day),
        to: date_of(origin_day, split.train_start_day + split.delta_train - 1),
        rows: rows.len(),
        frauds: rows.iter().filter(|&&r| y[r]).count(),
    };
    let spec = TrainSpec {
        inputs,
        store,
        params,
        training,
    };
    let model = Model::train(spec, &data.x, &y, &rows, progress)?;
    Ok((model, rows))
}

/// The days of `history` any of `splits` needs rows for.
fn needed(splits: &[Split]) -> impl Fn(i64) -> bool + '_ {
    move |day| splits.iter().any(|s| s.is_train(day) || s.is_test(day))
}

/// Origin day (days since the epoch) of a history whose first transaction is on day 0.
pub fn origin_day(history: &[LabelledTxn]) -> i64 {
    history
        .first()
        .map_or(0, |h| h.event.time_ms.div_euclid(MS_PER_DAY))
}

pub struct EvalSpec<'a> {
    pub splits: Vec<Split>,
    pub protocol: &'static str,
    pub inputs: &'a Inputs,
    pub store: StoreConfig,
    pub params: &'a Params,
    pub origin_day: i64,
}

/// Runs the evaluation; returns the report and the model of the last split (the latest
/// training period for the prequential protocol's first fold).
pub fn evaluate(
    history: &[LabelledTxn],
    spec: &EvalSpec<'_>,
    progress: &mut dyn FnMut(Stage),
) -> Result<(Report, Model), EvalError> {
    let total = history.len();
    let data = dataset::replay(
        history,
        spec.origin_day,
        spec.inputs,
        spec.store.clone(),
        needed(&spec.splits),
        &mut |done| progress(Stage::Replay { done, total }),
    )?;
    let mut reports = Vec::new();
    let mut first_model = None;
    let splits = spec.splits.len();
    for (k, split) in spec.splits.iter().enumerate() {
        let of = spec.params.trees as usize;
        let (mut model, train) = train_split(
            &data,
            split,
            spec.inputs,
            &spec.store,
            spec.params,
            spec.origin_day,
            &mut |trees| {
                progress(Stage::Train {
                    split: k,
                    splits,
                    trees,
                    of,
                })
            },
        )?;
        let test = split.test_rows(&data);
        let scores: Vec<f64> = test
            .iter()
            .map(|&i| model.probability(data.x.row(i)))
            .collect();
        let metrics = Metrics::of(&data, &test, &scores);
        model.set_metrics(metrics);
        reports.push(SplitReport {
            split: *split,
            train_rows: train.len(),
            train_frauds: train.iter().filter(|&&i| data.rows[i].fraud).count(),
            test_rows: test.len(),
            test_frauds: test.iter().filter(|&&i| data.rows[i].fraud).count(),
            metrics,
        });
        first_model.get_or_insert(model);
    }
    let all: Vec<Metrics> = reports.iter().map(|r| r.metrics).collect();
    let report = Report {
        metrics: Metrics::mean(&all),
        protocol: spec.protocol,
        splits: reports,
    };
    // At least one split ran when `splits` is not empty; otherwise there is no model.
    let model = first_model.ok_or(TrainError::Empty)?;
    Ok((report, model))
}
