//! The HTTP stack every service runs behind, and graceful shutdown.
//!
//! Connections are accepted and bounded (timeouts, header size, how many at once) in
//! [`accept`]. Layers, outermost first: request id (`x-request-id`, generated when absent, echoed back),
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

use crate::{
    hal::{ForwardedHeaders, RequestScheme},
    metrics::Metrics,
    tls::ServerTls,
};

mod accept;
pub use accept::{BodyTimedOut, ConnectionLimits, PauseLimitedBody, serve};

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
    /// Whether the service serves TLS: links default to `https`.
    pub https: bool,
}

/// Wraps `router` in the common layers.
pub fn with_common_layers(router: Router, metrics: Metrics, options: &StackOptions) -> Router {
    let forwarded = ForwardedHeaders(options.forwarded_headers);
    let scheme = RequestScheme(if options.https { "https" } else { "http" });
    router
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
                .layer(middleware::from_fn_with_state(metrics, observe))
                .layer(CatchPanicLayer::new())
                .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, options.request_timeout))
                .layer(DefaultBodyLimit::max(options.max_body_bytes))
                .layer(axum::Extension(forwarded))
                .layer(axum::Extension(scheme)),
        )
}

tokio::task_local! {
    static CURRENT_REQUEST_ID: String;
}

/// The `x-request-id` of the request being handled by this task, for outgoing calls.
pub fn current_request_id() -> Option<String> {
    CURRENT_REQUEST_ID.try_with(Clone::clone).ok()
}

/// Middleware, one layer for what every request needs around it: the request id made
/// available to [`current_request_id`], error bodies written ([`crate::error`]), and the
/// request recorded in the metrics under its route template. One layer rather than three
/// keeps the per-request overhead down (each `from_fn` layer boxes a future and clones a
/// service).
async fn observe(
    axum::extract::State(metrics): axum::extract::State<Metrics>,
    request: Request<Body>,
    next: middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let template = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .cloned();
    let uri = request.uri().clone();
    let id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .map(str::to_owned);
    let response = match id {
        Some(id) => CURRENT_REQUEST_ID.scope(id, next.run(request)).await,
        None => next.run(request).await,
    };
    let response = crate::error::render_error_body(uri.path(), response).await;
    let status = response.status();
    let route = match &template {
        Some(template) => template.as_str(),
        None if status == StatusCode::NOT_FOUND => "NOT_FOUND",
        None => "UNKNOWN",
    };
    metrics.record(
        method,
        metrics.intern(route),
        status.as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Request ids unique across processes without a syscall per request: a random per-process
/// prefix (from the clock and pid at start) and a counter, e.g. `5f3a9c2e-000000000042`.
/// The one request-id scheme: every service's middleware and the gateway's proxy use it.
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

impl SequentialRequestId {
    /// The next id, written without allocating a `String` (the gateway asks once per request).
    pub fn next_id(&self) -> axum::http::HeaderValue {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut id = [b'-'; 21];
        for (i, digit) in id[..8].iter_mut().enumerate() {
            *digit = HEX[((self.prefix >> (28 - 4 * i)) & 0xf) as usize];
        }
        for (i, digit) in id[9..].iter_mut().enumerate() {
            *digit = HEX[((n >> (44 - 4 * i)) & 0xf) as usize];
        }
        axum::http::HeaderValue::from_bytes(&id)
            .unwrap_or_else(|_| axum::http::HeaderValue::from_static("-"))
    }
}

impl MakeRequestId for SequentialRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        Some(RequestId::new(self.next_id()))
    }
}

/// Binds `address` with `SO_REUSEPORT`, so that [`serve_on_each_core`] can add one listening
/// socket per core on the same port while this one already queues connections.
pub async fn bind_shared(address: &str) -> std::io::Result<tokio::net::TcpListener> {
    let mut last = std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address");
    for address in tokio::net::lookup_host(address).await? {
        // A plain bind first: the port must be free, so a second process asking for
        // SO_REUSEPORT (another copy of this service) is refused instead of sharing it.
        let address = match std::net::TcpListener::bind(address) {
            Ok(probe) => probe.local_addr()?,
            Err(e) => {
                last = e;
                continue;
            }
        };
        match reuse_port_listener(address) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn reuse_port_listener(address: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(address)?;
    socket.listen(1024)
}

/// Serves `router` on one current-thread runtime per core until `stop` is cancelled and
/// in-flight requests have finished; `limits` apply to each core's connections, with
/// `max-connections` shared out over the cores. The first runtime takes `listener` (bound by
/// [`bind_shared`]); each other one listens on the same address with its own `SO_REUSEPORT`
/// socket, so the kernel spreads new connections over the cores.
pub async fn serve_on_each_core(
    listener: tokio::net::TcpListener,
    tls: Option<ServerTls>,
    router: Router,
    limits: ConnectionLimits,
    stop: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    let mut first = Some(listener.into_std()?);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // `max-connections` is the service's bound: each core takes its share of it (the kernel
    // spreads new connections evenly over the listening sockets).
    let limits = ConnectionLimits {
        max_connections: limits.max_connections.div_ceil(cores),
        ..limits
    };
    let mut finished = Vec::with_capacity(cores);
    for core in 0..cores {
        let (router, stop, tls) = (router.clone(), stop.clone(), tls.clone());
        let inherited = first.take();
        let (done, finished_rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name(format!("serve-{core}"))
            .spawn(move || {
                let result = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .and_then(|runtime| {
                        runtime.block_on(async move {
                            let listener = match inherited {
                                Some(listener) => tokio::net::TcpListener::from_std(listener)?,
                                None => reuse_port_listener(address)?,
                            };
                            serve(listener, tls.as_ref(), router, limits, stop).await
                        })
                    });
                let _ = done.send(result);
            })?;
        finished.push(finished_rx);
    }
    for done in finished {
        done.await.unwrap_or(Ok(()))?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_prefix_and_counter_in_hex() {
        let ids = SequentialRequestId::new();
        let first = ids.next_id();
        let second = ids.next_id();
        let (prefix, counter) = first.to_str().unwrap().split_once('-').unwrap();
        assert_eq!((prefix.len(), counter), (8, "000000000000"));
        assert!(prefix.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            second.to_str().unwrap(),
            format!("{prefix}-000000000001"),
            "same prefix, next count"
        );
    }
}
