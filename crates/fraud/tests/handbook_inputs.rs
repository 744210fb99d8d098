//! The model's inputs are the Handbook's where they share a name: the published spot
//! values of transaction 1236698, and the whole 15-input vector equal to the feature
//! store's Handbook layout on every transaction of a week.

use fraud::inputs::{HANDBOOK, Inputs};
use risk::handbook::{HandbookLayout, from_sim};
use risk::{FeatureStore, Label, StoreConfig};

const SPOT_TXN: u64 = 1_236_698;
/// Days 115..122 (the Handbook's training week) are compared in full.
const WEEK: std::ops::Range<u32> = 115..122;

#[test]
fn model_inputs_match_the_handbook_spot_values_and_layout() {
    let cfg = sim::HandbookConfig::default();
    let txs = sim::generate(&cfg);
    let config = StoreConfig::default();
    let layout = HandbookLayout::new(&config).expect("default windows");
    let inputs = Inputs::resolve(&HANDBOOK, &config).expect("handbook inputs resolve");
    let mut store = FeatureStore::new(config).expect("valid");
    let (mut spot, mut compared) = (None, 0);
    for tx in &txs {
        let h = from_sim(tx, cfg.start_date);
        let f = store.observe(&h.event);
        if WEEK.contains(&tx.tx_time_days) || tx.id == SPOT_TXN {
            let v = inputs.vector(&h.facts, &f);
            assert_eq!(v, layout.vector(&h.facts, &f).to_vec(), "txn {}", tx.id);
            compared += 1;
            if tx.id == SPOT_TXN {
                spot = Some(v);
            }
        }
        if h.fraud {
            store.label(Label {
                txn_id: h.event.txn_id,
                fraud: true,
                known_at_ms: None,
            });
        }
    }
    assert!(compared > 60_000, "{compared}");
    let v = spot.expect("the spot transaction exists");
    let at = |name: &str| v[HANDBOOK.iter().position(|n| *n == name).unwrap()];
    assert!((at("CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW") - 67.468529).abs() < 1e-6);
    assert_eq!(at("CUSTOMER_ID_NB_TX_30DAY_WINDOW"), 120.0);
    assert!((at("CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW") - 64.61175).abs() < 1e-6);
}
