//! The gateway and its request path, in the order a request takes it:
//!
//! 1. [`crate::path`]: the path normalised (tricks refused);
//! 2. route match ([`crate::table`]), then CORS ([`crate::cors`]);
//! 3. pre filters ([`crate::filter`], the rate limiter of [`crate::resilience`]);
//! 4. the target: `no://op`, a `forward:` re-dispatch, or the backend — headers rewritten
//!    ([`crate::headers`]), then retry ∘ circuit breaker ∘ forward ([`crate::forward`]), and a
//!    breaker's fallback; an `Upgrade` becomes a tunnel ([`crate::websocket`]);
//! 5. post filters.
//!
//! `Gateway::serve_route` is where the order of 3–5 is decided.

use std::{
    borrow::Cow,
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
        HeaderName, HeaderValue, Request, Response, StatusCode, Uri, request::Parts,
        uri::PathAndQuery,
    },
};
use bytes::Bytes;
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
        Definition, RouteDefinition, default_filters, gateway_section, routes_from_settings,
    },
    error::{ProxyError, error_response},
    filter::{Exchange, Filter},
    forward::{Call, ClientBodyWatch, HttpClientSettings, body_source, through_layers},
    headers::{host_of, is_upgrade, upstream_headers},
    locator::Locator,
    path::normalise_path,
    pattern::Variables,
    predicate::RequestView,
    resilience::{Breakers, KeyResolver, LimiterFilter, RateLimiter},
    table::{Origin, Route, RouteTable, Target},
};

pub use crate::forward::REPLAY_LIMIT;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The header carrying a request's id across hops.
pub use platform::server::REQUEST_ID;

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
    /// TLS to https backends: `spring.cloud.gateway[.server.webflux].httpclient.ssl.*`, else
    /// the platform's `factura.ssl.client.*`.
    backend_tls: crate::forward::BackendTls,
    /// `https` when the gateway itself serves TLS (`server.ssl.*`): what `X-Forwarded-Proto`
    /// and `Forwarded: proto=` tell backends.
    scheme: &'static str,
}

impl Options {
    fn from_settings(
        settings: &platform::Settings,
        previous: Option<&Options>,
    ) -> (Self, Vec<String>) {
        let mut errors = Vec::new();
        let trusted_proxies = gateway_section(settings, "")
            .get("trusted-proxies")
            .filter(|t| !t.trim().is_empty())
            .and_then(|t| match Regex::new(&format!("^(?:{t})$")) {
                Ok(r) => Some(r),
                Err(e) => {
                    errors.push(format!("trusted-proxies `{t}`: {e}"));
                    None
                }
            });
        let httpclient = HttpClientSettings::from_settings(settings).unwrap_or_else(|e| {
            errors.push(e.to_string());
            HttpClientSettings::default()
        });
        let locator = Locator::from_settings(settings).unwrap_or_else(|e| {
            errors.push(e);
            None
        });
        let scheme = match settings.bind::<platform::tls::ServerSslSettings>("server") {
            Ok(ssl) if ssl.enabled => "https",
            _ => "http",
        };
        let previous_tls = previous.map(|p| &p.backend_tls);
        let backend_tls = crate::forward::backend_tls(settings, previous_tls).unwrap_or_else(|e| {
            errors.push(e.to_string());
            crate::forward::fallback_tls()
        });
        (
            Self {
                trusted_proxies,
                response_timeout: httpclient.response_timeout,
                connect_timeout: httpclient.connect_timeout,
                cors: Cors::from_settings(settings),
                locator,
                backend_tls,
                scheme,
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
    requests: Arc<crate::metrics::RequestMetrics>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("routes", &self.table.load().routes().len())
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway over `settings` and the registry `registry`; call [`Gateway::rebuild`] next.
    pub fn new(settings: SharedSettings, registry: RegistryCache) -> anyhow::Result<Self> {
        let current = settings.current();
        let limiter = RateLimiter::from_settings(&current)?;
        // A bad client setting stops the start (exit 78); on a refresh it is reported and the
        // defaults apply.
        HttpClientSettings::from_settings(&current)?;
        let (options, _) = Options::from_settings(&current, None);
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
            requests: crate::metrics::request_metrics(),
        })
    }

    /// The proxied-request timer, for the service's `/actuator/prometheus`.
    pub fn request_metrics(&self) -> Arc<crate::metrics::RequestMetrics> {
        self.requests.clone()
    }

    /// The table now in force.
    pub fn table(&self) -> Arc<RouteTable> {
        self.table.load_full()
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
        let (options, mut errors) = Options::from_settings(&settings, Some(&self.options.load()));
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

    /// One request through the steps of the request path: path normalisation, route match,
    /// CORS, then the route's own steps (`Gateway::serve_route`).
    async fn dispatch(&self, request: Request<Body>, depth: u8) -> Response<Body> {
        let (parts, body) = request.into_parts();
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
                peer: client.map(|c| c.ip()),
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
            // What no route claims may be the console's (`/`, `/console/…`).
            if let Some(response) = crate::console::serve(&parts.method, &path, &parts.headers) {
                return response;
            }
            return error_response(
                StatusCode::NOT_FOUND,
                "No route matches this request",
                &path,
            );
        };
        let started = std::time::Instant::now();
        let method = parts.method.clone();
        let inbound = Inbound {
            parts,
            path,
            host,
            client,
            depth,
        };
        let mut response = self
            .serve_route(&route, &options, inbound, body, vars)
            .await;
        self.requests.record(
            &crate::metrics::ProxiedRequest {
                route: route.tags.clone(),
                method,
                status: response.status().as_u16(),
            },
            started.elapsed().as_secs_f64(),
        );
        crate::cors::add_headers(response.headers_mut(), cors);
        response
    }

    /// A request that matched `route`, through the route's steps in their order: pre filters
    /// → the target (for a backend: retry ∘ circuit breaker ∘ forward, see
    /// `Gateway::call_backend`) → post filters. The order of the request path is decided
    /// here.
    async fn serve_route(
        &self,
        route: &Route,
        options: &Options,
        mut inbound: Inbound,
        body: Body,
        vars: Variables,
    ) -> Response<Body> {
        let mut ex = Exchange {
            method: inbound.parts.method.clone(),
            path: inbound.path.clone(),
            query: inbound.parts.uri.query().map(str::to_owned),
            headers: std::mem::take(&mut inbound.parts.headers),
            vars,
            preserve_host: false,
            host_override: None,
        };
        let limiter_headers = match self.pre_filters(route, &mut ex, &inbound).await {
            PreFilters::Passed(headers) => headers,
            PreFilters::Answered(response, limiter_headers) => {
                return post_filters(route, &ex.vars, response, limiter_headers);
            }
            PreFilters::Refused(response) => return response,
        };
        let response = match &route.target {
            Target::NoOp => Response::new(Body::empty()),
            Target::Forward(target) => {
                let target = crate::filter::expand(target, &ex.vars);
                self.redispatch(&target, &ex, inbound.client, body, inbound.depth)
                    .await
            }
            Target::Fixed(..) | Target::Balanced(_) => {
                self.call_backend(route, options, &mut ex, &mut inbound, body)
                    .await
            }
        };
        post_filters(route, &ex.vars, response, limiter_headers)
    }

    /// The pre filters in declaration order: the rate limiter (which may refuse the request
    /// outright) and the request-phase filters (one of which may answer instead of the
    /// backend).
    async fn pre_filters(&self, route: &Route, ex: &mut Exchange, inbound: &Inbound) -> PreFilters {
        let mut limiter_headers = Vec::new();
        for filter in &route.filters {
            if let Filter::RequestRateLimiter(limiter) = filter {
                let peer = inbound.client.map(|c| c.ip());
                match self.rate_limit(limiter, ex, peer, &inbound.path).await {
                    Ok(headers) => limiter_headers.extend(headers),
                    Err(response) => return PreFilters::Refused(response),
                }
            } else if let Some(response) = filter.pre(ex) {
                return PreFilters::Answered(response, limiter_headers);
            }
        }
        PreFilters::Passed(limiter_headers)
    }

    /// The backend call: headers rewritten for the hop, the body made replayable when a Retry
    /// or fallback may need it, the call through the route's Retry and CircuitBreaker filters
    /// ([`forward::through_layers`]), and a breaker's `forward:` fallback when it asks.
    async fn call_backend(
        &self,
        route: &Route,
        options: &Options,
        ex: &mut Exchange,
        inbound: &mut Inbound,
        body: Body,
    ) -> Response<Body> {
        let upgrade = is_upgrade(&ex.headers)
            .then(|| {
                inbound
                    .parts
                    .extensions
                    .remove::<hyper::upgrade::OnUpgrade>()
            })
            .flatten();
        let headers = upstream_headers(
            ex,
            options.scheme,
            &inbound.path,
            inbound.host.as_deref(),
            inbound.client,
            options.trusted_proxies.as_ref(),
            upgrade.is_some(),
        );
        let may_repeat = route.filters.iter().any(|f| {
            matches!(f, Filter::Retry(_))
                || matches!(f, Filter::CircuitBreaker(cb) if cb.fallback.is_some())
        });
        let client_body = ClientBodyWatch::default();
        let body = match body_source(
            client_body.watch(body),
            may_repeat || matches!(route.target, Target::Balanced(_)),
            &client_body,
        )
        .await
        {
            Ok(body) => body,
            Err(e) => return e.into_response(&inbound.path),
        };
        let mut path_and_query = std::mem::take(&mut ex.path);
        if let Some(q) = ex.query.as_deref().filter(|q| !q.is_empty()) {
            path_and_query.push('?');
            path_and_query.push_str(q);
        }
        let Ok(path_and_query) = PathAndQuery::from_maybe_shared(Bytes::from(path_and_query))
        else {
            return ProxyError::BadRequest("The rewritten path is not a valid URI".into())
                .into_response(&inbound.path);
        };
        let mut call = Call {
            route,
            connect_timeout: route.connect_timeout.unwrap_or(options.connect_timeout),
            tls: &options.backend_tls,
            response_timeout: match route.response_timeout {
                Some(t) => t,
                None => options.response_timeout,
            },
            method: ex.method.clone(),
            path_and_query,
            headers,
            keep_headers: may_repeat,
            body,
            upgrade,
            fallback: None,
            client_body,
        };
        let layers: Vec<&Filter> = route
            .filters
            .iter()
            .filter(|f| matches!(f, Filter::Retry(_) | Filter::CircuitBreaker(_)))
            .collect();
        let result = through_layers(&self.balancer, &layers, &mut call).await;
        if let Some(fallback) = call.fallback.take().filter(|_| inbound.depth < 4) {
            let target = crate::filter::expand(&fallback, &ex.vars);
            let body = call.body.for_attempt().unwrap_or_else(Body::empty);
            ex.headers = call.headers;
            return self
                .redispatch(&target, ex, inbound.client, body, inbound.depth)
                .await;
        }
        result.unwrap_or_else(|e| {
            if !matches!(e, ProxyError::NoInstance(_)) {
                tracing::debug!(route = %route.id(), error = ?e, "proxy failure");
            }
            e.into_response(&inbound.path)
        })
    }

    /// `forward:/path`: the request re-dispatched inside the gateway with a new path, keeping
    /// its query (unless the target brings its own) and the client's address.
    fn redispatch(
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
}

/// A request that matched a route, as it enters the route's steps.
struct Inbound {
    /// Method, URI, headers (taken by the filters' exchange) and extensions (an upgrade).
    parts: Parts,
    /// The normalised path, before any filter rewrote it.
    path: String,
    /// The `Host` the client addressed.
    host: Option<String>,
    /// The client's address.
    client: Option<SocketAddr>,
    /// How many `forward:` re-dispatches led here.
    depth: u8,
}

/// What the pre filters decided.
enum PreFilters {
    /// Go on to the target; the rate limiter's headers go on the answer.
    Passed(Vec<(HeaderName, HeaderValue)>),
    /// A filter answered (RedirectTo, RequestSize…); the post filters still run.
    Answered(Response<Body>, Vec<(HeaderName, HeaderValue)>),
    /// The rate limiter refused: answered as it is.
    Refused(Response<Body>),
}

/// The post filters in declaration order, so a later filter sees what an earlier one put in
/// (Spring's AddResponseHeader acts before the call, RewriteResponseHeader after it); then the
/// rate limiter's headers.
fn post_filters(
    route: &Route,
    vars: &Variables,
    mut response: Response<Body>,
    limiter_headers: Vec<(HeaderName, HeaderValue)>,
) -> Response<Body> {
    for filter in &route.filters {
        filter.post(vars, &mut response);
    }
    response.headers_mut().extend(limiter_headers);
    response
}
