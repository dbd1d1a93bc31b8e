//! The HTTP stack every service runs behind, and graceful shutdown.
//!
//! Layers, outermost first: request id (`x-request-id`, generated when absent, echoed back),
//! a tracing span per request, panic catching (a panic becomes a 500, never a dead service),
//! a request timeout, error-body rendering, request metrics. Body sizes are capped by
//! `DefaultBodyLimit` so an oversize body is a 413, not an allocation.

use std::time::Duration;

use axum::{
    Router,
    body::Body,
    extract::{DefaultBodyLimit, Request},
    http::{HeaderName, StatusCode},
    middleware,
};
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use crate::{error::render_error_bodies, hal::ForwardedHeaders, metrics::Metrics};

/// The header that carries a request's id across service hops.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Knobs of the stack, read from settings by [`crate::app`].
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// How long one request may take before it is answered 408.
    pub request_timeout: Duration,
    /// Whether `X-Forwarded-*` headers shape links.
    pub forwarded_headers: bool,
}

/// Wraps `router` in the common layers.
pub fn with_common_layers(router: Router, metrics: Metrics, options: &StackOptions) -> Router {
    let forwarded = ForwardedHeaders(options.forwarded_headers);
    router
        .layer(middleware::from_fn_with_state(metrics, crate::metrics::track_requests))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, SequentialRequestId::new()))
                .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<Body>| {
                    let id = request
                        .extensions()
                        .get::<RequestId>()
                        .and_then(|id| id.header_value().to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", method = %request.method(), uri = %request.uri().path(), request_id = %id)
                }))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(middleware::from_fn(render_error_bodies))
                .layer(CatchPanicLayer::new())
                .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, options.request_timeout))
                .layer(DefaultBodyLimit::max(options.max_body_bytes))
                .layer(axum::Extension(forwarded)),
        )
}

/// Request ids unique across processes without a syscall per request: a random per-process
/// prefix (from the clock and pid at start) and a counter, e.g. `5f3a9c2e-000000000042`.
#[derive(Debug, Clone)]
pub struct SequentialRequestId {
    prefix: u32,
    next: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl SequentialRequestId {
    /// A generator with a fresh prefix.
    pub fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32).rotate_left(16))
            .unwrap_or(0);
        Self {
            prefix: nanos ^ std::process::id().rotate_left(8),
            next: Default::default(),
        }
    }
}

impl Default for SequentialRequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl MakeRequestId for SequentialRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("{:08x}-{n:012x}", self.prefix);
        axum::http::HeaderValue::from_str(&id)
            .ok()
            .map(RequestId::new)
    }
}

/// Resolves when the process is asked to stop (Ctrl-C / SIGINT or SIGTERM).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
