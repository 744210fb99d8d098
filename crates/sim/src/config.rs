//! Parameters of a simulator run, defaulting to the Handbook's published dataset.

use crate::datetime::CivilDate;

#[derive(Clone, Debug, PartialEq)]
pub struct HandbookConfig {
    pub customers: u32,
    pub terminals: u32,
    /// Days simulated from `start_date` (day 0) on.
    pub days: u32,
    /// Date of day 0; only `TX_DATETIME` depends on it.
    pub start_date: CivilDate,
    /// A customer uses the terminals strictly closer than this (grid units of 0..100).
    pub radius: f64,
    /// `RandomState` seed of the customer profiles.
    pub customer_seed: u32,
    /// `RandomState` seed of the terminal profiles.
    pub terminal_seed: u32,
    /// Worker threads for the per-customer generation; 0 = all available cores. The output
    /// does not depend on it.
    pub threads: usize,
}

pub const HANDBOOK_CUSTOMERS: u32 = 5_000;
pub const HANDBOOK_TERMINALS: u32 = 10_000;
pub const HANDBOOK_DAYS: u32 = 183;
pub const HANDBOOK_RADIUS: f64 = 5.0;
pub const HANDBOOK_START_DATE: CivilDate = CivilDate {
    year: 2018,
    month: 4,
    day: 1,
};

impl Default for HandbookConfig {
    fn default() -> Self {
        HandbookConfig {
            customers: HANDBOOK_CUSTOMERS,
            terminals: HANDBOOK_TERMINALS,
            days: HANDBOOK_DAYS,
            start_date: HANDBOOK_START_DATE,
            radius: HANDBOOK_RADIUS,
            customer_seed: 0,
            terminal_seed: 1,
            threads: 0,
        }
    }
}
