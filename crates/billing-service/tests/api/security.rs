//! Tokens across hops, with every service a resource server of one test-own provider
//! (testkit::oidc): billing's calls to customer and inventory carry the caller's token, and the
//! seed bill — made with no caller at all — gets a client-credentials token, fetched once and
//! reused.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::{TestService, eventually, oidc::TestIssuer};

use crate::helpers::{registered, wait_for_instances};

const ISSUER_URI: &str = "spring.security.oauth2.resourceserver.jwt.issuer-uri";

#[tokio::test]
async fn billing_relays_the_callers_token_and_seeds_with_client_credentials() {
    let issuer = TestIssuer::start().await;
    let discovery = TestService::start(&discovery_service::SERVICE, &[]).await;
    let mut props = registered(&discovery);
    props.push((ISSUER_URI.into(), issuer.issuer().into()));
    let pairs = testkit::as_pairs(&props);
    let customers = TestService::start(&customer_service::SERVICE, &pairs).await;
    let inventory = TestService::start(&inventory_service::SERVICE, &pairs).await;
    let client = "spring.security.oauth2.client.registration.factura";
    let mut billing_props = props.clone();
    billing_props.extend([
        (format!("{client}.client-id"), "billing-service".into()),
        (format!("{client}.client-secret"), "billing-secret".into()),
        (
            format!("{client}.authorization-grant-type"),
            "client_credentials".into(),
        ),
        (
            "spring.security.oauth2.client.provider.factura.issuer-uri".into(),
            issuer.issuer().into(),
        ),
        ("factura.security.rules[0].paths".into(), "/bills".into()),
        ("factura.security.rules[0].methods".into(), "POST".into()),
        (
            "factura.security.rules[0].roles".into(),
            "USER, ADMIN".into(),
        ),
    ]);
    let billing = TestService::start(
        &billing_service::SERVICE,
        &testkit::as_pairs(&billing_props),
    )
    .await;
    let http = reqwest::Client::new();
    wait_for_instances(&discovery, &http, "CUSTOMER-SERVICE", 1).await;
    wait_for_instances(&discovery, &http, "INVENTORY-SERVICE", 1).await;

    // The seed bill has no caller: it is made with the client's own token (realm role ADMIN,
    // which the reservation in inventory needs), asked for once.
    let admin = issuer.token("admin", &["ADMIN"]);
    let seeded: Value = eventually("the seed bill", Duration::from_secs(20), || async {
        let response = http
            .get(billing.url("/bills/1"))
            .bearer_auth(&admin)
            .send()
            .await
            .ok()?;
        (response.status() == StatusCode::OK).then_some(())?;
        response.json().await.ok()
    })
    .await;
    assert_eq!(seeded["customerId"], 1);
    assert_eq!(
        issuer.token_requests(),
        1,
        "one client-credentials token, cached"
    );

    // A clerk reads the full bill: billing calls customer and inventory with the clerk's token.
    let clerk = issuer.token("clerk", &["USER"]);
    let full: Value = http
        .get(billing.url("/fullBill/1"))
        .bearer_auth(&clerk)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(full["complete"], true, "{full}");
    assert_eq!(full["customer"]["name"], "Hassan");
    // Billing lets clerks bill (a rule of its own), inventory does not let them reserve stock:
    // the reservation goes out with the clerk's token — not billing's ADMIN client token — and
    // is refused, so nothing is billed.
    let order = json!({"customerId": 1, "productItems": [{"productId": 1, "quantity": 1}]});
    let response = http
        .post(billing.url("/bills"))
        .bearer_auth(&clerk)
        .json(&order)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_ne!(
        status,
        StatusCode::FORBIDDEN,
        "billing itself let the clerk in: {body}"
    );
    assert!(status.is_client_error(), "{status} {body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("requires higher privileges")),
        "inventory's refusal of the clerk: {body}"
    );
    let bills: Value = http
        .get(billing.url("/bills"))
        .bearer_auth(&clerk)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        bills["page"]["totalElements"], 1,
        "only the seed bill: {bills}"
    );
    // An admin can, and billing's reservation in inventory runs as the admin.
    let response = http
        .post(billing.url("/bills"))
        .bearer_auth(&admin)
        .json(&order)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        issuer.token_requests(),
        1,
        "callers' calls need no client token"
    );

    billing.stop().await;
    inventory.stop().await;
    customers.stop().await;
    discovery.stop().await;
}
