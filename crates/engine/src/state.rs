use model::{
    Account, Card, CardToken, Merchant, MerchantId, Snapshot, Terminal, TerminalId, TimestampMs,
    TxnId, TxnKind, TxnRecord, TxnStatus,
};
use std::collections::HashMap;

/// Keys the exactly-once index has room for at start (it grows past this if needed).
const KEY_INDEX_RESERVE: usize = 1 << 21;
/// Seconds in a day, for turning timestamps into local days.
const DAY_SECS: i64 = 86_400;

/// What a card may spend, kept in step with its ledger account.
#[derive(Clone, Debug)]
pub struct CardState {
    pub card: Card,
    pub available_minor: i64,
    /// Local day number and what the card spent on it.
    pub spent_day: i64,
    pub spent_minor: i64,
}

/// The engine's in-memory view of everything it decides on. It is rebuilt from the
/// store's snapshot at start and changed only by the engine's own writes.
#[derive(Default)]
pub struct State {
    pub merchants: HashMap<MerchantId, Merchant>,
    pub terminals: HashMap<TerminalId, Terminal>,
    pub cards: HashMap<CardToken, CardState>,
    /// Transactions by id; ids are dense from 1, so `txns[id - 1]`.
    pub txns: crate::txn_log::TxnLog,
    pub by_key: crate::key_index::KeyIndex,
    /// Keys of originals that a reversal reached before they did.
    pub reversed_before_arrival: HashMap<String, TxnId>,
    /// Per terminal, the ids of its transactions, ascending.
    pub by_terminal: HashMap<TerminalId, Vec<TxnId>>,
    /// Per terminal, the last transaction id in a closed (balanced) batch.
    pub batch_closed_upto: HashMap<TerminalId, TxnId>,
    pub last_entry_id: u64,
    pub last_settlement_id: u64,
    pub utc_offset_secs: i64,
}

impl State {
    pub fn local_day(&self, now: TimestampMs) -> i64 {
        (now.div_euclid(1000) + self.utc_offset_secs).div_euclid(DAY_SECS)
    }

    pub fn txn(&self, id: TxnId) -> Option<&TxnRecord> {
        let index = usize::try_from(id.0).ok()?.checked_sub(1)?;
        self.txns.get(index)
    }

    pub fn txn_mut(&mut self, id: TxnId) -> Option<&mut TxnRecord> {
        let index = usize::try_from(id.0).ok()?.checked_sub(1)?;
        self.txns.get_mut(index)
    }

    pub fn next_txn_id(&self) -> TxnId {
        TxnId(self.txns.len() as u64 + 1)
    }

    /// Adds a new transaction to every index.
    pub fn insert_txn(&mut self, txn: TxnRecord) {
        assert_eq!(txn.id, self.next_txn_id(), "transaction ids are dense");
        self.by_key.insert(txn.idem_key.clone(), txn.id);
        if let Some(key) = &txn.original_key {
            self.reversed_before_arrival.insert(key.clone(), txn.id);
        }
        self.by_terminal
            .entry(txn.terminal_id.clone())
            .or_default()
            .push(txn.id);
        self.txns.push(txn);
    }

    pub fn from_snapshot(snapshot: Snapshot, utc_offset_secs: i64) -> State {
        let mut state = State {
            utc_offset_secs,
            ..State::default()
        };
        // Room for the history and as much again, so the key index does not rehash a
        // million keys in the middle of a busy hour.
        state
            .by_key
            .reserve((snapshot.txns.len() * 2).max(KEY_INDEX_RESERVE));
        for m in snapshot.merchants {
            state.merchants.insert(m.id.clone(), m);
        }
        for t in snapshot.terminals {
            state.terminals.insert(t.id.clone(), t);
        }
        for card in snapshot.cards {
            let state_of_card = CardState {
                card,
                available_minor: 0,
                spent_day: i64::MIN,
                spent_minor: 0,
            };
            state
                .cards
                .insert(state_of_card.card.token.clone(), state_of_card);
        }
        for (account, _currency, sum) in snapshot.balances {
            if let Some(Account::Card(token)) = Account::parse(&account)
                && let Some(card) = state.cards.get_mut(&token)
            {
                card.available_minor = sum;
            }
        }
        for txn in snapshot.txns {
            state.insert_txn(txn);
        }
        for s in snapshot.settlements {
            state
                .batch_closed_upto
                .insert(s.terminal_id.clone(), s.upto_txn_id);
        }
        state.last_entry_id = snapshot.last_entry_id;
        state.last_settlement_id = snapshot.last_settlement_id;
        state.rebuild_daily_spend();
        state
    }

    /// Daily spend is not stored: it is what today's live purchases and holds add up to.
    fn rebuild_daily_spend(&mut self) {
        let Some(last) = self.txns.last() else { return };
        let today = self.local_day(last.created_ms);
        let mut spent: Vec<(CardToken, i64)> = Vec::new();
        for txn in self.txns.iter_rev() {
            if self.local_day(txn.created_ms) != today {
                break;
            }
            if counts_toward_daily_limit(txn)
                && let Some(token) = &txn.card_token
            {
                spent.push((token.clone(), txn.amount_minor));
            }
        }
        for (token, amount) in spent {
            if let Some(card) = self.cards.get_mut(&token) {
                if card.spent_day != today {
                    card.spent_day = today;
                    card.spent_minor = 0;
                }
                card.spent_minor += amount;
            }
        }
    }
}

/// Spending that still stands: approved purchases and holds, not undone since.
pub fn counts_toward_daily_limit(txn: &TxnRecord) -> bool {
    matches!(txn.kind, TxnKind::Purchase | TxnKind::PreAuth)
        && matches!(txn.status, TxnStatus::Approved | TxnStatus::Completed)
}
