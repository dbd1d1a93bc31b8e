//! A small billing system on loopback: discovery, the two data services, billing.

use std::time::Duration;

use platform::discovery::{Format, InstanceInfo, model::write_instance};
use reqwest::StatusCode;
use serde_json::Value;
use testkit::{TestService, eventually};

pub(crate) struct System {
    pub(crate) discovery: TestService,
    pub(crate) customers: TestService,
    pub(crate) inventory: Vec<TestService>,
    pub(crate) billing: TestService,
    pub(crate) http: reqwest::Client,
}

/// Settings that register with `discovery` quickly and fetch the registry often.
pub(crate) fn registered(discovery: &TestService) -> Vec<(String, String)> {
    testkit::registered_with(discovery.addr)
}

fn borrowed(properties: &[(String, String)]) -> Vec<(&str, &str)> {
    testkit::as_pairs(properties)
}

/// Billing's timeouts and breaker, small enough for tests to see them act.
const BILLING: &[(&str, &str)] = &[
    // The breaker's state in health, and the metrics.
    ("management.endpoint.health.show-details", "always"),
    (
        "management.endpoints.web.exposure.include",
        "health,prometheus",
    ),
    (
        "spring.cloud.openfeign.client.config.default.read-timeout",
        "400",
    ),
    (
        "resilience4j.circuitbreaker.configs.default.sliding-window-size",
        "4",
    ),
    (
        "resilience4j.circuitbreaker.configs.default.minimum-number-of-calls",
        "4",
    ),
    (
        "resilience4j.circuitbreaker.configs.default.wait-duration-in-open-state",
        "1s",
    ),
    (
        "resilience4j.circuitbreaker.configs.default.permitted-number-of-calls-in-half-open-state",
        "2",
    ),
];

impl System {
    /// Discovery, customer-service, `inventories` killable inventory-services and billing,
    /// returned once billing sees every instance.
    pub(crate) async fn start(inventories: usize) -> Self {
        let discovery = TestService::start(&discovery_service::SERVICE, &[]).await;
        let mut props = registered(&discovery);
        // Their request counters, which tests read to count billing's calls.
        props.push((
            "management.endpoints.web.exposure.include".into(),
            "health,prometheus".into(),
        ));
        let customers = TestService::start(&customer_service::SERVICE, &borrowed(&props)).await;
        let mut inventory = Vec::new();
        for _ in 0..inventories {
            inventory.push(
                TestService::start_killable(&inventory_service::SERVICE, &borrowed(&props)).await,
            );
        }
        let mut billing_props = borrowed(&props);
        billing_props.extend_from_slice(BILLING);
        let billing = TestService::start(&billing_service::SERVICE, &billing_props).await;
        let system = Self {
            discovery,
            customers,
            inventory,
            billing,
            http: reqwest::Client::new(),
        };
        system
            .wait_for_instances("INVENTORY-SERVICE", inventories)
            .await;
        system.wait_for_instances("CUSTOMER-SERVICE", 1).await;
        system
    }

    pub(crate) async fn wait_for_instances(&self, app: &str, count: usize) {
        wait_for_instances(&self.discovery, &self.http, app, count).await;
    }
}

/// Waits until `count` instances of `app` are registered with `discovery`, then a little more
/// so that every client's registry cache has them.
pub(crate) async fn wait_for_instances(
    discovery: &TestService,
    http: &reqwest::Client,
    app: &str,
    count: usize,
) {
    if count == 0 {
        return;
    }
    let url = discovery.url(&format!("/eureka/apps/{app}"));
    let http = http.clone();
    eventually(
        &format!("{count} {app} instance(s) registered"),
        Duration::from_secs(15),
        || async {
            let response = http
                .get(&url)
                .header("accept", "application/json")
                .send()
                .await
                .ok()?;
            let body: Value = response.json().await.ok()?;
            let instances = body["application"]["instance"]
                .as_array()
                .map_or(0, Vec::len);
            (instances == count).then_some(())
        },
    )
    .await;
    // Billing fetches the registry every 0.2 s; give it a few rounds to see the change.
    tokio::time::sleep(Duration::from_millis(800)).await;
}

impl System {
    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self.http.get(self.billing.url(path)).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn post_bill(&self, body: Value) -> (StatusCode, Value, Option<String>) {
        let response = self
            .http
            .post(self.billing.url("/bills"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        (
            status,
            response.json().await.unwrap_or(Value::Null),
            location,
        )
    }

    /// The full bill `id` once every part of it could be filled in.
    pub(crate) async fn complete_full_bill(&self, id: i64) -> Value {
        let http = self.http.clone();
        let url = self.billing.url(&format!("/fullBill/{id}"));
        eventually("a complete full bill", Duration::from_secs(20), || async {
            let body: Value = http.get(&url).send().await.ok()?.json().await.ok()?;
            (body["complete"] == true).then_some(body)
        })
        .await
    }

    pub(crate) async fn bill_count(&self) -> i64 {
        self.get("/bills").await.1["page"]["totalElements"]
            .as_i64()
            .unwrap()
    }

    /// Registers an instance of `app` at 127.0.0.1:`port` directly with discovery (a stand-in
    /// server the test runs).
    pub(crate) async fn register_instance(&self, app: &str, port: u16) {
        let mut instance = InstanceInfo::new(app, "127.0.0.1", "127.0.0.1", port);
        instance.instance_id = Some(format!("127.0.0.1:{}:{port}", app.to_ascii_lowercase()));
        let response = self
            .http
            .post(self.discovery.url(&format!("/eureka/apps/{app}")))
            .header("content-type", "application/json")
            .body(write_instance(&instance, Format::Json))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }

    pub(crate) async fn stop(self) {
        self.billing.stop().await;
        for instance in self.inventory {
            instance.stop().await;
        }
        self.customers.stop().await;
        self.discovery.stop().await;
    }
}

/// A TCP server that accepts connections and never answers: a hung instance.
pub(crate) async fn hanging_server() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (port, task)
}

/// How many `method` requests `service` has answered on the route template `uri`, summed over
/// statuses: its own `http_server_requests_seconds_count` series.
pub(crate) async fn requests_served(
    http: &reqwest::Client,
    service: &TestService,
    method: &str,
    uri: &str,
) -> u64 {
    let text = http
        .get(service.url("/actuator/prometheus"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("method=\"{method}\",uri=\"{uri}\",");
    text.lines()
        .filter(|line| line.starts_with("http_server_requests_seconds_count{"))
        .filter(|line| line.contains(&series))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}
