//! No side door past `POST /bills`: by default the generic Spring Data REST writes on
//! `/bills` and `/productItems` (items and associations) are not mapped and answer 405 with
//! the methods that remain, nothing changes, and every read keeps working. With
//! `factura.billing.generic-writes=true` (the seed's behaviour) they are there again, still
//! held to the rules the database keeps.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::saga::{Fleet, GENERIC_WRITES, lines, post_bill};

async fn send(fleet: &Fleet, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
    let mut request = fleet.http.request(method, fleet.billing[0].url(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn generic_writes_are_refused_and_reads_keep_working() {
    let fleet = Fleet::start(1, 1).await;
    fleet.complete_seed().await;
    let (status, bill) = post_bill(&fleet.http, &fleet.billing[0], &lines(2, 2)).await;
    assert_eq!(status, StatusCode::CREATED, "{bill}");
    let id = bill["id"].as_i64().unwrap();
    let line = bill["productItems"][0]["id"].as_i64().unwrap();
    let before: Value = fleet
        .http
        .get(fleet.billing[0].url(&format!("/fullBill/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stock = fleet.stock(2).await;

    let item =
        json!({ "productId": 2, "quantity": 9, "price": 0.01, "bill": format!("/bills/{id}") });
    let attempts: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, "/productItems".into(), Some(item.clone())),
        (Method::PUT, format!("/productItems/{line}"), Some(item)),
        (
            Method::PATCH,
            format!("/productItems/{line}"),
            Some(json!({ "price": 0.01 })),
        ),
        (Method::DELETE, format!("/productItems/{line}"), None),
        (Method::PUT, format!("/productItems/{line}/bill"), None),
        (Method::DELETE, format!("/productItems/{line}/bill"), None),
        (
            Method::PATCH,
            format!("/bills/{id}"),
            Some(json!({ "customerId": 2 })),
        ),
        (
            Method::PUT,
            format!("/bills/{id}"),
            Some(json!({ "customerId": 2, "billingDate": "2020-01-01T00:00:00.000+00:00" })),
        ),
        (Method::DELETE, format!("/bills/{id}"), None),
        (Method::PUT, format!("/bills/{id}/productItems"), None),
        (Method::POST, format!("/bills/{id}/productItems"), None),
    ];
    for (method, path, body) in attempts {
        let response = send(&fleet, method.clone(), &path, body).await;
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        let allow = response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(allow.contains("GET"), "{method} {path}: Allow {allow}");
        assert!(
            !["PUT", "PATCH", "DELETE"].iter().any(|m| allow.contains(m)),
            "{method} {path}: Allow {allow}"
        );
    }
    let options = send(
        &fleet,
        Method::OPTIONS,
        &format!("/productItems/{line}"),
        None,
    )
    .await;
    assert_eq!(options.headers()["allow"], "GET,HEAD,OPTIONS");

    // Nothing changed; reads work.
    let after: Value = fleet
        .http
        .get(fleet.billing[0].url(&format!("/fullBill/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(after, before);
    assert_eq!(fleet.stock(2).await, stock, "stock and lines still agree");
    for path in [
        "/bills".to_owned(),
        format!("/bills/{id}"),
        format!("/bills/{id}/productItems"),
        "/productItems".to_owned(),
        format!("/productItems/{line}"),
        format!("/productItems/{line}/bill"),
    ] {
        let response = send(&fleet, Method::GET, &path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    }
    // `POST /bills` is the way in, with its checks.
    let (status, _) = post_bill(&fleet.http, &fleet.billing[0], &lines(2, 1)).await;
    assert_eq!(status, StatusCode::CREATED);
    fleet.stop().await;
}

#[tokio::test]
async fn opened_they_are_still_held_to_the_database_rules() {
    let fleet = Fleet::start_with(1, 1, &[GENERIC_WRITES]).await;
    fleet.complete_seed().await;
    let (_, bill) = post_bill(&fleet.http, &fleet.billing[0], &lines(2, 2)).await;
    let line = bill["productItems"][0]["id"].as_i64().unwrap();
    let response = send(
        &fleet,
        Method::PATCH,
        &format!("/productItems/{line}"),
        Some(json!({ "price": 0.01 })),
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::CONFLICT,
        "a bill holding stock"
    );
    let response = send(&fleet, Method::DELETE, "/bills/1", None).await;
    assert_eq!(
        response.status(),
        StatusCode::CONFLICT,
        "items still point at the bill"
    );
    fleet.stop().await;
}
