//! The Handbook's published spot values, computed by the streaming store over the full
//! simulated dataset (1.75 million transactions, replayed in time order).

use risk::handbook::{FEATURE_NAMES, HandbookLayout, from_sim};
use risk::{FeatureStore, Label, StoreConfig};

const SPOT_TXN: u64 = 1_236_698;

#[test]
fn transaction_1236698_has_the_handbook_customer_features() {
    let cfg = sim::HandbookConfig::default();
    let txs = sim::generate(&cfg);
    let config = StoreConfig::default();
    let layout = HandbookLayout::new(&config).expect("default windows include 1, 7, 30 days");
    let mut store = FeatureStore::new(config).expect("default config is valid");
    let mut spot = None;
    for tx in &txs {
        let h = from_sim(tx, cfg.start_date);
        let f = store.observe(&h.event);
        if tx.id == SPOT_TXN {
            spot = Some(layout.vector(&h.facts, &f));
        }
        if h.fraud {
            store.label(Label {
                txn_id: h.event.txn_id,
                fraud: true,
                known_at_ms: None,
            });
        }
    }
    let v = spot.expect("the spot transaction exists");
    let get = |name: &str| {
        v[FEATURE_NAMES
            .iter()
            .position(|n| *n == name)
            .expect("known name")]
    };
    assert!((get("CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW") - 67.468529).abs() < 1e-6);
    assert_eq!(get("CUSTOMER_ID_NB_TX_30DAY_WINDOW"), 120.0);
    assert!((get("CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW") - 64.61175).abs() < 1e-6);
    assert!(get("TERMINAL_ID_RISK_30DAY_WINDOW") >= 0.0);
}
