//! What a load run does: where, how many terminals, how fast, which messages.

use crate::mix::{Mix, MixError};
use iso8583::Spec;
use iso8583::frame::FrameFormat;
use paycrypto::Pin;
use paycrypto::TdesKey;
use paycrypto::mac::DesMacScheme;
use paycrypto::unionpay::KeyLayout;
use std::path::PathBuf;
use std::time::Duration;
use terminal::{Bdk, KeyId, MacField};

/// STANs (field 11) run 000001..=999999.
pub const STAN_MAX: u32 = 999_999;
/// Field 41 is 8 characters, field 42 15 (posguard-ascii and posguard-binary).
pub const TERMINAL_ID_LEN_MAX: usize = 8;
pub const MERCHANT_ID_LEN_MAX: usize = 15;
/// Amounts are 12 digits on the wire.
pub const AMOUNT_MINOR_MAX: u64 = 999_999_999_999;
/// More connections than this is a typo, not a test.
pub const CONNECTIONS_MAX: usize = 100_000;

#[derive(Clone, Debug)]
pub struct LoadgenConfig {
    /// Terminal link address, `host:port`.
    pub link_addr: String,
    pub connections: usize,
    pub duration: Duration,
    /// Requests per second over all connections; None: each connection sends its next
    /// request as soon as the previous one is answered (open throttle).
    pub rate: Option<u32>,
    pub mix: Mix,
    /// Connection i is terminal `terminals[i % len]`.
    pub terminals: Vec<String>,
    /// Field 42 when set (must be the terminals' merchant).
    pub merchant: Option<String>,
    /// (PAN, expiry YYMM) of cards that exist in the host.
    pub pans: Vec<(String, String)>,
    /// Purchase amounts, minor units, inclusive.
    pub amount_min_minor: u64,
    pub amount_max_minor: u64,
    /// ISO 4217 numeric currency (field 49).
    pub currency: String,
    /// Printed in the report; the same seed sends the same sequence of choices.
    pub seed: u64,
    /// One line per approved transaction key, written once its approval is received.
    pub ack_log: Option<PathBuf>,
    /// No answer within this long: the terminal reconnects and repeats the request.
    pub request_timeout: Duration,
    /// How long a terminal keeps trying to reconnect and retransmit one request (so a
    /// restarting host is waited for); after that the request is abandoned.
    pub retry_window: Duration,
    /// Reconnect after a drop (false: a dropped connection ends that terminal's run).
    pub reconnect: bool,
    pub spec: Spec,
    pub framing: FrameFormat,
    /// Each connection a DUKPT terminal: KSN and MAC on every request, PINs on some
    /// purchases, response MACs verified. None: plain terminals.
    pub dukpt: Option<DukptConfig>,
    /// Each connection a UnionPay terminal (docs/unionpay.md): it signs on first (keys
    /// under its TMK), then every request carries the MAC and every answer's MAC is
    /// verified. `spec` and `framing` must then be the UnionPay ones.
    pub unionpay: Option<UnionPayConfig>,
}

/// How the simulated UnionPay terminals sign on and sign. `Debug` shows no key.
#[derive(Clone, Debug)]
pub struct UnionPayConfig {
    /// Each terminal's master key, in the order of `LoadgenConfig::terminals`.
    pub tmks: Vec<TdesKey>,
    /// The working keys asked for at sign-on (60.3 = 001, 003 or 004).
    pub layout: KeyLayout,
    /// The listener's `link.unionpay_mac`.
    pub mac: DesMacScheme,
    /// Purchases that carry a PIN block (format 0 under the PIK), percent.
    pub pin_percent: u32,
    /// The PIN entered (every card of the run has it).
    pub pin: Pin,
    /// The first batch number (60.2) the terminals sign on with; a run's own number
    /// keeps its exactly-once keys (terminal, trace, batch) apart from earlier runs'.
    pub batch: u32,
}

/// How the simulated terminals protect their messages (docs/terminal-security.md).
/// `Debug` shows no key or PIN.
#[derive(Clone, Debug)]
pub struct DukptConfig {
    /// The BDK the terminals' initial keys derive from (a test key).
    pub bdk: Bdk,
    /// The key id of each terminal, in the order of `LoadgenConfig::terminals`.
    pub key_ids: Vec<KeyId>,
    /// Purchases that carry a PIN block, percent.
    pub pin_percent: u32,
    /// The PIN entered (every card of the run has it).
    pub pin: Pin,
    /// The profiles' `mac_field`.
    pub mac_field: MacField,
}

impl Default for LoadgenConfig {
    fn default() -> Self {
        LoadgenConfig {
            link_addr: "127.0.0.1:8583".into(),
            connections: 16,
            duration: Duration::from_secs(10),
            rate: None,
            mix: Mix::default(),
            terminals: Vec::new(),
            merchant: None,
            pans: Vec::new(),
            amount_min_minor: 100,
            amount_max_minor: 10_000,
            currency: "156".into(),
            seed: 1,
            ack_log: None,
            request_timeout: Duration::from_secs(5),
            retry_window: Duration::from_secs(30),
            reconnect: true,
            spec: Spec::posguard_ascii(),
            framing: FrameFormat::default(),
            dukpt: None,
            unionpay: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("connections must be 1..={CONNECTIONS_MAX}, not {0}")]
    Connections(usize),
    #[error("no terminals to simulate")]
    NoTerminals,
    #[error("terminal id {0:?} must be 1..={TERMINAL_ID_LEN_MAX} characters")]
    TerminalId(String),
    #[error("merchant id {0:?} must be 1..={MERCHANT_ID_LEN_MAX} characters")]
    MerchantId(String),
    #[error("no cards to use")]
    NoCards,
    #[error("card {index}: PAN must be 12..=19 digits and expiry 4 digits (YYMM)")]
    Card { index: usize },
    #[error("amounts must satisfy 1 <= min <= max <= {AMOUNT_MINOR_MAX}")]
    Amounts,
    #[error("currency must be 3 digits, not {0:?}")]
    Currency(String),
    #[error("the rate must be at least 1 request per second")]
    Rate,
    #[error("{0}")]
    Mix(#[from] MixError),
    #[error(
        "{connections} connections share {terminals} terminals: each needs its own STAN range \
         of at least {STAN_RANGE_MIN} numbers"
    )]
    TooManySharers {
        connections: usize,
        terminals: usize,
    },
    #[error(
        "with DUKPT each connection is its own terminal (its own KSN counter): \
         {connections} connections need at least as many terminals, not {terminals}"
    )]
    DukptSharers {
        connections: usize,
        terminals: usize,
    },
    #[error("DUKPT needs one key id per terminal: {terminals} terminals, {key_ids} key ids")]
    DukptKeyIds { terminals: usize, key_ids: usize },
    #[error("key id {0} is not one for the BDK's DUKPT")]
    DukptKeyIdScheme(String),
    #[error("the PIN percentage must be 0..=100, not {0}")]
    PinPercent(u32),
    #[error(
        "a UnionPay terminal signs on for itself (its own working keys): {connections} \
         connections need at least as many terminals, not {terminals}"
    )]
    UnionPaySharers {
        connections: usize,
        terminals: usize,
    },
    #[error("UnionPay needs one TMK per terminal: {terminals} terminals, {tmks} TMKs")]
    UnionPayTmks { terminals: usize, tmks: usize },
    #[error("the batch number must be 1..={BATCH_MAX}, not {0}")]
    Batch(u32),
    #[error("a run's terminals are DUKPT or UnionPay terminals, not both")]
    TwoProfiles,
}

/// Batch numbers (60.2) are 6 digits; 000000 is not a batch.
pub const BATCH_MAX: u32 = 999_999;

/// A connection sharing its terminal needs room for this many STANs before it wraps.
pub const STAN_RANGE_MIN: u32 = 1_000;

fn digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

impl LoadgenConfig {
    pub fn check(&self) -> Result<(), ConfigError> {
        if !(1..=CONNECTIONS_MAX).contains(&self.connections) {
            return Err(ConfigError::Connections(self.connections));
        }
        if self.terminals.is_empty() {
            return Err(ConfigError::NoTerminals);
        }
        if let Some(t) = self
            .terminals
            .iter()
            .find(|t| t.is_empty() || t.len() > TERMINAL_ID_LEN_MAX || !t.is_ascii())
        {
            return Err(ConfigError::TerminalId(t.clone()));
        }
        if let Some(m) = &self.merchant
            && (m.is_empty() || m.len() > MERCHANT_ID_LEN_MAX || !m.is_ascii())
        {
            return Err(ConfigError::MerchantId(m.clone()));
        }
        if self.pans.is_empty() {
            return Err(ConfigError::NoCards);
        }
        for (index, (pan, expiry)) in self.pans.iter().enumerate() {
            if !(digits(pan)
                && (12..=19).contains(&pan.len())
                && digits(expiry)
                && expiry.len() == 4)
            {
                return Err(ConfigError::Card { index });
            }
        }
        let amounts_ok = 1 <= self.amount_min_minor
            && self.amount_min_minor <= self.amount_max_minor
            && self.amount_max_minor <= AMOUNT_MINOR_MAX;
        if !amounts_ok {
            return Err(ConfigError::Amounts);
        }
        if !(digits(&self.currency) && self.currency.len() == 3) {
            return Err(ConfigError::Currency(self.currency.clone()));
        }
        if self.rate == Some(0) {
            return Err(ConfigError::Rate);
        }
        self.mix.check()?;
        if self.stan_range(0).1 < STAN_RANGE_MIN {
            return Err(ConfigError::TooManySharers {
                connections: self.connections,
                terminals: self.terminals.len(),
            });
        }
        match (&self.dukpt, &self.unionpay) {
            (Some(_), Some(_)) => Err(ConfigError::TwoProfiles),
            (Some(d), None) => self.check_dukpt(d),
            (None, Some(u)) => self.check_unionpay(u),
            (None, None) => Ok(()),
        }
    }

    fn check_unionpay(&self, u: &UnionPayConfig) -> Result<(), ConfigError> {
        if self.connections > self.terminals.len() {
            return Err(ConfigError::UnionPaySharers {
                connections: self.connections,
                terminals: self.terminals.len(),
            });
        }
        if u.tmks.len() != self.terminals.len() {
            return Err(ConfigError::UnionPayTmks {
                terminals: self.terminals.len(),
                tmks: u.tmks.len(),
            });
        }
        if u.pin_percent > 100 {
            return Err(ConfigError::PinPercent(u.pin_percent));
        }
        if !(1..=BATCH_MAX).contains(&u.batch) {
            return Err(ConfigError::Batch(u.batch));
        }
        Ok(())
    }

    /// Connection `i`'s master key, when the run is UnionPay.
    pub fn tmk_of(&self, i: usize) -> Option<&TdesKey> {
        let u = self.unionpay.as_ref()?;
        u.tmks.get(i % self.terminals.len())
    }

    fn check_dukpt(&self, d: &DukptConfig) -> Result<(), ConfigError> {
        if self.connections > self.terminals.len() {
            return Err(ConfigError::DukptSharers {
                connections: self.connections,
                terminals: self.terminals.len(),
            });
        }
        if d.key_ids.len() != self.terminals.len() {
            return Err(ConfigError::DukptKeyIds {
                terminals: self.terminals.len(),
                key_ids: d.key_ids.len(),
            });
        }
        let tdes = matches!(d.bdk, Bdk::Tdes(_));
        if let Some(k) = d
            .key_ids
            .iter()
            .find(|k| matches!(k, KeyId::Tdes(_)) != tdes)
        {
            return Err(ConfigError::DukptKeyIdScheme(k.to_hex()));
        }
        if d.pin_percent > 100 {
            return Err(ConfigError::PinPercent(d.pin_percent));
        }
        Ok(())
    }

    /// Connection `i`'s key id, when the run is DUKPT.
    pub fn key_id_of(&self, i: usize) -> Option<&KeyId> {
        let d = self.dukpt.as_ref()?;
        d.key_ids.get(i % self.terminals.len())
    }

    /// Connection `i`'s terminal.
    pub fn terminal_of(&self, i: usize) -> &str {
        &self.terminals[i % self.terminals.len()]
    }

    /// Connection `i`'s STANs: (first, count). Connections that share a terminal get
    /// disjoint ranges, so their exactly-once keys (terminal, STAN, field 7) never
    /// collide even within one second.
    pub fn stan_range(&self, i: usize) -> (u32, u32) {
        let sharers = self.connections.div_ceil(self.terminals.len()).max(1) as u32;
        let size = STAN_MAX / sharers;
        let slot = (i / self.terminals.len()) as u32;
        (1 + slot * size, size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(connections: usize, terminals: usize) -> LoadgenConfig {
        LoadgenConfig {
            connections,
            terminals: (0..terminals).map(|i| format!("T{i:07}")).collect(),
            pans: vec![("9990000000000007".into(), "3012".into())],
            ..LoadgenConfig::default()
        }
    }

    #[test]
    fn connections_sharing_a_terminal_get_disjoint_stans() {
        let c = config(7, 3);
        assert_eq!(c.check(), Ok(()));
        assert_eq!(c.terminal_of(4), "T0000001");
        // Connections 1 and 4 (and 7 if there were one) share T0000001.
        let ranges = [c.stan_range(1), c.stan_range(4)];
        assert_eq!(ranges, [(1, 333_333), (333_334, 333_333)]);
        assert!(c.stan_range(6).0 + c.stan_range(6).1 - 1 <= STAN_MAX);
        assert_eq!(config(1, 1).stan_range(0), (1, STAN_MAX));
    }

    #[test]
    fn bad_settings_are_refused() {
        assert_eq!(config(0, 1).check(), Err(ConfigError::Connections(0)));
        assert_eq!(config(1, 0).check(), Err(ConfigError::NoTerminals));
        assert!(matches!(
            config(5_000, 1).check(),
            Err(ConfigError::TooManySharers { .. })
        ));
        let mut c = config(1, 1);
        c.terminals = vec!["TOOLONG01".into()];
        assert!(matches!(c.check(), Err(ConfigError::TerminalId(_))));
        let mut c = config(1, 1);
        c.pans[0].1 = "12".into();
        assert_eq!(c.check(), Err(ConfigError::Card { index: 0 }));
        let mut c = config(1, 1);
        c.amount_min_minor = 0;
        assert_eq!(c.check(), Err(ConfigError::Amounts));
    }

    fn dukpt(terminals: usize) -> DukptConfig {
        let scheme = terminal::Scheme::Tdes;
        DukptConfig {
            bdk: crate::fixtures::test_bdk(scheme),
            key_ids: (0..terminals)
                .map(|i| crate::fixtures::key_id(scheme, i).unwrap())
                .collect(),
            pin_percent: 10,
            pin: Pin::new(crate::fixtures::CARD_PIN).unwrap(),
            mac_field: MacField::F64,
        }
    }

    #[test]
    fn dukpt_terminals_are_never_shared() {
        let mut c = config(3, 3);
        c.dukpt = Some(dukpt(3));
        assert_eq!(c.check(), Ok(()));
        assert_eq!(c.key_id_of(2).unwrap().to_hex(), "FFFF4C47310000400000");
        let mut c = config(4, 3);
        c.dukpt = Some(dukpt(3));
        assert!(matches!(c.check(), Err(ConfigError::DukptSharers { .. })));
        let mut c = config(2, 3);
        c.dukpt = Some(dukpt(2));
        assert!(matches!(c.check(), Err(ConfigError::DukptKeyIds { .. })));
        let mut c = config(1, 1);
        let mut d = dukpt(1);
        d.pin_percent = 101;
        c.dukpt = Some(d);
        assert_eq!(c.check(), Err(ConfigError::PinPercent(101)));
        let mut c = config(1, 1);
        let mut d = dukpt(1);
        d.key_ids = vec![crate::fixtures::key_id(terminal::Scheme::Aes128, 0).unwrap()];
        c.dukpt = Some(d);
        assert!(matches!(c.check(), Err(ConfigError::DukptKeyIdScheme(_))));
    }
}
