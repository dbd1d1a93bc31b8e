//! Faults as clients see them: a dead instance among two, no instance at all, a hung instance
//! that trips the breaker, and recovery.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::{TestService, eventually};

use crate::helpers::{System, hanging_server, registered};

async fn full_bill(system: &System) -> Value {
    system.get("/fullBill/1").await.1
}

#[tokio::test]
async fn killing_one_of_two_inventory_instances_loses_no_call() {
    let mut system = System::start(2).await;
    system.complete_full_bill(1).await;

    system.inventory.remove(0).kill();
    let mut incomplete = 0;
    for _ in 0..30 {
        let (status, bill) = system.get("/fullBill/1").await;
        assert_eq!(status, StatusCode::OK);
        if bill["complete"] != true {
            incomplete += 1;
        }
    }
    assert_eq!(
        incomplete, 0,
        "the dead instance's refused connections move on to the live one"
    );
    let (status, _, _) = system
        .post_bill(json!({ "customerId": 1, "productItems": [{ "productId": 2, "quantity": 1 }] }))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    system.stop().await;
}

#[tokio::test]
async fn with_every_inventory_instance_gone_creation_is_503_and_the_full_bill_degrades() {
    let mut system = System::start(1).await;
    system.complete_full_bill(1).await;
    let before = system.bill_count().await;
    system.inventory.remove(0).kill();

    let bill = full_bill(&system).await;
    assert_eq!(bill["complete"], false);
    assert_eq!(
        bill["customer"]["name"], "Hassan",
        "what billing can still get, it shows"
    );
    assert_eq!(
        bill["total"], 2450.0,
        "amounts come from billing's own data"
    );
    assert!(
        bill["productItems"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["product"].is_null())
    );
    let missing = bill["missing"].as_array().unwrap();
    assert_eq!(missing.len(), 3);
    assert!(
        missing[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("INVENTORY-SERVICE products(1,2,3): unavailable"),
        "{missing:?}"
    );
    // Internal addresses and the HTTP client's words stay in the log.
    let shown = bill.to_string();
    assert!(
        !shown.contains("127.0.0.1") && !shown.contains("http://") && !shown.contains("error"),
        "{shown}"
    );

    let (status, error, _) = system
        .post_bill(json!({ "customerId": 1, "productItems": [{ "productId": 2, "quantity": 1 }] }))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("INVENTORY-SERVICE"),
        "{error}"
    );
    assert!(
        !error.to_string().contains("127.0.0.1") && !error.to_string().contains("http://"),
        "{error}"
    );
    assert_eq!(system.bill_count().await, before);
    system.stop().await;
}

#[tokio::test]
async fn a_hung_instance_times_out_opens_the_breaker_which_later_closes() {
    let system = System::start(0).await;
    let (port, _hung) = hanging_server().await;
    system.register_instance("INVENTORY-SERVICE", port).await;
    system.wait_for_instances("INVENTORY-SERVICE", 1).await;

    let order = json!({ "customerId": 1, "productItems": [{ "productId": 1, "quantity": 1 }] });
    let (status, error, _) = system.post_bill(order.clone()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("no answer within 400 ms"),
        "{error}"
    );
    for _ in 0..3 {
        system.post_bill(order.clone()).await;
    }
    let (status, error, _) = system.post_bill(order.clone()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("circuit breaker open"),
        "{error}"
    );
    let (_, health) = {
        let response = system
            .http
            .get(system.billing.url("/actuator/health"))
            .send()
            .await
            .unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    };
    assert_eq!(
        health["components"]["circuitBreaker-inventory-service"]["details"]["state"],
        "OPEN"
    );
    assert_eq!(
        health["status"], "UP",
        "an open breaker protects billing; it does not take it down"
    );
    let metrics = system
        .http
        .get(system.billing.url("/actuator/prometheus"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"resilience4j_circuitbreaker_state{name="INVENTORY-SERVICE",state="open"} 1"#
        ),
        "{metrics}"
    );

    // A real instance arrives and the hung one leaves; after the open wait, trials succeed.
    let props = registered(&system.discovery);
    let props: Vec<(&str, &str)> = props
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let inventory = TestService::start(&inventory_service::SERVICE, &props).await;
    let gone = system
        .http
        .delete(system.discovery.url(&format!(
            "/eureka/apps/INVENTORY-SERVICE/127.0.0.1:inventory-service:{port}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::OK);
    system.wait_for_instances("INVENTORY-SERVICE", 1).await;
    let http = system.http.clone();
    let url = system.billing.url("/bills");
    eventually(
        "bills can be created again",
        Duration::from_secs(20),
        || async {
            let response = http.post(&url).json(&order).send().await.ok()?;
            (response.status() == StatusCode::CREATED).then_some(())
        },
    )
    .await;
    let health: Value = system
        .http
        .get(system.billing.url("/actuator/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        health["components"]["circuitBreaker-inventory-service"]["details"]["state"],
        "CLOSED"
    );
    inventory.stop().await;
    system.stop().await;
}

#[tokio::test]
async fn a_customer_service_answering_garbage_is_a_clear_error_and_nothing_is_stored() {
    use axum::{Router, routing::get};
    // A CUSTOMER-SERVICE instance that answers 200 with a body that is not a customer.
    let app = Router::new().route("/customers/{id}", get(|| async { "<html>surprise</html>" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut system = System::start(1).await;
    system.complete_full_bill(1).await;
    let before = system.bill_count().await;
    // Only the garbage instance is left for CUSTOMER-SERVICE.
    let real = std::mem::replace(
        &mut system.customers,
        TestService::start(&customer_service::SERVICE, &[]).await,
    );
    real.stop().await;
    system.register_instance("CUSTOMER-SERVICE", port).await;
    system.wait_for_instances("CUSTOMER-SERVICE", 1).await;

    let bill = full_bill(&system).await;
    assert_eq!(bill["complete"], false);
    assert!(bill["customer"].is_null());
    let reason = bill["missing"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("CUSTOMER-SERVICE customer(1): bad response"),
        "{reason}"
    );

    let (status, error, _) = system
        .post_bill(json!({ "customerId": 1, "productItems": [{ "productId": 1, "quantity": 1 }] }))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        error["message"].as_str().unwrap().contains("bad response"),
        "{error}"
    );
    assert_eq!(system.bill_count().await, before, "nothing stored");
    system.stop().await;
}
