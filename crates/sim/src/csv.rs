//! The Handbook's transaction table as CSV, for export and for importing history.

use std::fmt;
use std::io::{self, BufRead, Read, Write};

use crate::datetime::{CivilDate, SECONDS_PER_DAY, format_datetime, parse_datetime};
use crate::transaction::{FraudScenario, Transaction};

pub const CSV_HEADER: &str = "TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,\
TX_TIME_SECONDS,TX_TIME_DAYS,TX_FRAUD,TX_FRAUD_SCENARIO";
const COLUMNS: usize = 9;
/// A valid row is under 100 bytes; anything this long is not this format.
const LINE_MAX_BYTES: u64 = 1_024;
const CENTS_PER_UNIT: i64 = 100;

/// Writes the header and one row per transaction, `TX_DATETIME` counted from `start_date`.
pub fn write_csv<W: Write>(mut w: W, start_date: CivilDate, txs: &[Transaction]) -> io::Result<()> {
    let origin = start_date.days_since_epoch() * SECONDS_PER_DAY;
    writeln!(w, "{CSV_HEADER}")?;
    for tx in txs {
        let cents = tx.amount_cents.unsigned_abs();
        let sign = if tx.amount_cents < 0 { "-" } else { "" };
        writeln!(
            w,
            "{},{},{},{},{sign}{}.{:02},{},{},{},{}",
            tx.id,
            format_datetime(origin.saturating_add_unsigned(tx.tx_time_seconds)),
            tx.customer_id,
            tx.terminal_id,
            cents / CENTS_PER_UNIT as u64,
            cents % CENTS_PER_UNIT as u64,
            tx.tx_time_seconds,
            tx.tx_time_days,
            u8::from(tx.fraud),
            tx.scenario.code(),
        )?;
    }
    w.flush()
}

/// Why a CSV could not be read, and on which line (1 = header).
#[derive(Debug)]
pub struct CsvError {
    pub line: u64,
    pub kind: CsvErrorKind,
}

#[derive(Debug)]
#[non_exhaustive]
pub enum CsvErrorKind {
    Io(io::Error),
    /// Empty input or a first line that is not `CSV_HEADER`.
    BadHeader,
    LineTooLong,
    NotUtf8,
    FieldCount {
        found: usize,
    },
    /// A value that does not parse as its column's type.
    BadField {
        column: &'static str,
    },
    /// `TX_TIME_DAYS` is not `TX_TIME_SECONDS / 86400`.
    DayMismatch,
    /// `TX_DATETIME - TX_TIME_SECONDS` is not midnight of the same start date as line 2.
    DatetimeMismatch,
    /// `TX_FRAUD` is 1 exactly when `TX_FRAUD_SCENARIO` is not 0, and that is violated.
    FraudMismatch,
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "transaction CSV line {}: ", self.line)?;
        match &self.kind {
            CsvErrorKind::Io(e) => write!(f, "read failed: {e}"),
            CsvErrorKind::BadHeader => write!(f, "expected header {CSV_HEADER}"),
            CsvErrorKind::LineTooLong => write!(f, "line longer than {LINE_MAX_BYTES} bytes"),
            CsvErrorKind::NotUtf8 => write!(f, "not UTF-8"),
            CsvErrorKind::FieldCount { found } => write!(f, "{found} fields, expected {COLUMNS}"),
            CsvErrorKind::BadField { column } => write!(f, "invalid {column}"),
            CsvErrorKind::DayMismatch => write!(f, "TX_TIME_DAYS disagrees with TX_TIME_SECONDS"),
            CsvErrorKind::DatetimeMismatch => {
                write!(
                    f,
                    "TX_DATETIME disagrees with TX_TIME_SECONDS and the start date"
                )
            }
            CsvErrorKind::FraudMismatch => write!(f, "TX_FRAUD disagrees with TX_FRAUD_SCENARIO"),
        }
    }
}

impl std::error::Error for CsvError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            CsvErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Reads what `write_csv` writes (amounts with 0 to 2 decimals are accepted, `\r\n` too).
pub fn read_csv<R: BufRead>(mut r: R) -> Result<Vec<Transaction>, CsvError> {
    let mut buf = Vec::new();
    let mut line_no = 1;
    match next_line(&mut r, &mut buf, line_no)? {
        Some(header) if header == CSV_HEADER => {}
        _ => {
            return Err(CsvError {
                line: line_no,
                kind: CsvErrorKind::BadHeader,
            });
        }
    }
    let mut origin = None;
    let mut txs = Vec::new();
    loop {
        line_no += 1;
        let Some(line) = next_line(&mut r, &mut buf, line_no)? else {
            return Ok(txs);
        };
        let (tx, row_origin) = parse_row(line).map_err(|kind| CsvError {
            line: line_no,
            kind,
        })?;
        if *origin.get_or_insert(row_origin) != row_origin {
            return Err(CsvError {
                line: line_no,
                kind: CsvErrorKind::DatetimeMismatch,
            });
        }
        txs.push(tx);
    }
}

/// The next line without its terminator, or `None` at end of input.
fn next_line<'a, R: BufRead>(
    r: &mut R,
    buf: &'a mut Vec<u8>,
    line: u64,
) -> Result<Option<&'a str>, CsvError> {
    let fail = |kind| CsvError { line, kind };
    buf.clear();
    let read = Read::take(&mut *r, LINE_MAX_BYTES + 1)
        .read_until(b'\n', buf)
        .map_err(|e| fail(CsvErrorKind::Io(e)))?;
    if read == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    } else if read as u64 > LINE_MAX_BYTES {
        return Err(fail(CsvErrorKind::LineTooLong));
    }
    std::str::from_utf8(buf)
        .map(Some)
        .map_err(|_| fail(CsvErrorKind::NotUtf8))
}

/// One data row and the start date's midnight (epoch seconds) it implies.
fn parse_row(line: &str) -> Result<(Transaction, i64), CsvErrorKind> {
    let fields: Vec<&str> = line.split(',').collect();
    let [
        id,
        datetime,
        customer,
        terminal,
        amount,
        seconds,
        days,
        fraud,
        scenario,
    ] = fields[..]
    else {
        return Err(CsvErrorKind::FieldCount {
            found: fields.len(),
        });
    };
    let bad = |column| CsvErrorKind::BadField { column };
    let datetime = parse_datetime(datetime).ok_or(bad("TX_DATETIME"))?;
    let tx = Transaction {
        id: parse_uint(id).ok_or(bad("TRANSACTION_ID"))?,
        tx_time_seconds: parse_uint(seconds).ok_or(bad("TX_TIME_SECONDS"))?,
        tx_time_days: parse_uint(days).ok_or(bad("TX_TIME_DAYS"))?,
        customer_id: parse_uint(customer).ok_or(bad("CUSTOMER_ID"))?,
        terminal_id: parse_uint(terminal).ok_or(bad("TERMINAL_ID"))?,
        amount_cents: parse_cents(amount).ok_or(bad("TX_AMOUNT"))?,
        fraud: match fraud {
            "0" => false,
            "1" => true,
            _ => return Err(bad("TX_FRAUD")),
        },
        scenario: parse_uint(scenario)
            .and_then(FraudScenario::from_code)
            .ok_or(bad("TX_FRAUD_SCENARIO"))?,
    };
    if tx.tx_time_seconds / SECONDS_PER_DAY as u64 != u64::from(tx.tx_time_days) {
        return Err(CsvErrorKind::DayMismatch);
    }
    if tx.fraud != (tx.scenario != FraudScenario::Genuine) {
        return Err(CsvErrorKind::FraudMismatch);
    }
    let origin = i64::try_from(tx.tx_time_seconds)
        .ok()
        .and_then(|s| datetime.checked_sub(s))
        .filter(|o| o.rem_euclid(SECONDS_PER_DAY) == 0)
        .ok_or(CsvErrorKind::DatetimeMismatch)?;
    Ok((tx, origin))
}

/// Plain decimal digits only: no sign, no spaces, no exponent.
fn parse_uint<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// "57.16", "57.2", "57" or "-3.50" as cents.
fn parse_cents(text: &str) -> Option<i64> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (units, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if fraction.len() > 2 || (unsigned.contains('.') && fraction.is_empty()) {
        return None;
    }
    let units: i64 = parse_uint(units)?;
    let fraction_cents: i64 = match fraction.len() {
        0 => 0,
        1 => parse_uint::<i64>(fraction)? * 10,
        _ => parse_uint(fraction)?,
    };
    let cents = units
        .checked_mul(CENTS_PER_UNIT)?
        .checked_add(fraction_cents)?;
    Some(if negative { -cents } else { cents })
}
