//! Shared helpers: loading the shipped rule packs and scripting transactions.

#![allow(dead_code)]

use model::{Currency, TxnKind};
use risk::handbook::{LabelledTxn, from_sim};
use risk::{
    CardKey, Decision, EntryMode, FeatureStore, GeoArea, GeoPoint, MerchantKey, RiskEvent, RuleSet,
    Schema, StoreConfig, TerminalKey, TerminalStatus, TxnFacts, evaluate,
};

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;
/// 2024-03-04 00:00 UTC, a Monday.
pub const T0: i64 = 1_709_510_400_000;

pub fn rules_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules")
}

/// Every shipped pack, loaded as the host would.
pub fn all_packs() -> RuleSet {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(rules_dir()).expect("rules/ exists") {
        let path = entry.expect("readable dir").path();
        if path.extension().is_some_and(|e| e == "rules") {
            let text = std::fs::read_to_string(&path).expect("readable rule file");
            files.push((
                path.file_name().unwrap().to_string_lossy().into_owned(),
                text,
            ));
        }
    }
    files.sort();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let schema = Schema::new(&StoreConfig::default());
    RuleSet::from_texts(1, &refs, &schema).unwrap_or_else(|e| panic!("packs load:\n{e}"))
}

/// A scripted stream of transactions through one store and one rule set.
pub struct Script {
    pub store: FeatureStore,
    pub rules: RuleSet,
    next_id: u64,
}

impl Script {
    pub fn new(rules: RuleSet) -> Script {
        Script {
            store: FeatureStore::new(StoreConfig::default()).unwrap(),
            rules,
            next_id: 1,
        }
    }

    pub fn event(
        &mut self,
        time_ms: i64,
        card: u32,
        terminal: u32,
        amount_minor: i64,
    ) -> RiskEvent {
        self.next_id += 1;
        RiskEvent {
            txn_id: self.next_id,
            time_ms,
            card: CardKey(card),
            terminal: TerminalKey(terminal),
            merchant: MerchantKey(terminal / 10),
            operator: None,
            amount_minor,
            currency: Currency::CNY,
            kind: TxnKind::Purchase,
            declined: false,
            entry_mode: EntryMode::Chip,
            location: None,
            terminal_home: None,
        }
    }

    /// Observes and decides. The facts follow the event, then `edit` changes them, and
    /// what the event shares with them (entry mode, location, home...) follows the
    /// edited facts, as the host builds both with `RiskEvent::from_facts`.
    pub fn run(&mut self, ev: RiskEvent, edit: impl FnOnce(&mut TxnFacts)) -> Decision {
        let mut facts = TxnFacts::purchase(ev.time_ms, ev.amount_minor);
        facts.kind = ev.kind;
        facts.entry_mode = ev.entry_mode;
        facts.location = ev.location;
        edit(&mut facts);
        let from = RiskEvent::from_facts(ev.txn_id, ev.card, ev.terminal, ev.merchant, &facts);
        let ev = RiskEvent {
            operator: ev.operator,
            declined: ev.declined,
            ..from
        };
        let features = self.store.observe(&ev);
        evaluate(&self.rules, &facts, &features)
    }

    pub fn pay(&mut self, time_ms: i64, card: u32, terminal: u32, amount_minor: i64) -> Decision {
        let ev = self.event(time_ms, card, terminal, amount_minor);
        self.run(ev, |_| {})
    }
}

pub fn fired(d: &Decision, rule: &str) -> bool {
    d.reasons
        .iter()
        .chain(&d.shadow_hits)
        .any(|r| &*r.rule_id == rule)
}

/// Places for geo tests, microdegrees.
pub const SHANGHAI: GeoPoint = GeoPoint {
    lat_e6: 31_230_400,
    lon_e6: 121_473_700,
};
pub const BEIJING: GeoPoint = GeoPoint {
    lat_e6: 39_904_200,
    lon_e6: 116_407_400,
};
pub const HANGZHOU: GeoPoint = GeoPoint {
    lat_e6: 30_274_100,
    lon_e6: 120_155_100,
};

/// `p` moved `north_m` and `east_m` metres (a flat approximation, fine for tests).
pub fn offset(p: GeoPoint, north_m: i32, east_m: i32) -> GeoPoint {
    const M_PER_DEGREE: f64 = 111_195.0;
    let lat = f64::from(p.lat_e6) / 1e6;
    let east_deg = f64::from(east_m) / (M_PER_DEGREE * lat.to_radians().cos());
    GeoPoint {
        lat_e6: p.lat_e6 + (f64::from(north_m) / M_PER_DEGREE * 1e6).round() as i32,
        lon_e6: p.lon_e6 + (east_deg * 1e6).round() as i32,
    }
}

/// Home areas of the simulated terminals: one grid unit is 500 m, around Shanghai.
const GRID_UNIT_E6: f64 = 4_500.0;
/// Radius of every simulated terminal's registered area.
pub const SIM_HOME_RADIUS_M: u32 = 5_000;
/// Positions are reported within about this far of home (+-2,700 microdegrees).
const SIM_JITTER_E6: u64 = 2_700;
/// One transaction in this many is read by fallback.
const SIM_FALLBACK_ONE_IN: u64 = 100;

/// Normal traffic as a host that knows its terminals describes it: the simulator's
/// history with every terminal registered and active, a home area of 5 km around its
/// place on the simulator's grid, each transaction located within ~300 m of home, and
/// one in a hundred read by fallback after a chip failure (more than EMV markets see).
pub fn described_history(cfg: &sim::HandbookConfig) -> Vec<LabelledTxn> {
    let data = sim::generate_dataset(cfg);
    let mut homes = std::collections::HashMap::new();
    for t in &data.terminals {
        let home = GeoPoint {
            lat_e6: SHANGHAI.lat_e6 + (t.y * GRID_UNIT_E6).round() as i32,
            lon_e6: SHANGHAI.lon_e6 + (t.x * GRID_UNIT_E6).round() as i32,
        };
        homes.insert(t.id, home);
    }
    let jitter = |id: u64, salt: u64| {
        let h = (id ^ salt).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        (h % (2 * SIM_JITTER_E6 + 1)) as i32 - SIM_JITTER_E6 as i32
    };
    data.transactions
        .iter()
        .map(|tx| {
            let mut h = from_sim(tx, cfg.start_date);
            let home = homes[&tx.terminal_id];
            h.facts.terminal_status = Some(TerminalStatus::Active);
            h.facts.terminal_home = Some(GeoArea {
                center: home,
                radius_m: SIM_HOME_RADIUS_M,
            });
            h.facts.location = Some(GeoPoint {
                lat_e6: home.lat_e6 + jitter(tx.id, 1),
                lon_e6: home.lon_e6 + jitter(tx.id, 2),
            });
            if tx.id % SIM_FALLBACK_ONE_IN == 42 {
                h.facts.entry_mode = EntryMode::Fallback;
            }
            let e = h.event;
            h.event = RiskEvent::from_facts(e.txn_id, e.card, e.terminal, e.merchant, &h.facts);
            h
        })
        .collect()
}
