//! Clear PIN and PAN types.

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};

/// Shortest PIN ISO 9564 allows.
pub const PIN_DIGITS_MIN: usize = 4;
/// Longest PIN ISO 9564 allows (the length nibble and 14-nibble body).
pub const PIN_DIGITS_MAX: usize = 12;
/// Longest PAN (ISO/IEC 7812).
pub const PAN_DIGITS_MAX: usize = 19;

/// A clear PIN, 4 to 12 digits. Zeroized on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Pin {
    /// Digit values 0..=9 (not ASCII).
    digits: [u8; PIN_DIGITS_MAX],
    len: usize,
}

impl Pin {
    /// Parses ASCII decimal digits.
    pub fn new(text: &str) -> Result<Self> {
        Self::from_ascii(text.as_bytes())
    }

    /// Parses ASCII decimal digits from bytes.
    pub fn from_ascii(text: &[u8]) -> Result<Self> {
        if !(PIN_DIGITS_MIN..=PIN_DIGITS_MAX).contains(&text.len())
            || !text.iter().all(u8::is_ascii_digit)
        {
            return Err(Error::Pin);
        }
        let mut pin = Self {
            digits: [0; PIN_DIGITS_MAX],
            len: text.len(),
        };
        for (d, c) in pin.digits.iter_mut().zip(text) {
            *d = c - b'0';
        }
        Ok(pin)
    }

    /// Builds a PIN from digit values 0..=9 (as found in PIN block nibbles).
    pub(crate) fn from_digit_values(values: &[u8]) -> Result<Self> {
        if !(PIN_DIGITS_MIN..=PIN_DIGITS_MAX).contains(&values.len())
            || values.iter().any(|&v| v > 9)
        {
            return Err(Error::Pin);
        }
        let mut pin = Self {
            digits: [0; PIN_DIGITS_MAX],
            len: values.len(),
        };
        pin.digits[..values.len()].copy_from_slice(values);
        Ok(pin)
    }

    /// Number of digits.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a PIN has at least four digits.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Digit values 0..=9.
    pub fn expose_digits(&self) -> &[u8] {
        &self.digits[..self.len]
    }

    /// The PIN as ASCII text, in a buffer that zeroizes itself.
    pub fn expose_ascii(&self) -> Zeroizing<String> {
        Zeroizing::new(
            self.expose_digits()
                .iter()
                .map(|d| char::from(b'0' + d))
                .collect(),
        )
    }
}

impl PartialEq for Pin {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.len == other.len && bool::from(self.expose_digits().ct_eq(other.expose_digits()))
    }
}

impl Eq for Pin {}

impl core::fmt::Debug for Pin {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

/// A primary account number, 1 to 19 digits. Printed masked (first 6, last 4).
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Pan {
    /// Digit values 0..=9.
    digits: [u8; PAN_DIGITS_MAX],
    len: usize,
}

impl Pan {
    /// Parses ASCII decimal digits. Operations add their own length rules.
    pub fn new(text: &str) -> Result<Self> {
        let b = text.as_bytes();
        if b.is_empty() || b.len() > PAN_DIGITS_MAX || !b.iter().all(u8::is_ascii_digit) {
            return Err(Error::Pan { min: 1 });
        }
        let mut pan = Self {
            digits: [0; PAN_DIGITS_MAX],
            len: b.len(),
        };
        for (d, c) in pan.digits.iter_mut().zip(b) {
            *d = c - b'0';
        }
        Ok(pan)
    }

    /// Number of digits.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a PAN has at least one digit.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Digit values 0..=9.
    pub fn digits(&self) -> &[u8] {
        &self.digits[..self.len]
    }

    /// Fails unless the PAN has at least `min` digits.
    pub(crate) fn require_len(&self, min: usize) -> Result<()> {
        if self.len < min {
            return Err(Error::Pan { min });
        }
        Ok(())
    }
}

impl core::fmt::Debug for Pan {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let d = self.digits();
        let shown = |s: &[u8]| s.iter().map(|v| char::from(b'0' + v)).collect::<String>();
        if d.len() > 10 {
            let stars = "*".repeat(d.len() - 10);
            write!(
                f,
                "Pan({}{}{})",
                shown(&d[..6]),
                stars,
                shown(&d[d.len() - 4..])
            )
        } else {
            write!(f, "Pan({})", "*".repeat(d.len()))
        }
    }
}
