//! The backend both gateways route to: an echo server that answers with what it received
//! (method, raw path and query, headers, body), so what each gateway forwarded can be compared,
//! plus a few behaviours the filters need (chosen by query parameters), and its registration
//! in the registry both gateways read.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderValue, Response, StatusCode},
};
use serde_json::{Value, json};
use testkit::eureka::Registration;

/// A running echo backend.
pub(crate) struct Echo {
    pub(crate) addr: SocketAddr,
}

/// Calls seen per `key` query parameter, for `fail=N` (fail the first N calls of a key).
type Calls = Arc<Mutex<HashMap<String, usize>>>;

impl Echo {
    /// Starts the echo server on 127.0.0.1:0.
    ///
    /// Query parameters steer it: `status=NNN` answers that status, `sleep=MS` waits first,
    /// `fail=N&key=K` answers 500 to the first N calls carrying key K. Every answer carries
    /// `X-Backend-Url` (for RewriteResponseHeader) and `X-Dup: a, a, b` (for
    /// DedupeResponseHeader).
    pub(crate) async fn start() -> Self {
        let calls: Calls = Arc::default();
        let router = axum::Router::new().fallback(echo).with_state(calls);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the echo backend");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { addr }
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v))
}

async fn echo(State(calls): State<Calls>, request: Request) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let query = parts.uri.query().unwrap_or("");
    if let Some(ms) = query_param(query, "sleep").and_then(|v| v.parse().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let mut status = query_param(query, "status")
        .and_then(|v| v.parse().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::OK);
    let mut call = 0;
    if let Some(key) = query_param(query, "key") {
        let mut calls = calls.lock().expect("calls lock");
        let seen = calls.entry(key.to_owned()).or_default();
        *seen += 1;
        call = *seen;
        let failures: usize = query_param(query, "fail")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if call <= failures {
            status = StatusCode::INTERNAL_SERVER_ERROR;
        }
    }
    // Framing belongs to each hop (a client may send a body with a length or in chunks, or
    // state a zero length); the body itself is compared instead.
    let headers =
        testkit::headers_as_json(&parts.headers, &["content-length", "transfer-encoding"]);
    let answer = json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
        "call": call,
    });
    let mut response = Response::new(Body::from(answer.to_string()));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert(
        "x-backend-url",
        HeaderValue::from_static("http://backend.internal/a?password=secret&x=1"),
    );
    for value in ["a", "a", "b"] {
        h.append("x-dup", HeaderValue::from_static(value));
    }
    response
}

/// Registers an instance of `app` at `addr` with the Eureka server at `discovery`, with a
/// long lease (the test does not renew it) and `metadata`.
pub(crate) async fn register(discovery: SocketAddr, app: &str, addr: SocketAddr, metadata: Value) {
    let body = Registration::new(app, "127.0.0.1", addr.port())
        .lease_duration(3600)
        .metadata(metadata)
        .json();
    let response = reqwest::Client::new()
        .post(format!("http://{discovery}/eureka/apps/{app}"))
        .json(&body)
        .send()
        .await
        .expect("register with the discovery-service");
    assert_eq!(response.status().as_u16(), 204, "registering {app}");
}
