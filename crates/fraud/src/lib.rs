//! posguard's fraud model: what it reads (named inputs computed from the streaming
//! feature store's [`risk::Features`], the same values live and in replays), the model
//! (gradient-boosted trees trained here, in Rust), the versioned model file, and the
//! Handbook's metrics and evaluation protocols.
//!
//! Architecture Invariant: pure. No I/O, no clock: training and scoring depend only on
//! their inputs (row subsampling uses a seeded generator), and every input a model reads
//! is computed by [`inputs::Inputs::vector`] from the feature store's output, so live
//! scoring and replays cannot disagree.

pub mod dataset;
mod error;
pub mod eval;
pub mod gbdt;
pub mod inputs;
pub mod metrics;
pub mod model;
pub mod protocol;

pub use error::{ModelError, TrainError};
pub use inputs::{Input, Inputs};
pub use model::{Contribution, Model, Scored};
