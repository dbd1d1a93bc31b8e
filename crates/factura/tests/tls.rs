//! Every service serves https with Spring Boot's `server.ssl.*` keys, with client
//! certificates not asked for and with them required: the six real services started
//! in-process on `127.0.0.1:0`, each with its own certificate from one test CA; links in
//! responses say `https`.

use platform::ServiceDefinition;
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
