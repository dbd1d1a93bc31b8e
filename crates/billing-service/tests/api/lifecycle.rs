//! The invoice lifecycle: DRAFT → ISSUED → PAID, CANCELLED by a credit note; issued invoices
//! refused every change whichever endpoint asks; payments (partial, concurrent, idempotent)
//! and credit notes leave the right amount due.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::saga::{Fleet, lines, post_bill};

fn year() -> i32 {
    chrono::Datelike::year(&chrono::Utc::now())
}

async fn send(
    fleet: &Fleet,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = fleet
        .http
        .request(method, fleet.billing[0].url(path))
        .header("accept", "application/hal+json");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(fleet: &Fleet, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    send(fleet, Method::POST, path, body).await
}

async fn full_bill(fleet: &Fleet, id: i64) -> Value {
    send(fleet, Method::GET, &format!("/fullBill/{id}"), None)
        .await
        .1
}

const FIXED: &str = "only a DRAFT bill's lines, amounts and customer can change; an issued invoice is cancelled with a credit note";

#[tokio::test]
async fn an_issued_invoice_refuses_every_change_to_its_lines_amounts_and_customer() {
    let fleet = Fleet::start_with(1, 1, &[crate::saga::GENERIC_WRITES]).await;
    fleet.complete_seed().await;
    // The seeded bill holds no stock: as a draft its lines may change through the generic API.
    let (status, _) = send(
        &fleet,
        Method::PATCH,
        "/productItems/1",
        Some(json!({ "quantity": 2 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, issued) = post(&fleet, "/bills/1/issue", None).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    let total = issued["total"].clone();

    let attempts: Vec<(Method, &str, Option<Value>)> = vec![
        (
            Method::PATCH,
            "/productItems/1",
            Some(json!({ "quantity": 5 })),
        ),
        (
            Method::PUT,
            "/productItems/1",
            Some(json!({ "productId": 1, "quantity": 1, "price": 1, "bill": "/bills/1" })),
        ),
        (Method::DELETE, "/productItems/1", None),
        (
            Method::POST,
            "/productItems",
            Some(json!({ "productId": 2, "quantity": 1, "price": 420, "bill": "/bills/1" })),
        ),
        (Method::PATCH, "/bills/1", Some(json!({ "customerId": 2 }))),
        (
            Method::PATCH,
            "/bills/1",
            Some(json!({ "billingDate": "2020-01-01T00:00:00.000+00:00" })),
        ),
    ];
    for (method, path, body) in attempts {
        let (status, error) = send(&fleet, method.clone(), path, body).await;
        assert_eq!(status, StatusCode::CONFLICT, "{method} {path}: {error}");
        assert_eq!(error["message"], FIXED, "{method} {path}");
    }
    let (status, error) = send(&fleet, Method::DELETE, "/bills/1", None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        error["message"].as_str().unwrap().contains("DRAFT"),
        "{error}"
    );
    let after = full_bill(&fleet, 1).await;
    assert_eq!(after["total"], total, "nothing changed");
    assert_eq!(after["customerId"], 1);
    assert_eq!(after["status"], "ISSUED");
    fleet.stop().await;
}

#[tokio::test]
async fn the_lines_of_a_bill_holding_stock_change_only_by_cancelling_it() {
    let fleet = Fleet::start_with(1, 1, &[crate::saga::GENERIC_WRITES]).await;
    let (_, bill) = post_bill(&fleet.http, &fleet.billing[0], &lines(2, 2)).await;
    let line = bill["productItems"][0]["id"].as_i64().unwrap();
    let (status, error) = send(
        &fleet,
        Method::PATCH,
        &format!("/productItems/{line}"),
        Some(json!({ "quantity": 7 })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        error["message"],
        "the lines of a bill holding stock change only by cancelling the bill and making a new one"
    );
    assert_eq!(fleet.stock(2).await, 6, "stock and lines still agree");
    fleet.stop().await;
}

/// A bill of two printers (2 × 420 = 840), issued.
async fn issued_printers(fleet: &Fleet) -> i64 {
    let (status, bill) = post_bill(&fleet.http, &fleet.billing[0], &lines(2, 2)).await;
    assert_eq!(status, StatusCode::CREATED, "{bill}");
    let id = bill["id"].as_i64().unwrap();
    let (status, error) = post(
        fleet,
        &format!("/bills/{id}/payments"),
        Some(json!({ "amount": 10 })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "a draft takes no payment");
    assert_eq!(
        error["message"],
        format!("bill {id} is DRAFT: payments are recorded against an ISSUED invoice")
    );
    let (status, issued) = post(fleet, &format!("/bills/{id}/issue"), None).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    assert_eq!(issued["amountDue"], 840.0);
    id
}

#[tokio::test]
async fn partial_payments_leave_the_rest_due_and_the_last_one_makes_it_paid() {
    let fleet = Fleet::start(1, 1).await;
    let id = issued_printers(&fleet).await;
    let payments = format!("/bills/{id}/payments");
    let (status, payment) = post(
        &fleet,
        &payments,
        Some(json!({ "amount": 300.25, "reference": "wire 1" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    assert_eq!(payment["amount"], 300.25);
    assert_eq!(payment["amountDue"], 539.75);
    assert_eq!(payment["reference"], "wire 1");
    let href = payment["_links"]["self"]["href"]
        .as_str()
        .unwrap()
        .to_owned();
    let one: Value = fleet
        .http
        .get(&href)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["amount"], 300.25);
    assert_eq!(one["_links"]["self"]["href"], href.as_str());
    assert_eq!(
        payment["_links"]["bill"]["href"],
        fleet.billing[0].url(&format!("/bills/{id}"))
    );
    for bad in [
        json!({ "amount": 0 }),
        json!({ "amount": 1.001 }),
        json!({ "amount": "x" }),
        json!({}),
    ] {
        let (status, error) = post(&fleet, &payments, Some(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(error["errors"][0]["property"], "amount", "{error}");
    }
    let (status, error) = post(&fleet, &payments, Some(json!({ "amount": 600 }))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        error["message"],
        format!("a payment of 600.00 is more than the 539.75 still due on bill {id}")
    );
    let (_, listed) = send(&fleet, Method::GET, &payments, None).await;
    assert_eq!(listed["amountPaid"], 300.25);
    assert_eq!(listed["amountDue"], 539.75);
    assert_eq!(listed["_embedded"]["payments"].as_array().unwrap().len(), 1);

    let (status, last) = post(&fleet, &payments, Some(json!({ "amount": 539.75 }))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(last["amountDue"], 0.0);
    let bill = full_bill(&fleet, id).await;
    assert_eq!(bill["status"], "PAID");
    assert_eq!(bill["amountPaid"], 840.0);
    assert_eq!(bill["amountDue"], 0.0);
    let (status, _) = post(&fleet, &payments, Some(json!({ "amount": 1 }))).await;
    assert_eq!(status, StatusCode::CONFLICT, "a paid invoice takes no more");
    fleet.stop().await;
}

#[tokio::test]
async fn concurrent_payments_never_pay_more_than_is_due_and_a_retried_one_counts_once() {
    let fleet = std::sync::Arc::new(Fleet::start(1, 1).await);
    let id = issued_printers(&fleet).await;
    let url = fleet.billing[0].url(&format!("/bills/{id}/payments"));
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let (http, url) = (fleet.http.clone(), url.clone());
            tokio::spawn(async move {
                http.post(url)
                    .header("idempotency-key", format!("pay-{i}"))
                    .json(&json!({ "amount": 100 }))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let count = |wanted: StatusCode| statuses.iter().filter(|s| **s == wanted).count();
    assert_eq!(
        (count(StatusCode::CREATED), count(StatusCode::CONFLICT)),
        (8, 2),
        "840 due takes eight payments of 100: {statuses:?}"
    );
    let listed = |fleet: std::sync::Arc<Fleet>| async move {
        send(&fleet, Method::GET, &format!("/bills/{id}/payments"), None)
            .await
            .1
    };
    let before = listed(fleet.clone()).await;
    assert_eq!(before["amountPaid"], 800.0);
    assert_eq!(before["amountDue"], 40.0);
    // A payment retried with its key is counted once.
    for _ in 0..3 {
        let response = fleet
            .http
            .post(&url)
            .header("idempotency-key", "last-40")
            .json(&json!({ "amount": 40 }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let after = listed(fleet.clone()).await;
    assert_eq!(after["_embedded"]["payments"].as_array().unwrap().len(), 9);
    assert_eq!(after["amountDue"], 0.0);
    std::sync::Arc::into_inner(fleet).unwrap().stop().await;
}

#[tokio::test]
async fn cancelling_an_issued_invoice_makes_a_credit_note_that_negates_it() {
    let fleet = Fleet::start(1, 1).await;
    let id = issued_printers(&fleet).await;
    let (status, _) = post(
        &fleet,
        &format!("/bills/{id}/payments"),
        Some(json!({ "amount": 100 })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(fleet.stock(2).await, 6);
    let (status, cancelled) = post(&fleet, &format!("/bills/{id}/cancel"), None).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "CANCELLED");
    let number = format!("AV-{}-000001", year());
    assert_eq!(cancelled["creditNoteNumber"], number.as_str());
    assert_eq!(cancelled["total"], 840.0, "the invoice itself is unchanged");
    assert_eq!(cancelled["amountDue"], -100.0, "the payment is owed back");
    assert_eq!(fleet.stock(2).await, 8, "the stock is back");

    let (status, note) = send(
        &fleet,
        Method::GET,
        &format!("/bills/{id}/creditNote"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(note["creditNoteNumber"], number.as_str());
    assert_eq!(note["invoiceNumber"], cancelled["invoiceNumber"]);
    assert_eq!(note["billId"], id);
    assert_eq!(note["productItems"][0]["quantity"], -2);
    assert_eq!(note["productItems"][0]["amount"], -840.0);
    assert_eq!(note["total"], -840.0);
    assert_eq!(
        note["_links"]["invoice"]["href"],
        fleet.billing[0].url(&format!("/fullBill/{id}"))
    );
    let (status, _) = post(&fleet, &format!("/bills/{id}/cancel"), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = post(
        &fleet,
        &format!("/bills/{id}/payments"),
        Some(json!({ "amount": 1 })),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a cancelled invoice takes no payment"
    );

    // A draft is cancelled without a credit note, and numbers are not touched.
    let (_, draft) = post_bill(&fleet.http, &fleet.billing[0], &lines(3, 1)).await;
    let draft = draft["id"].as_i64().unwrap();
    let (_, cancelled) = post(&fleet, &format!("/bills/{draft}/cancel"), None).await;
    assert_eq!(cancelled["creditNoteNumber"], Value::Null);
    assert_eq!(cancelled["invoiceNumber"], Value::Null);
    let (status, _) = send(
        &fleet,
        Method::GET,
        &format!("/bills/{draft}/creditNote"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    fleet.stop().await;
}
