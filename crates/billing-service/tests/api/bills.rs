//! Bills through the real system: the seeded invoice, creation, validation, associations.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Json, Router, extract::Path, http::HeaderMap, routing::get};
use reqwest::StatusCode;
use serde_json::json;
use testkit::{TestService, eventually};

use crate::helpers::{System, registered, requests_served};

#[tokio::test]
async fn the_seeded_full_bill_has_customer_products_amounts_and_total() {
    let system = System::start(1).await;
    let bill = system.complete_full_bill(1).await;
    assert_eq!(bill["customerId"], 1);
    assert_eq!(
        bill["customer"],
        json!({ "id": 1, "name": "Hassan", "email": "hassan@mail.com" })
    );
    let items = bill["productItems"].as_array().unwrap();
    let lines: Vec<(&str, i64, f64, f64)> = items
        .iter()
        .map(|i| {
            (
                i["product"]["name"].as_str().unwrap(),
                i["quantity"].as_i64().unwrap(),
                i["price"].as_f64().unwrap(),
                i["amount"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("Computer Desk", 1, 890.0, 890.0),
            ("Printer", 2, 420.0, 840.0),
            ("Smartphone", 3, 240.0, 720.0)
        ]
    );
    assert_eq!(bill["total"], 2450.0);
    assert_eq!(bill["missing"], json!([]));
    assert!(bill["billingDate"].as_str().unwrap().ends_with("+00:00"));
    system.stop().await;
}

#[tokio::test]
async fn a_bill_is_created_priced_from_inventory_and_linked_as_spring_data_rest_does() {
    let system = System::start(1).await;
    let (status, bill, location) = system
        .post_bill(json!({ "customerId": 2, "productItems": [
            { "productId": 1, "quantity": 2, "discount": 0.1 },
            { "productId": 3, "quantity": 1 } ] }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{bill}");
    let id = bill["id"].as_i64().unwrap();
    assert_eq!(
        location.unwrap(),
        system.billing.url(&format!("/bills/{id}"))
    );
    assert_eq!(bill["customer"]["name"], "Mohamed");
    // 890 × 2 × 0.9 + 240 × 1
    assert_eq!(bill["productItems"][0]["amount"], 1602.0);
    assert_eq!(bill["total"], 1842.0);
    assert_eq!(bill["complete"], true);

    let (_, hal) = system.get(&format!("/bills/{id}")).await;
    assert_eq!(hal["customerId"], 2);
    assert_eq!(
        hal["_links"]["productItems"]["href"],
        system.billing.url(&format!("/bills/{id}/productItems"))
    );
    let (_, items) = system.get(&format!("/bills/{id}/productItems")).await;
    assert_eq!(
        items["_embedded"]["productItems"].as_array().unwrap().len(),
        2
    );
    assert_eq!(items["_embedded"]["productItems"][0]["price"], 890.0);
    let (_, found) = system.get("/bills/search/byCustomerId?customerId=2").await;
    assert_eq!(found["page"]["totalElements"], 1);
    system.stop().await;
}

#[tokio::test]
async fn unknown_customers_and_products_are_400s_naming_them_and_store_nothing() {
    let system = System::start(1).await;
    system.complete_full_bill(1).await;
    let before = system.bill_count().await;
    let (status, error, _) = system
        .post_bill(json!({ "customerId": 99, "productItems": [{ "productId": 1, "quantity": 1 }, { "productId": 77, "quantity": 1 }] }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let messages: Vec<&str> = error["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        ["no customer with id 99", "no product with id 77"]
    );

    let (status, error, _) = system
        .post_bill(json!({ "customerId": 1, "productItems": [{ "productId": 1, "quantity": -2, "discount": 2 }, { "productId": 1, "quantity": 1 }] }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["errors"].as_array().unwrap().len(), 3, "{error}");
    let (status, _, _) = system.post_bill(json!([1, 2])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(system.bill_count().await, before, "nothing half-stored");
    system.stop().await;
}

#[tokio::test]
async fn bad_bill_ids_and_deleting_a_bill_that_has_items() {
    let system = System::start(1).await;
    system.complete_full_bill(1).await;
    assert_eq!(system.get("/fullBill/404").await.0, StatusCode::NOT_FOUND);
    assert_eq!(system.get("/fullBill/abc").await.0, StatusCode::BAD_REQUEST);
    let response = system
        .http
        .delete(system.billing.url("/bills/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::METHOD_NOT_ALLOWED,
        "the generic delete is not mapped by default (with it, items pointing at the bill \
         would refuse it: the side-door test)"
    );
    assert_eq!(system.get("/fullBill/1").await.0, StatusCode::OK);
    system.stop().await;
}

#[tokio::test]
async fn the_request_id_travels_on_the_calls_billing_makes() {
    // A CUSTOMER-SERVICE stand-in that records the request ids it receives.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let recorder = seen.clone();
    let app = Router::new().route(
        "/customers/{id}",
        get(move |Path(id): Path<i64>, headers: HeaderMap| {
            let recorder = recorder.clone();
            async move {
                if let Some(value) = headers.get("x-request-id") {
                    recorder
                        .lock()
                        .unwrap()
                        .push(value.to_str().unwrap().to_owned());
                }
                Json(json!({ "id": id, "name": "Recorded", "email": "r@mail.com" }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let discovery = TestService::start(&discovery_service::SERVICE, &[]).await;
    let props = registered(&discovery);
    let props = testkit::as_pairs(&props);
    let inventory = TestService::start(&inventory_service::SERVICE, &props).await;
    let billing = TestService::start(&billing_service::SERVICE, &props).await;
    let system = System {
        discovery,
        customers: inventory,
        inventory: Vec::new(),
        billing,
        http: reqwest::Client::new(),
    };
    system.register_instance("CUSTOMER-SERVICE", port).await;

    let url = system.billing.url("/bills");
    let http = system.http.clone();
    eventually(
        "billing reaches the recorder",
        Duration::from_secs(15),
        || async {
            let response = http
            .post(&url)
            .header("x-request-id", "invoice-trace-7")
            .json(&json!({ "customerId": 5, "productItems": [{ "productId": 2, "quantity": 1 }] }))
            .send()
            .await
            .ok()?;
            (response.status() == StatusCode::CREATED).then_some(())
        },
    )
    .await;
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|id| id == "invoice-trace-7"),
        "{:?}",
        seen.lock().unwrap()
    );
    system.stop().await;
}

#[tokio::test]
async fn a_bill_of_ten_lines_costs_one_call_per_service_counted_by_the_callees() {
    let system = System::start(1).await;
    let inventory = &system.inventory[0];
    for i in 0..7 {
        let response = system
            .http
            .post(inventory.url("/products"))
            .json(&json!({ "name": format!("Batch item {i}"), "price": 10 + i, "quantity": 100 }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let lines: Vec<_> = (1..=10)
        .map(|id| json!({ "productId": id, "quantity": 1 }))
        .collect();
    let served = |service: &'static str, method: &'static str, uri: &'static str| {
        let system = &system;
        async move {
            let callee = match service {
                "customer" => &system.customers,
                _ => &system.inventory[0],
            };
            requests_served(&system.http, callee, method, uri).await
        }
    };
    let counts = || async {
        [
            served("customer", "GET", "/customers/{id}").await,
            served("inventory", "GET", "/products/search/{name}").await,
            served("inventory", "GET", "/products/{id}").await,
        ]
    };

    let before = counts().await;
    let (status, bill, _) = system
        .post_bill(json!({ "customerId": 1, "productItems": lines }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{bill}");
    let after_create = counts().await;
    // Pricing the ten lines: one customer read and one batch lookup, no product read.
    assert_eq!(
        [
            after_create[0] - before[0],
            after_create[1] - before[1],
            after_create[2] - before[2]
        ],
        [1, 1, 0]
    );

    let id = bill["id"].as_i64().unwrap();
    let full = system.complete_full_bill(id).await;
    assert_eq!(full["productItems"].as_array().unwrap().len(), 10);
    assert!(
        full["productItems"]
            .as_array()
            .unwrap()
            .iter()
            .all(|item| item["product"]["id"] == item["productId"]),
        "{full}"
    );
    let after_read = counts().await;
    assert_eq!(
        [
            after_read[0] - after_create[0],
            after_read[1] - after_create[1],
            after_read[2] - after_create[2]
        ],
        [1, 1, 0],
        "the full bill makes one call per service"
    );
    system.stop().await;
}
