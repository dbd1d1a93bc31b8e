//! `/reservations/{id}`: stock taken all-or-nothing, each step idempotent, never oversold.

use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::TestApp;

async fn reserve(app: &TestApp, id: &str, lines: Value) -> (StatusCode, Value) {
    let response = app
        .http
        .put(app.url(&format!("/reservations/{id}")))
        .json(&json!({ "lines": lines }))
        .send()
        .await
        .unwrap();
    (
        response.status(),
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn release(app: &TestApp, id: &str) -> (StatusCode, Value) {
    let response = app
        .http
        .delete(app.url(&format!("/reservations/{id}")))
        .send()
        .await
        .unwrap();
    (
        response.status(),
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn stock(app: &TestApp, product: i64) -> i64 {
    app.get_json(&format!("/products/{product}")).await["quantity"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn a_reservation_takes_stock_once_and_its_release_gives_it_back_once() {
    let app = TestApp::start(&inventory_service::SERVICE, &[]).await;
    let lines = json!([ { "productId": 1, "quantity": 5 }, { "productId": 2, "quantity": 3 } ]);
    let (status, body) = reserve(&app, "r-1", lines.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["state"], "RESERVED");
    assert_eq!(body["_links"]["self"]["href"], app.url("/reservations/r-1"));
    assert_eq!((stock(&app, 1).await, stock(&app, 2).await), (7, 5));
    let (status, again) = reserve(&app, "r-1", lines.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, body);
    assert_eq!((stock(&app, 1).await, stock(&app, 2).await), (7, 5));
    let (status, _) = reserve(&app, "r-1", json!([ { "productId": 1, "quantity": 1 } ])).await;
    assert_eq!(status, StatusCode::CONFLICT);

    for _ in 0..2 {
        let (status, released) = release(&app, "r-1").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(released["state"], "RELEASED");
        assert_eq!((stock(&app, 1).await, stock(&app, 2).await), (12, 8));
    }
    let (status, body) = reserve(&app, "r-1", lines).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a released id is not taken again"
    );
    assert!(body["message"].as_str().unwrap().contains("was released"));
    assert_eq!(stock(&app, 1).await, 12);
    app.stop().await;
}

#[tokio::test]
async fn a_release_that_overtakes_its_reservation_keeps_the_late_reservation_out() {
    let app = TestApp::start(&inventory_service::SERVICE, &[]).await;
    let (status, body) = release(&app, "late").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["state"], "RELEASED");
    let (status, _) = reserve(&app, "late", json!([ { "productId": 1, "quantity": 1 } ])).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(stock(&app, 1).await, 12);
    app.stop().await;
}

#[tokio::test]
async fn not_enough_stock_is_409_naming_the_product_and_takes_nothing() {
    let app = TestApp::start(&inventory_service::SERVICE, &[]).await;
    let (status, body) = reserve(
        &app,
        "big",
        json!([ { "productId": 1, "quantity": 2 }, { "productId": 2, "quantity": 9 } ]),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["message"],
        "not enough stock of product 2 (Printer): 9 requested, 8 available"
    );
    assert_eq!((stock(&app, 1).await, stock(&app, 2).await), (12, 8));
    let response = app.get("/reservations/big").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let (status, _) = reserve(&app, "bad", json!([ { "productId": 1, "quantity": 0 } ])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = reserve(&app, "ghost", json!([ { "productId": 99, "quantity": 1 } ])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    app.stop().await;
}

#[tokio::test]
async fn fifty_concurrent_reservations_of_ten_units_never_oversell() {
    let app = std::sync::Arc::new(TestApp::start(&inventory_service::SERVICE, &[]).await);
    let product = app
        .post_json(
            "/products",
            &json!({ "name": "Rare", "price": 1, "quantity": 10 }),
        )
        .await;
    assert_eq!(product.status(), StatusCode::CREATED);
    let id = product.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .parse::<i64>()
        .unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                reserve(
                    &app,
                    &format!("c{i}"),
                    json!([ { "productId": id, "quantity": 1 } ]),
                )
                .await
                .0
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, refused), (10, 40), "{statuses:?}");
    assert_eq!(stock(&app, id).await, 0);
    std::sync::Arc::into_inner(app).unwrap().stop().await;
}
