//! Every service serves https with Spring Boot's `server.ssl.*` keys, with client
//! certificates not asked for and with them required: the six real services started
//! in-process on `127.0.0.1:0`, each with its own certificate from one test CA; links in
//! responses say `https`; a service loading its configuration over https; and the whole system
//! run by `factura up` over mutual TLS.

mod support;

use std::time::Duration;

use platform::ServiceDefinition;
use support::{start_up, wait_for_line};
use testkit::{
    TestService, as_pairs,
    tls::{TestCa, https_url},
};

const SERVICES: [&ServiceDefinition; 6] = [
    &config_service::SERVICE,
    &discovery_service::SERVICE,
    &customer_service::SERVICE,
    &inventory_service::SERVICE,
    &billing_service::SERVICE,
    &gateway_service::SERVICE,
];

#[tokio::test]
async fn every_service_serves_https_with_and_without_required_client_certificates() {
    let ca = TestCa::new("fleet-ca");
    let config_repo = tempfile::tempdir().unwrap();
    std::fs::write(config_repo.path().join("application.yml"), "a: 1\n").unwrap();
    let with_certificate = ca.client_trusting(Some(&ca.client("operator")));
    let anonymous = ca.client_trusting(None);
    for client_auth in ["none", "need"] {
        for definition in SERVICES {
            let mut settings = ca.service_settings(definition.name, client_auth);
            settings.push((
                "spring.cloud.config.server.native.search-locations".into(),
                config_repo.path().display().to_string(),
            ));
            let service = TestService::start(definition, &as_pairs(&settings)).await;
            let url = https_url(service.addr, "/actuator/health");
            let response =
                with_certificate.get(&url).send().await.unwrap_or_else(|e| {
                    panic!("{} over https ({client_auth}): {e}", definition.name)
                });
            assert_eq!(
                response.status(),
                200,
                "{} ({client_auth})",
                definition.name
            );
            assert_eq!(
                anonymous.get(&url).send().await.is_ok(),
                client_auth == "none",
                "{}: a caller without a client certificate with client-auth={client_auth}",
                definition.name
            );
            assert!(
                reqwest::get(service.url("/actuator/health")).await.is_err(),
                "{}: no plain http on the TLS port",
                definition.name
            );
            if definition.name == "customer-service" {
                let customer: serde_json::Value = with_certificate
                    .get(https_url(service.addr, "/customers/1"))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let link = customer["_links"]["self"]["href"]
                    .as_str()
                    .unwrap_or_default();
                assert!(link.starts_with("https://"), "links say https: {customer}");
            }
            service.stop().await;
        }
    }
}

#[tokio::test]
async fn a_service_loads_its_configuration_from_an_https_config_server_requiring_client_certificates()
 {
    let ca = TestCa::new("config-ca");
    let config_repo = tempfile::tempdir().unwrap();
    std::fs::write(
        config_repo.path().join("customer-service.yml"),
        "greeting: loaded-over-tls\n",
    )
    .unwrap();
    let mut config_settings = ca.service_settings("config-service", "need");
    config_settings.push((
        "spring.cloud.config.server.native.search-locations".into(),
        config_repo.path().display().to_string(),
    ));
    let config = TestService::start(&config_service::SERVICE, &as_pairs(&config_settings)).await;

    let import = format!("configserver:https://127.0.0.1:{}", config.addr.port());
    let mut settings = ca.service_settings("customer-service", "none");
    settings.extend([
        ("spring.cloud.config.enabled".to_owned(), "true".to_owned()),
        ("spring.config.import".to_owned(), import),
    ]);
    let customers = TestService::start(&customer_service::SERVICE, &as_pairs(&settings)).await;
    assert_eq!(
        customers.settings.current().get("greeting").as_deref(),
        Some("loaded-over-tls"),
        "the remote source came over https with the client certificate"
    );
    customers.stop().await;
    config.stop().await;
}

#[tokio::test]
async fn up_runs_the_whole_system_over_mutual_tls() {
    let offset = 18_000;
    let ca = TestCa::new("up-ca");
    let data = tempfile::tempdir().unwrap();
    let mut args = vec!["--".to_owned()];
    for (key, value) in ca.service_settings("fleet", "need") {
        args.push(format!("--{key}={value}"));
    }
    args.extend([
        "--eureka.instance.secure-port-enabled=true".to_owned(),
        "--eureka.instance.non-secure-port-enabled=false".to_owned(),
        "--eureka.client.registry-fetch-interval-seconds=0.5".to_owned(),
        "--eureka.instance.lease-renewal-interval-in-seconds=1".to_owned(),
    ]);
    let (up, lines) = start_up(offset, data.path(), &args);
    let startup = wait_for_line(&lines, "Press Ctrl-C to stop", Duration::from_secs(120));
    assert!(
        startup.iter().any(|l| l.contains("gateway-service")
            && l.contains(&format!("https://localhost:{}", 9999 + offset))),
        "https URLs listed: {startup:?}"
    );

    let caller = ca.client_trusting(Some(&ca.client("caller")));
    let gateway = format!("https://127.0.0.1:{}", 9999 + offset);
    let bill: serde_json::Value = testkit::eventually(
        "a full bill through the https gateway",
        Duration::from_secs(60),
        || async {
            let response = caller
                .get(format!("{gateway}/fullBill/1"))
                .send()
                .await
                .ok()?;
            let bill: serde_json::Value = response.json().await.ok()?;
            (bill["customer"]["name"] == "Hassan").then_some(bill)
        },
    )
    .await;
    assert_eq!(
        bill["productItems"].as_array().map(Vec::len),
        Some(3),
        "{bill}"
    );
    assert!(
        ca.client_trusting(None)
            .get(format!("{gateway}/customers/1"))
            .send()
            .await
            .is_err(),
        "a caller without a client certificate is refused"
    );

    // `factura status` reads the https registry with the trust and client certificate given in
    // the environment, and lists the secure instances' https URLs.
    let client = ca.client("status");
    let listed = tokio::process::Command::new(env!("CARGO_BIN_EXE_factura"))
        .args(["status", "--data-dir"])
        .arg(data.path())
        .arg("--discovery")
        .arg(format!("https://127.0.0.1:{}/eureka", 8761 + offset))
        .env("FACTURA_SSL_CLIENT_SSLBUNDLE", "status-client")
        .env(
            "SPRING_SSL_BUNDLE_PEM_STATUSCLIENT_KEYSTORE_CERTIFICATE",
            &client.certificate,
        )
        .env(
            "SPRING_SSL_BUNDLE_PEM_STATUSCLIENT_KEYSTORE_PRIVATEKEY",
            &client.private_key,
        )
        .env(
            "SPRING_SSL_BUNDLE_PEM_STATUSCLIENT_TRUSTSTORE_CERTIFICATE",
            &ca.certificate,
        )
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(
        stdout.contains(&format!("https://127.0.0.1:{}", 8081 + offset)),
        "{stdout}"
    );

    let status = up.terminate().await;
    assert!(status.success(), "factura up exits cleanly: {status}");
}
