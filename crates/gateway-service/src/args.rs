//! Argument values as Spring's filter factories read them: statuses (`500` or
//! `INTERNAL_SERVER_ERROR`), data sizes (`5MB`) and durations (`10ms`, `PT1S`). Shared by the
//! filters and the resilience filters, so neither depends on the other for them.

use std::time::Duration;

use axum::http::StatusCode;

use crate::definition::DefinitionError;

fn bad(what: String) -> DefinitionError {
    DefinitionError(what)
}

/// Parses a status as a number or Spring's enum name (`BAD_GATEWAY`).
pub fn parse_status(text: &str) -> Result<StatusCode, DefinitionError> {
    let text = text.trim();
    if let Ok(code) = text.parse::<u16>() {
        return StatusCode::from_u16(code).map_err(|_| bad(format!("`{text}` is not a status")));
    }
    let wanted = text.to_ascii_uppercase();
    (100..600)
        .filter_map(|c| StatusCode::from_u16(c).ok())
        .find(|s| {
            s.canonical_reason().is_some_and(|r| {
                r.to_ascii_uppercase()
                    .replace([' ', '-'], "_")
                    .replace('\'', "")
                    == wanted
            }) || (wanted == "PAYLOAD_TOO_LARGE" && s.as_u16() == 413)
        })
        .ok_or_else(|| bad(format!("`{text}` is not a status")))
}

/// Spring's `DataSize` text (`5MB`, `512KB`, `100B`, or plain bytes) through platform's one
/// parser, refused as a definition error.
pub fn parse_size(text: &str) -> Result<u64, DefinitionError> {
    platform::settings::parse_data_size(text).map_err(bad)
}

/// Spring's `Duration` text through platform's one parser (`10ms`, `2s`, `PT1S`; a bare
/// number is milliseconds), refused as a definition error.
pub fn parse_duration(text: &str) -> Result<Duration, DefinitionError> {
    platform::settings::parse_duration(text, platform::settings::DurationUnit::Millis)
        .map_err(|e| bad(format!("`{text}` is not a duration: {e}")))
}
