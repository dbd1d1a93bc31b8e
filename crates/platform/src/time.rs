//! Timestamps as Spring's Jackson writes them: ISO-8601 in UTC with millis and `+00:00`.

use chrono::{DateTime, SecondsFormat, Utc};

/// Now, formatted like `2024-11-10T14:23:45.123+00:00`.
pub fn now_iso() -> String {
    format_iso(Utc::now())
}

/// `at`, formatted like `2024-11-10T14:23:45.123+00:00`.
pub fn format_iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, false)
}

/// The instant `millis` after the Unix epoch, if representable.
pub fn from_millis(millis: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(millis)
}

/// Milliseconds since the Unix epoch, the unit Eureka and the database use: the one
/// millisecond clock of every crate.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_has_millis_and_colon_offset() {
        let at = DateTime::from_timestamp_millis(1_731_248_625_123).unwrap();
        assert_eq!(format_iso(at), "2024-11-10T14:23:45.123+00:00");
    }
}
