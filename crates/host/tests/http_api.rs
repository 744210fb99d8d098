//! The HTTP API end to end: a real posguard on ephemeral ports, spoken to over TCP.
//! The main scenario runs on SQLite and, when POSGUARD_TEST_PG_URL is set, on
//! PostgreSQL (each run in a schema of its own); under CI=true the URL is required.

mod common;
#[path = "common/http.rs"]
mod http;

use common::Backend;
use http::Api;
use serde_json::{Value, json};

const PAN: &str = "4761739001010010";
const PAN_POOR: &str = "4012345678909";
const PAN_LUHN_BAD: &str = "4761739001010011";
const PAN_UNKNOWN: &str = "5555555555554444";
const ALL_PANS: [&str; 4] = [PAN, PAN_POOR, PAN_LUHN_BAD, PAN_UNKNOWN];

/// Starts posguard for one test; None when the backend is not available (skipped).
async fn start(tag: &str, backend: Backend) -> Option<(host::Running, Api)> {
    let config = common::config(tag, backend)?;
    let running = host::start(config).await.expect("start posguard");
    let token = running
        .new_admin_token
        .clone()
        .expect("a fresh store makes an admin token");
    let api = Api::new(running.http_addr, Some(token));
    Some((running, api))
}

fn purchase(amount: i64, pan: &str) -> Value {
    json!({
        "terminal_id": "T1", "kind": "purchase", "amount_minor": amount, "currency": "CNY",
        "pan": pan,
    })
}

async fn provision(api: &Api) -> String {
    let merchant = json!({
        "id": "M1", "name": "Corner Shop", "mcc": "5411", "currency": "CNY", "fee_bps": 100,
    });
    let r = api.post("/v1/merchants", &merchant).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["currency"], 156);
    let r = api
        .post("/v1/terminals", &json!({"id": "T1", "merchant_id": "M1"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "active");
    let card = |pan: &str, limit: i64| {
        json!({
            "pan": pan, "expiry": "3012", "currency": 156, "limit_minor": limit,
            "daily_limit_minor": 500_000,
        })
    };
    let r = api.post("/v1/cards", &card(PAN_POOR, 1_000)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = api.post("/v1/cards", &card(PAN, 100_000)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let c = r.json();
    assert_eq!(c["masked_pan"], "476173******0010");
    assert_eq!(c["available_minor"], 100_000);
    c["token"].as_str().expect("a token").to_owned()
}

async fn available(api: &Api, token: &str) -> i64 {
    let r = api.get(&format!("/v1/cards/{token}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["available_minor"]
        .as_i64()
        .expect("available_minor")
}

/// Posts a transaction and expects an answer (HTTP 200, approved or not).
async fn txn(api: &Api, key: &str, body: &Value) -> Value {
    let r = api.post_idem("/v1/transactions", key, body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

async fn scenario(backend: Backend) {
    let Some((_running, api)) = start("httpscenario", backend).await else {
        return;
    };
    let token = provision(&api).await;
    let sale_id = purchase_exactly_once(&api, &token).await;
    declines_are_answers(&api).await;
    refunds_stay_within_the_capture(&api, &sale_id).await;
    reversal_gives_the_money_back(&api, &token).await;
    search(&api, &token).await;
    settle_and_verify(&api).await;
    no_clear_pan(&api);
}

/// Approved, then repeated with the same key: same answer, no second effect.
async fn purchase_exactly_once(api: &Api, token: &str) -> String {
    let a = txn(api, "k-1", &purchase(12_345, PAN)).await;
    assert_eq!(
        (&a["approved"], &a["response_code"]),
        (&json!(true), &json!("00")),
        "{a}"
    );
    assert_eq!(a["duplicate"], false);
    assert_eq!(available(api, token).await, 100_000 - 12_345);
    let again = txn(api, "k-1", &purchase(12_345, PAN)).await;
    assert_eq!(again["duplicate"], true);
    assert_eq!(
        (&again["txn_id"], &again["auth_code"]),
        (&a["txn_id"], &a["auth_code"])
    );
    assert_eq!(available(api, token).await, 100_000 - 12_345);
    let reused = api
        .post_idem("/v1/transactions", "k-1", &purchase(999, PAN))
        .await;
    assert_eq!(
        (reused.status, reused.error_code()),
        (409, "idempotency_key_reused".into())
    );
    let other_card = api
        .post_idem("/v1/transactions", "k-1", &purchase(12_345, PAN_POOR))
        .await;
    assert_eq!(other_card.status, 409, "{}", other_card.text());
    a["txn_id"].as_str().expect("txn_id").to_owned()
}

async fn declines_are_answers(api: &Api) {
    let cases = [
        ("k-2", PAN_POOR, "51"),
        ("k-3", PAN_LUHN_BAD, "14"),
        ("k-4", PAN_UNKNOWN, "14"),
    ];
    for (key, pan, code) in cases {
        let a = txn(api, key, &purchase(5_000, pan)).await;
        let got = (a["response_code"].as_str(), a["approved"].as_bool());
        assert_eq!(got, (Some(code), Some(false)), "{a}");
        assert!(
            a["message"].is_string() && a["message_zh"].is_string(),
            "{a}"
        );
    }
}

async fn refunds_stay_within_the_capture(api: &Api, sale_id: &str) {
    let refund = |amount: i64| {
        json!({
            "terminal_id": "T1", "kind": "refund", "amount_minor": amount,
            "original_id": sale_id,
        })
    };
    let over = txn(api, "k-5", &refund(20_000)).await;
    let got = (over["response_code"].as_str(), over["reason"].as_str());
    assert_eq!(got, (Some("13"), Some("refund_exceeds_capture")));
    let ok = txn(api, "k-6", &refund(345)).await;
    assert_eq!(ok["response_code"], "00", "{ok}");
}

async fn reversal_gives_the_money_back(api: &Api, token: &str) {
    let before = available(api, token).await;
    let sale = txn(api, "k-7", &purchase(1_000, PAN)).await;
    let id = sale["txn_id"].as_str().expect("txn_id").to_owned();
    assert_eq!(available(api, token).await, before - 1_000);
    let path = format!("/v1/transactions/{id}/reversal");
    let rev = api.post_idem(&path, "r-1", &json!({})).await;
    assert_eq!(
        (rev.status, rev.json()["response_code"].as_str()),
        (200, Some("00"))
    );
    let rev_again = api.post_idem(&path, "r-1", &json!({})).await.json();
    assert_eq!(rev_again["duplicate"], true);
    assert_eq!(available(api, token).await, before);
    let detail = api.get(&format!("/v1/transactions/{id}")).await.json();
    assert_eq!(detail["status"], "reversed");
    assert_eq!(detail["masked_pan"], "476173******0010");
    assert!(
        detail["entries"].as_array().is_some_and(|e| !e.is_empty()),
        "{detail}"
    );
}

/// Batch totals: the sale (12345) and the refund (345); the reversed sale is out.
async fn settle_and_verify(api: &Api) {
    let totals = json!({
        "terminal_id": "T1", "key": "batch-1",
        "debit_count": 1, "debit_minor": 12_345, "credit_count": 1, "credit_minor": 345,
    });
    let s = api.post("/v1/settlements", &totals).await;
    let answer = s.json();
    let got = (
        s.status,
        answer["response_code"].as_str(),
        answer["balanced"].as_bool(),
    );
    assert_eq!(got, (200, Some("00"), Some(true)), "{answer}");

    let report = api.get("/v1/ledger/verify").await.json();
    assert_eq!(
        (&report["ok"], &report["problem_count"]),
        (&json!(true), &json!(0)),
        "{report}"
    );
    let sums = report["currency_sums"].as_object().expect("currency_sums");
    assert!(sums.values().all(|v| v == 0), "{report}");
}

async fn search(api: &Api, token: &str) {
    let all = api.get("/v1/transactions?terminal_id=T1").await.json();
    let items = all["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 8, "{all}");
    assert!(all["next_after_id"].is_null());
    let declined = api
        .get("/v1/transactions?terminal_id=T1&status=declined")
        .await
        .json();
    let declined = declined["items"].as_array().expect("items").clone();
    assert!(declined.len() == 4 && declined.iter().all(|t| t["status"] == "declined"));
    let by_code = api.get("/v1/transactions?response_code=51").await.json();
    assert_eq!(by_code["items"].as_array().map(Vec::len), Some(1));
    let mine = api
        .get(&format!(
            "/v1/transactions?card_token={token}&kind=purchase"
        ))
        .await
        .json();
    let mine = mine["items"].as_array().expect("items").clone();
    assert!(
        mine.len() >= 2
            && mine
                .iter()
                .all(|t| t["card_token"] == token && t["kind"] == "purchase")
    );

    // Pages of two add up to the whole list, in order.
    let mut seen = Vec::new();
    let mut path = "/v1/transactions?terminal_id=T1&limit=2".to_owned();
    loop {
        let page = api.get(&path).await.json();
        seen.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|t| t["id"].clone()),
        );
        match page["next_after_id"].as_str() {
            Some(next) => path = format!("/v1/transactions?terminal_id=T1&limit=2&after_id={next}"),
            None => break,
        }
    }
    let ids: Vec<Value> = items.iter().map(|t| t["id"].clone()).collect();
    assert_eq!(seen, ids);

    for bad in [
        "limit=0",
        "limit=x",
        "status=lost",
        "from_ms=yesterday",
        "after_id=-1",
        "nonsense=1",
    ] {
        let r = api.get(&format!("/v1/transactions?{bad}")).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
}

fn no_clear_pan(api: &Api) {
    let transcript = api.transcript();
    for pan in ALL_PANS {
        let found = transcript.windows(pan.len()).any(|w| w == pan.as_bytes());
        assert!(!found, "a clear PAN appeared in a response");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_on_sqlite() {
    scenario(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_on_postgres() {
    scenario(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_but_healthz_needs_a_known_bearer_token() {
    let (_running, api) = start("httpauth", Backend::Sqlite).await.expect("sqlite");
    let anonymous = api.with_token(None);
    assert_eq!(anonymous.get("/healthz").await.status, 200);
    for (method, path) in host::http::routes() {
        if path == "/healthz" {
            continue;
        }
        let path = path.replace("{id}", "1").replace("{token}", "ab");
        for client in [
            anonymous.clone(),
            api.with_token(Some("pgt_not_a_real_token")),
        ] {
            let r = client.send(method, &path, &[], None).await;
            assert_eq!(
                (r.status, r.error_code()),
                (401, "unauthorized".into()),
                "{method} {path}"
            );
            assert!(r.json()["error"]["message_zh"].is_string());
        }
    }
    // The scheme is case-insensitive (RFC 9110); other schemes are not bearer tokens.
    let token = api.token.clone().expect("a token");
    let r = anonymous
        .send(
            "GET",
            "/v1/merchants",
            &[("Authorization", &format!("bearer {token}"))],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = anonymous
        .send(
            "GET",
            "/v1/merchants",
            &[("Authorization", &format!("Basic {token}"))],
            None,
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(api.get("/v1/merchants").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_get_json_errors() {
    let (_running, api) = start("httpbodies", Backend::Sqlite).await.expect("sqlite");
    let json_headers = [
        ("Content-Type", "application/json"),
        ("Idempotency-Key", "e-1"),
    ];
    let r = api
        .send("POST", "/v1/merchants", &json_headers, Some(b"{\"id\": "))
        .await;
    assert_eq!(
        (r.status, r.error_code()),
        (400, "invalid_json".into()),
        "{}",
        r.text()
    );
    let r = api
        .send("POST", "/v1/merchants", &json_headers, Some(b"[1, 2]"))
        .await;
    assert_eq!((r.status, r.error_code()), (400, "invalid_json".into()));
    let r = api
        .send(
            "POST",
            "/v1/merchants",
            &[("Content-Type", "text/plain")],
            Some(b"{}"),
        )
        .await;
    assert_eq!((r.status, r.error_code()), (400, "bad_request".into()));

    let big = format!(
        "{{\"name\": \"{}\"}}",
        "x".repeat(host::http::BODY_MAX_BYTES + 1024)
    );
    let r = api
        .send("POST", "/v1/merchants", &json_headers, Some(big.as_bytes()))
        .await;
    assert_eq!(
        (r.status, r.error_code()),
        (413, "payload_too_large".into())
    );

    no_clear_pan(&api);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_names_the_field_and_never_the_value() {
    let (_running, api) = start("httpvalid", Backend::Sqlite).await.expect("sqlite");
    let r = api
        .post(
            "/v1/merchants",
            &json!({"id": "M1", "name": "Shop", "mcc": "54", "currency": "CNY", "fee_bps": 10}),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["error"]["field"].as_str()),
        (400, Some("mcc"))
    );
    let luhn_bad = json!({
        "pan": PAN_LUHN_BAD, "expiry": "3012", "currency": "CNY", "limit_minor": 1,
        "daily_limit_minor": 1,
    });
    let r = api.post("/v1/cards", &luhn_bad).await;
    assert_eq!(
        (r.status, r.json()["error"]["field"].as_str()),
        (400, Some("pan"))
    );
    let r = api
        .post(
            "/v1/cards",
            &json!({"pan": PAN.parse::<u64>().expect("digits"), "expiry": "3012"}),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["error"]["field"].as_str()),
        (400, Some("pan"))
    );
    let r = api
        .post("/v1/terminals", &json!({"id": "T9", "merchant_id": "NOPE"}))
        .await;
    assert_eq!((r.status, r.error_code()), (404, "unknown_merchant".into()));
    let extra = json!({
        "id": "M1", "name": "Shop", "mcc": "5411", "currency": "CNY", "fee_bps": 10, "x": 1,
    });
    let r = api.post("/v1/merchants", &extra).await;
    assert_eq!((r.status, r.error_code()), (400, "validation".into()));

    // Transactions need an Idempotency-Key.
    let r = api.post("/v1/transactions", &purchase(100, PAN)).await;
    assert_eq!(
        (r.status, r.json()["error"]["field"].as_str()),
        (400, Some("Idempotency-Key"))
    );
    let long_key = "k".repeat(65);
    let r = api
        .post_idem("/v1/transactions", &long_key, &purchase(100, PAN))
        .await;
    assert_eq!(r.status, 400);
    let r = api
        .post_idem(
            "/v1/transactions",
            "e-2",
            &json!({"terminal_id": "T1", "kind": "refund", "amount_minor": 5}),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["error"]["field"].as_str()),
        (400, Some("original_id"))
    );

    no_clear_pan(&api);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_things_are_404_with_their_own_codes() {
    let (_running, api) = start("httpunknown", Backend::Sqlite).await.expect("sqlite");
    for (path, code) in [
        ("/v1/transactions/424242", "not_found"),
        ("/v1/transactions/abc", "not_found"),
        ("/v1/merchants/NOPE", "unknown_merchant"),
        ("/v1/terminals/NOPE", "unknown_terminal"),
        (&format!("/v1/cards/{}", "0".repeat(64)), "unknown_card"),
        ("/v1/nothing-here", "not_found"),
    ] {
        let r = api.get(path).await;
        assert_eq!((r.status, r.error_code()), (404, code.into()), "{path}");
    }
    let r = api
        .post_idem("/v1/transactions/424242/reversal", "e-3", &json!({}))
        .await;
    assert_eq!((r.status, r.error_code()), (404, "not_found".into()));
    let r = api.send("DELETE", "/v1/merchants", &[], None).await;
    assert_eq!(
        (r.status, r.error_code()),
        (405, "method_not_allowed".into())
    );
    no_clear_pan(&api);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_and_card_status_changes_reach_the_engine() {
    let (_running, api) = start("httpstatus", Backend::Sqlite).await.expect("sqlite");
    let token = provision(&api).await;
    let r = api
        .post(
            &format!("/v1/cards/{token}/status"),
            &json!({"status": "lost"}),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (200, Some("lost")),
        "{}",
        r.text()
    );
    let a = api
        .post_idem("/v1/transactions", "s-1", &purchase(100, PAN))
        .await
        .json();
    assert_eq!(a["response_code"], "41");
    let r = api
        .post("/v1/terminals/T1/status", &json!({"status": "blocked"}))
        .await;
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (200, Some("blocked"))
    );
    let a = api
        .post_idem("/v1/transactions", "s-2", &purchase(100, PAN))
        .await
        .json();
    // Declined 58 and recorded, so risk control sees a blocked terminal in use.
    assert_eq!(
        (a["response_code"].as_str(), a["txn_id"].is_null()),
        (Some("58"), false),
        "{a}"
    );
    let r = api
        .post("/v1/terminals/T1/status", &json!({"status": "asleep"}))
        .await;
    assert_eq!(
        (r.status, r.json()["error"]["field"].as_str()),
        (400, Some("status"))
    );
    let listed = api.get("/v1/terminals?merchant_id=M1").await.json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(
        api.get("/v1/merchants")
            .await
            .json()
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    no_clear_pan(&api);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_every_route_and_metrics_render() {
    let (_running, api) = start("httpdocs", Backend::Sqlite).await.expect("sqlite");
    let r = api.get("/openapi.json").await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    for (method, path) in host::http::routes() {
        let op = &doc["paths"][path][method.to_ascii_lowercase()];
        assert!(op.is_object(), "{method} {path} is not in openapi.json");
    }
    let r = api.get("/metrics").await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/plain"))
    );
    assert!(r.text().contains("# TYPE"), "{}", r.text());
}

/// A start that fails after it opened a PostgreSQL store (here: another master key than
/// the one that wrapped the stored keys) is an error that names the cause, not a panic
/// while the store's connections close inside the async runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_start_on_postgres_reports_its_error() {
    let Some(first) = common::config("pgkek", Backend::Postgres) else {
        return;
    };
    let running = host::start(first.clone()).await.expect("first start");
    drop(running);
    // Same database, a new data directory: the demo start makes itself a new KEK.
    let second = host::Config {
        data_dir: common::temp_dir("pg-kek-other"),
        ..first
    };
    let err = host::start(second)
        .await
        .err()
        .expect("the KEK does not match");
    assert!(err.to_string().contains("KEK"), "{err}");
}
