//! The Handbook's three metrics, computed as it computes them: ROC AUC and average
//! precision as scikit-learn does (tied scores form one threshold), and Card
//! Precision@k per day (chapter 3.4). Checked against scikit-learn and a transcription of
//! the Handbook's Python in `conformance/test_metrics.py`.

use std::collections::{HashMap, HashSet};

/// Cumulative (true positives, false positives) at each distinct score, highest first.
fn curve(scores: &[f64], labels: &[bool]) -> Vec<(f64, f64)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut out = Vec::new();
    let (mut tp, mut fp) = (0.0, 0.0);
    for (k, &i) in order.iter().enumerate() {
        if labels[i] {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let last_of_tie = order
            .get(k + 1)
            .is_none_or(|&j| scores[j].total_cmp(&scores[i]).is_ne());
        if last_of_tie {
            out.push((tp, fp));
        }
    }
    out
}

/// Area under the ROC curve (trapezoids); `None` unless both classes are present.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let pts = curve(scores, labels);
    let &(p, n) = pts.last()?;
    if p == 0.0 || n == 0.0 {
        return None;
    }
    let (mut area, mut prev) = (0.0, (0.0, 0.0));
    for &(tp, fp) in &pts {
        area += (fp - prev.1) / n * (tp + prev.0) / p / 2.0;
        prev = (tp, fp);
    }
    Some(area)
}

/// Average precision: the sum over thresholds of the recall gained times the precision
/// there; `None` without a positive.
pub fn average_precision(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let pts = curve(scores, labels);
    let &(p, _) = pts.last()?;
    if p == 0.0 {
        return None;
    }
    let (mut ap, mut prev_tp) = (0.0, 0.0);
    for &(tp, fp) in &pts {
        ap += (tp - prev_tp) / p * tp / (tp + fp);
        prev_tp = tp;
    }
    Some(ap)
}

/// One scored transaction for Card Precision@k.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CardScore {
    pub day: i64,
    pub card: u32,
    pub score: f64,
    pub fraud: bool,
}

/// Card Precision@k (chapter 3.4): for each day in order, drop the cards found
/// compromised on earlier days, take each remaining card's highest score and label, and
/// count the frauds among the `k` highest cards, over `k`; the mean over days. Ties in
/// score are taken in ascending card order. Also returns the per-day values.
pub fn card_precision_at_k(rows: &[CardScore], k: usize) -> (f64, Vec<f64>) {
    let mut by_day: Vec<i64> = rows.iter().map(|r| r.day).collect();
    by_day.sort_unstable();
    by_day.dedup();
    let mut detected: HashSet<u32> = HashSet::new();
    let mut per_day = Vec::with_capacity(by_day.len());
    for day in by_day {
        let mut cards: HashMap<u32, (f64, bool)> = HashMap::new();
        for r in rows
            .iter()
            .filter(|r| r.day == day && !detected.contains(&r.card))
        {
            let e = cards.entry(r.card).or_insert((f64::NEG_INFINITY, false));
            e.0 = e.0.max(r.score);
            e.1 |= r.fraud;
        }
        let mut ranked: Vec<(u32, f64, bool)> =
            cards.into_iter().map(|(c, (s, f))| (c, s, f)).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let found: Vec<u32> = ranked.iter().take(k).filter(|c| c.2).map(|c| c.0).collect();
        per_day.push(found.len() as f64 / k as f64);
        detected.extend(found);
    }
    let mean = if per_day.is_empty() {
        0.0
    } else {
        per_day.iter().sum::<f64>() / per_day.len() as f64
    };
    (mean, per_day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_random_and_inverted_rankings() {
        let labels = [true, false, true, false];
        assert_eq!(roc_auc(&[0.9, 0.1, 0.8, 0.2], &labels), Some(1.0));
        assert_eq!(roc_auc(&[0.1, 0.9, 0.2, 0.8], &labels), Some(0.0));
        assert_eq!(roc_auc(&[0.5; 4], &labels), Some(0.5));
        assert_eq!(average_precision(&[0.9, 0.1, 0.8, 0.2], &labels), Some(1.0));
        assert_eq!(average_precision(&[0.5; 4], &labels), Some(0.5));
        assert_eq!(roc_auc(&[0.5, 0.4], &[true, true]), None);
    }

    #[test]
    fn card_precision_counts_cards_once_and_forgets_detected_ones() {
        let row = |day, card, score, fraud| CardScore {
            day,
            card,
            score,
            fraud,
        };
        let rows = [
            row(0, 1, 0.9, true),
            row(0, 1, 0.8, false),
            row(0, 2, 0.7, false),
            row(1, 1, 0.99, true),
            row(1, 3, 0.5, true),
        ];
        let (mean, per_day) = card_precision_at_k(&rows, 2);
        assert_eq!(per_day, vec![0.5, 0.5]);
        assert_eq!(mean, 0.5);
    }
}
