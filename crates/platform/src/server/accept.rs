//! The accept loop every service serves from, and the bounds a server facing hostile clients
//! holds each connection to ([`ConnectionLimits`], Spring Boot's `server.*` keys):
//!
//! * at most `max-connections` connections at once; beyond that, new ones wait in the listen
//!   backlog (Tomcat's behaviour) instead of costing memory and descriptors;
//! * a new connection's first request head must arrive within the connection timeout, and the
//!   next one within the keep-alive timeout of the previous response ([`Activity`]): silent,
//!   trickling and idle connections are closed;
//! * a request body may pause at most the connection timeout between two reads
//!   ([`PauseLimitedBody`]), as Tomcat's socket timeout applies to body reads;
//! * request line and headers over `max-http-request-header-size` are answered 431 by hyper;
//! * a connection the server ends is closed lingering ([`WriteTracked`]), so a client still
//!   sending a refused body gets the answer instead of a reset.
//!
//! * with TLS (`server.ssl.*`), the handshake runs in the connection's own task, bounded by the
//!   handshake timeout, so a silent client never holds up the next connection.
//!
//! Graceful stop: when `stop` fires the listener closes, each connection finishes the request
//! it is serving and closes, and [`serve`] returns once all have.

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll, ready},
    time::Duration,
};

use axum::{Router, body::Body, extract::ConnectInfo};
use hyper::body::{Frame, Incoming};
use hyper_util::{rt::TokioExecutor, server::conn::auto::Builder};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpListener,
    time::{Instant, Sleep},
};
use tokio_util::sync::CancellationToken;

pub use crate::settings::ConnectionLimits;
use crate::tls::ServerTls;

/// The read buffer hyper never goes below: a header limit under it is rounded up.
const SMALLEST_READ_BUFFER: usize = 8192;

/// Serves `router` on `listener` under `limits` until `stop` fires and the open connections
/// have finished; with `tls`, each connection is TLS-terminated first.
pub async fn serve(
    listener: TcpListener,
    tls: Option<&ServerTls>,
    router: Router,
    limits: ConnectionLimits,
    stop: CancellationToken,
) -> io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .max_buf_size(limits.max_header_bytes.max(SMALLEST_READ_BUFFER));
    let builder = Arc::new(builder);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            () = stop.cancelled() => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_per_connection(&e) => continue,
                Err(e) => {
                    // Out of descriptors or memory: wait instead of spinning (as axum does).
                    tracing::warn!(error = %e, "accept failed; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let (builder, router, stop) = (builder.clone(), router.clone(), stop.clone());
        // The certificate in force when the connection arrives (a reload swaps it).
        let acceptor = tls.map(ServerTls::acceptor);
        connections.spawn(async move {
            match acceptor {
                None => serve_connection(&builder, stream, peer, router, limits, stop).await,
                Some(acceptor) => match acceptor.handshake(stream).await {
                    Ok(stream) => {
                        serve_connection(&builder, stream, peer, router, limits, stop).await;
                    }
                    Err(error) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                },
            }
            drop(slot);
        });
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Errors of one connection that `accept` reports; the listener itself is fine.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

async fn serve_connection<S>(
    builder: &Builder<TokioExecutor>,
    stream: S,
    peer: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    stop: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let io = WriteTracked {
        stream: Some(stream),
        activity: activity.clone(),
    };
    let body_timeout = limits.connection_timeout;
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let request = request.map(|body| match body_timeout {
            Some(timeout) => Body::new(PauseLimitedBody::new(body, timeout)),
            None => Body::new(body),
        });
        let call = tower::ServiceExt::oneshot(router.clone(), request);
        let started = RequestInFlight::start(requests.clone());
        async move {
            let response = call.await;
            if matches!(&response, Ok(r) if r.status() == hyper::StatusCode::SWITCHING_PROTOCOLS) {
                // The connection becomes a tunnel (WebSocket): its pauses are the peers' own.
                started.0.upgraded.store(true, Ordering::Relaxed);
            }
            drop(started);
            response
        }
    });
    let connection =
        builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(io), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = activity.waited_too_long_for_a_request(&limits) => {
            tracing::debug!(%peer, "closing a connection that sent no complete request in time");
            return;
        }
        () = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// What one connection is doing, for the deadline of its next request.
#[derive(Debug)]
struct Activity {
    /// When the connection was accepted: the origin of the millisecond clocks below.
    accepted: Instant,
    /// Requests whose handler has not answered yet.
    in_flight: AtomicUsize,
    /// Requests answered so far.
    answered: AtomicUsize,
    /// Whether the connection was upgraded (101): no request deadlines from then on.
    upgraded: std::sync::atomic::AtomicBool,
    /// Milliseconds after `accepted` of the last answer or the last bytes written: a response
    /// still being streamed is not an idle connection.
    busy_until_ms: AtomicU64,
    /// Signalled when a request starts or is answered.
    changed: tokio::sync::Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            accepted: Instant::now(),
            in_flight: AtomicUsize::new(0),
            answered: AtomicUsize::new(0),
            upgraded: std::sync::atomic::AtomicBool::new(false),
            busy_until_ms: AtomicU64::new(0),
            changed: tokio::sync::Notify::new(),
        }
    }

    fn mark_busy(&self) {
        let ms = u64::try_from(self.accepted.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.busy_until_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// When the connection's wait for its next request runs out: none while a handler runs,
    /// after an upgrade, or without a timeout. The first request has the connection timeout,
    /// each next one the keep-alive timeout, counted from the last answer or write; bytes the
    /// client trickles in do not extend it.
    fn request_deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        if self.in_flight.load(Ordering::Relaxed) > 0 || self.upgraded.load(Ordering::Relaxed) {
            return None;
        }
        let limit = if self.answered.load(Ordering::Relaxed) == 0 {
            limits.connection_timeout
        } else {
            limits.keep_alive_timeout
        }?;
        let busy = Duration::from_millis(self.busy_until_ms.load(Ordering::Relaxed));
        Some(self.accepted + busy + limit)
    }

    /// Resolves once the connection has waited longer than its deadline for a request.
    async fn waited_too_long_for_a_request(&self, limits: &ConnectionLimits) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.request_deadline(limits) {
                None => changed.await,
                Some(at) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {
                            // Writes since may have moved the deadline on.
                            if self.request_deadline(limits).is_some_and(|at| at <= Instant::now()) {
                                return;
                            }
                        }
                        () = changed => {}
                    }
                }
            }
        }
    }
}

/// Marks a request in flight for as long as it lives.
struct RequestInFlight(Arc<Activity>);

impl RequestInFlight {
    fn start(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        activity.changed.notify_one();
        Self(activity)
    }
}

impl Drop for RequestInFlight {
    fn drop(&mut self) {
        self.0.mark_busy();
        self.0.answered.fetch_add(1, Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.changed.notify_one();
    }
}

/// How long a closed connection keeps draining what the client still sends, at most…
const LINGER_FOR: Duration = Duration::from_secs(5);
/// …and how long it waits for the next bytes of it.
const LINGER_PAUSE: Duration = Duration::from_secs(1);

/// The socket of one connection, noting when bytes are written (see [`Activity`]), and
/// closed with a lingering close: when the server ends a connection whose client is still
/// sending (a body refused with 413 before it was read), closing at once would reset the
/// connection and the client could lose the answer already sent. Instead the write side is
/// shut down (the answer, then FIN) and what the client still sends is read and discarded
/// for a while ([`LINGER_FOR`]), as nginx and Apache do.
/// Over TLS the same holds for the encrypted stream (its shutdown sends `close_notify` first).
struct WriteTracked<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> {
    stream: Option<S>,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> WriteTracked<S> {
    fn stream(&mut self) -> Pin<&mut S> {
        Pin::new(self.stream.as_mut().expect("present until dropped"))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Drop for WriteTracked<S> {
    fn drop(&mut self) {
        let (Some(stream), Ok(runtime)) =
            (self.stream.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        runtime.spawn(linger(stream));
    }
}

async fn linger<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let _ = stream.shutdown().await;
    let until = Instant::now() + LINGER_FOR;
    let mut sink = vec![0u8; 16 * 1024];
    while Instant::now() < until {
        match tokio::time::timeout(LINGER_PAUSE, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncRead for WriteTracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.stream().poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncWrite for WriteTracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = ready!(self.stream().poll_write(cx, buf));
        self.activity.mark_busy();
        Poll::Ready(written)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = ready!(self.stream().poll_write_vectored(cx, bufs));
        self.activity.mark_busy();
        Poll::Ready(written)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(S::is_write_vectored)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream().poll_shutdown(cx)
    }
}

/// A body that fails when its sender pauses longer than `timeout` between two pieces of it
/// while the reader waits for them: a request body here (the connection timeout), a backend's
/// answer in the gateway (its response timeout).
#[derive(Debug)]
pub struct PauseLimitedBody {
    body: Incoming,
    timeout: Duration,
    pause: Option<Pin<Box<Sleep>>>,
}

impl PauseLimitedBody {
    /// `body`, allowed pauses of at most `timeout`.
    pub fn new(body: Incoming, timeout: Duration) -> Self {
        Self {
            body,
            timeout,
            pause: None,
        }
    }
}

/// The error a body that paused too long ends with.
#[derive(Debug, thiserror::Error)]
#[error("the body paused longer than its timeout ({0:?})")]
pub struct BodyTimedOut(Duration);

impl hyper::body::Body for PauseLimitedBody {
    type Data = bytes::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.pause = None;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let pause = this
                    .pause
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match pause.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut(timeout))))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}
