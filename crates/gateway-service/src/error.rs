//! The gateway's own error answers, in Spring Boot's error-body shape (`timestamp`, `path`,
//! `status`, `error`, `requestId`, and `message` only with `server.error.include-message=always`,
//! as Spring Boot leaves it out by default), and how proxy failures map to statuses.

use axum::{
    body::Body,
    http::{HeaderValue, Response, StatusCode, header},
};
use serde_json::json;

tokio::task_local! {
    /// The request being answered, for the error bodies written while it is.
    static ANSWERING: ErrorContext;
}

/// What an error body needs to know of the request it answers.
#[derive(Debug, Clone)]
pub struct ErrorContext {
    /// The request's id (`requestId`).
    pub request_id: String,
    /// `server.error.include-message=always`.
    pub include_message: bool,
}

impl ErrorContext {
    /// Runs `answer` with this context in force for its error bodies.
    pub async fn scope<F: std::future::Future>(self, answer: F) -> F::Output {
        ANSWERING.scope(self, answer).await
    }

    /// Runs `answer` (synchronous) with this context in force.
    pub fn sync_scope<R>(self, answer: impl FnOnce() -> R) -> R {
        ANSWERING.sync_scope(self, answer)
    }
}

/// Why a proxied call failed, and on which side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyError {
    /// `lb://SERVICE` has no UP instance (503).
    NoInstance(String),
    /// No instance accepted a connection (503 for `lb://`, 502 for a fixed URI).
    Connect {
        /// Whether the route balanced over instances.
        balanced: bool,
        /// What the connector said.
        detail: String,
    },
    /// The backend did not answer within the response timeout (504).
    Timeout,
    /// The backend broke the exchange (502).
    Upstream(String),
    /// A circuit breaker refused the call (503).
    CircuitOpen(String),
    /// The rewritten request could not be formed (400).
    BadRequest(String),
}

impl ProxyError {
    /// Whether it is an I/O-like failure a Retry filter may repeat.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Connect { .. } | Self::Timeout | Self::Upstream(_)
        )
    }

    /// The status and message the client gets.
    pub fn status_and_message(&self) -> (StatusCode, String) {
        match self {
            Self::NoInstance(service) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("Unable to find instance for {service}"),
            ),
            Self::Connect { balanced, detail } => (
                if *balanced {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::BAD_GATEWAY
                },
                format!("Connection refused by the backend: {detail}"),
            ),
            Self::Timeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "The backend did not answer in time".into(),
            ),
            Self::Upstream(detail) => (
                StatusCode::BAD_GATEWAY,
                format!("The backend failed: {detail}"),
            ),
            Self::CircuitOpen(name) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("Circuit breaker `{name}` is open"),
            ),
            Self::BadRequest(detail) => (StatusCode::BAD_REQUEST, detail.clone()),
        }
    }

    /// The client's answer.
    pub fn into_response(self, path: &str) -> Response<Body> {
        let (status, message) = self.status_and_message();
        error_response(status, &message, path)
    }
}

/// A JSON error body for `status`; `message` shows only when the settings ask for it.
pub fn error_response(status: StatusCode, message: &str, path: &str) -> Response<Body> {
    let mut body = json!({
        "timestamp": platform::time::now_iso(),
        "path": path,
        "status": status.as_u16(),
        "error": status.canonical_reason().unwrap_or("Error"),
    });
    let context = ANSWERING.try_with(Clone::clone).ok();
    if let Some(context) = context {
        if context.include_message {
            body["message"] = json!(message);
        }
        body["requestId"] = json!(context.request_id);
    }
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
