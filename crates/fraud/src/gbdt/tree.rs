//! A trained ensemble: flat arrays of nodes, scored by walking them.

use serde::{Deserialize, Serialize};

/// Stands for "no input": the node is a leaf.
pub const LEAF: i32 = -1;

/// One node. An internal node sends a row left when `x[input] <= threshold`. Every node
/// carries `value`, what it would add to the raw score as a leaf (the Newton step over
/// the rows that reached it, times the learning rate).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    #[serde(rename = "f")]
    pub input: i32,
    #[serde(rename = "t")]
    pub threshold: f64,
    #[serde(rename = "l")]
    pub left: u32,
    #[serde(rename = "r")]
    pub right: u32,
    #[serde(rename = "v")]
    pub value: f64,
}

impl Node {
    pub fn leaf(value: f64) -> Node {
        Node {
            input: LEAF,
            threshold: 0.0,
            left: 0,
            right: 0,
            value,
        }
    }
}

/// Nodes with the root first; children always come after their parent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    /// The leaf `x` reaches, and calls `step(input, change)` for each split on the way.
    fn walk(&self, x: &[f64], mut step: impl FnMut(usize, f64)) -> f64 {
        let mut at = 0usize;
        loop {
            let n = &self.nodes[at];
            let Ok(input) = usize::try_from(n.input) else {
                return n.value;
            };
            let next = if x[input] <= n.threshold {
                n.left
            } else {
                n.right
            } as usize;
            step(input, self.nodes[next].value - n.value);
            at = next;
        }
    }

    /// Checks what scoring relies on: children inside the tree and after their parent
    /// (so every walk ends), inputs in range, finite numbers.
    pub fn check(&self, inputs: usize) -> Result<(), String> {
        if self.nodes.is_empty() {
            return Err("a tree has no nodes".into());
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if !n.value.is_finite() {
                return Err(format!("node {i} has a value that is not finite"));
            }
            if n.input == LEAF {
                continue;
            }
            let input_ok = usize::try_from(n.input).is_ok_and(|f| f < inputs);
            let child_ok = |c: u32| (c as usize) > i && (c as usize) < self.nodes.len();
            if !input_ok || !child_ok(n.left) || !child_ok(n.right) || n.threshold.is_nan() {
                return Err(format!("node {i} is malformed"));
            }
        }
        Ok(())
    }
}

/// Base score plus trees, in log-odds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ensemble {
    pub base: f64,
    pub trees: Vec<Tree>,
}

impl Ensemble {
    /// The raw score (log-odds) of `x`.
    pub fn raw(&self, x: &[f64]) -> f64 {
        self.base + self.trees.iter().map(|t| t.walk(x, |_, _| ())).sum::<f64>()
    }

    /// The raw score of `x`, and each input's share of it in `contrib` (added to it):
    /// along each tree's path, a split's change of node value goes to its input. The
    /// shares plus the bias (base and the roots' values, returned second) add up to the
    /// raw score.
    pub fn explain(&self, x: &[f64], contrib: &mut [f64]) -> (f64, f64) {
        let mut bias = self.base;
        let mut raw = self.base;
        for t in &self.trees {
            bias += t.nodes[0].value;
            raw += t.walk(x, |input, change| contrib[input] += change);
        }
        (raw, bias)
    }

    pub fn check(&self, inputs: usize) -> Result<(), String> {
        if !self.base.is_finite() {
            return Err("the base score is not finite".into());
        }
        self.trees.iter().try_for_each(|t| t.check(inputs))
    }
}
