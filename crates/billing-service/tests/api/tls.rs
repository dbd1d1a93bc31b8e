//! Billing over TLS end to end: discovery, customer-service, inventory-service and billing all
//! serve https only and require client certificates; customer and inventory register their
//! secure port (`eureka.instance.secure-port-enabled`, non-secure port disabled), so billing's
//! service client calls them over https, presenting its client certificate from the platform's
//! `factura.ssl.client.ssl-bundle`, and the discovery clients register and fetch over https too.

use std::time::Duration;

use serde_json::Value;
use testkit::{TestService, as_pairs, eventually, tls::TestCa};

const SECURE_INSTANCE: &[(&str, &str)] = &[
    ("eureka.instance.secure-port-enabled", "true"),
    ("eureka.instance.non-secure-port-enabled", "false"),
];

#[tokio::test]
async fn billing_calls_https_instances_found_through_an_https_discovery_server() {
    let ca = TestCa::new("fleet-ca");
    let discovery = TestService::start(
        &discovery_service::SERVICE,
        &as_pairs(&ca.service_settings("discovery-service", "need")),
    )
    .await;
    let mut registered = testkit::registered_with(discovery.addr);
    for (key, value) in &mut registered {
        if key == "eureka.client.service-url.defaultZone" {
            *value = format!("https://127.0.0.1:{}/eureka/", discovery.addr.port());
        }
    }
    let start = |definition, name: &'static str, secure: bool| {
        let mut settings = ca.service_settings(name, "need");
        settings.extend(registered.iter().cloned());
        if secure {
            settings.extend(
                SECURE_INSTANCE
                    .iter()
                    .map(|(k, v)| ((*k).into(), (*v).into())),
            );
        }
        async move { TestService::start(definition, &as_pairs(&settings)).await }
    };
    let customers = start(&customer_service::SERVICE, "customer-service", true).await;
    let inventory = start(&inventory_service::SERVICE, "inventory-service", true).await;
    let billing = start(&billing_service::SERVICE, "billing-service", false).await;

    let caller = ca.client_trusting(Some(&ca.client("caller")));
    let apps_url = testkit::tls::https_url(discovery.addr, "/eureka/apps");
    eventually(
        "customer and inventory registered their secure ports over https",
        Duration::from_secs(20),
        || async {
            let apps: Value = caller
                .get(&apps_url)
                .header("accept", "application/json")
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let secure = |app: &str| {
                apps["applications"]["application"]
                    .as_array()?
                    .iter()
                    .find(|a| a["name"] == app)?["instance"][0]["securePort"]["@enabled"]
                    .as_str()
                    .map(|enabled| enabled == "true")
            };
            (secure("CUSTOMER-SERVICE")? && secure("INVENTORY-SERVICE")?).then_some(())
        },
    )
    .await;

    let full_bill_url = testkit::tls::https_url(billing.addr, "/fullBill/1");
    let bill: Value = eventually(
        "billing fills the bill in from the https instances",
        Duration::from_secs(20),
        || async {
            let response = caller.get(&full_bill_url).send().await.ok()?;
            let bill: Value = response.json().await.ok()?;
            (bill["customer"]["name"] == "Hassan"
                && bill["productItems"][0]["product"]["name"].is_string())
            .then_some(bill)
        },
    )
    .await;
    assert_eq!(
        bill["productItems"].as_array().map(Vec::len),
        Some(3),
        "{bill}"
    );

    // Billing serves https only and requires a client certificate.
    let anonymous = ca.client_trusting(None);
    assert!(
        anonymous.get(&full_bill_url).send().await.is_err(),
        "no client certificate, no handshake"
    );
    assert!(
        reqwest::get(billing.url("/fullBill/1")).await.is_err(),
        "plain http is not served"
    );

    for service in [billing, inventory, customers, discovery] {
        service.stop().await;
    }
}
