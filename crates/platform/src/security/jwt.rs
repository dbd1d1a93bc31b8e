//! The resource server's token check, as Spring Security's `NimbusJwtDecoder` and
//! `JwtAuthenticationConverter` do it, configured with Spring Boot's keys
//! (`spring.security.oauth2.resourceserver.jwt.*`).
//!
//! * Keys: from `jwk-set-uri`, else from the `jwks_uri` of the provider's OIDC discovery
//!   document (`{issuer-uri}/.well-known/openid-configuration`, whose `issuer` must be the
//!   configured one). Fetched when first needed (a provider that starts after the service is
//!   fine, as with Spring's lazy decoder), kept, and fetched again when a token names a `kid`
//!   the set lacks (key rotation) — at most once per `factura.security.jwks-refetch-floor`
//!   (30 s) — or when the set is older than `factura.security.jwks-cache-ttl` (5 min). A key
//!   server that is down refuses unknown keys (401); keys already known keep working.
//! * Signatures: the algorithms of `jws-algorithms` (Spring's default `RS256`), asymmetric only
//!   (RS*, PS*, ES*): `alg: none` and HMAC (`HS256` signed with the public key) never pass.
//!   Symmetric (`oct`) and encryption (`use: enc`) keys of a set are ignored.
//! * Claims: `exp` and `nbf` with Spring's 60 s clock skew, `iss` when `issuer-uri` is set,
//!   `aud` when `audiences` are (one of them must be in the token's).
//! * Authorities ([`Authorities`]): `scope`/`scp` as `SCOPE_…` (or the claim and prefix
//!   configured), and Keycloak's roles — `realm_access.roles` and
//!   `resource_access.<client>.roles` — as `ROLE_…`.

use std::{sync::Arc, time::Duration};

use jsonwebtoken::{
    Algorithm, AlgorithmFamily, DecodingKey, Validation,
    errors::ErrorKind,
    jwk::{Jwk, PublicKeyUse},
};
use serde_json::Value;
use tokio::time::Instant;

use super::Principal;
use crate::{
    settings::{DurationUnit, FromSection, Section, Settings, SettingsError},
    tls::ClientTlsSettings,
};

/// `spring.security.oauth2.resourceserver.jwt.*`, Spring Boot's keys and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtSettings {
    /// `issuer-uri`: the provider; its discovery document gives the keys unless `jwk-set-uri`
    /// does, and the tokens' `iss` must equal it.
    pub issuer_uri: Option<String>,
    /// `jwk-set-uri`: where the signing keys are.
    pub jwk_set_uri: Option<String>,
    /// `jws-algorithms` (default `RS256`).
    pub jws_algorithms: Vec<Algorithm>,
    /// `audiences`: when set, a token's `aud` must name one of them.
    pub audiences: Vec<String>,
    /// `authorities-claim-name`: the claim authorities come from (default `scope`, else `scp`).
    pub authorities_claim_name: Option<String>,
    /// `authority-prefix` (default `SCOPE_`).
    pub authority_prefix: String,
    /// `authorities-claim-delimiter` (default a space): splits a claim given as one string.
    pub authorities_claim_delimiter: String,
    /// `principal-claim-name` (default `sub`): the claim that names the principal.
    pub principal_claim_name: String,
    /// `factura.security.jwks-refetch-floor` (30 s): the least time between two fetches of
    /// the key set for unknown `kid`s.
    pub refetch_floor: Duration,
    /// `factura.security.jwks-cache-ttl` (5 min): how long a fetched key set is used before
    /// it is fetched again.
    pub cache_ttl: Duration,
}

impl JwtSettings {
    /// Where the section is.
    pub const PREFIX: &'static str = "spring.security.oauth2.resourceserver.jwt";

    /// Whether a resource server is configured at all.
    pub fn is_configured(&self) -> bool {
        self.issuer_uri.is_some() || self.jwk_set_uri.is_some()
    }
}

/// The algorithms a resource server can verify, by their JWS names.
const ASYMMETRIC: &[(&str, Algorithm)] = &[
    ("RS256", Algorithm::RS256),
    ("RS384", Algorithm::RS384),
    ("RS512", Algorithm::RS512),
    ("PS256", Algorithm::PS256),
    ("PS384", Algorithm::PS384),
    ("PS512", Algorithm::PS512),
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
];

fn http_uri(section: &Section<'_>, field: &str) -> Result<Option<String>, SettingsError> {
    let Some(value) = section.get(field).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    match url::Url::parse(value.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(Some(value.trim().to_owned())),
        _ => Err(SettingsError::Invalid {
            key: section.key(field),
            value,
            expected: "an http or https URL".into(),
        }),
    }
}

impl FromSection for JwtSettings {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        let mut jws_algorithms = Vec::new();
        for name in section.list("jws-algorithms") {
            match ASYMMETRIC
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(&name))
            {
                Some((_, algorithm)) => jws_algorithms.push(*algorithm),
                None => {
                    return Err(SettingsError::Invalid {
                        key: section.key("jws-algorithms"),
                        value: name,
                        expected: "asymmetric JWS algorithms (RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384)".into(),
                    });
                }
            }
        }
        if jws_algorithms.is_empty() {
            jws_algorithms.push(Algorithm::RS256);
        }
        let ours = section.settings().section("factura.security");
        Ok(Self {
            issuer_uri: http_uri(section, "issuer-uri")?,
            jwk_set_uri: http_uri(section, "jwk-set-uri")?,
            jws_algorithms,
            audiences: section.list("audiences"),
            authorities_claim_name: section
                .get("authorities-claim-name")
                .filter(|n| !n.is_empty()),
            authority_prefix: section.get_or("authority-prefix", "SCOPE_"),
            authorities_claim_delimiter: section
                .get("authorities-claim-delimiter")
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| " ".to_owned()),
            principal_claim_name: section
                .get("principal-claim-name")
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "sub".to_owned()),
            refetch_floor: ours.duration_or(
                "jwks-refetch-floor",
                DurationUnit::Millis,
                Duration::from_secs(30),
            )?,
            cache_ttl: ours.duration_or(
                "jwks-cache-ttl",
                DurationUnit::Millis,
                Duration::from_secs(300),
            )?,
        })
    }
}

/// Why a token was refused; the text is the `error_description` the caller gets (never a
/// claim value, a key or the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWS at all, or its parts do not decode.
    #[error("An error occurred while attempting to decode the Jwt: Malformed token")]
    Malformed,
    /// `alg: none`.
    #[error("An error occurred while attempting to decode the Jwt: Unsigned JWTs are not accepted")]
    Unsigned,
    /// An algorithm not configured, or no key for it and its `kid`.
    #[error(
        "An error occurred while attempting to decode the Jwt: Signed JWT rejected: Another algorithm expected, or no matching key(s) found"
    )]
    NoMatchingKey,
    /// The signature does not verify.
    #[error(
        "An error occurred while attempting to decode the Jwt: Signed JWT rejected: Invalid signature"
    )]
    InvalidSignature,
    /// `exp` has passed (beyond the clock skew).
    #[error("An error occurred while attempting to decode the Jwt: Jwt expired")]
    Expired,
    /// `nbf` is still ahead (beyond the clock skew).
    #[error("An error occurred while attempting to decode the Jwt: Jwt used before its nbf")]
    NotYetValid,
    /// `iss` is missing or not the configured issuer.
    #[error("The iss claim is not valid")]
    Issuer,
    /// `aud` names none of the configured audiences.
    #[error("The aud claim is not valid")]
    Audience,
    /// A claim has the wrong type.
    #[error("An error occurred while attempting to decode the Jwt: Malformed claim {0}")]
    Claim(String),
}

/// Decodes and checks tokens; one per service, shared by every request.
#[derive(Debug)]
pub struct JwtDecoder {
    /// One per configured algorithm: the library checks that a key's family fits every
    /// algorithm of a `Validation`, so RSA and EC algorithms cannot share one.
    validations: Vec<(Algorithm, Validation)>,
    authorities: Authorities,
    principal_claim: String,
    keys: KeySource,
}

impl JwtDecoder {
    /// A decoder for these settings (the HTTP client trusts what `factura.ssl.client.*` says).
    pub fn new(jwt: JwtSettings, settings: &Settings) -> Result<Self, SettingsError> {
        let mut validation = Validation::new(jwt.jws_algorithms[0]);
        validation.algorithms = jwt.jws_algorithms.clone();
        // Spring requires neither exp nor nbf, and checks both when present.
        validation.required_spec_claims.clear();
        validation.validate_nbf = true;
        validation.leeway = 60;
        if let Some(issuer) = &jwt.issuer_uri {
            validation.set_issuer(&[issuer]);
            validation.required_spec_claims.insert("iss".into());
        }
        if jwt.audiences.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&jwt.audiences);
            validation.required_spec_claims.insert("aud".into());
        }
        let http = ClientTlsSettings::platform(settings)?
            .reqwest_builder()?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| SettingsError::Invalid {
                key: "factura.ssl.client".into(),
                value: String::new(),
                expected: format!("a usable HTTP client ({e})"),
            })?;
        let validations = jwt
            .jws_algorithms
            .iter()
            .map(|algorithm| {
                let mut one = validation.clone();
                one.algorithms = vec![*algorithm];
                (*algorithm, one)
            })
            .collect();
        Ok(Self {
            validations,
            authorities: Authorities {
                claim: jwt.authorities_claim_name.clone(),
                prefix: jwt.authority_prefix.clone(),
                delimiter: jwt.authorities_claim_delimiter.clone(),
            },
            principal_claim: jwt.principal_claim_name.clone(),
            keys: KeySource::new(http, &jwt),
        })
    }

    /// The principal `token` speaks for, or why it is refused.
    pub async fn decode(&self, token: &str) -> Result<Principal, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            if is_unsigned(token) {
                TokenError::Unsigned
            } else {
                TokenError::Malformed
            }
        })?;
        let Some((_, validation)) = self.validations.iter().find(|(a, _)| *a == header.alg) else {
            return Err(TokenError::NoMatchingKey);
        };
        let candidates = self
            .keys
            .candidates(header.kid.as_deref(), header.alg)
            .await;
        if candidates.is_empty() {
            return Err(TokenError::NoMatchingKey);
        }
        let mut outcome = Err(TokenError::InvalidSignature);
        for key in candidates.iter() {
            outcome = jsonwebtoken::decode::<Value>(token, key, validation)
                .map(|data| data.claims)
                .map_err(|e| token_error(e.kind()));
            if !matches!(outcome, Err(TokenError::InvalidSignature)) {
                break;
            }
        }
        let claims = outcome?;
        let name = match claims.get(&self.principal_claim) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        Ok(Principal {
            name,
            authorities: self.authorities.of(&claims),
            token: Arc::from(token),
        })
    }
}

fn token_error(kind: &ErrorKind) -> TokenError {
    match kind {
        ErrorKind::InvalidSignature => TokenError::InvalidSignature,
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidIssuer => TokenError::Issuer,
        ErrorKind::InvalidAudience => TokenError::Audience,
        ErrorKind::MissingRequiredClaim(claim) if claim == "iss" => TokenError::Issuer,
        ErrorKind::MissingRequiredClaim(claim) if claim == "aud" => TokenError::Audience,
        ErrorKind::MissingRequiredClaim(claim) | ErrorKind::InvalidClaimFormat(claim) => {
            TokenError::Claim(claim.clone())
        }
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => TokenError::NoMatchingKey,
        // A key the provider published that does not fit its algorithm.
        ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidKeyFormat => {
            TokenError::InvalidSignature
        }
        _ => TokenError::Malformed,
    }
}

/// Whether the token's header says `"alg": "none"` (which the decoder has no name for).
fn is_unsigned(token: &str) -> bool {
    use base64::Engine as _;
    let Some(header) = token.split('.').next() else {
        return false;
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .is_some_and(|h| {
            h.get("alg")
                .and_then(Value::as_str)
                .is_some_and(|a| a.eq_ignore_ascii_case("none"))
        })
}

/// How claims become authorities: Spring's `JwtGrantedAuthoritiesConverter` (the configured
/// claim, else `scope` then `scp`, each value with the prefix), plus Keycloak's role claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorities {
    claim: Option<String>,
    prefix: String,
    delimiter: String,
}

impl Authorities {
    /// The authorities `claims` grant, each once.
    pub fn of(&self, claims: &Value) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut add = |authority: String| {
            if !out.contains(&authority) {
                out.push(authority);
            }
        };
        let claim = match &self.claim {
            Some(name) => claims.get(name),
            None => ["scope", "scp"]
                .iter()
                .filter_map(|name| claims.get(*name))
                .find(|v| !v.is_null()),
        };
        for value in claim.map(|v| self.values(v)).unwrap_or_default() {
            add(format!("{}{value}", self.prefix));
        }
        let realm = claims.pointer("/realm_access/roles");
        let clients = claims
            .get("resource_access")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|clients| clients.values())
            .filter_map(|client| client.get("roles"));
        for roles in realm.into_iter().chain(clients) {
            for role in roles.as_array().into_iter().flatten() {
                if let Some(role) = role.as_str().filter(|r| !r.is_empty()) {
                    add(format!("ROLE_{role}"));
                }
            }
        }
        out
    }

    fn values(&self, value: &Value) -> Vec<String> {
        match value {
            Value::String(text) => text
                .split(self.delimiter.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Where the keys come from, and the keys fetched so far.
#[derive(Debug)]
struct KeySource {
    http: reqwest::Client,
    issuer: Option<String>,
    jwk_set_uri: Option<String>,
    refetch_floor: Duration,
    cache_ttl: Duration,
    keys: arc_swap::ArcSwap<KeySet>,
    /// Held while fetching, so concurrent requests with a new `kid` cause one fetch; records
    /// when the last attempt was made and the `jwks_uri` discovery found.
    fetching: tokio::sync::Mutex<FetchState>,
}

#[derive(Debug, Default)]
struct FetchState {
    last_attempt: Option<Instant>,
    discovered_jwks_uri: Option<String>,
}

#[derive(Debug, Default)]
struct KeySet {
    keys: Vec<(Option<String>, Option<Algorithm>, Arc<DecodingKey>)>,
    fetched_at: Option<Instant>,
}

/// Without any key yet, a failed fetch is tried again this soon (a provider still starting).
const RETRY_WITHOUT_KEYS: Duration = Duration::from_secs(1);

impl KeySet {
    fn matching(&self, kid: Option<&str>, algorithm: Algorithm) -> Vec<Arc<DecodingKey>> {
        self.keys
            .iter()
            .filter(|(key_id, key_alg, key)| {
                key.family() == algorithm.family()
                    && key_alg.is_none_or(|a| a == algorithm)
                    && match kid {
                        Some(kid) => key_id.as_deref() == Some(kid),
                        None => true,
                    }
            })
            .map(|(_, _, key)| key.clone())
            .collect()
    }
}

impl KeySource {
    fn new(http: reqwest::Client, jwt: &JwtSettings) -> Self {
        Self {
            http,
            issuer: jwt.issuer_uri.clone(),
            jwk_set_uri: jwt.jwk_set_uri.clone(),
            refetch_floor: jwt.refetch_floor,
            cache_ttl: jwt.cache_ttl,
            keys: arc_swap::ArcSwap::from_pointee(KeySet::default()),
            fetching: tokio::sync::Mutex::new(FetchState::default()),
        }
    }

    fn fresh(&self, set: &KeySet) -> bool {
        set.fetched_at
            .is_some_and(|at| at.elapsed() < self.cache_ttl)
    }

    /// The keys a token with `kid` and `algorithm` may be signed with, fetching the set when
    /// it lacks them (or is stale) and the floor allows.
    async fn candidates(&self, kid: Option<&str>, algorithm: Algorithm) -> Vec<Arc<DecodingKey>> {
        let set = self.keys.load();
        let found = set.matching(kid, algorithm);
        if !found.is_empty() && self.fresh(&set) {
            return found;
        }
        let mut state = if found.is_empty() {
            self.fetching.lock().await
        } else {
            // Stale but usable: one request refreshes the set, the others go on with it.
            match self.fetching.try_lock() {
                Ok(state) => state,
                Err(_) => return found,
            }
        };
        // Another request may have fetched meanwhile.
        let set = self.keys.load();
        let found = set.matching(kid, algorithm);
        if !found.is_empty() && self.fresh(&set) {
            return found;
        }
        let floor = if set.fetched_at.is_none() {
            RETRY_WITHOUT_KEYS
        } else {
            self.refetch_floor
        };
        if state.last_attempt.is_some_and(|at| at.elapsed() < floor) {
            return found;
        }
        state.last_attempt = Some(Instant::now());
        match self.fetch(&mut state).await {
            Ok(keys) => {
                tracing::debug!(keys = keys.len(), "fetched the JWK set");
                self.keys.store(Arc::new(KeySet {
                    keys,
                    fetched_at: Some(Instant::now()),
                }));
            }
            Err(reason) => tracing::warn!(%reason, "cannot fetch the JWK set"),
        }
        self.keys.load().matching(kid, algorithm)
    }

    async fn fetch(
        &self,
        state: &mut FetchState,
    ) -> Result<Vec<(Option<String>, Option<Algorithm>, Arc<DecodingKey>)>, String> {
        let uri = match (&self.jwk_set_uri, &state.discovered_jwks_uri, &self.issuer) {
            (Some(uri), _, _) | (None, Some(uri), _) => uri.clone(),
            (None, None, Some(issuer)) => {
                let uri = self.discover(issuer).await?;
                state.discovered_jwks_uri = Some(uri.clone());
                uri
            }
            (None, None, None) => return Err("no issuer-uri or jwk-set-uri".into()),
        };
        let set: Value = self.get_json(&uri).await?;
        let keys = set
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{uri}: not a JWK set"))?;
        Ok(keys
            .iter()
            .filter_map(|key| serde_json::from_value::<Jwk>(key.clone()).ok())
            .filter(|jwk| !matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)))
            .filter_map(|jwk| {
                let key = DecodingKey::from_jwk(&jwk).ok()?;
                if !matches!(key.family(), AlgorithmFamily::Rsa | AlgorithmFamily::Ec) {
                    return None;
                }
                let algorithm = jwk
                    .common
                    .key_algorithm
                    .and_then(|a| a.to_string().parse::<Algorithm>().ok());
                Some((jwk.common.key_id.clone(), algorithm, Arc::new(key)))
            })
            .collect())
    }

    /// OIDC discovery: the `jwks_uri` of `issuer`, whose document must name `issuer` itself.
    async fn discover(&self, issuer: &str) -> Result<String, String> {
        let uri = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let document: Value = self.get_json(&uri).await?;
        let named = document.get("issuer").and_then(Value::as_str);
        if named != Some(issuer) {
            return Err(format!(
                "the issuer in {uri} is not the configured issuer-uri {issuer}"
            ));
        }
        document
            .get("jwks_uri")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("{uri} names no jwks_uri"))
    }

    async fn get_json(&self, uri: &str) -> Result<Value, String> {
        let response = self
            .http
            .get(uri)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("{uri}: {}", without_url(&e)))?;
        if !response.status().is_success() {
            return Err(format!("{uri}: HTTP {}", response.status().as_u16()));
        }
        response
            .json()
            .await
            .map_err(|e| format!("{uri}: {}", without_url(&e)))
    }
}

fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(&format!(" ({url})"), "");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn authorities(pairs: &[(&str, &str)], claims: Value) -> Vec<String> {
        let jwt: JwtSettings = Settings::from_pairs(pairs)
            .bind(JwtSettings::PREFIX)
            .unwrap();
        Authorities {
            claim: jwt.authorities_claim_name,
            prefix: jwt.authority_prefix,
            delimiter: jwt.authorities_claim_delimiter,
        }
        .of(&claims)
    }

    #[test]
    fn scopes_and_keycloak_roles_become_authorities() {
        let claims = json!({
            "scope": "profile email",
            "realm_access": {"roles": ["ADMIN", "USER"]},
            "resource_access": {"billing": {"roles": ["auditor"]}, "account": {"roles": ["USER"]}},
        });
        assert_eq!(
            authorities(&[], claims.clone()),
            [
                "SCOPE_profile",
                "SCOPE_email",
                "ROLE_ADMIN",
                "ROLE_USER",
                "ROLE_auditor"
            ]
        );
        assert_eq!(
            authorities(&[], json!({"scp": ["read", "write"]})),
            ["SCOPE_read", "SCOPE_write"]
        );
        let configured = [
            (
                "spring.security.oauth2.resourceserver.jwt.authorities-claim-name",
                "groups",
            ),
            (
                "spring.security.oauth2.resourceserver.jwt.authority-prefix",
                "GROUP_",
            ),
        ];
        assert_eq!(
            authorities(&configured, json!({"scope": "a", "groups": ["clerks"]})),
            ["GROUP_clerks"]
        );
    }

    #[test]
    fn settings_have_springs_defaults_and_refuse_what_cannot_verify() {
        let jwt: JwtSettings = Settings::from_pairs(&[]).bind(JwtSettings::PREFIX).unwrap();
        assert!(!jwt.is_configured());
        assert_eq!(jwt.jws_algorithms, [Algorithm::RS256]);
        assert_eq!(jwt.principal_claim_name, "sub");
        assert_eq!(jwt.authority_prefix, "SCOPE_");
        assert_eq!(jwt.refetch_floor, Duration::from_secs(30));
        let bind = |pairs: &[(&str, &str)]| {
            Settings::from_pairs(pairs)
                .bind::<JwtSettings>(JwtSettings::PREFIX)
                .unwrap_err()
                .to_string()
        };
        let error = bind(&[(
            "spring.security.oauth2.resourceserver.jwt.jws-algorithms",
            "RS256,HS256",
        )]);
        assert!(
            error.contains("jws-algorithms") && error.contains("HS256"),
            "{error}"
        );
        let error = bind(&[(
            "spring.security.oauth2.resourceserver.jwt.issuer-uri",
            "keycloak:8080",
        )]);
        assert!(
            error.contains("issuer-uri") && error.contains("http"),
            "{error}"
        );
        let listed: JwtSettings = Settings::from_pairs(&[
            (
                "spring.security.oauth2.resourceserver.jwt.audiences[0]",
                "a",
            ),
            (
                "spring.security.oauth2.resourceserver.jwt.audiences[1]",
                "b",
            ),
            (
                "spring.security.oauth2.resourceserver.jwt.jws-algorithms",
                "ES256, PS256",
            ),
        ])
        .bind(JwtSettings::PREFIX)
        .unwrap();
        assert_eq!(listed.audiences, ["a", "b"]);
        assert_eq!(listed.jws_algorithms, [Algorithm::ES256, Algorithm::PS256]);
    }

    #[test]
    fn unsigned_tokens_are_recognised() {
        // {"alg":"none"} . {} .
        assert!(is_unsigned("eyJhbGciOiJub25lIn0.e30."));
        assert!(!is_unsigned("eyJhbGciOiJSUzI1NiJ9.e30.x"));
    }
}
