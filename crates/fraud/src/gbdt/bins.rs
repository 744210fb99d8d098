//! Quantile bins: each input's training values are cut at up to `bins - 1` thresholds
//! that are training values themselves, so "value <= threshold" means the same in
//! training (on bins) and in scoring (on values), with no rounding in between.

/// One input's thresholds, ascending; bin `b` holds values in `(t[b-1], t[b]]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cuts {
    pub thresholds: Vec<f64>,
}

impl Cuts {
    /// Cuts for the values of one input (any order). Few distinct values: one bin each;
    /// many: cut at evenly spaced ranks.
    pub fn of(values: &mut [f64], bins: usize) -> Cuts {
        values.sort_by(f64::total_cmp);
        let mut distinct: Vec<f64> = Vec::new();
        for &v in values.iter() {
            if distinct.last() != Some(&v) {
                distinct.push(v);
            }
        }
        if distinct.len() <= bins {
            distinct.pop();
            return Cuts {
                thresholds: distinct,
            };
        }
        let n = values.len();
        let mut thresholds: Vec<f64> = Vec::with_capacity(bins);
        for k in 1..bins {
            let v = values[k * n / bins];
            if thresholds.last().is_none_or(|&t| v > t) {
                thresholds.push(v);
            }
        }
        // The largest value needs no threshold of its own (nothing lies above it).
        if thresholds.last() == values.last() {
            thresholds.pop();
        }
        Cuts { thresholds }
    }

    pub fn bin(&self, x: f64) -> u8 {
        // At most BINS_MAX - 1 thresholds, so the index fits a byte.
        self.thresholds.partition_point(|&t| t < x) as u8
    }

    pub fn bins(&self) -> usize {
        self.thresholds.len() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_goes_left_of_a_threshold_exactly_when_its_bin_does() {
        let mut values: Vec<f64> = (0..1000).map(|i| f64::from(i % 97) * 0.37).collect();
        let cuts = Cuts::of(&mut values.clone(), 16);
        assert!(cuts.bins() <= 16);
        for &x in &values {
            let b = usize::from(cuts.bin(x));
            for (k, &t) in cuts.thresholds.iter().enumerate() {
                assert_eq!(b <= k, x <= t, "x {x} t {t}");
            }
        }
        values.sort_by(f64::total_cmp);
        assert_eq!(Cuts::of(&mut [1.0, 1.0, 2.0], 16).thresholds, vec![1.0]);
    }
}
