//! gateway-service: the single entry point of the system (port 9999), the role Spring Cloud
//! Gateway plays in the original.
//!
//! * [`definition`]: routes as configured (`spring.cloud.gateway[.server.webflux].routes`,
//!   shortcut and expanded notations) or posted to the actuator.
//! * [`pattern`] (platform's, shared with the security rules), [`predicate`], [`filter`], [`resilience`]: Spring's predicates and filters,
//!   compiled once; Retry, CircuitBreaker and RequestRateLimiter (memory or Redis).
//!   [`java_regex`]: Java's regex dialect and replacement strings, as they use them;
//!   [`args`]: status, size and duration arguments.
//! * [`table`]: the compiled, indexed route table. [`locator`]: the discovery locator's routes,
//!   shaped by its SpEL settings ([`spel`]).
//! * The request path, read in this order: [`proxy`] (the gateway, and the order of the steps:
//!   [`path`] normalisation → route match → [`cors`] → pre filters → target → post filters),
//!   [`headers`] (rewriting for the hop), [`forward`] (retry ∘ circuit breaker ∘ the pooled,
//!   load-balanced call), [`websocket`] (the `Upgrade` tunnel).
//! * [`console`]: the web console under `/console/`, for paths no route claims.
//! * [`actuator`]: `/actuator/gateway/*`. [`error`]: error answers. [`metrics`]: proxied
//!   requests as `spring_cloud_gateway_requests_seconds`.
//!
//! The route table is rebuilt whenever the settings refresh, a service appears in or leaves
//! the registry, or `POST /actuator/gateway/refresh` asks. Proxied requests are served outside
//! the common middleware stack (no body limit or 30 s timeout on streams); the gateway's own
//! endpoints keep it.

pub mod actuator;
pub mod args;
pub mod console;
pub mod cors;
pub mod definition;
pub mod error;
pub mod filter;
pub mod forward;
pub mod headers;
pub mod java_regex;
pub mod locator;
pub mod metrics;
pub mod path;
pub mod predicate;
pub mod proxy;
pub mod resilience;
pub mod spel;
pub mod table;
pub mod websocket;

/// Spring's path patterns, shared with the security rules of every service.
pub use platform::pattern;

use std::sync::Arc;

use axum::extract::Request;
use platform::{
    Application, ServiceContext, ServiceDefinition, app::SharedSettings, discovery::RegistryCache,
};
use tokio_util::sync::CancellationToken;

pub use proxy::Gateway;

/// The built-in configuration: the discovery locator on, and the reference application's
/// routes to the data services. A `routes` list from the config-service replaces this one.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("spring.cloud.gateway.discovery.locator.enabled", "true"),
    ("spring.cloud.gateway.routes[0].id", "customer-service"),
    (
        "spring.cloud.gateway.routes[0].uri",
        "lb://CUSTOMER-SERVICE",
    ),
    (
        "spring.cloud.gateway.routes[0].predicates[0]",
        "Path=/customers/**",
    ),
    ("spring.cloud.gateway.routes[1].id", "inventory-service"),
    (
        "spring.cloud.gateway.routes[1].uri",
        "lb://INVENTORY-SERVICE",
    ),
    (
        "spring.cloud.gateway.routes[1].predicates[0]",
        "Path=/products/**",
    ),
    ("spring.cloud.gateway.routes[2].id", "billing-service"),
    ("spring.cloud.gateway.routes[2].uri", "lb://BILLING-SERVICE"),
    (
        "spring.cloud.gateway.routes[2].predicates[0]",
        "Path=/bills/**, /productItems/**, /fullBill/**",
    ),
    // Under a resource server, the console's page and its sign-in settings stay readable by
    // anyone (the sign-in happens in it); a high index puts configured rules first.
    (
        "factura.security.rules[1000].paths",
        "/, /console, /console/, /console/index.html, /console/style.css, /console/favicon.svg, /console/js/**, /console/api/config",
    ),
    ("factura.security.rules[1000].methods", "GET, HEAD"),
    ("factura.security.rules[1000].access", "permit-all"),
];

/// How `factura` runs this service.
pub const SERVICE: ServiceDefinition = ServiceDefinition {
    name: "gateway-service",
    default_port: 9999,
    defaults: DEFAULTS,
    build: |context| Box::pin(build(context)),
};

/// Builds the route table, keeps it current, and serves the proxy behind the actuator routes.
pub async fn build(mut context: ServiceContext) -> anyhow::Result<Application> {
    let gateway = Arc::new(Gateway::new(
        context.settings.clone(),
        context.discovery.clone(),
    )?);
    context.metrics.add_exposition(gateway.request_metrics());
    gateway.rebuild();
    // A proxy spends its time handing bytes between sockets: serve each core on its own
    // runtime, with its own backend connections.
    context.serve_on_each_core();
    let watcher = gateway.clone();
    let settings = context.settings.clone();
    let registry = context.discovery.clone();
    context.on_start(move |started| watch(watcher, settings, registry, started.shutdown));
    let console = console::routes(context.discovery.clone(), context.settings.clone())?;
    let proxy = gateway.clone();
    // A bare service, not a router: the proxy path skips route matching and handler boxing.
    let fallback = tower::service_fn(move |request: Request| {
        let gateway = proxy.clone();
        async move { Ok::<_, std::convert::Infallible>(gateway.handle(request).await) }
    });
    context.actuator_endpoint(actuator::endpoint(gateway));
    context
        .into_application_with_fallback(console, Some(fallback))
        .await
}

/// Rebuilds the routes when the settings refresh or the set of registered services changes.
async fn watch(
    gateway: Arc<Gateway>,
    settings: SharedSettings,
    registry: RegistryCache,
    shutdown: CancellationToken,
) {
    let mut settings = settings.subscribe();
    let mut registry = registry.subscribe();
    settings.mark_unchanged();
    registry.mark_unchanged();
    let mut names = gateway.registry_names();
    // The registry may have filled between build and start.
    gateway.rebuild();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = settings.changed() => {
                if changed.is_err() {
                    return;
                }
                gateway.rebuild();
            }
            changed = registry.changed() => {
                if changed.is_err() {
                    return;
                }
                let now = gateway.registry_names();
                if now != names {
                    names = now;
                    gateway.rebuild();
                }
            }
        }
    }
}
