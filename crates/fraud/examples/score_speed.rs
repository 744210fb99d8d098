//! The live path's cost per transaction: the feature store's `observe`, then the model's
//! inputs and its score with the explanation (top inputs), over the whole Handbook
//! history in time order, after training the default model on chapter 3.4's week.
//! `cargo run --release -p fraud --example score_speed`

use std::time::{Duration, Instant};

use fraud::dataset::replay;
use fraud::eval::{origin_day, train_split};
use fraud::gbdt::Params;
use fraud::inputs::{DEFAULT, Inputs};
use fraud::protocol::Split;
use risk::{FeatureStore, Label, StoreConfig};

fn main() {
    let cfg = sim::HandbookConfig::default();
    let txs = sim::generate(&cfg);
    let history: Vec<_> = txs
        .iter()
        .map(|tx| risk::handbook::from_sim(tx, cfg.start_date))
        .collect();
    let store = StoreConfig::default();
    let inputs = Inputs::resolve(&DEFAULT, &store).expect("inputs");
    let split = Split::handbook();
    let origin = origin_day(&history);
    let data = replay(
        &history,
        origin,
        &inputs,
        store.clone(),
        |d| split.is_train(d),
        &mut |_| {},
    )
    .expect("store");
    let t = Instant::now();
    let (model, rows) = train_split(
        &data,
        &split,
        &inputs,
        &store,
        &Params::default(),
        origin,
        &mut |_| {},
    )
    .expect("train");
    println!("trained on {} rows in {:.2?}", rows.len(), t.elapsed());
    let mut features = FeatureStore::new(store).expect("store");
    let (mut observe, mut score) = (Duration::ZERO, Duration::ZERO);
    let mut worst = Duration::ZERO;
    let mut sum = 0u64;
    for h in &history {
        let a = Instant::now();
        let f = features.observe(&h.event);
        let b = Instant::now();
        let s = model.score(&h.facts, &f);
        let c = Instant::now();
        observe += b - a;
        score += c - b;
        worst = worst.max(c - a);
        sum += u64::from(s.score);
        if h.fraud {
            features.label(Label {
                txn_id: h.event.txn_id,
                fraud: true,
                known_at_ms: None,
            });
        }
    }
    let n = history.len() as f64;
    println!(
        "{} transactions: observe {:.2} us, inputs + score + top inputs {:.2} us, total {:.2} us per transaction (worst single {:.2?}; checksum {sum})",
        history.len(),
        observe.as_secs_f64() * 1e6 / n,
        score.as_secs_f64() * 1e6 / n,
        (observe + score).as_secs_f64() * 1e6 / n,
        worst
    );
}
