//! HTTP Basic authentication as Spring Security's default does it, for the services that offer
//! optional credentials (discovery and config: `spring.security.user.name` / `password`).
//! Re-exported by [`crate::security`]; its API is unchanged since it lived there alone.

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;

use crate::settings::{FromSection, Section, SettingsError};

/// `spring.security.user.*`: the one user of a service protected by Basic authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSettings {
    /// `spring.security.user.name` (Spring's default `user`), when set.
    pub name: Option<String>,
    /// `spring.security.user.password`, when set and not empty.
    pub password: Option<String>,
}

impl FromSection for UserSettings {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        Ok(Self {
            name: section.get("name").filter(|n| !n.is_empty()),
            password: section.get("password").filter(|p| !p.is_empty()),
        })
    }
}

impl UserSettings {
    /// The `(user, password)` pair to require, when a password is set (the name defaults to
    /// `user`, as Spring's). A name without a password is refused: Spring would generate a
    /// random password and log it, which no one can use in a fleet's settings.
    pub fn credentials(&self) -> Result<Option<(String, String)>, SettingsError> {
        match (&self.name, &self.password) {
            (name, Some(password)) => Ok(Some((
                name.clone().unwrap_or_else(|| "user".to_owned()),
                password.clone(),
            ))),
            (Some(name), None) => Err(SettingsError::Invalid {
                key: "spring.security.user.password".into(),
                value: String::new(),
                expected: format!("a password for spring.security.user.name={name}"),
            }),
            (None, None) => Ok(None),
        }
    }
}

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
    use crate::Settings;

    #[test]
    fn the_user_defaults_to_user_and_a_name_needs_a_password() {
        let bind = |pairs: &[(&str, &str)]| {
            Settings::from_pairs(pairs)
                .bind::<UserSettings>("spring.security.user")
                .unwrap()
                .credentials()
        };
        assert_eq!(bind(&[]).unwrap(), None);
        assert_eq!(
            bind(&[("spring.security.user.password", "pw")]).unwrap(),
            Some(("user".into(), "pw".into()))
        );
        assert_eq!(
            bind(&[
                ("spring.security.user.name", "admin"),
                ("spring.security.user.password", "pw")
            ])
            .unwrap(),
            Some(("admin".into(), "pw".into()))
        );
        let error = bind(&[("spring.security.user.name", "admin")]).unwrap_err();
        assert!(
            error.to_string().contains("spring.security.user.password"),
            "{error}"
        );
    }

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
