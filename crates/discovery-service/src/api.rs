//! The Eureka REST surface, under `/eureka/` and `/eureka/v2/` (any version segment).
//!
//! Paths are dispatched by hand rather than by the router so that Eureka's path quirks hold:
//! a trailing slash and doubled slashes are ignored, segments are percent-decoded
//! (`127.0.0.1%3Apy-svc%3A9090`), app names are case-insensitive. Replies are JSON when `Accept`
//! contains `json`, XML otherwise; request bodies are JSON or XML by their Content-Type (sniffed
//! when absent), anything else is 415. Heartbeat and cancel answers carry **no body** — Eureka
//! clients fail on one — so the platform's error-body middleware is told to leave them alone;
//! so are the Java server's own error shapes: a bare-text reason for a registration it refuses,
//! `{"error": "cannot parse request body"}` (or its XML) for a body it cannot read. The full
//! registry and the delta are gzip-compressed for clients that accept it, as Eureka does.

use std::{borrow::Cow, sync::Arc};

use axum::{
    Router,
    body::Bytes,
    extract::{Request, State},
    http::{HeaderMap, Method, StatusCode, Uri, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use platform::{
    discovery::model::{self, Format, Status},
    error::ErrorDetail,
};

use crate::{
    dashboard,
    payload::Payload,
    registry::{Registry, RenewOutcome},
    replication::{self, REPLICATION_HEADER},
    state::AppState,
};

/// The discovery routes: the Eureka API and the dashboard.
pub fn routes(state: Arc<AppState>, dashboard_path: &str) -> Router {
    let mut router = Router::new()
        .route("/eureka", any(eureka))
        .route("/eureka/", any(eureka))
        .route("/eureka/{*rest}", any(eureka));
    if state.dashboard.enabled {
        router = router
            .route(dashboard_path, get(dashboard::page))
            .route("/lastn", get(dashboard::last_n));
    }
    router
        .layer(middleware::from_fn_with_state(state.clone(), basic_auth))
        .with_state(state)
}

/// Optional HTTP basic auth on everything but the actuator.
async fn basic_auth(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Some((user, password)) = &state.auth else {
        return next.run(request).await;
    };
    if platform::security::basic_credentials_match(request.headers(), user, password) {
        return next.run(request).await;
    }
    let mut response = (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "text/plain")],
        "Full authentication is required to access this resource",
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, platform::security::CHALLENGE);
    response
}

/// A response with no body (and, for errors, no rendered error body either).
fn empty(status: StatusCode) -> Response {
    let mut response = status.into_response();
    if status.is_client_error() || status.is_server_error() {
        response.extensions_mut().insert(ErrorDetail::Empty);
    }
    response
}

/// A plain-text reason, rendered by the platform into Spring Boot's error body.
fn reason(status: StatusCode, text: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain")], text.into()).into_response()
}

/// A 400 with the bare-text reason the Java server gives for a registration it refuses
/// (`Missing ip address`), left as it is by the error-body middleware.
fn refused(text: impl Into<String>) -> Response {
    let mut response = (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/plain")],
        text.into(),
    )
        .into_response();
    response.extensions_mut().insert(ErrorDetail::Empty);
    response
}

/// The Java server's answer to a body it cannot read, in the body's own format:
/// `{"error": "cannot parse request body"}` or `<error><message>…</message></error>`.
fn unreadable(format: Format, detail: &dyn std::fmt::Display) -> Response {
    tracing::debug!(%detail, "unreadable Eureka request body");
    let body = match format {
        Format::Json => r#"{"error": "cannot parse request body"}"#,
        Format::Xml => "<error><message>cannot parse request body</message></error>",
    };
    let mut response = (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, format.content_type())],
        body,
    )
        .into_response();
    response.extensions_mut().insert(ErrorDetail::Empty);
    response
}

fn payload(format: Format, body: impl Into<Bytes>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, format.content_type())],
        body.into(),
    )
        .into_response()
}

fn chunked(format: Format, body: Payload, gzip: bool) -> Response {
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, format.content_type())],
        body.into_body(),
    )
        .into_response();
    if gzip {
        response.headers_mut().insert(
            header::CONTENT_ENCODING,
            axum::http::HeaderValue::from_static("gzip"),
        );
    }
    response
}

/// Whether `Accept-Encoding` mentions gzip (the test the Java server makes).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().any(|v| {
        v.as_bytes()
            .windows(4)
            .any(|w| w.eq_ignore_ascii_case(b"gzip"))
    })
}

/// JSON if `Accept` mentions json anywhere, else XML (py_eureka_client sends no Accept).
fn response_format(headers: &HeaderMap) -> Format {
    let wants_json = headers.get_all(header::ACCEPT).iter().any(|v| {
        v.as_bytes()
            .windows(4)
            .any(|w| w.eq_ignore_ascii_case(b"json"))
    });
    if wants_json {
        Format::Json
    } else {
        Format::Xml
    }
}

/// The syntax of a request body; `Err` names an unsupported Content-Type (415).
fn request_format(headers: &HeaderMap, body: &[u8]) -> Result<Format, String> {
    match headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        Some(ct) => {
            let ct = ct.to_ascii_lowercase();
            let essence = ct.split(';').next().unwrap_or_default().trim();
            if essence.contains("json") {
                Ok(Format::Json)
            } else if essence.contains("xml") {
                Ok(Format::Xml)
            } else {
                Err(format!(
                    "Content-Type {essence} is not supported; send application/json or application/xml"
                ))
            }
        }
        None => match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'<') => Ok(Format::Xml),
            _ => Ok(Format::Json),
        },
    }
}

fn query_pairs(uri: &Uri) -> url::form_urlencoded::Parse<'_> {
    url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
}

fn query_value<'a>(uri: &'a Uri, name: &str) -> Option<Cow<'a, str>> {
    query_pairs(uri)
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The first segments the API knows; anything else in first place is a version (`v2`).
const ROOTS: [&str; 6] = [
    "apps",
    "instances",
    "vips",
    "svips",
    "peerreplication",
    "status",
];

fn segments(uri: &Uri) -> Vec<Cow<'_, str>> {
    let mut parts: Vec<Cow<'_, str>> = uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy())
        .collect();
    if parts.first().map(AsRef::as_ref) == Some("eureka") {
        parts.remove(0);
    }
    if parts.len() > 1 && !ROOTS.contains(&parts[0].as_ref()) {
        parts.remove(0);
    }
    parts
}

/// Reads a request body up to `limit` bytes: 413 beyond it, 400 when it cannot be read.
async fn read_body(body: axum::body::Body, limit: usize) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
        while let Some(cause) = source {
            if cause.is::<http_body_util::LengthLimitError>() {
                return reason(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
            }
            source = cause.source();
        }
        reason(StatusCode::BAD_REQUEST, "cannot read request body")
    })
}

async fn eureka(State(state): State<Arc<AppState>>, request: Request) -> Response {
    // Taken apart rather than extracted piece by piece: no header map copy on the hot path.
    let (head, body) = request.into_parts();
    let body = if head.method == Method::POST {
        match read_body(body, state.max_body_bytes).await {
            Ok(bytes) => bytes,
            Err(response) => return response,
        }
    } else {
        Bytes::new()
    };
    let (method, uri, headers) = (&head.method, &head.uri, &head.headers);
    let parts = segments(uri);
    let parts: Vec<&str> = parts.iter().map(AsRef::as_ref).collect();
    let replicated = headers
        .get(REPLICATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let format = response_format(headers);
    let registry = &state.registry;
    let last_dirty =
        || query_value(uri, "lastDirtyTimestamp").and_then(|v| v.trim().parse::<i64>().ok());

    match (method, parts.as_slice()) {
        (&Method::GET, ["apps"]) => {
            let gzip = accepts_gzip(headers);
            chunked(format, registry.payload(false, format, gzip), gzip)
        }
        (&Method::GET, ["apps", "delta"]) => {
            let gzip = accepts_gzip(headers);
            chunked(format, registry.payload(true, format, gzip), gzip)
        }
        (&Method::GET, ["apps", app]) => match registry.application(app) {
            Some(application) => payload(format, model::write_application(&application, format)),
            None => empty(StatusCode::NOT_FOUND),
        },
        (&Method::POST, ["apps", app]) => register(registry, app, headers, &body, replicated),
        (&Method::GET, ["apps", app, id]) => match registry.instance(app, id) {
            Some(instance) => payload(format, model::write_instance(&instance, format)),
            None => empty(StatusCode::NOT_FOUND),
        },
        (&Method::PUT, ["apps", app, id]) => {
            let overridden = query_value(uri, "overriddenstatus").and_then(|v| Status::parse(&v));
            match registry.renew(app, id, replicated, last_dirty(), overridden) {
                RenewOutcome::Renewed => empty(StatusCode::OK),
                RenewOutcome::NotFound => empty(StatusCode::NOT_FOUND),
                RenewOutcome::Conflict(ours) => {
                    let mut response = payload(format, model::write_instance(&ours, format));
                    *response.status_mut() = StatusCode::CONFLICT;
                    response
                }
            }
        }
        (&Method::DELETE, ["apps", app, id]) => found(registry.cancel(app, id, replicated)),
        (&Method::PUT, ["apps", app, id, "status"]) => {
            match query_value(uri, "value").and_then(|v| Status::parse(&v)) {
                Some(status) => {
                    found(registry.set_status_override(app, id, status, last_dirty(), replicated))
                }
                None => reason(
                    StatusCode::BAD_REQUEST,
                    "Missing or invalid status value: expected value=UP|DOWN|STARTING|OUT_OF_SERVICE|UNKNOWN",
                ),
            }
        }
        (&Method::DELETE, ["apps", app, id, "status"]) => {
            let fallback = match query_value(uri, "value") {
                None => Status::Unknown,
                Some(raw) => match Status::parse(&raw) {
                    Some(status) => status,
                    None => {
                        return reason(
                            StatusCode::BAD_REQUEST,
                            format!("Invalid status value `{raw}`"),
                        );
                    }
                },
            };
            found(registry.delete_status_override(app, id, fallback, last_dirty(), replicated))
        }
        (&Method::PUT, ["apps", app, id, "metadata"]) => {
            let mut entries: Vec<(String, String)> = Vec::new();
            for (key, value) in query_pairs(uri) {
                if !entries.iter().any(|(k, _)| *k == key) {
                    entries.push((key.into_owned(), value.into_owned()));
                }
            }
            found(registry.update_metadata(app, id, entries))
        }
        (&Method::GET, ["instances", id]) => match registry.instance_anywhere(id) {
            Some(instance) => payload(format, model::write_instance(&instance, format)),
            None => empty(StatusCode::NOT_FOUND),
        },
        (&Method::GET, ["vips", vip]) => payload(
            format,
            model::write_applications(&registry.vip(vip, false), format),
        ),
        (&Method::GET, ["svips", vip]) => payload(
            format,
            model::write_applications(&registry.vip(vip, true), format),
        ),
        (&Method::POST, ["peerreplication", "batch"]) => {
            // Peers send JSON; the answer is negotiated like any other.
            let parsed: Result<serde_json::Value, _> = serde_json::from_slice(&body);
            match parsed
                .map_err(|e| e.to_string())
                .and_then(|v| replication::apply_batch(registry, &v))
            {
                Ok(answer) => payload(format, answer.write(format)),
                Err(error) => unreadable(Format::Json, &error),
            }
        }
        (&Method::GET, ["status"]) => {
            let stats = registry.stats();
            let body = serde_json::json!({
                "instances": stats.instances,
                "renewsThreshold": stats.renews_threshold,
                "renewsLastMin": stats.renews_last_minute,
                "leaseExpirationEnabled": stats.lease_expiration_enabled,
                "peers": state.peers.list().iter().map(|p| serde_json::json!({
                    "url": p.url.display(), "available": p.is_available()
                })).collect::<Vec<_>>(),
            });
            payload(Format::Json, body.to_string())
        }
        (_, path) if is_known(path) => empty(StatusCode::METHOD_NOT_ALLOWED),
        _ => empty(StatusCode::NOT_FOUND),
    }
}

fn is_known(path: &[&str]) -> bool {
    matches!(
        path,
        ["apps"]
            | ["apps", _]
            | ["apps", _, _]
            | ["apps", _, _, "status" | "metadata"]
            | ["instances", _]
            | ["vips" | "svips", _]
            | ["peerreplication", "batch"]
            | ["status"]
    )
}

fn found(found: bool) -> Response {
    empty(if found {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    })
}

fn register(
    registry: &Registry,
    app: &str,
    headers: &HeaderMap,
    body: &[u8],
    replicated: bool,
) -> Response {
    let format = match request_format(headers, body) {
        Ok(format) => format,
        Err(why) => return reason(StatusCode::UNSUPPORTED_MEDIA_TYPE, why),
    };
    let mut instance = match model::read_instance(body, format) {
        Ok(instance) => instance,
        Err(error) => return unreadable(format, &error),
    };
    if instance.app.is_empty() {
        // Some clients only name the app in the URL; the URL is authoritative then.
        instance.app = app.to_ascii_uppercase();
    }
    if let Err(why) = instance.validate_for_register(app) {
        return refused(why);
    }
    registry.register(instance, replicated);
    empty(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn paths_are_normalised() {
        let uri: Uri = "/eureka/v2//apps/py-svc/127.0.0.1%3Apy-svc%3A9090/"
            .parse()
            .expect("uri");
        assert_eq!(segments(&uri), ["apps", "py-svc", "127.0.0.1:py-svc:9090"]);
        let uri: Uri = "/eureka/apps/".parse().expect("uri");
        assert_eq!(segments(&uri), ["apps"]);
    }

    #[test]
    fn negotiation_defaults_to_xml() {
        let mut headers = HeaderMap::new();
        assert_eq!(response_format(&headers), Format::Xml);
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        assert_eq!(response_format(&headers), Format::Xml);
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/vnd+json;q=0.9"),
        );
        assert_eq!(response_format(&headers), Format::Json);
    }
}
