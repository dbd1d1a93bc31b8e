//! Real Spring clients on factura's servers, and factura's clients on real Spring servers.
//!
//! Two fleets are started from one configuration folder:
//! - **factura's servers**: factura discovery and config, factura customer- and
//!   inventory-service registered there, factura's gateway, and the Spring client app
//!   (`conformance/spring/client`: Eureka client, Config client, OpenFeign over Spring Cloud
//!   LoadBalancer with Resilience4j, `@RefreshScope`, actuator) on top;
//! - **Spring's servers**: the Spring Eureka server and the Spring Config server (native
//!   backend over the same folder), factura customer-, inventory-, billing-service and gateway
//!   registered there and configured from there, and a second instance of the Spring client app.
//!
//! The Spring client is the oracle's *user*: what it observes on factura's servers (its
//! configuration, `{cipher}` values, `/actuator/refresh`, the entities its Feign clients get,
//! what its DiscoveryClient lists) is compared, as a differential, with what it observes on
//! Spring's. Around that, the journeys of the conformance issue's §3: the Spring client is
//! reachable through factura's gateway and listed on factura's dashboard; factura's gateway and
//! billing find and call instances registered in the Spring Eureka server, the Spring client's
//! among them; factura's services read their settings from the Spring Config server.

use std::{net::SocketAddr, path::Path, time::Duration};

use conformance::{
    compare::{Differential, Probe, Rules, Side},
    fleet::{factura_configured_from, http, listed},
    spring::SpringApp,
};
use platform::discovery::{Format, RegistryCache};
use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::{TestService, as_pairs, eventually, registered_with};

/// The symmetric key both config servers decrypt `{cipher}` values with.
const ENCRYPT_KEY: &str = "conformance-clients-key";
/// How long a registration or a configuration change may take to be seen by everyone.
const CONVERGE: Duration = Duration::from_secs(120);

async fn get_json(url: &str) -> Option<(StatusCode, Value)> {
    let response = http()
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .ok()?;
    let status = response.status();
    Some((status, response.json().await.unwrap_or(Value::Null)))
}

/// Waits until `url` answers 200 with a body that `accept` takes; fails with the last answer.
async fn eventually_json(what: &str, url: &str, accept: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + CONVERGE;
    let mut last = None;
    loop {
        if let Some((status, body)) = get_json(url).await {
            if status == StatusCode::OK && accept(&body) {
                return body;
            }
            last = Some((status, body));
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not happen within {CONVERGE:?}; {url} last answered {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write the configuration file");
}

fn client_yml(greeting: &str, cipher: &str) -> String {
    format!("client:\n  greeting: {greeting}\n  secret: '{{cipher}}{cipher}'\n")
}

/// The configuration folder both config servers serve.
fn write_config_folder(dir: &Path, cipher: &str) {
    write(
        dir,
        "client.yml",
        &client_yml("hello from the config server", cipher),
    );
    write(
        dir,
        "application.yml",
        "global:\n  params:\n    p1: 11\n    p2: 22\n",
    );
    write(
        dir,
        "customer-service.yml",
        "global:\n  params:\n    p2: 33\n",
    );
    // A route only the central configuration defines: the gateway has loaded it, or 404.
    write(
        dir,
        "gateway-service.yml",
        "spring:\n  cloud:\n    gateway:\n      routes:\n        - id: shop\n          uri: lb://CUSTOMER-SERVICE\n          predicates:\n            - Path=/shop/**\n          filters:\n            - StripPrefix=1\n",
    );
}

/// Properties that make a factura service register with the Eureka server at `zone`
/// (`http://host:port/eureka/`), as [`registered_with`] does for factura's discovery.
fn registered_at(zone: &str) -> Vec<(String, String)> {
    let mut properties = registered_with(SocketAddr::from(([127, 0, 0, 1], 1)));
    for (key, value) in &mut properties {
        if key == "eureka.client.service-url.defaultZone" {
            *value = zone.to_owned();
        }
    }
    properties
}

async fn start(
    definition: &platform::ServiceDefinition,
    parts: &[&[(String, String)]],
) -> TestService {
    let properties: Vec<(String, String)> = parts.iter().copied().flatten().cloned().collect();
    TestService::start(definition, &as_pairs(&properties)).await
}

async fn spring(app: &'static str, properties: Vec<(String, String)>) -> SpringApp {
    tokio::task::spawn_blocking(move || SpringApp::start(app, &as_pairs(&properties)))
        .await
        .expect("the Spring app starts")
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The Spring client app on the discovery server at `zone`, configured from `config`.
fn client_properties(zone: &str, config: &str) -> Vec<(String, String)> {
    pairs(&[
        ("spring.config.import", &format!("configserver:{config}")),
        ("eureka.client.service-url.defaultZone", zone),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spring_clients_see_factura_servers_as_they_see_spring_servers() {
    // factura's config-service encrypts the `{cipher}` value both servers must decrypt.
    let folder = tempfile::tempdir().expect("a configuration folder");
    let folder_path = folder.path().display().to_string();
    let config_properties = [
        (
            "spring.cloud.config.server.native.search-locations",
            folder_path.as_str(),
        ),
        ("encrypt.key", ENCRYPT_KEY),
    ];
    let factura_config = TestService::start(&config_service::SERVICE, &config_properties).await;
    let cipher = http()
        .post(factura_config.url("/encrypt"))
        .header("content-type", "text/plain")
        .body("s3cr3t-from-config")
        .send()
        .await
        .expect("POST /encrypt")
        .text()
        .await
        .expect("the cipher text");
    write_config_folder(folder.path(), &cipher);

    // Spring's servers start in the background while factura's fleet comes up.
    let spring_eureka = tokio::task::spawn_blocking(|| {
        SpringApp::shared(
            "eureka",
            "eureka-server",
            &[
                ("eureka.client.register-with-eureka", "false"),
                ("eureka.client.fetch-registry", "false"),
                // New registrations readable at once, not after the 30 s cache refresh.
                ("eureka.server.use-read-only-response-cache", "false"),
            ],
        )
    });
    let spring_config = {
        let search = format!("file:{folder_path}/");
        tokio::task::spawn_blocking(move || {
            SpringApp::start(
                "config-server",
                &[
                    ("spring.profiles.active", "native"),
                    (
                        "spring.cloud.config.server.native.search-locations",
                        &search,
                    ),
                    ("encrypt.key", ENCRYPT_KEY),
                ],
            )
        })
    };

    // factura's fleet on factura's servers.
    let factura_discovery = TestService::start(&discovery_service::SERVICE, &[]).await;
    let factura_zone = format!("http://{}/eureka/", factura_discovery.addr);
    let on_factura = registered_with(factura_discovery.addr);
    let from_factura = factura_configured_from(&factura_config.url(""));
    let customers_f = start(&customer_service::SERVICE, &[&on_factura]).await;
    let inventory_f = start(&inventory_service::SERVICE, &[&on_factura]).await;
    let gateway_f = start(&gateway_service::SERVICE, &[&on_factura, &from_factura]).await;
    let client_f = tokio::spawn(spring(
        "client",
        client_properties(&factura_zone, &factura_config.url("")),
    ));

    // factura's fleet on Spring's servers.
    let spring_eureka = spring_eureka
        .await
        .expect("the Spring Eureka server starts");
    let spring_config = spring_config
        .await
        .expect("the Spring Config server starts");
    let spring_zone = spring_eureka.url("/eureka/");
    let on_spring = registered_at(&spring_zone);
    let from_spring = factura_configured_from(&spring_config.url(""));
    let customers_s = start(&customer_service::SERVICE, &[&on_spring, &from_spring]).await;
    let inventory_s = start(&inventory_service::SERVICE, &[&on_spring]).await;
    let billing_s = start(&billing_service::SERVICE, &[&on_spring, &from_spring]).await;
    let gateway_s = start(&gateway_service::SERVICE, &[&on_spring, &from_spring]).await;
    let client_s = spring(
        "client",
        client_properties(&spring_zone, &spring_config.url("")),
    )
    .await;
    let client_f = client_f.await.expect("the Spring client starts");

    for (zone, app) in [
        (&factura_zone, "CUSTOMER-SERVICE"),
        (&factura_zone, "INVENTORY-SERVICE"),
        (&factura_zone, "CLIENT"),
        (&spring_zone, "CUSTOMER-SERVICE"),
        (&spring_zone, "INVENTORY-SERVICE"),
        (&spring_zone, "CLIENT"),
    ] {
        eventually(
            &format!("{app} registered at {zone}"),
            CONVERGE,
            || async move { listed(zone, app).await.then_some(()) },
        )
        .await;
    }
    // The Spring clients see both services before the differential starts.
    for client in [&client_f, &client_s] {
        for service in ["CUSTOMER-SERVICE", "INVENTORY-SERVICE"] {
            eventually_json(
                &format!("{service} in the Spring client's DiscoveryClient"),
                &client.url(&format!("/instances/{service}")),
                |list| list.as_array().is_some_and(|l| !l.is_empty()),
            )
            .await;
        }
    }

    // What the Spring client observes on factura's servers, compared with what it observes on
    // Spring's.
    let d = Differential::new(
        "spring-client",
        Side::new(&client_f.url(""))
            .replace(&customers_f.addr.to_string(), "{customer}")
            .replace(&inventory_f.addr.to_string(), "{inventory}")
            .replace(&customers_f.addr.port().to_string(), "{customer-port}"),
        Side::new(&client_s.url(""))
            .replace(&customers_s.addr.to_string(), "{customer}")
            .replace(&inventory_s.addr.to_string(), "{inventory}")
            .replace(&customers_s.addr.port().to_string(), "{customer-port}"),
        Rules::default().blank_key("builtAt").blank_key("port"),
    );
    let greeting = Probe::get("/greeting");
    let (a, b) = d.both(&greeting).await;
    assert_eq!(
        b.body["secret"], "s3cr3t-from-config",
        "Spring's Config server decrypts the value factura encrypted: {b:?}"
    );
    assert_eq!(a.body["greeting"], "hello from the config server", "{a:?}");
    d.record("@RefreshScope values from the config server", &a, &b);
    let (a, b) = d.both(&Probe::get("/customer/1")).await;
    assert_eq!(
        a.body["name"], "Hassan",
        "Feign + LoadBalancer on factura: {a:?}"
    );
    d.record("Feign GET /customers/{id}", &a, &b);
    let (a, b) = d.both(&Probe::get("/customers")).await;
    assert_eq!(a.body["page"]["totalElements"], 3, "{a:?}");
    d.record("Feign GET /customers as a PagedModel", &a, &b);
    let (a, b) = d.both(&Probe::get("/product/2")).await;
    assert_eq!(a.body["name"], "Printer", "{a:?}");
    d.record("Feign GET /products/{id}", &a, &b);
    let (a, b) = d.both(&Probe::get("/product/999")).await;
    assert_eq!(
        b.body["name"], "fallback: NotFound 404",
        "a 404 opens the Resilience4j fallback: {b:?}"
    );
    d.record("Feign 404 through the circuit breaker's fallback", &a, &b);
    let (a, b) = d.both(&Probe::get("/instances/CUSTOMER-SERVICE")).await;
    assert_eq!(
        a.body[0]["uri"], "http://{customer}",
        "the Spring client's DiscoveryClient reads factura's registry: {a:?}"
    );
    d.record("DiscoveryClient.getInstances(CUSTOMER-SERVICE)", &a, &b);
    d.check(
        "DiscoveryClient.getInstances of an unknown service",
        Probe::get("/instances/NO-SUCH-SERVICE"),
    )
    .await;

    // A saved change, then `POST /actuator/refresh` on each client.
    write(
        folder.path(),
        "client.yml",
        &client_yml("hello again, refreshed", &cipher),
    );
    for server in [factura_config.url(""), spring_config.url("")] {
        eventually_json(
            "the config server serving the saved change",
            &format!("{server}/client/default"),
            |environment| environment.to_string().contains("hello again, refreshed"),
        )
        .await;
    }
    let (a, b) = d
        .both(&Probe::post("/actuator/refresh").header("content-type", "application/json"))
        .await;
    assert_eq!(b.status, 200, "{b:?}");
    assert!(
        a.body
            .as_array()
            .is_some_and(|keys| keys.contains(&json!("client.greeting"))),
        "the refresh on factura's config lists the changed key: {a:?}"
    );
    d.record("POST /actuator/refresh lists the changed keys", &a, &b);
    let (a, b) = d.both(&greeting).await;
    assert_eq!(a.body["greeting"], "hello again, refreshed", "{a:?}");
    d.record("@RefreshScope values after the refresh", &a, &b);
    d.finish();

    // The Spring client through factura's gateway by discovery route, on either registry.
    for (gateway, client) in [(&gateway_f, &client_f), (&gateway_s, &client_s)] {
        // The locator's route; Spring adds no lower-case one unless `lower-case-service-id`.
        for path in ["/CLIENT/greeting"] {
            let body = eventually_json(
                &format!("{path} through factura's gateway"),
                &gateway.url(path),
                |_| true,
            )
            .await;
            assert_eq!(body["greeting"], "hello again, refreshed", "{path}: {body}");
            let (_, direct) = get_json(&client.url("/greeting")).await.expect("direct");
            assert_eq!(body, direct, "the gateway reaches this fleet's own client");
        }
    }

    // factura's dashboard lists the Spring client.
    let dashboard = http()
        .get(factura_discovery.url("/"))
        .send()
        .await
        .expect("GET / on discovery")
        .text()
        .await
        .expect("the dashboard");
    assert!(dashboard.contains("CLIENT"), "{dashboard}");
    assert!(
        dashboard.contains(&format!("127.0.0.1:{}/actuator/info", client_f.port)),
        "the Spring client's instance links to its status page: {dashboard}"
    );

    // factura's services read their settings from the Spring Config server.
    let (_, params) = get_json(&customers_s.url("/configtest1"))
        .await
        .expect("configtest1");
    assert_eq!(params, json!({ "p1": 11, "p2": 33 }));
    let shop = eventually_json(
        "the route the gateway loaded from the Spring Config server",
        &gateway_s.url("/shop/customers/2"),
        |_| true,
    )
    .await;
    assert_eq!(shop["name"], "Mohamed");

    // factura's billing and gateway call instances registered in the Spring Eureka server.
    let bill = eventually_json(
        "billing's full bill over instances found in the Spring Eureka server",
        &billing_s.url("/fullBill/1"),
        |bill| bill["complete"] == true,
    )
    .await;
    assert_eq!(bill["customer"]["name"], "Hassan", "{bill}");
    assert_eq!(
        bill["productItems"].as_array().map(Vec::len),
        Some(3),
        "{bill}"
    );
    for (path, name) in [
        ("/CUSTOMER-SERVICE/customers/1", "Hassan"),
        ("/INVENTORY-SERVICE/products/3", "Smartphone"),
    ] {
        let body = eventually_json(
            &format!("{path} through the gateway on the Spring Eureka server"),
            &gateway_s.url(path),
            |_| true,
        )
        .await;
        assert_eq!(body["name"], name, "{path}: {body}");
    }

    // factura's discovery client merges the Spring Eureka server's deltas: its hash code of the
    // registry agrees with Spring's, so it never falls back to full fetches.
    let raw = |path: &'static str| {
        let url = spring_eureka.url(path);
        async move {
            let body = http()
                .get(url)
                .header("accept", "application/json")
                .send()
                .await
                .expect("a registry fetch")
                .bytes()
                .await
                .expect("the registry body");
            platform::discovery::model::read_applications(&body, Format::Json)
                .expect("factura reads Spring's registry")
        }
    };
    let full = raw("/eureka/apps/").await;
    assert_eq!(full.compute_hashcode(), full.apps_hashcode, "{full:?}");
    let cache = RegistryCache::new();
    cache.replace(full);
    let delta = raw("/eureka/apps/delta").await;
    assert!(
        cache.apply_delta(&delta),
        "Spring's delta merges with a matching hash code: {delta:?}"
    );

    // What the Spring Eureka server holds for an instance factura's client registered, beside
    // one the Spring client registered under the same name.
    let twin = start(
        &customer_service::SERVICE,
        &[
            &on_spring,
            &pairs(&[
                ("spring.application.name", "client"),
                // The Spring client app's lease, so both register the same intervals.
                ("eureka.instance.lease-renewal-interval-in-seconds", "1"),
            ]),
        ],
    )
    .await;
    let id_at = |app: &Value, port: u16| {
        app["application"]["instance"]
            .as_array()?
            .iter()
            .find(|i| i["port"]["$"] == port)
            .and_then(|i| i["instanceId"].as_str().map(str::to_owned))
    };
    let app = eventually_json(
        "both CLIENT instances listed",
        &spring_eureka.url("/eureka/apps/CLIENT"),
        |app| id_at(app, client_s.port).is_some() && id_at(app, twin.addr.port()).is_some(),
    )
    .await;
    let spring_id = id_at(&app, client_s.port).expect("the Spring client's id");
    let twin_id = id_at(&app, twin.addr.port()).expect("factura's id");
    let eureka = |own_id: &str, port: u16| {
        Side::new(&spring_eureka.url(""))
            .replace(own_id, "{instance-id}")
            .replace(&format!("127.0.0.1:{port}"), "{instance}")
    };
    let registrations = Differential::new(
        "eureka-client",
        eureka(&twin_id, twin.addr.port()),
        eureka(&spring_id, client_s.port),
        Rules::default()
            .blank_key("lastUpdatedTimestamp")
            .blank_key("lastDirtyTimestamp")
            .blank_key("registrationTimestamp")
            .blank_key("lastRenewalTimestamp")
            .blank_key("evictionTimestamp")
            .blank_key("serviceUpTimestamp")
            .blank_key("port")
            .blank_key("securePort"),
    );
    for accept in ["application/json", "application/xml"] {
        let probe =
            |id: &str| Probe::get(&format!("/eureka/apps/CLIENT/{id}")).header("accept", accept);
        let a = registrations
            .send(&registrations.ours, &probe(&twin_id))
            .await;
        let b = registrations
            .send(&registrations.spring, &probe(&spring_id))
            .await;
        assert_eq!(a.status, 200, "{a:?}");
        registrations.record(&format!("registered instance as {accept}"), &a, &b);
    }
    registrations.finish();
    let _ = (customers_f, inventory_f, inventory_s);
}

/// `{cipher}` values a config server serves as they are (`spring.cloud.config.server.encrypt.enabled=false`)
/// are decrypted by the client with its own `encrypt.key`: factura's config client beside
/// Spring's, both named `client`, both reading factura's config-service, at start and on refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_config_client_decrypts_cipher_values_as_spring_does() {
    let folder = tempfile::tempdir().expect("a configuration folder");
    let folder_path = folder.path().display().to_string();
    let config = TestService::start(
        &config_service::SERVICE,
        &[
            (
                "spring.cloud.config.server.native.search-locations",
                folder_path.as_str(),
            ),
            ("encrypt.key", ENCRYPT_KEY),
            ("spring.cloud.config.server.encrypt.enabled", "false"),
        ],
    )
    .await;
    let encrypt = |plain: &'static str| {
        let url = config.url("/encrypt");
        async move {
            http()
                .post(url)
                .header("content-type", "text/plain")
                .body(plain)
                .send()
                .await
                .expect("POST /encrypt")
                .text()
                .await
                .expect("the cipher text")
        }
    };
    let params = |p1: &str| format!("global:\n  params:\n    p1: '{{cipher}}{p1}'\n    p2: 22\n");
    write(
        folder.path(),
        "application.yml",
        &params(&encrypt("77").await),
    );
    let served = eventually_json(
        "the config server serving the value encrypted",
        &config.url("/client/default"),
        |environment| environment.to_string().contains("{cipher}"),
    )
    .await;
    assert!(served.to_string().contains("{cipher}"), "{served}");

    let spring_client = tokio::spawn(spring(
        "client",
        pairs(&[
            (
                "spring.config.import",
                &format!("configserver:{}", config.url("")),
            ),
            ("encrypt.key", ENCRYPT_KEY),
            ("eureka.client.enabled", "false"),
        ]),
    ));
    let import = format!("configserver:{}", config.url(""));
    let ours = TestService::start(
        &customer_service::SERVICE,
        &[
            ("spring.application.name", "client"),
            ("spring.cloud.config.enabled", "true"),
            ("spring.config.import", &import),
            ("encrypt.key", ENCRYPT_KEY),
            // Only `/actuator/refresh` applies changes here, as in the Spring client.
            ("spring.cloud.config.watch.enabled", "false"),
            // Exposed over HTTP as the Spring client's application.yml exposes it.
            (
                "management.endpoints.web.exposure.include",
                "health,info,refresh",
            ),
        ],
    )
    .await;
    let spring_client = spring_client.await.expect("the Spring client starts");

    let d = Differential::new(
        "config-client",
        Side::new(&ours.url("")),
        Side::new(&spring_client.url("")),
        Rules::default(),
    );
    let check = Probe::get("/configtest1");
    let (a, b) = d.both(&check).await;
    assert_eq!(
        b.body,
        json!({ "p1": 77, "p2": 22 }),
        "Spring decrypts: {b:?}"
    );
    d.record("{cipher} value decrypted by the client at start", &a, &b);

    write(
        folder.path(),
        "application.yml",
        &params(&encrypt("78").await),
    );
    eventually_json(
        "the config server serving the new value",
        &config.url("/client/default"),
        |environment| !environment.to_string().contains(&served.to_string()),
    )
    .await;
    let (a, b) = d
        .both(&Probe::post("/actuator/refresh").header("content-type", "application/json"))
        .await;
    assert_eq!(b.body, json!(["global.params.p1"]), "{b:?}");
    d.record("POST /actuator/refresh after a new {cipher} value", &a, &b);
    let (a, b) = d.both(&check).await;
    assert_eq!(b.body, json!({ "p1": 78, "p2": 22 }), "{b:?}");
    d.record("{cipher} value decrypted by the client on refresh", &a, &b);
    d.finish();
}
