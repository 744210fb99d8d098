//! The Handbook dataset's published check values (shared/docs/FRAUD-BENCHMARK.md), on a
//! full default run. One test: the run takes about a second with the optimised test profile.

use sim::{FraudScenario, HandbookConfig, customer_profiles, generate_dataset};

#[test]
fn handbook_default_run_reproduces_published_check_values() {
    let dataset = generate_dataset(&HandbookConfig::default());
    let txs = &dataset.transactions;
    assert_eq!(txs.len(), 1_754_155);
    assert_eq!(dataset.fraud.total(), 14_681);
    assert_eq!(txs.iter().filter(|t| t.fraud).count(), 14_681);
    assert_eq!(dataset.fraud.added, [978, 9_099, 4_604]);
    assert_eq!(dataset.fraud.labelled, [973, 9_077, 4_631]);
    let by_label = |s: FraudScenario| txs.iter().filter(|t| t.scenario == s).count();
    assert_eq!(by_label(FraudScenario::CompromisedCustomer), 4_631);

    let first = &txs[0];
    assert_eq!(
        (
            first.id,
            first.tx_time_seconds,
            first.customer_id,
            first.terminal_id,
            first.amount_cents
        ),
        (0, 31, 596, 3_156, 5_716)
    );
    assert!(txs.iter().enumerate().all(|(row, t)| t.id == row as u64));
    assert!(
        txs.windows(2)
            .all(|w| w[0].tx_time_seconds <= w[1].tx_time_seconds)
    );
}

#[test]
fn customer_zero_profile_matches_handbook() {
    let c = &customer_profiles(1, 0)[0];
    let rounded = |v: f64| (v * 1e6).round() / 1e6;
    assert_eq!(
        [c.x, c.y, c.mean_amount, c.std_amount, c.mean_nb_tx_per_day].map(rounded),
        [54.881350, 71.518937, 62.262521, 31.131260, 2.179533]
    );
}
