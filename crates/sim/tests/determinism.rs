//! The output of a run depends on its configuration only, not on how it is computed.

use sim::{HandbookConfig, generate};

fn small(threads: usize) -> HandbookConfig {
    HandbookConfig {
        customers: 300,
        terminals: 600,
        days: 40,
        threads,
        ..Default::default()
    }
}

#[test]
fn thread_count_does_not_change_output() {
    let single = generate(&small(1));
    assert!(
        single.len() > 10_000,
        "too few transactions to mean anything"
    );
    for threads in [2, 3, 7] {
        assert_eq!(generate(&small(threads)), single, "threads = {threads}");
    }
}

#[test]
fn other_seeds_give_other_data() {
    let base = generate(&small(1));
    let reseeded = generate(&HandbookConfig {
        customer_seed: 17,
        ..small(1)
    });
    assert_ne!(base, reseeded);
}

#[test]
fn empty_configurations_do_not_panic() {
    for cfg in [
        HandbookConfig {
            customers: 0,
            ..small(2)
        },
        HandbookConfig {
            terminals: 0,
            ..small(2)
        },
        HandbookConfig {
            days: 0,
            ..small(2)
        },
        HandbookConfig {
            customers: 1,
            terminals: 3,
            days: 1,
            ..small(4)
        },
    ] {
        let txs = generate(&cfg);
        assert!(txs.iter().all(|t| t.terminal_id < cfg.terminals.max(1)));
    }
}
