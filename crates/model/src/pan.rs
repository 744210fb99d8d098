use serde::{Deserialize, Serialize};
use std::fmt;
use zeroize::Zeroize;

/// Shortest and longest PAN posguard accepts (ISO/IEC 7812).
pub const PAN_DIGITS_MIN: usize = 12;
pub const PAN_DIGITS_MAX: usize = 19;

/// A clear primary account number. It prints masked, is zeroized on drop and is not
/// `Serialize`: a clear PAN can only leave the process on purpose, through `expose`.
#[derive(Clone, PartialEq, Eq)]
pub struct Pan(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanError {
    Length,
    NotDigits,
}

impl fmt::Display for PanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PanError::Length => write!(
                f,
                "PAN must have {PAN_DIGITS_MIN} to {PAN_DIGITS_MAX} digits"
            ),
            PanError::NotDigits => write!(f, "PAN must be digits only"),
        }
    }
}

impl std::error::Error for PanError {}

impl Pan {
    pub fn parse(text: &str) -> Result<Pan, PanError> {
        if !(PAN_DIGITS_MIN..=PAN_DIGITS_MAX).contains(&text.len()) {
            return Err(PanError::Length);
        }
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PanError::NotDigits);
        }
        Ok(Pan(text.to_owned()))
    }

    /// The clear digits, for keyed hashing, encryption and PIN blocks only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn luhn_valid(&self) -> bool {
        luhn_valid(&self.0)
    }

    pub fn masked(&self) -> MaskedPan {
        MaskedPan::of(&self.0)
    }
}

impl Drop for Pan {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pan({})", self.masked())
    }
}

impl fmt::Display for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.masked(), f)
    }
}

/// The display form of a PAN: first six and last four digits, the rest as `*`.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MaskedPan(pub String);

impl MaskedPan {
    pub fn of(digits: &str) -> MaskedPan {
        let n = digits.len();
        if n < 10 {
            return MaskedPan("*".repeat(n));
        }
        let mut s = String::with_capacity(n);
        s.push_str(&digits[..6]);
        s.extend(std::iter::repeat_n('*', n - 10));
        s.push_str(&digits[n - 4..]);
        MaskedPan(s)
    }
}

impl fmt::Display for MaskedPan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The Luhn (mod 10) check over a string of digits; false for anything else.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, b) in digits.bytes().rev().enumerate() {
        if !b.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pan_never_prints_in_clear() {
        let pan = Pan::parse("4761739001010010").unwrap();
        assert_eq!(format!("{pan:?}"), "Pan(476173******0010)");
        assert_eq!(pan.to_string(), "476173******0010");
    }

    #[test]
    fn luhn_accepts_valid_and_rejects_invalid() {
        for (digits, ok) in [
            ("4761739001010010", true),
            ("4012345678909", true),
            ("4761739001010011", false),
            ("79927398713", true),
            ("", false),
            ("12a4", false),
        ] {
            assert_eq!(luhn_valid(digits), ok, "{digits}");
        }
    }

    #[test]
    fn pan_rejects_bad_lengths_and_characters() {
        assert_eq!(Pan::parse("12345678901").unwrap_err(), PanError::Length);
        assert_eq!(
            Pan::parse("12345678901234567890").unwrap_err(),
            PanError::Length
        );
        assert_eq!(
            Pan::parse("47617390010100x0").unwrap_err(),
            PanError::NotDigits
        );
    }
}
