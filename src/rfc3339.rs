//! RFC 3339 (UTC) formatting and parsing of Unix times, by hand: proleptic Gregorian calendar,
//! days counted with Howard Hinnant's `civil_from_days` / `days_from_civil`.

const MS_PER_DAY: u64 = 86_400_000;

/// The civil date (year, month 1–12, day 1–31) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097); // [0, 146096]
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // March = 0
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // `day` is in 1..=31 and `month` in 1..=12 by construction.
    (year, month as u32, day as u32)
}

/// Days since 1970-01-01 of a civil date (month 1–12, day 1–31, not checked here).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month = i64::from(month);
    let month_index = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_index + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `2026-12-02T10:00:00.123Z` for a Unix time in milliseconds.
pub fn format_rfc3339_ms(unix_ms: u64) -> String {
    let (date_time, millis) = format_parts(unix_ms);
    format!("{date_time}.{millis:03}Z")
}

/// `2026-12-02T10:00:00Z` for a Unix time in milliseconds (the milliseconds dropped).
pub fn format_rfc3339_secs(unix_ms: u64) -> String {
    let (date_time, _) = format_parts(unix_ms);
    format!("{date_time}Z")
}

fn format_parts(unix_ms: u64) -> (String, u64) {
    // u64 milliseconds / day fits i64 comfortably.
    let days = i64::try_from(unix_ms / MS_PER_DAY).unwrap_or(i64::MAX);
    let ms_of_day = unix_ms % MS_PER_DAY;
    let (year, month, day) = civil_from_days(days);
    let secs_of_day = ms_of_day / 1000;
    let (hour, minute, second) = (secs_of_day / 3600, secs_of_day / 60 % 60, secs_of_day % 60);
    (
        format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}"),
        ms_of_day % 1000,
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` into Unix milliseconds (fraction past
/// milliseconds is truncated). `None` if malformed, out of range, or before 1970.
pub fn parse_rfc3339_ms(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = bytes.get(range)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        digits.iter().try_fold(0u32, |n, d| {
            n.checked_mul(10)?.checked_add(u32::from(d - b'0'))
        })
    };
    let separator =
        |index: usize, allowed: &[u8]| bytes.get(index).is_some_and(|b| allowed.contains(b));
    if !(separator(4, b"-")
        && separator(7, b"-")
        && separator(10, b"Tt ")
        && separator(13, b":")
        && separator(16, b":"))
    {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let year = i64::from(year);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut index = 19;
    let mut millis = 0u32;
    if separator(index, b".") {
        index += 1;
        let start = index;
        while bytes.get(index).is_some_and(u8::is_ascii_digit) {
            index += 1;
        }
        if index == start {
            return None;
        }
        let fraction = &text[start..index.min(start + 3)];
        millis = fraction.parse::<u32>().ok()? * 10u32.pow(3 - fraction.len() as u32);
    }
    let offset_minutes: i64 = match bytes.get(index) {
        Some(b'Z' | b'z') if index + 1 == bytes.len() => 0,
        Some(sign @ (b'+' | b'-')) if index + 6 == bytes.len() && separator(index + 3, b":") => {
            let (hours, minutes) = (number(index + 1..index + 3)?, number(index + 4..index + 6)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = i64::from(hours * 60 + minutes);
            if *sign == b'-' { -offset } else { offset }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds =
        days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_minutes * 60;
    let unix_ms = seconds.checked_mul(1000)?.checked_add(i64::from(millis))?;
    u64::try_from(unix_ms).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: [(u64, &str); 7] = [
        (0, "1970-01-01T00:00:00.000Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"), // leap day of a year divisible by 400
        (1_709_164_800_123, "2024-02-29T00:00:00.123Z"), // leap day
        (1_709_251_199_999, "2024-02-29T23:59:59.999Z"),
        (1_709_251_200_000, "2024-03-01T00:00:00.000Z"),
        (1_798_797_600_000, "2027-01-01T10:00:00.000Z"),
        (4_107_542_400_000, "2100-03-01T00:00:00.000Z"), // 2100 is not a leap year
    ];

    #[test]
    fn formats_known_timestamps() {
        for (unix_ms, text) in KNOWN {
            assert_eq!(format_rfc3339_ms(unix_ms), text);
        }
        assert_eq!(
            format_rfc3339_secs(1_709_251_199_999),
            "2024-02-29T23:59:59Z"
        );
        assert_eq!(
            format_rfc3339_ms(1_764_669_600_000),
            "2025-12-02T10:00:00.000Z"
        );
    }

    #[test]
    fn parses_what_it_formats() {
        for (unix_ms, text) in KNOWN {
            assert_eq!(parse_rfc3339_ms(text), Some(unix_ms), "{text}");
        }
        for unix_ms in (0..200_000u64).map(|day| day * MS_PER_DAY + day * 7919 % MS_PER_DAY) {
            assert_eq!(parse_rfc3339_ms(&format_rfc3339_ms(unix_ms)), Some(unix_ms));
        }
    }

    #[test]
    fn parses_offsets_and_fractions() {
        let base = parse_rfc3339_ms("2026-12-02T10:00:00Z");
        assert_eq!(base, Some(1_796_205_600_000));
        assert_eq!(parse_rfc3339_ms("2026-12-02t10:00:00z"), base);
        assert_eq!(parse_rfc3339_ms("2026-12-02 10:00:00Z"), base);
        assert_eq!(parse_rfc3339_ms("2026-12-02T11:30:00+01:30"), base);
        assert_eq!(parse_rfc3339_ms("2026-12-02T05:00:00-05:00"), base);
        assert_eq!(
            parse_rfc3339_ms("2026-12-02T10:00:00.5Z"),
            base.map(|ms| ms + 500)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-12-02T10:00:00.123456789Z"),
            base.map(|ms| ms + 123)
        );
    }

    #[test]
    fn rejects_malformed() {
        for text in [
            "",
            "2026-12-02",
            "2026-12-02T10:00:00",
            "2026-13-02T10:00:00Z",
            "2026-02-29T10:00:00Z", // not a leap year
            "2026-12-32T10:00:00Z",
            "2026-12-02T24:00:00Z",
            "2026-12-02T10:00:00.Z",
            "2026-12-02T10:00:00+0100",
            "2026-12-02T10:00:00Zjunk",
            "1969-12-31T23:59:59Z",
            "+026-12-02T10:00:00Z",
        ] {
            assert_eq!(parse_rfc3339_ms(text), None, "{text:?}");
        }
    }
}
