//! Loading rules: what is rejected (with line and column), and how evaluation treats
//! faults. Data-driven: (source, expected outcome).

mod common;

use common::*;
use risk::{
    Action, EntryMode, EvalError, FeatureStore, Features, GeoArea, GeoPoint, LoadErrorKind, Mode,
    RuleSet, RuleSpec, Schema, Severity, StoreConfig, TerminalStatus, TxnFacts, evaluate,
};

fn schema() -> Schema {
    Schema::new(&StoreConfig::default())
}

fn rule(when: &str) -> String {
    format!(
        "# a comment\nrule t.one {{\n  version 2\n  severity low\n  score 10\n  action review\n  mode active\n  when    {when}\n}}\n"
    )
}

/// (condition on line 8 from column 11, expected error text, line, column)
#[test]
fn bad_conditions_are_rejected_with_their_place() {
    let cases: &[(&str, &str, u32, u32)] = &[
        (
            "card.count_1h > ",
            "syntax error: expected a value, a field or `(`, found the end",
            8,
            26,
        ),
        ("card.cnt_1h > 5", "unknown field `card.cnt_1h`", 8, 11),
        (
            "card.count_1h > \"x\"",
            "type mismatch: cannot compare int with string",
            8,
            27,
        ),
        (
            "amount_minor + 1",
            "type mismatch: a condition must be bool, this is int",
            8,
            11,
        ),
        (
            "offline && 3",
            "type mismatch: `&&` needs bool, found int",
            8,
            22,
        ),
        (
            "1 < amount_minor < 3",
            "syntax error: comparisons do not chain; join them with `&&`, found `<`",
            8,
            28,
        ),
        (
            "kind == 5",
            "type mismatch: cannot compare string with int",
            8,
            11,
        ),
        (
            "(offline",
            "syntax error: expected `)`, found the end",
            8,
            19,
        ),
        (
            "amount_minor > 99999999999999999999",
            "syntax error: integer does not fit in 64 bits",
            8,
            26,
        ),
        (
            "amount_minor > 5 @ 3",
            "syntax error: unexpected character `@`",
            8,
            28,
        ),
        (
            "amount_minor % 2.5 == 0",
            "type mismatch: `%` needs two ints",
            8,
            11,
        ),
        // String fields with a fixed set of values reject literals outside it.
        (
            "has(terminal.status) && terminal.status == \"lsot\"",
            "type mismatch: `terminal.status` has no value \"lsot\"",
            8,
            54,
        ),
        (
            "\"fallbak\" == entry_mode",
            "type mismatch: `entry_mode` has no value \"fallbak\"",
            8,
            11,
        ),
        (
            "kind in [\"refund\", \"refunds\"]",
            "type mismatch: `kind` has no value \"refunds\"",
            8,
            30,
        ),
        (
            "currency == \"RMB\"",
            "type mismatch: `currency` has no value \"RMB\"",
            8,
            23,
        ),
        (
            "terminal.speed_kmh > \"fast\"",
            "type mismatch: cannot compare int with string",
            8,
            32,
        ),
        (
            "terminal.distance_home_km > 5",
            "unknown field `terminal.distance_home_km`",
            8,
            11,
        ),
        (
            "card.fallback_1h > 1",
            "unknown field `card.fallback_1h`",
            8,
            11,
        ),
    ];
    for &(when, message, line, column) in cases {
        let text = rule(when);
        let err = RuleSet::from_texts(1, &[("t.rules", &text)], &schema()).unwrap_err();
        let e = &err.errors[0];
        assert_eq!(
            (e.kind.to_string().as_str(), e.line, e.column),
            (message, line, column),
            "{when}"
        );
        assert_eq!(e.to_string(), format!("t.rules:{line}:{column}: {message}"));
    }
}

#[test]
fn multi_line_conditions_report_the_right_line() {
    let text = "rule a {\n  version 1\n  severity low\n  score 1\n  action review\n  mode active\n  when amount_minor > 1\n       && card.nope_1h > 2\n}\n";
    let err = RuleSet::from_texts(1, &[("m.rules", text)], &schema()).unwrap_err();
    assert_eq!((err.errors[0].line, err.errors[0].column), (8, 11), "{err}");
}

#[test]
fn bad_blocks_are_rejected() {
    let cases: &[(&str, &str)] = &[
        (
            "rule a {\n  versoin 1\n}\n",
            "a.rules:2:3: unknown field `versoin`",
        ),
        (
            "rule a {\n  version 1\n}\n",
            "a.rules:1:1: missing field `severity`",
        ),
        (
            "rule a {\n  version x\n",
            "a.rules:1:1: syntax error: block is not closed",
        ),
        (
            "nonsense\n",
            "a.rules:1:1: syntax error: expected `rule <id> {`",
        ),
        (
            "rule a {\n version 1\n severity huge\n score 1\n action review\n mode active\n when true\n}\n",
            "a.rules:3:11: bad value for `severity`",
        ),
        (
            "rule a {\n version 1\n severity low\n score 1001\n action review\n mode active\n when true\n}\n",
            "a.rules:4:8: bad value for `score`: 1001 is above 1000",
        ),
        (
            "rule a {\n version 1\n severity low\n score 1\n action decline 00\n mode active\n when true\n}\n",
            "a.rules:5:9: bad value for `action`",
        ),
        (
            "rule A {\n version 1\n severity low\n score 1\n action review\n mode active\n when true\n}\n",
            "a.rules:1:1: syntax error: rule ids",
        ),
    ];
    for &(text, prefix) in cases {
        let err = RuleSet::from_texts(1, &[("a.rules", text)], &schema()).unwrap_err();
        assert!(err.to_string().contains(prefix), "{text:?}\n got: {err}");
    }
}

#[test]
fn a_duplicate_rule_id_rejects_the_whole_load() {
    let one = rule("true");
    let err =
        RuleSet::from_texts(1, &[("a.rules", &one), ("b.rules", &one)], &schema()).unwrap_err();
    assert!(
        matches!(err.errors[0].kind, LoadErrorKind::DuplicateRule(_)),
        "{err}"
    );
}

#[test]
fn api_objects_load_through_serde_and_reject_unknown_fields() {
    let json = r#"[{"id":"api.big","version":3,"severity":"critical","score":900,
        "action":"decline 59","mode":"shadow","when":"amount_minor > 100"}]"#;
    let specs: Vec<RuleSpec> = serde_json::from_str(json).unwrap();
    let set = RuleSet::from_specs(7, specs, &schema()).unwrap();
    assert_eq!(set.rules()[0].mode, Mode::Shadow);
    assert_eq!(set.rules()[0].severity, Severity::Critical);
    let bad = r#"{"id":"x","version":1,"severity":"low","score":1,"action":"review","mode":"active","when":"true","colour":"red"}"#;
    assert!(
        serde_json::from_str::<RuleSpec>(bad)
            .unwrap_err()
            .to_string()
            .contains("unknown field `colour`")
    );
    let spec = RuleSpec {
        id: "api.bad".into(),
        version: 1,
        severity: Severity::Low,
        score: 1,
        action: "review".into(),
        mode: Mode::Active,
        when: "offline\n && nope".into(),
        description: String::new(),
    };
    let err = RuleSet::from_specs(1, vec![spec], &schema()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "api:api.bad.when:2:5: unknown field `nope`"
    );
}

fn eval_one(when: &str, facts: &TxnFacts, features: &Features) -> risk::Decision {
    let set = RuleSet::from_texts(4, &[("t.rules", &rule(when))], &schema()).unwrap();
    evaluate(&set, facts, features)
}

#[test]
fn run_time_faults_are_recorded_and_do_not_stop_evaluation() {
    let facts = TxnFacts::purchase(T0, i64::MAX);
    let features = Features::default();
    let cases: &[(&str, EvalError)] = &[
        ("amount_minor + 1 > 0", EvalError::Overflow),
        (
            "card.count_1h / card.count_1d > 1",
            EvalError::DivisionByZero,
        ),
        (
            "amount_minor % card.count_1h == 0",
            EvalError::DivisionByZero,
        ),
        (
            "terminal.floor_limit_minor < amount_minor",
            EvalError::Missing("terminal.floor_limit_minor".into()),
        ),
        (
            "operator.count_1h > 0",
            EvalError::Missing("operator.count_1h".into()),
        ),
    ];
    for (when, error) in cases {
        let d = eval_one(when, &facts, &features);
        assert_eq!(d.errors.len(), 1, "{when}");
        assert_eq!(&d.errors[0].error, error, "{when}");
        assert_eq!(d.action, Action::Approve);
        assert!(d.active_rule_failed());
    }
    // `&&` and `||` short-circuit, and `has` never fails.
    let d = eval_one(
        "has(operator.count_1h) && operator.count_1h > 0",
        &facts,
        &features,
    );
    assert!(d.errors.is_empty() && d.reasons.is_empty());
}

#[test]
fn the_language_evaluates_what_it_says() {
    let mut facts = TxnFacts::purchase(T0 + 3 * HOUR_MS, 12_345);
    facts.mcc = 6011;
    let mut store = FeatureStore::new(StoreConfig::default()).unwrap();
    let mut s = Script::new(RuleSet::from_texts(1, &[], &schema()).unwrap());
    let ev = s.event(T0 + 3 * HOUR_MS, 1, 2, 12_345);
    let features = store.observe(&ev);
    let truths = [
        "amount_minor == 12_345",
        "amount_minor / 100 > 123.4",
        "amount_minor % 100 == 45",
        "-amount_minor < 0",
        "!offline",
        "currency == \"CNY\" && kind == \"purchase\" && entry_mode != \"manual\"",
        "merchant.mcc in [6010, 6011]",
        "kind in [\"purchase\", \"pre_auth\"]",
        "hour_local == 3 && weekday_local == 1",
        "card.count_1h == 1 && card.mean_30d == 12345.0 && card.max_7d == 12_345",
        "card.distinct_1d == 1 && terminal.distinct_1d == 1 && card_terminal.count_30d == 1",
        "terminal.delayed_count_7d == 0 && terminal.fraud_rate_30d == 0.0",
        "!has(card.since_prev_ms) && 1h == 3_600_000 && 2d == 48h",
        "(1 + 2) * 3 == 9 && 1 + 2 * 3 == 7",
        "card.fallbacks_1h == 0 && terminal.fallbacks_30d == 0",
        "!has(terminal.status) && !has(terminal.radius_m) && !has(location_lat_e6)",
        "!has(terminal.distance_home_m) && !has(terminal.speed_kmh)",
    ];
    for when in truths {
        let d = eval_one(when, &facts, &features);
        assert!(d.errors.is_empty(), "{when}: {:?}", d.errors);
        assert_eq!(d.reasons.len(), 1, "{when} should hold");
        assert_eq!(d.rule_set_version, 4);
    }
}

#[test]
fn score_is_capped_and_the_most_severe_decline_wins() {
    let text = "\
rule a {\n version 1\n severity medium\n score 700\n action decline 05\n mode active\n when true\n}\n\
rule b {\n version 1\n severity critical\n score 600\n action decline 59\n mode active\n when true\n}\n\
rule c {\n version 1\n severity critical\n score 900\n action review\n mode shadow\n when true\n}\n";
    let set = RuleSet::from_texts(1, &[("s.rules", text)], &schema()).unwrap();
    let d = evaluate(&set, &TxnFacts::purchase(T0, 1), &Features::default());
    assert_eq!(d.score, 1000);
    assert_eq!(
        d.action,
        Action::Decline(model::ResponseCode::SuspectedFraud)
    );
    assert_eq!(d.reasons.len(), 2);
    assert_eq!(d.shadow_hits.len(), 1);
}

#[test]
fn rule_text_never_panics_the_loader() {
    let nasty = [
        "(".repeat(10_000),
        "!".repeat(10_000),
        "\"unterminated".into(),
        "é > 1".into(),
        "1 1".into(),
        String::new(),
    ];
    for when in nasty {
        assert!(
            RuleSet::from_texts(1, &[("n.rules", &rule(&when))], &schema()).is_err(),
            "{when:.20}"
        );
    }
}

/// The terminal and location facts and the geo features read what the host filled in.
#[test]
fn terminal_and_location_fields_read_their_values() {
    let mut s = Script::new(RuleSet::from_texts(1, &[], &schema()).unwrap());
    let home = GeoArea {
        center: SHANGHAI,
        radius_m: 8_000,
    };
    let edit = |place: GeoPoint| {
        move |f: &mut TxnFacts| {
            f.terminal_status = Some(TerminalStatus::Active);
            f.terminal_home = Some(home);
            f.location = Some(place);
            f.entry_mode = EntryMode::Fallback;
        }
    };
    let ev = s.event(T0, 1, 2, 100);
    s.run(ev, edit(SHANGHAI));
    let ev = s.event(T0 + HOUR_MS, 1, 2, 100);
    let mut facts = TxnFacts::purchase(T0 + HOUR_MS, 100);
    edit(BEIJING)(&mut facts);
    let ev = risk::RiskEvent::from_facts(ev.txn_id, ev.card, ev.terminal, ev.merchant, &facts);
    let features = s.store.observe(&ev);
    let truths = [
        "terminal.status == \"active\" && terminal.status in [\"active\", \"unknown\"]",
        "terminal.home_lat_e6 == 31_230_400 && terminal.home_lon_e6 == 121_473_700",
        "terminal.radius_m == 8_000",
        "location_lat_e6 == 39_904_200 && location_lon_e6 == 116_407_400",
        "terminal.distance_home_m > 1_060_000 && terminal.distance_home_m < 1_075_000",
        "terminal.distance_prev_m == terminal.distance_home_m",
        // An hour after the previous one: km/h is whole kilometres, rounded down.
        "terminal.speed_kmh * 1000 <= terminal.distance_prev_m
         && terminal.distance_prev_m < (terminal.speed_kmh + 1) * 1000",
        "entry_mode == \"fallback\" && card.fallbacks_1h == 1 && card.fallbacks_1d == 2",
    ];
    for when in truths {
        let d = eval_one(when, &facts, &features);
        assert!(d.errors.is_empty(), "{when}: {:?}", d.errors);
        assert_eq!(
            d.reasons.len(),
            1,
            "{when} should hold: {:?}",
            features.terminal_geo
        );
    }
}
