//! A UnionPay batch upload (0320) against the host's transactions: each record names a
//! transaction of the terminal's batch by trace number; the host must hold it approved
//! with the same amount. Pure: the caller looks the transactions up.

use iso8583::unionpay::BatchRecord;
use model::TxnStatus;

/// What the host holds under a record's trace: status and amount, or nothing.
pub type Held = Option<(TxnStatus, i64)>;

/// Why a record does not match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finding {
    /// No transaction under that trace in the batch.
    Missing,
    /// Declined, voided or reversed at the host.
    NotApproved(TxnStatus),
    /// Approved, for another amount (minor units at the host).
    Amount { host_minor: i64 },
}

/// One record that does not match: its trace and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub trace: String,
    pub finding: Finding,
}

/// The records that do not match what the host holds (`held[i]` for `records[i]`).
pub fn check(records: &[BatchRecord], held: &[Held]) -> Vec<Mismatch> {
    records
        .iter()
        .zip(held)
        .filter_map(|(r, h)| {
            let finding = match *h {
                None => Finding::Missing,
                Some((status, _)) if !matches!(status, TxnStatus::Approved) => {
                    Finding::NotApproved(status)
                }
                Some((_, minor)) if minor != r.amount_minor => {
                    Finding::Amount { host_minor: minor }
                }
                Some(_) => return None,
            };
            Some(Mismatch {
                trace: r.trace.clone(),
                finding,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(trace: &str, amount_minor: i64) -> BatchRecord {
        BatchRecord {
            organisation: "00".into(),
            trace: trace.into(),
            amount_minor,
        }
    }

    #[test]
    fn records_are_checked_against_the_host() {
        let records = [
            record("000001", 100),
            record("000002", 200),
            record("000003", 300),
            record("000004", 400),
        ];
        let held = [
            Some((TxnStatus::Approved, 100)),
            None,
            Some((TxnStatus::Voided, 300)),
            Some((TxnStatus::Approved, 399)),
        ];
        let found: Vec<_> = check(&records, &held)
            .into_iter()
            .map(|m| (m.trace, m.finding))
            .collect();
        assert_eq!(
            found,
            [
                ("000002".to_owned(), Finding::Missing),
                ("000003".to_owned(), Finding::NotApproved(TxnStatus::Voided)),
                ("000004".to_owned(), Finding::Amount { host_minor: 399 }),
            ]
        );
    }
}
