//! VAT: a rate per line (the settings' default where none is given), totals before tax, tax per
//! rate and after tax exact to the cent, carried into payments and credit notes.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::saga::{Fleet, post_bill};

async fn post(fleet: &Fleet, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = fleet.http.post(fleet.billing[0].url(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn taxes_are_per_rate_exact_to_the_cent_and_what_is_due_includes_them() {
    let fleet = Fleet::start_with(1, 1, &[("factura.billing.vat.default-rate", "0.1")]).await;
    let lamp = fleet.product(100).await; // 19.99
    let (status, bill) = post_bill(
        &fleet.http,
        &fleet.billing[0],
        &json!({ "customerId": 1, "productItems": [
            { "productId": lamp, "quantity": 3, "vatRate": 0.055 },
            { "productId": 2, "quantity": 2, "discount": 0.1, "vatRate": 0.055 },
            { "productId": 1, "quantity": 1, "vatRate": 0.2 },
            { "productId": 3, "quantity": 1 } ] }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{bill}");
    let rates: Vec<&Value> = bill["productItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["vatRate"])
        .collect();
    assert_eq!(
        rates,
        [&json!(0.055), &json!(0.055), &json!(0.2), &json!(0.1)]
    );
    // 5.5 %: 59.97 + 756.00 = 815.97 → 44.87835 → 44.88; 10 %: 240 → 24; 20 %: 890 → 178.
    assert_eq!(
        bill["taxes"],
        json!([
            { "rate": 0.055, "base": 815.97, "tax": 44.88 },
            { "rate": 0.1, "base": 240.0, "tax": 24.0 },
            { "rate": 0.2, "base": 890.0, "tax": 178.0 }
        ])
    );
    assert_eq!(bill["totalBeforeTax"], 1945.97);
    assert_eq!(
        bill["total"], 1945.97,
        "the seed's total stays the sum of the lines"
    );
    assert_eq!(bill["totalTax"], 246.88);
    assert_eq!(bill["totalAfterTax"], 2192.85);
    assert_eq!(bill["amountDue"], 2192.85);

    let id = bill["id"].as_i64().unwrap();
    let (status, issued) = post(&fleet, &format!("/bills/{id}/issue"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(issued["totalAfterTax"], 2192.85);
    let (status, paid) = post(
        &fleet,
        &format!("/bills/{id}/payments"),
        Some(json!({ "amount": 2192.85 })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    assert_eq!(paid["amountDue"], 0.0);

    let (_, cancelled) = post(&fleet, &format!("/bills/{id}/cancel"), None).await;
    assert_eq!(cancelled["amountDue"], -2192.85, "the payment is owed back");
    let note: Value = fleet
        .http
        .get(fleet.billing[0].url(&format!("/bills/{id}/creditNote")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(note["totalBeforeTax"], -1945.97);
    assert_eq!(note["totalTax"], -246.88);
    assert_eq!(note["totalAfterTax"], -2192.85);
    assert_eq!(
        note["taxes"][0],
        json!({ "rate": 0.055, "base": -815.97, "tax": -44.88 })
    );

    let (status, error) = post_bill(
        &fleet.http,
        &fleet.billing[0],
        &json!({ "customerId": 1, "productItems": [ { "productId": 1, "quantity": 1, "vatRate": 1.5 } ] }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["errors"][0]["property"], "productItems[0].vatRate");
    fleet.stop().await;
}

#[tokio::test]
async fn a_line_without_a_rate_takes_the_default_and_keeps_it_once_issued() {
    let fleet = Fleet::start_with(
        1,
        1,
        &[
            ("factura.billing.vat.default-rate", "0.2"),
            crate::saga::GENERIC_WRITES,
        ],
    )
    .await;
    fleet.complete_seed().await;
    // A line added the seed's way, through the generic resource, names no rate.
    let response = fleet
        .http
        .post(fleet.billing[0].url("/productItems"))
        .json(&json!({ "productId": 2, "quantity": 1, "price": 420, "bill": "/bills/1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let database = &fleet.billing[0].database;
    let unset = "SELECT COUNT(*) FROM product_items WHERE bill_id = 1 AND vat_rate IS NULL";
    assert_eq!(database.count(unset).await, 1);
    let (status, issued) = post(&fleet, "/bills/1/issue", None).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    assert!(
        issued["productItems"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["vatRate"] == 0.2),
        "{issued}"
    );
    assert_eq!(
        database.count(unset).await,
        0,
        "written into the line at issue"
    );
    // 890 + 2 × 420 + 3 × 240 + 420 = 2870, 20 % of it 574.
    assert_eq!(issued["totalBeforeTax"], 2870.0);
    assert_eq!(issued["totalTax"], 574.0);
    assert_eq!(issued["totalAfterTax"], 3444.0);
    fleet.stop().await;
}
