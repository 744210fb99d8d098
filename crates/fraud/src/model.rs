//! The model file (versioned JSON) and the model as scoring uses it.
//!
//! A file names its inputs (with the standardisation fitted on the training rows), the
//! feature-store windows it was trained with, the training settings and period, its
//! metrics when it was evaluated, and the trees. Loading checks everything scoring relies
//! on against the store it will run with: an unknown input, a window the store does not
//! keep or a different label delay is an error, never a silent zero.

use serde::{Deserialize, Serialize};

use risk::{Features, StoreConfig, TxnFacts};

use crate::error::{ModelError, TrainError};
use crate::gbdt::{self, Ensemble, Matrix, Params, Progress, sigmoid};
use crate::inputs::Inputs;
use crate::protocol::Metrics;

pub const FORMAT: &str = "posguard-fraud-model";
pub const VERSION: u32 = 1;
/// Inputs named with each score: the ones that moved it most.
pub const TOP_INPUTS: usize = 3;
/// A model's probability maps to the rules' 0..=1000 scale.
pub const SCORE_SCALE: f64 = 1000.0;

/// One input and its standardisation: the model sees `(x - mean) / std`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub name: String,
    pub mean: f64,
    pub std: f64,
}

/// The store windows the model was trained with (for the record; loading resolves the
/// inputs against the running store's own configuration).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreWindows {
    pub windows_ms: Vec<i64>,
    pub delayed_windows_ms: Vec<i64>,
    pub label_delay_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Training {
    /// First and last day of the training period, `YYYY-MM-DD`.
    pub from: String,
    pub to: String,
    pub rows: usize,
    pub frauds: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    pub format: String,
    pub version: u32,
    /// "gbdt": gradient-boosted trees, logistic loss.
    pub family: String,
    pub inputs: Vec<InputSpec>,
    pub store: StoreWindows,
    pub params: Params,
    pub training: Training,
    /// Test metrics, when the model was trained by an evaluation.
    #[serde(default)]
    pub metrics: Option<Metrics>,
    pub ensemble: Ensemble,
}

/// An input's share of a score, in log-odds (positive: towards fraud).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    pub input: String,
    pub value: f64,
    pub contribution: f64,
}

/// A transaction's score: the probability of fraud, the same on the rules' 0..=1000
/// scale, and the inputs that moved it most.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    pub probability: f64,
    pub score: u32,
    pub top: Vec<Contribution>,
}

/// A model ready to score.
#[derive(Clone, Debug)]
pub struct Model {
    file: ModelFile,
    inputs: Inputs,
}

/// Mean and standard deviation (population, as scikit-learn's StandardScaler) of each
/// column of `rows`; a constant column gets 1 so it scales to 0.
fn standardisation(x: &Matrix, rows: &[usize]) -> Vec<(f64, f64)> {
    let n = rows.len().max(1) as f64;
    (0..x.cols)
        .map(|f| {
            let mean = rows.iter().map(|&r| x.row(r)[f]).sum::<f64>() / n;
            let var = rows
                .iter()
                .map(|&r| (x.row(r)[f] - mean).powi(2))
                .sum::<f64>()
                / n;
            let std = var.sqrt();
            (mean, if std > 0.0 { std } else { 1.0 })
        })
        .collect()
}

/// What `train` needs besides the rows.
pub struct TrainSpec<'a> {
    pub inputs: &'a Inputs,
    pub store: &'a StoreConfig,
    pub params: &'a Params,
    pub training: Training,
}

impl Model {
    /// Trains on rows `rows` of `x` (raw inputs) with labels `y` (one per row of `x`).
    pub fn train(
        spec: TrainSpec<'_>,
        x: &Matrix,
        y: &[bool],
        rows: &[usize],
        progress: Progress<'_>,
    ) -> Result<Model, TrainError> {
        let scale = standardisation(x, rows);
        let mut scaled = Matrix::new(x.cols);
        let mut labels = Vec::with_capacity(rows.len());
        let mut v = vec![0.0; x.cols];
        for &r in rows {
            for (f, (m, s)) in scale.iter().enumerate() {
                v[f] = (x.row(r)[f] - m) / s;
            }
            scaled.push(&v);
            labels.push(y[r]);
        }
        let ensemble = gbdt::train(&scaled, &labels, spec.params, progress)?;
        let file = ModelFile {
            format: FORMAT.into(),
            version: VERSION,
            family: "gbdt".into(),
            inputs: spec
                .inputs
                .names()
                .iter()
                .zip(&scale)
                .map(|(name, &(mean, std))| InputSpec {
                    name: name.clone(),
                    mean,
                    std,
                })
                .collect(),
            store: StoreWindows {
                windows_ms: spec.store.windows_ms.clone(),
                delayed_windows_ms: spec.store.delayed_windows_ms.clone(),
                label_delay_ms: spec.store.label_delay_ms,
            },
            params: spec.params.clone(),
            training: spec.training,
            metrics: None,
            ensemble,
        };
        Ok(Model {
            file,
            inputs: spec.inputs.clone(),
        })
    }

    /// Reads and checks a model file for a store with `config`.
    pub fn from_json(text: &str, config: &StoreConfig) -> Result<Model, ModelError> {
        let head: serde_json::Value = serde_json::from_str(text)?;
        let format = head.get("format").and_then(|f| f.as_str()).unwrap_or("");
        let version = head.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
        if format != FORMAT || version != u64::from(VERSION) {
            return Err(ModelError::Version {
                found: format.to_owned(),
                version: u32::try_from(version).unwrap_or(u32::MAX),
                expected: FORMAT,
                supported: VERSION,
            });
        }
        let file: ModelFile = serde_json::from_value(head)?;
        Model::from_file(file, config)
    }

    pub fn from_file(file: ModelFile, config: &StoreConfig) -> Result<Model, ModelError> {
        if file.family != "gbdt" {
            return Err(ModelError::Invalid(format!(
                "unknown family {:?}",
                file.family
            )));
        }
        if file.store.label_delay_ms != config.label_delay_ms {
            return Err(ModelError::Invalid(format!(
                "trained with a label delay of {} ms, the store has {} ms",
                file.store.label_delay_ms, config.label_delay_ms
            )));
        }
        let names: Vec<&str> = file.inputs.iter().map(|i| i.name.as_str()).collect();
        let inputs = Inputs::resolve(&names, config)?;
        let bad_scale = |i: &InputSpec| !(i.mean.is_finite() && i.std.is_finite() && i.std > 0.0);
        if let Some(i) = file.inputs.iter().find(|i| bad_scale(i)) {
            return Err(ModelError::Invalid(format!(
                "input {:?} has a bad scale",
                i.name
            )));
        }
        if file.ensemble.trees.len() > gbdt::TREES_MAX as usize {
            return Err(ModelError::Invalid("too many trees".into()));
        }
        file.ensemble
            .check(inputs.len())
            .map_err(ModelError::Invalid)?;
        Ok(Model { file, inputs })
    }

    pub fn to_json(&self) -> String {
        // Plain data with finite numbers: serialising cannot fail.
        serde_json::to_string(&self.file).unwrap_or_default()
    }

    pub fn file(&self) -> &ModelFile {
        &self.file
    }

    pub fn inputs(&self) -> &Inputs {
        &self.inputs
    }

    pub fn set_metrics(&mut self, m: Metrics) {
        self.file.metrics = Some(m);
    }

    fn scale(&self, raw: &[f64], out: &mut [f64]) {
        for ((o, x), s) in out.iter_mut().zip(raw).zip(&self.file.inputs) {
            *o = (x - s.mean) / s.std;
        }
    }

    /// Probability of fraud from raw inputs (as [`Inputs::vector`] computes them).
    pub fn probability(&self, raw: &[f64]) -> f64 {
        let mut x = vec![0.0; raw.len()];
        self.scale(raw, &mut x);
        sigmoid(self.file.ensemble.raw(&x))
    }

    /// Scores one transaction and names the inputs that moved its score most.
    pub fn score(&self, facts: &TxnFacts, features: &Features) -> Scored {
        let raw = self.inputs.vector(facts, features);
        self.score_raw(&raw)
    }

    pub fn score_raw(&self, raw: &[f64]) -> Scored {
        let mut x = vec![0.0; raw.len()];
        self.scale(raw, &mut x);
        let mut contrib = vec![0.0; raw.len()];
        let (logit, _bias) = self.file.ensemble.explain(&x, &mut contrib);
        let probability = sigmoid(logit);
        let mut order: Vec<usize> = (0..raw.len()).collect();
        order.sort_by(|&a, &b| contrib[b].abs().total_cmp(&contrib[a].abs()));
        let top = order
            .into_iter()
            .take(TOP_INPUTS)
            .filter(|&i| contrib[i] != 0.0)
            .map(|i| Contribution {
                input: self.file.inputs[i].name.clone(),
                value: raw[i],
                contribution: contrib[i],
            })
            .collect();
        Scored {
            probability,
            score: (probability * SCORE_SCALE).round().clamp(0.0, SCORE_SCALE) as u32,
            top,
        }
    }
}
