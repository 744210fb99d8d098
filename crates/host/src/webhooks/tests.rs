//! The parts of `Webhooks` that need no receiver: checks, errors and what Debug shows.

use super::*;

const SECRET: [u8; 32] = [0x5a; 32];

fn secret() -> HmacKey {
    HmacKey::from_bytes(&SECRET).unwrap()
}

fn env() -> Env {
    Env {
        now_ms: || 1_700_000_000_000,
        seed: 1,
    }
}

fn config(endpoints: Vec<Endpoint>) -> WebhookConfig {
    WebhookConfig {
        endpoints,
        ..WebhookConfig::default()
    }
}

fn endpoint(id: &str, url: &str) -> Endpoint {
    Endpoint {
        id: id.into(),
        url: url.into(),
        events: Vec::new(),
    }
}

fn ignore() -> DeadLetterSink {
    Arc::new(|_| {})
}

#[test]
fn starting_outside_a_runtime_is_an_error() {
    let started = Webhooks::start(config(Vec::new()), secret(), ignore(), env());
    assert!(matches!(started, Err(WebhookError::NoRuntime)));
}

#[tokio::test]
async fn limits_are_checked() {
    let bad = [
        Limits {
            queue_depth_max_events: 0,
            ..Limits::default()
        },
        Limits {
            attempts_max: 0,
            ..Limits::default()
        },
        Limits {
            backoff_base_ms: 2,
            backoff_max_ms: 1,
            ..Limits::default()
        },
        Limits {
            request_timeout_ms: 0,
            ..Limits::default()
        },
        Limits {
            body_size_max_bytes: 0,
            ..Limits::default()
        },
    ];
    for limits in bad {
        let config = WebhookConfig {
            limits,
            ..WebhookConfig::default()
        };
        let started = Webhooks::start(config, secret(), ignore(), env());
        assert!(
            matches!(started, Err(WebhookError::Limits(_))),
            "{limits:?}"
        );
    }
}

#[tokio::test]
async fn debug_and_errors_show_no_secret_and_no_url_token() {
    let url = "http://127.0.0.1:9/hook?token=receiver-secret";
    let webhooks = Webhooks::start(
        config(vec![endpoint("crm", url)]),
        secret(),
        ignore(),
        env(),
    )
    .expect("start");
    let shown = format!("{webhooks:?}");
    assert!(shown.contains("crm"), "{shown}");
    for secret_text in [
        hex::encode(SECRET),
        hex::encode_upper(SECRET),
        "receiver-secret".into(),
    ] {
        assert!(!shown.contains(&secret_text), "{shown}");
    }
    assert!(!format!("{:?}", secret()).contains(&hex::encode(SECRET)));
    let bad = webhooks.set_endpoints(vec![endpoint("x", "ftp://u:receiver-secret@h/")]);
    let message = bad.expect_err("ftp is refused").to_string();
    assert!(!message.contains("receiver-secret"), "{message}");
}

#[tokio::test]
async fn emit_refuses_bad_types_and_oversized_bodies() {
    let limits = Limits {
        body_size_max_bytes: 100,
        ..Limits::default()
    };
    let config = WebhookConfig {
        limits,
        ..config(vec![endpoint("a", "http://127.0.0.1:9/")])
    };
    let webhooks = Webhooks::start(config, secret(), ignore(), env()).expect("start");
    let refused = webhooks.emit("alert created", serde_json::json!({}));
    assert!(matches!(refused, Err(EmitError::EventType(_))));
    let big = serde_json::json!({"text": "x".repeat(200)});
    assert!(matches!(
        webhooks.emit("alert.created", big),
        Err(EmitError::TooLarge { .. })
    ));
    let id = webhooks
        .emit("alert.created", serde_json::json!({}))
        .expect("emit");
    assert!(id.starts_with("evt_"));
    assert_eq!(webhooks.stats().queued, 1);
}

#[tokio::test]
async fn an_event_nobody_wants_is_stamped_but_not_queued() {
    let mut only_cases = endpoint("cases", "http://127.0.0.1:9/");
    only_cases.events = vec!["case.updated".into()];
    let webhooks =
        Webhooks::start(config(vec![only_cases]), secret(), ignore(), env()).expect("start");
    let id = webhooks
        .emit("alert.created", serde_json::json!({}))
        .expect("emit");
    assert!(id.starts_with("evt_"));
    assert_eq!(webhooks.stats(), WebhookStats::default());
}
