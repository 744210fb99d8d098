//! The Handbook's three fraud scenarios (section 3.2.6), applied in order, each one
//! overwriting the scenario label of what it touches.

use crate::numpy_rng::RandomState;
use crate::py_random::PyRandom;
use crate::transaction::{FraudScenario, Transaction};

/// Scenario 1: any amount above 220.00 is fraud.
const HIGH_AMOUNT_THRESHOLD_CENTS: i64 = 22_000;
/// Scenario 2: terminals compromised per day, and for how many days from then on.
const COMPROMISED_TERMINALS_PER_DAY: usize = 2;
const TERMINAL_COMPROMISE_DAYS: u32 = 28;
/// Scenario 3: customers compromised per day, for how many days, which share of their
/// payments is hit (1 / 3) and how much those are inflated.
const COMPROMISED_CUSTOMERS_PER_DAY: usize = 3;
const CUSTOMER_COMPROMISE_DAYS: u32 = 14;
const CUSTOMER_FRAUD_SHARE_DIVISOR: usize = 3;
const CUSTOMER_FRAUD_AMOUNT_FACTOR: i64 = 5;

/// How many frauds each scenario added (a later scenario relabelling an earlier fraud adds
/// nothing) and how many carry each final label, indexed by scenario code - 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FraudCounts {
    pub added: [usize; 3],
    pub labelled: [usize; 3],
}

impl FraudCounts {
    pub fn total(&self) -> usize {
        self.added.iter().sum()
    }
}

/// Labels `transactions` (sorted, `transactions[i].id == i`) in place, from scratch like
/// the Handbook (which first sets every label to 0), and inflates scenario 3's amounts.
pub fn add_frauds(transactions: &mut [Transaction], customers: u32, terminals: u32) -> FraudCounts {
    let mut counts = FraudCounts::default();
    let mut frauds = 0;
    for tx in transactions.iter_mut() {
        tx.fraud = false;
        tx.scenario = FraudScenario::Genuine;
    }
    for (step, scenario) in FraudScenario::ALL_FRAUD.into_iter().enumerate() {
        match scenario {
            FraudScenario::HighAmount => flag_high_amounts(transactions),
            FraudScenario::CompromisedTerminal => compromise_terminals(transactions, terminals),
            FraudScenario::CompromisedCustomer => compromise_customers(transactions, customers),
            FraudScenario::Genuine => unreachable!("not a fraud scenario"),
        }
        let now = transactions.iter().filter(|t| t.fraud).count();
        counts.added[step] = now - frauds;
        frauds = now;
    }
    for tx in transactions.iter() {
        if let Some(slot) = tx.scenario.code().checked_sub(1) {
            counts.labelled[usize::from(slot)] += 1;
        }
    }
    counts
}

/// Scenario 1, on the amounts as generated (scenario 3 inflates them only afterwards).
fn flag_high_amounts(transactions: &mut [Transaction]) {
    for tx in transactions.iter_mut() {
        if tx.amount_cents > HIGH_AMOUNT_THRESHOLD_CENTS {
            mark(tx, FraudScenario::HighAmount);
        }
    }
}

fn mark(tx: &mut Transaction, scenario: FraudScenario) {
    tx.fraud = true;
    tx.scenario = scenario;
}

/// Both scenario loops run `for day in range(TX_TIME_DAYS.max())`: the last day never
/// starts a compromise.
fn compromise_start_days(transactions: &[Transaction]) -> std::ops::Range<u32> {
    0..transactions
        .iter()
        .map(|t| t.tx_time_days)
        .max()
        .unwrap_or(0)
}

/// Row indices (ascending) per owner id below `owners`, so a day's compromise touches only
/// its rows. Ids at or above `owners` (imported data) can never be sampled and are skipped.
fn rows_by(
    transactions: &[Transaction],
    owners: u32,
    owner: fn(&Transaction) -> u32,
) -> Vec<Vec<usize>> {
    let mut rows = vec![Vec::new(); owners as usize];
    for (row, tx) in transactions.iter().enumerate() {
        if let Some(list) = rows.get_mut(owner(tx) as usize) {
            list.push(row);
        }
    }
    rows
}

/// `ID.sample(n, random_state=day)` over ids 0..len. pandas raises when n > len; a run that
/// small gets every id instead of a panic.
fn sample_ids(day: u32, len: u32, n: usize) -> Vec<usize> {
    let len = len as usize;
    RandomState::pandas_sample_positions(day, len, n.min(len))
}

fn in_window(tx: &Transaction, start_day: u32, days: u32) -> bool {
    tx.tx_time_days >= start_day && tx.tx_time_days < start_day + days
}

/// Scenario 2: each day, `TERMINAL_ID.sample(n=2, random_state=day)`; every payment there
/// in the next 28 days is fraud.
fn compromise_terminals(transactions: &mut [Transaction], terminals: u32) {
    let by_terminal = rows_by(transactions, terminals, |t| t.terminal_id);
    for day in compromise_start_days(transactions) {
        let picked = sample_ids(day, terminals, COMPROMISED_TERMINALS_PER_DAY);
        for terminal in picked {
            for &row in &by_terminal[terminal] {
                if in_window(&transactions[row], day, TERMINAL_COMPROMISE_DAYS) {
                    mark(&mut transactions[row], FraudScenario::CompromisedTerminal);
                }
            }
        }
    }
}

/// Scenario 3: each day, `CUSTOMER_ID.sample(n=3, random_state=day)`; of their payments in
/// the next 14 days (ascending id), `random.seed(day); random.sample(rows, len // 3)` are
/// fraud and multiplied by 5 (again, if an earlier day already picked them).
fn compromise_customers(transactions: &mut [Transaction], customers: u32) {
    let by_customer = rows_by(transactions, customers, |t| t.customer_id);
    for day in compromise_start_days(transactions) {
        let picked = sample_ids(day, customers, COMPROMISED_CUSTOMERS_PER_DAY);
        let mut candidates: Vec<usize> = picked
            .iter()
            .flat_map(|&customer| &by_customer[customer])
            .copied()
            .filter(|&row| in_window(&transactions[row], day, CUSTOMER_COMPROMISE_DAYS))
            .collect();
        candidates.sort_unstable();
        let k = candidates.len() / CUSTOMER_FRAUD_SHARE_DIVISOR;
        let chosen = PyRandom::new(i64::from(day))
            .sample(&candidates, k)
            .expect("k is a third of the candidates");
        for row in chosen {
            let tx = &mut transactions[row];
            tx.amount_cents *= CUSTOMER_FRAUD_AMOUNT_FACTOR;
            mark(tx, FraudScenario::CompromisedCustomer);
        }
    }
}
