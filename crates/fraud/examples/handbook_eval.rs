//! Generates the Handbook's dataset in memory and evaluates the default model on
//! chapter 3.4's split and chapter 5.3's prequential test folds (for tuning; the
//! product command is `posguard risk eval`). `cargo run --release -p fraud --example
//! handbook_eval [handbook]` (the argument evaluates the Handbook's 15 inputs only).

use fraud::eval::{EvalSpec, evaluate};
use fraud::gbdt::Params;
use fraud::inputs::{DEFAULT, HANDBOOK, Inputs};
use fraud::protocol::{HANDBOOK_FOLDS, Split};

fn main() {
    let t = std::time::Instant::now();
    // SEED=n: another simulator run (customer and terminal seeds shifted by n).
    let shift: u32 = std::env::var("SEED").ok().map_or(0, |v| v.parse().unwrap());
    let mut cfg = sim::HandbookConfig::default();
    cfg.customer_seed += shift;
    cfg.terminal_seed += shift;
    let txs = sim::generate(&cfg);
    let history: Vec<_> = txs
        .iter()
        .map(|tx| risk::handbook::from_sim(tx, cfg.start_date))
        .collect();
    eprintln!("generated {} in {:.2?}", history.len(), t.elapsed());
    let mut store = risk::StoreConfig::default();
    // DELAYED=1,3,7,30: the terminals' delayed-label windows, days.
    if let Ok(d) = std::env::var("DELAYED") {
        store.delayed_windows_ms = d
            .split(',')
            .map(|x| x.parse::<i64>().unwrap() * 86_400_000)
            .collect();
    }
    let names: &[&str] = if std::env::args().any(|a| a == "handbook") {
        &HANDBOOK
    } else {
        &DEFAULT
    };
    // EXTRA=a,b: inputs added to the list (for trying candidates).
    let mut names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    if let Ok(extra) = std::env::var("EXTRA") {
        names.extend(
            extra
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
    }
    let inputs = Inputs::resolve(&names, &store).expect("inputs");
    let mut params = Params::default();
    for a in std::env::args().skip(1) {
        if let Some((k, v)) = a.split_once('=') {
            match k {
                "trees" => params.trees = v.parse().unwrap(),
                "depth" => params.max_depth = v.parse().unwrap(),
                "lr" => params.learning_rate = v.parse().unwrap(),
                "mch" => params.min_child_hessian = v.parse().unwrap(),
                "sub" => params.subsample = v.parse().unwrap(),
                "col" => params.colsample = v.parse().unwrap(),
                "lambda" => params.lambda = v.parse().unwrap(),
                "bins" => params.bins = v.parse().unwrap(),
                "fw" => params.fraud_weight = v.parse().unwrap(),
                _ => panic!("unknown {k}"),
            }
        }
    }
    let origin = fraud::eval::origin_day(&history);
    let start = Split::handbook();
    let mut splits = vec![start];
    let preq = Split {
        train_start_day: start.train_start_day + 3 * 7,
        ..start
    };
    splits.extend(preq.prequential(HANDBOOK_FOLDS));
    let valid = Split {
        train_start_day: start.train_start_day - 14,
        ..start
    };
    splits.extend(valid.prequential(HANDBOOK_FOLDS));
    let spec = EvalSpec {
        splits,
        protocol: "all",
        inputs: &inputs,
        store,
        params: &params,
        origin_day: origin,
    };
    let (report, _) = evaluate(&history, &spec, &mut |_| {}).expect("eval");
    let m = |r: &fraud::eval::SplitReport| {
        format!(
            "{:.3} {:.3} {:.3}",
            r.metrics.roc_auc, r.metrics.average_precision, r.metrics.card_precision_at_100
        )
    };
    let mean = |rs: &[fraud::eval::SplitReport]| {
        let all: Vec<_> = rs.iter().map(|r| r.metrics).collect();
        let x = fraud::protocol::Metrics::mean(&all);
        format!(
            "{:.3} {:.3} {:.3}",
            x.roc_auc, x.average_precision, x.card_precision_at_100
        )
    };
    println!(
        "3.4 test: {} (train {} / {}, test {} / {})",
        m(&report.splits[0]),
        report.splits[0].train_rows,
        report.splits[0].train_frauds,
        report.splits[0].test_rows,
        report.splits[0].test_frauds
    );
    for r in &report.splits[1..] {
        println!("  fold train {}: {}", r.split.train_start_day, m(r));
    }
    println!("5.3 test mean:  {}", mean(&report.splits[1..5]));
    println!("5.3 valid mean: {}", mean(&report.splits[5..9]));
    eprintln!("total {:.2?}", t.elapsed());
}
