//! The request mix: how often a simulated terminal sends each kind of message.

use crate::rng::SplitMix64;
use std::fmt;

/// What a terminal sends next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Purchase,
    /// A refund of part of a recent approved purchase (0200, processing code 20).
    Refund,
    /// A reversal (0400) of a recent approved purchase, by field 90.
    Reversal,
    /// A recent request sent again as a repeat (0201/0401): same key, same answer.
    Repeat,
    /// Garbage or a truncated message: the host answers 30 or closes the connection.
    BadFrame,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Purchase,
        Kind::Refund,
        Kind::Reversal,
        Kind::Repeat,
        Kind::BadFrame,
    ];

    /// The name used in `--mix` and in the ack log.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Purchase => "purchase",
            Kind::Refund => "refund",
            Kind::Reversal => "reversal",
            Kind::Repeat => "repeat",
            Kind::BadFrame => "bad",
        }
    }
}

/// Percentages of each kind; they sum to 100.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mix {
    pub purchase: u32,
    pub refund: u32,
    pub reversal: u32,
    pub repeat: u32,
    pub bad_frame: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            purchase: 90,
            refund: 4,
            reversal: 3,
            repeat: 2,
            bad_frame: 1,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MixError {
    #[error("mix item {0:?} is not KIND=PERCENT")]
    Item(String),
    #[error("unknown kind {0:?} in the mix (purchase, refund, reversal, repeat, bad)")]
    Kind(String),
    #[error("the mix's percentages sum to {0}, not 100")]
    Sum(u32),
}

impl Mix {
    /// Only purchases.
    pub const PURCHASES: Mix = Mix {
        purchase: 100,
        refund: 0,
        reversal: 0,
        repeat: 0,
        bad_frame: 0,
    };

    /// Parses `purchase=90,refund=4,reversal=3,repeat=2,bad=1`; kinds left out are 0.
    pub fn parse(text: &str) -> Result<Mix, MixError> {
        let mut mix = Mix {
            purchase: 0,
            ..Mix::PURCHASES
        };
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| MixError::Item(item.to_owned()))?;
            let value: u32 = value
                .trim()
                .parse()
                .map_err(|_| MixError::Item(item.to_owned()))?;
            let slot = match name.trim() {
                "purchase" => &mut mix.purchase,
                "refund" => &mut mix.refund,
                "reversal" => &mut mix.reversal,
                "repeat" => &mut mix.repeat,
                "bad" | "bad_frame" => &mut mix.bad_frame,
                other => return Err(MixError::Kind(other.to_owned())),
            };
            *slot = value;
        }
        mix.check()?;
        Ok(mix)
    }

    pub fn check(&self) -> Result<(), MixError> {
        let sum = self.weights().iter().map(|(_, w)| *w).sum::<u32>();
        if sum != 100 {
            return Err(MixError::Sum(sum));
        }
        Ok(())
    }

    fn weights(&self) -> [(Kind, u32); 5] {
        [
            (Kind::Purchase, self.purchase),
            (Kind::Refund, self.refund),
            (Kind::Reversal, self.reversal),
            (Kind::Repeat, self.repeat),
            (Kind::BadFrame, self.bad_frame),
        ]
    }

    /// Draws the next kind.
    pub(crate) fn pick(&self, rng: &mut SplitMix64) -> Kind {
        let mut roll = rng.below(100) as u32;
        for (kind, weight) in self.weights() {
            if roll < weight {
                return kind;
            }
            roll -= weight;
        }
        Kind::Purchase
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .weights()
            .iter()
            .map(|(k, w)| format!("{}={w}", k.name()))
            .collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_parse_and_print_back() {
        let text = "purchase=90,refund=4,reversal=3,repeat=2,bad=1";
        assert_eq!(Mix::parse(text), Ok(Mix::default()));
        assert_eq!(Mix::default().to_string(), text);
        assert_eq!(Mix::parse("purchase=100"), Ok(Mix::PURCHASES));
        assert_eq!(Mix::parse("purchase=99"), Err(MixError::Sum(99)));
        assert!(matches!(Mix::parse("void=100"), Err(MixError::Kind(_))));
        assert!(matches!(Mix::parse("purchase"), Err(MixError::Item(_))));
    }

    #[test]
    fn picks_follow_the_weights() {
        let mut rng = SplitMix64::new(3);
        let mix = Mix::parse("purchase=50,bad=50").unwrap();
        let bad = (0..10_000)
            .filter(|_| mix.pick(&mut rng) == Kind::BadFrame)
            .count();
        assert!((4_500..5_500).contains(&bad), "{bad}");
        assert!((0..1000).all(|_| Mix::PURCHASES.pick(&mut rng) == Kind::Purchase));
    }
}
