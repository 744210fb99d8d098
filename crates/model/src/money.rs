use serde::{Deserialize, Serialize};
use std::fmt;

/// ISO 4217 numeric currency code (156 = CNY).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Currency(pub u16);

/// (numeric, alpha, minor-unit exponent) for the currencies posguard names.
/// Unknown numeric codes still work; they just print as numbers with exponent 2.
const CURRENCIES: &[(u16, &str, u8)] = &[
    (156, "CNY", 2),
    (344, "HKD", 2),
    (446, "MOP", 2),
    (392, "JPY", 0),
    (410, "KRW", 0),
    (702, "SGD", 2),
    (826, "GBP", 2),
    (840, "USD", 2),
    (901, "TWD", 2),
    (978, "EUR", 2),
];

impl Currency {
    pub const CNY: Currency = Currency(156);
    pub const USD: Currency = Currency(840);

    pub fn alpha(self) -> Option<&'static str> {
        CURRENCIES.iter().find(|c| c.0 == self.0).map(|c| c.1)
    }

    pub fn exponent(self) -> u8 {
        CURRENCIES.iter().find(|c| c.0 == self.0).map_or(2, |c| c.2)
    }

    /// Parses "156" or "CNY".
    pub fn parse(text: &str) -> Option<Currency> {
        if let Ok(n) = text.parse::<u16>() {
            return (n > 0 && n < 1000).then_some(Currency(n));
        }
        let upper = text.to_ascii_uppercase();
        CURRENCIES
            .iter()
            .find(|c| c.1 == upper)
            .map(|c| Currency(c.0))
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.alpha() {
            Some(a) => f.write_str(a),
            None => write!(f, "{:03}", self.0),
        }
    }
}

/// An amount in integer minor units of a currency. Never a float.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exp = u32::from(self.currency.exponent());
        if exp == 0 {
            return write!(f, "{} {}", self.minor, self.currency);
        }
        let scale = 10i64.pow(exp);
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        let (whole, frac) = (abs / scale as u64, abs % scale as u64);
        write!(
            f,
            "{sign}{whole}.{frac:0width$} {}",
            self.currency,
            width = exp as usize
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_displays_with_the_currency_exponent() {
        assert_eq!(Money::new(12500, Currency::CNY).to_string(), "125.00 CNY");
        assert_eq!(Money::new(-5, Currency::USD).to_string(), "-0.05 USD");
        assert_eq!(Money::new(700, Currency(392)).to_string(), "700 JPY");
    }

    #[test]
    fn currency_parses_numeric_and_alpha() {
        assert_eq!(Currency::parse("156"), Some(Currency::CNY));
        assert_eq!(Currency::parse("cny"), Some(Currency::CNY));
        assert_eq!(Currency::parse("XXX"), None);
        assert_eq!(Currency::parse("0"), None);
    }
}
