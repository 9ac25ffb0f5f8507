//! Timestamp parsing for CloudTrail's date forms, exact to the microsecond.
//!
//! Accepted: extended ISO 8601 `YYYY-MM-DD(T| )HH:MM:SS[.fraction][zone]` and basic
//! `YYYYMMDDTHHMMSS[.fraction][zone]`, where zone is `Z`, `±HH:MM`, `±HHMM`, `±HH`
//! or absent (CloudTrail times are UTC, so no zone means UTC). A fraction may have up
//! to 9 digits, but digits past the microsecond must be zero: a value is only read
//! into the column when the column can hold it exactly.

use time::{Date, Month};

const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Microseconds since the Unix epoch, UTC; `None` when `s` is not an exact timestamp.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let (date, rest) = if b.len() >= 10 && b[4] == b'-' && b[7] == b'-' {
        ((num(&b[0..4])?, num(&b[5..7])?, num(&b[8..10])?), &b[10..])
    } else if b.len() >= 8 {
        ((num(&b[0..4])?, num(&b[4..6])?, num(&b[6..8])?), &b[8..])
    } else {
        return None;
    };
    let extended = b.get(4) == Some(&b'-');
    let (sep, rest) = rest.split_first()?;
    if !(matches!(sep, b'T' | b't') || (extended && *sep == b' ')) {
        return None;
    }
    let (h, mi, sec, rest) = if extended {
        if rest.len() < 8 || rest[2] != b':' || rest[5] != b':' {
            return None;
        }
        (
            num(&rest[0..2])?,
            num(&rest[3..5])?,
            num(&rest[6..8])?,
            &rest[8..],
        )
    } else {
        if rest.len() < 6 {
            return None;
        }
        (
            num(&rest[0..2])?,
            num(&rest[2..4])?,
            num(&rest[4..6])?,
            &rest[6..],
        )
    };
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let (micros, rest) = fraction(rest)?;
    let offset_secs = zone(rest, extended)?;
    let month = Month::try_from(u8::try_from(date.1).ok()?).ok()?;
    let day = Date::from_calendar_date(date.0 as i32, month, u8::try_from(date.2).ok()?).ok()?;
    let days = day.to_julian_day() as i64 - UNIX_EPOCH_JULIAN_DAY;
    let secs = days * 86_400 + h as i64 * 3600 + mi as i64 * 60 + sec as i64 - offset_secs;
    Some(secs * 1_000_000 + micros)
}

/// The UTC day (days since the epoch) of a microsecond timestamp.
pub fn day_of(micros: i64) -> i64 {
    micros.div_euclid(MICROS_PER_DAY)
}

/// Days since the Unix epoch of a calendar date.
pub fn epoch_day(d: Date) -> i64 {
    d.to_julian_day() as i64 - UNIX_EPOCH_JULIAN_DAY
}

fn num(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |acc, d| acc * 10 + (d - b'0') as u32))
}

fn fraction(rest: &[u8]) -> Option<(i64, &[u8])> {
    match rest.first() {
        Some(b'.') | Some(b',') => {
            let digits = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 || digits > 9 {
                return None;
            }
            let d = &rest[1..1 + digits];
            if d.len() > 6 && d[6..].iter().any(|&c| c != b'0') {
                return None; // finer than a microsecond: not exact
            }
            let mut micros = 0i64;
            for i in 0..6 {
                micros = micros * 10 + d.get(i).map_or(0, |c| (c - b'0') as i64);
            }
            Some((micros, &rest[1 + digits..]))
        }
        _ => Some((0, rest)),
    }
}

fn zone(rest: &[u8], extended: bool) -> Option<i64> {
    match rest {
        [] | [b'Z'] | [b'z'] => Some(0),
        [sign @ (b'+' | b'-'), tail @ ..] => {
            let (hh, mm) = match tail {
                [a, b] => (num(&[*a, *b])?, 0),
                [a, b, b':', c, d] if extended => (num(&[*a, *b])?, num(&[*c, *d])?),
                [a, b, c, d] => (num(&[*a, *b])?, num(&[*c, *d])?),
                _ => return None,
            };
            if hh > 23 || mm > 59 {
                return None;
            }
            let secs = (hh * 3600 + mm * 60) as i64;
            Some(if *sign == b'-' { -secs } else { secs })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_625_596_665_000_000; // 2021-07-06T18:37:45Z

    #[test]
    fn accepted_forms() {
        for s in [
            "2021-07-06T18:37:45Z",
            "2021-07-06T18:37:45.000Z",
            "2021-07-06 18:37:45.000000000",
            "2021-07-06 18:37:45",
            "2021-07-06T20:37:45+02:00",
            "2021-07-06T20:37:45+0200",
            "2021-07-06T16:37:45-02",
            "20210706T183745Z",
        ] {
            assert_eq!(parse_timestamp(s), Some(T), "{s}");
        }
        assert_eq!(
            parse_timestamp("2021-07-06T18:37:45.123456Z"),
            Some(T + 123_456)
        );
        assert_eq!(parse_timestamp("2021-07-06T18:37:45.1Z"), Some(T + 100_000));
        assert_eq!(parse_timestamp("1969-12-31T23:59:59Z"), Some(-1_000_000));
    }

    #[test]
    fn rejected_forms() {
        for s in [
            "",
            "...",
            "yyyy-mm-ddThh:mm:ssZ",
            "2018-08-17T17: 36: 34Z",
            "2021-07-06T18:37:45.123456789Z", // finer than µs
            "2021-02-30T00:00:00Z",
            "2021-07-06T24:00:00Z",
            "2021-07-06T18:37:60Z",
            "2021-07-06",
            "2021-07-06T18:37:45ZZ",
            "2021-07-06T18:37:45+25:00",
            "1625596665",
        ] {
            assert_eq!(parse_timestamp(s), None, "{s}");
        }
    }

    #[test]
    fn days() {
        assert_eq!(day_of(T), 18_814);
        assert_eq!(day_of(-1), -1);
        assert_eq!(epoch_day(time::macros::date!(2021 - 07 - 06)), 18_814);
    }
}
