//! A calendar date for release headings (`2026-11-26`), without a time
//! zone library: the proleptic Gregorian calendar, UTC; and RFC 3339 UTC
//! times (`2026-11-26T16:50:45Z`) written and read.

use std::fmt;
use std::str::FromStr;

/// A calendar date, `YYYY-MM-DD`.
///
/// ```
/// use pipeline_gitflow::Date;
///
/// let date: Date = "2026-11-26".parse()?;
/// assert_eq!(date.to_string(), "2026-11-26");
/// assert_eq!(Date::from_unix_seconds(0).to_string(), "1970-01-01");
/// assert!("2026-02-29".parse::<Date>().is_err());
/// # Ok::<(), pipeline_gitflow::InvalidDate>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

/// Text that is not a valid `YYYY-MM-DD` date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a date YYYY-MM-DD")]
pub struct InvalidDate(String);

impl Date {
    /// The date, if it exists (years 1 to 9999).
    pub fn new(year: u16, month: u8, day: u8) -> Option<Self> {
        ((1..=9999).contains(&year) && (1..=12).contains(&month))
            .then(|| days_in_month(year, month))
            .filter(|&days| (1..=days).contains(&day))
            .map(|_| Self { year, month, day })
    }

    /// The UTC date of a Unix time (clamped to years 1970 to 9999).
    pub fn from_unix_seconds(seconds: i64) -> Self {
        let days = seconds.clamp(0, 253_402_300_799).div_euclid(86_400);
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self {
            year: u16::try_from(year).unwrap_or(9999),
            month: u8::try_from(month).unwrap_or(1),
            day: u8::try_from(day).unwrap_or(1),
        }
    }

    /// The year.
    pub fn year(self) -> u16 {
        self.year
    }

    /// The month, 1 to 12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// The day of the month, from 1.
    pub fn day(self) -> u8 {
        self.day
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl FromStr for Date {
    type Err = InvalidDate;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidDate(text.to_owned());
        let bytes = text.as_bytes();
        if bytes.len() != 10
            || bytes[4] != b'-'
            || bytes[7] != b'-'
            || !bytes
                .iter()
                .enumerate()
                .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit())
        {
            return Err(invalid());
        }
        let year = text[..4].parse().map_err(|_| invalid())?;
        let month = text[5..7].parse().map_err(|_| invalid())?;
        let day = text[8..].parse().map_err(|_| invalid())?;
        Self::new(year, month, day).ok_or_else(invalid)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(secs: u64) -> String {
    let date = Date::from_unix_seconds(i64::try_from(secs).unwrap_or(i64::MAX));
    let rem = secs % 86_400;
    format!(
        "{date}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `YYYY-MM-DDTHH:MM:SSZ` (as GitHub writes its times) as Unix seconds;
/// `None` for anything else or before 1970.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let s = text.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())
            .flatten()
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let date = Date::new(
        u16::try_from(year).ok()?,
        u8::try_from(month).ok()?,
        u8::try_from(day).ok()?,
    )?;
    if year < 1970 || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    let (y, m, d) = (
        i64::from(date.year()) - i64::from(date.month() <= 2),
        i64::from(date.month()),
        i64::from(date.day()),
    );
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).ok()?;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_refuses() {
        assert_eq!("2024-02-29".parse::<Date>().unwrap().day(), 29);
        for bad in [
            "",
            "2026-1-01",
            "2026-13-01",
            "2026-00-10",
            "2026-04-31",
            "2100-02-29",
            "0000-01-01",
            "2026/11/26",
            "2026-11-26T00:00",
            "+026-11-26",
            "２０２６-11-26",
        ] {
            assert!(bad.parse::<Date>().is_err(), "{bad:?}");
        }
        assert_eq!(
            "2026-13-01".parse::<Date>().unwrap_err().to_string(),
            "\"2026-13-01\" is not a date YYYY-MM-DD"
        );
    }

    #[test]
    fn unix_times() {
        assert_eq!(
            Date::from_unix_seconds(1_795_651_200).to_string(),
            "2026-11-26"
        );
        assert_eq!(
            Date::from_unix_seconds(951_782_400).to_string(),
            "2000-02-29"
        );
        assert_eq!(Date::from_unix_seconds(-5).to_string(), "1970-01-01");
        assert_eq!(Date::from_unix_seconds(i64::MAX).to_string(), "9999-12-31");
    }

    proptest! {
        #[test]
        fn every_day_round_trips(days in 0i64..2_932_896) {
            let date = Date::from_unix_seconds(days * 86_400 + 43_200);
            prop_assert!(Date::new(date.year(), date.month(), date.day()).is_some());
            prop_assert_eq!(date.to_string().parse::<Date>(), Ok(date));
            let next = Date::from_unix_seconds((days + 1) * 86_400);
            prop_assert!(next > date);
        }
    }
}

#[cfg(test)]
mod rfc3339_tests {
    #[test]
    fn rfc3339_parses_what_it_writes_and_nothing_else() {
        for secs in [0, 951_782_400, 1_795_711_845, 4_102_444_799, 86_399, 86_400] {
            assert_eq!(super::parse_rfc3339(&super::rfc3339(secs)), Some(secs));
        }
        for bad in [
            "",
            "2026-11-26 16:50:45Z",
            "2026-02-30T00:00:00Z",
            "2026-11-26T24:00:00Z",
            "2026-11-26T16:50:45+01:00",
            "1969-12-31T23:59:59Z",
            "2026-1a-26T16:50:45Z",
            "+026-11-26T16:50:45Z",
        ] {
            assert_eq!(super::parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_795_711_845), "2026-11-26T16:50:45Z");
    }
}
