//! posguard's real-time risk core: a streaming feature store, a rule language for risk
//! officers, the decision a transaction gets, and back-tests over replayed history.
//!
//! Architecture Invariant: this crate is pure. It does no I/O and reads no clock (every
//! time is an input); the same inputs give the same features, decisions and snapshots.
//! There is one implementation of the features: live scoring and replays call the same
//! [`FeatureStore::observe`].

mod backtest;
pub mod dsl;
mod error;
mod event;
mod facts;
mod fasthash;
pub mod features;
pub mod geo;
pub mod handbook;
mod interner;
pub mod rules;
mod sharded;

pub use backtest::{BacktestReport, RuleStats, backtest};
pub use dsl::{Condition, EvalError, Schema};
pub use error::{LoadError, LoadErrorKind, RuleSetError};
pub use event::{CardKey, Label, MerchantKey, OperatorKey, RiskEvent, TerminalKey};
pub use facts::{EntryMode, TerminalStatus, TxnFacts};
pub use features::{
    ConfigError, DelayedStats, Entity, EntityFeatures, FeatureStore, Features, GeoFeatures,
    SnapshotError, StoreConfig, WindowStats,
};
pub use geo::{GeoArea, GeoPoint};
pub use handbook::LabelledTxn;
pub use interner::Interner;
pub use rules::{
    Action, Decision, Mode, Reason, Rule, RuleAction, RuleFault, RuleSet, RuleSpec, Severity,
    evaluate,
};
