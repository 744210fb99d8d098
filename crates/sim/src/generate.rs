//! The transaction table (Handbook section 3.2.4-3.2.5): each customer's payments from its
//! own seeded generators, then all of them sorted by time and numbered.

use std::num::NonZeroUsize;
use std::thread;

use crate::config::HandbookConfig;
use crate::fraud::{FraudCounts, add_frauds};
use crate::npsort::argsort_quicksort;
use crate::numpy_rng::RandomState;
use crate::profiles::{
    CustomerProfile, TerminalProfile, customer_profiles, terminal_profiles, terminals_within_radius,
};
use crate::py_random::PyRandom;
use crate::transaction::{FraudScenario, Transaction};

const SECONDS_PER_DAY: u64 = 86_400;
/// Payment times are normal around noon (86400 / 2) ...
const TX_TIME_MEAN_SECONDS: f64 = 43_200.0;
/// ... with this spread; draws outside the day are dropped, not clamped.
const TX_TIME_STD_SECONDS: f64 = 20_000.0;
/// A negative amount is redrawn once, uniformly below this many times the mean.
const NEGATIVE_AMOUNT_REDRAW_MEAN_FACTOR: f64 = 2.0;
const CENTS_PER_UNIT: f64 = 100.0;

/// The full output of one simulator run.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub customers: Vec<CustomerProfile>,
    pub terminals: Vec<TerminalProfile>,
    /// Sorted by time; `transactions[i].id == i`.
    pub transactions: Vec<Transaction>,
    pub fraud: FraudCounts,
}

/// The labelled transaction table of a run.
pub fn generate(cfg: &HandbookConfig) -> Vec<Transaction> {
    generate_dataset(cfg).transactions
}

/// Profiles, labelled transactions and fraud counts of a run.
pub fn generate_dataset(cfg: &HandbookConfig) -> Dataset {
    let customers = customer_profiles(cfg.customers, cfg.customer_seed);
    let terminals = terminal_profiles(cfg.terminals, cfg.terminal_seed);
    let unsorted = all_customer_transactions(cfg, &customers, &terminals);
    let mut transactions = sort_by_time(unsorted);
    let fraud = add_frauds(&mut transactions, cfg.customers, cfg.terminals);
    Dataset {
        customers,
        terminals,
        transactions,
        fraud,
    }
}

/// Every customer's transactions, concatenated in customer order (the order pandas'
/// `groupby(...).apply` leaves them in, which the unstable sort then depends on).
fn all_customer_transactions(
    cfg: &HandbookConfig,
    customers: &[CustomerProfile],
    terminals: &[TerminalProfile],
) -> Vec<Transaction> {
    let threads = match cfg.threads {
        0 => thread::available_parallelism().map_or(1, NonZeroUsize::get),
        n => n,
    };
    let chunk_len = customers.len().div_ceil(threads.max(1)).max(1);
    let generate_chunk = |chunk: &[CustomerProfile]| -> Vec<Transaction> {
        let mut out = Vec::new();
        for customer in chunk {
            let available = terminals_within_radius(customer, terminals, cfg.radius);
            customer_transactions(customer, &available, cfg.days, &mut out);
        }
        out
    };
    if threads <= 1 {
        return generate_chunk(customers);
    }
    thread::scope(|scope| {
        let workers: Vec<_> = customers
            .chunks(chunk_len)
            .map(|chunk| scope.spawn(move || generate_chunk(chunk)))
            .collect();
        let mut all = Vec::new();
        for worker in workers {
            // A worker only panics on a broken invariant; carry that panic on.
            match worker.join() {
                Ok(part) => all.extend(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        all
    })
}

/// One customer's transactions in generation order, appended to `out`; ids and labels are
/// filled in later. Both generators are seeded with the customer id, as the Handbook does.
fn customer_transactions(
    customer: &CustomerProfile,
    available_terminals: &[u32],
    days: u32,
    out: &mut Vec<Transaction>,
) {
    let mut py = PyRandom::new(i64::from(customer.id));
    let mut np = RandomState::new(customer.id);
    for day in 0..days {
        let nb_tx = np.poisson(customer.mean_nb_tx_per_day);
        for _ in 0..nb_tx {
            // Python's int() truncates toward zero, as `as` does.
            let time = np.normal(TX_TIME_MEAN_SECONDS, TX_TIME_STD_SECONDS) as i64;
            if time <= 0 || time >= SECONDS_PER_DAY as i64 {
                continue;
            }
            let amount_cents = draw_amount_cents(&mut np, customer);
            // A customer with no terminal in reach still draws its amounts, but not the
            // terminal: the Handbook only calls random.choice on a non-empty list.
            let Some(&terminal_id) = py.choice(available_terminals) else {
                continue;
            };
            out.push(Transaction {
                id: 0,
                tx_time_seconds: time as u64 + u64::from(day) * SECONDS_PER_DAY,
                tx_time_days: day,
                customer_id: customer.id,
                terminal_id,
                amount_cents,
                fraud: false,
                scenario: FraudScenario::Genuine,
            });
        }
    }
}

/// normal(mean, std), redrawn once as uniform(0, 2 * mean) if negative, then
/// `np.round(x, 2)`: rint(x * 100) / 100, ties to even. The rint result is the cent count.
fn draw_amount_cents(np: &mut RandomState, customer: &CustomerProfile) -> i64 {
    let mut amount = np.normal(customer.mean_amount, customer.std_amount);
    if amount < 0.0 {
        amount = np.uniform(
            0.0,
            customer.mean_amount * NEGATIVE_AMOUNT_REDRAW_MEAN_FACTOR,
        );
    }
    let cents = (amount * CENTS_PER_UNIT).round_ties_even();
    // Amounts are below a few thousand units; a non-finite or huge value is a bug.
    assert!(
        cents.is_finite() && cents.abs() < 1e15,
        "amount out of range: {amount}"
    );
    cents as i64
}

/// Sorts by time with numpy 1.x's unstable quicksort (see `npsort`) and numbers the rows.
fn sort_by_time(unsorted: Vec<Transaction>) -> Vec<Transaction> {
    // Seconds stay below 2^63 for any day count a u32 can hold.
    let keys: Vec<i64> = unsorted.iter().map(|t| t.tx_time_seconds as i64).collect();
    argsort_quicksort(&keys)
        .into_iter()
        .enumerate()
        .map(|(row, index)| Transaction {
            id: row as u64,
            ..unsorted[index]
        })
        .collect()
}
