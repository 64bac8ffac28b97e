//! Wall-clock times for people: milliseconds since the Unix epoch written
//! as `2026-09-21T14:13:20.420Z` (ISO 8601, in UTC), for the web pages.
//!
//! OS idea: the kernel keeps time as a count. `clock_gettime(CLOCK_REALTIME)`
//! says how many seconds have passed since 1970-01-01 00:00 UTC, and knows
//! nothing of months, leap years or time zones: turning the count into a
//! date is the C library's job (`gmtime`), done here with Howard Hinnant's
//! `civil_from_days`. It counts in 400-year eras, which repeat exactly
//! (146 097 days each), and starts each year on March 1st, so that the
//! leap day is the last day of a year and the months before it have a
//! fixed pattern of lengths (31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31).
//! UTC has no daylight saving, and the kernel's clock ignores leap seconds,
//! so every day is 86 400 000 ms.

const MS_PER_DAY: u64 = 86_400_000;
/// Days from 0000-03-01, where the eras start, to 1970-01-01.
const EPOCH_FROM_ERA_START: u64 = 719_468;
const DAYS_PER_ERA: u64 = 146_097;

/// The civil date (year, month 1-12, day 1-31) of `days` since 1970-01-01.
pub fn civil_from_days(days: u64) -> (u64, u32, u32) {
    let z = days + EPOCH_FROM_ERA_START;
    let era = z / DAYS_PER_ERA;
    let day_of_era = z - era * DAYS_PER_ERA; // 0..=146_096
                                             // Each 4 years one day more, each 100 one less, each 400 one more.
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months from March: 153 days per 5 months (31+30+31+30+31).
    let month_from_march = (5 * day_of_year + 2) / 153; // 0..=11
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    // January and February belong to the next calendar year.
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// `unix_ms` as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format_unix_ms(unix_ms: u64) -> String {
    let (year, month, day) = civil_from_days(unix_ms / MS_PER_DAY);
    let in_day = unix_ms % MS_PER_DAY;
    let (hours, minutes) = (in_day / 3_600_000, in_day / 60_000 % 60);
    let (seconds, ms) = (in_day / 1000 % 60, in_day % 1000);
    format!("{year:04}-{month:02}-{day:02}T{hours:02}:{minutes:02}:{seconds:02}.{ms:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(format_unix_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_unix_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(
            format_unix_ms(1_790_000_000_420),
            "2026-09-21T14:13:20.420Z"
        );
        assert_eq!(
            format_unix_ms(4_102_444_800_000),
            "2100-01-01T00:00:00.000Z"
        );
        assert_eq!(
            format_unix_ms(253_402_300_799_999),
            "9999-12-31T23:59:59.999Z"
        );
        // The largest count there is still gives a date, not a panic.
        assert!(format_unix_ms(u64::MAX).ends_with('Z'));
    }

    /// Day by day from 1970 to 2500, against the calendar's own rules.
    #[test]
    fn every_day_follows_the_calendar() {
        let leap =
            |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
        let (mut year, mut month, mut day) = (1970u64, 1u32, 1u32);
        for days in 0..(530 * 365) {
            assert_eq!(civil_from_days(days), (year, month, day), "day {days}");
            let length = match month {
                2 if leap(year) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            day += 1;
            if day > length {
                day = 1;
                month += 1;
                if month > 12 {
                    month = 1;
                    year += 1;
                }
            }
        }
    }
}
