//! What the simulator produces: one card-present payment, with its fraud label.

/// Why a transaction is labelled fraudulent; the Handbook's `TX_FRAUD_SCENARIO` codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum FraudScenario {
    /// 0: genuine.
    #[default]
    Genuine,
    /// 1: amount above 220.00.
    HighAmount,
    /// 2: made at a terminal compromised in the previous 28 days.
    CompromisedTerminal,
    /// 3: one of the inflated payments of a customer compromised in the previous 14 days.
    CompromisedCustomer,
}

impl FraudScenario {
    pub const ALL_FRAUD: [FraudScenario; 3] = [
        FraudScenario::HighAmount,
        FraudScenario::CompromisedTerminal,
        FraudScenario::CompromisedCustomer,
    ];

    pub fn code(self) -> u8 {
        match self {
            FraudScenario::Genuine => 0,
            FraudScenario::HighAmount => 1,
            FraudScenario::CompromisedTerminal => 2,
            FraudScenario::CompromisedCustomer => 3,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(FraudScenario::Genuine),
            1 => Some(FraudScenario::HighAmount),
            2 => Some(FraudScenario::CompromisedTerminal),
            3 => Some(FraudScenario::CompromisedCustomer),
            _ => None,
        }
    }
}

/// One row of the Handbook dataset. Money is integer cents, as everywhere in posguard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Transaction {
    /// Row number after sorting by time (`TRANSACTION_ID`).
    pub id: u64,
    /// Seconds since the start date's midnight (`TX_TIME_SECONDS`).
    pub tx_time_seconds: u64,
    /// Day number since the start date (`TX_TIME_DAYS`).
    pub tx_time_days: u32,
    pub customer_id: u32,
    pub terminal_id: u32,
    /// `TX_AMOUNT` in cents; scenario 3 has already multiplied it.
    pub amount_cents: i64,
    /// `TX_FRAUD`.
    pub fraud: bool,
    /// `TX_FRAUD_SCENARIO`: the last scenario that labelled it.
    pub scenario: FraudScenario,
}
