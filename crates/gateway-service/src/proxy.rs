//! The proxy: find the route, run its filters, call the backend through a pooled client
//! (balanced over the registry for `lb://`), stream the answer back.
//!
//! * Bodies stream in both directions; a request body is buffered only when it may have to be
//!   sent again (another instance after a refused connection, a Retry) and is small
//!   ([`REPLAY_LIMIT`]); larger ones get exactly one attempt.
//! * Hop-by-hop headers are dropped both ways; the client's `Host` is replaced by the
//!   backend's unless `PreserveHostHeader`; `X-Forwarded-For/Proto/Host/Port/Prefix` are added
//!   (incoming ones are kept only from `trusted-proxies`), so services link back through here.
//! * Failures: no instance → 503, refused by every instance → 503 (`lb://`) or 502, no answer
//!   within the response timeout → 504, a broken exchange → 502.
//! * `Upgrade` requests (WebSocket) are tunnelled once the backend answers 101.

use std::{
    borrow::Cow,
    collections::HashMap,
    fmt::Write as _,
    future::Future,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use arc_swap::ArcSwap;
use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{
        HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, header,
        request::Parts,
        uri::{Authority, Parts as UriParts, PathAndQuery, Scheme},
    },
};
use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::Body as _;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioIo},
};
use indexmap::IndexMap;
use platform::{
    app::SharedSettings,
    balancer::LoadBalancer,
    discovery::{RegistryCache, Status},
    server::SequentialRequestId,
};
use regex::Regex;

use crate::{
    cors::{Cors, CorsDecision},
    definition::{
        Definition, RouteDefinition, default_filters, gateway_setting, routes_from_settings,
    },
    error::{ProxyError, error_response},
    filter::{Exchange, Filter, parse_duration},
    locator::Locator,
    pattern::Variables,
    predicate::RequestView,
    resilience::{Breakers, KeyResolver, LimiterFilter, RateLimiter},
    table::{Origin, Route, RouteTable, Target},
};

/// Largest request body kept in memory so it can be sent again.
pub const REPLAY_LIMIT: u64 = 64 * 1024;
/// The header carrying a request's id across hops.
pub use platform::server::REQUEST_ID;

type HttpClient = Client<HttpConnector, Body>;
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "proxy-authorization",
    "proxy-authenticate",
    "upgrade",
    "proxy-connection",
];

const X_FORWARDED: &[&str] = &[
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "forwarded",
];

/// Gateway-wide knobs, rebuilt with the routes.
#[derive(Debug)]
struct Options {
    trusted_proxies: Option<Regex>,
    response_timeout: Option<Duration>,
    connect_timeout: Duration,
    cors: Cors,
    locator: Option<Locator>,
    /// `server.error.include-message=always`.
    include_error_message: bool,
}

impl Options {
    fn from_settings(settings: &platform::Settings) -> (Self, Vec<String>) {
        let mut errors = Vec::new();
        let trusted_proxies = gateway_setting(settings, "trusted-proxies")
            .filter(|t| !t.trim().is_empty())
            .and_then(|t| match Regex::new(&format!("^(?:{t})$")) {
                Ok(r) => Some(r),
                Err(e) => {
                    errors.push(format!("trusted-proxies `{t}`: {e}"));
                    None
                }
            });
        let response_timeout = gateway_setting(settings, "httpclient.response-timeout")
            .and_then(|t| parse_duration(&t).map_err(|e| errors.push(e.0)).ok())
            .filter(|d| !d.is_zero());
        let connect_timeout = gateway_setting(settings, "httpclient.connect-timeout")
            .and_then(|t| {
                t.trim()
                    .parse::<u64>()
                    .map_err(|e| errors.push(e.to_string()))
                    .ok()
            })
            .map_or(Duration::from_secs(30), Duration::from_millis);
        let locator = Locator::from_settings(settings).unwrap_or_else(|e| {
            errors.push(e);
            None
        });
        (
            Self {
                trusted_proxies,
                response_timeout,
                connect_timeout,
                cors: Cors::from_settings(settings),
                locator,
                include_error_message: settings
                    .get("server.error.include-message")
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("always")),
            },
            errors,
        )
    }
}

/// The running gateway: its route table, clients, limiter, breakers and the routes added
/// through the actuator.
pub struct Gateway {
    table: ArcSwap<RouteTable>,
    options: ArcSwap<Options>,
    balancer: LoadBalancer,
    limiter: RateLimiter,
    breakers: Breakers,
    repository: Mutex<IndexMap<String, RouteDefinition>>,
    last_errors: ArcSwap<Vec<String>>,
    settings: SharedSettings,
    request_ids: SequentialRequestId,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("routes", &self.table.load().routes().len())
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// Pooled clients of this thread, by connect timeout: each serving runtime keeps its own
    /// backend connections, so a request never waits on another thread's connection task.
    static CLIENTS: std::cell::RefCell<HashMap<Duration, HttpClient>> =
        std::cell::RefCell::new(HashMap::new());
}

fn client_for(connect_timeout: Duration) -> HttpClient {
    CLIENTS.with(|clients| {
        clients
            .borrow_mut()
            .entry(connect_timeout)
            .or_insert_with(|| new_client(connect_timeout))
            .clone()
    })
}

fn new_client(connect_timeout: Duration) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(connect_timeout));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(1024)
        .build(connector)
}

/// A request body, kept so it can be sent again when that may be needed.
#[derive(Debug)]
enum BodySource {
    Empty,
    Buffered(Bytes),
    Stream(Option<Body>),
}

impl BodySource {
    fn next(&mut self) -> Option<Body> {
        match self {
            Self::Empty => Some(Body::empty()),
            Self::Buffered(bytes) => Some(Body::from(bytes.clone())),
            Self::Stream(body) => body.take(),
        }
    }

    fn replayable(&self) -> bool {
        !matches!(self, Self::Stream(_))
    }
}

/// One call to the backend, as the wrapping filters see it.
struct Call<'a> {
    route: &'a Route,
    options: &'a Options,
    method: Method,
    path_and_query: PathAndQuery,
    headers: HeaderMap,
    keep_headers: bool,
    body: BodySource,
    upgrade: Option<hyper::upgrade::OnUpgrade>,
    fallback: Option<String>,
}

impl Gateway {
    /// A gateway over `settings` and the registry `registry`; call [`Gateway::rebuild`] next.
    pub fn new(settings: SharedSettings, registry: RegistryCache) -> anyhow::Result<Self> {
        let current = settings.current();
        let limiter = RateLimiter::from_settings(&current)?;
        let (options, _) = Options::from_settings(&current);
        Ok(Self {
            table: ArcSwap::from_pointee(RouteTable::default()),
            options: ArcSwap::from_pointee(options),
            balancer: LoadBalancer::new(registry),
            limiter,
            breakers: Breakers::default(),
            repository: Mutex::default(),
            last_errors: ArcSwap::from_pointee(Vec::new()),
            settings,
            request_ids: SequentialRequestId::new(),
        })
    }

    /// The table now in force.
    pub fn table(&self) -> Arc<RouteTable> {
        self.table.load_full()
    }

    /// Whether rate limits are shared through Redis.
    pub fn limiter_is_shared(&self) -> bool {
        self.limiter.is_shared()
    }

    /// Problems found by the last rebuild (broken routes are left out, not fatal).
    pub fn last_errors(&self) -> Arc<Vec<String>> {
        self.last_errors.load_full()
    }

    /// What the discovery locator's routes depend on: each registered service's UP instances
    /// (address and metadata). The routes are rebuilt when it changes.
    pub fn registry_names(&self) -> Vec<String> {
        let registry = self.balancer.registry().snapshot();
        let mut names: Vec<String> = registry
            .applications
            .iter()
            .filter(|a| !a.instances.is_empty())
            .map(|a| {
                let mut signature = a.name.clone();
                for i in a.instances.iter().filter(|i| i.status == Status::Up) {
                    let _ = write!(
                        signature,
                        " {}:{} {:?}",
                        i.host_name, i.port.port, i.metadata
                    );
                }
                signature
            })
            .collect();
        names.sort();
        names
    }

    /// Rebuilds the table from settings, the actuator's routes and the registry; returns the
    /// problems found (the routes concerned are left out).
    pub fn rebuild(&self) -> Vec<String> {
        let settings = self.settings.current();
        let (options, mut errors) = Options::from_settings(&settings);
        let (definitions, route_errors) = routes_from_settings(&settings);
        errors.extend(route_errors);
        let defaults = default_filters(&settings).unwrap_or_else(|e| {
            errors.push(format!("default-filters: {e}"));
            Vec::new()
        });
        let mut routes = Vec::new();
        let mut add = |definition: RouteDefinition, origin: Origin, errors: &mut Vec<String>| {
            if !definition.enabled {
                return;
            }
            match Route::compile(definition, origin, &defaults, &settings, &self.breakers) {
                Ok(route) => routes.push(route),
                Err(e) => errors.push(e.0),
            }
        };
        // Discovery routes first, then configured ones, then the actuator's: the order of
        // Spring's route definition locators, which decides among routes of equal `order`.
        if let Some(locator) = &options.locator {
            let (discovered, locator_errors) = locator.routes(&self.balancer.registry().snapshot());
            errors.extend(locator_errors);
            for definition in discovered {
                add(definition, Origin::Discovery, &mut errors);
            }
        }
        for definition in definitions {
            add(definition, Origin::Settings, &mut errors);
        }
        let stored: Vec<RouteDefinition> = self
            .repository
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        for definition in stored {
            add(definition, Origin::Actuator, &mut errors);
        }
        self.options.store(Arc::new(options));
        self.table.store(Arc::new(RouteTable::new(routes)));
        for e in &errors {
            tracing::warn!(problem = %e, "route left out");
        }
        self.last_errors.store(Arc::new(errors.clone()));
        errors
    }

    /// Checks a definition the way the table would compile it (for the actuator's POST).
    pub fn validate(&self, definition: &RouteDefinition) -> Result<(), String> {
        let settings = self.settings.current();
        let defaults: Vec<Definition> = default_filters(&settings).unwrap_or_default();
        Route::compile(
            definition.clone(),
            Origin::Actuator,
            &defaults,
            &settings,
            &Breakers::default(),
        )
        .map(|_| ())
        .map_err(|e| e.0)
    }

    /// Stores an actuator route (in force after the next refresh, as in Spring).
    pub fn save_route(&self, definition: RouteDefinition) {
        self.repository
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(definition.id.clone(), definition);
    }

    /// Removes an actuator route; false when it was not added through the actuator.
    pub fn delete_route(&self, id: &str) -> bool {
        self.repository
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .shift_remove(id)
            .is_some()
    }

    /// A new request id, from platform's one request-id scheme.
    pub fn next_request_id(&self) -> HeaderValue {
        self.request_ids.next_id()
    }

    /// What the error bodies of the request with this id say about it.
    pub fn error_context(&self, id: &HeaderValue) -> crate::error::ErrorContext {
        crate::error::ErrorContext {
            request_id: String::from_utf8_lossy(id.as_bytes()).into_owned(),
            include_message: self.options.load().include_error_message,
        }
    }

    /// Serves one client request.
    pub async fn handle(self: Arc<Self>, mut request: Request<Body>) -> Response<Body> {
        let id = match request.headers().get(&REQUEST_ID) {
            Some(id) => id.clone(),
            None => {
                let id = self.next_request_id();
                request.headers_mut().insert(REQUEST_ID, id.clone());
                id
            }
        };
        let context = self.error_context(&id);
        let mut response = context.scope(self.dispatch(request, 0)).await;
        response.headers_mut().insert(REQUEST_ID, id);
        response
    }

    async fn dispatch(&self, request: Request<Body>, depth: u8) -> Response<Body> {
        let (mut parts, body) = request.into_parts();
        let path = match normalise_path(parts.uri.path()) {
            Ok(path) => path.into_owned(),
            Err(reason) => {
                return error_response(StatusCode::BAD_REQUEST, reason, parts.uri.path());
            }
        };
        let options = self.options.load_full();
        let client = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let peer = client.map(|c| c.ip());
        let host = host_of(&parts);
        let table = self.table.load_full();
        let mut vars = Variables::new();
        let route = table.find(
            &RequestView {
                method: &parts.method,
                path: &path,
                query: parts.uri.query(),
                headers: &parts.headers,
                host: host.as_deref(),
                peer,
            },
            &mut vars,
        );
        // CORS is decided once a route matched, as Spring's handler mapping does; a preflight
        // no route matches is refused unless the configuration answers such preflights.
        let preflight = crate::cors::is_preflight(&parts.method, &parts.headers);
        let answers_cors =
            route.is_some() || (preflight && options.cors.answers_unrouted_preflights);
        let cors = if answers_cors {
            match options
                .cors
                .decide(&parts.method, &path, &parts.headers, host.as_deref())
            {
                CorsDecision::Respond(response) => return response,
                CorsDecision::Allow(headers) => headers,
                CorsDecision::NotCors => Vec::new(),
            }
        } else {
            Vec::new()
        };
        let Some(route) = route else {
            if preflight {
                return crate::cors::forbidden(options.cors.vary_for(&path));
            }
            return error_response(
                StatusCode::NOT_FOUND,
                "No route matches this request",
                &path,
            );
        };
        let mut response = self
            .through_route(
                &route, &options, &mut parts, body, path, host, client, vars, depth,
            )
            .await;
        crate::cors::add_headers(response.headers_mut(), cors);
        response
    }

    #[allow(clippy::too_many_arguments)]
    async fn through_route(
        &self,
        route: &Route,
        options: &Options,
        parts: &mut Parts,
        body: Body,
        path: String,
        host: Option<String>,
        client: Option<SocketAddr>,
        vars: Variables,
        depth: u8,
    ) -> Response<Body> {
        let peer = client.map(|c| c.ip());
        let mut ex = Exchange {
            method: parts.method.clone(),
            path: path.clone(),
            query: parts.uri.query().map(str::to_owned),
            headers: std::mem::take(&mut parts.headers),
            vars,
            preserve_host: false,
            host_override: None,
        };
        let mut extra_headers = Vec::new();
        for filter in &route.filters {
            if let Filter::RequestRateLimiter(limiter) = filter {
                match self.rate_limit(limiter, &ex, peer, &path).await {
                    Ok(headers) => extra_headers.extend(headers),
                    Err(response) => return response,
                }
            } else if let Some(response) = filter.pre(&mut ex) {
                return self.finish(route, &ex.vars, response, extra_headers);
            }
        }
        let response = match &route.target {
            Target::NoOp => Response::new(Body::empty()),
            Target::Forward(target) => {
                let target = crate::filter::expand(target, &ex.vars);
                self.forward(&target, &ex, client, body, depth).await
            }
            Target::Fixed(_) | Target::Balanced(_) => {
                let upgrade = is_upgrade(&ex.headers)
                    .then(|| parts.extensions.remove::<hyper::upgrade::OnUpgrade>())
                    .flatten();
                let headers = upstream_headers(
                    &mut ex,
                    &path,
                    host.as_deref(),
                    client,
                    options,
                    upgrade.is_some(),
                );
                let may_repeat = route.filters.iter().any(|f| {
                    matches!(f, Filter::Retry(_))
                        || matches!(f, Filter::CircuitBreaker(cb) if cb.fallback.is_some())
                });
                let body = match body_source(
                    body,
                    may_repeat || matches!(route.target, Target::Balanced(_)),
                )
                .await
                {
                    Ok(body) => body,
                    Err(response) => return response,
                };
                let mut path_and_query = std::mem::take(&mut ex.path);
                if let Some(q) = ex.query.as_deref().filter(|q| !q.is_empty()) {
                    path_and_query.push('?');
                    path_and_query.push_str(q);
                }
                let Ok(path_and_query) =
                    PathAndQuery::from_maybe_shared(Bytes::from(path_and_query))
                else {
                    return ProxyError::BadRequest("The rewritten path is not a valid URI".into())
                        .into_response(&path);
                };
                let mut call = Call {
                    route,
                    options,
                    method: ex.method.clone(),
                    path_and_query,
                    headers,
                    keep_headers: may_repeat,
                    body,
                    upgrade,
                    fallback: None,
                };
                let layers: Vec<&Filter> = route
                    .filters
                    .iter()
                    .filter(|f| matches!(f, Filter::Retry(_) | Filter::CircuitBreaker(_)))
                    .collect();
                let result = if layers.is_empty() {
                    self.attempt(&mut call).await
                } else {
                    self.around(&layers, &mut call).await
                };
                if let Some(fallback) = call.fallback.take().filter(|_| depth < 4) {
                    let target = crate::filter::expand(&fallback, &ex.vars);
                    let body = call.body.next().unwrap_or_else(Body::empty);
                    ex.headers = call.headers;
                    self.forward(&target, &ex, client, body, depth).await
                } else {
                    match result {
                        Ok(response) => response,
                        Err(e) => {
                            if !matches!(e, ProxyError::NoInstance(_)) {
                                tracing::debug!(route = %route.id(), error = ?e, "proxy failure");
                            }
                            e.into_response(&path)
                        }
                    }
                }
            }
        };
        self.finish(route, &ex.vars, response, extra_headers)
    }

    fn finish(
        &self,
        route: &Route,
        vars: &Variables,
        mut response: Response<Body>,
        extra_headers: Vec<(HeaderName, HeaderValue)>,
    ) -> Response<Body> {
        // Declaration order, so a later filter sees what an earlier one put in (Spring's
        // AddResponseHeader acts before the call, RewriteResponseHeader after it).
        for filter in &route.filters {
            filter.post(vars, &mut response);
        }
        response.headers_mut().extend(extra_headers);
        response
    }

    /// `forward:/path`: the request re-dispatched inside the gateway with a new path, keeping
    /// its query (unless the target brings its own) and the client's address.
    fn forward(
        &self,
        target: &str,
        ex: &Exchange,
        client: Option<SocketAddr>,
        body: Body,
        depth: u8,
    ) -> BoxFuture<'_, Response<Body>> {
        let target = match ex.query.as_deref().filter(|q| !q.is_empty()) {
            Some(query) if !target.contains('?') => Cow::Owned(format!("{target}?{query}")),
            _ => Cow::Borrowed(target),
        };
        let uri = match target.parse::<Uri>() {
            Ok(uri) if uri.path().starts_with('/') => uri,
            _ => {
                let response = error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Bad forward target",
                    &target,
                );
                return Box::pin(std::future::ready(response));
            }
        };
        if depth >= 4 {
            let response = error_response(StatusCode::LOOP_DETECTED, "Forwarding loop", &target);
            return Box::pin(std::future::ready(response));
        }
        let mut request = Request::new(body);
        *request.method_mut() = ex.method.clone();
        *request.uri_mut() = uri;
        *request.headers_mut() = ex.headers.clone();
        if let Some(client) = client {
            request.extensions_mut().insert(ConnectInfo(client));
        }
        // Boxed: a forward re-enters dispatch.
        Box::pin(self.dispatch(request, depth + 1))
    }

    async fn rate_limit(
        &self,
        limiter: &LimiterFilter,
        ex: &Exchange,
        peer: Option<IpAddr>,
        path: &str,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, Response<Body>> {
        let key = match &limiter.key {
            KeyResolver::RemoteAddr => peer.map(|p| p.to_string()),
            KeyResolver::Header(name) => ex
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(256).collect()),
        };
        let Some(key) = key.filter(|k| !k.is_empty()) else {
            if limiter.deny_empty_key {
                let mut r = Response::new(Body::empty());
                *r.status_mut() = limiter.empty_key_status;
                return Err(r);
            }
            return Ok(Vec::new());
        };
        let decision = self.limiter.check(limiter, &key).await;
        let headers = vec![
            (
                HeaderName::from_static("x-ratelimit-remaining"),
                HeaderValue::from(decision.remaining),
            ),
            (
                HeaderName::from_static("x-ratelimit-replenish-rate"),
                HeaderValue::from(limiter.replenish_rate),
            ),
            (
                HeaderName::from_static("x-ratelimit-burst-capacity"),
                HeaderValue::from(limiter.burst_capacity),
            ),
            (
                HeaderName::from_static("x-ratelimit-requested-tokens"),
                HeaderValue::from(limiter.requested_tokens),
            ),
        ];
        if decision.allowed {
            Ok(headers)
        } else {
            let mut response = error_response(limiter.status, "Too many requests", path);
            response.headers_mut().extend(headers);
            Err(response)
        }
    }

    fn around<'a, 'b: 'a>(
        &'a self,
        layers: &'a [&'a Filter],
        call: &'a mut Call<'b>,
    ) -> BoxFuture<'a, Result<Response<Body>, ProxyError>> {
        Box::pin(async move {
            match layers.split_first() {
                None => self.attempt(call).await,
                Some((Filter::Retry(retry), rest)) => {
                    let mut attempt = 0;
                    loop {
                        let result = self.around(rest, call).await;
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
                        return self.around(rest, call).await;
                    };
                    if breaker.try_acquire().is_err() {
                        call.fallback.clone_from(&cb.fallback);
                        return Err(ProxyError::CircuitOpen(cb.name.clone()));
                    }
                    let result = match tokio::time::timeout(
                        breaker.timeout,
                        self.around(rest, call),
                    )
                    .await
                    {
                        Ok(result) => result,
                        Err(_) => Err(ProxyError::Timeout),
                    };
                    let failure = match &result {
                        Ok(response) => cb.status_codes.contains(&response.status()),
                        Err(_) => true,
                    };
                    breaker.record(!failure);
                    if failure {
                        call.fallback.clone_from(&cb.fallback);
                    }
                    result
                }
                Some((_, rest)) => self.around(rest, call).await,
            }
        })
    }

    /// One call: the instances in turn while connections are refused.
    async fn attempt(&self, call: &mut Call<'_>) -> Result<Response<Body>, ProxyError> {
        let (bases, balanced): (Vec<Authority>, bool) = match &call.route.target {
            Target::Fixed(authority) => (vec![authority.clone()], false),
            Target::Balanced(service) => {
                let instances = self.balancer.candidates(service);
                if instances.is_empty() {
                    return Err(ProxyError::NoInstance(service.clone()));
                }
                let authorities = instances
                    .iter()
                    .filter_map(|i| {
                        Authority::try_from(format!("{}:{}", i.host_name, i.port.port)).ok()
                    })
                    .collect();
                (authorities, true)
            }
            Target::Forward(_) | Target::NoOp => {
                return Err(ProxyError::BadRequest("route has no backend".into()));
            }
        };
        let client = client_for(
            call.route
                .connect_timeout
                .unwrap_or(call.options.connect_timeout),
        );
        let timeout = match call.route.response_timeout {
            Some(t) => t,
            None => call.options.response_timeout,
        };
        let mut refused = String::new();
        for (i, base) in bases.iter().enumerate() {
            let Some(body) = call.body.next() else {
                return Err(ProxyError::Upstream(
                    "the request body was already sent and cannot be sent again".into(),
                ));
            };
            let mut uri = UriParts::default();
            uri.scheme = Some(Scheme::HTTP);
            uri.authority = Some(base.clone());
            uri.path_and_query = Some(call.path_and_query.clone());
            let uri = Uri::from_parts(uri).map_err(|_| {
                ProxyError::BadRequest("The rewritten path is not a valid URI".into())
            })?;
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
                Ok(response) => return Ok(self.downstream_response(response, call)),
                Err(e) if e.is_connect() => {
                    tracing::debug!(backend = %base, error = %e, "connection refused; next instance");
                    refused = format!("{base}: {}", error_chain(&e));
                    if !call.body.replayable() {
                        break;
                    }
                }
                Err(e) => return Err(ProxyError::Upstream(error_chain(&e))),
            }
        }
        Err(ProxyError::Connect {
            balanced,
            detail: refused,
        })
    }

    fn downstream_response(
        &self,
        response: Response<hyper::body::Incoming>,
        call: &mut Call<'_>,
    ) -> Response<Body> {
        let mut response = response;
        if response.status() == StatusCode::SWITCHING_PROTOCOLS
            && let Some(client_side) = call.upgrade.take()
        {
            let backend_side = hyper::upgrade::on(&mut response);
            tokio::spawn(async move {
                let (Ok(client), Ok(backend)) = tokio::join!(client_side, backend_side) else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(
                    &mut TokioIo::new(client),
                    &mut TokioIo::new(backend),
                )
                .await;
            });
            return response.map(|_| Body::empty());
        }
        remove_hop_by_hop(response.headers_mut(), false);
        response.map(Body::new)
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

/// Reads a small body into memory when it may be sent again; streams it otherwise.
async fn body_source(body: Body, may_repeat: bool) -> Result<BodySource, Response<Body>> {
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
        Err(e) => Err(error_response(
            StatusCode::BAD_REQUEST,
            &format!("Could not read the request body: {e}"),
            "",
        )),
    }
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

fn remove_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    let upgrade = keep_upgrade
        .then(|| headers.get(header::UPGRADE).cloned())
        .flatten();
    for name in &listed {
        headers.remove(name);
    }
    remove_named(headers, HOP_BY_HOP);
    if let Some(upgrade) = upgrade {
        headers.insert(header::UPGRADE, upgrade);
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// Removes the headers named in `names` (lower case) with one pass over the map instead of a
/// hashed lookup per name: most requests carry none of them.
fn remove_named(headers: &mut HeaderMap, names: &[&str]) {
    let present: Vec<HeaderName> = headers
        .keys()
        .filter(|k| names.contains(&k.as_str()))
        .cloned()
        .collect();
    for name in present {
        headers.remove(name);
    }
}

fn host_of(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|a| a.as_str().to_owned()))
}

/// The headers sent upstream: hop-by-hop removed, Host per the filters, `X-Forwarded-*`.
fn upstream_headers(
    ex: &mut Exchange,
    original_path: &str,
    host: Option<&str>,
    client: Option<SocketAddr>,
    options: &Options,
    upgrade: bool,
) -> HeaderMap {
    let peer = client.map(|c| c.ip());
    let mut headers = std::mem::take(&mut ex.headers);
    remove_hop_by_hop(&mut headers, upgrade);
    let trusted = match (&options.trusted_proxies, peer) {
        (Some(regex), Some(ip)) => regex.is_match(&ip.to_string()),
        _ => false,
    };
    if !trusted {
        remove_named(&mut headers, X_FORWARDED);
    }
    // RFC 7239, as Spring's ForwardedHeadersFilter writes it: `proto`, `host`, `for` with the
    // client's port, values quoted when they hold more than a token.
    let mut forwarded = String::from("proto=http");
    // The Host as it leaves (after SetRequestHostHeader), as Spring reads it.
    let forwarded_host = ex
        .host_override
        .as_ref()
        .and_then(|h| h.to_str().ok())
        .or(host);
    if let Some(host) = forwarded_host {
        forwarded.push_str(";host=");
        forwarded.push_str(&quote_if_needed(host));
    }
    if let Some(client) = client {
        forwarded.push_str(";for=");
        forwarded.push_str(&quote_if_needed(&client.to_string()));
    }
    let mut append = |name: &'static str, value: &str| {
        let name = HeaderName::from_static(name);
        let value = match headers.get(&name).and_then(|v| v.to_str().ok()) {
            Some(existing) if !existing.is_empty() => {
                HeaderValue::from_str(&format!("{existing}, {value}"))
            }
            _ => HeaderValue::from_str(value),
        };
        if let Ok(v) = value {
            headers.insert(name, v);
        }
    };
    append("forwarded", &forwarded);
    if let Some(ip) = peer {
        append("x-forwarded-for", &ip.to_string());
    }
    append("x-forwarded-proto", "http");
    if let Some(host) = host {
        append("x-forwarded-host", host);
        let port = match host.rsplit_once(':') {
            Some((_, port)) if !host.ends_with(']') && port.parse::<u16>().is_ok() => port,
            _ => "80",
        };
        append("x-forwarded-port", port);
    }
    if let Some(prefix) = stripped_prefix(original_path, &ex.path) {
        append("x-forwarded-prefix", prefix);
    }
    if let Some(host) = ex.host_override.take() {
        headers.insert(header::HOST, host);
    } else if !ex.preserve_host {
        headers.remove(header::HOST);
    } else if let Some(h) = host.and_then(|h| HeaderValue::from_str(h).ok()) {
        headers.insert(header::HOST, h);
    }
    headers
}

/// A `Forwarded` value as a token, or quoted when it holds anything else (`:` of a port).
fn quote_if_needed(value: &str) -> Cow<'_, str> {
    let token = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if token {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(format!("\"{}\"", value.replace('"', "\\\"")))
    }
}

/// The part of the original path a filter removed from its front (`/customer-service` for
/// `/customer-service/customers/1` → `/customers/1`).
fn stripped_prefix<'a>(original: &'a str, now: &str) -> Option<&'a str> {
    if original == now {
        return None;
    }
    let prefix = if now == "/" {
        original.trim_end_matches('/')
    } else {
        original.strip_suffix(now)?
    };
    let prefix = prefix.trim_end_matches('/');
    (!prefix.is_empty() && prefix.starts_with('/')).then_some(prefix)
}

/// Refuses path tricks and collapses repeated slashes: `..`/`.` segments (also encoded),
/// encoded slashes or backslashes and NULs are a 400.
pub fn normalise_path(raw: &str) -> Result<Cow<'_, str>, &'static str> {
    if !raw.starts_with('/') {
        return Err("The path must start with /");
    }
    let needs_check = raw.contains('%') || raw.contains("/.") || raw.contains("//");
    if !needs_check {
        return Ok(Cow::Borrowed(raw));
    }
    if raw.contains('%') {
        let lower = raw.to_ascii_lowercase();
        if lower.contains("%2f") || lower.contains("%5c") || lower.contains("%00") {
            return Err("Encoded slashes, backslashes and NUL are not allowed in the path");
        }
    }
    let mut out = String::with_capacity(raw.len());
    for segment in raw.split('/').skip(1) {
        let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
        if decoded == ".." || decoded == "." {
            return Err("Relative path segments (. and ..) are not allowed");
        }
        if segment.is_empty() {
            continue;
        }
        out.push('/');
        out.push_str(segment);
    }
    if raw.ends_with('/') || out.is_empty() {
        out.push('/');
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_tricks_are_refused_or_collapsed() {
        assert_eq!(normalise_path("/customers/1").unwrap(), "/customers/1");
        assert_eq!(normalise_path("//customers//1/").unwrap(), "/customers/1/");
        assert!(normalise_path("/customers/../admin").is_err());
        assert!(normalise_path("/customers/%2e%2E/admin").is_err());
        assert!(normalise_path("/customers%2F1").is_err());
        assert!(normalise_path("/a/./b").is_err());
        assert_eq!(normalise_path("/a/.well-known").unwrap(), "/a/.well-known");
    }

    #[test]
    fn forwarded_prefix_is_what_was_stripped() {
        assert_eq!(
            stripped_prefix("/customer-service/customers/1", "/customers/1"),
            Some("/customer-service")
        );
        assert_eq!(
            stripped_prefix("/customer-service", "/"),
            Some("/customer-service")
        );
        assert_eq!(stripped_prefix("/customers/1", "/customers/1"), None);
        assert_eq!(stripped_prefix("/a/b", "/mypath/a/b"), None);
    }

    #[test]
    fn hop_by_hop_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }
}
