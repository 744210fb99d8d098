//! Field 48 of settlement (0500) and batch upload (0320): fixed-width digit records.

use super::SubFieldError;

/// Digits of one side's totals: debit amount 12, count 3, credit amount 12, count 3,
/// result 1.
const SIDE_DIGITS: usize = 31;
/// Digits of a batch-upload record: card organisation 2, PAN 20 (zero-filled on the
/// left), trace 6, amount 12.
const RECORD_DIGITS: usize = 40;
/// Records one 0320 carries at most.
pub const BATCH_RECORDS_MAX: usize = 8;

/// What a settlement reply says of one side's totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SettleResult {
    /// `0` in a request: not yet compared.
    #[default]
    Unset = 0,
    Balanced = 1,
    Unbalanced = 2,
    Error = 3,
}

/// One side (domestic or foreign cards) of a terminal's batch totals, amounts in minor
/// units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SideTotals {
    pub debit_minor: i64,
    pub debit_count: i64,
    pub credit_minor: i64,
    pub credit_count: i64,
    pub result: SettleResult,
}

/// Field 48 of 0500/0510: domestic then foreign totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub domestic: SideTotals,
    pub foreign: SideTotals,
}

fn number(digits: &str) -> i64 {
    // Callers pass at most 12 ASCII digits, which always fit an i64.
    digits.bytes().fold(0, |n, d| n * 10 + i64::from(d - b'0'))
}

impl SideTotals {
    fn parse(d: &str) -> SideTotals {
        let result = match d.as_bytes()[30] {
            b'1' => SettleResult::Balanced,
            b'2' => SettleResult::Unbalanced,
            b'3' => SettleResult::Error,
            _ => SettleResult::Unset,
        };
        SideTotals {
            debit_minor: number(&d[0..12]),
            debit_count: number(&d[12..15]),
            credit_minor: number(&d[15..27]),
            credit_count: number(&d[27..30]),
            result,
        }
    }

    fn write(&self, out: &mut String) {
        use std::fmt::Write;
        let clamp = |v: i64, max: i64| v.clamp(0, max);
        let _ = write!(
            out,
            "{:012}{:03}{:012}{:03}{}",
            clamp(self.debit_minor, 999_999_999_999),
            clamp(self.debit_count, 999),
            clamp(self.credit_minor, 999_999_999_999),
            clamp(self.credit_count, 999),
            self.result as u8
        );
    }
}

impl Totals {
    /// Parses field 48's digits; the foreign side may be absent (all zero).
    pub fn parse(digits: &str) -> Result<Totals, SubFieldError> {
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SubFieldError::NotDigits { field: 48 });
        }
        if digits.len() < SIDE_DIGITS {
            let len = digits.len();
            return Err(SubFieldError::TooShort {
                field: 48,
                len,
                min: SIDE_DIGITS,
            });
        }
        let foreign = digits
            .get(SIDE_DIGITS..2 * SIDE_DIGITS)
            .map(SideTotals::parse)
            .unwrap_or_default();
        Ok(Totals {
            domestic: SideTotals::parse(&digits[..SIDE_DIGITS]),
            foreign,
        })
    }

    pub fn to_digits(&self) -> String {
        let mut out = String::with_capacity(2 * SIDE_DIGITS);
        self.domestic.write(&mut out);
        self.foreign.write(&mut out);
        out
    }
}

/// One transaction a terminal uploads in a 0320.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchRecord {
    pub organisation: String,
    pub trace: String,
    pub amount_minor: i64,
}

/// Parses a 0320's field 48: count (2 digits), then that many records. The PAN in each
/// record is skipped: posguard already holds the transaction, by its trace.
pub fn parse_batch_records(digits: &str) -> Result<Vec<BatchRecord>, SubFieldError> {
    let bad = SubFieldError::NotDigits { field: 48 };
    if digits.len() < 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad);
    }
    let count = number(&digits[..2]) as usize;
    let need = 2 + count * RECORD_DIGITS;
    if count > BATCH_RECORDS_MAX || digits.len() < need {
        let len = digits.len();
        return Err(SubFieldError::TooShort {
            field: 48,
            len,
            min: need,
        });
    }
    Ok(digits.as_bytes()[2..need]
        .chunks(RECORD_DIGITS)
        .map(|r| {
            // ASCII digits: every slice boundary is a char boundary.
            let r = std::str::from_utf8(r).unwrap_or_default();
            BatchRecord {
                organisation: r[..2].to_owned(),
                trace: r[22..28].to_owned(),
                amount_minor: number(&r[28..40]),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settlement_totals_round_trip() {
        let totals = Totals {
            domestic: SideTotals {
                debit_minor: 12_345,
                debit_count: 3,
                credit_minor: 500,
                credit_count: 1,
                result: SettleResult::Unset,
            },
            foreign: SideTotals::default(),
        };
        let digits = totals.to_digits();
        assert_eq!(digits.len(), 62);
        assert_eq!(&digits[..31], "0000000123450030000000005000010");
        assert_eq!(Totals::parse(&digits).unwrap(), totals);
        let mut reply = totals;
        reply.domestic.result = SettleResult::Balanced;
        reply.foreign.result = SettleResult::Unbalanced;
        let d = reply.to_digits();
        assert_eq!((&d[30..31], &d[61..62]), ("1", "2"));
        assert!(Totals::parse("12").is_err());
        assert!(Totals::parse(&"A".repeat(62)).is_err());
    }

    #[test]
    fn batch_records() {
        let record = format!(
            "{}{:020}{}{:012}",
            "00", 6222021234567890u64, "000042", 1500
        );
        let digits = format!("01{record}");
        let records = parse_batch_records(&digits).unwrap();
        assert_eq!(records[0].trace, "000042");
        assert_eq!(records[0].amount_minor, 1500);
        assert!(parse_batch_records("02").is_err());
        assert!(parse_batch_records(&format!("09{}", record.repeat(9))).is_err());
    }
}
