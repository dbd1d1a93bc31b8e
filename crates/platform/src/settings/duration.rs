//! Spring Boot's relaxed `Duration` text (`DurationStyle`), the one duration parser of every
//! factura crate: settings (`wait-duration-in-open-state: PT10S`) and gateway filter arguments
//! (`Retry=…,10ms,50ms`) alike.
//!
//! Two styles, tried in this order, exactly as Spring detects them:
//!
//! * **simple**: an optionally signed whole number and an optional unit suffix, any case:
//!   `ns`, `us`, `ms`, `s`, `m`, `h`, `d` (`500ms`, `10s`, `2m`, `1h`, `1d`). Without a suffix the
//!   number is in the key's own unit (milliseconds unless the key says otherwise). No fractions,
//!   no space between number and unit.
//! * **ISO-8601**: `java.time.Duration.parse` — `P`, then days, then `T` and hours, minutes and
//!   seconds (`PT10S`, `PT0.5S`, `P1DT2H`, `PT1M30S`); the leading `P` is upper case (Spring's
//!   detection is case-sensitive there), the rest is not. Only seconds take a fraction (up to 9
//!   digits, `.` or `,`).
//!
//! `std::time::Duration` has no sign, so a value that comes out negative is refused instead of
//! being kept as Spring would keep it.

use std::{fmt, time::Duration};

/// The unit a bare number is read in: the key's own default unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationUnit {
    /// `ns`.
    Nanos,
    /// `us`.
    Micros,
    /// `ms` (Spring's default when a key names no unit).
    Millis,
    /// `s`.
    Seconds,
    /// `m`.
    Minutes,
    /// `h`.
    Hours,
    /// `d`.
    Days,
}

impl DurationUnit {
    fn from_suffix(suffix: &str) -> Option<Self> {
        Some(match suffix.to_ascii_lowercase().as_str() {
            "ns" => Self::Nanos,
            "us" => Self::Micros,
            "ms" => Self::Millis,
            "s" => Self::Seconds,
            "m" => Self::Minutes,
            "h" => Self::Hours,
            "d" => Self::Days,
            _ => return None,
        })
    }

    fn nanos(self) -> i128 {
        match self {
            Self::Nanos => 1,
            Self::Micros => 1_000,
            Self::Millis => 1_000_000,
            Self::Seconds => 1_000_000_000,
            Self::Minutes => 60 * 1_000_000_000,
            Self::Hours => 3_600 * 1_000_000_000,
            Self::Days => 86_400 * 1_000_000_000,
        }
    }
}

/// A text that is not a duration; says which form was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError {
    /// What the text should have looked like.
    pub expected: String,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}", self.expected)
    }
}

impl std::error::Error for DurationError {}

/// The form a duration is expected in, for error messages.
pub fn expected_duration(unit: DurationUnit) -> String {
    format!(
        "a duration such as 500ms, 10s, 2m, 1h, 1d, PT10S or a whole number of {}",
        match unit {
            DurationUnit::Nanos => "nanoseconds",
            DurationUnit::Micros => "microseconds",
            DurationUnit::Millis => "milliseconds",
            DurationUnit::Seconds => "seconds",
            DurationUnit::Minutes => "minutes",
            DurationUnit::Hours => "hours",
            DurationUnit::Days => "days",
        }
    )
}

/// Parses `text` by Spring's rules; a bare number is in `unit`.
pub fn parse_duration(text: &str, unit: DurationUnit) -> Result<Duration, DurationError> {
    let text = text.trim();
    let refused = || DurationError {
        expected: expected_duration(unit),
    };
    let nanos = parse_simple(text, unit)
        .or_else(|| parse_iso8601(text))
        .ok_or_else(refused)?;
    if nanos < 0 {
        return Err(DurationError {
            expected: format!("{} (not negative)", expected_duration(unit)),
        });
    }
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| refused())?;
    Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

/// `[+-]?\d+[a-zA-Z]{0,2}` with a known suffix, in nanoseconds.
fn parse_simple(text: &str, unit: DurationUnit) -> Option<i128> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let digits = unsigned.bytes().take_while(u8::is_ascii_digit).count();
    let (number, suffix) = unsigned.split_at(digits);
    if number.is_empty() || suffix.len() > 2 || !suffix.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let unit = if suffix.is_empty() {
        unit
    } else {
        DurationUnit::from_suffix(suffix)?
    };
    // Java parses a long: more digits than that is not a duration.
    let value: i64 = number.parse().ok()?;
    let nanos = i128::from(value) * unit.nanos();
    Some(if text.starts_with('-') { -nanos } else { nanos })
}

/// `java.time.Duration.parse`, in nanoseconds.
fn parse_iso8601(text: &str) -> Option<i128> {
    let (negative, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    // Spring only treats a value as ISO-8601 when it starts with an upper-case `P`.
    let rest = rest.strip_prefix('P')?;
    let (date, time) = match rest.find(['T', 't']) {
        Some(t) => (&rest[..t], Some(&rest[t + 1..])),
        None => (rest, None),
    };
    let mut nanos: i128 = 0;
    let mut any = false;
    if !date.is_empty() {
        let days = date.strip_suffix(['D', 'd'])?;
        nanos += signed_whole(days)? * DurationUnit::Days.nanos();
        any = true;
    }
    if let Some(mut time) = time {
        if time.is_empty() {
            return None;
        }
        for (designator, unit) in [('H', DurationUnit::Hours), ('M', DurationUnit::Minutes)] {
            if let Some(at) = time.find([designator, designator.to_ascii_lowercase()]) {
                nanos += signed_whole(&time[..at])? * unit.nanos();
                time = &time[at + 1..];
                any = true;
            }
        }
        if !time.is_empty() {
            let seconds = time.strip_suffix(['S', 's'])?;
            nanos += signed_seconds(seconds)?;
            any = true;
        }
    }
    any.then_some(if negative { -nanos } else { nanos })
}

/// `[-+]?[0-9]+`.
fn signed_whole(text: &str) -> Option<i128> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: i64 = unsigned.parse().ok()?;
    Some(if text.starts_with('-') {
        -i128::from(value)
    } else {
        i128::from(value)
    })
}

/// `[-+]?[0-9]+([.,][0-9]{0,9})?` seconds, in nanoseconds.
fn signed_seconds(text: &str) -> Option<i128> {
    let (whole, fraction) = match text.find(['.', ',']) {
        Some(at) => (&text[..at], &text[at + 1..]),
        None => (text, ""),
    };
    if fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds = signed_whole(whole)?;
    let fraction_nanos: i128 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().ok()?
    };
    let magnitude = seconds.abs() * DurationUnit::Seconds.nanos() + fraction_nanos;
    Some(if whole.starts_with('-') {
        -magnitude
    } else {
        magnitude
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use DurationUnit::*;

    fn ok(text: &str, unit: DurationUnit) -> Duration {
        parse_duration(text, unit).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn simple_style_takes_every_spring_suffix_in_any_case() {
        assert_eq!(ok("500ms", Millis), Duration::from_millis(500));
        assert_eq!(ok("10s", Millis), Duration::from_secs(10));
        assert_eq!(ok("2m", Millis), Duration::from_secs(120));
        assert_eq!(ok("1h", Millis), Duration::from_secs(3600));
        assert_eq!(ok("1d", Millis), Duration::from_secs(86_400));
        assert_eq!(ok("7us", Millis), Duration::from_micros(7));
        assert_eq!(ok("9ns", Millis), Duration::from_nanos(9));
        assert_eq!(ok("10S", Millis), Duration::from_secs(10));
        assert_eq!(ok("5MS", Millis), Duration::from_millis(5));
        assert_eq!(ok("+3s", Millis), Duration::from_secs(3));
        assert_eq!(ok(" 10s ", Millis), Duration::from_secs(10));
    }

    #[test]
    fn a_bare_number_is_in_the_keys_own_unit() {
        assert_eq!(ok("250", Millis), Duration::from_millis(250));
        assert_eq!(ok("30", Seconds), Duration::from_secs(30));
        assert_eq!(ok("0", Millis), Duration::ZERO);
        assert_eq!(ok("2", Days), Duration::from_secs(2 * 86_400));
    }

    #[test]
    fn iso8601_as_java_duration_parse() {
        assert_eq!(ok("PT10S", Millis), Duration::from_secs(10));
        assert_eq!(ok("PT0.5S", Millis), Duration::from_millis(500));
        assert_eq!(ok("PT0,25S", Millis), Duration::from_millis(250));
        assert_eq!(ok("PT1M30S", Millis), Duration::from_secs(90));
        assert_eq!(ok("PT2H", Millis), Duration::from_secs(7200));
        assert_eq!(ok("P1D", Millis), Duration::from_secs(86_400));
        assert_eq!(ok("P1DT1H", Millis), Duration::from_secs(90_000));
        assert_eq!(ok("PT10s", Millis), Duration::from_secs(10));
        assert_eq!(ok("PT1.000000001S", Millis), Duration::new(1, 1));
        assert_eq!(ok("PT1M-30S", Millis), Duration::from_secs(30));
        assert_eq!(ok("-PT-10S", Millis), Duration::from_secs(10));
    }

    #[test]
    fn what_spring_refuses_is_refused_with_the_expected_form() {
        for text in [
            "",
            "soon",
            "1.5s",
            "10 s",
            "10sec",
            "1w",
            "pt10s",
            "P",
            "PT",
            "PT1.5M",
            "P1H",
            "PT1S2M",
            "PT1.0000000001S",
            "s",
            "99999999999999999999ms",
        ] {
            let error = parse_duration(text, Millis).expect_err(text);
            assert!(
                error.to_string().contains("PT10S") && error.to_string().contains("milliseconds"),
                "{text}: {error}"
            );
        }
        assert!(
            parse_duration("-1s", Millis).is_err(),
            "no negative Duration"
        );
        assert!(
            parse_duration("5", Seconds)
                .map(|d| d.as_secs() == 5)
                .unwrap()
        );
        assert!(
            parse_duration("x", Seconds)
                .unwrap_err()
                .to_string()
                .ends_with("seconds")
        );
    }
}
