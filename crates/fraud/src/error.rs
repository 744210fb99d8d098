//! Errors at the crate's boundary.

use thiserror::Error;

/// A model file that cannot be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ModelError {
    #[error("model file: {0}")]
    Parse(#[from] serde_json::Error),
    #[error(
        "model file format {found:?} version {version} is not one this posguard reads ({expected:?} version {supported})"
    )]
    Version {
        found: String,
        version: u32,
        expected: &'static str,
        supported: u32,
    },
    #[error("model input {0:?} is unknown, or reads a window the feature store does not keep")]
    UnknownInput(String),
    #[error("model file is inconsistent: {0}")]
    Invalid(String),
}

/// Training that cannot start.
#[derive(Debug, Error, PartialEq)]
#[non_exhaustive]
pub enum TrainError {
    #[error("no training rows")]
    Empty,
    #[error("the training rows have only one class (frauds: {frauds} of {rows})")]
    OneClass { rows: usize, frauds: usize },
    #[error("parameter {0} is out of range")]
    Param(&'static str),
}
