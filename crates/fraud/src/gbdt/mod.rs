//! Gradient-boosted decision trees for a binary label: logistic loss, second-order
//! (Newton) leaf values with L2 shrinkage, depth-limited trees grown on histograms of
//! quantile bins, seeded row and column subsampling. Small on purpose: training a week
//! of the benchmark (67k rows, 29 inputs) takes seconds, scoring a transaction walks a
//! few hundred nodes, and every node keeps the value it would have as a leaf so a score
//! splits exactly into per-input contributions (Saabas).

mod bins;
mod train;
mod tree;

pub use train::{Progress, train};
pub use tree::{Ensemble, Node, Tree};

use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// Training settings. The defaults were chosen on the benchmark's validation weeks
/// (before its test weeks) and are deliberately conservative: shallow trees, a small
/// learning rate and subsampling generalise to other periods and simulator seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub trees: u32,
    pub max_depth: u32,
    pub learning_rate: f64,
    /// L2 shrinkage of leaf values.
    pub lambda: f64,
    /// Smallest sum of hessians in a child (about the number of rows times p(1-p)).
    pub min_child_hessian: f64,
    /// Smallest loss reduction a split must bring.
    pub min_split_gain: f64,
    /// Quantile bins per input, at most 256.
    pub bins: u32,
    /// Share of rows each tree sees, (0, 1].
    pub subsample: f64,
    /// Share of inputs each tree may split on, (0, 1].
    pub colsample: f64,
    /// Weight of a fraud row in the loss against 1 for a genuine one.
    #[serde(default = "one")]
    pub fraud_weight: f64,
    pub seed: u64,
}

fn one() -> f64 {
    1.0
}

impl Default for Params {
    fn default() -> Self {
        Params {
            trees: 200,
            max_depth: 4,
            learning_rate: 0.05,
            lambda: 5.0,
            min_child_hessian: 1.0,
            min_split_gain: 0.0,
            bins: 128,
            subsample: 0.8,
            colsample: 0.8,
            fraud_weight: 1.0,
            seed: 0x5eed,
        }
    }
}

/// Upper bounds that keep a model file's size and a score's cost bounded.
pub const TREES_MAX: u32 = 5_000;
pub const DEPTH_MAX: u32 = 12;
pub const BINS_MAX: u32 = 256;

impl Params {
    pub fn validate(&self) -> Result<(), TrainError> {
        let unit = |x: f64| x > 0.0 && x <= 1.0;
        if self.trees == 0 || self.trees > TREES_MAX {
            return Err(TrainError::Param("trees"));
        }
        if self.max_depth == 0 || self.max_depth > DEPTH_MAX {
            return Err(TrainError::Param("max_depth"));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return Err(TrainError::Param("learning_rate"));
        }
        if !(self.lambda >= 0.0 && self.min_child_hessian >= 0.0 && self.min_split_gain >= 0.0) {
            return Err(TrainError::Param(
                "lambda, min_child_hessian or min_split_gain",
            ));
        }
        if self.bins < 2 || self.bins > BINS_MAX {
            return Err(TrainError::Param("bins"));
        }
        if !(self.fraud_weight > 0.0 && self.fraud_weight.is_finite()) {
            return Err(TrainError::Param("fraud_weight"));
        }
        if !unit(self.subsample) || !unit(self.colsample) {
            return Err(TrainError::Param("subsample or colsample"));
        }
        Ok(())
    }
}

/// Rows of inputs, row-major.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Matrix {
    pub cols: usize,
    pub values: Vec<f64>,
}

impl Matrix {
    pub fn new(cols: usize) -> Matrix {
        Matrix {
            cols,
            values: Vec::new(),
        }
    }

    pub fn rows(&self) -> usize {
        self.values.len().checked_div(self.cols).unwrap_or(0)
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.cols..(i + 1) * self.cols]
    }

    pub fn push(&mut self, row: &[f64]) {
        debug_assert_eq!(row.len(), self.cols);
        self.values.extend_from_slice(row);
    }
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}
