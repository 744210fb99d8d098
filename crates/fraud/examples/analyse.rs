//! Where the default model misses on chapter 3.4's split, by fraud scenario (tuning aid).
use fraud::dataset::replay;
use fraud::eval::{origin_day, train_split};
use fraud::gbdt::Params;
use fraud::inputs::{DEFAULT, Inputs};
use fraud::metrics::{CardScore, card_precision_at_k};
use fraud::protocol::Split;
use std::collections::HashMap;

fn main() {
    let cfg = sim::HandbookConfig::default();
    let txs = sim::generate(&cfg);
    let scen: HashMap<u64, u8> = txs.iter().map(|t| (t.id, t.scenario.code())).collect();
    let history: Vec<_> = txs
        .iter()
        .map(|tx| risk::handbook::from_sim(tx, cfg.start_date))
        .collect();
    let store = risk::StoreConfig::default();
    let inputs = Inputs::resolve(&DEFAULT, &store).unwrap();
    let split = Split::handbook();
    let origin = origin_day(&history);
    let data = replay(
        &history,
        origin,
        &inputs,
        store.clone(),
        |d| split.is_train(d) || split.is_test(d),
        &mut |_| {},
    )
    .unwrap();
    let (model, _) = train_split(
        &data,
        &split,
        &inputs,
        &store,
        &Params::default(),
        origin,
        &mut |_| {},
    )
    .unwrap();
    let test = split.test_rows(&data);
    let scores: Vec<f64> = test
        .iter()
        .map(|&i| model.probability(data.x.row(i)))
        .collect();
    let mut sorted = scores.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let top = |k: usize| sorted[k.min(sorted.len() - 1)];
    for s in 1..=3u8 {
        let idx: Vec<usize> = (0..test.len())
            .filter(|&k| scen[&data.rows[test[k]].txn_id] == s)
            .collect();
        let at = |thr: f64| idx.iter().filter(|&&k| scores[k] >= thr).count();
        println!(
            "scenario {s}: {} frauds; in top 100: {}, top 400: {}, top 1000: {}",
            idx.len(),
            at(top(100)),
            at(top(400)),
            at(top(1000))
        );
    }
    let rows: Vec<CardScore> = test
        .iter()
        .zip(&scores)
        .map(|(&i, &s)| CardScore {
            day: data.rows[i].day,
            card: data.rows[i].card,
            score: s,
            fraud: data.rows[i].fraud,
        })
        .collect();
    let oracle: Vec<CardScore> = rows
        .iter()
        .map(|r| CardScore {
            score: if r.fraud { 1.0 } else { 0.0 },
            ..*r
        })
        .collect();
    println!("cp model {:?}", card_precision_at_k(&rows, 100));
    println!("cp oracle {:?}", card_precision_at_k(&oracle, 100));
    // "Detectable": a scenario-2 fraud counts only if its terminal has a known fraud.
    let nf = inputs
        .names()
        .iter()
        .position(|n| n == "TERMINAL_ID_NB_FRAUD_30DAY_WINDOW")
        .unwrap();
    let detectable: Vec<CardScore> = test
        .iter()
        .zip(&rows)
        .map(|(&i, r)| {
            let s2 = scen[&data.rows[i].txn_id] == 2;
            let known = data.x.row(i)[nf] > 0.0;
            CardScore {
                score: if r.fraud && (!s2 || known) { 1.0 } else { 0.0 },
                ..*r
            }
        })
        .collect();
    println!(
        "cp detectable-oracle {:?}",
        card_precision_at_k(&detectable, 100)
    );
    // importance: mean |contribution| over test frauds
    let mut imp = vec![0.0; inputs.len()];
    for (k, &i) in test.iter().enumerate() {
        if !data.rows[i].fraud {
            continue;
        }
        let _ = k;
        let s = model.score_raw(data.x.row(i));
        for c in s.top {
            let j = inputs.names().iter().position(|n| *n == c.input).unwrap();
            imp[j] += c.contribution.abs();
        }
    }
    let mut o: Vec<usize> = (0..imp.len()).collect();
    o.sort_by(|&a, &b| imp[b].total_cmp(&imp[a]));
    for j in o {
        println!("{:50} {:.1}", inputs.names()[j], imp[j]);
    }
}
