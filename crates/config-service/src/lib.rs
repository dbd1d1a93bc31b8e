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
mod snapshot;
mod yaml_dump;

use std::{sync::Arc, time::Duration};

use platform::{
    Application, ServiceContext, ServiceDefinition,
    actuator::Health,
    cipher::EncryptSettings,
    security::UserSettings,
    settings::{DurationUnit, Settings, split_list},
    tls::ClientTlsSettings,
};
use serde_json::json;

use crate::{
    api::ServerState,
    backend::{Backend, NativeBackend},
    git::{GitBackend, GitOptions},
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
    context.into_application(routes).await
}

async fn open_backend(settings: &Settings) -> anyhow::Result<Backend> {
    let key = |k: &str| format!("{SERVER}.{k}");
    if let Some(uri) = settings
        .get(&key("git.uri"))
        .filter(|u| !u.trim().is_empty())
    {
        let refresh_rate: i64 = settings.parse_or(&key("git.refresh-rate"), 0)?;
        let username = settings.get(&key("git.username"));
        let mut tls = ClientTlsSettings::platform(settings)?;
        if settings.flag(&key("git.skip-ssl-validation"), false)? {
            tls.use_insecure_trust_manager = true;
            tls.trusted_x509_certificates.clear();
        }
        let mut tls = tls.client_config()?;
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        // JGit always fetches with forced refspecs into its own clone, so `force-pull`'s
        // "discard local changes" holds whatever it says; it is read so a bad value is refused.
        settings.flag(&key("git.force-pull"), false)?;
        let clone_on_start = settings.flag(&key("git.clone-on-start"), false)?;
        let options = GitOptions {
            uri: uri.trim().to_owned(),
            default_label: settings
                .get(&key("git.default-label"))
                .filter(|l| !l.is_empty()),
            try_master_branch: settings.flag(&key("git.try-master-branch"), true)?,
            search_paths: split_list(&settings.get_or(&key("git.search-paths"), "")),
            // Spring's 0 means "fetch on every request"; here fetching is never on the request
            // path, so 0 means "as often as is sensible": every second.
            refresh: (refresh_rate >= 0)
                .then(|| Duration::from_secs(refresh_rate.max(1).unsigned_abs())),
            timeout: Duration::from_secs(settings.parse_or(&key("git.timeout"), 5)?),
            credentials: username
                .map(|u| (u, settings.get(&key("git.password")).unwrap_or_default())),
            basedir: settings.get(&key("git.basedir")).map(Into::into),
            tls: Arc::new(tls),
        };
        let git = Arc::new(GitBackend::new(options)?);
        // Clone before serving, so the first requests find the repository. With
        // `clone-on-start` (Spring's fail-fast switch) a clone that fails stops the start;
        // otherwise it is reported and retried in the background.
        if let Err(error) = git.sync().await {
            if clone_on_start {
                anyhow::bail!(
                    "cannot clone the configuration repository {} (spring.cloud.config.server.git.clone-on-start=true): {error:#}",
                    git.uri()
                );
            }
            tracing::error!(uri = %git.uri(), error = %format!("{error:#}"), "cannot clone the configuration repository; will keep trying");
        }
        return Ok(Backend::Git(git));
    }
    let locations = split_list(&settings.get_or(&key("native.search-locations"), "./config-repo"));
    let native = NativeBackend::new(
        &locations,
        settings
            .get(&key("native.version"))
            .filter(|v| !v.is_empty()),
        settings.get_or(&key("native.default-label"), "master"),
        settings.duration_or(
            &key("native.poll-interval"),
            DurationUnit::Millis,
            Duration::from_secs(1),
        )?,
    )?;
    tracing::info!(locations = ?locations, "serving configuration from a folder");
    Ok(Backend::Native(Arc::new(native)))
}

fn server_state(settings: &Settings, backend: Backend) -> anyhow::Result<ServerState> {
    let encryptor = settings.bind::<EncryptSettings>("encrypt")?.encryptor;
    let mut prefix = settings.get_or(&format!("{SERVER}.prefix"), "");
    prefix = prefix.trim_end_matches('/').to_owned();
    if !prefix.is_empty() && !prefix.starts_with('/') {
        prefix.insert(0, '/');
    }
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
        prefix,
        overrides,
        encryptor,
        decrypt_served_values: settings.flag(&format!("{SERVER}.encrypt.enabled"), true)?,
        accept_empty: settings.flag(&format!("{SERVER}.accept-empty"), true)?,
        credentials,
    })
}
