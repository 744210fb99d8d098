//! Proleptic Gregorian calendar arithmetic for the CSV's `TX_DATETIME` column, with Howard
//! Hinnant's `days_from_civil` / `civil_from_days` algorithms (public domain). Enough for
//! "%Y-%m-%d %H:%M:%S" in UTC-less local time, which is all the Handbook writes.

use std::fmt;

const SECONDS_PER_MINUTE: i64 = 60;
const SECONDS_PER_HOUR: i64 = 3_600;
pub const SECONDS_PER_DAY: i64 = 86_400;
const DAYS_PER_ERA: i64 = 146_097;
/// Days from 0000-03-01 to 1970-01-01.
const EPOCH_SHIFT_DAYS: i64 = 719_468;

/// A calendar date (no time zone: the Handbook's timestamps are naive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CivilDate {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl CivilDate {
    /// A valid date, or `None` (month 13, 2018-02-29, ...).
    pub fn new(year: i32, month: u8, day: u8) -> Option<Self> {
        let date = CivilDate { year, month, day };
        let valid = (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
        valid.then_some(date)
    }

    /// Days since 1970-01-01.
    pub fn days_since_epoch(self) -> i64 {
        let year = i64::from(self.year) - i64::from(self.month <= 2);
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let month = i64::from(self.month);
        let day_of_year =
            (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * DAYS_PER_ERA + day_of_era - EPOCH_SHIFT_DAYS
    }

    /// The date `days` after 1970-01-01.
    pub fn from_days_since_epoch(days: i64) -> Self {
        let z = days + EPOCH_SHIFT_DAYS;
        let era = z.div_euclid(DAYS_PER_ERA);
        let day_of_era = z - era * DAYS_PER_ERA;
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let mp = (5 * day_of_year + 2) / 153;
        let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        // Years stay far inside i32 for any day count the simulator produces.
        CivilDate {
            year: year as i32,
            month,
            day,
        }
    }

    /// Parses "YYYY-MM-DD".
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('-');
        let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || year.len() != 4 || month.len() != 2 || day.len() != 2 {
            return None;
        }
        CivilDate::new(
            parse_digits(year)?,
            parse_digits(month)?,
            parse_digits(day)?,
        )
    }
}

impl fmt::Display for CivilDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn parse_digits<T: std::str::FromStr>(text: &str) -> Option<T> {
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Seconds since 1970-01-01 00:00:00 formatted "%Y-%m-%d %H:%M:%S".
pub fn format_datetime(epoch_seconds: i64) -> String {
    let date = CivilDate::from_days_since_epoch(epoch_seconds.div_euclid(SECONDS_PER_DAY));
    let second_of_day = epoch_seconds.rem_euclid(SECONDS_PER_DAY);
    format!(
        "{date} {:02}:{:02}:{:02}",
        second_of_day / SECONDS_PER_HOUR,
        second_of_day % SECONDS_PER_HOUR / SECONDS_PER_MINUTE,
        second_of_day % SECONDS_PER_MINUTE
    )
}

/// Parses "%Y-%m-%d %H:%M:%S" into seconds since 1970-01-01 00:00:00.
pub fn parse_datetime(text: &str) -> Option<i64> {
    let (date, time) = text.split_once(' ')?;
    let date = CivilDate::parse(date)?;
    let mut parts = time.split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || [h, m, s].iter().any(|p| p.len() != 2) {
        return None;
    }
    let (h, m, s): (i64, i64, i64) = (parse_digits(h)?, parse_digits(m)?, parse_digits(s)?);
    if h >= 24 || m >= 60 || s >= 60 {
        return None;
    }
    let seconds = h * SECONDS_PER_HOUR + m * SECONDS_PER_MINUTE + s;
    Some(date.days_since_epoch() * SECONDS_PER_DAY + seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handbook_start_date() {
        let start = CivilDate::new(2018, 4, 1).expect("valid");
        // `date -u -d 2018-04-01 +%s` = 1522540800.
        assert_eq!(start.days_since_epoch() * SECONDS_PER_DAY, 1_522_540_800);
        // Day 0 of the Handbook is a Sunday; 1970-01-01 was a Thursday (index 4 from Sunday).
        assert_eq!((start.days_since_epoch() + 4).rem_euclid(7), 0);
        assert_eq!(format_datetime(1_522_540_800 + 31), "2018-04-01 00:00:31");
        // Day 182, last second: `date -u -d @$((1522540800+183*86400-1))`.
        assert_eq!(
            format_datetime(1_522_540_800 + 183 * 86_400 - 1),
            "2018-09-30 23:59:59"
        );
    }

    #[test]
    fn round_trips_every_day_across_leap_years() {
        for days in -800_000..800_000 {
            let date = CivilDate::from_days_since_epoch(days);
            assert_eq!(CivilDate::new(date.year, date.month, date.day), Some(date));
            assert_eq!(date.days_since_epoch(), days);
        }
        let leap = CivilDate::parse("2000-02-29").expect("leap day");
        assert_eq!(
            format_datetime(leap.days_since_epoch() * SECONDS_PER_DAY),
            "2000-02-29 00:00:00"
        );
    }

    #[test]
    fn parse_rejects_malformed_datetimes() {
        for bad in [
            "",
            "2018-04-01",
            "2018-04-01 24:00:00",
            "2018-02-29 00:00:00",
            "2018-4-01 00:00:00",
            "2018-04-01T00:00:00",
            "2018-04-01 00:00:0x",
            "2018-04-01 00:60:00",
            "+018-04-01 00:00:00",
        ] {
            assert_eq!(parse_datetime(bad), None, "{bad:?}");
        }
        assert_eq!(parse_datetime("2018-04-01 00:00:31"), Some(1_522_540_831));
    }
}
