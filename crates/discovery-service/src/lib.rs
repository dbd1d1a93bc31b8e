//! discovery-service: the directory of the system, a Netflix Eureka–compatible registry on port
//! 8761. Unmodified Eureka clients (Spring Cloud Netflix, `py_eureka_client`, `eureka-js-client`)
//! register, renew and discover against it, and so does every factura service through
//! [`platform::discovery`].
//!
//! * [`registry`]: leases, status overrides, eviction, self-preservation, deltas.
//! * [`api`]: the REST surface under `/eureka/` and `/eureka/v2/`, JSON and XML.
//! * [`replication`]: peer nodes from `defaultZone`, batching, start-up sync, conflicts.
//! * [`task`]: the changes the registry hands to replication, and their wire form.
//! * [`settings`]: the `eureka.server.*` and `eureka.dashboard.*` sections.
//! * [`state`]: what the HTTP handlers share.
//! * [`dashboard`]: the HTML page at `/`.
//! * [`payload`]: large registry bodies as shared 64 KiB chunks.
//!
//! Standalone by default: it neither registers with itself nor fetches (Spring's
//! `register-with-eureka=false`, `fetch-registry=false`). An explicit
//! `eureka.client.service-url.defaultZone` lists its peers (its own URL is skipped).

pub mod api;
pub mod dashboard;
pub mod payload;
pub mod registry;
pub mod replication;
pub mod settings;
pub mod state;
pub mod task;

use std::sync::Arc;

use anyhow::Context as _;
use platform::{
    Application, ServiceContext, ServiceDefinition, discovery::client::EurekaClientSettings,
    security::UserSettings, settings::FacturaSettings,
};

use crate::{
    registry::Registry,
    replication::{PeerSet, ReplicationConfig},
    settings::{DashboardSettings, EurekaServerSettings},
    state::AppState,
};

/// How `factura` runs this service.
pub const SERVICE: ServiceDefinition = ServiceDefinition {
    name: "discovery-service",
    default_port: 8761,
    defaults: &[
        ("eureka.client.register-with-eureka", "false"),
        ("eureka.client.fetch-registry", "false"),
    ],
    build: |context| Box::pin(build(context)),
};

/// Builds the registry, its background tasks and routes.
pub async fn build(mut context: ServiceContext) -> anyhow::Result<Application> {
    let settings = context.settings.current();
    let server: EurekaServerSettings = settings.bind("eureka.server")?;
    let dashboard: DashboardSettings = settings.bind("eureka.dashboard")?;
    let users: UserSettings = settings.bind("spring.security.user")?;
    let registry = Arc::new(Registry::new(server.registry.clone()));
    let peers = Arc::new(PeerSet::default());
    let state = Arc::new(AppState {
        registry: registry.clone(),
        peers: peers.clone(),
        auth: users.credentials()?,
        dashboard: dashboard.clone(),
        max_body_bytes: settings.bind::<FacturaSettings>("factura")?.max_body_bytes,
    });

    let housekeeping = registry.clone();
    context.on_start(move |started| housekeeping.housekeeping(started.shutdown));

    let replication_config = ReplicationConfig {
        peers: Vec::new(),
        sync_retries: server.sync_retries,
        sync_wait: server.sync_wait,
        peer_timeout: server.peer_timeout,
        tls: platform::tls::ClientTlsSettings::platform(&settings)?,
    };
    let my_url = server.my_url;
    let replicated = registry.clone();
    context.on_start(move |started| async move {
        // Only an explicit defaultZone names peers: the built-in default points at port 8761,
        // which is not a peer of a node started elsewhere (tests, a second system).
        let client = started
            .settings
            .current()
            .bind::<EurekaClientSettings>("eureka.client");
        let Ok(EurekaClientSettings {
            default_zone: Some(zone),
            ..
        }) = client
        else {
            return;
        };
        let config = ReplicationConfig {
            peers: replication::peer_urls(&zone, my_url.as_deref(), started.local_addr),
            ..replication_config
        };
        replication::run(replicated, peers, config, started.shutdown).await;
    });

    // Eureka clients authenticate with Basic credentials (`spring.security.user.*`), not tokens.
    context.without_resource_server();
    context
        .into_application(api::routes(state, &dashboard.path))
        .await
        .context("starting discovery-service")
}
