//! `posguard sim handbook`, `risk eval` and `risk train` as a user runs them, on a small
//! simulator run: the CSV round-trips into an evaluation whose JSON has the Handbook's
//! metrics (per split and their mean), and training writes a model file that loads.

use std::path::PathBuf;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_posguard");

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("posguard-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().expect("run posguard");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn eval_and_train_on_a_simulated_csv() {
    let dir = temp("risk-model-cli");
    let csv = dir.join("small.csv");
    let csv = csv.to_str().unwrap();
    run(&[
        "sim",
        "handbook",
        "--out",
        csv,
        "--customers",
        "600",
        "--terminals",
        "1200",
        "--days",
        "60",
    ]);
    let json = run(&[
        "risk",
        "eval",
        "--transactions",
        csv,
        "--protocol",
        "prequential",
        "--folds",
        "2",
        "--train-start",
        "2018-05-08",
        "--params",
        r#"{"trees": 60}"#,
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON on stdout");
    assert_eq!(v["protocol"], "prequential");
    let splits = v["splits"].as_array().unwrap();
    assert_eq!(splits.len(), 2);
    assert_eq!(splits[0]["split"]["train_start_day"], 37);
    assert_eq!(splits[1]["split"]["train_start_day"], 30);
    for key in ["roc_auc", "average_precision", "card_precision_at_100"] {
        let mean = (splits[0][key].as_f64().unwrap() + splits[1][key].as_f64().unwrap()) / 2.0;
        assert!(
            (v[key].as_f64().unwrap() - mean).abs() < 1e-12,
            "{key}: {v}"
        );
    }
    assert!(v["roc_auc"].as_f64().unwrap() > 0.7, "{v}");

    let model = dir.join("model.json");
    let model = model.to_str().unwrap();
    run(&[
        "risk",
        "train",
        "--transactions",
        csv,
        "--from",
        "2018-05-01",
        "--days",
        "7",
        "--params",
        r#"{"trees": 20}"#,
        "--out",
        model,
    ]);
    let text = std::fs::read_to_string(model).unwrap();
    let loaded = fraud::Model::from_json(&text, &risk::StoreConfig::default()).expect("loads");
    assert_eq!(loaded.file().training.from, "2018-05-01");
    assert_eq!(loaded.file().training.to, "2018-05-07");
    assert_eq!(loaded.file().ensemble.trees.len(), 20);

    let bad = Command::new(BIN)
        .args([
            "risk",
            "eval",
            "--transactions",
            csv,
            "--params",
            r#"{"tres": 1}"#,
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("tres"));
    let _ = std::fs::remove_dir_all(dir);
}
