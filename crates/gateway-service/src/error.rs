//! The gateway's own error answers, in Spring Boot's error-body shape
//! (`timestamp`, `status`, `error`, `message`, `path`, written by platform), and how proxy
//! failures map to statuses.

use axum::{
    body::Body,
    http::{Response, StatusCode},
};

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

/// Spring Boot's error body, written by platform's one writer.
pub use platform::error::error_response;
