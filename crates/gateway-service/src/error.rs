//! The gateway's own error answers, in Spring Boot's error-body shape, written by platform (`timestamp`, `path`,
//! `status`, `error`, `requestId`, and `message` only with `server.error.include-message=always`,
//! as Spring Boot leaves it out by default), and how proxy failures map to statuses.

use axum::{
    body::Body,
    http::{Response, StatusCode},
};

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
        /// Whether the last failure was the backend's TLS certificate being refused.
        untrusted_certificate: bool,
    },
    /// The backend did not answer within the response timeout (504).
    Timeout,
    /// The backend broke the exchange (502).
    Upstream(String),
    /// A circuit breaker refused the call (503).
    CircuitOpen(String),
    /// The rewritten request could not be formed (400).
    BadRequest(String),
    /// The client's own request body failed on its way through (400, 408 for a pause).
    ClientBody(ClientFault),
}

/// What was wrong with a client's request body, seen while it streamed upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFault {
    /// Malformed framing (a bad chunk), or the client broke the connection.
    Malformed,
    /// The client paused longer than the connection timeout.
    TimedOut,
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
            // The details (addresses, the HTTP client's own words) go to the log, never to
            // the client.
            Self::Connect {
                balanced,
                untrusted_certificate,
                ..
            } => (
                if *balanced {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::BAD_GATEWAY
                },
                if *untrusted_certificate {
                    "The backend's TLS certificate is not trusted".into()
                } else {
                    "Connection refused by the backend".into()
                },
            ),
            Self::Timeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "The backend did not answer in time".into(),
            ),
            Self::Upstream(_) => (
                StatusCode::BAD_GATEWAY,
                "The backend failed to answer".into(),
            ),
            Self::CircuitOpen(name) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("Circuit breaker `{name}` is open"),
            ),
            Self::BadRequest(detail) => (StatusCode::BAD_REQUEST, detail.clone()),
            Self::ClientBody(ClientFault::Malformed) => (
                StatusCode::BAD_REQUEST,
                "The request body is malformed".into(),
            ),
            Self::ClientBody(ClientFault::TimedOut) => (
                StatusCode::REQUEST_TIMEOUT,
                "The request body did not arrive in time".into(),
            ),
        }
    }

    /// The client's answer.
    pub fn into_response(self, path: &str) -> Response<Body> {
        let (status, message) = self.status_and_message();
        error_response(status, &message, path)
    }
}

/// A JSON error body for `status`, through platform's one writer; `message` shows only when
/// the settings ask for it, `requestId` when the request's context is known (WebFlux's shape).
pub fn error_response(status: StatusCode, message: &str, path: &str) -> Response<Body> {
    let context = ANSWERING.try_with(Clone::clone).ok();
    let message = context
        .as_ref()
        .is_some_and(|c| c.include_message)
        .then_some(message);
    platform::error::boot_error_response(
        status,
        path,
        message,
        context.as_ref().map(|c| c.request_id.as_str()),
    )
}
