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

use std::{future::Future, pin::Pin, sync::Arc, sync::RwLock};

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Value, json};

use crate::metrics::Metrics;

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

/// What the actuator endpoints read.
#[derive(Debug, Clone)]
pub struct Actuator {
    /// The service's name for `/actuator/info`.
    pub name: String,
    /// The health components.
    pub health: HealthRegistry,
    /// The request metrics.
    pub metrics: Metrics,
}

impl Actuator {
    /// The actuator routes, to be merged into the service's router.
    pub fn routes(self) -> Router {
        Router::new()
            .route("/actuator", get(index))
            .route("/actuator/health", get(health))
            .route("/actuator/info", get(info))
            .route("/actuator/prometheus", get(prometheus))
            .with_state(Arc::new(self))
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

async fn index(headers: HeaderMap, base: crate::hal::BaseUrl) -> Response {
    let link = |path: &str| json!({ "href": base.href(path), "templated": false });
    let body = json!({ "_links": {
        "self": link("/actuator"),
        "health": link("/actuator/health"),
        "info": link("/actuator/info"),
        "prometheus": link("/actuator/prometheus"),
        "refresh": link("/actuator/refresh"),
    }});
    actuator_json(&headers, StatusCode::OK, &body)
}

async fn health(State(actuator): State<Arc<Actuator>>, headers: HeaderMap) -> Response {
    let (status, components) = actuator.health.check().await;
    let code = if status == Status::Up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    actuator_json(
        &headers,
        code,
        &json!({ "status": status, "components": components }),
    )
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
