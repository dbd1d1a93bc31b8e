//! Test helpers shared by every crate's integration tests (a dev-dependency only).
//!
//! [`TestService::start`] runs a real service library in-process on `127.0.0.1:0` with its own
//! database: a fresh SQLite file, or — when `TEST_DATABASE_URL` names a PostgreSQL server — a
//! fresh database on that server, dropped when the service is stopped. Discovery registration
//! and the config-server import are off unless a test turns them on, so a test talks only to
//! what it started.
//!
//! Also: [`ReservedPort`] (a port held for a server that starts later, refusing connections
//! meanwhile), [`eureka`] (stand-in Eureka registrations), [`tls`] (a test CA and
//! certificates), [`git_http`] (git's `http-backend` behind Basic auth, plain or over TLS),
//! [`oidc`] (a test-own OpenID provider for crafted tokens), [`keycloak`] (a real one).

pub mod eureka;
pub mod git_http;
pub mod keycloak;
pub mod oidc;
pub mod tls;

use std::{net::SocketAddr, time::Duration};

use platform::{
    ServiceContext, ServiceDefinition,
    app::SharedSettings,
    discovery::RegistryCache,
    settings::{Bootstrap, Settings},
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// `headers` as an echo backend answers them: each name (but those in `skip`) with the array of
/// its values, so a test sees exactly what arrived, repeated headers included.
pub fn headers_as_json(
    headers: &reqwest::header::HeaderMap,
    skip: &[&str],
) -> serde_json::Map<String, serde_json::Value> {
    headers
        .keys()
        .filter(|name| !skip.contains(&name.as_str()))
        .map(|name| {
            let values = headers
                .get_all(name)
                .iter()
                .map(|v| serde_json::Value::String(String::from_utf8_lossy(v.as_bytes()).into()))
                .collect();
            (name.as_str().to_owned(), serde_json::Value::Array(values))
        })
        .collect()
}

/// A loopback port held for a server that starts later, so its address can go into other
/// settings first without a race: the socket is bound (with `SO_REUSEADDR`) but not listening,
/// so connections to it are refused meanwhile and the OS hands the port to no one else.
#[derive(Debug)]
pub struct ReservedPort {
    socket: tokio::net::TcpSocket,
    port: u16,
}

impl ReservedPort {
    /// Holds a fresh port on 127.0.0.1.
    pub fn new() -> Self {
        Self::on(0)
    }

    fn on(port: u16) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], port)))
            .expect("a loopback port");
        let port = socket.local_addr().expect("the bound address").port();
        Self { socket, port }
    }

    /// The held port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// A second hold on the same port, for a server that replaces one started from this hold
    /// (a restart on the same address): Linux lets reusable sockets share a port while at most
    /// one of them listens.
    pub fn another_hold(&self) -> Self {
        Self::on(self.port)
    }

    /// The listening socket a service is started on ([`TestService::start_on`]).
    pub fn listen(self) -> std::net::TcpListener {
        let listener = self
            .socket
            .listen(1024)
            .expect("listening on the held port");
        listener.into_std().expect("a std listener")
    }
}

impl Default for ReservedPort {
    fn default() -> Self {
        Self::new()
    }
}

/// The environment variable naming a PostgreSQL server for the PostgreSQL leg of the tests.
pub const TEST_DATABASE_URL: &str = "TEST_DATABASE_URL";

/// The PostgreSQL server `TEST_DATABASE_URL` names, if any (an empty value counts as unset:
/// the test command's SQLite leg sets it empty).
pub fn postgres_server() -> Option<String> {
    std::env::var(TEST_DATABASE_URL)
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// A database created for one test.
#[derive(Debug)]
pub struct TestDatabase {
    /// The URL the service connects to.
    pub url: String,
    postgres_admin: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// The one number `sql` selects (`SELECT COUNT(*) …`), for a test that checks what a
    /// service stored.
    pub async fn count(&self, sql: &str) -> i64 {
        use sqlx::Row as _;
        let db = self.open().await;
        let n: i64 = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(db.pool())
            .await
            .expect("the count query")
            .try_get(0)
            .expect("a number");
        db.close().await;
        n
    }

    /// A connection pool on this database, for a test that checks what a service stored.
    pub async fn open(&self) -> platform::db::Database {
        platform::db::Database::connect(&platform::db::DataSourceSettings::from_url(&self.url))
            .await
            .expect("connecting to the test database")
    }

    /// A fresh SQLite file, or a fresh PostgreSQL database when `TEST_DATABASE_URL` is set.
    pub fn new() -> Self {
        match postgres_server() {
            Some(server) => Self::postgres(&server),
            None => Self::sqlite(),
        }
    }

    /// A fresh SQLite file in a temporary directory.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite:{}", dir.path().join("test.db").display());
        Self {
            url,
            postgres_admin: None,
            _dir: Some(dir),
        }
    }

    /// A uniquely named database on the PostgreSQL server at `server` (created by the service).
    pub fn postgres(server: &str) -> Self {
        let mut url = url::Url::parse(server).expect("TEST_DATABASE_URL is a URL");
        let name = format!("factura_test_{}_{}", std::process::id(), unique());
        url.set_path(&format!("/{name}"));
        Self {
            url: url.to_string(),
            postgres_admin: Some((server.to_owned(), name)),
            _dir: None,
        }
    }

    /// The same database for a second instance of a service: it owns nothing, so the database
    /// lives as long as `self` does (and `self` drops it).
    pub fn shared(&self) -> Self {
        Self {
            url: self.url.clone(),
            postgres_admin: None,
            _dir: None,
        }
    }

    /// Drops the PostgreSQL database (SQLite files go with the temporary directory).
    pub async fn drop_database(&self) {
        let Some((server, name)) = &self.postgres_admin else {
            return;
        };
        Self::drop_named(server, name).await;
    }

    /// Drops database `name` on the PostgreSQL server at `server`, if it exists.
    pub async fn drop_named(server: &str, name: &str) {
        sqlx::any::install_default_drivers();
        if let Ok(pool) = sqlx::AnyPool::connect(server).await {
            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
            pool.close().await;
        }
    }
}

impl Default for TestDatabase {
    fn default() -> Self {
        Self::new()
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (u64::from(nanos) << 16) | (NEXT.fetch_add(1, Ordering::Relaxed) & 0xffff)
}

/// A real service running in this process.
#[derive(Debug)]
pub struct TestService {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its database.
    pub database: TestDatabase,
    /// Its live settings: [`TestService::set`] puts a property in force as a refresh does.
    pub settings: SharedSettings,
    /// Its registry cache (what its discovery client fetched, or what a test puts there).
    pub registry: RegistryCache,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
    /// Set for services started with [`TestService::start_killable`].
    runtime: Option<tokio::runtime::Runtime>,
}

impl TestService {
    /// Starts `definition` on a free port with a fresh database and these extra properties.
    pub async fn start(definition: &ServiceDefinition, properties: &[(&str, &str)]) -> Self {
        Self::start_with_database(definition, properties, TestDatabase::new()).await
    }

    /// Starts `definition` on a free port with `database` and these extra properties.
    pub async fn start_with_database(
        definition: &ServiceDefinition,
        properties: &[(&str, &str)],
        database: TestDatabase,
    ) -> Self {
        Self::launched(definition, properties, database, None).await
    }

    async fn launched(
        definition: &ServiceDefinition,
        properties: &[(&str, &str)],
        database: TestDatabase,
        listener: Option<std::net::TcpListener>,
    ) -> Self {
        let Launched {
            addr,
            settings,
            registry,
            shutdown,
            task,
        } = launch(definition, properties, &database, listener).await;
        Self {
            addr,
            database,
            settings,
            registry,
            shutdown,
            task,
            runtime: None,
        }
    }

    /// Starts `definition` serving on `listener` (bound by the test to `127.0.0.1:0` earlier, so
    /// its port could be handed to others first) with a fresh database and these properties.
    pub async fn start_on(
        listener: std::net::TcpListener,
        definition: &ServiceDefinition,
        properties: &[(&str, &str)],
    ) -> Self {
        Self::launched(definition, properties, TestDatabase::new(), Some(listener)).await
    }

    /// Starts `definition` on a runtime of its own, so that [`TestService::kill`] can end it
    /// the way a crash does: every socket closed at once, nothing deregistered.
    pub async fn start_killable(
        definition: &'static ServiceDefinition,
        properties: &[(&str, &str)],
    ) -> Self {
        Self::start_killable_with_database(definition, properties, TestDatabase::new()).await
    }

    /// [`TestService::start_killable`] on `database` (another instance's, through
    /// [`TestDatabase::shared`], to see what a crash leaves behind for the others).
    pub async fn start_killable_with_database(
        definition: &'static ServiceDefinition,
        properties: &[(&str, &str)],
        database: TestDatabase,
    ) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the service");
        let properties: Vec<(String, String)> = properties
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let url = database.url.clone();
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let task = runtime.spawn(async move {
            let borrowed: Vec<(&str, &str)> = properties
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let database = TestDatabase {
                url,
                postgres_admin: None,
                _dir: None,
            };
            let Launched {
                addr,
                settings,
                registry,
                shutdown,
                task,
            } = launch(definition, &borrowed, &database, None).await;
            let _ = sender.send((addr, settings, registry, shutdown));
            task.await
                .unwrap_or_else(|e| Err(anyhow::anyhow!("service task failed: {e}")))
        });
        let (addr, settings, registry, shutdown) = receiver.await.expect("the service started");
        Self {
            addr,
            database,
            settings,
            registry,
            shutdown,
            task,
            runtime: Some(runtime),
        }
    }

    /// `GET path` as JSON (a test's read of what the service holds).
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        reqwest::get(self.url(path))
            .await
            .expect("GET")
            .json()
            .await
            .expect("a JSON body")
    }

    /// Ends a service started with [`TestService::start_killable`] abruptly, like SIGKILL.
    pub fn kill(mut self) {
        let runtime = self
            .runtime
            .take()
            .expect("kill() needs a service from start_killable()");
        runtime.shutdown_background();
    }
}

impl Drop for TestService {
    fn drop(&mut self) {
        // A runtime may not be dropped inside async code; let it wind down on its own threads.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A service just started by [`launch`].
struct Launched {
    addr: SocketAddr,
    settings: SharedSettings,
    registry: RegistryCache,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

async fn launch(
    definition: &ServiceDefinition,
    properties: &[(&str, &str)],
    database: &TestDatabase,
    listener: Option<std::net::TcpListener>,
) -> Launched {
    {
        let settings = test_settings(definition, database, properties);
        // The config-server layer, when a test turned the client on (as `load_settings` does).
        let settings = match platform::config_client::load_remote(&settings).await {
            Ok(Some(remote)) => settings.with_remote(remote),
            Ok(None) => settings,
            Err(e) => panic!(
                "{} failed to load its configuration: {e:#}",
                definition.name
            ),
        };
        let mut context = ServiceContext::new(settings);
        if let Some(listener) = listener {
            context.listen_on(listener);
        }
        let registry = context.discovery.clone();
        let app = (definition.build)(context)
            .await
            .unwrap_or_else(|e| panic!("{} failed to start: {e:#}", definition.name));
        Launched {
            addr: app.local_addr(),
            settings: app.settings(),
            registry,
            shutdown: app.shutdown_token(),
            task: tokio::spawn(app.run()),
        }
    }
}

impl TestService {
    /// The absolute URL of `path` on this service.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Puts one more property in force, as a configuration refresh does.
    pub fn set(&self, key: &str, value: &str) {
        self.settings
            .replace(self.settings.current().with_override(key, value));
    }

    /// Stops the service gracefully and drops its database.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let task = std::mem::replace(&mut self.task, tokio::spawn(async { Ok(()) }));
        let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        self.database.drop_database().await;
    }
}

/// The settings a service gets in tests: built-in defaults, port 0 on loopback, the test
/// database, no discovery or config server, then `properties`. The process environment is not
/// read, so a developer's `SERVER_PORT` cannot leak into a test.
pub fn test_settings(
    definition: &ServiceDefinition,
    database: &TestDatabase,
    properties: &[(&str, &str)],
) -> Settings {
    let mut bootstrap: Bootstrap = definition.bootstrap(Vec::new());
    bootstrap.use_environment = false;
    let mut settings = Settings::load(&bootstrap).expect("built-in settings load");
    for (key, value) in [
        ("server.port", "0"),
        ("server.address", "127.0.0.1"),
        ("spring.datasource.url", database.url.as_str()),
        ("eureka.client.enabled", "false"),
        ("spring.cloud.config.enabled", "false"),
    ] {
        settings = settings.with_override(key, value);
    }
    for (key, value) in properties {
        settings = settings.with_override(key, *value);
    }
    settings
}

/// Retries `check` every 50 ms until it returns `Some`, for at most `within`; panics with
/// `what` otherwise. For convergence (registration, replication), never a bare sleep.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("{what} did not happen within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends `request` verbatim over a new TCP connection and returns the whole response text.
///
/// For what an HTTP client library will not send: no `Accept` header, malformed request lines,
/// odd framing. The request should carry `Connection: close`.
pub async fn raw_http(addr: SocketAddr, request: &str) -> String {
    exchange(addr, request, false).await
}

/// Like [`raw_http`], then closes the sending side, so the server sees a truncated request end
/// instead of waiting for the rest of it.
pub async fn raw_http_truncated(addr: SocketAddr, request: &str) -> String {
    exchange(addr, request, true).await
}

async fn exchange(addr: SocketAddr, request: &str, half_close: bool) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    if half_close {
        let _ = stream.shutdown().await;
    }
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response).into_owned()
}

/// The status code of a raw HTTP response text.
pub fn raw_status(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// Properties that make a service register with the discovery-service at `discovery` (an
/// `ip:port`) right away, on loopback, and fetch the registry several times a second.
pub fn registered_with(discovery: SocketAddr) -> Vec<(String, String)> {
    [
        ("eureka.client.enabled", "true".to_owned()),
        (
            "eureka.client.service-url.defaultZone",
            format!("http://{discovery}/eureka/"),
        ),
        (
            "eureka.client.registry-fetch-interval-seconds",
            "0.3".to_owned(),
        ),
        (
            "eureka.instance.lease-renewal-interval-in-seconds",
            "1".to_owned(),
        ),
        ("eureka.instance.prefer-ip-address", "true".to_owned()),
        ("eureka.instance.ip-address", "127.0.0.1".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// `[(String, String)]` as the `[(&str, &str)]` that [`TestService::start`] takes.
pub fn as_pairs(properties: &[(String, String)]) -> Vec<(&str, &str)> {
    properties
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// A running service and an HTTP client: what a service's own API tests hold, with one method
/// per request shape they share (zero2prod's `TestApp`). Service-specific helpers wrap it.
#[derive(Debug)]
pub struct TestApp {
    /// The service.
    pub service: TestService,
    /// A client for it.
    pub http: reqwest::Client,
}

impl TestApp {
    /// Starts `definition` with `properties` (see [`TestService::start`]).
    pub async fn start(definition: &ServiceDefinition, properties: &[(&str, &str)]) -> Self {
        Self {
            service: TestService::start(definition, properties).await,
            http: reqwest::Client::new(),
        }
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        self.service.url(path)
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("GET")
    }

    /// `GET path`, which must answer 200 with JSON.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("JSON body")
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    /// Stops the service and drops its database.
    pub async fn stop(self) {
        self.service.stop().await;
    }
}

/// Runs `git` with `args` in the repository at `dir` (a test's own fixture repository) and
/// returns its trimmed standard output; panics with git's error output when it fails.
pub fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}
