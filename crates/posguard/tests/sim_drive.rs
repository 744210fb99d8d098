//! `posguard sim drive`: the Handbook simulator's purchases over a live host's terminal
//! link. Every simulated purchase gets an answer, the tally adds up, the host recorded
//! each one with the simulated terminal and card, and a second drive over the same
//! transactions is answered as repeats (same STANs, same field 7), not charged twice.

mod common;
use common::BIN;
use serde_json::Value;
use std::process::Command;

/// At most this many simulated purchases per drive (the first ones of the history).
const LIMIT: u64 = 300;

/// Runs `posguard sim drive` against the host; returns its JSON report.
fn drive(link: &str, http: &str, token: &str, setup: bool) -> Value {
    let mut cmd = Command::new(BIN);
    cmd.args(["sim", "drive", "--link", link])
        .args(["--api", &format!("http://{http}"), "--token", token])
        .args(["--customers", "60", "--terminals", "200", "--days", "30"])
        .args(["--speedup", "0", "--limit", &LIMIT.to_string()]);
    if setup {
        cmd.arg("--setup");
    }
    let out = cmd.output().expect("run posguard sim drive");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sim drive failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// Answers counted in one of the report's `{code: count}` maps.
fn answers(report: &Value, key: &str) -> u64 {
    report[key]
        .as_object()
        .unwrap_or_else(|| panic!("no {key} in {report}"))
        .values()
        .map(|n| n.as_u64().expect("a count"))
        .sum()
}

fn code(report: &Value, key: &str, code: &str) -> u64 {
    report[key][code].as_u64().unwrap_or(0)
}

/// The transactions the host lists, as JSON (`posguard txn list`).
fn listed(http: &str, token: &str) -> Vec<Value> {
    let out = Command::new(BIN)
        .args([
            "txn",
            "list",
            "--api",
            &format!("http://{http}"),
            "--token",
            token,
        ])
        .args(["--limit", "1000"])
        .output()
        .expect("run posguard txn list");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("txn list prints JSON");
    assert!(v["next_after_id"].is_null(), "one page holds them all: {v}");
    v["items"]
        .as_array()
        .expect("a page of transactions")
        .clone()
}

#[test]
fn simulated_purchases_reach_the_host_and_repeat_exactly_once() {
    let dir = common::temp_dir("sim-drive");
    let (_server, link, http, token) = common::serve_fresh(&dir, &[]);

    let first = drive(&link, &http, &token, true);
    let sent = first["sent"].as_u64().expect("sent");
    assert!(sent > LIMIT / 2 && sent <= LIMIT, "{first}");
    let tallied = answers(&first, "genuine_by_code") + answers(&first, "fraud_by_code");
    assert_eq!(tallied, sent, "every purchase is answered once: {first}");
    let approved = code(&first, "genuine_by_code", "00") + code(&first, "fraud_by_code", "00");
    assert!(approved > 0, "{first}");

    let txns = listed(&http, &token);
    assert_eq!(
        txns.len() as u64,
        sent,
        "the host recorded each purchase once"
    );
    for t in &txns {
        let terminal = t["terminal_id"].as_str().expect("terminal_id");
        assert!(terminal.starts_with("HB"), "a simulated terminal: {t}");
        assert_eq!(t["kind"], "purchase", "{t}");
        assert!(
            t["card_token"].is_string() || t["masked_pan"].is_string(),
            "{t}"
        );
    }

    // The same history again: same terminals, STANs and field 7, so each is a repeat
    // of its original and the host records nothing new.
    let second = drive(&link, &http, &token, false);
    let again = answers(&second, "genuine_by_code") + answers(&second, "fraud_by_code");
    assert_eq!(again, sent, "{second}");
    for key in ["genuine_by_code", "fraud_by_code"] {
        assert_eq!(
            first[key], second[key],
            "repeats get their original answers: {first} vs {second}"
        );
    }
    assert_eq!(
        listed(&http, &token).len() as u64,
        sent,
        "no purchase charged twice"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
