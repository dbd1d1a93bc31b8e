//! The HTTP surface of Spring Cloud Config Server.
//!
//! Explicit routes take `/encrypt`, `/decrypt`, `/key` (the actuator routes are merged in by
//! `platform`); everything else is read by [`dispatch`], because the config routes are decided
//! by segment count and suffix, after percent-decoding each segment and turning `(_)` into `/`:
//!
//! | segments | form |
//! |---|---|
//! | 1 | `/{app}-{profiles}.{yml,yaml,properties,json}` |
//! | 2 with a suffix | `/{label}/{app}-{profiles}.{ext}` |
//! | 2 | `/{app}/{profiles}` |
//! | 3 | `/{app}/{profiles}/{label}`, or `/{app}/{profiles}/{path}?useDefaultLabel` |
//! | 4+ | `/{app}/{profiles}/{label}/{path…}` (plain-text resource) |

use std::sync::Arc;

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Path, Request, State},
    http::{HeaderMap, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use percent_encoding::percent_decode_str;
use platform::{
    cipher::{TextEncryptor, split_prefixes},
    config_client::EnvironmentPropertySource,
    error::ErrorDetail,
};
use serde_json::{Value, json};

use crate::{
    backend::Backend,
    render,
    snapshot::{BuildError, RepoError, Request as EnvRequest, ServedEnvironment, Snapshot},
};

/// The media type of Spring's v2 Environment.
const V2_JSON: &str = "application/vnd.spring-cloud.config-server.v2+json";

/// Everything a request reads; fixed when the service is built.
#[derive(Debug)]
pub(crate) struct ServerState {
    pub(crate) backend: Backend,
    pub(crate) prefix: String,
    pub(crate) overrides: Vec<(String, String)>,
    pub(crate) encryptor: Option<TextEncryptor>,
    pub(crate) decrypt_served_values: bool,
    pub(crate) accept_empty: bool,
    /// The user and password HTTP basic auth must present, when security is on.
    pub(crate) credentials: Option<(String, String)>,
}

/// The config server's routes (without actuator).
pub(crate) fn routes(state: Arc<ServerState>) -> Router {
    let p = state.prefix.clone();
    Router::new()
        .route(&format!("{p}/encrypt"), post(encrypt))
        .route(&format!("{p}/encrypt/status"), get(encrypt_status))
        .route(
            &format!("{p}/encrypt/{{app}}/{{profiles}}"),
            post(encrypt_for),
        )
        .route(&format!("{p}/decrypt"), post(decrypt))
        .route(
            &format!("{p}/decrypt/{{app}}/{{profiles}}"),
            post(decrypt_for),
        )
        .route(&format!("{p}/key"), get(public_key))
        .route(&format!("{p}/key/{{app}}/{{profiles}}"), get(public_key))
        .route(&format!("{p}/monitor"), post(monitor))
        .fallback(dispatch)
        .layer(middleware::from_fn_with_state(state.clone(), basic_auth))
        .with_state(state)
}

// === errors ===

/// A failed config request, written as Spring Boot's error body.
#[derive(Debug)]
pub(crate) struct ConfigError {
    status: StatusCode,
    message: String,
}

impl ConfigError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// A status with no body at all, as Spring answers a missing resource or an `Accept` it
    /// cannot serve.
    fn bare(status: StatusCode) -> Self {
        Self::new(status, String::new())
    }
}

impl IntoResponse for ConfigError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        let detail = if self.message.is_empty() {
            ErrorDetail::Empty
        } else {
            ErrorDetail::Message(self.message)
        };
        response.extensions_mut().insert(detail);
        response
    }
}

impl From<RepoError> for ConfigError {
    fn from(error: RepoError) -> Self {
        match error {
            RepoError::NoSuchLabel(label) => Self::not_found(format!("No such label: {label}")),
            RepoError::NoSuchRepository(reason) => {
                tracing::warn!(%reason, "git repository unavailable");
                Self::not_found("No such repository: the configuration repository is not available")
            }
            RepoError::Internal(reason) => {
                tracing::error!(%reason, "reading the configuration repository failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Reading the configuration repository failed; see the config-service log",
                )
            }
        }
    }
}

impl From<BuildError> for ConfigError {
    fn from(error: BuildError) -> Self {
        tracing::error!(%error, "configuration repository has an invalid file");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
    }
}

// === security ===

async fn basic_auth(
    State(state): State<Arc<ServerState>>,
    request: Request,
    next: Next,
) -> Response {
    let Some((user, password)) = &state.credentials else {
        return next.run(request).await;
    };
    if platform::security::basic_credentials_match(request.headers(), user, password) {
        return next.run(request).await;
    }
    let mut response =
        ConfigError::new(StatusCode::UNAUTHORIZED, "Full authentication is required")
            .into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, platform::security::CHALLENGE);
    response
}

// === path parsing ===

fn decode_segment(raw: &str, what: &str) -> Result<String, ConfigError> {
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ConfigError::bad_request(format!("{what} is not valid UTF-8")))?;
    if decoded.starts_with("(_)") {
        return Err(ConfigError::bad_request(format!(
            "{what} must not start with (_)"
        )));
    }
    Ok(decoded.replace("(_)", "/"))
}

fn check_name(value: &str, what: &str) -> Result<(), ConfigError> {
    if value.is_empty() {
        return Err(ConfigError::bad_request(format!("{what} is empty")));
    }
    if value.contains("..") || value.contains('#') {
        return Err(ConfigError::bad_request(format!("Invalid {what}: {value}")));
    }
    Ok(())
}

fn parse_profiles(raw: &str) -> Result<Vec<String>, ConfigError> {
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ConfigError::bad_request("profiles are not valid UTF-8"))?;
    let mut profiles = Vec::new();
    for profile in decoded.split(',') {
        let profile = profile.trim();
        let valid = !profile.is_empty()
            && !profile.contains("..")
            && profile
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.+@".contains(c))
            && profile.starts_with(|c: char| c.is_ascii_alphanumeric())
            && profile.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !valid {
            return Err(ConfigError::bad_request(format!(
                "Invalid profile: {profile:?}"
            )));
        }
        profiles.push(profile.to_owned());
    }
    Ok(profiles)
}

/// `{app}-{profiles}.{ext}` split at the last hyphen.
fn split_flat_name(raw: &str) -> Option<(&str, &str, Format)> {
    let (stem, extension) = raw.rsplit_once('.')?;
    let format = Format::from_extension(extension)?;
    let (app, profiles) = stem.rsplit_once('-')?;
    Some((app, profiles, format))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Yaml,
    Properties,
    Json,
}

impl Format {
    fn from_extension(extension: &str) -> Option<Self> {
        match extension {
            "yml" | "yaml" => Some(Self::Yaml),
            "properties" => Some(Self::Properties),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

fn query_flag(query: Option<&str>, name: &str) -> Option<bool> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| !value.eq_ignore_ascii_case("false"))
    })
}

async fn dispatch(State(state): State<Arc<ServerState>>, request: Request) -> Response {
    match dispatch_inner(&state, request).await {
        Ok(response) => response,
        Err(error) => {
            let allow_get = error.status == StatusCode::METHOD_NOT_ALLOWED;
            let mut response = error.into_response();
            if allow_get {
                response
                    .headers_mut()
                    .insert(header::ALLOW, header::HeaderValue::from_static("GET"));
            }
            response
        }
    }
}

async fn dispatch_inner(state: &ServerState, request: Request) -> Result<Response, ConfigError> {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return Err(ConfigError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Only GET is supported here",
        ));
    }
    let path = request.uri().path();
    let Some(path) = path.strip_prefix(state.prefix.as_str()) else {
        return Err(ConfigError::not_found("No resource at this path"));
    };
    let query = request.uri().query();
    let mut segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if segments.last() == Some(&"") {
        segments.pop();
    }
    // `/actuator/<unknown>` falls through to here and, as in Spring, names application
    // `actuator`; the actuator's own routes are matched before.
    if segments.is_empty() || segments.iter().any(|s| s.is_empty()) {
        return Err(ConfigError::not_found("No resource at this path"));
    }
    let headers = request.headers();
    match segments.as_slice() {
        [name] => {
            let name = decode_segment(name, "name")?;
            let (app, profiles, format) = split_flat_name(&name)
                .ok_or_else(|| ConfigError::not_found("No resource at this path"))?;
            flat(state, app, profiles, None, format, query).await
        }
        [label, name] if split_flat_name(name).is_some() => {
            let label = decode_segment(label, "label")?;
            let name = decode_segment(name, "name")?;
            let (app, profiles, format) = split_flat_name(&name)
                .ok_or_else(|| ConfigError::not_found("No resource at this path"))?;
            flat(state, app, profiles, Some(&label), format, query).await
        }
        [app, profiles] => {
            let app = decode_segment(app, "application")?;
            environment(state, &app, profiles, None, headers).await
        }
        [app, profiles, rest] if query_flag(query, "useDefaultLabel").is_some() => {
            let app = decode_segment(app, "application")?;
            let path = decode_segment(rest, "path")?;
            resource(state, &app, profiles, None, &path, query, headers).await
        }
        [app, profiles, label] => {
            let app = decode_segment(app, "application")?;
            let label = decode_segment(label, "label")?;
            environment(state, &app, profiles, Some(&label), headers).await
        }
        // Four or more segments are always label and path, `useDefaultLabel` or not (Spring's
        // `{path}` of the default-label form is one segment).
        [app, profiles, label, path_segments @ ..] => {
            let app = decode_segment(app, "application")?;
            let label = Some(decode_segment(label, "label")?);
            let path = path_segments
                .iter()
                .map(|s| decode_segment(s, "path"))
                .collect::<Result<Vec<_>, _>>()?
                .join("/");
            resource(
                state,
                &app,
                profiles,
                label.as_deref(),
                &path,
                query,
                headers,
            )
            .await
        }
        [] => Err(ConfigError::not_found("No resource at this path")),
    }
}

// === environment ===

/// The Environment of `app`/`profiles` at `label`, decrypted and with overrides first.
async fn build_environment(
    state: &ServerState,
    app: &str,
    profiles: &[String],
    label: Option<&str>,
) -> Result<(Arc<Snapshot>, ServedEnvironment), ConfigError> {
    check_name(app, "application name")?;
    if let Some(label) = label {
        check_name(label, "label")?;
    }
    let snapshot = state.backend.resolve(label).await?;
    let locations = state.backend.locations(&snapshot, app, profiles, label);
    let request = EnvRequest {
        application: app,
        profiles,
        label,
    };
    let mut served = snapshot.environment(&request, &locations)?;
    if state.decrypt_served_values {
        crate::snapshot::decrypt_sources(
            &mut served.environment.property_sources,
            &mut served.origins,
            state.encryptor.as_ref(),
        );
    }
    let environment = &mut served.environment;
    if !state.overrides.is_empty() {
        served.origins.insert(0, Default::default());
        environment.property_sources.insert(
            0,
            EnvironmentPropertySource {
                name: "overrides".into(),
                source: state
                    .overrides
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            },
        );
    }
    if !state.accept_empty && environment.property_sources.is_empty() {
        return Err(ConfigError::not_found("Application Not Found"));
    }
    Ok((snapshot, served))
}

async fn environment(
    state: &ServerState,
    app: &str,
    raw_profiles: &str,
    label: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, ConfigError> {
    let profiles = parse_profiles(raw_profiles)?;
    check_name(app, "application name")?;
    if let Some(label) = label {
        check_name(label, "label")?;
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*");
    if !accepts_json(accept) {
        return Err(ConfigError::bare(StatusCode::NOT_ACCEPTABLE));
    }
    // The v2 media type carries each value as `{"value", "origin"}`, as Spring serves it.
    let wants_v2 = accept.contains(V2_JSON);
    let snapshot = state.backend.resolve(label).await?;
    let key = format!(
        "env\u{0}{app}\u{0}{}\u{0}{}\u{0}{wants_v2}",
        profiles.join(","),
        label.unwrap_or("\u{1}")
    );
    let body = match snapshot.cached(key.clone(), || Err(())) {
        Ok(hit) => hit,
        Err(()) => {
            let (snapshot, served) = build_environment(state, app, &profiles, label).await?;
            let json = if wants_v2 {
                serde_json::to_vec(&served.v2_json())
            } else {
                serde_json::to_vec(&served.environment)
            };
            let bytes = Bytes::from(json.map_err(|e| {
                ConfigError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("serialising: {e}"),
                )
            })?);
            snapshot.cached(key, || Ok::<_, ConfigError>(bytes))?
        }
    };
    let content_type = if wants_v2 {
        V2_JSON
    } else {
        "application/json"
    };
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

/// Whether an `Accept` header admits the Environment's JSON (or its v2 type).
fn accepts_json(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let media = range.split(';').next().unwrap_or_default().trim();
        media.is_empty()
            || ["*/*", "application/*", "application/json", V2_JSON]
                .iter()
                .any(|t| media.eq_ignore_ascii_case(t))
    })
}

async fn flat(
    state: &ServerState,
    app: &str,
    raw_profiles: &str,
    label: Option<&str>,
    format: Format,
    query: Option<&str>,
) -> Result<Response, ConfigError> {
    let profiles = parse_profiles(raw_profiles)?;
    let (_, served) = build_environment(state, app, &profiles, label).await?;
    let environment = served.environment;
    let mut merged = render::merge(&environment.property_sources);
    if query_flag(query, "resolvePlaceholders").unwrap_or(true) {
        render::resolve_placeholders(&mut merged);
    }
    let (content_type, body) = match format {
        Format::Properties => ("text/plain", render::properties_text(&merged)),
        Format::Yaml => ("text/plain", render::yaml_text(&render::nest(&merged))),
        Format::Json => (
            "application/json",
            serde_json::to_string(&render::nest(&merged)).unwrap_or_default(),
        ),
    };
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

async fn resource(
    state: &ServerState,
    app: &str,
    raw_profiles: &str,
    label: Option<&str>,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, ConfigError> {
    let profiles = parse_profiles(raw_profiles)?;
    check_name(path, "path")?;
    // Spring answers a missing label or file here with a bare 404.
    let (snapshot, served) = build_environment(state, app, &profiles, label)
        .await
        .map_err(|error| match error.status {
            StatusCode::NOT_FOUND => ConfigError::bare(StatusCode::NOT_FOUND),
            _ => error,
        })?;
    let environment = served.environment;
    let locations = state.backend.locations(&snapshot, app, &profiles, label);
    let file = snapshot
        .find_resource(path, &profiles, &locations)
        .ok_or_else(|| ConfigError::bare(StatusCode::NOT_FOUND))?;
    let wants_bytes = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/octet-stream"));
    if wants_bytes {
        return Ok((
            [(header::CONTENT_TYPE, "application/octet-stream")],
            Body::from(file.bytes.clone()),
        )
            .into_response());
    }
    let text = String::from_utf8_lossy(&file.bytes).into_owned();
    let text = if query_flag(query, "resolvePlaceholders").unwrap_or(true) {
        let mut merged = render::merge(&environment.property_sources);
        merged.insert("\u{0}resource".into(), Value::String(text));
        render::resolve_placeholders(&mut merged);
        merged
            .swap_remove("\u{0}resource")
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    } else {
        text
    };
    Ok(([(header::CONTENT_TYPE, "text/plain;charset=UTF-8")], text).into_response())
}

// === webhook ===

/// `POST /monitor`: a git host's push webhook (GitHub, GitLab, Gitea, Gogs, Gitee, Bitbucket) or a
/// form post `path=<app>`. Starts a fetch at once instead of at the next refresh interval and
/// answers the services the change concerns, as Spring's monitor does (`foo-dev.yml` →
/// `foo-dev`, `foo`; `application*` → `*`). Running services pick the change up on their next
/// config watch poll.
async fn monitor(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let is_form = header("content-type").starts_with("application/x-www-form-urlencoded");
    let mut paths: Vec<String> = Vec::new();
    let bitbucket = matches!(
        header("x-event-key"),
        "repo:push" | "repo:refs_changed" | "pr:merged"
    );
    let push = header("x-github-event") == "push"
        || header("x-gitlab-event") == "Push Hook"
        || header("x-gitea-event") == "push"
        || header("x-gogs-event") == "push"
        || header("x-gitee-event") == "Push Hook";
    if is_form {
        for pair in String::from_utf8_lossy(&body).split('&') {
            if let Some(value) = pair.strip_prefix("path=") {
                let value = value.replace('+', " ");
                paths.push(percent_decode_str(&value).decode_utf8_lossy().into_owned());
            }
        }
    } else if push {
        let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
            return ConfigError::bad_request("the push payload is not JSON").into_response();
        };
        for commit in payload["commits"].as_array().into_iter().flatten() {
            for kind in ["added", "modified", "removed"] {
                for path in commit[kind].as_array().into_iter().flatten() {
                    if let Some(path) = path.as_str() {
                        paths.push(path.to_owned());
                    }
                }
            }
        }
    } else if !bitbucket {
        return ConfigError::bad_request("not a recognised push notification").into_response();
    }
    let mut services: Vec<String> = Vec::new();
    let mut add = |name: String| {
        if !services.contains(&name) {
            services.push(name);
        }
    };
    if bitbucket {
        add("*".into());
    }
    for path in paths {
        let file = path.rsplit('/').next().unwrap_or_default();
        let stem = file.rsplit_once('.').map_or(file, |(stem, _)| stem);
        if stem.is_empty() {
            continue;
        }
        if stem.starts_with("application") {
            add("*".into());
            continue;
        }
        add(stem.to_owned());
        if let Some((app, _)) = stem.rsplit_once('-') {
            add(app.to_owned());
        }
    }
    state.backend.trigger();
    (
        [(header::CONTENT_TYPE, "application/json")],
        Value::from(services).to_string(),
    )
        .into_response()
}

// === encryption ===

fn cipher_error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "status": code, "description": description }).to_string(),
    )
        .into_response()
}

fn no_key() -> Response {
    cipher_error(
        StatusCode::NOT_FOUND,
        "NO_KEY",
        "No key was installed for encryption service",
    )
}

/// The body as text; a form-encoded `curl -d` body (`…=`) is URL-decoded and the `=` dropped.
fn body_text(headers: &HeaderMap, body: &Bytes) -> String {
    let text = String::from_utf8_lossy(body).into_owned();
    let is_plain = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !is_plain && let Some(stripped) = text.strip_suffix('=') {
        let spaced = stripped.replace('+', " ");
        return percent_decode_str(&spaced).decode_utf8_lossy().into_owned();
    }
    text
}

async fn encrypt(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    encrypt_text(&state, &headers, &body)
}

async fn encrypt_for(
    State(state): State<Arc<ServerState>>,
    Path((_app, _profiles)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // One symmetric key serves every application and profile.
    encrypt_text(&state, &headers, &body)
}

/// Spring's `@RequestBody String`: a request without a body or without a `Content-Type` is a
/// 400 before any key is looked at.
fn require_body(headers: &HeaderMap, body: &Bytes) -> Result<(), ConfigError> {
    if body.is_empty() {
        return Err(ConfigError::bad_request("Required request body is missing"));
    }
    if !headers.contains_key(header::CONTENT_TYPE) {
        return Err(ConfigError::bad_request(
            "The request body needs a Content-Type",
        ));
    }
    Ok(())
}

const TEXT_PLAIN_UTF8: &str = "text/plain;charset=UTF-8";

fn encrypt_text(state: &ServerState, headers: &HeaderMap, body: &Bytes) -> Response {
    if let Err(error) = require_body(headers, body) {
        return error.into_response();
    }
    let Some(encryptor) = &state.encryptor else {
        return no_key();
    };
    let text = body_text(headers, body);
    let (prefixes, plain) = split_prefixes(&text);
    (
        [(header::CONTENT_TYPE, TEXT_PLAIN_UTF8)],
        format!("{prefixes}{}", encryptor.encrypt(plain)),
    )
        .into_response()
}

async fn decrypt(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    decrypt_text(&state, &headers, &body)
}

async fn decrypt_for(
    State(state): State<Arc<ServerState>>,
    Path((_app, _profiles)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    decrypt_text(&state, &headers, &body)
}

fn decrypt_text(state: &ServerState, headers: &HeaderMap, body: &Bytes) -> Response {
    if let Err(error) = require_body(headers, body) {
        return error.into_response();
    }
    let Some(encryptor) = &state.encryptor else {
        return no_key();
    };
    let text = body_text(headers, body);
    // The body is the ciphertext alone: a `{cipher}` marker is not text of this key (Spring).
    let (_, cipher) = split_prefixes(&text);
    match encryptor.decrypt(cipher) {
        Ok(plain) => ([(header::CONTENT_TYPE, TEXT_PLAIN_UTF8)], plain).into_response(),
        Err(_) => cipher_error(
            StatusCode::BAD_REQUEST,
            "INVALID",
            "Text not encrypted with this key",
        ),
    }
}

async fn encrypt_status(State(state): State<Arc<ServerState>>) -> Response {
    match &state.encryptor {
        Some(_) => (
            [(header::CONTENT_TYPE, "application/json")],
            json!({"status": "OK"}).to_string(),
        )
            .into_response(),
        None => no_key(),
    }
}

async fn public_key() -> Response {
    // Only a symmetric key is supported, so there is never a public key to hand out.
    cipher_error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "No public key available",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_names_split_at_the_last_hyphen() {
        assert_eq!(
            split_flat_name("billing-service-dev.yml"),
            Some(("billing-service", "dev", Format::Yaml))
        );
        assert_eq!(split_flat_name("app.yml"), None);
        assert_eq!(split_flat_name("app-dev.txt"), None);
    }

    #[test]
    fn profiles_are_validated() {
        assert_eq!(parse_profiles("dev%2Cmysql").unwrap(), ["dev", "mysql"]);
        assert!(parse_profiles("dev,").is_err());
        assert!(parse_profiles("-dev").is_err());
        assert!(parse_profiles("de$v").is_err());
        assert!(parse_profiles("a..b").is_err());
        assert!(parse_profiles("a+b@c.d_e").is_ok());
    }

    #[test]
    fn segments_decode_slash_escapes() {
        assert_eq!(decode_segment("feature(_)x", "label").unwrap(), "feature/x");
        assert_eq!(decode_segment("feature%2Fx", "label").unwrap(), "feature/x");
        assert!(decode_segment("(_)x", "label").is_err());
    }
}
