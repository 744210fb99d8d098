//! Issue 5 end to end through the host: a fraud model installed over the API (checked
//! first: an unknown input is refused and nothing changes) scores over the terminal link
//! without a restart, declines above its threshold with the inputs that moved it in the
//! decision's reasons and the alert, and is back in force after a restart.

mod common;

use common::{Backend, api, ascii_client as client, config, purchase, start_demo};
use serde_json::{Value, json};

/// A one-tree model on TX_AMOUNT: above 100.00 the log-odds go from -5 to +5.
fn amount_model(input: &str) -> Value {
    json!({
        "format": "posguard-fraud-model",
        "version": 1,
        "family": "gbdt",
        "inputs": [{"name": input, "mean": 0.0, "std": 1.0}],
        "store": {
            "windows_ms": [3600000, 86400000, 604800000, 2592000000u64],
            "delayed_windows_ms": [86400000, 604800000, 2592000000u64],
            "label_delay_ms": 604800000
        },
        "params": {
            "trees": 1, "max_depth": 1, "learning_rate": 1.0, "lambda": 0.0,
            "min_child_hessian": 0.0, "min_split_gain": 0.0, "bins": 16,
            "subsample": 1.0, "colsample": 1.0, "seed": 0
        },
        "training": {"from": "2018-07-25", "to": "2018-07-31", "rows": 2, "frauds": 1},
        "ensemble": {"base": -5.0, "trees": [[
            {"f": 0, "t": 100.0, "l": 1, "r": 2, "v": 0.0},
            {"f": -1, "t": 0.0, "l": 0, "r": 0, "v": 0.0},
            {"f": -1, "t": 0.0, "l": 0, "r": 0, "v": 10.0}
        ]]}
    })
}

fn reason_ids(txn: &Value) -> Vec<String> {
    txn["risk"]["reasons"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["rule_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_installed_over_the_api_scores_declines_and_explains() {
    let mut cfg = config("model", Backend::Sqlite).unwrap();
    cfg.journal = false; // lets the second life below open the same directory
    let running = start_demo(cfg.clone()).await;
    let token = running.new_admin_token.clone().unwrap();
    let (status, none) = api(&running, &token, "GET", "/v1/risk/model", None).await;
    assert_eq!((status, &none["installed"]), (200, &json!(false)), "{none}");

    let bad = json!({"model": amount_model("TX_SHOE_SIZE")});
    let (status, refused) = api(&running, &token, "PUT", "/v1/risk/model", Some(bad)).await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused.to_string().contains("TX_SHOE_SIZE"), "{refused}");
    let (_, still) = api(&running, &token, "GET", "/v1/risk/model", None).await;
    assert_eq!(still["installed"], false);

    let good = json!({
        "model": amount_model("TX_AMOUNT"),
        "policy": {"review_at": 500, "decline_at": 900}
    });
    let (status, installed) = api(&running, &token, "PUT", "/v1/risk/model", Some(good)).await;
    assert_eq!(status, 200, "{installed}");
    assert_eq!(installed["inputs"], json!(["TX_AMOUNT"]));

    let mut c = client(running.link_addr).await;
    assert_eq!(purchase(&mut c, 1, 5_000).await.code(), "00");
    let big = purchase(&mut c, 2, 20_000).await;
    assert_eq!(big.code(), "59");
    let rrn: u64 = big.get(37).expect("an RRN").parse().unwrap();
    let (_, txn) = api(
        &running,
        &token,
        "GET",
        &format!("/v1/transactions/{rrn}"),
        None,
    )
    .await;
    assert_eq!(txn["risk"]["action"], "decline", "{txn}");
    assert!(txn["risk"]["score"].as_u64().unwrap() >= 900, "{txn}");
    let reasons = reason_ids(&txn);
    assert!(reasons.contains(&"model".to_owned()), "{reasons:?}");
    assert!(
        reasons.contains(&"model:TX_AMOUNT".to_owned()),
        "{reasons:?}"
    );
    let (_, alerts) = api(&running, &token, "GET", "/v1/alerts", None).await;
    let alert = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["txn_id"] == rrn)
        .expect("an alert for the model's decline")
        .clone();
    assert!(
        alert["rules"]
            .as_array()
            .unwrap()
            .contains(&json!("model:TX_AMOUNT")),
        "{alert}"
    );

    // Second life: the installed model is in force again.
    drop(c);
    let second = host::start(cfg).await.expect("restart");
    let (_, model) = api(&second, &token, "GET", "/v1/risk/model", None).await;
    assert_eq!(model["installed"], true, "{model}");
    assert_eq!(model["policy"]["decline_at"], 900);
    let mut c2 = client(second.link_addr).await;
    assert_eq!(purchase(&mut c2, 3, 30_000).await.code(), "59");
}
