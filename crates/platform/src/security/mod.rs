//! Spring Security's roles in factura, with its settings and meaning.
//!
//! * [`basic`] (re-exported here): HTTP Basic with `spring.security.user.*` (discovery, config).
//! * [`jwt`]: the OAuth2 resource server's token check — signatures against the keys an OIDC
//!   provider publishes (discovered from `issuer-uri` or given as `jwk-set-uri`, cached, fetched
//!   again for an unknown `kid`), the claims Spring checks, and authorities from the claims.
//! * [`rules`]: which requests need which authorities (`factura.security.rules`, first match
//!   wins, the built-in defaults after them).
//! * [`client`]: the OAuth2 client-credentials grant, for calls made without a caller.
//!
//! This module ties them together: [`ResourceServer`], the one layer every service gets from
//! [`crate::app`] when `spring.security.oauth2.resourceserver.jwt.*` is configured (none at all
//! otherwise: no per-request cost), the [`Caller`] it leaves in each request's extensions (for
//! the actuator: "holds authority X?"), the caller's token for the hops that follow
//! ([`caller_token`]), and the RFC 6750 answers ([`unauthorized`], [`forbidden`]) in the one
//! error shape of [`crate::error`].

mod basic;
pub mod client;
pub mod jwt;
pub mod rules;

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::Response,
};

pub use basic::{CHALLENGE, UserSettings, basic_credentials_match};

use crate::settings::{Settings, SettingsError};

/// Someone a valid token speaks for: the principal's name and its authorities.
#[derive(Clone)]
pub struct Principal {
    name: String,
    authorities: Vec<String>,
    token: Arc<str>,
}

impl std::fmt::Debug for Principal {
    // The token stays out of every log line and debug print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Principal")
            .field("authorities", &self.authorities.len())
            .finish_non_exhaustive()
    }
}

impl Principal {
    /// The principal's name: the claim `principal-claim-name` names (`sub` by default).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its authorities (`ROLE_ADMIN`, `SCOPE_profile`, …).
    pub fn authorities(&self) -> &[String] {
        &self.authorities
    }

    /// Whether it holds `authority`.
    pub fn has_authority(&self, authority: &str) -> bool {
        self.authorities.iter().any(|a| a == authority)
    }
}

/// What the resource-server layer found out about the caller of one request; in every
/// request's extensions of a service that is a resource server, read with [`Caller::of`].
#[derive(Debug, Clone)]
pub enum Caller {
    /// The service is not a resource server: no rule applies.
    Unprotected,
    /// No bearer token was sent.
    Anonymous,
    /// A valid token was sent.
    Authenticated(Arc<Principal>),
}

impl Caller {
    /// The caller of the request these extensions belong to.
    pub fn of(extensions: &http::Extensions) -> Caller {
        extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or(Caller::Unprotected)
    }

    /// Whether security is on for this request (the service is a resource server).
    pub fn is_protected(&self) -> bool {
        !matches!(self, Caller::Unprotected)
    }

    /// The principal, when a valid token was sent.
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Caller::Authenticated(principal) => Some(principal),
            _ => None,
        }
    }

    /// Whether the caller may do what needs one of `authorities`: always when security is off,
    /// else when the token grants one of them (an empty list: any valid token).
    pub fn permits(&self, authorities: &[&str]) -> bool {
        match self {
            Caller::Unprotected => true,
            Caller::Anonymous => false,
            Caller::Authenticated(principal) => {
                authorities.is_empty() || authorities.iter().any(|a| principal.has_authority(a))
            }
        }
    }

    /// The answer for a caller [`Caller::permits`] refused: 401 for an anonymous caller (it
    /// should authenticate), 403 `insufficient_scope` for an authenticated one.
    pub fn refusal(&self, path: &str) -> Response {
        match self {
            Caller::Authenticated(_) => forbidden(path),
            _ => unauthorized(path, None),
        }
    }
}

tokio::task_local! {
    static CALLER_TOKEN: Arc<str>;
}

/// The bearer token of the request this task serves, when it sent a valid one: the token
/// [`crate::service_client`] relays to the services it calls.
pub fn caller_token() -> Option<Arc<str>> {
    CALLER_TOKEN.try_with(Clone::clone).ok()
}

/// Runs `work` as if a request with `token` were being served (its calls relay `token`).
pub async fn with_caller_token<F: Future>(token: Arc<str>, work: F) -> F::Output {
    CALLER_TOKEN.scope(token, work).await
}

/// `spring.security.oauth2.resourceserver.jwt.*` and `factura.security.*` put together: the
/// token decoder and the rules, shared by every request of a service.
#[derive(Debug, Clone)]
pub struct ResourceServer {
    decoder: Arc<jwt::JwtDecoder>,
    rules: Arc<rules::Rules>,
}

impl ResourceServer {
    /// The resource server these settings configure, or `None` when neither `issuer-uri` nor
    /// `jwk-set-uri` is set. A bad value is a [`SettingsError`] naming it.
    pub fn from_settings(settings: &Settings) -> Result<Option<Self>, SettingsError> {
        let jwt: jwt::JwtSettings = settings.bind(jwt::JwtSettings::PREFIX)?;
        if !jwt.is_configured() {
            return Ok(None);
        }
        let rules: rules::Rules = settings.bind(rules::Rules::PREFIX)?;
        let decoder = jwt::JwtDecoder::new(jwt, settings)?;
        Ok(Some(Self {
            decoder: Arc::new(decoder),
            rules: Arc::new(rules),
        }))
    }

    /// The decoder (tests, and the gateway's own checks).
    pub fn decoder(&self) -> &jwt::JwtDecoder {
        &self.decoder
    }

    /// Authenticates the request's bearer token, if any, and applies the rules: the request
    /// carries its [`Caller`] on success, or the RFC 6750 answer comes back.
    pub async fn check(&self, request: &mut Request) -> Result<Caller, Response> {
        let path = request.uri().path();
        let caller = match bearer_token(request.headers()) {
            BearerToken::None => Caller::Anonymous,
            BearerToken::Malformed => {
                return Err(unauthorized(path, Some("Bearer token is malformed")));
            }
            BearerToken::Token(token) => match self.decoder.decode(token).await {
                Ok(principal) => Caller::Authenticated(Arc::new(principal)),
                Err(error) => {
                    tracing::debug!(reason = %error, "bearer token refused");
                    return Err(unauthorized(path, Some(&error.to_string())));
                }
            },
        };
        let allowed = match self.rules.decide(request.method(), path) {
            rules::Access::PermitAll => true,
            rules::Access::Authenticated => caller.principal().is_some(),
            rules::Access::AnyAuthority(authorities) => caller
                .principal()
                .is_some_and(|p| authorities.iter().any(|a| p.has_authority(a))),
            rules::Access::DenyAll => false,
        };
        if !allowed {
            return Err(caller.refusal(path));
        }
        request.extensions_mut().insert(caller.clone());
        Ok(caller)
    }
}

/// The middleware [`crate::app`] puts around a resource server's routes (and the gateway's
/// proxy): the check, then the request with its caller's token in scope for outgoing calls.
pub async fn layer(
    State(server): State<ResourceServer>,
    mut request: Request,
    next: Next,
) -> Response {
    match server.check(&mut request).await {
        Err(answer) => answer,
        Ok(Caller::Authenticated(principal)) => {
            CALLER_TOKEN
                .scope(principal.token.clone(), next.run(request))
                .await
        }
        Ok(_) => next.run(request).await,
    }
}

enum BearerToken<'a> {
    None,
    Malformed,
    Token(&'a str),
}

/// RFC 6750 §2.1: `Authorization: Bearer <b64token>`; another scheme (Basic) is not a bearer
/// token (the request is anonymous to the resource server, as in Spring).
fn bearer_token(headers: &HeaderMap) -> BearerToken<'_> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return BearerToken::None;
    };
    let Ok(value) = value.to_str() else {
        return BearerToken::Malformed;
    };
    let Some((scheme, token)) = value.split_once(' ') else {
        return if value.eq_ignore_ascii_case("bearer") {
            BearerToken::Malformed
        } else {
            BearerToken::None
        };
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return BearerToken::None;
    }
    let token = token.trim();
    let b64token = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
    if token.is_empty() || !token.chars().all(b64token) {
        return BearerToken::Malformed;
    }
    BearerToken::Token(token)
}

/// RFC 6750 §3.1's `error_uri`, as Spring Security sends it.
const ERROR_URI: &str = "https://tools.ietf.org/html/rfc6750#section-3.1";

/// 401 with `WWW-Authenticate: Bearer`, and `error="invalid_token"` with `description` when a
/// token was sent and refused; the body in Spring Boot's error shape.
pub fn unauthorized(path: &str, invalid_token: Option<&str>) -> Response {
    let (challenge, message) = match invalid_token {
        None => (
            "Bearer".to_owned(),
            "Full authentication is required to access this resource",
        ),
        Some(description) => (
            format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\", error_uri=\"{ERROR_URI}\"",
                quoted(description)
            ),
            description,
        ),
    };
    let mut response = crate::error::error_response(StatusCode::UNAUTHORIZED, message, path);
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// 403 with `WWW-Authenticate: Bearer error="insufficient_scope"`, Spring's words.
pub fn forbidden(path: &str) -> Response {
    const DESCRIPTION: &str =
        "The request requires higher privileges than provided by the access token.";
    let mut response = crate::error::error_response(StatusCode::FORBIDDEN, DESCRIPTION, path);
    let challenge = format!(
        "Bearer error=\"insufficient_scope\", error_description=\"{DESCRIPTION}\", error_uri=\"{ERROR_URI}\""
    );
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// A description fit for a quoted-string: printable ASCII without quotes or backslashes.
fn quoted(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '?',
        })
        .collect()
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
    fn only_a_well_formed_bearer_header_is_a_token() {
        assert!(matches!(
            bearer_token(&with("Bearer abc.def.ghi")),
            BearerToken::Token("abc.def.ghi")
        ));
        assert!(matches!(
            bearer_token(&with("bearer abc")),
            BearerToken::Token("abc")
        ));
        assert!(matches!(
            bearer_token(&with("Basic dXNlcjpwdw==")),
            BearerToken::None
        ));
        assert!(matches!(
            bearer_token(&with("Bearer a\"b")),
            BearerToken::Malformed
        ));
        assert!(matches!(
            bearer_token(&with("Bearer")),
            BearerToken::Malformed
        ));
        assert!(matches!(bearer_token(&HeaderMap::new()), BearerToken::None));
    }

    #[test]
    fn challenges_follow_rfc_6750() {
        let response = unauthorized("/x", None);
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let response = unauthorized("/x", Some("Jwt \"expired\""));
        let challenge = response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap();
        assert!(
            challenge
                .starts_with("Bearer error=\"invalid_token\", error_description=\"Jwt 'expired'\""),
            "{challenge}"
        );
        let response = forbidden("/x");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let challenge = response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap();
        assert!(challenge.starts_with("Bearer error=\"insufficient_scope\""));
    }
}
