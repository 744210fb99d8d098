//! The names a condition may read, their types, and how to read them.

use super::value::{Ty, Value};
use crate::facts::{EntryMode, TerminalStatus, TxnFacts};
use crate::features::{Entity, Features, StoreConfig, WindowStats, window_name};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stat {
    Count,
    Sum,
    Mean,
    Max,
    Distinct,
    Declines,
    Refunds,
    Round,
    Fallbacks,
}

const STATS: [(&str, Stat); 9] = [
    ("count", Stat::Count),
    ("sum", Stat::Sum),
    ("mean", Stat::Mean),
    ("max", Stat::Max),
    ("distinct", Stat::Distinct),
    ("declines", Stat::Declines),
    ("refunds", Stat::Refunds),
    ("round", Stat::Round),
    ("fallbacks", Stat::Fallbacks),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Delayed {
    Count,
    Frauds,
    Rate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    Amount,
    Currency,
    Kind,
    EntryMode,
    Offline,
    HourLocal,
    WeekdayLocal,
    Mcc,
    CardKind,
    CardDailyLimit,
    FloorLimit,
    TerminalStatus,
    HomeLat,
    HomeLon,
    HomeRadius,
    LocationLat,
    LocationLon,
    DistanceHome,
    DistancePrev,
    SpeedKmh,
    OriginalMatched,
    OriginalCardDiffers,
    Stat {
        entity: Entity,
        window: usize,
        stat: Stat,
    },
    SincePrev(Entity),
    Delayed {
        window: usize,
        what: Delayed,
    },
}

/// Transaction and party fields, then per-transaction features that are not windows:
/// (name, field, type).
const FACTS: [(&str, Field, Ty); 22] = [
    ("amount_minor", Field::Amount, Ty::Int),
    ("currency", Field::Currency, Ty::Str),
    ("kind", Field::Kind, Ty::Str),
    ("entry_mode", Field::EntryMode, Ty::Str),
    ("offline", Field::Offline, Ty::Bool),
    ("hour_local", Field::HourLocal, Ty::Int),
    ("weekday_local", Field::WeekdayLocal, Ty::Int),
    ("merchant.mcc", Field::Mcc, Ty::Int),
    ("card.kind", Field::CardKind, Ty::Str),
    ("card.daily_limit_minor", Field::CardDailyLimit, Ty::Int),
    ("terminal.floor_limit_minor", Field::FloorLimit, Ty::Int),
    ("terminal.status", Field::TerminalStatus, Ty::Str),
    ("terminal.home_lat_e6", Field::HomeLat, Ty::Int),
    ("terminal.home_lon_e6", Field::HomeLon, Ty::Int),
    ("terminal.radius_m", Field::HomeRadius, Ty::Int),
    ("location_lat_e6", Field::LocationLat, Ty::Int),
    ("location_lon_e6", Field::LocationLon, Ty::Int),
    ("terminal.distance_home_m", Field::DistanceHome, Ty::Int),
    ("terminal.distance_prev_m", Field::DistancePrev, Ty::Int),
    ("terminal.speed_kmh", Field::SpeedKmh, Ty::Int),
    ("original_matched", Field::OriginalMatched, Ty::Bool),
    (
        "original_card_differs",
        Field::OriginalCardDiffers,
        Ty::Bool,
    ),
];

/// Resolves names against the windows a store is configured with.
#[derive(Clone, Debug)]
pub struct Schema {
    windows: Vec<String>,
    delayed: Vec<String>,
}

impl Schema {
    pub fn new(config: &StoreConfig) -> Schema {
        Schema {
            windows: config.windows_ms.iter().map(|&w| window_name(w)).collect(),
            delayed: config
                .delayed_windows_ms
                .iter()
                .map(|&w| window_name(w))
                .collect(),
        }
    }

    pub(crate) fn resolve(&self, name: &str) -> Option<(Field, Ty)> {
        if let Some(&(_, f, t)) = FACTS.iter().find(|x| x.0 == name) {
            return Some((f, t));
        }
        let (prefix, rest) = name.split_once('.')?;
        let entity = Entity::ALL.into_iter().find(|e| e.name() == prefix)?;
        if rest == "since_prev_ms" {
            return Some((Field::SincePrev(entity), Ty::Int));
        }
        let (stat, window) = rest.rsplit_once('_')?;
        if entity == Entity::Terminal
            && let Some(found) = self.delayed(stat, window)
        {
            return Some(found);
        }
        let window = self.windows.iter().position(|w| w == window)?;
        let &(_, stat) = STATS.iter().find(|s| s.0 == stat)?;
        let ty = if stat == Stat::Mean {
            Ty::Float
        } else {
            Ty::Int
        };
        Some((
            Field::Stat {
                entity,
                window,
                stat,
            },
            ty,
        ))
    }

    fn delayed(&self, stat: &str, window: &str) -> Option<(Field, Ty)> {
        let (what, ty) = match stat {
            "delayed_count" => (Delayed::Count, Ty::Int),
            "fraud_count" => (Delayed::Frauds, Ty::Int),
            "fraud_rate" => (Delayed::Rate, Ty::Float),
            _ => return None,
        };
        let window = self.delayed.iter().position(|w| w == window)?;
        Some((Field::Delayed { window, what }, ty))
    }

    /// Every name a condition may use, for documentation and error hints.
    pub fn names(&self) -> Vec<String> {
        let mut out: Vec<String> = FACTS.iter().map(|f| f.0.to_owned()).collect();
        for e in Entity::ALL {
            out.push(format!("{}.since_prev_ms", e.name()));
            for (s, _) in STATS {
                out.extend(self.windows.iter().map(|w| format!("{}.{s}_{w}", e.name())));
            }
        }
        for s in ["delayed_count", "fraud_count", "fraud_rate"] {
            out.extend(self.delayed.iter().map(|w| format!("terminal.{s}_{w}")));
        }
        out
    }
}

/// The inputs a condition is evaluated against.
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a> {
    pub facts: &'a TxnFacts,
    pub features: &'a Features,
}

impl Field {
    /// Whether a string field can ever be `lit`, so that `terminal.status == "lsot"` is
    /// rejected at load instead of never matching. `None` for fields that are not strings.
    pub(crate) fn admits(self, lit: &str) -> Option<bool> {
        Some(match self {
            Field::Currency => model::Currency::parse(lit).and_then(|c| c.alpha()) == Some(lit),
            Field::Kind => model::TxnKind::parse(lit).is_some(),
            Field::EntryMode => EntryMode::ALL.iter().any(|m| m.as_str() == lit),
            Field::CardKind => ["debit", "credit"].contains(&lit),
            Field::TerminalStatus => TerminalStatus::ALL.iter().any(|t| t.as_str() == lit),
            _ => return None,
        })
    }

    /// The field's value, `None` when it is absent for this transaction.
    pub(crate) fn read(self, x: &Inputs<'_>) -> Option<Value> {
        let f = x.facts;
        Some(match self {
            Field::Amount => Value::Int(f.amount_minor),
            Field::Currency => Value::Str(f.currency.alpha()?),
            Field::Kind => Value::Str(f.kind.as_str()),
            Field::EntryMode => Value::Str(f.entry_mode.as_str()),
            Field::Offline => Value::Bool(f.offline),
            Field::HourLocal => Value::Int(f.hour_local()),
            Field::WeekdayLocal => Value::Int(f.weekday_local()),
            Field::Mcc => Value::Int(i64::from(f.mcc)),
            Field::CardKind => Value::Str(match f.card_kind? {
                model::CardKind::Debit => "debit",
                model::CardKind::Credit => "credit",
            }),
            Field::CardDailyLimit => Value::Int(f.card_daily_limit_minor?),
            Field::FloorLimit => Value::Int(f.terminal_floor_limit_minor?),
            Field::TerminalStatus => Value::Str(f.terminal_status?.as_str()),
            Field::HomeLat => Value::Int(i64::from(f.terminal_home?.center.lat_e6)),
            Field::HomeLon => Value::Int(i64::from(f.terminal_home?.center.lon_e6)),
            Field::HomeRadius => Value::Int(i64::from(f.terminal_home?.radius_m)),
            Field::LocationLat => Value::Int(i64::from(f.location?.lat_e6)),
            Field::LocationLon => Value::Int(i64::from(f.location?.lon_e6)),
            Field::DistanceHome => Value::Int(i64::from(x.features.terminal_geo.distance_home_m?)),
            Field::DistancePrev => Value::Int(i64::from(x.features.terminal_geo.distance_prev_m?)),
            Field::SpeedKmh => Value::Int(i64::from(x.features.terminal_geo.speed_kmh?)),
            Field::OriginalMatched => Value::Bool(f.original_matched),
            Field::OriginalCardDiffers => Value::Bool(f.original_card_differs),
            Field::Stat {
                entity,
                window,
                stat,
            } => {
                let w = x.features.entity(entity)?.windows.get(window)?;
                stat_value(w, stat)
            }
            Field::SincePrev(entity) => Value::Int(x.features.entity(entity)?.since_prev_ms?),
            Field::Delayed { window, what } => {
                let d = x.features.terminal_delayed.get(window)?;
                match what {
                    Delayed::Count => Value::Int(i64::from(d.count)),
                    Delayed::Frauds => Value::Int(i64::from(d.frauds)),
                    Delayed::Rate => Value::Float(d.fraud_rate()),
                }
            }
        })
    }
}

fn stat_value(w: &WindowStats, stat: Stat) -> Value {
    match stat {
        Stat::Count => Value::Int(i64::from(w.count)),
        Stat::Sum => Value::Int(w.sum_minor),
        Stat::Mean => Value::Float(w.mean_minor()),
        Stat::Max => Value::Int(w.max_minor),
        Stat::Distinct => Value::Int(i64::from(w.distinct)),
        Stat::Declines => Value::Int(i64::from(w.declines)),
        Stat::Refunds => Value::Int(i64::from(w.refunds)),
        Stat::Round => Value::Int(i64::from(w.round)),
        Stat::Fallbacks => Value::Int(i64::from(w.fallbacks)),
    }
}
