//! The Eureka client every service runs: register, renew, fetch the registry, cancel.
//!
//! It never blocks serving. It starts after the port is bound ([`run`] is an `on_start` task):
//! while no discovery server answers it retries with a doubling backoff (capped at the renewal
//! interval), and registers as soon as one appears. Once registered it renews every
//! `eureka.instance.lease-renewal-interval-in-seconds`; a 404 means the server forgot the lease
//! (a restart, an eviction) and triggers an immediate re-registration. In parallel it fetches the
//! full registry, then deltas every `eureka.client.registry-fetch-interval-seconds`, merging
//! them into the [`RegistryCache`] and falling back to a full fetch when the merged view's
//! `apps__hashcode` disagrees with the server's. A lookup that finds no instance of an
//! application asks for a fetch at once (rate-limited, [`ON_DEMAND_FETCH_GAP`]), so services
//! started together find each other on their first call. On shutdown it cancels its lease.
//!
//! Several servers (`defaultZone` is a comma list) are tried in order, starting from the last one
//! that answered; a connection failure or a 5xx moves on to the next.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use anyhow::Context as _;
use reqwest::{Method, StatusCode};
use tokio_util::sync::CancellationToken;

use super::{
    cache::{ON_DEMAND_FETCH_GAP, RegistryCache},
    model::{self, Format, InstanceInfo},
};
use crate::{
    settings::{FromSection, Section, ServerSettings, Settings, SettingsError, split_list},
    started::Started,
    tls::ClientTlsSettings,
};

/// What an instance id must have escaped to be one path segment (`host:app:port` stays as is,
/// as Spring's client sends it).
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// The first retry delay when no discovery server answers.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// How long one call to a discovery server may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// One discovery server: its base URL (ending in `/`) and credentials from `user:pass@`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    /// `http://host:port/eureka/`, without credentials.
    pub base: String,
    /// Basic-auth user and password, if the URL carried them.
    pub credentials: Option<(String, String)>,
}

impl ServerUrl {
    /// Parses one `defaultZone` entry.
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        let mut url =
            url::Url::parse(raw.trim()).with_context(|| format!("discovery URL `{raw}`"))?;
        let credentials = if url.username().is_empty() {
            None
        } else {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            Some((
                decode(url.username()),
                decode(url.password().unwrap_or_default()),
            ))
        };
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let mut base = url.to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        Ok(Self { base, credentials })
    }

    /// The URL as configured for display, with any password hidden.
    pub fn display(&self) -> String {
        self.base.clone()
    }
}

/// `eureka.instance.*`: how this service describes itself in the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceSettings {
    /// `appname` (default `spring.application.name`; upper-cased in the registry).
    pub appname: Option<String>,
    /// `instance-id` (default `host:spring.application.name:port`, as Spring).
    pub instance_id: Option<String>,
    /// `hostname` (default the bound address when it is a specific one, else the machine's name).
    pub hostname: Option<String>,
    /// `ip-address` (default the address others reach the bound one at).
    pub ip_address: Option<String>,
    /// `prefer-ip-address`: announce the IP address as the host (default false).
    pub prefer_ip_address: bool,
    /// `non-secure-port` (default the bound port).
    pub non_secure_port: Option<u16>,
    /// `non-secure-port-enabled` (default true).
    pub non_secure_port_enabled: bool,
    /// `secure-port-enabled`: announce an https port (default false).
    pub secure_port_enabled: bool,
    /// `secure-port` (default the bound port).
    pub secure_port: Option<u16>,
    /// `virtual-host-name` (default `spring.application.name`).
    pub virtual_host_name: Option<String>,
    /// `secure-virtual-host-name` (default `spring.application.name`).
    pub secure_virtual_host_name: Option<String>,
    /// `lease-renewal-interval-in-seconds` (default 30; fractions allowed).
    pub lease_renewal_interval: Duration,
    /// `lease-expiration-duration-in-seconds` (default 90; fractions allowed).
    pub lease_expiration_duration: Duration,
    /// `metadata-map.*`, announced as the instance's metadata.
    pub metadata_map: indexmap::IndexMap<String, String>,
}

impl FromSection for InstanceSettings {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        Ok(Self {
            appname: section.get("appname"),
            instance_id: section.get("instance-id"),
            hostname: section.get("hostname"),
            ip_address: section.get("ip-address"),
            prefer_ip_address: section.flag("prefer-ip-address", false)?,
            non_secure_port: section.parse("non-secure-port")?,
            non_secure_port_enabled: section.flag("non-secure-port-enabled", true)?,
            secure_port_enabled: section.flag("secure-port-enabled", false)?,
            secure_port: section.parse("secure-port")?,
            virtual_host_name: section.get("virtual-host-name"),
            secure_virtual_host_name: section.get("secure-virtual-host-name"),
            lease_renewal_interval: seconds(
                section.parse_or("lease-renewal-interval-in-seconds", 30.0)?,
            ),
            lease_expiration_duration: seconds(
                section.parse_or("lease-expiration-duration-in-seconds", 90.0)?,
            ),
            metadata_map: section.map("metadata-map"),
        })
    }
}

/// `eureka.client.*`: whether and where this service registers and fetches.
#[derive(Debug, Clone, PartialEq)]
pub struct EurekaClientSettings {
    /// `enabled`: run the discovery client at all (default true).
    pub enabled: bool,
    /// `register-with-eureka` (default true).
    pub register_with_eureka: bool,
    /// `fetch-registry` (default true).
    pub fetch_registry: bool,
    /// `registry-fetch-interval-seconds` (default 30; fractions allowed).
    pub registry_fetch_interval: Duration,
    /// `service-url.defaultZone` as written, when set (a comma list of discovery URLs).
    pub default_zone: Option<Vec<String>>,
}

impl FromSection for EurekaClientSettings {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        Ok(Self {
            enabled: section.flag("enabled", true)?,
            register_with_eureka: section.flag("register-with-eureka", true)?,
            fetch_registry: section.flag("fetch-registry", true)?,
            registry_fetch_interval: seconds(
                section.parse_or("registry-fetch-interval-seconds", 30.0)?,
            ),
            default_zone: section
                .get("service-url.defaultZone")
                .map(|zone| split_list(&zone)),
        })
    }
}

impl EurekaClientSettings {
    /// The discovery URLs: `defaultZone`, else Spring's default `http://localhost:8761/eureka/`.
    pub fn service_urls(&self) -> Vec<String> {
        self.default_zone
            .clone()
            .unwrap_or_else(|| vec!["http://localhost:8761/eureka/".to_owned()])
    }
}

/// How this service registers and what it fetches, from `eureka.*` settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Discovery servers, in preference order.
    pub servers: Vec<ServerUrl>,
    /// `eureka.client.register-with-eureka` (default true).
    pub register: bool,
    /// `eureka.client.fetch-registry` (default true).
    pub fetch: bool,
    /// `eureka.client.registry-fetch-interval-seconds` (default 30).
    pub fetch_interval: Duration,
    /// `eureka.instance.lease-renewal-interval-in-seconds` (default 30; fractions allowed).
    pub renewal_interval: Duration,
    /// The instance this service registers as.
    pub instance: InstanceInfo,
}

impl ClientConfig {
    /// The configuration of a service listening on `local_addr`.
    ///
    /// Instance id `host:app-name:port` (Spring's default, or `eureka.instance.instance-id`),
    /// app name upper-cased, host from `eureka.instance.hostname` (else the bound address when it
    /// is a specific one, else the machine's name), lease intervals from
    /// `eureka.instance.lease-*`, metadata from `eureka.instance.metadata-map.*`.
    pub fn from_settings(settings: &Settings, local_addr: SocketAddr) -> anyhow::Result<Self> {
        let client: EurekaClientSettings = settings.bind("eureka.client")?;
        let own: InstanceSettings = settings.bind("eureka.instance")?;
        let name = settings.application_name();
        let app = own.appname.clone().unwrap_or_else(|| name.clone());
        let port = own.non_secure_port.unwrap_or(local_addr.port());
        let ip = own
            .ip_address
            .clone()
            .unwrap_or_else(|| local_ip(local_addr.ip()).to_string());
        let host = if own.prefer_ip_address {
            ip.clone()
        } else {
            own.hostname
                .clone()
                .unwrap_or_else(|| default_host_name(local_addr.ip()))
        };
        let mut instance = InstanceInfo::new(&app, &host, &ip, port);
        instance.instance_id = Some(
            own.instance_id
                .clone()
                .unwrap_or_else(|| format!("{host}:{name}:{port}")),
        );
        instance.vip_address = Some(
            own.virtual_host_name
                .clone()
                .unwrap_or_else(|| name.clone()),
        );
        instance.secure_vip_address = Some(
            own.secure_virtual_host_name
                .clone()
                .unwrap_or_else(|| name.clone()),
        );
        // Whole seconds on the wire; sub-second values (tests) round up to 1.
        let whole_seconds = |d: Duration| (d.as_secs_f64().ceil() as i64).max(1);
        instance.lease_info.renewal_interval_in_secs = whole_seconds(own.lease_renewal_interval);
        instance.lease_info.duration_in_secs = whole_seconds(own.lease_expiration_duration);
        // `secure-port-enabled` announces the port as https (what callers then use, Spring's
        // `EurekaServiceInstance.isSecure`); a TLS-only service also sets
        // `non-secure-port-enabled=false`, as with Spring.
        instance.port.enabled = own.non_secure_port_enabled;
        if own.secure_port_enabled {
            let secure_port = own.secure_port.unwrap_or(local_addr.port());
            instance.secure_port.enabled = true;
            instance.secure_port.port = secure_port;
            instance.secure_health_check_url =
                Some(format!("https://{host}:{secure_port}/actuator/health"));
        }
        let base = format!("http://{host}:{port}");
        instance.home_page_url = Some(format!("{base}/"));
        instance.status_page_url = Some(format!("{base}/actuator/info"));
        instance.health_check_url = Some(format!("{base}/actuator/health"));
        // Spring announces the management port only when it is a fixed one
        // (DefaultManagementMetadataProvider): `management.server.port`, else `server.port`;
        // a random port (0) announces nothing.
        let management_port = match settings.parse::<u16>("management.server.port")? {
            Some(management) => management,
            None if settings.bind::<ServerSettings>("server")?.port == 0 => 0,
            None => port,
        };
        if management_port != 0 {
            instance
                .metadata
                .insert("management.port".into(), management_port.to_string());
        }
        instance.metadata.extend(own.metadata_map);
        let servers = client
            .service_urls()
            .iter()
            .map(|raw| ServerUrl::parse(raw))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if servers.is_empty() {
            anyhow::bail!("eureka.client.service-url.defaultZone lists no server");
        }
        Ok(Self {
            servers,
            register: client.register_with_eureka,
            fetch: client.fetch_registry,
            fetch_interval: client.registry_fetch_interval,
            renewal_interval: own.lease_renewal_interval,
            instance,
        })
    }
}

fn seconds(value: f64) -> Duration {
    Duration::from_secs_f64(if value.is_finite() {
        value.clamp(0.05, 86_400.0)
    } else {
        30.0
    })
}

/// The address others reach us at: the bound one unless it is a wildcard, else the address of
/// the interface that routes outwards, else loopback.
fn local_ip(bound: IpAddr) -> IpAddr {
    if !bound.is_unspecified() {
        return bound;
    }
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|socket| {
            // connect() on UDP sends nothing; it only selects the outgoing interface.
            socket.connect("10.255.255.255:1")?;
            socket.local_addr()
        })
        .map(|addr| addr.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

fn default_host_name(bound: IpAddr) -> String {
    if !bound.is_unspecified() {
        return bound.to_string();
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Why a call to the discovery servers failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No server could be reached, or every one answered 5xx.
    #[error("no discovery server answered: {0}")]
    Unreachable(String),
    /// A server answered with a status this call does not expect.
    #[error("discovery server answered {0}")]
    Status(StatusCode),
    /// A server's body could not be read.
    #[error("discovery server sent an unreadable body: {0}")]
    Body(String),
}

/// What a renewal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// The lease was renewed.
    Renewed,
    /// The server does not know the lease: register again.
    Unknown,
}

/// Talks to the discovery servers on behalf of one instance.
#[derive(Debug)]
pub struct DiscoveryClient {
    config: ClientConfig,
    http: reqwest::Client,
    cache: RegistryCache,
    /// Index of the server that answered last; calls start there.
    preferred: AtomicUsize,
}

impl DiscoveryClient {
    /// A client for `config` that keeps `cache` fresh.
    pub fn new(
        config: ClientConfig,
        tls: &ClientTlsSettings,
        cache: RegistryCache,
    ) -> anyhow::Result<Self> {
        let http = tls
            .reqwest_builder()?
            .connect_timeout(Duration::from_secs(2))
            .timeout(CALL_TIMEOUT)
            .build()
            .context("building the discovery HTTP client")?;
        Ok(Self {
            config,
            http,
            cache,
            preferred: AtomicUsize::new(0),
        })
    }

    /// The instance this client registers.
    pub fn instance(&self) -> &InstanceInfo {
        &self.config.instance
    }

    /// The registry cache it fills.
    pub fn cache(&self) -> &RegistryCache {
        &self.cache
    }

    /// Sends one request, trying each server from the preferred one on; returns the first answer
    /// that is not a 5xx.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, bytes::Bytes), ClientError> {
        let servers = &self.config.servers;
        if servers.is_empty() {
            return Err(ClientError::Unreachable(
                "no discovery server configured".into(),
            ));
        }
        let start = self.preferred.load(Ordering::Relaxed) % servers.len();
        let mut failures = Vec::new();
        for offset in 0..servers.len() {
            let index = (start + offset) % servers.len();
            let server = &servers[index];
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", server.base))
                .header(reqwest::header::ACCEPT, "application/json");
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some((user, password)) = &server.credentials {
                request = request.basic_auth(user, Some(password));
            }
            if let Some(body) = &body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            match request.send().await {
                Ok(response) if !response.status().is_server_error() => {
                    let status = response.status();
                    let bytes = response
                        .bytes()
                        .await
                        .map_err(|e| ClientError::Body(e.to_string()))?;
                    self.preferred.store(index, Ordering::Relaxed);
                    return Ok((status, bytes));
                }
                Ok(response) => failures.push(format!("{} → {}", server.base, response.status())),
                Err(error) => failures.push(format!("{} → {error}", server.base)),
            }
        }
        Err(ClientError::Unreachable(failures.join("; ")))
    }

    fn instance_path(&self) -> String {
        let id = self.config.instance.effective_id();
        let id = percent_encoding::utf8_percent_encode(&id, PATH_SEGMENT);
        format!("apps/{}/{id}", self.config.instance.app)
    }

    /// `POST apps/{APP}`; success is 204 (any 2xx is accepted).
    pub async fn register(&self) -> Result<(), ClientError> {
        let body = model::write_instance(&self.config.instance, Format::Json);
        let path = format!("apps/{}", self.config.instance.app);
        let (status, _) = self.call(Method::POST, &path, &[], Some(body)).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(ClientError::Status(status))
        }
    }

    /// `PUT apps/{APP}/{id}?status=…&lastDirtyTimestamp=…`.
    pub async fn renew(&self) -> Result<Renewal, ClientError> {
        let query = [
            ("status", self.config.instance.status.as_str().to_owned()),
            (
                "lastDirtyTimestamp",
                self.config.instance.last_dirty_timestamp.to_string(),
            ),
        ];
        let (status, _) = self
            .call(Method::PUT, &self.instance_path(), &query, None)
            .await?;
        match status {
            s if s.is_success() => Ok(Renewal::Renewed),
            StatusCode::NOT_FOUND => Ok(Renewal::Unknown),
            other => Err(ClientError::Status(other)),
        }
    }

    /// `DELETE apps/{APP}/{id}`.
    pub async fn cancel(&self) -> Result<(), ClientError> {
        let (status, _) = self
            .call(Method::DELETE, &self.instance_path(), &[], None)
            .await?;
        if status.is_success() || status == StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(ClientError::Status(status))
        }
    }

    /// `GET apps/` into the cache.
    pub async fn fetch_full(&self) -> Result<(), ClientError> {
        let apps = self.fetch_applications("apps/").await?;
        let apps = super::cache::keep_unexpired(&self.cache.snapshot(), apps, model::now_millis());
        self.cache.replace(apps);
        Ok(())
    }

    /// `GET apps/delta` merged into the cache; a full fetch when the hashes disagree.
    pub async fn fetch_delta(&self) -> Result<(), ClientError> {
        let delta = self.fetch_applications("apps/delta").await?;
        if !self.cache.apply_delta(&delta) {
            self.cache.forget_deleted(&delta);
            tracing::debug!("registry delta does not match the server's hash; fetching everything");
            self.fetch_full().await?;
        }
        Ok(())
    }

    async fn fetch_applications(&self, path: &str) -> Result<model::Applications, ClientError> {
        let (status, body) = self.call(Method::GET, path, &[], None).await?;
        if !status.is_success() {
            return Err(ClientError::Status(status));
        }
        model::read_applications(&body, Format::Json).map_err(|e| ClientError::Body(e.to_string()))
    }

    /// Registers and renews until `shutdown`, then cancels the lease.
    async fn keep_registered(&self, shutdown: &CancellationToken) {
        let interval = self.config.renewal_interval;
        let mut registered = false;
        let mut backoff = FIRST_BACKOFF;
        loop {
            if !registered {
                match self.register().await {
                    Ok(()) => {
                        tracing::info!(
                            instance = %self.config.instance.effective_id(),
                            "registered with discovery"
                        );
                        registered = true;
                        backoff = FIRST_BACKOFF;
                    }
                    Err(error) => {
                        tracing::warn!(%error, retry_in = ?backoff, "cannot register with discovery yet");
                        if sleep_or_stop(backoff, shutdown).await {
                            return;
                        }
                        backoff = (backoff * 2).min(interval.max(Duration::from_secs(1)));
                        continue;
                    }
                }
            }
            if sleep_or_stop(interval, shutdown).await {
                break;
            }
            match self.renew().await {
                Ok(Renewal::Renewed) => {}
                Ok(Renewal::Unknown) => {
                    tracing::info!("discovery does not know this instance; registering again");
                    registered = false;
                }
                Err(error) => tracing::warn!(%error, "lease renewal failed"),
            }
        }
        if registered {
            match tokio::time::timeout(Duration::from_secs(3), self.cancel()).await {
                Ok(Ok(())) => tracing::info!("lease cancelled"),
                Ok(Err(error)) => tracing::warn!(%error, "cancelling the lease failed"),
                Err(_) => tracing::warn!("cancelling the lease timed out"),
            }
        }
    }

    /// Keeps the cache fresh until `shutdown`: a full fetch (retried with backoff), then
    /// deltas every fetch interval, and sooner when a lookup found no instance of an
    /// application ([`RegistryCache::up_sorted_or_fetch`]), at most once per
    /// [`ON_DEMAND_FETCH_GAP`].
    async fn keep_fetching(&self, shutdown: &CancellationToken) {
        self.cache.attach_fetcher();
        let mut backoff = FIRST_BACKOFF;
        loop {
            let last = tokio::time::Instant::now();
            let result = self.fetch_full().await;
            self.cache.fetch_finished();
            match result {
                Ok(()) => break,
                Err(error) => {
                    tracing::debug!(%error, "cannot fetch the registry yet");
                    if self.wait_for_next_fetch(last, backoff, shutdown).await {
                        return;
                    }
                    backoff =
                        (backoff * 2).min(self.config.fetch_interval.max(Duration::from_secs(1)));
                }
            }
        }
        loop {
            let last = tokio::time::Instant::now();
            if self
                .wait_for_next_fetch(last, self.config.fetch_interval, shutdown)
                .await
            {
                return;
            }
            if let Err(error) = self.fetch_delta().await {
                tracing::debug!(%error, "delta fetch failed; trying a full fetch");
                if let Err(error) = self.fetch_full().await {
                    tracing::warn!(%error, "registry fetch failed");
                }
            }
            self.cache.fetch_finished();
        }
    }

    /// Waits until `interval` after `last`, or until a lookup asks for a fetch but no sooner
    /// than [`ON_DEMAND_FETCH_GAP`] after `last`; true when `shutdown` fired first.
    async fn wait_for_next_fetch(
        &self,
        last: tokio::time::Instant,
        interval: Duration,
        shutdown: &CancellationToken,
    ) -> bool {
        let scheduled = last + interval;
        tokio::select! {
            () = shutdown.cancelled() => return true,
            () = tokio::time::sleep_until(scheduled) => return false,
            () = self.cache.fetch_wanted() => {}
        }
        let earliest = (last + ON_DEMAND_FETCH_GAP).min(scheduled);
        tokio::select! {
            () = shutdown.cancelled() => true,
            () = tokio::time::sleep_until(earliest) => false,
        }
    }

    /// Runs registration and fetching (as configured) until `shutdown`.
    pub async fn run(&self, shutdown: CancellationToken) {
        let register = async {
            if self.config.register {
                self.keep_registered(&shutdown).await;
            }
        };
        let fetch = async {
            if self.config.fetch {
                self.keep_fetching(&shutdown).await;
            }
        };
        tokio::join!(register, fetch);
    }
}

/// Sleeps for `duration`; true when `shutdown` fired first.
async fn sleep_or_stop(duration: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => true,
        () = tokio::time::sleep(duration) => false,
    }
}

/// The `on_start` task of every service with `eureka.client.enabled`: builds the client from the
/// live settings and runs it until the service stops.
pub async fn run(started: Started, cache: RegistryCache) {
    let settings = started.settings.current();
    let config = match ClientConfig::from_settings(&settings, started.local_addr) {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "discovery client not started");
            return;
        }
    };
    if !config.register && !config.fetch {
        return;
    }
    let client = match ClientTlsSettings::platform(&settings)
        .map_err(anyhow::Error::from)
        .and_then(|tls| DiscoveryClient::new(config, &tls, cache))
    {
        Ok(client) => Arc::new(client),
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "discovery client not started");
            return;
        }
    };
    client.run(started.shutdown.clone()).await;
}
