//! The forward step of the request path: one call to the backend through the pooled client,
//! over the instances of an `lb://` service while connections are refused, wrapped in the
//! route's Retry and CircuitBreaker filters (retry ∘ circuit breaker ∘ forward).
//!
//! Bodies stream in both directions; a request body is buffered only when it may have to be
//! sent again (another instance after a refused connection, a Retry, a fallback) and is small
//! ([`REPLAY_LIMIT`]); larger ones get exactly one attempt. Failures: no instance → 503,
//! refused by every instance → 503 (`lb://`) or 502, no answer within the response timeout →
//! 504, a broken exchange → 502.

use std::{collections::HashMap, future::Future, pin::Pin, sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{
        HeaderMap, Method, Request, Response, StatusCode, Uri,
        uri::{Authority, Parts as UriParts, PathAndQuery, Scheme},
    },
};
use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::Body as _;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use platform::{
    balancer::LoadBalancer,
    settings::{DurationUnit, SettingsError},
    tls::ClientTlsSettings,
};

use crate::{
    definition::{NEW_PREFIX, OLD_PREFIX, gateway_section},
    error::{ClientFault, ProxyError},
    filter::Filter,
    headers::remove_hop_by_hop,
    table::{Route, Target},
};

/// `spring.cloud.gateway[.server.webflux].httpclient.*`, bound once: the backend client's
/// timeouts, which a route's `connect-timeout`/`response-timeout` metadata override.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpClientSettings {
    /// `connect-timeout`, whole milliseconds as Spring's `Integer` (Netty's 30 s by default).
    pub connect_timeout: Duration,
    /// `response-timeout`, a `Duration` (`5s`, `PT5S`; bare numbers are milliseconds): how long
    /// the backend may take to start answering, and then pause between two pieces of its
    /// answer, as Reactor Netty's. Spring has no default; factura waits 60 s (a frozen backend
    /// costs a 504, never a hung client); `0` or `-1` waits forever.
    pub response_timeout: Option<Duration>,
}

/// The response timeout when none is configured (Spring waits forever; see
/// [`HttpClientSettings::response_timeout`]).
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for HttpClientSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(30),
            response_timeout: Some(DEFAULT_RESPONSE_TIMEOUT),
        }
    }
}

impl HttpClientSettings {
    /// The section under the new prefix, field by field falling back to the old one.
    pub fn from_settings(
        settings: &platform::Settings,
    ) -> Result<Self, platform::settings::SettingsError> {
        gateway_section(settings, "httpclient").bind()
    }
}

impl platform::settings::FromSection for HttpClientSettings {
    fn from_section(
        section: &platform::settings::Section<'_>,
    ) -> Result<Self, platform::settings::SettingsError> {
        let defaults = Self::default();
        let response_timeout = match section.get("response-timeout").as_deref().map(str::trim) {
            None => defaults.response_timeout,
            Some("-1" | "0") => None,
            Some(_) => Some(section.duration_or(
                "response-timeout",
                platform::settings::DurationUnit::Millis,
                DEFAULT_RESPONSE_TIMEOUT,
            )?)
            .filter(|d| !d.is_zero()),
        };
        Ok(Self {
            connect_timeout: Duration::from_millis(
                section
                    .parse_or(
                        "connect-timeout",
                        defaults.connect_timeout.as_millis() as u64,
                    )?
                    .max(1),
            ),
            response_timeout,
        })
    }
}

/// Largest request body kept in memory so it can be sent again.
pub const REPLAY_LIMIT: u64 = 64 * 1024;

type HttpClient = Client<TimedConnector, Body>;
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How the gateway talks TLS to https backends (`https://` routes, `lb://` instances with their
/// secure port enabled): Spring Cloud Gateway's `httpclient.ssl.*` keys, under either prefix,
/// falling back field by field to the platform's `factura.ssl.client.*`.
#[derive(Debug, Clone)]
pub struct BackendTls {
    /// Trust and client certificate.
    pub config: Arc<rustls::ClientConfig>,
    /// `httpclient.ssl.handshake-timeout` (default 10 s, SCG's).
    pub handshake_timeout: Duration,
    /// `server.http2.enabled`: offer h2 to https backends by ALPN, as SCG then does (HTTP/1.1
    /// otherwise). Upgrades (WebSocket) go over HTTP/1.1-only connections.
    pub http2: bool,
    /// What `config` was built from: an unchanged section keeps it (and the pooled connections
    /// built for it) across route rebuilds.
    settings: ClientTlsSettings,
}

/// The gateway's backend TLS from `settings`; `previous` itself when nothing it was built from
/// changed (route rebuilds happen on every registry change).
pub fn backend_tls(
    settings: &platform::Settings,
    previous: Option<&BackendTls>,
) -> Result<BackendTls, SettingsError> {
    let tls = ClientTlsSettings::bind(
        settings,
        &[
            &format!("{NEW_PREFIX}.httpclient.ssl"),
            &format!("{OLD_PREFIX}.httpclient.ssl"),
        ],
    )?;
    let handshake_timeout = gateway_section(settings, "httpclient.ssl").duration_or(
        "handshake-timeout",
        DurationUnit::Millis,
        Duration::from_secs(10),
    )?;
    let http2 = settings.flag("server.http2.enabled", false)?;
    if let Some(previous) = previous.filter(|p| {
        p.settings == tls && p.handshake_timeout == handshake_timeout && p.http2 == http2
    }) {
        return Ok(previous.clone());
    }
    Ok(BackendTls {
        config: Arc::new(tls.client_config()?),
        handshake_timeout,
        http2,
        settings: tls,
    })
}

/// The system's roots and SCG's defaults, for when the configured TLS cannot be used (the
/// error is reported with the other settings errors).
pub fn fallback_tls() -> BackendTls {
    let settings = platform::Settings::default();
    backend_tls(&settings, None).unwrap_or_else(|_| BackendTls {
        config: Arc::new(
            rustls::ClientConfig::builder_with_provider(platform::tls::provider())
                .with_safe_default_protocol_versions()
                .expect("the provider's default versions")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        ),
        handshake_timeout: Duration::from_secs(10),
        http2: false,
        settings: ClientTlsSettings::default(),
    })
}

thread_local! {
    /// Pooled clients of this thread, by connect timeout, with the TLS configuration they were
    /// built for: each serving runtime keeps its own backend connections, so a request never
    /// waits on another thread's connection task; a refreshed TLS setting replaces the client.
    static CLIENTS: std::cell::RefCell<HashMap<(Duration, bool), (BackendTls, HttpClient)>> =
        std::cell::RefCell::new(HashMap::new());
}

/// The pooled client for these timeouts and TLS; an upgrade (WebSocket) always gets an
/// HTTP/1.1-only one, since h2 has no `Upgrade`.
fn client_for(connect_timeout: Duration, tls: &BackendTls, upgrade: bool) -> HttpClient {
    let http2 = tls.http2 && !upgrade;
    CLIENTS.with(|clients| {
        let mut clients = clients.borrow_mut();
        match clients.get(&(connect_timeout, http2)) {
            Some((built_for, client))
                if Arc::ptr_eq(&built_for.config, &tls.config)
                    && built_for.handshake_timeout == tls.handshake_timeout =>
            {
                client.clone()
            }
            _ => {
                let client = new_client(connect_timeout, tls, http2);
                clients.insert((connect_timeout, http2), (tls.clone(), client.clone()));
                client
            }
        }
    })
}

fn new_client(connect_timeout: Duration, tls: &BackendTls, http2: bool) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(connect_timeout));
    connector.enforce_http(false);
    // HTTP/1.1 to backends, as Spring Cloud Gateway's client speaks by default; h2 offered by
    // ALPN with `server.http2.enabled`, as SCG's `Http2SslContextSpec`.
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((*tls.config).clone())
        .https_or_http()
        .enable_http1();
    let https = if http2 {
        https.enable_http2().wrap_connector(connector)
    } else {
        https.wrap_connector(connector)
    };
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(1024)
        .build(TimedConnector {
            inner: https,
            limit: connect_timeout + tls.handshake_timeout,
        })
}

/// The https-or-http connector with a bound on connecting and the TLS handshake together
/// (hyper's connect timeout covers only the TCP connection).
#[derive(Debug, Clone)]
struct TimedConnector {
    inner: hyper_rustls::HttpsConnector<HttpConnector>,
    limit: Duration,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Connection = hyper_rustls::MaybeHttpsStream<hyper_util::rt::TokioIo<tokio::net::TcpStream>>;

impl tower::Service<Uri> for TimedConnector {
    type Response = Connection;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Connection, BoxError>> + Send>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let limit = self.limit;
        Box::pin(async move {
            match tokio::time::timeout(limit, connecting).await {
                Ok(connected) => connected,
                Err(_) => Err(format!("no TLS connection within {limit:?}").into()),
            }
        })
    }
}

/// A request body, kept so it can be sent again when that may be needed.
#[derive(Debug)]
pub enum BodySource {
    /// No body.
    Empty,
    /// Small, in memory: sent as often as needed.
    Buffered(Bytes),
    /// Streamed: sent once.
    Stream(Option<Body>),
}

impl BodySource {
    /// The body for one more attempt, if it can be had.
    pub fn for_attempt(&mut self) -> Option<Body> {
        match self {
            Self::Empty => Some(Body::empty()),
            Self::Buffered(bytes) => Some(Body::from(bytes.clone())),
            Self::Stream(body) => body.take(),
        }
    }

    /// Whether it can be sent again.
    pub fn replayable(&self) -> bool {
        !matches!(self, Self::Stream(_))
    }
}

/// Watches the client's request body on its way upstream, so that a failed exchange is
/// blamed on the right side: a body that breaks (bad chunked framing, a pause beyond the
/// connection timeout) is the client's fault (400/408), not the backend's (502).
#[derive(Debug, Clone, Default)]
pub struct ClientBodyWatch(std::sync::Arc<std::sync::OnceLock<ClientFault>>);

impl ClientBodyWatch {
    /// `body`, reporting its failure to this watch (an empty body is passed as it is).
    pub fn watch(&self, body: Body) -> Body {
        if body.is_end_stream() {
            return body;
        }
        let fault = self.0.clone();
        Body::new(body.map_err(move |e| {
            let timed_out = std::error::Error::source(&e)
                .is_some_and(|inner| inner.is::<platform::server::BodyTimedOut>());
            let _ = fault.set(if timed_out {
                ClientFault::TimedOut
            } else {
                ClientFault::Malformed
            });
            e
        }))
    }

    /// How the client's body failed, if it did.
    pub fn fault(&self) -> Option<ClientFault> {
        self.0.get().copied()
    }
}

/// One call to the backend, as the wrapping filters see it.
pub struct Call<'a> {
    /// The route being served.
    pub route: &'a Route,
    /// The route's connect timeout, or the gateway's.
    pub connect_timeout: Duration,
    /// TLS to https backends.
    pub tls: &'a BackendTls,
    /// The route's response timeout, or the gateway's (none: wait).
    pub response_timeout: Option<Duration>,
    /// The method sent upstream.
    pub method: Method,
    /// The rewritten path and query.
    pub path_and_query: PathAndQuery,
    /// The headers sent upstream.
    pub headers: HeaderMap,
    /// Whether the headers must survive a first attempt (Retry, fallback).
    pub keep_headers: bool,
    /// The request body, replayable when small and needed again.
    pub body: BodySource,
    /// The client's side of an `Upgrade`, tunnelled once the backend answers 101.
    pub upgrade: Option<hyper::upgrade::OnUpgrade>,
    /// Set by a CircuitBreaker whose call failed: the `forward:` target to re-dispatch to.
    pub fallback: Option<String>,
    /// Whether the client's body broke on the way.
    pub client_body: ClientBodyWatch,
}

impl std::fmt::Debug for Call<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("route", &self.route.id())
            .field("method", &self.method)
            .field("path_and_query", &self.path_and_query)
            .finish_non_exhaustive()
    }
}

/// The call through the route's Retry and CircuitBreaker filters, in their declared order,
/// around [`attempt`]: `Retry` then `CircuitBreaker` is retry ∘ breaker ∘ forward.
pub fn through_layers<'a, 'b: 'a>(
    balancer: &'a LoadBalancer,
    layers: &'a [&'a Filter],
    call: &'a mut Call<'b>,
) -> BoxFuture<'a, Result<Response<Body>, ProxyError>> {
    Box::pin(async move {
        match layers.split_first() {
            None => attempt(balancer, call).await,
            Some((Filter::Retry(retry), rest)) => {
                let mut attempt = 0;
                loop {
                    let result = through_layers(balancer, rest, call).await;
                    let again = attempt < retry.retries
                        && retry.allows(&call.method)
                        && call.body.replayable()
                        && call.fallback.is_none()
                        && match &result {
                            Ok(response) => retry.retries_status(response.status()),
                            Err(e) => retry.on_errors && e.is_retryable(),
                        };
                    if !again {
                        return result;
                    }
                    drop(result);
                    attempt += 1;
                    let delay = retry.delay(attempt);
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                }
            }
            Some((Filter::CircuitBreaker(cb), rest)) => {
                let Some(breaker) = cb.breaker.get() else {
                    return through_layers(balancer, rest, call).await;
                };
                if breaker.try_acquire().is_err() {
                    call.fallback.clone_from(&cb.fallback);
                    return Err(ProxyError::CircuitOpen(cb.name.clone()));
                }
                let result = match tokio::time::timeout(
                    breaker.timeout,
                    through_layers(balancer, rest, call),
                )
                .await
                {
                    Ok(result) => result,
                    Err(_) => Err(ProxyError::Timeout),
                };
                let failure = match &result {
                    Ok(response) => cb.status_codes.contains(&response.status()),
                    // The client's broken body says nothing about the backend.
                    Err(e) => !matches!(e, ProxyError::ClientBody(_)),
                };
                breaker.record(!failure);
                if failure {
                    call.fallback.clone_from(&cb.fallback);
                }
                result
            }
            Some((_, rest)) => through_layers(balancer, rest, call).await,
        }
    })
}

/// One call: the instances in turn while connections are refused.
pub async fn attempt(
    balancer: &LoadBalancer,
    call: &mut Call<'_>,
) -> Result<Response<Body>, ProxyError> {
    let (bases, balanced): (Vec<(Scheme, Authority)>, bool) = match &call.route.target {
        Target::Fixed(scheme, authority) => (vec![(scheme.clone(), authority.clone())], false),
        Target::Balanced(service) => {
            let instances = balancer.candidates_or_fetch(service).await;
            if instances.is_empty() {
                return Err(ProxyError::NoInstance(service.clone()));
            }
            // An instance with its secure port enabled is called over https on that port
            // (Spring Cloud Gateway's `ReactiveLoadBalancerClientFilter`).
            let authorities = instances
                .iter()
                .filter_map(|i| {
                    let scheme = if i.is_secure() {
                        Scheme::HTTPS
                    } else {
                        Scheme::HTTP
                    };
                    let authority =
                        Authority::try_from(format!("{}:{}", i.host_name, i.service_port()));
                    authority.ok().map(|authority| (scheme, authority))
                })
                .collect();
            (authorities, true)
        }
        Target::Forward(_) | Target::NoOp => {
            return Err(ProxyError::BadRequest("route has no backend".into()));
        }
    };
    let client = client_for(call.connect_timeout, call.tls, call.upgrade.is_some());
    let timeout = call.response_timeout;
    let mut refused = String::new();
    let mut connect_timed_out = false;
    let mut untrusted_certificate = false;
    for (i, (scheme, base)) in bases.iter().enumerate() {
        let Some(body) = call.body.for_attempt() else {
            return Err(ProxyError::Upstream(
                "the request body was already sent and cannot be sent again".into(),
            ));
        };
        let mut uri = UriParts::default();
        uri.scheme = Some(scheme.clone());
        uri.authority = Some(base.clone());
        uri.path_and_query = Some(call.path_and_query.clone());
        let uri = Uri::from_parts(uri)
            .map_err(|_| ProxyError::BadRequest("The rewritten path is not a valid URI".into()))?;
        let last = i + 1 == bases.len();
        let headers = if last && !call.keep_headers {
            std::mem::take(&mut call.headers)
        } else {
            call.headers.clone()
        };
        let mut request = Request::new(body);
        *request.method_mut() = call.method.clone();
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        let sent = client.request(request);
        let result = match timeout {
            Some(t) => match tokio::time::timeout(t, sent).await {
                Ok(result) => result,
                Err(_) => return Err(ProxyError::Timeout),
            },
            None => sent.await,
        };
        match result {
            Ok(response) => return Ok(downstream_response(response, call)),
            Err(e) if e.is_connect() => {
                tracing::debug!(backend = %base, error = %e, "connection refused; next instance");
                connect_timed_out |= is_timeout(&e);
                untrusted_certificate = is_certificate_refusal(&e);
                refused = format!("{base}: {}", error_chain(&e));
                if !call.body.replayable() {
                    break;
                }
            }
            Err(e) => {
                if let Some(fault) = call.client_body.fault() {
                    return Err(ProxyError::ClientBody(fault));
                }
                tracing::warn!(backend = %base, error = %error_chain(&e), "the backend failed");
                return Err(ProxyError::Upstream(error_chain(&e)));
            }
        }
    }
    if connect_timed_out {
        tracing::warn!(detail = %refused, "no backend connection within the connect timeout");
        return Err(ProxyError::Timeout);
    }
    Err(ProxyError::Connect {
        balanced,
        detail: refused,
        untrusted_certificate,
    })
}

/// Whether an error (or one of its causes) is rustls refusing the backend's certificate.
/// `io::Error` hides the error it wraps from `source()`, so wrapped ones are opened too.
fn is_certificate_refusal(e: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return matches!(
            tls,
            rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
        );
    }
    if let Some(inner) = e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        && is_certificate_refusal(inner)
    {
        return true;
    }
    e.source().is_some_and(is_certificate_refusal)
}

/// Whether an error (or one of its causes) is an I/O timeout: a connect timeout.
fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(e);
    while let Some(error) = current {
        if error
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        current = error.source();
    }
    false
}

/// The backend's answer on its way to the client: a 101 becomes a tunnel, hop-by-hop headers
/// go.
fn downstream_response(
    mut response: Response<hyper::body::Incoming>,
    call: &mut Call<'_>,
) -> Response<Body> {
    if response.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(client_side) = call.upgrade.take()
    {
        crate::websocket::tunnel(client_side, &mut response);
        return response.map(|_| Body::empty());
    }
    remove_hop_by_hop(response.headers_mut(), false);
    // The response timeout also bounds each pause of the answer, as Reactor Netty's does: a
    // backend frozen half-way through its body ends the exchange instead of hanging it.
    match call.response_timeout {
        Some(pause) => {
            response.map(|body| Body::new(platform::server::PauseLimitedBody::new(body, pause)))
        }
        None => response.map(Body::new),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
/// Reads a small body into memory when it may be sent again; streams it otherwise. A body
/// that breaks while it is read is answered as `client_body` says (400 or 408).
pub async fn body_source(
    body: Body,
    may_repeat: bool,
    client_body: &ClientBodyWatch,
) -> Result<BodySource, ProxyError> {
    if body.is_end_stream() || body.size_hint().exact() == Some(0) {
        return Ok(BodySource::Empty);
    }
    let small = body.size_hint().upper().is_some_and(|n| n <= REPLAY_LIMIT);
    if !may_repeat || !small {
        return Ok(BodySource::Stream(Some(body)));
    }
    match http_body_util::Limited::new(body, REPLAY_LIMIT as usize)
        .collect()
        .await
    {
        Ok(collected) => Ok(BodySource::Buffered(collected.to_bytes())),
        Err(e) => {
            tracing::debug!(error = %e, "the client's request body could not be read");
            Err(ProxyError::ClientBody(
                client_body.fault().unwrap_or(ClientFault::Malformed),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> platform::Settings {
        platform::Settings::from_sources(vec![platform::settings::PropertySource::new(
            "test",
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )])
    }

    #[test]
    fn httpclient_settings_bind_under_either_prefix_with_springs_units() {
        let defaults = HttpClientSettings::from_settings(&settings(&[])).unwrap();
        assert_eq!(defaults, HttpClientSettings::default());
        assert_eq!(defaults.connect_timeout, Duration::from_secs(30));
        assert_eq!(defaults.response_timeout, Some(DEFAULT_RESPONSE_TIMEOUT));
        let old = HttpClientSettings::from_settings(&settings(&[
            ("spring.cloud.gateway.httpclient.connect-timeout", "1000"),
            ("spring.cloud.gateway.httpclient.response-timeout", "5s"),
        ]))
        .unwrap();
        assert_eq!(old.connect_timeout, Duration::from_secs(1));
        assert_eq!(old.response_timeout, Some(Duration::from_secs(5)));
        let new = HttpClientSettings::from_settings(&settings(&[
            (
                "spring.cloud.gateway.server.webflux.httpclient.response-timeout",
                "PT0.25S",
            ),
            ("spring.cloud.gateway.httpclient.response-timeout", "5s"),
        ]))
        .unwrap();
        assert_eq!(new.response_timeout, Some(Duration::from_millis(250)));
        let forever = HttpClientSettings::from_settings(&settings(&[(
            "spring.cloud.gateway.httpclient.response-timeout",
            "-1",
        )]))
        .unwrap();
        assert_eq!(forever.response_timeout, None);
        let bad = HttpClientSettings::from_settings(&settings(&[(
            "spring.cloud.gateway.httpclient.connect-timeout",
            "1s",
        )]))
        .unwrap_err();
        assert!(
            bad.to_string()
                .contains("spring.cloud.gateway.httpclient.connect-timeout"),
            "{bad}"
        );
    }
}
