//! Calendar arithmetic for the few places that need a date from a timestamp (field 7,
//! expiry months, local days), without a date library.

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's
/// `civil_from_days`, public domain).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// ISO 8583 field 7 (transmission date and time, MMDDhhmmss, UTC) for a time in whole
/// seconds since the Unix epoch.
pub fn transmission_time(unix_secs: i64) -> String {
    let (_, month, day) = civil_from_days(unix_secs.div_euclid(86_400));
    let tod = unix_secs.rem_euclid(86_400);
    format!(
        "{month:02}{day:02}{:02}{:02}{:02}",
        tod / 3600,
        tod / 60 % 60,
        tod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_are_right_around_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn field_7_is_month_day_and_utc_time() {
        // 2026-11-21 23:01:02 UTC.
        assert_eq!(transmission_time(1_795_302_062), "1121230102");
    }
}
