//! Spring Boot Actuator's operational endpoints: `/actuator`, `/actuator/health`,
//! `/actuator/info`, `/actuator/prometheus`.
//!
//! Health is an aggregate of named components (the database, the discovery client, circuit
//! breakers...), each a small async check registered by whoever owns the thing being checked.
//! The aggregate is `UP` only when every component is; otherwise the endpoint answers 503, as
//! Spring does, so load balancers and `factura up` can rely on the status code alone.
//!
//! JSON endpoints answer in Spring's actuator media types, negotiated as Spring does
//! ([`actuator_json`]): `application/vnd.spring-boot.actuator.v3+json` unless the caller asks
//! for `…v2+json` or plain `application/json`.
//!
//! Which endpoints answer over HTTP is decided here once for every service ([`Endpoint`],
//! [`ManagementSettings`]), with Spring Boot's keys and defaults: an endpoint is mapped only when
//! `management.endpoints.web.exposure.include` names it (default `health`) and `…exclude` does
//! not; `management.endpoint.<id>.access` (`none`, `read-only`, `unrestricted`; or the older
//! `…enabled`) then maps none, only the reading (`GET`) or all of its operations. An endpoint
//! not mapped is not there at all (its path falls through, as in Spring), so the cost is paid
//! once at start, never per request. When the service has a user (`spring.security.user.*`),
//! every endpoint but health needs that user's credentials, as Spring Security's default for
//! the actuator; health shows its components and details by `…health.show-components` /
//! `show-details` (`never` by default, `when-authorized`, `always`).

use std::{future::Future, pin::Pin, sync::Arc, sync::RwLock};

use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    metrics::Metrics,
    settings::{FromSection, Section, SettingsError},
};

/// The status vocabulary of Spring's `HealthIndicator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Working.
    Up,
    /// Not working.
    Down,
    /// Deliberately taken out of service.
    OutOfService,
    /// Not known yet.
    Unknown,
}

/// The result of one component's check.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    /// The component's status.
    pub status: Status,
    /// What the check found (database product, error message, breaker state...).
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub details: serde_json::Map<String, Value>,
}

impl Health {
    /// A healthy component with these details.
    pub fn up(details: Value) -> Self {
        Self {
            status: Status::Up,
            details: object(details),
        }
    }

    /// A failing component with these details.
    pub fn down(details: Value) -> Self {
        Self {
            status: Status::Down,
            details: object(details),
        }
    }
}

fn object(value: Value) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

type CheckFuture = Pin<Box<dyn Future<Output = Health> + Send>>;
type Check = Arc<dyn Fn() -> CheckFuture + Send + Sync>;

/// The health components of one service, shared by everything that registers a check.
#[derive(Clone, Default)]
pub struct HealthRegistry {
    checks: Arc<RwLock<IndexMap<String, Check>>>,
}

impl std::fmt::Debug for HealthRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self
            .checks
            .read()
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default();
        f.debug_struct("HealthRegistry")
            .field("components", &names)
            .finish()
    }
}

impl HealthRegistry {
    /// Registers (or replaces) the component `name`.
    pub fn register<F, Fut>(&self, name: &str, check: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Health> + Send + 'static,
    {
        let check: Check = Arc::new(move || Box::pin(check()));
        self.checks
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), check);
    }

    /// Runs every check concurrently and aggregates them.
    pub async fn check(&self) -> (Status, IndexMap<String, Health>) {
        let checks: Vec<(String, Check)> = self
            .checks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut components = IndexMap::new();
        for (name, check) in checks {
            // A hanging dependency must not hang the health endpoint itself.
            let health = tokio::time::timeout(std::time::Duration::from_secs(3), check())
                .await
                .unwrap_or_else(|_| {
                    Health::down(serde_json::json!({ "error": "check timed out" }))
                });
            components.insert(name, health);
        }
        components.insert("ping".into(), Health::up(Value::Null));
        let status = if components.values().any(|h| h.status == Status::Down) {
            Status::Down
        } else if components
            .values()
            .any(|h| h.status == Status::OutOfService)
        {
            Status::OutOfService
        } else {
            Status::Up
        };
        (status, components)
    }
}

/// `management.endpoint.<id>.access` (Spring Boot 3.4+): what of an endpoint is mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Nothing: the endpoint is not there.
    None,
    /// Its reading (`GET`) operations only.
    ReadOnly,
    /// Every operation, writes included.
    Unrestricted,
}

impl Access {
    /// Spring's relaxed enum binding: case, `-` and `_` do not matter.
    fn parse(key: &str, value: &str) -> Result<Self, SettingsError> {
        match value.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "none" => Ok(Self::None),
            "readonly" => Ok(Self::ReadOnly),
            "unrestricted" => Ok(Self::Unrestricted),
            _ => Err(SettingsError::Invalid {
                key: key.to_owned(),
                value: value.to_owned(),
                expected: "none, read-only or unrestricted".into(),
            }),
        }
    }
}

/// `management.endpoint.health.show-details` / `show-components`: to whom health shows more
/// than its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// To no one (Spring's default).
    Never,
    /// To a caller with the service's credentials.
    WhenAuthorized,
    /// To everyone.
    Always,
}

impl Show {
    fn parse(key: &str, value: &str) -> Result<Self, SettingsError> {
        match value.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "never" => Ok(Self::Never),
            "whenauthorized" => Ok(Self::WhenAuthorized),
            "always" => Ok(Self::Always),
            _ => Err(SettingsError::Invalid {
                key: key.to_owned(),
                value: value.to_owned(),
                expected: "never, when-authorized or always".into(),
            }),
        }
    }

    fn allows(self, authorized: bool) -> bool {
        match self {
            Self::Never => false,
            Self::WhenAuthorized => authorized,
            Self::Always => true,
        }
    }
}

/// `management.*`: which actuator endpoints are reachable over HTTP and how much of health shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagementSettings {
    /// `management.endpoints.web.exposure.include` (Spring's default `health`; `*` for all).
    pub include: Vec<String>,
    /// `management.endpoints.web.exposure.exclude` (default none); wins over `include`.
    pub exclude: Vec<String>,
    /// `management.endpoints.access.default` (default `unrestricted`; `false` for the older
    /// `management.endpoints.enabled-by-default` gives `none`).
    pub default_access: Access,
    /// `management.endpoints.access.max-permitted` (default `unrestricted`): a cap on every
    /// endpoint's access.
    pub max_permitted: Access,
    /// `management.endpoint.<id>.access` (or `.enabled`), by endpoint id in canonical form.
    pub endpoint_access: IndexMap<String, Access>,
    /// `management.endpoint.health.show-details` (default `never`).
    pub show_details: Show,
    /// `management.endpoint.health.show-components` (default: as `show-details`).
    pub show_components: Show,
    /// `management.endpoint.health.roles` (default none): with `when-authorized`, a token
    /// caller must hold one of them (`ADMIN` matches the authority `ADMIN` or `ROLE_ADMIN`).
    pub health_roles: Vec<String>,
}

/// An endpoint id in the form Spring compares them: lower case, no dashes.
fn endpoint_id(id: &str) -> String {
    id.trim().to_ascii_lowercase().replace('-', "")
}

impl FromSection for ManagementSettings {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        let endpoints = section.child("endpoints");
        let exposure = endpoints.child("web").child("exposure");
        let default_access = match endpoints.get("access.default") {
            Some(v) => Access::parse(&endpoints.key("access.default"), &v)?,
            None if !endpoints.flag("enabled-by-default", true)? => Access::None,
            None => Access::Unrestricted,
        };
        let max_permitted = match endpoints.get("access.max-permitted") {
            Some(v) => Access::parse(&endpoints.key("access.max-permitted"), &v)?,
            None => Access::Unrestricted,
        };
        let endpoint = section.child("endpoint");
        let endpoint_prefix = section.key("endpoint");
        let per_endpoint = section.settings().with_prefix(&endpoint_prefix);
        let mut endpoint_access = IndexMap::new();
        // The older `enabled` first, so that `access` wins where both are set.
        for (field, value) in per_endpoint.clone() {
            if let Some(id) = field.strip_suffix(".enabled") {
                let key = format!("{endpoint_prefix}.{id}.enabled");
                let enabled = match value.trim().to_ascii_lowercase().as_str() {
                    "true" => Access::Unrestricted,
                    "false" => Access::None,
                    _ => {
                        return Err(SettingsError::Invalid {
                            key,
                            value,
                            expected: "true or false".into(),
                        });
                    }
                };
                endpoint_access.insert(endpoint_id(id), enabled);
            }
        }
        for (field, value) in per_endpoint {
            if let Some(id) = field.strip_suffix(".access") {
                let key = format!("{endpoint_prefix}.{id}.access");
                endpoint_access.insert(endpoint_id(id), Access::parse(&key, &value)?);
            }
        }
        let health = endpoint.child("health");
        let show_details = match health.get("show-details") {
            Some(v) => Show::parse(&health.key("show-details"), &v)?,
            None => Show::Never,
        };
        let show_components = match health.get("show-components") {
            Some(v) => Show::parse(&health.key("show-components"), &v)?,
            None => show_details,
        };
        let include = exposure.list("include");
        let health_roles = health.list("roles");
        Ok(Self {
            include: if exposure.get("include").is_none() && include.is_empty() {
                vec!["health".to_owned()]
            } else {
                include
            },
            exclude: exposure.list("exclude"),
            default_access,
            max_permitted,
            endpoint_access,
            show_details,
            show_components,
            health_roles,
        })
    }
}

impl ManagementSettings {
    /// Whether the exposure settings put endpoint `id` on HTTP.
    pub fn exposed(&self, id: &str) -> bool {
        let id = endpoint_id(id);
        let names = |list: &[String]| list.iter().any(|n| n.trim() == "*" || endpoint_id(n) == id);
        names(&self.include) && !names(&self.exclude)
    }

    /// What of endpoint `id` is mapped over HTTP: [`Access::None`] unless it is exposed.
    pub fn access(&self, id: &str) -> Access {
        if !self.exposed(id) {
            return Access::None;
        }
        self.endpoint_access
            .get(&endpoint_id(id))
            .copied()
            .unwrap_or(self.default_access)
            .min(self.max_permitted)
    }
}

/// One actuator endpoint: its id (`gateway`), its root path for the `/actuator` index, and its
/// operations split into reads (`GET`) and writes (anything else) so that `read-only` access
/// maps only the first.
#[derive(Debug)]
pub struct Endpoint {
    /// The endpoint id the settings name (`health`, `refresh`, `gateway`).
    pub id: &'static str,
    /// Its root path, linked from `/actuator` (`/actuator/gateway`).
    pub path: &'static str,
    /// Its reading operations.
    pub read: Router,
    /// Its writing operations (may share paths with `read`, other methods).
    pub write: Router,
}

/// Who may use the actuator beyond health: the service's `spring.security.user`, when it has one.
#[derive(Debug, Clone, Default)]
pub struct ActuatorGuard {
    credentials: Option<Arc<(String, String)>>,
}

impl ActuatorGuard {
    /// A guard requiring `credentials` (`None`: the service has no security, everyone may).
    pub fn new(credentials: Option<(String, String)>) -> Self {
        Self {
            credentials: credentials.map(Arc::new),
        }
    }

    /// Whether security is on and `headers` carry the service's credentials.
    pub fn authorized(&self, headers: &HeaderMap) -> bool {
        self.credentials.as_deref().is_some_and(|(user, password)| {
            crate::security::basic_credentials_match(headers, user, password)
        })
    }

    /// Spring's "authorized" for `when-authorized`: the service's user (Basic), or a valid
    /// token (the resource server's [`Caller`](crate::security::Caller)) holding one of
    /// `roles` when there are any.
    pub fn authorized_for_health(
        &self,
        headers: &HeaderMap,
        extensions: &axum::http::Extensions,
        roles: &[String],
    ) -> bool {
        if self.authorized(headers) {
            return true;
        }
        let caller = crate::security::Caller::of(extensions);
        caller.principal().is_some_and(|principal| {
            roles.is_empty()
                || roles.iter().any(|role| {
                    principal.has_authority(role)
                        || principal.has_authority(&format!("ROLE_{role}"))
                })
        })
    }

    /// `router` behind the credentials, when security is on.
    fn protect(&self, router: Router) -> Router {
        if self.credentials.is_none() {
            return router;
        }
        router.layer(middleware::from_fn_with_state(self.clone(), require_user))
    }
}

async fn require_user(
    State(guard): State<ActuatorGuard>,
    request: Request,
    next: Next,
) -> Response {
    if guard.authorized(request.headers()) {
        return next.run(request).await;
    }
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, crate::security::CHALLENGE);
    response
}

/// What the actuator endpoints read.
#[derive(Debug, Clone)]
pub struct Actuator {
    /// The service's name for `/actuator/info`.
    pub name: String,
    /// The health components.
    pub health: HealthRegistry,
    /// The request metrics.
    pub metrics: Metrics,
    /// Exposure, access and health display.
    pub settings: ManagementSettings,
    /// Who counts as authorized.
    pub guard: ActuatorGuard,
}

impl Actuator {
    /// The actuator routes (the built-in endpoints and `extra` ones, such as the gateway's),
    /// as the exposure and access settings allow, to be merged into the service's router.
    pub fn routes(self, extra: Vec<Endpoint>) -> Router {
        let guard = self.guard.clone();
        let settings = self.settings.clone();
        let state = Arc::new(self);
        let mut endpoints = vec![
            Endpoint {
                id: "health",
                path: "/actuator/health",
                read: Router::new()
                    .route("/actuator/health", get(health))
                    .with_state(state.clone()),
                write: Router::new(),
            },
            Endpoint {
                id: "info",
                path: "/actuator/info",
                read: Router::new()
                    .route("/actuator/info", get(info))
                    .with_state(state.clone()),
                write: Router::new(),
            },
            Endpoint {
                id: "prometheus",
                path: "/actuator/prometheus",
                read: Router::new()
                    .route("/actuator/prometheus", get(prometheus))
                    .with_state(state.clone()),
                write: Router::new(),
            },
        ];
        endpoints.extend(extra);
        let mut router = Router::new();
        let mut links = Vec::new();
        for endpoint in endpoints {
            let access = settings.access(endpoint.id);
            if access == Access::None {
                continue;
            }
            let mut mapped = endpoint.read;
            if access == Access::Unrestricted {
                mapped = mapped.merge(endpoint.write);
            }
            if endpoint.id != "health" {
                mapped = guard.protect(mapped);
            }
            router = router.merge(mapped);
            links.push((endpoint.id, endpoint.path));
        }
        router.route(
            "/actuator",
            get(move |headers: HeaderMap, base: crate::hal::BaseUrl| {
                let links = links.clone();
                async move { index(&headers, &base, &links) }
            }),
        )
    }
}

/// Spring Boot's current actuator media type, its default answer.
pub const ACTUATOR_V3_JSON: &str = "application/vnd.spring-boot.actuator.v3+json";
/// The previous actuator media type, still produced on request.
pub const ACTUATOR_V2_JSON: &str = "application/vnd.spring-boot.actuator.v2+json";

/// The content type an actuator endpoint answers a request with these headers: the first of
/// v3, v2 and `application/json` that the `Accept` header admits, in the caller's order of
/// preference (v3 for a missing header or a wildcard), as Spring's endpoint mapping negotiates.
pub fn actuator_media_type(headers: &HeaderMap) -> &'static str {
    let mut ranges: Vec<(f32, String)> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|range| {
            let mut parts = range.split(';');
            let media = parts.next()?.trim().to_ascii_lowercase();
            let quality = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (!media.is_empty()).then_some((quality, media))
        })
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (_, media) in ranges {
        match media.as_str() {
            ACTUATOR_V3_JSON | "*/*" | "application/*" => return ACTUATOR_V3_JSON,
            ACTUATOR_V2_JSON => return ACTUATOR_V2_JSON,
            "application/json" => return "application/json",
            _ => {}
        }
    }
    ACTUATOR_V3_JSON
}

/// An actuator endpoint's JSON answer, in the negotiated actuator media type.
pub fn actuator_json(headers: &HeaderMap, status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(actuator_media_type(headers)),
        )],
        body.to_string(),
    )
        .into_response()
}

/// `/actuator`: links to the endpoints that are mapped.
fn index(headers: &HeaderMap, base: &crate::hal::BaseUrl, endpoints: &[(&str, &str)]) -> Response {
    let link = |path: &str| json!({ "href": base.href(path), "templated": false });
    let mut links = serde_json::Map::new();
    links.insert("self".into(), link("/actuator"));
    for (id, path) in endpoints {
        links.insert((*id).to_owned(), link(path));
    }
    actuator_json(headers, StatusCode::OK, &json!({ "_links": links }))
}

async fn health(State(actuator): State<Arc<Actuator>>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let headers = parts.headers;
    let (status, components) = actuator.health.check().await;
    let code = if status == Status::Up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let authorized = actuator.guard.authorized_for_health(
        &headers,
        &parts.extensions,
        &actuator.settings.health_roles,
    );
    let mut body = json!({ "status": status });
    if actuator.settings.show_components.allows(authorized) {
        let details = actuator.settings.show_details.allows(authorized);
        let components: serde_json::Map<String, Value> = components
            .into_iter()
            .map(|(name, health)| {
                let shown = if details {
                    json!(health)
                } else {
                    json!({ "status": health.status })
                };
                (name, shown)
            })
            .collect();
        body["components"] = Value::Object(components);
    }
    actuator_json(&headers, code, &body)
}

async fn info(State(actuator): State<Arc<Actuator>>, headers: HeaderMap) -> Response {
    let body = json!({
        "app": { "name": actuator.name },
        "build": { "name": "factura", "version": env!("CARGO_PKG_VERSION") },
    });
    actuator_json(&headers, StatusCode::OK, &body)
}

async fn prometheus(State(actuator): State<Arc<Actuator>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        actuator.metrics.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn actuator_media_types_are_negotiated_as_spring_does() {
        assert_eq!(actuator_media_type(&HeaderMap::new()), ACTUATOR_V3_JSON);
        assert_eq!(actuator_media_type(&accept("*/*")), ACTUATOR_V3_JSON);
        assert_eq!(
            actuator_media_type(&accept("application/json")),
            "application/json"
        );
        assert_eq!(
            actuator_media_type(&accept(
                "application/json;q=0.5, application/vnd.spring-boot.actuator.v2+json"
            )),
            ACTUATOR_V2_JSON
        );
        assert_eq!(
            actuator_media_type(&accept("text/html, application/json;q=0.9")),
            "application/json"
        );
    }
}
