use crate::money::Currency;
use crate::pan::MaskedPan;
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

text_id!(
    /// Card acceptor id (ISO 8583 field 42, up to 15 characters).
    MerchantId
);
text_id!(
    /// Card acceptor terminal id (ISO 8583 field 41, up to 8 characters).
    TerminalId
);
text_id!(
    /// Keyed token of a PAN (hex HMAC-SHA256): the only form a PAN is looked up by.
    CardToken
);

impl MerchantId {
    pub const LEN_MAX: usize = 15;
}

impl TerminalId {
    pub const LEN_MAX: usize = 8;
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merchant {
    pub id: MerchantId,
    pub name: String,
    /// Merchant category code (ISO 18245), four digits.
    pub mcc: String,
    pub currency: Currency,
    /// Merchant discount rate in basis points, charged on each capture.
    pub fee_bps: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminalStatus {
    Active,
    Blocked,
    Lost,
    Stolen,
    Retired,
}

impl TerminalStatus {
    pub fn may_transact(self) -> bool {
        self == TerminalStatus::Active
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terminal {
    pub id: TerminalId,
    pub merchant_id: MerchantId,
    pub status: TerminalStatus,
    /// Offline advices (0220) at or under this amount are posted without question.
    pub floor_limit_minor: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardStatus {
    Active,
    Lost,
    Stolen,
    Blocked,
    Expired,
}

/// Debit cards start with a balance, credit cards with a limit; both spend an
/// "available" account in the ledger, so the engine treats them alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardKind {
    Debit,
    Credit,
}

/// A card the stand-in issuer holds. The PAN itself is never part of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    pub token: CardToken,
    pub masked: MaskedPan,
    /// Expiry as YYMM (ISO 8583 field 14).
    pub expiry: String,
    pub status: CardStatus,
    pub kind: CardKind,
    pub currency: Currency,
    /// Opening balance (debit) or credit limit (credit), minor units.
    pub limit_minor: i64,
    /// Most the card may spend per local day, minor units.
    pub daily_limit_minor: i64,
}
