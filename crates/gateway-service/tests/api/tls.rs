//! https backends: a fixed `https://` route and an `lb://` route to an instance registered with
//! its secure port enabled, both reaching our customer-service serving TLS with a certificate
//! from a CA the test makes; trust by Spring Cloud Gateway's `httpclient.ssl.*` keys
//! (`trusted-x509-certificates`, `use-insecure-trust-manager`, `ssl-bundle` for a client
//! certificate), an untrusted backend refused.

use platform::discovery::{Application, Applications, InstanceInfo};
use serde_json::Value;
use testkit::{TestService, as_pairs, tls::TestCa};

use crate::helpers::*;

/// customer-service serving https with a certificate of `ca`, plus `extra`.
async fn https_customers(ca: &TestCa, extra: &[(&str, &str)]) -> TestService {
    let mut properties = ca.server("customer-service").server_ssl();
    properties.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    TestService::start(&customer_service::SERVICE, &as_pairs(&properties)).await
}

/// A fixed https route at `/customers/**` and a balanced one at `/lb/customers/**`.
fn routes(backend_port: u16) -> Vec<(String, String)> {
    let p = |k: &str, v: &str| (format!("spring.cloud.gateway.routes{k}"), v.to_owned());
    vec![
        p("[0].id", "fixed"),
        p("[0].uri", &format!("https://127.0.0.1:{backend_port}")),
        p("[0].predicates[0]", "Path=/customers/**"),
        p("[1].id", "balanced"),
        p("[1].uri", "lb://CUSTOMER-SERVICE"),
        p("[1].predicates[0]", "Path=/lb/customers/**"),
        p("[1].filters[0]", "StripPrefix=1"),
        ("server.error.include-message".into(), "always".into()),
    ]
}

/// Registers `port` as CUSTOMER-SERVICE's secure port; its non-secure port is disabled (and
/// points nowhere), so only https can reach it.
fn register_secure(gateway: &Gateway, port: u16) {
    let mut instance = InstanceInfo::new("CUSTOMER-SERVICE", "127.0.0.1", "127.0.0.1", 1);
    instance.port.enabled = false;
    instance.secure_port.enabled = true;
    instance.secure_port.port = port;
    gateway.registry.replace(Applications {
        applications: vec![Application {
            name: "CUSTOMER-SERVICE".into(),
            instances: vec![instance],
        }],
        ..Applications::default()
    });
}

async fn first_customer(gateway: &Gateway, path: &str) -> (u16, Value) {
    let response = client().get(gateway.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn https_routes_and_secure_lb_instances_are_called_over_tls() {
    let ca = TestCa::new("backend-ca");
    let customers = https_customers(&ca, &[]).await;
    let mut properties = routes(customers.addr.port());
    properties.push((
        "spring.cloud.gateway.httpclient.ssl.trusted-x509-certificates".into(),
        ca.certificate.display().to_string(),
    ));
    let gateway = Gateway::start(&as_pairs(&properties)).await;
    register_secure(&gateway, customers.addr.port());

    for path in ["/customers/1", "/lb/customers/1"] {
        let (status, body) = first_customer(&gateway, path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        assert_eq!(body["name"], "Hassan", "GET {path}: {body}");
    }
    gateway.stop().await;
    customers.stop().await;
}

#[tokio::test]
async fn an_untrusted_backend_is_refused_until_the_insecure_trust_manager_is_on() {
    let ca = TestCa::new("unknown-ca");
    let customers = https_customers(&ca, &[]).await;
    let gateway = Gateway::start(&as_pairs(&routes(customers.addr.port()))).await;
    register_secure(&gateway, customers.addr.port());

    let (status, body) = first_customer(&gateway, "/customers/1").await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("certificate"),
        "the error says why: {body}"
    );
    let (status, _) = first_customer(&gateway, "/lb/customers/1").await;
    assert_eq!(status, 503, "the only instance could not be reached");

    // The new-prefix key, put in force as a refresh does.
    gateway.set(
        "spring.cloud.gateway.server.webflux.httpclient.ssl.use-insecure-trust-manager",
        "true",
    );
    testkit::eventually(
        "the refreshed trust is used",
        std::time::Duration::from_secs(10),
        || async { (first_customer(&gateway, "/customers/1").await.0 == 200).then_some(()) },
    )
    .await;
    let (status, body) = first_customer(&gateway, "/lb/customers/1").await;
    assert_eq!((status, &body["name"]), (200, &Value::from("Hassan")));
    gateway.stop().await;
    customers.stop().await;
}

#[tokio::test]
async fn a_backend_requiring_client_certificates_gets_the_ssl_bundle_s_certificate() {
    let ca = TestCa::new("mutual-ca");
    let ca_file = ca.certificate.display().to_string();
    let customers = https_customers(
        &ca,
        &[
            ("server.ssl.client-auth", "need"),
            ("server.ssl.trust-certificate", &ca_file),
        ],
    )
    .await;
    let gateway_certificate = ca.client("gateway");
    let mut properties = routes(customers.addr.port());
    properties.push((
        "spring.cloud.gateway.httpclient.ssl.trusted-x509-certificates".into(),
        ca_file.clone(),
    ));
    let without = Gateway::start(&as_pairs(&properties)).await;
    let (status, body) = first_customer(&without, "/customers/1").await;
    assert_eq!(status, 502, "no client certificate, no answer: {body}");
    without.stop().await;

    for (key, value) in [
        (
            "spring.cloud.gateway.httpclient.ssl.ssl-bundle",
            "gateway-client",
        ),
        (
            "spring.ssl.bundle.pem.gateway-client.keystore.certificate",
            &gateway_certificate.certificate.display().to_string(),
        ),
        (
            "spring.ssl.bundle.pem.gateway-client.keystore.private-key",
            &gateway_certificate.private_key.display().to_string(),
        ),
    ] {
        properties.push((key.to_owned(), value.to_owned()));
    }
    let gateway = Gateway::start(&as_pairs(&properties)).await;
    register_secure(&gateway, customers.addr.port());
    for path in ["/customers/1", "/lb/customers/1"] {
        let (status, body) = first_customer(&gateway, path).await;
        assert_eq!(
            (status, &body["name"]),
            (200, &Value::from("Hassan")),
            "{path}"
        );
    }
    gateway.stop().await;
    customers.stop().await;
}

#[tokio::test]
async fn a_gateway_serving_tls_tells_backends_the_client_used_https() {
    let ca = TestCa::new("edge-ca");
    let customers = https_customers(&ca, &[]).await;
    let mut properties = routes(customers.addr.port());
    properties.extend(ca.server("gateway").server_ssl());
    properties.push((
        "factura.ssl.client.trusted-x509-certificates".into(),
        ca.certificate.display().to_string(),
    ));
    let gateway = Gateway::start(&as_pairs(&properties)).await;
    let url = testkit::tls::https_url(gateway.addr, "/customers/1");
    let customer: Value = ca
        .client_trusting(None)
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        customer["_links"]["self"]["href"], url,
        "X-Forwarded-Proto/Port say https and the gateway's port: {customer}"
    );
    gateway.stop().await;
    customers.stop().await;
}
