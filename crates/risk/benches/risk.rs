//! Per-transaction cost of the risk core: feature update plus 50 rules, and memory.

use std::hint::black_box;

use risk::handbook::{LabelledTxn, from_sim};
use risk::{
    CardKey, FeatureStore, Label, MerchantKey, RiskEvent, RuleSet, Schema, StoreConfig,
    TerminalKey, TxnFacts, evaluate,
};

fn main() {
    print_memory();
    divan::main();
}

fn history() -> Vec<LabelledTxn> {
    let cfg = sim::HandbookConfig {
        customers: 500,
        terminals: 1_000,
        days: 60,
        ..Default::default()
    };
    sim::generate(&cfg)
        .iter()
        .map(|t| from_sim(t, cfg.start_date))
        .collect()
}

/// 50 rules: the shipped packs' conditions, repeated under new ids.
fn fifty_rules() -> RuleSet {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let mut conds = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let mut cond = String::new();
        let mut in_when = false;
        for line in text.lines() {
            let t = line.trim();
            if let Some(rest) = t.strip_prefix("when") {
                cond = rest.to_owned();
                in_when = true;
            } else if t == "}" && in_when {
                conds.push(std::mem::take(&mut cond));
                in_when = false;
            } else if in_when {
                cond.push(' ');
                cond.push_str(t);
            }
        }
    }
    let mut text = String::new();
    for i in 0..50 {
        let when = &conds[i % conds.len()];
        text.push_str(&format!(
            "rule bench.r{i} {{\n version 1\n severity medium\n score 10\n action review\n mode active\n when {when}\n}}\n"
        ));
    }
    RuleSet::from_texts(
        1,
        &[("bench.rules", &text)],
        &Schema::new(&StoreConfig::default()),
    )
    .unwrap()
}

#[divan::bench(sample_count = 20)]
fn observe_and_evaluate_50_rules(bencher: divan::Bencher) {
    let history = history();
    let rules = fifty_rules();
    // Warm the store with the first 45 days; measure on the rest.
    let split =
        history.partition_point(|h| h.event.time_ms < history[0].event.time_ms + 45 * 86_400_000);
    let mut warm = FeatureStore::new(StoreConfig::default()).unwrap();
    for h in &history[..split] {
        warm.observe(&h.event);
        if h.fraud {
            warm.label(Label {
                txn_id: h.event.txn_id,
                fraud: true,
                known_at_ms: None,
            });
        }
    }
    let tail = &history[split..];
    bencher
        .counter(divan::counter::ItemsCount::new(tail.len()))
        .with_inputs(|| warm.clone())
        .bench_local_values(|mut store| {
            for h in tail {
                let f = store.observe(&h.event);
                black_box(evaluate(&rules, &h.facts, &f));
            }
            store
        });
}

#[divan::bench(sample_count = 20)]
fn evaluate_50_rules_only(bencher: divan::Bencher) {
    let history = history();
    let rules = fifty_rules();
    let mut store = FeatureStore::new(StoreConfig::default()).unwrap();
    let inputs: Vec<_> = history
        .iter()
        .take(20_000)
        .map(|h| (h.facts, store.observe(&h.event)))
        .collect();
    bencher
        .counter(divan::counter::ItemsCount::new(inputs.len()))
        .bench_local(|| {
            for (facts, f) in &inputs {
                black_box(evaluate(&rules, facts, f));
            }
        });
}

/// A hot merchant: 4,000 events in its 30-day ring (each new one was a full pass over
/// them before the running aggregates).
#[divan::bench(sample_count = 20)]
fn observe_hot_merchant_4000_events(bencher: divan::Bencher) {
    let h = history();
    let mut store = FeatureStore::new(StoreConfig::default()).unwrap();
    let mut events: Vec<_> = h.iter().take(4_000).map(|x| x.event).collect();
    for e in &mut events {
        e.merchant = risk::MerchantKey(0);
    }
    for e in &events[..3_900] {
        store.observe(e);
    }
    let tail = &events[3_900..];
    bencher
        .counter(divan::counter::ItemsCount::new(tail.len()))
        .with_inputs(|| store.clone())
        .bench_local_values(|mut s| {
            for e in tail {
                black_box(s.observe(e));
            }
            s
        });
}

/// Events of the host's load test: one merchant, 200 terminals (4 of them hot, taking an
/// eighth of the traffic), 1,000 cards, 20,000 transactions per second (20 per ms).
fn busy_history(n: usize) -> Vec<(TxnFacts, RiskEvent)> {
    const T0_MS: i64 = 1_709_510_400_000;
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        // xorshift64*: a fixed seed, so every run measures the same events.
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    (0..n)
        .map(|i| {
            let r = next();
            let terminal = if i % 8 == 0 {
                (r >> 40) % 4
            } else {
                (r >> 40) % 200
            };
            let amount = 100 + (r >> 8) % 50_000;
            let facts = TxnFacts::purchase(T0_MS + i as i64 / 20, amount as i64);
            let e = RiskEvent::from_facts(
                i as u64,
                CardKey((r % 1_000) as u32),
                TerminalKey(terminal as u32),
                MerchantKey(0),
                &facts,
            );
            (facts, e)
        })
        .collect()
}

/// The host's load test: after 200,000 transactions (10 s at 20,000/s) the merchant's and
/// the hot terminals' rings are full; each transaction is observed, scored by 50 rules,
/// and one in 20 is declined afterwards.
#[divan::bench(sample_count = 20)]
fn busy_entities_observe_and_evaluate_50_rules(bencher: divan::Bencher) {
    const WARM: usize = 200_000;
    let events = busy_history(WARM + 10_000);
    let rules = fifty_rules();
    let mut warm = FeatureStore::new(StoreConfig::default()).unwrap();
    for (i, (_, e)) in events[..WARM].iter().enumerate() {
        warm.observe(e);
        if i % 20 == 0 {
            warm.record_decline(e.txn_id);
        }
    }
    let tail = &events[WARM..];
    bencher
        .counter(divan::counter::ItemsCount::new(tail.len()))
        .with_inputs(|| warm.clone())
        .bench_local_values(|mut store| {
            for (i, (facts, e)) in tail.iter().enumerate() {
                let f = store.observe(e);
                black_box(evaluate(&rules, facts, &f));
                if i % 20 == 0 {
                    store.record_decline(e.txn_id);
                }
            }
            store
        });
}

fn print_memory() {
    let history = history();
    let mut store = FeatureStore::new(StoreConfig::default()).unwrap();
    for h in &history {
        store.observe(&h.event);
    }
    let cards: Vec<u32> = (0..500).collect();
    let total: usize = cards.iter().map(|&c| store.card_bytes(c)).sum();
    let max = cards
        .iter()
        .map(|&c| store.card_bytes(c))
        .max()
        .unwrap_or(0);
    println!(
        "memory: {} bytes per kept event; card ring with all windows: mean {} bytes, max {} bytes \
         (500 cards, 60 days of simulated traffic); worst case {} events x {} bytes = {} KiB",
        risk::features::ENTRY_BYTES,
        total / cards.len(),
        max,
        StoreConfig::default().events_per_entity_max,
        risk::features::ENTRY_BYTES,
        StoreConfig::default().events_per_entity_max as usize * risk::features::ENTRY_BYTES / 1024,
    );
    println!(
        "store heap estimate for the run: {} KiB",
        store.heap_bytes() / 1024
    );
    let mut busy = FeatureStore::new(StoreConfig::default()).unwrap();
    for (_, e) in busy_history(200_000) {
        busy.observe(&e);
    }
    let cards: Vec<usize> = (0..1_000).map(|c| busy.card_bytes(c)).collect();
    println!(
        "busy run (200,000 events, 1,000 cards, 200 terminals, 1 merchant): store heap {} KiB, \
         card mean {} bytes",
        busy.heap_bytes() / 1024,
        cards.iter().sum::<usize>() / cards.len(),
    );
}
