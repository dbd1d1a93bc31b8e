//! The Spring Cloud Config *client* role: the config-service's property sources in a running
//! service, at start and while it runs.
//!
//! * **At start** ([`load_remote`], called by [`crate::app::load_settings`]):
//!   `spring.config.import=[optional:]configserver:URL` names the server. One
//!   `GET {url}/{name}/{profiles}[/{label}]` is made with the service's real profiles; the
//!   returned sources are layered just below environment variables and command-line flags, each
//!   as `configserver:<name>`, plus a `configClient` source carrying `config.client.version`.
//!   With `optional:` an unreachable server is logged and tolerated; without it the request is
//!   retried (Spring's defaults: 6 attempts, 1 s growing ×1.1 up to 2 s) and start fails with
//!   a message that says so.
//! * **On demand** ([`Refresher::routes`]): `POST /actuator/refresh` refetches, swaps the new
//!   settings into the service's [`SharedSettings`] (code that reads `settings.current()` per
//!   request sees them at once, the `@RefreshScope` role), and answers the JSON array of
//!   changed keys.
//! * **By itself** ([`Refresher::watch`], the Spring Cloud Bus role): every instance polls its
//!   own Environment every `spring.cloud.config.watch.delay` ms (default 2000, the name Spring
//!   Cloud Consul and Vault use for their config watches) and applies it when it differs from
//!   what is in force. Polling needs no broker, reaches every instance of every service, and an
//!   instance that was down simply loads the current configuration when it starts again.
//!   The config-service notices commits (git) and saved files (native) within a second or two,
//!   so a change is in force everywhere well within 10 s.
//!
//! A server that serves `{cipher}` values as they are (`spring.cloud.config.server.encrypt.enabled=false`,
//! or one without a key) leaves decryption to the client, as Spring's client does it
//! ([`decrypt_remote`]): with the service's own `encrypt.key`/`encrypt.salt`; a value that does
//! not decrypt fails the load (or the refresh) unless `encrypt.fail-on-error=false`, which
//! makes it empty.
//!
//! The wire types ([`Environment`]) are the ones the config-service serves.

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::post};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    actuator::actuator_json,
    cipher::{CIPHER_PREFIX, CipherError, DEFAULT_SALT, TextEncryptor},
    settings::{
        DurationUnit, FromSection, ImportLocation, PropertySource, Section, Settings,
        SettingsError, split_list,
    },
    started::{SharedSettings, Started},
    tls::ClientTlsSettings,
};

/// The Environment JSON of Spring Cloud Config's `/{application}/{profiles}[/{label}]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    /// The application as requested.
    pub name: String,
    /// The requested profiles.
    pub profiles: Vec<String>,
    /// The requested label, `null` when none was.
    pub label: Option<String>,
    /// The backend's version: the git commit, or the native backend's configured version.
    pub version: Option<String>,
    /// Vault state; always `null` here.
    pub state: Option<String>,
    /// The sources, highest precedence first.
    pub property_sources: Vec<EnvironmentPropertySource>,
}

/// One property source of an [`Environment`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentPropertySource {
    /// Where the properties come from (`file:/…/application.yml`, `<repo>/app-dev.yml`).
    pub name: String,
    /// Flat properties, values with their YAML types.
    pub source: IndexMap<String, Value>,
}

/// The text of one Environment value as a property (numbers and booleans as written,
/// `{"value","origin"}` wrappers of the v2 media type unwrapped). An empty list (`[]`, which
/// Spring's server keeps as a value) is `""`, as a local YAML file's `[]` reads.
pub fn property_text(value: &Value) -> String {
    match unwrap_origin(value) {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Array(items) if items.is_empty() => String::new(),
        other => other.to_string(),
    }
}

/// The value inside a v2 `{"value","origin"}` wrapper, or `value` itself.
fn unwrap_origin(value: &Value) -> &Value {
    match value {
        Value::Object(map) if map.len() == 2 && map.contains_key("origin") => {
            map.get("value").map_or(value, unwrap_origin)
        }
        other => other,
    }
}

/// Name of the source holding `config.client.version`.
pub const CONFIG_CLIENT_SOURCE: &str = "configClient";
/// Prefix of the names of sources imported from the config server.
pub const REMOTE_PREFIX: &str = "configserver:";

/// The sources of `environment` as this service layers them, highest precedence first.
pub fn to_property_sources(environment: &Environment) -> Vec<PropertySource> {
    let mut sources: Vec<PropertySource> = environment
        .property_sources
        .iter()
        .map(|source| {
            PropertySource::new(
                format!("{REMOTE_PREFIX}{}", source.name),
                source
                    .source
                    .iter()
                    // An empty map (`a: {}`) sets no property, as in a local YAML file.
                    .filter(|(_, v)| !matches!(unwrap_origin(v), Value::Object(m) if m.is_empty()))
                    .map(|(k, v)| (k.clone(), property_text(v))),
            )
        })
        .collect();
    let mut client = vec![];
    if let Some(version) = &environment.version {
        client.push(("config.client.version".to_owned(), version.clone()));
    }
    if let Some(state) = &environment.state {
        client.push(("config.client.state".to_owned(), state.clone()));
    }
    sources.push(PropertySource::new(CONFIG_CLIENT_SOURCE, client));
    sources
}

/// `remote` (sources a config server supplied for a service with local settings `local`) with
/// every `{cipher}` value decrypted, Spring's client-side decryption. The key is `encrypt.key`
/// (salt `encrypt.salt`) from the local settings or the remote sources. A value that does not
/// decrypt, or a `{cipher}` value with no key set, is an error unless `encrypt.fail-on-error`
/// is `false`; then it becomes empty, as in Spring.
pub fn decrypt_remote(
    local: &Settings,
    remote: Vec<PropertySource>,
) -> anyhow::Result<Vec<PropertySource>> {
    let encrypted = |source: &PropertySource| {
        source
            .properties
            .values()
            .any(|v| v.starts_with(CIPHER_PREFIX))
    };
    if !remote.iter().any(encrypted) {
        return Ok(remote);
    }
    let combined = without_remote(local).with_remote(remote.clone());
    let fail_on_error = combined.flag("encrypt.fail-on-error", true)?;
    let encryptor = match combined.get("encrypt.key").filter(|k| !k.is_empty()) {
        Some(key) => Some(
            TextEncryptor::new(&key, &combined.get_or("encrypt.salt", DEFAULT_SALT))
                .context("encrypt.salt")?,
        ),
        None => None,
    };
    remote
        .into_iter()
        .map(|source| {
            if !encrypted(&source) {
                return Ok(source);
            }
            let mut properties = Vec::with_capacity(source.properties.len());
            for (key, value) in &source.properties {
                if !value.starts_with(CIPHER_PREFIX) {
                    properties.push((key.clone(), value.clone()));
                    continue;
                }
                let outcome = match &encryptor {
                    Some(encryptor) => encryptor
                        .decrypt_property(value)
                        .unwrap_or(Err(CipherError::NotEncryptedWithThisKey))
                        .map_err(|e| e.to_string()),
                    None => Err("no encrypt.key is set".to_owned()),
                };
                let plain = match outcome {
                    Ok(plain) => plain,
                    Err(why) if fail_on_error => anyhow::bail!(
                        "cannot decrypt `{key}` from {}: {why} (set encrypt.key, or encrypt.fail-on-error=false to load it empty)",
                        source.name
                    ),
                    Err(why) => {
                        tracing::warn!(%key, source = %source.name, %why, "cannot decrypt a {{cipher}} value; using an empty value");
                        String::new()
                    }
                };
                properties.push((key.clone(), plain));
            }
            Ok(PropertySource::new(source.name, properties))
        })
        .collect()
}

/// `settings` without the sources a config server supplied.
pub fn without_remote(settings: &Settings) -> Settings {
    Settings::from_sources(
        settings
            .sources()
            .iter()
            .filter(|s| !is_remote(s))
            .cloned()
            .collect(),
    )
}

/// The sources of `settings` that a config server supplied.
pub fn remote_sources(settings: &Settings) -> Vec<PropertySource> {
    settings
        .sources()
        .iter()
        .filter(|s| is_remote(s))
        .cloned()
        .collect()
}

fn is_remote(source: &PropertySource) -> bool {
    source.name.starts_with(REMOTE_PREFIX) || source.name == CONFIG_CLIENT_SOURCE
}

/// Where and how this service reads its remote configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Config server base URLs, tried in order (credentials removed).
    pub uris: Vec<url::Url>,
    /// `optional:`: a missing server is tolerated.
    pub optional: bool,
    /// The application name asked for.
    pub name: String,
    /// The profiles asked for, comma-joined.
    pub profiles: String,
    /// The label, if one is configured.
    pub label: Option<String>,
    /// HTTP basic credentials.
    pub credentials: Option<(String, String)>,
    /// Attempts and delays before giving up when the import is not optional.
    pub retry: RetrySettings,
}

/// `spring.cloud.config.*`: whether and where this service loads its remote configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigClientSettings {
    /// `enabled` (default true).
    pub enabled: bool,
    /// `uri`: the config servers, a comma list (default `http://localhost:8888`), used when the
    /// `configserver:` import names none.
    pub uri: Vec<String>,
    /// `username` and `password`, which win over credentials in the URL.
    pub username: Option<String>,
    /// See `username`.
    pub password: Option<String>,
    /// `name`: the application asked for (default `spring.application.name`).
    pub name: Option<String>,
    /// `profile`: the profiles asked for (default `spring.profiles.active`).
    pub profile: Option<Vec<String>>,
    /// `label`: the branch, tag or commit asked for, if any.
    pub label: Option<String>,
    /// `retry.*`.
    pub retry: RetrySettings,
    /// `watch.*`.
    pub watch: WatchSettings,
}

impl FromSection for ConfigClientSettings {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        let uri = section.list("uri");
        Ok(Self {
            enabled: section.flag("enabled", true)?,
            uri: if uri.is_empty() {
                vec!["http://localhost:8888".to_owned()]
            } else {
                uri
            },
            username: section.get("username"),
            password: section.get("password"),
            name: section.get("name"),
            profile: section.get("profile").map(|p| split_list(&p)),
            label: section.get("label").filter(|l| !l.is_empty()),
            retry: section.child("retry").bind()?,
            watch: section.child("watch").bind()?,
        })
    }
}

/// `spring.cloud.config.retry.*` (Spring Retry's `RetryProperties`: whole milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    /// `max-attempts` (default 6).
    pub max_attempts: u32,
    /// `initial-interval` in milliseconds (default 1000).
    pub initial_interval: Duration,
    /// `max-interval` in milliseconds (default 2000).
    pub max_interval: Duration,
}

impl FromSection for RetrySettings {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        Ok(Self {
            max_attempts: section.parse_or("max-attempts", 6)?,
            initial_interval: Duration::from_millis(section.parse_or("initial-interval", 1000)?),
            max_interval: Duration::from_millis(section.parse_or("max-interval", 2000)?),
        })
    }
}

/// `spring.cloud.config.watch.*`: the poll that applies repository changes by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchSettings {
    /// `enabled` (default true).
    pub enabled: bool,
    /// `delay` between polls (default 2 s; a bare number is milliseconds).
    pub delay: Duration,
}

impl FromSection for WatchSettings {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        Ok(Self {
            enabled: section.flag("enabled", true)?,
            delay: section.duration_or("delay", DurationUnit::Millis, Duration::from_secs(2))?,
        })
    }
}

impl ClientConfig {
    /// Reads the client settings; `None` when no config server is to be used
    /// (`spring.cloud.config.enabled=false`, or no `configserver:` import).
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Option<Self>> {
        let own: ConfigClientSettings = settings.bind("spring.cloud.config")?;
        if !own.enabled {
            return Ok(None);
        }
        let imports = settings
            .config_import()
            .context("reading spring.config.import")?;
        let Some(import) = imports
            .into_iter()
            .find(|i| matches!(i.location, ImportLocation::ConfigServer(_)))
        else {
            return Ok(None);
        };
        let ImportLocation::ConfigServer(url) = import.location else {
            return Ok(None);
        };
        let raw_uris = match url {
            Some(url) => vec![url],
            None => own.uri.clone(),
        };
        let mut uris = Vec::new();
        let mut credentials = None;
        for raw in raw_uris {
            let mut uri = url::Url::parse(&raw)
                .with_context(|| format!("config server URL `{raw}` is not a URL"))?;
            if !uri.username().is_empty() {
                let user = percent_decode(uri.username());
                let pass = percent_decode(uri.password().unwrap_or_default());
                credentials.get_or_insert((user, pass));
                let _ = uri.set_username("");
                let _ = uri.set_password(None);
            }
            uri.set_query(None);
            uris.push(uri);
        }
        if let Some(user) = own.username {
            credentials = Some((user, own.password.unwrap_or_default()));
        }
        let name = own.name.unwrap_or_else(|| settings.application_name());
        let profiles = own.profile.unwrap_or_else(|| settings.active_profiles());
        let profiles = if profiles.is_empty() {
            "default".to_owned()
        } else {
            profiles.join(",")
        };
        Ok(Some(Self {
            uris,
            optional: import.optional,
            name,
            profiles,
            label: own.label,
            credentials,
            retry: own.retry,
        }))
    }

    /// The Environment URL on `base`.
    fn environment_url(&self, base: &url::Url) -> url::Url {
        let mut url = base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments
                .pop_if_empty()
                .push(&self.name)
                .push(&self.profiles);
            if let Some(label) = &self.label {
                // Spring's client escapes `/` in labels itself.
                segments.push(&label.replace('/', "(_)"));
            }
        }
        url
    }

    /// One round over the configured URLs; the first 200 wins.
    pub async fn fetch(&self, http: &reqwest::Client) -> anyhow::Result<Environment> {
        let mut last_error = None;
        for base in &self.uris {
            let url = self.environment_url(base);
            let mut request = http.get(url.clone()).header(
                reqwest::header::ACCEPT,
                "application/vnd.spring-cloud.config-server.v2+json, application/json",
            );
            if let Some((user, pass)) = &self.credentials {
                request = request.basic_auth(user, Some(pass));
            }
            match request.send().await {
                Ok(response) if response.status().is_success() => {
                    return response
                        .json::<Environment>()
                        .await
                        .with_context(|| format!("{url} did not return an Environment"));
                }
                Ok(response) => {
                    last_error = Some(anyhow::anyhow!("{url} answered {}", response.status()));
                }
                Err(error) => {
                    last_error = Some(anyhow::anyhow!("{url}: {error}"));
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no config server URL configured")))
    }
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// The HTTP client for config-server calls (connect timeout 10 s, as Spring's client), trusting
/// what `factura.ssl.client.*` says.
pub fn http_client(settings: &Settings) -> anyhow::Result<reqwest::Client> {
    Ok(ClientTlsSettings::platform(settings)?
        .reqwest_builder()?
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// The remote sources for a service starting with `settings`, highest precedence first;
/// `Ok(None)` when no config server is configured or an optional one is unreachable.
pub async fn load_remote(settings: &Settings) -> anyhow::Result<Option<Vec<PropertySource>>> {
    let Some(config) = ClientConfig::from_settings(settings)? else {
        return Ok(None);
    };
    let http = http_client(settings)?;
    if config.optional {
        return match config.fetch(&http).await {
            Ok(environment) => {
                log_loaded(&environment);
                decrypt_remote(settings, to_property_sources(&environment)).map(Some)
            }
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "config server not available; starting with local settings only (the import is optional)");
                Ok(None)
            }
        };
    }
    let mut delay = config.retry.initial_interval;
    let attempts = config.retry.max_attempts.max(1);
    for attempt in 1..=attempts {
        match config.fetch(&http).await {
            Ok(environment) => {
                log_loaded(&environment);
                return decrypt_remote(settings, to_property_sources(&environment)).map(Some);
            }
            Err(error) if attempt == attempts => {
                anyhow::bail!(
                    "could not load configuration from the config server after {attempts} attempts: {error:#}. \
                     Start the config-service, or make the import optional (spring.config.import=optional:configserver:…)"
                );
            }
            Err(error) => {
                tracing::warn!(attempt, error = %format!("{error:#}"), "config server not available yet; retrying");
                tokio::time::sleep(delay).await;
                delay = delay.mul_f64(1.1).min(config.retry.max_interval);
            }
        }
    }
    Ok(None)
}

fn log_loaded(environment: &Environment) {
    tracing::info!(
        name = %environment.name,
        profiles = ?environment.profiles,
        version = environment.version.as_deref().unwrap_or("-"),
        sources = environment.property_sources.len(),
        "configuration loaded from the config server"
    );
}

/// The keys whose effective value differs between `old` and `new` (added, changed, removed),
/// sorted.
pub fn changed_keys(old: &Settings, new: &Settings) -> Vec<String> {
    let old = old.effective();
    let new = new.effective();
    let mut changed: Vec<String> = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .chain(old.keys().filter(|k| !new.contains_key(*k)).cloned())
        .collect();
    changed.sort();
    changed.dedup();
    changed
}

/// Refetches and applies remote configuration for one service (the `/actuator/refresh` and
/// watch roles). Refreshes are serialised so two never interleave their swaps.
#[derive(Debug, Clone)]
pub struct Refresher {
    settings: SharedSettings,
    http: reqwest::Client,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl Refresher {
    /// A refresher for the service whose live settings are `settings`.
    pub fn new(settings: SharedSettings) -> anyhow::Result<Self> {
        Ok(Self {
            http: http_client(&settings.current())?,
            settings,
            lock: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// Refetches the remote sources and, when they differ, puts them in force.
    /// Returns the changed keys (`[]` when nothing changed or no config server is configured).
    pub async fn refresh(&self) -> anyhow::Result<Vec<String>> {
        let _guard = self.lock.lock().await;
        let current = self.settings.current();
        let Some(config) = ClientConfig::from_settings(&current)? else {
            return Ok(Vec::new());
        };
        let environment = config.fetch(&self.http).await?;
        let remote = decrypt_remote(&current, to_property_sources(&environment))?;
        if remote == remote_sources(&current) {
            return Ok(Vec::new());
        }
        let updated = without_remote(&current).with_remote(remote);
        let changed = changed_keys(&current, &updated);
        self.settings.replace(updated);
        if !changed.is_empty() {
            tracing::info!(keys = ?changed, "configuration refreshed");
        }
        Ok(changed)
    }

    /// `POST /actuator/refresh`.
    pub fn routes(self) -> Router {
        Router::new()
            .route("/actuator/refresh", post(refresh_endpoint))
            .with_state(self)
    }

    /// Polls the config server until `started.shutdown`, applying changes as they appear.
    pub async fn watch(self, started: Started) {
        loop {
            let current = self.settings.current();
            // Checked at start (`ClientConfig::from_settings`); a refresh that breaks these
            // keys keeps the defaults.
            let watch = current
                .bind::<ConfigClientSettings>("spring.cloud.config")
                .map_or(
                    WatchSettings {
                        enabled: true,
                        delay: Duration::from_secs(2),
                    },
                    |own| own.watch,
                );
            let (enabled, delay) = (watch.enabled, watch.delay.as_millis() as u64);
            let configured = matches!(ClientConfig::from_settings(&current), Ok(Some(_)));
            if !configured || !enabled {
                // Settings may change (a refresh turning the watch on); look again later.
                tokio::select! {
                    () = started.shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(delay.max(1000) * 5)) => continue,
                }
            }
            tokio::select! {
                () = started.shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_millis(delay.max(100))) => {}
            }
            if let Err(error) = self.refresh().await {
                tracing::debug!(error = %format!("{error:#}"), "config watch: server not reachable");
            }
        }
    }
}

async fn refresh_endpoint(
    State(refresher): State<Refresher>,
    headers: axum::http::HeaderMap,
) -> impl IntoResponse {
    match refresher.refresh().await {
        Ok(changed) => actuator_json(&headers, StatusCode::OK, &Value::from(changed)),
        Err(error) => {
            tracing::warn!(error = %format!("{error:#}"), "refresh failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({
                    "status": 503,
                    "error": "Service Unavailable",
                    // The cause (an address, a library's words) stays in the log.
                    "message": "refresh failed: the configuration could not be fetched",
                    "path": "/actuator/refresh",
                })),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment(version: &str, value: Value) -> Environment {
        Environment {
            name: "app".into(),
            profiles: vec!["default".into()],
            label: None,
            version: Some(version.into()),
            state: None,
            property_sources: vec![EnvironmentPropertySource {
                name: "file:app.yml".into(),
                source: [("a.b".to_owned(), value)].into_iter().collect(),
            }],
        }
    }

    #[test]
    fn environment_json_round_trips_with_springs_field_names() {
        let env = environment("abc", Value::from(3));
        let json = serde_json::to_value(&env).unwrap();
        assert_eq!(json["propertySources"][0]["source"]["a.b"], 3);
        assert_eq!(json["label"], Value::Null);
        let back: Environment = serde_json::from_value(json).unwrap();
        assert_eq!(back, env);
    }

    #[test]
    fn remote_sources_are_layered_and_diffed() {
        let local = Settings::from_sources(vec![
            PropertySource::new("commandLineArgs", []),
            PropertySource::new("file", [("a.b".to_owned(), "local".to_owned())]),
        ]);
        let one = local.with_remote(to_property_sources(&environment("v1", Value::from("x"))));
        assert_eq!(one.get("a.b").unwrap(), "x");
        assert_eq!(one.get("config.client.version").unwrap(), "v1");
        let two = without_remote(&one)
            .with_remote(to_property_sources(&environment("v2", Value::from("y"))));
        assert_eq!(
            changed_keys(&one, &two),
            vec!["a.b".to_owned(), "config.client.version".to_owned()]
        );
        assert_eq!(without_remote(&two).get("a.b").unwrap(), "local");
    }

    #[test]
    fn cipher_values_are_decrypted_with_the_clients_key() {
        let encryptor = TextEncryptor::new("k", DEFAULT_SALT).unwrap();
        let remote = vec![PropertySource::new(
            "configserver:file:/repo/app.yml",
            [
                (
                    "a".to_owned(),
                    format!("{{cipher}}{}", encryptor.encrypt("plain")),
                ),
                ("b".to_owned(), "{cipher}not-hex".to_owned()),
                ("c".to_owned(), "as is".to_owned()),
            ],
        )];
        let local = |pairs: &[(&str, &str)]| {
            Settings::from_sources(vec![PropertySource::new(
                "local",
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            )])
        };
        let error = decrypt_remote(&local(&[("encrypt.key", "k")]), remote.clone())
            .unwrap_err()
            .to_string();
        assert!(error.contains("cannot decrypt `b`"), "{error}");
        let lenient = local(&[("encrypt.key", "k"), ("encrypt.fail-on-error", "false")]);
        let decrypted = decrypt_remote(&lenient, remote.clone()).unwrap();
        assert_eq!(decrypted[0].properties["a"], "plain");
        assert_eq!(decrypted[0].properties["b"], "");
        assert_eq!(decrypted[0].properties["c"], "as is");
        let keyless = decrypt_remote(&local(&[]), remote).unwrap_err().to_string();
        assert!(keyless.contains("no encrypt.key"), "{keyless}");
    }

    #[test]
    fn v2_values_are_unwrapped() {
        assert_eq!(
            property_text(&serde_json::json!({"value": 5, "origin": "1:2"})),
            "5"
        );
        assert_eq!(property_text(&serde_json::json!(true)), "true");
        assert_eq!(property_text(&serde_json::json!([])), "");
        assert_eq!(
            property_text(&serde_json::json!({"value": [], "origin": "3:4"})),
            ""
        );
    }

    #[test]
    fn client_config_reads_springs_keys() {
        let settings = Settings::from_sources(vec![PropertySource::new(
            "x",
            [
                ("spring.application.name", "billing-service"),
                (
                    "spring.config.import",
                    "configserver:http://u:p%40ss@localhost:9/",
                ),
                ("spring.profiles.active", "dev,mysql"),
                ("spring.cloud.config.label", "feature/x"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        )]);
        let config = ClientConfig::from_settings(&settings).unwrap().unwrap();
        assert!(!config.optional);
        assert_eq!(
            config.credentials,
            Some(("u".to_owned(), "p@ss".to_owned()))
        );
        assert_eq!(
            config.environment_url(&config.uris[0]).as_str(),
            "http://localhost:9/billing-service/dev,mysql/feature(_)x"
        );
        let disabled = settings.with_override("spring.cloud.config.enabled", "false");
        assert!(ClientConfig::from_settings(&disabled).unwrap().is_none());
    }
}
