//! Billing: `/bills` and `/productItems` as Spring Data REST exports them, the association
//! resources between them (`/bills/{id}/productItems`, `/productItems/{id}/bill`), URI links
//! in request bodies, and the seed's `/fullBill/{id}` built over Feign. Each billing calls its
//! own fleet's customer and inventory services, which hold the same rows.

use conformance::compare::{Differential, Probe, Side};
use reqwest::Method;
use serde_json::{Value, json};

use crate::reads::gets;

pub(crate) async fn reads(d: &Differential) {
    gets(
        d,
        &[
            "/",
            "/bills",
            "/bills/1",
            "/bills/2",
            "/bills/abc",
            "/bills/1/productItems",
            "/bills/1/productItems/1",
            "/bills/1/nope",
            "/bills/1/customerId",
            "/bills/99/productItems",
            "/productItems",
            "/productItems?sort=price,desc",
            "/productItems?sort=bill.id",
            "/productItems?sort=bill",
            "/productItems?sort=bill,desc&sort=quantity,desc",
            "/bills?sort=productItems",
            "/bills?sort=billingDate,desc",
            "/productItems/1",
            "/productItems/3",
            "/productItems/1/bill",
            "/productItems/99/bill",
            "/productItems/1/nope",
            "/bills/search",
            "/bills/search/byCustomerId?customerId=1",
            "/bills/search/byCustomerId?customerId=2",
            "/bills/search/byCustomerId?customerId=abc",
            "/bills/search/byCustomerId",
            "/productItems/search",
            "/fullBill/1",
            "/fullBill/99",
            "/fullBill/abc",
            "/profile",
            "/profile/bills",
            "/profile/productItems",
        ],
    )
    .await;
    for path in ["/productItems/1/bill", "/bills/1/productItems"] {
        for method in [Method::HEAD, Method::OPTIONS] {
            d.check(
                &format!("{method} {path}"),
                Probe::new(method.clone(), path),
            )
            .await;
        }
    }
    d.check(
        "GET /profile/bills Accept application/schema+json",
        Probe::get("/profile/bills").header("accept", "application/schema+json"),
    )
    .await;
    d.check(
        "GET /profile/productItems Accept application/schema+json",
        Probe::get("/profile/productItems").header("accept", "application/schema+json"),
    )
    .await;
}

/// Sends a probe made for each side (bodies naming the side's own URLs), and compares.
async fn per_side(d: &Differential, scenario: &str, probe: impl Fn(&Side) -> Probe) {
    let ours = d.send(&d.ours, &probe(&d.ours)).await;
    let spring = d.send(&d.spring, &probe(&d.spring)).await;
    d.record(scenario, &ours, &spring);
}

fn item(bill: Value) -> Value {
    json!({ "productId": 2, "quantity": 1, "price": 420.0, "discount": 0.1, "bill": bill })
}

pub(crate) async fn writes(d: &Differential) {
    per_side(d, "POST a product item linking its bill by URI", |side| {
        Probe::post("/productItems").json(&item(json!(format!("{}/bills/1", side.base))))
    })
    .await;
    d.check(
        "GET the new item's bill",
        Probe::get("/productItems/4/bill"),
    )
    .await;
    d.check(
        "GET the bill's items after the POST",
        Probe::get("/bills/1/productItems"),
    )
    .await;
    d.check(
        "GET the full bill after the POST",
        Probe::get("/fullBill/1"),
    )
    .await;
    let steps = [
        (
            "POST an item linking its bill by path",
            item(json!("/bills/1")),
        ),
        (
            "POST an item linking a missing bill",
            item(json!("/bills/99")),
        ),
        ("POST an item with a number for its bill", item(json!(1))),
        ("POST an item with a non-URI bill", item(json!("nope"))),
        (
            "POST an item with an object for its bill",
            item(json!({ "id": 1 })),
        ),
        ("POST an item without a bill", item(Value::Null)),
        (
            "POST an item with a discount above 1",
            json!({ "productId": 2, "quantity": 1, "price": 1, "discount": 1.5, "bill": "/bills/1" }),
        ),
        (
            "POST an item with quantity 0",
            json!({ "productId": 2, "quantity": 0, "price": 1, "bill": "/bills/1" }),
        ),
    ];
    for (scenario, body) in steps {
        d.check(scenario, Probe::post("/productItems").json(&body))
            .await;
    }
    per_side(d, "PUT an item's bill as text/uri-list", |side| {
        Probe::put("/productItems/4/bill")
            .body_with_type("text/uri-list", format!("{}/bills/1", side.base))
    })
    .await;
    d.check(
        "PATCH an item's quantity",
        Probe::patch("/productItems/4").json(&json!({ "quantity": 2 })),
    )
    .await;
    d.check(
        "DELETE a bill that items point at",
        Probe::delete("/bills/1"),
    )
    .await;
    d.check(
        "POST a bill as Spring Data REST takes it",
        Probe::post("/bills")
            .json(&json!({ "billingDate": "2024-11-10T14:23:45.123+00:00", "customerId": 2 })),
    )
    .await;
    d.check(
        "POST a bill with its lines",
        Probe::post("/bills").json(
            &json!({ "customerId": 2, "productItems": [ { "productId": 1, "quantity": 2 } ] }),
        ),
    )
    .await;
    d.check("DELETE a product item", Probe::delete("/productItems/4"))
        .await;
    d.check("GET the full bill at the end", Probe::get("/fullBill/1"))
        .await;
}
