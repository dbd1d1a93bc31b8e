//! inventory-service over real HTTP: products with exact prices and non-negative stock, on
//! SQLite (and PostgreSQL when `TEST_DATABASE_URL` is set). The generic Spring Data REST
//! behaviour is covered in depth by customer-service's tests; these cover what products add.

mod reservations;

use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use testkit::TestApp;

async fn start() -> TestApp {
    TestApp::start(&inventory_service::SERVICE, &[]).await
}

/// `POST /products`: the status and the JSON body (null when there is none).
async fn post(app: &TestApp, body: Value) -> (StatusCode, Value) {
    let response = app.post_json("/products", &body).await;
    (
        response.status(),
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn seeded_products_keep_springs_numeric_shape() {
    let app = start().await;
    let page = app.get_json("/products").await;
    let products: Vec<(String, Value, Value)> = page["_embedded"]["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["price"].clone(),
                p["quantity"].clone(),
            )
        })
        .collect();
    assert_eq!(
        products,
        [
            ("Computer Desk".to_owned(), json!(890.0), json!(12)),
            ("Printer".to_owned(), json!(420.0), json!(8)),
            ("Smartphone".to_owned(), json!(240.0), json!(20)),
        ]
    );
    let text = app
        .http
        .get(app.url("/products/1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains(r#""price":890.0"#), "{text}");
    app.service.stop().await;
}

#[tokio::test]
async fn prices_are_stored_and_returned_exactly() {
    let app = start().await;
    for (sent, expected) in [
        (json!(0.1), "0.1"),
        (json!(19.99), "19.99"),
        (json!("1234567.89"), "1234567.89"),
        (json!(0), "0.0"),
    ] {
        let (status, body) = post(
            &app,
            json!({ "name": "Exact", "price": sent, "quantity": 1 }),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{sent}");
        let text = app
            .http
            .get(app.url(&format!("/products/{}", body["id"])))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains(&format!(r#""price":{expected}"#)),
            "{sent} → {text}"
        );
    }
    app.service.stop().await;
}

#[tokio::test]
async fn invalid_prices_and_quantities_are_400_naming_the_property() {
    let app = start().await;
    for (body, property, message) in [
        (
            json!({ "name": "P", "price": -1, "quantity": 1 }),
            "price",
            "must be greater than or equal to 0",
        ),
        (
            json!({ "name": "P", "price": 1.005, "quantity": 1 }),
            "price",
            "must have at most 2 decimal places",
        ),
        (
            json!({ "name": "P", "price": 1, "quantity": -3 }),
            "quantity",
            "must be greater than or equal to 0",
        ),
        (
            json!({ "name": "P", "price": 1, "quantity": 2.5 }),
            "quantity",
            "must be a whole number",
        ),
        (
            json!({ "name": "P", "price": 1 }),
            "quantity",
            "must not be null",
        ),
        (
            json!({ "price": 1, "quantity": 1 }),
            "name",
            "must not be blank",
        ),
    ] {
        let (status, error) = post(&app, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error["errors"][0]["entity"], "Product");
        assert_eq!(error["errors"][0]["property"], property, "{body}");
        assert_eq!(error["errors"][0]["message"], message, "{body}");
    }
    // A price that is not a number at all cannot be read (Jackson's parse error, not validation).
    let (status, error) = post(
        &app,
        json!({ "name": "P", "price": "cheap", "quantity": 1 }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("JSON parse error"),
        "{error}"
    );
    assert_eq!(
        app.get_json("/products").await["page"]["totalElements"],
        3,
        "nothing stored"
    );
    app.service.stop().await;
}

#[tokio::test]
async fn stock_changes_by_patch_and_sorting_by_price_is_numeric() {
    let app = start().await;
    let response = app
        .http
        .patch(app.url("/products/2"))
        .header(header::CONTENT_TYPE, "application/merge-patch+json")
        .body(r#"{"quantity": 7}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let product: Value = response.json().await.unwrap();
    assert_eq!(
        (product["quantity"].as_i64(), product["price"].as_f64()),
        (Some(7), Some(420.0))
    );

    post(
        &app,
        json!({ "name": "Cable", "price": 9.5, "quantity": 100 }),
    )
    .await;
    let page = app.get_json("/products?sort=price,asc").await;
    let prices: Vec<f64> = page["_embedded"]["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["price"].as_f64().unwrap())
        .collect();
    assert_eq!(prices, [9.5, 240.0, 420.0, 890.0]);
    app.service.stop().await;
}

#[tokio::test]
async fn products_search_by_name() {
    let app = start().await;
    let listing = app.get_json("/products/search").await;
    assert_eq!(
        listing["_links"]["byName"]["href"],
        app.url("/products/search/byName{?name,page,size,sort*}")
    );
    let found = app.get_json("/products/search/byName?name=PHONE").await;
    assert_eq!(found["_embedded"]["products"][0]["name"], "Smartphone");
    assert_eq!(found["page"]["totalElements"], 1);
    app.service.stop().await;
}

#[tokio::test]
async fn products_by_id_in_one_call_as_a_list_in_id_order() {
    let app = start().await;
    let listing = app.get_json("/products/search").await;
    assert_eq!(
        listing["_links"]["byIdIn"]["href"],
        app.url("/products/search/byIdIn{?ids}")
    );
    let names = |body: &Value| -> Vec<String> {
        body["_embedded"]["products"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let found = app.get_json("/products/search/byIdIn?ids=3,1,99,3").await;
    assert_eq!(names(&found), ["Computer Desk", "Smartphone"]);
    assert!(found.get("page").is_none(), "a list, not a page: {found}");
    assert_eq!(
        found["_links"]["self"]["href"],
        app.url("/products/search/byIdIn?ids=3,1,99,3")
    );
    let repeated = app.get_json("/products/search/byIdIn?ids=2&ids=1").await;
    assert_eq!(names(&repeated), ["Computer Desk", "Printer"]);
    let none = app.get_json("/products/search/byIdIn").await;
    assert_eq!(names(&none), Vec::<String>::new());

    let bad = app.get("/products/search/byIdIn?ids=1,x").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let message = bad.json::<Value>().await.unwrap()["message"].clone();
    assert!(message.as_str().unwrap().contains("'ids'"), "{message}");
    app.service.stop().await;
}
