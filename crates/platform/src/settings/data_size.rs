//! Spring's `DataSize` text (`8KB`, `5MB`, `512B`, or a bare number in the key's own unit,
//! bytes unless it says otherwise): the one data-size parser of every factura crate, for
//! settings (`server.max-http-request-header-size`) and gateway filter arguments
//! (`RequestSize=5MB`) alike. Units are binary (1KB = 1024 B) and any case, as Spring reads
//! them.

/// Parses `text` into bytes; `Err` says what was expected.
pub fn parse_data_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let expected = || format!("a data size such as 8KB, 5MB or 512B, not `{text}`");
    let number: u64 = number.parse().map_err(|_| expected())?;
    let factor: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "KB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        _ => return Err(expected()),
    };
    Ok(number.saturating_mul(factor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_springs_units_and_bare_bytes() {
        assert_eq!(parse_data_size("8KB"), Ok(8192));
        assert_eq!(parse_data_size("5mb"), Ok(5 << 20));
        assert_eq!(parse_data_size("100"), Ok(100));
        assert_eq!(parse_data_size("100B"), Ok(100));
        assert!(parse_data_size("8 kilobytes").is_err());
        assert!(parse_data_size("-1KB").is_err());
    }
}
