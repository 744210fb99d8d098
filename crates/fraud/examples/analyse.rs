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
    // Per test day: fraud cards left after the protocol's removals, of which detectable,
    // and the model's hits; ties in score straddling the 100th card.
    let mut days: Vec<i64> = rows.iter().map(|r| r.day).collect();
    days.sort_unstable();
    days.dedup();
    let (_, pd_model) = card_precision_at_k(&rows, 100);
    let (_, pd_det) = card_precision_at_k(&detectable, 100);
    for (k, d) in days.iter().enumerate() {
        let mut best: HashMap<u32, (f64, bool, bool)> = HashMap::new();
        for (r, q) in rows.iter().zip(&detectable) {
            if r.day != *d {
                continue;
            }
            let e = best
                .entry(r.card)
                .or_insert((f64::NEG_INFINITY, false, false));
            e.0 = e.0.max(r.score);
            e.1 |= r.fraud;
            e.2 |= q.score > 0.5;
        }
        let mut v: Vec<(f64, bool)> = best.values().map(|e| (e.0, e.1)).collect();
        v.sort_by(|a, b| b.0.total_cmp(&a.0));
        let s100 = v[99].0;
        let tied = v.iter().filter(|e| e.0 == s100).count();
        println!(
            "day {d}: cards {} fraud cards {} detectable {} | model {:.2} det-oracle {:.2} | cards tied at 100th: {tied}",
            best.len(),
            best.values().filter(|e| e.1).count(),
            best.values().filter(|e| e.2).count(),
            pd_model[k],
            pd_det[k]
        );
    }
    // Detectable fraud cards the model never puts in a day's top 100: their best fraud row.
    {
        let name_ix = |n: &str| inputs.names().iter().position(|x| x == n).unwrap();
        let cols = [
            "TX_AMOUNT",
            "TERMINAL_ID_NB_FRAUD_1DAY_WINDOW",
            "TERMINAL_ID_NB_FRAUD_7DAY_WINDOW",
            "TERMINAL_ID_NB_FRAUD_30DAY_WINDOW",
            "TERMINAL_ID_RISK_7DAY_WINDOW",
            "TERMINAL_ID_RISK_30DAY_WINDOW",
            "TERMINAL_ID_NB_TX_30DAY_WINDOW",
            "CUSTOMER_ID_AMOUNT_OVER_AVG_30DAY_BEFORE_7DAY",
        ];
        let ix: Vec<usize> = cols.iter().map(|c| name_ix(c)).collect();
        let mut caught: std::collections::HashSet<u32> = Default::default();
        for d in &days {
            let mut best: HashMap<u32, (f64, bool)> = HashMap::new();
            for r in rows
                .iter()
                .filter(|r| r.day == *d && !caught.contains(&r.card))
            {
                let e = best.entry(r.card).or_insert((f64::NEG_INFINITY, false));
                e.0 = e.0.max(r.score);
                e.1 |= r.fraud;
            }
            let mut v: Vec<(u32, f64, bool)> = best.iter().map(|(c, e)| (*c, e.0, e.1)).collect();
            v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            caught.extend(v.iter().take(100).filter(|e| e.2).map(|e| e.0));
        }
        let mut missed: HashMap<u32, usize> = HashMap::new();
        for (k, &i) in test.iter().enumerate() {
            if detectable[k].score > 0.5 && !caught.contains(&rows[k].card) {
                let e = missed.entry(rows[k].card).or_insert(k);
                if scores[k] > scores[*e] {
                    *e = k;
                }
            }
            let _ = i;
        }
        println!("detectable cards never caught: {}", missed.len());
        for (&c, &k) in &missed {
            let i = test[k];
            let x = data.x.row(i);
            let vals: Vec<String> = ix.iter().map(|&j| format!("{:.2}", x[j])).collect();
            println!(
                "card {c} day {} scen {} score {:.4} {}",
                rows[k].day,
                scen[&data.rows[i].txn_id],
                scores[k],
                vals.join(" ")
            );
        }
        println!("cols: {}", cols.join(" "));
    }
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
