//! Starting discovery nodes and talking Eureka to them.

use std::time::Duration;

use platform::{ServiceContext, discovery::RegistryCache};
use testkit::{TestDatabase, test_settings};
use tokio_util::sync::CancellationToken;

use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
pub(crate) use testkit::{ReservedPort, TestService, eventually};

/// Long enough for convergence on a loaded CI machine; never a timing assertion.
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

/// A discovery node on a free port with these extra properties.
pub(crate) async fn discovery(properties: &[(&str, &str)]) -> TestService {
    TestService::start(&discovery_service::SERVICE, properties).await
}

/// The node's Eureka base URL, `http://127.0.0.1:port/eureka/`.
pub(crate) fn eureka(node: &TestService) -> String {
    node.url("/eureka/")
}

/// A reqwest client with short timeouts.
pub(crate) fn http() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client")
}

/// A JSON registration body like Spring's client sends.
pub(crate) fn instance_body(app: &str, host: &str, port: u16) -> Value {
    testkit::eureka::Registration::new(app, host, port).json()
}

/// POSTs `body` as a registration; returns the response.
pub(crate) async fn register(base: &str, app: &str, body: &Value) -> Response {
    http()
        .post(format!("{base}apps/{app}"))
        .json(body)
        .send()
        .await
        .expect("register call")
}

/// The full registry as JSON.
pub(crate) async fn apps_json(base: &str) -> Value {
    http()
        .get(format!("{base}apps/"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("apps call")
        .json()
        .await
        .expect("apps JSON")
}

/// The ids registered for `app` (empty when the app is unknown).
pub(crate) async fn instance_ids(base: &str, app: &str) -> Vec<String> {
    let Ok(response) = http()
        .get(format!("{base}apps/{app}"))
        .header("accept", "application/json")
        .send()
        .await
    else {
        return Vec::new();
    };
    if response.status() != StatusCode::OK {
        return Vec::new();
    }
    let body: Value = response.json().await.unwrap_or_default();
    body["application"]["instance"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|i| i["instanceId"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The status of one instance, if registered.
pub(crate) async fn instance_status(base: &str, app: &str, id: &str) -> Option<String> {
    let response = http()
        .get(format!("{base}apps/{app}/{id}"))
        .header("accept", "application/json")
        .send()
        .await
        .ok()?;
    if response.status() != StatusCode::OK {
        return None;
    }
    let body: Value = response.json().await.ok()?;
    body["instance"]["status"].as_str().map(str::to_owned)
}

/// A real service with registration on, and the handle on its registry cache.
pub(crate) struct Registered {
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) cache: RegistryCache,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _database: TestDatabase,
}

impl Registered {
    pub(crate) async fn start(definition: &platform::ServiceDefinition, zone: &str) -> Self {
        let database = TestDatabase::sqlite();
        let settings = test_settings(
            definition,
            &database,
            &[
                ("eureka.client.enabled", "true"),
                ("eureka.client.service-url.defaultZone", zone),
                ("eureka.instance.lease-renewal-interval-in-seconds", "0.3"),
                ("eureka.client.registry-fetch-interval-seconds", "0.3"),
            ],
        );
        let context = ServiceContext::new(settings);
        let cache = context.discovery.clone();
        let app = (definition.build)(context).await.expect("service starts");
        let addr = app.local_addr();
        let shutdown = app.shutdown_token();
        let task = tokio::spawn(app.run());
        Self {
            addr,
            cache,
            shutdown,
            task,
            _database: database,
        }
    }

    pub(crate) fn instance_id(&self, name: &str) -> String {
        format!("127.0.0.1:{name}:{}", self.addr.port())
    }

    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(15), self.task).await;
    }
}
