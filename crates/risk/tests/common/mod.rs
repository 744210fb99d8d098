//! Shared helpers: loading the shipped rule packs and scripting transactions.

#![allow(dead_code)]

use model::{Currency, TxnKind};
use risk::{
    CardKey, Decision, EntryMode, FeatureStore, MerchantKey, RiskEvent, RuleSet, Schema,
    StoreConfig, TerminalKey, TxnFacts, evaluate,
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
