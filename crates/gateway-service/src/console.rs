//! The web console: plain HTML, CSS and JavaScript modules from `console/`, built into the
//! binary and served under `/console/` (and `/` redirected there) for requests no route
//! claims — as Spring Boot serves static resources after Spring Cloud Gateway's route mapping.
//!
//! The proxy reaches [`serve`] only on its "no route" branch, so routed requests never pay
//! for it. [`routes`] adds the console's own two endpoints, served like the actuator's:
//!
//! * `GET /console/api/registry`: the gateway's copy of the discovery registry (what it routes
//!   by) in Eureka's `GET /eureka/apps` JSON, so the System page needs no route to
//!   discovery-service (which does not register itself) and no access to it;
//! * `GET /console/api/health`: each registered instance's `/actuator/health` status (status
//!   only, asked by the gateway with a short timeout), which no balanced route can give;
//! * `GET /console/api/config`: how to sign in — the issuer the gateway's resource server trusts
//!   (`spring.security.oauth2.resourceserver.jwt.issuer-uri`, null without one) and the public
//!   client the console is (`factura.console.client-id`, `factura-console`).
//!
//! Every asset carries a strong `ETag` (a hash of its bytes) and `Cache-Control: no-cache`,
//! so browsers revalidate with `If-None-Match` and get a bodiless 304 until the binary
//! changes. Everything else the console reads is the public API, through the routes.

use std::{sync::LazyLock, time::Duration};

use axum::{
    Json, Router,
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header},
    routing::get,
};
use platform::{
    app::SharedSettings,
    discovery::{Format, InstanceInfo, RegistryCache, model::write_applications},
    tls::ClientTlsSettings,
};
use serde_json::{Value, json};

use crate::error::error_response;

/// Where the console is served.
pub const PREFIX: &str = "/console/";

/// How long an instance may take to answer its health check.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);
/// The most instances one health answer asks.
const MAX_INSTANCES: usize = 200;

/// What the console's endpoints read.
#[derive(Clone)]
struct ConsoleState {
    registry: RegistryCache,
    http: reqwest::Client,
    settings: SharedSettings,
}

/// The console's own endpoints, merged into the gateway's router; the health checks use the
/// clients' trust settings (`factura.ssl.client.*`).
pub fn routes(registry: RegistryCache, settings: SharedSettings) -> anyhow::Result<Router> {
    let http = ClientTlsSettings::platform(&settings.current())?
        .reqwest_builder()?
        .timeout(HEALTH_TIMEOUT)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    Ok(Router::new()
        .route("/console/api/registry", get(registry_view))
        .route("/console/api/health", get(instances_health))
        .route("/console/api/config", get(sign_in_config))
        .with_state(ConsoleState {
            registry,
            http,
            settings,
        }))
}

/// `{"issuer": …, "clientId": …}`, read from the live settings.
async fn sign_in_config(State(state): State<ConsoleState>) -> Json<Value> {
    let settings = state.settings.current();
    let issuer = settings
        .get("spring.security.oauth2.resourceserver.jwt.issuer-uri")
        .filter(|issuer| !issuer.is_empty());
    let client_id = settings
        .get("factura.console.client-id")
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| "factura-console".to_owned());
    Json(json!({ "issuer": issuer, "clientId": client_id }))
}

async fn registry_view(State(state): State<ConsoleState>) -> Response<Body> {
    let body = write_applications(&state.registry.snapshot(), Format::Json);
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(body))
        .expect("a valid response")
}

/// `{"instances": [{"app", "instanceId", "status"}]}`: `UP`, `DOWN`… as the instance's
/// health endpoint says, `UNREACHABLE` when it does not answer in time.
async fn instances_health(State(state): State<ConsoleState>) -> Json<Value> {
    let snapshot = state.registry.snapshot();
    let instances: Vec<&InstanceInfo> = snapshot
        .applications
        .iter()
        .flat_map(|app| &app.instances)
        .take(MAX_INSTANCES)
        .collect();
    let checks = instances.iter().map(|instance| {
        let http = state.http.clone();
        let url = health_url(instance);
        async move {
            let Some(url) = url else {
                return "UNKNOWN".to_owned();
            };
            match http
                .get(url)
                .header("accept", "application/json")
                .send()
                .await
            {
                Ok(response) => match response.json::<Value>().await {
                    Ok(body) => body["status"].as_str().unwrap_or("UNKNOWN").to_owned(),
                    Err(_) => "UNKNOWN".to_owned(),
                },
                Err(_) => "UNREACHABLE".to_owned(),
            }
        }
    });
    let statuses = futures_util::future::join_all(checks).await;
    let rows: Vec<Value> = instances
        .iter()
        .zip(statuses)
        .map(|(instance, status)| {
            json!({
                "app": instance.app,
                "instanceId": instance.effective_id(),
                "status": status,
            })
        })
        .collect();
    Json(json!({ "instances": rows }))
}

/// Where an instance says its health is (its https URL when it serves https).
fn health_url(instance: &InstanceInfo) -> Option<&str> {
    if instance.secure_port.enabled {
        instance.secure_health_check_url.as_deref()
    } else {
        instance.health_check_url.as_deref()
    }
}

/// One asset: its path under [`PREFIX`], its content type and its bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! assets {
    ($(($path:literal, $type:expr)),* $(,)?) => {
        &[$(Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!("../console/", $path)),
        }),*]
    };
}

const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: &[Asset] = assets![
    ("index.html", "text/html; charset=utf-8"),
    ("style.css", "text/css; charset=utf-8"),
    ("favicon.svg", "image/svg+xml"),
    ("js/app.js", JS),
    ("js/api.js", JS),
    ("js/ui.js", JS),
    ("js/money.js", JS),
    ("js/home.js", JS),
    ("js/entities.js", JS),
    ("js/bills.js", JS),
    ("js/new-bill.js", JS),
    ("js/system.js", JS),
    ("js/auth.js", JS),
];

/// Each asset's `ETag`, computed once.
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| HeaderValue::from_str(&format!("\"{:016x}\"", fnv1a(a.body))).expect("a hex tag"))
        .collect()
});

/// FNV-1a, 64 bits: stable across builds and platforms, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The console's answer to a request no route matched, or `None` when the path is not the
/// console's (`/`, `/console`, `/console/…`).
pub fn serve(method: &Method, path: &str, headers: &HeaderMap) -> Option<Response<Body>> {
    let asset = match path {
        "/" | "/console" => return Some(redirect(PREFIX)),
        "/console/" => "index.html",
        _ => path.strip_prefix(PREFIX)?,
    };
    if method != Method::GET && method != Method::HEAD {
        let mut response = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "The console is read with GET",
            path,
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Some(response);
    }
    let Some(index) = ASSETS.iter().position(|a| a.path == asset) else {
        return Some(error_response(
            StatusCode::NOT_FOUND,
            "No such console asset",
            path,
        ));
    };
    let (asset, etag) = (&ASSETS[index], &ETAGS[index]);
    let fresh = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/").as_bytes() == etag.as_bytes()
        });
    let builder = Response::builder()
        .header(header::ETAG, etag.clone())
        .header(header::CACHE_CONTROL, "no-cache")
        .header("x-content-type-options", "nosniff");
    let response = if fresh {
        builder.status(StatusCode::NOT_MODIFIED).body(Body::empty())
    } else {
        let builder = builder
            .header(header::CONTENT_TYPE, asset.content_type)
            .header(header::CONTENT_LENGTH, asset.body.len());
        let body = if method == Method::HEAD {
            Body::empty()
        } else {
            Body::from(asset.body)
        };
        builder.status(StatusCode::OK).body(body)
    };
    Some(response.expect("a valid response"))
}

fn redirect(to: &'static str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, to)
        .body(Body::empty())
        .expect("a valid redirect")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_distinct_tag() {
        let mut tags: Vec<_> = ETAGS.iter().collect();
        tags.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        tags.dedup();
        assert_eq!(tags.len(), ASSETS.len());
    }
}
