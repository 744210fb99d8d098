//! Feature values of one transaction, as the store computes them and rules read them.

use super::config::WINDOWS_MAX;

/// Aggregates of one entity over one window `(t - w, t]`, the current event included.
/// Every event observed for the entity counts, whatever its kind or outcome; declines,
/// refunds, round amounts and fallbacks are also counted on their own so rules can tell
/// them apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WindowStats {
    pub count: u32,
    /// Saturating sum of amounts, minor units.
    pub sum_minor: i64,
    /// Largest amount, minor units; 0 when the window is empty.
    pub max_minor: i64,
    /// Distinct counterparts: terminals for a card, cards for everything else.
    pub distinct: u32,
    pub declines: u32,
    pub refunds: u32,
    /// Amounts that are a multiple of `ROUND_AMOUNT_MINOR`.
    pub round: u32,
    /// Chip cards read by magstripe after a chip failure (`EntryMode::Fallback`).
    pub fallbacks: u32,
    /// False when entries this window needs were dropped (events later than the late
    /// bound, or more than `events_per_entity_max` in the window): the values undercount.
    pub exact: bool,
}

impl WindowStats {
    /// Mean amount in minor units; 0 for an empty window (as the Handbook does).
    pub fn mean_minor(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum_minor as f64 / f64::from(self.count)
        }
    }
}

/// A terminal's transactions in `(t - d - w, t - d]` and how many of them carry a fraud
/// label known at `t`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DelayedStats {
    pub count: u32,
    pub frauds: u32,
    pub exact: bool,
}

impl DelayedStats {
    /// frauds / count, 0 when the window is empty (the Handbook's definition).
    pub fn fraud_rate(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            f64::from(self.frauds) / f64::from(self.count)
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EntityFeatures {
    /// One per configured window, in the configuration's order; the rest are zero.
    pub windows: [WindowStats; WINDOWS_MAX],
    /// Time since the entity's previous event (the latest one at or before this one),
    /// `None` for its first.
    pub since_prev_ms: Option<i64>,
}

/// Where this transaction happened relative to its terminal's registered home and to
/// the terminal's previous located transaction (see `track.rs` for "previous"). Every
/// value is `None` unless the event has a location.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GeoFeatures {
    /// Metres from the centre of the terminal's registered area; `None` without one.
    pub distance_home_m: Option<u32>,
    /// Metres from the terminal's previous located transaction; `None` for its first.
    pub distance_prev_m: Option<u32>,
    /// `distance_prev_m` over the time since that transaction (at least 1 s), km/h
    /// rounded down; `None` with it.
    pub speed_kmh: Option<u32>,
}

/// The entities features are kept for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Entity {
    Card,
    Terminal,
    Merchant,
    Operator,
    CardTerminal,
}

impl Entity {
    pub const ALL: [Entity; 5] = [
        Entity::Card,
        Entity::Terminal,
        Entity::Merchant,
        Entity::Operator,
        Entity::CardTerminal,
    ];

    /// The name rules use: `card.count_1h`.
    pub fn name(self) -> &'static str {
        match self {
            Entity::Card => "card",
            Entity::Terminal => "terminal",
            Entity::Merchant => "merchant",
            Entity::Operator => "operator",
            Entity::CardTerminal => "card_terminal",
        }
    }
}

/// Everything the store knows about one transaction at its time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features {
    pub time_ms: i64,
    pub card: EntityFeatures,
    pub terminal: EntityFeatures,
    pub merchant: EntityFeatures,
    /// `None` when the event names no operator.
    pub operator: Option<EntityFeatures>,
    pub card_terminal: EntityFeatures,
    /// One per configured delayed window.
    pub terminal_delayed: [DelayedStats; WINDOWS_MAX],
    pub terminal_geo: GeoFeatures,
}

impl Features {
    pub fn entity(&self, e: Entity) -> Option<&EntityFeatures> {
        match e {
            Entity::Card => Some(&self.card),
            Entity::Terminal => Some(&self.terminal),
            Entity::Merchant => Some(&self.merchant),
            Entity::Operator => self.operator.as_ref(),
            Entity::CardTerminal => Some(&self.card_terminal),
        }
    }
}
