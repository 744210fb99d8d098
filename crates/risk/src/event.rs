//! What the feature store consumes: one compact, `Copy` event per transaction, and label
//! events that arrive later.

use model::{Currency, TimestampMs, TxnKind};

use crate::facts::{EntryMode, TxnFacts};
use crate::geo::GeoPoint;

macro_rules! key {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u32);
    };
}

key!(
    /// A card, interned from its `CardToken` by the caller (see [`crate::Interner`]).
    CardKey
);
key!(
    /// A terminal, interned from its `TerminalId`.
    TerminalKey
);
key!(
    /// A merchant, interned from its `MerchantId`.
    MerchantKey
);
key!(
    /// An operator (cashier) logged in on the terminal, interned.
    OperatorKey
);

/// One transaction as the feature store sees it: a few dozen bytes, `Copy`, no heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RiskEvent {
    pub txn_id: u64,
    /// When the transaction happened (not when it reached posguard), ms since the epoch.
    pub time_ms: TimestampMs,
    pub card: CardKey,
    pub terminal: TerminalKey,
    pub merchant: MerchantKey,
    pub operator: Option<OperatorKey>,
    /// Minor units, always >= 0; a refund is a refund by its `kind`, not its sign.
    pub amount_minor: i64,
    pub currency: Currency,
    pub kind: TxnKind,
    /// The host declined it. While a transaction is being scored its outcome is not known
    /// yet: observe it with `false` and call [`crate::FeatureStore::record_decline`] after.
    pub declined: bool,
    /// How the card was read; the store counts fallbacks per entity and window.
    pub entry_mode: EntryMode,
    /// Where it happened, if the terminal reported a position: the store keeps the
    /// terminal's recent positions for the distance and speed from the previous one.
    pub location: Option<GeoPoint>,
    /// The centre of the terminal's registered area, if it has one.
    pub terminal_home: Option<GeoPoint>,
}

impl RiskEvent {
    /// The event of a transaction described by `facts`: its time, amount, currency, kind,
    /// entry mode, location and the terminal's home come from them, so that the features
    /// and the facts rules read cannot disagree. No operator, not declined.
    pub fn from_facts(
        txn_id: u64,
        card: CardKey,
        terminal: TerminalKey,
        merchant: MerchantKey,
        facts: &TxnFacts,
    ) -> RiskEvent {
        RiskEvent {
            txn_id,
            time_ms: facts.time_ms,
            card,
            terminal,
            merchant,
            operator: None,
            amount_minor: facts.amount_minor,
            currency: facts.currency,
            kind: facts.kind,
            declined: false,
            entry_mode: facts.entry_mode,
            location: facts.location,
            terminal_home: facts.terminal_home.map(|h| h.center),
        }
    }

    pub fn is_refund(&self) -> bool {
        self.kind == TxnKind::Refund
    }
}

/// A fraud label for a past transaction (a resolved case, a chargeback, or the
/// simulator's ground truth).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label {
    pub txn_id: u64,
    pub fraud: bool,
    /// When the label became known. `None` means "after the store's label delay": the
    /// transaction's time plus [`crate::StoreConfig::label_delay_ms`], the Handbook's
    /// assumption. A label counts only in features computed at times `>= known_at_ms`.
    pub known_at_ms: Option<TimestampMs>,
}
