//! config-service: centralised configuration for every factura service, speaking the Spring
//! Cloud Config Server protocol on port 8888, so Spring Boot clients, the PyPI `config-client`
//! and the npm `cloud-config-client` read from it unchanged.
//!
//! * `api`: the routes — Environment JSON, `.yml`/`.properties`/`.json`, plain-text resources,
//!   `/encrypt`, `/decrypt`, optional HTTP basic auth.
//! * `snapshot`: immutable repository states, Spring's property-source precedence, and the
//!   v2 origins of values.
//! * `render`: the merged flat renderings and `${…}` resolution; `yaml_dump` writes YAML as
//!   SnakeYAML does.
//! * `backend` and `git`: the folder (native) and git backends, each keeping its snapshot
//!   current in the background.
//! * [`settings`]: the `spring.cloud.config.server.*` sections, bound once at start.
//!
//! Configured with Spring's own keys: `spring.cloud.config.server.git.uri` (with `default-label`,
//! `try-master-branch`, `search-paths`, `refresh-rate`, `username`, `password`, `basedir`,
//! `timeout`, `skip-ssl-validation`, `clone-on-start`, `force-pull`) selects git (https remotes
//! trust what `factura.ssl.client.*` says);
//! otherwise `spring.cloud.config.server.native.search-locations` (default `./config-repo`).
//! `encrypt.key` (`ENCRYPT_KEY`) and `encrypt.salt` enable `{cipher}` values;
//! `spring.security.user.password` turns on basic auth (user `spring.security.user.name`,
//! default `user`). The service never imports configuration from itself.

mod api;
mod backend;
mod git;
mod render;
pub mod settings;
mod snapshot;
mod yaml_dump;

use std::{sync::Arc, time::Duration};

use platform::{
    Application, ServiceContext, ServiceDefinition, actuator::Health, cipher::EncryptSettings,
    security::UserSettings, settings::Settings, tls::ClientTlsSettings,
};
use serde_json::json;

use crate::{
    api::ServerState,
    backend::{Backend, NativeBackend},
    git::{GitBackend, GitOptions},
    settings::{ConfigServerSettings, GitSettings, NativeSettings},
};

/// How `factura` runs this service.
pub const SERVICE: ServiceDefinition = ServiceDefinition {
    name: "config-service",
    default_port: 8888,
    defaults: &[
        // The config server does not read its own configuration from a config server.
        ("spring.cloud.config.enabled", "false"),
        ("spring.config.import", ""),
    ],
    build: |context| Box::pin(build(context)),
};

const SERVER: &str = "spring.cloud.config.server";

/// Opens the configured backend and mounts the config server routes.
pub async fn build(mut context: ServiceContext) -> anyhow::Result<Application> {
    let settings = context.settings.current();
    let backend = open_backend(&settings).await?;
    let state = Arc::new(server_state(&settings, backend.clone())?);

    let probe = backend.clone();
    context.health.register("configServer", move || {
        let probe = probe.clone();
        async move {
            match probe.resolve(None).await {
                Ok(snapshot) => Health::up(json!({
                    "repositories": [{"name": "app", "profiles": ["default"], "version": snapshot.version}],
                })),
                Err(error) => Health::down(json!({ "error": error.to_string() })),
            }
        }
    });
    context.on_start(move |started| backend.run(started.shutdown));
    let routes = api::routes(state);
    // Config clients authenticate with Basic credentials (`spring.security.user.*`), not tokens.
    context.without_resource_server();
    context.into_application(routes).await
}

async fn open_backend(settings: &Settings) -> anyhow::Result<Backend> {
    let git: GitSettings = settings.bind(&format!("{SERVER}.git"))?;
    if let Some(uri) = git.uri {
        let mut tls = ClientTlsSettings::platform(settings)?;
        tls.skip_validation = git.skip_ssl_validation;
        let mut tls = tls.client_config()?;
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        // JGit always fetches with forced refspecs into its own clone, so `force-pull`'s
        // "discard local changes" holds whatever it says (it is bound so a bad value is refused).
        let _ = git.force_pull;
        let options = GitOptions {
            uri,
            default_label: git.default_label,
            try_master_branch: git.try_master_branch,
            search_paths: git.search_paths,
            // Spring's 0 means "fetch on every request"; here fetching is never on the request
            // path, so 0 means "as often as is sensible": every second.
            refresh: (git.refresh_rate >= 0)
                .then(|| Duration::from_secs(git.refresh_rate.max(1).unsigned_abs())),
            timeout: git.timeout,
            credentials: git.username.map(|u| (u, git.password.unwrap_or_default())),
            basedir: git.basedir.map(Into::into),
            tls: Arc::new(tls),
        };
        let backend = Arc::new(GitBackend::new(options)?);
        // Clone before serving, so the first requests find the repository. With
        // `clone-on-start` (Spring's fail-fast switch) a clone that fails stops the start;
        // otherwise it is reported and retried in the background.
        if let Err(error) = backend.sync().await {
            if git.clone_on_start {
                anyhow::bail!(
                    "cannot clone the configuration repository {} (spring.cloud.config.server.git.clone-on-start=true): {error:#}",
                    backend.uri()
                );
            }
            tracing::error!(uri = %backend.uri(), error = %format!("{error:#}"), "cannot clone the configuration repository; will keep trying");
        }
        return Ok(Backend::Git(backend));
    }
    let native: NativeSettings = settings.bind(&format!("{SERVER}.native"))?;
    let backend = NativeBackend::new(
        &native.search_locations,
        native.version,
        native.default_label,
        native.poll_interval,
    )?;
    tracing::info!(locations = ?native.search_locations, "serving configuration from a folder");
    Ok(Backend::Native(Arc::new(backend)))
}

fn server_state(settings: &Settings, backend: Backend) -> anyhow::Result<ServerState> {
    let encryptor = settings.bind::<EncryptSettings>("encrypt")?.encryptor;
    let server: ConfigServerSettings = settings.bind(SERVER)?;
    let overrides_prefix = format!("{SERVER}.overrides.");
    let mut overrides: Vec<(String, String)> = Vec::new();
    for source in settings.sources().iter().rev() {
        for (key, value) in &source.properties {
            if let Some(name) = key.strip_prefix(&overrides_prefix) {
                overrides.retain(|(k, _)| k != name);
                overrides.push((name.to_owned(), value.clone()));
            }
        }
    }
    let credentials = settings
        .bind::<UserSettings>("spring.security.user")?
        .credentials()?;
    Ok(ServerState {
        backend,
        prefix: server.prefix,
        overrides,
        encryptor,
        decrypt_served_values: server.decrypt_served_values,
        accept_empty: server.accept_empty,
        credentials,
    })
}
