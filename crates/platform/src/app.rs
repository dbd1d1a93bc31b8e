//! The life of one service process: settings → context → bound application → run → stop.
//!
//! A service crate exports a [`ServiceDefinition`]: its name, default port, built-in defaults and
//! a `build` function that turns a [`ServiceContext`] into an [`Application`] (its routes plus
//! whatever it registered: health checks, background tasks). The same definition is what
//! `factura run <service>` starts and what tests start on port 0.
//!
//! Stopping: cancelling the context's token (a signal, or a test) stops accepting connections,
//! lets in-flight requests finish, and waits for background tasks (such as deregistering from
//! discovery) to wind down, each within a grace period.

use std::{future::Future, net::SocketAddr, pin::Pin, sync::Arc, time::Duration};

use anyhow::Context as _;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use crate::started::{SharedSettings, Started};
use crate::{
    actuator::{Actuator, ActuatorGuard, Endpoint, HealthRegistry, ManagementSettings},
    discovery::client::{EurekaClientSettings, InstanceSettings},
    metrics::Metrics,
    security::{ResourceServer, client::ClientCredentials},
    server::{StackOptions, with_common_layers},
    settings::{Bootstrap, FacturaSettings, ServerSettings, Settings, SettingsError},
    tls::{ClientTlsSettings, ServerTls},
};

/// How long in-flight work may take after a stop signal.
const GRACE: Duration = Duration::from_secs(10);

/// A boxed future, for the function pointers below.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What a service crate exports so it can be run, launched and tested.
#[derive(Debug, Clone, Copy)]
pub struct ServiceDefinition {
    /// The service's name, also its `spring.application.name` (`customer-service`).
    pub name: &'static str,
    /// Its well-known port (`8081`).
    pub default_port: u16,
    /// Built-in defaults beyond name and port.
    pub defaults: &'static [(&'static str, &'static str)],
    /// Builds the application from a context whose settings are loaded.
    pub build: fn(ServiceContext) -> BoxFuture<anyhow::Result<Application>>,
}

impl ServiceDefinition {
    /// The bootstrap layers for this service from its command-line arguments:
    /// `--config <file>` (or `--config=<file>`) names the local file, every other argument is a
    /// `--key=value` property.
    pub fn bootstrap(&self, args: Vec<String>) -> Bootstrap {
        let mut bootstrap = Bootstrap::new(self.name, self.default_port);
        for (key, value) in self.defaults {
            bootstrap = bootstrap.default(key, *value);
        }
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if arg == "--config" {
                bootstrap.config_file = args.next().map(Into::into);
            } else if let Some(path) = arg.strip_prefix("--config=") {
                bootstrap.config_file = Some(path.into());
            } else {
                bootstrap.args.push(arg);
            }
        }
        bootstrap
    }

    /// Loads settings, builds the application and binds its port.
    pub async fn start(&self, bootstrap: &Bootstrap) -> anyhow::Result<Application> {
        let settings = load_settings(bootstrap).await?;
        (self.build)(ServiceContext::new(settings)).await
    }
}

/// Loads a service's settings: the local layers, then the remote ones `spring.config.import` names.
pub async fn load_settings(bootstrap: &Bootstrap) -> anyhow::Result<Settings> {
    let settings = Settings::load(bootstrap)?;
    settings
        .config_import()
        .context("reading spring.config.import")?;
    match crate::config_client::load_remote(&settings).await? {
        Some(remote) => Ok(settings.with_remote(remote)),
        None => Ok(settings),
    }
}

type BackgroundTask = Box<dyn FnOnce(Started) -> BoxFuture<()> + Send + Sync>;

/// Everything a service's `build` function works with.
pub struct ServiceContext {
    /// The live settings.
    pub settings: SharedSettings,
    /// Health components; register checks here.
    pub health: HealthRegistry,
    /// Request metrics and extra gauges.
    pub metrics: Metrics,
    /// Cancelled when the service must stop.
    pub shutdown: CancellationToken,
    /// The registry as fetched from discovery (`up_instances("CUSTOMER-SERVICE")`), kept fresh
    /// by the discovery client while `eureka.client.enabled` (default true).
    pub discovery: crate::discovery::RegistryCache,
    tasks: Vec<BackgroundTask>,
    endpoints: Vec<Endpoint>,
    per_core: bool,
    listener: Option<std::net::TcpListener>,
    resource_server: bool,
    client_credentials: Arc<std::sync::OnceLock<Option<ClientCredentials>>>,
}

impl std::fmt::Debug for ServiceContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceContext")
            .field("settings", &self.settings)
            .field("tasks", &self.tasks.len())
            .finish_non_exhaustive()
    }
}

impl ServiceContext {
    /// A context for a service with these settings.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings: SharedSettings::new(settings),
            health: HealthRegistry::default(),
            metrics: Metrics::default(),
            shutdown: CancellationToken::new(),
            discovery: crate::discovery::RegistryCache::new(),
            tasks: Vec::new(),
            endpoints: Vec::new(),
            per_core: false,
            listener: None,
            resource_server: true,
            client_credentials: Arc::default(),
        }
    }

    /// Keeps this service out of the OAuth2 resource-server layer even when
    /// `spring.security.oauth2.resourceserver.jwt.*` is set (discovery and config, which
    /// answer machines with their own Basic credentials).
    pub fn without_resource_server(&mut self) {
        self.resource_server = false;
    }

    /// The client-credentials grant this service's calls without a caller use
    /// (`spring.security.oauth2.client.registration.*`, [`crate::security::client`]), one per
    /// service so every client shares its cached token.
    pub fn client_credentials(&self) -> Result<Option<ClientCredentials>, SettingsError> {
        if let Some(client) = self.client_credentials.get() {
            return Ok(client.clone());
        }
        let client = ClientCredentials::from_settings(&self.settings.current())?;
        Ok(self.client_credentials.get_or_init(|| client).clone())
    }

    /// Runs `task` once the port is bound; it must return after `Started::shutdown` is cancelled.
    pub fn on_start<F, Fut>(&mut self, task: F)
    where
        F: FnOnce(Started) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.tasks
            .push(Box::new(move |started| Box::pin(task(started))));
    }

    /// Adds an actuator endpoint of the service's own (the gateway's `gateway`), mapped as the
    /// `management.*` exposure and access settings allow, like the built-in ones.
    pub fn actuator_endpoint(&mut self, endpoint: Endpoint) {
        self.endpoints.push(endpoint);
    }

    /// Serves connections on one single-threaded runtime per core (accepting from the same
    /// port), instead of on the shared work-stealing runtime: no cross-thread hand-offs per
    /// request, which is what a proxy (the gateway) spends most of its time on.
    pub fn serve_on_each_core(&mut self) {
        self.per_core = true;
    }

    /// Serves on `listener`, already bound, instead of binding `server.address:server.port`: a
    /// test that must know a port before the service starts (peers listing each other) binds
    /// port 0 itself and hands the socket over, so no other process can take the port between.
    pub fn listen_on(&mut self, listener: std::net::TcpListener) {
        self.listener = Some(listener);
    }

    /// Binds `server.address:server.port` and assembles the full router around `routes`.
    pub async fn into_application(self, routes: Router) -> anyhow::Result<Application> {
        self.into_application_with_fallback(routes, None::<Router>)
            .await
    }

    /// Like [`Self::into_application`], and requests no route matches go to `fallback`
    /// *outside* the common layers (no body limit, request timeout or error-body rewriting):
    /// the gateway's streaming proxy.
    pub async fn into_application_with_fallback<F>(
        mut self,
        routes: Router,
        fallback: Option<F>,
    ) -> anyhow::Result<Application>
    where
        F: tower::Service<
                axum::extract::Request,
                Response = axum::response::Response,
                Error = std::convert::Infallible,
            > + Clone
            + Send
            + Sync
            + 'static,
        F::Future: Send + 'static,
    {
        // `POST /actuator/refresh` and the config watch (live configuration).
        let refresher = crate::config_client::Refresher::new(self.settings.clone())?;
        let watcher = refresher.clone();
        self.on_start(move |started| watcher.watch(started));
        let settings = self.settings.current();
        // Register with discovery, renew, keep the registry cache fresh, cancel on stop.
        let discovery: EurekaClientSettings = settings.bind("eureka.client")?;
        // Bound now so that a bad instance setting stops the start before the port is bound.
        settings.bind::<InstanceSettings>("eureka.instance")?;
        if discovery.enabled {
            let cache = self.discovery.clone();
            self.on_start(move |started| crate::discovery::client::run(started, cache));
        }
        let name = settings.application_name();
        let server: ServerSettings = settings.bind("server")?;
        let tls = ServerTls::from_settings(&settings)?;
        // The clients' trust is read when each client is built; a bad one stops the start here.
        ClientTlsSettings::platform(&settings)?.client_config()?;
        if let Some(tls) = tls.clone().filter(ServerTls::reloads) {
            self.on_start(move |started| tls.watch(started.shutdown));
        }
        let options = StackOptions {
            max_body_bytes: settings.bind::<FacturaSettings>("factura")?.max_body_bytes,
            request_timeout: server.request_timeout,
            forwarded_headers: server.forward_headers_strategy != "none",
            https: tls.is_some(),
        };
        let actuator = Actuator {
            name: name.clone(),
            health: self.health.clone(),
            metrics: self.metrics.clone(),
            settings: settings.bind::<ManagementSettings>("management")?,
            guard: ActuatorGuard::new(
                settings
                    .bind::<crate::security::UserSettings>("spring.security.user")?
                    .credentials()?,
            ),
        };
        let mut endpoints = std::mem::take(&mut self.endpoints);
        endpoints.push(Endpoint {
            id: "refresh",
            path: "/actuator/refresh",
            read: Router::new(),
            write: refresher.routes(),
        });
        // The OAuth2 resource server, when configured: one layer inside the common ones (its
        // 401/403 are counted and logged like any answer), around the routes and the
        // gateway's proxy alike. Not configured, there is no layer at all.
        let resource_server = if self.resource_server {
            ResourceServer::from_settings(&settings)?
        } else {
            None
        };
        let guard = |server: &ResourceServer| {
            axum::middleware::from_fn_with_state(server.clone(), crate::security::layer)
        };
        let mut routes = routes.merge(actuator.routes(endpoints));
        if let Some(server) = &resource_server {
            routes = routes.layer(guard(server));
        }
        let mut router = with_common_layers(routes, self.metrics.clone(), &options);
        match (fallback, &resource_server) {
            (Some(fallback), Some(server)) => {
                router = router.fallback_service(tower::Layer::layer(&guard(server), fallback));
            }
            (Some(fallback), None) => router = router.fallback_service(fallback),
            (None, _) => {}
        }
        let address = format!("{}:{}", server.address, server.port);
        let listener = match self.listener.take() {
            Some(listener) => listener
                .set_nonblocking(true)
                .and_then(|()| TcpListener::from_std(listener)),
            None if self.per_core => crate::server::bind_shared(&address).await,
            None => TcpListener::bind(&address).await,
        }
        .with_context(|| format!("{name} cannot listen on {address}"))?;
        Ok(Application {
            name,
            listener,
            tls,
            router,
            limits: server.connections,
            context: self,
        })
    }
}

/// A service with its port bound, ready to serve.
#[derive(Debug)]
pub struct Application {
    name: String,
    listener: TcpListener,
    tls: Option<ServerTls>,
    router: Router,
    limits: crate::server::ConnectionLimits,
    context: ServiceContext,
}

impl Application {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The service's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The token that stops the service when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.context.shutdown.clone()
    }

    /// The live settings.
    pub fn settings(&self) -> SharedSettings {
        self.context.settings.clone()
    }

    /// Serves until the shutdown token is cancelled, then drains.
    pub async fn run(self) -> anyhow::Result<()> {
        let local_addr = self.local_addr();
        let Application {
            name,
            listener,
            tls,
            router,
            limits,
            context,
        } = self;
        let shutdown = context.shutdown.clone();
        let started = Started {
            local_addr,
            shutdown: shutdown.clone(),
            settings: context.settings.clone(),
            health: context.health.clone(),
        };
        let mut tasks = tokio::task::JoinSet::new();
        for task in context.tasks {
            tasks.spawn(task(started.clone()));
        }
        tracing::info!(service = %name, %local_addr, tls = tls.is_some(), "started");

        let stop = shutdown.clone();
        // Served inline (not spawned), so dropping this future closes the listener too.
        let serving: BoxFuture<std::io::Result<()>> = if context.per_core {
            Box::pin(crate::server::serve_on_each_core(
                listener, tls, router, limits, stop,
            ))
        } else {
            Box::pin(async move {
                crate::server::serve(listener, tls.as_ref(), router, limits, stop).await
            })
        };
        tokio::pin!(serving);
        let outcome = tokio::select! {
            outcome = &mut serving => Some(outcome),
            () = shutdown.cancelled() => tokio::time::timeout(GRACE, &mut serving).await.ok(),
        };
        match outcome {
            Some(Ok(())) => {}
            Some(Err(e)) => tracing::warn!(error = %e, "server error"),
            None => tracing::warn!("in-flight requests did not finish within the grace period"),
        }
        // The server can only end early on an accept error; stop the rest with it.
        shutdown.cancel();
        if tokio::time::timeout(GRACE, async { while tasks.join_next().await.is_some() {} })
            .await
            .is_err()
        {
            tracing::warn!("background tasks did not stop within the grace period");
        }
        tracing::info!(service = %name, "stopped");
        Ok(())
    }
}

/// The body of a service's `main`: telemetry, settings from the command line, run until a
/// stop signal.
pub async fn run_until_signal(
    definition: &ServiceDefinition,
    args: Vec<String>,
) -> anyhow::Result<()> {
    run_until_signal_reporting(definition, args, |_| {}).await
}

/// [`run_until_signal`], calling `listening` with the bound address before serving: a
/// supervisor that started the service on port 0 learns its port from it, race-free.
pub async fn run_until_signal_reporting(
    definition: &ServiceDefinition,
    args: Vec<String>,
    listening: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    crate::telemetry::init();
    let bootstrap = definition.bootstrap(args);
    let app = definition.start(&bootstrap).await?;
    listening(app.local_addr());
    let token = app.shutdown_token();
    tokio::spawn(async move {
        crate::server::shutdown_signal().await;
        tracing::info!("stop signal received, shutting down");
        token.cancel();
    });
    app.run().await
}
