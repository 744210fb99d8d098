use crate::postings::{Leg, expected_legs};
use model::{
    Account, Card, CardToken, Currency, Entry, PostingKind, TxnId, TxnKind, TxnRecord, TxnStatus,
};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The verifier keeps every problem's count but lists only this many.
pub const PROBLEMS_LISTED_MAX: usize = 100;

/// Something the ledger and the transactions disagree on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub txn_id: Option<TxnId>,
    pub what: String,
}

#[derive(Clone, Debug, Default)]
pub struct Report {
    pub txns: u64,
    pub entries: u64,
    /// Sum of all entries per currency; zero in a sound ledger.
    pub currency_sums: BTreeMap<u16, i128>,
    pub problem_count: u64,
    pub problems: Vec<Problem>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problem_count == 0
    }
}

/// Checks a ledger in one pass over the stored entries, after it has seen every
/// transaction and card: each currency balances, each transaction's entries are
/// exactly what its kind and state call for, and each state change is backed by the
/// message that caused it.
///
/// Entries must arrive in id order; a transaction's entries are written together,
/// so they arrive together.
pub struct Verifier {
    txns: HashMap<TxnId, TxnRecord>,
    funding_expected: HashMap<CardToken, i64>,
    funding_seen: HashMap<CardToken, i64>,
    seen_groups: HashSet<TxnId>,
    group: Vec<Entry>,
    report: Report,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier::new()
    }
}

impl Verifier {
    pub fn new() -> Verifier {
        Verifier {
            txns: HashMap::new(),
            funding_expected: HashMap::new(),
            funding_seen: HashMap::new(),
            seen_groups: HashSet::new(),
            group: Vec::new(),
            report: Report::default(),
        }
    }

    pub fn add_card(&mut self, card: &Card) {
        self.funding_expected
            .insert(card.token.clone(), card.limit_minor);
    }

    pub fn add_txn(&mut self, txn: TxnRecord) {
        self.report.txns += 1;
        self.txns.insert(txn.id, txn);
    }

    pub fn add_entry(&mut self, entry: Entry) {
        self.report.entries += 1;
        *self
            .report
            .currency_sums
            .entry(entry.currency.0)
            .or_default() += i128::from(entry.amount_minor);
        if self.group.first().is_some_and(|g| g.txn_id != entry.txn_id) {
            self.close_group();
        }
        self.group.push(entry);
    }

    fn problem(&mut self, txn_id: Option<TxnId>, what: String) {
        self.report.problem_count += 1;
        if self.report.problems.len() < PROBLEMS_LISTED_MAX {
            self.report.problems.push(Problem { txn_id, what });
        }
    }

    fn close_group(&mut self) {
        let group = std::mem::take(&mut self.group);
        let Some(first) = group.first() else { return };
        let txn_id = first.txn_id;
        if txn_id == TxnId(0) {
            self.check_funding(&group);
            return;
        }
        if !self.seen_groups.insert(txn_id) {
            self.problem(
                Some(txn_id),
                "entries of one transaction are not contiguous".into(),
            );
        }
        let Some(txn) = self.txns.get(&txn_id).cloned() else {
            self.problem(
                Some(txn_id),
                "entries for a transaction that does not exist".into(),
            );
            return;
        };
        self.check_entries(&txn, &group);
    }

    fn check_funding(&mut self, group: &[Entry]) {
        for e in group {
            match (&e.account, e.kind) {
                (Account::Card(token), PostingKind::Funding) => {
                    *self.funding_seen.entry(token.clone()).or_default() += e.amount_minor;
                }
                (Account::Funding, PostingKind::Funding) => {}
                _ => self.problem(None, format!("entry {} outside any transaction", e.id)),
            }
        }
    }

    fn check_entries(&mut self, txn: &TxnRecord, group: &[Entry]) {
        if group.iter().any(|e| e.currency != txn.currency) {
            self.problem(
                Some(txn.id),
                "entry currency differs from the transaction's".into(),
            );
        }
        let sum: i128 = group.iter().map(|e| i128::from(e.amount_minor)).sum();
        if sum != 0 {
            self.problem(Some(txn.id), format!("entries sum to {sum}, not zero"));
        }
        let txns = &self.txns;
        let lookup = |id: TxnId| txns.get(&id).cloned();
        let Some(mut expected) = expected_legs(txn, &lookup) else {
            self.problem(
                Some(txn.id),
                "refers to an original that does not exist".into(),
            );
            return;
        };
        let mut actual: Vec<Leg> = group
            .iter()
            .map(|e| Leg {
                kind: e.kind,
                account: e.account.clone(),
                amount_minor: e.amount_minor,
            })
            .collect();
        expected.sort();
        actual.sort();
        if expected != actual {
            let what = format!(
                "{} {} has {} entries that do not match its state (expected {})",
                txn.kind.as_str(),
                txn.status.as_str(),
                actual.len(),
                expected.len()
            );
            self.problem(Some(txn.id), what);
        }
    }

    /// Checks what needs every transaction at once: states backed by messages,
    /// transactions whose entries never came, refund totals, funding and the sums.
    pub fn finish(mut self) -> Report {
        self.close_group();
        self.check_missing_entries();
        self.check_state_links();
        self.check_funding_totals();
        let unbalanced: Vec<(u16, i128)> = self
            .report
            .currency_sums
            .iter()
            .filter(|(_, s)| **s != 0)
            .map(|(c, s)| (*c, *s))
            .collect();
        for (currency, sum) in unbalanced {
            self.problem(
                None,
                format!("currency {} sums to {sum}, not zero", Currency(currency)),
            );
        }
        self.report
    }

    fn check_missing_entries(&mut self) {
        let mut missing = Vec::new();
        for txn in self.txns.values() {
            if self.seen_groups.contains(&txn.id) {
                continue;
            }
            let lookup = |id: TxnId| self.txns.get(&id).cloned();
            if expected_legs(txn, &lookup).is_none_or(|legs| !legs.is_empty()) {
                missing.push(txn.id);
            }
        }
        missing.sort();
        for id in missing {
            self.problem(
                Some(id),
                "has no entries but its state calls for some".into(),
            );
        }
    }

    fn check_state_links(&mut self) {
        let mut undone: HashMap<TxnId, Vec<TxnKind>> = HashMap::new();
        let mut refunded: HashMap<TxnId, i64> = HashMap::new();
        for txn in self.txns.values() {
            let (Some(orig), TxnStatus::Approved) = (txn.original_id, txn.status) else {
                continue;
            };
            match txn.kind {
                TxnKind::Refund => *refunded.entry(orig).or_default() += txn.amount_minor,
                kind => undone.entry(orig).or_default().push(kind),
            }
        }
        let mut problems = Vec::new();
        for txn in self.txns.values() {
            let by = undone.get(&txn.id).map(Vec::as_slice).unwrap_or(&[]);
            let expected_by: &[TxnKind] = match txn.status {
                TxnStatus::Voided => &[TxnKind::Void],
                TxnStatus::Reversed => &[TxnKind::Reversal],
                TxnStatus::Completed => &[TxnKind::Completion],
                _ => &[],
            };
            if by != expected_by {
                problems.push((
                    txn.id,
                    format!("is {} but undone by {by:?}", txn.status.as_str()),
                ));
            }
            let refund_sum = refunded.get(&txn.id).copied().unwrap_or(0);
            if refund_sum != txn.refunded_minor {
                problems.push((
                    txn.id,
                    format!(
                        "refunded {} but refunds sum to {refund_sum}",
                        txn.refunded_minor
                    ),
                ));
            }
            if refund_sum > txn.amount_minor {
                problems.push((txn.id, "refunds exceed the captured amount".to_string()));
            }
        }
        problems.sort();
        for (id, what) in problems {
            self.problem(Some(id), what);
        }
    }

    fn check_funding_totals(&mut self) {
        let mut problems = Vec::new();
        for (token, expected) in &self.funding_expected {
            let seen = self.funding_seen.get(token).copied().unwrap_or(0);
            if seen != *expected {
                problems.push(format!(
                    "card {token} funded {seen}, its limit is {expected}"
                ));
            }
        }
        for token in self.funding_seen.keys() {
            if !self.funding_expected.contains_key(token) {
                problems.push(format!("funding for unknown card {token}"));
            }
        }
        problems.sort();
        for what in problems {
            self.problem(None, what);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::*;

    fn card() -> Card {
        Card {
            token: CardToken("c1".into()),
            masked: MaskedPan("476173******0010".into()),
            expiry: "2812".into(),
            status: CardStatus::Active,
            kind: CardKind::Debit,
            currency: Currency::CNY,
            limit_minor: 100_000,
            daily_limit_minor: 50_000,
        }
    }

    fn purchase(id: u64, status: TxnStatus) -> TxnRecord {
        crate::fixtures::txn(id, TxnKind::Purchase, status, 2_500, 15)
    }

    fn entries(txn_id: u64, legs: Vec<Leg>, first_id: &mut u64) -> Vec<Entry> {
        legs.into_iter()
            .map(|l| {
                *first_id += 1;
                Entry {
                    id: *first_id,
                    txn_id: TxnId(txn_id),
                    kind: l.kind,
                    account: l.account,
                    amount_minor: l.amount_minor,
                    currency: Currency::CNY,
                }
            })
            .collect()
    }

    fn sound_ledger() -> (Verifier, Vec<Entry>) {
        let mut v = Verifier::new();
        let c = card();
        v.add_card(&c);
        let p = purchase(1, TxnStatus::Approved);
        let mut next = 0;
        let mut all = entries(0, crate::funding(&c, c.limit_minor), &mut next);
        all.extend(entries(1, expected_legs(&p, &|_| None).unwrap(), &mut next));
        v.add_txn(p);
        (v, all)
    }

    #[test]
    fn a_sound_ledger_verifies() {
        let (mut v, all) = sound_ledger();
        all.into_iter().for_each(|e| v.add_entry(e));
        let report = v.finish();
        assert!(report.ok(), "{:?}", report.problems);
        assert_eq!(report.entries, 6);
    }

    #[test]
    fn a_tampered_amount_is_found() {
        let (mut v, mut all) = sound_ledger();
        all[2].amount_minor -= 1;
        all.into_iter().for_each(|e| v.add_entry(e));
        let report = v.finish();
        assert!(!report.ok());
        assert!(
            report.problems.iter().any(|p| p.what.contains("sum")),
            "{:?}",
            report.problems
        );
    }

    #[test]
    fn a_missing_posting_is_found() {
        let (mut v, all) = sound_ledger();
        all.into_iter()
            .filter(|e| e.txn_id == TxnId(0))
            .for_each(|e| v.add_entry(e));
        let report = v.finish();
        assert_eq!(report.problems[0].txn_id, Some(TxnId(1)));
    }

    #[test]
    fn a_status_without_its_message_is_found() {
        let mut v = Verifier::new();
        v.add_txn(purchase(1, TxnStatus::Voided));
        let legs = expected_legs(&purchase(1, TxnStatus::Voided), &|_| None).unwrap();
        entries(1, legs, &mut 0)
            .into_iter()
            .for_each(|e| v.add_entry(e));
        let report = v.finish();
        assert!(report.problems.iter().any(|p| p.what.contains("undone by")));
    }
}
