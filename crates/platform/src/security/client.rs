//! The OAuth2 client-credentials grant, for work a service does without a caller (billing's
//! seed bill, background recovery): Spring Security's client registration keys,
//! `spring.security.oauth2.client.registration.<id>.{client-id, client-secret,
//! authorization-grant-type, scope, client-authentication-method}` and
//! `spring.security.oauth2.client.provider.<id>.{token-uri, issuer-uri}` (the provider of the
//! same id, or the one `registration.<id>.provider` names). The token is cached until a minute
//! before it expires (Spring's `clockSkew`), then fetched again.
//!
//! Which registration: `spring.cloud.openfeign.oauth2.clientRegistrationId` (Spring Cloud
//! OpenFeign's key) when set, else the only `client_credentials` registration there is.

use std::{sync::Arc, time::Duration};

use base64::Engine as _;
use serde_json::Value;
use tokio::time::Instant;

use crate::{
    settings::{FromSection, Section, Settings, SettingsError},
    tls::ClientTlsSettings,
};

/// One `client_credentials` registration with its provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRegistration {
    /// The registration id (`<id>` in the keys).
    pub id: String,
    /// `client-id`.
    pub client_id: String,
    /// `client-secret`.
    pub client_secret: String,
    /// `scope`, comma-separated.
    pub scopes: Vec<String>,
    /// `client-authentication-method`: `client_secret_basic` (Spring's default) or
    /// `client_secret_post`.
    pub post_credentials: bool,
    /// `provider.<id>.token-uri`, when set.
    pub token_uri: Option<String>,
    /// `provider.<id>.issuer-uri`: the token endpoint comes from its discovery document.
    pub issuer_uri: Option<String>,
}

impl std::fmt::Display for ClientRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "client registration {}", self.id)
    }
}

const REGISTRATIONS: &str = "spring.security.oauth2.client.registration";

impl ClientRegistration {
    /// The registration the service's calls use, if any (see the module docs).
    pub fn from_settings(settings: &Settings) -> Result<Option<Self>, SettingsError> {
        let chosen = settings
            .get("spring.cloud.openfeign.oauth2.client-registration-id")
            .filter(|id| !id.is_empty());
        let mut ids: Vec<String> = settings
            .with_prefix(REGISTRATIONS)
            .keys()
            .filter_map(|key| key.split('.').next().map(str::to_owned))
            .collect();
        ids.dedup();
        let id = match chosen {
            Some(id) => id,
            None => {
                let mut grants = Vec::new();
                for id in ids {
                    let grant = settings
                        .get(&format!("{REGISTRATIONS}.{id}.authorization-grant-type"))
                        .unwrap_or_default();
                    if grant == "client_credentials" && !grants.contains(&id) {
                        grants.push(id);
                    }
                }
                match grants.as_slice() {
                    [] => return Ok(None),
                    [one] => one.clone(),
                    _ => {
                        return Err(SettingsError::Invalid {
                            key: "spring.cloud.openfeign.oauth2.client-registration-id".into(),
                            value: String::new(),
                            expected: format!(
                                "one of the client_credentials registrations {}",
                                grants.join(", ")
                            ),
                        });
                    }
                }
            }
        };
        settings
            .bind::<Self>(&format!("{REGISTRATIONS}.{id}"))
            .map(Some)
    }
}

impl FromSection for ClientRegistration {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        let id = section
            .key("client-id")
            .trim_start_matches(REGISTRATIONS)
            .trim_start_matches('.')
            .trim_end_matches(".client-id")
            .to_owned();
        let required = |field: &str| {
            section
                .get(field)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| SettingsError::Invalid {
                    key: section.key(field),
                    value: String::new(),
                    expected: "a value (the registration is used for client credentials)".into(),
                })
        };
        let grant = section.get_or("authorization-grant-type", "client_credentials");
        if grant != "client_credentials" {
            return Err(SettingsError::Invalid {
                key: section.key("authorization-grant-type"),
                value: grant,
                expected: "client_credentials (the grant for calls without a caller)".into(),
            });
        }
        let method = section.get_or("client-authentication-method", "client_secret_basic");
        let post_credentials = match method.as_str() {
            "client_secret_basic" => false,
            "client_secret_post" => true,
            _ => {
                return Err(SettingsError::Invalid {
                    key: section.key("client-authentication-method"),
                    value: method,
                    expected: "client_secret_basic or client_secret_post".into(),
                });
            }
        };
        let provider_id = section.get("provider").unwrap_or_else(|| id.clone());
        let provider = section.settings().section(&format!(
            "spring.security.oauth2.client.provider.{provider_id}"
        ));
        let token_uri = provider.get("token-uri").filter(|v| !v.is_empty());
        let issuer_uri = provider.get("issuer-uri").filter(|v| !v.is_empty());
        if token_uri.is_none() && issuer_uri.is_none() {
            return Err(SettingsError::Invalid {
                key: provider.key("token-uri"),
                value: String::new(),
                expected: format!("the token endpoint (or issuer-uri) of provider {provider_id}"),
            });
        }
        Ok(Self {
            client_id: required("client-id")?,
            client_secret: required("client-secret")?,
            scopes: section.list("scope"),
            post_credentials,
            token_uri,
            issuer_uri,
            id,
        })
    }
}

/// Tokens for one registration, cached until near their expiry; cheap to clone.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registration: ClientRegistration,
    http: reqwest::Client,
    cached: tokio::sync::Mutex<Cached>,
}

#[derive(Debug, Default)]
struct Cached {
    token: Option<(Arc<str>, Instant)>,
    token_uri: Option<String>,
}

/// A token is renewed this long before it expires (Spring's default clock skew).
const RENEW_BEFORE: Duration = Duration::from_secs(60);

impl ClientCredentials {
    /// The client for the registration `settings` choose, if any.
    pub fn from_settings(settings: &Settings) -> Result<Option<Self>, SettingsError> {
        let Some(registration) = ClientRegistration::from_settings(settings)? else {
            return Ok(None);
        };
        let http = ClientTlsSettings::platform(settings)?
            .reqwest_builder()?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| SettingsError::Invalid {
                key: "factura.ssl.client".into(),
                value: String::new(),
                expected: format!("a usable HTTP client ({e})"),
            })?;
        Ok(Some(Self {
            inner: Arc::new(Inner {
                registration,
                http,
                cached: tokio::sync::Mutex::new(Cached::default()),
            }),
        }))
    }

    /// The registration.
    pub fn registration(&self) -> &ClientRegistration {
        &self.inner.registration
    }

    /// A valid access token: the cached one, or a new one from the token endpoint.
    pub async fn token(&self) -> Result<Arc<str>, String> {
        let mut cached = self.inner.cached.lock().await;
        if let Some((token, renew_at)) = &cached.token
            && Instant::now() < *renew_at
        {
            return Ok(token.clone());
        }
        let token_uri = match &cached.token_uri {
            Some(uri) => uri.clone(),
            None => {
                let uri = self.token_uri().await?;
                cached.token_uri = Some(uri.clone());
                uri
            }
        };
        let (token, lifetime) = self.request(&token_uri).await?;
        // Renew a minute early, or half-way through a token that lives less than two.
        let early = RENEW_BEFORE.min(lifetime / 2);
        cached.token = Some((token.clone(), Instant::now() + lifetime - early));
        Ok(token)
    }

    async fn token_uri(&self) -> Result<String, String> {
        let registration = &self.inner.registration;
        if let Some(uri) = &registration.token_uri {
            return Ok(uri.clone());
        }
        let issuer = registration.issuer_uri.as_deref().unwrap_or_default();
        let uri = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let document: Value = self
            .inner
            .http
            .get(&uri)
            .send()
            .await
            .map_err(|e| format!("{uri}: {e}"))?
            .json()
            .await
            .map_err(|e| format!("{uri}: {e}"))?;
        document
            .get("token_endpoint")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("{uri} names no token_endpoint"))
    }

    async fn request(&self, token_uri: &str) -> Result<(Arc<str>, Duration), String> {
        let registration = &self.inner.registration;
        // Written out before any await: the serializer is not `Send`.
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials");
            if !registration.scopes.is_empty() {
                form.append_pair("scope", &registration.scopes.join(" "));
            }
            if registration.post_credentials {
                form.append_pair("client_id", &registration.client_id);
                form.append_pair("client_secret", &registration.client_secret);
            }
            form.finish()
        };
        let mut request = self
            .inner
            .http
            .post(token_uri)
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            );
        if !registration.post_credentials {
            let encode =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = format!(
                "{}:{}",
                encode(&registration.client_id),
                encode(&registration.client_secret)
            );
            let basic = base64::engine::general_purpose::STANDARD.encode(pair);
            request = request.header(reqwest::header::AUTHORIZATION, format!("Basic {basic}"));
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| format!("{registration}: token endpoint: {e}"))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| format!("{registration}: token endpoint answered no JSON: {e}"))?;
        if !status.is_success() {
            let error = body.get("error").and_then(Value::as_str).unwrap_or("?");
            return Err(format!(
                "{registration}: token endpoint refused (HTTP {}, error {error})",
                status.as_u16()
            ));
        }
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{registration}: no access_token in the answer"))?;
        let lifetime = body.get("expires_in").and_then(Value::as_u64).unwrap_or(60);
        Ok((Arc::from(token), Duration::from_secs(lifetime.max(1))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_one_client_credentials_registration_is_chosen() {
        let settings = Settings::from_pairs(&[
            (
                "spring.security.oauth2.client.registration.keycloak.client-id",
                "billing-service",
            ),
            (
                "spring.security.oauth2.client.registration.keycloak.client-secret",
                "s3cret",
            ),
            (
                "spring.security.oauth2.client.registration.keycloak.authorization-grant-type",
                "client_credentials",
            ),
            (
                "spring.security.oauth2.client.registration.keycloak.scope",
                "openid, profile",
            ),
            (
                "spring.security.oauth2.client.provider.keycloak.issuer-uri",
                "http://127.0.0.1:1/realms/factura",
            ),
        ]);
        let registration = ClientRegistration::from_settings(&settings)
            .unwrap()
            .unwrap();
        assert_eq!(registration.id, "keycloak");
        assert_eq!(registration.client_id, "billing-service");
        assert_eq!(registration.scopes, ["openid", "profile"]);
        assert!(!registration.post_credentials);
        assert_eq!(
            registration.issuer_uri.as_deref(),
            Some("http://127.0.0.1:1/realms/factura")
        );
        assert_eq!(
            ClientRegistration::from_settings(&Settings::from_pairs(&[])).unwrap(),
            None
        );
        let without_provider = Settings::from_pairs(&[
            (
                "spring.security.oauth2.client.registration.x.client-id",
                "a",
            ),
            (
                "spring.security.oauth2.client.registration.x.client-secret",
                "b",
            ),
            (
                "spring.security.oauth2.client.registration.x.authorization-grant-type",
                "client_credentials",
            ),
        ]);
        let error = ClientRegistration::from_settings(&without_provider)
            .unwrap_err()
            .to_string();
        assert!(error.contains("provider.x.token-uri"), "{error}");
    }
}
