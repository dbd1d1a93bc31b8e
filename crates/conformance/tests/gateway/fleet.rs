//! One comparison set-up: a registry (factura's discovery-service), the echo backend registered
//! in it, and the two gateways — Spring Cloud Gateway and factura's gateway-service — started
//! from the same route properties and reading the same registry.

use std::time::Duration;

use conformance::{
    compare::{Differential, Rules, Side},
    fleet::gateway_prefix,
    spring::SpringApp,
};
use testkit::TestService;

use super::backend::Echo;

/// The property that opens the gateway actuator (with its writes) on the Spring line under
/// test: Boot 3.3 needs it enabled, Boot 4 refuses `enabled` and grants `access` instead.
fn actuator_property() -> (&'static str, &'static str) {
    match std::env::var("SPRING_PROFILE").as_deref() {
        Ok("latest") => ("management.endpoint.gateway.access", "unrestricted"),
        _ => ("management.endpoint.gateway.enabled", "true"),
    }
}

/// Gateway properties built up route by route, under [`gateway_prefix`] (the Spring line's).
#[derive(Default)]
pub(crate) struct Properties {
    pub(crate) pairs: Vec<(String, String)>,
    routes: usize,
}

impl Properties {
    /// `PREFIX.key = value`.
    pub(crate) fn gateway(&mut self, key: &str, value: &str) -> &mut Self {
        self.pairs
            .push((format!("{}.{key}", gateway_prefix()), value.to_owned()));
        self
    }

    /// A route: `entries` are (key under the route, value), e.g. `("predicates[0]", "Path=/a/**")`
    /// or `("filters[0].args.parts", "2")`.
    pub(crate) fn route(&mut self, id: &str, uri: &str, entries: &[(&str, &str)]) -> &mut Self {
        let i = self.routes;
        self.routes += 1;
        self.gateway(&format!("routes[{i}].id"), id);
        self.gateway(&format!("routes[{i}].uri"), uri);
        for (key, value) in entries {
            self.gateway(&format!("routes[{i}].{key}"), value);
        }
        self
    }

    /// A route with shortcut predicates and filters.
    pub(crate) fn shortcut(
        &mut self,
        id: &str,
        uri: &str,
        predicates: &[&str],
        filters: &[&str],
    ) -> &mut Self {
        let keys: Vec<(String, &str)> = predicates
            .iter()
            .enumerate()
            .map(|(j, p)| (format!("predicates[{j}]"), *p))
            .chain(
                filters
                    .iter()
                    .enumerate()
                    .map(|(j, f)| (format!("filters[{j}]"), *f)),
            )
            .collect();
        let entries: Vec<(&str, &str)> = keys.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        self.route(id, uri, &entries)
    }
}

/// Both gateways, the registry and the backend of one comparison.
pub(crate) struct Fleet {
    /// Kept alive for the gateways to route to and read from.
    _echo: Echo,
    _discovery: TestService,
    pub(crate) ours: TestService,
    pub(crate) spring: &'static SpringApp,
}

impl Fleet {
    /// Starts the registry and the backend, registers the backend as the apps `registered`
    /// (name, metadata), builds the routes with `routes` (given the backend), and starts both
    /// gateways with them.
    pub(crate) async fn start(
        key: &str,
        registered: &[(&str, serde_json::Value)],
        routes: impl FnOnce(&Echo, &mut Properties),
    ) -> Self {
        let discovery = TestService::start(&discovery_service::SERVICE, &[]).await;
        let echo = Echo::start().await;
        for (app, metadata) in registered {
            super::backend::register(discovery.addr, app, echo.addr, metadata.clone()).await;
        }
        let mut properties = Properties::default();
        routes(&echo, &mut properties);
        let zone = format!("http://{}/eureka/", discovery.addr);
        let mut spring_props = properties.pairs.clone();
        spring_props.push(("eureka.client.service-url.defaultZone".into(), zone.clone()));
        let (actuator_key, actuator_value) = actuator_property();
        spring_props.push((actuator_key.into(), actuator_value.into()));
        let key = key.to_owned();
        let spring = tokio::task::spawn_blocking(move || {
            let pairs: Vec<(&str, &str)> = spring_props
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            SpringApp::shared(&key, "gateway", &pairs)
        });
        let mut ours_props = properties.pairs.clone();
        for (k, v) in [
            ("eureka.client.enabled", "true"),
            ("eureka.client.register-with-eureka", "false"),
            ("eureka.client.service-url.defaultZone", zone.as_str()),
            ("eureka.client.registry-fetch-interval-seconds", "0.3"),
            // Exposed as the Spring gateway's application.yml exposes it.
            (
                "management.endpoints.web.exposure.include",
                "health,gateway",
            ),
            (actuator_key, actuator_value),
        ] {
            ours_props.push((k.into(), v.into()));
        }
        let ours =
            TestService::start(&gateway_service::SERVICE, &testkit::as_pairs(&ours_props)).await;
        let spring = spring.await.expect("the Spring gateway starts");
        Self {
            _echo: echo,
            _discovery: discovery,
            ours,
            spring,
        }
    }

    /// Waits until both gateways answer `path` with `status` (the registry reaches each on
    /// its own schedule).
    pub(crate) async fn wait_for(&self, path: &str, status: u16) {
        let client = reqwest::Client::new();
        for base in [self.ours.url(""), self.spring.url("")] {
            let url = format!("{base}{path}");
            testkit::eventually(
                &format!("{url} answering {status}"),
                Duration::from_secs(60),
                || {
                    let client = client.clone();
                    let url = url.clone();
                    async move {
                        let got = client.get(&url).send().await.ok()?.status().as_u16();
                        (got == status).then_some(())
                    }
                },
            )
            .await;
        }
    }

    /// A differential over the two gateways: each one's own port (alone, as in
    /// `X-Forwarded-Port`) normalised, and the rules every gateway comparison shares added to
    /// `rules`.
    pub(crate) fn differential(&self, protocol: &str, rules: Rules) -> Differential {
        let ours =
            Side::new(&self.ours.url("")).replace(&self.ours.addr.port().to_string(), "{port}");
        let spring =
            Side::new(&self.spring.url("")).replace(&self.spring.port.to_string(), "{port}");
        let rules = rules
            .blank_key("timestamp")
            .blank_key("requestId")
            // The client's ephemeral port, as `Forwarded: for="127.0.0.1:PORT"` carries it.
            .normalise(r#"for="?127\.0\.0\.1:\d+"?"#, "for=\"127.0.0.1:{client}\"")
            // Java object identities in the actuator's filter names.
            .normalise(r"@[0-9a-f]{5,8}\b", "@{hash}");
        Differential::new(protocol, ours, spring, rules)
    }
}
