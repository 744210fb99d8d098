use crate::money::Currency;
use crate::parties::{CardToken, MerchantId};
use crate::txn::TxnId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A ledger account. Balances are sums of signed entries: credits positive, debits
/// negative. A card's account holds what it may still spend; a merchant's what
/// posguard owes it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Account {
    /// Where issued card balances and credit limits come from.
    Funding,
    /// Merchant discount fees earned.
    Fees,
    Card(CardToken),
    /// Funds held by pre-authorizations on a card.
    Hold(CardToken),
    Merchant(MerchantId),
    /// What the upstream issuer owes posguard's merchants (or is owed) for
    /// transactions it authorized.
    Network,
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Account::Funding => f.write_str("funding"),
            Account::Fees => f.write_str("fees"),
            Account::Card(t) => write!(f, "card:{t}"),
            Account::Hold(t) => write!(f, "hold:{t}"),
            Account::Merchant(m) => write!(f, "merchant:{m}"),
            Account::Network => f.write_str("network"),
        }
    }
}

impl Account {
    pub fn parse(text: &str) -> Option<Account> {
        match text.split_once(':') {
            None if text == "funding" => Some(Account::Funding),
            None if text == "fees" => Some(Account::Fees),
            None if text == "network" => Some(Account::Network),
            Some(("card", t)) => Some(Account::Card(CardToken(t.to_owned()))),
            Some(("hold", t)) => Some(Account::Hold(CardToken(t.to_owned()))),
            Some(("merchant", m)) => Some(Account::Merchant(MerchantId(m.to_owned()))),
            _ => None,
        }
    }
}

impl Serialize for Account {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Account {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Account, D::Error> {
        let text = String::deserialize(d)?;
        Account::parse(&text).ok_or_else(|| serde::de::Error::custom("unknown account"))
    }
}

/// Why an entry exists. Entries are written once and never changed: a correction is
/// another entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostingKind {
    Funding,
    Hold,
    Release,
    Capture,
    Fee,
    Refund,
    Void,
    Reversal,
}

impl PostingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PostingKind::Funding => "funding",
            PostingKind::Hold => "hold",
            PostingKind::Release => "release",
            PostingKind::Capture => "capture",
            PostingKind::Fee => "fee",
            PostingKind::Refund => "refund",
            PostingKind::Void => "void",
            PostingKind::Reversal => "reversal",
        }
    }

    pub fn parse(text: &str) -> Option<PostingKind> {
        [
            PostingKind::Funding,
            PostingKind::Hold,
            PostingKind::Release,
            PostingKind::Capture,
            PostingKind::Fee,
            PostingKind::Refund,
            PostingKind::Void,
            PostingKind::Reversal,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// One leg of a double-entry posting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: u64,
    /// The transaction whose message caused this entry; funding entries of a card
    /// carry `TxnId(0)`.
    pub txn_id: TxnId,
    pub kind: PostingKind,
    pub account: Account,
    /// Signed minor units: credit positive, debit negative.
    pub amount_minor: i64,
    pub currency: Currency,
}
