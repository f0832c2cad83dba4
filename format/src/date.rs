//! UTC dates for people: seconds since the epoch to RFC 3339 and back to seconds from a civil
//! date, with Howard Hinnant's days-from-civil algorithms (proleptic Gregorian calendar).
//!
//! Here, in the crate both programs use, so that the builder (`inspect`'s `created:`, a zip's
//! timestamps) and the installer (receipts, `status`) write the same dates with one
//! implementation and no date crate. No time zones: every date is UTC.

/// `2026-11-26T01:02:03Z` for `secs` seconds since 1970-01-01T00:00:00Z.
pub fn rfc3339(secs: u64) -> String {
    let Civil { year, month, day, hour, minute, second } = civil_from_unix(secs);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

/// A UTC civil time, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    /// 1..=12
    pub month: u8,
    /// 1..=31
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

/// The UTC civil time `secs` seconds after 1970-01-01T00:00:00Z; the inverse of
/// [`unix_from_civil`].
pub fn civil_from_unix(secs: u64) -> Civil {
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    // (each part is in its range by construction: month 1..=12, day 1..=31, rem < 86 400)
    let small = |n: i64| u8::try_from(n).unwrap_or(0);
    Civil {
        year,
        month: small(month),
        day: small(day),
        hour: small((rem / 3600) as i64),
        minute: small((rem / 60 % 60) as i64),
        second: small((rem % 60) as i64),
    }
}

/// Seconds since the epoch of a UTC civil time; 0 for a time before the epoch.
pub fn unix_from_civil(year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> u64 {
    let days = days_from_civil(i64::from(year), i64::from(month), i64::from(day));
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
    u64::try_from(secs).unwrap_or(0)
}

/// The (year, month 1..=12, day 1..=31) of a day counted from 1970-01-01 (day 0).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    // Eras of 400 years start on March 1st, so that the leap day ends the year.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The day counted from 1970-01-01 (day 0) of a civil date; the inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let (y, m) = if month <= 2 { (year - 1, month + 9) } else { (year, month - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both directions, on the days where calendars go wrong: the epoch, leap days (a year
    /// divisible by 4, by 400; 1900 and 2100 are not leap years), the ends of years and months.
    #[test]
    fn rfc3339_dates() {
        let cases: &[(u64, &str)] = &[
            (0, "1970-01-01T00:00:00Z"),
            (59, "1970-01-01T00:00:59Z"),
            (86_399, "1970-01-01T23:59:59Z"),
            (86_400, "1970-01-02T00:00:00Z"),
            (68_169_600, "1972-02-29T00:00:00Z"),
            (68_256_000, "1972-03-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (951_868_800, "2000-03-01T00:00:00Z"),
            (978_307_199, "2000-12-31T23:59:59Z"),
            (1_709_164_800, "2024-02-29T00:00:00Z"),
            (1_700_000_000, "2023-11-14T22:13:20Z"),
            (1_795_654_923, "2026-11-26T01:02:03Z"),
            (1_785_931_200, "2026-08-05T12:00:00Z"),
            (4_107_542_400, "2100-03-01T00:00:00Z"),
            (4_107_456_000, "2100-02-28T00:00:00Z"),
            (253_402_300_799, "9999-12-31T23:59:59Z"),
        ];
        for &(secs, want) in cases {
            assert_eq!(rfc3339(secs), want, "{secs}");
            let (date, time) = want.trim_end_matches('Z').split_once('T').unwrap();
            let d: Vec<u16> = date.split('-').map(|n| n.parse().unwrap()).collect();
            let t: Vec<u8> = time.split(':').map(|n| n.parse().unwrap()).collect();
            assert_eq!(unix_from_civil(d[0], d[1] as u8, d[2] as u8, t[0], t[1], t[2]), secs, "{want}");
        }
    }

    #[test]
    fn times_before_the_epoch_are_zero() {
        assert_eq!(unix_from_civil(1969, 12, 31, 23, 59, 59), 0);
        assert_eq!(unix_from_civil(1980, 1, 1, 0, 0, 0), 315_532_800);
    }
}
