//! The Handbook's benchmark (FRAUD-BENCHMARK.md): its transactions as risk events, and
//! its 15 model inputs computed by this crate's feature store.

use std::io::BufRead;

use sim::{CivilDate, Transaction};

use crate::event::{CardKey, MerchantKey, RiskEvent, TerminalKey};
use crate::facts::TxnFacts;
use crate::features::config::{MS_PER_DAY, MS_PER_SECOND};
use crate::features::{Features, StoreConfig};

/// A transaction of a replayed history with its fraud label.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LabelledTxn {
    pub event: RiskEvent,
    pub facts: TxnFacts,
    pub fraud: bool,
}

/// A simulator row as posguard sees it: customer = card, terminal = terminal and also
/// merchant (the simulator has no merchants), amounts in CNY fen, times in UTC.
pub fn from_sim(tx: &Transaction, start: CivilDate) -> LabelledTxn {
    let secs = start.days_since_epoch() * (MS_PER_DAY / MS_PER_SECOND);
    let time_ms =
        (secs + i64::try_from(tx.tx_time_seconds).unwrap_or(i64::MAX / 2)) * MS_PER_SECOND;
    let facts = TxnFacts::purchase(time_ms, tx.amount_cents);
    let event = RiskEvent::from_facts(
        tx.id,
        CardKey(tx.customer_id),
        TerminalKey(tx.terminal_id),
        MerchantKey(tx.terminal_id),
        &facts,
    );
    LabelledTxn {
        event,
        facts,
        fraud: tx.fraud,
    }
}

/// Reads a Handbook CSV (as `sim::write_csv` writes it) into a history.
pub fn history_from_csv<R: BufRead>(
    r: R,
    start: CivilDate,
) -> Result<Vec<LabelledTxn>, sim::CsvError> {
    Ok(sim::read_csv(r)?
        .iter()
        .map(|t| from_sim(t, start))
        .collect())
}

/// The Handbook's 15 model inputs, in its column order.
pub const FEATURE_NAMES: [&str; 15] = [
    "TX_AMOUNT",
    "TX_DURING_WEEKEND",
    "TX_DURING_NIGHT",
    "CUSTOMER_ID_NB_TX_1DAY_WINDOW",
    "CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW",
    "CUSTOMER_ID_NB_TX_7DAY_WINDOW",
    "CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW",
    "CUSTOMER_ID_NB_TX_30DAY_WINDOW",
    "CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW",
    "TERMINAL_ID_NB_TX_1DAY_WINDOW",
    "TERMINAL_ID_RISK_1DAY_WINDOW",
    "TERMINAL_ID_NB_TX_7DAY_WINDOW",
    "TERMINAL_ID_RISK_7DAY_WINDOW",
    "TERMINAL_ID_NB_TX_30DAY_WINDOW",
    "TERMINAL_ID_RISK_30DAY_WINDOW",
];

/// The Handbook's windows, days.
const HANDBOOK_WINDOW_DAYS: [i64; 3] = [1, 7, 30];
/// "Night" is hour <= 6.
const NIGHT_LAST_HOUR: i64 = 6;
const CENTS_PER_UNIT: f64 = 100.0;

/// Where the Handbook's windows sit in a store configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandbookLayout {
    card: [usize; 3],
    delayed: [usize; 3],
}

impl HandbookLayout {
    /// `None` unless the store keeps 1, 7 and 30-day windows of both kinds.
    pub fn new(c: &StoreConfig) -> Option<HandbookLayout> {
        let find = |ws: &[i64], days: i64| ws.iter().position(|&w| w == days * MS_PER_DAY);
        let mut l = HandbookLayout {
            card: [0; 3],
            delayed: [0; 3],
        };
        for (i, days) in HANDBOOK_WINDOW_DAYS.into_iter().enumerate() {
            l.card[i] = find(&c.windows_ms, days)?;
            l.delayed[i] = find(&c.delayed_windows_ms, days)?;
        }
        Some(l)
    }

    /// The 15 inputs, amounts in currency units as the Handbook has them.
    pub fn vector(&self, facts: &TxnFacts, f: &Features) -> [f64; 15] {
        let weekday = facts.weekday_local();
        let mut v = [0.0; 15];
        v[0] = facts.amount_minor as f64 / CENTS_PER_UNIT;
        v[1] = f64::from(u8::from(weekday == 0 || weekday == 6));
        v[2] = f64::from(u8::from(facts.hour_local() <= NIGHT_LAST_HOUR));
        for i in 0..3 {
            let w = &f.card.windows[self.card[i]];
            v[3 + 2 * i] = f64::from(w.count);
            v[4 + 2 * i] = w.mean_minor() / CENTS_PER_UNIT;
            let d = &f.terminal_delayed[self.delayed[i]];
            v[9 + 2 * i] = f64::from(d.count);
            v[10 + 2 * i] = d.fraud_rate();
        }
        v
    }
}
