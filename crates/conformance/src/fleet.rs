//! Helpers for the whole-system tests that start fleets mixing Spring apps and factura
//! services: the properties that put a Spring reference app on a fleet's discovery and config
//! servers, the registry check every such test waits on, and the HTTP client they talk with.

use std::time::Duration;

use serde_json::Value;

/// Properties that make one of the Spring data apps (`customer-service`, `inventory-service`,
/// `billing-service`, whose Eureka and config clients are present but off) register with the
/// Eureka server at `zone` (`http://host:port/eureka/`) and load its settings from the config
/// server at `config` — on loopback and with one-second intervals, so the fleet converges
/// within seconds rather than Eureka's default half minute.
pub fn spring_service_on(zone: &str, config: &str) -> Vec<(String, String)> {
    let mut properties = spring_configured_from(config);
    properties.extend(spring_eureka_client(zone));
    for (key, value) in [
        ("eureka.instance.prefer-ip-address", "true"),
        ("eureka.instance.ip-address", "127.0.0.1"),
        ("eureka.instance.lease-renewal-interval-in-seconds", "1"),
        (
            "eureka.client.initial-instance-info-replication-interval-seconds",
            "1",
        ),
        (
            "eureka.client.instance-info-replication-interval-seconds",
            "1",
        ),
        // Eureka's client caches the registry itself; LoadBalancer's cache only delays it.
        ("spring.cloud.loadbalancer.cache.enabled", "false"),
    ] {
        properties.push((key.to_owned(), value.to_owned()));
    }
    properties
}

/// Properties that make a Spring app fetch the registry of the Eureka server at `zone` once a
/// second (the gateway takes only these: it routes, it does not register).
pub fn spring_eureka_client(zone: &str) -> Vec<(String, String)> {
    [
        ("eureka.client.enabled", "true"),
        ("eureka.client.service-url.defaultZone", zone),
        ("eureka.client.registry-fetch-interval-seconds", "1"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

/// Properties that make a Spring app load its settings from the config server at `config`.
pub fn spring_configured_from(config: &str) -> Vec<(String, String)> {
    vec![
        ("spring.cloud.config.enabled".to_owned(), "true".to_owned()),
        (
            "spring.config.import".to_owned(),
            format!("configserver:{config}"),
        ),
    ]
}

/// Properties that make a factura service load its settings from the config server at
/// `config` (and watch it every half second).
pub fn factura_configured_from(config: &str) -> Vec<(String, String)> {
    vec![
        ("spring.cloud.config.enabled".to_owned(), "true".to_owned()),
        (
            "spring.config.import".to_owned(),
            format!("configserver:{config}"),
        ),
        (
            "spring.cloud.config.watch.delay".to_owned(),
            "500".to_owned(),
        ),
    ]
}

/// The HTTP client the whole-system tests use: no proxy from the environment, a 30 s bound.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

/// Whether the Eureka server at `zone` (`http://host:port/eureka/`) lists an UP instance of
/// `app` (its registry name, e.g. `CUSTOMER-SERVICE`); `false` while it does not answer.
pub async fn listed(zone: &str, app: &str) -> bool {
    let Ok(client) = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
    else {
        return false;
    };
    let Ok(response) = client
        .get(format!("{zone}apps/{app}"))
        .header("accept", "application/json")
        .send()
        .await
    else {
        return false;
    };
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let instances = &body["application"]["instance"];
    let up = |instance: &Value| instance["status"] == "UP";
    match instances {
        Value::Array(items) => items.iter().any(up),
        Value::Object(_) => up(instances),
        _ => false,
    }
}

/// The prefix of Spring Cloud Gateway's properties on the Spring line under test: the newest
/// line (`SPRING_PROFILE=latest`) reads only `spring.cloud.gateway.server.webflux.*`, the
/// seed's only `spring.cloud.gateway.*`; factura's gateway reads both.
pub fn gateway_prefix() -> &'static str {
    match std::env::var("SPRING_PROFILE").as_deref() {
        Ok("latest") => "spring.cloud.gateway.server.webflux",
        _ => "spring.cloud.gateway",
    }
}
