//! The rule packs shipped with posguard (`rules/*.rules`), built into the binary: the
//! rule set in force until a risk officer installs another through the API.

/// (file name, text) of every shipped pack.
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "amount_baseline.rules",
        include_str!("../../../../rules/amount_baseline.rules"),
    ),
    (
        "card_testing.rules",
        include_str!("../../../../rules/card_testing.rules"),
    ),
    (
        "cash_out.rules",
        include_str!("../../../../rules/cash_out.rules"),
    ),
    (
        "dormant.rules",
        include_str!("../../../../rules/dormant.rules"),
    ),
    (
        "fallback.rules",
        include_str!("../../../../rules/fallback.rules"),
    ),
    (
        "merchant_volume.rules",
        include_str!("../../../../rules/merchant_volume.rules"),
    ),
    (
        "mobile_terminal.rules",
        include_str!("../../../../rules/mobile_terminal.rules"),
    ),
    ("night.rules", include_str!("../../../../rules/night.rules")),
    (
        "offline.rules",
        include_str!("../../../../rules/offline.rules"),
    ),
    (
        "refund_abuse.rules",
        include_str!("../../../../rules/refund_abuse.rules"),
    ),
    (
        "structuring.rules",
        include_str!("../../../../rules/structuring.rules"),
    ),
    (
        "terminal_status.rules",
        include_str!("../../../../rules/terminal_status.rules"),
    ),
    (
        "velocity.rules",
        include_str!("../../../../rules/velocity.rules"),
    ),
];

#[cfg(test)]
mod tests {
    /// Every `rules/*.rules` file is shipped (a new pack cannot be forgotten here).
    #[test]
    fn every_pack_in_rules_is_shipped() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../rules");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".rules"))
            .collect();
        on_disk.sort();
        let shipped: Vec<&str> = super::SHIPPED.iter().map(|(n, _)| *n).collect();
        assert_eq!(on_disk, shipped);
    }
}
