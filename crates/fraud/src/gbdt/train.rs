//! Boosting: each tree fits the logistic loss's gradient and hessian at the current
//! scores, grown depth-first on per-node histograms of binned inputs.

use super::bins::Cuts;
use super::tree::{Ensemble, Node, Tree};
use super::{Matrix, Params, sigmoid};
use crate::error::TrainError;

/// Called after each tree with the number of trees done.
pub type Progress<'a> = &'a mut dyn FnMut(usize);

/// Inputs binned column by column.
struct Binned {
    cuts: Vec<Cuts>,
    /// `cols[f][row]`.
    cols: Vec<Vec<u8>>,
}

fn bin_all(x: &Matrix, bins: usize) -> Binned {
    let n = x.rows();
    let mut cuts = Vec::with_capacity(x.cols);
    let mut cols = Vec::with_capacity(x.cols);
    let mut column = vec![0.0; n];
    for f in 0..x.cols {
        for (r, v) in column.iter_mut().enumerate() {
            *v = x.values[r * x.cols + f];
        }
        let c = Cuts::of(&mut column.clone(), bins);
        cols.push((0..n).map(|r| c.bin(x.values[r * x.cols + f])).collect());
        cuts.push(c);
    }
    Binned { cuts, cols }
}

/// splitmix64: a small seeded generator for subsampling (no dependency, reproducible).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Split {
    input: usize,
    bin: u8,
    gain: f64,
}

struct Grower<'a> {
    p: &'a Params,
    data: &'a Binned,
    g: &'a [f64],
    h: &'a [f64],
    allowed: Vec<usize>,
    nodes: Vec<Node>,
    /// `(input, bin)` of each internal node, for routing training rows by bin.
    bin_splits: Vec<(usize, u8)>,
}

impl Grower<'_> {
    fn leaf_value(&self, g: f64, h: f64) -> f64 {
        -g / (h + self.p.lambda) * self.p.learning_rate
    }

    fn score(&self, g: f64, h: f64) -> f64 {
        g * g / (h + self.p.lambda)
    }

    fn best_split(&self, rows: &[u32], g: f64, h: f64) -> Option<Split> {
        let mut best: Option<Split> = None;
        let parent = self.score(g, h);
        let mut hist = vec![(0.0f64, 0.0f64); 256];
        for &f in &self.allowed {
            let col = &self.data.cols[f];
            let nb = self.data.cuts[f].bins();
            if nb < 2 {
                continue;
            }
            hist[..nb].fill((0.0, 0.0));
            for &r in rows {
                let slot = &mut hist[usize::from(col[r as usize])];
                slot.0 += self.g[r as usize];
                slot.1 += self.h[r as usize];
            }
            let (mut gl, mut hl) = (0.0, 0.0);
            for (b, &(bg, bh)) in hist[..nb - 1].iter().enumerate() {
                gl += bg;
                hl += bh;
                let (gr, hr) = (g - gl, h - hl);
                if hl < self.p.min_child_hessian || hr < self.p.min_child_hessian {
                    continue;
                }
                let gain = 0.5 * (self.score(gl, hl) + self.score(gr, hr) - parent);
                if gain > self.p.min_split_gain && best.as_ref().is_none_or(|s| gain > s.gain) {
                    best = Some(Split {
                        input: f,
                        bin: b as u8,
                        gain,
                    });
                }
            }
        }
        best
    }

    /// Grows the subtree of `rows` into node `at` (already pushed).
    fn grow(&mut self, at: usize, rows: Vec<u32>, depth: u32) {
        let (g, h) = rows.iter().fold((0.0, 0.0), |(g, h), &r| {
            (g + self.g[r as usize], h + self.h[r as usize])
        });
        self.nodes[at] = Node::leaf(self.leaf_value(g, h));
        if depth >= self.p.max_depth {
            return;
        }
        let Some(split) = self.best_split(&rows, g, h) else {
            return;
        };
        let col = &self.data.cols[split.input];
        let (left, right): (Vec<u32>, Vec<u32>) = rows
            .into_iter()
            .partition(|&r| col[r as usize] <= split.bin);
        let l = self.nodes.len();
        self.nodes.push(Node::leaf(0.0));
        self.nodes.push(Node::leaf(0.0));
        self.bin_splits.resize(self.nodes.len(), (0, 0));
        let n = &mut self.nodes[at];
        n.input = split.input as i32;
        n.threshold = self.data.cuts[split.input].thresholds[usize::from(split.bin)];
        n.left = l as u32;
        n.right = (l + 1) as u32;
        self.bin_splits[at] = (split.input, split.bin);
        self.grow(l, left, depth + 1);
        self.grow(l + 1, right, depth + 1);
    }

    /// The leaf value a training row reaches, routed by its bins.
    fn value_of(&self, row: usize) -> f64 {
        let mut at = 0;
        loop {
            let n = &self.nodes[at];
            if n.input < 0 {
                return n.value;
            }
            let (f, b) = self.bin_splits[at];
            at = if self.data.cols[f][row] <= b {
                n.left
            } else {
                n.right
            } as usize;
        }
    }
}

/// Trains an ensemble on rows `x` with labels `y`.
pub fn train(
    x: &Matrix,
    y: &[bool],
    p: &Params,
    progress: Progress<'_>,
) -> Result<Ensemble, TrainError> {
    p.validate()?;
    let n = x.rows();
    if n == 0 || y.len() != n {
        return Err(TrainError::Empty);
    }
    let frauds = y.iter().filter(|&&b| b).count();
    if frauds == 0 || frauds == n {
        return Err(TrainError::OneClass { rows: n, frauds });
    }
    let data = bin_all(x, p.bins as usize);
    let rate = frauds as f64 / n as f64;
    let base = (rate / (1.0 - rate)).ln();
    let mut raw = vec![base; n];
    let (mut g, mut h) = (vec![0.0; n], vec![0.0; n]);
    let mut rng = Rng(p.seed);
    let mut trees = Vec::with_capacity(p.trees as usize);
    for done in 0..p.trees as usize {
        for i in 0..n {
            let q = sigmoid(raw[i]);
            let w = if y[i] { p.fraud_weight } else { 1.0 };
            g[i] = w * (q - f64::from(u8::from(y[i])));
            h[i] = w * (q * (1.0 - q)).max(1e-16);
        }
        let rows: Vec<u32> = (0..n as u32)
            .filter(|_| p.subsample >= 1.0 || rng.unit() < p.subsample)
            .collect();
        let mut allowed: Vec<usize> = (0..x.cols)
            .filter(|_| p.colsample >= 1.0 || rng.unit() < p.colsample)
            .collect();
        if allowed.is_empty() {
            allowed.push((rng.next() % x.cols as u64) as usize);
        }
        let mut grower = Grower {
            p,
            data: &data,
            g: &g,
            h: &h,
            allowed,
            nodes: vec![Node::leaf(0.0)],
            bin_splits: vec![(0, 0)],
        };
        grower.grow(0, rows, 0);
        for (i, r) in raw.iter_mut().enumerate() {
            *r += grower.value_of(i);
        }
        trees.push(Tree {
            nodes: grower.nodes,
        });
        progress(done + 1);
    }
    Ok(Ensemble { base, trees })
}
