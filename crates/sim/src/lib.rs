//! The transaction simulator of "Reproducible Machine Learning for Credit Card Fraud
//! Detection — Practical Handbook" (Le Borgne et al., 2022), reimplemented bit for bit in
//! pure Rust: same seeds, same draws, same rows as the published Python, without numpy or
//! pandas. See `shared/docs/FRAUD-BENCHMARK.md` for the specification and check values.
//!
//! Architecture Invariant: generation is pure and deterministic — the output depends only
//! on `HandbookConfig` (not on the thread count); the only I/O is the CSV reader and writer
//! over caller-supplied streams.

mod config;
mod csv;
mod datetime;
mod fraud;
mod generate;
mod mt19937;
mod npsort;
pub mod numpy_rng;
mod poisson_ptrs;
mod profiles;
pub mod py_random;
mod transaction;

pub use config::{
    HANDBOOK_CUSTOMERS, HANDBOOK_DAYS, HANDBOOK_RADIUS, HANDBOOK_START_DATE, HANDBOOK_TERMINALS,
    HandbookConfig,
};
pub use csv::{CSV_HEADER, CsvError, CsvErrorKind, read_csv, write_csv};
pub use datetime::{CivilDate, format_datetime, parse_datetime};
pub use fraud::{FraudCounts, add_frauds};
pub use generate::{Dataset, generate, generate_dataset};
pub use profiles::{
    CustomerProfile, TerminalProfile, customer_profiles, terminal_profiles, terminals_within_radius,
};
pub use transaction::{FraudScenario, Transaction};
