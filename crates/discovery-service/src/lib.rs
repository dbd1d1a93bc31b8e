//! discovery-service: the directory of the system, a Netflix Eureka–compatible registry on port
//! 8761. Unmodified Eureka clients (Spring Cloud Netflix, `py_eureka_client`, `eureka-js-client`)
//! register, renew and discover against it, and so does every factura service through
//! [`platform::discovery`].
//!
//! * [`registry`]: leases, status overrides, eviction, self-preservation, deltas.
//! * [`api`]: the REST surface under `/eureka/` and `/eureka/v2/`, JSON and XML.
//! * [`replication`]: peer nodes from `defaultZone`, batching, start-up sync, conflicts.
//! * [`task`]: the changes the registry hands to replication, and their wire form.
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
pub mod state;
pub mod task;

use std::{sync::Arc, time::Duration};

use anyhow::{Context as _, bail};
use platform::{Application, ServiceContext, ServiceDefinition, Settings, settings::SettingsError};

use crate::{
    registry::{Registry, RegistryConfig},
    replication::{PeerSet, ReplicationConfig},
    state::{AppState, DashboardInfo},
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

fn millis(settings: &Settings, key: &str, default: u64) -> anyhow::Result<Duration> {
    let ms: u64 = settings.parse_or(key, default)?;
    if ms == 0 || ms > 30 * 24 * 3_600_000 {
        return Err(SettingsError::Invalid {
            key: key.into(),
            value: ms.to_string(),
            expected: "whole milliseconds between 1 and 30 days".into(),
        }
        .into());
    }
    Ok(Duration::from_millis(ms))
}

/// Reads `eureka.server.*` into the registry's configuration.
pub fn registry_config(settings: &Settings) -> anyhow::Result<RegistryConfig> {
    let threshold: f64 = settings.parse_or("eureka.server.renewal-percent-threshold", 0.85)?;
    if !(0.0..=1.0).contains(&threshold) {
        return Err(SettingsError::Invalid {
            key: "eureka.server.renewal-percent-threshold".into(),
            value: threshold.to_string(),
            expected: "a number between 0 and 1".into(),
        }
        .into());
    }
    Ok(RegistryConfig {
        self_preservation: settings.flag("eureka.server.enable-self-preservation", true)?,
        renewal_percent_threshold: threshold,
        eviction_interval: millis(
            settings,
            "eureka.server.eviction-interval-timer-in-ms",
            60_000,
        )?,
        delta_retention: millis(
            settings,
            "eureka.server.retention-time-in-ms-in-delta-queue",
            180_000,
        )?,
        response_cache_ttl: millis(
            settings,
            "eureka.server.response-cache-update-interval-ms",
            30_000,
        )?,
        override_expiry: Duration::from_secs(3600),
        warning_grace: millis(
            settings,
            "eureka.server.self-preservation-warning-grace-ms",
            300_000,
        )?,
    })
}

/// Builds the registry, its background tasks and routes.
pub async fn build(mut context: ServiceContext) -> anyhow::Result<Application> {
    let settings = context.settings.current();
    let registry = Arc::new(Registry::new(registry_config(&settings)?));
    let peers = Arc::new(PeerSet::default());
    let auth = match (
        settings.get("spring.security.user.name"),
        settings.get("spring.security.user.password"),
    ) {
        (Some(user), Some(password)) => Some((user, password)),
        (None, None) => None,
        _ => bail!("spring.security.user.name and spring.security.user.password go together"),
    };
    let state = Arc::new(AppState {
        registry: registry.clone(),
        peers: peers.clone(),
        auth,
        dashboard: DashboardInfo {
            enabled: settings.flag("eureka.dashboard.enabled", true)?,
            environment: settings.get_or("eureka.environment", "test"),
            datacenter: settings.get_or("eureka.datacenter", "default"),
            refresh_seconds: settings.parse_or("eureka.dashboard.refresh-seconds", 10)?,
        },
        max_body_bytes: settings.parse_or("factura.max-body-bytes", 1024 * 1024)?,
    });

    let housekeeping = registry.clone();
    context.on_start(move |started| housekeeping.housekeeping(started.shutdown));

    let replication_config = ReplicationConfig {
        peers: Vec::new(),
        sync_retries: settings.parse_or("eureka.server.registry-sync-retries", 5)?,
        sync_wait: millis(
            &settings,
            "eureka.server.registry-sync-retry-wait-ms",
            2_000,
        )?,
        peer_timeout: millis(&settings, "eureka.server.peer-node-read-timeout-ms", 5_000)?,
        tls: platform::tls::ClientTlsSettings::platform(&settings)?,
    };
    let replicated = registry.clone();
    context.on_start(move |started| async move {
        let settings = started.settings.current();
        // Only an explicit defaultZone names peers: the built-in default points at port 8761,
        // which is not a peer of a node started elsewhere (tests, a second system).
        let Some(zone) = settings.get("eureka.client.service-url.defaultZone") else {
            return;
        };
        let zone = platform::settings::split_list(&zone);
        let my_url = settings.get("eureka.server.my-url");
        let config = ReplicationConfig {
            peers: replication::peer_urls(&zone, my_url.as_deref(), started.local_addr),
            ..replication_config
        };
        replication::run(replicated, peers, config, started.shutdown).await;
    });

    let dashboard_path = settings.get_or("eureka.dashboard.path", "/");
    if !dashboard_path.starts_with('/') {
        bail!("eureka.dashboard.path must start with /");
    }
    context
        .into_application(api::routes(state, &dashboard_path))
        .await
        .context("starting discovery-service")
}
