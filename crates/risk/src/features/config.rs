//! Which windows the store keeps, and its bounds.

use thiserror::Error;

pub const MS_PER_SECOND: i64 = 1_000;
pub const MS_PER_MINUTE: i64 = 60 * MS_PER_SECOND;
pub const MS_PER_HOUR: i64 = 60 * MS_PER_MINUTE;
pub const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;

/// At most this many windows of each kind, so that feature values live in fixed arrays
/// (no allocation per transaction).
pub const WINDOWS_MAX: usize = 6;
/// Events later than this (behind the newest time the store has seen) still get exact
/// features: entries are kept this much longer than the longest window needs.
pub const LATE_BOUND_DEFAULT_MS: i64 = 5 * MS_PER_MINUTE;
/// Bound on the events kept per entity. Beyond it the oldest are dropped and the windows
/// that reach back past them are marked inexact (see `WindowStats::exact`).
pub const EVENTS_PER_ENTITY_MAX_DEFAULT: u32 = 4_096;
/// The Handbook's label delay: a transaction's fraud label is known 7 days after it.
pub const LABEL_DELAY_DEFAULT_MS: i64 = 7 * MS_PER_DAY;
/// An amount is "round" when it is a multiple of this (100.00 in a two-decimal currency);
/// cash-out rules count round amounts.
pub const ROUND_AMOUNT_MINOR: i64 = 10_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// Sliding windows `(t - w, t]`, shortest first.
    pub windows_ms: Vec<i64>,
    /// Delayed label windows `(t - d - w, t - d]`, shortest first.
    pub delayed_windows_ms: Vec<i64>,
    /// `d` above, and the default time after which a label is known.
    pub label_delay_ms: i64,
    pub late_bound_ms: i64,
    pub events_per_entity_max: u32,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("between 1 and {WINDOWS_MAX} windows of each kind are allowed")]
    WindowCount,
    #[error("windows must be positive whole seconds, shortest first, without repeats")]
    WindowOrder,
    #[error("label delay and late bound must be >= 0")]
    Negative,
    #[error("events per entity must be at least 2")]
    Capacity,
}

impl Default for StoreConfig {
    /// 1 hour, 1, 7 and 30 days; the Handbook's delayed terminal windows of 1, 7 and 30
    /// days after a 7-day delay, plus 2 and 3 days (the fraud model reads whether a
    /// terminal's latest known transactions are frauds: a compromise still running).
    fn default() -> Self {
        StoreConfig {
            windows_ms: vec![MS_PER_HOUR, MS_PER_DAY, 7 * MS_PER_DAY, 30 * MS_PER_DAY],
            delayed_windows_ms: vec![
                MS_PER_DAY,
                2 * MS_PER_DAY,
                3 * MS_PER_DAY,
                7 * MS_PER_DAY,
                30 * MS_PER_DAY,
            ],
            label_delay_ms: LABEL_DELAY_DEFAULT_MS,
            late_bound_ms: LATE_BOUND_DEFAULT_MS,
            events_per_entity_max: EVENTS_PER_ENTITY_MAX_DEFAULT,
        }
    }
}

impl StoreConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        for ws in [&self.windows_ms, &self.delayed_windows_ms] {
            if ws.is_empty() || ws.len() > WINDOWS_MAX {
                return Err(ConfigError::WindowCount);
            }
            let positive = ws.iter().all(|&w| w > 0 && w % MS_PER_SECOND == 0);
            if !positive || ws.windows(2).any(|p| p[0] >= p[1]) {
                return Err(ConfigError::WindowOrder);
            }
        }
        if self.label_delay_ms < 0 || self.late_bound_ms < 0 {
            return Err(ConfigError::Negative);
        }
        if self.events_per_entity_max < 2 {
            return Err(ConfigError::Capacity);
        }
        Ok(())
    }

    /// How far back an entity's entries are kept behind its newest one.
    pub fn retention_ms(&self) -> i64 {
        let plain = self.windows_ms.last().copied().unwrap_or(0);
        let delayed = self.label_delay_ms + self.delayed_windows_ms.last().copied().unwrap_or(0);
        plain.max(delayed).saturating_add(self.late_bound_ms)
    }
}

/// A window's name in rules and feature names: `30d`, `1h`, `15m`, `90s`.
pub fn window_name(ms: i64) -> String {
    for (unit, suffix) in [(MS_PER_DAY, "d"), (MS_PER_HOUR, "h"), (MS_PER_MINUTE, "m")] {
        if ms % unit == 0 {
            return format!("{}{suffix}", ms / unit);
        }
    }
    format!("{}s", ms / MS_PER_SECOND)
}
