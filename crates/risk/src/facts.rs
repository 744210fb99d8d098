//! What rules know about the transaction itself and the parties to it (features aside).

use model::{CardKind, Currency, TimestampMs, TxnKind};
use serde::{Deserialize, Serialize};

use crate::features::config::{MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE};
use crate::geo::{GeoArea, GeoPoint};

/// How the card data was read (ISO 8583 field 22, simplified).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryMode {
    Chip,
    Contactless,
    Magstripe,
    /// Chip card read by magstripe after a chip failure.
    Fallback,
    Manual,
    Ecommerce,
}

impl EntryMode {
    pub const ALL: [EntryMode; 6] = [
        EntryMode::Chip,
        EntryMode::Contactless,
        EntryMode::Magstripe,
        EntryMode::Fallback,
        EntryMode::Manual,
        EntryMode::Ecommerce,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryMode::Chip => "chip",
            EntryMode::Contactless => "contactless",
            EntryMode::Magstripe => "magstripe",
            EntryMode::Fallback => "fallback",
            EntryMode::Manual => "manual",
            EntryMode::Ecommerce => "ecommerce",
        }
    }
}

/// The terminal's status as the host's registry knows it when the transaction arrives:
/// the registry's own states (`model::TerminalStatus`), and `Unknown` for a terminal the
/// registry does not hold at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminalStatus {
    Active,
    Blocked,
    Lost,
    Stolen,
    Retired,
    /// Not registered: a counterfeit or unlicensed device, or a registry out of date.
    Unknown,
}

impl TerminalStatus {
    pub const ALL: [TerminalStatus; 6] = [
        TerminalStatus::Active,
        TerminalStatus::Blocked,
        TerminalStatus::Lost,
        TerminalStatus::Stolen,
        TerminalStatus::Retired,
        TerminalStatus::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TerminalStatus::Active => "active",
            TerminalStatus::Blocked => "blocked",
            TerminalStatus::Lost => "lost",
            TerminalStatus::Stolen => "stolen",
            TerminalStatus::Retired => "retired",
            TerminalStatus::Unknown => "unknown",
        }
    }

    /// The status of a registry lookup: the terminal's status, `Unknown` when absent.
    pub fn from_registry(status: Option<model::TerminalStatus>) -> TerminalStatus {
        status.map_or(TerminalStatus::Unknown, TerminalStatus::from)
    }
}

impl From<model::TerminalStatus> for TerminalStatus {
    fn from(s: model::TerminalStatus) -> TerminalStatus {
        match s {
            model::TerminalStatus::Active => TerminalStatus::Active,
            model::TerminalStatus::Blocked => TerminalStatus::Blocked,
            model::TerminalStatus::Lost => TerminalStatus::Lost,
            model::TerminalStatus::Stolen => TerminalStatus::Stolen,
            model::TerminalStatus::Retired => TerminalStatus::Retired,
        }
    }
}

/// The transaction and party attributes rules may read. Optional attributes that are
/// absent make a rule that reads them fail at run time ("missing field"), unless the
/// rule guards them with `has(...)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TxnFacts {
    pub time_ms: TimestampMs,
    /// Offset of the terminal's local time from UTC, minutes (480 for China).
    pub local_offset_minutes: i32,
    pub amount_minor: i64,
    pub currency: Currency,
    pub kind: TxnKind,
    pub entry_mode: EntryMode,
    /// An offline advice (0220) the terminal already completed.
    pub offline: bool,
    /// The merchant's category code (ISO 18245).
    pub mcc: u16,
    pub card_kind: Option<CardKind>,
    pub card_daily_limit_minor: Option<i64>,
    pub terminal_floor_limit_minor: Option<i64>,
    /// The terminal's status in the registry; `None` when the caller does not say (a
    /// replay of data that does not carry it), `Some(Unknown)` when it is not registered.
    pub terminal_status: Option<TerminalStatus>,
    /// The area a (mobile) terminal is registered to work in.
    pub terminal_home: Option<GeoArea>,
    /// Where the transaction happened, as the terminal reported it.
    pub location: Option<GeoPoint>,
    /// It names an original posguard holds and accepted for it (a refund's approved sale
    /// with enough left, a void's target). A refund without one is a refund with no sale.
    pub original_matched: bool,
    /// Its card and its original's card are both known and differ (a refund paid to
    /// another card than the one that paid).
    pub original_card_differs: bool,
}

impl TxnFacts {
    /// A chip purchase in CNY at UTC with no party attributes: a base for tests and
    /// replays of data that carry nothing more.
    pub fn purchase(time_ms: TimestampMs, amount_minor: i64) -> TxnFacts {
        TxnFacts {
            time_ms,
            local_offset_minutes: 0,
            amount_minor,
            currency: Currency::CNY,
            kind: TxnKind::Purchase,
            entry_mode: EntryMode::Chip,
            offline: false,
            mcc: 0,
            card_kind: None,
            card_daily_limit_minor: None,
            terminal_floor_limit_minor: None,
            terminal_status: None,
            terminal_home: None,
            location: None,
            original_matched: false,
            original_card_differs: false,
        }
    }

    fn local_ms(&self) -> i64 {
        self.time_ms
            .saturating_add(i64::from(self.local_offset_minutes) * MS_PER_MINUTE)
    }

    /// Hour of the local day, 0..=23.
    pub fn hour_local(&self) -> i64 {
        self.local_ms().rem_euclid(MS_PER_DAY) / MS_PER_HOUR
    }

    /// Local day of the week, 0 = Sunday .. 6 = Saturday (1970-01-01 was a Thursday).
    pub fn weekday_local(&self) -> i64 {
        const THURSDAY: i64 = 4;
        (self.local_ms().div_euclid(MS_PER_DAY) + THURSDAY).rem_euclid(7)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_stored_before_the_terminal_fields_still_deserialize() {
        let mut json = serde_json::to_value(TxnFacts::purchase(1_000, 500)).unwrap();
        let map = json.as_object_mut().unwrap();
        for key in ["terminal_status", "terminal_home", "location"] {
            assert!(map.remove(key).is_some(), "{key}");
        }
        let back: TxnFacts = serde_json::from_value(json).unwrap();
        assert_eq!(back, TxnFacts::purchase(1_000, 500));
    }

    #[test]
    fn registry_statuses_map_and_absence_is_unknown() {
        use model::TerminalStatus as Registry;
        assert_eq!(TerminalStatus::from_registry(None), TerminalStatus::Unknown);
        assert_eq!(
            TerminalStatus::from_registry(Some(Registry::Stolen)),
            TerminalStatus::Stolen
        );
        let json = serde_json::to_string(&TerminalStatus::Unknown).unwrap();
        assert_eq!(json, "\"unknown\"");
        for s in TerminalStatus::ALL {
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
    }
}
