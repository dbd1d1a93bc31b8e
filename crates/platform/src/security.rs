//! HTTP Basic authentication as Spring Security's default does it, for the services that offer
//! optional credentials (discovery and config: `spring.security.user.name` / `password`).

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;

/// The `WWW-Authenticate` challenge sent with a 401.
pub const CHALLENGE: HeaderValue = HeaderValue::from_static("Basic realm=\"Realm\"");

/// Whether `headers` carry `Authorization: Basic` credentials equal to `user:password`.
pub fn basic_credentials_match(headers: &HeaderMap, user: &str, password: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        });
    given.as_deref() == Some(format!("{user}:{password}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn only_the_exact_pair_matches() {
        // "user:secret"
        assert!(basic_credentials_match(
            &with("Basic dXNlcjpzZWNyZXQ="),
            "user",
            "secret"
        ));
        assert!(!basic_credentials_match(
            &with("Basic dXNlcjpzZWNyZXQ="),
            "user",
            "other"
        ));
        assert!(!basic_credentials_match(
            &with("Bearer dXNlcjpzZWNyZXQ="),
            "user",
            "secret"
        ));
        assert!(!basic_credentials_match(
            &with("Basic !!!"),
            "user",
            "secret"
        ));
        assert!(!basic_credentials_match(
            &HeaderMap::new(),
            "user",
            "secret"
        ));
    }
}
