//! The model end to end on a small simulator run: it learns (beats the amount alone by a
//! margin), its file round-trips exactly, loading refuses what scoring cannot use, and
//! every score splits into its inputs' contributions.

use fraud::dataset::{Replayed, replay};
use fraud::eval::{origin_day, train_split};
use fraud::gbdt::Params;
use fraud::inputs::{DEFAULT, Inputs};
use fraud::metrics::{average_precision, roc_auc};
use fraud::protocol::{Metrics, Split};
use fraud::{Model, ModelError};
use risk::StoreConfig;

/// A tenth of the Handbook's population over 10 weeks: small enough for a debug test.
fn small() -> (Replayed, Split, Inputs, StoreConfig, i64) {
    let cfg = sim::HandbookConfig {
        customers: 1_000,
        terminals: 2_000,
        days: 70,
        ..sim::HandbookConfig::default()
    };
    let txs = sim::generate(&cfg);
    let history: Vec<_> = txs
        .iter()
        .map(|tx| risk::handbook::from_sim(tx, cfg.start_date))
        .collect();
    let store = StoreConfig::default();
    let inputs = Inputs::resolve(&DEFAULT, &store).expect("default inputs resolve");
    let split = Split {
        train_start_day: 35,
        delta_train: 14,
        delta_delay: 7,
        delta_test: 14,
    };
    let origin = origin_day(&history);
    let keep = |d| split.is_train(d) || split.is_test(d);
    let data = replay(&history, origin, &inputs, store.clone(), keep, &mut |_| {})
        .expect("default store config");
    (data, split, inputs, store, origin)
}

/// The model trained on `split`'s training days with this test's settings, and the
/// training rows it used.
fn trained(
    data: &Replayed,
    split: &Split,
    inputs: &Inputs,
    store: &StoreConfig,
    origin: i64,
) -> (Model, Vec<usize>) {
    train_split(data, split, inputs, store, &params(), origin, &mut |_| {}).expect("trains")
}

fn params() -> Params {
    Params {
        trees: 150,
        ..Params::default()
    }
}

#[test]
fn the_model_beats_the_amount_alone_and_round_trips() {
    let (data, split, inputs, store, origin) = small();
    let (model, train) = trained(&data, &split, &inputs, &store, origin);
    assert!(train.len() > 5_000, "{} training rows", train.len());
    let test = split.test_rows(&data);
    let labels: Vec<bool> = test.iter().map(|&i| data.rows[i].fraud).collect();
    let scores: Vec<f64> = test
        .iter()
        .map(|&i| model.probability(data.x.row(i)))
        .collect();
    let amount = inputs
        .names()
        .iter()
        .position(|n| n == "TX_AMOUNT")
        .unwrap();
    let baseline: Vec<f64> = test.iter().map(|&i| data.x.row(i)[amount]).collect();
    let m = Metrics::of(&data, &test, &scores);
    let b = Metrics::of(&data, &test, &baseline);
    eprintln!("model {m:?}\namount {b:?}");
    assert!(m.roc_auc > b.roc_auc + 0.15, "{m:?} vs {b:?}");
    assert!(
        m.average_precision > b.average_precision + 0.25,
        "{m:?} vs {b:?}"
    );
    assert!(
        m.card_precision_at_100 > b.card_precision_at_100,
        "{m:?} vs {b:?}"
    );
    assert_eq!(roc_auc(&scores, &labels), Some(m.roc_auc));
    assert_eq!(
        average_precision(&scores, &labels),
        Some(m.average_precision)
    );

    let text = model.to_json();
    let back = Model::from_json(&text, &store).expect("its own file loads");
    for &i in test.iter().take(2_000) {
        let row = data.x.row(i);
        assert_eq!(back.probability(row), model.probability(row));
        let s = back.score_raw(row);
        assert!(s.top.len() <= fraud::model::TOP_INPUTS);
        assert_eq!(s.score, (s.probability * 1000.0).round() as u32);
    }
}

#[test]
fn contributions_and_bias_add_up_to_the_score() {
    let (data, split, inputs, store, origin) = small();
    let (model, _) = trained(&data, &split, &inputs, &store, origin);
    let file = model.file();
    for &i in split.test_rows(&data).iter().take(500) {
        let raw = data.x.row(i);
        let x: Vec<f64> = raw
            .iter()
            .zip(&file.inputs)
            .map(|(v, s)| (v - s.mean) / s.std)
            .collect();
        let mut contrib = vec![0.0; x.len()];
        let (logit, bias) = file.ensemble.explain(&x, &mut contrib);
        let sum = bias + contrib.iter().sum::<f64>();
        assert!((sum - logit).abs() < 1e-9, "{sum} vs {logit}");
        assert!((logit - file.ensemble.raw(&x)).abs() < 1e-12);
    }
}

#[test]
fn loading_refuses_what_scoring_cannot_use() {
    let (data, split, inputs, store, origin) = small();
    let few = Params {
        trees: 5,
        ..Params::default()
    };
    let (model, _) =
        train_split(&data, &split, &inputs, &store, &few, origin, &mut |_| {}).expect("trains");
    let text = model.to_json();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        f(&mut v);
        Model::from_json(&v.to_string(), &store)
    };

    let unknown = edit(&|v| v["inputs"][0]["name"] = "CUSTOMER_ID_SHOE_SIZE".into());
    assert!(
        matches!(&unknown, Err(ModelError::UnknownInput(n)) if n == "CUSTOMER_ID_SHOE_SIZE"),
        "{unknown:?}"
    );
    let no_30d = StoreConfig {
        windows_ms: vec![3_600_000, 86_400_000],
        ..StoreConfig::default()
    };
    let missing_window = Model::from_json(&text, &no_30d);
    assert!(
        matches!(&missing_window, Err(ModelError::UnknownInput(_))),
        "{missing_window:?}"
    );
    let version = edit(&|v| v["version"] = 99.into());
    assert!(
        matches!(version, Err(ModelError::Version { .. })),
        "{version:?}"
    );
    let cycle = edit(&|v| {
        let nodes = v["ensemble"]["trees"][0].as_array_mut().unwrap();
        nodes[0]["l"] = 0.into();
        nodes[0]["f"] = 0.into();
    });
    assert!(matches!(cycle, Err(ModelError::Invalid(_))), "{cycle:?}");
    let bad_input = edit(&|v| {
        let nodes = v["ensemble"]["trees"][0].as_array_mut().unwrap();
        nodes[0]["f"] = 1_000.into();
    });
    assert!(
        matches!(bad_input, Err(ModelError::Invalid(_))),
        "{bad_input:?}"
    );
    let scale = edit(&|v| v["inputs"][1]["std"] = 0.0.into());
    assert!(matches!(scale, Err(ModelError::Invalid(_))), "{scale:?}");
    assert!(matches!(
        Model::from_json("{not json", &store),
        Err(ModelError::Parse(_))
    ));
    let delay = StoreConfig {
        label_delay_ms: 0,
        ..StoreConfig::default()
    };
    assert!(matches!(
        Model::from_json(&text, &delay),
        Err(ModelError::Invalid(_))
    ));
}
