//! The streaming feature store.

pub mod config;
mod delayed;
mod ring;
mod scan;
mod slots;
mod snapshot;
mod store;
mod track;
mod values;
mod window;

pub use config::{ConfigError, StoreConfig, window_name};
pub use ring::ENTRY_BYTES;
pub use snapshot::SnapshotError;
pub use store::FeatureStore;
pub use track::{FIX_BYTES, FIXES_PER_TERMINAL_MAX};
pub use values::{DelayedStats, Entity, EntityFeatures, Features, GeoFeatures, WindowStats};

#[cfg(test)]
mod ring_tests;
