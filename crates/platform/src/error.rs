//! The one error type of the HTTP layer, and the one place error bodies are written.
//!
//! Handlers return `Result<_, ApiError>`. `ApiError::into_response` only decides the status and
//! stashes an [`ErrorDetail`] in the response extensions; `render_error_body`, run by the
//! server's observing middleware, then writes the body, because only it knows the request path that Spring Boot's
//! error body carries. The same middleware gives axum's own empty 404/405/413 responses a body,
//! so every error a client sees has one shape:
//!
//! * validation failures: Spring Data REST's `{"errors":[{entity, property, invalidValue, message}]}`;
//! * everything else: Spring Boot's `{"timestamp","status","error","message","path"}`.
//!
//! 5xx bodies never carry internal details; those go to the log with the request id.

use axum::{
    body::Body,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// One field that failed validation, in Spring Data REST's shape.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FieldError {
    /// The entity's simple name, e.g. `Customer`.
    pub entity: String,
    /// The property that is wrong.
    pub property: String,
    /// The value that was sent (null when absent).
    pub invalid_value: serde_json::Value,
    /// What is wrong with it.
    pub message: String,
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed (bad JSON, bad id, unknown sort property...).
    #[error("{0}")]
    BadRequest(String),
    /// 400: one or more fields are invalid.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 404: the addressed thing does not exist.
    #[error("{0}")]
    NotFound(String),
    /// 409: the write conflicts with existing data (unique key, reference, version).
    #[error("{0}")]
    Conflict(String),
    /// 412: `If-Match` did not match; carries the current ETag.
    #[error("precondition failed")]
    PreconditionFailed {
        /// The entity's current ETag.
        etag: String,
    },
    /// 413: the body is larger than allowed.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 422: the request is well-formed but cannot be done as asked (an idempotency key reused
    /// for a different request).
    #[error("{0}")]
    Unprocessable(String),
    /// 415: the body's media type is not one this endpoint reads.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 502: another service answered something unusable.
    #[error("{0}")]
    BadGateway(String),
    /// 503: a dependency (database, remote service) cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug or an unexpected failure; details are logged, never sent.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A 400 whose message names the problem.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }

    /// The HTTP status this error maps to.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::Validation(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// How a rule the database enforces (a trigger) starts its message: such an error is the
/// client's conflict with that rule, answered 409 with the rule's words.
pub const RULE_VIOLATION: &str = "rule: ";

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.message().starts_with(RULE_VIOLATION) => {
                ApiError::Conflict(db.message()[RULE_VIOLATION.len()..].to_owned())
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                ApiError::Conflict("a row with the same unique value already exists".into())
            }
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                ApiError::Conflict(
                    "the change would break a reference between rows (a referenced row is missing, or other rows still point at this one)".into(),
                )
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                tracing::error!(%error, "database unavailable");
                ApiError::Unavailable("the database is unavailable".into())
            }
            _ => ApiError::Internal(anyhow::Error::new(error).context("database error")),
        }
    }
}

/// What the body-rendering middleware needs to know about an error.
#[derive(Debug, Clone)]
pub enum ErrorDetail {
    /// Spring Boot's body with this message.
    Message(String),
    /// Spring Data REST's validation body.
    Validation(Vec<FieldError>),
    /// No body at all (304, 412).
    Empty,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = match self {
            ApiError::Validation(errors) => ErrorDetail::Validation(errors),
            ApiError::PreconditionFailed { etag } => {
                let mut response = status.into_response();
                let value = HeaderValue::from_str(&etag)
                    .ok()
                    .filter(|_| !etag.is_empty());
                if let Some(value) = value {
                    response.headers_mut().insert(header::ETAG, value);
                }
                response.extensions_mut().insert(ErrorDetail::Empty);
                return response;
            }
            ApiError::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "request failed");
                ErrorDetail::Message("An internal error occurred; see the service log.".into())
            }
            other => ErrorDetail::Message(other.to_string()),
        };
        let mut response = status.into_response();
        response.extensions_mut().insert(detail);
        response
    }
}

/// Spring Boot's default error body.
#[derive(Debug, Serialize)]
struct BootErrorBody<'a> {
    timestamp: String,
    status: u16,
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    path: &'a str,
    /// WebFlux's `DefaultErrorAttributes` add the request's id.
    #[serde(rename = "requestId", skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct ValidationBody<'a> {
    errors: &'a [FieldError],
}

/// Writes the body of an error response that does not have one yet; `path` is the request's.
/// Called for every response by the server's observing middleware ([`crate::server`]).
pub(crate) async fn render_error_body(path: &str, mut response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let detail = response.extensions_mut().remove::<ErrorDetail>();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match (detail, content_type) {
        (Some(ErrorDetail::Empty), _) => return response,
        (Some(ErrorDetail::Validation(errors)), _) => {
            serde_json::to_vec(&ValidationBody { errors: &errors })
        }
        (Some(ErrorDetail::Message(message)), _) => boot_body(status, Some(&message), path, None),
        // axum's own rejections (body limit, bad path encoding...) explain themselves in text;
        // keep their words, in the common shape.
        (None, Some(text)) if text.starts_with("text/plain") => {
            let (parts, body) = response.into_parts();
            let text = axum::body::to_bytes(body, 16 * 1024)
                .await
                .unwrap_or_default();
            let message = String::from_utf8_lossy(&text).trim().to_owned();
            response = Response::from_parts(parts, Body::empty());
            boot_body(status, Some(&message), path, None)
        }
        (None, Some(_)) => return response,
        (None, None) => boot_body(
            status,
            Some(&default_message(status, &response)),
            path,
            None,
        ),
    };
    let Ok(body) = body else { return response };
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// A complete error response with Spring Boot's default body
/// (`{timestamp,status,error,message,path}`): the one writer of that body, for code that answers
/// outside [`ApiError`] (the gateway's proxy).
pub fn error_response(status: StatusCode, message: &str, path: &str) -> Response {
    boot_error_response(status, path, Some(message), None)
}

/// Spring Boot's error body with its optional parts: `message` (left out unless
/// `server.error.include-message` asks for it) and WebFlux's `requestId`.
pub fn boot_error_response(
    status: StatusCode,
    path: &str,
    message: Option<&str>,
    request_id: Option<&str>,
) -> Response {
    let body = boot_body(status, message, path, request_id).unwrap_or_default();
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn boot_body(
    status: StatusCode,
    message: Option<&str>,
    path: &str,
    request_id: Option<&str>,
) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&BootErrorBody {
        timestamp: crate::time::now_iso(),
        status: status.as_u16(),
        error: status.canonical_reason().unwrap_or("Error"),
        message,
        path,
        request_id,
    })
}

fn default_message(status: StatusCode, response: &Response) -> String {
    match status {
        StatusCode::NOT_FOUND => "No resource at this path".into(),
        StatusCode::METHOD_NOT_ALLOWED => match response.headers().get(header::ALLOW) {
            Some(allow) => format!(
                "Method not supported here; allowed: {}",
                allow.to_str().unwrap_or_default()
            ),
            None => "Method not supported here".into(),
        },
        StatusCode::PAYLOAD_TOO_LARGE => "Request body too large".into(),
        StatusCode::REQUEST_TIMEOUT => "The request took too long".into(),
        other => other.canonical_reason().unwrap_or("Error").into(),
    }
}
