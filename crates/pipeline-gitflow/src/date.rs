//! A calendar date for release headings (`2026-11-26`), without a time
//! zone library: the proleptic Gregorian calendar, UTC.

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
