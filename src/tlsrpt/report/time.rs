//! The report's times, in UTC and with no clock: the report day is an input (RFC 8460 §4.1: a
//! report covers a UTC day), and date-times are RFC 3339 §5.6 `date-time` (RFC 8460 §4.4).

/// The first and last second of a report day (RFC 8460 §4.1: 24 hours, midnight to midnight UTC).
pub const DAY_SECONDS: i64 = 86_400;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (i64::from(month) + 9) % 12; // March is 0
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (`civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn digits(s: &str) -> Option<u32> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

/// `full-date` (RFC 3339 §5.6: `YYYY-MM-DD`) as days since 1970-01-01; years 1970-9999.
fn full_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (digits(&s[0..4])?, digits(&s[5..7])?, digits(&s[8..10])?);
    let year = i64::from(year);
    if year < 1970 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

/// A report day `YYYY-MM-DD` as the Unix time of its first second.
pub fn day_start(day: &str) -> Option<i64> {
    full_date(day).map(|d| d * DAY_SECONDS)
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time.
pub fn format_utc(t: i64) -> String {
    let (year, month, day) = civil_from_days(t.div_euclid(DAY_SECONDS));
    let s = t.rem_euclid(DAY_SECONDS);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// An RFC 3339 `date-time` as Unix time, and whether it named its zone. Tolerated: a space for
/// the `T` (RFC 3339 §5.6 NOTE), lowercase `t`/`z`, and no zone at all (read as UTC; the caller
/// notes it). Fractional seconds are dropped; a leap second is read as :59.
pub fn parse_date_time(s: &str) -> Option<(i64, bool)> {
    if s.len() < 19 || !s.is_char_boundary(10) || !s.is_char_boundary(19) {
        return None;
    }
    let days = full_date(&s[..10])?;
    if !matches!(s.as_bytes()[10], b'T' | b't' | b' ') {
        return None;
    }
    let t = &s[11..19];
    let tb = t.as_bytes();
    if tb[2] != b':' || tb[5] != b':' {
        return None;
    }
    let (h, m, sec) = (digits(&t[0..2])?, digits(&t[3..5])?, digits(&t[6..8])?);
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let base = days * DAY_SECONDS + i64::from(h * 3600 + m * 60 + sec.min(59));
    match rest.as_bytes() {
        [] => Some((base, false)),
        [b'Z' | b'z'] => Some((base, true)),
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (oh, om) = (digits(&rest[1..3])?, digits(&rest[4..6])?);
            if oh > 23 || om > 59 {
                return None;
            }
            let offset = i64::from(oh * 3600 + om * 60);
            Some((
                if *sign == b'+' {
                    base - offset
                } else {
                    base + offset
                },
                true,
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_before_year_one_count_back_across_the_era() {
        // RFC 3339 years run from 0000; January and February of year 0 fall in the era before
        // (Hinnant's era of 400 years begins on 1 March), the one negative branch.
        for (date, days) in [
            ((0, 3, 1), -719_468),
            ((0, 2, 29), -719_469),
            ((0, 1, 1), -719_528),
            ((-1, 12, 31), -719_529),
            ((-400, 3, 1), -719_468 - 146_097),
        ] {
            assert_eq!(days_from_civil(date.0, date.1, date.2), days, "{date:?}");
            assert_eq!(civil_from_days(days), date, "{days}");
        }
    }

    #[test]
    fn century_and_era_edges_both_ways() {
        // The Gregorian corrections: 1900 and 2100 have no 29 February, 1600, 2000 and 2400 do
        // (the last day of a 400-year era). Day counts from Python's datetime.
        for (date, days) in [
            ((2000, 2, 29), 11_016),
            ((2000, 3, 1), 11_017),
            ((2100, 2, 28), 47_540),
            ((2100, 3, 1), 47_541),
            ((1900, 2, 28), -25_509),
            ((1900, 3, 1), -25_508),
            ((2400, 2, 29), 157_113),
            ((1600, 2, 29), -135_081),
            ((9999, 12, 31), 2_932_896),
            ((1, 1, 1), -719_162),
        ] {
            assert_eq!(days_from_civil(date.0, date.1, date.2), days, "{date:?}");
            assert_eq!(civil_from_days(days), date, "{days}");
        }
    }

    #[test]
    fn days_and_date_times() {
        // (day, first second) — known Unix times
        for (day, t) in [
            ("1970-01-01", 0),
            ("2016-04-01", 1_459_468_800),
            ("2024-02-29", 1_709_164_800),
        ] {
            assert_eq!(day_start(day), Some(t), "{day}");
            assert_eq!(format_utc(t), format!("{day}T00:00:00Z"));
        }
        // Not days: a month 13, 30 February, 2023 is no leap year, too short, before 1970, signs.
        for bad in [
            "2024-13-01",
            "2024-02-30",
            "2023-02-29",
            "2024-1-01",
            "1969-12-31",
            "+024-01-01",
            "",
            // 30 days hath September, April, June and November; 2100 is no leap year.
            "2024-04-31",
            "2024-06-31",
            "2024-09-31",
            "2024-11-31",
            "2100-02-29",
            // Signs and other separators where digits and "-" belong.
            "2024-+1-01",
            "2024-01-+1",
            "2024x01-01",
            "2024-01x01",
        ] {
            assert_eq!(day_start(bad), None, "{bad}");
        }
        for good in [
            "2024-04-30",
            "2024-01-31",
            "2024-12-31",
            "2000-02-29",
            "2023-02-28",
        ] {
            assert!(day_start(good).is_some(), "{good}");
        }
        // (text, Unix time, zone named)
        let cases: &[(&str, Option<(i64, bool)>)] = &[
            ("2016-04-01T00:00:00Z", Some((1_459_468_800, true))),
            ("2016-04-01T23:59:59Z", Some((1_459_555_199, true))),
            ("2016-04-01t00:00:00z", Some((1_459_468_800, true))),
            ("2016-04-01 00:00:00Z", Some((1_459_468_800, true))),
            ("2016-04-01T00:00:00.123Z", Some((1_459_468_800, true))),
            ("2016-04-01T02:00:00+02:00", Some((1_459_468_800, true))),
            ("2016-03-31T22:00:00-02:00", Some((1_459_468_800, true))),
            ("2016-04-01T00:00:00", Some((1_459_468_800, false))),
            ("2016-04-01", None),
            ("2016-04-01T24:00:00Z", None),
            ("2016-04-01T00:00:00.Z", None),
            ("2016-04-01T00:00:00+0200", None),
            ("2016-04-01T00:00:00Zjunk", None),
            ("2016-04-01T00:00:0é", None),
            // A character across byte 10, where the date ends.
            ("2016-04-0éT00:00:00Z", None),
            // The bounds of each field: a leap second is read as :59, nothing past it.
            ("2016-04-01T23:59:60Z", Some((1_459_555_199, true))),
            ("2016-04-01T23:59:61Z", None),
            ("2016-04-01T23:60:00Z", None),
            ("2016-04-01T00-00:00Z", None),
            ("2016-04-01T00:00-00Z", None),
            (
                "2016-04-01T23:59:00+23:59",
                Some((1_459_555_140 - 86_340, true)),
            ),
            ("2016-04-01T00:00:00+24:00", None),
            ("2016-04-01T00:00:00+00:60", None),
            ("2016-04-01T00:00:00-00:30", Some((1_459_470_600, true))),
        ];
        for (text, want) in cases {
            assert_eq!(parse_date_time(text), *want, "{text}");
        }
    }
}
