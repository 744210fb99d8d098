//! Batch totals (0500/0510): the host's count of a terminal's open batch against the
//! terminal's own. Equal totals close the batch; different ones are answered 95 and
//! leave it open for the terminal to upload or retry.

use crate::Engine;
use crate::request::BatchTotals;
use model::{ResponseCode, Settlement, TerminalId, TimestampMs, TxnId, TxnKind, TxnStatus, Write};
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettleAnswer {
    pub code: ResponseCode,
    pub host: BatchTotals,
    pub duplicate: bool,
}

impl Engine {
    pub fn settle(
        &mut self,
        terminal_id: &TerminalId,
        idem_key: &str,
        theirs: BatchTotals,
        now: TimestampMs,
        out: &mut Vec<Write>,
    ) -> SettleAnswer {
        if let Some(previous) = self.settlement_keys.get(idem_key) {
            return SettleAnswer {
                duplicate: true,
                ..previous.clone()
            };
        }
        let known = self
            .state
            .terminals
            .get(terminal_id)
            .is_some_and(|t| t.status.may_transact());
        if !known {
            let host = BatchTotals::default();
            return SettleAnswer {
                code: ResponseCode::NotPermittedToTerminal,
                host,
                duplicate: false,
            };
        }
        let closed_upto = self
            .state
            .batch_closed_upto
            .get(terminal_id)
            .copied()
            .unwrap_or(TxnId(0));
        let host = self.open_batch_totals(terminal_id, closed_upto);
        let balanced = host == theirs;
        let upto = if balanced {
            TxnId(self.state.txns.len() as u64)
        } else {
            closed_upto
        };
        self.state.last_settlement_id += 1;
        let settlement = Settlement {
            id: self.state.last_settlement_id,
            idem_key: idem_key.to_owned(),
            terminal_id: terminal_id.clone(),
            closed_ms: now,
            upto_txn_id: upto,
            host_debit_count: host.debit_count,
            host_debit_minor: host.debit_minor,
            host_credit_count: host.credit_count,
            host_credit_minor: host.credit_minor,
            terminal_debit_count: theirs.debit_count,
            terminal_debit_minor: theirs.debit_minor,
            terminal_credit_count: theirs.credit_count,
            terminal_credit_minor: theirs.credit_minor,
            balanced,
        };
        self.state
            .batch_closed_upto
            .insert(terminal_id.clone(), upto);
        out.push(Write::Settlement(settlement));
        let code = if balanced {
            ResponseCode::Approved
        } else {
            ResponseCode::ReconcileError
        };
        let answer = SettleAnswer {
            code,
            host,
            duplicate: false,
        };
        self.settlement_keys
            .insert(idem_key.to_owned(), answer.clone());
        answer
    }

    /// Debits are captures still standing (sales, offline sales, completions); credits
    /// are refunds still standing. Holds, balance inquiries and undone items are out.
    fn open_batch_totals(&self, terminal_id: &TerminalId, closed_upto: TxnId) -> BatchTotals {
        let mut totals = BatchTotals::default();
        let ids = self
            .state
            .by_terminal
            .get(terminal_id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let start = ids.partition_point(|id| *id <= closed_upto);
        for id in &ids[start..] {
            let Some(txn) = self.state.txn(*id) else {
                continue;
            };
            if txn.status != TxnStatus::Approved {
                continue;
            }
            match txn.kind {
                TxnKind::Purchase | TxnKind::Completion => {
                    totals.debit_count += 1;
                    totals.debit_minor += txn.amount_minor;
                }
                TxnKind::Refund => {
                    totals.credit_count += 1;
                    totals.credit_minor += txn.amount_minor;
                }
                _ => {}
            }
        }
        totals
    }
}

/// Answers of past settlements by key, rebuilt from the store at start.
pub(crate) fn settlement_answers(settlements: &[Settlement]) -> HashMap<String, SettleAnswer> {
    settlements
        .iter()
        .map(|s| {
            let host = BatchTotals {
                debit_count: s.host_debit_count,
                debit_minor: s.host_debit_minor,
                credit_count: s.host_credit_count,
                credit_minor: s.host_credit_minor,
            };
            let code = if s.balanced {
                ResponseCode::Approved
            } else {
                ResponseCode::ReconcileError
            };
            (
                s.idem_key.clone(),
                SettleAnswer {
                    code,
                    host,
                    duplicate: false,
                },
            )
        })
        .collect()
}
