//! The Handbook's evaluation protocols: one train / delay / test split (chapter 3.4), and
//! prequential folds (chapter 5.3), with its metrics.

use std::collections::HashSet;

use serde::Serialize;

use crate::dataset::Replayed;
use crate::metrics::{CardScore, average_precision, card_precision_at_k, roc_auc};

/// The Handbook's training start, 2018-07-25, as a day of its simulation (day 0 is
/// 2018-04-01).
pub const HANDBOOK_TRAIN_START_DAY: i64 = 115;
pub const HANDBOOK_DELTA_DAYS: i64 = 7;
pub const HANDBOOK_FOLDS: u32 = 4;
/// Card Precision@k's k.
pub const CARD_PRECISION_K: usize = 100;

/// Train on `[train_start, +delta_train)`, wait `delta_delay` days for labels, test on the
/// `delta_test` days after.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Split {
    pub train_start_day: i64,
    pub delta_train: i64,
    pub delta_delay: i64,
    pub delta_test: i64,
}

impl Split {
    /// Chapter 3.4's split.
    pub fn handbook() -> Split {
        Split {
            train_start_day: HANDBOOK_TRAIN_START_DAY,
            delta_train: HANDBOOK_DELTA_DAYS,
            delta_delay: HANDBOOK_DELTA_DAYS,
            delta_test: HANDBOOK_DELTA_DAYS,
        }
    }

    pub fn test_start_day(&self) -> i64 {
        self.train_start_day + self.delta_train + self.delta_delay
    }

    pub fn is_train(&self, day: i64) -> bool {
        (self.train_start_day..self.train_start_day + self.delta_train).contains(&day)
    }

    pub fn is_test(&self, day: i64) -> bool {
        let s = self.test_start_day();
        (s..s + self.delta_test).contains(&day)
    }

    /// The `folds` prequential splits whose latest trains at `train_start_day`, each
    /// `delta_test` days before the next (chapter 5.3; its test folds start training at
    /// 2018-08-15, 3 x 7 days after chapter 3.4's).
    pub fn prequential(&self, folds: u32) -> Vec<Split> {
        (0..i64::from(folds))
            .map(|k| Split {
                train_start_day: self.train_start_day - k * self.delta_test,
                ..*self
            })
            .collect()
    }

    /// Indices of the training rows.
    pub fn train_rows(&self, data: &Replayed) -> Vec<usize> {
        (0..data.rows.len())
            .filter(|&i| self.is_train(data.rows[i].day))
            .collect()
    }

    /// Indices of the test rows: on test day k, the cards already known compromised (a
    /// fraud in the training period, or on the days from the last training day to
    /// k days after it) are left out, as the Handbook does.
    pub fn test_rows(&self, data: &Replayed) -> Vec<usize> {
        let mut known: HashSet<u32> = HashSet::new();
        for day in self.train_start_day..self.train_start_day + self.delta_train {
            known.extend(data.fraud_cards.get(&day).into_iter().flatten());
        }
        let mut out = Vec::new();
        for k in 0..self.delta_test {
            let delay_day = self.train_start_day + self.delta_train + k - 1;
            known.extend(data.fraud_cards.get(&delay_day).into_iter().flatten());
            let day = self.test_start_day() + k;
            out.extend(
                (0..data.rows.len())
                    .filter(|&i| data.rows[i].day == day && !known.contains(&data.rows[i].card)),
            );
        }
        out
    }
}

/// The three metrics over scored test rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Metrics {
    pub roc_auc: f64,
    pub average_precision: f64,
    pub card_precision_at_100: f64,
}

impl Metrics {
    /// `rows` index `data`; `scores` are theirs, in the same order.
    pub fn of(data: &Replayed, rows: &[usize], scores: &[f64]) -> Metrics {
        let labels: Vec<bool> = rows.iter().map(|&i| data.rows[i].fraud).collect();
        let cards: Vec<CardScore> = rows
            .iter()
            .zip(scores)
            .map(|(&i, &score)| CardScore {
                day: data.rows[i].day,
                card: data.rows[i].card,
                score,
                fraud: data.rows[i].fraud,
            })
            .collect();
        Metrics {
            roc_auc: roc_auc(scores, &labels).unwrap_or(f64::NAN),
            average_precision: average_precision(scores, &labels).unwrap_or(f64::NAN),
            card_precision_at_100: card_precision_at_k(&cards, CARD_PRECISION_K).0,
        }
    }

    pub fn mean(all: &[Metrics]) -> Metrics {
        let n = all.len().max(1) as f64;
        let sum = |f: fn(&Metrics) -> f64| all.iter().map(f).sum::<f64>() / n;
        Metrics {
            roc_auc: sum(|m| m.roc_auc),
            average_precision: sum(|m| m.average_precision),
            card_precision_at_100: sum(|m| m.card_precision_at_100),
        }
    }
}
