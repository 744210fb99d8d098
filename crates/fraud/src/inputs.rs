//! The model's inputs: named values computed from one transaction's facts and the
//! feature store's [`Features`]. The Handbook's 15 keep their names (FRAUD-BENCHMARK.md);
//! the others follow the same pattern. A name says which window it reads, so a model
//! file can be checked against the store configuration it will run with.

use risk::features::config::{MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, MS_PER_SECOND};
use risk::{Features, StoreConfig, TxnFacts};

use crate::error::ModelError;

/// "Night" is hour <= 6 (the Handbook's definition).
const NIGHT_LAST_HOUR: i64 = 6;
const CENTS_PER_UNIT: f64 = 100.0;
/// Time since a card's previous use is capped here (seconds): "never" and "a month ago"
/// mean the same to the model, and the value stays bounded.
pub const SINCE_PREV_CAP_SECONDS: f64 = 30.0 * 86_400.0;

/// One input, with the store windows it reads resolved to their positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// Amount in currency units.
    Amount,
    Weekend,
    Night,
    /// Local hour of the day, 0..=23.
    Hour,
    CardCount(usize),
    /// Mean amount of the card's window, current transaction included, currency units.
    CardMean(usize),
    /// Amount over the mean of the card's *earlier* transactions in the window (the
    /// card's own habit); 0 when the card has no earlier one.
    CardAmountOverPriorMean(usize),
    /// Largest amount of the card in the window over the mean of its longest window:
    /// a card that recently paid far above its habit (compromised cards are inflated).
    CardMaxOverLongMean(usize),
    /// Amount over the card's mean in `(t - long, t - short]`: its habit before the
    /// recent days, which a compromise of the last `short` cannot have inflated; 0 when
    /// the card has no transaction there.
    CardAmountOverLaggedMean {
        long: usize,
        short: usize,
    },
    /// Largest amount of the card in window `max` over its mean in `(t - long, t - short]`.
    CardMaxOverLaggedMean {
        max: usize,
        long: usize,
        short: usize,
    },
    /// Distinct terminals the card used in the window.
    CardTerminals(usize),
    /// Seconds since the card's previous transaction, capped.
    CardSincePrev,
    /// The card's transactions at this terminal in the window (1: a new pair).
    PairCount(usize),
    TerminalCount(usize),
    /// Distinct cards at the terminal in the window.
    TerminalCards(usize),
    /// Delayed window: transactions of the terminal.
    TerminalDelayedCount(usize),
    /// Delayed window: frauds known / transactions (the Handbook's "risk").
    TerminalDelayedRisk(usize),
    /// Delayed window: frauds known.
    TerminalDelayedFrauds(usize),
}

/// A window's part of an input name: `1DAY`, `1HOUR`, `15MIN`, `90SEC`.
fn window_label(ms: i64) -> String {
    for (unit, suffix) in [
        (MS_PER_DAY, "DAY"),
        (MS_PER_HOUR, "HOUR"),
        (MS_PER_MINUTE, "MIN"),
    ] {
        if ms % unit == 0 {
            return format!("{}{suffix}", ms / unit);
        }
    }
    format!("{}SEC", ms / MS_PER_SECOND)
}

/// Every input a store with this configuration can compute, with its name.
pub fn catalog(config: &StoreConfig) -> Vec<(String, Input)> {
    let mut out: Vec<(String, Input)> = vec![
        ("TX_AMOUNT".into(), Input::Amount),
        ("TX_DURING_WEEKEND".into(), Input::Weekend),
        ("TX_DURING_NIGHT".into(), Input::Night),
        ("TX_HOUR".into(), Input::Hour),
        (
            "CUSTOMER_ID_SECONDS_SINCE_PREV".into(),
            Input::CardSincePrev,
        ),
    ];
    for (i, &ms) in config.windows_ms.iter().enumerate() {
        let w = window_label(ms);
        out.extend([
            (format!("CUSTOMER_ID_NB_TX_{w}_WINDOW"), Input::CardCount(i)),
            (
                format!("CUSTOMER_ID_AVG_AMOUNT_{w}_WINDOW"),
                Input::CardMean(i),
            ),
            (
                format!("CUSTOMER_ID_AMOUNT_OVER_PRIOR_AVG_{w}_WINDOW"),
                Input::CardAmountOverPriorMean(i),
            ),
            (
                format!("CUSTOMER_ID_MAX_OVER_LONG_AVG_{w}_WINDOW"),
                Input::CardMaxOverLongMean(i),
            ),
            (
                format!("CUSTOMER_ID_NB_TERMINALS_{w}_WINDOW"),
                Input::CardTerminals(i),
            ),
            (
                format!("CUSTOMER_TERMINAL_NB_TX_{w}_WINDOW"),
                Input::PairCount(i),
            ),
            (
                format!("TERMINAL_ID_NB_TX_LIVE_{w}_WINDOW"),
                Input::TerminalCount(i),
            ),
            (
                format!("TERMINAL_ID_NB_CARDS_{w}_WINDOW"),
                Input::TerminalCards(i),
            ),
        ]);
    }
    let card = &config.windows_ms;
    for (long, &lms) in card.iter().enumerate() {
        for (short, &sms) in card.iter().enumerate().take(long) {
            let (l, s) = (window_label(lms), window_label(sms));
            out.push((
                format!("CUSTOMER_ID_AMOUNT_OVER_AVG_{l}_BEFORE_{s}"),
                Input::CardAmountOverLaggedMean { long, short },
            ));
            for (max, &mms) in card.iter().enumerate() {
                out.push((
                    format!(
                        "CUSTOMER_ID_MAX_AMOUNT_{}_OVER_AVG_{l}_BEFORE_{s}",
                        window_label(mms)
                    ),
                    Input::CardMaxOverLaggedMean { max, long, short },
                ));
            }
        }
    }
    for (i, &ms) in config.delayed_windows_ms.iter().enumerate() {
        let w = window_label(ms);
        out.extend([
            (
                format!("TERMINAL_ID_NB_TX_{w}_WINDOW"),
                Input::TerminalDelayedCount(i),
            ),
            (
                format!("TERMINAL_ID_RISK_{w}_WINDOW"),
                Input::TerminalDelayedRisk(i),
            ),
            (
                format!("TERMINAL_ID_NB_FRAUD_{w}_WINDOW"),
                Input::TerminalDelayedFrauds(i),
            ),
        ]);
    }
    out
}

/// The Handbook's 15 inputs (FRAUD-BENCHMARK.md), in its column order.
pub const HANDBOOK: [&str; 15] = risk::handbook::FEATURE_NAMES;

/// posguard's default inputs: the Handbook's 15 plus the card's habit (amount against
/// its own earlier mean, recent maxima against its long mean), its pace (last hour, time
/// since its previous use), card-and-terminal novelty, and the terminal's known frauds as
/// counts as well as rates, and over the last 2 and 3 days of known labels (whether the
/// terminal's latest known transactions are frauds: a compromise still running).
pub const DEFAULT: [&str; 36] = concat(HANDBOOK, OWN);

/// posguard's own inputs, after the Handbook's in [`DEFAULT`].
const OWN: [&str; 21] = [
    "CUSTOMER_ID_AMOUNT_OVER_PRIOR_AVG_7DAY_WINDOW",
    "CUSTOMER_ID_AMOUNT_OVER_PRIOR_AVG_30DAY_WINDOW",
    "CUSTOMER_ID_MAX_OVER_LONG_AVG_1DAY_WINDOW",
    "CUSTOMER_ID_MAX_OVER_LONG_AVG_7DAY_WINDOW",
    "CUSTOMER_ID_NB_TX_1HOUR_WINDOW",
    "CUSTOMER_ID_SECONDS_SINCE_PREV",
    "CUSTOMER_ID_NB_TERMINALS_7DAY_WINDOW",
    "CUSTOMER_ID_NB_TERMINALS_30DAY_WINDOW",
    "CUSTOMER_TERMINAL_NB_TX_30DAY_WINDOW",
    "TERMINAL_ID_NB_FRAUD_1DAY_WINDOW",
    "TERMINAL_ID_NB_FRAUD_7DAY_WINDOW",
    "TERMINAL_ID_NB_FRAUD_30DAY_WINDOW",
    "TERMINAL_ID_NB_CARDS_7DAY_WINDOW",
    "TX_HOUR",
    "CUSTOMER_ID_AMOUNT_OVER_AVG_30DAY_BEFORE_7DAY",
    "CUSTOMER_ID_MAX_AMOUNT_1DAY_OVER_AVG_30DAY_BEFORE_7DAY",
    "CUSTOMER_ID_MAX_AMOUNT_7DAY_OVER_AVG_30DAY_BEFORE_7DAY",
    "TERMINAL_ID_NB_TX_2DAY_WINDOW",
    "TERMINAL_ID_RISK_2DAY_WINDOW",
    "TERMINAL_ID_NB_TX_3DAY_WINDOW",
    "TERMINAL_ID_RISK_3DAY_WINDOW",
];

/// `a` then `b`, at compile time (`C` must be their total length).
const fn concat<const A: usize, const B: usize, const C: usize>(
    a: [&'static str; A],
    b: [&'static str; B],
) -> [&'static str; C] {
    assert!(A + B == C, "concat: C must be A + B");
    let mut out = [""; C];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    while i < C {
        out[i] = b[i - A];
        i += 1;
    }
    out
}

/// Mean amount of the transactions in `long` but not in `short` (a shorter window
/// ending at the same time), minor units; 0 when there are none.
fn lagged_mean(long: &risk::WindowStats, short: &risk::WindowStats) -> f64 {
    let count = long.count.saturating_sub(short.count);
    if count == 0 {
        0.0
    } else {
        long.sum_minor.saturating_sub(short.sum_minor) as f64 / f64::from(count)
    }
}

/// A list of inputs resolved against a store configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Inputs {
    names: Vec<String>,
    inputs: Vec<Input>,
    /// The card's longest window (the "long mean" of `CardMaxOverLongMean`).
    long: usize,
}

impl Inputs {
    /// Resolves `names`; an unknown name, or one whose window the store does not keep,
    /// is an error naming it.
    pub fn resolve<S: AsRef<str>>(names: &[S], config: &StoreConfig) -> Result<Inputs, ModelError> {
        let catalog = catalog(config);
        let mut inputs = Vec::with_capacity(names.len());
        for name in names {
            let name = name.as_ref();
            let found = catalog.iter().find(|(n, _)| n == name);
            match found {
                Some((_, input)) => inputs.push(*input),
                None => return Err(ModelError::UnknownInput(name.to_owned())),
            }
        }
        if inputs.is_empty() {
            return Err(ModelError::Invalid(
                "a model needs at least one input".into(),
            ));
        }
        Ok(Inputs {
            names: names.iter().map(|n| n.as_ref().to_owned()).collect(),
            inputs,
            long: config.windows_ms.len().saturating_sub(1),
        })
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn len(&self) -> usize {
        self.inputs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// The inputs' values for one transaction, written into `out` (cleared first).
    pub fn vector_into(&self, facts: &TxnFacts, f: &Features, out: &mut Vec<f64>) {
        out.clear();
        out.extend(self.inputs.iter().map(|i| self.value(*i, facts, f)));
    }

    pub fn vector(&self, facts: &TxnFacts, f: &Features) -> Vec<f64> {
        let mut v = Vec::with_capacity(self.len());
        self.vector_into(facts, f, &mut v);
        v
    }

    fn value(&self, input: Input, facts: &TxnFacts, f: &Features) -> f64 {
        let amount = facts.amount_minor as f64;
        let flag = |b: bool| f64::from(u8::from(b));
        let card = |i: usize| &f.card.windows[i];
        match input {
            Input::Amount => amount / CENTS_PER_UNIT,
            Input::Weekend => {
                let d = facts.weekday_local();
                flag(d == 0 || d == 6)
            }
            Input::Night => flag(facts.hour_local() <= NIGHT_LAST_HOUR),
            Input::Hour => facts.hour_local() as f64,
            Input::CardCount(i) => f64::from(card(i).count),
            Input::CardMean(i) => card(i).mean_minor() / CENTS_PER_UNIT,
            Input::CardAmountOverPriorMean(i) => {
                let w = card(i);
                let earlier = w.count.saturating_sub(1);
                let earlier_sum = w.sum_minor.saturating_sub(facts.amount_minor) as f64;
                if earlier == 0 || earlier_sum <= 0.0 {
                    0.0
                } else {
                    amount / (earlier_sum / f64::from(earlier))
                }
            }
            Input::CardMaxOverLongMean(i) => {
                let mean = card(self.long).mean_minor();
                if mean <= 0.0 {
                    0.0
                } else {
                    card(i).max_minor as f64 / mean
                }
            }
            Input::CardAmountOverLaggedMean { long, short } => {
                let mean = lagged_mean(card(long), card(short));
                if mean <= 0.0 { 0.0 } else { amount / mean }
            }
            Input::CardMaxOverLaggedMean { max, long, short } => {
                let mean = lagged_mean(card(long), card(short));
                if mean <= 0.0 {
                    0.0
                } else {
                    card(max).max_minor as f64 / mean
                }
            }
            Input::CardTerminals(i) => f64::from(card(i).distinct),
            Input::CardSincePrev => f.card.since_prev_ms.map_or(SINCE_PREV_CAP_SECONDS, |ms| {
                (ms as f64 / MS_PER_SECOND as f64).min(SINCE_PREV_CAP_SECONDS)
            }),
            Input::PairCount(i) => f64::from(f.card_terminal.windows[i].count),
            Input::TerminalCount(i) => f64::from(f.terminal.windows[i].count),
            Input::TerminalCards(i) => f64::from(f.terminal.windows[i].distinct),
            Input::TerminalDelayedCount(i) => f64::from(f.terminal_delayed[i].count),
            Input::TerminalDelayedRisk(i) => f.terminal_delayed[i].fraud_rate(),
            Input::TerminalDelayedFrauds(i) => f64::from(f.terminal_delayed[i].frauds),
        }
    }
}
