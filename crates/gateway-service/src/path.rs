//! Path normalisation before routing: path tricks are refused, repeated slashes collapse.

use std::borrow::Cow;

/// Refuses path tricks and collapses repeated slashes: `..`/`.` segments (also encoded),
/// encoded slashes or backslashes and NULs are a 400.
pub fn normalise_path(raw: &str) -> Result<Cow<'_, str>, &'static str> {
    if !raw.starts_with('/') {
        return Err("The path must start with /");
    }
    let needs_check = raw.contains('%') || raw.contains("/.") || raw.contains("//");
    if !needs_check {
        return Ok(Cow::Borrowed(raw));
    }
    if raw.contains('%') {
        let lower = raw.to_ascii_lowercase();
        if lower.contains("%2f") || lower.contains("%5c") || lower.contains("%00") {
            return Err("Encoded slashes, backslashes and NUL are not allowed in the path");
        }
    }
    let mut out = String::with_capacity(raw.len());
    for segment in raw.split('/').skip(1) {
        let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
        if decoded == ".." || decoded == "." {
            return Err("Relative path segments (. and ..) are not allowed");
        }
        if segment.is_empty() {
            continue;
        }
        out.push('/');
        out.push_str(segment);
    }
    if raw.ends_with('/') || out.is_empty() {
        out.push('/');
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_tricks_are_refused_or_collapsed() {
        assert_eq!(normalise_path("/customers/1").unwrap(), "/customers/1");
        assert_eq!(normalise_path("//customers//1/").unwrap(), "/customers/1/");
        assert!(normalise_path("/customers/../admin").is_err());
        assert!(normalise_path("/customers/%2e%2E/admin").is_err());
        assert!(normalise_path("/customers%2F1").is_err());
        assert!(normalise_path("/a/./b").is_err());
        assert_eq!(normalise_path("/a/.well-known").unwrap(), "/a/.well-known");
    }
}
