use model::{Account, Card, PostingKind, TxnKind, TxnRecord, TxnStatus};

/// One leg of a posting before it has an entry id: credit positive, debit negative.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Leg {
    pub kind: PostingKind,
    pub account: Account,
    pub amount_minor: i64,
}

fn transfer(out: &mut Vec<Leg>, kind: PostingKind, from: Account, to: Account, amount: i64) {
    assert!(amount >= 0, "a transfer amount is never negative");
    if amount == 0 {
        return;
    }
    out.push(Leg {
        kind,
        account: from,
        amount_minor: -amount,
    });
    out.push(Leg {
        kind,
        account: to,
        amount_minor: amount,
    });
}

/// True when the legs sum to zero (all legs of one posting share a currency).
pub fn legs_balance(legs: &[Leg]) -> bool {
    legs.iter()
        .map(|l| i128::from(l.amount_minor))
        .sum::<i128>()
        == 0
}

/// The entries that put a card's balance or credit limit in place, or change it by
/// `delta_minor` when the card is re-provisioned.
pub fn funding(card: &Card, delta_minor: i64) -> Vec<Leg> {
    let mut legs = Vec::with_capacity(2);
    let card_account = Account::Card(card.token.clone());
    if delta_minor >= 0 {
        transfer(
            &mut legs,
            PostingKind::Funding,
            Account::Funding,
            card_account,
            delta_minor,
        );
    } else {
        transfer(
            &mut legs,
            PostingKind::Funding,
            card_account,
            Account::Funding,
            -delta_minor,
        );
    }
    legs
}

/// Whether a transaction's own message moved money (its state later may have been
/// undone by another message, which posts its own entries).
fn took_effect(txn: &TxnRecord) -> bool {
    match txn.kind {
        TxnKind::Balance => false,
        TxnKind::Reversal | TxnKind::Void => txn.status == TxnStatus::Approved,
        _ => matches!(
            txn.status,
            TxnStatus::Approved | TxnStatus::Reversed | TxnStatus::Voided | TxnStatus::Completed
        ),
    }
}

fn capture_legs(txn: &TxnRecord, out: &mut Vec<Leg>) {
    let card = card_account(txn);
    let merchant = Account::Merchant(txn.merchant_id.clone());
    transfer(
        out,
        PostingKind::Capture,
        card,
        merchant.clone(),
        txn.amount_minor,
    );
    transfer(
        out,
        PostingKind::Fee,
        merchant,
        Account::Fees,
        txn.fee_minor,
    );
}

/// Who pays: the card's own account at the stand-in issuer, or the network account
/// when the upstream issuer authorized the transaction.
fn card_account(txn: &TxnRecord) -> Account {
    if txn.upstream {
        return Account::Network;
    }
    let token = txn
        .card_token
        .clone()
        .expect("a transaction that moves money has a card");
    Account::Card(token)
}

/// The legs a transaction's own message posts, given a way to look up the
/// transaction it refers to. `None` from `original` where one is needed means the
/// record is inconsistent; the verifier reports that rather than guessing.
pub fn expected_legs(
    txn: &TxnRecord,
    original: &dyn Fn(model::TxnId) -> Option<TxnRecord>,
) -> Option<Vec<Leg>> {
    let mut out = Vec::with_capacity(4);
    if !took_effect(txn) {
        return Some(out);
    }
    match txn.kind {
        TxnKind::Balance => {}
        TxnKind::Purchase => capture_legs(txn, &mut out),
        // The upstream issuer holds the funds of its own pre-authorizations.
        TxnKind::PreAuth if txn.upstream => {}
        TxnKind::PreAuth => {
            let token = txn.card_token.clone()?;
            let (card, hold) = (Account::Card(token.clone()), Account::Hold(token));
            transfer(&mut out, PostingKind::Hold, card, hold, txn.amount_minor);
        }
        TxnKind::Completion => {
            let pre = original(txn.original_id?)?;
            if !pre.upstream {
                let token = pre.card_token.clone()?;
                let (card, hold) = (Account::Card(token.clone()), Account::Hold(token));
                transfer(&mut out, PostingKind::Release, hold, card, pre.amount_minor);
            }
            capture_legs(txn, &mut out);
        }
        TxnKind::Refund => {
            let merchant = Account::Merchant(txn.merchant_id.clone());
            transfer(
                &mut out,
                PostingKind::Refund,
                merchant,
                card_account(txn),
                txn.amount_minor,
            );
        }
        TxnKind::Void | TxnKind::Reversal => {
            let target = original(txn.original_id?)?;
            let kind = if txn.kind == TxnKind::Void {
                PostingKind::Void
            } else {
                PostingKind::Reversal
            };
            let undone = expected_legs(&target, original)?;
            out.extend(undone.into_iter().map(|leg| Leg {
                kind,
                account: leg.account,
                amount_minor: -leg.amount_minor,
            }));
        }
    }
    assert!(
        legs_balance(&out),
        "posting for txn {} does not balance",
        txn.id
    );
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::*;

    use crate::fixtures::txn;

    fn net(legs: &[Leg], account: &str) -> i64 {
        legs.iter()
            .filter(|l| l.account.to_string() == account)
            .map(|l| l.amount_minor)
            .sum()
    }

    #[test]
    fn purchase_moves_amount_to_merchant_and_fee_to_fees() {
        let p = txn(1, TxnKind::Purchase, TxnStatus::Approved, 10_000, 60);
        let legs = expected_legs(&p, &|_| None).unwrap();
        assert_eq!(net(&legs, "card:c1"), -10_000);
        assert_eq!(net(&legs, "merchant:M1"), 9_940);
        assert_eq!(net(&legs, "fees"), 60);
    }

    #[test]
    fn declined_and_balance_post_nothing() {
        let d = txn(1, TxnKind::Purchase, TxnStatus::Declined, 10_000, 0);
        assert!(expected_legs(&d, &|_| None).unwrap().is_empty());
        let b = txn(2, TxnKind::Balance, TxnStatus::Approved, 0, 0);
        assert!(expected_legs(&b, &|_| None).unwrap().is_empty());
    }

    #[test]
    fn void_undoes_exactly_the_original() {
        let p = txn(1, TxnKind::Purchase, TxnStatus::Voided, 10_000, 60);
        let mut v = txn(2, TxnKind::Void, TxnStatus::Approved, 10_000, 0);
        v.original_id = Some(TxnId(1));
        let lookup = |id: TxnId| (id == TxnId(1)).then(|| p.clone());
        let mut all = expected_legs(&p, &lookup).unwrap();
        all.extend(expected_legs(&v, &lookup).unwrap());
        for account in ["card:c1", "merchant:M1", "fees"] {
            assert_eq!(net(&all, account), 0, "{account}");
        }
    }

    #[test]
    fn completion_releases_the_whole_hold_and_captures_the_final_amount() {
        let pre = txn(1, TxnKind::PreAuth, TxnStatus::Completed, 10_000, 0);
        let mut c = txn(2, TxnKind::Completion, TxnStatus::Approved, 8_000, 0);
        c.original_id = Some(TxnId(1));
        let lookup = |id: TxnId| (id == TxnId(1)).then(|| pre.clone());
        let mut all = expected_legs(&pre, &lookup).unwrap();
        all.extend(expected_legs(&c, &lookup).unwrap());
        assert_eq!(net(&all, "hold:c1"), 0);
        assert_eq!(net(&all, "card:c1"), -8_000);
        assert_eq!(net(&all, "merchant:M1"), 8_000);
    }

    #[test]
    fn completion_without_its_preauth_is_reported_not_guessed() {
        let mut c = txn(2, TxnKind::Completion, TxnStatus::Approved, 8_000, 0);
        c.original_id = Some(TxnId(1));
        assert_eq!(expected_legs(&c, &|_| None), None);
    }
}
